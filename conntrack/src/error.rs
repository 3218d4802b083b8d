//! The error type of the conntrack crate.

use nettune_core::{ErrorKind, ExtAck, NetnsError};
use nettune_netlink::proto::DecodeError;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `": reason"`, or nothing for an empty reason.
fn colon(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// What went wrong. Every variant names the conntrack operation; refusals by the kernel
/// keep the netlink error, with its extended ACK, as their source ([`Error::ext_ack`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel lacks what was asked: conntrack itself (module not loaded), or a filter
    /// this kernel version does not apply.
    #[error("conntrack {op}: not supported{}", colon(reason))]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// What is missing and what to do.
        reason: String,
        /// The kernel's refusal, when it was one.
        #[source]
        source: Option<nettune_netlink::Error>,
    },

    /// The caller lacks `CAP_NET_ADMIN` in the namespace's user namespace.
    #[error("conntrack {op}: permission denied: {reason}")]
    PermissionDenied {
        /// The operation.
        op: &'static str,
        /// Which capability applies.
        reason: String,
        /// The netlink error.
        #[source]
        source: nettune_netlink::Error,
    },

    /// No such entry (get, delete, update), or the id guard did not match.
    #[error("conntrack {op}: no such connection")]
    NotFound {
        /// The operation.
        op: &'static str,
        /// The kernel's answer.
        #[source]
        source: Option<nettune_netlink::Error>,
    },

    /// The entry exists already (create).
    #[error("conntrack {op}: the connection exists already")]
    Exists {
        /// The operation.
        op: &'static str,
        /// The kernel's answer.
        #[source]
        source: Option<nettune_netlink::Error>,
    },

    /// A value rejected before sending (`reason` says why) or by the kernel (the
    /// source carries the kernel's extended-ACK text).
    #[error("conntrack {op}: invalid value{}", colon(reason))]
    InvalidValue {
        /// The operation.
        op: &'static str,
        /// Why, for local validation; empty when the kernel's text says it.
        reason: String,
        /// The kernel's refusal.
        #[source]
        source: Option<nettune_netlink::Error>,
    },

    /// The kernel's reply does not decode.
    #[error("conntrack {op}: malformed reply at byte {offset}: {what}")]
    Decode {
        /// The operation.
        op: &'static str,
        /// The byte offset in the message.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },

    /// Any other netlink or socket failure.
    #[error("conntrack {op}")]
    Netlink {
        /// The operation.
        op: &'static str,
        /// The netlink error.
        #[source]
        source: nettune_netlink::Error,
    },

    /// Entering the target network namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

impl Error {
    /// Maps a netlink error of `op` to a typed error.
    pub(crate) fn from_netlink(op: &'static str, e: nettune_netlink::Error) -> Self {
        let e = match e {
            nettune_netlink::Error::Netns(n) => return Self::Netns(n),
            nettune_netlink::Error::Decode(d) => return Self::decode(op, d),
            other => other,
        };
        match e.errno() {
            Some(libc::ENOENT) => Self::NotFound {
                op,
                source: Some(e),
            },
            Some(libc::EEXIST) => Self::Exists {
                op,
                source: Some(e),
            },
            Some(libc::EPERM | libc::EACCES) => Self::PermissionDenied {
                op,
                reason: "changing or listening to conntrack needs CAP_NET_ADMIN".into(),
                source: e,
            },
            Some(libc::EINVAL | libc::ERANGE) => Self::InvalidValue {
                op,
                reason: String::new(),
                source: Some(e),
            },
            Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT) => {
                let reason = if e.ext_msg().is_some() {
                    String::new()
                } else {
                    "the nf_conntrack_netlink module is not loaded (modprobe nf_conntrack_netlink)"
                        .into()
                };
                Self::Unsupported {
                    op,
                    reason,
                    source: Some(e),
                }
            }
            _ => Self::Netlink { op, source: e },
        }
    }

    /// A reply of `op` that does not decode.
    pub(crate) fn decode(op: &'static str, e: DecodeError) -> Self {
        Self::Decode {
            op,
            offset: e.offset,
            what: e.what,
        }
    }

    /// A value refused before anything was sent.
    pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidValue {
            op,
            reason: reason.into(),
            source: None,
        }
    }

    /// Something this kernel cannot do, found before anything was sent.
    pub(crate) fn unsupported(op: &'static str, reason: impl Into<String>) -> Self {
        Self::Unsupported {
            op,
            reason: reason.into(),
            source: None,
        }
    }

    /// The operation that failed.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Unsupported { op, .. }
            | Self::PermissionDenied { op, .. }
            | Self::NotFound { op, .. }
            | Self::Exists { op, .. }
            | Self::InvalidValue { op, .. }
            | Self::Decode { op, .. }
            | Self::Netlink { op, .. } => op,
            Self::Netns(e) => e.op(),
        }
    }

    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Exists { .. } => ErrorKind::Exists,
            Self::InvalidValue { .. } => ErrorKind::InvalidValue,
            Self::Decode { .. } => ErrorKind::Decode,
            Self::Netlink { source, .. } => source.kind(),
            Self::Netns(e) => e.kind(),
        }
    }

    /// The kernel's extended acknowledgement (its text and the offset of the attribute it
    /// objected to), when the kernel refused the request and sent one.
    pub fn ext_ack(&self) -> Option<&ExtAck> {
        let source = match self {
            Self::Unsupported { source, .. }
            | Self::NotFound { source, .. }
            | Self::Exists { source, .. }
            | Self::InvalidValue { source, .. } => source.as_ref(),
            Self::PermissionDenied { source, .. } | Self::Netlink { source, .. } => Some(source),
            _ => None,
        };
        source.and_then(nettune_netlink::Error::ext_ack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_never_repeats_the_source() {
        let kernel = nettune_netlink::Error::Kernel {
            errno: libc::EBUSY,
            ext_ack: ExtAck::default(),
            source: std::io::Error::from_raw_os_error(libc::EBUSY),
        };
        let e = Error::from_netlink("dump", kernel);
        let chain = nettune_core::error::report(&e);
        assert_eq!(chain.matches("dump").count(), 1, "{chain}");
        assert_eq!(chain.matches("busy").count(), 1, "{chain}");
        assert!(!e.to_string().contains("busy"), "{e}");
    }

    #[test]
    fn kernel_text_and_offset_are_kept() {
        let kernel = nettune_netlink::Error::Kernel {
            errno: libc::EINVAL,
            ext_ack: ExtAck {
                message: Some("missing reply tuple".into()),
                offset: Some(36),
            },
            source: std::io::Error::from_raw_os_error(libc::EINVAL),
        };
        let e = Error::from_netlink("create", kernel);
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        assert_eq!(e.ext_ack().and_then(|a| a.offset), Some(36));
        let chain = nettune_core::error::report(&e);
        assert!(chain.contains("missing reply tuple"), "{chain}");
    }
}

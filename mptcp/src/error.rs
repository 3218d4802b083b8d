//! The error type of the mptcp crate.

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

/// What went wrong. Every variant names the operation; kernel refusals keep the netlink
/// error, with the kernel's extended-ACK text and offset, as their source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// MPTCP is missing from the kernel or disabled in this namespace.
    #[error("mptcp {op}: MPTCP is not available: {reason}")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// Which, and how to enable it.
        reason: String,
    },

    /// The caller lacks `CAP_NET_ADMIN` in the namespace's user namespace.
    #[error(
        "mptcp {op}: permission denied: changing the path manager or routes needs CAP_NET_ADMIN"
    )]
    PermissionDenied {
        /// The operation.
        op: &'static str,
        /// The kernel's refusal.
        #[source]
        source: nettune_netlink::Error,
    },

    /// Rejected before sending (the checks `ip mptcp` makes: `reason` says which) or by
    /// the kernel (its text is in the source).
    #[error("mptcp {op}: invalid{}", colon(reason))]
    InvalidValue {
        /// The operation.
        op: &'static str,
        /// Why, for local checks; empty when the kernel's text says it.
        reason: String,
        /// The kernel's refusal.
        #[source]
        source: Option<nettune_netlink::Error>,
    },

    /// The endpoint, route or rule exists already.
    #[error("mptcp {op}: exists already")]
    Exists {
        /// The operation.
        op: &'static str,
        /// The kernel's refusal.
        #[source]
        source: nettune_netlink::Error,
    },

    /// An endpoint with this id exists already (the kernel's `EBUSY`).
    #[error("mptcp add endpoint: id {id} is taken by another endpoint")]
    IdInUse {
        /// The id.
        id: u8,
        /// The kernel's refusal.
        #[source]
        source: nettune_netlink::Error,
    },

    /// No such endpoint, route or rule.
    #[error("mptcp {op}: not found{}", detail.as_deref().map(colon).unwrap_or_default())]
    NotFound {
        /// The operation.
        op: &'static str,
        /// What was looked for, when the kernel did not say.
        detail: Option<String>,
        /// The kernel's answer.
        #[source]
        source: Option<nettune_netlink::Error>,
    },

    /// The kernel's reply does not decode.
    #[error("mptcp {op}: malformed reply at byte {offset}: {what}")]
    Decode {
        /// The operation.
        op: &'static str,
        /// The byte offset in the message.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },

    /// Another netlink failure.
    #[error("mptcp {op}")]
    Netlink {
        /// The operation.
        op: &'static str,
        /// The netlink error.
        #[source]
        source: nettune_netlink::Error,
    },

    /// Reading the namespace's MPTCP sysctls failed.
    #[error(transparent)]
    Sysctl(#[from] nettune_sysctl::Error),

    /// Entering the namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

impl Error {
    pub(crate) fn from_netlink(op: &'static str, e: nettune_netlink::Error) -> Self {
        let e = match e {
            nettune_netlink::Error::Netns(n) => return Self::Netns(n),
            nettune_netlink::Error::Decode(d) => return Self::decode(op, d),
            other => other,
        };
        match e.errno() {
            Some(libc::EPERM | libc::EACCES) => Self::PermissionDenied { op, source: e },
            Some(libc::ENOENT | libc::ESRCH) => Self::NotFound {
                op,
                detail: None,
                source: Some(e),
            },
            // The path manager answers EINVAL "address not found" for an unknown endpoint.
            Some(libc::EINVAL) if e.ext_msg().is_some_and(|t| t.contains("not found")) => {
                Self::NotFound {
                    op,
                    detail: None,
                    source: Some(e),
                }
            }
            Some(libc::EEXIST) => Self::Exists { op, source: e },
            Some(libc::EINVAL | libc::ERANGE | libc::EADDRNOTAVAIL | libc::EBADF) => {
                Self::InvalidValue {
                    op,
                    reason: String::new(),
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

    /// Nothing of that name or id, found before anything was sent.
    pub(crate) fn not_found(op: &'static str, detail: impl Into<String>) -> Self {
        Self::NotFound {
            op,
            detail: Some(detail.into()),
            source: None,
        }
    }

    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Self::InvalidValue { .. } => ErrorKind::InvalidValue,
            Self::Exists { .. } | Self::IdInUse { .. } => ErrorKind::Exists,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Decode { .. } => ErrorKind::Decode,
            Self::Netlink { source, .. } => source.kind(),
            Self::Sysctl(e) => e.kind(),
            Self::Netns(e) => e.kind(),
        }
    }

    /// The kernel's extended acknowledgement (its text, such as `limit greater than
    /// maximum (8)`, and the offset of the attribute it objected to), when it sent one.
    pub fn ext_ack(&self) -> Option<&ExtAck> {
        let source = match self {
            Self::InvalidValue { source, .. } | Self::NotFound { source, .. } => source.as_ref(),
            Self::PermissionDenied { source, .. }
            | Self::Exists { source, .. }
            | Self::IdInUse { source, .. }
            | Self::Netlink { source, .. } => Some(source),
            _ => None,
        };
        source.and_then(nettune_netlink::Error::ext_ack)
    }
}

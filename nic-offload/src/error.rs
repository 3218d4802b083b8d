//! The error type of nettune-nic.

use std::io;

use nettune_core::ErrorKind;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Every variant names the interface and the operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not a valid interface name; nothing was opened.
    #[error("invalid interface name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name (cut to 32 characters).
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },

    /// No interface of that name in this network namespace.
    #[error("no interface {name:?} in this network namespace; interfaces: {}", existing.join(", "))]
    NoSuchInterface {
        /// The name asked for.
        name: String,
        /// The interfaces that exist.
        existing: Vec<String>,
    },

    /// The driver does not implement the operation (`EOPNOTSUPP`).
    #[error("{iface}: {op}: the {driver} driver does not support it")]
    Unsupported {
        /// The interface.
        iface: String,
        /// The operation (ethtool command or file).
        op: &'static str,
        /// The driver's name, when known.
        driver: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The caller lacks `CAP_NET_ADMIN` (settings) or root (sysfs, /proc/irq).
    #[error("{iface}: {op}: permission denied: changing NIC settings needs CAP_NET_ADMIN")]
    PermissionDenied {
        /// The interface.
        iface: String,
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A value rejected before the call (above a device maximum, bad RSS table) or by the
    /// driver (`EINVAL`).
    #[error("{iface}: {op}: invalid value: {reason}")]
    InvalidValue {
        /// The interface.
        iface: String,
        /// The operation.
        op: &'static str,
        /// Why.
        reason: String,
        /// The OS error when the driver rejected it.
        #[source]
        source: Option<io::Error>,
    },

    /// A feature or offload name this device does not have.
    #[error("{iface}: no feature {name:?} on this device{hint}")]
    UnknownFeature {
        /// The interface.
        iface: String,
        /// The name asked for.
        name: String,
        /// Close names, when there are some.
        hint: String,
    },

    /// A restore stopped short: what was restored and what was not.
    #[error("{iface}: restore incomplete; restored: {}; NOT restored: {}", restored.join(", "), failed.iter().map(|(w, e)| format!("{w} ({e})")).collect::<Vec<_>>().join("; "))]
    RestoreIncomplete {
        /// The interface.
        iface: String,
        /// The parts restored.
        restored: Vec<String>,
        /// The parts not restored, with why.
        failed: Vec<(String, String)>,
    },

    /// Entering the interface's network namespace failed.
    #[error(transparent)]
    Netns(#[from] nettune_core::NetnsError),

    /// The ethtool netlink family refused or failed: the kernel's errno, its
    /// extended-ACK text and the offset of the attribute it objected to are in `source`.
    #[error("{iface}: {op}")]
    Netlink {
        /// The interface.
        iface: String,
        /// The operation.
        op: &'static str,
        /// The netlink error.
        #[source]
        source: nettune_netlink::Error,
    },

    /// Another OS error.
    #[error("{iface}: {op}")]
    Io {
        /// The interface.
        iface: String,
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidName { .. } | Self::InvalidValue { .. } => ErrorKind::InvalidValue,
            Self::NoSuchInterface { .. } | Self::UnknownFeature { .. } => ErrorKind::NotFound,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Self::RestoreIncomplete { .. } => ErrorKind::Io,
            Self::Netns(e) => e.kind(),
            Self::Netlink { .. } if self.is_unsupported() => ErrorKind::Unsupported,
            Self::Netlink { source, .. } => source.kind(),
            Self::Io { source, .. } => ErrorKind::of_io(source),
        }
    }

    /// Whether the driver lacks the operation. Over netlink that is `EOPNOTSUPP`, or the
    /// `EINVAL` the kernel answers a change naming a parameter the driver does not
    /// declare ("cannot modify an unsupported parameter", where the ioctl says
    /// `EOPNOTSUPP`), so both interfaces classify the same refusal alike.
    pub fn is_unsupported(&self) -> bool {
        match self {
            Self::Unsupported { .. } => true,
            Self::Netlink { source, .. } => {
                source.errno() == Some(libc::EOPNOTSUPP)
                    || (source.errno() == Some(libc::EINVAL)
                        && source
                            .ext_msg()
                            .is_some_and(|m| m.contains("unsupported parameter")))
            }
            _ => false,
        }
    }

    /// A netlink failure of `op` on `iface` (a namespace failure stays one).
    pub(crate) fn netlink(iface: &str, op: &'static str, e: nettune_netlink::Error) -> Self {
        match e {
            nettune_netlink::Error::Netns(n) => Self::Netns(n),
            source => Self::Netlink {
                iface: iface.to_owned(),
                op,
                source,
            },
        }
    }

    /// A reply that does not decode.
    pub(crate) fn decode(
        iface: &str,
        op: &'static str,
        e: nettune_netlink::proto::DecodeError,
    ) -> Self {
        Self::Netlink {
            iface: iface.to_owned(),
            op,
            source: nettune_netlink::Error::Decode(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(errno: i32, text: &str) -> Error {
        Error::Netlink {
            iface: "tap0".into(),
            op: "set coalesce (netlink)",
            source: nettune_netlink::Error::Kernel {
                errno,
                ext_ack: nettune_core::ExtAck {
                    message: Some(text.into()),
                    offset: Some(36),
                },
                source: io::Error::from_raw_os_error(errno),
            },
        }
    }

    #[test]
    fn netlink_refusals_of_what_the_driver_lacks_are_unsupported_as_over_the_ioctl() {
        let e = refused(libc::EINVAL, "cannot modify an unsupported parameter");
        assert!(e.is_unsupported());
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        let e = refused(libc::EOPNOTSUPP, "");
        assert!(e.is_unsupported());
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        // A value the driver refuses is not a missing feature.
        let e = refused(libc::EINVAL, "requested channel count exceeds maximum");
        assert!(!e.is_unsupported());
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
    }
}

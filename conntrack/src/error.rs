//! The error type of the conntrack crate.

use std::io;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Every variant names the netlink operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel lacks what was asked: conntrack itself (module not loaded), or a filter
    /// this kernel version does not apply.
    #[error("{op}: not supported: {reason}")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// What is missing and what to do.
        reason: String,
    },

    /// The caller lacks `CAP_NET_ADMIN` in the namespace's user namespace.
    #[error("{op}: permission denied: {reason}")]
    PermissionDenied {
        /// The operation.
        op: &'static str,
        /// Which capability applies.
        reason: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// No such entry (get, delete, update), or the id guard did not match.
    #[error("{op}: no such connection")]
    NotFound {
        /// The operation.
        op: &'static str,
    },

    /// The entry exists already (create).
    #[error("{op}: the connection exists already")]
    Exists {
        /// The operation.
        op: &'static str,
    },

    /// A value rejected locally or by the kernel; `reason` carries the kernel's
    /// extended-ACK text when it sent one.
    #[error("{op}: invalid value: {reason}")]
    InvalidValue {
        /// The operation.
        op: &'static str,
        /// Why.
        reason: String,
    },

    /// Any other netlink or socket failure, with the kernel's extended-ACK text.
    #[error("{op}: {source}")]
    Netlink {
        /// The operation.
        op: &'static str,
        /// The netlink error.
        #[source]
        source: nettune_netlink::Error,
    },

    /// Entering the target network namespace failed.
    #[error(transparent)]
    Netns(#[from] sysctl_core::Error),

    /// Running `nft` for a NOTRACK rule failed.
    #[error("{op}: {reason}")]
    Nft {
        /// The operation.
        op: &'static str,
        /// What nft said.
        reason: String,
    },
}

impl Error {
    /// Maps a netlink error of `op` to a typed error.
    pub(crate) fn from_netlink(op: &'static str, e: nettune_netlink::Error) -> Self {
        let text = e.ext_msg().map(str::to_owned);
        match e.errno() {
            Some(libc::ENOENT) => Self::NotFound { op },
            Some(libc::EEXIST) => Self::Exists { op },
            Some(libc::EPERM | libc::EACCES) => match e {
                nettune_netlink::Error::Kernel { source, .. } | nettune_netlink::Error::Io { source, .. } => Self::PermissionDenied {
                    op,
                    reason: "changing or listening to conntrack needs CAP_NET_ADMIN".into(),
                    source,
                },
                other => Self::Netlink { op, source: other },
            },
            Some(libc::EINVAL | libc::ERANGE) => Self::InvalidValue {
                op,
                reason: text.unwrap_or_else(|| "rejected by the kernel".into()),
            },
            Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT) => Self::Unsupported {
                op,
                reason: text.unwrap_or_else(|| "the nf_conntrack_netlink module is not loaded (modprobe nf_conntrack_netlink)".into()),
            },
            _ => Self::Netlink { op, source: e },
        }
    }
}

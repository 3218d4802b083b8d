//! The error type of the mptcp crate.

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Kernel refusals keep the kernel's extended-ACK text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// MPTCP is missing from the kernel or disabled in this namespace.
    #[error("{op}: MPTCP is not available: {reason}")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// Which, and how to enable it.
        reason: String,
    },

    /// The caller lacks `CAP_NET_ADMIN` in the namespace's user namespace.
    #[error("{op}: permission denied: changing the path manager needs CAP_NET_ADMIN")]
    PermissionDenied {
        /// The operation.
        op: &'static str,
    },

    /// Rejected before sending (the checks `ip mptcp` makes) or by the kernel, whose text
    /// is kept.
    #[error("{op}: invalid: {reason}")]
    InvalidValue {
        /// The operation.
        op: &'static str,
        /// Why.
        reason: String,
    },

    /// No such endpoint, route or rule.
    #[error("{op}: not found{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    NotFound {
        /// The operation.
        op: &'static str,
        /// The kernel's text, when it sent one.
        detail: Option<String>,
    },

    /// Another netlink failure.
    #[error("{op}: {source}")]
    Netlink {
        /// The operation.
        op: &'static str,
        /// The netlink error, with the kernel's extended-ACK text.
        #[source]
        source: nettune_netlink::Error,
    },

    /// Entering the namespace, or reading its sysctls, failed.
    #[error(transparent)]
    Sysctl(#[from] sysctl_core::Error),
}

impl Error {
    pub(crate) fn from_netlink(op: &'static str, e: nettune_netlink::Error) -> Self {
        let text = e.ext_msg().map(str::to_owned);
        match e.errno() {
            Some(libc::EPERM | libc::EACCES) => Self::PermissionDenied { op },
            Some(libc::ENOENT | libc::ESRCH) => Self::NotFound { op, detail: text },
            // The path manager answers EINVAL "address not found" for an unknown endpoint.
            Some(libc::EINVAL) if text.as_deref().is_some_and(|t| t.contains("not found")) => {
                Self::NotFound { op, detail: text }
            }
            Some(
                libc::EINVAL | libc::ERANGE | libc::EEXIST | libc::EADDRNOTAVAIL | libc::EBADF,
            ) => Self::InvalidValue {
                op,
                reason: text.unwrap_or_else(|| e.to_string()),
            },
            _ => Self::Netlink { op, source: e },
        }
    }
}

impl From<nettune_netlink::Error> for Error {
    fn from(e: nettune_netlink::Error) -> Self {
        Self::Netlink {
            op: "netlink",
            source: e,
        }
    }
}

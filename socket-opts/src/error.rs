//! The error type of nettune-sockopt.

use std::io;

use nettune_core::ErrorKind;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong setting or reading a socket option. Every variant names the option by
/// its C name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The option does not exist for this socket: the kernel lacks it, or the protocol
    /// (MPTCP, UDP, a listener) rejects it.
    #[error("{option} is not supported here: {reason}")]
    Unsupported {
        /// The option's C name.
        option: &'static str,
        /// Why, and what to do.
        reason: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The caller lacks the capability the option needs.
    #[error("{option}: permission denied: {reason}")]
    PermissionDenied {
        /// The option's C name.
        option: &'static str,
        /// Which capability or sysctl applies.
        reason: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The value was rejected, by local validation or by the kernel.
    #[error("{option}: invalid value: {reason}")]
    InvalidValue {
        /// The option's C name.
        option: &'static str,
        /// Why.
        reason: String,
        /// The OS error when the kernel rejected it.
        #[source]
        source: Option<io::Error>,
    },

    /// A congestion control algorithm this kernel does not have.
    #[error("TCP_CONGESTION: {name:?} is not available; available: {}", available.join(" "))]
    CongestionControlUnavailable {
        /// The requested algorithm.
        name: String,
        /// `net.ipv4.tcp_available_congestion_control`.
        available: Vec<String>,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A congestion control algorithm an unprivileged caller may not select.
    #[error(
        "TCP_CONGESTION: {name:?} is not allowed without CAP_NET_ADMIN; allowed: {}",
        allowed.join(" ")
    )]
    CongestionControlNotAllowed {
        /// The requested algorithm.
        name: String,
        /// `net.ipv4.tcp_allowed_congestion_control`.
        allowed: Vec<String>,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The kernel accepted the option but it has no effect, because a sysctl turns the
    /// feature off (for example TCP_FASTOPEN on a listener without the server bit).
    #[error("{option} was accepted but has no effect: {reason}")]
    Inactive {
        /// The option's C name.
        option: &'static str,
        /// Which sysctl, and the value that would make it work.
        reason: String,
    },

    /// The option does not belong on this socket (a listener option on a connected
    /// socket, an option set too late).
    #[error("{option}: {reason}")]
    Misuse {
        /// The option's C name.
        option: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },

    /// A strict [`SocketProfile`](crate::SocketProfile) stopped at `option`; the options it
    /// had already set were put back exactly (`restored`) or not (`not_restored`).
    #[error(
        "applying the socket profile failed at {option} ({})",
        restore_text(restored, not_restored)
    )]
    ProfileFailed {
        /// The option that failed.
        option: &'static str,
        /// Why.
        #[source]
        source: Box<Self>,
        /// Options set earlier and put back to their previous values.
        restored: Vec<&'static str>,
        /// Options set earlier that could not be put back exactly, with what differs.
        not_restored: Vec<(&'static str, String)>,
    },

    /// The kernel answered with bytes or a value this crate cannot decode (a negative
    /// size, a short `TCP_INFO`, a congestion control name that is not valid).
    #[error("{option}: undecodable answer from the kernel: {reason}")]
    Decode {
        /// The option's C name.
        option: &'static str,
        /// What was wrong.
        reason: String,
    },

    /// A value that did not parse (`"bbr".parse::<CongestionControl>()`), so that `?`
    /// works on it in a function that returns this crate's [`Result`].
    #[error(transparent)]
    Value(#[from] nettune_core::ValueError),

    /// Another OS error.
    #[error("{op} {option}")]
    Io {
        /// `get` or `set`.
        op: &'static str,
        /// The option's C name.
        option: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn restore_text(restored: &[&'static str], not_restored: &[(&'static str, String)]) -> String {
    let back = (!restored.is_empty())
        .then(|| format!("restored the previous values of {}", restored.join(", ")));
    let not_back = (!not_restored.is_empty()).then(|| {
        let failed: Vec<String> = not_restored
            .iter()
            .map(|(o, why)| format!("{o} ({why})"))
            .collect();
        format!("NOT restored exactly: {}", failed.join("; "))
    });
    match (back, not_back) {
        (None, None) => "nothing had been set".to_owned(),
        (Some(b), None) => b,
        (None, Some(n)) => n,
        (Some(b), Some(n)) => format!("{b}; {n}"),
    }
}

impl Error {
    /// What kind of failure this is (see [`ErrorKind`]); a failed profile answers with
    /// the kind of the option that failed.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::PermissionDenied { .. } | Self::CongestionControlNotAllowed { .. } => {
                ErrorKind::PermissionDenied
            }
            Self::InvalidValue { .. }
            | Self::Value(_)
            | Self::CongestionControlUnavailable { .. }
            | Self::Misuse { .. } => ErrorKind::InvalidValue,
            Self::Inactive { .. } => ErrorKind::Unsupported,
            Self::Decode { .. } => ErrorKind::Decode,
            Self::ProfileFailed { source, .. } => source.kind(),
            Self::Io { source, .. } => ErrorKind::of_io(source),
        }
    }

    /// The option this error is about.
    pub fn option(&self) -> &'static str {
        match self {
            Self::Unsupported { option, .. }
            | Self::PermissionDenied { option, .. }
            | Self::InvalidValue { option, .. }
            | Self::Inactive { option, .. }
            | Self::Misuse { option, .. }
            | Self::ProfileFailed { option, .. }
            | Self::Decode { option, .. }
            | Self::Io { option, .. } => option,
            Self::CongestionControlUnavailable { .. }
            | Self::CongestionControlNotAllowed { .. } => "TCP_CONGESTION",
            Self::Value(_) => "value",
        }
    }

    /// Whether the caller lacked a privilege (also inside a failed profile).
    pub fn is_permission_denied(&self) -> bool {
        self.kind() == ErrorKind::PermissionDenied
    }

    /// Whether the option is not available for this socket or kernel (also inside a
    /// failed profile).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported { .. })
            || matches!(self, Self::ProfileFailed { source, .. } if source.is_unsupported())
    }

    /// The kernel returned something that does not decode.
    pub(crate) fn decode(option: &'static str, reason: impl Into<String>) -> Self {
        Self::Decode {
            option,
            reason: reason.into(),
        }
    }
}

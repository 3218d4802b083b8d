//! The error type of sysctl-core.

use std::io;

use nettune_core::ErrorKind;
pub use nettune_core::ValueError;
pub(crate) use nettune_core::error::clip;

use crate::key::Key;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing a sysctl.
///
/// Each variant names the key (or namespace) it is about; the OS error, where there is one,
/// is kept as the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not a valid sysctl key; nothing was opened.
    #[error("invalid sysctl key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected text (cut to 64 characters).
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The key does not exist here: the module that provides it is not loaded, the
    /// kernel is too old, or the key is global and so absent in a child namespace.
    #[error("sysctl {key} is not present: {reason}")]
    Unsupported {
        /// The key.
        key: Key,
        /// Why it is probably missing and what to do.
        reason: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The caller may not read or write the key: not root, or the key is read-only
    /// (for example in a child network namespace).
    #[error("permission denied for sysctl {key}: {reason}")]
    PermissionDenied {
        /// The key.
        key: Key,
        /// Which rule applies (capability, read-only key, child namespace).
        reason: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The value was rejected, locally before anything was written or by the kernel.
    #[error("invalid value {value:?} for sysctl {key}: {reason}")]
    InvalidValue {
        /// The key.
        key: Key,
        /// The rejected value (cut to 64 characters).
        value: String,
        /// Why, and how to fix it.
        reason: String,
        /// The OS error when the kernel rejected the value.
        #[source]
        source: Option<io::Error>,
    },

    /// A congestion control algorithm that this kernel does not have (no module loaded
    /// and none could be loaded).
    #[error(
        "congestion control {name:?} is not available for {key}; available: {}; \
         load its module (modprobe tcp_{name}) or pick one of those",
        available.join(" ")
    )]
    CongestionControlUnavailable {
        /// The key that was written.
        key: Key,
        /// The requested algorithm.
        name: String,
        /// What `net.ipv4.tcp_available_congestion_control` lists.
        available: Vec<String>,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A congestion control algorithm that a child namespace may not select: only the
    /// algorithms in `net.ipv4.tcp_allowed_congestion_control` of the initial namespace are.
    #[error(
        "congestion control {name:?} is not allowed in this child network namespace; \
         allowed: {}; add it to net.ipv4.tcp_allowed_congestion_control in the initial \
         namespace or pick one of those",
        allowed.join(" ")
    )]
    CongestionControlNotAllowed {
        /// The key that was written.
        key: Key,
        /// The requested algorithm.
        name: String,
        /// What `net.ipv4.tcp_allowed_congestion_control` lists.
        allowed: Vec<String>,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The kernel returned a value that the typed knob cannot parse.
    #[error("unexpected value {value:?} of sysctl {key}: {reason}")]
    UnexpectedValue {
        /// The key.
        key: Key,
        /// What the kernel returned (cut to 64 characters).
        value: String,
        /// What was expected.
        reason: String,
    },

    /// Another I/O error reading, writing or listing a key.
    #[error("{op} sysctl {key}")]
    Io {
        /// `read`, `write` or `list`.
        op: &'static str,
        /// The key.
        key: Key,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A write was accepted but reading the key back shows another value (the kernel
    /// clamped or ignored it).
    #[error(
        "sysctl {key} reads back {got:?} after writing {wanted:?}: the kernel kept another value"
    )]
    NotApplied {
        /// The key.
        key: Key,
        /// What was written (canonical form).
        wanted: String,
        /// What the kernel reports now.
        got: String,
    },

    /// An apply stopped at `key`; the keys it had already written were put back (or not:
    /// see `restore`).
    #[error("applying the plan failed at {key} ({restore})")]
    ApplyFailed {
        /// The key whose write failed.
        key: Key,
        /// Why it failed.
        #[source]
        source: Box<Self>,
        /// What happened to the keys written before it.
        restore: Restore,
    },

    /// A rollback could not write some keys back; the others were restored.
    #[error("rollback left {} key(s) unrestored: {}", failed.len(), failed.iter().map(|(k, why)| format!("{k} ({why})")).collect::<Vec<_>>().join("; "))]
    RollbackFailed {
        /// Keys restored.
        restored: Vec<Key>,
        /// Keys that could not be restored, with why.
        failed: Vec<(Key, String)>,
    },

    /// An undo log is for another sysctl tree or network namespace than the handle given.
    #[error("the undo log is for {expected}, but this handle works on {found}")]
    WrongTarget {
        /// Where the undo log was made.
        expected: String,
        /// Where the handle works.
        found: String,
    },

    /// A malformed line in a sysctl.d file or an undo log.
    #[error("{file}:{line}: {reason}")]
    Syntax {
        /// The file (or the name given to the text).
        file: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// Reading or writing a file (undo log, sysctl.d configuration) failed.
    #[error("{op} {}", path.display())]
    File {
        /// What was done (`read`, `write`, `list`).
        op: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// Opening, creating or entering a network namespace failed.
    #[error(transparent)]
    Netns(#[from] nettune_core::NetnsError),
}

impl Error {
    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidKey { .. }
            | Self::InvalidValue { .. }
            | Self::CongestionControlUnavailable { .. }
            | Self::CongestionControlNotAllowed { .. } => ErrorKind::InvalidValue,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Self::UnexpectedValue { .. } | Self::Syntax { .. } => ErrorKind::Decode,
            Self::Io { source, .. } | Self::File { source, .. } => ErrorKind::of_io(source),
            Self::NotApplied { .. } => ErrorKind::Kernel,
            Self::ApplyFailed { source, .. } => source.kind(),
            Self::RollbackFailed { .. } => ErrorKind::Io,
            Self::WrongTarget { .. } => ErrorKind::InvalidValue,
            Self::Netns(e) => e.kind(),
        }
    }

    /// The key this error is about, when it is about one key.
    pub fn key(&self) -> Option<&Key> {
        match self {
            Self::Unsupported { key, .. }
            | Self::PermissionDenied { key, .. }
            | Self::InvalidValue { key, .. }
            | Self::CongestionControlUnavailable { key, .. }
            | Self::CongestionControlNotAllowed { key, .. }
            | Self::UnexpectedValue { key, .. }
            | Self::Io { key, .. }
            | Self::NotApplied { key, .. }
            | Self::ApplyFailed { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// What happened to the keys an apply had already written when a later write failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Restore {
    /// Keys written back to their earlier value, checked by reading back.
    pub restored: Vec<Key>,
    /// Keys that could not be restored, with why.
    pub failed: Vec<(Key, String)>,
}

impl std::fmt::Display for Restore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.failed.is_empty() {
            return match self.restored.len() {
                0 => f.write_str("nothing had been written"),
                n => write!(f, "the {n} key(s) already written were restored"),
            };
        }
        write!(f, "{} key(s) restored; NOT restored:", self.restored.len())?;
        for (key, why) in &self.failed {
            write!(f, " {key} ({why});")?;
        }
        Ok(())
    }
}

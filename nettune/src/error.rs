//! The error type of the whole-host layer, and the error vocabulary every module shares.

use std::io;
use std::path::PathBuf;

pub use nettune_core::error::*;
use nettune_core::{NetNsId, NetnsError};

/// Result type of the whole-host layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a profile, a plan, a transaction or a journal. Errors of the crates
/// below pass through with their own context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A profile file or built-in name that does not load; nothing was read from the
    /// system.
    #[error("profile {name}: {reason}")]
    Profile {
        /// The file or name.
        name: String,
        /// What is wrong and where.
        reason: String,
    },

    /// The plan refuses items: outside the target namespace, not settable there, or not
    /// valid on this kernel or device. Nothing was written.
    #[error("the plan refuses {} item(s), nothing was written: {}", refused.len(), refused.iter().map(|(i, why)| format!("{i} ({why})")).collect::<Vec<_>>().join("; "))]
    Refused {
        /// Each refused item with why.
        refused: Vec<(String, String)>,
    },

    /// A journal that cannot be used: missing, a symlink, truncated, edited, of a future
    /// version, or recording an apply that was interrupted.
    #[error("journal {}: {reason}", path.display())]
    Journal {
        /// The journal.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
        /// What callers act on.
        kind: ErrorKind,
        /// The OS error, when there was one.
        #[source]
        source: Option<io::Error>,
    },

    /// Another transaction holds the target namespace's lock.
    #[error("{what} is locked by another nettune transaction ({}){}", lock.display(), if *waited { "" } else { "; not waiting (--no-wait)" })]
    Busy {
        /// What was to be locked.
        what: String,
        /// The lock file.
        lock: PathBuf,
        /// Whether this call waited (it gives up only without waiting).
        waited: bool,
    },

    /// The journal was written for another network namespace than the target.
    #[error("the journal is for {recorded}, not {found}{}", if *reboot { ": the machine rebooted since, and the kernel state it recorded is gone" } else { "" })]
    WrongNamespace {
        /// What the journal names.
        recorded: NetNsId,
        /// The target.
        found: NetNsId,
        /// The boot ids differ.
        reboot: bool,
    },

    /// An apply stopped at an item; what it had already changed was put back, or not (as
    /// the report says). The journal stays until a rollback or recover succeeds.
    #[error("applying failed at {item} ({})", restore)]
    ApplyFailed {
        /// The item whose change failed.
        item: String,
        /// Why.
        #[source]
        source: Box<Self>,
        /// What happened to the items changed before it.
        restore: crate::journal::Report,
    },

    /// A sysctl failed.
    #[error(transparent)]
    Sysctl(#[from] nettune_sysctl::Error),
    /// A NIC operation failed.
    #[error(transparent)]
    Nic(#[from] nettune_nic::Error),
    /// An MPTCP operation failed.
    #[error(transparent)]
    Mptcp(Box<nettune_mptcp::Error>),
    /// A conntrack operation (or NOTRACK rule) failed.
    #[error(transparent)]
    Conntrack(Box<nettune_conntrack::Error>),
    /// A network namespace could not be opened or entered.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Reading or writing a file.
    #[error("{op} {}", path.display())]
    File {
        /// What was done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn profile(source: &str, reason: String) -> Self {
        Self::Profile {
            name: source.to_owned(),
            reason,
        }
    }

    pub(crate) fn file(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::File {
            op,
            path: path.into(),
            source,
        }
    }

    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Profile { .. } | Self::Refused { .. } | Self::WrongNamespace { .. } => {
                ErrorKind::InvalidValue
            }
            Self::Journal { kind, .. } => *kind,
            Self::Busy { .. } => ErrorKind::Busy,
            Self::ApplyFailed { source, .. } => source.kind(),
            Self::Sysctl(e) => e.kind(),
            Self::Nic(e) => e.kind(),
            Self::Mptcp(e) => e.kind(),
            Self::Conntrack(e) => e.kind(),
            Self::Netns(e) => e.kind(),
            Self::File { source, .. } => ErrorKind::of_io(source),
        }
    }
}

impl From<nettune_mptcp::Error> for Error {
    fn from(e: nettune_mptcp::Error) -> Self {
        Self::Mptcp(Box::new(e))
    }
}

impl From<nettune_conntrack::Error> for Error {
    fn from(e: nettune_conntrack::Error) -> Self {
        Self::Conntrack(Box::new(e))
    }
}

impl From<ValueError> for Error {
    fn from(e: ValueError) -> Self {
        Self::Profile {
            name: e.what().to_owned(),
            reason: e.to_string(),
        }
    }
}

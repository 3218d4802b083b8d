//! [`Target`]: the one network namespace a whole-host transaction works on.

use std::fmt;

use nettune_core::{NetNs, NetNsId};
use nettune_sysctl::Sysctl;

use crate::error::{Error, Result};

/// The network namespace a plan reads and a transaction changes, with its identity (the
/// namespace cookie and this boot's id), which a journal records to refuse any other
/// namespace later.
///
/// ```no_run
/// let here = nettune::Target::current()?;              // this thread's namespace
/// let edge = nettune::Target::open("edge")?;           // ip netns add edge
/// println!("{here} / {edge}");
/// # Ok::<(), nettune::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Target {
    ns: NetNs,
    id: NetNsId,
    initial: bool,
    sysctl: Sysctl,
}

impl Target {
    /// The calling thread's network namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] when it cannot be inspected.
    pub fn current() -> Result<Self> {
        Self::of(&NetNs::current()?)
    }

    /// The namespace `ip netns add NAME` created.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] when there is none of that name, or it cannot be entered.
    pub fn open(name: &str) -> Result<Self> {
        Self::of(&NetNs::open(name)?)
    }

    /// Namespace `ns`.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] when it cannot be entered (reading its cookie needs a socket
    /// inside it).
    pub fn of(ns: &NetNs) -> Result<Self> {
        let id = ns.id()?;
        let initial = ns.is_initial()?;
        Ok(Self {
            ns: ns.clone(),
            id,
            initial,
            sysctl: Sysctl::open_in(ns),
        })
    }

    /// The namespace.
    pub fn netns(&self) -> &NetNs {
        &self.ns
    }

    /// Its identity: cookie, boot id, inode.
    pub fn id(&self) -> NetNsId {
        self.id
    }

    /// Whether it is the initial network namespace (the host's own).
    pub fn is_initial(&self) -> bool {
        self.initial
    }

    /// Its sysctls.
    pub fn sysctl(&self) -> &Sysctl {
        &self.sysctl
    }

    /// Its name under /run/netns, when opened by one.
    pub fn name(&self) -> Option<&str> {
        self.ns.name()
    }

    pub(crate) fn check_same(&self, recorded: &NetNsId) -> Result<()> {
        if self.id.same_namespace(recorded) {
            return Ok(());
        }
        Err(Error::WrongNamespace {
            recorded: *recorded,
            found: self.id,
            reboot: self.id.boot_id != recorded.boot_id,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.id;
        match self.ns.name() {
            Some(n) => write!(
                f,
                "network namespace {n:?} (inode {}, cookie {})",
                id.inode, id.cookie
            ),
            None if self.initial => write!(
                f,
                "the initial network namespace (inode {}, cookie {})",
                id.inode, id.cookie
            ),
            None => write!(f, "{id}"),
        }
    }
}

//! Which interface each operation of a [`Nic`] goes through.
//!
//! A `Nic` uses the ethtool netlink family (Linux 5.6+) for every operation the running
//! kernel carries there: features, rings, channels, coalescing, pause, timestamping, RSS,
//! and from Linux 6.17 RSS changes and flow hashing (asked once per handle). Over netlink
//! a change names only the fields asked for (no read-modify-write that could undo another
//! writer's change in between) and a refusal carries the kernel's extended ACK.
//! Operations only the ioctl has (driver info, per-queue coalescing, n-tuple rules,
//! driver statistics, private flags, link settings, tunables; flow hashing and RSS changes
//! before 6.17; offload changes, whose per-feature outcome only `ETHTOOL_SFEATURES`
//! reports) use `SIOCETHTOOL`, and so does everything on a kernel without the family.
//! What only netlink has is on [`EthtoolNl`] ([`Nic::netlink`] gives the handle's own).
//!
//! [`Nic::prefer`]`(Backend::Ioctl)` keeps a handle on the ioctl for what both carry: the
//! two read the same values (the tests hold them equal on veth, tap, virtio-net and igb),
//! and an ioctl read costs about a fifth of a netlink one (`compare nic_netlink`).
//! [`Nic::backend_for`] says which interface an operation uses.

use crate::error::Result;
use crate::ethnl::{Backend, EthtoolNl};
use crate::nic::Nic;

/// An operation of [`Nic`], for [`Nic::backend_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NicOp {
    /// [`Nic::features`].
    Features,
    /// [`Nic::set_offloads`] (ioctl: its per-feature outcome comes from `ETHTOOL_F_*`).
    SetOffloads,
    /// [`Nic::coalesce`].
    Coalesce,
    /// [`Nic::set_coalesce`].
    SetCoalesce,
    /// [`Nic::rings`].
    Rings,
    /// [`Nic::set_rings`].
    SetRings,
    /// [`Nic::channels`].
    Channels,
    /// [`Nic::set_channels`].
    SetChannels,
    /// [`Nic::pause`].
    Pause,
    /// [`Nic::set_pause`].
    SetPause,
    /// [`Nic::timestamping`].
    Timestamping,
    /// [`Nic::rss`].
    Rss,
    /// [`Nic::set_rss`] (netlink `RSS_SET` is Linux 6.17+).
    SetRss,
    /// [`Nic::flow_hash`], [`Nic::set_flow_hash`] (over netlink from Linux 6.17).
    FlowHash,
    /// [`Nic::rules`], [`Nic::insert_rule`], [`Nic::delete_rule`].
    Rules,
    /// [`Nic::queue_coalesce`], [`Nic::set_queue_coalesce`].
    QueueCoalesce,
    /// [`Nic::driver_stats`].
    DriverStats,
    /// [`Nic::private_flags`], [`Nic::set_private_flags`].
    PrivateFlags,
    /// [`Nic::link_settings`], [`Nic::set_link_settings`].
    LinkSettings,
    /// [`Nic::driver_info`].
    DriverInfo,
    /// [`Nic::tunable`], [`Nic::set_tunable`], [`Nic::phy_tunable`],
    /// [`Nic::set_phy_tunable`].
    Tunables,
}

impl NicOp {
    /// Whether the ethtool netlink family carries this operation.
    pub fn netlink_has_it(self) -> bool {
        matches!(
            self,
            Self::Features
                | Self::Coalesce
                | Self::SetCoalesce
                | Self::Rings
                | Self::SetRings
                | Self::Channels
                | Self::SetChannels
                | Self::Pause
                | Self::SetPause
                | Self::Timestamping
                | Self::Rss
        )
    }
}

impl Nic {
    /// Uses `backend` for the operations both interfaces carry (the default is
    /// [`Backend::Netlink`]). With [`Backend::Netlink`] on a kernel without the family, the
    /// ioctl stays in use; [`Nic::backend_for`] tells.
    pub fn prefer(mut self, backend: Backend) -> Self {
        self.prefer = backend;
        self
    }

    /// The interface operation `op` goes through on this handle.
    pub fn backend_for(&self, op: NicOp) -> Backend {
        if self.via_netlink(op).is_some() {
            Backend::Netlink
        } else {
            Backend::Ioctl
        }
    }

    /// The handle's ethtool netlink family, opened once, in the handle's namespace: for
    /// what only netlink has (ring and coalescing extras, pause and timestamping counters,
    /// standard statistics, notifications).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Unsupported`] without the family; [`crate::Error::Netlink`].
    pub fn netlink(&self) -> Result<&EthtoolNl> {
        if let Some(nl) = self.nl.get() {
            return Ok(nl);
        }
        let nl = match self.netns() {
            Some(ns) => EthtoolNl::open_in(ns)?,
            None => EthtoolNl::open()?,
        };
        Ok(self.nl.get_or_init(|| nl))
    }

    /// The netlink handle when `op` goes over netlink here.
    pub(crate) fn via_netlink(&self, op: NicOp) -> Option<&EthtoolNl> {
        if self.prefer != Backend::Netlink || self.nl_absent.get().is_some() {
            return None;
        }
        let nl = match self.netlink() {
            Ok(nl) => nl,
            Err(e) => {
                // A kernel without the family (before 5.6, or built without
                // CONFIG_ETHTOOL_NETLINK) is asked once; other failures (no file
                // descriptor left, ...) are tried again next time.
                if e.is_unsupported() {
                    let _ = self.nl_absent.set(());
                }
                return None;
            }
        };
        if op.netlink_has_it() {
            return Some(nl);
        }
        // RSS changes and flow hashing came to netlink in 6.17: asked once, by reading the
        // flow hashing (a kernel without it leaves the attribute out).
        if matches!(op, NicOp::SetRss | NicOp::FlowHash) {
            let has = *self
                .rss_over_netlink
                .get_or_init(|| nl.flow_hash(self.name().as_str()).is_ok());
            return has.then_some(nl);
        }
        None
    }
}

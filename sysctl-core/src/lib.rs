//! Typed, validated, network-namespace-aware access to the Linux kernel's `net.*` sysctls.
//!
//! The kernel exposes its tunables as files under `/proc/sys` (see `sysctl(8)`,
//! `proc_sys_net(5)`, Documentation/admin-guide/sysctl/net.rst and
//! Documentation/networking/ip-sysctl.rst). Most `net.*` files belong to the network
//! namespace of the thread that *opens* them; some are global, and some are read-only in a
//! child namespace. This crate gives:
//!
//! - [`Key`]: a validated key, dotted or slashed, that can name VLAN interfaces
//!   (`net.ipv4.conf.eth0/100.rp_filter`) and never escapes `/proc/sys`;
//! - [`Sysctl`]: raw reads and writes with errors that say why (absent, read-only in a child
//!   namespace, rejected by the kernel), listing, and typed access to the [`knobs`];
//! - [`Sysctl::open_in`] (with a [`nettune_core::NetNs`]): the same in another namespace,
//!   whatever thread calls;
//! - value types that validate at construction ([`TcpMem`], [`CongestionControl`],
//!   [`FastOpen`], ...) and [`advice`] about how knobs interact.
//!
//! ```no_run
//! use nettune_core::NetNs;
//! use nettune_sysctl::{Sysctl, knobs};
//! let ns = NetNs::create()?;                       // needs CAP_SYS_ADMIN
//! let sys = Sysctl::open_in(&ns);
//! sys.set::<knobs::TcpCongestionControl>("bbr".parse()?)?;
//! assert_eq!(sys.get::<knobs::TcpCongestionControl>()?.as_str(), "bbr");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(clippy::unwrap_used)]

pub mod advice;
pub mod conf;
mod error;
mod key;
pub mod knobs;
pub mod plan;
mod profile;
mod snapshot;
mod sysctl;
pub mod sysctld;
mod textfile;
mod value;

pub use error::{Error, Restore, Result, ValueError};
pub use key::{Key, MAX_KEY_LEN};
pub use knobs::{Knob, Scope};
pub use plan::{Applied, Plan};
pub use profile::{Bdp, Profile, ProfileEntry};
pub use snapshot::{Difference, Snapshot};
pub use sysctl::Sysctl;
pub use value::{
    AcceptRaMode, ArpAnnounceMode, ArpIgnoreMode, CongestionControl, ConntrackEvents, CpuMask,
    FastOpen, FastOpenKey, INT_MAX, MemPages, Mode, MptcpName, MtuProbing, NameList, PmType,
    PortRange, Qdisc, RpFilterMode, SynCookies, TcpEcn, TcpMem, Timestamps, TwReuse,
};

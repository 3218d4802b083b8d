//! NIC tuning as `ethtool(8)` does it, over the ethtool netlink family ([`ethnl`]) where
//! the running kernel carries an operation and the `SIOCETHTOOL` ioctl for the rest (see
//! include/uapi/linux/ethtool.h, Documentation/networking/ethtool-netlink.rst and
//! scaling.rst; [`Nic::backend_for`] says which): driver info, offloads, interrupt
//! coalescing (also per queue), rings, channels, RSS and flow hashing, n-tuple flow
//! steering rules, driver statistics, private flags, driver and PHY tunables, link
//! settings, pause, timestamping, RPS/XPS/IRQ steering, and a snapshot to restore; and
//! on [`ethnl::EthtoolNl`] what only netlink carries.
//!
//! ```no_run
//! use nettune_nic::{Nic, Offload, CoalesceUpdate};
//! let nic = Nic::open("eth0")?;
//! println!("{:?}", nic.driver_info()?);
//! for f in &nic.features()? {
//!     println!("{}: {}{}", f.name, if f.active { "on" } else { "off" }, if f.fixed { " [fixed]" } else { "" });
//! }
//! let before = nic.snapshot()?;
//! let change = nic.set_offloads(&[(Offload::Gro, true), (Offload::Lro, false)])?;
//! let mut c = CoalesceUpdate::new();
//! c.rx_usecs = Some(8);
//! let ignored = nic.set_coalesce(&c)?;
//! nic.restore(&before)?;
//! # Ok::<(), nettune_nic::Error>(())
//! ```
//!
//! Reading needs no privilege; changing needs `CAP_NET_ADMIN`. A handle opened with
//! [`Nic::open_in`] works in that network namespace, sysfs included.
#![warn(clippy::unwrap_used)]

mod backend;
mod error;
pub mod ethnl;
mod features;
mod ifname;
mod link;
mod nic;
mod ntuple;
mod params;
mod proto;
mod rss;
mod snapshot;
mod stats;
mod steering;
mod sys;
mod tunable;

#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;

pub use backend::NicOp;
pub use error::{Error, Result};
pub use features::{Feature, FeatureChange, FeatureOutcome, Features, Offload, OffloadOutcome};
pub use ifname::IfName;
pub use link::{Duplex, LinkSettings, LinkUpdate, Pause, Port};
pub use nic::{DriverInfo, HwTimestamping, Nic, TimestampingInfo};
pub use ntuple::{
    FlowRule, MaskValue, Masked, RuleAction, RuleFlow, RuleLocation, RuleMatch, RuleTable,
};
pub use params::{
    Channels, ChannelsUpdate, Coalesce, CoalesceUpdate, Ignored, MAX_QUEUES, Rings, RingsUpdate,
};
pub use rss::{FlowType, Indirection, Rss, RssUpdate, Rxh};
pub use snapshot::NicSnapshot;
pub use stats::DriverStats;
pub use steering::{CpuSet, Irq, RxQueue, Steering, TxQueue};
pub use tunable::{PhyTunable, Tunable};

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

//! Netfilter connection tracking over `NETLINK_NETFILTER` (see `conntrack(8)` and
//! Documentation/networking/nf_conntrack-sysctl.rst): a streaming dump with filters the
//! kernel applies, get, count, per-CPU statistics, create, update, delete, a kernel-side
//! filtered flush, events with explicit overruns, and the NOTRACK bypass.
//!
//! ```no_run
//! use nettune_conntrack::{Conntrack, EventConfig, Filter, Family};
//! let ct = Conntrack::open()?;
//! let count = ct.count()?;
//! println!("{} of {} entries ({:.0}% full)", count.entries, count.max, count.fill() * 100.0);
//! for e in ct.dump(&Filter::new().family(Family::Ipv4).mark(0x10, 0xff))? {
//!     let e = e?;
//!     println!("{} {}", e.original.protocol_name(), e.original);
//! }
//! ct.flush(&Filter::new().mark(0x10, 0xff))?;                 // one request, done in the kernel
//! for event in ct.events(EventConfig { recv_buffer: Some(8 << 20), ..EventConfig::default() })? {
//!     println!("{:?}", event?);
//! }
//! # Ok::<(), nettune_conntrack::Error>(())
//! ```
//!
//! A fresh network namespace tracks nothing until a rule uses conntrack (an nftables `ct`
//! match, NAT); entries created with [`Conntrack::create`] need no rule.
#![warn(clippy::unwrap_used)]

mod conntrack;
mod error;
mod events;
mod expect;
mod filter;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod notrack;
mod proto;
#[cfg(feature = "tokio")]
mod stream;

pub use conntrack::{Conntrack, Count, Dump, RawBatch, Update};
pub use error::{Error, Result};
pub use events::{Event, EventConfig, EventGroups, Events};
pub use expect::{Expectation, ExpectationEvent, ExpectationEvents};
pub use filter::{Filter, TupleFilter};
pub use notrack::{L4, NoTrack, NoTrackWatch, TABLE as NOTRACK_TABLE};
pub use proto::{
    Counters, CpuStats, DccpConntrackState, Entry, Family, FlowTimestamps, Icmp, MAX_TIMEOUT_SECS,
    NatTarget, ProtoState, SctpConntrackState, Status, SynProxy, TcpConntrackState, TcpProtoInfo,
    Tuple, labels_bitmap, labels_of,
};
#[cfg(feature = "tokio")]
pub use stream::AsyncEvents;

/// The conntrack sysctls, from sysctl-core.
pub mod sysctls {
    pub use nettune_sysctl::knobs::{
        NfConntrackAcct, NfConntrackBuckets, NfConntrackChecksum, NfConntrackCount,
        NfConntrackEvents, NfConntrackExpectMax, NfConntrackGenericTimeout, NfConntrackIcmpTimeout,
        NfConntrackMax, NfConntrackTcpTimeoutEstablished, NfConntrackTimestamp,
        NfConntrackUdpTimeout, NfConntrackUdpTimeoutStream,
    };
}

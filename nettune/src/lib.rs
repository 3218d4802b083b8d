//! Linux network tuning from application code: sysctls, NIC offloads and coalescing,
//! connection tracking, MPTCP and per-socket options — per host, per network namespace
//! and per connection — with values checked before anything is written and errors that
//! say why.
//!
//! Each area is a module (and a crate of its own, behind a default feature):
//!
//! | module | what | kernel interface |
//! |---|---|---|
//! | [`sysctl`] | keys, typed knobs with their namespace scope, snapshots, plans, undo logs, sysctl.d | `/proc/sys` (`sysctl(8)`) |
//! | [`sockopt`] | per-socket options, `TCP_INFO`, `SocketProfile`, MPTCP sockets | `setsockopt(2)` (`tcp(7)`, `socket(7)`) |
//! | [`nic`] | offloads, coalescing, rings, channels, RSS, RPS/XPS/IRQ steering | `SIOCETHTOOL` (`ethtool(8)`) |
//! | [`conntrack`] | the connection tracking table: dump, count, stats, create, delete, flush, events | `NETLINK_NETFILTER` (`conntrack(8)`) |
//! | [`mptcp`] | the MPTCP path manager and source routing | `mptcp_pm` genetlink (`ip-mptcp(8)`) |
//!
//! Every handle opens the same way: `X::open()` in the calling thread's network
//! namespace, `X::open_in(&ns)` in another ([`NetNs`]). Every error answers `kind()` with
//! an [`ErrorKind`], and [`error::report`] prints it with its causes.
//!
//! One program, all five areas, inside a namespace of its own:
//!
//! ```no_run
//! use nettune::conntrack::{Conntrack, Filter};
//! use nettune::mptcp::PathManager;
//! use nettune::nic::{Nic, Offload};
//! use nettune::sockopt::{SocketProfile, tcp_info};
//! use nettune::sysctl::{Sysctl, knobs};
//! use nettune::NetNs;
//!
//! let ns = NetNs::create()?;                                   // needs CAP_SYS_ADMIN
//!
//! // sysctls of that namespace, typed and checked
//! let sys = Sysctl::open_in(&ns);
//! sys.set::<knobs::TcpCongestionControl>("bbr".parse()?)?;
//! sys.set::<knobs::TcpNotsentLowat>(16 * 1024)?;
//!
//! // a NIC there (a fresh namespace has only `lo`)
//! let lo = Nic::open_in(&ns, "lo")?;
//! let outcome = lo.set_offloads(&[(Offload::Gro, true)])?;
//!
//! // its conntrack table and MPTCP path manager
//! let count = Conntrack::open_in(&ns)?.count()?;
//! let flows = Conntrack::open_in(&ns)?.dump(&Filter::new().mark(0x10, 0xff))?.count();
//! let pm = PathManager::open_in(&ns)?;
//! pm.set_limits(2, 2)?;
//!
//! // and per connection, from a thread inside it (once `lo` is up: a fresh namespace
//! // starts with it down)
//! ns.run(|| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//!     let client = std::net::TcpStream::connect(listener.local_addr()?)?;
//!     SocketProfile::new().nodelay(true).notsent_lowat(16 * 1024).apply(&client)?;
//!     println!("rtt {:?}", tcp_info(&client)?.rtt());
//!     Ok(())
//! })?
//! .map_err(|e| e as Box<dyn std::error::Error>)?;
//! println!("{outcome:?}, {} of {} tracked, {flows} marked", count.entries, count.max);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The whole host, as one transaction
//!
//! [`Profile`] holds everything a host is tuned with, as data (TOML or JSON, built-ins
//! included); [`Profile::plan`] reads a [`Target`] namespace and checks every item,
//! writing nothing; [`Plan::apply`] takes the namespace's lock, writes a write-ahead
//! [`Journal`], then the changes; [`Journal::rollback`] and [`Journal::recover`] put them
//! back, from any process, even after a crash. See [`journal`] for the guarantees.
//! [`Profile::audit`] compares a namespace with a profile row by row and writes nothing.
//! [`diagnosis`] turns counters sampled as rates ([`signals`]) into causes with advice (a
//! profile fragment), and [`Exporter`] serves all of it as Prometheus metrics.
//!
//! ```no_run
//! let target = nettune::Target::current()?;
//! let plan = nettune::Profile::low_latency().plan(&target)?;        // what would change, nothing written
//! let applied = plan.apply("/var/lib/myapp/tuning.journal")?;       // locked, journaled, all or nothing
//! // ... later, from this or any other process, even after a crash:
//! nettune::Journal::open("/var/lib/myapp/tuning.journal")?.rollback()?;
//! # Ok::<(), nettune::Error>(())
//! ```
//!
//! Reading needs no privilege for most items; writing needs `CAP_NET_ADMIN` over the
//! namespace, and entering or creating one `CAP_SYS_ADMIN`.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use nettune_core::{ErrorKind, ExtAck, NetNs, NetNsId, NetnsError, ValueError};

#[cfg(all(feature = "host", fuzzing))]
#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzz targets (built only with `--cfg fuzzing`).
    #![allow(missing_docs)]

    /// Parses a journal's text; a journal that parses has a header that encodes back.
    pub fn journal_text(text: &str) {
        let _ = crate::journal::Journal::parse_text(std::path::Path::new("fuzz"), text);
    }
}

#[cfg(feature = "host")]
pub mod agent;
#[cfg(feature = "host")]
pub mod audit;
#[cfg(feature = "host")]
pub mod diagnosis;
#[cfg(feature = "host")]
pub mod exporter;
#[cfg(feature = "host")]
mod item;
#[cfg(feature = "host")]
pub mod journal;
#[cfg(feature = "host")]
pub mod matching;
#[cfg(feature = "host")]
pub mod plan;
#[cfg(feature = "host")]
pub mod profile;
#[cfg(feature = "host")]
pub mod render;
#[cfg(feature = "host")]
pub mod signals;
#[cfg(feature = "host")]
mod target;
#[cfg(feature = "host")]
mod tcpdiag;
#[cfg(feature = "host")]
pub mod tune;

#[cfg(feature = "host")]
pub use audit::Audit;
#[cfg(feature = "host")]
pub use error::{Error, Result};
#[cfg(feature = "host")]
pub use exporter::Exporter;
#[cfg(feature = "host")]
pub use item::{ABSENT, ItemId};
#[cfg(feature = "host")]
pub use journal::{Applied, ApplyOptions, Journal, Outcome, Report};
#[cfg(feature = "host")]
pub use plan::{Change, Plan, PlanOptions, Skipped};
#[cfg(feature = "host")]
pub use profile::{Profile, Want};
#[cfg(feature = "host")]
pub use target::Target;

/// Network namespace handles (from nettune-core).
pub mod netns {
    pub use nettune_core::netns::*;
    /// A namespace's `/proc/sys/net`, `/proc/net` and `/sys/class/net` files, read and
    /// written from any thread.
    pub mod files {
        pub use nettune_core::files::*;
    }
}

/// The error vocabulary every module shares, and the whole-host layer's error.
#[cfg(feature = "host")]
pub mod error;

/// The error vocabulary every module shares.
#[cfg(not(feature = "host"))]
pub mod error {
    pub use nettune_core::error::*;
}

#[cfg(feature = "sysctl")]
#[doc(inline)]
pub use nettune_sysctl as sysctl;

#[cfg(feature = "sockopt")]
#[doc(inline)]
pub use nettune_sockopt as sockopt;

#[cfg(feature = "nic")]
#[doc(inline)]
pub use nettune_nic as nic;

#[cfg(feature = "conntrack")]
#[doc(inline)]
pub use nettune_conntrack as conntrack;

#[cfg(feature = "mptcp")]
#[doc(inline)]
pub use nettune_mptcp as mptcp;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

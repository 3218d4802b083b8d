//! The foundation the nettune crates share: network namespace handles, the error
//! vocabulary, the macros that declare kernel enums and names, and safe wrappers of the
//! raw system calls (socket options, `SIOCETHTOOL`, nsfs).
//!
//! - [`NetNs`]: a handle of a network namespace (by name under `/run/netns`, by path, by
//!   pid, the current one, or a fresh one) and [`NetNs::run`], which runs a closure on a
//!   thread inside it; [`files`] reads and writes its `/proc/sys/net`, `/proc/net` and
//!   `/sys/class/net` files from any thread, entering it once. Every nettune handle opens the same way: `X::open()` in the calling
//!   thread's namespace, `X::open_in(&ns)` in another (see `network_namespaces(7)`).
//! - [`ErrorKind`]: what every nettune error is, whichever crate it comes from; each crate's
//!   error adds what failed (the key, the option, the interface, the netlink operation).
//! - [`ValueError`]: a value that does not satisfy its type's rules.
//! - [`int_enum!`] and [`kernel_name!`]: kernel enums that keep unknown values, and
//!   validated kernel names.
//! - [`raw`]: the system calls, for the crates above and for benchmarks.
//!
//! ```no_run
//! use nettune_core::NetNs;
//! let ns = NetNs::create()?;                                   // needs CAP_SYS_ADMIN
//! let rmem = ns.run(|| std::fs::read_to_string("/proc/sys/net/ipv4/tcp_rmem"))??;
//! println!("a fresh namespace starts with tcp_rmem {rmem}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod files;
mod macros;
pub mod netns;
pub mod raw;
mod sys;

pub use error::{ErrorKind, ExtAck, ValueError};
pub use netns::{NetNs, NetNsId, NetnsError};

//! The MPTCP path manager over the `mptcp_pm` generic netlink family (see `ip-mptcp(8)`
//! and Documentation/networking/mptcp.rst): endpoints, limits, flags, the userspace path
//! manager's commands and events; and source-based routing over rtnetlink, which
//! multi-homed hosts need so that each subflow leaves by its own interface.
//!
//! ```no_run
//! use nettune_mptcp::{EndpointFlags, EndpointSpec, Interface, PathManager};
//! let pm = PathManager::open()?;
//! pm.set_limits(2, 2)?;
//! let id = pm.add_endpoint(
//!     &EndpointSpec::new("10.2.0.1".parse()?).interface(Interface::Name("eth1".into())).flags(EndpointFlags::SIGNAL),
//! )?;
//! for e in pm.endpoints()? {
//!     println!("{} id {} {:?}", e.addr, e.id, e.flags.names());
//! }
//! for event in pm.events()? {
//!     println!("{:?}", event?);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Kernel refusals keep the kernel's extended-ACK text (`limit greater than maximum (8)`).
#![warn(clippy::unwrap_used)]

mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod pm;
mod proto;
pub mod routing;

pub use error::{Error, Result};
pub use nettune_sysctl::knobs::{MptcpEnabled, MptcpPathManager, MptcpPmType, MptcpScheduler};
#[cfg(feature = "tokio")]
pub use pm::AsyncPmEvents;
pub use pm::{EndpointRef, EndpointSpec, Interface, Limits, PathManager, PmEvents, PmNotice};
pub use proto::{Endpoint, EndpointFlags, EventKind, PmEvent};

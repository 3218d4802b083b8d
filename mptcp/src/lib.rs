//! The MPTCP path manager over the `mptcp_pm` generic netlink family (see `ip-mptcp(8)`
//! and Documentation/networking/mptcp.rst): endpoints, limits, flags and events.
//!
//! This crate is being built (issue: mptcp). Today it re-exports the `net.mptcp.*` sysctls
//! of sysctl-core.

pub use sysctl_core::knobs::{MptcpEnabled, MptcpPathManager, MptcpPmType, MptcpScheduler};

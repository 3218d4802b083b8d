//! Netfilter connection tracking over `NETLINK_NETFILTER` (see `conntrack(8)` and
//! Documentation/networking/nf_conntrack-sysctl.rst): dump, count, stats, create, delete,
//! flush and events.
//!
//! This crate is being built (issue: conntrack). Today it re-exports the conntrack
//! sysctls of sysctl-core.

pub use sysctl_core::knobs::{
    NfConntrackAcct, NfConntrackBuckets, NfConntrackCount, NfConntrackMax,
    NfConntrackTcpTimeoutEstablished, NfConntrackTimestamp,
};

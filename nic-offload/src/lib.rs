//! NIC tuning over the `SIOCETHTOOL` ioctl (see `ethtool(8)` and
//! Documentation/networking/ethtool-netlink.rst): offloads, interrupt coalescing, rings,
//! channels and RSS.
//!
//! This crate is being built (issue: nic-offload); it has no API yet.

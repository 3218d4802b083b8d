//! The `SIOCETHTOOL` ioctl is nettune-core's
//! [`raw::ethtool`](nettune_core::raw::ethtool).

pub(crate) use nettune_core::raw::ethtool;

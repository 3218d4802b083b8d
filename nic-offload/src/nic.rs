//! The `Nic` handle: a socket for SIOCETHTOOL bound to a network namespace, and the
//! device's name.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;

use nettune_core::NetNs;
use socket2::{Domain, Socket, Type};

use crate::error::{Error, Result};
use crate::ifname::IfName;
use crate::proto::{self, cmd};
use crate::sys;

/// A network interface, for reading and changing its ethtool settings (`ethtool(8)`).
///
/// Reading needs no privilege; changing needs `CAP_NET_ADMIN`. The handle works in the
/// network namespace it was opened in, whatever thread uses it.
#[derive(Debug)]
pub struct Nic {
    name: IfName,
    sock: OwnedFd,
    netns: Option<NetNs>,
    driver: OnceLock<String>,
    pub(crate) feature_names: OnceLock<std::sync::Arc<[String]>>,
    pub(crate) prefer: crate::ethnl::Backend,
    pub(crate) nl: OnceLock<crate::ethnl::EthtoolNl>,
    /// Set once the kernel was found to lack the ethtool family: the ioctl is used without
    /// asking again.
    pub(crate) nl_absent: OnceLock<()>,
    /// Whether the kernel takes RSS changes and flow hashing over netlink (6.17+).
    pub(crate) rss_over_netlink: OnceLock<bool>,
}

/// What `ETHTOOL_GET_TS_INFO` says a device can timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimestampingInfo {
    /// The `SOF_TIMESTAMPING_*` flags the device supports (the bits of
    /// `nettune_sockopt::timestamp::Timestamping`).
    pub capabilities: u32,
    /// The index of its PTP hardware clock (`/dev/ptpN`), if it has one.
    pub phc_index: Option<u32>,
    /// The hardware transmit timestamp modes (`1 << HWTSTAMP_TX_*`).
    pub tx_types: u32,
    /// The hardware receive filters (`1 << HWTSTAMP_FILTER_*`).
    pub rx_filters: u32,
}

/// A device's hardware timestamping configuration (`struct hwtstamp_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HwTimestamping {
    /// `HWTSTAMP_TX_*`: 0 off, 1 on, 2 one-step sync, 3 one-step P2P.
    pub tx_type: u32,
    /// `HWTSTAMP_FILTER_*`: 0 none, 1 all packets, 2 some, 3.. PTP message kinds.
    pub rx_filter: u32,
}

impl HwTimestamping {
    /// Transmit and receive stamps on every packet.
    pub const ALL: Self = Self {
        tx_type: 1,
        rx_filter: 1,
    };

    fn decode(c: &[u8; 12]) -> Self {
        Self {
            tx_type: proto::get32(c, 4),
            rx_filter: proto::get32(c, 8),
        }
    }

    fn encode(self) -> [u8; 12] {
        let mut c = [0u8; 12];
        c[4..8].copy_from_slice(&self.tx_type.to_ne_bytes());
        c[8..12].copy_from_slice(&self.rx_filter.to_ne_bytes());
        c
    }
}

/// The names of the `SOF_TIMESTAMPING_*` bits, as `ethtool -T` prints them.
const TIMESTAMPING_NAMES: [&str; 18] = [
    "hardware-transmit",
    "software-transmit",
    "hardware-receive",
    "software-receive",
    "software-system-clock",
    "hardware-legacy-clock",
    "hardware-raw-clock",
    "option-id",
    "sched-transmit",
    "ack-transmit",
    "option-cmsg",
    "option-tsonly",
    "option-stats",
    "option-pktinfo",
    "option-tx-swhw",
    "bind-phc",
    "option-id-tcp",
    "option-rx-filter",
];

impl TimestampingInfo {
    fn decode(b: &[u8]) -> Self {
        let phc = i32::from_ne_bytes(proto::get32(b, 8).to_ne_bytes());
        Self {
            capabilities: proto::get32(b, 4),
            phc_index: u32::try_from(phc).ok(),
            tx_types: proto::get32(b, 12),
            rx_filters: proto::get32(b, 28),
        }
    }

    /// The capabilities by name, in bit order, as `ethtool -T` lists them (an unknown bit
    /// as `bit-N`).
    pub fn capability_names(&self) -> Vec<String> {
        (0..32)
            .filter(|bit| self.capabilities & (1 << bit) != 0)
            .map(|bit| {
                TIMESTAMPING_NAMES
                    .get(bit)
                    .map_or_else(|| format!("bit-{bit}"), |n| (*n).to_owned())
            })
            .collect()
    }

    /// Whether the device stamps in hardware (transmit or receive).
    pub fn has_hardware(&self) -> bool {
        self.capabilities & 0b101 != 0
    }
}

/// What `ETHTOOL_GDRVINFO` says about the driver.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DriverInfo {
    /// Driver name (`virtio_net`, `veth`, `tun`, `ixgbe`, ...).
    pub driver: String,
    /// Driver version.
    pub version: String,
    /// Firmware version.
    pub firmware: String,
    /// Expansion ROM version.
    pub expansion_rom: String,
    /// Bus address (`0000:00:04.0`), empty for virtual devices.
    pub bus_info: String,
    /// Private flags the driver has.
    pub n_priv_flags: u32,
    /// Statistics the driver reports.
    pub n_stats: u32,
    /// Self-test results it reports.
    pub testinfo_len: u32,
    /// EEPROM size (0: no EEPROM access).
    pub eedump_len: u32,
    /// Register dump size (0: no register dump).
    pub regdump_len: u32,
}

fn new_socket() -> io::Result<OwnedFd> {
    Socket::new(Domain::IPV4, Type::DGRAM, None)
        .or_else(|_| Socket::new(Domain::UNIX, Type::DGRAM, None))
        .map(OwnedFd::from)
}

fn interface_names() -> Vec<String> {
    nix::net::if_::if_nameindex()
        .map(|list| {
            list.iter()
                .map(|i| i.name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl Nic {
    /// Opens interface `name` in the calling thread's network namespace.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a malformed name (nothing is opened);
    /// [`Error::NoSuchInterface`] naming it and listing the interfaces that exist.
    pub fn open(name: &str) -> Result<Self> {
        let name = IfName::new(name)?;
        // /sys shows the devices of the namespace that mounted it, which need not be the
        // calling thread's (a thread inside `NetNs::run`): a same-named host device would
        // be read, or written, in place of ours. Then the handle goes through the thread's
        // own namespace and its own sysfs, as `open_in` does.
        let netns = if sysfs_shows_ours(&name) {
            None
        } else {
            Some(NetNs::current()?)
        };
        Self::open_here(name, netns)
    }

    /// Opens interface `name` in namespace `ns` (the handle stays bound to it).
    ///
    /// # Errors
    ///
    /// As [`Nic::open`], and [`Error::Netns`] when the namespace cannot be entered.
    pub fn open_in(ns: &NetNs, name: &str) -> Result<Self> {
        let name = IfName::new(name)?;
        let owned = ns.clone();
        ns.run_owned(move || Self::open_here(name, Some(owned)))?
    }

    fn open_here(name: IfName, netns: Option<NetNs>) -> Result<Self> {
        if nix::net::if_::if_nametoindex(name.as_str()).is_err() {
            return Err(Error::NoSuchInterface {
                name: name.to_string(),
                existing: interface_names(),
            });
        }
        let sock = new_socket().map_err(|source| Error::Io {
            iface: name.to_string(),
            op: "socket",
            source,
        })?;
        Ok(Self {
            name,
            sock,
            netns,
            driver: OnceLock::new(),
            feature_names: OnceLock::new(),
            prefer: crate::ethnl::Backend::Netlink,
            nl: OnceLock::new(),
            nl_absent: OnceLock::new(),
            rss_over_netlink: OnceLock::new(),
        })
    }

    /// The interfaces of the calling thread's network namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the kernel cannot list them.
    pub fn list() -> Result<Vec<IfName>> {
        let list = nix::net::if_::if_nameindex().map_err(|e| Error::Io {
            iface: "*".into(),
            op: "list interfaces",
            source: e.into(),
        })?;
        Ok(list
            .iter()
            .filter_map(|i| IfName::new(&i.name().to_string_lossy()).ok())
            .collect())
    }

    /// The interfaces of namespace `ns`.
    ///
    /// # Errors
    ///
    /// As [`Nic::list`], and [`Error::Netns`].
    pub fn list_in(ns: &NetNs) -> Result<Vec<IfName>> {
        ns.run_owned(Self::list)?
    }

    /// The interface's name.
    pub fn name(&self) -> &IfName {
        &self.name
    }

    /// The namespace the handle was opened in, when not the caller's.
    pub fn netns(&self) -> Option<&NetNs> {
        self.netns.as_ref()
    }

    /// Runs one ethtool command in place; returns the ioctl's result.
    pub(crate) fn ethtool(&self, op: &'static str, buf: &mut [u8]) -> Result<i32> {
        sys::ethtool(self.sock.as_fd(), self.name.as_str().as_bytes(), buf)
            .map_err(|e| self.os_error(op, e))
    }

    /// Turns an OS error of `op` into a typed error.
    pub(crate) fn os_error(&self, op: &'static str, source: io::Error) -> Error {
        let iface = self.name.to_string();
        match source.raw_os_error() {
            Some(libc::EOPNOTSUPP) => Error::Unsupported {
                iface,
                op,
                driver: self.driver_name(),
                source,
            },
            Some(libc::EPERM | libc::EACCES) => Error::PermissionDenied { iface, op, source },
            Some(libc::EINVAL | libc::ERANGE) => Error::InvalidValue {
                iface,
                op,
                reason: "rejected by the driver".into(),
                source: Some(source),
            },
            Some(libc::ENODEV) => Error::NoSuchInterface {
                name: iface,
                existing: Vec::new(),
            },
            _ => Error::Io { iface, op, source },
        }
    }

    /// The driver's name, for messages ("its" when unknown).
    pub(crate) fn driver_name(&self) -> String {
        self.driver
            .get_or_init(|| {
                let mut b = proto::command(cmd::GDRVINFO, proto::DRVINFO_LEN);
                match sys::ethtool(self.sock.as_fd(), self.name.as_str().as_bytes(), &mut b) {
                    Ok(_) => proto::cstr(&b[4..36]),
                    Err(_) => "device's".into(),
                }
            })
            .clone()
    }

    /// Driver, version, firmware and bus address (`ETHTOOL_GDRVINFO`, `ethtool -i`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the device has no driver info (loopback).
    #[doc(alias = "ETHTOOL_GDRVINFO")]
    pub fn driver_info(&self) -> Result<DriverInfo> {
        let mut b = proto::command(cmd::GDRVINFO, proto::DRVINFO_LEN);
        self.ethtool("ETHTOOL_GDRVINFO", &mut b)?;
        Ok(decode_drvinfo(&b))
    }

    /// What the device can timestamp (`ETHTOOL_GET_TS_INFO`, `ethtool -T`): which
    /// `SO_TIMESTAMPING` flags it supports, its PTP hardware clock, and the hardware
    /// transmit types and receive filters.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel does not answer for the device.
    #[doc(alias = "ETHTOOL_GET_TS_INFO")]
    pub fn timestamping(&self) -> Result<TimestampingInfo> {
        if let Some(nl) = self.via_netlink(crate::NicOp::Timestamping) {
            return nl.timestamping(self.name().as_str()).map(|t| t.info);
        }
        let mut b = proto::command(cmd::GET_TS_INFO, 44);
        self.ethtool("ETHTOOL_GET_TS_INFO", &mut b)?;
        Ok(TimestampingInfo::decode(&b))
    }

    /// The device's hardware timestamping configuration (`SIOCGHWTSTAMP`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the device cannot timestamp in hardware (every virtual
    /// device: see [`Nic::timestamping`]).
    #[doc(alias = "SIOCGHWTSTAMP")]
    pub fn hw_timestamping(&self) -> Result<HwTimestamping> {
        let mut c = [0u8; 12];
        nettune_core::raw::hwtstamp(
            self.sock.as_fd(),
            self.name.as_str().as_bytes(),
            false,
            &mut c,
        )
        .map_err(|e| self.os_error("SIOCGHWTSTAMP", e))?;
        Ok(HwTimestamping::decode(&c))
    }

    /// Turns hardware timestamping on or off (`SIOCSHWTSTAMP`, what `hwstamp_ctl` does): a
    /// transmit type and a receive filter from those [`Nic::timestamping`] lists. Returns
    /// what the driver chose (it may widen the filter). Sockets still ask for the stamps
    /// with `SO_TIMESTAMPING`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`], before the ioctl, when the device does not list the type or
    /// the filter (naming what it has); [`Error::PermissionDenied`] without CAP_NET_ADMIN.
    #[doc(alias = "SIOCSHWTSTAMP")]
    pub fn set_hw_timestamping(&self, want: HwTimestamping) -> Result<HwTimestamping> {
        let caps = self.timestamping()?;
        let listed = |mask: u32, v: u32| v == 0 || (v < 32 && mask & (1 << v) != 0);
        if !listed(caps.tx_types, want.tx_type) || !listed(caps.rx_filters, want.rx_filter) {
            return Err(Error::Unsupported {
                iface: self.name.to_string(),
                op: "SIOCSHWTSTAMP",
                driver: self.driver_name(),
                source: io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "the device lists hardware transmit types {:#x} and receive filters \
                         {:#x} (ethtool -T); tx_type {} / rx_filter {} is not among them",
                        caps.tx_types, caps.rx_filters, want.tx_type, want.rx_filter
                    ),
                ),
            });
        }
        let mut c = want.encode();
        nettune_core::raw::hwtstamp(
            self.sock.as_fd(),
            self.name.as_str().as_bytes(),
            true,
            &mut c,
        )
        .map_err(|e| self.os_error("SIOCSHWTSTAMP", e))?;
        Ok(HwTimestamping::decode(&c))
    }

    /// Whether the link is up (`ETHTOOL_GLINK`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver cannot tell.
    #[doc(alias = "ETHTOOL_GLINK")]
    pub fn link_up(&self) -> Result<bool> {
        let mut b = proto::command(cmd::GLINK, 8);
        self.ethtool("ETHTOOL_GLINK", &mut b)?;
        Ok(proto::get32(&b, 4) != 0)
    }

    /// Runs `f` with this interface's own sysfs (`/sys/class/net/NAME`): directly in the
    /// caller's namespace, or on a thread that mounted the namespace's sysfs.
    pub(crate) fn with_sysfs<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        match &self.netns {
            None => Ok(f()),
            Some(ns) => Ok(ns.run_with_sysfs(f)?),
        }
    }
}

/// Whether `/sys/class/net/NAME` is this thread's device `name`: the same ifindex and the
/// same hardware address as the thread's namespace reports.
fn sysfs_shows_ours(name: &IfName) -> bool {
    let base = std::path::Path::new("/sys/class/net").join(name.as_str());
    let read = |f: &str| std::fs::read_to_string(base.join(f)).map(|v| v.trim().to_owned());
    let Ok(index) = nix::net::if_::if_nametoindex(name.as_str()) else {
        return false;
    };
    if read("ifindex").ok().and_then(|i| i.parse::<u32>().ok()) != Some(index) {
        return false;
    }
    let ours = nix::ifaddrs::getifaddrs().ok().and_then(|mut all| {
        all.find_map(|a| {
            (a.interface_name == name.as_str())
                .then(|| a.address?.as_link_addr()?.addr())
                .flatten()
        })
    });
    let sysfs = read("address").unwrap_or_default();
    match ours {
        Some(mac) => {
            let text: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
            text.join(":") == sysfs
        }
        // No 6-byte hardware address to compare (a layer-3 device, InfiniBand's 20
        // bytes): the name and ifindex have to do.
        None => true,
    }
}

pub(crate) fn decode_drvinfo(b: &[u8]) -> DriverInfo {
    let field = |o: usize| proto::cstr(b.get(o..o + 32).unwrap_or_default());
    DriverInfo {
        driver: field(4),
        version: field(36),
        firmware: field(68),
        bus_info: field(100),
        expansion_rom: field(132),
        n_priv_flags: proto::get32(b, 176),
        n_stats: proto::get32(b, 180),
        testinfo_len: proto::get32(b, 184),
        eedump_len: proto::get32(b, 188),
        regdump_len: proto::get32(b, 192),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drvinfo_layout() {
        let mut b = proto::command(cmd::GDRVINFO, proto::DRVINFO_LEN);
        b[4..8].copy_from_slice(b"veth");
        b[36..39].copy_from_slice(b"1.0");
        b[100..112].copy_from_slice(b"0000:00:04.0");
        proto::put32(&mut b, 180, 42);
        proto::put32(&mut b, 192, 7);
        let d = decode_drvinfo(&b);
        assert_eq!(
            (d.driver.as_str(), d.version.as_str(), d.bus_info.as_str()),
            ("veth", "1.0", "0000:00:04.0")
        );
        assert_eq!((d.n_stats, d.regdump_len), (42, 7));
        let short = decode_drvinfo(&b[..50]);
        assert_eq!(short.driver, "veth");
        assert_eq!(short.bus_info, "");
    }
}

//! Receive-side scaling (`ethtool -x/-X`, `-n/-N rx-flow-hash`): ring count, flow-hash
//! fields per flow type, the indirection table, the hash key and hash function.
//!
//! No virtual device on a test host implements RSS (veth, tap and loopback answer
//! EOPNOTSUPP; a virtio_net device only with `VIRTIO_NET_F_RSS`). The byte layouts are
//! tested at the byte level; on a device without RSS every call gives
//! [`Error::Unsupported`].

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::nic::Nic;
use crate::proto::{self, cmd};

/// A flow type for flow-hash fields (`ethtool -N IF rx-flow-hash TYPE ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FlowType {
    /// `tcp4`
    Tcp4,
    /// `udp4`
    Udp4,
    /// `sctp4`
    Sctp4,
    /// `ah4` / `esp4` combined (`AH_ESP_V4_FLOW`)
    AhEsp4,
    /// `tcp6`
    Tcp6,
    /// `udp6`
    Udp6,
    /// `sctp6`
    Sctp6,
    /// `ah6` / `esp6` combined (`AH_ESP_V6_FLOW`)
    AhEsp6,
    /// `ip4` (other IPv4)
    Ip4,
    /// `ip6` (other IPv6)
    Ip6,
}

impl FlowType {
    /// All flow types, in kernel order.
    pub const ALL: [Self; 10] = [
        Self::Tcp4,
        Self::Udp4,
        Self::Sctp4,
        Self::AhEsp4,
        Self::Tcp6,
        Self::Udp6,
        Self::Sctp6,
        Self::AhEsp6,
        Self::Ip4,
        Self::Ip6,
    ];

    /// The kernel's `*_FLOW` number.
    pub fn to_raw(self) -> u32 {
        match self {
            Self::Tcp4 => 0x01,
            Self::Udp4 => 0x02,
            Self::Sctp4 => 0x03,
            Self::AhEsp4 => 0x04,
            Self::Tcp6 => 0x05,
            Self::Udp6 => 0x06,
            Self::Sctp6 => 0x07,
            Self::AhEsp6 => 0x08,
            Self::Ip4 => 0x10,
            Self::Ip6 => 0x11,
        }
    }

    /// The ethtool name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp4 => "tcp4",
            Self::Udp4 => "udp4",
            Self::Sctp4 => "sctp4",
            Self::AhEsp4 => "ah4",
            Self::Tcp6 => "tcp6",
            Self::Udp6 => "udp6",
            Self::Sctp6 => "sctp6",
            Self::AhEsp6 => "ah6",
            Self::Ip4 => "ip4",
            Self::Ip6 => "ip6",
        }
    }
}

impl FromStr for FlowType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| {
                f.as_str() == s
                    || (s == "esp4" && *f == Self::AhEsp4)
                    || (s == "esp6" && *f == Self::AhEsp6)
            })
            .ok_or_else(|| Error::InvalidValue {
                iface: "-".into(),
                op: "flow type",
                reason: format!(
                    "{s:?} is not one of tcp4 udp4 sctp4 ah4 esp4 tcp6 udp6 sctp6 ah6 esp6 ip4 ip6"
                ),
                source: None,
            })
    }
}

impl fmt::Display for FlowType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

bitflags::bitflags! {
    /// The packet fields a flow hash covers (`RXH_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
    pub struct Rxh: u64 {
        /// `m`: destination MAC.
        const L2DA = 1 << 1;
        /// `v`: VLAN tag.
        const VLAN = 1 << 2;
        /// `t`: L3 protocol.
        const L3_PROTO = 1 << 3;
        /// `s`: IP source.
        const IP_SRC = 1 << 4;
        /// `d`: IP destination.
        const IP_DST = 1 << 5;
        /// `f`: L4 bytes 0-1 (source port).
        const L4_B_0_1 = 1 << 6;
        /// `n`: L4 bytes 2-3 (destination port).
        const L4_B_2_3 = 1 << 7;
        /// `e`: GTP TEID.
        const GTP_TEID = 1 << 8;
        /// `l`: IPv6 flow label.
        const IP6_FL = 1 << 9;
        /// `r`: discard the flow type.
        const DISCARD = 1 << 31;
        const _ = !0;
    }
}

impl Rxh {
    /// The four-tuple: addresses and ports (ethtool's `sdfn`).
    pub const FOUR_TUPLE: Self = Self::IP_SRC
        .union(Self::IP_DST)
        .union(Self::L4_B_0_1)
        .union(Self::L4_B_2_3);
}

/// The RSS state of a device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rss {
    /// The indirection table: the RX ring of each hash bucket.
    pub indirection: Vec<u32>,
    /// The hash key (empty when the device reports none).
    pub key: Vec<u8>,
    /// The hash function bits (`ETH_RSS_HASH_TOP` 1, `XOR` 2, `CRC32` 4; 0: unknown).
    pub hfunc: u8,
}

/// An indirection table to set, built for a ring count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Indirection(Vec<u32>);

impl Indirection {
    /// Spreads `size` buckets over rings `0..rings` in turn (`ethtool -X equal N`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `rings` or `size` is 0.
    pub fn equal(size: u32, rings: u32) -> Result<Self> {
        if size == 0 || rings == 0 {
            return Err(invalid(
                "an indirection table needs at least one bucket and one ring",
            ));
        }
        check_size(size)?;
        Ok(Self((0..size).map(|i| i % rings).collect()))
    }

    /// Spreads `size` buckets over rings in proportion to `weights` (`ethtool -X weight
    /// W0 W1 ...`); ring `i` gets about `size * w_i / sum` buckets.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `size` is 0 or every weight is 0.
    pub fn weighted(size: u32, weights: &[u32]) -> Result<Self> {
        let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if size == 0 || sum == 0 {
            return Err(invalid(
                "weights must not all be 0, and the table needs a bucket",
            ));
        }
        check_size(size)?;
        let mut table = Vec::with_capacity(size as usize);
        let mut acc = 0u64;
        for (ring, &w) in weights.iter().enumerate() {
            acc += u64::from(w);
            let end = (acc * u64::from(size)).div_ceil(sum) as usize;
            while table.len() < end.min(size as usize) {
                table.push(ring as u32);
            }
        }
        Ok(Self(table))
    }

    /// A table given entry by entry.
    pub fn from_entries(entries: Vec<u32>) -> Self {
        Self(entries)
    }

    /// The entries.
    pub fn entries(&self) -> &[u32] {
        &self.0
    }

    /// Checks the table against a device: same size, every entry below the ring count.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] naming the first problem.
    pub fn validate(&self, device_size: u32, rings: u32) -> Result<()> {
        if self.0.len() != device_size as usize {
            return Err(invalid(&format!(
                "the table has {} entries; the device's has {device_size}",
                self.0.len()
            )));
        }
        if let Some((i, r)) = self.0.iter().enumerate().find(|(_, r)| **r >= rings) {
            return Err(invalid(&format!(
                "entry {i} names ring {r}, but the device has {rings} RX rings"
            )));
        }
        Ok(())
    }
}

/// Refuses a table larger than any device has (`MAX_INDIR` buckets), before allocating it.
fn check_size(size: u32) -> Result<()> {
    if size > proto::MAX_INDIR {
        return Err(invalid(&format!(
            "{size} buckets: indirection tables have at most {} (see ethtool -x for the device's size)",
            proto::MAX_INDIR
        )));
    }
    Ok(())
}

fn invalid(reason: &str) -> Error {
    Error::InvalidValue {
        iface: "-".into(),
        op: "RSS",
        reason: reason.to_owned(),
        source: None,
    }
}

/// A change to the RSS state: each part `None` stays as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RssUpdate {
    /// A new indirection table.
    pub indirection: Option<Indirection>,
    /// A new hash key (its length must be the device's).
    pub key: Option<Vec<u8>>,
    /// A new hash function (one bit).
    pub hfunc: Option<u8>,
}

/// `ETH_RXFH_INDIR_NO_CHANGE`.
const INDIR_NO_CHANGE: u32 = 0xffff_ffff;

/// Encodes an `ETHTOOL_SRSSH` request for `update` on a device with `key_size`.
pub(crate) fn encode_srssh(update: &RssUpdate) -> Vec<u8> {
    let indir = update.indirection.as_ref().map(|t| t.0.as_slice());
    let key = update.key.as_deref().unwrap_or_default();
    let indir_len = indir.map_or(0, <[u32]>::len);
    let mut b = proto::command(cmd::SRSSH, proto::RXFH_HEADER + indir_len * 4 + key.len());
    proto::put32(&mut b, 8, indir.map_or(INDIR_NO_CHANGE, |t| t.len() as u32));
    proto::put32(&mut b, 12, key.len() as u32);
    if let Some(h) = b.get_mut(16) {
        *h = update.hfunc.unwrap_or(0);
    }
    for (i, v) in indir.unwrap_or_default().iter().enumerate() {
        proto::put32(&mut b, proto::RXFH_HEADER + i * 4, *v);
    }
    let at = proto::RXFH_HEADER + indir_len * 4;
    b[at..at + key.len()].copy_from_slice(key);
    b
}

/// Decodes an `ETHTOOL_GRSSH` reply.
pub(crate) fn decode_grssh(b: &[u8]) -> Rss {
    let (indir, key, hfunc) = proto::rxfh_sizes(b);
    let indirection = (0..indir as usize)
        .map_while(|i| b.get(proto::RXFH_HEADER + i * 4..proto::RXFH_HEADER + i * 4 + 4))
        .map(|s| proto::get32(s, 0))
        .collect();
    let at = proto::RXFH_HEADER + indir as usize * 4;
    let key = b
        .get(at..at + key as usize)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    Rss {
        indirection,
        key,
        hfunc,
    }
}

impl Nic {
    /// The number of RX rings RSS spreads over (`ETHTOOL_GRXRINGS`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the device has no RSS.
    #[doc(alias = "ETHTOOL_GRXRINGS")]
    pub fn rx_rings(&self) -> Result<u32> {
        let mut b = proto::rxnfc(cmd::GRXRINGS, 0, 0);
        self.ethtool("ETHTOOL_GRXRINGS", &mut b)?;
        Ok(proto::get64(&b, 8) as u32)
    }

    /// The fields hashed for `flow` (`ETHTOOL_GRXFH`, `ethtool -n IF rx-flow-hash tcp4`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the device has no flow hashing.
    #[doc(alias = "ETHTOOL_GRXFH")]
    pub fn flow_hash(&self, flow: FlowType) -> Result<Rxh> {
        if let Some(nl) = self.via_netlink(crate::NicOp::FlowHash) {
            return nl
                .flow_hash(self.name().as_str())?
                .into_iter()
                .find(|(f, _)| *f == flow)
                .map(|(_, fields)| fields)
                .ok_or_else(|| {
                    self.os_error(
                        "flow hash (netlink)",
                        std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
                    )
                });
        }
        let mut b = proto::rxnfc(cmd::GRXFH, flow.to_raw(), 0);
        self.ethtool("ETHTOOL_GRXFH", &mut b)?;
        Ok(Rxh::from_bits_retain(proto::get64(&b, 8)))
    }

    /// Sets the fields hashed for `flow` (`ETHTOOL_SRXFH`). Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`]; [`Error::InvalidValue`] when the driver refuses the fields.
    #[doc(alias = "ETHTOOL_SRXFH")]
    pub fn set_flow_hash(&self, flow: FlowType, fields: Rxh) -> Result<()> {
        if let Some(nl) = self.via_netlink(crate::NicOp::FlowHash) {
            return nl.set_flow_hash(self.name().as_str(), flow, fields);
        }
        let mut b = proto::rxnfc(cmd::SRXFH, flow.to_raw(), fields.bits());
        self.ethtool("ETHTOOL_SRXFH", &mut b).map(drop)
    }

    /// The indirection table, hash key and function (`ETHTOOL_GRSSH`, two calls: sizes,
    /// then contents; `ETHTOOL_GRXFHINDIR` when the driver lacks GRSSH).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the device has no RSS.
    #[doc(alias = "ETHTOOL_GRSSH")]
    pub fn rss(&self) -> Result<Rss> {
        if let Some(nl) = self.via_netlink(crate::NicOp::Rss) {
            return nl.rss(self.name().as_str());
        }
        let mut sizes = proto::rxfh(cmd::GRSSH, 0, 0);
        match self.ethtool("ETHTOOL_GRSSH", &mut sizes) {
            Ok(_) => {
                let (indir, key, _) = proto::rxfh_sizes(&sizes);
                if indir > proto::MAX_INDIR || key > proto::MAX_KEY {
                    return Err(Error::InvalidValue {
                        iface: self.name().to_string(),
                        op: "ETHTOOL_GRSSH",
                        reason: format!(
                            "the device claims a {indir}-entry table and a {key}-byte key"
                        ),
                        source: None,
                    });
                }
                let mut b = proto::rxfh(cmd::GRSSH, indir, key);
                self.ethtool("ETHTOOL_GRSSH", &mut b)?;
                Ok(decode_grssh(&b))
            }
            Err(e) if e.is_unsupported() => {
                let mut size = proto::rxfh_indir(cmd::GRXFHINDIR, 0);
                self.ethtool("ETHTOOL_GRXFHINDIR", &mut size)?;
                let n = proto::get32(&size, 4).min(proto::MAX_INDIR);
                let mut b = proto::rxfh_indir(cmd::GRXFHINDIR, n);
                self.ethtool("ETHTOOL_GRXFHINDIR", &mut b)?;
                Ok(Rss {
                    indirection: (0..n as usize)
                        .map(|i| proto::get32(&b, 8 + i * 4))
                        .collect(),
                    key: Vec::new(),
                    hfunc: 0,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Changes the indirection table, key or hash function (`ETHTOOL_SRSSH`), after
    /// checking the table against the device's size and ring count and the key against
    /// its length. Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] before the call for a bad table or key; as [`Nic::rss`].
    #[doc(alias = "ETHTOOL_SRSSH")]
    pub fn set_rss(&self, update: &RssUpdate) -> Result<()> {
        let current = self.rss()?;
        let name = self.name().to_string();
        let located = |e: Error| match e {
            Error::InvalidValue {
                reason, op, source, ..
            } => Error::InvalidValue {
                iface: name.clone(),
                op,
                reason,
                source,
            },
            other => other,
        };
        if let Some(table) = &update.indirection {
            table
                .validate(current.indirection.len() as u32, self.rx_rings()?)
                .map_err(located)?;
        }
        if let Some(key) = &update.key {
            if key.len() != current.key.len() {
                return Err(located(invalid(&format!(
                    "the key has {} bytes; the device's has {}",
                    key.len(),
                    current.key.len()
                ))));
            }
        }
        if let Some(h) = update.hfunc {
            if h.count_ones() != 1 {
                return Err(located(invalid(&format!(
                    "hash function {h:#x} must be one bit"
                ))));
            }
        }
        if let Some(nl) = self.via_netlink(crate::NicOp::SetRss) {
            return nl.set_rss(self.name().as_str(), update).map(drop);
        }
        let mut b = encode_srssh(update);
        self.ethtool("ETHTOOL_SRSSH", &mut b).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders() {
        assert_eq!(
            Indirection::equal(8, 3).expect("equal").entries(),
            &[0, 1, 2, 0, 1, 2, 0, 1]
        );
        let w = Indirection::weighted(8, &[3, 1]).expect("weighted");
        assert_eq!(w.entries(), &[0, 0, 0, 0, 0, 0, 1, 1]);
        let w = Indirection::weighted(4, &[0, 1, 1]).expect("weighted");
        assert_eq!(w.entries(), &[1, 1, 2, 2]);
        assert!(Indirection::weighted(4, &[0, 0]).is_err());
        assert!(Indirection::equal(0, 2).is_err());
        // Refused before allocating 17 GB.
        assert!(Indirection::equal(u32::MAX, 4).is_err());
        assert!(Indirection::weighted(u32::MAX, &[1, 1]).is_err());
        assert!(Indirection::equal(proto::MAX_INDIR, 4).is_ok());
        let t = Indirection::equal(128, 4).expect("equal");
        assert!(t.validate(128, 4).is_ok());
        assert!(t.validate(64, 4).is_err());
        let e = t.validate(128, 2).expect_err("ring 2 of 2").to_string();
        assert!(e.contains("entry 2 names ring 2"), "{e}");
    }

    #[test]
    fn srssh_bytes() {
        let u = RssUpdate {
            indirection: Some(Indirection::equal(4, 2).expect("equal")),
            key: Some(vec![0xaa; 40]),
            hfunc: Some(1),
        };
        let b = encode_srssh(&u);
        assert_eq!(b.len(), 24 + 16 + 40);
        assert_eq!(proto::get32(&b, 0), cmd::SRSSH);
        assert_eq!(proto::rxfh_sizes(&b), (4, 40, 1));
        assert_eq!(
            (
                proto::get32(&b, 24),
                proto::get32(&b, 28),
                proto::get32(&b, 36)
            ),
            (0, 1, 1)
        );
        assert_eq!(&b[40..80], &[0xaa; 40][..]);
        // Key only: the table is left alone.
        let k = encode_srssh(&RssUpdate {
            key: Some(vec![1, 2]),
            ..RssUpdate::default()
        });
        assert_eq!(proto::get32(&k, 8), INDIR_NO_CHANGE);
        assert_eq!(k.len(), 26);
        // Decoding what the encoder wrote gives the same state back.
        let rss = decode_grssh(&b);
        assert_eq!(rss.indirection, vec![0, 1, 0, 1]);
        assert_eq!(rss.key, vec![0xaa; 40]);
        assert_eq!(rss.hfunc, 1);
    }

    #[test]
    fn grssh_hostile_sizes_do_not_panic() {
        let mut b = proto::rxfh(cmd::GRSSH, 0, 0);
        proto::put32(&mut b, 8, 1_000_000);
        proto::put32(&mut b, 12, 1_000_000);
        let rss = decode_grssh(&b);
        assert!(rss.indirection.is_empty() && rss.key.is_empty());
    }

    #[test]
    fn flow_types_and_fields() {
        assert_eq!("tcp4".parse::<FlowType>().ok(), Some(FlowType::Tcp4));
        assert_eq!("esp6".parse::<FlowType>().ok(), Some(FlowType::AhEsp6));
        assert!("tcp5".parse::<FlowType>().is_err());
        assert_eq!(Rxh::FOUR_TUPLE.bits(), 0xf0);
        let b = proto::rxnfc(cmd::SRXFH, FlowType::Udp6.to_raw(), Rxh::FOUR_TUPLE.bits());
        assert_eq!((proto::get32(&b, 4), proto::get64(&b, 8)), (6, 0xf0));
    }
}

//! n-tuple flow steering rules (`ethtool -N IF flow-type ... action Q loc L`, `ethtool -n`,
//! `ethtool -N IF delete L`): `ETHTOOL_SRXCLSRLINS`, `GRXCLSRLCNT`, `GRXCLSRLALL`,
//! `GRXCLSRULE`, `SRXCLSRLDEL`, with `struct ethtool_rx_flow_spec` laid out as in
//! include/uapi/linux/ethtool.h.
//!
//! Masks follow the kernel: a set mask bit is compared, a clear one ignored. (`ethtool`'s
//! command line and `ethtool -n` show the inverse: the ignored bits.)
//!
//! A rule is checked before the call (fields that belong to its flow type, one address
//! family, a queue the device has), and read back after it: a driver that stored another
//! flow type or action than was asked is reported, and the rule it stored is deleted
//! again. (Drivers may normalise masks; [`Nic::rule`] shows what they keep.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::nic::Nic;
use crate::proto::{self, cmd};

/// A value and the bits of it that must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Masked<T> {
    /// The value.
    pub value: T,
    /// The bits compared.
    pub mask: T,
}

mod sealed {
    pub trait Sealed {}
}

/// The types a [`Masked`] holds; each knows its all-ones mask.
pub trait MaskValue: Copy + sealed::Sealed {
    /// Every bit of `self`'s kind set.
    fn full_mask(&self) -> Self;
}

macro_rules! mask_value {
    ($($t:ty => $full:expr),*) => {$(
        impl sealed::Sealed for $t {}
        impl MaskValue for $t {
            fn full_mask(&self) -> Self {
                $full
            }
        }
    )*};
}
mask_value!(u8 => u8::MAX, u16 => u16::MAX, u64 => u64::MAX, [u8; 6] => [0xff; 6]);

impl sealed::Sealed for IpAddr {}
impl MaskValue for IpAddr {
    fn full_mask(&self) -> Self {
        match self {
            Self::V4(_) => Self::V4(Ipv4Addr::BROADCAST),
            Self::V6(_) => Self::V6(Ipv6Addr::from(u128::MAX)),
        }
    }
}

impl<T: MaskValue> Masked<T> {
    /// Every bit compared.
    pub fn exact(value: T) -> Self {
        Self {
            mask: value.full_mask(),
            value,
        }
    }
}

impl Masked<IpAddr> {
    /// The first `len` bits compared (a prefix, `10.0.0.0/8`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for a length past the address's bits.
    pub fn prefix(value: IpAddr, len: u8) -> Result<Self> {
        let bits = if value.is_ipv4() { 32 } else { 128 };
        if u32::from(len) > bits {
            return Err(invalid(format!("/{len}: an {bits}-bit address")));
        }
        let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        let mask = match value {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((m >> 96) as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(m)),
        };
        Ok(Self { value, mask })
    }
}

/// The kind of packet a rule matches (`flow-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum RuleFlow {
    /// `ether` (`ETHER_FLOW`): MAC addresses and EtherType.
    Ether,
    /// `tcp4`
    Tcp4,
    /// `udp4`
    Udp4,
    /// `sctp4`
    Sctp4,
    /// `ip4` (`IPV4_USER_FLOW`): addresses, TOS, L4 protocol.
    Ip4,
    /// `tcp6`
    Tcp6,
    /// `udp6`
    Udp6,
    /// `sctp6`
    Sctp6,
    /// `ip6` (`IPV6_USER_FLOW`)
    Ip6,
    /// A flow type this version does not decode (read from a device only).
    Other(u32),
}

impl RuleFlow {
    fn to_raw(self) -> u32 {
        match self {
            Self::Tcp4 => 0x01,
            Self::Udp4 => 0x02,
            Self::Sctp4 => 0x03,
            Self::Tcp6 => 0x05,
            Self::Udp6 => 0x06,
            Self::Sctp6 => 0x07,
            Self::Ip4 => 0x0d,
            Self::Ip6 => 0x0e,
            Self::Ether => 0x12,
            Self::Other(n) => n,
        }
    }

    fn from_raw(v: u32) -> Self {
        match v {
            0x01 => Self::Tcp4,
            0x02 => Self::Udp4,
            0x03 => Self::Sctp4,
            0x05 => Self::Tcp6,
            0x06 => Self::Udp6,
            0x07 => Self::Sctp6,
            0x0d => Self::Ip4,
            0x0e => Self::Ip6,
            0x12 => Self::Ether,
            other => Self::Other(other),
        }
    }

    fn v6(self) -> bool {
        matches!(self, Self::Tcp6 | Self::Udp6 | Self::Sctp6 | Self::Ip6)
    }

    fn has_ports(self) -> bool {
        matches!(
            self,
            Self::Tcp4 | Self::Udp4 | Self::Sctp4 | Self::Tcp6 | Self::Udp6 | Self::Sctp6
        )
    }
}

/// What a rule matches; every field `None` is not compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RuleMatch {
    /// The flow type.
    pub flow: RuleFlow,
    /// Source MAC (`ether` only).
    pub src_mac: Option<Masked<[u8; 6]>>,
    /// Destination MAC (`ether`; on other flows the `dst-mac` extension).
    pub dst_mac: Option<Masked<[u8; 6]>>,
    /// EtherType (`ether` only).
    pub ethertype: Option<Masked<u16>>,
    /// Source address (IPv4 on `*4`, IPv6 on `*6`).
    pub src_ip: Option<Masked<IpAddr>>,
    /// Destination address.
    pub dst_ip: Option<Masked<IpAddr>>,
    /// Source port (TCP, UDP, SCTP).
    pub src_port: Option<Masked<u16>>,
    /// Destination port.
    pub dst_port: Option<Masked<u16>>,
    /// IPv4 TOS or IPv6 traffic class.
    pub tos: Option<Masked<u8>>,
    /// L4 protocol number (`ip4`/`ip6` only).
    pub l4_proto: Option<Masked<u8>>,
    /// VLAN TCI (the `vlan` extension).
    pub vlan_tci: Option<Masked<u16>>,
    /// VLAN EtherType (the `vlan-etype` extension).
    pub vlan_etype: Option<Masked<u16>>,
    /// 64 bits of driver-defined data (the `user-def` extension).
    pub user_def: Option<Masked<u64>>,
}

impl RuleMatch {
    /// A match on `flow` that compares nothing yet.
    pub fn new(flow: RuleFlow) -> Self {
        Self {
            flow,
            src_mac: None,
            dst_mac: None,
            ethertype: None,
            src_ip: None,
            dst_ip: None,
            src_port: None,
            dst_port: None,
            tos: None,
            l4_proto: None,
            vlan_tci: None,
            vlan_etype: None,
            user_def: None,
        }
    }

    /// Checks that every field belongs to the flow type.
    fn check(&self) -> std::result::Result<(), String> {
        let f = self.flow;
        let named = |what: &str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(format!("{what} does not belong to a {f:?} rule"))
            }
        };
        if let RuleFlow::Other(n) = f {
            return Err(format!("flow type {n:#x} cannot be written"));
        }
        let ether = f == RuleFlow::Ether;
        named("a source MAC", self.src_mac.is_none() || ether)?;
        named("an EtherType", self.ethertype.is_none() || ether)?;
        named(
            "an IP address",
            !ether || (self.src_ip.is_none() && self.dst_ip.is_none()),
        )?;
        named(
            "a port",
            f.has_ports() || (self.src_port.is_none() && self.dst_port.is_none()),
        )?;
        named("a TOS", !ether || self.tos.is_none())?;
        named(
            "an L4 protocol",
            matches!(f, RuleFlow::Ip4 | RuleFlow::Ip6) || self.l4_proto.is_none(),
        )?;
        for ip in [self.src_ip, self.dst_ip].into_iter().flatten() {
            if ip.value.is_ipv6() != f.v6() || ip.mask.is_ipv6() != f.v6() {
                return Err(format!("{} in a {f:?} rule: one address family", ip.value));
            }
        }
        Ok(())
    }
}

/// What happens to a matching packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum RuleAction {
    /// Deliver to this RX queue (`action N`).
    Queue(u32),
    /// Drop it (`action -1`, `RX_CLS_FLOW_DISC`).
    Drop,
    /// Wake-on-LAN (`action -2`, `RX_CLS_FLOW_WAKE`).
    Wake,
    /// Another `ring_cookie` (a VF's queue, as the driver encodes it).
    Cookie(u64),
}

impl RuleAction {
    fn to_raw(self) -> u64 {
        match self {
            Self::Queue(q) => u64::from(q),
            Self::Drop => u64::MAX,
            Self::Wake => u64::MAX - 1,
            Self::Cookie(c) => c,
        }
    }

    fn from_raw(v: u64) -> Self {
        match v {
            u64::MAX => Self::Drop,
            v if v == u64::MAX - 1 => Self::Wake,
            v if v <= u64::from(u32::MAX) => Self::Queue(v as u32),
            v => Self::Cookie(v),
        }
    }
}

/// Where a rule goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleLocation {
    /// At this index (`loc N`).
    At(u32),
    /// Anywhere free (`RX_CLS_LOC_ANY`).
    Any,
    /// The first free index (highest priority on most devices).
    First,
    /// The last free index.
    Last,
}

/// One rule as the device holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct FlowRule {
    /// Its index in the device's table.
    pub location: u32,
    /// What it matches.
    pub matches: RuleMatch,
    /// What it does.
    pub action: RuleAction,
    /// Whether the flow type had `FLOW_RSS` (the action's queue is an RSS context's base).
    pub rss: bool,
}

/// The device's rule table (`ETHTOOL_GRXCLSRLCNT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RuleTable {
    /// Rules installed.
    pub count: u32,
    /// Rule slots (0 when the driver does not say, as igb).
    pub size: u32,
    /// Whether the driver itself places rules at `Any`/`First`/`Last`.
    pub special_locations: bool,
}

const FS: usize = 16;
const H_U: usize = FS + 4;
const H_EXT: usize = FS + 56;
const M_U: usize = FS + 76;
const M_EXT: usize = FS + 128;
const COOKIE: usize = FS + 152;
const LOCATION: usize = FS + 160;
const RULE_CNT: usize = 184;
const RULE_LOCS: usize = 188;
const FLOW_EXT: u32 = 0x8000_0000;
const FLOW_MAC_EXT: u32 = 0x4000_0000;
const FLOW_RSS: u32 = 0x2000_0000;
const LOC_SPECIAL: u32 = 0x8000_0000;

fn put(b: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(s) = b.get_mut(at..at + bytes.len()) {
        s.copy_from_slice(bytes);
    }
}

fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Writes a value at `h + off` and its mask at `m + off`.
fn put_masked(b: &mut [u8], h: usize, m: usize, off: usize, value: &[u8], mask: &[u8]) {
    put(b, h + off, value);
    put(b, m + off, mask);
}

/// Encodes `rule` into an `ethtool_rxnfc` for `command`; `location` as the kernel takes it.
pub(crate) fn encode_rule(
    command: u32,
    m: &RuleMatch,
    action: RuleAction,
    location: u32,
) -> Vec<u8> {
    let mut b = proto::command(command, proto::RXNFC_LEN);
    let mut flow = m.flow.to_raw();
    let v6 = m.flow.v6();
    let (sip, dip, sport, dport, tos) = if v6 {
        (0, 16, 32, 34, 36)
    } else {
        (0, 4, 8, 10, 12)
    };
    let pm = |b: &mut Vec<u8>, off: usize, v: &[u8], k: &[u8]| put_masked(b, H_U, M_U, off, v, k);
    match m.flow {
        RuleFlow::Ether => {
            if let Some(x) = m.dst_mac {
                pm(&mut b, 0, &x.value, &x.mask);
            }
            if let Some(x) = m.src_mac {
                pm(&mut b, 6, &x.value, &x.mask);
            }
            if let Some(x) = m.ethertype {
                pm(&mut b, 12, &x.value.to_be_bytes(), &x.mask.to_be_bytes());
            }
        }
        _ => {
            if let Some(x) = m.src_ip {
                pm(&mut b, sip, &ip_bytes(x.value), &ip_bytes(x.mask));
            }
            if let Some(x) = m.dst_ip {
                pm(&mut b, dip, &ip_bytes(x.value), &ip_bytes(x.mask));
            }
            if let Some(x) = m.tos {
                pm(&mut b, tos, &[x.value], &[x.mask]);
            }
            if m.flow.has_ports() {
                if let Some(x) = m.src_port {
                    pm(&mut b, sport, &x.value.to_be_bytes(), &x.mask.to_be_bytes());
                }
                if let Some(x) = m.dst_port {
                    pm(&mut b, dport, &x.value.to_be_bytes(), &x.mask.to_be_bytes());
                }
            }
            if let Some(x) = m.l4_proto {
                // usr_ip4_spec.proto at 14, usr_ip6_spec.l4_proto at 37.
                pm(&mut b, if v6 { 37 } else { 14 }, &[x.value], &[x.mask]);
            }
            if m.flow == RuleFlow::Ip4 {
                // ip_ver = ETH_RX_NFC_IP4, never masked.
                put(&mut b, H_U + 13, &[1]);
            }
            if let Some(x) = m.dst_mac {
                flow |= FLOW_MAC_EXT;
                put_masked(&mut b, H_EXT, M_EXT, 2, &x.value, &x.mask);
            }
        }
    }
    let ext =
        |b: &mut Vec<u8>, off: usize, v: &[u8], k: &[u8]| put_masked(b, H_EXT, M_EXT, off, v, k);
    if let Some(x) = m.vlan_etype {
        flow |= FLOW_EXT;
        ext(&mut b, 8, &x.value.to_be_bytes(), &x.mask.to_be_bytes());
    }
    if let Some(x) = m.vlan_tci {
        flow |= FLOW_EXT;
        ext(&mut b, 10, &x.value.to_be_bytes(), &x.mask.to_be_bytes());
    }
    if let Some(x) = m.user_def {
        flow |= FLOW_EXT;
        ext(&mut b, 12, &x.value.to_be_bytes(), &x.mask.to_be_bytes());
    }
    proto::put32(&mut b, 4, flow);
    proto::put32(&mut b, FS, flow);
    proto::put64(&mut b, COOKIE, action.to_raw());
    proto::put32(&mut b, LOCATION, location);
    b
}

/// Decodes the `fs` of an `ETHTOOL_GRXCLSRULE` reply.
pub(crate) fn decode_rule(b: &[u8]) -> FlowRule {
    let raw = proto::get32(b, FS);
    let flow = RuleFlow::from_raw(raw & !(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS));
    let mut m = RuleMatch::new(flow);
    let v6 = flow.v6();
    let masked16 = |h: usize, mk: usize, off: usize| {
        let (v, k) = (
            u16::from_be_bytes(take(b, h + off)),
            u16::from_be_bytes(take(b, mk + off)),
        );
        (k != 0).then_some(Masked { value: v, mask: k })
    };
    let masked8 = |off: usize| {
        let (v, k) = (take::<1>(b, H_U + off)[0], take::<1>(b, M_U + off)[0]);
        (k != 0).then_some(Masked { value: v, mask: k })
    };
    let mac = |h: usize, mk: usize, off: usize| {
        let (v, k) = (take::<6>(b, h + off), take::<6>(b, mk + off));
        (k != [0; 6]).then_some(Masked { value: v, mask: k })
    };
    let ip = |off: usize| {
        let (v, k): (IpAddr, IpAddr) = if v6 {
            (
                Ipv6Addr::from(take::<16>(b, H_U + off)).into(),
                Ipv6Addr::from(take::<16>(b, M_U + off)).into(),
            )
        } else {
            (
                Ipv4Addr::from(take::<4>(b, H_U + off)).into(),
                Ipv4Addr::from(take::<4>(b, M_U + off)).into(),
            )
        };
        (!k.is_unspecified()).then_some(Masked { value: v, mask: k })
    };
    match flow {
        RuleFlow::Ether => {
            m.dst_mac = mac(H_U, M_U, 0);
            m.src_mac = mac(H_U, M_U, 6);
            m.ethertype = masked16(H_U, M_U, 12);
        }
        RuleFlow::Other(_) => {}
        _ => {
            let (dip, sport, dport, tos) = if v6 { (16, 32, 34, 36) } else { (4, 8, 10, 12) };
            m.src_ip = ip(0);
            m.dst_ip = ip(dip);
            m.tos = masked8(tos);
            if flow.has_ports() {
                m.src_port = masked16(H_U, M_U, sport);
                m.dst_port = masked16(H_U, M_U, dport);
            } else {
                m.l4_proto = masked8(if v6 { 37 } else { 14 });
            }
            if raw & FLOW_MAC_EXT != 0 {
                m.dst_mac = mac(H_EXT, M_EXT, 2);
            }
        }
    }
    if raw & FLOW_EXT != 0 {
        m.vlan_etype = masked16(H_EXT, M_EXT, 8);
        m.vlan_tci = masked16(H_EXT, M_EXT, 10);
        let (v, k) = (
            u64::from_be_bytes(take(b, H_EXT + 12)),
            u64::from_be_bytes(take(b, M_EXT + 12)),
        );
        m.user_def = (k != 0).then_some(Masked { value: v, mask: k });
    }
    FlowRule {
        location: proto::get32(b, LOCATION),
        matches: m,
        action: RuleAction::from_raw(proto::get64(b, COOKIE)),
        rss: raw & FLOW_RSS != 0,
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidValue {
        iface: "-".into(),
        op: "ETHTOOL_SRXCLSRLINS",
        reason,
        source: None,
    }
}

impl Nic {
    /// The rule table's size and use (`ETHTOOL_GRXCLSRLCNT`, the "Total N rules" of
    /// `ethtool -n`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver has no rule table.
    #[doc(alias = "ETHTOOL_GRXCLSRLCNT")]
    pub fn rule_table(&self) -> Result<RuleTable> {
        let mut b = proto::rxnfc(cmd::GRXCLSRLCNT, 0, 0);
        self.ethtool("ETHTOOL_GRXCLSRLCNT", &mut b)?;
        let data = proto::get64(&b, 8) as u32;
        Ok(RuleTable {
            count: proto::get32(&b, RULE_CNT),
            size: data & !LOC_SPECIAL,
            special_locations: data & LOC_SPECIAL != 0,
        })
    }

    /// Every rule, in location order (`ETHTOOL_GRXCLSRLALL`, then `ETHTOOL_GRXCLSRULE`
    /// for each; `ethtool -n`).
    ///
    /// # Errors
    ///
    /// As [`Nic::rule_table`].
    #[doc(alias = "ETHTOOL_GRXCLSRLALL")]
    pub fn rules(&self) -> Result<Vec<FlowRule>> {
        let table = self.rule_table()?;
        let count = table.count.min(proto::MAX_STRINGS);
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut b = proto::rxnfc(cmd::GRXCLSRLALL, 0, u64::from(table.size));
        b.resize(RULE_LOCS + count as usize * 4, 0);
        proto::put32(&mut b, RULE_CNT, count);
        self.ethtool("ETHTOOL_GRXCLSRLALL", &mut b)?;
        let got = proto::get32(&b, RULE_CNT).min(count);
        let mut locs: Vec<u32> = (0..got as usize)
            .map(|i| proto::get32(&b, RULE_LOCS + i * 4))
            .collect();
        locs.sort_unstable();
        locs.iter().map(|&l| self.rule(l)).collect()
    }

    /// The rule at `location` (`ETHTOOL_GRXCLSRULE`, `ethtool -n IF rule N`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] (`EINVAL` from the driver) when the slot is empty.
    #[doc(alias = "ETHTOOL_GRXCLSRULE")]
    pub fn rule(&self, location: u32) -> Result<FlowRule> {
        let mut b = proto::rxnfc(cmd::GRXCLSRULE, 0, 0);
        proto::put32(&mut b, LOCATION, location);
        self.ethtool("ETHTOOL_GRXCLSRULE", &mut b)?;
        Ok(decode_rule(&b))
    }

    /// Inserts a rule (`ETHTOOL_SRXCLSRLINS`, `ethtool -N IF flow-type ... action Q loc
    /// L`) and returns its location. Needs `CAP_NET_ADMIN`.
    ///
    /// Before the call: the match is checked against its flow type, the queue against the
    /// device's RX rings and a fixed location against the table. `Any`/`First`/`Last` on a
    /// driver that does not place rules itself take the first (or last) free slot, as
    /// `ethtool` does. After the call the rule is read back; one of another flow type or
    /// action is deleted and reported.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] before the call or when the driver refuses it or stores
    /// something else; [`Error::Unsupported`] when the device takes no rules (`ntuple`
    /// off or absent; `ethtool` prints this but exits 0).
    #[doc(alias = "ETHTOOL_SRXCLSRLINS")]
    pub fn insert_rule(
        &self,
        location: RuleLocation,
        matches: &RuleMatch,
        action: RuleAction,
    ) -> Result<u32> {
        const OP: &str = "ETHTOOL_SRXCLSRLINS";
        let here = |e: Error| match e {
            Error::InvalidValue { reason, source, .. } => Error::InvalidValue {
                iface: self.name().to_string(),
                op: OP,
                reason,
                source,
            },
            other => other,
        };
        matches.check().map_err(|r| here(invalid(r)))?;
        if let RuleAction::Queue(q) = action {
            let rings = self.rx_rings()?;
            if q >= rings {
                return Err(here(invalid(format!(
                    "queue {q}: the device has {rings} RX rings"
                ))));
            }
        }
        let table = self.rule_table()?;
        let loc = match location {
            // Some drivers (igb) report no table size; the driver then judges the location.
            RuleLocation::At(l) if table.size != 0 && l >= table.size => {
                return Err(here(invalid(format!(
                    "location {l}: the table has {} slots",
                    table.size
                ))));
            }
            RuleLocation::At(l) => l,
            special if table.special_locations => match special {
                RuleLocation::First => 0xffff_fffe,
                RuleLocation::Last => 0xffff_fffd,
                _ => 0xffff_ffff,
            },
            special => {
                let used: Vec<u32> = self.rules()?.iter().map(|r| r.location).collect();
                let mut free = (0..table.size).filter(|l| !used.contains(l));
                let slot = if special == RuleLocation::Last {
                    free.next_back()
                } else {
                    free.next()
                };
                slot.ok_or_else(|| {
                    here(invalid(if table.size == 0 {
                        "the driver reports no table size and places no rules itself: give a location".to_owned()
                    } else {
                        format!("all {} rule slots are taken", table.size)
                    }))
                })?
            }
        };
        let mut b = encode_rule(cmd::SRXCLSRLINS, matches, action, loc);
        self.ethtool(OP, &mut b)?;
        let at = proto::get32(&b, LOCATION);
        // Drivers may normalise masks; a rule of another flow type or action is not the
        // rule asked for.
        let stored = self.rule(at)?;
        if stored.matches.flow != matches.flow || stored.action != action {
            let _ = self.delete_rule(at);
            return Err(here(invalid(format!(
                "the driver stored {stored:?} at {at} (deleted again)"
            ))));
        }
        Ok(at)
    }

    /// Deletes the rule at `location` (`ETHTOOL_SRXCLSRLDEL`, `ethtool -N IF delete N`).
    /// Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when there is no rule there.
    #[doc(alias = "ETHTOOL_SRXCLSRLDEL")]
    pub fn delete_rule(&self, location: u32) -> Result<()> {
        let mut b = proto::rxnfc(cmd::SRXCLSRLDEL, 0, 0);
        proto::put32(&mut b, LOCATION, location);
        self.ethtool("ETHTOOL_SRXCLSRLDEL", &mut b).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ether_rule_is_laid_out_as_the_kernel_reads_it() {
        let mut m = RuleMatch::new(RuleFlow::Ether);
        m.ethertype = Some(Masked::exact(0x88f7));
        let b = encode_rule(cmd::SRXCLSRLINS, &m, RuleAction::Queue(1), 3);
        assert_eq!(b.len(), 192);
        assert_eq!(proto::get32(&b, 0), cmd::SRXCLSRLINS);
        assert_eq!(proto::get32(&b, 16), 0x12, "fs.flow_type = ETHER_FLOW");
        assert_eq!(
            &b[16 + 4 + 12..16 + 4 + 14],
            &[0x88, 0xf7],
            "h_u.ether_spec.h_proto, big-endian"
        );
        assert_eq!(&b[16 + 76 + 12..16 + 76 + 14], &[0xff, 0xff], "its mask");
        assert_eq!(proto::get64(&b, 16 + 152), 1, "ring_cookie");
        assert_eq!(proto::get32(&b, 16 + 160), 3, "location");
        assert_eq!(decode_rule(&b).matches, m);
    }

    #[test]
    fn tcp4_ports_addresses_and_extensions_round_trip() {
        let mut m = RuleMatch::new(RuleFlow::Tcp4);
        m.src_ip = Some(Masked::prefix("10.1.0.0".parse().expect("ip"), 16).expect("prefix"));
        m.dst_port = Some(Masked::exact(443));
        m.vlan_tci = Some(Masked {
            value: 0x6000,
            mask: 0xe000,
        });
        m.dst_mac = Some(Masked::exact([2, 0, 0, 0, 0, 1]));
        let b = encode_rule(cmd::SRXCLSRLINS, &m, RuleAction::Drop, 0xffff_ffff);
        let flow = proto::get32(&b, 16);
        assert_eq!(flow, 0x01 | FLOW_EXT | FLOW_MAC_EXT);
        assert_eq!(&b[20..24], &[10, 1, 0, 0]);
        assert_eq!(&b[92..96], &[255, 255, 0, 0], "a /16 mask");
        assert_eq!(&b[20 + 10..20 + 12], &443u16.to_be_bytes(), "pdst");
        assert_eq!(&b[72 + 2..72 + 8], &[2, 0, 0, 0, 0, 1], "h_ext.h_dest");
        assert_eq!(
            &b[72 + 10..72 + 12],
            &0x6000u16.to_be_bytes(),
            "h_ext.vlan_tci"
        );
        assert_eq!(proto::get64(&b, 168), u64::MAX, "RX_CLS_FLOW_DISC");
        let back = decode_rule(&b);
        assert_eq!((back.matches, back.action), (m, RuleAction::Drop));
    }

    #[test]
    fn ip6_and_user_flows_round_trip() {
        for flow in [
            RuleFlow::Ip4,
            RuleFlow::Ip6,
            RuleFlow::Udp6,
            RuleFlow::Sctp4,
        ] {
            let mut m = RuleMatch::new(flow);
            let ip: IpAddr = if flow.v6() {
                "2001:db8::7".parse().expect("ip")
            } else {
                "192.0.2.7".parse().expect("ip")
            };
            m.dst_ip = Some(Masked::exact(ip));
            m.tos = Some(Masked::exact(0xb8));
            if flow.has_ports() {
                m.src_port = Some(Masked {
                    value: 0x1000,
                    mask: 0xf000,
                });
            } else {
                m.l4_proto = Some(Masked::exact(17));
            }
            m.user_def = Some(Masked::exact(0x0102_0304_0506_0708));
            m.check().expect("valid");
            let b = encode_rule(cmd::SRXCLSRLINS, &m, RuleAction::Queue(2), 9);
            let back = decode_rule(&b);
            assert_eq!(back.matches, m, "{flow:?}");
            assert_eq!((back.location, back.action), (9, RuleAction::Queue(2)));
        }
    }

    #[test]
    fn fields_of_another_flow_type_are_refused() {
        let mut m = RuleMatch::new(RuleFlow::Udp4);
        m.ethertype = Some(Masked::exact(0x0800));
        assert!(m.check().expect_err("ethertype").contains("EtherType"));
        let mut m = RuleMatch::new(RuleFlow::Tcp4);
        m.src_ip = Some(Masked::exact("2001:db8::1".parse().expect("ip")));
        assert!(m.check().expect_err("family").contains("family"));
        let mut m = RuleMatch::new(RuleFlow::Ether);
        m.dst_port = Some(Masked::exact(80));
        assert!(m.check().is_err());
        let mut m = RuleMatch::new(RuleFlow::Ip4);
        m.dst_port = Some(Masked::exact(80));
        assert!(m.check().is_err());
        assert!(Masked::prefix("10.0.0.0".parse().expect("ip"), 33).is_err());
        assert!(RuleMatch::new(RuleFlow::Other(0x40)).check().is_err());
    }

    #[test]
    fn hostile_bytes_decode_without_panicking() {
        for len in 0..=192 {
            let b = vec![0xffu8; len];
            let _ = decode_rule(&b);
        }
    }
}

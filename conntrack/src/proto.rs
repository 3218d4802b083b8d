//! ctnetlink messages: pure encode/decode (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
//! All numbers are big-endian on the wire except the `CTA_FILTER` flags; unknown
//! attributes are kept; hostile bytes give errors, never panics.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use nettune_netlink::proto::{self, Attr, DecodeError, Message, MsgBuilder};

/// `NFNL_SUBSYS_CTNETLINK << 8`.
const SUBSYS: u16 = 1 << 8;

/// ctnetlink message types.
pub(crate) mod msg {
    pub(crate) const NEW: u16 = super::SUBSYS;
    pub(crate) const GET: u16 = super::SUBSYS | 1;
    pub(crate) const GET_CTRZERO: u16 = super::SUBSYS | 3;
    pub(crate) const DELETE: u16 = super::SUBSYS | 2;
    pub(crate) const GET_STATS_CPU: u16 = super::SUBSYS | 4;
    pub(crate) const GET_STATS: u16 = super::SUBSYS | 5;
}

/// `enum ctattr_type`.
pub(crate) mod cta {
    pub(crate) const TUPLE_ORIG: u16 = 1;
    pub(crate) const TUPLE_REPLY: u16 = 2;
    pub(crate) const STATUS: u16 = 3;
    pub(crate) const PROTOINFO: u16 = 4;
    pub(crate) const HELP: u16 = 5;
    pub(crate) const NAT_SRC: u16 = 6;
    pub(crate) const NAT_DST: u16 = 13;
    pub(crate) const TIMEOUT: u16 = 7;
    pub(crate) const MARK: u16 = 8;
    pub(crate) const COUNTERS_ORIG: u16 = 9;
    pub(crate) const COUNTERS_REPLY: u16 = 10;
    pub(crate) const USE: u16 = 11;
    pub(crate) const ID: u16 = 12;
    pub(crate) const SECMARK: u16 = 17;
    pub(crate) const ZONE: u16 = 18;
    pub(crate) const SECCTX: u16 = 19;
    pub(crate) const TIMESTAMP: u16 = 20;
    pub(crate) const MARK_MASK: u16 = 21;
    pub(crate) const LABELS: u16 = 22;
    pub(crate) const LABELS_MASK: u16 = 23;
    pub(crate) const SYNPROXY: u16 = 24;
    pub(crate) const FILTER: u16 = 25;
    pub(crate) const STATUS_MASK: u16 = 26;
}

const TUPLE_IP: u16 = 1;
const TUPLE_PROTO: u16 = 2;
const TUPLE_ZONE: u16 = 3;
const IP_V4_SRC: u16 = 1;
const IP_V4_DST: u16 = 2;
const IP_V6_SRC: u16 = 3;
const IP_V6_DST: u16 = 4;
const PROTO_NUM: u16 = 1;
const PROTO_SRC_PORT: u16 = 2;
const PROTO_DST_PORT: u16 = 3;
const PROTO_ICMP_ID: u16 = 4;
const PROTO_ICMP_TYPE: u16 = 5;
const PROTO_ICMP_CODE: u16 = 6;
const PROTO_ICMPV6_ID: u16 = 7;
const PROTO_ICMPV6_TYPE: u16 = 8;
const PROTO_ICMPV6_CODE: u16 = 9;
const PROTOINFO_TCP: u16 = 1;
const TCP_STATE: u16 = 1;
const TCP_WSCALE_ORIGINAL: u16 = 2;
const TCP_WSCALE_REPLY: u16 = 3;
const TCP_FLAGS_ORIGINAL: u16 = 4;
const TCP_FLAGS_REPLY: u16 = 5;
const COUNTERS_PACKETS: u16 = 1;
const COUNTERS_BYTES: u16 = 2;
const TIMESTAMP_START: u16 = 1;
const TIMESTAMP_STOP: u16 = 2;
const HELP_NAME: u16 = 1;
const FILTER_ORIG_FLAGS: u16 = 1;
const FILTER_REPLY_FLAGS: u16 = 2;

/// Address family of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Family {
    /// IPv4 (`AF_INET`).
    Ipv4,
    /// IPv6 (`AF_INET6`).
    Ipv6,
}

impl Family {
    /// The `AF_*` number.
    pub fn to_raw(self) -> u8 {
        match self {
            Self::Ipv4 => libc::AF_INET as u8,
            Self::Ipv6 => libc::AF_INET6 as u8,
        }
    }

    fn from_raw(v: u8) -> Option<Self> {
        match i32::from(v) {
            libc::AF_INET => Some(Self::Ipv4),
            libc::AF_INET6 => Some(Self::Ipv6),
            _ => None,
        }
    }

    fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Self::Ipv4 } else { Self::Ipv6 }
    }
}

bitflags::bitflags! {
    /// Connection status bits (`IPS_*`, include/uapi/linux/netfilter/nf_conntrack_common.h).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(from = "u32", into = "u32"))]
    pub struct Status: u32 {
        /// An expected connection (of a helper).
        const EXPECTED = 1 << 0;
        /// Packets seen both ways.
        const SEEN_REPLY = 1 << 1;
        /// Kept even when the table is full.
        const ASSURED = 1 << 2;
        /// In the table (confirmed).
        const CONFIRMED = 1 << 3;
        /// Source NAT.
        const SRC_NAT = 1 << 4;
        /// Destination NAT.
        const DST_NAT = 1 << 5;
        /// Sequence numbers adjusted.
        const SEQ_ADJUST = 1 << 6;
        /// Source NAT set up.
        const SRC_NAT_DONE = 1 << 7;
        /// Destination NAT set up.
        const DST_NAT_DONE = 1 << 8;
        /// Being destroyed.
        const DYING = 1 << 9;
        /// The timeout does not change.
        const FIXED_TIMEOUT = 1 << 10;
        /// A template.
        const TEMPLATE = 1 << 11;
        /// A NAT clash was resolved (was UNTRACKED).
        const NAT_CLASH = 1 << 12;
        /// A helper was assigned.
        const HELPER = 1 << 13;
        /// Offloaded to the flow table.
        const OFFLOAD = 1 << 14;
        /// Offloaded to hardware.
        const HW_OFFLOAD = 1 << 15;
        const _ = !0;
    }
}

nettune_core::int_enum! {
    /// The TCP state conntrack tracks (`enum tcp_conntrack`,
    /// include/uapi/linux/netfilter/nf_conntrack_tcp.h); not the socket's own state.
    pub enum TcpConntrackState: u8 {
        /// NONE
        None = 0 => "NONE",
        /// SYN_SENT
        SynSent = 1 => "SYN_SENT",
        /// SYN_RECV
        SynRecv = 2 => "SYN_RECV",
        /// ESTABLISHED
        Established = 3 => "ESTABLISHED",
        /// FIN_WAIT
        FinWait = 4 => "FIN_WAIT",
        /// CLOSE_WAIT
        CloseWait = 5 => "CLOSE_WAIT",
        /// LAST_ACK
        LastAck = 6 => "LAST_ACK",
        /// TIME_WAIT
        TimeWait = 7 => "TIME_WAIT",
        /// CLOSE
        Close = 8 => "CLOSE",
        /// SYN_SENT2
        SynSent2 = 9 => "SYN_SENT2",
    }
}

nettune_core::int_enum! {
    /// The SCTP state conntrack tracks (`enum sctp_conntrack`,
    /// include/uapi/linux/netfilter/nf_conntrack_sctp.h).
    pub enum SctpConntrackState: u8 {
        /// NONE
        None = 0 => "NONE",
        /// CLOSED
        Closed = 1 => "CLOSED",
        /// COOKIE_WAIT
        CookieWait = 2 => "COOKIE_WAIT",
        /// COOKIE_ECHOED
        CookieEchoed = 3 => "COOKIE_ECHOED",
        /// ESTABLISHED
        Established = 4 => "ESTABLISHED",
        /// SHUTDOWN_SENT
        ShutdownSent = 5 => "SHUTDOWN_SENT",
        /// SHUTDOWN_RECD
        ShutdownRecd = 6 => "SHUTDOWN_RECD",
        /// SHUTDOWN_ACK_SENT
        ShutdownAckSent = 7 => "SHUTDOWN_ACK_SENT",
        /// HEARTBEAT_SENT
        HeartbeatSent = 8 => "HEARTBEAT_SENT",
        /// HEARTBEAT_ACKED (no longer used since Linux 6.2)
        HeartbeatAcked = 9 => "HEARTBEAT_ACKED",
    }
}

nettune_core::int_enum! {
    /// The DCCP state conntrack tracked (`enum ct_dccp_states`); DCCP left the kernel in
    /// Linux 6.16, so newer kernels report none.
    pub enum DccpConntrackState: u8 {
        /// NONE
        None = 0 => "NONE",
        /// REQUEST
        Request = 1 => "REQUEST",
        /// RESPOND
        Respond = 2 => "RESPOND",
        /// PARTOPEN
        PartOpen = 3 => "PARTOPEN",
        /// OPEN
        Open = 4 => "OPEN",
        /// CLOSEREQ
        CloseReq = 5 => "CLOSEREQ",
        /// CLOSING
        Closing = 6 => "CLOSING",
        /// TIMEWAIT
        TimeWait = 7 => "TIMEWAIT",
        /// IGNORE
        Ignore = 8 => "IGNORE",
        /// INVALID
        Invalid = 9 => "INVALID",
    }
}

/// The protocol state of an entry other than TCP's (`CTA_PROTOINFO_SCTP`, `_DCCP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtoState {
    /// SCTP, with the verification tags of each direction.
    Sctp {
        /// The state.
        state: SctpConntrackState,
        /// The original direction's verification tag.
        vtag_original: Option<u32>,
        /// The reply direction's.
        vtag_reply: Option<u32>,
    },
    /// DCCP.
    Dccp {
        /// The state.
        state: DccpConntrackState,
        /// The role (0 client, 1 server).
        role: Option<u8>,
    },
}

impl ProtoState {
    /// The name `conntrack -L` prints after the timeout (`UNKNOWN` for a state this
    /// crate does not know).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sctp { state, .. } => state.name().unwrap_or("UNKNOWN"),
            Self::Dccp { state, .. } => state.name().unwrap_or("UNKNOWN"),
        }
    }
}

/// `CTA_PROTOINFO_DCCP` and `CTA_PROTOINFO_SCTP` and their members.
const PROTOINFO_DCCP: u16 = 2;
const PROTOINFO_SCTP: u16 = 3;
const SCTP_STATE: u16 = 1;
const SCTP_VTAG_ORIGINAL: u16 = 2;
const SCTP_VTAG_REPLY: u16 = 3;
const DCCP_STATE: u16 = 1;
const DCCP_ROLE: u16 = 2;

/// Decodes the SCTP or DCCP member of `CTA_PROTOINFO`.
fn decode_proto_state(nest: Attr<'_>) -> Result<Option<ProtoState>, DecodeError> {
    let mut out = None;
    nest.walk(|a| {
        match a.ty {
            PROTOINFO_SCTP => {
                let (mut state, mut vo, mut vr) = (SctpConntrackState::None, None, None);
                a.walk(|v| {
                    match v.ty {
                        SCTP_STATE => state = v.u8()?.into(),
                        SCTP_VTAG_ORIGINAL => vo = Some(v.be32()?),
                        SCTP_VTAG_REPLY => vr = Some(v.be32()?),
                        _ => {}
                    }
                    Ok(())
                })?;
                out = Some(ProtoState::Sctp {
                    state,
                    vtag_original: vo,
                    vtag_reply: vr,
                });
            }
            PROTOINFO_DCCP => {
                let (mut state, mut role) = (DccpConntrackState::None, None);
                a.walk(|v| {
                    match v.ty {
                        DCCP_STATE => state = v.u8()?.into(),
                        DCCP_ROLE => role = Some(v.u8()?),
                        _ => {}
                    }
                    Ok(())
                })?;
                out = Some(ProtoState::Dccp { state, role });
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

impl TcpConntrackState {
    /// The number the kernel uses.
    pub fn to_raw(self) -> u8 {
        self.get()
    }

    /// The name `conntrack -L` prints (`UNKNOWN` for a state this crate does not know).
    pub fn as_str(self) -> &'static str {
        self.name().unwrap_or("UNKNOWN")
    }
}

impl From<u32> for Status {
    fn from(bits: u32) -> Self {
        Self::from_bits_retain(bits)
    }
}

impl From<Status> for u32 {
    fn from(s: Status) -> Self {
        s.bits()
    }
}

/// ICMP identity of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Icmp {
    /// Identifier.
    pub id: u16,
    /// Type.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub ty: u8,
    /// Code.
    pub code: u8,
}

/// One direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...).
    pub protocol: u8,
    /// Source port (TCP, UDP, SCTP, DCCP, UDP-Lite).
    #[cfg_attr(feature = "serde", serde(rename = "sport"))]
    pub src_port: Option<u16>,
    /// Destination port.
    #[cfg_attr(feature = "serde", serde(rename = "dport"))]
    pub dst_port: Option<u16>,
    /// ICMP / ICMPv6 identity.
    pub icmp: Option<Icmp>,
    /// The tuple's zone (`CTA_TUPLE_ZONE`).
    pub zone: Option<u16>,
}

impl Tuple {
    /// A placeholder the decoder overwrites.
    const UNSET: Self = Self {
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        protocol: 0,
        src_port: None,
        dst_port: None,
        icmp: None,
        zone: None,
    };

    fn ports(protocol: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Self {
        Self {
            src,
            dst,
            protocol,
            src_port: Some(sport),
            dst_port: Some(dport),
            icmp: None,
            zone: None,
        }
    }

    /// A TCP tuple.
    pub fn tcp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Self {
        Self::ports(6, src, sport, dst, dport)
    }

    /// A UDP tuple.
    pub fn udp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Self {
        Self::ports(17, src, sport, dst, dport)
    }

    /// An ICMP (IPv4) or ICMPv6 tuple.
    pub fn icmp(src: IpAddr, dst: IpAddr, icmp: Icmp) -> Self {
        Self {
            src,
            dst,
            protocol: if src.is_ipv4() { 1 } else { 58 },
            src_port: None,
            dst_port: None,
            icmp: Some(icmp),
            zone: None,
        }
    }

    /// The reverse direction (what a reply looks like without NAT).
    pub fn reversed(&self) -> Self {
        let icmp = self.icmp.map(|i| Icmp {
            id: i.id,
            ty: match (self.protocol, i.ty) {
                (1, 8) => 0,      // echo request -> reply
                (58, 128) => 129, // ICMPv6 echo request -> reply
                (_, t) => t,
            },
            code: i.code,
        });
        Self {
            src: self.dst,
            dst: self.src,
            protocol: self.protocol,
            src_port: self.dst_port,
            dst_port: self.src_port,
            icmp,
            zone: self.zone,
        }
    }

    /// The family of the addresses.
    pub fn family(&self) -> Family {
        Family::of(&self.src)
    }

    /// The protocol's name as `conntrack -L` prints it.
    pub fn protocol_name(&self) -> &'static str {
        match self.protocol {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            33 => "dccp",
            47 => "gre",
            58 => "icmpv6",
            132 => "sctp",
            136 => "udplite",
            _ => "unknown",
        }
    }
}

impl fmt::Display for Tuple {
    /// `src=.. dst=.. sport=.. dport=..` (or `type=.. code=.. id=..`), as `conntrack -L`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src={} dst={}", self.src, self.dst)?;
        if let Some(i) = self.icmp {
            write!(f, " type={} code={} id={}", i.ty, i.code, i.id)?;
        }
        if let (Some(s), Some(d)) = (self.src_port, self.dst_port) {
            write!(f, " sport={s} dport={d}")?;
        }
        Ok(())
    }
}

/// Packet and byte counters of one direction (with `nf_conntrack_acct` on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Start and stop times (with `nf_conntrack_timestamp` on), nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FlowTimestamps {
    /// When the connection started.
    pub start: u64,
    /// When it ended (destroy events only).
    pub stop: Option<u64>,
}

/// The TCP protocol information of an entry (`CTA_PROTOINFO_TCP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TcpProtoInfo {
    /// The conntrack TCP state.
    pub state: TcpConntrackState,
    /// Window scale of the original direction.
    pub wscale_original: Option<u8>,
    /// Window scale of the reply direction.
    pub wscale_reply: Option<u8>,
    /// `IP_CT_TCP_FLAG_*` of the original direction (flags, mask).
    pub flags_original: Option<(u8, u8)>,
    /// `IP_CT_TCP_FLAG_*` of the reply direction (flags, mask).
    pub flags_reply: Option<(u8, u8)>,
}

/// A conntrack entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The entry's id (`CTA_ID`).
    pub id: Option<u32>,
    /// Address family.
    pub family: Family,
    /// The original direction.
    pub original: Tuple,
    /// The reply direction.
    pub reply: Option<Tuple>,
    /// Zone (`CTA_ZONE`).
    pub zone: Option<u16>,
    /// Status bits.
    pub status: Status,
    /// Seconds left before the entry expires.
    pub timeout: Option<Duration>,
    /// The mark.
    pub mark: Option<u32>,
    /// Reference count.
    pub use_count: Option<u32>,
    /// TCP state.
    pub tcp: Option<TcpProtoInfo>,
    /// SCTP or DCCP state.
    pub proto_state: Option<ProtoState>,
    /// Counters of the original direction.
    pub counters_original: Option<Counters>,
    /// Counters of the reply direction.
    pub counters_reply: Option<Counters>,
    /// Start/stop timestamps.
    pub timestamps: Option<FlowTimestamps>,
    /// The security mark (`CTA_SECMARK`, set by SECMARK rules).
    pub secmark: Option<u32>,
    /// SYN proxy state (`CTA_SYNPROXY`; recent kernels send it for every entry, zeros
    /// unless a `synproxy` rule set it up).
    pub synproxy: Option<SynProxy>,
    /// What few entries have (helper, labels, security context, NAT to set up, attributes
    /// not decoded), kept apart so that every entry of a dump stays small: moving and
    /// dropping 200 000 of them is a measurable part of a dump. `None` when all are unset;
    /// read and set through [`Entry::helper`], [`Entry::set_helper`] and the others.
    extra: Option<Box<Extra>>,
}

/// The rarely set part of an [`Entry`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Extra {
    helper: Option<String>,
    labels: Option<Vec<u8>>,
    secctx: Option<String>,
    snat: Option<NatTarget>,
    dnat: Option<NatTarget>,
    other: Vec<(u16, Vec<u8>)>,
}

/// A connection's SYN proxy state (`CTA_SYNPROXY_*`): the sequence number and timestamp
/// adjustments a `synproxy` rule made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SynProxy {
    /// `CTA_SYNPROXY_ISN`: the initial sequence number the proxy chose.
    pub isn: u32,
    /// `CTA_SYNPROXY_ITS`: the initial timestamp.
    pub its: u32,
    /// `CTA_SYNPROXY_TSOFF`: the timestamp offset.
    pub tsoff: u32,
}

/// The shape `nettune conntrack list --json` prints: `family`, `id`, `mark` (0 when the
/// kernel sent none), `zone`,
/// `status` (bits), `timeout` (seconds), `tcp_state`, `original`, `reply`, then the
/// counters, timestamps, helper and use count when the kernel sent them.
#[cfg(feature = "serde")]
impl serde::Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("family", &self.family)?;
        m.serialize_entry("id", &self.id)?;
        // The kernel omits a zero mark (in events always, in dumps when marks are off).
        m.serialize_entry("mark", &self.mark.unwrap_or(0))?;
        m.serialize_entry("zone", &self.zone)?;
        m.serialize_entry("status", &self.status.bits())?;
        m.serialize_entry("timeout", &self.timeout.map(|t| t.as_secs()))?;
        m.serialize_entry("tcp_state", &self.tcp.map(|t| t.state.as_str()))?;
        if let Some(p) = &self.proto_state {
            let key = match p {
                ProtoState::Sctp { .. } => "sctp_state",
                ProtoState::Dccp { .. } => "dccp_state",
            };
            m.serialize_entry(key, p.as_str())?;
        }
        m.serialize_entry("original", &self.original)?;
        m.serialize_entry("reply", &self.reply)?;
        m.serialize_entry("use", &self.use_count)?;
        if let Some(c) = &self.counters_original {
            m.serialize_entry("counters_original", c)?;
        }
        if let Some(c) = &self.counters_reply {
            m.serialize_entry("counters_reply", c)?;
        }
        if let Some(t) = &self.timestamps {
            m.serialize_entry("timestamps", t)?;
        }
        if let Some(h) = self.helper() {
            m.serialize_entry("helper", h)?;
        }
        if let Some(x) = &self.secmark {
            m.serialize_entry("secmark", x)?;
        }
        if let Some(x) = self.secctx() {
            m.serialize_entry("secctx", x)?;
        }
        m.end()
    }
}

impl Entry {
    /// A new entry to create: the original tuple, its reply (the reverse when `None`) and
    /// a timeout.
    pub fn new(original: Tuple, timeout: Duration) -> Self {
        Self {
            reply: Some(original.reversed()),
            timeout: Some(timeout),
            ..Self::bare(original.family(), original)
        }
    }

    /// An entry with only its family and original tuple set.
    fn bare(family: Family, original: Tuple) -> Self {
        Self {
            id: None,
            family,
            original,
            reply: None,
            zone: None,
            status: Status::empty(),
            timeout: None,
            mark: None,
            use_count: None,
            tcp: None,
            proto_state: None,
            counters_original: None,
            counters_reply: None,
            timestamps: None,
            secmark: None,
            synproxy: None,
            extra: None,
        }
    }

    /// The rare part, created on first use.
    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Sets one field of the rare part; the part goes when nothing is left in it, so that
    /// entries equal in every field compare equal.
    fn set_extra(&mut self, set: impl FnOnce(&mut Extra)) {
        set(self.extra_mut());
        if self.extra.as_deref() == Some(&Extra::default()) {
            self.extra = None;
        }
    }

    /// The helper's name (`ftp`, `sip`, ...).
    pub fn helper(&self) -> Option<&str> {
        self.extra.as_ref()?.helper.as_deref()
    }

    /// Sets the helper: set on create, it assigns that helper, which then follows the
    /// connection and makes its expectations.
    pub fn set_helper(&mut self, name: Option<String>) -> &mut Self {
        self.set_extra(|x| x.helper = name);
        self
    }

    /// Connection labels: the kernel's bitmap (see [`labels_of`] / [`labels_bitmap`]).
    pub fn labels(&self) -> Option<&[u8]> {
        self.extra.as_ref()?.labels.as_deref()
    }

    /// Sets the connection labels to create the entry with (a bitmap, see
    /// [`labels_bitmap`]).
    pub fn set_labels(&mut self, bitmap: Option<Vec<u8>>) -> &mut Self {
        self.set_extra(|x| x.labels = bitmap);
        self
    }

    /// The security context (`CTA_SECCTX`: SELinux or Smack label of the connection).
    pub fn secctx(&self) -> Option<&str> {
        self.extra.as_ref()?.secctx.as_deref()
    }

    /// Source NAT to set up on create (`conntrack -I --src-nat`). Write-only: a dump shows
    /// NAT in the reply tuple and the `SRC_NAT` status bit.
    pub fn snat(&self) -> Option<&NatTarget> {
        self.extra.as_ref()?.snat.as_ref()
    }

    /// Sets the source NAT to set up on create.
    pub fn set_snat(&mut self, nat: Option<NatTarget>) -> &mut Self {
        self.set_extra(|x| x.snat = nat);
        self
    }

    /// Destination NAT to set up on create (`--dst-nat`), likewise write-only.
    pub fn dnat(&self) -> Option<&NatTarget> {
        self.extra.as_ref()?.dnat.as_ref()
    }

    /// Sets the destination NAT to set up on create.
    pub fn set_dnat(&mut self, nat: Option<NatTarget>) -> &mut Self {
        self.set_extra(|x| x.dnat = nat);
        self
    }

    /// Attributes this crate does not decode: (type, payload).
    pub fn other(&self) -> &[(u16, Vec<u8>)] {
        self.extra.as_ref().map_or(&[], |x| &x.other)
    }
}

/// A decode error at `offset`.
fn err(what: &'static str, offset: usize) -> DecodeError {
    DecodeError { what, offset }
}

/// Decodes a `CTA_TUPLE_*` nest.
pub(crate) fn decode_tuple(nest: Attr<'_>) -> Result<Tuple, DecodeError> {
    let mut t = Tuple::UNSET;
    decode_tuple_into(nest, &mut t)?;
    Ok(t)
}

/// Decodes a `CTA_TUPLE_*` nest into `t` (whose fields it all sets when it returns `Ok`),
/// in place: a dump decodes two per entry.
fn decode_tuple_into(nest: Attr<'_>, t: &mut Tuple) -> Result<(), DecodeError> {
    match port_tuple(nest.payload) {
        Some(read) => {
            *t = read;
            Ok(())
        }
        None => walk_tuple(nest, t),
    }
}

/// Decodes any tuple nest by walking its attributes, into `t`.
fn walk_tuple(nest: Attr<'_>, t: &mut Tuple) -> Result<(), DecodeError> {
    // Written straight into `t`; the three fields a tuple cannot lack are tracked.
    *t = Tuple::UNSET;
    let (mut src, mut dst, mut protocol) = (false, false, false);
    nest.walk(|a| {
        match a.ty {
            TUPLE_IP => a.walk(|ip| {
                match ip.ty {
                    IP_V4_SRC => (t.src, src) = (ip.ipv4()?, true),
                    IP_V4_DST => (t.dst, dst) = (ip.ipv4()?, true),
                    IP_V6_SRC => (t.src, src) = (ip.ipv6()?, true),
                    IP_V6_DST => (t.dst, dst) = (ip.ipv6()?, true),
                    _ => {}
                }
                Ok(())
            })?,
            TUPLE_PROTO => a.walk(|v| {
                let icmp = || Icmp {
                    id: 0,
                    ty: 0,
                    code: 0,
                };
                match v.ty {
                    PROTO_NUM => (t.protocol, protocol) = (v.u8()?, true),
                    PROTO_SRC_PORT => t.src_port = Some(v.be16()?),
                    PROTO_DST_PORT => t.dst_port = Some(v.be16()?),
                    PROTO_ICMP_ID | PROTO_ICMPV6_ID => {
                        t.icmp.get_or_insert_with(icmp).id = v.be16()?;
                    }
                    PROTO_ICMP_TYPE | PROTO_ICMPV6_TYPE => {
                        t.icmp.get_or_insert_with(icmp).ty = v.u8()?;
                    }
                    PROTO_ICMP_CODE | PROTO_ICMPV6_CODE => {
                        t.icmp.get_or_insert_with(icmp).code = v.u8()?;
                    }
                    _ => {}
                }
                Ok(())
            })?,
            TUPLE_ZONE => t.zone = Some(a.be16()?),
            _ => {}
        }
        Ok(())
    })?;
    let at = nest.offset;
    match (src, dst, protocol) {
        (true, true, true) => Ok(()),
        (false, _, _) => Err(err("tuple without a source address", at)),
        (_, false, _) => Err(err("tuple without a destination address", at)),
        _ => Err(err("tuple without a protocol", at)),
    }
}

/// The tuple as the kernel lays it out for the port protocols (TCP, UDP, SCTP, DCCP,
/// UDP-Lite): both addresses of one family, then protocol, source and destination port,
/// perhaps a zone, in that order, each of its exact length, and nothing else. A dump is
/// mostly these, two per entry, so they are read straight; any other shape is `None` and
/// goes to the general walk, which reads this shape to the same tuple (a test holds them
/// to that).
fn port_tuple(p: &[u8]) -> Option<Tuple> {
    // (length, type) of the attribute header at `at`.
    let header = |at: usize| {
        let h = p.get(at..at + proto::NLA_HDRLEN)?;
        let ty = u16::from_ne_bytes([h[2], h[3]]) & proto::NLA_TYPE_MASK;
        Some((u16::from_ne_bytes([h[0], h[1]]), ty))
    };
    let bytes = |at: usize, n: usize| p.get(at..at + n);
    let be16 = |at: usize| bytes(at, 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (ip_len, ty) = header(0)?;
    if ty != TUPLE_IP {
        return None;
    }
    let (src, dst) = match ip_len {
        20 if header(4)? == (8, IP_V4_SRC) && header(12)? == (8, IP_V4_DST) => {
            let (s, d) = (bytes(8, 4)?, bytes(16, 4)?);
            (
                IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3])),
                IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])),
            )
        }
        44 if header(4)? == (20, IP_V6_SRC) && header(24)? == (20, IP_V6_DST) => {
            let v6 = |at| {
                <[u8; 16]>::try_from(bytes(at, 16)?)
                    .ok()
                    .map(Ipv6Addr::from)
            };
            (IpAddr::V6(v6(8)?), IpAddr::V6(v6(28)?))
        }
        _ => return None,
    };
    let at = usize::from(ip_len);
    let layout = [
        (at, (28, TUPLE_PROTO)),
        (at + 4, (5, PROTO_NUM)),
        (at + 12, (6, PROTO_SRC_PORT)),
        (at + 20, (6, PROTO_DST_PORT)),
    ];
    for (offset, expected) in layout {
        if header(offset)? != expected {
            return None;
        }
    }
    let end = at + 28;
    let zone = match p.len().checked_sub(end)? {
        0 => None,
        8 if header(end)? == (6, TUPLE_ZONE) => Some(be16(end + 4)?),
        _ => return None,
    };
    Some(Tuple {
        src,
        dst,
        protocol: *p.get(at + 8)?,
        src_port: Some(be16(at + 16)?),
        dst_port: Some(be16(at + 24)?),
        icmp: None,
        zone,
    })
}

fn decode_counters(nest: Attr<'_>) -> Result<Counters, DecodeError> {
    let mut c = Counters::default();
    nest.walk(|a| {
        match a.ty {
            COUNTERS_PACKETS => c.packets = a.be64()?,
            COUNTERS_BYTES => c.bytes = a.be64()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(c)
}

fn decode_tcp(nest: Attr<'_>) -> Result<Option<TcpProtoInfo>, DecodeError> {
    let mut out = None;
    nest.walk(|a| {
        if a.ty != PROTOINFO_TCP {
            return Ok(());
        }
        let mut t = TcpProtoInfo {
            state: TcpConntrackState::None,
            wscale_original: None,
            wscale_reply: None,
            flags_original: None,
            flags_reply: None,
        };
        let pair = |v: Attr<'_>| -> Result<(u8, u8), DecodeError> {
            match v.payload {
                [f, m, ..] => Ok((*f, *m)),
                _ => Err(err("short TCP flags", v.offset)),
            }
        };
        a.walk(|v| {
            match v.ty {
                TCP_STATE => t.state = v.u8()?.into(),
                TCP_WSCALE_ORIGINAL => t.wscale_original = Some(v.u8()?),
                TCP_WSCALE_REPLY => t.wscale_reply = Some(v.u8()?),
                TCP_FLAGS_ORIGINAL => t.flags_original = Some(pair(v)?),
                TCP_FLAGS_REPLY => t.flags_reply = Some(pair(v)?),
                _ => {}
            }
            Ok(())
        })?;
        out = Some(t);
        Ok(())
    })?;
    Ok(out)
}

/// The length of `nfgenmsg`.
const NFGENMSG_LEN: usize = 4;

/// Decodes a ctnetlink entry message (nfgenmsg + attributes).
pub(crate) fn decode_entry(msg: &Message<'_>) -> Result<Entry, DecodeError> {
    let mut slot = None;
    decode_entry_into(msg, &mut slot)?;
    slot.ok_or(err("entry without an original tuple", proto::NLMSG_HDRLEN))
}

/// Decodes a ctnetlink entry message into `slot`, which is `Some` exactly when it returns
/// `Ok`. A dump decodes in place this way: an [`Entry`] is large, and each move copies it.
pub(crate) fn decode_entry_into(
    msg: &Message<'_>,
    slot: &mut Option<Entry>,
) -> Result<(), DecodeError> {
    *slot = None;
    let header = msg.header(NFGENMSG_LEN)?;
    let family =
        Family::from_raw(header[0]).ok_or(err("unknown address family", proto::NLMSG_HDRLEN))?;
    let mut original = false;
    let e = slot.insert(Entry::bare(family, Tuple::UNSET));
    let walked = msg.walk(NFGENMSG_LEN, |a| {
        match a.ty {
            cta::TUPLE_ORIG => {
                decode_tuple_into(a, &mut e.original)?;
                original = true;
            }
            cta::TUPLE_REPLY => decode_tuple_into(a, e.reply.insert(Tuple::UNSET))?,
            cta::STATUS => e.status = Status::from_bits_retain(a.be32()?),
            cta::PROTOINFO => {
                e.tcp = decode_tcp(a)?;
                e.proto_state = decode_proto_state(a)?;
            }
            cta::TIMEOUT => e.timeout = Some(Duration::from_secs(a.be32()?.into())),
            cta::MARK => e.mark = Some(a.be32()?),
            cta::COUNTERS_ORIG => e.counters_original = Some(decode_counters(a)?),
            cta::COUNTERS_REPLY => e.counters_reply = Some(decode_counters(a)?),
            cta::USE => e.use_count = Some(a.be32()?),
            cta::ID => e.id = Some(a.be32()?),
            cta::ZONE => e.zone = Some(a.be16()?),
            cta::SECMARK => e.secmark = Some(a.be32()?),
            cta::SECCTX => {
                let secctx = a.attrs().flatten().find(|c| c.ty == 1).map(|c| c.string());
                e.set_extra(|x| x.secctx = secctx);
            }
            cta::HELP => {
                let helper = a
                    .attrs()
                    .flatten()
                    .find(|h| h.ty == HELP_NAME)
                    .map(|h| h.string());
                e.set_helper(helper);
            }
            cta::TIMESTAMP => {
                let mut t = FlowTimestamps::default();
                a.walk(|v| {
                    match v.ty {
                        TIMESTAMP_START => t.start = v.be64()?,
                        TIMESTAMP_STOP => t.stop = Some(v.be64()?),
                        _ => {}
                    }
                    Ok(())
                })?;
                e.timestamps = Some(t);
            }
            cta::LABELS => {
                e.set_labels(Some(a.payload.to_vec()));
            }
            cta::SYNPROXY => {
                let mut sp = SynProxy::default();
                // The kernel's layout, the three values in order, is read straight;
                // anything else is walked.
                let half = |at: usize| {
                    let b = a.payload.get(at..at + 2)?;
                    Some(u16::from_ne_bytes([b[0], b[1]]))
                };
                let be = |at: usize| {
                    let b = a.payload.get(at..at + 4)?;
                    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                };
                let layout = [(0, 1), (8, 2), (16, 3)];
                if a.payload.len() == 24
                    && layout
                        .iter()
                        .all(|&(at, ty)| half(at) == Some(8) && half(at + 2) == Some(ty))
                {
                    let value = |at| be(at).unwrap_or(0);
                    (sp.isn, sp.its, sp.tsoff) = (value(4), value(12), value(20));
                    e.synproxy = Some(sp);
                    return Ok(());
                }
                a.walk(|f| {
                    match f.ty {
                        1 => sp.isn = f.be32()?,
                        2 => sp.its = f.be32()?,
                        3 => sp.tsoff = f.be32()?,
                        _ => {}
                    }
                    Ok(())
                })?;
                e.synproxy = Some(sp);
            }
            other => e.extra_mut().other.push((other, a.payload.to_vec())),
        }
        Ok(())
    });
    match (walked, original) {
        (Ok(()), true) => Ok(()),
        (walked, _) => {
            *slot = None;
            walked.and(Err(err(
                "entry without an original tuple",
                proto::NLMSG_HDRLEN,
            )))
        }
    }
}

/// The 4-byte `nfgenmsg`.
pub(crate) fn nfgenmsg(family: u8, version: u8) -> [u8; 4] {
    [family, version, 0, 0]
}

fn put_ip(m: &mut MsgBuilder, src: bool, ip: &IpAddr) {
    let ty = match (ip.is_ipv4(), src) {
        (true, true) => IP_V4_SRC,
        (true, false) => IP_V4_DST,
        (false, true) => IP_V6_SRC,
        (false, false) => IP_V6_DST,
    };
    m.ip(ty, ip);
}

/// Encodes a `CTA_TUPLE_*` nest of type `ty`.
pub(crate) fn encode_tuple(m: &mut MsgBuilder, ty: u16, t: &Tuple) {
    m.nest(ty, |m| {
        m.nest(TUPLE_IP, |m| {
            put_ip(m, true, &t.src);
            put_ip(m, false, &t.dst);
        });
        m.nest(TUPLE_PROTO, |m| {
            m.u8(PROTO_NUM, t.protocol);
            if let Some(s) = t.src_port {
                m.be16(PROTO_SRC_PORT, s);
            }
            if let Some(d) = t.dst_port {
                m.be16(PROTO_DST_PORT, d);
            }
            if let Some(i) = t.icmp {
                let (id, ty, code) = if t.protocol == 58 {
                    (PROTO_ICMPV6_ID, PROTO_ICMPV6_TYPE, PROTO_ICMPV6_CODE)
                } else {
                    (PROTO_ICMP_ID, PROTO_ICMP_TYPE, PROTO_ICMP_CODE)
                };
                m.be16(id, i.id).u8(ty, i.ty).u8(code, i.code);
            }
        });
        if let Some(z) = t.zone {
            m.be16(TUPLE_ZONE, z);
        }
    });
}

/// Encodes the attributes of an entry to create or update.
pub(crate) fn encode_entry(m: &mut MsgBuilder, e: &Entry) {
    encode_tuple(m, cta::TUPLE_ORIG, &e.original);
    if let Some(r) = &e.reply {
        encode_tuple(m, cta::TUPLE_REPLY, r);
    }
    if let Some(t) = e.timeout {
        // Checked by the callers (Conntrack::create) before encoding.
        m.be32(cta::TIMEOUT, timeout_secs(t).unwrap_or(u32::MAX));
    }
    if !e.status.is_empty() {
        // The kernel marks an entry made over netlink CONFIRMED before it applies the
        // status, and refuses (EBUSY) a status that would clear that bit.
        m.be32(cta::STATUS, (e.status | Status::CONFIRMED).bits());
    }
    if let Some(mark) = e.mark {
        m.be32(cta::MARK, mark);
    }
    if let Some(z) = e.zone {
        m.be16(cta::ZONE, z);
    }
    if let Some(tcp) = &e.tcp {
        m.nest(cta::PROTOINFO, |m| {
            m.nest(PROTOINFO_TCP, |m| {
                m.u8(TCP_STATE, tcp.state.to_raw());
            });
        });
    }
    if let Some(labels) = e.labels() {
        m.attr(cta::LABELS, labels);
        m.attr(cta::LABELS_MASK, &vec![0xff; labels.len()]);
    }
    if let Some(h) = e.helper() {
        m.nest(cta::HELP, |m| {
            m.string(HELP_NAME, h);
        });
    }
    if let Some(t) = e.snat() {
        encode_nat(m, cta::NAT_SRC, t);
    }
    if let Some(t) = e.dnat() {
        encode_nat(m, cta::NAT_DST, t);
    }
}

/// Where NAT sends a connection: an address (or a range) and optionally a port (range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatTarget {
    /// The lowest address of the range.
    pub min: IpAddr,
    /// The highest address (`min` for one address).
    pub max: IpAddr,
    /// The port range, if the ports are translated too.
    pub ports: Option<(u16, u16)>,
}

impl NatTarget {
    /// NAT to one address.
    pub fn to(addr: IpAddr) -> Self {
        Self {
            min: addr,
            max: addr,
            ports: None,
        }
    }

    /// The same, to one port as well.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.ports = Some((port, port));
        self
    }
}

/// `enum ctattr_nat` and `enum ctattr_protonat`.
const NAT_V4_MINIP: u16 = 1;
const NAT_V4_MAXIP: u16 = 2;
const NAT_PROTO: u16 = 3;
const NAT_V6_MINIP: u16 = 4;
const NAT_V6_MAXIP: u16 = 5;
const PROTONAT_PORT_MIN: u16 = 1;
const PROTONAT_PORT_MAX: u16 = 2;

fn encode_nat(m: &mut MsgBuilder, ty: u16, t: &NatTarget) {
    m.nest(ty, |m| {
        match (t.min, t.max) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                m.attr(NAT_V4_MINIP, &a.octets())
                    .attr(NAT_V4_MAXIP, &b.octets());
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                m.attr(NAT_V6_MINIP, &a.octets())
                    .attr(NAT_V6_MAXIP, &b.octets());
            }
            // Refused before encoding (Conntrack::create checks the families).
            _ => {}
        }
        if let Some((lo, hi)) = t.ports {
            m.nest(NAT_PROTO, |m| {
                m.be16(PROTONAT_PORT_MIN, lo).be16(PROTONAT_PORT_MAX, hi);
            });
        }
    });
}

/// The most seconds a timeout may have: the kernel keeps it in jiffies as an `int` and
/// clamps silently past `INT_MAX` jiffies, which at HZ=1000 is 2147483 s (24.8 days).
pub const MAX_TIMEOUT_SECS: u64 = 2_147_483;

/// The timeout attribute's value, refused past [`MAX_TIMEOUT_SECS`].
pub(crate) fn timeout_secs(t: Duration) -> Result<u32, String> {
    if t.as_secs() > MAX_TIMEOUT_SECS {
        return Err(format!(
            "a timeout of {} s is above {MAX_TIMEOUT_SECS} s, past which the kernel clamps it silently",
            t.as_secs()
        ));
    }
    Ok(u32::try_from(t.as_secs()).unwrap_or(u32::MAX))
}

/// Connection labels as the kernel's bitmap (`CTA_LABELS`): 128 bits in native-endian
/// 64-bit words, label N at bit N.
pub fn labels_bitmap(labels: u128) -> Vec<u8> {
    let low = u64::try_from(labels & u128::from(u64::MAX)).unwrap_or(0);
    let high = u64::try_from(labels >> 64).unwrap_or(0);
    let mut out = low.to_ne_bytes().to_vec();
    out.extend(high.to_ne_bytes());
    out
}

/// The labels of a `CTA_LABELS` bitmap as a 128-bit set (label N at bit N); longer
/// bitmaps are cut at 128 labels.
pub fn labels_of(bitmap: &[u8]) -> u128 {
    let word = |i: usize| {
        bitmap
            .get(i * 8..i * 8 + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    };
    u128::from(word(0)) | (u128::from(word(1)) << 64)
}

/// `CTA_FILTER_FLAG_*`.
pub(crate) mod filter_flag {
    pub(crate) const IP_SRC: u32 = 1 << 0;
    pub(crate) const IP_DST: u32 = 1 << 1;
    pub(crate) const PROTO_NUM: u32 = 1 << 3;
    pub(crate) const SRC_PORT: u32 = 1 << 4;
    pub(crate) const DST_PORT: u32 = 1 << 5;
}

/// Encodes `CTA_FILTER` with host-order flags for the original and reply directions.
pub(crate) fn encode_filter_flags(m: &mut MsgBuilder, orig: u32, reply: u32) {
    m.nest(cta::FILTER, |m| {
        m.u32(FILTER_ORIG_FLAGS, orig)
            .u32(FILTER_REPLY_FLAGS, reply);
    });
}

/// Per-CPU statistics (`conntrack -S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CpuStats {
    /// The CPU.
    pub cpu: u16,
    /// Lookups that found an entry.
    pub found: u32,
    /// Packets that could not be tracked.
    pub invalid: u32,
    /// Entries inserted (not reported by recent kernels: 0).
    pub insert: u32,
    /// Inserts that failed (a race lost).
    pub insert_failed: u32,
    /// Packets dropped because an insert failed.
    pub drop: u32,
    /// Entries evicted early because the table was full.
    pub early_drop: u32,
    /// Packets with errors.
    pub error: u32,
    /// Lookups restarted because the table changed.
    pub search_restart: u32,
    /// Clashes resolved.
    pub clash_resolve: u32,
    /// Hash chains found too long.
    pub chaintoolong: u32,
}

/// Decodes one `CT_GET_STATS_CPU` reply.
pub(crate) fn decode_cpu_stats(msg: &Message<'_>) -> Result<CpuStats, DecodeError> {
    let header = msg.header(NFGENMSG_LEN)?;
    let mut s = CpuStats {
        cpu: u16::from_be_bytes([header[2], header[3]]),
        ..CpuStats::default()
    };
    for a in msg.attrs(NFGENMSG_LEN) {
        let a = a?;
        let v = a.be32()?;
        match a.ty {
            2 => s.found = v,
            4 => s.invalid = v,
            8 => s.insert = v,
            9 => s.insert_failed = v,
            10 => s.drop = v,
            11 => s.early_drop = v,
            12 => s.error = v,
            13 => s.search_restart = v,
            14 => s.clash_resolve = v,
            15 => s.chaintoolong = v,
            _ => {}
        }
    }
    Ok(s)
}

/// Decodes a `CT_GET_STATS` reply: (entries, max).
pub(crate) fn decode_count(msg: &Message<'_>) -> Result<(u32, u32), DecodeError> {
    msg.header(NFGENMSG_LEN)?;
    let (mut entries, mut max) = (None, None);
    for a in msg.attrs(NFGENMSG_LEN) {
        let a = a?;
        match a.ty {
            1 => entries = Some(a.be32()?),
            2 => max = Some(a.be32()?),
            _ => {}
        }
    }
    Ok((
        entries.ok_or(err("no entry count", proto::NLMSG_HDRLEN))?,
        max.unwrap_or(0),
    ))
}

/// `proto::flags` re-exported for the crate.
pub(crate) use proto::flags;

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    /// An entry message as the kernel sends it: nfgenmsg, tuples, status, timeout, ...
    fn kernel_bytes(e: &Entry, id: u32) -> Vec<u8> {
        let mut m = MsgBuilder::new(msg::NEW, 0, 1);
        m.header(&nfgenmsg(e.family.to_raw(), 0));
        encode_entry(&mut m, e);
        m.be32(cta::ID, id).be32(cta::USE, 1);
        m.nest(cta::COUNTERS_ORIG, |m| {
            m.be64(COUNTERS_PACKETS, 3).be64(COUNTERS_BYTES, 180);
        });
        m.attr(99, &[1, 2, 3]);
        m.finish().expect("encode")
    }

    /// The payload of a `CTA_TUPLE_ORIG` nest as [`encode_tuple`] (and the kernel) lay it out.
    fn tuple_payload(t: &Tuple) -> Vec<u8> {
        let mut m = MsgBuilder::new(msg::NEW, 0, 1);
        m.header(&nfgenmsg(2, 0));
        encode_tuple(&mut m, cta::TUPLE_ORIG, t);
        let bytes = m.finish().expect("encode");
        let mut payload = None;
        message(&bytes)
            .walk(NFGENMSG_LEN, |a| {
                payload = Some(a.payload.to_vec());
                Ok(())
            })
            .expect("walk");
        payload.expect("the nest")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    /// The general walk over a nest with this payload.
    fn walked(payload: &[u8]) -> Result<Tuple, DecodeError> {
        let nest = Attr {
            ty: cta::TUPLE_ORIG,
            nested: true,
            payload,
            offset: 0,
        };
        let mut t = Tuple::UNSET;
        walk_tuple(nest, &mut t).map(|()| t)
    }

    #[test]
    fn the_rare_fields_read_back_and_clearing_them_leaves_an_equal_entry() {
        let t = Tuple::udp(ip("10.0.0.1"), 1, ip("10.0.0.2"), 2);
        let plain = Entry::new(t, Duration::from_secs(5));
        let mut e = plain.clone();
        e.set_helper(Some("ftp".into()))
            .set_labels(Some(labels_bitmap(1 << 9)))
            .set_snat(Some(NatTarget::to(ip("10.9.9.9"))));
        assert_eq!(
            (
                e.helper(),
                e.labels().map(labels_of),
                e.snat().map(|n| n.min)
            ),
            (Some("ftp"), Some(1 << 9), Some(ip("10.9.9.9")))
        );
        assert_ne!(e, plain);
        e.set_helper(None).set_labels(None).set_snat(None);
        assert_eq!(e, plain, "no empty rare part is left behind");
        let round = decode_entry(&message(&kernel_bytes(&plain, 1))).expect("decode");
        assert_eq!(
            (round.helper(), round.other()),
            (None, &[(99, vec![1, 2, 3])][..])
        );
    }

    #[test]
    fn the_port_tuple_shortcut_reads_what_the_walk_reads() {
        let (v4, v6) = (ip("10.1.2.3"), ip("fd00::1:2"));
        let mut zoned = Tuple::tcp(v6, 443, ip("fd00::9"), 40000);
        zoned.zone = Some(7);
        let port_tuples = [
            Tuple::udp(v4, 53, ip("10.250.0.1"), 1000),
            Tuple::tcp(v6, 22, ip("2001:db8::1"), 65535),
            Tuple::ports(132, v4, 1, ip("192.0.2.1"), 2),
            zoned,
        ];
        let icmp = Tuple::icmp(
            v4,
            ip("10.0.0.9"),
            Icmp {
                id: 5,
                ty: 8,
                code: 0,
            },
        );
        assert_eq!(
            port_tuple(&tuple_payload(&icmp)),
            None,
            "ICMP goes to the walk"
        );
        for t in &port_tuples {
            let p = tuple_payload(t);
            assert_eq!(
                port_tuple(&p).as_ref(),
                Some(t),
                "the kernel's layout is read straight"
            );
            assert_eq!(walked(&p).as_ref(), Ok(t));
            // Every byte changed to a few values, and every cut: whatever the shortcut
            // accepts, the walk reads the same.
            let mut variants: Vec<Vec<u8>> = (0..p.len()).map(|n| p[..n].to_vec()).collect();
            for i in 0..p.len() {
                for v in [0u8, 1, 2, 3, 4, 5, 6, 8, 0x80, 0xff, p[i] ^ 1] {
                    let mut q = p.clone();
                    q[i] = v;
                    variants.push(q);
                }
            }
            let mut longer = p.clone();
            longer.extend_from_slice(&[8, 0, 3, 0, 0, 1, 0, 0]);
            variants.push(longer);
            for q in &variants {
                if let Some(fast) = port_tuple(q) {
                    assert_eq!(walked(q), Ok(fast), "{q:?}");
                }
            }
        }
    }

    /// The one message of `bytes`.
    fn message(bytes: &[u8]) -> Message<'_> {
        proto::messages(bytes).next().expect("one").expect("ok")
    }

    /// A message whose payload is `payload`.
    fn with_payload(payload: &[u8]) -> Message<'_> {
        Message {
            ty: msg::NEW,
            flags: 0,
            seq: 0,
            pid: 0,
            payload,
        }
    }

    #[test]
    fn ipv4_udp_entry_round_trip() {
        let mut e = Entry::new(
            Tuple::udp(v4("10.0.0.1"), 5000, v4("10.0.0.2"), 53),
            Duration::from_secs(30),
        );
        e.mark = Some(0x10);
        e.status = Status::CONFIRMED | Status::SEEN_REPLY;
        let bytes = kernel_bytes(&e, 77);
        // The addresses are raw bytes, ports and numbers big-endian.
        assert!(bytes.windows(4).any(|w| w == [10, 0, 0, 1]));
        assert!(bytes.windows(2).any(|w| w == 5000u16.to_be_bytes()));
        let d = decode_entry(&message(&bytes)).expect("decode");
        assert_eq!(d.original, e.original);
        assert_eq!(d.reply, e.reply);
        assert_eq!(
            (d.id, d.mark, d.timeout),
            (Some(77), Some(0x10), Some(Duration::from_secs(30)))
        );
        assert_eq!(d.status, Status::CONFIRMED | Status::SEEN_REPLY);
        assert_eq!(
            d.counters_original,
            Some(Counters {
                packets: 3,
                bytes: 180
            })
        );
        assert_eq!(d.other(), [(99, vec![1, 2, 3])], "unknown attributes kept");
        assert_eq!(
            d.original.to_string(),
            "src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=53"
        );
    }

    #[test]
    fn ipv6_tcp_and_icmp_entries() {
        let a: IpAddr = "fd00::1".parse().expect("ip");
        let b: IpAddr = "fd00::2".parse().expect("ip");
        let mut e = Entry::new(Tuple::tcp(a, 40000, b, 443), Duration::from_secs(120));
        e.tcp = Some(TcpProtoInfo {
            state: TcpConntrackState::Established,
            wscale_original: None,
            wscale_reply: None,
            flags_original: None,
            flags_reply: None,
        });
        let d = decode_entry(&message(&kernel_bytes(&e, 1))).expect("decode");
        assert_eq!(d.family, Family::Ipv6);
        assert_eq!(d.original, e.original);
        assert_eq!(d.tcp.map(|t| t.state), Some(TcpConntrackState::Established));
        let icmp = Entry::new(
            Tuple::icmp(
                v4("10.0.0.1"),
                v4("10.0.0.2"),
                Icmp {
                    id: 7,
                    ty: 8,
                    code: 0,
                },
            ),
            Duration::from_secs(30),
        );
        assert_eq!(
            icmp.reply.map(|r| r.icmp),
            Some(Some(Icmp {
                id: 7,
                ty: 0,
                code: 0
            })),
            "echo reply"
        );
        let d = decode_entry(&message(&kernel_bytes(&icmp, 2))).expect("decode");
        assert_eq!(
            d.original.icmp,
            Some(Icmp {
                id: 7,
                ty: 8,
                code: 0
            })
        );
        assert_eq!(d.original.protocol_name(), "icmp");
        let icmp6 = Tuple::icmp(
            a,
            b,
            Icmp {
                id: 9,
                ty: 128,
                code: 0,
            },
        );
        let mut m = MsgBuilder::new(0, 0, 0);
        encode_tuple(&mut m, 1, &icmp6);
        let bytes = m.finish().expect("encode");
        let outer = message(&bytes).attrs(0).next().expect("one").expect("ok");
        assert_eq!(decode_tuple(outer).expect("decode"), icmp6);
    }

    #[test]
    fn truncated_and_hostile_bytes_are_errors() {
        let e = Entry::new(
            Tuple::udp(v4("1.2.3.4"), 1, v4("5.6.7.8"), 2),
            Duration::from_secs(1),
        );
        let bytes = kernel_bytes(&e, 1);
        let p = &bytes[16..];
        for cut in 0..p.len() {
            let _ = decode_entry(&with_payload(&p[..cut])); // never panics
        }
        assert!(decode_entry(&with_payload(&p[..3])).is_err());
        assert!(
            decode_entry(&with_payload(&[2, 0, 0, 0])).is_err(),
            "no original tuple"
        );
        assert!(
            decode_entry(&with_payload(&[99, 0, 0, 0])).is_err(),
            "unknown family"
        );
        let mut flipped = p.to_vec();
        for i in (4..flipped.len()).step_by(7) {
            flipped[i] ^= 0xa5;
            let _ = decode_entry(&with_payload(&flipped));
        }
        // A tuple whose address attribute is cut short: the error names its real offset.
        let mut m = MsgBuilder::new(0, 0, 0);
        m.header(&nfgenmsg(2, 0));
        m.nest(cta::TUPLE_ORIG, |m| {
            m.nest(TUPLE_IP, |m| {
                m.attr(IP_V4_SRC, &[1, 2]);
            });
        });
        let b = m.finish().expect("encode");
        let e = decode_entry(&message(&b)).expect_err("short address");
        // header 16 + nfgenmsg 4 + tuple nest 4 + ip nest 4 + attribute header 4.
        assert_eq!(e.offset, 32, "{e}");
    }

    #[test]
    fn stats_replies() {
        let mut m = MsgBuilder::new(msg::GET_STATS, 0, 0);
        m.header(&[0, 0, 0, 3])
            .be32(2, 11)
            .be32(9, 2)
            .be32(11, 5)
            .be32(15, 1);
        let b = m.finish().expect("encode");
        let s = decode_cpu_stats(&message(&b)).expect("decode");
        assert_eq!(
            (
                s.cpu,
                s.found,
                s.insert_failed,
                s.early_drop,
                s.chaintoolong
            ),
            (3, 11, 2, 5, 1)
        );
        let mut m = MsgBuilder::new(msg::GET_STATS, 0, 0);
        m.header(&[0, 0, 0, 0]).be32(1, 1000).be32(2, 262_144);
        let b = m.finish().expect("encode");
        assert_eq!(decode_count(&message(&b)), Ok((1000, 262_144)));
        assert!(decode_count(&with_payload(&[0, 0, 0, 0])).is_err());
    }

    #[test]
    fn sctp_and_dccp_states_decode() {
        let mut b = MsgBuilder::new(msg::NEW, 0, 1);
        b.header(&nfgenmsg(2, 0));
        encode_tuple(
            &mut b,
            cta::TUPLE_ORIG,
            &Tuple::udp(v4("10.0.0.1"), 1, v4("10.0.0.2"), 2),
        );
        b.nest(cta::PROTOINFO, |m| {
            m.nest(PROTOINFO_DCCP, |m| {
                m.u8(DCCP_STATE, 4).u8(DCCP_ROLE, 1);
            });
        });
        let bytes = b.finish().expect("encode");
        let e = decode_entry(&message(&bytes)).expect("decode");
        assert_eq!(
            e.proto_state,
            Some(ProtoState::Dccp {
                state: DccpConntrackState::Open,
                role: Some(1)
            })
        );
        assert_eq!(e.proto_state.map(|p| p.as_str()), Some("OPEN"));
        let mut b = MsgBuilder::new(msg::NEW, 0, 1);
        b.header(&nfgenmsg(2, 0));
        encode_tuple(
            &mut b,
            cta::TUPLE_ORIG,
            &Tuple::udp(v4("10.0.0.1"), 1, v4("10.0.0.2"), 2),
        );
        b.nest(cta::PROTOINFO, |m| {
            m.nest(PROTOINFO_SCTP, |m| {
                m.u8(SCTP_STATE, 77).be32(SCTP_VTAG_ORIGINAL, 7);
            });
        });
        let bytes = b.finish().expect("encode");
        let e = decode_entry(&message(&bytes)).expect("decode");
        assert_eq!(
            e.proto_state.map(|p| p.as_str()),
            Some("UNKNOWN"),
            "a future state"
        );
    }

    #[test]
    fn secmark_and_secctx_decode() {
        let mut b = MsgBuilder::new(msg::NEW, 0, 1);
        b.header(&nfgenmsg(2, 0));
        encode_tuple(
            &mut b,
            cta::TUPLE_ORIG,
            &Tuple::udp(v4("10.0.0.1"), 1, v4("10.0.0.2"), 2),
        );
        b.be32(cta::SECMARK, 42);
        b.nest(cta::SECCTX, |m| {
            m.string(1, "system_u:object_r:unlabeled_t:s0");
        });
        let bytes = b.finish().expect("encode");
        let e = decode_entry(&message(&bytes)).expect("decode");
        assert_eq!(e.secmark, Some(42));
        assert_eq!(e.secctx(), Some("system_u:object_r:unlabeled_t:s0"));
    }
}

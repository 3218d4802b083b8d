//! `mptcp_pm` messages (include/uapi/linux/mptcp_pm.h): pure encode/decode. Byte orders:
//! endpoint and event addresses are network order, endpoint ports host order, event
//! ports network order.

use std::net::IpAddr;

use nettune_netlink::genl::GENL_HDRLEN;
use nettune_netlink::proto::{Attr, DecodeError, Message, MsgBuilder, NLMSG_HDRLEN};

/// Commands.
pub(crate) mod cmd {
    pub(crate) const ADD_ADDR: u8 = 1;
    pub(crate) const DEL_ADDR: u8 = 2;
    pub(crate) const GET_ADDR: u8 = 3;
    pub(crate) const FLUSH_ADDRS: u8 = 4;
    pub(crate) const SET_LIMITS: u8 = 5;
    pub(crate) const GET_LIMITS: u8 = 6;
    pub(crate) const SET_FLAGS: u8 = 7;
    pub(crate) const ANNOUNCE: u8 = 8;
    pub(crate) const REMOVE: u8 = 9;
    pub(crate) const SUBFLOW_CREATE: u8 = 10;
    pub(crate) const SUBFLOW_DESTROY: u8 = 11;
}

/// `MPTCP_PM_ATTR_*`.
pub(crate) mod pm_attr {
    pub(crate) const ADDR: u16 = 1;
    pub(crate) const RCV_ADD_ADDRS: u16 = 2;
    pub(crate) const SUBFLOWS: u16 = 3;
    pub(crate) const TOKEN: u16 = 4;
    pub(crate) const LOC_ID: u16 = 5;
    pub(crate) const ADDR_REMOTE: u16 = 6;
}

const ADDR_FAMILY: u16 = 1;
const ADDR_ID: u16 = 2;
const ADDR_ADDR4: u16 = 3;
const ADDR_ADDR6: u16 = 4;
const ADDR_PORT: u16 = 5;
const ADDR_FLAGS: u16 = 6;
const ADDR_IF_IDX: u16 = 7;

bitflags::bitflags! {
    /// Endpoint flags (`MPTCP_PM_ADDR_FLAG_*`); unknown bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct EndpointFlags: u32 {
        /// Announce the address to peers (ADD_ADDR).
        const SIGNAL = 1 << 0;
        /// Open subflows from this address.
        const SUBFLOW = 1 << 1;
        /// Use subflows of this address only as backup.
        const BACKUP = 1 << 2;
        /// Open subflows from this address to every announced peer address.
        const FULLMESH = 1 << 3;
        /// Created by the kernel for a subflow (not configured).
        const IMPLICIT = 1 << 4;
        /// Open subflows to peer addresses of the same id (6.18).
        const LAMINAR = 1 << 5;
        const _ = !0;
    }
}

/// Serialized as the list of names `ip mptcp` prints, with any bit this crate does not
/// know as a hex string (`"0x100"`); read back the same way.
#[cfg(feature = "serde")]
impl serde::Serialize for EndpointFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let unknown = self.bits() & !Self::all_known().bits();
        let names = self.names();
        let mut seq = s.serialize_seq(Some(names.len() + usize::from(unknown != 0)))?;
        for n in names {
            seq.serialize_element(n)?;
        }
        if unknown != 0 {
            seq.serialize_element(&format!("{unknown:#x}"))?;
        }
        seq.end()
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for EndpointFlags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = <Vec<String> as serde::Deserialize>::deserialize(d)?;
        let mut out = Self::empty();
        for n in &names {
            let bits = match n.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => Self::NAMES
                    .iter()
                    .find(|(_, name)| name == n)
                    .map(|(f, _)| f.bits()),
            };
            out |=
                Self::from_bits_retain(bits.ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown endpoint flag {n:?}"))
                })?);
        }
        Ok(out)
    }
}

impl EndpointFlags {
    /// Each known flag with the name `ip mptcp` prints.
    pub const NAMES: [(Self, &'static str); 6] = [
        (Self::SIGNAL, "signal"),
        (Self::SUBFLOW, "subflow"),
        (Self::BACKUP, "backup"),
        (Self::FULLMESH, "fullmesh"),
        (Self::IMPLICIT, "implicit"),
        (Self::LAMINAR, "laminar"),
    ];

    /// Every flag this crate knows.
    pub fn all_known() -> Self {
        Self::NAMES.iter().fold(Self::empty(), |a, (f, _)| a | *f)
    }

    /// The names `ip mptcp` prints.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .into_iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| n)
            .collect()
    }
}

/// A path-manager endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Endpoint {
    /// The endpoint id.
    pub id: u8,
    /// The address.
    pub addr: IpAddr,
    /// The port (signal endpoints only).
    pub port: Option<u16>,
    /// Flags.
    pub flags: EndpointFlags,
    /// The interface index, when bound to one.
    pub ifindex: Option<u32>,
}

fn err(what: &'static str, offset: usize) -> DecodeError {
    DecodeError { what, offset }
}

/// Decodes an `MPTCP_PM_ATTR_ADDR` nest.
pub(crate) fn decode_endpoint(nest: Attr<'_>) -> Result<Endpoint, DecodeError> {
    let (mut id, mut addr, mut port, mut flags, mut ifindex) =
        (0, None, None, EndpointFlags::empty(), None);
    nest.walk(|a| {
        match a.ty {
            ADDR_ID => id = a.u8()?,
            ADDR_ADDR4 => addr = Some(a.ipv4()?),
            ADDR_ADDR6 => addr = Some(a.ipv6()?),
            ADDR_PORT => port = Some(a.u16()?).filter(|p| *p != 0),
            ADDR_FLAGS => flags = EndpointFlags::from_bits_retain(a.u32()?),
            ADDR_IF_IDX => ifindex = Some(a.u32()?).filter(|i| *i != 0),
            _ => {}
        }
        Ok(())
    })?;
    Ok(Endpoint {
        id,
        addr: addr.ok_or(err("endpoint without an address", nest.offset))?,
        port,
        flags,
        ifindex,
    })
}

/// Decodes a GET_ADDR reply: genl header, then `MPTCP_PM_ATTR_ADDR`.
pub(crate) fn decode_endpoint_reply(msg: &Message<'_>) -> Result<Endpoint, DecodeError> {
    let mut out = None;
    msg.walk(GENL_HDRLEN, |a| {
        if a.ty == pm_attr::ADDR {
            out = Some(decode_endpoint(a)?);
        }
        Ok(())
    })?;
    out.ok_or(err("reply without an endpoint", NLMSG_HDRLEN))
}

/// What an address nest carries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AddrNest {
    pub(crate) id: Option<u8>,
    pub(crate) addr: Option<IpAddr>,
    pub(crate) port: Option<u16>,
    pub(crate) flags: Option<EndpointFlags>,
    pub(crate) ifindex: Option<u32>,
}

/// Encodes an address nest of type `ty`.
pub(crate) fn encode_addr(m: &mut MsgBuilder, ty: u16, a: &AddrNest) {
    m.nest(ty, |m| {
        if let Some(addr) = a.addr {
            let (family, attr) = match addr {
                IpAddr::V4(_) => (libc::AF_INET, ADDR_ADDR4),
                IpAddr::V6(_) => (libc::AF_INET6, ADDR_ADDR6),
            };
            m.u16(ADDR_FAMILY, u16::try_from(family).unwrap_or(0))
                .ip(attr, &addr);
        }
        if let Some(id) = a.id {
            m.u8(ADDR_ID, id);
        }
        if let Some(port) = a.port {
            m.u16(ADDR_PORT, port);
        }
        if let Some(f) = a.flags {
            m.u32(ADDR_FLAGS, f.bits());
        }
        if let Some(i) = a.ifindex {
            m.i32(ADDR_IF_IDX, i32::try_from(i).unwrap_or(0));
        }
    });
}

/// Decodes GET_LIMITS: (subflows, add_addr_accepted).
pub(crate) fn decode_limits(msg: &Message<'_>) -> Result<(u32, u32), DecodeError> {
    let (mut subflows, mut accepted) = (None, None);
    msg.walk(GENL_HDRLEN, |a| {
        match a.ty {
            pm_attr::SUBFLOWS => subflows = Some(a.u32()?),
            pm_attr::RCV_ADD_ADDRS => accepted = Some(a.u32()?),
            _ => {}
        }
        Ok(())
    })?;
    Ok((subflows.unwrap_or(0), accepted.unwrap_or(0)))
}

nettune_core::int_enum! {
    /// The kind of a path-manager event (`MPTCP_EVENT_*`, include/uapi/linux/mptcp_pm.h).
    pub enum EventKind: u8 {
        /// A connection was created.
        Created = 1 => "created",
        /// A connection is established.
        Established = 2 => "established",
        /// A connection closed.
        Closed = 3 => "closed",
        /// The peer announced an address.
        Announced = 6 => "announced",
        /// The peer removed an address.
        Removed = 7 => "removed",
        /// A subflow is established.
        SubEstablished = 10 => "sub_established",
        /// A subflow closed.
        SubClosed = 11 => "sub_closed",
        /// A subflow's backup priority changed.
        SubPriority = 13 => "sub_priority",
        /// A listener was created.
        ListenerCreated = 15 => "listener_created",
        /// A listener closed.
        ListenerClosed = 16 => "listener_closed",
    }
}

/// A path-manager event; fields the event does not carry are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PmEvent {
    /// What happened.
    pub kind: EventKind,
    /// The connection token.
    pub token: Option<u32>,
    /// Local address.
    pub saddr: Option<IpAddr>,
    /// Remote address.
    pub daddr: Option<IpAddr>,
    /// Local port.
    pub sport: Option<u16>,
    /// Remote port.
    pub dport: Option<u16>,
    /// Local address id.
    pub loc_id: Option<u8>,
    /// Remote address id.
    pub rem_id: Option<u8>,
    /// The subflow is a backup.
    pub backup: Option<bool>,
    /// The error of a closed subflow.
    pub error: Option<u8>,
    /// Interface index.
    pub ifindex: Option<i32>,
    /// The MPTCP reset reason of a closed subflow.
    pub reset_reason: Option<u32>,
    /// Event flags.
    pub flags: Option<u16>,
    /// The connection's server side.
    pub server_side: Option<bool>,
}

/// Decodes an event message payload (genl header + `MPTCP_ATTR_*`).
pub(crate) fn decode_event(msg: &Message<'_>) -> Result<PmEvent, DecodeError> {
    let kind = EventKind::from(msg.header(GENL_HDRLEN)?[0]);
    let mut e = PmEvent {
        kind,
        token: None,
        saddr: None,
        daddr: None,
        sport: None,
        dport: None,
        loc_id: None,
        rem_id: None,
        backup: None,
        error: None,
        ifindex: None,
        reset_reason: None,
        flags: None,
        server_side: None,
    };
    msg.walk(GENL_HDRLEN, |a| {
        match a.ty {
            1 => e.token = Some(a.u32()?),
            3 => e.loc_id = Some(a.u8()?),
            4 => e.rem_id = Some(a.u8()?),
            5 => e.saddr = Some(a.ipv4()?),
            6 => e.saddr = Some(a.ipv6()?),
            7 => e.daddr = Some(a.ipv4()?),
            8 => e.daddr = Some(a.ipv6()?),
            9 => e.sport = Some(a.be16()?),
            10 => e.dport = Some(a.be16()?),
            11 => e.backup = Some(a.u8()? != 0),
            12 => e.error = Some(a.u8()?),
            13 => e.flags = Some(a.u16()?),
            15 => e.ifindex = Some(a.i32()?),
            16 => e.reset_reason = Some(a.u32()?),
            18 => e.server_side = Some(a.u8()? != 0),
            _ => {}
        }
        Ok(())
    })?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genl(cmd: u8) -> MsgBuilder {
        let mut m = MsgBuilder::new(0x20, 0, 1);
        m.header(&[cmd, 1, 0, 0]);
        m
    }

    fn message(bytes: &[u8]) -> Message<'_> {
        nettune_netlink::proto::messages(bytes)
            .next()
            .expect("one")
            .expect("ok")
    }

    fn with_payload(payload: &[u8]) -> Message<'_> {
        Message {
            ty: 0x20,
            flags: 0,
            seq: 0,
            pid: 0,
            payload,
        }
    }

    #[test]
    fn endpoint_round_trip_and_byte_orders() {
        let a = AddrNest {
            id: Some(3),
            addr: Some("10.0.0.2".parse().expect("ip")),
            port: Some(8080),
            flags: Some(EndpointFlags::SIGNAL | EndpointFlags::BACKUP),
            ifindex: Some(4),
        };
        let mut m = genl(cmd::GET_ADDR);
        encode_addr(&mut m, pm_attr::ADDR, &a);
        let b = m.finish().expect("encode");
        // The address is network order, the port host order.
        assert!(b.windows(4).any(|w| w == [10, 0, 0, 2]));
        assert!(b.windows(2).any(|w| w == 8080u16.to_ne_bytes()));
        let e = decode_endpoint_reply(&message(&b)).expect("decode");
        assert_eq!(
            e,
            Endpoint {
                id: 3,
                addr: "10.0.0.2".parse().expect("ip"),
                port: Some(8080),
                flags: EndpointFlags::SIGNAL | EndpointFlags::BACKUP,
                ifindex: Some(4),
            }
        );
        let v6 = AddrNest {
            addr: Some("fd00::5".parse().expect("ip")),
            flags: Some(EndpointFlags::from_bits_retain(0x102)),
            ..AddrNest::default()
        };
        let mut m = genl(cmd::GET_ADDR);
        encode_addr(&mut m, pm_attr::ADDR, &v6);
        let b = m.finish().expect("encode");
        let e = decode_endpoint_reply(&message(&b)).expect("decode");
        assert_eq!(e.addr, "fd00::5".parse::<IpAddr>().expect("ip"));
        assert_eq!(e.flags.bits(), 0x102, "unknown bits kept");
        assert_eq!(e.flags.names(), vec!["subflow"]);
    }

    #[test]
    fn events_use_network_order_ports() {
        let mut m = genl(10);
        m.u32(1, 0xabcd)
            .u8(3, 1)
            .u8(4, 2)
            .attr(5, &[10, 1, 0, 2])
            .attr(7, &[10, 1, 0, 1])
            .be16(9, 40000)
            .be16(10, 5201)
            .u8(11, 0);
        let b = m.finish().expect("encode");
        let e = decode_event(&message(&b)).expect("decode");
        assert_eq!(e.kind, EventKind::SubEstablished);
        assert_eq!(
            (e.token, e.loc_id, e.rem_id),
            (Some(0xabcd), Some(1), Some(2))
        );
        assert_eq!((e.sport, e.dport), (Some(40000), Some(5201)));
        assert_eq!(e.saddr, Some("10.1.0.2".parse().expect("ip")));
        assert_eq!(
            decode_event(&with_payload(&[99, 1, 0, 0]))
                .expect("unknown")
                .kind,
            EventKind::Other(99)
        );
    }

    #[test]
    fn malformed_bytes_never_panic() {
        let mut m = genl(cmd::GET_ADDR);
        encode_addr(
            &mut m,
            pm_attr::ADDR,
            &AddrNest {
                id: Some(1),
                addr: Some("10.0.0.1".parse().expect("ip")),
                ..AddrNest::default()
            },
        );
        let b = m.finish().expect("encode");
        for cut in 0..b.len() {
            let m = with_payload(&b[16.min(cut)..cut]);
            let _ = decode_endpoint_reply(&m);
            let _ = decode_event(&m);
            let _ = decode_limits(&m);
        }
        let nest = |payload| Attr {
            ty: pm_attr::ADDR,
            nested: true,
            payload,
            offset: 24,
        };
        assert!(
            decode_endpoint(nest(&[8, 0, 3, 0, 1, 2])).is_err(),
            "attribute past the end"
        );
        let e = decode_endpoint(nest(&[5, 0, 3, 0, 1, 0, 0, 0])).expect_err("short address");
        assert_eq!(e.offset, 28, "the address attribute's payload");
        assert!(decode_event(&with_payload(&[])).is_err());
    }
}

//! `mptcp_pm` messages (include/uapi/linux/mptcp_pm.h): pure encode/decode. Byte orders:
//! endpoint and event addresses are network order, endpoint ports host order, event
//! ports network order.

use std::net::IpAddr;

use nettune_netlink::proto::{self, DecodeError, MsgBuilder};

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
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl EndpointFlags {
    /// The names `ip mptcp` prints.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::SIGNAL, "signal"),
            (Self::SUBFLOW, "subflow"),
            (Self::BACKUP, "backup"),
            (Self::FULLMESH, "fullmesh"),
            (Self::IMPLICIT, "implicit"),
            (Self::LAMINAR, "laminar"),
        ]
        .into_iter()
        .filter(|(f, _)| self.contains(*f))
        .map(|(_, n)| n)
        .collect()
    }
}

/// A path-manager endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

fn err(what: &'static str) -> DecodeError {
    DecodeError { what, offset: 0 }
}

fn host_u16(p: &[u8]) -> Result<u16, DecodeError> {
    match p {
        [a, b, ..] => Ok(u16::from_ne_bytes([*a, *b])),
        _ => Err(err("short u16")),
    }
}

fn host_u32(p: &[u8]) -> Result<u32, DecodeError> {
    match p {
        [a, b, c, d, ..] => Ok(u32::from_ne_bytes([*a, *b, *c, *d])),
        _ => Err(err("short u32")),
    }
}

/// Decodes an `MPTCP_PM_ATTR_ADDR` nest.
pub(crate) fn decode_endpoint(nest: &[u8]) -> Result<Endpoint, DecodeError> {
    let (mut id, mut addr, mut port, mut flags, mut ifindex) =
        (0, None, None, EndpointFlags::empty(), None);
    proto::walk(nest, |ty, p| {
        match ty {
            ADDR_ID => id = proto::u8(p)?,
            ADDR_ADDR4 => addr = Some(proto::ipv4(p)?),
            ADDR_ADDR6 => addr = Some(proto::ipv6(p)?),
            ADDR_PORT => port = Some(host_u16(p)?).filter(|p| *p != 0),
            ADDR_FLAGS => flags = EndpointFlags::from_bits_retain(host_u32(p)?),
            ADDR_IF_IDX => ifindex = Some(host_u32(p)?).filter(|i| *i != 0),
            _ => {}
        }
        Ok(())
    })?;
    Ok(Endpoint {
        id,
        addr: addr.ok_or(err("endpoint without an address"))?,
        port,
        flags,
        ifindex,
    })
}

/// Decodes a GET_ADDR reply: genl header, then `MPTCP_PM_ATTR_ADDR`.
pub(crate) fn decode_endpoint_reply(payload: &[u8]) -> Result<Endpoint, DecodeError> {
    let mut out = None;
    proto::walk(payload.get(4..).unwrap_or_default(), |ty, p| {
        if ty == pm_attr::ADDR {
            out = Some(decode_endpoint(p)?);
        }
        Ok(())
    })?;
    out.ok_or(err("reply without an endpoint"))
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
    let n = m.begin_nest(ty);
    if let Some(addr) = a.addr {
        match addr {
            IpAddr::V4(v4) => {
                m.u16(ADDR_FAMILY, libc::AF_INET as u16)
                    .attr(ADDR_ADDR4, &v4.octets());
            }
            IpAddr::V6(v6) => {
                m.u16(ADDR_FAMILY, libc::AF_INET6 as u16)
                    .attr(ADDR_ADDR6, &v6.octets());
            }
        }
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
    m.end_nest(n);
}

/// Decodes GET_LIMITS: (subflows, add_addr_accepted).
pub(crate) fn decode_limits(payload: &[u8]) -> Result<(u32, u32), DecodeError> {
    let (mut subflows, mut accepted) = (None, None);
    proto::walk(payload.get(4..).unwrap_or_default(), |ty, p| {
        match ty {
            pm_attr::SUBFLOWS => subflows = Some(host_u32(p)?),
            pm_attr::RCV_ADD_ADDRS => accepted = Some(host_u32(p)?),
            _ => {}
        }
        Ok(())
    })?;
    Ok((subflows.unwrap_or(0), accepted.unwrap_or(0)))
}

/// The kind of a path-manager event (`MPTCP_EVENT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A connection was created.
    Created,
    /// A connection is established.
    Established,
    /// A connection closed.
    Closed,
    /// The peer announced an address.
    Announced,
    /// The peer removed an address.
    Removed,
    /// A subflow is established.
    SubEstablished,
    /// A subflow closed.
    SubClosed,
    /// A subflow's backup priority changed.
    SubPriority,
    /// A listener was created.
    ListenerCreated,
    /// A listener closed.
    ListenerClosed,
    /// An event this crate does not know.
    Other(u8),
}

impl From<u8> for EventKind {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Created,
            2 => Self::Established,
            3 => Self::Closed,
            6 => Self::Announced,
            7 => Self::Removed,
            10 => Self::SubEstablished,
            11 => Self::SubClosed,
            13 => Self::SubPriority,
            15 => Self::ListenerCreated,
            16 => Self::ListenerClosed,
            v => Self::Other(v),
        }
    }
}

/// A path-manager event; fields the event does not carry are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
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
pub(crate) fn decode_event(payload: &[u8]) -> Result<Event, DecodeError> {
    let kind = EventKind::from(*payload.first().ok_or(err("empty event"))?);
    let mut e = Event {
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
    proto::walk(payload.get(4..).unwrap_or_default(), |ty, p| {
        match ty {
            1 => e.token = Some(host_u32(p)?),
            3 => e.loc_id = Some(proto::u8(p)?),
            4 => e.rem_id = Some(proto::u8(p)?),
            5 => e.saddr = Some(proto::ipv4(p)?),
            6 => e.saddr = Some(proto::ipv6(p)?),
            7 => e.daddr = Some(proto::ipv4(p)?),
            8 => e.daddr = Some(proto::ipv6(p)?),
            9 => e.sport = Some(proto::be16(p)?),
            10 => e.dport = Some(proto::be16(p)?),
            11 => e.backup = Some(proto::u8(p)? != 0),
            12 => e.error = Some(proto::u8(p)?),
            13 => e.flags = Some(host_u16(p)?),
            15 => e.ifindex = Some(host_u32(p)? as i32),
            16 => e.reset_reason = Some(host_u32(p)?),
            18 => e.server_side = Some(proto::u8(p)? != 0),
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
        m.bytes(&[cmd, 1, 0, 0]);
        m
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
        let b = m.finish();
        // The address is network order, the port host order.
        assert!(b.windows(4).any(|w| w == [10, 0, 0, 2]));
        assert!(b.windows(2).any(|w| w == 8080u16.to_ne_bytes()));
        let e = decode_endpoint_reply(&b[16..]).expect("decode");
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
        let e = decode_endpoint_reply(&m.finish()[16..]).expect("decode");
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
        let e = decode_event(&m.finish()[16..]).expect("decode");
        assert_eq!(e.kind, EventKind::SubEstablished);
        assert_eq!(
            (e.token, e.loc_id, e.rem_id),
            (Some(0xabcd), Some(1), Some(2))
        );
        assert_eq!((e.sport, e.dport), (Some(40000), Some(5201)));
        assert_eq!(e.saddr, Some("10.1.0.2".parse().expect("ip")));
        assert_eq!(
            decode_event(&[99, 1, 0, 0]).expect("unknown").kind,
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
        let b = m.finish();
        for cut in 0..b.len() {
            let _ = decode_endpoint_reply(&b[16.min(cut)..cut]);
            let _ = decode_event(&b[16.min(cut)..cut]);
            let _ = decode_limits(&b[16.min(cut)..cut]);
        }
        assert!(
            decode_endpoint(&[8, 0, 3, 0, 1, 2]).is_err(),
            "attribute past the end"
        );
        assert!(
            decode_endpoint(&[5, 0, 3, 0, 1, 0, 0, 0]).is_err(),
            "short address"
        );
        assert!(decode_event(&[]).is_err());
    }
}

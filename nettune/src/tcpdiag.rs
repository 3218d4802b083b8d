//! The established TCP sockets of a namespace and their round-trip times, over
//! `NETLINK_SOCK_DIAG` (sock_diag(7), `SOCK_DIAG_BY_FAMILY` with `INET_DIAG_INFO`): the
//! kernel's `tcp_info` of every socket, as `ss -ti` reads it, without touching the sockets.

use nettune_core::NetNs;
use nettune_netlink::proto::{self as nl, MsgBuilder};
use nettune_netlink::{Handle, NlFamily};
use nettune_sockopt::TcpInfo;

/// `SOCK_DIAG_BY_FAMILY`.
const BY_FAMILY: u16 = 20;
/// `INET_DIAG_INFO`: the `tcp_info` attribute.
const INFO: u16 = 2;
/// The size of `struct inet_diag_msg`, before the attributes.
const MSG_LEN: usize = 72;
/// `1 << TCP_ESTABLISHED`.
const ESTABLISHED: u32 = 1 << 1;

/// What one dump of the established sockets found.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct TcpRtt {
    /// Established sockets (both families).
    pub(crate) sockets: u64,
    /// Their mean smoothed RTT, microseconds.
    pub(crate) mean_us: u64,
    /// The largest smoothed RTT, microseconds.
    pub(crate) max_us: u64,
}

/// A `NETLINK_SOCK_DIAG` handle in a namespace.
#[derive(Debug)]
pub(crate) struct TcpDiag {
    nl: Handle,
}

impl TcpDiag {
    pub(crate) fn open_in(ns: &NetNs) -> Result<Self, String> {
        Handle::open_in(ns, NlFamily::SockOrInetDiag)
            .map(|nl| Self { nl })
            .map_err(|e| format!("sock_diag: {}", crate::error::report(&e)))
    }

    /// The established TCP sockets of both families and their RTTs.
    pub(crate) fn rtt(&self) -> Result<TcpRtt, String> {
        let mut rtts: Vec<u64> = Vec::new();
        for family in [libc::AF_INET, libc::AF_INET6] {
            let req = |m: &mut MsgBuilder| -> Result<(), String> {
                // struct inet_diag_req_v2: family, protocol, ext, pad, states, sockid.
                let mut b = [0u8; 56];
                b[0] = u8::try_from(family).unwrap_or_default();
                b[1] = u8::try_from(libc::IPPROTO_TCP).unwrap_or_default();
                b[2] = 1 << (INFO - 1);
                b[4..8].copy_from_slice(&ESTABLISHED.to_ne_bytes());
                m.header(&b);
                Ok(())
            };
            self.nl
                .transact::<String>(BY_FAMILY, nl::flags::DUMP, req, |msg| {
                    for a in msg.attrs(MSG_LEN).flatten() {
                        if a.ty == INFO {
                            if let Ok(info) = TcpInfo::decode(a.payload) {
                                rtts.push(
                                    u64::try_from(info.rtt().as_micros()).unwrap_or(u64::MAX),
                                );
                            }
                        }
                    }
                    Ok(())
                })
                .map_err(|f| {
                    f.into_caller(|e| format!("sock_diag dump: {}", crate::error::report(&e)))
                })?;
        }
        let sockets = rtts.len() as u64;
        Ok(TcpRtt {
            sockets,
            mean_us: rtts.iter().sum::<u64>().checked_div(sockets).unwrap_or(0),
            max_us: rtts.iter().copied().max().unwrap_or(0),
        })
    }
}

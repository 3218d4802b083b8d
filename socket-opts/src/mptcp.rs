//! MPTCP sockets (`IPPROTO_MPTCP`, Documentation/networking/mptcp.rst): creating them,
//! telling a fallback to plain TCP, and reading `MPTCP_INFO` and the subflow addresses.
//!
//! An MPTCP socket takes the options of the TCP functions of this crate where the kernel
//! supports them (congestion control, fast open, not-sent low-water mark, TCP_INFO of the
//! first subflow); others (`SO_MAX_PACING_RATE`, `TCP_USER_TIMEOUT`, `TCP_QUICKACK`) give
//! [`Error::Unsupported`] saying that MPTCP sockets do not support them.

use std::io;
use std::net::{
    Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream,
};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::{Error, Result};
use crate::sys;

fn socket_error(source: io::Error) -> Error {
    let reason = match source.raw_os_error() {
        Some(libc::EPROTONOSUPPORT) => "this kernel has no MPTCP (CONFIG_MPTCP)".to_owned(),
        Some(libc::ENOPROTOOPT) => {
            "MPTCP is disabled in this network namespace: set net.mptcp.enabled to 1".to_owned()
        }
        _ => {
            return Error::Io {
                op: "create",
                option: "IPPROTO_MPTCP",
                source,
            };
        }
    };
    Error::Unsupported {
        option: "IPPROTO_MPTCP",
        reason,
        source,
    }
}

fn new_socket(addr: &SocketAddr) -> Result<Socket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    Socket::new(domain, Type::STREAM, Some(Protocol::MPTCP)).map_err(socket_error)
}

/// A new, unconnected MPTCP socket of `addr`'s family, to set options on before
/// connecting (for example [`crate::set_fastopen_connect`]).
///
/// # Errors
///
/// [`Error::Unsupported`] when the kernel lacks MPTCP or `net.mptcp.enabled` is 0.
pub fn socket(addr: &SocketAddr) -> Result<OwnedFd> {
    new_socket(addr).map(OwnedFd::from)
}

/// Connects an MPTCP socket to `addr`. The peer may not speak MPTCP: see [`is_fallback`].
///
/// # Errors
///
/// [`Error::Unsupported`] as [`socket`]; [`Error::Io`] when the connection fails.
pub fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = new_socket(&addr)?;
    s.connect(&SockAddr::from(addr))
        .map_err(|source| Error::Io {
            op: "connect",
            option: "IPPROTO_MPTCP",
            source,
        })?;
    Ok(s.into())
}

/// An MPTCP listener bound to `addr` with `SO_REUSEADDR`.
///
/// # Errors
///
/// [`Error::Unsupported`] as [`socket`]; [`Error::Io`] when binding or listening fails.
pub fn listen(addr: SocketAddr, backlog: i32) -> Result<TcpListener> {
    let s = new_socket(&addr)?;
    let io_err = |source| Error::Io {
        op: "listen",
        option: "IPPROTO_MPTCP",
        source,
    };
    s.set_reuse_address(true).map_err(io_err)?;
    s.bind(&SockAddr::from(addr)).map_err(io_err)?;
    s.listen(backlog).map_err(io_err)?;
    Ok(s.into())
}

fn require_mptcp(fd: BorrowedFd<'_>, option: &'static str) -> Result<()> {
    if crate::opts::is_mptcp(fd) {
        Ok(())
    } else {
        Err(Error::Misuse {
            option,
            reason: "not an MPTCP socket (create it with nettune_sockopt::mptcp)".to_owned(),
        })
    }
}

/// Whether an MPTCP connection fell back to plain TCP (the peer or a middlebox does not
/// speak MPTCP).
///
/// # Errors
///
/// [`Error::Misuse`] for a socket that is not MPTCP.
pub fn is_fallback(fd: impl AsFd) -> Result<bool> {
    let fd = fd.as_fd();
    require_mptcp(fd, "MPTCP_INFO")?;
    // A zero-length MPTCP_INFO read succeeds on an MPTCP connection and fails on one that
    // fell back (the kernel then answers as plain TCP).
    match sys::get_bytes(fd, sys::SOL_MPTCP, sys::MPTCP_INFO, &mut []) {
        Ok(_) => Ok(false),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOPROTOOPT)) => {
            Ok(true)
        }
        Err(source) => Err(Error::Io {
            op: "get",
            option: "MPTCP_INFO",
            source,
        }),
    }
}

bitflags::bitflags! {
    /// `mptcpi_flags`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MptcpFlags: u32 {
        /// The connection fell back to TCP.
        const FALLBACK = 0x1;
        /// The peer's key was received.
        const REMOTE_KEY_RECEIVED = 0x2;
        const _ = !0;
    }
}

/// A decoded `struct mptcp_info`. Fields a kernel did not send are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MptcpInfo {
    /// How many bytes the kernel returned.
    pub len: usize,
    /// Extra subflows (besides the first).
    pub subflows: u8,
    /// ADD_ADDRs announced.
    pub add_addr_signal: u8,
    /// ADD_ADDRs accepted.
    pub add_addr_accepted: u8,
    /// Limit of extra subflows.
    pub subflows_max: u8,
    /// Limit of announced addresses.
    pub add_addr_signal_max: u8,
    /// Limit of accepted addresses.
    pub add_addr_accepted_max: u8,
    /// Flags.
    pub flags: MptcpFlags,
    /// The connection token.
    pub token: u32,
    /// Data sequence of the next byte to write.
    pub write_seq: u64,
    /// Oldest unacknowledged data sequence.
    pub snd_una: u64,
    /// Next data sequence expected.
    pub rcv_nxt: u64,
    /// Local addresses used (5.12).
    pub local_addr_used: Option<u8>,
    /// Local address limit (5.12).
    pub local_addr_max: Option<u8>,
    /// DSS checksums on (5.14).
    pub csum_enabled: Option<bool>,
    /// Retransmissions (6.5).
    pub retransmits: Option<u32>,
    /// Bytes retransmitted (6.5).
    pub bytes_retrans: Option<u64>,
    /// Bytes sent (6.5).
    pub bytes_sent: Option<u64>,
    /// Bytes received (6.5).
    pub bytes_received: Option<u64>,
    /// Bytes acknowledged (6.5).
    pub bytes_acked: Option<u64>,
    /// All subflows, the first included (6.8).
    pub subflows_total: Option<u8>,
}

impl MptcpInfo {
    /// Decodes the bytes of `MPTCP_INFO`.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when fewer than the 40 bytes of Linux 5.9 came.
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() < 40 {
            return Err(Error::decode(
                "MPTCP_INFO",
                format!("{} bytes, fewer than the 40 of Linux 5.9", b.len()),
            ));
        }
        let u8_at = |o: usize| b.get(o).copied();
        let u32_at = |o: usize| {
            b.get(o..o + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_ne_bytes)
        };
        let u64_at = |o: usize| {
            b.get(o..o + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_ne_bytes)
        };
        Ok(Self {
            len: b.len(),
            subflows: u8_at(0).unwrap_or_default(),
            add_addr_signal: u8_at(1).unwrap_or_default(),
            add_addr_accepted: u8_at(2).unwrap_or_default(),
            subflows_max: u8_at(3).unwrap_or_default(),
            add_addr_signal_max: u8_at(4).unwrap_or_default(),
            add_addr_accepted_max: u8_at(5).unwrap_or_default(),
            flags: MptcpFlags::from_bits_retain(u32_at(8).unwrap_or_default()),
            token: u32_at(12).unwrap_or_default(),
            write_seq: u64_at(16).unwrap_or_default(),
            snd_una: u64_at(24).unwrap_or_default(),
            rcv_nxt: u64_at(32).unwrap_or_default(),
            local_addr_used: u8_at(40),
            local_addr_max: u8_at(41),
            csum_enabled: u8_at(42).map(|v| v != 0),
            retransmits: u32_at(44),
            bytes_retrans: u64_at(48),
            bytes_sent: u64_at(56),
            bytes_received: u64_at(64),
            bytes_acked: u64_at(72),
            subflows_total: u8_at(80),
        })
    }
}

/// Reads `MPTCP_INFO`.
///
/// # Errors
///
/// [`Error::Misuse`] for a socket that is not MPTCP; [`Error::Unsupported`] when the
/// connection fell back to TCP.
#[doc(alias = "MPTCP_INFO")]
pub fn info(fd: impl AsFd) -> Result<MptcpInfo> {
    let fd = fd.as_fd();
    require_mptcp(fd, "MPTCP_INFO")?;
    let mut buf = [0u8; 96];
    match sys::get_bytes(fd, sys::SOL_MPTCP, sys::MPTCP_INFO, &mut buf) {
        Ok(n) => MptcpInfo::decode(&buf[..n]),
        Err(source)
            if matches!(
                source.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::ENOPROTOOPT)
            ) =>
        {
            Err(Error::Unsupported {
                option: "MPTCP_INFO",
                reason: "the connection fell back to plain TCP".to_owned(),
                source,
            })
        }
        Err(source) => Err(Error::Io {
            op: "get",
            option: "MPTCP_INFO",
            source,
        }),
    }
}

/// Size of `struct mptcp_subflow_data` and of one `struct mptcp_subflow_addrs`.
const HEADER: usize = 16;
const ADDRS: usize = 256;

/// Decodes a `sockaddr_in`/`sockaddr_in6` at the start of `b`.
fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

/// One subflow of an MPTCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subflow {
    /// The local address and port.
    pub local: SocketAddr,
    /// The remote address and port.
    pub remote: SocketAddr,
}

/// The entries of a `struct mptcp_subflow_data` reply (`MPTCP_SUBFLOW_ADDRS`,
/// `MPTCP_TCPINFO`): each cut to what both the kernel and the caller know of it.
fn subflow_entries<'b>(b: &'b [u8], option: &'static str) -> Result<Vec<&'b [u8]>> {
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_ne_bytes)
    };
    let bad = |what: &str| Error::decode(option, what);
    let (Some(num), Some(size_kernel), Some(size_user)) = (u32_at(4), u32_at(8), u32_at(12)) else {
        return Err(bad("reply shorter than its header"));
    };
    if size_user == 0 {
        return Err(bad("entries of size 0"));
    }
    let stride = size_user as usize;
    let step = stride.min(size_kernel as usize);
    // The kernel writes at most what fits; a count beyond the bytes is not trusted.
    let fits = b.len().saturating_sub(HEADER) / stride;
    Ok((0..(num as usize).min(fits))
        .map(|i| {
            let start = HEADER + i * stride;
            &b[start..(start + step).min(b.len())]
        })
        .collect())
}

/// Decodes an `MPTCP_SUBFLOW_ADDRS` reply; entries of unknown families are skipped.
///
/// # Errors
///
/// [`Error::Decode`] when the header is cut short.
pub fn decode_subflows(b: &[u8]) -> Result<Vec<Subflow>> {
    let half = ADDRS / 2;
    Ok(subflow_entries(b, "MPTCP_SUBFLOW_ADDRS")?
        .into_iter()
        .filter_map(|entry| {
            Some(Subflow {
                local: sockaddr(entry)?,
                remote: entry.get(half..).and_then(sockaddr)?,
            })
        })
        .collect())
}

/// Decodes an `MPTCP_TCPINFO` reply: each subflow's `struct tcp_info`, by the length the
/// kernel used.
///
/// # Errors
///
/// [`Error::Decode`] when the header is cut short or an entry is shorter than
/// [`TCP_INFO_MIN_LEN`](crate::TCP_INFO_MIN_LEN).
pub fn decode_subflow_tcp_info(b: &[u8]) -> Result<Vec<crate::TcpInfo>> {
    subflow_entries(b, "MPTCP_TCPINFO")?
        .into_iter()
        .map(crate::TcpInfo::decode)
        .collect()
}

/// Reads a `struct mptcp_subflow_data` option with room for every subflow.
fn subflow_data(
    fd: BorrowedFd<'_>,
    num: libc::c_int,
    option: &'static str,
    entry: usize,
) -> Result<Vec<u8>> {
    require_mptcp(fd, option)?;
    let mut room = 8usize;
    loop {
        let mut buf = vec![0u8; HEADER + room * entry];
        buf[0..4].copy_from_slice(&(HEADER as u32).to_ne_bytes());
        buf[12..16].copy_from_slice(&(entry as u32).to_ne_bytes());
        let n = sys::get_bytes(fd, sys::SOL_MPTCP, num, &mut buf).map_err(|source| match source
            .raw_os_error()
        {
            Some(libc::EOPNOTSUPP | libc::ENOPROTOOPT) => Error::Unsupported {
                option,
                reason: "the connection fell back to plain TCP, or the kernel predates 5.16"
                    .to_owned(),
                source,
            },
            _ => Error::Io {
                op: "get",
                option,
                source,
            },
        })?;
        let num = buf
            .get(4..8)
            .and_then(|s| s.try_into().ok())
            .map_or(0, u32::from_ne_bytes) as usize;
        if num > room && room < 1024 {
            room = num;
            continue;
        }
        buf.truncate(n);
        return Ok(buf);
    }
}

/// The local and remote addresses of every subflow (`MPTCP_SUBFLOW_ADDRS`).
///
/// # Errors
///
/// [`Error::Misuse`] for a socket that is not MPTCP; [`Error::Unsupported`] when the
/// connection fell back to TCP or the kernel predates 5.16.
#[doc(alias = "MPTCP_SUBFLOW_ADDRS")]
pub fn subflows(fd: impl AsFd) -> Result<Vec<Subflow>> {
    let b = subflow_data(
        fd.as_fd(),
        sys::MPTCP_SUBFLOW_ADDRS,
        "MPTCP_SUBFLOW_ADDRS",
        ADDRS,
    )?;
    decode_subflows(&b)
}

/// Each subflow's `TCP_INFO` (`MPTCP_TCPINFO`): RTT, congestion window, retransmissions
/// and delivery rate per path, in the order of [`subflows`].
///
/// # Errors
///
/// As [`subflows`].
#[doc(alias = "MPTCP_TCPINFO")]
pub fn subflow_tcp_info(fd: impl AsFd) -> Result<Vec<crate::TcpInfo>> {
    let b = subflow_data(
        fd.as_fd(),
        sys::MPTCP_TCPINFO,
        "MPTCP_TCPINFO",
        crate::TCP_INFO_MAX_LEN,
    )?;
    decode_subflow_tcp_info(&b)
}

/// One subflow as `MPTCP_FULL_INFO` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubflowInfo {
    /// The subflow's id within the connection (the first is 1).
    pub id: u32,
    /// Its local and remote addresses.
    pub addrs: Subflow,
    /// Its `TCP_INFO`: RTT, congestion window, retransmissions of this path.
    pub tcp_info: crate::TcpInfo,
}

/// Everything about an MPTCP connection in one consistent read (`MPTCP_FULL_INFO`, 6.6):
/// the connection's `MPTCP_INFO`, and per subflow its id, addresses and `TCP_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullInfo {
    /// The connection.
    pub info: MptcpInfo,
    /// The subflows, as many as the kernel reported.
    pub subflows: Vec<SubflowInfo>,
}

/// Reads `MPTCP_FULL_INFO`: the connection and each subflow (id, addresses, `TCP_INFO`)
/// under one socket lock, so the per-path figures belong together.
///
/// # Errors
///
/// [`Error::Misuse`] for a socket that is not MPTCP; [`Error::Unsupported`] when the
/// connection fell back to TCP or the kernel predates 6.6; [`Error::Decode`] for a reply
/// this crate cannot read.
#[doc(alias = "MPTCP_FULL_INFO")]
pub fn full_info(fd: impl AsFd) -> Result<FullInfo> {
    const OPTION: &str = "MPTCP_FULL_INFO";
    /// `struct mptcp_subflow_info`: an id, then (8-byte aligned) the address pair.
    const SFINFO: usize = 8 + ADDRS;
    let fd = fd.as_fd();
    require_mptcp(fd, OPTION)?;
    let ti = crate::TCP_INFO_MAX_LEN;
    let mut room = 8usize;
    loop {
        let mut head = [0u8; sys::FULL_INFO_HEAD + 96];
        let mut subflows = vec![0u8; room * SFINFO];
        let mut tcp_infos = vec![0u8; room * ti];
        let n = sys::mptcp_full_info(fd, &mut head, &mut subflows, SFINFO, &mut tcp_infos, ti)
            .map_err(|source| match source.raw_os_error() {
                Some(libc::EOPNOTSUPP | libc::ENOPROTOOPT) => Error::Unsupported {
                    option: OPTION,
                    reason: "the connection fell back to plain TCP, or the kernel predates 6.6"
                        .to_owned(),
                    source,
                },
                _ => Error::Io {
                    op: "get",
                    option: OPTION,
                    source,
                },
            })?;
        let word = |o: usize| {
            head.get(o..o + 4)
                .and_then(|s| s.try_into().ok())
                .map_or(0, u32::from_ne_bytes) as usize
        };
        let (ti_user, sf_user, count) = (word(4), word(12), word(16));
        if count > room && room < 1024 {
            room = count;
            continue;
        }
        let info = MptcpInfo::decode(head.get(sys::FULL_INFO_HEAD..n).unwrap_or_default())?;
        if ti_user == 0 || sf_user < 8 {
            return Err(Error::decode(OPTION, "entries of size 0"));
        }
        let mut out = Vec::with_capacity(count.min(room));
        for i in 0..count.min(room) {
            let sf = subflows
                .get(i * SFINFO..i * SFINFO + sf_user.min(SFINFO))
                .ok_or_else(|| Error::decode(OPTION, "subflow entry out of range"))?;
            let t = tcp_infos
                .get(i * ti..i * ti + ti_user.min(ti))
                .ok_or_else(|| Error::decode(OPTION, "tcp_info entry out of range"))?;
            let id = u32::from_ne_bytes(sf[0..4].try_into().unwrap_or_default());
            let addrs = sf.get(8..).unwrap_or_default();
            let (Some(local), Some(remote)) =
                (sockaddr(addrs), addrs.get(ADDRS / 2..).and_then(sockaddr))
            else {
                continue;
            };
            out.push(SubflowInfo {
                id,
                addrs: Subflow { local, remote },
                tcp_info: crate::TcpInfo::decode(t)?,
            });
        }
        return Ok(FullInfo {
            info,
            subflows: out,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mptcp_info_generations() {
        let mut b = vec![0u8; 40];
        b[0] = 1;
        b[8..12].copy_from_slice(&0x2u32.to_ne_bytes());
        b[12..16].copy_from_slice(&0xdead_beefu32.to_ne_bytes());
        let i = MptcpInfo::decode(&b).expect("5.9");
        assert_eq!((i.subflows, i.token), (1, 0xdead_beef));
        assert_eq!(i.flags, MptcpFlags::REMOTE_KEY_RECEIVED);
        assert_eq!(i.bytes_sent, None);
        assert_eq!(i.subflows_total, None);
        let mut full = vec![0u8; 96];
        full[..40].copy_from_slice(&b);
        full[56..64].copy_from_slice(&1234u64.to_ne_bytes());
        full[80] = 2;
        let i = MptcpInfo::decode(&full).expect("6.10");
        assert_eq!(i.bytes_sent, Some(1234));
        assert_eq!(i.subflows_total, Some(2));
        assert!(MptcpInfo::decode(&full[..39]).is_err());
    }

    fn sin(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut v = vec![0u8; 128];
        v[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v[2..4].copy_from_slice(&port.to_be_bytes());
        v[4..8].copy_from_slice(&ip);
        v
    }

    #[test]
    fn subflow_addresses() {
        let mut b = Vec::new();
        for v in [16u32, 2, 256, 256] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend(sin([10, 0, 0, 1], 40000));
        b.extend(sin([10, 0, 0, 2], 5201));
        b.extend(sin([10, 1, 0, 1], 40001));
        b.extend(sin([10, 1, 0, 2], 5201));
        let s = decode_subflows(&b).expect("decode");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].local, "10.1.0.1:40001".parse().expect("addr"));
        assert_eq!(s[1].remote, "10.1.0.2:5201".parse().expect("addr"));
        // Truncated and hostile replies.
        assert!(decode_subflows(&b[..10]).is_err());
        assert_eq!(decode_subflows(&b[..16 + 100]).expect("cut").len(), 0);
        let mut hostile = b.clone();
        hostile[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(decode_subflows(&hostile).expect("hostile").len(), 2);
        // Found by the tcp_info fuzz target: entries of size 0 with a huge count looped
        // four billion times over the same bytes.
        let mut zero = hostile.clone();
        zero[12..16].copy_from_slice(&0u32.to_ne_bytes());
        assert!(decode_subflows(&zero).is_err());
    }
}

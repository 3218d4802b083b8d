//! The socket option numbers missing from `libc`; the system calls themselves are
//! nettune-core's [`raw`](nettune_core::raw) wrappers, but for `MPTCP_FULL_INFO`, whose
//! request carries pointers the kernel writes through.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

pub(crate) use libc::c_int;

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "s390x"
)))]
compile_error!("socket-opts uses the asm-generic socket option numbers; this architecture differs");

// Levels and protocols.
pub(crate) const SOL_SOCKET: c_int = libc::SOL_SOCKET;
pub(crate) const SOL_TCP: c_int = libc::IPPROTO_TCP;
pub(crate) const SOL_IP: c_int = libc::IPPROTO_IP;
pub(crate) const SOL_IPV6: c_int = libc::IPPROTO_IPV6;
pub(crate) const SOL_MPTCP: c_int = 284;
pub(crate) const IPPROTO_MPTCP: c_int = 262;

// SOL_SOCKET options (asm-generic/socket.h).
pub(crate) const SO_DOMAIN: c_int = 39;
pub(crate) const SO_PROTOCOL: c_int = 38;
pub(crate) const SO_ACCEPTCONN: c_int = 30;
pub(crate) const SO_KEEPALIVE: c_int = 9;
pub(crate) const SO_SNDBUF: c_int = 7;
pub(crate) const SO_RCVBUF: c_int = 8;
pub(crate) const SO_SNDBUFFORCE: c_int = 32;
pub(crate) const SO_RCVBUFFORCE: c_int = 33;
pub(crate) const SO_PRIORITY: c_int = 12;
pub(crate) const SO_REUSEPORT: c_int = 15;
pub(crate) const SO_MARK: c_int = 36;
pub(crate) const SO_BUSY_POLL: c_int = 46;
pub(crate) const SO_MAX_PACING_RATE: c_int = 47;
pub(crate) const SO_INCOMING_CPU: c_int = 49;
pub(crate) const SO_ZEROCOPY: c_int = 60;
pub(crate) const SO_PREFER_BUSY_POLL: c_int = 69;
pub(crate) const SO_BUSY_POLL_BUDGET: c_int = 70;
/// `SO_TIMESTAMPING_OLD`: its control messages carry `struct timespec`, 64-bit here.
pub(crate) const SO_TIMESTAMPING: c_int = 37;

// SOL_TCP options (linux/tcp.h).
pub(crate) const TCP_NODELAY: c_int = 1;
pub(crate) const TCP_MAXSEG: c_int = 2;
pub(crate) const TCP_CORK: c_int = 3;
pub(crate) const TCP_KEEPIDLE: c_int = 4;
pub(crate) const TCP_KEEPINTVL: c_int = 5;
pub(crate) const TCP_KEEPCNT: c_int = 6;
pub(crate) const TCP_DEFER_ACCEPT: c_int = 9;
pub(crate) const TCP_WINDOW_CLAMP: c_int = 10;
pub(crate) const TCP_INFO: c_int = 11;
pub(crate) const TCP_QUICKACK: c_int = 12;
pub(crate) const TCP_CONGESTION: c_int = 13;
pub(crate) const TCP_THIN_LINEAR_TIMEOUTS: c_int = 16;
pub(crate) const TCP_USER_TIMEOUT: c_int = 18;
pub(crate) const TCP_FASTOPEN: c_int = 23;
pub(crate) const TCP_NOTSENT_LOWAT: c_int = 25;
pub(crate) const TCP_CC_INFO: c_int = 26;
pub(crate) const TCP_FASTOPEN_CONNECT: c_int = 30;

// IP and IPv6 options.
pub(crate) const IP_TOS: c_int = 1;
pub(crate) const IPV6_TCLASS: c_int = 67;
pub(crate) const IPV6_V6ONLY: c_int = 26;

// SOL_MPTCP options (linux/mptcp.h).
pub(crate) const MPTCP_INFO: c_int = 1;
pub(crate) const MPTCP_TCPINFO: c_int = 2;
pub(crate) const MPTCP_FULL_INFO: c_int = 4;
pub(crate) const MPTCP_SUBFLOW_ADDRS: c_int = 3;

pub(crate) use nettune_core::raw::{
    getsockopt as get_bytes, getsockopt_int as get_int, setsockopt as set_bytes,
    setsockopt_int as set_int,
};

/// The fixed part of `struct mptcp_full_info`, before its `struct mptcp_info`.
pub(crate) const FULL_INFO_HEAD: usize = 40;

/// `getsockopt(MPTCP_FULL_INFO)`: `head` is the `struct mptcp_full_info` (at least
/// [`FULL_INFO_HEAD`] bytes; the kernel fills what follows with `struct mptcp_info`), and
/// the kernel writes one `struct mptcp_subflow_info` of `sf_entry` bytes into `subflows`
/// and one `struct tcp_info` of `ti_entry` bytes into `tcp_infos` per subflow, as many as
/// both hold. Returns the bytes of `head` the kernel wrote.
pub(crate) fn mptcp_full_info(
    fd: BorrowedFd<'_>,
    head: &mut [u8],
    subflows: &mut [u8],
    sf_entry: usize,
    tcp_infos: &mut [u8],
    ti_entry: usize,
) -> io::Result<usize> {
    if head.len() < FULL_INFO_HEAD || sf_entry == 0 || ti_entry == 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let room = (subflows.len() / sf_entry).min(tcp_infos.len() / ti_entry);
    let word = |v: usize| u32::try_from(v).unwrap_or(u32::MAX).to_ne_bytes();
    head[..FULL_INFO_HEAD].fill(0);
    head[4..8].copy_from_slice(&word(ti_entry));
    head[12..16].copy_from_slice(&word(sf_entry));
    head[20..24].copy_from_slice(&word(room));
    let address = |p: *mut u8| (p.expose_provenance() as u64).to_ne_bytes();
    head[24..32].copy_from_slice(&address(subflows.as_mut_ptr()));
    head[32..40].copy_from_slice(&address(tcp_infos.as_mut_ptr()));
    let mut len = libc::socklen_t::try_from(head.len()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `head` is valid for writes of `len` bytes and `len` points to a live
    // socklen_t. The two addresses in `head` point to `subflows` and `tcp_infos`, which are
    // exclusively borrowed for this call and hold `room` entries of `sf_entry` and
    // `ti_entry` bytes; the kernel writes at most `room` entries of at most those sizes
    // (it caps `size_*_user` to its own sizes and stops at `size_arrays_user`).
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_MPTCP,
            MPTCP_FULL_INFO,
            head.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(len).unwrap_or(0).min(head.len()))
}

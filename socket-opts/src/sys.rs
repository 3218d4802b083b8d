//! The only unsafe code of socket-opts: `getsockopt(2)`/`setsockopt(2)` on byte buffers.
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

// SOL_MPTCP options (linux/mptcp.h).
pub(crate) const MPTCP_INFO: c_int = 1;
pub(crate) const MPTCP_SUBFLOW_ADDRS: c_int = 3;

/// `getsockopt` into `buf`; returns the length the kernel wrote.
pub(crate) fn get_bytes(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `buf` is valid for writes of `len` bytes and `len` points to a live socklen_t;
    // the kernel writes at most `len` bytes and updates `len`.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((len as usize).min(buf.len()))
}

/// `setsockopt` from `value`.
pub(crate) fn set_bytes(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: &[u8],
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `value` is valid for reads of `len` bytes for the duration of the call.
    let ret = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), len) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `getsockopt` of a C `int`.
pub(crate) fn get_int(fd: BorrowedFd<'_>, level: c_int, name: c_int) -> io::Result<c_int> {
    let mut buf = [0u8; 4];
    let n = get_bytes(fd, level, name, &mut buf)?;
    if n < 4 {
        // Some options answer with a shorter value; widen what came back.
        let mut wide = [0u8; 4];
        wide[..n].copy_from_slice(&buf[..n]);
        return Ok(c_int::from_ne_bytes(wide));
    }
    Ok(c_int::from_ne_bytes(buf))
}

/// `setsockopt` of a C `int`.
pub(crate) fn set_int(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: c_int,
) -> io::Result<()> {
    set_bytes(fd, level, name, &value.to_ne_bytes())
}

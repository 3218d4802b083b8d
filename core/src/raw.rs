//! Safe wrappers of the raw system calls that several nettune crates make: typed
//! `getsockopt`/`setsockopt`, the `SIOCETHTOOL` ioctl, and a socket's own network
//! namespace (`SIOCGSKNS`). They return the OS error as it is; the crates above add what
//! failed and why. Benchmarks use them as the floor of "the same syscalls, no abstraction".

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use crate::sys;

pub use libc::c_int;

/// `getsockopt(fd, level, name)` into `buf`; returns the length the kernel wrote.
///
/// # Errors
///
/// The OS error.
pub fn getsockopt(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    sys::getsockopt(fd, level, name, buf)
}

/// `setsockopt(fd, level, name, value)`.
///
/// # Errors
///
/// The OS error.
pub fn setsockopt(fd: BorrowedFd<'_>, level: c_int, name: c_int, value: &[u8]) -> io::Result<()> {
    sys::setsockopt(fd, level, name, value)
}

/// `getsockopt` of a C `int`; a shorter answer (some options return one byte) is widened.
///
/// # Errors
///
/// The OS error.
pub fn getsockopt_int(fd: BorrowedFd<'_>, level: c_int, name: c_int) -> io::Result<c_int> {
    let mut buf = [0u8; 4];
    let n = sys::getsockopt(fd, level, name, &mut buf)?;
    let mut wide = [0u8; 4];
    wide[..n].copy_from_slice(&buf[..n]);
    Ok(c_int::from_ne_bytes(wide))
}

/// `setsockopt` of a C `int`.
///
/// # Errors
///
/// The OS error.
pub fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: c_int,
) -> io::Result<()> {
    sys::setsockopt(fd, level, name, &value.to_ne_bytes())
}

/// `getsockopt` of a `u64` (`SO_MAX_PACING_RATE`, `SO_NETNS_COOKIE`); a 32-bit answer is
/// widened.
///
/// # Errors
///
/// The OS error.
pub fn getsockopt_u64(fd: BorrowedFd<'_>, level: c_int, name: c_int) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    let n = sys::getsockopt(fd, level, name, &mut buf)?;
    Ok(match n {
        8 => u64::from_ne_bytes(buf),
        _ => {
            let mut four = [0u8; 4];
            four[..n.min(4)].copy_from_slice(&buf[..n.min(4)]);
            u64::from(u32::from_ne_bytes(four))
        }
    })
}

/// `SO_RCVTIMEO`: how long a blocking receive waits before `EAGAIN` (`None`: forever; a
/// zero duration waits one microsecond, since zero means forever to the kernel).
///
/// # Errors
///
/// The OS error.
pub fn set_recv_timeout(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<()> {
    sys::set_recv_timeout(fd, timeout)
}

/// One `SIOCETHTOOL` ioctl for interface `ifname` (at most 15 bytes are used): `buf`
/// holds the ethtool command struct, whose first `u32` is the command, and receives the
/// kernel's answer. Returns the ioctl's non-negative result.
///
/// `buf` must be at least as large as the struct the command names (with its flexible
/// array, for the commands that have one); the kernel reads and writes within it.
///
/// # Errors
///
/// The OS error (`EOPNOTSUPP` when the driver lacks the command).
pub fn ethtool(fd: BorrowedFd<'_>, ifname: &[u8], buf: &mut [u8]) -> io::Result<i32> {
    sys::ethtool(fd, ifname, buf)
}

/// Reads (`set` false) or writes an interface's hardware timestamping configuration
/// (`SIOCGHWTSTAMP` / `SIOCSHWTSTAMP`, `struct hwtstamp_config`: flags, tx_type, rx_filter
/// as native `u32`s); a write receives what the driver chose.
///
/// # Errors
///
/// The OS error (`EOPNOTSUPP` when the device cannot timestamp in hardware).
pub fn hwtstamp(
    fd: BorrowedFd<'_>,
    ifname: &[u8],
    set: bool,
    config: &mut [u8; 12],
) -> io::Result<()> {
    sys::hwtstamp(fd, ifname, set, config)
}

/// A new socket (`SOCK_CLOEXEC` added) in the calling thread's network namespace.
///
/// # Errors
///
/// The OS error.
pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> io::Result<OwnedFd> {
    sys::socket(domain, ty, protocol)
}

/// The network namespace socket `fd` belongs to (`SIOCGSKNS`): the socket's own, which
/// need not be the calling thread's.
///
/// # Errors
///
/// The OS error (`EPERM` without `CAP_NET_ADMIN` over that namespace on old kernels).
pub fn socket_netns(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    sys::socket_namespace(fd)
}

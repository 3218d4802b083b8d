//! The only unsafe code of nettune-core: `getsockopt(2)`/`setsockopt(2)` on byte buffers,
//! the `SIOCETHTOOL` and nsfs ioctls. Everything here is a thin, safe wrapper of one
//! system call; the typed layers of the other crates sit on top (see [`crate::raw`]).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `NS_GET_NSTYPE` from linux/nsfs.h: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = (0xb7 << 8) | 0x3;
/// `SIOCETHTOOL` from linux/sockios.h.
const SIOCETHTOOL: libc::c_ulong = 0x8946;
/// `SIOCGSKNS` from linux/sockios.h: the network namespace of a socket, as a new fd.
const SIOCGSKNS: libc::c_ulong = 0x894C;
/// `IFNAMSIZ`.
pub(crate) const IFNAMSIZ: usize = 16;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The `CLONE_NEW*` type of the namespace that `fd` refers to (`ioctl_ns(2)`).
pub(crate) fn namespace_type(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor, which is
    // valid for the duration of the borrow; a non-nsfs descriptor yields ENOTTY.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) })
}

/// The network namespace of socket `fd` (`SIOCGSKNS`), as a descriptor of its own.
pub(crate) fn socket_namespace(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor, or -1.
    let ns = check(unsafe { libc::ioctl(fd.as_raw_fd(), SIOCGSKNS) })?;
    // SAFETY: the kernel just created `ns` for this process; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ns) })
}

/// `getsockopt` into `buf`; returns the length the kernel wrote.
pub(crate) fn getsockopt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `buf` is valid for writes of `len` bytes and `len` points to a live
    // socklen_t; the kernel writes at most `len` bytes and updates `len`.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    Ok((len as usize).min(buf.len()))
}

/// `setsockopt` from `value`.
pub(crate) fn setsockopt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `value` is valid for reads of `len` bytes for the duration of the call.
    check(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), len) })
        .map(drop)
}

/// `struct ifreq` as SIOCETHTOOL uses it: the name and a pointer to the command buffer.
#[repr(C)]
struct IfreqData {
    name: [u8; IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

const _: () = assert!(size_of::<IfreqData>() == 40);

/// Runs one ethtool command on interface `name` (at most 15 bytes are used): `buf` holds
/// the command struct (its first `u32` is the command number) and receives the kernel's
/// answer. Returns the ioctl's non-negative result (SFEATURES returns flags there).
pub(crate) fn ethtool(sock: BorrowedFd<'_>, name: &[u8], buf: &mut [u8]) -> io::Result<i32> {
    // SAFETY (of the call below): the callers size `buf` for the command struct its first
    // word names (from the same counts they put in it), and the kernel reads and writes
    // only within it.
    ifreq_data(sock, SIOCETHTOOL, name, buf)
}

/// `SIOCGHWTSTAMP` / `SIOCSHWTSTAMP` from linux/sockios.h.
const SIOCGHWTSTAMP: libc::c_ulong = 0x89b1;
const SIOCSHWTSTAMP: libc::c_ulong = 0x89b0;

/// Reads (`set` false) or writes the `struct hwtstamp_config` of interface `name`: flags,
/// tx_type, rx_filter; on a write the driver answers with what it chose.
pub(crate) fn hwtstamp(
    sock: BorrowedFd<'_>,
    name: &[u8],
    set: bool,
    config: &mut [u8; 12],
) -> io::Result<()> {
    let request = if set { SIOCSHWTSTAMP } else { SIOCGHWTSTAMP };
    // The kernel copies exactly sizeof(struct hwtstamp_config), 12 bytes, both ways.
    ifreq_data(sock, request, name, config).map(drop)
}

/// An ioctl whose `struct ifreq` carries the interface name and a pointer to `buf`.
fn ifreq_data(
    sock: BorrowedFd<'_>,
    request: libc::c_ulong,
    name: &[u8],
    buf: &mut [u8],
) -> io::Result<i32> {
    let mut ifr = IfreqData {
        name: [0; IFNAMSIZ],
        data: buf.as_mut_ptr().cast(),
        _pad: [0; 16],
    };
    let n = name.len().min(IFNAMSIZ - 1);
    ifr.name[..n].copy_from_slice(&name[..n]);
    // SAFETY: `ifr` is a valid ifreq whose data pointer refers to `buf`, which outlives
    // the call and is exclusively borrowed for it; both callers pass a buffer of the size
    // the request's struct has (see them), and the kernel reads and writes only within it.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), request, &mut ifr) })
}

/// A new socket of `domain`/`ty` (with `SOCK_CLOEXEC`) in the calling thread's network
/// namespace.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); no pointers are passed.
    let fd = check(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `SO_RCVTIMEO` (`None`: forever; zero becomes one microsecond, zero meaning forever).
pub(crate) fn set_recv_timeout(
    fd: BorrowedFd<'_>,
    timeout: Option<std::time::Duration>,
) -> io::Result<()> {
    let tv = match timeout {
        None => libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        Some(d) => libc::timeval {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::from(d.subsec_micros())
                .max(libc::suseconds_t::from(d.is_zero())),
        },
    };
    let len = libc::socklen_t::try_from(size_of::<libc::timeval>()).unwrap_or(0);
    // SAFETY: a live timeval is passed with its exact size.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::from_ref(&tv).cast(),
            len,
        )
    })
    .map(drop)
}

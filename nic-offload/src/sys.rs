//! The only unsafe code of nic-offload: the `SIOCETHTOOL` ioctl.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `SIOCETHTOOL` from linux/sockios.h.
const SIOCETHTOOL: libc::c_ulong = 0x8946;
/// `IFNAMSIZ`.
pub(crate) const IFNAMSIZ: usize = 16;

/// `struct ifreq` as SIOCETHTOOL uses it: the name and a pointer to the command buffer.
#[repr(C)]
struct IfreqData {
    name: [u8; IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

const _: () = assert!(size_of::<IfreqData>() == 40);

/// Runs one ethtool command: `buf` holds the command struct (its first `u32` is the
/// command number) and receives the kernel's answer. Returns the ioctl's non-negative
/// result (SFEATURES returns flags there).
pub(crate) fn ethtool(sock: BorrowedFd<'_>, name: &[u8], buf: &mut [u8]) -> io::Result<i32> {
    let mut ifr = IfreqData {
        name: [0; IFNAMSIZ],
        data: buf.as_mut_ptr().cast(),
        _pad: [0; 16],
    };
    let n = name.len().min(IFNAMSIZ - 1);
    ifr.name[..n].copy_from_slice(&name[..n]);
    // SAFETY: `ifr` is a valid ifreq whose data pointer refers to `buf`, which outlives the
    // call and is as large as the command struct its first word names (the callers size it
    // from the same counts they put in it); the kernel reads and writes only within it.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut ifr) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

//! The raw syscall floors the benchmarks compare against: the bare libc calls, no wrapper.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

/// `setsockopt` of an int, result ignored.
pub fn set_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> i32 {
    // SAFETY: a live int is passed with its exact size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    }
}

/// `setsockopt` of bytes.
pub fn set_bytes(fd: BorrowedFd<'_>, level: i32, name: i32, value: &[u8]) -> i32 {
    // SAFETY: `value` is valid for its length.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    }
}

/// `getsockopt` into `buf`; returns the length the kernel wrote, or -1.
pub fn get(fd: BorrowedFd<'_>, level: i32, name: i32, buf: &mut [u8]) -> i32 {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is valid for `len` bytes and `len` is a live socklen_t.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if ret < 0 { ret } else { len as i32 }
}

/// `struct ifreq` for SIOCETHTOOL.
#[repr(C)]
struct Ifreq {
    name: [u8; 16],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// One raw `SIOCETHTOOL` ioctl on `buf` for interface `name`.
pub fn ethtool(fd: BorrowedFd<'_>, name: &str, buf: &mut [u8]) -> i32 {
    let mut ifr = Ifreq {
        name: [0; 16],
        data: buf.as_mut_ptr().cast(),
        _pad: [0; 16],
    };
    let n = name.len().min(15);
    ifr.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `buf` is sized by the caller for the command it holds and outlives the call.
    unsafe { libc::ioctl(fd.as_raw_fd(), 0x8946, &mut ifr) }
}

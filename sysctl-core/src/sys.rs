//! The only unsafe code of sysctl-core: the nsfs ioctl that tells a namespace's type.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc;

/// `NS_GET_NSTYPE` from linux/nsfs.h: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = (0xb7 << 8) | 0x3;

/// The `CLONE_NEW*` type of the namespace that `fd` refers to (`ioctl_ns(2)`).
pub(crate) fn namespace_type(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor, which is
    // valid for the duration of the borrow; a non-nsfs descriptor yields ENOTTY.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Whether `fd` refers to a network namespace.
pub(crate) fn is_network_namespace(fd: BorrowedFd<'_>) -> bool {
    namespace_type(fd).is_ok_and(|t| t == libc::CLONE_NEWNET)
}

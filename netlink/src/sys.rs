//! The only unsafe code of nettune-netlink: borrowing neli's socket descriptor, which
//! neli exposes only as a raw fd, and handing it one.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

/// Borrows the descriptor of `owner` for as long as `owner` is borrowed.
pub(crate) fn borrow<T: AsRawFd>(owner: &T) -> BorrowedFd<'_> {
    // SAFETY: `owner` (neli's NlSocket) owns the descriptor and closes it only when it is
    // dropped, which the borrow of `owner` rules out for the lifetime returned.
    unsafe { BorrowedFd::borrow_raw(owner.as_raw_fd()) }
}

/// A neli socket over a descriptor the caller owned.
pub(crate) fn nl_socket(fd: OwnedFd) -> neli::socket::NlSocket {
    // SAFETY: `fd` is an open descriptor owned by nothing else (we took it by value);
    // NlSocket becomes its only owner and closes it when dropped.
    unsafe { neli::socket::NlSocket::from_raw_fd(fd.into_raw_fd()) }
}

/// Registers `inner` with the tokio reactor.
#[cfg(feature = "tokio")]
pub(crate) fn register<T: AsRawFd>(inner: T) -> std::io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: `inner` owns its netlink socket (the descriptor is closed only when `inner`
    // is dropped, which the AsyncFd does after deregistering), and its `as_raw_fd` always
    // returns that same descriptor.
    unsafe { tokio::io::unix::AsyncFd::register(inner) }.map_err(|e| e.into_parts().1)
}

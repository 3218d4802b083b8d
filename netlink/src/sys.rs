//! The only unsafe code of nettune-netlink: borrowing neli's socket descriptor, which
//! neli exposes only as a raw fd.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

/// Borrows the descriptor of `owner` for as long as `owner` is borrowed.
pub(crate) fn borrow<T: AsRawFd>(owner: &T) -> BorrowedFd<'_> {
    // SAFETY: `owner` (neli's NlSocket) owns the descriptor and closes it only when it is
    // dropped, which the borrow of `owner` rules out for the lifetime returned.
    unsafe { BorrowedFd::borrow_raw(owner.as_raw_fd()) }
}

//! The only unsafe code of the conntrack crate: registering the event socket with tokio.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

use tokio::io::unix::AsyncFd;

/// Registers `inner` with the tokio reactor.
pub(crate) fn register<T: AsRawFd>(inner: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: `inner` owns its netlink socket (the descriptor is closed only when `inner`
    // is dropped, which the AsyncFd does after deregistering), and its `as_raw_fd` always
    // returns that same descriptor.
    unsafe { AsyncFd::register(inner) }.map_err(|e| e.into_parts().1)
}

//! The netlink layer shared by the nettune crates (see `netlink(7)` and
//! Documentation/userspace-api/netlink/intro.rst):
//!
//! - [`Handle`]: one protocol in one network namespace, `Handle::open` here or
//!   `Handle::open_in(&ns)` there, with request/ACK, streaming dumps on sockets of their
//!   own, and errors that keep the kernel's extended-ACK text and offset;
//! - [`Socket`]: one netlink socket (neli's), for event subscriptions and receive-buffer
//!   sizing;
//! - [`proto`]: the pure, allocation-free codec: one attribute reader ([`proto::Attr`],
//!   [`proto::walk`]) whose errors carry the real byte offset, and one writer
//!   ([`proto::MsgBuilder`]) with closure nests and checked lengths;
//! - [`genl`]: generic netlink family resolution.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod genl;
mod handle;
pub mod proto;
mod socket;
mod sys;
#[cfg(feature = "tokio")]
mod tokio_socket;

pub use handle::{Dump, Failure, Handle, Pooled};
pub use neli::consts::socket::NlFamily;
pub use socket::{Error, Socket};
#[cfg(feature = "tokio")]
pub use tokio_socket::AsyncSocket;

//! The netlink transport and attribute codec shared by the conntrack and mptcp crates:
//! a socket (neli's `NlSocket`) with request/ACK handling that keeps the kernel's
//! extended-ACK text, streaming dumps, receive-buffer sizing (`SO_RCVBUFFORCE`) and
//! multicast membership; a pure, allocation-free attribute codec ([`proto`]); and generic
//! netlink family resolution ([`genl`]). See `netlink(7)` and
//! Documentation/userspace-api/netlink/intro.rst.
#![warn(clippy::unwrap_used)]

pub mod genl;
pub mod proto;
mod socket;
mod sys;

pub use neli::consts::socket::NlFamily;
pub use socket::{Error, Socket};

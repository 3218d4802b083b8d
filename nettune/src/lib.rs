//! Linux network tuning from application code.
//!
//! The crate re-exports each nettune crate as a module, each behind a feature that is on
//! by default, and adds the whole-host layer on top.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use nettune_core::{ErrorKind, ExtAck, NetNs, NetNsId, NetnsError, ValueError};

/// Network namespace handles (from nettune-core).
pub mod netns {
    pub use nettune_core::netns::*;
}

/// Errors shared by every module.
pub mod error {
    pub use nettune_core::error::*;
}

#[cfg(feature = "sysctl")]
#[doc(inline)]
pub use nettune_sysctl as sysctl;

#[cfg(feature = "sockopt")]
#[doc(inline)]
pub use nettune_sockopt as sockopt;

#[cfg(feature = "nic")]
#[doc(inline)]
pub use nettune_nic as nic;

#[cfg(feature = "conntrack")]
#[doc(inline)]
pub use nettune_conntrack as conntrack;

#[cfg(feature = "mptcp")]
#[doc(inline)]
pub use nettune_mptcp as mptcp;

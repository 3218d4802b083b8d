//! Per-connection tuning from application code: `TCP_CONGESTION`, `TCP_FASTOPEN`,
//! buffers, busy polling, pacing and `TCP_INFO` over any `impl AsFd` (see `tcp(7)`,
//! `socket(7)`).
//!
//! This crate is being built (issue: socket-opts). Today it re-exports the value types it
//! shares with sysctl-core, so that a congestion control parsed here is the one the sysctl
//! knob takes.

pub use sysctl_core::{CongestionControl, FastOpen};

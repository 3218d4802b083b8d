//! Per-connection tuning from application code: congestion control, fast open, buffers,
//! busy polling, pacing, DSCP and `TCP_INFO` on any `impl AsFd` — std, tokio, mio and
//! socket2 sockets alike (see `tcp(7)`, `socket(7)`, `ip(7)`, `ipv6(7)` and the kernel's
//! Documentation/networking/ip-sysctl.rst).
//!
//! - one function pair per option: [`nodelay`] / [`set_nodelay`], [`congestion`] /
//!   [`set_congestion`], ... with typed units and the C name as a doc alias;
//! - [`tcp_info`] and [`cc_info`]: the kernel's view of a connection, decoded by the
//!   length the kernel returns;
//! - [`SocketProfile`]: options applied together, strictly (all or nothing) or best
//!   effort with a report; [`PeerPolicy`] picks a profile by peer address;
//! - [`mod@mptcp`]: MPTCP sockets, fallback detection, `MPTCP_INFO`, subflows;
//! - [`mod@timestamp`]: `SO_TIMESTAMPING` receive and transmit timestamps, the error
//!   queue, `MSG_ZEROCOPY` completions;
//! - [`probe()`]: what this host allows (congestion control lists, fast open bits, buffer
//!   caps, CAP_NET_ADMIN).
//!
//! ```no_run
//! use nettune_sockopt::{SocketProfile, tcp_info};
//! let listener = std::net::TcpListener::bind("0.0.0.0:9000")?;
//! let profile = SocketProfile::new().congestion("bbr".parse()?).nodelay(true).notsent_lowat(16 * 1024);
//! for stream in listener.incoming() {
//!     let stream = stream?;
//!     profile.apply(&stream)?;
//!     let info = tcp_info(&stream)?;
//!     println!("rtt {:?} cwnd {}", info.rtt(), info.snd_cwnd());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(clippy::unwrap_used)]

mod error;
mod info;
pub mod mptcp;
mod opts;
mod probe;
mod profile;
mod sys;
pub mod timestamp;
mod types;

pub use error::{Error, Result};
pub use info::{
    BbrInfo, CaState, CcInfo, FastOpenClientFail, TCP_INFO_MAX_LEN, TCP_INFO_MIN_LEN, TcpInfo,
    TcpOptions, TcpState, cc_info, tcp_info,
};
pub use nettune_sysctl::{CongestionControl, FastOpen};
pub use opts::{
    Setting, SettingScope, busy_poll, congestion, cork, defer_accept, fastopen, fastopen_connect,
    incoming_cpu, is_listening, keepalive, mark, max_pacing_rate, maxseg, nodelay, notsent_lowat,
    prefer_busy_poll, priority, quickack, recv_buffer, reuseport, send_buffer, set_busy_poll,
    set_busy_poll_budget, set_congestion, set_cork, set_defer_accept, set_fastopen,
    set_fastopen_connect, set_incoming_cpu, set_keepalive, set_mark, set_max_pacing_rate,
    set_maxseg, set_nodelay, set_notsent_lowat, set_prefer_busy_poll, set_priority, set_quickack,
    set_recv_buffer, set_recv_buffer_force, set_reuseport, set_send_buffer, set_send_buffer_force,
    set_thin_linear_timeouts, set_traffic_class, set_user_timeout, set_window_clamp, set_zerocopy,
    thin_linear_timeouts, traffic_class, user_timeout, window_clamp, zerocopy,
};
pub use probe::{Probe, has_cap_net_admin, probe};
pub use profile::{Mode, Outcome, PeerPolicy, Report, SocketProfile};
pub use types::{BufferSize, Dscp, Ecn, Keepalive, PacingRate, TrafficClass};

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

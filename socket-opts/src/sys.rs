//! The socket option numbers missing from `libc`; the system calls themselves are
//! nettune-core's [`raw`](nettune_core::raw) wrappers.

pub(crate) use libc::c_int;

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "s390x"
)))]
compile_error!("socket-opts uses the asm-generic socket option numbers; this architecture differs");

// Levels and protocols.
pub(crate) const SOL_SOCKET: c_int = libc::SOL_SOCKET;
pub(crate) const SOL_TCP: c_int = libc::IPPROTO_TCP;
pub(crate) const SOL_IP: c_int = libc::IPPROTO_IP;
pub(crate) const SOL_IPV6: c_int = libc::IPPROTO_IPV6;
pub(crate) const SOL_MPTCP: c_int = 284;
pub(crate) const IPPROTO_MPTCP: c_int = 262;

// SOL_SOCKET options (asm-generic/socket.h).
pub(crate) const SO_DOMAIN: c_int = 39;
pub(crate) const SO_PROTOCOL: c_int = 38;
pub(crate) const SO_ACCEPTCONN: c_int = 30;
pub(crate) const SO_KEEPALIVE: c_int = 9;
pub(crate) const SO_SNDBUF: c_int = 7;
pub(crate) const SO_RCVBUF: c_int = 8;
pub(crate) const SO_SNDBUFFORCE: c_int = 32;
pub(crate) const SO_RCVBUFFORCE: c_int = 33;
pub(crate) const SO_PRIORITY: c_int = 12;
pub(crate) const SO_REUSEPORT: c_int = 15;
pub(crate) const SO_MARK: c_int = 36;
pub(crate) const SO_BUSY_POLL: c_int = 46;
pub(crate) const SO_MAX_PACING_RATE: c_int = 47;
pub(crate) const SO_INCOMING_CPU: c_int = 49;
pub(crate) const SO_ZEROCOPY: c_int = 60;
pub(crate) const SO_PREFER_BUSY_POLL: c_int = 69;
pub(crate) const SO_BUSY_POLL_BUDGET: c_int = 70;
/// `SO_TIMESTAMPING_OLD`: its control messages carry `struct timespec`, 64-bit here.
pub(crate) const SO_TIMESTAMPING: c_int = 37;

// SOL_TCP options (linux/tcp.h).
pub(crate) const TCP_NODELAY: c_int = 1;
pub(crate) const TCP_MAXSEG: c_int = 2;
pub(crate) const TCP_CORK: c_int = 3;
pub(crate) const TCP_KEEPIDLE: c_int = 4;
pub(crate) const TCP_KEEPINTVL: c_int = 5;
pub(crate) const TCP_KEEPCNT: c_int = 6;
pub(crate) const TCP_DEFER_ACCEPT: c_int = 9;
pub(crate) const TCP_WINDOW_CLAMP: c_int = 10;
pub(crate) const TCP_INFO: c_int = 11;
pub(crate) const TCP_QUICKACK: c_int = 12;
pub(crate) const TCP_CONGESTION: c_int = 13;
pub(crate) const TCP_THIN_LINEAR_TIMEOUTS: c_int = 16;
pub(crate) const TCP_USER_TIMEOUT: c_int = 18;
pub(crate) const TCP_FASTOPEN: c_int = 23;
pub(crate) const TCP_NOTSENT_LOWAT: c_int = 25;
pub(crate) const TCP_CC_INFO: c_int = 26;
pub(crate) const TCP_FASTOPEN_CONNECT: c_int = 30;

// IP and IPv6 options.
pub(crate) const IP_TOS: c_int = 1;
pub(crate) const IPV6_TCLASS: c_int = 67;
pub(crate) const IPV6_V6ONLY: c_int = 26;

// SOL_MPTCP options (linux/mptcp.h).
pub(crate) const MPTCP_INFO: c_int = 1;
pub(crate) const MPTCP_TCPINFO: c_int = 2;
pub(crate) const MPTCP_SUBFLOW_ADDRS: c_int = 3;

pub(crate) use nettune_core::raw::{
    getsockopt as get_bytes, getsockopt_int as get_int, setsockopt as set_bytes,
    setsockopt_int as set_int,
};

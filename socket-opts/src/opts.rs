//! One function pair per option: `name(&fd)` reads, `set_name(&fd, value)` writes.
//!
//! The options are those of `tcp(7)`, `socket(7)`, `ip(7)` and `ipv6(7)`; each function's
//! doc alias is the C name. All take any `impl AsFd` (`&TcpStream`, `&TcpListener`, a
//! tokio or mio socket, a `socket2::Socket`, an `OwnedFd`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nettune_sysctl::{CongestionControl, FastOpen, Knob, NameList, Sysctl, knobs};

use crate::error::{Error, Result};
use crate::sys::{self, c_int};
use crate::types::{BufferSize, Keepalive, PacingRate, TrafficClass};

/// An option: its C name, level and number, and the privilege it needs, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opt {
    pub(crate) name: &'static str,
    level: c_int,
    num: c_int,
    privilege: Option<&'static str>,
}

const fn opt(name: &'static str, level: c_int, num: c_int) -> Opt {
    Opt {
        name,
        level,
        num,
        privilege: None,
    }
}

const fn privileged(name: &'static str, level: c_int, num: c_int, privilege: &'static str) -> Opt {
    Opt {
        name,
        level,
        num,
        privilege: Some(privilege),
    }
}

use sys::{SOL_IP, SOL_IPV6, SOL_SOCKET, SOL_TCP};

pub(crate) const NODELAY: Opt = opt("TCP_NODELAY", SOL_TCP, sys::TCP_NODELAY);
pub(crate) const QUICKACK: Opt = opt("TCP_QUICKACK", SOL_TCP, sys::TCP_QUICKACK);
pub(crate) const CORK: Opt = opt("TCP_CORK", SOL_TCP, sys::TCP_CORK);
pub(crate) const NOTSENT_LOWAT: Opt = opt("TCP_NOTSENT_LOWAT", SOL_TCP, sys::TCP_NOTSENT_LOWAT);
pub(crate) const USER_TIMEOUT: Opt = opt("TCP_USER_TIMEOUT", SOL_TCP, sys::TCP_USER_TIMEOUT);
pub(crate) const KEEPALIVE: Opt = opt("SO_KEEPALIVE", SOL_SOCKET, sys::SO_KEEPALIVE);
pub(crate) const KEEPIDLE: Opt = opt("TCP_KEEPIDLE", SOL_TCP, sys::TCP_KEEPIDLE);
pub(crate) const KEEPINTVL: Opt = opt("TCP_KEEPINTVL", SOL_TCP, sys::TCP_KEEPINTVL);
pub(crate) const KEEPCNT: Opt = opt("TCP_KEEPCNT", SOL_TCP, sys::TCP_KEEPCNT);
pub(crate) const DEFER_ACCEPT: Opt = opt("TCP_DEFER_ACCEPT", SOL_TCP, sys::TCP_DEFER_ACCEPT);
pub(crate) const MAXSEG: Opt = opt("TCP_MAXSEG", SOL_TCP, sys::TCP_MAXSEG);
pub(crate) const WINDOW_CLAMP: Opt = opt("TCP_WINDOW_CLAMP", SOL_TCP, sys::TCP_WINDOW_CLAMP);
pub(crate) const THIN_LINEAR: Opt = opt(
    "TCP_THIN_LINEAR_TIMEOUTS",
    SOL_TCP,
    sys::TCP_THIN_LINEAR_TIMEOUTS,
);
pub(crate) const FASTOPEN: Opt = opt("TCP_FASTOPEN", SOL_TCP, sys::TCP_FASTOPEN);
pub(crate) const FASTOPEN_CONNECT: Opt =
    opt("TCP_FASTOPEN_CONNECT", SOL_TCP, sys::TCP_FASTOPEN_CONNECT);
pub(crate) const CONGESTION: Opt = privileged(
    "TCP_CONGESTION",
    SOL_TCP,
    sys::TCP_CONGESTION,
    "algorithms outside net.ipv4.tcp_allowed_congestion_control need CAP_NET_ADMIN",
);
pub(crate) const RCVBUF: Opt = opt("SO_RCVBUF", SOL_SOCKET, sys::SO_RCVBUF);
pub(crate) const SNDBUF: Opt = opt("SO_SNDBUF", SOL_SOCKET, sys::SO_SNDBUF);
pub(crate) const RCVBUFFORCE: Opt = privileged(
    "SO_RCVBUFFORCE",
    SOL_SOCKET,
    sys::SO_RCVBUFFORCE,
    "needs CAP_NET_ADMIN",
);
pub(crate) const SNDBUFFORCE: Opt = privileged(
    "SO_SNDBUFFORCE",
    SOL_SOCKET,
    sys::SO_SNDBUFFORCE,
    "needs CAP_NET_ADMIN",
);
pub(crate) const BUSY_POLL: Opt = privileged(
    "SO_BUSY_POLL",
    SOL_SOCKET,
    sys::SO_BUSY_POLL,
    "raising it needs CAP_NET_ADMIN before Linux 6.4",
);
pub(crate) const PREFER_BUSY_POLL: Opt = privileged(
    "SO_PREFER_BUSY_POLL",
    SOL_SOCKET,
    sys::SO_PREFER_BUSY_POLL,
    "turning it on needs CAP_NET_ADMIN",
);
pub(crate) const BUSY_POLL_BUDGET: Opt = privileged(
    "SO_BUSY_POLL_BUDGET",
    SOL_SOCKET,
    sys::SO_BUSY_POLL_BUDGET,
    "raising it needs CAP_NET_ADMIN",
);
pub(crate) const INCOMING_CPU: Opt = opt("SO_INCOMING_CPU", SOL_SOCKET, sys::SO_INCOMING_CPU);
pub(crate) const REUSEPORT: Opt = opt("SO_REUSEPORT", SOL_SOCKET, sys::SO_REUSEPORT);
pub(crate) const MAX_PACING_RATE: Opt =
    opt("SO_MAX_PACING_RATE", SOL_SOCKET, sys::SO_MAX_PACING_RATE);
pub(crate) const PRIORITY: Opt = privileged(
    "SO_PRIORITY",
    SOL_SOCKET,
    sys::SO_PRIORITY,
    "priorities above 6 need CAP_NET_ADMIN (or CAP_NET_RAW)",
);
pub(crate) const TOS: Opt = opt("IP_TOS", SOL_IP, sys::IP_TOS);
pub(crate) const TCLASS: Opt = opt("IPV6_TCLASS", SOL_IPV6, sys::IPV6_TCLASS);
pub(crate) const MARK: Opt = privileged("SO_MARK", SOL_SOCKET, sys::SO_MARK, "needs CAP_NET_ADMIN");
pub(crate) const ZEROCOPY: Opt = opt("SO_ZEROCOPY", SOL_SOCKET, sys::SO_ZEROCOPY);
pub(crate) const TCP_INFO: Opt = opt("TCP_INFO", SOL_TCP, sys::TCP_INFO);
pub(crate) const TCP_CC_INFO: Opt = opt("TCP_CC_INFO", SOL_TCP, sys::TCP_CC_INFO);

/// Whether `fd` is an MPTCP socket (`SO_PROTOCOL` is `IPPROTO_MPTCP`).
pub(crate) fn is_mptcp(fd: BorrowedFd<'_>) -> bool {
    sys::get_int(fd, SOL_SOCKET, sys::SO_PROTOCOL).is_ok_and(|p| p == sys::IPPROTO_MPTCP)
}

/// Turns an OS error of `op` on `opt` into a typed error.
pub(crate) fn os_error(fd: BorrowedFd<'_>, o: &Opt, op: &'static str, source: io::Error) -> Error {
    match source.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => Error::PermissionDenied {
            option: o.name,
            reason: o
                .privilege
                .unwrap_or("the kernel refused it to this caller")
                .to_owned(),
            source,
        },
        Some(libc::ENOPROTOOPT | libc::EOPNOTSUPP) => Error::Unsupported {
            option: o.name,
            reason: if is_mptcp(fd) {
                format!("MPTCP sockets do not support {}", o.name)
            } else {
                "this kernel, or this socket's type or protocol, does not have it".to_owned()
            },
            source,
        },
        Some(libc::EINVAL | libc::ERANGE) if op == "set" => Error::InvalidValue {
            option: o.name,
            reason: "rejected by the kernel (out of range, or not valid in this socket state)"
                .to_owned(),
            source: Some(source),
        },
        _ => Error::Io {
            op,
            option: o.name,
            source,
        },
    }
}

pub(crate) fn get_i(fd: BorrowedFd<'_>, o: &Opt) -> Result<c_int> {
    sys::get_int(fd, o.level, o.num).map_err(|e| os_error(fd, o, "get", e))
}

pub(crate) fn set_i(fd: BorrowedFd<'_>, o: &Opt, value: c_int) -> Result<()> {
    sys::set_int(fd, o.level, o.num, value).map_err(|e| os_error(fd, o, "set", e))
}

/// A value that must fit a kernel `int`.
fn int_of(o: &Opt, value: u64, unit: &str) -> Result<c_int> {
    c_int::try_from(value).map_err(|_| Error::InvalidValue {
        option: o.name,
        reason: format!("{value} {unit} is above 2^31-1"),
        source: None,
    })
}

fn non_negative(o: &Opt, v: c_int) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Io {
        op: "get",
        option: o.name,
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel returned {v}"),
        ),
    })
}

macro_rules! bool_option {
    ($get:ident, $set:ident, $opt:ident, $cname:literal, $doc:literal) => {
        #[doc = concat!("Whether ", $doc, " (`", $cname, "`).")]
        ///
        /// # Errors
        ///
        /// When the option does not apply to this socket or kernel.
        #[doc(alias = $cname)]
        pub fn $get(fd: impl AsFd) -> Result<bool> {
            get_i(fd.as_fd(), &$opt).map(|v| v != 0)
        }

        #[doc = concat!("Sets whether ", $doc, " (`", $cname, "`).")]
        ///
        /// # Errors
        ///
        /// When the option does not apply to this socket or kernel, or is not permitted.
        #[doc(alias = $cname)]
        pub fn $set(fd: impl AsFd, on: bool) -> Result<()> {
            set_i(fd.as_fd(), &$opt, c_int::from(on))
        }
    };
}

macro_rules! u32_option {
    ($get:ident, $set:ident, $opt:ident, $cname:literal, $doc:literal) => {
        #[doc = concat!($doc, " (`", $cname, "`).")]
        ///
        /// # Errors
        ///
        /// When the option does not apply to this socket or kernel.
        #[doc(alias = $cname)]
        pub fn $get(fd: impl AsFd) -> Result<u32> {
            let fd = fd.as_fd();
            get_i(fd, &$opt).and_then(|v| non_negative(&$opt, v))
        }

        #[doc = concat!("Sets ", $doc, " (`", $cname, "`).")]
        ///
        /// # Errors
        ///
        /// [`Error::InvalidValue`] above 2^31-1 or when the kernel rejects the value;
        /// [`Error::PermissionDenied`] when the option needs a capability the caller lacks.
        #[doc(alias = $cname)]
        pub fn $set(fd: impl AsFd, value: u32) -> Result<()> {
            let v = int_of(&$opt, value.into(), "")?;
            set_i(fd.as_fd(), &$opt, v)
        }
    };
}

bool_option!(
    nodelay,
    set_nodelay,
    NODELAY,
    "TCP_NODELAY",
    "small segments are sent at once (Nagle off)"
);
bool_option!(
    quickack,
    set_quickack,
    QUICKACK,
    "TCP_QUICKACK",
    "ACKs are sent at once rather than delayed; the kernel clears it again, so set it after each read that matters"
);
bool_option!(
    cork,
    set_cork,
    CORK,
    "TCP_CORK",
    "partial segments are held back until uncorked (200 ms at most)"
);
bool_option!(
    thin_linear_timeouts,
    set_thin_linear_timeouts,
    THIN_LINEAR,
    "TCP_THIN_LINEAR_TIMEOUTS",
    "thin streams retransmit with linear rather than exponential backoff"
);
bool_option!(
    fastopen_connect,
    set_fastopen_connect,
    FASTOPEN_CONNECT,
    "TCP_FASTOPEN_CONNECT",
    "connect() defers the SYN to the first write, which then carries the data (set before connecting; needs the client bit of net.ipv4.tcp_fastopen)"
);
bool_option!(
    reuseport,
    set_reuseport,
    REUSEPORT,
    "SO_REUSEPORT",
    "several sockets may bind the same port, with the kernel spreading connections (set before bind)"
);
bool_option!(
    prefer_busy_poll,
    set_prefer_busy_poll,
    PREFER_BUSY_POLL,
    "SO_PREFER_BUSY_POLL",
    "busy polling is preferred over interrupts (turning it on needs CAP_NET_ADMIN)"
);
bool_option!(
    zerocopy,
    set_zerocopy,
    ZEROCOPY,
    "SO_ZEROCOPY",
    "MSG_ZEROCOPY sends are allowed"
);

u32_option!(
    notsent_lowat,
    set_notsent_lowat,
    NOTSENT_LOWAT,
    "TCP_NOTSENT_LOWAT",
    "The most unsent bytes the socket queues before it stops being writable, in bytes"
);
u32_option!(
    maxseg,
    set_maxseg,
    MAXSEG,
    "TCP_MAXSEG",
    "The maximum segment size, in bytes"
);
u32_option!(
    window_clamp,
    set_window_clamp,
    WINDOW_CLAMP,
    "TCP_WINDOW_CLAMP",
    "The largest receive window advertised, in bytes"
);
u32_option!(
    mark,
    set_mark,
    MARK,
    "SO_MARK",
    "The mark used by policy routing and netfilter (setting it needs CAP_NET_ADMIN)"
);
u32_option!(
    priority,
    set_priority,
    PRIORITY,
    "SO_PRIORITY",
    "The queueing priority (0 to 6 for anyone, above 6 with CAP_NET_ADMIN)"
);

/// The socket's congestion control algorithm (`TCP_CONGESTION`).
///
/// # Errors
///
/// When the socket is not TCP, or the kernel returns a name that is not valid.
#[doc(alias = "TCP_CONGESTION")]
pub fn congestion(fd: impl AsFd) -> Result<CongestionControl> {
    let fd = fd.as_fd();
    let mut buf = [0u8; 16];
    let n = sys::get_bytes(fd, CONGESTION.level, CONGESTION.num, &mut buf)
        .map_err(|e| os_error(fd, &CONGESTION, "get", e))?;
    let name = std::str::from_utf8(&buf[..n]).unwrap_or_default();
    CongestionControl::new(name).map_err(|e| Error::Io {
        op: "get",
        option: CONGESTION.name,
        source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
    })
}

fn cc_list<K: Knob<Value = NameList<CongestionControl>>>() -> Vec<String> {
    Sysctl::new()
        .get::<K>()
        .map(|l| l.as_slice().iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// Sets the socket's congestion control algorithm (`TCP_CONGESTION`).
///
/// Unprivileged callers may pick only the algorithms in
/// `net.ipv4.tcp_allowed_congestion_control`; with `CAP_NET_ADMIN` any available one (a
/// module may be loaded on demand).
///
/// # Errors
///
/// [`Error::CongestionControlUnavailable`] listing the available algorithms,
/// [`Error::CongestionControlNotAllowed`] listing the allowed ones.
#[doc(alias = "TCP_CONGESTION")]
pub fn set_congestion(fd: impl AsFd, cc: &CongestionControl) -> Result<()> {
    let fd = fd.as_fd();
    sys::set_bytes(fd, CONGESTION.level, CONGESTION.num, cc.as_str().as_bytes()).map_err(|source| {
        match source.raw_os_error() {
            Some(libc::ENOENT) => Error::CongestionControlUnavailable {
                name: cc.to_string(),
                available: cc_list::<knobs::TcpAvailableCongestionControl>(),
                source,
            },
            Some(libc::EPERM) => Error::CongestionControlNotAllowed {
                name: cc.to_string(),
                allowed: cc_list::<knobs::TcpAllowedCongestionControl>(),
                source,
            },
            _ => os_error(fd, &CONGESTION, "set", source),
        }
    })
}

/// The fast-open queue length of a listener (`TCP_FASTOPEN`): how many connections with
/// SYN data may wait for `accept`.
///
/// # Errors
///
/// When the socket is not TCP.
#[doc(alias = "TCP_FASTOPEN")]
pub fn fastopen(fd: impl AsFd) -> Result<u32> {
    let fd = fd.as_fd();
    get_i(fd, &FASTOPEN).and_then(|v| non_negative(&FASTOPEN, v))
}

/// Enables TCP Fast Open on a listener with a queue of `queue_len` pending SYN-data
/// connections (`TCP_FASTOPEN`).
///
/// The kernel accepts the option even when `net.ipv4.tcp_fastopen` lacks the server bit
/// (0x2) and then silently does nothing; this call checks the sysctl (of the calling
/// thread's network namespace) and says so.
///
/// # Errors
///
/// [`Error::Inactive`] when the sysctl turns server fast open off (the option is set
/// anyway, and takes effect if the sysctl changes); [`Error::InvalidValue`] above 2^31-1.
#[doc(alias = "TCP_FASTOPEN")]
pub fn set_fastopen(fd: impl AsFd, queue_len: u32) -> Result<()> {
    let fd = fd.as_fd();
    let v = int_of(&FASTOPEN, queue_len.into(), "connections")?;
    set_i(fd, &FASTOPEN, v)?;
    if queue_len > 0 {
        if let Ok(bits) = Sysctl::new().get::<knobs::TcpFastopen>() {
            if !bits.contains(FastOpen::SERVER) {
                return Err(Error::Inactive {
                    option: FASTOPEN.name,
                    reason: format!(
                        "net.ipv4.tcp_fastopen is {:#x}, without the server bit 0x2, so listeners \
                         ignore TCP_FASTOPEN; set it to {:#x}",
                        bits.bits(),
                        (bits | FastOpen::SERVER).bits()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// How long the kernel keeps trying to deliver data before it closes the connection
/// (`TCP_USER_TIMEOUT`); `None` is the system default.
///
/// # Errors
///
/// When the socket is not TCP (or is MPTCP, which lacks it).
#[doc(alias = "TCP_USER_TIMEOUT")]
pub fn user_timeout(fd: impl AsFd) -> Result<Option<Duration>> {
    let v = get_i(fd.as_fd(), &USER_TIMEOUT).and_then(|v| non_negative(&USER_TIMEOUT, v))?;
    Ok((v > 0).then(|| Duration::from_millis(v.into())))
}

/// Sets `TCP_USER_TIMEOUT` in milliseconds (`None` for the system default). It also
/// overrides keepalive's closing of a dead connection.
///
/// # Errors
///
/// [`Error::InvalidValue`] above 2^31-1 ms; [`Error::Unsupported`] on MPTCP sockets.
#[doc(alias = "TCP_USER_TIMEOUT")]
pub fn set_user_timeout(fd: impl AsFd, timeout: Option<Duration>) -> Result<()> {
    let ms = timeout.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let v = int_of(&USER_TIMEOUT, ms, "ms")?;
    set_i(fd.as_fd(), &USER_TIMEOUT, v)
}

/// The socket's keepalive settings, or `None` when keepalive is off.
///
/// # Errors
///
/// When the socket is not TCP.
#[doc(alias = "SO_KEEPALIVE")]
#[doc(alias = "TCP_KEEPIDLE")]
pub fn keepalive(fd: impl AsFd) -> Result<Option<Keepalive>> {
    let fd = fd.as_fd();
    if get_i(fd, &KEEPALIVE)? == 0 {
        return Ok(None);
    }
    let secs = |o: &Opt| {
        get_i(fd, o)
            .and_then(|v| non_negative(o, v))
            .map(|s| Duration::from_secs(s.into()))
    };
    let count = get_i(fd, &KEEPCNT).and_then(|v| non_negative(&KEEPCNT, v))?;
    Keepalive::new(secs(&KEEPIDLE)?, secs(&KEEPINTVL)?, count).map(Some)
}

/// Turns keepalive on with the given times (`SO_KEEPALIVE`, `TCP_KEEPIDLE`,
/// `TCP_KEEPINTVL`, `TCP_KEEPCNT`), or off with `None`.
///
/// # Errors
///
/// When the socket is not TCP.
#[doc(alias = "SO_KEEPALIVE")]
#[doc(alias = "TCP_KEEPIDLE")]
pub fn set_keepalive(fd: impl AsFd, keepalive: Option<Keepalive>) -> Result<()> {
    let fd = fd.as_fd();
    let Some(k) = keepalive else {
        return set_i(fd, &KEEPALIVE, 0);
    };
    // Whole seconds up to 32767 and counts up to 127, checked by Keepalive::new.
    set_i(fd, &KEEPIDLE, k.idle().as_secs() as c_int)?;
    set_i(fd, &KEEPINTVL, k.interval().as_secs() as c_int)?;
    set_i(fd, &KEEPCNT, k.count() as c_int)?;
    set_i(fd, &KEEPALIVE, 1)
}

/// How long a listener waits for data before waking `accept` (`TCP_DEFER_ACCEPT`).
///
/// The kernel stores a retransmission count, so the value read back is rounded up to
/// the retransmission schedule (1, 3, 7, 15, ... seconds).
///
/// # Errors
///
/// When the socket is not TCP.
#[doc(alias = "TCP_DEFER_ACCEPT")]
pub fn defer_accept(fd: impl AsFd) -> Result<Duration> {
    get_i(fd.as_fd(), &DEFER_ACCEPT)
        .and_then(|v| non_negative(&DEFER_ACCEPT, v))
        .map(|s| Duration::from_secs(s.into()))
}

/// Sets `TCP_DEFER_ACCEPT` in whole seconds (zero turns it off).
///
/// # Errors
///
/// [`Error::InvalidValue`] for a fraction of a second or above 2^31-1 s.
#[doc(alias = "TCP_DEFER_ACCEPT")]
pub fn set_defer_accept(fd: impl AsFd, wait: Duration) -> Result<()> {
    if wait.subsec_nanos() != 0 {
        return Err(Error::InvalidValue {
            option: DEFER_ACCEPT.name,
            reason: format!("{wait:?} is not whole seconds"),
            source: None,
        });
    }
    let v = int_of(&DEFER_ACCEPT, wait.as_secs(), "s")?;
    set_i(fd.as_fd(), &DEFER_ACCEPT, v)
}

fn buffer(fd: BorrowedFd<'_>, o: &Opt) -> Result<u32> {
    get_i(fd, o).and_then(|v| non_negative(o, v))
}

fn set_buffer(fd: BorrowedFd<'_>, set: &Opt, get: &Opt, bytes: u32) -> Result<BufferSize> {
    let v = int_of(set, bytes.into(), "bytes")?;
    set_i(fd, set, v)?;
    Ok(BufferSize {
        requested: bytes,
        effective: buffer(fd, get)?,
    })
}

/// The receive buffer size the kernel uses, in bytes (`SO_RCVBUF`): twice what was
/// requested.
///
/// # Errors
///
/// Only for a descriptor that is not a socket.
#[doc(alias = "SO_RCVBUF")]
pub fn recv_buffer(fd: impl AsFd) -> Result<u32> {
    buffer(fd.as_fd(), &RCVBUF)
}

/// Requests a receive buffer of `bytes` (`SO_RCVBUF`) and returns what the kernel set:
/// double the request, capped at twice `net.core.rmem_max`. Setting it turns receive
/// autotuning off for this socket.
///
/// # Errors
///
/// [`Error::InvalidValue`] above 2^31-1.
#[doc(alias = "SO_RCVBUF")]
pub fn set_recv_buffer(fd: impl AsFd, bytes: u32) -> Result<BufferSize> {
    set_buffer(fd.as_fd(), &RCVBUF, &RCVBUF, bytes)
}

/// As [`set_recv_buffer`], past `net.core.rmem_max` (`SO_RCVBUFFORCE`). Needs `CAP_NET_ADMIN`.
///
/// # Errors
///
/// [`Error::PermissionDenied`] without `CAP_NET_ADMIN`.
#[doc(alias = "SO_RCVBUFFORCE")]
pub fn set_recv_buffer_force(fd: impl AsFd, bytes: u32) -> Result<BufferSize> {
    set_buffer(fd.as_fd(), &RCVBUFFORCE, &RCVBUF, bytes)
}

/// The send buffer size the kernel uses, in bytes (`SO_SNDBUF`).
///
/// # Errors
///
/// Only for a descriptor that is not a socket.
#[doc(alias = "SO_SNDBUF")]
pub fn send_buffer(fd: impl AsFd) -> Result<u32> {
    buffer(fd.as_fd(), &SNDBUF)
}

/// Requests a send buffer of `bytes` (`SO_SNDBUF`) and returns what the kernel set:
/// double the request, capped at twice `net.core.wmem_max`.
///
/// # Errors
///
/// [`Error::InvalidValue`] above 2^31-1.
#[doc(alias = "SO_SNDBUF")]
pub fn set_send_buffer(fd: impl AsFd, bytes: u32) -> Result<BufferSize> {
    set_buffer(fd.as_fd(), &SNDBUF, &SNDBUF, bytes)
}

/// As [`set_send_buffer`], past `net.core.wmem_max` (`SO_SNDBUFFORCE`). Needs `CAP_NET_ADMIN`.
///
/// # Errors
///
/// [`Error::PermissionDenied`] without `CAP_NET_ADMIN`.
#[doc(alias = "SO_SNDBUFFORCE")]
pub fn set_send_buffer_force(fd: impl AsFd, bytes: u32) -> Result<BufferSize> {
    set_buffer(fd.as_fd(), &SNDBUFFORCE, &SNDBUF, bytes)
}

/// How long a blocking read busy-polls the device queue before sleeping (`SO_BUSY_POLL`).
///
/// # Errors
///
/// Only for a descriptor that is not a socket.
#[doc(alias = "SO_BUSY_POLL")]
pub fn busy_poll(fd: impl AsFd) -> Result<Duration> {
    let v = get_i(fd.as_fd(), &BUSY_POLL).and_then(|v| non_negative(&BUSY_POLL, v))?;
    Ok(Duration::from_micros(v.into()))
}

/// Sets `SO_BUSY_POLL` in whole microseconds.
///
/// # Errors
///
/// [`Error::InvalidValue`] for a fraction of a microsecond or above 2^31-1 µs.
#[doc(alias = "SO_BUSY_POLL")]
pub fn set_busy_poll(fd: impl AsFd, spin: Duration) -> Result<()> {
    if spin.subsec_nanos() % 1000 != 0 {
        return Err(Error::InvalidValue {
            option: BUSY_POLL.name,
            reason: format!("{spin:?} is not whole microseconds"),
            source: None,
        });
    }
    let v = int_of(
        &BUSY_POLL,
        u64::try_from(spin.as_micros()).unwrap_or(u64::MAX),
        "µs",
    )?;
    set_i(fd.as_fd(), &BUSY_POLL, v)
}

/// Sets `SO_BUSY_POLL_BUDGET`: the packets one busy-poll pass may process (raising it
/// needs `CAP_NET_ADMIN`). The kernel has no getter for it.
///
/// # Errors
///
/// [`Error::PermissionDenied`] when raising it without `CAP_NET_ADMIN`.
#[doc(alias = "SO_BUSY_POLL_BUDGET")]
pub fn set_busy_poll_budget(fd: impl AsFd, packets: u16) -> Result<()> {
    set_i(fd.as_fd(), &BUSY_POLL_BUDGET, c_int::from(packets))
}

/// The CPU that handled the socket's last incoming packet (`SO_INCOMING_CPU`), or `None`
/// before any.
///
/// # Errors
///
/// Only for a descriptor that is not a socket.
#[doc(alias = "SO_INCOMING_CPU")]
pub fn incoming_cpu(fd: impl AsFd) -> Result<Option<u32>> {
    let v = get_i(fd.as_fd(), &INCOMING_CPU)?;
    Ok(u32::try_from(v).ok())
}

/// Sets `SO_INCOMING_CPU`: with `SO_REUSEPORT`, a listener so marked gets the
/// connections that arrive on that CPU.
///
/// # Errors
///
/// [`Error::InvalidValue`] above 2^31-1.
#[doc(alias = "SO_INCOMING_CPU")]
pub fn set_incoming_cpu(fd: impl AsFd, cpu: u32) -> Result<()> {
    let v = int_of(&INCOMING_CPU, cpu.into(), "")?;
    set_i(fd.as_fd(), &INCOMING_CPU, v)
}

/// The most the socket may send per second (`SO_MAX_PACING_RATE`, read in 64 bits).
///
/// # Errors
///
/// Only for a descriptor that is not a socket.
#[doc(alias = "SO_MAX_PACING_RATE")]
pub fn max_pacing_rate(fd: impl AsFd) -> Result<PacingRate> {
    let fd = fd.as_fd();
    let mut buf = [0u8; 8];
    let n = sys::get_bytes(fd, MAX_PACING_RATE.level, MAX_PACING_RATE.num, &mut buf)
        .map_err(|e| os_error(fd, &MAX_PACING_RATE, "get", e))?;
    let raw = if n >= 8 {
        u64::from_ne_bytes(buf)
    } else {
        let mut four = [0u8; 4];
        four.copy_from_slice(&buf[..4]);
        u64::from(u32::from_ne_bytes(four))
    };
    Ok(PacingRate::from_raw(raw))
}

/// Caps the socket's sending rate (`SO_MAX_PACING_RATE`, set in 64 bits, so rates above
/// 34 Gbit/s work). Pacing needs the fq qdisc or TCP's internal pacing.
///
/// # Errors
///
/// [`Error::Unsupported`] on MPTCP sockets.
#[doc(alias = "SO_MAX_PACING_RATE")]
pub fn set_max_pacing_rate(fd: impl AsFd, rate: PacingRate) -> Result<()> {
    let fd = fd.as_fd();
    sys::set_bytes(
        fd,
        MAX_PACING_RATE.level,
        MAX_PACING_RATE.num,
        &rate.to_raw().to_ne_bytes(),
    )
    .map_err(|e| os_error(fd, &MAX_PACING_RATE, "set", e))
}

/// The address family of the socket (`SO_DOMAIN`).
fn domain(fd: BorrowedFd<'_>, o: &Opt) -> Result<c_int> {
    sys::get_int(fd, SOL_SOCKET, sys::SO_DOMAIN).map_err(|e| os_error(fd, o, "get", e))
}

fn class_opt(fd: BorrowedFd<'_>) -> Result<&'static Opt> {
    match domain(fd, &TOS)? {
        libc::AF_INET => Ok(&TOS),
        libc::AF_INET6 => Ok(&TCLASS),
        other => Err(Error::Unsupported {
            option: "IP_TOS/IPV6_TCLASS",
            reason: format!("the socket's address family {other} is neither IPv4 nor IPv6"),
            source: io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
        }),
    }
}

/// The TOS (IPv4) or traffic class (IPv6) byte of outgoing packets, as DSCP and ECN
/// (`IP_TOS` / `IPV6_TCLASS`, chosen by the socket's family).
///
/// # Errors
///
/// When the socket is neither IPv4 nor IPv6.
#[doc(alias = "IP_TOS")]
#[doc(alias = "IPV6_TCLASS")]
pub fn traffic_class(fd: impl AsFd) -> Result<TrafficClass> {
    let fd = fd.as_fd();
    let o = class_opt(fd)?;
    let v = get_i(fd, o)?;
    Ok(TrafficClass::from_byte(
        u8::try_from(v & 0xff).unwrap_or_default(),
    ))
}

/// Sets the TOS / traffic class byte (`IP_TOS` or `IPV6_TCLASS`, by the socket's family).
/// The kernel manages the ECN bits of TCP sockets itself.
///
/// # Errors
///
/// When the socket is neither IPv4 nor IPv6.
#[doc(alias = "IP_TOS")]
#[doc(alias = "IPV6_TCLASS")]
pub fn set_traffic_class(fd: impl AsFd, class: TrafficClass) -> Result<()> {
    let fd = fd.as_fd();
    let o = class_opt(fd)?;
    set_i(fd, o, c_int::from(class.to_byte()))
}

/// Whether the socket is listening (`SO_ACCEPTCONN`).
///
/// # Errors
///
/// Only for a descriptor that is not a socket.
#[doc(alias = "SO_ACCEPTCONN")]
pub fn is_listening(fd: impl AsFd) -> Result<bool> {
    let fd = fd.as_fd();
    sys::get_int(fd, SOL_SOCKET, sys::SO_ACCEPTCONN)
        .map(|v| v != 0)
        .map_err(|e| {
            os_error(
                fd,
                &opt("SO_ACCEPTCONN", SOL_SOCKET, sys::SO_ACCEPTCONN),
                "get",
                e,
            )
        })
}

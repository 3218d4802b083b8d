//! One function pair per option: `name(&fd)` reads, `set_name(&fd, value)` writes.
//!
//! The options are those of `tcp(7)`, `socket(7)`, `ip(7)` and `ipv6(7)`; each function's
//! doc alias is the C name. All take any `impl AsFd` (`&TcpStream`, `&TcpListener`, a
//! tokio or mio socket, a `socket2::Socket`, an `OwnedFd`).
//!
//! Every option is declared once, in the [`sockopts!`] table below: its C name, level and
//! number, the codec that turns the kernel's bytes into the typed value, the getter and
//! setter, the [`Setting`] variant and builder of
//! [`SocketProfile`](crate::SocketProfile), which sockets it belongs on, and the privilege
//! it needs. Adding an option is one row.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nettune_sysctl::CongestionControl;

use crate::error::{Error, Result};
use crate::sys::{self, SOL_IP, SOL_IPV6, SOL_SOCKET, SOL_TCP, c_int};
use crate::types::{BufferSize, Keepalive, PacingRate, TrafficClass};

/// An option: its C name, level and number, and the privilege it needs, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opt {
    pub(crate) name: &'static str,
    pub(crate) level: c_int,
    pub(crate) num: c_int,
    pub(crate) privilege: Option<&'static str>,
}

impl Opt {
    pub(crate) const fn new(name: &'static str, level: c_int, num: c_int) -> Self {
        Self {
            name,
            level,
            num,
            privilege: None,
        }
    }
}

/// Which sockets an option belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingScope {
    /// Any TCP socket (on a listener, accepted sockets inherit most of them).
    Any,
    /// Listening sockets only.
    Listener,
}

/// Declares the socket options: one row each.
///
/// `Variant = "C_NAME" (level, number), privilege, Scope, inherited|own, codec: get getter -> Read, set setter(Value) -> Written, profile builder;`
/// with `get _` for options the kernel cannot read back; `inherited` when a socket that
/// `accept()` returns carries the listener's value (checked against the kernel by the
/// `accept_inherits_what_the_table_says` test), `own` when each socket needs its own.
macro_rules! sockopts {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident = $cname:literal ($level:expr, $num:expr), $privilege:expr, $scope:ident, $inherit:ident,
        $codec:ident: get $get:tt -> $read:ty, set $set:ident($value:ty) -> $written:ty, profile $builder:ident;
    )+) => {
        /// The options, by [`Setting`] variant.
        #[allow(non_upper_case_globals)]
        pub(crate) mod opt {
            use super::*;
            $(
                pub(crate) const $variant: Opt = Opt {
                    privilege: $privilege,
                    ..Opt::new($cname, $level, $num)
                };
            )+
        }

        $(
            sockopts!(@get [$($doc)+] $cname, $get, $codec, $variant, $read);

            #[doc = concat!("Sets: ", $($doc, " ",)+ "(`", $cname, "`).")]
            ///
            /// # Errors
            ///
            /// [`Error::InvalidValue`] for a value out of range (checked before the call, or
            /// refused by the kernel), [`Error::PermissionDenied`] when the option needs a
            /// capability the caller lacks, [`Error::Unsupported`] when this socket or
            /// kernel does not have it.
            #[doc(alias = $cname)]
            pub fn $set(fd: impl AsFd, value: sockopts!(@param $codec $value)) -> Result<$written> {
                codec::$codec::set(fd.as_fd(), &opt::$variant, sockopts!(@arg $codec value))
            }
        )+

        /// One option with its value: what a [`SocketProfile`](crate::SocketProfile) holds.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Setting {
            $(
                #[doc = concat!("`", $cname, "`: ", $($doc, " ",)+)]
                $variant($value),
            )+
        }

        impl Setting {
            /// The C name of every option a setting can hold, in table order.
            pub const OPTIONS: &'static [&'static str] = &[$($cname),+];

            /// The option's C name.
            pub fn option(&self) -> &'static str {
                self.opt().name
            }

            pub(crate) fn opt(&self) -> &'static Opt {
                match self {
                    $(Self::$variant(_) => &opt::$variant,)+
                }
            }

            /// Which sockets the option belongs on.
            pub fn scope(&self) -> SettingScope {
                match self {
                    $(Self::$variant(_) => SettingScope::$scope,)+
                }
            }

            /// Whether a socket that `accept()` returns carries the listener's value (so
            /// setting it once on the listener tunes every connection). Listener-only
            /// options answer `false`: they do not apply to connections.
            pub fn inherited_by_accept(&self) -> bool {
                match self {
                    $(Self::$variant(_) => sockopts!(@inherit $inherit),)+
                }
            }

            /// Whether the kernel can read the option back (`SO_BUSY_POLL_BUDGET` is
            /// write-only).
            pub fn is_readable(&self) -> bool {
                !matches!(self, Self::BusyPollBudget(_))
            }

            /// Sets the option on `fd`.
            ///
            /// # Errors
            ///
            /// As the option's setter.
            pub fn apply(&self, fd: impl AsFd) -> Result<()> {
                let fd = fd.as_fd();
                match self {
                    $(Self::$variant(v) => codec::$codec::set(fd, &opt::$variant, v).map(drop),)+
                }
            }

            /// The same option with the value `fd` has now, to restore it later.
            ///
            /// # Errors
            ///
            /// As the option's getter.
            pub fn current(&self, fd: impl AsFd) -> Result<Self> {
                let fd = fd.as_fd();
                Ok(match self {
                    $(Self::$variant(_) => Self::$variant(codec::$codec::current(fd, &opt::$variant)?),)+
                })
            }

            /// Checks the value as the setter would, without a system call.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidValue`] for a value the setter refuses before the call
            /// (a fraction of the option's unit, above 2^31-1).
            pub fn check(&self) -> Result<()> {
                match self {
                    $(Self::$variant(v) => codec::$codec::check(&opt::$variant, v),)+
                }
            }

            /// The exact state of the options the setter writes on `fd`.
            pub(crate) fn save(&self, fd: BorrowedFd<'_>) -> Result<Saved> {
                match self {
                    $(Self::$variant(_) => codec::$codec::save(fd, &opt::$variant),)+
                }
            }

            /// Whether a failed strict profile can put the option back exactly (buffer
            /// sizes stay locked once set; a write-only option cannot be read).
            pub fn undo_is_exact(&self) -> bool {
                !matches!(
                    self.opt().num,
                    sys::SO_RCVBUF | sys::SO_SNDBUF | sys::SO_RCVBUFFORCE | sys::SO_SNDBUFFORCE | sys::SO_BUSY_POLL_BUDGET
                ) || self.opt().level != SOL_SOCKET
            }

            /// Whether setting it may be refused by this host rather than by its value: it
            /// needs a privilege, a sysctl, or an algorithm the kernel may lack.
            pub(crate) fn may_be_refused(&self) -> bool {
                self.opt().privilege.is_some()
                    || matches!(self, Self::Congestion(_) | Self::FastOpen(_) | Self::FastOpenConnect(_))
            }
        }

        impl crate::SocketProfile {
            $(
                #[doc = concat!("Adds `", $cname, "`: ", $($doc, " ",)+)]
                #[must_use]
                pub fn $builder(self, value: $value) -> Self {
                    self.with(Setting::$variant(value))
                }
            )+
        }
    };
    // Names are taken by reference (as `set_congestion(&fd, &cc)`), the rest by value.
    (@inherit inherited) => { true };
    (@inherit own) => { false };
    (@param congestion $value:ty) => { &$value };
    (@param $codec:ident $value:ty) => { $value };
    (@arg congestion $v:ident) => { $v };
    (@arg $codec:ident $v:ident) => { &$v };
    (@get [$($doc:literal)+] $cname:literal, _, $codec:ident, $variant:ident, $read:ty) => {};
    (@get [$($doc:literal)+] $cname:literal, $get:ident, $codec:ident, $variant:ident, $read:ty) => {
        #[doc = concat!($($doc, " ",)+ "(`", $cname, "`).")]
        ///
        /// # Errors
        ///
        /// [`Error::Unsupported`] when this socket or kernel does not have the option.
        #[doc(alias = $cname)]
        pub fn $get(fd: impl AsFd) -> Result<$read> {
            codec::$codec::get(fd.as_fd(), &opt::$variant)
        }
    };
}

const NET_ADMIN: Option<&str> = Some("needs CAP_NET_ADMIN");

sockopts! {
    /// Whether small segments are sent at once (Nagle off)
    NoDelay = "TCP_NODELAY" (SOL_TCP, sys::TCP_NODELAY), None, Any, inherited, boolean: get nodelay -> bool, set set_nodelay(bool) -> (), profile nodelay;
    /// Whether ACKs are sent at once rather than delayed; the kernel clears it again, so set it after each read that matters (per connection: accept() does not carry it)
    QuickAck = "TCP_QUICKACK" (SOL_TCP, sys::TCP_QUICKACK), None, Any, own, boolean: get quickack -> bool, set set_quickack(bool) -> (), profile quickack;
    /// Whether partial segments are held back until uncorked (200 ms at most)
    Cork = "TCP_CORK" (SOL_TCP, sys::TCP_CORK), None, Any, inherited, boolean: get cork -> bool, set set_cork(bool) -> (), profile cork;
    /// The most unsent bytes the socket queues before it stops being writable, in bytes
    NotsentLowat = "TCP_NOTSENT_LOWAT" (SOL_TCP, sys::TCP_NOTSENT_LOWAT), None, Any, inherited, uint: get notsent_lowat -> u32, set set_notsent_lowat(u32) -> (), profile notsent_lowat;
    /// How long the kernel keeps trying to deliver data before it closes the connection (`None`: the system default; it also overrides keepalive's closing)
    UserTimeout = "TCP_USER_TIMEOUT" (SOL_TCP, sys::TCP_USER_TIMEOUT), None, Any, inherited, millis: get user_timeout -> Option<Duration>, set set_user_timeout(Option<Duration>) -> (), profile user_timeout;
    /// Keepalive: on with idle time, interval and probe count (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`), or off with `None`
    Keepalive = "SO_KEEPALIVE" (SOL_SOCKET, sys::SO_KEEPALIVE), None, Any, inherited, keepalive: get keepalive -> Option<Keepalive>, set set_keepalive(Option<Keepalive>) -> (), profile keepalive;
    /// The maximum segment size, in bytes (set it before connecting, or on a listener: its SYN-ACKs advertise it, and an accepted socket reads back the segment size it settled on, at most this)
    MaxSeg = "TCP_MAXSEG" (SOL_TCP, sys::TCP_MAXSEG), None, Any, inherited, uint: get maxseg -> u32, set set_maxseg(u32) -> (), profile maxseg;
    /// The largest receive window advertised, in bytes
    WindowClamp = "TCP_WINDOW_CLAMP" (SOL_TCP, sys::TCP_WINDOW_CLAMP), None, Any, inherited, uint: get window_clamp -> u32, set set_window_clamp(u32) -> (), profile window_clamp;
    /// Whether thin streams retransmit with linear rather than exponential backoff
    ThinLinearTimeouts = "TCP_THIN_LINEAR_TIMEOUTS" (SOL_TCP, sys::TCP_THIN_LINEAR_TIMEOUTS), None, Any, inherited, boolean: get thin_linear_timeouts -> bool, set set_thin_linear_timeouts(bool) -> (), profile thin_linear_timeouts;
    /// The receive buffer: the kernel doubles a request and caps it at twice `net.core.rmem_max`; setting it turns receive autotuning off for the socket
    RecvBuffer = "SO_RCVBUF" (SOL_SOCKET, sys::SO_RCVBUF), None, Any, inherited, buffer: get recv_buffer -> u32, set set_recv_buffer(u32) -> BufferSize, profile recv_buffer;
    /// The send buffer: the kernel doubles a request and caps it at twice `net.core.wmem_max`
    SendBuffer = "SO_SNDBUF" (SOL_SOCKET, sys::SO_SNDBUF), None, Any, inherited, buffer: get send_buffer -> u32, set set_send_buffer(u32) -> BufferSize, profile send_buffer;
    /// The receive buffer past `net.core.rmem_max`
    RecvBufferForce = "SO_RCVBUFFORCE" (SOL_SOCKET, sys::SO_RCVBUFFORCE), NET_ADMIN, Any, inherited, buffer: get _ -> u32, set set_recv_buffer_force(u32) -> BufferSize, profile recv_buffer_force;
    /// The send buffer past `net.core.wmem_max`
    SendBufferForce = "SO_SNDBUFFORCE" (SOL_SOCKET, sys::SO_SNDBUFFORCE), NET_ADMIN, Any, inherited, buffer: get _ -> u32, set set_send_buffer_force(u32) -> BufferSize, profile send_buffer_force;
    /// How long a blocking read busy-polls the device queue before sleeping, in whole microseconds
    BusyPoll = "SO_BUSY_POLL" (SOL_SOCKET, sys::SO_BUSY_POLL), Some("raising it needs CAP_NET_ADMIN before Linux 6.4"), Any, inherited, micros: get busy_poll -> Duration, set set_busy_poll(Duration) -> (), profile busy_poll;
    /// Whether busy polling is preferred over interrupts
    PreferBusyPoll = "SO_PREFER_BUSY_POLL" (SOL_SOCKET, sys::SO_PREFER_BUSY_POLL), Some("turning it on needs CAP_NET_ADMIN"), Any, inherited, boolean: get prefer_busy_poll -> bool, set set_prefer_busy_poll(bool) -> (), profile prefer_busy_poll;
    /// The packets one busy-poll pass may process (the kernel cannot read it back)
    BusyPollBudget = "SO_BUSY_POLL_BUDGET" (SOL_SOCKET, sys::SO_BUSY_POLL_BUDGET), Some("raising it needs CAP_NET_ADMIN"), Any, inherited, budget: get _ -> u16, set set_busy_poll_budget(u16) -> (), profile busy_poll_budget;
    /// The CPU whose connections a listener with `SO_REUSEPORT` gets; reads back the CPU that handled the last packet, `None` before any (the kernel rewrites it per packet, so accept() carries nothing of it)
    IncomingCpu = "SO_INCOMING_CPU" (SOL_SOCKET, sys::SO_INCOMING_CPU), None, Any, own, incoming_cpu: get incoming_cpu -> Option<u32>, set set_incoming_cpu(u32) -> (), profile incoming_cpu;
    /// The most the socket may send per second (64-bit, so rates above 34 Gbit/s work; pacing needs the fq qdisc or TCP's internal pacing)
    MaxPacingRate = "SO_MAX_PACING_RATE" (SOL_SOCKET, sys::SO_MAX_PACING_RATE), None, Any, inherited, pacing: get max_pacing_rate -> PacingRate, set set_max_pacing_rate(PacingRate) -> (), profile max_pacing_rate;
    /// The queueing priority (0 to 6 for anyone; accept() does not carry it: accepted sockets start at 0)
    Priority = "SO_PRIORITY" (SOL_SOCKET, sys::SO_PRIORITY), Some("priorities above 6 need CAP_NET_ADMIN (or CAP_NET_RAW)"), Any, own, uint: get priority -> u32, set set_priority(u32) -> (), profile priority;
    /// The TOS (IPv4) or traffic class (IPv6) byte of outgoing packets, as DSCP and ECN: a dual-stack IPv6 socket gets both, since its IPv4-mapped traffic carries the IPv4 TOS; reads back the byte the socket's packets carry
    TrafficClass = "IP_TOS/IPV6_TCLASS" (SOL_IP, sys::IP_TOS), None, Any, inherited, traffic_class: get traffic_class -> TrafficClass, set set_traffic_class(TrafficClass) -> (), profile traffic_class;
    /// The mark used by policy routing and netfilter
    Mark = "SO_MARK" (SOL_SOCKET, sys::SO_MARK), NET_ADMIN, Any, inherited, uint: get mark -> u32, set set_mark(u32) -> (), profile mark;
    /// Whether `MSG_ZEROCOPY` sends are allowed
    ZeroCopy = "SO_ZEROCOPY" (SOL_SOCKET, sys::SO_ZEROCOPY), None, Any, inherited, boolean: get zerocopy -> bool, set set_zerocopy(bool) -> (), profile zerocopy;
    /// Whether several sockets may bind the same port, with the kernel spreading connections (set before bind)
    ReusePort = "SO_REUSEPORT" (SOL_SOCKET, sys::SO_REUSEPORT), None, Any, inherited, boolean: get reuseport -> bool, set set_reuseport(bool) -> (), profile reuseport;
    /// Whether connect() defers the SYN to the first write, which then carries the data (set before connecting; needs the client bit of net.ipv4.tcp_fastopen in the socket's namespace)
    FastOpenConnect = "TCP_FASTOPEN_CONNECT" (SOL_TCP, sys::TCP_FASTOPEN_CONNECT), None, Any, inherited, fastopen_connect: get fastopen_connect -> bool, set set_fastopen_connect(bool) -> (), profile fastopen_connect;
    /// The fast-open queue of a listener: how many connections with SYN data may wait for `accept` (checked against net.ipv4.tcp_fastopen of the socket's own namespace, which the kernel silently obeys)
    FastOpen = "TCP_FASTOPEN" (SOL_TCP, sys::TCP_FASTOPEN), None, Listener, own, fastopen: get fastopen -> u32, set set_fastopen(u32) -> (), profile fastopen;
    /// How long a listener waits for data before waking `accept`, in whole seconds (the kernel rounds to its retransmission schedule: 1, 3, 7, 15, ... s)
    DeferAccept = "TCP_DEFER_ACCEPT" (SOL_TCP, sys::TCP_DEFER_ACCEPT), None, Listener, own, secs: get defer_accept -> Duration, set set_defer_accept(Duration) -> (), profile defer_accept;
    /// The socket's congestion control algorithm (unprivileged callers may pick only the ones in net.ipv4.tcp_allowed_congestion_control)
    Congestion = "TCP_CONGESTION" (SOL_TCP, sys::TCP_CONGESTION), Some("algorithms outside net.ipv4.tcp_allowed_congestion_control need CAP_NET_ADMIN"), Any, inherited, congestion: get congestion -> CongestionControl, set set_congestion(CongestionControl) -> (), profile congestion;
}

pub(crate) const TCP_INFO: Opt = Opt::new("TCP_INFO", SOL_TCP, sys::TCP_INFO);
pub(crate) const TCP_CC_INFO: Opt = Opt::new("TCP_CC_INFO", SOL_TCP, sys::TCP_CC_INFO);
const ACCEPTCONN: Opt = Opt::new("SO_ACCEPTCONN", SOL_SOCKET, sys::SO_ACCEPTCONN);
const TOS: Opt = Opt::new("IP_TOS", SOL_IP, sys::IP_TOS);
const TCLASS: Opt = Opt::new("IPV6_TCLASS", SOL_IPV6, sys::IPV6_TCLASS);
const V6ONLY: Opt = Opt::new("IPV6_V6ONLY", SOL_IPV6, sys::IPV6_V6ONLY);
const KEEPIDLE: Opt = Opt::new("TCP_KEEPIDLE", SOL_TCP, sys::TCP_KEEPIDLE);
const KEEPINTVL: Opt = Opt::new("TCP_KEEPINTVL", SOL_TCP, sys::TCP_KEEPINTVL);
const KEEPCNT: Opt = Opt::new("TCP_KEEPCNT", SOL_TCP, sys::TCP_KEEPCNT);

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
        reason: if unit.is_empty() {
            format!("{value} is above 2^31-1")
        } else {
            format!("{value} {unit} is above 2^31-1")
        },
        source: None,
    })
}

/// An `int` the kernel should never return negative.
fn get_u(fd: BorrowedFd<'_>, o: &Opt) -> Result<u32> {
    let v = get_i(fd, o)?;
    u32::try_from(v).map_err(|_| Error::decode(o.name, format!("the kernel returned {v}")))
}

/// The raw bytes of one option as `getsockopt` returned them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawValue {
    opt: Opt,
    bytes: [u8; 16],
    len: usize,
}

/// What an option was before a strict profile changed it, to put back exactly.
#[derive(Debug, Clone)]
// Held on the stack, one per option of a strict apply: no allocation on the hot path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Saved {
    /// The raw values of the options the setter writes (the first `len`, at most four:
    /// keepalive's), written back in order.
    Raw { values: [RawValue; 4], len: usize },
    /// A buffer size (the request that gives the old size back). The kernel keeps a size
    /// that was set fixed, with autotuning off, so this cannot be undone exactly.
    Buffer { opt: Opt, request: u32 },
    /// A write-only option: only the kernel's default can be written back.
    WriteOnly { opt: Opt, default: c_int },
}

/// How a saved option went back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Restored {
    /// To exactly what it was.
    Exact,
    /// As near as the kernel allows, and what differs.
    Inexact(String),
}

impl Saved {
    /// The raw values of `opts` on `fd`.
    pub(crate) fn raw(fd: BorrowedFd<'_>, opts: &[Opt]) -> Result<Self> {
        let empty = RawValue {
            opt: *opts.first().unwrap_or(&ACCEPTCONN),
            bytes: [0; 16],
            len: 0,
        };
        let mut values = [empty; 4];
        for (slot, o) in values.iter_mut().zip(opts) {
            let len = sys::get_bytes(fd, o.level, o.num, &mut slot.bytes)
                .map_err(|e| os_error(fd, o, "get", e))?;
            slot.opt = *o;
            slot.len = len;
        }
        Ok(Self::Raw {
            values,
            len: opts.len().min(4),
        })
    }

    /// Writes the saved state back.
    pub(crate) fn restore(&self, fd: BorrowedFd<'_>) -> Result<Restored> {
        match self {
            Self::Raw { values, len } => {
                for v in &values[..*len] {
                    sys::set_bytes(fd, v.opt.level, v.opt.num, &v.bytes[..v.len])
                        .map_err(|e| os_error(fd, &v.opt, "set", e))?;
                }
                Ok(Restored::Exact)
            }
            Self::Buffer { opt, request } => {
                codec::buffer::restore(fd, opt, request)?;
                Ok(Restored::Inexact(format!(
                    "the size is back, but the kernel now holds it fixed: {} stays locked \
                     and {} autotuning off for this socket",
                    opt.name,
                    if opt.num == sys::SO_RCVBUF || opt.num == sys::SO_RCVBUFFORCE {
                        "receive"
                    } else {
                        "send"
                    }
                )))
            }
            Self::WriteOnly { opt, default } => {
                set_i(fd, opt, *default)?;
                Ok(Restored::Inexact(format!(
                    "write-only: set back to the kernel's default {default}; an earlier value \
                     cannot be read"
                )))
            }
        }
    }
}

/// How each kind of option value crosses the system call: `check` validates a value
/// without a system call, `get` reads it, `set` checks and writes it, `current` reads it
/// as a value to set again, `save` the exact state a failed strict profile puts back.
mod codec {
    use super::*;

    /// Codecs whose value reads back as it was set.
    macro_rules! symmetric {
        () => {
            pub(crate) fn current(fd: BorrowedFd<'_>, o: &Opt) -> Result<Value> {
                get(fd, o)
            }
        };
    }

    /// Codecs that write one option: its raw bytes are its state.
    macro_rules! raw_save {
        () => {
            pub(crate) fn save(fd: BorrowedFd<'_>, o: &Opt) -> Result<Saved> {
                Saved::raw(fd, &[*o])
            }
        };
    }

    /// Codecs whose every value is valid.
    macro_rules! no_check {
        () => {
            pub(crate) fn check(_: &Opt, _: &Value) -> Result<()> {
                Ok(())
            }
        };
    }

    /// A duration that must be whole `unit`s.
    fn whole(o: &Opt, v: &Duration, nanos_per_unit: u128, unit: &str) -> Result<c_int> {
        if v.as_nanos() % nanos_per_unit != 0 {
            return Err(Error::InvalidValue {
                option: o.name,
                reason: format!("{v:?} is not a whole number of {unit}"),
                source: None,
            });
        }
        let n = u64::try_from(v.as_nanos() / nanos_per_unit).unwrap_or(u64::MAX);
        int_of(o, n, unit)
    }

    /// A C `int` used as a boolean.
    pub(crate) mod boolean {
        use super::*;
        type Value = bool;
        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<bool> {
            get_i(fd, o).map(|v| v != 0)
        }
        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &bool) -> Result<()> {
            set_i(fd, o, c_int::from(*v))
        }
        no_check!();
        symmetric!();
        raw_save!();
    }

    /// A non-negative C `int`.
    pub(crate) mod uint {
        use super::*;
        type Value = u32;
        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<u32> {
            get_u(fd, o)
        }
        pub(crate) fn check(o: &Opt, v: &u32) -> Result<()> {
            int_of(o, u64::from(*v), "").map(drop)
        }
        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &u32) -> Result<()> {
            set_i(fd, o, int_of(o, u64::from(*v), "")?)
        }
        symmetric!();
        raw_save!();
    }

    /// Whole milliseconds, 0 meaning the system default.
    pub(crate) mod millis {
        use super::*;
        type Value = Option<Duration>;
        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<Value> {
            let v = get_u(fd, o)?;
            Ok((v > 0).then(|| Duration::from_millis(v.into())))
        }
        pub(crate) fn check(o: &Opt, v: &Value) -> Result<()> {
            v.map_or(Ok(()), |d| whole(o, &d, 1_000_000, "ms").map(drop))
        }
        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &Value) -> Result<()> {
            let ms = match v {
                Some(d) => whole(o, d, 1_000_000, "ms")?,
                None => 0,
            };
            set_i(fd, o, ms)
        }
        symmetric!();
        raw_save!();
    }

    /// Whole seconds.
    pub(crate) mod secs {
        use super::*;
        type Value = Duration;
        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<Duration> {
            get_u(fd, o).map(|s| Duration::from_secs(s.into()))
        }
        pub(crate) fn check(o: &Opt, v: &Duration) -> Result<()> {
            whole(o, v, 1_000_000_000, "s").map(drop)
        }
        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &Duration) -> Result<()> {
            set_i(fd, o, whole(o, v, 1_000_000_000, "s")?)
        }
        symmetric!();
        raw_save!();
    }

    /// Whole microseconds.
    pub(crate) mod micros {
        use super::*;
        type Value = Duration;
        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<Duration> {
            get_u(fd, o).map(|us| Duration::from_micros(us.into()))
        }
        pub(crate) fn check(o: &Opt, v: &Duration) -> Result<()> {
            whole(o, v, 1_000, "µs").map(drop)
        }
        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &Duration) -> Result<()> {
            set_i(fd, o, whole(o, v, 1_000, "µs")?)
        }
        symmetric!();
        raw_save!();
    }

    /// `SO_BUSY_POLL_BUDGET`: write-only; 0 is the kernel's default (the NAPI weight).
    pub(crate) mod budget {
        use super::*;
        type Value = u16;
        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &u16) -> Result<()> {
            set_i(fd, o, c_int::from(*v))
        }
        no_check!();
        pub(crate) fn current(_: BorrowedFd<'_>, _: &Opt) -> Result<u16> {
            Ok(0)
        }
        pub(crate) fn save(_: BorrowedFd<'_>, o: &Opt) -> Result<Saved> {
            Ok(Saved::WriteOnly {
                opt: *o,
                default: 0,
            })
        }
    }

    /// `SO_RCVBUF`/`SO_SNDBUF` and their FORCE forms: the setter reports what the kernel
    /// made of the request.
    pub(crate) mod buffer {
        use super::*;

        /// The option that reads the buffer back, and the FORCE form.
        fn pair(o: &Opt) -> (Opt, Opt) {
            if o.num == sys::SO_RCVBUF || o.num == sys::SO_RCVBUFFORCE {
                (opt::RecvBuffer, opt::RecvBufferForce)
            } else {
                (opt::SendBuffer, opt::SendBufferForce)
            }
        }

        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<u32> {
            get_u(fd, &pair(o).0)
        }

        pub(crate) fn check(o: &Opt, bytes: &u32) -> Result<()> {
            int_of(o, u64::from(*bytes), "bytes").map(drop)
        }

        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, bytes: &u32) -> Result<BufferSize> {
            set_i(fd, o, int_of(o, u64::from(*bytes), "bytes")?)?;
            Ok(BufferSize {
                requested: *bytes,
                effective: get(fd, o)?,
            })
        }

        /// What to request to get the present size back: half of it.
        pub(crate) fn current(fd: BorrowedFd<'_>, o: &Opt) -> Result<u32> {
            get(fd, o).map(|v| v / 2)
        }

        /// Puts a size back, past the `*mem_max` cap with the FORCE form when the caller
        /// may.
        pub(crate) fn restore(fd: BorrowedFd<'_>, o: &Opt, bytes: &u32) -> Result<()> {
            let (plain, force) = pair(o);
            set(fd, &force, bytes)
                .or_else(|_| set(fd, &plain, bytes))
                .map(drop)
        }

        pub(crate) fn save(fd: BorrowedFd<'_>, o: &Opt) -> Result<Saved> {
            Ok(Saved::Buffer {
                opt: pair(o).0,
                request: current(fd, o)?,
            })
        }
    }

    /// `SO_INCOMING_CPU`: set a CPU, read the CPU of the last packet (-1 before any).
    pub(crate) mod incoming_cpu {
        use super::*;
        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<Option<u32>> {
            get_i(fd, o).map(|v| u32::try_from(v).ok())
        }
        pub(crate) fn check(o: &Opt, cpu: &u32) -> Result<()> {
            int_of(o, u64::from(*cpu), "").map(drop)
        }
        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, cpu: &u32) -> Result<()> {
            set_i(fd, o, int_of(o, u64::from(*cpu), "")?)
        }
        /// "No CPU yet" comes back as a CPU index no machine has, which steers nothing
        /// either.
        pub(crate) fn current(fd: BorrowedFd<'_>, o: &Opt) -> Result<u32> {
            Ok(get(fd, o)?.unwrap_or(i32::MAX.unsigned_abs()))
        }
        raw_save!();
    }

    /// `SO_MAX_PACING_RATE`, read and written in 64 bits.
    pub(crate) mod pacing {
        use super::*;
        type Value = PacingRate;
        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<PacingRate> {
            nettune_core::raw::getsockopt_u64(fd, o.level, o.num)
                .map(PacingRate::from_raw)
                .map_err(|e| os_error(fd, o, "get", e))
        }
        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &PacingRate) -> Result<()> {
            sys::set_bytes(fd, o.level, o.num, &v.to_raw().to_ne_bytes())
                .map_err(|e| os_error(fd, o, "set", e))
        }
        no_check!();
        symmetric!();
        raw_save!();
    }

    /// The TOS or traffic class byte of the packets the socket sends. An IPv4 socket uses
    /// `IP_TOS`; an IPv6 socket `IPV6_TCLASS` for IPv6 packets, but `IP_TOS` for the IPv4
    /// packets of a dual-stack (`IPV6_V6ONLY` off) socket whose peer is IPv4-mapped. So a
    /// dual-stack socket gets both, and reads back the one its packets use.
    pub(crate) mod traffic_class {
        use super::*;
        type Value = TrafficClass;

        /// The options whose byte the socket's packets carry now, the one to read first.
        pub(crate) fn class_opts(fd: BorrowedFd<'_>, o: &Opt) -> Result<&'static [Opt]> {
            let domain = sys::get_int(fd, SOL_SOCKET, sys::SO_DOMAIN)
                .map_err(|e| os_error(fd, o, "get", e))?;
            match domain {
                libc::AF_INET => Ok(&[TOS]),
                libc::AF_INET6 => {
                    if get_i(fd, &V6ONLY)? != 0 {
                        return Ok(&[TCLASS]);
                    }
                    let mapped = socket2::SockRef::from(&fd)
                        .peer_addr()
                        .ok()
                        .and_then(|a| a.as_socket_ipv6())
                        .is_some_and(|a| a.ip().to_ipv4_mapped().is_some());
                    Ok(if mapped {
                        &[TOS, TCLASS]
                    } else {
                        &[TCLASS, TOS]
                    })
                }
                other => Err(Error::Unsupported {
                    option: o.name,
                    reason: format!("the socket's address family {other} is neither IPv4 nor IPv6"),
                    source: io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
                }),
            }
        }

        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<TrafficClass> {
            let v = get_i(fd, &class_opts(fd, o)?[0])?;
            Ok(TrafficClass::from_byte(
                u8::try_from(v & 0xff).unwrap_or_default(),
            ))
        }

        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &TrafficClass) -> Result<()> {
            for class in class_opts(fd, o)? {
                set_i(fd, class, c_int::from(v.to_byte()))?;
            }
            Ok(())
        }
        no_check!();
        symmetric!();
        pub(crate) fn save(fd: BorrowedFd<'_>, o: &Opt) -> Result<Saved> {
            Saved::raw(fd, class_opts(fd, o)?)
        }
    }

    /// Keepalive: four options read and written together.
    pub(crate) mod keepalive {
        use super::*;
        type Value = Option<Keepalive>;

        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<Value> {
            if get_i(fd, o)? == 0 {
                return Ok(None);
            }
            let secs = |o: &Opt| get_u(fd, o).map(|s| Duration::from_secs(s.into()));
            let count = get_u(fd, &KEEPCNT)?;
            Keepalive::new(secs(&KEEPIDLE)?, secs(&KEEPINTVL)?, count).map(Some)
        }

        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &Value) -> Result<()> {
            let Some(k) = v else {
                return set_i(fd, o, 0);
            };
            // Whole seconds up to 32767 and counts up to 127, checked by Keepalive::new.
            let secs = |d: Duration| c_int::try_from(d.as_secs()).unwrap_or(c_int::MAX);
            set_i(fd, &KEEPIDLE, secs(k.idle()))?;
            set_i(fd, &KEEPINTVL, secs(k.interval()))?;
            set_i(
                fd,
                &KEEPCNT,
                c_int::try_from(k.count()).unwrap_or(c_int::MAX),
            )?;
            set_i(fd, o, 1)
        }
        no_check!();
        symmetric!();
        /// All four, the switch last: turning keepalive off leaves the times as they were.
        pub(crate) fn save(fd: BorrowedFd<'_>, o: &Opt) -> Result<Saved> {
            Saved::raw(fd, &[KEEPIDLE, KEEPINTVL, KEEPCNT, *o])
        }
    }

    /// The sysctls of the socket's own network namespace (`SIOCGSKNS`), which may not be
    /// the calling thread's. Without CAP_NET_ADMIN the kernel refuses `SIOCGSKNS`; such a
    /// caller cannot have entered another namespace either, so its own is read.
    pub(crate) fn socket_sysctl(fd: BorrowedFd<'_>) -> nettune_sysctl::Sysctl {
        match nettune_core::NetNs::of_socket(fd) {
            Ok(ns) => nettune_sysctl::Sysctl::new().in_netns(&ns),
            Err(_) => nettune_sysctl::Sysctl::new(),
        }
    }

    /// `net.ipv4.tcp_fastopen` of the socket's namespace, when it can be read.
    fn fastopen_bits(fd: BorrowedFd<'_>) -> Option<nettune_sysctl::FastOpen> {
        socket_sysctl(fd)
            .get::<nettune_sysctl::knobs::TcpFastopen>()
            .ok()
    }

    /// What to set `net.ipv4.tcp_fastopen` to for `bit` (named `role`), when it lacks it.
    pub(crate) fn fastopen_missing(
        fd: BorrowedFd<'_>,
        bit: nettune_sysctl::FastOpen,
        role: &str,
    ) -> Option<String> {
        let bits = fastopen_bits(fd)?;
        (!bits.contains(bit)).then(|| {
            format!(
                "net.ipv4.tcp_fastopen of the socket's network namespace is {:#x}, without the \
                 {role} bit {:#x}; set it to {:#x}",
                bits.bits(),
                bit.bits(),
                (bits | bit).bits()
            )
        })
    }

    /// `TCP_FASTOPEN` on a listener: the queue length, checked against the sysctl of the
    /// socket's namespace, which the kernel obeys silently.
    pub(crate) mod fastopen {
        use super::*;
        use nettune_sysctl::FastOpen;
        type Value = u32;

        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<u32> {
            get_u(fd, o)
        }

        pub(crate) fn check(o: &Opt, queue_len: &u32) -> Result<()> {
            int_of(o, u64::from(*queue_len), "connections").map(drop)
        }

        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, queue_len: &u32) -> Result<()> {
            set_i(fd, o, int_of(o, u64::from(*queue_len), "connections")?)?;
            if *queue_len == 0 {
                return Ok(());
            }
            match fastopen_missing(fd, FastOpen::SERVER, "server") {
                Some(why) => Err(Error::Inactive {
                    option: o.name,
                    reason: format!("listeners ignore TCP_FASTOPEN: {why}"),
                }),
                None => Ok(()),
            }
        }
        symmetric!();
        raw_save!();
    }

    /// `TCP_FASTOPEN_CONNECT`: a boolean the kernel refuses without the client bit.
    pub(crate) mod fastopen_connect {
        use super::*;
        use nettune_sysctl::FastOpen;
        type Value = bool;

        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<bool> {
            boolean::get(fd, o)
        }

        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, v: &bool) -> Result<()> {
            sys::set_int(fd, o.level, o.num, c_int::from(*v)).map_err(|source| {
                match source.raw_os_error() {
                    Some(libc::EOPNOTSUPP) => {
                        match fastopen_missing(fd, FastOpen::CLIENT, "client") {
                            Some(why) => Error::Unsupported {
                                option: o.name,
                                reason: format!("connect() cannot send data in the SYN: {why}"),
                                source,
                            },
                            None => os_error(fd, o, "set", source),
                        }
                    }
                    Some(libc::EINVAL) => Error::Misuse {
                        option: o.name,
                        reason: "set it before connecting (the socket is no longer closed)"
                            .to_owned(),
                    },
                    _ => os_error(fd, o, "set", source),
                }
            })
        }
        no_check!();
        symmetric!();
        raw_save!();
    }

    /// `TCP_CONGESTION`: a name of up to 15 bytes; refusals name the algorithms that
    /// would work.
    pub(crate) mod congestion {
        use super::*;
        use nettune_sysctl::{Knob, NameList, knobs};
        type Value = CongestionControl;

        pub(crate) fn get(fd: BorrowedFd<'_>, o: &Opt) -> Result<CongestionControl> {
            let mut buf = [0u8; 16];
            let n = sys::get_bytes(fd, o.level, o.num, &mut buf)
                .map_err(|e| os_error(fd, o, "get", e))?;
            let name = std::str::from_utf8(&buf[..n])
                .map_err(|_| Error::decode(o.name, "the name is not UTF-8"))?;
            CongestionControl::new(name).map_err(|e| Error::decode(o.name, e.reason()))
        }

        fn list<K: Knob<Value = NameList<CongestionControl>>>(fd: BorrowedFd<'_>) -> Vec<String> {
            socket_sysctl(fd)
                .get::<K>()
                .map(|l| l.as_slice().iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        }

        pub(crate) fn set(fd: BorrowedFd<'_>, o: &Opt, cc: &CongestionControl) -> Result<()> {
            sys::set_bytes(fd, o.level, o.num, cc.as_str().as_bytes()).map_err(
                |source| match source.raw_os_error() {
                    Some(libc::ENOENT) => Error::CongestionControlUnavailable {
                        name: cc.to_string(),
                        available: list::<knobs::TcpAvailableCongestionControl>(fd),
                        source,
                    },
                    Some(libc::EPERM) => Error::CongestionControlNotAllowed {
                        name: cc.to_string(),
                        allowed: list::<knobs::TcpAllowedCongestionControl>(fd),
                        source,
                    },
                    _ => os_error(fd, o, "set", source),
                },
            )
        }
        no_check!();
        symmetric!();
        raw_save!();
    }
}

/// Whether the socket is listening (`SO_ACCEPTCONN`).
///
/// # Errors
///
/// Only for a descriptor that is not a socket.
#[doc(alias = "SO_ACCEPTCONN")]
pub fn is_listening(fd: impl AsFd) -> Result<bool> {
    codec::boolean::get(fd.as_fd(), &ACCEPTCONN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    /// A buffer size goes back, and the restore says that the kernel now holds it fixed;
    /// raw options go back exactly.
    #[test]
    fn saved_states_say_how_exactly_they_went_back() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let fd = client.as_fd();
        let before = recv_buffer(fd).expect("rcvbuf");
        let saved = Setting::RecvBuffer(40_000).save(fd).expect("save");
        set_recv_buffer(fd, 40_000).expect("set");
        assert_ne!(recv_buffer(fd).expect("rcvbuf"), before);
        match saved.restore(fd).expect("restore") {
            Restored::Inexact(why) => assert!(why.contains("autotuning off"), "{why}"),
            Restored::Exact => panic!("a buffer size cannot be put back exactly"),
        }
        assert_eq!(recv_buffer(fd).expect("rcvbuf"), before);
        let lowat = notsent_lowat(fd).expect("lowat");
        let saved = Setting::NotsentLowat(1234).save(fd).expect("save");
        set_notsent_lowat(fd, 1234).expect("set");
        assert_eq!(saved.restore(fd).expect("restore"), Restored::Exact);
        assert_eq!(notsent_lowat(fd).expect("lowat"), lowat);
        assert!(!Setting::RecvBuffer(1).undo_is_exact());
        assert!(!Setting::BusyPollBudget(1).undo_is_exact());
        assert!(Setting::NotsentLowat(1).undo_is_exact());
    }
}

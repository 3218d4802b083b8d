//! `SocketProfile`: the options a server sets on each socket, applied in one call.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nettune_sysctl::CongestionControl;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::{Error, Result};
use crate::opts;
use crate::types::{Keepalive, PacingRate, TrafficClass};

/// One option with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// `TCP_CONGESTION`
    Congestion(CongestionControl),
    /// `TCP_NODELAY`
    NoDelay(bool),
    /// `TCP_QUICKACK`
    QuickAck(bool),
    /// `TCP_CORK`
    Cork(bool),
    /// `TCP_NOTSENT_LOWAT`
    NotsentLowat(u32),
    /// `TCP_USER_TIMEOUT`
    UserTimeout(Option<Duration>),
    /// `SO_KEEPALIVE` and `TCP_KEEP*`
    Keepalive(Option<Keepalive>),
    /// `TCP_MAXSEG`
    MaxSeg(u32),
    /// `TCP_WINDOW_CLAMP`
    WindowClamp(u32),
    /// `TCP_THIN_LINEAR_TIMEOUTS`
    ThinLinearTimeouts(bool),
    /// `SO_RCVBUF` (the requested size)
    RecvBuffer(u32),
    /// `SO_SNDBUF` (the requested size)
    SendBuffer(u32),
    /// `SO_RCVBUFFORCE`
    RecvBufferForce(u32),
    /// `SO_SNDBUFFORCE`
    SendBufferForce(u32),
    /// `SO_BUSY_POLL`
    BusyPoll(Duration),
    /// `SO_PREFER_BUSY_POLL`
    PreferBusyPoll(bool),
    /// `SO_BUSY_POLL_BUDGET`
    BusyPollBudget(u16),
    /// `SO_INCOMING_CPU`
    IncomingCpu(u32),
    /// `SO_MAX_PACING_RATE`
    MaxPacingRate(PacingRate),
    /// `SO_PRIORITY`
    Priority(u32),
    /// `IP_TOS` / `IPV6_TCLASS`
    TrafficClass(TrafficClass),
    /// `SO_MARK`
    Mark(u32),
    /// `SO_ZEROCOPY`
    ZeroCopy(bool),
    /// `TCP_FASTOPEN_CONNECT` (before connecting)
    FastOpenConnect(bool),
    /// `TCP_FASTOPEN` (listeners only: the queue length)
    FastOpen(u32),
    /// `TCP_DEFER_ACCEPT` (listeners only)
    DeferAccept(Duration),
}

/// Which sockets an option belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Any TCP socket (on a listener, accepted sockets inherit most of them).
    Any,
    /// Listening sockets only.
    Listener,
}

impl Setting {
    /// The option's C name.
    pub fn option(&self) -> &'static str {
        match self {
            Self::Congestion(_) => "TCP_CONGESTION",
            Self::NoDelay(_) => "TCP_NODELAY",
            Self::QuickAck(_) => "TCP_QUICKACK",
            Self::Cork(_) => "TCP_CORK",
            Self::NotsentLowat(_) => "TCP_NOTSENT_LOWAT",
            Self::UserTimeout(_) => "TCP_USER_TIMEOUT",
            Self::Keepalive(_) => "SO_KEEPALIVE",
            Self::MaxSeg(_) => "TCP_MAXSEG",
            Self::WindowClamp(_) => "TCP_WINDOW_CLAMP",
            Self::ThinLinearTimeouts(_) => "TCP_THIN_LINEAR_TIMEOUTS",
            Self::RecvBuffer(_) => "SO_RCVBUF",
            Self::SendBuffer(_) => "SO_SNDBUF",
            Self::RecvBufferForce(_) => "SO_RCVBUFFORCE",
            Self::SendBufferForce(_) => "SO_SNDBUFFORCE",
            Self::BusyPoll(_) => "SO_BUSY_POLL",
            Self::PreferBusyPoll(_) => "SO_PREFER_BUSY_POLL",
            Self::BusyPollBudget(_) => "SO_BUSY_POLL_BUDGET",
            Self::IncomingCpu(_) => "SO_INCOMING_CPU",
            Self::MaxPacingRate(_) => "SO_MAX_PACING_RATE",
            Self::Priority(_) => "SO_PRIORITY",
            Self::TrafficClass(_) => "IP_TOS/IPV6_TCLASS",
            Self::Mark(_) => "SO_MARK",
            Self::ZeroCopy(_) => "SO_ZEROCOPY",
            Self::FastOpenConnect(_) => "TCP_FASTOPEN_CONNECT",
            Self::FastOpen(_) => "TCP_FASTOPEN",
            Self::DeferAccept(_) => "TCP_DEFER_ACCEPT",
        }
    }

    /// Which sockets the option belongs on.
    pub fn scope(&self) -> Scope {
        match self {
            Self::FastOpen(_) | Self::DeferAccept(_) => Scope::Listener,
            _ => Scope::Any,
        }
    }

    /// Sets the option on `fd`.
    ///
    /// # Errors
    ///
    /// As the option's setter.
    pub fn apply(&self, fd: impl AsFd) -> Result<()> {
        let fd = fd.as_fd();
        match self {
            Self::Congestion(cc) => opts::set_congestion(fd, cc),
            Self::NoDelay(v) => opts::set_nodelay(fd, *v),
            Self::QuickAck(v) => opts::set_quickack(fd, *v),
            Self::Cork(v) => opts::set_cork(fd, *v),
            Self::NotsentLowat(v) => opts::set_notsent_lowat(fd, *v),
            Self::UserTimeout(v) => opts::set_user_timeout(fd, *v),
            Self::Keepalive(v) => opts::set_keepalive(fd, *v),
            Self::MaxSeg(v) => opts::set_maxseg(fd, *v),
            Self::WindowClamp(v) => opts::set_window_clamp(fd, *v),
            Self::ThinLinearTimeouts(v) => opts::set_thin_linear_timeouts(fd, *v),
            Self::RecvBuffer(v) => opts::set_recv_buffer(fd, *v).map(drop),
            Self::SendBuffer(v) => opts::set_send_buffer(fd, *v).map(drop),
            Self::RecvBufferForce(v) => opts::set_recv_buffer_force(fd, *v).map(drop),
            Self::SendBufferForce(v) => opts::set_send_buffer_force(fd, *v).map(drop),
            Self::BusyPoll(v) => opts::set_busy_poll(fd, *v),
            Self::PreferBusyPoll(v) => opts::set_prefer_busy_poll(fd, *v),
            Self::BusyPollBudget(v) => opts::set_busy_poll_budget(fd, *v),
            Self::IncomingCpu(v) => opts::set_incoming_cpu(fd, *v),
            Self::MaxPacingRate(v) => opts::set_max_pacing_rate(fd, *v),
            Self::Priority(v) => opts::set_priority(fd, *v),
            Self::TrafficClass(v) => opts::set_traffic_class(fd, *v),
            Self::Mark(v) => opts::set_mark(fd, *v),
            Self::ZeroCopy(v) => opts::set_zerocopy(fd, *v),
            Self::FastOpenConnect(v) => opts::set_fastopen_connect(fd, *v),
            Self::FastOpen(v) => opts::set_fastopen(fd, *v),
            Self::DeferAccept(v) => opts::set_defer_accept(fd, *v),
        }
    }

    /// The same option with the value `fd` has now, to restore it later. The buffer
    /// sizes are halved back to what would be requested; `SO_BUSY_POLL_BUDGET`, which the
    /// kernel cannot read back, is taken to be at its default.
    ///
    /// # Errors
    ///
    /// As the option's getter.
    pub fn current(&self, fd: impl AsFd) -> Result<Self> {
        let fd = fd.as_fd();
        Ok(match self {
            Self::Congestion(_) => Self::Congestion(opts::congestion(fd)?),
            Self::NoDelay(_) => Self::NoDelay(opts::nodelay(fd)?),
            Self::QuickAck(_) => Self::QuickAck(opts::quickack(fd)?),
            Self::Cork(_) => Self::Cork(opts::cork(fd)?),
            Self::NotsentLowat(_) => Self::NotsentLowat(opts::notsent_lowat(fd)?),
            Self::UserTimeout(_) => Self::UserTimeout(opts::user_timeout(fd)?),
            Self::Keepalive(_) => Self::Keepalive(opts::keepalive(fd)?),
            Self::MaxSeg(_) => Self::MaxSeg(opts::maxseg(fd)?),
            Self::WindowClamp(_) => Self::WindowClamp(opts::window_clamp(fd)?),
            Self::ThinLinearTimeouts(_) => {
                Self::ThinLinearTimeouts(opts::thin_linear_timeouts(fd)?)
            }
            Self::RecvBuffer(_) | Self::RecvBufferForce(_) => {
                Self::RecvBufferForce(opts::recv_buffer(fd)? / 2)
            }
            Self::SendBuffer(_) | Self::SendBufferForce(_) => {
                Self::SendBufferForce(opts::send_buffer(fd)? / 2)
            }
            Self::BusyPoll(_) => Self::BusyPoll(opts::busy_poll(fd)?),
            Self::PreferBusyPoll(_) => Self::PreferBusyPoll(opts::prefer_busy_poll(fd)?),
            // The kernel cannot read it back; 0 is its default (the NAPI weight applies).
            Self::BusyPollBudget(_) => Self::BusyPollBudget(0),
            // "No CPU yet" (-1) comes back as a CPU index no machine has, which steers
            // nothing either.
            Self::IncomingCpu(_) => {
                Self::IncomingCpu(opts::incoming_cpu(fd)?.unwrap_or(i32::MAX as u32))
            }
            Self::MaxPacingRate(_) => Self::MaxPacingRate(opts::max_pacing_rate(fd)?),
            Self::Priority(_) => Self::Priority(opts::priority(fd)?),
            Self::TrafficClass(_) => Self::TrafficClass(opts::traffic_class(fd)?),
            Self::Mark(_) => Self::Mark(opts::mark(fd)?),
            Self::ZeroCopy(_) => Self::ZeroCopy(opts::zerocopy(fd)?),
            Self::FastOpenConnect(_) => Self::FastOpenConnect(opts::fastopen_connect(fd)?),
            Self::FastOpen(_) => Self::FastOpen(opts::fastopen(fd)?),
            Self::DeferAccept(_) => Self::DeferAccept(opts::defer_accept(fd)?),
        })
    }

    /// Restores a value read with [`Setting::current`]. A buffer that was below what a
    /// plain request may reach is restored with the FORCE variant when the caller may.
    fn restore(&self, fd: BorrowedFd<'_>) -> Result<()> {
        match self {
            Self::RecvBufferForce(v) => opts::set_recv_buffer_force(fd, *v)
                .or_else(|_| opts::set_recv_buffer(fd, *v))
                .map(drop),
            Self::SendBufferForce(v) => opts::set_send_buffer_force(fd, *v)
                .or_else(|_| opts::set_send_buffer(fd, *v))
                .map(drop),
            other => other.apply(fd),
        }
    }
}

fn new_tcp(addr: &SocketAddr) -> Result<Socket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    Socket::new(domain, Type::STREAM, None).map_err(|source| Error::Io {
        op: "create",
        option: "socket",
        source,
    })
}

/// How [`SocketProfile::apply`] treats a failing option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// All or nothing: on the first failure, put back the options already set and return
    /// the error.
    #[default]
    Strict,
    /// Set what can be set and report each option's outcome.
    BestEffort,
}

/// What happened to one option under [`Mode::BestEffort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Set.
    Applied,
    /// The kernel or this socket does not have it.
    Unsupported(String),
    /// The caller lacks the privilege.
    Denied(String),
    /// Rejected for another reason.
    Failed(String),
}

/// The outcome of each option of a profile, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// (option C name, outcome)
    pub outcomes: Vec<(&'static str, Outcome)>,
}

impl Report {
    /// Whether every option was set.
    pub fn all_applied(&self) -> bool {
        self.outcomes.iter().all(|(_, o)| *o == Outcome::Applied)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (option, outcome) in &self.outcomes {
            match outcome {
                Outcome::Applied => writeln!(f, "{option}: applied")?,
                Outcome::Unsupported(why) => writeln!(f, "{option}: unsupported: {why}")?,
                Outcome::Denied(why) => writeln!(f, "{option}: denied: {why}")?,
                Outcome::Failed(why) => writeln!(f, "{option}: failed: {why}")?,
            }
        }
        Ok(())
    }
}

/// A set of socket options applied together to each socket a server accepts or connects.
///
/// ```no_run
/// use nettune_sockopt::SocketProfile;
/// let profile = SocketProfile::new()
///     .congestion("bbr".parse()?)
///     .nodelay(true)
///     .notsent_lowat(16 * 1024);
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let (stream, _) = listener.accept()?;
/// profile.apply(&stream)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SocketProfile {
    settings: Vec<Setting>,
    mode: Mode,
}

macro_rules! builder {
    ($($(#[$doc:meta])* $name:ident($ty:ty) => $variant:ident;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(self, value: $ty) -> Self {
                self.with(Setting::$variant(value))
            }
        )*
    };
}

impl SocketProfile {
    /// An empty, strict profile.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same profile applied in best-effort mode.
    #[must_use]
    pub fn best_effort(mut self) -> Self {
        self.mode = Mode::BestEffort;
        self
    }

    /// The same profile applied in strict (all or nothing) mode.
    #[must_use]
    pub fn strict(mut self) -> Self {
        self.mode = Mode::Strict;
        self
    }

    /// Adds a setting, replacing an earlier one of the same option.
    #[must_use]
    pub fn with(mut self, setting: Setting) -> Self {
        match self
            .settings
            .iter_mut()
            .find(|s| s.option() == setting.option())
        {
            Some(slot) => *slot = setting,
            None => self.settings.push(setting),
        }
        self
    }

    builder! {
        /// `TCP_CONGESTION`.
        congestion(CongestionControl) => Congestion;
        /// `TCP_NODELAY`.
        nodelay(bool) => NoDelay;
        /// `TCP_QUICKACK` (not permanent: the kernel clears it).
        quickack(bool) => QuickAck;
        /// `TCP_CORK`.
        cork(bool) => Cork;
        /// `TCP_NOTSENT_LOWAT`, bytes.
        notsent_lowat(u32) => NotsentLowat;
        /// `TCP_USER_TIMEOUT`.
        user_timeout(Option<Duration>) => UserTimeout;
        /// Keepalive.
        keepalive(Option<Keepalive>) => Keepalive;
        /// `TCP_MAXSEG`, bytes.
        maxseg(u32) => MaxSeg;
        /// `TCP_WINDOW_CLAMP`, bytes.
        window_clamp(u32) => WindowClamp;
        /// `TCP_THIN_LINEAR_TIMEOUTS`.
        thin_linear_timeouts(bool) => ThinLinearTimeouts;
        /// `SO_RCVBUF`, bytes requested (turns receive autotuning off).
        recv_buffer(u32) => RecvBuffer;
        /// `SO_SNDBUF`, bytes requested.
        send_buffer(u32) => SendBuffer;
        /// `SO_RCVBUFFORCE` (needs CAP_NET_ADMIN).
        recv_buffer_force(u32) => RecvBufferForce;
        /// `SO_SNDBUFFORCE` (needs CAP_NET_ADMIN).
        send_buffer_force(u32) => SendBufferForce;
        /// `SO_BUSY_POLL`.
        busy_poll(Duration) => BusyPoll;
        /// `SO_PREFER_BUSY_POLL` (needs CAP_NET_ADMIN).
        prefer_busy_poll(bool) => PreferBusyPoll;
        /// `SO_BUSY_POLL_BUDGET` (raising it needs CAP_NET_ADMIN).
        busy_poll_budget(u16) => BusyPollBudget;
        /// `SO_INCOMING_CPU`.
        incoming_cpu(u32) => IncomingCpu;
        /// `SO_MAX_PACING_RATE`.
        max_pacing_rate(PacingRate) => MaxPacingRate;
        /// `SO_PRIORITY`.
        priority(u32) => Priority;
        /// `IP_TOS` / `IPV6_TCLASS`.
        traffic_class(TrafficClass) => TrafficClass;
        /// `SO_MARK` (needs CAP_NET_ADMIN).
        mark(u32) => Mark;
        /// `SO_ZEROCOPY`.
        zerocopy(bool) => ZeroCopy;
        /// `TCP_FASTOPEN_CONNECT` (set before connecting).
        fastopen_connect(bool) => FastOpenConnect;
        /// `TCP_FASTOPEN` queue length (listeners only).
        fastopen(u32) => FastOpen;
        /// `TCP_DEFER_ACCEPT` (listeners only).
        defer_accept(Duration) => DeferAccept;
    }

    /// The settings, in the order they are applied.
    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The settings of one scope, as a profile of the same mode.
    fn only(&self, scope: Scope) -> Self {
        Self {
            settings: self
                .settings
                .iter()
                .filter(|s| s.scope() == scope)
                .cloned()
                .collect(),
            mode: self.mode,
        }
    }

    /// Creates a TCP socket for `addr`'s family, applies this profile (options such as
    /// `TCP_FASTOPEN_CONNECT` and `TCP_MAXSEG` must be set before connecting), then
    /// connects.
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::apply`]; [`Error::Misuse`] for listener-only options;
    /// [`Error::Io`] when the socket cannot be created or the connection fails.
    pub fn connect(&self, addr: SocketAddr) -> Result<(TcpStream, Report)> {
        let socket = new_tcp(&addr)?;
        let report = self.apply(&socket)?;
        socket
            .connect(&SockAddr::from(addr))
            .map_err(|source| Error::Io {
                op: "connect",
                option: "connect",
                source,
            })?;
        Ok((socket.into(), report))
    }

    /// Creates a TCP listener on `addr` (with `SO_REUSEADDR`): the connection options
    /// (and `SO_REUSEPORT`) are applied before `bind`, so accepted sockets inherit them;
    /// the listener-only options (fast open queue, defer accept) after `listen`.
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::apply`]; [`Error::Io`] when binding or listening fails.
    pub fn listen(&self, addr: SocketAddr, backlog: i32) -> Result<(TcpListener, Report)> {
        let socket = new_tcp(&addr)?;
        let io = |source| Error::Io {
            op: "listen",
            option: "listen",
            source,
        };
        socket.set_reuse_address(true).map_err(io)?;
        let mut report = self.only(Scope::Any).apply(&socket)?;
        socket.bind(&SockAddr::from(addr)).map_err(io)?;
        socket.listen(backlog).map_err(io)?;
        let listener_report = self.only(Scope::Listener).apply(&socket)?;
        report.outcomes.extend(listener_report.outcomes);
        Ok((socket.into(), report))
    }

    /// Applies every setting to `fd`, in order.
    ///
    /// Listener-only options (fast open queue, defer accept) on a socket that is not
    /// listening are refused before anything is set.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] as above. In strict mode, [`Error::ProfileFailed`] naming the
    /// failing option and why, after the options already set were put back. In
    /// best-effort mode, only errors that stop the whole apply.
    pub fn apply(&self, fd: impl AsFd) -> Result<Report> {
        let fd = fd.as_fd();
        if let Some(listener_only) = self.settings.iter().find(|s| s.scope() == Scope::Listener) {
            if !opts::is_listening(fd)? {
                return Err(Error::Misuse {
                    option: listener_only.option(),
                    reason: "belongs on a listening socket, and this one is not listening \
                             (put it in a listener profile and apply that after listen())"
                        .to_owned(),
                });
            }
        }
        match self.mode {
            Mode::BestEffort => Ok(self.apply_best_effort(fd)),
            Mode::Strict => self.apply_strict(fd),
        }
    }

    fn apply_best_effort(&self, fd: BorrowedFd<'_>) -> Report {
        let outcomes = self
            .settings
            .iter()
            .map(|s| {
                let outcome = match s.apply(fd) {
                    Ok(()) => Outcome::Applied,
                    Err(e) if e.is_unsupported() => Outcome::Unsupported(e.to_string()),
                    Err(e) if e.is_permission_denied() => Outcome::Denied(e.to_string()),
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                (s.option(), outcome)
            })
            .collect();
        Report { outcomes }
    }

    fn apply_strict(&self, fd: BorrowedFd<'_>) -> Result<Report> {
        let mut done: Vec<Setting> = Vec::with_capacity(self.settings.len());
        for s in &self.settings {
            let result = s
                .current(fd)
                .and_then(|previous| s.apply(fd).map(|()| previous));
            match result {
                Ok(previous) => done.push(previous),
                Err(source) => {
                    let (mut restored, mut not_restored) = (Vec::new(), Vec::new());
                    for previous in done.iter().rev() {
                        match previous.restore(fd) {
                            Ok(()) => restored.push(previous.option()),
                            Err(e) => not_restored.push((previous.option(), e.to_string())),
                        }
                    }
                    return Err(Error::ProfileFailed {
                        option: s.option(),
                        source: Box::new(source),
                        restored,
                        not_restored,
                    });
                }
            }
        }
        Ok(Report {
            outcomes: self
                .settings
                .iter()
                .map(|s| (s.option(), Outcome::Applied))
                .collect(),
        })
    }
}

/// Chooses a profile per peer address: one for peers on the local network, another for
/// the rest (for example BBR and pacing for WAN peers, the defaults for LAN peers).
///
/// Loopback, private (RFC 1918, fc00::/7), link-local and CGNAT addresses are local, plus
/// any prefixes added with [`PeerPolicy::lan_prefix`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    lan: SocketProfile,
    wan: SocketProfile,
    prefixes: Vec<(IpAddr, u8)>,
}

impl PeerPolicy {
    /// A policy with a profile for local peers and one for the others.
    pub fn new(lan: SocketProfile, wan: SocketProfile) -> Self {
        Self {
            lan,
            wan,
            prefixes: Vec::new(),
        }
    }

    /// Also treats `addr/len` as local.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `len` is longer than the address.
    pub fn lan_prefix(mut self, addr: IpAddr, len: u8) -> Result<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(Error::InvalidValue {
                option: "PeerPolicy",
                reason: format!("prefix length {len} is longer than {max}"),
                source: None,
            });
        }
        self.prefixes.push((addr, len));
        Ok(self)
    }

    /// Whether `ip` counts as local.
    pub fn is_lan(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let builtin = match ip {
            IpAddr::V4(a) => {
                a.is_loopback()
                    || a.is_private()
                    || a.is_link_local()
                    || (a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64)
            }
            IpAddr::V6(a) => {
                a.is_loopback()
                    || (a.segments()[0] & 0xfe00) == 0xfc00
                    || (a.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        builtin
            || self
                .prefixes
                .iter()
                .any(|(net, len)| in_prefix(ip, *net, *len))
    }

    /// The profile for `peer`.
    pub fn profile_for(&self, peer: &SocketAddr) -> &SocketProfile {
        if self.is_lan(peer.ip()) {
            &self.lan
        } else {
            &self.wan
        }
    }

    /// Applies the profile chosen by the peer address of a connected `stream`.
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::apply`], or [`Error::Io`] when the peer address cannot be read.
    pub fn apply(&self, stream: &TcpStream) -> Result<Report> {
        let peer = stream.peer_addr().map_err(|source| Error::Io {
            op: "get",
            option: "getpeername",
            source,
        })?;
        self.profile_for(&peer).apply(stream)
    }
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            (u32::from(a) & mask) == (u32::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            (u128::from(a) & mask) == (u128::from(n) & mask)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_classifies_peers() {
        let wan = SocketProfile::new().nodelay(true);
        let p = PeerPolicy::new(SocketProfile::new(), wan.clone())
            .lan_prefix("203.0.113.0".parse().expect("ip"), 24)
            .expect("prefix");
        for lan in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "172.20.0.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "203.0.113.77",
            "::ffff:10.0.0.1",
        ] {
            assert!(p.is_lan(lan.parse().expect("ip")), "{lan}");
        }
        for wan_ip in ["8.8.8.8", "203.0.114.1", "2001:db8::1", "100.128.0.1"] {
            assert!(!p.is_lan(wan_ip.parse().expect("ip")), "{wan_ip}");
        }
        assert_eq!(p.profile_for(&"1.1.1.1:443".parse().expect("addr")), &wan);
        assert!(
            PeerPolicy::new(SocketProfile::new(), SocketProfile::new())
                .lan_prefix("10.0.0.0".parse().expect("ip"), 33)
                .is_err()
        );
    }

    #[test]
    fn later_setting_of_an_option_replaces_the_earlier() {
        let p = SocketProfile::new()
            .nodelay(false)
            .notsent_lowat(1)
            .nodelay(true);
        assert_eq!(
            p.settings(),
            &[Setting::NoDelay(true), Setting::NotsentLowat(1)]
        );
    }
}

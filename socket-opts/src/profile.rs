//! `SocketProfile`: the options a server sets on each socket, applied in one call.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::{Error, Result};
use crate::opts::{self, Restored, Saved, Setting, SettingScope};

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

fn connect_error(source: std::io::Error) -> Error {
    Error::Io {
        op: "connect",
        option: "connect",
        source,
    }
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

    /// The settings, in the order they are applied.
    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The settings of one scope.
    fn of_scope(&self, scope: SettingScope) -> Vec<&Setting> {
        self.settings
            .iter()
            .filter(|s| s.scope() == scope)
            .collect()
    }

    /// The connection settings that a socket `accept()` returns does not carry over from
    /// the listener ([`Setting::inherited_by_accept`]): what
    /// [`SocketProfile::apply_accepted`] sets on each accepted socket.
    pub fn not_inherited(&self) -> impl Iterator<Item = &Setting> {
        self.settings
            .iter()
            .filter(|s| s.scope() == SettingScope::Any && !s.inherited_by_accept())
    }

    /// Creates a TCP socket for `addr`'s family, applies this profile (options such as
    /// `TCP_FASTOPEN_CONNECT` and `TCP_MAXSEG` must be set before connecting), then
    /// connects. The stream is blocking, as `std` makes them: for tokio, use
    /// `connect_tokio` (feature `tokio`), or call `set_nonblocking(true)` before
    /// `tokio::net::TcpStream::from_std`.
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::apply`]; [`Error::Misuse`] for listener-only options;
    /// [`Error::Io`] when the socket cannot be created or the connection fails.
    pub fn connect(&self, addr: SocketAddr) -> Result<(TcpStream, Report)> {
        self.connect_with(addr, None)
    }

    /// As [`SocketProfile::connect`], giving up after `timeout` (an [`Error::Io`] whose
    /// source is [`std::io::ErrorKind::TimedOut`]).
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::connect`].
    pub fn connect_timeout(
        &self,
        addr: SocketAddr,
        timeout: std::time::Duration,
    ) -> Result<(TcpStream, Report)> {
        self.connect_with(addr, Some(timeout))
    }

    fn connect_with(
        &self,
        addr: SocketAddr,
        timeout: Option<std::time::Duration>,
    ) -> Result<(TcpStream, Report)> {
        let socket = new_tcp(&addr)?;
        let report = self.apply(&socket)?;
        let to = SockAddr::from(addr);
        match timeout {
            Some(t) => socket.connect_timeout(&to, t),
            None => socket.connect(&to),
        }
        .map_err(connect_error)?;
        Ok((socket.into(), report))
    }

    /// Creates a blocking TCP listener on `addr` (with `SO_REUSEADDR`; for tokio, use
    /// `listen_tokio` with the feature `tokio`): the connection options
    /// (and `SO_REUSEPORT`) are applied before `bind`, the listener-only options (fast
    /// open queue, defer accept) after `listen`. Accepted sockets carry over most
    /// connection options, not all ([`Setting::inherited_by_accept`]: `SO_PRIORITY`, for
    /// one, starts at 0): call [`SocketProfile::apply_accepted`] on each accepted socket
    /// for the rest, [`SocketProfile::not_inherited`] lists them.
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
        let mut report = self.run(socket.as_fd(), &self.of_scope(SettingScope::Any))?;
        socket.bind(&SockAddr::from(addr)).map_err(io)?;
        socket.listen(backlog).map_err(io)?;
        let listener_report = self.run(socket.as_fd(), &self.of_scope(SettingScope::Listener))?;
        report.outcomes.extend(listener_report.outcomes);
        Ok((socket.into(), report))
    }

    /// Applies to a socket that `accept()` returned only the settings it does not carry
    /// over from its listener ([`SocketProfile::not_inherited`]): the cheap way to tune
    /// each connection of a listener made by [`SocketProfile::listen`] (or one this
    /// profile was applied to before `listen`).
    ///
    /// ```no_run
    /// use nettune_sockopt::{Dscp, SocketProfile, TrafficClass};
    /// let profile = SocketProfile::new()
    ///     .nodelay(true)
    ///     .priority(5)
    ///     .traffic_class(TrafficClass { dscp: Dscp::EF, ..Default::default() });
    /// let (listener, _) = profile.listen("0.0.0.0:9000".parse()?, 1024)?;
    /// for stream in listener.incoming() {
    ///     let stream = stream?;
    ///     profile.apply_accepted(&stream)?; // SO_PRIORITY only: accept() carries the rest
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::apply`].
    pub fn apply_accepted(&self, fd: impl AsFd) -> Result<Report> {
        let own: Vec<&Setting> = self.not_inherited().collect();
        self.run(fd.as_fd(), &own)
    }

    /// Applies every setting to `fd`.
    ///
    /// Listener-only options (fast open queue, defer accept) on a socket that is not
    /// listening are refused before anything is set.
    ///
    /// Best effort applies the settings in order. Strict (all or nothing) first checks
    /// every value ([`Setting::check`]), then applies the options this host may refuse
    /// (privileged ones, congestion control, fast open) first and those that cannot be
    /// undone exactly ([`Setting::undo_is_exact`]: buffer sizes, the busy-poll budget)
    /// last, saving the exact previous state of each; on a failure it writes those states
    /// back, newest first.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] as above. In strict mode, [`Error::ProfileFailed`] naming the
    /// failing option and why, and which options were put back exactly (`restored`) and
    /// which were not (`not_restored`, with what differs: a buffer size the kernel now
    /// holds fixed, with autotuning off). In best-effort mode, only errors that stop the
    /// whole apply.
    pub fn apply(&self, fd: impl AsFd) -> Result<Report> {
        let all: Vec<&Setting> = self.settings.iter().collect();
        self.run(fd.as_fd(), &all)
    }

    /// Applies `settings` (of this profile) to `fd` in this profile's mode.
    fn run(&self, fd: BorrowedFd<'_>, settings: &[&Setting]) -> Result<Report> {
        if let Some(listener_only) = settings
            .iter()
            .find(|s| s.scope() == SettingScope::Listener)
        {
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
            Mode::BestEffort => Ok(apply_best_effort(fd, settings)),
            Mode::Strict => apply_strict(fd, settings),
        }
    }
}

fn apply_best_effort(fd: BorrowedFd<'_>, settings: &[&Setting]) -> Report {
    let outcomes = settings
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

fn apply_strict(fd: BorrowedFd<'_>, settings: &[&Setting]) -> Result<Report> {
    let failed = |option, source, restored, not_restored| Error::ProfileFailed {
        option,
        source: Box::new(source),
        restored,
        not_restored,
    };
    // Every value is checked before the first write.
    for s in settings {
        s.check()
            .map_err(|e| failed(s.option(), e, Vec::new(), Vec::new()))?;
    }
    // What the host may refuse goes first (its failure leaves nothing to undo), what
    // cannot be undone exactly goes last (nothing after it can fail but its own kind).
    let mut order: Vec<&Setting> = settings.to_vec();
    order.sort_by_key(|s| (!s.undo_is_exact(), !s.may_be_refused()));
    let mut done: Vec<(&'static str, Saved)> = Vec::with_capacity(order.len());
    for s in order {
        match s.save(fd).and_then(|saved| s.apply(fd).map(|()| saved)) {
            Ok(saved) => done.push((s.option(), saved)),
            Err(source) => {
                let (mut restored, mut not_restored) = (Vec::new(), Vec::new());
                for (option, saved) in done.iter().rev() {
                    match saved.restore(fd) {
                        Ok(Restored::Exact) => restored.push(*option),
                        Ok(Restored::Inexact(why)) => not_restored.push((*option, why)),
                        Err(e) => not_restored.push((*option, e.to_string())),
                    }
                }
                return Err(failed(s.option(), source, restored, not_restored));
            }
        }
    }
    Ok(Report {
        outcomes: settings
            .iter()
            .map(|s| (s.option(), Outcome::Applied))
            .collect(),
    })
}

#[cfg(feature = "tokio")]
impl SocketProfile {
    /// As [`SocketProfile::listen`], as a tokio listener, ready to use (non-blocking,
    /// registered with the runtime). Call it inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::listen`]; [`Error::Io`] outside a tokio runtime.
    pub fn listen_tokio(
        &self,
        addr: SocketAddr,
        backlog: i32,
    ) -> Result<(tokio::net::TcpListener, Report)> {
        let io = |source| Error::Io {
            op: "listen",
            option: "listen",
            source,
        };
        let (listener, report) = self.listen(addr, backlog)?;
        listener.set_nonblocking(true).map_err(io)?;
        Ok((
            tokio::net::TcpListener::from_std(listener).map_err(io)?,
            report,
        ))
    }

    /// As [`SocketProfile::connect`], asynchronously on tokio, giving up after
    /// `timeout` when one is given (an [`Error::Io`] whose source is
    /// [`std::io::ErrorKind::TimedOut`]).
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::connect`].
    pub async fn connect_tokio(
        &self,
        addr: SocketAddr,
        timeout: Option<std::time::Duration>,
    ) -> Result<(tokio::net::TcpStream, Report)> {
        let socket = new_tcp(&addr)?;
        let report = self.apply(&socket)?;
        socket.set_nonblocking(true).map_err(connect_error)?;
        let socket = tokio::net::TcpSocket::from_std_stream(socket.into());
        let connecting = socket.connect(addr);
        let stream = match timeout {
            Some(t) => tokio::time::timeout(t, connecting).await.map_err(|_| {
                connect_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection to {addr} within {t:?}"),
                ))
            })?,
            None => connecting.await,
        }
        .map_err(connect_error)?;
        Ok((stream, report))
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

    /// Applies the profile chosen by the peer address of a connected socket: any
    /// `impl AsFd` (`&std::net::TcpStream`, `&tokio::net::TcpStream`, ...).
    ///
    /// # Errors
    ///
    /// As [`SocketProfile::apply`], or [`Error::Io`] when the peer address cannot be read
    /// (the socket is not connected, or not an IP socket).
    pub fn apply(&self, stream: impl AsFd) -> Result<Report> {
        let fd = stream.as_fd();
        let peer = socket2::SockRef::from(&fd)
            .peer_addr()
            .and_then(|a| {
                a.as_socket().ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "the peer is not an IP address",
                    )
                })
            })
            .map_err(|source| Error::Io {
                op: "get",
                option: "getpeername",
                source,
            })?;
        self.profile_for(&peer).apply(fd)
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

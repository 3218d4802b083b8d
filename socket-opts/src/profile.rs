//! `SocketProfile`: the options a server sets on each socket, applied in one call.

use std::fmt;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::{Error, Result};
use crate::opts::{self, Setting, SettingScope};

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

    /// The settings of one scope, as a profile of the same mode.
    fn only(&self, scope: SettingScope) -> Self {
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
        let mut report = self.only(SettingScope::Any).apply(&socket)?;
        socket.bind(&SockAddr::from(addr)).map_err(io)?;
        socket.listen(backlog).map_err(io)?;
        let listener_report = self.only(SettingScope::Listener).apply(&socket)?;
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
        if let Some(listener_only) = self
            .settings
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

//! `NoTrack`: an nftables rule at raw priority that keeps chosen traffic out of connection
//! tracking (the tuning guide's NOTRACK bypass, in nftables form: `nft(8)`, "notrack").
//!
//! The rule lives in its own table, `inet nettune_notrack`, so installing and removing it
//! touches nothing else. It is installed with the `nft` tool (nftables' netlink protocol
//! is not wrapped by this crate), inside the namespace given.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use nettune_core::NetNs;

use crate::error::{Error, Result};

/// The table the rules live in.
pub const TABLE: &str = "nettune_notrack";

/// A transport protocol for a NOTRACK port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4 {
    /// TCP
    Tcp,
    /// UDP
    Udp,
}

impl L4 {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// Which traffic to keep out of conntrack: local service ports (incoming to them and
/// outgoing from them) and peer addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoTrack {
    ports: Vec<(L4, u16)>,
    addresses: Vec<IpAddr>,
}

impl NoTrack {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Traffic to and from local port `port` of `proto`.
    #[must_use]
    pub fn port(mut self, proto: L4, port: u16) -> Self {
        self.ports.push((proto, port));
        self
    }

    /// Traffic from and to peer `addr`.
    #[must_use]
    pub fn address(mut self, addr: IpAddr) -> Self {
        self.addresses.push(addr);
        self
    }

    /// The nftables ruleset (`nft -f` syntax): the dry run.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when nothing was chosen.
    pub fn ruleset(&self) -> Result<String> {
        if self.ports.is_empty() && self.addresses.is_empty() {
            return Err(Error::invalid("notrack", "no port or address to exempt"));
        }
        let mut pre = String::new();
        let mut out = String::new();
        // Both directions in both chains: packets from remote peers enter at prerouting,
        // the host's own (and its loopback clients') at output.
        for (proto, port) in &self.ports {
            let p = proto.as_str();
            for chain in [&mut pre, &mut out] {
                let _ = writeln!(chain, "\t\t{p} dport {port} notrack");
                let _ = writeln!(chain, "\t\t{p} sport {port} notrack");
            }
        }
        for a in &self.addresses {
            let fam = if a.is_ipv4() { "ip" } else { "ip6" };
            for chain in [&mut pre, &mut out] {
                let _ = writeln!(chain, "\t\t{fam} saddr {a} notrack");
                let _ = writeln!(chain, "\t\t{fam} daddr {a} notrack");
            }
        }
        Ok(format!(
            "table inet {TABLE} {{\n\
             \tchain prerouting {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n{pre}\t}}\n\
             \tchain output {{\n\t\ttype filter hook output priority raw; policy accept;\n{out}\t}}\n\
             }}\n"
        ))
    }

    /// Installs the rules (replacing an earlier `nettune_notrack` table) in `ns`, or the
    /// caller's namespace with `None`. Needs `CAP_NET_ADMIN` and the `nft` tool.
    ///
    /// # Errors
    ///
    /// [`Error::Nft`] with what nft said.
    pub fn install(&self, ns: Option<&NetNs>) -> Result<()> {
        let rules = self.ruleset()?;
        // Delete first so a reinstall replaces; a missing table is fine.
        let script = format!("table inet {TABLE}\ndelete table inet {TABLE}\n{rules}");
        in_ns(ns, move || {
            nft("install notrack", &["-f", "-"], Some(&script))
        })
    }

    /// Removes the rules from `ns` (or the caller's namespace).
    ///
    /// # Errors
    ///
    /// [`Error::Nft`] when the table is not there or nft fails.
    pub fn remove(ns: Option<&NetNs>) -> Result<()> {
        in_ns(ns, || {
            nft("remove notrack", &["delete", "table", "inet", TABLE], None)
        })
    }
}

fn in_ns(ns: Option<&NetNs>, f: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    match ns {
        // A child forked from a thread inside the namespace is inside it too.
        Some(ns) => ns.run(f)?,
        None => f(),
    }
}

fn nft(op: &'static str, args: &[&str], stdin: Option<&str>) -> Result<()> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft {
            op,
            reason: format!("cannot run nft ({e}); install nftables"),
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(|e| Error::Nft {
            op,
            reason: e.to_string(),
        })?;
    }
    let out = child.wait_with_output().map_err(|e| Error::Nft {
        op,
        reason: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Nft {
            op,
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_text() {
        let r = NoTrack::new()
            .port(L4::Udp, 5353)
            .address("10.1.2.3".parse().expect("ip"))
            .ruleset()
            .expect("rules");
        assert!(
            r.contains("type filter hook prerouting priority raw"),
            "{r}"
        );
        assert!(
            r.contains("udp dport 5353 notrack") && r.contains("udp sport 5353 notrack"),
            "{r}"
        );
        assert!(
            r.contains("ip saddr 10.1.2.3 notrack") && r.contains("ip daddr 10.1.2.3 notrack"),
            "{r}"
        );
        assert!(NoTrack::new().ruleset().is_err());
    }
}

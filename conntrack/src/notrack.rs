//! `NoTrack`: an nftables rule at raw priority that keeps chosen traffic out of connection
//! tracking (the tuning guide's NOTRACK bypass, in nftables form: `nft(8)`, "notrack").
//!
//! The rule lives in its own table, `inet nettune_notrack`, so installing and removing it
//! touches nothing else. It is installed over nftables' netlink interface (no `nft`
//! tool), in one batch, inside the namespace given; [`NoTrack::installed`] says whether
//! it is still there, and [`NoTrack::watch`] waits for a firewall reload to remove it.

use std::fmt::Write as _;
use std::net::IpAddr;

use nettune_core::NetNs;
use nettune_netlink::proto::{self, MsgBuilder};

use crate::error::{Error, Result};
use crate::proto::flags;

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

    /// The IP protocol number.
    fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
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
        self.chosen()?;
        let mut chains = [String::new(), String::new()];
        for (chain, rule) in self.rules() {
            let i = usize::from(chain != nft::CHAINS[0].0);
            let _ = writeln!(chains[i], "\t\t{} notrack", rule.text());
        }
        let [pre, out] = chains;
        Ok(format!(
            "table inet {TABLE} {{\n\
             \tchain prerouting {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n{pre}\t}}\n\
             \tchain output {{\n\t\ttype filter hook output priority raw; policy accept;\n{out}\t}}\n\
             }}\n"
        ))
    }

    /// Refuses an empty set.
    fn chosen(&self) -> Result<()> {
        if self.ports.is_empty() && self.addresses.is_empty() {
            return Err(Error::invalid("notrack", "no port or address to exempt"));
        }
        Ok(())
    }

    /// Installs the rules in `ns` (or the caller's namespace with `None`) over nftables'
    /// netlink interface, in one batch the kernel applies whole or not at all: an earlier
    /// `nettune_notrack` table is replaced, nothing else is touched. Needs `CAP_NET_ADMIN`;
    /// no `nft` tool.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when nothing was chosen; [`Error::Netlink`] (or a typed
    /// refusal) with the kernel's extended ACK.
    pub fn install(&self, ns: Option<&NetNs>) -> Result<()> {
        const OP: &str = "install notrack";
        self.chosen()?;
        let nl = nft::handle(ns, OP)?;
        let rules = self.rules();
        let mut messages: Vec<Build> = vec![
            Box::new(|m| nft::table(m, nft::DESTROYTABLE, 0)),
            Box::new(|m| nft::table(m, nft::NEWTABLE, flags::CREATE)),
        ];
        for (name, hook) in nft::CHAINS {
            messages.push(Box::new(move |m| nft::chain(m, name, hook)));
        }
        for &(chain, rule) in &rules {
            messages.push(Box::new(move |m| nft::rule(m, chain, rule)));
        }
        let refs: Vec<&dyn Fn(&mut MsgBuilder)> = messages.iter().map(AsRef::as_ref).collect();
        nl.batch(nft::SUBSYS_NFTABLES, &refs)
            .map_err(|e| Error::from_netlink(OP, e))
    }

    /// Removes the rules from `ns` (or the caller's namespace), over netlink.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the table is not there; [`Error::Netlink`].
    pub fn remove(ns: Option<&NetNs>) -> Result<()> {
        const OP: &str = "remove notrack";
        let nl = nft::handle(ns, OP)?;
        nl.batch(
            nft::SUBSYS_NFTABLES,
            &[&|m: &mut MsgBuilder| {
                nft::table(m, nft::DELTABLE, 0);
            }],
        )
        .map_err(|e| Error::from_netlink(OP, e))
    }

    /// Whether these rules are installed in `ns` now: the table is there with exactly as
    /// many rules as this set makes (a firewall reload, `flush ruleset`, removes them
    /// without a word).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] when the ruleset cannot be read.
    pub fn installed(&self, ns: Option<&NetNs>) -> Result<bool> {
        const OP: &str = "check notrack";
        let nl = nft::handle(ns, OP)?;
        let mut count = 0usize;
        let found = nl.transact::<Error>(
            nft::SUBSYS_NFTABLES << 8 | nft::GETRULE,
            flags::DUMP,
            |m| {
                m.header(&nft::NFGENMSG);
                m.string(nft::NAME_OR_TABLE, TABLE);
                Ok(())
            },
            |_| {
                count += 1;
                Ok(())
            },
        );
        match found.map_err(|f| f.into_caller(|e| Error::from_netlink(OP, e))) {
            Ok(()) => Ok(count == self.rules().len()),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Watches `ns` for the removal of these rules (a table, chain or rule of
    /// `nettune_notrack` deleted and the rules no longer all there, as after a firewall
    /// reload; a reinstall is not a removal): see [`NoTrackWatch::wait_removed`].
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] when the subscription fails.
    pub fn watch(&self, ns: Option<&NetNs>) -> Result<NoTrackWatch> {
        const OP: &str = "watch notrack";
        let nl = nft::handle(ns, OP)?;
        let sock = nl.new_socket().map_err(|e| Error::from_netlink(OP, e))?;
        // NFNLGRP_NFTABLES.
        sock.subscribe(&[7])
            .map_err(|e| Error::from_netlink(OP, e))?;
        Ok(NoTrackWatch {
            sock,
            rules: self.clone(),
            ns: ns.cloned(),
        })
    }

    /// The rules, chain by chain: both directions in both chains (packets from remote
    /// peers enter at prerouting, the host's own and its loopback clients' at output).
    /// The text ruleset and the netlink batch are both made from it.
    fn rules(&self) -> Vec<(&'static str, nft::Match)> {
        let mut one = Vec::new();
        for &(proto, port) in &self.ports {
            one.push(nft::Match::Port {
                proto,
                dst: true,
                port,
            });
            one.push(nft::Match::Port {
                proto,
                dst: false,
                port,
            });
        }
        for &addr in &self.addresses {
            one.push(nft::Match::Addr { dst: false, addr });
            one.push(nft::Match::Addr { dst: true, addr });
        }
        nft::CHAINS
            .iter()
            .flat_map(|(chain, _)| one.iter().map(move |m| (*chain, *m)))
            .collect()
    }
}

/// One message of a batch, built when it is sent.
type Build = Box<dyn Fn(&mut MsgBuilder)>;

/// A subscription to nftables changes in a namespace, waiting for the NOTRACK rules to
/// go.
#[derive(Debug)]
pub struct NoTrackWatch {
    sock: nettune_netlink::Socket,
    rules: NoTrack,
    ns: Option<NetNs>,
}

impl NoTrackWatch {
    /// Waits up to `timeout` (`None`: for ever) for a change that removes a table, chain
    /// or rule of `nettune_notrack`; `true` when one came, `false` on the timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] when the socket fails or the rules cannot be read (lost events
    /// are answered by reading the rules).
    pub fn wait_removed(&mut self, timeout: Option<std::time::Duration>) -> Result<bool> {
        const OP: &str = "watch notrack";
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let left = match deadline {
                Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(false),
                },
                None => None,
            };
            self.sock
                .set_recv_timeout(left)
                .map_err(|e| Error::from_netlink(OP, e))?;
            let bytes = match self.sock.recv_datagram() {
                Ok(b) => b,
                Err(e) if e.is_would_block() => return Ok(false),
                Err(e) if e.lost_messages() => {
                    return Ok(!self.rules.installed(self.ns.as_ref())?);
                }
                Err(e) => return Err(Error::from_netlink(OP, e)),
            };
            let deleted = proto::event_items(bytes).any(|item| match item {
                proto::EventItem::Overrun => true,
                proto::EventItem::Message(m) => nft::removes_our_table(&m),
                proto::EventItem::Broken(_) => false,
            });
            // Events come after the batch is committed: whether the rules are there now
            // tells a removal from a replacement.
            if deleted && !self.rules.installed(self.ns.as_ref())? {
                return Ok(true);
            }
        }
    }
}

/// nftables over netlink: just what the NOTRACK table needs (include/uapi/linux/netfilter/
/// nf_tables.h).
mod nft {
    use std::net::IpAddr;

    use nettune_core::NetNs;
    use nettune_netlink::proto::{Message, MsgBuilder};
    use nettune_netlink::{Handle, NlFamily};

    use crate::error::{Error, Result};
    use crate::proto::flags;

    use super::{L4, TABLE};

    pub(super) const SUBSYS_NFTABLES: u16 = 10;
    pub(super) const NEWTABLE: u16 = 0;
    pub(super) const DELTABLE: u16 = 2;
    const NEWCHAIN: u16 = 3;
    const DELCHAIN: u16 = 5;
    const NEWRULE: u16 = 6;
    pub(super) const GETRULE: u16 = 7;
    const DELRULE: u16 = 8;
    /// Deletes a table if it exists (Linux 6.3).
    pub(super) const DESTROYTABLE: u16 = 26;
    /// `nfgenmsg` for the inet family (`NFPROTO_INET`).
    pub(super) const NFGENMSG: [u8; 4] = [1, 0, 0, 0];
    /// `NFTA_TABLE_NAME`, `NFTA_CHAIN_TABLE` and `NFTA_RULE_TABLE` are all 1.
    pub(super) const NAME_OR_TABLE: u16 = 1;
    const CHAIN_NAME: u16 = 3;
    const CHAIN_HOOK: u16 = 4;
    const CHAIN_POLICY: u16 = 5;
    const CHAIN_TYPE: u16 = 7;
    const HOOK_HOOKNUM: u16 = 1;
    const HOOK_PRIORITY: u16 = 2;
    const RULE_CHAIN: u16 = 2;
    const RULE_EXPRESSIONS: u16 = 4;
    const LIST_ELEM: u16 = 1;
    const EXPR_NAME: u16 = 1;
    const EXPR_DATA: u16 = 2;
    /// `NLM_F_APPEND`.
    const APPEND: u16 = 0x800;
    /// `NF_ACCEPT`.
    const ACCEPT: u32 = 1;
    /// The raw priority (`NF_IP_PRI_RAW`).
    const RAW: i32 = -300;

    /// The chains and their hooks (`NF_INET_PRE_ROUTING`, `NF_INET_LOCAL_OUT`).
    pub(super) const CHAINS: [(&str, u32); 2] = [("prerouting", 0), ("output", 3)];

    /// What one NOTRACK rule matches.
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Match {
        /// A source or destination port of a transport protocol (`udp dport 5353`).
        Port { proto: L4, dst: bool, port: u16 },
        /// A source or destination address (`ip`/`ip6 saddr`/`daddr`).
        Addr { dst: bool, addr: IpAddr },
    }

    impl Match {
        /// The match in `nft` syntax, as `nft list` prints it.
        pub(super) fn text(self) -> String {
            let dir = |dst: bool, d: &'static str, s: &'static str| if dst { d } else { s };
            match self {
                Self::Port { proto, dst, port } => {
                    format!("{} {} {port}", proto.as_str(), dir(dst, "dport", "sport"))
                }
                Self::Addr { dst, addr } => format!(
                    "{} {} {addr}",
                    if addr.is_ipv4() { "ip" } else { "ip6" },
                    dir(dst, "daddr", "saddr")
                ),
            }
        }
    }

    pub(super) fn handle(ns: Option<&NetNs>, op: &'static str) -> Result<Handle> {
        match ns {
            Some(ns) => Handle::open_in(ns, NlFamily::Netfilter),
            None => Handle::open(NlFamily::Netfilter),
        }
        .map_err(|e| Error::from_netlink(op, e))
    }

    fn start(m: &mut MsgBuilder, cmd: u16, extra: u16) {
        m.set_type(SUBSYS_NFTABLES << 8 | cmd).add_flags(extra);
        m.header(&NFGENMSG);
    }

    pub(super) fn table(m: &mut MsgBuilder, cmd: u16, extra: u16) {
        start(m, cmd, extra);
        m.string(NAME_OR_TABLE, TABLE);
    }

    pub(super) fn chain(m: &mut MsgBuilder, name: &str, hook: u32) {
        start(m, NEWCHAIN, flags::CREATE);
        m.string(NAME_OR_TABLE, TABLE).string(CHAIN_NAME, name);
        m.nest(CHAIN_HOOK, |m| {
            m.be32(HOOK_HOOKNUM, hook)
                .be32(HOOK_PRIORITY, u32::from_ne_bytes(RAW.to_ne_bytes()));
        });
        m.be32(CHAIN_POLICY, ACCEPT).string(CHAIN_TYPE, "filter");
    }

    /// `meta KEY` into register 1.
    fn meta(m: &mut MsgBuilder, key: u32) {
        expr(m, "meta", |m| {
            m.be32(2, key).be32(1, 1);
        });
    }

    /// `payload` of `base` at `offset`, `len` bytes, into register 1.
    fn payload(m: &mut MsgBuilder, base: u32, offset: u32, len: u32) {
        expr(m, "payload", |m| {
            m.be32(1, 1).be32(2, base).be32(3, offset).be32(4, len);
        });
    }

    /// Register 1 equal to `value`.
    fn cmp_eq(m: &mut MsgBuilder, value: &[u8]) {
        expr(m, "cmp", |m| {
            m.be32(1, 1).be32(2, 0);
            m.nest(3, |m| {
                m.attr(1, value);
            });
        });
    }

    fn expr(m: &mut MsgBuilder, name: &str, data: impl FnOnce(&mut MsgBuilder)) {
        m.nest(LIST_ELEM, |m| {
            m.string(EXPR_NAME, name);
            m.nest(EXPR_DATA, data);
        });
    }

    pub(super) fn rule(m: &mut MsgBuilder, chain: &str, rule: Match) {
        start(m, NEWRULE, flags::CREATE | APPEND);
        m.string(NAME_OR_TABLE, TABLE).string(RULE_CHAIN, chain);
        m.nest(RULE_EXPRESSIONS, |m| {
            match rule {
                // NFT_META_L4PROTO, then the transport header: source port at 0,
                // destination at 2.
                Match::Port { proto, dst, port } => {
                    meta(m, 16);
                    cmp_eq(m, &[proto.number()]);
                    payload(m, 2, if dst { 2 } else { 0 }, 2);
                    cmp_eq(m, &port.to_be_bytes());
                }
                // NFT_META_NFPROTO, then the network header.
                Match::Addr { dst, addr } => {
                    meta(m, 15);
                    match addr {
                        IpAddr::V4(a) => {
                            cmp_eq(m, &[2]);
                            payload(m, 1, if dst { 16 } else { 12 }, 4);
                            cmp_eq(m, &a.octets());
                        }
                        IpAddr::V6(a) => {
                            cmp_eq(m, &[10]);
                            payload(m, 1, if dst { 24 } else { 8 }, 16);
                            cmp_eq(m, &a.octets());
                        }
                    }
                }
            }
            m.nest(LIST_ELEM, |m| {
                m.string(EXPR_NAME, "notrack");
            });
        });
    }

    /// Whether an nftables event deletes the NOTRACK table, or a chain or rule of it.
    pub(super) fn removes_our_table(m: &Message<'_>) -> bool {
        let cmd = m.ty & 0xff;
        if m.ty >> 8 != SUBSYS_NFTABLES || ![DELTABLE, DELCHAIN, DELRULE].contains(&cmd) {
            return false;
        }
        m.attrs(4)
            .flatten()
            .any(|a| a.ty == NAME_OR_TABLE && a.string() == TABLE)
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

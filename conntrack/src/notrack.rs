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
        Ok(self.text())
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
        self.chosen()?;
        self.replace(ns)
    }

    /// Replaces the table in `ns` with exactly this set, in one batch: an empty set is
    /// the table with its two chains and no rules (as [`NoTrack::read`] may find it).
    ///
    /// # Errors
    ///
    /// As [`NoTrack::install`], without the refusal of an empty set.
    pub fn replace(&self, ns: Option<&NetNs>) -> Result<()> {
        const OP: &str = "install notrack";
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

    /// The NOTRACK rules installed in `ns` now, read over netlink: `None` when the table
    /// is not there, an empty set when it has no rules. Only rules in the shapes
    /// [`NoTrack::install`] writes (and `nft` writes for the same matches) are read back;
    /// a rule of any other shape, or a set that is not both directions in both chains, is
    /// refused rather than guessed at, so what is read can be put back exactly.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] naming a rule nettune did not write; [`Error::Decode`];
    /// [`Error::Netlink`].
    pub fn read(ns: Option<&NetNs>) -> Result<Option<Self>> {
        const OP: &str = "read notrack";
        let nl = nft::handle(ns, OP)?;
        // A rule dump filtered by a table that does not exist is empty, as is one of a
        // table without rules: the table is asked for first.
        let table = nl
            .transact::<Error>(
                nft::SUBSYS_NFTABLES << 8 | nft::GETTABLE,
                flags::ACK,
                |m| {
                    m.header(&nft::NFGENMSG);
                    m.string(nft::NAME_OR_TABLE, TABLE);
                    Ok(())
                },
                |_| Ok(()),
            )
            .map_err(|f| f.into_caller(|e| Error::from_netlink(OP, e)));
        match table {
            Ok(()) => {}
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut found: Vec<(String, std::result::Result<nft::Match, String>)> = Vec::new();
        let dumped = nl.transact::<Error>(
            nft::SUBSYS_NFTABLES << 8 | nft::GETRULE,
            flags::DUMP,
            |m| {
                m.header(&nft::NFGENMSG);
                m.string(nft::NAME_OR_TABLE, TABLE);
                Ok(())
            },
            |msg| {
                found.push(nft::decode_rule(&msg).map_err(|e| Error::decode(OP, e))?);
                Ok(())
            },
        );
        match dumped.map_err(|f| f.into_caller(|e| Error::from_netlink(OP, e))) {
            Ok(()) => {}
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut rules = Vec::with_capacity(found.len());
        for (chain, m) in found {
            let m = m.map_err(|why| {
                Error::invalid(
                    OP,
                    format!("{TABLE} chain {chain} holds a rule nettune did not write ({why}): left alone"),
                )
            })?;
            rules.push((chain, m));
        }
        Self::from_rules(OP, &rules).map(Some)
    }

    /// Reads back what [`NoTrack::text`] (or `nft list table inet nettune_notrack`)
    /// printed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] naming the first line that is not a NOTRACK rule of the
    /// shapes nettune writes.
    pub fn from_ruleset(text: &str) -> Result<Self> {
        const OP: &str = "parse notrack";
        let mut chain: Option<String> = None;
        let mut rules = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("chain ") {
                chain = Some(rest.trim_end_matches('{').trim().to_owned());
                continue;
            }
            if line.starts_with("table ") || line == "}" || line.starts_with("type ") {
                continue;
            }
            let (Some(c), Some(m)) = (&chain, line.strip_suffix(" notrack")) else {
                return Err(Error::invalid(
                    OP,
                    format!("{line:?} is not a NOTRACK rule"),
                ));
            };
            let m = nft::Match::parse(m)
                .ok_or_else(|| Error::invalid(OP, format!("{line:?} is not a NOTRACK rule")))?;
            rules.push((c.clone(), m));
        }
        Self::from_rules(OP, &rules)
    }

    /// The ruleset in `nft` syntax, as [`NoTrack::ruleset`] gives it, for any set (an
    /// empty one is the table with empty chains): the form journals keep.
    pub fn text(&self) -> String {
        let mut chains = [String::new(), String::new()];
        for (chain, rule) in self.rules() {
            let i = usize::from(chain != nft::CHAINS[0].0);
            let _ = writeln!(chains[i], "\t\t{} notrack", rule.text());
        }
        let [pre, out] = chains;
        format!(
            "table inet {TABLE} {{\n\
             \tchain prerouting {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n{pre}\t}}\n\
             \tchain output {{\n\t\ttype filter hook output priority raw; policy accept;\n{out}\t}}\n\
             }}\n"
        )
    }

    /// Whether nothing is chosen.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty() && self.addresses.is_empty()
    }

    /// The set whose rules are exactly `rules` (in any order), or a refusal.
    fn from_rules(op: &'static str, rules: &[(String, nft::Match)]) -> Result<Self> {
        let mut set = Self::new();
        for (chain, m) in rules {
            if chain != nft::CHAINS[0].0 {
                continue;
            }
            match *m {
                nft::Match::Port {
                    proto,
                    dst: true,
                    port,
                } if !set.ports.contains(&(proto, port)) => set.ports.push((proto, port)),
                nft::Match::Addr { dst: false, addr } if !set.addresses.contains(&addr) => {
                    set.addresses.push(addr);
                }
                _ => {}
            }
        }
        let key = |(c, m): &(&str, nft::Match)| format!("{c} {}", m.text());
        let mut want: Vec<String> = set.rules().iter().map(key).collect();
        let mut have: Vec<String> = rules.iter().map(|(c, m)| key(&(c.as_str(), *m))).collect();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            return Err(Error::invalid(
                op,
                format!(
                    "{TABLE} does not hold both directions of each match in both chains (found: {}): left alone",
                    have.join(", ")
                ),
            ));
        }
        Ok(set)
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

/// For the fuzz target: every message of `bytes` decoded as a dumped rule; a rule that
/// decodes to a NOTRACK match is encoded again and must decode to the same match.
#[cfg(fuzzing)]
pub(crate) fn fuzz_rules(bytes: &[u8]) {
    for m in proto::messages(bytes).flatten() {
        let Ok((chain, Ok(rule))) = nft::decode_rule(&m) else {
            continue;
        };
        let mut b = MsgBuilder::new(0, 0, 1);
        nft::rule(&mut b, &chain, rule);
        let again = b.finish().expect("our own encoding fits");
        let m2 = proto::messages(&again)
            .next()
            .and_then(std::result::Result::ok)
            .expect("our own encoding frames");
        let (c2, r2) = nft::decode_rule(&m2).expect("our own encoding decodes");
        assert_eq!(c2, chain);
        assert_eq!(r2.expect("our own shape").text(), rule.text());
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
    use nettune_netlink::proto::{Attr, DecodeError, Message, MsgBuilder};
    use nettune_netlink::{Handle, NlFamily};

    use crate::error::{Error, Result};
    use crate::proto::flags;

    use super::{L4, TABLE};

    pub(super) const SUBSYS_NFTABLES: u16 = 10;
    pub(super) const NEWTABLE: u16 = 0;
    pub(super) const GETTABLE: u16 = 1;
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

    impl Match {
        /// Reads back what [`Match::text`] prints.
        pub(super) fn parse(text: &str) -> Option<Self> {
            let f: Vec<&str> = text.split_whitespace().collect();
            let [kind, dir, value] = f[..] else {
                return None;
            };
            let dst = match dir {
                "dport" | "daddr" => true,
                "sport" | "saddr" => false,
                _ => return None,
            };
            match (kind, dir) {
                ("tcp" | "udp", "dport" | "sport") => Some(Self::Port {
                    proto: if kind == "tcp" { L4::Tcp } else { L4::Udp },
                    dst,
                    port: value.parse().ok()?,
                }),
                ("ip" | "ip6", "daddr" | "saddr") => {
                    let addr: IpAddr = value.parse().ok()?;
                    (addr.is_ipv4() == (kind == "ip")).then_some(Self::Addr { dst, addr })
                }
                _ => None,
            }
        }
    }

    /// One expression of a dumped rule, as far as NOTRACK rules need.
    #[derive(Debug, PartialEq, Eq)]
    enum Expr {
        Meta {
            key: u32,
            dreg: u32,
        },
        Payload {
            dreg: u32,
            base: u32,
            offset: u32,
            len: u32,
        },
        Cmp {
            sreg: u32,
            op: u32,
            value: Vec<u8>,
        },
        NoTrack,
        Other(String),
    }

    fn decode_expr(elem: &Attr<'_>) -> std::result::Result<Expr, DecodeError> {
        let mut name = String::new();
        let mut data: Option<Attr<'_>> = None;
        for a in elem.attrs() {
            let a = a?;
            match a.ty {
                EXPR_NAME => name = a.string(),
                EXPR_DATA => data = Some(a),
                _ => {}
            }
        }
        let mut v: [u32; 5] = [u32::MAX; 5];
        let mut value = Vec::new();
        if let Some(d) = data {
            for a in d.attrs() {
                let a = a?;
                if name == "cmp" && a.ty == 3 {
                    for inner in a.attrs() {
                        let inner = inner?;
                        if inner.ty == 1 {
                            value = inner.payload.to_vec();
                        }
                    }
                } else if let Some(slot) = v.get_mut(usize::from(a.ty)) {
                    *slot = a.be32()?;
                }
            }
        }
        Ok(match name.as_str() {
            "meta" => Expr::Meta {
                key: v[2],
                dreg: v[1],
            },
            "payload" => Expr::Payload {
                dreg: v[1],
                base: v[2],
                offset: v[3],
                len: v[4],
            },
            "cmp" => Expr::Cmp {
                sreg: v[1],
                op: v[2],
                value,
            },
            "notrack" => Expr::NoTrack,
            _ => Expr::Other(name),
        })
    }

    /// One dumped rule: its chain, and its match when it is one of the NOTRACK shapes
    /// (else why not, in words).
    pub(super) fn decode_rule(
        msg: &Message<'_>,
    ) -> std::result::Result<(String, std::result::Result<Match, String>), DecodeError> {
        let mut chain = String::new();
        let mut exprs = Vec::new();
        msg.header(4)?;
        for a in msg.attrs(4) {
            let a = a?;
            match a.ty {
                RULE_CHAIN => chain = a.string(),
                RULE_EXPRESSIONS => {
                    for e in a.attrs() {
                        exprs.push(decode_expr(&e?)?);
                    }
                }
                _ => {}
            }
        }
        Ok((chain, shape(&exprs)))
    }

    /// The match a rule's expressions make, when they are `meta` + `cmp` + `payload` +
    /// `cmp` + `notrack`, all through register 1 with `==`.
    fn shape(exprs: &[Expr]) -> std::result::Result<Match, String> {
        let describe = || {
            exprs
                .iter()
                .map(|e| match e {
                    Expr::Meta { .. } => "meta".to_owned(),
                    Expr::Payload { .. } => "payload".to_owned(),
                    Expr::Cmp { .. } => "cmp".to_owned(),
                    Expr::NoTrack => "notrack".to_owned(),
                    Expr::Other(n) => n.clone(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let [
            Expr::Meta { key, dreg: 1 },
            Expr::Cmp {
                sreg: 1,
                op: 0,
                value: what,
            },
            Expr::Payload {
                dreg: 1,
                base,
                offset,
                len,
            },
            Expr::Cmp {
                sreg: 1,
                op: 0,
                value,
            },
            Expr::NoTrack,
        ] = exprs
        else {
            return Err(format!("expressions: {}", describe()));
        };
        let found =
            match (*key, what.as_slice(), *base, *offset, *len) {
                (16, [p @ (6 | 17)], 2, off @ (0 | 2), 2) => <[u8; 2]>::try_from(value.as_slice())
                    .ok()
                    .map(|port| Match::Port {
                        proto: if *p == 6 { L4::Tcp } else { L4::Udp },
                        dst: off == 2,
                        port: u16::from_be_bytes(port),
                    }),
                (15, [2], 1, off @ (12 | 16), 4) => {
                    <[u8; 4]>::try_from(value.as_slice())
                        .ok()
                        .map(|a| Match::Addr {
                            dst: off == 16,
                            addr: IpAddr::from(a),
                        })
                }
                (15, [10], 1, off @ (8 | 24), 16) => <[u8; 16]>::try_from(value.as_slice())
                    .ok()
                    .map(|a| Match::Addr {
                        dst: off == 24,
                        addr: IpAddr::from(a),
                    }),
                _ => None,
            };
        found.ok_or_else(|| format!("expressions: {}", describe()))
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

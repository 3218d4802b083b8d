//! The `Conntrack` handle.

use std::time::Duration;

use nettune_core::NetNs;
use nettune_netlink::proto::{Message, MsgBuilder};
use nettune_netlink::{Handle, NlFamily};

use crate::error::{Error, Result};
use crate::filter::{Filter, TupleFilter};
use crate::proto::{self, CpuStats, Entry, Tuple, cta, filter_flag, flags, msg};

/// The number of connections tracked and the most allowed (`CT_GET_STATS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Count {
    /// Entries in the table (this namespace).
    pub entries: u32,
    /// `net.netfilter.nf_conntrack_max`.
    pub max: u32,
}

impl Count {
    /// How full the table is, 0.0 to 1.0.
    pub fn fill(&self) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            f64::from(self.entries) / f64::from(self.max)
        }
    }
}

/// What [`Conntrack::update`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Update {
    /// A new mark.
    pub mark: Option<u32>,
    /// A new timeout (at most [`MAX_TIMEOUT_SECS`](crate::MAX_TIMEOUT_SECS)).
    pub timeout: Option<Duration>,
    /// Labels to change: `(value, mask)`, label N at bit N; the bits of `mask` are set to
    /// those of `value`, the others kept. The labels must be in use in the namespace (a
    /// rule that sets or matches `ct label`), or the kernel has no room for them and the
    /// update is refused.
    pub labels: Option<(u128, u128)>,
    /// Status bits to add (the kernel only adds: `SEEN_REPLY` and `ASSURED` cannot be
    /// cleared, and most bits not set at all).
    pub status: Option<crate::Status>,
}

/// A handle of the connection tracking table of one network namespace (`conntrack(8)`,
/// Documentation/networking/nf_conntrack-sysctl.rst).
///
/// Reading needs `CAP_NET_ADMIN` in the namespace's user namespace, as does changing.
/// The handle may be shared between threads; a dump runs on a socket of its own, so the
/// handle stays usable while one is read (delete stale flows from inside the dump loop).
#[derive(Debug)]
pub struct Conntrack {
    nl: Handle,
}

/// The kernel version, for filters newer kernels apply (`kernel.osrelease`).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

fn encode_tuple_filter(m: &mut MsgBuilder, ty: u16, t: &TupleFilter) -> u32 {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let mut flagbits = 0;
    let unspecified = |v6: bool| {
        if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    };
    let v6 = t.src.or(t.dst).is_some_and(|a| a.is_ipv6());
    let tuple = Tuple {
        src: t.src.unwrap_or(unspecified(v6)),
        dst: t.dst.unwrap_or(unspecified(v6)),
        protocol: t.protocol.unwrap_or(0),
        src_port: t.src_port,
        dst_port: t.dst_port,
        icmp: None,
        zone: None,
    };
    if t.src.is_some() {
        flagbits |= filter_flag::IP_SRC;
    }
    if t.dst.is_some() {
        flagbits |= filter_flag::IP_DST;
    }
    if t.protocol.is_some() {
        flagbits |= filter_flag::PROTO_NUM;
    }
    if t.src_port.is_some() {
        flagbits |= filter_flag::SRC_PORT;
    }
    if t.dst_port.is_some() {
        flagbits |= filter_flag::DST_PORT;
    }
    proto::encode_tuple(m, ty, &tuple);
    flagbits
}

impl Conntrack {
    /// Opens the table of the calling thread's network namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel has no `NETLINK_NETFILTER`.
    pub fn open() -> Result<Self> {
        Self::wrap(Handle::open(NlFamily::Netfilter))
    }

    /// Opens the table of namespace `ns` (the handle stays bound to it).
    ///
    /// # Errors
    ///
    /// As [`Conntrack::open`], and [`Error::Netns`].
    pub fn open_in(ns: &NetNs) -> Result<Self> {
        Self::wrap(Handle::open_in(ns, NlFamily::Netfilter))
    }

    fn wrap(nl: std::result::Result<Handle, nettune_netlink::Error>) -> Result<Self> {
        let nl = nl.map_err(|e| match e.errno() {
            Some(libc::EPROTONOSUPPORT) => Error::Unsupported {
                op: "open",
                reason: "this kernel has no nfnetlink (CONFIG_NETFILTER_NETLINK)".into(),
                source: Some(e),
            },
            _ => Error::from_netlink("open", e),
        })?;
        Ok(Self { nl })
    }

    /// The namespace the handle was opened in, when not the caller's.
    pub fn netns(&self) -> Option<&NetNs> {
        self.nl.netns()
    }

    /// The netlink handle.
    pub(crate) fn handle(&self) -> &Handle {
        &self.nl
    }

    /// Sends a ctnetlink request (`nfgenmsg` of `family`/`version`, then what `build`
    /// writes) and calls `each` for every reply.
    pub(crate) fn transact(
        &self,
        op: &'static str,
        (ty, flags, family, version): (u16, u16, u8, u8),
        build: impl FnOnce(&mut MsgBuilder) -> Result<()>,
        each: impl FnMut(Message<'_>) -> Result<()>,
    ) -> Result<()> {
        self.nl
            .transact(
                ty,
                flags,
                |m| {
                    m.header(&proto::nfgenmsg(family, version));
                    build(m)
                },
                each,
            )
            .map_err(|f| f.into_caller(|e| Error::from_netlink(op, e)))
    }

    /// Why the running kernel cannot apply `f` as asked, if it cannot.
    fn kernel_gap(f: &Filter) -> Option<String> {
        let since =
            |what: &str, v: &str| format!("this kernel cannot filter by {what} (Linux {v} can)");
        if f.status.is_some() && !kernel_at_least(5, 15) {
            return Some(since("status", "5.15"));
        }
        if f.zone.is_some() && !kernel_at_least(6, 8) {
            return Some(since("zone", "6.8"));
        }
        if f.has_tuple() && !kernel_at_least(5, 8) {
            return Some(since("tuple", "5.8"));
        }
        let v6_address = [f.original, f.reply]
            .into_iter()
            .flatten()
            .any(|t| t.src.or(t.dst).is_some_and(|a| a.is_ipv6()));
        if v6_address {
            // Measured on 6.18: ctnetlink's tuple filter drops the entries whose IPv6
            // address equals the filter's and keeps the others (ctnetlink_filter_match_tuple
            // negates ipv6_addr_cmp), so the kernel's answer would be the complement.
            return Some(
                "the kernel's IPv6 address tuple filter matches the wrong entries (it is inverted in ctnetlink)".into(),
            );
        }
        None
    }

    /// What the kernel can apply of `f` (the rest is matched in user space after it):
    /// address prefixes shorter than the address are left out, and so are tuple criteria
    /// without an address family (`conntrack -L -p tcp` lists both families), which the
    /// kernel's tuple filter needs.
    fn kernel_part(f: &Filter) -> Filter {
        let mut k = f.clone();
        k.original = f.original.map(TupleFilter::for_kernel);
        k.reply = f.reply.map(TupleFilter::for_kernel);
        if k.has_tuple() && k.effective_family().is_none() {
            k.original = None;
            k.reply = None;
        }
        k
    }

    /// Writes the kernel filter attributes (the caller checked [`Conntrack::kernel_gap`]).
    fn encode_filter(m: &mut MsgBuilder, f: &Filter, op: &'static str) -> Result<()> {
        if let Some((v, mask)) = f.mark {
            m.be32(cta::MARK, v).be32(cta::MARK_MASK, mask);
        }
        if let Some((v, mask)) = f.status {
            m.be32(cta::STATUS, v.bits())
                .be32(cta::STATUS_MASK, mask.bits());
        }
        if let Some(z) = f.zone {
            m.be16(cta::ZONE, z);
        }
        if f.has_tuple() {
            for t in [f.original, f.reply].into_iter().flatten() {
                if (t.src_port.is_some() || t.dst_port.is_some()) && t.protocol.is_none() {
                    return Err(Error::invalid(op, "a port filter needs the protocol"));
                }
            }
            if f.effective_family().is_none() {
                return Err(Error::invalid(
                    op,
                    "a tuple filter needs the address family: give an address or Filter::family",
                ));
            }
            let orig = f
                .original
                .map_or(0, |t| encode_tuple_filter(m, cta::TUPLE_ORIG, &t));
            let reply = f
                .reply
                .map_or(0, |t| encode_tuple_filter(m, cta::TUPLE_REPLY, &t));
            proto::encode_filter_flags(m, orig, reply);
        }
        Ok(())
    }

    /// Streams the entries that match `filter`, decoded as each datagram arrives: memory
    /// does not grow with the table. The kernel applies the filter.
    ///
    /// Tuple filters on IPv6 addresses are not sent to the kernel: on the kernels measured
    /// (6.18) ctnetlink inverts that comparison. With [`Filter::userspace_fallback`] they are
    /// applied here instead.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when this kernel cannot apply a criterion (unless the filter
    /// asks for the user-space fallback); errors while streaming come as items.
    ///
    /// ```no_run
    /// use nettune_conntrack::{Conntrack, Filter};
    /// let ct = Conntrack::open()?;
    /// for entry in ct.dump(&Filter::new().mark(0x10, 0xff))? {
    ///     let e = entry?;
    ///     println!("{} {}", e.original.protocol_name(), e.original);
    /// }
    /// # Ok::<(), nettune_conntrack::Error>(())
    /// ```
    pub fn dump(&self, filter: &Filter) -> Result<Dump<'_>> {
        self.dump_as(msg::GET, filter)
    }

    fn dump_as(&self, ty: u16, filter: &Filter) -> Result<Dump<'_>> {
        let op = "dump";
        for t in [filter.original, filter.reply].into_iter().flatten() {
            if (t.src_port.is_some() || t.dst_port.is_some()) && t.protocol.is_none() {
                return Err(Error::invalid(op, "a port filter needs the protocol"));
            }
        }
        let gap = Self::kernel_gap(&Self::kernel_part(filter));
        if let (Some(reason), false) = (&gap, filter.userspace_fallback) {
            return Err(Error::unsupported(
                op,
                format!("{reason}; use Filter::userspace_fallback(true) to filter in user space"),
            ));
        }
        let fallback = gap.is_some();
        // In user space, the kernel still narrows by family and mark, which it always can.
        let kernel_filter = if fallback {
            let mut k = Filter::new().family_opt(filter.effective_family());
            k.mark = filter.mark;
            k
        } else {
            Self::kernel_part(filter)
        };
        let fallback = fallback || kernel_filter != *filter;
        let family = kernel_filter
            .effective_family()
            .map_or(0, proto::Family::to_raw);
        let inner = self
            .nl
            .dump(ty, flags::DUMP, |m| {
                m.header(&proto::nfgenmsg(family, 0));
                Self::encode_filter(m, &kernel_filter, op)
            })
            .map_err(|f| f.into_caller(|e| Error::from_netlink(op, e)))?;
        Ok(Dump {
            inner,
            userspace: fallback.then(|| filter.clone()),
            pending: None,
        })
    }

    /// The entry whose original tuple is `tuple`, in zone `tuple.zone` (0 when `None`).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub fn get(&self, tuple: &Tuple) -> Result<Entry> {
        self.get_in(tuple, tuple.zone)
    }

    /// The current state of a dumped entry: the same tuple in the same zone (the entry's
    /// zone, which a dump reports on the entry, not on its tuples).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when it is gone.
    pub fn get_entry(&self, entry: &Entry) -> Result<Entry> {
        self.get_in(&entry.original, entry_zone(entry))
    }

    fn get_in(&self, tuple: &Tuple, zone: Option<u16>) -> Result<Entry> {
        let op = "get";
        let mut found = None;
        self.transact(
            op,
            (msg::GET, flags::ACK, tuple.family().to_raw(), 0),
            |m| {
                encode_lookup(m, tuple, zone);
                Ok(())
            },
            |reply| {
                found = Some(proto::decode_entry(&reply).map_err(|e| Error::decode(op, e))?);
                Ok(())
            },
        )?;
        found.ok_or(Error::NotFound { op, source: None })
    }

    /// Entries in the table and the most allowed (`CT_GET_STATS`, `conntrack -C`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] without conntrack.
    pub fn count(&self) -> Result<Count> {
        let op = "count";
        let mut out = None;
        self.transact(
            op,
            (msg::GET_STATS, flags::ACK, 0, 0),
            |_| Ok(()),
            |reply| {
                out = Some(proto::decode_count(&reply).map_err(|e| Error::decode(op, e))?);
                Ok(())
            },
        )?;
        let (entries, max) =
            out.ok_or_else(|| Error::unsupported(op, "no statistics in the reply"))?;
        Ok(Count { entries, max })
    }

    /// Per-CPU statistics (`CT_GET_STATS_CPU`, `conntrack -S`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] without conntrack.
    pub fn stats(&self) -> Result<Vec<CpuStats>> {
        let op = "stats";
        let mut out = Vec::new();
        self.transact(
            op,
            (msg::GET_STATS_CPU, flags::DUMP, 0, 0),
            |_| Ok(()),
            |reply| {
                out.push(proto::decode_cpu_stats(&reply).map_err(|e| Error::decode(op, e))?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Creates an entry (`CT_NEW` with `NLM_F_CREATE | NLM_F_EXCL`, `conntrack -I`). No
    /// ruleset is needed.
    ///
    /// # Errors
    ///
    /// [`Error::Exists`]; [`Error::InvalidValue`], before sending, without a timeout or
    /// a reply tuple, with a timeout past [`MAX_TIMEOUT_SECS`](crate::MAX_TIMEOUT_SECS),
    /// mixed families or protocols, a TCP state on another protocol, and when the kernel
    /// refuses the entry; [`Error::Unsupported`] for labels where no rule uses them (the
    /// kernel would drop them: the entry is taken back).
    pub fn create(&self, entry: &Entry) -> Result<()> {
        let op = "create";
        check_new(op, entry)?;
        self.transact(
            op,
            (
                msg::NEW,
                flags::ACK | flags::CREATE | flags::EXCL,
                entry.family.to_raw(),
                0,
            ),
            |m| {
                proto::encode_entry(m, entry);
                Ok(())
            },
            |_| Ok(()),
        )
        .map_err(|e| {
            refusal(
                op,
                e,
                entry.labels().is_some(),
                !entry.status.is_empty(),
                entry.helper(),
            )
        })?;
        // The kernel keeps labels only while a rule uses them; otherwise it creates the
        // entry and drops them without a word. Check, and take the entry back.
        if let Some(want) = entry.labels() {
            let zone = entry_zone(entry);
            let made = self.get_in(&entry.original, zone)?;
            let kept = made.labels().map(proto::labels_of);
            if kept != Some(proto::labels_of(want)) {
                let _ = self.delete_in(&entry.original, zone, made.id);
                return Err(Error::Unsupported {
                    op,
                    reason: NO_LABELS.into(),
                    source: None,
                });
            }
        }
        Ok(())
    }

    /// As [`Conntrack::dump`], and the kernel sets each entry's counters to zero as it
    /// reports them (`conntrack -L -z`): the entries carry the counts up to now.
    ///
    /// # Errors
    ///
    /// As [`Conntrack::dump`].
    pub fn dump_and_zero(&self, filter: &Filter) -> Result<Dump<'_>> {
        self.dump_as(msg::GET_CTRZERO, filter)
    }

    /// Changes the mark or timeout of the entry with original tuple `tuple`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub fn update(&self, tuple: &Tuple, update: &Update) -> Result<()> {
        self.update_in(tuple, tuple.zone, update)
    }

    /// Changes a dumped entry (in its zone).
    ///
    /// # Errors
    ///
    /// As [`Conntrack::update`].
    pub fn update_entry(&self, entry: &Entry, update: &Update) -> Result<()> {
        self.update_in(&entry.original, entry_zone(entry), update)
    }

    /// Changes every entry that matches `filter` (`conntrack -U` with filters): a dump,
    /// then an update of each entry in its zone. Returns how many were changed; an entry
    /// that expired between the two is not counted.
    ///
    /// # Errors
    ///
    /// As [`Conntrack::dump`] and [`Conntrack::update`] (the first refusal stops it).
    pub fn update_matching(&self, filter: &Filter, update: &Update) -> Result<usize> {
        check_update("update", update)?;
        let mut changed = 0;
        for e in self.dump(filter)? {
            match self.update_entry(&e?, update) {
                Ok(()) => changed += 1,
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    fn update_in(&self, tuple: &Tuple, zone: Option<u16>, update: &Update) -> Result<()> {
        let op = "update";
        check_update(op, update)?;
        // The kernel takes the whole status word and refuses one that would clear a bit
        // (CONFIRMED among them): send the entry's bits with the new ones.
        let status = match update.status {
            Some(add) => Some(self.get_in(tuple, zone)?.status | add),
            None => None,
        };
        self.transact(
            op,
            (msg::NEW, flags::ACK, tuple.family().to_raw(), 0),
            |m| {
                encode_lookup(m, tuple, zone);
                if let Some(mark) = update.mark {
                    m.be32(cta::MARK, mark);
                }
                if let Some(t) = update.timeout {
                    m.be32(cta::TIMEOUT, proto::timeout_secs(t).unwrap_or(u32::MAX));
                }
                if let Some(status) = status {
                    m.be32(cta::STATUS, status.bits());
                }
                if let Some((value, mask)) = update.labels {
                    m.attr(cta::LABELS, &proto::labels_bitmap(value));
                    m.attr(cta::LABELS_MASK, &proto::labels_bitmap(mask));
                }
                Ok(())
            },
            |_| Ok(()),
        )
        .map_err(|e| {
            refusal(
                op,
                e,
                update.labels.is_some(),
                update.status.is_some(),
                None,
            )
        })
    }

    /// Deletes the entry with original tuple `tuple`; with `id`, only if its id is that
    /// (so a new connection that reused the tuple is not deleted).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none (or the id differs).
    pub fn delete(&self, tuple: &Tuple, id: Option<u32>) -> Result<()> {
        self.delete_in(tuple, tuple.zone, id)
    }

    /// Deletes exactly a dumped entry: its tuple, in its zone, and only while its id is the
    /// same (a new connection that reused the tuple, or the same tuple in another zone, is
    /// left alone).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when it is gone.
    pub fn delete_entry(&self, entry: &Entry) -> Result<()> {
        self.delete_in(&entry.original, entry_zone(entry), entry.id)
    }

    fn delete_in(&self, tuple: &Tuple, zone: Option<u16>, id: Option<u32>) -> Result<()> {
        let op = "delete";
        self.transact(
            op,
            (msg::DELETE, flags::ACK, tuple.family().to_raw(), 0),
            |m| {
                encode_lookup(m, tuple, zone);
                if let Some(id) = id {
                    m.be32(cta::ID, id);
                }
                Ok(())
            },
            |_| Ok(()),
        )
    }

    /// Deletes every entry that matches `filter`, in the kernel (one request; the family
    /// is honoured: the request carries `nfgenmsg.version = 1`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when this kernel cannot apply a criterion.
    pub fn flush(&self, filter: &Filter) -> Result<()> {
        let op = "flush";
        let family = filter.effective_family().map_or(0, proto::Family::to_raw);
        if filter.has_tuple() {
            return Err(Error::unsupported(
                op,
                "the kernel flushes by family, mark, status and zone, not by tuple; dump and delete instead",
            ));
        }
        if let Some(reason) = Self::kernel_gap(filter) {
            return Err(Error::unsupported(op, reason));
        }
        self.transact(
            op,
            (msg::DELETE, flags::ACK, family, 1),
            |m| Self::encode_filter(m, filter, op),
            |_| Ok(()),
        )
    }
}

/// What the kernel would refuse of a new entry, refused before sending with the reason.
fn check_new(op: &'static str, e: &Entry) -> Result<()> {
    let Some(t) = e.timeout else {
        return Err(Error::invalid(op, "a new entry needs a timeout"));
    };
    proto::timeout_secs(t).map_err(|r| Error::invalid(op, r))?;
    let Some(reply) = &e.reply else {
        return Err(Error::invalid(
            op,
            "a new entry needs a reply tuple (Entry::new makes the reverse one)",
        ));
    };
    if reply.family() != e.original.family() || e.family != e.original.family() {
        return Err(Error::invalid(
            op,
            "the original and reply tuples (and the entry) must be of one address family",
        ));
    }
    if reply.protocol != e.original.protocol {
        return Err(Error::invalid(
            op,
            "the original and reply tuples must be of one protocol",
        ));
    }
    for nat in [e.snat(), e.dnat()].into_iter().flatten() {
        let family_of = |a: std::net::IpAddr| a.is_ipv4();
        if family_of(nat.min) != family_of(nat.max)
            || family_of(nat.min) != e.original.src.is_ipv4()
        {
            return Err(Error::invalid(
                op,
                "a NAT target must be of the entry's address family",
            ));
        }
        if nat.ports.is_some_and(|(lo, hi)| lo > hi) {
            return Err(Error::invalid(op, "a NAT port range runs from low to high"));
        }
    }
    if e.tcp.is_some() && e.original.protocol != 6 {
        return Err(Error::invalid(
            op,
            "a TCP state belongs on a TCP entry only",
        ));
    }
    Ok(())
}

/// What the kernel would refuse of an update, refused before sending.
fn check_update(op: &'static str, u: &Update) -> Result<()> {
    if let Some(t) = u.timeout {
        proto::timeout_secs(t).map_err(|r| Error::invalid(op, r))?;
    }
    Ok(())
}

const NO_LABELS: &str = "this namespace has no room for connection labels: the kernel keeps \
                         them only while a rule uses them (nft ... ct label set N, or an xt \
                         connlabel match)";

/// A kernel refusal of a create or update, said with what it means.
fn refusal(op: &'static str, e: Error, labels: bool, status: bool, helper: Option<&str>) -> Error {
    match e {
        Error::Unsupported {
            source: Some(source),
            ..
        } if helper.is_some() && source.errno() == Some(libc::EOPNOTSUPP) => Error::Unsupported {
            op,
            reason: format!(
                "the kernel has no conntrack helper {:?} for this protocol (ftp, sip, tftp, \
                 irc, amanda, h323, pptp, sane, snmp, netbios-ns where built)",
                helper.unwrap_or_default()
            ),
            source: Some(source),
        },
        Error::Unsupported {
            source: Some(source),
            ..
        } if labels && source.errno() == Some(libc::EOPNOTSUPP) => Error::Unsupported {
            op,
            reason: NO_LABELS.into(),
            source: Some(source),
        },
        Error::Netlink { source, .. } if status && source.errno() == Some(libc::EBUSY) => {
            Error::InvalidValue {
                op,
                reason: "the kernel only adds status bits: SEEN_REPLY and ASSURED cannot be \
                         cleared, CONFIRMED and the NAT bits not changed"
                    .into(),
                source: Some(source),
            }
        }
        other => other,
    }
}

/// The zone a dumped entry lives in: the entry's (`CTA_ZONE`), else its original tuple's.
fn entry_zone(entry: &Entry) -> Option<u16> {
    entry.zone.or(entry.original.zone)
}

/// A lookup key: the original tuple, and the zone once, as `CTA_ZONE` (the kernel refuses
/// a tuple zone next to it, and a tuple zone alone names one direction only).
fn encode_lookup(m: &mut MsgBuilder, tuple: &Tuple, zone: Option<u16>) {
    let bare = Tuple {
        zone: None,
        ..*tuple
    };
    proto::encode_tuple(m, cta::TUPLE_ORIG, &bare);
    if let Some(z) = zone.filter(|&z| z != 0) {
        m.be16(cta::ZONE, z);
    }
}

impl Filter {
    fn family_opt(self, family: Option<proto::Family>) -> Self {
        match family {
            Some(f) => self.family(f),
            None => self,
        }
    }
}

/// A streaming dump: entries are decoded as datagrams arrive. It reads on a socket of
/// its own, so the [`Conntrack`] handle stays usable meanwhile; dropping it early reads
/// what is left of the kernel's answer.
#[derive(Debug)]
pub struct Dump<'a> {
    inner: nettune_netlink::Dump<'a>,
    userspace: Option<Filter>,
    pending: Option<Error>,
}

impl Dump<'_> {
    /// The next replies, up to `max` messages, as they came, without decoding them: the
    /// decoding ([`RawBatch::entries`]) can then run on another thread while this one
    /// reads on (a listing that prints what it dumps keeps both cores busy). `None` at
    /// the end; an error comes after the batch that preceded it.
    pub fn next_raw_batch(&mut self, max: usize) -> Option<Result<RawBatch>> {
        const OP: &str = "dump";
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        let mut b = RawBatch {
            bytes: Vec::with_capacity(max.saturating_mul(256)),
            spans: Vec::with_capacity(max),
            userspace: self.userspace.clone(),
        };
        while b.spans.len() < max.max(1) {
            let got = self.inner.next_with::<(), Error>(|m| {
                let start = b.bytes.len();
                b.bytes.extend_from_slice(m.payload);
                b.spans.push((m.ty, m.flags, start, b.bytes.len()));
                Ok(())
            });
            match got {
                None => break,
                Some(Ok(())) => {}
                Some(Err(f)) => {
                    let e = f.into_caller(|e| Error::from_netlink(OP, e));
                    if b.spans.is_empty() {
                        return Some(Err(e));
                    }
                    self.pending = Some(e);
                    break;
                }
            }
        }
        (!b.spans.is_empty()).then_some(Ok(b))
    }
}

/// Replies of a [`Dump`] not decoded yet ([`Dump::next_raw_batch`]); `Send`, so another
/// thread can decode them.
#[derive(Debug, Clone)]
pub struct RawBatch {
    bytes: Vec<u8>,
    spans: Vec<(u16, u16, usize, usize)>,
    userspace: Option<Filter>,
}

impl RawBatch {
    /// The entries, decoded, that the dump's filter keeps (the part of the filter the
    /// kernel could not apply is applied here, as [`Dump`]'s iterator does).
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry>> + '_ {
        self.spans
            .iter()
            .filter_map(move |&(ty, flags, start, end)| {
                let m = Message {
                    ty,
                    flags,
                    seq: 0,
                    pid: 0,
                    payload: self.bytes.get(start..end).unwrap_or_default(),
                };
                match proto::decode_entry(&m) {
                    Err(e) => Some(Err(Error::decode("dump", e))),
                    Ok(e) => self
                        .userspace
                        .as_ref()
                        .is_none_or(|f| f.matches(&e))
                        .then_some(Ok(e)),
                }
            })
    }

    /// How many replies it holds.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl Iterator for Dump<'_> {
    type Item = Result<Entry>;
    fn next(&mut self) -> Option<Self::Item> {
        const OP: &str = "dump";
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        loop {
            // The entry is decoded in place into a slot here rather than returned through
            // the layers of the netlink reader: an `Entry` is large, and each move copies it.
            let mut slot: Option<Entry> = None;
            let item = self.inner.next_with::<(), Error>(|m| {
                proto::decode_entry_into(&m, &mut slot).map_err(|e| Error::decode(OP, e))
            })?;
            if let Err(f) = item {
                return Some(Err(f.into_caller(|e| Error::from_netlink(OP, e))));
            }
            if let Some(e) = slot
                && self.userspace.as_ref().is_none_or(|f| f.matches(&e))
            {
                return Some(Ok(e));
            }
        }
    }
}

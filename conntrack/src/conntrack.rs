//! The `Conntrack` handle.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nettune_netlink::proto::MsgBuilder;
use nettune_netlink::{NlFamily, Socket};
use sysctl_core::netns::NetNs;

use crate::error::{Error, Result};
use crate::filter::{Filter, TupleFilter};
use crate::proto::{self, CpuStats, Entry, Tuple, cta, filter_flag, flags, msg};

/// The number of connections tracked and the most allowed (`CT_GET_STATS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// A new timeout.
    pub timeout: Option<Duration>,
}

/// A handle of the connection tracking table of one network namespace (`conntrack(8)`,
/// Documentation/networking/nf_conntrack-sysctl.rst).
///
/// Reading needs `CAP_NET_ADMIN` in the namespace's user namespace, as does changing.
/// Calls serialise on one netlink socket; open several handles for parallel work.
#[derive(Debug)]
pub struct Conntrack {
    sock: Mutex<Socket>,
    netns: Option<NetNs>,
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
        Self::open_here(None)
    }

    /// Opens the table of namespace `ns` (the handle stays bound to it).
    ///
    /// # Errors
    ///
    /// As [`Conntrack::open`], and [`Error::Netns`].
    pub fn open_in(ns: &NetNs) -> Result<Self> {
        let owned = ns.clone();
        ns.run(move || Self::open_here(Some(owned)))?
    }

    fn open_here(netns: Option<NetNs>) -> Result<Self> {
        let sock = Socket::open(NlFamily::Netfilter).map_err(|e| match e.errno() {
            Some(libc::EPROTONOSUPPORT) => Error::Unsupported {
                op: "open",
                reason: "this kernel has no nfnetlink (CONFIG_NETFILTER_NETLINK)".into(),
            },
            _ => Error::from_netlink("open", e),
        })?;
        Ok(Self {
            sock: Mutex::new(sock),
            netns,
        })
    }

    /// The namespace the handle was opened in, when not the caller's.
    pub fn netns(&self) -> Option<&NetNs> {
        self.netns.as_ref()
    }

    pub(crate) fn socket(&self) -> MutexGuard<'_, Socket> {
        // A panic while decoding cannot leave the socket in a bad state: take it back.
        self.sock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn request(
        &self,
        ty: u16,
        extra: u16,
        family: u8,
        version: u8,
    ) -> (MutexGuard<'_, Socket>, MsgBuilder) {
        let mut sock = self.socket();
        let seq = sock.next_seq();
        let mut m = MsgBuilder::new(ty, extra, seq);
        m.bytes(&proto::nfgenmsg(family, version));
        (sock, m)
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

    /// Writes the kernel filter attributes (the caller checked [`Conntrack::kernel_gap`]).
    fn encode_filter(&self, m: &mut MsgBuilder, f: &Filter, op: &'static str) -> Result<()> {
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
                    return Err(Error::InvalidValue {
                        op,
                        reason: "a port filter needs the protocol".into(),
                    });
                }
            }
            if f.effective_family().is_none() {
                return Err(Error::InvalidValue {
                    op,
                    reason:
                        "a tuple filter needs the address family: give an address or Filter::family"
                            .into(),
                });
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
    /// use conntrack::{Conntrack, Filter};
    /// let ct = Conntrack::open()?;
    /// for entry in ct.dump(&Filter::new().mark(0x10, 0xff))? {
    ///     let e = entry?;
    ///     println!("{} {}", e.original.protocol_name(), e.original);
    /// }
    /// # Ok::<(), conntrack::Error>(())
    /// ```
    pub fn dump(&self, filter: &Filter) -> Result<Dump<'_>> {
        let op = "dump";
        let gap = Self::kernel_gap(filter);
        if let (Some(reason), false) = (&gap, filter.userspace_fallback) {
            return Err(Error::Unsupported {
                op,
                reason: format!(
                    "{reason}; use Filter::userspace_fallback(true) to filter in user space"
                ),
            });
        }
        let fallback = gap.is_some();
        // In user space, the kernel still narrows by family and mark, which it always can.
        let kernel_filter = if fallback {
            let mut k = Filter::new().family_opt(filter.effective_family());
            k.mark = filter.mark;
            k
        } else {
            filter.clone()
        };
        let family = kernel_filter
            .effective_family()
            .map_or(0, proto::Family::to_raw);
        let (mut sock, mut m) = self.request(msg::GET, flags::DUMP, family, 0);
        self.encode_filter(&mut m, &kernel_filter, op)?;
        let seq = sock
            .dump_start(&m.finish())
            .map_err(|e| Error::from_netlink(op, e))?;
        Ok(Dump {
            sock,
            seq,
            userspace: fallback.then(|| filter.clone()),
            done: false,
        })
    }

    /// The entry whose original tuple is `tuple` (its zone included).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub fn get(&self, tuple: &Tuple) -> Result<Entry> {
        let op = "get";
        let (mut sock, mut m) = self.request(msg::GET, flags::ACK, tuple.family().to_raw(), 0);
        proto::encode_tuple(&mut m, cta::TUPLE_ORIG, tuple);
        if let Some(z) = tuple.zone {
            m.be16(cta::ZONE, z);
        }
        let mut found = None;
        sock.transact::<Error>(op, &m.finish(), |reply| {
            found = Some(
                proto::decode_entry(reply.payload).map_err(|e| Error::InvalidValue {
                    op,
                    reason: e.to_string(),
                })?,
            );
            Ok(())
        })
        .map_err(|e| Self::netlink_in(op, e))?;
        found.ok_or(Error::NotFound { op })
    }

    fn netlink_in(op: &'static str, e: Error) -> Error {
        match e {
            Error::Netlink { source, .. } => Error::from_netlink(op, source),
            other => other,
        }
    }

    /// Entries in the table and the most allowed (`CT_GET_STATS`, `conntrack -C`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] without conntrack.
    pub fn count(&self) -> Result<Count> {
        let op = "count";
        let (mut sock, m) = self.request(msg::GET_STATS, flags::ACK, 0, 0);
        let mut out = None;
        let mut m = m;
        sock.transact::<Error>(op, &m.finish(), |reply| {
            out = Some(
                proto::decode_count(reply.payload).map_err(|e| Error::InvalidValue {
                    op,
                    reason: e.to_string(),
                })?,
            );
            Ok(())
        })
        .map_err(|e| Self::netlink_in(op, e))?;
        let (entries, max) = out.ok_or(Error::Unsupported {
            op,
            reason: "no statistics in the reply".into(),
        })?;
        Ok(Count { entries, max })
    }

    /// Per-CPU statistics (`CT_GET_STATS_CPU`, `conntrack -S`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] without conntrack.
    pub fn stats(&self) -> Result<Vec<CpuStats>> {
        let op = "stats";
        let (mut sock, mut m) = self.request(msg::GET_STATS_CPU, flags::DUMP, 0, 0);
        let mut out = Vec::new();
        sock.transact::<Error>(op, &m.finish(), |reply| {
            out.push(
                proto::decode_cpu_stats(reply.payload).map_err(|e| Error::InvalidValue {
                    op,
                    reason: e.to_string(),
                })?,
            );
            Ok(())
        })
        .map_err(|e| Self::netlink_in(op, e))?;
        Ok(out)
    }

    /// Creates an entry (`CT_NEW` with `NLM_F_CREATE | NLM_F_EXCL`, `conntrack -I`). No
    /// ruleset is needed.
    ///
    /// # Errors
    ///
    /// [`Error::Exists`]; [`Error::InvalidValue`] without a timeout or when the kernel
    /// refuses the entry.
    pub fn create(&self, entry: &Entry) -> Result<()> {
        let op = "create";
        if entry.timeout.is_none() {
            return Err(Error::InvalidValue {
                op,
                reason: "a new entry needs a timeout".into(),
            });
        }
        let (mut sock, mut m) = self.request(
            msg::NEW,
            flags::ACK | flags::CREATE | flags::EXCL,
            entry.family.to_raw(),
            0,
        );
        proto::encode_entry(&mut m, entry);
        sock.transact::<Error>(op, &m.finish(), |_| Ok(()))
            .map_err(|e| Self::netlink_in(op, e))
    }

    /// Changes the mark or timeout of the entry with original tuple `tuple`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub fn update(&self, tuple: &Tuple, update: &Update) -> Result<()> {
        let op = "update";
        let (mut sock, mut m) = self.request(msg::NEW, flags::ACK, tuple.family().to_raw(), 0);
        proto::encode_tuple(&mut m, cta::TUPLE_ORIG, tuple);
        if let Some(mark) = update.mark {
            m.be32(cta::MARK, mark);
        }
        if let Some(t) = update.timeout {
            m.be32(cta::TIMEOUT, u32::try_from(t.as_secs()).unwrap_or(u32::MAX));
        }
        sock.transact::<Error>(op, &m.finish(), |_| Ok(()))
            .map_err(|e| Self::netlink_in(op, e))
    }

    /// Deletes the entry with original tuple `tuple`; with `id`, only if its id is that
    /// (so a new connection that reused the tuple is not deleted).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none (or the id differs).
    pub fn delete(&self, tuple: &Tuple, id: Option<u32>) -> Result<()> {
        let op = "delete";
        let (mut sock, mut m) = self.request(msg::DELETE, flags::ACK, tuple.family().to_raw(), 0);
        proto::encode_tuple(&mut m, cta::TUPLE_ORIG, tuple);
        if let Some(z) = tuple.zone {
            m.be16(cta::ZONE, z);
        }
        if let Some(id) = id {
            m.be32(cta::ID, id);
        }
        sock.transact::<Error>(op, &m.finish(), |_| Ok(()))
            .map_err(|e| Self::netlink_in(op, e))
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
        let (mut sock, mut m) = self.request(msg::DELETE, flags::ACK, family, 1);
        if filter.has_tuple() {
            return Err(Error::Unsupported {
                op,
                reason: "the kernel flushes by family, mark, status and zone, not by tuple; dump and delete instead".into(),
            });
        }
        if let Some(reason) = Self::kernel_gap(filter) {
            return Err(Error::Unsupported { op, reason });
        }
        self.encode_filter(&mut m, filter, op)?;
        sock.transact::<Error>(op, &m.finish(), |_| Ok(()))
            .map_err(|e| Self::netlink_in(op, e))
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

/// A streaming dump: entries are decoded as datagrams arrive. Holds the handle's socket
/// until dropped.
#[derive(Debug)]
pub struct Dump<'a> {
    sock: MutexGuard<'a, Socket>,
    seq: u32,
    userspace: Option<Filter>,
    done: bool,
}

impl Iterator for Dump<'_> {
    type Item = Result<Entry>;
    fn next(&mut self) -> Option<Self::Item> {
        const OP: &str = "dump";
        while !self.done {
            let item = self.sock.dump_next::<Entry, Error>(OP, self.seq, |m| {
                proto::decode_entry(m.payload).map_err(|e| Error::InvalidValue {
                    op: OP,
                    reason: e.to_string(),
                })
            });
            match item {
                None => self.done = true,
                Some(Ok(e)) => {
                    if self.userspace.as_ref().is_none_or(|f| f.matches(&e)) {
                        return Some(Ok(e));
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(Conntrack::netlink_in(OP, e)));
                }
            }
        }
        None
    }
}

impl Drop for Dump<'_> {
    /// Reads what is left of an abandoned dump, so the socket can start the next request
    /// (the kernel refuses a new dump while one is in progress on the socket).
    fn drop(&mut self) {
        while !self.done {
            if !matches!(
                self.sock
                    .dump_next::<(), Error>("dump", self.seq, |_| Ok(())),
                Some(Ok(()))
            ) {
                self.done = true;
            }
        }
    }
}

impl From<nettune_netlink::Error> for Error {
    fn from(e: nettune_netlink::Error) -> Self {
        Self::Netlink {
            op: "netlink",
            source: e,
        }
    }
}

//! Signals: the kernel's drop, overflow and pressure counters of one namespace, read at
//! one instant ([`Sample`]) and turned into deltas per second between two readings
//! ([`Rates`]). A total since boot says that something happened once; only a rate says
//! that it is happening now, so the [`diagnosis`](crate::diagnosis) rules fire on rates.
//!
//! Sources, all read through the namespace ([`NetNs::read_file`], `/proc/thread-self/net`):
//!
//! | names | file | scope |
//! |---|---|---|
//! | `TcpExt.*`, `IpExt.*`, `MPTcpExt.*` | `netstat` (proc(5)) | namespace |
//! | `Ip.*`, `Tcp.*`, `Udp.*`, `Icmp.*` | `snmp` | namespace |
//! | `Ip6.*`, `Udp6.*`, `Icmp6.*` | `snmp6` | namespace |
//! | `softnet.processed`, `.dropped`, `.time_squeezed`, `.received_rps`, `.flow_limit_count` | `softnet_stat`, summed over CPUs | host |
//! | `sockstat.TCP.inuse`, `.tw`, `.mem` (pages) ... (gauges) | `sockstat` | namespace (`mem`: host) |
//! | `conntrack.drop`, `.early_drop`, `.insert_failed`, ... | ctnetlink `CT_GET_STATS_CPU`, else `stat/nf_conntrack` | namespace |
//! | `conntrack.entries`, `conntrack.max` (gauges) | ctnetlink `CT_GET_STATS`, else the sysctls | namespace |
//! | `nic.IFACE.rx_drop`, `.rx_fifo`, `.rx_errs`, `.tx_drop`, ... | `dev` (`rx_drop` includes `rx_missed_errors`) | namespace |
//! | `neigh.arp.table_fulls`, `neigh.ndisc.table_fulls`, `.forced_gc_runs` | `stat/arp_cache`, `stat/ndisc_cache` | host (one table) |
//! | `tcp.established`, `tcp.srtt_us_mean`, `tcp.srtt_us_max` (gauges, [`Sampler::with_tcp_rtt`]) | sock_diag `INET_DIAG_INFO` | namespace |
//!
//! Reading needs no privilege, except conntrack over netlink (`CAP_NET_ADMIN`; the procfs
//! file is the fallback, and it is absent on kernels built without
//! `NF_CONNTRACK_PROCFS`). What could not be read is listed in [`Sample::unread`], source
//! by source: a sample is never refused because one file is missing.
//!
//! ```no_run
//! use std::time::Duration;
//! use nettune::signals::{Rates, Sampler};
//! let target = nettune::Target::current()?;
//! let mut sampler = Sampler::new(&target);
//! let before = sampler.sample();
//! std::thread::sleep(Duration::from_secs(10));
//! let rates = Rates::between(&before, &sampler.sample());
//! if let Some(r) = rates.get("TcpExt.ListenOverflows") {
//!     println!("{} accept-queue overflows in {:?} ({:.1}/s)", r.delta, rates.interval(), r.per_second);
//! }
//! # Ok::<(), nettune::Error>(())
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nettune_conntrack::{Conntrack, CpuStats};
use nettune_core::error::report;
use nettune_core::files::Tree;
use nettune_core::{ErrorKind, NetNs};
use nettune_sysctl::Key;
use serde::Serialize;

use crate::Target;

/// Where a group of signals comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `/proc/net/netstat`: `TcpExt`, `IpExt`, `MPTcpExt`.
    Netstat,
    /// `/proc/net/snmp`: `Ip`, `Icmp`, `Tcp`, `Udp`, `UdpLite`.
    Snmp,
    /// `/proc/net/snmp6`.
    Snmp6,
    /// `/proc/net/softnet_stat` (host-wide: every namespace sees the same).
    Softnet,
    /// `/proc/net/sockstat` (gauges).
    Sockstat,
    /// Conntrack statistics (ctnetlink, or `/proc/net/stat/nf_conntrack`).
    Conntrack,
    /// `/proc/net/dev`: per-interface packet, error and drop counters.
    NetDev,
    /// `/proc/net/stat/arp_cache` and `ndisc_cache` (the neighbour tables are host-wide).
    Neighbour,
    /// The established TCP sockets' `tcp_info` over sock_diag (only with
    /// [`Sampler::with_tcp_rtt`]; not in [`Source::ALL`]).
    TcpInfo,
}

impl Source {
    /// Every source, in the order a sample reads them.
    pub const ALL: [Self; 8] = [
        Self::Netstat,
        Self::Snmp,
        Self::Snmp6,
        Self::Softnet,
        Self::Sockstat,
        Self::Conntrack,
        Self::NetDev,
        Self::Neighbour,
    ];

    /// The stable name used in JSON and metrics (`netstat`, `softnet`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Netstat => "netstat",
            Self::Snmp => "snmp",
            Self::Snmp6 => "snmp6",
            Self::Softnet => "softnet",
            Self::Sockstat => "sockstat",
            Self::Conntrack => "conntrack",
            Self::NetDev => "netdev",
            Self::Neighbour => "neighbour",
            Self::TcpInfo => "tcp_info",
        }
    }
}

/// The counters and gauges of one namespace at one instant ([`Sampler::sample`]).
#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, u64>,
    unread: Vec<Unread>,
    conntrack_over_netlink: bool,
}

/// A source, or part of one, that a [`Sample`] could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unread {
    /// The source.
    pub source: Source,
    /// Why (the file or call, and the error).
    pub reason: String,
    /// Whether it does not exist here (a file this kernel or namespace does not have, such
    /// as the neighbour statistics outside the initial namespace), rather than refused.
    pub absent: bool,
}

impl Sample {
    /// An empty sample taken now; [`Sample::insert_counter`] fills it (for tests and for
    /// callers with their own readings).
    pub fn empty() -> Self {
        Self {
            at: Instant::now(),
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
            unread: Vec::new(),
            conntrack_over_netlink: false,
        }
    }

    /// Sets counter `name` to `value`.
    pub fn insert_counter(&mut self, name: impl Into<String>, value: u64) {
        self.counters.insert(name.into(), value);
    }

    /// Sets gauge `name` to `value`.
    pub fn insert_gauge(&mut self, name: impl Into<String>, value: u64) {
        self.gauges.insert(name.into(), value);
    }

    /// Moves the sample's instant `by` later (for tests that build two samples by hand).
    pub fn later_by(mut self, by: Duration) -> Self {
        self.at += by;
        self
    }

    /// When it was taken.
    pub fn taken_at(&self) -> Instant {
        self.at
    }

    /// A counter's total since boot (or since the interface or module appeared).
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters.get(name).copied()
    }

    /// A gauge's value now (`sockstat.TCP.inuse`, `conntrack.entries`...).
    pub fn gauge(&self, name: &str) -> Option<u64> {
        self.gauges.get(name).copied()
    }

    /// Every counter, by name.
    pub fn counters(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counters.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The counters `pattern` names: a signal name, or one with `*` standing for one
    /// dot-free component (`nic.*.rx_drop`), in name order.
    pub fn matching(&self, pattern: &str) -> Vec<(&str, u64)> {
        matching(&self.counters, pattern)
    }

    /// Every gauge, by name.
    pub fn gauges(&self) -> impl Iterator<Item = (&str, u64)> {
        self.gauges.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The sources that could not be read, each with the reason.
    pub fn unread(&self) -> &[Unread] {
        &self.unread
    }

    /// Whether the conntrack statistics came over ctnetlink (else from procfs, or not at all).
    pub fn conntrack_over_netlink(&self) -> bool {
        self.conntrack_over_netlink
    }

    fn lost(&mut self, source: Source, (reason, absent): (String, bool)) {
        self.unread.push(Unread {
            source,
            reason,
            absent,
        });
    }
}

/// Takes [`Sample`]s of one namespace, keeping its file and netlink handles open between
/// samples (an exporter samples on every scrape).
#[derive(Debug)]
pub struct Sampler {
    netns: NetNs,
    sysctl: nettune_sysctl::Sysctl,
    conntrack: Option<Result<Conntrack, (String, bool)>>,
    tcp: Option<Option<Result<crate::tcpdiag::TcpDiag, String>>>,
    buf: Vec<u8>,
}

impl Sampler {
    /// A sampler of `target`'s namespace. Nothing is read until [`Sampler::sample`].
    pub fn new(target: &Target) -> Self {
        Self {
            netns: target.netns().clone(),
            sysctl: target.sysctl().clone(),
            conntrack: None,
            tcp: None,
            buf: Vec::new(),
        }
    }

    /// Also reads the established TCP sockets' round-trip times over sock_diag on each
    /// sample: gauges `tcp.established`, `tcp.srtt_us_mean` and `tcp.srtt_us_max`. Off by
    /// default: the dump costs time in proportion to the sockets.
    #[must_use]
    pub fn with_tcp_rtt(mut self) -> Self {
        self.tcp = Some(None);
        self
    }

    /// Reads every source once. Never fails: what could not be read is in
    /// [`Sample::unread`].
    pub fn sample(&mut self) -> Sample {
        let mut s = Sample::empty();
        for source in Source::ALL {
            self.read_source(source, &mut s);
        }
        if self.tcp.is_some() {
            self.read_source(Source::TcpInfo, &mut s);
        }
        s.at = Instant::now();
        s
    }

    /// A file's text, or why not and whether it is absent.
    fn read(&mut self, rel: &str) -> Result<String, (String, bool)> {
        match self.netns.read_file(Tree::ProcNet, rel, &mut self.buf) {
            Ok(Ok(_)) => Ok(String::from_utf8_lossy(&self.buf).into_owned()),
            Ok(Err(e)) => Err((
                format!("/proc/net/{rel}: {e}"),
                e.kind() == std::io::ErrorKind::NotFound,
            )),
            Err(e) => Err((report(&e), false)),
        }
    }

    fn read_source(&mut self, source: Source, s: &mut Sample) {
        let text = match source {
            Source::Netstat => self.read("netstat"),
            Source::Snmp => self.read("snmp"),
            Source::Snmp6 => self.read("snmp6"),
            Source::Softnet => self.read("softnet_stat"),
            Source::Sockstat => self.read("sockstat"),
            Source::NetDev => self.read("dev"),
            Source::Conntrack => {
                self.read_conntrack(s);
                return;
            }
            Source::TcpInfo => {
                let netns = self.netns.clone();
                let diag = self
                    .tcp
                    .get_or_insert(None)
                    .get_or_insert_with(|| crate::tcpdiag::TcpDiag::open_in(&netns));
                match diag.as_ref().map_err(Clone::clone).and_then(|d| d.rtt()) {
                    Ok(r) => {
                        s.insert_gauge("tcp.established", r.sockets);
                        s.insert_gauge("tcp.srtt_us_mean", r.mean_us);
                        s.insert_gauge("tcp.srtt_us_max", r.max_us);
                    }
                    Err(e) => s.lost(source, (e, false)),
                }
                return;
            }
            Source::Neighbour => {
                for (table, file) in [("arp", "stat/arp_cache"), ("ndisc", "stat/ndisc_cache")] {
                    match self.read(file) {
                        Ok(t) => {
                            for (name, v) in per_cpu_table(&t) {
                                if name != "entries" {
                                    s.insert_counter(format!("neigh.{table}.{name}"), v);
                                }
                            }
                        }
                        Err(e) => s.lost(source, e),
                    }
                }
                return;
            }
        };
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                s.lost(source, e);
                return;
            }
        };
        match source {
            Source::Netstat | Source::Snmp => {
                for (name, v) in header_value_pairs(&text) {
                    s.insert_counter(name, v);
                }
            }
            Source::Snmp6 => {
                for (name, v) in snmp6(&text) {
                    s.insert_counter(name, v);
                }
            }
            Source::Softnet => {
                for (name, v) in softnet(&text) {
                    s.insert_counter(name, v);
                }
            }
            Source::Sockstat => {
                for (name, v) in sockstat(&text) {
                    s.insert_gauge(name, v);
                }
            }
            Source::NetDev => {
                for (name, v) in netdev(&text) {
                    s.insert_counter(name, v);
                }
            }
            Source::Conntrack | Source::Neighbour | Source::TcpInfo => {}
        }
    }

    fn read_conntrack(&mut self, s: &mut Sample) {
        fn why(e: &nettune_conntrack::Error) -> (String, bool) {
            (report(e), e.kind() == ErrorKind::Unsupported)
        }
        let netns = self.netns.clone();
        let ct = self
            .conntrack
            .get_or_insert_with(|| Conntrack::open_in(&netns).map_err(|e| why(&e)));
        let netlink = match ct {
            Ok(ct) => ct
                .stats()
                .map_err(|e| why(&e))
                .and_then(|st| Ok((st, ct.count().map_err(|e| why(&e))?))),
            Err(e) => Err(e.clone()),
        };
        let (netlink, netlink_absent) = match netlink {
            Ok((per_cpu, count)) => {
                s.conntrack_over_netlink = true;
                for (name, f) in CONNTRACK_STATS {
                    s.insert_counter(
                        format!("conntrack.{name}"),
                        per_cpu.iter().map(|c| u64::from(f(c))).sum(),
                    );
                }
                s.insert_gauge("conntrack.entries", u64::from(count.entries));
                s.insert_gauge("conntrack.max", u64::from(count.max));
                return;
            }
            Err(e) => e,
        };
        // Without CAP_NET_ADMIN ctnetlink refuses: the procfs file (when the kernel has
        // it) and the world-readable sysctls.
        match self.read("stat/nf_conntrack") {
            Ok(t) => {
                for (name, v) in per_cpu_table(&t) {
                    let name = match name.as_str() {
                        "icmp_error" => "error",
                        "clashres" => "clash_resolve",
                        "chainlength" => "chaintoolong",
                        n => n,
                    };
                    if CONNTRACK_STATS.iter().any(|(n, _)| *n == name) {
                        s.insert_counter(format!("conntrack.{name}"), v);
                    }
                }
            }
            Err((procfs, absent)) => s.lost(
                Source::Conntrack,
                (format!("{netlink}; {procfs}"), absent && netlink_absent),
            ),
        }
        for (gauge, key) in [
            ("conntrack.entries", "net.netfilter.nf_conntrack_count"),
            ("conntrack.max", "net.netfilter.nf_conntrack_max"),
        ] {
            let v = Key::new(key)
                .map_err(|e| (report(&e), false))
                .and_then(|k| {
                    self.sysctl
                        .read_raw(&k)
                        .map_err(|e| (report(&e), e.kind() == ErrorKind::Unsupported))
                });
            match v.map(|v| v.trim().parse::<u64>()) {
                Ok(Ok(v)) => s.insert_gauge(gauge, v),
                Ok(Err(_)) => s.lost(Source::Conntrack, (format!("{key} is not a number"), false)),
                Err(e) => s.lost(Source::Conntrack, e),
            }
        }
    }
}

/// Reads one statistic of one CPU.
type Stat = fn(&CpuStats) -> u32;

const CONNTRACK_STATS: [(&str, Stat); 10] = [
    ("found", |c| c.found),
    ("invalid", |c| c.invalid),
    ("insert_failed", |c| c.insert_failed),
    ("drop", |c| c.drop),
    ("early_drop", |c| c.early_drop),
    ("error", |c| c.error),
    ("search_restart", |c| c.search_restart),
    ("clash_resolve", |c| c.clash_resolve),
    ("chaintoolong", |c| c.chaintoolong),
    ("insert", |c| c.insert),
];

/// One counter's change between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// The total at the second sample.
    pub total: u64,
    /// How much it grew between the samples.
    pub delta: u64,
    /// `delta` divided by the interval.
    pub per_second: f64,
}

/// Deltas per second between two [`Sample`]s of the same namespace.
#[derive(Debug, Clone)]
pub struct Rates {
    interval: Duration,
    rates: BTreeMap<String, Rate>,
    after: Sample,
}

impl Rates {
    /// The change of every counter present in both samples. A counter that went down
    /// (an interface re-created, a 32-bit per-CPU counter that wrapped) has no rate: it is
    /// left out rather than reported as a huge or negative one.
    pub fn between(before: &Sample, after: &Sample) -> Self {
        let interval = after.at.saturating_duration_since(before.at);
        let secs = interval.as_secs_f64().max(1e-9);
        let rates = after
            .counters
            .iter()
            .filter_map(|(name, &total)| {
                let old = *before.counters.get(name)?;
                let delta = total.checked_sub(old)?;
                Some((
                    name.clone(),
                    Rate {
                        total,
                        delta,
                        per_second: delta as f64 / secs,
                    },
                ))
            })
            .collect();
        Self {
            interval,
            rates,
            after: after.clone(),
        }
    }

    /// The time between the two samples.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Counter `name`'s change, when both samples had it.
    pub fn get(&self, name: &str) -> Option<Rate> {
        self.rates.get(name).copied()
    }

    /// Every counter's change.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Rate)> {
        self.rates.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The changes of the counters `pattern` names (as [`Sample::matching`]).
    pub fn matching(&self, pattern: &str) -> Vec<(&str, Rate)> {
        matching(&self.rates, pattern)
    }

    /// The later of the two samples (its gauges are the current values).
    pub fn latest(&self) -> &Sample {
        &self.after
    }
}

/// Whether signal `name` matches `pattern` (`*` matches one dot-free component).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len()
                && name.starts_with(head)
                && name.ends_with(tail)
                && !name[head.len()..name.len() - tail.len()].contains('.')
        }
    }
}

/// The entries of `map` whose names `pattern` matches: one lookup for a plain name, a
/// range of the names that start with what comes before the `*` otherwise.
fn matching<'m, V: Copy>(map: &'m BTreeMap<String, V>, pattern: &str) -> Vec<(&'m str, V)> {
    match pattern.split_once('*') {
        None => map
            .get_key_value(pattern)
            .map(|(k, v)| (k.as_str(), *v))
            .into_iter()
            .collect(),
        Some((head, _)) => map
            .range::<str, _>((std::ops::Bound::Included(head), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(head))
            .filter(|(k, _)| matches(pattern, k))
            .map(|(k, v)| (k.as_str(), *v))
            .collect(),
    }
}

/// `Group: A B C` / `Group: 1 2 3` line pairs (`netstat`, `snmp`) as `Group.A` → 1, ...
pub(crate) fn header_value_pairs(text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let (Some(head), Some(values)) = (lines.next(), lines.next()) {
        let (Some((group, names)), Some((group2, values))) =
            (head.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if group != group2 {
            continue;
        }
        for (name, v) in names.split_whitespace().zip(values.split_whitespace()) {
            // Tcp MaxConn is -1: a limit, not a counter.
            if let Ok(v) = v.parse::<u64>() {
                out.push((format!("{group}.{name}"), v));
            }
        }
    }
    out
}

/// `Ip6InReceives 12` lines as `Ip6.InReceives` → 12.
fn snmp6(text: &str) -> Vec<(String, u64)> {
    const GROUPS: [&str; 4] = ["UdpLite6", "Icmp6", "Udp6", "Ip6"];
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, v) = (f.next()?, f.next()?.parse().ok()?);
            let group = GROUPS.iter().find(|g| name.starts_with(*g))?;
            Some((format!("{group}.{}", &name[group.len()..]), v))
        })
        .collect()
}

/// The per-CPU lines of `softnet_stat` (hex), summed.
fn softnet(text: &str) -> Vec<(String, u64)> {
    const COLUMNS: [(usize, &str); 5] = [
        (0, "processed"),
        (1, "dropped"),
        (2, "time_squeezed"),
        (9, "received_rps"),
        (10, "flow_limit_count"),
    ];
    let mut sums = [0u64; COLUMNS.len()];
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        for (sum, (col, _)) in sums.iter_mut().zip(COLUMNS) {
            if let Some(v) = fields
                .get(col)
                .and_then(|f| u64::from_str_radix(f, 16).ok())
            {
                *sum += v;
            }
        }
    }
    COLUMNS
        .iter()
        .zip(sums)
        .map(|((_, name), v)| (format!("softnet.{name}"), v))
        .collect()
}

/// `TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1` as `sockstat.TCP.inuse` → 5, ...
fn sockstat(text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((group, rest)) = line.split_once(':') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        for pair in f.chunks_exact(2) {
            if let Ok(v) = pair[1].parse() {
                out.push((format!("sockstat.{group}.{}", pair[0]), v));
            }
        }
    }
    out
}

/// `/proc/net/dev`: `nic.IFACE.rx_bytes` ... `nic.IFACE.tx_compressed`.
fn netdev(text: &str) -> Vec<(String, u64)> {
    const COLUMNS: [&str; 16] = [
        "rx_bytes",
        "rx_packets",
        "rx_errs",
        "rx_drop",
        "rx_fifo",
        "rx_frame",
        "rx_compressed",
        "rx_multicast",
        "tx_bytes",
        "tx_packets",
        "tx_errs",
        "tx_drop",
        "tx_fifo",
        "tx_colls",
        "tx_carrier",
        "tx_compressed",
    ];
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((iface, rest)) = line.split_once(':') else {
            continue;
        };
        let iface = iface.trim();
        for (name, v) in COLUMNS.iter().zip(rest.split_whitespace()) {
            if let Ok(v) = v.parse() {
                out.push((format!("nic.{iface}.{name}"), v));
            }
        }
    }
    out
}

/// A `/proc/net/stat/*` table: a header of names, then one line of hex numbers per CPU;
/// each column summed over the CPUs.
fn per_cpu_table(text: &str) -> Vec<(String, u64)> {
    let mut lines = text.lines();
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = head.split_whitespace().collect();
    let mut sums = vec![0u64; names.len()];
    for line in lines {
        let values: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| u64::from_str_radix(f, 16).ok())
            .collect();
        if values.len() == names.len() {
            for (sum, v) in sums.iter_mut().zip(values) {
                *sum += v;
            }
        }
    }
    names
        .into_iter()
        .zip(sums)
        .map(|(n, v)| (n.to_owned(), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_pairs_are_named_by_group() {
        let text = "TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 3 17\n\
                    IpExt: InNoRoutes\nIpExt: 9\nTcp: RtoMin MaxConn\nTcp: 200 -1\n";
        let v: BTreeMap<_, _> = header_value_pairs(text).into_iter().collect();
        assert_eq!(v["TcpExt.ListenOverflows"], 17);
        assert_eq!(v["TcpExt.SyncookiesSent"], 3);
        assert_eq!(v["IpExt.InNoRoutes"], 9);
        assert_eq!(v["Tcp.RtoMin"], 200);
        assert!(!v.contains_key("Tcp.MaxConn"));
        assert!(header_value_pairs("TcpExt: A\n").is_empty());
    }

    #[test]
    fn snmp6_softnet_sockstat_and_dev_parse() {
        let v: BTreeMap<_, _> =
            snmp6("Ip6ReasmFails   4\nUdp6RcvbufErrors 2\nUdpLite6InErrors 1\n")
                .into_iter()
                .collect();
        assert_eq!(v["Ip6.ReasmFails"], 4);
        assert_eq!(v["Udp6.RcvbufErrors"], 2);
        assert_eq!(v["UdpLite6.InErrors"], 1);

        let v: BTreeMap<_, _> = softnet(
            "0000000c 00000002 00000010 0 0 0 0 0 0 00000001 0 0 00000000\n\
             000003ee 00000001 00000001 0 0 0 0 0 0 00000000 0 0 00000001\n",
        )
        .into_iter()
        .collect();
        assert_eq!(v["softnet.processed"], 0xc + 0x3ee);
        assert_eq!(v["softnet.dropped"], 3);
        assert_eq!(v["softnet.time_squeezed"], 0x11);
        assert_eq!(v["softnet.received_rps"], 1);

        let v: BTreeMap<_, _> = sockstat(
            "sockets: used 8\nTCP: inuse 1 orphan 0 tw 3 alloc 1 mem 7\nFRAG: inuse 0 memory 0\n",
        )
        .into_iter()
        .collect();
        assert_eq!(v["sockstat.TCP.tw"], 3);
        assert_eq!(v["sockstat.TCP.mem"], 7);
        assert_eq!(v["sockstat.sockets.used"], 8);

        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets\n\
                   lo: 100 2 0 5 1 0 0 0 200 4 0 6 0 0 0 0\n";
        let v: BTreeMap<_, _> = netdev(dev).into_iter().collect();
        assert_eq!(v["nic.lo.rx_bytes"], 100);
        assert_eq!(v["nic.lo.rx_drop"], 5);
        assert_eq!(v["nic.lo.rx_fifo"], 1);
        assert_eq!(v["nic.lo.tx_drop"], 6);
    }

    #[test]
    fn per_cpu_tables_sum_hex_columns() {
        let t = "entries drop table_fulls\n00000002 00000001 0000000a\n00000002 00000003 00000001\nshort\n";
        let v: BTreeMap<_, _> = per_cpu_table(t).into_iter().collect();
        assert_eq!(v["drop"], 4);
        assert_eq!(v["table_fulls"], 11);
        assert!(per_cpu_table("").is_empty());
    }

    #[test]
    fn rates_skip_counters_that_went_down() {
        let mut a = Sample::empty();
        a.insert_counter("x", 10);
        a.insert_counter("y", 10);
        a.insert_counter("gone", 1);
        let mut b = a.clone().later_by(Duration::from_secs(2));
        b.insert_counter("x", 30);
        b.insert_counter("y", 5);
        b.insert_counter("new", 1);
        let r = Rates::between(&a, &b);
        assert_eq!(r.interval(), Duration::from_secs(2));
        let x = r.get("x").expect("x");
        assert_eq!((x.total, x.delta), (30, 20));
        assert!((x.per_second - 10.0).abs() < 1e-9);
        assert!(r.get("y").is_none());
        assert!(r.get("new").is_none());
        assert_eq!(r.get("gone").map(|g| g.delta), Some(0));
    }
}

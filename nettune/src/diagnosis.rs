//! Diagnosis: from counters to causes. Each [`Rule`] of [`RULES`] has a stable id, the
//! [signals](crate::signals) it reads, the knobs it implicates, a precondition on the live
//! configuration, and the change it proposes — as a [`Profile`] fragment that
//! `nettune apply` (or [`Profile::plan`]) accepts, so advice is one reviewed step from
//! being applied. Rules on counters fire only on a *rate* (a counter that grew between two
//! samples); rules on the configuration alone (two knobs that contradict each other) fire
//! on what is live.
//!
//! The kernel facts behind each rule are in its `cause` and in the comments beside it;
//! `net/ipv4/tcp_input.c` (`tcp_conn_request`), `net/core/dev.c` (`enqueue_to_backlog`,
//! `net_rx_action`) and Documentation/networking/ip-sysctl.rst are the sources.
//!
//! ```no_run
//! use std::time::Duration;
//! use nettune::diagnosis;
//! use nettune::signals::{Rates, Sampler};
//! let target = nettune::Target::current()?;
//! let mut sampler = Sampler::new(&target);
//! let before = sampler.sample();
//! std::thread::sleep(Duration::from_secs(10));
//! let rates = Rates::between(&before, &sampler.sample());
//! for d in diagnosis::diagnose(&target, Some(&rates), rates.latest()) {
//!     println!("{}: {}", d.rule, d.cause);
//!     if let Some(fix) = &d.advice {
//!         println!("{}", fix.to_toml());
//!     }
//! }
//! # Ok::<(), nettune::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use nettune_nic::{IfName, Nic};
use nettune_sysctl::Key;
use nettune_sysctl::knobs::canonical;
use serde::{Serialize, Serializer};

use crate::Target;
use crate::profile::{NicProfile, Profile, SysctlRule, Want};
use crate::signals::{Rates, Sample, matches};

/// One rule: a signature in the counters, its cause, and the knob that addresses it.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id (`tcp-listen-overflow`): in JSON, metrics and the advice's name.
    pub id: &'static str,
    /// The counters it reads ([`signals`](crate::signals) names; `*` stands for an
    /// interface name). Empty for a rule on the configuration alone.
    pub signals: &'static [&'static str],
    /// The knobs it implicates (sysctl keys, or `nic IFACE rings|coalesce`).
    pub knobs: &'static [&'static str],
    /// What the signature means.
    pub cause: &'static str,
    check: fn(&'static Self, &Input<'_>, Vec<Evidence>) -> Option<Diagnosis>,
}

/// One counter's part in a diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The signal (`TcpExt.ListenOverflows`, `nic.eth0.rx_drop`).
    pub signal: String,
    /// Its growth over the interval.
    pub delta: u64,
    /// The growth per second.
    pub per_second: f64,
    /// Its total since boot.
    pub total: u64,
}

/// A rule that fired: the cause, the evidence, the live values, and the advice.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The rule's id.
    pub rule: &'static str,
    /// What is happening, with the numbers.
    pub cause: String,
    /// The counters that grew (empty for a rule on the configuration alone).
    pub evidence: Vec<Evidence>,
    /// The live values of the knobs the rule read.
    pub live: BTreeMap<String, String>,
    /// The change proposed: a profile fragment `nettune apply` accepts (serialised as its
    /// TOML text). `None` when nothing in this namespace can be changed to fix it.
    #[serde(serialize_with = "as_toml")]
    pub advice: Option<Profile>,
    /// What the advice cannot do, or why there is none (a knob that is host-wide or
    /// read-only here, an application setting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
}

fn as_toml<S: Serializer>(p: &Option<Profile>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.to_toml()),
        None => s.serialize_none(),
    }
}

impl Diagnosis {
    /// The knobs the advice changes (sysctl keys, `nic IFACE rings rx`...).
    pub fn advised_knobs(&self) -> Vec<String> {
        let Some(p) = &self.advice else {
            return Vec::new();
        };
        let mut out: Vec<String> = p.sysctls().iter().map(|r| r.key.to_string()).collect();
        for (iface, n) in p.nics() {
            out.extend(n.rings.keys().map(|f| format!("nic {iface} rings {f}")));
            out.extend(
                n.coalesce
                    .keys()
                    .map(|f| format!("nic {iface} coalesce {f}")),
            );
        }
        out
    }
}

/// What a rule sees: the rates (or none: totals since boot only), the latest sample, and
/// the live configuration, read on demand and once.
struct Input<'a> {
    target: &'a Target,
    rates: Option<&'a Rates>,
    sample: &'a Sample,
    sysctls: RefCell<BTreeMap<&'static str, Option<String>>>,
}

impl Input<'_> {
    /// A sysctl's live value (whitespace runs flattened), `None` when unreadable or absent.
    fn sysctl(&self, key: &'static str) -> Option<String> {
        if let Some(v) = self.sysctls.borrow().get(key) {
            return v.clone();
        }
        let v = Key::new(key)
            .ok()
            .and_then(|k| self.target.sysctl().read_raw(&k).ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
        self.sysctls.borrow_mut().insert(key, v.clone());
        v
    }

    fn num(&self, key: &'static str) -> Option<u64> {
        self.sysctl(key)?.parse().ok()
    }

    fn nums(&self, key: &'static str) -> Option<Vec<u64>> {
        self.sysctl(key)?
            .split(' ')
            .map(|f| f.parse().ok())
            .collect()
    }

    /// The live values of the keys a rule read, for its report.
    fn live(&self, keys: &[&'static str]) -> BTreeMap<String, String> {
        keys.iter()
            .filter_map(|k| Some(((*k).to_owned(), self.sysctl(k)?)))
            .collect()
    }

    /// Why `key` cannot be set to `value` here, if it cannot.
    fn refusal(&self, key: &str, value: &str) -> Option<String> {
        let k = Key::new(key).ok()?;
        self.target.sysctl().refusal(&k, value)
    }
}

/// A value to propose for a limit that overflowed: at least double, and at least what
/// the overflow suggests was needed (`current + overflow`, rounded up to a power of 2);
/// never above `i32::MAX`, the most these `int` sysctls hold.
fn grow(current: u64, overflow: u64) -> u64 {
    let need = current
        .saturating_add(overflow)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX);
    current
        .saturating_mul(2)
        .max(need)
        .clamp(1, i32::MAX as u64)
}

/// A fragment named after the rule, with floors for `keys` (values canonicalised).
/// Keys the kernel would refuse here are left out and named in the returned caveat.
fn fragment(
    input: &Input<'_>,
    rule: &'static str,
    floors: &[(&'static str, String)],
    why: &str,
) -> (Option<Profile>, Option<String>) {
    let mut p = Profile::new(&format!("advice-{rule}"));
    let mut refused = Vec::new();
    for (key, value) in floors {
        if input.sysctl(key).is_none() {
            refused.push(format!(
                "{key} cannot be read in this namespace (a host-wide key is absent from a child namespace: set it in the initial one)"
            ));
            continue;
        }
        let Ok(k) = Key::new(key) else { continue };
        let Ok(v) = canonical(&k, value) else {
            continue;
        };
        if let Some(why) = input.refusal(key, &v) {
            refused.push(format!("{key}: {why}"));
            continue;
        }
        p.push_sysctl(SysctlRule {
            key: k,
            want: Want::AtLeast(v),
            why: why.to_owned(),
            optional: false,
        });
    }
    let caveat = (!refused.is_empty()).then(|| refused.join("; "));
    ((!p.is_empty()).then_some(p), caveat)
}

fn join_caveats(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

fn delta_of(ev: &[Evidence], signal: &str) -> u64 {
    ev.iter()
        .filter(|e| e.signal == signal)
        .map(|e| e.delta)
        .sum()
}

fn total_delta(ev: &[Evidence]) -> u64 {
    ev.iter().map(|e| e.delta).sum()
}

/// A diagnosis of `rule` with floors on `floors`, the live `read` keys and a caveat.
fn diagnosis(
    input: &Input<'_>,
    rule: &Rule,
    cause: String,
    evidence: Vec<Evidence>,
    read: &[&'static str],
    floors: &[(&'static str, String)],
    caveat: Option<String>,
) -> Diagnosis {
    let (advice, refused) = fragment(input, rule.id, floors, rule.cause);
    Diagnosis {
        rule: rule.id,
        cause,
        evidence,
        live: input.live(read),
        advice,
        caveat: join_caveats(refused, caveat),
    }
}

/// The rules, in the order a report lists them.
pub const RULES: &[Rule] = &[
    Rule {
        id: "tcp-listen-overflow",
        signals: &["TcpExt.ListenOverflows", "TcpExt.ListenDrops"],
        knobs: &["net.core.somaxconn"],
        cause: "a listener's accept queue is full: connections are dropped until the application accepts; \
                the queue holds min(backlog passed to listen(2), net.core.somaxconn)",
        check: |r, input, ev| {
            let overflow = delta_of(&ev, "TcpExt.ListenOverflows");
            if overflow == 0 {
                return None;
            }
            let cur = input.num("net.core.somaxconn")?;
            Some(diagnosis(
                input,
                r,
                format!(
                    "{overflow} connections overflowed an accept queue (net.core.somaxconn {cur})"
                ),
                ev,
                &["net.core.somaxconn"],
                &[("net.core.somaxconn", grow(cur, overflow).to_string())],
                Some(
                    "the application's listen(2) backlog caps the queue too: it must ask for at least as much, and listen again"
                        .into(),
                ),
            ))
        },
    },
    Rule {
        id: "tcp-syn-queue-cookies",
        signals: &["TcpExt.TCPReqQFullDoCookies", "TcpExt.SyncookiesSent"],
        knobs: &["net.core.somaxconn", "net.ipv4.tcp_syncookies"],
        cause: "a listener's SYN queue is full and SYNs are answered with cookies (a cookie carries no \
                window scale or SACK without timestamps); with syncookies on, the SYN queue's limit is \
                the listen backlog, not tcp_max_syn_backlog",
        check: |r, input, ev| {
            let full = delta_of(&ev, "TcpExt.TCPReqQFullDoCookies");
            if full == 0 {
                return None;
            }
            let cur = input.num("net.core.somaxconn")?;
            Some(diagnosis(
                input,
                r,
                format!(
                    "{full} SYNs found the SYN queue full and got a cookie (net.core.somaxconn {cur}); a flood looks the same"
                ),
                ev,
                &["net.core.somaxconn", "net.ipv4.tcp_syncookies"],
                &[("net.core.somaxconn", grow(cur, full).to_string())],
                Some("the application's listen(2) backlog caps the SYN queue too".into()),
            ))
        },
    },
    Rule {
        id: "tcp-syn-queue-drop",
        signals: &[
            "TcpExt.TCPReqQFullDrop",
            "TcpExt.ListenDrops",
            "TcpExt.ListenOverflows",
        ],
        knobs: &[
            "net.ipv4.tcp_syncookies",
            "net.ipv4.tcp_max_syn_backlog",
            "net.core.somaxconn",
        ],
        cause: "SYNs are dropped: with syncookies off, a full SYN queue drops them, and so does a queue \
                past three quarters of tcp_max_syn_backlog (counted only in ListenDrops)",
        check: |r, input, ev| {
            let full = delta_of(&ev, "TcpExt.TCPReqQFullDrop");
            let syncookies = input.num("net.ipv4.tcp_syncookies")?;
            let other = delta_of(&ev, "TcpExt.ListenDrops")
                .saturating_sub(delta_of(&ev, "TcpExt.ListenOverflows"));
            let dropped = if syncookies == 0 { full + other } else { full };
            if dropped == 0 {
                return None;
            }
            let backlog = input.num("net.ipv4.tcp_max_syn_backlog")?;
            let mut floors = vec![(
                "net.ipv4.tcp_max_syn_backlog",
                grow(backlog, dropped).to_string(),
            )];
            if syncookies == 0 {
                floors.push(("net.ipv4.tcp_syncookies", "1".into()));
            }
            if let Some(cur) = input.num("net.core.somaxconn") {
                floors.push(("net.core.somaxconn", grow(cur, dropped).to_string()));
            }
            Some(diagnosis(
                input,
                r,
                format!(
                    "{dropped} SYNs dropped at a listener (tcp_syncookies {syncookies}, tcp_max_syn_backlog {backlog})"
                ),
                ev,
                &[
                    "net.ipv4.tcp_syncookies",
                    "net.ipv4.tcp_max_syn_backlog",
                    "net.core.somaxconn",
                ],
                &floors,
                None,
            ))
        },
    },
    Rule {
        id: "tcp-rcvbuf-prune",
        signals: &[
            "TcpExt.PruneCalled",
            "TcpExt.RcvPruned",
            "TcpExt.TCPRcvQDrop",
            "TcpExt.TCPBacklogDrop",
        ],
        knobs: &["net.ipv4.tcp_rmem", "net.ipv4.tcp_adv_win_scale"],
        cause: "TCP receive queues outgrow their buffer: the kernel collapses them (PruneCalled), throws \
                data away (RcvPruned, TCPRcvQDrop) or drops at the socket backlog (TCPBacklogDrop, \
                limited by rcvbuf + sndbuf); the buffer grows up to tcp_rmem's third value",
        check: |r, input, ev| {
            let n = total_delta(&ev);
            if n == 0 {
                return None;
            }
            let rmem = input.nums("net.ipv4.tcp_rmem")?;
            let [min, def, max] = rmem[..] else {
                return None;
            };
            let proposed = max.saturating_mul(2).min(i32::MAX as u64);
            let budget = input
                .nums("net.ipv4.tcp_mem")
                .and_then(|m| m.get(2).copied())
                .map(|pages| pages.saturating_mul(page_size()));
            let (floors, caveat) = match budget {
                Some(b) if proposed > b / 2 => (
                    Vec::new(),
                    Some(format!(
                        "tcp_rmem max cannot double: {proposed} bytes would exceed half of tcp_mem's hard limit ({b} bytes); the application reads too slowly"
                    )),
                ),
                _ => (
                    vec![("net.ipv4.tcp_rmem", format!("{min} {def} {proposed}"))],
                    None,
                ),
            };
            Some(diagnosis(
                input,
                r,
                format!("{n} receive-queue prunes and drops (tcp_rmem max {max})"),
                ev,
                &[
                    "net.ipv4.tcp_rmem",
                    "net.ipv4.tcp_adv_win_scale",
                    "net.ipv4.tcp_mem",
                ],
                &floors,
                caveat,
            ))
        },
    },
    Rule {
        id: "tcp-memory-pressure",
        signals: &["TcpExt.TCPMemoryPressures", "TcpExt.TCPAbortOnMemory"],
        knobs: &["net.ipv4.tcp_mem"],
        cause: "TCP as a whole reached tcp_mem's pressure or hard limit (pages, host-wide): buffers are \
                shrunk and, past the hard limit, connections aborted",
        check: |r, input, ev| {
            let n = total_delta(&ev);
            if n == 0 {
                return None;
            }
            let Some(mem) = input.nums("net.ipv4.tcp_mem") else {
                return Some(diagnosis(
                    input,
                    r,
                    format!("{n} TCP memory-pressure events or aborts"),
                    ev,
                    &[],
                    &[("net.ipv4.tcp_mem", String::new())],
                    None,
                ));
            };
            let doubled: Vec<String> = mem
                .iter()
                .map(|v| v.saturating_mul(2).to_string())
                .collect();
            Some(diagnosis(
                input,
                r,
                format!(
                    "{n} TCP memory-pressure events or aborts (tcp_mem {})",
                    input.sysctl("net.ipv4.tcp_mem").unwrap_or_default()
                ),
                ev,
                &["net.ipv4.tcp_mem"],
                &[("net.ipv4.tcp_mem", doubled.join(" "))],
                Some(
                    "tcp_mem is in pages and host-wide; check free memory before raising it".into(),
                ),
            ))
        },
    },
    Rule {
        id: "tcp-tw-overflow",
        signals: &["TcpExt.TCPTimeWaitOverflow"],
        knobs: &["net.ipv4.tcp_max_tw_buckets"],
        cause: "more sockets entered TIME-WAIT than tcp_max_tw_buckets allows: they were closed at once, \
                without TIME-WAIT's protection against old duplicates",
        check: |r, input, ev| {
            let n = total_delta(&ev);
            if n == 0 {
                return None;
            }
            let cur = input.num("net.ipv4.tcp_max_tw_buckets")?;
            Some(diagnosis(
                input,
                r,
                format!("{n} TIME-WAIT sockets did not fit (tcp_max_tw_buckets {cur})"),
                ev,
                &["net.ipv4.tcp_max_tw_buckets"],
                &[("net.ipv4.tcp_max_tw_buckets", grow(cur, n).to_string())],
                None,
            ))
        },
    },
    Rule {
        id: "udp-rcvbuf",
        signals: &["Udp.RcvbufErrors", "Udp6.RcvbufErrors"],
        knobs: &["net.core.rmem_default", "net.core.rmem_max"],
        cause: "UDP datagrams were dropped because a socket's receive buffer was full: its size is \
                rmem_default, or what the application asked with SO_RCVBUF (doubled, held to rmem_max)",
        check: |r, input, ev| {
            let n = total_delta(&ev);
            if n == 0 {
                return None;
            }
            let def = input.num("net.core.rmem_default")?;
            let max = input.num("net.core.rmem_max").unwrap_or(def);
            let new_def = def.saturating_mul(4).min(i32::MAX as u64);
            Some(diagnosis(
                input,
                r,
                format!(
                    "{n} UDP datagrams dropped on a full receive buffer (rmem_default {def}, rmem_max {max})"
                ),
                ev,
                &["net.core.rmem_default", "net.core.rmem_max"],
                &[
                    ("net.core.rmem_default", new_def.to_string()),
                    ("net.core.rmem_max", new_def.max(max).to_string()),
                ],
                Some(format!(
                    "an application that sets SO_RCVBUF is held to rmem_max ({max}): it can also ask for more itself"
                )),
            ))
        },
    },
    Rule {
        id: "softnet-backlog-drop",
        signals: &["softnet.dropped"],
        knobs: &["net.core.netdev_max_backlog"],
        cause: "packets were dropped because a CPU's input backlog (RPS, veth, loopback, non-NAPI \
                drivers) was at netdev_max_backlog",
        check: |r, input, ev| {
            let n = total_delta(&ev);
            if n == 0 {
                return None;
            }
            let cur = input.num("net.core.netdev_max_backlog");
            Some(diagnosis(
                input,
                r,
                format!("{n} packets dropped at a full per-CPU backlog"),
                ev,
                &["net.core.netdev_max_backlog"],
                &[(
                    "net.core.netdev_max_backlog",
                    grow(cur.unwrap_or(1000), n).to_string(),
                )],
                Some("softnet counters and netdev_max_backlog are host-wide".into()),
            ))
        },
    },
    Rule {
        id: "softnet-time-squeeze",
        signals: &["softnet.time_squeezed"],
        knobs: &["net.core.netdev_budget", "net.core.netdev_budget_usecs"],
        cause: "receive processing ran out of budget (packets or time) with work left: latency grows \
                and, under load, backlogs and rings overflow",
        check: |r, input, ev| {
            let n = total_delta(&ev);
            if n == 0 {
                return None;
            }
            let budget = input.num("net.core.netdev_budget").unwrap_or(300);
            let usecs = input.num("net.core.netdev_budget_usecs").unwrap_or(2000);
            Some(diagnosis(
                input,
                r,
                format!(
                    "net_rx_action stopped {n} times with work left (netdev_budget {budget}, netdev_budget_usecs {usecs})"
                ),
                ev,
                &["net.core.netdev_budget", "net.core.netdev_budget_usecs"],
                &[
                    (
                        "net.core.netdev_budget",
                        budget.saturating_mul(2).to_string(),
                    ),
                    (
                        "net.core.netdev_budget_usecs",
                        usecs.saturating_mul(2).to_string(),
                    ),
                ],
                Some(
                    "host-wide; a longer budget is more latency for everything else on the CPU"
                        .into(),
                ),
            ))
        },
    },
    Rule {
        id: "conntrack-table-full",
        signals: &[
            "conntrack.drop",
            "conntrack.early_drop",
            "conntrack.insert_failed",
        ],
        knobs: &[
            "net.netfilter.nf_conntrack_max",
            "net.netfilter.nf_conntrack_buckets",
        ],
        cause: "the conntrack table is at nf_conntrack_max: entries are evicted early and new flows \
                dropped",
        check: |r, input, ev| {
            let entries = input.sample.gauge("conntrack.entries");
            let max = input
                .sample
                .gauge("conntrack.max")
                .or_else(|| input.num("net.netfilter.nf_conntrack_max"))?;
            let full = entries.is_some_and(|e| e.saturating_mul(10) >= max.saturating_mul(9));
            let dropped = delta_of(&ev, "conntrack.drop") + delta_of(&ev, "conntrack.early_drop");
            let failed = delta_of(&ev, "conntrack.insert_failed");
            if dropped == 0 && !(failed > 0 && full) {
                return None;
            }
            let new_max = grow(max, dropped + failed);
            Some(diagnosis(
                input,
                r,
                format!(
                    "{dropped} flows dropped or evicted and {failed} inserts failed with {} of {max} entries",
                    entries.map_or("?".into(), |e| e.to_string())
                ),
                ev,
                &["net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_buckets"],
                &[
                    ("net.netfilter.nf_conntrack_max", new_max.to_string()),
                    ("net.netfilter.nf_conntrack_buckets", (new_max / 2).max(1).to_string()),
                ],
                Some("or shorten the timeouts of the flows that fill it (nf_conntrack_tcp_timeout_*, NOTRACK)".into()),
            ))
        },
    },
    Rule {
        id: "nic-rx-drop",
        signals: &["nic.*.rx_drop", "nic.*.rx_fifo"],
        knobs: &["nic IFACE rings rx", "nic IFACE coalesce rx_usecs"],
        cause: "an interface dropped received packets (rx_drop counts rx_missed_errors: the RX ring \
                was full); a larger ring absorbs bursts, earlier interrupts drain it sooner",
        check: nic_rx_drop,
    },
    Rule {
        id: "ip-reassembly",
        signals: &[
            "Ip.ReasmFails",
            "Ip6.ReasmFails",
            "Ip.ReasmTimeout",
            "Ip6.ReasmTimeout",
        ],
        knobs: &[
            "net.ipv4.ipfrag_high_thresh",
            "net.ipv6.ip6frag_high_thresh",
        ],
        cause: "IP reassembly failed: fragments past ipfrag_high_thresh bytes of queued fragments are \
                dropped (a timeout is lost fragments, not memory)",
        check: |r, input, ev| {
            let v4 = delta_of(&ev, "Ip.ReasmFails");
            let v6 = delta_of(&ev, "Ip6.ReasmFails");
            if v4 + v6 == 0 {
                return None;
            }
            // At least the kernel's default (4 MiB): a threshold below one datagram's
            // fragments fails every reassembly.
            let floors = doubled(
                input,
                [
                    (v4, "net.ipv4.ipfrag_high_thresh"),
                    (v6, "net.ipv6.ip6frag_high_thresh"),
                ],
                4 << 20,
            );
            Some(diagnosis(
                input,
                r,
                format!("{} IPv4 and {} IPv6 reassemblies failed", v4, v6),
                ev,
                &[
                    "net.ipv4.ipfrag_high_thresh",
                    "net.ipv6.ip6frag_high_thresh",
                    "net.ipv4.ipfrag_time",
                ],
                &floors,
                None,
            ))
        },
    },
    Rule {
        id: "neigh-table-overflow",
        signals: &["neigh.arp.table_fulls", "neigh.ndisc.table_fulls"],
        knobs: &[
            "net.ipv4.neigh.default.gc_thresh3",
            "net.ipv6.neigh.default.gc_thresh3",
        ],
        cause: "a neighbour table reached gc_thresh3: new neighbours cannot be resolved until garbage \
                collection frees entries (\"neighbour table overflow\")",
        check: |r, input, ev| {
            let v4 = delta_of(&ev, "neigh.arp.table_fulls");
            let v6 = delta_of(&ev, "neigh.ndisc.table_fulls");
            if v4 + v6 == 0 {
                return None;
            }
            let floors = doubled(
                input,
                [
                    (v4, "net.ipv4.neigh.default.gc_thresh3"),
                    (v6, "net.ipv6.neigh.default.gc_thresh3"),
                ],
                0,
            );
            Some(diagnosis(
                input,
                r,
                format!("the ARP table was full {v4} times and the NDISC table {v6} times"),
                ev,
                &["net.ipv4.neigh.default.gc_thresh3", "net.ipv6.neigh.default.gc_thresh3"],
                &floors,
                Some("the neighbour tables are host-wide: gc_thresh3 limits every namespace together".into()),
            ))
        },
    },
    Rule {
        id: "tcp-rmem-over-budget",
        signals: &[],
        knobs: &["net.ipv4.tcp_rmem", "net.ipv4.tcp_mem"],
        cause: "tcp_rmem's maximum is more than tcp_mem's hard limit (pages, for all of TCP) can hold: \
                one busy connection could push every socket into memory pressure",
        check: |r, input, _| budget_rule(r, input, "net.ipv4.tcp_rmem"),
    },
    Rule {
        id: "tcp-wmem-over-budget",
        signals: &[],
        knobs: &["net.ipv4.tcp_wmem", "net.ipv4.tcp_mem"],
        cause: "tcp_wmem's maximum is more than tcp_mem's hard limit can hold",
        check: |r, input, _| budget_rule(r, input, "net.ipv4.tcp_wmem"),
    },
    Rule {
        id: "rmem-default-above-max",
        signals: &[],
        knobs: &["net.core.rmem_default", "net.core.rmem_max"],
        cause: "rmem_default is above rmem_max: sockets start with rmem_default, but an application that \
                asks for a larger SO_RCVBUF is held to rmem_max and gets less than it had",
        check: |r, input, _| {
            let def = input.num("net.core.rmem_default")?;
            let max = input.num("net.core.rmem_max")?;
            (def > max).then(|| {
                diagnosis(
                    input,
                    r,
                    format!("rmem_default {def} > rmem_max {max}"),
                    Vec::new(),
                    &["net.core.rmem_default", "net.core.rmem_max"],
                    &[("net.core.rmem_max", def.to_string())],
                    None,
                )
            })
        },
    },
];

/// Floors at twice the live value (and at least `min`, at most `i32::MAX`) for the keys
/// whose family saw `n > 0` failures: one per address family.
fn doubled(
    input: &Input<'_>,
    keys: [(u64, &'static str); 2],
    min: u64,
) -> Vec<(&'static str, String)> {
    keys.into_iter()
        .filter(|(n, _)| *n > 0)
        .filter_map(|(_, key)| {
            let cur = input.num(key)?;
            Some((
                key,
                cur.saturating_mul(2)
                    .max(min)
                    .min(i32::MAX as u64)
                    .to_string(),
            ))
        })
        .collect()
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096)
}

fn budget_rule(r: &'static Rule, input: &Input<'_>, key: &'static str) -> Option<Diagnosis> {
    let buf = input.nums(key)?;
    let [_, _, max] = buf[..] else { return None };
    let hard = input.nums("net.ipv4.tcp_mem")?.get(2).copied()?;
    let bytes = hard.saturating_mul(page_size());
    if max <= bytes {
        return None;
    }
    let pages = max.div_ceil(page_size()).saturating_mul(2);
    let mem = input.nums("net.ipv4.tcp_mem")?;
    let proposed: Vec<String> = mem
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i == 2 {
                pages.max(*v).to_string()
            } else {
                v.to_string()
            }
        })
        .collect();
    Some(diagnosis(
        input,
        r,
        format!("{key} max {max} bytes > tcp_mem hard limit {hard} pages ({bytes} bytes)"),
        Vec::new(),
        &[key, "net.ipv4.tcp_mem"],
        &[("net.ipv4.tcp_mem", proposed.join(" "))],
        Some(format!("or lower the third value of {key}")),
    ))
}

fn nic_rx_drop(r: &'static Rule, input: &Input<'_>, ev: Vec<Evidence>) -> Option<Diagnosis> {
    let mut by_iface: BTreeMap<String, u64> = BTreeMap::new();
    for e in &ev {
        if let Some(iface) = e.signal.split('.').nth(1) {
            *by_iface.entry(iface.to_owned()).or_default() += e.delta;
        }
    }
    by_iface.retain(|_, n| *n > 0);
    if by_iface.is_empty() {
        return None;
    }
    let mut advice = Profile::new("advice-nic-rx-drop");
    let mut live = BTreeMap::new();
    let mut caveats = Vec::new();
    for iface in by_iface.keys() {
        let Ok(name) = IfName::new(iface) else {
            continue;
        };
        let nic = match Nic::open_in(input.target.netns(), iface) {
            Ok(n) => n,
            Err(e) => {
                caveats.push(format!("{iface}: {}", crate::error::report(&e)));
                continue;
            }
        };
        let mut n = NicProfile::default();
        match nic.rings() {
            Ok(rings) if rings.rx_max > 0 => {
                live.insert(format!("nic {iface} rings rx"), rings.rx.to_string());
                live.insert(
                    format!("nic {iface} rings rx_max"),
                    rings.rx_max.to_string(),
                );
                if rings.rx < rings.rx_max {
                    n.rings.insert(
                        "rx".into(),
                        rings.rx.saturating_mul(2).clamp(1, rings.rx_max),
                    );
                }
            }
            _ => caveats.push(format!(
                "{iface} has no RX ring settings (its drops come from the backlog or the driver)"
            )),
        }
        if n.rings.is_empty() {
            if let Ok(c) = nic.coalesce() {
                live.insert(
                    format!("nic {iface} coalesce rx_usecs"),
                    c.rx_usecs.to_string(),
                );
                if c.rx_usecs > 1 && c.use_adaptive_rx == 0 {
                    n.coalesce.insert("rx_usecs".into(), c.rx_usecs / 2);
                } else {
                    caveats.push(format!(
                        "{iface}: the RX ring is at its maximum and coalescing cannot be lowered further: the CPU that drains it is too slow"
                    ));
                }
            }
        }
        if n != NicProfile::default() {
            n.why = Some(r.cause.to_owned());
            let _ = advice.set_nic(name, n);
        }
    }
    let counts: Vec<String> = by_iface.iter().map(|(i, n)| format!("{i} {n}")).collect();
    Some(Diagnosis {
        rule: r.id,
        cause: format!("received packets dropped: {}", counts.join(", ")),
        evidence: ev,
        live,
        advice: (!advice.is_empty()).then_some(advice),
        caveat: (!caveats.is_empty()).then(|| caveats.join("; ")),
    })
}

/// Runs every rule. With `rates`, rules on counters fire on what grew between the two
/// samples; without (totals since boot only), only rules on the configuration can fire.
/// `sample` is the latest sample (its gauges: conntrack fill).
pub fn diagnose(target: &Target, rates: Option<&Rates>, sample: &Sample) -> Vec<Diagnosis> {
    let input = Input {
        target,
        rates,
        sample,
        sysctls: RefCell::new(BTreeMap::new()),
    };
    RULES
        .iter()
        .filter_map(|rule| {
            if rule.signals.is_empty() {
                return (rule.check)(rule, &input, Vec::new());
            }
            let rates = input.rates?;
            let evidence: Vec<Evidence> = rule
                .signals
                .iter()
                .flat_map(|p| rates.matching(p))
                .filter(|(_, r)| r.delta > 0)
                .map(|(name, r)| Evidence {
                    signal: name.to_owned(),
                    delta: r.delta,
                    per_second: r.per_second,
                    total: r.total,
                })
                .collect();
            if evidence.is_empty() {
                return None;
            }
            (rule.check)(rule, &input, evidence)
        })
        .collect()
}

/// The rules that read signal `name`.
pub fn rules_reading(name: &str) -> impl Iterator<Item = &'static Rule> + '_ {
    RULES
        .iter()
        .filter(move |r| r.signals.iter().any(|p| matches(p, name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_patterns_match_one_component() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        assert!(matches("nic.*.rx_drop", "nic.eth0.rx_drop"));
        assert!(!matches("nic.*.rx_drop", "nic.eth0.rx_drop_x"));
        assert!(!matches("nic.*.rx_drop", "nic.a.b.rx_drop"));
        assert!(matches("Udp.RcvbufErrors", "Udp.RcvbufErrors"));
        assert!(!matches("Udp.RcvbufErrors", "Udp6.RcvbufErrors"));
        assert_eq!(
            rules_reading("TcpExt.ListenOverflows")
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            ["tcp-listen-overflow", "tcp-syn-queue-drop"]
        );
    }

    #[test]
    fn growth_doubles_at_least_and_covers_the_overflow() {
        assert_eq!(grow(4, 1), 8);
        assert_eq!(grow(4, 60), 64);
        assert_eq!(grow(4096, 10), 8192);
        assert_eq!(grow(0, 0), 1);
        assert_eq!(grow(u64::MAX, 5), i32::MAX as u64);
    }

    /// The rules whose signature cannot be produced in a test namespace (host-wide
    /// counters and knobs, a driver with rings), fed with a synthetic growth of one
    /// signal, against this host's live configuration (read only).
    fn fire(signal: &str, delta: u64) -> Vec<Diagnosis> {
        let target = Target::current().expect("target");
        let mut before = Sample::empty();
        before.insert_counter(signal, 100);
        let mut after = before.clone().later_by(std::time::Duration::from_secs(2));
        after.insert_counter(signal, 100 + delta);
        let rates = Rates::between(&before, &after);
        diagnose(&target, Some(&rates), rates.latest())
    }

    fn advised(d: &Diagnosis, key: &str) -> Option<String> {
        d.advice.as_ref().and_then(|p| {
            p.sysctls()
                .iter()
                .find(|r| r.key.to_string() == key)
                .map(|r| r.want.value().to_owned())
        })
    }

    #[test]
    fn host_wide_rules_fire_on_synthetic_growth_with_advice_or_a_reason() {
        let target = Target::current().expect("target");
        let initial = target.is_initial();
        for (signal, rule, key) in [
            (
                "softnet.dropped",
                "softnet-backlog-drop",
                "net.core.netdev_max_backlog",
            ),
            (
                "softnet.time_squeezed",
                "softnet-time-squeeze",
                "net.core.netdev_budget",
            ),
            (
                "TcpExt.TCPMemoryPressures",
                "tcp-memory-pressure",
                "net.ipv4.tcp_mem",
            ),
            (
                "TcpExt.PruneCalled",
                "tcp-rcvbuf-prune",
                "net.ipv4.tcp_rmem",
            ),
        ] {
            let ds = fire(signal, 10);
            let d = ds
                .iter()
                .find(|d| d.rule == rule)
                .unwrap_or_else(|| panic!("{rule} did not fire: {ds:?}"));
            assert_eq!(d.evidence.len(), 1);
            assert_eq!(d.evidence[0].delta, 10);
            assert!((d.evidence[0].per_second - 5.0).abs() < 1e-9);
            let live = target.sysctl().read_raw(&Key::new(key).expect("key"));
            match (live, advised(d, key)) {
                (Ok(v), Some(want)) => {
                    // Each field of the proposal is at least the live one.
                    for (w, l) in want.split(' ').zip(v.split_whitespace()) {
                        assert!(
                            w.parse::<u64>().expect("n") >= l.parse::<u64>().expect("n"),
                            "{rule}: {want} vs {v}"
                        );
                    }
                    assert_ne!(
                        want,
                        v.split_whitespace().collect::<Vec<_>>().join(" "),
                        "{rule}"
                    );
                }
                (Ok(_), None) => assert!(d.caveat.is_some(), "{rule}: no advice and no reason"),
                (Err(_), advice) => {
                    assert!(!initial || advice.is_none(), "{rule}");
                    assert!(
                        d.caveat.as_deref().is_some_and(|c| c.contains(key)),
                        "{rule}: {d:?}"
                    );
                }
            }
        }
        // A counter that did not grow fires nothing.
        assert!(
            fire("softnet.dropped", 0)
                .iter()
                .all(|d| !d.rule.starts_with("softnet"))
        );
    }

    #[test]
    fn drops_on_an_interface_without_rings_say_so() {
        let ds = fire("nic.lo.rx_drop", 3);
        let d = ds.iter().find(|d| d.rule == "nic-rx-drop").expect("fired");
        assert!(d.cause.contains("lo 3"), "{}", d.cause);
        assert!(d.advice.is_none());
        assert!(
            d.caveat
                .as_deref()
                .is_some_and(|c| c.contains("lo has no RX ring settings")),
            "{d:?}"
        );
    }
}

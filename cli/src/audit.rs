//! `nettune audit`: the live state against a profile, and the counters that show a problem
//! now. It writes nothing; what it cannot read (without root) it says so, row by row.

use std::io::Write;

use nettune::sysctl::knobs::canonical_lenient;
use nettune::sysctl::{Error, Key, advice};
use serde_json::{Value, json};

use crate::commands::{flat, list_nics, open_ct, open_nic, open_pm};
use crate::{Ctx, Res};
use nettune::Profile;
use nettune::profile::NicProfile;

/// One audited item.
struct Row {
    /// What is audited: a sysctl key, `lo offload gro`, `conntrack fill`...
    item: String,
    current: String,
    recommended: String,
    /// `ok`, `differs`, `absent: ...`, `unreadable: ...`, `problem`, `info`.
    status: String,
    why: String,
}

impl Row {
    /// A row for something that could not be read.
    fn failed(item: impl Into<String>, recommended: &str, status: String, why: &str) -> Self {
        Self {
            item: item.into(),
            current: "-".into(),
            recommended: recommended.into(),
            status,
            why: why.into(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "item": self.item,
            "current": self.current,
            "recommended": self.recommended,
            "status": self.status,
            "why": self.why,
        })
    }
}

/// Why an error left a row unread.
fn unread(e: &Error) -> String {
    match e {
        Error::Unsupported { reason, .. } => format!("absent: {reason}"),
        Error::PermissionDenied { reason, .. } => format!("unreadable: {reason}"),
        other => format!("unreadable: {other}"),
    }
}

fn sysctl_rows(ctx: &Ctx, p: &Profile) -> Vec<Row> {
    let sys = ctx.sysctl();
    p.sysctls()
        .iter()
        .map(|rule| {
            let (current, status) = match sys.read_raw(&rule.key) {
                Ok(v) => {
                    let ok = rule
                        .want
                        .resolve(Some(&canonical_lenient(&rule.key, &v)))
                        .is_none();
                    (flat(&v), if ok { "ok" } else { "differs" }.to_owned())
                }
                Err(e) => ("-".to_owned(), unread(&e)),
            };
            let recommended = match &rule.want {
                nettune::Want::Exact(v) => v.clone(),
                nettune::Want::AtLeast(v) => format!(">={v}"),
                nettune::Want::AtMost(v) => format!("<={v}"),
            };
            Row {
                item: rule.key.to_string(),
                current,
                recommended,
                status,
                why: rule.why.clone(),
            }
        })
        .collect()
}

/// The offloads the audit reports, with the trade-off each makes.
const OFFLOADS: [(&str, &str); 4] = [
    (
        "gro",
        "GRO merges received segments: fewer packets up the stack, at most one NAPI poll of added latency",
    ),
    (
        "lro",
        "LRO merges in hardware and breaks forwarding and exact segment boundaries; GRO is the safe form",
    ),
    (
        "gso",
        "GSO splits large sends late: cheaper sends, bursts of back-to-back segments",
    ),
    (
        "tso",
        "TSO lets the NIC segment: least CPU per byte, larger bursts on the wire",
    ),
];

/// The coalescing fields the audit reports.
const COALESCE: [(&str, &str); 3] = [
    (
        "rx_usecs",
        "microseconds the NIC waits before a receive interrupt: lower is less latency, more interrupts",
    ),
    (
        "rx_frames",
        "frames the NIC gathers before a receive interrupt: 1 interrupts on every frame",
    ),
    (
        "use_adaptive_rx",
        "adaptive coalescing moves rx-usecs with load; latency-critical hosts pin it off",
    ),
];

/// What the profile recommends for an offload, if anything (short or kernel name).
fn recommended_offload(s: Option<&NicProfile>, short: &str, kernel: &str) -> Option<bool> {
    let s = s?;
    s.offloads
        .get(short)
        .or_else(|| s.offloads.get(kernel))
        .copied()
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn compare(current: &str, recommended: Option<String>) -> (String, String) {
    match recommended {
        Some(r) if r == current => (r, "ok".to_owned()),
        Some(r) => (r, "differs".to_owned()),
        None => ("-".to_owned(), "info".to_owned()),
    }
}

fn nic_rows(ctx: &Ctx, p: &Profile) -> Vec<Row> {
    let mut rows = Vec::new();
    let names = match list_nics(ctx) {
        Ok(n) => n,
        Err(e) => {
            rows.push(Row::failed(
                "interfaces",
                "-",
                format!("unreadable: {}", e.message()),
                "the interface list comes from /sys/class/net",
            ));
            return rows;
        }
    };
    for name in names {
        let settings = nettune::nic::IfName::new(&name)
            .ok()
            .and_then(|n| p.nics().get(&n));
        let nic = match open_nic(ctx, &name) {
            Ok(n) => n,
            Err(e) => {
                rows.push(Row::failed(
                    name,
                    "-",
                    format!("unreadable: {}", e.message()),
                    "SIOCETHTOOL on the interface",
                ));
                continue;
            }
        };
        match nic.features() {
            Ok(features) => {
                for (short, why) in OFFLOADS {
                    let Ok(offload) = short.parse::<nettune::nic::Offload>() else {
                        continue;
                    };
                    let bits = features.expand(&offload);
                    let Some(first) = bits.first() else { continue };
                    let current = format!(
                        "{}{}",
                        on_off(first.active),
                        if first.fixed { " (fixed)" } else { "" }
                    );
                    let rec = recommended_offload(settings, short, first.name)
                        .map(|b| on_off(b).to_owned());
                    let (recommended, status) = compare(on_off(first.active), rec);
                    rows.push(Row {
                        item: format!("{name} offload {short}"),
                        current,
                        recommended,
                        status,
                        why: why.to_owned(),
                    });
                }
            }
            Err(e) => rows.push(Row::failed(
                format!("{name} offloads"),
                "-",
                if e.is_unsupported() {
                    "absent: the driver has no features".into()
                } else {
                    format!("unreadable: {e}")
                },
                "ETHTOOL_GFEATURES",
            )),
        }
        match nic.coalesce() {
            Ok(c) => {
                let fields = c.fields();
                for (field, why) in COALESCE {
                    let Some((_, v)) = fields.iter().find(|(n, _)| *n == field) else {
                        continue;
                    };
                    let rec = settings
                        .and_then(|s| s.coalesce.get(field))
                        .map(u32::to_string);
                    let (recommended, status) = compare(&v.to_string(), rec);
                    rows.push(Row {
                        item: format!("{name} coalesce {field}"),
                        current: v.to_string(),
                        recommended,
                        status,
                        why: why.to_owned(),
                    });
                }
            }
            Err(e) => rows.push(Row::failed(
                format!("{name} coalesce"),
                "-",
                if e.is_unsupported() {
                    "absent: the driver has no coalescing".into()
                } else {
                    format!("unreadable: {e}")
                },
                "ETHTOOL_GCOALESCE",
            )),
        }
    }
    rows
}

/// Conntrack fill and the per-CPU counters that mean lost or refused connections.
fn conntrack_rows(ctx: &Ctx) -> Vec<Row> {
    let mut rows = Vec::new();
    let opened = open_ct(ctx).map_err(|e| e.message().to_owned());
    let count = match &opened {
        Ok(ct) => ct.count().map_err(|e| nettune::error::report(&e)),
        Err(e) => Err(e.clone()),
    };
    // Without CAP_NET_ADMIN ctnetlink refuses; the sysctls are world-readable.
    let count = count.or_else(|netlink| {
        let sys = ctx.sysctl();
        let read = |k: &str| -> Result<u32, String> {
            let key = Key::new(k).map_err(|e| nettune::error::report(&e))?;
            let v = sys.read_raw(&key).map_err(|e| unread(&e))?;
            v.trim()
                .parse()
                .map_err(|_| format!("{k}: {v:?} is not a number"))
        };
        match (
            read("net.netfilter.nf_conntrack_count"),
            read("net.netfilter.nf_conntrack_max"),
        ) {
            (Ok(entries), Ok(max)) => Ok(nettune::conntrack::Count { entries, max }),
            (Err(e), _) | (_, Err(e)) => Err(format!("{netlink}; {e}")),
        }
    });
    match count {
        Ok(c) => {
            let fill = c.fill() * 100.0;
            rows.push(Row {
                item: "conntrack fill".into(),
                current: format!("{} of {} ({fill:.1}%)", c.entries, c.max),
                recommended: "below 80%".into(),
                status: if fill >= 80.0 { "problem".into() } else { "ok".into() },
                why: "a full table drops new connections (raise nf_conntrack_max or shorten timeouts)".into(),
            });
        }
        Err(e) => rows.push(Row::failed(
            "conntrack fill",
            "below 80%",
            format!("unreadable: {e}"),
            "a full table drops new connections",
        )),
    }
    let stats = match &opened {
        Ok(ct) => ct.stats().map_err(|e| nettune::error::report(&e)),
        Err(e) => Err(e.clone()),
    };
    match stats {
        Ok(per_cpu) => {
            let sum = |f: fn(&nettune::conntrack::CpuStats) -> u32| {
                per_cpu.iter().map(|s| u64::from(f(s))).sum::<u64>()
            };
            let counters: [(&str, u64, &str); 4] = [
                (
                    "drop",
                    sum(|s| s.drop),
                    "packets dropped because the table was full",
                ),
                (
                    "early_drop",
                    sum(|s| s.early_drop),
                    "entries evicted to make room: the table is at its limit",
                ),
                (
                    "insert_failed",
                    sum(|s| s.insert_failed),
                    "entries that lost an insert race or found no room",
                ),
                (
                    "error",
                    sum(|s| s.error),
                    "packets ctnetlink could not track (malformed or refused by a helper)",
                ),
            ];
            for (name, value, why) in counters {
                rows.push(Row {
                    item: format!("conntrack {name}"),
                    current: value.to_string(),
                    recommended: "0".into(),
                    status: if value == 0 {
                        "ok".into()
                    } else {
                        "problem".into()
                    },
                    why: why.into(),
                });
            }
        }
        Err(e) => rows.push(Row::failed(
            "conntrack stats",
            "0 drops",
            format!("unreadable: {e}"),
            "per-CPU drop and insert-failure counters (ctnetlink needs CAP_NET_ADMIN)",
        )),
    }
    rows
}

fn mptcp_rows(ctx: &Ctx, p: &Profile) -> Vec<Row> {
    let mut rows = Vec::new();
    let pm = match open_pm(ctx) {
        Ok(pm) => pm,
        Err(e) => {
            rows.push(Row::failed(
                "mptcp",
                "-",
                format!("unreadable: {}", e.message()),
                "the MPTCP path manager (genetlink family mptcp_pm)",
            ));
            return rows;
        }
    };
    match pm.limits() {
        Ok(l) => {
            let current = format!(
                "subflows {} add_addr_accepted {}",
                l.subflows, l.add_addr_accepted
            );
            let rec = p.mptcp_limits().map(|r| {
                format!(
                    "subflows {} add_addr_accepted {}",
                    r.subflows, r.add_addr_accepted
                )
            });
            let (recommended, status) = compare(&current, rec);
            rows.push(Row {
                item: "mptcp limits".into(),
                current,
                recommended,
                status,
                why: "extra subflows per connection; 0 means MPTCP runs over one path only".into(),
            });
        }
        Err(e) => rows.push(Row::failed(
            "mptcp limits",
            "-",
            format!("unreadable: {e}"),
            "MPTCP_PM_CMD_GET_LIMITS",
        )),
    }
    match pm.endpoints() {
        Ok(eps) => rows.push(Row {
            item: "mptcp endpoints".into(),
            current: if eps.is_empty() {
                "none".to_owned()
            } else {
                eps.iter()
                    .map(|e| e.addr.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            recommended: "-".into(),
            status: "info".into(),
            why: "addresses the in-kernel path manager may use for extra subflows".into(),
        }),
        Err(e) => rows.push(Row::failed(
            "mptcp endpoints",
            "-",
            format!("unreadable: {e}"),
            "MPTCP_PM_CMD_GET_ADDR",
        )),
    }
    rows
}

/// The `/proc/net/netstat` and `/proc/net/snmp` counters that show a problem now.
const COUNTERS: [(&str, &str, &str, &str); 9] = [
    (
        "netstat",
        "TcpExt",
        "ListenOverflows",
        "accept queue full: raise somaxconn and the listen backlog, accept faster",
    ),
    (
        "netstat",
        "TcpExt",
        "ListenDrops",
        "SYNs or ACKs dropped at a listener (overflows and other causes)",
    ),
    (
        "netstat",
        "TcpExt",
        "SyncookiesSent",
        "SYN queue overflowed: tcp_max_syn_backlog too small, or a SYN flood",
    ),
    (
        "netstat",
        "TcpExt",
        "TCPBacklogDrop",
        "socket backlog full while the owner held the lock: receiver too slow",
    ),
    (
        "netstat",
        "TcpExt",
        "PruneCalled",
        "receive queue over its memory: the kernel collapsed it (rmem too small)",
    ),
    (
        "netstat",
        "TcpExt",
        "RcvPruned",
        "received data thrown away under memory pressure",
    ),
    (
        "snmp",
        "Udp",
        "RcvbufErrors",
        "UDP datagrams dropped: the receive buffer was full (raise SO_RCVBUF / rmem)",
    ),
    (
        "snmp",
        "Udp",
        "SndbufErrors",
        "UDP sends failed: the send buffer was full",
    ),
    (
        "snmp",
        "Udp",
        "InErrors",
        "UDP datagrams dropped on receive (buffer full or bad checksum)",
    ),
];

/// Parses the header/value line pairs of `/proc/net/netstat` and `/proc/net/snmp`.
fn lookup(text: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    while let (Some(head), Some(values)) = (lines.next(), lines.next()) {
        let idx = head.split_whitespace().skip(1).position(|n| n == name);
        if let Some(i) = idx {
            return values.split_whitespace().skip(1).nth(i)?.parse().ok();
        }
    }
    None
}

fn counter_rows(ctx: &Ctx) -> Vec<Row> {
    let read = || {
        let r = |f: &str| std::fs::read_to_string(format!("/proc/thread-self/net/{f}"));
        (r("netstat"), r("snmp"))
    };
    let (netstat, snmp) = match &ctx.netns {
        None => read(),
        Some(ns) => match ns.run(read) {
            Ok(pair) => pair,
            Err(e) => {
                let err = || Err(std::io::Error::other(e.to_string()));
                (err(), err())
            }
        },
    };
    COUNTERS
        .iter()
        .map(|&(file, group, name, why)| {
            let text = if file == "netstat" { &netstat } else { &snmp };
            let (current, status) = match text {
                Err(e) => ("-".to_owned(), format!("unreadable: /proc/net/{file}: {e}")),
                Ok(t) => match lookup(t, group, name) {
                    None => (
                        "-".to_owned(),
                        format!("absent: no {group} {name} in /proc/net/{file}"),
                    ),
                    Some(0) => ("0".to_owned(), "ok".to_owned()),
                    Some(v) => (v.to_string(), "problem".to_owned()),
                },
            };
            Row {
                item: format!("{group}.{name}"),
                current,
                recommended: "0".into(),
                status,
                why: why.into(),
            }
        })
        .collect()
}

fn write_section(out: &mut impl Write, title: &str, rows: &[Row]) -> std::io::Result<()> {
    let width = rows
        .iter()
        .map(|r| r.item.len())
        .max()
        .unwrap_or(10)
        .max(10);
    let cw = rows
        .iter()
        .map(|r| r.current.len())
        .max()
        .unwrap_or(26)
        .max(26);
    writeln!(out, "\n{title}")?;
    for r in rows {
        writeln!(
            out,
            "{:<width$}  {:<cw$}  {:<26}  {}",
            r.item, r.current, r.recommended, r.status
        )?;
        writeln!(out, "{:<width$}  why: {}", "", r.why)?;
    }
    Ok(())
}

/// Audits the live state against `p`.
pub(crate) fn audit(ctx: &mut Ctx, p: &Profile) -> Res {
    let sysctl = sysctl_rows(ctx, p);
    let nic = nic_rows(ctx, p);
    let conntrack = conntrack_rows(ctx);
    let mptcp = mptcp_rows(ctx, p);
    let counters = counter_rows(ctx);
    let advice = advice::buffers(&ctx.sysctl());
    if ctx.json {
        let list = |rows: &[Row]| Value::Array(rows.iter().map(Row::json).collect());
        let advice = match advice {
            Ok(a) => Value::Array(
                a.iter()
                    .map(|a| json!({ "key": a.key.to_string(), "message": a.message }))
                    .collect(),
            ),
            Err(e) => json!({ "error": nettune::error::report(&e) }),
        };
        return ctx.json(&json!({
            "profile": p.name(),
            "sysctl": list(&sysctl),
            "nic": list(&nic),
            "conntrack": list(&conntrack),
            "mptcp": list(&mptcp),
            "counters": list(&counters),
            "advice": advice,
            "written": false,
        }));
    }
    let out = &mut ctx.out;
    let width = sysctl.iter().map(|r| r.item.len()).max().unwrap_or(40);
    writeln!(out, "profile {}", p.name())?;
    writeln!(
        out,
        "{:<width$}  {:<26}  {:<26}  STATUS",
        "KNOB", "CURRENT", "RECOMMENDED"
    )?;
    for r in &sysctl {
        writeln!(
            out,
            "{:<width$}  {:<26}  {:<26}  {}",
            r.item, r.current, r.recommended, r.status
        )?;
        writeln!(out, "{:<width$}  why: {}", "", r.why)?;
    }
    write_section(out, "interfaces", &nic)?;
    write_section(out, "conntrack", &conntrack)?;
    write_section(out, "mptcp", &mptcp)?;
    write_section(out, "counters (this namespace, since boot)", &counters)?;
    match advice {
        Ok(list) => {
            for a in list {
                writeln!(out, "\nadvice ({}): {}", a.key, a.message)?;
            }
        }
        Err(e) => writeln!(out, "\nadvice: buffer sizes not checked: {e}")?,
    }
    let all = || {
        sysctl
            .iter()
            .chain(&nic)
            .chain(&conntrack)
            .chain(&mptcp)
            .chain(&counters)
    };
    let count = |pred: fn(&str) -> bool| all().filter(|r| pred(&r.status)).count();
    writeln!(
        out,
        "\n{} as recommended, {} differ, {} problems, {} not readable; nothing was written",
        count(|s| s == "ok"),
        count(|s| s == "differs"),
        count(|s| s == "problem"),
        count(|s| s.starts_with("unreadable") || s.starts_with("absent")),
    )?;
    Ok(())
}

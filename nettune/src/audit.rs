//! [`Audit`]: a namespace's live state against a [`Profile`], and the counters that show a
//! problem now. An audit writes nothing, needs no privilege for most rows, and says row by
//! row what it could not read and why.
//!
//! ```no_run
//! let target = nettune::Target::current()?;
//! let audit = nettune::Profile::low_latency().audit(&target);
//! for row in audit.rows().filter(|r| r.status.is_finding()) {
//!     println!("{}: {} (want {}): {}", row.item, row.current_or_dash(), row.recommended_or_dash(), row.why);
//! }
//! # Ok::<(), nettune::Error>(())
//! ```

use std::fmt;
use std::time::Duration;

use nettune_core::ErrorKind;
use nettune_core::error::report;
use nettune_nic::{Nic, Offload};
use nettune_sysctl::Sysctl;
use nettune_sysctl::advice::{self, Advice};
use nettune_sysctl::knobs::canonical_lenient;
use serde::Serialize;

use crate::Target;
use crate::diagnosis::{self, Diagnosis};
use crate::profile::{NicProfile, Profile, Want};
use crate::signals::{Rates, Sample, Sampler, Source};

/// What an audited row found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Status {
    /// The live value is what the profile recommends (or a counter is 0).
    Ok,
    /// The live value differs from the profile's.
    Differs,
    /// A counter or fill level that shows a problem now.
    Problem,
    /// Reported for information: the profile recommends nothing here.
    Info,
    /// The item does not exist here (a kernel without it, a driver without the feature).
    Absent(String),
    /// The item exists but could not be read (most often: no privilege).
    Unreadable(String),
    /// The live value differs from the profile's, but cannot be changed here: the key is
    /// read-only in this namespace (a child namespace inherits it from the initial one),
    /// or the kernel refuses the value here. Not a finding: nothing in this namespace can
    /// fix it.
    Unsettable(String),
}

impl Status {
    /// Whether this row asks for attention: [`Status::Differs`] or [`Status::Problem`].
    pub fn is_finding(&self) -> bool {
        matches!(self, Self::Differs | Self::Problem)
    }

    /// Whether the row could not be read ([`Status::Absent`] or [`Status::Unreadable`]).
    pub fn is_unread(&self) -> bool {
        matches!(self, Self::Absent(_) | Self::Unreadable(_))
    }

    fn of_sysctl(e: &nettune_sysctl::Error) -> Self {
        match e {
            nettune_sysctl::Error::Unsupported { reason, .. } => Self::Absent(reason.clone()),
            nettune_sysctl::Error::PermissionDenied { reason, .. } => {
                Self::Unreadable(reason.clone())
            }
            other => Self::Unreadable(report(other)),
        }
    }

    /// An error of a netlink or ioctl area: absent when the kernel or driver lacks it.
    fn of_error(e: &(dyn std::error::Error + 'static), kind: ErrorKind, absent: &str) -> Self {
        match kind {
            ErrorKind::Unsupported => Self::Absent(absent.to_owned()),
            _ => Self::Unreadable(report(e)),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Differs => f.write_str("differs"),
            Self::Problem => f.write_str("problem"),
            Self::Info => f.write_str("info"),
            Self::Absent(why) => write!(f, "absent: {why}"),
            Self::Unreadable(why) => write!(f, "unreadable: {why}"),
            Self::Unsettable(why) => write!(f, "differs, cannot be set here: {why}"),
        }
    }
}

/// One audited item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// What is audited: a sysctl key, `lo offload gro`, `conntrack fill`, `Udp.InErrors`...
    pub item: String,
    /// The live value, when it could be read (whitespace runs flattened to one space).
    pub current: Option<String>,
    /// What the profile recommends (`>=N` and `<=N` for floors and ceilings), if anything.
    pub recommended: Option<String>,
    /// What the comparison found.
    #[serde(flatten)]
    pub status: Status,
    /// Why the item matters.
    pub why: String,
}

impl Row {
    fn unread(
        item: impl Into<String>,
        recommended: Option<&str>,
        status: Status,
        why: &str,
    ) -> Self {
        Self {
            item: item.into(),
            current: None,
            recommended: recommended.map(str::to_owned),
            status,
            why: why.to_owned(),
        }
    }

    /// A row comparing a live value with the profile's, `info` when it recommends nothing.
    fn compare(item: String, current: String, recommended: Option<String>, why: &str) -> Self {
        let status = match &recommended {
            Some(r) if *r == current => Status::Ok,
            Some(_) => Status::Differs,
            None => Status::Info,
        };
        Self {
            item,
            current: Some(current),
            recommended,
            status,
            why: why.to_owned(),
        }
    }

    /// A counter that should be 0.
    #[cfg(test)]
    fn counter(item: String, value: u64, why: &str) -> Self {
        Self {
            item,
            current: Some(value.to_string()),
            recommended: Some("0".into()),
            status: if value == 0 {
                Status::Ok
            } else {
                Status::Problem
            },
            why: why.to_owned(),
        }
    }

    /// The live value, or `-` when it could not be read.
    pub fn current_or_dash(&self) -> &str {
        self.current.as_deref().unwrap_or("-")
    }

    /// The recommendation, or `-` when there is none.
    pub fn recommended_or_dash(&self) -> &str {
        self.recommended.as_deref().unwrap_or("-")
    }
}

/// A namespace's live state against a profile ([`Profile::audit`]). Nothing was written.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The profile's name.
    pub profile: String,
    /// The profile's sysctls, in its order.
    pub sysctl: Vec<Row>,
    /// Offloads and coalescing of every interface in the namespace.
    pub nic: Vec<Row>,
    /// Conntrack fill and the per-CPU drop and insert-failure counters.
    pub conntrack: Vec<Row>,
    /// The MPTCP path manager's limits and endpoints.
    pub mptcp: Vec<Row>,
    /// The counters the diagnosis rules read: totals since boot (status `info`), or with
    /// an interval their growth over it (`problem` when they grew).
    pub counters: Vec<Row>,
    /// The seconds between the two samples the counters were compared over; `None` when
    /// the audit read totals since boot only.
    #[serde(rename = "interval_secs")]
    pub interval: Option<f64>,
    /// The rules that fired, each with its evidence and advice ([`crate::diagnosis`]).
    pub diagnoses: Vec<Diagnosis>,
    /// Advice on the live socket buffer sizes.
    pub advice: Vec<Advice>,
    /// Why the buffer sizes could not be checked, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice_error: Option<String>,
    /// Always `false`: an audit writes nothing.
    pub written: bool,
}

/// How many rows of an [`Audit`] had each outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    /// As recommended (or counters at 0).
    pub ok: usize,
    /// Differ from the profile.
    pub differs: usize,
    /// Show a problem now (counters that grew, a full table).
    pub problems: usize,
    /// Diagnosis rules that fired.
    pub diagnoses: usize,
    /// Could not be read or do not exist here.
    pub unread: usize,
    /// Differ from the profile but cannot be set here.
    pub unsettable: usize,
}

impl Audit {
    /// Every row, section by section.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.sysctl
            .iter()
            .chain(&self.nic)
            .chain(&self.conntrack)
            .chain(&self.mptcp)
            .chain(&self.counters)
    }

    /// The count of rows by outcome.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for row in self.rows() {
            match row.status {
                Status::Ok => s.ok += 1,
                Status::Differs => s.differs += 1,
                Status::Problem => s.problems += 1,
                Status::Info => {}
                Status::Absent(_) | Status::Unreadable(_) => s.unread += 1,
                Status::Unsettable(_) => s.unsettable += 1,
            }
        }
        s.diagnoses = self.diagnoses.len();
        s
    }
}

impl Profile {
    /// Audits `target`'s live state against this profile: every sysctl rule, the offloads
    /// and coalescing of each interface, conntrack fill, the MPTCP path manager, and the
    /// counters the [diagnosis] rules read — as totals since boot,
    /// which say that something happened once, never that it happens now (status
    /// `info`); only the rules on the configuration alone can fire. Writes nothing; a row
    /// that cannot be read says why instead of failing the audit.
    /// [`Profile::audit_over`] measures the counters as rates.
    pub fn audit(&self, target: &Target) -> Audit {
        let sample = Sampler::new(target).sample();
        self.audit_sampled(target, &sample, None)
    }

    /// As [`Profile::audit`], with the counters sampled twice, `interval` apart: a
    /// counter that grew is a problem now, and the rules fire on what grew. Blocks for
    /// `interval`.
    pub fn audit_over(&self, target: &Target, interval: Duration) -> Audit {
        let mut sampler = Sampler::new(target);
        let before = sampler.sample();
        std::thread::sleep(interval);
        let rates = Rates::between(&before, &sampler.sample());
        self.audit_rates(target, &rates)
    }

    /// As [`Profile::audit_over`], on two samples the caller took ([`Sampler`]).
    pub fn audit_rates(&self, target: &Target, rates: &Rates) -> Audit {
        self.audit_sampled(target, rates.latest(), Some(rates))
    }

    fn audit_sampled(&self, target: &Target, sample: &Sample, rates: Option<&Rates>) -> Audit {
        let (advice, advice_error) = match advice::buffers(target.sysctl()) {
            Ok(a) => (a, None),
            Err(e) => (Vec::new(), Some(report(&e))),
        };
        Audit {
            profile: self.name().to_owned(),
            sysctl: sysctl_rows(target.sysctl(), self),
            nic: nic_rows(target, self),
            conntrack: conntrack_rows(sample),
            mptcp: mptcp_rows(target, self),
            counters: counter_rows(sample, rates),
            interval: rates.map(|r| r.interval().as_secs_f64()),
            diagnoses: diagnosis::diagnose(target, rates, sample),
            advice,
            advice_error,
            written: false,
        }
    }
}

fn flat(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sysctl_rows(sys: &Sysctl, p: &Profile) -> Vec<Row> {
    p.sysctls()
        .iter()
        .map(|rule| {
            let recommended = match &rule.want {
                Want::Exact(v) => v.clone(),
                Want::AtLeast(v) => format!(">={v}"),
                Want::AtMost(v) => format!("<={v}"),
            };
            let (current, status) = match sys.read_raw(&rule.key) {
                Ok(v) => {
                    let status = match rule.want.resolve(Some(&canonical_lenient(&rule.key, &v))) {
                        None => Status::Ok,
                        Some(wanted) => match sys.refusal(&rule.key, &wanted) {
                            Some(why) => Status::Unsettable(why),
                            None => Status::Differs,
                        },
                    };
                    (Some(flat(&v)), status)
                }
                Err(e) => (None, Status::of_sysctl(&e)),
            };
            Row {
                item: rule.key.to_string(),
                current,
                recommended: Some(recommended),
                status,
                why: rule.why.clone(),
            }
        })
        .collect()
}

/// The offloads the audit reports, with the trade-off each makes.
const OFFLOADS: [(Offload, &str, &str); 4] = [
    (
        Offload::Gro,
        "gro",
        "GRO merges received segments: fewer packets up the stack, at most one NAPI poll of added latency",
    ),
    (
        Offload::Lro,
        "lro",
        "LRO merges in hardware and breaks forwarding and exact segment boundaries; GRO is the safe form",
    ),
    (
        Offload::Gso,
        "gso",
        "GSO splits large sends late: cheaper sends, bursts of back-to-back segments",
    ),
    (
        Offload::Tso,
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

fn nic_rows(target: &Target, p: &Profile) -> Vec<Row> {
    let mut rows = Vec::new();
    let names = match Nic::list_in(target.netns()) {
        Ok(n) => n,
        Err(e) => {
            rows.push(Row::unread(
                "interfaces",
                None,
                Status::Unreadable(report(&e)),
                "the interface list (if_nameindex)",
            ));
            return rows;
        }
    };
    for name in names {
        let settings = p.nics().get(&name);
        let nic = match Nic::open_in(target.netns(), name.as_str()) {
            Ok(n) => n,
            Err(e) => {
                rows.push(Row::unread(
                    name.as_str(),
                    None,
                    Status::Unreadable(report(&e)),
                    "SIOCETHTOOL on the interface",
                ));
                continue;
            }
        };
        match nic.features() {
            Ok(features) => {
                for (offload, short, why) in &OFFLOADS {
                    let bits = features.expand(offload);
                    let Some(first) = bits.first() else { continue };
                    let rec = recommended_offload(settings, short, first.name)
                        .map(|b| on_off(b).to_owned());
                    let mut row = Row::compare(
                        format!("{name} offload {short}"),
                        on_off(first.active).to_owned(),
                        rec,
                        why,
                    );
                    if first.fixed {
                        row.current = Some(format!("{} (fixed)", on_off(first.active)));
                    }
                    rows.push(row);
                }
            }
            Err(e) => rows.push(Row::unread(
                format!("{name} offloads"),
                None,
                Status::of_error(&e, e.kind(), "the driver has no features"),
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
                    rows.push(Row::compare(
                        format!("{name} coalesce {field}"),
                        v.to_string(),
                        rec,
                        why,
                    ));
                }
            }
            Err(e) => rows.push(Row::unread(
                format!("{name} coalesce"),
                None,
                Status::of_error(&e, e.kind(), "the driver has no coalescing"),
                "ETHTOOL_GCOALESCE",
            )),
        }
    }
    rows
}

/// Conntrack fill (its drop and insert-failure counters are among the counters).
fn conntrack_rows(sample: &Sample) -> Vec<Row> {
    let why = "a full table drops new connections (raise nf_conntrack_max or shorten timeouts)";
    match (
        sample.gauge("conntrack.entries"),
        sample.gauge("conntrack.max"),
    ) {
        (Some(entries), Some(max)) => {
            let fill = if max == 0 {
                0.0
            } else {
                entries as f64 * 100.0 / max as f64
            };
            vec![Row {
                item: "conntrack fill".into(),
                current: Some(format!("{entries} of {max} ({fill:.1}%)")),
                recommended: Some("below 80%".into()),
                status: if fill >= 80.0 {
                    Status::Problem
                } else {
                    Status::Ok
                },
                why: why.into(),
            }]
        }
        _ => {
            let unread: Vec<_> = sample
                .unread()
                .iter()
                .filter(|u| u.source == Source::Conntrack)
                .collect();
            let reason = unread
                .iter()
                .map(|u| u.reason.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let status = if !unread.is_empty() && unread.iter().all(|u| u.absent) {
                Status::Absent(reason)
            } else {
                Status::Unreadable(reason)
            };
            vec![Row::unread(
                "conntrack fill",
                Some("below 80%"),
                status,
                why,
            )]
        }
    }
}

fn mptcp_rows(target: &Target, p: &Profile) -> Vec<Row> {
    let mut rows = Vec::new();
    let pm = match nettune_mptcp::PathManager::open_in(target.netns()) {
        Ok(pm) => pm,
        Err(e) => {
            rows.push(Row::unread(
                "mptcp",
                None,
                Status::of_error(&e, e.kind(), "no mptcp_pm genetlink family (MPTCP off)"),
                "the MPTCP path manager (genetlink family mptcp_pm)",
            ));
            return rows;
        }
    };
    let limits =
        |subflows: u32, accepted: u32| format!("subflows {subflows} add_addr_accepted {accepted}");
    match pm.limits() {
        Ok(l) => rows.push(Row::compare(
            "mptcp limits".into(),
            limits(l.subflows, l.add_addr_accepted),
            p.mptcp_limits()
                .map(|r| limits(r.subflows, r.add_addr_accepted)),
            "extra subflows per connection; 0 means MPTCP runs over one path only",
        )),
        Err(e) => rows.push(Row::unread(
            "mptcp limits",
            None,
            Status::Unreadable(report(&e)),
            "MPTCP_PM_CMD_GET_LIMITS",
        )),
    }
    match pm.endpoints() {
        Ok(eps) => {
            let current = if eps.is_empty() {
                "none".to_owned()
            } else {
                eps.iter()
                    .map(|e| e.addr.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            rows.push(Row::compare(
                "mptcp endpoints".into(),
                current,
                None,
                "addresses the in-kernel path manager may use for extra subflows",
            ));
        }
        Err(e) => rows.push(Row::unread(
            "mptcp endpoints",
            None,
            Status::Unreadable(report(&e)),
            "MPTCP_PM_CMD_GET_ADDR",
        )),
    }
    rows
}

/// One row per counter a diagnosis rule reads (in rule order, each counter once), and
/// one per signal source that could not be read.
fn counter_rows(sample: &Sample, rates: Option<&Rates>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for rule in diagnosis::RULES {
        for pattern in rule.signals {
            for (name, total) in sample.matching(pattern) {
                if !seen.insert(name.to_owned()) {
                    continue;
                }
                let why = format!("{}: {}", rule.id, rule.cause);
                let (current, status) = match rates {
                    None => (format!("{total} since boot"), Status::Info),
                    Some(r) => match r.get(name) {
                        Some(rate) => (
                            format!(
                                "{} in {:.1}s ({:.1}/s)",
                                rate.delta,
                                r.interval().as_secs_f64(),
                                rate.per_second
                            ),
                            if rate.delta > 0 {
                                Status::Problem
                            } else {
                                Status::Ok
                            },
                        ),
                        None => (
                            format!("{total} since boot"),
                            Status::Unreadable(
                                "not in the first sample, or it went down (reset)".into(),
                            ),
                        ),
                    },
                };
                rows.push(Row {
                    item: name.to_owned(),
                    current: Some(current),
                    recommended: Some(if rates.is_some() { "0/s" } else { "-" }.into()),
                    status,
                    why,
                });
            }
        }
    }
    for u in sample.unread() {
        if u.source == Source::Conntrack {
            continue; // on the conntrack fill row
        }
        let status = if u.absent {
            Status::Absent(u.reason.clone())
        } else {
            Status::Unreadable(u.reason.clone())
        };
        rows.push(Row::unread(
            format!("signals {}", u.source.as_str()),
            None,
            status,
            "counters the diagnosis rules read",
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_serialize_with_a_flat_status() {
        let row = Row::unread("x", None, Status::Absent("gone".into()), "why");
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["status"], "absent");
        assert_eq!(v["reason"], "gone");
        assert!(v["current"].is_null());
        let ok = Row::counter("y".into(), 0, "w");
        let v = serde_json::to_value(&ok).unwrap();
        assert_eq!(v["status"], "ok");
        assert!(v.get("reason").is_none());
        assert_eq!(v["current"], "0");
        assert_eq!(Status::Absent("gone".into()).to_string(), "absent: gone");
    }

    #[test]
    fn summary_counts_each_outcome() {
        let audit = Audit {
            profile: "p".into(),
            sysctl: vec![
                Row::compare("a".into(), "1".into(), Some("1".into()), ""),
                Row::compare("b".into(), "1".into(), Some("2".into()), ""),
                Row::compare("c".into(), "1".into(), None, ""),
            ],
            nic: vec![Row::unread("d", None, Status::Unreadable("no".into()), "")],
            conntrack: vec![Row::counter("e".into(), 5, "")],
            mptcp: vec![],
            counters: vec![Row::counter("f".into(), 0, "")],
            interval: None,
            diagnoses: vec![],
            advice: vec![],
            advice_error: None,
            written: false,
        };
        assert_eq!(
            audit.summary(),
            Summary {
                ok: 2,
                differs: 1,
                problems: 1,
                unread: 1,
                unsettable: 0,
                diagnoses: 0,
            }
        );
        assert_eq!(audit.rows().count(), 6);
    }
}

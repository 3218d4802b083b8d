//! [`Exporter`]: one namespace's tuning state and its diagnosis as Prometheus metrics, for
//! an HTTP scrape ([`Exporter::serve`]) or node_exporter's textfile collector
//! ([`Exporter::write_textfile`]). Encoded with the `prometheus-client` crate, served in
//! the Prometheus text format 0.0.4 (counters named `*_total`).
//!
//! A scrape reads the [signals](crate::signals), the live sysctls the profile and the
//! diagnosis rules name, conntrack's count and per-CPU statistics (never the table: one
//! `CT_GET_STATS` and one `CT_GET_STATS_CPU` request, whatever its size), and every
//! interface's rings, coalescing, channels and features (ioctl handles kept between
//! scrapes). The rules are judged on what grew since the previous scrape, so the advice
//! follows the load. It needs no privilege: what cannot be read is missing, and
//! `nettune_source_up` says which source and why in the log.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `nettune_sysctl_value` | gauge | `key`, `field` (0.. for vectors) |
//! | `nettune_sysctl_desired` | gauge | `key`, `field`, `bound` (`exact`, `at_least`, `at_most`) |
//! | `nettune_sysctl_drift` | gauge 0/1 | `key`, `actual`, `desired`, `set_by` (sysctl.d file:line, `nettune journal`, or `unknown`) |
//! | `nettune_profile_info` | gauge 1 | `profile` |
//! | `nettune_journal_generation`, `nettune_journal_committed`, `nettune_journal_items` | gauge | `profile` |
//! | `nettune_conntrack_entries`, `nettune_conntrack_max` | gauge | |
//! | `nettune_conntrack_stat_total` | counter | `stat` |
//! | `nettune_nic_ring` | gauge | `iface`, `ring` (`rx`, `tx`, ...), `kind` (`current`, `max`) |
//! | `nettune_nic_coalesce` | gauge | `iface`, `field` |
//! | `nettune_nic_channels` | gauge | `iface`, `channel`, `kind` |
//! | `nettune_nic_feature` | gauge 0/1 | `iface`, `feature`, `fixed` |
//! | `nettune_signal_total` | counter | `signal`, `rule`, `knob` (what it implicates; `none` for MPTCP's) |
//! | `nettune_sockstat` | gauge | `protocol`, `field` |
//! | `nettune_rule_firing` | gauge 0/1 | `rule` |
//! | `nettune_advice` | gauge 1 | `rule`, `knob`, `proposed` |
//! | `nettune_rate_window_seconds` | gauge | the time the rules were judged over (0: first scrape) |
//! | `nettune_source_up` | gauge 0/1 | `source` |
//! | `nettune_scrape_duration_seconds` | gauge | |
//! | `nettune_tune_decisions_total` | counter | `verdict` (with [`Exporter::with_tune_history`]) |
//! | `nettune_tune_advice` | gauge 1 | `id`, `rule`, `knob`, `proposed`: advised, not yet applied |
//! | `nettune_agent_state` | gauge 0/1 | `state` (`waiting`, `applied`, `removed`, `failed`; with [`Exporter::with_agent`]) |
//! | `nettune_agent_profile_info` | gauge 1 | `profile`, `hash` (of the profile file) |
//! | `nettune_agent_generation`, `nettune_agent_drift_items`, `nettune_agent_last_error`, `nettune_agent_last_transition_timestamp_seconds` | gauge | |
//! | `nettune_agent_transitions_total` | counter | `kind` |
//!
//! ```no_run
//! let target = nettune::Target::current()?;
//! let mut exporter = nettune::Exporter::new(target).with_profile(nettune::Profile::low_latency());
//! let listener = std::net::TcpListener::bind("127.0.0.1:9464")?;
//! exporter.serve(&listener)?; // GET /metrics, until the listener fails
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nettune_nic::{IfName, Nic};

use crate::agent::{AgentState, AgentStatus};
use nettune_sysctl::Key;
use nettune_sysctl::sysctld::SysctlConfig;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::Target;
use crate::diagnosis::{self, RULES};
use crate::item::ItemId;
use crate::journal::Journal;
use crate::profile::{Profile, Want};
use crate::signals::{Rates, Sample, Sampler, Source};

/// Every metric the exporter defines, as exposed (with the `nettune_` prefix, counters with
/// `_total`), and its type. A scrape emits those it has values for.
pub const METRICS: &[(&str, &str)] = &[
    ("nettune_source_up", "gauge"),
    ("nettune_signal_total", "counter"),
    ("nettune_conntrack_stat_total", "counter"),
    ("nettune_conntrack_entries", "gauge"),
    ("nettune_conntrack_max", "gauge"),
    ("nettune_sockstat", "gauge"),
    ("nettune_rate_window_seconds", "gauge"),
    ("nettune_rule_firing", "gauge"),
    ("nettune_advice", "gauge"),
    ("nettune_sysctl_value", "gauge"),
    ("nettune_profile_info", "gauge"),
    ("nettune_journal_generation", "gauge"),
    ("nettune_journal_committed", "gauge"),
    ("nettune_journal_items", "gauge"),
    ("nettune_sysctl_desired", "gauge"),
    ("nettune_sysctl_drift", "gauge"),
    ("nettune_nic_ring", "gauge"),
    ("nettune_nic_coalesce", "gauge"),
    ("nettune_nic_channels", "gauge"),
    ("nettune_nic_feature", "gauge"),
    ("nettune_scrape_duration_seconds", "gauge"),
    ("nettune_tune_decisions_total", "counter"),
    ("nettune_tune_advice", "gauge"),
    ("nettune_agent_state", "gauge"),
    ("nettune_agent_profile_info", "gauge"),
    ("nettune_agent_generation", "gauge"),
    ("nettune_agent_drift_items", "gauge"),
    ("nettune_agent_last_error", "gauge"),
    ("nettune_agent_last_transition_timestamp_seconds", "gauge"),
    ("nettune_agent_transitions_total", "counter"),
];

type Labels = Vec<(&'static str, String)>;

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Gauge(f64),
    Counter(u64),
}

/// One metric family of a scrape: its series in the order they were set.
#[derive(Debug)]
struct Fam {
    name: String,
    help: &'static str,
    kind: MetricType,
    series: Mutex<Vec<(Labels, Value)>>,
}

/// A family being filled: `fam.series(labels).set(v)` (gauges), `.inc_by(v)` (counters).
#[derive(Debug, Clone)]
struct FamHandle(Arc<Fam>);

struct Slot<'a> {
    fam: &'a Fam,
    labels: Labels,
}

impl FamHandle {
    fn series(&self, labels: Labels) -> Slot<'_> {
        Slot {
            fam: &self.0,
            labels,
        }
    }
}

impl Slot<'_> {
    fn push(self, v: Value) {
        if let Ok(mut s) = self.fam.series.lock() {
            s.push((self.labels, v));
        }
    }

    fn set(self, v: f64) {
        self.push(Value::Gauge(v));
    }

    fn inc_by(self, v: u64) {
        self.push(Value::Counter(v));
    }
}

/// The metric families of one scrape, encoded by prometheus-client's text encoder as the
/// constant metrics of one collector: a scrape builds fresh values each time, so the hash
/// maps of a registry of live metrics would only cost time.
#[derive(Debug, Default)]
struct Metrics {
    fams: Vec<Arc<Fam>>,
}

#[derive(Debug)]
struct Collected(Vec<Arc<Fam>>);

impl Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        for fam in &self.0 {
            let series = fam.series.lock().map_err(|_| std::fmt::Error)?;
            if series.is_empty() {
                continue;
            }
            let mut d = encoder.encode_descriptor(&fam.name, fam.help, None, fam.kind)?;
            for (labels, v) in series.iter() {
                let l: &[(&str, String)] = labels;
                let e = d.encode_family(&l)?;
                match v {
                    Value::Gauge(g) => ConstGauge::new(*g).encode(e)?,
                    Value::Counter(c) => ConstCounter::new(*c).encode(e)?,
                }
            }
        }
        Ok(())
    }
}

impl Metrics {
    fn new() -> Self {
        Self::default()
    }

    fn family(&mut self, name: &str, help: &'static str, kind: MetricType) -> FamHandle {
        let fam = Arc::new(Fam {
            name: format!("nettune_{name}"),
            help,
            kind,
            series: Mutex::new(Vec::new()),
        });
        self.fams.push(fam.clone());
        FamHandle(fam)
    }

    fn gauge(&mut self, name: &str, help: &'static str) -> FamHandle {
        debug_assert!(
            METRICS.contains(&(&*format!("nettune_{name}"), "gauge")),
            "{name}"
        );
        self.family(name, help, MetricType::Gauge)
    }

    fn counter(&mut self, name: &str, help: &'static str) -> FamHandle {
        debug_assert!(
            METRICS.contains(&(&*format!("nettune_{name}_total"), "counter")),
            "{name}"
        );
        self.family(name, help, MetricType::Counter)
    }

    /// The Prometheus text format. prometheus-client writes OpenMetrics, where a
    /// counter's `# HELP`/`# TYPE` name lacks the `_total` its samples have: each family is
    /// encoded on its own (without OpenMetrics' `# EOF`), and a counter's two header lines
    /// are named as its samples are.
    fn encode(self) -> String {
        let mut text = String::with_capacity(64 * 1024);
        let mut one = String::new();
        for fam in self.fams {
            let counter = matches!(fam.kind, MetricType::Counter);
            let name = fam.name.clone();
            let mut registry = Registry::default();
            registry.register_collector(Box::new(Collected(vec![fam])));
            one.clear();
            if encode_registry(&mut one, &registry).is_err() {
                continue;
            }
            if counter {
                for tag in ["HELP", "TYPE"] {
                    one = one.replacen(
                        &format!("# {tag} {name} "),
                        &format!("# {tag} {name}_total "),
                        1,
                    );
                }
            }
            text.push_str(&one);
        }
        text
    }
}

/// Scrapes one namespace: see the [module documentation](self).
#[derive(Debug)]
pub struct Exporter {
    target: Target,
    profile: Option<Profile>,
    journal: Option<PathBuf>,
    tune_journal: Option<PathBuf>,
    sysctld: bool,
    sysctld_loaded: Option<(Instant, Option<SysctlConfig>)>,
    sampler: Sampler,
    last: Option<Sample>,
    nics: BTreeMap<IfName, Nic>,
    agent: Option<Arc<Mutex<AgentStatus>>>,
}

impl Exporter {
    /// An exporter of `target`'s namespace, with no profile (no desired values, no drift).
    pub fn new(target: Target) -> Self {
        let sampler = Sampler::new(&target);
        Self {
            target,
            profile: None,
            journal: None,
            tune_journal: None,
            sysctld: true,
            sysctld_loaded: None,
            sampler,
            last: None,
            nics: BTreeMap::new(),
            agent: None,
        }
    }

    /// Exports an [`Agent`](crate::agent::Agent)'s status, which its loop keeps current
    /// in `status`: the `nettune_agent_*` metrics.
    pub fn with_agent(mut self, status: Arc<Mutex<AgentStatus>>) -> Self {
        self.agent = Some(status);
        self
    }

    /// Exports the profile's desired values and each knob's drift from them.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }

    /// Exports the journal's profile and generation, and names it as what set the knobs
    /// it records.
    pub fn with_journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// Exports the decisions `nettune tune` recorded beside `journal` (its history):
    /// counts by verdict, and the changes advised and not yet applied.
    pub fn with_tune_history(mut self, journal: impl Into<PathBuf>) -> Self {
        self.tune_journal = Some(journal.into());
        self
    }

    /// Whether drift rows name the sysctl.d file that sets a key (the system's
    /// directories, read again when the last reading is older than 30 seconds; on by
    /// default).
    pub fn with_sysctl_d(mut self, on: bool) -> Self {
        self.sysctld = on;
        self
    }

    /// One scrape, in the Prometheus text format. Never fails: what cannot be read is
    /// missing (and `nettune_source_up` is 0 for it).
    pub fn scrape(&mut self) -> String {
        let started = Instant::now();
        let mut m = Metrics::new();
        let sample = self.sampler.sample();
        let rates = self
            .last
            .as_ref()
            .map(|before| Rates::between(before, &sample));
        self.export_signals(&mut m, &sample, rates.as_ref());
        self.export_sysctls(&mut m);
        self.export_nics(&mut m, &sample);
        self.export_tune(&mut m);
        self.export_agent(&mut m);
        self.last = Some(sample);
        m.gauge(
            "scrape_duration_seconds",
            "How long this scrape took to read everything",
        )
        .series(Vec::new())
        .set(started.elapsed().as_secs_f64());
        m.encode()
    }

    fn export_signals(&self, m: &mut Metrics, sample: &Sample, rates: Option<&Rates>) {
        let up = m.gauge(
            "source_up",
            "Whether the signal source could be read (1) or not (0)",
        );
        for source in Source::ALL {
            let down = sample.unread().iter().any(|u| u.source == source);
            up.series(labels([("source", source.as_str())]))
                .set(if down { 0.0 } else { 1.0 });
        }
        let signal = m.counter(
            "signal",
            "A kernel counter a diagnosis rule reads, with the rule and the knobs it implicates",
        );
        for rule in RULES {
            let knob = rule.knobs.join(",");
            for pattern in rule.signals {
                for (name, v) in sample.matching(pattern) {
                    signal
                        .series(labels([
                            ("signal", name),
                            ("rule", rule.id),
                            ("knob", &knob),
                        ]))
                        .inc_by(v);
                }
            }
        }
        for (name, v) in sample
            .counters()
            .filter(|(n, _)| n.starts_with("MPTcpExt."))
        {
            signal
                .series(labels([
                    ("signal", name),
                    ("rule", "none"),
                    ("knob", "none"),
                ]))
                .inc_by(v);
        }
        let stat = m.counter(
            "conntrack_stat",
            "Conntrack statistics summed over CPUs (ctnetlink, or /proc/net/stat/nf_conntrack)",
        );
        for (name, v) in sample.counters() {
            if let Some(s) = name.strip_prefix("conntrack.") {
                stat.series(labels([("stat", s)])).inc_by(v);
            }
        }
        for (gauge, help) in [
            (
                "entries",
                "Entries in the conntrack table (CT_GET_STATS, not a dump)",
            ),
            ("max", "nf_conntrack_max"),
        ] {
            if let Some(v) = sample.gauge(&format!("conntrack.{gauge}")) {
                m.gauge(&format!("conntrack_{gauge}"), help)
                    .series(Vec::new())
                    .set(v as f64);
            }
        }
        let sockstat = m.gauge(
            "sockstat",
            "/proc/net/sockstat: sockets in use, memory (pages)",
        );
        for (name, v) in sample.gauges() {
            if let Some((proto, field)) = name
                .strip_prefix("sockstat.")
                .and_then(|r| r.split_once('.'))
            {
                sockstat
                    .series(labels([("protocol", proto), ("field", field)]))
                    .set(v as f64);
            }
        }
        m.gauge(
            "rate_window_seconds",
            "Seconds between the two samples the rules were judged on (0: the first scrape)",
        )
        .series(Vec::new())
        .set(rates.map_or(0.0, |r| r.interval().as_secs_f64()));
        let fired = diagnosis::diagnose(&self.target, rates, sample);
        let firing = m.gauge(
            "rule_firing",
            "Whether a diagnosis rule fires now (1) or not (0)",
        );
        for rule in RULES {
            let on = fired.iter().any(|d| d.rule == rule.id);
            firing
                .series(labels([("rule", rule.id)]))
                .set(if on { 1.0 } else { 0.0 });
        }
        let advice = m.gauge(
            "advice",
            "A change a firing rule proposes (nettune audit --advice writes it as a profile)",
        );
        for d in &fired {
            let Some(p) = &d.advice else { continue };
            for r in p.sysctls() {
                advice
                    .series(labels([
                        ("rule", d.rule),
                        ("knob", &r.key.to_string()),
                        ("proposed", &r.want.to_string()),
                    ]))
                    .set(1.0);
            }
            for (iface, n) in p.nics() {
                let fields = n
                    .rings
                    .iter()
                    .map(|(f, v)| (format!("nic {iface} rings {f}"), v))
                    .chain(
                        n.coalesce
                            .iter()
                            .map(|(f, v)| (format!("nic {iface} coalesce {f}"), v)),
                    );
                for (knob, v) in fields {
                    advice
                        .series(labels([
                            ("rule", d.rule),
                            ("knob", &knob),
                            ("proposed", &v.to_string()),
                        ]))
                        .set(1.0);
                }
            }
        }
    }

    fn export_sysctls(&mut self, m: &mut Metrics) {
        let stale = self
            .sysctld_loaded
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() > Duration::from_secs(30));
        if self.sysctld && stale {
            self.sysctld_loaded = Some((Instant::now(), SysctlConfig::load().ok()));
        }
        let sys = self.target.sysctl();
        let mut keys: Vec<Key> = Vec::new();
        if let Some(p) = &self.profile {
            keys.extend(p.sysctls().iter().map(|r| r.key.clone()));
        }
        for rule in RULES {
            keys.extend(rule.knobs.iter().filter_map(|k| Key::new(k).ok()));
        }
        keys.sort_by_key(ToString::to_string);
        keys.dedup();
        let value = m.gauge(
            "sysctl_value",
            "A sysctl's live value (field by field for vectors)",
        );
        let mut live = BTreeMap::new();
        for key in &keys {
            let Ok(v) = sys.read_raw(key) else { continue };
            let name = key.to_string();
            for (i, f) in v.split_whitespace().enumerate() {
                if let Ok(n) = f.parse::<f64>() {
                    value
                        .series(labels([("key", &name), ("field", &i.to_string())]))
                        .set(n);
                }
            }
            live.insert(name, v.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        let Some(p) = &self.profile else { return };
        m.gauge("profile_info", "The profile the exporter compares with")
            .series(labels([("profile", p.name())]))
            .set(1.0);
        let journal = self.journal.as_ref().and_then(|j| Journal::open(j).ok());
        if let Some(j) = &journal {
            let l = labels([("profile", j.profile())]);
            m.gauge("journal_generation", "Applies the journal records")
                .series(l.clone())
                .set(f64::from(j.generation()));
            m.gauge(
                "journal_committed",
                "Whether the journal's latest apply finished (1) or was interrupted (0)",
            )
            .series(l.clone())
            .set(if j.is_committed() { 1.0 } else { 0.0 });
            m.gauge("journal_items", "Items the journal can roll back")
                .series(l)
                .set(j.items().len() as f64);
        }
        let sysctld = self
            .sysctld
            .then(|| self.sysctld_loaded.as_ref().and_then(|(_, c)| c.as_ref()))
            .flatten();
        let desired = m.gauge(
            "sysctl_desired",
            "The profile's value or bound for a sysctl (field by field)",
        );
        let drift = m.gauge(
            "sysctl_drift",
            "Whether a sysctl's live value is outside the profile's (1) or not (0), and what set it",
        );
        for rule in p.sysctls() {
            let name = rule.key.to_string();
            let bound = match &rule.want {
                Want::Exact(_) => "exact",
                Want::AtLeast(_) => "at_least",
                Want::AtMost(_) => "at_most",
            };
            for (i, f) in rule.want.value().split_whitespace().enumerate() {
                if let Ok(n) = f.parse::<f64>() {
                    desired
                        .series(labels([
                            ("key", &name),
                            ("field", &i.to_string()),
                            ("bound", bound),
                        ]))
                        .set(n);
                }
            }
            let Some(actual) = live.get(&name) else {
                continue;
            };
            let canonical = nettune_sysctl::knobs::canonical_lenient(&rule.key, actual);
            let differs = rule.want.resolve(Some(&canonical)).is_some();
            let by_journal = journal.as_ref().is_some_and(|j| {
                j.items()
                    .iter()
                    .any(|i| matches!(&i.id, ItemId::Sysctl { key } if *key == rule.key))
            });
            let set_by = if by_journal {
                "nettune journal".to_owned()
            } else {
                sysctld
                    .as_ref()
                    .and_then(|d| d.origin(sys, &rule.key).ok().flatten())
                    .map_or_else(|| "unknown".to_owned(), |o| o.to_string())
            };
            drift
                .series(labels([
                    ("key", &name),
                    ("actual", actual),
                    ("desired", &rule.want.to_string()),
                    ("set_by", &set_by),
                ]))
                .set(if differs { 1.0 } else { 0.0 });
        }
    }

    fn export_tune(&self, m: &mut Metrics) {
        let Some(j) = &self.tune_journal else { return };
        let Ok(history) = crate::tune::Tuner::history(j) else {
            return;
        };
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut advised: BTreeMap<String, &crate::tune::Decision> = BTreeMap::new();
        for d in &history {
            let verdict = serde_json::to_value(d.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            *counts.entry(verdict).or_default() += 1;
            match d.verdict {
                crate::tune::Verdict::Advised => {
                    advised.insert(d.id.clone(), d);
                }
                crate::tune::Verdict::Applied => {
                    advised.remove(&d.id);
                }
                _ => {}
            }
        }
        let total = m.counter(
            "tune_decisions",
            "Decisions of nettune tune, by verdict (applied, kept, rolled_back, refused, yielded, advised)",
        );
        for (verdict, n) in counts {
            total.series(labels([("verdict", &verdict)])).inc_by(n);
        }
        let advice = m.gauge(
            "tune_advice",
            "Changes nettune tune --advise-only proposed, by stable id, for approval",
        );
        for (id, d) in advised {
            advice
                .series(labels([
                    ("id", &id),
                    ("rule", &d.rule),
                    ("knob", &d.knob),
                    ("proposed", d.to.as_deref().unwrap_or_default()),
                ]))
                .set(1.0);
        }
    }

    fn export_nics(&mut self, m: &mut Metrics, sample: &Sample) {
        // The interfaces /proc/net/dev listed in the sample (no thread hop into the
        // namespace), or the kernel's list when that file could not be read.
        let listed: Vec<IfName> = sample
            .matching("nic.*.rx_bytes")
            .iter()
            .filter_map(|(n, _)| IfName::new(n.split('.').nth(1)?).ok())
            .collect();
        let names = if listed.is_empty() {
            match Nic::list_in(self.target.netns()) {
                Ok(n) => n,
                Err(_) => return,
            }
        } else {
            listed
        };
        self.nics.retain(|n, _| names.contains(n));
        for name in &names {
            if !self.nics.contains_key(name) {
                if let Ok(nic) = Nic::open_in(self.target.netns(), name.as_str()) {
                    self.nics.insert(name.clone(), nic);
                }
            }
        }
        let ring = m.gauge("nic_ring", "Ring sizes: current and the driver's maximum");
        let coalesce = m.gauge("nic_coalesce", "Interrupt coalescing fields");
        let channels = m.gauge("nic_channels", "Queue counts: current and maximum");
        let feature = m.gauge(
            "nic_feature",
            "Whether an offload feature is on (1) or off (0)",
        );
        for (name, nic) in &self.nics {
            let iface = name.as_str();
            if let Ok(r) = nic.rings() {
                for (field, cur, max) in [
                    ("rx", r.rx, r.rx_max),
                    ("rx_mini", r.rx_mini, r.rx_mini_max),
                    ("rx_jumbo", r.rx_jumbo, r.rx_jumbo_max),
                    ("tx", r.tx, r.tx_max),
                ] {
                    for (kind, v) in [("current", cur), ("max", max)] {
                        ring.series(labels([("iface", iface), ("ring", field), ("kind", kind)]))
                            .set(f64::from(v));
                    }
                }
            }
            if let Ok(c) = nic.coalesce() {
                for (field, v) in c.fields() {
                    coalesce
                        .series(labels([("iface", iface), ("field", field)]))
                        .set(f64::from(v));
                }
            }
            if let Ok(c) = nic.channels() {
                for (channel, cur, max) in [
                    ("rx", c.rx, c.max_rx),
                    ("tx", c.tx, c.max_tx),
                    ("other", c.other, c.max_other),
                    ("combined", c.combined, c.max_combined),
                ] {
                    for (kind, v) in [("current", cur), ("max", max)] {
                        channels
                            .series(labels([
                                ("iface", iface),
                                ("channel", channel),
                                ("kind", kind),
                            ]))
                            .set(f64::from(v));
                    }
                }
            }
            if let Ok(features) = nic.features() {
                for f in features.iter() {
                    feature
                        .series(labels([
                            ("iface", iface),
                            ("feature", f.name),
                            ("fixed", if f.fixed { "true" } else { "false" }),
                        ]))
                        .set(if f.active { 1.0 } else { 0.0 });
                }
            }
        }
    }

    fn export_agent(&self, m: &mut Metrics) {
        let Some(shared) = &self.agent else { return };
        let s = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let state = m.gauge(
            "agent_state",
            "1 for the agent's state (waiting, applied, removed, failed, not_matched), 0 for the others",
        );
        for st in [
            AgentState::Waiting,
            AgentState::Applied,
            AgentState::Removed,
            AgentState::Failed,
            AgentState::NotMatched,
        ] {
            state
                .series(labels([("state", st.as_str())]))
                .set(f64::from(u8::from(s.state == st)));
        }
        if let Some(p) = &s.profile {
            let hash = s.profile_hash.as_deref().unwrap_or("");
            m.gauge("agent_profile_info", "The profile the agent applied")
                .series(labels([("profile", p.as_str()), ("hash", hash)]))
                .set(1.0);
        }
        if let Some(g) = s.generation {
            m.gauge("agent_generation", "The agent journal's generation")
                .series(Vec::new())
                .set(f64::from(g));
        }
        if let Some(d) = s.drift {
            m.gauge(
                "agent_drift_items",
                "Items that differed from the profile at the agent's last verify",
            )
            .series(Vec::new())
            .set(d as f64);
        }
        m.gauge(
            "agent_last_error",
            "1 while the agent's last transition failed (its status file has the error)",
        )
        .series(Vec::new())
        .set(f64::from(u8::from(s.last_error.is_some())));
        if let Some(t) = s.last_transition {
            m.gauge(
                "agent_last_transition_timestamp_seconds",
                "When the agent's state last changed",
            )
            .series(Vec::new())
            .set(t as f64);
        }
        let transitions = m.counter(
            "agent_transitions",
            "The agent's transitions by kind (applied, adopted, recovered, rolled_back, not_matched, drift, invalid_profile, failed)",
        );
        for (kind, n) in &s.transitions {
            transitions.series(labels([("kind", kind)])).inc_by(*n);
        }
    }

    /// Writes one scrape to `path` for node_exporter's textfile collector (its directory,
    /// a name ending in `.prom`), atomically: the collector never reads half a file.
    ///
    /// # Errors
    ///
    /// When the file cannot be written (the old one is left as it was).
    pub fn write_textfile(&mut self, path: &Path) -> io::Result<()> {
        let text = self.scrape();
        nettune_core::files::write_atomic(path, text.as_bytes(), 0o644)
    }

    /// Serves `GET /metrics` on `listener`, one connection at a time, until accepting
    /// fails for good. Other paths get 404, other methods 405; a client that sends
    /// nothing for 10 seconds is dropped.
    ///
    /// # Errors
    ///
    /// When the listener fails (a transient error such as a connection reset or too many
    /// open files is skipped).
    pub fn serve(&mut self, listener: &TcpListener) -> io::Result<()> {
        for conn in listener.incoming() {
            match conn {
                Ok(mut stream) => {
                    let _ = self.answer(&mut stream);
                }
                Err(e) if transient(&e) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn answer(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
            if head.len() > 16 * 1024 {
                return respond(
                    stream,
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    "",
                );
            }
        }
        let line = String::from_utf8_lossy(&head);
        let mut parts = line.lines().next().unwrap_or_default().split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let path = path.split('?').next().unwrap_or_default();
        match (method, path) {
            ("GET", "/metrics") => {
                let body = self.scrape();
                respond(
                    stream,
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    &body,
                )
            }
            ("GET", "/") => respond(
                stream,
                "200 OK",
                "text/plain; charset=utf-8",
                "nettune exporter: metrics at /metrics\n",
            ),
            ("GET" | "HEAD", _) => respond(stream, "404 Not Found", "text/plain", "not found\n"),
            _ => respond(stream, "405 Method Not Allowed", "text/plain", "GET only\n"),
        }
    }
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_emits_only_defined_metrics_with_their_types() {
        let target = Target::current().expect("target");
        let mut e = Exporter::new(target).with_profile(Profile::low_latency());
        let text = e.scrape();
        let text = text + &e.scrape();
        let mut seen = 0;
        for l in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let (name, kind) = l.split_once(' ').expect("type line");
            assert!(METRICS.contains(&(name, kind)), "{l}");
            seen += 1;
        }
        assert!(seen >= 10, "{text}");
        // Every series once per scrape: Prometheus refuses a scrape with duplicates.
        let one = e.scrape();
        let mut series: Vec<&str> = one
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').map_or(l, |(s, _)| s))
            .collect();
        let n = series.len();
        series.sort_unstable();
        series.dedup();
        assert_eq!(series.len(), n, "duplicate series");
    }

    #[test]
    fn counters_are_typed_under_their_sample_names_and_eof_is_dropped() {
        let mut m = Metrics::new();
        m.counter("signal", "a counter")
            .series(labels([("signal", "TcpExt.X")]))
            .inc_by(3);
        m.gauge("scrape_duration_seconds", "a gauge")
            .series(Vec::new())
            .set(1.5);
        let text = m.encode();
        assert!(
            text.contains("# TYPE nettune_signal_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP nettune_signal_total a counter\n"),
            "{text}"
        );
        assert!(
            text.contains("nettune_signal_total{signal=\"TcpExt.X\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE nettune_scrape_duration_seconds gauge\n"),
            "{text}"
        );
        assert!(
            text.contains("nettune_scrape_duration_seconds 1.5\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }
}

//! [`Tuner`]: a guarded closed loop. Every interval it samples the [signals](crate::signals)
//! as rates, runs the [diagnosis] rules (and the profile's own
//! `[[tune.rule]]`s), and takes the advice of one rule that fires as a candidate change.
//! The candidate goes through the guard rails — the operator's floors and ceilings, a
//! step of at most `max_factor` times the live value, a cooldown per knob, a ceiling on
//! changes per hour, the kernel's limits and the rules between knobs, and never a knob
//! someone else changed since the loop last wrote it — and is then applied as its own
//! transaction on the loop's journal (the first apply's baseline is kept, so
//! `nettune rollback JOURNAL` always returns to the state before the loop, from any
//! point: a kill included). After a canary window the rule's signal and the guard signals
//! are compared with the window before the change: the change is kept when the signal
//! fell by at least a quarter, the guard signals did not rise by more than half, and the
//! mean RTT of the established TCP sockets (sock_diag) did not rise by more than half and
//! a millisecond; otherwise it is rolled
//! back (the previous value applied again), and the same change is not tried again
//! within the hour. Every decision is a [`Decision`], appended
//! as a JSON line to the history file beside the journal (`JOURNAL.history`).
//!
//! ```no_run
//! use nettune::tune::{TuneConfig, Tuner};
//! let target = nettune::Target::open("edge")?;
//! let profile = nettune::Profile::load("/etc/nettune/tune.toml")?;
//! let mut tuner = Tuner::new(target, TuneConfig::from_profile(&profile)?, "/var/lib/nettune/tune.journal");
//! tuner.run_until(|| false, |d| println!("{}", serde_json::to_string(d).unwrap_or_default()))?;
//! # Ok::<(), nettune::Error>(())
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use nettune_sysctl::Key;
use nettune_sysctl::knobs::canonical_lenient;
use serde::{Deserialize, Serialize};

use crate::Target;
use crate::diagnosis;
use crate::error::{Error, Result};
use crate::journal::ApplyOptions;
use crate::profile::{KnobBounds, Profile, SysctlRule, TuneRule, TuneSettings, Want};
use crate::signals::{Rates, Sample, Sampler};

/// Parses a duration as profiles and the command write it: `500ms`, `30s`, `5m`, `150us`.
///
/// # Errors
///
/// The reason, when there is no unit, no number, or it is not above zero.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim().to_ascii_lowercase();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        return Err(format!("{text}: give a unit: us, ms, s or m"));
    };
    let v: f64 = num.parse().map_err(|_| format!("{text}: not a number"))?;
    if !(v.is_finite() && v > 0.0 && v < 1e6) {
        return Err(format!("{text}: must be above zero and below 1e6"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// Checks a `[tune]` section (durations, keys, bounds).
pub(crate) fn check_settings(t: &TuneSettings) -> std::result::Result<(), String> {
    for (what, d) in [
        ("interval", &t.interval),
        ("canary", &t.canary),
        ("cooldown", &t.cooldown),
    ] {
        if let Some(d) = d {
            parse_duration(d).map_err(|e| format!("{what} {e}"))?;
        }
    }
    if t.max_factor.is_some_and(|f| f < 2) {
        return Err("max_factor must be at least 2".into());
    }
    for (k, b) in &t.bounds {
        Key::new(k).map_err(|e| format!("bounds: {}", crate::error::report(&e)))?;
        if let (Some(f), Some(c)) = (b.floor, b.ceiling) {
            if f > c {
                return Err(format!("bounds {k}: floor {f} is above ceiling {c}"));
            }
        }
    }
    for r in &t.rule {
        Key::new(&r.knob).map_err(|e| format!("rule {}: {}", r.id, crate::error::report(&e)))?;
        if r.id.is_empty() || r.signal.is_empty() {
            return Err("a rule needs an id and a signal".into());
        }
    }
    Ok(())
}

/// The loop's settings, resolved from a profile's `[tune]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuneConfig {
    /// How often the loop samples (default 30 s).
    pub interval: Duration,
    /// How long a change runs before its verdict (default: the interval).
    pub canary: Duration,
    /// The least time between two changes of one knob (default 5 minutes).
    pub cooldown: Duration,
    /// The most one change multiplies a value by (default 2).
    pub max_factor: u32,
    /// The most changes per hour, over all knobs (default 6).
    pub max_changes_per_hour: u32,
    /// The operator's floor and ceiling per knob.
    pub bounds: BTreeMap<String, KnobBounds>,
    /// Signals that must not grow after a change.
    pub guard: Vec<String>,
    /// The operator's own rules.
    pub rules: Vec<TuneRule>,
    /// Write nothing: decide, and report the change as advice.
    pub advise_only: bool,
}

/// The guard signals when a profile names none: retransmits and discards.
pub const DEFAULT_GUARD: [&str; 3] = ["Tcp.RetransSegs", "Ip.InDiscards", "Tcp.InErrs"];

impl TuneConfig {
    /// The settings of `profile`'s `[tune]` section, with the defaults where it is silent.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] for a malformed duration.
    pub fn from_profile(profile: &Profile) -> Result<Self> {
        let t = profile.tune().cloned().unwrap_or_default();
        let d = |v: &Option<String>, default: Duration| -> Result<Duration> {
            v.as_deref().map_or(Ok(default), |s| {
                parse_duration(s).map_err(|e| Error::profile(profile.name(), format!("[tune] {e}")))
            })
        };
        let interval = d(&t.interval, Duration::from_secs(30))?;
        Ok(Self {
            interval,
            canary: d(&t.canary, interval)?,
            cooldown: d(&t.cooldown, Duration::from_secs(300))?,
            max_factor: t.max_factor.unwrap_or(2).max(2),
            max_changes_per_hour: t.max_changes_per_hour.unwrap_or(6),
            bounds: t.bounds,
            guard: if t.guard.is_empty() {
                DEFAULT_GUARD.map(str::to_owned).to_vec()
            } else {
                t.guard
            },
            rules: t.rule,
            advise_only: false,
        })
    }
}

/// What the loop decided about one candidate change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Advice only: the change the loop would make (nothing written).
    Advised,
    /// Applied; its canary window runs.
    Applied,
    /// The canary showed it helps: kept.
    Kept,
    /// The canary showed it does not help (or harms): the previous value is back.
    RolledBack,
    /// A guard rail refused it (the reason says which).
    Refused,
    /// Someone else changed the knob since the loop wrote it: the loop leaves it alone
    /// from now on.
    Yielded,
}

/// One decision, as the history file and the log keep it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Seconds since the epoch.
    pub at: u64,
    /// A stable id of the change: `RULE:KNOB:VALUE`.
    pub id: String,
    /// What was decided.
    pub verdict: Verdict,
    /// The rule that fired.
    pub rule: String,
    /// The knob (a sysctl key).
    pub knob: String,
    /// Its value before.
    pub from: Option<String>,
    /// The value proposed or written.
    pub to: Option<String>,
    /// Why, in words, with the numbers.
    pub reason: String,
    /// The rule's signals per second over the window the decision read.
    pub signal_per_second: f64,
    /// The guard signals per second over that window.
    pub guard_per_second: f64,
}

/// A knob the loop has written.
#[derive(Debug, Clone, Default)]
struct KnobState {
    written: Option<String>,
    changed_at: Option<Instant>,
    yielded: bool,
}

/// A change in its canary window.
#[derive(Debug, Clone)]
struct Canary {
    id: String,
    rule: String,
    knob: String,
    from: String,
    to: String,
    signals: Vec<String>,
    before_signal: f64,
    before_guard: f64,
    start: Sample,
    started: Instant,
}

/// A candidate: a rule that fired and what it reads and proposes.
struct Candidate {
    rule: String,
    signals: Vec<String>,
    knob: String,
    proposed: String,
    signal_rate: f64,
}

/// The loop: see the [module documentation](self).
#[derive(Debug)]
pub struct Tuner {
    target: Target,
    config: TuneConfig,
    journal: PathBuf,
    history: PathBuf,
    options: ApplyOptions,
    sampler: Sampler,
    prev: Option<Sample>,
    knobs: BTreeMap<String, KnobState>,
    changes: Vec<Instant>,
    canary: Option<Canary>,
    refused: BTreeMap<String, String>,
    failed: BTreeMap<String, Instant>,
    advised: std::collections::BTreeSet<String>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn rate_of(rates: &Rates, patterns: &[String]) -> f64 {
    patterns
        .iter()
        .flat_map(|p| rates.matching(p))
        .map(|(_, r)| r.per_second)
        .sum()
}

impl Tuner {
    /// A loop over `target`, journaling to `journal` (history in `JOURNAL.history`).
    pub fn new(target: Target, config: TuneConfig, journal: impl Into<PathBuf>) -> Self {
        let journal = journal.into();
        let mut history = journal.clone().into_os_string();
        history.push(".history");
        let sampler = Sampler::new(&target).with_tcp_rtt();
        Self {
            target,
            config,
            journal,
            history: PathBuf::from(history),
            options: ApplyOptions::new(),
            sampler,
            prev: None,
            knobs: BTreeMap::new(),
            changes: Vec::new(),
            canary: None,
            refused: BTreeMap::new(),
            failed: BTreeMap::new(),
            advised: std::collections::BTreeSet::new(),
        }
    }

    /// The options of each apply (the lock directory, waiting).
    #[must_use]
    pub fn with_apply_options(mut self, options: ApplyOptions) -> Self {
        self.options = options;
        self
    }

    /// The journal every change goes to.
    pub fn journal(&self) -> &Path {
        &self.journal
    }

    /// The history file.
    pub fn history_path(&self) -> &Path {
        &self.history
    }

    /// The decisions recorded in the history file beside `journal`, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::File`] when it cannot be read; a line that does not parse is an error
    /// naming its number.
    pub fn history(journal: &Path) -> Result<Vec<Decision>> {
        let mut path = journal.as_os_str().to_owned();
        path.push(".history");
        let path = PathBuf::from(path);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::file("read", path.clone(), e)),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    Error::profile(&path.display().to_string(), format!("line {}: {e}", i + 1))
                })
            })
            .collect()
    }

    /// Runs [`Tuner::step`] every interval until `stop` says so (checked every 100 ms),
    /// calling `each` for every decision.
    ///
    /// # Errors
    ///
    /// As [`Tuner::step`].
    pub fn run_until(
        &mut self,
        stop: impl Fn() -> bool,
        mut each: impl FnMut(&Decision),
    ) -> Result<()> {
        while !stop() {
            for d in self.step()? {
                each(&d);
            }
            let until = Instant::now() + self.config.interval;
            while Instant::now() < until && !stop() {
                std::thread::sleep(
                    until
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(100)),
                );
            }
        }
        Ok(())
    }

    /// One interval's work: samples, notices knobs changed by others, judges the change in
    /// its canary window when the window is over, or else takes one candidate through the
    /// guard rails. The first call only takes the first sample.
    ///
    /// # Errors
    ///
    /// When the history cannot be written. A change the kernel or the journal refuses
    /// is a [`Verdict::Refused`] decision, not an error.
    pub fn step(&mut self) -> Result<Vec<Decision>> {
        let now = self.sampler.sample();
        let Some(prev) = self.prev.replace(now.clone()) else {
            return Ok(Vec::new());
        };
        let rates = Rates::between(&prev, &now);
        let mut out = self.notice_yields(&rates);
        if let Some(c) = self.canary.clone() {
            if c.started.elapsed() >= self.config.canary {
                out.push(self.judge(&c, &now));
                self.canary = None;
            }
        } else {
            out.extend(self.consider(&rates));
        }
        for d in &out {
            self.record(d)?;
        }
        Ok(out)
    }

    fn live(&self, knob: &str) -> Option<String> {
        let key = Key::new(knob).ok()?;
        let v = self.target.sysctl().read_raw(&key).ok()?;
        Some(canonical_lenient(&key, &v))
    }

    /// A decision about candidate `c`, whose knob was `from` before it.
    fn decision(
        verdict: Verdict,
        c: &Candidate,
        from: Option<String>,
        to: Option<&str>,
        reason: String,
        guard: f64,
    ) -> Decision {
        let to = to.map(str::to_owned);
        Decision {
            at: now_secs(),
            id: format!("{}:{}:{}", c.rule, c.knob, to.as_deref().unwrap_or("-")),
            verdict,
            rule: c.rule.clone(),
            knob: c.knob.clone(),
            from,
            to,
            reason,
            signal_per_second: c.signal_rate,
            guard_per_second: guard,
        }
    }

    /// Knobs the loop wrote whose live value is no longer what it wrote.
    fn notice_yields(&mut self, rates: &Rates) -> Vec<Decision> {
        let mut out = Vec::new();
        let guard = rate_of(rates, &self.config.guard);
        let written: Vec<(String, String)> = self
            .knobs
            .iter()
            .filter(|(_, s)| !s.yielded)
            .filter_map(|(k, s)| Some((k.clone(), s.written.clone()?)))
            .collect();
        for (knob, ours) in written {
            let live = self.live(&knob);
            if live.as_deref() == Some(ours.as_str()) {
                continue;
            }
            if let Some(s) = self.knobs.get_mut(&knob) {
                s.yielded = true;
            }
            let rule = match &self.canary {
                Some(c) if c.knob == knob => {
                    let r = c.rule.clone();
                    self.canary = None;
                    r
                }
                _ => "-".to_owned(),
            };
            out.push(Decision {
                at: now_secs(),
                id: format!("{rule}:{knob}:-"),
                verdict: Verdict::Yielded,
                rule,
                knob: knob.clone(),
                from: Some(ours.clone()),
                to: live.clone(),
                reason: format!(
                    "{knob} is {} now, not the {ours} the loop wrote: someone else changed it, so the loop leaves it alone from now on",
                    live.as_deref().unwrap_or("unreadable")
                ),
                signal_per_second: 0.0,
                guard_per_second: guard,
            });
        }
        out
    }

    /// The first candidate that passes the guard rails is applied (or advised). A refusal
    /// is reported when it is new for its rule and knob (a different guard rail than the
    /// one reported last), so that a knob held at its ceiling does not fill the log.
    fn consider(&mut self, rates: &Rates) -> Vec<Decision> {
        let guard = rate_of(rates, &self.config.guard);
        let mut out = Vec::new();
        for c in self.candidates(rates) {
            match self.guard_rails(&c) {
                Ok((from, to)) => {
                    // Advice is given once per distinct change.
                    let id = format!("{}:{}:{to}", c.rule, c.knob);
                    if self.config.advise_only && !self.advised.insert(id) {
                        continue;
                    }
                    out.push(self.change(c, (from, to), rates, guard));
                    break;
                }
                Err((rail, reason)) => {
                    let key = format!("{}:{}", c.rule, c.knob);
                    if self.refused.get(&key).map(String::as_str) != Some(rail) {
                        self.refused.insert(key, rail.to_owned());
                        let from = self.live(&c.knob);
                        out.push(Self::decision(
                            Verdict::Refused,
                            &c,
                            from,
                            None,
                            reason,
                            guard,
                        ));
                    }
                }
            }
        }
        out
    }

    fn candidates(&self, rates: &Rates) -> Vec<Candidate> {
        let mut out = Vec::new();
        for d in diagnosis::diagnose(&self.target, Some(rates), rates.latest()) {
            let Some(p) = &d.advice else { continue };
            let rule = diagnosis::RULES.iter().find(|r| r.id == d.rule);
            let signals: Vec<String> = rule
                .map(|r| r.signals.iter().map(|s| (*s).to_owned()).collect())
                .unwrap_or_default();
            if signals.is_empty() {
                continue; // rules on the configuration alone are for a human
            }
            let signal_rate = rate_of(rates, &signals);
            for r in p.sysctls() {
                out.push(Candidate {
                    rule: d.rule.to_owned(),
                    signals: signals.clone(),
                    knob: r.key.to_string(),
                    proposed: r.want.value().to_owned(),
                    signal_rate,
                });
            }
        }
        for r in &self.config.rules {
            let signals = vec![r.signal.clone()];
            let grew = signals
                .iter()
                .flat_map(|p| rates.matching(p))
                .any(|(_, r)| r.delta > 0);
            if !grew {
                continue;
            }
            let Some(live) = self.live(&r.knob) else {
                continue;
            };
            let proposed = live
                .split(' ')
                .map(|f| {
                    f.parse::<u64>().map_or_else(
                        |_| f.to_owned(),
                        |v| {
                            v.saturating_mul(u64::from(self.config.max_factor))
                                .to_string()
                        },
                    )
                })
                .collect::<Vec<_>>()
                .join(" ");
            out.push(Candidate {
                rule: r.id.clone(),
                signal_rate: rate_of(rates, &signals),
                signals,
                knob: r.knob.clone(),
                proposed,
            });
        }
        out
    }

    /// The live value and the value to write, or which guard rail refused and why.
    fn guard_rails(
        &self,
        c: &Candidate,
    ) -> std::result::Result<(String, String), (&'static str, String)> {
        let state = self.knobs.get(&c.knob);
        if state.is_some_and(|s| s.yielded) {
            return Err((
                "yielded",
                format!("{} was changed by someone else: left alone", c.knob),
            ));
        }
        if let Some(at) = state.and_then(|s| s.changed_at) {
            if at.elapsed() < self.config.cooldown {
                return Err((
                    "cooldown",
                    format!(
                        "{} changed {}s ago; its cooldown is {}s",
                        c.knob,
                        at.elapsed().as_secs(),
                        self.config.cooldown.as_secs()
                    ),
                ));
            }
        }
        let hour = Duration::from_secs(3600);
        let recent = self.changes.iter().filter(|t| t.elapsed() < hour).count();
        if recent >= self.config.max_changes_per_hour as usize {
            return Err((
                "rate",
                format!(
                    "{recent} changes in the last hour: the limit is {}",
                    self.config.max_changes_per_hour
                ),
            ));
        }
        let live = self
            .live(&c.knob)
            .ok_or_else(|| ("unreadable", format!("{} cannot be read here", c.knob)))?;
        let bounds = self.config.bounds.get(&c.knob).copied().unwrap_or_default();
        let factor = u64::from(self.config.max_factor);
        let mut fields = Vec::new();
        let mut at_ceiling = false;
        for (l, p) in live.split(' ').zip(c.proposed.split(' ')) {
            let (Ok(l), Ok(p)) = (l.parse::<u64>(), p.parse::<u64>()) else {
                return Err((
                    "numeric",
                    format!("{} is not numeric: the loop only raises numbers", c.knob),
                ));
            };
            let mut v = p
                .max(l)
                .min(l.saturating_mul(factor).max(1))
                .min(i32::MAX as u64);
            if let Some(f) = bounds.floor {
                v = v.max(f);
            }
            if let Some(ceil) = bounds.ceiling {
                if v > ceil {
                    v = ceil.max(l.min(ceil));
                    at_ceiling = true;
                }
            }
            fields.push(v);
        }
        let to = fields
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        if to == live {
            return Err(if at_ceiling {
                (
                    "ceiling",
                    format!(
                        "{} is at the operator's ceiling {}: rule {} still fires ({:.1}/s) and the loop stops here",
                        c.knob,
                        bounds.ceiling.unwrap_or_default(),
                        c.rule,
                        c.signal_rate
                    ),
                )
            } else {
                ("already", format!("{} is already {live}", c.knob))
            });
        }
        let id = format!("{}:{}:{to}", c.rule, c.knob);
        if let Some(at) = self.failed.get(&id) {
            if at.elapsed() < hour {
                return Err((
                    "retried",
                    format!(
                        "{} -> {to} was rolled back {}s ago: not tried again within the hour",
                        c.knob,
                        at.elapsed().as_secs()
                    ),
                ));
            }
        }
        self.linked(&c.knob, &fields).map_err(|e| ("linked", e))?;
        if let Some(why) = Key::new(&c.knob)
            .ok()
            .and_then(|k| self.target.sysctl().refusal(&k, &to))
        {
            return Err(("kernel", format!("{}: {why}", c.knob)));
        }
        Ok((live, to))
    }

    /// The rules between knobs the kernel does not enforce itself.
    fn linked(&self, knob: &str, fields: &[u64]) -> std::result::Result<(), String> {
        let num = |k: &str| {
            self.live(k)
                .and_then(|v| v.split(' ').next_back()?.parse::<u64>().ok())
        };
        match knob {
            "net.ipv4.tcp_rmem" | "net.ipv4.tcp_wmem" => {
                let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
                    .ok()
                    .flatten()
                    .and_then(|p| u64::try_from(p).ok())
                    .unwrap_or(4096);
                if let (Some(max), Some(hard)) = (fields.get(2), num("net.ipv4.tcp_mem")) {
                    let budget = hard.saturating_mul(page) / 2;
                    if *max > budget {
                        return Err(format!(
                            "{knob} max {max} would exceed half of tcp_mem's hard limit ({budget} bytes)"
                        ));
                    }
                }
            }
            "net.core.rmem_default" => {
                if let (Some(v), Some(max)) = (fields.first(), num("net.core.rmem_max")) {
                    if *v > max {
                        return Err(format!(
                            "rmem_default {v} would be above rmem_max {max}: raise rmem_max first"
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies (or, in advice mode, proposes) `from -> to` for candidate `c`, and starts
    /// its canary window.
    fn change(
        &mut self,
        c: Candidate,
        (from, to): (String, String),
        rates: &Rates,
        guard: f64,
    ) -> Decision {
        if self.config.advise_only {
            let reason = format!(
                "rule {} fires ({:.1}/s): {} from {from} to {to} (advice only: nothing written)",
                c.rule, c.signal_rate, c.knob
            );
            return Self::decision(Verdict::Advised, &c, Some(from), Some(&to), reason, guard);
        }
        let why = format!(
            "nettune tune: rule {} fired at {:.1}/s",
            c.rule, c.signal_rate
        );
        if let Err(e) = self.write(&c.knob, &to, &why) {
            let reason = crate::error::report(&e);
            return Self::decision(Verdict::Refused, &c, Some(from), Some(&to), reason, guard);
        }
        let reason = format!(
            "rule {} fired at {:.1}/s: {} {from} -> {to}; verdict after {}s",
            c.rule,
            c.signal_rate,
            c.knob,
            self.config.canary.as_secs_f64()
        );
        let d = Self::decision(
            Verdict::Applied,
            &c,
            Some(from.clone()),
            Some(&to),
            reason,
            guard,
        );
        self.changes.push(Instant::now());
        self.canary = Some(Canary {
            id: d.id.clone(),
            rule: c.rule,
            knob: c.knob,
            from,
            to,
            signals: c.signals,
            before_signal: c.signal_rate,
            before_guard: guard,
            start: rates.latest().clone(),
            started: Instant::now(),
        });
        d
    }

    fn write(&mut self, knob: &str, value: &str, why: &str) -> Result<()> {
        let mut p = Profile::new("tune");
        p.push_sysctl(SysctlRule {
            key: Key::new(knob)?,
            want: Want::Exact(value.to_owned()),
            why: why.to_owned(),
            optional: false,
        });
        p.plan(&self.target)?
            .apply_with(&self.journal, &self.options)?;
        let s = self.knobs.entry(knob.to_owned()).or_default();
        s.written = Some(value.to_owned());
        s.changed_at = Some(Instant::now());
        Ok(())
    }

    fn judge(&mut self, c: &Canary, now: &Sample) -> Decision {
        let window = Rates::between(&c.start, now);
        let after = rate_of(&window, &c.signals);
        let guard = rate_of(&window, &self.config.guard);
        // Better is a fall by at least a quarter: noise in a steady load is not a gain.
        let better = after <= c.before_signal * 0.75;
        let rtt = |s: &Sample| {
            s.gauge("tcp.established")
                .filter(|n| *n > 0)
                .and(s.gauge("tcp.srtt_us_mean"))
        };
        // The mean RTT of the established sockets (sock_diag) must not grow by more than
        // half and a millisecond.
        let rtt_rose = match (rtt(&c.start), rtt(now)) {
            (Some(b), Some(a)) if a > b + b / 2 + 1000 => Some((b, a)),
            _ => None,
        };
        let guard_ok = guard <= c.before_guard * 1.5 + 1.0 && rtt_rose.is_none();
        let base = Decision {
            at: now_secs(),
            id: c.id.clone(),
            verdict: Verdict::Kept,
            rule: c.rule.clone(),
            knob: c.knob.clone(),
            from: Some(c.from.clone()),
            to: Some(c.to.clone()),
            reason: String::new(),
            signal_per_second: after,
            guard_per_second: guard,
        };
        if better && guard_ok {
            return Decision {
                reason: format!(
                    "kept: the rule's signal fell from {:.1}/s to {after:.1}/s, the guard signals went from {:.1}/s to {guard:.1}/s",
                    c.before_signal, c.before_guard
                ),
                ..base
            };
        }
        let why = if let (true, Some((b, a))) = (better, rtt_rose) {
            format!("the established sockets' mean RTT rose from {b}us to {a}us")
        } else if better {
            format!(
                "the guard signals rose from {:.1}/s to {guard:.1}/s",
                c.before_guard
            )
        } else {
            format!(
                "the rule's signal did not fall ({:.1}/s before, {after:.1}/s after)",
                c.before_signal
            )
        };
        self.failed.insert(c.id.clone(), Instant::now());
        match self.write(
            &c.knob,
            &c.from,
            &format!("nettune tune: {} rolled back", c.id),
        ) {
            Ok(()) => Decision {
                verdict: Verdict::RolledBack,
                reason: format!("rolled back to {}: {why}", c.from),
                ..base
            },
            Err(e) => Decision {
                verdict: Verdict::Refused,
                reason: format!(
                    "{why}, but putting {} back failed: {}",
                    c.from,
                    crate::error::report(&e)
                ),
                ..base
            },
        }
    }

    /// Appends a decision to the history file (synced).
    fn record(&self, d: &Decision) -> Result<()> {
        let line =
            serde_json::to_string(d).map_err(|e| Error::profile("history", e.to_string()))?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.history)?;
            f.write_all(format!("{line}\n").as_bytes())?;
            f.sync_data()
        };
        write().map_err(|e| Error::file("write", self.history.clone(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_settings_are_checked() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("-1s").is_err());
        let mut t = TuneSettings {
            interval: Some("1s".into()),
            ..TuneSettings::default()
        };
        assert!(check_settings(&t).is_ok());
        t.max_factor = Some(1);
        assert!(check_settings(&t).unwrap_err().contains("max_factor"));
        t.max_factor = None;
        t.bounds.insert(
            "net.core.somaxconn".into(),
            KnobBounds {
                floor: Some(10),
                ceiling: Some(5),
            },
        );
        assert!(check_settings(&t).unwrap_err().contains("above ceiling"));
        let p = Profile::from_toml(
            "t",
            "[tune]\ninterval = \"2s\"\nmax_factor = 4\n[tune.bounds]\n\"net.ipv4.tcp_max_tw_buckets\" = { ceiling = 64 }\n",
        )
        .expect("profile");
        let c = TuneConfig::from_profile(&p).expect("config");
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(c.canary, Duration::from_secs(2));
        assert_eq!(c.max_factor, 4);
        assert_eq!(c.bounds["net.ipv4.tcp_max_tw_buckets"].ceiling, Some(64));
        assert_eq!(c.guard, DEFAULT_GUARD.map(str::to_owned).to_vec());
        assert!(Profile::from_toml("t", "[tune]\ninterval = \"soon\"\n").is_err());
        assert!(Profile::from_toml("t", "[tune]\nunknown = 1\n").is_err());
        // The section survives a round trip through TOML.
        assert_eq!(
            Profile::from_toml("t", &p.to_toml()).expect("again").tune(),
            p.tune()
        );
    }
}

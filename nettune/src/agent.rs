//! [`Agent`]: keeps one namespace tuned as a profile file says, for a node agent (a
//! Kubernetes DaemonSet mounting the profile from a ConfigMap, see `deploy/`).
//!
//! Each [`Agent::step`] reads the profile file and acts on what changed since the last step:
//!
//! | the file | the agent |
//! |---|---|
//! | appears, or its content changes | rolls back what it applied before (the journal's baseline), then plans and applies the new profile under the journal: the namespace holds exactly the new profile, never both |
//! | does not parse | changes nothing; the state is `failed` with the error, until the file changes |
//! | goes away | rolls back with the journal: every knob it set is back to its baseline |
//! | is unchanged | on every `verify_every`, plans the profile against the live state and publishes the drift (items that differ); it does not write |
//!
//! Every apply and rollback is the whole-host transaction ([`crate::Plan::apply_with`],
//! [`Journal::rollback`]): write-ahead journal, the namespace's lock, read back. An agent
//! started on a journal whose apply was interrupted recovers it first; one started on a
//! committed journal whose profile is the file's and that shows no drift adopts it without
//! writing anything (a restarted pod does not churn its node).
//!
//! [`Agent::status`] is what the agent knows ([`AgentStatus`], serialisable: the status
//! file), and the exporter publishes it ([`crate::Exporter::with_agent`]).
//!
//! ```no_run
//! use std::time::Duration;
//! let target = nettune::Target::current()?;
//! let options = nettune::agent::AgentOptions::new("/etc/nettune/profile.toml", "/var/lib/nettune/agent.journal");
//! let mut agent = nettune::agent::Agent::new(target, options);
//! loop {
//!     if let Some(t) = agent.step() {
//!         println!("{t}");
//!     }
//!     std::thread::sleep(Duration::from_secs(2));
//! }
//! # Ok::<(), nettune::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::report;
use crate::journal::{ApplyOptions, Journal};
use crate::plan::PlanOptions;
use crate::{Error, Profile, Target};

/// What an [`Agent`] reads and writes.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    profile_file: PathBuf,
    journal: PathBuf,
    verify_every: Duration,
    apply: ApplyOptions,
    strict: bool,
}

impl AgentOptions {
    /// The profile file to follow (TOML, or JSON by extension) and the journal to keep.
    /// Verifies every 60 seconds; items that cannot be set here are skipped (and named).
    pub fn new(profile_file: impl Into<PathBuf>, journal: impl Into<PathBuf>) -> Self {
        Self {
            profile_file: profile_file.into(),
            journal: journal.into(),
            verify_every: Duration::from_secs(60),
            apply: ApplyOptions::default(),
            strict: false,
        }
    }

    /// How often an unchanged profile is verified against the live state.
    #[must_use]
    pub fn verify_every(mut self, every: Duration) -> Self {
        self.verify_every = every;
        self
    }

    /// The lock options of every transaction.
    #[must_use]
    pub fn apply_options(mut self, options: ApplyOptions) -> Self {
        self.apply = options;
        self
    }

    /// Refuse a profile with items that cannot be set here (nothing is written).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The profile file.
    pub fn profile_file(&self) -> &Path {
        &self.profile_file
    }

    /// The journal.
    pub fn journal(&self) -> &Path {
        &self.journal
    }
}

/// Where the agent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentState {
    /// No profile file yet, and nothing applied.
    Waiting,
    /// The profile is applied (its drift is in [`AgentStatus::drift`]).
    Applied,
    /// The profile file went away and what was applied was rolled back.
    Removed,
    /// The last transition failed ([`AgentStatus::last_error`]); the namespace is as the
    /// failed transaction left it: unchanged, or rolled back.
    Failed,
    /// The profile's `[match]` does not hold on this host: nothing of it is applied
    /// ([`AgentStatus::mismatch`] says why).
    NotMatched,
}

impl AgentState {
    /// The state's name in the status file, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Applied => "applied",
            Self::Removed => "removed",
            Self::Failed => "failed",
            Self::NotMatched => "not_matched",
        }
    }
}

/// What an [`Agent`] knows: the status file's content, and the exporter's agent metrics.
#[derive(Debug, Clone, Serialize)]
pub struct AgentStatus {
    /// Where the agent stands.
    pub state: AgentState,
    /// The applied profile's name.
    pub profile: Option<String>,
    /// A hash of the applied profile file's bytes (hex), to compare nodes running one
    /// nettune build.
    pub profile_hash: Option<String>,
    /// The journal's generation (applies recorded since its baseline).
    pub generation: Option<u32>,
    /// Items that differ from the profile at the last verify.
    pub drift: Option<usize>,
    /// The names of those items.
    pub drift_items: Vec<String>,
    /// Items of the profile that cannot be set here and were left out.
    pub skipped: usize,
    /// The error of the last transition that failed, until one succeeds.
    pub last_error: Option<String>,
    /// When the state last changed (seconds since the epoch).
    pub last_transition: Option<u64>,
    /// When the live state was last verified (seconds since the epoch).
    pub last_verify: Option<u64>,
    /// Transitions so far by kind ([`Transition::kind`]).
    pub transitions: BTreeMap<&'static str, u64>,
    /// Why the profile is not for this host, in state `not_matched`.
    pub mismatch: Option<String>,
}

impl Default for AgentStatus {
    fn default() -> Self {
        Self {
            state: AgentState::Waiting,
            profile: None,
            profile_hash: None,
            generation: None,
            drift: None,
            drift_items: Vec::new(),
            skipped: 0,
            last_error: None,
            last_transition: None,
            last_verify: None,
            transitions: BTreeMap::new(),
            mismatch: None,
        }
    }
}

/// One thing an [`Agent::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transition {
    /// A profile was applied.
    Applied {
        /// Its name.
        profile: String,
        /// Items written.
        changes: usize,
        /// The journal's generation after it.
        generation: u32,
    },
    /// A committed journal of the same profile, without drift, was taken over as it was.
    Adopted {
        /// The profile's name.
        profile: String,
    },
    /// An interrupted apply found at start was recovered.
    Recovered {
        /// Items put back.
        restored: usize,
    },
    /// The profile file went away and what was applied was rolled back.
    RolledBack {
        /// Items put back.
        restored: usize,
        /// Items left alone because someone else changed them since.
        drift: usize,
    },
    /// The profile is not for this host (its `[match]` does not hold): nothing of it was
    /// applied (what an earlier profile set was rolled back).
    NotMatched {
        /// Its name.
        profile: String,
        /// Which condition does not hold.
        reason: String,
    },
    /// A verify found the drift changed.
    Drift {
        /// Items that differ from the profile now.
        items: usize,
    },
    /// The profile file could not be read or parsed; nothing was written.
    InvalidProfile {
        /// What was wrong.
        error: String,
    },
    /// A transaction failed (what it had written was put back).
    Failed {
        /// What failed.
        error: String,
    },
}

impl Transition {
    /// The transition's kind: `applied`, `adopted`, `recovered`, `rolled_back`,
    /// `not_matched`, `drift`, `invalid_profile` or `failed` (log field, status counts and
    /// metric label).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::Adopted { .. } => "adopted",
            Self::Recovered { .. } => "recovered",
            Self::RolledBack { .. } => "rolled_back",
            Self::Drift { .. } => "drift",
            Self::NotMatched { .. } => "not_matched",
            Self::InvalidProfile { .. } => "invalid_profile",
            Self::Failed { .. } => "failed",
        }
    }

    /// The transition as one JSON log record (`kind` plus its fields).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut v = match self {
            Self::Applied {
                profile,
                changes,
                generation,
            } => json!({ "profile": profile, "changes": changes, "generation": generation }),
            Self::Adopted { profile } => json!({ "profile": profile }),
            Self::Recovered { restored } => json!({ "restored": restored }),
            Self::RolledBack { restored, drift } => json!({ "restored": restored, "drift": drift }),
            Self::Drift { items } => json!({ "items": items }),
            Self::NotMatched { profile, reason } => json!({ "profile": profile, "reason": reason }),
            Self::InvalidProfile { error } | Self::Failed { error } => json!({ "error": error }),
        };
        v["kind"] = json!(self.kind());
        v
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Applied {
                profile,
                changes,
                generation,
            } => write!(
                f,
                "applied profile {profile}: {changes} change(s), generation {generation}"
            ),
            Self::Adopted { profile } => {
                write!(f, "profile {profile} already applied: taken over as it is")
            }
            Self::Recovered { restored } => {
                write!(
                    f,
                    "recovered an interrupted apply: {restored} item(s) put back"
                )
            }
            Self::RolledBack { restored, drift } => write!(
                f,
                "profile removed: rolled back, {restored} item(s) restored, {drift} changed by others left alone"
            ),
            Self::Drift { items } => write!(f, "{items} item(s) differ from the profile"),
            Self::NotMatched { profile, reason } => {
                write!(f, "profile {profile} is not for this host: {reason}")
            }
            Self::InvalidProfile { error } => write!(f, "profile not applied: {error}"),
            Self::Failed { error } => write!(f, "transaction failed: {error}"),
        }
    }
}

/// Keeps a namespace tuned as a profile file says: see the [module documentation](self).
#[derive(Debug)]
pub struct Agent {
    target: Target,
    options: AgentOptions,
    status: AgentStatus,
    /// The hash of the file content last acted on (applied, or refused).
    seen: Option<u64>,
    /// The profile applied, for verifying.
    applied: Option<Profile>,
    last_verify: Option<Instant>,
    started: bool,
}

impl Agent {
    /// An agent of `target`'s namespace; nothing is read before the first step.
    pub fn new(target: Target, options: AgentOptions) -> Self {
        Self {
            target,
            options,
            status: AgentStatus::default(),
            seen: None,
            applied: None,
            last_verify: None,
            started: false,
        }
    }

    /// What the agent knows.
    pub fn status(&self) -> &AgentStatus {
        &self.status
    }

    /// Reads the profile file and acts on what changed: see the
    /// [module documentation](self). Returns what it did, if anything.
    pub fn step(&mut self) -> Option<Transition> {
        let t = self.decide()?;
        // A failure that repeats at every step (a rollback that cannot finish, an
        // unreadable file) is reported once, until something else happens.
        let repeated = match &t {
            Transition::InvalidProfile { error } | Transition::Failed { error } => {
                self.status.last_error.as_deref() == Some(error.as_str())
            }
            Transition::NotMatched { reason, .. } => {
                self.status.mismatch.as_deref() == Some(reason.as_str())
            }
            _ => false,
        };
        if repeated {
            return None;
        }
        self.record(&t);
        Some(t)
    }

    fn decide(&mut self) -> Option<Transition> {
        if !self.started {
            self.started = true;
            if let Some(t) = self.recover_interrupted() {
                return Some(t);
            }
        }
        let file = &self.options.profile_file;
        let bytes = match read_bounded(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.seen = None;
                return self.remove();
            }
            Err(e) => {
                return Some(Transition::InvalidProfile {
                    error: format!("{}: {e}", file.display()),
                });
            }
        };
        let hash = hash_of(&bytes);
        if self.seen == Some(hash) {
            return self.verify_if_due();
        }
        self.seen = Some(hash);
        // The bytes hashed are the bytes parsed: a file replaced in between is read again
        // at the next step, under its own hash.
        let parsed = String::from_utf8(bytes)
            .map_err(|_| format!("{}: not UTF-8 text", file.display()))
            .and_then(|text| Profile::from_file_text(file, &text, 0).map_err(|e| report(&e)));
        let profile = match parsed {
            Ok(p) => p,
            Err(error) => return Some(Transition::InvalidProfile { error }),
        };
        self.status.profile_hash = Some(format!("{hash:016x}"));
        if let Some(t) = self.adopt(&profile) {
            return Some(t);
        }
        Some(self.apply(profile))
    }

    /// An apply interrupted before the agent (re)started is finished first.
    fn recover_interrupted(&mut self) -> Option<Transition> {
        let journal = self.journal()?;
        if journal.is_committed() {
            return None;
        }
        Some(
            match undone("recovering the interrupted apply", journal.recover()) {
                Ok(r) => Transition::Recovered {
                    restored: r.restored(),
                },
                Err(failed) => failed,
            },
        )
    }

    /// The journal, when there is one to act on.
    fn journal(&self) -> Option<Journal> {
        if !self.options.journal.exists() {
            return None;
        }
        Journal::open(&self.options.journal)
            .ok()
            .map(|j| j.with_options(self.options.apply.clone()))
    }

    fn plan_options(&self) -> PlanOptions {
        if self.options.strict {
            PlanOptions::strict()
        } else {
            PlanOptions::skip_unsettable()
        }
    }

    /// At the first reading, a committed journal of this very profile without drift is
    /// taken over: nothing is written.
    fn adopt(&mut self, profile: &Profile) -> Option<Transition> {
        if self.applied.is_some() {
            return None;
        }
        let journal = self.journal()?;
        if !journal.is_committed() || journal.profile() != profile.name() {
            return None;
        }
        let plan = profile.plan_with(&self.target, self.plan_options()).ok()?;
        if !plan.is_empty() || plan.mismatch().is_some() {
            return None;
        }
        self.status.generation = Some(journal.generation());
        self.status.skipped = plan.skipped().len();
        self.applied = Some(profile.clone());
        Some(Transition::Adopted {
            profile: profile.name().to_owned(),
        })
    }

    /// Rolls back whatever the journal records (the previous profile), then applies
    /// `profile` from that baseline.
    fn apply(&mut self, profile: Profile) -> Transition {
        if let Some(journal) = self.journal() {
            if let Err(failed) = undone("rolling back the previous profile", journal.rollback()) {
                return failed;
            }
            self.applied = None;
        }
        let plan = match profile.plan_with(&self.target, self.plan_options()) {
            Ok(p) => p,
            Err(e @ (Error::Refused { .. } | Error::Profile { .. })) => {
                return Transition::InvalidProfile { error: report(&e) };
            }
            Err(e) => return Transition::Failed { error: report(&e) },
        };
        if let Some(reason) = plan.mismatch() {
            return Transition::NotMatched {
                profile: plan.profile().to_owned(),
                reason: reason.to_owned(),
            };
        }
        if let Some(dir) = self.options.journal.parent()
            && !dir.as_os_str().is_empty()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return Transition::Failed {
                error: format!("{}: {e}", dir.display()),
            };
        }
        match plan.apply_with(&self.options.journal, &self.options.apply) {
            Ok(applied) => {
                let generation = self.journal().map_or(0, |j| j.generation());
                self.status.generation = Some(generation);
                self.status.skipped = applied.skipped.len();
                self.applied = Some(profile);
                self.last_verify = None;
                Transition::Applied {
                    profile: plan.profile().to_owned(),
                    changes: applied.changes.len(),
                    generation,
                }
            }
            Err(e) => {
                self.last_verify = Some(Instant::now());
                Transition::Failed { error: report(&e) }
            }
        }
    }

    /// The profile file is gone: roll back what is applied.
    fn remove(&mut self) -> Option<Transition> {
        let Some(journal) = self.journal() else {
            self.applied = None;
            return (self.status.state == AgentState::Applied).then_some(Transition::RolledBack {
                restored: 0,
                drift: 0,
            });
        };
        Some(match undone("rolling back", journal.rollback()) {
            Ok(r) => {
                self.applied = None;
                Transition::RolledBack {
                    restored: r.restored(),
                    drift: r.drift(),
                }
            }
            Err(failed) => failed,
        })
    }

    /// Verifies an applied profile when `verify_every` has passed; a profile that failed
    /// to apply is tried again then.
    fn verify_if_due(&mut self) -> Option<Transition> {
        if self
            .last_verify
            .is_some_and(|at| at.elapsed() < self.options.verify_every)
        {
            return None;
        }
        self.last_verify = Some(Instant::now());
        let Some(profile) = self.applied.as_ref() else {
            // A profile that failed, or was not for this host, is tried again: the host
            // may have changed (a driver loaded, an interface renamed).
            if matches!(
                self.status.state,
                AgentState::Failed | AgentState::NotMatched
            ) {
                self.seen = None;
            }
            return None;
        };
        self.status.last_verify = Some(now());
        let plan = match profile.plan_with(&self.target, self.plan_options()) {
            Ok(p) => p,
            Err(e) => {
                return Some(Transition::InvalidProfile { error: report(&e) });
            }
        };
        let items: Vec<String> = plan.changes().iter().map(|c| c.id.to_string()).collect();
        let changed = self.status.drift != Some(items.len());
        self.status.drift = Some(items.len());
        self.status.drift_items = items;
        changed.then_some(Transition::Drift {
            items: self.status.drift_items.len(),
        })
    }

    fn record(&mut self, t: &Transition) {
        *self.status.transitions.entry(t.kind()).or_insert(0) += 1;
        let s = &mut self.status;
        match t {
            Transition::Applied { profile, .. } | Transition::Adopted { profile } => {
                s.state = AgentState::Applied;
                s.profile = Some(profile.clone());
                s.last_error = None;
                s.mismatch = None;
                s.drift = Some(0);
                s.drift_items.clear();
            }
            Transition::RolledBack { .. } => {
                s.state = AgentState::Removed;
                s.mismatch = None;
                s.profile = None;
                s.profile_hash = None;
                s.generation = None;
                s.drift = None;
                s.drift_items.clear();
                s.skipped = 0;
                s.last_error = None;
            }
            Transition::NotMatched { reason, .. } => {
                s.state = AgentState::NotMatched;
                s.profile = None;
                s.generation = None;
                s.drift = None;
                s.drift_items.clear();
                s.last_error = None;
                s.mismatch = Some(reason.clone());
            }
            Transition::Recovered { .. } | Transition::Drift { .. } => {}
            Transition::InvalidProfile { error } | Transition::Failed { error } => {
                s.state = if self.applied.is_some() {
                    // The previous profile is still in force.
                    AgentState::Applied
                } else {
                    AgentState::Failed
                };
                s.last_error = Some(error.clone());
            }
        }
        if !matches!(t, Transition::Drift { .. }) {
            s.last_transition = Some(now());
        }
    }
}

/// A rollback or recovery that put everything back, or the failure it is: an error, or a
/// report with items not restored (`what` names the step).
fn undone(
    what: &str,
    r: crate::Result<crate::journal::Report>,
) -> Result<crate::journal::Report, Transition> {
    match r {
        Ok(r) if r.complete() => Ok(r),
        Ok(r) => Err(Transition::Failed {
            error: format!("{what}: incomplete: {r}"),
        }),
        Err(e) => Err(Transition::Failed {
            error: format!("{what}: {}", report(&e)),
        }),
    }
}

/// The profile file's bytes, at most a profile's size.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(crate::profile::MAX_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > crate::profile::MAX_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {} bytes, the most a profile may be",
                crate::profile::MAX_FILE
            ),
        ));
    }
    Ok(bytes)
}

fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_log_as_json_with_their_kind() {
        let t = Transition::Applied {
            profile: "p".into(),
            changes: 2,
            generation: 1,
        };
        let v = t.to_json();
        assert_eq!(
            (v["kind"].as_str(), v["changes"].as_u64()),
            (Some("applied"), Some(2))
        );
        assert!(t.to_string().contains("2 change(s)"));
        let bad = Transition::InvalidProfile {
            error: "x: bad".into(),
        };
        assert_eq!(bad.to_json()["error"], "x: bad");
    }
}

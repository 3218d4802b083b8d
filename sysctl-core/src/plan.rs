//! Plans, transactional apply, undo logs and rollback.
//!
//! The tuning guide's discipline as API: read the baseline ([`Plan`] holds the current value
//! of each key it changes), change ([`Plan::apply`] writes in a safe order, reads every key
//! back and puts everything back on the first failure), document and revert ([`Applied`]
//! is an undo log that saves to a file and rolls back later, from any process).

use std::fmt;
use std::path::Path;

use crate::error::{Error, Restore, Result};
use crate::key::Key;
use crate::knobs::{self, canonical_lenient};
use crate::profile::ProfileEntry;
use crate::sysctl::Sysctl;
use crate::textfile;

/// One key a plan changes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Change {
    /// The key.
    pub key: Key,
    /// The value now, as the kernel prints it (`None`: the key could not be read).
    pub current: Option<String>,
    /// The value to write, in canonical form.
    pub desired: String,
    /// Why the change is made.
    pub why: String,
}

/// A key left out of a plan, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Skipped {
    /// The key.
    pub key: Key,
    /// The value it would have been set to.
    pub desired: String,
    /// Why it cannot be set here (absent, read-only in a child namespace, ...).
    pub reason: String,
}

/// How a plan treats keys that cannot be set in the target namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PlanOptions {
    skip_unsettable: bool,
}

impl PlanOptions {
    /// Every key must apply (the default): a key that cannot be set makes
    /// [`Plan::apply`] fail and restore what it wrote. Entries marked optional (`-key` in
    /// sysctl.d) are still skipped.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Before anything is written, drop the keys that cannot be set in the target
    /// namespace (global keys absent in a child namespace, keys read-only there, absent
    /// keys) and report each in [`Plan::skipped`] with its reason.
    pub fn skip_unsettable() -> Self {
        Self {
            skip_unsettable: true,
        }
    }
}

/// The changes that take the live state to a desired one. Nothing is written until
/// [`Plan::apply`]; an empty plan writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Plan {
    changes: Vec<Change>,
    skipped: Vec<Skipped>,
    unchanged: Vec<Key>,
}

/// Where a key goes in the write order (lower first): enabling switches and limits before
/// the keys that depend on them; a rollback writes in the reverse order.
pub fn write_rank(key: &Key) -> u8 {
    match key.to_string().as_str() {
        // The allowed list before the default algorithm that must be in it.
        knobs::TcpAllowedCongestionControl::KEY => 0,
        // Caps before the values they bound.
        knobs::CoreRmemMax::KEY | knobs::CoreWmemMax::KEY | knobs::NfConntrackBuckets::KEY => 1,
        knobs::NfConntrackMax::KEY => 2,
        k if k.ends_with(".enabled") => 0,
        // The path manager before its settings.
        knobs::MptcpPathManager::KEY | knobs::MptcpPmType::KEY => 1,
        knobs::TcpCongestionControl::KEY => 4,
        _ => 3,
    }
}

use knobs::Knob as _;

impl Plan {
    /// Compares `entries` with the live values of `sys` and plans the differences.
    ///
    /// # Errors
    ///
    /// Only when the handle's namespace cannot be entered; unreadable keys become changes
    /// (strict) or skipped entries.
    pub fn new(sys: &Sysctl, entries: &[ProfileEntry], options: PlanOptions) -> Result<Self> {
        let mut plan = Self::default();
        sys.open_keys(entries.iter().map(ProfileEntry::key))?;
        for entry in entries {
            let current = match sys.read_raw(entry.key()) {
                Ok(v) => Some(v),
                Err(e @ Error::Netns { .. }) => return Err(e),
                Err(_) => None,
            };
            if let Some(cur) = &current {
                if canonical_lenient(entry.key(), cur) == entry.value() {
                    plan.unchanged.push(entry.key().clone());
                    continue;
                }
            }
            if options.skip_unsettable || entry.is_optional() {
                if let Some(reason) = sys.refusal(entry.key(), entry.value()) {
                    plan.skipped.push(Skipped {
                        key: entry.key().clone(),
                        desired: entry.value().to_owned(),
                        reason,
                    });
                    continue;
                }
            }
            plan.changes.push(Change {
                key: entry.key().clone(),
                current,
                desired: entry.value().to_owned(),
                why: entry.why().to_owned(),
            });
        }
        // Stable: keys of one rank keep the profile's order.
        plan.changes.sort_by_key(|c| write_rank(&c.key));
        Ok(plan)
    }

    /// The changes, in the order [`Plan::apply`] writes them.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The keys left out, with why.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The keys that already have the desired value.
    pub fn unchanged(&self) -> &[Key] {
        &self.unchanged
    }

    /// Whether applying would write nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Writes every change in order and reads each back. On the first failure, puts back
    /// every key already written (in reverse order, each read back) and returns
    /// [`Error::ApplyFailed`], which names the failing key, why, and what was restored.
    ///
    /// The undo values are the ones read when the plan was made: apply soon after planning.
    ///
    /// # Errors
    ///
    /// [`Error::ApplyFailed`].
    pub fn apply(&self, sys: &Sysctl) -> Result<Applied> {
        let (target, inode) = sys.target()?;
        sys.open_keys(self.changes.iter().map(|c| &c.key))?;
        let mut done: Vec<UndoEntry> = Vec::with_capacity(self.changes.len());
        for change in &self.changes {
            let result = change
                .current
                .as_ref()
                .ok_or_else(|| {
                    // Strict plans keep unreadable keys: find out why now, for the error.
                    sys.read_raw(&change.key)
                        .err()
                        .unwrap_or_else(|| Error::NotApplied {
                            key: change.key.clone(),
                            wanted: change.desired.clone(),
                            got: "(unreadable when planned)".into(),
                        })
                })
                .and_then(|before| {
                    write_verified(sys, &change.key, &change.desired).map(|after| UndoEntry {
                        key: change.key.clone(),
                        before: before.clone(),
                        after,
                    })
                });
            match result {
                Ok(entry) => done.push(entry),
                Err(source) => {
                    // The failing key itself may have changed (the kernel took the write
                    // but reads back something else): it is put back too.
                    if let Some(before) = &change.current {
                        let live = sys.read_raw(&change.key).ok();
                        let changed = live.is_some_and(|v| {
                            canonical_lenient(&change.key, &v)
                                != canonical_lenient(&change.key, before)
                        });
                        if changed {
                            done.push(UndoEntry {
                                key: change.key.clone(),
                                before: before.clone(),
                                after: String::new(),
                            });
                        }
                    }
                    return Err(Error::ApplyFailed {
                        key: change.key.clone(),
                        source: Box::new(source),
                        restore: restore(sys, &done),
                    });
                }
            }
        }
        Ok(Applied {
            target,
            inode,
            netns_name: sys.netns().and_then(|ns| ns.name()).map(str::to_owned),
            entries: done,
            skipped: self.skipped.clone(),
        })
    }
}

/// Writes `value` and reads the key back; returns what the kernel now prints.
fn write_verified(sys: &Sysctl, key: &Key, value: &str) -> Result<String> {
    sys.write_raw(key, value)?;
    let got = sys.read_raw(key)?;
    if canonical_lenient(key, &got) != canonical_lenient(key, value) {
        return Err(Error::NotApplied {
            key: key.clone(),
            wanted: value.to_owned(),
            got,
        });
    }
    Ok(got)
}

/// Writes the `before` values of `done` back, last first.
fn restore(sys: &Sysctl, done: &[UndoEntry]) -> Restore {
    let mut out = Restore::default();
    for entry in done.iter().rev() {
        match write_verified(sys, &entry.key, &entry.before) {
            Ok(_) => out.restored.push(entry.key.clone()),
            Err(e) => out.failed.push((entry.key.clone(), e.to_string())),
        }
    }
    out
}

impl fmt::Display for Plan {
    /// A readable dry run: one line per change (`key: current -> desired  # why`), then the
    /// skipped keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "plan: {} change(s), {} already set, {} skipped",
            self.changes.len(),
            self.unchanged.len(),
            self.skipped.len()
        )?;
        for c in &self.changes {
            let current = c.current.as_deref().map_or_else(
                || "(unreadable)".to_owned(),
                |v| v.split_whitespace().collect::<Vec<_>>().join(" "),
            );
            writeln!(f, "  {}: {current} -> {}  # {}", c.key, c.desired, c.why)?;
        }
        for s in &self.skipped {
            writeln!(f, "  skip {} = {}: {}", s.key, s.desired, s.reason)?;
        }
        Ok(())
    }
}

/// One key an apply wrote: its value before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UndoEntry {
    /// The key.
    pub key: Key,
    /// The value before the apply, as the kernel printed it.
    pub before: String,
    /// The value after the apply, as the kernel printed it.
    pub after: String,
}

/// A key that someone else changed after the apply: rollback leaves it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Drift {
    /// The key.
    pub key: Key,
    /// The value the apply (or profile) set.
    pub expected: String,
    /// The live value (`None`: unreadable now).
    pub found: Option<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.found {
            Some(found) => write!(
                f,
                "{}: expected {}, found {}",
                self.key, self.expected, found
            ),
            None => write!(
                f,
                "{}: expected {}, found it unreadable",
                self.key, self.expected
            ),
        }
    }
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rollback {
    /// Keys written back to their earlier value (read back to check).
    pub restored: Vec<Key>,
    /// Keys changed by someone else since the apply, left as they are.
    pub drift: Vec<Drift>,
}

/// The undo log of an apply: what was written, and what was there before.
///
/// Save it with [`Applied::save`], load it in another process with [`Applied::load`], and
/// [`Applied::rollback`] restores exactly the earlier values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Applied {
    target: String,
    inode: Option<u64>,
    netns_name: Option<String>,
    entries: Vec<UndoEntry>,
    skipped: Vec<Skipped>,
}

impl Applied {
    /// The keys written, in the order they were written.
    pub fn entries(&self) -> &[UndoEntry] {
        &self.entries
    }

    /// The keys the plan skipped.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Where the apply happened: a network namespace (by inode) or a tree.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The name (under /run/netns) of the namespace the apply happened in, when the
    /// handle was opened by name.
    pub fn netns_name(&self) -> Option<&str> {
        self.netns_name.as_deref()
    }

    /// Checks that `sys` works on the namespace or tree this apply happened in, as
    /// [`Applied::rollback`] does first; for callers that undo other state before it.
    ///
    /// # Errors
    ///
    /// [`Error::WrongTarget`] when it does not.
    pub fn check_target(&self, sys: &Sysctl) -> Result<()> {
        let (found, inode) = sys.target()?;
        if inode != self.inode || (inode.is_none() && found != self.target) {
            return Err(Error::WrongTarget {
                expected: self.target.clone(),
                found,
            });
        }
        Ok(())
    }

    /// Puts back the earlier value of every key this apply wrote, last first, reading each
    /// back. A key whose live value is no longer the one the apply set was changed by
    /// someone else: it is reported as [`Drift`] and left alone.
    ///
    /// # Errors
    ///
    /// [`Error::WrongTarget`] when `sys` works on another namespace or tree than the apply
    /// did (nothing is written); [`Error::RollbackFailed`] naming the keys that could not
    /// be restored (the others were).
    pub fn rollback(&self, sys: &Sysctl) -> Result<Rollback> {
        self.check_target(sys)?;
        sys.open_keys(self.entries.iter().map(|e| &e.key))?;
        let mut report = Rollback::default();
        let mut failed = Vec::new();
        for entry in self.entries.iter().rev() {
            let live = sys.read_raw(&entry.key).ok();
            let untouched = live.as_ref().is_some_and(|v| {
                canonical_lenient(&entry.key, v) == canonical_lenient(&entry.key, &entry.after)
            });
            if !untouched {
                report.drift.push(Drift {
                    key: entry.key.clone(),
                    expected: entry.after.clone(),
                    found: live,
                });
                continue;
            }
            match write_verified(sys, &entry.key, &entry.before) {
                Ok(_) => report.restored.push(entry.key.clone()),
                Err(e) => failed.push((entry.key.clone(), e.to_string())),
            }
        }
        if failed.is_empty() {
            Ok(report)
        } else {
            Err(Error::RollbackFailed {
                restored: report.restored,
                failed,
            })
        }
    }

    /// The undo log as text (see [`Applied::save`]).
    pub fn to_text(&self) -> String {
        let mut out = String::from("# nettune undo log v1\n");
        textfile::record(&mut out, &["target", &self.target]);
        if let Some(inode) = self.inode {
            textfile::record(&mut out, &["netns-inode", &inode.to_string()]);
        }
        if let Some(name) = &self.netns_name {
            textfile::record(&mut out, &["netns-name", name]);
        }
        for e in &self.entries {
            textfile::record(
                &mut out,
                &["entry", &e.key.to_string(), &e.before, &e.after],
            );
        }
        for s in &self.skipped {
            textfile::record(
                &mut out,
                &["skipped", &s.key.to_string(), &s.desired, &s.reason],
            );
        }
        out
    }

    /// Parses [`Applied::to_text`]'s form; `name` names the text in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] naming the line.
    pub fn from_text(name: &str, text: &str) -> Result<Self> {
        if !text.starts_with("# nettune undo log v1") {
            return Err(Error::Syntax {
                file: name.to_owned(),
                line: 1,
                reason: "not a nettune undo log (expected `# nettune undo log v1`)".into(),
            });
        }
        let mut out = Self {
            target: String::new(),
            inode: None,
            netns_name: None,
            entries: Vec::new(),
            skipped: Vec::new(),
        };
        for rec in textfile::records(name, text) {
            let (line, fields) = rec?;
            let bad = |reason: String| Error::Syntax {
                file: name.to_owned(),
                line,
                reason,
            };
            let key = |k: &str| Key::new(k).map_err(|e| bad(e.to_string()));
            match fields
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["target", t] => out.target = (*t).to_owned(),
                ["netns-inode", n] => {
                    out.inode = Some(n.parse().map_err(|_| bad(format!("bad inode {n:?}")))?);
                }
                ["netns-name", n] => out.netns_name = Some((*n).to_owned()),
                ["entry", k, before, after] => out.entries.push(UndoEntry {
                    key: key(k)?,
                    before: (*before).to_owned(),
                    after: (*after).to_owned(),
                }),
                ["skipped", k, desired, reason] => out.skipped.push(Skipped {
                    key: key(k)?,
                    desired: (*desired).to_owned(),
                    reason: (*reason).to_owned(),
                }),
                other => {
                    return Err(bad(format!(
                        "unknown record {:?}",
                        other.first().unwrap_or(&"")
                    )));
                }
            }
        }
        if out.target.is_empty() {
            return Err(Error::Syntax {
                file: name.to_owned(),
                line: 1,
                reason: "no `target` record".into(),
            });
        }
        Ok(out)
    }

    /// Writes the undo log to `path` (atomically: a temporary file, then a rename).
    ///
    /// # Errors
    ///
    /// [`Error::File`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        textfile::write_atomic(path.as_ref(), &self.to_text())
    }

    /// Reads an undo log written by [`Applied::save`], in this or another process.
    ///
    /// # Errors
    ///
    /// [`Error::File`] or [`Error::Syntax`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_text(&path.display().to_string(), &textfile::read(path)?)
    }
}

//! The write-ahead journal of whole-host transactions, the lock that serialises them, and
//! apply, rollback and recover.
//!
//! Before the first write, the journal holds the complete before-image of every item the
//! plan touches: for each item its *baseline* (the value before the first apply that
//! touched it), its *prior* value (before this apply) and the *planned* one. It is written
//! to a temporary file created `O_EXCL|O_NOFOLLOW` (mode 0600) beside the journal path,
//! synced, renamed over the path, and the directory is synced: two fsyncs per apply. After
//! the last write a commit record is appended.
//!
//! Because every value an item can have been left at by nettune is in the journal, a
//! crash at any point leaves a journal from which [`Journal::rollback`] (back to the
//! baselines) or [`Journal::recover`] (back to before the interrupted apply) restores
//! exactly what was changed: an item whose live value is one of those nettune set is put
//! back; one at the value it should return to is left as it is; any other value was set
//! by someone else, and is reported as drift and left alone.
//!
//! Format: text lines `<tag> crc32=<hex> <json>`; the first (`nettune-journal v1`) holds
//! the header, later `commit` lines mark finished applies. A truncated, edited or
//! future-version file is refused with a clear error.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nettune_core::{ErrorKind, NetNsId};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::{ItemId, Session};
use crate::plan::{Change, Plan, Skipped};
use crate::target::Target;

/// The journal format this version writes and reads.
pub const VERSION: u32 = 1;
const HEADER_TAG: &str = "nettune-journal";
const COMMIT_TAG: &str = "commit";

/// The directory of the per-namespace lock files, unless [`ApplyOptions::lock_dir`] says
/// otherwise (or the `NETTUNE_LOCK_DIR` environment variable, for the command).
pub const DEFAULT_LOCK_DIR: &str = "/run/nettune";

/// One item of a journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalItem {
    /// The item.
    pub id: ItemId,
    /// Its value before the first apply that touched it.
    pub baseline: String,
    /// Its value before the latest apply.
    pub prior: String,
    /// The value the latest apply sets.
    pub planned: String,
    /// Why.
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    version: u32,
    netns: NetNsId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    netns_name: Option<String>,
    profile: String,
    created: u64,
    /// How many applies the journal records (1 for the first; journals written before
    /// the field existed read as 1).
    #[serde(default = "first_generation")]
    generation: u32,
    items: Vec<JournalItem>,
}

fn first_generation() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Commit {
    at: u64,
}

/// A journal on disk: see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    header: Header,
    committed: bool,
    target: Option<Target>,
    options: ApplyOptions,
}

/// What became of one item in a rollback, a recover or a failed apply's restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Written back, and read back to check.
    Restored,
    /// Already at the value it returns to.
    Unchanged,
    /// Someone else changed it since: left alone.
    Drift {
        /// The live value (`<secret>` for secrets).
        found: String,
    },
    /// Could not be read or written back.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One item's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemReport {
    /// The item (`sysctl net.ipv4.tcp_rmem`, `nic v0 feature rx-gro`, ...).
    pub item: String,
    /// The item, structured.
    pub id: ItemId,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What a rollback, a recover or a failed apply's restore did, item by item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Report {
    /// Each item, in the order handled (the reverse of the apply).
    pub items: Vec<ItemReport>,
}

impl Report {
    fn push(&mut self, id: &ItemId, outcome: Outcome) {
        self.items.push(ItemReport {
            item: id.to_string(),
            id: id.clone(),
            outcome,
        });
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.items.iter().filter(|i| f(&i.outcome)).count()
    }

    /// Items written back.
    pub fn restored(&self) -> usize {
        self.count(|o| *o == Outcome::Restored)
    }

    /// Items left alone because someone else changed them.
    pub fn drift(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Drift { .. }))
    }

    /// Items that could not be restored.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed { .. }))
    }

    /// Whether every item is back (restored or already there): no drift, no failure.
    pub fn complete(&self) -> bool {
        self.drift() == 0 && self.failed() == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unchanged = self.count(|o| *o == Outcome::Unchanged);
        write!(
            f,
            "{} restored, {unchanged} unchanged, {} drift (left alone), {} failed",
            self.restored(),
            self.drift(),
            self.failed()
        )?;
        for i in &self.items {
            match &i.outcome {
                Outcome::Drift { found } => write!(f, "; drift {}: now {found}", i.item)?,
                Outcome::Failed { reason } => write!(f, "; FAILED {}: {reason}", i.item)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The journal.
    pub journal: PathBuf,
    /// The items written, in order.
    pub changes: Vec<Change>,
    /// Items already as wanted when the lock was taken (changed by someone since the plan).
    pub unchanged: Vec<ItemId>,
    /// Items the plan left out.
    pub skipped: Vec<Skipped>,
    /// Whether an earlier journal's baseline was kept (a second apply).
    pub kept_baseline: bool,
}

/// How to take the target's lock.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    lock_dir: PathBuf,
    wait: Option<Duration>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            lock_dir: PathBuf::from(DEFAULT_LOCK_DIR),
            wait: Some(Duration::MAX),
        }
    }
}

impl ApplyOptions {
    /// Waits for the lock for as long as it takes (the default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the lock files are ([`DEFAULT_LOCK_DIR`] by default).
    #[must_use]
    pub fn lock_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lock_dir = dir.into();
        self
    }

    /// Fails at once with [`Error::Busy`] when another transaction holds the lock.
    #[must_use]
    pub fn no_wait(mut self) -> Self {
        self.wait = None;
        self
    }
}

/// The lock of one target namespace, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock of `target`'s namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] without waiting when another transaction holds it;
    /// [`Error::File`] when the lock file cannot be made.
    pub fn take(target: &Target, options: &ApplyOptions) -> Result<Self> {
        let id = target.id();
        let dir = &options.lock_dir;
        fs::create_dir_all(dir).map_err(|e| Error::file("create lock directory", dir, e))?;
        let path = dir.join(format!(
            "netns-{:016x}-{:08x}.lock",
            id.cookie,
            (id.boot_id >> 96) as u32
        ));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| Error::file("open lock", &path, e))?;
        let arg = match options.wait {
            Some(_) => FlockArg::LockExclusive,
            None => FlockArg::LockExclusiveNonblock,
        };
        match Flock::lock(file, arg) {
            Ok(flock) => Ok(Self {
                _flock: flock,
                path,
            }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(Error::Busy {
                what: target.to_string(),
                lock: path,
                waited: options.wait.is_some(),
            }),
            Err((_, errno)) => Err(Error::file("lock", &path, io::Error::from(errno))),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn journal_error(
    path: &Path,
    kind: ErrorKind,
    reason: impl Into<String>,
    source: Option<io::Error>,
) -> Error {
    Error::Journal {
        path: path.to_owned(),
        reason: reason.into(),
        kind,
        source,
    }
}

fn line(tag: &str, json: &str) -> String {
    format!(
        "{tag} crc32={:08x} {json}\n",
        crc32fast::hash(json.as_bytes())
    )
}

/// Splits `<tag> crc32=<hex> <json>` and checks the checksum.
fn parse_line(l: &str) -> Option<(&str, std::result::Result<&str, ()>)> {
    let (tag, rest) = l.split_once(" crc32=")?;
    let (crc, json) = rest.split_once(' ')?;
    let want = u32::from_str_radix(crc, 16).ok()?;
    Some((
        tag,
        if crc32fast::hash(json.as_bytes()) == want {
            Ok(json)
        } else {
            Err(())
        },
    ))
}

impl Journal {
    /// Opens a journal (refusing a symlink, a file others may write, a truncated, edited
    /// or future-version one).
    ///
    /// # Errors
    ///
    /// [`Error::Journal`] saying which.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => journal_error(
                    path,
                    ErrorKind::InvalidValue,
                    "is a symlink: journals are never followed through links",
                    Some(e),
                ),
                Some(libc::ENOENT) => journal_error(
                    path,
                    ErrorKind::NotFound,
                    "no journal here (nothing was applied with it, or it was rolled back)",
                    Some(e),
                ),
                _ => journal_error(path, ErrorKind::of_io(&e), "cannot be opened", Some(e)),
            })?;
        let meta = file
            .metadata()
            .map_err(|e| journal_error(path, ErrorKind::Io, "cannot be inspected", Some(e)))?;
        if !meta.is_file() {
            return Err(journal_error(
                path,
                ErrorKind::InvalidValue,
                "is not a regular file",
                None,
            ));
        }
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(journal_error(
                path,
                ErrorKind::PermissionDenied,
                format!(
                    "may be written by others (mode {:o}): refused; a journal is 0600",
                    meta.permissions().mode() & 0o777
                ),
                None,
            ));
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| journal_error(path, ErrorKind::Decode, "is not text", Some(e)))?;
        Self::parse(path, &text)
    }

    #[cfg(fuzzing)]
    pub(crate) fn parse_text(path: &Path, text: &str) -> Result<Self> {
        let j = Self::parse(path, text)?;
        // What parses encodes back to a header that parses to the same.
        let json = serde_json::to_string(&j.header).expect("a parsed header encodes");
        let again = Self::parse(path, &line(&format!("{HEADER_TAG} v{VERSION}"), &json))
            .expect("our own header parses");
        assert_eq!(again.header, j.header);
        Ok(j)
    }

    fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |reason: &str| journal_error(path, ErrorKind::Decode, reason, None);
        let mut lines = text.split_inclusive('\n');
        let first = lines.next().unwrap_or_default();
        let Some(rest) = first.strip_prefix(HEADER_TAG) else {
            return Err(bad("not a nettune journal"));
        };
        let version: u32 = rest
            .strip_prefix(" v")
            .and_then(|r| r.split(' ').next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("not a nettune journal (no version)"))?;
        if version > VERSION {
            return Err(journal_error(
                path,
                ErrorKind::Unsupported,
                format!(
                    "written by a newer nettune (format v{version}); this one reads v{VERSION}"
                ),
                None,
            ));
        }
        if !first.ends_with('\n') {
            return Err(bad("truncated: the header is cut short"));
        }
        let header: Header = match parse_line(first.trim_end_matches('\n')) {
            Some((_, Ok(json))) => serde_json::from_str(json)
                .map_err(|e| bad(&format!("header does not decode: {e}")))?,
            Some((_, Err(()))) => {
                return Err(bad(
                    "edited or truncated: the header's checksum does not match",
                ));
            }
            None => return Err(bad("malformed header line")),
        };
        if header.version != version {
            return Err(bad("edited: the header's version does not match its line"));
        }
        let mut committed = false;
        for l in lines {
            let complete = l.ends_with('\n');
            match parse_line(l.trim_end_matches('\n')) {
                Some((COMMIT_TAG, Ok(_))) if complete => committed = true,
                // A record cut short at the very end was being written when the process
                // died: it never happened.
                _ if !complete => break,
                Some((COMMIT_TAG, Err(()))) => {
                    return Err(bad("edited: a commit record's checksum does not match"));
                }
                _ => return Err(bad("edited: a line is not a journal record")),
            }
        }
        Ok(Self {
            path: path.to_owned(),
            header,
            committed,
            target: None,
            options: ApplyOptions::default(),
        })
    }

    /// Works on `target` (checked against the journal's record) instead of the namespace
    /// the journal names: for namespaces without a name under /run/netns.
    #[must_use]
    pub fn in_target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// How to take the lock ([`ApplyOptions`]: its directory, whether to wait).
    #[must_use]
    pub fn with_options(mut self, options: ApplyOptions) -> Self {
        self.options = options;
        self
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The namespace the journal is for.
    pub fn netns(&self) -> NetNsId {
        self.header.netns
    }

    /// The namespace's name under /run/netns when the apply used one.
    pub fn netns_name(&self) -> Option<&str> {
        self.header.netns_name.as_deref()
    }

    /// The profile (or profiles, `a + b`, in the order they were applied) it records.
    pub fn profile(&self) -> &str {
        &self.header.profile
    }

    /// How many applies it records: 1 after the first, one more after each apply that
    /// kept its baseline.
    pub fn generation(&self) -> u32 {
        self.header.generation
    }

    /// The items.
    pub fn items(&self) -> &[JournalItem] {
        &self.header.items
    }

    /// Whether the latest apply finished (a journal that is not committed records an apply
    /// that was interrupted: [`Journal::recover`] finishes it).
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// The target the journal is for: the namespace by its recorded name when it has one,
    /// checked against the recorded identity.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] when it cannot be opened; [`Error::WrongNamespace`] when the one of
    /// that name is another namespace now.
    pub fn target(&self) -> Result<Target> {
        let t = match (&self.target, &self.header.netns_name) {
            (Some(t), _) => t.clone(),
            (None, Some(name)) => Target::open(name)?,
            (None, None) => Target::current()?,
        };
        t.check_same(&self.header.netns)?;
        Ok(t)
    }

    fn write_atomic(path: &Path, header: &Header) -> Result<()> {
        let json = serde_json::to_string(header).map_err(|e| {
            journal_error(path, ErrorKind::Io, format!("cannot be encoded: {e}"), None)
        })?;
        let text = line(&format!("{HEADER_TAG} v{VERSION}"), &json);
        if path.file_name().is_none() {
            return Err(journal_error(
                path,
                ErrorKind::InvalidValue,
                "names no file",
                None,
            ));
        }
        nettune_core::files::write_atomic(path, text.as_bytes(), 0o600).map_err(|e| {
            journal_error(
                path,
                ErrorKind::of_io(&e),
                "cannot be written (nothing was changed)",
                Some(e),
            )
        })
    }

    /// Removes temporary files a killed writer left beside `path`.
    fn sweep(path: &Path) {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!(".{}.tmp-", name.to_string_lossy());
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }

    /// Puts every item back to its baseline, last first, and removes the journal when all
    /// are back. Items someone else changed are reported as drift and left alone; items
    /// that cannot be read or written are reported as failed (never as drift).
    ///
    /// # Errors
    ///
    /// [`Error::WrongNamespace`] and [`Error::Netns`] before anything is written;
    /// [`Error::Busy`] under [`ApplyOptions::no_wait`].
    pub fn rollback(&self) -> Result<Report> {
        let target = self.target()?;
        let _lock = Lock::take(&target, &self.options)?;
        // Read again under the lock: another transaction may have changed it.
        let fresh = Self::open(&self.path)?;
        let mut session = Session::new(&target);
        session.prepare(fresh.header.items.iter().map(|i| &i.id));
        let mut report = Report::default();
        for item in fresh.header.items.iter().rev() {
            let ours = [item.prior.as_str(), item.planned.as_str()];
            put_back(&mut session, &mut report, &item.id, &item.baseline, &ours);
        }
        if report.complete() {
            fs::remove_file(&self.path)
                .map_err(|e| Error::file("remove journal", &self.path, e))?;
        }
        Ok(report)
    }

    /// Finishes an apply that was interrupted (the journal has no commit record): every
    /// item goes back to its value before that apply, and the journal to what it held
    /// before it (removed when there was nothing earlier). A committed journal needs no
    /// recovery: the report is empty.
    ///
    /// # Errors
    ///
    /// As [`Journal::rollback`].
    pub fn recover(&self) -> Result<Report> {
        let target = self.target()?;
        let _lock = Lock::take(&target, &self.options)?;
        let fresh = Self::open(&self.path)?;
        if fresh.committed {
            return Ok(Report::default());
        }
        let mut session = Session::new(&target);
        session.prepare(fresh.header.items.iter().map(|i| &i.id));
        let mut report = Report::default();
        for item in fresh.header.items.iter().rev() {
            put_back(
                &mut session,
                &mut report,
                &item.id,
                &item.prior,
                &[item.planned.as_str()],
            );
        }
        if report.complete() {
            fresh.settle()?;
        }
        Ok(report)
    }

    /// After the items went back to their prior values: the journal as it was before the
    /// interrupted apply (removed when nothing earlier is left), committed.
    fn settle(&self) -> Result<()> {
        let mut header = self.header.clone();
        header.items.retain(|i| !i.id.same(&i.prior, &i.baseline));
        for i in &mut header.items {
            i.planned.clone_from(&i.prior);
        }
        if header.items.is_empty() {
            return fs::remove_file(&self.path)
                .map_err(|e| Error::file("remove journal", &self.path, e));
        }
        Self::write_atomic(&self.path, &header)?;
        append_commit(&self.path)
    }
}

/// Appends a commit record to the journal at `path` (no fsync: a killed process loses
/// nothing written; a machine that crashes loses the kernel state the journal describes).
fn append_commit(path: &Path) -> Result<()> {
    let json = serde_json::to_string(&Commit { at: now() }).unwrap_or_default();
    let fail = |e: io::Error| {
        journal_error(
            path,
            ErrorKind::of_io(&e),
            "cannot record the commit",
            Some(e),
        )
    };
    let mut f = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(fail)?;
    f.write_all(line(COMMIT_TAG, &json).as_bytes())
        .map_err(fail)
}

/// Puts `id` back to `to` when its live value is one of `ours`; reports what happened.
fn put_back(session: &mut Session<'_>, report: &mut Report, id: &ItemId, to: &str, ours: &[&str]) {
    let live = match session.read(id) {
        Ok(v) => v,
        Err(e) => {
            report.push(
                id,
                Outcome::Failed {
                    reason: format!("unreadable: {}", crate::error::report(&e)),
                },
            );
            return;
        }
    };
    if id.same(&live, to) {
        report.push(id, Outcome::Unchanged);
        return;
    }
    if !ours.iter().any(|v| id.same(&live, v)) {
        report.push(
            id,
            Outcome::Drift {
                found: id.show(&live).to_owned(),
            },
        );
        return;
    }
    let outcome = match write_checked(session, id, to) {
        Ok(()) => Outcome::Restored,
        Err(e) => Outcome::Failed {
            reason: crate::error::report(&e),
        },
    };
    report.push(id, outcome);
}

/// Writes `value` and reads it back.
fn write_checked(session: &mut Session<'_>, id: &ItemId, value: &str) -> Result<()> {
    session.write(id, value)?;
    let got = session.read(id)?;
    if id.same(&got, value) {
        Ok(())
    } else {
        Err(Error::profile(
            &id.to_string(),
            format!(
                "reads back {} after writing {}: the kernel kept another value",
                id.show(&got),
                id.show(value)
            ),
        ))
    }
}

impl Plan {
    /// Applies the plan under the target's lock, with a write-ahead journal at `journal`
    /// (see the [module documentation](crate::journal)); waits for the lock.
    ///
    /// # Errors
    ///
    /// As [`Plan::apply_with`].
    pub fn apply(&self, journal: impl AsRef<Path>) -> Result<Applied> {
        self.apply_with(journal, &ApplyOptions::default())
    }

    /// Applies the plan: takes the lock, reads every item again, writes the journal
    /// (keeping an earlier journal's baselines), then each change in order, reading each
    /// back. On a failure every item changed so far (the failing one too) goes back to
    /// its value before this apply, and the journal to what it was.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`]; [`Error::Journal`] for an unusable journal (nothing written);
    /// [`Error::WrongNamespace`] when the journal is another namespace's;
    /// [`Error::ApplyFailed`] naming the failing item and what was restored.
    pub fn apply_with(&self, journal: impl AsRef<Path>, options: &ApplyOptions) -> Result<Applied> {
        let path = journal.as_ref();
        if self.mismatch.is_some() {
            // Not for this host: nothing to write, no journal touched.
            return Ok(Applied {
                journal: path.to_owned(),
                changes: Vec::new(),
                unchanged: Vec::new(),
                skipped: Vec::new(),
                kept_baseline: false,
            });
        }
        let target = &self.target;
        let _lock = Lock::take(target, options)?;
        Journal::sweep(path);
        let earlier = match Journal::open(path) {
            Ok(j) => Some(j),
            Err(Error::Journal {
                kind: ErrorKind::NotFound,
                ..
            }) => None,
            Err(e) => return Err(e),
        };
        if let Some(j) = &earlier {
            target.check_same(&j.header.netns)?;
            if !j.committed {
                return Err(journal_error(
                    path,
                    ErrorKind::Busy,
                    "records an apply that was interrupted: run `nettune recover` (Journal::recover) first",
                    None,
                ));
            }
        }
        // The before-image, read under the lock.
        let mut session = Session::new(target);
        session.prepare(self.changes.iter().map(|c| &c.id));
        let mut changes = Vec::with_capacity(self.changes.len());
        let mut unchanged = Vec::new();
        for c in &self.changes {
            let live = session.read(&c.id)?;
            if c.id.same(&live, &c.desired) {
                unchanged.push(c.id.clone());
            } else {
                changes.push(Change {
                    current: live,
                    ..c.clone()
                });
            }
        }
        let mut header = match &earlier {
            Some(j) => {
                let mut h = j.header.clone();
                for i in &mut h.items {
                    i.prior.clone_from(&i.planned);
                }
                h.profile = format!("{} + {}", h.profile, self.profile);
                h.generation = h.generation.saturating_add(1);
                h
            }
            None => Header {
                version: VERSION,
                netns: target.id(),
                netns_name: target.name().map(str::to_owned),
                profile: self.profile.clone(),
                created: now(),
                generation: 1,
                items: Vec::new(),
            },
        };
        for c in &changes {
            match header.items.iter_mut().find(|i| i.id == c.id) {
                Some(i) => {
                    i.prior.clone_from(&c.current);
                    i.planned.clone_from(&c.desired);
                    i.why.clone_from(&c.why);
                }
                None => header.items.push(JournalItem {
                    id: c.id.clone(),
                    baseline: c.current.clone(),
                    prior: c.current.clone(),
                    planned: c.desired.clone(),
                    why: c.why.clone(),
                }),
            }
        }
        let applied = Applied {
            journal: path.to_owned(),
            changes,
            unchanged,
            skipped: self.skipped.clone(),
            kept_baseline: earlier.is_some(),
        };
        if applied.changes.is_empty() {
            return Ok(applied);
        }
        Journal::write_atomic(path, &header)?;
        for (n, c) in applied.changes.iter().enumerate() {
            if let Err(source) = write_checked(&mut session, &c.id, &c.desired) {
                let mut restore = Report::default();
                for done in applied.changes[..=n].iter().rev() {
                    put_back(
                        &mut session,
                        &mut restore,
                        &done.id,
                        &done.current,
                        &[done.desired.as_str()],
                    );
                }
                if restore.complete() {
                    match &earlier {
                        Some(j) => {
                            Journal::write_atomic(path, &j.header)?;
                            append_commit(path)?;
                        }
                        None => {
                            fs::remove_file(path)
                                .map_err(|e| Error::file("remove journal", path, e))?;
                        }
                    }
                }
                return Err(Error::ApplyFailed {
                    item: c.id.to_string(),
                    source: Box::new(source),
                    restore,
                });
            }
        }
        append_commit(path)?;
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: VERSION,
            netns: NetNsId {
                cookie: 7,
                boot_id: 0x1234,
                inode: 4026531840,
            },
            netns_name: Some("blue".into()),
            profile: "p".into(),
            created: 1,
            generation: 1,
            items: vec![JournalItem {
                id: ItemId::Sysctl {
                    key: "net.ipv4.tcp_sack".parse().expect("key"),
                },
                baseline: "1".into(),
                prior: "1".into(),
                planned: "0".into(),
                why: "test".into(),
            }],
        }
    }

    fn text(h: &Header, commit: bool) -> String {
        let mut t = line(
            &format!("{HEADER_TAG} v{VERSION}"),
            &serde_json::to_string(h).expect("json"),
        );
        if commit {
            t.push_str(&line(COMMIT_TAG, "{\"at\":2}"));
        }
        t
    }

    #[test]
    fn journals_round_trip_and_refuse_damage() {
        let p = Path::new("j");
        let h = header();
        let j = Journal::parse(p, &text(&h, true)).expect("parse");
        assert!(j.committed);
        assert_eq!(j.header, h);
        assert!(
            !Journal::parse(p, &text(&h, false))
                .expect("parse")
                .committed
        );
        // A commit record cut short: the commit never happened.
        let mut torn = text(&h, true);
        torn.truncate(torn.len() - 3);
        assert!(!Journal::parse(p, &torn).expect("torn tail").committed);
        let chain = |t: &str| crate::error::report(&Journal::parse(p, t).expect_err(t));
        let full = text(&h, false);
        assert!(chain(&full[..full.len() / 2]).contains("truncated"));
        assert!(
            chain(&full.replacen("\"planned\":\"0\"", "\"planned\":\"1\"", 1)).contains("checksum")
        );
        assert!(chain(&full.replacen("v1", "v9", 1)).contains("newer nettune"));
        assert!(chain("hello\n").contains("not a nettune journal"));
        let mut edited = text(&h, true);
        edited.push_str("commit crc32=00000000 {}\n");
        assert!(chain(&edited).contains("edited"));
    }

    #[test]
    fn reports_count_each_outcome() {
        let id = ItemId::MptcpLimits;
        let mut r = Report::default();
        r.push(&id, Outcome::Restored);
        r.push(&id, Outcome::Unchanged);
        assert!(r.complete());
        r.push(
            &id,
            Outcome::Drift {
                found: "2 2".into(),
            },
        );
        r.push(
            &id,
            Outcome::Failed {
                reason: "unreadable: x".into(),
            },
        );
        assert!(!r.complete());
        assert_eq!((r.restored(), r.drift(), r.failed()), (1, 1, 1));
        let text = r.to_string();
        assert!(
            text.contains("1 drift") && text.contains("FAILED mptcp limits"),
            "{text}"
        );
    }
}

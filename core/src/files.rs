//! A namespace's own files, read and written from any thread.
//!
//! The kernel resolves `/proc/sys/net`, `/proc/net` and `/sys/class/net` against the
//! network namespace of the thread that *looks them up*; once a file is open it stays bound
//! to that namespace, whichever thread reads or writes it. So a [`NetNs`] keeps a bounded
//! set of the files it was last asked for, opened from inside the namespace (one thread hop
//! per batch of files, or none when the calling thread is already there): a repeated read
//! in another namespace is one `pread(2)`, as cheap as in the caller's own.
//!
//! Path lookups below `/proc/sys` are never made from a thread of another namespace: the
//! kernel cannot reuse its cached directory entries for them and adds a new one per lookup,
//! which makes every later lookup of that name slower, host-wide. sysfs has no such
//! problem: a sysfs mounted from inside the namespace (once, on a private thread) is kept
//! open and looked up from the calling thread.
//!
//! Files are re-opened when the kernel has removed what they refer to: an interface
//! deleted and created again under the same name reads the new one, never a stale value.
//!
//! A handle keeps at most 1024 files open, and all handles of the process together at most
//! half of its `RLIMIT_NOFILE` soft limit; beyond that, files are opened per call (one hop
//! each). A program that tunes many namespaces should raise its soft limit to the hard one
//! ([`raise_fd_limit`]; the `nettune` command does).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstatat};

use crate::netns::{NetNs, Result};

/// A tree of namespaced files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tree {
    /// `/proc/sys/net`: the namespace's `net.*` sysctls (`net/ipv4/tcp_rmem` is
    /// `ipv4/tcp_rmem` here).
    SysctlNet,
    /// `/proc/net` as the namespace sees it: `netstat`, `snmp`, `dev`...
    ProcNet,
    /// `/sys/class/net` of a sysfs mounted for the namespace: `eth0/queues/rx-0/rps_cpus`.
    /// Mounting one needs `CAP_SYS_ADMIN`; without it, the calling thread's own namespace
    /// falls back to `/sys/class/net` as mounted.
    SysClassNet,
}

impl Tree {
    fn path(self) -> &'static str {
        match self {
            Self::SysctlNet => "/proc/sys/net",
            Self::ProcNet => "/proc/thread-self/net",
            Self::SysClassNet => "/sys/class/net",
        }
    }
}

/// How many files one namespace handle keeps open.
const PER_NAMESPACE: usize = 1024;

/// Files kept open by all namespace handles of the process together.
static CACHED: AtomicUsize = AtomicUsize::new(0);

/// The most files the process keeps open in caches: half of its descriptor limit, so that
/// the caches never take the descriptors a program needs for itself.
fn budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| usize::try_from(soft / 2).unwrap_or(usize::MAX))
            .unwrap_or(256)
            .max(16)
    })
}

/// Raises the process's `RLIMIT_NOFILE` soft limit to its hard limit and returns the new
/// soft limit: programs that tune many namespaces call it once at start, before the first
/// namespaced read (the file budget is set from the limit then).
///
/// # Errors
///
/// When the limits cannot be read or set.
pub fn raise_fd_limit() -> io::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    }
    Ok(hard.max(soft))
}

/// Replaces the file at `path` with `data` so that a reader (or a crash) sees the old
/// file or the new one, never a part: a temporary file created `O_EXCL|O_NOFOLLOW` with
/// `mode` beside it, written, synced, renamed over `path`, and the directory synced. On
/// failure the temporary file is removed and `path` is as it was.
///
/// # Errors
///
/// When the directory cannot be written, the disk is full, or `path` names no file.
pub fn write_atomic(path: &std::path::Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{nanos:x}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// An open file and whether it was opened for writing too.
struct Opened {
    file: Arc<File>,
    writable: bool,
}

struct Slot {
    opened: Opened,
    used: u64,
}

#[derive(Default)]
struct Cache {
    slots: HashMap<(Tree, Box<str>), Slot>,
    clock: u64,
}

/// The files a namespace handle keeps open (shared by its clones), and its sysfs.
#[derive(Default)]
pub(crate) struct Files {
    sysfs: Mutex<Option<Arc<OwnedFd>>>,
    cache: Mutex<Cache>,
}

impl Drop for Files {
    fn drop(&mut self) {
        let n = self.cache.get_mut().map_or(0, |c| c.slots.len());
        CACHED.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Errors of an open file that mean "what this descriptor named is gone".
fn gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENODEV | libc::ESTALE | libc::ENXIO)
    )
}

fn refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EACCES | libc::EPERM | libc::EROFS)
    )
}

fn rel_ok(rel: &str) -> io::Result<()> {
    if rel.is_empty()
        || rel.starts_with('/')
        || rel.contains('\0')
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{rel:?} is not a relative path below the tree"),
        ));
    }
    Ok(())
}

/// Opens `open(flags)` read-write when it may, else read-only (or write-only when
/// `write`): one descriptor then serves both reads and writes of a key.
fn open_best(write: bool, open: impl Fn(OFlag) -> io::Result<OwnedFd>) -> io::Result<Opened> {
    let made = |fd: OwnedFd, writable| Opened {
        file: Arc::new(File::from(fd)),
        writable,
    };
    match open(OFlag::O_RDWR) {
        Ok(fd) => Ok(made(fd, true)),
        Err(e) if refused(&e) => {
            if write {
                open(OFlag::O_WRONLY).map(|fd| made(fd, true))
            } else {
                open(OFlag::O_RDONLY).map(|fd| made(fd, false))
            }
        }
        Err(e) => Err(e),
    }
}

/// Opens a path as seen by the calling thread.
fn open_path(path: &str, write: bool) -> io::Result<Opened> {
    open_best(write, |flags| {
        std::fs::OpenOptions::new()
            .read(!flags.contains(OFlag::O_WRONLY))
            .write(flags.intersects(OFlag::O_WRONLY | OFlag::O_RDWR))
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map(OwnedFd::from)
    })
}

impl Files {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lookup(&self, tree: Tree, rel: &str, write: bool) -> Option<Arc<File>> {
        let mut cache = self.lock();
        cache.clock += 1;
        let now = cache.clock;
        let slot = cache.slots.get_mut(&(tree, rel.into()))?;
        if write && !slot.opened.writable {
            return None;
        }
        slot.used = now;
        Some(Arc::clone(&slot.opened.file))
    }

    fn contains(&self, tree: Tree, rel: &str) -> bool {
        self.lock().slots.contains_key(&(tree, rel.into()))
    }

    /// Keeps `opened` (replacing an earlier file of the same name), unless the budget is
    /// spent; returns its file.
    fn insert(&self, tree: Tree, rel: &str, opened: Opened) -> Arc<File> {
        let file = Arc::clone(&opened.file);
        let mut cache = self.lock();
        cache.clock += 1;
        let used = cache.clock;
        let key = (tree, Box::<str>::from(rel));
        if let Some(slot) = cache.slots.get_mut(&key) {
            *slot = Slot { opened, used };
            return file;
        }
        if cache.slots.len() >= PER_NAMESPACE {
            let oldest = cache
                .slots
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                cache.slots.remove(&k);
                CACHED.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if CACHED.fetch_add(1, Ordering::Relaxed) >= budget() {
            CACHED.fetch_sub(1, Ordering::Relaxed);
            return file;
        }
        cache.slots.insert(key, Slot { opened, used });
        file
    }

    fn forget(&self, tree: Tree, rel: &str) {
        if self.lock().slots.remove(&(tree, rel.into())).is_some() {
            CACHED.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn len(&self) -> usize {
        self.lock().slots.len()
    }
}

impl NetNs {
    /// The namespace's own sysfs, mounted on first use and kept open.
    fn sysfs(&self) -> Result<io::Result<Arc<OwnedFd>>> {
        let files = &self.inner.files;
        if let Some(d) = &*files.sysfs.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(Ok(Arc::clone(d)));
        }
        let open = || -> io::Result<OwnedFd> { Ok(File::open(Tree::SysClassNet.path())?.into()) };
        let opened = match self.run_with_sysfs(open) {
            Ok(r) => r,
            // No right to mount: the caller's own namespace still has its /sys.
            Err(_) if self.is_current_thread() => open(),
            Err(e) => return Err(e),
        };
        Ok(opened.map(|fd| {
            let mut slot = files.sysfs.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(slot.get_or_insert_with(|| Arc::new(fd)))
        }))
    }

    /// Opens `rels` below `tree` as the namespace sees them: on a thread inside it for the
    /// procfs trees (all in one hop), from the calling thread below the namespace's sysfs.
    fn open_many(
        &self,
        tree: Tree,
        rels: Vec<String>,
        write: bool,
    ) -> Result<Vec<(String, io::Result<Opened>)>> {
        match tree {
            Tree::SysctlNet | Tree::ProcNet => self.run_owned(move || {
                rels.into_iter()
                    .map(|rel| {
                        let opened = open_path(&format!("{}/{rel}", tree.path()), write);
                        (rel, opened)
                    })
                    .collect()
            }),
            Tree::SysClassNet => {
                let dir = match self.sysfs()? {
                    Ok(d) => d,
                    Err(e) => {
                        let kind = e.kind();
                        let text = e.to_string();
                        return Ok(rels
                            .into_iter()
                            .map(|rel| (rel, Err(io::Error::new(kind, text.clone()))))
                            .collect());
                    }
                };
                Ok(rels
                    .into_iter()
                    .map(|rel| {
                        let opened = open_best(write, |flags| {
                            openat(
                                dir.as_fd(),
                                rel.as_str(),
                                flags | OFlag::O_CLOEXEC,
                                Mode::empty(),
                            )
                            .map_err(io::Error::from)
                        });
                        (rel, opened)
                    })
                    .collect())
            }
        }
    }

    /// The file `rel` below `tree`, from the cache unless `fresh`.
    fn tree_file(
        &self,
        tree: Tree,
        rel: &str,
        write: bool,
        fresh: bool,
    ) -> Result<io::Result<Arc<File>>> {
        if let Err(e) = rel_ok(rel) {
            return Ok(Err(e));
        }
        let files = &self.inner.files;
        if fresh {
            files.forget(tree, rel);
        } else if let Some(f) = files.lookup(tree, rel, write) {
            return Ok(Ok(f));
        }
        let mut opened = self.open_many(tree, vec![rel.to_owned()], write)?;
        Ok(match opened.pop() {
            Some((_, Ok(o))) => Ok(files.insert(tree, rel, o)),
            Some((_, Err(e))) => Err(e),
            None => Err(io::Error::other("nothing opened")),
        })
    }

    /// Opens the files `rels` below `tree` ahead of a batch of reads and writes, all in
    /// one hop into the namespace, and keeps them (as far as the limits allow). Files that
    /// cannot be opened are left for the read or write to report.
    ///
    /// # Errors
    ///
    /// [`crate::NetnsError`] when the namespace cannot be entered.
    pub fn open_files(&self, tree: Tree, rels: &[&str]) -> Result<()> {
        let files = &self.inner.files;
        let missing: Vec<String> = rels
            .iter()
            .filter(|r| rel_ok(r).is_ok() && !files.contains(tree, r))
            .map(|r| (*r).to_owned())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        for (rel, opened) in self.open_many(tree, missing, false)? {
            if let Ok(o) = opened {
                files.insert(tree, &rel, o);
            }
        }
        Ok(())
    }

    /// Reads the whole of file `rel` below `tree` of this namespace into `buf` (cleared
    /// first), from the calling thread: the first use of a file enters the namespace once
    /// to open it (see [`NetNs::open_files`] for many at once); later reads are a `pread(2)`
    /// of the file kept open. Returns the length read.
    ///
    /// The outer error is entering the namespace (needs `CAP_SYS_ADMIN` unless the calling
    /// thread is in it already); the inner one is the file's own (`ENOENT` for an absent
    /// key or interface, `EACCES`...).
    ///
    /// ```no_run
    /// use nettune_core::{NetNs, files::Tree};
    /// let ns = NetNs::open("edge")?;
    /// let mut buf = Vec::new();
    /// ns.read_file(Tree::SysctlNet, "ipv4/tcp_rmem", &mut buf)??;
    /// ns.read_file(Tree::ProcNet, "snmp", &mut buf)??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See above.
    pub fn read_file(&self, tree: Tree, rel: &str, buf: &mut Vec<u8>) -> Result<io::Result<usize>> {
        let mut fresh = false;
        loop {
            let file = match self.tree_file(tree, rel, false, fresh)? {
                Ok(f) => f,
                Err(e) => return Ok(Err(e)),
            };
            match read_all_at(&file, buf) {
                Err(e) if gone(&e) && !fresh => fresh = true,
                other => return Ok(other),
            }
        }
    }

    /// Writes `data` to file `rel` below `tree` of this namespace in one `pwrite(2)` at
    /// offset 0, as [`NetNs::read_file`] reads (the file kept open for the next write).
    /// Returns the length the kernel took.
    ///
    /// # Errors
    ///
    /// As [`NetNs::read_file`]; the kernel's refusal of the value is the inner error.
    pub fn write_file(&self, tree: Tree, rel: &str, data: &[u8]) -> Result<io::Result<usize>> {
        let mut fresh = false;
        loop {
            let file = match self.tree_file(tree, rel, true, fresh)? {
                Ok(f) => f,
                Err(e) => return Ok(Err(e)),
            };
            match file.write_at(data, 0) {
                Err(e) if gone(&e) && !fresh => fresh = true,
                other => return Ok(other),
            }
        }
    }

    /// The mode (type and permission bits, as `st_mode`) of `rel` below `tree`: from the
    /// file kept open when there is one. A key that is read-only in a child namespace shows
    /// mode 0444 there.
    ///
    /// # Errors
    ///
    /// As [`NetNs::read_file`].
    pub fn file_mode(&self, tree: Tree, rel: &str) -> Result<io::Result<u32>> {
        if let Err(e) = rel_ok(rel) {
            return Ok(Err(e));
        }
        if let Some(file) = self.inner.files.lookup(tree, rel, false) {
            match file.metadata() {
                Ok(m) => return Ok(Ok(m.mode())),
                Err(e) if gone(&e) => self.inner.files.forget(tree, rel),
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(match tree {
            // Opening it (inside) is what a read would do next; a key that cannot be
            // opened (write-only, root-only) is looked up there instead.
            Tree::SysctlNet | Tree::ProcNet => match self.tree_file(tree, rel, false, false)? {
                Ok(file) => file.metadata().map(|m| m.mode()),
                Err(e) if refused(&e) => {
                    let path = format!("{}/{rel}", tree.path());
                    self.run_owned(move || std::fs::metadata(path).map(|m| m.mode()))?
                }
                Err(e) => Err(e),
            },
            Tree::SysClassNet => match self.sysfs()? {
                Ok(dir) => fstatat(dir.as_fd(), rel, AtFlags::empty())
                    .map(|st| st.st_mode)
                    .map_err(io::Error::from),
                Err(e) => Err(e),
            },
        })
    }

    /// How many files this namespace handle keeps open now.
    pub fn cached_files(&self) -> usize {
        self.inner.files.len()
    }
}

/// Reads a whole file from offset 0.
fn read_all_at(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    // A sysctl of numbers is printed whole by the first read and reads as empty at any
    // offset after it: the first read must have room for the whole value (a page).
    buf.reserve(4096);
    loop {
        let len = buf.len();
        if buf.capacity() == len {
            buf.reserve(len.max(4096));
        }
        let spare = buf.capacity() - len;
        buf.resize(len + spare, 0);
        let offset = u64::try_from(len).unwrap_or(u64::MAX);
        match file.read_at(&mut buf[len..], offset) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(len);
            }
            Ok(n) => buf.truncate(len + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(len),
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
}

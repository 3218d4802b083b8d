//! A namespace's own files, read and written from any thread.
//!
//! The kernel resolves `/proc/sys/net`, `/proc/net` and `/sys/class/net` against the
//! network namespace of the thread that *looks them up*; once a directory or file is open,
//! it stays bound to that namespace whichever thread uses it (a lookup below an open
//! `/proc/sys/net` directory stays in that directory's namespace; a sysfs mounted from
//! inside the namespace shows its interfaces for as long as it is held open). So a
//! [`NetNs`] keeps, per [`Tree`], the directory it opened once from inside (one thread
//! hop, or none when the calling thread is already there), and a bounded set of the files
//! below it that were used last: a repeated read in another namespace is one `pread(2)`,
//! as cheap as in the caller's own.
//!
//! Files are re-opened when the kernel has removed what they refer to (an interface
//! deleted and created again under the same name reads the new one, never a stale value).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use nix::fcntl::{OFlag, openat};
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

/// Whether a cached file is open for reading or writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Access {
    Read,
    Write,
}

/// How many files one namespace keeps open.
const PER_NAMESPACE: usize = 64;

/// Files kept open by all namespaces of the process together.
static CACHED: AtomicUsize = AtomicUsize::new(0);

/// The most files the process keeps open in caches: a quarter of its descriptor limit, so
/// that a program tuning hundreds of namespaces never runs out of descriptors because of
/// them (beyond it, files are opened and closed per call).
fn budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| usize::try_from(soft / 4).unwrap_or(usize::MAX))
            .unwrap_or(256)
            .max(16)
    })
}

struct Slot {
    file: Arc<File>,
    used: u64,
}

#[derive(Default)]
struct Cache {
    slots: HashMap<(Tree, Access, Box<str>), Slot>,
    clock: u64,
}

/// The directories and files a namespace handle keeps open (shared by its clones).
#[derive(Default)]
pub(crate) struct Files {
    dirs: Mutex<HashMap<(Tree, Box<str>), Arc<OwnedFd>>>,
    cache: Mutex<Cache>,
}

impl Drop for Files {
    fn drop(&mut self) {
        let n = self.cache.get_mut().map_or(0, |c| c.slots.len());
        CACHED.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Errors of a file below a tree that mean "what this descriptor named is gone".
fn gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENODEV | libc::ESTALE | libc::ENXIO)
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

impl Files {
    fn lookup(&self, tree: Tree, access: Access, rel: &str) -> Option<Arc<File>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.clock += 1;
        let now = cache.clock;
        let slot = cache.slots.get_mut(&(tree, access, rel.into()))?;
        slot.used = now;
        Some(Arc::clone(&slot.file))
    }

    fn insert(&self, tree: Tree, access: Access, rel: &str, file: &Arc<File>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let key = (tree, access, Box::<str>::from(rel));
        if cache.slots.contains_key(&key) {
            return;
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
        } else if CACHED.fetch_add(1, Ordering::Relaxed) >= budget() {
            CACHED.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        cache.clock += 1;
        let used = cache.clock;
        cache.slots.insert(
            key,
            Slot {
                file: Arc::clone(file),
                used,
            },
        );
    }

    fn forget(&self, tree: Tree, access: Access, rel: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.slots.remove(&(tree, access, rel.into())).is_some() {
            CACHED.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// How many files are cached (for tests).
    fn len(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.slots.len())
    }
}

impl NetNs {
    /// The open directory below which `rel` of `tree` is looked up, and the rest of `rel`
    /// relative to it, opening directories on first use.
    ///
    /// `/proc/sys/net` itself holds links that the kernel resolves against the namespace
    /// of whoever looks them up (`ipv4` there is a link to the namespace's `net/ipv4`), so
    /// for sysctls the directories kept are its subdirectories, all opened in one hop.
    fn tree_dir<'r>(
        &self,
        tree: Tree,
        rel: &'r str,
    ) -> Result<io::Result<(Arc<OwnedFd>, &'r str)>> {
        let (top, rest) = match tree {
            Tree::SysctlNet => match rel.split_once('/') {
                Some(split) => split,
                None => {
                    return Ok(Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{rel:?} is a directory of /proc/sys/net, not a key"),
                    )));
                }
            },
            Tree::ProcNet | Tree::SysClassNet => ("", rel),
        };
        let files = &self.inner.files;
        let cached = |top: &str| {
            files
                .dirs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(tree, Box::from(top)))
                .cloned()
        };
        if let Some(d) = cached(top) {
            return Ok(Ok((d, rest)));
        }
        let opened: io::Result<Vec<(Box<str>, OwnedFd)>> = match tree {
            Tree::SysctlNet => self.run_owned(move || {
                let mut dirs = Vec::new();
                for entry in std::fs::read_dir(tree.path())? {
                    let entry = entry?;
                    let Some(name) = entry.file_name().to_str().map(Box::<str>::from) else {
                        continue;
                    };
                    if let Ok(dir) = File::open(entry.path()) {
                        if dir.metadata().is_ok_and(|m| m.is_dir()) {
                            dirs.push((name, dir.into()));
                        }
                    }
                }
                Ok(dirs)
            })?,
            Tree::ProcNet => {
                self.run_owned(move || Ok(vec![(Box::from(""), File::open(tree.path())?.into())]))?
            }
            Tree::SysClassNet => {
                let open = || -> io::Result<Vec<(Box<str>, OwnedFd)>> {
                    Ok(vec![(Box::from(""), File::open(tree.path())?.into())])
                };
                match self.run_with_sysfs(open) {
                    Ok(r) => r,
                    // No right to mount: the caller's own namespace still has its /sys.
                    Err(_) if self.is_current_thread() => open(),
                    Err(e) => return Err(e),
                }
            }
        };
        let opened = match opened {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        {
            let mut dirs = files.dirs.lock().unwrap_or_else(|p| p.into_inner());
            for (name, fd) in opened {
                dirs.entry((tree, name)).or_insert_with(|| Arc::new(fd));
            }
        }
        Ok(cached(top).map(|d| (d, rest)).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no {}/{top} in the namespace", tree.path()),
            )
        }))
    }

    /// Opens `rel` below `tree` for `access`, from the cache when it is there.
    fn tree_file(
        &self,
        tree: Tree,
        access: Access,
        rel: &str,
        fresh: bool,
    ) -> Result<io::Result<Arc<File>>> {
        if let Err(e) = rel_ok(rel) {
            return Ok(Err(e));
        }
        if !fresh {
            if let Some(f) = self.inner.files.lookup(tree, access, rel) {
                return Ok(Ok(f));
            }
        } else {
            self.inner.files.forget(tree, access, rel);
        }
        let flags = match access {
            Access::Read => OFlag::O_RDONLY,
            Access::Write => OFlag::O_WRONLY,
        } | OFlag::O_CLOEXEC;
        let opened = match tree {
            // /proc/thread-self/net follows the thread that looks it up, so a directory of
            // it would follow the hop thread: its files are opened inside instead (each
            // holds the namespace it was opened in).
            Tree::ProcNet => {
                let path = format!("{}/{rel}", tree.path());
                self.run_owned(move || {
                    openat(nix::fcntl::AT_FDCWD, path.as_str(), flags, Mode::empty())
                        .map_err(io::Error::from)
                })?
            }
            Tree::SysctlNet | Tree::SysClassNet => match self.tree_dir(tree, rel)? {
                Ok((dir, rest)) => {
                    openat(dir.as_fd(), rest, flags, Mode::empty()).map_err(io::Error::from)
                }
                Err(e) => Err(e),
            },
        };
        Ok(opened.map(|fd| {
            let file = Arc::new(File::from(fd));
            self.inner.files.insert(tree, access, rel, &file);
            file
        }))
    }

    /// Reads the whole of file `rel` below `tree` of this namespace into `buf` (cleared
    /// first), from the calling thread: the first use of the tree (and, for
    /// [`Tree::ProcNet`], of each file) enters the namespace once; later reads are a
    /// `pread(2)` of a file kept open. Returns the length read.
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
            let file = match self.tree_file(tree, Access::Read, rel, fresh)? {
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
            let file = match self.tree_file(tree, Access::Write, rel, fresh)? {
                Ok(f) => f,
                Err(e) => return Ok(Err(e)),
            };
            match file.write_at(data, 0) {
                Err(e) if gone(&e) && !fresh => fresh = true,
                other => return Ok(other),
            }
        }
    }

    /// The mode (type and permission bits, as `st_mode`) of `rel` below `tree`, looked up
    /// from the namespace's open directory. A key that is read-only in a child namespace
    /// shows mode 0444 there.
    ///
    /// # Errors
    ///
    /// As [`NetNs::read_file`].
    pub fn file_mode(&self, tree: Tree, rel: &str) -> Result<io::Result<u32>> {
        if let Err(e) = rel_ok(rel) {
            return Ok(Err(e));
        }
        // A file kept open answers without a lookup (which, from a thread of another
        // namespace, the kernel cannot take from its dentry cache).
        let files = &self.inner.files;
        let open = files
            .lookup(tree, Access::Read, rel)
            .or_else(|| files.lookup(tree, Access::Write, rel));
        if let Some(file) = open {
            match file.metadata() {
                Ok(m) => return Ok(Ok(std::os::unix::fs::MetadataExt::mode(&m))),
                Err(e) if gone(&e) => files.forget(tree, Access::Read, rel),
                Err(e) => return Ok(Err(e)),
            }
        }
        let stat = match tree {
            Tree::ProcNet => {
                let path = format!("{}/{rel}", tree.path());
                self.run_owned(move || std::fs::metadata(path))?
                    .map(|m| std::os::unix::fs::MetadataExt::mode(&m))
            }
            Tree::SysctlNet | Tree::SysClassNet => match self.tree_dir(tree, rel)? {
                Ok((dir, rest)) => fstatat(dir.as_fd(), rest, nix::fcntl::AtFlags::empty())
                    .map(|st| st.st_mode)
                    .map_err(io::Error::from),
                Err(e) => Err(e),
            },
        };
        Ok(stat)
    }

    /// How many files this namespace handle keeps open now (bounded per namespace and
    /// across the process).
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
            buf.reserve(len.max(512));
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

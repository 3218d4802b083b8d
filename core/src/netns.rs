//! Network namespace handles.
//!
//! Linux resolves `/proc/sys/net/*`, every new socket, netlink and ioctl handle against the
//! network namespace of the *calling thread* (see `network_namespaces(7)`, `setns(2)`,
//! `unshare(2)`). A [`NetNs`] holds a file descriptor of a namespace, which keeps the
//! namespace alive, and [`NetNs::run`] runs a closure on a scoped thread that has entered
//! it: whatever the closure opens stays bound to that namespace afterwards, and the calling
//! thread never changes namespace.
//!
//! Entering or creating a namespace needs `CAP_SYS_ADMIN`; opening a handle of one needs
//! permission to read its `/proc/PID/ns/net` or `/run/netns` entry.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, TryLockError};

use nix::sched::{CloneFlags, setns, unshare};

use crate::error::{ErrorKind, clip};

/// Result of the namespace operations.
pub type Result<T, E = NetnsError> = std::result::Result<T, E>;

/// Opening, creating, entering or inspecting a network namespace failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} network namespace {what}{}", hint.map(|h| format!(": {h}")).unwrap_or_default())]
pub struct NetnsError {
    op: &'static str,
    what: String,
    hint: Option<&'static str>,
    #[source]
    source: io::Error,
}

impl NetnsError {
    /// What was attempted: `open`, `create`, `enter`, `inspect`, `mount sysfs in`.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// Which namespace: a name, a path, `of pid N`, `anonymous namespace`, `current`.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The kind: [`ErrorKind::PermissionDenied`] without `CAP_SYS_ADMIN` (or the right to
    /// read another process's namespace), [`ErrorKind::NotFound`] for a name or pid that
    /// does not exist, [`ErrorKind::InvalidValue`] for a file that is not a network
    /// namespace.
    pub fn kind(&self) -> ErrorKind {
        match self.source.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) => ErrorKind::NotFound,
            _ if self.source.kind() == io::ErrorKind::InvalidInput => ErrorKind::InvalidValue,
            _ => ErrorKind::of_io(&self.source),
        }
    }
}

/// A handle of a network namespace.
///
/// Cloning is cheap and shares the descriptor. The namespace lives at least as long as any
/// handle of it.
#[derive(Clone)]
pub struct NetNs {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    fd: OwnedFd,
    origin: Box<str>,
    /// The name under /run/netns, when opened by name.
    name: Option<Box<str>>,
    /// A thread parked inside the namespace that runs [`NetNs::run_owned`] jobs, started on
    /// first use and ended when the last handle is dropped (its channel closes).
    worker: Mutex<Option<mpsc::Sender<Job>>>,
    /// The cookie, read once.
    cookie: OnceLock<u64>,
    /// The namespace file's device and inode, read once.
    file_id: OnceLock<Option<(u64, u64)>>,
    /// The directories and files of the namespace kept open ([`crate::files`]).
    pub(crate) files: crate::files::Files,
}

/// `SO_NETNS_COOKIE` (asm-generic/socket.h).
const SO_NETNS_COOKIE: libc::c_int = 71;

/// What names a network namespace across its whole life: its cookie and the boot it
/// belongs to (a cookie is unique only until the machine reboots), and its inode number
/// (for `ip netns identify`; not unique over time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NetNsId {
    /// `SO_NETNS_COOKIE`.
    pub cookie: u64,
    /// `/proc/sys/kernel/random/boot_id`, as 128 bits (serialized as 32 hex digits).
    #[cfg_attr(feature = "serde", serde(with = "hex128"))]
    pub boot_id: u128,
    /// The nsfs inode number.
    pub inode: u64,
}

impl NetNsId {
    /// Whether `other` is the same namespace (cookie and boot; the inode may be reused and
    /// is not compared).
    pub fn same_namespace(&self, other: &Self) -> bool {
        self.cookie == other.cookie && self.boot_id == other.boot_id
    }
}

impl fmt::Display for NetNsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "network namespace {} (cookie {}, boot {:08x})",
            self.inode,
            self.cookie,
            self.boot_id >> 96
        )
    }
}

/// A `u128` as 32 hex digits: JSON numbers above 2^53 do not survive every reader.
#[cfg(feature = "serde")]
mod hex128 {
    pub(super) fn serialize<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:032x}"))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        u128::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), as 128 bits.
///
/// # Errors
///
/// When the file cannot be read or does not hold a UUID.
pub fn boot_id() -> io::Result<u128> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?;
    let hex: String = text.trim().chars().filter(|c| *c != '-').collect();
    u128::from_str_radix(&hex, 16)
        .ok()
        .filter(|_| hex.len() == 32)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "boot_id is not a UUID"))
}

type Job = Box<dyn FnOnce() + Send>;

impl NetNs {
    /// Creates a fresh, anonymous network namespace (only `lo`, down, and default sysctls).
    ///
    /// It disappears when the last handle (and the last socket or process inside) is gone.
    /// Needs `CAP_SYS_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when the kernel refuses `unshare(CLONE_NEWNET)`.
    pub fn create() -> Result<Self> {
        let spawned = std::thread::spawn(|| -> io::Result<OwnedFd> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            Ok(File::open("/proc/thread-self/ns/net")?.into())
        })
        .join();
        let fd = match spawned {
            Ok(result) => result.map_err(|source| netns_error("create", "(anonymous)", source))?,
            Err(payload) => std::panic::resume_unwind(payload),
        };
        Ok(Self::from_fd(fd, "anonymous namespace"))
    }

    /// Opens the namespace that `ip netns add NAME` created (`/run/netns/NAME`).
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when the name is not a plain file name or the namespace does not exist.
    pub fn open(name: &str) -> Result<Self> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(netns_error(
                "open",
                name,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a namespace name is a plain file name",
                ),
            ));
        }
        let path = Path::new("/run/netns").join(name);
        let mut ns = Self::open_file(&path, name)?;
        if let Some(inner) = Arc::get_mut(&mut ns.inner) {
            inner.name = Some(name.into());
        }
        Ok(ns)
    }

    /// Opens a namespace by the path of a namespace file (`/proc/PID/ns/net`, a bind mount).
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when the file cannot be opened or is not a network namespace.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::open_file(path, &path.display().to_string())
    }

    /// Opens the network namespace of process `pid`.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when the process does not exist or its namespace may not be read.
    pub fn from_pid(pid: u32) -> Result<Self> {
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        Self::open_file(&path, &format!("of pid {pid}"))
    }

    /// The namespace of the calling thread.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when `/proc/thread-self/ns/net` cannot be opened (no `/proc`).
    pub fn current() -> Result<Self> {
        Self::open_file(Path::new("/proc/thread-self/ns/net"), "current")
    }

    fn open_file(path: &Path, what: &str) -> Result<Self> {
        let file = File::open(path).map_err(|source| netns_error("open", what, source))?;
        let ns = Self::from_fd(file.into(), what);
        if !crate::sys::namespace_type(ns.as_fd()).is_ok_and(|t| t == libc::CLONE_NEWNET) {
            return Err(netns_error(
                "open",
                what,
                io::Error::new(io::ErrorKind::InvalidInput, "not a network namespace file"),
            ));
        }
        Ok(ns)
    }

    fn from_fd(fd: OwnedFd, origin: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                fd,
                origin: origin.into(),
                name: None,
                worker: Mutex::new(None),
                cookie: OnceLock::new(),
                file_id: OnceLock::new(),
                files: crate::files::Files::default(),
            }),
        }
    }

    /// Whether the calling thread is in this namespace now (its
    /// `/proc/thread-self/ns/net` is the same namespace file). `false` when either cannot
    /// be inspected.
    pub fn is_current_thread(&self) -> bool {
        let own = *self.inner.file_id.get_or_init(|| {
            nix::sys::stat::fstat(self.inner.fd.as_fd())
                .ok()
                .map(|st| (st.st_dev, st.st_ino))
        });
        let Some(own) = own else { return false };
        std::fs::metadata("/proc/thread-self/ns/net").is_ok_and(|m| (m.dev(), m.ino()) == own)
    }

    /// Runs `f` on a scoped thread inside this namespace and returns its result.
    ///
    /// Files, sockets and netlink handles that `f` opens stay bound to the namespace. A
    /// panic in `f` is resumed on the calling thread. Needs `CAP_SYS_ADMIN`, except when
    /// the calling thread is already in the namespace ([`NetNs::is_current_thread`]): then
    /// `f` runs on the calling thread itself, and no privilege is needed.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when the thread cannot enter the namespace.
    ///
    /// ```no_run
    /// use nettune_core::NetNs;
    /// let ns = NetNs::create()?;
    /// let inside = ns.run(|| std::fs::read_to_string("/proc/sys/net/ipv4/tcp_rmem"))??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        if self.is_current_thread() {
            return Ok(f());
        }
        let fd = self.inner.fd.as_fd();
        let joined = std::thread::scope(|scope| {
            scope
                .spawn(move || -> io::Result<T> {
                    setns(fd, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                    Ok(f())
                })
                .join()
        });
        match joined {
            Ok(result) => result.map_err(|source| netns_error("enter", &self.inner.origin, source)),
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Runs `f` inside this namespace like [`NetNs::run`], but on a thread kept parked in
    /// the namespace, which saves creating a thread per call (about 50 µs).
    ///
    /// The parked thread takes one job at a time: a call made while it is busy (from
    /// another thread, or from inside `f`) falls back to [`NetNs::run`]. Needs
    /// `CAP_SYS_ADMIN`, except when the calling thread is already in the namespace: then
    /// `f` runs on the calling thread, as with [`NetNs::run`].
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when no thread can enter the namespace.
    pub fn run_owned<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.is_current_thread() {
            return Ok(f());
        }
        let mut worker = match self.inner.worker.try_lock() {
            Ok(guard) => guard,
            // A job panicked while the lock was held; the worker itself is fine.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return self.run(f),
        };
        let sender = match &*worker {
            Some(sender) => sender.clone(),
            None => {
                let sender = self.start_worker()?;
                *worker = Some(sender.clone());
                sender
            }
        };
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(result);
        });
        if let Err(mpsc::SendError(job)) = sender.send(job) {
            // The worker is gone: forget it and run the job on a thread of its own.
            *worker = None;
            drop(worker);
            self.run(job)?;
        }
        match rx.recv() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(payload)) => std::panic::resume_unwind(payload),
            Err(_) => Err(netns_error(
                "enter",
                &self.inner.origin,
                io::Error::other("the namespace's worker thread stopped"),
            )),
        }
    }

    fn start_worker(&self) -> Result<mpsc::Sender<Job>> {
        let fd = self
            .inner
            .fd
            .try_clone()
            .map_err(|source| netns_error("enter", &self.inner.origin, source))?;
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        std::thread::Builder::new()
            .name("netns-worker".into())
            .spawn(move || {
                let entered = setns(&fd, CloneFlags::CLONE_NEWNET).map_err(io::Error::from);
                drop(fd);
                let ok = entered.is_ok();
                let _ = ready_tx.send(entered);
                if ok {
                    for job in jobs_rx {
                        job();
                    }
                }
            })
            .map_err(|source| netns_error("enter", &self.inner.origin, source))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(jobs_tx),
            Ok(Err(source)) => Err(netns_error("enter", &self.inner.origin, source)),
            Err(_) => Err(netns_error(
                "enter",
                &self.inner.origin,
                io::Error::other("the worker thread died before entering"),
            )),
        }
    }

    /// Runs `f` inside this namespace with a `/sys` of the namespace's own, as `ip netns
    /// exec` arranges for a command.
    ///
    /// sysfs shows the network devices of the namespace of whoever mounted it, so a thread
    /// that only entered the namespace still sees the host's `/sys/class/net`. This runs
    /// `f` on a scoped thread that enters the namespace, unshares its mount namespace
    /// (private to that thread: nothing propagates to the host), and mounts a fresh sysfs
    /// on `/sys`. The mount disappears with the thread. Needs `CAP_SYS_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when the thread cannot enter the namespace or mount sysfs.
    pub fn run_with_sysfs<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        use nix::mount::{MsFlags, mount};
        let fd = self.inner.fd.as_fd();
        let joined = std::thread::scope(|scope| {
            scope
                .spawn(move || -> io::Result<T> {
                    setns(fd, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                    unshare(CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
                    mount(
                        None::<&str>,
                        "/",
                        None::<&str>,
                        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                        None::<&str>,
                    )
                    .map_err(io::Error::from)?;
                    mount(
                        Some("sysfs"),
                        "/sys",
                        Some("sysfs"),
                        MsFlags::empty(),
                        None::<&str>,
                    )
                    .map_err(io::Error::from)?;
                    Ok(f())
                })
                .join()
        });
        match joined {
            Ok(result) => {
                result.map_err(|source| netns_error("mount sysfs in", &self.inner.origin, source))
            }
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// The namespace's inode number, which identifies it (as `ip netns identify` does).
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when `fstat` fails.
    pub fn inode(&self) -> Result<u64> {
        let file = File::from(
            self.inner
                .fd
                .try_clone()
                .map_err(|source| netns_error("inspect", &self.inner.origin, source))?,
        );
        file.metadata()
            .map(|m| m.ino())
            .map_err(|source| netns_error("inspect", &self.inner.origin, source))
    }

    /// Whether this is the initial network namespace (the one of pid 1).
    ///
    /// Compares with `/proc/1/ns/net` when that may be read; otherwise looks for a
    /// global-only key in the namespace's `/proc/sys/net`, which exists only in the initial
    /// namespace.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when neither way works.
    pub fn is_initial(&self) -> Result<bool> {
        if let Ok(init) = std::fs::metadata("/proc/1/ns/net") {
            return Ok(init.ino() == self.inode()?);
        }
        let probe = self.file_mode(crate::files::Tree::SysctlNet, "core/netdev_max_backlog")?;
        match probe {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(_) => self.run(thread_in_initial),
        }
    }

    /// The namespace's cookie (`SO_NETNS_COOKIE`, Linux 5.14+): a 64-bit number the
    /// kernel never gives to another namespace until it reboots, unlike the inode number,
    /// which a namespace created later may reuse. Together with [`boot_id`] it names a
    /// namespace for good.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when the namespace cannot be entered or the kernel is older than 5.14.
    pub fn cookie(&self) -> Result<u64> {
        if let Some(c) = self.inner.cookie.get() {
            return Ok(*c);
        }
        let cookie = self
            .run_owned(|| {
                let sock = crate::sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0)?;
                crate::raw::getsockopt_u64(sock.as_fd(), libc::SOL_SOCKET, SO_NETNS_COOKIE)
            })?
            .map_err(|source| netns_error("inspect", &self.inner.origin, source))?;
        Ok(*self.inner.cookie.get_or_init(|| cookie))
    }

    /// The namespace's identity: cookie, boot id and inode, which a journal records to
    /// refuse any other namespace later.
    ///
    /// # Errors
    ///
    /// As [`NetNs::cookie`], [`boot_id`] and [`NetNs::inode`].
    pub fn id(&self) -> Result<NetNsId> {
        Ok(NetNsId {
            cookie: self.cookie()?,
            boot_id: boot_id().map_err(|source| netns_error("inspect", "boot", source))?,
            inode: self.inode()?,
        })
    }

    /// The network namespace a socket belongs to (`SIOCGSKNS`): the socket's own, which
    /// need not be the calling thread's.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when `fd` is not a socket, or the kernel refuses.
    pub fn of_socket(fd: impl AsFd) -> Result<Self> {
        let ns = crate::sys::socket_namespace(fd.as_fd())
            .map_err(|source| netns_error("open", "of a socket", source))?;
        Ok(Self::from_fd(ns, "of a socket"))
    }

    /// The name under /run/netns, when the handle was opened with [`NetNs::open`].
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Where this handle came from (a name, a path, `anonymous namespace`, `current`).
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}

impl fmt::Debug for NetNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetNs")
            .field("origin", &self.inner.origin)
            .field("inode", &self.inode().ok())
            .finish()
    }
}

fn netns_error(op: &'static str, what: &str, source: io::Error) -> NetnsError {
    let hint = match source.raw_os_error() {
        Some(libc::EPERM) => Some("creating or entering a network namespace needs CAP_SYS_ADMIN"),
        Some(libc::EACCES) => {
            Some("reading another process's namespace needs root or ptrace access")
        }
        Some(libc::ENOENT) => Some(
            "no such namespace (for a name, /run/netns/NAME does not exist: see `ip netns list`)",
        ),
        _ => None,
    };
    NetnsError {
        op,
        what: clip(what),
        hint,
        source,
    }
}

/// Whether the calling thread is in the initial network namespace.
///
/// Global `net.core` keys such as `netdev_max_backlog` exist only in the initial namespace,
/// so their presence tells, without the permission to inspect pid 1 that a container or a
/// hardened kernel may deny.
pub fn thread_in_initial() -> bool {
    Path::new("/proc/sys/net/core/netdev_max_backlog").exists()
}

#[cfg(test)]
mod tests {
    use super::NetNs;

    #[test]
    fn the_callers_own_namespace_runs_on_the_calling_thread() {
        let here = NetNs::current().expect("open the current namespace");
        assert!(here.is_current_thread());
        let me = std::thread::current().id();
        assert_eq!(here.run(|| std::thread::current().id()).unwrap(), me);
        assert!(
            here.run_owned(move || std::thread::current().id() == me)
                .unwrap()
        );
        // From another thread that has not moved, the same holds there.
        let other = here.clone();
        std::thread::spawn(move || assert!(other.is_current_thread()))
            .join()
            .unwrap();
    }
}

//! Raw and typed access to `/proc/sys` (see `sysctl(8)`, `proc_sys_net(5)` and the kernel's
//! Documentation/admin-guide/sysctl/net.rst and networking/ip-sysctl.rst).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::libc;

use crate::conf::{self, ConfKnob};
use crate::error::{Error, Result, ValueError, clip};
use crate::key::Key;
use crate::knobs::{self, Knob, Scope};
use crate::value::{CongestionControl, NameList};
use nettune_core::files::Tree;
use nettune_core::netns::{self, NetNs};

/// The largest value text written, in bytes (the kernel reads at most a page).
const MAX_VALUE_LEN: usize = 4096;

/// A handle of a sysctl tree: `/proc/sys` of a network namespace, or a directory laid out
/// like it (for tests and offline work).
///
/// Reading needs no privilege for most keys; writing needs root (`CAP_NET_ADMIN` over the
/// namespace's user namespace for `net.*` keys, `CAP_SYS_ADMIN` for the others).
///
/// ```no_run
/// use nettune_sysctl::{Sysctl, knobs};
/// let sys = Sysctl::new();
/// let cc = sys.get::<knobs::TcpCongestionControl>()?;
/// let rmem = sys.read_raw(&"net.ipv4.tcp_rmem".parse()?)?;
/// println!("{cc} {rmem}");
/// # Ok::<(), nettune_sysctl::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sysctl {
    root: Arc<Path>,
    netns: Option<NetNs>,
}

impl Default for Sysctl {
    fn default() -> Self {
        Self::new()
    }
}

impl Sysctl {
    /// The live tree, `/proc/sys`, of the calling thread's network namespace.
    pub fn new() -> Self {
        Self::with_root("/proc/sys")
    }

    /// A tree rooted at `dir` instead of `/proc/sys`: `dir/net/ipv4/tcp_rmem` is the key
    /// `net.ipv4.tcp_rmem`.
    pub fn with_root(dir: impl Into<PathBuf>) -> Self {
        Self {
            root: dir.into().into(),
            netns: None,
        }
    }

    /// The live tree of the calling thread's network namespace (the same as
    /// [`Sysctl::new`], named as every nettune handle's `open`).
    pub fn open() -> Self {
        Self::new()
    }

    /// The live tree of network namespace `ns`: `Sysctl::new().in_netns(ns)`.
    pub fn open_in(ns: &NetNs) -> Self {
        Self::new().in_netns(ns)
    }

    /// The same tree as seen from inside `ns`, whatever thread calls.
    ///
    /// `net.*` keys are read and written from the calling thread through files of the
    /// namespace kept open ([`nettune_core::files`]): the first use of a key enters the
    /// namespace once to open it (which needs `CAP_SYS_ADMIN`, unless the calling thread is
    /// in it already; [`Sysctl::open_keys`] opens many in one go, as plans, snapshots and
    /// rollbacks do), later ones cost a `pread(2)`/`pwrite(2)`, as in the caller's own
    /// namespace. Listing and [`Sysctl::read_tree`] enter it once per call; other keys are
    /// not namespaced by the network namespace and enter it per call. Every handle of the
    /// same [`NetNs`] shares the open files, which stay bound to `ns` even after its
    /// `/run/netns` name is deleted (a handle keeps its namespace alive).
    pub fn in_netns(&self, ns: &NetNs) -> Self {
        Self {
            root: self.root.clone(),
            netns: Some(ns.clone()),
        }
    }

    /// The root directory (`/proc/sys` unless set with [`Sysctl::with_root`]).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The namespace this handle enters, if any.
    pub fn netns(&self) -> Option<&NetNs> {
        self.netns.as_ref()
    }

    /// Runs `f` in this handle's namespace (directly when it has none), on the namespace's
    /// parked thread, with a handle of the same tree that enters nothing.
    fn in_ns<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Self) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        match &self.netns {
            None => f(self),
            Some(ns) => {
                let local = Self {
                    root: Arc::clone(&self.root),
                    netns: None,
                };
                ns.run_owned(move || f(&local))?
            }
        }
    }

    fn path_of(&self, key: &Key) -> PathBuf {
        self.root.join(key.path())
    }

    /// For a `net.*` key of a namespace's live tree, the namespace and the key's path
    /// below `/proc/sys/net`: such a key is read and written from the calling thread
    /// through the namespace's open files ([`nettune_core::files`]), entering it at most
    /// once.
    fn net_file<'k>(&self, key: &'k Key) -> Option<(&NetNs, &'k str)> {
        let ns = self.netns.as_ref()?;
        if *self.root != *Path::new("/proc/sys") {
            return None;
        }
        key.path().strip_prefix("net/").map(|rel| (ns, rel))
    }

    /// Opens the files of `keys` ahead of a batch of reads and writes: in another
    /// namespace, one hop into it for all of them instead of one per key on first use. A
    /// handle of the caller's own tree has nothing to do.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] when the namespace cannot be entered.
    pub fn open_keys<'k>(&self, keys: impl IntoIterator<Item = &'k Key>) -> Result<()> {
        let Some(ns) = &self.netns else {
            return Ok(());
        };
        let rels: Vec<&str> = keys
            .into_iter()
            .filter_map(|k| self.net_file(k).map(|(_, rel)| rel))
            .collect();
        Ok(ns.open_files(Tree::SysctlNet, &rels)?)
    }

    /// Reads a key's value as the kernel prints it, without the trailing newline.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the key does not exist here, [`Error::PermissionDenied`]
    /// when it may not be read (write-only, root-only), [`Error::Io`] otherwise.
    pub fn read_raw(&self, key: &Key) -> Result<String> {
        if let Some((ns, rel)) = self.net_file(key) {
            let mut buf = Vec::new();
            let read = ns.read_file(Tree::SysctlNet, rel, &mut buf)?;
            let text = read.and_then(|_| {
                String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            });
            return match text {
                Ok(mut text) => {
                    if text.ends_with('\n') {
                        text.pop();
                    }
                    Ok(text)
                }
                Err(e) => {
                    // Explaining the error looks around inside the namespace.
                    let key = key.clone();
                    self.in_ns(move |sys| Err(sys.open_error(&key, "read", e)))
                }
            };
        }
        let key = key.clone();
        self.in_ns(move |sys| sys.read_here(&key))
    }

    fn read_here(&self, key: &Key) -> Result<String> {
        self.open_key(key, false)
            .and_then(|f| read_value(&f))
            .map_err(|e| self.open_error(key, "read", e))
    }

    /// Whether this handle works on the live tree (the kernel's `/proc/sys`) rather than a
    /// directory laid out like it.
    fn is_live(&self) -> bool {
        *self.root == *Path::new("/proc/sys")
    }

    /// Opens `key` for reading or writing. In a tree other than `/proc/sys` the path is
    /// resolved beneath the root (`openat2(RESOLVE_BENEATH)`: no `..` or symlink leads out
    /// of it) and a write truncates, so a shorter value replaces a longer one whole.
    fn open_key(&self, key: &Key, write: bool) -> io::Result<fs::File> {
        if self.is_live() {
            return OpenOptions::new()
                .read(!write)
                .write(write)
                .open(self.path_of(key));
        }
        use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
        let root = fs::File::open(&*self.root)?;
        let flags = if write {
            OFlag::O_WRONLY | OFlag::O_TRUNC
        } else {
            OFlag::O_RDONLY
        } | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY;
        let how = OpenHow::new()
            .flags(flags)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(&root, key.path(), how).map_err(|e| match e {
            nix::errno::Errno::EXDEV | nix::errno::Errno::ELOOP => io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} leads out of the tree at {} (a symlink or `..`)",
                    key.path(),
                    self.root.display()
                ),
            ),
            e => io::Error::from(e),
        })?;
        let file = fs::File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", key.path()),
            ));
        }
        Ok(file)
    }

    /// The key's file mode, looked up as [`Sysctl::open_key`] opens it.
    fn key_mode(&self, key: &Key) -> io::Result<(bool, u32)> {
        let meta = if self.is_live() {
            fs::metadata(self.path_of(key))?
        } else {
            use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
            let root = fs::File::open(&*self.root)?;
            let how = OpenHow::new()
                .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            let fd = openat2(&root, key.path(), how).map_err(io::Error::from)?;
            fs::File::from(fd).metadata()?
        };
        Ok((meta.is_file(), meta.permissions().mode()))
    }

    /// Writes a value as text, in one `write(2)`, as `sysctl -w` does.
    ///
    /// The value is checked first (no NUL, no newline but a trailing one, at most 4096
    /// bytes); a rejected value opens nothing. An empty value is written as a newline,
    /// which empties a string key (`kernel.core_pattern =` in sysctl.d).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when the value is malformed or the kernel rejects it,
    /// [`Error::CongestionControlUnavailable`] / [`Error::CongestionControlNotAllowed`] for
    /// an algorithm this namespace cannot use, [`Error::PermissionDenied`] (not root, or a
    /// key read-only in a child namespace), [`Error::Unsupported`] for an absent key.
    pub fn write_raw(&self, key: &Key, value: &str) -> Result<()> {
        let value = value.strip_suffix('\n').unwrap_or(value);
        let reason = if value.len() > MAX_VALUE_LEN {
            Some("longer than 4096 bytes")
        } else if value.contains('\0') {
            Some("contains a NUL byte")
        } else if value.contains('\n') {
            Some("contains a newline")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::InvalidValue {
                key: key.clone(),
                value: clip(value),
                reason: reason.to_owned(),
                source: None,
            });
        }
        // An empty value is written as a lone newline, as systemd-sysctl and `echo` do: a
        // string key becomes empty, a number key refuses it.
        let value = if value.is_empty() { "\n" } else { value };
        if let Some((ns, rel)) = self.net_file(key) {
            let written = ns.write_file(Tree::SysctlNet, rel, value.as_bytes())?;
            let (key, value) = (key.clone(), value.to_owned());
            return match written {
                Ok(n) => short_write(&key, n, value.len()),
                Err(e) => self.in_ns(move |sys| {
                    // Opening and writing fail alike here: a key that is not there was
                    // never opened (absent), one that is there refused the value.
                    if sys.key_mode(&key).is_err() {
                        return Err(sys.open_error(&key, "write", e));
                    }
                    Err(sys.write_error(&key, &value, e))
                }),
            };
        }
        let (key, value) = (key.clone(), value.to_owned());
        self.in_ns(move |sys| sys.write_here(&key, &value))
    }

    fn write_here(&self, key: &Key, value: &str) -> Result<()> {
        let mut file = self
            .open_key(key, true)
            .map_err(|e| self.open_error(key, "write", e))?;
        match file.write(value.as_bytes()) {
            Ok(n) => short_write(key, n, value.len()),
            Err(e) => Err(self.write_error(key, value, e)),
        }
    }

    /// Whether the key's mode lets root write it in this handle's namespace. Keys that are
    /// read-only in a child namespace (`net.core.rmem_max`, ...) show mode 0444 there.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the key does not exist here.
    pub fn is_writable(&self, key: &Key) -> Result<bool> {
        if let Some((ns, rel)) = self.net_file(key) {
            return match ns.file_mode(Tree::SysctlNet, rel)? {
                Ok(mode) => Ok(mode & libc::S_IFMT == libc::S_IFREG && mode & 0o200 != 0),
                Err(e) => {
                    let key = key.clone();
                    self.in_ns(move |sys| Err(sys.open_error(&key, "inspect", e)))
                }
            };
        }
        let key = key.clone();
        self.in_ns(move |sys| {
            sys.key_mode(&key)
                .map(|(file, mode)| file && mode & 0o200 != 0)
                .map_err(|e| sys.open_error(&key, "inspect", e))
        })
    }

    /// Why `key` cannot be set in this handle's namespace, or `None` when it can: absent
    /// (with the likely cause), read-only (in a child namespace or everywhere).
    pub fn unsettable_reason(&self, key: &Key) -> Option<String> {
        match self.is_writable(key) {
            Ok(true) => None,
            Ok(false) => {
                let key = key.clone();
                let reason = self.in_ns(move |sys| {
                    let eperm = io::Error::from_raw_os_error(libc::EACCES);
                    Ok(sys.denied_reason(&key, "write", &eperm))
                });
                Some(reason.unwrap_or_else(|e| e.to_string()))
            }
            Err(Error::Unsupported { reason, .. }) => Some(format!("absent: {reason}")),
            Err(e) => Some(e.to_string()),
        }
    }

    /// Why writing `value` to `key` here would be refused, or `None` when nothing says so
    /// before writing: [`Sysctl::unsettable_reason`], a congestion control that a child
    /// namespace may not pick (it is not in `tcp_allowed_congestion_control`), an MPTCP
    /// scheduler or path manager the kernel does not have (not in
    /// `net.mptcp.available_schedulers` / `available_path_managers`). Plans call it so that a
    /// dry run refuses what the apply would.
    pub fn refusal(&self, key: &Key, value: &str) -> Option<String> {
        if let Some(reason) = self.unsettable_reason(key) {
            return Some(reason);
        }
        if !self.is_live() {
            return None;
        }
        let name = key.to_string();
        // The MPTCP scheduler and path manager are picked from what the kernel has.
        for (choice, list) in [
            ("net.mptcp.scheduler", "net.mptcp.available_schedulers"),
            (
                "net.mptcp.path_manager",
                "net.mptcp.available_path_managers",
            ),
        ] {
            if name != choice {
                continue;
            }
            let available = self.read_raw(&Key::new(list).ok()?).ok()?;
            let wanted = value.trim();
            if available.split_whitespace().any(|a| a == wanted) {
                return None;
            }
            return Some(format!(
                "{wanted} is not in {list} ({}): the kernel has no such one",
                available.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        if name != knobs::TcpCongestionControl::KEY {
            return None;
        }
        let child = match &self.netns {
            Some(ns) => !ns.is_initial().ok()?,
            None => !netns::thread_in_initial(),
        };
        if !child {
            return None;
        }
        let allowed = self.get::<knobs::TcpAllowedCongestionControl>().ok()?;
        let names: Vec<String> = allowed.as_slice().iter().map(ToString::to_string).collect();
        let wanted = value.trim();
        if names.iter().any(|n| n == wanted) {
            return None;
        }
        Some(format!(
            "{wanted} is not in net.ipv4.tcp_allowed_congestion_control ({}): a child network namespace may only pick those (the initial namespace sets the list)",
            names.join(" ")
        ))
    }

    /// A description of the tree and namespace this handle works on, and the namespace's
    /// inode when the tree is `/proc/sys`.
    pub(crate) fn target(&self) -> Result<(String, Option<u64>)> {
        if *self.root != *Path::new("/proc/sys") {
            return Ok((format!("the tree at {}", self.root.display()), None));
        }
        let inode = match &self.netns {
            Some(ns) => ns.inode()?,
            None => NetNs::current()?.inode()?,
        };
        Ok((format!("network namespace {inode}"), Some(inode)))
    }

    /// Lists the keys (files) at and below `prefix`, sorted by path.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when `prefix` does not exist, [`Error::Io`] when a directory
    /// cannot be read.
    pub fn keys(&self, prefix: &Key) -> Result<Vec<Key>> {
        let prefix = prefix.clone();
        self.in_ns(move |sys| {
            let mut out = Vec::new();
            sys.walk(&prefix, &mut |key, _| {
                out.push(key);
                Ok(())
            })?;
            out.sort();
            Ok(out)
        })
    }

    /// Reads every key at and below `prefix` in one pass, sorted by path. Keys that cannot
    /// be read (write-only, root-only) carry their error; a failure to list fails the call.
    ///
    /// Inside a namespace this enters it once for the whole tree.
    ///
    /// # Errors
    ///
    /// As [`Sysctl::keys`].
    pub fn read_tree(&self, prefix: &Key) -> Result<Vec<(Key, Result<String>)>> {
        let prefix = prefix.clone();
        self.in_ns(move |sys| {
            let mut out = Vec::new();
            sys.walk(&prefix, &mut |key, _| {
                let value = sys.read_here(&key);
                out.push((key, value));
                Ok(())
            })?;
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
    }

    /// Reads the keys that `pattern` names, sorted by path: a key, a directory (every key
    /// below it), or a glob (`*`, `?`, `[a-z]` within a component, as in sysctl.d), which
    /// names the keys that match it and the keys below the directories that match it:
    /// `net.ipv4.conf.*.rp_filter`, `net.ipv4.conf.eth*`. Only the tree below the part
    /// before the first glob character is listed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] when a glob's first component is a glob (the whole tree is
    /// not listed by accident); otherwise as [`Sysctl::keys`]. A glob that matches nothing
    /// gives an empty list.
    pub fn read_matching(&self, pattern: &Key) -> Result<Vec<(Key, Result<String>)>> {
        let fixed = crate::sysctld::fixed_prefix(pattern);
        if fixed.len() == pattern.components().count() {
            return self.read_tree(pattern);
        }
        if fixed.is_empty() {
            return Err(Error::InvalidKey {
                key: pattern.to_string(),
                reason: "a pattern starts with a fixed name (net.*, not *)",
            });
        }
        let prefix = Key::new(&fixed.join("/"))?;
        let tree = match self.read_tree(&prefix) {
            Ok(t) => t,
            Err(Error::Unsupported { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(tree
            .into_iter()
            .filter(|(k, _)| crate::sysctld::key_matches_below(pattern, k, true))
            .collect())
    }

    /// Calls `visit` for each file at and below `prefix`.
    fn walk(&self, prefix: &Key, visit: &mut dyn FnMut(Key, &Path) -> Result<()>) -> Result<()> {
        let top = self.path_of(prefix);
        if !self.is_live() {
            // The prefix itself must lie inside the tree.
            self.key_mode(prefix)
                .map_err(|e| self.open_error(prefix, "list", e))?;
        }
        let meta = fs::metadata(&top).map_err(|e| self.open_error(prefix, "list", e))?;
        if !meta.is_dir() {
            return visit(prefix.clone(), &top);
        }
        let mut stack = vec![(prefix.clone(), top)];
        while let Some((dir_key, dir)) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|e| self.open_error(&dir_key, "list", e))?;
            for entry in entries {
                let entry = entry.map_err(|source| Error::Io {
                    op: "list",
                    key: dir_key.clone(),
                    source,
                })?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                // A name that is not a valid component cannot be a key; skip it.
                let Ok(key) = dir_key.child(name) else {
                    continue;
                };
                let path = entry.path();
                match entry.file_type() {
                    // A link in a tree other than /proc/sys could lead out of it.
                    Ok(t) if t.is_symlink() => {}
                    Ok(t) if t.is_dir() => stack.push((key, path)),
                    Ok(_) => visit(key, &path)?,
                    // Vanished between listing and stat (an interface went away).
                    Err(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Reads a typed knob.
    ///
    /// # Errors
    ///
    /// As [`Sysctl::read_raw`], and [`Error::UnexpectedValue`] when the kernel's text does
    /// not parse as the knob's type.
    ///
    /// ```no_run
    /// use nettune_sysctl::{Sysctl, knobs::TcpRmem};
    /// let rmem = Sysctl::new().get::<TcpRmem>()?;
    /// println!("autotuning grows receive buffers up to {} bytes", rmem.max());
    /// # Ok::<(), nettune_sysctl::Error>(())
    /// ```
    pub fn get<K: Knob>(&self) -> Result<K::Value> {
        self.get_typed(K::key(), K::parse)
    }

    /// Reads a typed per-interface knob on `on` (an interface, `all` or `default`).
    ///
    /// # Errors
    ///
    /// As [`Sysctl::get`]; [`Error::Unsupported`] names the interface when it does not exist.
    pub fn get_conf<K: ConfKnob>(&self, on: &conf::On) -> Result<K::Value> {
        self.get_typed(K::key(on), K::parse)
    }

    /// Writes a typed per-interface knob on `on` after checking the value.
    ///
    /// # Errors
    ///
    /// As [`Sysctl::set`].
    pub fn set_conf<K: ConfKnob>(&self, on: &conf::On, value: K::Value) -> Result<()> {
        self.set_typed(K::key(on), K::format(&value))
    }

    fn get_typed<T>(&self, key: Key, parse: impl Fn(&str) -> Result<T, ValueError>) -> Result<T> {
        let raw = self.read_raw(&key)?;
        parse(&raw).map_err(|e| Error::UnexpectedValue {
            key,
            value: clip(&raw),
            reason: e.reason().to_owned(),
        })
    }

    fn set_typed(&self, key: Key, text: Result<String, ValueError>) -> Result<()> {
        let text = text.map_err(|e| Error::InvalidValue {
            key: key.clone(),
            value: e.input().to_owned(),
            reason: e.reason().to_owned(),
            source: None,
        })?;
        self.write_raw(&key, &text)
    }

    /// Writes a typed knob after checking the value against the knob's rules.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] before anything is written when the value breaks a rule
    /// (for example `tcp_fastopen` extra bits without their base bit), otherwise as
    /// [`Sysctl::write_raw`].
    ///
    /// ```no_run
    /// use nettune_sysctl::{Sysctl, TcpMem, knobs::TcpRmem};
    /// Sysctl::new().set::<TcpRmem>(TcpMem::new(4096, 131072, 16 << 20)?)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set<K: Knob>(&self, value: K::Value) -> Result<()> {
        self.set_typed(K::key(), K::format(&value))
    }

    /// Whether the calling thread (inside [`Sysctl::in_ns`]: the namespace this handle works
    /// in) is in a child network namespace; `None` for a tree that is not `/proc/sys`.
    fn in_child_namespace(&self) -> Option<bool> {
        (*self.root == *Path::new("/proc/sys")).then(|| !netns::thread_in_initial())
    }

    /// Maps an error from opening (or listing) a key.
    fn open_error(&self, key: &Key, op: &'static str, source: io::Error) -> Error {
        match source.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => Error::Unsupported {
                key: key.clone(),
                reason: self.absent_reason(key),
                source,
            },
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => Error::PermissionDenied {
                key: key.clone(),
                reason: self.denied_reason(key, op, &source),
                source,
            },
            // Refused by this crate: a path that leads out of a tree under another root.
            None if source.kind() == io::ErrorKind::PermissionDenied => Error::PermissionDenied {
                key: key.clone(),
                reason: source.to_string(),
                source,
            },
            _ => Error::Io {
                op,
                key: key.clone(),
                source,
            },
        }
    }

    fn absent_reason(&self, key: &Key) -> String {
        if let Some(r) = knobs::removed(key) {
            return format!(
                "removed from the kernel in Linux {}: {}",
                r.since, r.instead
            );
        }
        let scope = knobs::info(key).map(|k| k.scope);
        if scope == Some(Scope::Global) && self.in_child_namespace() == Some(true) {
            return "a global key, absent in child network namespaces: read or set it in the \
                    initial namespace"
                .to_owned();
        }
        let mut parts = key.components();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("net"), Some("netfilter"), ..) => {
                "the nf_conntrack module is not loaded (modprobe nf_conntrack)".to_owned()
            }
            (Some("net"), Some("mptcp"), ..) => {
                "this kernel has no MPTCP support (CONFIG_MPTCP), or the key is newer than it"
                    .to_owned()
            }
            (Some("net"), Some("ipv4" | "ipv6"), Some("conf" | "neigh"), Some(iface)) => {
                format!("no interface {iface:?} in this network namespace, or no such key for it")
            }
            _ => "no such key on this kernel (a module is not loaded, or the kernel is too old)"
                .to_owned(),
        }
    }

    fn denied_reason(&self, key: &Key, op: &str, source: &io::Error) -> String {
        if source.raw_os_error() == Some(libc::EROFS) {
            return "/proc/sys is mounted read-only here (a container?)".to_owned();
        }
        let mode = self.key_mode(key).map(|(_, mode)| mode).ok();
        let root = nix::unistd::geteuid().is_root();
        if op == "write" {
            if mode.is_some_and(|m| m & 0o222 == 0) {
                let scope = knobs::info(key).map(|k| k.scope);
                if self.in_child_namespace() == Some(true) && scope != Some(Scope::ReadOnly) {
                    return "the key is read-only in a child network namespace: only the initial \
                            namespace may change it"
                        .to_owned();
                }
                return "the key is read-only".to_owned();
            }
            if !root {
                return "writing sysctls needs root (CAP_NET_ADMIN over the namespace for net.*, \
                        CAP_SYS_ADMIN otherwise)"
                    .to_owned();
            }
            return "the kernel refused the write (a security module, or no capability over \
                    this namespace)"
                .to_owned();
        }
        if mode.is_some_and(|m| m & 0o444 == 0) {
            return "the key is write-only".to_owned();
        }
        if !root && mode.is_some_and(|m| m & 0o004 == 0) {
            return "the key is readable only by root".to_owned();
        }
        "the kernel refused the read".to_owned()
    }

    /// Maps an error from `write(2)` on an open key.
    fn write_error(&self, key: &Key, value: &str, source: io::Error) -> Error {
        let source = match self.congestion_error(key, value, source) {
            Ok(err) => return err,
            Err(source) => source,
        };
        match source.raw_os_error() {
            Some(libc::EINVAL | libc::ERANGE | libc::EDOM | libc::ENOENT) => Error::InvalidValue {
                key: key.clone(),
                value: clip(value),
                reason: "rejected by the kernel: malformed or out of range for this key".to_owned(),
                source: Some(source),
            },
            Some(libc::EPERM | libc::EACCES) => Error::PermissionDenied {
                key: key.clone(),
                reason: self.denied_reason(key, "write", &source),
                source,
            },
            _ => Error::Io {
                op: "write",
                key: key.clone(),
                source,
            },
        }
    }

    /// Explains a refused write of a congestion control algorithm with the lists that
    /// apply; gives `source` back for any other key or error. Runs inside the namespace.
    fn congestion_error(
        &self,
        key: &Key,
        value: &str,
        source: io::Error,
    ) -> Result<Error, io::Error> {
        let dotted = key.to_string();
        let is_default = dotted == knobs::TcpCongestionControl::KEY;
        let is_allowed = dotted == knobs::TcpAllowedCongestionControl::KEY;
        if !(is_default || is_allowed) {
            return Err(source);
        }
        let list = |knob: Key| -> Vec<String> {
            self.read_here(&knob)
                .ok()
                .and_then(|raw| raw.parse::<NameList<CongestionControl>>().ok())
                .map(|l| l.as_slice().iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        };
        match source.raw_os_error() {
            Some(libc::ENOENT) => {
                let available = list(knobs::TcpAvailableCongestionControl::key());
                // For the allowed list, name the first algorithm that is not available.
                let name = value
                    .split_whitespace()
                    .find(|n| !available.iter().any(|a| a == n))
                    .unwrap_or(value)
                    .to_owned();
                Ok(Error::CongestionControlUnavailable {
                    key: key.clone(),
                    name,
                    available,
                    source,
                })
            }
            Some(libc::EPERM) if is_default => Ok(Error::CongestionControlNotAllowed {
                key: key.clone(),
                name: value.trim().to_owned(),
                allowed: list(knobs::TcpAllowedCongestionControl::key()),
                source,
            }),
            _ => Err(source),
        }
    }
}

/// A write the kernel took only part of is an error.
fn short_write(key: &Key, took: usize, len: usize) -> Result<()> {
    if took == len {
        return Ok(());
    }
    Err(Error::Io {
        op: "write",
        key: key.clone(),
        source: io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: the kernel took {took} of {len} bytes"),
        ),
    })
}

/// Reads a whole value file without the trailing newline.
fn read_value(mut file: &fs::File) -> io::Result<String> {
    use std::io::Read;
    let mut buf = String::with_capacity(4096);
    file.read_to_string(&mut buf)?;
    if buf.ends_with('\n') {
        buf.pop();
    }
    Ok(buf)
}

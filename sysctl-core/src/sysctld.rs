//! sysctl.d configuration files (see `sysctl.d(5)`, `systemd-sysctl(8)`, `sysctl(8)`).
//!
//! Syntax, per line: blank lines and lines starting with `#` or `;` are comments;
//! `key = value` sets a key (dotted or slashed; the value may be quoted with `"` or `'`);
//! `-key = value` ignores a failed write; a key with `*`, `?` or `[...]` is a glob expanded
//! against the keys that exist, and an explicit assignment wins over a glob whatever their
//! order; `-key` alone excludes a key from the globs. A later assignment of a key wins.
//!
//! [`SysctlConfig`] loads a configuration the way systemd-sysctl does: the `.conf` files of
//! /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d and /usr/lib/sysctl.d; a file name
//! in an earlier directory masks the same name in a later one (a link to /dev/null masks
//! it away); files apply in the order of their names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::key::Key;
use crate::profile::{Profile, ProfileEntry};
use crate::sysctl::Sysctl;
use crate::textfile;

/// One meaningful line of a sysctl.d file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `key = value` or `-key = value` (possibly a glob).
    Set {
        /// The key or glob, validated as a key.
        key: Key,
        /// The value, unquoted and trimmed.
        value: String,
        /// `-` prefix: a failed write is ignored.
        optional: bool,
        /// The comment lines just above it, joined.
        comment: String,
        /// Line number, from 1.
        line: usize,
    },
    /// `-key` alone: the key is excluded from glob expansion.
    Exclude {
        /// The excluded key or glob.
        key: Key,
        /// Line number, from 1.
        line: usize,
    },
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A key's final value in a configuration, and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The key.
    pub key: Key,
    /// The value, as written in the file (unquoted).
    pub value: String,
    /// Whether a failed write is ignored.
    pub optional: bool,
    /// Where it was set.
    pub origin: Origin,
}

/// A parsed sysctl.d file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlD {
    file: PathBuf,
    lines: Vec<Line>,
}

fn is_glob(key: &Key) -> bool {
    key.path().contains(['*', '?', '['])
}

impl SysctlD {
    /// Parses the text of a file; `file` names it in errors and origins.
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] with the file, line and reason for a malformed line: no `=`, an
    /// empty or invalid key, an unterminated quote, an empty value.
    pub fn parse(file: impl Into<PathBuf>, text: &str) -> Result<Self> {
        let file = file.into();
        let mut lines = Vec::new();
        let mut comment: Vec<&str> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |reason: String| Error::Syntax {
                file: file.display().to_string(),
                line,
                reason,
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                comment.clear();
                continue;
            }
            if let Some(c) = trimmed
                .strip_prefix('#')
                .or_else(|| trimmed.strip_prefix(';'))
            {
                comment.push(c.trim());
                continue;
            }
            let (optional, body) = match trimmed.strip_prefix('-') {
                Some(rest) => (true, rest.trim_start()),
                None => (false, trimmed),
            };
            let Some((key_text, value_text)) = body.split_once('=') else {
                if optional && !body.is_empty() {
                    let key = Key::new(body).map_err(|e| bad(e.to_string()))?;
                    lines.push(Line::Exclude { key, line });
                    comment.clear();
                    continue;
                }
                return Err(bad(format!("expected `key = value`, found {trimmed:?}")));
            };
            let key_text = key_text.trim();
            if key_text.is_empty() {
                return Err(bad("empty key before `=`".into()));
            }
            let key = Key::new(key_text).map_err(|e| bad(e.to_string()))?;
            let value = unquote(value_text.trim()).map_err(|r| bad(r.into()))?;
            if value.is_empty() {
                return Err(bad(format!("empty value for {key}")));
            }
            lines.push(Line::Set {
                key,
                value: value.to_owned(),
                optional,
                comment: comment.join("\n"),
                line,
            });
            comment.clear();
        }
        Ok(Self { file, lines })
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    ///
    /// [`Error::File`] or [`Error::Syntax`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::parse(path, &textfile::read(path)?)
    }

    /// The file's name or path.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The meaningful lines, in order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The file's assignments with globs expanded against the keys of `sys`: the final
    /// value of each key, explicit assignments over globs, later over earlier.
    ///
    /// # Errors
    ///
    /// When listing the keys under a glob's fixed prefix fails (other than it being absent).
    pub fn expand(&self, sys: &Sysctl) -> Result<Vec<Resolved>> {
        resolve(std::slice::from_ref(self), sys)
    }

    /// The file as a profile, in file order, when it has no glob or exclusion.
    pub(crate) fn to_profile_without_globs(&self) -> Result<Profile> {
        let mut profile = Profile::new(&self.file.display().to_string());
        for line in &self.lines {
            match line {
                Line::Set {
                    key,
                    value,
                    optional,
                    comment,
                    line,
                } => {
                    let syntax = |reason: String| Error::Syntax {
                        file: self.file.display().to_string(),
                        line: *line,
                        reason,
                    };
                    if is_glob(key) {
                        return Err(syntax(format!(
                            "{key} is a glob, which needs the live keys: use SysctlD::expand"
                        )));
                    }
                    let entry = ProfileEntry::new(key.clone(), value, comment)
                        .map_err(|e| syntax(e.to_string()))?;
                    profile.push(entry.optional(*optional));
                }
                Line::Exclude { line, key } => {
                    return Err(Error::Syntax {
                        file: self.file.display().to_string(),
                        line: *line,
                        reason: format!(
                            "-{key} excludes a key from globs, which needs the live keys"
                        ),
                    });
                }
            }
        }
        Ok(profile)
    }
}

/// Strips one pair of matching quotes.
fn unquote(value: &str) -> Result<&str, &'static str> {
    for q in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(q) {
            return rest.strip_suffix(q).ok_or("unterminated quote");
        }
    }
    Ok(value)
}

/// Matches `name` against a shell glob (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`).
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star_p, mut star_n) = (None, 0);
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star_p = Some(p);
                    star_n = n;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(&pattern[p..], name[n]) {
                        if matched {
                            p += next;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star_p {
            Some(sp) => {
                p = sp + 1;
                star_n += 1;
                n = star_n;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `pattern`; returns (matched, class
/// length), or `None` when the class is not terminated.
fn class_match(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let start = i;
    while i < pattern.len() {
        if pattern[i] == b']' && i > start {
            return Some((matched != negate, i + 1));
        }
        if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            matched |= pattern[i] <= c && c <= pattern[i + 2];
            i += 3;
        } else {
            matched |= pattern[i] == c;
            i += 1;
        }
    }
    None
}

/// Whether `key` matches the glob `pattern`, component by component.
fn key_matches(pattern: &Key, key: &Key) -> bool {
    let (mut p, mut k) = (pattern.components(), key.components());
    loop {
        match (p.next(), k.next()) {
            (None, None) => return true,
            (Some(pc), Some(kc)) if glob_match(pc.as_bytes(), kc.as_bytes()) => {}
            _ => return false,
        }
    }
}

/// The keys of `sys` that match `pattern`, listing only below its fixed prefix.
fn expand_glob(pattern: &Key, sys: &Sysctl) -> Result<Vec<Key>> {
    let fixed: Vec<&str> = pattern
        .components()
        .take_while(|c| !c.contains(['*', '?', '[']))
        .collect();
    if fixed.is_empty() {
        return Ok(Vec::new());
    }
    let prefix = Key::new(&fixed.join("/"))?;
    match sys.keys(&prefix) {
        Ok(keys) => Ok(keys
            .into_iter()
            .filter(|k| key_matches(pattern, k))
            .collect()),
        Err(Error::Unsupported { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The final assignments of `files` applied in order.
fn resolve(files: &[SysctlD], sys: &Sysctl) -> Result<Vec<Resolved>> {
    let mut excluded: Vec<&Key> = Vec::new();
    for f in files {
        for l in &f.lines {
            if let Line::Exclude { key, .. } = l {
                excluded.push(key);
            }
        }
    }
    let is_excluded = |k: &Key| {
        excluded.iter().any(|e| {
            if is_glob(e) {
                key_matches(e, k)
            } else {
                *e == k
            }
        })
    };
    let mut explicit: BTreeMap<Key, Resolved> = BTreeMap::new();
    let mut globbed: BTreeMap<Key, Resolved> = BTreeMap::new();
    let mut order: Vec<Key> = Vec::new();
    for f in files {
        for l in &f.lines {
            let Line::Set {
                key,
                value,
                optional,
                line,
                ..
            } = l
            else {
                continue;
            };
            let origin = Origin {
                file: f.file.clone(),
                line: *line,
            };
            let make = |k: &Key| Resolved {
                key: k.clone(),
                value: value.clone(),
                optional: *optional,
                origin: origin.clone(),
            };
            if is_glob(key) {
                for k in expand_glob(key, sys)? {
                    if !is_excluded(&k) {
                        order.push(k.clone());
                        globbed.insert(k.clone(), make(&k));
                    }
                }
            } else {
                order.push(key.clone());
                explicit.insert(key.clone(), make(key));
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for k in order {
        if !seen.insert(k.clone()) {
            continue;
        }
        if let Some(r) = explicit.get(&k).or_else(|| globbed.get(&k)) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

/// A whole configuration, as systemd-sysctl reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SysctlConfig {
    files: Vec<SysctlD>,
    masked: Vec<PathBuf>,
}

impl SysctlConfig {
    /// The directories systemd-sysctl reads, earliest (strongest) first.
    pub const DIRS: [&'static str; 4] = [
        "/etc/sysctl.d",
        "/run/sysctl.d",
        "/usr/local/lib/sysctl.d",
        "/usr/lib/sysctl.d",
    ];

    /// Loads the system's configuration from [`SysctlConfig::DIRS`].
    ///
    /// # Errors
    ///
    /// [`Error::File`] when a directory or file cannot be read (a missing directory is
    /// fine), [`Error::Syntax`] for a malformed line.
    pub fn load() -> Result<Self> {
        Self::load_dirs(&Self::DIRS.map(PathBuf::from))
    }

    /// Loads the `.conf` files of `dirs` (earliest strongest): a name in an earlier
    /// directory masks the same name in later ones; files apply in name order.
    ///
    /// # Errors
    ///
    /// As [`SysctlConfig::load`].
    pub fn load_dirs(dirs: &[PathBuf]) -> Result<Self> {
        let mut chosen: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut masked = Vec::new();
        for dir in dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(Error::File {
                        op: "list",
                        path: dir.clone(),
                        source,
                    });
                }
            };
            let mut names: Vec<(String, PathBuf)> = entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_owned();
                    name.ends_with(".conf").then(|| (name, e.path()))
                })
                .collect();
            names.sort();
            for (name, path) in names {
                match chosen.entry(name) {
                    std::collections::btree_map::Entry::Occupied(_) => masked.push(path),
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(path);
                    }
                }
            }
        }
        let mut files = Vec::with_capacity(chosen.len());
        for path in chosen.into_values() {
            files.push(SysctlD::load(&path)?);
        }
        Ok(Self { files, masked })
    }

    /// The files that apply, in order.
    pub fn files(&self) -> &[SysctlD] {
        &self.files
    }

    /// The files masked by a file of the same name in an earlier directory.
    pub fn masked(&self) -> &[PathBuf] {
        &self.masked
    }

    /// The final value of every key, globs expanded against `sys`.
    ///
    /// # Errors
    ///
    /// As [`SysctlD::expand`].
    pub fn resolve(&self, sys: &Sysctl) -> Result<Vec<Resolved>> {
        resolve(&self.files, sys)
    }

    /// Which file and line set `key` (after masking, ordering and "later wins").
    ///
    /// # Errors
    ///
    /// As [`SysctlD::expand`].
    pub fn origin(&self, sys: &Sysctl, key: &Key) -> Result<Option<Origin>> {
        Ok(self
            .resolve(sys)?
            .into_iter()
            .find(|r| &r.key == key)
            .map(|r| r.origin))
    }

    /// The configuration as a profile (globs expanded against `sys`); each entry's reason
    /// names its file and line.
    ///
    /// # Errors
    ///
    /// As [`SysctlD::expand`], and [`Error::Syntax`] naming the file and line of a value
    /// that breaks its knob's rules.
    pub fn to_profile(&self, sys: &Sysctl) -> Result<Profile> {
        let mut profile = Profile::new("sysctl.d");
        for r in self.resolve(sys)? {
            let entry = ProfileEntry::new(r.key.clone(), &r.value, &format!("set by {}", r.origin))
                .map_err(|e| Error::Syntax {
                    file: r.origin.file.display().to_string(),
                    line: r.origin.line,
                    reason: e.to_string(),
                })?;
            profile.push(entry.optional(r.optional));
        }
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"eth0"));
        assert!(glob_match(b"eth*", b"eth0"));
        assert!(!glob_match(b"eth*", b"lo"));
        assert!(glob_match(b"e?h[0-9]", b"eth7"));
        assert!(!glob_match(b"eth[!0-9]", b"eth7"));
        assert!(glob_match(b"*.100", b"eth0.100"));
        let p = Key::new("net.ipv4.conf.*.rp_filter").expect("k");
        assert!(key_matches(
            &p,
            &Key::new("net.ipv4.conf.eth0/100.rp_filter").expect("k")
        ));
        assert!(!key_matches(
            &p,
            &Key::new("net.ipv4.conf.eth0.forwarding").expect("k")
        ));
        assert!(!key_matches(
            &p,
            &Key::new("net.ipv4.conf.rp_filter").expect("k")
        ));
    }

    #[test]
    fn parse_syntax() {
        let text = "# comment\n; also\n\n# why it is set\nnet.ipv4.tcp_rmem = \"4096 87380 6291456\"\n\
                    -net.ipv4.tcp_sack=1\n  kernel.x = 'a b'  \n-net.ipv4.conf.lo.rp_filter\n";
        let f = SysctlD::parse("t.conf", text).expect("parse");
        assert_eq!(f.lines().len(), 4);
        match &f.lines()[0] {
            Line::Set {
                key,
                value,
                optional,
                comment,
                line,
            } => {
                assert_eq!(
                    (
                        key.to_string().as_str(),
                        value.as_str(),
                        *optional,
                        comment.as_str(),
                        *line
                    ),
                    (
                        "net.ipv4.tcp_rmem",
                        "4096 87380 6291456",
                        false,
                        "why it is set",
                        5
                    )
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&f.lines()[1], Line::Set { optional: true, .. }));
        assert!(matches!(&f.lines()[2], Line::Set { value, .. } if value == "a b"));
        assert!(matches!(&f.lines()[3], Line::Exclude { line: 8, .. }));
    }

    #[test]
    fn broken_lines_name_file_line_and_reason() {
        for (text, line, needle) in [
            ("net.ipv4.tcp_sack 1\n", 1, "expected `key = value`"),
            ("# c\n = 1\n", 2, "empty key"),
            ("net..x = 1\n", 1, "empty component"),
            ("net.x = \"1\n", 1, "unterminated quote"),
            ("\n\nnet.x =   \n", 3, "empty value"),
            ("/proc/sys/net/x = 1\n", 1, "absolute"),
        ] {
            let err = SysctlD::parse("bad.conf", text)
                .expect_err(text)
                .to_string();
            assert!(err.starts_with(&format!("bad.conf:{line}: ")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn profile_from_sysctl_d_keeps_comments_as_reasons() {
        let p = Profile::from_sysctl_d(
            "# low rtt\nnet.ipv4.tcp_sack = yes\n-net.ipv4.tcp_timestamps = 1\n",
        )
        .expect("profile");
        assert_eq!(p.entries()[0].why(), "low rtt");
        assert_eq!(p.entries()[0].value(), "1");
        assert!(p.entries()[1].is_optional());
        assert!(Profile::from_sysctl_d("net.ipv4.conf.*.rp_filter = 1\n").is_err());
        let e = Profile::from_sysctl_d("\nnet.ipv4.tcp_rmem = 3 2 1\n").expect_err("order");
        assert!(e.to_string().starts_with("(profile):2:"), "{e}");
    }
}

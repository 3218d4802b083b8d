//! sysctl.d configuration files (see `sysctl.d(5)`, `systemd-sysctl(8)`, `sysctl(8)`),
//! read as systemd-sysctl reads them (src/sysctl/sysctl.c and `conf_file_read`):
//!
//! - each line is stripped of whitespace (spaces, tabs, `\r`) at both ends; blank lines
//!   and lines starting with `#` or `;` are comments;
//! - a UTF-8 byte order mark at the start of the file is dropped, with a warning: systemd
//!   and procps take it as part of the first key, which then silently sets nothing;
//! - `key = value` sets a key (dotted or slashed). The value is everything after the first
//!   `=`, stripped: quotes are part of it (neither systemd nor procps removes them, and the
//!   kernel refuses them in numbers), and it may be empty (`kernel.core_pattern =`);
//! - `-key = value` ignores a failed write; `-key` alone excludes that exact key from the
//!   globs; a key with `*`, `?` or `[...]` is a glob expanded against the keys that exist,
//!   and an explicit assignment wins over a glob whatever their order;
//! - a later assignment of a key with another value wins and moves to the end of the write
//!   order (the same value again keeps its place);
//! - a line that is not an assignment, or whose key is not a valid key, is skipped with a
//!   [`Warning`], as systemd-sysctl logs "Line is not an assignment, ignoring".
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
        /// The value, trimmed (quotes, if any, are part of it).
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
    /// The value, as written in the file (trimmed).
    pub value: String,
    /// Whether a failed write is ignored.
    pub optional: bool,
    /// Where it was set.
    pub origin: Origin,
}

/// A line of a sysctl.d file that was skipped, and why (systemd-sysctl logs these and
/// goes on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
    /// Whether the line was ignored (`false` for a notice about a line still used).
    pub skipped: bool,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// A parsed sysctl.d file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlD {
    file: PathBuf,
    lines: Vec<Line>,
    warnings: Vec<Warning>,
}

fn is_glob(key: &Key) -> bool {
    key.path().contains(['*', '?', '['])
}

impl SysctlD {
    /// Parses the text of a file; `file` names it in origins and warnings. A malformed
    /// line is skipped with a [`Warning`] ([`SysctlD::warnings`]), never an error.
    pub fn parse(file: impl Into<PathBuf>, text: &str) -> Self {
        let file = file.into();
        let mut lines = Vec::new();
        let mut warnings = Vec::new();
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => {
                warnings.push(Warning {
                    file: file.clone(),
                    line: 1,
                    message: "a UTF-8 byte order mark at the start was dropped (systemd-sysctl and procps read it as part of the first key, which then does not exist)".into(),
                    skipped: false,
                });
                rest
            }
            None => text,
        };
        let mut comment: Vec<&str> = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let mut warn = |message: String, skipped: bool| {
                warnings.push(Warning {
                    file: file.clone(),
                    line,
                    message,
                    skipped,
                })
            };
            let trimmed = raw.trim_matches([' ', '\t', '\r', '\n']);
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
            let parsed = match trimmed.split_once('=') {
                Some((key_text, value_text)) => {
                    let (optional, key_text) = match key_text.strip_prefix('-') {
                        Some(rest) => (true, rest),
                        None => (false, key_text),
                    };
                    let key_text = key_text.trim_matches([' ', '\t']);
                    if key_text.is_empty() {
                        Err("empty key before `=`, ignoring".to_owned())
                    } else {
                        Key::new(key_text)
                            .map(|key| Line::Set {
                                key,
                                value: value_text.trim_matches([' ', '\t']).to_owned(),
                                optional,
                                comment: comment.join("\n"),
                                line,
                            })
                            .map_err(|e| format!("{e}, ignoring"))
                    }
                }
                None => match trimmed.strip_prefix('-') {
                    Some(rest) => Key::new(rest.trim_matches([' ', '\t']))
                        .map(|key| {
                            if is_glob(&key) {
                                warn(
                                    format!(
                                        "-{key}: an exclusion is matched by its exact name, so a glob here excludes nothing"
                                    ),
                                    false,
                                );
                            }
                            Line::Exclude { key, line }
                        })
                        .map_err(|e| format!("{e}, ignoring")),
                    None => Err(format!(
                        "line is not an assignment (`key = value`), ignoring: {trimmed:?}"
                    )),
                },
            };
            match parsed {
                Ok(l) => lines.push(l),
                Err(message) => warn(message, true),
            }
            comment.clear();
        }
        Self {
            file,
            lines,
            warnings,
        }
    }

    /// The lines that were skipped, and why.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    ///
    /// [`Error::File`] when it cannot be read.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(Self::parse(path, &textfile::read(path)?))
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
    key_matches_below(pattern, key, false)
}

/// Whether `key` matches the glob `pattern` component by component, or (with `below`) lies
/// under a directory that matches it.
pub(crate) fn key_matches_below(pattern: &Key, key: &Key, below: bool) -> bool {
    let (mut p, mut k) = (pattern.components(), key.components());
    loop {
        match (p.next(), k.next()) {
            (None, None) => return true,
            (None, Some(_)) => return below,
            (Some(pc), Some(kc)) if glob_match(pc.as_bytes(), kc.as_bytes()) => {}
            _ => return false,
        }
    }
}

/// The components of `pattern` before its first glob character.
pub(crate) fn fixed_prefix(pattern: &Key) -> Vec<&str> {
    pattern
        .components()
        .take_while(|c| !c.contains(['*', '?', '[']))
        .collect()
}

/// The keys of `sys` that match `pattern`, listing only below its fixed prefix.
fn expand_glob(pattern: &Key, sys: &Sysctl) -> Result<Vec<Key>> {
    let fixed = fixed_prefix(pattern);
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

/// The final assignments of `files` applied in order, in the order systemd-sysctl writes
/// them: each option at the place of its last assignment (the same value again keeps the
/// place), a glob's keys at the glob's place, minus the keys set explicitly or excluded.
fn resolve(files: &[SysctlD], sys: &Sysctl) -> Result<Vec<Resolved>> {
    // The options, as systemd's ordered hashmap holds them: key (or glob) -> value.
    struct Opt<'a> {
        key: &'a Key,
        value: Option<&'a str>,
        optional: bool,
        origin: Origin,
    }
    let mut opts: Vec<Opt<'_>> = Vec::new();
    let mut index: BTreeMap<&Key, usize> = BTreeMap::new();
    for f in files {
        for l in &f.lines {
            let (key, value, optional, line) = match l {
                Line::Set {
                    key,
                    value,
                    optional,
                    line,
                    ..
                } => (key, Some(value.as_str()), *optional, *line),
                Line::Exclude { key, line } => (key, None, false, *line),
            };
            let origin = Origin {
                file: f.file.clone(),
                line,
            };
            if let Some(&i) = index.get(key) {
                if opts[i].value == value {
                    opts[i].optional |= optional;
                    continue;
                }
                opts.remove(i);
                index = opts.iter().enumerate().map(|(i, o)| (o.key, i)).collect();
            }
            index.insert(key, opts.len());
            opts.push(Opt {
                key,
                value,
                optional,
                origin,
            });
        }
    }
    let named: BTreeSet<&Key> = opts.iter().map(|o| o.key).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for o in &opts {
        let Some(value) = o.value else { continue };
        let make = |k: &Key| Resolved {
            key: k.clone(),
            value: value.to_owned(),
            optional: o.optional,
            origin: o.origin.clone(),
        };
        if is_glob(o.key) {
            for k in expand_glob(o.key, sys)? {
                if !named.contains(&k) && seen.insert(k.clone()) {
                    out.push(make(&k));
                }
            }
        } else if seen.insert(o.key.clone()) {
            out.push(make(o.key));
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
    /// fine). A malformed line is skipped with a warning ([`SysctlConfig::warnings`]).
    pub fn load() -> Result<Self> {
        Self::load_dirs(&Self::DIRS.map(PathBuf::from))
    }

    /// A configuration of the named files, applied in the order given (a later file wins),
    /// as `sysctl -p FILE...` reads them: no directory masking.
    pub fn from_files(files: Vec<SysctlD>) -> Self {
        Self {
            files,
            masked: Vec::new(),
        }
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

    /// The lines of every file that were skipped, and why.
    pub fn warnings(&self) -> impl Iterator<Item = &Warning> {
        self.files.iter().flat_map(|f| f.warnings.iter())
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
        let text = "\u{feff}# comment\n; also\n\n# why it is set\nnet.ipv4.tcp_rmem = \"4096 87380 6291456\"\n\
                    -net.ipv4.tcp_sack=1\n  kernel.x = 'a b'  \r\n-net.ipv4.conf.lo.rp_filter\n\
                    kernel.core_pattern =\n";
        let f = SysctlD::parse("t.conf", text);
        assert_eq!(
            f.warnings().len(),
            1,
            "the byte order mark: {:?}",
            f.warnings()
        );
        assert_eq!(f.lines().len(), 5);
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
                        "\"4096 87380 6291456\"",
                        false,
                        "why it is set",
                        5
                    )
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&f.lines()[1], Line::Set { optional: true, .. }));
        assert!(matches!(&f.lines()[2], Line::Set { value, .. } if value == "'a b'"));
        assert!(matches!(&f.lines()[3], Line::Exclude { line: 8, .. }));
        assert!(matches!(&f.lines()[4], Line::Set { value, .. } if value.is_empty()));
        // The byte order mark is not part of the first key.
        let bom = SysctlD::parse("b.conf", "\u{feff}net.ipv4.tcp_sack = 1\n");
        assert!(
            matches!(&bom.lines()[0], Line::Set { key, .. } if key.to_string() == "net.ipv4.tcp_sack")
        );
    }

    #[test]
    fn broken_lines_are_skipped_with_file_line_and_reason() {
        for (text, line, needle) in [
            ("net.ipv4.tcp_sack 1\n", 1, "not an assignment"),
            ("# c\n = 1\n", 2, "empty key"),
            ("net..x = 1\n", 1, "empty component"),
            ("/proc/sys/net/x = 1\n", 1, "absolute"),
            ("-net.ipv4.conf.*.rp_filter\n", 1, "excludes nothing"),
        ] {
            let f = SysctlD::parse("bad.conf", &format!("{text}net.ipv4.tcp_sack = 1\n"));
            let w = f.warnings().first().unwrap_or_else(|| panic!("{text:?}"));
            let shown = w.to_string();
            assert!(shown.starts_with(&format!("bad.conf:{line}: ")), "{shown}");
            assert!(shown.contains(needle), "{shown}");
            // The good line after it still counts.
            assert!(f.lines().iter().any(
                |l| matches!(l, Line::Set { key, .. } if key.to_string() == "net.ipv4.tcp_sack")
            ));
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

//! Snapshots: the values of a set of keys at one moment, to compare and to restore from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::key::Key;
use crate::knobs::canonical_lenient;
use crate::sysctl::Sysctl;
use crate::textfile;

/// The values of a set of keys, as the kernel printed them, sorted by key.
///
/// Keys that could not be read (write-only, root-only, absent) are listed apart with why.
/// Two snapshots compare with [`Snapshot::diff`], which ignores differences the kernel
/// does not see (whitespace in triples, hex against decimal). Saves to and loads from a
/// tab-separated text file, and (with the `serde` feature) serializes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    values: BTreeMap<Key, String>,
    unreadable: BTreeMap<Key, String>,
}

/// One key that differs between two snapshots (`None`: absent or unreadable on that side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The key.
    pub key: Key,
    /// The value in the first snapshot.
    pub before: Option<String>,
    /// The value in the second snapshot.
    pub after: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
        write!(
            f,
            "{}: {} -> {}",
            self.key,
            show(&self.before),
            show(&self.after)
        )
    }
}

impl Snapshot {
    /// Reads `keys`.
    ///
    /// # Errors
    ///
    /// Only when entering the handle's namespace fails; unreadable keys are recorded.
    pub fn take(sys: &Sysctl, keys: &[Key]) -> Result<Self> {
        let mut snap = Self::default();
        sys.open_keys(keys)?;
        for key in keys {
            match sys.read_raw(key) {
                Ok(v) => {
                    snap.values.insert(key.clone(), v);
                }
                Err(e @ Error::Netns { .. }) => return Err(e),
                Err(e) => {
                    snap.unreadable.insert(key.clone(), e.to_string());
                }
            }
        }
        Ok(snap)
    }

    /// Reads every key at and below `prefix` (for example `net`).
    ///
    /// # Errors
    ///
    /// As [`Sysctl::read_tree`].
    pub fn take_prefix(sys: &Sysctl, prefix: &Key) -> Result<Self> {
        let mut snap = Self::default();
        for (key, value) in sys.read_tree(prefix)? {
            match value {
                Ok(v) => snap.values.insert(key, v),
                Err(e) => snap.unreadable.insert(key, e.to_string()),
            };
        }
        Ok(snap)
    }

    /// The value of `key`, if it was read.
    pub fn get(&self, key: &Key) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The keys read and their values, sorted by key.
    pub fn values(&self) -> impl Iterator<Item = (&Key, &str)> {
        self.values.iter().map(|(k, v)| (k, v.as_str()))
    }

    /// The keys that could not be read, with why.
    pub fn unreadable(&self) -> impl Iterator<Item = (&Key, &str)> {
        self.unreadable.iter().map(|(k, v)| (k, v.as_str()))
    }

    /// How many keys were read.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no key was read.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The keys whose values differ from `other`, compared canonically; a key read on one
    /// side only counts as a difference.
    pub fn diff(&self, other: &Self) -> Vec<Difference> {
        let mut out = Vec::new();
        let keys: std::collections::BTreeSet<&Key> =
            self.values.keys().chain(other.values.keys()).collect();
        for key in keys {
            let (a, b) = (self.values.get(key), other.values.get(key));
            let same = match (a, b) {
                (Some(a), Some(b)) => canonical_lenient(key, a) == canonical_lenient(key, b),
                _ => false,
            };
            if !same {
                out.push(Difference {
                    key: key.clone(),
                    before: a.cloned(),
                    after: b.cloned(),
                });
            }
        }
        out
    }

    /// The text form: `value<TAB>key<TAB>value` and `unreadable<TAB>key<TAB>why` records.
    pub fn to_text(&self) -> String {
        let mut out = String::from("# nettune snapshot v1\n");
        for (k, v) in &self.values {
            textfile::record(&mut out, &["value", &k.to_string(), v]);
        }
        for (k, why) in &self.unreadable {
            textfile::record(&mut out, &["unreadable", &k.to_string(), why]);
        }
        out
    }

    /// Parses [`Snapshot::to_text`]'s form; `name` names the text in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] naming the line.
    pub fn from_text(name: &str, text: &str) -> Result<Self> {
        let mut snap = Self::default();
        for rec in textfile::records(name, text) {
            let (line, fields) = rec?;
            let bad = |reason: String| Error::Syntax {
                file: name.to_owned(),
                line,
                reason,
            };
            let [kind, key, value] = fields.as_slice() else {
                return Err(bad(format!("expected 3 fields, found {}", fields.len())));
            };
            let key = Key::new(key).map_err(|e| bad(e.to_string()))?;
            match kind.as_str() {
                "value" => snap.values.insert(key, value.clone()),
                "unreadable" => snap.unreadable.insert(key, value.clone()),
                other => return Err(bad(format!("unknown record {other:?}"))),
            };
        }
        Ok(snap)
    }

    /// Writes the text form to `path` (atomically).
    ///
    /// # Errors
    ///
    /// [`Error::File`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        textfile::write_atomic(path.as_ref(), &self.to_text())
    }

    /// Reads a file written by [`Snapshot::save`].
    ///
    /// # Errors
    ///
    /// [`Error::File`] or [`Error::Syntax`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_text(&path.display().to_string(), &textfile::read(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::new(s).expect("key")
    }

    #[test]
    fn text_round_trip_and_canonical_diff() {
        let mut a = Snapshot::default();
        a.values
            .insert(key("net.ipv4.tcp_rmem"), "4096\t131072\t6291456".into());
        a.values
            .insert(key("net.ipv4.conf.eth0/100.rp_filter"), "1".into());
        a.unreadable
            .insert(key("net.ipv4.route.flush"), "write-only".into());
        let text = a.to_text();
        let b = Snapshot::from_text("t", &text).expect("parse");
        assert_eq!(a, b);
        let mut c = b.clone();
        c.values
            .insert(key("net.ipv4.tcp_rmem"), "4096 131072 6291456".into());
        assert!(a.diff(&c).is_empty(), "whitespace is not a difference");
        c.values
            .insert(key("net.ipv4.conf.eth0/100.rp_filter"), "2".into());
        let d = a.diff(&c);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to_string(), "net.ipv4.conf.eth0/100.rp_filter: 1 -> 2");
        let err = Snapshot::from_text("snap.txt", "value\tnet..x\t1\n").expect_err("bad key");
        assert!(err.to_string().starts_with("snap.txt:1:"), "{err}");
    }
}

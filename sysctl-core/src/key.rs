//! Sysctl keys: `net.ipv4.tcp_rmem`, `net/ipv4/tcp_rmem`, `net.ipv4.conf.eth0/100.rp_filter`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, clip};

/// The longest key text accepted, in bytes. Real keys are far shorter.
pub const MAX_KEY_LEN: usize = 512;
/// The longest single component accepted (the kernel's `NAME_MAX`).
const MAX_COMPONENT_LEN: usize = 255;

/// A validated sysctl key.
///
/// A key is a list of components below `/proc/sys`. It parses from the two forms that
/// `sysctl(8)` accepts, decided (as procps does) by the first separator in the text:
///
/// - dotted, `net.ipv4.tcp_rmem`: components are separated by `.`, and a `/` inside a
///   component stands for a `.` in the file name, so `net.ipv4.conf.eth0/100.rp_filter`
///   addresses the VLAN interface `eth0.100`;
/// - slashed, `net/ipv4/conf/eth0.100/rp_filter`: components are separated by `/` and dots
///   are part of the names.
///
/// Empty components, `.` and `..`, NUL bytes, control characters, whitespace, absolute
/// paths and texts over [`MAX_KEY_LEN`] bytes are rejected, so a `Key` can never address a
/// file outside the sysctl tree. It displays in the dotted form.
///
/// ```
/// use nettune_sysctl::Key;
/// let vlan: Key = "net.ipv4.conf.eth0/100.rp_filter".parse()?;
/// assert_eq!(vlan.path(), "net/ipv4/conf/eth0.100/rp_filter");
/// assert_eq!(vlan, "net/ipv4/conf/eth0.100/rp_filter".parse()?);
/// assert_eq!(vlan.to_string(), "net.ipv4.conf.eth0/100.rp_filter");
/// assert!("net/../../etc/passwd".parse::<Key>().is_err());
/// # Ok::<(), nettune_sysctl::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Components joined by `/`: the path relative to `/proc/sys`.
    path: Box<str>,
}

impl Key {
    /// Parses and validates a key in dotted or slashed form.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] naming the text and the rule it breaks.
    pub fn new(text: &str) -> Result<Self, Error> {
        let fail = |reason| Error::InvalidKey {
            key: clip(text),
            reason,
        };
        if text.is_empty() {
            return Err(fail("empty key"));
        }
        if text.len() > MAX_KEY_LEN {
            return Err(fail("longer than 512 bytes"));
        }
        if text.starts_with('/') {
            return Err(fail(
                "absolute paths are not keys; write it relative to /proc/sys, such as net.ipv4.tcp_rmem",
            ));
        }
        let slashed = text
            .find(['.', '/'])
            .is_some_and(|i| text.as_bytes()[i] == b'/');
        let (sep, swap) = if slashed {
            ('/', None)
        } else {
            ('.', Some('/'))
        };
        let mut path = String::with_capacity(text.len());
        for component in text.split(sep) {
            check_component(component).map_err(fail)?;
            if !path.is_empty() {
                path.push('/');
            }
            match swap {
                Some(from) => {
                    path.extend(component.chars().map(|c| if c == from { '.' } else { c }))
                }
                None => path.push_str(component),
            }
        }
        // After the swap a dotted component may have become `.` or `..` (from `/` or `//`).
        if path.split('/').any(|c| c == "." || c == "..") {
            return Err(fail("a component is `.` or `..`"));
        }
        Ok(Self { path: path.into() })
    }

    /// The path relative to `/proc/sys`, components joined by `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The components, as file names (a VLAN interface component is `eth0.100`).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.path.split('/')
    }

    /// The last component, the file name.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// Whether `prefix` is this key or one of its parent directories (by whole components).
    pub fn starts_with(&self, prefix: &Self) -> bool {
        self.path.len() >= prefix.path.len()
            && self.path.starts_with(&*prefix.path)
            && (self.path.len() == prefix.path.len()
                || self.path.as_bytes()[prefix.path.len()] == b'/')
    }

    /// This key with one more component: a file name as it appears in the directory.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] when `name` is not a valid component.
    pub fn child(&self, name: &str) -> Result<Self, Error> {
        check_component(name)
            .and_then(|()| {
                if name.contains('/') || name == "." || name == ".." {
                    Err("a component is `.`, `..` or contains `/`")
                } else if self.path.len() + 1 + name.len() > MAX_KEY_LEN {
                    Err("longer than 512 bytes")
                } else {
                    Ok(())
                }
            })
            .map_err(|reason| Error::InvalidKey {
                key: clip(&format!("{}/{name}", self.path)),
                reason,
            })?;
        let mut path = String::with_capacity(self.path.len() + 1 + name.len());
        path.push_str(&self.path);
        path.push('/');
        path.push_str(name);
        Ok(Self { path: path.into() })
    }

    /// Builds a key from a literal known to be valid (the knob table).
    ///
    /// # Panics
    ///
    /// When `text` is not a valid key: a bug in the caller's literal, caught by the unit
    /// test that parses every knob key.
    pub(crate) fn from_static(text: &'static str) -> Self {
        match Self::new(text) {
            Ok(key) => key,
            Err(err) => panic!("knob key literal {text:?} is invalid: {err}"),
        }
    }
}

fn check_component(component: &str) -> Result<(), &'static str> {
    if component.is_empty() {
        return Err("empty component (two separators in a row, or a separator at an end)");
    }
    if component == "." || component == ".." {
        return Err("a component is `.` or `..`");
    }
    if component.len() > MAX_COMPONENT_LEN {
        return Err("a component is longer than 255 bytes");
    }
    if component.contains('\0') {
        return Err("contains a NUL byte");
    }
    if component
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err("contains whitespace or a control character");
    }
    Ok(())
}

impl FromStr for Key {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Key {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for Key {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl fmt::Display for Key {
    /// The dotted form: dots inside a component are written as `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.path.chars() {
            f.write_char(match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })?;
        }
        Ok(())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn dotted_and_slashed_forms_are_the_same_key() {
        assert_eq!(key("net.ipv4.tcp_rmem"), key("net/ipv4/tcp_rmem"));
        assert_eq!(key("net.ipv4.tcp_rmem").path(), "net/ipv4/tcp_rmem");
        assert_eq!(key("net.ipv4.tcp_rmem").name(), "tcp_rmem");
        assert_eq!(key("net").path(), "net");
    }

    #[test]
    fn vlan_interface_names_follow_procps() {
        let k = key("net.ipv4.conf.eth0/100.rp_filter");
        assert_eq!(k.path(), "net/ipv4/conf/eth0.100/rp_filter");
        assert_eq!(k.components().nth(3), Some("eth0.100"));
        assert_eq!(k.to_string(), "net.ipv4.conf.eth0/100.rp_filter");
        // QinQ
        let q = key("net/ipv6/conf/eth0.100.200/forwarding");
        assert_eq!(q.to_string(), "net.ipv6.conf.eth0/100/200.forwarding");
        assert_eq!(key(&q.to_string()), q);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "net.core.rmem_max",
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.a/b.x",
        ] {
            assert_eq!(key(s).to_string(), s);
            assert_eq!(key(&key(s).to_string()), key(s));
        }
    }

    #[test]
    fn bad_keys_are_rejected_with_a_reason() {
        let long = "a".repeat(10 * 1024);
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("net/../../etc/passwd", "`..`"),
            ("net..ipv4", "empty component"),
            ("net.ipv4.", "empty component"),
            (".net", "empty component"),
            ("/proc/sys/x", "absolute"),
            ("net.ipv4.tcp\0rmem", "NUL"),
            ("net.ipv4.tcp rmem", "whitespace"),
            ("net.ipv4.tcp\nrmem", "whitespace"),
            ("net.//.b", "`.` or `..`"),
            ("net/./ipv4", "`.` or `..`"),
            (&long, "512"),
        ];
        for (text, needle) in cases {
            let err = Key::new(text).expect_err(text).to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(err.starts_with("invalid sysctl key"), "{err}");
        }
    }

    #[test]
    fn starts_with_uses_whole_components() {
        let k = key("net.ipv4.tcp_rmem");
        assert!(k.starts_with(&key("net")));
        assert!(k.starts_with(&key("net.ipv4")));
        assert!(k.starts_with(&k));
        assert!(!k.starts_with(&key("net.ipv")));
        assert!(!key("net").starts_with(&k));
    }

    #[test]
    fn child_validates_the_name() {
        assert_eq!(
            key("net.ipv4.conf")
                .child("eth0.100")
                .map(|k| k.to_string())
                .ok(),
            Some("net.ipv4.conf.eth0/100".to_owned())
        );
        assert!(key("net").child("..").is_err());
        assert!(key("net").child("a/b").is_err());
        assert!(key("net").child("").is_err());
    }
}

//! Interface names.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A validated interface name: 1 to 15 bytes, no `/`, `:`, whitespace or NUL, not `.` or
/// `..` (the kernel's `dev_valid_name`).
///
/// ```
/// use nettune_nic::IfName;
/// assert!("eth0.100".parse::<IfName>().is_ok());
/// assert!("a-name-of-16-bytes".parse::<IfName>().is_err());
/// assert!("eth/0".parse::<IfName>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(Box<str>);

impl IfName {
    /// Validates a name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] with the rule the name breaks.
    pub fn new(name: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidName {
            name: name.chars().take(32).collect(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("empty"));
        }
        if name.len() > 15 {
            return Err(bad("longer than 15 bytes (IFNAMSIZ is 16 with the NUL)"));
        }
        if name == "." || name == ".." {
            return Err(bad("`.` and `..` are not interface names"));
        }
        if name
            .chars()
            .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
        {
            return Err(bad("contains `/`, `:`, NUL or whitespace"));
        }
        Ok(Self(name.into()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IfName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<&str> for IfName {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IfName({:?})", &*self.0)
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for IfName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for IfName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

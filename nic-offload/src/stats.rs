//! Driver statistics (`ethtool -S`) and private flags (`ethtool --show-priv-flags`,
//! `--set-priv-flags`): both named by a string set of the driver's.
//!
//! A set can change size between the count and the read (more channels, more per-queue
//! counters). Kernels before 6.18 or so then write as many strings and counters as the
//! driver has *at the time of the call*, whatever size the caller declared; newer ones
//! answer a length of 0 instead. So each request declares the counted size, its buffer has
//! room for twice that plus 64, the length in each reply is checked against the request,
//! and a set that changed in between is read again (three tries), so that names and values
//! always belong together.

use crate::error::{Error, Result};
use crate::nic::Nic;
use crate::proto::{self, cmd};

/// Room beyond the counted entries, against a set that grows between the calls.
fn room(count: u32) -> u32 {
    count.saturating_mul(2).saturating_add(64)
}

/// How many times a read is retried when the set changed size under it.
const TRIES: usize = 3;

/// A driver's statistics, in the driver's order (`ETHTOOL_GSTATS`, `ethtool -S`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DriverStats {
    /// (name, value), as the driver names them; a name may repeat in buggy drivers.
    pub stats: Vec<(String, u64)>,
}

impl DriverStats {
    /// The value of the first counter called `name`.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.stats.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The number of counters.
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// Whether the driver has none.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }
}

impl Nic {
    /// The names of string set `set` (`ETHTOOL_GSSET_INFO` then `ETHTOOL_GSTRINGS`), with
    /// room for a set that grows in between. Empty slots are kept.
    pub(crate) fn string_set(&self, set: u32, op: &'static str) -> Result<Vec<String>> {
        for _ in 0..TRIES {
            let count = self.set_count(set, op)?;
            // The request asks for `count`; the buffer has room for more.
            let mut b = proto::gstrings(set, count);
            b.resize(12 + room(count) as usize * proto::GSTRING_LEN, 0);
            self.ethtool("ETHTOOL_GSTRINGS", &mut b)?;
            if proto::get32(&b, 8) == count {
                let mut names = proto::strings(&b);
                names.resize(count as usize, String::new());
                return Ok(names);
            }
        }
        Err(self.unsettled(op))
    }

    /// The size of string set `set`, bounded (0 when the driver has no such set).
    pub(crate) fn set_count(&self, set: u32, op: &'static str) -> Result<u32> {
        let mut info = proto::sset_info(set);
        self.ethtool("ETHTOOL_GSSET_INFO", &mut info)?;
        let count = proto::sset_count(&info).unwrap_or(0);
        if count > proto::MAX_STRINGS {
            return Err(Error::InvalidValue {
                iface: self.name().to_string(),
                op,
                reason: format!(
                    "the device claims {count} entries (more than {})",
                    proto::MAX_STRINGS
                ),
                source: None,
            });
        }
        Ok(count)
    }

    fn unsettled(&self, op: &'static str) -> Error {
        Error::Io {
            iface: self.name().to_string(),
            op,
            source: std::io::Error::other(format!(
                "the set changed size during each of {TRIES} reads"
            )),
        }
    }

    /// The driver's statistics with their names (`ETHTOOL_GSTATS`, `ethtool -S`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver keeps none (loopback; the ioctl answers
    /// `EOPNOTSUPP`, as `ethtool -S` reports).
    #[doc(alias = "ETHTOOL_GSTATS")]
    pub fn driver_stats(&self) -> Result<DriverStats> {
        const OP: &str = "ETHTOOL_GSTATS";
        for _ in 0..TRIES {
            let names = self.string_set(proto::ETH_SS_STATS, OP)?;
            if names.is_empty() {
                return Err(self.os_error(OP, std::io::Error::from_raw_os_error(libc::EOPNOTSUPP)));
            }
            let count = names.len() as u32;
            let mut b = proto::command(cmd::GSTATS, 8 + room(count) as usize * 8);
            proto::put32(&mut b, 4, count);
            self.ethtool(OP, &mut b)?;
            if proto::get32(&b, 4) == count {
                let stats = names
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| (n, proto::get64(&b, 8 + i * 8)))
                    .collect();
                return Ok(DriverStats { stats });
            }
        }
        Err(self.unsettled(OP))
    }

    /// The driver's private flags and whether each is on (`ETHTOOL_GPFLAGS`, `ethtool
    /// --show-priv-flags`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver has none.
    #[doc(alias = "ETHTOOL_GPFLAGS")]
    pub fn private_flags(&self) -> Result<Vec<(String, bool)>> {
        const OP: &str = "ETHTOOL_GPFLAGS";
        let names = self.string_set(proto::ETH_SS_PRIV_FLAGS, OP)?;
        if names.is_empty() {
            return Err(self.os_error(OP, std::io::Error::from_raw_os_error(libc::EOPNOTSUPP)));
        }
        let mut b = proto::command(cmd::GPFLAGS, 8);
        self.ethtool(OP, &mut b)?;
        let bits = proto::get32(&b, 4);
        Ok(names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i < 32 && bits & (1 << i) != 0))
            .collect())
    }

    /// Turns private flags on or off by name (`ETHTOOL_SPFLAGS`, `ethtool --set-priv-flags`),
    /// leaving the others as they are, then reads them back. Needs `CAP_NET_ADMIN`.
    ///
    /// Returns the flags now, in the driver's order.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFeature`] for a name the driver does not have (nothing written);
    /// [`Error::InvalidValue`] when the driver refuses the combination, or when a flag
    /// reads back otherwise than asked (the driver kept its own value).
    #[doc(alias = "ETHTOOL_SPFLAGS")]
    pub fn set_private_flags(&self, want: &[(&str, bool)]) -> Result<Vec<(String, bool)>> {
        const OP: &str = "ETHTOOL_SPFLAGS";
        let current = self.private_flags()?;
        let mut bits = 0u32;
        for (i, (_, on)) in current.iter().enumerate().take(32) {
            bits |= u32::from(*on) << i;
        }
        for (name, on) in want {
            let Some(i) = current
                .iter()
                .position(|(n, _)| n == name)
                .filter(|&i| i < 32)
            else {
                return Err(Error::UnknownFeature {
                    iface: self.name().to_string(),
                    name: (*name).to_owned(),
                    hint: format!(
                        "; its private flags: {}",
                        current
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            };
            bits = if *on { bits | 1 << i } else { bits & !(1 << i) };
        }
        let mut b = proto::command(cmd::SPFLAGS, 8);
        proto::put32(&mut b, 4, bits);
        self.ethtool(OP, &mut b)?;
        let now = self.private_flags()?;
        let stayed: Vec<String> = want
            .iter()
            .filter(|(name, on)| now.iter().any(|(n, v)| n == name && v != on))
            .map(|(name, on)| format!("{name} stayed {}", if *on { "off" } else { "on" }))
            .collect();
        if !stayed.is_empty() {
            return Err(Error::InvalidValue {
                iface: self.name().to_string(),
                op: OP,
                reason: stayed.join(", "),
                source: None,
            });
        }
        Ok(now)
    }
}

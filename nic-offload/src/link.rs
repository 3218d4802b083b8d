//! Link settings (`ethtool IF`, `ethtool -s`: `ETHTOOL_GLINKSETTINGS` /
//! `ETHTOOL_SLINKSETTINGS`) and pause frames (`ethtool -a/-A`).
//!
//! Link modes are named by the kernel's own string set (`ETH_SS_LINK_MODES`, the names
//! `ethtool` prints: `1000baseT/Full`), so modes newer than this crate are read by name too.

use crate::error::{Error, Result};
use crate::nic::Nic;
use crate::proto::{self, cmd};

/// Bytes of `struct ethtool_link_settings` before its link-mode masks.
const LINK_HEADER: usize = 48;
/// The most 32-bit words a link-mode mask may have before the reply is called hostile.
const MAX_NWORDS: u8 = 64;

/// Duplex of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Duplex {
    /// `DUPLEX_HALF`.
    Half,
    /// `DUPLEX_FULL`.
    Full,
    /// `DUPLEX_UNKNOWN` (no link, or a virtual device).
    Unknown,
}

impl Duplex {
    fn from_raw(v: u8) -> Self {
        match v {
            0 => Self::Half,
            1 => Self::Full,
            _ => Self::Unknown,
        }
    }

    fn to_raw(self) -> u8 {
        match self {
            Self::Half => 0,
            Self::Full => 1,
            Self::Unknown => 0xff,
        }
    }
}

/// The connector, as `ethtool` names it (`PORT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Port {
    /// Twisted pair (`PORT_TP`).
    TwistedPair,
    /// AUI.
    Aui,
    /// BNC.
    Bnc,
    /// MII.
    Mii,
    /// Fibre.
    Fibre,
    /// Direct attach copper.
    DirectAttach,
    /// None (`PORT_NONE`).
    None,
    /// Other (`PORT_OTHER`).
    Other,
    /// A number this version does not know.
    Raw(u8),
}

impl Port {
    fn from_raw(v: u8) -> Self {
        match v {
            0x00 => Self::TwistedPair,
            0x01 => Self::Aui,
            0x02 => Self::Bnc,
            0x03 => Self::Mii,
            0x04 => Self::Fibre,
            0x05 => Self::DirectAttach,
            0xef => Self::None,
            0xff => Self::Other,
            other => Self::Raw(other),
        }
    }
}

/// Link settings (`ETHTOOL_GLINKSETTINGS`, what `ethtool IF` prints).
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LinkSettings {
    /// Speed in Mb/s; `None` when unknown (no link, `SPEED_UNKNOWN`).
    pub speed: Option<u32>,
    /// Duplex.
    pub duplex: Duplex,
    /// Connector.
    pub port: Port,
    /// Whether auto-negotiation is on.
    pub autoneg: bool,
    /// PHY address.
    pub phy_address: u8,
    /// Modes the device supports (kernel names: `1000baseT/Full`, `Autoneg`, `Pause`, ...).
    pub supported: Vec<String>,
    /// Modes it advertises.
    pub advertising: Vec<String>,
    /// Modes the link partner advertises.
    pub lp_advertising: Vec<String>,
    #[cfg_attr(feature = "serde", serde(skip))]
    raw: Vec<u8>,
    #[cfg_attr(feature = "serde", serde(skip))]
    names: Vec<String>,
}

impl std::fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSettings")
            .field("speed", &self.speed)
            .field("duplex", &self.duplex)
            .field("port", &self.port)
            .field("autoneg", &self.autoneg)
            .field("phy_address", &self.phy_address)
            .field("supported", &self.supported)
            .field("advertising", &self.advertising)
            .field("lp_advertising", &self.lp_advertising)
            .finish_non_exhaustive()
    }
}

/// A change to the link: each part `None` stays as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LinkUpdate {
    /// Forced speed in Mb/s (with auto-negotiation off).
    pub speed: Option<u32>,
    /// Forced duplex (with auto-negotiation off).
    pub duplex: Option<Duplex>,
    /// Auto-negotiation on or off.
    pub autoneg: Option<bool>,
    /// The modes to advertise, by name; each must be supported.
    pub advertise: Option<Vec<String>>,
}

impl LinkUpdate {
    /// No change.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Pause frame use (`ETHTOOL_GPAUSEPARAM`, `ethtool -a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Pause {
    /// Pause negotiated with the link partner.
    pub autoneg: bool,
    /// Honour received pause frames.
    pub rx: bool,
    /// Send pause frames.
    pub tx: bool,
}

/// Whether a link mode names a speed and medium (`1000baseT/Full`), not a property
/// (`Autoneg`, `TP`, `Pause`, a FEC mode).
fn is_speed(mode: &str) -> bool {
    mode.contains("base")
}

fn mask_names(words: &[u32], names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (w, word) in words.iter().enumerate() {
        for bit in 0..32 {
            if word & (1 << bit) != 0 {
                let i = w * 32 + bit;
                out.push(
                    names
                        .get(i)
                        .filter(|n| !n.is_empty())
                        .cloned()
                        .unwrap_or_else(|| format!("bit{i}")),
                );
            }
        }
    }
    out
}

/// Decodes an `ETHTOOL_GLINKSETTINGS` reply with `nwords` words per mask.
pub(crate) fn decode_link(b: &[u8], nwords: usize, names: Vec<String>) -> LinkSettings {
    let words = |k: usize| -> Vec<u32> {
        (0..nwords)
            .map(|i| proto::get32(b, LINK_HEADER + (k * nwords + i) * 4))
            .collect()
    };
    let speed = proto::get32(b, 4);
    let byte = |o: usize| b.get(o).copied().unwrap_or(0);
    LinkSettings {
        speed: (speed != 0 && speed != u32::MAX).then_some(speed),
        duplex: Duplex::from_raw(byte(8)),
        port: Port::from_raw(byte(9)),
        phy_address: byte(10),
        autoneg: byte(11) == 1,
        supported: mask_names(&words(0), &names),
        advertising: mask_names(&words(1), &names),
        lp_advertising: mask_names(&words(2), &names),
        raw: b.to_vec(),
        names,
    }
}

impl Nic {
    /// Speed, duplex, port, auto-negotiation and link modes (`ETHTOOL_GLINKSETTINGS`, the
    /// kernel's two-step handshake for the mask size; `ethtool IF`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver reports no link settings.
    #[doc(alias = "ETHTOOL_GLINKSETTINGS")]
    pub fn link_settings(&self) -> Result<LinkSettings> {
        const OP: &str = "ETHTOOL_GLINKSETTINGS";
        // With 0 words the kernel answers its own word count, negated.
        let mut probe = proto::command(cmd::GLINKSETTINGS, LINK_HEADER);
        self.ethtool(OP, &mut probe)?;
        let nwords = (probe.get(15).copied().unwrap_or(0) as i8).unsigned_abs();
        if nwords == 0 || nwords > MAX_NWORDS {
            return Err(Error::InvalidValue {
                iface: self.name().to_string(),
                op: OP,
                reason: format!("the kernel answered {nwords} words per link-mode mask"),
                source: None,
            });
        }
        let mut b = proto::command(cmd::GLINKSETTINGS, LINK_HEADER + 3 * 4 * nwords as usize);
        b[15] = nwords;
        self.ethtool(OP, &mut b)?;
        let names = self.string_set(proto::ETH_SS_LINK_MODES, OP)?;
        Ok(decode_link(&b, nwords as usize, names))
    }

    /// Changes speed, duplex, auto-negotiation or the advertised modes
    /// (`ETHTOOL_SLINKSETTINGS`, `ethtool -s`), then reads them back. Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] before the call for a mode name the kernel does not know or
    /// the device does not support, or an empty advertisement; after it, when the driver
    /// refuses or a value reads back otherwise.
    #[doc(alias = "ETHTOOL_SLINKSETTINGS")]
    pub fn set_link_settings(&self, update: &LinkUpdate) -> Result<LinkSettings> {
        const OP: &str = "ETHTOOL_SLINKSETTINGS";
        let current = self.link_settings()?;
        let invalid = |reason: String| Error::InvalidValue {
            iface: self.name().to_string(),
            op: OP,
            reason,
            source: None,
        };
        let mut b = current.raw.clone();
        proto::put32(&mut b, 0, cmd::SLINKSETTINGS);
        let nwords = b.get(15).copied().unwrap_or(0) as usize;
        if let Some(speed) = update.speed {
            proto::put32(&mut b, 4, speed);
        }
        if let Some(d) = update.duplex {
            b[8] = d.to_raw();
        }
        if let Some(a) = update.autoneg {
            b[11] = u8::from(a);
        }
        if let Some(modes) = &update.advertise {
            if modes.is_empty() {
                return Err(invalid("an empty advertisement would leave no mode".into()));
            }
            // Modes that are not speeds (Autoneg, TP, Pause, ...) stay as advertised now.
            let mut words = vec![0u32; nwords];
            for (bit, name) in current.names.iter().enumerate() {
                if !is_speed(name) && current.advertising.contains(name) {
                    if let Some(w) = words.get_mut(bit / 32) {
                        *w |= 1 << (bit % 32);
                    }
                }
            }
            for m in modes {
                let Some(bit) = current.names.iter().position(|n| n == m) else {
                    return Err(invalid(format!(
                        "{m:?} is not a link mode the kernel knows"
                    )));
                };
                if !current.supported.contains(m) {
                    return Err(invalid(format!(
                        "{m} is not supported; supported: {}",
                        current.supported.join(" ")
                    )));
                }
                if let Some(w) = words.get_mut(bit / 32) {
                    *w |= 1 << (bit % 32);
                }
            }
            for (i, w) in words.iter().enumerate() {
                proto::put32(&mut b, LINK_HEADER + (nwords + i) * 4, *w);
            }
        }
        self.ethtool(OP, &mut b)?;
        let now = self.link_settings()?;
        let mut stayed = Vec::new();
        if update.autoneg.is_some_and(|a| a != now.autoneg) {
            stayed.push("autoneg".to_owned());
        }
        // A forced speed or duplex shows once auto-negotiation is off (and the link up).
        if !now.autoneg && now.speed.is_some() {
            if let Some(speed) = update.speed.filter(|s| Some(*s) != now.speed) {
                stayed.push(format!("speed {speed} (reads {:?})", now.speed));
            }
            if let Some(d) = update.duplex.filter(|d| *d != now.duplex) {
                stayed.push(format!("duplex {d:?} (reads {:?})", now.duplex));
            }
        }
        if let Some(modes) = &update.advertise {
            let mut want: Vec<&String> = modes.iter().filter(|m| is_speed(m)).collect();
            want.sort();
            want.dedup();
            let mut got: Vec<&String> = now.advertising.iter().filter(|m| is_speed(m)).collect();
            got.sort();
            if want != got || modes.iter().any(|m| !now.advertising.contains(m)) {
                stayed.push(format!("advertising ({})", now.advertising.join(" ")));
            }
        }
        if !stayed.is_empty() {
            return Err(invalid(format!(
                "read back otherwise: {}",
                stayed.join(", ")
            )));
        }
        Ok(now)
    }

    /// Pause frame use (`ETHTOOL_GPAUSEPARAM`, `ethtool -a`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver has no pause settings.
    #[doc(alias = "ETHTOOL_GPAUSEPARAM")]
    pub fn pause(&self) -> Result<Pause> {
        if let Some(nl) = self.via_netlink(crate::NicOp::Pause) {
            return nl.pause(self.name().as_str()).map(|p| p.pause);
        }
        let mut b = proto::command(cmd::GPAUSEPARAM, 16);
        self.ethtool("ETHTOOL_GPAUSEPARAM", &mut b)?;
        Ok(Pause {
            autoneg: proto::get32(&b, 4) != 0,
            rx: proto::get32(&b, 8) != 0,
            tx: proto::get32(&b, 12) != 0,
        })
    }

    /// Sets pause frame use (`ETHTOOL_SPAUSEPARAM`, `ethtool -A`) and reads it back.
    /// Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// As [`Nic::pause`]; [`Error::InvalidValue`] when the driver refuses the combination
    /// or keeps another.
    #[doc(alias = "ETHTOOL_SPAUSEPARAM")]
    pub fn set_pause(&self, want: Pause) -> Result<Pause> {
        let now = if let Some(nl) = self.via_netlink(crate::NicOp::SetPause) {
            nl.set_pause(self.name().as_str(), want)?.pause
        } else {
            let mut b = proto::command(cmd::SPAUSEPARAM, 16);
            proto::put32(&mut b, 4, u32::from(want.autoneg));
            proto::put32(&mut b, 8, u32::from(want.rx));
            proto::put32(&mut b, 12, u32::from(want.tx));
            self.ethtool("ETHTOOL_SPAUSEPARAM", &mut b)?;
            self.pause()?
        };
        if now != want {
            return Err(Error::InvalidValue {
                iface: self.name().to_string(),
                op: "ETHTOOL_SPAUSEPARAM",
                reason: format!("asked for {want:?}, reads back {now:?}"),
                source: None,
            });
        }
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_settings_decode_by_the_kernels_layout() {
        let nwords = 2;
        let mut b = proto::command(cmd::GLINKSETTINGS, LINK_HEADER + 3 * 4 * nwords);
        proto::put32(&mut b, 4, 1000);
        b[8] = 1; // full
        b[9] = 0; // TP
        b[10] = 1;
        b[11] = 1;
        b[15] = nwords as u8;
        // supported: bits 0 and 33; advertising: bit 33; partner: none
        proto::put32(&mut b, LINK_HEADER, 1);
        proto::put32(&mut b, LINK_HEADER + 4, 2);
        proto::put32(&mut b, LINK_HEADER + 12, 2);
        let mut names: Vec<String> = (0..64).map(|i| format!("m{i}")).collect();
        names[33].clear();
        let l = decode_link(&b, nwords, names);
        assert_eq!(l.speed, Some(1000));
        assert_eq!(
            (l.duplex, l.port, l.autoneg, l.phy_address),
            (Duplex::Full, Port::TwistedPair, true, 1)
        );
        assert_eq!(l.supported, ["m0", "bit33"]);
        assert_eq!(l.advertising, ["bit33"]);
        assert!(l.lp_advertising.is_empty());
        // A short reply reads as zeros, never out of bounds.
        let short = decode_link(&b[..20], 8, Vec::new());
        assert!(short.supported.is_empty());
        let mut unknown = b.clone();
        proto::put32(&mut unknown, 4, u32::MAX);
        unknown[8] = 0xff;
        let u = decode_link(&unknown, nwords, Vec::new());
        assert_eq!((u.speed, u.duplex), (None, Duplex::Unknown));
    }
}

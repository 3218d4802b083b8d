//! Driver and PHY tunables (`ETHTOOL_GTUNABLE`/`STUNABLE`, `ETHTOOL_PHY_GTUNABLE`/
//! `PHY_STUNABLE`; `ethtool --get-tunable`, `--get-phy-tunable`): only the ioctl carries
//! them.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::nic::Nic;
use crate::proto::{self, cmd};

/// `struct ethtool_tunable`: cmd, id, type_id, len, then the value.
const HEADER: usize = 16;

/// A driver tunable (`enum tunable_id`), named as ethtool names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tunable {
    /// `rx-copybreak`: received frames up to this many bytes are copied into a fresh
    /// buffer (u32).
    RxCopybreak,
    /// `tx-copybreak`: frames to send up to this many bytes are copied into a
    /// preallocated buffer (u32).
    TxCopybreak,
    /// `pfc-prevention-tout`: the pause/PFC storm prevention timeout in milliseconds
    /// (u16; 0 off, 0xffff the driver's default).
    PfcPreventionTimeout,
    /// `tx-copybreak-buf-size`: the size of the buffer `tx-copybreak` copies into (u32).
    TxCopybreakBufSize,
}

/// A PHY tunable (`enum phy_tunable_id`), named as ethtool names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PhyTunable {
    /// `downshift`: failed autonegotiations before the PHY downshifts (u8; 0 off, 0xff
    /// the PHY's default count).
    Downshift,
    /// `fast-link-down`: milliseconds before a link loss is reported (u8; 0 on with the
    /// shortest delay, 0xff off).
    FastLinkDown,
    /// `energy-detect-power-down`: the interval of link pulses sent while powered down,
    /// in milliseconds (u16; 0 off, 0xfffe no pulses, 0xffff the PHY's default).
    EnergyDetectPowerDown,
}

/// One tunable's identity on the wire: whether it is a PHY's, its id, its width in bytes
/// (the kernel refuses any other) and ethtool's name.
#[derive(Clone, Copy)]
struct Wire {
    phy: bool,
    id: u32,
    len: usize,
    name: &'static str,
}

impl Wire {
    /// `ETHTOOL_TUNABLE_U8`, `_U16` or `_U32`, by width.
    fn type_id(self) -> u32 {
        match self.len {
            1 => 1,
            2 => 2,
            _ => 3,
        }
    }

    fn max(self) -> u32 {
        match self.len {
            1 => u32::from(u8::MAX),
            2 => u32::from(u16::MAX),
            _ => u32::MAX,
        }
    }

    /// The get and set commands, with their names for errors.
    fn commands(self) -> ((u32, &'static str), (u32, &'static str)) {
        if self.phy {
            (
                (cmd::PHY_GTUNABLE, "ETHTOOL_PHY_GTUNABLE"),
                (cmd::PHY_STUNABLE, "ETHTOOL_PHY_STUNABLE"),
            )
        } else {
            (
                (cmd::GTUNABLE, "ETHTOOL_GTUNABLE"),
                (cmd::STUNABLE, "ETHTOOL_STUNABLE"),
            )
        }
    }
}

impl Tunable {
    /// Every driver tunable.
    pub const ALL: [Self; 4] = [
        Self::RxCopybreak,
        Self::TxCopybreak,
        Self::PfcPreventionTimeout,
        Self::TxCopybreakBufSize,
    ];

    fn wire(self) -> Wire {
        let (id, len, name) = match self {
            Self::RxCopybreak => (1, 4, "rx-copybreak"),
            Self::TxCopybreak => (2, 4, "tx-copybreak"),
            Self::PfcPreventionTimeout => (3, 2, "pfc-prevention-tout"),
            Self::TxCopybreakBufSize => (4, 4, "tx-copybreak-buf-size"),
        };
        Wire {
            phy: false,
            id,
            len,
            name,
        }
    }
}

impl PhyTunable {
    /// Every PHY tunable.
    pub const ALL: [Self; 3] = [
        Self::Downshift,
        Self::FastLinkDown,
        Self::EnergyDetectPowerDown,
    ];

    fn wire(self) -> Wire {
        let (id, len, name) = match self {
            Self::Downshift => (1, 1, "downshift"),
            Self::FastLinkDown => (2, 1, "fast-link-down"),
            Self::EnergyDetectPowerDown => (3, 2, "energy-detect-power-down"),
        };
        Wire {
            phy: true,
            id,
            len,
            name,
        }
    }
}

/// ethtool's names and the kernel's widths, from each kind's `wire`.
macro_rules! named {
    ($t:ty, $what:literal) => {
        impl $t {
            /// ethtool's name (`rx-copybreak`, `downshift`, ...).
            pub fn name(self) -> &'static str {
                self.wire().name
            }

            /// The largest value the kernel takes for it (its width: u8, u16 or u32).
            pub fn max(self) -> u32 {
                self.wire().max()
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                Self::ALL
                    .into_iter()
                    .find(|t| t.name() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
                        format!(
                            concat!("{:?} is not a ", $what, " (known: {})"),
                            s,
                            names.join(", ")
                        )
                    })
            }
        }
    };
}

named!(Tunable, "driver tunable");
named!(PhyTunable, "PHY tunable");

/// The request for `wire` with command `command` (and `value` for a set), the value in
/// its own width and the machine's byte order.
fn encode(command: u32, wire: Wire, value: u32) -> Vec<u8> {
    let mut b = proto::command(command, HEADER);
    proto::put32(&mut b, 4, wire.id);
    proto::put32(&mut b, 8, wire.type_id());
    proto::put32(&mut b, 12, wire.len as u32);
    match wire.len {
        1 => b.push(u8::try_from(value).unwrap_or(u8::MAX)),
        2 => b.extend_from_slice(&u16::try_from(value).unwrap_or(u16::MAX).to_ne_bytes()),
        _ => b.extend_from_slice(&value.to_ne_bytes()),
    }
    b
}

fn decode(wire: Wire, b: &[u8]) -> u32 {
    match (wire.len, b.get(HEADER..HEADER + wire.len)) {
        (1, Some(v)) => u32::from(v[0]),
        (2, Some(v)) => u32::from(u16::from_ne_bytes([v[0], v[1]])),
        (_, Some(v)) => u32::from_ne_bytes([v[0], v[1], v[2], v[3]]),
        _ => 0,
    }
}

impl Nic {
    fn get_wire(&self, wire: Wire) -> Result<u32> {
        let ((get, op), _) = wire.commands();
        let mut b = encode(get, wire, 0);
        self.ethtool(op, &mut b)?;
        Ok(decode(wire, &b))
    }

    fn set_wire(&self, wire: Wire, value: u32) -> Result<u32> {
        let (_, (set, op)) = wire.commands();
        if value > wire.max() {
            return Err(Error::InvalidValue {
                iface: self.name().to_string(),
                op,
                reason: format!(
                    "{} {value}: the kernel carries it in {} byte(s), at most {}",
                    wire.name,
                    wire.len,
                    wire.max()
                ),
                source: None,
            });
        }
        let mut b = encode(set, wire, value);
        self.ethtool(op, &mut b)?;
        self.get_wire(wire)
    }

    /// A driver tunable's value (`ETHTOOL_GTUNABLE`, `ethtool --get-tunable IF NAME`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver has no such tunable (most drivers have
    /// none: veth, tap, virtio-net, igb).
    #[doc(alias = "ETHTOOL_GTUNABLE")]
    pub fn tunable(&self, tunable: Tunable) -> Result<u32> {
        self.get_wire(tunable.wire())
    }

    /// Sets a driver tunable (`ETHTOOL_STUNABLE`, `ethtool --set-tunable IF NAME N`) and
    /// returns the value the driver holds afterwards (it may round or clamp). Needs
    /// `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] above [`Tunable::max`] (nothing sent) or when the driver
    /// rejects the value; [`Error::Unsupported`].
    #[doc(alias = "ETHTOOL_STUNABLE")]
    pub fn set_tunable(&self, tunable: Tunable, value: u32) -> Result<u32> {
        self.set_wire(tunable.wire(), value)
    }

    /// A PHY tunable's value (`ETHTOOL_PHY_GTUNABLE`, `ethtool --get-phy-tunable`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] without a PHY driver that has it.
    #[doc(alias = "ETHTOOL_PHY_GTUNABLE")]
    pub fn phy_tunable(&self, tunable: PhyTunable) -> Result<u32> {
        self.get_wire(tunable.wire())
    }

    /// Sets a PHY tunable (`ETHTOOL_PHY_STUNABLE`, `ethtool --set-phy-tunable`) and
    /// returns the value held afterwards. Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// As [`Nic::set_tunable`], with [`PhyTunable::max`].
    #[doc(alias = "ETHTOOL_PHY_STUNABLE")]
    pub fn set_phy_tunable(&self, tunable: PhyTunable, value: u32) -> Result<u32> {
        self.set_wire(tunable.wire(), value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_laid_out_as_struct_ethtool_tunable() {
        let b = encode(cmd::STUNABLE, Tunable::RxCopybreak.wire(), 256);
        assert_eq!(b.len(), 20);
        assert_eq!(proto::get32(&b, 0), 0x49);
        assert_eq!(proto::get32(&b, 4), 1, "ETHTOOL_RX_COPYBREAK");
        assert_eq!(proto::get32(&b, 8), 3, "ETHTOOL_TUNABLE_U32");
        assert_eq!(proto::get32(&b, 12), 4);
        assert_eq!(decode(Tunable::RxCopybreak.wire(), &b), 256);
        // pfc-prevention-tout is a u16 (the kernel refuses any other length).
        let b = encode(cmd::STUNABLE, Tunable::PfcPreventionTimeout.wire(), 0xfffe);
        assert_eq!(b.len(), 18);
        assert_eq!(proto::get32(&b, 8), 2, "ETHTOOL_TUNABLE_U16");
        assert_eq!(u16::from_ne_bytes([b[16], b[17]]), 0xfffe);
        let b = encode(cmd::PHY_STUNABLE, PhyTunable::Downshift.wire(), 3);
        assert_eq!((b.len(), proto::get32(&b, 0), b[16]), (17, 0x4f, 3));
        assert_eq!(proto::get32(&b, 8), 1, "ETHTOOL_TUNABLE_U8");
        let b = encode(
            cmd::PHY_GTUNABLE,
            PhyTunable::EnergyDetectPowerDown.wire(),
            0,
        );
        assert_eq!((proto::get32(&b, 4), proto::get32(&b, 12)), (3, 2));
        // A short reply decodes as 0, never panics.
        assert_eq!(decode(Tunable::TxCopybreak.wire(), &[0u8; 17]), 0);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for t in Tunable::ALL {
            assert_eq!(t.name().parse::<Tunable>(), Ok(t));
        }
        for t in PhyTunable::ALL {
            assert_eq!(t.to_string().parse::<PhyTunable>(), Ok(t));
        }
        let e = "rx-copy".parse::<Tunable>().expect_err("unknown");
        assert!(e.contains("rx-copybreak"), "{e}");
        assert_eq!(PhyTunable::FastLinkDown.max(), 255);
        assert_eq!(Tunable::PfcPreventionTimeout.max(), 65535);
    }
}

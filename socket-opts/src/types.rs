//! Typed values of socket options.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// TCP keepalive: idle time before the first probe, time between probes, and how many
/// unanswered probes close the connection (`SO_KEEPALIVE`, `TCP_KEEPIDLE`,
/// `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keepalive {
    idle: Duration,
    interval: Duration,
    count: u32,
}

impl Keepalive {
    /// Keepalive with whole-second times (the kernel's unit) of 1 to 32767 s and 1 to 127
    /// probes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] outside those ranges or with a fraction of a second.
    pub fn new(idle: Duration, interval: Duration, count: u32) -> Result<Self> {
        let check = |d: Duration, what: &str| {
            if d.subsec_nanos() != 0 || d.as_secs() == 0 || d.as_secs() > 32767 {
                Err(Error::InvalidValue {
                    option: "TCP_KEEPIDLE/TCP_KEEPINTVL",
                    reason: format!("{what} {d:?} must be whole seconds from 1 to 32767"),
                    source: None,
                })
            } else {
                Ok(())
            }
        };
        check(idle, "idle time")?;
        check(interval, "interval")?;
        if count == 0 || count > 127 {
            return Err(Error::InvalidValue {
                option: "TCP_KEEPCNT",
                reason: format!("probe count {count} must be from 1 to 127"),
                source: None,
            });
        }
        Ok(Self {
            idle,
            interval,
            count,
        })
    }

    /// Idle time before the first probe.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Time between probes.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Unanswered probes before the connection is dropped.
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// What a buffer size request became: the kernel doubles the request (for its own
/// overhead) and caps it at twice `net.core.rmem_max`/`wmem_max` (unless forced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferSize {
    /// What was asked for, in bytes.
    pub requested: u32,
    /// What `getsockopt` reports afterwards, in bytes.
    pub effective: u32,
}

impl BufferSize {
    /// Whether the kernel gave less than twice the request (capped by the `*mem_max`
    /// sysctl, or raised to its minimum).
    pub fn capped(&self) -> bool {
        u64::from(self.effective) != u64::from(self.requested) * 2
    }
}

/// `SO_MAX_PACING_RATE`: the most a socket may send, in bytes per second (64-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacingRate {
    /// No limit (`~0`).
    Unlimited,
    /// At most this many bytes per second.
    BytesPerSecond(u64),
}

impl PacingRate {
    /// A rate in bits per second, rounded down to bytes.
    pub fn bits_per_second(bits: u64) -> Self {
        Self::BytesPerSecond(bits / 8)
    }

    pub(crate) fn to_raw(self) -> u64 {
        match self {
            Self::Unlimited => u64::MAX,
            Self::BytesPerSecond(b) => b,
        }
    }

    pub(crate) fn from_raw(raw: u64) -> Self {
        // A 32-bit ~0 also means unlimited (older kernels answer in 32 bits).
        if raw == u64::MAX || raw == u64::from(u32::MAX) {
            Self::Unlimited
        } else {
            Self::BytesPerSecond(raw)
        }
    }
}

impl fmt::Display for PacingRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unlimited => f.write_str("unlimited"),
            Self::BytesPerSecond(b) => write!(f, "{b} B/s"),
        }
    }
}

/// A DiffServ code point, 0 to 63 (the upper six bits of the TOS / traffic class byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Dscp(u8);

impl Dscp {
    /// Class Selector 0: default, best effort (RFC 2474).
    pub const CS0: Self = Self(0);
    /// Class Selector 1 (8): low-priority data, "scavenger" in older plans (RFC 4594).
    pub const CS1: Self = Self(8);
    /// Class Selector 2 (16): operations, administration and management (RFC 4594).
    pub const CS2: Self = Self(16);
    /// Class Selector 3 (24): broadcast video (RFC 4594).
    pub const CS3: Self = Self(24);
    /// Class Selector 4 (32): real-time interactive (RFC 4594).
    pub const CS4: Self = Self(32);
    /// Class Selector 5 (40): signalling (RFC 4594).
    pub const CS5: Self = Self(40);
    /// Class Selector 6 (48): network control (RFC 4594).
    pub const CS6: Self = Self(48);
    /// Class Selector 7 (56): reserved for network control.
    pub const CS7: Self = Self(56);
    /// Assured Forwarding class 1, low drop precedence (10) (RFC 2597).
    pub const AF11: Self = Self(10);
    /// Assured Forwarding class 1, medium drop precedence (12).
    pub const AF12: Self = Self(12);
    /// Assured Forwarding class 1, high drop precedence (14).
    pub const AF13: Self = Self(14);
    /// Assured Forwarding class 2, low drop precedence (18).
    pub const AF21: Self = Self(18);
    /// Assured Forwarding class 2, medium drop precedence (20).
    pub const AF22: Self = Self(20);
    /// Assured Forwarding class 2, high drop precedence (22).
    pub const AF23: Self = Self(22);
    /// Assured Forwarding class 3, low drop precedence (26).
    pub const AF31: Self = Self(26);
    /// Assured Forwarding class 3, medium drop precedence (28).
    pub const AF32: Self = Self(28);
    /// Assured Forwarding class 3, high drop precedence (30).
    pub const AF33: Self = Self(30);
    /// Assured Forwarding class 4, low drop precedence (34).
    pub const AF41: Self = Self(34);
    /// Assured Forwarding class 4, medium drop precedence (36).
    pub const AF42: Self = Self(36);
    /// Assured Forwarding class 4, high drop precedence (38).
    pub const AF43: Self = Self(38);
    /// Voice Admit (44): admitted real-time voice (RFC 5865).
    pub const VA: Self = Self(44);
    /// Expedited Forwarding (46): low loss, low latency, low jitter (RFC 3246).
    pub const EF: Self = Self(46);
    /// Lower Effort (1): below best effort (RFC 8622).
    pub const LE: Self = Self(1);

    /// A code point.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] above 63.
    pub fn new(value: u8) -> Result<Self> {
        if value > 63 {
            return Err(Error::InvalidValue {
                option: "IP_TOS/IPV6_TCLASS",
                reason: format!("DSCP {value} is above 63"),
                source: None,
            });
        }
        Ok(Self(value))
    }

    /// The code point.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// The ECN field (the lower two bits of the TOS / traffic class byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ecn {
    /// 00: not ECN-capable.
    #[default]
    NotEct,
    /// 01: ECN-capable, ECT(1).
    Ect1,
    /// 10: ECN-capable, ECT(0).
    Ect0,
    /// 11: congestion experienced.
    Ce,
}

/// The IPv4 TOS / IPv6 traffic class byte: DSCP and ECN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TrafficClass {
    /// The DiffServ code point.
    pub dscp: Dscp,
    /// The ECN bits.
    pub ecn: Ecn,
}

impl TrafficClass {
    /// The byte as the kernel takes it.
    pub fn to_byte(self) -> u8 {
        let ecn = match self.ecn {
            Ecn::NotEct => 0,
            Ecn::Ect1 => 1,
            Ecn::Ect0 => 2,
            Ecn::Ce => 3,
        };
        (self.dscp.0 << 2) | ecn
    }

    /// Splits a TOS / traffic class byte.
    pub fn from_byte(byte: u8) -> Self {
        let ecn = match byte & 3 {
            0 => Ecn::NotEct,
            1 => Ecn::Ect1,
            2 => Ecn::Ect0,
            _ => Ecn::Ce,
        };
        Self {
            dscp: Dscp(byte >> 2),
            ecn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_class_bytes() {
        let tc = TrafficClass {
            dscp: Dscp::EF,
            ecn: Ecn::Ect0,
        };
        assert_eq!(tc.to_byte(), 0xba);
        assert_eq!(TrafficClass::from_byte(0xba), tc);
        assert!(Dscp::new(64).is_err());
        // Every named class is its RFC code point, and the AF classes follow 8c + 2d.
        for (c, d, af) in [
            (1, 1, Dscp::AF11),
            (1, 2, Dscp::AF12),
            (1, 3, Dscp::AF13),
            (2, 1, Dscp::AF21),
            (2, 2, Dscp::AF22),
            (2, 3, Dscp::AF23),
            (3, 1, Dscp::AF31),
            (3, 2, Dscp::AF32),
            (3, 3, Dscp::AF33),
            (4, 1, Dscp::AF41),
            (4, 2, Dscp::AF42),
            (4, 3, Dscp::AF43),
        ] {
            assert_eq!(af.get(), 8 * c + 2 * d);
        }
        let cs = [
            Dscp::CS0,
            Dscp::CS1,
            Dscp::CS2,
            Dscp::CS3,
            Dscp::CS4,
            Dscp::CS5,
            Dscp::CS6,
            Dscp::CS7,
        ];
        for (i, c) in cs.iter().enumerate() {
            assert_eq!(usize::from(c.get()), 8 * i);
        }
        assert_eq!(
            (Dscp::EF.get(), Dscp::VA.get(), Dscp::LE.get()),
            (46, 44, 1)
        );
    }

    #[test]
    fn keepalive_ranges() {
        let s = Duration::from_secs;
        assert!(Keepalive::new(s(60), s(10), 3).is_ok());
        assert!(Keepalive::new(s(0), s(10), 3).is_err());
        assert!(Keepalive::new(Duration::from_millis(1500), s(10), 3).is_err());
        assert!(Keepalive::new(s(60), s(10), 0).is_err());
        assert!(Keepalive::new(s(60), s(40000), 3).is_err());
    }

    #[test]
    fn pacing_rate_raw() {
        assert_eq!(PacingRate::from_raw(u64::MAX), PacingRate::Unlimited);
        assert_eq!(
            PacingRate::from_raw(u64::from(u32::MAX)),
            PacingRate::Unlimited
        );
        assert_eq!(
            PacingRate::bits_per_second(8_000),
            PacingRate::BytesPerSecond(1000)
        );
        assert_eq!(PacingRate::BytesPerSecond(5).to_raw(), 5);
    }
}

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
    /// Expedited Forwarding (46), for latency-critical traffic.
    pub const EF: Self = Self(46);
    /// Class Selector 0 (best effort).
    pub const CS0: Self = Self(0);

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

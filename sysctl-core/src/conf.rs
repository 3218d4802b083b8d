//! Typed per-interface knobs: `net.ipv4.conf.IFACE.KEY` and `net.ipv6.conf.IFACE.KEY`,
//! for one interface, for `all` or for `default` (what new interfaces start with).
//!
//! ```no_run
//! use nettune_sysctl::{Sysctl, RpFilterMode, conf::{self, On}};
//! let sys = Sysctl::open();
//! sys.set_conf::<conf::RpFilter>(&On::interface("eth0")?, RpFilterMode::Loose)?;
//! let ra = sys.get_conf::<conf::AcceptRa>(&On::Default)?;
//! # Ok::<(), nettune_sysctl::Error>(())
//! ```
//!
//! How `all` combines with an interface's own value differs per key (ip-sysctl.rst):
//! `rp_filter` and `arp_ignore`/`arp_announce` take the larger of the two, `log_martians`
//! and `accept_source_route` want both, `accept_redirects` either, and `forwarding` on `all`
//! sets every interface. Every key here is per network namespace.

use crate::error::{Error, ValueError};
use crate::key::Key;
use crate::knobs::codec;
use crate::value::{AcceptRaMode, ArpAnnounceMode, ArpIgnoreMode, RpFilterMode};

/// The address family of a per-interface key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `net.ipv4.conf`.
    Ipv4,
    /// `net.ipv6.conf`.
    Ipv6,
}

impl Family {
    /// `ipv4` or `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
        }
    }
}

/// Which entry of `net.ipv4.conf` / `net.ipv6.conf` a knob is read or written on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum On {
    /// `all`: every interface (combined with each one's own value as the key defines).
    All,
    /// `default`: the value interfaces created from now on start with.
    Default,
    /// One interface, by name (`eth0`, `eth0.100`).
    Interface(String),
}

impl On {
    /// One interface; the name is checked as the kernel's device names are (1 to 15
    /// bytes, no `/`, no whitespace, not `.` or `..`, not `all` or `default`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] naming the rule the name breaks.
    pub fn interface(name: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::InvalidKey {
            key: crate::error::clip(name),
            reason,
        };
        if name.is_empty() || name.len() > 15 {
            return Err(bad("an interface name has 1 to 15 bytes"));
        }
        if name == "all" || name == "default" {
            return Err(bad(
                "`all` and `default` are On::All and On::Default, not interfaces",
            ));
        }
        Key::from_static("net.ipv4.conf")
            .child(name)
            .map_err(|_| bad("not a valid interface name (no `/`, whitespace or control characters, not `.` or `..`)"))?;
        Ok(Self::Interface(name.to_owned()))
    }

    fn component(&self) -> &str {
        match self {
            Self::All => "all",
            Self::Default => "default",
            Self::Interface(n) => n,
        }
    }
}

/// A per-interface sysctl with a typed value.
pub trait ConfKnob {
    /// The value type.
    type Value: Clone + std::fmt::Debug + PartialEq;
    /// `ipv4` or `ipv6`.
    const FAMILY: Family;
    /// The file name below `net.FAMILY.conf.IFACE`.
    const NAME: &'static str;

    /// The key on `on`.
    fn key(on: &On) -> Key {
        let base = match Self::FAMILY {
            Family::Ipv4 => Key::from_static("net.ipv4.conf"),
            Family::Ipv6 => Key::from_static("net.ipv6.conf"),
        };
        // `On` is validated at construction and NAME is a literal: both are components.
        base.child(on.component())
            .and_then(|k| k.child(Self::NAME))
            .unwrap_or(base)
    }

    /// Parses the text the kernel prints.
    ///
    /// # Errors
    ///
    /// When the text does not fit the value type.
    fn parse(raw: &str) -> Result<Self::Value, ValueError>;

    /// Formats a value as the kernel accepts it, checking the knob's rules.
    ///
    /// # Errors
    ///
    /// When the value breaks a rule of this knob.
    fn format(value: &Self::Value) -> Result<String, ValueError>;
}

/// What [`ALL`] says of each per-interface knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfKnobInfo {
    /// `ipv4` or `ipv6`.
    pub family: Family,
    /// The file name below `net.FAMILY.conf.IFACE`.
    pub name: &'static str,
    /// The documentation; the first line is a summary.
    pub doc: &'static str,
}

macro_rules! conf_knobs {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $ty:ty = $codec:ident, $family:ident, $file:literal;
    )*) => {
        $(
            $(#[doc = $doc])*
            ///
            #[doc = concat!("Key `net.", stringify!($family), ".conf.IFACE.", $file, "` (lowercase family); per namespace.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
            pub struct $name;

            impl ConfKnob for $name {
                type Value = $ty;
                const FAMILY: Family = Family::$family;
                const NAME: &'static str = $file;
                fn parse(raw: &str) -> Result<$ty, ValueError> {
                    codec::$codec::parse(raw)
                }
                fn format(value: &$ty) -> Result<String, ValueError> {
                    codec::$codec::format(value)
                }
            }
        )*

        /// Every per-interface knob, in the order they are defined.
        pub static ALL: &[ConfKnobInfo] = &[
            $(ConfKnobInfo { family: Family::$family, name: $file, doc: concat!($($doc, "\n"),*) },)*
        ];

        /// The typed canonical text of `value` for a `net.ipv4.conf.X.NAME` or
        /// `net.ipv6.conf.X.NAME` key, or `None` when no knob has that name.
        pub(crate) fn typed_canonical(family: &str, name: &str, value: &str) -> Option<Result<String, ValueError>> {
            $(
                if family == Family::$family.as_str() && name == $file {
                    return Some($name::parse(value).and_then(|v| $name::format(&v)));
                }
            )*
            None
        }
    };
}

conf_knobs! {
    /// Reverse path filtering: 0 off, 1 strict, 2 loose (RFC 3704). The larger of `all` and
    /// the interface's value applies. Default 0 (distributions often set 2 or 1).
    RpFilter: RpFilterMode = mode, Ipv4, "rp_filter";
    /// Accept ICMP redirects. Default on for hosts; turn it off on servers and routers.
    AcceptRedirects: bool = switch, Ipv4, "accept_redirects";
    /// Accept ICMP redirects only from gateways in the default gateway list. Default on.
    SecureRedirects: bool = switch, Ipv4, "secure_redirects";
    /// Send ICMP redirects (when routing). Default on.
    SendRedirects: bool = switch, Ipv4, "send_redirects";
    /// Accept source-routed packets. Default off on hosts.
    AcceptSourceRoute: bool = switch, Ipv4, "accept_source_route";
    /// Forward IPv4 packets on this interface (`all` sets every interface). Default off.
    Forwarding: bool = switch, Ipv4, "forwarding";
    /// Log packets with impossible source addresses. Default off.
    LogMartians: bool = switch, Ipv4, "log_martians";
    /// The source address of ARP requests: 0 any, 1 same subnet, 2 best. Default 0.
    ArpAnnounce: ArpAnnounceMode = mode, Ipv4, "arp_announce";
    /// Which ARP requests get a reply: 0 any, 1 interface, 2 subnet, 3 not host scope,
    /// 8 never. Default 0; load balancers with a VIP on `lo` use 1 with arp_announce 2.
    ArpIgnore: ArpIgnoreMode = mode, Ipv4, "arp_ignore";
    /// Answer ARP only for addresses routed out of the interface. Default off.
    ArpFilter: bool = switch, Ipv4, "arp_filter";
    /// Answer ARP for addresses reachable through another interface. Default off.
    ProxyArp: bool = switch, Ipv4, "proxy_arp";
    /// Accept packets with a local source address (with suitable routing). Default off.
    AcceptLocal: bool = switch, Ipv4, "accept_local";
    /// Route 127/8 addresses off-host (for DNAT to loopback). Default off.
    RouteLocalnet: bool = switch, Ipv4, "route_localnet";
    /// Accept IPv6 router advertisements: 0 off, 1 unless forwarding (default), 2 always.
    AcceptRa: AcceptRaMode = mode, Ipv6, "accept_ra";
    /// Forward IPv6 packets (also turns host behaviour off: no RA, no redirects). Default off.
    Forwarding6: bool = switch, Ipv6, "forwarding";
    /// Turn IPv6 off on the interface. Default off.
    DisableIpv6: bool = switch, Ipv6, "disable_ipv6";
    /// Accept ICMPv6 redirects. Default on unless forwarding.
    AcceptRedirects6: bool = switch, Ipv6, "accept_redirects";
    /// Configure addresses from router advertisements (SLAAC). Default on.
    Autoconf: bool = switch, Ipv6, "autoconf";
}

/// The family and file name of `key` when it is a `net.ipv{4,6}.conf.X.NAME` key.
pub(crate) fn canonical_of(key: &Key) -> Option<(&str, &str)> {
    let mut c = key.components();
    match (c.next(), c.next(), c.next(), c.next(), c.next(), c.next()) {
        (
            Some("net"),
            Some(family @ ("ipv4" | "ipv6")),
            Some("conf"),
            Some(_),
            Some(name),
            None,
        ) => Some((family, name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_address_all_default_and_interfaces() {
        assert_eq!(
            RpFilter::key(&On::All).to_string(),
            "net.ipv4.conf.all.rp_filter"
        );
        assert_eq!(
            AcceptRa::key(&On::Default).to_string(),
            "net.ipv6.conf.default.accept_ra"
        );
        let vlan = On::interface("eth0.100").expect("name");
        assert_eq!(
            RpFilter::key(&vlan).path(),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        for bad in ["", "all", "a/b", "..", "sixteen-bytes-xx", "a b"] {
            assert!(On::interface(bad).is_err(), "{bad:?}");
        }
        let names: std::collections::HashSet<_> = ALL.iter().map(|k| (k.family, k.name)).collect();
        assert_eq!(names.len(), ALL.len(), "unique");
    }
}

//! Typed knobs: each sysctl this crate knows, with its key, value type and namespace scope.
//!
//! A knob is a unit type implementing [`Knob`]; read and write it with
//! [`Sysctl::get`](crate::Sysctl::get) and [`Sysctl::set`](crate::Sysctl::set). [`ALL`] lists
//! every knob for tools that audit or document them. Meanings, units and defaults come from
//! the kernel's Documentation/networking/ip-sysctl.rst, admin-guide/sysctl/net.rst,
//! networking/nf_conntrack-sysctl.rst and networking/mptcp-sysctl.rst (Linux 6.18).
//!
//! Units: sizes are bytes (`u32`, at most 2^31 - 1 where the kernel stores an `int`),
//! `tcp_mem`/`udp_mem` are pages, times are [`Duration`]s written in the knob's unit
//! (whole seconds, microseconds or nanoseconds; a fraction is rejected).
//!
//! Ranges: a knob whose kernel handler has bounds (`proc_dou8vec_minmax` for a `u8`,
//! `proc_dointvec_minmax` with limits) refuses values outside them before anything is
//! written, naming the range ([`KnobInfo::range`]); modes refuse numbers the kernel gives no
//! meaning. Times the kernel keeps in jiffies (`proc_dointvec_jiffies`) accept up to
//! `INT_MAX / HZ` seconds there, 8589934 at HZ=250 and 2147483 at HZ=1000: the knobs take
//! 0..=2147483, which every kernel accepts. The live tests write each bound in a child
//! namespace to check it against the running kernel.

use std::time::Duration;

use crate::error::ValueError;
use crate::key::Key;
use crate::value::{
    CongestionControl, ConntrackEvents, CpuMask, FastOpen, FastOpenKey, MemPages, MptcpName,
    MtuProbing, NameList, PmType, PortRange, Qdisc, SynCookies, TcpEcn, TcpMem, Timestamps,
    TwReuse,
};

/// Where a key lives with respect to network namespaces (kernel 6.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// Each network namespace has its own value, writable inside it.
    PerNamespace,
    /// Present in child namespaces but read-only there (it shows the initial namespace's
    /// value, or the child's own fixed one); writable only in the initial namespace.
    ReadOnlyInChild,
    /// One value for the whole host, absent in child namespaces.
    Global,
    /// Read-only everywhere: a status the kernel reports (available algorithms, counts).
    ReadOnly,
}

impl Scope {
    /// Whether a process in a child network namespace can write the key.
    pub fn writable_in_child(self) -> bool {
        self == Self::PerNamespace
    }

    /// A short lowercase description.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerNamespace => "per-namespace",
            Self::ReadOnlyInChild => "read-only in a child namespace",
            Self::Global => "global (absent in a child namespace)",
            Self::ReadOnly => "read-only",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sysctl with a typed value.
pub trait Knob {
    /// The value type, validated at construction.
    type Value: Clone + std::fmt::Debug + PartialEq;
    /// The key in dotted form.
    const KEY: &'static str;
    /// Where the key lives with respect to network namespaces.
    const SCOPE: Scope;

    /// The key.
    fn key() -> Key {
        Key::from_static(Self::KEY)
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
    /// When the value breaks a rule of this knob (range, unit, bit dependencies).
    fn format(value: &Self::Value) -> Result<String, ValueError>;
}

/// Something done for each typed knob: see [`for_each`].
pub trait Visitor {
    /// Called once per knob type.
    fn visit<K: Knob>(&mut self);
}

/// What [`ALL`] says of each knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnobInfo {
    /// The key in dotted form.
    pub key: &'static str,
    /// The namespace scope.
    pub scope: Scope,
    /// The knob's documentation: the first line is a summary.
    pub doc: &'static str,
    /// The range the kernel accepts, in the knob's unit, where it has one narrower than the
    /// value type's (checked before writing).
    pub range: Option<(i64, i64)>,
}

impl KnobInfo {
    /// The first line of the documentation.
    pub fn summary(&self) -> &'static str {
        self.doc
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
    }
}

/// The knob whose key is `key`, if this crate knows it.
pub fn info(key: &Key) -> Option<&'static KnobInfo> {
    let dotted = key.to_string();
    ALL.iter().find(|k| k.key == dotted)
}

/// A key the kernel no longer has: when it went, and what to use instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// The key in dotted form.
    pub key: &'static str,
    /// The kernel release that removed it.
    pub since: &'static str,
    /// Why, and what replaces it (if anything).
    pub instead: &'static str,
}

/// Keys that tuning guides still name but the kernel removed or renamed.
pub static REMOVED: &[Removed] = &[
    Removed {
        key: "net.ipv4.tcp_tw_recycle",
        since: "4.12",
        instead: "it broke clients behind NAT; net.ipv4.tcp_tw_reuse reuses TIME-WAIT sockets for outgoing connections safely",
    },
    Removed {
        key: "net.ipv4.tcp_abc",
        since: "3.9",
        instead: "Appropriate Byte Counting is gone; nothing replaces it",
    },
    Removed {
        key: "net.ipv4.tcp_cookie_size",
        since: "3.10",
        instead: "TCP Cookie Transactions are gone; TCP Fast Open (net.ipv4.tcp_fastopen) serves the same purpose",
    },
    Removed {
        key: "net.ipv4.tcp_frto_response",
        since: "3.10",
        instead: "F-RTO was reworked; net.ipv4.tcp_frto remains",
    },
    Removed {
        key: "net.ipv4.tcp_dma_copybreak",
        since: "3.19",
        instead: "NET_DMA receive offload is gone; nothing replaces it",
    },
    Removed {
        key: "net.ipv4.tcp_max_ssthresh",
        since: "4.0",
        instead: "limited slow start is gone; HyStart (in cubic) handles slow-start overshoot",
    },
    Removed {
        key: "net.netfilter.nf_conntrack_helper",
        since: "6.0",
        instead: "automatic helper assignment is gone: assign helpers explicitly with an nftables `ct helper` rule",
    },
    Removed {
        key: "net.ipv4.netfilter.ip_conntrack_max",
        since: "4.x (the ip_conntrack compatibility names)",
        instead: "renamed net.netfilter.nf_conntrack_max",
    },
];

/// The entry of [`REMOVED`] for `key`, if the kernel removed it.
pub fn removed(key: &Key) -> Option<&'static Removed> {
    let dotted = key.to_string();
    REMOVED.iter().find(|r| r.key == dotted)
}

/// Whether `key` holds a secret that is never printed: `net.ipv4.tcp_fastopen_key` (the
/// keys that sign fast-open cookies). Journals keep such values, in files only the owner
/// may read; plans, reports and errors show `<secret>`.
pub fn is_secret(key: &Key) -> bool {
    key.to_string() == TcpFastopenKey::KEY
}

/// `0`/`1` and the words configuration tools use for them (`yes`, `true`, `on`, ...).
pub(crate) fn bool_word(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// The canonical text of a value for `key`: what the kernel would print for it.
///
/// For a knob of this module the value goes through the knob's type (so `"4096\t87380
/// 6291456"`, a quoted triple's fields, `yes` for a switch and `0x3` for `tcp_fastopen` all
/// become the kernel's form, and a value the type rejects is an error). For other keys,
/// runs of whitespace become one space, `yes`/`true`/`on` and `no`/`false`/`off` become
/// `1`/`0`, and hexadecimal (`0x10`) and octal (`010`) numbers become decimal, as the
/// kernel reads them.
///
/// # Errors
///
/// When `key` is a knob of this module and `value` breaks its rules.
///
/// ```
/// use nettune_sysctl::{Key, knobs::canonical};
/// let rmem: Key = "net.ipv4.tcp_rmem".parse()?;
/// assert_eq!(canonical(&rmem, "4096\t87380   6291456")?, "4096 87380 6291456");
/// assert_eq!(canonical(&"net.ipv4.tcp_sack".parse()?, "yes")?, "1");
/// assert_eq!(canonical(&"net.ipv4.tcp_fastopen".parse()?, "0x3")?, "3");
/// assert_eq!(canonical(&"net.ipv4.conf.all.rp_filter".parse()?, "0x2")?, "2");
/// assert_eq!(canonical(&"net.ipv4.tcp_fastopen_blackhole_timeout_sec".parse()?, "010")?, "8");
/// let reserved = "net.ipv4.ip_local_reserved_ports".parse()?;
/// assert_eq!(canonical(&reserved, "8081,8080,9000")?, "8080-8081,9000");
/// assert!(canonical(&rmem, "8192 4096 1").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn canonical(key: &Key, value: &str) -> Result<String, ValueError> {
    let dotted = key.to_string();
    match typed_canonical(&dotted, value) {
        Some(result) => result,
        None => match dotted.as_str() {
            // Per-interface knobs, on any interface.
            _ if crate::conf::canonical_of(key).is_some() => crate::conf::canonical_of(key)
                .and_then(|(family, name)| crate::conf::typed_canonical(family, name, value))
                .unwrap_or_else(|| Ok(generic_canonical(value))),
            // Values the kernel prints in a form of its own, compared in that form.
            "net.ipv4.ip_local_reserved_ports" => port_list(value),
            "net.core.rps_default_mask" => value.parse::<CpuMask>().map(|m| m.to_string()),
            _ => Ok(generic_canonical(value)),
        },
    }
}

/// A port list (`ip_local_reserved_ports`, `proc_do_large_bitmap`) as the kernel prints it:
/// sorted, with adjacent ports merged into ranges (`8080,8081,9000` is `8080-8081,9000`).
fn port_list(value: &str) -> Result<String, ValueError> {
    let what = "port list";
    let mut ports = std::collections::BTreeSet::new();
    for item in value.split([',', ' ', '\t']).filter(|s| !s.is_empty()) {
        let (lo, hi) = item.split_once('-').unwrap_or((item, item));
        let num = |t: &str| {
            t.trim().parse::<u16>().map_err(|_| {
                ValueError::new(what, value, format!("{t:?} is not a port (0 to 65535)"))
            })
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(ValueError::new(
                what,
                value,
                format!("the range {item} runs backwards"),
            ));
        }
        ports.extend(lo..=hi);
    }
    let mut out = String::new();
    let mut it = ports.into_iter().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end.wrapping_add(1))) && end < u16::MAX {
            end = it.next().unwrap_or(end);
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
    }
    Ok(out)
}

/// [`canonical`] for a value read from the kernel: never fails (a value that breaks a
/// knob's rules, which someone else may have written, is normalised generically).
pub fn canonical_lenient(key: &Key, value: &str) -> String {
    canonical(key, value).unwrap_or_else(|_| generic_canonical(value))
}

fn generic_canonical(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for field in value.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        // Numbers as the kernel reads them: 0x10 is 16 and 010 is 8 (base 0).
        let number = (field.starts_with('0') && field.len() > 1)
            .then(|| crate::value::kernel_u64(field))
            .flatten();
        match (bool_word(field), number) {
            (Some(b), _) => out.push(if b { '1' } else { '0' }),
            (None, Some(n)) => out.push_str(&n.to_string()),
            (None, None) => out.push_str(field),
        }
    }
    out
}

/// How each kind of value is read and written.
pub(crate) mod codec {
    use super::*;

    fn int31(text: &str, what: &'static str) -> Result<u32, ValueError> {
        let v: u32 = crate::value::parse_int(text.trim(), what)?;
        if v > i32::MAX as u32 {
            return Err(ValueError::new(
                what,
                text,
                "above 2^31-1, the largest the kernel stores",
            ));
        }
        Ok(v)
    }

    /// 0 or 1.
    pub(crate) mod switch {
        use super::*;
        pub(crate) fn parse(raw: &str) -> Result<bool, ValueError> {
            match bool_word(raw.trim()) {
                Some(b) => Ok(b),
                None => Err(ValueError::new("switch", raw, "expected 0 or 1")),
            }
        }
        pub(crate) fn format(v: &bool) -> Result<String, ValueError> {
            Ok(if *v { "1" } else { "0" }.to_owned())
        }
    }

    /// A kernel `int` that must not be negative: counts and byte sizes.
    pub(crate) mod count {
        use super::*;
        pub(crate) fn parse(raw: &str) -> Result<u32, ValueError> {
            int31(raw, "count")
        }
        pub(crate) fn format(v: &u32) -> Result<String, ValueError> {
            int31(&v.to_string(), "count").map(|v| v.to_string())
        }
    }

    /// A kernel `unsigned int` over its whole range.
    pub(crate) mod uint {
        use super::*;
        pub(crate) fn parse(raw: &str) -> Result<u32, ValueError> {
            crate::value::parse_int(raw.trim(), "unsigned integer")
        }
        pub(crate) fn format(v: &u32) -> Result<String, ValueError> {
            Ok(v.to_string())
        }
    }

    fn duration(v: &Duration, per_sec: u64, unit: &'static str) -> Result<String, ValueError> {
        let nanos_per_unit = 1_000_000_000 / per_sec;
        let n = v.as_nanos();
        if n % u128::from(nanos_per_unit) != 0 {
            return Err(ValueError::new(
                "duration",
                format!("{v:?}"),
                format!("must be a whole number of {unit}"),
            ));
        }
        let units = n / u128::from(nanos_per_unit);
        if units > i32::MAX as u128 {
            return Err(ValueError::new(
                "duration",
                format!("{v:?}"),
                format!("above 2^31-1 {unit}"),
            ));
        }
        Ok(units.to_string())
    }

    /// Whole seconds.
    pub(crate) mod seconds {
        use super::*;
        pub(crate) fn parse(raw: &str) -> Result<Duration, ValueError> {
            int31(raw, "seconds").map(|s| Duration::from_secs(s.into()))
        }
        pub(crate) fn format(v: &Duration) -> Result<String, ValueError> {
            duration(v, 1, "seconds")
        }
    }

    /// Whole microseconds.
    pub(crate) mod micros {
        use super::*;
        pub(crate) fn parse(raw: &str) -> Result<Duration, ValueError> {
            int31(raw, "microseconds").map(|s| Duration::from_micros(s.into()))
        }
        pub(crate) fn format(v: &Duration) -> Result<String, ValueError> {
            duration(v, 1_000_000, "microseconds")
        }
    }

    /// A kernel `int` that may be negative.
    pub(crate) mod int {
        use super::*;
        pub(crate) fn parse(raw: &str) -> Result<i32, ValueError> {
            let t = raw.trim();
            let (neg, digits) = match t.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, t),
            };
            let v = i64::try_from(crate::value::parse_int::<u64>(digits, "integer")?)
                .map_err(|_| ValueError::new("integer", raw, "out of range"))?;
            i32::try_from(if neg { -v } else { v })
                .map_err(|_| ValueError::new("integer", raw, "outside the range of a kernel int"))
        }
        pub(crate) fn format(v: &i32) -> Result<String, ValueError> {
            Ok(v.to_string())
        }
    }

    /// Whole nanoseconds in a kernel `unsigned long`.
    pub(crate) mod nanos {
        use super::*;
        pub(crate) fn parse(raw: &str) -> Result<Duration, ValueError> {
            crate::value::parse_int::<u64>(raw.trim(), "nanoseconds").map(Duration::from_nanos)
        }
        pub(crate) fn format(v: &Duration) -> Result<String, ValueError> {
            u64::try_from(v.as_nanos())
                .map(|n| n.to_string())
                .map_err(|_| {
                    ValueError::new("duration", format!("{v:?}"), "above 2^64-1 nanoseconds")
                })
        }
    }

    /// A mode the kernel defines by number: unknown numbers read back as `Other(n)` but
    /// are never written.
    pub(crate) mod mode {
        use super::*;
        pub(crate) fn parse<T: crate::value::Mode>(raw: &str) -> Result<T, ValueError> {
            raw.parse()
        }
        pub(crate) fn format<T: crate::value::Mode>(v: &T) -> Result<String, ValueError> {
            if v.is_known() {
                return Ok(v.to_string());
            }
            Err(ValueError::new(
                T::WHAT,
                v.to_string(),
                format!("not a value the kernel defines; it takes {}", T::choices()),
            ))
        }
    }

    /// Refuses a formatted number outside `[min, max]`, naming the range.
    pub(crate) fn in_range(
        text: String,
        min: i64,
        max: i64,
        key: &str,
    ) -> Result<String, ValueError> {
        let n: i64 = match text.trim().parse() {
            Ok(n) => n,
            Err(_) => return Ok(text),
        };
        if (min..=max).contains(&n) {
            return Ok(text);
        }
        Err(ValueError::new(
            "value",
            text,
            format!("outside {min}..={max}, the range the kernel accepts for {key}"),
        ))
    }

    /// A type with `FromStr` and `Display` (triples, names, enums, lists).
    pub(crate) mod text {
        use super::*;
        pub(crate) fn parse<T: std::str::FromStr<Err = ValueError>>(
            raw: &str,
        ) -> Result<T, ValueError> {
            raw.parse()
        }
        pub(crate) fn format<T: std::fmt::Display>(v: &T) -> Result<String, ValueError> {
            Ok(v.to_string())
        }
    }

    /// `tcp_fastopen` bits, checked for base bits.
    pub(crate) mod fastopen {
        use super::*;
        pub(crate) fn parse(raw: &str) -> Result<FastOpen, ValueError> {
            raw.parse()
        }
        pub(crate) fn format(v: &FastOpen) -> Result<String, ValueError> {
            v.check().map(|v| v.to_string())
        }
    }
}

macro_rules! knobs {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $ty:ty = $codec:ident $([$min:expr, $max:expr])?, $key:literal, $scope:ident;
    )*) => {
        $(
            $(#[doc = $doc])*
            ///
            #[doc = concat!("Key `", $key, "`; scope: [`Scope::", stringify!($scope), "`]", $(", range ", stringify!($min), "..=", stringify!($max),)? ".")]
            #[doc(alias = $key)]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
            pub struct $name;

            impl Knob for $name {
                type Value = $ty;
                const KEY: &'static str = $key;
                const SCOPE: Scope = Scope::$scope;
                fn parse(raw: &str) -> Result<$ty, ValueError> {
                    codec::$codec::parse(raw)
                }
                fn format(value: &$ty) -> Result<String, ValueError> {
                    let text = codec::$codec::format(value)?;
                    $(let text = codec::in_range(text, $min, $max, $key)?;)?
                    Ok(text)
                }
            }
        )*

        /// Calls `visitor.visit::<K>()` for every knob of this module, in the order of [`ALL`].
        pub fn for_each<V: Visitor>(visitor: &mut V) {
            $(visitor.visit::<$name>();)*
        }

        /// The typed canonical text of `value` for the knob `key` (dotted), or `None` when
        /// no knob has that key.
        fn typed_canonical(key: &str, value: &str) -> Option<Result<String, ValueError>> {
            match key {
                $($key => Some($name::parse(value).and_then(|v| $name::format(&v))),)*
                _ => None,
            }
        }

        /// Every knob of this module, in the order they are defined.
        pub static ALL: &[KnobInfo] = &[
            $(KnobInfo {
                key: $key,
                scope: Scope::$scope,
                doc: concat!($($doc, "\n"),*),
                range: knobs!(@range $($min, $max)?),
            },)*
        ];
    };
    (@range) => { None };
    (@range $min:expr, $max:expr) => { Some(($min, $max)) };
}

knobs! {
    // ---- TCP: congestion control -------------------------------------------------------

    /// The default congestion control algorithm for new TCP connections.
    ///
    /// Per namespace since 4.15. A child namespace may only pick algorithms listed in
    /// `tcp_allowed_congestion_control` (5.13); an algorithm not loaded is autoloaded when
    /// the writer has CAP_NET_ADMIN. Default `cubic` on most builds.
    TcpCongestionControl: CongestionControl = text, "net.ipv4.tcp_congestion_control", PerNamespace;
    /// The congestion control algorithms loaded in this kernel.
    TcpAvailableCongestionControl: NameList<CongestionControl> = text, "net.ipv4.tcp_available_congestion_control", ReadOnly;
    /// The algorithms unprivileged processes may select with TCP_CONGESTION, and that child
    /// namespaces may make their default.
    ///
    /// Writable only in the initial namespace (read-only in children since 5.13).
    TcpAllowedCongestionControl: NameList<CongestionControl> = text, "net.ipv4.tcp_allowed_congestion_control", ReadOnlyInChild;

    // ---- TCP: options ------------------------------------------------------------------

    /// TCP Fast Open bits: 0x1 client, 0x2 server, 0x4 client without cookie, 0x200 server
    /// without cookie, 0x400 all listeners.
    ///
    /// Default 0x1. Extra bits act only with their base bit; a listener also needs the
    /// TCP_FASTOPEN socket option unless 0x400 is set.
    TcpFastopen: FastOpen = fastopen, "net.ipv4.tcp_fastopen", PerNamespace;
    /// The keys that sign fast-open cookies (primary, optional backup), as
    /// `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`. Readable only by root.
    TcpFastopenKey: FastOpenKey = text, "net.ipv4.tcp_fastopen_key", PerNamespace;
    /// RFC 7323 timestamps: 0 off, 1 on with a random per-connection offset (default), 2 on
    /// without the offset.
    TcpTimestamps: Timestamps = mode, "net.ipv4.tcp_timestamps", PerNamespace;
    /// Selective acknowledgements (RFC 2018). Default on; keep it on for loss recovery.
    TcpSack: bool = switch, "net.ipv4.tcp_sack", PerNamespace;
    /// Duplicate SACKs (RFC 2883). Default on.
    TcpDsack: bool = switch, "net.ipv4.tcp_dsack", PerNamespace;
    /// Window scaling (RFC 7323), needed for windows above 64 KiB. Default on.
    TcpWindowScaling: bool = switch, "net.ipv4.tcp_window_scaling", PerNamespace;

    // ---- TCP: keepalive and timeouts ---------------------------------------------------

    /// Idle time before the first keepalive probe, in seconds. Default 7200 (2 hours).
    /// Only sockets with SO_KEEPALIVE send probes.
    TcpKeepaliveTime: Duration = seconds [0, 2147483], "net.ipv4.tcp_keepalive_time", PerNamespace;
    /// Time between keepalive probes, in seconds. Default 75.
    TcpKeepaliveIntvl: Duration = seconds [0, 2147483], "net.ipv4.tcp_keepalive_intvl", PerNamespace;
    /// Unanswered keepalive probes before the connection is dropped. Default 9.
    TcpKeepaliveProbes: u32 = count [0, 255], "net.ipv4.tcp_keepalive_probes", PerNamespace;
    /// How long an orphaned connection stays in FIN-WAIT-2, in seconds. Default 60.
    TcpFinTimeout: Duration = seconds [0, 2147483], "net.ipv4.tcp_fin_timeout", PerNamespace;

    /// SYN retransmissions of an active open before it gives up. Default 6 (about 127 s).
    ///
    /// Kernel: `proc_dou8vec_minmax`, 1..=127 (`MAX_TCP_SYNCNT`, net/ipv4/sysctl_net_ipv4.c).
    TcpSynRetries: u32 = count [1, 127], "net.ipv4.tcp_syn_retries", PerNamespace;
    /// SYN-ACK retransmissions of a passive open. Default 5 (about 31 s).
    ///
    /// Kernel: `proc_dou8vec_minmax`, a `u8`.
    TcpSynackRetries: u32 = count [0, 255], "net.ipv4.tcp_synack_retries", PerNamespace;
    /// Retransmissions of established data before the connection is dropped. Default 15
    /// (13 to 30 minutes); 5 to 8 finds dead peers in seconds to minutes.
    ///
    /// Kernel: `proc_dou8vec_minmax`, a `u8`.
    TcpRetries2: u32 = count [0, 255], "net.ipv4.tcp_retries2", PerNamespace;
    /// ECN: 0 off, 1 request and accept, 2 accept only (default).
    ///
    /// Kernel: `proc_dou8vec_minmax`, 0..=2 on 6.18 (`SYSCTL_TWO`).
    TcpEcnMode: TcpEcn = mode, "net.ipv4.tcp_ecn", PerNamespace;
    /// Coalesce small writes while a previous packet waits in the qdisc or device. Default
    /// on; turn it off for request/response traffic that never writes twice in a row.
    ///
    /// Kernel: `proc_dou8vec_minmax`, 0..=1.
    TcpAutocorking: bool = switch, "net.ipv4.tcp_autocorking", PerNamespace;
    /// How much of the receive buffer is window and how much overhead: window =
    /// space - space/2^scale for a positive scale, space/2^-scale for a negative one.
    /// Default 1. Unused since 6.6 for window sizing, which measures the overhead instead.
    ///
    /// Kernel: `proc_dointvec_minmax`, -31..=31.
    TcpAdvWinScale: i32 = int [-31, 31], "net.ipv4.tcp_adv_win_scale", PerNamespace;
    /// Bytes a socket may have in the qdisc and device queues (TCP small queues). Default
    /// 1 MiB (4 MiB since 6.x); lower it to cut queueing delay behind bulk flows.
    ///
    /// Kernel: `proc_dointvec`, at most 2^31-1.
    TcpLimitOutputBytes: u32 = count, "net.ipv4.tcp_limit_output_bytes", PerNamespace;
    /// The fewest segments in one TSO frame. Default 2.
    ///
    /// Kernel: `proc_dou8vec_minmax`, 1..=255 (`SYSCTL_ONE`).
    TcpMinTsoSegs: u32 = count [1, 255], "net.ipv4.tcp_min_tso_segs", PerNamespace;
    /// Pacing rate in slow start, in percent of cwnd/RTT. Default 200.
    ///
    /// Kernel: `proc_dointvec_minmax`, 0..=1000.
    TcpPacingSsRatio: u32 = count [0, 1000], "net.ipv4.tcp_pacing_ss_ratio", PerNamespace;
    /// Pacing rate in congestion avoidance, in percent of cwnd/RTT. Default 120.
    ///
    /// Kernel: `proc_dointvec_minmax`, 0..=1000.
    TcpPacingCaRatio: u32 = count [0, 1000], "net.ipv4.tcp_pacing_ca_ratio", PerNamespace;
    /// The longest a compressed SACK waits, in nanoseconds. Default 1 ms (1000000).
    ///
    /// Kernel: `proc_doulongvec_minmax`, an `unsigned long`.
    TcpCompSackDelayNs: Duration = nanos, "net.ipv4.tcp_comp_sack_delay_ns", PerNamespace;
    /// Slack added to the compressed-SACK timer, in nanoseconds. Default 100 us.
    ///
    /// Kernel: `proc_doulongvec_minmax`, an `unsigned long`.
    TcpCompSackSlackNs: Duration = nanos, "net.ipv4.tcp_comp_sack_slack_ns", PerNamespace;
    /// SACKs that may be compressed into one; 0 turns SACK compression off. Default 44.
    ///
    /// Kernel: `proc_dou8vec_minmax`, 0..=255.
    TcpCompSackNr: u32 = count [0, 255], "net.ipv4.tcp_comp_sack_nr", PerNamespace;

    // ---- IP fragments ------------------------------------------------------------------

    /// Memory for IPv4 fragment reassembly, in bytes: beyond it new fragments are dropped.
    /// Default 4 MiB.
    ///
    /// Kernel: `proc_doulongvec_minmax`, at least `ipfrag_low_thresh`.
    IpfragHighThresh: u32 = count, "net.ipv4.ipfrag_high_thresh", PerNamespace;
    /// Memory the IPv4 reassembly evictor frees down to, in bytes. Default 3 MiB.
    ///
    /// Kernel: `proc_doulongvec_minmax`, at most `ipfrag_high_thresh`.
    IpfragLowThresh: u32 = count, "net.ipv4.ipfrag_low_thresh", PerNamespace;
    /// How long an IPv4 fragment waits for the rest, in seconds. Default 30.
    ///
    /// Kernel: `proc_dointvec_jiffies`.
    IpfragTime: Duration = seconds [0, 2147483], "net.ipv4.ipfrag_time", PerNamespace;
    /// The most fragments of other datagrams from one source between two of one datagram
    /// before it is dropped; 0 turns the check off. Default 64.
    ///
    /// Kernel: `proc_dointvec_minmax`, at least 0.
    IpfragMaxDist: u32 = count, "net.ipv4.ipfrag_max_dist", PerNamespace;
    /// Memory for IPv6 fragment reassembly, in bytes. Default 4 MiB.
    Ip6fragHighThresh: u32 = count, "net.ipv6.ip6frag_high_thresh", PerNamespace;
    /// Memory the IPv6 reassembly evictor frees down to, in bytes. Default 3 MiB.
    Ip6fragLowThresh: u32 = count, "net.ipv6.ip6frag_low_thresh", PerNamespace;
    /// How long an IPv6 fragment waits for the rest, in seconds. Default 60.
    Ip6fragTime: Duration = seconds [0, 2147483], "net.ipv6.ip6frag_time", PerNamespace;

    // ---- neighbour tables ----------------------------------------------------------------

    /// ARP entries below which the garbage collector never runs. Default 128. Global.
    NeighGcThresh1: u32 = count, "net.ipv4.neigh.default.gc_thresh1", Global;
    /// ARP entries above which entries older than 5 s are collected. Default 512. Global.
    NeighGcThresh2: u32 = count, "net.ipv4.neigh.default.gc_thresh2", Global;
    /// The most ARP entries: beyond it new neighbours fail ("neighbour table overflow").
    /// Default 1024; raise it on hosts with large L2 segments. Global.
    NeighGcThresh3: u32 = count, "net.ipv4.neigh.default.gc_thresh3", Global;
    /// The most IPv6 neighbour entries. Default 1024. Global.
    Neigh6GcThresh3: u32 = count, "net.ipv6.neigh.default.gc_thresh3", Global;

    // ---- TCP: buffers --------------------------------------------------------------------

    /// Receive buffer min, default and max in bytes. Autotuning grows a socket's buffer up
    /// to max (it is capped only by this, not by `net.core.rmem_max`).
    ///
    /// Default `4096 131072 6291456` (max scales with memory).
    TcpRmem: TcpMem = text, "net.ipv4.tcp_rmem", PerNamespace;
    /// Send buffer min, default and max in bytes. Default `4096 16384 4194304`.
    TcpWmem: TcpMem = text, "net.ipv4.tcp_wmem", PerNamespace;
    /// Memory thresholds of all TCP sockets together, in pages (low, pressure, high).
    /// Sized at boot from memory.
    TcpMemPages: MemPages = text, "net.ipv4.tcp_mem", Global;
    /// Memory thresholds of all UDP sockets together, in pages. Sized at boot from memory.
    UdpMemPages: MemPages = text, "net.ipv4.udp_mem", Global;
    /// Receive buffer autotuning. Default on; a socket that sets SO_RCVBUF opts out.
    TcpModerateRcvbuf: bool = switch, "net.ipv4.tcp_moderate_rcvbuf", PerNamespace;
    /// Unsent bytes a socket may queue before poll stops reporting it writable.
    /// Default 4294967295 (no limit); 16-128 KiB cuts latency for streaming senders.
    TcpNotsentLowat: u32 = uint, "net.ipv4.tcp_notsent_lowat", PerNamespace;
    /// Restart from the initial window after an idle period. Default on; turn it off for
    /// bursty long-lived connections.
    TcpSlowStartAfterIdle: bool = switch, "net.ipv4.tcp_slow_start_after_idle", PerNamespace;
    /// Packetization-layer path MTU discovery: 0 off (default), 1 after a black hole, 2 always.
    TcpMtuProbing: MtuProbing = mode, "net.ipv4.tcp_mtu_probing", PerNamespace;
    /// Reuse TIME-WAIT sockets for new outgoing connections: 0 never, 1 always when safe,
    /// 2 loopback only (default).
    TcpTwReuse: TwReuse = mode, "net.ipv4.tcp_tw_reuse", PerNamespace;
    /// Half-open connections kept per listener before SYN cookies or drops. Default from
    /// memory (128 to 1024 or more).
    TcpMaxSynBacklog: u32 = count, "net.ipv4.tcp_max_syn_backlog", PerNamespace;
    /// SYN cookies: 0 off, 1 when the SYN backlog overflows (default), 2 always.
    TcpSyncookies: SynCookies = mode, "net.ipv4.tcp_syncookies", PerNamespace;
    /// Do not cache metrics (ssthresh, RTT) of closed connections. Default off.
    TcpNoMetricsSave: bool = switch, "net.ipv4.tcp_no_metrics_save", PerNamespace;
    /// The ephemeral port range for outgoing connections. Default `32768 60999`.
    IpLocalPortRange: PortRange = text, "net.ipv4.ip_local_port_range", PerNamespace;

    // ---- net.core ------------------------------------------------------------------------

    /// The most a socket may ask for with SO_RCVBUF, in bytes (the kernel doubles the
    /// request). Does not cap TCP autotuning. Read-only in child namespaces. Default 212992
    /// on older kernels, 4 MiB since 6.x on most builds.
    CoreRmemMax: u32 = count, "net.core.rmem_max", ReadOnlyInChild;
    /// The most a socket may ask for with SO_SNDBUF, in bytes. Read-only in child namespaces.
    CoreWmemMax: u32 = count, "net.core.wmem_max", ReadOnlyInChild;
    /// The default receive buffer of non-TCP sockets, in bytes. Default 212992.
    CoreRmemDefault: u32 = count, "net.core.rmem_default", ReadOnlyInChild;
    /// The default send buffer of non-TCP sockets, in bytes. Default 212992.
    CoreWmemDefault: u32 = count, "net.core.wmem_default", ReadOnlyInChild;
    /// The most ancillary buffer memory a socket may use, in bytes.
    CoreOptmemMax: u32 = count, "net.core.optmem_max", PerNamespace;
    /// The largest listen() backlog. Default 4096 since 5.4 (128 before).
    CoreSomaxconn: u32 = count, "net.core.somaxconn", PerNamespace;
    /// Packets queued per CPU on input when the stack cannot keep up. Default 1000. Global.
    CoreNetdevMaxBacklog: u32 = count, "net.core.netdev_max_backlog", Global;
    /// Packets one NAPI softirq cycle may process. Default 300. Global.
    CoreNetdevBudget: u32 = count, "net.core.netdev_budget", Global;
    /// The longest one NAPI softirq cycle may run, in microseconds. Default 8000 (2 jiffies
    /// before 5.x). Global.
    CoreNetdevBudgetUsecs: Duration = micros, "net.core.netdev_budget_usecs", Global;
    /// Busy polling for poll/select/epoll, in microseconds (0 off, default). Global.
    CoreBusyPoll: Duration = micros, "net.core.busy_poll", Global;
    /// Busy polling for blocking reads: the default SO_BUSY_POLL, in microseconds (0 off,
    /// default). Global.
    CoreBusyRead: Duration = micros, "net.core.busy_read", Global;
    /// The queueing discipline new devices get (`fq` suits BBR pacing). Global.
    CoreDefaultQdisc: Qdisc = text, "net.core.default_qdisc", Global;
    /// Timestamp received packets before RPS steers them (1, default) or after (0). Global.
    CoreNetdevTstampPrequeue: bool = switch, "net.core.netdev_tstamp_prequeue", Global;
    /// CPUs with per-flow limits on their input backlog (a hex CPU mask), so that one flood
    /// cannot fill `netdev_max_backlog` for all. Default none. Global.
    CoreFlowLimitCpuBitmap: CpuMask = text, "net.core.flow_limit_cpu_bitmap", Global;
    /// Entries of the global RFS socket flow table (0 turns RFS off, default). Global.
    CoreRpsSockFlowEntries: u32 = count, "net.core.rps_sock_flow_entries", Global;

    // ---- netfilter conntrack ------------------------------------------------------------

    /// The most connections conntrack tracks; new ones are dropped beyond it. Default the
    /// bucket count. Read-only in child namespaces (5.13). Exists once nf_conntrack is loaded.
    NfConntrackMax: u32 = count, "net.netfilter.nf_conntrack_max", ReadOnlyInChild;
    /// The hash table size. Writable only in the initial namespace.
    NfConntrackBuckets: u32 = count, "net.netfilter.nf_conntrack_buckets", ReadOnlyInChild;
    /// The number of tracked connections now.
    NfConntrackCount: u32 = count, "net.netfilter.nf_conntrack_count", ReadOnly;
    /// The most expectations (helper-predicted connections). Read-only in child namespaces.
    NfConntrackExpectMax: u32 = count, "net.netfilter.nf_conntrack_expect_max", ReadOnlyInChild;
    /// Per-connection packet and byte counters. Default off.
    NfConntrackAcct: bool = switch, "net.netfilter.nf_conntrack_acct", PerNamespace;
    /// Per-connection start and stop timestamps. Default off.
    NfConntrackTimestamp: bool = switch, "net.netfilter.nf_conntrack_timestamp", PerNamespace;
    /// Event delivery: 0 off, 1 on, 2 only when someone listens (default since 6.0).
    NfConntrackEvents: ConntrackEvents = mode, "net.netfilter.nf_conntrack_events", PerNamespace;
    /// Verify checksums of incoming packets. Default on.
    NfConntrackChecksum: bool = switch, "net.netfilter.nf_conntrack_checksum", PerNamespace;
    /// Timeout of connections of other protocols, in seconds. Default 600.
    NfConntrackGenericTimeout: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_generic_timeout", PerNamespace;
    /// Timeout of ICMP flows, in seconds. Default 30.
    NfConntrackIcmpTimeout: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_icmp_timeout", PerNamespace;
    /// Timeout of ICMPv6 flows, in seconds. Default 30.
    NfConntrackIcmpv6Timeout: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_icmpv6_timeout", PerNamespace;
    /// Timeout of one-way UDP flows, in seconds. Default 30.
    NfConntrackUdpTimeout: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_udp_timeout", PerNamespace;
    /// Timeout of UDP flows seen both ways, in seconds. Default 120.
    NfConntrackUdpTimeoutStream: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_udp_timeout_stream", PerNamespace;
    /// TCP SYN_SENT timeout, in seconds. Default 120.
    NfConntrackTcpTimeoutSynSent: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_syn_sent", PerNamespace;
    /// TCP SYN_RECV timeout, in seconds. Default 60.
    NfConntrackTcpTimeoutSynRecv: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_syn_recv", PerNamespace;
    /// TCP ESTABLISHED timeout, in seconds. Default 432000 (5 days); an hour frees
    /// entries of dead peers sooner.
    NfConntrackTcpTimeoutEstablished: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_established", PerNamespace;
    /// TCP FIN_WAIT timeout, in seconds. Default 120.
    NfConntrackTcpTimeoutFinWait: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_fin_wait", PerNamespace;
    /// TCP CLOSE_WAIT timeout, in seconds. Default 60.
    NfConntrackTcpTimeoutCloseWait: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_close_wait", PerNamespace;
    /// TCP LAST_ACK timeout, in seconds. Default 30.
    NfConntrackTcpTimeoutLastAck: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_last_ack", PerNamespace;
    /// TCP TIME_WAIT timeout, in seconds. Default 120.
    NfConntrackTcpTimeoutTimeWait: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_time_wait", PerNamespace;
    /// TCP CLOSE timeout, in seconds. Default 10.
    NfConntrackTcpTimeoutClose: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_close", PerNamespace;
    /// Timeout after too many retransmissions, in seconds. Default 300.
    NfConntrackTcpTimeoutMaxRetrans: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_max_retrans", PerNamespace;
    /// Timeout with unacknowledged data outstanding, in seconds. Default 300.
    NfConntrackTcpTimeoutUnacknowledged: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_tcp_timeout_unacknowledged", PerNamespace;
    /// SCTP CLOSED timeout, in seconds. Default 10.
    NfConntrackSctpTimeoutClosed: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_sctp_timeout_closed", PerNamespace;
    /// SCTP COOKIE_WAIT timeout, in seconds. Default 3.
    NfConntrackSctpTimeoutCookieWait: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_sctp_timeout_cookie_wait", PerNamespace;
    /// SCTP COOKIE_ECHOED timeout, in seconds. Default 3.
    NfConntrackSctpTimeoutCookieEchoed: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_sctp_timeout_cookie_echoed", PerNamespace;
    /// SCTP ESTABLISHED timeout, in seconds. Default 210.
    NfConntrackSctpTimeoutEstablished: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_sctp_timeout_established", PerNamespace;
    /// SCTP SHUTDOWN_SENT timeout, in seconds. Default 3.
    NfConntrackSctpTimeoutShutdownSent: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_sctp_timeout_shutdown_sent", PerNamespace;
    /// SCTP SHUTDOWN_RECD timeout, in seconds. Default 3.
    NfConntrackSctpTimeoutShutdownRecd: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_sctp_timeout_shutdown_recd", PerNamespace;
    /// SCTP SHUTDOWN_ACK_SENT timeout, in seconds. Default 3.
    NfConntrackSctpTimeoutShutdownAckSent: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_sctp_timeout_shutdown_ack_sent", PerNamespace;
    /// SCTP HEARTBEAT_SENT timeout, in seconds. Default 30.
    NfConntrackSctpTimeoutHeartbeatSent: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_sctp_timeout_heartbeat_sent", PerNamespace;
    /// Timeout of one-way GRE flows, in seconds. Default 30.
    NfConntrackGreTimeout: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_gre_timeout", PerNamespace;
    /// Timeout of GRE flows seen both ways, in seconds. Default 180.
    NfConntrackGreTimeoutStream: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_gre_timeout_stream", PerNamespace;
    /// How long IPv6 fragments wait for reassembly in conntrack, in seconds. Default 60.
    NfConntrackFrag6Timeout: Duration = seconds [0, 2147483], "net.netfilter.nf_conntrack_frag6_timeout", PerNamespace;
    /// Pick up already established connections. Default on.
    NfConntrackTcpLoose: bool = switch, "net.netfilter.nf_conntrack_tcp_loose", PerNamespace;
    /// Mark only out-of-window RST as invalid, accept other out-of-window packets. Default off.
    NfConntrackTcpBeLiberal: bool = switch, "net.netfilter.nf_conntrack_tcp_be_liberal", PerNamespace;
    /// Retransmissions without an ACK before the max_retrans timeout applies. Default 3.
    NfConntrackTcpMaxRetrans: u32 = count [0, 255], "net.netfilter.nf_conntrack_tcp_max_retrans", PerNamespace;

    // ---- MPTCP --------------------------------------------------------------------------

    /// Whether MPTCP sockets can be created (IPPROTO_MPTCP). Default on.
    MptcpEnabled: bool = switch, "net.mptcp.enabled", PerNamespace;
    /// Retransmission timeout of ADD_ADDR options, in seconds. Default 120.
    MptcpAddAddrTimeout: Duration = seconds [0, 2147483], "net.mptcp.add_addr_timeout", PerNamespace;
    /// Accept MP_JOIN to the initial address and port. Default on.
    MptcpAllowJoinInitialAddrPort: bool = switch, "net.mptcp.allow_join_initial_addr_port", PerNamespace;
    /// The path managers this kernel has (6.15 and later).
    MptcpAvailablePathManagers: NameList<MptcpName> = text, "net.mptcp.available_path_managers", ReadOnly;
    /// The packet schedulers this kernel has.
    MptcpAvailableSchedulers: NameList<MptcpName> = text, "net.mptcp.available_schedulers", ReadOnly;
    /// How long MPTCP stays off after a middlebox black hole, in seconds (doubles on each
    /// repeat). Default 3600; 0 turns the detection off.
    MptcpBlackholeTimeout: Duration = seconds, "net.mptcp.blackhole_timeout", PerNamespace;
    /// DSS checksums. Default off.
    MptcpChecksumEnabled: bool = switch, "net.mptcp.checksum_enabled", PerNamespace;
    /// How long a closed MPTCP socket lingers, in seconds. Default 60.
    MptcpCloseTimeout: Duration = seconds [0, 2147483], "net.mptcp.close_timeout", PerNamespace;
    /// The path manager by name: `kernel` (default) or `userspace` (6.15 and later).
    MptcpPathManager: MptcpName = text, "net.mptcp.path_manager", PerNamespace;
    /// The path manager by number: 0 kernel (default), 1 userspace.
    MptcpPmType: PmType = mode, "net.mptcp.pm_type", PerNamespace;
    /// The packet scheduler. Default `default`.
    MptcpScheduler: MptcpName = text, "net.mptcp.scheduler", PerNamespace;
    /// Retransmission intervals before a subflow counts as stale. Default 4.
    MptcpStaleLossCnt: u32 = count, "net.mptcp.stale_loss_cnt", PerNamespace;
    /// SYN retransmissions with MPTCP options before falling back to TCP. Default 2.
    MptcpSynRetransBeforeTcpFallback: u32 = count [0, 255], "net.mptcp.syn_retrans_before_tcp_fallback", PerNamespace;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_key_is_valid_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in ALL {
            let key = Key::new(k.key).unwrap_or_else(|e| panic!("{}: {e}", k.key));
            assert_eq!(key.to_string(), k.key);
            assert!(seen.insert(k.key), "duplicate {}", k.key);
            assert!(!k.summary().is_empty(), "{} has no doc", k.key);
        }
    }

    #[test]
    fn durations_must_be_whole_units() {
        assert_eq!(
            TcpKeepaliveTime::format(&Duration::from_secs(60)).ok(),
            Some("60".into())
        );
        assert!(TcpKeepaliveTime::format(&Duration::from_millis(1500)).is_err());
        assert!(TcpKeepaliveTime::format(&Duration::from_secs(1 << 31)).is_err());
        assert_eq!(
            CoreBusyRead::format(&Duration::from_micros(50)).ok(),
            Some("50".into())
        );
        assert_eq!(
            CoreBusyRead::parse("50").ok(),
            Some(Duration::from_micros(50))
        );
    }

    #[test]
    fn counts_stay_below_int_max() {
        assert!(CoreSomaxconn::format(&(1 << 31)).is_err());
        assert!(CoreSomaxconn::parse("2147483648").is_err());
        assert_eq!(TcpNotsentLowat::parse("4294967295").ok(), Some(u32::MAX));
        assert!(TcpSack::parse("2").is_err());
    }

    #[test]
    fn fastopen_format_checks_bits() {
        assert!(TcpFastopen::format(&FastOpen::from_bits_retain(0x400)).is_err());
        assert_eq!(
            TcpFastopen::format(&(FastOpen::CLIENT | FastOpen::SERVER)).ok(),
            Some("3".into())
        );
    }
}

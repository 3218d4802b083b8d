//! Validated value types of the typed knobs.
//!
//! Each type validates at construction, so a value that exists can be written. All of
//! them parse from the text the kernel prints (`FromStr`) and display as the text the
//! kernel accepts (`Display`).

use std::fmt;
use std::str::FromStr;

use crate::error::ValueError;

/// Splits a sysctl vector value on any run of spaces or tabs.
fn fields(text: &str) -> impl Iterator<Item = &str> {
    text.split([' ', '\t', '\n']).filter(|f| !f.is_empty())
}

/// Parses exactly `N` whitespace-separated integers.
fn parse_fields<const N: usize>(what: &'static str, text: &str) -> Result<[u64; N], ValueError> {
    let mut out = [0u64; N];
    let mut it = fields(text);
    for slot in &mut out {
        let field = it
            .next()
            .ok_or_else(|| ValueError::new(what, text, format!("expected {N} numbers")))?;
        *slot = kernel_u64(field).ok_or_else(|| not_a_number(what, text, field))?;
    }
    if it.next().is_some() {
        return Err(ValueError::new(
            what,
            text,
            format!("expected {N} numbers, got more"),
        ));
    }
    Ok(out)
}

/// The largest value of a kernel `int` sysctl (2^31 - 1).
pub const INT_MAX: u64 = i32::MAX as u64;

/// `net.ipv4.tcp_rmem` / `tcp_wmem`: minimum, default and maximum buffer size in bytes.
///
/// Valid when `1 <= min <= default <= max <= 2^31 - 1` (the kernel refuses 0 and values
/// above `INT_MAX`: net/ipv4/sysctl_net_ipv4.c). Parses from space- or tab-separated text.
///
/// ```
/// use nettune_sysctl::TcpMem;
/// let m: TcpMem = "4096\t131072  6291456".parse()?;
/// assert_eq!(m.max(), 6291456);
/// assert_eq!(m.to_string(), "4096 131072 6291456");
/// assert!(TcpMem::new(4096, 1024, 8192).is_err());
/// assert!(TcpMem::new(0, 0, 0).is_err());
/// # Ok::<(), nettune_sysctl::ValueError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpMem {
    min: u32,
    default: u32,
    max: u32,
}

impl TcpMem {
    /// A triple in bytes.
    ///
    /// # Errors
    ///
    /// When one is 0, the three are out of order, or one is above 2^31 - 1.
    pub fn new(min: u64, default: u64, max: u64) -> Result<Self, ValueError> {
        let text = || format!("{min} {default} {max}");
        if max > INT_MAX {
            return Err(ValueError::new(
                "tcp_rmem/tcp_wmem triple",
                text(),
                format!("max {max} is above 2^31-1 ({INT_MAX}), the largest the kernel accepts"),
            ));
        }
        if min == 0 {
            return Err(ValueError::new(
                "tcp_rmem/tcp_wmem triple",
                text(),
                "each value must be at least 1 (the kernel's proc_dointvec_minmax with SYSCTL_ONE)",
            ));
        }
        if !(min <= default && default <= max) {
            return Err(ValueError::new(
                "tcp_rmem/tcp_wmem triple",
                text(),
                "values must be in order: min <= default <= max",
            ));
        }
        // max <= INT_MAX, so all three fit in u32.
        Ok(Self {
            min: min as u32,
            default: default as u32,
            max: max as u32,
        })
    }

    /// The minimum size a socket keeps under memory pressure, in bytes.
    pub fn min(&self) -> u32 {
        self.min
    }

    /// The initial buffer size, in bytes (overrides `net.core.rmem_default` for TCP).
    pub fn default(&self) -> u32 {
        self.default
    }

    /// The most autotuning may grow a buffer to, in bytes.
    pub fn max(&self) -> u32 {
        self.max
    }
}

impl FromStr for TcpMem {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let [a, b, c] = parse_fields::<3>("tcp_rmem/tcp_wmem triple", s)?;
        Self::new(a, b, c)
    }
}

impl fmt::Display for TcpMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.min, self.default, self.max)
    }
}

/// `net.ipv4.tcp_mem` / `udp_mem`: low, pressure and high thresholds in **pages**
/// (not bytes) for all sockets of the protocol together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemPages {
    low: u64,
    pressure: u64,
    high: u64,
}

impl MemPages {
    /// A triple in pages.
    ///
    /// # Errors
    ///
    /// When the three are not in order `low <= pressure <= high`.
    pub fn new(low: u64, pressure: u64, high: u64) -> Result<Self, ValueError> {
        if !(low <= pressure && pressure <= high) {
            return Err(ValueError::new(
                "tcp_mem/udp_mem triple",
                format!("{low} {pressure} {high}"),
                "values must be in order: low <= pressure <= high (in pages)",
            ));
        }
        Ok(Self {
            low,
            pressure,
            high,
        })
    }

    /// Below this many pages the protocol does not limit memory.
    pub fn low(&self) -> u64 {
        self.low
    }

    /// Above this many pages the protocol enters memory pressure.
    pub fn pressure(&self) -> u64 {
        self.pressure
    }

    /// The most pages the protocol may use.
    pub fn high(&self) -> u64 {
        self.high
    }
}

impl FromStr for MemPages {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let [a, b, c] = parse_fields::<3>("tcp_mem/udp_mem triple", s)?;
        Self::new(a, b, c)
    }
}

impl fmt::Display for MemPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.low, self.pressure, self.high)
    }
}

/// `net.ipv4.ip_local_port_range`: the first and last ephemeral port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// A range; the kernel wants `1 <= first < last` (and warns when the parity of the two
    /// differs, which halves the ports `connect()` prefers).
    ///
    /// # Errors
    ///
    /// When `first` is 0 or not below `last`.
    pub fn new(first: u16, last: u16) -> Result<Self, ValueError> {
        if first == 0 || first >= last {
            return Err(ValueError::new(
                "ip_local_port_range",
                format!("{first} {last}"),
                "needs 1 <= first < last",
            ));
        }
        Ok(Self { first, last })
    }

    /// The first port.
    pub fn first(&self) -> u16 {
        self.first
    }

    /// The last port.
    pub fn last(&self) -> u16 {
        self.last
    }
}

impl FromStr for PortRange {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let [a, b] = parse_fields::<2>("ip_local_port_range", s)?;
        let port = |p: u64| {
            u16::try_from(p)
                .map_err(|_| ValueError::new("ip_local_port_range", s, "ports are at most 65535"))
        };
        Self::new(port(a)?, port(b)?)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.first, self.last)
    }
}

nettune_core::kernel_name! {
    /// A TCP congestion control algorithm name (`cubic`, `bbr`, `reno`, ...): 1-15 ASCII
    /// bytes (`TCP_CA_NAME_MAX` is 16 with the NUL).
    ///
    /// ```
    /// let bbr: nettune_sysctl::CongestionControl = "bbr".parse()?;
    /// assert_eq!(bbr.as_str(), "bbr");
    /// # Ok::<(), nettune_sysctl::ValueError>(())
    /// ```
    #[doc(alias = "TCP_CONGESTION")]
    pub struct CongestionControl,
    "congestion control name"
}

nettune_core::kernel_name! {
    /// A queueing discipline name for `net.core.default_qdisc` (`fq`, `fq_codel`, `pfifo_fast`, ...).
    pub struct Qdisc,
    "qdisc name"
}

nettune_core::kernel_name! {
    /// An MPTCP path manager (`kernel`, `userspace`) or packet scheduler (`default`, ...) name.
    pub struct MptcpName,
    "MPTCP path manager or scheduler name"
}

/// A space-separated list of names, as `tcp_available_congestion_control` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct NameList<T>(Vec<T>);

impl<T> NameList<T> {
    /// A list of names.
    pub fn new(names: Vec<T>) -> Self {
        Self(names)
    }

    /// The names, in kernel order.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// Whether `name` is in the list.
    pub fn contains(&self, name: &T) -> bool
    where
        T: PartialEq,
    {
        self.0.contains(name)
    }
}

impl<T: FromStr<Err = ValueError>> FromStr for NameList<T> {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        fields(s)
            .map(T::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl<T: fmt::Display> fmt::Display for NameList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            name.fmt(f)?;
        }
        Ok(())
    }
}

bitflags::bitflags! {
    /// `net.ipv4.tcp_fastopen`: which sides use TCP Fast Open (ip-sysctl.rst).
    ///
    /// The `*_NO_COOKIE` and `SERVER_ALL_LISTENERS` bits only act together with their base
    /// bit; [`FastOpen::check`] says so. Unknown bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct FastOpen: u32 {
        /// 0x1: clients send data in the SYN (the default).
        const CLIENT = 0x1;
        /// 0x2: listeners accept data in the SYN (each listener also needs `TCP_FASTOPEN`).
        const SERVER = 0x2;
        /// 0x4: clients send data in the SYN without a cookie.
        const CLIENT_NO_COOKIE = 0x4;
        /// 0x200: listeners accept SYN data without a cookie.
        const SERVER_NO_COOKIE = 0x200;
        /// 0x400: every listener accepts fast open, without setting `TCP_FASTOPEN`.
        const SERVER_ALL_LISTENERS = 0x400;
        const _ = !0;
    }
}

impl FastOpen {
    /// Checks that every extra bit comes with its base bit.
    ///
    /// # Errors
    ///
    /// A message naming the bit, its base and the value to use instead.
    pub fn check(self) -> Result<Self, ValueError> {
        let need = |extra: Self, base: Self, extra_name: &str, base_name: &str| {
            if self.contains(extra) && !self.contains(base) {
                Err(ValueError::new(
                    "tcp_fastopen bits",
                    format!("{:#x}", self.bits()),
                    format!(
                        "{extra_name} ({:#x}) has no effect without {base_name} ({:#x}); use {:#x}",
                        extra.bits(),
                        base.bits(),
                        (self | base).bits()
                    ),
                ))
            } else {
                Ok(())
            }
        };
        need(
            Self::CLIENT_NO_COOKIE,
            Self::CLIENT,
            "CLIENT_NO_COOKIE",
            "CLIENT",
        )?;
        need(
            Self::SERVER_NO_COOKIE,
            Self::SERVER,
            "SERVER_NO_COOKIE",
            "SERVER",
        )?;
        need(
            Self::SERVER_ALL_LISTENERS,
            Self::SERVER,
            "SERVER_ALL_LISTENERS",
            "SERVER",
        )?;
        Ok(self)
    }
}

impl FromStr for FastOpen {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_int(s.trim(), "tcp_fastopen bits").map(Self::from_bits_retain)
    }
}

impl fmt::Display for FastOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bits())
    }
}

/// Parses a decimal or `0x` hexadecimal integer.
pub(crate) fn parse_int<T: TryFrom<u64>>(text: &str, what: &'static str) -> Result<T, ValueError> {
    let value = kernel_u64(text).ok_or_else(|| not_a_number(what, text, text))?;
    T::try_from(value).map_err(|_| ValueError::new(what, text, "out of range"))
}

/// The error for a field that is not a number, with a hint when quotes are the cause.
fn not_a_number(what: &'static str, text: &str, field: &str) -> ValueError {
    if field.contains(['"', '\'']) {
        return ValueError::new(
            what,
            text,
            "quotes are not part of a number: the kernel refuses them (sysctl.d readers keep them), write it without",
        );
    }
    ValueError::new(
        what,
        text,
        format!("{field:?} is not a non-negative integer"),
    )
}

/// A non-negative integer as the kernel's sysctl handlers read it (`proc_get_long`, base 0):
/// `0x10` is hexadecimal, `010` octal (8), `10` decimal; `08` is not a number there.
pub(crate) fn kernel_u64(text: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// A CPU mask as the kernel prints and parses bitmaps (`%*pb`, `bitmap_parse`): hex digits,
/// optionally in comma-separated 32-bit groups, most significant first
/// (`net.core.flow_limit_cpu_bitmap`, `net.core.rps_default_mask`).
///
/// Two masks that set the same CPUs are equal whatever their padding; it prints in the
/// shortest form (`3`, `1,00000000`).
///
/// ```
/// use nettune_sysctl::CpuMask;
/// let m: CpuMask = "00000000,00000003".parse()?;
/// assert_eq!(m, "3".parse()?);
/// assert_eq!(m.to_string(), "3");
/// assert!(m.contains(1) && !m.contains(2));
/// assert_eq!("1,00000000".parse::<CpuMask>()?.cpus().collect::<Vec<_>>(), [32]);
/// # Ok::<(), nettune_sysctl::ValueError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CpuMask {
    /// 32-bit words, least significant first, without high zero words.
    words: Vec<u32>,
}

impl CpuMask {
    /// The most CPUs a mask may name (the kernel's `NR_CPUS` limit on x86-64).
    pub const MAX_CPUS: u32 = 8192;

    /// A mask of the given CPUs.
    ///
    /// # Errors
    ///
    /// When a CPU number is [`CpuMask::MAX_CPUS`] or above.
    pub fn of(cpus: impl IntoIterator<Item = u32>) -> Result<Self, ValueError> {
        let mut words = Vec::new();
        for cpu in cpus {
            if cpu >= Self::MAX_CPUS {
                return Err(ValueError::new(
                    "CPU mask",
                    cpu.to_string(),
                    format!("CPU numbers stop below {}", Self::MAX_CPUS),
                ));
            }
            let w = (cpu / 32) as usize;
            if words.len() <= w {
                words.resize(w + 1, 0);
            }
            words[w] |= 1 << (cpu % 32);
        }
        Ok(Self { words }.trimmed())
    }

    fn trimmed(mut self) -> Self {
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
        self
    }

    /// Whether CPU `cpu` is in the mask.
    pub fn contains(&self, cpu: u32) -> bool {
        self.words
            .get((cpu / 32) as usize)
            .is_some_and(|w| w & (1 << (cpu % 32)) != 0)
    }

    /// The CPUs in the mask, in order.
    pub fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, w)| {
            (0..32)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| i as u32 * 32 + b)
        })
    }
}

impl FromStr for CpuMask {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = |why: &str| ValueError::new("CPU mask", text, why.to_owned());
        if text.is_empty() {
            return Err(bad("empty: write 0 for no CPUs"));
        }
        let digits: String = text.chars().filter(|c| *c != ',').collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(
                "expected hex digits, optionally in comma-separated groups",
            ));
        }
        if digits.len() > (Self::MAX_CPUS / 4) as usize {
            return Err(bad("longer than the largest CPU count"));
        }
        let mut words = Vec::with_capacity(digits.len() / 8 + 1);
        let bytes = digits.as_bytes();
        let mut end = bytes.len();
        while end > 0 {
            let start = end.saturating_sub(8);
            let chunk = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("not ASCII"))?;
            words.push(u32::from_str_radix(chunk, 16).map_err(|_| bad("not hex"))?);
            end = start;
        }
        Ok(Self { words }.trimmed())
    }
}

impl fmt::Display for CpuMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((top, rest)) = self.words.split_last() else {
            return f.write_str("0");
        };
        write!(f, "{top:x}")?;
        for w in rest.iter().rev() {
            write!(f, ",{w:08x}")?;
        }
        Ok(())
    }
}

/// `net.ipv4.tcp_fastopen_key`: the primary and optional backup 128-bit keys that sign
/// fast-open cookies, printed as four dash-separated 32-bit hex words each.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FastOpenKey {
    primary: u128,
    backup: Option<u128>,
}

impl FastOpenKey {
    /// A primary key and an optional backup key (accepted while keys rotate).
    pub fn new(primary: u128, backup: Option<u128>) -> Self {
        Self { primary, backup }
    }

    /// The key new cookies are made with.
    pub fn primary(&self) -> u128 {
        self.primary
    }

    /// The older key still accepted.
    pub fn backup(&self) -> Option<u128> {
        self.backup
    }
}

fn parse_tfo_key(text: &str, whole: &str) -> Result<u128, ValueError> {
    let bad = || {
        ValueError::new(
            "tcp_fastopen_key",
            whole,
            "expected xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx in hex",
        )
    };
    let mut key = 0u128;
    let mut words = 0;
    for word in text.split('-') {
        if word.is_empty() || word.len() > 8 {
            return Err(bad());
        }
        key = (key << 32) | u128::from(u32::from_str_radix(word, 16).map_err(|_| bad())?);
        words += 1;
    }
    if words != 4 {
        return Err(bad());
    }
    Ok(key)
}

impl FromStr for FastOpenKey {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let mut parts = s.split(',');
        let primary = parse_tfo_key(parts.next().unwrap_or_default(), s)?;
        let backup = parts.next().map(|b| parse_tfo_key(b, s)).transpose()?;
        if parts.next().is_some() {
            return Err(ValueError::new(
                "tcp_fastopen_key",
                s,
                "at most two keys, separated by a comma",
            ));
        }
        Ok(Self { primary, backup })
    }
}

fn fmt_tfo_key(f: &mut fmt::Formatter<'_>, key: u128) -> fmt::Result {
    write!(
        f,
        "{:08x}-{:08x}-{:08x}-{:08x}",
        (key >> 96) as u32,
        (key >> 64) as u32,
        (key >> 32) as u32,
        key as u32
    )
}

impl fmt::Display for FastOpenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_tfo_key(f, self.primary)?;
        if let Some(backup) = self.backup {
            f.write_str(",")?;
            fmt_tfo_key(f, backup)?;
        }
        Ok(())
    }
}

impl fmt::Debug for FastOpenKey {
    /// Keys are secrets: only whether they are set is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastOpenKey")
            .field("primary", &"<redacted>")
            .field("backup", &self.backup.map(|_| "<redacted>"))
            .finish()
    }
}

/// A sysctl whose numbers name modes the kernel defines (see [`crate::knobs`]): unknown
/// numbers read back as `Other(n)` and are refused when written.
pub trait Mode: FromStr<Err = ValueError> + fmt::Display {
    /// What the value is, for errors (`tcp_timestamps mode`).
    const WHAT: &'static str;
    /// Whether the kernel defines this value.
    fn is_known(&self) -> bool;
    /// The values the kernel defines, as `0 (off), 1 (on)`.
    fn choices() -> String;
}

/// Declares a sysctl mode: [`nettune_core::int_enum!`] over `u32`, parsed from and shown as
/// the number the kernel prints.
macro_rules! int_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $value:literal => $cname:literal),+ $(,)? }) => {
        nettune_core::int_enum! {
            $(#[$doc])*
            pub enum $name: u32 {
                $($(#[$vdoc])* $variant = $value => $cname,)+
            }
        }

        impl Mode for $name {
            const WHAT: &'static str = $what;
            fn is_known(&self) -> bool {
                self.name().is_some()
            }
            fn choices() -> String {
                [$(concat!(stringify!($value), " (", $cname, ")")),+].join(", ")
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_int::<u32>(s.trim(), $what).map(Self::from)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.get())
            }
        }
    };
}

int_enum!(
    /// `net.ipv4.tcp_timestamps` (RFC 7323 timestamps).
    Timestamps, "tcp_timestamps mode" {
        /// 0: no timestamps.
        Off = 0 => "off",
        /// 1: timestamps with a random offset per connection (the default).
        On = 1 => "on",
        /// 2: timestamps without the random offset.
        OnNoRandomOffset = 2 => "on-no-random-offset",
    }
);

int_enum!(
    /// `net.ipv4.tcp_ecn`: Explicit Congestion Notification (RFC 3168).
    TcpEcn, "tcp_ecn mode" {
        /// 0: never request or accept ECN.
        Off = 0 => "off",
        /// 1: request ECN on outgoing connections and accept it on incoming ones.
        On = 1 => "on",
        /// 2: accept ECN when the peer requests it, never request it (the default).
        Passive = 2 => "passive",
    }
);

int_enum!(
    /// `net.ipv4.conf.*.rp_filter`: reverse path filtering (RFC 3704).
    RpFilterMode, "rp_filter mode" {
        /// 0: no source validation.
        Off = 0 => "off",
        /// 1: strict: the packet must arrive on the interface its reply would leave by.
        Strict = 1 => "strict",
        /// 2: loose: the source must be reachable through some interface.
        Loose = 2 => "loose",
    }
);

int_enum!(
    /// `net.ipv4.conf.*.arp_announce`: which source address ARP requests announce.
    ArpAnnounceMode, "arp_announce mode" {
        /// 0: any local address (the default).
        Any = 0 => "any",
        /// 1: avoid addresses outside the target's subnet.
        SameSubnet = 1 => "same-subnet",
        /// 2: always the best local address for the target.
        Best = 2 => "best",
    }
);

int_enum!(
    /// `net.ipv4.conf.*.arp_ignore`: which ARP requests get a reply.
    ArpIgnoreMode, "arp_ignore mode" {
        /// 0: for any local address on any interface (the default).
        Any = 0 => "any",
        /// 1: only for an address on the interface the request came in on.
        Interface = 1 => "interface",
        /// 2: as 1, and the sender must be in that address's subnet.
        Subnet = 2 => "subnet",
        /// 3: not for addresses of host scope.
        NotHostScope = 3 => "not-host-scope",
        /// 8: never.
        Never = 8 => "never",
    }
);

int_enum!(
    /// `net.ipv6.conf.*.accept_ra`: whether router advertisements are accepted.
    AcceptRaMode, "accept_ra mode" {
        /// 0: never.
        Off = 0 => "off",
        /// 1: when the interface is not forwarding (the default).
        UnlessForwarding = 1 => "unless-forwarding",
        /// 2: even when forwarding.
        Always = 2 => "always",
    }
);

int_enum!(
    /// `net.ipv4.tcp_mtu_probing` (packetization-layer path MTU discovery).
    MtuProbing, "tcp_mtu_probing mode" {
        /// 0: disabled (the default).
        Off = 0 => "off",
        /// 1: only after an ICMP black hole is detected.
        OnBlackhole = 1 => "on-blackhole",
        /// 2: always, starting from `tcp_base_mss`.
        Always = 2 => "always",
    }
);

int_enum!(
    /// `net.ipv4.tcp_tw_reuse`: reuse of TIME-WAIT sockets for new outgoing connections.
    TwReuse, "tcp_tw_reuse mode" {
        /// 0: never.
        Off = 0 => "off",
        /// 1: for any outgoing connection when it is safe by timestamps.
        On = 1 => "on",
        /// 2: for loopback traffic only (the default).
        LoopbackOnly = 2 => "loopback-only",
    }
);

int_enum!(
    /// `net.ipv4.tcp_syncookies`.
    SynCookies, "tcp_syncookies mode" {
        /// 0: never send SYN cookies.
        Off = 0 => "off",
        /// 1: send cookies when the SYN backlog overflows (the default).
        OnOverflow = 1 => "on-overflow",
        /// 2: always send cookies (for testing).
        Always = 2 => "always",
    }
);

int_enum!(
    /// `net.netfilter.nf_conntrack_events`: conntrack event delivery.
    ConntrackEvents, "nf_conntrack_events mode" {
        /// 0: no events.
        Off = 0 => "off",
        /// 1: always generate events.
        On = 1 => "on",
        /// 2: only when a listener exists (the default since 6.0).
        Auto = 2 => "auto",
    }
);

int_enum!(
    /// `net.mptcp.pm_type`: which path manager MPTCP uses (older form of `path_manager`).
    PmType, "mptcp pm_type" {
        /// 0: the in-kernel path manager.
        Kernel = 0 => "kernel",
        /// 1: a userspace daemon drives the path manager over netlink.
        Userspace = 1 => "userspace",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_mem_accepts_tabs_and_rejects_disorder_and_overflow() {
        let m: TcpMem = "4096\t87380\t6291456\n".parse().expect("parse");
        assert_eq!((m.min(), m.default(), m.max()), (4096, 87380, 6291456));
        assert!("4096 87380".parse::<TcpMem>().is_err());
        assert!("4096 87380 1 2".parse::<TcpMem>().is_err());
        let e = TcpMem::new(1, 3, 2).expect_err("order").to_string();
        assert!(e.contains("min <= default <= max"), "{e}");
        let e = TcpMem::new(1, 2, 1 << 31)
            .expect_err("overflow")
            .to_string();
        assert!(e.contains("2^31-1"), "{e}");
        assert!(TcpMem::new(1, 2, INT_MAX).is_ok());
        assert!("-1 2 3".parse::<TcpMem>().is_err());
    }

    #[test]
    fn congestion_control_names() {
        assert_eq!(
            CongestionControl::new("bbr\0\0\0")
                .map(|c| c.to_string())
                .ok(),
            Some("bbr".into())
        );
        assert!(CongestionControl::new("").is_err());
        assert!(CongestionControl::new("a_name_that_is_too_long").is_err());
        assert!(CongestionControl::new("bb r").is_err());
        let list: NameList<CongestionControl> = "reno cubic\tbbr".parse().expect("list");
        assert_eq!(list.to_string(), "reno cubic bbr");
        assert!(list.contains(&"bbr".parse().expect("bbr")));
    }

    #[test]
    fn fastopen_extra_bits_need_their_base() {
        assert!(FastOpen::from_bits_retain(0x3).check().is_ok());
        let e = FastOpen::from_bits_retain(0x4)
            .check()
            .expect_err("client")
            .to_string();
        assert!(e.contains("CLIENT_NO_COOKIE") && e.contains("0x5"), "{e}");
        let e = FastOpen::from_bits_retain(0x201)
            .check()
            .expect_err("server")
            .to_string();
        assert!(e.contains("SERVER_NO_COOKIE") && e.contains("0x203"), "{e}");
        assert!(FastOpen::from_bits_retain(0x401).check().is_err());
        let odd: FastOpen = "0x1003".parse().expect("hex");
        assert_eq!(odd.bits(), 0x1003, "unknown bits kept");
    }

    #[test]
    fn fastopen_key_round_trip() {
        let text = "00000001-00000002-00000003-0000000a,ffffffff-00000000-00000000-00000001";
        let k: FastOpenKey = text.parse().expect("key");
        assert_eq!(k.to_string(), text);
        assert_eq!(k.primary(), (1u128 << 96) | (2 << 64) | (3 << 32) | 10);
        assert!(!format!("{k:?}").contains("0000000a"));
        assert!("1-2-3".parse::<FastOpenKey>().is_err());
        assert!("zz-0-0-0".parse::<FastOpenKey>().is_err());
    }

    #[test]
    fn enums_keep_unknown_values() {
        assert_eq!(
            "2".parse::<Timestamps>().ok(),
            Some(Timestamps::OnNoRandomOffset)
        );
        assert_eq!("7".parse::<Timestamps>().ok(), Some(Timestamps::Other(7)));
        assert_eq!(Timestamps::Other(7).to_string(), "7");
    }

    #[test]
    fn port_range() {
        assert_eq!(
            "32768\t60999"
                .parse::<PortRange>()
                .map(|r| r.to_string())
                .ok(),
            Some("32768 60999".into())
        );
        assert!("0 10".parse::<PortRange>().is_err());
        assert!("10 10".parse::<PortRange>().is_err());
        assert!("10 70000".parse::<PortRange>().is_err());
    }
}

//! Profiles: named sets of sysctl values, each with the reason it is there.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result, ValueError, clip};
use crate::key::Key;
use crate::knobs::{self, Knob, canonical, canonical_lenient};
use crate::plan::{Drift, Plan, PlanOptions};
use crate::sysctl::Sysctl;
use crate::value::INT_MAX;

/// One entry of a profile: a key, its value in canonical form, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "EntryRepr")
)]
pub struct ProfileEntry {
    key: Key,
    value: String,
    why: String,
    optional: bool,
}

/// What a serialized entry holds; checked by [`ProfileEntry::new`] when read back.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct EntryRepr {
    key: Key,
    value: String,
    why: String,
    #[serde(default)]
    optional: bool,
}

#[cfg(feature = "serde")]
impl TryFrom<EntryRepr> for ProfileEntry {
    type Error = Error;
    fn try_from(r: EntryRepr) -> Result<Self> {
        Ok(Self::new(r.key, &r.value, &r.why)?.optional(r.optional))
    }
}

/// What a serialized profile holds; later entries for a key replace earlier ones.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct ProfileRepr {
    name: String,
    entries: Vec<ProfileEntry>,
}

#[cfg(feature = "serde")]
impl From<ProfileRepr> for Profile {
    fn from(r: ProfileRepr) -> Self {
        let mut p = Self::new(&r.name);
        for e in r.entries {
            p.push(e);
        }
        p
    }
}

impl ProfileEntry {
    /// An entry; the value is checked against the knob's type when `key` is a knob of
    /// [`knobs`], and stored in canonical form.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when the value has a newline or NUL, or breaks the knob's
    /// rules (an empty value is one only for a string key: `kernel.core_pattern =`).
    pub fn new(key: Key, value: &str, why: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidValue {
            key: key.clone(),
            value: clip(value),
            reason,
            source: None,
        };
        if value.contains(['\n', '\0']) {
            return Err(invalid("contains a newline or NUL byte".into()));
        }
        let value =
            canonical(&key, value).map_err(|e: ValueError| invalid(e.reason().to_owned()))?;
        Ok(Self {
            key,
            value,
            why: why.trim().to_owned(),
            optional: false,
        })
    }

    /// The same entry, marked optional: it is skipped when it cannot be set here, as the
    /// `-key` prefix does in sysctl.d files.
    pub fn optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }

    /// The key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The value, in canonical form.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why the value is set.
    pub fn why(&self) -> &str {
        &self.why
    }

    /// Whether a failure to set it is ignored (`-key`).
    pub fn is_optional(&self) -> bool {
        self.optional
    }
}

/// A named set of sysctl values, in order; a later value for the same key replaces the
/// earlier one in place.
///
/// ```no_run
/// use nettune_sysctl::{Profile, Sysctl, plan::PlanOptions};
/// let sys = Sysctl::new();
/// let mut profile = Profile::low_latency();
/// profile.set("net.ipv4.tcp_notsent_lowat", "131072", "our feed handler sends in bursts")?;
/// let plan = profile.plan_with(&sys, PlanOptions::skip_unsettable())?;
/// print!("{plan}");                       // the dry run
/// let applied = plan.apply(&sys)?;        // all or nothing
/// applied.save("/run/nettune.undo")?;
/// # Ok::<(), nettune_sysctl::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "ProfileRepr")
)]
pub struct Profile {
    name: String,
    entries: Vec<ProfileEntry>,
    /// Where each key's entry is, so that adding an entry costs the same however many
    /// there are (loading a profile is linear in its entries).
    #[cfg_attr(feature = "serde", serde(skip))]
    index: std::collections::HashMap<Key, usize>,
}

impl Profile {
    /// An empty profile.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            entries: Vec::new(),
            index: std::collections::HashMap::new(),
        }
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[ProfileEntry] {
        &self.entries
    }

    /// The entry for `key`.
    pub fn get(&self, key: &Key) -> Option<&ProfileEntry> {
        self.index.get(key).map(|&i| &self.entries[i])
    }

    /// Adds an entry, replacing an earlier one for the same key in place.
    pub fn push(&mut self, entry: ProfileEntry) -> &mut Self {
        match self.index.get(&entry.key) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.index.insert(entry.key.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
        self
    }

    /// Sets `key` (dotted or slashed) to `value`, with the reason.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] or [`Error::InvalidValue`]; the profile is unchanged.
    pub fn set(&mut self, key: &str, value: &str, why: &str) -> Result<&mut Self> {
        let entry = ProfileEntry::new(Key::new(key)?, value, why)?;
        Ok(self.push(entry))
    }

    /// Sets a typed knob.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when the value breaks the knob's rules.
    pub fn set_knob<K: Knob>(&mut self, value: &K::Value, why: &str) -> Result<&mut Self> {
        let text = K::format(value).map_err(|e| Error::InvalidValue {
            key: K::key(),
            value: e.input().to_owned(),
            reason: e.reason().to_owned(),
            source: None,
        })?;
        let entry = ProfileEntry::new(K::key(), &text, why)?;
        Ok(self.push(entry))
    }

    /// This profile with `overrides` laid over it: their entries replace this profile's
    /// entries for the same keys, and the rest are appended.
    pub fn with(&self, overrides: &Self) -> Self {
        let mut out = self.clone();
        out.name = format!("{}+{}", self.name, overrides.name);
        for e in &overrides.entries {
            out.push(e.clone());
        }
        out
    }

    /// Plans the changes from the live state of `sys` (strict: every key must apply).
    ///
    /// # Errors
    ///
    /// As [`Plan::new`].
    pub fn plan(&self, sys: &Sysctl) -> Result<Plan> {
        Plan::new(sys, &self.entries, PlanOptions::strict())
    }

    /// Plans with options, for example [`PlanOptions::skip_unsettable`] in a child
    /// namespace.
    ///
    /// # Errors
    ///
    /// As [`Plan::new`].
    pub fn plan_with(&self, sys: &Sysctl, options: PlanOptions) -> Result<Plan> {
        Plan::new(sys, &self.entries, options)
    }

    /// Every key whose live value differs from the profile (or cannot be read).
    ///
    /// # Errors
    ///
    /// Only when the handle's namespace cannot be entered.
    pub fn verify(&self, sys: &Sysctl) -> Result<Vec<Drift>> {
        let mut out = Vec::new();
        sys.open_keys(self.entries.iter().map(|e| &e.key))?;
        for e in &self.entries {
            let found = match sys.read_raw(&e.key) {
                Ok(v) => Some(v),
                Err(err @ Error::Netns { .. }) => return Err(err),
                Err(_) => None,
            };
            if found
                .as_ref()
                .is_none_or(|v| canonical_lenient(&e.key, v) != e.value)
            {
                out.push(Drift {
                    key: e.key.clone(),
                    expected: e.value.clone(),
                    found,
                });
            }
        }
        Ok(out)
    }

    /// The profile as a sysctl.d file that `sysctl -p FILE` and systemd-sysctl accept:
    /// each entry preceded by a `# why` comment, optional entries prefixed with `-`. It
    /// reads back ([`Profile::from_sysctl_d`]) as the same entries.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for an entry the format cannot hold: a key starting with
    /// `-`, `#` or `;` or holding `=`, a value with whitespace at either end.
    pub fn to_sysctl_d(&self) -> Result<String> {
        let mut out = format!("# nettune profile {}\n", self.name.replace('\n', " "));
        for e in &self.entries {
            let key = e.key.to_string();
            let refuse = |reason: &str| Error::InvalidValue {
                key: e.key.clone(),
                value: clip(&e.value),
                reason: format!("cannot be written to a sysctl.d file: {reason}"),
                source: None,
            };
            if key.starts_with(['-', '#', ';']) || key.contains('=') {
                return Err(refuse(
                    "the key starts with `-`, `#` or `;` or holds `=`, which the file format reads otherwise",
                ));
            }
            if e.value.trim_matches([' ', '\t', '\r']) != e.value {
                return Err(refuse(
                    "the value starts or ends with whitespace, which readers strip",
                ));
            }
            out.push('\n');
            for line in e.why.lines() {
                out.push_str("# ");
                out.push_str(line);
                out.push('\n');
            }
            let dash = if e.optional { "-" } else { "" };
            out.push_str(&format!("{dash}{key} = {}\n", e.value));
        }
        Ok(out)
    }

    /// Parses a sysctl.d file into a profile (see [`crate::sysctld`] for the syntax). The
    /// comment lines just above an entry become its reason. Unlike systemd-sysctl, which
    /// skips a malformed line with a warning, a profile refuses it: a profile is applied
    /// whole or not at all.
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] with the line and reason for a malformed line, or for a glob or
    /// exclusion, which need a live tree: use [`crate::sysctld::SysctlD::expand`].
    pub fn from_sysctl_d(text: &str) -> Result<Self> {
        let file = crate::sysctld::SysctlD::parse("(profile)", text);
        if let Some(w) = file.warnings().iter().find(|w| w.skipped) {
            return Err(Error::Syntax {
                file: w.file.display().to_string(),
                line: w.line,
                reason: w.message.clone(),
            });
        }
        file.to_profile_without_globs()
    }

    /// The low-latency profile of the tuning guide, with its errors corrected: BBR, fast
    /// open on both sides, timestamps/SACK/window scaling kept on, quick keepalive,
    /// 16 MiB buffer caps, a low not-sent watermark, no slow start after idle, conntrack
    /// sized and its established timeout shortened, MPTCP allowed.
    pub fn low_latency() -> Self {
        let mut p = Self::new("low-latency");
        for (key, value, why) in LOW_LATENCY {
            p.push(builtin(key, value, why));
        }
        p
    }

    /// A throughput profile sized from the bandwidth-delay product: buffer caps of
    /// [`Bdp::buffer_bytes`], BBR with fq pacing, no slow start after idle, MTU probing.
    pub fn throughput(bdp: Bdp) -> Self {
        let buf = bdp.buffer_bytes().to_string();
        let why_buf = format!(
            "2 x BDP ({} bytes for {}): autotuning needs room for the data in flight plus skb overhead",
            bdp.bytes(),
            bdp
        );
        let mut p = Self::new("throughput");
        p.push(builtin(
            knobs::TcpRmem::KEY,
            &format!("4096 131072 {buf}"),
            &why_buf,
        ));
        p.push(builtin(
            knobs::TcpWmem::KEY,
            &format!("4096 16384 {buf}"),
            &why_buf,
        ));
        p.push(builtin(
            knobs::CoreRmemMax::KEY,
            &buf,
            "lets applications that set SO_RCVBUF reach the same size (it does not cap autotuning)",
        ));
        p.push(builtin(
            knobs::CoreWmemMax::KEY,
            &buf,
            "lets applications that set SO_SNDBUF reach the same size (it does not cap autotuning)",
        ));
        p.push(builtin(
            knobs::TcpCongestionControl::KEY,
            "bbr",
            "BBR fills a long fat pipe without waiting for loss",
        ));
        p.push(builtin(
            knobs::CoreDefaultQdisc::KEY,
            "fq",
            "fq paces each flow at the rate BBR asks for",
        ));
        p.push(builtin(
            knobs::TcpSlowStartAfterIdle::KEY,
            "0",
            "keep the window across idle gaps",
        ));
        p.push(builtin(
            knobs::TcpMtuProbing::KEY,
            "1",
            "recover from PMTU black holes instead of stalling",
        ));
        p.push(builtin(
            knobs::TcpWindowScaling::KEY,
            "1",
            "windows above 64 KiB need window scaling",
        ));
        p
    }

    /// A profile for hosts that track many connections (NAT gateways, load balancers):
    /// `nf_conntrack_max` = `n`, as many hash buckets (the kernel's own ratio), and shorter
    /// timeouts for established and closing TCP connections.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `n` is 0 or above 2^31 - 1.
    pub fn conntrack_heavy(n: u64) -> Result<Self> {
        if n == 0 || n > INT_MAX {
            return Err(Error::InvalidValue {
                key: knobs::NfConntrackMax::key(),
                value: n.to_string(),
                reason: "the connection count must be between 1 and 2^31-1".into(),
                source: None,
            });
        }
        let n = n.to_string();
        let mut p = Self::new("conntrack-heavy");
        p.push(builtin(knobs::NfConntrackMax::KEY, &n, "room for the peak number of tracked connections; new ones are dropped when the table is full"));
        p.push(builtin(
            knobs::NfConntrackBuckets::KEY,
            &n,
            "one bucket per entry, the kernel's default ratio, keeps hash chains short",
        ));
        p.push(builtin(
            knobs::NfConntrackTcpTimeoutEstablished::KEY,
            "3600",
            "free entries of vanished peers after an hour instead of 5 days",
        ));
        p.push(builtin(
            knobs::NfConntrackTcpTimeoutTimeWait::KEY,
            "30",
            "TIME_WAIT entries need not outlive the sockets' own 60 s",
        ));
        p.push(builtin(
            knobs::NfConntrackTcpTimeoutFinWait::KEY,
            "30",
            "closing connections leave the table sooner",
        ));
        p.push(builtin(
            knobs::NfConntrackTcpTimeoutCloseWait::KEY,
            "30",
            "closing connections leave the table sooner",
        ));
        Ok(p)
    }
}

/// The low-latency entries: key, value, why.
const LOW_LATENCY: &[(&str, &str, &str)] = &[
    (
        knobs::TcpCongestionControl::KEY,
        "bbr",
        "BBR paces to the measured bottleneck rate and keeps queues short; cubic fills buffers until loss",
    ),
    (
        knobs::TcpFastopen::KEY,
        "3",
        "0x1 client + 0x2 server: repeat connections carry data in the SYN and save one RTT (listeners still set TCP_FASTOPEN)",
    ),
    (
        knobs::TcpTimestamps::KEY,
        "1",
        "keep on: RTT samples and PAWS protection cost 12 bytes per segment, far less than what they save",
    ),
    (
        knobs::TcpSack::KEY,
        "1",
        "selective acks let the sender resend only the lost segments",
    ),
    (
        knobs::TcpDsack::KEY,
        "1",
        "duplicate SACKs tell spurious retransmits apart, so the sender can undo a needless slowdown",
    ),
    (
        knobs::TcpWindowScaling::KEY,
        "1",
        "without it the window stops at 64 KiB, far below any fast path's bandwidth-delay product",
    ),
    (
        knobs::TcpKeepaliveTime::KEY,
        "60",
        "find dead peers in minutes, not the default 2 hours (only sockets with SO_KEEPALIVE probe)",
    ),
    (
        knobs::TcpKeepaliveIntvl::KEY,
        "10",
        "probe every 10 s once the connection is idle",
    ),
    (
        knobs::TcpKeepaliveProbes::KEY,
        "3",
        "declare the peer dead after 3 unanswered probes (60 + 3x10 s in all)",
    ),
    (
        knobs::TcpRmem::KEY,
        "4096 131072 16777216",
        "autotuning grows receive buffers up to the third value; 16 MiB covers 1 Gbit/s at 128 ms (size it to your BDP)",
    ),
    (
        knobs::TcpWmem::KEY,
        "4096 16384 16777216",
        "send buffers grow up to the third value; 16 MiB keeps a long fat pipe full",
    ),
    (
        knobs::CoreRmemMax::KEY,
        "16777216",
        "caps what SO_RCVBUF may request (doubled by the kernel); it does NOT cap TCP autotuning, tcp_rmem does",
    ),
    (
        knobs::CoreWmemMax::KEY,
        "16777216",
        "caps what SO_SNDBUF may request; it does NOT cap TCP autotuning, tcp_wmem does",
    ),
    (
        knobs::TcpNotsentLowat::KEY,
        "16384",
        "keep at most 16 KiB unsent in the kernel, so fresh data is not queued behind stale data",
    ),
    (
        knobs::TcpSlowStartAfterIdle::KEY,
        "0",
        "keep the congestion window across idle gaps, so the next burst is not throttled",
    ),
    (
        knobs::NfConntrackMax::KEY,
        "1048576",
        "when the table is full new connections are dropped; ~300 bytes per entry",
    ),
    (
        knobs::NfConntrackTcpTimeoutEstablished::KEY,
        "3600",
        "the 5-day default keeps entries of vanished peers; an hour frees them (keepalive keeps live ones)",
    ),
    (
        knobs::MptcpEnabled::KEY,
        "1",
        "allow MPTCP sockets so multi-homed hosts can use several paths (the default)",
    ),
];

/// An entry of a built-in profile, whose literals the unit tests check.
fn builtin(key: &'static str, value: &str, why: &str) -> ProfileEntry {
    match ProfileEntry::new(Key::from_static(key), value, why) {
        Ok(e) => e,
        Err(e) => panic!("built-in profile entry {key} = {value} is invalid: {e}"),
    }
}

/// A bandwidth-delay product: how much data is in flight on a path.
///
/// ```
/// use std::time::Duration;
/// use nettune_sysctl::Bdp;
/// let bdp = Bdp::new(10_000_000_000, Duration::from_millis(10))?;   // 10 Gbit/s, 10 ms
/// assert_eq!(bdp.bytes(), 12_500_000);
/// # Ok::<(), nettune_sysctl::ValueError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bdp {
    bits_per_second: u64,
    rtt: Duration,
}

impl Bdp {
    /// A path of `bits_per_second` with round-trip time `rtt`.
    ///
    /// # Errors
    ///
    /// When the bandwidth or the RTT is zero, or the product does not fit in 64 bits.
    pub fn new(bits_per_second: u64, rtt: Duration) -> Result<Self, ValueError> {
        let text = || format!("{bits_per_second} bit/s x {rtt:?}");
        if bits_per_second == 0 || rtt.is_zero() {
            return Err(ValueError::new(
                "bandwidth-delay product",
                text(),
                "bandwidth and RTT must be above zero",
            ));
        }
        if u128::from(bits_per_second) * rtt.as_nanos() / 8_000_000_000 > u128::from(u64::MAX) {
            return Err(ValueError::new(
                "bandwidth-delay product",
                text(),
                "too large",
            ));
        }
        Ok(Self {
            bits_per_second,
            rtt,
        })
    }

    /// The bandwidth in bits per second.
    pub fn bits_per_second(&self) -> u64 {
        self.bits_per_second
    }

    /// The round-trip time.
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// Bytes in flight: bandwidth x RTT / 8.
    pub fn bytes(&self) -> u64 {
        let b = u128::from(self.bits_per_second) * self.rtt.as_nanos() / 8_000_000_000;
        u64::try_from(b).unwrap_or(u64::MAX)
    }

    /// The buffer cap for this path: twice the BDP (the kernel charges socket overhead
    /// against the buffer, roughly half at the default scaling), at least 4 MiB (the
    /// kernel's own default cap) and at most 2^31 - 1 (the largest the kernel stores).
    pub fn buffer_bytes(&self) -> u64 {
        self.bytes().saturating_mul(2).clamp(4 << 20, INT_MAX)
    }
}

impl fmt::Display for Bdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bit/s at {:?} RTT", self.bits_per_second, self.rtt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_d_output_reads_back_or_is_refused() {
        // Quotes are part of a value (readers do not strip them): written and read as is.
        let mut p = Profile::new("q");
        p.set("net.x", "'= '~", "").expect("set");
        p.set("net.y", "\"a b\"\"", "").expect("set");
        p.set("kernel.core_pattern", "", "").expect("set");
        let again = Profile::from_sysctl_d(&p.to_sysctl_d().expect("emit")).expect("reads back");
        let values: Vec<&str> = again.entries().iter().map(ProfileEntry::value).collect();
        let want: Vec<&str> = p.entries().iter().map(ProfileEntry::value).collect();
        assert_eq!(values, want);
        // A value is stored canonical (a trailing `\r` is whitespace), so it round-trips.
        let mut cr = Profile::new("cr");
        cr.set("net.x", "1\r", "").expect("set");
        let back = Profile::from_sysctl_d(&cr.to_sysctl_d().expect("emit")).expect("parse");
        assert_eq!(back.entries()[0].value(), "1");
        // What the format cannot hold is refused, not written to be misread.
        let mut refused = 0;
        for k in ["net.a=b", "-net.x", "#net.x"] {
            let mut bad = Profile::new("bad");
            let Ok(_) = bad.set(k, "1", "") else { continue };
            let err = bad.to_sysctl_d().expect_err(k);
            assert!(err.to_string().contains("sysctl.d"), "{err}");
            refused += 1;
        }
        assert!(refused > 0, "no such key is valid: nothing was checked");
    }

    #[test]
    fn builtin_profiles_are_valid() {
        let ll = Profile::low_latency();
        assert_eq!(ll.entries().len(), LOW_LATENCY.len());
        let bdp = Bdp::new(10_000_000_000, Duration::from_millis(10)).expect("bdp");
        assert_eq!(bdp.bytes(), 12_500_000);
        let tp = Profile::throughput(bdp);
        assert_eq!(
            tp.get(&knobs::TcpRmem::key()).map(ProfileEntry::value),
            Some("4096 131072 25000000")
        );
        assert_eq!(
            tp.get(&knobs::CoreRmemMax::key()).map(ProfileEntry::value),
            Some("25000000")
        );
        let huge = Bdp::new(400_000_000_000, Duration::from_secs(1)).expect("bdp");
        assert_eq!(huge.buffer_bytes(), INT_MAX, "capped at the kernel's limit");
        let tiny = Bdp::new(1_000_000, Duration::from_millis(1)).expect("bdp");
        assert_eq!(tiny.buffer_bytes(), 4 << 20);
        assert!(Bdp::new(0, Duration::from_millis(1)).is_err());
        assert!(Profile::conntrack_heavy(0).is_err());
        assert!(Profile::conntrack_heavy(1 << 31).is_err());
        assert_eq!(
            Profile::conntrack_heavy(500_000)
                .expect("ct")
                .entries()
                .len(),
            6
        );
        for p in [ll, tp] {
            assert!(p.entries().iter().all(|e| !e.why().is_empty()));
        }
    }

    #[test]
    fn entries_are_validated_and_canonical() {
        let mut p = Profile::new("t");
        p.set("net.ipv4.tcp_rmem", "4096\t87380  6291456", "x")
            .expect("set");
        assert_eq!(p.entries()[0].value(), "4096 87380 6291456");
        assert!(p.set("net.ipv4.tcp_rmem", "9 8 7", "x").is_err());
        assert!(p.set("net.ipv4.tcp_fastopen", "0x400", "x").is_err());
        assert!(p.set("net.ipv4.tcp_sack", "", "x").is_err());
        assert!(p.set("net..x", "1", "x").is_err());
        assert_eq!(p.entries().len(), 1, "failed sets change nothing");
        p.set("net.ipv4.tcp_sack", "yes", "x").expect("set");
        assert_eq!(p.entries()[1].value(), "1");
    }

    #[test]
    fn profiles_compose_later_wins_in_place() {
        let base = Profile::low_latency();
        let mut over = Profile::new("site");
        over.set("net.ipv4.tcp_keepalive_time", "30", "site policy")
            .expect("set");
        over.set("net.core.somaxconn", "8192", "site policy")
            .expect("set");
        let merged = base.with(&over);
        assert_eq!(merged.entries().len(), base.entries().len() + 1);
        let pos = |p: &Profile, k: &str| p.entries().iter().position(|e| e.key().to_string() == k);
        assert_eq!(
            pos(&merged, "net.ipv4.tcp_keepalive_time"),
            pos(&base, "net.ipv4.tcp_keepalive_time")
        );
        assert_eq!(
            merged
                .get(&Key::new("net.ipv4.tcp_keepalive_time").expect("k"))
                .map(ProfileEntry::why),
            Some("site policy")
        );
        assert_eq!(merged.name(), "low-latency+site");
    }
}

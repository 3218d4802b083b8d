//! [`Profile`]: everything a host is tuned with — sysctls (values or bounds), NIC settings
//! per interface, MPTCP limits and endpoints, conntrack knobs and NOTRACK rules — as data,
//! read from TOML or JSON, each entry with the reason it is there.
//!
//! ```toml
//! name = "edge"
//! base = ["low-latency", "conntrack-heavy"]   # built-in names or files; composed in order
//!
//! [sysctl]
//! "net.core.somaxconn" = 8192
//! "net.core.rmem_max" = ">33554432"           # at least: a larger value is left alone
//! "net.ipv4.tcp_fin_timeout" = { at_most = "30", why = "recycle closing sockets sooner" }
//!
//! [why]
//! "net.core.somaxconn" = "bursty accepts"
//!
//! [nic.eth0]
//! offloads = { gro = true, lro = false }      # ethtool short names or kernel feature names
//! coalesce = { rx_usecs = 8 }
//! rings = { rx = 1024 }
//! channels = { combined = 4 }
//! rps = { "0" = "0-3" }                       # RX queue -> CPU list
//! xps = { "0" = "0" }                         # TX queue -> CPU list
//! rss = { equal = 4 }                         # spread over the first 4 RX rings
//!
//! [conntrack]
//! max = 1048576                               # net.netfilter.nf_conntrack_max
//! tcp_timeout_established = 3600
//! notrack = [{ proto = "udp", port = 5353 }]
//!
//! [mptcp]
//! enabled = true
//! limits = { subflows = 2, add_addr_accepted = 2 }
//! endpoints = [{ addr = "10.2.0.1", flags = ["subflow"], interface = "eth1" }]
//! ```
//!
//! A value written `">N"` (or `{ at_least = "N" }`) is a floor and `"<N"` a ceiling, as in
//! tuned's profiles: the plan leaves a live value that already satisfies it alone. For a
//! vector such as `tcp_rmem` each field is compared on its own.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nettune_conntrack::L4;
use nettune_mptcp::EndpointFlags;
use nettune_nic::{CpuSet, IfName};
use nettune_sysctl::{Key, Knob, knobs};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::matching::Match;

/// What a profile wants of one sysctl.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Want {
    /// This value (canonical form).
    Exact(String),
    /// At least this (each field of a vector on its own); a larger live value stays.
    AtLeast(String),
    /// At most this; a smaller live value stays.
    AtMost(String),
}

impl Want {
    /// The value the bound or target names.
    pub fn value(&self) -> &str {
        match self {
            Self::Exact(v) | Self::AtLeast(v) | Self::AtMost(v) => v,
        }
    }

    /// The value to write given the live one, or `None` when the live value already
    /// satisfies this (`live` canonical).
    pub fn resolve(&self, live: Option<&str>) -> Option<String> {
        let (bound, larger) = match self {
            Self::Exact(v) => return (live != Some(v.as_str())).then(|| v.clone()),
            Self::AtLeast(v) => (v, true),
            Self::AtMost(v) => (v, false),
        };
        let Some(live) = live else {
            return Some(bound.clone());
        };
        let want: Vec<&str> = bound.split_whitespace().collect();
        let have: Vec<&str> = live.split_whitespace().collect();
        if want.len() != have.len() {
            return Some(bound.clone());
        }
        let mut out = Vec::with_capacity(want.len());
        for (w, h) in want.iter().zip(&have) {
            match (w.parse::<i128>(), h.parse::<i128>()) {
                (Ok(w), Ok(h)) => out.push(if larger { w.max(h) } else { w.min(h) }.to_string()),
                // Not numbers: a bound cannot compare them, so it asks for its value.
                _ => return (live != bound.as_str()).then(|| bound.clone()),
            }
        }
        let desired = out.join(" ");
        (desired != live).then_some(desired)
    }

    fn describe(&self) -> String {
        match self {
            Self::Exact(v) => v.clone(),
            Self::AtLeast(v) => format!(">{v}"),
            Self::AtMost(v) => format!("<{v}"),
        }
    }
}

/// `N`, `>N` (at least) or `<N` (at most), as a profile writes it.
impl std::fmt::Display for Want {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// One sysctl of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlRule {
    /// The key.
    pub key: Key,
    /// The value or bound.
    pub want: Want,
    /// Why.
    pub why: String,
    /// Whether an absent key is left out rather than refused, even by a strict plan (a
    /// sysctl.d line that starts with `-`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// How RSS spreads flows over the RX rings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RssProfile {
    /// Evenly over the first N rings.
    Equal(u32),
    /// By weight per ring (ring i gets weights\[i\] shares).
    Weights(Vec<u32>),
}

/// The settings of one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicProfile {
    /// Offloads by ethtool short name or kernel feature name: on or off.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offloads: BTreeMap<String, bool>,
    /// Interrupt coalescing fields (`rx_usecs`, `rx_frames`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub coalesce: BTreeMap<String, u32>,
    /// Ring sizes (`rx`, `tx`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rings: BTreeMap<String, u32>,
    /// Queue counts (`rx`, `tx`, `combined`, `other`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, u32>,
    /// RSS indirection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss: Option<RssProfile>,
    /// RPS CPUs per RX queue.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "cpu_map")]
    pub rps: BTreeMap<u32, CpuSet>,
    /// XPS CPUs per TX queue.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "cpu_map")]
    pub xps: BTreeMap<u32, CpuSet>,
    /// Why these settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// Queue maps as TOML needs them: string keys, CPU lists as text (`"0-3"`).
mod cpu_map {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        m: &BTreeMap<u32, CpuSet>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<String, String> = m
            .iter()
            .map(|(q, c)| (q.to_string(), c.to_list()))
            .collect();
        text.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u32, CpuSet>, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(d)?;
        text.into_iter()
            .map(|(q, c)| {
                let queue = q.parse::<u32>().map_err(|_| {
                    serde::de::Error::custom(format!("queue {q:?} is not a number"))
                })?;
                let cpus = CpuSet::from_list(&c).map_err(serde::de::Error::custom)?;
                Ok((queue, cpus))
            })
            .collect()
    }
}

/// An endpoint the MPTCP path manager should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointProfile {
    /// The local address.
    pub addr: IpAddr,
    /// Flags (`signal`, `subflow`, `backup`, `fullmesh`).
    #[serde(default)]
    pub flags: EndpointFlags,
    /// The interface subflows of this address use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<IfName>,
    /// A port (signal endpoints only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// MPTCP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsProfile {
    /// Extra subflows per connection (0 to 8).
    pub subflows: u32,
    /// ADD_ADDRs accepted per connection (0 to 8).
    pub add_addr_accepted: u32,
}

/// A NOTRACK rule: traffic kept out of connection tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoTrackRule {
    /// `tcp` or `udp`, with `port`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "l4")]
    pub proto: Option<L4>,
    /// A local port (with `proto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// A peer address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
}

mod l4 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(p: &Option<L4>, s: S) -> Result<S::Ok, S::Error> {
        p.map(|p| match p {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        })
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<L4>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None => Ok(None),
            Some("tcp") => Ok(Some(L4::Tcp)),
            Some("udp") => Ok(Some(L4::Udp)),
            Some(other) => Err(serde::de::Error::custom(format!(
                "proto {other:?}: expected tcp or udp"
            ))),
        }
    }
}

/// A whole-host profile. Build one with [`Profile::builtin`], [`Profile::load`],
/// [`Profile::from_toml`] or [`Profile::from_json`], or in code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    name: String,
    sysctl: Vec<SysctlRule>,
    index: HashMap<Key, usize>,
    nic: BTreeMap<IfName, NicProfile>,
    mptcp_limits: Option<LimitsProfile>,
    endpoints: Vec<EndpointProfile>,
    notrack: Vec<NoTrackRule>,
    tune: Option<TuneSettings>,
    host_match: Option<Match>,
}

/// The `[tune]` section: the guard rails of `nettune tune` ([`crate::tune`]). Durations
/// are written `30s`, `500ms`, `5m`.
///
/// ```toml
/// [tune]
/// interval = "30s"              # how often the loop samples (default 30s)
/// canary = "30s"                # how long a change runs before its verdict (default: interval)
/// cooldown = "5m"               # the least time between two changes of one knob (default 5m)
/// max_factor = 2                # a change at most multiplies a value by this (default 2)
/// max_changes_per_hour = 6      # over all knobs (default 6)
/// guard = ["Tcp.RetransSegs"]   # signals that must not grow after a change (default retransmits and drops)
/// [tune.bounds]
/// "net.core.somaxconn" = { floor = 1024, ceiling = 65535 }
/// [[tune.rule]]                 # a rule of your own: when SIGNAL grows, raise KNOB
/// id = "my-rule"
/// signal = "TcpExt.TCPTimeWaitOverflow"
/// knob = "net.ipv4.tcp_max_tw_buckets"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneSettings {
    /// How often the loop samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// How long a change runs before it is judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    /// The least time between two changes of one knob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,
    /// The most one change multiplies a value by (at least 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_factor: Option<u32>,
    /// The most changes per hour, over all knobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_changes_per_hour: Option<u32>,
    /// The operator's floor and ceiling per knob.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bounds: BTreeMap<String, KnobBounds>,
    /// Signals that must not grow after a change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guard: Vec<String>,
    /// Rules of the operator's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule: Vec<TuneRule>,
}

/// An operator's bounds on one knob (every field of a vector such as `tcp_rmem`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobBounds {
    /// The loop never sets less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<u64>,
    /// The loop never sets more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<u64>,
}

/// A rule of the operator's own: when `signal` grows, raise `knob`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneRule {
    /// Its id (in decisions and metrics).
    pub id: String,
    /// The signal ([`crate::signals`] name).
    pub signal: String,
    /// The sysctl it raises.
    pub knob: String,
}

/// The names of the built-in profiles.
pub const BUILTIN: [&str; 3] = ["low-latency", "throughput", "conntrack-heavy"];

/// A `[sysctl]` value as a file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum FileValue {
    Text(String),
    Number(i64),
    Bool(bool),
    Table(FileBound),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBound {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<FileScalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at_least: Option<FileScalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at_most: Option<FileScalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum FileScalar {
    Text(String),
    Number(i64),
}

impl FileScalar {
    fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Number(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Bases {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMptcp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limits: Option<LimitsProfile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    endpoints: Vec<EndpointProfile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FileConntrack {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notrack: Vec<NoTrackRule>,
    #[serde(flatten)]
    knobs: BTreeMap<String, FileValue>,
}

/// A profile file as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<Bases>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    sysctl: BTreeMap<String, FileValue>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    why: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    nic: BTreeMap<String, NicProfile>,
    #[serde(default)]
    conntrack: FileConntrack,
    #[serde(default)]
    mptcp: FileMptcp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tune: Option<TuneSettings>,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    host_match: Option<Match>,
}

/// The sysctl a `[conntrack]` key stands for: `X` is `net.netfilter.nf_conntrack_X`, for
/// every conntrack knob this library knows.
fn conntrack_key(k: &str) -> Option<&'static str> {
    knobs::ALL
        .iter()
        .map(|i| i.key)
        .find(|key| key.strip_prefix("net.netfilter.nf_conntrack_") == Some(k))
}

const LOW_LATENCY: &str = include_str!("../profiles/low-latency.toml");
const THROUGHPUT: &str = include_str!("../profiles/throughput.toml");
const CONNTRACK_HEAVY: &str = include_str!("../profiles/conntrack-heavy.toml");

/// How deep `base` may chain files.
const MAX_DEPTH: usize = 8;
/// The largest profile file read (a base named `/dev/zero` is refused, not read forever).
pub(crate) const MAX_FILE: u64 = 16 << 20;

impl Profile {
    /// An empty profile.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// The low-latency profile (built in).
    pub fn low_latency() -> Self {
        Self::builtin("low-latency").unwrap_or_else(|_| Self::new("low-latency"))
    }

    /// A built-in profile by name ([`BUILTIN`]): data files shipped with the crate, each
    /// entry with its reason.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] for an unknown name.
    pub fn builtin(name: &str) -> Result<Self> {
        let text = match name {
            "low-latency" => LOW_LATENCY,
            "throughput" => THROUGHPUT,
            "conntrack-heavy" => CONNTRACK_HEAVY,
            other => {
                return Err(Error::profile(
                    other,
                    format!(
                        "no built-in profile {other:?}; built-in: {}",
                        BUILTIN.join(", ")
                    ),
                ));
            }
        };
        Self::from_toml(&format!("(built-in {name})"), text)
    }

    /// A built-in profile by name, or a TOML or JSON file (by extension; TOML otherwise).
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] naming the file and what is wrong in it.
    pub fn load(name_or_path: &str) -> Result<Self> {
        if BUILTIN.contains(&name_or_path) {
            return Self::builtin(name_or_path);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(Error::profile(
                name_or_path,
                format!(
                    "no built-in profile or file {name_or_path:?}; built-in profiles: {}",
                    BUILTIN.join(", ")
                ),
            ));
        }
        Self::load_file(path, 0)
    }

    fn load_file(path: &Path, depth: usize) -> Result<Self> {
        use std::io::Read;
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| Error::profile(&name, e.to_string()))?;
        if !meta.is_file() {
            return Err(Error::profile(&name, "not a regular file".into()));
        }
        if meta.len() > MAX_FILE {
            return Err(Error::profile(
                &name,
                format!(
                    "{} bytes: profiles are at most {MAX_FILE} bytes",
                    meta.len()
                ),
            ));
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE + 1).read_to_string(&mut text))
            .map_err(|e| Error::profile(&name, e.to_string()))?;
        Self::from_file_text(path, &text, depth)
    }

    /// Parses `text` read from `path` (TOML, or JSON by extension; `base` files relative
    /// to its directory), for a caller that has read the file itself.
    pub(crate) fn from_file_text(path: &Path, text: &str, depth: usize) -> Result<Self> {
        let name = path.display().to_string();
        let file = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(text).map_err(|e| Error::profile(&name, e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| Error::profile(&name, e.to_string()))?
        };
        Self::from_file(&name, file, path.parent(), depth)
    }

    /// Parses a TOML profile; `name` names the text in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] naming the entry and what is wrong.
    pub fn from_toml(name: &str, text: &str) -> Result<Self> {
        let file: ProfileFile =
            toml::from_str(text).map_err(|e| Error::profile(name, e.to_string()))?;
        Self::from_file(name, file, None, 0)
    }

    /// Parses a JSON profile (the same fields as TOML).
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] naming the entry and what is wrong.
    pub fn from_json(name: &str, text: &str) -> Result<Self> {
        let file: ProfileFile =
            serde_json::from_str(text).map_err(|e| Error::profile(name, e.to_string()))?;
        Self::from_file(name, file, None, 0)
    }

    fn base(name: &str, dir: Option<&Path>, depth: usize) -> Result<Self> {
        if depth >= MAX_DEPTH {
            return Err(Error::profile(
                name,
                "bases nest deeper than 8 (a cycle?)".into(),
            ));
        }
        if let Some(sysctl) = name.strip_prefix("sysctl:") {
            let p = match sysctl {
                "low-latency" => nettune_sysctl::Profile::low_latency(),
                "conntrack-heavy" => nettune_sysctl::Profile::conntrack_heavy(1 << 20)?,
                "throughput" => nettune_sysctl::Profile::throughput(nettune_sysctl::Bdp::new(
                    10_000_000_000,
                    std::time::Duration::from_millis(10),
                )?),
                other => {
                    return Err(Error::profile(
                        name,
                        format!(
                            "no sysctl built-in {other:?} (low-latency, throughput, conntrack-heavy)"
                        ),
                    ));
                }
            };
            return Ok(Self::from_sysctl(&p));
        }
        if BUILTIN.contains(&name) {
            return Self::builtin(name);
        }
        let path = match dir {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        };
        if !path.exists() {
            return Err(Error::profile(
                name,
                format!(
                    "unknown base {name:?}: not a built-in profile ({}) or a file",
                    BUILTIN.join(", ")
                ),
            ));
        }
        Self::load_file(&path, depth + 1)
    }

    fn from_file(source: &str, f: ProfileFile, dir: Option<&Path>, depth: usize) -> Result<Self> {
        let bases = match f.base {
            None => Vec::new(),
            Some(Bases::One(b)) => vec![b],
            Some(Bases::Many(v)) => v,
        };
        let mut out = Self::new(f.name.as_deref().unwrap_or(source));
        for b in &bases {
            let base = Self::base(b, dir, depth).map_err(|e| match e {
                Error::Profile { name: s, reason } => {
                    Error::profile(source, format!("base {b:?} ({s}): {reason}"))
                }
                other => other,
            })?;
            if base.host_match.is_some() {
                return Err(Error::profile(
                    source,
                    format!(
                        "base {b:?} has a [match] section: only the profile applied says which hosts it is for"
                    ),
                ));
            }
            out.merge(base);
        }
        if let Some(m) = f.host_match {
            out.set_host_match(m)?;
        }
        let bad = |section: &str, key: &str, e: String| {
            Error::profile(source, format!("[{section}] {key}: {e}"))
        };
        let why_of = |key: &str, given: Option<&String>, earlier: Option<&SysctlRule>| {
            given
                .or_else(|| f.why.get(key))
                .cloned()
                .or_else(|| earlier.map(|r| r.why.clone()))
                .unwrap_or_else(|| format!("set by {source}"))
        };
        let mut entries: Vec<(&'static str, String, &FileValue)> = Vec::new();
        for (k, v) in &f.sysctl {
            entries.push(("sysctl", k.clone(), v));
        }
        for (k, v) in &f.conntrack.knobs {
            let key = conntrack_key(k)
                .ok_or_else(|| bad("conntrack", k, format!("unknown key {k:?}")))?;
            entries.push(("conntrack", key.to_owned(), v));
        }
        let enabled = f.mptcp.enabled.map(FileValue::Bool);
        if let Some(v) = &enabled {
            entries.push(("mptcp", knobs::MptcpEnabled::KEY.to_owned(), v));
        }
        for (section, k, v) in entries {
            let key = Key::new(&k).map_err(|e| bad(section, &k, crate::error::report(&e)))?;
            let (want, given_why) = file_want(v).map_err(|e| bad(section, &k, e))?;
            let want = canonical_want(&key, want).map_err(|e| bad(section, &k, e))?;
            let why = why_of(&k, given_why.as_ref(), out.sysctl_rule(&key));
            out.push_sysctl(SysctlRule {
                key,
                want,
                why,
                optional: false,
            });
        }
        for (iface, n) in f.nic {
            let name =
                IfName::new(&iface).map_err(|e| bad("nic", &iface, crate::error::report(&e)))?;
            check_nic(&n).map_err(|e| bad(&format!("nic.{iface}"), "", e))?;
            out.nic.insert(name, n);
        }
        if let Some(l) = f.mptcp.limits {
            if l.subflows > 8 || l.add_addr_accepted > 8 {
                return Err(bad(
                    "mptcp",
                    "limits",
                    "above the kernel's maximum of 8".into(),
                ));
            }
            out.mptcp_limits = Some(l);
        }
        for e in f.mptcp.endpoints {
            out.add_endpoint(e)?;
        }
        for r in f.conntrack.notrack {
            check_notrack(&r).map_err(|e| bad("conntrack", "notrack", e))?;
            out.notrack.push(r);
        }
        if let Some(t) = f.tune {
            crate::tune::check_settings(&t).map_err(|e| bad("tune", "", e))?;
            out.tune = Some(t);
        }
        Ok(out)
    }

    /// The sysctls of a profile of the sysctl crate, as exact values (an optional entry
    /// stays optional).
    pub fn from_sysctl(p: &nettune_sysctl::Profile) -> Self {
        let mut out = Self::new(p.name());
        for e in p.entries() {
            out.push_sysctl(SysctlRule {
                key: e.key().clone(),
                want: Want::Exact(e.value().to_owned()),
                why: e.why().to_owned(),
                optional: e.is_optional(),
            });
        }
        out
    }

    /// Lays `other` over this profile: its sysctls replace this one's for the same keys,
    /// its NIC sections replace whole interfaces, its limits replace the limits, its
    /// endpoints and NOTRACK rules are added.
    pub fn merge(&mut self, other: Self) {
        if self.name.is_empty() {
            self.name = other.name.clone();
        }
        for r in other.sysctl {
            self.push_sysctl(r);
        }
        self.nic.extend(other.nic);
        if other.mptcp_limits.is_some() {
            self.mptcp_limits = other.mptcp_limits;
        }
        for e in other.endpoints {
            self.endpoints.retain(|x| x.addr != e.addr);
            self.endpoints.push(e);
        }
        for r in other.notrack {
            if !self.notrack.contains(&r) {
                self.notrack.push(r);
            }
        }
        if other.tune.is_some() {
            self.tune = other.tune;
        }
    }

    /// Keeps only the sysctl rules `keep` accepts (the rest of the profile is untouched).
    pub(crate) fn retain_sysctls(&mut self, keep: impl Fn(&SysctlRule) -> bool) {
        self.sysctl.retain(keep);
        self.index = self
            .sysctl
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), i))
            .collect();
    }

    /// Adds or replaces a sysctl rule (in the same place, in constant time).
    pub fn push_sysctl(&mut self, rule: SysctlRule) -> &mut Self {
        match self.index.get(&rule.key) {
            Some(&i) => self.sysctl[i] = rule,
            None => {
                self.index.insert(rule.key.clone(), self.sysctl.len());
                self.sysctl.push(rule);
            }
        }
        self
    }

    /// Sets a sysctl to a value (checked against the knob's type when there is one).
    ///
    /// # Errors
    ///
    /// [`Error::Sysctl`] for a bad key or value.
    pub fn set(&mut self, key: &str, value: &str, why: &str) -> Result<&mut Self> {
        let key = Key::new(key)?;
        let value =
            knobs::canonical(&key, value).map_err(|e| nettune_sysctl::Error::InvalidValue {
                key: key.clone(),
                value: e.input().to_owned(),
                reason: e.reason().to_owned(),
                source: None,
            })?;
        Ok(self.push_sysctl(SysctlRule {
            key,
            want: Want::Exact(value),
            why: why.to_owned(),
            optional: false,
        }))
    }

    /// Sets the settings of one interface.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] for an unknown field or a bad value.
    pub fn set_nic(&mut self, iface: IfName, nic: NicProfile) -> Result<&mut Self> {
        check_nic(&nic).map_err(|e| Error::profile(&self.name, format!("[nic.{iface}] {e}")))?;
        self.nic.insert(iface, nic);
        Ok(self)
    }

    /// Sets the MPTCP limits.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] above the kernel's maximum of 8.
    pub fn set_mptcp_limits(&mut self, subflows: u32, add_addr_accepted: u32) -> Result<&mut Self> {
        if subflows > 8 || add_addr_accepted > 8 {
            return Err(Error::profile(
                &self.name,
                "[mptcp] limits above the kernel's maximum of 8".into(),
            ));
        }
        self.mptcp_limits = Some(LimitsProfile {
            subflows,
            add_addr_accepted,
        });
        Ok(self)
    }

    /// Adds an MPTCP endpoint (checked as `ip mptcp endpoint add` checks it).
    ///
    /// # Errors
    ///
    /// [`Error::Mptcp`] naming the rule the endpoint breaks.
    pub fn add_endpoint(&mut self, e: EndpointProfile) -> Result<&mut Self> {
        let mut spec = nettune_mptcp::EndpointSpec::new(e.addr).flags(e.flags);
        if let Some(p) = e.port {
            spec = spec.port(p);
        }
        spec.validate()?;
        self.endpoints.retain(|x| x.addr != e.addr);
        self.endpoints.push(e);
        Ok(self)
    }

    /// Adds a NOTRACK rule.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] when it names neither a port nor an address.
    pub fn add_notrack(&mut self, rule: NoTrackRule) -> Result<&mut Self> {
        check_notrack(&rule)
            .map_err(|e| Error::profile(&self.name, format!("[conntrack] notrack: {e}")))?;
        self.notrack.push(rule);
        Ok(self)
    }

    /// The `[tune]` section, when the profile has one.
    pub fn tune(&self) -> Option<&TuneSettings> {
        self.tune.as_ref()
    }

    /// Sets the `[tune]` section.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] for a malformed duration, key or bound.
    pub fn set_tune(&mut self, t: TuneSettings) -> Result<&mut Self> {
        crate::tune::check_settings(&t)
            .map_err(|e| Error::profile(&self.name, format!("[tune] {e}")))?;
        self.tune = Some(t);
        Ok(self)
    }

    /// The hosts the profile is for (its `[match]` section), when it says.
    pub fn host_match(&self) -> Option<&Match> {
        self.host_match.as_ref()
    }

    /// Says which hosts the profile is for (see [`crate::matching`]); an empty match is
    /// every host.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] naming the bad condition.
    pub fn set_host_match(&mut self, m: Match) -> Result<&mut Self> {
        m.check()
            .map_err(|e| Error::profile(&self.name, format!("[match] {e}")))?;
        self.host_match = (!m.is_empty()).then_some(m);
        Ok(self)
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sysctl rules, in order.
    pub fn sysctls(&self) -> &[SysctlRule] {
        &self.sysctl
    }

    /// The rule for `key`.
    pub fn sysctl_rule(&self, key: &Key) -> Option<&SysctlRule> {
        self.index.get(key).map(|&i| &self.sysctl[i])
    }

    /// The NIC settings by interface.
    pub fn nics(&self) -> &BTreeMap<IfName, NicProfile> {
        &self.nic
    }

    /// The MPTCP limits.
    pub fn mptcp_limits(&self) -> Option<LimitsProfile> {
        self.mptcp_limits
    }

    /// The MPTCP endpoints.
    pub fn endpoints(&self) -> &[EndpointProfile] {
        &self.endpoints
    }

    /// The NOTRACK rules.
    pub fn notrack(&self) -> &[NoTrackRule] {
        &self.notrack
    }

    /// How many items the profile names (sysctls, NIC fields, limits, endpoints, rules).
    pub fn len(&self) -> usize {
        let nic: usize = self
            .nic
            .values()
            .map(|n| {
                n.offloads.len()
                    + n.coalesce.len()
                    + n.rings.len()
                    + n.channels.len()
                    + usize::from(n.rss.is_some())
                    + n.rps.len()
                    + n.xps.len()
            })
            .sum();
        self.sysctl.len()
            + nic
            + usize::from(self.mptcp_limits.is_some())
            + self.endpoints.len()
            + usize::from(!self.notrack.is_empty())
    }

    /// Whether the profile names nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn to_file(&self) -> ProfileFile {
        let mut f = ProfileFile {
            name: Some(self.name.clone()),
            ..ProfileFile::default()
        };
        for r in &self.sysctl {
            let k = r.key.to_string();
            let v = match &r.want {
                Want::Exact(v) => FileValue::Text(v.clone()),
                other => FileValue::Text(other.describe()),
            };
            f.sysctl.insert(k.clone(), v);
            f.why.insert(k, r.why.clone());
        }
        f.nic = self
            .nic
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        f.mptcp.limits = self.mptcp_limits;
        f.mptcp.endpoints.clone_from(&self.endpoints);
        f.conntrack.notrack.clone_from(&self.notrack);
        f.tune.clone_from(&self.tune);
        f.host_match.clone_from(&self.host_match);
        f
    }

    /// The profile as TOML that [`Profile::from_toml`] reads back.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.to_file()).unwrap_or_default()
    }

    /// The profile as JSON that [`Profile::from_json`] reads back.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_file()).unwrap_or_default()
    }
}

impl Serialize for Profile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_file().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let f = ProfileFile::deserialize(d)?;
        Self::from_file("(serde)", f, None, 0)
            .map_err(|e| serde::de::Error::custom(crate::error::report(&e)))
    }
}

/// A file value as a want and its own reason.
fn file_want(v: &FileValue) -> std::result::Result<(Want, Option<String>), String> {
    Ok(match v {
        FileValue::Number(n) => (Want::Exact(n.to_string()), None),
        FileValue::Bool(b) => (Want::Exact(if *b { "1" } else { "0" }.to_owned()), None),
        FileValue::Text(t) => (text_want(t), None),
        FileValue::Table(b) => {
            let want = match (&b.value, &b.at_least, &b.at_most) {
                (Some(v), None, None) => Want::Exact(v.text()),
                (None, Some(v), None) => Want::AtLeast(v.text()),
                (None, None, Some(v)) => Want::AtMost(v.text()),
                _ => return Err("give exactly one of value, at_least, at_most".into()),
            };
            (want, b.why.clone())
        }
    })
}

/// `">N"` is at least N, `"<N"` at most N (tuned's syntax), anything else exact.
fn text_want(t: &str) -> Want {
    let t = t.trim();
    if let Some(v) = t.strip_prefix(">=").or_else(|| t.strip_prefix('>')) {
        Want::AtLeast(v.trim().to_owned())
    } else if let Some(v) = t.strip_prefix("<=").or_else(|| t.strip_prefix('<')) {
        Want::AtMost(v.trim().to_owned())
    } else {
        Want::Exact(t.to_owned())
    }
}

/// The want with its value in the key's canonical form (checked against the knob).
fn canonical_want(key: &Key, w: Want) -> std::result::Result<Want, String> {
    let c = |v: &str| knobs::canonical(key, v).map_err(|e| e.reason().to_owned());
    Ok(match w {
        Want::Exact(v) => Want::Exact(c(&v)?),
        Want::AtLeast(v) => Want::AtLeast(c(&v)?),
        Want::AtMost(v) => Want::AtMost(c(&v)?),
    })
}

fn check_nic(n: &NicProfile) -> std::result::Result<(), String> {
    for name in n.offloads.keys() {
        name.parse::<nettune_nic::Offload>()
            .map_err(|e| format!("offload {name}: {}", crate::error::report(&e)))?;
    }
    let mut c = nettune_nic::CoalesceUpdate::new();
    for (f, v) in &n.coalesce {
        c.set(f, *v)
            .map_err(|e| format!("coalesce: {}", crate::error::report(&e)))?;
    }
    let mut r = nettune_nic::RingsUpdate::new();
    for (f, v) in &n.rings {
        r.set(f, *v)
            .map_err(|e| format!("rings: {}", crate::error::report(&e)))?;
    }
    let mut ch = nettune_nic::ChannelsUpdate::new();
    for (f, v) in &n.channels {
        ch.set(f, *v)
            .map_err(|e| format!("channels: {}", crate::error::report(&e)))?;
    }
    match &n.rss {
        Some(RssProfile::Equal(0)) => return Err("rss: equal needs at least one ring".into()),
        Some(RssProfile::Weights(w)) if w.is_empty() || w.iter().all(|x| *x == 0) => {
            return Err("rss: weights need one ring with a weight above 0".into());
        }
        _ => {}
    }
    Ok(())
}

fn check_notrack(r: &NoTrackRule) -> std::result::Result<(), String> {
    match (r.proto, r.port, r.address) {
        (Some(_), Some(0), _) => Err("port 0 is not a port".into()),
        (Some(_), Some(_), None) | (None, None, Some(_)) => Ok(()),
        (None, Some(_), _) => Err("a port needs proto (tcp or udp)".into()),
        (Some(_), None, _) => Err("proto needs a port".into()),
        (None, None, None) => Err("a rule names a port or an address".into()),
        (Some(_), Some(_), Some(_)) => Err("a rule names a port or an address, not both".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_leave_larger_values_alone() {
        let floor = Want::AtLeast("16777216".into());
        assert_eq!(floor.resolve(Some("33554432")), None);
        assert_eq!(floor.resolve(Some("212992")).as_deref(), Some("16777216"));
        let v = Want::AtLeast("4096 131072 16777216".into());
        assert_eq!(
            v.resolve(Some("8192 65536 33554432")).as_deref(),
            Some("8192 131072 33554432"),
            "each field on its own"
        );
        assert_eq!(v.resolve(Some("4096 131072 16777216")), None);
        let ceiling = Want::AtMost("30".into());
        assert_eq!(ceiling.resolve(Some("60")).as_deref(), Some("30"));
        assert_eq!(ceiling.resolve(Some("10")), None);
        assert_eq!(Want::Exact("1".into()).resolve(Some("1")), None);
        assert_eq!(Want::Exact("1".into()).resolve(None).as_deref(), Some("1"));
    }

    #[test]
    fn builtins_are_data_with_reasons() {
        for name in BUILTIN {
            let p = Profile::builtin(name).expect(name);
            assert!(!p.sysctls().is_empty(), "{name}");
            for r in p.sysctls() {
                assert!(
                    !r.why.is_empty() && !r.why.starts_with("set by"),
                    "{name}: {} has no reason",
                    r.key
                );
            }
        }
        let ll = Profile::low_latency();
        let rmem = ll
            .sysctl_rule(&"net.core.rmem_max".parse().expect("key"))
            .expect("rmem_max");
        assert_eq!(
            rmem.want,
            Want::AtLeast("16777216".into()),
            "a floor, not a value"
        );
        assert!(
            rmem.why.contains("SO_RCVBUF"),
            "the base's reason kept: {}",
            rmem.why
        );
    }

    #[test]
    fn a_full_file_round_trips_through_toml_and_json() {
        let text = r#"
name = "edge"
base = ["low-latency", "conntrack-heavy"]
[sysctl]
"net.core.somaxconn" = 8192
"net.core.rmem_max" = ">33554432"
"net.ipv4.tcp_fin_timeout" = { at_most = "30", why = "recycle sooner" }
[why]
"net.core.somaxconn" = "bursty accepts"
[nic.eth0]
offloads = { gro = true, lro = false }
coalesce = { rx_usecs = 8 }
rings = { rx = 1024 }
channels = { combined = 4 }
rps = { "0" = "0-1" }
rss = { equal = 2 }
[conntrack]
max = 2097152
tcp_timeout_established = 3600
notrack = [{ proto = "udp", port = 5353 }]
[mptcp]
enabled = true
limits = { subflows = 2, add_addr_accepted = 2 }
endpoints = [{ addr = "10.2.0.1", flags = ["subflow"], interface = "eth1" }]
"#;
        let p = Profile::from_toml("t.toml", text).expect("parse");
        let k = |s: &str| s.parse::<Key>().expect("key");
        let rule = |s: &str| p.sysctl_rule(&k(s)).expect(s).clone();
        assert_eq!(rule("net.core.somaxconn").want, Want::Exact("8192".into()));
        assert_eq!(rule("net.core.somaxconn").why, "bursty accepts");
        assert_eq!(
            rule("net.core.rmem_max").want,
            Want::AtLeast("33554432".into())
        );
        assert_eq!(
            rule("net.ipv4.tcp_fin_timeout").want,
            Want::AtMost("30".into())
        );
        assert_eq!(
            rule("net.netfilter.nf_conntrack_max").want,
            Want::Exact("2097152".into()),
            "the file over its bases"
        );
        assert!(
            p.sysctl_rule(&k("net.netfilter.nf_conntrack_buckets"))
                .is_some(),
            "second base kept"
        );
        assert!(
            p.sysctl_rule(&k("net.ipv4.tcp_congestion_control"))
                .is_some(),
            "first base kept"
        );
        assert_eq!(p.nics().len(), 1);
        assert_eq!(p.mptcp_limits().map(|l| l.subflows), Some(2));
        assert_eq!(p.endpoints().len(), 1);
        assert_eq!(p.notrack().len(), 1);
        // Tables are keyed maps: the entries come back sorted by key.
        let sorted = |p: &Profile| {
            let mut v = p.sysctls().to_vec();
            v.sort_by(|a, b| a.key.cmp(&b.key));
            v
        };
        let again = Profile::from_toml("again", &p.to_toml()).expect("toml round trip");
        assert_eq!(sorted(&again), sorted(&p));
        assert_eq!(again.nics(), p.nics());
        let json = Profile::from_json("again.json", &p.to_json()).expect("json round trip");
        assert_eq!(sorted(&json), sorted(&p));
        assert_eq!(json.endpoints(), p.endpoints());
    }

    #[test]
    fn bad_files_say_what_and_where() {
        for (text, needle) in [
            ("[sysctl]\n\"net..x\" = 1\n", "empty component"),
            (
                "[sysctl]\n\"net.ipv4.tcp_rmem\" = \"3 2 1\"\n",
                "min <= default <= max",
            ),
            ("[conntrack]\nmaxx = 1\n", "unknown key \"maxx\""),
            (
                "[nic.eth0]\noffloads = { \"warp drive\" = true }\n",
                "warp drive",
            ),
            (
                "[nic.eth0]\noffloads = { \"*\" = false }\n",
                "not a feature name",
            ),
            ("[nic.eth0]\ncoalesce = { rx_huge = 1 }\n", "rx_huge"),
            ("[nic.eth0]\nrps = { \"0\" = \"0-99999\" }\n", "8191"),
            (
                "[mptcp]\nlimits = { subflows = 9, add_addr_accepted = 0 }\n",
                "maximum of 8",
            ),
            (
                "[mptcp]\nendpoints = [{ addr = \"10.0.0.1\", flags = [\"signal\", \"fullmesh\"] }]\n",
                "signal and fullmesh",
            ),
            ("[conntrack]\nnotrack = [{ port = 53 }]\n", "needs proto"),
            ("base = \"fast\"\n", "unknown base"),
            ("base = \"/dev/zero\"\n", "not a regular file"),
            ("[bogus]\n", "unknown field"),
            ("sysctl = [\n", "t.toml"),
            (
                "[sysctl]\n\"net.core.somaxconn\" = { value = 1, at_least = 2 }\n",
                "exactly one",
            ),
        ] {
            let e = Profile::from_toml("t.toml", text).expect_err(text);
            let chain = crate::error::report(&e);
            assert!(chain.contains(needle), "{text}: {chain}");
        }
    }
}

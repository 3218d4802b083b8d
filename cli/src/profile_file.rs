//! Profile files (TOML) and the built-in profiles.
//!
//! ```toml
//! name = "edge"
//! base = "low-latency"                      # optional: a built-in profile to start from
//!
//! [sysctl]                                  # key = value (string or number)
//! "net.core.somaxconn" = 8192
//!
//! [why]                                     # optional reasons, by key
//! "net.core.somaxconn" = "bursty accepts"
//!
//! [nic.eth0]
//! offloads = { gro = true, lro = false }    # short or kernel names
//! coalesce = { rx_usecs = 8 }
//! rings = { rx = 1024 }
//! channels = { combined = 4 }
//!
//! [conntrack]
//! max = 1048576
//! tcp_timeout_established = 3600
//!
//! [mptcp]
//! enabled = true
//! limits = { subflows = 2, add_addr_accepted = 2 }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use nettune::sysctl::{Bdp, Profile};
use serde::{Deserialize, Serialize};

/// A NIC section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NicSettings {
    #[serde(default)]
    pub(crate) offloads: BTreeMap<String, bool>,
    #[serde(default)]
    pub(crate) coalesce: BTreeMap<String, u32>,
    #[serde(default)]
    pub(crate) rings: BTreeMap<String, u32>,
    #[serde(default)]
    pub(crate) channels: BTreeMap<String, u32>,
}

/// MPTCP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsSettings {
    pub(crate) subflows: u32,
    pub(crate) add_addr_accepted: u32,
}

/// The MPTCP section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MptcpSettings {
    pub(crate) enabled: Option<bool>,
    pub(crate) limits: Option<LimitsSettings>,
}

/// A value in `[sysctl]`: text or a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Value {
    Text(String),
    Number(i64),
    Bool(bool),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Number(n) => n.to_string(),
            Self::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        }
    }
}

/// The file as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    base: Option<String>,
    #[serde(default)]
    sysctl: BTreeMap<String, Value>,
    #[serde(default)]
    why: BTreeMap<String, String>,
    #[serde(default)]
    nic: BTreeMap<String, NicSettings>,
    #[serde(default)]
    conntrack: BTreeMap<String, Value>,
    #[serde(default)]
    mptcp: MptcpSettings,
}

/// A whole profile: sysctls (sysctl-core), NIC settings per interface, MPTCP limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct CliProfile {
    pub(crate) sysctl: Profile,
    pub(crate) nic: BTreeMap<String, NicSettings>,
    pub(crate) mptcp_limits: Option<LimitsSettings>,
}

/// The names of the built-in profiles.
pub(crate) const BUILTIN: [&str; 3] = ["low-latency", "throughput", "conntrack-heavy"];

fn builtin(name: &str) -> Option<Profile> {
    match name {
        "low-latency" => Some(Profile::low_latency()),
        "throughput" => Bdp::new(10_000_000_000, Duration::from_millis(10))
            .ok()
            .map(Profile::throughput),
        "conntrack-heavy" => Profile::conntrack_heavy(1 << 20).ok(),
        _ => None,
    }
}

/// The sysctl a `[conntrack]` key stands for.
fn conntrack_key(k: &str) -> Option<&'static str> {
    Some(match k {
        "max" => "net.netfilter.nf_conntrack_max",
        "buckets" => "net.netfilter.nf_conntrack_buckets",
        "acct" => "net.netfilter.nf_conntrack_acct",
        "timestamp" => "net.netfilter.nf_conntrack_timestamp",
        "tcp_timeout_established" => "net.netfilter.nf_conntrack_tcp_timeout_established",
        "tcp_timeout_time_wait" => "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
        "udp_timeout" => "net.netfilter.nf_conntrack_udp_timeout",
        "udp_timeout_stream" => "net.netfilter.nf_conntrack_udp_timeout_stream",
        "generic_timeout" => "net.netfilter.nf_conntrack_generic_timeout",
        _ => return None,
    })
}

/// Loads a built-in profile by name, or a TOML file.
pub(crate) fn load(name_or_file: &str) -> Result<CliProfile, String> {
    if let Some(p) = builtin(name_or_file) {
        return Ok(CliProfile {
            sysctl: p,
            ..CliProfile::default()
        });
    }
    let path = Path::new(name_or_file);
    if !path.exists() {
        return Err(format!(
            "no built-in profile or file {name_or_file:?}; built-in profiles: {}",
            BUILTIN.join(", ")
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name_or_file}: {e}"))?;
    parse(name_or_file, &text)
}

/// Parses a TOML profile.
pub(crate) fn parse(file: &str, text: &str) -> Result<CliProfile, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let mut sysctl = match &raw.base {
        None => Profile::new(raw.name.as_deref().unwrap_or(file)),
        Some(b) => builtin(b).ok_or_else(|| {
            format!(
                "{file}: unknown base profile {b:?}; built-in: {}",
                BUILTIN.join(", ")
            )
        })?,
    };
    let why_of = |k: &str| {
        raw.why
            .get(k)
            .cloned()
            .unwrap_or_else(|| format!("set by {file}"))
    };
    let mut overrides = Profile::new(raw.name.as_deref().unwrap_or(file));
    for (k, v) in &raw.sysctl {
        overrides
            .set(k, &v.text(), &why_of(k))
            .map_err(|e| format!("{file}: [sysctl] {k}: {e}"))?;
    }
    for (k, v) in &raw.conntrack {
        let key =
            conntrack_key(k).ok_or_else(|| format!("{file}: [conntrack] unknown key {k:?}"))?;
        overrides
            .set(key, &v.text(), &why_of(key))
            .map_err(|e| format!("{file}: [conntrack] {k}: {e}"))?;
    }
    if let Some(e) = raw.mptcp.enabled {
        overrides
            .set(
                "net.mptcp.enabled",
                if e { "1" } else { "0" },
                &why_of("net.mptcp.enabled"),
            )
            .map_err(|e| format!("{file}: [mptcp] enabled: {e}"))?;
    }
    for (iface, n) in &raw.nic {
        nettune::nic::IfName::new(iface).map_err(|e| format!("{file}: [nic.{iface}]: {e}"))?;
        for name in n.offloads.keys() {
            name.parse::<nettune::nic::Offload>()
                .map_err(|e| format!("{file}: [nic.{iface}] offload {name}: {e}"))?;
        }
        let mut c = nettune::nic::CoalesceUpdate::new();
        for (f, v) in &n.coalesce {
            c.set(f, *v)
                .map_err(|e| format!("{file}: [nic.{iface}] coalesce: {e}"))?;
        }
        let mut r = nettune::nic::RingsUpdate::new();
        for (f, v) in &n.rings {
            r.set(f, *v)
                .map_err(|e| format!("{file}: [nic.{iface}] rings: {e}"))?;
        }
        let mut ch = nettune::nic::ChannelsUpdate::new();
        for (f, v) in &n.channels {
            ch.set(f, *v)
                .map_err(|e| format!("{file}: [nic.{iface}] channels: {e}"))?;
        }
    }
    if let Some(l) = raw.mptcp.limits {
        if l.subflows > 8 || l.add_addr_accepted > 8 {
            return Err(format!(
                "{file}: [mptcp] limits above the kernel's maximum of 8"
            ));
        }
    }
    sysctl = sysctl.with(&overrides);
    Ok(CliProfile {
        sysctl,
        nic: raw.nic,
        mptcp_limits: raw.mptcp.limits,
    })
}

/// A profile as TOML, loadable again.
pub(crate) fn to_toml(p: &CliProfile) -> String {
    let mut raw = RawFile {
        name: Some(p.sysctl.name().to_owned()),
        ..RawFile::default()
    };
    for e in p.sysctl.entries() {
        raw.sysctl
            .insert(e.key().to_string(), Value::Text(e.value().to_owned()));
        raw.why.insert(e.key().to_string(), e.why().to_owned());
    }
    raw.nic = p.nic.clone();
    raw.mptcp.limits = p.mptcp_limits;
    toml::to_string(&raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_a_full_file() {
        let p = parse(
            "t.toml",
            r#"
name = "edge"
base = "low-latency"
[sysctl]
"net.core.somaxconn" = 8192
[why]
"net.core.somaxconn" = "bursty accepts"
[nic.eth0]
offloads = { gro = true, lro = false }
coalesce = { rx_usecs = 8 }
[conntrack]
max = 1048576
[mptcp]
enabled = true
limits = { subflows = 2, add_addr_accepted = 2 }
"#,
        )
        .expect("parse");
        let key: nettune::sysctl::Key = "net.core.somaxconn".parse().expect("key");
        assert_eq!(
            p.sysctl.get(&key).map(|e| (e.value(), e.why())),
            Some(("8192", "bursty accepts"))
        );
        assert!(
            p.sysctl
                .get(&"net.ipv4.tcp_congestion_control".parse().expect("key"))
                .is_some(),
            "base kept"
        );
        assert!(p.nic["eth0"].offloads["gro"]);
        assert_eq!(p.mptcp_limits.map(|l| l.subflows), Some(2));
        let again = parse("again.toml", &to_toml(&p)).expect("round trip");
        assert_eq!(again.sysctl.entries().len(), p.sysctl.entries().len());
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
            ("[nic.eth0]\ncoalesce = { rx_huge = 1 }\n", "rx_huge"),
            (
                "[mptcp]\nlimits = { subflows = 9, add_addr_accepted = 0 }\n",
                "maximum of 8",
            ),
            ("base = \"fast\"\n", "unknown base profile"),
            ("[bogus]\n", "unknown field"),
            ("sysctl = [\n", "t.toml"),
        ] {
            let e = parse("t.toml", text).expect_err(text);
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}

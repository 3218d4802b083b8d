//! Rendering a [`Profile`] for the engines fleets already run, and reading their files
//! back as profiles. Every item a format cannot express is reported in
//! [`Rendered::unexpressed`], item by item, never dropped silently.
//!
//! | format | file | what it carries |
//! |---|---|---|
//! | [`Format::SysctlD`] | a `sysctl.d` file (sysctl.d(5)) | exact sysctl values |
//! | [`Format::Tuned`] | `tuned.conf` (tuned.conf(5)) | `[sysctl]` with `>`/`<` bounds on one integer, `[net]` units per interface: `features`, `coalesce`, `ring`, `channels` |
//! | [`Format::K8sPod`] | a Kubernetes Pod with `securityContext.sysctls` | the namespaced sysctls on the kubelet's safe list for the target version, as exact values |
//!
//! ```no_run
//! use nettune::render::{Format, RenderOptions};
//! let out = nettune::Profile::low_latency().render(Format::Tuned, &RenderOptions::default())?;
//! print!("{}", out.text);
//! for u in &out.unexpressed {
//!     eprintln!("not in tuned.conf: {}: {}", u.item, u.why);
//! }
//! # Ok::<(), nettune::Error>(())
//! ```

use std::fmt::Write as _;

use nettune_sysctl::Key;
use nettune_sysctl::knobs::{self, Scope};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::profile::{NicProfile, Profile, SysctlRule, Want};

/// A target format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A `sysctl.d` file.
    SysctlD,
    /// A tuned profile (`tuned.conf`).
    Tuned,
    /// A Kubernetes Pod whose `securityContext.sysctls` sets what a pod may set.
    K8sPod,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sysctl.d" | "sysctl-d" => Ok(Self::SysctlD),
            "tuned" => Ok(Self::Tuned),
            "k8s-pod" | "kubernetes-pod" => Ok(Self::K8sPod),
            other => Err(Error::profile(
                "render",
                format!("unknown format {other:?}: sysctl.d, tuned or k8s-pod"),
            )),
        }
    }
}

/// How to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The Kubernetes minor version whose kubelet safe list applies ([`Format::K8sPod`]).
    pub kubernetes_minor: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            kubernetes_minor: 37,
        }
    }
}

/// An item a format could not carry, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unexpressed {
    /// The item (`net.core.rmem_max`, `nic eth0 rps`, `mptcp limits`).
    pub item: String,
    /// Why, and where it can go instead.
    pub why: String,
}

/// A rendered profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// The format.
    pub format: Format,
    /// The file's text.
    pub text: String,
    /// What the format could not carry.
    pub unexpressed: Vec<Unexpressed>,
}

/// The sysctls the kubelet allows a pod to set without `allowedUnsafeSysctls`, with the
/// Kubernetes minor version since which Pod Security admission's baseline allows them
/// (pkg/kubelet/sysctl/safe_sysctls.go).
pub const K8S_SAFE_SYSCTLS: [(&str, u32); 12] = [
    ("kernel.shm_rmid_forced", 0),
    ("net.ipv4.ip_local_port_range", 0),
    ("net.ipv4.tcp_syncookies", 0),
    ("net.ipv4.ping_group_range", 18),
    ("net.ipv4.ip_unprivileged_port_start", 22),
    ("net.ipv4.ip_local_reserved_ports", 27),
    ("net.ipv4.tcp_keepalive_time", 29),
    ("net.ipv4.tcp_fin_timeout", 29),
    ("net.ipv4.tcp_keepalive_intvl", 29),
    ("net.ipv4.tcp_keepalive_probes", 29),
    ("net.ipv4.tcp_rmem", 32),
    ("net.ipv4.tcp_wmem", 32),
];

fn unexpressed(out: &mut Vec<Unexpressed>, item: impl Into<String>, why: impl Into<String>) {
    out.push(Unexpressed {
        item: item.into(),
        why: why.into(),
    });
}

/// What no file format here carries: MPTCP, NOTRACK and steering.
fn common_unexpressed(p: &Profile, out: &mut Vec<Unexpressed>, format: &str) {
    if p.mptcp_limits().is_some() {
        unexpressed(
            out,
            "mptcp limits",
            format!("{format} has no MPTCP path manager settings: nettune apply sets them"),
        );
    }
    for e in p.endpoints() {
        unexpressed(
            out,
            format!("mptcp endpoint {}", e.addr),
            format!("{format} has no MPTCP endpoints: nettune apply adds them"),
        );
    }
    if !p.notrack().is_empty() {
        unexpressed(
            out,
            "conntrack notrack",
            format!("{format} has no nftables rules: nettune apply installs them"),
        );
    }
}

impl Profile {
    /// Renders the profile as `format`.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] when the profile holds nothing the format can carry.
    pub fn render(&self, format: Format, options: &RenderOptions) -> Result<Rendered> {
        let mut un = Vec::new();
        let text = match format {
            Format::SysctlD => render_sysctl_d(self, &mut un)?,
            Format::Tuned => render_tuned(self, &mut un),
            Format::K8sPod => render_pod(self, options, &mut un),
        };
        let Some(text) = text else {
            return Err(Error::profile(
                self.name(),
                format!(
                    "nothing in it can be written as {format:?}: {}",
                    un.iter()
                        .map(|u| format!("{} ({})", u.item, u.why))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ));
        };
        Ok(Rendered {
            format,
            text,
            unexpressed: un,
        })
    }

    /// Reads a tuned profile (`tuned.conf`) as a profile: `[sysctl]` (values, and `>`/`<`
    /// bounds), and `[net]`-type units naming one device (`devices=eth0`) with
    /// `features`, `coalesce`, `ring` and `channels`. What a profile cannot hold (other
    /// plugins, `include`, device globs) is refused, naming the line, rather than lost.
    ///
    /// # Errors
    ///
    /// [`Error::Profile`] naming the first line it cannot read.
    pub fn from_tuned(name: &str, text: &str) -> Result<Self> {
        let mut p = Self::new(name);
        let bad =
            |n: usize, why: String| Error::profile(name, format!("tuned.conf line {n}: {why}"));
        let mut section = String::new();
        let mut net: std::collections::BTreeMap<String, Vec<(String, String, usize)>> =
            std::collections::BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.trim().to_owned();
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(bad(n, format!("{line:?} is not KEY=VALUE")));
            };
            let (k, v) = (k.trim(), v.trim());
            match section.as_str() {
                "main" if k == "summary" => {}
                "main" => {
                    return Err(bad(
                        n,
                        format!("[main] {k} is not read (include and the rest)"),
                    ));
                }
                "sysctl" => {
                    let key = Key::new(k).map_err(|e| bad(n, crate::error::report(&e)))?;
                    let (want, value) = match (v.strip_prefix('>'), v.strip_prefix('<')) {
                        (Some(x), _) => (Want::AtLeast(x.to_owned()), x),
                        (_, Some(x)) => (Want::AtMost(x.to_owned()), x),
                        _ => (Want::Exact(v.to_owned()), v),
                    };
                    let canonical = knobs::canonical(&key, value)
                        .map_err(|e| bad(n, format!("{k}: {}", e.reason())))?;
                    let want = match want {
                        Want::Exact(_) => Want::Exact(canonical),
                        Want::AtLeast(_) => Want::AtLeast(canonical),
                        Want::AtMost(_) => Want::AtMost(canonical),
                    };
                    p.push_sysctl(SysctlRule {
                        key,
                        want,
                        why: format!("tuned profile {name}"),
                        optional: false,
                    });
                }
                "" => return Err(bad(n, "a line before any section".into())),
                unit => {
                    net.entry(unit.to_owned())
                        .or_default()
                        .push((k.to_owned(), v.to_owned(), n))
                }
            }
        }
        for (unit, lines) in net {
            let get = |key: &str| lines.iter().find(|(k, _, _)| k == key);
            let ty = get("type").map_or(unit.as_str(), |(_, v, _)| v.as_str());
            if ty != "net" {
                let n = lines.first().map_or(0, |l| l.2);
                return Err(bad(
                    n,
                    format!("[{unit}] is a {ty} unit, which a profile does not hold"),
                ));
            }
            let Some((_, dev, dn)) = get("devices") else {
                let n = lines.first().map_or(0, |l| l.2);
                return Err(bad(n, format!("[{unit}] names no device (devices=IFACE)")));
            };
            let iface = crate::nic::IfName::new(dev)
                .map_err(|e| bad(*dn, format!("devices={dev}: {}", crate::error::report(&e))))?;
            let mut nic = NicProfile::default();
            for (k, v, n) in &lines {
                let pairs = |v: &str| -> Result<Vec<(String, String)>> {
                    let f: Vec<&str> = v.split_whitespace().collect();
                    if f.len() % 2 != 0 {
                        return Err(bad(*n, format!("{k}={v}: not NAME VALUE pairs")));
                    }
                    Ok(f.chunks(2)
                        .map(|c| (c[0].to_owned(), c[1].to_owned()))
                        .collect())
                };
                let num = |name: &str, val: &str| -> Result<u32> {
                    val.parse()
                        .map_err(|_| bad(*n, format!("{k}: {name} {val} is not a number")))
                };
                match k.as_str() {
                    "type" | "devices" => {}
                    "features" => {
                        for (f, state) in pairs(v)? {
                            let on = match state.as_str() {
                                "on" => true,
                                "off" => false,
                                s => return Err(bad(*n, format!("features: {f} {s}: on or off"))),
                            };
                            nic.offloads.insert(f, on);
                        }
                    }
                    "coalesce" => {
                        for (f, val) in pairs(v)? {
                            let value = match val.as_str() {
                                "on" => 1,
                                "off" => 0,
                                _ => num(&f, &val)?,
                            };
                            nic.coalesce.insert(ethtool_to_field(&f), value);
                        }
                    }
                    "ring" => {
                        for (f, val) in pairs(v)? {
                            nic.rings.insert(ethtool_to_field(&f), num(&f, &val)?);
                        }
                    }
                    "channels" => {
                        for (f, val) in pairs(v)? {
                            nic.channels.insert(f.clone(), num(&f, &val)?);
                        }
                    }
                    other => {
                        return Err(bad(*n, format!("[{unit}] {other} is not read")));
                    }
                }
            }
            p.set_nic(iface, nic)?;
        }
        Ok(p)
    }
}

/// `rx_usecs` as ethtool (and tuned) write it: `rx-usecs`; `use_adaptive_rx` is
/// `adaptive-rx`.
fn field_to_ethtool(f: &str) -> String {
    match f {
        "use_adaptive_rx" => "adaptive-rx".into(),
        "use_adaptive_tx" => "adaptive-tx".into(),
        other => other.replace('_', "-"),
    }
}

fn ethtool_to_field(f: &str) -> String {
    match f {
        "adaptive-rx" => "use_adaptive_rx".into(),
        "adaptive-tx" => "use_adaptive_tx".into(),
        other => other.replace('-', "_"),
    }
}

/// A sysctl.d file: every sysctl with its reason as a comment; a bound is written as its
/// value (sysctl.d has no bounds), said in the comment and reported.
fn render_sysctl_d(p: &Profile, un: &mut Vec<Unexpressed>) -> Result<Option<String>> {
    let mut file = nettune_sysctl::Profile::new(p.name());
    for r in p.sysctls() {
        let (v, bound) = match &r.want {
            Want::Exact(v) => (v, None),
            Want::AtLeast(v) => (v, Some("at least")),
            Want::AtMost(v) => (v, Some("at most")),
        };
        let why = match bound {
            None => r.why.clone(),
            Some(how) => {
                unexpressed(
                    un,
                    r.key.to_string(),
                    format!(
                        "sysctl.d has no bounds: written as {v}, where the profile wants {how} {v}"
                    ),
                );
                format!(
                    "{}\nthe profile wants {how} {v}; sysctl.d has no bounds, so this sets it",
                    r.why
                )
            }
        };
        file.push(nettune_sysctl::ProfileEntry::new(
            r.key.clone(),
            v,
            why.trim(),
        )?);
    }
    for iface in p.nics().keys() {
        unexpressed(
            un,
            format!("nic {iface}"),
            "sysctl.d has no NIC settings: nettune apply sets them",
        );
    }
    common_unexpressed(p, un, "sysctl.d");
    if p.sysctls().is_empty() {
        return Ok(None);
    }
    Ok(Some(file.to_sysctl_d()?))
}

fn render_tuned(p: &Profile, un: &mut Vec<Unexpressed>) -> Option<String> {
    let mut text = format!(
        "# rendered by nettune from profile {}\n[main]\nsummary={}\n",
        p.name(),
        p.name()
    );
    let mut sysctl = String::new();
    for r in p.sysctls() {
        let line = match &r.want {
            Want::Exact(v) => Some(format!("{}={v}", r.key)),
            // tuned compares one integer (`>N`, `<N`); a vector bound is not expressible.
            Want::AtLeast(v) | Want::AtMost(v) if v.parse::<i64>().is_ok() => {
                Some(format!("{}={}", r.key, r.want))
            }
            other => {
                unexpressed(
                    un,
                    r.key.to_string(),
                    format!("tuned's > and < compare one integer; {other} bounds each field"),
                );
                None
            }
        };
        if let Some(l) = line {
            let _ = writeln!(sysctl, "{l}");
        }
    }
    let mut any = !sysctl.is_empty();
    if any {
        let _ = write!(text, "\n[sysctl]\n{sysctl}");
    }
    for (iface, n) in p.nics() {
        let mut unit = String::new();
        let join = |m: Vec<(String, String)>| {
            m.into_iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        if !n.offloads.is_empty() {
            let f = n
                .offloads
                .iter()
                .map(|(k, on)| (k.clone(), if *on { "on" } else { "off" }.to_owned()))
                .collect();
            let _ = writeln!(unit, "features={}", join(f));
        }
        for (key, m) in [("coalesce", &n.coalesce), ("ring", &n.rings)] {
            if !m.is_empty() {
                let f = m
                    .iter()
                    .map(|(k, v)| (field_to_ethtool(k), v.to_string()))
                    .collect();
                let _ = writeln!(unit, "{key}={}", join(f));
            }
        }
        if !n.channels.is_empty() {
            let f = n
                .channels
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            let _ = writeln!(unit, "channels={}", join(f));
        }
        for (what, set) in [
            ("rps", !n.rps.is_empty()),
            ("xps", !n.xps.is_empty()),
            ("rss", n.rss.is_some()),
        ] {
            if set {
                unexpressed(
                    un,
                    format!("nic {iface} {what}"),
                    "tuned's [net] plugin has no key for it: nettune apply sets it",
                );
            }
        }
        if !unit.is_empty() {
            let _ = write!(text, "\n[net_{iface}]\ntype=net\ndevices={iface}\n{unit}");
            any = true;
        }
    }
    common_unexpressed(p, un, "tuned");
    any.then_some(text)
}

fn render_pod(p: &Profile, o: &RenderOptions, un: &mut Vec<Unexpressed>) -> Option<String> {
    let mut sysctls = String::new();
    for r in p.sysctls() {
        let key = r.key.to_string();
        let safe = K8S_SAFE_SYSCTLS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, since)| *since);
        let scope = knobs::info(&r.key).map(|k| k.scope);
        match (&r.want, safe) {
            (Want::Exact(v), Some(since)) if since <= o.kubernetes_minor => {
                let _ = write!(
                    sysctls,
                    "\n      - name: {key}\n        value: \"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                );
            }
            (Want::Exact(_), Some(since)) => unexpressed(
                un,
                key,
                format!(
                    "safe for pods from Kubernetes 1.{since}, not 1.{}: allowedUnsafeSysctls on the kubelet, or nettune agent",
                    o.kubernetes_minor
                ),
            ),
            (Want::Exact(_), None) if scope.is_some_and(|s| s != Scope::PerNamespace) => {
                unexpressed(
                    un,
                    key,
                    "not set per pod: the node's own value (nettune agent, or the host's sysctl.d)",
                )
            }
            (Want::Exact(_), None) => unexpressed(
                un,
                key,
                "namespaced but not on the kubelet's safe list: allowedUnsafeSysctls on the kubelet, or nettune agent",
            ),
            (other, _) => unexpressed(un, key, format!("a pod sets values, not bounds ({other})")),
        }
    }
    for iface in p.nics().keys() {
        unexpressed(
            un,
            format!("nic {iface}"),
            "a pod has no NIC settings: nettune agent on the node",
        );
    }
    common_unexpressed(p, un, "a pod");
    if sysctls.is_empty() {
        return None;
    }
    let name: String = p
        .name()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    let name = if name.is_empty() { "nettune" } else { name };
    Some(format!(
        "# rendered by nettune from profile {}: copy spec.securityContext.sysctls into your pod\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  securityContext:\n    sysctls:{sysctls}\n  \
         containers:\n    - name: app\n      image: registry.k8s.io/pause:3.10\n",
        p.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile::from_toml(
            "edge",
            "[sysctl]\n\"net.core.somaxconn\" = 4096\n\"net.core.rmem_max\" = \">33554432\"\n\
             \"net.ipv4.tcp_rmem\" = \">4096 131072 16777216\"\n\"net.ipv4.tcp_keepalive_time\" = 60\n\
             \"net.ipv4.tcp_fin_timeout\" = 15\n\
             [nic.eth0]\noffloads = { gro = true, lro = false }\ncoalesce = { rx_usecs = 8, use_adaptive_rx = 0 }\n\
             rings = { rx = 1024 }\nrps = { \"0\" = \"0-1\" }\n\
             [mptcp]\nlimits = { subflows = 2, add_addr_accepted = 2 }\n",
        )
        .expect("profile")
    }

    #[test]
    fn tuned_renders_and_reads_back_what_it_can_and_names_the_rest() {
        let r = profile()
            .render(Format::Tuned, &RenderOptions::default())
            .expect("render");
        assert!(r.text.contains("net.core.somaxconn=4096\n"), "{}", r.text);
        assert!(
            r.text.contains("net.core.rmem_max=>33554432\n"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("[net_eth0]\ntype=net\ndevices=eth0\n"),
            "{}",
            r.text
        );
        assert!(r.text.contains("features=gro on lro off\n"), "{}", r.text);
        assert!(
            r.text.contains("coalesce=rx-usecs 8 adaptive-rx 0\n"),
            "{}",
            r.text
        );
        assert!(r.text.contains("ring=rx 1024\n"), "{}", r.text);
        let items: Vec<&str> = r.unexpressed.iter().map(|u| u.item.as_str()).collect();
        assert_eq!(items, ["net.ipv4.tcp_rmem", "nic eth0 rps", "mptcp limits"]);
        // Read back: the same sysctls (minus the vector bound) and the same NIC settings.
        let back = Profile::from_tuned("edge", &r.text).expect("read back");
        let want: Vec<_> = profile()
            .sysctls()
            .iter()
            .filter(|s| s.key.to_string() != "net.ipv4.tcp_rmem")
            .map(|s| (s.key.clone(), s.want.clone()))
            .collect();
        let got: Vec<_> = back
            .sysctls()
            .iter()
            .map(|s| (s.key.clone(), s.want.clone()))
            .collect();
        assert_eq!(got, want);
        let nic = &back.nics()[&crate::nic::IfName::new("eth0").expect("name")];
        let p = profile();
        let orig = &p.nics()[&crate::nic::IfName::new("eth0").expect("name")];
        assert_eq!(nic.offloads, orig.offloads);
        assert_eq!(nic.coalesce, orig.coalesce);
        assert_eq!(nic.rings, orig.rings);
    }

    #[test]
    fn tuned_lines_a_profile_cannot_hold_are_refused_by_line() {
        for (text, line) in [
            ("[main]\ninclude=throughput-performance\n", "line 2"),
            ("[cpu]\ngovernor=performance\n", "line 2"),
            (
                "[sysctl]\nnet.ipv4.tcp_rmem=4096 1 2\n",
                "line 2: net.ipv4.tcp_rmem",
            ),
            (
                "[sysctl]\nnet.ipv4.tcp_rmem=4096 87380 6291456\nnet.core.somaxconn=many\n",
                "line 3",
            ),
            ("[eth]\ntype=net\ndevices=eth0\nfeatures=gro\n", "line 4"),
            ("[eth]\ntype=net\nfeatures=gro on\n", "names no device"),
            ("net.core.somaxconn=1\n", "line 1"),
        ] {
            let e = Profile::from_tuned("t", text).expect_err(text).to_string();
            assert!(e.contains(line), "{text}: {e}");
        }
    }

    #[test]
    fn a_pod_carries_the_safe_sysctls_of_its_kubernetes_version() {
        // Before 1.29 none of these was safe for a pod: nothing to render, and why.
        let e = profile()
            .render(
                Format::K8sPod,
                &RenderOptions {
                    kubernetes_minor: 28,
                },
            )
            .expect_err("nothing safe in 1.28")
            .to_string();
        assert!(
            e.contains("safe for pods from Kubernetes 1.29, not 1.28"),
            "{e}"
        );
        let r = profile()
            .render(Format::K8sPod, &RenderOptions::default())
            .expect("render");
        assert!(
            r.text
                .contains("- name: net.ipv4.tcp_keepalive_time\n        value: \"60\""),
            "{}",
            r.text
        );
        let why = |item: &str| {
            r.unexpressed
                .iter()
                .find(|u| u.item == item)
                .map(|u| u.why.clone())
                .unwrap_or_else(|| panic!("{item} not reported"))
        };
        assert!(why("net.core.somaxconn").contains("allowedUnsafeSysctls"));
        assert!(why("net.core.rmem_max").contains("bounds"));
        assert!(why("nic eth0").contains("node"));
        assert!(
            Profile::new("x")
                .render(Format::K8sPod, &RenderOptions::default())
                .is_err()
        );
        assert!("yaml".parse::<Format>().is_err());
    }
}

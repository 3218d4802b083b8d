//! Rendering a [`Profile`] for the engines fleets already run, and reading their files
//! back as profiles. Every item a format cannot express is reported in
//! [`Rendered::unexpressed`], item by item, never dropped silently.
//!
//! | format | file | what it carries |
//! |---|---|---|
//! | [`Format::SysctlD`] | a `sysctl.d` file (sysctl.d(5)) | exact sysctl values |
//! | [`Format::Tuned`] | `tuned.conf` (tuned.conf(5)) | `[sysctl]` with `>`/`<` bounds on one integer, `[net]` units per interface: `features`, `coalesce`, `ring`, `channels` |
//! | [`Format::K8sPod`] | a Kubernetes Pod with `securityContext.sysctls` | the namespaced sysctls on the kubelet's safe list for the target version, as exact values |
//! | [`Format::SystemdLink`] | one `10-nettune-IFACE.link` per interface (systemd.link(5)) | offloads with a systemd key, channels, rings, coalescing (systemd 250+); udev applies them when the device appears, in the host's namespace |
//! | [`Format::Ansible`] | a task list for `import_tasks` | every exact sysctl as `ansible.posix.sysctl`; the rest (bounds, NICs, MPTCP, NOTRACK) as a profile file and a `nettune apply` step, changed only when it changed something |
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
    /// systemd `.link` files (systemd.link(5)), one per interface, matched by
    /// `OriginalName=`: offloads, channels, rings and coalescing, applied by udev when the
    /// device appears (so for devices of the host's namespace only).
    SystemdLink,
    /// An Ansible task list: `ansible.posix.sysctl` for each exact sysctl, and a
    /// `nettune apply` step for what that module cannot express (bounds, NICs, MPTCP,
    /// NOTRACK), changed only when it changed something.
    Ansible,
    /// NetworkManager keyfile `[ethtool]` sections (nm-settings-keyfile(5)), one per
    /// interface, to add to the keyfile of the connection that interface uses: offloads,
    /// rings, coalescing, and channels from NetworkManager 1.46.
    NetworkManager,
    /// An OpenShift Node Tuning Operator `Tuned` resource (`tuned.openshift.io/v1`): the
    /// tuned profile (over `openshift-node`) and a `recommend` rule for the nodes the
    /// profile's `[match]` names by host name.
    OpenShiftTuned,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sysctl.d" | "sysctl-d" => Ok(Self::SysctlD),
            "tuned" => Ok(Self::Tuned),
            "k8s-pod" | "kubernetes-pod" => Ok(Self::K8sPod),
            "systemd-link" | "link" => Ok(Self::SystemdLink),
            "ansible" => Ok(Self::Ansible),
            "networkmanager" | "nm" => Ok(Self::NetworkManager),
            "openshift-tuned" | "tuned-cr" => Ok(Self::OpenShiftTuned),
            other => Err(Error::profile(
                "render",
                format!(
                    "unknown format {other:?}: sysctl.d, tuned, k8s-pod, systemd-link, ansible, networkmanager or openshift-tuned"
                ),
            )),
        }
    }
}

/// How to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The Kubernetes minor version whose kubelet safe list applies ([`Format::K8sPod`]).
    pub kubernetes_minor: u32,
    /// The NetworkManager 1.x minor version the keyfile is for
    /// ([`Format::NetworkManager`]): channels need 1.46.
    pub networkmanager_minor: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            kubernetes_minor: 37,
            networkmanager_minor: 42,
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
    /// The text: the one file, or for a format of several files each after a
    /// `# file: NAME` line.
    pub text: String,
    /// The files, each with the name it is meant to have (`90-nettune-NAME.conf`,
    /// `10-nettune-eth0.link`, ...).
    pub files: Vec<RenderedFile>,
    /// What the format could not carry.
    pub unexpressed: Vec<Unexpressed>,
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedFile {
    /// Its file name, without a directory.
    pub name: String,
    /// Its text.
    pub text: String,
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

/// An interface's RPS, XPS and RSS settings, which neither tuned nor systemd.link carry.
fn queue_maps_unexpressed(
    un: &mut Vec<Unexpressed>,
    iface: impl std::fmt::Display,
    n: &NicProfile,
    why: &str,
) {
    for (what, set) in [
        ("rps", !n.rps.is_empty()),
        ("xps", !n.xps.is_empty()),
        ("rss", n.rss.is_some()),
    ] {
        if set {
            unexpressed(un, format!("nic {iface} {what}"), why);
        }
    }
}

/// What no file format here carries: the hosts a profile is for, MPTCP, NOTRACK and
/// steering.
fn common_unexpressed(p: &Profile, out: &mut Vec<Unexpressed>, format: &str) {
    if let Some(m) = p.host_match() {
        unexpressed(
            out,
            "match",
            format!(
                "{format} applies wherever it is installed: the profile is for hosts with {m}; ship it to those only (nettune apply checks the match)"
            ),
        );
    }
    unexpressed_beyond_match(p, out, format);
}

/// [`common_unexpressed`] but for the hosts a profile is for (a format that matches hosts
/// reports what of the match it cannot carry itself).
fn unexpressed_beyond_match(p: &Profile, out: &mut Vec<Unexpressed>, format: &str) {
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
        let slug = slug(self.name());
        let one =
            |name: String, text: Option<String>| text.map(|text| vec![RenderedFile { name, text }]);
        let files = match format {
            Format::SysctlD => one(
                format!("90-nettune-{slug}.conf"),
                render_sysctl_d(self, &mut un)?,
            ),
            Format::Tuned => one("tuned.conf".into(), render_tuned(self, &mut un)),
            Format::K8sPod => one(
                format!("{slug}-pod.yaml"),
                render_pod(self, options, &mut un),
            ),
            Format::SystemdLink => render_link(self, &mut un),
            Format::Ansible => one(format!("nettune-{slug}.yml"), render_ansible(self, &slug)),
            Format::NetworkManager => render_networkmanager(self, options, &mut un),
            Format::OpenShiftTuned => one(
                format!("{slug}-tuned.yaml"),
                render_openshift_tuned(self, &slug, &mut un),
            ),
        };
        let Some(files) = files else {
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
        let text = match files.as_slice() {
            [one] => one.text.clone(),
            many => many
                .iter()
                .map(|f| format!("# file: {}\n{}", f.name, f.text))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        Ok(Rendered {
            format,
            text,
            files,
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
    let text = render_tuned_units(p, un)?;
    common_unexpressed(p, un, "tuned");
    Some(text)
}

/// The `tuned.conf` text (`None` when nothing in the profile goes into one), reporting
/// what tuned's units cannot carry.
fn render_tuned_units(p: &Profile, un: &mut Vec<Unexpressed>) -> Option<String> {
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
        queue_maps_unexpressed(
            un,
            iface,
            n,
            "tuned's [net] plugin has no key for it: nettune apply sets it",
        );
        if !unit.is_empty() {
            let _ = write!(text, "\n[net_{iface}]\ntype=net\ndevices={iface}\n{unit}");
            any = true;
        }
    }
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
    let name = slug(p.name());
    Some(format!(
        "# rendered by nettune from profile {}: copy spec.securityContext.sysctls into your pod\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  securityContext:\n    sysctls:{sysctls}\n  \
         containers:\n    - name: app\n      image: registry.k8s.io/pause:3.10\n",
        p.name()
    ))
}

/// The Node Tuning Operator's namespace, where it reads `Tuned` resources.
const NTO_NAMESPACE: &str = "openshift-cluster-node-tuning-operator";

/// A `Tuned` resource: the tuned profile (including `openshift-node`, the operator's own,
/// so the platform's tuning stays), recommended at priority 20 (before the default's 40).
/// A profile without `[match]` is recommended for every node; one whose match is exact
/// host names, for those nodes (the `kubernetes.io/hostname` label). Any other condition
/// (a pattern, the kernel, a driver, an interface) has no node label to match: the rule
/// then matches the label `nettune.io/profile=NAME` instead, never every node, and each
/// condition is reported with the nodes to label.
fn render_openshift_tuned(p: &Profile, slug: &str, un: &mut Vec<Unexpressed>) -> Option<String> {
    let format = "the OpenShift Tuned resource";
    let conf = render_tuned_units(p, un)?;
    unexpressed_beyond_match(p, un, format);
    let conf = conf.replacen("[main]\n", "[main]\ninclude=openshift-node\n", 1);
    let name = format!("nettune-{slug}");
    let label = |l: &str, v: &str| {
        format!(
            "\n        - label: {l}\n          value: {}\n          type: node",
            yaml_str(v)
        )
    };
    let matches = match p.host_match() {
        None => String::new(),
        Some(m) => {
            let mut inexpressible = Vec::new();
            for h in m.hostname.iter().filter(|h| h.contains(['*', '?'])) {
                inexpressible.push(format!("match hostname {h}"));
            }
            for (what, values) in [
                ("kernel", &m.kernel),
                ("driver", &m.driver),
                ("interface", &m.interface),
            ] {
                for v in values {
                    inexpressible.push(format!("match {what} {v}"));
                }
            }
            if inexpressible.is_empty() {
                m.hostname
                    .iter()
                    .map(|h| label("kubernetes.io/hostname", h))
                    .collect()
            } else {
                for item in inexpressible {
                    unexpressed(
                        un,
                        item,
                        format!(
                            "a Tuned rule matches node labels only: it matches nettune.io/profile={name}; label the nodes where the profile's match holds"
                        ),
                    );
                }
                label("nettune.io/profile", &name)
            }
        }
    };
    let data: String = conf
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_owned()
            } else {
                format!("\n        {l}")
            }
        })
        .collect();
    let matches = if matches.is_empty() {
        String::new()
    } else {
        format!("\n      match:{matches}")
    };
    Some(format!(
        "# rendered by nettune from profile {}\n\
         apiVersion: tuned.openshift.io/v1\nkind: Tuned\nmetadata:\n  name: {name}\n  namespace: {NTO_NAMESPACE}\n\
         spec:\n  profile:\n    - name: {name}\n      data: |{data}\n  recommend:\n    - profile: {name}\n      priority: 20{matches}\n",
        p.name()
    ))
}

/// A profile's name as a DNS label and file-name part: lower case, `-` for the rest.
fn slug(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() {
        "nettune".into()
    } else {
        s.into()
    }
}

/// systemd.link(5) `[Link]` keys for offloads, by ethtool short name and kernel feature
/// name.
const LINK_OFFLOADS: [(&[&str], &str); 13] = [
    (&["rx", "rx-checksum"], "ReceiveChecksumOffload"),
    (&["tx", "tx-checksumming"], "TransmitChecksumOffload"),
    (&["tso", "tx-tcp-segmentation"], "TCPSegmentationOffload"),
    (&["tx-tcp6-segmentation"], "TCP6SegmentationOffload"),
    (
        &["gso", "tx-generic-segmentation"],
        "GenericSegmentationOffload",
    ),
    (&["gro", "rx-gro"], "GenericReceiveOffload"),
    (&["rx-gro-hw"], "GenericReceiveOffloadHardware"),
    (&["lro", "rx-lro"], "LargeReceiveOffload"),
    (
        &["rxvlan", "rx-vlan-hw-parse"],
        "ReceiveVLANCTAGHardwareAcceleration",
    ),
    (
        &["txvlan", "tx-vlan-hw-insert"],
        "TransmitVLANCTAGHardwareAcceleration",
    ),
    (&["rx-vlan-filter"], "ReceiveVLANCTAGFilter"),
    (
        &["tx-vlan-stag-hw-insert"],
        "TransmitVLANSTAGHardwareAcceleration",
    ),
    (&["ntuple", "rx-ntuple-filter"], "NTupleFilter"),
];

/// systemd.link(5) keys for ring sizes and queue counts.
const LINK_RINGS: [(&str, &str); 4] = [
    ("rx", "RxBufferSize"),
    ("rx_mini", "RxMiniBufferSize"),
    ("rx_jumbo", "RxJumboBufferSize"),
    ("tx", "TxBufferSize"),
];
const LINK_CHANNELS: [(&str, &str); 4] = [
    ("rx", "RxChannels"),
    ("tx", "TxChannels"),
    ("other", "OtherChannels"),
    ("combined", "CombinedChannels"),
];

/// systemd.link(5) coalescing keys (systemd 250+): the field, the key, and the unit the
/// value is written in (`us` for a time span, `s` for seconds, `` for a count, `bool`).
const LINK_COALESCE: [(&str, &str, &str); 22] = [
    ("use_adaptive_rx", "UseAdaptiveRxCoalesce", "bool"),
    ("use_adaptive_tx", "UseAdaptiveTxCoalesce", "bool"),
    ("rx_usecs", "RxCoalesceSec", "us"),
    ("rx_usecs_irq", "RxCoalesceIrqSec", "us"),
    ("rx_usecs_low", "RxCoalesceLowSec", "us"),
    ("rx_usecs_high", "RxCoalesceHighSec", "us"),
    ("tx_usecs", "TxCoalesceSec", "us"),
    ("tx_usecs_irq", "TxCoalesceIrqSec", "us"),
    ("tx_usecs_low", "TxCoalesceLowSec", "us"),
    ("tx_usecs_high", "TxCoalesceHighSec", "us"),
    ("rx_frames", "RxMaxCoalescedFrames", ""),
    ("rx_frames_irq", "RxMaxCoalescedIrqFrames", ""),
    ("rx_frames_low", "RxMaxCoalescedLowFrames", ""),
    ("rx_frames_high", "RxMaxCoalescedHighFrames", ""),
    ("tx_frames", "TxMaxCoalescedFrames", ""),
    ("tx_frames_irq", "TxMaxCoalescedIrqFrames", ""),
    ("tx_frames_low", "TxMaxCoalescedLowFrames", ""),
    ("tx_frames_high", "TxMaxCoalescedHighFrames", ""),
    ("stats_block_usecs", "StatisticsBlockCoalesceSec", "us"),
    ("pkt_rate_low", "CoalescePacketRateLow", ""),
    ("pkt_rate_high", "CoalescePacketRateHigh", ""),
    (
        "rate_sample_interval",
        "CoalescePacketRateSampleIntervalSec",
        "s",
    ),
];

/// The features NetworkManager's `[ethtool]` section knows (`feature-NAME`,
/// nm-settings-nmcli(5), as of 1.42): ethtool's short names and the kernel's names of the
/// rest.
pub const NM_FEATURES: &[&str] = &[
    "esp-hw-offload",
    "esp-tx-csum-hw-offload",
    "fcoe-mtu",
    "gro",
    "gso",
    "highdma",
    "hw-tc-offload",
    "l2-fwd-offload",
    "loopback",
    "lro",
    "macsec-hw-offload",
    "ntuple",
    "rx",
    "rx-all",
    "rx-fcs",
    "rx-gro-hw",
    "rx-gro-list",
    "rx-udp-gro-forwarding",
    "rx-udp_tunnel-port-offload",
    "rx-vlan-filter",
    "rx-vlan-stag-filter",
    "rx-vlan-stag-hw-parse",
    "rxhash",
    "rxvlan",
    "sg",
    "tls-hw-record",
    "tls-hw-rx-offload",
    "tls-hw-tx-offload",
    "tso",
    "tx",
    "tx-checksum-fcoe-crc",
    "tx-checksum-ip-generic",
    "tx-checksum-ipv4",
    "tx-checksum-ipv6",
    "tx-checksum-sctp",
    "tx-esp-segmentation",
    "tx-fcoe-segmentation",
    "tx-gre-csum-segmentation",
    "tx-gre-segmentation",
    "tx-gso-list",
    "tx-gso-partial",
    "tx-gso-robust",
    "tx-ipxip4-segmentation",
    "tx-ipxip6-segmentation",
    "tx-nocache-copy",
    "tx-scatter-gather",
    "tx-scatter-gather-fraglist",
    "tx-sctp-segmentation",
    "tx-tcp-ecn-segmentation",
    "tx-tcp-mangleid-segmentation",
    "tx-tcp-segmentation",
    "tx-tcp6-segmentation",
    "tx-tunnel-remcsum-segmentation",
    "tx-udp-segmentation",
    "tx-udp_tnl-csum-segmentation",
    "tx-udp_tnl-segmentation",
    "tx-vlan-stag-hw-insert",
    "txvlan",
];

/// NetworkManager's name of an offload of a profile (a short name or a kernel name).
fn nm_feature(name: &str) -> Option<&'static str> {
    let offload = name.parse::<nettune_nic::Offload>().ok()?;
    // A kernel name of a short-named feature goes by the short name.
    let short = [
        "rx", "tx", "sg", "tso", "gso", "gro", "lro", "rxvlan", "txvlan", "ntuple", "rxhash",
    ]
    .into_iter()
    .find_map(|s| {
        let o = s.parse::<nettune_nic::Offload>().ok()?;
        (o == offload || o.pattern() == offload.as_str()).then_some(s)
    });
    let name = short.unwrap_or(offload.as_str());
    NM_FEATURES.iter().copied().find(|n| *n == name)
}

/// NetworkManager's name of a coalescing field (`coalesce-NAME`).
fn nm_coalesce(field: &str) -> String {
    match field {
        "rate_sample_interval" => "sample-interval".into(),
        other => field_to_ethtool(other),
    }
}

/// One `[ethtool]` section per interface with NIC settings.
fn render_networkmanager(
    p: &Profile,
    options: &RenderOptions,
    un: &mut Vec<Unexpressed>,
) -> Option<Vec<RenderedFile>> {
    let mut files = Vec::new();
    for (iface, n) in p.nics() {
        let mut keys: Vec<(String, String)> = Vec::new();
        for (name, on) in &n.offloads {
            match nm_feature(name) {
                Some(f) => keys.push((format!("feature-{f}"), on.to_string())),
                None => unexpressed(
                    un,
                    format!("nic {iface} offload {name}"),
                    "NetworkManager has no ethtool.feature- option for it: nettune apply sets it",
                ),
            }
        }
        for (f, v) in &n.coalesce {
            // Every coalescing option is a number to NetworkManager, adaptive-rx/-tx
            // too (1 or 0; `true` is dropped).
            keys.push((format!("coalesce-{}", nm_coalesce(f)), v.to_string()));
        }
        for (f, v) in &n.rings {
            keys.push((format!("ring-{}", field_to_ethtool(f)), v.to_string()));
        }
        for (f, v) in &n.channels {
            if options.networkmanager_minor >= 46 {
                keys.push((format!("channels-{f}"), v.to_string()));
            } else {
                unexpressed(
                    un,
                    format!("nic {iface} channels {f}"),
                    format!(
                        "NetworkManager sets channels from 1.46 (rendering for 1.{}): nettune apply sets them",
                        options.networkmanager_minor
                    ),
                );
            }
        }
        queue_maps_unexpressed(
            un,
            iface,
            n,
            "NetworkManager's [ethtool] section has no key for it: nettune apply sets it",
        );
        if keys.is_empty() {
            continue;
        }
        let mut text = format!(
            "# rendered by nettune from profile {}: the [ethtool] section of the connection {iface} uses.\n\
             # Add it to that connection's keyfile (/etc/NetworkManager/system-connections/NAME.nmconnection)\n\
             # and reapply, or: nmcli connection modify NAME{}\n[ethtool]\n",
            p.name(),
            keys.iter()
                .map(|(k, v)| {
                    let v = match v.as_str() {
                        "true" => "on",
                        "false" => "off",
                        other => other,
                    };
                    format!(" ethtool.{k} {v}")
                })
                .collect::<String>()
        );
        for (k, v) in &keys {
            let _ = writeln!(text, "{k}={v}");
        }
        files.push(RenderedFile {
            name: format!("{iface}.ethtool.nmconnection"),
            text,
        });
    }
    common_unexpressed(p, un, "a NetworkManager keyfile");
    for r in p.sysctls() {
        unexpressed(
            un,
            r.key.to_string(),
            "a NetworkManager keyfile has no sysctls: render sysctl.d for them",
        );
    }
    (!files.is_empty()).then_some(files)
}

/// One `.link` file per interface with NIC settings, `[Match] OriginalName=`.
fn render_link(p: &Profile, un: &mut Vec<Unexpressed>) -> Option<Vec<RenderedFile>> {
    let mut files = Vec::new();
    for (iface, n) in p.nics() {
        let mut link = String::new();
        for (name, on) in &n.offloads {
            match LINK_OFFLOADS
                .iter()
                .find(|(names, _)| names.contains(&name.as_str()))
            {
                Some((_, key)) => {
                    let _ = writeln!(link, "{key}={on}");
                }
                None => unexpressed(
                    un,
                    format!("nic {iface} offload {name}"),
                    "systemd.link has no key for this feature: nettune apply sets it",
                ),
            }
        }
        let mut keyed =
            |what: &str, m: &std::collections::BTreeMap<String, u32>, keys: &[(&str, &str)]| {
                for (field, v) in m {
                    match keys.iter().find(|(f, _)| f == field) {
                        Some((_, key)) => {
                            let _ = writeln!(link, "{key}={v}");
                        }
                        None => unexpressed(
                            un,
                            format!("nic {iface} {what} {field}"),
                            "systemd.link has no key for it: nettune apply sets it",
                        ),
                    }
                }
            };
        keyed("channels", &n.channels, &LINK_CHANNELS);
        keyed("ring", &n.rings, &LINK_RINGS);
        for (field, v) in &n.coalesce {
            match LINK_COALESCE.iter().find(|(f, _, _)| f == field) {
                Some((_, key, "bool")) => {
                    let _ = writeln!(link, "{key}={}", *v != 0);
                }
                Some((_, key, unit)) => {
                    let _ = writeln!(link, "{key}={v}{unit}");
                }
                None => unexpressed(
                    un,
                    format!("nic {iface} coalesce {field}"),
                    "systemd.link has no key for it: nettune apply sets it",
                ),
            }
        }
        queue_maps_unexpressed(
            un,
            iface,
            n,
            "systemd.link sets no per-queue CPU maps or RSS tables: nettune apply sets them",
        );
        if !link.is_empty() {
            files.push(RenderedFile {
                name: format!("10-nettune-{iface}.link"),
                text: format!(
                    "# rendered by nettune from profile {}; udev applies it when {iface} appears\n\
                     [Match]\nOriginalName={iface}\n\n[Link]\n{link}",
                    p.name()
                ),
            });
        }
    }
    for r in p.sysctls() {
        unexpressed(
            un,
            r.key.to_string(),
            "systemd.link has no sysctls: render sysctl.d for them",
        );
    }
    common_unexpressed(p, un, "systemd.link");
    (!files.is_empty()).then_some(files)
}

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// An Ansible task list: `ansible.posix.sysctl` per exact sysctl (into
/// `nettune_sysctl_file`, set live), then, for what that module cannot express, the
/// rest of the profile copied to `nettune_profile_file` and a `nettune apply` of it
/// that reports changed only when it changed something.
fn render_ansible(p: &Profile, slug: &str) -> Option<String> {
    let sysctl_file =
        format!("{{{{ nettune_sysctl_file | default('/etc/sysctl.d/90-nettune-{slug}.conf') }}}}");
    // The profile file's path as a Jinja expression, used three times below.
    let profile_path = format!("nettune_profile_file | default('/etc/nettune/{slug}.toml')");
    let mut text = format!(
        "# rendered by nettune from profile {}: an Ansible task list (import_tasks)\n\
         # variables: nettune_sysctl_file, nettune_profile_file, nettune_bin (default nettune),\n\
         # nettune_apply_args (a list, e.g. [\"--journal\", \"/var/lib/nettune/host.journal\"])\n",
        p.name()
    );
    for r in p.sysctls() {
        if let Want::Exact(v) = &r.want {
            let _ = write!(
                text,
                "- name: {}\n  ansible.posix.sysctl:\n    name: {}\n    value: {}\n    \
                 sysctl_file: {}\n    sysctl_set: true\n    reload: false\n    state: present\n",
                yaml_str(&format!("nettune {}: {} = {v}", p.name(), r.key)),
                yaml_str(&r.key.to_string()),
                yaml_str(v),
                yaml_str(&sysctl_file),
            );
        }
    }
    let mut rest = p.clone();
    rest.retain_sysctls(|r| !matches!(r.want, Want::Exact(_)));
    if !rest.is_empty() {
        let _ = write!(
            text,
            "- name: {}\n  ansible.builtin.file:\n    path: {}\n    state: directory\n    mode: \"0755\"\n\
             - name: {}\n  ansible.builtin.copy:\n    dest: {}\n    mode: \"0644\"\n    content: {}\n\
             - name: {}\n  ansible.builtin.command:\n    argv: {}\n  register: nettune_apply\n  \
             changed_when: (nettune_apply.stdout | from_json).applied.changes | length > 0\n",
            yaml_str(&format!("nettune {}: profile directory", p.name())),
            yaml_str(&format!("{{{{ ({profile_path}) | dirname }}}}")),
            yaml_str(&format!(
                "nettune {}: what ansible.posix.sysctl cannot express",
                p.name()
            )),
            yaml_str(&format!("{{{{ {profile_path} }}}}")),
            yaml_str(&rest.to_toml()),
            yaml_str(&format!(
                "nettune {}: apply it (journaled, read back, rolled back on failure)",
                p.name()
            )),
            yaml_str(&format!(
                "{{{{ [nettune_bin | default('nettune'), 'apply', '--json', '--profile', \
                 {profile_path}] + (nettune_apply_args | default([])) }}}}"
            )),
        );
    }
    (!p.is_empty()).then_some(text)
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
                    ..RenderOptions::default()
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

    #[test]
    fn link_files_one_per_interface_with_systemd_units() {
        let mut p = profile();
        let mut nic = NicProfile::default();
        nic.coalesce.insert("rx_usecs".into(), 50);
        nic.coalesce.insert("rate_sample_interval".into(), 2);
        nic.offloads.insert("tx-udp-segmentation".into(), false);
        nic.channels.insert("combined".into(), 4);
        p.set_nic(crate::nic::IfName::new("eth1").expect("name"), nic)
            .expect("nic");
        let r = p
            .render(Format::SystemdLink, &RenderOptions::default())
            .expect("render");
        let names: Vec<&str> = r.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["10-nettune-eth0.link", "10-nettune-eth1.link"]);
        let eth0 = &r.files[0].text;
        for line in [
            "[Match]\nOriginalName=eth0\n",
            "GenericReceiveOffload=true\n",
            "LargeReceiveOffload=false\n",
            "RxBufferSize=1024\n",
            "RxCoalesceSec=8us\n",
            "UseAdaptiveRxCoalesce=false\n",
        ] {
            assert!(eth0.contains(line), "{line} in {eth0}");
        }
        let eth1 = &r.files[1].text;
        for line in [
            "RxCoalesceSec=50us\n",
            "CoalescePacketRateSampleIntervalSec=2s\n",
            "CombinedChannels=4\n",
        ] {
            assert!(eth1.contains(line), "{line} in {eth1}");
        }
        assert!(r.text.contains("# file: 10-nettune-eth1.link\n"));
        let items: Vec<&str> = r.unexpressed.iter().map(|u| u.item.as_str()).collect();
        for item in [
            "nic eth0 rps",
            "nic eth1 offload tx-udp-segmentation",
            "net.core.somaxconn",
            "mptcp limits",
        ] {
            assert!(items.contains(&item), "{item} in {items:?}");
        }
    }

    #[test]
    fn ansible_tasks_hand_only_what_the_module_cannot_set_to_nettune() {
        let mut exact = Profile::new("plain");
        exact.set("net.core.somaxconn", "4096", "x").expect("set");
        let r = exact
            .render(Format::Ansible, &RenderOptions::default())
            .expect("render");
        assert_eq!(r.files[0].name, "nettune-plain.yml");
        assert!(r.text.contains("ansible.posix.sysctl:"));
        assert!(!r.text.contains("nettune apply") && !r.text.contains("ansible.builtin.command"));
        assert!(r.unexpressed.is_empty());
        let r = profile()
            .render(Format::Ansible, &RenderOptions::default())
            .expect("render");
        assert_eq!(
            r.text.matches("ansible.posix.sysctl:").count(),
            3,
            "{}",
            r.text
        );
        assert!(r.text.contains("ansible.builtin.command:"));
        assert!(r.unexpressed.is_empty(), "{:?}", r.unexpressed);
    }
}

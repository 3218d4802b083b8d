//! [`Plan`]: what applying a profile to a target would change, read and checked with
//! nothing written. The dry run refuses exactly what the apply would refuse.

use std::fmt;

use nettune_nic::{CpuSet, Indirection, Offload};
use nettune_sysctl::{Error as SysctlError, knobs};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::item::{ItemId, Session, endpoint_value};
use crate::profile::{Profile, RssProfile};
use crate::target::Target;

/// How a plan treats items it cannot set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PlanOptions {
    skip_unsettable: bool,
    allow_host_keys: bool,
}

impl PlanOptions {
    /// Every item must apply (the default): a key that is absent or read-only here is
    /// refused, before anything is written.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Keys that exist but cannot be set in the target (read-only in a child namespace)
    /// and keys absent here (a module not loaded) are left out and reported, with why.
    /// Items outside the namespace are still refused.
    pub fn skip_unsettable() -> Self {
        Self {
            skip_unsettable: true,
            ..Self::default()
        }
    }

    /// Also allows keys outside `net.*` (`kernel.*`, `vm.*`, `fs.*`) and global `net.*`
    /// keys — only when the target is the initial namespace, where they belong to the
    /// host: an explicit choice to change the host as a whole.
    #[must_use]
    pub fn allow_host_keys(mut self, allow: bool) -> Self {
        self.allow_host_keys = allow;
        self
    }
}

/// One item a plan changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The item.
    pub id: ItemId,
    /// Its value now.
    pub current: String,
    /// The value to write.
    pub desired: String,
    /// Why.
    pub why: String,
    /// Whether the value is a secret (serialized and shown as `<secret>`).
    pub secret: bool,
}

impl Serialize for Change {
    /// `{"item", "id", "current", "desired", "why"}`, secrets as `<secret>`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("item", &self.id.to_string())?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("current", self.id.show(&self.current))?;
        m.serialize_entry("desired", self.id.show(&self.desired))?;
        m.serialize_entry("why", &self.why)?;
        m.end()
    }
}

/// An item left out, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The item.
    pub id: ItemId,
    /// Why it cannot be set here.
    pub reason: String,
}

/// The changes that take a target to a profile. Nothing is written until
/// [`Plan::apply`](crate::Plan::apply).
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) target: Target,
    pub(crate) profile: String,
    pub(crate) changes: Vec<Change>,
    pub(crate) unchanged: Vec<ItemId>,
    pub(crate) skipped: Vec<Skipped>,
    /// Why the profile's `[match]` does not hold here (the plan is then empty).
    pub(crate) mismatch: Option<String>,
}

impl Plan {
    /// Why the profile is not for this host (its [`crate::matching::Match`] does not
    /// hold): the plan is empty, and applying it writes nothing. `None` when it is.
    pub fn mismatch(&self) -> Option<&str> {
        self.mismatch.as_deref()
    }

    /// The changes, in the order the apply writes them.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The items already as the profile wants them.
    pub fn unchanged(&self) -> &[ItemId] {
        &self.unchanged
    }

    /// The items left out (with [`PlanOptions::skip_unsettable`]).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The profile's name.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Whether applying would write nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let skipped: Vec<_> = self
            .skipped
            .iter()
            .map(
                |k| serde_json::json!({ "item": k.id.to_string(), "id": k.id, "reason": k.reason }),
            )
            .collect();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("profile", &self.profile)?;
        m.serialize_entry("target", &self.target.to_string())?;
        m.serialize_entry("netns", &self.target.id())?;
        m.serialize_entry("changes", &self.changes)?;
        m.serialize_entry(
            "unchanged",
            &self
                .unchanged
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )?;
        m.serialize_entry("skipped", &skipped)?;
        m.serialize_entry("matched", &self.mismatch.is_none())?;
        if let Some(why) = &self.mismatch {
            m.serialize_entry("mismatch", why)?;
        }
        m.end()
    }
}

impl fmt::Display for Plan {
    /// The dry run: one line per change (`item: current -> desired  # why`), then the
    /// skipped items.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.mismatch {
            return writeln!(
                f,
                "plan for {} ({}): not for this host, nothing to do: {why}",
                self.target, self.profile
            );
        }
        writeln!(
            f,
            "plan for {} ({}): {} change(s), {} already set, {} skipped",
            self.target,
            self.profile,
            self.changes.len(),
            self.unchanged.len(),
            self.skipped.len()
        )?;
        for c in &self.changes {
            let show = |v: &str| {
                let v = c.id.show(v);
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            };
            writeln!(
                f,
                "  {}: {} -> {}  # {}",
                c.id,
                show(&c.current),
                show(&c.desired),
                c.why
            )?;
        }
        for s in &self.skipped {
            writeln!(f, "  skip {}: {}", s.id, s.reason)?;
        }
        Ok(())
    }
}

/// Builds a plan, collecting every refusal so that the error lists all of them.
struct Planner<'t> {
    session: Session<'t>,
    target: &'t Target,
    options: PlanOptions,
    plan: Plan,
    refused: Vec<(String, String)>,
}

impl<'t> Planner<'t> {
    fn refuse(&mut self, item: impl fmt::Display, why: impl Into<String>) {
        self.refused.push((item.to_string(), why.into()));
    }

    fn skip_or_refuse(&mut self, id: ItemId, why: String) {
        if self.options.skip_unsettable {
            self.plan.skipped.push(Skipped { id, reason: why });
        } else {
            self.refuse(&id, why);
        }
    }

    /// Records `id` as unchanged or as a change from `current` to `desired`.
    fn item(&mut self, id: ItemId, current: String, desired: String, why: &str) {
        if id.same(&current, &desired) {
            self.plan.unchanged.push(id);
        } else {
            let secret = id.is_secret();
            self.plan.changes.push(Change {
                id,
                current,
                desired,
                why: why.to_owned(),
                secret,
            });
        }
    }

    fn sysctls(&mut self, profile: &Profile) {
        let initial = self.target.is_initial();
        let host_ok = initial && self.options.allow_host_keys;
        let _ = self
            .target
            .sysctl()
            .open_keys(profile.sysctls().iter().map(|r| &r.key));
        for rule in profile.sysctls() {
            let key = &rule.key;
            let id = ItemId::Sysctl { key: key.clone() };
            if key.components().next() != Some("net") && !host_ok {
                let why = if initial {
                    "not a network-namespace key (net.*): it belongs to the whole host; opt in with allow_host_keys (--allow-host-keys) to change it"
                } else {
                    "not a network-namespace key (net.*): it belongs to the host or to another namespace, not to this one"
                };
                self.refuse(&id, why);
                continue;
            }
            let scope = knobs::info(key).map(|k| k.scope);
            if scope == Some(knobs::Scope::Global) && !initial {
                self.refuse(
                    &id,
                    "a global key, absent in a child namespace: it belongs to the initial namespace",
                );
                continue;
            }
            if scope == Some(knobs::Scope::Global) && !host_ok {
                self.refuse(
                    &id,
                    "a global key: it changes the whole host, not one namespace; opt in with allow_host_keys (--allow-host-keys)",
                );
                continue;
            }
            let live = match self.target.sysctl().read_raw(key) {
                Ok(v) => knobs::canonical_lenient(key, &v),
                Err(SysctlError::Unsupported { reason, .. }) if rule.optional => {
                    self.plan.skipped.push(Skipped {
                        id,
                        reason: format!("absent, and optional: {reason}"),
                    });
                    continue;
                }
                Err(SysctlError::Unsupported { reason, .. }) => {
                    self.skip_or_refuse(id, format!("absent: {reason}"));
                    continue;
                }
                Err(e) => {
                    self.refuse(
                        &id,
                        format!(
                            "cannot read its value before changing it: {}",
                            crate::error::report(&e)
                        ),
                    );
                    continue;
                }
            };
            let Some(desired) = rule.want.resolve(Some(&live)) else {
                self.plan.unchanged.push(id);
                continue;
            };
            if let Some(why) = self.target.sysctl().refusal(key, &desired) {
                self.skip_or_refuse(id, why);
                continue;
            }
            self.item(id, live, desired, &rule.why);
        }
    }

    fn nics(&mut self, profile: &Profile) {
        for (iface, n) in profile.nics() {
            let why = n
                .why
                .clone()
                .unwrap_or_else(|| format!("set by profile {}", profile.name()));
            let nic = match nettune_nic::Nic::open_in(self.target.netns(), iface.as_str()) {
                Ok(nic) => nic,
                Err(e) => {
                    self.refuse(format!("nic {iface}"), crate::error::report(&e));
                    continue;
                }
            };
            let name = iface.clone();
            // Channels first: RSS and ring sizes depend on them.
            if !n.channels.is_empty() {
                match nic.channels() {
                    Ok(ch) => {
                        let max = [
                            ("rx", ch.max_rx),
                            ("tx", ch.max_tx),
                            ("other", ch.max_other),
                            ("combined", ch.max_combined),
                        ];
                        let now = ch.fields();
                        for (field, want) in &n.channels {
                            let id = ItemId::NicChannel {
                                iface: name.clone(),
                                field: field.clone(),
                            };
                            match (
                                now.iter().find(|(f, _)| f == field),
                                max.iter().find(|(f, _)| f == field),
                            ) {
                                (Some((_, cur)), Some((_, m))) if want <= m => {
                                    self.item(id, cur.to_string(), want.to_string(), &why);
                                }
                                (Some(_), Some((_, m))) => self.refuse(
                                    &id,
                                    format!("{want} is above the device's maximum {m}"),
                                ),
                                _ => self
                                    .refuse(&id, "no such channel field (rx, tx, other, combined)"),
                            }
                        }
                    }
                    Err(e) => {
                        self.refuse(format!("nic {iface} channels"), crate::error::report(&e))
                    }
                }
            }
            if !n.offloads.is_empty() {
                match nic.features() {
                    Ok(features) => {
                        for (name_given, on) in &n.offloads {
                            let offload = match name_given.parse::<Offload>() {
                                Ok(o) => o,
                                Err(e) => {
                                    self.refuse(
                                        format!("nic {iface} offload {name_given}"),
                                        crate::error::report(&e),
                                    );
                                    continue;
                                }
                            };
                            let expanded = features.expand(&offload);
                            if expanded.is_empty() {
                                self.refuse(
                                    format!("nic {iface} offload {name_given}"),
                                    "no such feature on this device",
                                );
                                continue;
                            }
                            for f in expanded {
                                let id = ItemId::NicFeature {
                                    iface: name.clone(),
                                    feature: f.name.to_owned(),
                                };
                                let want = if *on { "on" } else { "off" };
                                if f.requested == *on {
                                    self.plan.unchanged.push(id);
                                } else if f.fixed || !f.changeable {
                                    self.refuse(
                                        &id,
                                        "fixed on this device: the driver does not let it change",
                                    );
                                } else {
                                    self.item(
                                        id,
                                        if f.requested { "on" } else { "off" }.into(),
                                        want.into(),
                                        &why,
                                    );
                                }
                            }
                        }
                    }
                    Err(e) => {
                        self.refuse(format!("nic {iface} features"), crate::error::report(&e))
                    }
                }
            }
            if !n.coalesce.is_empty() {
                match nic.coalesce() {
                    Ok(c) => {
                        let now = c.fields();
                        for (field, want) in &n.coalesce {
                            let id = ItemId::NicCoalesce {
                                iface: name.clone(),
                                field: field.clone(),
                            };
                            match now.iter().find(|(f, _)| f == field) {
                                Some((_, cur)) => {
                                    self.item(id, cur.to_string(), want.to_string(), &why)
                                }
                                None => self.refuse(&id, "no such coalescing field"),
                            }
                        }
                    }
                    Err(e) => {
                        self.refuse(format!("nic {iface} coalesce"), crate::error::report(&e))
                    }
                }
            }
            if !n.rings.is_empty() {
                match nic.rings() {
                    Ok(r) => {
                        let now = r.fields();
                        let max = [
                            ("rx", r.rx_max),
                            ("rx_mini", r.rx_mini_max),
                            ("rx_jumbo", r.rx_jumbo_max),
                            ("tx", r.tx_max),
                        ];
                        for (field, want) in &n.rings {
                            let id = ItemId::NicRing {
                                iface: name.clone(),
                                field: field.clone(),
                            };
                            match (
                                now.iter().find(|(f, _)| f == field),
                                max.iter().find(|(f, _)| f == field),
                            ) {
                                (Some((_, cur)), Some((_, m))) if want <= m => {
                                    self.item(id, cur.to_string(), want.to_string(), &why)
                                }
                                (Some(_), Some((_, m))) => self.refuse(
                                    &id,
                                    format!("{want} is above the device's maximum {m}"),
                                ),
                                _ => self
                                    .refuse(&id, "no such ring field (rx, rx_mini, rx_jumbo, tx)"),
                            }
                        }
                    }
                    Err(e) => self.refuse(format!("nic {iface} rings"), crate::error::report(&e)),
                }
            }
            if let Some(rss) = &n.rss {
                let id = ItemId::NicRss {
                    iface: name.clone(),
                };
                match (nic.rss(), nic.rx_rings()) {
                    (Ok(current), Ok(rings)) => {
                        let size = u32::try_from(current.indirection.len()).unwrap_or(u32::MAX);
                        let table = match rss {
                            RssProfile::Equal(n) => Indirection::equal(size, *n),
                            RssProfile::Weights(w) => Indirection::weighted(size, w),
                        }
                        .and_then(|t| t.validate(size, rings).map(|()| t));
                        match table {
                            Ok(t) => {
                                let join = |v: &[u32]| {
                                    v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
                                };
                                self.item(id, join(&current.indirection), join(t.entries()), &why);
                            }
                            Err(e) => self.refuse(&id, crate::error::report(&e)),
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => self.refuse(&id, crate::error::report(&e)),
                }
            }
            if !n.rps.is_empty() || !n.xps.is_empty() {
                let possible = CpuSet::possible();
                match (nic.steering(), possible) {
                    (Ok(s), Ok(possible)) => {
                        for (queue, cpus) in &n.rps {
                            let id = ItemId::NicRps {
                                iface: name.clone(),
                                queue: *queue,
                            };
                            let missing = cpus.difference(&possible);
                            match s.rx.iter().find(|q| q.index == *queue) {
                                _ if !missing.is_empty() => self.refuse(
                                    &id,
                                    format!(
                                        "CPU(s) {missing} do not exist here (possible: {possible})"
                                    ),
                                ),
                                Some(q) => {
                                    self.item(id, q.rps_cpus.to_list(), cpus.to_list(), &why)
                                }
                                None => self.refuse(&id, "no such RX queue"),
                            }
                        }
                        for (queue, cpus) in &n.xps {
                            let id = ItemId::NicXps {
                                iface: name.clone(),
                                queue: *queue,
                            };
                            let missing = cpus.difference(&possible);
                            match s.tx.iter().find(|q| q.index == *queue) {
                                _ if !missing.is_empty() => self.refuse(
                                    &id,
                                    format!(
                                        "CPU(s) {missing} do not exist here (possible: {possible})"
                                    ),
                                ),
                                Some(q) => match &q.xps_cpus {
                                    Some(c) => self.item(id, c.to_list(), cpus.to_list(), &why),
                                    None => {
                                        self.refuse(&id, "the device has no XPS for this queue")
                                    }
                                },
                                None => self.refuse(&id, "no such TX queue"),
                            }
                        }
                    }
                    (Err(e), _) => {
                        self.refuse(format!("nic {iface} steering"), crate::error::report(&e))
                    }
                    (_, Err(e)) => {
                        self.refuse(format!("nic {iface} steering"), crate::error::report(&e))
                    }
                }
            }
        }
    }

    fn mptcp(&mut self, profile: &Profile) {
        if profile.mptcp_limits().is_none() && profile.endpoints().is_empty() {
            return;
        }
        let why = format!("set by profile {}", profile.name());
        if let Some(l) = profile.mptcp_limits() {
            match self.session.read(&ItemId::MptcpLimits) {
                Ok(cur) => self.item(
                    ItemId::MptcpLimits,
                    cur,
                    format!("{} {}", l.subflows, l.add_addr_accepted),
                    &why,
                ),
                Err(e) => self.refuse(ItemId::MptcpLimits, crate::error::report(&e)),
            }
        }
        for e in profile.endpoints() {
            let id = ItemId::MptcpEndpoint { addr: e.addr };
            if let Some(dev) = &e.interface {
                let name = dev.to_string();
                let exists = self
                    .target
                    .netns()
                    .run_owned(move || nix::net::if_::if_nametoindex(name.as_str()).is_ok());
                if !matches!(exists, Ok(true)) {
                    self.refuse(&id, format!("no interface {dev} in the target namespace"));
                    continue;
                }
            }
            match self.session.read(&id) {
                Ok(cur) => {
                    let want =
                        endpoint_value(e.flags, e.port, e.interface.as_ref().map(|i| i.as_str()));
                    self.item(id, cur, want, &why);
                }
                Err(err) => self.refuse(&id, crate::error::report(&err)),
            }
        }
    }

    fn notrack(&mut self, profile: &Profile) {
        if profile.notrack().is_empty() {
            return;
        }
        let mut n = nettune_conntrack::NoTrack::new();
        for r in profile.notrack() {
            if let (Some(p), Some(port)) = (r.proto, r.port) {
                n = n.port(p, port);
            }
            if let Some(a) = r.address {
                n = n.address(a);
            }
        }
        let desired = match n.ruleset() {
            Ok(text) => crate::item::flat_lines(&text),
            Err(e) => {
                self.refuse(ItemId::NoTrack, crate::error::report(&e));
                return;
            }
        };
        match self.session.read(&ItemId::NoTrack) {
            Ok(cur) => self.item(
                ItemId::NoTrack,
                cur,
                desired,
                &format!("NOTRACK rules of profile {}", profile.name()),
            ),
            Err(e) => self.refuse(ItemId::NoTrack, crate::error::report(&e)),
        }
    }
}

impl Profile {
    /// Plans the changes from the live state of `target`, strictly: anything that cannot
    /// be set is refused. Writes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] listing every refused item and why; [`Error::Netns`] when the
    /// target cannot be entered.
    pub fn plan(&self, target: &Target) -> Result<Plan> {
        self.plan_with(target, PlanOptions::strict())
    }

    /// Plans with options (see [`PlanOptions`]).
    ///
    /// # Errors
    ///
    /// As [`Profile::plan`].
    pub fn plan_with(&self, target: &Target, options: PlanOptions) -> Result<Plan> {
        let mut p = Planner {
            session: Session::new(target),
            target,
            options,
            plan: Plan {
                target: target.clone(),
                profile: self.name().to_owned(),
                changes: Vec::new(),
                unchanged: Vec::new(),
                skipped: Vec::new(),
                mismatch: None,
            },
            refused: Vec::new(),
        };
        if let Some(m) = self.host_match() {
            if let Err(why) = m.verdict(&host_facts(target, m)) {
                p.plan.mismatch = Some(why);
                return Ok(p.plan);
            }
        }
        p.sysctls(self);
        p.nics(self);
        p.mptcp(self);
        p.notrack(self);
        if !p.refused.is_empty() {
            return Err(Error::Refused { refused: p.refused });
        }
        // Stable: items of one rank keep the profile's order.
        p.plan.changes.sort_by_key(|c| c.id.rank());
        Ok(p.plan)
    }
}

/// What a `[match]` is judged on: the kernel and host name (the calling process's), and
/// the target namespace's interfaces and drivers when a condition names them. What cannot
/// be read is left empty, and a condition on it does not hold.
fn host_facts(target: &Target, m: &crate::matching::Match) -> crate::matching::HostFacts {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    };
    let interfaces = if m.needs_interfaces() {
        nettune_nic::Nic::list_in(target.netns())
            .unwrap_or_default()
            .into_iter()
            .map(|name| {
                let driver = nettune_nic::Nic::open_in(target.netns(), name.as_str())
                    .and_then(|n| n.driver_info())
                    .ok()
                    .map(|d| d.driver)
                    .filter(|d| !d.is_empty());
                (name.to_string(), driver)
            })
            .collect()
    } else {
        Vec::new()
    };
    crate::matching::HostFacts {
        kernel: read("/proc/sys/kernel/osrelease"),
        hostname: read("/proc/sys/kernel/hostname"),
        interfaces,
    }
}

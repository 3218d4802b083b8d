//! The items a transaction changes, and how each subsystem reads and writes them.
//!
//! Every item has a text value in a canonical form, so that the journal can hold the
//! before-image of anything a plan touches, and a rollback can compare the live value with
//! what the journal recorded.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use nettune_mptcp::{EndpointFlags, EndpointRef, EndpointSpec, Interface, PathManager};
use nettune_nic::{
    ChannelsUpdate, CoalesceUpdate, CpuSet, IfName, Indirection, Nic, Offload, RingsUpdate,
    RssUpdate,
};
use nettune_sysctl::{Key, knobs};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::target::Target;

/// The value of an item that does not exist (an endpoint, the NOTRACK table).
pub const ABSENT: &str = "absent";

/// One thing a transaction changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ItemId {
    /// A sysctl (`net.*`).
    Sysctl {
        /// The key.
        key: Key,
    },
    /// Channel counts of a NIC (set first: RSS depends on them).
    NicChannel {
        /// The interface.
        iface: IfName,
        /// `rx`, `tx`, `combined` or `other`.
        field: String,
    },
    /// The requested state of one NIC feature (`on`/`off`).
    NicFeature {
        /// The interface.
        iface: IfName,
        /// The kernel's feature name.
        feature: String,
    },
    /// One interrupt-coalescing field.
    NicCoalesce {
        /// The interface.
        iface: IfName,
        /// The field.
        field: String,
    },
    /// One ring size.
    NicRing {
        /// The interface.
        iface: IfName,
        /// The field.
        field: String,
    },
    /// The RSS indirection table (entries separated by spaces).
    NicRss {
        /// The interface.
        iface: IfName,
    },
    /// The RPS CPUs of an RX queue (a CPU list; empty for none).
    NicRps {
        /// The interface.
        iface: IfName,
        /// The queue.
        queue: u32,
    },
    /// The XPS CPUs of a TX queue.
    NicXps {
        /// The interface.
        iface: IfName,
        /// The queue.
        queue: u32,
    },
    /// The MPTCP limits (`subflows add_addr_accepted`).
    MptcpLimits,
    /// An MPTCP endpoint: `absent`, or its flags, port and interface.
    MptcpEndpoint {
        /// The address.
        addr: IpAddr,
    },
    /// The NOTRACK rules (nettune's own nftables table): `absent`, or its listing.
    NoTrack,
}

impl ItemId {
    /// Whether the value is a secret that is never printed.
    pub fn is_secret(&self) -> bool {
        matches!(self, Self::Sysctl { key } if knobs::is_secret(key))
    }

    /// The order of application: channels before RSS, sysctls by their own rank first.
    pub(crate) fn rank(&self) -> (u8, u8) {
        match self {
            Self::Sysctl { key } => (0, nettune_sysctl::plan::write_rank(key)),
            Self::NicChannel { .. } => (1, 0),
            Self::NicFeature { .. } => (1, 1),
            Self::NicCoalesce { .. } => (1, 2),
            Self::NicRing { .. } => (1, 3),
            Self::NicRss { .. } => (1, 4),
            Self::NicRps { .. } | Self::NicXps { .. } => (1, 5),
            Self::MptcpLimits => (2, 0),
            Self::MptcpEndpoint { .. } => (2, 1),
            Self::NoTrack => (3, 0),
        }
    }

    /// Whether `a` and `b` are the same value of this item.
    pub fn same(&self, a: &str, b: &str) -> bool {
        match self {
            Self::Sysctl { key } => {
                knobs::canonical_lenient(key, a) == knobs::canonical_lenient(key, b)
            }
            Self::NoTrack => squash(a) == squash(b),
            _ => a.trim() == b.trim(),
        }
    }

    /// `value`, or `<secret>` for a secret item.
    pub fn show<'a>(&self, value: &'a str) -> &'a str {
        if self.is_secret() { "<secret>" } else { value }
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sysctl { key } => write!(f, "sysctl {key}"),
            Self::NicChannel { iface, field } => write!(f, "nic {iface} channels {field}"),
            Self::NicFeature { iface, feature } => write!(f, "nic {iface} feature {feature}"),
            Self::NicCoalesce { iface, field } => write!(f, "nic {iface} coalesce {field}"),
            Self::NicRing { iface, field } => write!(f, "nic {iface} rings {field}"),
            Self::NicRss { iface } => write!(f, "nic {iface} rss"),
            Self::NicRps { iface, queue } => write!(f, "nic {iface} rps rx-{queue}"),
            Self::NicXps { iface, queue } => write!(f, "nic {iface} xps tx-{queue}"),
            Self::MptcpLimits => f.write_str("mptcp limits"),
            Self::MptcpEndpoint { addr } => write!(f, "mptcp endpoint {addr}"),
            Self::NoTrack => f.write_str("conntrack notrack rules"),
        }
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An MPTCP endpoint as an item value: `flags=subflow,backup port=0 dev=eth1`.
pub(crate) fn endpoint_value(flags: EndpointFlags, port: Option<u16>, dev: Option<&str>) -> String {
    format!(
        "flags={} port={} dev={}",
        flags.names().join(","),
        port.unwrap_or(0),
        dev.unwrap_or("-")
    )
}

fn parse_endpoint(value: &str) -> Option<(EndpointFlags, Option<u16>, Option<String>)> {
    let mut flags = EndpointFlags::empty();
    let (mut port, mut dev) = (None, None);
    for part in value.split_whitespace() {
        let (k, v) = part.split_once('=')?;
        match k {
            "flags" => {
                for n in v.split(',').filter(|n| !n.is_empty()) {
                    flags |= EndpointFlags::NAMES.iter().find(|(_, name)| *name == n)?.0;
                }
            }
            "port" => port = v.parse::<u16>().ok().filter(|p| *p != 0),
            "dev" => dev = (v != "-").then(|| v.to_owned()),
            _ => return None,
        }
    }
    Some((flags, port, dev))
}

/// The handles a transaction uses in its namespace, opened on first use.
pub(crate) struct Session<'t> {
    target: &'t Target,
    nics: HashMap<IfName, Nic>,
    pm: Option<PathManager>,
}

impl<'t> Session<'t> {
    pub(crate) fn new(target: &'t Target) -> Self {
        Self {
            target,
            nics: HashMap::new(),
            pm: None,
        }
    }

    pub(crate) fn nic(&mut self, iface: &IfName) -> Result<&Nic> {
        if !self.nics.contains_key(iface) {
            let nic = Nic::open_in(self.target.netns(), iface.as_str())?;
            self.nics.insert(iface.clone(), nic);
        }
        self.nics
            .get(iface)
            .ok_or_else(|| Error::profile("nic", format!("{iface} vanished")))
    }

    pub(crate) fn pm(&mut self) -> Result<&PathManager> {
        if self.pm.is_none() {
            self.pm = Some(PathManager::open_in(self.target.netns())?);
        }
        self.pm
            .as_ref()
            .ok_or_else(|| Error::profile("mptcp", "the path manager vanished".into()))
    }

    /// The live value of an item, in the item's canonical form.
    /// Opens the sysctl files of `ids` in one hop into the namespace, ahead of reading or
    /// writing them one by one (a failure shows at the first read).
    pub(crate) fn prepare<'i>(&self, ids: impl IntoIterator<Item = &'i ItemId>) {
        let keys = ids.into_iter().filter_map(|id| match id {
            ItemId::Sysctl { key } => Some(key),
            _ => None,
        });
        let _ = self.target.sysctl().open_keys(keys);
    }

    pub(crate) fn read(&mut self, id: &ItemId) -> Result<String> {
        Ok(match id {
            ItemId::Sysctl { key } => {
                let raw = self.target.sysctl().read_raw(key)?;
                knobs::canonical_lenient(key, &raw)
            }
            ItemId::NicFeature { iface, feature } => {
                let features = self.nic(iface)?.features()?;
                let f =
                    features
                        .get(feature)
                        .ok_or_else(|| nettune_nic::Error::UnknownFeature {
                            iface: iface.to_string(),
                            name: feature.clone(),
                            hint: String::new(),
                        })?;
                on_off(f.requested)
            }
            ItemId::NicCoalesce { iface, field } => field_of(
                self.nic(iface)?.coalesce()?.fields(),
                field,
                iface,
                "coalesce",
            )?,
            ItemId::NicRing { iface, field } => {
                field_of(self.nic(iface)?.rings()?.fields(), field, iface, "rings")?
            }
            ItemId::NicChannel { iface, field } => field_of(
                self.nic(iface)?.channels()?.fields(),
                field,
                iface,
                "channels",
            )?,
            ItemId::NicRss { iface } => {
                let rss = self.nic(iface)?.rss()?;
                join(&rss.indirection)
            }
            ItemId::NicRps { iface, queue } => {
                let s = self.nic(iface)?.steering()?;
                s.rx.iter()
                    .find(|q| q.index == *queue)
                    .map(|q| q.rps_cpus.to_list())
                    .ok_or_else(|| no_queue(iface, "rx", *queue))?
            }
            ItemId::NicXps { iface, queue } => {
                let s = self.nic(iface)?.steering()?;
                s.tx.iter()
                    .find(|q| q.index == *queue)
                    .map(|q| q.xps_cpus.as_ref().map(CpuSet::to_list).unwrap_or_default())
                    .ok_or_else(|| no_queue(iface, "tx", *queue))?
            }
            ItemId::MptcpLimits => {
                let l = self.pm()?.limits()?;
                format!("{} {}", l.subflows, l.add_addr_accepted)
            }
            ItemId::MptcpEndpoint { addr } => {
                let found = self
                    .pm()?
                    .endpoints()?
                    .into_iter()
                    .find(|e| e.addr == *addr);
                match found {
                    None => ABSENT.to_owned(),
                    Some(e) => {
                        let dev = match e.ifindex {
                            Some(i) => self.target.netns().run_owned(move || {
                                nix::net::if_::if_indextoname(i)
                                    .ok()
                                    .map(|n| n.to_string_lossy().into_owned())
                            })?,
                            None => None,
                        };
                        endpoint_value(e.flags, e.port, dev.as_deref())
                    }
                }
            }
            ItemId::NoTrack => notrack_listing(self.target)?,
        })
    }

    /// Writes `value` to an item (the caller reads it back to check).
    pub(crate) fn write(&mut self, id: &ItemId, value: &str) -> Result<()> {
        let number = |v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| Error::profile("journal", format!("{id}: {v:?} is not a number")))
        };
        match id {
            ItemId::Sysctl { key } => self.target.sysctl().write_raw(key, value)?,
            ItemId::NicFeature { iface, feature } => {
                let on = match value {
                    "on" => true,
                    "off" => false,
                    other => {
                        return Err(Error::profile(
                            "journal",
                            format!("{id}: {other:?} is not on or off"),
                        ));
                    }
                };
                let change = self
                    .nic(iface)?
                    .set_offloads(&[(Offload::Named(feature.clone()), on)])?;
                // The item is the requested state: a wish the driver keeps inactive for
                // now (a dependency is off) is still the request; a fixed feature is not.
                let fixed: Vec<String> = change
                    .requested
                    .iter()
                    .flat_map(|r| r.features.iter())
                    .filter(|(_, o)| matches!(o, nettune_nic::FeatureOutcome::Fixed))
                    .map(|(f, _)| f.clone())
                    .collect();
                if !fixed.is_empty() {
                    return Err(nettune_nic::Error::InvalidValue {
                        iface: iface.to_string(),
                        op: "set features",
                        reason: format!(
                            "fixed on this device, cannot change: {}",
                            fixed.join(", ")
                        ),
                        source: None,
                    }
                    .into());
                }
            }
            ItemId::NicCoalesce { iface, field } => {
                let mut u = CoalesceUpdate::new();
                u.set(field, number(value)?)?;
                self.nic(iface)?.set_coalesce(&u)?;
            }
            ItemId::NicRing { iface, field } => {
                let mut u = RingsUpdate::new();
                u.set(field, number(value)?)?;
                self.nic(iface)?.set_rings(&u)?;
            }
            ItemId::NicChannel { iface, field } => {
                let mut u = ChannelsUpdate::new();
                u.set(field, number(value)?)?;
                self.nic(iface)?.set_channels(&u)?;
            }
            ItemId::NicRss { iface } => {
                let entries = value
                    .split_whitespace()
                    .map(number)
                    .collect::<Result<Vec<u32>>>()?;
                let update = RssUpdate {
                    indirection: Some(Indirection::from_entries(entries)),
                    ..RssUpdate::default()
                };
                self.nic(iface)?.set_rss(&update)?;
            }
            ItemId::NicRps { iface, queue } => {
                let cpus = CpuSet::from_list(value)?;
                self.nic(iface)?.set_rps(*queue, &cpus)?;
            }
            ItemId::NicXps { iface, queue } => {
                let cpus = CpuSet::from_list(value)?;
                self.nic(iface)?.set_xps(*queue, &cpus)?;
            }
            ItemId::MptcpLimits => {
                let mut it = value.split_whitespace().map(number);
                let (Some(s), Some(a)) = (it.next(), it.next()) else {
                    return Err(Error::profile(
                        "journal",
                        format!("{id}: {value:?} is not two numbers"),
                    ));
                };
                self.pm()?.set_limits(s?, a?)?;
            }
            ItemId::MptcpEndpoint { addr } => {
                let addr = *addr;
                let exists = self.pm()?.endpoints()?.iter().any(|e| e.addr == addr);
                if exists {
                    self.pm()?.remove_endpoint(EndpointRef::Addr(addr))?;
                }
                if value != ABSENT {
                    let (flags, port, dev) = parse_endpoint(value).ok_or_else(|| {
                        Error::profile("journal", format!("{id}: {value:?} is not an endpoint"))
                    })?;
                    let mut spec = EndpointSpec::new(addr).flags(flags);
                    if let Some(p) = port {
                        spec = spec.port(p);
                    }
                    if let Some(d) = dev {
                        spec = spec.interface(Interface::Name(d));
                    }
                    self.pm()?.add_endpoint(&spec)?;
                }
            }
            ItemId::NoTrack => set_notrack(self.target, value)?,
        }
        Ok(())
    }
}

fn on_off(on: bool) -> String {
    if on { "on" } else { "off" }.to_owned()
}

fn join(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

fn field_of(
    fields: Vec<(&'static str, u32)>,
    field: &str,
    iface: &IfName,
    what: &str,
) -> Result<String> {
    fields
        .into_iter()
        .find(|(n, _)| *n == field)
        .map(|(_, v)| v.to_string())
        .ok_or_else(|| Error::profile("nic", format!("{iface}: no {what} field {field:?}")))
}

fn no_queue(iface: &IfName, dir: &str, queue: u32) -> Error {
    Error::profile("nic", format!("{iface} has no {dir} queue {queue}"))
}

/// The NOTRACK table as its ruleset text (read over netlink, one trimmed line per line,
/// the form plans compare), or [`ABSENT`]. A table holding rules nettune did not write
/// is refused: it could not be put back exactly.
pub(crate) fn notrack_listing(target: &Target) -> Result<String> {
    Ok(
        match nettune_conntrack::NoTrack::read(Some(target.netns()))? {
            None => ABSENT.to_owned(),
            Some(set) => flat_lines(&set.text()),
        },
    )
}

/// A ruleset's lines, trimmed, without blank ones, joined by newlines.
pub(crate) fn flat_lines(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Puts the NOTRACK table back to a listing (or removes it for [`ABSENT`]), over
/// netlink, in one batch. Listings journaled by `nft list` read back the same way.
fn set_notrack(target: &Target, listing: &str) -> Result<()> {
    if listing == ABSENT {
        return match nettune_conntrack::NoTrack::remove(Some(target.netns())) {
            Ok(()) | Err(nettune_conntrack::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    nettune_conntrack::NoTrack::from_ruleset(listing)?.replace(Some(target.netns()))?;
    Ok(())
}

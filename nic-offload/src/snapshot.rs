//! `NicSnapshot`: everything this crate can read about a device, and `restore`.

use crate::error::{Error, Result};
use crate::ifname::IfName;
use crate::link::Pause;
use crate::nic::Nic;
use crate::params::{Channels, Coalesce, Rings};
use crate::proto::cmd;
use crate::rss::{FlowType, Indirection, Rss, RssUpdate, Rxh};
use crate::steering::Steering;

/// The settings of a device at one moment. Parts the driver does not support are `None`
/// (or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NicSnapshot {
    /// The interface.
    pub name: IfName,
    /// The *requested* state of every changeable feature (restoring the active state
    /// would turn a driver's temporary refusal into a request).
    pub features: Vec<(String, bool)>,
    /// Interrupt coalescing.
    pub coalesce: Option<Coalesce>,
    /// Ring sizes.
    pub rings: Option<Rings>,
    /// Queue counts.
    pub channels: Option<Channels>,
    /// RSS table, key and function.
    pub rss: Option<Rss>,
    /// Flow-hash fields per flow type.
    pub flow_hash: Vec<(FlowType, Rxh)>,
    /// RPS/XPS/IRQ steering.
    pub steering: Option<Steering>,
    /// Pause frame use (absent from snapshots taken before it was kept).
    #[cfg_attr(feature = "serde", serde(default))]
    pub pause: Option<Pause>,
    /// The driver's private flags.
    #[cfg_attr(feature = "serde", serde(default))]
    pub private_flags: Vec<(String, bool)>,
}

/// `Ok(Some)`, `Ok(None)` when unsupported, or the error.
fn optional<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_unsupported() => Ok(None),
        Err(e) => Err(e),
    }
}

impl Nic {
    /// Reads features, coalescing, rings, channels, RSS, flow hashing, steering, pause and
    /// private flags.
    ///
    /// # Errors
    ///
    /// Any error other than the driver lacking an operation.
    pub fn snapshot(&self) -> Result<NicSnapshot> {
        let features = self
            .features()?
            .iter()
            .filter(|f| f.changeable && !f.fixed)
            .map(|f| (f.name.to_owned(), f.requested))
            .collect();
        let mut flow_hash = Vec::new();
        if optional(self.rx_rings())?.is_some() {
            for flow in FlowType::ALL {
                if let Some(fields) = optional(self.flow_hash(flow))? {
                    flow_hash.push((flow, fields));
                }
            }
        }
        Ok(NicSnapshot {
            name: self.name().clone(),
            features,
            coalesce: optional(self.coalesce())?,
            rings: optional(self.rings())?,
            channels: optional(self.channels())?,
            rss: optional(self.rss())?,
            flow_hash,
            steering: optional(self.steering())?,
            pause: optional(self.pause())?,
            private_flags: optional(self.private_flags())?.unwrap_or_default(),
        })
    }

    /// Puts a snapshot back: channels first (RSS depends on the queue count), then the
    /// requested features, coalescing, rings, RSS, flow hashing, steering, pause and
    /// private flags. Parts that
    /// already match are not written. Needs `CAP_NET_ADMIN` (and root for sysfs).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when the snapshot is of another interface (nothing is
    /// written); [`Error::RestoreIncomplete`] listing what was and was not restored.
    pub fn restore(&self, snap: &NicSnapshot) -> Result<()> {
        if &snap.name != self.name() {
            return Err(Error::InvalidValue {
                iface: self.name().to_string(),
                op: "restore",
                reason: format!("the snapshot is of {}", snap.name),
                source: None,
            });
        }
        let mut restored = Vec::new();
        let mut failed = Vec::new();
        let mut step = |what: &str, r: Result<bool>| match r {
            Ok(true) => restored.push(what.to_owned()),
            Ok(false) => {}
            Err(e) => failed.push((what.to_owned(), e.to_string())),
        };
        if let Some(want) = snap.channels {
            step(
                "channels",
                self.channels().and_then(|now| {
                    if now == want {
                        return Ok(false);
                    }
                    let mut b = want.encode(cmd::SCHANNELS);
                    self.ethtool("ETHTOOL_SCHANNELS", &mut b).map(|_| true)
                }),
            );
        }
        step(
            "features",
            self.features().and_then(|now| {
                let differ: Vec<(String, bool)> = snap
                    .features
                    .iter()
                    .filter(|(name, on)| now.get(name).is_some_and(|f| f.requested != *on))
                    .cloned()
                    .collect();
                if differ.is_empty() {
                    return Ok(false);
                }
                self.set_requested(&differ).map(|_| true)
            }),
        );
        if let Some(want) = snap.coalesce {
            step(
                "coalesce",
                self.coalesce().and_then(|now| {
                    if now == want {
                        return Ok(false);
                    }
                    let mut b = want.encode(cmd::SCOALESCE);
                    self.ethtool("ETHTOOL_SCOALESCE", &mut b).map(|_| true)
                }),
            );
        }
        if let Some(want) = snap.rings {
            step(
                "rings",
                self.rings().and_then(|now| {
                    if now == want {
                        return Ok(false);
                    }
                    let mut b = want.encode(cmd::SRINGPARAM);
                    self.ethtool("ETHTOOL_SRINGPARAM", &mut b).map(|_| true)
                }),
            );
        }
        if let Some(want) = &snap.rss {
            step(
                "rss",
                self.rss().and_then(|now| {
                    if &now == want {
                        return Ok(false);
                    }
                    let update = RssUpdate {
                        indirection: (now.indirection != want.indirection)
                            .then(|| Indirection::from_entries(want.indirection.clone())),
                        key: (now.key != want.key && !want.key.is_empty())
                            .then(|| want.key.clone()),
                        hfunc: (now.hfunc != want.hfunc && want.hfunc != 0).then_some(want.hfunc),
                    };
                    self.set_rss(&update).map(|()| true)
                }),
            );
        }
        for (flow, fields) in &snap.flow_hash {
            step(
                &format!("flow hash {flow}"),
                self.flow_hash(*flow).and_then(|now| {
                    if now == *fields {
                        return Ok(false);
                    }
                    self.set_flow_hash(*flow, *fields).map(|()| true)
                }),
            );
        }
        if let Some(want) = snap.pause {
            step(
                "pause",
                self.pause().and_then(|now| {
                    if now == want {
                        return Ok(false);
                    }
                    self.set_pause(want).map(|_| true)
                }),
            );
        }
        if !snap.private_flags.is_empty() {
            step(
                "private flags",
                self.private_flags().and_then(|now| {
                    let differ: Vec<(&str, bool)> = snap
                        .private_flags
                        .iter()
                        .filter(|(name, on)| now.iter().any(|(n, v)| n == name && v != on))
                        .map(|(name, on)| (name.as_str(), *on))
                        .collect();
                    if differ.is_empty() {
                        return Ok(false);
                    }
                    self.set_private_flags(&differ).map(|_| true)
                }),
            );
        }
        if let Some(want) = &snap.steering {
            step(
                "steering",
                self.steering()
                    .and_then(|now| self.restore_steering(&now, want)),
            );
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::RestoreIncomplete {
                iface: self.name().to_string(),
                restored,
                failed,
            })
        }
    }

    fn restore_steering(&self, now: &Steering, want: &Steering) -> Result<bool> {
        let mut changed = false;
        for q in &want.rx {
            let cur = now.rx.iter().find(|c| c.index == q.index);
            if cur.is_none_or(|c| c.rps_cpus != q.rps_cpus) {
                self.set_rps(q.index, &q.rps_cpus)?;
                changed = true;
            }
            if cur.is_none_or(|c| c.rps_flow_cnt != q.rps_flow_cnt) {
                self.set_rps_flow_cnt(q.index, q.rps_flow_cnt)?;
                changed = true;
            }
        }
        for q in &want.tx {
            if let Some(cpus) = &q.xps_cpus {
                let cur = now
                    .tx
                    .iter()
                    .find(|c| c.index == q.index)
                    .and_then(|c| c.xps_cpus.as_ref());
                if cur != Some(cpus) {
                    self.set_xps(q.index, cpus)?;
                    changed = true;
                }
            }
        }
        for irq in &want.irqs {
            let cur = now.irqs.iter().find(|c| c.number == irq.number);
            if cur.is_some_and(|c| c.affinity != irq.affinity) && !irq.affinity.is_empty() {
                self.set_irq_affinity(irq.number, &irq.affinity)?;
                changed = true;
            }
        }
        Ok(changed)
    }
}

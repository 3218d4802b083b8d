//! Device features (offloads): `ethtool -k` / `-K` over ETHTOOL_GSSET_INFO,
//! ETHTOOL_GSTRINGS, ETHTOOL_GFEATURES and ETHTOOL_SFEATURES.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::nic::Nic;
use crate::proto;

/// The state of one device feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Feature<'a> {
    /// The kernel's name (`tx-tcp-segmentation`); empty for unnamed slots.
    pub name: &'a str,
    /// The bit index.
    pub index: usize,
    /// The driver lets it be changed (`hw_features`).
    pub changeable: bool,
    /// Wanted by the user.
    pub requested: bool,
    /// On now.
    pub active: bool,
    /// Can never change (not changeable, or marked never-changed).
    pub fixed: bool,
}

/// Every feature of a device, as one `ETHTOOL_GFEATURES` reply read against the names
/// the handle cached: reading costs one ioctl and no allocation per feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    names: Arc<[String]>,
    reply: Vec<u8>,
}

impl Features {
    /// Features from (available, requested, active, never-changed) words per block of 32,
    /// laid out as an `ETHTOOL_GFEATURES` reply (the netlink backend's bitsets).
    pub(crate) fn from_blocks(
        names: Arc<[String]>,
        blocks: impl Iterator<Item = [u32; 4]>,
    ) -> Self {
        let mut reply = proto::gfeatures(proto::blocks(names.len()));
        for (i, b) in blocks.enumerate() {
            for (k, w) in b.iter().enumerate() {
                proto::put32(&mut reply, 8 + i * 16 + k * 4, *w);
            }
        }
        Self { names, reply }
    }

    /// The feature at bit `index` (named or not).
    pub fn feature(&self, index: usize) -> Option<Feature<'_>> {
        let name = self.names.get(index)?;
        let [available, requested, active, never] = proto::feature_block(&self.reply, index / 32);
        let bit = 1u32 << (index % 32);
        Some(Feature {
            name,
            index,
            changeable: available & bit != 0,
            requested: requested & bit != 0,
            active: active & bit != 0,
            fixed: available & bit == 0 || never & bit != 0,
        })
    }

    /// The named features, in bit order (empty name slots left out).
    pub fn iter(&self) -> impl Iterator<Item = Feature<'_>> {
        (0..self.names.len())
            .filter_map(|i| self.feature(i))
            .filter(|f| !f.name.is_empty())
    }

    /// The feature with kernel name `name`.
    pub fn get(&self, name: &str) -> Option<Feature<'_>> {
        self.iter().find(|f| f.name == name)
    }

    /// How many feature bits the device has (named or not).
    pub fn bit_count(&self) -> usize {
        self.names.len()
    }

    /// The features an offload name stands for.
    pub fn expand(&self, offload: &Offload) -> Vec<Feature<'_>> {
        let pattern = offload.pattern();
        self.iter().filter(|f| glob1(pattern, f.name)).collect()
    }
}

impl<'a> IntoIterator for &'a Features {
    type Item = Feature<'a>;
    type IntoIter = Box<dyn Iterator<Item = Feature<'a>> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Matches `name` against a pattern with at most one `*` (ethtool's `off_flag_def`).
fn glob1(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, post)) => {
            name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post)
        }
    }
}

/// An offload by the short name users know, expanded to kernel features exactly as the
/// ethtool tool expands it; or any kernel feature by its own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Offload {
    /// `rx`: receive checksumming (`rx-checksum`).
    Rx,
    /// `tx`: transmit checksumming (`tx-checksum-*`).
    Tx,
    /// `sg`: scatter-gather (`tx-scatter-gather*`).
    Sg,
    /// `tso`: TCP segmentation (`tx-tcp*-segmentation`).
    Tso,
    /// `ufo`: UDP fragmentation (`tx-udp-fragmentation`).
    Ufo,
    /// `gso`: generic segmentation (`tx-generic-segmentation`).
    Gso,
    /// `gro`: generic receive offload (`rx-gro`).
    Gro,
    /// `lro`: large receive offload (`rx-lro`).
    Lro,
    /// `rxvlan`: VLAN tag stripping (`rx-vlan-hw-parse`).
    RxVlan,
    /// `txvlan`: VLAN tag insertion (`tx-vlan-hw-insert`).
    TxVlan,
    /// `ntuple`: n-tuple filters (`rx-ntuple-filter`).
    Ntuple,
    /// `rxhash`: receive hashing (`rx-hashing`).
    RxHash,
    /// Any feature by its kernel name (`rx-gro-hw`, `rx-udp-gro-forwarding`, ...).
    Named(String),
}

impl Offload {
    /// The kernel-name pattern (one `*` at most).
    pub fn pattern(&self) -> &str {
        match self {
            Self::Rx => "rx-checksum",
            Self::Tx => "tx-checksum-*",
            Self::Sg => "tx-scatter-gather*",
            Self::Tso => "tx-tcp*-segmentation",
            Self::Ufo => "tx-udp-fragmentation",
            Self::Gso => "tx-generic-segmentation",
            Self::Gro => "rx-gro",
            Self::Lro => "rx-lro",
            Self::RxVlan => "rx-vlan-hw-parse",
            Self::TxVlan => "tx-vlan-hw-insert",
            Self::Ntuple => "rx-ntuple-filter",
            Self::RxHash => "rx-hashing",
            Self::Named(name) => name,
        }
    }

    /// The short name (or the kernel name for [`Offload::Named`]).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Rx => "rx",
            Self::Tx => "tx",
            Self::Sg => "sg",
            Self::Tso => "tso",
            Self::Ufo => "ufo",
            Self::Gso => "gso",
            Self::Gro => "gro",
            Self::Lro => "lro",
            Self::RxVlan => "rxvlan",
            Self::TxVlan => "txvlan",
            Self::Ntuple => "ntuple",
            Self::RxHash => "rxhash",
            Self::Named(name) => name,
        }
    }
}

impl FromStr for Offload {
    type Err = Error;
    /// A short name, or a kernel feature name (checked against the device when used).
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "rx" => Self::Rx,
            "tx" => Self::Tx,
            "sg" => Self::Sg,
            "tso" => Self::Tso,
            "ufo" => Self::Ufo,
            "gso" => Self::Gso,
            "gro" => Self::Gro,
            "lro" => Self::Lro,
            "rxvlan" => Self::RxVlan,
            "txvlan" => Self::TxVlan,
            "ntuple" => Self::Ntuple,
            "rxhash" => Self::RxHash,
            other => {
                // `*` is this crate's own pattern character (for the short names): a name
                // the user gives is one feature, never a pattern over all of them.
                if other.is_empty()
                    || other.len() >= proto::GSTRING_LEN
                    || !other.bytes().all(|b| b.is_ascii_graphic() && b != b'*')
                {
                    return Err(Error::UnknownFeature {
                        iface: "-".into(),
                        name: other.chars().take(40).collect(),
                        hint: ": not a feature name".into(),
                    });
                }
                Self::Named(other.to_owned())
            }
        })
    }
}

impl fmt::Display for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one kernel feature a set asked to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum FeatureOutcome {
    /// Now as requested.
    Applied,
    /// The device cannot change it; it stays as it was.
    Fixed,
    /// Requested, but the driver did not turn it on (or off) — it may follow later, when
    /// something it depends on changes (`ETHTOOL_F_WISH`).
    Wish,
}

/// What happened to one requested offload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OffloadOutcome {
    /// The offload asked for.
    pub offload: Offload,
    /// On or off.
    pub on: bool,
    /// Each kernel feature it stands for, and what happened to it.
    pub features: Vec<(String, FeatureOutcome)>,
}

/// The result of [`Nic::set_offloads`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FeatureChange {
    /// For each requested offload, each kernel feature it stands for and what happened.
    pub requested: Vec<OffloadOutcome>,
    /// Other features whose active state changed as a side effect: (name, now active).
    pub side_effects: Vec<(String, bool)>,
    /// The flags the kernel returned (`ETHTOOL_F_UNSUPPORTED` 1, `ETHTOOL_F_WISH` 2).
    pub kernel_flags: i32,
}

impl FeatureChange {
    /// Whether every feature is now as requested.
    pub fn all_applied(&self) -> bool {
        self.requested.iter().all(|r| {
            r.features
                .iter()
                .all(|(_, o)| *o == FeatureOutcome::Applied)
        })
    }
}

impl Nic {
    /// The feature names, read once per handle (`ETHTOOL_GSSET_INFO` then
    /// `ETHTOOL_GSTRINGS`, sized from the raw count; empty slots kept).
    pub(crate) fn names(&self) -> Result<Arc<[String]>> {
        if let Some(n) = self.feature_names.get() {
            return Ok(Arc::clone(n));
        }
        let names = self.string_set(proto::ETH_SS_FEATURES, "ETHTOOL_GSSET_INFO")?;
        Ok(Arc::clone(self.feature_names.get_or_init(|| names.into())))
    }

    /// Every feature with its changeable, requested, active and fixed state
    /// (`ETHTOOL_GFEATURES`, `ethtool -k`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the device has no feature set.
    #[doc(alias = "ETHTOOL_GFEATURES")]
    pub fn features(&self) -> Result<Features> {
        if let Some(nl) = self.via_netlink(crate::NicOp::Features) {
            return nl.features(self.name().as_str());
        }
        let names = self.names()?;
        let mut reply = proto::gfeatures(proto::blocks(names.len()));
        self.ethtool("ETHTOOL_GFEATURES", &mut reply)?;
        Ok(Features { names, reply })
    }

    /// Turns offloads on or off (`ETHTOOL_SFEATURES` with the exact block count, `ethtool -K`),
    /// then reads the features back and reports, for each kernel feature each offload
    /// stands for, whether it applied, is fixed or stayed a wish; and any other feature that
    /// changed as a side effect. Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFeature`] (nothing is set) when an offload names no feature of this
    /// device; [`Error::PermissionDenied`]; [`Error::InvalidValue`] when the driver refuses.
    ///
    /// ```no_run
    /// use nettune_nic::{Nic, Offload};
    /// let nic = Nic::open("eth0")?;
    /// let change = nic.set_offloads(&[(Offload::Gro, true), (Offload::Lro, false)])?;
    /// for r in &change.requested {
    ///     println!("{} {}: {:?}", r.offload, r.on, r.features);
    /// }
    /// # Ok::<(), nettune_nic::Error>(())
    /// ```
    #[doc(alias = "ETHTOOL_SFEATURES")]
    pub fn set_offloads(&self, changes: &[(Offload, bool)]) -> Result<FeatureChange> {
        let before = self.features()?;
        let nblocks = proto::blocks(before.bit_count());
        let mut blocks = vec![(0u32, 0u32); nblocks];
        let mut plan = Vec::with_capacity(changes.len());
        for (offload, on) in changes {
            let matched = before.expand(offload);
            if matched.is_empty() {
                return Err(self.unknown_feature(&before, offload));
            }
            let mut targets = Vec::new();
            for f in matched {
                if !f.fixed {
                    let (valid, requested) = &mut blocks[f.index / 32];
                    let bit = 1u32 << (f.index % 32);
                    *valid |= bit;
                    if *on {
                        *requested |= bit;
                    } else {
                        *requested &= !bit;
                    }
                }
                targets.push(f.index);
            }
            plan.push((offload.clone(), *on, targets));
        }
        let flags = if blocks.iter().any(|(valid, _)| *valid != 0) {
            let mut b = proto::sfeatures(&blocks);
            self.ethtool("ETHTOOL_SFEATURES", &mut b)?
        } else {
            0
        };
        let after = self.features()?;
        let mut touched = vec![false; after.bit_count()];
        let requested = plan
            .into_iter()
            .map(|(offload, on, targets)| {
                let outcomes = targets
                    .into_iter()
                    .filter_map(|i| {
                        let (old, new) = (before.feature(i)?, after.feature(i)?);
                        if let Some(t) = touched.get_mut(i) {
                            *t = true;
                        }
                        let outcome = if old.fixed && old.active != on {
                            FeatureOutcome::Fixed
                        } else if new.active == on {
                            FeatureOutcome::Applied
                        } else {
                            FeatureOutcome::Wish
                        };
                        Some((new.name.to_owned(), outcome))
                    })
                    .collect();
                OffloadOutcome {
                    offload,
                    on,
                    features: outcomes,
                }
            })
            .collect();
        let side_effects = (0..after.bit_count())
            .filter_map(|i| Some((before.feature(i)?, after.feature(i)?)))
            .filter(|(old, new)| {
                !touched[new.index] && old.active != new.active && !new.name.is_empty()
            })
            .map(|(_, new)| (new.name.to_owned(), new.active))
            .collect();
        Ok(FeatureChange {
            requested,
            side_effects,
            kernel_flags: flags,
        })
    }

    /// Sets the requested state of kernel features by name, exactly (for restore).
    pub(crate) fn set_requested(&self, wanted: &[(String, bool)]) -> Result<FeatureChange> {
        let changes: Vec<(Offload, bool)> = wanted
            .iter()
            .map(|(n, on)| (Offload::Named(n.clone()), *on))
            .collect();
        self.set_offloads(&changes)
    }

    fn unknown_feature(&self, features: &Features, offload: &Offload) -> Error {
        let want = offload.pattern().replace('*', "");
        let close: Vec<&str> = features
            .iter()
            .map(|f| f.name)
            .filter(|n| n.contains(&want) || want.contains(*n))
            .take(5)
            .collect();
        Error::UnknownFeature {
            iface: self.name().to_string(),
            name: offload.to_string(),
            hint: if close.is_empty() {
                "; short names: rx tx sg tso ufo gso gro lro rxvlan txvlan ntuple rxhash".into()
            } else {
                format!("; did you mean {}", close.join(", "))
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_feature_is_never_a_pattern() {
        for name in ["*", "rx-*", "*-gro"] {
            let e = name.parse::<Offload>().expect_err(name);
            assert!(e.to_string().contains("not a feature name"), "{e}");
        }
        assert!("rx-gro-hw".parse::<Offload>().is_ok());
    }

    #[test]
    fn aliases_expand_like_ethtool() {
        let names = [
            "tx-scatter-gather",
            "tx-checksum-ipv4",
            "tx-checksum-ip-generic",
            "",
            "tx-tcp-segmentation",
            "tx-tcp-ecn-segmentation",
            "tx-tcp-mangleid-segmentation",
            "tx-tcp6-segmentation",
            "tx-tcp-accecn-segmentation",
            "tx-scatter-gather-fraglist",
            "rx-gro",
            "rx-gro-hw",
            "rx-checksum",
            "tx-udp-segmentation",
        ];
        let mut reply = proto::gfeatures(1);
        proto::put32(&mut reply, 8, u32::MAX); // all available
        let features = Features {
            names: names
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<Vec<_>>()
                .into(),
            reply,
        };
        assert!(features.iter().all(|f| f.changeable && !f.fixed));
        assert_eq!(
            features.iter().count(),
            names.len() - 1,
            "the empty slot is skipped"
        );
        let names_of = |o: Offload| {
            features
                .expand(&o)
                .iter()
                .map(|f| f.name.to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names_of(Offload::Tso).len(),
            5,
            "tx-tcp*-segmentation: 5 bits on 6.18"
        );
        assert_eq!(
            names_of(Offload::Sg),
            ["tx-scatter-gather", "tx-scatter-gather-fraglist"]
        );
        assert_eq!(
            names_of(Offload::Tx),
            ["tx-checksum-ipv4", "tx-checksum-ip-generic"]
        );
        assert_eq!(names_of(Offload::Gro), ["rx-gro"], "not rx-gro-hw");
        assert_eq!(names_of("rx-gro-hw".parse().expect("name")), ["rx-gro-hw"]);
        assert!(names_of(Offload::Lro).is_empty());
        assert!("".parse::<Offload>().is_err());
        assert!("no spaces allowed".parse::<Offload>().is_err());
        assert_eq!("tso".parse::<Offload>().ok(), Some(Offload::Tso));
    }
}

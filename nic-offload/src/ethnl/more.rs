//! Features, pause (with its statistics), timestamping info (with its statistics), RSS,
//! the standard statistics groups, and the attribute-level `*_SET` requests.

use std::sync::Arc;

use nettune_netlink::proto::{self, Attr};

use super::{
    EthtoolNl, FLAG_COMPACT_BITSETS, FLAG_STATS, NlCoalesce, NlRings, TcpDataSplit, coalesce, msg,
    rings, walk,
};
use crate::error::Result;
use crate::features::Features;
use crate::link::Pause;
use crate::nic::TimestampingInfo;
use crate::params::{Channels, ChannelsUpdate, Coalesce, CoalesceUpdate, RingsUpdate};
use crate::rss::{FlowType, Rss, RssUpdate, Rxh};

/// `ETHTOOL_A_BITSET_*`.
mod bitset {
    pub(super) const SIZE: u16 = 2;
    pub(super) const BITS: u16 = 3;
    pub(super) const VALUE: u16 = 4;
    pub(super) const MASK: u16 = 5;
    pub(super) const NOMASK: u16 = 1;
    pub(super) const BITS_BIT: u16 = 1;
    pub(super) const BIT_INDEX: u16 = 1;
    pub(super) const BIT_VALUE: u16 = 3;
}

/// The most bits a bitset may claim before the reply is called hostile.
const MAX_BITS: u32 = 1 << 16;

/// A bitset attribute as 32-bit words: the value bits (compact `VALUE`, or the listed bits
/// of a verbose one). Bits past `SIZE` are dropped.
pub(super) fn decode_bitset(a: &Attr<'_>) -> std::result::Result<Vec<u32>, proto::DecodeError> {
    let mut size = 0u32;
    let mut value: Option<Vec<u32>> = None;
    let mut listed: Vec<u32> = Vec::new();
    let mut nomask = false;
    a.walk(|b| {
        match b.ty {
            bitset::SIZE => size = b.u32()?,
            bitset::NOMASK => nomask = true,
            bitset::VALUE => {
                value = Some(
                    b.payload
                        .chunks(4)
                        .map(|c| {
                            let mut w = [0u8; 4];
                            w[..c.len()].copy_from_slice(c);
                            u32::from_ne_bytes(w)
                        })
                        .collect(),
                );
            }
            bitset::MASK => {}
            bitset::BITS => b.walk(|bit| {
                if bit.ty != bitset::BITS_BIT {
                    return Ok(());
                }
                let (mut index, mut on) = (None, false);
                bit.walk(|f| {
                    match f.ty {
                        bitset::BIT_INDEX => index = Some(f.u32()?),
                        bitset::BIT_VALUE => on = true,
                        _ => {}
                    }
                    Ok(())
                })?;
                if let Some(i) = index.filter(|_| on || nomask) {
                    listed.push(i);
                }
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    if size > MAX_BITS {
        return Err(proto::DecodeError {
            what: "a bitset of more than 65536 bits",
            offset: 0,
        });
    }
    let words = size.div_ceil(32) as usize;
    let mut out = value.unwrap_or_default();
    out.resize(words, 0);
    for i in listed.into_iter().filter(|&i| i < size) {
        out[i as usize / 32] |= 1 << (i % 32);
    }
    if size % 32 != 0
        && let Some(last) = out.last_mut()
    {
        *last &= (1u32 << (size % 32)) - 1;
    }
    Ok(out)
}

/// Pause settings as netlink reports them, with the pause frame counters when the driver
/// keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct NlPause {
    /// Autoneg, RX and TX, as `ethtool -a` shows them.
    pub pause: Pause,
    /// Pause frames sent (`ethtool -I -a`), when the driver counts them.
    pub tx_frames: Option<u64>,
    /// Pause frames received.
    pub rx_frames: Option<u64>,
}

/// Timestamping info as netlink reports it, with the driver's timestamping counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct NlTsInfo {
    /// What `ETHTOOL_GET_TS_INFO` also says.
    pub info: TimestampingInfo,
    /// Hardware TX stamps taken, lost and failed, when the driver counts them.
    pub tx_stats: Option<(u64, u64, u64)>,
}

/// One standard statistics group (`ethtool -S IF --groups eth-mac`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StatsGroup {
    /// `eth-phy`, `eth-mac`, `eth-ctrl` or `rmon` (or `group-N`).
    pub group: String,
    /// (IEEE/RFC counter name, value), as the kernel names them.
    pub stats: Vec<(String, u64)>,
}

/// A ring change over netlink: the ioctl's sizes and the fields only netlink carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NlRingsUpdate {
    /// RX, RX mini, RX jumbo and TX sizes (the maxima are not settable).
    pub rings: RingsUpdate,
    /// `rx-buf-len`.
    pub rx_buf_len: Option<u32>,
    /// `tcp-data-split`.
    pub tcp_data_split: Option<TcpDataSplit>,
    /// `cqe-size`.
    pub cqe_size: Option<u32>,
    /// `tx-push`.
    pub tx_push: Option<bool>,
    /// `rx-push`.
    pub rx_push: Option<bool>,
    /// `tx-push-buf-len`.
    pub tx_push_buf_len: Option<u32>,
    /// `hds-thresh`.
    pub hds_thresh: Option<u32>,
}

impl NlRingsUpdate {
    /// No change.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The standard statistics groups' names (`stats-std`) and their string sets
/// (`ETH_SS_STATS_ETH_PHY` ...), by group id.
const STD_GROUPS: [&str; 4] = ["eth-phy", "eth-mac", "eth-ctrl", "rmon"];

/// A stats group as the reply has it: group id, string set id, (counter index, value).
type RawGroup = (u32, u32, Vec<(u16, u64)>);

/// `ETHTOOL_A_RSS_*`.
mod rss {
    pub(super) const CONTEXT: u16 = 2;
    pub(super) const HFUNC: u16 = 3;
    pub(super) const INDIR: u16 = 4;
    pub(super) const HKEY: u16 = 5;
    pub(super) const FLOW_HASH: u16 = 8;
}

/// `ETHTOOL_A_FLOW_*` (the attributes of `ETHTOOL_A_RSS_FLOW_HASH`) for each flow type.
const FLOWS: [(FlowType, u16); 10] = [
    (FlowType::Ip4, 2),
    (FlowType::Ip6, 3),
    (FlowType::Tcp4, 4),
    (FlowType::Tcp6, 5),
    (FlowType::Udp4, 6),
    (FlowType::Udp6, 7),
    (FlowType::Sctp4, 8),
    (FlowType::Sctp6, 9),
    (FlowType::AhEsp4, 14),
    (FlowType::AhEsp6, 15),
];

fn flow_of(attr: u16) -> Option<FlowType> {
    FLOWS.iter().find(|(_, a)| *a == attr).map(|(f, _)| *f)
}

fn flow_attr(flow: FlowType) -> u16 {
    FLOWS
        .iter()
        .find(|(f, _)| *f == flow)
        .map_or(0, |(_, a)| *a)
}

/// An `NLA_UINT`: 4 or 8 bytes.
fn uint(a: &Attr<'_>) -> std::result::Result<u64, proto::DecodeError> {
    if a.payload.len() == 8 {
        a.u64()
    } else {
        a.u32().map(u64::from)
    }
}

/// `ETHTOOL_A_STATS_*` and `ETHTOOL_A_STATS_GRP_*`.
mod stats {
    pub(super) const HEADER: u16 = 2;
    pub(super) const GROUPS: u16 = 3;
    pub(super) const GRP: u16 = 4;
    pub(super) const GRP_ID: u16 = 2;
    pub(super) const GRP_SS_ID: u16 = 3;
    pub(super) const GRP_STAT: u16 = 4;
}

impl EthtoolNl {
    /// The names of kernel string set `set` (`ETHTOOL_MSG_STRSET_GET`), by index; a set
    /// the kernel does not have is empty.
    pub(crate) fn strings(&self, iface: &str, set: u32) -> Result<Vec<String>> {
        const OP: &str = "string set (netlink)";
        self.get_with(
            iface,
            OP,
            msg::STRSET_GET,
            0,
            |m| {
                m.nest(2, |m| {
                    m.nest(1, |m| {
                        m.u32(1, set);
                    });
                });
            },
            |reply| {
                let mut names: Vec<String> = Vec::new();
                // STRSET_STRINGSETS > STRINGSETS_STRINGSET > STRINGSET_STRINGS >
                // STRINGS_STRING > (STRING_INDEX, STRING_VALUE).
                walk(reply, |sets| {
                    if sets.ty != 2 {
                        return Ok(());
                    }
                    sets.walk(|one| {
                        if one.ty != 1 {
                            return Ok(());
                        }
                        one.walk(|f| {
                            if f.ty != 3 {
                                return Ok(());
                            }
                            f.walk(|s| {
                                if s.ty != 1 {
                                    return Ok(());
                                }
                                let (mut i, mut v) = (None, String::new());
                                s.walk(|x| {
                                    match x.ty {
                                        1 => i = Some(x.u32()?),
                                        2 => v = x.string(),
                                        _ => {}
                                    }
                                    Ok(())
                                })?;
                                if let Some(i) = i.filter(|&i| i < MAX_BITS) {
                                    if names.len() <= i as usize {
                                        names.resize(i as usize + 1, String::new());
                                    }
                                    names[i as usize] = v;
                                }
                                Ok(())
                            })
                        })
                    })
                })?;
                Ok(names)
            },
        )
    }

    /// Every feature with its changeable, requested, active and fixed state
    /// (`ETHTOOL_MSG_FEATURES_GET` with compact bitsets, names from `STRSET_GET`): the
    /// same [`Features`] [`crate::Nic::features`] reads over the ioctl.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`].
    pub fn features(&self, iface: &str) -> Result<Features> {
        const OP: &str = "features (netlink)";
        let names = match self.feature_names.get() {
            Some(n) => Arc::clone(n),
            None => {
                let n: Arc<[String]> = self.strings(iface, crate::proto::ETH_SS_FEATURES)?.into();
                Arc::clone(self.feature_names.get_or_init(|| n))
            }
        };
        let sets = self.get_with(
            iface,
            OP,
            msg::FEATURES_GET,
            FLAG_COMPACT_BITSETS,
            |_| {},
            |reply| {
                let mut sets: [Vec<u32>; 4] = Default::default();
                walk(reply, |a| {
                    if let 2..=5 = a.ty {
                        sets[usize::from(a.ty - 2)] = decode_bitset(&a)?;
                    }
                    Ok(())
                })?;
                Ok(sets)
            },
        )?;
        let blocks = crate::proto::blocks(names.len());
        // HW (changeable), WANTED, ACTIVE, NOCHANGE: the ioctl's block layout.
        let block = |i: usize| -> [u32; 4] {
            let w = |k: usize| sets[k].get(i).copied().unwrap_or(0);
            [w(0), w(1), w(2), w(3)]
        };
        Ok(Features::from_blocks(names, (0..blocks).map(block)))
    }

    /// Pause settings and, when the driver counts them, pause frames sent and received
    /// (`ETHTOOL_MSG_PAUSE_GET` with `ETHTOOL_FLAG_STATS`; `ethtool -I -a`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`] (`EOPNOTSUPP` for a driver without pause settings).
    pub fn pause(&self, iface: &str) -> Result<NlPause> {
        self.get_with(
            iface,
            "pause (netlink)",
            msg::PAUSE_GET,
            FLAG_STATS,
            |_| {},
            |reply| {
                let mut out = NlPause::default();
                walk(reply, |a| {
                    match a.ty {
                        2 => out.pause.autoneg = a.u8()? != 0,
                        3 => out.pause.rx = a.u8()? != 0,
                        4 => out.pause.tx = a.u8()? != 0,
                        5 => a.walk(|s| {
                            match s.ty {
                                2 => out.tx_frames = Some(s.u64()?),
                                3 => out.rx_frames = Some(s.u64()?),
                                _ => {}
                            }
                            Ok(())
                        })?,
                        _ => {}
                    }
                    Ok(())
                })?;
                Ok(out)
            },
        )
    }

    /// Sets pause frame use (`ETHTOOL_MSG_PAUSE_SET`, `ethtool -A`) and reads it back.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`] with the kernel's extended ACK.
    pub fn set_pause(&self, iface: &str, want: Pause) -> Result<NlPause> {
        self.set(iface, "set pause (netlink)", msg::PAUSE_SET, |m| {
            m.u8(2, u8::from(want.autoneg));
            m.u8(3, u8::from(want.rx));
            m.u8(4, u8::from(want.tx));
        })?;
        self.pause(iface)
    }

    /// What the device can timestamp, and its timestamping counters
    /// (`ETHTOOL_MSG_TSINFO_GET` with `ETHTOOL_FLAG_STATS`; `ethtool -T`, `-I -T`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`].
    pub fn timestamping(&self, iface: &str) -> Result<NlTsInfo> {
        self.get_with(
            iface,
            "timestamping info (netlink)",
            msg::TSINFO_GET,
            FLAG_COMPACT_BITSETS | FLAG_STATS,
            |_| {},
            |reply| {
                let first = |v: Vec<u32>| v.first().copied().unwrap_or(0);
                let (mut caps, mut tx, mut rx, mut phc) = (0, 0, 0, None);
                let mut st = [None; 3];
                walk(reply, |a| {
                    match a.ty {
                        2 => caps = first(decode_bitset(&a)?),
                        3 => tx = first(decode_bitset(&a)?),
                        4 => rx = first(decode_bitset(&a)?),
                        5 => phc = Some(a.u32()?),
                        6 => a.walk(|s| {
                            if let 1..=3 = s.ty {
                                st[usize::from(s.ty - 1)] = Some(s.u64()?);
                            }
                            Ok(())
                        })?,
                        _ => {}
                    }
                    Ok(())
                })?;
                Ok(NlTsInfo {
                    info: TimestampingInfo {
                        capabilities: caps,
                        phc_index: phc,
                        tx_types: tx,
                        rx_filters: rx,
                    },
                    tx_stats: match st {
                        [Some(a), Some(b), Some(c)] => Some((a, b, c)),
                        _ => None,
                    },
                })
            },
        )
    }

    /// The RSS indirection table, key and hash function of the default context
    /// (`ETHTOOL_MSG_RSS_GET`, Linux 6.2+; `ethtool -x`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`] (`EOPNOTSUPP` without RSS).
    pub fn rss(&self, iface: &str) -> Result<Rss> {
        self.rss_of(iface, None)
    }

    /// The indirection table, key and hash function of additional RSS context `context`
    /// (`ethtool -x IF context N`; contexts are created with `ethtool -X IF context new`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`] (`ENOENT` for a context the device does not have).
    pub fn rss_context(&self, iface: &str, context: u32) -> Result<Rss> {
        self.rss_of(iface, Some(context))
    }

    fn rss_of(&self, iface: &str, context: Option<u32>) -> Result<Rss> {
        self.get_with(
            iface,
            "rss (netlink)",
            msg::RSS_GET,
            0,
            |m| {
                if let Some(c) = context {
                    m.u32(rss::CONTEXT, c);
                }
            },
            |reply| {
                let mut out = Rss {
                    indirection: Vec::new(),
                    key: Vec::new(),
                    hfunc: 0,
                };
                walk(reply, |a| {
                    match a.ty {
                        rss::HFUNC => out.hfunc = a.u32()? as u8,
                        rss::INDIR => {
                            out.indirection = a
                                .payload
                                .chunks_exact(4)
                                .take(crate::proto::MAX_INDIR as usize)
                                .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                                .collect();
                        }
                        rss::HKEY => {
                            out.key = a.payload
                                [..a.payload.len().min(crate::proto::MAX_KEY as usize)]
                                .to_vec();
                        }
                        _ => {}
                    }
                    Ok(())
                })?;
                Ok(out)
            },
        )
    }

    /// The fields hashed for each flow type (`ETHTOOL_A_RSS_FLOW_HASH` of `RSS_GET`, Linux
    /// 6.17+; `ethtool -n IF rx-flow-hash`), in one request for all of them.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Unsupported`] on a kernel before 6.17 (no flow hashing in the reply)
    /// or a driver without it; [`crate::Error::Netlink`].
    pub fn flow_hash(&self, iface: &str) -> Result<Vec<(FlowType, Rxh)>> {
        const OP: &str = "flow hash (netlink)";
        let got = self.get_with(
            iface,
            OP,
            msg::RSS_GET,
            0,
            |_| {},
            |reply| {
                let mut out = None;
                walk(reply, |a| {
                    if a.ty == rss::FLOW_HASH {
                        let mut list = Vec::new();
                        a.walk(|f| {
                            if let Some(flow) = flow_of(f.ty) {
                                list.push((flow, Rxh::from_bits_retain(uint(&f)?)));
                            }
                            Ok(())
                        })?;
                        list.sort_by_key(|(f, _)| *f);
                        out = Some(list);
                    }
                    Ok(())
                })?;
                Ok(out)
            },
        )?;
        got.ok_or_else(|| crate::Error::Unsupported {
            iface: iface.to_owned(),
            op: OP,
            driver: "kernel's (flow hashing over netlink is Linux 6.17+)".into(),
            source: std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
        })
    }

    /// Sets the fields hashed for `flow` (`RSS_SET` with `ETHTOOL_A_RSS_FLOW_HASH`, Linux
    /// 6.17+; `ethtool -N IF rx-flow-hash`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`]: `EOPNOTSUPP` on older kernels, the kernel's extended
    /// ACK when the driver refuses the fields.
    pub fn set_flow_hash(&self, iface: &str, flow: FlowType, fields: Rxh) -> Result<()> {
        self.set(iface, "set flow hash (netlink)", msg::RSS_SET, |m| {
            m.nest(rss::FLOW_HASH, |m| {
                m.attr(flow_attr(flow), &fields.bits().to_ne_bytes());
            });
        })
    }

    /// Changes the default context's indirection table, key or hash function (`RSS_SET`,
    /// Linux 6.17+; `ethtool -X`) and reads them back. A table shorter than the device's is
    /// repeated to its size by the kernel.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`]: `EOPNOTSUPP` on older kernels, the kernel's extended
    /// ACK for a table naming a queue the device lacks or a key of the wrong length.
    pub fn set_rss(&self, iface: &str, update: &RssUpdate) -> Result<Rss> {
        self.set(iface, "set rss (netlink)", msg::RSS_SET, |m| {
            if let Some(h) = update.hfunc {
                m.u32(rss::HFUNC, u32::from(h));
            }
            if let Some(t) = &update.indirection {
                let bytes: Vec<u8> = t.entries().iter().flat_map(|v| v.to_ne_bytes()).collect();
                m.attr(rss::INDIR, &bytes);
            }
            if let Some(k) = &update.key {
                m.attr(rss::HKEY, k);
            }
        })?;
        self.rss(iface)
    }

    /// The standard statistics groups the driver keeps (`ETHTOOL_MSG_STATS_GET` for
    /// `eth-phy`, `eth-mac`, `eth-ctrl` and `rmon`; `ethtool -S IF --all-groups`), with
    /// the kernel's counter names. A driver that keeps none gives an empty list, as
    /// `ethtool` shows empty groups.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`].
    pub fn std_stats(&self, iface: &str) -> Result<Vec<StatsGroup>> {
        let raw = self.request(
            iface,
            "standard statistics (netlink)",
            msg::STATS_GET,
            stats::HEADER,
            FLAG_COMPACT_BITSETS,
            |m| {
                m.nest(stats::GROUPS, |m| {
                    m.attr(bitset::NOMASK, &[]);
                    m.u32(bitset::SIZE, STD_GROUPS.len() as u32);
                    m.attr(
                        bitset::VALUE,
                        &((1u32 << STD_GROUPS.len()) - 1).to_ne_bytes(),
                    );
                });
            },
            |reply| {
                let mut groups: Vec<RawGroup> = Vec::new();
                walk(reply, |a| {
                    if a.ty == stats::GRP {
                        let (mut id, mut ss, mut vals) = (0, 0, Vec::new());
                        a.walk(|g| {
                            match g.ty {
                                stats::GRP_ID => id = g.u32()?,
                                stats::GRP_SS_ID => ss = g.u32()?,
                                stats::GRP_STAT => g.walk(|s| {
                                    vals.push((s.ty, s.u64()?));
                                    Ok(())
                                })?,
                                _ => {}
                            }
                            Ok(())
                        })?;
                        groups.push((id, ss, vals));
                    }
                    Ok(())
                })?;
                Ok(groups)
            },
        )?;
        raw.into_iter()
            .map(|(id, ss, vals)| {
                let names = self.strings(iface, ss)?;
                Ok(StatsGroup {
                    group: STD_GROUPS
                        .get(id as usize)
                        .map_or_else(|| format!("group-{id}"), |g| (*g).to_owned()),
                    stats: vals
                        .into_iter()
                        .map(|(i, v)| {
                            let name = names
                                .get(usize::from(i))
                                .filter(|n| !n.is_empty())
                                .cloned()
                                .unwrap_or_else(|| format!("stat-{i}"));
                            (name, v)
                        })
                        .collect(),
                })
            })
            .collect()
    }

    /// Changes only the named channel counts (`ETHTOOL_MSG_CHANNELS_SET`: no
    /// read-modify-write, so a concurrent change of another count is kept) and reads back.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`] with the kernel's extended ACK (above a maximum, fewer queues
    /// than RSS uses).
    pub fn set_channels(&self, iface: &str, update: &ChannelsUpdate) -> Result<Channels> {
        let named = update.named();
        self.set(iface, "set channels (netlink)", msg::CHANNELS_SET, |m| {
            for (field, v) in &named {
                let ty = match *field {
                    "rx" => super::channels::RX_COUNT,
                    "tx" => super::channels::TX_COUNT,
                    "other" => super::channels::OTHER_COUNT,
                    "combined" => super::channels::COMBINED_COUNT,
                    _ => continue,
                };
                m.u32(ty, *v);
            }
        })?;
        self.channels(iface)
    }

    /// Changes only the named ring parameters, the netlink-only ones included
    /// (`ETHTOOL_MSG_RINGS_SET`), and reads back.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`] with the kernel's extended ACK (a parameter the driver does not
    /// support is refused by name).
    pub fn set_rings(&self, iface: &str, update: &NlRingsUpdate) -> Result<NlRings> {
        let named = update.rings.named();
        self.set(iface, "set rings (netlink)", msg::RINGS_SET, |m| {
            for (field, v) in &named {
                let ty = match *field {
                    "rx" => rings::RX,
                    "rx_mini" => rings::RX_MINI,
                    "rx_jumbo" => rings::RX_JUMBO,
                    "tx" => rings::TX,
                    _ => continue,
                };
                m.u32(ty, *v);
            }
            let u = update;
            if let Some(v) = u.rx_buf_len {
                m.u32(rings::RX_BUF_LEN, v);
            }
            if let Some(v) = u.tcp_data_split {
                m.u8(rings::TCP_DATA_SPLIT, v.to_raw());
            }
            if let Some(v) = u.cqe_size {
                m.u32(rings::CQE_SIZE, v);
            }
            if let Some(v) = u.tx_push {
                m.u8(rings::TX_PUSH, u8::from(v));
            }
            if let Some(v) = u.rx_push {
                m.u8(rings::RX_PUSH, u8::from(v));
            }
            if let Some(v) = u.tx_push_buf_len {
                m.u32(rings::TX_PUSH_BUF_LEN, v);
            }
            if let Some(v) = u.hds_thresh {
                m.u32(rings::HDS_THRESH, v);
            }
        })?;
        self.rings(iface)
    }

    /// Changes only the named coalescing fields (`ETHTOOL_MSG_COALESCE_SET`; the kernel
    /// refuses, by attribute, a field outside the driver's supported set) and reads back.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Netlink`] with the kernel's extended ACK.
    pub fn set_coalesce(&self, iface: &str, update: &CoalesceUpdate) -> Result<NlCoalesce> {
        let order: Vec<&'static str> = Coalesce::default()
            .fields()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let named = update.named();
        self.set(iface, "set coalesce (netlink)", msg::COALESCE_SET, |m| {
            for (field, v) in &named {
                let Some(i) = order.iter().position(|n| n == field) else {
                    continue;
                };
                let ty = coalesce::FIRST_IOCTL_FIELD + i as u16;
                if ty == coalesce::USE_ADAPTIVE_RX || ty == coalesce::USE_ADAPTIVE_TX {
                    m.u8(ty, u8::from(*v != 0));
                } else {
                    m.u32(ty, *v);
                }
            }
        })?;
        self.coalesce(iface)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nettune_netlink::proto::MsgBuilder;

    fn attr_of(build: impl FnOnce(&mut MsgBuilder)) -> Vec<u8> {
        let mut m = MsgBuilder::new(20, 0, 1);
        m.header(&[0; 4]);
        m.nest(2, build);
        m.finish().expect("fits")
    }

    fn first_attr(bytes: &[u8]) -> Vec<u32> {
        let msg = proto::messages(bytes).next().expect("msg").expect("ok");
        let mut out = None;
        walk(&msg, |a| {
            out = Some(decode_bitset(&a)?);
            Ok(())
        })
        .expect("walk");
        out.expect("bitset")
    }

    #[test]
    fn compact_and_verbose_bitsets_give_the_same_words() {
        let compact = attr_of(|m| {
            m.attr(bitset::NOMASK, &[]);
            m.u32(bitset::SIZE, 40);
            let mut v = Vec::new();
            v.extend_from_slice(&0x8000_0001u32.to_ne_bytes());
            v.extend_from_slice(&0xffu32.to_ne_bytes());
            m.attr(bitset::VALUE, &v);
        });
        assert_eq!(first_attr(&compact), [0x8000_0001, 0xff]);
        // Bit 0 is kept (a peer library drops it), bits past SIZE are not.
        let verbose = attr_of(|m| {
            m.u32(bitset::SIZE, 40);
            m.nest(bitset::BITS, |m| {
                for (i, on) in [
                    (0u32, true),
                    (31, true),
                    (33, false),
                    (39, true),
                    (45, true),
                ] {
                    m.nest(bitset::BITS_BIT, |m| {
                        m.u32(bitset::BIT_INDEX, i);
                        if on {
                            m.attr(bitset::BIT_VALUE, &[]);
                        }
                    });
                }
            });
        });
        assert_eq!(first_attr(&verbose), [0x8000_0001, 0x80]);
        let hostile = attr_of(|m| {
            m.u32(bitset::SIZE, u32::MAX);
        });
        let msg = proto::messages(&hostile).next().expect("msg").expect("ok");
        assert!(walk(&msg, |a| decode_bitset(&a).map(drop)).is_err());
    }
}

//! The ethtool netlink interface (generic netlink family `ethtool`, Linux 5.6+), on the
//! workspace's own netlink layer:
//! - reads: features (compact bitsets; names from `STRSET_GET`), rings with the
//!   netlink-only `rx-buf-len`, `tcp-data-split`, `cqe-size`, `tx-push`, `rx-push`,
//!   `tx-push-buf-len`, `hds-thresh`; channels; coalescing with CQE mode and TX
//!   aggregation and the DIM profiles; pause with its frame counters; timestamping info with
//!   its counters; RSS of the default and of additional contexts (6.2+) and the flow-hash
//!   fields of every flow type in one request (6.17+); the standard statistics groups (`eth-phy`, `eth-mac`, `eth-ctrl`, `rmon`);
//! - writes that name only the attributes asked for: channels, rings (the netlink-only
//!   fields too), coalescing, pause, and (6.17+) the RSS table, key and flow hashing;
//! - [`EthtoolNl::monitor`]: notifications of changes made by anyone (`ethtool --monitor`).
//!
//! A kernel refusal keeps its extended-ACK text and the offset of the attribute it
//! objected to ([`crate::Error::Netlink`]).
//!
//! The `ethtool` crate on crates.io is not used: it sets nothing but channels, it is
//! async-only (tokio), and it drops feature bit 0 when it parses bitsets; this module
//! shares the sockets, namespace handling and error type of the rest of the workspace.
//!
//! [`crate::Nic`] chooses per operation ([`crate::Nic::backend_for`], [`crate::NicOp`]):
//! this family for what the running kernel carries here, the ioctl for what only it has
//! (per-queue coalescing, n-tuple rules, driver statistics, private flags, link settings,
//! driver info; flow hashing before 6.17); [`crate::Nic::prefer`] can keep a handle on the
//! ioctl for what both carry. A netlink read is a request, a
//! reply and an ACK, about five to six times the ioctl's one syscall (`compare
//! nic_netlink`: 1.8 µs against 0.34 µs for channels, 2.3 µs against 0.37 µs for
//! features), and still three thousandths of running `ethtool`. [`crate::Nic::netlink`]
//! gives a handle's own `EthtoolNl` for what only netlink has.
//!
//! ```no_run
//! let nl = nettune_nic::ethnl::EthtoolNl::open()?;
//! let r = nl.rings("eth0")?;
//! println!("rx {} of {}, rx-buf-len {:?}", r.rings.rx, r.rings.rx_max, r.rx_buf_len);
//! # Ok::<(), nettune_nic::Error>(())
//! ```

use nettune_core::NetNs;
use nettune_netlink::genl::{self, GenlFamily};
use nettune_netlink::proto::{self, Attr, Message, MsgBuilder};
use nettune_netlink::{Handle, NlFamily};

use crate::error::{Error, Result};
use crate::params::{Channels, Coalesce, Rings};

/// Which interface an operation went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Backend {
    /// The ethtool netlink family.
    Netlink,
    /// The `SIOCETHTOOL` ioctl.
    Ioctl,
}

/// `ETHTOOL_MSG_*` requests (user to kernel).
mod msg {
    pub(super) const STRSET_GET: u8 = 1;
    pub(super) const FEATURES_GET: u8 = 11;
    pub(super) const RINGS_GET: u8 = 15;
    pub(super) const RINGS_SET: u8 = 16;
    pub(super) const CHANNELS_GET: u8 = 17;
    pub(super) const CHANNELS_SET: u8 = 18;
    pub(super) const COALESCE_GET: u8 = 19;
    pub(super) const COALESCE_SET: u8 = 20;
    pub(super) const PAUSE_GET: u8 = 21;
    pub(super) const PAUSE_SET: u8 = 22;
    pub(super) const TSINFO_GET: u8 = 25;
    pub(super) const STATS_GET: u8 = 32;
    pub(super) const RSS_GET: u8 = 38;
    pub(super) const RSS_SET: u8 = 48;
}

mod monitor;
mod more;

pub use monitor::{Monitor, Notice, NoticeKind};
pub use more::{NlPause, NlRingsUpdate, NlTsInfo, StatsGroup};

/// `ETHTOOL_A_HEADER_*`.
const HEADER_DEV_INDEX: u16 = 1;
const HEADER_DEV_NAME: u16 = 2;
const HEADER_FLAGS: u16 = 3;
/// `ETHTOOL_FLAG_COMPACT_BITSETS`: bitsets as words, without names.
const FLAG_COMPACT_BITSETS: u32 = 1;
/// `ETHTOOL_FLAG_STATS`: the statistics the driver keeps for the request.
const FLAG_STATS: u32 = 4;
/// Every `*_GET` message's first attribute is the request header.
const A_HEADER: u16 = 1;

/// `ETHTOOL_A_RINGS_*`.
mod rings {
    pub(super) const RX_MAX: u16 = 2;
    pub(super) const RX_MINI_MAX: u16 = 3;
    pub(super) const RX_JUMBO_MAX: u16 = 4;
    pub(super) const TX_MAX: u16 = 5;
    pub(super) const RX: u16 = 6;
    pub(super) const RX_MINI: u16 = 7;
    pub(super) const RX_JUMBO: u16 = 8;
    pub(super) const TX: u16 = 9;
    pub(super) const RX_BUF_LEN: u16 = 10;
    pub(super) const TCP_DATA_SPLIT: u16 = 11;
    pub(super) const CQE_SIZE: u16 = 12;
    pub(super) const TX_PUSH: u16 = 13;
    pub(super) const RX_PUSH: u16 = 14;
    pub(super) const TX_PUSH_BUF_LEN: u16 = 15;
    pub(super) const TX_PUSH_BUF_LEN_MAX: u16 = 16;
    pub(super) const HDS_THRESH: u16 = 17;
    pub(super) const HDS_THRESH_MAX: u16 = 18;
}

/// `ETHTOOL_A_CHANNELS_*`.
mod channels {
    pub(super) const RX_MAX: u16 = 2;
    pub(super) const TX_MAX: u16 = 3;
    pub(super) const OTHER_MAX: u16 = 4;
    pub(super) const COMBINED_MAX: u16 = 5;
    pub(super) const RX_COUNT: u16 = 6;
    pub(super) const TX_COUNT: u16 = 7;
    pub(super) const OTHER_COUNT: u16 = 8;
    pub(super) const COMBINED_COUNT: u16 = 9;
}

/// `ETHTOOL_A_COALESCE_*` beyond the ioctl's fields (those are 2..=23 in its order).
mod coalesce {
    pub(super) const FIRST_IOCTL_FIELD: u16 = 2;
    pub(super) const USE_ADAPTIVE_RX: u16 = 11;
    pub(super) const USE_ADAPTIVE_TX: u16 = 12;
    pub(super) const LAST_IOCTL_FIELD: u16 = 23;
    pub(super) const USE_CQE_MODE_TX: u16 = 24;
    pub(super) const USE_CQE_MODE_RX: u16 = 25;
    pub(super) const TX_AGGR_MAX_BYTES: u16 = 26;
    pub(super) const TX_AGGR_MAX_FRAMES: u16 = 27;
    pub(super) const TX_AGGR_TIME_USECS: u16 = 28;
    pub(super) const RX_PROFILE: u16 = 29;
    pub(super) const TX_PROFILE: u16 = 30;
    /// `ETHTOOL_A_PROFILE_IRQ_MODERATION`, and its `USEC`, `PKTS`, `COMPS`.
    pub(super) const PROFILE_IRQ_MODERATION: u16 = 1;
}

/// Whether the NIC splits TCP headers from payload into separate buffers
/// (`tcp-data-split`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum TcpDataSplit {
    /// The driver decides.
    Unknown,
    /// Off.
    Disabled,
    /// On.
    Enabled,
    /// A value this version does not know.
    Other(u8),
}

impl TcpDataSplit {
    fn to_raw(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Disabled => 1,
            Self::Enabled => 2,
            Self::Other(v) => v,
        }
    }

    fn from_raw(v: u8) -> Self {
        match v {
            0 => Self::Unknown,
            1 => Self::Disabled,
            2 => Self::Enabled,
            other => Self::Other(other),
        }
    }
}

/// Rings as netlink reports them: the ioctl's sizes and maxima, and what only netlink
/// carries (`None` when the driver does not report it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct NlRings {
    /// The sizes and maxima `ethtool -g` shows (0 where the driver reports none).
    pub rings: Rings,
    /// `rx-buf-len`: the size of the RX buffers.
    pub rx_buf_len: Option<u32>,
    /// `tcp-data-split`.
    pub tcp_data_split: Option<TcpDataSplit>,
    /// `cqe-size`: the completion queue event size.
    pub cqe_size: Option<u32>,
    /// `tx-push`.
    pub tx_push: Option<bool>,
    /// `rx-push`.
    pub rx_push: Option<bool>,
    /// `tx-push-buf-len` and its maximum.
    pub tx_push_buf_len: Option<(u32, u32)>,
    /// `hds-thresh` (header-data split threshold) and its maximum.
    pub hds_thresh: Option<(u32, u32)>,
}

/// Coalescing as netlink reports it: the ioctl's fields and what only netlink carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct NlCoalesce {
    /// The fields `ethtool -c` shows (0 where the driver supports none).
    pub coalesce: Coalesce,
    /// CQE-based timer mode, RX.
    pub cqe_mode_rx: Option<bool>,
    /// CQE-based timer mode, TX.
    pub cqe_mode_tx: Option<bool>,
    /// TX aggregation: bytes, frames and time (µs).
    pub tx_aggr: Option<(u32, u32, u32)>,
    /// The RX DIM (dynamic interrupt moderation) profile, from the least to the most
    /// moderated level, when the driver exposes it.
    pub rx_profile: Option<Vec<DimLevel>>,
    /// The TX DIM profile.
    pub tx_profile: Option<Vec<DimLevel>>,
}

/// One level of a DIM profile: what adaptive coalescing moves to at that load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DimLevel {
    /// Interrupt delay, µs.
    pub usec: Option<u32>,
    /// Packets per interrupt.
    pub pkts: Option<u32>,
    /// Completions per interrupt.
    pub comps: Option<u32>,
}

/// A `*_PROFILE` nest: its `IRQ_MODERATION` entries, in order.
fn decode_profile(a: &Attr<'_>) -> std::result::Result<Vec<DimLevel>, proto::DecodeError> {
    let mut out = Vec::new();
    a.walk(|level| {
        if level.ty == coalesce::PROFILE_IRQ_MODERATION {
            let mut l = DimLevel::default();
            level.walk(|f| {
                match f.ty {
                    1 => l.usec = Some(f.u32()?),
                    2 => l.pkts = Some(f.u32()?),
                    3 => l.comps = Some(f.u32()?),
                    _ => {}
                }
                Ok(())
            })?;
            out.push(l);
        }
        Ok(())
    })?;
    Ok(out)
}

/// A handle on the ethtool netlink family of one namespace.
#[derive(Debug)]
pub struct EthtoolNl {
    nl: Handle,
    family: GenlFamily,
    /// The kernel's feature names (`ETH_SS_FEATURES`), read once.
    feature_names: std::sync::OnceLock<std::sync::Arc<[String]>>,
}

impl EthtoolNl {
    /// Opens the family in the calling thread's namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel has no `ethtool` family (before 5.6, or
    /// built without `CONFIG_ETHTOOL_NETLINK`); [`Error::Netlink`] otherwise.
    pub fn open() -> Result<Self> {
        Self::wrap(Handle::open(NlFamily::Generic))
    }

    /// Opens the family in namespace `ns` (interface names resolve there).
    ///
    /// # Errors
    ///
    /// As [`EthtoolNl::open`].
    pub fn open_in(ns: &NetNs) -> Result<Self> {
        Self::wrap(Handle::open_in(ns, NlFamily::Generic))
    }

    fn wrap(nl: std::result::Result<Handle, nettune_netlink::Error>) -> Result<Self> {
        const OP: &str = "open ethtool netlink";
        let nl = nl.map_err(|e| Error::netlink("-", OP, e))?;
        let family = genl::resolve(&nl, "ethtool").map_err(|e| match e.errno() {
            Some(libc::ENOENT) => Error::Unsupported {
                iface: "-".into(),
                op: OP,
                driver: "kernel's netlink".into(),
                source: std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
            },
            _ => Error::netlink("-", OP, e),
        })?;
        Ok(Self {
            nl,
            family,
            feature_names: std::sync::OnceLock::new(),
        })
    }

    /// The backend this handle uses: netlink.
    pub fn backend(&self) -> Backend {
        Backend::Netlink
    }

    /// Sends `command` for `iface` and decodes the one reply.
    fn get<T>(
        &self,
        iface: &str,
        op: &'static str,
        command: u8,
        decode: impl FnOnce(&Message<'_>) -> std::result::Result<T, proto::DecodeError>,
    ) -> Result<T> {
        self.get_with(iface, op, command, 0, |_| {}, decode)
    }

    /// [`EthtoolNl::get`] with header flags (`ETHTOOL_FLAG_*`) and attributes after the
    /// header.
    fn get_with<T>(
        &self,
        iface: &str,
        op: &'static str,
        command: u8,
        header_flags: u32,
        extra: impl FnOnce(&mut MsgBuilder),
        decode: impl FnOnce(&Message<'_>) -> std::result::Result<T, proto::DecodeError>,
    ) -> Result<T> {
        self.request(iface, op, command, A_HEADER, header_flags, extra, decode)
    }

    /// One request whose header is attribute `header_ty` (1 for all but `STATS_GET`) and
    /// its one reply, decoded.
    #[allow(clippy::too_many_arguments)]
    fn request<T>(
        &self,
        iface: &str,
        op: &'static str,
        command: u8,
        header_ty: u16,
        header_flags: u32,
        extra: impl FnOnce(&mut MsgBuilder),
        decode: impl FnOnce(&Message<'_>) -> std::result::Result<T, proto::DecodeError>,
    ) -> Result<T> {
        let mut decode = Some(decode);
        let mut out = None;
        self.nl
            .transact::<Error>(
                self.family.id,
                // The reply, then the ACK that ends the request.
                proto::flags::ACK,
                |m: &mut MsgBuilder| {
                    m.header(&genl::genl_header(command, 1));
                    header(m, header_ty, iface, header_flags);
                    extra(m);
                    Ok(())
                },
                |reply| {
                    if let Some(d) = decode.take() {
                        out = Some(d(&reply).map_err(|e| Error::decode(iface, op, e))?);
                    }
                    Ok(())
                },
            )
            .map_err(|f| f.into_caller(|e| Error::netlink(iface, op, e)))?;
        out.ok_or_else(|| Error::decode(iface, op, missing()))
    }

    /// Sends a `*_SET` request for `iface`; its only answer is the ACK.
    fn set(
        &self,
        iface: &str,
        op: &'static str,
        command: u8,
        attrs: impl FnOnce(&mut MsgBuilder),
    ) -> Result<()> {
        self.nl
            .ack(self.family.id, proto::flags::ACK, |m| {
                m.header(&genl::genl_header(command, 1));
                header(m, A_HEADER, iface, 0);
                attrs(m);
            })
            .map_err(|e| Error::netlink(iface, op, e))
    }

    /// Ring sizes, maxima and the netlink-only ring parameters (`ethtool -g`).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`ENODEV` for no such interface, `EOPNOTSUPP` for a driver
    /// without rings), keeping the kernel's extended-ACK text.
    pub fn rings(&self, iface: &str) -> Result<NlRings> {
        self.get(iface, "rings (netlink)", msg::RINGS_GET, decode_rings)
    }

    /// Channel counts and maxima (`ethtool -l`).
    ///
    /// # Errors
    ///
    /// As [`EthtoolNl::rings`].
    pub fn channels(&self, iface: &str) -> Result<Channels> {
        self.get(
            iface,
            "channels (netlink)",
            msg::CHANNELS_GET,
            decode_channels,
        )
    }

    /// Coalescing and the netlink-only coalescing parameters (`ethtool -c`).
    ///
    /// # Errors
    ///
    /// As [`EthtoolNl::rings`].
    pub fn coalesce(&self, iface: &str) -> Result<NlCoalesce> {
        self.get(
            iface,
            "coalesce (netlink)",
            msg::COALESCE_GET,
            decode_coalesce,
        )
    }
}

/// Runs every netlink reply decoder on each message of `b` (the fuzz target's entry).
#[cfg(fuzzing)]
pub(crate) fn fuzz_replies(b: &[u8]) {
    for m in proto::messages(b).flatten() {
        let _ = decode_rings(&m);
        let _ = decode_channels(&m);
        let _ = decode_coalesce(&m);
        let _ = monitor::decode(&m);
        let _ = walk(&m, |a| more::decode_bitset(&a).map(drop));
    }
}

/// The request header nest `ty`: the device's name and, when not 0, `ETHTOOL_FLAG_*`.
fn header(m: &mut MsgBuilder, ty: u16, iface: &str, flags: u32) {
    m.nest(ty, |m| {
        m.string(HEADER_DEV_NAME, iface);
        if flags != 0 {
            m.u32(HEADER_FLAGS, flags);
        }
    });
}

fn missing() -> proto::DecodeError {
    proto::DecodeError {
        what: "no reply",
        offset: 0,
    }
}

/// Walks a reply's attributes (after the genl header).
fn walk<'a>(
    m: &Message<'a>,
    f: impl FnMut(Attr<'a>) -> std::result::Result<(), proto::DecodeError>,
) -> std::result::Result<(), proto::DecodeError> {
    m.walk(genl::GENL_HDRLEN, f)
}

pub(crate) fn decode_rings(m: &Message<'_>) -> std::result::Result<NlRings, proto::DecodeError> {
    let mut out = NlRings::default();
    let (mut push_len, mut push_max, mut hds, mut hds_max) = (None, None, None, None);
    walk(m, |a| {
        let r = &mut out.rings;
        match a.ty {
            rings::RX_MAX => r.rx_max = a.u32()?,
            rings::RX_MINI_MAX => r.rx_mini_max = a.u32()?,
            rings::RX_JUMBO_MAX => r.rx_jumbo_max = a.u32()?,
            rings::TX_MAX => r.tx_max = a.u32()?,
            rings::RX => r.rx = a.u32()?,
            rings::RX_MINI => r.rx_mini = a.u32()?,
            rings::RX_JUMBO => r.rx_jumbo = a.u32()?,
            rings::TX => r.tx = a.u32()?,
            rings::RX_BUF_LEN => out.rx_buf_len = Some(a.u32()?),
            rings::TCP_DATA_SPLIT => out.tcp_data_split = Some(TcpDataSplit::from_raw(a.u8()?)),
            rings::CQE_SIZE => out.cqe_size = Some(a.u32()?),
            rings::TX_PUSH => out.tx_push = Some(a.u8()? != 0),
            rings::RX_PUSH => out.rx_push = Some(a.u8()? != 0),
            rings::TX_PUSH_BUF_LEN => push_len = Some(a.u32()?),
            rings::TX_PUSH_BUF_LEN_MAX => push_max = Some(a.u32()?),
            rings::HDS_THRESH => hds = Some(a.u32()?),
            rings::HDS_THRESH_MAX => hds_max = Some(a.u32()?),
            _ => {}
        }
        Ok(())
    })?;
    out.tx_push_buf_len = push_len.map(|l| (l, push_max.unwrap_or(0)));
    out.hds_thresh = hds.map(|h| (h, hds_max.unwrap_or(0)));
    Ok(out)
}

pub(crate) fn decode_channels(
    m: &Message<'_>,
) -> std::result::Result<Channels, proto::DecodeError> {
    let mut c = Channels::default();
    walk(m, |a| {
        match a.ty {
            channels::RX_MAX => c.max_rx = a.u32()?,
            channels::TX_MAX => c.max_tx = a.u32()?,
            channels::OTHER_MAX => c.max_other = a.u32()?,
            channels::COMBINED_MAX => c.max_combined = a.u32()?,
            channels::RX_COUNT => c.rx = a.u32()?,
            channels::TX_COUNT => c.tx = a.u32()?,
            channels::OTHER_COUNT => c.other = a.u32()?,
            channels::COMBINED_COUNT => c.combined = a.u32()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(c)
}

pub(crate) fn decode_coalesce(
    m: &Message<'_>,
) -> std::result::Result<NlCoalesce, proto::DecodeError> {
    // The netlink attributes 2..=23 are the ioctl struct's fields, in its order; the two
    // adaptive switches are u8 on netlink, u32 in the struct.
    let mut fields =
        [0u32; (coalesce::LAST_IOCTL_FIELD - coalesce::FIRST_IOCTL_FIELD + 1) as usize];
    let mut out = NlCoalesce::default();
    let mut aggr = [None; 3];
    walk(m, |a| {
        match a.ty {
            coalesce::USE_ADAPTIVE_RX | coalesce::USE_ADAPTIVE_TX => {
                fields[usize::from(a.ty - coalesce::FIRST_IOCTL_FIELD)] = u32::from(a.u8()?);
            }
            ty @ coalesce::FIRST_IOCTL_FIELD..=coalesce::LAST_IOCTL_FIELD => {
                fields[usize::from(ty - coalesce::FIRST_IOCTL_FIELD)] = a.u32()?;
            }
            coalesce::USE_CQE_MODE_TX => out.cqe_mode_tx = Some(a.u8()? != 0),
            coalesce::USE_CQE_MODE_RX => out.cqe_mode_rx = Some(a.u8()? != 0),
            coalesce::TX_AGGR_MAX_BYTES => aggr[0] = Some(a.u32()?),
            coalesce::TX_AGGR_MAX_FRAMES => aggr[1] = Some(a.u32()?),
            coalesce::TX_AGGR_TIME_USECS => aggr[2] = Some(a.u32()?),
            coalesce::RX_PROFILE => out.rx_profile = Some(decode_profile(&a)?),
            coalesce::TX_PROFILE => out.tx_profile = Some(decode_profile(&a)?),
            _ => {}
        }
        Ok(())
    })?;
    // The struct's fields follow its command word: the same order, 4 bytes each.
    let mut raw = vec![0u8; 4 + fields.len() * 4];
    for (i, v) in fields.iter().enumerate() {
        raw[4 + i * 4..8 + i * 4].copy_from_slice(&v.to_ne_bytes());
    }
    out.coalesce = Coalesce::decode(&raw);
    if let [Some(b), Some(f), Some(t)] = aggr {
        out.tx_aggr = Some((b, f, t));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(build: impl FnOnce(&mut MsgBuilder)) -> Vec<u8> {
        let mut m = MsgBuilder::new(20, 0, 1);
        m.header(&genl::genl_header(16, 1));
        m.nest(A_HEADER, |m| {
            m.string(HEADER_DEV_NAME, "eth0");
        });
        build(&mut m);
        m.finish().expect("encode")
    }

    fn first(bytes: &[u8]) -> Message<'_> {
        proto::messages(bytes).next().expect("one").expect("ok")
    }

    #[test]
    fn rings_decode_with_the_netlink_only_fields() {
        let b = reply(|m| {
            m.u32(rings::RX_MAX, 4096)
                .u32(rings::TX_MAX, 4096)
                .u32(rings::RX, 1024)
                .u32(rings::TX, 512)
                .u32(rings::RX_BUF_LEN, 2048)
                .u8(rings::TCP_DATA_SPLIT, 2)
                .u8(rings::TX_PUSH, 1)
                .u8(rings::RX_PUSH, 0)
                .u32(rings::HDS_THRESH, 256)
                .u32(rings::HDS_THRESH_MAX, 1024);
        });
        let r = decode_rings(&first(&b)).expect("decode");
        assert_eq!((r.rings.rx, r.rings.rx_max, r.rings.tx), (1024, 4096, 512));
        assert_eq!(r.rx_buf_len, Some(2048));
        assert_eq!(r.tcp_data_split, Some(TcpDataSplit::Enabled));
        assert_eq!((r.tx_push, r.rx_push), (Some(true), Some(false)));
        assert_eq!(r.hds_thresh, Some((256, 1024)));
        assert_eq!(r.cqe_size, None);
    }

    #[test]
    fn coalesce_fields_land_where_the_ioctl_struct_has_them() {
        let b = reply(|m| {
            m.u32(2, 8) // rx-usecs
                .u32(7, 16) // tx-frames
                .u8(coalesce::USE_ADAPTIVE_RX, 1)
                .u32(23, 3) // rate-sample-interval
                .u8(coalesce::USE_CQE_MODE_RX, 1);
        });
        let c = decode_coalesce(&first(&b)).expect("decode");
        assert_eq!(
            (
                c.coalesce.rx_usecs,
                c.coalesce.tx_frames,
                c.coalesce.use_adaptive_rx,
                c.coalesce.rate_sample_interval
            ),
            (8, 16, 1, 3)
        );
        assert_eq!((c.cqe_mode_rx, c.cqe_mode_tx), (Some(true), None));
        assert_eq!((c.rx_profile, c.tx_profile), (None, None));
    }

    #[test]
    fn dim_profiles_decode_level_by_level() {
        let b = reply(|m| {
            m.nest(coalesce::RX_PROFILE, |m| {
                for (usec, pkts) in [(1, 256), (8, 128), (64, 64)] {
                    m.nest(coalesce::PROFILE_IRQ_MODERATION, |m| {
                        m.u32(1, usec).u32(2, pkts);
                    });
                }
            });
        });
        let c = decode_coalesce(&first(&b)).expect("decode");
        let rx = c.rx_profile.expect("rx profile");
        assert_eq!(rx.len(), 3);
        assert_eq!(
            (rx[1].usec, rx[1].pkts, rx[1].comps),
            (Some(8), Some(128), None)
        );
        assert_eq!(c.tx_profile, None);
    }

    #[test]
    fn hostile_replies_are_errors_not_panics() {
        let b = reply(|m| {
            m.attr(rings::RX, &[1]); // a u32 of one byte
        });
        assert!(decode_rings(&first(&b)).is_err());
        let b = reply(|m| {
            m.attr(coalesce::USE_ADAPTIVE_TX, &[]);
        });
        assert!(decode_coalesce(&first(&b)).is_err());
    }
}

//! `SO_TIMESTAMPING` and the socket error queue: when the kernel (or the NIC) received a
//! packet, and when it scheduled, sent and saw acknowledged what the application wrote;
//! and the completions of `MSG_ZEROCOPY` sends (Documentation/networking/timestamping.rst
//! and msg_zerocopy.rst).
//!
//! - [`set_timestamping`] turns the kinds of timestamps on ([`Timestamping`] flags);
//! - [`recv_timestamped`] reads data with its receive timestamps;
//! - [`read_error_queue`] drains the error queue: transmit timestamps
//!   ([`ErrorQueueItem::Timestamp`]) and zerocopy completions
//!   ([`ErrorQueueItem::ZeroCopy`]); [`tx_timestamps`] and [`zerocopy_completions`] keep
//!   one kind.
//!
//! Which of them a device can stamp in hardware is `nettune_nic::Nic::timestamping`
//! (`ethtool -T`). Software timestamps work on every device, loopback included.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, SystemTime};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

use crate::error::{Error, Result};
use crate::opts::{Opt, get_i, set_i};
use crate::sys;

const SO_TIMESTAMPING: Opt = Opt::new("SO_TIMESTAMPING", sys::SOL_SOCKET, sys::SO_TIMESTAMPING);

bitflags::bitflags! {
    /// What `SO_TIMESTAMPING` asks for (`SOF_TIMESTAMPING_*`, include/uapi/linux/net_tstamp.h).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Timestamping: u32 {
        /// Generate transmit timestamps in the NIC.
        const TX_HARDWARE = 1 << 0;
        /// Generate transmit timestamps when the driver hands the packet to the device.
        const TX_SOFTWARE = 1 << 1;
        /// Generate receive timestamps in the NIC.
        const RX_HARDWARE = 1 << 2;
        /// Generate receive timestamps when the packet enters the stack.
        const RX_SOFTWARE = 1 << 3;
        /// Report software timestamps.
        const SOFTWARE = 1 << 4;
        /// Obsolete (ignored by the kernel since 2.6.30).
        const SYS_HARDWARE = 1 << 5;
        /// Report hardware timestamps.
        const RAW_HARDWARE = 1 << 6;
        /// Tag each transmit timestamp with a counter (the byte offset for TCP).
        const OPT_ID = 1 << 7;
        /// Transmit timestamp when the packet enters the qdisc.
        const TX_SCHED = 1 << 8;
        /// Transmit timestamp when all the data was acknowledged (TCP).
        const TX_ACK = 1 << 9;
        /// Receive `IP_PKTINFO` with transmit timestamps.
        const OPT_CMSG = 1 << 10;
        /// Transmit timestamps without the packet.
        const OPT_TSONLY = 1 << 11;
        /// TCP statistics with transmit timestamps.
        const OPT_STATS = 1 << 12;
        /// The receiving interface with hardware receive timestamps.
        const OPT_PKTINFO = 1 << 13;
        /// Both hardware and software transmit timestamps.
        const OPT_TX_SWHW = 1 << 14;
        /// Bind to a PTP hardware clock.
        const BIND_PHC = 1 << 15;
        /// Count `OPT_ID` in bytes as TCP does, for every protocol.
        const OPT_ID_TCP = 1 << 16;
        /// Receive timestamps only for packets the device filter selected.
        const OPT_RX_FILTER = 1 << 17;
        const _ = !0;
    }
}

impl Timestamping {
    /// Software receive and transmit (sent and acknowledged) timestamps, tagged with
    /// their byte offset, without packet copies: what latency measurement on any device
    /// wants.
    pub const SOFTWARE_RX_TX: Self = Self::RX_SOFTWARE
        .union(Self::TX_SOFTWARE)
        .union(Self::TX_ACK)
        .union(Self::SOFTWARE)
        .union(Self::OPT_ID)
        .union(Self::OPT_TSONLY);
}

/// Turns timestamping on (`SO_TIMESTAMPING`); [`Timestamping::empty`] turns it off.
///
/// # Errors
///
/// [`Error::InvalidValue`] for flags the kernel refuses (hardware flags without a device
/// that has them are accepted; the stamps just do not come).
#[doc(alias = "SO_TIMESTAMPING")]
pub fn set_timestamping(fd: impl AsFd, flags: Timestamping) -> Result<()> {
    let bits = i32::try_from(flags.bits()).map_err(|_| Error::InvalidValue {
        option: SO_TIMESTAMPING.name,
        reason: format!("{:#x} has bits above 2^31", flags.bits()),
        source: None,
    })?;
    set_i(fd.as_fd(), &SO_TIMESTAMPING, bits)
}

/// What timestamping is on (`SO_TIMESTAMPING`).
///
/// # Errors
///
/// [`Error::Unsupported`] for a descriptor that is not a socket.
pub fn timestamping(fd: impl AsFd) -> Result<Timestamping> {
    get_i(fd.as_fd(), &SO_TIMESTAMPING)
        .map(|v| Timestamping::from_bits_retain(u32::from_ne_bytes(v.to_ne_bytes())))
}

/// The timestamps of one control message (`struct scm_timestamping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamps {
    /// The software timestamp (the system clock), when there was one.
    pub software: Option<SystemTime>,
    /// The hardware timestamp (the device's clock, as raw nanoseconds), when there was one.
    pub hardware: Option<Duration>,
}

fn timespec(ts: &nix::sys::time::TimeSpec) -> Option<Duration> {
    let (secs, nanos) = (
        u64::try_from(ts.tv_sec()).ok()?,
        u32::try_from(ts.tv_nsec()).ok()?,
    );
    (secs != 0 || nanos != 0).then(|| Duration::new(secs, nanos))
}

impl Stamps {
    fn of(t: &nix::sys::socket::Timestamps) -> Self {
        Self {
            software: timespec(&t.system).map(|d| SystemTime::UNIX_EPOCH + d),
            hardware: timespec(&t.hw_raw),
        }
    }
}

fn recv_error(op: &'static str, e: nix::Error) -> Error {
    Error::Io {
        op,
        option: "recvmsg",
        source: std::io::Error::from(e),
    }
}

/// Control-message room for the stamps and one extended error.
const CMSG_ROOM: usize = 256;

/// Receives data into `buf` with its receive timestamps (`recvmsg` with the
/// `SO_TIMESTAMPING` control message); blocking as the socket is.
///
/// # Errors
///
/// [`Error::Io`] when `recvmsg` fails (`WouldBlock` on a non-blocking socket with no data).
pub fn recv_timestamped(fd: impl AsFd, buf: &mut [u8]) -> Result<(usize, Stamps)> {
    let fd = fd.as_fd();
    let mut cmsg = [0u8; CMSG_ROOM];
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(|e| recv_error("recv", e))?;
    let mut stamps = Stamps::default();
    for c in msg.cmsgs().map_err(|e| recv_error("recv", e))? {
        if let ControlMessageOwned::ScmTimestampsns(t) = c {
            stamps = Stamps::of(&t);
        }
    }
    Ok((msg.bytes, stamps))
}

/// When in its life a transmit timestamp was taken (`SCM_TSTAMP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxPoint {
    /// Entered the qdisc ([`Timestamping::TX_SCHED`]).
    Scheduled,
    /// Handed to the device ([`Timestamping::TX_SOFTWARE`] / `TX_HARDWARE`).
    Sent,
    /// Acknowledged by the peer ([`Timestamping::TX_ACK`], TCP).
    Acked,
    /// A point this crate does not know.
    Other(u32),
}

/// A transmit timestamp from the error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxStamp {
    /// When it was taken.
    pub point: TxPoint,
    /// The `OPT_ID` counter: for TCP, the offset of the last byte of the write it stamps.
    pub id: u32,
    /// The timestamps.
    pub stamps: Stamps,
}

/// A range of `MSG_ZEROCOPY` sends the kernel is done with (their buffers may be reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZeroCopyDone {
    /// The first send's number (counting from 0 per socket).
    pub first: u32,
    /// The last send's number.
    pub last: u32,
    /// Whether the kernel copied the data after all (loopback, a device without
    /// scatter-gather): zerocopy saved nothing for these.
    pub copied: bool,
}

/// One message of the socket error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorQueueItem {
    /// A transmit timestamp.
    Timestamp(TxStamp),
    /// Zerocopy sends completed.
    ZeroCopy(ZeroCopyDone),
    /// An ICMP or local error (its errno and origin), as `IP_RECVERR` reports it.
    Error {
        /// The errno.
        errno: u32,
        /// `SO_EE_ORIGIN_*`.
        origin: u8,
    },
}

const SO_EE_ORIGIN_TIMESTAMPING: u8 = 4;
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

fn item(err: &libc::sock_extended_err, stamps: Option<Stamps>) -> ErrorQueueItem {
    match err.ee_origin {
        SO_EE_ORIGIN_TIMESTAMPING => ErrorQueueItem::Timestamp(TxStamp {
            point: match err.ee_info {
                0 => TxPoint::Sent,
                1 => TxPoint::Scheduled,
                2 => TxPoint::Acked,
                other => TxPoint::Other(other),
            },
            id: err.ee_data,
            stamps: stamps.unwrap_or_default(),
        }),
        SO_EE_ORIGIN_ZEROCOPY => ErrorQueueItem::ZeroCopy(ZeroCopyDone {
            first: err.ee_info,
            last: err.ee_data,
            copied: err.ee_code == SO_EE_CODE_ZEROCOPY_COPIED,
        }),
        origin => ErrorQueueItem::Error {
            errno: err.ee_errno,
            origin,
        },
    }
}

/// Drains the socket's error queue (`recvmsg` with `MSG_ERRQUEUE`, never blocking):
/// transmit timestamps and zerocopy completions, oldest first.
///
/// # Errors
///
/// [`Error::Io`] when `recvmsg` fails for another reason than an empty queue.
pub fn read_error_queue(fd: impl AsFd) -> Result<Vec<ErrorQueueItem>> {
    let fd: BorrowedFd<'_> = fd.as_fd();
    let mut out = Vec::new();
    let mut data = [0u8; 64];
    loop {
        let mut cmsg = [0u8; CMSG_ROOM];
        let mut iov = [IoSliceMut::new(&mut data)];
        let msg = match recvmsg::<()>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(m) => m,
            Err(nix::Error::EAGAIN) => return Ok(out),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(recv_error("read the error queue of", e)),
        };
        let (mut stamps, mut err) = (None, None);
        for c in msg
            .cmsgs()
            .map_err(|e| recv_error("read the error queue of", e))?
        {
            match c {
                ControlMessageOwned::ScmTimestampsns(t) => stamps = Some(Stamps::of(&t)),
                ControlMessageOwned::Ipv4RecvErr(e, _) | ControlMessageOwned::Ipv6RecvErr(e, _) => {
                    err = Some(e);
                }
                _ => {}
            }
        }
        if let Some(e) = err {
            out.push(item(&e, stamps));
        }
    }
}

/// The transmit timestamps waiting in the error queue (other items are dropped).
///
/// # Errors
///
/// As [`read_error_queue`].
pub fn tx_timestamps(fd: impl AsFd) -> Result<Vec<TxStamp>> {
    Ok(read_error_queue(fd)?
        .into_iter()
        .filter_map(|i| match i {
            ErrorQueueItem::Timestamp(t) => Some(t),
            _ => None,
        })
        .collect())
}

/// The `MSG_ZEROCOPY` completions waiting in the error queue (other items are dropped).
/// Turn zerocopy on with [`set_zerocopy`](crate::set_zerocopy), send with
/// `MSG_ZEROCOPY`, and keep each buffer until a completion covers its send.
///
/// # Errors
///
/// As [`read_error_queue`].
pub fn zerocopy_completions(fd: impl AsFd) -> Result<Vec<ZeroCopyDone>> {
    Ok(read_error_queue(fd)?
        .into_iter()
        .filter_map(|i| match i {
            ErrorQueueItem::ZeroCopy(z) => Some(z),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_queue_items_decode_by_origin() {
        let mut e = zeroed_err();
        e.ee_origin = SO_EE_ORIGIN_ZEROCOPY;
        e.ee_info = 3;
        e.ee_data = 7;
        e.ee_code = SO_EE_CODE_ZEROCOPY_COPIED;
        assert_eq!(
            item(&e, None),
            ErrorQueueItem::ZeroCopy(ZeroCopyDone {
                first: 3,
                last: 7,
                copied: true
            })
        );
        e.ee_origin = SO_EE_ORIGIN_TIMESTAMPING;
        e.ee_info = 2;
        e.ee_data = 99;
        assert!(matches!(
            item(&e, None),
            ErrorQueueItem::Timestamp(TxStamp {
                point: TxPoint::Acked,
                id: 99,
                ..
            })
        ));
        e.ee_origin = 2;
        e.ee_errno = 113;
        assert_eq!(
            item(&e, None),
            ErrorQueueItem::Error {
                errno: 113,
                origin: 2
            }
        );
    }

    fn zeroed_err() -> libc::sock_extended_err {
        libc::sock_extended_err {
            ee_errno: 0,
            ee_origin: 0,
            ee_type: 0,
            ee_code: 0,
            ee_pad: 0,
            ee_info: 0,
            ee_data: 0,
        }
    }
}

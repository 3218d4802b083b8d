//! `TCP_INFO` and `TCP_CC_INFO`: what the kernel knows about a connection (`tcp(7)`,
//! include/uapi/linux/tcp.h, include/uapi/linux/inet_diag.h).
//!
//! The kernel copies as much of its `struct tcp_info` as the caller's buffer holds and
//! says how much that was. [`TcpInfo`] is decoded from those bytes by offset, never by a
//! C struct whose size depends on the libc version: fields in the first 104 bytes (Linux
//! 2.6 and later) are plain values; later fields are `None` when the kernel did not send
//! them.

use std::os::fd::AsFd;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::opts::{TCP_CC_INFO, TCP_INFO, os_error};
use crate::sys;

/// The size of the Linux 6.18 `struct tcp_info`, the most this crate asks for.
pub const TCP_INFO_MAX_LEN: usize = 280;
/// The size of the oldest `struct tcp_info` this crate decodes (up to `tcpi_total_retrans`).
pub const TCP_INFO_MIN_LEN: usize = 104;

/// The TCP state (`tcpi_state`, include/net/tcp_states.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcpState {
    /// ESTABLISHED
    Established,
    /// SYN_SENT
    SynSent,
    /// SYN_RECV
    SynRecv,
    /// FIN_WAIT1
    FinWait1,
    /// FIN_WAIT2
    FinWait2,
    /// TIME_WAIT
    TimeWait,
    /// CLOSE
    Close,
    /// CLOSE_WAIT
    CloseWait,
    /// LAST_ACK
    LastAck,
    /// LISTEN
    Listen,
    /// CLOSING
    Closing,
    /// NEW_SYN_RECV
    NewSynRecv,
    /// A state this crate does not know.
    Other(u8),
}

impl From<u8> for TcpState {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Established,
            2 => Self::SynSent,
            3 => Self::SynRecv,
            4 => Self::FinWait1,
            5 => Self::FinWait2,
            6 => Self::TimeWait,
            7 => Self::Close,
            8 => Self::CloseWait,
            9 => Self::LastAck,
            10 => Self::Listen,
            11 => Self::Closing,
            12 => Self::NewSynRecv,
            v => Self::Other(v),
        }
    }
}

/// The congestion-avoidance state (`tcpi_ca_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CaState {
    /// Open: no loss, nothing odd.
    Open,
    /// Disorder: duplicate ACKs or SACKs seen.
    Disorder,
    /// CWR: the window was reduced for an ECN signal.
    Cwr,
    /// Recovery: fast retransmit.
    Recovery,
    /// Loss: a retransmission timeout.
    Loss,
    /// A state this crate does not know.
    Other(u8),
}

impl From<u8> for CaState {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::Open,
            1 => Self::Disorder,
            2 => Self::Cwr,
            3 => Self::Recovery,
            4 => Self::Loss,
            v => Self::Other(v),
        }
    }
}

bitflags::bitflags! {
    /// Options negotiated on the connection (`tcpi_options`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct TcpOptions: u8 {
        /// Timestamps.
        const TIMESTAMPS = 0x1;
        /// Selective acknowledgements.
        const SACK = 0x2;
        /// Window scaling.
        const WSCALE = 0x4;
        /// ECN was negotiated.
        const ECN = 0x8;
        /// An ECN-marked packet was seen.
        const ECN_SEEN = 0x10;
        /// The SYN carried data (fast open, client side).
        const SYN_DATA = 0x20;
        /// Microsecond timestamps.
        const USEC_TS = 0x40;
        /// A fast-open child socket (server side).
        const TFO_CHILD = 0x80;
        const _ = !0;
    }
}

/// A decoded `struct tcp_info`. Times are `Duration`s, rates are bytes per second,
/// sizes are bytes unless named segments.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpInfo {
    /// How many bytes the kernel returned.
    pub len: usize,
    /// Connection state.
    pub state: TcpState,
    /// Congestion-avoidance state.
    pub ca_state: CaState,
    /// Retransmissions of the current segment (`tcpi_retransmits`).
    pub retransmits: u8,
    /// Zero-window probes sent.
    pub probes: u8,
    /// Retransmission timer backoff.
    pub backoff: u8,
    /// Negotiated options.
    pub options: TcpOptions,
    /// Our send window scale.
    pub snd_wscale: u8,
    /// The peer's receive window scale.
    pub rcv_wscale: u8,
    /// The last delivery-rate sample was application limited.
    pub delivery_rate_app_limited: bool,
    /// Retransmission timeout.
    pub rto: Duration,
    /// Delayed-ACK timeout.
    pub ato: Duration,
    /// Send MSS, bytes.
    pub snd_mss: u32,
    /// Receive MSS estimate, bytes.
    pub rcv_mss: u32,
    /// Segments sent and not acknowledged.
    pub unacked: u32,
    /// Segments selectively acknowledged.
    pub sacked: u32,
    /// Segments considered lost.
    pub lost: u32,
    /// Segments retransmitted and not acknowledged.
    pub retrans: u32,
    /// Time since the last data sent.
    pub last_data_sent: Duration,
    /// Time since the last data received.
    pub last_data_recv: Duration,
    /// Time since the last ACK received.
    pub last_ack_recv: Duration,
    /// Path MTU, bytes.
    pub pmtu: u32,
    /// Receive slow-start threshold, bytes.
    pub rcv_ssthresh: u32,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Round-trip time variance.
    pub rttvar: Duration,
    /// Send slow-start threshold, segments (`u32::MAX`-like values mean "infinite").
    pub snd_ssthresh: u32,
    /// Congestion window, segments.
    pub snd_cwnd: u32,
    /// Advertised MSS, bytes.
    pub advmss: u32,
    /// Reordering metric, segments.
    pub reordering: u32,
    /// Receiver-side RTT estimate.
    pub rcv_rtt: Duration,
    /// Receive buffer space the receiver autotunes toward, bytes.
    pub rcv_space: u32,
    /// Total retransmitted segments.
    pub total_retrans: u32,
    /// Pacing rate, bytes per second.
    pub pacing_rate: Option<u64>,
    /// `SO_MAX_PACING_RATE`, bytes per second (`u64::MAX`: unlimited).
    pub max_pacing_rate: Option<u64>,
    /// Bytes acknowledged by the peer.
    pub bytes_acked: Option<u64>,
    /// Bytes received.
    pub bytes_received: Option<u64>,
    /// Segments sent.
    pub segs_out: Option<u32>,
    /// Segments received.
    pub segs_in: Option<u32>,
    /// Bytes written but not yet sent.
    pub notsent_bytes: Option<u32>,
    /// Minimum RTT seen.
    pub min_rtt: Option<Duration>,
    /// Data segments received.
    pub data_segs_in: Option<u32>,
    /// Data segments sent.
    pub data_segs_out: Option<u32>,
    /// Delivery rate, bytes per second.
    pub delivery_rate: Option<u64>,
    /// Time busy sending data.
    pub busy_time: Option<Duration>,
    /// Time limited by the receive window.
    pub rwnd_limited: Option<Duration>,
    /// Time limited by the send buffer.
    pub sndbuf_limited: Option<Duration>,
    /// Segments delivered, retransmissions included.
    pub delivered: Option<u32>,
    /// Segments delivered with ECN CE marks.
    pub delivered_ce: Option<u32>,
    /// Bytes sent, retransmissions included.
    pub bytes_sent: Option<u64>,
    /// Bytes retransmitted.
    pub bytes_retrans: Option<u64>,
    /// DSACKs received.
    pub dsack_dups: Option<u32>,
    /// Reordering events seen.
    pub reord_seen: Option<u32>,
    /// Out-of-order packets received.
    pub rcv_ooopack: Option<u32>,
    /// The peer's advertised receive window, bytes.
    pub snd_wnd: Option<u32>,
    /// Our advertised receive window, bytes.
    pub rcv_wnd: Option<u32>,
    /// Path rehash events.
    pub rehash: Option<u32>,
    /// Retransmission timeouts.
    pub total_rto: Option<u16>,
    /// Recoveries from retransmission timeouts.
    pub total_rto_recoveries: Option<u16>,
    /// Time spent in RTO recovery.
    pub total_rto_time: Option<Duration>,
    /// CE-marked segments received.
    pub received_ce: Option<u32>,
}

fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    b.get(off..off + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_ne_bytes)
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_ne_bytes)
}

fn micros(v: u32) -> Duration {
    Duration::from_micros(v.into())
}

fn millis(v: u32) -> Duration {
    Duration::from_millis(v.into())
}

impl TcpInfo {
    /// Decodes the bytes the kernel returned for `TCP_INFO` (native byte order).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] with `InvalidData` when fewer than [`TCP_INFO_MIN_LEN`] bytes came.
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() < TCP_INFO_MIN_LEN {
            return Err(Error::Io {
                op: "get",
                option: "TCP_INFO",
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} bytes, fewer than the {TCP_INFO_MIN_LEN} of the oldest tcp_info",
                        b.len()
                    ),
                ),
            });
        }
        // The first 104 bytes are present (checked above).
        let r8 = |o| u8_at(b, o).unwrap_or_default();
        let r32 = |o| u32_at(b, o).unwrap_or_default();
        let wscale = r8(6);
        Ok(Self {
            len: b.len(),
            state: r8(0).into(),
            ca_state: r8(1).into(),
            retransmits: r8(2),
            probes: r8(3),
            backoff: r8(4),
            options: TcpOptions::from_bits_retain(r8(5)),
            snd_wscale: wscale & 0x0f,
            rcv_wscale: wscale >> 4,
            delivery_rate_app_limited: r8(7) & 1 != 0,
            rto: micros(r32(8)),
            ato: micros(r32(12)),
            snd_mss: r32(16),
            rcv_mss: r32(20),
            unacked: r32(24),
            sacked: r32(28),
            lost: r32(32),
            retrans: r32(36),
            last_data_sent: millis(r32(44)),
            last_data_recv: millis(r32(52)),
            last_ack_recv: millis(r32(56)),
            pmtu: r32(60),
            rcv_ssthresh: r32(64),
            rtt: micros(r32(68)),
            rttvar: micros(r32(72)),
            snd_ssthresh: r32(76),
            snd_cwnd: r32(80),
            advmss: r32(84),
            reordering: r32(88),
            rcv_rtt: micros(r32(92)),
            rcv_space: r32(96),
            total_retrans: r32(100),
            pacing_rate: u64_at(b, 104),
            max_pacing_rate: u64_at(b, 112),
            bytes_acked: u64_at(b, 120),
            bytes_received: u64_at(b, 128),
            segs_out: u32_at(b, 136),
            segs_in: u32_at(b, 140),
            notsent_bytes: u32_at(b, 144),
            min_rtt: u32_at(b, 148).map(micros),
            data_segs_in: u32_at(b, 152),
            data_segs_out: u32_at(b, 156),
            delivery_rate: u64_at(b, 160),
            busy_time: u64_at(b, 168).map(Duration::from_micros),
            rwnd_limited: u64_at(b, 176).map(Duration::from_micros),
            sndbuf_limited: u64_at(b, 184).map(Duration::from_micros),
            delivered: u32_at(b, 192),
            delivered_ce: u32_at(b, 196),
            bytes_sent: u64_at(b, 200),
            bytes_retrans: u64_at(b, 208),
            dsack_dups: u32_at(b, 216),
            reord_seen: u32_at(b, 220),
            rcv_ooopack: u32_at(b, 224),
            snd_wnd: u32_at(b, 228),
            rcv_wnd: u32_at(b, 232),
            rehash: u32_at(b, 236),
            total_rto: u16_at(b, 240),
            total_rto_recoveries: u16_at(b, 242),
            total_rto_time: u32_at(b, 244).map(millis),
            received_ce: u32_at(b, 248),
        })
    }
}

/// Reads `TCP_INFO` of a TCP (or MPTCP) socket, with the length the kernel returns.
///
/// # Errors
///
/// [`Error::Unsupported`] for a socket that is not TCP; [`Error::Io`] when the kernel
/// returns fewer than [`TCP_INFO_MIN_LEN`] bytes.
///
/// ```no_run
/// let stream = std::net::TcpStream::connect("127.0.0.1:80")?;
/// let info = socket_opts::tcp_info(&stream)?;
/// println!("rtt {:?} cwnd {} retrans {}", info.rtt, info.snd_cwnd, info.total_retrans);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "TCP_INFO")]
pub fn tcp_info(fd: impl AsFd) -> Result<TcpInfo> {
    let fd = fd.as_fd();
    let mut buf = [0u8; TCP_INFO_MAX_LEN];
    let n = sys::get_bytes(fd, sys::SOL_TCP, sys::TCP_INFO, &mut buf)
        .map_err(|e| os_error(fd, &TCP_INFO, "get", e))?;
    TcpInfo::decode(&buf[..n])
}

/// BBR's view of the path (`struct tcp_bbr_info`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BbrInfo {
    /// Estimated bottleneck bandwidth, bytes per second.
    pub bandwidth: u64,
    /// Minimum RTT seen in the current window.
    pub min_rtt: Duration,
    /// Pacing gain (1.0 is the bandwidth estimate).
    pub pacing_gain: f64,
    /// Congestion window gain.
    pub cwnd_gain: f64,
}

/// What `TCP_CC_INFO` returned.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CcInfo {
    /// BBR's state.
    Bbr(BbrInfo),
    /// Another algorithm's raw bytes (Vegas, DCTCP, ...).
    Other(Vec<u8>),
    /// The algorithm reports nothing (cubic, reno).
    None,
}

impl BbrInfo {
    /// Decodes the 20 bytes of `struct tcp_bbr_info`; `None` when fewer came.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let bw_lo = u32_at(b, 0)?;
        let bw_hi = u32_at(b, 4)?;
        Some(Self {
            bandwidth: (u64::from(bw_hi) << 32) | u64::from(bw_lo),
            min_rtt: micros(u32_at(b, 8)?),
            pacing_gain: f64::from(u32_at(b, 12)?) / 256.0,
            cwnd_gain: f64::from(u32_at(b, 16)?) / 256.0,
        })
    }
}

/// Reads `TCP_CC_INFO` and decodes it for BBR (the socket's algorithm decides the layout).
///
/// # Errors
///
/// As [`tcp_info`].
#[doc(alias = "TCP_CC_INFO")]
pub fn cc_info(fd: impl AsFd) -> Result<CcInfo> {
    let fd = fd.as_fd();
    let mut buf = [0u8; 64];
    let n = sys::get_bytes(fd, sys::SOL_TCP, sys::TCP_CC_INFO, &mut buf)
        .map_err(|e| os_error(fd, &TCP_CC_INFO, "get", e))?;
    if n == 0 {
        return Ok(CcInfo::None);
    }
    let is_bbr = crate::opts::congestion(fd).is_ok_and(|cc| cc.as_str().starts_with("bbr"));
    Ok(match (is_bbr, BbrInfo::decode(&buf[..n])) {
        (true, Some(bbr)) => CcInfo::Bbr(bbr),
        _ => CcInfo::Other(buf[..n].to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tcp_info as an old (3.x) kernel returns it: 104 bytes.
    fn legacy() -> Vec<u8> {
        let mut b = vec![0u8; 104];
        b[0] = 1; // ESTABLISHED
        b[1] = 3; // Recovery
        b[5] = 0x7; // ts, sack, wscale
        b[6] = 0x97; // snd_wscale 7, rcv_wscale 9
        b[8..12].copy_from_slice(&204_000u32.to_ne_bytes()); // rto 204 ms
        b[68..72].copy_from_slice(&1_500u32.to_ne_bytes()); // rtt 1.5 ms
        b[80..84].copy_from_slice(&10u32.to_ne_bytes()); // cwnd
        b[100..104].copy_from_slice(&42u32.to_ne_bytes()); // total_retrans
        b
    }

    #[test]
    fn legacy_reply_leaves_newer_fields_none() {
        let info = TcpInfo::decode(&legacy()).expect("decode");
        assert_eq!(info.state, TcpState::Established);
        assert_eq!(info.ca_state, CaState::Recovery);
        assert_eq!(
            info.options,
            TcpOptions::TIMESTAMPS | TcpOptions::SACK | TcpOptions::WSCALE
        );
        assert_eq!((info.snd_wscale, info.rcv_wscale), (7, 9));
        assert_eq!(info.rto, Duration::from_millis(204));
        assert_eq!(info.rtt, Duration::from_micros(1500));
        assert_eq!(info.snd_cwnd, 10);
        assert_eq!(info.total_retrans, 42);
        assert_eq!(info.pacing_rate, None);
        assert_eq!(info.min_rtt, None);
        assert_eq!(info.snd_wnd, None);
    }

    #[test]
    fn each_kernel_generation_fills_its_fields() {
        let mut b = legacy();
        b.extend_from_slice(&1_000_000u64.to_ne_bytes()); // pacing_rate (4.0)
        b.extend_from_slice(&u64::MAX.to_ne_bytes()); // max_pacing_rate
        let info = TcpInfo::decode(&b).expect("decode");
        assert_eq!(info.pacing_rate, Some(1_000_000));
        assert_eq!(info.max_pacing_rate, Some(u64::MAX));
        assert_eq!(info.bytes_acked, None, "a field cut in half is None");
        // A full 6.18 reply.
        let mut full = vec![0u8; TCP_INFO_MAX_LEN];
        full[..b.len()].copy_from_slice(&b);
        full[148..152].copy_from_slice(&900u32.to_ne_bytes()); // min_rtt
        full[228..232].copy_from_slice(&65535u32.to_ne_bytes()); // snd_wnd
        full[240..242].copy_from_slice(&3u16.to_ne_bytes()); // total_rto
        full[244..248].copy_from_slice(&250u32.to_ne_bytes()); // total_rto_time
        let info = TcpInfo::decode(&full).expect("decode");
        assert_eq!(info.min_rtt, Some(Duration::from_micros(900)));
        assert_eq!(info.snd_wnd, Some(65535));
        assert_eq!(info.total_rto, Some(3));
        assert_eq!(info.total_rto_time, Some(Duration::from_millis(250)));
        assert_eq!(info.received_ce, Some(0));
    }

    #[test]
    fn short_and_hostile_replies_are_errors_not_panics() {
        for n in [0, 1, 8, 103] {
            assert!(TcpInfo::decode(&vec![0xff; n]).is_err());
        }
        for n in [104, 105, 150, 279, 280, 400] {
            let info = TcpInfo::decode(&vec![0xff; n]).expect("decode");
            assert_eq!(info.state, TcpState::Other(0xff));
        }
    }

    #[test]
    fn bbr_info() {
        let mut b = Vec::new();
        for v in [0x1234_5678u32, 0x1, 5_000, 739, 512] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        let bbr = BbrInfo::decode(&b).expect("decode");
        assert_eq!(bbr.bandwidth, 0x1_1234_5678);
        assert_eq!(bbr.min_rtt, Duration::from_millis(5));
        assert!((bbr.pacing_gain - 2.886).abs() < 0.001);
        assert!((bbr.cwnd_gain - 2.0).abs() < f64::EPSILON);
        assert!(BbrInfo::decode(&b[..19]).is_none());
    }
}

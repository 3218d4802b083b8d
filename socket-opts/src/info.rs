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

/// Why a fast-open connect did not carry data in its SYN (`tcpi_fastopen_client_fail`,
/// `enum tcp_fastopen_client_fail` in include/uapi/linux/tcp.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FastOpenClientFail {
    /// Nothing to report (not a fast-open connect, or it worked).
    Unspecified,
    /// No cookie yet: the SYN asked for one (the first connection to a server).
    CookieUnavailable,
    /// The SYN carried data but the server did not acknowledge it.
    DataNotAcked,
    /// The SYN (with its data) was retransmitted.
    SynRetransmitted,
}

impl From<u8> for FastOpenClientFail {
    fn from(v: u8) -> Self {
        match v & 3 {
            0 => Self::Unspecified,
            1 => Self::CookieUnavailable,
            2 => Self::DataNotAcked,
            _ => Self::SynRetransmitted,
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

/// A `struct tcp_info` as the kernel returned it, read field by field.
///
/// The reply is kept as bytes (no decoding until a field is asked for, so reading
/// `TCP_INFO` costs what the syscall costs). Times are `Duration`s, rates are bytes per
/// second, sizes are bytes unless named segments. Fields in the first
/// [`TCP_INFO_MIN_LEN`] bytes are always there; later ones return `None` when the kernel
/// did not send them.
#[derive(Clone, PartialEq, Eq)]
pub struct TcpInfo {
    raw: [u8; TCP_INFO_MAX_LEN],
    len: usize,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
}

fn micros(v: u32) -> Duration {
    Duration::from_micros(v.into())
}

fn millis(v: u32) -> Duration {
    Duration::from_millis(v.into())
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident -> $ty:ty = |$s:ident| $body:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> $ty {
                let $s = self;
                $body
            }
        )*
    };
}

impl TcpInfo {
    /// Decodes the bytes the kernel returned for `TCP_INFO` (native byte order).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] when fewer than [`TCP_INFO_MIN_LEN`] bytes came.
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() < TCP_INFO_MIN_LEN {
            return Err(Error::decode(
                "TCP_INFO",
                format!(
                    "{} bytes, fewer than the {TCP_INFO_MIN_LEN} of the oldest tcp_info",
                    b.len()
                ),
            ));
        }
        let mut raw = [0u8; TCP_INFO_MAX_LEN];
        let n = b.len().min(TCP_INFO_MAX_LEN);
        raw[..n].copy_from_slice(&b[..n]);
        Ok(Self { raw, len: b.len() })
    }

    fn r8(&self, o: usize) -> u8 {
        self.raw[o]
    }

    fn r16(&self, o: usize) -> u16 {
        u16::from_ne_bytes([self.raw[o], self.raw[o + 1]])
    }

    fn r32(&self, o: usize) -> u32 {
        u32::from_ne_bytes([
            self.raw[o],
            self.raw[o + 1],
            self.raw[o + 2],
            self.raw[o + 3],
        ])
    }

    fn r64(&self, o: usize) -> u64 {
        let r = &self.raw;
        u64::from_ne_bytes([
            r[o],
            r[o + 1],
            r[o + 2],
            r[o + 3],
            r[o + 4],
            r[o + 5],
            r[o + 6],
            r[o + 7],
        ])
    }

    fn has(&self, o: usize, size: usize) -> bool {
        self.len >= o + size
    }

    fn o16(&self, o: usize) -> Option<u16> {
        self.has(o, 2).then(|| self.r16(o))
    }

    fn o32(&self, o: usize) -> Option<u32> {
        self.has(o, 4).then(|| self.r32(o))
    }

    fn o64(&self, o: usize) -> Option<u64> {
        self.has(o, 8).then(|| self.r64(o))
    }

    /// How many bytes the kernel returned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a `TcpInfo` has at least [`TCP_INFO_MIN_LEN`] bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    getters! {
        /// Connection state.
        state -> TcpState = |s| s.r8(0).into();
        /// Congestion-avoidance state.
        ca_state -> CaState = |s| s.r8(1).into();
        /// Retransmissions of the current segment (`tcpi_retransmits`).
        retransmits -> u8 = |s| s.r8(2);
        /// Zero-window probes sent.
        probes -> u8 = |s| s.r8(3);
        /// Retransmission timer backoff.
        backoff -> u8 = |s| s.r8(4);
        /// Negotiated options.
        options -> TcpOptions = |s| TcpOptions::from_bits_retain(s.r8(5));
        /// Our send window scale.
        snd_wscale -> u8 = |s| s.r8(6) & 0x0f;
        /// The peer's receive window scale.
        rcv_wscale -> u8 = |s| s.r8(6) >> 4;
        /// The last delivery-rate sample was application limited.
        delivery_rate_app_limited -> bool = |s| s.r8(7) & 1 != 0;
        /// Why a fast-open connect did not send its data in the SYN (5.5; `tcpi_fastopen_client_fail`).
        fastopen_client_fail -> FastOpenClientFail = |s| FastOpenClientFail::from((s.r8(7) >> 1) & 3);
        /// Retransmission timeout.
        rto -> Duration = |s| micros(s.r32(8));
        /// Delayed-ACK timeout.
        ato -> Duration = |s| micros(s.r32(12));
        /// Send MSS, bytes.
        snd_mss -> u32 = |s| s.r32(16);
        /// Receive MSS estimate, bytes.
        rcv_mss -> u32 = |s| s.r32(20);
        /// Segments sent and not acknowledged.
        unacked -> u32 = |s| s.r32(24);
        /// Segments selectively acknowledged.
        sacked -> u32 = |s| s.r32(28);
        /// Segments considered lost.
        lost -> u32 = |s| s.r32(32);
        /// Segments retransmitted and not acknowledged.
        retrans -> u32 = |s| s.r32(36);
        /// Time since the last data sent.
        last_data_sent -> Duration = |s| millis(s.r32(44));
        /// Time since the last data received.
        last_data_recv -> Duration = |s| millis(s.r32(52));
        /// Time since the last ACK received.
        last_ack_recv -> Duration = |s| millis(s.r32(56));
        /// Path MTU, bytes.
        pmtu -> u32 = |s| s.r32(60);
        /// Receive slow-start threshold, bytes.
        rcv_ssthresh -> u32 = |s| s.r32(64);
        /// Smoothed round-trip time.
        rtt -> Duration = |s| micros(s.r32(68));
        /// Round-trip time variance.
        rttvar -> Duration = |s| micros(s.r32(72));
        /// Send slow-start threshold, segments (very large values mean "not yet set").
        snd_ssthresh -> u32 = |s| s.r32(76);
        /// Congestion window, segments.
        snd_cwnd -> u32 = |s| s.r32(80);
        /// Advertised MSS, bytes.
        advmss -> u32 = |s| s.r32(84);
        /// Reordering metric, segments.
        reordering -> u32 = |s| s.r32(88);
        /// Receiver-side RTT estimate.
        rcv_rtt -> Duration = |s| micros(s.r32(92));
        /// Receive space the receiver autotunes toward, bytes.
        rcv_space -> u32 = |s| s.r32(96);
        /// Total retransmitted segments.
        total_retrans -> u32 = |s| s.r32(100);
        /// Pacing rate, bytes per second (4.0).
        pacing_rate -> Option<u64> = |s| s.o64(104);
        /// `SO_MAX_PACING_RATE`, bytes per second; `u64::MAX` is unlimited (4.0).
        max_pacing_rate -> Option<u64> = |s| s.o64(112);
        /// Bytes acknowledged by the peer (4.1).
        bytes_acked -> Option<u64> = |s| s.o64(120);
        /// Bytes received (4.1).
        bytes_received -> Option<u64> = |s| s.o64(128);
        /// Segments sent (4.2).
        segs_out -> Option<u32> = |s| s.o32(136);
        /// Segments received (4.2).
        segs_in -> Option<u32> = |s| s.o32(140);
        /// Bytes written but not yet sent (4.6).
        notsent_bytes -> Option<u32> = |s| s.o32(144);
        /// Minimum RTT seen (4.6).
        min_rtt -> Option<Duration> = |s| s.o32(148).map(micros);
        /// Data segments received (4.6).
        data_segs_in -> Option<u32> = |s| s.o32(152);
        /// Data segments sent (4.6).
        data_segs_out -> Option<u32> = |s| s.o32(156);
        /// Delivery rate, bytes per second (4.9).
        delivery_rate -> Option<u64> = |s| s.o64(160);
        /// Time busy sending data (4.10).
        busy_time -> Option<Duration> = |s| s.o64(168).map(Duration::from_micros);
        /// Time limited by the receive window (4.10).
        rwnd_limited -> Option<Duration> = |s| s.o64(176).map(Duration::from_micros);
        /// Time limited by the send buffer (4.10).
        sndbuf_limited -> Option<Duration> = |s| s.o64(184).map(Duration::from_micros);
        /// Segments delivered, retransmissions included (4.18).
        delivered -> Option<u32> = |s| s.o32(192);
        /// Segments delivered with ECN CE marks (4.18).
        delivered_ce -> Option<u32> = |s| s.o32(196);
        /// Bytes sent, retransmissions included (4.19).
        bytes_sent -> Option<u64> = |s| s.o64(200);
        /// Bytes retransmitted (4.19).
        bytes_retrans -> Option<u64> = |s| s.o64(208);
        /// DSACKs received (4.19).
        dsack_dups -> Option<u32> = |s| s.o32(216);
        /// Reordering events seen (4.19).
        reord_seen -> Option<u32> = |s| s.o32(220);
        /// Out-of-order packets received (5.4).
        rcv_ooopack -> Option<u32> = |s| s.o32(224);
        /// The peer's advertised receive window, bytes (5.4).
        snd_wnd -> Option<u32> = |s| s.o32(228);
        /// Our advertised receive window, bytes (6.2).
        rcv_wnd -> Option<u32> = |s| s.o32(232);
        /// Path rehash events (6.2).
        rehash -> Option<u32> = |s| s.o32(236);
        /// Retransmission timeouts (6.7).
        total_rto -> Option<u16> = |s| s.o16(240);
        /// Recoveries from retransmission timeouts (6.7).
        total_rto_recoveries -> Option<u16> = |s| s.o16(242);
        /// Time spent in RTO recovery (6.7).
        total_rto_time -> Option<Duration> = |s| s.o32(244).map(millis);
        /// CE-marked segments received (6.18).
        received_ce -> Option<u32> = |s| s.o32(248);
        /// Accurate ECN: payload bytes delivered to the peer marked ECT(1) (6.18).
        delivered_e1_bytes -> Option<u32> = |s| s.o32(252);
        /// Accurate ECN: payload bytes delivered marked ECT(0) (6.18).
        delivered_e0_bytes -> Option<u32> = |s| s.o32(256);
        /// Accurate ECN: payload bytes delivered marked CE (6.18).
        delivered_ce_bytes -> Option<u32> = |s| s.o32(260);
        /// Accurate ECN: payload bytes received marked ECT(1) (6.18).
        received_e1_bytes -> Option<u32> = |s| s.o32(264);
        /// Accurate ECN: payload bytes received marked ECT(0) (6.18).
        received_e0_bytes -> Option<u32> = |s| s.o32(268);
        /// Accurate ECN: payload bytes received marked CE (6.18).
        received_ce_bytes -> Option<u32> = |s| s.o32(272);
        /// Accurate ECN: why it fell back, as the kernel's bits (6.18).
        accecn_fail_mode -> Option<u16> = |s| s.o16(276);
        /// Accurate ECN: the AccECN option the peer sent, as the kernel counts it (6.18).
        accecn_opt_seen -> Option<u16> = |s| s.o16(278);
    }
}

impl std::fmt::Debug for TcpInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpInfo")
            .field("len", &self.len)
            .field("state", &self.state())
            .field("ca_state", &self.ca_state())
            .field("options", &self.options())
            .field("rtt", &self.rtt())
            .field("rttvar", &self.rttvar())
            .field("min_rtt", &self.min_rtt())
            .field("snd_cwnd", &self.snd_cwnd())
            .field("snd_ssthresh", &self.snd_ssthresh())
            .field("total_retrans", &self.total_retrans())
            .field("lost", &self.lost())
            .field("delivery_rate", &self.delivery_rate())
            .field("pacing_rate", &self.pacing_rate())
            .field("bytes_sent", &self.bytes_sent())
            .field("bytes_acked", &self.bytes_acked())
            .field("bytes_received", &self.bytes_received())
            .field("snd_wnd", &self.snd_wnd())
            .field("rcv_wnd", &self.rcv_wnd())
            .finish_non_exhaustive()
    }
}

/// Reads `TCP_INFO` of a TCP (or MPTCP) socket, with the length the kernel returns.
///
/// # Errors
///
/// [`Error::Unsupported`] for a socket that is not TCP; [`Error::Decode`] when the kernel
/// returns fewer than [`TCP_INFO_MIN_LEN`] bytes.
///
/// ```no_run
/// let stream = std::net::TcpStream::connect("127.0.0.1:80")?;
/// let info = nettune_sockopt::tcp_info(&stream)?;
/// println!("rtt {:?} cwnd {} retrans {}", info.rtt(), info.snd_cwnd(), info.total_retrans());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "TCP_INFO")]
pub fn tcp_info(fd: impl AsFd) -> Result<TcpInfo> {
    let fd = fd.as_fd();
    let mut raw = [0u8; TCP_INFO_MAX_LEN];
    let n = sys::get_bytes(fd, sys::SOL_TCP, sys::TCP_INFO, &mut raw)
        .map_err(|e| os_error(fd, &TCP_INFO, "get", e))?;
    if n < TCP_INFO_MIN_LEN {
        return TcpInfo::decode(&raw[..n]);
    }
    Ok(TcpInfo { raw, len: n })
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
        assert_eq!(info.state(), TcpState::Established);
        assert_eq!(info.ca_state(), CaState::Recovery);
        assert_eq!(
            info.options(),
            TcpOptions::TIMESTAMPS | TcpOptions::SACK | TcpOptions::WSCALE
        );
        assert_eq!((info.snd_wscale(), info.rcv_wscale()), (7, 9));
        assert_eq!(info.rto(), Duration::from_millis(204));
        assert_eq!(info.rtt(), Duration::from_micros(1500));
        assert_eq!(info.snd_cwnd(), 10);
        assert_eq!(info.total_retrans(), 42);
        assert_eq!(info.pacing_rate(), None);
        assert_eq!(info.min_rtt(), None);
        assert_eq!(info.snd_wnd(), None);
    }

    #[test]
    fn each_kernel_generation_fills_its_fields() {
        let mut b = legacy();
        b.extend_from_slice(&1_000_000u64.to_ne_bytes()); // pacing_rate (4.0)
        b.extend_from_slice(&u64::MAX.to_ne_bytes()); // max_pacing_rate
        let info = TcpInfo::decode(&b).expect("decode");
        assert_eq!(info.pacing_rate(), Some(1_000_000));
        assert_eq!(info.max_pacing_rate(), Some(u64::MAX));
        assert_eq!(info.bytes_acked(), None, "a field cut in half is None");
        // A full 6.18 reply.
        let mut full = vec![0u8; TCP_INFO_MAX_LEN];
        full[..b.len()].copy_from_slice(&b);
        full[148..152].copy_from_slice(&900u32.to_ne_bytes()); // min_rtt
        full[228..232].copy_from_slice(&65535u32.to_ne_bytes()); // snd_wnd
        full[240..242].copy_from_slice(&3u16.to_ne_bytes()); // total_rto
        full[244..248].copy_from_slice(&250u32.to_ne_bytes()); // total_rto_time
        let info = TcpInfo::decode(&full).expect("decode");
        assert_eq!(info.min_rtt(), Some(Duration::from_micros(900)));
        assert_eq!(info.snd_wnd(), Some(65535));
        assert_eq!(info.total_rto(), Some(3));
        assert_eq!(info.total_rto_time(), Some(Duration::from_millis(250)));
        assert_eq!(info.received_ce(), Some(0));
    }

    #[test]
    fn short_and_hostile_replies_are_errors_not_panics() {
        for n in [0, 1, 8, 103] {
            assert!(TcpInfo::decode(&vec![0xff; n]).is_err());
        }
        for n in [104, 105, 150, 279, 280, 400] {
            let info = TcpInfo::decode(&vec![0xff; n]).expect("decode");
            assert_eq!(info.state(), TcpState::Other(0xff));
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

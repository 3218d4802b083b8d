//! `probe()`: what this host lets a process do with its sockets.

use std::time::Duration;

use nettune_sysctl::{CongestionControl, FastOpen, Sysctl, knobs};

/// What this host allows, read from the sysctls of the calling thread's network
/// namespace and the calling thread's capabilities. Values that could not be read are
/// `None` (global keys are absent in a child namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Probe {
    /// `net.ipv4.tcp_available_congestion_control`.
    pub available_congestion_control: Vec<CongestionControl>,
    /// `net.ipv4.tcp_allowed_congestion_control`: what callers without CAP_NET_ADMIN may pick.
    pub allowed_congestion_control: Vec<CongestionControl>,
    /// `net.ipv4.tcp_congestion_control`.
    pub default_congestion_control: Option<CongestionControl>,
    /// `net.ipv4.tcp_fastopen`.
    pub fastopen: Option<FastOpen>,
    /// `net.core.rmem_max`: the most SO_RCVBUF may request (the kernel doubles it).
    pub rmem_max: Option<u32>,
    /// `net.core.wmem_max`.
    pub wmem_max: Option<u32>,
    /// `net.core.busy_read`: the default SO_BUSY_POLL.
    pub busy_read: Option<Duration>,
    /// `net.core.busy_poll`: busy polling for poll/select/epoll.
    pub busy_poll: Option<Duration>,
    /// Whether the calling thread has CAP_NET_ADMIN (SO_MARK, SO_*BUFFORCE, any congestion
    /// control, SO_PREFER_BUSY_POLL).
    pub cap_net_admin: bool,
}

impl Probe {
    /// Whether listeners can use fast open (the server bit 0x2).
    pub fn fastopen_server(&self) -> bool {
        self.fastopen.is_some_and(|f| f.contains(FastOpen::SERVER))
    }

    /// Whether clients can use fast open (the client bit 0x1).
    pub fn fastopen_client(&self) -> bool {
        self.fastopen.is_some_and(|f| f.contains(FastOpen::CLIENT))
    }

    /// Whether this caller may select `cc` with TCP_CONGESTION: the kernel has it
    /// (`tcp_available_congestion_control`), and it is allowed to this caller (in
    /// `tcp_allowed_congestion_control`, or CAP_NET_ADMIN). An algorithm built as a module
    /// that is not loaded yet is not available (CAP_NET_ADMIN may load it by selecting it).
    pub fn may_select(&self, cc: &CongestionControl) -> bool {
        self.available_congestion_control.contains(cc)
            && (self.cap_net_admin || self.allowed_congestion_control.contains(cc))
    }
}

/// Whether the calling thread's effective capabilities include `CAP_NET_ADMIN` (12).
pub fn has_cap_net_admin() -> bool {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 12) != 0)
}

/// Reads what this host allows. Never fails: what cannot be read is `None` or empty.
pub fn probe() -> Probe {
    let sys = Sysctl::new();
    let list = |r: nettune_sysctl::Result<nettune_sysctl::NameList<CongestionControl>>| {
        r.map(|l| l.as_slice().to_vec()).unwrap_or_default()
    };
    Probe {
        available_congestion_control: list(sys.get::<knobs::TcpAvailableCongestionControl>()),
        allowed_congestion_control: list(sys.get::<knobs::TcpAllowedCongestionControl>()),
        default_congestion_control: sys.get::<knobs::TcpCongestionControl>().ok(),
        fastopen: sys.get::<knobs::TcpFastopen>().ok(),
        rmem_max: sys.get::<knobs::CoreRmemMax>().ok(),
        wmem_max: sys.get::<knobs::CoreWmemMax>().ok(),
        busy_read: sys.get::<knobs::CoreBusyRead>().ok(),
        busy_poll: sys.get::<knobs::CoreBusyPoll>().ok(),
        cap_net_admin: has_cap_net_admin(),
    }
}

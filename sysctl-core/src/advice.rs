//! Advice about how knobs interact: facts that users get wrong, not errors.

use crate::error::Result;
use crate::knobs::{CoreRmemMax, CoreWmemMax, TcpRmem, TcpWmem};
use crate::sysctl::Sysctl;
use crate::value::TcpMem;

/// One piece of advice about the live values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Advice {
    /// The key the advice is about.
    pub key: &'static str,
    /// What to know or do.
    pub message: String,
}

/// Advice on a socket buffer pair: `tcp` is `tcp_rmem`/`tcp_wmem`, `core_max` is
/// `net.core.rmem_max`/`wmem_max`, `dir` is `r` or `w`.
///
/// The kernel caps TCP autotuning only by `tcp_rmem[2]`/`tcp_wmem[2]`; `core.rmem_max` caps
/// what `setsockopt(SO_RCVBUF)` may request (the kernel doubles the request), and a socket
/// that sets SO_RCVBUF no longer autotunes. So raising `rmem_max` does not let autotuning
/// grow further, and a low `rmem_max` does not stop it.
pub fn buffer_pair(tcp: TcpMem, core_max: u32, dir: char) -> Option<Advice> {
    let (core_key, tcp_key, opt) = if dir == 'w' {
        ("net.core.wmem_max", "net.ipv4.tcp_wmem", "SO_SNDBUF")
    } else {
        ("net.core.rmem_max", "net.ipv4.tcp_rmem", "SO_RCVBUF")
    };
    let tcp_max = tcp.max();
    if core_max > tcp_max {
        Some(Advice {
            key: core_key,
            message: format!(
                "{core_key} ({core_max}) is above {tcp_key} max ({tcp_max}), but it does not \
                 raise TCP autotuning, which stops at {tcp_key} max: raise the third value of \
                 {tcp_key} instead; {core_key} only caps {opt} requests"
            ),
        })
    } else if core_max < tcp_max {
        Some(Advice {
            key: core_key,
            message: format!(
                "{core_key} ({core_max}) is below {tcp_key} max ({tcp_max}): autotuning still \
                 grows buffers to {tcp_max}; only applications that set {opt} themselves are \
                 held to {core_key} (and lose autotuning)"
            ),
        })
    } else {
        None
    }
}

/// Reads `tcp_rmem`, `tcp_wmem`, `core.rmem_max` and `core.wmem_max` and returns the
/// advice that applies.
///
/// # Errors
///
/// When one of the four keys cannot be read.
pub fn buffers(sys: &Sysctl) -> Result<Vec<Advice>> {
    let read = buffer_pair(sys.get::<TcpRmem>()?, sys.get::<CoreRmemMax>()?, 'r');
    let write = buffer_pair(sys.get::<TcpWmem>()?, sys.get::<CoreWmemMax>()?, 'w');
    Ok(read.into_iter().chain(write).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmem_max_is_not_the_autotuning_cap() {
        let tcp = TcpMem::new(4096, 131072, 6 << 20).expect("triple");
        let a = buffer_pair(tcp, 32 << 20, 'r').expect("advice");
        assert!(
            a.message.contains("does not raise TCP autotuning"),
            "{}",
            a.message
        );
        let b = buffer_pair(tcp, 212992, 'r').expect("advice");
        assert!(
            b.message.contains("autotuning still grows"),
            "{}",
            b.message
        );
        assert!(buffer_pair(tcp, 6 << 20, 'r').is_none());
        assert_eq!(
            buffer_pair(tcp, 1, 'w').map(|a| a.key),
            Some("net.core.wmem_max")
        );
    }
}

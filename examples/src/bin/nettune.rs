//! `nettune`: audit and tune the kernel's network knobs.
//!
//! `nettune audit` reads the knobs of the low-latency tuning guide and prints, for each, the
//! current value, the recommendation and why. It writes nothing and needs no root.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sysctl_core::{Error, Key, Knob, Sysctl, advice, knobs};

/// Tune the Linux kernel's network knobs from typed, tested code.
#[derive(Debug, Parser)]
#[command(name = "nettune", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Read the low-latency knobs and show current value, recommendation and why (read-only).
    Audit,
}

/// One line of the audit: a key, the recommended value and the reason.
struct Item {
    key: &'static str,
    recommended: &'static str,
    why: &'static str,
}

/// The tuning guide's knobs with the low-latency recommendation, corrected where the guide
/// is wrong about the kernel.
const LOW_LATENCY: &[Item] = &[
    Item {
        key: knobs::TcpCongestionControl::KEY,
        recommended: "bbr",
        why: "BBR paces to the measured bottleneck rate and keeps queues short; cubic fills buffers until loss",
    },
    Item {
        key: knobs::TcpFastopen::KEY,
        recommended: "3",
        why: "0x1 client + 0x2 server: repeat connections carry data in the SYN and save one RTT (listeners still set TCP_FASTOPEN)",
    },
    Item {
        key: knobs::TcpTimestamps::KEY,
        recommended: "1",
        why: "keep on: RTT samples and PAWS protection cost 12 bytes per segment, far less than what they save",
    },
    Item {
        key: knobs::TcpSack::KEY,
        recommended: "1",
        why: "selective acks let the sender resend only the lost segments",
    },
    Item {
        key: knobs::TcpDsack::KEY,
        recommended: "1",
        why: "duplicate SACKs tell spurious retransmits apart, so the sender can undo a needless slowdown",
    },
    Item {
        key: knobs::TcpWindowScaling::KEY,
        recommended: "1",
        why: "without it the window stops at 64 KiB, far below any fast path's bandwidth-delay product",
    },
    Item {
        key: knobs::TcpKeepaliveTime::KEY,
        recommended: "60",
        why: "find dead peers in minutes, not the default 2 hours (only sockets with SO_KEEPALIVE probe)",
    },
    Item {
        key: knobs::TcpKeepaliveIntvl::KEY,
        recommended: "10",
        why: "probe every 10 s once the connection is idle",
    },
    Item {
        key: knobs::TcpKeepaliveProbes::KEY,
        recommended: "3",
        why: "declare the peer dead after 3 unanswered probes (60 + 3x10 s in all)",
    },
    Item {
        key: knobs::TcpRmem::KEY,
        recommended: "4096 131072 16777216",
        why: "autotuning grows receive buffers up to the third value; 16 MiB covers 1 Gbit/s at 128 ms (size it to your BDP)",
    },
    Item {
        key: knobs::TcpWmem::KEY,
        recommended: "4096 16384 16777216",
        why: "send buffers grow up to the third value; 16 MiB keeps a long fat pipe full",
    },
    Item {
        key: knobs::CoreRmemMax::KEY,
        recommended: "16777216",
        why: "caps what SO_RCVBUF may request (doubled by the kernel); it does NOT cap TCP autotuning, tcp_rmem does",
    },
    Item {
        key: knobs::CoreWmemMax::KEY,
        recommended: "16777216",
        why: "caps what SO_SNDBUF may request; it does NOT cap TCP autotuning, tcp_wmem does",
    },
    Item {
        key: knobs::TcpNotsentLowat::KEY,
        recommended: "131072",
        why: "limit unsent data queued in the kernel, so fresh data is not stuck behind stale data",
    },
    Item {
        key: knobs::TcpSlowStartAfterIdle::KEY,
        recommended: "0",
        why: "keep the congestion window across idle gaps, so the next burst is not throttled",
    },
    Item {
        key: knobs::NfConntrackMax::KEY,
        recommended: "1048576",
        why: "when the table is full new connections are dropped; ~300 bytes per entry",
    },
    Item {
        key: knobs::NfConntrackTcpTimeoutEstablished::KEY,
        recommended: "3600",
        why: "the 5-day default keeps entries of vanished peers; an hour frees them (keepalive keeps live ones)",
    },
    Item {
        key: knobs::MptcpEnabled::KEY,
        recommended: "1",
        why: "allow MPTCP sockets so multi-homed hosts can use several paths (the default)",
    },
];

/// Compares two values the way the kernel means them: whitespace runs are equal.
fn same(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

fn audit() -> ExitCode {
    let sys = Sysctl::new();
    let width = LOW_LATENCY.iter().map(|i| i.key.len()).max().unwrap_or(40);
    println!(
        "{:<width$}  {:<26}  {:<26}  STATUS",
        "KNOB", "CURRENT", "RECOMMENDED"
    );
    let (mut ok, mut differ, mut unreadable) = (0, 0, 0);
    for item in LOW_LATENCY {
        let key = match Key::new(item.key) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("nettune: {e}");
                return ExitCode::FAILURE;
            }
        };
        let (current, status) = match sys.read_raw(&key) {
            Ok(v) if same(&v, item.recommended) => {
                ok += 1;
                (
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                    "ok".to_owned(),
                )
            }
            Ok(v) => {
                differ += 1;
                (
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                    "differs".to_owned(),
                )
            }
            Err(e) => {
                unreadable += 1;
                let status = match &e {
                    Error::Unsupported { reason, .. } => format!("absent: {reason}"),
                    Error::PermissionDenied { reason, .. } => format!("unreadable: {reason}"),
                    other => format!("unreadable: {other}"),
                };
                ("-".to_owned(), status)
            }
        };
        println!(
            "{:<width$}  {current:<26}  {:<26}  {status}",
            item.key, item.recommended
        );
        println!("{:<width$}  why: {}", "", item.why);
    }
    match advice::buffers(&sys) {
        Ok(list) => {
            for a in list {
                println!("\nadvice ({}): {}", a.key, a.message);
            }
        }
        Err(e) => println!("\nadvice: buffer sizes not checked: {e}"),
    }
    println!(
        "\n{ok} as recommended, {differ} differ, {unreadable} not readable; nothing was written"
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Audit => audit(),
    }
}

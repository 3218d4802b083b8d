//! `nettune`: audit, apply and roll back network tuning, and every nettune crate at the
//! command line. It uses the crates alone: it never runs sysctl, ethtool, conntrack or ip.
//!
//! Exit codes: 0 success, 1 failure, 2 usage error (bad arguments, bad profile file).
//! `--json` on read commands prints one JSON document whose shape is given in the README.

mod audit;
mod commands;
mod profile_file;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nettune::NetNs;

/// Tune the Linux kernel's network knobs from typed, tested code.
#[derive(Debug, Parser)]
#[command(name = "nettune", version, about)]
pub(crate) struct Cli {
    /// Print JSON instead of tables (read commands).
    #[arg(long, global = true)]
    json: bool,
    /// Work in the network namespace NAME (/run/netns/NAME) instead of the current one.
    #[arg(long, global = true, value_name = "NAME")]
    netns: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Read the live state and show current, recommended and why, and problem counters (read-only).
    Audit {
        /// A built-in profile (low-latency, throughput, conntrack-heavy) or a TOML file.
        #[arg(long, default_value = "low-latency")]
        profile: String,
    },
    /// Apply a profile transactionally and write an undo file.
    Apply {
        /// A built-in profile or a TOML file.
        #[arg(long)]
        profile: String,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where to write the undo file.
        #[arg(long, value_name = "FILE")]
        undo: Option<std::path::PathBuf>,
        /// Refuse (before writing anything) when a key cannot be set here.
        #[arg(long)]
        strict: bool,
    },
    /// Undo an apply from its undo file (in the namespace the file records).
    Rollback {
        /// The undo file.
        file: std::path::PathBuf,
    },
    /// sysctl get, set and list.
    Sysctl {
        #[command(subcommand)]
        cmd: commands::SysctlCmd,
    },
    /// Show or change a NIC's offloads, coalescing, rings and channels.
    Nic {
        #[command(subcommand)]
        cmd: commands::NicCmd,
    },
    /// The connection tracking table.
    Conntrack {
        #[command(subcommand)]
        cmd: commands::CtCmd,
    },
    /// The MPTCP path manager.
    Mptcp {
        #[command(subcommand)]
        cmd: commands::MptcpCmd,
    },
    /// The bandwidth-delay product and the buffer sizes it calls for.
    Bdp {
        /// Bandwidth: 10gbit, 100mbit, 1.5gbit, 25g (bits per second).
        #[arg(long)]
        bandwidth: String,
        /// Round-trip time: 10ms, 150us, 0.2s.
        #[arg(long)]
        rtt: String,
    },
    /// Built-in and file profiles.
    Profile {
        #[command(subcommand)]
        cmd: commands::ProfileCmd,
    },
}

/// A failure: `Usage` exits 2, `Run` exits 1.
#[derive(Debug)]
pub(crate) enum Fail {
    Usage(String),
    Run(String),
}

impl Fail {
    /// The text of the failure, whatever its kind.
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Usage(m) | Self::Run(m) => m,
        }
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Self::Run(nettune::error::report(&e))
    }
}

pub(crate) type Res<T = ()> = Result<T, Fail>;

/// The whole text of a failure: an error with its chain of sources (the library's
/// `Display` says what failed, the sources say why), or a message as it is.
pub(crate) trait Explain {
    /// The text to print.
    fn explain(&self) -> String;
}

macro_rules! explain_errors {
    ($($t:ty),* $(,)?) => {
        $(impl Explain for $t {
            fn explain(&self) -> String {
                nettune::error::report(self)
            }
        })*
    };
}

explain_errors!(
    nettune::sysctl::Error,
    nettune::nic::Error,
    nettune::conntrack::Error,
    nettune::mptcp::Error,
    nettune::NetnsError,
    nettune::ValueError,
    io::Error,
    serde_json::Error,
);

impl Explain for String {
    fn explain(&self) -> String {
        self.clone()
    }
}

/// Turns an error into a run failure (exit 1).
pub(crate) fn run<T, E: Explain>(r: Result<T, E>) -> Res<T> {
    r.map_err(|e| Fail::Run(e.explain()))
}

/// Turns an error into a usage failure (exit 2).
pub(crate) fn usage<T, E: Explain>(r: Result<T, E>) -> Res<T> {
    r.map_err(|e| Fail::Usage(e.explain()))
}

/// What every command gets.
pub(crate) struct Ctx {
    pub(crate) json: bool,
    pub(crate) netns: Option<NetNs>,
    pub(crate) netns_name: Option<String>,
    pub(crate) out: io::BufWriter<io::StdoutLock<'static>>,
}

impl Ctx {
    pub(crate) fn sysctl(&self) -> nettune::sysctl::Sysctl {
        match &self.netns {
            Some(ns) => nettune::sysctl::Sysctl::new().in_netns(ns),
            None => nettune::sysctl::Sysctl::new(),
        }
    }

    pub(crate) fn json(&mut self, v: &serde_json::Value) -> Res {
        serde_json::to_writer_pretty(&mut self.out, v).map_err(|e| Fail::Run(e.to_string()))?;
        writeln!(self.out)?;
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let netns = match &cli.netns {
        None => None,
        Some(name) => match NetNs::open(name) {
            Ok(ns) => Some(ns),
            Err(e) => {
                eprintln!("nettune: --netns {name}: {}", nettune::error::report(&e));
                return ExitCode::from(2);
            }
        },
    };
    let mut ctx = Ctx {
        json: cli.json,
        netns,
        netns_name: cli.netns.clone(),
        out: io::BufWriter::new(io::stdout().lock()),
    };
    let result = commands::dispatch(&mut ctx, cli.command)
        .and_then(|()| ctx.out.flush().map_err(Fail::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Run(e)) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(Fail::Usage(e)) => {
            let _ = ctx.out.flush();
            eprintln!("nettune: {e}");
            ExitCode::from(2)
        }
        Err(Fail::Run(e)) => {
            let _ = ctx.out.flush();
            eprintln!("nettune: {e}");
            ExitCode::FAILURE
        }
    }
}

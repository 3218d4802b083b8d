//! `nettune`: audit, apply and roll back network tuning, and every nettune crate at the
//! command line. It uses the crates alone: it never runs sysctl, ethtool, conntrack or ip.
//!
//! Exit codes: 0 success, 1 failure, 2 usage error (bad arguments, bad profile file),
//! 3 `audit`/`verify` found a problem or a difference, 4 `audit` found nothing wrong but
//! could not read everything.
//! `--json` on read commands prints one JSON document whose shape is given in the README.

mod agent;
mod audit;
mod commands;
mod tune;
mod txn;

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
    /// Work in another network namespace than the current one: NAME (/run/netns/NAME, as
    /// `ip netns` names it), a path to a namespace file (/proc/PID/ns/net, a bind mount;
    /// anything with a `/`), or pid:PID (the namespace of that process).
    #[arg(long, global = true, value_name = "NAME|PATH|pid:PID")]
    netns: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Read the live state and show current, recommended and why, the counters the
    /// diagnosis rules read, and the rules that fire with their advice (read-only).
    Audit {
        /// A built-in profile (low-latency, throughput, conntrack-heavy) or a TOML file.
        #[arg(long, default_value = "low-latency")]
        profile: String,
        /// Sample the counters twice, this far apart (10s, 500ms, 1m), and judge them by
        /// what grew; without it counters are totals since boot and never a problem.
        #[arg(long, value_name = "DURATION")]
        interval: Option<String>,
        /// Write the advice of every rule that fired, as one profile, to this file (for
        /// `nettune apply --profile FILE` after review).
        #[arg(long, value_name = "FILE")]
        advice: Option<std::path::PathBuf>,
    },
    /// Apply a profile transactionally: a write-ahead journal first, then every change,
    /// read back; on a failure everything is put back.
    Apply {
        /// A built-in profile (low-latency, throughput, conntrack-heavy) or a TOML/JSON file.
        #[arg(long)]
        profile: String,
        #[command(flatten)]
        txn: txn::TxnArgs,
    },
    /// Put everything a journal changed back to its baseline (in the namespace it records).
    Rollback {
        /// The journal.
        file: std::path::PathBuf,
        /// Fail at once when another transaction holds the namespace's lock.
        #[arg(long)]
        no_wait: bool,
    },
    /// Finish an apply that was interrupted: back to the state before it.
    Recover {
        /// The journal.
        file: std::path::PathBuf,
        /// Fail at once when another transaction holds the namespace's lock.
        #[arg(long)]
        no_wait: bool,
    },
    /// Compare the live state with a profile; exit 1 when anything differs.
    Verify {
        /// A built-in profile or a TOML/JSON file.
        #[arg(long, default_value = "low-latency")]
        profile: String,
        /// Count items that cannot be set here as differences, not as skipped.
        #[arg(long)]
        strict: bool,
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
    /// Serve the namespace's tuning state and diagnosis as Prometheus metrics over HTTP
    /// (`--listen`), or write them for node_exporter's textfile collector (`--textfile`).
    Exporter {
        /// Serve GET /metrics on this address (host:port), in the namespace the command
        /// runs in; the metrics are those of `--netns`.
        #[arg(
            long,
            value_name = "ADDR",
            required_unless_present = "textfile",
            conflicts_with = "textfile"
        )]
        listen: Option<String>,
        /// Write one scrape to this file atomically (a `.prom` file in the collector's
        /// directory) and exit, or every `--interval`.
        #[arg(long, value_name = "FILE")]
        textfile: Option<std::path::PathBuf>,
        /// With `--textfile`: write again this often (10s, 1m) until killed.
        #[arg(long, value_name = "DURATION", requires = "textfile")]
        interval: Option<String>,
        /// Export desired values and drift against this profile (built-in or file).
        #[arg(long)]
        profile: Option<String>,
        /// Export this journal's profile and generation, and name it as what set the
        /// knobs it records.
        #[arg(long, value_name = "FILE")]
        journal: Option<std::path::PathBuf>,
        /// Export the decisions `nettune tune` recorded beside this journal.
        #[arg(long, value_name = "FILE")]
        tune_journal: Option<std::path::PathBuf>,
    },
    /// A guarded closed loop: apply the diagnosis' advice one change at a time, judge
    /// each after a canary window, keep it or roll it back (see `nettune::tune`).
    Tune {
        #[command(flatten)]
        args: tune::TuneArgs,
    },
    /// Keep the namespace tuned as a profile file says (a Kubernetes node agent: the
    /// file is a mounted ConfigMap key): apply it when it appears or changes, roll back
    /// when it goes away, verify on an interval; status as a JSON file and as metrics,
    /// logs as JSON lines on standard error. Runs until killed.
    Agent {
        #[command(flatten)]
        args: agent::AgentArgs,
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
    /// `audit`/`verify` found a problem or a difference (exit 3).
    Finding(String),
    /// `audit` found nothing wrong in what it read, but could not read everything (exit 4).
    Unread(String),
}

impl Fail {
    /// The text of the failure, whatever its kind.
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Usage(m) | Self::Run(m) | Self::Finding(m) | Self::Unread(m) => m,
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
    nettune::Error,
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

/// Standard output that never fails a command: after the first error (a closed pipe) it
/// drops what follows, and remembers the error, so that the command finishes what it
/// was doing and the exit code still says whether it succeeded.
pub(crate) struct Out {
    inner: io::BufWriter<io::StdoutLock<'static>>,
    lost: Option<io::Error>,
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.lost.is_none() {
            if let Err(e) = self.inner.write_all(buf) {
                self.lost = Some(e);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.lost.is_none() {
            if let Err(e) = self.inner.flush() {
                self.lost = Some(e);
            }
        }
        Ok(())
    }
}

/// What every command gets.
pub(crate) struct Ctx {
    pub(crate) json: bool,
    pub(crate) netns: Option<NetNs>,
    pub(crate) netns_name: Option<String>,
    pub(crate) out: Out,
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

impl Cmd {
    /// Whether the command changes the system (when its report is lost, the exit code
    /// still says whether the change was made).
    fn changes_state(&self) -> bool {
        use commands::{CtCmd, MptcpCmd, NicCmd, SysctlCmd};
        match self {
            Self::Apply { txn, .. }
            | Self::Sysctl {
                cmd: SysctlCmd::Load { txn, .. },
            } => !txn.dry_run,
            Self::Rollback { .. }
            | Self::Recover { .. }
            | Self::Sysctl {
                cmd: SysctlCmd::Set { .. },
            }
            | Self::Nic {
                cmd: NicCmd::Set { .. },
            }
            | Self::Conntrack {
                cmd: CtCmd::Flush { .. },
            } => true,
            Self::Mptcp {
                cmd: MptcpCmd::Limits { set },
            } => set.is_some(),
            Self::Mptcp {
                cmd: MptcpCmd::Endpoint { .. },
            } => true,
            _ => false,
        }
    }
}

/// Opens what `--netns` names: `pid:PID`, a path (anything with a `/`), or a name under
/// /run/netns.
fn open_netns(spec: &str) -> Result<NetNs, String> {
    let opened = if let Some(pid) = spec.strip_prefix("pid:") {
        let pid = pid
            .parse::<u32>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("{pid:?} is not a process id (pid:PID)"))?;
        NetNs::from_pid(pid)
    } else if spec.contains('/') {
        NetNs::open_path(spec)
    } else {
        NetNs::open(spec)
    };
    opened.map_err(|e| nettune::error::report(&e))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // More descriptors for the namespace file caches; the hard limit is the ceiling.
    let _ = nettune::netns::files::raise_fd_limit();
    let netns = match cli.netns.as_deref().map(open_netns).transpose() {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!(
                "nettune: --netns {}: {e}",
                cli.netns.as_deref().unwrap_or("")
            );
            return ExitCode::from(2);
        }
    };
    let netns_name = netns.as_ref().and_then(|ns| ns.name().map(str::to_owned));
    let mut ctx = Ctx {
        json: cli.json,
        netns,
        netns_name,
        out: Out {
            inner: io::BufWriter::new(io::stdout().lock()),
            lost: None,
        },
    };
    let changes_state = cli.command.changes_state();
    let result = commands::dispatch(&mut ctx, cli.command);
    let _ = ctx.out.flush();
    let code = match &result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(e)) => {
            eprintln!("nettune: {e}");
            ExitCode::from(2)
        }
        Err(Fail::Run(e)) => {
            eprintln!("nettune: {e}");
            ExitCode::FAILURE
        }
        Err(Fail::Finding(e)) => {
            eprintln!("nettune: {e}");
            ExitCode::from(3)
        }
        Err(Fail::Unread(e)) => {
            eprintln!("nettune: {e}");
            ExitCode::from(4)
        }
    };
    // A verdict (audit/verify) whose report was lost is a failure like any lost read.
    let verdict = matches!(result, Err(Fail::Finding(_) | Fail::Unread(_)));
    match (ctx.out.lost, result.is_ok() || verdict) {
        (Some(e), true) if changes_state => {
            // The change was made (or undone) as the exit code says; only its report is lost.
            eprintln!(
                "nettune: standard output failed ({e}); the report above is incomplete, the result is not"
            );
            code
        }
        (Some(e), true) => {
            eprintln!("nettune: standard output failed: {e}");
            ExitCode::FAILURE
        }
        _ => code,
    }
}

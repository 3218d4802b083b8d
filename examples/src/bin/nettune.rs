//! `nettune`: audit and tune the kernel's network knobs.
//!
//! `nettune audit` reads the knobs of the low-latency tuning guide and prints, for each, the
//! current value, the recommendation and why. It writes nothing and needs no root.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sysctl_core::knobs::canonical_lenient;
use sysctl_core::{Error, Profile, Sysctl, advice};

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

/// Compares two values the way the kernel means them: whitespace runs are equal.
fn flat(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn audit(out: &mut impl Write) -> io::Result<()> {
    let sys = Sysctl::new();
    let profile = Profile::low_latency();
    let width = profile
        .entries()
        .iter()
        .map(|e| e.key().to_string().len())
        .max()
        .unwrap_or(40);
    writeln!(
        out,
        "{:<width$}  {:<26}  {:<26}  STATUS",
        "KNOB", "CURRENT", "RECOMMENDED"
    )?;
    let (mut ok, mut differ, mut unreadable) = (0, 0, 0);
    for entry in profile.entries() {
        let (current, status) = match sys.read_raw(entry.key()) {
            Ok(v) if canonical_lenient(entry.key(), &v) == entry.value() => {
                ok += 1;
                (flat(&v), "ok".to_owned())
            }
            Ok(v) => {
                differ += 1;
                (flat(&v), "differs".to_owned())
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
        let key = entry.key().to_string();
        writeln!(
            out,
            "{key:<width$}  {current:<26}  {:<26}  {status}",
            entry.value()
        )?;
        writeln!(out, "{:<width$}  why: {}", "", entry.why())?;
    }
    match advice::buffers(&sys) {
        Ok(list) => {
            for a in list {
                writeln!(out, "\nadvice ({}): {}", a.key, a.message)?;
            }
        }
        Err(e) => writeln!(out, "\nadvice: buffer sizes not checked: {e}")?,
    }
    writeln!(
        out,
        "\n{ok} as recommended, {differ} differ, {unreadable} not readable; nothing was written"
    )?;
    out.flush()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = match cli.command {
        Cmd::Audit => audit(&mut out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`nettune audit | head`): not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nettune: writing the report: {e}");
            ExitCode::FAILURE
        }
    }
}

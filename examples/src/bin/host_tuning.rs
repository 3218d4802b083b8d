//! Whole-host tuning from application code: a profile across sysctls, a NIC and MPTCP,
//! applied to one network namespace with a write-ahead journal, checked, and rolled back.
//!
//! ```sh
//! cargo run -p nettune-examples --bin host_tuning -- --netns edge --iface eth1
//! cargo run -p nettune-examples --bin host_tuning -- --netns edge --iface eth1 --keep   # leave it applied
//! ```
//!
//! Needs root (CAP_NET_ADMIN in the namespace, CAP_SYS_ADMIN to enter it).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nettune::profile::NicProfile;
use nettune::{Journal, PlanOptions, Profile, Target};

/// Apply a profile (sysctls, a NIC, MPTCP limits) to a namespace and roll it back.
#[derive(Debug, Parser)]
struct Args {
    /// The namespace (`ip netns add NAME`).
    #[arg(long)]
    netns: String,
    /// The interface whose offloads and steering to tune.
    #[arg(long)]
    iface: String,
    /// The journal.
    #[arg(long, default_value = "/tmp/host_tuning.journal")]
    journal: PathBuf,
    /// Leave the changes applied (roll back later with `nettune rollback JOURNAL`).
    #[arg(long)]
    keep: bool,
}

fn profile(iface: &str) -> Result<Profile, nettune::Error> {
    // The built-in low-latency sysctls, and what this application adds.
    let mut p = Profile::low_latency();
    p.set(
        "net.core.somaxconn",
        "4096",
        "our acceptor takes bursts of new connections",
    )?;
    let mut nic = NicProfile {
        why: Some("receive offloads merge segments; spread receive work over CPU 0".into()),
        ..NicProfile::default()
    };
    nic.offloads.insert("gro".into(), true);
    nic.rps.insert(0, nettune::nic::CpuSet::of([0])?);
    p.set_nic(iface.parse()?, nic)?;
    // Two extra subflows per connection, two announced addresses accepted.
    p.set_mptcp_limits(2, 2)?;
    Ok(p)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("host_tuning: {}", nettune::error::report(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<bool, nettune::Error> {
    let target = Target::open(&args.netns)?;
    let profile = profile(&args.iface)?;
    // Keys a child namespace may not set (net.core.rmem_max, ...) are left out, with why.
    let plan = profile.plan_with(&target, PlanOptions::skip_unsettable())?;
    print!("{plan}");
    let applied = plan.apply(&args.journal)?;
    println!(
        "applied {} change(s); journal {}",
        applied.changes.len(),
        args.journal.display()
    );
    // Applied means the kernel shows it: planning again finds nothing to do.
    let again = profile.plan_with(&target, PlanOptions::skip_unsettable())?;
    println!("verify: {} item(s) differ", again.changes().len());
    if !again.is_empty() {
        return Ok(false);
    }
    if args.keep {
        return Ok(true);
    }
    let report = Journal::open(&args.journal)?.rollback()?;
    println!("rollback: {report}");
    Ok(report.complete())
}

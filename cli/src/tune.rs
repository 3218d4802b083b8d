//! `nettune tune`: runs [`nettune::tune::Tuner`] and prints each decision as one JSON line
//! (`--history` prints the recorded ones as a table).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nettune::Journal;
use nettune::tune::{TuneConfig, Tuner, Verdict};

use crate::commands::parse_duration;
use crate::{Ctx, Fail, Res, run, usage};

/// The options of `nettune tune`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TuneArgs {
    /// The profile whose `[tune]` section holds the guard rails (built-in or file).
    #[arg(long, required_unless_present = "history")]
    pub(crate) profile: Option<String>,
    /// How often to sample (overrides the profile): 30s, 1m.
    #[arg(long, value_name = "DURATION")]
    pub(crate) interval: Option<String>,
    /// How long a change runs before its verdict (overrides the profile).
    #[arg(long, value_name = "DURATION")]
    pub(crate) canary: Option<String>,
    /// Write nothing: print (and record) the change the loop would make.
    #[arg(long)]
    pub(crate) advise_only: bool,
    /// The journal every change goes to (default: /var/lib/nettune/tune-NAMESPACE.journal);
    /// `nettune rollback` on it returns to the state before the loop.
    #[arg(long, value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,
    /// Roll every change back when the loop ends (a signal, or --for).
    #[arg(long)]
    pub(crate) rollback_on_exit: bool,
    /// Stop after this long (default: run until SIGINT or SIGTERM).
    #[arg(long = "for", value_name = "DURATION")]
    pub(crate) run_for: Option<String>,
    /// Print the decisions recorded beside the journal, and exit.
    #[arg(long)]
    pub(crate) history: bool,
}

/// Runs the loop, or prints its history.
pub(crate) fn tune(ctx: &mut Ctx, a: &TuneArgs) -> Res {
    let target = crate::txn::target(ctx)?;
    let journal = a.journal.clone().unwrap_or_else(|| {
        let j = crate::txn::default_journal(&target);
        j.with_file_name(format!(
            "tune-{}",
            j.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ))
    });
    if a.history {
        return history(ctx, &journal);
    }
    let profile = usage(
        nettune::Profile::load(a.profile.as_deref().unwrap_or_default())
            .map_err(|e| nettune::error::report(&e)),
    )?;
    let mut config =
        usage(TuneConfig::from_profile(&profile).map_err(|e| nettune::error::report(&e)))?;
    if let Some(i) = &a.interval {
        config.interval = usage(parse_duration("--interval", i))?;
        if a.canary.is_none() && profile.tune().is_none_or(|t| t.canary.is_none()) {
            config.canary = config.interval;
        }
    }
    if let Some(c) = &a.canary {
        config.canary = usage(parse_duration("--canary", c))?;
    }
    config.advise_only = a.advise_only;
    let run_for = a
        .run_for
        .as_deref()
        .map(|d| usage(parse_duration("--for", d)))
        .transpose()?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second handler in one process is refused; the loop then stops only by --for.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let started = Instant::now();
    let mut tuner =
        Tuner::new(target, config, &journal).with_apply_options(crate::txn::options(false));
    if a.advise_only {
        eprintln!(
            "nettune: advice only, nothing is written; decisions in {}.history",
            journal.display()
        );
    } else {
        eprintln!(
            "nettune: tuning, journal {} (nettune rollback {} returns to the state before)",
            journal.display(),
            journal.display()
        );
    }
    let out = &mut ctx.out;
    let result = tuner.run_until(
        || stop.load(Ordering::SeqCst) || run_for.is_some_and(|d| started.elapsed() >= d),
        |d| {
            if let Ok(line) = serde_json::to_string(d) {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        },
    );
    let ended = run(result);
    if a.rollback_on_exit && journal.exists() {
        let report = run(run(Journal::open(&journal))?
            .with_options(crate::txn::options(false))
            .rollback())?;
        eprintln!(
            "nettune: rolled back on exit: {} restored, {} drift, {} failed",
            report.restored(),
            report.drift(),
            report.failed()
        );
        if !report.complete() {
            return Err(Fail::Run(format!(
                "rollback on exit was incomplete: {report}"
            )));
        }
    }
    ended
}

fn history(ctx: &mut Ctx, journal: &std::path::Path) -> Res {
    let decisions = run(Tuner::history(journal))?;
    if ctx.json {
        let v = run(serde_json::to_value(&decisions))?;
        return ctx.json(&v);
    }
    let out = &mut ctx.out;
    writeln!(
        out,
        "{:<10}  {:<11}  {:<22}  {:<30}  CHANGE",
        "AT", "VERDICT", "RULE", "KNOB"
    )?;
    for d in &decisions {
        let verdict = match d.verdict {
            Verdict::Advised => "advised",
            Verdict::Applied => "applied",
            Verdict::Kept => "kept",
            Verdict::RolledBack => "rolled back",
            Verdict::Refused => "refused",
            Verdict::Yielded => "yielded",
        };
        writeln!(
            out,
            "{:<10}  {verdict:<11}  {:<22}  {:<30}  {} -> {}",
            d.at,
            d.rule,
            d.knob,
            d.from.as_deref().unwrap_or("-"),
            d.to.as_deref().unwrap_or("-")
        )?;
        writeln!(out, "{:<10}  {}", "", d.reason)?;
    }
    Ok(())
}

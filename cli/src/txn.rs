//! `apply`, `rollback`, `recover`, `verify`: the whole-host transaction, all of it library
//! calls (`nettune::Profile`, `Plan`, `Journal`); this file only renders.

use std::io::Write;
use std::path::{Path, PathBuf};

use nettune::journal::{ApplyOptions, DEFAULT_LOCK_DIR, Report};
use nettune::{Journal, Plan, PlanOptions, Profile, Target};
use serde_json::{Value, json};

use crate::commands::flat;
use crate::{Ctx, Fail, Res, run, usage};

/// The journal an apply writes when none is named: one per namespace.
pub(crate) fn default_journal(target: &Target) -> PathBuf {
    let who = match target.name() {
        Some(n) => format!("netns-{n}"),
        None if target.is_initial() => "host".to_owned(),
        None => format!("netns-{:016x}", target.id().cookie),
    };
    PathBuf::from(format!("/var/lib/nettune/{who}.journal"))
}

/// Lock options: `NETTUNE_LOCK_DIR` (for tests and unusual hosts) and `--no-wait`.
pub(crate) fn options(no_wait: bool) -> ApplyOptions {
    let dir = std::env::var_os("NETTUNE_LOCK_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_LOCK_DIR), PathBuf::from);
    let o = ApplyOptions::new().lock_dir(dir);
    if no_wait { o.no_wait() } else { o }
}

pub(crate) fn target(ctx: &Ctx) -> Res<Target> {
    run(match &ctx.netns {
        Some(ns) => Target::of(ns),
        None => Target::current(),
    })
}

/// The options of a command that applies a profile (`apply`, `sysctl load`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TxnArgs {
    /// Print the plan and write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// The journal (default: /var/lib/nettune/NAMESPACE.journal).
    #[arg(long, alias = "undo", value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,
    /// Refuse (before writing anything) when an item cannot be set here.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Fail at once when another transaction holds the namespace's lock.
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Allow keys outside net.* and global keys (the initial namespace only).
    #[arg(long)]
    pub(crate) allow_host_keys: bool,
}

impl TxnArgs {
    /// Applies `profile` with these options, keeping the journal.
    pub(crate) fn apply(&self, ctx: &mut Ctx, profile: &Profile) -> Res {
        apply(
            ctx,
            &ApplyArgs {
                profile,
                dry_run: self.dry_run,
                journal: self.journal.as_deref(),
                strict: self.strict,
                no_wait: self.no_wait,
                allow_host_keys: self.allow_host_keys,
                ephemeral: false,
            },
        )
    }
}

/// What `apply` was asked.
pub(crate) struct ApplyArgs<'a> {
    pub(crate) profile: &'a Profile,
    pub(crate) dry_run: bool,
    pub(crate) journal: Option<&'a Path>,
    pub(crate) strict: bool,
    pub(crate) no_wait: bool,
    pub(crate) allow_host_keys: bool,
    /// Remove the journal after a successful apply (`sysctl set`, `nic set`: all or
    /// nothing, no undo record kept).
    pub(crate) ephemeral: bool,
}

/// Plans `profile` for `target`: strictly, or leaving out (and reporting) what cannot be
/// set here.
pub(crate) fn plan(
    target: &Target,
    profile: &Profile,
    strict: bool,
    allow_host_keys: bool,
) -> Res<Plan> {
    let options = if strict {
        PlanOptions::strict()
    } else {
        PlanOptions::skip_unsettable()
    }
    .allow_host_keys(allow_host_keys);
    profile.plan_with(target, options).map_err(|e| match e {
        // What the profile asks cannot be done here: nothing was written.
        nettune::Error::Refused { .. } | nettune::Error::Profile { .. } => {
            Fail::Usage(nettune::error::report(&e))
        }
        other => Fail::Run(nettune::error::report(&other)),
    })
}

pub(crate) fn apply(ctx: &mut Ctx, a: &ApplyArgs<'_>) -> Res {
    let target = target(ctx)?;
    let plan = match plan(&target, a.profile, a.strict, a.allow_host_keys) {
        Ok(p) => p,
        Err(e) => {
            if ctx.json {
                ctx.json(&json!({ "ok": false, "error": e.message(), "written": false }))?;
            }
            return Err(e);
        }
    };
    if a.dry_run {
        if ctx.json {
            let mut v = run(serde_json::to_value(&plan))?;
            v["dry_run"] = json!(true);
            v["written"] = json!(false);
            return ctx.json(&v);
        }
        write!(ctx.out, "{plan}")?;
        writeln!(ctx.out, "dry run: nothing was written")?;
        return Ok(());
    }
    if !ctx.json {
        write!(ctx.out, "{plan}")?;
        if plan.mismatch().is_some() {
            // The plan said why it is not for this host; nothing was applied.
            return Ok(());
        }
    }
    let journal = a
        .journal
        .map_or_else(|| default_journal(&target), Path::to_owned);
    if let Some(dir) = journal
        .parent()
        .filter(|d| plan.mismatch().is_none() && !d.as_os_str().is_empty() && a.journal.is_none())
    {
        run(std::fs::create_dir_all(dir))?;
    }
    match plan.apply_with(&journal, &options(a.no_wait)) {
        Ok(applied) => {
            if a.ephemeral {
                match std::fs::remove_file(&journal) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return run(Err(e)),
                }
            }
            if ctx.json {
                return ctx.json(&json!({
                    "ok": true,
                    "plan": run(serde_json::to_value(&plan))?,
                    "applied": run(serde_json::to_value(&applied))?,
                    "journal": (!a.ephemeral).then(|| journal.display().to_string()),
                    "written": !applied.changes.is_empty(),
                }));
            }
            for c in &applied.changes {
                writeln!(
                    ctx.out,
                    "{}: {} -> {}",
                    c.id,
                    c.id.show(&flat(&c.current)),
                    c.id.show(&flat(&c.desired))
                )?;
            }
            for id in &applied.unchanged {
                writeln!(ctx.out, "{id}: already set (changed since the plan)")?;
            }
            writeln!(
                ctx.out,
                "applied {} change(s), {} skipped{}",
                applied.changes.len(),
                applied.skipped.len(),
                if applied.kept_baseline {
                    "; the journal keeps the first apply's baseline"
                } else {
                    ""
                }
            )?;
            if !a.ephemeral && !applied.changes.is_empty() {
                writeln!(
                    ctx.out,
                    "journal: {} (nettune rollback {} undoes it)",
                    journal.display(),
                    journal.display()
                )?;
            }
            Ok(())
        }
        Err(e) => {
            let text = nettune::error::report(&e);
            if ctx.json {
                let restore = match &e {
                    nettune::Error::ApplyFailed { restore, .. } => {
                        run(serde_json::to_value(restore))?
                    }
                    _ => Value::Null,
                };
                ctx.json(&json!({ "ok": false, "error": text, "restore": restore, "journal": journal.display().to_string() }))?;
            }
            Err(Fail::Run(text))
        }
    }
}

/// A rollback or recover error: the wrong namespace is a usage error (nothing written).
fn undo_error(e: nettune::Error) -> Fail {
    match e {
        nettune::Error::WrongNamespace { .. } => Fail::Usage(nettune::error::report(&e)),
        other => Fail::Run(nettune::error::report(&other)),
    }
}

fn open_journal(ctx: &Ctx, path: &Path, no_wait: bool) -> Res<Journal> {
    let j = usage(Journal::open(path).map_err(|e| nettune::error::report(&e)))?;
    let j = j.with_options(options(no_wait));
    // --netns names the target when the journal's namespace has no name of its own, or
    // when it was given as a path or pid (the journal checks that it is the same one).
    Ok(
        match (&ctx.netns, j.netns_name(), ctx.netns_name.as_deref()) {
            (Some(_), Some(name), Some(given)) if given != name => {
                return Err(Fail::Usage(format!(
                    "{}: the journal is for namespace {name}, not {given}",
                    path.display(),
                )));
            }
            (Some(ns), None, _) | (Some(ns), Some(_), None) => {
                j.in_target(Target::of(ns).map_err(undo_error)?)
            }
            _ => j,
        },
    )
}

fn render(ctx: &mut Ctx, what: &str, path: &Path, report: &Report) -> Res {
    if ctx.json {
        ctx.json(&json!({
            "journal": path.display().to_string(),
            "complete": report.complete(),
            "restored": report.restored(),
            "drift": report.drift(),
            "failed": report.failed(),
            "items": run(serde_json::to_value(report))?,
        }))?;
    } else {
        for i in &report.items {
            let text = match &i.outcome {
                nettune::Outcome::Restored => "restored".to_owned(),
                nettune::Outcome::Unchanged => "already as before".to_owned(),
                nettune::Outcome::Drift { found } => format!(
                    "left alone: changed by someone else since (now {})",
                    flat(found)
                ),
                nettune::Outcome::Failed { reason } => format!("NOT restored: {reason}"),
            };
            writeln!(ctx.out, "{}: {text}", i.item)?;
        }
        writeln!(ctx.out, "{what}: {report}")?;
    }
    if report.complete() {
        Ok(())
    } else {
        Err(Fail::Run(format!(
            "{what} incomplete: {report}; the journal {} stays",
            path.display()
        )))
    }
}

pub(crate) fn rollback(ctx: &mut Ctx, path: &Path, no_wait: bool) -> Res {
    let j = open_journal(ctx, path, no_wait)?;
    let report = j.rollback().map_err(undo_error)?;
    render(ctx, "rollback", path, &report)
}

pub(crate) fn recover(ctx: &mut Ctx, path: &Path, no_wait: bool) -> Res {
    let j = open_journal(ctx, path, no_wait)?;
    if j.is_committed() {
        if ctx.json {
            return ctx.json(&json!({ "journal": path.display().to_string(), "complete": true, "items": [], "note": "the last apply finished: nothing to recover" }));
        }
        writeln!(
            ctx.out,
            "{}: the last apply finished: nothing to recover (nettune rollback undoes it)",
            path.display()
        )?;
        return Ok(());
    }
    let report = j.recover().map_err(undo_error)?;
    render(ctx, "recover", path, &report)
}

pub(crate) fn verify(ctx: &mut Ctx, profile: &Profile, strict: bool) -> Res {
    let target = target(ctx)?;
    let plan = plan(&target, profile, strict, false)?;
    if ctx.json {
        ctx.json(&json!({
            "profile": profile.name(),
            "target": target.to_string(),
            "ok": plan.is_empty(),
            "drift": run(serde_json::to_value(plan.changes()))?,
            "skipped": run(serde_json::to_value(plan.skipped()))?,
            "matched": plan.mismatch().is_none(),
            "mismatch": plan.mismatch(),
            "written": false,
        }))?;
    } else if let Some(why) = plan.mismatch() {
        writeln!(
            ctx.out,
            "profile {} is not for this host, nothing checked: {why}",
            profile.name()
        )?;
    } else {
        for c in plan.changes() {
            writeln!(
                ctx.out,
                "{}: {} (the profile wants {})",
                c.id,
                c.id.show(&flat(&c.current)),
                c.id.show(&flat(&c.desired))
            )?;
        }
        for s in plan.skipped() {
            writeln!(ctx.out, "{}: not checked: {}", s.id, s.reason)?;
        }
        writeln!(
            ctx.out,
            "{} item(s) as the profile wants, {} differ, {} not checked",
            plan.unchanged().len(),
            plan.changes().len(),
            plan.skipped().len()
        )?;
    }
    if plan.is_empty() {
        Ok(())
    } else {
        Err(Fail::Finding(format!(
            "{} item(s) differ from profile {}",
            plan.changes().len(),
            profile.name()
        )))
    }
}

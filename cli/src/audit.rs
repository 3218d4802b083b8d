//! `nettune audit`: renders [`nettune::Audit`] (the live state against a profile, and the
//! counters that show a problem now). It writes nothing.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use nettune::Profile;
use nettune::audit::Row;

use crate::{Ctx, Res};

fn write_rows(out: &mut impl Write, rows: &[Row], min_width: usize) -> std::io::Result<()> {
    let width = rows
        .iter()
        .map(|r| r.item.len())
        .max()
        .unwrap_or(min_width)
        .max(min_width);
    let cw = rows
        .iter()
        .map(|r| r.current_or_dash().len())
        .max()
        .unwrap_or(26)
        .max(26);
    for r in rows {
        writeln!(
            out,
            "{:<width$}  {:<cw$}  {:<26}  {}",
            r.item,
            r.current_or_dash(),
            r.recommended_or_dash(),
            r.status
        )?;
        writeln!(out, "{:<width$}  why: {}", "", r.why)?;
    }
    Ok(())
}

/// Audits the live state of the command's namespace against `p`: counters as totals
/// since boot, or as rates over `interval`; the advice of the rules that fired written to
/// `advice_file` when asked.
pub(crate) fn audit(
    ctx: &mut Ctx,
    p: &Profile,
    interval: Option<Duration>,
    advice_file: Option<&Path>,
) -> Res {
    let target = crate::txn::target(ctx)?;
    let audit = match interval {
        Some(i) => p.audit_over(&target, i),
        None => p.audit(&target),
    };
    if let Some(path) = advice_file {
        write_advice(&audit, path)?;
    }
    if ctx.json {
        let v = serde_json::to_value(&audit).map_err(|e| crate::Fail::Run(e.to_string()))?;
        ctx.json(&v)?;
        return verdict(&audit);
    }
    let out = &mut ctx.out;
    writeln!(out, "profile {} on {target}", audit.profile)?;
    let width = audit
        .sysctl
        .iter()
        .map(|r| r.item.len())
        .max()
        .unwrap_or(40);
    writeln!(
        out,
        "{:<width$}  {:<26}  {:<26}  STATUS",
        "KNOB", "CURRENT", "RECOMMENDED"
    )?;
    write_rows(out, &audit.sysctl, width)?;
    for (title, rows) in [
        ("interfaces", &audit.nic),
        ("conntrack", &audit.conntrack),
        ("mptcp", &audit.mptcp),
    ] {
        writeln!(out, "\n{title}")?;
        write_rows(out, rows, 10)?;
    }
    match audit.interval {
        Some(secs) => writeln!(out, "\ncounters (growth over {secs:.1}s)")?,
        None => writeln!(
            out,
            "\ncounters (totals since boot: they do not say it happens now; use --interval)"
        )?,
    }
    write_rows(out, &audit.counters, 10)?;
    for d in &audit.diagnoses {
        writeln!(out, "\ndiagnosis {}: {}", d.rule, d.cause)?;
        for e in &d.evidence {
            writeln!(
                out,
                "  evidence: {} +{} ({:.1}/s, {} since boot)",
                e.signal, e.delta, e.per_second, e.total
            )?;
        }
        for (k, v) in &d.live {
            writeln!(out, "  live: {k} = {v}")?;
        }
        match &d.advice {
            Some(fix) => {
                writeln!(out, "  advice (nettune apply --profile FILE):")?;
                for line in fix.to_toml().lines() {
                    writeln!(out, "    {line}")?;
                }
            }
            None => writeln!(out, "  advice: none that can be applied here")?,
        }
        if let Some(c) = &d.caveat {
            writeln!(out, "  note: {c}")?;
        }
    }
    for a in &audit.advice {
        writeln!(out, "\nadvice ({}): {}", a.key, a.message)?;
    }
    if let Some(e) = &audit.advice_error {
        writeln!(out, "\nadvice: buffer sizes not checked: {e}")?;
    }
    let s = audit.summary();
    writeln!(
        out,
        "\n{} as recommended, {} differ, {} problems, {} rules fired, {} not readable, {} differ but cannot be set here; nothing was written",
        s.ok, s.differs, s.problems, s.diagnoses, s.unread, s.unsettable
    )?;
    verdict(&audit)
}

/// Writes the advice of every rule that fired as one profile (atomically), or says that
/// there was none (and writes nothing).
fn write_advice(audit: &nettune::Audit, path: &Path) -> Res {
    let mut merged = Profile::new("advice");
    for fix in audit.diagnoses.iter().filter_map(|d| d.advice.clone()) {
        merged.merge(fix);
    }
    if merged.is_empty() {
        eprintln!(
            "nettune: no advice to write to {}: no rule with applicable advice fired",
            path.display()
        );
        return Ok(());
    }
    let text = format!(
        "# advice of nettune audit, profile {}: review, then nettune apply --profile {}\n{}",
        audit.profile,
        path.display(),
        merged.to_toml()
    );
    nettune::netns::files::write_atomic(path, text.as_bytes(), 0o644)
        .map_err(|e| crate::Fail::Run(format!("--advice {}: {e}", path.display())))
}

/// The exit code an automation reads: 3 when a row differs or shows a problem or a rule
/// fired, else 4
/// when a row could not be read (absent items do not count: the kernel lacks them), else
/// 0.
fn verdict(audit: &nettune::Audit) -> Res {
    let s = audit.summary();
    if s.differs + s.problems + s.diagnoses > 0 {
        return Err(crate::Fail::Finding(format!(
            "{} differ from profile {}, {} show a problem, {} diagnosis rules fired",
            s.differs, audit.profile, s.problems, s.diagnoses
        )));
    }
    let unreadable = audit
        .rows()
        .filter(|r| matches!(r.status, nettune::audit::Status::Unreadable(_)))
        .count();
    if unreadable > 0 {
        return Err(crate::Fail::Unread(format!(
            "{unreadable} item(s) could not be read (see the rows marked unreadable)"
        )));
    }
    Ok(())
}

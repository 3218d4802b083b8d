//! `nettune audit`: renders [`nettune::Audit`] (the live state against a profile, and the
//! counters that show a problem now). It writes nothing.

use std::io::Write;

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

/// Audits the live state of the command's namespace against `p`.
pub(crate) fn audit(ctx: &mut Ctx, p: &Profile) -> Res {
    let target = crate::txn::target(ctx)?;
    let audit = p.audit(&target);
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
        ("counters (this namespace, since boot)", &audit.counters),
    ] {
        writeln!(out, "\n{title}")?;
        write_rows(out, rows, 10)?;
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
        "\n{} as recommended, {} differ, {} problems, {} not readable, {} differ but cannot be set here; nothing was written",
        s.ok, s.differs, s.problems, s.unread, s.unsettable
    )?;
    verdict(&audit)
}

/// The exit code an automation reads: 3 when a row differs or shows a problem, else 4
/// when a row could not be read (absent items do not count: the kernel lacks them), else
/// 0.
fn verdict(audit: &nettune::Audit) -> Res {
    let s = audit.summary();
    if s.differs + s.problems > 0 {
        return Err(crate::Fail::Finding(format!(
            "{} differ from profile {}, {} counters show a problem",
            s.differs, audit.profile, s.problems
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

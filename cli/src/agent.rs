//! `nettune agent`: the library's [`nettune::agent::Agent`] in a loop, with its status
//! written to a file and served as metrics, and its transitions logged as JSON lines.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nettune::agent::{Agent, AgentOptions, AgentStatus, Transition};
use serde_json::{Value, json};

use crate::commands::parse_duration;
use crate::{Ctx, Fail, Res, run, txn, usage};

/// The options of `nettune agent`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AgentArgs {
    /// The profile file to follow (a ConfigMap key's file: TOML, or JSON by extension).
    #[arg(long, value_name = "FILE")]
    profile_file: PathBuf,
    /// The agent's journal (default: /var/lib/nettune/NAMESPACE.agent.journal, apart from
    /// the one `nettune apply` keeps).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Write the status (JSON) to this file after every transition and verify, atomically.
    #[arg(long, value_name = "FILE")]
    status: Option<PathBuf>,
    /// Serve GET /metrics (the exporter's metrics and the agent's) on this address.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// How often the profile file is read (1s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    poll: String,
    /// How often an unchanged profile is verified against the live state.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    verify_every: String,
    /// Refuse a profile with items that cannot be set here (nothing is written).
    #[arg(long)]
    strict: bool,
}

/// One JSON log line on standard error.
fn log(level: &str, mut record: Value) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    record["ts"] = json!(ts);
    record["level"] = json!(level);
    eprintln!("{record}");
}

fn log_transition(t: &Transition, status: &AgentStatus) {
    let level = match t {
        Transition::Failed { .. } | Transition::InvalidProfile { .. } => "error",
        Transition::Drift { items } if *items > 0 => "warn",
        _ => "info",
    };
    let mut record = t.to_json();
    record["msg"] = json!(t.to_string());
    record["state"] = json!(status.state.as_str());
    log(level, record);
}

pub(crate) fn agent(ctx: &mut Ctx, a: &AgentArgs) -> Res {
    let poll = usage(parse_duration("--poll", &a.poll))?;
    let verify_every = usage(parse_duration("--verify-every", &a.verify_every))?;
    if poll.is_zero() {
        return Err(Fail::Usage("--poll must be more than 0".into()));
    }
    let target = txn::target(ctx)?;
    // Its own journal: a manual `nettune apply` (default journal) is not the agent's to
    // roll back when the ConfigMap key goes.
    let journal = a
        .journal
        .clone()
        .unwrap_or_else(|| txn::default_journal(&target).with_extension("agent.journal"));
    let shared = Arc::new(Mutex::new(AgentStatus::default()));
    if let Some(addr) = &a.listen {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Fail::Usage(format!("--listen {addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_or_else(|_| addr.clone(), |a| a.to_string());
        let mut exporter = nettune::Exporter::new(target.clone())
            .with_journal(&journal)
            .with_agent(Arc::clone(&shared));
        log(
            "info",
            json!({ "msg": format!("metrics on http://{bound}/metrics"), "listen": bound }),
        );
        std::thread::spawn(move || {
            if let Err(e) = exporter.serve(&listener) {
                log("error", json!({ "msg": format!("--listen {bound}: {e}") }));
                std::process::exit(1);
            }
        });
    }
    let options = AgentOptions::new(&a.profile_file, &journal)
        .verify_every(verify_every)
        .apply_options(txn::options(false))
        .strict(a.strict);
    log(
        "info",
        json!({
            "msg": "agent started",
            "target": target.to_string(),
            "profile_file": a.profile_file.display().to_string(),
            "journal": journal.display().to_string(),
        }),
    );
    let mut agent = Agent::new(target, options);
    let mut written: Option<String> = None;
    loop {
        if let Some(t) = agent.step() {
            log_transition(&t, agent.status());
        }
        let status = agent.status().clone();
        if let Some(path) = &a.status {
            let text = run(serde_json::to_string_pretty(&status))?;
            if written.as_deref() != Some(text.as_str()) {
                if let Err(e) = nettune::netns::files::write_atomic(path, text.as_bytes(), 0o644) {
                    log(
                        "error",
                        json!({ "msg": format!("--status {}: {e}", path.display()) }),
                    );
                } else {
                    written = Some(text);
                }
            }
        }
        *shared.lock().unwrap_or_else(PoisonError::into_inner) = status;
        std::thread::sleep(poll.min(Duration::from_secs(3600)));
    }
}

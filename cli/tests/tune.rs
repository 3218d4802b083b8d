//! `nettune tune` in private namespaces under real load: a connection churn whose
//! TIME-WAIT sockets overflow `tcp_max_tw_buckets` (a per-namespace knob that takes
//! effect at once). The loop raises it within the guard rails and keeps what helps,
//! stops at a ceiling and says so, rolls back a change that does not help, leaves a knob
//! changed by hand alone, and a kill at any point leaves a journal that `rollback`
//! restores exactly.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use socket2::{Domain, Socket, Type};
use testkit::{TestNs, assert_same_net, require_root};

const BIN: &str = env!("CARGO_BIN_EXE_nettune");

/// Connections opened and closed (client first, so its side enters TIME-WAIT) inside
/// `ns`, about `per_second` a second, until the returned flag is set. The clients cycle
/// through 24 source ports, so at most 24 TIME-WAIT sockets are needed at once (loopback
/// reuses a TIME-WAIT port after a second): the limit the loop has to find is bounded.
fn churn(ns: &TestNs, per_second: u32) -> Churn {
    const PORTS: u16 = 24;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let netns = ns.netns().clone();
    let handle = std::thread::spawn(move || {
        netns
            .run(|| {
                let l = TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = l.local_addr().expect("addr");
                let pause = Duration::from_secs(1) / per_second;
                let mut i = 0u16;
                while !flag.load(Ordering::SeqCst) {
                    i = (i + 1) % PORTS;
                    let c = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
                    c.set_reuse_address(true).expect("reuse");
                    let from: std::net::SocketAddr = ([127, 0, 0, 1], 41000 + i).into();
                    if c.bind(&from.into()).is_err() || c.connect(&addr.into()).is_err() {
                        std::thread::sleep(pause);
                        continue;
                    }
                    let (s, _) = l.accept().expect("accept");
                    drop(c);
                    std::thread::sleep(Duration::from_millis(1));
                    drop(s);
                    std::thread::sleep(pause);
                }
            })
            .expect("enter");
    });
    Churn {
        stop,
        handle: Some(handle),
    }
}

/// A running churn; it stops when told, or when dropped (a failing test).
struct Churn {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Churn {
    fn stop(mut self) {
        assert!(self.halt(), "the churn thread failed");
    }

    /// Stops the thread; whether it ended without a panic.
    fn halt(&mut self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().is_none_or(|h| h.join().is_ok())
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A namespace whose tcp_max_tw_buckets is 2, and a directory for profiles and journals.
fn setup() -> (TestNs, tempfile::TempDir) {
    let ns = TestNs::new();
    ns.sh("sysctl -qw net.ipv4.tcp_max_tw_buckets=2");
    (ns, tempfile::tempdir().expect("tempdir"))
}

fn profile(dir: &tempfile::TempDir, extra: &str) -> String {
    let path = dir.path().join("tune.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"tune-test\"\n[tune]\ninterval = \"1s\"\ncanary = \"1s\"\ncooldown = \"1s\"\n\
             max_factor = 64\nmax_changes_per_hour = 100\n{extra}"
        ),
    )
    .expect("write");
    path.to_str().expect("path").to_owned()
}

fn tune(ns: &TestNs, profile: &str, journal: &std::path::Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .args([
            "--netns",
            ns.name(),
            "tune",
            "--profile",
            profile,
            "--journal",
        ])
        .arg(journal)
        .args(args)
        .env("NETTUNE_LOCK_DIR", journal.with_file_name("locks"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tune")
}

/// `nettune rollback JOURNAL`, with the test's lock directory.
fn rollback(journal: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .arg("rollback")
        .arg(journal)
        .env("NETTUNE_LOCK_DIR", journal.with_file_name("locks"))
        .output()
        .expect("rollback")
}

/// The decisions a finished loop printed, one JSON object per line.
fn decisions(child: Child) -> Vec<Value> {
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "tune: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn of<'a>(ds: &'a [Value], verdict: &str) -> Vec<&'a Value> {
    ds.iter().filter(|d| d["verdict"] == verdict).collect()
}

fn sysctl_n(ns: &TestNs, key: &str) -> u64 {
    ns.sh(&format!("sysctl -n {key}"))
        .trim()
        .parse()
        .expect("number")
}

#[test]
fn the_loop_raises_a_limit_until_overflows_stop_and_keeps_it() {
    if !require_root("the_loop_raises_a_limit_until_overflows_stop_and_keeps_it") {
        return;
    }
    let (ns, dir) = setup();
    let p = profile(&dir, "");
    let journal = dir.path().join("j");
    let load = churn(&ns, 20);
    let ds = decisions(tune(&ns, &p, &journal, &["--for", "12s"]));
    // With the load still on, no overflow now.
    let before = ns.sh("nstat -asz TcpExtTCPTimeWaitOverflow");
    std::thread::sleep(Duration::from_millis(1500));
    let after = ns.sh("nstat -asz TcpExtTCPTimeWaitOverflow");
    load.stop();
    let applied = of(&ds, "applied");
    assert!(!applied.is_empty(), "{ds:#?}");
    assert!(
        applied
            .iter()
            .all(|d| d["rule"] == "tcp-tw-overflow" && d["knob"] == "net.ipv4.tcp_max_tw_buckets")
    );
    assert!(!of(&ds, "kept").is_empty(), "{ds:#?}");
    // Each step at most x64 (the profile's max_factor) of the value before it.
    for d in &applied {
        let from: u64 = d["from"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("from");
        let to: u64 = d["to"].as_str().and_then(|v| v.parse().ok()).expect("to");
        assert!(to > from && to <= from * 64, "{d}");
    }
    let now = sysctl_n(&ns, "net.ipv4.tcp_max_tw_buckets");
    assert!(now > 2, "raised: {now}");
    assert_eq!(before, after, "overflows stopped: {before} / {after}");
    // The history beside the journal holds the same decisions; rollback returns to 2.
    let history = Command::new(BIN)
        .args(["--json", "tune", "--history", "--journal"])
        .arg(&journal)
        .output()
        .expect("history");
    let h: Value = serde_json::from_slice(&history.stdout).expect("json");
    assert_eq!(h.as_array().map(Vec::len), Some(ds.len()));
    let out = rollback(&journal);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sysctl_n(&ns, "net.ipv4.tcp_max_tw_buckets"), 2);
}

#[test]
fn the_loop_stops_at_the_ceiling_and_says_so() {
    if !require_root("the_loop_stops_at_the_ceiling_and_says_so") {
        return;
    }
    let (ns, dir) = setup();
    let p = profile(
        &dir,
        "[tune.bounds]\n\"net.ipv4.tcp_max_tw_buckets\" = { ceiling = 12 }\n",
    );
    let load = churn(&ns, 20);
    let ds = decisions(tune(&ns, &p, &dir.path().join("j"), &["--for", "9s"]));
    load.stop();
    assert_eq!(sysctl_n(&ns, "net.ipv4.tcp_max_tw_buckets"), 12);
    assert!(!of(&ds, "kept").is_empty(), "{ds:#?}");
    let refused = of(&ds, "refused");
    assert!(
        refused.iter().any(|d| d["reason"]
            .as_str()
            .is_some_and(|r| r.contains("at the operator's ceiling 12"))),
        "{ds:#?}"
    );
    assert!(
        of(&ds, "applied").iter().all(|d| d["to"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|v| v <= 12)),
        "{ds:#?}"
    );
}

#[test]
fn a_change_that_does_not_help_is_rolled_back_and_the_namespace_ends_where_it_began() {
    if !require_root(
        "a_change_that_does_not_help_is_rolled_back_and_the_namespace_ends_where_it_began",
    ) {
        return;
    }
    let (ns, dir) = setup();
    let before = ns.net_snapshot();
    // The built-in rule may not move its knob (ceiling = the live value); a rule of the
    // operator's own fires on the same signal and raises an unrelated knob.
    let p = profile(
        &dir,
        "[tune.bounds]\n\"net.ipv4.tcp_max_tw_buckets\" = { ceiling = 2 }\n\
         [[tune.rule]]\nid = \"unrelated\"\nsignal = \"TcpExt.TCPTimeWaitOverflow\"\n\
         knob = \"net.ipv4.tcp_keepalive_time\"\n",
    );
    let load = churn(&ns, 20);
    let ds = decisions(tune(
        &ns,
        &p,
        &dir.path().join("j"),
        &["--for", "6s", "--rollback-on-exit"],
    ));
    load.stop();
    let rolled = of(&ds, "rolled_back");
    assert!(!rolled.is_empty(), "{ds:#?}");
    assert!(rolled.iter().all(|d| {
        d["rule"] == "unrelated"
            && d["reason"]
                .as_str()
                .is_some_and(|r| r.contains("did not fall"))
    }));
    assert!(of(&ds, "kept").is_empty(), "{ds:#?}");
    assert_same_net(&before, &ns.net_snapshot());
}

#[test]
fn a_knob_changed_by_hand_is_left_alone_from_then_on() {
    if !require_root("a_knob_changed_by_hand_is_left_alone_from_then_on") {
        return;
    }
    let (ns, dir) = setup();
    let p = profile(&dir, "");
    let load = churn(&ns, 20);
    let mut child = tune(&ns, &p, &dir.path().join("j"), &["--for", "7s"]);
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    // At the first change, the operator steps in.
    for line in lines.by_ref() {
        let d: Value = serde_json::from_str(&line.expect("line")).expect("json");
        let applied = d["verdict"] == "applied";
        seen.push(d);
        if applied {
            ns.sh("sysctl -qw net.ipv4.tcp_max_tw_buckets=3");
            break;
        }
    }
    for line in lines {
        seen.push(serde_json::from_str(&line.expect("line")).expect("json"));
    }
    let status = child.wait().expect("wait");
    load.stop();
    assert!(status.success());
    let yielded = seen
        .iter()
        .position(|d| d["verdict"] == "yielded")
        .unwrap_or_else(|| panic!("no yield: {seen:#?}"));
    assert_eq!(seen[yielded]["to"], "3");
    assert!(
        seen[yielded + 1..]
            .iter()
            .all(|d| d["verdict"] != "applied" && d["verdict"] != "rolled_back"),
        "{seen:#?}"
    );
    assert_eq!(
        sysctl_n(&ns, "net.ipv4.tcp_max_tw_buckets"),
        3,
        "the hand value stays"
    );
}

#[test]
fn a_kill_at_any_point_leaves_a_journal_that_rollback_restores_exactly() {
    if !require_root("a_kill_at_any_point_leaves_a_journal_that_rollback_restores_exactly") {
        return;
    }
    let (ns, dir) = setup();
    let before = ns.net_snapshot();
    let p = profile(&dir, "");
    let load = churn(&ns, 20);
    for (i, after_ms) in [300u64, 1200, 2100, 2600, 3400, 4700]
        .into_iter()
        .enumerate()
    {
        let journal = dir.path().join(format!("j{i}"));
        let mut child = tune(&ns, &p, &journal, &[]);
        std::thread::sleep(Duration::from_millis(after_ms));
        child.kill().expect("kill");
        let _ = child.wait();
        if journal.exists() {
            let out = rollback(&journal);
            assert!(
                out.status.success(),
                "killed after {after_ms} ms: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_same_net(&before, &ns.net_snapshot());
    }
    load.stop();
}

#[test]
fn advice_mode_writes_nothing_and_exports_the_change_it_would_make() {
    if !require_root("advice_mode_writes_nothing_and_exports_the_change_it_would_make") {
        return;
    }
    let (ns, dir) = setup();
    let before = ns.net_snapshot();
    let p = profile(&dir, "");
    let journal = dir.path().join("j");
    let load = churn(&ns, 20);
    let ds = decisions(tune(&ns, &p, &journal, &["--for", "4s", "--advise-only"]));
    load.stop();
    let advised = of(&ds, "advised");
    assert!(!advised.is_empty(), "{ds:#?}");
    assert!(ds.iter().all(|d| d["verdict"] == "advised"), "{ds:#?}");
    let first = advised[0];
    let id = first["id"].as_str().expect("id");
    assert_eq!(
        id,
        format!(
            "tcp-tw-overflow:net.ipv4.tcp_max_tw_buckets:{}",
            first["to"].as_str().expect("to")
        )
    );
    // Nothing written: no journal, the namespace as it was.
    assert!(!journal.exists());
    assert_same_net(&before, &ns.net_snapshot());
    // The exporter shows the advice for approval, and the count of decisions.
    let file = dir.path().join("m.prom");
    let out = Command::new(BIN)
        .args(["--netns", ns.name(), "exporter", "--textfile"])
        .arg(&file)
        .arg("--tune-journal")
        .arg(&journal)
        .output()
        .expect("exporter");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("metrics");
    assert!(
        text.contains(&format!(
            "nettune_tune_decisions_total{{verdict=\"advised\"}} {}",
            advised.len()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("nettune_tune_advice{{id=\"{id}\"")),
        "{text}"
    );
}

#[test]
fn a_history_that_cannot_be_written_fails_the_loop_and_the_journal_still_rolls_back() {
    if !require_root(
        "a_history_that_cannot_be_written_fails_the_loop_and_the_journal_still_rolls_back",
    ) {
        return;
    }
    let (ns, dir) = setup();
    let before = ns.net_snapshot();
    let p = profile(&dir, "");
    let journal = dir.path().join("j");
    // The history's path is taken by a directory: no decision can be recorded.
    std::fs::create_dir(dir.path().join("j.history")).expect("mkdir");
    let load = churn(&ns, 20);
    let out = tune(&ns, &p, &journal, &["--for", "6s"])
        .wait_with_output()
        .expect("wait");
    load.stop();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("j.history"), "{err}");
    // The change the loop made before it could not record it is in the journal.
    if journal.exists() {
        let out = rollback(&journal);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_same_net(&before, &ns.net_snapshot());
}

//! `nettune agent` as a process against a directory laid out as the kubelet lays out a
//! ConfigMap volume (`profile.toml -> ..data/profile.toml`, `..data` a symlink swapped
//! atomically to a new timestamped directory on every update): the namespace follows each
//! change, goes back to its baseline when the key is removed, drift and a bad profile are
//! reported; the status file, the metrics and the JSON logs show each transition; a
//! restarted agent takes over what is applied without writing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{Killed, TestNs, require_root};

const BIN: &str = env!("CARGO_BIN_EXE_nettune");

/// The ConfigMap volume stand-in.
struct Volume {
    dir: PathBuf,
    version: u32,
}

impl Volume {
    fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("volume dir");
        Self {
            dir: dir.to_owned(),
            version: 0,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("profile.toml")
    }

    /// Publishes `text` as the kubelet does: a new directory, `..data` swapped to it by a
    /// rename, the old one removed.
    fn publish(&mut self, text: &str) {
        self.version += 1;
        let new = format!("..v{}", self.version);
        std::fs::create_dir_all(self.dir.join(&new)).expect("version dir");
        std::fs::write(self.dir.join(&new).join("profile.toml"), text).expect("write");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&new, &tmp).expect("symlink");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap ..data");
        if !self.file().exists() {
            std::os::unix::fs::symlink("..data/profile.toml", self.file()).expect("key link");
        }
        if self.version > 1 {
            let _ = std::fs::remove_dir_all(self.dir.join(format!("..v{}", self.version - 1)));
        }
    }

    /// The key is gone from the ConfigMap.
    fn remove(&self) {
        std::fs::remove_file(self.file()).expect("remove key");
    }
}

struct Running {
    _child: Killed,
    logs: Receiver<Value>,
    seen: Vec<Value>,
    metrics: String,
}

impl Running {
    /// Waits for a log record of `kind`; returns it.
    fn wait_kind(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = self.seen.iter().find(|v| v["kind"] == kind) {
                let v = v.clone();
                self.seen.retain(|x| x != &v);
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {kind} log record; saw {:?}", self.seen);
            if let Ok(v) = self.logs.recv_timeout(left) {
                self.seen.push(v);
            }
        }
    }

    fn scrape(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", &self.metrics])
            .output()
            .expect("curl");
        assert!(out.status.success(), "curl {}", self.metrics);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The value of the series `series` (name and labels as the text format writes them).
    fn metric(&self, series: &str) -> Option<f64> {
        self.scrape().lines().find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
    }
}

fn start(ns: &TestNs, volume: &Volume, dir: &Path) -> Running {
    let mut child = Command::new(BIN)
        .args(["--netns", ns.name(), "agent", "--listen", "127.0.0.1:0"])
        .arg("--profile-file")
        .arg(volume.file())
        .arg("--journal")
        .arg(dir.join("agent.journal"))
        .arg("--status")
        .arg(dir.join("status.json"))
        .args(["--poll", "100ms", "--verify-every", "300ms"])
        .env("NETTUNE_LOCK_DIR", dir.join("locks"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agent");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
            assert!(
                v["ts"].is_number() && v["level"].is_string() && v["msg"].is_string(),
                "{line}"
            );
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the agent logs where it listens");
    let listen = first["listen"].as_str().expect("listen").to_owned();
    Running {
        _child: Killed(child),
        logs: rx,
        seen: Vec::new(),
        metrics: format!("http://{listen}/metrics"),
    }
}

fn value(ns: &TestNs, key: &str) -> String {
    ns.sh(&format!("cat /proc/sys/{}", key.replace('.', "/")))
        .trim()
        .to_owned()
}

fn status(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("status.json")).expect("status file");
    serde_json::from_str(&text).expect("status JSON")
}

/// Waits until `f` holds (the agent polls every 100 ms).
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const KEEPALIVE: &str = "net.ipv4.tcp_keepalive_time";
const FIN: &str = "net.ipv4.tcp_fin_timeout";

#[test]
fn the_agent_follows_a_configmap_volume_and_rolls_back_when_the_key_goes() {
    if !require_root("the_agent_follows_a_configmap_volume_and_rolls_back_when_the_key_goes") {
        return;
    }
    let ns = TestNs::new();
    let dir = std::env::temp_dir().join(format!("nettune-agent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut volume = Volume::new(&dir.join("config"));
    let (keepalive0, fin0) = (value(&ns, KEEPALIVE), value(&ns, FIN));
    assert_ne!(keepalive0, "77");

    let mut agent = start(&ns, &volume, &dir);
    assert_eq!(
        agent.metric("nettune_agent_state{state=\"waiting\"}"),
        Some(1.0),
        "no profile yet"
    );

    // The profile appears: applied.
    volume.publish(&format!("[sysctl]\n\"{KEEPALIVE}\" = 77\n"));
    let applied = agent.wait_kind("applied");
    assert_eq!(applied["changes"], 1, "{applied}");
    assert_eq!(value(&ns, KEEPALIVE), "77");
    until("the status file to say applied", || {
        status(&dir)["state"] == "applied"
    });
    assert_eq!(status(&dir)["generation"], 1);
    assert_eq!(
        agent.metric("nettune_agent_transitions_total{kind=\"applied\"}"),
        Some(1.0)
    );
    assert_eq!(
        agent.metric("nettune_agent_state{state=\"applied\"}"),
        Some(1.0)
    );

    // Someone changes the knob: the verify reports drift, and writes nothing.
    ns.sh(&format!(
        "echo 78 > /proc/sys/{}",
        KEEPALIVE.replace('.', "/")
    ));
    let drift = agent.wait_kind("drift");
    assert_eq!(drift["items"], 1, "{drift}");
    assert_eq!(value(&ns, KEEPALIVE), "78", "verify does not write");
    until("drift in the status file", || status(&dir)["drift"] == 1);
    assert_eq!(
        status(&dir)["drift_items"][0],
        format!("sysctl {KEEPALIVE}")
    );
    assert_eq!(agent.metric("nettune_agent_drift_items"), Some(1.0));
    ns.sh(&format!(
        "echo 77 > /proc/sys/{}",
        KEEPALIVE.replace('.', "/")
    ));
    assert_eq!(agent.wait_kind("drift")["items"], 0);

    // The ConfigMap changes: the namespace holds the new profile only.
    volume.publish(&format!("[sysctl]\n\"{FIN}\" = 33\n"));
    agent.wait_kind("applied");
    assert_eq!(value(&ns, FIN), "33");
    assert_eq!(
        value(&ns, KEEPALIVE),
        keepalive0,
        "what the old profile set and the new one does not is back at its baseline"
    );

    // A profile that does not parse: reported, nothing changes.
    volume.publish("[sysctl\nbroken");
    let bad = agent.wait_kind("invalid_profile");
    assert_eq!(bad["level"], "error");
    assert!(
        bad["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{bad}"
    );
    assert_eq!(
        value(&ns, FIN),
        "33",
        "the last good profile stays in force"
    );
    until("the error in the status file", || {
        let s = status(&dir);
        s["state"] == "applied" && s["last_error"].is_string()
    });
    assert_eq!(agent.metric("nettune_agent_last_error"), Some(1.0));

    volume.publish(&format!("[sysctl]\n\"{FIN}\" = 34\n"));
    agent.wait_kind("applied");
    assert_eq!(value(&ns, FIN), "34");
    assert_eq!(agent.metric("nettune_agent_last_error"), Some(0.0));

    // The key goes away: rolled back to the baseline, the journal gone.
    volume.remove();
    let back = agent.wait_kind("rolled_back");
    assert_eq!(back["restored"], 1, "{back}");
    assert_eq!(
        (value(&ns, FIN), value(&ns, KEEPALIVE)),
        (fin0.clone(), keepalive0)
    );
    assert!(!dir.join("agent.journal").exists());
    until("the status file to say removed", || {
        status(&dir)["state"] == "removed"
    });
    // A profile that is not for this node: nothing applied, and the status says why.
    volume.publish(&format!(
        "[match]\ndriver = \"mlx5_core\"\n[sysctl]\n\"{FIN}\" = 35\n"
    ));
    let skipped = agent.wait_kind("not_matched");
    assert!(
        skipped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("mlx5_core")),
        "{skipped}"
    );
    assert_eq!(value(&ns, FIN), fin0);
    until("the status file to say not_matched", || {
        status(&dir)["state"] == "not_matched"
    });
    for (kind, n) in [
        ("applied", 3.0),
        ("rolled_back", 1.0),
        ("invalid_profile", 1.0),
        ("not_matched", 1.0),
    ] {
        assert_eq!(
            agent.metric(&format!(
                "nettune_agent_transitions_total{{kind=\"{kind}\"}}"
            )),
            Some(n),
            "{kind}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restarted_agent_takes_over_what_it_applied_without_writing() {
    if !require_root("a_restarted_agent_takes_over_what_it_applied_without_writing") {
        return;
    }
    let ns = TestNs::new();
    let dir = std::env::temp_dir().join(format!("nettune-agent-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut volume = Volume::new(&dir.join("config"));
    volume.publish(&format!("[sysctl]\n\"{FIN}\" = 41\n"));
    let mut first = start(&ns, &volume, &dir);
    first.wait_kind("applied");
    drop(first);
    let journal = std::fs::read(dir.join("agent.journal")).expect("journal");
    let mut second = start(&ns, &volume, &dir);
    second.wait_kind("adopted");
    assert_eq!(value(&ns, FIN), "41");
    assert_eq!(
        std::fs::read(dir.join("agent.journal")).expect("journal"),
        journal,
        "nothing was written: the journal is as the first agent left it"
    );
    assert_eq!(
        second.metric("nettune_agent_transitions_total{kind=\"applied\"}"),
        None,
        "no apply by the second agent"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether `python3 -m MODULE` runs (under CI it must: .ci/run installs it).
fn python_module(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || !testkit::in_ci(),
        "python3 module {module} is missing: .ci/run installs it"
    );
    ok
}

#[test]
fn the_deploy_manifests_validate_and_carry_a_profile_and_flags_the_agent_takes() {
    if !python_module("kubernetes_validate") || !python_module("yaml") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
    let manifests = [
        "namespace.yaml",
        "serviceaccount.yaml",
        "configmap.yaml",
        "daemonset.yaml",
    ];
    for m in manifests {
        let out = Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict", "-k", "1.32.0"])
            .arg(dir.join(m))
            .output()
            .expect("kubernetes-validate");
        assert!(
            out.status.success(),
            "{m}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The ConfigMap's profile is one the agent loads.
    let extract = |file: &str, expr: &str| {
        let out = Command::new("python3")
            .args([
                "-c",
                &format!("import sys, yaml, json; d = yaml.safe_load(open(sys.argv[1])); print(json.dumps({expr}))"),
            ])
            .arg(dir.join(file))
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("json")
    };
    let profile = extract("configmap.yaml", "d['data']['profile.toml']");
    let p = nettune::Profile::from_toml("configmap", profile.as_str().expect("text"))
        .expect("the ConfigMap's profile parses");
    assert!(!p.is_empty());
    // Every flag the DaemonSet passes is one `nettune agent` takes, and the profile path
    // is where the ConfigMap is mounted.
    let spec = extract("daemonset.yaml", "d['spec']['template']['spec']");
    let container = &spec["containers"][0];
    let help = Command::new(BIN)
        .args(["agent", "--help"])
        .output()
        .expect("nettune agent --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let args = container["args"].as_array().expect("args");
    assert_eq!(args[0], "agent");
    for a in &args[1..] {
        let flag = a.as_str().and_then(|a| a.split('=').next()).expect("flag");
        assert!(help.contains(flag), "{flag} is not an agent flag:\n{help}");
    }
    let mount = container["volumeMounts"]
        .as_array()
        .and_then(|v| v.iter().find(|m| m["name"] == "profile"))
        .and_then(|m| m["mountPath"].as_str())
        .expect("profile mount");
    assert!(
        args.iter()
            .any(|a| a.as_str() == Some(&format!("--profile-file={mount}/profile.toml"))),
        "{args:?}"
    );
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(container["securityContext"]["privileged"], true);
}

/// The agent killed at its second sysctl write of an apply (strace fault injection; in
/// another namespace those writes are pwrite64 of files kept open): the journal records
/// an apply without a commit; the next agent recovers it, then applies the profile, and
/// the journal is committed.
#[test]
fn an_agent_killed_mid_apply_is_recovered_by_the_next_one() {
    if !require_root("an_agent_killed_mid_apply_is_recovered_by_the_next_one") {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let ns = TestNs::new();
    let dir = std::env::temp_dir().join(format!("nettune-agent-killed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut volume = Volume::new(&dir.join("config"));
    let (keepalive0, fin0) = (value(&ns, KEEPALIVE), value(&ns, FIN));
    volume.publish(&format!("[sysctl]\n\"{FIN}\" = 42\n\"{KEEPALIVE}\" = 79\n"));
    let journal = dir.join("agent.journal");
    let killed = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg("inject=pwrite64:signal=SIGKILL:when=2")
        .arg(BIN)
        .args(["--netns", ns.name(), "agent", "--poll", "100ms"])
        .arg("--profile-file")
        .arg(volume.file())
        .arg("--journal")
        .arg(&journal)
        .env("NETTUNE_LOCK_DIR", dir.join("locks"))
        .stderr(Stdio::null())
        .status()
        .expect("strace (installed by .ci/run)");
    assert_eq!(killed.signal(), Some(9), "killed at the second write");
    let j = nettune::Journal::open(&journal).expect("a killed apply leaves a usable journal");
    assert!(!j.is_committed(), "the apply did not finish");
    assert!(
        value(&ns, FIN) == "42" || value(&ns, KEEPALIVE) == "79",
        "one write went through before the kill"
    );

    let mut agent = start(&ns, &volume, &dir);
    let recovered = agent.wait_kind("recovered");
    assert!(recovered["restored"].as_u64() >= Some(1), "{recovered}");
    agent.wait_kind("applied");
    assert_eq!(
        (value(&ns, FIN), value(&ns, KEEPALIVE)),
        ("42".into(), "79".into())
    );
    assert!(
        nettune::Journal::open(&journal)
            .expect("journal")
            .is_committed()
    );
    volume.remove();
    agent.wait_kind("rolled_back");
    assert_eq!((value(&ns, FIN), value(&ns, KEEPALIVE)), (fin0, keepalive0));
    let _ = std::fs::remove_dir_all(&dir);
}

//! Fleet-scale safety in private namespaces: a profile's `[match]` (kernel, host name,
//! driver, interface) decides whether it applies, read from the live host and namespace;
//! one that is not for the host writes nothing, says why, and is not an error; a bad
//! condition is refused before anything is written; the plan's JSON of two hosts in the
//! same state differs only in the host's identity; formats that cannot carry the match
//! say so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use testkit::{TestNs, require_root};

const BIN: &str = env!("CARGO_BIN_EXE_nettune");
const KEY: &str = "net.ipv4.tcp_keepalive_time";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nettune-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d.join(name)
}

fn nettune(ns: &TestNs, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--netns", ns.name()])
        .args(args)
        .env("NETTUNE_LOCK_DIR", tmp("locks"))
        .output()
        .expect("running nettune")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn profile(name: &str, matching: &str) -> PathBuf {
    let path = tmp(&format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("name = \"{name}\"\n[match]\n{matching}\n[sysctl]\n\"{KEY}\" = 91\n"),
    )
    .expect("write");
    path
}

fn value(ns: &TestNs) -> String {
    ns.sh(&format!("cat /proc/sys/{}", KEY.replace('.', "/")))
        .trim()
        .to_owned()
}

fn setup() -> TestNs {
    let ns = TestNs::new();
    ns.sh("ip link add v0 type veth peer name v1");
    ns
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_profile_applies_where_its_match_holds_and_nowhere_else() {
    if !require_root("a_profile_applies_where_its_match_holds_and_nowhere_else") {
        return;
    }
    let ns = setup();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let before = value(&ns);
    assert_ne!(before, "91");

    // Not for this namespace: no such driver here.
    let other = profile("mlx", "driver = \"mlx5_core\"");
    let journal = tmp("mlx.journal");
    let o = nettune(
        &ns,
        &[
            "--json",
            "apply",
            "--profile",
            arg(&other),
            "--journal",
            arg(&journal),
        ],
    );
    assert!(o.status.success(), "not matching is not an error: {o:?}");
    let v = json(&o);
    assert_eq!(v["plan"]["matched"], false, "{v}");
    assert_eq!(v["written"], false, "{v}");
    let why = v["plan"]["mismatch"].as_str().expect("mismatch");
    assert!(why.contains("mlx5_core") && why.contains("veth"), "{why}");
    assert_eq!(value(&ns), before, "nothing written");
    assert!(
        !journal.exists(),
        "no journal for a plan that is not for this host"
    );
    let o = nettune(&ns, &["--json", "verify", "--profile", arg(&other)]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(json(&o)["matched"], false);
    let o = nettune(
        &ns,
        &[
            "apply",
            "--profile",
            arg(&other),
            "--journal",
            arg(&journal),
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("not for this host"), "{text}");

    // Every condition holds: applied, read back.
    let here = profile(
        "here",
        &format!(
            "kernel = \">=4.19\"\nhostname = [\"no-such-host\", \"{}\"]\ndriver = \"veth\"\ninterface = \"v?\"",
            hostname.trim()
        ),
    );
    let journal = tmp("here.journal");
    let o = nettune(
        &ns,
        &[
            "--json",
            "apply",
            "--profile",
            arg(&here),
            "--journal",
            arg(&journal),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(json(&o)["plan"]["matched"], true);
    assert_eq!(value(&ns), "91");
    let o = nettune(&ns, &["rollback", arg(&journal)]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(value(&ns), before);

    // One condition fails: the kernel is too old for it.
    let future = profile("future", "kernel = \">=99\"\ndriver = \"veth\"");
    let o = nettune(
        &ns,
        &["--json", "apply", "--profile", arg(&future), "--dry-run"],
    );
    let v = json(&o);
    assert!(
        v["mismatch"].as_str().is_some_and(|w| w.contains("kernel")),
        "{v}"
    );
}

#[test]
fn bad_match_conditions_are_refused_before_anything_is_written() {
    if !require_root("bad_match_conditions_are_refused_before_anything_is_written") {
        return;
    }
    let ns = setup();
    let before = value(&ns);
    for (bad, named) in [
        ("kernel = \">=five\"", "kernel"),
        ("hostname = \"\"", "hostname"),
        ("colour = \"red\"", "colour"),
    ] {
        let p = profile("bad", bad);
        let o = nettune(&ns, &["apply", "--profile", arg(&p)]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(named), "{bad}: {err}");
        assert_eq!(value(&ns), before);
    }
    // A base cannot say where the profile applies.
    let base = profile("base", "driver = \"veth\"");
    let top = tmp("top.toml");
    std::fs::write(&top, format!("base = \"{}\"\n", arg(&base))).expect("write");
    let o = nettune(&ns, &["apply", "--profile", arg(&top)]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("[match]"));
}

#[test]
fn plans_of_two_hosts_in_one_state_differ_only_in_the_host() {
    if !require_root("plans_of_two_hosts_in_one_state_differ_only_in_the_host") {
        return;
    }
    let (a, b) = (setup(), setup());
    let p = tmp("same.toml");
    std::fs::write(
        &p,
        format!("[sysctl]\n\"{KEY}\" = 93\n\"net.ipv4.tcp_fin_timeout\" = 21\n\"net.core.somaxconn\" = 2048\n"),
    )
    .expect("write");
    let plan = |ns: &TestNs| {
        let mut v = json(&nettune(
            ns,
            &["--json", "apply", "--dry-run", "--profile", arg(&p)],
        ));
        let host = (v["target"].take(), v["netns"].take());
        (v, host)
    };
    let ((va, ha), (vb, hb)) = (plan(&a), plan(&b));
    assert_ne!(ha, hb, "the host's identity is in the plan");
    assert_eq!(va, vb, "and nothing else differs");
    assert_eq!(va["changes"].as_array().map(Vec::len), Some(3));
    // Twice on one host: the same text.
    assert_eq!(plan(&a).0, va);
    // Verify's drift aggregates the same way.
    let drift = |ns: &TestNs| {
        let o = nettune(ns, &["--json", "verify", "--profile", arg(&p)]);
        assert_eq!(o.status.code(), Some(3), "drift is a finding");
        json(&o)["drift"].clone()
    };
    assert_eq!(drift(&a), drift(&b));
}

#[test]
fn formats_that_cannot_carry_the_match_say_so() {
    let p = profile("edge", "hostname = \"edge-*\"");
    for to in ["sysctl.d", "tuned", "k8s-pod"] {
        let o = Command::new(BIN)
            .args(["--json", "profile", "render"])
            .arg(&p)
            .args(["--to", to])
            .output()
            .expect("render");
        assert!(o.status.success(), "{to}: {o:?}");
        let v = json(&o);
        let listed = v["unexpressed"]
            .as_array()
            .expect("unexpressed")
            .iter()
            .any(|u| {
                u["item"] == "match" && u["why"].as_str().is_some_and(|w| w.contains("edge-*"))
            });
        assert!(listed, "{to}: {v}");
    }
}

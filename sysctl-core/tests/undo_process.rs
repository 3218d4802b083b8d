//! An undo log written by one process is rolled back by another.
//!
//! This test binary is its own second process: run with `--rollback FILE`, it loads the
//! undo log, opens the namespace the log names and rolls back; run plainly (by `cargo
//! test`), it is the first process. It has no libtest harness, hence `harness = false`.

use std::process::{Command, ExitCode};

use nettune_core::NetNs;
use nettune_sysctl::{Applied, Profile, Sysctl};
use testkit::{TestNs, require_root};

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The second process: roll back the log in the namespace it names.
fn rollback(file: &str) -> ExitCode {
    let run = || -> Result<usize, nettune_sysctl::Error> {
        let applied = Applied::load(file)?;
        let name = applied.netns_name().unwrap_or("(none)").to_owned();
        let sys = Sysctl::new().in_netns(&NetNs::open(&name)?);
        let report = applied.rollback(&sys)?;
        Ok(report.restored.len())
    };
    match run() {
        Ok(n) => {
            println!("restored {n}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rollback failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn first_process() {
    let ns = TestNs::new();
    let sys = Sysctl::new().in_netns(&NetNs::open(ns.name()).expect("open"));
    let keys = [
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_rmem",
        "net.core.somaxconn",
    ];
    let before: Vec<String> = keys
        .iter()
        .map(|k| ns.sh(&format!("sysctl -n {k}")))
        .collect();
    let mut p = Profile::new("undo");
    p.set(keys[0], "61", "t").expect("set");
    p.set(keys[1], "4096 65536 7777777", "t").expect("set");
    p.set(keys[2], "2222", "t").expect("set");
    let applied = p.plan(&sys).expect("plan").apply(&sys).expect("apply");
    assert_eq!(applied.netns_name(), Some(ns.name()));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("nettune.undo");
    applied.save(&file).expect("save");
    assert_eq!(
        Applied::load(&file).expect("load"),
        applied,
        "the file round-trips"
    );
    assert_eq!(
        norm(&ns.sh("sysctl -n net.ipv4.tcp_rmem")),
        "4096 65536 7777777"
    );

    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .arg("--rollback")
        .arg(&file)
        .output()
        .expect("second process");
    assert!(
        out.status.success(),
        "second process: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "restored 3");
    for (k, b) in keys.iter().zip(&before) {
        assert_eq!(ns.sh(&format!("sysctl -n {k}")), *b, "{k} restored exactly");
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, file] = args.as_slice() {
        if flag == "--rollback" {
            return rollback(file);
        }
    }
    // Under `cargo test`, libtest-style arguments may be passed; they are ignored here.
    if require_root("undo_file_rolled_back_by_another_process") {
        first_process();
        println!("test undo_file_rolled_back_by_another_process ... ok");
        println!("1 passed; 0 failed");
    }
    ExitCode::SUCCESS
}

//! The whole-host transaction under faults, through the `nettune` command, in private
//! namespaces: killed before each of its writes, a full disk, concurrent writers, the
//! wrong namespace, links, an unprivileged caller, reruns and failed applies.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nettune::nic::{Nic, NicSnapshot};
use nettune::sysctl::Key;
use nettune::{Journal, NetNs};
use testkit::{TestNs, require_root};

const BIN: &str = env!("CARGO_BIN_EXE_nettune");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nettune-txn-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d.join(name)
}

/// The lock directory of this test run (not the host's /run/nettune).
fn lock_dir() -> PathBuf {
    tmp("locks")
}

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env("NETTUNE_LOCK_DIR", lock_dir());
    c
}

fn run(args: &[&str]) -> Output {
    cmd(args).output().expect("running nettune")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(args: &[&str]) -> Output {
    let o = run(args);
    assert!(o.status.success(), "nettune {args:?}: {}", text(&o));
    o
}

/// A namespace with a veth pair of four queues each.
fn setup() -> TestNs {
    let ns = TestNs::new();
    ns.sh("ip link add v0 numrx 4 numtx 4 type veth peer name v1 numrx 4 numtx 4 && ip link set v0 up && ip link set v1 up");
    ns
}

/// Everything the tests compare: every readable `net.*` key and the veth's settings.
#[derive(Debug, PartialEq)]
struct State {
    sysctls: Vec<(Key, String)>,
    nic: NicSnapshot,
}

fn state(ns: &TestNs) -> State {
    let tree = ns
        .sysctl()
        .read_tree(&Key::new("net").expect("key"))
        .expect("read net");
    let sysctls = tree
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.ok()?)))
        .filter(|(k, _)| !k.to_string().ends_with("nf_conntrack_count"))
        .collect();
    let nic = Nic::open_in(ns.netns(), "v0")
        .expect("v0")
        .snapshot()
        .expect("snapshot");
    State { sysctls, nic }
}

fn assert_state(want: &State, got: &State, what: &str) {
    if want == got {
        return;
    }
    let diff: Vec<String> = want
        .sysctls
        .iter()
        .zip(&got.sysctls)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("{} {:?} -> {:?}", a.0, a.1, b.1))
        .take(10)
        .collect();
    panic!(
        "{what}: the state differs: sysctls {diff:?}; nic equal: {}",
        want.nic == got.nic
    );
}

/// A profile of at least 100 items: flipped per-interface switches (IPv4 and IPv6, v0 and
/// default), the low-latency sysctls, and the veth's offloads, channels and steering.
fn big_profile(ns: &TestNs) -> (PathBuf, usize) {
    // Keys whose change changes other keys, or the interface itself.
    let skip = [
        "forwarding",
        "mc_forwarding",
        "disable_ipv6",
        "disable_policy",
        "accept_ra",
        "autoconf",
        "keep_addr_on_down",
        "ignore_routes_with_linkdown",
    ];
    let listing = ns.sh(
        "for d in ipv4/conf/v0 ipv4/conf/default ipv6/conf/v0 ipv6/conf/default; do \
           cd /proc/sys/net/$d && for f in *; do \
             [ -w $f ] && v=$(cat $f 2>/dev/null) && case $v in 0|1) echo $d/$f=$v;; esac; \
           done; done",
    );
    let mut lines = vec![
        "name = \"big\"".to_owned(),
        "base = \"low-latency\"".to_owned(),
        "[sysctl]".to_owned(),
    ];
    let mut n = 0;
    for l in listing.lines() {
        let Some((path, v)) = l.split_once('=') else {
            continue;
        };
        let leaf = path.rsplit('/').next().unwrap_or_default();
        if skip.iter().any(|s| leaf.starts_with(s)) {
            continue;
        }
        let flipped = if v == "0" { 1 } else { 0 };
        lines.push(format!("\"net/{path}\" = {flipped}"));
        n += 1;
        if n == 100 {
            break;
        }
    }
    assert!(n >= 90, "only {n} switches found");
    lines.push("[nic.v0]".into());
    lines
        .push("offloads = { gro = true, tso = false, sg = false, \"tx-gso-list\" = false }".into());
    lines.push("channels = { rx = 2, tx = 3 }".into());
    lines.push("rps = { \"0\" = \"1\", \"1\" = \"0-1\" }".into());
    lines.push("xps = { \"2\" = \"1\" }".into());
    let path = tmp("big.toml");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write profile");
    let items = nettune::Profile::load(path.to_str().expect("path"))
        .expect("loads")
        .len();
    (path, items)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn killed_before_each_write_the_journal_brings_the_namespace_back() {
    if !require_root("killed_before_each_write_the_journal_brings_the_namespace_back") {
        return;
    }
    let ns = setup();
    let (profile, items) = big_profile(&ns);
    assert!(items >= 100, "{items} items");
    let journal = tmp("killed.journal");
    let before = state(&ns);

    // Sanity: the profile applies, changes all of it, and rolls back exactly.
    ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&profile),
        "--journal",
        p(&journal),
    ]);
    let applied = state(&ns);
    assert_ne!(applied.sysctls, before.sysctls);
    assert_ne!(applied.nic, before.nic);
    ok(&["rollback", p(&journal)]);
    assert_state(&before, &state(&ns), "plain rollback");
    assert!(!journal.exists());

    let mut kills = 0;
    // Journal and output writes are write(2); sysctl and sysfs writes in another namespace are
    // pwrite64(2) of files kept open; NIC settings are ioctl(2) (offloads) and netlink
    // requests, sendto(2) (channels, and every read over the ethtool family).
    for syscall in ["write", "pwrite64", "ioctl", "sendto"] {
        for n in 1.. {
            let out = Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("inject={syscall}:signal=SIGKILL:when={n}"))
                .arg(BIN)
                .args([
                    "--netns",
                    ns.name(),
                    "apply",
                    "--profile",
                    p(&profile),
                    "--journal",
                    p(&journal),
                ])
                .env("NETTUNE_LOCK_DIR", lock_dir())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .expect("strace (installed by .ci/run)");
            let killed = out.status.signal() == Some(9);
            if !killed {
                assert!(
                    out.status.success(),
                    "{syscall} #{n}: not killed and not done: {}",
                    text(&out)
                );
                ok(&["rollback", p(&journal)]);
                assert_state(&before, &state(&ns), "after the run that was not killed");
                break;
            }
            kills += 1;
            if journal.exists() {
                let j = Journal::open(&journal).expect("a killed apply leaves a usable journal");
                if j.is_committed() {
                    ok(&["rollback", p(&journal)]);
                } else {
                    ok(&["recover", p(&journal)]);
                }
            }
            assert_state(&before, &state(&ns), &format!("killed at {syscall} #{n}"));
            assert!(
                !journal.exists(),
                "killed at {syscall} #{n}: the journal is gone once undone"
            );
            // No temporary file is left for long: the next apply sweeps them.
        }
    }
    eprintln!("killed nettune apply at {kills} points");
    assert!(kills > items, "{kills} kill points for {items} items");
    let leftovers: Vec<_> = std::fs::read_dir(journal.parent().expect("dir"))
        .expect("list")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains("killed.journal.tmp")
        })
        .collect();
    assert!(
        leftovers.len() <= 1,
        "temporary journals pile up: {leftovers:?}"
    );
}

#[test]
fn a_full_disk_changes_nothing_and_keeps_the_earlier_journal() {
    if !require_root("a_full_disk_changes_nothing_and_keeps_the_earlier_journal") {
        return;
    }
    let ns = setup();
    let (big, _) = big_profile(&ns);
    let small = tmp("small.toml");
    std::fs::write(&small, "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 77\n").expect("write");
    let before = state(&ns);
    let dir = tmp("full");
    std::fs::create_dir_all(&dir).expect("dir");
    let report = tmp("full.report");
    // A private mount namespace: the tiny tmpfs exists for this shell alone.
    let script = format!(
        "set -u; mount -t tmpfs -o size=12k tmpfs {d}; \
         {bin} --netns {ns} apply --profile {small} --journal {d}/j >/dev/null || exit 10; \
         cp {d}/j {d}/j.before; dd if=/dev/zero of={d}/fill bs=1k count=64 2>/dev/null; \
         {bin} --netns {ns} apply --profile {big} --journal {d}/j >/dev/null 2>{r}.err; echo rc=$? >{r}; \
         cmp -s {d}/j {d}/j.before && echo same >>{r}; \
         {bin} --netns {ns} rollback {d}/j >>{r} 2>&1; echo rollback=$? >>{r}",
        d = dir.display(),
        bin = BIN,
        ns = ns.name(),
        small = small.display(),
        big = big.display(),
        r = report.display(),
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("NETTUNE_LOCK_DIR", lock_dir())
        .output()
        .expect("unshare");
    assert!(out.status.success(), "{}", text(&out));
    let r = std::fs::read_to_string(&report).expect("report");
    let err = std::fs::read_to_string(format!("{}.err", report.display())).expect("stderr");
    assert!(
        r.contains("rc=1"),
        "the apply on a full disk fails: {r} {err}"
    );
    assert!(
        err.contains("No space left") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(r.contains("same"), "the earlier journal is intact: {r}");
    assert!(r.contains("rollback=0"), "{r}");
    assert_state(&before, &state(&ns), "after the full disk and the rollback");
}

#[test]
fn concurrent_applies_and_rollbacks_serialise() {
    if !require_root("concurrent_applies_and_rollbacks_serialise") {
        return;
    }
    let ns = setup();
    let (profile, _) = big_profile(&ns);
    let journal = tmp("race.journal");
    let before = state(&ns);
    ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&profile),
        "--journal",
        p(&journal),
    ]);
    let applied = state(&ns);
    ok(&["rollback", p(&journal)]);
    for round in 0..24 {
        let no_wait = round % 2 == 1;
        let mut apply_args = vec![
            "--netns",
            ns.name(),
            "apply",
            "--profile",
            p(&profile),
            "--journal",
            p(&journal),
        ];
        let mut rollback_args = vec!["rollback", p(&journal)];
        if no_wait {
            apply_args.push("--no-wait");
            rollback_args.push("--no-wait");
        }
        let a = cmd(&apply_args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("apply");
        let b = cmd(&rollback_args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rollback");
        let (a, b) = (
            a.wait_with_output().expect("apply"),
            b.wait_with_output().expect("rollback"),
        );
        let now = state(&ns);
        let b_err = String::from_utf8_lossy(&b.stderr);
        let a_err = String::from_utf8_lossy(&a.stderr);
        match (a.status.success(), b.status.success()) {
            // apply, then rollback
            (true, true) => assert_state(
                &before,
                &now,
                &format!("round {round}: apply then rollback"),
            ),
            // rollback first (no journal yet) or refused by the lock, then apply
            (true, false) => {
                assert!(
                    b_err.contains("no journal") || b_err.contains("locked"),
                    "round {round}: {b_err}"
                );
                assert_state(&applied, &now, &format!("round {round}: apply alone"));
            }
            (false, _) => {
                assert!(
                    no_wait && a_err.contains("locked"),
                    "round {round}: apply failed: {a_err}"
                );
                assert_state(&before, &now, &format!("round {round}: neither"));
            }
        }
        if journal.exists() {
            ok(&["rollback", p(&journal)]);
        }
        assert_state(&before, &state(&ns), &format!("round {round}: back"));
    }
    // Two applies at once on one journal: the second keeps the first's baseline.
    let a = cmd(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&profile),
        "--journal",
        p(&journal),
    ])
    .stdout(Stdio::null())
    .spawn()
    .expect("a");
    let b = cmd(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        "low-latency",
        "--journal",
        p(&journal),
    ])
    .stdout(Stdio::null())
    .spawn()
    .expect("b");
    assert!(a.wait_with_output().expect("a").status.success());
    assert!(b.wait_with_output().expect("b").status.success());
    ok(&["rollback", p(&journal)]);
    assert_state(&before, &state(&ns), "two applies, one rollback");
}

#[test]
fn confinement_refuses_what_is_not_the_namespaces() {
    if !require_root("confinement_refuses_what_is_not_the_namespaces") {
        return;
    }
    let ns = setup();
    let before = state(&ns);
    let journal = tmp("confined.journal");
    for (key, value, needle) in [
        ("kernel.pid_max", "65536", "not a network-namespace key"),
        ("vm.swappiness", "10", "not a network-namespace key"),
        ("fs.file-max", "100000", "not a network-namespace key"),
        ("net.core.netdev_max_backlog", "5000", "global key"),
    ] {
        let file = tmp("confined.toml");
        std::fs::write(
            &file,
            format!("[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 99\n\"{key}\" = {value}\n"),
        )
        .expect("write");
        for extra in [&[][..], &["--allow-host-keys"][..]] {
            let mut args = vec![
                "--netns",
                ns.name(),
                "apply",
                "--profile",
                p(&file),
                "--journal",
                p(&journal),
            ];
            args.extend(extra);
            let out = run(&args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{key} {extra:?}: {}",
                text(&out)
            );
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(needle),
                "{key}: {}",
                text(&out)
            );
            assert!(!journal.exists());
        }
    }
    assert_state(&before, &state(&ns), "nothing written");
    // In the initial namespace the opt-in lets the plan include host keys; the dry run
    // writes nothing, so it is safe to ask.
    let file = tmp("host.toml");
    std::fs::write(&file, "[sysctl]\n\"vm.swappiness\" = 10\n").expect("write");
    let refused = run(&["apply", "--profile", p(&file), "--dry-run"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("allow_host_keys"),
        "{}",
        text(&refused)
    );
    let planned = ok(&[
        "apply",
        "--profile",
        p(&file),
        "--dry-run",
        "--allow-host-keys",
    ]);
    assert!(String::from_utf8_lossy(&planned.stdout).contains("dry run: nothing was written"));
}

#[test]
fn a_recreated_namespace_is_not_the_one_a_journal_names() {
    if !require_root("a_recreated_namespace_is_not_the_one_a_journal_names") {
        return;
    }
    let name = format!("ntk-reuse-{}", std::process::id());
    let sh = |c: &str| {
        assert!(
            Command::new("sh")
                .args(["-c", c])
                .status()
                .expect("sh")
                .success(),
            "{c}"
        )
    };
    /// Deletes the namespace however the test ends.
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    sh(&format!("ip netns add {name}"));
    let _gone = Gone(name.clone());
    let journal = tmp("reuse.journal");
    let file = tmp("reuse.toml");
    std::fs::write(&file, "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 99\n").expect("write");
    ok(&[
        "--netns",
        &name,
        "apply",
        "--profile",
        p(&file),
        "--journal",
        p(&journal),
    ]);
    sh(&format!("ip netns del {name} && ip netns add {name}"));
    let fresh = NetNs::open(&name).expect("open");
    // Make the journal name the new namespace's inode, as a reused inode would: the
    // cookie still tells them apart.
    let text_now = std::fs::read_to_string(&journal).expect("read");
    let (first, rest) = text_now.split_once('\n').expect("lines");
    let json = first.splitn(4, ' ').nth(3).expect("json");
    let mut header: serde_json::Value = serde_json::from_str(json).expect("header");
    header["netns"]["inode"] = serde_json::json!(fresh.inode().expect("inode"));
    let json = header.to_string();
    let forged = format!(
        "nettune-journal v1 crc32={:08x} {json}\n{rest}",
        crc32fast::hash(json.as_bytes())
    );
    std::fs::write(&journal, forged).expect("write");
    let out = run(&["rollback", p(&journal)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the journal is for"),
        "{}",
        text(&out)
    );
    let fresh_value = fresh
        .run(|| std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_time"))
        .expect("enter")
        .expect("read");
    assert_eq!(
        fresh_value.trim(),
        "7200",
        "the new namespace was not touched"
    );
}

#[test]
fn an_apply_costs_two_fsyncs() {
    if !require_root("an_apply_costs_two_fsyncs") {
        return;
    }
    let ns = setup();
    let (profile, _) = big_profile(&ns);
    let journal = tmp("fsync.journal");
    let trace = tmp("fsync.trace");
    let out = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,sync",
            "-o",
        ])
        .arg(&trace)
        .arg(BIN)
        .args([
            "--netns",
            ns.name(),
            "apply",
            "--profile",
            p(&profile),
            "--journal",
            p(&journal),
        ])
        .env("NETTUNE_LOCK_DIR", lock_dir())
        .output()
        .expect("strace");
    assert!(out.status.success(), "{}", text(&out));
    let calls = std::fs::read_to_string(&trace).expect("trace");
    let syncs: Vec<&str> = calls.lines().filter(|l| l.contains("sync")).collect();
    assert_eq!(
        syncs.len(),
        2,
        "the journal file and its directory: {syncs:?}"
    );
    ok(&["rollback", p(&journal)]);
}

#[test]
fn journal_paths_are_never_followed_through_links() {
    if !require_root("journal_paths_are_never_followed_through_links") {
        return;
    }
    let ns = setup();
    let before = state(&ns);
    let file = tmp("link.toml");
    std::fs::write(&file, "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 99\n").expect("write");
    let victim = tmp("victim");
    std::fs::write(&victim, "precious\n").expect("write");
    for (link, to) in [
        (tmp("link.journal"), victim.clone()),
        (tmp("dangling.journal"), tmp("nowhere")),
    ] {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&to, &link).expect("symlink");
        let out = run(&[
            "--netns",
            ns.name(),
            "apply",
            "--profile",
            p(&file),
            "--journal",
            p(&link),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("symlink"),
            "{}",
            text(&out)
        );
        let out = run(&["rollback", p(&link)]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(!tmp("nowhere").exists());
    }
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );
    assert_state(&before, &state(&ns), "nothing written");
}

#[test]
fn an_unprivileged_rollback_restores_nothing_and_says_so() {
    if !require_root("an_unprivileged_rollback_restores_nothing_and_says_so") {
        return;
    }
    let ns = setup();
    let file = tmp("unpriv.toml");
    std::fs::write(
        &file,
        "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 99\n\"net.ipv4.tcp_keepalive_intvl\" = 9\n",
    )
    .expect("write");
    let journal = tmp("unpriv.journal");
    ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&file),
        "--journal",
        p(&journal),
    ]);
    let applied = state(&ns);
    let keep = std::fs::read(&journal).expect("read");
    // Readable by anyone (still not writable by others), so the refusal is the kernel's.
    let dir = journal.parent().expect("dir");
    for d in [dir, &lock_dir()] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    std::fs::set_permissions(
        &journal,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let out = testkit::as_nobody(BIN)
        .args(["rollback", p(&journal)])
        .env("NETTUNE_LOCK_DIR", lock_dir())
        .output()
        .expect("setpriv");
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CAP_SYS_ADMIN") || err.contains("ermission"),
        "{err}"
    );
    assert!(!err.contains("restored"), "{err}");
    assert_state(&applied, &state(&ns), "nothing restored");
    assert_eq!(
        std::fs::read(&journal).expect("read"),
        keep,
        "the journal is intact"
    );
    std::fs::set_permissions(
        &journal,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    ok(&["rollback", p(&journal)]);
}

#[test]
fn a_second_apply_keeps_the_first_baseline_and_a_failed_one_keeps_the_journal() {
    if !require_root("a_second_apply_keeps_the_first_baseline_and_a_failed_one_keeps_the_journal") {
        return;
    }
    let ns = setup();
    let before = state(&ns);
    let journal = tmp("rerun.journal");
    let one = tmp("one.toml");
    std::fs::write(
        &one,
        "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 99\n\"net.ipv4.tcp_keepalive_intvl\" = 9\n",
    )
    .expect("write");
    let two = tmp("two.toml");
    std::fs::write(
        &two,
        "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 55\n\"net.ipv4.tcp_keepalive_probes\" = 4\n",
    )
    .expect("write");
    ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&one),
        "--journal",
        p(&journal),
    ]);
    // The same profile again changes nothing and leaves the journal as it is.
    let same = std::fs::read(&journal).expect("read");
    let out = ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&one),
        "--journal",
        p(&journal),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("applied 0 change(s)"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&journal).expect("read"), same);
    assert_eq!(Journal::open(&journal).expect("journal").generation(), 1);
    let out = ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&two),
        "--journal",
        p(&journal),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("keeps the first apply's baseline"),
        "{}",
        text(&out)
    );
    let j = Journal::open(&journal).expect("journal");
    assert_eq!(
        j.generation(),
        2,
        "a second apply that wrote is generation 2"
    );
    assert!(j.profile().contains(" + "), "{}", j.profile());
    // A failing third apply: the kernel refuses a value after the first key took.
    let bad = tmp("bad.toml");
    // (IPv6 needs an MTU of at least 1280: a check only the kernel makes on an untyped key.)
    std::fs::write(
        &bad,
        "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 33\n\"net.ipv6.conf.lo.mtu\" = 100\n",
    )
    .expect("write");
    let after_two = state(&ns);
    let kept = std::fs::read(&journal).expect("read");
    let out = run(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&bad),
        "--journal",
        p(&journal),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("net.ipv6.conf.lo.mtu") && err.contains("1 restored"),
        "{err}"
    );
    assert_state(
        &after_two,
        &state(&ns),
        "the failed apply put its change back",
    );
    assert_eq!(
        Journal::open(&journal).expect("journal").items(),
        items_of(&kept),
        "the earlier journal is kept"
    );
    // Rollback returns to the state before the first apply.
    ok(&["rollback", p(&journal)]);
    assert_state(&before, &state(&ns), "back to the first baseline");
    // A failing first apply leaves no journal behind.
    let out = run(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&bad),
        "--journal",
        p(&journal),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!journal.exists());
    assert_state(&before, &state(&ns), "a failed first apply");
}

/// The items of a journal kept as bytes.
fn items_of(bytes: &[u8]) -> Vec<nettune::journal::JournalItem> {
    let path = tmp("kept.journal");
    std::fs::write(&path, bytes).expect("write");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    Journal::open(&path).expect("kept journal").items().to_vec()
}

#[test]
fn a_closed_stdout_never_turns_into_success_or_failure() {
    if !require_root("a_closed_stdout_never_turns_into_success_or_failure") {
        return;
    }
    let ns = setup();
    let before = state(&ns);
    let journal = tmp("pipe.journal");
    let file = tmp("pipe.toml");
    std::fs::write(&file, "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 99\n").expect("write");
    let pipe = |script: &str| {
        let o = Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {script} | true")])
            .env("NETTUNE_LOCK_DIR", lock_dir())
            .output()
            .expect("bash");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // The apply happens and says so by its exit code, though its report is lost.
    let (code, err) = pipe(&format!(
        "{BIN} --netns {} apply --profile {} --journal {}",
        ns.name(),
        p(&file),
        p(&journal)
    ));
    assert_eq!(code, Some(0), "{err}");
    assert!(journal.exists());
    assert_ne!(state(&ns), before);
    // A failing apply stays a failure.
    let bad = tmp("pipe-bad.toml");
    std::fs::write(&bad, "[sysctl]\n\"net.ipv6.conf.lo.mtu\" = 100\n").expect("write");
    let (code, _) = pipe(&format!(
        "{BIN} --netns {} apply --profile {} --journal {}",
        ns.name(),
        p(&bad),
        p(&tmp("other.journal"))
    ));
    assert_eq!(code, Some(1));
    // A read command whose output is lost is not a success.
    let (code, err) = pipe(&format!("{BIN} --netns {} sysctl list net", ns.name()));
    assert_eq!(code, Some(1), "{err}");
    ok(&["rollback", p(&journal)]);
    assert_state(&before, &state(&ns), "rolled back");
    // A one-off change and a sysctl.d load are changes too: made, and exit 0.
    let old = ns.sh("sysctl -n net.ipv4.tcp_keepalive_time");
    let (code, err) = pipe(&format!(
        "{BIN} --netns {} sysctl set net.ipv4.tcp_keepalive_time=98",
        ns.name()
    ));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("the result is not"), "{err}");
    assert_eq!(ns.sh("sysctl -n net.ipv4.tcp_keepalive_time").trim(), "98");
    let conf = tmp("pipe.conf");
    std::fs::write(&conf, format!("net.ipv4.tcp_keepalive_time = {old}")).expect("write");
    let (code, err) = pipe(&format!(
        "{BIN} --netns {} sysctl load --journal {} {}",
        ns.name(),
        p(&tmp("pipe-load.journal")),
        p(&conf)
    ));
    assert_eq!(code, Some(0), "{err}");
    assert_state(&before, &state(&ns), "loaded back");
}

#[test]
fn secrets_stay_in_the_journal_and_out_of_every_output() {
    if !require_root("secrets_stay_in_the_journal_and_out_of_every_output") {
        return;
    }
    let ns = setup();
    let journal = tmp("secret.journal");
    let file = tmp("secret.toml");
    let key = "00000001-00000002-00000003-00000004";
    std::fs::write(
        &file,
        format!("[sysctl]\n\"net.ipv4.tcp_fastopen_key\" = \"{key}\"\n"),
    )
    .expect("write");
    let before = ns.sh("cat /proc/sys/net/ipv4/tcp_fastopen_key");
    for args in [
        vec![
            "--netns",
            ns.name(),
            "apply",
            "--profile",
            p(&file),
            "--dry-run",
        ],
        vec![
            "--netns",
            ns.name(),
            "--json",
            "apply",
            "--profile",
            p(&file),
            "--dry-run",
        ],
        vec![
            "--netns",
            ns.name(),
            "apply",
            "--profile",
            p(&file),
            "--journal",
            p(&journal),
        ],
    ] {
        let out = ok(&args);
        let all = text(&out);
        assert!(
            !all.contains("00000001") && !all.contains(before.trim()),
            "{args:?}: {all}"
        );
        assert!(all.contains("<secret>"), "{args:?}: {all}");
    }
    let mode = std::fs::metadata(&journal).expect("journal").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert!(
        std::fs::read_to_string(&journal)
            .expect("read")
            .contains("00000001"),
        "the journal can restore it"
    );
    let out = ok(&["rollback", p(&journal)]);
    assert!(!text(&out).contains("00000001"));
    assert_eq!(ns.sh("cat /proc/sys/net/ipv4/tcp_fastopen_key"), before);
}

#[test]
fn verify_and_recover_say_what_is_and_exit_accordingly() {
    if !require_root("verify_and_recover_say_what_is_and_exit_accordingly") {
        return;
    }
    let ns = setup();
    let file = tmp("verify.toml");
    std::fs::write(&file, "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 99\n").expect("write");
    let out = run(&[
        "--netns",
        ns.name(),
        "--json",
        "verify",
        "--profile",
        p(&file),
    ]);
    assert_eq!(out.status.code(), Some(3), "drift: {}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["drift"][0]["item"], "sysctl net.ipv4.tcp_keepalive_time");
    let journal = tmp("verify.journal");
    ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&file),
        "--journal",
        p(&journal),
    ]);
    ok(&["--netns", ns.name(), "verify", "--profile", p(&file)]);
    // A committed journal has nothing to recover.
    let out = ok(&["--json", "recover", p(&journal)]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["complete"], true);
    // Someone else changes the key: the rollback leaves it, says so, and fails.
    ns.sh("sysctl -qw net.ipv4.tcp_keepalive_time=1234");
    let out = run(&["--json", "rollback", p(&journal)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["drift"], 1);
    assert_eq!(v["items"]["items"][0]["status"], "drift");
    assert!(journal.exists(), "kept: not everything is back");
    assert_eq!(
        ns.sh("cat /proc/sys/net/ipv4/tcp_keepalive_time").trim(),
        "1234"
    );
    // Damaged journals are refused, naming the damage.
    let mut bytes = std::fs::read(&journal).expect("read");
    bytes.truncate(bytes.len() / 2);
    let cut = tmp("cut.journal");
    std::fs::write(&cut, &bytes).expect("write");
    std::fs::set_permissions(&cut, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let out = run(&["rollback", p(&cut)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("truncated"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_file(&journal);
}

#[test]
fn notrack_rules_are_applied_and_rolled_back_over_netlink_without_the_nft_tool() {
    if !require_root("notrack_rules_are_applied_and_rolled_back_over_netlink_without_the_nft_tool")
    {
        return;
    }
    use nettune::conntrack::{L4, NoTrack};
    let ns = TestNs::new();
    let listed = || ns.sh("nft list ruleset");
    // An earlier NOTRACK table is the baseline; the profile replaces it.
    let earlier = NoTrack::new().port(L4::Tcp, 7000);
    earlier.install(Some(ns.netns())).expect("install");
    let before = listed();
    let profile = tmp("notrack.toml");
    std::fs::write(
        &profile,
        "[conntrack]\nnotrack = [{ proto = \"udp\", port = 5353 }, { address = \"10.0.0.9\" }]\n",
    )
    .expect("write");
    let journal = tmp("notrack.journal");
    // No nft on PATH: everything goes over netlink.
    let no_tools = |args: &[&str]| {
        let o = cmd(args).env("PATH", "/nonexistent").output().expect("run");
        assert!(o.status.success(), "nettune {args:?}: {}", text(&o));
        o
    };
    no_tools(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&profile),
        "--journal",
        p(&journal),
    ]);
    let want = NoTrack::new()
        .port(L4::Udp, 5353)
        .address("10.0.0.9".parse().expect("ip"));
    assert_eq!(
        NoTrack::read(Some(ns.netns())).expect("read"),
        Some(want.clone())
    );
    let now = listed();
    assert!(
        now.contains("udp dport 5353 notrack") && !now.contains("7000"),
        "{now}"
    );
    // verify reads the same rules back.
    no_tools(&["--netns", ns.name(), "verify", "--profile", p(&profile)]);
    no_tools(&["rollback", p(&journal)]);
    assert_eq!(listed(), before, "the earlier table is back, rule for rule");
    // From no table at all, a rollback removes it again.
    NoTrack::remove(Some(ns.netns())).expect("remove");
    let journal2 = tmp("notrack2.journal");
    no_tools(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&profile),
        "--journal",
        p(&journal2),
    ]);
    assert!(want.installed(Some(ns.netns())).expect("installed"));
    no_tools(&["rollback", p(&journal2)]);
    assert_eq!(NoTrack::read(Some(ns.netns())).expect("read"), None);
    // A table holding a rule nettune did not write is refused before anything is written.
    earlier.install(Some(ns.netns())).expect("install");
    ns.sh("nft add rule inet nettune_notrack prerouting counter");
    let held = listed();
    let o = cmd(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        p(&profile),
        "--journal",
        p(&tmp("notrack3.journal")),
    ])
    .output()
    .expect("run");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("did not write"),
        "{}",
        text(&o)
    );
    assert_eq!(listed(), held, "nothing was written");
}

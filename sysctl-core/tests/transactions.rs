//! Plan, apply, rollback and drift against the live kernel, inside private namespaces.

use nettune_sysctl::knobs::{self, Knob, Scope};
use nettune_sysctl::plan::PlanOptions;
use nettune_sysctl::{Error, Key, Profile, Snapshot};
use testkit::{TestNs, require_root};

fn key(s: &str) -> Key {
    Key::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn apply_then_rollback_leaves_the_net_tree_identical() {
    if !require_root("apply_then_rollback_leaves_the_net_tree_identical") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let net = key("net");
    let before = Snapshot::take_prefix(&sys, &net).expect("snapshot");
    assert!(before.len() > 300);

    let profile = Profile::low_latency();
    let plan = profile
        .plan_with(&sys, PlanOptions::skip_unsettable())
        .expect("plan");
    // In a child namespace, the read-only keys are skipped with the reason.
    let skipped: Vec<String> = plan.skipped().iter().map(|s| s.key.to_string()).collect();
    for k in [
        knobs::CoreRmemMax::KEY,
        knobs::CoreWmemMax::KEY,
        knobs::NfConntrackMax::KEY,
    ] {
        assert!(skipped.iter().any(|s| s == k), "{k} skipped: {skipped:?}");
    }
    assert!(
        plan.skipped()
            .iter()
            .all(|s| s.reason.contains("read-only in a child network namespace")),
        "{plan}"
    );
    assert!(!plan.is_empty());
    let dry_run = plan.to_string();
    assert!(
        dry_run.contains("net.ipv4.tcp_keepalive_time: 7200 -> 60"),
        "{dry_run}"
    );

    let applied = plan.apply(&sys).expect("apply");
    assert_eq!(applied.entries().len(), plan.changes().len());
    // Every change is live, as the real tool sees it.
    for c in plan.changes() {
        assert_eq!(
            norm(&ns.sh(&format!("sysctl -n {}", c.key))),
            c.desired,
            "{}",
            c.key
        );
    }
    // No drift for what could be applied; the skipped keys are the only drift.
    let drift = profile.verify(&sys).expect("verify");
    let drifted: Vec<String> = drift.iter().map(|d| d.key.to_string()).collect();
    assert_eq!(drifted, skipped);

    let report = applied.rollback(&sys).expect("rollback");
    assert_eq!(report.restored.len(), applied.entries().len());
    assert!(report.drift.is_empty());
    let after = Snapshot::take_prefix(&sys, &net).expect("snapshot");
    assert_eq!(
        before.diff(&after),
        vec![],
        "the net. tree is back as it was"
    );
    assert_eq!(before, after, "byte for byte");
}

#[test]
fn an_empty_plan_writes_nothing() {
    if !require_root("an_empty_plan_writes_nothing") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    // A profile equal to the live values, written differently (tabs, yes, hex).
    let mut p = Profile::new("same");
    let rmem = sys.read_raw(&knobs::TcpRmem::key()).expect("read");
    p.set(knobs::TcpRmem::KEY, &rmem.replace(' ', "\t"), "same")
        .expect("set");
    p.set(knobs::TcpSack::KEY, "yes", "same").expect("set");
    p.set(knobs::TcpFastopen::KEY, "0x1", "same").expect("set");
    let plan = p.plan(&sys).expect("plan");
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(plan.unchanged().len(), 3);
    let applied = plan.apply(&sys).expect("apply");
    assert!(applied.entries().is_empty());
}

/// Five keys; the third cannot be written. All five end at their original values and the
/// error names the third.
fn third_of_five_fails(third: (&str, &str), expect: impl Fn(&Error) -> bool) {
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let keys = [
        ("net.ipv4.tcp_keepalive_time", "61"),
        ("net.ipv4.tcp_fin_timeout", "31"),
        third,
        ("net.core.somaxconn", "1111"),
        ("net.ipv4.tcp_keepalive_probes", "4"),
    ];
    let mut p = Profile::new("faulty");
    for (k, v) in keys {
        p.set(k, v, "test").expect("set");
    }
    let as_keys: Vec<Key> = keys.iter().map(|(k, _)| key(k)).collect();
    let before = Snapshot::take(&sys, &as_keys).expect("snapshot");
    let plan = p.plan(&sys).expect("plan");
    assert_eq!(plan.changes().len(), 5, "{plan}");
    assert_eq!(plan.changes()[2].key, key(third.0), "written third");
    let err = plan.apply(&sys).expect_err("the third write fails");
    match &err {
        Error::ApplyFailed {
            key: failed,
            source,
            restore,
        } => {
            assert_eq!(failed, &key(third.0));
            assert!(expect(source), "{source}");
            assert_eq!(restore.restored.len(), 2, "{restore}");
            assert!(restore.failed.is_empty());
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(third.0), "{err}");
    assert!(err.to_string().contains("were restored"), "{err}");
    let after = Snapshot::take(&sys, &as_keys).expect("snapshot");
    assert_eq!(before, after);
    for (k, _) in keys {
        assert_eq!(
            norm(&ns.sh(&format!("sysctl -n {k}"))),
            norm(before.get(&key(k)).expect("read"))
        );
    }
}

#[test]
fn a_read_only_third_key_leaves_all_five_unchanged() {
    if !require_root("a_read_only_third_key_leaves_all_five_unchanged") {
        return;
    }
    third_of_five_fails(
        ("net.core.rmem_default", "300000"),
        |e| matches!(e, Error::PermissionDenied { reason, .. } if reason.contains("child network namespace")),
    );
}

#[test]
fn a_value_the_kernel_rejects_leaves_all_five_unchanged() {
    if !require_root("a_value_the_kernel_rejects_leaves_all_five_unchanged") {
        return;
    }
    // tcp_early_retrans (no typed knob) takes 0..=4 in the kernel, which refuses 9.
    third_of_five_fails(("net.ipv4.tcp_early_retrans", "9"), |e| {
        matches!(
            e,
            Error::InvalidValue {
                source: Some(_),
                ..
            }
        )
    });
}

#[test]
fn strict_plans_keep_unsettable_keys_and_skip_lists_them() {
    if !require_root("strict_plans_keep_unsettable_keys_and_skip_lists_them") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let mut p = Profile::new("mixed");
    p.set("net.core.busy_read", "50", "global").expect("set");
    p.set("net.ipv4.tcp_keepalive_time", "99", "per ns")
        .expect("set");
    let strict = p.plan(&sys).expect("plan");
    assert_eq!(strict.changes().len(), 2);
    let err = strict.apply(&sys).expect_err("global key absent in child");
    assert!(
        matches!(&err, Error::ApplyFailed { key, .. } if key.to_string() == "net.core.busy_read"),
        "{err}"
    );
    assert_eq!(
        sys.get::<knobs::TcpKeepaliveTime>()
            .expect("read")
            .as_secs(),
        7200
    );
    let lenient = p
        .plan_with(&sys, PlanOptions::skip_unsettable())
        .expect("plan");
    assert_eq!(lenient.skipped().len(), 1);
    assert!(
        lenient.skipped()[0].reason.contains("global key"),
        "{lenient}"
    );
    lenient.apply(&sys).expect("apply");
    assert_eq!(
        sys.get::<knobs::TcpKeepaliveTime>()
            .expect("read")
            .as_secs(),
        99
    );
}

#[test]
fn rollback_reports_drift_and_leaves_it_alone() {
    if !require_root("rollback_reports_drift_and_leaves_it_alone") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let mut p = Profile::new("two");
    p.set("net.ipv4.tcp_keepalive_time", "61", "t")
        .expect("set");
    p.set("net.ipv4.tcp_fin_timeout", "31", "t").expect("set");
    let applied = p.plan(&sys).expect("plan").apply(&sys).expect("apply");
    // Someone else changes one key after the apply.
    ns.sh("sysctl -qw net.ipv4.tcp_fin_timeout=45");
    let report = applied.rollback(&sys).expect("rollback");
    assert_eq!(report.restored, vec![key("net.ipv4.tcp_keepalive_time")]);
    assert_eq!(report.drift.len(), 1);
    assert_eq!(
        report.drift[0].to_string(),
        "net.ipv4.tcp_fin_timeout: expected 31, found 45"
    );
    assert_eq!(
        norm(&ns.sh("sysctl -n net.ipv4.tcp_fin_timeout")),
        "45",
        "not overwritten"
    );
    assert_eq!(
        norm(&ns.sh("sysctl -n net.ipv4.tcp_keepalive_time")),
        "7200"
    );
    // The verify of the profile shows the same drift.
    let drift = p.verify(&sys).expect("verify");
    assert_eq!(drift.len(), 2);
}

#[test]
fn rollback_refuses_another_namespace() {
    if !require_root("rollback_refuses_another_namespace") {
        return;
    }
    let a = TestNs::new();
    let b = TestNs::new();
    let mut p = Profile::new("one");
    p.set("net.ipv4.tcp_keepalive_time", "61", "t")
        .expect("set");
    let applied = p
        .plan(&a.sysctl())
        .expect("plan")
        .apply(&a.sysctl())
        .expect("apply");
    let err = applied.rollback(&b.sysctl()).expect_err("wrong namespace");
    assert!(matches!(err, Error::WrongTarget { .. }), "{err}");
    assert_eq!(
        norm(&a.sh("sysctl -n net.ipv4.tcp_keepalive_time")),
        "61",
        "nothing written"
    );
    applied.rollback(&a.sysctl()).expect("right namespace");
    assert_eq!(norm(&a.sh("sysctl -n net.ipv4.tcp_keepalive_time")), "7200");
}

/// The profile's per-namespace entries, plus a key of an interface with a dot in its name.
fn per_namespace_profile() -> Profile {
    let mut p = Profile::new("emit");
    for e in Profile::low_latency().entries() {
        if knobs::info(e.key()).is_some_and(|k| k.scope == Scope::PerNamespace) {
            p.push(e.clone());
        }
    }
    p.set(
        "net.ipv4.conf.v0/100.rp_filter",
        "2",
        "an interface with a dot in its name",
    )
    .expect("set");
    p
}

#[test]
fn an_emitted_file_loaded_by_sysctl_p_matches_the_library_apply() {
    if !require_root("an_emitted_file_loaded_by_sysctl_p_matches_the_library_apply") {
        return;
    }
    let ours = TestNs::new();
    let theirs = TestNs::new();
    for ns in [&ours, &theirs] {
        ns.sh("ip link add v0.100 type veth peer name v1");
    }
    let profile = per_namespace_profile();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("90-nettune.conf");
    std::fs::write(&file, profile.to_sysctl_d().expect("emit")).expect("write");
    let out = theirs.exec("sysctl", &["-p", file.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "sysctl -p: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    profile
        .plan(&ours.sysctl())
        .expect("plan")
        .apply(&ours.sysctl())
        .expect("apply");
    for e in profile.entries() {
        let a = ours.sysctl().read_raw(e.key()).expect("ours");
        let b = theirs.sysctl().read_raw(e.key()).expect("theirs");
        assert_eq!(norm(&a), norm(&b), "{}", e.key());
        assert_eq!(norm(&a), e.value(), "{}", e.key());
    }
    // And the library reads its own file back to the same profile.
    let reread =
        Profile::from_sysctl_d(&std::fs::read_to_string(&file).expect("read")).expect("parse");
    assert_eq!(reread.entries().len(), profile.entries().len());
    for (a, b) in reread.entries().iter().zip(profile.entries()) {
        assert_eq!((a.key(), a.value(), a.why()), (b.key(), b.value(), b.why()));
    }
}

#[test]
fn apply_orders_the_allowed_list_before_the_default_algorithm() {
    if !require_root("apply_orders_the_allowed_list_before_the_default_algorithm") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let mut p = Profile::new("order");
    p.set("net.ipv4.tcp_congestion_control", "reno", "t")
        .expect("set");
    p.set("net.mptcp.scheduler", "default", "t").expect("set");
    p.set("net.core.rmem_max", "8388608", "t").expect("set");
    p.set("net.mptcp.enabled", "0", "t").expect("set");
    let plan = p
        .plan_with(&sys, PlanOptions::skip_unsettable())
        .expect("plan");
    let order: Vec<String> = plan.changes().iter().map(|c| c.key.to_string()).collect();
    let pos = |k: &str| order.iter().position(|o| o == k);
    assert!(
        pos("net.mptcp.enabled") < pos("net.ipv4.tcp_congestion_control"),
        "{order:?}"
    );
}

/// Values the kernel prints in a form of its own (a port list merged into ranges) verify
/// in that form, and the profile converges: the second plan is empty.
#[test]
fn values_the_kernel_normalises_verify_and_converge() {
    if !require_root("values_the_kernel_normalises_verify_and_converge") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let mut p = Profile::new("ports");
    p.set("net.ipv4.ip_local_reserved_ports", "8081,8080,9000", "test")
        .expect("set");
    p.plan(&sys).expect("plan").apply(&sys).expect("apply");
    assert_eq!(
        ns.sh("sysctl -n net.ipv4.ip_local_reserved_ports").trim(),
        "8080-8081,9000"
    );
    assert!(p.plan(&sys).expect("plan").is_empty(), "converged");
}

/// A write the kernel takes but stores differently (milliseconds rounded to jiffies) is a
/// failure, and that key is put back with the others: nothing is left changed.
#[test]
fn a_key_the_kernel_rounds_is_restored_too() {
    if !require_root("a_key_the_kernel_rounds_is_restored_too") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let rounded = "net.ipv4.neigh.lo.base_reachable_time_ms";
    let probe = TestNs::new();
    probe.sh(&format!("sysctl -qw {rounded}=1001"));
    assert_ne!(
        probe.sh(&format!("sysctl -n {rounded}")).trim(),
        "1001",
        "this test needs a kernel that rounds milliseconds to jiffies (HZ below 1000)"
    );
    let keys = [
        ("net.ipv4.tcp_keepalive_time", "61"),
        (rounded, "1001"),
        ("net.ipv4.tcp_fin_timeout", "31"),
    ];
    let mut p = Profile::new("rounded");
    for (k, v) in keys {
        p.set(k, v, "test").expect("set");
    }
    let as_keys: Vec<Key> = keys.iter().map(|(k, _)| key(k)).collect();
    let before = Snapshot::take(&sys, &as_keys).expect("snapshot");
    let err = p
        .plan(&sys)
        .expect("plan")
        .apply(&sys)
        .expect_err("rounded");
    match &err {
        Error::ApplyFailed {
            key: k,
            source,
            restore,
        } => {
            assert_eq!(k, &key(rounded));
            assert!(matches!(**source, Error::NotApplied { .. }), "{source}");
            assert!(restore.restored.contains(&key(rounded)), "{restore}");
            assert!(restore.failed.is_empty(), "{restore}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(Snapshot::take(&sys, &as_keys).expect("snapshot"), before);
}

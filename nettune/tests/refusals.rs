//! A whole-host plan refuses, before anything is written, what the apply would fail on.

use nettune::sysctl::knobs::{self, Knob};
use nettune::{Error, Profile, Target};
use testkit::{TestNs, require_root};

#[test]
fn a_congestion_control_a_child_may_not_pick_is_refused_by_the_dry_run() {
    if !require_root("a_congestion_control_a_child_may_not_pick_is_refused_by_the_dry_run") {
        return;
    }
    let ns = TestNs::new();
    let restricted = ns.congestion_control_outside_allowed();
    let text = format!(
        "name = \"cc\"\n[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 99\n\"{}\" = \"{restricted}\"\n",
        knobs::TcpCongestionControl::KEY
    );
    let profile = Profile::from_toml("cc", &text).expect("profile");
    let target = Target::of(ns.netns()).expect("target");
    let before = ns.sh("sysctl -n net.ipv4.tcp_keepalive_time net.ipv4.tcp_congestion_control");
    match profile.plan(&target) {
        Err(Error::Refused { refused }) => {
            assert_eq!(refused.len(), 1, "{refused:?}");
            assert!(
                refused[0].0.contains("tcp_congestion_control"),
                "{refused:?}"
            );
            assert!(
                refused[0].1.contains("tcp_allowed_congestion_control"),
                "{refused:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ns.sh("sysctl -n net.ipv4.tcp_keepalive_time net.ipv4.tcp_congestion_control"),
        before
    );
}

#[test]
fn an_optional_sysctl_d_key_that_is_absent_is_left_out_even_by_a_strict_plan() {
    if !require_root("an_optional_sysctl_d_key_that_is_absent_is_left_out_even_by_a_strict_plan") {
        return;
    }
    let ns = TestNs::new();
    let target = Target::of(ns.netns()).expect("target");
    let text = "net.ipv4.tcp_keepalive_time = 71\n-net.ipv4.no_such_knob = 1\n";
    let optional =
        Profile::from_sysctl(&nettune::sysctl::Profile::from_sysctl_d(text).expect("sysctl.d"));
    assert!(optional.sysctls()[1].optional);
    let plan = optional
        .plan_with(&target, nettune::PlanOptions::strict())
        .expect("a strict plan leaves the optional key out");
    assert_eq!(plan.changes().len(), 1);
    assert_eq!(plan.skipped().len(), 1);
    assert!(
        plan.skipped()[0].reason.contains("optional"),
        "{:?}",
        plan.skipped()
    );
    // Without the `-`, a strict plan refuses the absent key.
    let required = Profile::from_sysctl(
        &nettune::sysctl::Profile::from_sysctl_d(&text.replace("-net", "net")).expect("sysctl.d"),
    );
    match required.plan_with(&target, nettune::PlanOptions::strict()) {
        Err(Error::Refused { refused }) => {
            assert!(refused[0].0.contains("no_such_knob"), "{refused:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

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
    let sys = ns.sysctl();
    let available = sys
        .get::<knobs::TcpAvailableCongestionControl>()
        .expect("available");
    let allowed = sys
        .get::<knobs::TcpAllowedCongestionControl>()
        .expect("allowed");
    let restricted = available
        .as_slice()
        .iter()
        .find(|a| !allowed.contains(a))
        .expect("this kernel has a loaded algorithm that is not in tcp_allowed_congestion_control")
        .to_string();
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

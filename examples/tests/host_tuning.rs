//! The host_tuning example end to end: applied to a namespace across sysctls, a veth and
//! MPTCP, verified, rolled back; the namespace's state is compared before and after.

use std::process::Command;

use nettune::nic::Nic;
use nettune::sysctl::Key;
use testkit::{TestNs, require_root};

fn state(ns: &TestNs) -> (Vec<(Key, String)>, nettune::nic::NicSnapshot, String) {
    let sysctls = ns
        .sysctl()
        .read_tree(&Key::new("net").expect("key"))
        .expect("tree")
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.ok()?)))
        .filter(|(k, _)| !k.to_string().ends_with("nf_conntrack_count"))
        .collect();
    let nic = Nic::open_in(ns.netns(), "v0")
        .expect("v0")
        .snapshot()
        .expect("snapshot");
    (sysctls, nic, ns.sh("ip mptcp limits show"))
}

#[test]
fn host_tuning_applies_verifies_and_rolls_back() {
    if !require_root("host_tuning_applies_verifies_and_rolls_back") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add v0 numrx 2 type veth peer name v1 && ip link set v0 up && ip link set v1 up && ethtool -K v0 gro off");
    let journal = std::env::temp_dir().join(format!("host_tuning-{}.journal", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_host_tuning");
    let before = state(&ns);

    let out = Command::new(bin)
        .args(["--netns", ns.name(), "--iface", "v0", "--journal"])
        .arg(&journal)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("nic v0 feature rx-gro: off -> on"), "{text}");
    assert!(
        text.contains("mptcp limits: ") && text.contains("-> 2 2"),
        "{text}"
    );
    assert!(text.contains("nic v0 rps rx-0"), "{text}");
    assert!(text.contains("verify: 0 item(s) differ"), "{text}");
    assert!(
        text.contains("rollback:") && text.contains("0 drift") && text.contains("0 failed"),
        "{text}"
    );
    assert_eq!(state(&ns), before, "rolled back exactly");
    assert!(!journal.exists());

    // --keep: the kernel shows the profile, and the command rolls it back later.
    let out = Command::new(bin)
        .args(["--netns", ns.name(), "--iface", "v0", "--keep", "--journal"])
        .arg(&journal)
        .output()
        .expect("run");
    assert!(out.status.success());
    let during = state(&ns);
    assert_ne!(during, before);
    assert_eq!(
        ns.sh("ethtool -k v0 | grep generic-receive-offload").trim(),
        "generic-receive-offload: on"
    );
    assert_eq!(ns.sh("cat /proc/sys/net/core/somaxconn").trim(), "4096");
    let key = Key::new("net.ipv4.tcp_keepalive_time").expect("key");
    assert_eq!(ns.sysctl().read_raw(&key).expect("read"), "60");
    let rb = nettune::Journal::open(&journal)
        .expect("journal")
        .rollback()
        .expect("rollback");
    assert!(rb.complete(), "{rb}");
    assert_eq!(state(&ns), before);
}

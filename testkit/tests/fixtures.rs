//! The fixtures do what they say, seen from outside: `ip netns list`, pings, the conntrack
//! table and the device list.

use std::path::Path;

use testkit::{TestNs, require_root, veth_pair};

#[test]
fn namespace_is_private_and_removed_on_drop() {
    if !require_root("namespace_is_private_and_removed_on_drop") {
        return;
    }
    let ns = TestNs::new();
    let name = ns.name().to_owned();
    assert!(Path::new("/run/netns").join(&name).exists());
    // Only `lo`, and it is up.
    let links = ns.sh("ip -o link show");
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    // A closure run inside sees the namespace's own /proc/sys.
    let inode = ns.run(|| {
        std::fs::metadata("/proc/thread-self/ns/net")
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
    });
    assert_eq!(inode.ok(), ns.netns().inode().ok());
    drop(ns);
    assert!(
        !Path::new("/run/netns").join(&name).exists(),
        "{name} removed"
    );
}

#[test]
fn namespace_is_removed_after_a_panic() {
    if !require_root("namespace_is_removed_after_a_panic") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let ns = TestNs::new();
        tx.send(ns.name().to_owned()).expect("send");
        panic!("a failing test");
    })
    .join();
    assert!(result.is_err());
    let name = rx.recv().expect("name");
    assert!(
        !Path::new("/run/netns").join(&name).exists(),
        "{name} removed after panic"
    );
}

#[test]
fn veth_pair_carries_traffic_between_two_namespaces() {
    if !require_root("veth_pair_carries_traffic_between_two_namespaces") {
        return;
    }
    let a = TestNs::new();
    let b = TestNs::new();
    let v4 = veth_pair(&a, &b, "10.201.0.1/24", "10.201.0.2/24");
    a.sh(&format!("ping -c 1 -W 2 {}", v4.addr_b));
    let v6 = veth_pair(&a, &b, "fd00:201::1/64", "fd00:201::2/64");
    b.sh(&format!("ping -6 -c 1 -W 2 {}", v6.addr_a));
    assert!(a.sh("ip -o addr show").contains("10.201.0.1/24"));
    assert!(b.sh(&format!("ip -o link show {}", v4.b)).contains("UP"));
}

#[test]
fn tap_device_exists_only_in_its_namespace() {
    if !require_root("tap_device_exists_only_in_its_namespace") {
        return;
    }
    let ns = TestNs::new();
    let tap = ns.add_tap("tap0");
    let details = ns.sh(&format!("ip -d link show {tap}"));
    assert!(details.contains("tun type tap"), "{details}");
    let other = TestNs::new();
    assert!(!other.exec("ip", &["link", "show", &tap]).status.success());
}

#[test]
fn enable_conntrack_makes_the_kernel_track_traffic() {
    if !require_root("enable_conntrack_makes_the_kernel_track_traffic") {
        return;
    }
    let a = TestNs::new();
    let b = TestNs::new();
    let v = veth_pair(&a, &b, "10.202.0.1/24", "10.202.0.2/24");
    let count = |ns: &TestNs| ns.sh("conntrack -C").trim().parse::<u64>().expect("count");
    a.sh(&format!("ping -c 1 -W 2 {}", v.addr_b));
    assert_eq!(
        count(&a),
        0,
        "nothing is tracked before a rule uses conntrack"
    );
    a.enable_conntrack();
    a.sh(&format!("ping -c 1 -W 2 {}", v.addr_b));
    let listed = a.sh("conntrack -L -p icmp 2>/dev/null");
    assert!(listed.contains(&format!("dst={}", v.addr_b)), "{listed}");
    assert!(count(&a) >= 1);
}

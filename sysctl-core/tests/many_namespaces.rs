//! One process tuning several namespaces at once through `Sysctl::open_in`: every write
//! lands in its own namespace (checked with `ip netns exec NS sysctl`), errors stay typed,
//! and a key of a removed interface is reported absent, never read stale.

use std::sync::Arc;

use nettune_sysctl::{Error, Key, Sysctl, knobs};
use testkit::{TestNs, require_root};

#[test]
fn many_threads_tune_many_namespaces_through_kept_files() {
    if !require_root("many_threads_tune_many_namespaces_through_kept_files") {
        return;
    }
    let namespaces: Vec<TestNs> = (0..4).map(|_| TestNs::new()).collect();
    let handles: Vec<Arc<Sysctl>> = namespaces
        .iter()
        .map(|ns| Arc::new(Sysctl::open_in(ns.netns())))
        .collect();
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_time").expect("host");
    // 4 threads per namespace, all writing and reading back the namespace's own value.
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let sys = Arc::clone(&handles[t % 4]);
            std::thread::spawn(move || {
                let want = std::time::Duration::from_secs(100 + (t % 4) as u64);
                for _ in 0..100 {
                    sys.set::<knobs::TcpKeepaliveTime>(want).expect("set");
                    assert_eq!(sys.get::<knobs::TcpKeepaliveTime>().expect("get"), want);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    for (i, ns) in namespaces.iter().enumerate() {
        let live = ns.sh("sysctl -n net.ipv4.tcp_keepalive_time");
        assert_eq!(live.trim(), (100 + i).to_string(), "{}", ns.name());
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_time").expect("host"),
        host
    );

    // Typed errors through the kept files: a read-only key, a bad value, an absent key.
    let sys = &handles[0];
    let rmem_max = Key::new("net.core.rmem_max").expect("key");
    assert!(!sys.is_writable(&rmem_max).expect("mode"));
    match sys.write_raw(&rmem_max, "1048576") {
        Err(Error::PermissionDenied { reason, .. }) => {
            assert!(reason.contains("child network namespace"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let keepalive = Key::new("net.ipv4.tcp_keepalive_time").expect("key");
    assert!(matches!(
        sys.write_raw(&keepalive, "abc"),
        Err(Error::InvalidValue { .. })
    ));
    match sys.set::<knobs::TcpCongestionControl>("nosuchcc".parse().expect("name")) {
        Err(Error::CongestionControlUnavailable { available, .. }) => {
            assert!(available.iter().any(|a| a == "cubic"), "{available:?}")
        }
        other => panic!("{other:?}"),
    }

    // An interface's key: read, removed (absent, not stale), created again (the new one).
    let ns = &namespaces[0];
    ns.sh("ip link add nk0 type veth peer name nk1 && sysctl -qw net.ipv4.conf.nk0.forwarding=1");
    let fwd = Key::new("net.ipv4.conf.nk0.forwarding").expect("key");
    assert_eq!(sys.read_raw(&fwd).expect("read"), "1");
    ns.sh("ip link del nk0");
    match sys.read_raw(&fwd) {
        Err(Error::Unsupported { reason, .. }) => assert!(reason.contains("nk0"), "{reason}"),
        other => panic!("{other:?}"),
    }
    ns.sh("ip link add nk0 type veth peer name nk1");
    assert_eq!(
        sys.read_raw(&fwd).expect("read"),
        ns.sh("sysctl -n net.ipv4.conf.nk0.forwarding").trim()
    );
}

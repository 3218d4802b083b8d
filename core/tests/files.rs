//! A namespace's files through `NetNs::read_file`/`write_file` from threads outside it:
//! every value agrees with `ip netns exec NS ...`, and a removed interface is never read
//! stale.

use std::sync::Arc;

use nettune_core::NetNs;
use nettune_core::files::Tree;
use testkit::{TestNs, require_root};

fn read(ns: &NetNs, tree: Tree, rel: &str) -> std::io::Result<String> {
    let mut buf = Vec::new();
    ns.read_file(tree, rel, &mut buf).expect("enter")?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[test]
fn sysctls_read_and_written_from_many_threads_land_in_the_namespace() {
    if !require_root("sysctls_read_and_written_from_many_threads_land_in_the_namespace") {
        return;
    }
    let test = TestNs::new();
    test.sh("sysctl -qw net.ipv4.tcp_keepalive_time=321");
    let ns = Arc::new(test.netns().clone());
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_time").expect("host");
    assert_eq!(
        read(&ns, Tree::SysctlNet, "ipv4/tcp_keepalive_time").unwrap(),
        "321\n"
    );

    // Eight threads at once, each its own key, 50 rounds of write and read back.
    let keys: [&'static str; 8] = [
        "ipv4/tcp_keepalive_probes",
        "ipv4/tcp_keepalive_intvl",
        "ipv4/tcp_fin_timeout",
        "ipv4/tcp_syn_retries",
        "ipv4/tcp_synack_retries",
        "ipv4/tcp_retries2",
        "ipv4/tcp_orphan_retries",
        "ipv4/tcp_reordering",
    ];
    let value = |i: usize, round: usize| (3 + i + round % 5).to_string();
    let threads: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, &key)| {
            let ns = Arc::clone(&ns);
            std::thread::spawn(move || {
                for round in 0..50 {
                    let v = value(i, round);
                    let n = ns
                        .write_file(Tree::SysctlNet, key, v.as_bytes())
                        .expect("enter")
                        .expect("write");
                    assert_eq!(n, v.len());
                    assert_eq!(read(&ns, Tree::SysctlNet, key).unwrap().trim(), v);
                }
            })
        })
        .collect();
    for (i, (key, t)) in keys.iter().zip(threads).enumerate() {
        t.join().expect("thread");
        let dotted = format!("net.{}", key.replace('/', "."));
        assert_eq!(
            test.sh(&format!("sysctl -n {dotted}")).trim(),
            value(i, 49),
            "{dotted}"
        );
    }
    // The host never saw any of it.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_time").unwrap(),
        host
    );
    assert!(
        (1..=12).contains(&ns.cached_files()),
        "{}",
        ns.cached_files()
    );
    // A key read-only in a child namespace shows it in its mode.
    let mode = ns
        .file_mode(Tree::SysctlNet, "core/rmem_max")
        .unwrap()
        .unwrap();
    assert_eq!(mode & 0o777, 0o444);
    // Paths that leave the tree are refused, not resolved.
    for bad in ["../kernel/hostname", "/etc/passwd", "ipv4//x", ""] {
        let err = read(&ns, Tree::SysctlNet, bad).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
    }
}

#[test]
fn handles_outlive_the_thread_that_made_them() {
    if !require_root("handles_outlive_the_thread_that_made_them") {
        return;
    }
    let test = TestNs::new();
    test.sh("sysctl -qw net.ipv4.tcp_keepalive_time=77");
    // A handle by path only (no /run/netns name kept), made and first used on a thread
    // that then exits.
    let path = format!("/run/netns/{}", test.name());
    let ns = std::thread::spawn(move || {
        let ns = NetNs::open_path(&path).expect("open");
        assert_eq!(
            read(&ns, Tree::SysctlNet, "ipv4/tcp_keepalive_time").unwrap(),
            "77\n"
        );
        assert!(read(&ns, Tree::ProcNet, "snmp").unwrap().starts_with("Ip:"));
        ns
    })
    .join()
    .expect("thread");
    test.sh("sysctl -qw net.ipv4.tcp_keepalive_time=78");
    assert_eq!(
        read(&ns, Tree::SysctlNet, "ipv4/tcp_keepalive_time").unwrap(),
        "78\n"
    );
    // /proc/net of the namespace: its own interfaces, re-read fresh each time.
    let before = read(&ns, Tree::ProcNet, "dev").unwrap();
    test.sh("ping -c 3 -i 0.2 -q 127.0.0.1 >/dev/null");
    let after = read(&ns, Tree::ProcNet, "dev").unwrap();
    assert_ne!(before, after);
    let has = |t: &str, dev: &str| {
        t.lines()
            .any(|l| l.trim_start().starts_with(&format!("{dev}:")))
    };
    assert!(has(&after, "lo") && !has(&after, "eth0"), "{after}");
}

#[test]
fn a_removed_interface_is_never_read_stale() {
    if !require_root("a_removed_interface_is_never_read_stale") {
        return;
    }
    let test = TestNs::new();
    test.sh("ip link add nt0 type veth peer name nt1 && sysctl -qw net.ipv4.conf.nt0.forwarding=1");
    let ns = test.netns().clone();
    let key = "ipv4/conf/nt0/forwarding";
    assert_eq!(read(&ns, Tree::SysctlNet, key).unwrap(), "1\n");
    assert_eq!(read(&ns, Tree::SysClassNet, "nt0/mtu").unwrap(), "1500\n");
    test.sh("ip link del nt0");
    let err = read(&ns, Tree::SysctlNet, key).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    assert!(read(&ns, Tree::SysClassNet, "nt0/mtu").is_err());
    // Created again under the same name: the new one is read.
    test.sh("ip link add nt0 mtu 1400 type veth peer name nt1");
    assert_eq!(
        read(&ns, Tree::SysctlNet, key).unwrap().trim(),
        test.sh("sysctl -n net.ipv4.conf.nt0.forwarding").trim()
    );
    assert_eq!(read(&ns, Tree::SysClassNet, "nt0/mtu").unwrap(), "1400\n");
    // sysfs of the namespace, not the host's: the host has no nt0.
    assert!(!std::path::Path::new("/sys/class/net/nt0").exists());
    let written = ns
        .write_file(Tree::SysClassNet, "nt0/mtu", b"1300")
        .unwrap()
        .unwrap();
    assert_eq!(written, 4);
    assert!(test.sh("ip link show nt0").contains("mtu 1300"));
}

#[test]
fn a_deleted_name_keeps_the_namespace_its_handle_holds() {
    if !require_root("a_deleted_name_keeps_the_namespace_its_handle_holds") {
        return;
    }
    let name = format!("ntk-files-{}", std::process::id());
    let ip = |args: &[&str]| {
        let status = std::process::Command::new("ip").args(args).status();
        assert!(status.is_ok_and(|s| s.success()), "ip {args:?}");
    };
    ip(&["netns", "add", &name]);
    ip(&[
        "netns",
        "exec",
        &name,
        "sysctl",
        "-qw",
        "net.ipv4.tcp_keepalive_time=55",
    ]);
    let ns = NetNs::open(&name).expect("open");
    assert_eq!(
        read(&ns, Tree::SysctlNet, "ipv4/tcp_keepalive_time").unwrap(),
        "55\n"
    );
    ip(&["netns", "del", &name]);
    // The handle holds the namespace: it reads the same one, not the host's.
    assert_eq!(
        read(&ns, Tree::SysctlNet, "ipv4/tcp_keepalive_time").unwrap(),
        "55\n"
    );
    // A new one under the old name is another namespace, which the handle never reads.
    ip(&["netns", "add", &name]);
    assert_eq!(
        read(&ns, Tree::SysctlNet, "ipv4/tcp_keepalive_time").unwrap(),
        "55\n"
    );
    ip(&["netns", "del", &name]);
    let err = NetNs::open(&name).unwrap_err();
    assert!(err.to_string().contains("no such namespace"), "{err}");
}

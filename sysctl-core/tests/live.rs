//! Tests against the live kernel, inside private network namespaces.
//!
//! Each test creates its own namespace (testkit) and never writes to the host's keys,
//! except global keys, which are tested by writing their own value back.

use std::collections::{BTreeMap, BTreeSet};

use nettune_core::NetNs;
use nettune_sysctl::knobs::{self, Knob, Scope, Visitor};
use nettune_sysctl::{Error, FastOpen, Key, Sysctl};
use testkit::{TestNs, require_root};

fn key(s: &str) -> Key {
    Key::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Whether this kernel lacks `key` in the initial namespace (checked in /proc/sys itself):
/// some keys exist only with a build option (`net.core.flow_limit_cpu_bitmap` needs
/// CONFIG_NET_FLOW_LIMIT).
fn absent_from_this_kernel(k: &Key) -> bool {
    !std::path::Path::new("/proc/sys").join(k.path()).exists()
}

/// A key this kernel lacks is reported as such, never as another failure.
fn assert_reported_absent(key: &str, err: &Error) {
    assert!(
        matches!(err, Error::Unsupported { reason, .. } if reason.contains("no such key")),
        "{key} is not in /proc/sys here, but the error says: {err}"
    );
    println!("{key}: not on this kernel, and reported so");
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads every typed knob and checks that its typed value formats back to the raw text.
struct ReadAll<'a> {
    sys: &'a Sysctl,
    child: bool,
    seen: BTreeSet<&'static str>,
}

impl Visitor for ReadAll<'_> {
    fn visit<K: Knob>(&mut self) {
        self.seen.insert(K::KEY);
        match self.sys.get::<K>() {
            Ok(value) => {
                let raw = self
                    .sys
                    .read_raw(&K::key())
                    .expect("raw read after typed read");
                // FastOpen: a value read from the kernel may legitimately lack base bits
                // only if someone else wrote it; ours here are defaults, so format works.
                let text = K::format(&value).unwrap_or_else(|e| panic!("{}: {e}", K::KEY));
                assert_eq!(
                    norm(&text),
                    norm(&raw),
                    "{} formats back to the kernel's text",
                    K::KEY
                );
            }
            Err(Error::Unsupported { reason, .. }) if self.child && K::SCOPE == Scope::Global => {
                assert!(reason.contains("global key"), "{}: {reason}", K::KEY);
            }
            Err(e) if !self.child && absent_from_this_kernel(&K::key()) => {
                assert_reported_absent(K::KEY, &e);
            }
            Err(e) => panic!("typed read of {} failed: {e}", K::KEY),
        }
    }
}

#[test]
fn every_typed_knob_reads_back_in_a_child_namespace() {
    if !require_root("every_typed_knob_reads_back_in_a_child_namespace") {
        return;
    }
    let ns = TestNs::new();
    read_every_knob(&ns.sysctl(), true);
}

fn read_every_knob(sys: &Sysctl, child: bool) {
    let mut v = ReadAll {
        sys,
        child,
        seen: BTreeSet::new(),
    };
    knobs::for_each(&mut v);
    assert_eq!(v.seen.len(), knobs::ALL.len());
}

#[test]
fn every_typed_knob_reads_back_in_the_initial_namespace() {
    if !require_root("every_typed_knob_reads_back_in_the_initial_namespace") {
        return;
    }
    read_every_knob(&Sysctl::new(), false);
}

/// The scope each knob declares is what the kernel shows in a child namespace: absent for
/// global keys, mode 0444 for read-only ones, writable for per-namespace ones.
#[test]
fn declared_scopes_match_the_kernel() {
    if !require_root("declared_scopes_match_the_kernel") {
        return;
    }
    let ns = TestNs::new();
    for info in knobs::ALL {
        let path = format!("/proc/sys/{}", key(info.key).path());
        let mode = ns.run(|| {
            std::fs::metadata(&path)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
        });
        match (info.scope, mode) {
            (Scope::Global, Err(_)) => {}
            (Scope::PerNamespace, Ok(m)) => {
                assert_ne!(m & 0o200, 0, "{} writable in child", info.key)
            }
            (Scope::ReadOnlyInChild | Scope::ReadOnly, Ok(m)) => {
                assert_eq!(m & 0o222, 0, "{} read-only in child", info.key);
            }
            (scope, mode) => panic!("{}: declared {scope}, kernel shows {mode:?}", info.key),
        }
    }
}

/// A different valid value for a per-namespace key, given the current one.
fn alternative(key: &str, current: &str, sys: &Sysctl) -> String {
    match key {
        "net.ipv4.tcp_congestion_control" => {
            // A child may pick only allowed algorithms.
            let allowed = sys
                .read_raw(&knobs::TcpAllowedCongestionControl::key())
                .expect("allowed");
            allowed
                .split_whitespace()
                .find(|a| *a != current)
                .expect("a second allowed algorithm")
                .to_owned()
        }
        "net.ipv4.tcp_fastopen_key" => "00000001-00000002-00000003-00000004".into(),
        "net.ipv4.tcp_rmem" => "4096 65536 8388608".into(),
        "net.ipv4.tcp_wmem" => "4096 32768 8388608".into(),
        "net.ipv4.ip_local_port_range" => "20000 40001".into(),
        "net.ipv4.tcp_tw_reuse" => if current == "1" { "0" } else { "1" }.into(),
        "net.netfilter.nf_conntrack_events" => if current == "1" { "0" } else { "1" }.into(),
        "net.ipv4.tcp_notsent_lowat" => "131072".into(),
        "net.mptcp.path_manager" => if current == "kernel" {
            "userspace"
        } else {
            "kernel"
        }
        .into(),
        "net.mptcp.scheduler" => current.into(), // this kernel has only `default`
        _ => match current {
            "0" => "1".into(),
            "1" => "0".into(),
            // One less stays inside every declared range (the ranges' tests cover the ends).
            n => (n.parse::<u64>().unwrap_or_else(|_| panic!("{key}: {n:?}")) - 1).to_string(),
        },
    }
}

/// Writes a different value to each per-namespace knob through the typed API, reads it
/// back typed, raw and with `sysctl -n`, then restores the old value.
struct WriteAll<'a> {
    ns: &'a TestNs,
    sys: Sysctl,
    done: BTreeSet<&'static str>,
}

impl Visitor for WriteAll<'_> {
    fn visit<K: Knob>(&mut self) {
        if K::SCOPE != Scope::PerNamespace {
            return;
        }
        let old = self.sys.get::<K>().unwrap_or_else(|e| panic!("{e}"));
        let old_raw = K::format(&old).expect("format old");
        let new_raw = alternative(K::KEY, &norm(&old_raw), &self.sys);
        let new = K::parse(&new_raw).unwrap_or_else(|e| panic!("{}: {e}", K::KEY));
        self.sys
            .set::<K>(new.clone())
            .unwrap_or_else(|e| panic!("set {} = {new_raw}: {e}", K::KEY));
        assert_eq!(self.sys.get::<K>().expect("read back"), new, "{}", K::KEY);
        let tool = self.ns.sh(&format!("sysctl -n {}", K::KEY));
        assert_eq!(
            norm(&tool),
            norm(&new_raw),
            "sysctl -n {} after our write",
            K::KEY
        );
        self.sys
            .set::<K>(old.clone())
            .unwrap_or_else(|e| panic!("restore {}: {e}", K::KEY));
        assert_eq!(
            self.sys.get::<K>().expect("read back"),
            old,
            "{} restored",
            K::KEY
        );
        self.done.insert(K::KEY);
    }
}

#[test]
fn every_per_namespace_knob_writes_and_reads_back() {
    if !require_root("every_per_namespace_knob_writes_and_reads_back") {
        return;
    }
    let ns = TestNs::new();
    let mut w = WriteAll {
        ns: &ns,
        sys: ns.sysctl(),
        done: BTreeSet::new(),
    };
    knobs::for_each(&mut w);
    let expected: BTreeSet<_> = knobs::ALL
        .iter()
        .filter(|k| k.scope == Scope::PerNamespace)
        .map(|k| k.key)
        .collect();
    assert_eq!(w.done, expected);
}

/// Writes a key's own value back in the initial namespace: the write path works and the
/// host's state does not change.
fn write_own_value_back(host: &Sysctl, k: &Key) {
    let own = match host.read_raw(k) {
        Err(e) if absent_from_this_kernel(k) => {
            return assert_reported_absent(&k.to_string(), &e);
        }
        read => read.expect("host read"),
    };
    host.write_raw(k, &own)
        .unwrap_or_else(|e| panic!("{k}: {e}"));
    assert_eq!(host.read_raw(k).expect("host read"), own);
}

/// Global and read-only-in-child keys: absent or refused in a child namespace, with the
/// reason; in the initial namespace, their own value written back is accepted.
#[test]
fn global_keys_write_their_own_value_back() {
    if !require_root("global_keys_write_their_own_value_back") {
        return;
    }
    let ns = TestNs::new();
    let child = ns.sysctl();
    let host = Sysctl::new();
    for info in knobs::ALL {
        let k = key(info.key);
        match info.scope {
            Scope::Global => {
                let err = child.write_raw(&k, "1").expect_err(info.key);
                assert!(
                    matches!(&err, Error::Unsupported { reason, .. } if reason.contains("global key")),
                    "{}: {err}",
                    info.key
                );
                write_own_value_back(&host, &k);
            }
            Scope::ReadOnlyInChild => {
                let own = child.read_raw(&k).expect("child read");
                let err = child.write_raw(&k, &own).expect_err(info.key);
                assert!(
                    matches!(&err, Error::PermissionDenied { reason, .. }
                        if reason.contains("read-only in a child network namespace")),
                    "{}: {err}",
                    info.key
                );
                write_own_value_back(&host, &k);
            }
            Scope::ReadOnly => {
                let own = child.read_raw(&k).expect("child read");
                let err = child.write_raw(&k, &own).expect_err(info.key);
                assert!(
                    matches!(&err, Error::PermissionDenied { reason, .. } if reason.contains("read-only")),
                    "{}: {err}",
                    info.key
                );
            }
            _ => {}
        }
    }
}

/// For every key under `net.` of a fresh namespace, `read_raw` and `sysctl -n` agree
/// (whitespace normalised), and a key we cannot read is one sysctl cannot read either.
#[test]
fn read_raw_agrees_with_sysctl_for_every_net_key() {
    if !require_root("read_raw_agrees_with_sysctl_for_every_net_key") {
        return;
    }
    let ns = TestNs::new();
    // An interface with a dot in its name, so keys with `/` in a component are covered.
    ns.sh("ip link add v0.100 type veth peer name v1.100");
    let sys = ns.sysctl();
    let keys = sys.keys(&key("net")).expect("list");
    assert!(keys.len() > 300, "only {} keys under net", keys.len());
    assert!(
        keys.iter()
            .any(|k| k.to_string() == "net.ipv4.conf.v0/100.rp_filter")
    );
    let tree: BTreeMap<Key, Result<String, Error>> = sys
        .read_tree(&key("net"))
        .expect("tree")
        .into_iter()
        .collect();
    assert_eq!(tree.len(), keys.len());

    let list: String = keys.iter().map(|k| format!("{k}\n")).collect();
    let out = ns
        .command("sh")
        .args([
            "-c",
            "while IFS= read -r k; do echo \"@@KEY $k\"; sysctl -n \"$k\" 2>&1; done",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(list.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run sysctl");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut tool: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("@@KEY ") {
            current = Some(k.to_owned());
            tool.insert(k.to_owned(), String::new());
        } else if let Some(k) = &current {
            let v = tool.entry(k.clone()).or_default();
            v.push(' ');
            v.push_str(line);
        }
    }
    assert_eq!(tool.len(), keys.len(), "sysctl answered for every key");
    let mut compared = 0;
    for k in &keys {
        let theirs = norm(&tool[&k.to_string()]);
        match (sys.read_raw(k), &tree[k]) {
            (Ok(ours), Ok(tree_value)) => {
                assert_eq!(norm(&ours), theirs, "{k}");
                assert_eq!(&ours, tree_value, "{k}: read_tree agrees with read_raw");
                compared += 1;
            }
            // procps prints nothing for a write-only key or one that reads EIO (an unset
            // IPv6 stable_secret), an error for other unreadable ones.
            (Err(e), Err(_)) => {
                let chain = nettune_core::error::report(&e);
                assert!(
                    theirs.starts_with("sysctl:")
                        || (theirs.is_empty()
                            && (chain.contains("write-only") || chain.contains("os error 5"))),
                    "{k}: we failed ({chain}) but sysctl printed {theirs:?}"
                );
            }
            (a, b) => panic!("{k}: read_raw {a:?} but read_tree {b:?}"),
        }
    }
    assert!(compared > 300, "compared {compared}");
}

#[test]
fn in_netns_writes_land_in_that_namespace_only() {
    if !require_root("in_netns_writes_land_in_that_namespace_only") {
        return;
    }
    let ns = TestNs::new();
    let host = Sysctl::new();
    let host_before = host.get::<knobs::CoreSomaxconn>().expect("host");
    let sys = Sysctl::new().in_netns(ns.netns());
    let value = if host_before == 1234 { 1235 } else { 1234 };
    // From several threads at once: each call enters the namespace itself.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| sys.set::<knobs::CoreSomaxconn>(value).expect("set"));
        }
    });
    assert_eq!(sys.get::<knobs::CoreSomaxconn>().expect("ns"), value);
    assert_eq!(
        norm(&ns.sh("sysctl -n net.core.somaxconn")),
        value.to_string()
    );
    assert_eq!(
        host.get::<knobs::CoreSomaxconn>().expect("host"),
        host_before
    );
    // The same namespace through a second handle opened by name.
    let by_name = Sysctl::new().in_netns(&NetNs::open(ns.name()).expect("open"));
    assert_eq!(
        by_name.get::<knobs::CoreSomaxconn>().expect("by name"),
        value
    );
}

#[test]
fn vlan_style_interface_keys_are_addressed_like_procps() {
    if !require_root("vlan_style_interface_keys_are_addressed_like_procps") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add v0.100 type veth peer name v0");
    let sys = ns.sysctl();
    let dotted = key("net.ipv4.conf.v0/100.rp_filter");
    let plain = key("net.ipv4.conf.v0.rp_filter");
    sys.write_raw(&dotted, "2").expect("write vlan key");
    sys.write_raw(&plain, "0").expect("write plain key");
    assert_eq!(
        norm(&ns.sh("sysctl -n net.ipv4.conf.v0/100.rp_filter")),
        "2"
    );
    assert_eq!(
        norm(&ns.sh("cat /proc/sys/net/ipv4/conf/v0.100/rp_filter")),
        "2"
    );
    assert_eq!(norm(&ns.sh("sysctl -n net.ipv4.conf.v0.rp_filter")), "0");
    let err = sys
        .read_raw(&key("net.ipv4.conf.nosuch0.rp_filter"))
        .expect_err("absent iface");
    assert!(
        err.to_string().contains("no interface \"nosuch0\""),
        "{err}"
    );
}

#[test]
fn bad_values_are_rejected_before_writing() {
    if !require_root("bad_values_are_rejected_before_writing") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let k = knobs::TcpFastopen::key();
    let before = sys.read_raw(&k).expect("read");
    for bad in ["1\0", "1\n2", &"9".repeat(5000)] {
        let err = sys.write_raw(&k, bad).expect_err("bad raw value");
        assert!(
            matches!(err, Error::InvalidValue { source: None, .. }),
            "{err}"
        );
    }
    // An empty value reaches the kernel (it empties a string key), which refuses it here.
    let err = sys.write_raw(&k, "").expect_err("empty for a number");
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                source: Some(_),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(sys.read_raw(&k).expect("read"), before);
    let err = sys
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT_NO_COOKIE)
        .expect_err("bits");
    assert!(err.to_string().contains("use 0x5"), "{err}");
    let err = sys
        .set::<knobs::TcpFastopen>(FastOpen::SERVER_ALL_LISTENERS | FastOpen::CLIENT)
        .expect_err("bits");
    assert!(
        matches!(err, Error::InvalidValue { source: None, .. }),
        "{err}"
    );
    assert_eq!(
        sys.read_raw(&k).expect("read"),
        before,
        "nothing was written"
    );

    // The kernel's own rejection is told apart from ours.
    let err = sys
        .write_raw(&knobs::TcpSack::key(), "banana")
        .expect_err("kernel rejects");
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                source: Some(_),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn congestion_control_errors_list_what_is_available_and_allowed() {
    if !require_root("congestion_control_errors_list_what_is_available_and_allowed") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let before = sys.get::<knobs::TcpCongestionControl>().expect("read");
    let err = sys
        .set::<knobs::TcpCongestionControl>("nosuchcc".parse().expect("name"))
        .expect_err("unknown algorithm");
    let available = sys
        .get::<knobs::TcpAvailableCongestionControl>()
        .expect("available");
    match &err {
        Error::CongestionControlUnavailable {
            name,
            available: listed,
            ..
        } => {
            assert_eq!(name, "nosuchcc");
            let expect: Vec<String> = available
                .as_slice()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(listed, &expect);
        }
        other => panic!("{other}"),
    }
    // An algorithm that is loaded but not in the allowed list: a child may not pick it.
    let allowed = sys
        .get::<knobs::TcpAllowedCongestionControl>()
        .expect("allowed");
    let restricted = available
        .as_slice()
        .iter()
        .find(|a| !allowed.contains(a))
        .expect("this kernel has a loaded algorithm that is not in tcp_allowed_congestion_control");
    let err = sys
        .set::<knobs::TcpCongestionControl>(restricted.clone())
        .expect_err("restricted");
    match &err {
        Error::CongestionControlNotAllowed {
            name,
            allowed: listed,
            ..
        } => {
            assert_eq!(name, restricted.as_str());
            assert_eq!(listed.join(" "), allowed.to_string());
            assert!(err.to_string().contains("tcp_allowed_congestion_control"));
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        sys.get::<knobs::TcpCongestionControl>().expect("read"),
        before
    );
}

#[test]
fn netns_errors_name_the_namespace() {
    let err = NetNs::open("ntk-does-not-exist").expect_err("absent");
    let text = err.to_string();
    assert!(
        text.contains("ntk-does-not-exist") && text.contains("ip netns list"),
        "{text}"
    );
    assert!(NetNs::open("../etc").is_err());
    assert!(
        NetNs::open_path("/etc/hostname").is_err(),
        "not a namespace file"
    );
}

#[test]
fn a_tree_under_another_root_works_without_a_kernel() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("net/ipv4/conf/eth0.100")).expect("mkdir");
    std::fs::write(
        dir.path().join("net/ipv4/tcp_rmem"),
        "4096\t131072\t6291456\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("net/ipv4/conf/eth0.100/rp_filter"), "1\n").expect("write");
    let sys = Sysctl::with_root(dir.path());
    assert_eq!(sys.get::<knobs::TcpRmem>().expect("typed").max(), 6291456);
    let keys: Vec<String> = sys
        .keys(&key("net"))
        .expect("keys")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        keys,
        ["net.ipv4.conf.eth0/100.rp_filter", "net.ipv4.tcp_rmem"]
    );
    sys.write_raw(&key("net.ipv4.conf.eth0/100.rp_filter"), "2")
        .expect("write");
    assert_eq!(
        sys.read_raw(&key("net/ipv4/conf/eth0.100/rp_filter"))
            .expect("read"),
        "2"
    );
    let err = sys.read_raw(&key("net.core.rmem_max")).expect_err("absent");
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
}

#[test]
fn run_owned_enters_the_namespace_from_any_thread_and_survives_panics() {
    if !require_root("run_owned_enters_the_namespace_from_any_thread_and_survives_panics") {
        return;
    }
    let ns = NetNs::create().expect("create");
    let want = ns.inode().expect("inode");
    let here = || {
        std::fs::metadata("/proc/thread-self/ns/net")
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .expect("stat")
    };
    let outside = here();
    assert_ne!(outside, want);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert_eq!(ns.run_owned(here).expect("run_owned"), want);
                }
            });
        }
    });
    // Nested: the parked thread is busy, so the inner call takes a thread of its own.
    let inner = ns.clone();
    let nested = ns
        .run_owned(move || inner.run_owned(here))
        .expect("outer")
        .expect("inner");
    assert_eq!(nested, want);
    // A panic reaches the caller, and the handle keeps working.
    let caught = std::panic::catch_unwind(|| ns.run_owned(|| panic!("inside")));
    assert!(caught.is_err());
    assert_eq!(ns.run_owned(here).expect("after panic"), want);
    assert_eq!(here(), outside, "the calling thread never moved");
}

/// Each knob's declared range against the running kernel, in a child namespace: both ends
/// are accepted by the kernel, and (where the range is the kernel's own, not the portable
/// jiffies bound) the first value outside is refused by the kernel too; nettune refuses it
/// before writing, naming the range.
#[test]
fn declared_ranges_match_the_kernel() {
    if !require_root("declared_ranges_match_the_kernel") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let mut checked = 0;
    for info in knobs::ALL {
        let (Some((min, max)), Scope::PerNamespace) = (info.range, info.scope) else {
            continue;
        };
        let k = key(info.key);
        let Ok(own) = sys.read_raw(&k) else {
            continue; // a module that is not loaded here
        };
        for end in [min, max] {
            sys.write_raw(&k, &end.to_string())
                .unwrap_or_else(|e| panic!("{}: the kernel refused {end}: {e}", info.key));
            assert_eq!(
                sys.read_raw(&k).expect("read"),
                end.to_string(),
                "{}",
                info.key
            );
        }
        for outside in [min - 1, max + 1] {
            let ours = knobs::canonical(&k, &outside.to_string())
                .expect_err(&format!("{} accepted {outside}", info.key));
            // A negative number for an unsigned knob is refused by its type already.
            assert!(
                outside < 0 || ours.reason().contains(&format!("{min}..={max}")),
                "{}: {ours}",
                info.key
            );
            // The portable jiffies bound (INT_MAX / 1000) is below this kernel's.
            let portable = max == 2_147_483 && outside == max + 1;
            if outside >= 0 && !portable {
                let kernel = ns.exec("sysctl", &["-w", &format!("{}={outside}", info.key)]);
                assert!(
                    !kernel.status.success(),
                    "{}: the kernel took {outside}, outside the declared {min}..={max}",
                    info.key
                );
            }
        }
        sys.write_raw(&k, &own).expect("restore");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} ranges checked");
}

/// Modes refuse the numbers the kernel gives no meaning, even where the kernel stores them.
#[test]
fn undefined_modes_are_refused_before_writing() {
    for (k, bad) in [
        ("net.ipv4.tcp_timestamps", "3"),
        ("net.ipv4.tcp_timestamps", "7"),
        ("net.ipv4.tcp_tw_reuse", "3"),
        ("net.ipv4.tcp_ecn", "6"),
        ("net.ipv4.tcp_mtu_probing", "9"),
    ] {
        let err = knobs::canonical(&key(k), bad).expect_err(k);
        assert!(
            err.reason().contains("not a value the kernel defines"),
            "{k}: {err}"
        );
    }
    assert!(knobs::canonical(&key("net.ipv4.tcp_rmem"), "0 0 0").is_err());
    assert_eq!(
        knobs::canonical(&key("net.core.somaxconn"), "010")
            .ok()
            .as_deref(),
        Some("8")
    );
}

/// A removed knob says when it went and what replaces it, not "kernel too old".
#[test]
fn removed_knobs_say_so() {
    let sys = Sysctl::new();
    match sys.read_raw(&key("net.ipv4.tcp_tw_recycle")) {
        Err(Error::Unsupported { reason, .. }) => {
            assert!(
                reason.contains("removed from the kernel in Linux 4.12"),
                "{reason}"
            );
            assert!(reason.contains("tcp_tw_reuse"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    for r in knobs::REMOVED {
        assert!(
            !std::path::Path::new("/proc/sys")
                .join(key(r.key).path())
                .exists(),
            "{} is listed as removed but this kernel has it",
            r.key
        );
    }
}

/// A tree under another root stays inside it and writes whole values.
#[test]
fn a_tree_under_another_root_is_contained_and_written_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("net/ipv4")).expect("mkdir");
    std::fs::write(outside.path().join("secret"), "precious\n").expect("write");
    std::fs::create_dir_all(outside.path().join("core")).expect("mkdir");
    std::fs::write(outside.path().join("core/somaxconn"), "5\n").expect("write");
    std::os::unix::fs::symlink(
        outside.path().join("secret"),
        dir.path().join("net/ipv4/tcp_fastopen"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("net/core")).expect("symlink");
    std::fs::write(
        dir.path().join("net/ipv4/tcp_rmem"),
        "4096\t131072\t6291456\n",
    )
    .expect("write");
    let sys = Sysctl::with_root(dir.path());

    // Links out of the tree are neither read nor written, and say why.
    for k in ["net.ipv4.tcp_fastopen", "net.core.somaxconn"] {
        let err = sys.read_raw(&key(k)).expect_err(k);
        assert!(
            err.to_string().contains("leads out of the tree"),
            "{k}: {err}"
        );
        assert!(sys.write_raw(&key(k), "1").is_err(), "{k}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret")).expect("read"),
        "precious\n"
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("core/somaxconn")).expect("read"),
        "5\n"
    );
    assert!(sys.keys(&key("net.core")).is_err());
    let listed = sys.keys(&key("net")).expect("keys");
    assert_eq!(listed, [key("net.ipv4.tcp_rmem")], "links are not keys");

    // A shorter value replaces a longer one whole.
    sys.write_raw(&key("net.ipv4.tcp_rmem"), "1 2 3")
        .expect("write");
    assert_eq!(
        sys.read_raw(&key("net.ipv4.tcp_rmem")).expect("read"),
        "1 2 3"
    );
}

/// A dry run refuses a congestion control that the apply would fail on: one loaded but not
/// in the allowed list, in a child namespace.
#[test]
fn plans_refuse_a_congestion_control_a_child_may_not_pick() {
    if !require_root("plans_refuse_a_congestion_control_a_child_may_not_pick") {
        return;
    }
    let ns = TestNs::new();
    let sys = ns.sysctl();
    let allowed = sys
        .get::<knobs::TcpAllowedCongestionControl>()
        .expect("allowed");
    let restricted = ns.congestion_control_outside_allowed();
    let k = knobs::TcpCongestionControl::key();
    let reason = sys
        .refusal(&k, &restricted)
        .expect("refused before writing");
    assert!(
        reason.contains("tcp_allowed_congestion_control"),
        "{reason}"
    );
    let ok = allowed.as_slice()[0].to_string();
    assert_eq!(sys.refusal(&k, &ok), None, "{ok} is allowed");
    let mut p = nettune_sysctl::Profile::new("cc");
    p.set(knobs::TcpCongestionControl::KEY, &restricted, "test")
        .expect("set");
    let plan = p
        .plan_with(&sys, nettune_sysctl::plan::PlanOptions::skip_unsettable())
        .expect("plan");
    assert!(plan.is_empty(), "{plan}");
    assert!(
        plan.skipped()[0]
            .reason
            .contains("tcp_allowed_congestion_control")
    );
    // The kernel agrees: the write it would have made fails.
    assert!(sys.write_raw(&k, &restricted).is_err());

    // An MPTCP scheduler the kernel does not have is refused the same way, one it has is not.
    let sched = key("net.mptcp.scheduler");
    let reason = sys.refusal(&sched, "nosuchsched").expect("refused");
    assert!(reason.contains("available_schedulers"), "{reason}");
    assert!(
        ns.exec("sysctl", &["-w", "net.mptcp.scheduler=nosuchsched"])
            .status
            .code()
            != Some(0),
        "sysctl -w fails as well"
    );
    let have = ns.sh("sysctl -n net.mptcp.available_schedulers");
    let first = have.split_whitespace().next().expect("a scheduler");
    assert_eq!(sys.refusal(&sched, first), None);
}

/// Every per-interface knob, on an interface, `all` and `default` of a child namespace:
/// its value parses, a different one written through the library reads back with
/// `sysctl -n`, and the old one is restored.
#[test]
fn every_per_interface_knob_writes_and_reads_back() {
    use nettune_sysctl::conf::{self, ConfKnob, On};
    if !require_root("every_per_interface_knob_writes_and_reads_back") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add vx0.7 type veth peer name vx1");
    let sys = ns.sysctl();
    let places = [On::interface("vx0.7").expect("name"), On::All, On::Default];
    for info in conf::ALL {
        for on in &places {
            let base = format!("net.{}.conf", info.family.as_str());
            let iface = match on {
                On::All => "all".to_owned(),
                On::Default => "default".to_owned(),
                On::Interface(n) => n.replace('.', "/"),
            };
            let k = key(&format!("{base}.{iface}.{}", info.name));
            let old = sys.read_raw(&k).unwrap_or_else(|e| panic!("{k}: {e}"));
            let canon = knobs::canonical(&k, &old).unwrap_or_else(|e| panic!("{k}: {e}"));
            let new = if canon == "0" { "1" } else { "0" };
            sys.write_raw(&k, new)
                .unwrap_or_else(|e| panic!("{k}: {e}"));
            assert_eq!(ns.sh(&format!("sysctl -n {k}")).trim(), new, "{k}");
            sys.write_raw(&k, &old).expect("restore");
        }
    }
    // The typed API on an interface whose name holds a dot.
    let vlan = On::interface("vx0.7").expect("name");
    sys.set_conf::<conf::RpFilter>(&vlan, nettune_sysctl::RpFilterMode::Loose)
        .expect("set");
    assert_eq!(ns.sh("sysctl -n net.ipv4.conf.vx0/7.rp_filter").trim(), "2");
    assert_eq!(
        sys.get_conf::<conf::RpFilter>(&vlan).expect("get"),
        nettune_sysctl::RpFilterMode::Loose
    );
    // Modes without a meaning are refused before writing, though the kernel stores them.
    let err = sys
        .set_conf::<conf::ArpIgnore>(&vlan, nettune_sysctl::ArpIgnoreMode::from(5))
        .expect_err("undefined");
    assert!(err.to_string().contains("0 (any)"), "{err}");
    assert!(knobs::canonical(&conf::RpFilter::key(&On::All), "3").is_err());
    // A missing interface is named.
    let gone = On::interface("nosuch0").expect("name");
    let err = sys.get_conf::<conf::Forwarding>(&gone).expect_err("absent");
    assert!(err.to_string().contains("nosuch0"), "{err}");
}

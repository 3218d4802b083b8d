//! `nettune` end to end in private namespaces: apply, audit, rollback, `--netns`, `--json`
//! against the library, and usage errors (exit 2, nothing written).

use std::path::PathBuf;
use std::process::{Command, Output};

use nettune::sysctl::{Key, Sysctl};
use serde_json::Value;
use testkit::{TestNs, assert_same_net, require_root};

const BIN: &str = env!("CARGO_BIN_EXE_nettune");

/// The keys of the low-latency profile that a child namespace may set.
const NS_KEYS: [&str; 6] = [
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_notsent_lowat",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_fastopen",
];

fn nettune(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running nettune")
}

fn ok(args: &[&str]) -> String {
    let out = nettune(args);
    assert!(
        out.status.success(),
        "nettune {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(args: &[&str]) -> Value {
    let text = ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("nettune {args:?}: {e}\n{text}"))
}

/// `nettune --json audit` in `ns`, with its exit code checked against what it reports: 3
/// when a row differs or shows a problem or a rule fired, else 4 when a row is
/// unreadable, else 0.
fn audit_json(ns: &TestNs) -> Value {
    audit_output(&nettune(&["--netns", ns.name(), "--json", "audit"]))
}

/// An audit's JSON, its exit code checked as [`audit_json`] does.
fn audit_output(out: &Output) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    let rows: Vec<&Value> = ["sysctl", "nic", "conntrack", "mptcp", "counters"]
        .iter()
        .flat_map(|s| v[*s].as_array().into_iter().flatten())
        .collect();
    let has = |st: &str| rows.iter().any(|r| r["status"] == st);
    let fired = v["diagnoses"].as_array().is_some_and(|d| !d.is_empty());
    let want = if has("differs") || has("problem") || fired {
        3
    } else if has("unreadable") {
        4
    } else {
        0
    };
    assert_eq!(out.status.code(), Some(want), "{v}");
    v
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nettune-cli-{}-{name}", std::process::id()))
}

fn host_values() -> Vec<String> {
    let sys = Sysctl::new();
    NS_KEYS
        .iter()
        .map(|k| sys.read_raw(&Key::new(k).expect("key")).expect("host read"))
        .collect()
}

#[test]
fn apply_audit_rollback_in_a_namespace() {
    if !require_root("apply_audit_rollback_in_a_namespace") {
        return;
    }
    let ns = TestNs::new();
    let bystander = TestNs::new();
    let host_before = host_values();
    let bystander_before = bystander.net_snapshot();
    let before = ns.net_snapshot();
    let undo = tmp("undo.json");
    let undo_s = undo.to_str().expect("path");

    let out = ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        "low-latency",
        "--undo",
        undo_s,
    ]);
    // The child namespace cannot set the global keys: listed as skipped, with the reason.
    assert!(
        out.contains("skip sysctl net.core.rmem_max: the key is read-only in a child"),
        "{out}"
    );
    assert!(out.contains("journal:"), "{out}");
    let sys = ns.sysctl();
    for k in NS_KEYS {
        let live = sys.read_raw(&Key::new(k).expect("key")).expect("read");
        let want = nettune::sysctl::Profile::low_latency()
            .entries()
            .iter()
            .find(|e| e.key().to_string() == k)
            .map(|e| e.value().to_owned())
            .expect(k);
        assert_eq!(live.trim(), want, "{k}");
    }
    // Only that namespace changed.
    assert_eq!(host_values(), host_before, "the host's values moved");
    assert_same_net(&bystander_before, &bystander.net_snapshot());

    // The journal records the namespace: its name, and what names it for good.
    let journal = nettune::Journal::open(&undo).expect("journal");
    assert_eq!(journal.netns_name(), Some(ns.name()));
    assert_eq!(journal.netns(), ns.netns().id().expect("id"));
    assert!(journal.is_committed());

    // The audit reports no drift for what was applied.
    let audit = audit_json(&ns);
    let rows = audit["sysctl"].as_array().expect("sysctl rows");
    for k in NS_KEYS {
        let row = rows.iter().find(|r| r["item"] == k).expect(k);
        assert_eq!(row["status"], "ok", "{k}: {row}");
    }
    assert_eq!(audit["written"], false);

    // Rollback finds the namespace from the file and restores the snapshot exactly.
    let out = ok(&["rollback", undo_s]);
    assert!(
        out.contains("sysctl net.ipv4.tcp_keepalive_time: restored"),
        "{out}"
    );
    assert!(!undo.exists(), "a complete rollback removes the journal");
    assert_same_net(&before, &ns.net_snapshot());
    assert_eq!(host_values(), host_before);
    let _ = std::fs::remove_file(&undo);
}

#[test]
fn strict_refuses_before_writing() {
    if !require_root("strict_refuses_before_writing") {
        return;
    }
    let ns = TestNs::new();
    let before = ns.net_snapshot();
    let out = nettune(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        "low-latency",
        "--strict",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a refused plan is a usage error"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refuses")
            && err.contains("net.core.rmem_max")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert_same_net(&before, &ns.net_snapshot());
}

#[test]
fn nic_and_mptcp_sections_apply_and_roll_back() {
    if !require_root("nic_and_mptcp_sections_apply_and_roll_back") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add v0 numrx 4 numtx 4 type veth peer name v1 numrx 4 numtx 4 && ip link set v0 up && ip link set v1 up");
    // Everything but the carrier, which a channel change bounces.
    let show = |ns: &TestNs| {
        let mut v = json(&["--netns", ns.name(), "--json", "nic", "show", "v0"]);
        if let Some(o) = v[0].as_object_mut() {
            o.remove("link_up");
        }
        v
    };
    let limits = |ns: &TestNs| json(&["--netns", ns.name(), "--json", "mptcp", "limits"]);
    let nic_before = show(&ns);
    let limits_before = limits(&ns);
    let profile = tmp("nic.toml");
    std::fs::write(
        &profile,
        "name = \"nic test\"\nbase = \"low-latency\"\n\
         [nic.v0]\noffloads = { tso = false, gro = true }\nchannels = { rx = 2 }\n\
         [mptcp]\nlimits = { subflows = 4, add_addr_accepted = 3 }\n",
    )
    .expect("write profile");
    let undo = tmp("nic-undo.json");
    ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        profile.to_str().expect("path"),
        "--undo",
        undo.to_str().expect("path"),
    ]);
    // Read back through the library, not the command.
    let nic = nettune::nic::Nic::open_in(ns.netns(), "v0").expect("open v0");
    let f = nic.features().expect("features");
    assert!(!f.get("tx-tcp-segmentation").expect("tso").active);
    assert!(f.get("rx-gro").expect("gro").active);
    assert_eq!(nic.channels().expect("channels").rx, 2);
    let pm = nettune::mptcp::PathManager::open_in(ns.netns()).expect("pm");
    let l = pm.limits().expect("limits");
    assert_eq!((l.subflows, l.add_addr_accepted), (4, 3));
    // The command's JSON agrees with the library.
    let shown = show(&ns);
    assert_eq!(shown[0]["features"]["tx-tcp-segmentation"]["active"], false);
    assert_eq!(shown[0]["channels"]["rx"], 2);
    assert_eq!(limits(&ns)["subflows"], 4);

    ok(&["rollback", undo.to_str().expect("path")]);
    assert_eq!(show(&ns), nic_before);
    assert_eq!(limits(&ns), limits_before);
    let _ = std::fs::remove_file(&undo);
    let _ = std::fs::remove_file(&profile);
}

#[test]
fn json_output_matches_the_library() {
    if !require_root("json_output_matches_the_library") {
        return;
    }
    let ns = TestNs::new();
    ns.enable_conntrack();
    ns.sh("ping -c 2 -i 0.2 127.0.0.1 >/dev/null");
    let sys = ns.sysctl();
    let read = |k: &str| sys.read_raw(&Key::new(k).expect("key")).expect("read");

    let got = json(&[
        "--netns",
        ns.name(),
        "--json",
        "sysctl",
        "get",
        "net.ipv4.tcp_rmem",
        "net.core.somaxconn",
    ]);
    assert_eq!(got["net.ipv4.tcp_rmem"], read("net.ipv4.tcp_rmem"));
    assert_eq!(got["net.core.somaxconn"], read("net.core.somaxconn"));

    let list = json(&["--netns", ns.name(), "--json", "sysctl", "list", "net.ipv4"]);
    let tree = sys
        .read_tree(&Key::new("net.ipv4").expect("key"))
        .expect("tree");
    let readable: Vec<_> = tree.iter().filter(|(_, v)| v.is_ok()).collect();
    assert_eq!(
        list.as_object().expect("object").len(),
        readable.len(),
        "one entry per readable key"
    );
    assert_eq!(
        list["net.ipv4.tcp_congestion_control"],
        read("net.ipv4.tcp_congestion_control")
    );

    let ct = nettune::conntrack::Conntrack::open_in(ns.netns()).expect("conntrack");
    let count = json(&["--netns", ns.name(), "--json", "conntrack", "count"]);
    let lib = ct.count().expect("count");
    assert!(lib.entries >= 1, "ping was tracked");
    assert_eq!(count["entries"], lib.entries);
    assert_eq!(count["max"], lib.max);
    let listed = json(&["--netns", ns.name(), "--json", "conntrack", "list"]);
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), lib.entries as usize);
    let dumped: Vec<nettune::conntrack::Entry> = ct
        .dump(&nettune::conntrack::Filter::new())
        .expect("dump")
        .map(|e| e.expect("entry"))
        .collect();
    for e in &dumped {
        let row = listed
            .iter()
            .find(|r| r["id"] == e.id.expect("id"))
            .expect("every entry listed");
        assert_eq!(row["original"]["src"], e.original.src.to_string());
        assert_eq!(row["mark"], e.mark.unwrap_or_default());
        if let Some(icmp) = e.original.icmp {
            assert_eq!(row["original"]["icmp"]["type"], icmp.ty);
            assert_eq!(row["original"]["icmp"]["id"], icmp.id);
        }
    }
    assert!(
        listed.iter().any(|r| r["original"]["icmp"]["type"] == 8),
        "the echo request: {listed:?}"
    );
    // The table as text, line for line what `conntrack -L` prints (from `src=` on: the
    // timeout column ticks between the two reads).
    let tail = |text: &str| {
        let mut lines: Vec<String> = text
            .lines()
            .filter_map(|l| {
                l.find("src=")
                    .map(|i| l[i..].split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .collect();
        lines.sort();
        lines
    };
    let ours = ok(&["--netns", ns.name(), "conntrack", "list"]);
    let theirs = ns.sh("conntrack -L 2>/dev/null");
    assert_eq!(tail(&ours), tail(&theirs));
    assert!(!tail(&ours).is_empty());
    let stats = json(&["--netns", ns.name(), "--json", "conntrack", "stats"]);
    assert_eq!(
        stats.as_array().expect("array").len(),
        ct.stats().expect("stats").len()
    );

    let pm = nettune::mptcp::PathManager::open_in(ns.netns()).expect("pm");
    pm.set_limits(3, 1).expect("set limits");
    let limits = json(&["--netns", ns.name(), "--json", "mptcp", "limits"]);
    assert_eq!(limits["subflows"], 3);
    assert_eq!(limits["add_addr_accepted"], 1);

    let nic = nettune::nic::Nic::open_in(ns.netns(), "lo").expect("lo");
    let shown = json(&["--netns", ns.name(), "--json", "nic", "show", "lo"]);
    for f in nic.features().expect("features").iter() {
        assert_eq!(
            shown[0]["features"][f.name]["active"], f.active,
            "{}",
            f.name
        );
    }

    let bdp = json(&["--json", "bdp", "--bandwidth", "10gbit", "--rtt", "10ms"]);
    assert_eq!(bdp["bdp_bytes"], 12_500_000);
    let p = json(&["--json", "profile", "show", "low-latency"]);
    assert_eq!(
        p["sysctl"].as_array().expect("array").len(),
        nettune::sysctl::Profile::low_latency().entries().len()
    );
}

#[test]
fn emitted_profiles_load_again() {
    let file = tmp("emitted.toml");
    for name in ["low-latency", "throughput", "conntrack-heavy"] {
        let toml = ok(&["profile", "show", name, "--emit", "toml"]);
        std::fs::write(&file, &toml).expect("write");
        let sorted = |v: Value| {
            let mut rows = v["sysctl"].as_array().cloned().unwrap_or_default();
            rows.sort_by_key(|r| r["key"].to_string());
            rows
        };
        let a = sorted(json(&["--json", "profile", "show", name]));
        let b = sorted(json(&[
            "--json",
            "profile",
            "show",
            file.to_str().expect("path"),
        ]));
        assert!(!a.is_empty(), "{name}");
        assert_eq!(a, b, "{name}");
    }
    let _ = std::fs::remove_file(&file);
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    if !require_root("bad_input_exits_2_and_writes_nothing") {
        return;
    }
    let ns = TestNs::new();
    let before = ns.net_snapshot();
    let cases: [(&str, &str); 6] = [
        ("not toml", "this is = = not toml"),
        ("unknown section", "[sysctls]\n\"net.core.somaxconn\" = 1\n"),
        (
            "bad value",
            "[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = \"soon\"\n\"net.ipv4.tcp_keepalive_probes\" = 4\n",
        ),
        ("unknown base", "base = \"fastest\"\n"),
        ("bad offload", "[nic.lo]\noffloads = { warp = true }\n"),
        (
            "missing interface",
            "[sysctl]\n\"net.ipv4.tcp_keepalive_probes\" = 4\n[nic.nope0]\noffloads = { gro = false }\n",
        ),
    ];
    let file = tmp("bad.toml");
    for (what, text) in cases {
        std::fs::write(&file, text).expect("write");
        let out = nettune(&[
            "--netns",
            ns.name(),
            "apply",
            "--profile",
            file.to_str().expect("path"),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.starts_with("nettune: "), "{what}: {err}");
        assert_same_net(&before, &ns.net_snapshot());
    }
    let _ = std::fs::remove_file(&file);
    for args in [
        &["--netns", ns.name(), "frobnicate"][..],
        &[
            "--netns",
            ns.name(),
            "sysctl",
            "set",
            "net.ipv4.tcp_keepalive_time",
        ],
        &["--netns", ns.name(), "sysctl", "get", "net..bad"],
        &[
            "--netns",
            "no-such-ns-here",
            "sysctl",
            "get",
            "net.core.somaxconn",
        ],
        &["--netns", ns.name(), "nic", "set", "lo", "gro=maybe"],
        &[
            "--netns",
            ns.name(),
            "bdp",
            "--bandwidth",
            "fast",
            "--rtt",
            "1ms",
        ],
        &["--netns", ns.name(), "mptcp", "limits", "--set", "3"],
        &["--netns", ns.name(), "conntrack", "list", "--mark", "x"],
        &[
            "--netns",
            ns.name(),
            "apply",
            "--profile",
            "no-such-profile",
        ],
    ] {
        let out = nettune(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} said nothing");
    }
    assert_same_net(&before, &ns.net_snapshot());
}

/// The kernel's own absolute count of `name` in `ns`, through iproute2's nstat.
fn nstat(ns: &TestNs, name: &str) -> String {
    let out = ns.sh(&format!("nstat -asz {name}"));
    out.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_owned()
}

/// Runs `nettune args...` while `load` runs over and over in the test, until it exits.
fn nettune_under_load(args: &[&str], mut load: impl FnMut()) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn nettune");
    while child.try_wait().expect("wait").is_none() {
        load();
    }
    child.wait_with_output().expect("output")
}

#[test]
fn audit_shows_totals_since_boot_as_such_and_rates_over_an_interval_as_problems() {
    if !require_root("audit_shows_totals_since_boot_as_such_and_rates_over_an_interval_as_problems")
    {
        return;
    }
    let ns = TestNs::new();
    let (rx, tx) = ns.run(|| {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        (rx, tx)
    });
    let to = rx.local_addr().expect("addr");
    // Overflow a UDP receive buffer that nobody reads.
    let sent = (0..4000)
        .filter(|_| tx.send_to(&[7u8; 1400], to).is_ok())
        .count();
    assert!(sent > 0);
    let row = |audit: &Value, item: &str| {
        audit["counters"]
            .as_array()
            .expect("counters")
            .iter()
            .find(|r| r["item"] == item)
            .cloned()
            .unwrap_or_else(|| panic!("no {item}"))
    };
    // Since boot: the kernel's total, shown as such, and not a problem.
    let audit = audit_json(&ns);
    assert!(audit["interval_secs"].is_null());
    let errors = row(&audit, "Udp.RcvbufErrors");
    assert_eq!(errors["status"], "info", "{errors}");
    assert_eq!(
        errors["current"],
        format!("{} since boot", nstat(&ns, "UdpRcvbufErrors"))
    );
    assert_ne!(nstat(&ns, "UdpRcvbufErrors"), "0");
    assert!(
        audit["diagnoses"]
            .as_array()
            .expect("diagnoses")
            .iter()
            .all(|d| d["rule"] != "udp-rcvbuf"),
        "{audit}"
    );

    // Over an interval while the sender goes on: a problem now, and the rule fires.
    let out = nettune_under_load(
        &[
            "--netns",
            ns.name(),
            "--json",
            "audit",
            "--interval",
            "500ms",
        ],
        || {
            let _ = tx.send_to(&[7u8; 1400], to);
        },
    );
    let audit = audit_output(&out);
    assert_eq!(out.status.code(), Some(3));
    assert!(audit["interval_secs"].as_f64().is_some_and(|s| s >= 0.5));
    let errors = row(&audit, "Udp.RcvbufErrors");
    assert_eq!(errors["status"], "problem", "{errors}");
    let d = audit["diagnoses"]
        .as_array()
        .expect("diagnoses")
        .iter()
        .find(|d| d["rule"] == "udp-rcvbuf")
        .cloned()
        .expect("udp-rcvbuf fired");
    let delta = d["evidence"][0]["delta"].as_u64().expect("delta");
    assert!(delta > 0, "{d}");
    assert_eq!(d["evidence"][0]["signal"], "Udp.RcvbufErrors");
    // A child namespace cannot set net.core.rmem_*: no advice, and why.
    assert!(d["advice"].is_null(), "{d}");
    assert!(
        d["caveat"]
            .as_str()
            .is_some_and(|c| c.contains("rmem_default")),
        "{d}"
    );
    let overflows = row(&audit, "TcpExt.ListenOverflows");
    assert_eq!(overflows["status"], "ok");
    drop(rx);
}

#[test]
fn audit_advice_is_a_profile_that_apply_takes_and_rollback_undoes() {
    if !require_root("audit_advice_is_a_profile_that_apply_takes_and_rollback_undoes") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("sysctl -qw net.core.somaxconn=2");
    let dir = tempfile::tempdir().expect("tempdir");
    let advice = dir.path().join("advice.toml");
    let listener = ns.run(|| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
    let addr = listener.local_addr().expect("addr");
    let mut clients = Vec::new();
    let out = nettune_under_load(
        &[
            "--netns",
            ns.name(),
            "audit",
            "--profile",
            "low-latency",
            "--interval",
            "500ms",
            "--advice",
            advice.to_str().expect("path"),
        ],
        || {
            if clients.len() < 200 {
                clients.push(ns.run(|| {
                    let s =
                        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                            .expect("socket");
                    s.set_nonblocking(true).expect("nonblocking");
                    let _ = s.connect(&addr.into());
                    s
                }));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        },
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("diagnosis tcp-listen-overflow:"), "{text}");
    assert!(
        text.contains("evidence: TcpExt.ListenOverflows +"),
        "{text}"
    );
    let fragment = std::fs::read_to_string(&advice).expect("advice written");
    assert!(fragment.contains("net.core.somaxconn"), "{fragment}");
    drop((listener, clients));

    let journal = dir.path().join("j");
    ok(&[
        "--netns",
        ns.name(),
        "apply",
        "--profile",
        advice.to_str().expect("path"),
        "--journal",
        journal.to_str().expect("path"),
    ]);
    let now: u64 = ns
        .sh("sysctl -n net.core.somaxconn")
        .trim()
        .parse()
        .expect("number");
    assert!(now >= 4, "somaxconn {now}");
    ok(&["rollback", journal.to_str().expect("path")]);
    assert_eq!(ns.sh("sysctl -n net.core.somaxconn").trim(), "2");
}

#[test]
fn rollback_refuses_another_namespace() {
    if !require_root("rollback_refuses_another_namespace") {
        return;
    }
    let ns = TestNs::new();
    let undo = tmp("elsewhere.json");
    let undo_s = undo.to_str().expect("path");
    // Applied from inside the namespace, without --netns: the file names no namespace,
    // but the undo log knows which one it was.
    let out = ns.exec(
        BIN,
        &["apply", "--profile", "low-latency", "--undo", undo_s],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied = ns.net_snapshot();
    let host_before = host_values();
    // Rolled back from the host's namespace: refused, nothing touched anywhere.
    let out = nettune(&["rollback", undo_s]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("namespace"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(host_values(), host_before);
    assert_same_net(&applied, &ns.net_snapshot());
    // From inside, it works.
    let out = ns.exec(BIN, &["rollback", undo_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&undo);
}

#[test]
fn conntrack_watch_prints_json_lines() {
    if !require_root("conntrack_watch_prints_json_lines") {
        return;
    }
    let ns = TestNs::new();
    ns.enable_conntrack();
    let mut child = Command::new(BIN)
        .args([
            "--netns",
            ns.name(),
            "--json",
            "conntrack",
            "watch",
            "--count",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Ping until the watcher has seen an event (it may subscribe after the first one).
    let mut status = None;
    for _ in 0..50 {
        ns.sh("ping -c 1 -W 1 127.0.0.1 >/dev/null");
        status = child.try_wait().expect("wait");
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if status.is_none() {
        let _ = child.kill();
        panic!("no event within 50 pings");
    }
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().expect("one line");
    let v: Value = serde_json::from_str(line).expect("a JSON object per line");
    assert_eq!(v["event"], "new", "{line}");
    assert_eq!(v["entry"]["original"]["icmp"]["type"], 8, "{line}");
    assert_eq!(v["entry"]["original"]["dst"], "127.0.0.1", "{line}");
}

/// The kernel resolves /proc/sys against the namespace of the thread that looks a path up,
/// and a lookup from a thread of another namespace leaves a dentry behind that slows every
/// later lookup of the name. Every /proc/sys lookup of a `--netns` run is made by a thread
/// inside the namespace; the main thread only reads and writes files already open.
#[test]
fn no_proc_sys_lookup_leaves_the_namespace() {
    if !require_root("no_proc_sys_lookup_leaves_the_namespace") {
        return;
    }
    let ns = TestNs::new();
    let trace = tmp("lookups.trace");
    let journal = tmp("lookups.journal");
    let out = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,newfstatat,statx,pwrite64,pread64",
            "-o",
        ])
        .arg(&trace)
        .arg(BIN)
        .args([
            "--netns",
            ns.name(),
            "apply",
            "--profile",
            "low-latency",
            "--journal",
        ])
        .arg(&journal)
        .output()
        .expect("strace (installed by .ci/run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).expect("trace");
    let main = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .expect("a traced call")
        .to_owned();
    let by_main = |call: &str| {
        text.lines()
            .filter(|l| l.split_whitespace().next() == Some(main.as_str()))
            .filter(|l| l.contains(call))
            .count()
    };
    let lookups: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("\"/proc/sys/net") && l.split_whitespace().next() == Some(main.as_str())
        })
        .collect();
    assert!(
        lookups.is_empty(),
        "the main thread looked up /proc/sys/net: {lookups:#?}"
    );
    // The work itself was done from the main thread, through the files kept open.
    assert!(by_main("pwrite64(") >= 3, "{text}");
    assert!(by_main("pread64(") >= 6, "{text}");
    ok(&["rollback", journal.to_str().expect("path")]);
    let _ = std::fs::remove_file(&trace);
}

/// A directory of sysctl.d files for one test.
fn conf_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write conf");
    }
    dir
}

/// The values of `keys` in `ns`, as procps prints them.
fn procps_values(ns: &TestNs, keys: &[&str]) -> String {
    ns.sh(&format!("sysctl {}", keys.join(" ")))
}

#[test]
fn sysctl_load_agrees_with_sysctl_p_and_rolls_back() {
    if !require_root("sysctl_load_agrees_with_sysctl_p_and_rolls_back") {
        return;
    }
    let (ours, theirs) = (TestNs::new(), TestNs::new());
    let dir = conf_dir(
        "load",
        &[
            (
                "10-first.conf",
                "net.ipv4.tcp_keepalive_time = 77\n\
                 net.ipv4.tcp_keepalive_probes = 4\n\
                 # octal, as the kernel reads it: 8\n\
                 net.ipv4.tcp_keepalive_intvl = 010\n\
                 net.ipv4.conf.all.arp_announce = 2\n\
                 net.ipv4.ip_local_reserved_ports = 8080,8081\n\
                 -net.ipv4.no_such_knob = 1\n",
            ),
            (
                "20-second.conf",
                "net.ipv4.tcp_keepalive_probes = 6\nnet.ipv4.tcp_fin_timeout = 0x10\n",
            ),
        ],
    );
    let files = [
        dir.join("10-first.conf").display().to_string(),
        dir.join("20-second.conf").display().to_string(),
    ];
    let keys = [
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.conf.all.arp_announce",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_fin_timeout",
    ];
    let before = ours.net_snapshot();

    // A dry run plans and writes nothing.
    let mut args = vec!["--netns", ours.name(), "sysctl", "load", "--dry-run"];
    args.extend(files.iter().map(String::as_str));
    let dry = ok(&args);
    assert!(dry.contains("nothing was written"), "{dry}");
    assert_same_net(&before, &ours.net_snapshot());

    // The apply leaves the namespace as procps leaves a twin.
    let journal = tmp("load.journal");
    let _ = std::fs::remove_file(&journal);
    let journal_arg = journal.display().to_string();
    let mut args = vec![
        "--netns",
        ours.name(),
        "sysctl",
        "load",
        "--journal",
        &journal_arg,
    ];
    args.extend(files.iter().map(String::as_str));
    let out = ok(&args);
    assert!(out.contains("applied"), "{out}");
    // -e: procps fails on the absent key that systemd-sysctl skips for its `-`.
    theirs.sh(&format!("sysctl -e -q -p {} {}", files[0], files[1]));
    assert_eq!(procps_values(&ours, &keys), procps_values(&theirs, &keys));
    assert_eq!(
        ours.sh("sysctl -n net.ipv4.tcp_keepalive_intvl").trim(),
        "8",
        "010 is 8 to the kernel"
    );
    assert_eq!(
        ours.sh("sysctl -n net.ipv4.tcp_fin_timeout").trim(),
        "16",
        "0x10 is 16 to the kernel"
    );

    // Loading again changes nothing; the rollback restores the baseline.
    let again = ok(&args);
    assert!(again.contains("applied 0 change(s)"), "{again}");
    ok(&["rollback", &journal_arg]);
    assert_same_net(&before, &ours.net_snapshot());
    let _ = std::fs::remove_file(&journal);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sysctl_load_refuses_malformed_lines_and_host_keys() {
    if !require_root("sysctl_load_refuses_malformed_lines_and_host_keys") {
        return;
    }
    let ns = TestNs::new();
    let dir = conf_dir(
        "load-bad",
        &[
            (
                "bad.conf",
                "net.ipv4.tcp_keepalive_time = 99\nthis line has no equals sign\n",
            ),
            (
                "host.conf",
                "kernel.sysrq = 1\nnet.core.netdev_max_backlog = 5000\nnet.ipv4.tcp_keepalive_time = 98\n",
            ),
        ],
    );
    let before = ns.net_snapshot();
    let bad = dir.join("bad.conf").display().to_string();
    let out = nettune(&["--netns", ns.name(), "sysctl", "load", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.conf:2:") && err.contains("nothing was written"),
        "{err}"
    );
    assert_same_net(&before, &ns.net_snapshot());

    // Keys that are not the namespace's refuse the load, or are left out when asked.
    let host = dir.join("host.conf").display().to_string();
    let out = nettune(&["--netns", ns.name(), "sysctl", "load", &host]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kernel.sysrq"), "{err}");
    assert_same_net(&before, &ns.net_snapshot());
    let journal = tmp("load-host.journal");
    let journal_arg = journal.display().to_string();
    let out = nettune(&[
        "--netns",
        ns.name(),
        "sysctl",
        "load",
        "--net-only",
        "--journal",
        &journal_arg,
        &host,
    ]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kernel.sysrq: left out")
            && err.contains("net.core.netdev_max_backlog: left out"),
        "{err}"
    );
    assert_eq!(ns.sh("sysctl -n net.ipv4.tcp_keepalive_time").trim(), "98");
    ok(&["rollback", &journal_arg]);
    assert_same_net(&before, &ns.net_snapshot());
    let _ = std::fs::remove_file(&journal);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sysctl_load_system_and_origin_follow_systemd_precedence() {
    if !require_root("sysctl_load_system_and_origin_follow_systemd_precedence") {
        return;
    }
    let ns = TestNs::new();
    let etc = conf_dir(
        "etc",
        &[("50-net.conf", "net.ipv4.tcp_keepalive_intvl = 11\n")],
    );
    let usr = conf_dir(
        "usr",
        &[
            // Masked by /etc's file of the same name.
            ("50-net.conf", "net.ipv4.tcp_keepalive_intvl = 22\n"),
            (
                "60-more.conf",
                "net.ipv4.tcp_keepalive_probes = 5\nnet.ipv4.conf.*.rp_filter = 2\nnet.ipv4.tcp_keepalive_probes = 7\n",
            ),
        ],
    );
    let (etc_arg, usr_arg) = (etc.display().to_string(), usr.display().to_string());
    let dirs = ["--config-dir", &etc_arg, "--config-dir", &usr_arg];

    let mut args = vec!["--netns", ns.name(), "sysctl", "origin"];
    args.extend(dirs);
    args.extend([
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.conf.lo.rp_filter",
    ]);
    let out = ok(&args);
    let etc_file = etc.join("50-net.conf").display().to_string();
    let more = usr.join("60-more.conf").display().to_string();
    assert!(
        out.contains(&format!(
            "net.ipv4.tcp_keepalive_intvl = 11  ({etc_file}:1)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("net.ipv4.tcp_keepalive_probes = 7  ({more}:3)")),
        "{out}"
    );
    assert!(
        out.contains(&format!("net.ipv4.conf.lo.rp_filter = 2  ({more}:2)")),
        "{out}"
    );
    args.push("net.ipv4.tcp_fin_timeout");
    let out = nettune(&args);
    assert_eq!(out.status.code(), Some(1), "a key set by no file");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("net.ipv4.tcp_fin_timeout: set by no file")
    );

    let journal = tmp("system.journal");
    let journal_arg = journal.display().to_string();
    let mut args = vec![
        "--netns",
        ns.name(),
        "sysctl",
        "load",
        "--journal",
        &journal_arg,
    ];
    args.extend(dirs);
    let before = ns.net_snapshot();
    ok(&args);
    assert_eq!(
        ns.sh("sysctl -n net.ipv4.tcp_keepalive_intvl net.ipv4.tcp_keepalive_probes net.ipv4.conf.lo.rp_filter net.ipv4.conf.all.rp_filter"),
        "11\n7\n2\n2\n"
    );
    ok(&["rollback", &journal_arg]);
    assert_same_net(&before, &ns.net_snapshot());
    let _ = std::fs::remove_file(&journal);
    let _ = std::fs::remove_dir_all(&etc);
    let _ = std::fs::remove_dir_all(&usr);
}

#[test]
fn sysctl_get_and_list_as_procps() {
    if !require_root("sysctl_get_and_list_as_procps") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("sysctl -qw net.ipv4.tcp_keepalive_time=123 net.ipv4.conf.lo.rp_filter=1");
    // -n: values only.
    let out = ok(&[
        "--netns",
        ns.name(),
        "sysctl",
        "get",
        "-n",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.conf.lo.rp_filter",
    ]);
    assert_eq!(out, "123\n1\n");
    // A missing key is named, the others still printed, and the exit code is 1; a name
    // that is not a key at all makes it 2.
    for (bad, code) in [(None, 1), (Some("bad..key"), 2)] {
        let mut args = vec![
            "--netns",
            ns.name(),
            "sysctl",
            "get",
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.no_such_knob",
        ];
        args.extend(bad);
        args.push("net.ipv4.conf.lo.rp_filter");
        let out = nettune(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "net.ipv4.tcp_keepalive_time = 123\nnet.ipv4.conf.lo.rp_filter = 1\n"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no_such_knob") && err.contains(bad.unwrap_or("no_such_knob")),
            "{err}"
        );
        let failed = format!("{} of {}", 1 + bad.iter().count(), 3 + bad.iter().count());
        assert!(err.contains(&failed), "{err}");
    }
    let procps = ns.exec(
        "sysctl",
        &["net.ipv4.tcp_keepalive_time", "net.ipv4.no_such_knob"],
    );
    assert_eq!(procps.status.code(), Some(1), "procps exits 1 too");

    // A glob lists what procps' --pattern lists.
    let ours = ok(&[
        "--netns",
        ns.name(),
        "sysctl",
        "list",
        "net.ipv4.conf.*.rp_filter",
    ]);
    let theirs = ns.sh("sysctl -a --pattern '^net\\.ipv4\\.conf\\.[^.]+\\.rp_filter$' 2>/dev/null");
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&ours), sorted(&theirs));
    assert!(ours.lines().count() >= 3, "all, default, lo: {ours}");
    let below = ok(&["--netns", ns.name(), "sysctl", "list", "net.ipv4.conf.l?"]);
    assert!(below.contains("net.ipv4.conf.lo.rp_filter = 1"), "{below}");
    assert!(
        below.lines().all(|l| l.starts_with("net.ipv4.conf.lo.")),
        "{below}"
    );
    let out = nettune(&["sysctl", "list", "*"]);
    assert_eq!(out.status.code(), Some(2), "the whole tree by accident");
}

#[test]
fn netns_by_name_path_or_pid() {
    if !require_root("netns_by_name_path_or_pid") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("sysctl -qw net.ipv4.tcp_keepalive_time=321");
    let mut sleeper = ns.command("sleep").arg("60").spawn().expect("sleep");
    // `ip netns exec` enters the namespace, then execs sleep: wait for the switch.
    let pid = sleeper.id();
    let pid_arg = format!("pid:{pid}");
    let path = format!("/run/netns/{}", ns.name());
    let ours = std::fs::read_link("/proc/self/ns/net").expect("own namespace");
    for _ in 0..250 {
        if std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| n != ours) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for spec in [ns.name(), path.as_str(), pid_arg.as_str()] {
        let out = ok(&[
            "--netns",
            spec,
            "sysctl",
            "get",
            "-n",
            "net.ipv4.tcp_keepalive_time",
        ]);
        assert_eq!(out, "321\n", "--netns {spec}");
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    for (spec, says) in [
        ("pid:abc", "not a process id"),
        ("pid:999999999", "pid 999999999"),
        ("/etc/hostname", "not a network namespace"),
        ("no-such-namespace-here", "no-such-namespace-here"),
    ] {
        let out = nettune(&["--netns", spec, "sysctl", "get", "net.core.somaxconn"]);
        assert_eq!(out.status.code(), Some(2), "--netns {spec}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "--netns {spec}: {err}");
    }
}

/// Signals interrupt reads: a `conntrack list` whose every fifth netlink read (and first
/// send) returns EINTR lists the whole table, as `conntrack -L` does.
#[test]
fn conntrack_list_survives_interrupted_reads() {
    if !require_root("conntrack_list_survives_interrupted_reads") {
        return;
    }
    use std::net::{IpAddr, Ipv4Addr};
    let ns = TestNs::new();
    ns.enable_conntrack();
    let ct = nettune::conntrack::Conntrack::open_in(ns.netns()).expect("conntrack");
    let n: u16 = 3000;
    for i in 0..n {
        let t = nettune::conntrack::Tuple::udp(
            IpAddr::V4(Ipv4Addr::new(10, 9, (i >> 8) as u8, i as u8)),
            1000,
            IpAddr::V4(Ipv4Addr::new(10, 250, 0, 1)),
            53,
        );
        ct.create(&nettune::conntrack::Entry::new(
            t,
            std::time::Duration::from_secs(600),
        ))
        .expect("create");
    }
    let out = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=recvfrom,sendto",
            "-e",
            "inject=recvfrom:error=EINTR:when=2+5",
            "-e",
            "inject=sendto:error=EINTR:when=1",
        ])
        .arg(BIN)
        .args(["--netns", ns.name(), "conntrack", "list"])
        .output()
        .expect("strace (installed by .ci/run)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = stdout
        .lines()
        .filter(|l| l.contains("dst=10.250.0.1"))
        .count();
    let count = ct.count().expect("count").entries;
    assert!(count >= u32::from(n), "{count}");
    assert_eq!(listed as u64, u64::from(count), "every entry, once");
}

#[test]
fn mptcp_endpoint_add_flags_del_as_ip_mptcp_shows() {
    if !require_root("mptcp_endpoint_add_flags_del_as_ip_mptcp_shows") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add me0 type veth peer name me1 && ip addr add 10.7.0.1/24 dev me0 && ip link set me0 up");
    let n = ns.name();
    let id = ok(&[
        "--netns",
        n,
        "mptcp",
        "endpoint",
        "add",
        "10.7.0.1",
        "--id",
        "3",
        "--dev",
        "me0",
        "--flags",
        "subflow,backup",
    ]);
    assert_eq!(id.trim(), "3");
    let shown = ns.sh("ip mptcp endpoint show");
    assert!(
        shown.contains("10.7.0.1 id 3 subflow backup dev me0"),
        "{shown}"
    );
    ok(&[
        "--netns",
        n,
        "mptcp",
        "endpoint",
        "flags",
        "3",
        "--backup",
        "off",
        "--fullmesh",
        "on",
    ]);
    let shown = ns.sh("ip mptcp endpoint show");
    assert!(shown.contains("id 3 subflow fullmesh"), "{shown}");
    // The same id again: a usage error naming it, nothing added.
    let out = nettune(&[
        "--netns", n, "mptcp", "endpoint", "add", "10.7.0.2", "--id", "3",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("id 3 is taken"));
    assert_eq!(ns.sh("ip mptcp endpoint show").lines().count(), 1);
    let out = nettune(&["--netns", n, "mptcp", "endpoint", "flags", "3"]);
    assert_eq!(out.status.code(), Some(2), "nothing to change");
    ok(&["--netns", n, "mptcp", "endpoint", "del", "10.7.0.1"]);
    assert!(ns.sh("ip mptcp endpoint show").trim().is_empty());
    let out = nettune(&["--netns", n, "mptcp", "endpoint", "del", "3"]);
    assert_eq!(out.status.code(), Some(2), "gone: not found");
}

/// With accounting and timestamps on, `conntrack list` prints what `conntrack -L` prints:
/// the counters after each tuple and `delta-time`, column for column (the timeout and
/// delta-time may tick between the two reads); `watch --json` shows a zero mark as 0.
#[test]
fn conntrack_list_prints_counters_and_delta_time_as_conntrack_does() {
    if !require_root("conntrack_list_prints_counters_and_delta_time_as_conntrack_does") {
        return;
    }
    let ns = TestNs::new();
    ns.enable_conntrack();
    ns.sh("sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1");
    // Kept open past the reads below.
    let _connection = ns.run(|| {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (mut s, _) = l.accept().expect("accept");
        c.write_all(b"hello").expect("write");
        let mut b = [0u8; 5];
        s.read_exact(&mut b).expect("read");
        (l, c, s)
    });
    ns.sh("ping -c 2 -i 0.2 127.0.0.1 >/dev/null");
    let norm = |text: &str| {
        let mut lines: Vec<Vec<String>> = text
            .lines()
            .filter(|l| l.contains("src="))
            .map(|l| {
                l.split_whitespace()
                    .enumerate()
                    .map(|(i, w)| {
                        if i == 2 {
                            "TIMEOUT".to_owned()
                        } else if w.starts_with("delta-time=") {
                            "delta-time=*".to_owned()
                        } else {
                            w.to_owned()
                        }
                    })
                    .collect()
            })
            .collect();
        lines.sort();
        lines
    };
    let ours = ok(&["--netns", ns.name(), "conntrack", "list"]);
    let theirs = ns.sh("conntrack -L 2>/dev/null");
    assert_eq!(
        norm(&ours),
        norm(&theirs),
        "ours:\n{ours}\ntheirs:\n{theirs}"
    );
    assert!(
        ours.contains("packets=") && ours.contains("delta-time="),
        "{ours}"
    );
    assert!(
        ours.contains("ESTABLISHED") && ours.contains("[ASSURED]"),
        "{ours}"
    );
    // The delta-times agree within the second that may pass between the reads.
    let delta = |t: &str| -> Vec<i64> {
        let mut v: Vec<i64> = t
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("delta-time="))
            .map(|n| n.parse().expect("number"))
            .collect();
        v.sort_unstable();
        v
    };
    for (a, b) in delta(&ours).iter().zip(delta(&theirs).iter()) {
        assert!((a - b).abs() <= 1, "{a} vs {b}");
    }
    // Events: a zero mark is 0, not null.
    let watch = Command::new(BIN)
        .args([
            "--netns",
            ns.name(),
            "--json",
            "conntrack",
            "watch",
            "--count",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    std::thread::sleep(std::time::Duration::from_millis(300));
    ns.sh("ping -c 1 127.0.0.2 >/dev/null");
    let out = watch.wait_with_output().expect("watch output");
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(v["event"], "new", "{v}");
    assert_eq!(v["entry"]["mark"], 0, "{v}");
}

/// `conntrack list` filters as `conntrack -L` does: a source prefix, a protocol alone
/// (both families), a port with its protocol.
#[test]
fn conntrack_list_filters_as_conntrack_does() {
    if !require_root("conntrack_list_filters_as_conntrack_does") {
        return;
    }
    use std::net::{IpAddr, Ipv4Addr};
    let ns = TestNs::new();
    let ct = nettune::conntrack::Conntrack::open_in(ns.netns()).expect("conntrack");
    for i in 0..40u8 {
        let t = if i % 4 == 0 {
            nettune::conntrack::Tuple::tcp(
                format!("fd00::{}", i + 1).parse().expect("ip"),
                1000 + u16::from(i),
                "fd00::ff".parse().expect("ip"),
                443,
            )
        } else {
            nettune::conntrack::Tuple::udp(
                IpAddr::V4(Ipv4Addr::new(10, i % 3, i, 1)),
                2000,
                IpAddr::V4(Ipv4Addr::new(10, 250, 0, 1)),
                53 + u16::from(i % 2),
            )
        };
        ct.create(&nettune::conntrack::Entry::new(
            t,
            std::time::Duration::from_secs(600),
        ))
        .expect("create");
    }
    let tuples = |text: &str| {
        let mut v: Vec<String> = text
            .lines()
            .filter_map(|l| l.find("src=").map(|i| l[i..].to_owned()))
            .collect();
        v.sort();
        v
    };
    for args in [
        vec!["-s", "10.1.0.0/16"],
        vec!["-p", "tcp"],
        vec!["-p", "udp", "--dport", "54"],
        vec!["-s", "fd00::5"],
    ] {
        let mut ours = vec!["--netns", ns.name(), "conntrack", "list"];
        ours.extend(&args);
        let ours = ok(&ours);
        let theirs = ns.sh(&format!("conntrack -L {} 2>/dev/null", args.join(" ")));
        assert_eq!(tuples(&ours), tuples(&theirs), "{args:?}");
        assert!(!tuples(&ours).is_empty(), "{args:?} selects something");
    }
    // SCTP entries carry their state, printed where conntrack prints it.
    ns.sh("conntrack -I -p sctp -s 10.9.0.1 -d 10.9.0.2 --sport 1 --dport 2 -t 600 --state ESTABLISHED --orig-vtag 7 --reply-vtag 9 2>/dev/null");
    let words = |t: &str| -> Vec<String> {
        t.lines()
            .find(|l| l.starts_with("sctp"))
            .map(|l| {
                l.split_whitespace()
                    .enumerate()
                    .filter(|(i, _)| *i != 2)
                    .map(|(_, w)| w.to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let ours = ok(&["--netns", ns.name(), "conntrack", "list", "-p", "sctp"]);
    let theirs = ns.sh("conntrack -L -p sctp 2>/dev/null");
    assert_eq!(words(&ours), words(&theirs), "{ours}\n{theirs}");
    assert!(ours.contains(" ESTABLISHED src=10.9.0.1"), "{ours}");
    let json = json(&[
        "--netns",
        ns.name(),
        "--json",
        "conntrack",
        "list",
        "-p",
        "sctp",
    ]);
    assert_eq!(json[0]["sctp_state"], "ESTABLISHED", "{json}");
    let out = nettune(&["--netns", ns.name(), "conntrack", "list", "--dport", "53"]);
    assert_eq!(out.status.code(), Some(2), "a port needs the protocol");
    let out = nettune(&[
        "--netns",
        ns.name(),
        "conntrack",
        "list",
        "-s",
        "10.0.0.0/40",
    ]);
    assert_eq!(out.status.code(), Some(2), "a prefix past the address");
}

/// `conntrack expect` lists what `conntrack -L expect` lists (an expectation made here on
/// the control connection the FTP helper follows).
#[test]
fn conntrack_expect_lists_the_expectation_table() {
    if !require_root("conntrack_expect_lists_the_expectation_table") {
        return;
    }
    use nettune::conntrack::{Expectation, Tuple};
    let ns = TestNs::new();
    let ct = nettune::conntrack::Conntrack::open_in(ns.netns()).expect("conntrack");
    let ip = |s: &str| -> std::net::IpAddr { s.parse().expect("ip") };
    let _control = ns.ftp_control_connection(51300);
    let master = ct
        .expectations()
        .expect("the helper's expectation")
        .pop()
        .expect("one")
        .master;
    let any = ip("255.255.255.255");
    ct.create_expectation(&Expectation::new(
        master,
        Tuple::tcp(ip("127.0.0.1"), 0, ip("127.0.0.1"), 5000),
        Tuple::tcp(any, 0, any, 0xffff),
        std::time::Duration::from_secs(100),
    ))
    .expect("expectation");
    let ours = ok(&["--netns", ns.name(), "conntrack", "expect"]);
    let theirs = ns.sh("conntrack -L expect 2>/dev/null");
    // The FTP helper keeps one expectation per control connection: ours replaced its own.
    assert_eq!(ours.lines().count(), 1, "{ours}");
    assert_eq!(
        theirs.lines().filter(|l| l.contains("dport=")).count(),
        1,
        "{theirs}"
    );
    assert!(
        ours.contains("dport=5000") && theirs.contains("dport=5000"),
        "{ours}\n{theirs}"
    );
    let json = json(&["--netns", ns.name(), "--json", "conntrack", "expect"]);
    let rows = json.as_array().expect("array");
    assert!(rows.iter().any(|r| r["tuple"]["dport"] == 5000), "{json}");
    assert!(rows.iter().all(|r| r["master"]["dport"] == 21), "{json}");
}

#[test]
fn nic_show_over_netlink_reads_what_the_ioctl_reads_and_stats_match_ethtool() {
    if !require_root("nic_show_over_netlink_reads_what_the_ioctl_reads_and_stats_match_ethtool") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add v0 numrx 4 numtx 4 type veth peer name v1 numrx 4 numtx 4");
    ns.add_tap("tap0");
    let show = |extra: &[&str]| {
        let mut args = vec!["--netns", ns.name(), "--json", "nic", "show", "v0", "tap0"];
        args.extend_from_slice(extra);
        let mut v = json(&args);
        let via: Vec<Value> = v
            .as_array_mut()
            .expect("array")
            .iter_mut()
            .map(|n| {
                let o = n.as_object_mut().expect("object");
                o.remove("link_up");
                o.remove("backends").expect("backends")
            })
            .collect();
        (v, via)
    };
    let (by_ioctl, via_ioctl) = show(&["--ioctl"]);
    let (by_netlink, via_netlink) = show(&[]);
    assert_eq!(by_netlink, by_ioctl, "the same values over both interfaces");
    assert_eq!(via_ioctl[0]["channels"], "ioctl");
    assert_eq!(via_netlink[0]["channels"], "netlink");
    assert_eq!(via_netlink[0]["features"], "netlink");
    assert_eq!(
        via_netlink[0]["rules"], "ioctl",
        "only the ioctl has n-tuple rules"
    );
    assert_eq!(by_ioctl[0]["link"]["speed"], 10000, "{}", by_ioctl[0]);
    assert!(by_ioctl[1]["coalesce"]["rx_frames"].is_number());
    let text = ok(&["--netns", ns.name(), "nic", "show", "v0"]);
    assert!(
        text.contains("channels=netlink") && text.contains("rules=ioctl"),
        "{text}"
    );
    let text = ok(&["--netns", ns.name(), "nic", "show", "--ioctl", "v0"]);
    assert!(
        text.contains("channels=ioctl") && text.contains("rules=ioctl"),
        "{text}"
    );

    // Driver statistics: the names ethtool -S gives, in its order.
    let stats = json(&["--netns", ns.name(), "--json", "nic", "stats", "v0"]);
    let ours: Vec<&str> = stats["driver"]
        .as_array()
        .expect("driver")
        .iter()
        .filter_map(|p| p[0].as_str())
        .collect();
    let out = ns.exec("ethtool", &["-S", "v0"]);
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| Some(l.trim().rsplit_once(": ")?.0.to_owned()))
        .collect();
    assert!(!ours.is_empty());
    assert_eq!(ours, theirs);
    // lo keeps none: an error naming it, exit 1, as ethtool -S fails.
    let out = nettune(&["--netns", ns.name(), "nic", "stats", "lo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lo") && err.contains("does not support"),
        "{err}"
    );
}

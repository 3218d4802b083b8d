//! sysctl.d files: a corpus of real-world files, glob expansion against live keys, and
//! systemd-sysctl's precedence (masking, ordering, later wins).

use std::path::{Path, PathBuf};

use nettune_sysctl::sysctld::{Line, SysctlConfig, SysctlD};
use nettune_sysctl::{Key, Profile, Sysctl};
use testkit::{TestNs, require_root};

fn key(s: &str) -> Key {
    Key::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysctl.d")
}

fn sets(f: &SysctlD) -> usize {
    f.lines()
        .iter()
        .filter(|l| matches!(l, Line::Set { .. }))
        .count()
}

#[test]
fn the_corpus_parses() {
    let expect = [
        ("10-network-security.conf", 2),
        ("50-default.conf", 12),
        ("60-hardening.conf", 18),
        ("70-kubernetes.conf", 4),
        ("80-low-latency.conf", 9),
        ("90-divergences.conf", 5),
    ];
    for (name, n) in expect {
        let f = SysctlD::load(corpus().join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sets(&f), n, "{name}");
    }
    let odd = SysctlD::load(corpus().join("90-divergences.conf")).expect("parse");
    let notes: Vec<(usize, bool)> = odd.warnings().iter().map(|w| (w.line, w.skipped)).collect();
    assert_eq!(
        notes,
        [(1, false), (6, true), (9, false)],
        "{:?}",
        odd.warnings()
    );
    let set = |k: &str| {
        odd.lines().iter().rev().find_map(|l| match l {
            Line::Set { key, value, .. } if key.to_string() == k => Some(value.clone()),
            _ => None,
        })
    };
    assert_eq!(
        set("net.ipv4.tcp_keepalive_time").as_deref(),
        Some("600"),
        "CRLF and BOM"
    );
    assert_eq!(
        set("kernel.core_pattern").as_deref(),
        Some(""),
        "an empty value"
    );
    assert_eq!(
        set("net.ipv4.tcp_max_syn_backlog").as_deref(),
        Some("\"4096\"")
    );
    assert_eq!(
        set("net.core.somaxconn").as_deref(),
        Some("4096"),
        "later wins"
    );
    let hardening = SysctlD::load(corpus().join("60-hardening.conf")).expect("parse");
    let values: Vec<(String, String)> = hardening
        .lines()
        .iter()
        .filter_map(|l| match l {
            Line::Set { key, value, .. } => Some((key.to_string(), value.clone())),
            Line::Exclude { .. } => None,
        })
        .collect();
    assert!(
        values.contains(&("net.ipv4.ip_forward".into(), "0".into())),
        "tabs around ="
    );
    assert!(
        values.contains(&("net.ipv4.tcp_max_syn_backlog".into(), "\"4096\"".into())),
        "quotes are part of the value, as systemd and procps read it"
    );
    // Its quoted triple is what the kernel refuses (as sysctl -p writes it): the profile
    // import names the line; without the quotes it imports.
    let text = std::fs::read_to_string(corpus().join("80-low-latency.conf")).expect("read");
    let err = Profile::from_sysctl_d(&text).expect_err("quoted triple");
    assert!(
        err.to_string().contains(":6:") && err.to_string().contains("quotes"),
        "{err}"
    );
    let ll = Profile::from_sysctl_d(&text.replace('\'', "")).expect("profile");
    assert_eq!(
        ll.get(&key("net.ipv4.tcp_wmem")).map(|e| e.value()),
        Some("4096 65536 16777216")
    );
    assert_eq!(
        ll.get(&key("net.ipv4.tcp_rmem")).map(|e| e.value()),
        Some("4096 87380 16777216")
    );
    assert_eq!(
        ll.get(&key("net.ipv4.conf.v0/100.rp_filter"))
            .map(|e| e.key().path().to_owned()),
        Some("net/ipv4/conf/v0.100/rp_filter".into())
    );
}

/// Globs expand against the keys of a live namespace; `-key` excludes, explicit wins.
#[test]
fn globs_expand_against_live_keys() {
    if !require_root("globs_expand_against_live_keys") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add v0.100 type veth peer name v1");
    let sys = ns.sysctl();
    let f = SysctlD::load(corpus().join("50-default.conf")).expect("parse");
    let resolved = f.expand(&sys).expect("expand");
    let rp: Vec<String> = resolved
        .iter()
        .filter(|r| r.key.name() == "rp_filter")
        .map(|r| r.key.to_string())
        .collect();
    let mut live: Vec<String> = sys
        .keys(&key("net.ipv4.conf"))
        .expect("keys")
        .into_iter()
        .filter(|k| k.name() == "rp_filter" && k.to_string() != "net.ipv4.conf.all.rp_filter")
        .map(|k| k.to_string())
        .collect();
    live.sort();
    let mut got = rp.clone();
    got.sort();
    assert_eq!(got, live, "every interface but the excluded `all`");
    assert!(rp.contains(&"net.ipv4.conf.v0/100.rp_filter".to_owned()));
    // The explicit `default` line (3) wins over the glob line (4), whatever their order.
    let default = resolved
        .iter()
        .find(|r| r.key.to_string() == "net.ipv4.conf.default.rp_filter")
        .expect("default");
    assert_eq!(default.origin.line, 13);
    // The tool agrees on what the file does: apply it with sysctl -p in a twin namespace
    // and through the library here, and compare the rp_filter keys.
    let twin = TestNs::new();
    twin.sh("ip link add v0.100 type veth peer name v1");
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["10-network-security.conf", "50-default.conf"] {
        std::fs::copy(corpus().join(name), dir.path().join(name)).expect("copy");
        let conf = dir.path().join(name);
        // The non-net keys (kernel.*, fs.*) are not the namespace's; sysctl may refuse some.
        let _ = twin.exec("sysctl", &["-q", "-p", conf.to_str().expect("utf-8")]);
    }
    let profile = SysctlConfig::load_dirs(&[dir.path().to_owned()])
        .expect("load")
        .to_profile(&sys)
        .expect("profile");
    let only_net: Vec<_> = profile
        .entries()
        .iter()
        .filter(|e| e.key().starts_with(&key("net.ipv4.conf")))
        .cloned()
        .collect();
    let mut p = Profile::new("net");
    for e in only_net {
        p.push(e);
    }
    // 10-network-security sets all.rp_filter=2; 50-default sets the rest; later files win.
    p.plan(&sys).expect("plan").apply(&sys).expect("apply");
    for k in live {
        let ours = sys.read_raw(&key(&k)).expect("ours");
        let theirs = twin.sysctl().read_raw(&key(&k)).expect("theirs");
        assert_eq!(ours, theirs, "{k}");
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A fake tree with a few keys, for glob expansion without a kernel.
fn fake_tree(dir: &Path) -> Sysctl {
    for k in [
        "net/ipv4/conf/all/rp_filter",
        "net/ipv4/conf/eth0/rp_filter",
        "net/ipv4/tcp_sack",
        "net/core/somaxconn",
    ] {
        write(&dir.join("proc").join(k), "0\n");
    }
    Sysctl::with_root(dir.join("proc"))
}

#[test]
fn systemd_precedence_masking_ordering_and_later_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let sys = fake_tree(root);
    let etc = root.join("etc/sysctl.d");
    let run = root.join("run/sysctl.d");
    let usr = root.join("usr/lib/sysctl.d");
    // Masking: the same name in /etc replaces the one in /usr/lib.
    write(
        &usr.join("50-default.conf"),
        "net.ipv4.tcp_sack = 0\nnet.core.somaxconn = 100\n",
    );
    write(&etc.join("50-default.conf"), "net.ipv4.tcp_sack = 1\n");
    // Ordering by name across directories: 90-late in /usr/lib applies after 10-early in /etc.
    write(&etc.join("10-early.conf"), "net.core.somaxconn = 200\n");
    write(
        &usr.join("90-late.conf"),
        "net.core.somaxconn = 300\nnet.core.somaxconn = 301\n",
    );
    // Only .conf files count.
    write(&run.join("99-ignored.txt"), "net.ipv4.tcp_sack = 0\n");
    // A glob in one file, an explicit key in an earlier file: the explicit one wins.
    write(&run.join("60-glob.conf"), "net.ipv4.conf.*.rp_filter = 2\n");
    write(
        &run.join("20-explicit.conf"),
        "net.ipv4.conf.eth0.rp_filter = 1\n",
    );

    let config = SysctlConfig::load_dirs(&[
        etc.clone(),
        run.clone(),
        root.join("usr/local/lib/sysctl.d"),
        usr.clone(),
    ])
    .expect("load");
    let names: Vec<String> = config
        .files()
        .iter()
        .map(|f| {
            f.file()
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "10-early.conf",
            "20-explicit.conf",
            "50-default.conf",
            "60-glob.conf",
            "90-late.conf"
        ]
    );
    assert_eq!(config.masked(), &[usr.join("50-default.conf")]);

    let value = |k: &str| {
        config
            .resolve(&sys)
            .expect("resolve")
            .into_iter()
            .find(|r| r.key == key(k))
            .map(|r| r.value)
    };
    assert_eq!(
        value("net.ipv4.tcp_sack").as_deref(),
        Some("1"),
        "masked file ignored"
    );
    assert_eq!(
        value("net.core.somaxconn").as_deref(),
        Some("301"),
        "later file and later line win"
    );
    assert_eq!(
        value("net.ipv4.conf.eth0.rp_filter").as_deref(),
        Some("1"),
        "explicit beats glob"
    );
    assert_eq!(
        value("net.ipv4.conf.all.rp_filter").as_deref(),
        Some("2"),
        "glob expanded"
    );

    let origin = config
        .origin(&sys, &key("net.core.somaxconn"))
        .expect("origin")
        .expect("set");
    assert_eq!(origin.file, usr.join("90-late.conf"));
    assert_eq!(origin.line, 2);
    assert_eq!(
        origin.to_string(),
        format!("{}:2", usr.join("90-late.conf").display())
    );
    assert_eq!(
        config
            .origin(&sys, &key("net.ipv4.tcp_rmem"))
            .expect("origin"),
        None
    );

    // A link to /dev/null in /etc masks a file away entirely.
    std::os::unix::fs::symlink("/dev/null", etc.join("90-late.conf")).expect("symlink");
    let config = SysctlConfig::load_dirs(&[etc, run, usr]).expect("load");
    let resolved = config.resolve(&sys).expect("resolve");
    let somaxconn = resolved
        .iter()
        .find(|r| r.key == key("net.core.somaxconn"))
        .expect("set");
    assert_eq!(somaxconn.value, "200", "90-late masked by /dev/null");
}

#[test]
fn a_malformed_line_is_skipped_with_its_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc");
    write(&etc.join("10-ok.conf"), "net.ipv4.tcp_sack = 1\n");
    write(
        &etc.join("20-bad.conf"),
        "# fine\nnet.ipv4.tcp_sack 1\nnet.ipv4.tcp_dsack = 1\n",
    );
    let config = SysctlConfig::load_dirs(std::slice::from_ref(&etc)).expect("load");
    let warnings: Vec<String> = config.warnings().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("20-bad.conf:2:") && warnings[0].contains("not an assignment"),
        "{warnings:?}"
    );
    let sys = fake_tree(dir.path());
    let resolved = config.resolve(&sys).expect("resolve");
    assert!(
        resolved.iter().any(|r| r.key == key("net.ipv4.tcp_dsack")),
        "the line after it counts"
    );
    // A value that breaks its knob's rules is named with its file and line.
    write(&etc.join("20-bad.conf"), "net.ipv4.tcp_rmem = 9 8 7\n");
    let err = SysctlConfig::load_dirs(std::slice::from_ref(&etc))
        .expect("load")
        .to_profile(&sys)
        .expect_err("bad value");
    assert!(err.to_string().contains("20-bad.conf:1:"), "{err}");
    // So is a quoted number, which the kernel refuses as systemd and procps write it.
    write(&etc.join("20-bad.conf"), "net.core.somaxconn = \"4096\"\n");
    let err = SysctlConfig::load_dirs(&[etc])
        .expect("load")
        .to_profile(&sys)
        .expect_err("quoted");
    assert!(err.to_string().contains("20-bad.conf:1:"), "{err}");
    assert!(err.to_string().contains("quote"), "{err}");
}

/// The same file through procps' `sysctl -p` and through nettune, in twin namespaces: the
/// bad line is skipped by both, the quoted number is refused by the kernel (and by nettune
/// before writing), the rest is set alike.
#[test]
fn a_file_means_what_sysctl_p_makes_of_it() {
    if !require_root("a_file_means_what_sysctl_p_makes_of_it") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("90-mixed.conf");
    write(
        &file,
        "\u{feff}net.ipv4.tcp_keepalive_time = 77\nnet.ipv4.tcp_sack 0\n\
         net.ipv4.tcp_max_syn_backlog = \"4096\"\nnet.ipv4.tcp_keepalive_probes = 010\n\
         net.ipv4.tcp_fin_timeout = 20\r\n",
    );
    let procps = TestNs::new();
    let before_backlog = procps.sh("sysctl -n net.ipv4.tcp_max_syn_backlog");
    let out = procps.exec("sysctl", &["-p", file.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "sysctl -p reports the refused value");
    let ours = TestNs::new();
    let sys = ours.sysctl();
    let parsed = SysctlD::load(&file).expect("load");
    let warnings: Vec<String> = parsed.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("byte order mark"), "{warnings:?}");
    assert!(
        warnings[1].contains(":2:") && warnings[1].contains("not an assignment"),
        "{warnings:?}"
    );
    for r in parsed.expand(&sys).expect("expand") {
        let entry = nettune_sysctl::ProfileEntry::new(r.key.clone(), &r.value, "");
        match entry {
            Ok(e) => sys.write_raw(e.key(), e.value()).expect("write"),
            Err(e) => assert_eq!(r.key, key("net.ipv4.tcp_max_syn_backlog"), "{e}"),
        }
    }
    // procps takes the byte order mark into the first key and sets nothing for it; nettune
    // drops the mark (and said so above).
    assert_eq!(
        procps.sh("sysctl -n net.ipv4.tcp_keepalive_time").trim(),
        "7200"
    );
    assert_eq!(
        ours.sh("sysctl -n net.ipv4.tcp_keepalive_time").trim(),
        "77"
    );
    for k in [
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_sack",
        "net.ipv4.tcp_max_syn_backlog",
    ] {
        let theirs = procps.sh(&format!("sysctl -n {k}"));
        let mine = ours.sh(&format!("sysctl -n {k}"));
        assert_eq!(theirs.trim(), mine.trim(), "{k}");
    }
    assert_eq!(
        procps.sh("sysctl -n net.ipv4.tcp_keepalive_probes").trim(),
        "8",
        "010 is octal"
    );
    assert_eq!(
        procps.sh("sysctl -n net.ipv4.tcp_max_syn_backlog"),
        before_backlog,
        "the kernel refused the quoted number"
    );
}

/// The write order is systemd-sysctl's: a reassignment with another value moves the key to
/// the end; the same value again keeps its place (and ORs in the `-` prefix).
#[test]
fn reassignments_order_writes_as_systemd_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sys = fake_tree(dir.path());
    let order = |text: &str| -> Vec<(String, String, bool)> {
        SysctlD::parse("o.conf", text)
            .expand(&sys)
            .expect("expand")
            .into_iter()
            .map(|r| (r.key.to_string(), r.value, r.optional))
            .collect()
    };
    let a = "net.ipv4.tcp_sack";
    let b = "net.core.somaxconn";
    assert_eq!(
        order(&format!("{a} = 1\n{b} = 5\n{a} = 0\n")),
        [(b.into(), "5".into(), false), (a.into(), "0".into(), false)]
    );
    assert_eq!(
        order(&format!("{a} = 1\n{b} = 5\n-{a} = 1\n")),
        [(a.into(), "1".into(), true), (b.into(), "5".into(), false)]
    );
}

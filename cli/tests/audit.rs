//! `nettune audit` end to end: it reports the namespace's live values, marks matches, and
//! works without root.

use std::process::Command;

use testkit::{TestNs, require_root};

const BIN: &str = env!("CARGO_BIN_EXE_nettune");

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The audit's rows: key -> (current, status).
fn rows(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter(|l| l.starts_with("net."))
        .map(|l| {
            let key = l.split_whitespace().next().unwrap_or_default().to_owned();
            // Columns are fixed width: key, current (26), recommended (26), status.
            let rest = &l[l.find("  ").unwrap_or(0)..];
            let cols: Vec<&str> = rest
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            (
                key,
                cols.first().copied().unwrap_or_default().to_owned(),
                cols.last().copied().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn audit_reports_the_live_values_of_a_namespace() {
    if !require_root("audit_reports_the_live_values_of_a_namespace") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("sysctl -qw net.ipv4.tcp_keepalive_time=60 net.ipv4.tcp_keepalive_probes=7");
    let out = ns.exec(BIN, &["audit"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "tcp_keepalive_probes differs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows = rows(&text);
    assert!(rows.len() >= 15, "{text}");
    for (key, current, status) in &rows {
        let live = ns.sh(&format!("sysctl -n {key} 2>/dev/null || true"));
        if live.trim().is_empty() {
            assert!(
                status.starts_with("absent") || status.starts_with("unreadable"),
                "{key}: {status}"
            );
        } else {
            assert_eq!(norm(current), norm(&live), "{key}");
        }
    }
    let find = |k: &str| rows.iter().find(|r| r.0 == k).cloned().expect(k);
    assert_eq!(find("net.ipv4.tcp_keepalive_time").2, "ok");
    assert_eq!(find("net.ipv4.tcp_keepalive_probes").1, "7");
    assert_eq!(find("net.ipv4.tcp_keepalive_probes").2, "differs");
    assert!(text.contains("why: "), "{text}");
    assert!(text.contains("nothing was written"), "{text}");
}

#[test]
fn audit_works_without_root() {
    if !require_root("audit_works_without_root") {
        return;
    }
    // Drop to nobody with no capabilities; the audit must still read and print.
    let out = testkit::as_nobody(BIN)
        .arg("audit")
        .output()
        .expect("setpriv");
    let text = String::from_utf8_lossy(&out.stdout);
    // The exit code says what the summary line says.
    let summary = text
        .lines()
        .find(|l| l.contains(" as recommended, "))
        .unwrap_or_else(|| panic!("no summary: {text}"));
    let n = |what: &str| -> usize {
        summary
            .split(", ")
            .find_map(|part| part.strip_suffix(what))
            .and_then(|v| v.split_whitespace().last()?.parse().ok())
            .unwrap_or(0)
    };
    let findings = n(" differ") + n(" problems") + n(" rules fired");
    let unreadable = text.lines().filter(|l| l.contains("unreadable:")).count();
    let want = if findings > 0 {
        3
    } else if unreadable > 0 {
        4
    } else {
        0
    };
    assert_eq!(
        out.status.code(),
        Some(want),
        "{}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = rows(&text);
    assert!(
        rows.iter()
            .any(|r| r.0 == "net.ipv4.tcp_congestion_control" && !r.1.is_empty() && r.1 != "-"),
        "{text}"
    );
    let host_cc =
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").expect("read");
    assert!(
        rows.iter()
            .any(|r| r.0 == "net.ipv4.tcp_congestion_control" && r.1 == host_cc.trim())
    );
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = Command::new(BIN).arg("frobnicate").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
}

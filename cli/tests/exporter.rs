//! `nettune exporter` under a real Prometheus server (Debian's `prometheus`, which .ci/run
//! installs): Prometheus scrapes it, and queries through Prometheus' HTTP API return what
//! `sysctl`, `conntrack` and `ethtool` show for the same namespace; `promtool check
//! metrics` accepts the output; the textfile mode writes the same metrics; the Grafana
//! dashboard only uses metric names the exporter emits.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{Killed, TestNs, in_ci, require_root};

const BIN: &str = env!("CARGO_BIN_EXE_nettune");

fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || !in_ci(),
        "{name} is missing: .ci/run installs it (apt-get install prometheus curl)"
    );
    found
}

fn curl(url: &str) -> String {
    try_curl(url).unwrap_or_else(|e| panic!("curl {url}: {e}"))
}

fn try_curl(url: &str) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-g", url])
        .output()
        .expect("curl");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts `nettune --netns NS exporter --listen 127.0.0.1:0 ARGS` and returns it with
/// the address it bound.
fn exporter(ns: &TestNs, args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(BIN)
        .args(["--netns", ns.name(), "exporter", "--listen", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn exporter");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("read");
    let addr = line
        .trim()
        .strip_prefix("nettune: exporter on http://")
        .and_then(|r| r.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("exporter said {line:?}"))
        .to_owned();
    (Killed(child), addr)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// One instant query through Prometheus' HTTP API: the (labels, value) of each series;
/// `None` while the server does not answer yet.
fn query(prom: &str, q: &str) -> Option<Vec<(Value, f64)>> {
    let url = format!(
        "http://{prom}/api/v1/query?query={}",
        q.replace('"', "%22")
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace(' ', "%20")
            .replace('+', "%2B")
    );
    let v: Value = serde_json::from_str(&try_curl(&url).ok()?).expect("json");
    assert_eq!(v["status"], "success", "{q}: {v}");
    Some(
        v["data"]["result"]
            .as_array()
            .expect("result")
            .iter()
            .map(|r| {
                let value = r["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("value");
                (r["metric"].clone(), value)
            })
            .collect(),
    )
}

/// The one value of `q`, waiting until Prometheus has scraped it.
fn one(prom: &str, q: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = query(prom, q);
        if let Some([(_, v)]) = r.as_deref() {
            return *v;
        }
        assert!(Instant::now() < deadline, "{q}: {r:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_the_exporter_and_agrees_with_sysctl_conntrack_and_ethtool() {
    if !require_root("prometheus_scrapes_the_exporter_and_agrees_with_sysctl_conntrack_and_ethtool")
        || !tool("prometheus")
        || !tool("promtool")
        || !tool("curl")
    {
        return;
    }
    let ns = TestNs::new();
    ns.sh("sysctl -qw net.ipv4.tcp_keepalive_probes=7 net.core.somaxconn=1234");
    ns.sh("ip link add nt0 type veth peer name nt1 && ip link set nt0 up && ip link set nt1 up");
    let tap = ns.add_tap("ntap0");
    ns.enable_conntrack();
    for port in [1001, 1002, 1003] {
        ns.sh(&format!(
            "conntrack -I -s 10.1.0.1 -d 10.1.0.2 -p tcp --sport {port} --dport 80 \
             --state ESTABLISHED -t 300 -u SEEN_REPLY 2>/dev/null"
        ));
    }
    let (_exporter, addr) = exporter(&ns, &["--profile", "low-latency"]);

    // The exposition itself passes Prometheus' own linter.
    let text = curl(&format!("http://{addr}/metrics"));
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    std::io::Write::write_all(&mut check.stdin.take().expect("stdin"), text.as_bytes())
        .expect("write");
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(curl(&format!("http://{addr}/nothing")).contains("not found"));

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: nettune\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .expect("config");
    let prom = format!("127.0.0.1:{}", free_port());
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );

    assert_eq!(one(&prom, r#"up{job="nettune"}"#), 1.0);
    // sysctls, as `sysctl -n` shows them in the namespace.
    for key in ["net.ipv4.tcp_keepalive_probes", "net.core.somaxconn"] {
        let want: f64 = ns
            .sh(&format!("sysctl -n {key}"))
            .trim()
            .parse()
            .expect("number");
        assert_eq!(
            one(
                &prom,
                &format!(r#"nettune_sysctl_value{{key="{key}",field="0"}}"#)
            ),
            want,
            "{key}"
        );
    }
    let rmem: Vec<f64> = ns
        .sh("sysctl -n net.ipv4.tcp_rmem")
        .split_whitespace()
        .map(|v| v.parse().expect("number"))
        .collect();
    assert_eq!(
        one(
            &prom,
            r#"nettune_sysctl_value{key="net.ipv4.tcp_rmem",field="2"}"#
        ),
        rmem[2]
    );
    // The profile's desired value and the drift from it (keepalive_probes 7 vs 3).
    assert_eq!(
        one(
            &prom,
            r#"nettune_sysctl_drift{key="net.ipv4.tcp_keepalive_probes"}"#
        ),
        1.0
    );
    assert_eq!(
        one(&prom, r#"nettune_profile_info{profile="low-latency"}"#),
        1.0
    );
    // Conntrack, as `conntrack -C` counts it, without a dump.
    let entries: f64 = ns.sh("conntrack -C").trim().parse().expect("number");
    assert_eq!(entries, 3.0);
    assert_eq!(one(&prom, "nettune_conntrack_entries"), entries);
    let max: f64 = ns
        .sh("sysctl -n net.netfilter.nf_conntrack_max")
        .trim()
        .parse()
        .expect("number");
    assert_eq!(one(&prom, "nettune_conntrack_max"), max);
    // NIC settings, as ethtool shows them: channels of a veth, features, a tap's
    // coalescing.
    let ethtool_l = ns.sh("ethtool -l nt0");
    let current = ethtool_l
        .split("Current hardware settings:")
        .nth(1)
        .expect("current");
    let rx: f64 = current
        .lines()
        .find_map(|l| l.strip_prefix("RX:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("rx");
    assert_eq!(
        one(
            &prom,
            r#"nettune_nic_channels{iface="nt0",channel="rx",kind="current"}"#
        ),
        rx
    );
    let ethtool_k = ns.sh("ethtool -k nt0");
    for (feature, ethtool_name) in [
        ("rx-gro", "generic-receive-offload"),
        ("tx-tcp-segmentation", "tcp-segmentation-offload"),
    ] {
        let on = ethtool_k
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{ethtool_name}: ")))
            .expect(ethtool_name)
            .starts_with("on");
        assert_eq!(
            one(
                &prom,
                &format!(r#"nettune_nic_feature{{iface="nt0",feature="{feature}"}}"#)
            ),
            if on { 1.0 } else { 0.0 },
            "{feature}"
        );
    }
    let rx_frames: f64 = ns
        .sh(&format!("ethtool -c {tap}"))
        .lines()
        .find_map(|l| l.strip_prefix("rx-frames:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("rx-frames");
    assert_eq!(
        one(
            &prom,
            &format!(r#"nettune_nic_coalesce{{iface="{tap}",field="rx_frames"}}"#)
        ),
        rx_frames
    );
    // Counters as Prometheus sees them, against nstat, labelled with their rule.
    let overflow = one(
        &prom,
        r#"nettune_signal_total{signal="TcpExt.ListenOverflows",rule="tcp-listen-overflow"}"#,
    );
    let nstat: f64 = ns
        .sh("nstat -asz TcpExtListenOverflows")
        .lines()
        .find(|l| l.starts_with("TcpExtListenOverflows"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("nstat");
    assert_eq!(overflow, nstat);
    assert_eq!(one(&prom, r#"nettune_rule_firing{rule="udp-rcvbuf"}"#), 0.0);
    assert_eq!(one(&prom, r#"nettune_source_up{source="netstat"}"#), 1.0);
}

#[test]
fn the_textfile_mode_works_unprivileged_and_writes_atomically() {
    if !require_root("the_textfile_mode_works_unprivileged_and_writes_atomically")
        || !tool("promtool")
    {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let file = dir.path().join("nettune.prom");
    // As nobody, with no capabilities: what it can read.
    let out = testkit::as_nobody(BIN)
        .args(["exporter", "--textfile"])
        .arg(&file)
        .output()
        .expect("setpriv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("written");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["nettune.prom"], "no temporary file is left");
    let check = Command::new("sh")
        .args([
            "-c",
            &format!("promtool check metrics < {}", file.display()),
        ])
        .output()
        .expect("promtool");
    assert!(
        check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    for family in [
        "nettune_signal_total",
        "nettune_sysctl_value",
        "nettune_rule_firing",
        "nettune_sockstat",
    ] {
        assert!(
            text.contains(&format!("\n{family}{{")),
            "{family} missing:\n{text}"
        );
    }
    assert!(
        text.contains("nettune_source_up{source=\"netstat\"} 1"),
        "{text}"
    );
    // ctnetlink refuses nobody: the world-readable sysctl stands in for the limit, or,
    // without the conntrack module, the source is down.
    match std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_max") {
        Ok(max) => assert!(
            text.contains(&format!("\nnettune_conntrack_max {}.0\n", max.trim())),
            "{text}"
        ),
        Err(_) => assert!(
            text.contains("nettune_source_up{source=\"conntrack\"} 0"),
            "{text}"
        ),
    }
}

#[test]
fn the_dashboard_uses_only_metrics_the_exporter_emits() {
    if !require_root("the_dashboard_uses_only_metrics_the_exporter_emits") {
        return;
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/grafana/nettune.json"
        ))
        .expect("dashboard"),
    )
    .expect("dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 8, "{exprs:?}");
    // A namespace with every kind of metric: a veth (channels), a tap (coalescing),
    // conntrack on, a profile and its journal, and a rule that fires between two
    // scrapes (advice).
    let ns = TestNs::new();
    ns.sh("ip link add nt0 type veth peer name nt1 && sysctl -qw net.core.somaxconn=2");
    ns.add_tap("ntap0");
    ns.enable_conntrack();
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("j");
    let out = Command::new(BIN)
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
        .expect("apply");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_exporter, addr) = exporter(
        &ns,
        &[
            "--profile",
            "low-latency",
            "--journal",
            journal.to_str().expect("path"),
        ],
    );
    let url = format!("http://{addr}/metrics");
    let first = curl(&url);
    let listener = ns.run(|| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
    let to = listener.local_addr().expect("addr");
    let _clients: Vec<_> = (0..20)
        .map(|_| {
            ns.run(|| {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .expect("socket");
                s.set_nonblocking(true).expect("nonblocking");
                let _ = s.connect(&to.into());
                s
            })
        })
        .collect();
    let second = curl(&url);
    assert!(
        second.contains("nettune_rule_firing{rule=\"tcp-listen-overflow\"} 1"),
        "{second}"
    );
    // What the journal set is named as set by it, with its generation.
    assert!(
        second.contains(r#"key="net.ipv4.tcp_keepalive_probes",actual="3",desired="3",set_by="nettune journal"} 0"#),
        "{second}"
    );
    assert!(
        second.contains(r#"nettune_journal_generation{profile="low-latency"} 1"#),
        "{second}"
    );
    let emitted: std::collections::BTreeSet<&str> = first
        .lines()
        .chain(second.lines())
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // Ring sizes need a driver with rings; veth, tap and lo have none.
    let needs_a_real_driver = ["nettune_nic_ring"];
    for expr in &exprs {
        for name in metric_names(expr) {
            assert!(
                nettune::exporter::METRICS.iter().any(|m| m.0 == name),
                "the dashboard queries {name} ({expr}), which the exporter does not define"
            );
            assert!(
                emitted.contains(name.as_str()) || needs_a_real_driver.contains(&name.as_str()),
                "the dashboard queries {name} ({expr}), which the exporter did not emit"
            );
        }
    }
    drop(listener);
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// The `nettune_*` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("nettune_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

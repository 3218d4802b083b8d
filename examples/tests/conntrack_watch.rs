//! `conntrack_watch` end to end in a private namespace.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use nettune::conntrack::{Conntrack, Entry, Tuple};
use testkit::{TestNs, require_root};

#[test]
fn watch_prints_events_and_the_table_fill() {
    if !require_root("watch_prints_events_and_the_table_fill") {
        return;
    }
    let ns = TestNs::new();
    let bin = env!("CARGO_BIN_EXE_conntrack_watch");
    let mut child = ns
        .command(bin)
        .args(["--events", "3", "--warn", "0", "--interval-ms", "100000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("line");
    assert!(first.starts_with("table: 0 of "), "{first}");
    assert!(first.contains("WARNING"), "--warn 0 always warns: {first}");
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    for i in 0..3u16 {
        let t = Tuple::udp(
            "10.9.0.1".parse().expect("ip"),
            100 + i,
            "10.9.0.2".parse().expect("ip"),
            53,
        );
        ct.create(&Entry::new(t, Duration::from_secs(60)))
            .expect("create");
    }
    assert!(child.wait().expect("wait").success());
    let rest: Vec<String> = out.lines().map(|l| l.expect("line")).collect();
    assert_eq!(
        rest.iter()
            .filter(|l| l.starts_with("[NEW] udp src=10.9.0.1"))
            .count(),
        3,
        "{rest:?}"
    );
}

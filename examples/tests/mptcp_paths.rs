//! `mptcp_paths` end to end: configure, then see a connection's events.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;

use testkit::{TestNs, require_root, veth_pair};

#[test]
fn mptcp_paths_configures_and_prints_events() {
    if !require_root("mptcp_paths_configures_and_prints_events") {
        return;
    }
    let server = TestNs::new();
    let client = TestNs::new();
    let link = veth_pair(&server, &client, "10.31.0.1/24", "10.31.0.2/24");
    let bin = env!("CARGO_BIN_EXE_mptcp_paths");
    let endpoint = format!("{},{},subflow", link.addr_b, link.b);
    let mut child = client
        .command(bin)
        .args([
            "--limits",
            "2,2",
            "--endpoint",
            &endpoint,
            "--events",
            "2",
            "--idle-secs",
            "10",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        assert!(
            out.read_line(&mut l).expect("line") > 0,
            "mptcp_paths exited early: {lines:?}"
        );
        let done = l.starts_with("watching");
        lines.push(l);
        if done {
            break;
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("limits: subflows 2 add_addr_accepted 2")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("endpoint: {} id", link.addr_b)) && l.contains("subflow")),
        "{lines:?}"
    );
    assert!(client.sh("ip mptcp endpoint show").contains(&link.addr_b));
    let listener = server.run(|| {
        nettune::sockopt::mptcp::listen("0.0.0.0:0".parse().expect("addr"), 4).expect("listen")
    });
    let port = listener.local_addr().expect("addr").port();
    let mut c = client.run(move || {
        nettune::sockopt::mptcp::connect(format!("10.31.0.1:{port}").parse().expect("addr"))
            .expect("connect")
    });
    // The connection is fully established once data has flowed.
    let (mut accepted, _) = listener.accept().expect("accept");
    c.write_all(b"ping").expect("write");
    let mut buf = [0u8; 4];
    accepted.read_exact(&mut buf).expect("read");
    accepted.write_all(b"pong").expect("write");
    c.read_exact(&mut buf).expect("read");
    assert!(child.wait().expect("wait").success());
    let rest: Vec<String> = out.lines().map(|l| l.expect("line")).collect();
    assert!(rest[0].starts_with("[CREATED] token="), "{rest:?}");
    assert!(
        rest[1].starts_with("[ESTABLISHED]")
            && rest[1].contains(&format!("remote=10.31.0.1:{port}")),
        "{rest:?}"
    );
}

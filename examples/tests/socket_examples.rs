//! The socket examples end to end, inside a private namespace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use nettune::sysctl::{FastOpen, knobs};
use testkit::{TestNs, require_root};

/// Starts an example in `ns` and waits for its "listening" line.
fn start(ns: &TestNs, bin: &str, args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = ns
        .command(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn example");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    assert!(line.starts_with("listening"), "{line}");
    (child, out)
}

#[test]
fn echo_server_tunes_by_peer_and_logs_tcp_info() {
    if !require_root("echo_server_tunes_by_peer_and_logs_tcp_info") {
        return;
    }
    let ns = TestNs::new();
    let bin = env!("CARGO_BIN_EXE_echo_server");
    let (mut child, mut out) = start(
        &ns,
        bin,
        &["--listen", "127.0.0.1:7000", "--connections", "1"],
    );
    ns.run(|| {
        let mut s = TcpStream::connect("127.0.0.1:7000").expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(b"ping over loopback").expect("write");
        let mut buf = [0u8; 18];
        s.read_exact(&mut buf).expect("echo");
        assert_eq!(&buf, b"ping over loopback");
    });
    assert!(child.wait().expect("wait").success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("output");
    assert!(rest.contains("(lan): TCP_NODELAY"), "{rest}");
    assert!(rest.contains("18 bytes echoed, rtt"), "{rest}");
}

#[test]
fn tokio_server_tunes_through_its_listener() {
    if !require_root("tokio_server_tunes_through_its_listener") {
        return;
    }
    let ns = TestNs::new();
    let bin = env!("CARGO_BIN_EXE_tokio_server");
    let (mut child, mut out) = start(&ns, bin, &["127.0.0.1:7100", "1"]);
    ns.run(|| {
        let mut s = TcpStream::connect("127.0.0.1:7100").expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(b"tuned").expect("write");
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).expect("echo");
        assert_eq!(&buf, b"tuned");
    });
    let mut line = String::new();
    out.read_line(&mut line).expect("accepted line");
    assert!(line.ends_with(": priority 5 dscp 46\n"), "{line}");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn fastopen_pair_sends_data_in_the_syn_the_second_time() {
    if !require_root("fastopen_pair_sends_data_in_the_syn_the_second_time") {
        return;
    }
    let ns = TestNs::new();
    ns.sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT | FastOpen::SERVER)
        .expect("sysctl");
    let bin = env!("CARGO_BIN_EXE_fastopen");
    let (mut server, mut out) = start(
        &ns,
        bin,
        &["server", "127.0.0.1:7001", "--connections", "2"],
    );
    let client = |msg: &str| {
        let o = ns.exec(bin, &["client", "127.0.0.1:7001", msg]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(client("first").contains("was not"), "no cookie yet");
    assert!(client("second").contains("data was in the SYN"));
    assert!(server.wait().expect("wait").success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("output");
    assert!(rest.contains("6 bytes (fast open): second"), "{rest}");
}

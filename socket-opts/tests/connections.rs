//! Per-connection tuning as servers use it, in private namespaces: DSCP counted on the
//! wire by nftables for dual-stack sockets, fast open judged by the socket's own
//! namespace, what accept() carries over, tokio sockets, and software timestamps and
//! zerocopy completions on loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime};

use nettune_sockopt::timestamp::{self, Timestamping, TxPoint};
use nettune_sockopt::*;
use nettune_sysctl::knobs;
use testkit::{TestNs, require_root};

/// The packets an nftables named counter has seen.
fn counter(ns: &TestNs, name: &str) -> u64 {
    let out = ns.sh(&format!("nft list counter inet nettune_dscp {name}"));
    out.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {out}"))
}

/// A listener on `[::]` (dual-stack), a client to `connect`, and the accepted socket with
/// DSCP EF set on it; the server then sends, and the client reads.
fn ef_from_dual_stack_listener(connect: &str) -> TrafficClass {
    let listener = TcpListener::bind("[::]:0").expect("bind [::]");
    let port = listener.local_addr().expect("addr").port();
    let mut client = TcpStream::connect(format!("{connect}:{port}")).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    let ef = TrafficClass {
        dscp: Dscp::EF,
        ecn: Ecn::NotEct,
    };
    set_traffic_class(&server, ef).expect("set");
    let back = traffic_class(&server).expect("read back");
    server.write_all(&[1u8; 1000]).expect("write");
    let mut got = [0u8; 1000];
    client.read_exact(&mut got).expect("read");
    back
}

#[test]
fn dscp_on_a_dual_stack_socket_reaches_the_wire_for_both_families() {
    if !require_root("dscp_on_a_dual_stack_socket_reaches_the_wire_for_both_families") {
        return;
    }
    let ns = TestNs::new();
    ns.nft(
        "table inet nettune_dscp {\n\
         \tcounter v4ef {}\n\tcounter v6ef {}\n\
         \tchain out { type filter hook output priority 0; \
         ip dscp ef counter name v4ef; ip6 dscp ef counter name v6ef; }\n}\n",
    );
    // An IPv4 peer of a [::] listener: the connection is IPv4-mapped and its packets are
    // IPv4, which carry IP_TOS, not IPV6_TCLASS.
    let back = ns.run(|| ef_from_dual_stack_listener("127.0.0.1"));
    assert_eq!(back.dscp, Dscp::EF, "reads back what the packets carry");
    let v4 = counter(&ns, "v4ef");
    assert!(v4 >= 1, "IPv4 packets with DSCP EF: {v4}");
    assert_eq!(counter(&ns, "v6ef"), 0);
    // An IPv6 peer: IPV6_TCLASS.
    let back = ns.run(|| ef_from_dual_stack_listener("[::1]"));
    assert_eq!(back.dscp, Dscp::EF);
    assert!(counter(&ns, "v6ef") >= 1);
    assert_eq!(counter(&ns, "v4ef"), v4, "no more IPv4 packets");
}

fn netstat_counter(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/net/netstat").expect("netstat");
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .find_map(|pair| match pair {
            [names, values] => names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.parse().ok()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no counter {name}"))
}

#[test]
fn fast_open_is_judged_by_the_sockets_own_namespace() {
    if !require_root("fast_open_is_judged_by_the_sockets_own_namespace") {
        return;
    }
    // The caller's namespace has both bits; the socket's has only the client bit (a stock
    // host: tcp_fastopen=1).
    let caller = TestNs::new();
    let sockets = TestNs::new();
    caller
        .sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT | FastOpen::SERVER)
        .expect("caller");
    sockets
        .sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT)
        .expect("sockets");
    let listener = sockets.run(|| TcpListener::bind("127.0.0.1:0").expect("bind"));
    let err = caller
        .run(|| set_fastopen(&listener, 16))
        .expect_err("the socket's namespace lacks the server bit");
    assert!(matches!(err, Error::Inactive { .. }), "{err}");
    assert!(
        err.to_string().contains("is 0x1") && err.to_string().contains("set it to 0x3"),
        "{err}"
    );
    // A strict listen profile on such a namespace says exactly what to change.
    let strict = sockets
        .run(|| {
            SocketProfile::new()
                .fastopen(16)
                .listen("127.0.0.1:0".parse().expect("addr"), 16)
        })
        .expect_err("strict");
    let chain = nettune_core::error::report(&strict);
    assert!(
        chain.contains("TCP_FASTOPEN") && chain.contains("set it to 0x3"),
        "{chain}"
    );
    // The other way round: the caller lacks the server bit, the socket's namespace has it.
    caller
        .sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT)
        .expect("caller");
    sockets
        .sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT | FastOpen::SERVER)
        .expect("sockets");
    caller
        .run(|| set_fastopen(&listener, 16))
        .expect("the socket's namespace has the server bit");
    // ... and fast open works there: the second connection's SYN carries data.
    let addr = listener.local_addr().expect("addr");
    sockets.run(|| {
        let before = netstat_counter("TCPFastOpenPassive");
        for _ in 0..2 {
            let (mut c, _) = SocketProfile::new()
                .fastopen_connect(true)
                .connect(addr)
                .expect("connect");
            c.write_all(b"hi").expect("write");
            let (mut s, _) = listener.accept().expect("accept");
            let mut got = [0u8; 2];
            s.read_exact(&mut got).expect("read");
        }
        assert!(netstat_counter("TCPFastOpenPassive") > before);
    });
    // A client socket in a namespace without the client bit: named as such.
    sockets
        .sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::SERVER)
        .expect("sockets");
    let fresh = sockets.run(|| {
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket")
    });
    let err = caller
        .run(|| set_fastopen_connect(&fresh, true))
        .expect_err("no client bit");
    assert!(
        err.to_string().contains("without the client bit 0x1")
            && err.to_string().contains("set it to 0x3"),
        "{err}"
    );
}

#[test]
fn accepted_sockets_get_only_what_accept_does_not_carry() {
    if !require_root("accepted_sockets_get_only_what_accept_does_not_carry") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        let profile = SocketProfile::new()
            .nodelay(true)
            .notsent_lowat(16384)
            .congestion("reno".parse().expect("cc"))
            .max_pacing_rate(PacingRate::BytesPerSecond(10_000_000))
            .priority(5)
            .busy_poll(Duration::from_micros(50));
        let (listener, report) = profile
            .listen("127.0.0.1:0".parse().expect("addr"), 16)
            .expect("listen");
        assert!(report.all_applied(), "{report}");
        let _client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        let own: Vec<&str> = profile.not_inherited().map(Setting::option).collect();
        assert!(own.contains(&"SO_PRIORITY"), "{own:?}");
        assert_eq!(
            priority(&accepted).expect("priority"),
            0,
            "accept() does not carry it"
        );
        let report = profile.apply_accepted(&accepted).expect("apply");
        let applied: Vec<&str> = report.outcomes.iter().map(|(o, _)| *o).collect();
        assert_eq!(applied, own);
        // Every option of the profile now reads back on the accepted socket.
        for s in profile.settings() {
            assert_eq!(&s.current(&accepted).expect("read"), s, "{}", s.option());
        }
    });
}

#[test]
fn tokio_sockets_come_ready_and_connects_time_out() {
    if !require_root("tokio_sockets_come_ready_and_connects_time_out") {
        return;
    }
    let ns = TestNs::new();
    // SYNs to port 9 are dropped: a connect there can only time out.
    ns.nft(
        "table inet nettune_drop {\n\tchain in { type filter hook input priority 0; tcp dport 9 drop; }\n}\n",
    );
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let profile = SocketProfile::new().nodelay(true).priority(4);
            let (listener, _) = profile
                .listen_tokio("127.0.0.1:0".parse().expect("addr"), 16)
                .expect("listen");
            let addr = listener.local_addr().expect("addr");
            let (mut client, report) = profile
                .connect_tokio(addr, Some(Duration::from_secs(5)))
                .await
                .expect("connect");
            assert!(report.all_applied());
            let (mut server, _) = listener.accept().await.expect("accept");
            profile.apply_accepted(&server).expect("accepted");
            // Options on tokio types through AsFd, and a peer policy on a tokio stream.
            assert!(nodelay(&client).expect("nodelay"));
            assert_eq!(priority(&server).expect("priority"), 4);
            let policy = PeerPolicy::new(
                SocketProfile::new().notsent_lowat(4096),
                SocketProfile::new(),
            );
            policy.apply(&server).expect("policy");
            assert_eq!(notsent_lowat(&server).expect("lowat"), 4096);
            client.write_all(b"ping").await.expect("write");
            let mut got = [0u8; 4];
            server.read_exact(&mut got).await.expect("read");
            assert_eq!(&got, b"ping");
            // A timeout, with the error kind that says so.
            let err = SocketProfile::new()
                .connect_tokio(
                    "127.0.0.1:9".parse().expect("addr"),
                    Some(Duration::from_millis(300)),
                )
                .await
                .expect_err("dropped SYN");
            let source = std::error::Error::source(&err)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .expect("io source");
            assert_eq!(source.kind(), std::io::ErrorKind::TimedOut, "{err}");
        });
        // The blocking form times out too.
        let err = SocketProfile::new()
            .connect_timeout(
                "127.0.0.1:9".parse().expect("addr"),
                Duration::from_millis(300),
            )
            .expect_err("dropped SYN");
        assert!(err.to_string().contains("connect"), "{err}");
    });
}

/// `?` on a value that does not parse, in a function returning this crate's `Result`.
fn pick(name: &str) -> Result<CongestionControl> {
    let cc: CongestionControl = name.parse()?;
    Ok(cc)
}

#[test]
fn value_errors_convert_and_error_helpers_look_inside_profiles() {
    assert_eq!(pick("bbr").expect("bbr").as_str(), "bbr");
    let err = pick("no spaces allowed").expect_err("invalid");
    assert_eq!(err.kind(), nettune_core::ErrorKind::InvalidValue);
    // Helpers answer for the option that failed inside a strict profile.
    let inner = Error::PermissionDenied {
        option: "SO_MARK",
        reason: "needs CAP_NET_ADMIN".into(),
        source: std::io::Error::from_raw_os_error(libc::EPERM),
    };
    let wrapped = Error::ProfileFailed {
        option: "SO_MARK",
        source: Box::new(inner),
        restored: vec!["TCP_NODELAY"],
        not_restored: vec![("SO_RCVBUF", "the size stays locked".into())],
    };
    assert!(wrapped.is_permission_denied());
    assert!(!wrapped.is_unsupported());
    let text = wrapped.to_string();
    assert!(
        text.contains("restored the previous values of TCP_NODELAY")
            && text.contains("NOT restored exactly: SO_RCVBUF (the size stays locked)"),
        "{text}"
    );
}

#[test]
fn software_timestamps_on_loopback() {
    if !require_root("software_timestamps_on_loopback") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        timestamp::set_timestamping(&client, Timestamping::SOFTWARE_RX_TX).expect("client");
        timestamp::set_timestamping(&server, Timestamping::SOFTWARE_RX_TX).expect("server");
        assert_eq!(
            timestamp::timestamping(&client).expect("read back"),
            Timestamping::SOFTWARE_RX_TX
        );
        let before = SystemTime::now();
        client.write_all(&[7u8; 100]).expect("write");
        let mut buf = [0u8; 100];
        let (n, rx) = timestamp::recv_timestamped(&server, &mut buf).expect("recv");
        assert!(n > 0);
        let rx = rx.software.expect("a software receive timestamp");
        let after = SystemTime::now();
        assert!(
            rx >= before - Duration::from_millis(5) && rx <= after,
            "{rx:?}"
        );
        // The client's transmit timestamps: sent, then acknowledged, each tagged with the
        // offset of the write's last byte.
        let mut stamps = Vec::new();
        for _ in 0..200 {
            stamps.extend(timestamp::tx_timestamps(&client).expect("error queue"));
            if stamps.iter().any(|t| t.point == TxPoint::Acked) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let at = |p: TxPoint| {
            stamps
                .iter()
                .find(|t| t.point == p)
                .unwrap_or_else(|| panic!("no {p:?} stamp in {stamps:?}"))
        };
        let (sent, acked) = (at(TxPoint::Sent), at(TxPoint::Acked));
        assert_eq!((sent.id, acked.id), (99, 99), "{stamps:?}");
        let (sent_at, acked_at) = (
            sent.stamps.software.expect("software"),
            acked.stamps.software.expect("software"),
        );
        assert!(before <= sent_at && sent_at <= acked_at && acked_at <= SystemTime::now());
        assert_eq!(sent.stamps.hardware, None, "loopback has no hardware clock");
    });
}

#[test]
fn zerocopy_completions_are_read_from_the_error_queue() {
    if !require_root("zerocopy_completions_are_read_from_the_error_queue") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        use std::os::fd::AsRawFd;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        set_zerocopy(&client, true).expect("zerocopy");
        let flags = nix::sys::socket::MsgFlags::from_bits_retain(libc::MSG_ZEROCOPY);
        let data = vec![3u8; 64 * 1024];
        for _ in 0..3 {
            let n = nix::sys::socket::send(client.as_raw_fd(), &data, flags).expect("send");
            assert_eq!(n, data.len());
        }
        let mut sink = vec![0u8; 3 * data.len()];
        server.read_exact(&mut sink).expect("read");
        let mut done = Vec::new();
        for _ in 0..200 {
            done.extend(timestamp::zerocopy_completions(&client).expect("error queue"));
            if done.iter().any(|d| d.last == 2) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // Sends 0, 1 and 2 are covered, in ranges the kernel may merge; loopback copies.
        let covered: Vec<u32> = done.iter().flat_map(|d| d.first..=d.last).collect();
        assert_eq!(covered, vec![0, 1, 2], "{done:?}");
        assert!(done.iter().all(|d| d.copied), "loopback copies: {done:?}");
    });
}

/// Sends `n` bytes over a fresh loopback pair in the calling thread's namespace and
/// returns the receiver's `TCP_INFO`.
fn receiver_info(n: usize) -> TcpInfo {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; n];
        server.read_exact(&mut got).expect("read");
        server
    });
    client.write_all(&vec![5u8; n]).expect("write");
    let server = reader.join().expect("reader");
    tcp_info(&server).expect("server")
}

/// The 6.18 byte counters per ECN codepoint: an ECN connection's ECT(0) payload is
/// counted in `received_e0_bytes`, byte for byte; without ECN nothing is.
#[test]
fn ecn_byte_counters_are_decoded_where_the_kernel_puts_them() {
    if !require_root("ecn_byte_counters_are_decoded_where_the_kernel_puts_them") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("sysctl -qw net.ipv4.tcp_ecn=1");
    let ecn = ns.run(|| receiver_info(200_000));
    assert!(ecn.options().contains(TcpOptions::ECN), "{ecn:?}");
    assert_eq!(ecn.received_e0_bytes(), Some(200_000));
    assert_eq!(ecn.received_e1_bytes(), Some(0));
    assert_eq!(ecn.received_ce_bytes(), Some(0));
    assert_eq!(ecn.received_ce(), Some(0));
    ns.sh("sysctl -qw net.ipv4.tcp_ecn=0");
    let plain = ns.run(|| receiver_info(200_000));
    assert!(!plain.options().contains(TcpOptions::ECN));
    assert_eq!(plain.received_e0_bytes(), Some(0));
}

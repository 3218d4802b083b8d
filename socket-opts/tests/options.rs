//! Every option against the live kernel, inside private namespaces (loopback), with the
//! effects the kernel shows: read back, TCP_INFO, `ss -ti`, netstat counters.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use nettune_sockopt::*;
use nettune_sysctl::{Sysctl, knobs};
use socket2::{Domain, Socket, Type};
use testkit::{TestNs, require_root};

/// A listener, a connected client and the accepted server side, on loopback.
fn pair(addr: &str) -> (TcpListener, TcpStream, TcpStream) {
    let listener = TcpListener::bind(addr).expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (listener, client, server)
}

/// Sends `n` bytes client to server and reads them, so the connection has history.
fn exchange(client: &mut TcpStream, server: &mut TcpStream, n: usize) {
    let data = vec![7u8; n];
    let reader = {
        let mut server = server.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut got = vec![0u8; n];
            server.read_exact(&mut got).expect("read");
        })
    };
    client.write_all(&data).expect("write");
    reader.join().expect("reader");
}

fn fresh(domain: Domain) -> Socket {
    Socket::new(domain, Type::STREAM, None).expect("socket")
}

#[test]
fn every_option_sets_and_reads_back() {
    if !require_root("every_option_sets_and_reads_back") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        let (listener, mut c, mut s) = pair("127.0.0.1:0");
        exchange(&mut c, &mut s, 100_000);

        for v in [true, false] {
            set_nodelay(&c, v).expect("nodelay");
            assert_eq!(nodelay(&c).expect("nodelay"), v);
            set_cork(&c, v).expect("cork");
            assert_eq!(cork(&c).expect("cork"), v);
            set_thin_linear_timeouts(&c, v).expect("thin");
            assert_eq!(thin_linear_timeouts(&c).expect("thin"), v);
            set_zerocopy(&c, v).expect("zerocopy");
            assert_eq!(zerocopy(&c).expect("zerocopy"), v);
            set_quickack(&c, v).expect("quickack");
            assert_eq!(quickack(&c).expect("quickack"), v);
        }
        set_notsent_lowat(&c, 16384).expect("lowat");
        assert_eq!(notsent_lowat(&c).expect("lowat"), 16384);
        set_window_clamp(&c, 65536).expect("clamp");
        assert_eq!(window_clamp(&c).expect("clamp"), 65536);
        set_user_timeout(&c, Some(Duration::from_secs(5))).expect("user timeout");
        assert_eq!(
            user_timeout(&c).expect("user timeout"),
            Some(Duration::from_secs(5))
        );
        set_user_timeout(&c, None).expect("user timeout");
        assert_eq!(user_timeout(&c).expect("user timeout"), None);
        let ka = Keepalive::new(Duration::from_secs(60), Duration::from_secs(10), 3).expect("ka");
        set_keepalive(&c, Some(ka)).expect("keepalive");
        assert_eq!(keepalive(&c).expect("keepalive"), Some(ka));
        set_keepalive(&c, None).expect("keepalive");
        assert_eq!(keepalive(&c).expect("keepalive"), None);
        set_busy_poll(&c, Duration::from_micros(50)).expect("busy poll");
        assert_eq!(busy_poll(&c).expect("busy poll"), Duration::from_micros(50));
        set_prefer_busy_poll(&c, true).expect("prefer busy poll");
        assert!(prefer_busy_poll(&c).expect("prefer busy poll"));
        set_busy_poll_budget(&c, 64).expect("budget (the kernel has no getter)");
        set_priority(&c, 5).expect("priority");
        assert_eq!(priority(&c).expect("priority"), 5);
        set_mark(&c, 42).expect("mark");
        assert_eq!(mark(&c).expect("mark"), 42);
        set_incoming_cpu(&c, 0).expect("incoming cpu");
        assert_eq!(incoming_cpu(&c).expect("incoming cpu"), Some(0));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        assert!(
            incoming_cpu(&s)
                .expect("incoming cpu")
                .is_some_and(|cpu| cpu < cpus)
        );

        // 64-bit pacing: 5 GB/s is above what a 32-bit value holds.
        let fast = PacingRate::BytesPerSecond(5_000_000_000);
        set_max_pacing_rate(&c, fast).expect("pacing");
        assert_eq!(max_pacing_rate(&c).expect("pacing"), fast);
        assert_eq!(
            tcp_info(&c).expect("info").max_pacing_rate(),
            Some(5_000_000_000)
        );
        set_max_pacing_rate(&c, PacingRate::Unlimited).expect("pacing");
        assert_eq!(max_pacing_rate(&c).expect("pacing"), PacingRate::Unlimited);

        let ef = TrafficClass {
            dscp: Dscp::EF,
            ecn: Ecn::NotEct,
        };
        set_traffic_class(&c, ef).expect("tos");
        assert_eq!(traffic_class(&c).expect("tos").dscp, Dscp::EF);
        let (_l6, c6, _s6) = pair("[::1]:0");
        set_traffic_class(&c6, ef).expect("tclass");
        assert_eq!(traffic_class(&c6).expect("tclass").dscp, Dscp::EF);

        // Listener options.
        set_defer_accept(&listener, Duration::from_secs(5)).expect("defer");
        assert_eq!(
            defer_accept(&listener).expect("defer"),
            Duration::from_secs(7),
            "rounded to the retransmit schedule"
        );
        assert!(is_listening(&listener).expect("listening"));
        assert!(!is_listening(&c).expect("listening"));

        // Options set before bind or connect.
        let fresh4 = fresh(Domain::IPV4);
        set_reuseport(&fresh4, true).expect("reuseport");
        assert!(reuseport(&fresh4).expect("reuseport"));
        set_fastopen_connect(&fresh4, true).expect("fastopen connect");
        assert!(fastopen_connect(&fresh4).expect("fastopen connect"));
        set_maxseg(&fresh4, 1200).expect("maxseg");
        assert_eq!(maxseg(&fresh4).expect("maxseg"), 1200);

        // Congestion control, read back and as `ss` sees it.
        let port = c.local_addr().expect("addr").port();
        for name in ["reno", "bbr"] {
            set_congestion(&c, &name.parse().expect("cc")).expect("congestion");
            assert_eq!(congestion(&c).expect("congestion").as_str(), name);
            let ss = std::process::Command::new("ss")
                .args(["-tin", "state", "established", &format!("sport = :{port}")])
                .output()
                .expect("ss");
            let text = String::from_utf8_lossy(&ss.stdout);
            assert!(
                text.split_whitespace().any(|w| w == name),
                "ss shows {name}: {text}"
            );
        }
    });
}

#[test]
fn buffer_sizes_report_doubling_and_caps() {
    if !require_root("buffer_sizes_report_doubling_and_caps") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        let sys = Sysctl::new();
        let rmem_max = sys.get::<knobs::CoreRmemMax>().expect("rmem_max");
        let wmem_max = sys.get::<knobs::CoreWmemMax>().expect("wmem_max");
        let (_l, c, _s) = pair("127.0.0.1:0");
        let b = set_recv_buffer(&c, 100_000).expect("rcvbuf");
        assert_eq!(
            b,
            BufferSize {
                requested: 100_000,
                effective: 200_000
            }
        );
        assert!(!b.capped());
        assert_eq!(recv_buffer(&c).expect("rcvbuf"), 200_000);
        let big = set_recv_buffer(&c, 1 << 30).expect("rcvbuf");
        assert_eq!(big.effective, rmem_max * 2);
        assert!(big.capped());
        let big = set_send_buffer(&c, 1 << 30).expect("sndbuf");
        assert_eq!(big.effective, wmem_max * 2);
        let forced = set_recv_buffer_force(&c, 1 << 25).expect("force");
        assert_eq!(forced.effective, 1 << 26, "FORCE goes past rmem_max");
        let forced = set_send_buffer_force(&c, 1 << 25).expect("force");
        assert_eq!(forced.effective, 1 << 26);
        assert!(set_recv_buffer(&c, u32::MAX).is_err(), "above 2^31-1");
    });
}

fn netstat_counter(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/net/netstat").expect("netstat");
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        if let [names, values] = pair {
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if n == name {
                    return v.parse().expect("number");
                }
            }
        }
    }
    panic!("no counter {name}");
}

fn tfo_connect(addr: SocketAddr, payload: &[u8]) -> TcpStream {
    let (mut stream, report) = SocketProfile::new()
        .fastopen_connect(true)
        .connect(addr)
        .expect("connect");
    assert!(report.all_applied());
    assert!(fastopen_connect(&stream).expect("fastopen connect"));
    stream.write_all(payload).expect("write");
    stream
}

#[test]
fn fast_open_carries_data_in_the_syn_of_a_repeat_connection() {
    if !require_root("fast_open_carries_data_in_the_syn_of_a_repeat_connection") {
        return;
    }
    let ns = TestNs::new();
    ns.sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT | FastOpen::SERVER)
        .expect("sysctl");
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        set_fastopen(&listener, 16).expect("fastopen");
        assert_eq!(fastopen(&listener).expect("fastopen"), 16);
        let addr = listener.local_addr().expect("addr");
        let passive_before = netstat_counter("TCPFastOpenPassive");
        // The first connection fetches a cookie; the second sends data in its SYN.
        for round in 0..2 {
            let client = tfo_connect(addr, b"hello");
            let (mut server, _) = listener.accept().expect("accept");
            let mut got = [0u8; 5];
            server.read_exact(&mut got).expect("read");
            assert_eq!(&got, b"hello");
            let syn_data = tcp_info(&client)
                .expect("info")
                .options()
                .contains(TcpOptions::SYN_DATA);
            assert_eq!(syn_data, round == 1, "round {round}: data in the SYN");
            let why = tcp_info(&client).expect("info").fastopen_client_fail();
            let expected = if round == 0 {
                FastOpenClientFail::CookieUnavailable
            } else {
                FastOpenClientFail::Unspecified
            };
            assert_eq!(why, expected, "round {round}");
        }
        assert!(
            netstat_counter("TCPFastOpenPassive") > passive_before,
            "TCPFastOpenPassive rose"
        );
    });
}

#[test]
fn fast_open_without_the_server_bit_is_reported() {
    if !require_root("fast_open_without_the_server_bit_is_reported") {
        return;
    }
    let ns = TestNs::new();
    ns.sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT)
        .expect("sysctl");
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let err = set_fastopen(&listener, 16).expect_err("inactive");
        assert!(matches!(err, Error::Inactive { .. }), "{err}");
        assert!(err.to_string().contains("set it to 0x3"), "{err}");
    });
}

/// Parses `key:value` fields of an `ss -tin` line.
fn ss_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
}

#[test]
fn tcp_info_agrees_with_ss() {
    if !require_root("tcp_info_agrees_with_ss") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        let (_l, mut c, mut s) = pair("127.0.0.1:0");
        set_congestion(&c, &"bbr".parse().expect("cc")).expect("bbr");
        exchange(&mut c, &mut s, 2_000_000);
        let info = tcp_info(&c).expect("info");
        let port = c.local_addr().expect("addr").port();
        let out = std::process::Command::new("ss")
            .args(["-tin", "state", "established", &format!("sport = :{port}")])
            .output()
            .expect("ss");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            info.len(),
            TCP_INFO_MAX_LEN,
            "a 6.18 kernel sends the whole struct"
        );
        assert_eq!(info.state(), TcpState::Established);
        let cwnd: u32 = ss_field(&text, "cwnd")
            .expect("cwnd")
            .parse()
            .expect("number");
        assert_eq!(info.snd_cwnd(), cwnd, "{text}");
        let rtt_ms: f64 = ss_field(&text, "rtt")
            .and_then(|r| r.split('/').next())
            .expect("rtt")
            .parse()
            .expect("number");
        let ours = info.rtt().as_secs_f64() * 1000.0;
        assert!(
            (ours - rtt_ms).abs() <= 0.5_f64.max(rtt_ms * 0.5),
            "rtt {ours} ms vs ss {rtt_ms} ms"
        );
        let mss: u32 = ss_field(&text, "mss")
            .expect("mss")
            .parse()
            .expect("number");
        assert_eq!(info.snd_mss(), mss);
        assert!(text.contains("bbr"), "{text}");
        assert!(info.bytes_acked().is_some_and(|b| b >= 2_000_000));
        match cc_info(&c).expect("cc info") {
            CcInfo::Bbr(bbr) => assert!(bbr.bandwidth > 0 && bbr.pacing_gain > 0.0, "{bbr:?}"),
            other => panic!("{other:?}"),
        }
        set_congestion(&c, &"reno".parse().expect("cc")).expect("reno");
        assert!(!matches!(cc_info(&c).expect("cc info"), CcInfo::Bbr(_)));
    });
}

#[test]
fn strict_profile_restores_the_options_it_set() {
    if !require_root("strict_profile_restores_the_options_it_set") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        let (_l, c, _s) = pair("127.0.0.1:0");
        let before = (nodelay(&c).expect("nodelay"), notsent_lowat(&c).expect("lowat"), congestion(&c).expect("cc"));
        let profile = SocketProfile::new()
            .nodelay(!before.0)
            .notsent_lowat(12345)
            .congestion("nosuchcc".parse().expect("name"));
        let err = profile.apply(&c).expect_err("third option fails");
        match &err {
            Error::ProfileFailed { option, source, restored, not_restored } => {
                assert_eq!(*option, "TCP_CONGESTION");
                assert!(matches!(**source, Error::CongestionControlUnavailable { .. }), "{source}");
                // What the host may refuse goes first: nothing had been set.
                assert!(restored.is_empty(), "{restored:?}");
                assert!(not_restored.is_empty());
                assert!(err.to_string().contains("nothing had been set"), "{err}");
            }
            other => panic!("{other}"),
        }
        // A failure after keepalive puts all four keepalive options back exactly, the
        // times included (TCP_WINDOW_CLAMP 0 is refused on a connected socket).
        let raw = |opt| nettune_core::raw::getsockopt_int(std::os::fd::AsFd::as_fd(&c), libc::IPPROTO_TCP, opt).expect("raw");
        let keep_before = (keepalive(&c).expect("keepalive"), raw(libc::TCP_KEEPIDLE), raw(libc::TCP_KEEPINTVL), raw(libc::TCP_KEEPCNT));
        let later = SocketProfile::new()
            .keepalive(Some(Keepalive::new(Duration::from_secs(31), Duration::from_secs(7), 4).expect("keepalive")))
            .window_clamp(0)
            .apply(&c)
            .expect_err("window clamp 0 on a connected socket");
        match &later {
            Error::ProfileFailed { option, restored, not_restored, .. } => {
                assert_eq!(*option, "TCP_WINDOW_CLAMP", "{later}");
                assert_eq!(restored, &["SO_KEEPALIVE"]);
                assert!(not_restored.is_empty());
            }
            other => panic!("{other}"),
        }
        assert_eq!(
            keep_before,
            (keepalive(&c).expect("keepalive"), raw(libc::TCP_KEEPIDLE), raw(libc::TCP_KEEPINTVL), raw(libc::TCP_KEEPCNT)),
            "keepalive and its times are as before"
        );
        // A value the setter would refuse stops the profile before anything is written.
        let early = SocketProfile::new()
            .nodelay(!before.0)
            .user_timeout(Some(Duration::from_micros(1500)))
            .apply(&c)
            .expect_err("a fraction of a millisecond");
        assert!(early.to_string().contains("nothing had been set"), "{early}");
        assert!(nettune_core::error::report(&early).contains("whole number of ms"), "{early}");
        assert_eq!(nodelay(&c).expect("nodelay"), before.0);
        let chain = nettune_core::error::report(&err);
        assert!(chain.contains("nosuchcc"), "{chain}");
        let after = (nodelay(&c).expect("nodelay"), notsent_lowat(&c).expect("lowat"), congestion(&c).expect("cc"));
        assert_eq!(before, after, "nothing was changed");

        // Best effort: the rest applies and the failure is reported.
        let report = profile.clone().best_effort().apply(&c).expect("best effort");
        assert_eq!(report.outcomes[0], ("TCP_NODELAY", Outcome::Applied));
        assert_eq!(report.outcomes[1], ("TCP_NOTSENT_LOWAT", Outcome::Applied));
        assert!(matches!(&report.outcomes[2], ("TCP_CONGESTION", Outcome::Failed(why)) if why.contains("available")), "{report}");
        assert_eq!(notsent_lowat(&c).expect("lowat"), 12345);

        // A listener option on a connected socket: refused before anything is set.
        let misuse = SocketProfile::new().nodelay(before.0).fastopen(5).apply(&c).expect_err("misuse");
        assert!(matches!(misuse, Error::Misuse { option: "TCP_FASTOPEN", .. }), "{misuse}");
        assert_eq!(nodelay(&c).expect("nodelay"), !before.0, "nothing was set");
    });
}

#[test]
fn peer_policy_picks_by_address() {
    if !require_root("peer_policy_picks_by_address") {
        return;
    }
    // Two hosts joined by a veth pair with documentation (non-private) addresses: to the
    // server, the client is a WAN peer unless its prefix is declared local.
    let server_ns = TestNs::new();
    let client_ns = TestNs::new();
    let v = testkit::veth_pair(&server_ns, &client_ns, "198.51.100.1/24", "198.51.100.2/24");
    let lan = SocketProfile::new().congestion("reno".parse().expect("cc"));
    let wan = SocketProfile::new()
        .congestion("bbr".parse().expect("cc"))
        .max_pacing_rate(PacingRate::bits_per_second(1_000_000_000));
    let listener = server_ns.run(|| TcpListener::bind(format!("{}:0", v.addr_a)).expect("bind"));
    let addr = listener.local_addr().expect("addr");
    let accept_one = || {
        let _client = client_ns.run(|| TcpStream::connect(addr).expect("connect"));
        listener.accept().expect("accept").0
    };
    let policy = PeerPolicy::new(lan.clone(), wan.clone());
    let s = accept_one();
    policy.apply(&s).expect("apply");
    assert_eq!(
        congestion(&s).expect("cc").as_str(),
        "bbr",
        "a WAN peer gets BBR"
    );
    assert_eq!(
        max_pacing_rate(&s).expect("pacing"),
        PacingRate::BytesPerSecond(125_000_000)
    );
    let local = PeerPolicy::new(lan, wan)
        .lan_prefix("198.51.100.0".parse().expect("ip"), 24)
        .expect("prefix");
    let s = accept_one();
    local.apply(&s).expect("apply");
    assert_eq!(
        congestion(&s).expect("cc").as_str(),
        "reno",
        "a declared LAN peer gets the LAN profile"
    );
    assert_eq!(max_pacing_rate(&s).expect("pacing"), PacingRate::Unlimited);
}

#[test]
fn mptcp_connections_info_subflows_and_rejected_options() {
    if !require_root("mptcp_connections_info_subflows_and_rejected_options") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        let listener = mptcp::listen("127.0.0.1:0".parse().expect("addr"), 16).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let client = mptcp::connect(addr).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        assert!(!mptcp::is_fallback(&client).expect("fallback"));
        let info = mptcp::info(&client).expect("info");
        assert_ne!(info.token, 0);
        assert!(!info.flags.contains(mptcp::MptcpFlags::FALLBACK));
        assert_eq!(info.subflows_total, Some(1));
        let subflows = mptcp::subflows(&client).expect("subflows");
        assert_eq!(subflows.len(), 1);
        assert_eq!(subflows[0].remote, addr);
        assert_eq!(subflows[0].local, client.local_addr().expect("addr"));
        // Each subflow's TCP_INFO, against `ss -ti` for the subflow's own socket.
        let per_path = mptcp::subflow_tcp_info(&client).expect("per-subflow TCP_INFO");
        assert_eq!(per_path.len(), subflows.len());
        assert_eq!(per_path[0].state(), TcpState::Established);
        assert_eq!(per_path[0].len(), TCP_INFO_MAX_LEN);
        let port = subflows[0].local.port();
        let ss = std::process::Command::new("ss")
            .args(["-tin", "state", "established", &format!("sport = :{port}")])
            .output()
            .expect("ss");
        let ss = String::from_utf8_lossy(&ss.stdout).into_owned();
        let cwnd: u32 = ss_field(&ss, "cwnd")
            .expect("cwnd")
            .parse()
            .expect("number");
        assert_eq!(per_path[0].snd_cwnd(), cwnd, "{ss}");
        let mss: u32 = ss_field(&ss, "mss").expect("mss").parse().expect("number");
        assert_eq!(per_path[0].snd_mss(), mss, "{ss}");
        // All of it in one read: the connection, and each subflow's id, addresses, TCP_INFO.
        let full = mptcp::full_info(&client).expect("MPTCP_FULL_INFO");
        assert_eq!(full.info.token, info.token);
        assert_eq!(full.subflows.len(), 1);
        assert_eq!(full.subflows[0].id, 1, "the first subflow");
        assert_eq!(full.subflows[0].addrs, subflows[0]);
        assert_eq!(full.subflows[0].tcp_info.state(), TcpState::Established);
        assert_eq!(full.subflows[0].tcp_info.snd_mss(), mss);
        assert!(
            mptcp::subflow_tcp_info(TcpStream::connect(addr).expect("plain")).is_err(),
            "a plain TCP socket has no subflows"
        );
        // What MPTCP accepts, and what it rejects with a clear error.
        set_congestion(&client, &"reno".parse().expect("cc")).expect("congestion on MPTCP");
        set_notsent_lowat(&client, 4096).expect("lowat on MPTCP");
        assert!(tcp_info(&client).is_ok());
        for err in [
            set_max_pacing_rate(&client, PacingRate::Unlimited).expect_err("pacing"),
            set_user_timeout(&client, Some(Duration::from_secs(1))).expect_err("user timeout"),
        ] {
            assert!(err.is_unsupported(), "{err}");
            assert!(
                err.to_string().contains("MPTCP sockets do not support"),
                "{err}"
            );
        }
        drop(server);
        // An MPTCP client talking to a plain TCP listener falls back.
        let plain = TcpListener::bind("127.0.0.1:0").expect("bind");
        let fallback = mptcp::connect(plain.local_addr().expect("addr")).expect("connect");
        let _accepted = plain.accept().expect("accept");
        assert!(mptcp::is_fallback(&fallback).expect("fallback"));
        assert!(
            mptcp::info(&fallback)
                .expect_err("no info")
                .is_unsupported()
        );
        // Plain TCP sockets are not MPTCP.
        let (_l, c, _s) = pair("127.0.0.1:0");
        assert!(matches!(mptcp::is_fallback(&c), Err(Error::Misuse { .. })));
    });
}

#[test]
fn mptcp_disabled_in_a_namespace_is_a_clear_error() {
    if !require_root("mptcp_disabled_in_a_namespace_is_a_clear_error") {
        return;
    }
    let ns = TestNs::new();
    ns.sysctl()
        .set::<knobs::MptcpEnabled>(false)
        .expect("sysctl");
    ns.run(|| {
        let err = mptcp::socket(&"127.0.0.1:1".parse().expect("addr")).expect_err("disabled");
        assert!(err.is_unsupported(), "{err}");
        assert!(err.to_string().contains("net.mptcp.enabled"), "{err}");
    });
}

#[test]
fn probe_reports_this_namespace() {
    if !require_root("probe_reports_this_namespace") {
        return;
    }
    let ns = TestNs::new();
    ns.sysctl()
        .set::<knobs::TcpFastopen>(FastOpen::CLIENT)
        .expect("sysctl");
    let p = ns.run(probe);
    assert!(p.fastopen_client() && !p.fastopen_server());
    assert!(p.cap_net_admin);
    assert!(!p.available_congestion_control.is_empty());
    assert!(
        p.allowed_congestion_control
            .iter()
            .all(|a| p.available_congestion_control.contains(a))
    );
    assert_eq!(p.rmem_max, Sysctl::new().get::<knobs::CoreRmemMax>().ok());
    assert_eq!(p.busy_read, None, "global key, absent in a child namespace");
    assert!(p.may_select(&"cubic".parse().expect("cc")));
    assert!(
        !p.may_select(&"nosuchcc".parse().expect("cc")),
        "only what the kernel has"
    );
}

/// Every row of the option table, as a profile setting: applied on the socket it belongs
/// on, then read back through `Setting::current`. The list must name every option the
/// table has, so a new row without a test fails here.
#[test]
fn every_table_row_applies_and_reads_back_as_a_setting() {
    if !require_root("every_table_row_applies_and_reads_back_as_a_setting") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        Sysctl::new()
            .set::<knobs::TcpFastopen>(FastOpen::CLIENT | FastOpen::SERVER)
            .expect("fast open on");
        let s = Duration::from_secs;
        // (setting, which socket: c connected, l listener, f fresh; read back exactly?)
        let rows: Vec<(Setting, char, bool)> = vec![
            (Setting::NoDelay(true), 'c', true),
            (Setting::QuickAck(true), 'c', true),
            (Setting::Cork(true), 'c', true),
            (Setting::NotsentLowat(16384), 'c', true),
            (Setting::UserTimeout(Some(s(5))), 'c', true),
            (
                Setting::Keepalive(Some(Keepalive::new(s(30), s(5), 3).expect("keepalive"))),
                'c',
                true,
            ),
            (Setting::MaxSeg(1200), 'f', true),
            (Setting::WindowClamp(65536), 'c', true),
            (Setting::ThinLinearTimeouts(true), 'c', true),
            (Setting::RecvBuffer(65536), 'c', true),
            (Setting::SendBuffer(65536), 'c', true),
            (Setting::RecvBufferForce(300_000), 'c', true),
            (Setting::SendBufferForce(300_000), 'c', true),
            (Setting::BusyPoll(Duration::from_micros(50)), 'c', true),
            (Setting::PreferBusyPoll(true), 'c', true),
            // Write-only: the kernel cannot read it back.
            (Setting::BusyPollBudget(16), 'c', false),
            (Setting::IncomingCpu(0), 'f', true),
            (
                Setting::MaxPacingRate(PacingRate::BytesPerSecond(1_000_000)),
                'c',
                true,
            ),
            (Setting::Priority(7), 'c', true),
            (
                Setting::TrafficClass(TrafficClass::from_byte(0xb8)),
                'c',
                true,
            ),
            (Setting::Mark(0x42), 'c', true),
            (Setting::ZeroCopy(true), 'c', true),
            (Setting::ReusePort(true), 'f', true),
            (Setting::FastOpenConnect(true), 'f', true),
            (Setting::FastOpen(16), 'l', true),
            (Setting::DeferAccept(s(3)), 'l', true),
            (Setting::Congestion("reno".parse().expect("cc")), 'c', true),
        ];
        let mut covered: Vec<&str> = rows.iter().map(|(s, _, _)| s.option()).collect();
        covered.sort_unstable();
        let mut table = Setting::OPTIONS.to_vec();
        table.sort_unstable();
        assert_eq!(covered, table, "every table row has a case here");
        for (setting, socket, exact) in rows {
            let (listener, c, _s) = pair("127.0.0.1:0");
            let fresh = fresh(Domain::IPV4);
            let fd: &dyn std::os::fd::AsFd = match socket {
                'c' => &c,
                'l' => &listener,
                _ => &fresh,
            };
            let report = SocketProfile::new()
                .with(setting.clone())
                .apply(fd.as_fd())
                .unwrap_or_else(|e| {
                    panic!("{}: {}", setting.option(), nettune_core::error::report(&e))
                });
            assert!(report.all_applied(), "{report}");
            if exact {
                let back = setting.current(fd.as_fd()).expect("read back");
                assert_eq!(
                    back,
                    setting,
                    "{} reads back what was set",
                    setting.option()
                );
            }
        }
    });
}

/// A value for each connection option that differs from a fresh socket's, to tell whether
/// accept() carries it from the listener to the connection.
fn non_default_settings() -> Vec<Setting> {
    let s = Duration::from_secs;
    vec![
        Setting::NoDelay(true),
        Setting::QuickAck(false),
        Setting::Cork(true),
        Setting::NotsentLowat(16384),
        Setting::UserTimeout(Some(s(5))),
        Setting::Keepalive(Some(Keepalive::new(s(30), s(5), 3).expect("keepalive"))),
        Setting::MaxSeg(1200),
        Setting::WindowClamp(65536),
        Setting::ThinLinearTimeouts(true),
        // Not 65536: half of a fresh socket's 131072, which would read back the same.
        Setting::RecvBuffer(40000),
        Setting::SendBuffer(65536),
        Setting::RecvBufferForce(300_000),
        Setting::SendBufferForce(300_000),
        Setting::BusyPoll(Duration::from_micros(50)),
        Setting::PreferBusyPoll(true),
        Setting::BusyPollBudget(16),
        Setting::IncomingCpu(1000),
        Setting::MaxPacingRate(PacingRate::BytesPerSecond(1_000_000)),
        Setting::Priority(5),
        Setting::TrafficClass(TrafficClass::from_byte(0xb8)),
        Setting::Mark(0x42),
        Setting::ZeroCopy(true),
        Setting::ReusePort(true),
        Setting::FastOpenConnect(true),
        Setting::Congestion("reno".parse().expect("cc")),
    ]
}

/// Each connection option set on a listener, read on the socket accept() returns: what
/// the kernel carries over is what `Setting::inherited_by_accept` says, option by option.
#[test]
fn accept_inherits_what_the_table_says() {
    if !require_root("accept_inherits_what_the_table_says") {
        return;
    }
    let ns = TestNs::new();
    ns.run(|| {
        Sysctl::new()
            .set::<knobs::TcpFastopen>(FastOpen::CLIENT | FastOpen::SERVER)
            .expect("fast open on");
        let settings = non_default_settings();
        let mut covered: Vec<&str> = settings.iter().map(Setting::option).collect();
        covered.extend(
            Setting::OPTIONS
                .iter()
                .copied()
                .filter(|o| ["TCP_FASTOPEN", "TCP_DEFER_ACCEPT"].contains(o)),
        );
        covered.sort_unstable();
        let mut table = Setting::OPTIONS.to_vec();
        table.sort_unstable();
        assert_eq!(covered, table, "every connection option has a case here");
        let mut wrong = Vec::new();
        for setting in settings {
            let listener = fresh(Domain::IPV4);
            setting.apply(&listener).unwrap_or_else(|e| {
                panic!("{}: {}", setting.option(), nettune_core::error::report(&e))
            });
            listener
                .bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into())
                .expect("bind");
            listener.listen(8).expect("listen");
            let addr = listener
                .local_addr()
                .expect("addr")
                .as_socket()
                .expect("inet");
            let _client = TcpStream::connect(addr).expect("connect");
            let (accepted, _) = listener.accept().expect("accept");
            let fresh_value = setting.current(fresh(Domain::IPV4)).expect("fresh");
            let carried = match setting.current(&accepted) {
                // A write-only option cannot be read: the kernel copies the whole socket
                // (sk_clone_lock), so it is carried; nothing here can tell otherwise.
                _ if !setting.is_readable() => true,
                // The listener's segment size is advertised in its SYN-ACKs; the
                // accepted socket reads back what the connection settled on, at most it.
                Ok(Setting::MaxSeg(mss)) => mss <= 1200 && Setting::MaxSeg(mss) != fresh_value,
                Ok(v) => v == setting && v != fresh_value,
                Err(e) => panic!("{}: {e}", setting.option()),
            };
            if carried != setting.inherited_by_accept() {
                wrong.push(format!(
                    "{}: the kernel {} it",
                    setting.option(),
                    if carried { "carries" } else { "does not carry" }
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    });
}

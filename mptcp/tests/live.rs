//! The mptcp crate against the live kernel, in private namespaces, compared with `ip mptcp`,
//! `ip rule` and `ip route`; and MPTCP end to end over two veth pairs.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use nettune_mptcp::routing::{Route, Routing, Rule};
use nettune_mptcp::*;
use testkit::{TestNs, require_root, veth_pair};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// Our endpoints in the form `ip mptcp endpoint show` prints them.
fn ours_as_ip_prints(ns: &TestNs, pm: &PathManager) -> Vec<String> {
    let mut lines: Vec<String> = pm
        .endpoints()
        .expect("endpoints")
        .iter()
        .map(|e| {
            let mut s = e.addr.to_string();
            if let Some(p) = e.port {
                s.push_str(&format!(" port {p}"));
            }
            s.push_str(&format!(" id {}", e.id));
            for f in e.flags.names() {
                s.push(' ');
                s.push_str(f);
            }
            if let Some(i) = e.ifindex {
                let name = ns.run(move || {
                    nix::net::if_::if_indextoname(i)
                        .expect("ifname")
                        .to_string_lossy()
                        .into_owned()
                });
                s.push_str(&format!(" dev {name}"));
            }
            s
        })
        .collect();
    lines.sort();
    lines
}

fn theirs(ns: &TestNs) -> Vec<String> {
    let mut lines: Vec<String> = ns
        .sh("ip mptcp endpoint show")
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

fn agree(ns: &TestNs, pm: &PathManager) {
    assert_eq!(ours_as_ip_prints(ns, pm), theirs(ns));
}

fn host(ns: &TestNs) {
    ns.sh("ip link add v0 type veth peer name v1 && ip addr add 10.5.0.1/24 dev v0 && ip addr add 10.5.0.2/24 dev v1 && ip link set v0 up && ip link set v1 up");
}

#[test]
fn endpoints_and_limits_agree_with_ip_mptcp_at_each_step() {
    if !require_root("endpoints_and_limits_agree_with_ip_mptcp_at_each_step") {
        return;
    }
    let ns = TestNs::new();
    host(&ns);
    let pm = PathManager::open_in(ns.netns()).expect("open");
    agree(&ns, &pm);
    let a = pm
        .add_endpoint(
            &EndpointSpec::new(ip("10.5.0.1"))
                .id(4)
                .port(1234)
                .interface(Interface::Name("v0".into()))
                .flags(EndpointFlags::SIGNAL),
        )
        .expect("add signal");
    assert_eq!(a, 4);
    let b = pm
        .add_endpoint(
            &EndpointSpec::new(ip("10.5.0.2"))
                .flags(EndpointFlags::SUBFLOW | EndpointFlags::BACKUP),
        )
        .expect("add subflow");
    let c = pm
        .add_endpoint(&EndpointSpec::new(ip("fd00::1")).flags(EndpointFlags::SUBFLOW))
        .expect("add v6");
    assert!(b != a && c != b);
    agree(&ns, &pm);
    let e = pm.endpoint(4).expect("get");
    assert_eq!(
        (e.addr, e.port, e.flags),
        (ip("10.5.0.1"), Some(1234), EndpointFlags::SIGNAL)
    );
    pm.set_flags(EndpointRef::Id(b), Some(false), Some(true))
        .expect("flags");
    assert_eq!(
        pm.endpoint(b).expect("get").flags,
        EndpointFlags::SUBFLOW | EndpointFlags::FULLMESH
    );
    agree(&ns, &pm);
    pm.remove_endpoint(EndpointRef::Addr(ip("fd00::1")))
        .expect("remove by address");
    pm.remove_endpoint(EndpointRef::Id(4))
        .expect("remove by id");
    agree(&ns, &pm);
    assert_eq!(pm.endpoints().expect("list").len(), 1);
    pm.flush().expect("flush");
    agree(&ns, &pm);
    assert!(pm.endpoints().expect("list").is_empty());

    // A taken id and a taken address are different, typed refusals.
    pm.add_endpoint(
        &EndpointSpec::new(ip("10.5.0.1"))
            .id(5)
            .flags(EndpointFlags::SIGNAL),
    )
    .expect("add");
    let taken = pm
        .add_endpoint(
            &EndpointSpec::new(ip("10.5.0.2"))
                .id(5)
                .flags(EndpointFlags::SIGNAL),
        )
        .expect_err("id 5 is taken");
    assert!(matches!(taken, Error::IdInUse { id: 5, .. }), "{taken}");
    assert_eq!(taken.kind(), nettune_core::ErrorKind::Exists);
    let twice = pm
        .add_endpoint(
            &EndpointSpec::new(ip("10.5.0.1"))
                .id(6)
                .flags(EndpointFlags::SIGNAL),
        )
        .expect_err("the address is taken");
    assert!(matches!(twice, Error::Exists { .. }), "{twice}");
    pm.flush().expect("flush");

    pm.set_limits(3, 2).expect("limits");
    let l = pm.limits().expect("limits");
    assert_eq!((l.subflows, l.add_addr_accepted), (3, 2));
    let text = ns.sh("ip mptcp limits show");
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["add_addr_accepted", "2", "subflows", "3"]
    );
}

#[test]
fn bad_input_gives_clear_errors_and_changes_nothing() {
    if !require_root("bad_input_gives_clear_errors_and_changes_nothing") {
        return;
    }
    let ns = TestNs::new();
    host(&ns);
    let pm = PathManager::open_in(ns.netns()).expect("open");
    pm.add_endpoint(&EndpointSpec::new(ip("10.5.0.1")).flags(EndpointFlags::SIGNAL))
        .expect("add");
    pm.set_limits(2, 2).expect("limits");
    let before = (theirs(&ns), ns.sh("ip mptcp limits show"));

    let e = pm.set_limits(9, 0).expect_err("limit 9");
    let ack = e.ext_ack().expect("the kernel's extended ACK");
    assert_eq!(
        ack.message.as_deref(),
        Some("limit greater than maximum (8)"),
        "{e:?}"
    );
    // The request is header (16), genlmsghdr (4), RCV_ADD_ADDRS (8), SUBFLOWS: the
    // kernel points at the SUBFLOWS attribute.
    assert_eq!(ack.offset, Some(28), "{e:?}");
    let chain = nettune_core::error::report(&e);
    assert!(
        chain.contains("set limits") && chain.contains("limit greater than maximum (8)"),
        "{chain}"
    );
    let e = pm
        .add_endpoint(
            &EndpointSpec::new(ip("10.5.0.2"))
                .flags(EndpointFlags::SIGNAL | EndpointFlags::FULLMESH),
        )
        .expect_err("signal+fullmesh");
    assert!(e.to_string().contains("signal and fullmesh"), "{e}");
    let e = pm
        .add_endpoint(
            &EndpointSpec::new(ip("10.5.0.2"))
                .port(80)
                .flags(EndpointFlags::SUBFLOW),
        )
        .expect_err("port");
    assert!(e.to_string().contains("port needs the signal flag"), "{e}");
    let e = pm
        .add_endpoint(
            &EndpointSpec::new(ip("10.5.0.2"))
                .interface(Interface::Name("nosuch9".into()))
                .flags(EndpointFlags::SUBFLOW),
        )
        .expect_err("unknown interface");
    assert!(
        e.to_string().contains("no interface \"nosuch9\"") && e.to_string().contains("v0"),
        "{e}"
    );
    let e = pm
        .set_flags(EndpointRef::Addr(ip("10.5.0.1")), None, Some(true))
        .expect_err("fullmesh on signal");
    assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    assert!(matches!(
        pm.remove_endpoint(EndpointRef::Id(77)),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        (theirs(&ns), ns.sh("ip mptcp limits show")),
        before,
        "nothing changed"
    );
}

#[test]
fn disabled_mptcp_is_a_clear_unsupported_error() {
    if !require_root("disabled_mptcp_is_a_clear_unsupported_error") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("sysctl -qw net.mptcp.enabled=0");
    let e = PathManager::open_in(ns.netns()).expect_err("disabled");
    assert!(
        matches!(&e, Error::Unsupported { reason, .. } if reason.contains("net.mptcp.enabled")),
        "{e}"
    );
}

#[test]
fn routing_tables_and_rules_agree_with_ip() {
    if !require_root("routing_tables_and_rules_agree_with_ip") {
        return;
    }
    let ns = TestNs::new();
    host(&ns);
    ns.sh("ip link add w0 type veth peer name w1 && ip addr add 10.6.0.1/24 dev w0 && ip link set w0 up && ip link set w1 up");
    let r = Routing::open_in(ns.netns()).expect("open");
    let oif = ns.run(|| nix::net::if_::if_nametoindex("w0").expect("index"));
    r.source_route(
        ip("10.6.0.1"),
        (ip("10.6.0.0"), 24),
        oif,
        Some(ip("10.6.0.254")),
        102,
        1002,
    )
    .expect("source route");
    let routes = r.routes(102).expect("routes");
    assert_eq!(routes.len(), 2, "{routes:?}");
    let text = ns.sh("ip route show table 102");
    assert!(text.contains("default via 10.6.0.254 dev w0"), "{text}");
    assert!(text.contains("10.6.0.0/24 dev w0"), "{text}");
    assert!(
        routes
            .iter()
            .any(|x| x.dst.is_none() && x.gateway == Some(ip("10.6.0.254")) && x.oif == Some(oif))
    );
    let rules = r.rules(false).expect("rules");
    let ours = rules.iter().find(|x| x.priority == 1002).expect("our rule");
    assert_eq!((ours.src, ours.table), (Some((ip("10.6.0.1"), 32)), 102));
    let text = ns.sh("ip rule show");
    assert!(text.contains("1002:\tfrom 10.6.0.1 lookup 102"), "{text}");
    // Every rule ip shows, we list, with the same priorities.
    let theirs: Vec<u32> = text
        .lines()
        .filter_map(|l| l.split(':').next()?.trim().parse().ok())
        .collect();
    let mut ours_p: Vec<u32> = rules.iter().map(|x| x.priority).collect();
    ours_p.sort_unstable();
    assert_eq!(ours_p, theirs);
    r.remove_rule(&Rule {
        priority: 1002,
        src: Some((ip("10.6.0.1"), 32)),
        table: 102,
    })
    .expect("remove rule");
    for route in routes {
        r.remove_route(&route).expect("remove route");
    }
    assert!(!ns.sh("ip rule show").contains("lookup 102"));
    assert_eq!(ns.sh("ip route show table 102").trim(), "");
    assert!(matches!(
        r.add_route(&Route {
            table: 254,
            dst: None,
            gateway: Some(ip("10.6.0.254")),
            oif: None
        }),
        Err(Error::InvalidValue { .. })
    ));
}

/// Waits up to 5 s for an event satisfying `want`.
fn expect_event(events: &mut PmEvents, want: impl Fn(&PmEvent) -> bool) -> PmEvent {
    let deadline = Instant::now() + Duration::from_secs(5);
    events
        .set_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match events.next_event() {
            Ok(PmNotice::Event(e)) if want(&e) => return e,
            Ok(other) => seen.push(other),
            Err(_) => {}
        }
    }
    panic!("no such event within 5 s; saw {seen:?}");
}

#[test]
fn end_to_end_two_subflows_over_two_links() {
    if !require_root("end_to_end_two_subflows_over_two_links") {
        return;
    }
    let server = TestNs::new();
    let client = TestNs::new();
    let l1 = veth_pair(&server, &client, "10.11.0.1/24", "10.11.0.2/24");
    let l2 = veth_pair(&server, &client, "10.12.0.1/24", "10.12.0.2/24");
    let spm = PathManager::open_in(server.netns()).expect("server pm");
    let cpm = PathManager::open_in(client.netns()).expect("client pm");
    spm.set_limits(2, 2).expect("limits");
    cpm.set_limits(2, 2).expect("limits");
    // The server announces its second address; the client opens a subflow to it.
    spm.add_endpoint(
        &EndpointSpec::new(ip(&l2.addr_a))
            .interface(Interface::Name(l2.a.clone()))
            .flags(EndpointFlags::SIGNAL),
    )
    .expect("signal endpoint");
    cpm.add_endpoint(
        &EndpointSpec::new(ip(&l2.addr_b))
            .interface(Interface::Name(l2.b.clone()))
            .flags(EndpointFlags::SUBFLOW),
    )
    .expect("subflow endpoint");
    // Source routing on the client: each address leaves by its own link.
    let routing = Routing::open_in(client.netns()).expect("routing");
    for (i, link) in [&l1, &l2].iter().enumerate() {
        let oif = client.run({
            let name = link.b.clone();
            move || nix::net::if_::if_nametoindex(name.as_str()).expect("index")
        });
        let net = ip(&link.addr_b.replace(".2", ".0"));
        routing
            .source_route(
                ip(&link.addr_b),
                (net, 24),
                oif,
                None,
                100 + i as u32,
                1000 + i as u32,
            )
            .expect("source route");
    }
    let mut events = cpm.events().expect("events");
    // Listen on every address, so joins to the announced address find the listener.
    let listener = server.run(|| {
        nettune_sockopt::mptcp::listen("0.0.0.0:0".parse().expect("addr"), 8).expect("listen")
    });
    let addr: std::net::SocketAddr = format!(
        "{}:{}",
        l1.addr_a,
        listener.local_addr().expect("addr").port()
    )
    .parse()
    .expect("addr");
    let mut stream = client.run(|| nettune_sockopt::mptcp::connect(addr).expect("connect"));
    let (mut accepted, _) = listener.accept().expect("accept");
    let created = expect_event(&mut events, |e| e.kind == EventKind::Created);
    let token = created.token.expect("token");
    expect_event(&mut events, |e| {
        e.kind == EventKind::Established && e.token == Some(token)
    });
    let announced = ip(&l2.addr_a);
    let sub = expect_event(&mut events, |e| {
        e.kind == EventKind::SubEstablished && e.token == Some(token) && e.daddr == Some(announced)
    });
    assert!(
        sub.sport.is_some() && sub.dport == Some(addr.port()),
        "ports in host order: {sub:?}"
    );
    // Data flows across the connection.
    let payload = vec![0x5au8; 1 << 20];
    let echo = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        accepted.read_exact(&mut buf).expect("server read");
        accepted.write_all(&buf).expect("server write");
        accepted
    });
    stream.write_all(&payload).expect("client write");
    let mut back = vec![0u8; 1 << 20];
    stream.read_exact(&mut back).expect("client read");
    assert_eq!(back, payload);
    let _accepted = echo.join().expect("echo");
    let info = nettune_sockopt::mptcp::info(&stream).expect("info");
    assert!(info.subflows >= 1, "subflows besides the first: {info:?}");
    assert_eq!(info.token, token);
    let subflows = nettune_sockopt::mptcp::subflows(&stream).expect("subflows");
    assert_eq!(
        subflows.len(),
        usize::from(info.subflows) + 1,
        "{subflows:?}"
    );
    assert!(
        subflows
            .iter()
            .any(|s| s.remote.ip() == announced && s.local.ip() == ip(&l2.addr_b)),
        "{subflows:?}"
    );
    assert!(
        subflows.iter().any(|s| s.remote == addr),
        "the initial subflow: {subflows:?}"
    );
}

#[test]
fn userspace_path_manager_commands() {
    if !require_root("userspace_path_manager_commands") {
        return;
    }
    let server = TestNs::new();
    let client = TestNs::new();
    let l1 = veth_pair(&server, &client, "10.21.0.1/24", "10.21.0.2/24");
    let l2 = veth_pair(&server, &client, "10.22.0.1/24", "10.22.0.2/24");
    server.sh("sysctl -qw net.mptcp.path_manager=userspace");
    let spm = PathManager::open_in(server.netns()).expect("server pm");
    let cpm = PathManager::open_in(client.netns()).expect("client pm");
    cpm.set_limits(2, 2).expect("limits");
    // In the kernel-PM namespace, userspace commands are refused with the fix.
    let e = cpm
        .announce(1, 1, ip(&l2.addr_b), None)
        .expect_err("kernel pm");
    assert!(e.to_string().contains("path_manager"), "{e}");
    let mut sev = spm.events().expect("server events");
    let mut cev = cpm.events().expect("client events");
    let listener = server.run(|| {
        nettune_sockopt::mptcp::listen(format!("{}:0", l1.addr_a).parse().expect("addr"), 8)
            .expect("listen")
    });
    let addr = listener.local_addr().expect("addr");
    let _stream = client.run(|| nettune_sockopt::mptcp::connect(addr).expect("connect"));
    let _accepted = listener.accept().expect("accept");
    let token = expect_event(&mut sev, |e| e.kind == EventKind::Established)
        .token
        .expect("token");
    spm.announce(token, 7, ip(&l2.addr_a), None)
        .expect("announce");
    let ann = expect_event(&mut cev, |e| e.kind == EventKind::Announced);
    assert_eq!((ann.daddr, ann.rem_id), (Some(ip(&l2.addr_a)), Some(7)));
    spm.remove(token, 7).expect("remove");
    let rem = expect_event(&mut cev, |e| e.kind == EventKind::Removed);
    assert_eq!(rem.rem_id, Some(7));
}

/// 300 MPTCP connections while the reader pauses: the burst overflows a small buffer, the
/// stream says so with a typed overrun item and then goes on with the next events; a
/// buffer sized for the burst loses nothing. The async stream yields the same.
#[test]
fn a_paused_reader_sees_an_overrun_then_the_events_that_follow() {
    if !require_root("a_paused_reader_sees_an_overrun_then_the_events_that_follow") {
        return;
    }
    let ns = TestNs::new();
    let pm = PathManager::open_in(ns.netns()).expect("open");
    let small = pm.events_with(Some(4096)).expect("events");
    let large = pm.events_with(Some(4 << 20)).expect("events");
    assert!(large.recv_buffer() >= 4 << 20, "{}", large.recv_buffer());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut stream = rt.block_on(async { pm.async_events(Some(4096)).expect("async events") });
    let burst = |n: usize| {
        ns.run(move || {
            let listener =
                nettune_sockopt::mptcp::listen("127.0.0.1:0".parse().expect("addr"), 512)
                    .expect("listen");
            let addr = listener.local_addr().expect("addr");
            let mut keep = Vec::new();
            for _ in 0..n {
                let c = nettune_sockopt::mptcp::connect(addr).expect("connect");
                let (s, _) = listener.accept().expect("accept");
                keep.push((c, s));
            }
            // The connections close here: more events.
        });
    };
    burst(300);
    // The small buffer: an overrun first, never a bare ENOBUFS error.
    let mut small = small;
    small
        .set_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let first = small.next_event().expect("a typed item, not an error");
    assert_eq!(first, PmNotice::Overrun);
    // ... and the stream goes on: events of a later connection arrive.
    burst(1);
    let mut later = 0;
    while let Ok(item) = small.next_event() {
        if let PmNotice::Event(e) = item {
            later += usize::from(e.kind == EventKind::Created);
        }
    }
    assert!(later >= 1, "the events after the overrun came");
    // The large buffer kept everything: 301 connections created (both ends).
    let mut large = large;
    large
        .set_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let (mut created, mut overruns) = (0, 0);
    while let Ok(item) = large.next_event() {
        match item {
            PmNotice::Event(e) if e.kind == EventKind::Created => created += 1,
            PmNotice::Overrun => overruns += 1,
            _ => {}
        }
    }
    assert_eq!(overruns, 0);
    assert_eq!(created, 2 * 301, "each connection's two ends");
    // The async stream over a small buffer: the same overrun item.
    rt.block_on(async {
        let next = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
        });
        let item = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("in time")
            .expect("the stream does not end")
            .expect("a typed item");
        assert_eq!(item, PmNotice::Overrun);
    });
}

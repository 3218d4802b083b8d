//! conntrack against the live kernel, inside private namespaces, compared with the
//! conntrack tool.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use nettune_conntrack::*;
use testkit::{TestNs, require_root};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// `n` distinct UDP entries: 10.(i/250).(i%250).1 -> 10.200.0.1, sport 1000+i%50000.
fn udp_entries(n: usize) -> Vec<Entry> {
    (0..n)
        .map(|i| {
            let src = IpAddr::V4(Ipv4Addr::new(10, (i / 250) as u8, (i % 250) as u8, 1));
            Entry::new(
                Tuple::udp(src, 1000 + (i % 50_000) as u16, ip("10.200.0.1"), 53),
                Duration::from_secs(600),
            )
        })
        .collect()
}

fn create_all(ct: &Conntrack, entries: &[Entry]) {
    for e in entries {
        ct.create(e)
            .unwrap_or_else(|err| panic!("create {}: {err}", e.original));
    }
}

fn dump_set(ct: &Conntrack, f: &Filter) -> BTreeSet<String> {
    ct.dump(f)
        .expect("dump")
        .map(|e| e.expect("entry").original.to_string())
        .collect()
}

/// `conntrack -L` lines keyed by the original tuple text: (reply tuple text, mark, timeout).
fn tool_list(ns: &TestNs, args: &[&str]) -> BTreeMap<String, (String, u32, u64)> {
    let mut a = vec!["-L"];
    a.extend_from_slice(args);
    let out = ns.exec("conntrack", &a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let timeout: u64 = words[2].parse().expect("timeout");
            let fields: Vec<&str> = words.iter().copied().filter(|w| w.contains('=')).collect();
            // src dst sport dport (orig), then src dst sport dport (reply), then mark, use.
            let pick = |from: usize| fields[from..from + 4].join(" ");
            let mark = fields
                .iter()
                .find_map(|w| w.strip_prefix("mark="))
                .map_or(0, |m| m.parse().expect("mark"));
            (pick(0), (pick(4), mark, timeout))
        })
        .collect()
}

#[test]
fn ten_thousand_created_entries_dump_exactly_and_match_the_tool() {
    if !require_root("ten_thousand_created_entries_dump_exactly_and_match_the_tool") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let entries = udp_entries(10_000);
    create_all(&ct, &entries);
    let ours: Vec<Entry> = ct
        .dump(&Filter::new())
        .expect("dump")
        .collect::<Result<_>>()
        .expect("entries");
    assert_eq!(ours.len(), 10_000);
    let want: BTreeSet<String> = entries.iter().map(|e| e.original.to_string()).collect();
    let got: BTreeSet<String> = ours.iter().map(|e| e.original.to_string()).collect();
    assert_eq!(got, want, "exactly the created entries");
    let tool = tool_list(&ns, &[]);
    assert_eq!(tool.len(), 10_000);
    for e in &ours {
        let (reply, mark, timeout) = tool
            .get(&e.original.to_string())
            .unwrap_or_else(|| panic!("tool lacks {}", e.original));
        assert_eq!(reply, &e.reply.expect("reply").to_string());
        assert_eq!(*mark, e.mark.unwrap_or(0));
        let ours_t = e.timeout.expect("timeout").as_secs();
        assert!(
            ours_t.abs_diff(*timeout) <= 2,
            "{}: timeout {ours_t} vs {timeout}",
            e.original
        );
        assert!(e.status.contains(Status::CONFIRMED) && e.id.is_some());
        assert_eq!(e.family, Family::Ipv4);
        assert_eq!(e.original.protocol, 17);
    }
}

#[test]
fn each_filter_returns_exactly_its_subset() {
    if !require_root("each_filter_returns_exactly_its_subset") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let mut entries = udp_entries(300);
    for (i, e) in entries.iter_mut().enumerate() {
        e.mark = Some(match i % 3 {
            0 => 0x10,
            1 => 0x20,
            _ => 0x110,
        });
        if i % 4 == 0 {
            e.status = Status::SEEN_REPLY | Status::ASSURED;
        }
        if i % 10 == 0 {
            e.zone = Some(7);
        }
    }
    let v6: Vec<Entry> = (0..20u16)
        .map(|i| {
            Entry::new(
                Tuple::tcp(ip("fd00::1"), 2000 + i, ip("fd00::2"), 443),
                Duration::from_secs(600),
            )
        })
        .collect();
    create_all(&ct, &entries);
    create_all(&ct, &v6);
    let all: Vec<Entry> = ct
        .dump(&Filter::new())
        .expect("dump")
        .collect::<Result<_>>()
        .expect("entries");
    assert_eq!(all.len(), 320);
    assert_eq!(
        all.iter().filter(|e| e.zone == Some(7)).count(),
        30,
        "zones were set"
    );
    let filters = [
        Filter::new().mark(0x10, 0xff),
        Filter::new().mark(0x10, 0xfff),
        Filter::new().mark(0x20, 0xffff_ffff),
        Filter::new().family(Family::Ipv6),
        Filter::new().family(Family::Ipv4),
        Filter::new().status(Status::ASSURED, Status::ASSURED),
        Filter::new().zone(7),
        Filter::new().original(TupleFilter {
            src: Some(ip("10.0.5.1")),
            ..TupleFilter::default()
        }),
        Filter::new()
            .original(TupleFilter {
                src: Some(ip("fd00::1")),
                protocol: Some(6),
                src_port: Some(2005),
                ..TupleFilter::default()
            })
            .userspace_fallback(true),
        Filter::new().reply(TupleFilter {
            dst: Some(ip("10.1.2.1")),
            ..TupleFilter::default()
        }),
        Filter::new()
            .family(Family::Ipv4)
            .mark(0x20, 0xff)
            .status(Status::ASSURED, Status::ASSURED),
        // A prefix: the kernel narrows by the rest, the prefix is matched here.
        Filter::new().original(TupleFilter::default().src_net(ip("10.1.0.0"), 16)),
        Filter::new()
            .mark(0x10, 0xff)
            .original(TupleFilter::default().src_net(ip("10.0.0.0"), 24)),
        Filter::new().original(TupleFilter::default().src_net(ip("fd00::"), 64)),
        // A protocol without a family: both families, as `conntrack -L -p tcp`.
        Filter::new().original(TupleFilter {
            protocol: Some(6),
            ..TupleFilter::default()
        }),
    ];
    for f in &filters {
        let want: BTreeSet<String> = all
            .iter()
            .filter(|e| f.matches(e))
            .map(|e| e.original.to_string())
            .collect();
        assert!(!want.is_empty(), "{f:?} selects something");
        assert!(want.len() < all.len(), "{f:?} leaves something out");
        assert_eq!(dump_set(&ct, f), want, "{f:?}");
    }
    // The tool agrees on the mark filter, a prefix and a protocol alone.
    let tool = tool_list(&ns, &["-m", "32"]);
    assert_eq!(
        tool.len(),
        dump_set(&ct, &Filter::new().mark(0x20, 0xffff_ffff)).len()
    );
    let tool = tool_list(&ns, &["-s", "10.1.0.0/16"]);
    assert_eq!(
        tool.len(),
        dump_set(
            &ct,
            &Filter::new().original(TupleFilter::default().src_net(ip("10.1.0.0"), 16))
        )
        .len()
    );
    let tool = tool_list(&ns, &["-p", "tcp"]);
    let ours = dump_set(
        &ct,
        &Filter::new().original(TupleFilter {
            protocol: Some(6),
            ..TupleFilter::default()
        }),
    );
    assert_eq!((tool.len(), ours.len()), (20, 20));
    // The kernel's IPv6 address filter is inverted: without the fallback, a clear refusal.
    let v6 = ct.dump(&Filter::new().original(TupleFilter {
        src: Some(ip("fd00::1")),
        ..TupleFilter::default()
    }));
    assert!(
        matches!(&v6, Err(Error::Unsupported { reason, .. }) if reason.contains("IPv6")),
        "{v6:?}"
    );
    // A port filter without the protocol is refused before anything is sent.
    let bad = ct.dump(&Filter::new().original(TupleFilter {
        src: Some(ip("10.0.0.1")),
        dst_port: Some(53),
        ..TupleFilter::default()
    }));
    assert!(matches!(bad, Err(Error::InvalidValue { .. })), "{bad:?}");
}

fn tool_count(ns: &TestNs) -> u32 {
    ns.sh("conntrack -C").trim().parse().expect("count")
}

#[test]
fn count_and_stats_agree_with_the_tool() {
    if !require_root("count_and_stats_agree_with_the_tool") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    create_all(&ct, &udp_entries(1234));
    let c = ct.count().expect("count");
    assert_eq!(c.entries, 1234);
    assert_eq!(c.entries, tool_count(&ns));
    let max: u32 = ns
        .sh("sysctl -n net.netfilter.nf_conntrack_max")
        .trim()
        .parse()
        .expect("max");
    assert_eq!(c.max, max);
    let stats = ct.stats().expect("stats");
    let text = ns.sh("conntrack -S");
    let tool: Vec<BTreeMap<String, u32>> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.parse().expect("n")))
                .collect()
        })
        .collect();
    assert_eq!(stats.len(), tool.len(), "one line per CPU");
    for (s, t) in stats.iter().zip(&tool) {
        assert_eq!(u32::from(s.cpu), t["cpu"]);
        for (name, ours) in [
            ("found", s.found),
            ("invalid", s.invalid),
            ("insert_failed", s.insert_failed),
            ("drop", s.drop),
            ("early_drop", s.early_drop),
            ("error", s.error),
            ("search_restart", s.search_restart),
            ("clash_resolve", s.clash_resolve),
            ("chaintoolong", s.chaintoolong),
        ] {
            assert_eq!(Some(&ours), t.get(name), "cpu {} {name}", s.cpu);
        }
    }
}

#[test]
fn get_update_delete_and_filtered_flush_touch_exactly_their_targets() {
    if !require_root("get_update_delete_and_filtered_flush_touch_exactly_their_targets") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let mut entries = udp_entries(200);
    for (i, e) in entries.iter_mut().enumerate() {
        e.mark = Some(if i % 2 == 0 { 0xa } else { 0xb });
    }
    let v6 = Entry::new(
        Tuple::udp(ip("fd00::1"), 7, ip("fd00::2"), 8),
        Duration::from_secs(600),
    );
    create_all(&ct, &entries);
    create_all(&ct, std::slice::from_ref(&v6));
    assert!(matches!(ct.create(&entries[0]), Err(Error::Exists { .. })));

    let t = entries[3].original;
    let got = ct.get(&t).expect("get");
    assert_eq!(got.original, t);
    ct.update(
        &t,
        &Update {
            mark: Some(0x77),
            timeout: Some(Duration::from_secs(100)),
            ..Update::default()
        },
    )
    .expect("update");
    let got = ct.get(&t).expect("get");
    assert_eq!(got.mark, Some(0x77));
    assert!(got.timeout.expect("timeout") <= Duration::from_secs(100));
    let absent = Tuple::udp(ip("192.0.2.1"), 1, ip("192.0.2.2"), 2);
    assert!(matches!(ct.get(&absent), Err(Error::NotFound { .. })));
    assert!(matches!(
        ct.update(
            &absent,
            &Update {
                mark: Some(1),
                ..Update::default()
            }
        ),
        Err(Error::NotFound { .. })
    ));

    // Delete with a wrong id guard: refused; with the right one: gone.
    let id = got.id.expect("id");
    assert!(matches!(
        ct.delete(&t, Some(id.wrapping_add(1))),
        Err(Error::NotFound { .. })
    ));
    assert!(ct.get(&t).is_ok());
    ct.delete(&t, Some(id)).expect("delete");
    assert!(matches!(ct.get(&t), Err(Error::NotFound { .. })));
    assert_eq!(ct.count().expect("count").entries, 200);

    // Flush mark 0xa (IPv4 only): exactly those go; the 0xb ones and the IPv6 entry stay.
    let before: Vec<Entry> = ct
        .dump(&Filter::new())
        .expect("dump")
        .collect::<Result<_>>()
        .expect("entries");
    let keep: BTreeSet<String> = before
        .iter()
        .filter(|e| e.mark != Some(0xa))
        .map(|e| e.original.to_string())
        .collect();
    ct.flush(&Filter::new().family(Family::Ipv4).mark(0xa, 0xff))
        .expect("flush");
    assert_eq!(dump_set(&ct, &Filter::new()), keep);
    assert_eq!(tool_count(&ns) as usize, keep.len());
    // Flushing IPv4 leaves IPv6 alone (the family is honoured).
    ct.flush(&Filter::new().family(Family::Ipv4))
        .expect("flush v4");
    assert_eq!(
        dump_set(&ct, &Filter::new()),
        BTreeSet::from([v6.original.to_string()])
    );
}

/// Waits for an event that satisfies `want`, within a bounded number of events and 10 s
/// without one.
fn wait_for(events: &mut Events, want: impl Fn(&Event) -> bool) -> Event {
    events
        .set_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    for _ in 0..10_000 {
        let e = events.next_event().expect("an event within 10 s");
        if want(&e) {
            return e;
        }
    }
    panic!("no matching event");
}

#[test]
fn real_traffic_produces_new_and_destroy_events() {
    if !require_root("real_traffic_produces_new_and_destroy_events") {
        return;
    }
    let ns = TestNs::new();
    ns.enable_conntrack();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let mut events = ct.events(EventConfig::default()).expect("events");
    let (udp_tuple, tcp_port) = ns.run(|| {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        tx.send_to(b"x", rx.local_addr().expect("addr"))
            .expect("send");
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = l.local_addr().expect("addr").port();
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        drop(l.accept().expect("accept"));
        drop(c);
        (
            Tuple::udp(
                ip("127.0.0.1"),
                tx.local_addr().expect("a").port(),
                ip("127.0.0.1"),
                rx.local_addr().expect("a").port(),
            ),
            port,
        )
    });
    wait_for(
        &mut events,
        |e| matches!(e, Event::New(x) if x.original == udp_tuple),
    );
    let new_tcp = wait_for(
        &mut events,
        |e| matches!(e, Event::New(x) if x.original.protocol == 6 && x.original.dst_port == Some(tcp_port)),
    );
    assert!(
        matches!(&new_tcp, Event::New(x) if x.tcp.is_some()),
        "{new_tcp:?}"
    );
    ct.delete(&udp_tuple, None).expect("delete");
    wait_for(
        &mut events,
        |e| matches!(e, Event::Destroy(x) if x.original == udp_tuple),
    );
    ct.flush(&Filter::new()).expect("flush");
    wait_for(
        &mut events,
        |e| matches!(e, Event::Destroy(x) if x.original.dst_port == Some(tcp_port)),
    );
}

#[test]
fn a_burst_larger_than_the_buffer_yields_an_overrun() {
    if !require_root("a_burst_larger_than_the_buffer_yields_an_overrun") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let mut events = ct
        .events(EventConfig {
            groups: EventGroups::NEW,
            recv_buffer: Some(16 * 1024),
        })
        .expect("events");
    events
        .set_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    create_all(&ct, &udp_entries(3000));
    let mut seen = 0;
    let mut overrun = false;
    while seen < 3000 {
        match events.next_event().expect("event") {
            Event::Overrun => {
                overrun = true;
                break;
            }
            _ => seen += 1,
        }
    }
    assert!(overrun, "an explicit overrun item after {seen} events");
    assert!(seen < 3000);
    // The resync dump has everything.
    assert_eq!(
        events.resync(&ct, &Filter::new()).expect("dump").count(),
        3000
    );
}

#[test]
fn a_large_buffer_receives_a_50000_event_burst_complete() {
    if !require_root("a_large_buffer_receives_a_50000_event_burst_complete") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let mut events = ct
        .events(EventConfig {
            groups: EventGroups::NEW,
            recv_buffer: Some(128 << 20),
        })
        .expect("events");
    assert!(
        events.recv_buffer() >= 128 << 20,
        "SO_RCVBUFFORCE as root: {}",
        events.recv_buffer()
    );
    events
        .set_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let entries = udp_entries(50_000);
    create_all(&ct, &entries);
    let mut seen = BTreeSet::new();
    while seen.len() < entries.len() {
        match events.next_event().expect("event") {
            Event::New(e) => {
                seen.insert(e.original.to_string());
            }
            Event::Overrun => panic!("overrun after {} events", seen.len()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen.len(), 50_000);
}

#[test]
fn notrack_keeps_matching_traffic_out_of_the_table() {
    if !require_root("notrack_keeps_matching_traffic_out_of_the_table") {
        return;
    }
    let ns = TestNs::new();
    ns.enable_conntrack();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let rules = NoTrack::new().port(L4::Udp, 5353);
    assert!(
        rules
            .ruleset()
            .expect("dry run")
            .contains("udp dport 5353 notrack")
    );
    let mut watch = rules.watch(Some(ns.netns())).expect("watch");
    rules.install(Some(ns.netns())).expect("install");
    assert!(rules.installed(Some(ns.netns())).expect("installed"));
    // What the kernel holds is what the text ruleset says, rule for rule.
    let rule_lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.ends_with("notrack") || l.starts_with("type "))
            .map(str::to_owned)
            .collect()
    };
    let listed = ns.sh(&format!("nft list table inet {NOTRACK_TABLE}"));
    assert_eq!(
        rule_lines(&listed),
        rule_lines(&rules.ruleset().expect("text")),
        "{listed}"
    );
    // Installing again replaces the table, as one batch.
    rules.install(Some(ns.netns())).expect("reinstall");
    assert_eq!(
        rule_lines(&ns.sh(&format!("nft list table inet {NOTRACK_TABLE}"))),
        rule_lines(&listed)
    );
    assert!(
        !watch
            .wait_removed(Some(Duration::from_millis(200)))
            .expect("watch"),
        "a reinstall is not a removal"
    );
    let send = |port: u16| {
        ns.run(move || {
            let rx = UdpSocket::bind(("127.0.0.1", port)).expect("bind");
            let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            tx.send_to(b"x", rx.local_addr().expect("a")).expect("send");
            let mut b = [0u8; 1];
            rx.recv(&mut b).expect("recv");
        })
    };
    let to = |port: u16| {
        Filter::new().original(TupleFilter {
            dst: Some(ip("127.0.0.1")),
            protocol: Some(17),
            dst_port: Some(port),
            ..TupleFilter::default()
        })
    };
    send(5353);
    send(6000);
    assert_eq!(
        ct.dump(&to(5353)).expect("dump").count(),
        0,
        "exempt from tracking"
    );
    assert_eq!(
        ct.dump(&to(6000)).expect("dump").count(),
        1,
        "other traffic is tracked"
    );
    // A firewall reload wipes the table: the watch says so, and so does `installed`.
    ns.sh("nft flush ruleset");
    assert!(
        watch
            .wait_removed(Some(Duration::from_secs(5)))
            .expect("watch"),
        "the removal was seen"
    );
    assert!(!rules.installed(Some(ns.netns())).expect("installed"));
    ns.enable_conntrack();
    rules.install(Some(ns.netns())).expect("install again");
    NoTrack::remove(Some(ns.netns())).expect("remove");
    assert!(!ns.sh("nft list ruleset").contains("notrack"));
    assert!(matches!(
        NoTrack::remove(Some(ns.netns())),
        Err(Error::NotFound { .. })
    ));
    send(5353);
    assert_eq!(
        ct.dump(&to(5353)).expect("dump").count(),
        1,
        "tracked again"
    );
}

#[test]
fn notrack_reads_back_what_is_installed_and_refuses_rules_it_did_not_write() {
    if !require_root("notrack_reads_back_what_is_installed_and_refuses_rules_it_did_not_write") {
        return;
    }
    let ns = TestNs::new();
    let here = Some(ns.netns());
    assert_eq!(NoTrack::read(here).expect("read"), None, "no table yet");
    let rules = NoTrack::new()
        .port(L4::Udp, 5353)
        .port(L4::Tcp, 8080)
        .address(ip("10.1.2.3"))
        .address(ip("fd00::7"));
    rules.install(here).expect("install");
    // Read over netlink, decoded from the kernel's own expressions.
    assert_eq!(NoTrack::read(here).expect("read"), Some(rules.clone()));
    // The real tool's listing reads back to the same set, and so does our text.
    let listed = ns.sh(&format!("nft list table inet {NOTRACK_TABLE}"));
    assert_eq!(
        NoTrack::from_ruleset(&listed).expect("parse nft"),
        rules,
        "{listed}"
    );
    assert_eq!(NoTrack::from_ruleset(&rules.text()).expect("parse"), rules);
    // A rule nettune did not write is refused, naming what it found, not guessed at.
    ns.sh(&format!(
        "nft add rule inet {NOTRACK_TABLE} prerouting counter"
    ));
    let err = NoTrack::read(here).expect_err("foreign rule");
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    assert!(err.to_string().contains("did not write"), "{err}");
    // As is a set that lacks a direction.
    rules.install(here).expect("install");
    let handle = ns
        .sh(&format!("nft -a list chain inet {NOTRACK_TABLE} output"))
        .lines()
        .find(|l| l.contains("udp sport 5353"))
        .and_then(|l| l.rsplit("handle ").next())
        .map(|h| h.trim().to_owned())
        .expect("handle");
    ns.sh(&format!(
        "nft delete rule inet {NOTRACK_TABLE} output handle {handle}"
    ));
    let err = NoTrack::read(here).expect_err("half a set");
    assert!(err.to_string().contains("both directions"), "{err}");
    // An empty set is the table with its chains and no rules, and reads back so.
    NoTrack::new().replace(here).expect("replace");
    assert!(ns.sh("nft list ruleset").contains("chain prerouting"));
    assert_eq!(NoTrack::read(here).expect("read"), Some(NoTrack::new()));
    NoTrack::remove(here).expect("remove");
    assert_eq!(NoTrack::read(here).expect("read"), None);
    // Lines that are not NOTRACK rules do not parse.
    for bad in [
        "table inet x {\nchain prerouting {\nudp dport 99999 notrack",
        "chain output {\ncounter",
        "ip saddr fd00::1 notrack",
    ] {
        assert!(NoTrack::from_ruleset(bad).is_err(), "{bad}");
    }
}

#[test]
fn async_events_stream() {
    if !require_root("async_events_stream") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut events = ct.async_events(EventConfig::default()).expect("events");
        let e = udp_entries(3);
        create_all(&ct, &e);
        for want in &e {
            let got = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .expect("in time")
                .expect("event");
            assert!(
                matches!(&got, Event::New(x) if x.original == want.original),
                "{got:?}"
            );
        }
        // The same events through the Stream trait: the deletions, in order.
        for x in &e {
            ct.delete(&x.original, None).expect("delete");
        }
        for want in &e {
            let next = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut events), cx)
            });
            let got = tokio::time::timeout(Duration::from_secs(5), next)
                .await
                .expect("in time")
                .expect("the stream does not end")
                .expect("event");
            assert!(
                matches!(&got, Event::Destroy(x) if x.original == want.original),
                "{got:?}"
            );
        }
        assert!(
            std::os::fd::AsFd::as_fd(&events)
                .try_clone_to_owned()
                .is_ok()
        );
    });
}

/// "Dump, then delete stale flows" on one handle: get, count and delete inside the dump
/// loop work (the dump has a socket of its own), under a timeout so a regression fails
/// rather than hangs the suite.
#[test]
fn the_handle_stays_usable_inside_a_dump_loop() {
    if !require_root("the_handle_stays_usable_inside_a_dump_loop") {
        return;
    }
    let ns = TestNs::new();
    let ct = std::sync::Arc::new(Conntrack::open_in(ns.netns()).expect("open"));
    let entries = udp_entries(2000);
    create_all(&ct, &entries);
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = {
        let ct = ct.clone();
        std::thread::spawn(move || {
            let (mut seen, mut deleted) = (0usize, 0usize);
            for e in ct.dump(&Filter::new()).expect("dump") {
                let e = e.expect("entry");
                seen += 1;
                let again = ct.get(&e.original).expect("get inside the dump");
                assert_eq!(again.original, e.original);
                assert!(ct.count().expect("count inside the dump").entries >= 1);
                if e.original.src_port.is_some_and(|p| p % 2 == 0) {
                    ct.delete(&e.original, e.id)
                        .expect("delete inside the dump");
                    deleted += 1;
                }
            }
            let _ = tx.send((seen, deleted));
        })
    };
    let (seen, deleted) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the dump loop finished: no deadlock");
    worker.join().expect("worker");
    assert_eq!(seen, entries.len());
    assert_eq!(deleted, entries.len() / 2);
    let left = ct.count().expect("count").entries;
    assert_eq!(left as usize, entries.len() - deleted);
    let listed = ns.sh("conntrack -C 2>/dev/null");
    assert_eq!(listed.trim(), left.to_string(), "conntrack -C agrees");
}

/// Twins: the same tuple in zone 0 and zone 9. Getting and deleting a dumped entry acts on
/// that entry alone, as `conntrack -D -w 9` would.
#[test]
fn zones_keep_twins_apart() {
    if !require_root("zones_keep_twins_apart") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let base = udp_entries(1).remove(0);
    let mut nine = base.clone();
    nine.zone = Some(9);
    create_all(&ct, &[base.clone(), nine]);
    let lines = |zone: &str| {
        ns.sh(&format!("conntrack -L {zone} 2>/dev/null"))
            .lines()
            .filter(|l| l.contains("dport=53"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines("").len(), 2, "both twins");
    // A tuple with a zone is looked up in that zone (not refused).
    let mut zoned = base.original;
    zoned.zone = Some(9);
    assert_eq!(ct.get(&zoned).expect("zone 9").zone, Some(9));
    assert_eq!(ct.get(&base.original).expect("zone 0").zone, None);
    // The dumped zone-9 entry, got and deleted as itself.
    let dumped: Vec<Entry> = ct
        .dump(&Filter::new())
        .expect("dump")
        .map(|e| e.expect("entry"))
        .collect();
    let in_nine = dumped
        .iter()
        .find(|e| e.zone == Some(9))
        .expect("the zone-9 entry");
    assert_eq!(ct.get_entry(in_nine).expect("get").id, in_nine.id);
    ct.delete_entry(in_nine).expect("delete");
    let left = lines("");
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        !left[0].contains("zone="),
        "the zone-0 twin is the one left: {left:?}"
    );
    assert!(matches!(ct.get_entry(in_nine), Err(Error::NotFound { .. })));
    let zero = dumped.iter().find(|e| e.zone.is_none()).expect("zone 0");
    ct.delete_entry(zero).expect("delete");
    assert!(lines("").is_empty());
}

/// The write side against conntrack-tools: bulk update by filter (`conntrack -U -m`),
/// a dump that zeroes the counters (`-L -z`), labels set on create and by update, and
/// what the kernel would refuse, refused before sending with the reason.
#[test]
fn updates_labels_zeroing_and_refusals() {
    if !require_root("updates_labels_zeroing_and_refusals") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let mut entries = udp_entries(20);
    for (i, e) in entries.iter_mut().enumerate() {
        e.mark = Some(if i < 10 { 1 } else { 2 });
    }
    create_all(&ct, &entries);
    let changed = ct
        .update_matching(
            &Filter::new().mark(1, u32::MAX),
            &Update {
                mark: Some(5),
                ..Update::default()
            },
        )
        .expect("bulk update");
    assert_eq!(changed, 10);
    let marked = |m: u32| {
        ns.sh(&format!("conntrack -L -m {m} 2>/dev/null"))
            .lines()
            .filter(|l| l.contains("dport=53"))
            .count()
    };
    assert_eq!((marked(5), marked(1), marked(2)), (10, 0, 10));

    // Counters, read and zeroed in one dump.
    ns.enable_conntrack();
    ns.sh("sysctl -qw net.netfilter.nf_conntrack_acct=1; ping -c 3 -i 0.2 127.0.0.1 >/dev/null");
    let icmp = |d: Dump<'_>| -> Vec<Entry> {
        d.map(|e| e.expect("entry"))
            .filter(|e| e.original.protocol == 1)
            .collect()
    };
    let before = icmp(ct.dump_and_zero(&Filter::new()).expect("dump"));
    assert!(
        before
            .iter()
            .any(|e| e.counters_original.is_some_and(|c| c.packets >= 3)),
        "{before:?}"
    );
    let listed = ns.sh("conntrack -L -p icmp 2>/dev/null");
    assert!(listed.contains("packets=0 bytes=0"), "{listed}");
    assert!(!listed.contains("packets=3"), "{listed}");

    // Labels: kept only while a rule uses them.
    let mut labelled = udp_entries(21).pop().expect("entry");
    labelled.set_labels(Some(labels_bitmap(1 << 3 | 1 << 70)));
    // Without one, the kernel accepts the entry and drops its labels: refused, and the
    // entry is not left behind.
    let err = ct.create(&labelled).expect_err("no label users yet");
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("ct label"), "{err}");
    assert!(
        matches!(ct.get(&labelled.original), Err(Error::NotFound { .. })),
        "nothing was left created"
    );
    ns.nft("table inet nettune_labels {\n\tchain o { type filter hook output priority 0; ct label set 1; }\n}\n");
    ct.create(&labelled).expect("create with labels");
    let got = ct.get(&labelled.original).expect("get");
    assert_eq!(got.labels().map(labels_of), Some(1 << 3 | 1 << 70));
    ct.update(
        &labelled.original,
        &Update {
            labels: Some((1 << 5, 1 << 5 | 1 << 3)),
            ..Update::default()
        },
    )
    .expect("labels by update");
    let got = ct.get(&labelled.original).expect("get");
    assert_eq!(
        got.labels().map(labels_of),
        Some(1 << 5 | 1 << 70),
        "bit 3 cleared, bit 5 set, bit 70 kept"
    );

    // Refused before sending, with the reason.
    let t = Tuple::udp(ip("10.77.0.1"), 9, ip("10.77.0.2"), 9);
    let mut no_reply = Entry::new(t, Duration::from_secs(30));
    no_reply.reply = None;
    let mut mixed = Entry::new(t, Duration::from_secs(30));
    mixed.reply = Some(Tuple::udp(ip("fd00::2"), 9, ip("fd00::1"), 9));
    let too_long = Entry::new(t, Duration::from_secs(MAX_TIMEOUT_SECS + 1));
    for (e, says) in [
        (&no_reply, "reply tuple"),
        (&mixed, "one address family"),
        (&too_long, "clamps it silently"),
    ] {
        let err = ct.create(e).expect_err(says);
        assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(
        matches!(ct.get(&t), Err(Error::NotFound { .. })),
        "nothing was created"
    );
    // A status bit the kernel will not clear.
    let assured = Update {
        status: Some(Status::SEEN_REPLY),
        ..Update::default()
    };
    ct.update(&entries[0].original, &assured)
        .expect("add SEEN_REPLY");
    let got = ct.get(&entries[0].original).expect("get");
    assert!(got.status.contains(Status::SEEN_REPLY));
}

/// The expectation table with the kernel's FTP helper: a PASV reply on a control
/// connection makes an expectation, seen by a dump, a get, an event and `conntrack -L
/// expect`; one made by hand appears and goes as the tool shows; deletes and flushes
/// empty the table.
#[test]
fn ftp_expectations_dump_get_create_delete_flush_and_events() {
    if !require_root("ftp_expectations_dump_get_create_delete_flush_and_events") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let mut events = ct.expectation_events(None).expect("events");
    events
        .set_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // The control connection: the server announces 127.0.0.1 port 51210.
    let (client, server) = ns.ftp_control_connection(51210);
    let exp = match events.next_event().expect("an event") {
        ExpectationEvent::New(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(exp.tuple.dst_port, Some(51210), "{exp:?}");
    assert_eq!(exp.master.dst_port, Some(21));
    assert_eq!(exp.helper.as_deref(), Some("ftp"));
    let all = ct.expectations().expect("dump");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].tuple, exp.tuple);
    let tool = ns.sh("conntrack -L expect 2>/dev/null");
    assert!(
        tool.contains("dport=51210") && tool.contains("ftp"),
        "{tool}"
    );
    let got = ct.get_expectation(&exp.tuple).expect("get");
    assert_eq!(got.id, all[0].id);
    ct.delete_expectation(&exp.tuple, got.id).expect("delete");
    assert!(ct.expectations().expect("dump").is_empty());
    assert!(matches!(
        events.next_event().expect("event"),
        ExpectationEvent::Destroy(_)
    ));
    // One made by hand on the same master, for any source port to port 40000.
    let any = IpAddr::from([255, 255, 255, 255]);
    let by_hand = Expectation::new(
        exp.master,
        Tuple::tcp(ip("127.0.0.1"), 0, ip("127.0.0.1"), 40000),
        Tuple::tcp(any, 0, any, 0xffff),
        Duration::from_secs(120),
    );
    ct.create_expectation(&by_hand).expect("create");
    let tool = ns.sh("conntrack -L expect 2>/dev/null");
    assert!(tool.contains("dport=40000"), "{tool}");
    let listed = ct.expectations().expect("dump");
    assert_eq!(listed.len(), 1);
    // The kernel gives an expectation of a helper's connection the helper's own timeout
    // (FTP: 300 s), whatever was asked; the tool shows the same.
    let secs = listed[0].timeout.expect("a timeout").as_secs();
    let tool_secs: u64 = tool
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("the tool's timeout column");
    assert!(secs.abs_diff(tool_secs) <= 1, "{secs} vs {tool}");
    assert!(secs > 120 && secs <= 300, "{secs}");
    ct.flush_expectations(None).expect("flush");
    assert!(ct.expectations().expect("dump").is_empty());
    assert!(!ns.sh("conntrack -L expect 2>/dev/null").contains("dport="));
    // Refused before sending.
    let mut no_mask = by_hand.clone();
    no_mask.mask = None;
    assert!(matches!(
        ct.create_expectation(&no_mask),
        Err(Error::InvalidValue { .. })
    ));
    drop((client, server));
}

/// A helper assigned on create follows the connection: `conntrack -L` shows it, and the
/// entry can master an expectation.
#[test]
fn a_helper_assigned_on_create_masters_expectations() {
    if !require_root("a_helper_assigned_on_create_masters_expectations") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let master = Tuple::tcp(ip("10.8.0.1"), 40000, ip("10.8.0.2"), 21);
    let mut e = Entry::new(master, Duration::from_secs(600));
    e.set_helper(Some("ftp".into()));
    ct.create(&e).expect("create with the ftp helper");
    assert_eq!(ct.get(&master).expect("get").helper(), Some("ftp"));
    let tool = ns.sh("conntrack -L 2>/dev/null");
    assert!(tool.contains("helper=ftp"), "{tool}");
    let any = IpAddr::from([255, 255, 255, 255]);
    ct.create_expectation(&Expectation::new(
        master,
        Tuple::tcp(ip("10.8.0.1"), 0, ip("10.8.0.2"), 6000),
        Tuple::tcp(any, 0, any, 0xffff),
        Duration::from_secs(60),
    ))
    .expect("an expectation of the helper's connection");
    assert_eq!(ct.expectations().expect("dump").len(), 1);
    // An unknown helper is a clear refusal, and nothing is created.
    let mut bad = Entry::new(
        Tuple::tcp(ip("10.8.0.3"), 1, ip("10.8.0.4"), 2),
        Duration::from_secs(60),
    );
    bad.set_helper(Some("nosuchhelper".into()));
    let err = ct.create(&bad).expect_err("unknown helper");
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("\"nosuchhelper\""), "{err}");
    assert!(matches!(ct.get(&bad.original), Err(Error::NotFound { .. })));
}

/// NAT set up on create, as `conntrack -I --src-nat/--dst-nat`: the reply tuple the kernel
/// keeps is the translated one, with the NAT status bits, as `conntrack -L` shows.
#[test]
fn nat_on_create_translates_the_reply_tuple() {
    if !require_root("nat_on_create_translates_the_reply_tuple") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    let t = Tuple::udp(ip("10.1.1.1"), 1000, ip("10.2.2.2"), 53);
    let mut e = Entry::new(t, Duration::from_secs(600));
    e.set_snat(Some(NatTarget::to(ip("10.9.9.9")).port(2000)));
    ct.create(&e).expect("create with source NAT");
    let got = ct.get(&t).expect("get");
    let reply = got.reply.expect("reply");
    assert_eq!(
        (reply.dst, reply.dst_port),
        (ip("10.9.9.9"), Some(2000)),
        "{got:?}"
    );
    assert!(got.status.contains(Status::SRC_NAT), "{:?}", got.status);
    let tool = ns.sh("conntrack -L -p udp 2>/dev/null");
    assert!(
        tool.contains("src=10.2.2.2 dst=10.9.9.9 sport=53 dport=2000"),
        "{tool}"
    );
    let d = Tuple::udp(ip("10.1.1.1"), 1001, ip("10.2.2.2"), 53);
    let mut e = Entry::new(d, Duration::from_secs(600));
    e.set_dnat(Some(NatTarget::to(ip("10.3.3.3"))));
    ct.create(&e).expect("create with destination NAT");
    let reply = ct.get(&d).expect("get").reply.expect("reply");
    assert_eq!(reply.src, ip("10.3.3.3"));
    // Refused before sending.
    let mut bad = Entry::new(
        Tuple::udp(ip("10.1.1.1"), 1002, ip("10.2.2.2"), 53),
        Duration::from_secs(60),
    );
    bad.set_snat(Some(NatTarget::to(ip("fd00::1"))));
    assert!(matches!(ct.create(&bad), Err(Error::InvalidValue { .. })));
}

#[test]
fn raw_batches_decode_elsewhere_to_what_the_iterator_gives() {
    if !require_root("raw_batches_decode_elsewhere_to_what_the_iterator_gives") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    create_all(&ct, &udp_entries(3000));
    let key = |e: &Entry| e.original.to_string();
    for filter in [
        Filter::new(),
        // Applied in user space after the kernel: a prefix shorter than the address.
        Filter::new()
            .original(TupleFilter {
                src: Some(ip("10.0.0.0")),
                src_prefix: Some(22),
                ..TupleFilter::default()
            })
            .userspace_fallback(true),
    ] {
        let want: BTreeSet<String> = ct
            .dump(&filter)
            .expect("dump")
            .map(|e| key(&e.expect("entry")))
            .collect();
        let mut dump = ct.dump(&filter).expect("dump");
        let mut batches = Vec::new();
        while let Some(b) = dump.next_raw_batch(100) {
            let b = b.expect("batch");
            assert!(b.len() <= 100 && !b.is_empty());
            batches.push(b);
        }
        // Decoded on another thread.
        let got: BTreeSet<String> = std::thread::spawn(move || {
            batches
                .iter()
                .flat_map(RawBatch::entries)
                .map(|e| key(&e.expect("entry")))
                .collect()
        })
        .join()
        .expect("thread");
        assert_eq!(got, want);
        assert!(!want.is_empty());
    }
}

#[test]
fn every_attribute_of_a_dumped_entry_is_decoded() {
    if !require_root("every_attribute_of_a_dumped_entry_is_decoded") {
        return;
    }
    let ns = TestNs::new();
    let ct = Conntrack::open_in(ns.netns()).expect("open");
    create_all(&ct, &udp_entries(3));
    for e in ct.dump(&Filter::new()).expect("dump") {
        let e = e.expect("entry");
        // Nothing left over (each kept attribute costs an allocation per entry); this
        // kernel sends CTA_SYNPROXY for every entry, zeros without a synproxy rule.
        assert!(e.other().is_empty(), "{:?}", e.other());
        assert!(
            e.synproxy.is_none_or(|s| s == SynProxy::default()),
            "{:?}",
            e.synproxy
        );
    }
}

//! Each diagnosis rule against its signature produced for real in a private namespace:
//! the rule fires with the kernel's own count as evidence (compared with iproute2's
//! `nstat`), its advice is a profile that applies, and after applying it the counter
//! stops rising under the same load. Nothing here touches the host's namespace.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use nettune::diagnosis::{self, Diagnosis};
use nettune::signals::{Rates, Sampler};
use nettune::{Journal, Target};
use socket2::{Domain, Socket, Type};
use testkit::{TestNs, require_root};

fn target(ns: &TestNs) -> Target {
    Target::of(ns.netns()).expect("target")
}

/// The kernel's own absolute count of `name`, through iproute2's nstat.
fn nstat(ns: &TestNs, name: &str) -> u64 {
    let out = ns.sh(&format!("nstat -asz {name}"));
    out.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("nstat {name}: {out}"))
}

fn sysctl_w(ns: &TestNs, key: &str, value: &str) {
    ns.sh(&format!("sysctl -qw '{key}={value}'"));
}

/// Samples, runs `load`, samples again: the rates over the load.
fn rates_around<T>(ns: &TestNs, load: impl FnOnce() -> T) -> (Rates, T) {
    let t = target(ns);
    let mut sampler = Sampler::new(&t);
    let before = sampler.sample();
    let kept = load();
    (Rates::between(&before, &sampler.sample()), kept)
}

fn fired<'a>(ds: &'a [Diagnosis], rule: &str) -> Option<&'a Diagnosis> {
    ds.iter().find(|d| d.rule == rule)
}

fn evidence(d: &Diagnosis, signal: &str) -> u64 {
    d.evidence
        .iter()
        .find(|e| e.signal == signal)
        .map(|e| e.delta)
        .unwrap_or_else(|| panic!("{} has no evidence {signal}: {d:?}", d.rule))
}

/// Applies a diagnosis' advice in the namespace (journaled); returns the journal.
fn apply_advice(ns: &TestNs, d: &Diagnosis, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let advice = d.advice.as_ref().expect("advice");
    // The advice is a profile `nettune apply` reads: its TOML reads back to the same.
    let back = nettune::Profile::from_toml("advice", &advice.to_toml()).expect("reads back");
    assert_eq!(back.sysctls(), advice.sysctls());
    let path = dir.path().join(format!("{}.journal", d.rule));
    back.plan(&target(ns))
        .expect("plan")
        .apply(&path)
        .expect("apply");
    path
}

fn listener(ns: &TestNs) -> (TcpListener, SocketAddr) {
    ns.run(|| {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        (l, a)
    })
}

/// `n` non-blocking connects to `to`, kept open (the SYNs are handled before each
/// connect returns, on loopback).
fn connect_flood(ns: &TestNs, to: SocketAddr, n: usize) -> Vec<Socket> {
    ns.run(|| {
        (0..n)
            .map(|_| {
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
                s.set_nonblocking(true).expect("nonblocking");
                let _ = s.connect(&to.into());
                s
            })
            .collect()
    })
}

#[test]
fn listen_overflow_is_diagnosed_and_the_advice_stops_it() {
    if !require_root("listen_overflow_is_diagnosed_and_the_advice_stops_it") {
        return;
    }
    let ns = TestNs::new();
    sysctl_w(&ns, "net.core.somaxconn", "4");
    let dir = tempfile::tempdir().expect("tempdir");
    let (l, addr) = listener(&ns);
    let (rates, clients) = rates_around(&ns, || connect_flood(&ns, addr, 40));
    let kernel = nstat(&ns, "TcpExtListenOverflows");
    let ds = diagnosis::diagnose(&target(&ns), Some(&rates), rates.latest());
    let d = fired(&ds, "tcp-listen-overflow").expect("fired");
    let overflows = evidence(d, "TcpExt.ListenOverflows");
    assert!(overflows > 0, "{d:?}");
    assert_eq!(
        rates.get("TcpExt.ListenOverflows").map(|r| r.total),
        Some(kernel)
    );
    assert_eq!(d.live["net.core.somaxconn"], "4");
    let want: u64 = d.advice.as_ref().expect("advice").sysctls()[0]
        .want
        .value()
        .parse()
        .expect("number");
    assert!(want >= 4 + overflows, "{want}");
    drop((l, clients));

    let journal = apply_advice(&ns, d, &dir);
    assert_eq!(
        ns.sh("sysctl -n net.core.somaxconn").trim(),
        want.to_string()
    );
    // The same load on a listener made after the change: no overflow now.
    let (l, addr) = listener(&ns);
    let (rates, _clients) = rates_around(&ns, || connect_flood(&ns, addr, 40));
    assert_eq!(
        rates.get("TcpExt.ListenOverflows").map(|r| r.delta),
        Some(0)
    );
    let ds = diagnosis::diagnose(&target(&ns), Some(&rates), rates.latest());
    assert!(fired(&ds, "tcp-listen-overflow").is_none(), "{ds:?}");
    drop(l);

    Journal::open(&journal)
        .expect("journal")
        .rollback()
        .expect("rollback");
    assert_eq!(ns.sh("sysctl -n net.core.somaxconn").trim(), "4");
}

#[test]
fn a_full_syn_queue_is_told_apart_with_and_without_syncookies() {
    if !require_root("a_full_syn_queue_is_told_apart_with_and_without_syncookies") {
        return;
    }
    let ns = TestNs::new();
    sysctl_w(&ns, "net.core.somaxconn", "4");
    // SYN-ACKs never leave: every request stays half-open in the SYN queue.
    ns.nft(
        "table inet synack {\n chain out {\n  type filter hook output priority 0;\n  \
         tcp flags & (syn | ack) == (syn | ack) drop\n }\n}\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (l, addr) = listener(&ns);
    let (rates, clients) = rates_around(&ns, || connect_flood(&ns, addr, 30));
    let ds = diagnosis::diagnose(&target(&ns), Some(&rates), rates.latest());
    let d = fired(&ds, "tcp-syn-queue-cookies").expect("cookies fired");
    let full = evidence(d, "TcpExt.TCPReqQFullDoCookies");
    assert!(full > 0);
    assert_eq!(
        rates.get("TcpExt.TCPReqQFullDoCookies").map(|r| r.total),
        Some(nstat(&ns, "TcpExtTCPReqQFullDoCookies"))
    );
    assert!(fired(&ds, "tcp-syn-queue-drop").is_none(), "{ds:?}");
    drop((l, clients));

    let journal = apply_advice(&ns, d, &dir);
    let (l, addr) = listener(&ns);
    let (rates, clients) = rates_around(&ns, || connect_flood(&ns, addr, 20));
    assert_eq!(
        rates.get("TcpExt.TCPReqQFullDoCookies").map(|r| r.delta),
        Some(0)
    );
    drop((l, clients));
    Journal::open(&journal)
        .expect("journal")
        .rollback()
        .expect("rollback");

    // With syncookies off the same flood is dropped, and the advice turns them on.
    sysctl_w(&ns, "net.ipv4.tcp_syncookies", "0");
    let (l, addr) = listener(&ns);
    let (rates, _clients) = rates_around(&ns, || connect_flood(&ns, addr, 30));
    let ds = diagnosis::diagnose(&target(&ns), Some(&rates), rates.latest());
    let d = fired(&ds, "tcp-syn-queue-drop").expect("drop fired");
    assert_eq!(
        rates.get("TcpExt.TCPReqQFullDrop").map(|r| r.total),
        Some(nstat(&ns, "TcpExtTCPReqQFullDrop"))
    );
    assert!(evidence(d, "TcpExt.TCPReqQFullDrop") > 0);
    assert_eq!(d.live["net.ipv4.tcp_syncookies"], "0");
    let advice = d.advice.as_ref().expect("advice");
    assert!(
        advice
            .sysctls()
            .iter()
            .any(|r| r.key.to_string() == "net.ipv4.tcp_syncookies" && r.want.value() == "1"),
        "{}",
        advice.to_toml()
    );
    assert!(fired(&ds, "tcp-syn-queue-cookies").is_none(), "{ds:?}");
    drop(l);
}

#[test]
fn time_wait_overflow_is_diagnosed_and_the_advice_stops_it() {
    if !require_root("time_wait_overflow_is_diagnosed_and_the_advice_stops_it") {
        return;
    }
    let ns = TestNs::new();
    sysctl_w(&ns, "net.ipv4.tcp_max_tw_buckets", "1");
    let dir = tempfile::tempdir().expect("tempdir");
    let (l, addr) = listener(&ns);
    // The client closes first, so its side enters TIME-WAIT.
    let churn = |n: usize| {
        ns.run(|| {
            for _ in 0..n {
                let c = TcpStream::connect(addr).expect("connect");
                let (s, _) = l.accept().expect("accept");
                drop(c);
                std::thread::sleep(Duration::from_millis(2));
                drop(s);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
    };
    let (rates, ()) = rates_around(&ns, || churn(20));
    let ds = diagnosis::diagnose(&target(&ns), Some(&rates), rates.latest());
    let d = fired(&ds, "tcp-tw-overflow").expect("fired");
    assert!(evidence(d, "TcpExt.TCPTimeWaitOverflow") > 0);
    assert_eq!(
        rates.get("TcpExt.TCPTimeWaitOverflow").map(|r| r.total),
        Some(nstat(&ns, "TcpExtTCPTimeWaitOverflow"))
    );
    let journal = apply_advice(&ns, d, &dir);
    let (rates, ()) = rates_around(&ns, || churn(10));
    assert_eq!(
        rates.get("TcpExt.TCPTimeWaitOverflow").map(|r| r.delta),
        Some(0)
    );
    Journal::open(&journal)
        .expect("journal")
        .rollback()
        .expect("rollback");
    assert_eq!(ns.sh("sysctl -n net.ipv4.tcp_max_tw_buckets").trim(), "1");
}

#[test]
fn udp_receive_buffer_drops_are_diagnosed_and_a_child_namespace_says_what_it_cannot_set() {
    if !require_root(
        "udp_receive_buffer_drops_are_diagnosed_and_a_child_namespace_says_what_it_cannot_set",
    ) {
        return;
    }
    let ns = TestNs::new();
    let (rates, sent) = rates_around(&ns, || {
        ns.run(|| {
            let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let to = rx.local_addr().expect("addr");
            (0..4000)
                .filter(|_| tx.send_to(&[7u8; 1400], to).is_ok())
                .count()
        })
    });
    assert!(sent > 0);
    let ds = diagnosis::diagnose(&target(&ns), Some(&rates), rates.latest());
    let d = fired(&ds, "udp-rcvbuf").expect("fired");
    let dropped = evidence(d, "Udp.RcvbufErrors");
    assert_eq!(dropped, nstat(&ns, "UdpRcvbufErrors"));
    assert!(dropped > 0 && dropped < sent as u64);
    // net.core.rmem_* are read-only in a child namespace: no advice that would fail, and
    // the reason is given.
    assert!(
        d.advice.is_none(),
        "{:?}",
        d.advice.as_ref().map(|a| a.to_toml())
    );
    let caveat = d.caveat.as_deref().expect("caveat");
    assert!(caveat.contains("net.core.rmem_default"), "{caveat}");
    assert!(caveat.contains("SO_RCVBUF"), "{caveat}");
}

#[test]
fn reassembly_failures_are_diagnosed_and_the_advice_stops_them() {
    if !require_root("reassembly_failures_are_diagnosed_and_the_advice_stops_them") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link set lo mtu 1500");
    sysctl_w(&ns, "net.ipv4.ipfrag_low_thresh", "0");
    sysctl_w(&ns, "net.ipv4.ipfrag_high_thresh", "4096");
    let dir = tempfile::tempdir().expect("tempdir");
    // Datagrams of 20000 bytes leave in 14 fragments; each is received right away.
    let send = |n: usize| {
        ns.run(|| {
            let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            rx.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let to = rx.local_addr().expect("addr");
            let mut buf = vec![0u8; 65536];
            (0..n)
                .filter(|_| {
                    tx.send_to(&[1u8; 20000], to).expect("send");
                    rx.recv(&mut buf).is_ok_and(|len| len == 20000)
                })
                .count()
        })
    };
    let (rates, received) = rates_around(&ns, || send(5));
    assert_eq!(received, 0);
    let ds = diagnosis::diagnose(&target(&ns), Some(&rates), rates.latest());
    let d = fired(&ds, "ip-reassembly").expect("fired");
    assert!(evidence(d, "Ip.ReasmFails") > 0);
    assert_eq!(
        rates.get("Ip.ReasmFails").map(|r| r.total),
        Some(nstat(&ns, "IpReasmFails"))
    );
    let journal = apply_advice(&ns, d, &dir);
    let (rates, received) = rates_around(&ns, || send(5));
    assert_eq!(received, 5, "every datagram arrives whole now");
    assert_eq!(rates.get("Ip.ReasmFails").map(|r| r.delta), Some(0));
    Journal::open(&journal)
        .expect("journal")
        .rollback()
        .expect("rollback");
    assert_eq!(
        ns.sh("sysctl -n net.ipv4.ipfrag_high_thresh").trim(),
        "4096"
    );
}

#[test]
fn a_quiet_namespace_fires_no_counter_rule_and_totals_alone_fire_none() {
    if !require_root("a_quiet_namespace_fires_no_counter_rule_and_totals_alone_fire_none") {
        return;
    }
    let ns = TestNs::new();
    // Overflow once, then measure a quiet interval: the total is there, the rate is 0.
    sysctl_w(&ns, "net.core.somaxconn", "1");
    let (l, addr) = listener(&ns);
    let clients = connect_flood(&ns, addr, 10);
    drop((l, clients));
    let t = target(&ns);
    let mut sampler = Sampler::new(&t);
    let a = sampler.sample();
    assert!(a.counter("TcpExt.ListenOverflows").is_some_and(|v| v > 0));
    let quiet = Rates::between(&a, &sampler.sample());
    let ds = diagnosis::diagnose(&t, Some(&quiet), quiet.latest());
    assert!(
        ds.iter().all(|d| d.evidence.is_empty()),
        "only configuration rules may fire: {ds:?}"
    );
    let ds = diagnosis::diagnose(&t, None, &a);
    assert!(ds.iter().all(|d| d.evidence.is_empty()), "{ds:?}");
    // The audit shows the total as such, not as a problem.
    let audit = nettune::Profile::new("empty").audit(&t);
    let row = audit
        .counters
        .iter()
        .find(|r| r.item == "TcpExt.ListenOverflows")
        .expect("row");
    assert_eq!(row.status, nettune::audit::Status::Info);
    assert!(row.current_or_dash().ends_with("since boot"), "{row:?}");
}

#[test]
fn a_full_conntrack_table_is_diagnosed_with_the_kernels_own_counts() {
    if !require_root("a_full_conntrack_table_is_diagnosed_with_the_kernels_own_counts") {
        return;
    }
    use nettune::conntrack::{Conntrack, Entry, Tuple};
    use std::net::{IpAddr, Ipv4Addr};
    let ns = TestNs::new();
    ns.enable_conntrack();
    // nf_conntrack_max is the host's (read-only here), the count is the namespace's own:
    // the namespace fills to the limit without touching the host's table.
    let max: u32 = ns
        .sh("sysctl -n net.netfilter.nf_conntrack_max")
        .trim()
        .parse()
        .expect("max");
    let ct = Conntrack::open_in(ns.netns()).expect("conntrack");
    let entry = |i: u32| {
        let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let t = Tuple::udp(src, 1000, IpAddr::V4(Ipv4Addr::new(10, 250, 0, 1)), 53);
        Entry::new(t, Duration::from_secs(600))
    };
    for i in 0..max {
        ct.create(&entry(i)).expect("create");
    }
    assert_eq!(ct.count().expect("count").entries, max);
    // Each entry past the limit evicts one that was never confirmed (early_drop).
    let (rates, ()) = rates_around(&ns, || {
        for i in max..max + 50 {
            let _ = ct.create(&entry(i));
        }
    });
    let ds = diagnosis::diagnose(&target(&ns), Some(&rates), rates.latest());
    let d = fired(&ds, "conntrack-table-full").expect("fired");
    let early = evidence(d, "conntrack.early_drop");
    assert!(early > 0, "{d:?}");
    // conntrack -S: the same per-CPU counters, summed.
    let kernel: u64 = ns
        .sh("conntrack -S")
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("early_drop="))
        .map(|v| v.parse::<u64>().expect("number"))
        .sum();
    assert_eq!(
        rates.get("conntrack.early_drop").map(|r| r.total),
        Some(kernel)
    );
    assert_eq!(rates.latest().gauge("conntrack.max"), Some(u64::from(max)));
    assert!(
        d.cause.contains(&format!("of {max} entries")),
        "{}",
        d.cause
    );
    // The limit is read-only in a child namespace: no advice that would fail, and why.
    assert!(
        d.advice.is_none(),
        "{:?}",
        d.advice.as_ref().map(|a| a.to_toml())
    );
    assert!(
        d.caveat
            .as_deref()
            .is_some_and(|c| c.contains("net.netfilter.nf_conntrack_max")),
        "{d:?}"
    );
}

#[test]
fn established_sockets_rtt_is_read_over_sock_diag_as_tcp_info_gives_it() {
    if !require_root("established_sockets_rtt_is_read_over_sock_diag_as_tcp_info_gives_it") {
        return;
    }
    use std::io::{Read, Write};
    let ns = TestNs::new();
    let (l, addr) = listener(&ns);
    let (mut c, mut s) = ns.run(|| {
        let c = TcpStream::connect(addr).expect("connect");
        let (s, _) = l.accept().expect("accept");
        (c, s)
    });
    // A few round trips, so that both ends have measured an RTT.
    let mut b = [0u8; 4];
    for _ in 0..20 {
        c.write_all(b"ping").expect("write");
        s.read_exact(&mut b).expect("read");
        s.write_all(b"pong").expect("write");
        c.read_exact(&mut b).expect("read");
    }
    let t = target(&ns);
    let sample = Sampler::new(&t).with_tcp_rtt().sample();
    let rtt = |x: &TcpStream| {
        u64::try_from(
            nettune::sockopt::tcp_info(x)
                .expect("tcp_info")
                .rtt()
                .as_micros(),
        )
        .expect("rtt")
    };
    let (a, z) = (rtt(&c), rtt(&s));
    assert_eq!(
        sample.gauge("tcp.established"),
        Some(2),
        "{:?}",
        sample.unread()
    );
    assert_eq!(sample.gauge("tcp.srtt_us_mean"), Some((a + z) / 2));
    assert_eq!(sample.gauge("tcp.srtt_us_max"), Some(a.max(z)));
    // Without the option the dump is not made.
    assert_eq!(Sampler::new(&t).sample().gauge("tcp.established"), None);
}

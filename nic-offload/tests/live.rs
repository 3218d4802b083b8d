//! nic-offload against live devices: veth and tap in private namespaces (read and write),
//! and every interface of the host namespace read-only against the ethtool tool.

mod common;

use common::*;
use nettune_nic::*;
use testkit::{TestNs, require_root};

#[test]
fn host_interfaces_agree_with_ethtool_read_only() {
    // Reading needs no privilege; nothing is written.
    let names = Nic::list().expect("list");
    assert!(!names.is_empty());
    for name in &names {
        let nic = Nic::open(name.as_str()).expect("open");
        assert_reads_agree_with_ethtool(&nic);
    }
}

fn veth(ns: &TestNs) -> Nic {
    ns.sh("ip link add v0 numrx 4 numtx 4 type veth peer name v1 numrx 4 numtx 4 && ip link set v0 up && ip link set v1 up");
    Nic::open_in(ns.netns(), "v0").expect("open v0")
}

#[test]
fn veth_offloads_set_and_read_back() {
    if !require_root("veth_offloads_set_and_read_back") {
        return;
    }
    let ns = TestNs::new();
    let nic = veth(&ns);
    for on in [true, false, true] {
        let change = nic
            .set_offloads(&[
                (Offload::Gro, on),
                (Offload::Gso, on),
                (Offload::Tso, on),
                (Offload::Sg, on),
                (Offload::Tx, on),
            ])
            .expect("set");
        let f = nic.features().expect("features");
        for name in [
            "rx-gro",
            "tx-generic-segmentation",
            "tx-tcp-segmentation",
            "tx-scatter-gather",
            "tx-checksum-ip-generic",
        ] {
            assert_eq!(f.get(name).map(|x| x.active), Some(on), "{name} {on}");
        }
        assert!(
            change.requested.iter().all(|r| r
                .features
                .iter()
                .all(|(_, o)| matches!(o, FeatureOutcome::Applied | FeatureOutcome::Fixed))),
            "{change:?}"
        );
        assert_eq!(
            change.requested[2].features.len(),
            5,
            "tso is five kernel features: {change:?}"
        );
        assert_features_match_ethtool(Some(&ns), &nic);
    }
    // A named kernel feature and a side effect: turning sg off turns off what needs it.
    let change = nic.set_offloads(&[(Offload::Sg, false)]).expect("set");
    assert!(
        change
            .side_effects
            .iter()
            .any(|(n, on)| n.starts_with("tx-tcp") && !on),
        "{change:?}"
    );
    nic.set_offloads(&[(Offload::Sg, true), (Offload::Tso, true)])
        .expect("set");
}

#[test]
fn veth_channels_and_steering() {
    if !require_root("veth_channels_and_steering") {
        return;
    }
    let ns = TestNs::new();
    let nic = veth(&ns);
    let ch = nic.channels().expect("channels");
    assert_eq!((ch.max_rx, ch.max_tx, ch.rx, ch.tx), (4, 4, 4, 4));
    let mut u = ChannelsUpdate::new();
    u.rx = Some(2);
    u.tx = Some(2);
    assert!(nic.set_channels(&u).expect("set").is_empty());
    assert_eq!(
        (
            nic.channels().expect("read").rx,
            nic.channels().expect("read").tx
        ),
        (2, 2)
    );
    let (_, text) = ethtool(Some(&ns), &["-l", "v0"]);
    let cur = section(&text, false);
    assert_eq!((num(cur.get("RX")), num(cur.get("TX"))), (2, 2));
    // Above the maximum: refused before the call.
    u.rx = Some(5);
    let e = nic.set_channels(&u).expect_err("above max").to_string();
    assert!(e.contains("above the device's maximum 4"), "{e}");
    assert_eq!(nic.channels().expect("read").rx, 2, "nothing written");

    let cpus = CpuSet::of([0, 1]).expect("cpus");
    nic.set_rps(0, &cpus).expect("rps");
    nic.set_rps_flow_cnt(0, 256).expect("flow cnt");
    nic.set_xps(1, &CpuSet::of([1]).expect("cpus"))
        .expect("xps");
    let s = nic.steering().expect("steering");
    assert_eq!(
        s.rx.iter()
            .find(|q| q.index == 0)
            .map(|q| (&q.rps_cpus, q.rps_flow_cnt)),
        Some((&cpus, 256))
    );
    assert_eq!(
        s.tx.iter()
            .find(|q| q.index == 1)
            .and_then(|q| q.xps_cpus.clone()),
        Some(CpuSet::of([1]).expect("cpus"))
    );
    assert!(s.irqs.is_empty(), "veth has no interrupts");
    assert_eq!(
        s.rfs_entries, None,
        "global key, absent in a child namespace"
    );
    // The namespace's own sysfs agrees; the host's has no v0.
    assert_eq!(
        ns.sh("cat /sys/class/net/v0/queues/rx-0/rps_cpus")
            .trim()
            .trim_start_matches('0'),
        "3"
    );
    assert_eq!(
        ns.sh("cat /sys/class/net/v0/queues/rx-0/rps_flow_cnt")
            .trim(),
        "256"
    );
    assert!(!std::path::Path::new("/sys/class/net/v0").exists() || Nic::open("v0").is_ok());
    // A CPU this machine does not have: refused, naming it, and nothing written.
    let ghost = CpuSet::of([8000]).expect("below the kernel's most");
    let e = nic.set_rps(0, &ghost).expect_err("no CPU 8000 here");
    assert!(
        e.to_string().contains("8000") && e.to_string().contains("possible"),
        "{e}"
    );
    assert_eq!(
        ns.sh("cat /sys/class/net/v0/queues/rx-0/rps_cpus")
            .trim()
            .trim_start_matches('0'),
        "3",
        "rps_cpus unchanged"
    );
    // RSS: veth has none, and says so.
    assert!(nic.rss().expect_err("no rss").is_unsupported());
    assert!(nic.rx_rings().expect_err("no rss").is_unsupported());
}

#[test]
fn tunables_are_refused_as_ethtool_refuses() {
    if !require_root("tunables_are_refused_as_ethtool_refuses") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add v0 type veth peer name v1");
    ns.add_tap("tap0");
    for name in ["v0", "tap0", "lo"] {
        let nic = Nic::open_in(ns.netns(), name).expect("open");
        assert_tunables_refused_like_ethtool(Some(&ns), &nic);
    }
}

#[test]
fn tap_coalescing_and_a_wish() {
    if !require_root("tap_coalescing_and_a_wish") {
        return;
    }
    let ns = TestNs::new();
    ns.add_tap("tap0");
    let nic = Nic::open_in(ns.netns(), "tap0").expect("open");
    for (backend, frames) in [(ethnl::Backend::Ioctl, 32), (ethnl::Backend::Netlink, 24)] {
        let nic = Nic::open_in(ns.netns(), "tap0")
            .expect("open")
            .prefer(backend);
        let mut u = CoalesceUpdate::new();
        u.rx_frames = Some(frames);
        let ignored = nic.set_coalesce(&u).expect("set");
        assert!(ignored.is_empty());
        assert_eq!(nic.coalesce().expect("read").rx_frames, frames);
        // tap supports rx-frames only: the kernel refuses a change that names another
        // field, and nothing changes; the refusal says why in each interface's words.
        u.rx_frames = Some(16);
        u.rx_usecs = Some(50);
        let e = nic.set_coalesce(&u).expect_err("rx-usecs unsupported");
        let why = nettune_core::error::report(&e);
        assert!(e.is_unsupported(), "{why} ({e:?})");
        let said = match backend {
            ethnl::Backend::Ioctl => "tun driver",
            _ => "unsupported parameter",
        };
        assert!(why.contains(said), "{backend:?}: {why}");
        assert_eq!(nic.coalesce().expect("read").rx_frames, frames);
        let (_, text) = ethtool(Some(&ns), &["-c", "tap0"]);
        assert!(text.contains(&format!("rx-frames: {frames}")), "{text}");
    }
    // tap keeps TSO off until its user enables it with TUNSETOFFLOAD: a wish.
    let change = nic.set_offloads(&[(Offload::Tso, true)]).expect("set");
    assert!(
        change.requested[0]
            .features
            .iter()
            .any(|(_, o)| *o == FeatureOutcome::Wish),
        "{change:?}"
    );
    assert_eq!(change.kernel_flags & 2, 2, "ETHTOOL_F_WISH");
    let f = nic.features().expect("features");
    let tso = f.get("tx-tcp-segmentation").expect("tso");
    assert!(tso.requested && !tso.active);
    let (_, text) = ethtool(Some(&ns), &["-k", "tap0"]);
    assert!(
        text.contains("tx-tcp-segmentation: off [requested on]"),
        "{text}"
    );
}

#[test]
fn snapshot_change_restore() {
    if !require_root("snapshot_change_restore") {
        return;
    }
    let ns = TestNs::new();
    let nic = veth(&ns);
    let before = nic.snapshot().expect("snapshot");
    assert!(
        before.coalesce.is_none() && before.rings.is_none() && before.rss.is_none(),
        "veth lacks them"
    );
    assert!(before.channels.is_some() && before.steering.is_some());
    nic.set_offloads(&[(Offload::Gro, true), (Offload::Tso, false)])
        .expect("set");
    let mut u = ChannelsUpdate::new();
    u.rx = Some(1);
    nic.set_channels(&u).expect("channels");
    nic.set_rps(0, &CpuSet::of([1]).expect("cpus"))
        .expect("rps");
    nic.set_xps(0, &CpuSet::of([0]).expect("cpus"))
        .expect("xps");
    assert_ne!(nic.snapshot().expect("snapshot"), before);
    nic.restore(&before).expect("restore");
    assert_eq!(nic.snapshot().expect("snapshot"), before);
    // A snapshot of another interface is refused.
    let other = Nic::open_in(ns.netns(), "v1").expect("v1");
    assert!(other.restore(&before).is_err());
}

#[test]
fn bad_input_is_refused_with_nothing_written() {
    let e = Nic::open("a-name-of-16-byt")
        .expect_err("16 bytes")
        .to_string();
    assert!(e.contains("longer than 15 bytes"), "{e}");
    let e = Nic::open("eth/0").expect_err("slash").to_string();
    assert!(e.contains("`/`"), "{e}");
    let e = Nic::open("nosuch0").expect_err("absent").to_string();
    assert!(
        e.contains("no interface \"nosuch0\"") && e.contains("lo"),
        "{e}"
    );
    if !require_root("bad_input_is_refused_with_nothing_written") {
        return;
    }
    let ns = TestNs::new();
    let nic = veth(&ns);
    let before = nic.features().expect("features");
    let e = nic
        .set_offloads(&[
            (Offload::Gro, !before.get("rx-gro").expect("gro").active),
            ("rx-warp-drive".parse().expect("name"), true),
        ])
        .expect_err("unknown");
    assert!(matches!(e, Error::UnknownFeature { .. }), "{e}");
    assert_eq!(nic.features().expect("features"), before, "nothing written");
}

/// What `ethtool -T` lists under "Capabilities:", and its PTP clock line.
fn parse_t(text: &str) -> (Vec<String>, Option<u32>) {
    let caps = text
        .lines()
        .skip_while(|l| !l.starts_with("Capabilities:"))
        .skip(1)
        .take_while(|l| l.starts_with('\t') || l.starts_with(' '))
        .map(|l| {
            // Newer ethtool adds the flag's C name in parentheses.
            l.split_whitespace().next().unwrap_or_default().to_owned()
        })
        .collect();
    let phc = text
        .lines()
        .find_map(|l| l.strip_prefix("PTP Hardware Clock:"))
        .and_then(|v| v.trim().parse().ok());
    (caps, phc)
}

#[test]
fn timestamping_capabilities_agree_with_ethtool() {
    if !require_root("timestamping_capabilities_agree_with_ethtool") {
        return;
    }
    let ns = TestNs::new();
    ns.sh("ip link add vt0 type veth peer name vt1");
    for name in ["lo", "vt0"] {
        let nic = Nic::open_in(ns.netns(), name).expect("open");
        let ours = nic.timestamping().expect("timestamping");
        let (ok, text) = ethtool(Some(&ns), &["-T", name]);
        assert!(ok, "{text}");
        let (caps, phc) = parse_t(&text);
        assert_eq!(ours.capability_names(), caps, "{name}: {text}");
        assert_eq!(ours.phc_index, phc, "{name}");
        assert!(!ours.has_hardware(), "{name} is virtual");
        assert!(
            caps.iter().any(|c| c == "software-receive"),
            "every device stamps in software: {text}"
        );
        // Hardware timestamping: refused before the ioctl, naming what the device has;
        // reading the configuration is refused by the kernel as it is for hwstamp tools.
        let err = nic
            .set_hw_timestamping(HwTimestamping::ALL)
            .expect_err("no hardware clock");
        assert!(err.is_unsupported(), "{err}");
        let chain = nettune_core::error::report(&err);
        assert!(chain.contains("transmit types 0x0"), "{chain}");
        assert!(nic.hw_timestamping().is_err(), "{name}");
        let off = nic.set_hw_timestamping(HwTimestamping::default());
        assert!(
            off.is_err(),
            "{name}: the ioctl itself is unsupported: {off:?}"
        );
    }
}

/// A namespace device named like a host device whose interrupts /proc/interrupts lists
/// (`virtio2` for `virtio2-input.0`) is not given the host's IRQs: interrupts are found
/// through the device itself, and a veth has none.
#[test]
fn a_namespace_device_named_like_a_host_device_gets_none_of_its_irqs() {
    if !require_root("a_namespace_device_named_like_a_host_device_gets_none_of_its_irqs") {
        return;
    }
    let interrupts = std::fs::read_to_string("/proc/interrupts").expect("interrupts");
    let host_name = interrupts
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter_map(|n| n.split_once('-').map(|(d, _)| d.to_owned()))
        .find(|d| !d.is_empty() && d.len() <= 15 && d.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "eth0".to_owned());
    let ns = TestNs::new();
    ns.sh(&format!(
        "ip link add {host_name} type veth peer name hx1 && ip link set {host_name} up"
    ));
    let nic = Nic::open_in(ns.netns(), &host_name).expect("open");
    let s = nic.steering().expect("steering");
    assert!(
        s.irqs.is_empty(),
        "{host_name} in the namespace got host IRQs: {:?}",
        s.irqs
    );
    assert!(!s.rx.is_empty(), "its own queues were read");
}

/// `Nic::open` from a thread inside a namespace reads that namespace's device, not the
/// host's device of the same name that /sys (mounted by the host) shows.
#[test]
fn open_inside_a_namespace_reads_its_own_device_not_the_hosts() {
    if !require_root("open_inside_a_namespace_reads_its_own_device_not_the_hosts") {
        return;
    }
    // A name the host has (it has lo at least; eth0 on most machines).
    let host = ["eth0", "ens3", "enp0s3"]
        .into_iter()
        .find(|n| std::path::Path::new("/sys/class/net").join(n).exists())
        .unwrap_or("eth0");
    let ns = TestNs::new();
    ns.sh(&format!(
        "ip link add {host} numrx 5 numtx 5 type veth peer name hx2 && ip link set {host} up"
    ));
    let host_rx = std::fs::read_dir(format!("/sys/class/net/{host}/queues"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(0);
    let ns_name = host.to_owned();
    let steering = ns.run(move || {
        Nic::open(&ns_name)
            .expect("open")
            .steering()
            .expect("steering")
    });
    assert_eq!(
        steering.rx.len(),
        5,
        "the namespace's device (the host's has {host_rx})"
    );
    assert!(
        steering.irqs.is_empty(),
        "a veth has no interrupts: {:?}",
        steering.irqs
    );
}

/// The ethtool netlink backend against the ioctl and the `ethtool` tool on the same
/// devices: veth's channels, tap's coalescing (changed by `ethtool -C` first), and the
/// refusals: a driver without rings (both backends unsupported) and a missing device
/// (the kernel's extended-ACK text kept).
#[test]
fn the_netlink_backend_reads_what_the_ioctl_and_ethtool_read() {
    if !require_root("the_netlink_backend_reads_what_the_ioctl_and_ethtool_read") {
        return;
    }
    use nettune_nic::ethnl::{Backend, EthtoolNl};
    let ns = TestNs::new();
    ns.sh("ip link add v0 numrx 4 numtx 4 type veth peer name v1 numrx 4 numtx 4 && ip link set v0 up && ip link set v1 up");
    ns.add_tap("tap0");
    let nl = EthtoolNl::open_in(ns.netns()).expect("ethtool netlink");
    assert_eq!(nl.backend(), Backend::Netlink);

    // Channels: netlink, ioctl and ethtool -l agree, before and after a change.
    let veth = Nic::open_in(ns.netns(), "v0").expect("open");
    for combined_rx in [4, 2] {
        ns.sh(&format!("ethtool -L v0 rx {combined_rx}"));
        let by_nl = nl.channels("v0").expect("netlink channels");
        assert_eq!(by_nl, veth.channels().expect("ioctl channels"));
        assert_eq!((by_nl.rx, by_nl.max_rx, by_nl.tx), (combined_rx, 4, 4));
        let (_, text) = ethtool(Some(&ns), &["-l", "v0"]);
        let current = text
            .split("Current hardware settings:")
            .nth(1)
            .expect("current");
        assert!(current.contains(&format!("RX:\t\t{combined_rx}")), "{text}");
    }

    // Coalescing: tap has rx-frames; both backends see what ethtool -C set.
    ns.sh("ethtool -C tap0 rx-frames 27");
    let tap = Nic::open_in(ns.netns(), "tap0").expect("open");
    let by_nl = nl.coalesce("tap0").expect("netlink coalesce");
    assert_eq!(by_nl.coalesce, tap.coalesce().expect("ioctl coalesce"));
    assert_eq!(by_nl.coalesce.rx_frames, 27);
    assert_eq!(by_nl.tx_aggr, None, "tap has no TX aggregation");

    // Rings: veth has none over either interface, and ethtool says so too.
    let e = nl.rings("v0").expect_err("veth has no rings");
    assert!(e.is_unsupported(), "{e}");
    assert!(veth.rings().expect_err("nor by ioctl").is_unsupported());
    assert!(!ethtool(Some(&ns), &["-g", "v0"]).0);

    // A device that does not exist: the kernel's own words, and the attribute.
    let e = nl.channels("nosuch0").expect_err("no such device");
    let Error::Netlink { iface, source, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(iface, "nosuch0");
    assert_eq!(source.errno(), Some(libc::ENODEV), "{e}");
    let ack = source.ext_ack().expect("extended ACK");
    assert!(
        ack.message.as_deref().is_some_and(|m| !m.is_empty()),
        "{ack:?}"
    );
    assert!(ack.offset.is_some(), "the offending attribute: {ack:?}");
}

#[test]
fn netlink_features_timestamping_writes_and_notifications() {
    if !require_root("netlink_features_timestamping_writes_and_notifications") {
        return;
    }
    use nettune_nic::ethnl::{EthtoolNl, Notice, NoticeKind};
    let ns = TestNs::new();
    ns.sh("ip link add v0 numrx 4 numtx 4 type veth peer name v1 numrx 4 numtx 4");
    ns.add_tap("tap0");
    let nl = EthtoolNl::open_in(ns.netns()).expect("ethtool netlink");
    let mut monitor = nl.monitor().expect("monitor");
    monitor
        .set_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");

    for name in ["v0", "tap0", "lo"] {
        let nic = Nic::open_in(ns.netns(), name).expect("open");
        // Features: the same bits and names over both interfaces (bit 0 included).
        let by_nl = nl.features(name).expect("netlink features");
        assert_eq!(by_nl, nic.features().expect("ioctl features"), "{name}");
        assert!(
            by_nl
                .feature(0)
                .is_some_and(|f| f.name == "tx-scatter-gather")
        );
        // Timestamping info.
        assert_eq!(
            nl.timestamping(name).expect("netlink tsinfo").info,
            nic.timestamping().expect("ioctl tsinfo"),
            "{name}"
        );
        // Pause and RSS: neither interface has them on these drivers.
        assert!(
            nl.pause(name).expect_err("pause").is_unsupported(),
            "{name}"
        );
        assert!(nic.pause().expect_err("pause").is_unsupported(), "{name}");
        assert!(nl.rss(name).expect_err("rss").is_unsupported(), "{name}");
    }
    // A feature changed by ethtool reads the same over netlink.
    let gro = nl
        .features("v0")
        .expect("features")
        .get("rx-gro")
        .expect("rx-gro")
        .active;
    ns.sh(&format!(
        "ethtool -K v0 gro {}",
        if gro { "off" } else { "on" }
    ));
    let f = nl.features("v0").expect("features");
    assert_eq!(f.get("rx-gro").expect("rx-gro").active, !gro);
    match monitor.next_notice().expect("a features notice") {
        Notice::Changed { kind, iface, .. } => {
            assert_eq!((kind, iface.as_str()), (NoticeKind::Features, "v0"));
        }
        other => panic!("{other:?}"),
    }

    // Channels over netlink: only the named count changes, the others are kept, and
    // ethtool reads it; an ioctl change made by someone else is announced too.
    let veth = Nic::open_in(ns.netns(), "v0").expect("open");
    let mut u = ChannelsUpdate::new();
    u.rx = Some(2);
    let c = nl.set_channels("v0", &u).expect("set channels");
    assert_eq!((c.rx, c.tx), (2, 4));
    assert_eq!(veth.channels().expect("ioctl"), c);
    let text = ok_in(&ns, &["-l", "v0"]);
    assert_eq!(num(section(&text, false).get("RX")), 2, "{text}");
    ns.sh("ethtool -L v0 tx 3");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match monitor.next_notice().expect("a channels notice") {
            Notice::Changed {
                kind: NoticeKind::Channels,
                iface,
                ..
            } => seen.push(iface),
            Notice::Changed { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, ["v0", "v0"], "ours, then ethtool's");
    // Above the maximum: the kernel's extended ACK names the problem and the attribute.
    u.rx = Some(9);
    let e = nl.set_channels("v0", &u).expect_err("above max");
    let Error::Netlink { source, .. } = &e else {
        panic!("{e:?}")
    };
    let ack = source.ext_ack().expect("extended ACK");
    assert!(
        ack.message
            .as_deref()
            .is_some_and(|m| m.contains("exceeds maximum")),
        "{ack:?}"
    );
    assert!(ack.offset.is_some(), "{ack:?}");
    assert_eq!(veth.channels().expect("ioctl").rx, 2, "nothing changed");

    // Coalescing over netlink on tap: rx-frames is set; rx-usecs is refused by name.
    let mut c = CoalesceUpdate::new();
    c.rx_frames = Some(21);
    assert_eq!(
        nl.set_coalesce("tap0", &c).expect("set").coalesce.rx_frames,
        21
    );
    assert!(ok_in(&ns, &["-c", "tap0"]).contains("rx-frames: 21"));
    c.rx_usecs = Some(5);
    let e = nl
        .set_coalesce("tap0", &c)
        .expect_err("tap has no rx-usecs");
    let Error::Netlink { source, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(source.errno(), Some(libc::EINVAL), "{e}");
    let ack = source.ext_ack().expect("extended ACK");
    assert!(
        ack.message
            .as_deref()
            .is_some_and(|m| m.contains("unsupported parameter")),
        "{ack:?}"
    );
    let tap = Nic::open_in(ns.netns(), "tap0").expect("open");
    assert_eq!(
        tap.coalesce().expect("ioctl").rx_frames,
        21,
        "nothing changed"
    );
}

/// `ethtool ARGS` in `ns`, which must succeed.
fn ok_in(ns: &TestNs, args: &[&str]) -> String {
    let (ok, text) = ethtool(Some(ns), args);
    assert!(ok, "ethtool {args:?}: {text}");
    text
}

#[test]
fn a_nic_preferring_netlink_uses_it_where_the_kernel_has_it() {
    if !require_root("a_nic_preferring_netlink_uses_it_where_the_kernel_has_it") {
        return;
    }
    use nettune_nic::ethnl::Backend;
    let ns = TestNs::new();
    ns.sh("ip link add v0 numrx 4 numtx 4 type veth peer name v1 numrx 4 numtx 4");
    ns.add_tap("tap0");
    let ioctl = Nic::open_in(ns.netns(), "v0")
        .expect("open")
        .prefer(Backend::Ioctl);
    // Netlink is the default where the kernel has the family (5.6+; this one does).
    let nl = Nic::open_in(ns.netns(), "v0").expect("open");
    for op in [
        NicOp::Channels,
        NicOp::SetChannels,
        NicOp::Features,
        NicOp::Rings,
    ] {
        assert_eq!(nl.backend_for(op), Backend::Netlink, "{op:?}");
        assert_eq!(ioctl.backend_for(op), Backend::Ioctl, "{op:?}");
    }
    for op in [
        NicOp::DriverStats,
        NicOp::Rules,
        NicOp::SetOffloads,
        NicOp::QueueCoalesce,
        NicOp::Tunables,
    ] {
        assert_eq!(
            nl.backend_for(op),
            Backend::Ioctl,
            "{op:?}: only the ioctl has it"
        );
    }
    assert_eq!(nl.features().expect("nl"), ioctl.features().expect("ioctl"));
    assert_eq!(nl.channels().expect("nl"), ioctl.channels().expect("ioctl"));
    let mut u = ChannelsUpdate::new();
    u.tx = Some(2);
    assert!(nl.set_channels(&u).expect("set").is_empty());
    assert_eq!(ioctl.channels().expect("ioctl").tx, 2);
    // The refusal shows the path: the kernel's netlink words, or the ioctl's errno.
    let tap_nl = Nic::open_in(ns.netns(), "tap0")
        .expect("open")
        .prefer(Backend::Netlink);
    let tap_ioctl = Nic::open_in(ns.netns(), "tap0")
        .expect("open")
        .prefer(Backend::Ioctl);
    let mut c = CoalesceUpdate::new();
    c.rx_usecs = Some(9);
    let by_nl = tap_nl.set_coalesce(&c).expect_err("tap has no rx-usecs");
    assert!(
        matches!(&by_nl, Error::Netlink { source, .. }
            if source.ext_msg().is_some_and(|m| m.contains("unsupported parameter"))),
        "{by_nl:?}"
    );
    let by_ioctl = tap_ioctl.set_coalesce(&c).expect_err("tap has no rx-usecs");
    assert!(
        by_ioctl.is_unsupported() && by_ioctl.to_string().contains("tun driver"),
        "{by_ioctl}"
    );
}

//! nic-offload against real drivers: a VM (testkit::vm) with virtio-net (4 queue pairs, RSS)
//! as `eth0` and an Intel 82576 (`igb`) as `eth1`. On the host this boots the VM with this
//! same binary inside; in the guest (`NETTUNE_VM_GUEST=1`) it runs every check below
//! against `ethtool` on the same device, and prints `CHECK <name> ok` or `CHECK <name>
//! FAILED`. The host requires every check to have passed.

mod common;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use common::*;
use nettune_nic::ethnl::{self, EthtoolNl};
use nettune_nic::*;
use testkit::vm::{self, Kit, Vm};
use testkit::{TestNs, require_root};

type Check = fn();

/// `(name, check)` for each check function named.
macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        &[$((stringify!($check), $check as Check)),*]
    };
}

/// The checks, run in this order inside the guest.
const CHECKS: &[(&str, Check)] = checks![
    every_read_agrees_with_ethtool,
    virtio_channels_both_ways,
    virtio_rss_table_and_key,
    virtio_flow_hash_fields,
    virtio_rings,
    igb_rings_and_coalescing,
    igb_rss_and_flow_hash,
    driver_stats_agree,
    igb_private_flags_both_ways,
    link_settings_both_ways,
    igb_pause_both_ways,
    per_queue_coalescing,
    ntuple_rules_as_the_drivers_allow,
    tunables_as_the_drivers_allow,
    netlink_agrees_on_real_drivers,
    snapshot_restores_real_drivers,
    netlink_rss_and_flow_hash_by_kernel,
];

fn main() {
    if std::env::var_os(vm::GUEST_ENV).is_some() {
        std::process::exit(guest());
    }
    host();
}

fn host() {
    const NAME: &str = "nic_checks_in_a_vm";
    if !require_root(NAME) {
        return;
    }
    let kits = Kit::all(NAME);
    if kits.is_empty() {
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    for kit in &kits {
        let ns = TestNs::new();
        let boot = Vm::new(kit, &exe)
            .timeout(Duration::from_secs(900))
            .boot(&ns);
        let guest_lines: Vec<&str> = boot
            .console
            .lines()
            .filter(|l| !l.starts_with('['))
            .collect();
        println!("{}", guest_lines.join("\n"));
        let missing: Vec<&str> = CHECKS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !boot.console.contains(&format!("CHECK {name} ok")))
            .collect();
        println!(
            "vm: kernel {} ({}) under {}: {} of {} checks passed, exit {:?}, in {:.1?} from boot to power-off",
            kit.release,
            kit.suite,
            boot.accel,
            CHECKS.len() - missing.len(),
            CHECKS.len(),
            boot.exit,
            boot.elapsed
        );
        assert!(
            missing.is_empty() && boot.exit == Some(0),
            "{NAME}: on {}, checks not passed in the guest: {missing:?} (exit {:?}); console:\n{}",
            kit.release,
            boot.exit,
            boot.console
        );
    }
    println!("test {NAME} ... ok");
}

fn guest() -> i32 {
    let mut failed = 0;
    for (name, check) in CHECKS {
        match std::panic::catch_unwind(AssertUnwindSafe(check)) {
            Ok(()) => println!("CHECK {name} ok"),
            Err(e) => {
                failed += 1;
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                println!("CHECK {name} FAILED: {msg}");
            }
        }
    }
    i32::from(failed > 0)
}

/// `eth0` (virtio-net) or `eth1` (igb), checked to be that driver.
fn nic(name: &str, driver: &str) -> Nic {
    let nic = Nic::open(name).unwrap_or_else(|e| panic!("open {name}: {e}"));
    assert_eq!(nic.driver_info().expect("driver info").driver, driver);
    nic
}

/// `ethtool -x`: the indirection table and the key.
fn parse_x(text: &str) -> (Vec<u32>, Vec<u8>) {
    let mut table = Vec::new();
    let mut key = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("RSS hash key:") {
            if let Some(k) = lines.next() {
                key = k
                    .trim()
                    .split(':')
                    .filter_map(|b| u8::from_str_radix(b, 16).ok())
                    .collect();
            }
            continue;
        }
        if let Some((idx, rest)) = line.trim().split_once(':')
            && idx.parse::<u32>().is_ok()
        {
            table.extend(
                rest.split_whitespace()
                    .map(|v| v.parse::<u32>().expect("ring")),
            );
        }
    }
    (table, key)
}

/// `ethtool -n IF rx-flow-hash FLOW`: the fields, as `Rxh`.
fn parse_flow_hash(text: &str) -> Rxh {
    let mut fields = Rxh::empty();
    for line in text.lines() {
        let line = line.trim();
        for (prefix, bit) in [
            ("L2DA", Rxh::L2DA),
            ("VLAN tag", Rxh::VLAN),
            ("L3 proto", Rxh::L3_PROTO),
            ("IP SA", Rxh::IP_SRC),
            ("IP DA", Rxh::IP_DST),
            ("L4 bytes 0 & 1", Rxh::L4_B_0_1),
            ("L4 bytes 2 & 3", Rxh::L4_B_2_3),
        ] {
            if line.starts_with(prefix) {
                fields |= bit;
            }
        }
    }
    fields
}

fn every_read_agrees_with_ethtool() {
    for backend in [ethnl::Backend::Ioctl, ethnl::Backend::Netlink] {
        for (name, driver) in [("eth0", "virtio_net"), ("eth1", "igb"), ("lo", "")] {
            let nic = Nic::open(name).expect("open").prefer(backend);
            assert_eq!(nic.backend_for(NicOp::Rings), backend);
            if !driver.is_empty() {
                assert_eq!(nic.driver_info().expect("driver info").driver, driver);
            }
            assert_reads_agree_with_ethtool(&nic);
        }
    }
}

fn virtio_channels_both_ways() {
    let nic = nic("eth0", "virtio_net");
    let nl = EthtoolNl::open().expect("ethtool netlink");
    let c = nic.channels().expect("channels");
    assert_eq!(c.max_combined, 4, "qemu was given 4 queue pairs");
    let mut u = ChannelsUpdate::new();
    u.combined = Some(3);
    assert!(nic.set_channels(&u).expect("set channels").is_empty());
    let text = ok(&["-l", "eth0"]);
    assert_eq!(num(section(&text, false).get("Combined")), 3, "{text}");
    assert_eq!(
        nl.channels("eth0").expect("netlink"),
        nic.channels().expect("ioctl")
    );
    ok(&["-L", "eth0", "combined", "4"]);
    assert_eq!(nic.channels().expect("channels").combined, 4);
    assert_eq!(nic.rx_rings().expect("rx rings"), 4);
    assert_eq!(nl.channels("eth0").expect("netlink").combined, 4);
}

/// Sets the table and key through us and reads them with ethtool, then the other way;
/// a table naming a ring the device lacks is refused with the table unchanged.
fn rss_both_ways(name: &str, rings: u32, backend: ethnl::Backend) {
    let nic = Nic::open(name).expect("open").prefer(backend);
    let before = nic.rss().expect("rss");
    let (table, key) = parse_x(&ok(&["-x", name]));
    assert_eq!((&before.indirection, &before.key), (&table, &key), "{name}");
    let size = before.indirection.len() as u32;
    assert!(size >= 64, "{name}: a real indirection table, not {size}");
    // virtio-net reports its 40-byte key; igb reports no key size (ethtool: "Operation not
    // supported" under "RSS hash key:"), so only the table is set there.
    let has_key = !before.key.is_empty();

    let weights: &[u32] = if rings >= 3 { &[1, 2, 1] } else { &[1, 3] };
    let spread = Indirection::weighted(size, weights).expect("table");
    let new_key: Vec<u8> = (0..before.key.len() as u8)
        .map(|i| i.wrapping_mul(37) ^ 0x5a)
        .collect();
    nic.set_rss(&RssUpdate {
        indirection: Some(spread.clone()),
        key: has_key.then(|| new_key.clone()),
        hfunc: None,
    })
    .expect("set rss");
    let (table, key) = parse_x(&ok(&["-x", name]));
    assert_eq!(table, spread.entries(), "{name}: ethtool reads our table");
    if has_key {
        assert_eq!(key, new_key, "{name}: ethtool reads our key");
    }

    ok(&["-X", name, "equal", "2"]);
    let after = nic.rss().expect("rss");
    let want: Vec<u32> = (0..size).map(|i| i % 2).collect();
    assert_eq!(after.indirection, want, "{name}: we read ethtool's table");

    let bad = Indirection::from_entries(vec![rings; size as usize]);
    let err = nic
        .set_rss(&RssUpdate {
            indirection: Some(bad),
            ..RssUpdate::default()
        })
        .expect_err("a ring past the last");
    assert!(err.to_string().contains("ring"), "{err}");
    assert_eq!(
        nic.rss().expect("rss").indirection,
        want,
        "{name}: unchanged"
    );
}

fn virtio_rss_table_and_key() {
    let nic = nic("eth0", "virtio_net");
    let rings = nic.rx_rings().expect("rx rings");
    rss_both_ways("eth0", rings, ethnl::Backend::Ioctl);
    rss_both_ways("eth0", rings, ethnl::Backend::Netlink);
}

fn flow_hash_both_ways(name: &str, backend: ethnl::Backend) {
    let nic = Nic::open(name).expect("open").prefer(backend);
    let mut compared = 0;
    for flow in FlowType::ALL {
        let (ok, text) = ethtool(None, &["-n", name, "rx-flow-hash", flow.as_str()]);
        if text.contains("bad command line argument") {
            // ethtool 6.1 (Debian 12) has no ip4/ip6 for rx-flow-hash; we read them anyway.
            assert!(
                matches!(flow, FlowType::Ip4 | FlowType::Ip6),
                "{flow}: {text}"
            );
            continue;
        }
        match nic.flow_hash(flow) {
            Ok(fields) if ok => {
                assert_eq!(fields, parse_flow_hash(&text), "{name} {flow}: {text}");
                compared += 1;
            }
            Ok(fields) => panic!("{name} {flow}: we read {fields:?}, ethtool failed: {text}"),
            Err(e) => assert!(!ok, "{name} {flow}: ethtool read it, we failed: {e}"),
        }
    }
    assert!(compared >= 4, "{name}: only {compared} flow types hashed");
    let two = Rxh::IP_SRC | Rxh::IP_DST;
    nic.set_flow_hash(FlowType::Udp4, two).expect("set udp4 sd");
    let text = ok(&["-n", name, "rx-flow-hash", "udp4"]);
    assert_eq!(parse_flow_hash(&text), two, "{name}: {text}");
    ok(&["-N", name, "rx-flow-hash", "udp4", "sdfn"]);
    assert_eq!(
        nic.flow_hash(FlowType::Udp4).expect("udp4"),
        Rxh::FOUR_TUPLE
    );
}

fn virtio_flow_hash_fields() {
    nic("eth0", "virtio_net");
    flow_hash_both_ways("eth0", ethnl::Backend::Ioctl);
    flow_hash_both_ways("eth0", ethnl::Backend::Netlink);
}

/// Rings set through us read back by ethtool and by the netlink backend.
fn rings_both_ways(name: &str, rx: u32, tx: u32, backend: ethnl::Backend) {
    let nic = Nic::open(name).expect("open").prefer(backend);
    let nl = EthtoolNl::open().expect("ethtool netlink");
    let mut u = RingsUpdate::new();
    u.rx = Some(rx);
    u.tx = Some(tx);
    assert!(nic.set_rings(&u).expect("set rings").is_empty(), "{name}");
    let text = ok(&["-g", name]);
    let cur = section(&text, false);
    assert_eq!(
        (num(cur.get("RX")), num(cur.get("TX"))),
        (rx, tx),
        "{name}: {text}"
    );
    let ours = nl.rings(name).expect("netlink rings");
    assert_eq!(ours.rings, nic.rings().expect("ioctl rings"), "{name}");
    assert_eq!(
        ours.tx_push.map(|p| if p { "on" } else { "off" }),
        cur.get("TX Push").map(String::as_str),
        "{name}: tx-push"
    );
}

fn virtio_rings() {
    let nic = nic("eth0", "virtio_net");
    let r = nic.rings().expect("rings");
    assert_eq!(
        (r.rx_max, r.tx_max),
        (256, 256),
        "qemu's default queue size"
    );
    rings_both_ways("eth0", 128, 256, ethnl::Backend::Ioctl);
    rings_both_ways("eth0", 256, 256, ethnl::Backend::Ioctl);
    rings_both_ways("eth0", 64, 256, ethnl::Backend::Netlink);
    rings_both_ways("eth0", 256, 256, ethnl::Backend::Netlink);
}

fn igb_rings_and_coalescing() {
    let nic = nic("eth1", "igb");
    rings_both_ways("eth1", 512, 1024, ethnl::Backend::Ioctl);
    rings_both_ways("eth1", 256, 512, ethnl::Backend::Netlink);
    let mut c = CoalesceUpdate::new();
    c.rx_usecs = Some(50);
    assert!(nic.set_coalesce(&c).expect("set coalesce").is_empty());
    let text = ok(&["-c", "eth1"]);
    assert!(
        text.lines()
            .any(|l| l.trim() == "rx-usecs:\t50" || l.split_whitespace().eq(["rx-usecs:", "50"])),
        "{text}"
    );
    let nl = EthtoolNl::open().expect("ethtool netlink");
    assert_eq!(
        nl.coalesce("eth1").expect("netlink").coalesce,
        nic.coalesce().expect("ioctl")
    );
    ok(&["-C", "eth1", "rx-usecs", "3"]);
    assert_eq!(nic.coalesce().expect("coalesce").rx_usecs, 3);
}

fn igb_rss_and_flow_hash() {
    let nic = nic("eth1", "igb");
    let rings = nic.rx_rings().expect("rx rings");
    assert!(rings >= 2, "igb with 2 CPUs has 2 queues, not {rings}");
    rss_both_ways("eth1", rings, ethnl::Backend::Ioctl);
    let nic = Nic::open("eth1").expect("open");
    // igb hashes TCP on the four-tuple only; UDP on two or four fields.
    assert_eq!(
        nic.flow_hash(FlowType::Tcp4).expect("tcp4"),
        Rxh::FOUR_TUPLE
    );
    flow_hash_both_ways("eth1", ethnl::Backend::Netlink);
}

fn driver_stats_agree() {
    for name in ["eth0", "eth1", "lo"] {
        assert_stats_agree(&Nic::open(name).expect("open"));
    }
    assert!(
        Nic::open("eth0")
            .expect("open")
            .driver_stats()
            .expect("stats")
            .len()
            >= 8
    );
    // Once the device has more queues, it has more counters, and we see them.
    let nic = Nic::open("eth0").expect("open");
    let mut c = ChannelsUpdate::new();
    c.combined = Some(1);
    let err = nic
        .set_channels(&c)
        .expect_err("the RSS table uses queue 1");
    assert!(err.to_string().contains("RSS indirection table"), "{err}");
    c.combined = Some(2);
    nic.set_channels(&c).expect("two queues");
    let fewer = nic.driver_stats().expect("stats").len();
    c.combined = Some(4);
    nic.set_channels(&c).expect("four queues");
    let more = nic.driver_stats().expect("stats");
    assert!(
        more.len() > fewer,
        "{} counters with 4 queues, {fewer} with 1",
        more.len()
    );
    assert_eq!(more.len(), parse_stats(&ok(&["-S", "eth0"])).len());
    let lo = Nic::open("lo").expect("lo");
    let err = lo
        .driver_stats()
        .expect_err("lo keeps no driver statistics");
    assert!(err.is_unsupported(), "{err}");
    assert!(!ethtool(None, &["-S", "lo"]).0);
}

fn igb_private_flags_both_ways() {
    let nic = nic("eth1", "igb");
    let flags = nic.private_flags().expect("flags");
    assert_eq!(flags, parse_priv_flags(&ok(&["--show-priv-flags", "eth1"])));
    assert_eq!(flags, [("legacy-rx".to_owned(), false)]);
    let now = nic.set_private_flags(&[("legacy-rx", true)]).expect("set");
    assert_eq!(now, [("legacy-rx".to_owned(), true)]);
    assert_eq!(parse_priv_flags(&ok(&["--show-priv-flags", "eth1"])), now);
    ok(&["--set-priv-flags", "eth1", "legacy-rx", "off"]);
    assert_eq!(nic.private_flags().expect("flags"), flags);
    let err = nic
        .set_private_flags(&[("legacy-rx", true), ("no-such-flag", true)])
        .expect_err("unknown flag");
    assert!(
        err.to_string().contains("no-such-flag") && err.to_string().contains("legacy-rx"),
        "{err}"
    );
    assert_eq!(
        nic.private_flags().expect("flags"),
        flags,
        "nothing written"
    );
    let virtio = Nic::open("eth0").expect("open");
    assert!(
        virtio
            .private_flags()
            .expect_err("no flags")
            .is_unsupported()
    );
}

fn link_settings_both_ways() {
    let virtio = Nic::open("eth0").expect("open");
    assert_link_agrees("eth0", &virtio.link_settings().expect("virtio link"));
    let nic = nic("eth1", "igb");
    let before = nic.link_settings().expect("link");
    assert_link_agrees("eth1", &before);
    assert_eq!(before.port, Port::TwistedPair);
    assert!(
        before.supported.iter().any(|m| m == "1000baseT/Full"),
        "{:?}",
        before.supported
    );
    let mut u = LinkUpdate::new();
    u.advertise = Some(vec!["100baseT/Full".into(), "10baseT/Full".into()]);
    let now = nic.set_link_settings(&u).expect("advertise");
    assert_link_agrees("eth1", &now);
    assert_eq!(speed_modes(&now.advertising), "10baseT/Full 100baseT/Full");
    ok(&["-s", "eth1", "advertise", "0x2f"]);
    let back = nic.link_settings().expect("link");
    assert_eq!(
        speed_modes(&back.advertising),
        speed_modes(&before.advertising)
    );
    for bad in ["40000baseKR4/Full", "no-such-mode"] {
        u.advertise = Some(vec![bad.into()]);
        let err = nic.set_link_settings(&u).expect_err(bad);
        assert!(err.to_string().contains(bad), "{err}");
    }
    assert_eq!(nic.link_settings().expect("link"), back, "nothing written");
}

fn igb_pause_both_ways() {
    let nic = nic("eth1", "igb");
    let before = nic.pause().expect("pause");
    assert_eq!(before, parse_pause(&ok(&["-a", "eth1"])));
    let want = Pause {
        autoneg: false,
        rx: true,
        tx: false,
    };
    assert_eq!(nic.set_pause(want).expect("set pause"), want);
    assert_eq!(parse_pause(&ok(&["-a", "eth1"])), want);
    ok(&["-A", "eth1", "autoneg", "on", "rx", "on", "tx", "on"]);
    assert_eq!(nic.pause().expect("pause"), before);
    let virtio = Nic::open("eth0").expect("open");
    assert!(
        virtio
            .pause()
            .expect_err("virtio has no pause")
            .is_unsupported()
    );
    assert!(!ethtool(None, &["-a", "eth0"]).0);
}

/// `ethtool --per-queue IF queue_mask M --show-coalesce`: (queue, field -> value).
fn parse_per_queue(text: &str) -> Vec<(u32, BTreeMap<String, String>)> {
    let mut out: Vec<(u32, BTreeMap<String, String>)> = Vec::new();
    for (k, v) in parse_kv(text) {
        if k == "Queue" {
            out.push((v.parse().expect("queue"), BTreeMap::new()));
        } else if let Some((_, fields)) = out.last_mut() {
            fields.insert(k, v);
        }
    }
    out
}

fn per_queue_coalescing() {
    let nic = nic("eth0", "virtio_net");
    let ours = nic
        .queue_coalesce(&[2, 0, 2])
        .expect("per-queue coalescing");
    let theirs = parse_per_queue(&ok(&[
        "--per-queue",
        "eth0",
        "queue_mask",
        "0x5",
        "--show-coalesce",
    ]));
    assert_eq!(ours.iter().map(|(q, _)| *q).collect::<Vec<_>>(), [0, 2]);
    assert_eq!(theirs.iter().map(|(q, _)| *q).collect::<Vec<_>>(), [0, 2]);
    for ((q, c), (_, t)) in ours.iter().zip(&theirs) {
        for (field, v) in [
            ("rx-frames", c.rx_frames),
            ("tx-frames", c.tx_frames),
            ("rx-usecs", c.rx_usecs),
            ("tx-usecs", c.tx_usecs),
        ] {
            assert_eq!(
                t.get(field).map(String::as_str),
                Some(v.to_string().as_str()),
                "queue {q} {field}"
            );
        }
    }
    // Without VIRTIO_NET_F_VQ_NOTF_COAL (qemu offers none) a change is refused (EOPNOTSUPP),
    // by both.
    let mut u = CoalesceUpdate::new();
    u.rx_usecs = Some(10);
    let err = nic
        .set_queue_coalesce(&[0], &u)
        .expect_err("no per-queue notification coalescing");
    assert!(err.is_unsupported(), "{err}");
    let (_, text) = ethtool(
        None,
        &[
            "--per-queue",
            "eth0",
            "queue_mask",
            "0x1",
            "--coalesce",
            "rx-usecs",
            "10",
        ],
    );
    // ethtool 6.1 prints the refusal but exits 0.
    assert!(
        text.contains("Cannot set device per queue parameters: Operation not supported"),
        "{text}"
    );
    assert_eq!(
        nic.queue_coalesce(&[0]).expect("read")[0].1,
        ours[0].1,
        "unchanged"
    );
    let err = nic
        .queue_coalesce(&[MAX_QUEUES])
        .expect_err("past the kernel's queues");
    assert!(err.to_string().contains("4096"), "{err}");
    assert!(nic.queue_coalesce(&[]).is_err());
    let igb = Nic::open("eth1").expect("open");
    assert!(igb.queue_coalesce(&[0]).expect_err("igb").is_unsupported());
    assert!(
        !ethtool(
            None,
            &[
                "--per-queue",
                "eth1",
                "queue_mask",
                "0x1",
                "--show-coalesce"
            ]
        )
        .0
    );
}

fn tunables_as_the_drivers_allow() {
    // Neither virtio-net nor igb has driver tunables or a PHY driver with tunables: both
    // refuse, as ethtool reports.
    assert_tunables_refused_like_ethtool(None, &nic("eth0", "virtio_net"));
    assert_tunables_refused_like_ethtool(None, &nic("eth1", "igb"));
    assert_eq!(
        Nic::open("eth0")
            .expect("open")
            .backend_for(NicOp::Tunables),
        ethnl::Backend::Ioctl
    );
}

fn ntuple_rules_as_the_drivers_allow() {
    // The 82576 that qemu models has no n-tuple filters (igb offers them from the i350 on):
    // its table reads empty, an insert is refused, and ethtool agrees (printing the
    // refusal, yet exiting 0).
    let igb = nic("eth1", "igb");
    let table = igb.rule_table().expect("rule table");
    assert_eq!(table.count, 0);
    let text = ok(&["-n", "eth1"]);
    assert!(text.contains("Total 0 rules"), "{text}");
    assert!(igb.rules().expect("rules").is_empty());
    let mut m = RuleMatch::new(RuleFlow::Ether);
    m.ethertype = Some(Masked::exact(0x88f7));
    let err = igb
        .insert_rule(RuleLocation::At(3), &m, RuleAction::Queue(1))
        .expect_err("no ntuple");
    assert!(err.is_unsupported(), "{err}");
    let (_, text) = ethtool(
        None,
        &[
            "-N",
            "eth1",
            "flow-type",
            "ether",
            "proto",
            "0x88f7",
            "action",
            "1",
            "loc",
            "3",
        ],
    );
    assert!(text.contains("Operation not supported"), "{text}");
    let err = igb
        .insert_rule(RuleLocation::At(0), &m, RuleAction::Queue(9))
        .expect_err("queue 9");
    assert!(err.to_string().contains("queue 9"), "{err}");
    // virtio-net keeps no rule table at all.
    let virtio = Nic::open("eth0").expect("open");
    assert!(virtio.rule_table().expect_err("virtio").is_unsupported());
    let (_, text) = ethtool(None, &["-n", "eth0"]);
    assert!(
        text.contains("Cannot get RX class rule count: Operation not supported"),
        "{text}"
    );
}

fn netlink_agrees_on_real_drivers() {
    let nl = EthtoolNl::open().expect("ethtool netlink");
    for name in ["eth0", "eth1"] {
        let nic = Nic::open(name).expect("open");
        assert_eq!(
            nl.features(name).expect("features"),
            nic.features().expect("features"),
            "{name}"
        );
        assert_eq!(
            nl.timestamping(name).expect("tsinfo").info,
            nic.timestamping().expect("tsinfo"),
            "{name}"
        );
        assert_eq!(
            nl.rss(name).expect("rss"),
            nic.rss().expect("rss"),
            "{name}"
        );
    }
    // Neither driver creates additional RSS contexts: context 1 is refused by both.
    let e = nl.rss_context("eth0", 1).expect_err("no context 1");
    assert!(matches!(e, Error::Netlink { .. }), "{e:?}");
    let (done, text) = ethtool(None, &["-x", "eth0", "context", "1"]);
    assert!(!done || !text.contains("indirection table"), "{text}");
    // igb stamps in hardware: both interfaces say so, as ethtool -T does.
    let igb = nl.timestamping("eth1").expect("tsinfo").info;
    assert!(igb.has_hardware() && igb.phc_index.is_some(), "{igb:?}");

    // Pause over netlink, read back by ethtool; the counters as ethtool -I shows them.
    let nic = nic("eth1", "igb");
    let before = nl.pause("eth1").expect("pause");
    assert_eq!(before.pause, nic.pause().expect("ioctl pause"));
    let text = ok(&["-I", "-a", "eth1"]);
    assert_eq!(
        before.tx_frames.is_some(),
        text.contains("tx_pause_frames"),
        "{text}"
    );
    let want = Pause {
        autoneg: false,
        rx: false,
        tx: true,
    };
    assert_eq!(nl.set_pause("eth1", want).expect("set pause").pause, want);
    assert_eq!(parse_pause(&ok(&["-a", "eth1"])), want);
    nl.set_pause("eth1", before.pause).expect("restore pause");
    assert_eq!(nic.pause().expect("pause"), before.pause);

    // Rings over netlink: only RX named, TX kept; ethtool reads it.
    let mut u = ethnl::NlRingsUpdate::new();
    u.rings.rx = Some(128);
    let r = nl.set_rings("eth0", &u).expect("set rings");
    assert_eq!((r.rings.rx, r.rings.tx), (128, 256));
    let cur = section(&ok(&["-g", "eth0"]), false);
    assert_eq!(num(cur.get("RX")), 128);
    // A netlink-only parameter the driver lacks is refused by name, nothing changed.
    u.rings.rx = Some(256);
    u.rx_buf_len = Some(4096);
    let e = nl
        .set_rings("eth0", &u)
        .expect_err("virtio has no rx-buf-len");
    let Error::Netlink { source, .. } = &e else {
        panic!("{e:?}")
    };
    let why = source
        .ext_ack()
        .and_then(|a| a.message.clone())
        .unwrap_or_default();
    assert!(!why.is_empty(), "the kernel says why: {e:?}");
    assert_eq!(nic_rings_rx("eth0"), 128);
    u.rx_buf_len = None;
    nl.set_rings("eth0", &u).expect("restore rings");

    // The standard statistics groups: igb keeps none of them, and ethtool shows the four
    // groups empty.
    let groups = nl.std_stats("eth1").expect("std stats");
    let text = ok(&["--json", "-S", "eth1", "--all-groups"]);
    for g in &groups {
        assert!(
            text.contains(&format!("\"{}\": {{}}", g.group)),
            "{}: {text}",
            g.group
        );
        assert!(g.stats.is_empty(), "{g:?}");
    }
    assert_eq!(
        groups.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(),
        ["eth-phy", "eth-mac", "eth-ctrl", "rmon"]
    );
}

fn nic_rings_rx(name: &str) -> u32 {
    Nic::open(name).expect("open").rings().expect("rings").rx
}

/// A snapshot, changes by ethtool to every part it covers, and a restore: everything reads
/// back as it was, by us and by ethtool.
fn snapshot_restores_real_drivers() {
    for name in ["eth0", "eth1"] {
        let nic = Nic::open(name).expect("open");
        let before = nic.snapshot().expect("snapshot");
        let ethtool_before = [ok(&["-g", name]), ok(&["-l", name]), ok(&["-x", name])];
        ok(&["-G", name, "rx", "128"]);
        ok(&["-X", name, "equal", "1"]);
        ok(&["-N", name, "rx-flow-hash", "udp4", "sd"]);
        if name == "eth1" {
            assert!(before.pause.is_some() && !before.private_flags.is_empty());
            ok(&["-A", name, "autoneg", "off", "rx", "off", "tx", "off"]);
            ok(&["--set-priv-flags", name, "legacy-rx", "on"]);
            ok(&["-C", name, "rx-usecs", "100"]);
        } else {
            ok(&["-L", name, "combined", "2"]);
        }
        assert_ne!(nic.snapshot().expect("changed"), before, "{name}");
        nic.restore(&before).expect("restore");
        assert_eq!(nic.snapshot().expect("after"), before, "{name}");
        let ethtool_after = [ok(&["-g", name]), ok(&["-l", name]), ok(&["-x", name])];
        assert_eq!(ethtool_after, ethtool_before, "{name}");
        // Nothing differs, so a second restore writes nothing.
        nic.restore(&before).expect("restore again");
    }
}

/// The guest kernel's (major, minor).
fn kernel() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut n = r
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|x| x.parse().ok());
    (n.next().unwrap_or(0), n.next().unwrap_or(0))
}

/// RSS and flow hashing over netlink: set and read on 6.17+ (read back by the ioctl and
/// ethtool), refused before.
fn netlink_rss_and_flow_hash_by_kernel() {
    let nl = EthtoolNl::open().expect("ethtool netlink");
    let nic = nic("eth0", "virtio_net");
    let preferring = Nic::open("eth0")
        .expect("open")
        .prefer(ethnl::Backend::Netlink);
    let expected = if kernel() < (6, 17) {
        ethnl::Backend::Ioctl
    } else {
        ethnl::Backend::Netlink
    };
    for op in [NicOp::FlowHash, NicOp::SetRss] {
        assert_eq!(preferring.backend_for(op), expected, "{op:?}");
    }
    if kernel() < (6, 17) {
        let e = nl
            .flow_hash("eth0")
            .expect_err("no flow hashing over netlink");
        assert!(e.is_unsupported() && e.to_string().contains("6.17"), "{e}");
        let e = nl
            .set_rss("eth0", &RssUpdate::default())
            .expect_err("no RSS_SET before 6.17");
        assert!(e.is_unsupported(), "{e}");
        return;
    }
    let by_nl = nl.flow_hash("eth0").expect("flow hash");
    println!("flow hashing over netlink: {} flow types", by_nl.len());
    assert!(by_nl.len() >= 4, "{by_nl:?}");
    for (flow, fields) in &by_nl {
        if let Ok(ioctl) = nic.flow_hash(*flow) {
            assert_eq!(*fields, ioctl, "{flow}");
        }
    }
    nl.set_flow_hash("eth0", FlowType::Udp4, Rxh::IP_SRC | Rxh::IP_DST)
        .expect("set flow hash");
    let text = ok(&["-n", "eth0", "rx-flow-hash", "udp4"]);
    assert_eq!(parse_flow_hash(&text), Rxh::IP_SRC | Rxh::IP_DST, "{text}");
    nl.set_flow_hash("eth0", FlowType::Udp4, Rxh::FOUR_TUPLE)
        .expect("set flow hash back");
    assert_eq!(
        nic.flow_hash(FlowType::Udp4).expect("udp4"),
        Rxh::FOUR_TUPLE
    );

    let before = nic.rss().expect("rss");
    let size = before.indirection.len() as u32;
    let table = Indirection::equal(size, 3).expect("table");
    let key: Vec<u8> = (0..before.key.len() as u8).rev().collect();
    let now = nl
        .set_rss(
            "eth0",
            &RssUpdate {
                indirection: Some(table.clone()),
                key: Some(key.clone()),
                hfunc: None,
            },
        )
        .expect("set rss");
    assert_eq!(
        (now.indirection.as_slice(), &now.key),
        (table.entries(), &key)
    );
    let (t, k) = parse_x(&ok(&["-x", "eth0"]));
    assert_eq!(
        (t.as_slice(), &k),
        (table.entries(), &key),
        "ethtool reads it"
    );
    // A queue the device lacks: refused, with the kernel's words, and nothing changed.
    let bad = Indirection::from_entries(vec![9; size as usize]);
    let e = nl
        .set_rss(
            "eth0",
            &RssUpdate {
                indirection: Some(bad),
                ..RssUpdate::default()
            },
        )
        .expect_err("queue 9");
    let Error::Netlink { source, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(source.ext_msg().is_some_and(|m| !m.is_empty()), "{e:?}");
    assert_eq!(nic.rss().expect("rss").indirection, table.entries());
    nl.set_rss(
        "eth0",
        &RssUpdate {
            indirection: Some(Indirection::from_entries(before.indirection.clone())),
            key: Some(before.key.clone()),
            hfunc: None,
        },
    )
    .expect("restore");
}

//! nic-offload against real drivers: a VM (testkit::vm) with virtio-net (4 queue pairs, RSS)
//! as `eth0` and an Intel 82576 (`igb`) as `eth1`. On the host this boots the VM with this
//! same binary inside; in the guest (`NETTUNE_VM_GUEST=1`) it runs every check below
//! against `ethtool` on the same device, and prints `CHECK <name> ok` or `CHECK <name>
//! FAILED`. The host requires every check to have passed.

mod common;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use common::*;
use nettune_nic::ethnl::EthtoolNl;
use nettune_nic::*;
use testkit::vm::{self, Kit, Vm};
use testkit::{TestNs, require_root};

type Check = fn();

/// The checks, run in this order inside the guest.
const CHECKS: &[(&str, Check)] = &[
    (
        "every_read_agrees_with_ethtool",
        every_read_agrees_with_ethtool,
    ),
    ("virtio_channels_both_ways", virtio_channels_both_ways),
    ("virtio_rss_table_and_key", virtio_rss_table_and_key),
    ("virtio_flow_hash_fields", virtio_flow_hash_fields),
    ("virtio_rings", virtio_rings),
    ("igb_rings_and_coalescing", igb_rings_and_coalescing),
    ("igb_rss_and_flow_hash", igb_rss_and_flow_hash),
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
    let Some(kit) = Kit::find(NAME) else {
        return;
    };
    let exe = std::env::current_exe().expect("current_exe");
    let ns = TestNs::new();
    let boot = Vm::new(&kit, exe)
        .timeout(Duration::from_secs(900))
        .boot(&ns);
    let guest_lines: Vec<&str> = boot
        .console
        .lines()
        .filter(|l| !l.starts_with('['))
        .collect();
    println!("{}", guest_lines.join("\n"));
    println!(
        "vm: kernel {} under {} booted, ran {} checks and powered off in {:.1?}",
        kit.release,
        boot.accel,
        CHECKS.len(),
        boot.elapsed
    );
    let missing: Vec<&str> = CHECKS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !boot.console.contains(&format!("CHECK {name} ok")))
        .collect();
    assert!(
        missing.is_empty() && boot.exit == Some(0),
        "{NAME}: checks not passed in the guest: {missing:?} (exit {:?}); console:\n{}",
        boot.exit,
        boot.console
    );
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

fn ok(args: &[&str]) -> String {
    let (ok, text) = ethtool(None, args);
    assert!(ok, "ethtool {args:?}: {text}");
    text
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
    for (name, driver) in [("eth0", "virtio_net"), ("eth1", "igb"), ("lo", "")] {
        let nic = Nic::open(name).expect("open");
        if !driver.is_empty() {
            assert_eq!(nic.driver_info().expect("driver info").driver, driver);
        }
        assert_reads_agree_with_ethtool(&nic);
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
fn rss_both_ways(name: &str, rings: u32) {
    let nic = Nic::open(name).expect("open");
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
    rss_both_ways("eth0", nic.rx_rings().expect("rx rings"));
}

fn flow_hash_both_ways(name: &str) {
    let nic = Nic::open(name).expect("open");
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
    flow_hash_both_ways("eth0");
}

/// Rings set through us read back by ethtool and by the netlink backend.
fn rings_both_ways(name: &str, rx: u32, tx: u32) {
    let nic = Nic::open(name).expect("open");
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
    rings_both_ways("eth0", 128, 256);
    rings_both_ways("eth0", 256, 256);
}

fn igb_rings_and_coalescing() {
    let nic = nic("eth1", "igb");
    rings_both_ways("eth1", 512, 1024);
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
    rss_both_ways("eth1", rings);
    let nic = Nic::open("eth1").expect("open");
    // igb hashes TCP on the four-tuple only; UDP on two or four fields.
    assert_eq!(
        nic.flow_hash(FlowType::Tcp4).expect("tcp4"),
        Rxh::FOUR_TUPLE
    );
    flow_hash_both_ways("eth1");
}

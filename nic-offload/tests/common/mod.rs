//! Helpers shared by the live and VM tests: running `ethtool` and reading its output.
#![allow(dead_code)]

use std::collections::BTreeMap;

use nettune_nic::*;
use testkit::TestNs;

/// `ethtool ARGS` (in `ns`, or the host when `None`): (success, stdout+stderr).
pub(crate) fn ethtool(ns: Option<&TestNs>, args: &[&str]) -> (bool, String) {
    let out = match ns {
        Some(ns) => ns.exec("ethtool", args),
        None => std::process::Command::new("ethtool")
            .args(args)
            .output()
            .expect("ethtool"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `ethtool ARGS` in the caller's namespace, which must succeed; its output.
pub(crate) fn ok(args: &[&str]) -> String {
    let (ok, text) = ethtool(None, args);
    assert!(ok, "ethtool {args:?}: {text}");
    text
}

/// The legacy names `ethtool -k` prints for single-feature groups.
pub(crate) fn kernel_name(ethtool_name: &str) -> Option<&str> {
    Some(match ethtool_name {
        "rx-checksumming" => "rx-checksum",
        "generic-segmentation-offload" => "tx-generic-segmentation",
        "generic-receive-offload" => "rx-gro",
        "large-receive-offload" => "rx-lro",
        "rx-vlan-offload" => "rx-vlan-hw-parse",
        "tx-vlan-offload" => "tx-vlan-hw-insert",
        "ntuple-filters" => "rx-ntuple-filter",
        "receive-hashing" => "rx-hashing",
        "udp-fragmentation-offload" => "tx-udp-fragmentation",
        // Groups of several features: their members are listed by kernel name.
        "tx-checksumming" | "scatter-gather" | "tcp-segmentation-offload" => return None,
        other => other,
    })
}

/// Parses `ethtool -k`: kernel name -> (on, fixed).
pub(crate) fn parse_k(text: &str) -> BTreeMap<String, (bool, bool)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(": ")?;
            let name = kernel_name(name)?;
            Some((
                name.to_owned(),
                (rest.starts_with("on"), rest.contains("[fixed]")),
            ))
        })
        .collect()
}

pub(crate) fn assert_features_match_ethtool(ns: Option<&TestNs>, nic: &Nic) {
    let (ok, text) = ethtool(ns, &["-k", nic.name().as_str()]);
    assert!(ok, "{text}");
    let theirs = parse_k(&text);
    let ours = nic.features().expect("features");
    let mut compared = 0;
    for f in &ours {
        let (on, fixed) = theirs
            .get(f.name)
            .unwrap_or_else(|| panic!("{}: ethtool does not list {}", nic.name(), f.name));
        assert_eq!(
            (f.active, f.fixed),
            (*on, *fixed),
            "{}: {}",
            nic.name(),
            f.name
        );
        compared += 1;
    }
    assert_eq!(
        compared,
        theirs.len(),
        "{}: the same features on both sides",
        nic.name()
    );
}

/// `KEY: value` lines of ethtool's -g/-l/-c output, in order, with the section they are in.
pub(crate) fn parse_kv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Values after "Current hardware settings:" (or "Pre-set maximums:" when `max`).
pub(crate) fn section(text: &str, max: bool) -> BTreeMap<String, String> {
    let start = if max {
        "Pre-set maximums:"
    } else {
        "Current hardware settings:"
    };
    let body = text.split(start).nth(1).unwrap_or_default();
    let body = if max {
        body.split("Current hardware settings:")
            .next()
            .unwrap_or_default()
    } else {
        body
    };
    parse_kv(body).into_iter().collect()
}

pub(crate) fn num(v: Option<&String>) -> u32 {
    match v.map(String::as_str) {
        None | Some("n/a") => 0,
        Some(v) => v.parse().unwrap_or_else(|_| panic!("number {v}")),
    }
}

/// Every read (features, driver info, rings, channels, coalescing, RSS) of `nic`, in the
/// caller's namespace, agrees with `ethtool` on the same device, or both refuse it.
pub(crate) fn assert_reads_agree_with_ethtool(nic: &Nic) {
    let n = nic.name().as_str();
    assert_features_match_ethtool(None, nic);
    let (ok, text) = ethtool(None, &["-i", n]);
    match nic.driver_info() {
        Ok(d) => {
            assert!(ok, "{n}: we read driver info, ethtool did not: {text}");
            let kv: BTreeMap<_, _> = parse_kv(&text).into_iter().collect();
            assert_eq!(Some(&d.driver), kv.get("driver"), "{n}");
            assert_eq!(Some(&d.version), kv.get("version"), "{n}");
            assert_eq!(
                d.firmware,
                kv.get("firmware-version").cloned().unwrap_or_default(),
                "{n}"
            );
            assert_eq!(
                d.bus_info,
                kv.get("bus-info").cloned().unwrap_or_default(),
                "{n}"
            );
        }
        Err(e) => {
            assert!(e.is_unsupported(), "{n}: {e}");
            assert!(
                !ok && text.contains("Operation not supported"),
                "{n}: {text}"
            );
        }
    }
    let (ok, text) = ethtool(None, &["-g", n]);
    match nic.rings() {
        Ok(r) => {
            assert!(ok, "{n}: {text}");
            let (max, cur) = (section(&text, true), section(&text, false));
            assert_eq!(
                (r.rx_max, r.tx_max),
                (num(max.get("RX")), num(max.get("TX"))),
                "{n}"
            );
            assert_eq!(
                (r.rx, r.tx),
                (num(cur.get("RX")), num(cur.get("TX"))),
                "{n}"
            );
            assert_eq!(r.rx_mini, num(cur.get("RX Mini")), "{n}");
        }
        Err(e) => assert!(e.is_unsupported() && !ok, "{n}: {e} / {text}"),
    }
    let (ok, text) = ethtool(None, &["-l", n]);
    match nic.channels() {
        Ok(c) => {
            assert!(ok, "{n}: {text}");
            let counts = |max: bool| {
                let s = section(&text, max);
                (num(s.get("RX")), num(s.get("TX")), num(s.get("Combined")))
            };
            assert_eq!((c.max_rx, c.max_tx, c.max_combined), counts(true), "{n}");
            assert_eq!((c.rx, c.tx, c.combined), counts(false), "{n}");
        }
        Err(e) => assert!(e.is_unsupported() && !ok, "{n}: {e} / {text}"),
    }
    let (ok, text) = ethtool(None, &["-c", n]);
    match nic.coalesce() {
        Ok(c) => {
            assert!(ok, "{n}: {text}");
            let kv: BTreeMap<_, _> = parse_kv(&text).into_iter().collect();
            for (field, ours) in [
                ("rx-usecs", c.rx_usecs),
                ("rx-frames", c.rx_frames),
                ("tx-usecs", c.tx_usecs),
                ("tx-frames", c.tx_frames),
            ] {
                if let Some(v) = kv.get(field).filter(|v| *v != "n/a") {
                    assert_eq!(v.parse::<u32>().ok(), Some(ours), "{n}: {field}");
                }
            }
        }
        Err(e) => assert!(e.is_unsupported() && !ok, "{n}: {e} / {text}"),
    }
    let (ok, text) = ethtool(None, &["-x", n]);
    if let Err(e) = nic.rss() {
        assert!(e.is_unsupported(), "{n}: {e}");
        assert!(
            !ok || text.contains("Operation not supported"),
            "{n}: {text}"
        );
    }
    assert_stats_agree(nic);
    let (ok, text) = ethtool(None, &["--show-priv-flags", n]);
    match nic.private_flags() {
        Ok(flags) => assert_eq!(flags, parse_priv_flags(&text), "{n}: {text}"),
        Err(e) => assert!(
            e.is_unsupported() && (!ok || text.contains("No private flags")),
            "{n}: {e} / {text}"
        ),
    }
    let (ok, text) = ethtool(None, &["-a", n]);
    match nic.pause() {
        Ok(p) => assert_eq!(p, parse_pause(&text), "{n}: {text}"),
        Err(e) => assert!(e.is_unsupported() && !ok, "{n}: {e} / {text}"),
    }
    match nic.link_settings() {
        Ok(l) => assert_link_agrees(n, &l),
        Err(e) => assert!(e.is_unsupported(), "{n}: {e}"),
    }
}

/// `ethtool -S` names the same counters in the same order, and reads each between two
/// readings of ours (counters only grow); or both refuse.
pub(crate) fn assert_stats_agree(nic: &Nic) {
    let n = nic.name().as_str();
    let before = nic.driver_stats();
    let (ok, text) = ethtool(None, &["-S", n]);
    let (before, after) = match (before, nic.driver_stats()) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(e), _) | (_, Err(e)) => {
            assert!(e.is_unsupported() && !ok, "{n}: {e} / {text}");
            return;
        }
    };
    assert!(ok, "{n}: {text}");
    let theirs = parse_stats(&text);
    let names = |s: &[(String, u64)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&before.stats),
        names(&theirs),
        "{n}: the same counters, in order"
    );
    for (((c, a), (_, t)), (_, b)) in before.stats.iter().zip(&theirs).zip(&after.stats) {
        assert!(a <= t && t <= b, "{n}: {c}: ours {a} then {b}, ethtool {t}");
    }
}

/// `ethtool -S`: (name, value) in order.
pub(crate) fn parse_stats(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.trim().rsplit_once(": ")?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

pub(crate) fn parse_priv_flags(text: &str) -> Vec<(String, bool)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_owned(), v.trim() == "on"))
        })
        .collect()
}

/// `ethtool IF`: the value after `key:` and, for link-mode lists, its continuation lines.
pub(crate) fn parse_settings(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut last = String::new();
    for line in text.lines().skip(1) {
        match line.split_once(':') {
            Some((k, v)) if !k.trim().is_empty() && !k.contains('/') => {
                last = k.trim().to_owned();
                out.insert(last.clone(), v.trim().to_owned());
            }
            _ => {
                if let Some(v) = out.get_mut(&last) {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            }
        }
    }
    out
}

pub(crate) fn speed_modes(modes: &[String]) -> String {
    let list: Vec<&str> = modes
        .iter()
        .map(String::as_str)
        .filter(|m| m.contains("base"))
        .collect();
    if list.is_empty() {
        "Not reported".to_owned()
    } else {
        list.join(" ")
    }
}

pub(crate) fn assert_link_agrees(name: &str, l: &LinkSettings) {
    let theirs = parse_settings(&ok(&[name]));
    let speed = l
        .speed
        .map_or("Unknown!".to_owned(), |s| format!("{s}Mb/s"));
    assert_eq!(theirs.get("Speed"), Some(&speed), "{name}");
    let duplex = match l.duplex {
        Duplex::Full => "Full",
        Duplex::Half => "Half",
        _ => "Unknown! (255)",
    };
    assert_eq!(
        theirs.get("Duplex").map(String::as_str),
        Some(duplex),
        "{name}"
    );
    let autoneg = if l.autoneg { "on" } else { "off" };
    assert_eq!(
        theirs.get("Auto-negotiation").map(String::as_str),
        Some(autoneg),
        "{name}"
    );
    assert_eq!(
        theirs.get("Supported link modes"),
        Some(&speed_modes(&l.supported)),
        "{name}"
    );
    assert_eq!(
        theirs.get("Advertised link modes"),
        Some(&speed_modes(&l.advertising)),
        "{name}"
    );
    assert_eq!(
        theirs.get("PHYAD"),
        Some(&l.phy_address.to_string()),
        "{name}"
    );
}

pub(crate) fn parse_pause(text: &str) -> Pause {
    let kv: BTreeMap<_, _> = parse_kv(text).into_iter().collect();
    let on = |k: &str| kv.get(k).map(String::as_str) == Some("on");
    Pause {
        autoneg: on("Autonegotiate"),
        rx: on("RX"),
        tx: on("TX"),
    }
}

/// Every driver and PHY tunable on a device whose driver has none (veth, tap, virtio-net,
/// igb): we refuse to read and to set it as `ethtool --get-tunable`/`--set-tunable`/
/// `--get-phy-tunable` do (ethtool 6.1 does not know `tx-copybreak-buf-size`), and a value
/// wider than the kernel carries is refused before any call.
pub(crate) fn assert_tunables_refused_like_ethtool(ns: Option<&TestNs>, nic: &Nic) {
    use nettune_nic::{PhyTunable, Tunable};
    let n = nic.name().to_string();
    for t in Tunable::ALL {
        let e = nic.tunable(t).expect_err(t.name());
        assert!(e.is_unsupported(), "{n} {t}: {e}");
        let e = nic.set_tunable(t, 256).expect_err(t.name());
        assert!(e.is_unsupported(), "{n} {t}: {e}");
        if t == Tunable::TxCopybreakBufSize {
            continue;
        }
        let (ok, text) = ethtool(ns, &["--get-tunable", &n, t.name()]);
        assert!(
            !ok && text.contains("Cannot get tunable"),
            "{n} {t}: {text}"
        );
        let (ok, text) = ethtool(ns, &["--set-tunable", &n, t.name(), "256"]);
        assert!(
            !ok && text.contains("Operation not supported"),
            "{n} {t}: {text}"
        );
    }
    for t in PhyTunable::ALL {
        let e = nic.phy_tunable(t).expect_err(t.name());
        assert!(e.is_unsupported(), "{n} {t}: {e}");
        let (ok, text) = ethtool(ns, &["--get-phy-tunable", &n, t.name()]);
        assert!(
            !ok && text.contains("Operation not supported"),
            "{n} {t}: {text}"
        );
    }
    let e = nic
        .set_tunable(Tunable::PfcPreventionTimeout, 70_000)
        .expect_err("wider than u16");
    assert!(
        matches!(&e, Error::InvalidValue { source: None, .. })
            && e.to_string().contains("at most 65535"),
        "{e}"
    );
    let e = nic
        .set_phy_tunable(PhyTunable::Downshift, 256)
        .expect_err("wider than u8");
    assert!(e.to_string().contains("at most 255"), "{e}");
}

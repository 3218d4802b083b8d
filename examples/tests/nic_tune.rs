//! `nic_tune` end to end on a tap device in a private namespace.

use testkit::{TestNs, require_root};

#[test]
fn nic_tune_shows_and_applies_with_outcomes() {
    if !require_root("nic_tune_shows_and_applies_with_outcomes") {
        return;
    }
    let ns = TestNs::new();
    ns.add_tap("tap0");
    let bin = env!("CARGO_BIN_EXE_nic_tune");
    let out = ns.exec(
        bin,
        &[
            "tap0",
            "--set",
            "gro=off",
            "--set",
            "tso=on",
            "--coalesce",
            "rx_frames=8",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("driver: tun"), "{text}");
    assert!(
        text.contains("rings: not supported by the driver"),
        "{text}"
    );
    assert!(text.contains("set gro=off: rx-gro: applied"), "{text}");
    assert!(
        text.contains(
            "set tso=on: tx-tcp-segmentation: requested, but the driver kept it as it was"
        ),
        "{text}"
    );
    assert!(text.contains("coalesce: applied"), "{text}");
    assert!(ns.sh("ethtool -c tap0").contains("rx-frames: 8"));
    assert!(
        ns.sh("ethtool -k tap0")
            .contains("generic-receive-offload: off")
    );
    let bad = ns.exec(bin, &["tap0", "--set", "warp=on"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no feature \"warp\""));
}

//! `Profile::audit` in a namespace of the test's own: every row it reads agrees with what
//! sysctl(8), ethtool(8), conntrack(8) and ip-mptcp(8) say about the same namespace.

use nettune::audit::Status;
use nettune::{Profile, Target};
use testkit::{TestNs, require_root};

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const PROFILE: &str = r#"
name = "audited"
[sysctl]
"net.ipv4.tcp_keepalive_time" = 60
"net.ipv4.tcp_keepalive_probes" = 3
"net.core.somaxconn" = ">1024"
"net.ipv4.tcp_fin_timeout" = "<30"
[nic.lo]
offloads = { gro = true, tso = false }
[mptcp]
limits = { subflows = 3, add_addr_accepted = 1 }
"#;

#[test]
fn the_audit_agrees_with_the_real_tools() {
    if !require_root("the_audit_agrees_with_the_real_tools") {
        return;
    }
    let ns = TestNs::new();
    ns.enable_conntrack();
    ns.sh(
        "sysctl -qw net.ipv4.tcp_keepalive_time=60 net.ipv4.tcp_keepalive_probes=7 \
         net.core.somaxconn=4096 net.ipv4.tcp_fin_timeout=60; \
         ip mptcp limits set subflows 3 add_addr_accepted 1; \
         ethtool -K lo gro on tso on",
    );
    let profile = Profile::from_toml("audited", PROFILE).expect("profile");
    let target = Target::of(ns.netns()).expect("target");
    let audit = profile.audit(&target);
    assert!(!audit.written);
    assert_eq!(audit.profile, "audited");

    // Sysctls: the live value of each, and the verdict of each rule.
    assert_eq!(audit.sysctl.len(), 4);
    for row in &audit.sysctl {
        let live = ns.sh(&format!("sysctl -n {}", row.item));
        assert_eq!(
            row.current.as_deref().map(norm),
            Some(norm(&live)),
            "{row:?}"
        );
    }
    let status = |rows: &[nettune::audit::Row], item: &str| {
        rows.iter()
            .find(|r| r.item == item)
            .unwrap_or_else(|| panic!("no row {item}"))
            .status
            .clone()
    };
    assert_eq!(
        status(&audit.sysctl, "net.ipv4.tcp_keepalive_time"),
        Status::Ok
    );
    assert_eq!(
        status(&audit.sysctl, "net.ipv4.tcp_keepalive_probes"),
        Status::Differs
    );
    assert_eq!(status(&audit.sysctl, "net.core.somaxconn"), Status::Ok);
    assert_eq!(
        status(&audit.sysctl, "net.ipv4.tcp_fin_timeout"),
        Status::Differs
    );

    // lo's offloads against `ethtool -k lo`.
    let k = ns.sh("ethtool -k lo");
    let ethtool = |name: &str| {
        k.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .map(|v| v.split_whitespace().next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| panic!("ethtool -k lo has no {name}"))
    };
    let row = |item: &str| {
        audit
            .nic
            .iter()
            .find(|r| r.item == item)
            .expect(item)
            .clone()
    };
    let gro = row("lo offload gro");
    assert_eq!(
        gro.current.as_deref(),
        Some(ethtool("generic-receive-offload").as_str())
    );
    assert_eq!(gro.status, Status::Ok);
    let tso = row("lo offload tso");
    assert_eq!(
        tso.current.as_deref(),
        Some(ethtool("tcp-segmentation-offload").as_str())
    );
    assert_eq!(tso.status, Status::Differs);
    assert_eq!(row("lo offload gso").status, Status::Info);

    // Conntrack fill against `conntrack -C`, MPTCP limits against `ip mptcp limits show`.
    let fill = audit
        .conntrack
        .iter()
        .find(|r| r.item == "conntrack fill")
        .expect("fill");
    let entries = ns.sh("conntrack -C 2>/dev/null");
    assert!(
        fill.current
            .as_deref()
            .is_some_and(|c| c.starts_with(&format!("{} of ", entries.trim()))),
        "{fill:?} vs {entries}"
    );
    let limits = audit
        .mptcp
        .iter()
        .find(|r| r.item == "mptcp limits")
        .expect("limits");
    assert_eq!(
        limits.current.as_deref(),
        Some("subflows 3 add_addr_accepted 1")
    );
    assert_eq!(limits.status, Status::Ok);
    assert!(ns.sh("ip mptcp limits show").contains("subflows 3"));

    // Counters are this namespace's: a fresh one has dropped nothing, and without an
    // interval they are totals since boot, never a problem. One row per counter a rule
    // reads; the namespace's one interface has its own rows.
    let counters = &audit.counters;
    let names: Vec<&str> = counters.iter().map(|r| r.item.as_str()).collect();
    for want in [
        "TcpExt.ListenOverflows",
        "Udp.RcvbufErrors",
        "softnet.dropped",
        "nic.lo.rx_drop",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("nic.eth0")),
        "{names:?}"
    );
    // The neighbour tables' statistics exist only in the initial namespace.
    let neigh = counters
        .iter()
        .find(|r| r.item == "signals neighbour")
        .expect("neighbour row");
    assert!(matches!(neigh.status, Status::Absent(_)), "{neigh:?}");
    for r in counters
        .iter()
        .filter(|r| !r.item.starts_with("softnet.") && !r.item.starts_with("signals "))
    {
        assert_eq!(r.status, Status::Info, "{r:?}");
        assert_eq!(r.current_or_dash(), "0 since boot", "{r:?}");
    }

    let s = audit.summary();
    assert_eq!(s.differs, 3, "{s:?}");
    assert_eq!(
        audit.rows().count(),
        s.ok + s.differs
            + s.problems
            + s.unread
            + s.unsettable
            + audit.rows().filter(|r| r.status == Status::Info).count()
    );

    // Nothing was written: the namespace still has what the test set.
    assert_eq!(ns.sh("sysctl -n net.ipv4.tcp_keepalive_probes").trim(), "7");
    assert!(
        ns.sh("ethtool -k lo")
            .contains("tcp-segmentation-offload: on")
    );
}

#[test]
fn what_a_child_namespace_cannot_change_is_not_called_a_difference() {
    if !require_root("what_a_child_namespace_cannot_change_is_not_called_a_difference") {
        return;
    }
    let ns = TestNs::new();
    // net.core.rmem_max is read-only (0444) in a child namespace; a child may only pick a
    // congestion control from the list the initial namespace allows.
    let mode = ns.sh("stat -c %a /proc/sys/net/core/rmem_max");
    assert_eq!(mode.trim(), "444", "the kernel's mode in a child namespace");
    let live_max: u64 = ns
        .sh("sysctl -n net.core.rmem_max")
        .trim()
        .parse()
        .expect("rmem_max");
    let allowed = ns.sh("sysctl -n net.ipv4.tcp_allowed_congestion_control");
    let refused = ["cubic", "reno", "bbr", "dctcp", "htcp", "vegas"]
        .into_iter()
        .find(|cc| !allowed.split_whitespace().any(|a| a == *cc))
        .expect("a congestion control outside the allowed list");
    let profile = Profile::from_toml(
        "child",
        &format!(
            r#"
name = "child"
[sysctl]
"net.core.rmem_max" = ">{}"
"net.ipv4.tcp_congestion_control" = "{refused}"
"net.ipv4.tcp_keepalive_probes" = 3
"#,
            live_max + 4096
        ),
    )
    .expect("profile");
    ns.sh("sysctl -qw net.ipv4.tcp_keepalive_probes=7");
    let audit = profile.audit(&Target::of(ns.netns()).expect("target"));
    let row = |item: &str| {
        audit
            .sysctl
            .iter()
            .find(|r| r.item == item)
            .expect(item)
            .clone()
    };
    let rmem = row("net.core.rmem_max");
    assert!(
        matches!(&rmem.status, Status::Unsettable(why) if why.contains("read-only")),
        "{rmem:?}"
    );
    assert!(!rmem.status.is_finding());
    let cc = row("net.ipv4.tcp_congestion_control");
    assert!(
        matches!(&cc.status, Status::Unsettable(why) if why.contains("tcp_allowed_congestion_control")),
        "{cc:?}"
    );
    // A key that can be set still differs.
    assert_eq!(row("net.ipv4.tcp_keepalive_probes").status, Status::Differs);
    let s = audit.summary();
    assert_eq!((s.differs, s.unsettable), (1, 2), "{s:?}");
    // The JSON names the status.
    let v = serde_json::to_value(&rmem).expect("json");
    assert_eq!(v["status"], "unsettable", "{v}");
}

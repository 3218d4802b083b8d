//! Options that need privileges, tried by a process without any: typed permission errors.
//!
//! This binary is its own unprivileged child: run by `cargo test`, it creates a namespace
//! and starts itself there with `setpriv` as user nobody with every capability dropped;
//! run with `--child`, it tries the privileged options and prints one line per check.
//! No libtest harness (`harness = false`).

use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitCode};

use nettune_sockopt::{
    Error, probe, set_congestion, set_mark, set_prefer_busy_poll, set_priority,
    set_recv_buffer_force,
};
use testkit::{TestNs, require_root};

fn child() -> ExitCode {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let c = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let p = probe();
    let mut failures = 0;
    let mut check = |name: &str, ok: bool, detail: String| {
        println!("{} {name}: {detail}", if ok { "ok" } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    check("no CAP_NET_ADMIN", !p.cap_net_admin, format!("{p:?}"));
    let restricted = p
        .available_congestion_control
        .iter()
        .find(|a| !p.allowed_congestion_control.contains(a))
        .cloned();
    match restricted {
        Some(cc) => {
            let err = set_congestion(&c, &cc).expect_err("restricted algorithm");
            let ok = matches!(&err, Error::CongestionControlNotAllowed { allowed, .. }
                if allowed.iter().map(String::as_str).eq(p.allowed_congestion_control.iter().map(|a| a.as_str())));
            check("congestion outside the allowed list", ok, err.to_string());
        }
        None => check(
            "congestion outside the allowed list",
            false,
            "no restricted algorithm on this host".into(),
        ),
    }
    let allowed = p
        .allowed_congestion_control
        .first()
        .cloned()
        .expect("an allowed algorithm");
    check(
        "allowed congestion",
        set_congestion(&c, &allowed).is_ok(),
        allowed.to_string(),
    );
    for (name, result) in [
        ("SO_MARK", set_mark(&c, 1).map(drop)),
        (
            "SO_RCVBUFFORCE",
            set_recv_buffer_force(&c, 1 << 20).map(drop),
        ),
        ("SO_PRIORITY 7", set_priority(&c, 7)),
        ("SO_PREFER_BUSY_POLL", set_prefer_busy_poll(&c, true)),
    ] {
        match result {
            Err(e @ Error::PermissionDenied { .. }) => {
                check(name, e.to_string().contains("CAP_NET_ADMIN"), e.to_string())
            }
            other => check(name, false, format!("{other:?}")),
        }
    }
    check(
        "SO_PRIORITY 6 is allowed",
        set_priority(&c, 6).is_ok(),
        String::new(),
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parent() {
    let ns = TestNs::new();
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .args(["--inh-caps=-all", "--bounding-set=-all"])
        .arg(exe)
        .arg("--child")
        .output()
        .expect("run child");
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    assert!(
        out.status.success(),
        "child failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        8,
        "{text}"
    );
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--child") {
        return child();
    }
    if require_root("unprivileged_callers_get_typed_permission_errors") {
        parent();
        println!("test unprivileged_callers_get_typed_permission_errors ... ok");
        println!("1 passed; 0 failed");
    }
    ExitCode::SUCCESS
}

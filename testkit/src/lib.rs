//! Test fixtures shared by the nettune crates.
//!
//! Every fixture works inside network namespaces that it creates itself and removes on
//! drop (also when the test panics), so tests never touch the host's interfaces or
//! sysctls. The fixtures use `ip` (iproute2) and `nft` (nftables), which `.ci/run`
//! installs; they panic with a clear message when a step fails, since they only serve
//! tests.
//!
//! ```no_run
//! use testkit::{TestNs, require_root};
//! if !require_root("my_test") { return; }
//! let ns = TestNs::new();
//! let out = ns.sh("sysctl -n net.ipv4.tcp_rmem");
//! ```

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use nettune_core::NetNs;
use nettune_sysctl::Sysctl;

pub mod vm;

/// A child process killed (and reaped) on drop, so a failing test leaves no daemon behind.
#[derive(Debug)]
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether this run is CI (`CI=true`), where every test must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The skip rule for tests that need root.
///
/// Returns `true` when the test may go on. Outside CI, a caller that is not root gets one
/// `SKIP <test>: needs root` line and `false`; under `CI=true` it panics instead, because
/// CI runs as root and a skipped test there is a failure.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        !in_ci(),
        "{test}: needs root, and CI=true does not allow skipping"
    );
    println!("SKIP {test}: needs root");
    false
}

const PREFIX: &str = "ntk-";
static NEXT: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// Runs a command, panicking with its output when it fails; returns stdout.
fn run_ok(cmd: &mut Command, stdin: Option<&str>) -> String {
    let out = run(cmd, stdin);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {cmd:?}: {e} (is the package installed? see .ci/run)")
    });
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("writing stdin of {cmd:?}: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"))
}

/// Removes namespaces left by test processes that died without dropping their fixtures.
fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(Command::new("ip").args(["netns", "del", &name]), None);
        }
    }
}

/// A private, uniquely named network namespace (`ip netns add ntk-PID-N`), with `lo` up.
///
/// Removed on drop, also after a panic. Needs root.
#[derive(Debug)]
pub struct TestNs {
    name: String,
    ns: NetNs,
}

impl TestNs {
    /// Creates the namespace.
    ///
    /// # Panics
    ///
    /// When `ip netns add` fails (not root, iproute2 missing).
    pub fn new() -> Self {
        SWEEP.call_once(sweep_stale);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]), None);
        let ns = match NetNs::open(&name) {
            Ok(ns) => ns,
            Err(e) => {
                let _ = run(Command::new("ip").args(["netns", "del", &name]), None);
                panic!("opening the namespace {name}: {e}");
            }
        };
        let me = Self { name, ns };
        run_ok(
            Command::new("ip").args(["-n", &me.name, "link", "set", "lo", "up"]),
            None,
        );
        me
    }

    /// The namespace's name under /run/netns.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle of the namespace.
    pub fn netns(&self) -> &NetNs {
        &self.ns
    }

    /// `Sysctl::new()` bound to this namespace.
    pub fn sysctl(&self) -> Sysctl {
        Sysctl::new().in_netns(&self.ns)
    }

    /// Runs `f` on a thread inside the namespace.
    ///
    /// # Panics
    ///
    /// When the thread cannot enter the namespace, or `f` panics.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.ns
            .run(f)
            .unwrap_or_else(|e| panic!("entering {}: {e}", self.name))
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`, which also
    /// mounts the namespace's own /sys for it).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `program args...` inside the namespace and returns its output, whatever its status.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        run(self.command(program).args(args), None)
    }

    /// Runs a shell script inside the namespace; panics when it fails, returns stdout.
    pub fn sh(&self, script: &str) -> String {
        run_ok(self.command("sh").args(["-c", script]), None)
    }

    /// Runs `nft -f -` inside the namespace with `ruleset` on stdin.
    ///
    /// # Panics
    ///
    /// When nft rejects the ruleset or is not installed.
    pub fn nft(&self, ruleset: &str) {
        run_ok(self.command("nft").args(["-f", "-"]), Some(ruleset));
    }

    /// Turns connection tracking on: an nftables table `nettune_ct` whose prerouting and
    /// output chains match on `ct state`, which makes the kernel track this namespace's
    /// traffic.
    pub fn enable_conntrack(&self) {
        self.nft(
            "table inet nettune_ct {\n\
             \tchain pre { type filter hook prerouting priority 0; ct state new,established,related counter; }\n\
             \tchain out { type filter hook output priority 0; ct state new,established,related counter; }\n\
             }\n",
        );
    }

    /// An FTP control connection on 127.0.0.1:21 that the kernel's FTP helper follows
    /// (an nftables `ct helper` on port 21), after the server announced passive-mode port
    /// `pasv_port`: the helper has made an expectation for it. Returns (client, server);
    /// keep them open while the expectation is needed.
    ///
    /// # Panics
    ///
    /// When the helper table or the connection cannot be set up.
    pub fn ftp_control_connection(&self, pasv_port: u16) -> (TcpStream, TcpStream) {
        use std::io::{BufRead, BufReader, Write};
        self.nft(
            "table inet nettune_ftp {\n\
             \tct helper ftp-standard { type \"ftp\" protocol tcp; }\n\
             \tchain out { type filter hook output priority 0; tcp dport 21 ct helper set \"ftp-standard\"; }\n\
             \tchain pre { type filter hook prerouting priority 0; tcp dport 21 ct helper set \"ftp-standard\"; }\n\
             }\n",
        );
        self.run(move || {
            let l = TcpListener::bind("127.0.0.1:21").expect("bind 21");
            let client = TcpStream::connect("127.0.0.1:21").expect("connect");
            let (mut server, _) = l.accept().expect("accept");
            server.write_all(b"220 ready\r\n").expect("greeting");
            let mut c = BufReader::new(client.try_clone().expect("clone"));
            let mut line = String::new();
            c.read_line(&mut line).expect("greeting");
            (&client).write_all(b"PASV\r\n").expect("pasv");
            let mut s = BufReader::new(server.try_clone().expect("clone"));
            line.clear();
            s.read_line(&mut line).expect("command");
            let reply = format!(
                "227 Entering Passive Mode (127,0,0,1,{},{}).\r\n",
                pasv_port >> 8,
                pasv_port & 0xff
            );
            server.write_all(reply.as_bytes()).expect("reply");
            line.clear();
            c.read_line(&mut line).expect("reply");
            (client, server)
        })
    }

    /// A congestion control this kernel has loaded that a child namespace may not pick
    /// (not in `tcp_allowed_congestion_control`).
    ///
    /// # Panics
    ///
    /// When the lists cannot be read or every loaded algorithm is allowed.
    pub fn congestion_control_outside_allowed(&self) -> String {
        use nettune_sysctl::knobs;
        let sys = self.sysctl();
        let available = sys
            .get::<knobs::TcpAvailableCongestionControl>()
            .expect("available");
        let allowed = sys
            .get::<knobs::TcpAllowedCongestionControl>()
            .expect("allowed");
        available
            .as_slice()
            .iter()
            .find(|a| !allowed.contains(a))
            .expect(
                "this kernel has a loaded algorithm that is not in tcp_allowed_congestion_control",
            )
            .to_string()
    }

    /// Creates a tap device `name` (up, no process attached) and returns its name.
    pub fn add_tap(&self, name: &str) -> String {
        run_ok(
            Command::new("ip").args([
                "-n", &self.name, "tuntap", "add", "dev", name, "mode", "tap",
            ]),
            None,
        );
        run_ok(
            Command::new("ip").args(["-n", &self.name, "link", "set", name, "up"]),
            None,
        );
        name.to_owned()
    }
}

impl TestNs {
    /// The namespace's whole `net.` tree, as a snapshot to compare with later.
    ///
    /// # Panics
    ///
    /// When the tree cannot be read.
    pub fn net_snapshot(&self) -> nettune_sysctl::Snapshot {
        let key = nettune_sysctl::Key::new("net").unwrap_or_else(|e| panic!("key: {e}"));
        nettune_sysctl::Snapshot::take_prefix(&self.sysctl(), &key)
            .unwrap_or_else(|e| panic!("snapshot of {}: {e}", self.name))
    }
}

/// A command that runs `program` as nobody (uid and gid 65534, no groups, no inheritable
/// capabilities), through util-linux's setpriv: what an unprivileged user gets.
pub fn as_nobody(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--",
    ])
    .arg(program);
    cmd
}

/// Panics, listing the keys, unless `after` has what `before` had, minus the counters the
/// kernel moves by itself (`nf_conntrack_count`).
pub fn assert_same_net(before: &nettune_sysctl::Snapshot, after: &nettune_sysctl::Snapshot) {
    let diff: Vec<String> = before
        .diff(after)
        .iter()
        .map(ToString::to_string)
        .filter(|d| !d.contains("nf_conntrack_count"))
        .collect();
    assert!(diff.is_empty(), "the namespace changed: {diff:#?}");
}

impl Default for TestNs {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let out = run(Command::new("ip").args(["netns", "del", &self.name]), None);
        if !out.status.success() {
            eprintln!(
                "warning: could not remove namespace {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A veth pair between two namespaces, with an address on each end, both ends up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veth {
    /// The interface in the first namespace.
    pub a: String,
    /// The interface in the second namespace.
    pub b: String,
    /// The address of `a`, without prefix length.
    pub addr_a: String,
    /// The address of `b`, without prefix length.
    pub addr_b: String,
}

/// Joins `a` and `b` with a veth pair; `cidr_a`/`cidr_b` are addresses with prefix length
/// (`10.99.0.1/24`, `fd00::1/64`).
///
/// # Panics
///
/// When a step of `ip` fails.
pub fn veth_pair(a: &TestNs, b: &TestNs, cidr_a: &str, cidr_b: &str) -> Veth {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (ia, ib) = (format!("vt{n}a"), format!("vt{n}b"));
    run_ok(
        Command::new("ip").args([
            "-n",
            a.name(),
            "link",
            "add",
            &ia,
            "type",
            "veth",
            "peer",
            "name",
            &ib,
            "netns",
            b.name(),
        ]),
        None,
    );
    for (ns, iface, cidr) in [(a, &ia, cidr_a), (b, &ib, cidr_b)] {
        let mut args = vec!["-n", ns.name()];
        if cidr.contains(':') {
            args.push("-6");
        }
        args.extend(["addr", "add", cidr, "dev", iface]);
        // IPv6 duplicate address detection would delay the address; turn it off.
        if cidr.contains(':') {
            args.push("nodad");
        }
        run_ok(Command::new("ip").args(&args), None);
        run_ok(
            Command::new("ip").args(["-n", ns.name(), "link", "set", iface, "up"]),
            None,
        );
    }
    let bare = |c: &str| c.split('/').next().unwrap_or(c).to_owned();
    Veth {
        a: ia,
        b: ib,
        addr_a: bare(cidr_a),
        addr_b: bare(cidr_b),
    }
}

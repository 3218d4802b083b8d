//! `compare`: nettune against the raw syscall floor, the tools and other crates, side by side.
//!
//! `cargo run --release -p nettune-benches --bin compare [FILTER]` prints one line per
//! comparison: `compare <name>: ours <median> peer <median> ratio <ours/peer>`. Only
//! comparisons whose name contains FILTER run. Everything here reads; nothing is written.

use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};

use nettune_benches::sys::CountingAlloc;
use nettune_benches::{Plan, compare};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;
use nettune_sysctl::{Key, Sysctl, knobs};

/// The floor: open, read and close one file into a reused buffer.
fn floor_read(path: &Path, buf: &mut Vec<u8>) {
    buf.clear();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(buf);
    }
    black_box(&buf);
}

/// The floor's own directory walk, for the snapshot with listing.
fn floor_walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => floor_walk(&e.path(), out),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
}

fn sysctl_read_one(plan: Plan) {
    let sys = Sysctl::new();
    let path = Path::new("/proc/sys/net/ipv4/tcp_rmem");
    let mut buf = Vec::with_capacity(256);
    compare(
        "sysctl_read_one_typed/floor",
        plan,
        &mut || {
            black_box(sys.get::<knobs::TcpRmem>().ok());
        },
        &mut || floor_read(path, &mut buf),
    );
    compare(
        "sysctl_read_one_typed/sysctl-crate",
        plan,
        &mut || {
            black_box(sys.get::<knobs::TcpRmem>().ok());
        },
        &mut || {
            use sysctl::Sysctl as _;
            let v = sysctl::Ctl::new("net.ipv4.tcp_rmem").and_then(|c| c.value_string());
            black_box(v.ok());
        },
    );
}

fn sysctl_snapshot(plan: Plan) {
    let sys = Sysctl::new();
    let net = Key::new("net").expect("literal key");
    let keys = sys.keys(&net).expect("list net");
    let paths: Vec<PathBuf> = keys
        .iter()
        .map(|k| Path::new("/proc/sys").join(k.path()))
        .collect();
    eprintln!("snapshot: {} keys under net.", keys.len());
    let mut buf = Vec::with_capacity(4096);
    compare(
        "sysctl_snapshot_net_listed/floor",
        plan,
        &mut || {
            black_box(sys.read_tree(&net).ok());
        },
        &mut || {
            let mut files = Vec::new();
            floor_walk(Path::new("/proc/sys/net"), &mut files);
            for p in &files {
                floor_read(p, &mut buf);
            }
        },
    );
    compare(
        "sysctl_snapshot_net_known_keys/floor",
        plan,
        &mut || {
            for k in &keys {
                black_box(sys.read_raw(k).ok());
            }
        },
        &mut || {
            for p in &paths {
                floor_read(p, &mut buf);
            }
        },
    );
    compare(
        "sysctl_snapshot_net_listed/sysctl-crate",
        plan,
        &mut || {
            black_box(sys.read_tree(&net).ok());
        },
        &mut || {
            use sysctl::Sysctl as _;
            if let Ok(root) = sysctl::Ctl::new("net") {
                for c in sysctl::CtlIter::below(root).flatten() {
                    black_box(c.value_string().ok());
                }
            }
        },
    );
}

/// Plan + apply + rollback of `profile` on `target`, journaled at `journal`.
fn host_transaction(
    profile: &nettune::Profile,
    target: &nettune::Target,
    journal: &Path,
    options: &nettune::ApplyOptions,
) {
    let applied = profile
        .plan(target)
        .and_then(|p| p.apply_with(journal, options))
        .expect("apply");
    black_box(applied);
    let report = nettune::Journal::open(journal)
        .expect("journal")
        .with_options(options.clone())
        .in_target(target.clone())
        .rollback()
        .expect("rollback");
    assert!(report.complete());
}

/// Access to another namespace (issue 20): one key read against the setns floor and
/// against the same read in the caller's own namespace; a snapshot of every `net.` key, and
/// plan + apply + rollback of a profile, against the same done from a thread inside the
/// namespace; and 100 namespaces audited by one process.
fn netns_access(plan: Plan) {
    use nettune_core::NetNs;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("netns_access: needs root, not measured");
        return;
    }
    let ns = NetNs::create().expect("create namespace");
    let home = NetNs::current().expect("current namespace");
    let sys = Sysctl::open_in(&ns);
    let here = Sysctl::new();
    let path = Path::new("/proc/sys/net/ipv4/tcp_rmem");
    let mut buf = Vec::with_capacity(256);
    // The floor runs on a thread of its own so that the bench's main thread never changes
    // namespace.
    std::thread::scope(|s| {
        s.spawn(|| {
            compare(
                "sysctl_read_one_in_netns/setns_floor",
                plan,
                &mut || {
                    black_box(sys.get::<knobs::TcpRmem>().ok());
                },
                &mut || {
                    use nix::sched::{CloneFlags, setns};
                    let _ = setns(&ns, CloneFlags::CLONE_NEWNET);
                    floor_read(path, &mut buf);
                    let _ = setns(&home, CloneFlags::CLONE_NEWNET);
                },
            );
        });
    });
    compare(
        "sysctl_read_one_in_netns/same_read_here",
        plan,
        &mut || {
            black_box(sys.get::<knobs::TcpRmem>().ok());
        },
        &mut || {
            black_box(here.get::<knobs::TcpRmem>().ok());
        },
    );

    // Whole-tree and transaction work, each side on a thread of its own that takes jobs
    // from a channel: ours on one that stays in the caller's namespace, the peer on one
    // that entered the namespace once (so that it is "here" for it).
    let few = Plan {
        rounds: plan.rounds,
        batch: 5,
    };
    let net = Key::new("net").expect("literal key");
    let profile = nettune::Profile::from_sysctl(&per_namespace_low_latency());
    let dir = std::env::temp_dir().join(format!("nettune-bench-netns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let options = nettune::ApplyOptions::new().lock_dir(dir.join("locks"));
    let transaction = |target: &nettune::Target, journal: &Path| {
        host_transaction(&profile, target, journal, &options);
    };
    std::thread::scope(|s| {
        let (dir, transaction, net, ns) = (&dir, &transaction, &net, &ns);
        // A worker: `enter` says whether it enters the namespace first.
        let worker = |enter: bool| {
            let (to, jobs) = std::sync::mpsc::channel::<u8>();
            let (done, from) = std::sync::mpsc::channel::<()>();
            s.spawn(move || {
                let (sys, target, journal) = if enter {
                    use nix::sched::{CloneFlags, setns};
                    setns(ns, CloneFlags::CLONE_NEWNET).expect("enter");
                    let target = nettune::Target::current().expect("target here");
                    (Sysctl::new(), target, dir.join("inside.journal"))
                } else {
                    let target = nettune::Target::of(ns).expect("target");
                    (Sysctl::open_in(ns), target, dir.join("outside.journal"))
                };
                for job in jobs {
                    match job {
                        0 => {
                            black_box(sys.read_tree(net).ok());
                        }
                        _ => transaction(&target, &journal),
                    }
                    let _ = done.send(());
                }
            });
            move |job: u8| {
                to.send(job).expect("send");
                from.recv().expect("done");
            }
        };
        let outside = worker(false);
        let inside = worker(true);
        compare(
            "sysctl_snapshot_net_in_netns/same_snapshot_there",
            few,
            &mut || outside(0),
            &mut || inside(0),
        );
        compare(
            "host_plan_apply_rollback_in_netns/same_there",
            few,
            &mut || outside(1),
            &mut || inside(1),
        );
    });

    // One process auditing 100 namespaces, against auditing its own 100 times.
    let many: Vec<nettune::Target> = (0..100)
        .map(|_| {
            let ns = NetNs::create().expect("create namespace");
            nettune::Target::of(&ns).expect("target")
        })
        .collect();
    let own = nettune::Target::current().expect("target here");
    let low = nettune::Profile::low_latency();
    let outcome = compare(
        "audit_100_namespaces/own_namespace_100_times",
        Plan {
            rounds: 3,
            batch: 1,
        },
        &mut || {
            for t in &many {
                black_box(low.audit(t));
            }
        },
        &mut || {
            for _ in 0..100 {
                black_box(low.audit(&own));
            }
        },
    );
    println!(
        "audit_100_namespaces: {} per namespace",
        nettune_benches::human(outcome.ours / 100)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The per-namespace entries of the low-latency profile, as (key, value).
fn per_namespace_low_latency() -> nettune_sysctl::Profile {
    let mut p = nettune_sysctl::Profile::new("bench");
    for e in nettune_sysctl::Profile::low_latency().entries() {
        if knobs::info(e.key()).is_some_and(|k| k.scope == nettune_sysctl::Scope::PerNamespace) {
            p.push(e.clone());
        }
    }
    p
}

/// Writes `value` to a sysctl file in one write.
fn floor_write(path: &Path, value: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = f.write(value.as_bytes());
    }
}

/// Plan + apply + rollback of the low-latency profile, inside a fresh namespace (on a thread
/// that entered it), against the same writes done raw (with the same read-backs) and
/// against `sysctl -p` of the profile file and of a file with the old values.
fn sysctl_apply(plan: Plan) {
    use nettune_core::NetNs;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("sysctl_apply: needs root, not measured");
        return;
    }
    let ns = NetNs::create().expect("create namespace");
    let profile = per_namespace_low_latency();
    let result = ns.run(|| {
        let sys = Sysctl::new();
        // The floor makes the same writes: the keys the plan changes. It reads every key of
        // the profile first, as a plan must, to find them.
        let changed: Vec<(PathBuf, String)> = profile
            .plan(&sys)
            .expect("plan")
            .changes()
            .iter()
            .map(|c| (Path::new("/proc/sys").join(c.key.path()), c.desired.clone()))
            .collect();
        let all: Vec<PathBuf> = profile
            .entries()
            .iter()
            .map(|e| Path::new("/proc/sys").join(e.key().path()))
            .collect();
        let mut buf = Vec::with_capacity(256);
        eprintln!(
            "sysctl_apply: {} keys, {} changed",
            all.len(),
            changed.len()
        );
        let mut ours = || {
            let applied = profile
                .plan(&sys)
                .and_then(|p| p.apply(&sys))
                .expect("apply");
            black_box(applied.rollback(&sys).expect("rollback"));
        };
        compare(
            "sysctl_plan_apply_rollback/floor",
            plan,
            &mut ours,
            &mut || {
                for path in &all {
                    floor_read(path, &mut buf);
                }
                let mut old = Vec::with_capacity(changed.len());
                for (path, value) in &changed {
                    floor_read(path, &mut buf);
                    old.push(String::from_utf8_lossy(&buf).trim_end().to_owned());
                    floor_write(path, value);
                    floor_read(path, &mut buf);
                }
                for ((path, _), value) in changed.iter().zip(&old).rev() {
                    floor_write(path, value);
                    floor_read(path, &mut buf);
                }
            },
        );
        let dir = std::env::temp_dir().join(format!("nettune-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let new_file = dir.join("profile.conf");
        let old_file = dir.join("old.conf");
        std::fs::write(&new_file, profile.to_sysctl_d().expect("emit")).expect("write");
        let old: String = profile
            .entries()
            .iter()
            .map(|e| {
                format!(
                    "{} = {}\n",
                    e.key(),
                    sys.read_raw(e.key()).unwrap_or_default()
                )
            })
            .collect();
        std::fs::write(&old_file, old).expect("write");
        let sysctl_p = |file: &Path| run_quiet("sysctl", &["-q", "-p", &file.to_string_lossy()]);
        compare(
            "sysctl_plan_apply_rollback/sysctl-p",
            Plan {
                rounds: plan.rounds,
                batch: plan.batch.min(10),
            },
            &mut ours,
            &mut || {
                sysctl_p(&new_file);
                sysctl_p(&old_file);
            },
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
    if let Err(e) = result {
        eprintln!("sysctl_apply: {e}");
    }
}

/// The whole-host transaction: plan + journaled apply + rollback of the same per-namespace
/// low-latency sysctls, against the raw floor of the same reads and writes.
fn host_apply(plan: Plan) {
    use nettune_core::NetNs;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("host_apply: needs root, not measured");
        return;
    }
    let ns = NetNs::create().expect("create namespace");
    let profile = nettune::Profile::from_sysctl(&per_namespace_low_latency());
    let target = nettune::Target::of(&ns).expect("target");
    let dir = std::env::temp_dir().join(format!("nettune-bench-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let journal = dir.join("bench.journal");
    let options = nettune::ApplyOptions::new().lock_dir(dir.join("locks"));
    let changed: Vec<(PathBuf, String)> = profile
        .plan(&target)
        .expect("plan")
        .changes()
        .iter()
        .filter_map(|c| match &c.id {
            nettune::ItemId::Sysctl { key } => {
                Some((Path::new("/proc/sys").join(key.path()), c.desired.clone()))
            }
            _ => None,
        })
        .collect();
    let all: Vec<PathBuf> = profile
        .sysctls()
        .iter()
        .map(|r| Path::new("/proc/sys").join(r.key.path()))
        .collect();
    eprintln!("host_apply: {} keys, {} changed", all.len(), changed.len());
    let mut ours = || {
        host_transaction(&profile, &target, &journal, &options);
    };
    let result = ns.run(|| {
        let mut buf = Vec::with_capacity(256);
        compare(
            "host_plan_apply_rollback/floor",
            plan,
            &mut ours,
            &mut || {
                for path in &all {
                    floor_read(path, &mut buf);
                }
                let mut old = Vec::with_capacity(changed.len());
                for (path, value) in &changed {
                    floor_read(path, &mut buf);
                    old.push(String::from_utf8_lossy(&buf).trim_end().to_owned());
                    floor_write(path, value);
                    floor_read(path, &mut buf);
                }
                for ((path, _), value) in changed.iter().zip(&old).rev() {
                    floor_write(path, value);
                    floor_read(path, &mut buf);
                }
            },
        );
    });
    if let Err(e) = result {
        eprintln!("host_apply: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A connected loopback pair in the calling thread's namespace.
fn loopback() -> (
    std::net::TcpListener,
    std::net::TcpStream,
    std::net::TcpStream,
) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (l, c, s)
}

/// Setters, a six-option profile and TCP_INFO against the bare syscalls.
fn nettune_sockopt_bench(plan: Plan) {
    use nettune_core::raw;
    use nettune_sockopt::{PacingRate, SocketProfile};
    use std::os::fd::AsFd;
    let (_l, c, _s) = loopback();
    let fd = c.as_fd();
    let (tcp, sol) = (libc::IPPROTO_TCP, libc::SOL_SOCKET);
    let (mut flip_ours, mut flip_raw) = (false, false);
    compare(
        "socket_set_nodelay/raw-setsockopt",
        plan,
        &mut || {
            flip_ours = !flip_ours;
            black_box(nettune_sockopt::set_nodelay(fd, flip_ours).is_ok());
        },
        &mut || {
            flip_raw = !flip_raw;
            let _ = black_box(raw::setsockopt_int(
                fd,
                tcp,
                libc::TCP_NODELAY,
                i32::from(flip_raw),
            ));
        },
    );
    compare(
        "socket_set_notsent_lowat/raw-setsockopt",
        plan,
        &mut || {
            black_box(nettune_sockopt::set_notsent_lowat(fd, 16384).is_ok());
        },
        &mut || {
            let _ = black_box(raw::setsockopt_int(fd, tcp, 25, 16384));
        },
    );
    let pacing = PacingRate::BytesPerSecond(125_000_000);
    compare(
        "socket_set_max_pacing_rate/raw-setsockopt",
        plan,
        &mut || {
            black_box(nettune_sockopt::set_max_pacing_rate(fd, pacing).is_ok());
        },
        &mut || {
            let _ = black_box(raw::setsockopt(fd, sol, 47, &125_000_000u64.to_ne_bytes()));
        },
    );
    let reno: nettune_sockopt::CongestionControl = "reno".parse().expect("name");
    compare(
        "socket_set_congestion/raw-setsockopt",
        plan,
        &mut || {
            black_box(nettune_sockopt::set_congestion(fd, &reno).is_ok());
        },
        &mut || {
            let _ = black_box(raw::setsockopt(fd, tcp, libc::TCP_CONGESTION, b"reno"));
        },
    );
    let profile = SocketProfile::new()
        .nodelay(true)
        .notsent_lowat(16384)
        .congestion(reno.clone())
        .max_pacing_rate(pacing)
        .priority(3)
        .busy_poll(std::time::Duration::from_micros(50));
    let best_effort = profile.clone().best_effort();
    let raw_six = || {
        let _ = raw::setsockopt_int(fd, tcp, libc::TCP_NODELAY, 1);
        let _ = raw::setsockopt_int(fd, tcp, 25, 16384);
        let _ = raw::setsockopt(fd, tcp, libc::TCP_CONGESTION, b"reno");
        let _ = raw::setsockopt(fd, sol, 47, &125_000_000u64.to_ne_bytes());
        let _ = raw::setsockopt_int(fd, sol, libc::SO_PRIORITY, 3);
        let _ = raw::setsockopt_int(fd, sol, 46, 50);
    };
    compare(
        "socket_profile6_best_effort/raw-sequence",
        plan,
        &mut || {
            black_box(best_effort.apply(fd).is_ok());
        },
        &mut || raw_six(),
    );
    let mut buf = [0u8; 64];
    compare(
        "socket_profile6_strict/raw-get-then-set-sequence",
        plan,
        &mut || {
            black_box(profile.apply(fd).is_ok());
        },
        &mut || {
            // The floor of an all-or-nothing apply: read each previous value, then set.
            let _ = raw::getsockopt(fd, tcp, libc::TCP_NODELAY, &mut buf);
            let _ = raw::getsockopt(fd, tcp, 25, &mut buf);
            let _ = raw::getsockopt(fd, tcp, libc::TCP_CONGESTION, &mut buf);
            let _ = raw::getsockopt(fd, sol, 47, &mut buf);
            let _ = raw::getsockopt(fd, sol, libc::SO_PRIORITY, &mut buf);
            let _ = raw::getsockopt(fd, sol, 46, &mut buf);
            raw_six();
        },
    );
    // Tuning each accepted connection: the profile set once on the listener (accept()
    // carries all but SO_PRIORITY) and `apply_accepted` per socket, against the whole
    // profile applied to each accepted socket.
    let (listener, _) = profile
        .listen("127.0.0.1:0".parse().expect("addr"), 16)
        .expect("tuned listener");
    let _client =
        std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");
    profile.apply_accepted(&accepted).expect("accepted");
    for s in profile.settings() {
        let live = s.current(&accepted).expect("read back");
        assert_eq!(
            &live,
            s,
            "{}: the accepted socket has the profile's value",
            s.option()
        );
    }
    let accepted_fd = accepted.as_fd();
    compare(
        "socket_accept_tuning_profile6/all-options-per-socket",
        plan,
        &mut || {
            black_box(profile.apply_accepted(accepted_fd).is_ok());
        },
        &mut || {
            black_box(profile.apply(accepted_fd).is_ok());
        },
    );
    let mut info = [0u8; 280];
    compare(
        "socket_tcp_info/raw-getsockopt",
        plan,
        &mut || {
            black_box(nettune_sockopt::tcp_info(fd).ok());
        },
        &mut || {
            let _ = black_box(raw::getsockopt(fd, tcp, libc::TCP_INFO, &mut info));
        },
    );
}

/// A full features read of `lo`: ours (strings cached per handle) against the raw ioctl
/// sequences and against running `ethtool -k`.
fn nic_features(plan: Plan) {
    use nettune_core::raw;
    use std::os::fd::AsFd;
    // The ioctl path (a handle uses netlink by default where the kernel has it).
    let nic = nettune_nic::Nic::open("lo")
        .expect("lo")
        .prefer(nettune_nic::ethnl::Backend::Ioctl);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    let fd = sock.as_fd();
    let word = |b: &[u8], o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    // The count, as the raw sequence learns it.
    let mut info = vec![0u8; 20];
    info[0..4].copy_from_slice(&0x37u32.to_ne_bytes());
    info[8..16].copy_from_slice(&(1u64 << 4).to_ne_bytes());
    let _ = raw::ethtool(fd, b"lo", &mut info);
    let count = word(&info, 16) as usize;
    let blocks = count.div_ceil(32);
    let mut strings = vec![0u8; 12 + count * 32];
    let mut feats = vec![0u8; 8 + blocks * 16];
    let gfeatures = |feats: &mut Vec<u8>| {
        feats.fill(0);
        feats[0..4].copy_from_slice(&0x3au32.to_ne_bytes());
        feats[4..8].copy_from_slice(&(blocks as u32).to_ne_bytes());
        let _ = raw::ethtool(fd, b"lo", feats);
    };
    compare(
        "nic_features_read/raw-gfeatures-only",
        plan,
        &mut || {
            black_box(nic.features().ok());
        },
        &mut || gfeatures(&mut feats),
    );
    compare(
        "nic_features_read/raw-full-sequence",
        plan,
        &mut || {
            black_box(nic.features().ok());
        },
        &mut || {
            info[16..20].fill(0);
            let _ = raw::ethtool(fd, b"lo", &mut info);
            strings.fill(0);
            strings[0..4].copy_from_slice(&0x1bu32.to_ne_bytes());
            strings[4..8].copy_from_slice(&4u32.to_ne_bytes());
            strings[8..12].copy_from_slice(&(count as u32).to_ne_bytes());
            let _ = raw::ethtool(fd, b"lo", &mut strings);
            gfeatures(&mut feats);
        },
    );
    compare(
        "nic_features_read/ethtool-k",
        Plan {
            rounds: plan.rounds,
            batch: 5,
        },
        &mut || {
            black_box(nic.features().ok());
        },
        &mut || {
            let ok = std::process::Command::new("ethtool")
                .args(["-k", "lo"])
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ethtool -k lo");
        },
    );
}

/// Channels of a veth and coalescing of a tap read over ethtool netlink, against the
/// `SIOCETHTOOL` ioctl and against running `ethtool -l` / `ethtool -c`, in a namespace made
/// for the run.
fn nic_netlink(plan: Plan) {
    use nettune_core::NetNs;
    use nettune_nic::Nic;
    use nettune_nic::ethnl::{Backend, EthtoolNl};
    if !nix::unistd::geteuid().is_root() {
        eprintln!("nic_netlink: needs root, not measured");
        return;
    }
    let ns = NetNs::create().expect("namespace");
    ns.run(|| {
        run_quiet(
            "ip",
            &[
                "link", "add", "v0", "numrx", "4", "numtx", "4", "type", "veth", "peer", "name",
                "v1",
            ],
        );
        run_quiet("ip", &["tuntap", "add", "dev", "tap0", "mode", "tap"]);
        let nl = EthtoolNl::open().expect("ethtool netlink");
        // The ioctl side: handles kept on SIOCETHTOOL (netlink is their default).
        let (veth, tap) = (
            Nic::open("v0").expect("v0").prefer(Backend::Ioctl),
            Nic::open("tap0").expect("tap0").prefer(Backend::Ioctl),
        );
        let process = Plan {
            rounds: plan.rounds,
            batch: 5,
        };
        let pair = |name: &str,
                    nl_read: &mut dyn FnMut(),
                    ioctl_read: &mut dyn FnMut(),
                    tool: [&str; 2]| {
            compare(
                &format!("nic_{name}_read/netlink-vs-ioctl"),
                plan,
                nl_read,
                ioctl_read,
            );
            compare(
                &format!("nic_{name}_read/netlink-vs-ethtool"),
                process,
                nl_read,
                &mut || run_quiet("ethtool", &tool),
            );
        };
        pair(
            "channels",
            &mut || {
                black_box(nl.channels("v0").ok());
            },
            &mut || {
                black_box(veth.channels().ok());
            },
            ["-l", "v0"],
        );
        pair(
            "coalesce",
            &mut || {
                black_box(nl.coalesce("tap0").ok());
            },
            &mut || {
                black_box(tap.coalesce().ok());
            },
            ["-c", "tap0"],
        );
        // Features: STRSET once per handle, then one FEATURES_GET, against GFEATURES.
        pair(
            "features",
            &mut || {
                black_box(nl.features("v0").ok());
            },
            &mut || {
                black_box(veth.features().ok());
            },
            ["-k", "v0"],
        );
    })
    .expect("in the namespace");
    // Rings: veth and tap have none, so a host device that has them is read (read-only).
    let host_nl = EthtoolNl::open().expect("ethtool netlink");
    let with_rings = Nic::list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| Nic::open(n.as_str()).ok().map(|n| n.prefer(Backend::Ioctl)))
        .find(|n| n.rings().is_ok());
    let Some(dev) = with_rings else {
        eprintln!("nic_rings_read: no device of this host has rings, not measured");
        return;
    };
    let name = dev.name().to_string();
    compare(
        "nic_rings_read/netlink-vs-ioctl",
        plan,
        &mut || {
            black_box(host_nl.rings(&name).ok());
        },
        &mut || {
            black_box(dev.rings().ok());
        },
    );
    compare(
        "nic_rings_read/netlink-vs-ethtool",
        Plan {
            rounds: plan.rounds,
            batch: 5,
        },
        &mut || {
            black_box(host_nl.rings(&name).ok());
        },
        &mut || run_quiet("ethtool", &["-g", &name]),
    );
}

/// `n` UDP entries for the conntrack benchmarks; every other one has mark 1.
fn ct_entries(n: usize) -> Vec<nettune_conntrack::Entry> {
    use std::net::{IpAddr, Ipv4Addr};
    (0..n)
        .map(|i| {
            let src = IpAddr::V4(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8));
            let t = nettune_conntrack::Tuple::udp(
                src,
                1000,
                IpAddr::V4(Ipv4Addr::new(10, 250, 0, 1)),
                53,
            );
            let mut e = nettune_conntrack::Entry::new(t, std::time::Duration::from_secs(3600));
            e.mark = Some((i % 2) as u32);
            e
        })
        .collect()
}

/// Runs `cmd` (with args) in the thread's namespace, output discarded.
fn run_quiet(cmd: &str, args: &[&str]) {
    let ok = std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{cmd} {args:?}");
}

/// Conntrack with 200 000 entries created in a fresh namespace inside the run.
fn conntrack_bench(plan: Plan) {
    use nettune_conntrack::{Conntrack, Filter};
    use nettune_core::NetNs;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("conntrack: needs root, not measured");
        return;
    }
    let ns = NetNs::create().expect("namespace");
    let ct = Conntrack::open_in(&ns).expect("conntrack");
    let entries = ct_entries(200_000);
    let started = std::time::Instant::now();
    for e in &entries {
        ct.create(e).expect("create");
    }
    eprintln!(
        "conntrack: created 200000 entries in {:?}",
        started.elapsed()
    );
    let result = ns.run(|| {
        let raw = nettune_benches::sys::RawNetlink::open().expect("raw socket");
        let mut m = nettune_netlink::proto::MsgBuilder::new(0x101, 0x300, 1);
        m.header(&[0, 0, 0, 0]);
        let request = m.finish().expect("encode");
        let mut buf = vec![0u8; 64 * 1024];
        compare(
            "conntrack_dump_200k/raw-netlink-floor",
            plan,
            &mut || {
                assert_eq!(ct.dump(&Filter::new()).expect("dump").filter(Result::is_ok).count(), 200_000);
            },
            &mut || {
                black_box(raw.dump(&request, &mut buf));
            },
        );
        compare(
            "conntrack_dump_200k/conntrack-L",
            plan,
            &mut || {
                assert_eq!(ct.dump(&Filter::new()).expect("dump").filter(Result::is_ok).count(), 200_000);
            },
            &mut || run_quiet("conntrack", &["-L"]),
        );
        // Peak heap of a streaming dump: 200 000 entries against 1 000 (a filter by mark
        // on a separate 1 000-entry namespace would change the kernel walk; instead stop
        // after 1 000 entries of the same dump).
        let measure = |take: usize| {
            let base = CountingAlloc::reset_peak();
            let n = ct.dump(&Filter::new()).expect("dump").take(take).filter(Result::is_ok).count();
            assert_eq!(n, take);
            CountingAlloc::peak() - base
        };
        let (small, big) = (measure(1_000), measure(200_000));
        println!(
            "compare conntrack_dump_peak_heap_200k/1k: ours {big}B peer {small}B ratio {:.3} (difference {} KiB)",
            big as f64 / small.max(1) as f64,
            big.saturating_sub(small) / 1024
        );
        // Flush by mark of half the table, against `conntrack -D -m 1`; the half is
        // recreated (untimed) before each run.
        let marked: Vec<&nettune_conntrack::Entry> = entries.iter().filter(|e| e.mark == Some(1)).collect();
        let refill = || {
            for e in &marked {
                let _ = ct.create(e);
            }
        };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..3 {
            for side in 0..2 {
                refill();
                let t = std::time::Instant::now();
                if (side + round) % 2 == 0 {
                    ct.flush(&Filter::new().mark(1, 0xffff_ffff)).expect("flush");
                    ours.push(t.elapsed());
                } else {
                    run_quiet("conntrack", &["-D", "-m", "1"]);
                    theirs.push(t.elapsed());
                }
                assert_eq!(ct.count().expect("count").entries, 100_000);
            }
        }
        ours.sort();
        theirs.sort();
        let o = nettune_benches::Outcome { ours: ours[ours.len() / 2], peer: theirs[theirs.len() / 2] };
        println!("{}", nettune_benches::line("conntrack_flush_mark_half_of_200k/conntrack-D-m", o));
    });
    if let Err(e) = result {
        eprintln!("conntrack: {e}");
    }
}

/// An MPTCP endpoint dump (8 endpoints) against running `ip mptcp endpoint show`.
fn mptcp_bench(plan: Plan) {
    use nettune_core::NetNs;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("mptcp: needs root, not measured");
        return;
    }
    let ns = NetNs::create().expect("namespace");
    let pm = nettune_mptcp::PathManager::open_in(&ns).expect("path manager");
    for i in 1..=8u8 {
        let spec = nettune_mptcp::EndpointSpec::new(std::net::IpAddr::from([10, 40, 0, i]))
            .flags(nettune_mptcp::EndpointFlags::SUBFLOW);
        pm.add_endpoint(&spec).expect("endpoint");
    }
    let result = ns.run(|| {
        compare(
            "mptcp_endpoint_dump_8/ip-mptcp-endpoint-show",
            plan,
            &mut || {
                assert_eq!(pm.endpoints().expect("dump").len(), 8);
            },
            &mut || run_quiet("ip", &["mptcp", "endpoint", "show"]),
        );
    });
    if let Err(e) = result {
        eprintln!("mptcp: {e}");
    }
}

/// The `nettune` binary next to this one (`cargo build --release --bins`).
fn nettune_bin() -> Option<PathBuf> {
    let bin = std::env::current_exe().ok()?.parent()?.join("nettune");
    bin.exists().then_some(bin)
}

/// The `nettune` command against the tools: `conntrack list` on a 200 000-entry table
/// against `conntrack -L`, and `sysctl list net` against `sysctl -a -r '^net\.'`.
fn cli_bench(plan: Plan) {
    use nettune_conntrack::Conntrack;
    use nettune_core::NetNs;
    let Some(bin) = nettune_bin() else {
        eprintln!("cli: build the command first: cargo build --release -p nettune-cli");
        return;
    };
    let bin = bin.to_string_lossy().into_owned();
    compare(
        "cli_sysctl_list_net/sysctl-a-r-net",
        plan,
        &mut || run_quiet(&bin, &["sysctl", "list", "net"]),
        &mut || run_quiet("sysctl", &["-a", "-r", "^net\\."]),
    );
    if !nix::unistd::geteuid().is_root() {
        eprintln!("cli conntrack: needs root, not measured");
        return;
    }
    let ns = NetNs::create().expect("namespace");
    let ct = Conntrack::open_in(&ns).expect("conntrack");
    for e in &ct_entries(200_000) {
        ct.create(e).expect("create");
    }
    let result = ns.run(|| {
        compare(
            "cli_conntrack_list_200k/conntrack-L",
            Plan {
                rounds: plan.rounds.min(11),
                batch: 1,
            },
            &mut || run_quiet(&bin, &["conntrack", "list"]),
            &mut || run_quiet("conntrack", &["-L"]),
        );
    });
    if let Err(e) = result {
        eprintln!("cli: {e}");
    }
}

/// What node_exporter's procfs collectors do for the same counters: read and parse
/// netstat, snmp, snmp6, softnet_stat, sockstat, dev and stat/nf_conntrack, and the
/// sysctl files of the knobs, into a map.
fn procfs_floor(knob_paths: &[PathBuf], buf: &mut Vec<u8>) -> usize {
    let mut values: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for file in [
        "netstat",
        "snmp",
        "snmp6",
        "softnet_stat",
        "sockstat",
        "dev",
        "stat/nf_conntrack",
    ] {
        floor_read(&Path::new("/proc/thread-self/net").join(file), buf);
        let text = String::from_utf8_lossy(buf);
        for (n, line) in text.lines().enumerate() {
            for (i, field) in line.split_whitespace().enumerate() {
                if let Ok(v) = field
                    .parse::<u64>()
                    .or_else(|_| u64::from_str_radix(field, 16))
                {
                    values.insert(format!("{file}.{n}.{i}"), v);
                }
            }
        }
    }
    for path in knob_paths {
        floor_read(path, buf);
        let text = String::from_utf8_lossy(buf);
        for (i, field) in text.split_whitespace().enumerate() {
            if let Ok(v) = field.parse::<u64>() {
                values.insert(format!("{}.{i}", path.display()), v);
            }
        }
    }
    black_box(values.len())
}

/// One exporter scrape of a namespace with 200 000 conntrack entries, 100 interfaces and
/// every built-in profile's knobs, against node_exporter-style procfs reading of the same
/// counters, and against the same scrape of a namespace with an empty table (a scrape
/// never dumps the table, so its size must not matter).
fn exporter_bench(plan: Plan) {
    use nettune_conntrack::Conntrack;
    use nettune_core::NetNs;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("exporter: needs root, not measured");
        return;
    }
    let mut profile = nettune::Profile::builtin("low-latency").expect("profile");
    for name in ["throughput", "conntrack-heavy"] {
        profile.merge(nettune::Profile::builtin(name).expect("profile"));
    }
    let knob_paths: Vec<PathBuf> = profile
        .sysctls()
        .iter()
        .map(|r| Path::new("/proc/sys").join(r.key.to_string().replace('.', "/")))
        .collect();
    let make = |entries: usize| {
        let ns = NetNs::create().expect("namespace");
        let ct = Conntrack::open_in(&ns).expect("conntrack");
        for e in &ct_entries(entries) {
            ct.create(e).expect("create");
        }
        let script: String = (0..50)
            .map(|i| format!("link add bx{i}a type veth peer name bx{i}b\n"))
            .collect();
        ns.run(|| {
            let mut child = std::process::Command::new("ip")
                .args(["-batch", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("ip");
            std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), script.as_bytes())
                .expect("write");
            assert!(child.wait().expect("ip").success());
        })
        .expect("enter");
        let target = nettune::Target::of(&ns).expect("target");
        let mut exporter = nettune::Exporter::new(target).with_profile(profile.clone());
        black_box(exporter.scrape());
        (ns, exporter)
    };
    let (big_ns, mut big) = make(200_000);
    let (_small_ns, mut small) = make(0);
    let text = big.scrape();
    eprintln!(
        "exporter: one scrape is {} bytes, {} series",
        text.len(),
        text.lines().filter(|l| !l.starts_with('#')).count()
    );
    let result = big_ns.run(|| {
        let mut buf = Vec::with_capacity(64 * 1024);
        compare(
            "exporter_scrape_200k_100if/procfs-floor",
            plan,
            &mut || {
                black_box(big.scrape());
            },
            &mut || {
                procfs_floor(&knob_paths, &mut buf);
            },
        );
    });
    if let Err(e) = result {
        eprintln!("exporter: {e}");
    }
    // From a thread outside both namespaces, as `nettune --netns NS exporter` scrapes.
    compare(
        "exporter_scrape_200k_100if/empty-table",
        plan,
        &mut || {
            black_box(big.scrape());
        },
        &mut || {
            black_box(small.scrape());
        },
    );
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    type Run = (&'static str, fn(Plan), Plan);
    let runs: &[Run] = &[
        (
            "exporter",
            exporter_bench,
            Plan {
                rounds: 21,
                batch: 5,
            },
        ),
        (
            "cli",
            cli_bench,
            Plan {
                rounds: 11,
                batch: 1,
            },
        ),
        (
            "mptcp",
            mptcp_bench,
            Plan {
                rounds: 21,
                batch: 20,
            },
        ),
        (
            "conntrack",
            conntrack_bench,
            Plan {
                rounds: 21,
                batch: 1,
            },
        ),
        (
            "host",
            host_apply,
            Plan {
                rounds: 21,
                batch: 5,
            },
        ),
        (
            "nic_features",
            nic_features,
            Plan {
                rounds: 31,
                batch: 2000,
            },
        ),
        (
            "nic_netlink",
            nic_netlink,
            Plan {
                rounds: 31,
                batch: 2000,
            },
        ),
        (
            "nettune_sockopt",
            nettune_sockopt_bench,
            Plan {
                rounds: 41,
                batch: 5000,
            },
        ),
        (
            "sysctl_read_one",
            sysctl_read_one,
            Plan {
                rounds: 41,
                batch: 2000,
            },
        ),
        (
            "sysctl_snapshot",
            sysctl_snapshot,
            Plan {
                rounds: 21,
                batch: 5,
            },
        ),
        (
            "sysctl_apply",
            sysctl_apply,
            Plan {
                rounds: 21,
                batch: 50,
            },
        ),
        (
            "netns_access",
            netns_access,
            Plan {
                rounds: 21,
                batch: 500,
            },
        ),
    ];
    for (name, run, plan) in runs {
        if name.contains(&filter) {
            run(*plan);
        }
    }
}

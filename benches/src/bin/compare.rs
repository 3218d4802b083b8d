//! `compare`: nettune against the raw syscall floor, the tools and other crates, side by side.
//!
//! `cargo run --release -p nettune-benches --bin compare [FILTER]` prints one line per
//! comparison: `compare <name>: ours <median> peer <median> ratio <ours/peer>`. Only
//! comparisons whose name contains FILTER run. Everything here reads; nothing is written.

use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};

use nettune_benches::{Plan, compare};
use sysctl_core::{Key, Sysctl, knobs};

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

/// Reading one key of another namespace: ours (`Sysctl::in_netns`, a scoped thread per
/// call) against the raw floor of switching the calling thread there and back with setns.
fn sysctl_read_one_in_netns(plan: Plan) {
    use sysctl_core::netns::NetNs;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("sysctl_read_one_in_netns: needs root, not measured");
        return;
    }
    let ns = NetNs::create().expect("create namespace");
    let home = NetNs::current().expect("current namespace");
    let sys = Sysctl::new().in_netns(&ns);
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
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    type Run = (&'static str, fn(Plan), Plan);
    let runs: &[Run] = &[
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
            "sysctl_read_one_in_netns",
            sysctl_read_one_in_netns,
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

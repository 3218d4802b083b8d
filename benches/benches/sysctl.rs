//! Criterion benches of sysctl-core: typed read of one key, and a snapshot of `net.`.
#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nettune_sysctl::{Key, Sysctl, knobs};

fn read_one(c: &mut Criterion) {
    let sys = Sysctl::new();
    c.bench_function("sysctl/get_tcp_rmem", |b| {
        b.iter(|| black_box(sys.get::<knobs::TcpRmem>().ok()));
    });
    let key = Key::new("net.ipv4.tcp_rmem").expect("literal key");
    c.bench_function("sysctl/read_raw_tcp_rmem", |b| {
        b.iter(|| black_box(sys.read_raw(&key).ok()));
    });
}

fn snapshot(c: &mut Criterion) {
    let sys = Sysctl::new();
    let net = Key::new("net").expect("literal key");
    c.bench_function("sysctl/read_tree_net", |b| {
        b.iter(|| black_box(sys.read_tree(&net).ok()));
    });
}

criterion_group!(benches, read_one, snapshot);
criterion_main!(benches);

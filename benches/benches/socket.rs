//! Criterion benches of socket-opts: TCP_INFO decoding and reading, one setter.
#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

fn tcp_info(c: &mut Criterion) {
    let bytes = [0x5au8; nettune_sockopt::TCP_INFO_MAX_LEN];
    c.bench_function("socket/tcp_info_decode", |b| {
        b.iter(|| black_box(nettune_sockopt::TcpInfo::decode(black_box(&bytes)).ok()));
    });
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let s = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    c.bench_function("socket/tcp_info_read", |b| {
        b.iter(|| black_box(nettune_sockopt::tcp_info(&s).ok()));
    });
    c.bench_function("socket/set_nodelay", |b| {
        b.iter(|| black_box(nettune_sockopt::set_nodelay(&s, true).is_ok()));
    });
}

criterion_group!(benches, tcp_info);
criterion_main!(benches);

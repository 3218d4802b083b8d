//! The netlink codec: any bytes walk without panics (nested too, to a depth), and a list
//! of attributes built from the input encodes to a message that decodes to the same list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettune_netlink::proto::{self, Attr, MsgBuilder};

fn walk(a: Attr<'_>, depth: u8) {
    if depth == 0 {
        return;
    }
    for inner in a.attrs().flatten() {
        assert!(inner.offset >= a.offset && inner.offset <= a.offset + a.payload.len());
        let _ = (inner.u8(), inner.be16(), inner.u32(), inner.be64(), inner.ip(), inner.string());
        walk(inner, depth - 1);
    }
}

fuzz_target!(|data: &[u8]| {
    for m in proto::messages(data).flatten() {
        let _ = proto::ErrorMsg::decode(&m);
        for a in m.attrs(4).flatten() {
            walk(a, 4);
        }
        let _ = m.walk(4, |_| Ok(()));
    }
    // Round trip: (type, length, bytes) triples from the input.
    let mut want = Vec::new();
    let mut rest = data;
    while let [t0, t1, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        want.push((u16::from_ne_bytes([*t0, *t1]) & proto::NLA_TYPE_MASK & !proto::NLA_F_NESTED, &tail[..n]));
        rest = &tail[n..];
    }
    let mut b = MsgBuilder::new(0x10, 0, 7);
    b.header(&[1, 2, 3, 4]);
    for (ty, payload) in &want {
        b.attr(*ty, payload);
    }
    let bytes = b.finish().expect("short attributes encode");
    let m = proto::messages(&bytes).next().expect("one").expect("frames");
    let got: Vec<_> = m
        .attrs(4)
        .map(|a| a.map(|a| (a.ty, a.payload)))
        .collect::<Result<_, _>>()
        .expect("our own encoding decodes");
    assert_eq!(got, want);
});

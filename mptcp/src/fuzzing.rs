//! Entry points for the fuzz targets (built only with `--cfg fuzzing`): the `mptcp_pm`
//! decoders on whole datagrams, and the address nest's round trip.
#![allow(missing_docs, unreachable_pub)]

use nettune_netlink::proto::{self, MsgBuilder};

use crate::proto::{
    AddrNest, decode_endpoint_reply, decode_event, decode_limits, encode_addr, pm_attr,
};

/// Decodes every message of a datagram as an event, an endpoint and limits; an endpoint
/// that decodes is encoded again and must decode to the same endpoint.
pub fn mptcp_datagram(bytes: &[u8]) {
    for m in proto::messages(bytes).flatten() {
        let _ = decode_event(&m);
        let _ = decode_limits(&m);
        let Ok(e) = decode_endpoint_reply(&m) else {
            continue;
        };
        let mut b = MsgBuilder::new(0x20, 0, 1);
        b.header(&[3, 1, 0, 0]);
        encode_addr(
            &mut b,
            pm_attr::ADDR,
            &AddrNest {
                id: Some(e.id),
                addr: Some(e.addr),
                port: e.port,
                flags: Some(e.flags),
                ifindex: e.ifindex,
            },
        );
        let again = b.finish().expect("an endpoint fits");
        let m2 = proto::messages(&again)
            .next()
            .and_then(Result::ok)
            .expect("our own encoding frames");
        let d = decode_endpoint_reply(&m2).expect("our own encoding decodes");
        if e.ifindex.is_some_and(|i| i32::try_from(i).is_err()) {
            continue; // the kernel's ifindex is an s32; larger ones are not encodable
        }
        assert_eq!(d, e);
    }
}

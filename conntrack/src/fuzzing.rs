//! Entry points for the fuzz targets (built only with `--cfg fuzzing`): the ctnetlink
//! decoders on whole datagrams, and the entry encoder's round trip.
#![allow(missing_docs, unreachable_pub)]

use nettune_netlink::proto::{self, MsgBuilder};

use crate::proto::{
    Status, decode_count, decode_cpu_stats, decode_entry, encode_entry, msg, nfgenmsg,
};

/// Decodes every message of a datagram as an entry, a count and per-CPU statistics; an
/// entry that decodes is encoded again and must decode to the same values.
pub fn ctnetlink_datagram(bytes: &[u8]) {
    for m in proto::messages(bytes).flatten() {
        let _ = crate::expect::decode_expectation(&m);
        let _ = decode_count(&m);
        let _ = decode_cpu_stats(&m);
        let Ok(e) = decode_entry(&m) else { continue };
        let mut b = MsgBuilder::new(msg::NEW, 0, 1);
        b.header(&nfgenmsg(e.family.to_raw(), 0));
        encode_entry(&mut b, &e);
        let Ok(again) = b.finish() else { continue };
        let m2 = proto::messages(&again)
            .next()
            .and_then(Result::ok)
            .expect("our own encoding frames");
        let d = decode_entry(&m2).expect("our own encoding decodes");
        assert_eq!(d.original, e.original);
        assert_eq!(d.reply, e.reply);
        assert_eq!(
            d.timeout.map(|t| t.as_secs()),
            e.timeout.map(|t| t.as_secs())
        );
        assert_eq!(d.mark, e.mark);
        assert_eq!(d.zone, e.zone);
        assert_eq!(d.tcp.map(|t| t.state), e.tcp.map(|t| t.state));
        if !e.status.is_empty() {
            assert_eq!(d.status, e.status | Status::CONFIRMED);
        }
    }
}

/// Dumped nftables rules decode without panics and re-encode to the same match; ruleset
/// text (what journals keep) that parses prints and parses back to the same set.
pub fn notrack(bytes: &[u8]) {
    crate::notrack::fuzz_rules(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(set) = crate::NoTrack::from_ruleset(text) {
            let again = crate::NoTrack::from_ruleset(&set.text()).expect("our own text parses");
            assert_eq!(again, set);
        }
    }
}

//! Entry points for the fuzz targets (built only with `--cfg fuzzing`): the decoders of
//! the kernel's ethtool replies, and their round trips where there is an encoder.
#![allow(missing_docs, unreachable_pub)]

use crate::params::{Channels, Coalesce, Rings};
use crate::proto::{self, cmd};

/// Runs every ethtool reply decoder on `b`; checks the round trips of the fixed structs.
pub fn ethtool_replies(b: &[u8]) {
    let _ = crate::nic::decode_drvinfo(b);
    let _ = proto::sset_count(b);
    let names = proto::strings(b);
    assert!(names.len() <= b.len() / proto::GSTRING_LEN + 1);
    for i in 0..proto::blocks(names.len()).min(64) {
        let _ = proto::feature_block(b, i);
    }
    let rss = crate::rss::decode_grssh(b);
    assert!(rss.indirection.len() * 4 <= b.len());
    let _ = proto::rxfh_sizes(b);
    let c = Coalesce::decode(b);
    assert_eq!(Coalesce::decode(&c.encode(cmd::SCOALESCE)), c);
    let r = Rings::decode(b);
    assert_eq!(Rings::decode(&r.encode(cmd::SRINGPARAM)), r);
    let ch = Channels::decode(b);
    assert_eq!(Channels::decode(&ch.encode(cmd::SCHANNELS)), ch);
    // An n-tuple rule: what decodes encodes back to the same rule.
    let rule = crate::ntuple::decode_rule(b);
    if !matches!(rule.matches.flow, crate::RuleFlow::Other(_)) {
        let again = crate::ntuple::decode_rule(&crate::ntuple::encode_rule(
            cmd::SRXCLSRLINS,
            &rule.matches,
            rule.action,
            rule.location,
        ));
        assert_eq!(
            (again.matches, again.action, again.location),
            (rule.matches, rule.action, rule.location)
        );
    }
    let nwords = usize::from(b.get(15).copied().unwrap_or(0) % 8);
    let _ = crate::link::decode_link(b, nwords, names);
    // The same bytes as an ethtool netlink reply or notification.
    crate::ethnl::fuzz_replies(b);
}

//! nftables rule dumps of the NOTRACK table and the ruleset text journals keep: no
//! panics, and whatever decodes encodes and decodes back to the same rules.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nettune_conntrack::fuzzing::notrack(data);
});

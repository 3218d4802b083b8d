//! ctnetlink replies: entries, counts and statistics decode without panics, and an
//! entry re-encodes to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nettune_conntrack::fuzzing::ctnetlink_datagram(data);
});

//! SIOCETHTOOL replies: driver info, string sets, feature blocks, RSS, coalescing, rings
//! and channels decode without panics; the fixed structs round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nettune_nic::fuzzing::ethtool_replies(data);
});

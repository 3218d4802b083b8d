//! mptcp_pm replies and events: they decode without panics, and an endpoint re-encodes
//! to the same endpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nettune_mptcp::fuzzing::mptcp_datagram(data);
});

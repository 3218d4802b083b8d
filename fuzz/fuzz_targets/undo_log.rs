//! Undo logs: a log that loads is written back to text that loads to the same log.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettune_sysctl::Applied;

fuzz_target!(|text: &str| {
    let Ok(log) = Applied::from_text("fuzz.undo", text) else { return };
    let again = Applied::from_text("again", &log.to_text()).expect("our own output loads");
    assert_eq!(again, log);
});

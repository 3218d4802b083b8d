//! Values: for every typed knob, text that parses formats to text that parses back to
//! the same value; `canonical` is idempotent and `canonical_lenient` never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettune_sysctl::knobs::{self, Knob, Visitor};

struct RoundTrip<'a>(&'a str);

impl Visitor for RoundTrip<'_> {
    fn visit<K: Knob>(&mut self) {
        let key = K::key();
        let _ = knobs::canonical_lenient(&key, self.0);
        if let Ok(c) = knobs::canonical(&key, self.0) {
            assert_eq!(knobs::canonical(&key, &c).as_deref(), Ok(c.as_str()), "{}", K::KEY);
        }
        let Ok(v) = K::parse(self.0) else { return };
        let Ok(text) = K::format(&v) else { return };
        assert_eq!(K::parse(&text), Ok(v), "{}: {:?} -> {text:?}", K::KEY, self.0);
    }
}

fuzz_target!(|text: &str| {
    knobs::for_each(&mut RoundTrip(text));
});

//! Journals: any text is refused or parsed without panics; a journal that parses encodes
//! back to one that parses to the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    nettune::fuzzing::journal_text(text);
});

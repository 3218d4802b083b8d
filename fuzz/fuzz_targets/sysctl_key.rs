//! Keys: whatever the text, a key that parses never escapes /proc/sys, and its dotted
//! form parses back to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettune_sysctl::Key;

fuzz_target!(|text: &str| {
    let Ok(key) = Key::new(text) else { return };
    let path = std::path::Path::new(key.path());
    assert!(!path.is_absolute(), "{text:?} -> {}", path.display());
    assert!(
        path.components()
            .all(|c| matches!(c, std::path::Component::Normal(_))),
        "{text:?} -> {}",
        path.display()
    );
    let again = Key::new(&key.to_string()).expect("a key's own text parses");
    assert_eq!(again, key);
});

//! sysctl.d files: a file that parses into a profile is written out as a sysctl.d file
//! that parses into the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettune_sysctl::Profile;

fuzz_target!(|text: &str| {
    let _ = nettune_sysctl::sysctld::SysctlD::parse("fuzz.conf", text);
    let Ok(p) = Profile::from_sysctl_d(text) else { return };
    let Ok(out) = p.to_sysctl_d() else { return };
    let again = Profile::from_sysctl_d(&out).expect("our own output parses");
    let pairs = |p: &Profile| {
        p.entries()
            .iter()
            .map(|e| (e.key().clone(), e.value().to_owned(), e.is_optional()))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&again), pairs(&p));
});

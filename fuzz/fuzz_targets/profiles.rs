//! Profile files: TOML and JSON that load give a profile that writes back to TOML and JSON
//! that load to the same entries (tables come back sorted by key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettune::Profile;

fn sorted(p: &Profile) -> Vec<nettune::profile::SysctlRule> {
    let mut v = p.sysctls().to_vec();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    v
}

fuzz_target!(|text: &str| {
    for parsed in [Profile::from_toml("fuzz.toml", text), Profile::from_json("fuzz.json", text)] {
        let Ok(p) = parsed else { continue };
        let t = Profile::from_toml("again.toml", &p.to_toml()).expect("our TOML loads");
        assert_eq!(sorted(&t), sorted(&p));
        assert_eq!(t.nics(), p.nics());
        let j = Profile::from_json("again.json", &p.to_json()).expect("our JSON loads");
        assert_eq!(sorted(&j), sorted(&p));
        assert_eq!(j.endpoints(), p.endpoints());
    }
});

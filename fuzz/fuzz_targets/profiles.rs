//! Profile files: TOML and JSON that load give a profile that writes back to TOML and JSON
//! that load to the same entries (tables come back sorted by key); a tuned.conf that
//! imports renders as tuned.conf that imports to the same sysctls.
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
        assert_eq!(t.tune(), p.tune());
    }
    if let Ok(p) = Profile::from_tuned("fuzz", text) {
        use nettune::render::{Format, RenderOptions};
        if let Ok(r) = p.render(Format::Tuned, &RenderOptions::default()) {
            let again = Profile::from_tuned("again", &r.text).expect("our tuned.conf imports");
            let wants = |p: &Profile| -> Vec<_> {
                sorted(p)
                    .into_iter()
                    .filter(|s| !r.unexpressed.iter().any(|u| u.item == s.key.to_string()))
                    .map(|s| (s.key, s.want))
                    .collect()
            };
            assert_eq!(wants(&again), wants(&p));
            assert_eq!(again.nics(), p.nics());
        }
    }
});

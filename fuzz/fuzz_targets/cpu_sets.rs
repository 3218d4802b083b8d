//! CPU sets as sysfs prints them: lists and hex masks parse within the kernel's limit,
//! and each form prints back to text that parses to the same set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettune_nic::CpuSet;

fuzz_target!(|text: &str| {
    for parsed in [CpuSet::from_list(text), CpuSet::from_mask(text)] {
        let Ok(set) = parsed else { continue };
        assert!(set.iter().all(|c| c < CpuSet::MAX_CPUS));
        assert_eq!(CpuSet::from_list(&set.to_list()).expect("list"), set);
        assert_eq!(CpuSet::from_mask(&set.to_mask()).expect("mask"), set);
    }
});

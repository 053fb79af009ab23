//! `phonevault/manifest.json` as text from an archive someone else made: parsed, then every
//! record's entry name checked and joined the way extract and restore do.

#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use phonevault::archive::{safe_join, Manifest};

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = serde_json::from_slice::<Manifest>(data) else {
        return;
    };
    let _ = manifest.total_size();
    let dest = Path::new("/dest");
    for record in &manifest.items {
        assert!(manifest.record(&record.entry).is_some());
        if let Ok(joined) = safe_join(dest, &record.entry) {
            assert!(joined.starts_with(dest));
            assert!(joined
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_))));
        }
    }
});

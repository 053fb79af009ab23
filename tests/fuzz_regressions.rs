//! Inputs that crashed a fuzz target (fuzz/), kept as plain tests so the fix stays fixed
//! without a nightly toolchain. The bytes live in fuzz/regressions/<target>/, each file named
//! for what it does.

use std::path::{Path, PathBuf};
use std::process::Command;

use phonevault::archive::{ArchiveReader, Manifest};
use phonevault::Error;

fn regression(target: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target)
        .join(name)
}

/// fuzz target `manifest`: two items whose sizes add up past `u64::MAX` made
/// `Manifest::total_size` panic with "attempt to add with overflow" (and wrap in a release
/// build, so `show` and restore plans printed nonsense totals).
#[test]
fn manifest_sizes_that_overflow_a_sum_do_not_panic() {
    let json = std::fs::read(regression("manifest", "sizes-overflow.json")).unwrap();
    let manifest: Manifest = serde_json::from_slice(&json).unwrap();
    assert_eq!(manifest.items[1].item.size, u64::MAX);
    assert_eq!(manifest.checked_total_size(), None);
    assert_eq!(manifest.total_size(), u64::MAX);
}

/// fuzz target `archive`, same manifest inside a real archive: opening it is refused with an
/// error that names the manifest, before any total is taken.
#[test]
fn archive_whose_manifest_sizes_overflow_is_refused() {
    let path = regression("archive", "sizes-overflow.zip");
    match ArchiveReader::open(&path, None) {
        Err(Error::Archive { path: p, detail }) => {
            assert_eq!(p, path);
            assert!(
                detail.contains("phonevault/manifest.json")
                    && detail.contains("item sizes add up to more than"),
                "{detail}"
            );
        }
        other => panic!("expected an Archive error, got {other:?}"),
    }
    // The command line says so and fails cleanly (1), not with a panic (101).
    for command in ["show", "verify"] {
        let out = Command::new(env!("CARGO_BIN_EXE_phonevault"))
            .arg(command)
            .arg(&path)
            .env("HOME", std::env::temp_dir())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains("item sizes add up"), "{command}: {stderr}");
    }
}

//! A whole archive file as found on a disk: opened with its manifest, verified, its previews
//! read and every item extracted. Nothing may panic, and nothing may be written outside the
//! destination. Encrypted archives are tried with the seeds' password.

#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phonevault::archive::{ArchiveReader, Password};
use phonevault::progress::NoProgress;
use phonevault::restore::OnConflict;
use phonevault::Error;

/// The password of the encrypted seed archive `fuzz/seeds/archive/aes256.zip` (fuzz/README.md).
const SEED_PASSWORD: &str = "fuzz-password";

/// One scratch folder per fuzzing process: the archive file and the extraction folder. It is
/// made in `TMPDIR`, which `scripts/fuzz.sh` points at a folder it removes afterwards
/// (libFuzzer ends the process without running destructors, so the folder outlives it).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("phonevault-fuzz-archive-")
            .tempdir()
            .expect("a scratch folder")
            .keep()
    })
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            files_below(&path, out);
        } else {
            out.push(path);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    let zip = dir.join("archive.zip");
    let dest = dir.join("out");
    let _ = fs::remove_dir_all(&dest);
    fs::create_dir_all(&dest).unwrap();
    fs::write(&zip, data).unwrap();
    let reader = match ArchiveReader::open(&zip, None) {
        Err(Error::PasswordNeeded) => {
            let password = Password::new(SEED_PASSWORD).unwrap();
            ArchiveReader::open(&zip, Some(&password))
        }
        other => other,
    };
    let Ok(mut reader) = reader else {
        return;
    };
    let _ = reader.manifest().total_size();
    let _ = reader.previews();
    let _ = reader.verify(&NoProgress);
    if let Ok(report) = reader.extract(&dest, &mut |_| true, OnConflict::KeepBoth, &NoProgress) {
        for item in &report.items {
            let path = &item.path;
            assert!(path.starts_with(&dest), "{path:?} outside {dest:?}");
        }
    }
    // Whatever happened, every file made is inside the destination or is the archive itself.
    let mut made = Vec::new();
    files_below(dir, &mut made);
    for path in made {
        assert!(path == zip || path.starts_with(&dest), "{path:?} written");
    }
});

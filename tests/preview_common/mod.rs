//! Shared by the `preview_*` test crates: an in-memory [`PreviewSource`] that counts what it
//! is asked for, and a [`MediaItem`] builder.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use phonevault::catalog::{Kind, MediaItem, Source};
use phonevault::preview::{Head, PreviewSource};

/// Files by device path, served like a phone would: heads in batches, whole files one by one.
#[derive(Default)]
pub struct MemSource {
    pub files: HashMap<String, Vec<u8>>,
    pub head_calls: usize,
    pub whole_calls: usize,
    pub bytes: u64,
}

impl MemSource {
    pub fn add(&mut self, path: &str, bytes: Vec<u8>) {
        self.files.insert(path.to_owned(), bytes);
    }

    pub fn calls(&self) -> usize {
        self.head_calls + self.whole_calls
    }
}

impl PreviewSource for MemSource {
    fn heads(&mut self, items: &[&MediaItem], limit: usize) -> phonevault::Result<Vec<Head>> {
        self.head_calls += 1;
        Ok(items
            .iter()
            .map(|item| match self.files.get(&item.path) {
                Some(bytes) => {
                    let head = bytes[..bytes.len().min(limit)].to_vec();
                    self.bytes += head.len() as u64;
                    Head::Bytes(head)
                }
                None => Head::Unreadable("No such file or directory".to_owned()),
            })
            .collect())
    }

    fn whole(&mut self, item: &MediaItem, max: u64) -> phonevault::Result<Vec<u8>> {
        self.whole_calls += 1;
        let bytes = self
            .files
            .get(&item.path)
            .ok_or_else(|| phonevault::Error::Remote {
                serial: "mem".to_owned(),
                path: item.path.clone(),
                message: "No such file or directory".to_owned(),
            })?;
        let out = bytes[..bytes.len().min(usize::try_from(max).unwrap())].to_vec();
        self.bytes += out.len() as u64;
        Ok(out)
    }
}

/// A catalog item as the catalog would list it (no name-derived date).
pub fn item(path: &str, size: u64, kind: Kind) -> MediaItem {
    let rel = path.trim_start_matches("/sdcard/").to_owned();
    let album = rel.rsplit('/').nth(1).unwrap_or("Pictures").to_owned();
    MediaItem {
        id: format!("id-{:08x}", fxhash(path)),
        path: path.to_owned(),
        root: "/sdcard".to_owned(),
        rel_path: rel,
        source: Source::Gallery,
        album,
        kind,
        size,
        mtime: 1_700_000_000,
        taken: None,
        sent: false,
        private: false,
    }
}

fn fxhash(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The small subset of the camera samples kept in the repository (`fixtures/camera-samples`,
/// explained in `fixtures/README.md`), so a plain clone runs the real-photo tests.
pub fn fixture_samples_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/camera-samples"
    ))
}

/// The full set of camera samples when it is on this machine: `PHONEVAULT_CAMERA_SAMPLES`
/// (which must then hold them), else `../shared/camera-samples` next to the workspace.
/// `None` when there is none; the tests then run on the fixtures alone.
pub fn full_samples_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PHONEVAULT_CAMERA_SAMPLES") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("expected-exiftool.tsv").is_file(),
            "PHONEVAULT_CAMERA_SAMPLES={} holds no expected-exiftool.tsv",
            dir.display()
        );
        return Some(dir);
    }
    let shared = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/camera-samples"
    ));
    if shared.join("expected-exiftool.tsv").is_file() {
        Some(shared)
    } else {
        println!(
            "no full camera-sample set at {} (nor PHONEVAULT_CAMERA_SAMPLES): testing the \
             subset in fixtures/camera-samples only",
            shared.display()
        );
        None
    }
}

/// Where the real-photo tests read samples: the fixtures always, then the full set when
/// present. Each folder holds `expected-exiftool.tsv`.
pub fn sample_dirs() -> Vec<PathBuf> {
    let fixtures = fixture_samples_dir();
    assert!(
        fixtures.join("expected-exiftool.tsv").is_file(),
        "the repository's camera-sample subset is missing: no expected-exiftool.tsv in {}",
        fixtures.display()
    );
    let mut dirs = vec![fixtures];
    dirs.extend(full_samples_dir());
    dirs
}

/// A fresh temporary folder for a preview cache.
pub fn temp_cache_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary folder for the preview cache")
}

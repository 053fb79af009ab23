//! Previews of the sample phone `phonevault-sim populate` generates, checked against its
//! truth file: date (and where it came from), orientation, EXIF thumbnail or decode, the
//! byte budget (heads only for photos with thumbnails: <= 5% of their size) and a second
//! run that reads nothing.
//!
//! The files are read straight from the generated folder (no adb here: the phone side of
//! previews is the helper's job); name-derived dates come from the catalog's name parser,
//! as the catalog fills them into every item.

mod common;
mod preview_common;

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use phonevault::catalog::{DateSource, Kind, MediaItem, Source, Taken};
use phonevault::preview::{
    build_previews, format_taken, Head, PreviewCache, PreviewOptions, PreviewSource, ThumbnailKind,
};
use phonevault::progress::NoProgress;
use preview_common::temp_cache_dir;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Truth {
    path: String,
    size: u64,
    mtime: i64,
    include: bool,
    source: Option<Source>,
    album: Option<String>,
    kind: Option<Kind>,
    sent: bool,
    private: bool,
    taken: Option<String>,
    taken_source: Option<DateSource>,
    orientation: Option<u8>,
    exif_thumbnail: Option<bool>,
}

/// Reads the generated phone's files from the host folder standing for `/sdcard`.
struct DirSource {
    sdcard: PathBuf,
    calls: usize,
    bytes: u64,
}

impl DirSource {
    fn host_path(&self, item: &MediaItem) -> PathBuf {
        self.sdcard
            .join(item.path.strip_prefix("/sdcard/").expect("an /sdcard path"))
    }

    fn read(&mut self, item: &MediaItem, max: u64) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        File::open(self.host_path(item))?
            .take(max)
            .read_to_end(&mut out)?;
        self.bytes += out.len() as u64;
        Ok(out)
    }
}

impl PreviewSource for DirSource {
    fn heads(&mut self, items: &[&MediaItem], limit: usize) -> phonevault::Result<Vec<Head>> {
        self.calls += 1;
        Ok(items
            .iter()
            .map(|item| match self.read(item, limit as u64) {
                Ok(bytes) => Head::Bytes(bytes),
                Err(e) => Head::Unreadable(e.to_string()),
            })
            .collect())
    }

    fn whole(&mut self, item: &MediaItem, max: u64) -> phonevault::Result<Vec<u8>> {
        self.calls += 1;
        self.read(item, max).map_err(|e| phonevault::Error::Remote {
            serial: "generated".to_owned(),
            path: item.path.clone(),
            message: e.to_string(),
        })
    }
}

/// The name-derived date, as the catalog computes it for every item.
fn name_date(truth: &Truth) -> Option<Taken> {
    let name = truth.path.rsplit('/').next().unwrap_or_default();
    phonevault::catalog::dates::from_name(name)
}

fn populate(dir: &Path) -> Vec<Truth> {
    let truth = dir.join("truth.json");
    let out = common::run_with_timeout(
        Command::new(common::sim_bin()).args([
            "populate".as_ref(),
            dir.join("sdcard").as_os_str(),
            "--photos".as_ref(),
            "30".as_ref(),
            "--videos".as_ref(),
            "1".as_ref(),
            "--whatsapp".as_ref(),
            "10".as_ref(),
            "--photo-size".as_ref(),
            "2M-4M".as_ref(),
            "--truth".as_ref(),
            truth.as_os_str(),
        ]),
        Duration::from_secs(300),
    );
    assert!(
        out.status.success(),
        "phonevault-sim populate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(truth).unwrap()).unwrap()
}

fn items(truth: &[Truth]) -> Vec<(MediaItem, &Truth)> {
    truth
        .iter()
        .filter(|t| t.include && t.kind == Some(Kind::Photo))
        .enumerate()
        .map(|(n, t)| {
            let item = MediaItem {
                id: format!("p{n:04}"),
                path: t.path.clone(),
                root: "/sdcard".to_owned(),
                rel_path: t.path.trim_start_matches("/sdcard/").to_owned(),
                source: t.source.unwrap(),
                album: t.album.clone().unwrap(),
                kind: Kind::Photo,
                size: t.size,
                mtime: t.mtime,
                taken: name_date(t),
                sent: t.sent,
                private: t.private,
            };
            (item, t)
        })
        .collect()
}

#[test]
fn previews_of_the_generated_phone_match_its_truth_file() {
    let dir = tempfile::tempdir().unwrap();
    let truth = populate(dir.path());
    let pairs = items(&truth);
    assert!(pairs.len() >= 40, "only {} photos generated", pairs.len());
    let items: Vec<MediaItem> = pairs.iter().map(|(i, _)| i.clone()).collect();
    let mut source = DirSource {
        sdcard: dir.path().join("sdcard"),
        calls: 0,
        bytes: 0,
    };
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "GENERATED").unwrap();
    let options = PreviewOptions::default();
    let run = build_previews(&items, &mut source, &cache, &options, &NoProgress).unwrap();
    let total: u64 = items.iter().map(|i| i.size).sum();
    println!(
        "{} photos, {total} bytes; read {} bytes ({:.2}%); {:?}",
        items.len(),
        run.stats.bytes_read,
        run.stats.bytes_read as f64 * 100.0 / total as f64,
        run.stats
    );
    let mut wrong = Vec::new();
    let mut turned_checked = 0;
    for ((_, t), p) in pairs.iter().zip(&run.previews) {
        let taken = p.taken.as_ref().map(format_taken);
        if taken != t.taken || p.taken.map(|x| x.source) != t.taken_source {
            wrong.push(format!(
                "{:?}: taken {taken:?} from {:?}, truth {:?} from {:?}",
                t.path,
                p.taken.map(|x| x.source),
                t.taken,
                t.taken_source
            ));
        }
        if let Some(o) = t.orientation {
            if p.info.orientation.unwrap_or(1) != o {
                wrong.push(format!(
                    "{:?}: orientation {:?}, truth {o}",
                    t.path, p.info.orientation
                ));
            }
        }
        // Every thumbnail stands upright: its shape is the photo's shape once turned.
        if let (Some(img), Some(w), Some(h)) = (&p.image, p.info.width, p.info.height) {
            let turned = matches!(p.info.orientation, Some(5..=8));
            let (w, h) = if turned { (h, w) } else { (w, h) };
            turned_checked += usize::from(turned && w != h);
            if w != h && (w > h) != (img.width > img.height) {
                wrong.push(format!(
                    "{:?}: thumbnail {}x{} for a {w}x{h} upright photo",
                    t.path, img.width, img.height
                ));
            }
        }
        let expect = if t.exif_thumbnail == Some(true) {
            ThumbnailKind::Exif
        } else {
            ThumbnailKind::Decoded
        };
        if p.thumbnail != expect {
            wrong.push(format!(
                "{:?}: thumbnail {:?}, expected {expect:?}; notes {:?}",
                t.path, p.thumbnail, p.notes
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(turned_checked > 0, "no turned photo to check thumbnails on");

    // Photos with an EXIF thumbnail cost only their heads.
    let with_thumbs: Vec<MediaItem> = pairs
        .iter()
        .filter(|(_, t)| t.exif_thumbnail == Some(true))
        .map(|(i, _)| i.clone())
        .collect();
    let thumb_bytes: u64 = with_thumbs.iter().map(|i| i.size).sum();
    let fresh = PreviewCache::open(cache_dir.path().join("fresh"), "GENERATED").unwrap();
    let before = source.bytes;
    let run = build_previews(&with_thumbs, &mut source, &fresh, &options, &NoProgress).unwrap();
    let read = source.bytes - before;
    assert_eq!(read, run.stats.bytes_read);
    println!(
        "{} photos with EXIF thumbnails, {thumb_bytes} bytes: read {read} ({:.2}%)",
        with_thumbs.len(),
        read as f64 * 100.0 / thumb_bytes as f64
    );
    assert!(
        read * 20 <= thumb_bytes,
        "read {read} of {thumb_bytes} bytes"
    );

    // A second preview of the whole phone reads nothing.
    let calls = source.calls;
    let again = build_previews(&items, &mut source, &cache, &options, &NoProgress).unwrap();
    assert_eq!(source.calls, calls, "the second run asked for bytes");
    assert_eq!(again.stats.bytes_read, 0);
    assert_eq!(again.stats.cache_hits, items.len() as u64);
}

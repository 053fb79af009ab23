//! The head parser and the preview pipeline against real photos from real cameras and
//! phones, checked against what ExifTool reports (`expected-exiftool.tsv`), plus truncations
//! and byte flips of every sample.

mod preview_common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use phonevault::catalog::{DateSource, Kind};
use phonevault::preview::{
    build_previews, parse_head, Preview, PreviewCache, PreviewOptions, ThumbnailKind, HEAD_BYTES,
};
use phonevault::progress::NoProgress;
use preview_common::{fixture_samples_dir, item, sample_dirs, temp_cache_dir, MemSource};

/// One row of an `expected-exiftool.tsv`.
struct Expected {
    file: String,
    /// Where the photo is: the fixtures subset or the full shared set.
    path: PathBuf,
    date: Option<NaiveDateTime>,
    orientation: Option<u8>,
    /// Size of the embedded EXIF thumbnail; `None` when there is none.
    thumbnail: Option<usize>,
    /// Pixel size as stored.
    size: Option<(u32, u32)>,
}

/// The rows of the fixtures subset, then those of the full set (when present) that the
/// subset does not already hold under the same name (same bytes: read once).
fn expected() -> Vec<Expected> {
    let mut rows: Vec<Expected> = Vec::new();
    for (n, dir) in sample_dirs().into_iter().enumerate() {
        let text = std::fs::read_to_string(dir.join("expected-exiftool.tsv")).unwrap();
        let before = rows.len();
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 6, "bad TSV line {line:?} in {}", dir.display());
            if rows.iter().any(|r| r.file == f[0]) {
                continue;
            }
            let dash = |s: &str| (s != "-").then(|| s.to_owned());
            rows.push(Expected {
                file: f[0].to_owned(),
                path: dir.join(f[0]),
                date: dash(f[2]).map(|d| {
                    NaiveDateTime::parse_from_str(&d, "%Y:%m:%d %H:%M:%S")
                        .unwrap_or_else(|e| panic!("TSV date {d:?}: {e}"))
                }),
                orientation: dash(f[3]).map(|o| o.parse().unwrap()),
                thumbnail: dash(f[4])
                    .map(|t| t.parse::<usize>().unwrap())
                    .filter(|&t| t > 0),
                size: dash(f[5]).map(|s| {
                    let (w, h) = s.split_once('x').unwrap();
                    (w.parse().unwrap(), h.parse().unwrap())
                }),
            });
        }
        // The subset keeps every case (makers, orientations, phones, HEIC, damaged EXIF).
        if n == 0 {
            assert!(
                rows.len() >= 15,
                "the fixtures' expected-exiftool.tsv has only {} rows",
                rows.len()
            );
        }
        println!("{} samples from {}", rows.len() - before, dir.display());
    }
    rows
}

fn is_heif(name: &str) -> bool {
    std::path::Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("heic") || e.eq_ignore_ascii_case("heif"))
}

#[test]
fn head_parser_agrees_with_exiftool_on_every_sample() {
    let mut wrong = Vec::new();
    let mut report = String::new();
    for row in expected() {
        let bytes = std::fs::read(&row.path).unwrap();
        let head = &bytes[..bytes.len().min(HEAD_BYTES)];
        let mut info = parse_head(head);
        let mut parsed = head;
        // The pipeline reads further when the EXIF block runs past the head.
        if info.exif_cut_off && head.len() < bytes.len() {
            info = parse_head(&bytes);
            parsed = &bytes;
        }
        let date = info.taken.map(|t| t.local.with_nanosecond_zero());
        if date != row.date {
            wrong.push(format!(
                "{}: date {date:?}, ExifTool {:?}",
                row.file, row.date
            ));
        }
        if info.taken.is_some_and(|t| t.source != DateSource::Exif) {
            wrong.push(format!("{}: date source {:?}", row.file, info.taken));
        }
        // ExifTool prints 1 for a missing orientation in some files; absent and 1 both mean
        // "upright".
        let orientation = info.orientation.unwrap_or(1);
        if orientation != row.orientation.unwrap_or(1) {
            wrong.push(format!(
                "{}: orientation {:?}, ExifTool {:?}",
                row.file, info.orientation, row.orientation
            ));
        }
        let thumb = info.thumbnail_bytes(parsed).map(<[u8]>::len);
        if thumb != row.thumbnail {
            wrong.push(format!(
                "{}: thumbnail {thumb:?} bytes, ExifTool {:?}; notes {:?}",
                row.file, row.thumbnail, info.notes
            ));
        }
        if let (Some(w), Some(h), Some(size)) = (info.width, info.height, row.size) {
            // The samples were scaled down with their EXIF kept, so only the JPEG frame
            // header (found whenever it lies in the head) must agree.
            if parsed.starts_with(&[0xff, 0xd8])
                && !info.notes.iter().any(|n| n.contains("frame"))
                && (w, h) != size
            {
                wrong.push(format!("{}: size {w}x{h}, ExifTool {size:?}", row.file));
            }
        }
        let _ =
            writeln!(
            report,
            "{:40} date={:?} orient={:?} thumb={:?} size={:?}x{:?} model={:?} gps={:?} notes={:?}",
            row.file, date, info.orientation, thumb, info.width, info.height, info.model, info.gps,
            info.notes
        );
    }
    println!("{report}");
    assert!(
        wrong.is_empty(),
        "disagreements with ExifTool:\n{}\n\nall:\n{report}",
        wrong.join("\n")
    );
}

/// Every sample through `build_previews`, as a phone would serve it: the EXIF thumbnail when
/// there is one, the decoded photo (upright) when there is not, a placeholder for HEIF.
#[test]
fn pipeline_previews_every_sample() {
    let rows = expected();
    let mut source = MemSource::default();
    let mut items = Vec::new();
    let mut total = 0u64;
    for row in &rows {
        let bytes = std::fs::read(&row.path).unwrap();
        let path = format!("/sdcard/DCIM/Camera/{}", row.file);
        total += bytes.len() as u64;
        items.push(item(&path, bytes.len() as u64, Kind::Photo));
        source.add(&path, bytes);
    }
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "SAMPLES").unwrap();
    let run = build_previews(
        &items,
        &mut source,
        &cache,
        &PreviewOptions::default(),
        &NoProgress,
    )
    .unwrap();
    println!(
        "read {} of {total} bytes ({:.1}%), {:?}",
        run.stats.bytes_read,
        run.stats.bytes_read as f64 * 100.0 / total as f64,
        run.stats
    );
    assert_eq!(run.stats.bytes_read, source.bytes);
    assert_eq!(run.previews.len(), rows.len());
    let broken = [
        "corrupted.jpg",
        "invalid-image01088.jpg",
        "invalid-image01551.jpg",
        "tests-35-empty.jpg",
        "tests-87_OSError.jpg",
    ];
    let mut wrong = Vec::new();
    for (row, p) in rows.iter().zip(&run.previews) {
        check_preview(row, p, &broken, &mut wrong);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn check_preview(row: &Expected, p: &Preview, broken: &[&str], wrong: &mut Vec<String>) {
    assert!(p.item.path.ends_with(&row.file));
    let expect = if row.thumbnail.is_some() {
        ThumbnailKind::Exif
    } else if is_heif(&row.file) {
        ThumbnailKind::Placeholder
    } else {
        ThumbnailKind::Decoded
    };
    let acceptable = p.thumbnail == expect
        || (broken.contains(&row.file.as_str())
            && p.thumbnail == ThumbnailKind::Placeholder
            && !p.notes.is_empty());
    if !acceptable {
        wrong.push(format!(
            "{}: {:?}, expected {expect:?}; notes {:?}",
            row.file, p.thumbnail, p.notes
        ));
    }
    match (&p.image, p.thumbnail) {
        (Some(img), ThumbnailKind::Exif | ThumbnailKind::Decoded) => {
            assert!(
                img.width.max(img.height) <= 256,
                "{}: {}x{}",
                row.file,
                img.width,
                img.height
            );
            let back = image::load_from_memory(&img.jpeg).unwrap();
            assert_eq!(
                (back.width(), back.height()),
                (img.width, img.height),
                "{}",
                row.file
            );
        }
        (None, ThumbnailKind::Placeholder) => {}
        other => wrong.push(format!("{}: image/kind mismatch {:?}", row.file, other.1)),
    }
    // The decoded orientation samples must come out upright: portraits taller than wide.
    if row.file.starts_with("orientation-") {
        let img = p.image.as_ref().unwrap();
        let portrait = row.file.contains("portrait");
        if portrait != (img.height > img.width) {
            wrong.push(format!(
                "{}: thumbnail {}x{} not upright",
                row.file, img.width, img.height
            ));
        }
    }
    let taken = p.taken.unwrap();
    match row.date {
        Some(d) => {
            if taken.source != DateSource::Exif || taken.local.with_nanosecond_zero() != d {
                wrong.push(format!("{}: taken {taken:?}, ExifTool {d}", row.file));
            }
        }
        None => {
            if taken.source != DateSource::Mtime {
                wrong.push(format!("{}: taken {taken:?}, expected the mtime", row.file));
            }
        }
    }
}

/// HEIF may put its EXIF item anywhere. With a head too short to hold it, the pipeline reads
/// further (up to `exif_max`) and still finds the date and orientation.
#[test]
fn heif_exif_past_the_head_is_read_further() {
    // The subset keeps the first 64 KiB of this phone's HEIC: its meta box and EXIF item.
    let name = "heic-mobile-iphone_13_pro_max-first64k.HEIC";
    let bytes = std::fs::read(fixture_samples_dir().join(name)).unwrap();
    let path = format!("/sdcard/DCIM/Camera/{name}");
    let items = vec![item(&path, bytes.len() as u64, Kind::Photo)];
    let total = bytes.len() as u64;
    let mut source = MemSource::default();
    source.add(&path, bytes);
    // The EXIF item starts near 25 KiB; a 48 KiB limit holds it and stays short of the file.
    let options = PreviewOptions {
        head_bytes: 1024,
        exif_max: 48 * 1024,
        ..PreviewOptions::default()
    };
    let head_info = parse_head(&source.files[&path][..1024]);
    assert!(
        head_info.exif_cut_off,
        "the test needs EXIF past 1024 bytes: {head_info:?}"
    );
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "HEIF").unwrap();
    let run = build_previews(&items, &mut source, &cache, &options, &NoProgress).unwrap();
    let p = &run.previews[0];
    assert_eq!(p.thumbnail, ThumbnailKind::Placeholder);
    let taken = p.taken.unwrap();
    assert_eq!(taken.source, DateSource::Exif);
    assert_eq!(
        taken.local.with_nanosecond_zero().to_string(),
        "2022-02-16 12:55:41"
    );
    assert_eq!(p.info.orientation, Some(6));
    assert_eq!(run.stats.whole_reads, 1);
    assert!(
        run.stats.bytes_read <= 1024 + options.exif_max && run.stats.bytes_read < total,
        "read {} of {total} bytes",
        run.stats.bytes_read
    );
}

/// Every sample cut at many lengths and with bytes flipped: no panic, and every parse fast.
#[test]
fn truncations_and_flips_never_panic_and_stay_fast() {
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut parses = 0u32;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut slowest_decode = Duration::ZERO;
    let mut decodes = 0u32;
    let mut time = |bytes: &[u8]| {
        let t = Instant::now();
        let info = parse_head(bytes);
        slowest = slowest.max(t.elapsed());
        parses += 1;
        // A thumbnail found in mangled bytes must also decode or fail cleanly; JPEG decoding
        // is slow in a debug build, so only every eighth one.
        if let Some(thumb) = info
            .thumbnail_bytes(bytes)
            .filter(|_| parses.is_multiple_of(8))
        {
            let t = Instant::now();
            let _ = phonevault::preview::make_thumbnail(thumb, info.orientation);
            slowest_decode = slowest_decode.max(t.elapsed());
            decodes += 1;
        }
    };
    for row in expected() {
        let bytes = std::fs::read(&row.path).unwrap();
        let head = &bytes[..bytes.len().min(HEAD_BYTES)];
        let mut cuts: Vec<usize> = (0..64.min(head.len())).collect();
        cuts.extend((64..head.len()).step_by(head.len() / 150 + 1));
        for &n in &cuts {
            time(&head[..n]);
        }
        for _ in 0..150 {
            let mut mangled = head.to_vec();
            // Most structure is in the first few KiB; flip there mostly.
            let span = if next() % 4 == 0 {
                mangled.len()
            } else {
                mangled.len().min(4096)
            };
            for _ in 0..=next() % 4 {
                let at = (next() as usize) % span;
                mangled[at] ^= 1 << (next() % 8);
            }
            time(&mangled);
            let cut = (next() as usize) % (mangled.len() + 1);
            time(&mangled[..cut]);
        }
    }
    println!(
        "{parses} parses and {decodes} thumbnail decodes in {:?}; slowest parse {slowest:?}, \
         slowest decode {slowest_decode:?}",
        started.elapsed()
    );
    assert!(
        slowest < Duration::from_secs(2),
        "one parse took {slowest:?}"
    );
    assert!(
        slowest_decode < Duration::from_secs(5),
        "one thumbnail decode took {slowest_decode:?}"
    );
}

trait NoNanos {
    fn with_nanosecond_zero(self) -> NaiveDateTime;
}

impl NoNanos for NaiveDateTime {
    fn with_nanosecond_zero(self) -> NaiveDateTime {
        use chrono::Timelike as _;
        self.with_nanosecond(0).unwrap()
    }
}

//! `phonevault-sim populate`: determinism, the truth file against the folder, the shared
//! catalog contract, and the generated file formats read back with independent readers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Record {
    path: String,
    size: u64,
    mtime: i64,
    include: bool,
    source: Option<String>,
    album: Option<String>,
    kind: Option<String>,
    sent: bool,
    private: bool,
    taken: Option<String>,
    taken_source: Option<String>,
    orientation: Option<u16>,
    exif_thumbnail: Option<bool>,
}

const SMALL: &[&str] = &["--photos", "12", "--videos", "4", "--whatsapp", "10"];

struct Phone {
    _tmp: tempfile::TempDir,
    sdcard: PathBuf,
    truth_bytes: Vec<u8>,
    records: Vec<Record>,
    stdout: String,
}

impl Phone {
    fn record(&self, path: &str) -> &Record {
        self.records
            .iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("no truth record for {path:?}"))
    }

    fn host_path(&self, record: &Record) -> PathBuf {
        self.sdcard.join(
            record
                .path
                .strip_prefix("/sdcard/")
                .expect("truth paths start /sdcard/"),
        )
    }
}

fn populate(profile: &str, seed: u64, extra: &[&str]) -> Phone {
    let tmp = tempfile::tempdir().expect("temp dir");
    let sdcard = tmp.path().join("sdcard");
    let truth = tmp.path().join("truth.json");
    let output = Command::new(env!("CARGO_BIN_EXE_phonevault-sim"))
        .arg("populate")
        .arg(&sdcard)
        .args(["--profile", profile, "--seed", &seed.to_string(), "--truth"])
        .arg(&truth)
        .args(extra)
        .output()
        .expect("run phonevault-sim");
    assert!(
        output.status.success(),
        "populate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let truth_bytes = fs::read(&truth).expect("truth file written");
    let records = serde_json::from_slice(&truth_bytes).expect("truth file is the agreed JSON");
    Phone {
        _tmp: tmp,
        sdcard,
        truth_bytes,
        records,
        stdout: String::from_utf8(output.stdout).expect("utf-8 summary"),
    }
}

/// Every regular file below `dir`: path relative to it -> (bytes, mtime).
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, i64)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (Vec<u8>, i64)>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                let rel = path.strip_prefix(root).expect("below root");
                let rel = format!("{}/", rel.to_str().expect("generated names are UTF-8"));
                out.insert(rel, (Vec::new(), meta.mtime()));
                walk(root, &path, out);
            } else {
                assert!(meta.is_file(), "not a regular file: {}", path.display());
                let rel = path.strip_prefix(root).expect("below root");
                let rel = rel.to_str().expect("generated names are UTF-8").to_owned();
                // Content of the sparse file would be 4.5 GiB: compare its length instead.
                let bytes = if meta.len() > 1 << 30 {
                    meta.len().to_le_bytes().to_vec()
                } else {
                    fs::read(&path).expect("read file")
                };
                out.insert(rel, (bytes, meta.mtime()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn same_seed_same_phone_other_seed_other_phone() {
    let a = populate("android-14", 7, SMALL);
    let b = populate("android-14", 7, SMALL);
    let c = populate("android-14", 8, SMALL);
    let (sa, sb, sc) = (
        snapshot(&a.sdcard),
        snapshot(&b.sdcard),
        snapshot(&c.sdcard),
    );
    assert!(sa.len() > 80, "only {} files generated", sa.len());
    assert_eq!(
        sa.keys().collect::<Vec<_>>(),
        sb.keys().collect::<Vec<_>>(),
        "names differ between two runs with one seed"
    );
    for (name, (bytes, mtime)) in &sa {
        let (other_bytes, other_mtime) = &sb[name];
        assert!(bytes == other_bytes, "bytes of {name:?} differ");
        assert_eq!(mtime, other_mtime, "mtime of {name:?} differs");
    }
    assert_eq!(a.truth_bytes, b.truth_bytes, "truth files differ");
    assert_ne!(
        sa.keys().collect::<Vec<_>>(),
        sc.keys().collect::<Vec<_>>(),
        "seed 8 made the same names as seed 7"
    );
    let same_content = sa.iter().filter(|(k, v)| sc.get(*k) == Some(v)).count();
    assert!(
        same_content < sa.len() / 2,
        "{same_content} of {} files identical across seeds",
        sa.len()
    );
}

fn assert_truth_matches_folder(phone: &Phone) {
    let mut on_disk = snapshot(&phone.sdcard);
    on_disk.retain(|name, _| !name.ends_with('/'));
    let listed: BTreeSet<String> = phone
        .records
        .iter()
        .map(|r| {
            r.path
                .strip_prefix("/sdcard/")
                .expect("/sdcard/ prefix")
                .to_owned()
        })
        .collect();
    assert_eq!(
        listed.len(),
        phone.records.len(),
        "truth lists a path twice"
    );
    let present: BTreeSet<String> = on_disk.keys().cloned().collect();
    assert_eq!(
        present.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "files on disk missing from the truth file"
    );
    assert_eq!(
        listed.difference(&present).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "truth records without a file"
    );
    for record in &phone.records {
        let meta = fs::metadata(phone.host_path(record)).expect("metadata");
        assert_eq!(meta.len(), record.size, "size of {:?}", record.path);
        assert_eq!(meta.mtime(), record.mtime, "mtime of {:?}", record.path);
    }
    let total: u64 = phone.records.iter().map(|r| r.size).sum();
    let included = phone.records.iter().filter(|r| r.include).count();
    let summary = phone.stdout.trim();
    assert!(
        summary.starts_with(&format!(
            "populate: {} files, {total} bytes, {included} included",
            phone.records.len()
        )),
        "summary line {summary:?}"
    );
}

#[test]
fn truth_file_lists_exactly_the_folder() {
    for profile in ["android-10", "android-14"] {
        assert_truth_matches_folder(&populate(profile, 3, SMALL));
    }
}

const PHOTO_EXT: &[&str] = &["jpg", "jpeg", "png", "heic", "heif", "webp", "gif", "dng"];
const VIDEO_EXT: &[&str] = &["mp4", "3gp", "mkv", "webm", "mov"];

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn kind_by_extension(name: &str) -> Option<&'static str> {
    let ext = extension(name);
    if PHOTO_EXT.contains(&ext.as_str()) {
        Some("photo")
    } else if VIDEO_EXT.contains(&ext.as_str()) {
        Some("video")
    } else {
        None
    }
}

type Expected = Option<(String, String, String, bool, bool)>;

/// The shared contract, written out again independently of the generator.
fn expected(path: &str, nomedia: &BTreeSet<String>) -> Expected {
    let rel = path.strip_prefix("/sdcard/")?;
    let name = rel.rsplit('/').next()?;
    if let Some(whatsapp) = expected_whatsapp(rel, name) {
        return whatsapp;
    }
    let top = rel.split('/').next()?;
    if !["DCIM", "Pictures", "Movies"].contains(&top) || !rel.contains('/') {
        return None;
    }
    let folders: Vec<&str> = rel.split('/').collect();
    let folders = &folders[..folders.len() - 1];
    if folders.iter().any(|f| f.starts_with('.')) || name.starts_with('.') {
        return None;
    }
    for depth in 1..=folders.len() {
        if nomedia.contains(&format!("/sdcard/{}/.nomedia", folders[..depth].join("/"))) {
            return None;
        }
    }
    let kind = kind_by_extension(name)?;
    let album = folders.last()?;
    Some(("gallery".into(), (*album).into(), kind.into(), false, false))
}

/// `None` when `rel` is outside every WhatsApp root, else what the contract expects.
fn expected_whatsapp(rel: &str, name: &str) -> Option<Expected> {
    let roots = [
        ("WhatsApp", "WhatsApp", "whatsapp"),
        (
            "WhatsApp Business",
            "WhatsApp Business",
            "whatsapp-business",
        ),
        (
            "Android/media/com.whatsapp/WhatsApp",
            "WhatsApp",
            "whatsapp",
        ),
        (
            "Android/media/com.whatsapp.w4b/WhatsApp Business",
            "WhatsApp Business",
            "whatsapp-business",
        ),
    ];
    let (rest, w, source) = roots.iter().find_map(|(root, w, source)| {
        Some((rel.strip_prefix(&format!("{root}/"))?, *w, *source))
    })?;
    if name.starts_with('.') {
        return Some(None);
    }
    let table = [
        (format!("Media/{w} Images/"), "Images", Some("photo")),
        (format!("Media/{w} Video/"), "Video", Some("video")),
        (
            format!("Media/{w} Animated Gifs/"),
            "Animated Gifs",
            Some("video"),
        ),
        (format!("Media/{w} Audio/"), "Audio", Some("audio")),
        (
            format!("Media/{w} Voice Notes/"),
            "Voice Notes",
            Some("audio"),
        ),
        (
            format!("Media/{w} Documents/"),
            "Documents",
            Some("document"),
        ),
        (format!("Media/{w} Stickers/"), "Stickers", Some("sticker")),
        ("Media/.Statuses/".to_owned(), "Statuses", None),
        (
            format!("Media/{w} Profile Photos/"),
            "Profile Photos",
            Some("photo"),
        ),
        ("Media/WallPaper/".to_owned(), "Wallpaper", Some("photo")),
        ("Databases/".to_owned(), "Chats", Some("database")),
    ];
    let Some((inner, album, kind)) = table.iter().find_map(|(folder, album, kind)| {
        Some((rest.strip_prefix(folder.as_str())?, *album, *kind))
    }) else {
        return Some(None);
    };
    let parts: Vec<&str> = inner.split('/').collect();
    let (sent, private) = match (album, parts.as_slice()) {
        ("Voice Notes", [week, _]) if week.len() == 6 => (false, false),
        (_, [_]) => (false, false),
        (_, ["Sent", _]) => (true, false),
        (_, ["Private", _]) => (false, true),
        _ => return Some(None),
    };
    let by_extension = kind_by_extension(name);
    let kind = match kind {
        Some("video") if album == "Animated Gifs" && by_extension.is_some() => "video",
        Some(k @ ("photo" | "video")) if by_extension != Some(k) => "other",
        Some(k) => k,
        None => by_extension.unwrap_or("other"),
    };
    Some(Some((
        source.into(),
        album.into(),
        kind.into(),
        sent,
        private,
    )))
}

fn assert_contract(phone: &Phone, profile: &str) {
    let nomedia: BTreeSet<String> = phone
        .records
        .iter()
        .filter(|r| r.path.ends_with("/.nomedia"))
        .map(|r| r.path.clone())
        .collect();
    for r in &phone.records {
        let want = expected(&r.path, &nomedia);
        let got = r.include.then(|| {
            (
                r.source.clone().expect("included items have a source"),
                r.album.clone().expect("included items have an album"),
                r.kind.clone().expect("included items have a kind"),
                r.sent,
                r.private,
            )
        });
        assert_eq!(got, want, "classification of {:?} on {profile}", r.path);
        if !r.include {
            assert!(
                r.source.is_none() && r.album.is_none() && r.kind.is_none(),
                "{:?} left out but has source/album/kind",
                r.path
            );
        }
    }
    for awkward in [
        "with space.jpg",
        "写真 фото.jpg",
        "it's \"quoted\".jpg",
        "$HOME.jpg",
        "-rf.jpg",
        "line\nbreak.jpg",
    ] {
        let path = format!("/sdcard/DCIM/Camera/{awkward}");
        assert!(
            phone.record(&path).include,
            "{path:?} left out on {profile}"
        );
    }
    for left_out in [
        "/sdcard/DCIM/.thumbnails/1731000000.jpg",
        "/sdcard/DCIM/Camera/.trashed-1731000000-x.jpg",
        "/sdcard/DCIM/Camera/.pending-1731000000-y.jpg",
        "/sdcard/Pictures/Hidden Album/.nomedia",
        "/sdcard/Pictures/Hidden Album/private-1.jpg",
        "/sdcard/Pictures/Hidden Album/More/deeper.jpg",
        "/sdcard/Music/Song.mp3",
        "/sdcard/Download/photo-from-web.jpg",
        "/sdcard/Android/data/com.example.app/files/cache.jpg",
    ] {
        assert!(
            !phone.record(left_out).include,
            "{left_out:?} included on {profile}"
        );
    }
    let count = |f: &dyn Fn(&Record) -> bool| phone.records.iter().filter(|r| f(r)).count();
    for album in ["Camera", "Screenshots", "Movies", "Trip to Kyoto"] {
        assert!(
            count(&|r| r.source.as_deref() == Some("gallery") && r.album.as_deref() == Some(album))
                > 0,
            "no Gallery album {album} on {profile}"
        );
    }
}

fn assert_whatsapp_layout(phone: &Phone, profile: &str) {
    let has = |path: &str, include: bool| {
        assert_eq!(phone.record(path).include, include, "{path:?} on {profile}");
    };
    let (wa, wab) = if profile == "android-10" {
        ("/sdcard/WhatsApp", "/sdcard/WhatsApp Business")
    } else {
        (
            "/sdcard/Android/media/com.whatsapp/WhatsApp",
            "/sdcard/Android/media/com.whatsapp.w4b/WhatsApp Business",
        )
    };
    has(&format!("{wa}/Databases/msgstore.db.crypt14"), true);
    has(
        &format!("{wa}/Databases/msgstore-2024-11-20.1.db.crypt14"),
        true,
    );
    has(&format!("{wa}/Backups/wa.db.crypt14"), false);
    has(&format!("{wa}/Media/WhatsApp Images/Sent/.nomedia"), false);
    has(&format!("{wab}/Databases/msgstore.db.crypt14"), true);
    for (source, root) in [("whatsapp", wa), ("whatsapp-business", wab)] {
        assert!(
            phone
                .records
                .iter()
                .filter(|r| r.source.as_deref() == Some(source))
                .all(|r| r.path.starts_with(&format!("{root}/"))),
            "{source} items outside {root} on {profile}"
        );
    }
    let count = |f: &dyn Fn(&Record) -> bool| phone.records.iter().filter(|r| f(r)).count();
    for album in [
        "Images",
        "Video",
        "Animated Gifs",
        "Audio",
        "Voice Notes",
        "Documents",
        "Stickers",
        "Statuses",
        "Profile Photos",
        "Wallpaper",
        "Chats",
    ] {
        for source in ["whatsapp", "whatsapp-business"] {
            assert!(
                count(&|r| r.source.as_deref() == Some(source) && r.album.as_deref() == Some(album))
                    > 0,
                "no {source} {album} on {profile}"
            );
        }
    }
    assert!(count(&|r| r.sent) > 0, "no Sent items on {profile}");
    assert!(count(&|r| r.private) > 0, "no Private items on {profile}");
}

#[test]
fn included_and_left_out_follow_the_contract_on_both_profiles() {
    for profile in ["android-10", "android-14"] {
        let phone = populate(profile, 11, SMALL);
        assert_contract(&phone, profile);
        assert_whatsapp_layout(&phone, profile);
    }
}

#[test]
fn both_layouts_puts_whatsapp_in_both_places() {
    let args = [
        "--photos",
        "2",
        "--videos",
        "4",
        "--whatsapp",
        "10",
        "--both-layouts",
    ];
    let phone = populate("android-14", 4, &args);
    assert_contract(&phone, "android-14 --both-layouts");
    assert_truth_matches_folder(&phone);
    for root in [
        "/sdcard/WhatsApp/",
        "/sdcard/Android/media/com.whatsapp/WhatsApp/",
    ] {
        let items = phone
            .records
            .iter()
            .filter(|r| r.source.as_deref() == Some("whatsapp") && r.path.starts_with(root))
            .count();
        assert!(items >= 10, "{items} WhatsApp items under {root}");
    }
}

fn ascii(exif: &exif::Exif, tag: exif::Tag) -> Option<String> {
    match &exif.get_field(tag, exif::In::PRIMARY)?.value {
        exif::Value::Ascii(v) => Some(String::from_utf8(v.first()?.clone()).expect("ASCII")),
        other => panic!("{tag} is not ASCII: {other:?}"),
    }
}

#[test]
fn exif_reads_back_as_the_truth_file_says() {
    let phone = populate("android-14", 5, &["--photos", "40", "--videos", "0"]);
    let photos: Vec<&Record> = phone
        .records
        .iter()
        .filter(|r| r.taken_source.as_deref() == Some("exif"))
        .collect();
    assert!(photos.len() >= 40, "{} photos with EXIF", photos.len());
    let mut orientations = BTreeSet::new();
    let (mut with_thumb, mut with_offset) = (0, 0);
    for (i, r) in photos.iter().enumerate() {
        let bytes = fs::read(phone.host_path(r)).expect("read photo");
        let exif = exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&bytes))
            .unwrap_or_else(|e| panic!("EXIF of {:?}: {e}", r.path));
        let original = ascii(&exif, exif::Tag::DateTimeOriginal).expect("DateTimeOriginal");
        let offset = ascii(&exif, exif::Tag::OffsetTimeOriginal);
        let wall = chrono::NaiveDateTime::parse_from_str(&original, "%Y:%m:%d %H:%M:%S")
            .expect("DateTimeOriginal format");
        let taken = format!(
            "{}{}",
            wall.format("%Y-%m-%dT%H:%M:%S"),
            offset.clone().unwrap_or_default()
        );
        assert_eq!(Some(taken.clone()), r.taken, "taken of {:?}", r.path);
        if let Some(offset) = &offset {
            with_offset += 1;
            let instant = chrono::DateTime::parse_from_rfc3339(&taken).expect("rfc3339");
            let after = r.mtime - instant.timestamp();
            assert!(
                (1..=10).contains(&after),
                "mtime {after} s after EXIF time ({offset})"
            );
        }
        let orientation = exif
            .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            .expect("Orientation");
        assert_eq!(
            Some(orientation as u16),
            r.orientation,
            "orientation of {:?}",
            r.path
        );
        orientations.insert(orientation);
        let width = exif
            .get_field(exif::Tag::PixelXDimension, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0));
        // Decoding is slow in debug builds: a few suffice to show the padding is harmless.
        if i < 4 {
            let main = image::load_from_memory(&bytes).expect("main image decodes despite padding");
            assert_eq!(width, Some(main.width()), "PixelXDimension of {:?}", r.path);
        }
        assert!(exif.get_field(exif::Tag::Make, exif::In::PRIMARY).is_some());

        let start = exif
            .get_field(exif::Tag::JPEGInterchangeFormat, exif::In::THUMBNAIL)
            .and_then(|f| f.value.get_uint(0));
        let len = exif
            .get_field(exif::Tag::JPEGInterchangeFormatLength, exif::In::THUMBNAIL)
            .and_then(|f| f.value.get_uint(0));
        assert_eq!(
            start.is_some(),
            r.exif_thumbnail.expect("JPEG facts"),
            "thumbnail of {:?}",
            r.path
        );
        if let (Some(start), Some(len)) = (start, len) {
            with_thumb += 1;
            let thumb = &exif.buf()[start as usize..(start + len) as usize];
            let thumb = image::load_from_memory_with_format(thumb, image::ImageFormat::Jpeg)
                .expect("thumbnail decodes");
            assert_eq!((thumb.width(), thumb.height()), (160, 120));
        }
        assert!(
            bytes[2..4] == [0xFF, 0xE1] && &bytes[6..12] == b"Exif\0\0",
            "APP1 not right after SOI in {:?}",
            r.path
        );
    }
    assert!(
        orientations.len() >= 3,
        "orientations seen: {orientations:?}"
    );
    assert!(orientations.contains(&1));
    assert!(
        with_thumb > photos.len() / 2 && with_thumb < photos.len(),
        "{with_thumb} thumbnails"
    );
    assert!(with_offset > photos.len() / 2, "{with_offset} offsets");
    let gps = photos
        .iter()
        .filter(|r| {
            let bytes = fs::read(phone.host_path(r)).expect("read");
            let exif = exif::Reader::new()
                .read_from_container(&mut std::io::Cursor::new(&bytes))
                .expect("EXIF");
            exif.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
                .is_some()
        })
        .count();
    assert!(gps > 0 && gps < photos.len(), "{gps} photos with GPS");
}

#[test]
fn names_dates_and_formats_agree() {
    let phone = populate("android-10", 9, SMALL);
    for r in &phone.records {
        let name = r.path.rsplit('/').next().expect("name");
        let ext = extension(name);
        let host = phone.host_path(r);
        if ext == "mp4" {
            let head = fs::read(&host).expect("read video");
            assert_eq!(
                &head[4..8],
                b"ftyp",
                "{:?} does not start with ftyp",
                r.path
            );
        }
        if ext == "png" {
            let img = image::open(&host).expect("screenshot decodes");
            assert!(img.width() > 0);
            assert_eq!(
                r.orientation, None,
                "non-JPEG {:?} has an orientation",
                r.path
            );
        }
        if !r.include {
            continue;
        }
        let taken = r.taken.as_deref().expect("included items have taken");
        if let Some(stamp) = name.strip_prefix("Screenshot_") {
            let wall = chrono::NaiveDateTime::parse_from_str(&stamp[..15], "%Y%m%d-%H%M%S")
                .expect("screenshot name");
            assert_eq!(taken, wall.format("%Y-%m-%dT%H:%M:%S").to_string());
            assert_eq!(r.taken_source.as_deref(), Some("filename"));
        }
        if ["IMG-", "VID-", "AUD-", "PTT-", "DOC-", "STK-"]
            .iter()
            .any(|p| name.starts_with(p))
            && r.source.as_deref() != Some("gallery")
        {
            let day = chrono::NaiveDate::parse_from_str(&name[4..12], "%Y%m%d").expect("WA date");
            assert_eq!(
                taken,
                format!("{}T00:00:00", day.format("%Y-%m-%d")),
                "{:?}",
                r.path
            );
            let mtime_day = chrono::DateTime::from_timestamp(r.mtime, 0)
                .expect("mtime")
                .date_naive();
            assert_eq!(mtime_day, day, "mtime of {:?} not on its day", r.path);
            if ext == "jpg" {
                let bytes = fs::read(&host).expect("read");
                assert!(
                    exif::Reader::new()
                        .read_from_container(&mut std::io::Cursor::new(&bytes))
                        .is_err(),
                    "WhatsApp image {:?} has EXIF",
                    r.path
                );
                image::load_from_memory(&bytes).expect("WhatsApp image decodes");
            }
        }
        if name.starts_with("PXL_") && ext == "mp4" {
            let wall = chrono::NaiveDateTime::parse_from_str(&name[4..19], "%Y%m%d_%H%M%S")
                .expect("Pixel name");
            assert_eq!(taken, format!("{}+00:00", wall.format("%Y-%m-%dT%H:%M:%S")));
        }
        if r.taken_source.as_deref() == Some("mtime") {
            let at = chrono::DateTime::from_timestamp(r.mtime, 0).expect("mtime");
            assert_eq!(taken, at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string());
        }
    }
}

#[test]
fn size_options_set_file_sizes() {
    let phone = populate(
        "android-14",
        2,
        &[
            "--photos",
            "4",
            "--videos",
            "4",
            "--whatsapp",
            "4",
            "--photo-size",
            "300K-310K",
            "--video-size",
            "1M",
            "--whatsapp-size",
            "100K-120K",
        ],
    );
    for r in &phone.records {
        if r.path.starts_with("/sdcard/DCIM/Camera/PXL_") && extension(&r.path) == "jpg" {
            assert!(
                (300 << 10..=310 << 10).contains(&r.size),
                "{:?}: {}",
                r.path,
                r.size
            );
        }
        if r.album.as_deref() == Some("Camera") && extension(&r.path) == "mp4" {
            assert_eq!(r.size, 1 << 20, "{:?}", r.path);
        }
        if r.album.as_deref() == Some("Images") {
            assert!(
                (100 << 10..=120 << 10).contains(&r.size),
                "{:?}: {}",
                r.path,
                r.size
            );
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_phonevault-sim"))
        .args([
            "populate",
            "/nonexistent/x",
            "--truth",
            "/nonexistent/t",
            "--photo-size",
            "4M-2M",
        ])
        .output()
        .expect("run");
    assert!(!bad.status.success(), "a MIN above MAX was accepted");
}

#[test]
fn huge_file_is_sparse_over_4_gib_and_included() {
    let phone = populate(
        "android-14",
        1,
        &[
            "--photos",
            "1",
            "--videos",
            "0",
            "--whatsapp",
            "0",
            "--huge",
        ],
    );
    let r = phone.record("/sdcard/Movies/huge-4.5GiB.mp4");
    assert!(r.size > 4 << 30, "size {}", r.size);
    assert!(r.include);
    assert_eq!(
        (r.source.as_deref(), r.album.as_deref(), r.kind.as_deref()),
        (Some("gallery"), Some("Movies"), Some("video"))
    );
    let host = phone.host_path(r);
    let meta = fs::metadata(&host).expect("metadata");
    assert_eq!(meta.len(), r.size);
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "{} blocks allocated",
        meta.blocks()
    );
    let mut start = [0u8; 8];
    std::io::Read::read_exact(&mut fs::File::open(&host).expect("open"), &mut start)
        .expect("read head");
    assert_eq!(&start[4..8], b"ftyp");
    assert_truth_matches_folder(&phone);
}

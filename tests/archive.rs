//! Archives without a phone: write, read back, verify, extract, and check that 7-Zip and
//! unzip open what we write.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use phonevault::adb::Identity;
use phonevault::archive::{
    ArchiveReader, ArchiveWriter, BackupFolder, HandsetRecord, ItemRecord, Manifest, Password,
    FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY,
};
use phonevault::catalog::{DateSource, Kind, MediaItem, Source, Taken};
use phonevault::progress::NoProgress;
use phonevault::restore::OnConflict;
use phonevault::Error;
use sha2::{Digest, Sha256};

fn identity() -> Identity {
    Identity {
        serial: "R58M12ABCDE".to_owned(),
        model: "SM-G991B".to_owned(),
        manufacturer: "samsung".to_owned(),
        android_version: "14".to_owned(),
        sdk: 34,
    }
}

fn item(source: Source, root: &str, rel_path: &str, size: u64, mtime: i64) -> MediaItem {
    let album = rel_path.rsplit('/').nth(1).unwrap_or("Camera").to_owned();
    MediaItem {
        id: format!("id-{rel_path}"),
        path: format!("{root}/{rel_path}"),
        root: root.to_owned(),
        rel_path: rel_path.to_owned(),
        source,
        album,
        kind: Kind::Photo,
        size,
        mtime,
        taken: Some(Taken {
            local: chrono::NaiveDate::from_ymd_opt(2024, 3, 12)
                .unwrap()
                .and_hms_opt(15, 30, 12)
                .unwrap(),
            offset_seconds: Some(0),
            source: DateSource::Exif,
        }),
        sent: false,
        private: false,
    }
}

/// Deterministic bytes that differ per seed.
fn bytes(seed: u8, len: usize) -> Vec<u8> {
    let mut x = u32::from(seed) | 0x9e37_0000;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn hex(digest: &[u8]) -> String {
    use std::fmt::Write as _;
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn sha_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Four items over the three sources, one with a non-ASCII name, with odd-second mtimes (DOS time cannot hold them).
fn sample() -> Vec<(MediaItem, Vec<u8>)> {
    vec![
        (
            item(
                Source::Gallery,
                "/sdcard",
                "DCIM/Camera/PXL_20240312_153012345.jpg",
                70_001,
                1_710_257_413,
            ),
            bytes(1, 70_001),
        ),
        (
            item(
                Source::Whatsapp,
                "/sdcard/Android/media/com.whatsapp/WhatsApp",
                "Media/WhatsApp Images/Sent/IMG-20240101-WA0001.jpg",
                12_345,
                1_704_103_201,
            ),
            bytes(2, 12_345),
        ),
        (
            item(
                Source::WhatsappBusiness,
                "/sdcard/WhatsApp Business",
                "Media/WhatsApp Business Video/VID-20231231-WA0007.mp4",
                0,
                1_704_000_001,
            ),
            Vec::new(),
        ),
        (
            item(
                Source::Gallery,
                "/sdcard",
                "Pictures/Ünïcødé 写真/IMG 1 (copy).jpg",
                3_001,
                1_600_000_003,
            ),
            bytes(4, 3_001),
        ),
    ]
}

fn write_archive(
    dir: &Path,
    stem: &str,
    password: Option<&Password>,
    items: &[(MediaItem, Vec<u8>)],
) -> PathBuf {
    let mut writer = ArchiveWriter::create(dir, stem, password, &identity()).unwrap();
    for (item, data) in items {
        let mut w = writer.begin_item(item).unwrap();
        // Several writes, as bytes arrive from a phone.
        for chunk in data.chunks(4096) {
            w.write_all(chunk).unwrap();
        }
        w.commit().unwrap();
    }
    writer.set_previews(br#"{"previews":[]}"#.to_vec());
    writer.finish().unwrap()
}

fn mtime_of(path: &Path) -> i64 {
    let modified = fs::metadata(path).unwrap().modified().unwrap();
    i64::try_from(
        modified
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Checks that `dir/<source>/<rel_path>` holds each item's bytes with its exact mtime.
fn assert_extracted(dir: &Path, items: &[(MediaItem, Vec<u8>)]) {
    for (item, data) in items {
        let path = dir.join(item.source.as_str()).join(&item.rel_path);
        let got = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(&got, data, "bytes of {}", path.display());
        assert_eq!(mtime_of(&path), item.mtime, "mtime of {}", path.display());
    }
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is not installed; this test needs it (Debian: apt-get install 7zip unzip)"
    );
    let mut cmd = Command::new(name);
    // A zone far from UTC, so only the exact Unix time in the 0x5455 field gives equal mtimes.
    cmd.env("TZ", "Asia/Kolkata");
    // unzip decodes UTF-8 names only under a UTF-8 locale.
    cmd.env("LC_ALL", "C.UTF-8");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn round_trip_keeps_bytes_mtimes_and_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let items = sample();
    let path = write_archive(tmp.path(), "roundtrip", None, &items);
    assert_eq!(path, tmp.path().join("roundtrip.zip"));
    assert!(!tmp.path().join("roundtrip.zip.partial").exists());

    let mut reader = ArchiveReader::open(&path, None).unwrap();
    let manifest = reader.manifest().clone();
    assert_eq!(manifest.format, FORMAT_NAME);
    assert_eq!(manifest.format_version, FORMAT_VERSION);
    assert_eq!(manifest.handset.serial, "R58M12ABCDE");
    assert!(!manifest.encrypted);
    assert_eq!(manifest.items.len(), items.len());
    for ((item, data), record) in items.iter().zip(&manifest.items) {
        assert_eq!(&record.item, item);
        assert_eq!(record.sha256, sha_hex(data));
        assert_eq!(
            record.entry,
            format!("{}/{}", item.source.as_str(), item.rel_path)
        );
        let mut got = Vec::new();
        reader
            .open_entry(record)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(&got, data);
    }
    assert_eq!(
        reader.previews().unwrap().unwrap(),
        br#"{"previews":[]}"#.to_vec()
    );

    let report = reader.verify(&NoProgress).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.good, 4);
    assert_eq!(report.bytes, 70_001 + 12_345 + 3_001);

    let out = tmp.path().join("out");
    let extracted = reader
        .extract(&out, &mut |_| true, OnConflict::KeepBoth, &NoProgress)
        .unwrap();
    assert_eq!(extracted.written(), 4);
    assert!(extracted.problems.is_empty());
    assert_extracted(&out, &items);

    // The manifest on disk is the JSON docs/archive.md describes.
    let mut zip = zip::ZipArchive::new(fs::File::open(&path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(MANIFEST_ENTRY)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["format"], "phonevault-archive");
    assert_eq!(json["handset"]["model"], "SM-G991B");
    let first = &json["items"][0];
    assert_eq!(
        first["path"],
        "/sdcard/DCIM/Camera/PXL_20240312_153012345.jpg"
    );
    assert_eq!(
        first["entry"],
        "gallery/DCIM/Camera/PXL_20240312_153012345.jpg"
    );
    assert_eq!(first["source"], "gallery");
    assert_eq!(first["mtime"], 1_710_257_413);
    assert_eq!(first["sha256"], sha_hex(&items[0].1));
    assert_eq!(first["taken"]["source"], "exif");
    // Media are stored, not deflated.
    let media = zip
        .by_name("gallery/DCIM/Camera/PXL_20240312_153012345.jpg")
        .unwrap();
    assert_eq!(media.compression(), zip::CompressionMethod::Stored);
}

#[test]
fn seven_zip_and_unzip_open_a_plain_archive_with_exact_mtimes() {
    let tmp = tempfile::tempdir().unwrap();
    let items = sample();
    let path = write_archive(tmp.path(), "plain", None, &items);

    run_ok(tool("7zz").arg("t").arg(&path));
    let by_7zz = tmp.path().join("by7zz");
    run_ok(
        tool("7zz")
            .arg("x")
            .arg(format!("-o{}", by_7zz.display()))
            .arg(&path),
    );
    assert_extracted(&by_7zz, &items);
    assert!(by_7zz.join(MANIFEST_ENTRY).is_file());

    let by_unzip = tmp.path().join("byunzip");
    run_ok(tool("unzip").arg("-q").arg(&path).arg("-d").arg(&by_unzip));
    assert_extracted(&by_unzip, &items);
}

#[test]
fn seven_zip_opens_an_encrypted_archive_with_the_password() {
    let tmp = tempfile::tempdir().unwrap();
    let items = sample();
    let password = Password::new("correct horse battery stäple €").unwrap();
    let path = write_archive(tmp.path(), "secret", Some(&password), &items);

    // Every entry, the manifest too, is AES-256.
    let listing = run_ok(tool("7zz").args(["l", "-slt", "-p-"]).arg(&path));
    let methods: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("Method = "))
        .collect();
    assert_eq!(methods.len(), 6, "{listing}");
    assert!(methods.iter().all(|m| m.contains("AES-256")), "{methods:?}");

    run_ok(
        tool("7zz")
            .arg("t")
            .arg(concat!("-p", "correct horse battery stäple €"))
            .arg(&path),
    );
    let wrong = tool("7zz")
        .arg("t")
        .arg("-pnope")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "7zz accepted a wrong password");

    let out = tmp.path().join("by7zz");
    run_ok(
        tool("7zz")
            .arg("x")
            .arg(concat!("-p", "correct horse battery stäple €"))
            .arg(format!("-o{}", out.display()))
            .arg(&path),
    );
    assert_extracted(&out, &items);

    let mut reader = ArchiveReader::open(&path, Some(&password)).unwrap();
    assert!(reader.manifest().encrypted);
    assert!(reader.verify(&NoProgress).unwrap().is_clean());
}

#[test]
fn wrong_or_missing_password_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let password = Password::new("right").unwrap();
    let path = write_archive(tmp.path(), "secret", Some(&password), &sample());

    let wrong = Password::new("wrong").unwrap();
    let err = ArchiveReader::open(&path, Some(&wrong)).unwrap_err();
    assert!(
        matches!(&err, Error::WrongPassword { path: p } if p == &path),
        "{err}"
    );
    assert!(err.to_string().contains("wrong password"), "{err}");

    let err = ArchiveReader::open(&path, None).unwrap_err();
    assert!(matches!(err, Error::PasswordNeeded), "{err}");

    // The same wrong password also stops a folder scan instead of re-copying everything.
    let err = BackupFolder::open(tmp.path(), Some(&wrong)).unwrap_err();
    assert!(matches!(err, Error::WrongPassword { .. }), "{err}");
}

#[test]
fn truncated_archive_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_archive(tmp.path(), "cut", None, &sample());
    let data = fs::read(&path).unwrap();
    fs::write(&path, &data[..data.len() / 2]).unwrap();
    let err = ArchiveReader::open(&path, None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Archive { .. }), "{text}");
    assert!(text.contains("cut.zip"), "{text}");
    assert!(text.contains("truncated or damaged"), "{text}");
}

/// Flips one byte in the middle of the first item's data.
fn flip_byte_in_first_item(path: &Path, data_prefix: &[u8]) {
    let mut data = fs::read(path).unwrap();
    let at = data
        .windows(data_prefix.len())
        .position(|w| w == data_prefix)
        .expect("item bytes are stored as-is");
    data[at + 1000] ^= 0x40;
    fs::write(path, data).unwrap();
}

#[test]
fn flipped_byte_is_found_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let items = sample();
    let path = write_archive(tmp.path(), "flip", None, &items);
    flip_byte_in_first_item(&path, &items[0].1[..64]);

    let mut reader = ArchiveReader::open(&path, None).unwrap();
    let report = reader.verify(&NoProgress).unwrap();
    assert_eq!(report.good, 3);
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(
        report.problems[0].entry,
        "gallery/DCIM/Camera/PXL_20240312_153012345.jpg"
    );
    assert!(
        report.problems[0].detail.contains("damaged")
            || report.problems[0].detail.contains("SHA-256"),
        "{:?}",
        report.problems[0]
    );

    // Extract writes the good ones and leaves the damaged one out.
    let out = tmp.path().join("out");
    let extracted = reader
        .extract(&out, &mut |_| true, OnConflict::KeepBoth, &NoProgress)
        .unwrap();
    assert_eq!(extracted.written(), 3);
    assert_eq!(extracted.problems.len(), 1);
    assert!(!out
        .join("gallery/DCIM/Camera/PXL_20240312_153012345.jpg")
        .exists());
}

#[test]
fn flipped_byte_in_an_encrypted_archive_is_found_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let items = sample();
    let password = Password::new("pw").unwrap();
    let path = write_archive(tmp.path(), "flip", Some(&password), &items);
    // Encrypted bytes cannot be searched for; the first entry's data starts right after its
    // local header (30 bytes + name + extra fields), so flip a byte well inside it.
    let mut data = fs::read(&path).unwrap();
    data[5000] ^= 0x01;
    fs::write(&path, data).unwrap();

    let mut reader = ArchiveReader::open(&path, Some(&password)).unwrap();
    let report = reader.verify(&NoProgress).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(
        report.problems[0].entry,
        "gallery/DCIM/Camera/PXL_20240312_153012345.jpg"
    );
    assert_eq!(report.good, 3);
}

/// A zip made by hand whose manifest names entries that would escape the folder.
fn crafted_archive(dir: &Path, evil_entry: &str) -> PathBuf {
    let path = dir.join("crafted.zip");
    let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file(evil_entry, options).unwrap();
    zip.write_all(b"evil").unwrap();
    let mut item = item(Source::Gallery, "/sdcard", "DCIM/x.jpg", 4, 1_700_000_000);
    evil_entry.clone_into(&mut item.rel_path);
    let manifest = Manifest {
        format: FORMAT_NAME.to_owned(),
        format_version: FORMAT_VERSION,
        tool: "handmade".to_owned(),
        created: chrono::Utc::now(),
        handset: HandsetRecord::from(&identity()),
        encrypted: false,
        previews: None,
        items: vec![ItemRecord {
            entry: evil_entry.to_owned(),
            sha256: sha_hex(b"evil"),
            item,
        }],
    };
    zip.start_file(MANIFEST_ENTRY, options).unwrap();
    zip.write_all(&serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn extract_refuses_names_that_escape() {
    for evil in [
        "../evil",
        "/tmp/phonevault-evil-abs",
        "gallery/../../evil",
        "a\\..\\evil",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let path = crafted_archive(tmp.path(), evil);
        let mut reader = ArchiveReader::open(&path, None).unwrap();
        let out = tmp.path().join("out");
        // Refused and listed, not written; the other items would be extracted.
        let report = reader
            .extract(&out, &mut |_| true, OnConflict::KeepBoth, &NoProgress)
            .unwrap();
        assert_eq!(report.written(), 0, "{evil}: {report:?}");
        assert_eq!(report.problems.len(), 1, "{evil}: {report:?}");
        assert_eq!(report.problems[0].entry, evil);
        assert!(
            report.problems[0].detail.contains("refusing unsafe path"),
            "{evil}: {report:?}"
        );
        assert!(!tmp.path().join("evil").exists());
        assert!(!Path::new("/tmp/phonevault-evil-abs").exists());
        assert!(!out.exists(), "{evil}: something was written");
    }
}

#[test]
fn writer_refuses_unsafe_rel_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let mut writer = ArchiveWriter::create(tmp.path(), "w", None, &identity()).unwrap();
    let bad = item(Source::Gallery, "/sdcard", "../../etc/passwd", 1, 1);
    assert!(matches!(
        writer.begin_item(&bad),
        Err(Error::UnsafePath { .. })
    ));
    writer.abandon().unwrap();
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn dropped_writer_leaves_only_a_partial_that_the_folder_cleans() {
    let tmp = tempfile::tempdir().unwrap();
    let items = sample();
    let done = write_archive(
        tmp.path(),
        "phonevault-R58M12ABCDE-20240101-000000",
        None,
        &items,
    );
    {
        let mut writer = ArchiveWriter::create_in(tmp.path(), None, &identity()).unwrap();
        let mut w = writer.begin_item(&items[0].0).unwrap();
        w.write_all(&items[0].1[..5000]).unwrap();
        // The cable is pulled: everything is dropped mid-item.
    }
    let names: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let partial = names
        .iter()
        .find(|n| n.ends_with(".zip.partial"))
        .expect("a .partial is left");
    assert!(partial.starts_with("phonevault-R58M12ABCDE-"), "{partial}");

    let scan = BackupFolder::open(tmp.path(), None).unwrap();
    assert_eq!(scan.removed_partials, vec![tmp.path().join(partial)]);
    assert!(scan.unreadable.is_empty());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    let archives: Vec<&Path> = scan.folder.archives().map(|(p, _)| p).collect();
    assert_eq!(archives, vec![done.as_path()]);
    let (first, _) = &items[0];
    assert!(scan.folder.contains(&first.path, first.size, first.mtime));
    assert!(!scan
        .folder
        .contains(&first.path, first.size, first.mtime + 1));
    assert!(!scan.folder.contains("/sdcard/DCIM/Camera/other.jpg", 1, 1));
}

#[test]
fn finish_after_failed_items_keeps_only_whole_ones() {
    failed_items_are_left_out(None);
}

#[test]
fn finish_after_failed_items_keeps_only_whole_ones_encrypted() {
    failed_items_are_left_out(Some("pw"));
}

fn failed_items_are_left_out(password: Option<&str>) {
    let tmp = tempfile::tempdir().unwrap();
    let items = sample();
    let password = password.map(|p| Password::new(p).unwrap());
    let mut writer =
        ArchiveWriter::create(tmp.path(), "partialrun", password.as_ref(), &identity()).unwrap();

    let mut w = writer.begin_item(&items[1].0).unwrap();
    w.write_all(&items[1].1).unwrap();
    w.commit().unwrap();

    // The phone sent fewer bytes than it announced.
    let mut w = writer.begin_item(&items[0].0).unwrap();
    w.write_all(&items[0].1[..60_000]).unwrap();
    let err = w.commit().unwrap_err();
    assert!(
        matches!(
            err,
            Error::ItemIncomplete {
                expected: 70_001,
                written: 60_000,
                ..
            }
        ),
        "{err}"
    );

    // More bytes than announced are refused on the write itself.
    let mut small = items[1].0.clone();
    "Media/WhatsApp Images/IMG-20240101-WA0002.jpg".clone_into(&mut small.rel_path);
    small.size = 10;
    let mut w = writer.begin_item(&small).unwrap();
    assert!(w.write_all(&[0u8; 11]).is_err());
    drop(w);

    // A later item can reuse the failed one's entry name once it is whole.
    let mut w = writer.begin_item(&items[0].0).unwrap();
    w.write_all(&items[0].1[..30_000]).unwrap();
    drop(w); // interrupted: the last entry is discarded

    let path = writer.finish().unwrap();
    let mut reader = ArchiveReader::open(&path, password.as_ref()).unwrap();
    let entries: Vec<&str> = reader
        .manifest()
        .items
        .iter()
        .map(|r| r.entry.as_str())
        .collect();
    assert_eq!(
        entries,
        vec!["whatsapp/Media/WhatsApp Images/Sent/IMG-20240101-WA0001.jpg"]
    );
    assert!(reader.verify(&NoProgress).unwrap().is_clean());
    let listing = run_ok(tool("7zz").arg("l").arg(&path));
    assert!(!listing.contains("PXL_"), "{listing}");
    if password.is_some() {
        run_ok(tool("7zz").arg("t").arg("-ppw").arg(&path));
    } else {
        run_ok(tool("7zz").arg("t").arg(&path));
        run_ok(tool("unzip").arg("-tq").arg(&path));
    }
}

#[test]
fn writer_and_reader_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<ArchiveWriter>();
    assert_send::<ArchiveReader>();
    assert_send::<BackupFolder>();
}

#[test]
fn more_than_65535_entries_use_zip64_end_records() {
    const COUNT: usize = 70_000;
    let tmp = tempfile::tempdir().unwrap();
    let mut writer = ArchiveWriter::create(tmp.path(), "many", None, &identity()).unwrap();
    for i in 0..COUNT {
        let name = format!("Media/WhatsApp Stickers/STK-20240101-WA{i:05}.webp");
        let item = item(
            Source::Whatsapp,
            "/sdcard/WhatsApp",
            &name,
            1,
            1_704_067_200 + i64::try_from(i).unwrap(),
        );
        let mut w = writer.begin_item(&item).unwrap();
        w.write_all(&[(i % 251) as u8]).unwrap();
        w.commit().unwrap();
    }
    let path = writer.finish().unwrap();
    let mut reader = ArchiveReader::open(&path, None).unwrap();
    assert_eq!(reader.manifest().items.len(), COUNT);
    let report = reader.verify(&NoProgress).unwrap();
    assert!(
        report.is_clean(),
        "{:?}",
        &report.problems[..3.min(report.problems.len())]
    );
    assert_eq!(report.good, COUNT);
    let tested = run_ok(tool("7zz").arg("t").arg(&path));
    assert!(
        tested.contains(&format!("Files: {}", COUNT + 1)),
        "{tested}"
    );
}

#[test]
fn abandon_removes_the_partial_and_names_are_not_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = ArchiveWriter::create_in(tmp.path(), None, &identity()).unwrap();
    let first = writer.target_path().to_path_buf();
    let second = ArchiveWriter::create_in(tmp.path(), None, &identity()).unwrap();
    assert_ne!(second.target_path(), first.as_path());
    writer.abandon().unwrap();
    let second = second.finish().unwrap();
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    assert!(second.exists());
    let err = ArchiveWriter::create(
        tmp.path(),
        second.file_stem().unwrap().to_str().unwrap(),
        None,
        &identity(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

/// Repeats a 1 MiB pattern up to `len` bytes without holding them all.
struct Pattern {
    block: Vec<u8>,
    left: u64,
    at: usize,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.block.len() - self.at)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

/// Takes tens of seconds in a debug build: 4.1 GiB are written, hashed, read back by our
/// verify and by `7zz t`.
#[test]
fn entry_over_4_gib_round_trips_via_zip64() {
    const SIZE: u64 = 4 * 1024 * 1024 * 1024 + 100 * 1024 * 1024 + 7;
    let tmp = tempfile::tempdir().unwrap();
    let mut big = item(
        Source::Gallery,
        "/sdcard",
        "Movies/long.mp4",
        SIZE,
        1_700_000_001,
    );
    big.kind = Kind::Video;
    let small = sample().swap_remove(1);

    let mut writer = ArchiveWriter::create(tmp.path(), "big", None, &identity()).unwrap();
    let mut source = Pattern {
        block: bytes(9, 1024 * 1024),
        left: SIZE,
        at: 0,
    };
    let mut hasher = Sha256::new();
    let mut w = writer.begin_item(&big).unwrap();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = source.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        w.write_all(&buf[..n]).unwrap();
    }
    let record = w.commit().unwrap();
    let expected = hex(&hasher.finalize());
    assert_eq!(record.sha256, expected);
    let mut w = writer.begin_item(&small.0).unwrap();
    w.write_all(&small.1).unwrap();
    w.commit().unwrap();
    let path = writer.finish().unwrap();
    assert!(fs::metadata(&path).unwrap().len() > SIZE);

    let mut reader = ArchiveReader::open(&path, None).unwrap();
    assert_eq!(reader.manifest().items[0].item.size, SIZE);
    let report = reader.verify(&NoProgress).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.bytes, SIZE + small.0.size);
    drop(reader);

    let listing = run_ok(tool("7zz").arg("t").arg(&path));
    assert!(listing.contains("Everything is Ok"), "{listing}");
    fs::remove_file(&path).unwrap();
}

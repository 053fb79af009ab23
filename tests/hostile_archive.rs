//! Issue 16, hostile archives: archives that are truncated, have a flipped byte (in an item,
//! in the central directory, in the manifest), name paths that climb out, disagree with their
//! own manifest, hold more than 65,535 entries, or are opened with a wrong password. Each of
//! `show`, `verify`, `extract` and `restore` is run as a user would run it, and each must end
//! with a clear message naming what is wrong (exit status asserted), never panic, never write
//! outside its destination, and never leave damaged bytes under a real name on the phone.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bytes_of, stdout_json, HandsetSpec, TestEnv};
use phonevault::adb::Identity;
use phonevault::archive::{
    ArchiveWriter, HandsetRecord, Password, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY,
};
use phonevault::catalog::{Kind, MediaItem, Source};

fn identity() -> Identity {
    Identity {
        serial: "R58M12ABCDE".to_owned(),
        model: "SM-G991B".to_owned(),
        manufacturer: "samsung".to_owned(),
        android_version: "14".to_owned(),
        sdk: 34,
    }
}

fn item(source: Source, root: &str, rel_path: &str, kind: Kind, size: usize) -> MediaItem {
    MediaItem {
        id: format!("id-{rel_path}"),
        path: format!("{root}/{rel_path}"),
        root: root.to_owned(),
        rel_path: rel_path.to_owned(),
        source,
        album: rel_path.rsplit('/').nth(1).unwrap_or("").to_owned(),
        kind,
        size: size as u64,
        mtime: 1_700_000_001,
        taken: None,
        sent: false,
        private: false,
    }
}

/// Three items, one per source folder kind: what most tests archive.
fn items() -> Vec<(MediaItem, Vec<u8>)> {
    let photo = "DCIM/Camera/IMG_20240101_101010.jpg";
    let clip = "Movies/clip.mp4";
    let chat = "Media/WhatsApp Images/IMG-20240101-WA0001.jpg";
    vec![
        (
            item(Source::Gallery, "/sdcard", photo, Kind::Photo, 6000),
            bytes_of(1, 6000),
        ),
        (
            item(Source::Gallery, "/sdcard", clip, Kind::Video, 9000),
            bytes_of(2, 9000),
        ),
        (
            item(
                Source::Whatsapp,
                "/sdcard/WhatsApp",
                chat,
                Kind::Photo,
                3000,
            ),
            bytes_of(3, 3000),
        ),
    ]
}

/// Where an item of [`items`] lands on an Android 14 phone, relative to its storage.
fn on_phone(item: &MediaItem) -> String {
    match item.source {
        Source::Whatsapp => format!("Android/media/com.whatsapp/WhatsApp/{}", item.rel_path),
        _ => item.rel_path.clone(),
    }
}

/// Writes `items` into `<dir>/<stem>.zip` with phonevault's own writer.
fn write_archive(
    dir: &Path,
    stem: &str,
    password: Option<&str>,
    items: &[(MediaItem, Vec<u8>)],
) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let password = password.map(|p| Password::new(p).unwrap());
    let mut writer = ArchiveWriter::create(dir, stem, password.as_ref(), &identity()).unwrap();
    for (item, data) in items {
        let mut w = writer.begin_item(item).unwrap();
        w.write_all(data).unwrap();
        w.commit().unwrap();
    }
    writer.finish().unwrap()
}

/// Copies the archive `from` to `to` entry by entry (stored bytes as they are), with the
/// manifest's JSON changed by `edit_manifest`, the entries named in `drop` left out, and
/// `extra` entries added.
fn rewrite(
    from: &Path,
    to: &Path,
    edit_manifest: impl FnOnce(&mut serde_json::Value),
    drop: &[&str],
    extra: &[(&str, &[u8])],
) {
    let mut source = zip::ZipArchive::new(fs::File::open(from).unwrap()).unwrap();
    let mut target = zip::ZipWriter::new(fs::File::create(to).unwrap());
    let mut manifest = None;
    for i in 0..source.len() {
        let name = source.by_index_raw(i).unwrap().name().unwrap().into_owned();
        if name == MANIFEST_ENTRY {
            let mut json = String::new();
            source
                .by_index(i)
                .unwrap()
                .read_to_string(&mut json)
                .unwrap();
            manifest = Some(serde_json::from_str::<serde_json::Value>(&json).unwrap());
        } else if !drop.contains(&name.as_str()) {
            target
                .raw_copy_file(source.by_index_raw(i).unwrap())
                .unwrap();
        }
    }
    let options = zip::write::SimpleFileOptions::default();
    for (name, data) in extra {
        target.start_file(*name, options).unwrap();
        target.write_all(data).unwrap();
    }
    let mut manifest = manifest.expect("the archive has a manifest");
    edit_manifest(&mut manifest);
    target.start_file(MANIFEST_ENTRY, options).unwrap();
    target
        .write_all(&serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    target.finish().unwrap();
}

/// Where the stored bytes of `entry` start in the file, and how many there are.
fn stored_span(archive: &Path, entry: &str) -> (usize, usize) {
    let mut zip = zip::ZipArchive::new(fs::File::open(archive).unwrap()).unwrap();
    let file = zip.by_name_raw(entry.as_bytes()).unwrap();
    (
        usize::try_from(file.data_start().unwrap()).unwrap(),
        usize::try_from(file.compressed_size()).unwrap(),
    )
}

/// Offset of the central directory's first record (signature `PK\1\2`).
fn central_directory_start(data: &[u8]) -> usize {
    let eocd = data
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .expect("an end of central directory record");
    let at = u32::from_le_bytes(data[eocd + 16..eocd + 20].try_into().unwrap());
    usize::try_from(at).unwrap()
}

fn flip(path: &Path, at: usize) {
    let mut data = fs::read(path).unwrap();
    data[at] ^= 0xff;
    fs::write(path, data).unwrap();
}

/// Every file under `dir` (relative path -> bytes); empty when `dir` does not exist.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(rel, fs::read(&path).unwrap_or_default());
            }
        }
    }
    found
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The run ended by itself with `code`, without a panic.
fn assert_exit(out: &Output, code: i32, what: &str) {
    let said = text(out);
    assert!(
        !said.contains("panicked") && out.status.code() != Some(101),
        "{what} panicked: {said}"
    );
    assert_eq!(out.status.code(), Some(code), "{what}: {said}");
}

/// One test's world: a folder of archives, a folder to extract into (inside a parent folder
/// that must stay as it is), and an empty Android 14 phone to restore onto.
struct World {
    env: TestEnv,
    phone: common::Handset,
    /// Holds the archives and `out/` (the extraction destination's parent).
    work: PathBuf,
}

impl World {
    fn new() -> World {
        let env = TestEnv::new();
        let phone = env.start_handset(HandsetSpec::android14());
        let work = env.new_dir("work");
        World { env, phone, work }
    }

    fn archives(&self) -> PathBuf {
        self.work.join("archives")
    }

    fn dest(&self) -> PathBuf {
        self.work.join("out").join("dest")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.env.phonevault(args)
    }

    fn show(&self, archive: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["show", archive.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn verify(&self, archive: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["verify", archive.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Extracts into a fresh destination (the one from the last call is removed first).
    fn extract(&self, archive: &Path, extra: &[&str]) -> Output {
        let _ = fs::remove_dir_all(self.dest());
        let dest = self.dest();
        let mut args = vec![
            "-q",
            "extract",
            archive.to_str().unwrap(),
            "--to",
            dest.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn restore(&self, archive: &Path, extra: &[&str]) -> Output {
        let serial = self.phone.serial();
        let mut args = vec![
            "-s",
            &serial,
            "-q",
            "restore",
            archive.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Every file on the phone (relative to its storage), temporary ones included.
    fn phone_files(&self) -> BTreeMap<String, Vec<u8>> {
        tree(self.phone.storage())
    }

    /// Empties the phone between cases.
    fn wipe_phone(&self) {
        for entry in fs::read_dir(self.phone.storage()).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                fs::remove_dir_all(&path).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
        }
    }

    /// Everything in the work folder but the destination, and everything in the test's
    /// folder but the phone's storage and the sim's own files: what no command may touch.
    fn surroundings(&self) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>) {
        let work = tree(&self.work)
            .into_iter()
            .filter(|(p, _)| !p.starts_with("out/dest"))
            .collect();
        let storage = self.phone.storage();
        let rest = tree(self.env.path())
            .into_iter()
            .filter(|(p, _)| {
                let abs = self.env.path().join(p);
                !abs.starts_with(&self.work)
                    && !abs.starts_with(storage)
                    && !abs.starts_with(self.phone.dir())
                    && !abs.starts_with(self.env.home())
            })
            .collect();
        (work, rest)
    }
}

/// The phone holds exactly `expected` (relative path -> bytes): whole, byte-identical files
/// under their real names, nothing else (no temporary file either).
fn assert_phone_holds(world: &World, expected: &BTreeMap<String, Vec<u8>>, what: &str) {
    let found = world.phone_files();
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&found), names(expected), "{what}: files on the phone");
    for (name, bytes) in expected {
        assert!(found[name] == *bytes, "{what}: {name} differs on the phone");
    }
}

/// The extraction destination holds exactly `expected` (entry name -> bytes).
fn assert_dest_holds(world: &World, expected: &BTreeMap<String, Vec<u8>>, what: &str) {
    let found = tree(&world.dest());
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&found), names(expected), "{what}: files extracted");
    for (name, bytes) in expected {
        assert!(found[name] == *bytes, "{what}: {name} differs");
    }
}

fn expected_dest(items: &[(MediaItem, Vec<u8>)]) -> BTreeMap<String, Vec<u8>> {
    items
        .iter()
        .map(|(i, b)| (format!("{}/{}", i.source.as_str(), i.rel_path), b.clone()))
        .collect()
}

fn expected_phone(items: &[(MediaItem, Vec<u8>)]) -> BTreeMap<String, Vec<u8>> {
    items
        .iter()
        .map(|(i, b)| (on_phone(i), b.clone()))
        .collect()
}

/// Nothing changed around the commands but the record `verify` keeps beside `archive`.
fn assert_only_verify_record_added(
    world: &World,
    before: (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>),
    archive: &Path,
    what: &str,
) {
    let (work, rest) = world.surroundings();
    assert_eq!(rest, before.1, "{what}: files changed outside");
    let mut expected = before.0;
    let record = format!(
        "archives/{}.damaged.json",
        archive.file_name().unwrap().to_str().unwrap()
    );
    let kept = work.get(&record).cloned();
    expected.insert(
        record,
        kept.expect("verify keeps its record beside the archive"),
    );
    assert_eq!(work, expected, "{what}: files changed beside the archive");
}

/// Runs all four commands on an archive that cannot be opened: each exits 1 naming the
/// archive and `reason`, and nothing is written anywhere.
fn assert_refused_by_all(world: &World, archive: &Path, reason: &str, what: &str) {
    let before = world.surroundings();
    let name = archive.file_name().unwrap().to_str().unwrap();
    for (command, out) in [
        ("show", world.show(archive, &[])),
        ("verify", world.verify(archive, &[])),
        ("extract", world.extract(archive, &[])),
        ("restore", world.restore(archive, &[])),
    ] {
        let what = format!("{what}: {command}");
        assert_exit(&out, 1, &what);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains(name),
            "{what} does not name the archive: {said}"
        );
        assert!(
            said.contains(reason),
            "{what} does not say {reason:?}: {said}"
        );
    }
    assert!(
        !world.dest().exists(),
        "{what}: extract made its destination"
    );
    assert_eq!(
        world.surroundings(),
        before,
        "{what}: files changed outside"
    );
    assert_phone_holds(world, &BTreeMap::new(), what);
}

/// Cut at every 16th of the file, inside the central directory and inside the end record:
/// every command refuses the archive as truncated, and nothing is written.
#[test]
fn a_truncated_archive_is_refused_by_every_command() {
    let world = World::new();
    let whole = write_archive(&world.archives(), "whole", None, &items());
    let data = fs::read(&whole).unwrap();
    let cd = central_directory_start(&data);
    let len = data.len();
    let mut cuts: Vec<usize> = (1..16).map(|k| len * k / 16).collect();
    cuts.extend([
        cd,
        cd + 1,
        cd + 30,
        usize::midpoint(cd, len),
        len - 22,
        len - 10,
        len - 1,
    ]);
    cuts.sort_unstable();
    cuts.dedup();
    let cut_path = world.archives().join("cut.zip");
    for at in cuts {
        fs::write(&cut_path, &data[..at]).unwrap();
        assert_refused_by_all(
            &world,
            &cut_path,
            "truncated or damaged",
            &format!("cut at {at} of {len}"),
        );
    }

    // The same items in a zip with zip64 end records (what an archive of more than 65,535
    // entries ends with): cut inside the zip64 end record, its locator and the end record.
    let mut manifest = Vec::new();
    zip::ZipArchive::new(fs::File::open(&whole).unwrap())
        .unwrap()
        .by_name(MANIFEST_ENTRY)
        .unwrap()
        .read_to_end(&mut manifest)
        .unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = items()
        .into_iter()
        .map(|(i, b)| (format!("{}/{}", i.source.as_str(), i.rel_path), b))
        .collect();
    entries.push((MANIFEST_ENTRY.to_owned(), manifest));
    let (data, _) = stored_zip64(&entries);
    let zip64 = world.archives().join("zip64.zip");
    fs::write(&zip64, &data).unwrap();
    let out = world.verify(&zip64, &[]);
    assert_exit(&out, 0, "the whole zip64-ended archive");
    fs::remove_file(verify_record(&zip64)).ok();
    // zip64 end record (56 bytes), locator (20), end record (22).
    let len = data.len();
    let zip64_end = len - 22 - 20 - 56;
    for at in [
        zip64_end,
        zip64_end + 4,
        zip64_end + 40,
        len - 42,
        len - 30,
        len - 22,
        len - 12,
    ] {
        fs::write(&cut_path, &data[..at]).unwrap();
        assert_refused_by_all(
            &world,
            &cut_path,
            "truncated or damaged",
            &format!("zip64-ended, cut at {at} of {len}"),
        );
    }
}

/// Every byte of the zip64 end record, its locator and the end record flipped in turn (high
/// bits first: a count or an offset of 2^56 is what a careless reader allocates for): `verify`
/// never panics nor aborts, and either refuses the archive naming it or checks the items.
#[test]
fn a_flipped_byte_in_the_zip64_end_records_never_panics() {
    let world = World::new();
    let mut entries: Vec<(String, Vec<u8>)> = items()
        .into_iter()
        .map(|(i, b)| (format!("{}/{}", i.source.as_str(), i.rel_path), b))
        .collect();
    let whole = write_archive(&world.archives(), "whole", None, &items());
    let mut manifest = Vec::new();
    zip::ZipArchive::new(fs::File::open(&whole).unwrap())
        .unwrap()
        .by_name(MANIFEST_ENTRY)
        .unwrap()
        .read_to_end(&mut manifest)
        .unwrap();
    entries.push((MANIFEST_ENTRY.to_owned(), manifest));
    let (data, _) = stored_zip64(&entries);
    let flipped = world.archives().join("flipped64.zip");
    let len = data.len();
    for at in len - 22 - 20 - 56..len {
        for mask in [0x80u8, 0x01] {
            let mut copy = data.clone();
            copy[at] ^= mask;
            fs::write(&flipped, &copy).unwrap();
            let out = world.verify(&flipped, &[]);
            let said = text(&out);
            let what = format!("byte {} from the end ^ {mask:#x}", len - at);
            assert!(
                !said.contains("panicked") && out.status.code() != Some(101),
                "{what}: verify panicked: {said}"
            );
            match out.status.code() {
                Some(0 | 3) => {}
                Some(1) => assert!(said.contains("flipped64.zip"), "{what}: {said}"),
                other => panic!("{what}: exit {other:?}: {said}"),
            }
        }
    }
}

fn verify_record(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_os_string();
    name.push(".damaged.json");
    PathBuf::from(name)
}

/// A flipped byte inside an item's stored bytes: `verify`, `extract` and `restore` name the
/// entry and handle the other items; the damaged one is written nowhere. `show` reads only
/// the manifest and the zip's directory, so it lists the item (it cannot know).
#[test]
fn a_flipped_byte_in_an_item_is_named_and_the_rest_is_kept() {
    for password in [None, Some("pw")] {
        let world = World::new();
        let all = items();
        let archive = write_archive(&world.archives(), "flip", password, &all);
        let victim = &all[1].0;
        let entry = format!("gallery/{}", victim.rel_path);
        let (start, len) = stored_span(&archive, &entry);
        flip(&archive, start + len / 2);
        let pw: &[&str] = if password.is_some() {
            &["--password-file", "pw.txt"]
        } else {
            &[]
        };
        let pw_file = world.work.join("pw.txt");
        fs::write(&pw_file, "pw\n").unwrap();
        let pw: Vec<&str> = pw
            .iter()
            .map(|a| {
                if *a == "pw.txt" {
                    pw_file.to_str().unwrap()
                } else {
                    a
                }
            })
            .collect();
        let what = format!("password {password:?}");
        let before = world.surroundings();

        let out = world.show(&archive, &pw);
        assert_exit(&out, 0, &format!("{what}: show"));

        let out = world.verify(&archive, &pw);
        assert_exit(&out, 3, &format!("{what}: verify"));
        assert!(
            text(&out).contains(&format!("BAD  {entry}: ")),
            "{what}: {}",
            text(&out)
        );

        let out = world.extract(&archive, &pw);
        assert_exit(&out, 3, &format!("{what}: extract"));
        assert!(
            text(&out).contains(&format!("NOT WRITTEN  {entry}: ")),
            "{what}: {}",
            text(&out)
        );
        let good: Vec<_> = all.iter().filter(|(i, _)| i != victim).cloned().collect();
        assert_dest_holds(&world, &expected_dest(&good), &what);

        let out = world.restore(&archive, &pw);
        assert_exit(&out, 3, &format!("{what}: restore"));
        let report = stdout_json(&out);
        assert_eq!(report["failed"], 1, "{what}: {report}");
        assert_eq!(
            report["failures"][0]["path"], victim.path,
            "{what}: {report}"
        );
        assert_phone_holds(&world, &expected_phone(&good), &what);

        assert_only_verify_record_added(&world, before, &archive, &what);
    }
}

/// Every byte of the central directory and the end record flipped in turn: `verify` never
/// panics, and either refuses the archive (exit 1, naming it), names a damaged entry (exit
/// 3), or finds every item whole (a field no reader needs, exit 0). For the fields that
/// locate an item's bytes, `extract` and `restore` are run too: the item is named, and only
/// whole items are written.
#[test]
fn a_flipped_byte_in_the_central_directory_never_panics_and_is_named() {
    let world = World::new();
    let all = items();
    let whole = write_archive(&world.archives(), "whole", None, &all);
    let data = fs::read(&whole).unwrap();
    let cd = central_directory_start(&data);
    let flipped = world.archives().join("flipped.zip");
    let entries: Vec<String> = all
        .iter()
        .map(|(i, _)| format!("{}/{}", i.source.as_str(), i.rel_path))
        .collect();
    // The first record, field by field, and the end record: the other records are laid out
    // the same way.
    let second_record = cd
        + 4
        + data[cd + 4..]
            .windows(4)
            .position(|w| w == b"PK\x01\x02")
            .expect("a second central directory record");
    let eocd = data.len() - 22;
    let mut outcomes = BTreeMap::new();
    for at in (cd..second_record).chain(eocd..data.len()) {
        let mut copy = data.clone();
        copy[at] ^= 0xff;
        fs::write(&flipped, &copy).unwrap();
        let out = world.verify(&flipped, &[]);
        let said = text(&out);
        let what = format!("byte {at} (central directory at {cd})");
        assert!(
            !said.contains("panicked") && out.status.code() != Some(101),
            "{what}: verify panicked: {said}"
        );
        match out.status.code() {
            Some(0) => assert!(said.contains("all 3 items are intact"), "{what}: {said}"),
            Some(1) => assert!(said.contains("flipped.zip"), "{what}: {said}"),
            Some(3) => assert!(
                entries
                    .iter()
                    .any(|e| said.contains(&format!("BAD  {e}: "))),
                "{what}: names no entry: {said}"
            ),
            other => panic!("{what}: exit {other:?}: {said}"),
        }
        *outcomes.entry(out.status.code()).or_insert(0) += 1;
    }
    // Every outcome happens: the sweep reached the fields that matter.
    assert!(outcomes.len() == 3, "{outcomes:?}");

    // The first record's fields that locate its bytes: CRC-32 (16), compressed size (20),
    // uncompressed size (24), local header offset (42), and its name (46).
    let victim = &all[0].0;
    let entry = &entries[0];
    let good: Vec<_> = all.iter().filter(|(i, _)| i != victim).cloned().collect();
    // The uncompressed size (24) is not used to read a stored item: its bytes still match
    // the manifest, so extract and restore write it, and verify names the damaged record.
    for (field, lost) in [
        (16, true),
        (20, true),
        (24, false),
        (42, true),
        (46 + 10, true),
    ] {
        let what = format!("central directory field at +{field}");
        let kept = if lost { &good } else { &all };
        let code = if lost { 3 } else { 0 };
        let mut copy = data.clone();
        copy[cd + field] ^= 0xff;
        fs::write(&flipped, &copy).unwrap();
        let out = world.verify(&flipped, &[]);
        assert_exit(&out, 3, &format!("{what}: verify"));
        assert!(
            text(&out).contains(&format!("BAD  {entry}: ")),
            "{what}: {}",
            text(&out)
        );
        let out = world.extract(&flipped, &[]);
        assert_exit(&out, code, &format!("{what}: extract"));
        assert_eq!(
            text(&out).contains(&format!("NOT WRITTEN  {entry}: ")),
            lost,
            "{what}: {}",
            text(&out)
        );
        assert_dest_holds(&world, &expected_dest(kept), &what);
        world.wipe_phone();
        let out = world.restore(&flipped, &[]);
        assert_exit(&out, code, &format!("{what}: restore"));
        let report = stdout_json(&out);
        if lost {
            let failures = report["failures"].as_array().unwrap();
            assert!(
                failures.iter().any(|f| f["path"] == victim.path.as_str()),
                "{what}: {report}"
            );
        }
        assert_phone_holds(&world, &expected_phone(kept), &what);
    }
}

/// A flipped byte in the manifest (stored plain, or encrypted): every command refuses the
/// archive naming the manifest entry, and nothing is written.
#[test]
fn a_flipped_byte_in_the_manifest_is_refused_naming_it() {
    let world = World::new();
    let plain = write_archive(&world.archives(), "plain", None, &items());
    let (start, len) = stored_span(&plain, MANIFEST_ENTRY);
    flip(&plain, start + len / 2);
    assert_refused_by_all(&world, &plain, MANIFEST_ENTRY, "plain manifest");

    let secret = write_archive(&world.archives(), "secret", Some("pw"), &items());
    let (start, len) = stored_span(&secret, MANIFEST_ENTRY);
    flip(&secret, start + len / 2);
    // With the right password in the environment of every command.
    let env_pw = world.work.join("pw.txt");
    fs::write(&env_pw, "pw\n").unwrap();
    let before = world.surroundings();
    let pw = ["--password-file", env_pw.to_str().unwrap()];
    for (command, out) in [
        ("show", world.show(&secret, &pw)),
        ("verify", world.verify(&secret, &pw)),
        ("extract", world.extract(&secret, &pw)),
        ("restore", world.restore(&secret, &pw)),
    ] {
        assert_exit(&out, 1, &format!("encrypted manifest: {command}"));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(MANIFEST_ENTRY), "{command}: {said}");
        assert!(said.contains("damaged"), "{command}: {said}");
    }
    assert!(!world.dest().exists());
    assert_eq!(world.surroundings(), before);
    assert_phone_holds(&world, &BTreeMap::new(), "encrypted manifest");
}

/// A handmade archive whose manifest names paths that climb out, in every form, beside one
/// good item: each command names every such entry, nothing is written outside the
/// destination or the phone's storage, and the good item is extracted and restored.
#[test]
#[allow(clippy::too_many_lines)] // four commands on one crafted archive, each checked
fn manifest_paths_that_climb_out_are_named_and_nothing_escapes() {
    let world = World::new();
    let escape_name = format!("phonevault-escape-{}", std::process::id());
    let absolute = std::env::temp_dir().join(&escape_name);
    let evil: Vec<String> = vec![
        "../escaped.jpg".into(),
        "gallery/../../escaped.jpg".into(),
        "gallery/DCIM/../../../escaped.jpg".into(),
        absolute.to_str().unwrap().to_owned(),
        "..\\..\\escaped.jpg".into(),
        "gallery\\..\\..\\escaped.jpg".into(),
        "C:/escaped.jpg".into(),
    ];
    let good = items().remove(0);
    let archive = world.archives().join("climb.zip");
    fs::create_dir_all(world.archives()).unwrap();
    let base = write_archive(&world.archives(), "base", None, std::slice::from_ref(&good));
    let payload = bytes_of(9, 500);
    let sha = sha_hex(&payload);
    let extra: Vec<(&str, &[u8])> = evil.iter().map(|e| (e.as_str(), &payload[..])).collect();
    rewrite(
        &base,
        &archive,
        |manifest| {
            let template = manifest["items"][0].clone();
            for name in &evil {
                let mut record = template.clone();
                record["entry"] = name.as_str().into();
                record["rel_path"] = name.trim_start_matches("gallery/").into();
                record["path"] = format!("/sdcard/{}", name.trim_start_matches("gallery/")).into();
                record["id"] = format!("id-{name}").into();
                record["size"] = payload.len().into();
                record["sha256"] = sha.as_str().into();
                manifest["items"].as_array_mut().unwrap().push(record);
            }
        },
        &[],
        &extra,
    );
    fs::remove_file(&base).unwrap();
    let before = world.surroundings();
    let outside = |what: &str| {
        assert!(!absolute.exists(), "{what}: wrote {}", absolute.display());
        for dir in [
            world.env.path(),
            world.work.as_path(),
            &world.work.join("out"),
        ] {
            assert!(
                !dir.join("escaped.jpg").exists(),
                "{what}: wrote into {}",
                dir.display()
            );
        }
    };

    // Names as a terminal gets them: backslashes doubled.
    let evil_shown: Vec<String> = evil.iter().map(|n| n.replace('\\', "\\\\")).collect();
    let out = world.show(&archive, &[]);
    assert_exit(&out, 3, "show");
    let said = text(&out);
    for name in &evil_shown {
        assert!(
            said.contains(&format!("BAD  {name}: ")),
            "show: {name}: {said}"
        );
    }

    let out = world.verify(&archive, &[]);
    assert_exit(&out, 3, "verify");
    let said = text(&out);
    for name in &evil_shown {
        assert!(
            said.contains(&format!("BAD  {name}: ")),
            "verify: {name}: {said}"
        );
    }
    outside("verify");

    let out = world.extract(&archive, &[]);
    assert_exit(&out, 3, "extract");
    let said = text(&out);
    for name in &evil_shown {
        assert!(
            said.contains(&format!("NOT WRITTEN  {name}: ")),
            "extract: {name}: {said}"
        );
    }
    assert_dest_holds(
        &world,
        &expected_dest(std::slice::from_ref(&good)),
        "extract",
    );
    outside("extract");

    let out = world.restore(&archive, &[]);
    assert_exit(&out, 3, "restore");
    let report = stdout_json(&out);
    let failed: Vec<&str> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    // The phone's own names: a backslash is an ordinary character on Android, so only the
    // `/` forms climb there; the others would be odd names inside the folder. Every one is
    // refused all the same: phonevault never writes a raw backslash into an entry name, so
    // such an entry comes from someone else.
    assert_eq!(failed.len(), evil.len(), "{report}");
    assert_phone_holds(
        &world,
        &expected_phone(std::slice::from_ref(&good)),
        "restore",
    );
    outside("restore");
    assert_only_verify_record_added(&world, before, &archive, "climbing paths");
}

/// One way a manifest can disagree with its entries, done to one item (the victim).
struct Disagreement {
    what: &'static str,
    /// Applied to the victim's record in the manifest.
    edit: fn(&mut serde_json::Value),
    /// Leave the victim's entry out of the zip.
    drop_victim: bool,
    /// An entry added to the zip but not to the manifest.
    extra: Option<&'static str>,
    /// What every command's message says.
    reason: &'static str,
}

/// A manifest that disagrees with the entries: an item whose entry is missing, an entry the
/// manifest does not list, an item whose size or SHA-256 is wrong. `show` names what it can
/// see without reading the items (missing entry, size, extra entry), `verify`, `extract`
/// and `restore` name every one, and only whole, matching items are written.
#[test]
#[allow(clippy::too_many_lines)] // four commands on each of four disagreements
fn a_manifest_that_disagrees_with_the_entries_is_named() {
    let world = World::new();
    let all = items();
    let base = write_archive(&world.archives(), "base", None, &all);
    let victim = all[0].0.clone();
    let entry = format!("gallery/{}", victim.rel_path);
    let good: Vec<_> = all.iter().filter(|(i, _)| *i != victim).cloned().collect();
    let cases = [
        Disagreement {
            what: "missing entry",
            edit: |_| {},
            drop_victim: true,
            extra: None,
            reason: "has no entry",
        },
        Disagreement {
            what: "wrong size",
            edit: |r| r["size"] = 6001.into(),
            drop_victim: false,
            extra: None,
            reason: "the manifest says 6001",
        },
        Disagreement {
            what: "wrong sha",
            edit: |r| r["sha256"] = "ab".repeat(32).into(),
            drop_victim: false,
            extra: None,
            reason: "SHA-256",
        },
        Disagreement {
            what: "extra entry",
            edit: |_| {},
            drop_victim: false,
            extra: Some("gallery/DCIM/Camera/smuggled.jpg"),
            reason: "not listed in the manifest",
        },
    ];
    for case in cases {
        let (what, reason) = (case.what, case.reason);
        let named = case.extra.unwrap_or(&entry);
        let archive = world
            .archives()
            .join(format!("{}.zip", what.replace(' ', "-")));
        let drop: &[&str] = if case.drop_victim { &[&entry] } else { &[] };
        let extra: Vec<(&str, &[u8])> = case
            .extra
            .iter()
            .map(|name| (*name, b"not in the manifest".as_slice()))
            .collect();
        let edit = |manifest: &mut serde_json::Value| {
            for record in manifest["items"].as_array_mut().unwrap() {
                if record["entry"] == entry.as_str() {
                    (case.edit)(record);
                }
            }
        };
        rewrite(&base, &archive, edit, drop, &extra);
        let kept = if case.extra.is_some() { &all } else { &good };
        let before = world.surroundings();

        // `show` reads no item, so a wrong SHA-256 is for `verify` to find.
        let out = world.show(&archive, &[]);
        if what == "wrong sha" {
            assert_exit(&out, 0, &format!("{what}: show"));
        } else {
            assert_exit(&out, 3, &format!("{what}: show"));
            assert!(
                text(&out).contains(&format!("BAD  {named}: ")),
                "{what}: {}",
                text(&out)
            );
        }

        let out = world.verify(&archive, &[]);
        assert_exit(&out, 3, &format!("{what}: verify"));
        let said = text(&out);
        assert!(said.contains(&format!("BAD  {named}: ")), "{what}: {said}");
        assert!(said.contains(reason), "{what}: {said}");

        // Extract and restore take what the manifest lists: an extra entry is never written,
        // and is named.
        let out = world.extract(&archive, &[]);
        assert_exit(&out, 3, &format!("{what}: extract"));
        let said = text(&out);
        assert!(
            said.contains(&format!("NOT WRITTEN  {named}: ")),
            "{what}: {said}"
        );
        assert!(said.contains(reason), "{what}: {said}");
        assert_dest_holds(&world, &expected_dest(kept), what);

        world.wipe_phone();
        let out = world.restore(&archive, &[]);
        assert_exit(&out, 3, &format!("{what}: restore"));
        let report = stdout_json(&out);
        let failures = report["failures"].as_array().unwrap();
        assert_eq!(failures.len(), 1, "{what}: {report}");
        assert!(
            failures[0]["message"].as_str().unwrap().contains(reason),
            "{what}: {report}"
        );
        if let Some(extra_name) = case.extra {
            assert_eq!(failures[0]["path"], extra_name, "{what}: {report}");
        } else {
            assert_eq!(failures[0]["path"], victim.path, "{what}: {report}");
        }
        assert_phone_holds(&world, &expected_phone(kept), what);

        assert_only_verify_record_added(&world, before, &archive, what);
    }
}

/// 65,600 one-byte items (zip64 entry count), one of those past the 65,535th damaged:
/// `show` reads the whole directory and finds it agrees with the manifest, `verify` names
/// the damaged item, and `extract` and `restore` of ten items past the 16-bit count write
/// exactly those but the damaged one. The zip is laid out here byte by byte (stored
/// entries, zip64 end records), which takes a fraction of a second where a writer takes
/// many in a debug build; phonevault's own writer is tried on 70,000 entries in
/// `archive.rs`.
#[test]
fn more_than_65535_entries_are_read_and_a_damaged_one_past_them_is_named() {
    const COUNT: usize = 65_600;
    let world = World::new();
    let sticker = |i: usize| format!("Media/WhatsApp Stickers/STK-20240101-WA{i:05}.webp");
    let all: Vec<(MediaItem, Vec<u8>)> = (0..COUNT)
        .map(|i| {
            let rel = sticker(i);
            let mut it = item(Source::Whatsapp, "/sdcard/WhatsApp", &rel, Kind::Sticker, 1);
            it.mtime += i64::try_from(i).unwrap();
            (it, vec![u8::try_from(i % 251).unwrap()])
        })
        .collect();
    let shas: Vec<String> = (0..=250u8).map(|b| sha_hex(&[b])).collect();
    let mut manifest = format!(
        r#"{{"format":"{FORMAT_NAME}","format_version":{FORMAT_VERSION},"tool":"handmade","created":"2024-01-01T00:00:00Z","handset":{},"encrypted":false,"items":["#,
        serde_json::to_string(&HandsetRecord::from(&identity())).unwrap()
    );
    let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(COUNT + 1);
    for (k, (media, data)) in all.iter().enumerate() {
        let entry = format!("whatsapp/{}", media.rel_path);
        let _ = write!(
            manifest,
            r#"{}{{"entry":"{entry}","sha256":"{}","id":"id-{k}","path":"{}","root":"{}","rel_path":"{}","source":"whatsapp","album":"{}","kind":"sticker","size":1,"mtime":{},"taken":null,"sent":false,"private":false}}"#,
            if k == 0 { "" } else { "," },
            shas[usize::from(data[0])],
            media.path,
            media.root,
            media.rel_path,
            media.album,
            media.mtime
        );
        entries.push((entry, data.clone()));
    }
    manifest.push_str("]}");
    entries.push((MANIFEST_ENTRY.to_owned(), manifest.into_bytes()));
    let (zip, data_at) = stored_zip64(&entries);
    let archive = world.archives().join("many.zip");
    fs::create_dir_all(world.archives()).unwrap();
    fs::write(&archive, zip).unwrap();
    let damaged = 65_595;
    let damaged_entry = format!("whatsapp/{}", sticker(damaged));
    flip(&archive, data_at[damaged]);

    // The ten items 65,590..65,599.
    let chosen = ["--include", "**/STK-20240101-WA6559?.webp"];
    let out = world.show(&archive, &chosen);
    assert_exit(&out, 0, "show");
    assert!(
        text(&out).contains(&format!("10 of {COUNT} items")),
        "{}",
        text(&out)
    );

    let out = world.verify(&archive, &["--json"]);
    assert_exit(&out, 3, "verify");
    let report = stdout_json(&out);
    assert_eq!(report["good"], COUNT - 1, "{}", report["problems"]);
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["problems"][0]["entry"], damaged_entry.as_str());

    let wanted: Vec<_> = all[65_590..]
        .iter()
        .filter(|(i, _)| i.rel_path != sticker(damaged))
        .cloned()
        .collect();
    let out = world.extract(&archive, &chosen);
    assert_exit(&out, 3, "extract");
    assert!(
        text(&out).contains(&format!("NOT WRITTEN  {damaged_entry}: ")),
        "{}",
        text(&out)
    );
    assert_dest_holds(&world, &expected_dest(&wanted), "extract");

    let out = world.restore(&archive, &chosen);
    assert_exit(&out, 3, "restore");
    let report = stdout_json(&out);
    assert_eq!(report["restored"], 9, "{report}");
    assert_eq!(
        report["failures"][0]["path"], all[damaged].0.path,
        "{report}"
    );
    assert_phone_holds(&world, &expected_phone(&wanted), "restore");
}

/// A zip of stored `entries` with zip64 end records (the entry count does not fit 16 bits);
/// returns its bytes and where each entry's data starts.
fn stored_zip64(entries: &[(String, Vec<u8>)]) -> (Vec<u8>, Vec<usize>) {
    let crc_table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    let crc32 = |data: &[u8]| {
        !data.iter().fold(!0u32, |c, &b| {
            crc_table[usize::from((c as u8) ^ b)] ^ (c >> 8)
        })
    };
    let u16le = |v: usize| u16::try_from(v).unwrap().to_le_bytes();
    let u32le = |v: usize| u32::try_from(v).unwrap().to_le_bytes();
    // 2024-01-01 00:00:00 in DOS form.
    let (time, date) = (0u16, ((2024 - 1980) << 9 | 1 << 5 | 1) as u16);
    let mut zip = Vec::new();
    let mut central = Vec::new();
    let mut data_at = Vec::with_capacity(entries.len());
    for (name, data) in entries {
        let offset = zip.len();
        let crc = crc32(data);
        let mut common = Vec::new();
        common.extend(20u16.to_le_bytes()); // version needed
        common.extend(0x0800u16.to_le_bytes()); // UTF-8 name
        common.extend(0u16.to_le_bytes()); // stored
        common.extend(time.to_le_bytes());
        common.extend(date.to_le_bytes());
        common.extend(crc.to_le_bytes());
        common.extend(u32le(data.len()));
        common.extend(u32le(data.len()));
        common.extend(u16le(name.len()));
        common.extend(0u16.to_le_bytes()); // extra field length
        zip.extend(b"PK\x03\x04");
        zip.extend(&common);
        zip.extend(name.as_bytes());
        data_at.push(zip.len());
        zip.extend(data);
        central.extend(b"PK\x01\x02");
        central.extend(0x031eu16.to_le_bytes()); // made by: Unix, zip 3.0
        central.extend(&common);
        central.extend(0u16.to_le_bytes()); // comment length
        central.extend(0u16.to_le_bytes()); // disk
        central.extend(0u16.to_le_bytes()); // internal attributes
        central.extend((0o100_644u32 << 16).to_le_bytes());
        central.extend(u32le(offset));
        central.extend(name.as_bytes());
    }
    let (cd_at, cd_len, count) = (zip.len() as u64, central.len() as u64, entries.len() as u64);
    zip.extend(&central);
    let zip64_end_at = zip.len() as u64;
    zip.extend(b"PK\x06\x06");
    zip.extend(44u64.to_le_bytes());
    zip.extend(45u16.to_le_bytes());
    zip.extend(45u16.to_le_bytes());
    zip.extend(0u32.to_le_bytes());
    zip.extend(0u32.to_le_bytes());
    zip.extend(count.to_le_bytes());
    zip.extend(count.to_le_bytes());
    zip.extend(cd_len.to_le_bytes());
    zip.extend(cd_at.to_le_bytes());
    zip.extend(b"PK\x06\x07");
    zip.extend(0u32.to_le_bytes());
    zip.extend(zip64_end_at.to_le_bytes());
    zip.extend(1u32.to_le_bytes());
    zip.extend(b"PK\x05\x06");
    zip.extend([0u8; 4]);
    zip.extend([0xff; 4]); // entry counts: in the zip64 record
    zip.extend(u32::try_from(cd_len).unwrap().to_le_bytes());
    zip.extend(u32::try_from(cd_at).unwrap().to_le_bytes());
    zip.extend(0u16.to_le_bytes());
    (zip, data_at)
}

fn sha_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// A wrong password: every command exits 4 saying so, and nothing is written.
#[test]
fn a_wrong_password_is_named_by_every_command() {
    let world = World::new();
    let archive = write_archive(&world.archives(), "secret", Some("right"), &items());
    let wrong = world.work.join("wrong.txt");
    fs::write(&wrong, "wrong\n").unwrap();
    let before = world.surroundings();
    let pw = ["--password-file", wrong.to_str().unwrap()];
    for (command, out) in [
        ("show", world.show(&archive, &pw)),
        ("verify", world.verify(&archive, &pw)),
        ("extract", world.extract(&archive, &pw)),
        ("restore", world.restore(&archive, &pw)),
    ] {
        assert_exit(&out, 4, command);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("wrong password") && said.contains("secret.zip"),
            "{command}: {said}"
        );
    }
    assert!(!world.dest().exists());
    assert_eq!(world.surroundings(), before);
    assert_phone_holds(&world, &BTreeMap::new(), "wrong password");
}

//! `extract`, `verify` and `show` on archives made here and then tampered with, run as a
//! user would (issue 11, items 5 and 12): your own files are never replaced without asking,
//! one bad entry does not stop the rest, a damaged AES header is not a wrong password,
//! extracted files follow the umask, and impossible dates are shown as such.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use phonevault::adb::Identity;
use phonevault::archive::{ArchiveWriter, Password, MANIFEST_ENTRY};
use phonevault::catalog::{Kind, MediaItem, Source};

const PASSWORD: &str = "s3cret pass";
/// The mtime every sample item has on the phone (2023-11-14 22:13:21 UTC).
const ITEM_MTIME: i64 = 1_700_000_001;
const PHOTO: &str = "DCIM/Camera/with space.jpg";
const CLIP: &str = "Movies/clip.mp4";
const VOICE: &str = "Media/WhatsApp Voice Notes/PTT-20231114-WA0001.opus";

fn identity() -> Identity {
    Identity {
        serial: "emulator-5554".to_owned(),
        model: "Pixel 8".to_owned(),
        manufacturer: "Google".to_owned(),
        android_version: "14".to_owned(),
        sdk: 34,
    }
}

fn item(source: Source, rel_path: &str, size: usize, mtime: i64) -> MediaItem {
    let root = match source {
        Source::Gallery => "/sdcard",
        _ => "/sdcard/Android/media/com.whatsapp/WhatsApp",
    };
    MediaItem {
        id: format!("id-{rel_path}"),
        path: format!("{root}/{rel_path}"),
        root: root.to_owned(),
        rel_path: rel_path.to_owned(),
        source,
        album: rel_path.rsplit('/').nth(1).unwrap_or("").to_owned(),
        kind: Kind::Photo,
        size: size as u64,
        mtime,
        taken: None,
        sent: false,
        private: false,
    }
}

/// Distinct bytes per item, so a mix-up shows.
fn bytes_of(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

fn photo_bytes() -> Vec<u8> {
    bytes_of(11, 6000)
}

/// The three sample items: a photo with a space in its name, a clip, a voice note.
fn samples() -> Vec<(MediaItem, Vec<u8>)> {
    vec![
        (
            item(Source::Gallery, PHOTO, 6000, ITEM_MTIME),
            photo_bytes(),
        ),
        (
            item(Source::Gallery, CLIP, 9000, ITEM_MTIME),
            bytes_of(77, 9000),
        ),
        (
            item(Source::Whatsapp, VOICE, 3000, ITEM_MTIME),
            bytes_of(150, 3000),
        ),
    ]
}

fn make(dir: &Path, stem: &str, password: Option<&str>, items: &[(MediaItem, Vec<u8>)]) -> PathBuf {
    let password = password.map(|p| Password::new(p).unwrap());
    let mut writer = ArchiveWriter::create(dir, stem, password.as_ref(), &identity()).unwrap();
    for (item, data) in items {
        let mut w = writer.begin_item(item).unwrap();
        w.write_all(data).unwrap();
        w.commit().unwrap();
    }
    writer.finish().unwrap()
}

/// Runs phonevault under `umask 022` (what most desktops use), with no password in the
/// environment unless given.
fn phonevault(args: &[&str], password: Option<&str>) -> Output {
    phonevault_with_umask("022", args, password)
}

fn phonevault_with_umask(umask: &str, args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_phonevault"))
        .args(args)
        .env_remove("PHONEVAULT_PASSWORD")
        .stdin(std::process::Stdio::null());
    if let Some(password) = password {
        cmd.env("PHONEVAULT_PASSWORD", password);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Asserts that `path` holds `expected`, without printing kilobytes of bytes when not.
fn assert_holds(path: &Path, expected: &[u8], context: &str) {
    let found = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}: {context}", path.display()));
    assert!(
        found == expected,
        "{} holds {} bytes starting {:?}, not the {} expected: {context}",
        path.display(),
        found.len(),
        String::from_utf8_lossy(&found[..found.len().min(40)]),
        expected.len()
    );
}

fn mtime_of(path: &Path) -> i64 {
    let modified = fs::metadata(path).unwrap().modified().unwrap();
    i64::try_from(modified.duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn set_mtime(path: &Path, secs: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Files whose names show an extraction left a temporary file behind.
fn leftover_temps(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(leftover_temps(&path));
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".phonevault-"))
        {
            found.push(path);
        }
    }
    found
}

/// Where an entry's stored data starts: after its local header (30 bytes, the name and the
/// extra field). For an AES entry that is the salt (16 bytes for AES-256), then the 2-byte
/// password verification value.
fn data_start(archive: &Path, entry: &str) -> usize {
    let file = fs::File::open(archive).unwrap();
    let zip = zip::ZipArchive::new(file).unwrap();
    let index = zip.index_for_name(entry).unwrap();
    let header = usize::try_from(zip.by_index_data(index).unwrap().header_start()).unwrap();
    let bytes = fs::read(archive).unwrap();
    assert_eq!(
        &bytes[header..header + 4],
        b"PK\x03\x04",
        "local header of {entry}"
    );
    let name_len = usize::from(u16::from_le_bytes([bytes[header + 26], bytes[header + 27]]));
    let extra_len = usize::from(u16::from_le_bytes([bytes[header + 28], bytes[header + 29]]));
    header + 30 + name_len + extra_len
}

/// Flips one bit of the password verification value of `entry` (AES-256: after 16 salt
/// bytes).
fn damage_password_check(archive: &Path, entry: &str) {
    let at = data_start(archive, entry) + 16;
    let mut bytes = fs::read(archive).unwrap();
    bytes[at] ^= 0x01;
    fs::write(archive, bytes).unwrap();
}

/// Copies `from` to `to` with one entry renamed, in the zip and in the manifest; the
/// entries' stored bytes are copied as they are.
fn rename_entry(from: &Path, to: &Path, old: &str, new: &str) {
    let mut source = zip::ZipArchive::new(fs::File::open(from).unwrap()).unwrap();
    let mut target = zip::ZipWriter::new(fs::File::create(to).unwrap());
    for i in 0..source.len() {
        let name = source.by_index_raw(i).unwrap().name().unwrap().into_owned();
        if name == MANIFEST_ENTRY {
            let mut json = String::new();
            source
                .by_index(i)
                .unwrap()
                .read_to_string(&mut json)
                .unwrap();
            let mut manifest: serde_json::Value = serde_json::from_str(&json).unwrap();
            for record in manifest["items"].as_array_mut().unwrap() {
                if record["entry"] == old {
                    record["entry"] = new.into();
                }
            }
            target
                .start_file(MANIFEST_ENTRY, zip::write::SimpleFileOptions::default())
                .unwrap();
            target
                .write_all(&serde_json::to_vec(&manifest).unwrap())
                .unwrap();
        } else {
            let renamed = if name == old { new } else { name.as_str() };
            let raw = source.by_index_raw(i).unwrap();
            target.raw_copy_file_rename(raw, renamed).unwrap();
        }
    }
    target.finish().unwrap();
}

#[test]
fn extract_keeps_your_own_file_and_writes_the_item_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let items = samples();
    let archive = make(tmp.path(), "good", None, &items);
    let out = tmp.path().join("out");
    let yours = out.join("gallery").join(PHOTO);
    fs::create_dir_all(yours.parent().unwrap()).unwrap();
    fs::write(&yours, b"my own photo, not the archive's").unwrap();
    set_mtime(&yours, 1_600_000_000);
    // An identical copy of the clip, with another date, is already there: left as it is.
    let clip = out.join("gallery").join(CLIP);
    fs::create_dir_all(clip.parent().unwrap()).unwrap();
    fs::write(&clip, &items[1].1).unwrap();
    set_mtime(&clip, 1_500_000_000);

    let run = phonevault(
        &["extract", path_str(&archive), "--to", path_str(&out)],
        None,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert_holds(
        &yours,
        b"my own photo, not the archive's",
        &format!("your file was replaced: {said}"),
    );
    assert_eq!(mtime_of(&yours), 1_600_000_000);
    let beside = out.join("gallery/DCIM/Camera/with space (1).jpg");
    assert_holds(&beside, &photo_bytes(), &said);
    assert_eq!(mtime_of(&beside), ITEM_MTIME);
    assert_eq!(mode_of(&beside), 0o644);
    assert_eq!(mtime_of(&clip), 1_500_000_000, "identical file rewritten");
    assert_holds(&out.join("whatsapp").join(VOICE), &items[2].1, &said);
    assert!(
        said.contains(
            "KEPT BOTH    gallery/DCIM/Camera/with space.jpg: a different file has this name; \
             written as gallery/DCIM/Camera/with space (1).jpg"
        ),
        "{said}"
    );
    assert!(
        said.contains(
            "2 files (9000 bytes) written to {}; 1 already there; 1 conflicts: 1 kept under a new name, 0 overwritten, 0 left alone"
                .replace("{}", path_str(&out))
                .as_str()
        ),
        "{said}"
    );
    assert_eq!(leftover_temps(&out), Vec::<PathBuf>::new());

    // Again: the numbered copy holds the item, so nothing more is written.
    let run = phonevault(
        &["extract", path_str(&archive), "--to", path_str(&out)],
        None,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert!(said.contains("0 files (0 bytes) written"), "{said}");
    assert!(said.contains("3 already there"), "{said}");
    assert!(!out.join("gallery/DCIM/Camera/with space (2).jpg").exists());
    assert_holds(&yours, b"my own photo, not the archive's", &said);

    // A second, different file under the numbered name: the next number is used.
    fs::write(&beside, b"edited since").unwrap();
    let run = phonevault(
        &[
            "extract",
            path_str(&archive),
            "--to",
            path_str(&out),
            "--json",
        ],
        None,
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(json["written"], 1, "{json:#}");
    assert_eq!(json["conflicts"], 1, "{json:#}");
    let third = out.join("gallery/DCIM/Camera/with space (2).jpg");
    assert_holds(&third, &photo_bytes(), "the next free number");
    assert_holds(&beside, b"edited since", "an earlier numbered copy");
    let kept: Vec<&serde_json::Value> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "kept-both")
        .collect();
    assert_eq!(kept.len(), 1, "{json:#}");
    assert_eq!(kept[0]["path"], path_str(&third));
}

#[test]
fn extract_skip_leaves_your_file_and_overwrite_replaces_it_by_rename() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = make(tmp.path(), "good", None, &samples());
    let out = tmp.path().join("out");
    let yours = out.join("gallery").join(PHOTO);
    fs::create_dir_all(yours.parent().unwrap()).unwrap();
    fs::write(&yours, b"mine").unwrap();
    // A second name for the same inode: an in-place rewrite would show through it.
    let link = tmp.path().join("second name of mine");
    fs::hard_link(&yours, &link).unwrap();
    let inode = fs::metadata(&yours).unwrap().ino();

    let run = phonevault(
        &[
            "extract",
            path_str(&archive),
            "--to",
            path_str(&out),
            "--on-conflict",
            "skip",
        ],
        None,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert_holds(&yours, b"mine", &said);
    assert!(!out.join("gallery/DCIM/Camera/with space (1).jpg").exists());
    assert!(
        said.contains(
            "LEFT ALONE   gallery/DCIM/Camera/with space.jpg: a different file has this name"
        ),
        "{said}"
    );
    assert!(said.contains("0 overwritten, 1 left alone"), "{said}");

    let run = phonevault(
        &[
            "extract",
            path_str(&archive),
            "--to",
            path_str(&out),
            "--on-conflict",
            "overwrite",
        ],
        None,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert_holds(&yours, &photo_bytes(), &said);
    assert_eq!(mtime_of(&yours), ITEM_MTIME);
    assert_eq!(mode_of(&yours), 0o644);
    assert_ne!(fs::metadata(&yours).unwrap().ino(), inode, "{said}");
    assert_holds(&link, b"mine", &format!("written in place: {said}"));
    assert!(
        said.contains("OVERWRITTEN  gallery/DCIM/Camera/with space.jpg"),
        "{said}"
    );
    assert!(!out.join("gallery/DCIM/Camera/with space (1).jpg").exists());
    assert_eq!(leftover_temps(&out), Vec::<PathBuf>::new());
}

#[test]
fn extract_carries_on_past_an_unsafe_entry_name_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let made = make(tmp.path(), "made", None, &samples());
    let archive = tmp.path().join("climbing.zip");
    let evil = "gallery/../../evil.mp4";
    rename_entry(&made, &archive, &format!("gallery/{CLIP}"), evil);
    let out = tmp.path().join("a").join("out");

    let run = phonevault(
        &["extract", path_str(&archive), "--to", path_str(&out)],
        None,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(3), "{said}");
    assert_holds(&out.join("gallery").join(PHOTO), &photo_bytes(), &said);
    assert_holds(&out.join("whatsapp").join(VOICE), &samples()[2].1, &said);
    assert!(!tmp.path().join("evil.mp4").exists());
    assert!(!tmp.path().join("a").join("evil.mp4").exists());
    assert!(!out.join("evil.mp4").exists());
    assert!(
        said.contains(
            "NOT WRITTEN  gallery/../../evil.mp4: refusing unsafe path \"gallery/../../evil.mp4\": `..` path component"
        ),
        "{said}"
    );
    assert!(said.contains("2 files (9000 bytes) written"), "{said}");
    assert!(said.contains("1 not written"), "{said}");
}

#[test]
fn a_damaged_password_check_is_a_damaged_entry_not_a_wrong_password() {
    let tmp = tempfile::tempdir().unwrap();
    let items = samples();
    let archive = make(tmp.path(), "aes", Some(PASSWORD), &items);
    let clip_entry = format!("gallery/{CLIP}");
    damage_password_check(&archive, &clip_entry);

    let run = phonevault(&["verify", path_str(&archive)], Some(PASSWORD));
    let said = text(&run);
    assert_eq!(run.status.code(), Some(3), "{said}");
    assert!(!said.contains("wrong password"), "{said}");
    assert!(
        said.contains(
            "BAD  gallery/Movies/clip.mp4: entry \"gallery/Movies/clip.mp4\" is damaged: its \
             password check (AES header) fails, but the same password opens the archive's other entries"
        ),
        "{said}"
    );
    assert!(
        said.contains("1 of 3 entries are damaged or missing; 2 items are intact"),
        "{said}"
    );

    let out = tmp.path().join("out");
    let run = phonevault(
        &["extract", path_str(&archive), "--to", path_str(&out)],
        Some(PASSWORD),
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(3), "{said}");
    assert!(
        said.contains("NOT WRITTEN  gallery/Movies/clip.mp4: entry"),
        "{said}"
    );
    assert_holds(&out.join("gallery").join(PHOTO), &photo_bytes(), &said);
    assert!(!out.join("gallery").join(CLIP).exists());

    // A wrong password is still a wrong password.
    let run = phonevault(&["verify", path_str(&archive)], Some("not it"));
    assert_eq!(run.status.code(), Some(4), "{}", text(&run));
    assert!(text(&run).contains("wrong password"), "{}", text(&run));

    // The manifest's own check damaged: the password opens the other entries, so the
    // archive is damaged (exit 1), not locked with another password (exit 4).
    damage_password_check(&archive, MANIFEST_ENTRY);
    let run = phonevault(&["show", path_str(&archive)], Some(PASSWORD));
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(!said.contains("wrong password"), "{said}");
    assert!(
        said.contains(
            "entry \"phonevault/manifest.json\" is damaged: its password check (AES header) fails"
        ),
        "{said}"
    );
    let run = phonevault(&["show", path_str(&archive)], Some("not it"));
    assert_eq!(run.status.code(), Some(4), "{}", text(&run));
}

#[test]
fn extracted_files_get_the_umask_not_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = make(tmp.path(), "modes", None, &samples());
    for (umask, mode) in [("022", 0o644), ("027", 0o640)] {
        let out = tmp.path().join(format!("out-{umask}"));
        let run = phonevault_with_umask(
            umask,
            &["extract", path_str(&archive), "--to", path_str(&out)],
            None,
        );
        assert_eq!(run.status.code(), Some(0), "{}", text(&run));
        for rel in [format!("gallery/{PHOTO}"), format!("whatsapp/{VOICE}")] {
            assert_eq!(mode_of(&out.join(&rel)), mode, "{rel} under umask {umask}");
        }
    }
}

#[test]
fn show_marks_out_of_range_mtimes_and_json_keeps_the_number() {
    let tmp = tempfile::tempdir().unwrap();
    let items = vec![
        (
            item(
                Source::Gallery,
                "DCIM/Camera/far.jpg",
                10,
                1_000_000_000_000_000,
            ),
            vec![1u8; 10],
        ),
        (
            item(
                Source::Gallery,
                "DCIM/Camera/year11476.jpg",
                10,
                300_000_000_000,
            ),
            vec![2u8; 10],
        ),
        (
            item(Source::Gallery, "DCIM/Camera/before1970.jpg", 10, -86_400),
            vec![3u8; 10],
        ),
        (
            item(Source::Gallery, "DCIM/Camera/normal.jpg", 10, ITEM_MTIME),
            vec![4u8; 10],
        ),
    ];
    let archive = make(tmp.path(), "dates", None, &items);

    let run = phonevault(&["show", path_str(&archive)], None);
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    let line = |name: &str| {
        said.lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("no line for {name}: {said}"))
            .to_owned()
    };
    assert!(
        line("far.jpg").contains(" 1000000000000000 (out of range) "),
        "{said}"
    );
    assert!(
        line("year11476.jpg").contains(" 300000000000 (out of range) "),
        "{said}"
    );
    assert!(
        line("before1970.jpg").contains(" 1969-12-31 00:00 "),
        "{said}"
    );
    assert!(line("normal.jpg").contains(" 2023-11-14 22:13 "), "{said}");

    let run = phonevault(&["show", path_str(&archive), "--json"], None);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let mtimes: Vec<i64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mtime"].as_i64().expect("mtime is a JSON number"))
        .collect();
    assert_eq!(
        mtimes,
        vec![1_000_000_000_000_000, 300_000_000_000, -86_400, ITEM_MTIME]
    );
}

#[test]
fn keep_both_does_not_take_a_name_another_item_of_the_archive_has() {
    let tmp = tempfile::tempdir().unwrap();
    let numbered = "DCIM/Camera/with space (1).jpg";
    let items = vec![
        (
            item(Source::Gallery, PHOTO, 6000, ITEM_MTIME),
            photo_bytes(),
        ),
        (
            item(Source::Gallery, numbered, 500, ITEM_MTIME),
            bytes_of(200, 500),
        ),
    ];
    let archive = make(tmp.path(), "numbered", None, &items);
    let out = tmp.path().join("out");
    let yours = out.join("gallery").join(PHOTO);
    fs::create_dir_all(yours.parent().unwrap()).unwrap();
    fs::write(&yours, b"mine").unwrap();

    for run_number in 1..=2 {
        let run = phonevault(
            &["extract", path_str(&archive), "--to", path_str(&out)],
            None,
        );
        let said = format!("run {run_number}: {}", text(&run));
        assert_eq!(run.status.code(), Some(0), "{said}");
        assert_holds(&yours, b"mine", &said);
        // The archive's own `with space (1).jpg` keeps its name; the conflicting photo
        // takes the next number.
        assert_holds(&out.join("gallery").join(numbered), &items[1].1, &said);
        assert_holds(
            &out.join("gallery/DCIM/Camera/with space (2).jpg"),
            &photo_bytes(),
            &said,
        );
        assert!(
            !out.join("gallery/DCIM/Camera/with space (1) (1).jpg")
                .exists(),
            "{said}"
        );
        assert!(
            !out.join("gallery/DCIM/Camera/with space (3).jpg").exists(),
            "{said}"
        );
    }
}

//! Names from the phone that are not plain text (issue 11, items 3, 8 and 9): file names
//! that are not UTF-8 or hold a backslash are backed up and restored under their own bytes,
//! and a serial or model with control characters never reaches the terminal or a folder name
//! as it is.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use common::{assert_success, stdout_json, HandsetSpec, TestEnv};
use serde_json::Value;

/// The hostile names of the camera folder, with the bytes each file holds. `photo\xff.jpg`
/// and `photo\u{fffd}.jpg` read the same once made UTF-8 the lossy way; `photo\xFF.jpg`
/// (a literal backslash, `x`, `F`, `F`) reads the same as the first in a naive escaped form.
fn hostile_files() -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (b"photo\xff.jpg".to_vec(), b"content A: not UTF-8".to_vec()),
        (
            "photo\u{fffd}.jpg".as_bytes().to_vec(),
            b"content B: the replacement character".to_vec(),
        ),
        (
            b"back\\slash.jpg".to_vec(),
            b"content C: a backslash, legal on Android".to_vec(),
        ),
        (
            b"photo\\xFF.jpg".to_vec(),
            b"content D: a literal backslash-x-F-F".to_vec(),
        ),
        (
            b"bad\x1b[31mesc\nape\x80.jpg".to_vec(),
            b"content E: escape, newline and a stray byte".to_vec(),
        ),
    ]
}

const CAMERA: &str = "DCIM/Camera";
/// An mtime the files get, so a restore can be checked for it.
const MTIME: i64 = 1_700_000_000;

/// A storage folder holding the hostile files (and one plain one) in `DCIM/Camera`.
fn hostile_storage(env: &TestEnv) -> PathBuf {
    let storage = env.new_dir("hostile-storage");
    let camera = storage.join(CAMERA);
    fs::create_dir_all(&camera).unwrap();
    let mut files = hostile_files();
    files.push((b"plain.jpg".to_vec(), b"content P: plain".to_vec()));
    for (name, bytes) in files {
        let path = camera.join(OsStr::from_bytes(&name));
        fs::write(&path, bytes).unwrap();
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(MTIME as u64);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
    storage
}

/// The files of a host folder: name bytes -> content.
fn files_in(dir: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().as_bytes().to_vec(),
                fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn no_escape_byte(out: &Output, what: &str) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "{what} printed a raw ESC on {stream}:\n{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

fn backup_json(env: &TestEnv, serial: &str, to: &Path) -> (Output, Value) {
    let out = env.phonevault(&[
        "-s",
        serial,
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--json",
    ]);
    let value = stdout_json(&out);
    (out, value)
}

#[test]
fn names_that_are_not_utf8_or_hold_a_backslash_are_each_listed_saved_and_restored() {
    let env = TestEnv::new();
    let storage = hostile_storage(&env);
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage));
    let serial = phone.serial();
    check_listing(&env, &serial);

    // backup: every file saved, exit 0; the next run finds nothing new.
    let to = env.new_dir("backups");
    let (out, summary) = backup_json(&env, &serial, &to);
    assert_success(&out, "backup");
    assert_eq!(summary["items"].as_u64(), Some(6), "{summary:#}");
    assert_eq!(summary["failed"].as_u64(), Some(0), "{summary:#}");
    let archive = PathBuf::from(summary["archive"].as_str().expect("an archive"));
    let (out, again) = backup_json(&env, &serial, &to);
    assert_success(&out, "second backup");
    assert_eq!(again["items"].as_u64(), Some(0), "{again:#}");
    assert_eq!(again["skipped"].as_u64(), Some(6), "{again:#}");

    check_archive(&env, &archive);
    check_restore(&env, &archive);
}

/// `ls`: one item per file, each with its own id, the exact bytes in `raw_path` (base64)
/// whenever the display path differs from them; the table escaped.
fn check_listing(env: &TestEnv, serial: &str) {
    // ls: one item per file, each with its own id; the exact bytes in `raw_path` (base64)
    // whenever the display path differs from them.
    let out = env.phonevault(&["-s", serial, "ls", "--json"]);
    assert_success(&out, "ls --json");
    let listed = stdout_json(&out);
    let items = listed["items"].as_array().expect("ls --json has items");
    assert_eq!(items.len(), 6, "one item per file: {listed:#}");
    let mut ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 6, "every item has its own id: {listed:#}");
    let raw_paths: Vec<Vec<u8>> = items
        .iter()
        .map(|i| match i["raw_path"].as_str() {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("raw_path is base64"),
            None => i["path"].as_str().unwrap().as_bytes().to_vec(),
        })
        .collect();
    for (name, _) in hostile_files() {
        let mut want = format!("/sdcard/{CAMERA}/").into_bytes();
        want.extend_from_slice(&name);
        assert!(
            raw_paths.contains(&want),
            "ls lost {:?}: {listed:#}",
            String::from_utf8_lossy(&name)
        );
    }
    // The table shows the names escaped, never a raw control character.
    let table = env.phonevault(&["-s", serial, "ls"]);
    assert_success(&table, "ls");
    no_escape_byte(&table, "ls");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains(r"photo\xFF.jpg"), "{text}");
    assert!(text.contains(r"back\\slash.jpg"), "{text}");
    assert!(text.contains(r"bad\e[31mesc\nape\x80.jpg"), "{text}");
}

/// The archive: safe, distinct entry names, which unzip lists and 7-Zip extracts with the
/// right bytes.
fn check_archive(env: &TestEnv, archive: &Path) {
    let listing = env
        .command("unzip")
        .arg("-Z1")
        .arg(archive)
        .output()
        .unwrap();
    assert!(listing.status.success(), "unzip -Z1 failed");
    let entries = String::from_utf8(listing.stdout).expect("entry names are UTF-8");
    let entry_names = [
        "photo%FF.jpg",
        "photo\u{fffd}.jpg",
        "back%5Cslash.jpg",
        "photo%5CxFF.jpg",
        "bad\u{1b}[31mesc\nape%80.jpg",
        "plain.jpg",
    ];
    for want in entry_names {
        // unzip shows control characters as ^X itself.
        let shown = want.replace('\u{1b}', "^[").replace('\n', "^J");
        let want = format!("gallery/{CAMERA}/{shown}\n");
        assert!(entries.contains(&want), "no entry {want:?} in:\n{entries}");
    }
    let unpacked = env.new_dir("7zz-out");
    let x = env
        .command("7zz")
        .arg("x")
        .arg("-y")
        .arg(format!("-o{}", unpacked.display()))
        .arg(archive)
        .output()
        .unwrap();
    assert!(
        x.status.success(),
        "7zz x failed: {}",
        String::from_utf8_lossy(&x.stdout)
    );
    let seven = files_in(&unpacked.join("gallery").join(CAMERA));
    let mut names: Vec<&[u8]> = seven.keys().map(Vec::as_slice).collect();
    let mut want: Vec<&[u8]> = entry_names.iter().map(|n| n.as_bytes()).collect();
    names.sort_unstable();
    want.sort_unstable();
    assert_eq!(names, want, "7-Zip extracted other names");
    assert_eq!(
        seven.get(b"photo%FF.jpg".as_slice()).map(Vec::as_slice),
        Some(b"content A: not UTF-8".as_slice())
    );
    assert_eq!(
        seven.get(b"back%5Cslash.jpg".as_slice()).map(Vec::as_slice),
        Some(b"content C: a backslash, legal on Android".as_slice())
    );
}

/// restore onto an empty phone: every file back under its exact bytes, with its mtime; a
/// second restore finds them in place.
fn check_restore(env: &TestEnv, archive: &Path) {
    let target_storage = env.new_dir("target-storage");
    let target = env.start_handset(
        HandsetSpec::android14()
            .serial("TARGET0001")
            .storage(&target_storage),
    );
    let out = env.phonevault(&[
        "-s",
        &target.serial(),
        "-q",
        "restore",
        archive.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out, "restore");
    let restored_dir = target_storage.join(CAMERA);
    let restored = files_in(&restored_dir);
    let mut want: BTreeMap<Vec<u8>, Vec<u8>> = hostile_files().into_iter().collect();
    want.insert(b"plain.jpg".to_vec(), b"content P: plain".to_vec());
    assert_eq!(
        restored
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>(),
        want.keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>(),
    );
    assert_eq!(restored, want, "a file came back with the wrong bytes");
    for name in want.keys() {
        let meta = fs::metadata(restored_dir.join(OsStr::from_bytes(name))).unwrap();
        assert_eq!(
            meta.modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            MTIME as u64,
            "mtime of {:?}",
            String::from_utf8_lossy(name)
        );
    }
    // A second restore finds every file in place.
    let out = env.phonevault(&[
        "-s",
        &target.serial(),
        "-q",
        "restore",
        archive.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out, "second restore");
    assert_eq!(
        files_in(&restored_dir),
        want,
        "the second restore changed files"
    );
}

/// A handset whose serial holds an escape sequence and whose model holds a newline.
fn evil_handset(env: &TestEnv) -> common::Handset {
    let storage = hostile_storage(env);
    env.start_handset(
        HandsetSpec::android14()
            .storage(&storage)
            .serial("EVIL\u{1b}[31mX")
            .model("Pixel\nFAKE-ROW device"),
    )
}

#[test]
fn devices_escapes_a_serial_and_model_with_control_characters() {
    let env = TestEnv::new();
    let _phone = evil_handset(&env);

    // devices: no raw escape, and the model's newline does not start a row of its own.
    let out = env.phonevault(&["devices"]);
    assert_success(&out, "devices");
    no_escape_byte(&out, "devices");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        table.lines().count(),
        2,
        "a header and one row expected:\n{table}"
    );
    assert!(table.contains(r"Pixel\nFAKE-ROW device"), "{table}");
    let out = env.phonevault(&["devices", "--json"]);
    let rows = stdout_json(&out);
    assert_eq!(rows[0]["hardware_serial"], "EVIL\u{1b}[31mX", "{rows:#}");
    assert_eq!(rows[0]["model"], "Pixel\nFAKE-ROW device", "{rows:#}");
    assert_eq!(
        rows[0]["sdk"], 34,
        "the lines after the model still parse: {rows:#}"
    );
}

#[test]
fn backup_to_the_default_folder_sanitises_the_serial_and_prints_no_escape() {
    let env = TestEnv::new();
    let phone = evil_handset(&env);

    // backup without --to: the default folder's name is sanitised, nothing raw is printed.
    let out = env.phonevault(&["-s", &phone.serial(), "-q", "backup"]);
    assert_success(&out, "backup to the default folder");
    no_escape_byte(&out, "backup");
    let base = env.path().join("home").join("phonevault");
    let folders: Vec<String> = fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    assert!(folder.starts_with("EVIL__31mX-"), "{folder}");
    assert!(
        folder
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        "{folder}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(folder.as_str()), "{text}");
}

/// Through the library on an Android 10 handset (toybox without `find -printf`, so the
/// helper's `stat` fallback): the helper's listing and the sync walk give the same display
/// paths, and `heads`, `hash`, `hash_inline` and `pull` each reach the file with those
/// exact bytes.
#[test]
fn every_phone_request_reaches_the_exact_bytes() {
    use phonevault::adb::{self, ConnectOptions};
    use phonevault::escape::phone_path_text;
    use phonevault::helper::{self, FileStatus};
    use sha2::{Digest, Sha256};

    let env = TestEnv::new();
    let storage = hostile_storage(&env);
    let phone = env.start_handset(HandsetSpec::android10().storage(&storage));
    let server = adb::connect(&ConnectOptions {
        port: Some(env.server_port()),
        ..ConnectOptions::default()
    })
    .expect("the test's adb server");
    let handset = server.open(Some(&phone.serial())).expect("the handset");

    let roots = vec![format!("/sdcard/{CAMERA}")];
    let mut listed = helper::list(&handset, &roots).expect("helper list").listing;
    let mut walked = helper::walk(&handset, &roots).expect("sync walk");
    for l in [&mut listed, &mut walked] {
        l.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    assert_eq!(listed.files, walked.files);
    assert!(listed.messages.is_empty(), "{:?}", listed.messages);

    let files = hostile_files();
    let paths: Vec<String> = files
        .iter()
        .map(|(name, _)| {
            let mut bytes = format!("/sdcard/{CAMERA}/").into_bytes();
            bytes.extend_from_slice(name);
            phone_path_text(&bytes).into_owned()
        })
        .collect();
    let listed_paths: Vec<&str> = listed.files.iter().map(|f| f.path.as_str()).collect();
    for path in &paths {
        assert!(
            listed_paths.contains(&path.as_str()),
            "{path} not in {listed_paths:?}"
        );
    }

    let hex = |data: &[u8]| -> String {
        use std::fmt::Write as _;
        Sha256::digest(data).iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    let hashes = helper::hash(&handset, &paths).expect("hash");
    let inline = helper::hash_inline(&handset, &paths).expect("hash_inline");
    let mut heads = Vec::new();
    helper::heads(&handset, &paths, 12, &mut |_, status, bytes| {
        heads.push((status, bytes.to_vec()));
        Ok(())
    })
    .expect("heads");
    for (i, (_, data)) in files.iter().enumerate() {
        assert_eq!(hashes[i].status, FileStatus::Ok, "{}", paths[i]);
        assert_eq!(hashes[i].sha256, hex(data), "{}", paths[i]);
        assert_eq!(inline[i].sha256, hex(data), "{}", paths[i]);
        assert_eq!(
            heads[i],
            (FileStatus::Ok, data[..12].to_vec()),
            "{}",
            paths[i]
        );
        let mut pulled = Vec::new();
        handset.pull(&paths[i], &mut pulled).expect("pull");
        assert_eq!(&pulled, data, "{}", paths[i]);
    }
}

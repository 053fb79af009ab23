//! A hostile phone (issue 16): names that try to break out of a folder or a terminal,
//! symlinks that loop or point out of the storage, files that change or vanish while they
//! are read, and a folder of 100,000 files. For each: nothing escapes a destination, nothing
//! unescaped reaches a terminal or a page, every other item is saved, and the result names
//! what was skipped and why.
//!
//! Symlinks: phonevault lists regular files only and never follows a symlink, whether it
//! points inside the media folders, outside the storage or at itself (the Gallery shows none
//! of them either); a media folder that is itself a symlink is not listed through.

mod common;
mod ui_common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant, UNIX_EPOCH};

use base64::Engine as _;
use common::{assert_success, stdout_json, HandsetSpec, TestEnv, Tmpfs};
use serde_json::Value;

/// An mtime the files get, so a changed file shows a different one.
const MTIME: u64 = 1_700_000_000;

fn set_mtime(path: &Path, secs: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// Writes `bytes` at `rel` (name bytes, relative to the storage), with [`MTIME`].
fn put(storage: &Path, rel: &[u8], bytes: &[u8]) {
    let path = storage.join(OsStr::from_bytes(rel));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, bytes).unwrap();
    set_mtime(&path, MTIME);
}

/// Every regular file under `dir`, by its path's bytes relative to `dir`; panics on a
/// symlink (nothing phonevault writes may be one).
fn files_under(dir: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let kind = fs::symlink_metadata(&path).unwrap().file_type();
            assert!(
                !kind.is_symlink(),
                "a symlink was written: {}",
                path.display()
            );
            if kind.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec();
                found.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// No raw control character but newline (ESC, BEL, CR, ...) on stdout or stderr.
fn nothing_raw_reaches_the_terminal(out: &Output, what: &str) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let raw = bytes
            .iter()
            .find(|&&b| (b < 0x20 && b != b'\n') || b == 0x7f);
        assert!(
            raw.is_none(),
            "{what} printed a raw control byte {raw:?} on {stream}:\n{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// The exact path bytes of each `ls --json` item.
fn raw_paths(listed: &Value) -> Vec<Vec<u8>> {
    listed["items"]
        .as_array()
        .expect("ls --json has items")
        .iter()
        .map(|i| match i["raw_path"].as_str() {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("raw_path is base64"),
            None => i["path"].as_str().unwrap().as_bytes().to_vec(),
        })
        .collect()
}

const CAMERA: &[u8] = b"DCIM/Camera/";

/// The regular files of the hostile phone: path bytes relative to the storage, and
/// contents (each its own, so a copy shows which file it came from).
fn hostile_media() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let in_camera = |name: &[u8]| [CAMERA, name].concat();
    let mut names: Vec<Vec<u8>> = [
        b"plain.jpg".as_slice(),
        b"new\nline.jpg",
        b"title\x1b]0;pwned\x07.jpg",
        b"clear\x1b[2J\x1b[H\r.jpg",
        b"-rf.jpg",
        b"--help.jpg",
        b"..jpg",
        b"...jpg",
        b"..%2F..%2F..%2Fescape.jpg",
        b"x%2F..%2F..%2F..%2Fescape.jpg",
        b"%2e%2e.jpg",
        b"<img src=x onerror=alert(1)>.jpg",
        b"not\xff\xfeutf8.jpg",
    ]
    .iter()
    .map(|n| in_camera(n))
    .collect();
    // 255 bytes, the longest name Android allows: plain, and with bytes that the archive
    // writes escaped (each escape is longer than the byte).
    names.push(in_camera(&[vec![b'L'; 251], b".jpg".to_vec()].concat()));
    names.push(in_camera(
        &[vec![b'\\'; 40], vec![b'w'; 211], b".jpg".to_vec()].concat(),
    ));
    names.push(in_camera(
        &[vec![0xff; 40], vec![b'u'; 211], b".jpg".to_vec()].concat(),
    ));
    // Folders with hostile names.
    names.push(b"DCIM/-n/dash-folder.jpg".to_vec());
    names.push(b"DCIM/.../dots-folder.jpg".to_vec());
    names.push(b"DCIM/..%2F/pct-folder.jpg".to_vec());
    names.push(b"DCIM/%2e%2e/pct-dots-folder.jpg".to_vec());
    names.push(b"DCIM/a..b/dots-inside.jpg".to_vec());
    names.push(b"Pictures/esc\x1b[31m/red.jpg".to_vec());
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let content = format!("content {i}: {}", String::from_utf8_lossy(&name));
            (name, content.into_bytes())
        })
        .collect()
}

/// Whether a path is hidden from the Gallery (a component starting with a dot), so left out
/// of `ls` and `backup` unless `ls --all` asks for it.
fn hidden(rel: &[u8]) -> bool {
    rel.split(|&b| b == b'/').any(|part| part.starts_with(b"."))
}

/// Symlinks next to the media: loops, links out of the storage (the host's `/etc`, the
/// phone's `/data`), one to a media file, and a media folder (`Movies`) that is a link out.
fn plant_symlinks(storage: &Path) {
    let camera = storage.join("DCIM/Camera");
    for (name, target) in [
        ("loop", "."),
        ("up", "../.."),
        ("self.jpg", "self.jpg"),
        ("passwd.jpg", "/etc/passwd"),
        ("data", "/data"),
        ("secret.jpg", "/data/local/tmp/secret.jpg"),
        ("alias.jpg", "plain.jpg"),
    ] {
        symlink(target, camera.join(name)).unwrap();
    }
    symlink("pong", storage.join("Pictures/ping")).unwrap();
    symlink("ping", storage.join("Pictures/pong")).unwrap();
    symlink("/data/local/tmp", storage.join("Movies")).unwrap();
}

/// The links [`plant_symlinks`] makes, as device paths, sorted.
const SYMLINKS: [&str; 10] = [
    "/sdcard/DCIM/Camera/alias.jpg",
    "/sdcard/DCIM/Camera/data",
    "/sdcard/DCIM/Camera/loop",
    "/sdcard/DCIM/Camera/passwd.jpg",
    "/sdcard/DCIM/Camera/secret.jpg",
    "/sdcard/DCIM/Camera/self.jpg",
    "/sdcard/DCIM/Camera/up",
    "/sdcard/Movies",
    "/sdcard/Pictures/ping",
    "/sdcard/Pictures/pong",
];

/// What must never be copied: the secret outside the storage.
const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-STORAGE";

#[test]
fn hostile_names_and_symlinks_stay_inside_every_destination_and_the_rest_is_saved() {
    let env = TestEnv::new();
    let storage = env.new_dir("hostile-storage");
    let media = hostile_media();
    for (rel, bytes) in &media {
        put(&storage, rel, bytes);
    }
    plant_symlinks(&storage);
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage));
    let serial = phone.serial();
    let out = phone.shell(&format!(
        "echo {} > /data/local/tmp/secret.jpg",
        String::from_utf8_lossy(SECRET)
    ));
    assert!(out.status.success(), "{out:?}");

    check_listings(&env, &serial, &media);
    let media: BTreeMap<Vec<u8>, Vec<u8>> =
        media.into_iter().filter(|(rel, _)| !hidden(rel)).collect();
    check_preview_and_client(&env, &serial, &media);
    let archive = check_backup(&env, &serial, &media);
    check_extract(&env, &archive, &media);
    check_restore(&env, &archive, &media);
}

/// `ls --all --json`, `ls --json` and the `ls` table.
fn check_listings(env: &TestEnv, serial: &str, media: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let device_paths = |all: bool| -> Vec<Vec<u8>> {
        media
            .keys()
            .filter(|rel| all || !hidden(rel))
            .map(|rel| [b"/sdcard/".as_slice(), rel].concat())
            .collect()
    };
    let want_paths = device_paths(false);
    // `ls --all` lists the hidden ones too, under their exact bytes.
    let out = env.phonevault(&["-s", serial, "ls", "--all", "--json"]);
    assert_success(&out, "ls --all --json");
    let mut got = raw_paths(&stdout_json(&out));
    got.sort();
    assert_eq!(got, device_paths(true));

    // ls --json: exactly the regular files, each under its exact bytes.
    let out = env.phonevault(&["-s", serial, "ls", "--json"]);
    assert_success(&out, "ls --json");
    nothing_raw_reaches_the_terminal(&out, "ls --json");
    let listed = stdout_json(&out);
    let mut got = raw_paths(&listed);
    got.sort();
    assert_eq!(
        got.iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>(),
        want_paths
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>(),
        "ls lists the regular files only, no symlink: {listed:#}"
    );
    assert_eq!(got, want_paths);
    // Every symlink is named as not followed, a media folder that is one included.
    let mut links: Vec<&str> = listed["links_not_followed"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    links.sort_unstable();
    assert_eq!(links, SYMLINKS, "{listed:#}");

    // ls as a table: one row per item (a newline in a name starts no row), nothing raw.
    let out = env.phonevault(&["-s", serial, "ls"]);
    assert_success(&out, "ls");
    nothing_raw_reaches_the_terminal(&out, "ls");
    let table = String::from_utf8_lossy(&out.stdout);
    let warnings = String::from_utf8_lossy(&out.stderr);
    for link in SYMLINKS {
        assert!(
            warnings.contains(&format!("{link}: symbolic link, not followed")),
            "{warnings}"
        );
    }
    assert!(table.contains(r"new\nline.jpg"), "{table}");
    assert!(table.contains(r"title\e]0;pwned\u{7}.jpg"), "{table}");
}

/// `preview` (the page) and the desktop client's listing; `media` holds the visible files.
fn check_preview_and_client(env: &TestEnv, serial: &str, media: &BTreeMap<Vec<u8>, Vec<u8>>) {
    // preview: the contact sheet holds no name unescaped.
    let sheet = env.path().join("sheet.html");
    let out = env.phonevault(&[
        "-s",
        serial,
        "-q",
        "preview",
        "--out",
        sheet.to_str().unwrap(),
    ]);
    assert_success(&out, "preview");
    nothing_raw_reaches_the_terminal(&out, "preview");
    let page = fs::read(&sheet).unwrap();
    let page_text = String::from_utf8_lossy(&page);
    assert!(!page_text.contains("<img src=x"), "an unescaped name");
    assert!(!page.contains(&0x1b), "a raw ESC in the page");
    assert!(!page.windows(SECRET.len()).any(|w| w == SECRET));

    // The desktop client's listing: the same items.
    let ui = ui_common::Ui::start(env, &[]);
    ui.wait_for_phone(serial);
    let api = ui.media(serial);
    let api_items = api["items"].as_array().expect("items");
    assert_eq!(api_items.len(), media.len(), "{api:#}");
    drop(ui);
}

/// `backup` and `show`: the archive.
fn check_backup(env: &TestEnv, serial: &str, media: &BTreeMap<Vec<u8>, Vec<u8>>) -> PathBuf {
    // backup: every regular file saved, nothing failed, nothing raw printed.
    let to = env.new_dir("backups");
    let out = env.phonevault(&[
        "-s",
        serial,
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--json",
    ]);
    nothing_raw_reaches_the_terminal(&out, "backup");
    let summary = stdout_json(&out);
    assert_success(&out, "backup");
    assert_eq!(
        summary["items"].as_u64(),
        Some(media.len() as u64),
        "{summary:#}"
    );
    assert_eq!(summary["failed"].as_u64(), Some(0), "{summary:#}");
    let mut links: Vec<&str> = summary["links_not_followed"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    links.sort_unstable();
    assert_eq!(
        links, SYMLINKS,
        "the backup names the links it left: {summary:#}"
    );
    let archive = PathBuf::from(summary["archive"].as_str().expect("an archive"));
    let zip = fs::read(&archive).unwrap();
    assert!(
        !zip.windows(SECRET.len()).any(|w| w == SECRET),
        "the secret behind a symlink was copied"
    );

    // show: nothing raw.
    let out = env.phonevault(&["show", archive.to_str().unwrap()]);
    assert_success(&out, "show");
    nothing_raw_reaches_the_terminal(&out, "show");

    archive
}

/// `extract` to a host folder.
fn check_extract(env: &TestEnv, archive: &Path, media: &BTreeMap<Vec<u8>, Vec<u8>>) {
    // extract into a folder inside a folder: everything lands inside, one file per item.
    let outer = env.new_dir("extract-outer");
    let into = outer.join("into");
    let out = env.phonevault(&[
        "-q",
        "extract",
        archive.to_str().unwrap(),
        "--to",
        into.to_str().unwrap(),
    ]);
    nothing_raw_reaches_the_terminal(&out, "extract");
    // The two 255-byte names holding bytes the archive escapes (`\\` as `%5C`, `\xFF` as
    // `%FF`) are longer than a host file name may be: they are written under a shortened
    // name, and every item is written.
    assert_success(&out, "extract");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!report.contains("NOT WRITTEN"), "{report}");
    let outside: Vec<_> = fs::read_dir(&outer)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside,
        vec![OsStr::new("into").to_owned()],
        "written outside"
    );
    let extracted = files_under(&into);
    let mut extracted_contents: Vec<&Vec<u8>> = extracted.values().collect();
    let mut want_contents: Vec<&Vec<u8>> = media.values().collect();
    extracted_contents.sort();
    want_contents.sort();
    assert_eq!(
        extracted_contents,
        want_contents,
        "extracted: {:#?}",
        extracted
            .keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>()
    );
}

/// `restore` onto a second, empty handset.
fn check_restore(env: &TestEnv, archive: &Path, media: &BTreeMap<Vec<u8>, Vec<u8>>) {
    // restore onto a second, empty handset: every file under its exact name, nothing else.
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
    nothing_raw_reaches_the_terminal(&out, "restore");
    assert_success(&out, "restore");
    let restored = files_under(&target_storage);
    assert_eq!(
        restored
            .keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
        media
            .keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
    );
    assert_eq!(&restored, media, "a file came back with other bytes");
}

/// The size of each file changed while it is read.
const BIG: usize = 3 << 20;

fn pattern(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A file that grows, shrinks, is overwritten in place (same size, new mtime), is replaced by
/// a rename, or is deleted, each once 1 MiB of it was read (the handset's `read-hook` fault
/// runs the change at that exact point of the transfer): every file still there is stored
/// as it is now, never mixed; the deleted one is named as gone, with why; the others saved.
#[test]
fn files_that_change_or_vanish_while_read_are_stored_as_they_are_now_or_named() {
    let env = TestEnv::new();
    let storage = env.new_dir("phone");
    let camera = "DCIM/Camera";
    let names = [
        "grows",
        "shrinks",
        "overwritten",
        "renamed-over",
        "deleted",
        "steady",
    ];
    for (i, name) in names.iter().enumerate() {
        put(
            &storage,
            format!("{camera}/{name}.mp4").as_bytes(),
            &pattern(BIG, i as u8),
        );
    }
    // New contents, staged outside the media folders.
    put(&storage, b"staging/same-size", &pattern(BIG, 100));
    put(&storage, b"staging/renamed", &pattern(BIG, 101));
    // Written by an app a day later, then renamed over the original.
    set_mtime(&storage.join("staging/renamed"), MTIME + 86_400);
    let dev = |name: &str| format!("/sdcard/{camera}/{name}.mp4");
    let hooks = [
        (
            "grows",
            format!("head -c 70000 /dev/zero >> {}", dev("grows")),
        ),
        ("shrinks", format!("truncate -s 2000000 {}", dev("shrinks"))),
        (
            "overwritten",
            format!("cat /sdcard/staging/same-size > {}", dev("overwritten")),
        ),
        (
            "renamed-over",
            format!("mv /sdcard/staging/renamed {}", dev("renamed-over")),
        ),
        ("deleted", format!("rm {}", dev("deleted"))),
    ];
    let mut spec = HandsetSpec::android14().storage(&storage);
    for (name, command) in &hooks {
        spec = spec.fault(&format!("read-hook=1M:{}:{command}", dev(name)));
    }
    let phone = env.start_handset(spec);
    let to = env.new_dir("backups");
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--json",
    ]);
    let summary = stdout_json(&out);
    let log = phone.sim_log();
    for (name, _) in &hooks {
        // "read-hook after N bytes of PATH": N is where the read stood when the file changed.
        let at = log
            .lines()
            .find(|l| l.contains(&format!(" bytes of {}:", dev(name))))
            .and_then(|l| l.split("read-hook after ").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok());
        assert!(
            at.is_some_and(|n| (1 << 20..BIG - (256 << 10)).contains(&n)),
            "the change to {name} did not happen mid-read:\n{log}"
        );
    }
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{summary:#}");
    assert_eq!(failures[0]["path"].as_str(), Some(dev("deleted").as_str()));
    let why = failures[0]["message"].as_str().unwrap();
    assert!(why.contains("gone"), "{why}");
    assert_eq!(summary["items"].as_u64(), Some(5), "{summary:#}");
    assert_eq!(
        out.status.code(),
        Some(3),
        "a backup that could not save an item exits 3 (incomplete): {summary:#}"
    );
    let archive = PathBuf::from(summary["archive"].as_str().unwrap());
    let stored = stored_items(&env, &archive);
    for name in ["grows", "shrinks", "overwritten", "renamed-over", "steady"] {
        let path = storage.join(format!("{camera}/{name}.mp4"));
        let now = fs::read(&path).unwrap();
        assert_eq!(
            stored.get(&dev(name)),
            Some(&(sha256_hex(&now), mtime_of(&path))),
            "{name} is not stored as it is now ({} bytes)",
            now.len()
        );
    }
    assert_eq!(summary["reread"].as_u64(), Some(4), "{summary:#}");
    let verify = env.phonevault(&["verify", archive.to_str().unwrap()]);
    assert_success(&verify, "verify");
}

/// An archive's items through `show --json`: path -> (sha256, mtime).
fn stored_items(env: &TestEnv, archive: &Path) -> BTreeMap<String, (String, i64)> {
    let show = env.phonevault(&["show", archive.to_str().unwrap(), "--json"]);
    assert_success(&show, "show --json");
    let shown = stdout_json(&show);
    shown
        .as_array()
        .or_else(|| shown["items"].as_array())
        .expect("show --json lists items")
        .iter()
        .map(|i| {
            let path = i["path"].as_str().unwrap().to_owned();
            let sha = i["sha256"].as_str().unwrap().to_owned();
            (path, (sha, i["mtime"].as_i64().unwrap()))
        })
        .collect()
}

fn mtime_of(path: &Path) -> i64 {
    let modified = fs::metadata(path).unwrap().modified().unwrap();
    i64::try_from(modified.duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// The folder of [`FILES`] tiny files on a tmpfs (100,000 files made and removed on a loaded
/// disk take minutes; a tmpfs makes them in seconds and drops them at once), and a handset
/// serving it.
fn phone_with_a_huge_folder(env: &TestEnv) -> (Tmpfs, common::Handset) {
    let disk = Tmpfs::mount(env, "tmpfs", 1 << 30);
    let storage = disk.0.join("phone");
    let folder = storage.join("DCIM/Camera");
    fs::create_dir_all(&folder).unwrap();
    let started = Instant::now();
    for i in 0..FILES {
        fs::write(folder.join(format!("IMG_{i:06}.jpg")), format!("{i}")).unwrap();
    }
    eprintln!("made {FILES} files in {:?}", started.elapsed());
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage));
    (disk, phone)
}

const FILES: usize = 100_000;

/// A folder of 100,000 tiny files: `ls --json` lists every one (about 11 s on the loaded
/// 2-core machine, 15-20 s for the whole test).
#[test]
fn a_folder_of_100000_files_is_listed_whole() {
    let env = TestEnv::new();
    let (_disk, phone) = phone_with_a_huge_folder(&env);
    let started = Instant::now();
    let out = env.phonevault(&["-s", &phone.serial(), "ls", "--json"]);
    assert_success(&out, "ls --json");
    let listed = stdout_json(&out);
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), FILES);
    let mut ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), FILES, "every item has its own id");
    eprintln!("ls --json of {FILES} files: {:?}", started.elapsed());
}

/// The same links, named alike on an Android 10 handset (toybox without `find -printf`, so
/// the helper's `-exec` fallback) and by the folder-by-folder sync walk that stands in when
/// the helper cannot run; neither lists a file behind a link.
#[test]
fn symlinks_are_named_alike_by_the_helper_fallback_and_the_sync_walk() {
    use phonevault::adb::{self, ConnectOptions};
    use phonevault::helper;

    let env = TestEnv::new();
    let storage = env.new_dir("phone");
    put(&storage, b"DCIM/Camera/plain.jpg", b"plain");
    fs::create_dir_all(storage.join("Pictures")).unwrap();
    plant_symlinks(&storage);
    let phone = env.start_handset(HandsetSpec::android10().storage(&storage));
    let server = adb::connect(&ConnectOptions {
        port: Some(env.server_port()),
        ..ConnectOptions::default()
    })
    .expect("the test's adb server");
    let handset = server.open(Some(&phone.serial())).expect("the handset");
    let roots: Vec<String> = ["DCIM", "Pictures", "Movies"]
        .iter()
        .map(|f| format!("/sdcard/{f}"))
        .collect();
    let listed = helper::list(&handset, &roots).expect("helper list").listing;
    let walked = helper::walk(&handset, &roots).expect("sync walk");
    for (how, listing) in [("helper", listed), ("sync walk", walked)] {
        let mut links = listing.links.clone();
        links.sort();
        assert_eq!(links, SYMLINKS, "{how}: {listing:?}");
        let files: Vec<&str> = listing.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(files, ["/sdcard/DCIM/Camera/plain.jpg"], "{how}");
    }
}

/// The backup of a folder of 100,000 tiny files: every one stored (a zip of more than 65,535
/// entries, which `unzip` lists whole).
#[test]
fn a_folder_of_100000_files_is_backed_up_whole() {
    let env = TestEnv::new();
    let disk = Tmpfs::mount(&env, "tmpfs", 1 << 30);
    let storage = disk.0.join("phone");
    let folder = storage.join("DCIM/Camera");
    fs::create_dir_all(&folder).unwrap();
    for i in 0..FILES {
        fs::write(folder.join(format!("VID_{i:06}.mp4")), format!("{i}")).unwrap();
    }
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage));
    let to = disk.0.join("backups");
    let started = Instant::now();
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--json",
    ]);
    eprintln!("backup of {FILES} files: {:?}", started.elapsed());
    assert_success(&out, "backup");
    let summary = stdout_json(&out);
    assert_eq!(summary["items"].as_u64(), Some(FILES as u64), "{summary:#}");
    let listing = env
        .command("unzip")
        .arg("-Z1")
        .arg(summary["archive"].as_str().unwrap())
        .output()
        .unwrap();
    let entries = String::from_utf8_lossy(&listing.stdout);
    let media = entries
        .lines()
        .filter(|l| l.starts_with("gallery/DCIM/Camera/VID_"))
        .count();
    assert_eq!(media, FILES, "unzip lists every entry");
}

//! Backups that must not lose or misreport anything (issue 11): two runs into one folder,
//! a file rewritten while it is read, a damaged item in an older archive, and the counts of
//! an interrupted run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{
    assert_success, stdout_json, try_run_with_timeout, wait_timeout, HandsetSpec, Populate, TestEnv,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A fixed old mtime for files the tests write on the handset.
const OLD_MTIME: u64 = 1_700_000_000;

/// Writes `size` bytes that differ from file to file (`seed`) into the handset's storage,
/// with mtime `OLD_MTIME`.
fn write_media(storage: &Path, rel: &str, size: usize, seed: u64) -> PathBuf {
    let path = storage.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, pattern(size, seed)).unwrap();
    set_mtime(&path, OLD_MTIME);
    path
}

fn pattern(size: usize, seed: u64) -> Vec<u8> {
    // xorshift: cheap bytes that never repeat within a file.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(size + 8);
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

fn set_mtime(path: &Path, secs: u64) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut hex, b| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

fn mtime_of(path: &Path) -> i64 {
    let modified = fs::metadata(path).unwrap().modified().unwrap();
    i64::try_from(
        modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn zips(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    found.sort();
    found
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The manifest items of an archive, through `phonevault show --json`.
fn manifest_items(env: &TestEnv, archive: &Path) -> Vec<Value> {
    let out = env.phonevault(&["show", archive.to_str().unwrap(), "--json"]);
    assert_success(&out, "show --json");
    let value = stdout_json(&out);
    value["items"]
        .as_array()
        .or_else(|| value.as_array())
        .unwrap_or_else(|| panic!("show --json has no items: {value}"))
        .clone()
}

/// `7zz t ARCHIVE` must pass: 7-Zip reads every entry and checks its CRC.
fn seven_zip_tests_clean(env: &TestEnv, archive: &Path) {
    let out = try_run_with_timeout(
        env.command("7zz").arg("t").arg(archive),
        Duration::from_secs(120),
    )
    .expect("7zz t finishes");
    assert_success(&out, &format!("7zz t {}", archive.display()));
}

fn spawn_backup(env: &TestEnv, args: &[&str]) -> Child {
    env.command(env!("CARGO_BIN_EXE_phonevault"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start phonevault backup")
}

fn finish(mut child: Child, what: &str) -> Output {
    let status = wait_timeout(&mut child, Duration::from_secs(180))
        .unwrap_or_else(|| panic!("{what} did not end within 180 s"));
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Waits until a `.zip.partial` in `dir` holds more than `bytes`; panics if `child` ends first.
fn wait_for_partial(dir: &Path, bytes: u64, child: &mut Child) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found = fs::read_dir(dir).ok().and_then(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().ends_with(".zip.partial"))
        });
        if let Some(p) = found.filter(|p| fs::metadata(p).is_ok_and(|m| m.len() > bytes)) {
            return p;
        }
        assert!(Instant::now() < deadline, "no .partial over {bytes} bytes");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before its .partial reached {bytes} bytes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every archive in `dir` tests clean with 7-Zip; returns device path -> SHA-256 over all of
/// them, failing when an item is stored twice.
fn stored_items(env: &TestEnv, dir: &Path) -> BTreeMap<String, String> {
    let mut stored = BTreeMap::new();
    for archive in zips(dir) {
        seven_zip_tests_clean(env, &archive);
        for item in manifest_items(env, &archive) {
            let path = item["path"].as_str().unwrap().to_string();
            let sha = item["sha256"].as_str().unwrap().to_string();
            assert!(
                stored.insert(path.clone(), sha).is_none(),
                "{path} stored twice"
            );
        }
    }
    stored
}

/// A usb2 handset with one big video and three small ones, written by the test.
fn four_videos(env: &TestEnv) -> (common::Handset, BTreeMap<String, String>) {
    let storage = env.new_dir("phone");
    let mut want = BTreeMap::new();
    // v1 takes about 2.5 s over the 40 MB/s cable: time for a second run to start and meet
    // the lock even on a loaded machine.
    for (n, size) in [(1, 96 << 20), (2, 1 << 20), (3, 2 << 20), (4, 3 << 20)] {
        let rel = format!("DCIM/Camera/v{n}.mp4");
        let path = write_media(&storage, &rel, size, n);
        want.insert(
            format!("/sdcard/{rel}"),
            sha256_hex(&fs::read(path).unwrap()),
        );
    }
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage).link("usb2"));
    (phone, want)
}

/// Issue 11 item 1 (and issue 12): the second run started while the first one writes waits
/// for the folder's lock, then writes its own archive; the first one's `.partial` is never
/// taken for a stale one.
#[test]
fn a_second_backup_into_the_same_folder_waits_for_the_first_and_nothing_is_lost() {
    let env = TestEnv::new();
    let (phone, want) = four_videos(&env);
    let serial = phone.serial();
    let to = env.new_dir("backups");
    let to_arg = to.to_str().unwrap();
    let first_args = [
        "-s",
        &serial,
        "-q",
        "backup",
        "--to",
        to_arg,
        "--json",
        "--include",
        "**/v1.mp4",
    ];
    let mut first = spawn_backup(&env, &first_args);
    // The first run is writing its archive.
    wait_for_partial(&to, 0, &mut first);
    let second = spawn_backup(
        &env,
        &[
            "-s",
            &serial,
            "-q",
            "backup",
            "--to",
            to_arg,
            "--json",
            "--include",
            "**/v[2-4].mp4",
        ],
    );
    let first = finish(first, "the first backup");
    let second = finish(second, "the second backup");
    assert_success(&first, "the first backup");
    assert_success(&second, "the second backup, after waiting for the first");
    let first = stdout_json(&first);
    let second = stdout_json(&second);
    assert_eq!(first["items"].as_u64(), Some(1), "{first}");
    assert_eq!(second["items"].as_u64(), Some(3), "{second}");
    let (a, b) = (first["archive"].as_str(), second["archive"].as_str());
    assert!(a.is_some() && b.is_some() && a != b, "{first}\n{second}");
    assert_eq!(
        second["removed_partials"],
        serde_json::json!([]),
        "{second}"
    );

    // Only the two finished archives remain, both whole, holding every item exactly once.
    let names = names_in(&to);
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(stored_items(&env, &to), want);
}

/// Issue 11 item 1: with no time to wait, the second run refuses with a clear message and
/// exit 1, writes nothing, and removes nothing; the first one completes.
#[test]
fn a_second_backup_that_cannot_wait_refuses_and_the_first_completes() {
    let env = TestEnv::new();
    let (phone, want) = four_videos(&env);
    let serial = phone.serial();
    let to = env.new_dir("backups");
    let to_arg = to.to_str().unwrap();
    let mut first = spawn_backup(
        &env,
        &["-s", &serial, "-q", "backup", "--to", to_arg, "--json"],
    );
    let partial = wait_for_partial(&to, 0, &mut first);
    let refused = env.phonevault(&[
        "-s",
        &serial,
        "-q",
        "backup",
        "--to",
        to_arg,
        "--json",
        "--lock-wait",
        "0",
    ]);
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first backup ended before the second tried: the test proves nothing"
    );
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("another backup is writing into") && stderr.contains(to_arg),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "{refused:?}");
    assert!(partial.exists(), "the live .partial was removed");

    let first = finish(first, "the first backup");
    assert_success(&first, "the first backup");
    let summary = stdout_json(&first);
    assert_eq!(summary["items"].as_u64(), Some(4), "{summary}");
    assert_eq!(names_in(&to).len(), 1, "{:?}", names_in(&to));
    assert_eq!(stored_items(&env, &to), want);
}

/// Issue 11 item 4: a big file overwritten in place (same size) while it is read is not
/// stored as it was read: the phone's stat after the read shows the new mtime, so it is
/// read again, and the archive holds exactly the file as it is now.
#[test]
fn a_file_rewritten_while_it_is_read_is_read_again_and_never_stored_mixed() {
    let env = TestEnv::new();
    let storage = env.new_dir("phone");
    // About 1.7 s over the 40 MB/s cable: the rewrite lands well inside the read even on a
    // loaded machine.
    let size = 64 << 20;
    let file = write_media(&storage, "DCIM/Camera/long.mp4", size, 7);
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage).link("usb2"));
    let to = env.new_dir("backups");
    let mut child = spawn_backup(
        &env,
        &[
            "-s",
            &phone.serial(),
            "-q",
            "backup",
            "--to",
            to.to_str().unwrap(),
            "--json",
        ],
    );
    // A few MiB are read: rewrite the first MiB (already read) and a MiB near the end (not
    // read yet), keeping the size; the mtime becomes now.
    wait_for_partial(&to, 4 << 20, &mut child);
    {
        let mut f = fs::File::options().write(true).open(&file).unwrap();
        f.write_all(&pattern(1 << 20, 8)).unwrap();
        f.seek(SeekFrom::Start(50 << 20)).unwrap();
        f.write_all(&pattern(1 << 20, 9)).unwrap();
        f.sync_all().unwrap();
    }
    let rewritten = fs::read(&file).unwrap();
    assert_eq!(rewritten.len(), size);
    let out = finish(child, "the backup");
    let summary = stdout_json(&out);
    let archive = PathBuf::from(summary["archive"].as_str().unwrap());
    seven_zip_tests_clean(&env, &archive);
    let items = manifest_items(&env, &archive);
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["sha256"].as_str(),
        Some(sha256_hex(&rewritten).as_str()),
        "the archive holds a copy that is not the file as it is now: {summary}"
    );
    assert_eq!(items[0]["mtime"].as_i64(), Some(mtime_of(&file)));
    assert_success(&out, "the backup (the changed file is read a second time)");
    assert_eq!(summary["items"].as_u64(), Some(1), "{summary}");
    assert_eq!(summary["reread"].as_u64(), Some(1), "{summary}");
    let extracted = env.new_dir("out");
    assert_success(
        &env.phonevault(&[
            "extract",
            archive.to_str().unwrap(),
            "--to",
            extracted.to_str().unwrap(),
        ]),
        "extract",
    );
    let got = fs::read(extracted.join("gallery/DCIM/Camera/long.mp4")).unwrap();
    assert!(got == rewritten, "extracted bytes differ from the file");
}

/// Issue 11 item 4, small files: they are held whole and re-checked in batches; one that
/// changes after it was listed (here while a big file before it is copied) is read again.
#[test]
fn a_small_file_changed_during_the_backup_is_read_again() {
    let env = TestEnv::new();
    let storage = env.new_dir("phone");
    write_media(&storage, "DCIM/Camera/a.mp4", 48 << 20, 1);
    let small = write_media(&storage, "DCIM/Camera/b.jpg", 100_000, 2);
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage).link("usb2"));
    let to = env.new_dir("backups");
    let mut child = spawn_backup(
        &env,
        &[
            "-s",
            &phone.serial(),
            "-q",
            "backup",
            "--to",
            to.to_str().unwrap(),
            "--json",
        ],
    );
    wait_for_partial(&to, 2 << 20, &mut child);
    fs::write(&small, pattern(100_000, 3)).unwrap();
    let now = fs::read(&small).unwrap();
    let out = finish(child, "the backup");
    let summary = stdout_json(&out);
    let archive = PathBuf::from(summary["archive"].as_str().unwrap());
    let items = manifest_items(&env, &archive);
    let stored = items
        .iter()
        .find(|i| i["path"].as_str() == Some("/sdcard/DCIM/Camera/b.jpg"))
        .unwrap_or_else(|| panic!("b.jpg not stored: {summary}"));
    assert_eq!(
        stored["sha256"].as_str(),
        Some(sha256_hex(&now).as_str()),
        "{summary}"
    );
    assert_eq!(stored["mtime"].as_i64(), Some(mtime_of(&small)));
    assert_success(&out, "the backup");
    assert_eq!(summary["items"].as_u64(), Some(2), "{summary}");
    assert_eq!(summary["reread"].as_u64(), Some(1), "{summary}");
    seven_zip_tests_clean(&env, &archive);
}

/// Issue 11 item 6: once `verify` found an entry damaged, the next backup copies that item
/// again (its only copy is damaged); `--fresh-copy` copies everything again.
#[test]
fn an_item_whose_only_copy_is_damaged_is_backed_up_again() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 3,
        videos: 0,
        whatsapp: 0,
        ..Populate::default()
    }));
    let serial = phone.serial();
    let to = env.new_dir("backups");
    let backup = |extra: &[&str]| {
        let mut args = vec!["-s", serial.as_str(), "-q", "backup", "--to"];
        args.push(to.to_str().unwrap());
        args.push("--json");
        args.extend_from_slice(extra);
        let out = env.phonevault(&args);
        assert_success(&out, &format!("backup {extra:?}"));
        stdout_json(&out)
    };
    let first = backup(&[]);
    let selected = first["selected"].as_u64().unwrap();
    assert!(selected >= 3, "{first}");
    let archive = PathBuf::from(first["archive"].as_str().unwrap());
    let items = manifest_items(&env, &archive);
    let victim = &items[0];
    let victim_path = victim["path"].as_str().unwrap().to_string();

    // Flip one byte in the middle of the victim's stored bytes (entries are stored as-is).
    let on_phone = fs::read(
        phone
            .storage()
            .join(victim_path.strip_prefix("/sdcard/").unwrap()),
    )
    .unwrap();
    let mut zip = fs::read(&archive).unwrap();
    let middle = on_phone.len() / 2;
    let probe = &on_phone[middle..middle + 64];
    let at = zip
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the victim's bytes are in the archive");
    zip[at] ^= 0xFF;
    fs::write(&archive, &zip).unwrap();

    // Before verify nothing is known: the item counts as backed up.
    let unaware = backup(&[]);
    assert_eq!(unaware["items"].as_u64(), Some(0), "{unaware}");

    let verify = env.phonevault(&["verify", archive.to_str().unwrap()]);
    assert!(!verify.status.success(), "verify must report the damage");

    let second = backup(&[]);
    assert_eq!(second["items"].as_u64(), Some(1), "{second}");
    assert_eq!(second["recopied_damaged"].as_u64(), Some(1), "{second}");
    let fresh = PathBuf::from(second["archive"].as_str().unwrap());
    let recopied = manifest_items(&env, &fresh);
    assert_eq!(recopied.len(), 1);
    assert_eq!(recopied[0]["path"].as_str(), Some(victim_path.as_str()));
    assert_eq!(recopied[0]["sha256"], victim["sha256"]);
    assert_success(
        &env.phonevault(&["verify", fresh.to_str().unwrap()]),
        "verify of the new copy",
    );

    // Now a good copy exists: nothing more to do.
    let third = backup(&[]);
    assert_eq!(third["items"].as_u64(), Some(0), "{third}");
    assert_eq!(third["skipped"].as_u64(), Some(selected), "{third}");

    // A fresh copy of everything on request.
    let all = backup(&["--fresh-copy"]);
    assert_eq!(all["items"].as_u64(), Some(selected), "{all}");
    assert_eq!(all["skipped"].as_u64(), Some(0), "{all}");
}

/// Issue 12 (backup part): when the cable is pulled mid-copy, the item in flight is counted,
/// so items + failed + not attempted + skipped = selected.
#[test]
fn an_interrupted_backup_accounts_for_every_selected_item() {
    let env = TestEnv::new();
    let populate = Populate {
        photos: 12,
        photo_size: Some("1M-2M"),
        videos: 1,
        whatsapp: 6,
        ..Populate::default()
    };
    let mut phone = env.start_handset(HandsetSpec::android14().populate(populate));
    let truth = phone.truth();
    let total: u64 = truth
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["include"].as_bool() == Some(true))
        .map(|r| r["size"].as_u64().unwrap())
        .sum();
    let storage = phone.storage().to_path_buf();
    phone.restart(
        HandsetSpec::android14()
            .storage(&storage)
            .fault(&format!("disconnect-after={}", total / 2)),
    );
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
    assert!(!out.status.success(), "{out:?}");
    let summary = stdout_json(&out);
    assert!(!summary["stopped"].is_null(), "{summary}");
    let count = |key: &str| summary[key].as_u64().unwrap();
    assert!(
        count("items") > 0 && count("not_attempted") > 0,
        "{summary}"
    );
    assert_eq!(
        count("items") + count("failed") + count("not_attempted") + count("skipped"),
        count("selected"),
        "{summary}"
    );
    let stored: BTreeSet<String> = zips(&to)
        .iter()
        .flat_map(|a| manifest_items(&env, a))
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored.len() as u64, count("items"), "{summary}");
}

//! Issue 16, faults during a restore: the phone fills up mid-push, the cable is pulled while
//! the pushed copies are being checked, and phonevault itself is killed (SIGKILL) mid-push.
//! After each, nothing partial stands under a real name on the phone (temporary names only,
//! which the design lets a rerun remove), and a rerun completes: every item byte-identical
//! with its mtime, and no temporary name left.
//!
//! A cable pulled mid-push is covered by `restore.rs`
//! (`a_pulled_cable_leaves_no_partial_file_and_a_rerun_completes`) and `restore_integrity.rs`
//! (`an_interrupted_restore_counts_what_is_in_place_and_the_rerun_leaves_no_folders`).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_success, bytes_of, descendant_cmdlines, stdout_json, HandsetSpec, TestEnv};
use phonevault::adb::Identity;
use phonevault::archive::ArchiveWriter;
use phonevault::catalog::{Kind, MediaItem, Source};

/// Where restore's temporary folders start (`.phonevault-restore-<job>.partial`).
const TEMP_MARK: &str = ".phonevault-restore";

fn identity() -> Identity {
    Identity {
        serial: "R58M12ABCDE".to_owned(),
        model: "SM-G991B".to_owned(),
        manufacturer: "samsung".to_owned(),
        android_version: "14".to_owned(),
        sdk: 34,
    }
}

/// One archived Gallery item: its path relative to the phone's storage, bytes and mtime.
#[derive(Clone)]
struct Item {
    rel: String,
    bytes: Vec<u8>,
    mtime: i64,
}

/// Camera photos of the given sizes, with distinct bytes and mtimes.
fn photos(sizes: &[usize]) -> Vec<Item> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| Item {
            rel: format!("DCIM/Camera/IMG_20240101_{i:06}.jpg"),
            bytes: bytes_of(u32::try_from(i).unwrap() + 1, size),
            mtime: 1_704_067_200 + i64::try_from(i).unwrap() * 61,
        })
        .collect()
}

/// An archive of `items` written by phonevault's own writer into `dir`.
fn archive_of(dir: &Path, items: &[Item]) -> PathBuf {
    let mut writer = ArchiveWriter::create(dir, "faults", None, &identity()).unwrap();
    for item in items {
        let media = MediaItem {
            id: format!("id-{}", item.rel),
            path: format!("/sdcard/{}", item.rel),
            root: "/sdcard".to_owned(),
            rel_path: item.rel.clone(),
            source: Source::Gallery,
            album: "Camera".to_owned(),
            kind: Kind::Photo,
            size: item.bytes.len() as u64,
            mtime: item.mtime,
            taken: None,
            sent: false,
            private: false,
        };
        let mut w = writer.begin_item(&media).unwrap();
        w.write_all(&item.bytes).unwrap();
        w.commit().unwrap();
    }
    writer.finish().unwrap()
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

/// A file on the phone: SHA-256 and mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OnPhone {
    sha256: String,
    mtime: i64,
}

/// Every regular file on the phone (path relative to `/sdcard`), read through its own shell
/// (a handset with a capacity runs on a copy of its storage that the host cannot see).
fn phone_files(phone: &common::Handset) -> BTreeMap<String, OnPhone> {
    let out = phone.shell(
        "cd /sdcard && find . -type f -exec sha256sum {} + && echo --- && \
         find . -type f -exec stat -c '%Y %n' {} +",
    );
    assert_success(&out, "listing the phone");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (hashes, times) = text.split_once("---\n").expect("both listings");
    let mut files = BTreeMap::new();
    for line in hashes.lines() {
        let (sha, path) = line.split_once("  ").expect("sha256sum output");
        files.insert(
            path.trim_start_matches("./").to_owned(),
            OnPhone {
                sha256: sha.to_owned(),
                mtime: 0,
            },
        );
    }
    for line in times.lines() {
        let (mtime, path) = line.split_once(' ').expect("stat output");
        let file = files
            .get_mut(path.trim_start_matches("./"))
            .expect("the same files");
        file.mtime = mtime.parse().unwrap();
    }
    files
}

/// Under a real name (outside restore's temporary folders) the phone holds only whole,
/// byte-identical items with their mtimes, plus `others`; returns the items in place.
fn assert_only_whole_items(
    phone: &common::Handset,
    items: &[Item],
    others: &[&str],
    what: &str,
) -> usize {
    let mut in_place = 0;
    for (path, file) in phone_files(phone) {
        if path.contains(TEMP_MARK) || others.contains(&path.as_str()) {
            continue;
        }
        let item = items
            .iter()
            .find(|i| i.rel == path)
            .unwrap_or_else(|| panic!("{what}: {path} is on the phone but is no item"));
        assert_eq!(
            file,
            OnPhone {
                sha256: sha_hex(&item.bytes),
                mtime: item.mtime
            },
            "{what}: {path} stands under its real name but is not the whole item"
        );
        in_place += 1;
    }
    in_place
}

/// After the rerun: every item in place, whole, with its mtime, and no temporary name.
fn assert_complete(phone: &common::Handset, items: &[Item], others: &[&str], what: &str) {
    let files = phone_files(phone);
    let temps: Vec<&String> = files.keys().filter(|p| p.contains(TEMP_MARK)).collect();
    assert!(
        temps.is_empty(),
        "{what}: temporary files stayed: {temps:?}"
    );
    let placed = assert_only_whole_items(phone, items, others, what);
    assert_eq!(placed, items.len(), "{what}: items missing: {files:?}");
}

fn restore(env: &TestEnv, phone: &common::Handset, archive: &Path) -> Output {
    env.phonevault_timeout(
        &[
            "-s",
            &phone.serial(),
            "-q",
            "restore",
            archive.to_str().unwrap(),
            "--json",
        ],
        Duration::from_secs(120),
    )
    .expect("the restore hung")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The phone's storage is a 300 KiB file system holding a 100 KiB file. The plan counts
/// bytes (180,000 needed, 200 KiB free, so it fits), but every small file takes a whole
/// 4 KiB block, so the phone fills up after about 50 of the 60 files. The items that do not
/// fit are named as failed, nothing partial stands under a real name, and once room is made
/// the rerun completes.
#[test]
fn a_phone_that_fills_up_mid_push_keeps_only_whole_items_and_a_rerun_completes() {
    let env = TestEnv::new();
    let items = photos(&[3000; 60]);
    let archive = archive_of(&env.new_dir("archives"), &items);
    let storage = env.new_dir("storage");
    fs::create_dir_all(storage.join("Download")).unwrap();
    fs::write(
        storage.join("Download/filler.bin"),
        bytes_of(99, 100 * 1024),
    )
    .unwrap();
    let phone = env.start_handset(
        HandsetSpec::android14()
            .storage(&storage)
            .capacity(300 * 1024),
    );
    let filler = "Download/filler.bin";

    let out = restore(&env, &phone, &archive);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
    let report = stdout_json(&out);
    let failed = report["failed"].as_u64().unwrap();
    assert!(failed > 0, "the phone never filled up: {report}");
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.iter().all(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("No space left on device")),
        "{report}"
    );
    let in_place = assert_only_whole_items(&phone, &items, &[filler], "full phone");
    println!(
        "full phone: {in_place} restored, {failed} failed for lack of room, {} not attempted",
        report["not_attempted"]
    );
    assert_eq!(
        report["restored"].as_u64(),
        Some(in_place as u64),
        "{report}"
    );
    assert_eq!(
        in_place as u64 + failed + report["not_attempted"].as_u64().unwrap(),
        items.len() as u64,
        "{report}"
    );

    // Make room, as a user would, and run the same command again.
    assert_success(&phone.shell("rm /sdcard/Download/filler.bin"), "rm");
    let out = restore(&env, &phone, &archive);
    assert_success(&out, "the rerun after making room");
    let again = stdout_json(&out);
    assert_eq!(
        again["restored"].as_u64().unwrap() + again["skipped"].as_u64().unwrap(),
        items.len() as u64,
        "{again}"
    );
    assert_complete(&phone, &items, &[], "after making room");
}

/// Polls until `found` says yes (every 2 ms), for up to a minute.
fn wait_for(what: &str, mut found: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !found() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The cable is pulled while the phone hashes the first pushed chunk (a 24 MiB video; the
/// small photos after it are still being pushed). Nothing partial or unchecked stands under a
/// real name, the restore says it stopped, and the rerun removes the temporary folder and
/// completes.
#[test]
fn a_cable_pulled_while_the_copies_are_checked_leaves_no_partial_file_and_a_rerun_completes() {
    let env = TestEnv::new();
    let mut items = photos(&[24 << 20, 200_000, 200_000, 200_000]);
    items[0].rel = "DCIM/Camera/VID_20240101_000000.mp4".to_owned();
    let archive = archive_of(&env.new_dir("archives"), &items);
    let mut phone = env.start_handset(HandsetSpec::android14().link("usb2"));
    let sim = phone.pid().expect("the sim runs");

    let child = spawn(&env, &phone, &archive);
    // The check runs `sha256sum` on the phone over the temporary copies.
    wait_for("the check of the pushed copies", || {
        descendant_cmdlines(sim)
            .iter()
            .any(|c| c.contains("sha256sum") && c.contains(TEMP_MARK))
    });
    phone.stop();
    let out = wait_child(child);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let report = stdout_json(&out);
    assert!(report["stopped"].is_string(), "{report}");
    let in_place = assert_host_side(&phone, &items, "cable pulled mid-check");
    println!(
        "cable pulled mid-check: {in_place} in place, {} not attempted, stopped: {}",
        report["not_attempted"], report["stopped"]
    );
    assert_eq!(report["restored"].as_u64(), Some(in_place), "{report}");

    phone.restart(HandsetSpec::android14());
    let out = restore(&env, &phone, &archive);
    assert_success(&out, "the rerun");
    assert_complete(&phone, &items, &[], "after the cable was pulled mid-check");
}

/// phonevault is killed with SIGKILL while a large item is being pushed (no handler runs,
/// its job lock is released by the kernel): the phone holds the partial copy only under the
/// job's temporary folder, and the rerun sees that job is dead, removes its folder and
/// completes.
#[test]
fn a_restore_killed_with_sigkill_leaves_no_partial_file_and_a_rerun_completes() {
    let env = TestEnv::new();
    let items = photos(&[100_000, 16 << 20, 100_000]);
    let archive = archive_of(&env.new_dir("archives"), &items);
    let phone = env.start_handset(HandsetSpec::android14().link("usb2"));
    let camera = phone.storage().join("DCIM/Camera");

    let mut child = spawn(&env, &phone, &archive);
    let big = &items[1].rel.rsplit('/').next().unwrap().to_owned();
    wait_for("the large item arriving", || {
        temp_dirs(&camera)
            .iter()
            .any(|d| fs::metadata(d.join(big)).is_ok_and(|m| m.len() > 0))
    });
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let left = temp_dirs(&camera);
    println!("killed mid-push: temporary folders left: {left:?}");
    assert!(!left.is_empty(), "the killed job left no temporary folder");
    assert_host_side(&phone, &items, "killed mid-push");

    let out = restore(&env, &phone, &archive);
    assert_success(&out, "the rerun");
    let again = stdout_json(&out);
    assert!(
        !again["removed_leftovers"].as_array().unwrap().is_empty(),
        "{again}"
    );
    assert_complete(&phone, &items, &[], "after SIGKILL");
    for dir in left {
        assert!(!dir.exists(), "{} stayed", dir.display());
    }
}

/// Restore's temporary folders in `folder` on the host side of the phone's storage.
fn temp_dirs(folder: &Path) -> Vec<PathBuf> {
    fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(TEMP_MARK))
        })
        .collect()
}

/// The same check as [`assert_only_whole_items`], on the host side of the storage (the
/// phone is gone): returns the items in place.
fn assert_host_side(phone: &common::Handset, items: &[Item], what: &str) -> u64 {
    let mut in_place = 0;
    let mut stack = vec![phone.storage().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_MARK) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(phone.storage())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let item = items
                .iter()
                .find(|i| i.rel == rel)
                .unwrap_or_else(|| panic!("{what}: {rel} is no item"));
            assert!(
                fs::read(&path).unwrap() == item.bytes,
                "{what}: {rel} stands under its real name but is not the whole item"
            );
            let mtime = fs::metadata(&path)
                .unwrap()
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert_eq!(i64::try_from(mtime).unwrap(), item.mtime, "{what}: {rel}");
            in_place += 1;
        }
    }
    in_place
}

fn spawn(env: &TestEnv, phone: &common::Handset, archive: &Path) -> Child {
    env.command(env!("CARGO_BIN_EXE_phonevault"))
        .args([
            "-s",
            &phone.serial(),
            "-q",
            "restore",
            archive.to_str().unwrap(),
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("phonevault starts")
}

fn wait_child(child: Child) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(120)) else {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("phonevault did not end within 120 s of the cable being pulled");
    };
    out.expect("waiting for phonevault")
}

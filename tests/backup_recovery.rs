//! Backups at the edges: a file over 4 GiB (zip64), and a backup killed outright.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_success, stdout_json, HandsetSpec, Populate, TestEnv, Tmpfs};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha256_file(path: &Path) -> String {
    let mut file = fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finalize().iter().fold(String::new(), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

fn show_items(env: &TestEnv, archive: &Path) -> Vec<Value> {
    let out = env.phonevault(&["show", archive.to_str().unwrap(), "--json"]);
    assert_success(&out, "show --json");
    let value = stdout_json(&out);
    value
        .as_array()
        .or_else(|| value["items"].as_array())
        .unwrap_or_else(|| panic!("show --json has no items: {value}"))
        .clone()
}

#[test]
fn a_sparse_file_over_4_gib_round_trips_through_zip64_with_its_hash() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 1,
        videos: 0,
        whatsapp: 1,
        huge: true,
        ..Populate::default()
    }));
    let truth = phone.truth();
    let huge = truth
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["size"].as_u64().unwrap() > 4 << 30)
        .expect("populate --huge makes a file over 4 GiB");
    let path = huge["path"].as_str().unwrap().to_string();
    let size = huge["size"].as_u64().unwrap();
    let to = env.new_dir("backups");
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--include",
        &path,
        "--json",
    ]);
    assert_success(&out, "backup of the huge file");
    let summary = stdout_json(&out);
    assert_eq!(summary["items"].as_u64(), Some(1), "{summary}");
    assert_eq!(summary["bytes"].as_u64(), Some(size), "{summary}");
    let archive = PathBuf::from(summary["archive"].as_str().unwrap());
    assert!(fs::metadata(&archive).unwrap().len() > size);

    let items = show_items(&env, &archive);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["size"].as_u64(), Some(size));
    let on_phone = phone.storage().join(path.strip_prefix("/sdcard/").unwrap());
    assert_eq!(
        items[0]["sha256"].as_str().unwrap(),
        sha256_file(&on_phone),
        "the manifest's SHA-256 is not the file's"
    );
    // verify re-reads the 4.5 GiB entry through zip64 and checks it against that hash.
    let out = env.phonevault(&["verify", archive.to_str().unwrap()]);
    assert_success(&out, "verify");
    fs::remove_file(&archive).unwrap();
}

#[test]
fn a_killed_backup_leaves_only_a_partial_which_the_rerun_cleans_up_and_completes() {
    let env = TestEnv::new();
    let mut phone = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 10,
        videos: 2,
        whatsapp: 8,
        ..Populate::default()
    }));
    let storage = phone.storage().to_path_buf();
    // A slow cable, so the backup is surely still running when it is killed.
    phone.restart(HandsetSpec::android14().storage(&storage).link("usb2"));
    let want: BTreeSet<String> = phone
        .truth()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["include"].as_bool() == Some(true))
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    let to = env.new_dir("backups");
    let mut child = env
        .command(env!("CARGO_BIN_EXE_phonevault"))
        .args(["-s", &phone.serial(), "-q", "backup", "--to"])
        .arg(&to)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the archive is being written.
    let deadline = Instant::now() + Duration::from_secs(60);
    let partial = loop {
        let found = fs::read_dir(&to)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".zip.partial"));
        if let Some(p) = found.filter(|p| fs::metadata(p).is_ok_and(|m| m.len() > 0)) {
            break p;
        }
        assert!(Instant::now() < deadline, "no .partial appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended first"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<PathBuf> = fs::read_dir(&to)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        left,
        vec![partial.clone()],
        "only the unfinished archive remains"
    );

    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out, "rerun");
    let summary = stdout_json(&out);
    assert_eq!(
        summary["removed_partials"][0].as_str(),
        partial.to_str(),
        "{summary}"
    );
    assert!(!partial.exists());
    let archive = PathBuf::from(summary["archive"].as_str().unwrap());
    let got: BTreeSet<String> = show_items(&env, &archive)
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    assert_success(
        &env.phonevault(&["verify", archive.to_str().unwrap()]),
        "verify",
    );
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing_that_looks_complete() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 30,
        videos: 2,
        whatsapp: 10,
        ..Populate::default()
    }));
    let disk = Tmpfs::mount(&env, "small-disk", 1024 * 1024);
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "backup",
        "--to",
        disk.0.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("No space left") || stderr.contains("full"),
        "the error should say the disk is full: {stderr}"
    );
    let left: Vec<PathBuf> = fs::read_dir(&disk.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind on a full disk: {left:?}");
}

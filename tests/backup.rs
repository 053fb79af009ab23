//! `phonevault backup` end to end: the real adb server, the simulated handset, real archives
//! read back by our `extract`/`verify` and by 7-Zip.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_success, stdout_json, HandsetSpec, Populate, TestEnv};
use serde_json::Value;

/// Truth records the catalog must list: device path -> (size, mtime).
fn included(truth: &Value) -> BTreeMap<String, (u64, i64)> {
    truth
        .as_array()
        .expect("truth array")
        .iter()
        .filter(|r| r["include"].as_bool() == Some(true))
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                (r["size"].as_u64().unwrap(), r["mtime"].as_i64().unwrap()),
            )
        })
        .collect()
}

fn backup(env: &TestEnv, serial: &str, to: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "-s",
        serial,
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = env.phonevault(&args);
    let value = stdout_json(&out);
    (out, value)
}

fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    found.sort();
    found
}

/// The manifest of an archive, through `phonevault show --json`.
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

/// Backs up a populated handset, extracts the archive, and checks every included file:
/// bytes, mtime, and the manifest's SHA-256 against the handset's own `sha256sum`.
fn full_backup_round_trip(spec: HandsetSpec) {
    let env = TestEnv::new();
    let phone = env.start_handset(spec.populate(Populate::default()));
    let want = included(&phone.truth());
    let to = env.new_dir("backups");
    let (out, summary) = backup(&env, &phone.serial(), &to, &[]);
    assert_success(&out, "backup");
    assert_eq!(
        summary["items"].as_u64(),
        Some(want.len() as u64),
        "{summary}"
    );
    assert_eq!(summary["failed"].as_u64(), Some(0), "{summary}");
    let total: u64 = want.values().map(|(size, _)| size).sum();
    assert_eq!(summary["bytes"].as_u64(), Some(total), "{summary}");
    let archive = PathBuf::from(summary["archive"].as_str().expect("an archive path"));
    assert_eq!(archives(&to), vec![archive.clone()]);

    let out_dir = env.new_dir("extracted");
    let out = env.phonevault(&[
        "extract",
        archive.to_str().unwrap(),
        "--to",
        out_dir.to_str().unwrap(),
    ]);
    assert_success(&out, "extract");
    let items = manifest_items(&env, &archive);
    assert_eq!(items.len(), want.len());
    let mut seen = BTreeSet::new();
    let mut hashable = Vec::new();
    for item in &items {
        let path = item["path"].as_str().unwrap();
        let entry = item["entry"].as_str().unwrap();
        let (size, mtime) = want
            .get(path)
            .unwrap_or_else(|| panic!("{path:?} is in the archive but not in the truth"));
        assert!(seen.insert(path.to_string()), "{path:?} stored twice");
        let on_phone = phone.storage().join(path.strip_prefix("/sdcard/").unwrap());
        let extracted = out_dir.join(entry);
        let bytes = fs::read(&extracted)
            .unwrap_or_else(|e| panic!("{} not extracted: {e}", extracted.display()));
        assert_eq!(bytes.len() as u64, *size, "{path:?} size");
        assert!(
            bytes == fs::read(&on_phone).unwrap(),
            "{path:?} bytes differ"
        );
        assert_eq!(
            fs::metadata(&extracted).unwrap().mtime(),
            *mtime,
            "{path:?} mtime"
        );
        if !path.contains('\n') {
            hashable.push((
                path.to_string(),
                item["sha256"].as_str().unwrap().to_string(),
            ));
        }
    }
    // The handset's own sha256sum, in batches (names with a newline are checked above
    // through their bytes; sha256sum's output cannot carry them unambiguously).
    for batch in hashable.chunks(40) {
        let quoted: Vec<String> = batch
            .iter()
            .map(|(p, _)| format!("'{}'", p.replace('\'', r"'\''")))
            .collect();
        let out = phone.shell(&format!("sha256sum {}", quoted.join(" ")));
        assert_success(&out, "sha256sum on the handset");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for (line, (path, sha)) in text.lines().zip(batch) {
            assert_eq!(line.split_whitespace().next(), Some(sha.as_str()), "{path}");
        }
        assert_eq!(text.lines().count(), batch.len());
    }
    let out = env.phonevault(&["verify", archive.to_str().unwrap()]);
    assert_success(&out, "verify");
    stored_previews_match_the_phones(&env, &phone.serial(), &archive, &items);
}

/// The archive's previews picture every photo as the phone's own preview does: EXIF
/// thumbnails, pictures decoded from photos that have none (WhatsApp images, PNGs), and
/// the same placeholders for what cannot be pictured. Each stored picture is a JPEG of the
/// size its record states.
fn stored_previews_match_the_phones(env: &TestEnv, serial: &str, archive: &Path, items: &[Value]) {
    use base64::Engine as _;
    let out = std::process::Command::new("unzip")
        .args(["-p", archive.to_str().unwrap(), "phonevault/previews.json"])
        .output()
        .expect("unzip");
    assert!(out.status.success(), "unzip -p previews.json");
    let stored: Vec<Value> = serde_json::from_slice(&out.stdout).expect("previews JSON");
    let photos = items.iter().filter(|i| i["kind"] == "photo").count();
    assert_eq!(stored.len(), photos, "one stored preview per photo");
    // The backup put its pictures in the preview cache: the phone's preview starts afresh.
    let _ = fs::remove_dir_all(env.home().join(".cache"));
    let out = env.phonevault(&["-s", serial, "-q", "preview", "--json"]);
    assert_success(&out, "preview --json");
    let on_phone: BTreeMap<String, Value> = stdout_json(&out)
        .as_array()
        .expect("preview records")
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    let mut decoded = 0;
    for record in &stored {
        let path = record["path"].as_str().unwrap();
        let phone = &on_phone[path];
        for field in ["thumbnail", "no_picture", "width", "height"] {
            assert_eq!(record[field], phone[field], "{path}: {field}");
        }
        if record["thumbnail"] == "placeholder" {
            assert!(
                record["image"].is_null(),
                "{path}: a placeholder has no image"
            );
            continue;
        }
        decoded += usize::from(record["thumbnail"] == "decoded");
        let jpeg = base64::engine::general_purpose::STANDARD
            .decode(record["image"]["jpeg"].as_str().expect("a stored picture"))
            .unwrap();
        let picture = image::load_from_memory(&jpeg).expect("the stored picture decodes");
        assert_eq!(
            (Value::from(picture.width()), Value::from(picture.height())),
            (
                record["image"]["width"].clone(),
                record["image"]["height"].clone()
            ),
            "{path}"
        );
    }
    assert!(
        decoded > 0,
        "photos without an EXIF thumbnail are decoded: {stored:?}"
    );
}

#[test]
fn android_14_backup_extracts_byte_identical_with_mtimes_and_hashes() {
    full_backup_round_trip(HandsetSpec::android14());
}

#[test]
fn android_10_backup_extracts_byte_identical_with_mtimes_and_hashes() {
    full_backup_round_trip(HandsetSpec::android10());
}

fn recv_count(stats: &Value) -> u64 {
    stats["sync_requests"]["RECV"].as_u64().unwrap_or(0)
}

#[test]
fn second_backup_pulls_nothing_and_third_takes_exactly_the_new_photos() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 8,
        videos: 1,
        whatsapp: 6,
        ..Populate::default()
    }));
    let to = env.new_dir("backups");
    let (out, first) = backup(&env, &phone.serial(), &to, &[]);
    assert_success(&out, "first backup");
    let selected = first["items"].as_u64().unwrap();
    assert!(selected > 10, "{first}");

    let recv_before = recv_count(&phone.stats());
    let (out, second) = backup(&env, &phone.serial(), &to, &[]);
    assert_success(&out, "second backup");
    assert_eq!(second["items"].as_u64(), Some(0), "{second}");
    assert_eq!(second["bytes"].as_u64(), Some(0), "{second}");
    assert_eq!(second["skipped"].as_u64(), Some(selected), "{second}");
    assert!(second["archive"].is_null(), "{second}");
    assert_eq!(
        recv_count(&phone.stats()),
        recv_before,
        "a rerun pulled files"
    );
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
    ]);
    assert_success(&out, "third backup, text");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Nothing new"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Three new photos on the phone.
    let camera = phone.storage().join("DCIM/Camera");
    let source = fs::read_dir(&camera)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jpg"))
        .expect("a camera photo");
    let mut new_paths = BTreeSet::new();
    for n in 0..3 {
        let name = format!("PXL_20251101_10000{n}000.jpg");
        fs::copy(&source, camera.join(&name)).unwrap();
        new_paths.insert(format!("/sdcard/DCIM/Camera/{name}"));
    }
    let (out, fourth) = backup(&env, &phone.serial(), &to, &[]);
    assert_success(&out, "backup after adding 3 photos");
    assert_eq!(fourth["items"].as_u64(), Some(3), "{fourth}");
    let archive = PathBuf::from(fourth["archive"].as_str().unwrap());
    let got: BTreeSet<String> = manifest_items(&env, &archive)
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, new_paths);
}

#[test]
fn pulled_cable_then_rerun_stores_every_item_exactly_once() {
    let env = TestEnv::new();
    // Big enough that the few MB in flight on the pipelined streams when the cable is
    // pulled (the adb server drops what it buffered) are small beside what arrives whole.
    let populate = Populate {
        photos: 16,
        photo_size: Some("1M-2M"),
        videos: 2,
        whatsapp: 10,
        ..Populate::default()
    };
    let mut phone = env.start_handset(HandsetSpec::android14().populate(populate));
    let want = included(&phone.truth());
    let total: u64 = want.values().map(|(size, _)| size).sum();
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
    assert!(!out.status.success(), "a backup cut short must not exit 0");
    let first = stdout_json(&out);
    assert!(!first["stopped"].is_null(), "{first}");
    let saved = first["items"].as_u64().unwrap();
    assert!(saved > 0 && saved < want.len() as u64, "{first}");
    // Nothing unfinished looks complete.
    for entry in fs::read_dir(&to).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            path.extension().is_some_and(|e| e == "zip"),
            "left behind: {}",
            path.display()
        );
    }

    phone.restart(HandsetSpec::android14().storage(&storage));
    let (out, second) = backup(&env, &phone.serial(), &to, &[]);
    assert_success(&out, "rerun");
    assert_eq!(second["skipped"].as_u64(), Some(saved), "{second}");
    assert_eq!(
        second["items"].as_u64().unwrap() + saved,
        want.len() as u64,
        "{second}"
    );

    let mut union = BTreeMap::new();
    for archive in archives(&to) {
        let out = env.phonevault(&["verify", archive.to_str().unwrap()]);
        assert_success(&out, "verify");
        for item in manifest_items(&env, &archive) {
            let path = item["path"].as_str().unwrap().to_string();
            assert!(
                union.insert(path.clone(), archive.clone()).is_none(),
                "{path} stored twice"
            );
        }
    }
    let got: BTreeSet<&String> = union.keys().collect();
    let expected: BTreeSet<&String> = want.keys().collect();
    assert_eq!(got, expected);
}

#[test]
fn encrypted_backup_opens_in_7zip_with_the_password() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 4,
        videos: 1,
        whatsapp: 3,
        ..Populate::default()
    }));
    let to = env.new_dir("backups");
    let out = env
        .command(env!("CARGO_BIN_EXE_phonevault"))
        .args(["-s", &phone.serial(), "-q", "backup", "--encrypt", "--json"])
        .args(["--to", to.to_str().unwrap()])
        .env("PHONEVAULT_PASSWORD", "correct horse")
        .output()
        .unwrap();
    assert_success(&out, "encrypted backup");
    let archive = PathBuf::from(stdout_json(&out)["archive"].as_str().unwrap().to_string());
    let test = env
        .command("7zz")
        .args(["t", "-pcorrect horse", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&test, "7zz t");
    let listing = env
        .command("7zz")
        .args(["l", "-slt", "-pcorrect horse", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).contains("AES-256"));
    let out_dir = env.new_dir("7z-out");
    let x = env
        .command("7zz")
        .args(["x", "-pcorrect horse", "-y"])
        .arg(format!("-o{}", out_dir.display()))
        .arg(&archive)
        .output()
        .unwrap();
    assert_success(&x, "7zz x");
    let want = included(&phone.truth());
    let mut compared = 0;
    for path in want.keys() {
        let rel = path.strip_prefix("/sdcard/").unwrap();
        let entry = if let Some(rest) = rel.strip_prefix("Android/media/com.whatsapp/WhatsApp/") {
            format!("whatsapp/{rest}")
        } else if let Some(rest) =
            rel.strip_prefix("Android/media/com.whatsapp.w4b/WhatsApp Business/")
        {
            format!("whatsapp-business/{rest}")
        } else {
            format!("gallery/{rel}")
        };
        let extracted = fs::read(out_dir.join(&entry))
            .unwrap_or_else(|e| panic!("7zz did not extract {entry}: {e}"));
        assert!(
            extracted == fs::read(phone.storage().join(rel)).unwrap(),
            "{entry}"
        );
        compared += 1;
    }
    assert_eq!(compared, want.len());
    // A wrong password is refused with its own exit code.
    let out = env
        .command(env!("CARGO_BIN_EXE_phonevault"))
        .args(["verify", archive.to_str().unwrap()])
        .env("PHONEVAULT_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
}

#[test]
fn unreadable_files_are_listed_and_the_backup_is_partial() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 4,
        videos: 0,
        whatsapp: 2,
        ..Populate::default()
    }));
    let storage = phone.storage().to_path_buf();
    let mut phone = phone;
    let camera: Vec<String> = fs::read_dir(storage.join("DCIM/Camera"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("PXL_") && Path::new(n).extension().is_some_and(|e| e == "jpg"))
        .collect();
    let denied = camera.first().expect("a Pixel photo").clone();
    phone.restart(
        HandsetSpec::android14()
            .storage(&storage)
            .fault(&format!("deny=/sdcard/DCIM/Camera/{denied}")),
    );
    let to = env.new_dir("backups");
    let (out, summary) = backup(&env, &phone.serial(), &to, &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "partial backups exit 3: {summary}"
    );
    assert_eq!(summary["failed"].as_u64(), Some(1), "{summary}");
    let failure = &summary["failures"][0];
    assert_eq!(
        failure["path"].as_str(),
        Some(format!("/sdcard/DCIM/Camera/{denied}").as_str())
    );
    assert!(summary["items"].as_u64().unwrap() > 0);
}

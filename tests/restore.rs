//! `phonevault restore` end to end: archives made by `backup` from a populated simulated
//! handset, restored onto another one through the real adb server.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{assert_success, stdout_json, HandsetSpec, Populate, TestEnv};

fn small() -> Populate {
    Populate {
        photos: 6,
        videos: 1,
        whatsapp: 6,
        ..Populate::default()
    }
}

/// One archived item: where it was on the source phone, its size and mtime.
#[derive(Debug, Clone)]
struct Item {
    path: String,
    size: u64,
    mtime: i64,
}

/// Backs up a populated handset of `spec` into a new archive; returns the archive, the items
/// the truth file says it holds, and the source handset's storage (for the bytes).
fn make_archive(
    env: &TestEnv,
    spec: HandsetSpec,
    extra: &[&str],
) -> (PathBuf, Vec<Item>, PathBuf, common::Handset) {
    let phone = env.start_handset(spec.populate(small()));
    let items: Vec<Item> = phone
        .truth()
        .as_array()
        .expect("truth array")
        .iter()
        .filter(|r| r["include"].as_bool() == Some(true))
        .map(|r| Item {
            path: r["path"].as_str().unwrap().to_string(),
            size: r["size"].as_u64().unwrap(),
            mtime: r["mtime"].as_i64().unwrap(),
        })
        .collect();
    assert!(items.len() >= 10, "the populated handset has too few items");
    let to = env.new_dir("backups");
    let mut args = vec![
        "-s",
        "",
        "-q",
        "backup",
        "--to",
        to.to_str().unwrap(),
        "--json",
    ];
    let serial = phone.serial();
    args[1] = &serial;
    args.extend_from_slice(extra);
    let out = env.phonevault(&args);
    assert_success(&out, "backup");
    let summary = stdout_json(&out);
    assert_eq!(
        summary["items"].as_u64(),
        Some(items.len() as u64),
        "{summary}"
    );
    let archive = PathBuf::from(summary["archive"].as_str().expect("an archive"));
    let storage = phone.storage().to_path_buf();
    (archive, items, storage, phone)
}

/// Where an item from a legacy (Android 10) or Android 11+ phone goes on an Android 11+ one.
fn mapped_on_14(path: &str) -> String {
    for (from, to) in [
        (
            "/sdcard/WhatsApp Business/",
            "/sdcard/Android/media/com.whatsapp.w4b/WhatsApp Business/",
        ),
        (
            "/sdcard/WhatsApp/",
            "/sdcard/Android/media/com.whatsapp/WhatsApp/",
        ),
    ] {
        if let Some(rest) = path.strip_prefix(from) {
            return format!("{to}{rest}");
        }
    }
    path.to_string()
}

fn host_path(storage: &Path, device_path: &str) -> PathBuf {
    storage.join(device_path.strip_prefix("/sdcard/").expect("under /sdcard"))
}

fn restore(env: &TestEnv, serial: &str, archive: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "-s",
        serial,
        "-q",
        "restore",
        archive.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    env.phonevault(&args)
}

fn send_count(phone: &common::Handset) -> u64 {
    phone.stats()["sync_requests"]["SEND"].as_u64().unwrap_or(0)
}

fn quote(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

/// mtimes on the handset, through `adb shell stat -c %Y`.
fn phone_mtimes(phone: &common::Handset, paths: &[String]) -> Vec<i64> {
    let mut all = Vec::new();
    for batch in paths.chunks(40) {
        let quoted: Vec<String> = batch.iter().map(|p| quote(p)).collect();
        let out = phone.shell(&format!("stat -c '%Y' {}", quoted.join(" ")));
        assert_success(&out, "stat on the handset");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        all.extend(
            text.lines()
                .map(|l| l.trim().parse::<i64>().expect("a number")),
        );
    }
    assert_eq!(all.len(), paths.len());
    all
}

/// Every item at its mapped place on the target: bytes equal to the source phone's, mtime
/// equal (read on the handset).
fn assert_all_in_place(
    target: &common::Handset,
    source_storage: &Path,
    items: &[Item],
) -> Vec<String> {
    let mut targets = Vec::new();
    for item in items {
        let to = mapped_on_14(&item.path);
        let got = fs::read(host_path(target.storage(), &to))
            .unwrap_or_else(|e| panic!("{to:?} is not on the target handset: {e}"));
        assert_eq!(got.len() as u64, item.size, "{to:?} size");
        assert!(
            got == fs::read(host_path(source_storage, &item.path)).unwrap(),
            "{to:?} bytes differ from the source phone's"
        );
        targets.push(to);
    }
    let mtimes = phone_mtimes(target, &targets);
    for ((item, to), mtime) in items.iter().zip(&targets).zip(mtimes) {
        assert_eq!(mtime, item.mtime, "{to:?} mtime on the handset");
    }
    targets
}

/// Temporary files and folders (`.phonevault-*`) anywhere in the handset's storage, and
/// every file inside such folders.
fn temp_files(storage: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![(storage.to_path_buf(), false)];
    while let Some((dir, inside)) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let temp = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".phonevault-"));
            if temp || inside {
                found.push(path.clone());
            }
            if path.is_dir() {
                stack.push((path, inside || temp));
            }
        }
    }
    found.sort();
    found
}

fn percent_uri(folder: &str) -> String {
    let mut uri = String::from("file://");
    for &b in folder.as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri
}

#[test]
fn android_10_archive_restores_onto_android_14_then_a_rerun_pushes_nothing() {
    let env = TestEnv::new();
    let (archive, items, source_storage, source) =
        make_archive(&env, HandsetSpec::android10(), &[]);
    drop(source);
    assert!(
        items
            .iter()
            .any(|i| i.path.starts_with("/sdcard/WhatsApp/")),
        "the android-10 handset should have legacy WhatsApp media"
    );
    let target = env.start_handset(HandsetSpec::android14());

    // The dry run plans every item at its mapped path and pushes nothing.
    let out = restore(&env, &target.serial(), &archive, &["--dry-run"]);
    assert_success(&out, "dry run");
    let plan = stdout_json(&out);
    let mut planned: Vec<(String, String)> = plan["items"]
        .as_array()
        .expect("planned items")
        .iter()
        .map(|i| {
            assert_eq!(i["action"].as_str(), Some("push"), "{i}");
            (
                i["from"].as_str().unwrap().to_string(),
                i["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    planned.sort();
    let mut expected: Vec<(String, String)> = items
        .iter()
        .map(|i| (i.path.clone(), mapped_on_14(&i.path)))
        .collect();
    expected.sort();
    assert_eq!(planned, expected);
    // (Only the on-device helper may have been pushed, to /data/local/tmp.)
    let listing = target.shell("find /sdcard -type f");
    assert_success(&listing, "find on the handset");
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        "",
        "the dry run put files on the phone"
    );

    let out = restore(&env, &target.serial(), &archive, &[]);
    assert_success(&out, "restore");
    let summary = stdout_json(&out);
    let total: u64 = items.iter().map(|i| i.size).sum();
    assert_eq!(
        summary["restored"].as_u64(),
        Some(items.len() as u64),
        "{summary}"
    );
    assert_eq!(summary["skipped"].as_u64(), Some(0), "{summary}");
    assert_eq!(summary["conflicts"].as_u64(), Some(0), "{summary}");
    assert_eq!(summary["failed"].as_u64(), Some(0), "{summary}");
    assert_eq!(summary["bytes"].as_u64(), Some(total), "{summary}");

    let targets = assert_all_in_place(&target, &source_storage, &items);
    assert!(
        targets
            .iter()
            .any(|t| t.starts_with("/sdcard/Android/media/com.whatsapp/WhatsApp/Media/")),
        "legacy WhatsApp items go to the Android 11+ layout"
    );
    assert!(temp_files(target.storage()).is_empty());

    // A scan request for every restored folder, and the volume scan of Android 11+.
    let log = target.scan_log();
    for t in &targets {
        let folder = &t[..t.rfind('/').unwrap()];
        let line = format!("am\tMEDIA_SCANNER_SCAN_FILE\t{}", percent_uri(folder));
        assert!(
            log.lines().any(|l| l == line),
            "no scan request for {folder:?}; log:\n{log}"
        );
    }
    assert!(
        log.lines()
            .any(|l| l == "content\tscan_volume\texternal_primary"),
        "{log}"
    );

    // Again: everything is identical, nothing is pushed.
    let sends_before = send_count(&target);
    let out = restore(&env, &target.serial(), &archive, &[]);
    assert_success(&out, "second restore");
    let again = stdout_json(&out);
    assert_eq!(again["restored"].as_u64(), Some(0), "{again}");
    assert_eq!(
        again["skipped"].as_u64(),
        Some(items.len() as u64),
        "{again}"
    );
    assert_eq!(again["bytes"].as_u64(), Some(0), "{again}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(send_count(&target), sends_before, "a rerun pushed files");
}

#[test]
fn conflicts_keep_both_by_default_and_overwrite_only_when_asked() {
    let env = TestEnv::new();
    let (archive, items, source_storage, _source) =
        make_archive(&env, HandsetSpec::android14(), &[]);
    let victim = items
        .iter()
        .find(|i| i.path.starts_with("/sdcard/DCIM/Camera/"))
        .expect("a camera photo")
        .clone();
    let target = env.start_handset(HandsetSpec::android14());
    let on_target = host_path(target.storage(), &victim.path);
    fs::create_dir_all(on_target.parent().unwrap()).unwrap();
    fs::write(&on_target, b"a different photo already on the phone").unwrap();
    let original = fs::read(host_path(&source_storage, &victim.path)).unwrap();

    let out = restore(&env, &target.serial(), &archive, &[]);
    assert_success(&out, "restore with a conflict");
    let summary = stdout_json(&out);
    assert_eq!(summary["conflicts"].as_u64(), Some(1), "{summary}");
    assert_eq!(
        summary["restored"].as_u64(),
        Some(items.len() as u64),
        "{summary}"
    );
    assert_eq!(
        fs::read(&on_target).unwrap(),
        b"a different photo already on the phone",
        "keep-both must not touch the phone's file"
    );
    let name = on_target.file_name().unwrap().to_str().unwrap();
    let (stem, ext) = name.rsplit_once('.').unwrap();
    let kept = on_target.with_file_name(format!("{stem} (1).{ext}"));
    assert!(
        fs::read(&kept).unwrap() == original,
        "{} should hold the archived photo",
        kept.display()
    );

    // A rerun with keep-both finds the numbered copy identical: nothing new.
    let out = restore(&env, &target.serial(), &archive, &[]);
    assert_success(&out, "second keep-both restore");
    let again = stdout_json(&out);
    assert_eq!(again["restored"].as_u64(), Some(0), "{again}");

    let out = restore(&env, &target.serial(), &archive, &["--on-conflict", "skip"]);
    assert_success(&out, "restore with skip");
    assert_eq!(
        fs::read(&on_target).unwrap(),
        b"a different photo already on the phone"
    );

    let out = restore(
        &env,
        &target.serial(),
        &archive,
        &["--on-conflict", "overwrite"],
    );
    assert_success(&out, "restore with overwrite");
    let summary = stdout_json(&out);
    assert_eq!(summary["restored"].as_u64(), Some(1), "{summary}");
    assert!(fs::read(&on_target).unwrap() == original, "not overwritten");
    let mtime = phone_mtimes(&target, std::slice::from_ref(&victim.path));
    assert_eq!(mtime, vec![victim.mtime]);
    assert!(temp_files(target.storage()).is_empty());
}

#[test]
fn a_handset_too_small_is_refused_before_any_push_with_both_numbers() {
    let env = TestEnv::new();
    let (archive, items, _, _source) = make_archive(&env, HandsetSpec::android14(), &[]);
    let total: u64 = items.iter().map(|i| i.size).sum();
    let target = env.start_handset(HandsetSpec::android14().capacity(64 * 1024));
    let out = restore(&env, &target.serial(), &archive, &[]);
    assert!(!out.status.success(), "a restore that cannot fit succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{total} bytes needed")) && stderr.contains("bytes free"),
        "{stderr}"
    );
    let listing = target.shell("find /sdcard -type f");
    assert_success(&listing, "find on the handset");
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        "",
        "files were pushed"
    );

    // The dry run shows the same numbers and pushes nothing either.
    let out = restore(&env, &target.serial(), &archive, &["--dry-run"]);
    assert!(!out.status.success());
    let plan = stdout_json(&out);
    assert_eq!(plan["needed"].as_u64(), Some(total), "{plan}");
    assert_eq!(plan["fits"].as_bool(), Some(false), "{plan}");
    assert!(plan["free"].as_u64().unwrap() < total, "{plan}");
}

#[test]
fn a_pulled_cable_leaves_no_partial_file_and_a_rerun_completes() {
    let env = TestEnv::new();
    let (archive, items, source_storage, _source) =
        make_archive(&env, HandsetSpec::android14(), &[]);
    let total: u64 = items.iter().map(|i| i.size).sum();
    let mut target = env
        .start_handset(HandsetSpec::android14().fault(&format!("disconnect-after={}", total / 2)));
    let out = env
        .phonevault_timeout(
            &[
                "-s",
                &target.serial(),
                "-q",
                "restore",
                archive.to_str().unwrap(),
                "--json",
            ],
            Duration::from_secs(60),
        )
        .expect("restore hung after the cable was pulled");
    assert_eq!(out.status.code(), Some(3), "the cut restore: {out:?}");
    let cut = stdout_json(&out);
    assert!(cut["stopped"].is_string(), "{cut}");
    assert!(
        cut["restored"].as_u64().unwrap() < items.len() as u64,
        "the cable was pulled after everything was restored: {cut}"
    );
    let left = temp_files(target.storage());
    let left_files = left.iter().filter(|p| p.is_file()).count();
    assert!(
        target.wait_exit(Duration::from_secs(10)).is_some(),
        "the fault never fired"
    );
    // Nothing under a real name may differ from the archive: every non-temporary file there
    // is a whole item.
    for item in &items {
        let at = host_path(target.storage(), &mapped_on_14(&item.path));
        if let Ok(bytes) = fs::read(&at) {
            assert!(
                bytes == fs::read(host_path(&source_storage, &item.path)).unwrap(),
                "{} is half-written under its real name",
                at.display()
            );
        }
    }

    target.restart(HandsetSpec::android14());
    let out = restore(&env, &target.serial(), &archive, &[]);
    assert_success(&out, "restore after reconnecting");
    let summary = stdout_json(&out);
    assert_eq!(
        summary["removed_leftovers"].as_array().map(Vec::len),
        Some(left_files),
        "{summary}"
    );
    assert_eq!(
        summary["restored"].as_u64().unwrap() + summary["skipped"].as_u64().unwrap(),
        items.len() as u64,
        "{summary}"
    );
    assert_all_in_place(&target, &source_storage, &items);
    assert_eq!(temp_files(target.storage()), Vec::<PathBuf>::new());
}

#[test]
fn a_wrong_password_is_a_clear_error_and_pushes_nothing() {
    let env = TestEnv::new();
    let secrets = env.new_dir("secrets");
    let right = secrets.join("right");
    let wrong = secrets.join("wrong");
    fs::write(&right, "correct horse\n").unwrap();
    fs::write(&wrong, "battery staple\n").unwrap();
    let (archive, _, _, _source) = make_archive(
        &env,
        HandsetSpec::android14(),
        &["--encrypt", "--password-file", right.to_str().unwrap()],
    );
    let target = env.start_handset(HandsetSpec::android14());
    let out = restore(
        &env,
        &target.serial(),
        &archive,
        &["--password-file", wrong.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong password"), "{stderr}");
    std::thread::sleep(Duration::from_millis(300));
    let stats = target.stats();
    assert_eq!(send_count(&target), 0, "{stats}");
    assert!(temp_files(target.storage()).is_empty());

    // The right password restores.
    let out = restore(
        &env,
        &target.serial(),
        &archive,
        &["--password-file", right.to_str().unwrap()],
    );
    assert_success(&out, "restore with the right password");
    let summary = stdout_json(&out);
    assert_eq!(summary["failed"].as_u64(), Some(0), "{summary}");
    assert!(summary["restored"].as_u64().unwrap() >= 10, "{summary}");
}

#[test]
fn a_damaged_entry_is_reported_and_the_rest_restored() {
    let env = TestEnv::new();
    let (archive, items, source_storage, _source) =
        make_archive(&env, HandsetSpec::android14(), &[]);
    // Flip one byte in the middle of the largest photo's stored bytes.
    let victim = items
        .iter()
        .filter(|i| {
            Path::new(&i.path)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg"))
        })
        .max_by_key(|i| i.size)
        .expect("a photo")
        .clone();
    let original = fs::read(host_path(&source_storage, &victim.path)).unwrap();
    let probe = &original[original.len() / 2..original.len() / 2 + 64];
    let mut zip = fs::read(&archive).unwrap();
    let at = zip
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("photos are stored uncompressed, so their bytes are in the archive");
    zip[at + 10] ^= 0xff;
    fs::write(&archive, &zip).unwrap();

    let target = env.start_handset(HandsetSpec::android14());
    let out = restore(&env, &target.serial(), &archive, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let summary = stdout_json(&out);
    assert_eq!(summary["failed"].as_u64(), Some(1), "{summary}");
    assert_eq!(
        summary["failures"][0]["path"].as_str(),
        Some(victim.path.as_str()),
        "{summary}"
    );
    assert_eq!(
        summary["restored"].as_u64(),
        Some(items.len() as u64 - 1),
        "{summary}"
    );
    assert!(
        !host_path(target.storage(), &victim.path).exists(),
        "the damaged file is under its real name"
    );
    let rest: Vec<Item> = items
        .iter()
        .filter(|i| i.path != victim.path)
        .cloned()
        .collect();
    assert_all_in_place(&target, &source_storage, &rest);
    assert_eq!(temp_files(target.storage()), Vec::<PathBuf>::new());
}

#[test]
fn a_file_the_phone_refuses_is_reported_and_the_rest_restored() {
    let env = TestEnv::new();
    let (archive, items, source_storage, _source) =
        make_archive(&env, HandsetSpec::android14(), &[]);
    let victim = items
        .iter()
        .find(|i| i.path.starts_with("/sdcard/DCIM/Camera/"))
        .expect("a camera photo")
        .clone();
    let (folder, name) = victim.path.rsplit_once('/').unwrap();
    // Each restore job has its own temporary folder: `.phonevault-restore-<job>.partial`.
    let temp = format!("{folder}/.phonevault-restore*/{name}");
    let target = env.start_handset(HandsetSpec::android14().fault(&format!("deny={temp}")));
    let out = restore(&env, &target.serial(), &archive, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let summary = stdout_json(&out);
    assert_eq!(summary["failed"].as_u64(), Some(1), "{summary}");
    assert_eq!(
        summary["failures"][0]["path"].as_str(),
        Some(victim.path.as_str()),
        "{summary}"
    );
    assert_eq!(
        summary["restored"].as_u64(),
        Some(items.len() as u64 - 1),
        "{summary}"
    );
    let rest: Vec<Item> = items
        .iter()
        .filter(|i| i.path != victim.path)
        .cloned()
        .collect();
    assert_all_in_place(&target, &source_storage, &rest);
    assert!(!host_path(target.storage(), &victim.path).exists());
}

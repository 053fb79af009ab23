//! Restore defects of issue 11 (both WhatsApp layouts, an interrupted restore's counts and
//! leftovers, chat databases on a name conflict) and restore's per-job temporary folders
//! (issue 12), end to end through the real adb server and simulated handsets.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{assert_success, sim_bin, stdout_json, HandsetSpec, Populate, TestEnv};

const LIVE_WHATSAPP: &str = "/sdcard/Android/media/com.whatsapp/WhatsApp/";
const LEGACY_WHATSAPP: &str = "/sdcard/WhatsApp/";

/// The truth file's included items: phone path -> (size, mtime).
fn included(truth: &serde_json::Value) -> BTreeMap<String, (u64, i64)> {
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

fn host_path(storage: &Path, device_path: &str) -> PathBuf {
    storage.join(device_path.strip_prefix("/sdcard/").expect("under /sdcard"))
}

/// `phonevault -s SERIAL -q ARGS...`.
fn run(env: &TestEnv, serial: &str, args: &[&str]) -> Output {
    let mut all = vec!["-s", serial, "-q"];
    all.extend_from_slice(args);
    env.phonevault(&all)
}

/// Backs up the handset into a fresh folder with `--json`; the exit status must be 0.
fn backup(env: &TestEnv, phone: &common::Handset, folder: &str) -> PathBuf {
    let to = env.new_dir(folder);
    let out = run(
        env,
        &phone.serial(),
        &["backup", "--to", to.to_str().unwrap(), "--json"],
    );
    assert_success(&out, "backup");
    PathBuf::from(stdout_json(&out)["archive"].as_str().expect("an archive"))
}

/// Temporary files and folders (`.phonevault-*`) anywhere in the storage, and everything
/// inside such folders.
fn temp_entries(storage: &Path) -> Vec<PathBuf> {
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

/// Every regular file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

/// An android-14 sample phone that also keeps the legacy WhatsApp folder; its storage and
/// included items.
fn populate_both_layouts(env: &TestEnv) -> (PathBuf, BTreeMap<String, (u64, i64)>) {
    let storage = env.path().join("both-layouts");
    let truth_file = env.path().join("both-layouts-truth.json");
    let out = env
        .command(sim_bin())
        .arg("populate")
        .arg(&storage)
        .args([
            "--profile",
            "android-14",
            "--both-layouts",
            "--whatsapp",
            "6",
        ])
        .args(["--photos", "3", "--videos", "0"])
        .arg("--truth")
        .arg(&truth_file)
        .output()
        .unwrap();
    assert_success(&out, "populate --both-layouts");
    let truth: serde_json::Value = serde_json::from_slice(&fs::read(&truth_file).unwrap()).unwrap();
    (storage, included(&truth))
}

/// Issue 11 item 2: a phone holding both WhatsApp layouts. Today the backup exits 3 on
/// colliding entry names, and a restore plans fewer items than the archives hold, puts the
/// stale legacy chat database at the live path, and lists the dropped items nowhere.
#[test]
fn both_whatsapp_layouts_are_backed_up_apart_and_restored_with_the_newer_copy_live() {
    let env = TestEnv::new();
    let (storage, items) = populate_both_layouts(&env);
    let same_name_in_both: Vec<&str> = items
        .keys()
        .filter_map(|p| p.strip_prefix(LIVE_WHATSAPP))
        .filter(|rel| items.contains_key(&format!("{LEGACY_WHATSAPP}{rel}")))
        .collect();
    assert!(
        same_name_in_both.contains(&"Databases/msgstore.db.crypt14"),
        "the sample phone should hold a chat database in both layouts: {same_name_in_both:?}"
    );
    let source = env.start_handset(HandsetSpec::android14().storage(&storage));

    // One backup takes every item, both copies of each name.
    let archive = backup(&env, &source, "backups");
    let out = run(
        &env,
        &source.serial(),
        &["show", archive.to_str().unwrap(), "--json"],
    );
    assert_success(&out, "show");
    let records = stdout_json(&out);
    let records = records.as_array().expect("show --json lists records");
    assert_eq!(records.len(), items.len(), "items in the archive");
    let mut entries: Vec<&str> = records
        .iter()
        .map(|r| r["entry"].as_str().unwrap())
        .collect();
    entries.sort_unstable();
    entries.dedup();
    assert_eq!(entries.len(), items.len(), "entry names are not distinct");
    for rel in &same_name_in_both {
        assert!(
            entries.contains(&format!("whatsapp/{rel}").as_str()),
            "{rel}"
        );
        assert!(
            entries.contains(&format!("whatsapp-legacy/{rel}").as_str()),
            "the legacy copy of {rel} has no entry of its own: {entries:?}"
        );
    }

    // The plan lists every archived item exactly once.
    let target = env.start_handset(HandsetSpec::android14());
    let archive_arg = archive.to_str().unwrap();
    let out = run(
        &env,
        &target.serial(),
        &["restore", archive_arg, "--dry-run", "--json"],
    );
    assert_success(&out, "dry run");
    let plan = stdout_json(&out);
    let mut planned: Vec<&str> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["from"].as_str().unwrap())
        .collect();
    planned.sort_unstable();
    assert_eq!(
        planned,
        items.keys().map(String::as_str).collect::<Vec<_>>(),
        "planned items"
    );

    let out = run(&env, &target.serial(), &["restore", archive_arg, "--json"]);
    assert_success(&out, "restore");
    let report = stdout_json(&out);
    assert_eq!(
        report["restored"].as_u64(),
        Some(items.len() as u64),
        "{report}"
    );
    // The live chat database is the live (Android 11+) copy; the legacy copy is kept under
    // its own name in the legacy folder, where WhatsApp on Android 11+ does not look.
    for rel in &same_name_in_both {
        let live = format!("{LIVE_WHATSAPP}{rel}");
        let legacy = format!("{LEGACY_WHATSAPP}{rel}");
        assert!(
            fs::read(host_path(target.storage(), &live)).unwrap()
                == fs::read(host_path(&storage, &live)).unwrap(),
            "{live} does not hold the live copy"
        );
        assert!(
            fs::read(host_path(target.storage(), &legacy)).unwrap()
                == fs::read(host_path(&storage, &legacy)).unwrap(),
            "{legacy} does not hold the legacy copy"
        );
    }
    let restored = report["items"].as_array().unwrap();
    let legacy_db = format!("{LEGACY_WHATSAPP}Databases/msgstore.db.crypt14");
    let kept = restored
        .iter()
        .find(|i| i["from"].as_str() == Some(legacy_db.as_str()))
        .expect("the legacy chat database is listed as restored");
    assert_eq!(kept["target"].as_str(), Some(legacy_db.as_str()), "{kept}");
    assert!(temp_entries(target.storage()).is_empty());
}

/// Issue 11 item 10: a cable pulled mid-restore. Today the report says "Restored 0 items"
/// while files are in place, and after the rerun empty temporary folders stay on the phone.
#[test]
fn an_interrupted_restore_counts_what_is_in_place_and_the_rerun_leaves_no_folders() {
    let env = TestEnv::new();
    let source = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 40,
        photo_size: Some("600K-800K"),
        videos: 1,
        whatsapp: 6,
        ..Populate::default()
    }));
    let items = included(&source.truth());
    let archive = backup(&env, &source, "backups");
    let total: u64 = items.values().map(|(size, _)| size).sum();
    assert!(
        total > 7_000_000,
        "the sample is too small to cut after a chunk: {total}"
    );
    // Late enough that the first chunks are checked and in place before the cut.
    let cut = total * 4 / 5;
    // A USB 2 link, so checking the first chunks on the phone keeps up with the push.
    let mut target = env.start_handset(
        HandsetSpec::android14()
            .link("usb2")
            .fault(&format!("disconnect-after={cut}")),
    );
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
            Duration::from_secs(120),
        )
        .expect("restore hung after the cable was pulled");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let report = stdout_json(&out);
    assert!(report["stopped"].is_string(), "{report}");
    assert!(
        target.wait_exit(Duration::from_secs(10)).is_some(),
        "the fault never fired"
    );

    // Whole files under their real names are exactly the items reported restored.
    let in_place: Vec<String> = items
        .keys()
        .filter(|p| {
            let at = host_path(target.storage(), p);
            fs::read(&at).is_ok_and(|b| b == fs::read(host_path(source.storage(), p)).unwrap())
        })
        .cloned()
        .collect();
    assert!(
        !in_place.is_empty(),
        "nothing was in place before the cut: {report}"
    );
    let mut reported: Vec<String> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["target"].as_str().unwrap().to_string())
        .collect();
    reported.sort();
    assert_eq!(reported, in_place, "{report}");
    assert_eq!(report["restored"].as_u64(), Some(in_place.len() as u64));
    let accounted = report["restored"].as_u64().unwrap()
        + report["failed"].as_u64().unwrap()
        + report["not_attempted"].as_u64().unwrap();
    assert_eq!(accounted, items.len() as u64, "{report}");

    // The rerun finishes and leaves no temporary file or folder behind.
    target.restart(HandsetSpec::android14());
    let out = run(
        &env,
        &target.serial(),
        &["restore", archive.to_str().unwrap(), "--json"],
    );
    assert_success(&out, "restore after reconnecting");
    let again = stdout_json(&out);
    assert_eq!(
        again["restored"].as_u64().unwrap(),
        (items.len() - in_place.len()) as u64,
        "{again}"
    );
    assert_eq!(
        again["skipped"].as_u64(),
        Some(in_place.len() as u64),
        "{again}"
    );
    assert_eq!(temp_entries(target.storage()), Vec::<PathBuf>::new());
}

/// Issue 11 item 11: a different chat database already at the target name. Today it is
/// pushed as `msgstore.db (1).crypt14` (which WhatsApp never reads) and reported restored.
#[test]
fn a_chat_database_is_never_renamed_and_a_conflict_says_what_to_do() {
    let env = TestEnv::new();
    let source = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 3,
        videos: 0,
        whatsapp: 6,
        ..Populate::default()
    }));
    let items = included(&source.truth());
    let db = format!("{LIVE_WHATSAPP}Databases/msgstore.db.crypt14");
    assert!(
        items.contains_key(&db),
        "no chat database on the sample phone"
    );
    let archive = backup(&env, &source, "backups");
    let archive_arg = archive.to_str().unwrap();

    let target = env.start_handset(HandsetSpec::android14());
    let on_target = host_path(target.storage(), &db);
    fs::create_dir_all(on_target.parent().unwrap()).unwrap();
    fs::write(&on_target, b"the new phone's own chats").unwrap();

    let out = run(
        &env,
        &target.serial(),
        &["restore", archive_arg, "--dry-run", "--json"],
    );
    assert_success(&out, "dry run");
    let plan = stdout_json(&out);
    let planned = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["from"].as_str() == Some(db.as_str()))
        .expect("the chat database is planned");
    assert_eq!(
        planned["action"].as_str(),
        Some("chat-conflict"),
        "{planned}"
    );
    assert_eq!(planned["target"].as_str(), Some(db.as_str()), "{planned}");

    let out = run(&env, &target.serial(), &["restore", archive_arg, "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let report = stdout_json(&out);
    assert_eq!(
        report["restored"].as_u64(),
        Some(items.len() as u64 - 1),
        "{report}"
    );
    assert_eq!(report["failed"].as_u64(), Some(1), "{report}");
    assert_eq!(
        report["failures"][0]["path"].as_str(),
        Some(db.as_str()),
        "{report}"
    );
    assert!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["from"].as_str() != Some(db.as_str())),
        "{report}"
    );
    assert_eq!(fs::read(&on_target).unwrap(), b"the new phone's own chats");
    let databases = files_under(on_target.parent().unwrap());
    assert_eq!(
        databases
            .iter()
            .filter(|n| n.contains("msgstore.db"))
            .count(),
        1,
        "{databases:?}"
    );
    assert!(
        databases.iter().all(|n| !n.contains(" (")),
        "renamed: {databases:?}"
    );

    // The words say it was not restored and how to get it there.
    let out = run(&env, &target.serial(), &["restore", archive_arg]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Could not restore 1 items"), "{text}");
    assert!(text.contains("msgstore.db.crypt14"), "{text}");
    assert!(text.contains("--on-conflict overwrite"), "{text}");

    // Asked for, the archived database replaces the phone's.
    let out = run(
        &env,
        &target.serial(),
        &[
            "restore",
            archive_arg,
            "--on-conflict",
            "overwrite",
            "--json",
        ],
    );
    assert_success(&out, "restore with overwrite");
    assert!(fs::read(&on_target).unwrap() == fs::read(host_path(source.storage(), &db)).unwrap());
    let report = stdout_json(&out);
    assert_eq!(report["restored"].as_u64(), Some(1), "{report}");
    assert_eq!(report["chats"].as_bool(), Some(true), "{report}");
}

/// Issue 12: restore's temporary folder is per job. A live job's folder (its lock held on
/// this computer) is left alone; a dead job's folder and the fixed-name folder of older
/// versions are removed.
#[test]
fn another_live_jobs_temporary_folder_is_left_alone() {
    let env = TestEnv::new();
    let source = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 4,
        videos: 0,
        whatsapp: 0,
        ..Populate::default()
    }));
    let items = included(&source.truth());
    let archive = backup(&env, &source, "backups");
    let camera = items
        .keys()
        .find(|p| p.starts_with("/sdcard/DCIM/Camera/"))
        .map(|p| p.rsplit_once('/').unwrap().0.to_string())
        .expect("a camera photo");

    // Jobs are told apart by a lock file in the computer's temp folder, held while they run.
    let jobs = std::env::temp_dir().join("phonevault-restore-jobs");
    fs::create_dir_all(&jobs).unwrap();
    let live_id = format!("test-live-{}", std::process::id());
    let dead_id = format!("test-dead-{}", std::process::id());
    let live_lock = fs::File::create(jobs.join(format!("{live_id}.lock"))).unwrap();
    live_lock.lock().unwrap();
    fs::File::create(jobs.join(format!("{dead_id}.lock"))).unwrap();

    let target = env.start_handset(HandsetSpec::android14());
    let folder = host_path(target.storage(), &camera);
    let live_dir = folder.join(format!(".phonevault-restore-{live_id}.partial"));
    let dead_dir = folder.join(format!(".phonevault-restore-{dead_id}.partial"));
    let old_dir = folder.join(".phonevault-restore.partial");
    for dir in [&live_dir, &dead_dir, &old_dir] {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("half.jpg"), b"half a photo").unwrap();
    }

    let out = run(
        &env,
        &target.serial(),
        &["restore", archive.to_str().unwrap(), "--json"],
    );
    assert_success(&out, "restore beside another job");
    let report = stdout_json(&out);
    assert_eq!(
        report["restored"].as_u64(),
        Some(items.len() as u64),
        "{report}"
    );
    assert_eq!(
        fs::read(live_dir.join("half.jpg")).unwrap(),
        b"half a photo",
        "the live job's file was removed"
    );
    assert!(!dead_dir.exists(), "the dead job's folder is still there");
    assert!(
        !old_dir.exists(),
        "the old fixed-name folder is still there"
    );
    assert_eq!(
        temp_entries(target.storage()),
        vec![live_dir.clone(), live_dir.join("half.jpg")]
    );
    drop(live_lock);
    let _ = fs::remove_file(jobs.join(format!("{live_id}.lock")));
    let _ = fs::remove_file(jobs.join(format!("{dead_id}.lock")));
}

/// Issue 12: two restores into the same folders at once. With one fixed temporary folder, the
/// first to finish removed it with the other's files inside.
#[test]
fn two_restores_into_one_folder_at_once_both_complete() {
    let env = TestEnv::new();
    let source = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 24,
        photo_size: Some("200K-300K"),
        videos: 0,
        whatsapp: 0,
        ..Populate::default()
    }));
    let items = included(&source.truth());
    let archive = backup(&env, &source, "backups");
    let target = env.start_handset(HandsetSpec::android14().link("usb2"));
    let serial = target.serial();
    let halves = ["*[02468].jpg", "*[13579].jpg"];
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let runs: Vec<_> = halves
            .iter()
            .map(|half| {
                let include = format!("/sdcard/DCIM/Camera/{half}");
                let (env, serial, archive) = (&env, &serial, &archive);
                scope.spawn(move || {
                    run(
                        env,
                        serial,
                        &[
                            "restore",
                            archive.to_str().unwrap(),
                            "--include",
                            &include,
                            "--json",
                        ],
                    )
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut restored = 0;
    for out in &outputs {
        assert_success(out, "one of two restores at once");
        let report = stdout_json(out);
        assert_eq!(report["failed"].as_u64(), Some(0), "{report}");
        restored += report["restored"].as_u64().unwrap();
    }
    let camera: Vec<&String> = items
        .keys()
        .filter(|p| {
            p.strip_prefix("/sdcard/DCIM/Camera/")
                .and_then(|name| name.strip_suffix(".jpg"))
                .is_some_and(|stem| {
                    !stem.contains('/') && stem.ends_with(|c: char| c.is_ascii_digit())
                })
        })
        .collect();
    assert!(camera.len() >= 10, "too few camera photos: {camera:?}");
    assert_eq!(restored, camera.len() as u64);
    for path in camera {
        let got = fs::read(host_path(target.storage(), path))
            .unwrap_or_else(|e| panic!("{path} was reported restored but is not there: {e}"));
        assert!(
            got == fs::read(host_path(source.storage(), path)).unwrap(),
            "{path}"
        );
    }
    assert_eq!(temp_entries(target.storage()), Vec::<PathBuf>::new());
}

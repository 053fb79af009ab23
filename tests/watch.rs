//! `phonevault watch` end to end: automatic backups of enabled phones as simulated handsets
//! come and go, the cable pulled mid-backup, the adb server restarted, encryption from a
//! password file, and the history `phonevault history --json` shows.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_success, stdout_json, wait_timeout, HandsetSpec, Populate, TestEnv};
use serde_json::Value;

/// How long an automatic backup of a small phone may take to show up.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A small phone: a few photos, a video, some WhatsApp media.
fn small() -> Populate {
    Populate {
        photos: 5,
        videos: 1,
        whatsapp: 4,
        ..Populate::default()
    }
}

/// Device paths the catalog must list, from the truth file.
fn included(truth: &Value) -> BTreeSet<String> {
    truth
        .as_array()
        .expect("truth array")
        .iter()
        .filter(|r| r["include"].as_bool() == Some(true))
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

fn total_size(truth: &Value) -> u64 {
    truth
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["include"].as_bool() == Some(true))
        .map(|r| r["size"].as_u64().unwrap())
        .sum()
}

fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|e| e == "zip"));
    found.sort();
    found
}

/// The phone paths an archive holds, through `phonevault show --json`.
fn archive_paths(env: &TestEnv, archive: &Path, password: Option<&str>) -> Vec<String> {
    let mut command = env.command(env!("CARGO_BIN_EXE_phonevault"));
    command.args(["show", archive.to_str().unwrap(), "--json"]);
    if let Some(password) = password {
        command.env("PHONEVAULT_PASSWORD", password);
    }
    let out = command.output().unwrap();
    assert_success(&out, "show --json");
    let value = stdout_json(&out);
    value["items"]
        .as_array()
        .or_else(|| value.as_array())
        .unwrap_or_else(|| panic!("show --json has no items: {value}"))
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `check` every 100 ms until it gives a value; fails the test with `what` and the
/// watcher's log after `timeout`.
fn wait_for<T>(
    watcher: &Watcher,
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {timeout:?}; watch log:\n{}",
            watcher.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The history file's records (as written, without going through the command).
fn runs(history: &Path) -> Vec<Value> {
    fs::read_to_string(history)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a history line is JSON"))
        .collect()
}

fn runs_of(history: &Path, serial: &str) -> Vec<Value> {
    runs(history)
        .into_iter()
        .filter(|r| r["serial"] == serial)
        .collect()
}

/// A running `phonevault watch`, killed on drop if the test did not stop it.
struct Watcher {
    child: Option<Child>,
    log: PathBuf,
}

impl Watcher {
    /// Starts `phonevault watch` with the test's environment (the config and history in the
    /// test's private home unless `extra_env` says otherwise), and waits until it follows
    /// the device events.
    fn start(env: &TestEnv, extra_env: &[(&str, &Path)]) -> Watcher {
        let log = env.path().join(format!(
            "watch-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let file = fs::File::create(&log).unwrap();
        let mut command = env.command(env!("CARGO_BIN_EXE_phonevault"));
        command
            .arg("watch")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let watcher = Watcher {
            child: Some(command.spawn().expect("phonevault watch starts")),
            log,
        };
        wait_for(&watcher, Duration::from_secs(30), "watch following", || {
            watcher
                .log()
                .contains("following device events")
                .then_some(())
        });
        watcher
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as systemd stops a service; its exit status.
    fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("still running");
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        wait_timeout(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("watch did not stop on SIGTERM; log:\n{}", self.log())
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn enable(env: &TestEnv, serial: &str, extra: &[&str]) {
    let mut args = vec!["-s", serial, "auto", "enable"];
    args.extend_from_slice(extra);
    let out = env.phonevault(&args);
    assert_success(&out, "auto enable");
}

#[test]
fn enabled_phone_is_backed_up_when_served_then_only_its_three_new_photos_and_history_lists_runs() {
    let env = TestEnv::new();
    let to = env.new_dir("backups-a");
    enable(&env, "WATCHA001", &["--to", to.to_str().unwrap()]);
    let mut watcher = Watcher::start(&env, &[]);

    let spec = || HandsetSpec::android14().serial("WATCHA001");
    let mut enabled = env.start_handset(spec().populate(small()));
    let other = env.start_handset(
        HandsetSpec::android14()
            .serial("WATCHB001")
            .populate(Populate { seed: 2, ..small() }),
    );
    let want = included(&enabled.truth());
    let first = wait_for(&watcher, RUN_TIMEOUT, "first automatic backup", || {
        runs_of(
            &env.path()
                .join("home/.local/share/phonevault/history.jsonl"),
            "WATCHA001",
        )
        .into_iter()
        .next()
    });
    assert_eq!(first["result"], "complete", "{first}");
    assert_eq!(first["items"].as_u64(), Some(want.len() as u64), "{first}");
    let first_archive = archives(&to);
    assert_eq!(first_archive.len(), 1, "{first_archive:?}");
    let got: BTreeSet<String> = archive_paths(&env, &first_archive[0], None)
        .into_iter()
        .collect();
    assert_eq!(got, want);
    // The other phone was seen and left alone.
    wait_for(&watcher, RUN_TIMEOUT, "the other phone seen", || {
        watcher.log().contains("phone WATCHB001 (").then_some(())
    });
    assert!(
        watcher.log().contains("WATCHB001")
            && watcher.log().contains("not set up for automatic backups"),
        "{}",
        watcher.log()
    );
    assert!(!env.path().join("home/phonevault/WATCHB001").exists());
    drop(other);

    // Three new photos, then the phone unplugged and plugged back.
    let camera = enabled.storage().join("DCIM/Camera");
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
    let storage = enabled.storage().to_path_buf();
    enabled.restart(spec().storage(&storage));
    let history = env
        .path()
        .join("home/.local/share/phonevault/history.jsonl");
    let second = wait_for(&watcher, RUN_TIMEOUT, "second automatic backup", || {
        runs_of(&history, "WATCHA001").into_iter().nth(1)
    });
    assert_eq!(second["result"], "complete", "{second}");
    assert_eq!(second["items"].as_u64(), Some(3), "{second}");
    let archive = PathBuf::from(second["archive"].as_str().unwrap());
    assert_eq!(archives(&to).len(), 2);
    let got: BTreeSet<String> = archive_paths(&env, &archive, None).into_iter().collect();
    assert_eq!(got, new_paths);

    let status = watcher.terminate();
    assert!(status.success(), "{status:?}\n{}", watcher.log());

    let out = env.phonevault(&["history", "--json"]);
    assert_success(&out, "history --json");
    let listed = stdout_json(&out);
    let listed = listed.as_array().expect("an array of runs");
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (run, items) in listed.iter().zip([want.len() as u64, 3]) {
        assert_eq!(run["serial"], "WATCHA001");
        assert_eq!(run["model"].as_str().map(str::is_empty), Some(false));
        assert_eq!(run["result"], "complete");
        assert_eq!(run["items"].as_u64(), Some(items));
        assert!(run["bytes"].as_u64().unwrap() > 0);
        assert!(Path::new(run["archive"].as_str().unwrap()).is_file());
        assert!(run["error"].is_null());
    }
}

#[test]
fn cable_pulled_during_an_automatic_backup_the_next_connection_finishes_it() {
    let env = TestEnv::new();
    let history = env.path().join("history.jsonl");
    let config = env.path().join("auto.toml");
    let to = env.new_dir("backups");
    let mut phone = env.start_handset(HandsetSpec::android14().serial("WATCHC001").populate(
        Populate {
            photos: 16,
            photo_size: Some("1M-2M"),
            videos: 2,
            whatsapp: 10,
            ..Populate::default()
        },
    ));
    let want = included(&phone.truth());
    let total = total_size(&phone.truth());
    let storage = phone.storage().to_path_buf();
    let spec = || {
        HandsetSpec::android14()
            .serial("WATCHC001")
            .storage(&storage)
    };
    phone.restart(spec().fault(&format!("disconnect-after={}", total / 2)));
    // The config and history files named by the environment, not the defaults.
    let out = env
        .command(env!("CARGO_BIN_EXE_phonevault"))
        .args([
            "-s",
            "WATCHC001",
            "auto",
            "enable",
            "--to",
            to.to_str().unwrap(),
        ])
        .env("PHONEVAULT_CONFIG", &config)
        .output()
        .unwrap();
    assert_success(&out, "auto enable");
    let watcher = Watcher::start(
        &env,
        &[
            ("PHONEVAULT_CONFIG", &config),
            ("PHONEVAULT_HISTORY", &history),
        ],
    );

    let cut = wait_for(&watcher, RUN_TIMEOUT, "the cut-short run", || {
        runs_of(&history, "WATCHC001").into_iter().next()
    });
    assert_eq!(cut["result"], "partial", "{cut}");
    let saved = cut["items"].as_u64().unwrap();
    assert!(saved > 0 && saved < want.len() as u64, "{cut}");
    assert!(cut["missed"].as_u64().unwrap() > 0, "{cut}");
    assert!(
        cut["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{cut}"
    );

    phone.restart(spec());
    let finished = wait_for(&watcher, RUN_TIMEOUT, "the run that finishes", || {
        runs_of(&history, "WATCHC001")
            .into_iter()
            .find(|r| r["result"] == "complete")
    });
    assert_eq!(finished["skipped"].as_u64(), Some(saved), "{finished}");

    let mut union = BTreeMap::new();
    for archive in archives(&to) {
        let test = env
            .command("7zz")
            .args(["t", archive.to_str().unwrap()])
            .output()
            .unwrap();
        assert_success(&test, "7zz t");
        for path in archive_paths(&env, &archive, None) {
            assert!(
                union.insert(path.clone(), archive.clone()).is_none(),
                "{path} stored twice"
            );
        }
    }
    let got: BTreeSet<String> = union.into_keys().collect();
    assert_eq!(got, want);
    let runs = runs_of(&history, "WATCHC001");
    assert!(
        runs.iter()
            .all(|r| r["result"] == "partial" || r["result"] == "complete"),
        "{runs:?}"
    );
}

#[test]
fn adb_server_killed_and_restarted_while_watching_the_next_phone_is_still_seen() {
    let env = TestEnv::new();
    let to = env.new_dir("backups");
    enable(&env, "WATCHD001", &["--to", to.to_str().unwrap()]);
    let watcher = Watcher::start(&env, &[]);
    assert_success(&env.adb(&["kill-server"]), "adb kill-server");
    wait_for(
        &watcher,
        Duration::from_secs(30),
        "the lost server noticed",
        || watcher.log().contains("adb server lost").then_some(()),
    );
    assert_success(&env.adb(&["start-server"]), "adb start-server");
    let phone = env.start_handset(
        HandsetSpec::android14()
            .serial("WATCHD001")
            .populate(small()),
    );
    let history = env
        .path()
        .join("home/.local/share/phonevault/history.jsonl");
    let run = wait_for(&watcher, RUN_TIMEOUT, "a backup after the restart", || {
        runs_of(&history, "WATCHD001").into_iter().next()
    });
    assert_eq!(run["result"], "complete", "{run}");
    assert_eq!(
        run["items"].as_u64(),
        Some(included(&phone.truth()).len() as u64)
    );
    assert!(
        watcher.log().matches("following device events").count() >= 2,
        "{}",
        watcher.log()
    );
}

#[test]
fn encrypted_automatic_backup_with_a_password_file_opens_in_7zip() {
    let env = TestEnv::new();
    let to = env.new_dir("backups");
    let password_file = env.path().join("password.txt");
    fs::write(&password_file, "correct horse\n").unwrap();
    let phone = env.start_handset(
        HandsetSpec::android14()
            .serial("WATCHE001")
            .populate(small()),
    );
    let config = env.path().join("home/.config/phonevault/config.toml");

    // Encryption with nowhere to read the password from cannot be saved.
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "auto",
        "enable",
        "--to",
        to.to_str().unwrap(),
        "--encrypt",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password_file") && stderr.contains("credential store"),
        "{stderr}"
    );
    assert!(!config.exists());

    // Enabled through the adb transport name; kept under the hardware serial.
    enable(
        &env,
        &phone.serial(),
        &[
            "--to",
            to.to_str().unwrap(),
            "--encrypt",
            "--password-file",
            password_file.to_str().unwrap(),
            "--every",
            "6h",
        ],
    );
    let text = fs::read_to_string(&config).unwrap();
    assert!(!text.contains("correct horse"), "{text}");
    let out = env.phonevault(&["auto", "list", "--json"]);
    assert_success(&out, "auto list --json");
    let listed = stdout_json(&out);
    assert_eq!(listed["phones"][0]["serial"], "WATCHE001", "{listed}");
    assert_eq!(listed["phones"][0]["encrypt"], true, "{listed}");
    assert_eq!(listed["phones"][0]["every"], "6h", "{listed}");

    let mut watcher = Watcher::start(&env, &[]);
    let history = env
        .path()
        .join("home/.local/share/phonevault/history.jsonl");
    let run = wait_for(&watcher, RUN_TIMEOUT, "the encrypted backup", || {
        runs_of(&history, "WATCHE001").into_iter().next()
    });
    assert_eq!(run["result"], "complete", "{run}");
    let archive = run["archive"].as_str().unwrap().to_string();
    let test = env
        .command("7zz")
        .args(["t", "-pcorrect horse", &archive])
        .output()
        .unwrap();
    assert_success(&test, "7zz t with the password");
    let wrong = env
        .command("7zz")
        .args(["t", "-pwrong", &archive])
        .output()
        .unwrap();
    assert!(
        !wrong.status.success(),
        "7zz t with a wrong password passed"
    );
    let listing = env
        .command("7zz")
        .args(["l", "-slt", "-pcorrect horse", &archive])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("Encrypted = +"), "{listing}");
    assert_eq!(
        archive_paths(&env, Path::new(&archive), Some("correct horse")).len() as u64,
        run["items"].as_u64().unwrap()
    );
    assert!(watcher.terminate().success());
}

#[test]
fn sigterm_during_an_automatic_backup_keeps_what_arrived_whole_and_exits_0() {
    let env = TestEnv::new();
    let to = env.new_dir("backups");
    // About 50 MB over a 40 MB/s link: over a second of copying to stop in the middle of.
    let phone = env.start_handset(
        HandsetSpec::android14()
            .serial("WATCHF001")
            .link("usb2")
            .populate(Populate {
                photos: 20,
                photo_size: Some("2M-3M"),
                videos: 0,
                whatsapp: 2,
                ..Populate::default()
            }),
    );
    let want = included(&phone.truth());
    enable(&env, "WATCHF001", &["--to", to.to_str().unwrap()]);
    let mut watcher = Watcher::start(&env, &[]);
    wait_for(&watcher, RUN_TIMEOUT, "a megabyte copied", || {
        fs::read_dir(&to)
            .ok()?
            .filter_map(Result::ok)
            .find(|e| {
                e.file_name().to_string_lossy().ends_with(".partial")
                    && e.metadata().is_ok_and(|m| m.len() > 1_000_000)
            })
            .map(|_| ())
    });
    let status = watcher.terminate();
    assert!(status.success(), "{status:?}\n{}", watcher.log());

    let history = env
        .path()
        .join("home/.local/share/phonevault/history.jsonl");
    let runs = runs_of(&history, "WATCHF001");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["result"], "interrupted", "{run}");
    let saved = run["items"].as_u64().unwrap();
    assert!(saved > 0 && saved < want.len() as u64, "{run}");
    // Only finished archives are left, and they test clean.
    let left: Vec<_> = fs::read_dir(&to)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, archives(&to), "an unfinished archive was left");
    let archive = PathBuf::from(run["archive"].as_str().unwrap());
    let test = env
        .command("7zz")
        .args(["t", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&test, "7zz t");
    assert_eq!(archive_paths(&env, &archive, None).len() as u64, saved);
}

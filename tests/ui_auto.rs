//! Automatic backups in `phonevault ui`: a phone's setting made by clicking in the page
//! (saved in the config file the CLI uses, keyed by hardware serial, with no password), the
//! watcher inside the ui backing the phone up when it is plugged in while the page is open,
//! "last backed up" and the history on the page; and the settings route's refusals.

mod common;
mod ui_common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_success, stdout_json, HandsetSpec, Populate, TestEnv};
use serde_json::{json, Value};
use ui_common::{http, Browser, Ui, NOT_FROM_THE_PAGE};

/// The hardware serial of the test phone (the adb serial is `127.0.0.1:PORT`).
const HW: &str = "AUTOUI001";

fn small() -> Populate {
    Populate {
        photos: 4,
        photo_size: None,
        videos: 1,
        whatsapp: 4,
        huge: false,
        seed: 7,
    }
}

/// Phone paths of the handset's Gallery items, from its truth file.
fn gallery_paths(truth: &Value) -> BTreeSet<String> {
    truth
        .as_array()
        .expect("a truth array")
        .iter()
        .filter(|r| r["include"] == true && r["source"] == "gallery")
        .map(|r| r["path"].as_str().expect("a path").to_owned())
        .collect()
}

fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|e| e == "zip"));
    found.sort();
    found
}

/// The phone paths an archive holds, through `phonevault show --json`.
fn archive_paths(env: &TestEnv, archive: &Path) -> BTreeSet<String> {
    let out = env.phonevault(&["show", archive.to_str().expect("a UTF-8 path"), "--json"]);
    assert_success(&out, "show --json");
    let value = stdout_json(&out);
    value["items"]
        .as_array()
        .or_else(|| value.as_array())
        .unwrap_or_else(|| panic!("show --json has no items: {value}"))
        .iter()
        .map(|i| i["path"].as_str().expect("a path").to_owned())
        .collect()
}

/// Set up by clicking, plugged in while the page is open: backed up with no other action,
/// "last backed up" and the history on the page. The settings route's refusals first.
#[test]
fn a_phone_set_up_in_the_page_is_backed_up_when_plugged_in_and_the_page_says_so() {
    let started = Instant::now();
    let env = TestEnv::new();
    let config = env.path().join("settings/auto.toml");
    let history = env.path().join("runs/history.jsonl");
    let to = env.path().join("auto-backups");
    let spec = || HandsetSpec::android14().serial(HW);
    let mut phone = env.start_handset(spec().populate(small()));
    let serial = phone.serial();
    // `--config` as a flag and the history through its environment variable, as the CLI.
    let ui = Ui::start_with(
        &env,
        &["--config", config.to_str().expect("a UTF-8 path")],
        &[(
            "PHONEVAULT_HISTORY",
            history.to_str().expect("a UTF-8 path"),
        )],
    );
    ui.wait_for_phone(&serial);

    settings_route_refusals(&env, &ui, &serial, &config);

    let browser = Browser::start();
    let phone_button = browser.open_listing(&ui, &serial);
    let last_line = format!("{phone_button} .last-backup");
    browser.wait_for(
        "\"not backed up\" beside the phone",
        "const e = document.querySelector(arguments[0]); \
         return e && e.textContent.startsWith('Not backed up automatically')",
        &[json!(last_line)],
        Duration::from_secs(20),
    );
    set_up_by_clicking(&env, &browser, &phone_button, &to, &config, &serial);
    assert!(
        archives(&to).is_empty(),
        "backed up before being plugged in"
    );

    // Plugged in (served again) while the page is open: nothing else is done.
    let want = gallery_paths(&phone.truth());
    let storage = phone.storage().to_path_buf();
    phone.restart(spec().storage(&storage));
    let deadline = Instant::now() + Duration::from_secs(90);
    let archive = loop {
        let runs = ui.get(&format!("/api/history?serial={HW}")).json();
        if let Some(run) = runs["runs"].as_array().and_then(|r| r.first()) {
            assert_eq!(run["result"], "complete", "{run}");
            break PathBuf::from(run["archive"].as_str().expect("an archive"));
        }
        assert!(Instant::now() < deadline, "no automatic backup: {runs}");
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(archives(&to), std::slice::from_ref(&archive));
    assert_eq!(archive_paths(&env, &archive), want);

    page_shows_the_run(&browser, &last_line, &archive, want.len());
    browser.click("#history-close");
    // Unplugged, it is still listed with its last backup.
    phone.stop();
    let _ = env.adb(&["disconnect", &serial]);
    let away = format!("#auto-known-list li[data-serial=\"{HW}\"] .last-backup");
    browser.wait_for(
        "the unplugged phone with its last backup",
        "const e = document.querySelector(arguments[0]); \
         return e !== null && e.textContent.startsWith('Last backed up')",
        &[json!(away)],
        Duration::from_secs(20),
    );
    browser.screenshot("auto-03-unplugged");
    let runs: Vec<&str> = fs::read_to_string(&history)
        .expect("the history file")
        .lines()
        .map(|_| "run")
        .collect();
    assert_eq!(runs.len(), 1, "one run in the history");
    eprintln!("ui auto test took {:?}", started.elapsed());
}

/// The settings route: refused from another site and without an origin; a password in the
/// body refused; encryption without a password file refused with the reason. Nothing written.
fn settings_route_refusals(env: &TestEnv, ui: &Ui, serial: &str, config: &Path) {
    let launch = http(ui.port, "GET", &format!("/?token={}", ui.token), &[], None);
    let cookie = launch
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let route = format!("/api/phones/{serial}/auto");
    let folder = env.path().join("cross-site");
    let body = json!({
        "enabled": true,
        "folder": folder.display().to_string(),
        "selection": "everything",
    });
    for extra in NOT_FROM_THE_PAGE {
        let reply = ui.post_with_cookie(&cookie, &route, extra, &body);
        assert_eq!(reply.status, 403, "{extra:?}: {}", reply.text());
        assert_eq!(reply.json()["error"]["kind"], "refused");
    }
    let no_credential = ui.post_without_credential(&route, &body);
    assert_eq!(no_credential.status, 401);

    // From the page itself, but asking for what is never done.
    let password_file = env.path().join("password.txt");
    fs::write(&password_file, "correct horse\n").expect("a password file");
    let cases = [
        (
            json!({"enabled": true, "folder": folder, "encrypt": true, "password": "hunter2"}),
            "password-not-stored",
        ),
        (
            json!({"enabled": true, "folder": folder, "encrypt": true}),
            "invalid-setting",
        ),
        (
            json!({"enabled": true, "folder": folder, "encrypt": true,
                   "password_file": "password.txt"}),
            "bad-password-file",
        ),
        (
            json!({"enabled": true, "folder": "/tmp/../etc/phonevault"}),
            "bad-folder",
        ),
        (
            json!({"enabled": true, "folder": folder, "every": "sometimes"}),
            "invalid-setting",
        ),
    ];
    for (body, kind) in cases {
        let reply = ui.post_from_page(&cookie, &route, &body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert_eq!(reply.json()["error"]["kind"], kind, "{body}");
        if kind == "invalid-setting" && body["encrypt"] == true {
            let message = reply.json()["error"]["message"].to_string();
            assert!(message.contains("credential store"), "{message}");
        }
    }
    assert!(!config.exists(), "a refused request wrote the config");
    assert!(!folder.exists());
    let history = ui.get("/api/history").json();
    assert_eq!(history["runs"], json!([]), "{history}");
    let auto = ui.get("/api/auto").json();
    assert_eq!(auto["config_path"], json!(config.display().to_string()));
}

/// On the phone's page: a refused folder explained, then enabled for its Gallery into `to`
/// by clicking; the config file then holds it under the hardware serial, with no password.
fn set_up_by_clicking(
    env: &TestEnv,
    browser: &Browser,
    phone_button: &str,
    to: &Path,
    config: &Path,
    serial: &str,
) {
    browser.click(phone_button);
    browser.click("#auto-summary");
    browser.wait_for(
        "the phone's automatic-backup setting",
        "return document.querySelector('#auto-folder').value !== ''",
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(browser.text_of("#auto-summary"), "Automatic backup: off");
    assert!(
        browser.text_of("#auto-box").contains(
            "credential store (Keychain, Credential Manager, Secret Service) is not supported yet"
        ),
        "the page says the credential store is not supported"
    );

    // A folder the library would refuse: the page says why and nothing is saved.
    browser.click("#auto-enabled");
    browser.clear("#auto-folder");
    browser.type_into("#auto-folder", "relative/folder");
    browser.click("#auto-selection-gallery");
    browser.click("#auto-save");
    let refused = browser.wait_for(
        "the refusal",
        "return document.querySelector('#auto-error').textContent",
        &[],
        Duration::from_secs(20),
    );
    assert!(
        refused.as_str().is_some_and(|t| t.contains("full path")),
        "{refused}"
    );
    assert!(!config.exists(), "a refused setting was saved");

    browser.clear("#auto-folder");
    browser.type_into("#auto-folder", to.to_str().expect("a UTF-8 path"));
    browser.click("#auto-save");
    browser.wait_for(
        "the setting saved",
        "return document.querySelector('#auto-saved').textContent.startsWith('Saved in')",
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(
        browser.text_of("#auto-summary"),
        "Automatic backup: on (Gallery, when plugged in)"
    );
    browser.screenshot("auto-01-setting");
    let saved = fs::read_to_string(config).expect("the config file");
    assert!(saved.contains(&format!("[phones.{HW}]")), "{saved}");
    assert!(saved.contains("enabled = true"), "{saved}");
    assert!(saved.contains("selection = \"gallery\""), "{saved}");
    // No password key (only the header's sentence saying none is kept), nothing typed earlier.
    assert!(
        !saved
            .lines()
            .any(|l| l.trim_start().starts_with("password")),
        "{saved}"
    );
    assert!(!saved.contains("hunter2"), "{saved}");
    assert!(!saved.contains(serial), "keyed by the adb serial: {saved}");
    // The CLI reads the same file.
    let listed = env
        .command(env!("CARGO_BIN_EXE_phonevault"))
        .args(["auto", "list", "--json", "--config"])
        .arg(config)
        .output()
        .expect("auto list");
    assert_success(&listed, "auto list --json");
    let listed = stdout_json(&listed).to_string();
    assert!(
        listed.contains(HW) && listed.contains("gallery"),
        "{listed}"
    );
}

/// "Last backed up" beside the phone and on its page, and the run in the history view.
fn page_shows_the_run(browser: &Browser, last_line: &str, archive: &Path, items: usize) {
    let last = browser.wait_for(
        "\"last backed up\" beside the phone",
        "const e = document.querySelector(arguments[0]); \
         return e && e.textContent.startsWith('Last backed up') ? e.textContent : ''",
        &[json!(last_line)],
        Duration::from_secs(20),
    );
    assert!(
        last.as_str()
            .is_some_and(|t| t.contains(&format!("{items} new items"))),
        "{last}"
    );
    assert!(browser.text_of("#auto-last").starts_with("Last backed up"));
    browser.click("#history-open");
    let row = format!("#history-runs tr[data-serial=\"{HW}\"][data-result=\"complete\"]");
    browser.wait_for_element("the run in the history", &row, Duration::from_secs(20));
    let row_text = browser.text_of(&row);
    assert!(
        row_text.contains(archive.to_str().expect("a UTF-8 path")),
        "{row_text}"
    );
    browser.screenshot("auto-02-history");
}

/// A backup from the page is refused, saying why, while the watcher backs the same phone
/// up; once that ends the page's backup starts.
#[test]
fn a_backup_from_the_page_waits_for_the_automatic_one_of_the_same_phone() {
    let env = TestEnv::new();
    let config = env.path().join("auto.toml");
    let to = env.path().join("auto-backups");
    // Enough bytes over a USB 2 link that the automatic backup runs for a few seconds.
    let spec = || HandsetSpec::android14().serial("AUTOUI002").link("usb2");
    let mut phone = env.start_handset(spec().populate(Populate {
        photos: 14,
        photo_size: Some("4M-5M"),
        videos: 0,
        whatsapp: 0,
        huge: false,
        seed: 9,
    }));
    let serial = phone.serial();
    let ui = Ui::start_with(
        &env,
        &["--config", config.to_str().expect("a UTF-8 path")],
        &[],
    );
    ui.wait_for_phone(&serial);
    enable_encrypted(&env, &ui, &serial, &config, &to);
    let ids: Vec<Value> = ui.get(&format!("/api/phones/{serial}/media")).json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].clone())
        .collect();

    let storage = phone.storage().to_path_buf();
    phone.restart(spec().storage(&storage));
    let deadline = Instant::now() + Duration::from_secs(60);
    while ui.get("/api/auto").json()["running"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "no automatic backup started");
        thread::sleep(Duration::from_millis(50));
    }
    ui.wait_for_phone(&serial);
    let by_hand = json!({"ids": ids, "folder": env.path().join("by-hand").display().to_string()});
    let post_backup = || ui.post(&format!("/api/phones/{serial}/backup"), &by_hand);
    let refused = post_backup();
    let still_running = !ui.get("/api/auto").json()["running"]
        .as_array()
        .is_none_or(Vec::is_empty);
    assert!(
        still_running,
        "the automatic backup ended too soon for this check"
    );
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert_eq!(refused.json()["error"]["kind"], "busy");
    let message = refused.json()["error"]["message"].to_string();
    assert!(message.contains("automatic backup"), "{message}");

    // Once it has ended, the page's backup goes ahead.
    let deadline = Instant::now() + Duration::from_secs(90);
    while ui.get("/api/history").json()["runs"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(
            Instant::now() < deadline,
            "the automatic backup never ended"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let run = &ui.get("/api/history").json()["runs"][0];
    assert_eq!(run["result"], "complete", "{run}");
    assert_eq!(run["items"].as_u64(), Some(ids.len() as u64), "{run}");
    let started = post_backup();
    assert_eq!(started.status, 202, "{}", started.text());
    // The automatic archive is encrypted with the file's password, and 7-Zip opens it.
    let archive = run["archive"].as_str().expect("an archive");
    assert!(
        opens_in_7zip(archive, PASSWORD),
        "7-Zip cannot open {archive}"
    );
    assert!(
        !opens_in_7zip(archive, "wrong"),
        "{archive} is not encrypted"
    );
}

const PASSWORD: &str = "tr0ub4dor&3";

/// Enables `serial` through the API, encrypted with [`PASSWORD`] from a password file; the
/// config then names the file and does not hold the password.
fn enable_encrypted(env: &TestEnv, ui: &Ui, serial: &str, config: &Path, to: &Path) {
    // Encrypted, with the password in a file the setting names.
    let password_file = env.path().join("password.txt");
    fs::write(&password_file, format!("{PASSWORD}\n")).expect("a password file");
    let enable = json!({
        "enabled": true,
        "folder": to.display().to_string(),
        "encrypt": true,
        "password_file": password_file.display().to_string(),
    });
    let saved = ui.post(&format!("/api/phones/{serial}/auto"), &enable);
    assert_eq!(saved.status, 200, "{}", saved.text());
    let written = fs::read_to_string(config).expect("the config file");
    assert!(
        written.contains(&format!("password_file = \"{}\"", password_file.display())),
        "{written}"
    );
    assert!(!written.contains(PASSWORD), "the password is in the config");
}

/// Whether `7zz t` accepts `archive` with `password`.
fn opens_in_7zip(archive: &str, password: &str) -> bool {
    Command::new("7zz")
        .args(["t", &format!("-p{password}"), archive])
        .output()
        .expect("7zz (Debian package 7zip)")
        .status
        .success()
}

/// The watcher waits for a backup started from the page: the same phone (hardware serial)
/// seen on a second connection while the page backs it up is backed up automatically only
/// once the page's backup has ended.
#[test]
fn the_watcher_waits_for_a_backup_from_the_page_of_the_same_phone() {
    let env = TestEnv::new();
    let config = env.path().join("auto.toml");
    let to = env.path().join("auto-backups");
    // The first connection freezes during the page's backup, which so runs until cancelled.
    let first = env.start_handset(
        HandsetSpec::android14()
            .serial("AUTOUI003")
            .fault("stall-after=3M")
            .populate(Populate {
                photos: 3,
                photo_size: Some("2M-3M"),
                videos: 0,
                whatsapp: 0,
                huge: false,
                seed: 11,
            }),
    );
    let serial = first.serial();
    let ui = Ui::start_with(
        &env,
        &["--config", config.to_str().expect("a UTF-8 path")],
        &[],
    );
    ui.wait_for_phone(&serial);
    let saved = ui.post(
        &format!("/api/phones/{serial}/auto"),
        &json!({"enabled": true, "folder": to.display().to_string(), "selection": "gallery"}),
    );
    assert_eq!(saved.status, 200, "{}", saved.text());
    let ids: Vec<Value> = ui.get(&format!("/api/phones/{serial}/media")).json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    let by_hand = ui.post(
        &format!("/api/phones/{serial}/backup"),
        &json!({"ids": ids, "folder": env.path().join("by-hand").display().to_string()}),
    );
    assert_eq!(by_hand.status, 202, "{}", by_hand.text());
    let job = by_hand.json()["job"]["id"].as_u64().expect("a job id");

    // The same phone on a second connection (as USB and Wi-Fi debugging at once).
    let second = env.start_handset(HandsetSpec::android14().serial("AUTOUI003").populate(
        Populate {
            photos: 3,
            videos: 0,
            whatsapp: 2,
            seed: 12,
            ..Populate::default()
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = ui.get("/api/auto").json();
        if view["waiting"] == json!(["AUTOUI003"]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher did not wait: {view}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(500));
    assert!(!to.exists(), "backed up beside the page's backup");
    assert_eq!(ui.get("/api/history").json()["runs"], json!([]));

    let cancelled = ui.post(&format!("/api/jobs/{job}/cancel"), &json!({}));
    assert_eq!(cancelled.status, 200, "{}", cancelled.text());
    let deadline = Instant::now() + Duration::from_secs(90);
    let run = loop {
        let runs = ui.get("/api/history").json();
        if let Some(run) = runs["runs"].as_array().and_then(|r| r.first()) {
            break run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no automatic backup after the page's"
        );
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        ui.get(&format!("/api/jobs/{job}")).json()["job"]["state"],
        "cancelled"
    );
    assert_eq!(run["result"], "complete", "{run}");
    assert_eq!(run["adb_serial"], json!(second.serial()), "{run}");
    let want = gallery_paths(&second.truth());
    let archive = PathBuf::from(run["archive"].as_str().expect("an archive"));
    assert_eq!(archive_paths(&env, &archive), want);
    assert_eq!(ui.get("/api/auto").json()["waiting"], json!([]));
}

/// Quitting the page stops the watcher too: an automatic backup on a phone that froze
/// mid-file ends as `interrupted` in the history, and the server exits 0.
#[test]
fn quitting_stops_a_running_automatic_backup() {
    let env = TestEnv::new();
    let config = env.path().join("auto.toml");
    let history = env.path().join("history.jsonl");
    let spec = || {
        HandsetSpec::android14()
            .serial("AUTOUI004")
            .fault("stall-after=2M")
    };
    let mut phone = env.start_handset(spec().populate(Populate {
        photos: 3,
        photo_size: Some("2M-3M"),
        videos: 0,
        whatsapp: 0,
        huge: false,
        seed: 15,
    }));
    let serial = phone.serial();
    let mut ui = Ui::start_with(
        &env,
        &["--config", config.to_str().expect("a UTF-8 path")],
        &[(
            "PHONEVAULT_HISTORY",
            history.to_str().expect("a UTF-8 path"),
        )],
    );
    ui.wait_for_phone(&serial);
    let to = env.path().join("auto-backups");
    let body = json!({"enabled": true, "folder": to.display().to_string()});
    let saved = ui.post(&format!("/api/phones/{serial}/auto"), &body);
    assert_eq!(saved.status, 200, "{}", saved.text());
    let storage = phone.storage().to_path_buf();
    phone.restart(spec().storage(&storage));
    let deadline = Instant::now() + Duration::from_secs(60);
    while ui.get("/api/auto").json()["running"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "no automatic backup started");
        thread::sleep(Duration::from_millis(50));
    }
    // Frozen part-way: the run cannot end by itself.
    thread::sleep(Duration::from_secs(1));
    assert!(!history.exists(), "the run ended by itself");

    let quit = ui.post("/api/quit", &json!({}));
    assert_eq!(quit.status, 200);
    let stopping = Instant::now();
    assert_eq!(ui.wait_exit(Duration::from_secs(60)), Some(0));
    eprintln!("stopped {:?} after Quit", stopping.elapsed());
    let text = fs::read_to_string(&history).expect("the history file");
    let runs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(runs.len(), 1, "{text}");
    assert_eq!(runs[0]["result"], "interrupted", "{text}");
    assert_eq!(runs[0]["serial"], "AUTOUI004");
    // Nothing half-written is left with a real name.
    let leftovers: Vec<PathBuf> = fs::read_dir(&to)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        leftovers
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "zip" || e == "lock")),
        "{leftovers:?}"
    );
}

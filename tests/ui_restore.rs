//! The backups page and restore from the page, end to end: the real page in headless
//! Chromium against simulated handsets (one browser and a few small phones for all of it).
//!
//! Screenshots of the backups page and the restore plan go to `target/ui-screenshots/`.

mod common;
mod ui_common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_success, stdout_json, HandsetSpec, Populate, TestEnv};
use serde_json::{json, Value};
use ui_common::{Browser, Ui};

/// One item of an archive's manifest.
#[derive(Debug, Clone)]
struct Item {
    entry: String,
    id: String,
    path: String,
    size: u64,
    mtime: i64,
    kind: String,
    source: String,
}

fn manifest_items(archive: &Path) -> Vec<Item> {
    let out = std::process::Command::new("unzip")
        .args(["-p", archive.to_str().unwrap(), "phonevault/manifest.json"])
        .output()
        .expect("unzip");
    assert!(out.status.success(), "unzip -p manifest");
    let manifest: Value = serde_json::from_slice(&out.stdout).expect("manifest JSON");
    manifest["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| Item {
            entry: r["entry"].as_str().unwrap().to_owned(),
            id: r["id"].as_str().unwrap().to_ascii_lowercase(),
            path: r["path"].as_str().unwrap().to_owned(),
            size: r["size"].as_u64().unwrap(),
            mtime: r["mtime"].as_i64().unwrap(),
            kind: r["kind"].as_str().unwrap().to_owned(),
            source: r["source"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// Flips one byte in the middle of each named entry's stored data.
fn flip_bytes(archive: &Path, entries: &[&str]) {
    let mut offsets = Vec::new();
    {
        let file = fs::File::open(archive).unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        for name in entries {
            let entry = zip.by_name(name).unwrap();
            let start = entry.data_start().expect("a data offset");
            let len = entry.compressed_size();
            assert!(len > 0, "{name} is empty");
            offsets.push(start + len / 2);
        }
    }
    let mut bytes = fs::read(archive).unwrap();
    for at in offsets {
        let at = usize::try_from(at).unwrap();
        bytes[at] ^= 0x5a;
    }
    fs::write(archive, bytes).unwrap();
}

/// Where an item from an Android 10 phone goes on an Android 11+ one.
fn mapped_on_14(path: &str) -> String {
    match path.strip_prefix("/sdcard/WhatsApp/") {
        Some(rest) => format!("/sdcard/Android/media/com.whatsapp/WhatsApp/{rest}"),
        None => path.to_owned(),
    }
}

fn host_path(storage: &Path, device_path: &str) -> PathBuf {
    storage.join(device_path.strip_prefix("/sdcard/").expect("under /sdcard"))
}

fn quote(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

fn phone_mtime(phone: &common::Handset, path: &str) -> i64 {
    let out = phone.shell(&format!("stat -c '%Y' {}", quote(path)));
    assert_success(&out, "stat on the handset");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

fn send_count(phone: &common::Handset) -> u64 {
    phone.stats()["sync_requests"]["SEND"].as_u64().unwrap_or(0)
}

/// Files anywhere in the handset's storage (temporary ones included).
fn files_on(storage: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![storage.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
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

// ---- driving the page ----

const LONG: Duration = Duration::from_secs(60);

fn show_backups(browser: &Browser) {
    browser.click("#show-backups");
    browser.wait_for(
        "the backups list",
        "return document.querySelectorAll('#backup-list tr[data-archive]').length",
        &[],
        LONG,
    );
}

/// Opens the archive at `path` from the list (reloading the list first).
fn open_archive(browser: &Browser, path: &Path) {
    browser.click("#reload-backups");
    browser.wait_for(
        "the archive in the list",
        "return [...document.querySelectorAll('#backup-list tr[data-archive]')]
           .find((r) => r.dataset.archive === arguments[0])
           ?.querySelector('button') || null",
        &[json!(path.to_str().unwrap())],
        LONG,
    );
    browser.exec(
        "[...document.querySelectorAll('#backup-list tr[data-archive]')]
           .find((r) => r.dataset.archive === arguments[0]).querySelector('button').click()",
        &[json!(path.to_str().unwrap())],
    );
    browser.wait_for(
        "the archive or its password form",
        "return !document.getElementById('archive-body').hidden
           || !document.getElementById('unlock-form').hidden",
        &[],
        LONG,
    );
}

/// Selects exactly `ids` in the archive grid: a click, then Ctrl+clicks.
fn select(browser: &Browser, ids: &[&str]) {
    browser.click("#archive-select-none");
    for (k, id) in ids.iter().enumerate() {
        let css = format!("#archive-grid .pick[data-id=\"{id}\"]");
        browser.exec(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})",
            &[json!(css)],
        );
        if k == 0 {
            browser.click(&css);
        } else {
            browser.click_with(&css, "\u{E009}");
        }
    }
    let pressed = browser.exec(
        "return [...document.querySelectorAll('#archive-grid .pick[aria-pressed=\"true\"]')]
           .map((b) => b.dataset.id)",
        &[],
    );
    let got: BTreeSet<&str> = pressed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(got, ids.iter().copied().collect(), "the selection");
}

/// Plans a restore of the selection onto `serial`; the page's plan box (or its error).
fn plan(browser: &Browser, serial: &str) -> Value {
    browser.wait_for(
        "the phone in the restore list",
        "return [...document.getElementById('restore-phone').options].some((o) => o.value === arguments[0])",
        &[json!(serial)],
        LONG,
    );
    browser.exec(
        "const s = document.getElementById('restore-phone');
         s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
        &[json!(serial)],
    );
    browser.exec(
        "document.getElementById('restore-plan').replaceChildren()",
        &[],
    );
    browser.click("#plan-restore");
    browser.wait_for(
        "the restore plan",
        "const box = document.querySelector('#restore-plan .plan-box');
         const err = document.getElementById('archive-error').textContent;
         if (err) return { error: err };
         if (!box) return null;
         return {
           plan: Number(box.dataset.plan),
           rows: [...box.querySelectorAll('tbody tr')].map((r) => ({
             from: r.cells[0].textContent, to: r.dataset.target, shown_to: r.cells[1].textContent,
             action: r.dataset.action })),
           space: box.querySelector('[data-role=space]').textContent,
           refusal: box.querySelector('[role=alert]').textContent,
           start_disabled: [...box.querySelectorAll('button')].find((b) => b.textContent === 'Start restore').disabled,
         };",
        &[],
        LONG,
    )
}

/// Clicks Start on the plan shown; the new job's id.
fn start(browser: &Browser) -> u64 {
    let before = browser.exec(
        "return document.querySelectorAll('#archive-jobs .job').length",
        &[],
    );
    browser.exec(
        "[...document.querySelectorAll('#restore-plan button')]
           .find((b) => b.textContent === 'Start restore').click()",
        &[],
    );
    browser
        .wait_for(
            "the restore job",
            "const cards = document.querySelectorAll('#archive-jobs .job');
             return cards.length > arguments[0] ? Number(cards[0].dataset.job) : 0",
            &[before],
            LONG,
        )
        .as_u64()
        .unwrap()
}

/// Waits for a job to end (as the page shows it); its view from the API.
fn finished(browser: &Browser, ui: &Ui, id: u64) -> Value {
    browser.wait_for(
        "the job's end",
        "const c = document.querySelector(`#archive-jobs .job[data-job=\"${arguments[0]}\"]`);
         return c && c.dataset.state !== 'running' && c.querySelector('.result').textContent !== ''
           ? c.dataset.state : null",
        &[json!(id)],
        Duration::from_secs(120),
    );
    let reply = ui.get(&format!("/api/jobs/{id}"));
    assert_eq!(reply.status, 200);
    reply.json()["job"].clone()
}

fn job_text(browser: &Browser, id: u64) -> String {
    browser
        .exec(
            "return document.querySelector(`#archive-jobs .job[data-job=\"${arguments[0]}\"]`).textContent",
            &[json!(id)],
        )
        .as_str()
        .unwrap()
        .to_owned()
}

fn verify(browser: &Browser, ui: &Ui) -> Value {
    let before = browser.exec(
        "return document.querySelectorAll('#archive-jobs .job').length",
        &[],
    );
    browser.click("#verify-archive");
    let id = browser
        .wait_for(
            "the verify job",
            "const cards = document.querySelectorAll('#archive-jobs .job');
             return cards.length > arguments[0] ? Number(cards[0].dataset.job) : 0",
            &[before],
            LONG,
        )
        .as_u64()
        .unwrap();
    let view = finished(browser, ui, id);
    let text = job_text(browser, id);
    json!({ "view": view, "text": text })
}

/// A script's `POST` that also names the page's own origin.
fn post(ui: &Ui, path: &str, body: &Value) -> ui_common::Reply {
    ui.post_with(path, &[("Origin", &ui.origin())], body)
}

#[test]
#[allow(clippy::too_many_lines)] // one browser and a few phones for the whole story
fn backups_are_browsed_from_stored_previews_and_restored_from_the_page() {
    let started = Instant::now();
    let env = TestEnv::new();
    let source = env.start_handset(HandsetSpec::android10().populate(Populate {
        photos: 5,
        videos: 0,
        whatsapp: 6,
        seed: 14,
        ..Populate::default()
    }));
    let serial = source.serial();
    // Into the default folder (~/phonevault/<serial>), which the page knows by itself.
    let out = env.phonevault(&["-s", &serial, "-q", "backup", "--json"]);
    assert_success(&out, "backup");
    let archive = PathBuf::from(stdout_json(&out)["archive"].as_str().unwrap());
    let items = manifest_items(&archive);
    let media: Vec<&Item> = items.iter().collect();

    // Copies in a folder the person adds: every media entry damaged, and one flipped byte.
    let added = env.new_dir("kept backups");
    let damaged = added.join("phonevault-damaged-20260101-000000.zip");
    fs::copy(&archive, &damaged).unwrap();
    let entries: Vec<&str> = media.iter().map(|i| i.entry.as_str()).collect();
    flip_bytes(&damaged, &entries);
    let one_flip = added.join("phonevault-oneflip-20260102-000000.zip");
    fs::copy(&archive, &one_flip).unwrap();
    let flipped = media
        .iter()
        .find(|i| i.kind == "photo")
        .expect("a photo")
        .entry
        .clone();
    flip_bytes(&one_flip, &[&flipped]);
    // An encrypted backup of the same phone.
    let encrypted_dir = env.new_dir("encrypted");
    let password_file = env.path().join("password.txt");
    fs::write(&password_file, "correct horse\n").unwrap();
    let out = env.phonevault(&[
        "-s",
        &serial,
        "-q",
        "backup",
        "--to",
        encrypted_dir.to_str().unwrap(),
        "--encrypt",
        "--password-file",
        password_file.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out, "encrypted backup");
    let encrypted = PathBuf::from(stdout_json(&out)["archive"].as_str().unwrap());

    let target = env.start_handset(HandsetSpec::android14());
    let tiny = env.start_handset(HandsetSpec::android14().capacity(32 * 1024));
    let ui = Ui::start(&env, &[]);
    ui.wait_for_phone(&target.serial());
    ui.wait_for_phone(&tiny.serial());
    let browser = Browser::start();
    browser.goto(&ui.launch_url());
    show_backups(&browser);

    // Paths and ids in requests are checked: nothing outside the known folders.
    let outside = env.new_dir("elsewhere").join("x.zip");
    fs::copy(&archive, &outside).unwrap();
    for bad in [
        outside.to_str().unwrap().to_owned(),
        format!("{}/../x.zip", added.display()),
        "/etc/passwd".to_owned(),
        "relative.zip".to_owned(),
    ] {
        let reply = ui.get(&format!(
            "/api/backups/archive?path={}",
            bad.replace(' ', "%20").replace('/', "%2F")
        ));
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text());
        let reply = post(&ui, "/api/backups/verify", &json!({ "archive": bad }));
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text());
    }

    // The person adds the folder of copies.
    browser.type_into("#add-folder", added.to_str().unwrap());
    browser.click("#add-folder-form button[type=submit]");
    browser.wait_for(
        "the added folder's archives",
        "return document.querySelectorAll('#backup-list tr[data-archive]').length >= 3",
        &[],
        LONG,
    );
    let listed = ui.get("/api/backups").json();
    let ours = listed["phones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["archives"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["path"] == archive.to_str().unwrap())
        })
        .unwrap_or_else(|| panic!("no group for {serial}: {listed}"));
    // Grouped by the phone's own serial: the copies sit with the original.
    assert_eq!(ours["archives"].as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(ours["model"], "Pixel 3a", "{listed}");
    let summary = ours["archives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == archive.to_str().unwrap())
        .expect("the default folder's archive");
    assert_eq!(summary["items"].as_u64(), Some(items.len() as u64));
    assert_eq!(summary["encrypted"], false);
    assert_eq!(summary["status"], "complete");
    assert_eq!(ours["android_version"], "10");
    let locked = ours["archives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == encrypted.to_str().unwrap());
    assert!(
        locked.is_none(),
        "the encrypted folder is not known yet: {listed}"
    );
    browser.screenshot("backups-page");

    // 1. The damaged copy still shows its previews (no media entry is read for them), and
    // verify names every damaged entry.
    open_archive(&browser, &damaged);
    browser.wait_for(
        "a tile with a stored preview",
        "const t = document.querySelector('#archive-grid .tile[data-thumb=true]');
         if (t) t.scrollIntoView({ block: 'center' });
         return Boolean(t)",
        &[],
        LONG,
    );
    let shown = browser.wait_for(
        "stored previews painted",
        "// Tiles near the screen load their stored preview; every one loaded must paint.
         const imgs = [...document.querySelectorAll('#archive-grid .tile[data-thumb=true] img')];
         return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0)
           ? imgs.length : 0",
        &[],
        LONG,
    );
    assert!(shown.as_u64().unwrap() >= 1, "no stored preview shown");
    // Every photo has a real picture, WhatsApp images (which carry no EXIF thumbnail)
    // included: the backup made them from the bytes it copied.
    let photos: Vec<&Item> = items.iter().filter(|i| i.kind == "photo").collect();
    assert!(
        photos.iter().any(|i| i.source != "gallery"),
        "the handset has WhatsApp images: {items:?}"
    );
    for photo in &photos {
        browser.wait_for(
            &format!("the stored picture of {}", photo.path),
            "const t = document.querySelector(`#archive-grid .tile[data-id=\"${arguments[0]}\"]`);
             if (!t) return false;
             t.scrollIntoView({ block: 'center' });
             const i = t.querySelector('img');
             return t.dataset.thumb === 'true' && Boolean(i) && i.complete && i.naturalWidth > 0",
            &[json!(photo.id)],
            LONG,
        );
    }
    // The picture a person sees on opening it: the top of the archive's grid.
    browser.exec(
        "document.getElementById('archive-view').scrollIntoView({ block: 'start' })",
        &[],
    );
    browser.wait_for(
        "the first screen of stored previews painted",
        "const imgs = [...document.querySelectorAll('#archive-grid .tile[data-thumb=true] img')]
           .filter((i) => { const r = i.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; });
         return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0)",
        &[],
        LONG,
    );
    browser.screenshot("backups-archive-grid");
    let result = verify(&browser, &ui);
    let problems: BTreeSet<String> = result["view"]["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["entry"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = entries.iter().map(|e| (*e).to_owned()).collect();
    assert_eq!(problems, expected, "verify names every damaged entry");
    for entry in &entries {
        assert!(
            result["text"].as_str().unwrap().contains(entry),
            "the page names {entry}: {}",
            result["text"]
        );
    }

    // 2. One flipped byte: verify names that entry, and only it.
    open_archive(&browser, &one_flip);
    let result = verify(&browser, &ui);
    let problems: Vec<&str> = result["view"]["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["entry"].as_str().unwrap())
        .collect();
    assert_eq!(problems, vec![flipped.as_str()], "{result}");
    assert!(result["text"].as_str().unwrap().contains(&flipped));
    assert_eq!(result["view"]["state"], "partial");

    // 3. A wrong password: a clear message, nothing shown from the archive.
    browser.type_into("#add-folder", encrypted_dir.to_str().unwrap());
    browser.click("#add-folder-form button[type=submit]");
    browser.wait_for(
        "the encrypted archive listed",
        "return [...document.querySelectorAll('#backup-list tr[data-archive]')]
           .some((r) => r.dataset.archive === arguments[0])",
        &[json!(encrypted.to_str().unwrap())],
        LONG,
    );
    open_archive(&browser, &encrypted);
    browser.type_into("#unlock-password", "wrong horse");
    browser.click("#unlock-form button[type=submit]");
    let message = browser.wait_for(
        "the wrong-password message",
        "return document.getElementById('unlock-error').textContent",
        &[],
        LONG,
    );
    assert!(
        message.as_str().unwrap().contains("wrong password"),
        "{message}"
    );
    let leaked = browser.exec(
        "return { body: !document.getElementById('archive-body').hidden,
                  tiles: document.querySelectorAll('#archive-grid .tile').length }",
        &[],
    );
    assert_eq!(leaked, json!({ "body": false, "tiles": 0 }), "shown anyway");
    let photo = media.iter().find(|i| i.kind == "photo").unwrap();
    let path_q = encrypted
        .to_str()
        .unwrap()
        .replace('/', "%2F")
        .replace(' ', "%20");
    let reply = ui.get(&format!("/api/backups/thumb?path={path_q}&id={}", photo.id));
    assert_eq!(reply.status, 401, "{}", reply.text());
    // The password never travels in an address: the page only POSTs it.
    let urls = browser.exec(
        "return performance.getEntriesByType('resource').map((e) => e.name).join(' ')",
        &[],
    );
    assert!(!urls.as_str().unwrap().contains("horse"), "{urls}");
    // The right one opens it; the large view reads one entry on demand.
    browser.type_into("#unlock-password", "correct horse");
    browser.click("#unlock-form button[type=submit]");
    browser.wait_for(
        "the encrypted archive's grid",
        "return document.querySelectorAll('#archive-grid .tile').length",
        &[],
        LONG,
    );
    browser.exec(
        "document.querySelector(`#archive-grid .tile[data-id=\"${arguments[0]}\"] .enlarge`).click()",
        &[json!(photo.id)],
    );
    browser.wait_for(
        "the large view's picture",
        "const i = document.getElementById('viewer-img');
         return !i.hidden && i.complete && i.naturalWidth > 0",
        &[],
        LONG,
    );
    browser.click("#viewer-close");
    let original = ui.get(&format!(
        "/api/backups/original?path={path_q}&id={}",
        photo.id
    ));
    assert_eq!(original.status, 200);
    assert_eq!(
        original.body,
        fs::read(host_path(source.storage(), &photo.path)).unwrap(),
        "the large view gets the photo's bytes"
    );

    // 4. Five items (legacy WhatsApp among them) onto an Android 14 phone.
    open_archive(&browser, &archive);
    let whatsapp: Vec<&Item> = media
        .iter()
        .copied()
        .filter(|i| i.source == "whatsapp" && i.kind != "database")
        .take(3)
        .collect();
    let photos: Vec<&Item> = media
        .iter()
        .copied()
        .filter(|i| i.source == "gallery")
        .take(2)
        .collect();
    assert_eq!(
        (whatsapp.len(), photos.len()),
        (3, 2),
        "the populated phone"
    );
    // The grid works from the keyboard like the phone's: Space selects, Shift+arrow extends.
    browser.click("#archive-select-none");
    let first = browser
        .exec(
            "return document.querySelector('#archive-grid .pick[tabindex=\"0\"]').dataset.id",
            &[],
        )
        .as_str()
        .unwrap()
        .to_owned();
    let tile = format!("#archive-grid .pick[data-id=\"{first}\"]");
    browser.type_into(&tile, " ");
    browser.type_into(&tile, "\u{E008}\u{E014}\u{E000}");
    let pressed = browser.exec(
        "return document.querySelectorAll('#archive-grid .pick[aria-pressed=\"true\"]').length",
        &[],
    );
    assert_eq!(pressed, 2, "Space, then Shift+Right");
    let five: Vec<&Item> = whatsapp.iter().chain(&photos).copied().collect();
    let ids: Vec<&str> = five.iter().map(|i| i.id.as_str()).collect();
    select(&browser, &ids);
    let shown = plan(&browser, &target.serial());
    assert!(shown["error"].is_null(), "{shown}");
    let rows = shown["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "{shown}");
    for item in &five {
        let row = rows
            .iter()
            .find(|r| r["from"] == item.path.as_str())
            .unwrap_or_else(|| panic!("{} not in the plan: {shown}", item.path));
        assert_eq!(row["to"], mapped_on_14(&item.path).as_str(), "{shown}");
        assert_eq!(row["action"], "push");
    }
    assert!(
        whatsapp
            .iter()
            .all(|i| mapped_on_14(&i.path)
                .starts_with("/sdcard/Android/media/com.whatsapp/WhatsApp/"))
    );
    browser.screenshot("restore-plan");
    let id = start(&browser);
    let job = finished(&browser, &ui, id);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["details"]["restored"].as_array().unwrap().len(), 5);
    assert!(job_text(&browser, id).contains("5 items restored"));
    assert!(job_text(&browser, id).contains("Gallery rescan requested"));
    let log = target.scan_log();
    for item in &five {
        let to = mapped_on_14(&item.path);
        let got = fs::read(host_path(target.storage(), &to))
            .unwrap_or_else(|e| panic!("{to} not on the phone: {e}"));
        assert!(
            got == fs::read(host_path(source.storage(), &item.path)).unwrap(),
            "{to}: bytes differ"
        );
        assert_eq!(phone_mtime(&target, &to), item.mtime, "{to}: mtime");
        let folder = &to[..to.rfind('/').unwrap()];
        let line = format!("am\tMEDIA_SCANNER_SCAN_FILE\t{}", percent_uri(folder));
        assert!(log.lines().any(|l| l == line), "no scan of {folder}: {log}");
    }

    // 5. The same restore again: all identical and skipped, nothing pushed.
    let sends = send_count(&target);
    let shown = plan(&browser, &target.serial());
    assert!(
        shown["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["action"] == "identical"),
        "{shown}"
    );
    let id = start(&browser);
    let job = finished(&browser, &ui, id);
    assert_eq!(job["details"]["skipped"], 5, "{job}");
    assert_eq!(job["details"]["restored"].as_array().unwrap().len(), 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(send_count(&target), sends, "a rerun pushed files");

    // 5b. Two backups of the phone chosen: each file once (the other copy superseded).
    let tick = "const c = document.querySelector(`#restore-archives input[data-archive=\"${arguments[0]}\"]`);
                c.checked = arguments[1]; return true;";
    browser.exec(tick, &[json!(one_flip.to_str().unwrap()), json!(true)]);
    let shown = plan(&browser, &target.serial());
    let actions: Vec<&str> = shown["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 10, "{shown}");
    assert_eq!(actions.iter().filter(|a| **a == "superseded").count(), 5);
    assert_eq!(actions.iter().filter(|a| **a == "identical").count(), 5);
    browser.exec(tick, &[json!(one_flip.to_str().unwrap()), json!(false)]);

    // 5c. A chat database in the selection: the plan says what to do on the new phone.
    let database = media
        .iter()
        .find(|i| i.kind == "database")
        .expect("the populated phone has a chat database");
    select(&browser, &[database.id.as_str()]);
    plan(&browser, &target.serial());
    let guidance = browser.exec(
        "return document.querySelector('#restore-plan .guidance')?.textContent || ''",
        &[],
    );
    assert!(
        guidance
            .as_str()
            .unwrap()
            .contains("install WhatsApp and do not open it"),
        "{guidance}"
    );

    // 5d. Extract two items to a folder on this computer, with their dates.
    let out_dir = env.new_dir("extracted");
    select(&browser, &ids[3..]);
    browser.type_into("#extract-folder", out_dir.to_str().unwrap());
    let before = browser.exec(
        "return document.querySelectorAll('#archive-jobs .job').length",
        &[],
    );
    browser.click("#extract-selected");
    let id = browser
        .wait_for(
            "the extract job",
            "const cards = document.querySelectorAll('#archive-jobs .job');
             return cards.length > arguments[0] ? Number(cards[0].dataset.job) : 0",
            &[before],
            LONG,
        )
        .as_u64()
        .unwrap();
    let job = finished(&browser, &ui, id);
    assert_eq!(job["state"], "done", "{job}");
    for item in &photos {
        let rel = item.path.strip_prefix("/sdcard/").unwrap();
        let at = out_dir.join("gallery").join(rel);
        assert_eq!(
            fs::read(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display())),
            fs::read(host_path(source.storage(), &item.path)).unwrap()
        );
        let mtime = fs::metadata(&at)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(
            i64::try_from(mtime).unwrap(),
            item.mtime,
            "{}",
            at.display()
        );
    }
    select(&browser, &ids);

    // 6. A different file under one item's name, keep both: both there, the new one numbered.
    let clash = photos[0];
    let clash_at = host_path(target.storage(), &clash.path);
    fs::write(&clash_at, b"the new phone's own photo").unwrap();
    let shown = plan(&browser, &target.serial());
    let row = shown["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["from"] == clash.path.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["action"], "keep-both", "{shown}");
    let numbered = row["to"].as_str().unwrap().to_owned();
    assert_eq!(
        row["shown_to"],
        format!("{numbered} (beside the phone's file)"),
        "{shown}"
    );
    let stem = clash.path.rsplit_once('.').unwrap().0;
    assert!(numbered.starts_with(&format!("{stem} (1)")), "{numbered}");
    let per_item = browser.exec(
        "return [...document.querySelectorAll('#restore-plan select[data-index]')].map((s) => s.value)",
        &[],
    );
    assert_eq!(
        per_item,
        json!(["keep-both"]),
        "one choice, keep both first"
    );
    browser.screenshot("restore-plan-conflict");
    let id = start(&browser);
    let job = finished(&browser, &ui, id);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(
        fs::read(&clash_at).unwrap(),
        b"the new phone's own photo",
        "the phone's file was overwritten"
    );
    assert_eq!(
        fs::read(host_path(target.storage(), &numbered)).unwrap(),
        fs::read(host_path(source.storage(), &clash.path)).unwrap(),
        "the numbered copy"
    );

    // 6b. Two conflicts: "replace" for all items, "skip" for one of them.
    let replaced = photos[1];
    let skipped = whatsapp[2];
    let replaced_at = host_path(target.storage(), &replaced.path);
    let skipped_at = host_path(target.storage(), &mapped_on_14(&skipped.path));
    fs::write(&replaced_at, b"to be replaced").unwrap();
    fs::write(&skipped_at, b"to be left alone").unwrap();
    let shown = plan(&browser, &target.serial());
    let conflicts: Vec<&Value> = shown["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "keep-both")
        .collect();
    assert_eq!(conflicts.len(), 2, "{shown}");
    browser.exec(
        "const all = document.querySelector('#restore-plan select[aria-label=\"Choice for all conflicts\"]');
         all.value = 'replace'; all.dispatchEvent(new Event('change'));
         const row = [...document.querySelectorAll('#restore-plan tbody tr')]
           .find((r) => r.cells[0].textContent === arguments[0]);
         const one = row.querySelector('select');
         one.value = 'skip'; one.dispatchEvent(new Event('change'));",
        &[json!(skipped.path)],
    );
    let id = start(&browser);
    let job = finished(&browser, &ui, id);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["details"]["left_alone"], 1, "{job}");
    assert_eq!(
        fs::read(&replaced_at).unwrap(),
        fs::read(host_path(source.storage(), &replaced.path)).unwrap(),
        "replace put the backup's bytes in place"
    );
    assert_eq!(phone_mtime(&target, &replaced.path), replaced.mtime);
    assert_eq!(fs::read(&skipped_at).unwrap(), b"to be left alone");
    for path in [&replaced.path, &mapped_on_14(&skipped.path)] {
        let stem = path.rsplit_once('.').unwrap().0;
        let numbered = files_on(target.storage())
            .into_iter()
            .filter(|p| {
                p.to_string_lossy()
                    .contains(&format!("{} (", &stem["/sdcard/".len()..]))
            })
            .collect::<Vec<_>>();
        assert_eq!(
            numbered,
            Vec::<PathBuf>::new(),
            "no numbered copy of {path}"
        );
    }

    // 7. A phone too small: refused with both numbers, nothing pushed.
    let needed: u64 = five.iter().map(|i| i.size).sum();
    let shown = plan(&browser, &tiny.serial());
    let refusal = shown["refusal"].as_str().unwrap();
    assert!(
        refusal.contains(&format!("{needed} bytes needed")) && refusal.contains("bytes free"),
        "{shown}"
    );
    assert_eq!(shown["start_disabled"], true, "{shown}");
    let reply = post(
        &ui,
        "/api/restore/start",
        &json!({ "plan_id": shown["plan"] }),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["kind"], "no-space");
    assert!(reply.text().contains(&format!("{needed} bytes needed")));
    browser.screenshot("restore-refused");
    assert_eq!(files_on(tiny.storage()), Vec::<PathBuf>::new(), "pushed");

    // 8. Cancel during a restore (the phone freezes part-way through the first file, so the
    // cancel lands mid-push): no partial file under a real name; a rerun completes.
    let helper = fs::metadata(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("android-helper/phonevault-helper.sh"),
    )
    .map_or(0, |m| m.len());
    let stall = format!("stall-after={}", helper + 120_000);
    let mut slow = env.start_handset(HandsetSpec::android14().fault(&stall));
    ui.wait_for_phone(&slow.serial());
    let shown = plan(&browser, &slow.serial());
    assert!(shown["error"].is_null(), "{shown}");
    let id = start(&browser);
    let deadline = Instant::now() + LONG;
    loop {
        let job = ui.get(&format!("/api/jobs/{id}")).json()["job"].clone();
        if job["bytes_done"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert_eq!(job["state"], "running", "{job}");
        assert!(
            Instant::now() < deadline,
            "the restore never started pushing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cancel_at = Instant::now();
    browser.exec(
        "document.querySelector(`#archive-jobs .job[data-job=\"${arguments[0]}\"] button`).click()",
        &[json!(id)],
    );
    let job = finished(&browser, &ui, id);
    println!(
        "ui_restore: a cancel mid-push ended the job in {:?}",
        cancel_at.elapsed()
    );
    assert_eq!(job["state"], "cancelled", "{job}");
    assert!(
        job["details"]["restored"].as_array().unwrap().len() < 5,
        "the cancel came after everything: {job}"
    );
    for item in &five {
        let at = host_path(slow.storage(), &mapped_on_14(&item.path));
        if let Ok(bytes) = fs::read(&at) {
            assert!(
                bytes == fs::read(host_path(source.storage(), &item.path)).unwrap(),
                "{} is half-written under its real name",
                at.display()
            );
        }
    }
    slow.restart(HandsetSpec::android14());
    ui.wait_for_phone(&slow.serial());
    let shown = plan(&browser, &slow.serial());
    assert!(shown["error"].is_null(), "{shown}");
    let id = start(&browser);
    let job = finished(&browser, &ui, id);
    assert_eq!(job["state"], "done", "the rerun: {job}");
    for item in &five {
        let to = mapped_on_14(&item.path);
        assert!(
            fs::read(host_path(slow.storage(), &to)).unwrap()
                == fs::read(host_path(source.storage(), &item.path)).unwrap(),
            "{to} after the rerun"
        );
    }
    let leftovers: Vec<PathBuf> = files_on(slow.storage())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/.phonevault-"))
        .collect();
    assert_eq!(leftovers, Vec::<PathBuf>::new(), "temporary files left");
    drop(browser);
    println!("ui_restore: took {:?} in all", started.elapsed());
}

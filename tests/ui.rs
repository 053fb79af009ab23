//! `phonevault ui` end to end: the real page in headless Chromium (driven over WebDriver
//! by a small client below), against simulated handsets; and the server's refusals as plain
//! HTTP requests.
//!
//! Screenshots of each page go to `target/ui-screenshots/` (not committed).

mod common;
mod ui_common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::{free_port, HandsetSpec, Populate, TestEnv};
use serde_json::{json, Value};
use ui_common::{http, phone_button, Browser, Ui, NOT_FROM_THE_PAGE};

// ---- checks on archives ----

/// The one finished archive in `folder`; panics unless there is exactly one (and no
/// leftover `.partial`).
fn only_archive(folder: &Path) -> Option<PathBuf> {
    let names: Vec<PathBuf> = fs::read_dir(folder)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        !names
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".partial")),
        "an unfinished archive was left: {names:?}"
    );
    let zips: Vec<&PathBuf> = names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    assert!(zips.len() <= 1, "more than one archive: {zips:?}");
    zips.first().map(|p| (*p).clone())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn mtime(path: &Path) -> u64 {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("an mtime")
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Extracts `archive` (with our own `extract`) and checks each file against the phone's
/// storage: the same bytes and mtime. Returns the phone paths (relative to the storage) found.
fn check_whole_items(
    env: &TestEnv,
    archive: &Path,
    storage: &Path,
    password: Option<&str>,
) -> BTreeSet<String> {
    // Archives of two phones with the same hardware serial, made in the same second, have the
    // same name: number the folders instead.
    static EXTRACTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = EXTRACTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out = env.new_dir(&format!("extract-{n}"));
    let mut cmd = env.command(env!("CARGO_BIN_EXE_phonevault"));
    cmd.arg("extract").arg(archive).arg("--to").arg(&out);
    if let Some(p) = password {
        cmd.env("PHONEVAULT_PASSWORD", p);
    }
    let extracted = common::run_with_timeout(&mut cmd, common::COMMAND_TIMEOUT);
    common::assert_success(&extracted, "phonevault extract");
    let mut found = BTreeSet::new();
    for file in files_under(&out) {
        let rel = file.strip_prefix(&out).expect("under the folder");
        // gallery/<path under /sdcard>
        let on_phone = rel
            .strip_prefix("gallery")
            .unwrap_or_else(|_| panic!("not a Gallery entry: {}", rel.display()));
        let original = storage.join(on_phone);
        assert_eq!(
            fs::read(&file).expect("extracted bytes"),
            fs::read(&original).unwrap_or_else(|e| panic!("{}: {e}", original.display())),
            "{} differs from the phone's file",
            on_phone.display()
        );
        assert_eq!(
            mtime(&file),
            mtime(&original),
            "{} lost its mtime",
            on_phone.display()
        );
        found.insert(on_phone.to_string_lossy().into_owned());
    }
    found
}

/// Phone paths (relative to `/sdcard`) of item ids, from the media list.
fn rel_paths(media: &Value, ids: &[Value]) -> BTreeSet<String> {
    ids.iter()
        .map(|id| {
            let item = media["items"]
                .as_array()
                .and_then(|items| items.iter().find(|i| i["id"] == *id))
                .unwrap_or_else(|| panic!("id {id} not in the media list"));
            item["path"]
                .as_str()
                .and_then(|p| p.strip_prefix("/sdcard/"))
                .expect("a path under /sdcard")
                .to_owned()
        })
        .collect()
}

const XSS_NAME: &str = "<img src=x onerror=alert(1)>.jpg";

const JOB_STATE: &str = "const job = document.querySelector('.job'); \
     return job && job.dataset.state !== 'running' ? job.dataset.state : null;";

/// The page, end to end, with one browser and one handset: the phone list follows adb, the
/// grid shows real pictures, a name made of HTML stays text, a click/shift-click selection
/// is backed up exactly, an encrypted backup opens in 7-Zip, and a cancelled backup keeps
/// only whole items.
#[test]
fn the_page_lists_phones_shows_pictures_and_backs_up_what_was_picked() {
    let started = Instant::now();
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().link("usb2").populate(Populate {
        photos: 16,
        photo_size: Some("3M-4M"),
        videos: 1,
        whatsapp: 8,
        huge: false,
        seed: 13,
    }));
    let serial = phone.serial();
    // A real photo under a name that is HTML.
    let camera = phone.storage().join("DCIM/Camera");
    let sample = fs::read_dir(&camera)
        .expect("the camera folder")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("PXL_"))
        })
        .expect("a camera photo");
    fs::copy(&sample, camera.join(XSS_NAME)).expect("the HTML-named photo");

    let ui = Ui::start(&env, &[]);
    let browser = Browser::start();
    let phone_button = browser.open_listing(&ui, &serial);
    let address = browser.exec("return location.href", &[]);
    assert_eq!(
        address,
        json!(format!("http://127.0.0.1:{}/", ui.port)),
        "the token left the address bar"
    );
    assert_eq!(
        browser.exec("return document.cookie", &[]),
        json!(""),
        "the session cookie is HttpOnly"
    );
    browser.screenshot("01-phones");

    phone_list_follows_adb(&env, &browser);
    browser.click(&phone_button);
    browser.wait_for(
        "the grid",
        "return document.querySelectorAll('#grid .tile').length",
        &[],
        Duration::from_secs(60),
    );
    html_names_stay_text(&browser);
    let media = grid_shows_pictures(&browser, &ui, &serial);
    let shown = picked_backup(&env, &browser, &phone, &media);
    keyboard_and_large_view(&browser, &shown);
    encrypted_backup(&env, &browser, &phone, &media, &shown);
    cancelled_backup(&env, &browser, &phone, &shown);
    big_phone_loads_only_what_is_seen(&env, &browser);

    // Quit from the page stops the server.
    browser.click("#quit");
    let mut ui = ui;
    assert_eq!(ui.wait_exit(Duration::from_secs(30)), Some(0));
    eprintln!("ui browser test took {:?}", started.elapsed());
}

/// A handset served while the page is open appears; one that stops disappears.
fn phone_list_follows_adb(env: &TestEnv, browser: &Browser) {
    let second = env.start_handset(HandsetSpec::android10().model("Second_Phone"));
    let second_button = phone_button(&second.serial());
    browser.wait_for_element(
        "the second phone to appear",
        &second_button,
        Duration::from_secs(20),
    );
    browser.screenshot("02-two-phones");
    second.stop();
    let _ = env.adb(&["disconnect", &second.serial()]);
    browser.wait_for(
        "the second phone to disappear",
        "return !document.body.textContent.includes(arguments[0])",
        &[json!(second.serial())],
        Duration::from_secs(20),
    );
}

/// The grid: every camera photo and WhatsApp image shows a real picture. Returns the media
/// list.
fn grid_shows_pictures(browser: &Browser, ui: &Ui, serial: &str) -> Value {
    let media = ui.media(serial);
    let pictures = browser.wait_for(
        "every thumbnail",
        "const tiles = [...document.querySelectorAll('#grid .tile[data-thumb]')] \
           .filter(t => t.dataset.thumb === 'true' || t.querySelector('.kind'));\
         const photos = [...document.querySelectorAll('#grid .tile')]\
           .filter(t => t.dataset.thumb === 'true' || t.dataset.thumb === 'false' && t.querySelector('.kind')?.textContent === 'no preview');\
         const waiting = photos.find(t => { const i = t.querySelector('img'); \
           return t.dataset.thumb === 'true' && !(i && i.complete && i.naturalWidth > 0); });\
         if (waiting) { waiting.scrollIntoView({block: 'center'}); return null; }\
         return photos.map(t => ({ id: t.dataset.id, loaded: t.dataset.thumb === 'true' }));",
        &[],
        Duration::from_secs(60),
    );
    browser.exec(
        "window.scrollTo(0, 0); document.getElementById('main').scrollTo(0, 0)",
        &[],
    );
    browser.screenshot("03-grid");
    let pictures = pictures.as_array().expect("a list").clone();
    let path_of = |id: &Value| -> String {
        media["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["id"] == *id))
            .and_then(|i| i["path"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let camera_loaded = pictures
        .iter()
        .filter(|p| path_of(&p["id"]).starts_with("/sdcard/DCIM/Camera/") && p["loaded"] == true)
        .count();
    let whatsapp_loaded = pictures
        .iter()
        .filter(|p| path_of(&p["id"]).contains("WhatsApp Images") && p["loaded"] == true)
        .count();
    let without: Vec<String> = pictures
        .iter()
        .filter(|p| p["loaded"] != true)
        .map(|p| path_of(&p["id"]))
        .collect();
    assert!(
        without
            .iter()
            .all(|p| !p.starts_with("/sdcard/DCIM/Camera/") && !p.contains("WhatsApp Images")),
        "camera photos or WhatsApp images without a picture: {without:?}"
    );
    assert!(camera_loaded >= 10, "only {camera_loaded} camera pictures");
    assert!(
        whatsapp_loaded >= 2,
        "only {whatsapp_loaded} WhatsApp pictures"
    );

    media
}

/// A name made of HTML is shown as text, and no script runs.
fn html_names_stay_text(browser: &Browser) {
    let xss = browser.exec(
        "const b = [...document.querySelectorAll('#grid .pick')]\
           .find(b => b.querySelector('.name')?.textContent === arguments[0]);\
         return b ? { label: b.getAttribute('aria-label'), stray: document.querySelectorAll('img[src=\"x\"]').length } : null;",
        &[json!(XSS_NAME)],
    );
    assert!(
        xss.is_object(),
        "no tile shows the name {XSS_NAME:?} as text"
    );
    assert!(
        xss["label"]
            .as_str()
            .is_some_and(|l| l.starts_with(XSS_NAME)),
        "{xss}"
    );
    assert_eq!(xss["stray"], json!(0), "the name became an element");
    assert_eq!(browser.alert(), None, "a script from a file name ran");
}

/// Three photos chosen with a click and a shift-click, backed up: the archive holds exactly
/// those, byte-identical with their mtimes. Returns the ids of the photos shown, in order.
fn picked_backup(
    env: &TestEnv,
    browser: &Browser,
    phone: &common::Handset,
    media: &Value,
) -> Vec<Value> {
    browser.exec(
        "const s = document.getElementById('filter-source'); s.value = 'gallery'; \
         s.dispatchEvent(new Event('change')); \
         const k = document.getElementById('filter-kind'); k.value = 'photo'; \
         k.dispatchEvent(new Event('change'));",
        &[],
    );
    let shown = browser.exec(
        "return [...document.querySelectorAll('#grid .pick')].map(b => b.dataset.id)",
        &[],
    );
    let shown = shown.as_array().expect("ids").clone();
    assert!(shown.len() >= 12, "{shown:?}");
    let tile = |i: usize| format!("#grid .pick[data-id=\"{}\"]", shown[i].as_str().unwrap());
    browser.click(&tile(1));
    browser.click_with(&tile(3), "\u{E008}");
    let summary = browser.wait_for(
        "the summary",
        "const t = document.getElementById('summary').textContent; return t.startsWith('3 items') ? t : null",
        &[],
        Duration::from_secs(5),
    );
    let pressed = browser.exec(
        "return [...document.querySelectorAll('#grid .pick[aria-pressed=\"true\"]')].map(b => b.dataset.id)",
        &[],
    );
    assert_eq!(pressed, json!(shown[1..4]), "{summary}");
    assert!(
        summary
            .as_str()
            .is_some_and(|s| s.contains("free at the destination")),
        "{summary}"
    );
    let dest1 = env.path().join("picked");
    browser.exec(
        "document.getElementById('dest').value = arguments[0]",
        &[json!(dest1.display().to_string())],
    );
    browser.screenshot("04-selected");
    browser.click("#start-backup");
    let state = browser.wait_for("the backup to end", JOB_STATE, &[], Duration::from_secs(60));
    browser.screenshot("05-backed-up");
    assert_eq!(state, json!("done"));
    // The page now marks those three as backed up, and "Not yet backed up" hides them.
    browser.wait_for(
        "the backed-up badges",
        "return document.querySelectorAll('#grid .pick[aria-label$=\", backed up\"]').length === 3",
        &[],
        Duration::from_secs(20),
    );
    browser.click("#filter-new");
    let hidden = browser.exec(
        "return arguments[0].every(id => !document.querySelector(`#grid .pick[data-id=\"${id}\"]`))",
        &[json!(shown[1..4])],
    );
    assert_eq!(
        hidden,
        json!(true),
        "backed-up items still shown as not backed up"
    );
    browser.click("#filter-new");
    let archive = only_archive(&dest1).expect("an archive of the three photos");
    let held = check_whole_items(env, &archive, phone.storage(), None);
    assert_eq!(held, rel_paths(media, &shown[1..4]));

    shown
}

/// The grid works from the keyboard (arrows move, Space selects), and the enlarge control
/// shows the photo itself with its details.
fn keyboard_and_large_view(browser: &Browser, shown: &[Value]) {
    browser.click("#select-none");
    browser.exec(
        "document.querySelector(`#grid .pick[data-id=\"${arguments[0]}\"]`).focus()",
        &[shown[0].clone()],
    );
    let keys = |keys: &[&str]| {
        let actions: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({ "type": "keyDown", "value": k }),
                    json!({ "type": "keyUp", "value": k }),
                ]
            })
            .collect();
        browser.cmd(
            "POST",
            "/actions",
            Some(&json!({ "actions": [{ "type": "key", "id": "keys", "actions": actions }] })),
        );
    };
    // Right, Space, Right, Space: the second and third tiles.
    keys(&["\u{E014}", "\u{E00D}", "\u{E014}", "\u{E00D}"]);
    let pressed = browser.exec(
        "return [...document.querySelectorAll('#grid .pick[aria-pressed=\"true\"]')].map(b => b.dataset.id)",
        &[],
    );
    assert_eq!(pressed, json!(shown[1..3]));
    let focused = browser.exec("return document.activeElement.dataset.id", &[]);
    assert_eq!(focused, shown[2]);
    browser.click("#select-none");

    browser.click(&format!(
        "#grid .tile[data-id=\"{}\"] .enlarge",
        shown[2].as_str().unwrap()
    ));
    let facts = browser.wait_for(
        "the large view",
        "const img = document.getElementById('viewer-img'); \
         const facts = document.getElementById('viewer-facts').textContent; \
         return document.getElementById('viewer').open && img.complete && img.naturalWidth > 0 \
           && facts.includes('Camera') ? facts : null",
        &[],
        Duration::from_secs(30),
    );
    assert!(
        facts.as_str().is_some_and(|f| f.contains("/sdcard/")),
        "{facts}"
    );
    let width = browser.exec(
        "return document.getElementById('viewer-img').naturalWidth",
        &[],
    );
    assert!(
        width.as_u64().is_some_and(|w| w > 200),
        "the large view shows the thumbnail, not the photo: {width}"
    );
    browser.screenshot("04-large-view");
    browser.click("#viewer-close");
}

/// An encrypted backup made in the page opens in 7-Zip with the password.
fn encrypted_backup(
    env: &TestEnv,
    browser: &Browser,
    phone: &common::Handset,
    media: &Value,
    shown: &[Value],
) {
    let tile = |i: usize| format!("#grid .pick[data-id=\"{}\"]", shown[i].as_str().unwrap());
    browser.click("#select-none");
    browser.click(&tile(5));
    browser.click_with(&tile(6), "\u{E009}");
    let dest2 = env.path().join("encrypted");
    browser.exec(
        "document.getElementById('dest').value = arguments[0]",
        &[json!(dest2.display().to_string())],
    );
    browser.click("#encrypt");
    browser.type_into("#password", "correct-horse-battery");
    browser.type_into("#password2", "correct-horse-battery");
    browser.click("#start-backup");
    browser.wait_for(
        "the encrypted backup to start",
        "return document.querySelectorAll('.job').length === 2",
        &[],
        Duration::from_secs(10),
    );
    let state = browser.wait_for(
        "the encrypted backup",
        JOB_STATE,
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(state, json!("done"));
    assert_eq!(
        browser.exec("return document.getElementById('password').value", &[]),
        json!(""),
        "the password stays in the form"
    );
    let archive = only_archive(&dest2).expect("an encrypted archive");
    let tested = common::run_with_timeout(
        Command::new("7zz")
            .arg("t")
            .arg("-pcorrect-horse-battery")
            .arg(&archive),
        Duration::from_secs(60),
    );
    common::assert_success(&tested, "7zz t with the password");
    let listing = common::run_with_timeout(
        Command::new("7zz")
            .arg("l")
            .arg("-slt")
            .arg("-pcorrect-horse-battery")
            .arg(&archive),
        Duration::from_secs(60),
    );
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(listing.contains("Encrypted = +"), "{listing}");
    assert!(
        !listing.contains("Encrypted = -"),
        "an entry is not encrypted: {listing}"
    );
    let wrong = common::run_with_timeout(
        Command::new("7zz").arg("t").arg("-pwrong").arg(&archive),
        Duration::from_secs(60),
    );
    assert!(
        !wrong.status.success(),
        "7-Zip opened it with a wrong password"
    );
    let held = check_whole_items(
        env,
        &archive,
        phone.storage(),
        Some("correct-horse-battery"),
    );
    assert_eq!(held, rel_paths(media, &shown[5..7]));
}

/// Cancel during a backup: what remains tests clean and holds only whole items.
fn cancelled_backup(env: &TestEnv, browser: &Browser, phone: &common::Handset, shown: &[Value]) {
    browser.click("#encrypt");
    browser.click("#select-shown");
    let dest3 = env.path().join("cancelled");
    browser.exec(
        "document.getElementById('dest').value = arguments[0]",
        &[json!(dest3.display().to_string())],
    );
    browser.click("#start-backup");
    browser.wait_for(
        "bytes to arrive",
        "const job = document.querySelector('.job'); \
         return document.querySelectorAll('.job').length === 3 && job.dataset.state === 'running' \
           && job.querySelector('progress').value > 0",
        &[],
        Duration::from_secs(60),
    );
    browser.click(".job button[aria-label^=\"Cancel backup\"]");
    let state = browser.wait_for(
        "the cancelled backup",
        JOB_STATE,
        &[],
        Duration::from_secs(60),
    );
    browser.screenshot("06-cancelled");
    assert_eq!(state, json!("cancelled"));
    if let Some(archive) = only_archive(&dest3) {
        let tested = common::run_with_timeout(
            Command::new("7zz").arg("t").arg(&archive),
            Duration::from_secs(60),
        );
        common::assert_success(&tested, "7zz t of the cancelled backup's archive");
        let held = check_whole_items(env, &archive, phone.storage(), None);
        assert!(
            held.len() < shown.len(),
            "the cancel came too late to test anything: {held:?}"
        );
    }
}

/// Photos on the big phone: small generated JPEGs named by their date.
const BIG_PHONE_PHOTOS: usize = 1500;

/// A phone of 1,500 photos: jumping from the top to the bottom of the grid fetches the
/// thumbnails of the first and last screens only, and the page never holds an image per item.
fn big_phone_loads_only_what_is_seen(env: &TestEnv, browser: &Browser) {
    let storage = env.new_dir("big-phone");
    let camera = storage.join("DCIM/Camera");
    fs::create_dir_all(&camera).expect("a camera folder");
    let mut jpeg = Vec::new();
    let picture =
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 128]));
    image::DynamicImage::ImageRgb8(picture)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut jpeg, 80,
        ))
        .expect("a small JPEG");
    for i in 0..BIG_PHONE_PHOTOS {
        let name = format!(
            "IMG_202401{:02}_{:02}{:02}00.jpg",
            1 + i / 60,
            (i / 60) % 24,
            i % 60
        );
        fs::write(camera.join(name), &jpeg).expect("a photo");
    }
    let big = env.start_handset(
        HandsetSpec::android14()
            .storage(&storage)
            .model("Big_Phone"),
    );
    let button = phone_button(&big.serial());
    browser.wait_for_element("the big phone", &button, Duration::from_secs(20));
    browser.exec(
        "performance.setResourceTimingBufferSize(100000); performance.clearResourceTimings();",
        &[],
    );
    browser.click(&button);
    browser.wait_for(
        "the big grid",
        "return document.querySelectorAll('#grid .tile').length === arguments[0]",
        &[json!(BIG_PHONE_PHOTOS)],
        Duration::from_secs(60),
    );
    let loaded_at = |which: &str| {
        format!(
            "const tiles = document.querySelectorAll('#grid .tile'); const t = tiles[{which}]; \
             const img = t.querySelector('img'); return Boolean(img && img.complete && img.naturalWidth > 0);"
        )
    };
    browser.wait_for(
        "the first picture",
        &loaded_at("0"),
        &[],
        Duration::from_secs(30),
    );
    browser.exec(
        "const tiles = document.querySelectorAll('#grid .tile'); tiles[tiles.length - 1].scrollIntoView();",
        &[],
    );
    browser.wait_for(
        "the last picture",
        &loaded_at("tiles.length - 1"),
        &[],
        Duration::from_secs(30),
    );
    browser.wait_for(
        "every picture of the last screen",
        "const shown = [...document.querySelectorAll('#grid .tile')].filter((t) => {
           const r = t.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; });
         return shown.length > 0 && shown.every((t) => {
           const img = t.querySelector('img'); return Boolean(img && img.complete && img.naturalWidth > 0); })",
        &[],
        Duration::from_secs(30),
    );
    browser.screenshot("07-big-phone-bottom");
    let seen = browser.exec(
        "const fetched = performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/thumb/')); \
         const tiles = [...document.querySelectorAll('#grid .tile')]; \
         const middle = tiles[Math.floor(tiles.length / 2)].dataset.id; \
         return { fetched: fetched.length, middle: fetched.some(n => n.endsWith(middle)), images: document.images.length };",
        &[],
    );
    let fetched = seen["fetched"].as_u64().expect("a count");
    assert!(
        fetched < 400,
        "{fetched} thumbnails fetched for two screens of a {BIG_PHONE_PHOTOS}-photo grid"
    );
    assert_eq!(
        seen["middle"],
        json!(false),
        "a thumbnail never on screen was fetched"
    );
    let images = seen["images"].as_u64().expect("a count");
    assert!(images < 450, "{images} images in the page");
    eprintln!("big phone: {fetched} thumbnails fetched, {images} images in the page");
}

/// Ids of the Gallery photos with plain names (extract writes odd ones, such as names with
/// line breaks, under safe names, which the byte comparison would not find).
fn plain_gallery_photo_ids(media: &Value) -> Vec<Value> {
    media["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["kind"] == "photo" && i["source"] == "gallery")
        .filter(|i| {
            i["name"].as_str().is_some_and(|n| {
                n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            })
        })
        .map(|i| i["id"].clone())
        .collect()
}

/// A script drives backups of two phones at once through the API (bearer token, no page);
/// a second backup of a busy phone is refused; an unauthorized phone says what to do.
#[test]
fn two_phones_back_up_at_once_through_the_api() {
    let env = TestEnv::new();
    let spec = |seed| {
        HandsetSpec::android14().link("usb2").populate(Populate {
            photos: 4,
            photo_size: Some("2M-3M"),
            videos: 0,
            whatsapp: 0,
            huge: false,
            seed,
        })
    };
    // The second phone will not give one file: the result must say which and why.
    let denied = "/sdcard/DCIM/Camera/locked.jpg";
    let phones = [
        env.start_handset(spec(21)),
        env.start_handset(spec(22).fault(&format!("deny={denied}"))),
    ];
    let camera = phones[1].storage().join("DCIM/Camera");
    let sample = fs::read_dir(&camera)
        .expect("the camera folder")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "jpg"))
        .expect("a photo");
    fs::copy(&sample, camera.join("locked.jpg")).expect("the denied photo");
    let locked = env.start_handset(HandsetSpec::android14().unauthorized());
    let ui = Ui::start(&env, &[]);
    for phone in &phones {
        ui.wait_for_phone(&phone.serial());
    }
    let listed = ui.get("/api/phones").json();
    let waiting = listed["phones"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["serial"] == locked.serial()))
        .unwrap_or_else(|| panic!("the unauthorized phone is not listed: {listed}"));
    assert_eq!(waiting["state"], "unauthorized");
    assert!(
        waiting["guidance"]
            .as_str()
            .is_some_and(|g| g.contains("accept")),
        "{waiting}"
    );

    let mut jobs = Vec::new();
    for (n, phone) in phones.iter().enumerate() {
        let serial = phone.serial();
        let media = ui.media(&serial);
        let ids = plain_gallery_photo_ids(&media);
        assert!(ids.len() >= 4, "{media}");
        let folder = env.path().join(format!("phone{n}"));
        let body = json!({ "ids": ids, "folder": folder.display().to_string() });
        let started = ui.post(&format!("/api/phones/{serial}/backup"), &body);
        assert_eq!(started.status, 202, "{}", started.text());
        let job = started.json()["job"]["id"].as_u64().expect("a job id");
        let again = ui.post(&format!("/api/phones/{serial}/backup"), &body);
        assert_eq!(again.status, 409, "{}", again.text());
        assert_eq!(again.json()["error"]["kind"], "busy");
        jobs.push((job, folder, ids, media));
    }
    for ((job, folder, ids, media), phone) in jobs.iter().zip(&phones) {
        // The event stream ends with the job.
        let events = ui.get(&format!("/api/jobs/{job}/events")).text();
        let end = events
            .split("\n\n")
            .find(|e| e.starts_with("event: end"))
            .unwrap_or_else(|| panic!("no end event: {events}"));
        let view: Value =
            serde_json::from_str(end.split("data: ").nth(1).expect("data")).expect("a JobView");
        let archive = only_archive(folder).expect("an archive");
        let held = check_whole_items(&env, &archive, phone.storage(), None);
        let mut expected = rel_paths(media, ids);
        if expected.remove(denied.trim_start_matches("/sdcard/")) {
            assert_eq!(view["state"], "partial", "{view}");
            let failed = &view["result"]["failed"];
            assert_eq!(failed.as_array().map(Vec::len), Some(1), "{view}");
            assert_eq!(failed[0]["path"], denied, "{view}");
            assert!(
                failed[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{view}"
            );
        } else {
            assert_eq!(view["state"], "done", "{view}");
        }
        assert_eq!(view["result"]["items"], json!(expected.len()), "{view}");
        assert_eq!(held, expected);
    }
}

/// Without the cookie or token, with a foreign Host, or from another site, nothing is
/// answered and nothing changes.
#[test]
fn requests_without_credentials_or_from_elsewhere_are_refused() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 3,
        photo_size: None,
        videos: 0,
        whatsapp: 0,
        huge: false,
        seed: 2,
    }));
    let serial = phone.serial();
    let ui = Ui::start(&env, &[]);
    ui.wait_for_phone(&serial);
    let port = ui.port;
    let media = ui.media(&serial);
    let id = media["items"][0]["id"]
        .as_str()
        .expect("an item")
        .to_owned();

    let cookie = credentials_are_checked(&ui, &serial);
    cross_site_changes_are_refused(&env, &ui, &serial, &cookie, &id);

    // A script holding the token may change things without browser headers.
    let mut ui = ui;
    let quit = http(
        port,
        "POST",
        "/api/quit",
        &[("Authorization", &ui.bearer())],
        None,
    );
    assert_eq!(quit.status, 200);
    assert_eq!(ui.wait_exit(Duration::from_secs(30)), Some(0));
}

/// No credential or a wrong one gets nothing; the launch token becomes a cookie; a foreign
/// Host is refused. Returns the `name=value` of the session cookie.
fn credentials_are_checked(ui: &Ui, serial: &str) -> String {
    let port = ui.port;
    for path in [
        "/",
        "/app.js",
        "/api/phones",
        &format!("/api/phones/{serial}/media"),
    ] {
        let reply = http(port, "GET", path, &[], None);
        assert_eq!(reply.status, 401, "{path}: {}", reply.text());
        assert!(!reply.text().contains(serial), "{path} leaked the phone");
    }
    let wrong = http(
        port,
        "GET",
        &format!("/?token={}", "0".repeat(64)),
        &[],
        None,
    );
    assert_eq!(wrong.status, 403);
    assert!(wrong.header("set-cookie").is_none());

    // The launch address: a cookie, and a redirect without the token.
    let launch = http(port, "GET", &format!("/?token={}", ui.token), &[], None);
    assert_eq!(launch.status, 303);
    assert_eq!(launch.header("location"), Some("/"));
    let set_cookie = launch.header("set-cookie").expect("a cookie").to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let page = http(port, "GET", "/", &[("Cookie", &cookie)], None);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));

    // DNS rebinding: the right cookie under a foreign name or port is refused.
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1:1".to_owned(),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        let reply = http(
            port,
            "GET",
            "/api/phones",
            &[("Cookie", &cookie), ("Host", &host)],
            None,
        );
        assert_eq!(reply.status, 421, "Host {host}: {}", reply.text());
        assert!(!reply.text().contains(serial));
    }
    let local = http(
        port,
        "GET",
        "/api/phones",
        &[("Cookie", &cookie), ("Host", &format!("localhost:{port}"))],
        None,
    );
    assert_eq!(local.status, 200);

    cookie
}

/// Requests that would change something, from another site or without an origin, are
/// refused and change nothing; paths are checked even from the page itself.
fn cross_site_changes_are_refused(env: &TestEnv, ui: &Ui, serial: &str, cookie: &str, id: &str) {
    let folder = env.path().join("cross-site");
    let body = json!({ "ids": [id], "folder": folder.display().to_string() });
    let backup = format!("/api/phones/{serial}/backup");
    for extra in NOT_FROM_THE_PAGE {
        let reply = ui.post_with_cookie(cookie, &backup, extra, &body);
        assert_eq!(reply.status, 403, "{extra:?}: {}", reply.text());
        let quit = ui.post_with_cookie(cookie, "/api/quit", extra, &json!({}));
        assert_eq!(quit.status, 403, "{extra:?}");
    }
    // A backup without any credential at all.
    let reply = ui.post_without_credential(&backup, &body);
    assert_eq!(reply.status, 401);
    thread::sleep(Duration::from_millis(500));
    assert!(
        !folder.exists(),
        "a refused backup wrote {}",
        folder.display()
    );
    assert_eq!(ui.get("/api/jobs").json()["jobs"], json!([]));
    assert_eq!(ui.get("/api/phones").status, 200, "the server stopped");

    // Paths in requests are checked, even from the page itself.
    for bad in ["relative/folder", "/tmp/../etc/phonevault"] {
        let body = json!({ "ids": [id], "folder": bad });
        let reply = ui.post_from_page(cookie, &backup, &body);
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text());
        assert_eq!(reply.json()["error"]["kind"], "bad-folder");
    }
    let traversal = ui.get(&format!(
        "/api/phones/{serial}/thumb/..%2F..%2Fetc%2Fpasswd"
    ));
    assert_eq!(traversal.status, 400);
}

/// With no page connected the server stops by itself; without adb it says what to install.
#[test]
fn the_server_stops_when_no_page_is_open_and_explains_a_missing_adb() {
    let env = TestEnv::new();
    // No adb server on this port and no adb program: the page must say what to install.
    let no_server = free_port().to_string();
    let no_adb = env.path().join("no-such-adb").display().to_string();
    let mut ui = Ui::start_with(
        &env,
        &["--idle-exit", "2"],
        &[("ANDROID_ADB_SERVER_PORT", &no_server), ("ADB", &no_adb)],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        let phones = ui.get("/api/phones").json();
        if !phones["adb_error"].is_null() {
            break phones["adb_error"].clone();
        }
        assert!(Instant::now() < deadline, "no adb error shown: {phones}");
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(error["kind"], "adb-not-found", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("apt install adb")),
        "{error}"
    );
    let started = Instant::now();
    assert_eq!(
        ui.wait_exit(Duration::from_secs(30)),
        Some(0),
        "it did not stop by itself"
    );
    eprintln!("stopped {:?} after the last request", started.elapsed());
}

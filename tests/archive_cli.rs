//! `phonevault verify`, `show` and `extract` run as a user would, on archives made here.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use phonevault::adb::Identity;
use phonevault::archive::{ArchiveWriter, Password};
use phonevault::catalog::{Kind, MediaItem, Source};

fn identity() -> Identity {
    Identity {
        serial: "emulator-5554".to_owned(),
        model: "Pixel 8".to_owned(),
        manufacturer: "Google".to_owned(),
        android_version: "15".to_owned(),
        sdk: 35,
    }
}

fn item(source: Source, root: &str, rel_path: &str, kind: Kind, data: &[u8]) -> MediaItem {
    MediaItem {
        id: format!("id-{rel_path}"),
        path: format!("{root}/{rel_path}"),
        root: root.to_owned(),
        rel_path: rel_path.to_owned(),
        source,
        album: rel_path.rsplit('/').nth(1).unwrap_or("").to_owned(),
        kind,
        size: data.len() as u64,
        mtime: 1_700_000_001,
        taken: None,
        sent: false,
        private: false,
    }
}

fn items() -> Vec<(MediaItem, Vec<u8>)> {
    vec![
        (
            item(
                Source::Gallery,
                "/sdcard",
                "DCIM/Camera/PXL_20231114_221321000.jpg",
                Kind::Photo,
                &[1u8; 5000],
            ),
            vec![1u8; 5000],
        ),
        (
            item(
                Source::Gallery,
                "/sdcard",
                "Movies/clip.mp4",
                Kind::Video,
                &[2u8; 7000],
            ),
            vec![2u8; 7000],
        ),
        (
            item(
                Source::Whatsapp,
                "/sdcard/WhatsApp",
                "Media/WhatsApp Images/IMG-20231114-WA0001.jpg",
                Kind::Photo,
                &[3u8; 3000],
            ),
            vec![3u8; 3000],
        ),
        (
            // A name with a terminal escape: shown escaped, never raw.
            item(
                Source::Gallery,
                "/sdcard",
                "Pictures/Screenshots/evil\u{1b}[2J.png",
                Kind::Photo,
                &[4u8; 100],
            ),
            vec![4u8; 100],
        ),
    ]
}

fn make(dir: &Path, password: Option<&str>) -> PathBuf {
    let password = password.map(|p| Password::new(p).unwrap());
    let mut writer = ArchiveWriter::create(dir, "cli", password.as_ref(), &identity()).unwrap();
    for (item, data) in items() {
        let mut w = writer.begin_item(&item).unwrap();
        w.write_all(&data).unwrap();
        w.commit().unwrap();
    }
    writer.finish().unwrap()
}

fn phonevault(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_phonevault"));
    cmd.args(args).env_remove("PHONEVAULT_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn verify_show_extract_a_plain_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = make(tmp.path(), None);
    let a = archive.to_str().unwrap();

    let out = phonevault(&["verify", a], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("all 4 items are intact"),
        "{}",
        text(&out)
    );

    let out = phonevault(&["show", a], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("gallery/Movies/clip.mp4"), "{shown}");
    assert!(shown.contains("evil\\e[2J.png"), "{shown}");
    assert!(!shown.contains('\u{1b}'), "raw escape printed: {shown}");
    assert!(shown.contains("4 of 4 items"), "{shown}");

    let out = phonevault(&["show", a, "--json", "--source", "whatsapp"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = json.as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["entry"],
        "whatsapp/Media/WhatsApp Images/IMG-20231114-WA0001.jpg"
    );
    assert_eq!(records[0]["size"], 3000);

    let to = tmp.path().join("out");
    let out = phonevault(
        &[
            "extract",
            a,
            "--to",
            to.to_str().unwrap(),
            "--include",
            "/sdcard/DCIM/**",
            "--include",
            "/sdcard/Movies/*",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        fs::read(to.join("gallery/DCIM/Camera/PXL_20231114_221321000.jpg")).unwrap(),
        vec![1u8; 5000]
    );
    assert_eq!(
        fs::read(to.join("gallery/Movies/clip.mp4")).unwrap(),
        vec![2u8; 7000]
    );
    assert!(!to.join("whatsapp").exists());
    let mtime = fs::metadata(to.join("gallery/Movies/clip.mp4"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(mtime, 1_700_000_001);

    // Dates select too: every item here is from November 2023.
    let later = tmp.path().join("later");
    let out = phonevault(
        &[
            "extract",
            a,
            "--to",
            later.to_str().unwrap(),
            "--since",
            "2024-01-01",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("0 files"), "{}", text(&out));
    assert!(!later.join("gallery").exists(), "{}", text(&out));
}

#[test]
fn passwords_come_from_a_file_or_the_environment_and_a_wrong_one_exits_4() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = make(tmp.path(), Some("s3cret pass"));
    let a = archive.to_str().unwrap();
    let file = tmp.path().join("pw.txt");
    fs::write(&file, "s3cret pass\n").unwrap();

    let out = phonevault(
        &["verify", a, "--password-file", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = phonevault(&["verify", a], &[("PHONEVAULT_PASSWORD", "s3cret pass")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = phonevault(&["show", a], &[("PHONEVAULT_PASSWORD", "nope")]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("wrong password"), "{}", text(&out));

    // No password and no terminal to ask on: a clear error, not a hang.
    let out = Command::new(env!("CARGO_BIN_EXE_phonevault"))
        .args(["verify", a])
        .env_remove("PHONEVAULT_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("password is needed"), "{}", text(&out));
}

#[test]
fn verify_names_a_damaged_entry_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = make(tmp.path(), None);
    let mut data = fs::read(&archive).unwrap();
    let at = data
        .windows(64)
        .position(|w| w == [2u8; 64])
        .expect("clip.mp4 bytes are stored as-is");
    data[at + 100] = 0xff;
    fs::write(&archive, data).unwrap();

    let out = phonevault(&["verify", archive.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("BAD  gallery/Movies/clip.mp4"), "{said}");
    assert!(said.contains("1 of 4 entries are damaged"), "{said}");

    let out = phonevault(&["verify", archive.to_str().unwrap(), "--json"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["good"], 3);
    assert_eq!(json["problems"][0]["entry"], "gallery/Movies/clip.mp4");
}

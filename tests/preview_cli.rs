//! `phonevault preview` end to end: 500 camera-sized photos on a simulated handset, previews
//! read through the on-device helper, the bytes that crossed the cable counted by the sim.

mod common;

use std::collections::BTreeSet;
use std::fs;

use common::{assert_success, sim_bin, Handset, HandsetSpec, TestEnv};
use serde_json::Value;

fn bytes_sent(stats: &Value) -> u64 {
    stats["bytes_sent"]
        .as_u64()
        .expect("bytes_sent in the sim's stats")
}

#[test]
fn previews_of_500_photos_picture_every_one_read_heads_for_thumbnails_and_nothing_when_warm() {
    let env = TestEnv::new();
    let storage = env.new_dir("storage");
    let truth_path = env.path().join("truth.json");
    let populate = env
        .command(sim_bin())
        .arg("populate")
        .arg(&storage)
        .args([
            "--profile",
            "android-14",
            "--photos",
            "500",
            "--videos",
            "1",
        ])
        .args(["--whatsapp", "4", "--photo-size", "2M-4M", "--seed", "5"])
        .arg("--truth")
        .arg(&truth_path)
        .output()
        .unwrap();
    assert_success(&populate, "populate");
    let truth: Value = serde_json::from_slice(&fs::read(&truth_path).unwrap()).unwrap();
    let photos: Vec<&Value> = truth
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["include"].as_bool() == Some(true) && r["kind"] == "photo")
        .collect();
    assert!(photos.len() >= 500, "{} photos", photos.len());
    let photo_bytes: u64 = photos.iter().map(|r| r["size"].as_u64().unwrap()).sum();
    // Photos without an EXIF thumbnail (screenshots, WhatsApp images, some camera photos) are
    // pulled whole once to be decoded; the others cost only their heads.
    let without_thumbnail: u64 = photos
        .iter()
        .filter(|r| r["exif_thumbnail"].as_bool() != Some(true))
        .map(|r| r["size"].as_u64().unwrap())
        .sum();

    let phone = env.start_handset(HandsetSpec::android14().storage(&storage));
    let sheet = env.path().join("sheet.html");
    let before = bytes_sent(&phone.stats());
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "preview",
        "--kind",
        "photo",
        "--out",
        sheet.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out, "cold preview");
    let read = bytes_sent(&phone.stats()) - before;
    assert!(
        read <= photo_bytes * 5 / 100 + without_thumbnail,
        "previews moved {read} bytes for {photo_bytes} bytes of photos ({:.2}%), \
         {without_thumbnail} of them without an EXIF thumbnail",
        read as f64 * 100.0 / photo_bytes as f64
    );

    // One record and one tile per photo, with the dates the generator wrote.
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON records");
    assert_eq!(records.len(), photos.len());
    let html = fs::read_to_string(&sheet).unwrap();
    let mut ids = BTreeSet::new();
    for record in &records {
        let id = record["id"].as_str().unwrap();
        assert!(html.contains(id), "tile for {id} missing from the sheet");
        ids.insert(id.to_string());
        let want = photos
            .iter()
            .find(|p| p["path"] == record["path"])
            .unwrap_or_else(|| panic!("{} not in the truth", record["path"]));
        assert_eq!(record["taken"], want["taken"], "{}", record["path"]);
        assert_eq!(
            record["taken_source"], want["taken_source"],
            "{}",
            record["path"]
        );
        if want["exif_thumbnail"].as_bool() == Some(true) {
            assert_eq!(record["thumbnail"], "exif", "{}", record["path"]);
        } else {
            // Every readable photo gets a picture: no byte budget turns one into a tile.
            assert_eq!(record["thumbnail"], "decoded", "{}", record["path"]);
        }
    }
    assert_eq!(ids.len(), photos.len());

    warm_run_reads_nothing(&env, &phone, &sheet);
}

/// Warm: everything from the cache; only the listing crosses the cable.
fn warm_run_reads_nothing(env: &TestEnv, phone: &Handset, sheet: &std::path::Path) {
    let recv_before = phone.stats()["sync_requests"]["RECV"].as_u64().unwrap_or(0);
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "preview",
        "--kind",
        "photo",
        "--out",
        sheet.to_str().unwrap(),
    ]);
    assert_success(&out, "warm preview");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("read 0 B from the phone"),
        "the warm run read from the phone: {stderr}"
    );
    assert_eq!(
        phone.stats()["sync_requests"]["RECV"].as_u64().unwrap_or(0),
        recv_before
    );
}

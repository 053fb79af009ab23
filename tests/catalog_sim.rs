//! The catalog against the sample-phone generator's truth file, with the helper run inside
//! the simulated handset's userland (`phonevault-sim shell`: Android's mksh and toybox, the
//! profile's `find`, deny faults), without ADB. The same checks through ADB and the
//! `phonevault ls` command are in `catalog_e2e.rs`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use phonevault::catalog::{self, CatalogOptions, MediaItem};
use phonevault::helper;
use serde_json::Value;

fn sim_program() -> PathBuf {
    common::sim_bin().to_path_buf()
}

fn populate(dir: &Path, truth: &Path, profile: &str, extra: &[&str]) {
    let out = Command::new(sim_program())
        .args(["populate"])
        .arg(dir)
        .args(["--profile", profile, "--truth"])
        .arg(truth)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "populate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the helper's `list` in the handset's userland and parses it.
fn list_in_sim(storage: &Path, profile: &str, faults: &[&str]) -> helper::Listing {
    // The script sits at the storage root, outside every listed tree.
    std::fs::write(storage.join(".phonevault-helper.sh"), helper::SCRIPT).unwrap();
    let roots: Vec<String> = catalog::listing_roots()
        .iter()
        .map(|r| helper::shell_quote(r))
        .collect();
    let mut cmd = Command::new(sim_program());
    cmd.arg("shell").arg("--storage").arg(storage);
    cmd.args(["--profile", profile]);
    for fault in faults {
        cmd.args(["--fault", fault]);
    }
    cmd.arg("--").arg(format!(
        "sh /sdcard/.phonevault-helper.sh list {}",
        roots.join(" ")
    ));
    let out = cmd.output().unwrap();
    std::fs::remove_file(storage.join(".phonevault-helper.sh")).unwrap();
    assert!(
        out.status.success(),
        "helper failed in the sim: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    helper::parse_list("sim", &out.stdout).expect("parsing the helper's listing")
}

/// `(source, album, kind, size)` per path, for the truth's `include: true` records.
fn truth_included(truth: &Path) -> BTreeMap<String, (String, String, String, u64)> {
    let records: Vec<Value> =
        serde_json::from_slice(&std::fs::read(truth).unwrap()).expect("truth file is JSON");
    records
        .iter()
        .filter(|r| r["include"] == Value::Bool(true))
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                (
                    r["source"].as_str().unwrap().to_string(),
                    r["album"].as_str().unwrap().to_string(),
                    r["kind"].as_str().unwrap().to_string(),
                    r["size"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn catalogued(items: &[MediaItem]) -> BTreeMap<String, (String, String, String, u64)> {
    items
        .iter()
        .map(|i| {
            (
                i.path.clone(),
                (
                    i.source.as_str().to_string(),
                    i.album.clone(),
                    i.kind.as_str().to_string(),
                    i.size,
                ),
            )
        })
        .collect()
}

fn assert_same(
    want: &BTreeMap<String, (String, String, String, u64)>,
    got: &BTreeMap<String, (String, String, String, u64)>,
) {
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(missing.is_empty(), "catalog misses {missing:#?}");
    assert!(extra.is_empty(), "catalog has extra {extra:#?}");
    for (path, w) in want {
        assert_eq!(&got[path], w, "{path}");
    }
}

fn check_profile(profile: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let truth = dir.path().join("truth.json");
    populate(&storage, &truth, profile, extra);
    let listing = list_in_sim(&storage, profile, &[]);
    assert!(listing.unreadable.is_empty(), "{:?}", listing.unreadable);
    let items = catalog::build("SIM", &listing, &CatalogOptions::default());
    let want = truth_included(&truth);
    assert!(
        want.len() > 50,
        "the truth file lists only {} items",
        want.len()
    );
    assert_same(&want, &catalogued(&items));
}

#[test]
fn android_14_catalog_matches_the_truth() {
    check_profile("android-14", &["--huge"]);
}

#[test]
fn android_10_catalog_matches_the_truth() {
    // Android 10: legacy WhatsApp folders and a find without -printf.
    check_profile("android-10", &["--huge"]);
}

#[test]
fn denied_folder_is_unreadable_and_the_rest_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let truth = dir.path().join("truth.json");
    populate(&storage, &truth, "android-14", &[]);
    let secret = storage.join("DCIM/Secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("20240101_101010.jpg"), b"\xFF\xD8\xFFsecret").unwrap();
    let listing = list_in_sim(&storage, "android-14", &["deny=/sdcard/DCIM/Secret"]);
    assert_eq!(listing.unreadable, vec!["/sdcard/DCIM/Secret".to_string()]);
    let items = catalog::build("SIM", &listing, &CatalogOptions::default());
    assert_same(&truth_included(&truth), &catalogued(&items));
}

//! The helper through ADB on a simulated handset: pushed when missing, re-pushed when another
//! version is there, then `heads` and `hash` for many files in one call each.

mod common;

use common::{HandsetSpec, TestEnv};
use phonevault::adb::{self, ConnectOptions};
use phonevault::helper::{self, FileStatus};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[test]
fn heads_and_hashes_through_adb() {
    let env = TestEnv::new();
    let storage = env.new_dir("phone");
    let camera = storage.join("DCIM/Camera");
    std::fs::create_dir_all(&camera).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("big.jpg", big.clone()),
        ("small\nname.jpg", b"tiny".to_vec()),
        ("empty.jpg", Vec::new()),
    ];
    for (name, data) in &files {
        std::fs::write(camera.join(name), data).unwrap();
    }
    let phone = env.start_handset(HandsetSpec::android10().storage(&storage));
    let server = adb::connect(&ConnectOptions {
        port: Some(env.server_port()),
        ..ConnectOptions::default()
    })
    .expect("the test's adb server");
    let handset = server.open(Some(&phone.serial())).expect("the handset");

    // A stale helper is replaced.
    let out = handset
        .shell(&format!("echo 'PVH_VERSION=0' > {}", helper::DEVICE_PATH))
        .unwrap();
    assert_eq!(out.status, 0);
    assert!(
        helper::ensure(&handset).unwrap(),
        "the stale helper was not re-pushed"
    );
    assert!(
        !helper::ensure(&handset).unwrap(),
        "the helper was pushed twice"
    );

    let mut paths: Vec<String> = files
        .iter()
        .map(|(n, _)| common::device_path(&format!("DCIM/Camera/{n}")))
        .collect();
    paths.push(common::device_path("DCIM/Camera/gone.jpg"));
    let limit = 68 * 1024;
    let mut got = Vec::new();
    helper::heads(&handset, &paths, limit, &mut |i, status, bytes| {
        got.push((i, status, bytes.to_vec()));
        Ok(())
    })
    .expect("heads");
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], (0, FileStatus::Ok, big[..68 * 1024].to_vec()));
    assert_eq!(got[1], (1, FileStatus::Ok, b"tiny".to_vec()));
    assert_eq!(got[2], (2, FileStatus::Ok, Vec::new()));
    assert_eq!(got[3], (3, FileStatus::Missing, Vec::new()));

    let hashes = helper::hash(&handset, &paths).expect("hash");
    for (i, (_, data)) in files.iter().enumerate() {
        assert_eq!(hashes[i].status, FileStatus::Ok);
        assert_eq!(hashes[i].sha256, hex(&Sha256::digest(data)), "{}", paths[i]);
    }
    assert_eq!(hashes[3].status, FileStatus::Missing);
}

/// The sync walk (used when the helper cannot run) finds what the helper finds.
#[test]
fn sync_walk_matches_the_helper_listing() {
    let env = TestEnv::new();
    let phone = env.start_handset(
        HandsetSpec::android14()
            .populate(common::Populate::default())
            .fault("deny=/sdcard/Pictures/Trip to Kyoto"),
    );
    let server = adb::connect(&ConnectOptions {
        port: Some(env.server_port()),
        ..ConnectOptions::default()
    })
    .expect("the test's adb server");
    let handset = server.open(Some(&phone.serial())).expect("the handset");
    let roots = phonevault::catalog::listing_roots();
    let mut by_helper = helper::list(&handset, &roots).expect("helper list").listing;
    let mut by_walk = helper::walk(&handset, &roots).expect("sync walk");
    for l in [&mut by_helper, &mut by_walk] {
        l.files.sort_by(|a, b| a.path.cmp(&b.path));
        l.unreadable.sort();
    }
    assert!(by_helper.files.len() > 100, "{}", by_helper.files.len());
    assert_eq!(by_walk.files, by_helper.files);
    assert_eq!(by_walk.unreadable, by_helper.unreadable);
    assert_eq!(
        by_walk.unreadable,
        vec![common::device_path("Pictures/Trip to Kyoto")]
    );
}

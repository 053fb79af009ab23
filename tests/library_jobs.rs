//! Issue 12: the library drives several jobs in one process. A backup of handset A and a
//! restore onto handset B run at the same time and both end byte-correct, while a third job,
//! the backup of a 20,000-file handset, is cancelled during its listing: it returns
//! `Cancelled` at once and leaves nothing behind. The progress events of the two jobs that
//! ran keep the documented ordering.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{descendant_cmdlines, HandsetSpec, Populate, TestEnv};
use phonevault::adb::{self, AdbServer, ConnectOptions};
use phonevault::archive::ArchiveReader;
use phonevault::backup::{self, BackupOptions, BackupReport};
use phonevault::catalog::select::Selection;
use phonevault::catalog::CatalogOptions;
use phonevault::progress::{Event, NoProgress, Phase, Recorder};
use phonevault::restore::{self, OnConflict, RestoreOptions, RestoreReport};
use phonevault::{Cancel, Error};
use sha2::{Digest, Sha256};

/// The backup folder's lock file: it stays, empty, as the folder's lock (not a job's leftover).
const LOCK_FILE: &str = ".phonevault.lock";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sha256_hex(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut hex = String::new();
    for byte in Sha256::digest(&bytes) {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The file in a simulated handset's storage behind a phone path (`/sdcard/...`).
fn on_storage(storage: &Path, phone_path: &str) -> PathBuf {
    storage.join(
        phone_path
            .strip_prefix("/sdcard/")
            .unwrap_or_else(|| panic!("not under /sdcard: {phone_path}")),
    )
}

fn backup_options(folder: &Path, cancel: &Cancel) -> BackupOptions {
    BackupOptions {
        folder: folder.to_path_buf(),
        matcher: Selection::default().compile().unwrap(),
        password: None,
        catalog: CatalogOptions::default(),
        cancel: cancel.clone(),
        lock_wait: Duration::from_secs(10),
        fresh_copy: true,
        previews: None,
    }
}

/// Every item a phase started ends with exactly one `ItemDone` or `ItemFailed`, inside the
/// phase; returns the items done per phase.
fn check_ordering(events: &[Event]) -> BTreeMap<Phase, usize> {
    let mut open: Option<Phase> = None;
    let mut started: BTreeSet<u64> = BTreeSet::new();
    let mut ended: BTreeSet<u64> = BTreeSet::new();
    let mut done = BTreeMap::new();
    for event in events {
        match event {
            Event::Phase { name, .. } => {
                assert_eq!(open, None, "phases nest: {events:?}");
                open = Some(*name);
                started.clear();
                ended.clear();
            }
            Event::PhaseDone { name } => {
                assert_eq!(open, Some(*name), "{events:?}");
                let unended: Vec<_> = started.difference(&ended).collect();
                assert!(
                    unended.is_empty(),
                    "{name:?}: items never ended: {unended:?}"
                );
                open = None;
            }
            Event::ItemStarted { index, .. } => {
                assert!(open.is_some(), "an item outside a phase");
                assert!(started.insert(*index), "item {index} started twice");
            }
            Event::ItemDone { index, .. } | Event::ItemFailed { index, .. } => {
                let phase = open.expect("an item ended outside a phase");
                assert!(started.contains(index), "item {index} ended, never started");
                assert!(ended.insert(*index), "item {index} ended twice");
                if matches!(event, Event::ItemDone { .. }) {
                    *done.entry(phase).or_insert(0) += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(open, None, "a phase never closed");
    done
}

/// The backup ran whole, and its archive holds every item byte for byte as on the phone.
fn assert_backup_is_the_phone(report: &BackupReport, storage: &Path) {
    assert!(report.is_complete(), "{:?}", report.summary());
    let mut reader = ArchiveReader::open(&report.archive.clone().unwrap(), None).unwrap();
    for record in &reader.manifest().items {
        let source = on_storage(storage, &record.item.path);
        assert_eq!(record.sha256, sha256_hex(&source), "{}", record.item.path);
    }
    let verified = reader.verify(&NoProgress).unwrap();
    assert!(verified.is_clean(), "{verified:?}");
}

/// The restore ran whole, and every item is on the phone byte for byte, dates kept.
fn assert_restore_is_the_archive(report: &RestoreReport, archive: &Path, storage: &Path) {
    assert!(report.is_complete(), "{:?}", report.summary());
    let source = ArchiveReader::open(archive, None).unwrap();
    let by_path: BTreeMap<&str, _> = source
        .manifest()
        .items
        .iter()
        .map(|r| (r.item.path.as_str(), r))
        .collect();
    for item in &report.restored {
        let record = by_path[item.from.as_str()];
        let target = on_storage(storage, &item.target);
        assert_eq!(sha256_hex(&target), record.sha256, "{}", item.target);
        let mtime = fs::metadata(&target)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(
            i64::try_from(mtime).unwrap(),
            record.item.mtime,
            "{}",
            item.target
        );
    }
}

/// Fills a handset's storage with `files` tiny files, written straight into it: the listing
/// only sees names and sizes, and making that many JPEGs would be slow.
fn fill_with_tiny_files(storage: &Path, files: usize) {
    for folder in 0..files / 1000 {
        let dir = storage.join(format!("DCIM/Camera{folder:02}"));
        fs::create_dir_all(&dir).unwrap();
        for i in 0..1000 {
            fs::write(dir.join(format!("IMG_{i:05}.jpg")), b"jpeg").unwrap();
        }
    }
}

/// Nothing of a cancelled backup stays: no file in its folder (but the folder's lock), and
/// none of the helper's files on the phone (the helper itself stays, on purpose).
fn assert_nothing_left(folder: &Path, phone: &common::Handset) {
    let left: Vec<String> = fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != LOCK_FILE)
        .collect();
    assert!(left.is_empty(), "left in the backup folder: {left:?}");
    let on_phone = text(&phone.shell("ls -a /data/local/tmp").stdout);
    assert!(
        !on_phone.contains(".phonevault-helper.err.")
            && !on_phone.contains("phonevault-helper.paths"),
        "left on the phone: {on_phone}"
    );
}

/// Trips `token` once the helper's listing runs on the simulated handset `sim`.
fn cancel_when_listing(sim: u32, token: &Cancel) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !descendant_cmdlines(sim)
        .iter()
        .any(|c| c.contains("phonevault-helper") && c.contains(" list "))
    {
        assert!(Instant::now() < deadline, "the listing never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    token.cancel();
    Instant::now()
}

#[test]
fn a_backup_and_a_restore_run_side_by_side_while_a_third_job_is_cancelled_in_its_listing() {
    const FILES: usize = 20_000;
    let env = TestEnv::new();
    let phone_a = env.start_handset(HandsetSpec::android14().populate(Populate {
        photos: 5,
        videos: 1,
        whatsapp: 5,
        ..Populate::default()
    }));
    let phone_b = env.start_handset(HandsetSpec::android14());
    let big = env.start_handset(HandsetSpec::android14());
    fill_with_tiny_files(big.storage(), FILES);
    let server: AdbServer = adb::connect(&ConnectOptions {
        port: Some(env.server_port()),
        timeout: Some(Duration::from_secs(60)),
        ..ConnectOptions::default()
    })
    .unwrap();
    let handset_a = server.open(Some(&phone_a.serial())).unwrap();
    let handset_b = server.open(Some(&phone_b.serial())).unwrap();
    let handset_big = server.open(Some(&big.serial())).unwrap();

    // The archive to restore: a first backup of A.
    let first_folder = env.new_dir("first");
    let first = backup::run(
        &handset_a,
        &backup_options(&first_folder, &Cancel::new()),
        &NoProgress,
    )
    .unwrap();
    assert!(first.is_complete(), "{first:?}");
    let archive = first.archive.clone().expect("an archive");

    let second_folder = env.new_dir("second");
    let cancelled_folder = env.new_dir("cancelled");
    let backup_events = Recorder::default();
    let restore_events = Recorder::default();
    let token = Cancel::new();
    let sim = big.pid().expect("the sim runs");
    let (second, restored, (cancelled, cancel_took)) = std::thread::scope(|scope| {
        let backup_job = scope.spawn(|| {
            backup::run(
                &handset_a,
                &backup_options(&second_folder, &Cancel::new()),
                &backup_events,
            )
        });
        let restore_job = scope.spawn(|| {
            let mut archives = vec![ArchiveReader::open(&archive, None)?];
            let options = RestoreOptions {
                matcher: Selection::default().compile()?,
                on_conflict: OnConflict::KeepBoth,
                cancel: Cancel::new(),
            };
            let plan = restore::plan(&handset_b, &archives, &options, &restore_events)?;
            restore::execute(&handset_b, &mut archives, &plan, &options, &restore_events)
        });
        let trip = scope.spawn(|| cancel_when_listing(sim, &token));
        let cancelled_job = scope.spawn(|| {
            backup::run(
                &handset_big,
                &backup_options(&cancelled_folder, &token),
                &NoProgress,
            )
        });
        let cancelled = cancelled_job.join().unwrap();
        let took = trip.join().unwrap().elapsed();
        (
            backup_job.join().unwrap(),
            restore_job.join().unwrap(),
            (cancelled, took),
        )
    });

    // The cancelled job: at once, typed, and nothing left behind.
    println!("backup of a {FILES}-file handset: returned {cancel_took:?} after the cancel");
    assert!(
        matches!(cancelled, Err(Error::Cancelled)),
        "{:?}",
        cancelled.map(|r: BackupReport| r.summary())
    );
    assert!(
        cancel_took < Duration::from_secs(10),
        "took {cancel_took:?}"
    );
    assert_nothing_left(&cancelled_folder, &big);

    let second = second.unwrap();
    assert_eq!(second.items, first.items);
    assert_backup_is_the_phone(&second, phone_a.storage());
    let restored = restored.unwrap();
    assert_eq!(restored.restored.len(), first.items);
    assert_restore_is_the_archive(&restored, &archive, phone_b.storage());

    // Their events: the documented ordering, and one `item-done` per item in the report.
    let backup_done = check_ordering(&backup_events.events());
    assert_eq!(backup_done.get(&Phase::Backup), Some(&second.items));
    let restore_done = check_ordering(&restore_events.events());
    assert_eq!(
        restore_done.get(&Phase::Restore),
        Some(&restored.restored.len())
    );
}

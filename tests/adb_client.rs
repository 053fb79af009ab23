//! The adb host client against simulated handsets through the real adb server: exact sizes
//! (sync v2) and refused ones (v1), bytes, modes and mtimes both ways, shell status and
//! stderr, faults that end in errors naming the handset and file, pipelined `pull_many`.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::{HandsetSpec, TestEnv};
use phonevault::adb::{self, AdbServer, ConnectOptions, PullEvent, PullOptions};
use phonevault::Error;

const GIB: u64 = 1024 * 1024 * 1024;

/// The device path of a file under the handset's storage.
fn sdcard(rel: &str) -> String {
    format!("/sdcard/{rel}")
}

fn server(env: &TestEnv, timeout: Duration) -> AdbServer {
    adb::connect(&ConnectOptions {
        adb_program: None,
        port: Some(env.server_port()),
        timeout: Some(timeout),
    })
    .expect("the test's adb server answers")
}

fn open(env: &TestEnv, phone: &common::Handset) -> adb::Handset {
    server(env, Duration::from_secs(20))
        .open(Some(&phone.serial()))
        .expect("the handset opens")
}

/// Deterministic bytes that differ from file to file and position to position.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn set_mtime(path: &std::path::Path, secs: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_secs(secs)))
        .expect("setting a test file's mtime");
}

#[test]
fn identity_and_storage_come_from_the_phone() {
    let env = TestEnv::new();
    let phone = env.start_handset(
        HandsetSpec::android10()
            .serial("HW-SERIAL-1")
            .model("Pixel 3a")
            .capacity(8 * GIB),
    );
    let handset = open(&env, &phone);
    let id = handset.identity();
    assert_eq!(handset.serial(), phone.serial());
    assert_eq!(id.serial, "HW-SERIAL-1");
    assert_eq!(id.model, "Pixel 3a");
    assert_eq!(id.manufacturer, "Google");
    assert_eq!(id.android_version, "10");
    assert_eq!(id.sdk, 29);
    let space = handset.storage().expect("storage");
    assert_eq!(space.total, 8 * GIB);
    assert!(space.free <= space.total && space.free > 0, "{space:?}");
}

#[test]
fn huge_file_size_is_exact_with_sync_v2() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let dir = phone.storage().join("Movies");
    fs::create_dir_all(&dir).unwrap();
    let size = 5 * GIB + 123;
    fs::File::create(dir.join("long.mp4"))
        .and_then(|f| f.set_len(size))
        .unwrap();
    set_mtime(&dir.join("long.mp4"), 1_710_257_412);
    let handset = open(&env, &phone);
    assert!(handset.has_stat_v2());

    let path = sdcard("Movies/long.mp4");
    let stat = handset.stat(&path).unwrap().expect("the file exists");
    assert_eq!(stat.size, size);
    assert_eq!(stat.mtime, 1_710_257_412);
    assert!(stat.is_file());

    let entries = handset.list(&sdcard("Movies")).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].name, "long.mp4");
    assert_eq!(entries[0].stat.size, size);

    assert_eq!(handset.stat(&sdcard("nope.jpg")).unwrap(), None);
    match handset.list(&sdcard("nope")) {
        Err(Error::Remote { path, .. }) => assert!(path.ends_with("/nope")),
        other => panic!("listing a missing folder: {other:?}"),
    }
}

#[test]
fn v1_only_phone_refuses_sizes_it_cannot_know_and_still_runs_shell() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().features(""));
    let dir = phone.storage().join("Movies");
    fs::create_dir_all(dir.join("Sub")).unwrap();
    // 4 GiB + 10 bytes: a v1 STAT says 10.
    fs::File::create(dir.join("long.mp4"))
        .and_then(|f| f.set_len(4 * GIB + 10))
        .unwrap();
    let handset = open(&env, &phone);
    assert!(!handset.has_stat_v2());
    assert!(!handset.has_shell_v2());

    let path = sdcard("Movies/long.mp4");
    match handset.stat(&path) {
        Err(Error::SizeUnknown { serial, path: p }) => {
            assert_eq!(serial, phone.serial());
            assert_eq!(p, path);
        }
        other => panic!("expected SizeUnknown, got {other:?}"),
    }
    match handset.list(&sdcard("Movies")) {
        Err(Error::SizeUnknown { path: p, .. }) => assert!(p.ends_with("/long.mp4"), "{p}"),
        other => panic!("expected SizeUnknown, got {other:?}"),
    }
    // The storage root (a link to /storage/emulated/0 on a phone) lists on v1 too.
    let root = handset.list("/sdcard").expect("listing /sdcard on v1");
    assert!(
        root.iter().any(|e| e.name == "Movies" && e.stat.is_dir()),
        "{root:?}"
    );
    // Folders keep their metadata: their size cannot have wrapped.
    let sub = handset.stat(&sdcard("Movies/Sub")).unwrap().unwrap();
    assert!(sub.is_dir());

    let out = handset
        .shell("echo out; echo err >&2; exit 7")
        .expect("v1 shell");
    assert_eq!(out.status, 7);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("out") && text.contains("err"), "{text:?}");
    assert!(!text.contains("phonevault_exit"), "marker leaked: {text:?}");
    let out = handset.shell("printf 'no newline'").unwrap();
    assert_eq!((out.stdout.as_slice(), out.status), (&b"no newline"[..], 0));
}

#[test]
fn pull_and_push_keep_bytes_mode_and_mtime() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let camera = phone.storage().join("DCIM/Camera");
    fs::create_dir_all(&camera).unwrap();
    // Several DATA chunks and a partial one.
    let photo = pattern(1, 3 * 65_536 + 1_234);
    fs::write(camera.join("PXL_20240312_153012345.jpg"), &photo).unwrap();
    set_mtime(&camera.join("PXL_20240312_153012345.jpg"), 1_710_257_412);
    let handset = open(&env, &phone);

    let path = sdcard("DCIM/Camera/PXL_20240312_153012345.jpg");
    let mut pulled = Vec::new();
    let n = handset.pull(&path, &mut pulled).unwrap();
    assert_eq!(n, photo.len() as u64);
    assert!(pulled == photo, "pulled bytes differ");
    assert_eq!(handset.stat(&path).unwrap().unwrap().mtime, 1_710_257_412);

    let video = pattern(2, 200_000);
    let target = sdcard("Restored/WhatsApp Video/VID-20230102-WA0003.mp4");
    handset
        .push(&mut video.as_slice(), &target, 0o640, 1_672_617_600)
        .unwrap();
    let on_phone = phone
        .storage()
        .join("Restored/WhatsApp Video/VID-20230102-WA0003.mp4");
    assert!(fs::read(&on_phone).unwrap() == video, "pushed bytes differ");
    let out = phone.shell(&format!("stat -c '%a %Y' '{target}'"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "640 1672617600",
        "mode and mtime on the phone"
    );
    let mode = fs::metadata(&on_phone).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);

    // An empty file is a file too.
    let empty = sdcard("Restored/empty.txt");
    handset
        .push(&mut &b""[..], &empty, 0o644, 1_600_000_000)
        .unwrap();
    let stat = handset.stat(&empty).unwrap().unwrap();
    assert_eq!((stat.size, stat.mtime), (0, 1_600_000_000));

    match handset.pull(&sdcard("missing.jpg"), &mut Vec::new()) {
        Err(Error::Remote { serial, path, .. }) => {
            assert_eq!(serial, phone.serial());
            assert!(path.ends_with("missing.jpg"));
        }
        other => panic!("pulling a missing file: {other:?}"),
    }
}

#[test]
fn shell_v2_returns_status_and_stderr_and_exec_is_binary_safe() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let blob = pattern(3, 300_000);
    fs::write(phone.storage().join("blob.bin"), &blob).unwrap();
    let handset = open(&env, &phone);
    assert!(handset.has_shell_v2());

    let out = handset.shell("echo out; echo err >&2; exit 3").unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status, 3);
    let out = handset.shell("true").unwrap();
    assert_eq!((out.stdout.len(), out.status), (0, 0));
    // stdin is closed, so a command reading it does not wait.
    let out = handset.shell("cat; echo done").unwrap();
    assert_eq!(out.stdout, b"done\n");

    let mut got = Vec::new();
    handset
        .exec(&format!("cat '{}'", sdcard("blob.bin")))
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert!(
        got == blob,
        "exec lost or changed bytes ({} of {})",
        got.len(),
        blob.len()
    );
}

/// A fault must end the operation within the timeout with an error naming handset and file.
fn assert_fault_fails_fast(fault: &str, accept: fn(&Error) -> bool) {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().fault(fault));
    fs::write(phone.storage().join("big.bin"), pattern(4, 2_000_000)).unwrap();
    let timeout = Duration::from_secs(3);
    let handset = server(&env, timeout)
        .open(Some(&phone.serial()))
        .expect("the handset opens before the fault");
    let path = sdcard("big.bin");
    let started = Instant::now();
    let err = handset
        .pull(&path, &mut std::io::sink())
        .expect_err("the transfer cannot succeed");
    let took = started.elapsed();
    assert!(took < timeout * 3, "{fault}: took {took:?}");
    assert!(accept(&err), "{fault}: unexpected error {err:?}");
    let text = err.to_string();
    assert!(text.contains(&phone.serial()), "{text}");
    assert!(text.contains(&path), "{text}");

    // pull_many names the file in flight too.
    let started = Instant::now();
    let err = handset
        .pull_many(std::slice::from_ref(&path), &mut |_| Ok(()))
        .expect_err("pull_many cannot succeed either");
    assert!(started.elapsed() < timeout * 3);
    assert!(accept(&err), "{fault}: pull_many: {err:?}");
}

#[test]
fn disconnect_mid_transfer_names_handset_and_file() {
    assert_fault_fails_fast("disconnect-after=300000", |e| {
        matches!(
            e,
            Error::DeviceGone { path: Some(_), .. } | Error::Timeout { path: Some(_), .. }
        )
    });
}

#[test]
fn stall_mid_transfer_times_out_naming_handset_and_file() {
    assert_fault_fails_fast("stall-after=300000", |e| {
        matches!(
            e,
            Error::Timeout {
                path: Some(_),
                seconds: 3,
                ..
            }
        )
    });
}

#[test]
fn pull_many_returns_every_byte_in_order() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let dir = phone.storage().join("DCIM/Many");
    fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000u64 {
        let name = format!("IMG_{i:04}.jpg");
        // Mostly small, a few spanning several DATA chunks, one empty.
        let len = match i {
            7 => 0,
            i if i % 97 == 0 => 150_000,
            i => 100 + (i as usize * 37) % 3000,
        };
        let bytes = pattern(i + 10, len);
        fs::write(dir.join(&name), &bytes).unwrap();
        paths.push(sdcard(&format!("DCIM/Many/{name}")));
        expected.push(Some(bytes));
    }
    // A refused file in the middle: it fails alone, the rest still arrive.
    paths.insert(500, sdcard("DCIM/Many/missing.jpg"));
    expected.insert(500, None);
    let mut handset = open(&env, &phone);

    for options in [
        PullOptions::default(),
        PullOptions {
            window: 1,
            streams: 1,
        },
        PullOptions {
            window: 32,
            streams: 1,
        },
        PullOptions {
            window: 16,
            streams: 3,
        },
    ] {
        handset.set_pull_options(options);
        let mut got: Vec<Vec<u8>> = vec![Vec::new(); paths.len()];
        let mut next = 0; // the index whose events may come now
        let mut failed = Vec::new();
        handset
            .pull_many(&paths, &mut |event| {
                match event {
                    PullEvent::Start { index } => assert_eq!(index, next, "{options:?}"),
                    PullEvent::Data { index, bytes } => {
                        assert_eq!(index, next);
                        assert!(bytes.len() <= 65_536);
                        got[index].extend_from_slice(bytes);
                    }
                    PullEvent::Done { index } => {
                        assert_eq!(index, next);
                        next += 1;
                    }
                    PullEvent::Failed { index, message } => {
                        assert_eq!(index, next);
                        failed.push((index, message));
                        next += 1;
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{options:?}: {e}"));
        assert_eq!(next, paths.len(), "{options:?}");
        assert_eq!(failed.len(), 1, "{options:?}: {failed:?}");
        assert_eq!(failed[0].0, 500);
        for (i, want) in expected.iter().enumerate() {
            if let Some(want) = want {
                assert!(got[i] == *want, "{options:?}: file {i} differs");
            }
        }
    }

    // A sink error stops the transfer and comes back as is.
    let mut seen = 0;
    let err = handset
        .pull_many(&paths, &mut |event| {
            if let PullEvent::Done { .. } = event {
                seen += 1;
                if seen == 10 {
                    return Err(Error::Cancelled);
                }
            }
            Ok(())
        })
        .expect_err("the sink stopped it");
    assert!(matches!(err, Error::Cancelled), "{err:?}");
}

#[test]
fn unauthorized_and_unknown_handsets_are_typed_errors() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().unauthorized());
    let server = server(&env, Duration::from_secs(20));
    match server.open(None) {
        Err(Error::Unauthorized { serial }) => assert_eq!(serial, phone.serial()),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    match server.open(Some("nothing-here")) {
        Err(Error::DeviceNotFound { serial, attached }) => {
            assert_eq!(serial, "nothing-here");
            assert!(attached.contains(&phone.serial()), "{attached}");
        }
        other => panic!("expected DeviceNotFound, got {other:?}"),
    }
    let second = env.start_handset(HandsetSpec::android10());
    match server.open(None) {
        Err(Error::MultipleDevices { serials }) => {
            assert!(serials.contains(&phone.serial()) && serials.contains(&second.serial()));
        }
        other => panic!("expected MultipleDevices, got {other:?}"),
    }
}

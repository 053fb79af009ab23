//! The simulated handset charges its media storage's per-file cost (FUSE on the `usb3`
//! profile) in the handset itself, so the stock `adb pull` and `adb push` pay it like
//! phonevault does. Lower bounds only: a loaded machine can only add time.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{assert_success, device_path, HandsetSpec, TestEnv};

/// Files in the folder pulled and pushed: enough that their opens add up to a clear floor.
const FILES: u32 = 150;

/// The `usb3` profile's FUSE figures (sim/src/link.rs: `MediaStorage::FUSE`).
const OPEN: Duration = Duration::from_millis(1);
const STAT: Duration = Duration::from_micros(200);

#[test]
fn adb_pull_and_push_pay_an_open_per_file_on_a_fuse_phone() {
    let env = TestEnv::new();
    let storage = env.new_dir("storage");
    let folder = storage.join("DCIM/Costs");
    fs::create_dir_all(&folder).unwrap();
    fs::create_dir_all(storage.join("Pictures")).unwrap();
    for i in 0..FILES {
        fs::write(
            folder.join(format!("f{i:03}.bin")),
            [u8::try_from(i % 256).unwrap(); 64],
        )
        .unwrap();
    }
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage).link("usb3"));
    let serial = phone.serial();

    // `adb pull DIR`: one LIS2 (an lstat per entry, `.` and `..` too), then a RECV (an open)
    // per file.
    let pulled = env.new_dir("pulled");
    let t0 = Instant::now();
    let out = env.adb(&[
        "-s",
        &serial,
        "pull",
        &device_path("DCIM/Costs"),
        pulled.to_str().unwrap(),
    ]);
    let pull = t0.elapsed();
    assert_success(&out, "adb pull");
    assert_eq!(
        fs::read_dir(pulled.join("Costs")).unwrap().count(),
        FILES as usize
    );
    let floor = OPEN * FILES + STAT * (FILES + 2);
    assert!(
        pull >= floor,
        "adb pull of {FILES} files took {pull:?}, under {floor:?}"
    );

    // `adb push DIR`: an open (create) per file on the phone.
    let t0 = Instant::now();
    let out = env.adb(&[
        "-s",
        &serial,
        "push",
        pulled.join("Costs").to_str().unwrap(),
        &device_path("Pictures/"),
    ]);
    let push = t0.elapsed();
    assert_success(&out, "adb push");
    assert_eq!(
        fs::read_dir(storage.join("Pictures/Costs"))
            .unwrap()
            .count(),
        FILES as usize
    );
    let floor = OPEN * FILES;
    assert!(
        push >= floor,
        "adb push of {FILES} files took {push:?}, under {floor:?}"
    );
    eprintln!("usb3 (FUSE): adb pull of {FILES} files {pull:?}, adb push {push:?}");

    // Measured inside the handset: what its media storage charged, and for how long.
    let charged = &phone.stats()["media_storage"];
    let opens = charged["opens"]
        .as_u64()
        .expect("media_storage.opens in the stats");
    let lookups = charged["lookups"].as_u64().unwrap();
    let waited = Duration::from_micros(charged["waited_us"].as_u64().unwrap());
    assert!(opens >= 2 * u64::from(FILES), "{charged}");
    assert!(lookups >= u64::from(FILES) + 2, "{charged}");
    let floor = OPEN * u32::try_from(opens).unwrap() + STAT * u32::try_from(lookups).unwrap();
    assert!(waited >= floor, "{charged}: under {floor:?}");
}

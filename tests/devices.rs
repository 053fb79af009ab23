//! `phonevault devices` against simulated handsets through the real adb server.

mod common;

use std::time::{Duration, Instant};

use common::{HandsetSpec, TestEnv};

const GIB: u64 = 1024 * 1024 * 1024;

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "phonevault failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

#[test]
fn two_authorised_and_one_unauthorized_in_table_and_json() {
    let env = TestEnv::new();
    let a = env.start_handset(
        HandsetSpec::android14()
            .serial("PIXEL8SERIAL")
            .capacity(64 * GIB),
    );
    let b = env.start_handset(
        HandsetSpec::android10()
            .serial("OLDPHONE")
            .model("Galaxy S10")
            .manufacturer("samsung")
            .capacity(16 * GIB),
    );
    let c = env.start_handset(HandsetSpec::android14().unauthorized());

    let table = stdout(&env.phonevault(&["devices"]));
    let row = |serial: &str| {
        table
            .lines()
            .find(|l| l.starts_with(serial))
            .unwrap_or_else(|| panic!("no row for {serial} in:\n{table}"))
            .to_string()
    };
    let row_a = row(&a.serial());
    assert!(row_a.contains("device") && row_a.contains("Pixel 8") && row_a.contains("Google"));
    assert!(row_a.contains(" 14 ") && row_a.contains(" 34 "), "{row_a}");
    assert!(row_a.contains("64.00 GiB"), "{row_a}");
    let row_b = row(&b.serial());
    assert!(
        row_b.contains("Galaxy S10") && row_b.contains("samsung"),
        "{row_b}"
    );
    assert!(row_b.contains(" 10 ") && row_b.contains(" 29 ") && row_b.contains("16.00 GiB"));
    let row_c = row(&c.serial());
    assert!(row_c.contains("unauthorized"), "{row_c}");
    assert!(
        table.contains("accept the USB debugging prompt"),
        "no advice for the unauthorized handset:\n{table}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&env.phonevault(&["devices", "--json"]))).expect("JSON");
    let list = json.as_array().expect("an array");
    assert_eq!(list.len(), 3, "{json:#}");
    let find = |serial: &str| {
        list.iter()
            .find(|d| d["serial"] == serial)
            .unwrap_or_else(|| panic!("{serial} missing from {json:#}"))
    };
    let ja = find(&a.serial());
    assert_eq!(ja["state"], "device");
    assert_eq!(ja["hardware_serial"], "PIXEL8SERIAL");
    assert_eq!(ja["model"], "Pixel 8");
    assert_eq!(ja["manufacturer"], "Google");
    assert_eq!(ja["android_version"], "14");
    assert_eq!(ja["sdk"], 34);
    assert_eq!(ja["storage_total"], 64 * GIB);
    let free = ja["storage_free"].as_u64().expect("a free size");
    assert!(free > 0 && free <= 64 * GIB);
    let jb = find(&b.serial());
    assert_eq!(
        (
            &jb["model"],
            &jb["manufacturer"],
            &jb["android_version"],
            &jb["sdk"]
        ),
        (
            &"Galaxy S10".into(),
            &"samsung".into(),
            &"10".into(),
            &29.into()
        )
    );
    assert_eq!(jb["storage_total"], 16 * GIB);
    let jc = find(&c.serial());
    assert_eq!(jc["state"], "unauthorized");
    for key in [
        "model",
        "manufacturer",
        "android_version",
        "sdk",
        "storage_total",
        "storage_free",
    ] {
        assert!(jc[key].is_null(), "{key} should be null: {jc:#}");
    }
    assert!(jc["note"]
        .as_str()
        .is_some_and(|n| n.contains("accept the USB debugging prompt")));
}

#[test]
fn phone_supplied_text_is_escaped() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().manufacturer("Evil\u{1b}[2JCorp"));
    let table = stdout(&env.phonevault(&["devices"]));
    assert!(!table.contains('\u{1b}'), "raw escape printed:\n{table:?}");
    assert!(table.contains("Evil\\e[2JCorp"), "{table}");
    assert!(table.contains(&phone.serial()));
}

#[test]
fn no_handset_is_an_empty_list_not_an_error() {
    let env = TestEnv::new();
    let table = stdout(&env.phonevault(&["devices"]));
    assert!(table.contains("No handset attached"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&env.phonevault(&["devices", "--json"]))).unwrap();
    assert_eq!(json, serde_json::json!([]));
}

#[test]
fn wait_returns_once_a_handset_is_plugged_in() {
    let env = TestEnv::new();
    let mut child = env
        .command(env!("CARGO_BIN_EXE_phonevault"))
        .args(["devices", "--wait", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("phonevault starts");
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "devices --wait returned with no handset attached"
    );
    let plugged = Instant::now();
    let phone = env.start_handset(HandsetSpec::android14());
    let status = common::wait_timeout(&mut child, Duration::from_secs(30));
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("devices --wait did not return within 30 s of the handset appearing");
    };
    assert!(status.success(), "{status}");
    assert!(plugged.elapsed() < Duration::from_secs(30));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json[0]["serial"], phone.serial());
}

#[test]
fn missing_adb_program_says_how_to_install_it() {
    let env = TestEnv::new();
    // A port where no server listens, and an adb path that does not exist.
    let port = common::free_port().to_string();
    let out = env
        .command(env!("CARGO_BIN_EXE_phonevault"))
        .env("ANDROID_ADB_SERVER_PORT", &port)
        .args(["--adb", "/nonexistent/adb", "devices"])
        .output()
        .expect("phonevault runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt install adb"), "{err}");
    assert!(err.contains("brew install android-platform-tools"), "{err}");
}

//! The simulated handset against the real Debian `adb` client and server: what adb shows and
//! does with it must match a phone.

mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::{device_path, HandsetSpec, TestEnv, DEVICE_ROOT};

/// Deterministic, incompressible-looking bytes (xorshift), so tests need no stored data.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write_file(path: &Path, data: &[u8], mtime: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime);
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn mtime(path: &Path) -> u64 {
    fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A small tree with the sizes that matter to sync (empty, one DATA, DATA boundary, several).
fn make_tree(root: &Path) -> Vec<(PathBuf, u64)> {
    let files: &[(&str, usize, u64)] = &[
        (
            "DCIM/Camera/PXL_20240312_153012345.jpg",
            1_500_000,
            1_710_257_412,
        ),
        ("DCIM/Camera/empty.jpg", 0, 1_600_000_000),
        ("DCIM/Camera/one.jpg", 1, 1_600_000_001),
        ("DCIM/Screenshots/exact.png", 65_536, 1_650_000_000),
        ("DCIM/Screenshots/over.png", 65_537, 1_650_000_100),
        ("Pictures/deep/er/still/x y z.webp", 200_000, 1_500_000_000),
        ("Movies/clip.mp4", 3 * 1024 * 1024 + 7, 1_700_000_000),
    ];
    let mut out = Vec::new();
    for (i, (rel, len, t)) in files.iter().enumerate() {
        let p = root.join(rel);
        write_file(&p, &pseudo_random(*len, i as u64 + 7), *t);
        out.push((PathBuf::from(rel), *t));
    }
    out
}

fn assert_ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}): stdout {} stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn devices_lists_the_profile_model_and_overrides() {
    let env = TestEnv::new();
    let a14 = env.start_handset(HandsetSpec::android14());
    let a10 = env.start_handset(HandsetSpec::android10().model("Sim Phone 2"));
    let out = env.adb(&["devices", "-l"]);
    assert_ok(&out, "adb devices -l");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |serial: &str| {
        text.lines()
            .find(|l| l.starts_with(serial))
            .unwrap_or_else(|| panic!("{serial} missing from:\n{text}"))
            .to_string()
    };
    let l14 = line(&a14.serial());
    assert!(l14.contains(" device "), "{l14}");
    assert!(l14.contains("model:Pixel_8"), "{l14}");
    assert!(l14.contains("product:shiba"), "{l14}");
    let l10 = line(&a10.serial());
    assert!(l10.contains("model:Sim_Phone_2"), "{l10}");
    assert!(l10.contains("device:sargo"), "{l10}");
}

#[test]
fn shell_returns_stdout_stderr_and_exit_status() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let out = phone.shell("echo out; echo err >&2; exit 3");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    let killed = phone.shell("kill -9 $$");
    assert_eq!(killed.status.code(), Some(137), "{killed:?}");
    let stats = phone.stats();
    assert!(stats["services"]["shell"].as_u64().unwrap() >= 2, "{stats}");
}

#[test]
fn shell_v2_passes_stdin_and_the_harness_sees_media_scans() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let script = format!(
        "printf 'line one\\nline two\\n' | adb -s {} shell 'cat; echo done'",
        phone.serial()
    );
    let out = common::run_with_timeout(
        env.command("sh").args(["-c", &script]),
        common::COMMAND_TIMEOUT,
    );
    assert_ok(&out, "adb shell with stdin");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line one\nline two\ndone\n"
    );
    let out = phone.shell(
        "am broadcast -a android.intent.action.MEDIA_SCANNER_SCAN_FILE \
         --receiver-include-background -d file:///sdcard/DCIM/Camera",
    );
    assert_ok(&out, "am broadcast");
    let log = phone.scan_log();
    assert!(
        log.contains("file:///sdcard/DCIM/Camera"),
        "scan log: {log:?}"
    );
}

#[test]
fn populated_handset_serves_every_file_of_its_truth_file() {
    let env = TestEnv::new();
    let populate = common::Populate {
        photos: 4,
        videos: 1,
        whatsapp: 4,
        ..common::Populate::default()
    };
    let phone = env.start_handset(HandsetSpec::android14().populate(populate));
    let truth = phone.truth();
    let records = truth.as_array().expect("a JSON array");
    assert!(!records.is_empty(), "empty truth file");
    // `adb pull -a` of the whole storage brings back every generated file (odd names
    // included) with its bytes and mtime.
    let dest = env.new_dir("pulled");
    let out = phone.adb(&["pull", "-a", DEVICE_ROOT, dest.to_str().unwrap()]);
    assert_ok(&out, "pull of the populated storage");
    for r in records {
        let rel = r["path"]
            .as_str()
            .unwrap()
            .strip_prefix("/sdcard/")
            .unwrap();
        let got = dest.join("sdcard").join(rel);
        let bytes = fs::read(&got).unwrap_or_else(|e| panic!("{}: {e}", got.display()));
        assert_eq!(bytes.len() as u64, r["size"].as_u64().unwrap(), "{rel}");
        assert!(
            bytes == fs::read(phone.storage().join(rel)).unwrap(),
            "{rel}"
        );
        assert_eq!(mtime(&got), r["mtime"].as_u64().unwrap(), "{rel}");
    }
}

#[test]
fn dropping_the_env_stops_its_handsets() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let pid = phone.pid().expect("a running sim");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    // A command still running when the test ends must not outlive it either (a raw
    // command gets a grace period after the host hangs up, so this one still runs).
    let _ = env.adb_timeout(
        &["-s", &phone.serial(), "exec-out", "sleep 987; echo"],
        Duration::from_millis(500),
    );
    let sleeper_runs = || {
        fs::read_dir("/proc").unwrap().flatten().any(|e| {
            fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.windows(9).any(|w| w == b"sleep\x00987"))
        })
    };
    assert!(sleeper_runs(), "the command under test did not start");
    drop(phone);
    drop(env);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "sim {pid} outlived its TestEnv"
    );
    assert!(!sleeper_runs(), "a command of the sim outlived its TestEnv");
}

#[test]
fn exec_out_cat_of_10_mb_is_byte_identical() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let data = pseudo_random(10 * 1024 * 1024 + 3, 42);
    write_file(
        &phone.storage().join("Download/big.bin"),
        &data,
        1_700_000_000,
    );
    let out = phone.adb(&[
        "exec-out",
        &format!("cat {}", device_path("Download/big.bin")),
    ]);
    assert_ok(&out, "adb exec-out cat");
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "exec-out bytes differ");
    let stats = phone.stats();
    assert!(
        stats["bytes_sent"].as_u64().unwrap() >= data.len() as u64,
        "{stats}"
    );
    assert_eq!(stats["services"]["exec"], 1, "{stats}");
}

#[test]
fn exec_in_feeds_stdin() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let data = pseudo_random(3 * 1024 * 1024 + 5, 9);
    let local = env.path().join("in.bin");
    fs::write(&local, &data).unwrap();
    fs::create_dir_all(phone.storage().join("Download")).unwrap();
    let target = device_path("Download/in.bin");
    let script = format!(
        "adb -s {} exec-in 'cat > \"{target}\"' < \"{}\"",
        phone.serial(),
        local.display()
    );
    let out = common::run_with_timeout(
        env.command("sh").args(["-c", &script]),
        common::COMMAND_TIMEOUT,
    );
    assert_ok(&out, "adb exec-in");
    // The command may still be flushing when adb returns.
    let path = phone.storage().join("Download/in.bin");
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::metadata(&path).map_or(0, |m| m.len()) < data.len() as u64
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fs::read(&path).unwrap() == data, "exec-in bytes differ");
}

#[test]
fn pull_of_a_tree_is_identical_and_pull_a_keeps_mtimes() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let files = make_tree(phone.storage());
    for (dest_name, keep_times) in [("plain", false), ("archive", true)] {
        let dest = env.new_dir(dest_name);
        let mut args = vec!["pull"];
        if keep_times {
            args.push("-a");
        }
        let src = device_path("DCIM");
        let dest_s = dest.to_str().unwrap().to_string();
        args.extend([src.as_str(), dest_s.as_str()]);
        let out = phone.adb(&args);
        assert_ok(&out, "adb pull");
        for (rel, t) in files.iter().filter(|(r, _)| r.starts_with("DCIM")) {
            let got = dest.join(rel);
            let want = phone.storage().join(rel);
            assert!(
                fs::read(&got).unwrap() == fs::read(&want).unwrap(),
                "{} differs",
                rel.display()
            );
            if keep_times {
                assert_eq!(mtime(&got), *t, "mtime of {}", rel.display());
            }
        }
    }
    // The whole storage, odd names and deep folders included.
    let dest = env.new_dir("all");
    let root = DEVICE_ROOT.to_string();
    let out = phone.adb(&["pull", "-a", &root, dest.to_str().unwrap()]);
    assert_ok(&out, "adb pull of the storage");
    let pulled = dest.join(Path::new(&root).file_name().unwrap());
    for (rel, t) in &files {
        let got = pulled.join(rel);
        assert!(
            fs::read(&got).unwrap() == fs::read(phone.storage().join(rel)).unwrap(),
            "{} differs",
            rel.display()
        );
        assert_eq!(mtime(&got), *t, "mtime of {}", rel.display());
    }
    let stats = phone.stats();
    assert!(
        stats["sync_requests"]["RECV"].as_u64().unwrap() >= 7 + 5 + 5,
        "{stats}"
    );
    assert!(
        stats["sync_requests"]["LIS2"].as_u64().unwrap() >= 1,
        "{stats}"
    );
}

#[test]
fn push_sets_mode_and_mtime_and_creates_folders() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let local = env.path().join("up.bin");
    let data = pseudo_random(777_777, 3);
    write_file(&local, &data, 1_234_567_890);
    fs::set_permissions(&local, fs::Permissions::from_mode(0o640)).unwrap();
    let target = device_path("Pictures/new/deeper/up.bin");
    let out = phone.adb(&["push", local.to_str().unwrap(), &target]);
    assert_ok(&out, "adb push");
    let on_phone = phone.storage().join("Pictures/new/deeper/up.bin");
    assert!(fs::read(&on_phone).unwrap() == data, "pushed bytes differ");
    assert_eq!(mtime(&on_phone), 1_234_567_890);
    let mode = fs::metadata(&on_phone).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640, "mode {mode:o}");
    assert_eq!(phone.stats()["sync_requests"]["SEND"], 1);
}

#[test]
fn v1_only_handset_makes_adb_fall_back() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().features(""));
    let out = phone.shell("echo out; echo err >&2; exit 3");
    // v1 shell: stderr merged into stdout, no exit status.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "out\nerr\n",
        "{out:?}"
    );
    let files = make_tree(phone.storage());
    let dest = env.new_dir("pulled");
    let src = device_path("DCIM");
    let out = phone.adb(&["pull", "-a", &src, dest.to_str().unwrap()]);
    assert_ok(&out, "adb pull from a v1 handset");
    for (rel, t) in files.iter().filter(|(r, _)| r.starts_with("DCIM")) {
        let got = dest.join(rel);
        assert!(fs::read(&got).unwrap() == fs::read(phone.storage().join(rel)).unwrap());
        assert_eq!(mtime(&got), *t);
    }
    let stats = phone.stats();
    assert!(
        stats["sync_requests"]["LIST"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    assert!(stats["sync_requests"].get("LIS2").is_none(), "{stats}");
    assert!(stats["sync_requests"].get("STA2").is_none(), "{stats}");
}

#[test]
fn unauthorized_handset_shows_as_unauthorized() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().unauthorized());
    let out = env.adb(&["devices"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{}\tunauthorized", phone.serial())),
        "{text}"
    );
    let out = phone.shell("echo hi");
    assert!(
        !out.status.success(),
        "shell on an unauthorized handset worked: {out:?}"
    );
}

#[test]
fn refused_services_and_malformed_packets_leave_the_handset_working() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let _ = phone.adb(&["root"]);
    // Garbage on a second TCP connection: the sim drops that connection only.
    let mut raw = TcpStream::connect(("127.0.0.1", phone.port())).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(&[0x55; 24]).unwrap();
    let mut buf = [0u8; 16];
    let n = raw
        .read(&mut buf)
        .expect("the sim closes a malformed connection");
    assert_eq!(n, 0, "expected EOF after a bad packet");
    let out = phone.shell("echo still here");
    assert_ok(&out, "shell after a malformed connection");
    assert_eq!(out.stdout, b"still here\n");
    let stats = phone.stats();
    assert_eq!(stats["connections"], 2, "{stats}");
    assert_eq!(stats["services"]["root"], 1, "{stats}");
}

#[test]
fn disconnect_after_fails_a_running_pull_and_restart_recovers() {
    let env = TestEnv::new();
    let spec = HandsetSpec::android14().fault("disconnect-after=3M");
    let mut phone = env.start_handset(spec);
    let data = pseudo_random(10 * 1024 * 1024, 5);
    write_file(
        &phone.storage().join("Movies/long.mp4"),
        &data,
        1_700_000_000,
    );
    let src = device_path("Movies/long.mp4");
    let dest = env.path().join("long.mp4");
    let t0 = Instant::now();
    let out = env
        .adb_timeout(
            &["-s", &phone.serial(), "pull", &src, dest.to_str().unwrap()],
            Duration::from_secs(60),
        )
        .expect("adb pull hung after the cable was pulled");
    assert!(
        !out.status.success(),
        "pull succeeded past the fault: {out:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(60));
    assert!(
        phone.wait_exit(Duration::from_secs(10)).is_some(),
        "the sim still runs after the disconnect fault"
    );
    assert!(
        phone.sim_log().contains("disconnect-after"),
        "{}",
        phone.sim_log()
    );
    let sent = phone.stats()["bytes_sent"].as_u64().unwrap();
    assert!(sent <= 3 * 1024 * 1024, "sent {sent} bytes past the limit");

    phone.restart(HandsetSpec::android14());
    let out = phone.adb(&["pull", &src, dest.to_str().unwrap()]);
    assert_ok(&out, "pull after restart");
    assert!(fs::read(&dest).unwrap() == data);
}

#[test]
fn stall_after_freezes_the_handset() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().fault("stall-after=2M"));
    let data = pseudo_random(8 * 1024 * 1024, 6);
    write_file(
        &phone.storage().join("Movies/stuck.mp4"),
        &data,
        1_700_000_000,
    );
    let src = device_path("Movies/stuck.mp4");
    let dest = env.path().join("stuck.mp4");
    // adb 29 has no timeout of its own on a silent TCP device: it waits forever, so the
    // test bounds it and checks the sim stopped sending.
    let out = env.adb_timeout(
        &["-s", &phone.serial(), "pull", &src, dest.to_str().unwrap()],
        Duration::from_secs(8),
    );
    if let Some(out) = &out {
        assert!(
            !out.status.success(),
            "pull succeeded past a stall: {out:?}"
        );
    }
    assert!(phone.is_running(), "a stalled handset must keep running");
    let before = phone.stats()["bytes_sent"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let after = phone.stats()["bytes_sent"].as_u64().unwrap();
    assert_eq!(before, after, "the stalled sim kept sending");
    assert!(
        after <= 2 * 1024 * 1024,
        "sent {after} bytes past the stall point"
    );
    assert!(
        phone.sim_log().contains("stall-after"),
        "{}",
        phone.sim_log()
    );
}

#[test]
fn usb2_link_is_bandwidth_limited() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().link("usb2"));
    let data = pseudo_random(8 * 1024 * 1024, 8);
    write_file(
        &phone.storage().join("Movies/slow.mp4"),
        &data,
        1_700_000_000,
    );
    let dest = env.path().join("slow.mp4");
    let t0 = Instant::now();
    let out = phone.adb(&[
        "pull",
        &device_path("Movies/slow.mp4"),
        dest.to_str().unwrap(),
    ]);
    let took = t0.elapsed();
    assert_ok(&out, "pull over usb2");
    assert!(fs::read(&dest).unwrap() == data);
    // 8 MiB at 40 MB/s is at least 0.21 s on the cable.
    assert!(
        took >= Duration::from_millis(200),
        "8 MiB over usb2 took {took:?}"
    );
}

// The tests below need the handset's Android environment (sim-env: tmpfs with a capacity,
// mksh + toybox per profile, deny globs); they fail until it is merged.

#[test]
fn capacity_makes_a_too_large_push_fail_with_no_space() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().capacity(2 * 1024 * 1024));
    let local = env.path().join("huge.bin");
    fs::write(&local, pseudo_random(5 * 1024 * 1024, 11)).unwrap();
    let out = phone.adb(&[
        "push",
        local.to_str().unwrap(),
        &device_path("Download/huge.bin"),
    ]);
    assert!(
        !out.status.success(),
        "push past the capacity worked: {out:?}"
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("No space left on device"), "{said}");
    // The partial file is gone and the handset still answers.
    let out = phone.shell("ls /sdcard/Download/huge.bin");
    assert!(!out.status.success(), "the partial upload stayed: {out:?}");
    let small = env.path().join("small.bin");
    fs::write(&small, b"fits").unwrap();
    let out = phone.adb(&[
        "push",
        small.to_str().unwrap(),
        "/sdcard/Download/small.bin",
    ]);
    assert_ok(&out, "a push that fits, after a failed one");
}

#[test]
fn find_printf_works_on_android_14_and_fails_on_android_10() {
    let env = TestEnv::new();
    let a14 = env.start_handset(HandsetSpec::android14());
    let a10 = env.start_handset(HandsetSpec::android10());
    write_file(&a14.storage().join("DCIM/a.jpg"), b"x", 1_700_000_000);
    write_file(&a10.storage().join("DCIM/a.jpg"), b"x", 1_700_000_000);
    let out = a14.shell("find /sdcard/DCIM -type f -printf '%s %T@ %p\\n'");
    assert_ok(&out, "find -printf on android-14");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/sdcard/DCIM/a.jpg"),
        "{out:?}"
    );
    let out = a10.shell("find /sdcard/DCIM -type f -printf '%s %T@ %p\\n'");
    assert!(
        !out.status.success(),
        "find -printf worked on android-10: {out:?}"
    );
}

#[test]
fn denied_paths_fail_sync_with_permission_denied() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().fault("deny=/sdcard/Secret/**"));
    write_file(
        &phone.storage().join("Secret/x.jpg"),
        b"secret",
        1_700_000_000,
    );
    let dest = env.path().join("x.jpg");
    let out = phone.adb(&["pull", "/sdcard/Secret/x.jpg", dest.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "pull of a denied file worked: {out:?}"
    );
    // adb 29 prints this error on stdout.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("Permission denied"), "{said}");
    // A pull of the folder above skips what it may not read, as on a phone.
    let dest = env.new_dir("pictures");
    let out = phone.adb(&["pull", "/sdcard/Secret", dest.to_str().unwrap()]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dest.join("Secret/x.jpg").exists(), "{said}");
    let stats = phone.stats();
    assert!(
        stats["sync_requests"]["STA2"].as_u64().unwrap() >= 2,
        "{stats}"
    );
}

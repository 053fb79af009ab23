//! `phonevault-sim shell`: the handset's userland, tried without the ADB side.
//!
//! Every test runs the built simulator as a child process, so the namespaces, chroot and
//! capability changes never touch the test process. They need root, like the simulator.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use tempfile::TempDir;

const SIM: &str = env!("CARGO_BIN_EXE_phonevault-sim");

/// A host storage folder with a few small files, and a private TMPDIR for the simulator (so a
/// leftover root folder would be seen).
struct Phone {
    dir: TempDir,
    storage: PathBuf,
    tmp: PathBuf,
}

/// 2024-03-12T15:30:12Z, the mtime given to the sample photo.
const PHOTO_MTIME: u64 = 1_710_257_412;

impl Phone {
    fn new() -> Phone {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        let tmp = dir.path().join("tmp");
        fs::create_dir_all(storage.join("DCIM/Camera")).unwrap();
        fs::create_dir_all(storage.join("DCIM/Secret")).unwrap();
        fs::create_dir_all(&tmp).unwrap();
        let photo = storage.join("DCIM/Camera/PXL_20240312_153012345.jpg");
        fs::write(&photo, b"not really a jpeg").unwrap();
        fs::File::options()
            .write(true)
            .open(&photo)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(PHOTO_MTIME))
            .unwrap();
        fs::write(storage.join("DCIM/Secret/x.jpg"), b"secret bytes").unwrap();
        fs::write(storage.join("notes.txt"), b"hello from the phone\n").unwrap();
        Phone { dir, storage, tmp }
    }

    fn command(&self, args: &[&str], shell: &str) -> Command {
        let mut cmd = Command::new(SIM);
        cmd.arg("shell")
            .arg("--storage")
            .arg(&self.storage)
            .args(args)
            .arg("--")
            .arg(shell)
            .env("TMPDIR", &self.tmp);
        cmd
    }

    fn run(&self, args: &[&str], shell: &str) -> Output {
        let out = self
            .command(args, shell)
            .output()
            .expect("running phonevault-sim");
        self.assert_clean();
        out
    }

    /// Runs and expects exit 0; returns stdout.
    fn ok(&self, args: &[&str], shell: &str) -> String {
        let out = self.run(args, shell);
        assert!(
            out.status.success(),
            "{shell:?} failed with {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Nothing of the handset stays behind on the host once the simulator has exited.
    fn assert_clean(&self) {
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = self.dir.path().to_str().unwrap();
        for line in mounts.lines() {
            assert!(
                !line.contains(dir) && !line.contains("phonevault-sim"),
                "left mounted on the host: {line}"
            );
        }
        let left: Vec<_> = fs::read_dir(&self.tmp).unwrap().collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    }
}

fn nix_is_root() -> bool {
    // The test crate has no nix dependency; /proc tells the effective uid.
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn getprop_answers_from_the_profile() {
    let phone = Phone::new();
    for (profile, model, sdk, release) in [
        ("android-10", "Pixel 3a", "29", "10"),
        ("android-14", "Pixel 8", "34", "14"),
    ] {
        let out = phone.ok(
            &["--profile", profile],
            "getprop ro.product.model; getprop ro.build.version.sdk; \
             getprop ro.build.version.release; getprop no.such.prop fallback",
        );
        assert_eq!(out, format!("{model}\n{sdk}\n{release}\nfallback\n"));
        let all = phone.ok(&["--profile", profile], "getprop");
        assert!(
            all.contains(&format!("[ro.product.model]: [{model}]\n")),
            "{all}"
        );
        assert!(
            all.contains("[ro.product.manufacturer]: [Google]\n"),
            "{all}"
        );
        assert!(all.contains("[ro.serialno]: [SIM"), "{all}");
    }
}

#[test]
fn storage_is_seen_at_every_device_path() {
    let phone = Phone::new();
    let out = phone.ok(
        &[],
        "ls /sdcard; ls /storage/emulated/0/DCIM; cat /storage/self/primary/notes.txt",
    );
    assert_eq!(
        out,
        "DCIM\nnotes.txt\nCamera\nSecret\nhello from the phone\n"
    );
}

#[test]
fn shell_writes_reach_the_host_folder() {
    let phone = Phone::new();
    phone.ok(
        &[],
        "echo x > /sdcard/new && mkdir -p /sdcard/Pictures/Restored && \
         touch -d 2024-03-12T15:30:12 /sdcard/Pictures/Restored/a.jpg && \
         echo tmp > /data/local/tmp/t && cat /data/local/tmp/t",
    );
    assert_eq!(fs::read(phone.storage.join("new")).unwrap(), b"x\n");
    assert!(phone.storage.join("Pictures/Restored/a.jpg").is_file());
}

#[test]
fn find_printf_works_on_android_14_only() {
    let phone = Phone::new();
    let out = phone.ok(
        &["--profile", "android-14"],
        "find /sdcard -type f -printf '%s %p\\n' | sort",
    );
    assert_eq!(
        out,
        "12 /sdcard/DCIM/Secret/x.jpg\n\
         17 /sdcard/DCIM/Camera/PXL_20240312_153012345.jpg\n\
         21 /sdcard/notes.txt\n"
    );
    let refused = phone.run(
        &["--profile", "android-10"],
        "find /sdcard -type f -printf '%s %p\\n'",
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    assert_eq!(stderr(&refused), "find: Unknown option '-printf'\n");
}

#[test]
fn find_exec_stat_works_on_both_profiles() {
    let phone = Phone::new();
    for profile in ["android-10", "android-14"] {
        let out = phone.ok(
            &["--profile", profile],
            "find /sdcard/DCIM/Camera -type f -exec stat -c '%s %Y %n' {} +",
        );
        assert_eq!(
            out,
            format!("17 {PHOTO_MTIME} /sdcard/DCIM/Camera/PXL_20240312_153012345.jpg\n"),
            "{profile}"
        );
    }
}

#[test]
fn host_tools_and_paths_are_not_visible() {
    let phone = Phone::new();
    let awk = phone.run(&[], "awk 'BEGIN { print 1 }'");
    assert_eq!(awk.status.code(), Some(127), "{}", stderr(&awk));
    assert!(stderr(&awk).contains("not found"), "{}", stderr(&awk));

    let host_dir = phone.dir.path().to_str().unwrap();
    let out = phone.run(
        &[],
        &format!("ls {host_dir}; test -e /usr/bin/awk && echo awk-reachable; echo $PATH"),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/system/bin:/system/xbin\n"
    );
    assert!(stderr(&out).contains("No such file"), "{}", stderr(&out));
}

#[test]
fn shell_environment_is_like_adbd() {
    let phone = Phone::new();
    let mut cmd = phone.command(&[], "pwd; env | sort");
    cmd.env("TZ", "Europe/Berlin").env("SECRET_HOST_VAR", "1");
    let out = cmd.output().unwrap();
    phone.assert_clean();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "/\n",
        "HOME=/\n",
        "TMPDIR=/data/local/tmp\n",
        "EXTERNAL_STORAGE=/sdcard\n",
        "ANDROID_DATA=/data\n",
        "SHELL=/system/bin/sh\n",
        "TZ=Europe/Berlin\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    assert!(!text.contains("SECRET_HOST_VAR"), "{text}");
}

#[test]
fn exit_status_and_output_pass_through() {
    let phone = Phone::new();
    let out = phone.run(&[], "echo out; echo err >&2; exit 7");
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(stderr(&out), "err\n");
}

#[test]
fn media_scan_requests_are_logged() {
    let phone = Phone::new();
    let log = phone.dir.path().join("scan.log");
    let log_arg = log.to_str().unwrap();
    let out = phone.ok(
        &["--scan-log", log_arg],
        "am broadcast -a android.intent.action.MEDIA_SCANNER_SCAN_FILE \
         --receiver-include-background -d file:///sdcard/DCIM/Camera/a.jpg && \
         content call --uri content://media --method scan_volume --arg external_primary",
    );
    assert_eq!(
        out,
        "Broadcasting: Intent { act=android.intent.action.MEDIA_SCANNER_SCAN_FILE \
         dat=file:///sdcard/DCIM/Camera/a.jpg flg=0x1400000 }\n\
         Broadcast completed: result=0\n\
         Result: null\n"
    );
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "am\tMEDIA_SCANNER_SCAN_FILE\tfile:///sdcard/DCIM/Camera/a.jpg\n\
         content\tscan_volume\texternal_primary\n"
    );
    // A second run appends.
    phone.ok(
        &["--scan-log", log_arg],
        "content call --uri content://media --method scan_volume --arg external_primary",
    );
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 3);
}

#[test]
fn capacity_limits_the_storage() {
    let phone = Phone::new();
    let capacity: u64 = 1_000_000;
    let out = phone.ok(
        &["--capacity", &capacity.to_string()],
        "stat -f -c '%b %S' /sdcard; df -k /sdcard | tail -n 1; \
         stat -c '%s %Y' /sdcard/DCIM/Camera/PXL_20240312_153012345.jpg",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let (blocks, block_size) = lines[0].split_once(' ').unwrap();
    let total = blocks.parse::<u64>().unwrap() * block_size.parse::<u64>().unwrap();
    // tmpfs rounds the size up to whole pages.
    assert!(
        (capacity..capacity + 4096).contains(&total),
        "stat -f says {total} bytes"
    );
    let df_kib: u64 = lines[1].split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(df_kib * 1024, total, "{}", lines[1]);
    // The seeded copy keeps sizes and mtimes.
    assert_eq!(lines[2], format!("17 {PHOTO_MTIME}"));

    let full = phone.run(
        &["--capacity", &capacity.to_string()],
        "head -c 2000000 /dev/zero > /sdcard/big",
    );
    assert_ne!(full.status.code(), Some(0));
    assert!(stderr(&full).contains("No space left"), "{}", stderr(&full));
    // Changes to a capacity-limited storage stay off the host folder.
    assert!(!phone.storage.join("big").exists());
}

#[test]
fn denied_paths_answer_permission_denied() {
    let phone = Phone::new();
    let args = ["--fault", "deny=/sdcard/DCIM/Secret*"];
    let denied = phone.run(&args, "cat /sdcard/DCIM/Secret/x.jpg");
    assert_eq!(denied.status.code(), Some(1));
    assert!(denied.stdout.is_empty());
    assert!(
        stderr(&denied).contains("Permission denied"),
        "{}",
        stderr(&denied)
    );
    let denied_alias = phone.run(&args, "ls /storage/emulated/0/DCIM/Secret");
    assert!(
        stderr(&denied_alias).contains("Permission denied"),
        "{}",
        stderr(&denied_alias)
    );
    let out = phone.ok(
        &args,
        "cat /sdcard/notes.txt && echo w > /sdcard/DCIM/w && cat /sdcard/DCIM/w",
    );
    assert_eq!(out, "hello from the phone\nw\n");
    assert_eq!(fs::read(phone.storage.join("DCIM/w")).unwrap(), b"w\n");
    // The host folder itself is untouched.
    assert_eq!(
        fs::read(phone.storage.join("DCIM/Secret/x.jpg")).unwrap(),
        b"secret bytes"
    );
}

/// Started by an unprivileged user, the handset enters a user namespace of its own and is
/// root there: it sees the storage, writes to it (files that belong to that user outside),
/// and deny faults still deny.
#[test]
fn runs_without_root_in_a_user_namespace() {
    let phone = Phone::new();
    // A copy in a folder anyone may enter, so an unprivileged user can start it wherever the
    // build lives; the storage becomes that user's, as a developer's own folder would be.
    let open_dir = phone.dir.path().join("bin");
    fs::create_dir(&open_dir).unwrap();
    let sim = open_dir.join("phonevault-sim");
    fs::copy(SIM, &sim).unwrap();
    for dir in [phone.dir.path(), open_dir.as_path()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Run by a developer without root, the test is already unprivileged.
    let as_root = nix_is_root();
    if as_root {
        let status = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&phone.storage)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut cmd = Command::new(&sim);
    if as_root {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd
        .args(["shell", "--storage"])
        .arg(&phone.storage)
        .args(["--fault", "deny=/sdcard/DCIM/Secret"])
        .args([
            "--",
            "id -u; cat /sdcard/notes.txt; echo w > /sdcard/DCIM/w; cat /sdcard/DCIM/Secret/x.jpg",
        ])
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "0\nhello from the phone\n",
        "stderr: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(1));
    let written = phone.storage.join("DCIM/w");
    assert_eq!(fs::read(&written).unwrap(), b"w\n");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&fs::metadata(&written).unwrap()),
        65534
    );
}

#[test]
fn deny_globs_reach_files_in_any_folder() {
    let phone = Phone::new();
    let args = ["--fault", "deny=/storage/emulated/0/**/*.txt"];
    let out = phone.run(
        &args,
        "cat /sdcard/notes.txt; echo rc=$?; cat /sdcard/DCIM/Secret/x.jpg; echo; ls /sdcard",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "rc=1\nsecret bytes\nDCIM\nnotes.txt\n"
    );
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
}

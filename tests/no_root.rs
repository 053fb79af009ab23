//! The simulated handset without root: `phonevault-sim serve` started as an unprivileged
//! user (uid 65534 through `setpriv` when the test runs as root, else the developer's own
//! user) enters a user namespace of its own, and the real adb server lists it and backs it
//! up byte-identical.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{assert_success, run_with_timeout, sim_bin, wait_timeout, TestEnv, COMMAND_TIMEOUT};

/// The unprivileged user the handset runs as when the test is root (`nobody` on Debian).
const NOBODY: u32 = 65534;

/// A handset process started by hand (the harness starts its handsets as the test's user);
/// killed on drop with everything it started.
struct UnprivilegedSim {
    child: Child,
}

impl Drop for UnprivilegedSim {
    fn drop(&mut self) {
        let orphans = descendants(self.child.id());
        let _ = self.child.kill();
        let _ = wait_timeout(&mut self.child, Duration::from_secs(10));
        for pid in orphans {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Every process below `root`, from /proc (the handset's shells run in their own groups).
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// The real uid of a process, from /proc (outside any user namespace it is in).
fn real_uid(pid: u32) -> u32 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("the sim's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("a Uid line")
}

fn is_root() -> bool {
    // `id -u` keeps the test free of unsafe libc calls.
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Makes `path` (and below) belong to the unprivileged user when the test is root.
fn give_away(path: &Path, as_root: bool) {
    if !as_root {
        return;
    }
    chown(path, Some(NOBODY), Some(NOBODY)).expect("chown to the unprivileged user");
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            give_away(&entry.unwrap().path(), as_root);
        }
    }
}

/// Starts `phonevault-sim serve` as an unprivileged user on `storage`; returns the process
/// and its port once it listens.
fn serve_unprivileged(
    env: &TestEnv,
    work: &Path,
    storage: &Path,
    as_root: bool,
) -> (UnprivilegedSim, u16) {
    // The sim binary may sit under a folder the unprivileged user cannot enter.
    let bin = work.join("phonevault-sim");
    fs::copy(sim_bin(), &bin).expect("copying phonevault-sim");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let log = work.join("sim.log");
    let mut cmd = if as_root {
        let mut c = env.command("setpriv");
        c.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
        ])
        .arg(&bin);
        c
    } else {
        env.command(&bin)
    };
    let mut child = cmd
        .arg("serve")
        .arg("--storage")
        .arg(storage)
        .args(["--port", "0", "--profile", "android-14"])
        .args(["--fault", "deny=/sdcard/Download/secret.txt"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting phonevault-sim (setpriv is in util-linux)");
    let stdout = child.stdout.take().unwrap();
    let sim = UnprivilegedSim { child };
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            panic!(
                "the unprivileged phonevault-sim never listened; its stderr:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            )
        });
    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
    (sim, port)
}

#[test]
fn unprivileged_handset_is_listed_and_backed_up_byte_identical() {
    let env = TestEnv::new();
    let as_root = is_root();
    // A folder every user may enter (the harness's temp dirs are private to the test's user).
    let work = tempfile::Builder::new()
        .prefix("phonevault-no-root-")
        .tempdir()
        .unwrap();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let storage = work.path().join("storage");
    let camera = storage.join("DCIM/Camera");
    fs::create_dir_all(&camera).unwrap();
    fs::create_dir_all(storage.join("Download")).unwrap();
    let photo: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "fixtures/camera-samples/Nikon_D70.jpg",
    ]
    .iter()
    .collect();
    let bytes = fs::read(&photo).unwrap();
    fs::write(camera.join("IMG_0001.jpg"), &bytes).unwrap();
    fs::write(storage.join("Download/secret.txt"), b"not for the shell").unwrap();
    give_away(&storage, as_root);

    let (sim, port) = serve_unprivileged(&env, work.path(), &storage, as_root);
    let expected_uid = if as_root {
        NOBODY
    } else {
        real_uid(std::process::id())
    };
    assert_eq!(
        real_uid(sim.child.id()),
        expected_uid,
        "the handset must run unprivileged"
    );

    let serial = format!("127.0.0.1:{port}");
    assert_success(&env.adb(&["connect", &serial]), "adb connect");
    let mut listed = String::new();
    for _ in 0..200 {
        listed = String::from_utf8_lossy(&env.adb(&["devices"]).stdout).into_owned();
        if listed
            .lines()
            .any(|l| l.split_whitespace().eq([serial.as_str(), "device"]))
        {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().eq([serial.as_str(), "device"])),
        "adb devices does not list {serial} as a device:\n{listed}"
    );

    // Inside its namespace the handset's shell is root, and a deny fault still denies.
    let id = env.adb(&[
        "-s",
        &serial,
        "shell",
        "id -u; cat /sdcard/Download/secret.txt",
    ]);
    let id_out = String::from_utf8_lossy(&id.stdout);
    assert!(id_out.starts_with("0\n"), "shell id: {id_out}");
    assert!(
        id_out.contains("Permission denied")
            || String::from_utf8_lossy(&id.stderr).contains("Permission denied"),
        "the denied file was readable: {id_out}"
    );
    assert!(!id_out.contains("not for the shell"), "{id_out}");

    let to = env.new_dir("backups");
    let out = env.phonevault(&["-s", &serial, "-q", "backup", "--to", to.to_str().unwrap()]);
    assert_success(&out, "backup of the unprivileged handset");
    let archive = fs::read_dir(&to)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "zip"))
        .unwrap_or_else(|| panic!("no archive in {}", to.display()));
    let unzip = run_with_timeout(
        Command::new("unzip")
            .arg("-p")
            .arg(&archive)
            .arg("gallery/DCIM/Camera/IMG_0001.jpg"),
        COMMAND_TIMEOUT,
    );
    assert_success(&unzip, "unzip -p");
    assert!(
        unzip.stdout == bytes,
        "the backed-up photo differs: {} bytes, expected {}",
        unzip.stdout.len(),
        bytes.len()
    );
    drop(sim);
}

/// Where the system forbids unprivileged user namespaces, the handset says so and how to fix
/// it, instead of failing on some mount. Forbidden here the way a limit does it: inside a
/// user namespace whose `user.max_user_namespaces` is 1, a nested namespace (the sim's
/// caller, uid 1000 there) is the one allowed, so the sim's own `unshare` is refused.
#[test]
fn forbidden_user_namespaces_give_a_clear_message() {
    let work = tempfile::Builder::new()
        .prefix("phonevault-no-userns-")
        .tempdir()
        .unwrap();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let bin = work.path().join("phonevault-sim");
    fs::copy(sim_bin(), &bin).expect("copying phonevault-sim");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let storage = work.path().join("storage");
    fs::create_dir(&storage).unwrap();
    let script = "echo 1 > /proc/sys/user/max_user_namespaces && \
                  exec unshare --user --map-user=1000 --map-group=1000 \"$0\" shell --storage \"$1\" -- id";
    let out = run_with_timeout(
        Command::new("unshare")
            .args(["--user", "--map-root-user", "sh", "-c", script])
            .arg(&bin)
            .arg(&storage)
            .env("RUST_BACKTRACE", "0"),
        COMMAND_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    for words in [
        "not running as root",
        "unprivileged user namespace, which this system forbids",
        "user.max_user_namespaces limit is reached",
        "or run phonevault-sim as root",
    ] {
        assert!(stderr.contains(words), "no {words:?} in: {stderr}");
    }
    assert!(out.stdout.is_empty(), "the command ran: {:?}", out.stdout);
}

//! Shared test harness: `TestEnv` gives each test a private adb server (its own port), temp
//! dirs and simulated handsets (`phonevault-sim serve` processes), all stopped on drop, also
//! when the test panics. Every wait has a timeout, so no test hangs.
//!
//! ```ignore
//! let env = TestEnv::new();
//! let phone = env.start_handset(HandsetSpec::android14());
//! let out = phone.shell("echo hi");
//! let pulled = env.phonevault(&["ls", "--serial", phone.serial()]);
//! ```

// Every integration-test crate compiles this module and each uses a different part of it.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long one `adb` or `phonevault` call may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a handset may take to listen and to show up in `adb devices`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `phonevault-sim` binary: `$PHONEVAULT_SIM_BIN`, else built once per test process.
pub fn sim_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("PHONEVAULT_SIM_BIN") {
            let bin = PathBuf::from(bin);
            assert!(
                bin.is_file(),
                "PHONEVAULT_SIM_BIN={} is not a file",
                bin.display()
            );
            return bin;
        }
        // target/<profile>/deps/<test exe> -> target/<profile>/phonevault-sim
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test exe lives in target/<profile>/deps");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "-p", "phonevault-sim", "--bin", "phonevault-sim"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build
            .status()
            .expect("cannot run cargo to build phonevault-sim (set PHONEVAULT_SIM_BIN instead)");
        assert!(
            status.success(),
            "cargo build -p phonevault-sim failed ({status})"
        );
        let bin = profile_dir.join("phonevault-sim");
        assert!(
            bin.is_file(),
            "built phonevault-sim but it is not at {}",
            bin.display()
        );
        bin
    })
}

/// Where a handset's storage is, as its shell and sync see it.
pub const DEVICE_ROOT: &str = "/sdcard";

/// The device path of `rel` (relative to the storage), e.g. `DCIM/Camera/x.jpg`.
pub fn device_path(rel: &str) -> String {
    format!("{DEVICE_ROOT}/{}", rel.trim_start_matches('/'))
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// Runs `cmd` (stdin closed), failing the test when it does not finish within `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    try_run_with_timeout(cmd, timeout)
        .unwrap_or_else(|| panic!("{what} did not finish within {timeout:?}"))
}

/// Runs `cmd` (stdin closed); `None` (after killing it) when it outlives `timeout`.
pub fn try_run_with_timeout(cmd: &mut Command, timeout: Duration) -> Option<Output> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = wait_timeout(&mut child, timeout);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    };
    Some(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Waits for a child up to `timeout`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// What `phonevault-sim populate` should generate.
#[derive(Debug, Clone)]
pub struct Populate {
    pub photos: u32,
    /// Camera photo sizes, `MIN-MAX` (e.g. `1M-2M`); the generator's small default when `None`.
    pub photo_size: Option<&'static str>,
    pub videos: u32,
    pub whatsapp: u32,
    pub huge: bool,
    pub seed: u64,
}

impl Default for Populate {
    fn default() -> Self {
        Populate {
            photos: 20,
            photo_size: None,
            videos: 3,
            whatsapp: 20,
            huge: false,
            seed: 1,
        }
    }
}

/// How to start a handset.
#[derive(Debug, Clone)]
pub struct HandsetSpec {
    pub profile: String,
    /// Use this folder as the storage instead of a fresh empty one.
    pub storage: Option<PathBuf>,
    /// Fill the storage with `phonevault-sim populate` first (writes the truth file).
    pub populate: Option<Populate>,
    /// Extra `serve` flags.
    pub args: Vec<String>,
    pub unauthorized: bool,
}

impl HandsetSpec {
    pub fn new(profile: &str) -> Self {
        HandsetSpec {
            profile: profile.to_string(),
            storage: None,
            populate: None,
            args: Vec::new(),
            unauthorized: false,
        }
    }

    pub fn android14() -> Self {
        Self::new("android-14")
    }

    pub fn android10() -> Self {
        Self::new("android-10")
    }

    #[must_use]
    pub fn storage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = Some(dir.into());
        self
    }

    #[must_use]
    pub fn populate(mut self, populate: Populate) -> Self {
        self.populate = Some(populate);
        self
    }

    #[must_use]
    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        self.args.push(flag.to_string());
        self.args.push(value.to_string());
        self
    }

    /// `disconnect-after=BYTES`, `stall-after=BYTES`, `deny=GLOB`.
    #[must_use]
    pub fn fault(self, fault: &str) -> Self {
        self.arg("--fault", fault)
    }

    /// `usb2`, `usb3` or `unlimited`.
    #[must_use]
    pub fn link(self, link: &str) -> Self {
        self.arg("--link", link)
    }

    #[must_use]
    pub fn capacity(self, bytes: u64) -> Self {
        self.arg("--capacity", &bytes.to_string())
    }

    /// Advertised features; `""` makes a v1-only handset.
    #[must_use]
    pub fn features(self, features: &str) -> Self {
        self.arg("--features", features)
    }

    #[must_use]
    pub fn serial(self, serial: &str) -> Self {
        self.arg("--serial", serial)
    }

    #[must_use]
    pub fn model(self, model: &str) -> Self {
        self.arg("--model", model)
    }

    #[must_use]
    pub fn manufacturer(self, manufacturer: &str) -> Self {
        self.arg("--manufacturer", manufacturer)
    }

    #[must_use]
    pub fn unauthorized(mut self) -> Self {
        self.unauthorized = true;
        self.args.push("--unauthorized".into());
        self
    }
}

/// What handsets need from their `TestEnv` (so a handset can restart itself).
#[derive(Debug, Clone)]
struct Ctx {
    adb_port: u16,
    home: PathBuf,
}

impl Ctx {
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("ANDROID_ADB_SERVER_PORT", self.adb_port.to_string())
            .env("TZ", "UTC")
            .env("HOME", &self.home)
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env_remove("ANDROID_SERIAL")
            .env_remove("ADB_VENDOR_KEYS");
        cmd
    }

    fn adb(&self, args: &[&str]) -> Output {
        run_with_timeout(self.command("adb").args(args), COMMAND_TIMEOUT)
    }

    /// Waits until `adb devices` shows `serial` in `state`.
    fn wait_for_state(&self, serial: &str, state: &str) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            let out = self.adb(&["devices"]);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            let found = last.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(serial) && words.next() == Some(state)
            });
            if found {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("adb never listed {serial} as {state} within {START_TIMEOUT:?}; last list:\n{last}");
    }
}

type SimSlot = Arc<Mutex<Option<Child>>>;

/// One test's world: a private adb server, temp dirs, handsets.
pub struct TestEnv {
    dir: tempfile::TempDir,
    ctx: Ctx,
    sims: Mutex<Vec<SimSlot>>,
    handsets: AtomicUsize,
}

impl TestEnv {
    /// Starts a private adb server on a free port.
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("phonevault-test-")
            .tempdir()
            .expect("a temp dir");
        let home = dir.path().join("home");
        fs::create_dir_all(&home).expect("a home dir for adb");
        let env = TestEnv {
            ctx: Ctx {
                adb_port: free_port(),
                home,
            },
            dir,
            sims: Mutex::new(Vec::new()),
            handsets: AtomicUsize::new(0),
        };
        let out = env.adb(&["start-server"]);
        assert!(
            out.status.success(),
            "adb start-server on port {} failed: {}",
            env.ctx.adb_port,
            String::from_utf8_lossy(&out.stderr)
        );
        env
    }

    /// The private adb server's port (`ANDROID_ADB_SERVER_PORT` for children).
    pub fn server_port(&self) -> u16 {
        self.ctx.adb_port
    }

    /// The private home folder the test's commands run with.
    pub fn home(&self) -> &Path {
        &self.ctx.home
    }

    /// A temp folder of this test (removed on drop).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh empty folder under the test's temp dir.
    pub fn new_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::create_dir_all(&p).expect("a temp folder");
        p
    }

    /// A command with the test's environment (adb port, TZ=UTC, private HOME).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.ctx.command(program)
    }

    /// Runs the real `adb` against the private server.
    pub fn adb(&self, args: &[&str]) -> Output {
        self.ctx.adb(args)
    }

    /// Runs `adb`; `None` (after killing it) when it outlives `timeout`.
    pub fn adb_timeout(&self, args: &[&str], timeout: Duration) -> Option<Output> {
        try_run_with_timeout(self.command("adb").args(args), timeout)
    }

    /// Runs our binary against the private server.
    pub fn phonevault(&self, args: &[&str]) -> Output {
        run_with_timeout(
            self.command(env!("CARGO_BIN_EXE_phonevault")).args(args),
            COMMAND_TIMEOUT,
        )
    }

    /// Runs our binary; `None` (after killing it) when it outlives `timeout`.
    pub fn phonevault_timeout(&self, args: &[&str], timeout: Duration) -> Option<Output> {
        try_run_with_timeout(
            self.command(env!("CARGO_BIN_EXE_phonevault")).args(args),
            timeout,
        )
    }

    /// Starts a handset, `adb connect`s it and waits until adb lists it (`device`, or
    /// `unauthorized` when the spec asks for that).
    pub fn start_handset(&self, spec: HandsetSpec) -> Handset {
        let n = self.handsets.fetch_add(1, Ordering::SeqCst);
        let dir = self.dir.path().join(format!("handset{n}"));
        fs::create_dir_all(&dir).expect("a handset dir");
        let storage = spec.storage.clone().unwrap_or_else(|| dir.join("storage"));
        let slot: SimSlot = Arc::new(Mutex::new(None));
        self.sims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::clone(&slot));
        let mut handset = Handset {
            ctx: self.ctx.clone(),
            dir,
            storage,
            port: 0,
            slot,
            spec,
        };
        handset.launch(0);
        handset
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for slot in self
            .sims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            stop_slot(slot);
        }
        let _ = try_run_with_timeout(
            self.command("adb").arg("kill-server"),
            Duration::from_secs(10),
        );
    }
}

fn stop_slot(slot: &SimSlot) {
    let mut guard = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(mut child) = guard.take() {
        // Commands the sim runs live in their own process groups and would outlive it. They
        // are killed while the sim is stopped: it cannot reap them meanwhile, so no pid
        // listed can have been freed and given to another test's process.
        let sim = child.id().to_string();
        let signal = |signal: &str, pids: &[String]| {
            let _ = try_run_with_timeout(
                Command::new("kill").arg(signal).args(pids),
                Duration::from_secs(10),
            );
        };
        signal("-STOP", std::slice::from_ref(&sim));
        let orphans: Vec<String> = descendants(child.id()).iter().map(u32::to_string).collect();
        if !orphans.is_empty() {
            signal("-KILL", &orphans);
        }
        let _ = child.kill();
        let _ = wait_timeout(&mut child, Duration::from_secs(10));
    }
}

/// Every process below `root`, from /proc.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// The command lines of every process below `root` (the simulated handset runs phone
/// commands as its descendants), NULs as spaces.
pub fn descendant_cmdlines(root: u32) -> Vec<String> {
    descendants(root)
        .into_iter()
        .filter_map(|pid| fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .collect()
}

/// A running simulated handset.
pub struct Handset {
    ctx: Ctx,
    dir: PathBuf,
    storage: PathBuf,
    port: u16,
    slot: SimSlot,
    spec: HandsetSpec,
}

impl Handset {
    /// What the handset was (last) started with.
    pub fn spec(&self) -> &HandsetSpec {
        &self.spec
    }

    /// The adb serial, `127.0.0.1:PORT`.
    pub fn serial(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host folder that is the handset's `/sdcard` (bind-mounted: changes show on both
    /// sides). With a capacity the handset runs on a tmpfs copy of it made at start, so
    /// later changes on either side stay unseen by the other.
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// The handset's own temp folder (stats, scan log, truth file, sim log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats_path(&self) -> PathBuf {
        self.dir.join("stats.json")
    }

    /// The sim's counters (`--stats`), as last written.
    pub fn stats(&self) -> serde_json::Value {
        let path = self.stats_path();
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("bad stats JSON in {}: {e}: {text}", path.display()))
    }

    /// The media-scan requests `am`/`content` logged on the handset (empty when none).
    pub fn scan_log(&self) -> String {
        fs::read_to_string(self.dir.join("scan.log")).unwrap_or_default()
    }

    pub fn truth_path(&self) -> PathBuf {
        self.dir.join("truth.json")
    }

    /// The populate truth file (panics when the spec had no populate).
    pub fn truth(&self) -> serde_json::Value {
        let path = self.truth_path();
        let text = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the truth file {} (start the handset with populate): {e}",
                path.display()
            )
        });
        serde_json::from_str(&text).expect("truth JSON")
    }

    /// What the sim printed on stderr so far (all runs of it).
    pub fn sim_log(&self) -> String {
        fs::read_to_string(self.dir.join("sim.log")).unwrap_or_default()
    }

    /// `adb -s SERIAL shell CMD` through the real adb.
    pub fn shell(&self, cmd: &str) -> Output {
        self.ctx.adb(&["-s", &self.serial(), "shell", cmd])
    }

    /// `adb -s SERIAL ARGS...`.
    pub fn adb(&self, args: &[&str]) -> Output {
        let serial = self.serial();
        let mut all = vec!["-s", serial.as_str()];
        all.extend_from_slice(args);
        self.ctx.adb(&all)
    }

    /// The sim's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(Child::id)
    }

    /// Whether the sim process still runs (false after a `disconnect-after` fault fired).
    pub fn is_running(&self) -> bool {
        let mut guard = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits for the sim process to end by itself; its status, or `None` on timeout.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut guard = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.as_mut().and_then(|c| wait_timeout(c, timeout))
    }

    /// Kills the sim (the phone is unplugged); `restart` brings it back.
    pub fn stop(&self) {
        stop_slot(&self.slot);
    }

    /// Stops the sim if it runs and starts a new one on the same port and storage (unless
    /// the spec names another storage), then reconnects adb.
    pub fn restart(&mut self, spec: HandsetSpec) {
        self.stop();
        let _ = self.ctx.adb(&["disconnect", &self.serial()]);
        if let Some(s) = &spec.storage {
            self.storage.clone_from(s);
        }
        self.spec = spec;
        let port = self.port;
        self.launch(port);
    }

    fn launch(&mut self, port: u16) {
        let spec = self.spec.clone();
        fs::create_dir_all(&self.storage).expect("the handset's storage dir");
        if let Some(p) = &spec.populate {
            let out = run_with_timeout(
                self.ctx
                    .command(sim_bin())
                    .arg("populate")
                    .arg(&self.storage)
                    .args(["--profile", &spec.profile])
                    .args(["--photos", &p.photos.to_string()])
                    .args(["--videos", &p.videos.to_string()])
                    .args(["--whatsapp", &p.whatsapp.to_string()])
                    .args(["--seed", &p.seed.to_string()])
                    .args(if p.huge { &["--huge"][..] } else { &[][..] })
                    .args(p.photo_size.map(|s| ["--photo-size", s]).iter().flatten())
                    .arg("--truth")
                    .arg(self.truth_path()),
                COMMAND_TIMEOUT,
            );
            assert!(
                out.status.success(),
                "phonevault-sim populate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("sim.log"))
            .expect("the sim log");
        let mut child = self
            .ctx
            .command(sim_bin())
            .arg("serve")
            .arg("--storage")
            .arg(&self.storage)
            .args(["--port", &port.to_string()])
            .args(["--profile", &spec.profile])
            .arg("--stats")
            .arg(self.stats_path())
            .arg("--scan-log")
            .arg(self.dir.join("scan.log"))
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", sim_bin().display()));
        let stdout = child.stdout.take().expect("piped stdout");
        *self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(child);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
            self.stop();
            panic!(
                "phonevault-sim serve did not print `listening on` within {START_TIMEOUT:?}; its stderr:\n{}",
                self.sim_log()
            )
        });
        self.port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad listening address {addr:?}"));
        let serial = self.serial();
        let out = self.ctx.adb(&["connect", &serial]);
        assert!(
            out.status.success(),
            "adb connect {serial} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let state = if spec.unauthorized {
            "unauthorized"
        } else {
            "device"
        };
        self.ctx.wait_for_state(&serial, state);
    }
}

impl Drop for Handset {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Panics with the command's output unless it exited 0.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The command's stdout as JSON; panics with the output when it is not.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A tmpfs of `bytes` on a fresh folder of the test (the tests run as root): a disk that fills
/// up on cue, or one that frees its files at once. Lazily unmounted on drop, also when the
/// test panics.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(env: &TestEnv, name: &str, bytes: u64) -> Tmpfs {
        let dir = env.new_dir(name);
        let out = env
            .command("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes}"))
            .arg("tmpfs")
            .arg(&dir)
            .output()
            .expect("mount");
        assert_success(&out, "mount a tmpfs (the tests run as root)");
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Bytes that differ per seed and do not compress (so the writer stores them as they are).
pub fn bytes_of(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

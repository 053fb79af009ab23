//! The benchmark's handsets: sample phones made by `phonevault-sim populate` (or by hand for the
//! huge file and the empty phone), served by `phonevault-sim serve` and attached to a private
//! adb server.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde_json::Value;

use crate::cleanup;
use crate::measure::{first_line, tidy};

/// Where Gallery and WhatsApp media live on the phone (the shared catalog contract).
pub const MEDIA_ROOTS: [&str; 7] = [
    "DCIM",
    "Pictures",
    "Movies",
    "WhatsApp",
    "WhatsApp Business",
    "Android/media/com.whatsapp/WhatsApp",
    "Android/media/com.whatsapp.w4b/WhatsApp Business",
];

/// A private adb server on a port of its own, stopped on drop.
#[derive(Debug)]
pub struct AdbServer {
    pub program: PathBuf,
    pub port: u16,
}

impl AdbServer {
    /// Starts `adb start-server` on a free port.
    pub fn start(program: &Path) -> Result<AdbServer, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for the adb server: {e}"))?
            .port();
        let server = AdbServer {
            program: program.to_owned(),
            port,
        };
        cleanup::set_adb(program.to_owned(), port);
        let out = server
            .command()
            .arg("start-server")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if !out.status.success() {
            return Err(format!(
                "adb start-server failed: {}",
                first_line(&String::from_utf8_lossy(&out.stderr)).unwrap_or_default()
            ));
        }
        Ok(server)
    }

    /// An `adb` command talking to this server.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .env("ANDROID_ADB_SERVER_PORT", self.port.to_string())
            .env_remove("ANDROID_SERIAL")
            .stdin(Stdio::null());
        command
    }

    fn output(&self, args: &[&str]) -> String {
        match self.command().args(args).output() {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(err) => format!("cannot run adb: {err}"),
        }
    }
}

impl Drop for AdbServer {
    fn drop(&mut self) {
        let _ = self
            .command()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        cleanup::clear_adb();
    }
}

/// Counters the simulated handset keeps in its `--stats` file.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub sent: u64,
    pub received: u64,
    pub raw: Value,
}

/// One running `phonevault-sim serve`, attached to the adb server; stopped on drop.
#[derive(Debug)]
pub struct Sim<'a> {
    adb: &'a AdbServer,
    child: Child,
    pub serial: String,
    stats: PathBuf,
    /// How it was started, to start it again (see [`Sim::revive`]).
    bin: PathBuf,
    storage: PathBuf,
    link: String,
    logs: PathBuf,
    log: PathBuf,
    stopped: bool,
}

impl<'a> Sim<'a> {
    /// Serves `storage` over `link` and waits until adb lists it as `device`.
    pub fn start(
        adb: &'a AdbServer,
        sim: &Path,
        storage: &Path,
        link: &str,
        logs: &Path,
    ) -> Result<Sim<'a>, String> {
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let stats = logs.join(format!("sim-{stamp}.stats.json"));
        let log_path = logs.join(format!("sim-{stamp}.log"));
        let log = File::create(&log_path).map_err(|e| format!("cannot write the sim log: {e}"))?;
        let mut child = Command::new(sim)
            .arg("serve")
            .arg("--storage")
            .arg(storage)
            .args(["--port", "0", "--profile", "android-14", "--link", link])
            .arg("--stats")
            .arg(&stats)
            .env("ANDROID_ADB_SERVER_PORT", adb.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", sim.display()))?;
        cleanup::add_group(child.id());
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(addr) = line.trim().strip_prefix("listening on ") {
                        let _ = tx.send(addr.to_owned());
                        sent = true;
                    }
                }
            }
        });
        let mut handset = Sim {
            adb,
            child,
            serial: String::new(),
            stats,
            bin: sim.to_owned(),
            storage: storage.to_owned(),
            link: link.to_owned(),
            logs: logs.to_owned(),
            log: log_path.clone(),
            stopped: false,
        };
        let fail = |handset: &mut Sim, why: String| {
            handset.stop();
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            match first_line(&log) {
                Some(line) => format!("{why}: {line}"),
                None => why,
            }
        };
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(60)) else {
            let why = if matches!(handset.child.try_wait(), Ok(Some(_))) {
                "handset failed to start".to_owned()
            } else {
                "handset did not say `listening on` within 60 s".to_owned()
            };
            return Err(fail(&mut handset, why));
        };
        handset.serial.clone_from(&addr);
        let said = adb.output(&["connect", &addr]);
        if !said.contains("connected to") {
            return Err(fail(
                &mut handset,
                format!("adb connect {addr}: {}", tidy(said.trim(), 100)),
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = adb.output(&["-s", &addr, "get-state"]);
            if state.trim() == "device" {
                break;
            }
            if Instant::now() > deadline {
                let why = format!(
                    "handset {addr} is `{}`, not `device`",
                    tidy(state.trim(), 80)
                );
                return Err(fail(&mut handset, why));
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(handset)
    }

    /// The handset's counters once they stop moving (the file is rewritten as it serves, and
    /// the last reply may still be on its way when our command has exited).
    pub fn stats(&self) -> Option<Stats> {
        let read = || -> Option<Stats> {
            let raw: Value = serde_json::from_slice(&fs::read(&self.stats).ok()?).ok()?;
            Some(Stats {
                sent: raw.get("bytes_sent")?.as_u64()?,
                received: raw.get("bytes_received")?.as_u64()?,
                raw,
            })
        };
        let mut last = None;
        for _ in 0..20 {
            let now = read();
            if let (Some(a), Some(b)) = (&last, &now) {
                let (a, b): (&Stats, &Stats) = (a, b);
                if a.sent == b.sent && a.received == b.received {
                    return now;
                }
            }
            if now.is_some() {
                last = now;
            }
            thread::sleep(Duration::from_millis(150));
        }
        last
    }

    /// After a failed run: when the handset died or adb no longer lists it as `device`, starts
    /// it again (new port, new serial) and says what happened, so one crash costs one run and
    /// not the rest of the row. `Ok(None)` when the handset is fine (the failure was ours).
    ///
    /// # Errors
    /// When it cannot be started again.
    pub fn revive(&mut self) -> Result<Option<String>, String> {
        let exited = self.child.try_wait().ok().flatten();
        let state = self.adb.output(&["-s", &self.serial, "get-state"]);
        if exited.is_none() && state.trim() == "device" {
            return Ok(None);
        }
        // The exit status names a SIGKILL, which the handset cannot log; its log's last
        // lines say which connection ended and why, or who sent a SIGTERM.
        let mut why = match exited {
            Some(status) => format!("the handset exited ({status})"),
            None => format!("adb saw the handset as `{}`", tidy(state.trim(), 80)),
        };
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let last: Vec<&str> = log
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .rev()
            .take(2)
            .collect();
        if last.is_empty() {
            why = format!("{why}; its log is empty");
        } else {
            let last: Vec<&str> = last.into_iter().rev().collect();
            why = format!("{why}; its log ends: {}", tidy(&last.join(" / "), 300));
        }
        self.stop();
        let fresh = Sim::start(self.adb, &self.bin, &self.storage, &self.link, &self.logs)?;
        *self = fresh;
        Ok(Some(why))
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if !self.serial.is_empty() {
            let _ = self.adb.output(&["disconnect", &self.serial]);
        }
        let pid = self.child.id();
        cleanup::signal_group(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut exited = false;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                exited = true;
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        // Only while it has not been reaped: once reaped, its pid (and group id) may already
        // belong to another process on a busy machine (pid_max 32768 wraps in minutes).
        if !exited {
            cleanup::signal_group(pid, Signal::SIGKILL);
        }
        let _ = self.child.wait();
        cleanup::remove_group(pid);
    }
}

impl Drop for Sim<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How `phonevault-sim populate` is asked to fill a phone.
#[derive(Debug, Clone)]
pub struct PhoneSpec {
    pub photos: u64,
    pub videos: u64,
    pub whatsapp: u64,
    pub photo_size: String,
    pub video_size: String,
    pub whatsapp_size: String,
    pub seed: u64,
}

impl PhoneSpec {
    pub fn describe(&self) -> String {
        format!(
            "--photos {} --videos {} --whatsapp {} --photo-size {} --video-size {} --whatsapp-size {} --seed {}",
            self.photos,
            self.videos,
            self.whatsapp,
            self.photo_size,
            self.video_size,
            self.whatsapp_size,
            self.seed
        )
    }
}

/// One record of the truth file (only the fields the benchmark needs).
#[derive(Debug, Clone, Deserialize)]
pub struct Truth {
    pub path: String,
    pub size: u64,
    pub include: bool,
    pub kind: Option<String>,
    /// `gallery`, `whatsapp` or `whatsapp-business` for catalogued files.
    #[serde(default)]
    pub source: Option<String>,
    /// Whether the generator wrote an EXIF thumbnail into this JPEG (`None`: not a JPEG).
    #[serde(default)]
    pub exif_thumbnail: Option<bool>,
}

/// A phone's storage on the host, with what the generator says it holds.
#[derive(Debug, Clone)]
pub struct Phone {
    pub dir: PathBuf,
    pub truth: Vec<Truth>,
    pub spec: Option<PhoneSpec>,
}

impl Phone {
    pub fn files(&self) -> usize {
        self.truth.len()
    }

    pub fn bytes(&self) -> u64 {
        self.truth.iter().map(|t| t.size).sum()
    }

    pub fn included(&self) -> impl Iterator<Item = &Truth> {
        self.truth.iter().filter(|t| t.include)
    }

    /// Files under the Gallery and WhatsApp folders, whether the catalog takes them or not.
    pub fn files_under_media_roots(&self) -> usize {
        self.truth
            .iter()
            .filter(|t| {
                MEDIA_ROOTS.iter().any(|root| {
                    t.path
                        .strip_prefix("/sdcard/")
                        .and_then(|rest| rest.strip_prefix(root))
                        .is_some_and(|rest| rest.starts_with('/'))
                })
            })
            .count()
    }

    /// The media folders this phone has, as device paths.
    pub fn media_roots(&self) -> Vec<String> {
        MEDIA_ROOTS
            .iter()
            .filter(|root| self.dir.join(root).is_dir())
            .map(|root| format!("/sdcard/{root}"))
            .collect()
    }

    /// A one-line summary for the report.
    pub fn summary(&self) -> String {
        let included: Vec<&Truth> = self.included().collect();
        format!(
            "{} file{}, {}; {} catalogued items, {}",
            self.files(),
            if self.files() == 1 { "" } else { "s" },
            crate::report::bytes(self.bytes()),
            included.len(),
            crate::report::bytes(included.iter().map(|t| t.size).sum())
        )
    }
}

/// Runs the generator into `dir` (which must not exist yet).
pub fn populate(sim: &Path, dir: &Path, spec: &PhoneSpec) -> Result<Phone, String> {
    let truth = dir.with_extension("truth.json");
    let out = Command::new(sim)
        .arg("populate")
        .arg(dir)
        .args(["--profile", "android-14"])
        .args(["--photos", &spec.photos.to_string()])
        .args(["--videos", &spec.videos.to_string()])
        .args(["--whatsapp", &spec.whatsapp.to_string()])
        .args(["--photo-size", &spec.photo_size])
        .args(["--video-size", &spec.video_size])
        .args(["--whatsapp-size", &spec.whatsapp_size])
        .args(["--seed", &spec.seed.to_string()])
        .arg("--truth")
        .arg(&truth)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sim.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "populate failed: {}",
            first_line(&stderr).unwrap_or_else(|| format!("{}", out.status))
        ));
    }
    let records: Vec<Truth> = fs::read(&truth)
        .map_err(|e| format!("populate wrote no truth file: {e}"))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| format!("unreadable truth file: {e}"))
        })?;
    Ok(Phone {
        dir: dir.to_owned(),
        truth: records,
        spec: Some(spec.clone()),
    })
}

/// Finds `--photos N --whatsapp N` (same N) so that `count` of the phone is about `target`.
///
/// The generator adds extras in proportion to N (screenshots, WhatsApp Business, documents)
/// and a fixed set of awkward and left-out files, so the count is close to `a * N + b`: two
/// small phones give `a` and `b`. This keeps the B3 and B6 phones at the sizes however
/// the generator's mix changes.
pub fn calibrate(
    sim: &Path,
    scratch: &Path,
    template: &PhoneSpec,
    target: usize,
    count: fn(&Phone) -> usize,
) -> Result<PhoneSpec, String> {
    let probe = |n: u64| -> Result<usize, String> {
        let dir = scratch.join(format!("calibrate-{n}-{}", template.seed));
        let spec = PhoneSpec {
            photos: n,
            whatsapp: n,
            ..template.clone()
        };
        let phone = populate(sim, &dir, &spec)?;
        let c = count(&phone);
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_file(dir.with_extension("truth.json"));
        Ok(c)
    };
    let (n1, n2) = (20_u64, 60_u64);
    let (c1, c2) = (probe(n1)?, probe(n2)?);
    let per = (c2 as f64 - c1 as f64) / (n2 - n1) as f64;
    if per <= 0.0 {
        return Err(format!(
            "populate does not grow with --photos/--whatsapp ({c1} then {c2} files)"
        ));
    }
    let fixed = c1 as f64 - per * n1 as f64;
    let n = ((target as f64 - fixed) / per).round().max(1.0);
    #[allow(clippy::cast_sign_loss)]
    let n = n as u64;
    Ok(PhoneSpec {
        photos: n,
        whatsapp: n,
        ..template.clone()
    })
}

/// A phone holding one video of `size` bytes: an MP4 `ftyp` box and an `mdat` box spanning the
/// rest, left sparse so that it costs no disk.
pub fn huge_phone(dir: &Path, size: u64) -> Result<Phone, String> {
    let rel = "DCIM/Camera/VID_20240615_103000.mp4";
    let path = dir.join(rel);
    let make = || -> std::io::Result<()> {
        fs::create_dir_all(path.parent().expect("has a parent"))?;
        let mut file = File::create(&path)?;
        let mut head = Vec::new();
        head.extend_from_slice(&24_u32.to_be_bytes());
        head.extend_from_slice(b"ftypisom");
        head.extend_from_slice(&0x200_u32.to_be_bytes());
        head.extend_from_slice(b"isommp42");
        // A 64-bit `mdat` size (`size` field 1) so the box may pass 4 GiB.
        head.extend_from_slice(&1_u32.to_be_bytes());
        head.extend_from_slice(b"mdat");
        head.extend_from_slice(&(size - 24).to_be_bytes());
        file.write_all(&head)?;
        file.set_len(size)?;
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_718_447_400);
        file.set_times(fs::FileTimes::new().set_modified(mtime))?;
        Ok(())
    };
    make().map_err(|e| format!("cannot make the {size}-byte file: {e}"))?;
    Ok(Phone {
        dir: dir.to_owned(),
        truth: vec![Truth {
            path: format!("/sdcard/{rel}"),
            size,
            include: true,
            kind: Some("video".to_owned()),
            source: Some("gallery".to_owned()),
            exif_thumbnail: None,
        }],
        spec: None,
    })
}

/// Empties `dir` and gives it the folders a new phone has.
pub fn reset_empty_phone(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot empty {}: {e}", dir.display()))?;
    }
    for sub in [
        "Alarms",
        "DCIM",
        "Documents",
        "Download",
        "Movies",
        "Music",
        "Notifications",
        "Pictures",
        "Podcasts",
        "Ringtones",
        "Android/media",
    ] {
        fs::create_dir_all(dir.join(sub))
            .map_err(|e| format!("cannot make {}: {e}", dir.join(sub).display()))?;
    }
    Ok(())
}

/// Makes `stage` hold hard links to the phone's catalogued files at their phone paths, so a
/// peer can push exactly what a backup holds.
pub fn stage_included(phone: &Phone, stage: &Path) -> Result<(), String> {
    for t in phone.included() {
        let rel = t
            .path
            .strip_prefix("/sdcard/")
            .ok_or_else(|| format!("truth path outside /sdcard: {}", t.path))?;
        let from = phone.dir.join(rel);
        let to = stage.join(rel);
        fs::create_dir_all(to.parent().expect("has a parent"))
            .and_then(|()| fs::hard_link(&from, &to).or_else(|_| fs::copy(&from, &to).map(drop)))
            .map_err(|e| format!("cannot stage {}: {e}", from.display()))?;
    }
    Ok(())
}

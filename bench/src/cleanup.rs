//! What must go away when the benchmark is interrupted: the process groups it started (the
//! simulated handsets, the measuring wrappers), its private adb server and its temp folder.
//!
//! Every child is started in a process group of its own, so a Ctrl-C at the terminal reaches
//! only the benchmark; the handler then ends each group it knows, stops the adb server and
//! removes the data (which may be many gigabytes).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

#[derive(Debug)]
struct Live {
    groups: Vec<u32>,
    adb: Option<(PathBuf, u16)>,
    workdir: Option<PathBuf>,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    groups: Vec::new(),
    adb: None,
    workdir: None,
});

fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn add_group(pid: u32) {
    live().groups.push(pid);
}

pub fn remove_group(pid: u32) {
    live().groups.retain(|&p| p != pid);
}

pub fn set_adb(program: PathBuf, port: u16) {
    live().adb = Some((program, port));
}

pub fn clear_adb() {
    live().adb = None;
}

pub fn set_workdir(dir: PathBuf) {
    live().workdir = Some(dir);
}

/// Sends `signal` to the process group led by `pid`.
pub fn signal_group(pid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(raw), signal);
    }
}

/// Installs the Ctrl-C (and SIGTERM, SIGHUP) handler.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        eprintln!("bench: interrupted; stopping handsets and removing the data");
        let live = live();
        for &pid in &live.groups {
            signal_group(pid, Signal::SIGTERM);
        }
        thread::sleep(Duration::from_millis(500));
        for &pid in &live.groups {
            signal_group(pid, Signal::SIGKILL);
        }
        if let Some((program, port)) = &live.adb {
            let _ = Command::new(program)
                .arg("kill-server")
                .env("ANDROID_ADB_SERVER_PORT", port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(dir) = &live.workdir {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(130);
    })?;
    Ok(())
}

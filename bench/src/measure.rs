//! Timing and peak memory of one command.
//!
//! The benchmark re-runs its own binary as a small wrapper (`phonevault-bench measure-child`)
//! around each measured command: the wrapper has exactly one child, so
//! `getrusage(RUSAGE_CHILDREN)` after the wait is that command's peak RSS and nothing else's
//! (the benchmark itself also waits for the generator and the simulated handsets, which are
//! far larger). The wrapper also enforces the time limit, so a hung command cannot stall the
//! run.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::cleanup;

/// Arguments of the hidden `measure-child` subcommand.
#[derive(Debug, Args)]
pub struct ChildArgs {
    /// Kill the command after this many seconds.
    #[arg(long)]
    timeout: u64,
    /// Where to write the JSON report.
    #[arg(long)]
    report: PathBuf,
    #[arg(long)]
    stdout: PathBuf,
    #[arg(long)]
    stderr: PathBuf,
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// What the wrapper found out about its command.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    secs: f64,
    max_rss_kib: i64,
    /// User and system CPU seconds of the command (and the children it waited for).
    #[serde(default)]
    cpu_secs: f64,
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    spawn_error: Option<String>,
}

/// The wrapper: runs the command, waits, writes the report. Its exit status is 0 whenever the
/// report was written, whatever the command did.
pub fn child_main(args: &ChildArgs) -> anyhow::Result<()> {
    let stdout = File::create(&args.stdout)?;
    let stderr = File::create(&args.stderr)?;
    let start = Instant::now();
    let spawned = Command::new(&args.command[0])
        .args(&args.command[1..])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            let report = Report {
                secs: 0.0,
                max_rss_kib: 0,
                cpu_secs: 0.0,
                code: None,
                signal: None,
                timed_out: false,
                spawn_error: Some(format!(
                    "cannot start {}: {err}",
                    Path::new(&args.command[0]).display()
                )),
            };
            fs::write(&args.report, serde_json::to_vec(&report)?)?;
            return Ok(());
        }
    };
    let pid = Pid::from_raw(i32::try_from(child.id())?);
    // The command stays in this wrapper's process group, which the benchmark ends on Ctrl-C.
    let (done, wait_done) = mpsc::channel::<()>();
    let limit = Duration::from_secs(args.timeout);
    let watchdog = thread::spawn(move || {
        if wait_done.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
            let _ = kill(pid, Signal::SIGKILL);
            true
        } else {
            false
        }
    });
    let status = child.wait()?;
    let secs = start.elapsed().as_secs_f64();
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let report = Report {
        secs,
        max_rss_kib: usage.max_rss(),
        cpu_secs: seconds(usage.user_time()) + seconds(usage.system_time()),
        code: status.code(),
        signal: status.signal(),
        timed_out,
        spawn_error: None,
    };
    fs::write(&args.report, serde_json::to_vec(&report)?)?;
    Ok(())
}

/// One measured run, as the benchmark sees it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub secs: f64,
    /// Peak resident memory in bytes.
    pub max_rss: u64,
    /// User + system CPU seconds of the command.
    pub cpu_secs: f64,
    /// Why the run does not count, when it failed: a short line fit for a table cell.
    pub failure: Option<String>,
    pub stdout: PathBuf,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    pub fn stdout_text(&self) -> String {
        fs::read(&self.stdout)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// Runs commands through the wrapper, with the benchmark's environment, logging their output.
#[derive(Debug)]
pub struct Runner {
    exe: PathBuf,
    logs: PathBuf,
    counter: AtomicUsize,
    env: Vec<(OsString, OsString)>,
    pub timeout: Duration,
}

impl Runner {
    pub fn new(
        logs: PathBuf,
        env: Vec<(OsString, OsString)>,
        timeout: Duration,
    ) -> anyhow::Result<Runner> {
        fs::create_dir_all(&logs)?;
        Ok(Runner {
            exe: std::env::current_exe().context("finding the benchmark's own binary")?,
            logs,
            counter: AtomicUsize::new(0),
            env,
            timeout,
        })
    }

    /// Runs `program args` with the shared environment plus `extra_env`; never fails: a
    /// command that cannot start, fails or times out gives an `Outcome` with `failure` set.
    pub fn run(
        &self,
        label: &str,
        program: &Path,
        args: &[OsString],
        extra_env: &[(&str, &OsStr)],
    ) -> Outcome {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let base = self.logs.join(format!("{n:03}-{label}"));
        let stdout = base.with_extension("out");
        let stderr = base.with_extension("err");
        let report = base.with_extension("json");
        let mut command = Command::new(&self.exe);
        command
            .arg("measure-child")
            .arg("--timeout")
            .arg(self.timeout.as_secs().to_string())
            .arg("--report")
            .arg(&report)
            .arg("--stdout")
            .arg(&stdout)
            .arg("--stderr")
            .arg(&stderr)
            .arg("--")
            .arg(program)
            .args(args)
            .env_remove("ANDROID_SERIAL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .process_group(0);
        let failed = |why: String| Outcome {
            secs: 0.0,
            max_rss: 0,
            cpu_secs: 0.0,
            failure: Some(why),
            stdout: stdout.clone(),
        };
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => return failed(format!("cannot start the measuring wrapper: {err}")),
        };
        let pid = child.id();
        cleanup::add_group(pid);
        let status = child.wait();
        cleanup::remove_group(pid);
        if let Err(err) = status {
            return failed(format!("waiting for the measuring wrapper: {err}"));
        }
        let parsed: Option<Report> = fs::read(&report)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let Some(r) = parsed else {
            return failed("the measuring wrapper wrote no report".to_owned());
        };
        let failure = if let Some(err) = r.spawn_error {
            Some(err)
        } else if r.timed_out {
            Some(format!("timed out after {} s", self.timeout.as_secs()))
        } else if r.code == Some(0) {
            None
        } else {
            let text = fs::read(&stderr)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            Some(
                first_line(&text)
                    .or_else(|| summary_reason(&stdout))
                    .unwrap_or_else(|| match (r.code, r.signal) {
                        (Some(code), _) => format!("exit status {code}"),
                        (None, Some(signal)) => format!("killed by signal {signal}"),
                        (None, None) => "no exit status".to_owned(),
                    }),
            )
        };
        Outcome {
            secs: r.secs,
            max_rss: u64::try_from(r.max_rss_kib).unwrap_or(0) * 1024,
            cpu_secs: r.cpu_secs,
            failure,
            stdout,
        }
    }
}

/// Why a command that printed a JSON summary and nothing on standard error stopped (`phonevault
/// backup --json` exits 3 with `"stopped": "..."` when the handset goes away mid-run).
fn summary_reason(stdout: &Path) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&fs::read(stdout).ok()?).ok()?;
    let stopped = value.get("stopped")?.as_str()?;
    Some(tidy(&format!("stopped: {stopped}"), 160))
}

/// The line of a command's standard error that says what went wrong, short enough for a table
/// cell. A Rust panic spreads its message over two lines (`thread 'main' panicked at FILE:` and
/// then the message), so those are joined.
pub fn first_line(text: &str) -> Option<String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    // `thread 'main' (1234) panicked at FILE:` (newer Rust adds the thread id): the id
    // changes every run, the place and the message are what matter.
    let line = match first.find("panicked at ") {
        Some(at) if first.starts_with("thread '") => {
            let place = &first[at..];
            match lines.next() {
                Some(next) => format!("{place} {next}"),
                None => place.to_owned(),
            }
        }
        _ => first.to_owned(),
    };
    Some(tidy(&line, 160))
}

/// Drops control characters (the text may come from a phone or a terminal-drawing tool) and
/// shortens it to `max` characters.
pub fn tidy(text: &str, max: usize) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > max {
        let mut short: String = clean.chars().take(max - 3).collect();
        short.push_str("...");
        short
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_lines_are_joined() {
        let text = "\nthread 'main' (4242) panicked at src/cmd/ls.rs:8:5:\nnot implemented: phonevault ls\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            first_line(text).unwrap(),
            "panicked at src/cmd/ls.rs:8:5: not implemented: phonevault ls"
        );
    }

    #[test]
    fn plain_errors_keep_their_first_line() {
        assert_eq!(
            first_line("phonevault: error: no handset\nmore\n").unwrap(),
            "phonevault: error: no handset"
        );
        assert_eq!(first_line("  \n"), None);
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(tidy("a\u{1b}[31mb", 100), "a[31mb");
        assert_eq!(tidy("abcdefgh", 6), "abc...");
    }
}

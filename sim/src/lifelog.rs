//! What the handset writes to its log (stderr) about its own life, so a handset that "stops
//! answering" leaves evidence: every connection that ends says why and when, and a
//! terminating signal names the process that sent it before the handset dies of it.
//!
//! Why: in a full benchmark run a handset was lost twice under load with an empty log, so it
//! could not be told whether the handset closed the connection, the adb server did, or the
//! process was killed. SIGKILL cannot be caught; the benchmark reports that one from the exit
//! status.

use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::{raise, SigSet, Signal};
use nix::sys::signalfd::SignalFd;

/// Wall-clock time for log lines (UTC, to the millisecond), to line them up with the adb
/// server's own log (`/tmp/adb.$UID.log`) and the benchmark's.
pub fn stamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(
        i64::try_from(now.as_secs()).unwrap_or(0),
        now.subsec_nanos(),
    )
    .map_or_else(
        || format!("{}", now.as_secs()),
        |t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
    )
}

/// The signals that end a handset and can be caught.
const TERMINATING: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// Makes SIGTERM, SIGINT and SIGHUP wait for a thread of their own, which logs the signal and
/// who sent it, then lets it end the process as before (so exit statuses stay what callers
/// expect). Call it before any other thread starts: threads inherit the blocked signals.
/// Commands the handset runs do not inherit them (`Command` clears the signal mask).
///
/// # Errors
/// When the signals cannot be blocked or the signalfd cannot be made.
pub fn log_terminating_signals() -> nix::Result<()> {
    let mut set = SigSet::empty();
    for signal in TERMINATING {
        set.add(signal);
    }
    set.thread_block()?;
    let fd = SignalFd::new(&set)?;
    std::thread::spawn(move || {
        let Ok(Some(info)) = fd.read_signal() else {
            return;
        };
        let signal = Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0));
        eprintln!(
            "phonevault-sim: {} received signal {} from pid {}; exiting",
            stamp(),
            info.ssi_signo,
            info.ssi_pid
        );
        if let Ok(signal) = signal {
            // Unblocked in this thread only; the default action ends the whole process.
            let _ = set.thread_unblock();
            let _ = raise(signal);
        }
        std::process::exit(128 + i32::try_from(info.ssi_signo).unwrap_or(0));
    });
    Ok(())
}

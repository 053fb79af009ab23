//! A `Handset`: one phone reached through the adb server, with its identity and operations.
//!
//! CONTRACT: the signatures of this module and its children are what catalog, preview, backup
//! and restore code against. Every method opens its own socket to the adb server, so a
//! `Handset` can be shared by reference between threads and several operations may run at
//! once.
//!
//! Every socket has a read and a write timeout, so a frozen or unplugged phone ends in
//! `Timeout` or `DeviceGone` naming the handset (and the file, during a transfer), never in a
//! hang.
//!
//! A handset (and an `AdbServer`) carries a cancellation token ([`Handset::with_cancel`]):
//! every socket it opens is registered with the token, so cancelling wakes any operation
//! blocked on the phone at once, and the operation reports [`Error::Cancelled`].
//!
//! This file holds the types, `connect` and the core every operation shares (opening a
//! service, mapping socket errors, shell and exec). The operations live in child modules:
//! `choose` (the server's device list, waiting for a phone, opening one), `probe` (identity
//! and storage), `files` (stat, list, single push), `pull` (single pull and the `pull_many`
//! pipeline), `push` (`push_many`) and `track` (`host:track-devices`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::adb::server::{self, Endpoint, RequestError};
use crate::adb::shell;
use crate::adb::sync::{self, MAX_PATH, S_IFDIR, S_IFMT, S_IFREG};
use crate::cancel::{Cancel, CancellableStream};
use crate::escape::phone_path_bytes;
use crate::{Error, Result};

mod push;
pub use push::{PushFile, PushOutcome, PushReport};
mod track;
pub use track::{DeviceTracker, TrackerStopper};
mod choose;
pub use choose::{choose_device, state_word};
mod probe;
pub use probe::{parse_identity, parse_storage};
mod files;
mod pull;
pub use pull::PullEvent;

/// The timeout of [`Handset::finishing`]: "within about a second" after Ctrl-C.
const FINISHING_TIMEOUT: Duration = Duration::from_secs(1);

/// The timeout used when `ConnectOptions::timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// How to reach the adb server.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The `adb` program used to start a server when none runs (`--adb`, `$ADB`, else `PATH`).
    pub adb_program: Option<PathBuf>,
    /// The server's port (default: `ANDROID_ADB_SERVER_PORT`, else 5037).
    pub port: Option<u16>,
    /// Timeout for every read and write on a socket (default 20 s).
    pub timeout: Option<Duration>,
}

/// How `Handset::pull_many` moves files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullOptions {
    /// RECV requests sent ahead on one sync stream before the current file's data is read
    /// (1 = one request at a time, as `adb pull` does).
    pub window: usize,
    /// Sync streams used side by side; files are dealt out to them in turn.
    pub streams: usize,
}

impl Default for PullOptions {
    /// Measured against the simulated handset on its usb2 link (1,000 files of 2 KB, debug
    /// build): one request at a time 1.35 s, window 8 0.38 s, window 32 0.15 s, window 32 on
    /// two streams 0.11 s. Two streams also get past the one unacknowledged write per stream
    /// that adb allows, which bounds one stream's speed for large files on a link with latency.
    fn default() -> Self {
        PullOptions {
            window: 32,
            streams: 2,
        }
    }
}

/// A connection point to the adb server.
#[derive(Debug, Clone)]
pub struct AdbServer {
    endpoint: Endpoint,
}

/// Finds (or starts) the adb server.
///
/// # Errors
/// `AdbNotFound` when no server runs and no `adb` program can start one; `AdbServer` when it
/// cannot be reached.
pub fn connect(options: &ConnectOptions) -> Result<AdbServer> {
    let endpoint = Endpoint {
        port: server::resolve_port(options.port),
        timeout: options.timeout.unwrap_or(DEFAULT_TIMEOUT),
        cancel: Cancel::new(),
    };
    server::ensure_running(&endpoint, options.adb_program.as_deref())?;
    Ok(AdbServer { endpoint })
}

/// A handset's state as the adb server reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    Device,
    Unauthorized,
    Offline,
    Other,
}

/// One line of `host:devices-l`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub serial: String,
    pub state: DeviceState,
    pub model: Option<String>,
    pub product: Option<String>,
    pub device: Option<String>,
    pub transport_id: Option<u64>,
}

pub use crate::identity::Identity;

/// Internal storage size, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StorageSpace {
    pub total: u64,
    pub free: u64,
}

/// What a shell command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: i32,
}

/// A file's metadata on the phone (sizes are exact: sync v2, or an error on v1-only phones
/// where a size could have wrapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteStat {
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
}

impl RemoteStat {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// One entry of a folder listing (no `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The name as the phone gave it; bytes that are not UTF-8 are replaced (U+FFFD), so such
    /// a name cannot be pulled back by this name.
    pub name: String,
    pub stat: RemoteStat,
}

/// The binary-safe stdout of an `exec:` command, read as it arrives.
///
/// `exec:` has no framing and no exit status: the end of the output and a phone that went
/// away mid-stream look the same (end of file). Callers that know how much to expect (`head
/// -c N`) should check the length they got.
pub struct ExecStream {
    stream: CancellableStream,
    cancel: Cancel,
    serial: String,
    command: String,
    timeout: Duration,
}

impl std::fmt::Debug for ExecStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecStream")
            .field("serial", &self.serial)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl Read for ExecStream {
    /// Errors carry a `phonevault::Error` (`Timeout`/`DeviceGone` naming the handset) as
    /// their inner error.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf).map_err(|e| {
            let kind = e.kind();
            let err = if self.cancel.is_cancelled() {
                Error::Cancelled
            } else {
                map_io(&self.serial, self.timeout, &self.command, None, e)
            };
            io::Error::new(kind, err)
        })
    }
}

/// What the phone and the server both support, from `host-serial:SERIAL:features`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Features {
    shell_v2: bool,
    stat_v2: bool,
    ls_v2: bool,
}

impl Features {
    fn from_list(list: &[String]) -> Features {
        let has = |name: &str| list.iter().any(|f| f == name);
        Features {
            shell_v2: has("shell_v2"),
            stat_v2: has("stat_v2"),
            ls_v2: has("ls_v2"),
        }
    }
}

/// One phone.
#[derive(Debug, Clone)]
pub struct Handset {
    endpoint: Endpoint,
    adb_serial: String,
    identity: Identity,
    features: Features,
    pull_options: PullOptions,
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Turns a socket error into the error a person can act on: a timeout, a protocol breach, or
/// a handset that went away.
fn map_io(
    serial: &str,
    timeout: Duration,
    operation: &str,
    path: Option<&str>,
    err: io::Error,
) -> Error {
    if is_timeout(&err) {
        return Error::Timeout {
            serial: serial.to_string(),
            operation: operation.to_string(),
            path: path.map(str::to_string),
            seconds: timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0),
        };
    }
    // An `io::Error` we wrapped around one of ours (from `ExecStream` or a sink) keeps it.
    if err
        .get_ref()
        .is_some_and(<dyn std::error::Error + Send + Sync>::is::<Error>)
    {
        let inner = err.into_inner().expect("checked");
        return *inner.downcast::<Error>().expect("checked");
    }
    if err.kind() == io::ErrorKind::InvalidData {
        return Error::Protocol {
            peer: format!("handset {serial}"),
            detail: err.to_string(),
        };
    }
    let detail = if err.kind() == io::ErrorKind::UnexpectedEof {
        "the connection closed".to_string()
    } else {
        err.to_string()
    };
    Error::DeviceGone {
        serial: serial.to_string(),
        path: path.map(str::to_string),
        detail,
    }
}

impl Handset {
    /// The adb serial (what `-s` takes, and what errors name).
    pub fn serial(&self) -> &str {
        &self.adb_serial
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The pipelining `pull_many` uses.
    pub fn pull_options(&self) -> PullOptions {
        self.pull_options
    }

    /// Sets the pipelining `pull_many` uses (window and streams of at least 1).
    pub fn set_pull_options(&mut self, options: PullOptions) {
        self.pull_options = PullOptions {
            window: options.window.max(1),
            streams: options.streams.max(1),
        };
    }

    /// This handset with `cancel` attached: every socket it opens from now on is registered
    /// with the token, so tripping it wakes any operation blocked on the phone, and the
    /// operation reports [`Error::Cancelled`] (never `DeviceGone` or `Timeout`).
    #[must_use]
    pub fn with_cancel(&self, cancel: &Cancel) -> Handset {
        let mut handset = self.clone();
        handset.endpoint.cancel = cancel.clone();
        handset
    }

    /// This handset with another timeout for every socket read and write (for short
    /// finishing work that must not wait long on a frozen phone).
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Handset {
        let mut handset = self.clone();
        handset.endpoint.timeout = timeout;
        handset
    }

    /// This handset for brief finishing work after its job was cancelled (removing temporary
    /// files, asking for a media rescan): a fresh token, since the job's is tripped, and a
    /// one-second timeout, so a frozen phone cannot hold the job's end for long.
    #[must_use]
    pub fn finishing(&self) -> Handset {
        self.with_cancel(&Cancel::new())
            .with_timeout(FINISHING_TIMEOUT)
    }

    /// The cancellation token attached to this handset (a fresh one nobody trips unless
    /// [`with_cancel`](Self::with_cancel) attached another).
    pub fn cancel_token(&self) -> &Cancel {
        &self.endpoint.cancel
    }

    /// Whether the phone speaks sync v2 (exact 64-bit sizes).
    pub fn has_stat_v2(&self) -> bool {
        self.features.stat_v2
    }

    /// Whether the phone speaks shell v2 (separate stderr, exit status).
    pub fn has_shell_v2(&self) -> bool {
        self.features.shell_v2
    }

    fn io_error(&self, operation: &str, path: Option<&str>, err: io::Error) -> Error {
        // A socket shut down by the token fails like a pulled cable: say what really happened.
        if self.endpoint.cancel.is_cancelled() {
            return Error::Cancelled;
        }
        map_io(
            &self.adb_serial,
            self.endpoint.timeout,
            operation,
            path,
            err,
        )
    }

    /// Opens a transport socket to this handset and starts `service` on it.
    fn open_service(&self, service: &str, path: Option<&str>) -> Result<CancellableStream> {
        let mut stream = self
            .endpoint
            .socket()
            .map_err(|e| self.endpoint.server_error(&e))?;
        let transport = format!("host:transport:{}", self.adb_serial);
        for request in [transport.as_str(), service] {
            server::send_request(&mut stream, request).map_err(|e| match e {
                RequestError::Io(e) => self.io_error(&format!("opening `{service}`"), path, e),
                RequestError::Refused(message) => self.refused(request, path, message),
            })?;
        }
        Ok(stream)
    }

    /// A server `FAIL` while reaching the handset: it was usable when opened, so "offline"
    /// or "not found" now means it has just gone away (cable pulled, phone rebooted).
    fn refused(&self, request: &str, path: Option<&str>, message: String) -> Error {
        if self.endpoint.cancel.is_cancelled() {
            return Error::Cancelled;
        }
        let serial = self.adb_serial.clone();
        if message.contains("unauthorized") {
            Error::Unauthorized { serial }
        } else if message.contains("offline")
            || message.contains("not found")
            || message.contains("no devices")
        {
            Error::DeviceGone {
                serial,
                path: path.map(str::to_string),
                detail: message,
            }
        } else {
            Error::ServerRefused {
                request: request.to_string(),
                message,
            }
        }
    }

    fn check_path(&self, path: &str) -> Result<()> {
        if phone_path_bytes(path).len() > MAX_PATH {
            return Err(Error::Remote {
                serial: self.adb_serial.clone(),
                path: path.to_string(),
                message: format!("the path is longer than the {MAX_PATH} bytes adb can carry"),
            });
        }
        Ok(())
    }

    fn remote(&self, path: &str, message: impl Into<String>) -> Error {
        Error::Remote {
            serial: self.adb_serial.clone(),
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// Runs a shell command that must succeed: a non-zero exit is [`Error::Shell`] with the
    /// command and what it printed on stderr.
    ///
    /// # Errors
    /// As [`shell`](Self::shell), and `Shell` for a non-zero exit status.
    pub fn shell_checked(&self, command: &str) -> Result<ShellOutput> {
        let out = self.shell(command)?;
        if out.status == 0 {
            Ok(out)
        } else {
            Err(self.shell_failed(command, &out))
        }
    }

    /// The error for `command` having ended with `out`'s non-zero status.
    pub fn shell_failed(&self, command: &str, out: &ShellOutput) -> Error {
        Error::Shell {
            serial: self.adb_serial.clone(),
            command: command.to_string(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
    }

    /// Runs a shell command (shell v2: separate stderr and the exit status).
    ///
    /// On a phone without `shell_v2` the v1 shell is used: stderr arrives merged into stdout
    /// (so `stderr` is empty) and the status is recovered from a marker line printed after
    /// the command (see `shell::wrap_v1`).
    ///
    /// # Errors
    /// Transport errors only; a non-zero status is returned, not an error.
    pub fn shell(&self, command: &str) -> Result<ShellOutput> {
        let operation = format!("shell `{command}`");
        // A socket shut down by a cancel also ends without a status.
        let cut = || {
            self.endpoint.cancel.or_error(Error::DeviceGone {
                serial: self.adb_serial.clone(),
                path: None,
                detail: format!("`{command}` ended without an exit status"),
            })
        };
        if self.features.shell_v2 {
            let mut stream = self.open_service(&format!("shell,v2,raw:{command}"), None)?;
            // No stdin: commands that read it get end-of-file at once instead of waiting.
            stream
                .write_all(&shell::encode_packet(shell::ID_CLOSE_STDIN, &[]))
                .map_err(|e| self.io_error(&operation, None, e))?;
            let got =
                shell::collect_v2(&mut stream).map_err(|e| self.io_error(&operation, None, e))?;
            let status = got.status.ok_or_else(cut)?;
            Ok(ShellOutput {
                stdout: got.stdout,
                stderr: got.stderr,
                status,
            })
        } else {
            let marker = shell::new_marker();
            let mut stream =
                self.open_service(&format!("shell:{}", shell::wrap_v1(command, &marker)), None)?;
            let mut output = Vec::new();
            stream
                .read_to_end(&mut output)
                .map_err(|e| self.io_error(&operation, None, e))?;
            let (stdout, status) = shell::split_v1(&output, &marker).ok_or_else(cut)?;
            Ok(ShellOutput {
                stdout,
                stderr: Vec::new(),
                status,
            })
        }
    }

    /// `shell` with its own timeout, for commands that may stay silent longer than the
    /// handset's timeout (hashing a large video on the phone, a `find` over a full card).
    ///
    /// # Errors
    /// As `shell`; `Timeout` names this timeout.
    pub fn shell_with_timeout(&self, command: &str, timeout: Duration) -> Result<ShellOutput> {
        // The clone keeps the token: a long command stays cancellable.
        let mut patient = self.clone();
        patient.endpoint.timeout = timeout;
        patient.shell(command)
    }

    /// Runs a command and streams its raw stdout (`exec:`).
    ///
    /// # Errors
    /// When the service cannot be opened.
    pub fn exec(&self, command: &str) -> Result<ExecStream> {
        let stream = self.open_service(&format!("exec:{command}"), None)?;
        Ok(ExecStream {
            stream,
            cancel: self.endpoint.cancel.clone(),
            serial: self.adb_serial.clone(),
            command: format!("exec `{command}`"),
            timeout: self.endpoint.timeout,
        })
    }

    fn sync_stream(&self, path: Option<&str>) -> Result<CancellableStream> {
        self.open_service("sync:", path)
    }

    /// Ends a sync session politely; the phone closes its side either way.
    fn quit(stream: &mut TcpStream) {
        let _ = stream.write_all(&sync::encode_word(b"QUIT", 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_name_the_handset_and_file() {
        let t = Duration::from_millis(2500);
        let err = map_io(
            "S1",
            t,
            "pull",
            Some("/sdcard/a.jpg"),
            io::ErrorKind::WouldBlock.into(),
        );
        match err {
            Error::Timeout {
                serial,
                path,
                seconds,
                ..
            } => {
                assert_eq!(
                    (serial.as_str(), path.as_deref(), seconds),
                    ("S1", Some("/sdcard/a.jpg"), 3)
                );
            }
            other => panic!("{other:?}"),
        }
        let err = map_io(
            "S1",
            t,
            "pull",
            Some("/x"),
            io::ErrorKind::UnexpectedEof.into(),
        );
        assert!(matches!(err, Error::DeviceGone { ref path, .. } if path.as_deref() == Some("/x")));
        let wrapped = io::Error::other(Error::NoDevice);
        assert!(matches!(
            map_io("S1", t, "x", None, wrapped),
            Error::NoDevice
        ));
    }
}

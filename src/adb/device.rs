//! A `Handset`: one phone reached through the adb server, with its identity and operations.
//!
//! CONTRACT: the signatures below are what catalog, preview, backup and restore code
//! against. Every method opens its own socket to the adb server, so a `Handset` can be shared
//! by reference between threads and several operations may run at once.
//!
//! Every socket has a read and a write timeout, so a frozen or unplugged phone ends in
//! `Timeout` or `DeviceGone` naming the handset (and the file, during a transfer), never in a
//! hang.
//!
//! A handset (and an `AdbServer`) carries a cancellation token ([`Handset::with_cancel`]):
//! every socket it opens is registered with the token, so cancelling wakes any operation
//! blocked on the phone at once, and the operation reports [`Error::Cancelled`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::adb::server::{self, Endpoint, RequestError};
use crate::adb::shell;
use crate::adb::sync::{
    self, Frame, WireStat, MAX_DATA, MAX_PATH, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use crate::cancel::{Cancel, CancellableStream};
use crate::escape::{phone_path_bytes, phone_path_text};
use crate::{Error, Result};

mod push;
pub use push::{PushFile, PushOutcome, PushReport};
mod track;
pub use track::{DeviceTracker, TrackerStopper};

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

/// What `Handset::pull_many` reports, in order, file after file: `Start`, `Data`..., `Done`;
/// or `Failed` alone when the phone refuses the file; or `Start`, `Data`..., `Failed` when it
/// fails part way (discard what arrived).
#[derive(Debug)]
pub enum PullEvent<'a> {
    Start {
        index: usize,
    },
    Data {
        index: usize,
        bytes: &'a [u8],
    },
    Done {
        index: usize,
    },
    /// The phone refused this file (unreadable, gone); the others continue.
    Failed {
        index: usize,
        message: String,
    },
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

impl AdbServer {
    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.endpoint.port
    }

    /// This server with `cancel` attached: its requests (and handsets opened through it)
    /// stop with [`Error::Cancelled`] when the token is tripped, even while blocked.
    #[must_use]
    pub fn with_cancel(&self, cancel: &Cancel) -> AdbServer {
        let mut server = self.clone();
        server.endpoint.cancel = cancel.clone();
        server
    }

    /// Every handset the server knows, in any state.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>> {
        self.endpoint.devices()
    }

    /// Waits until at least one handset that is not offline is attached, following
    /// `host:track-devices`, and returns them all. `limit` bounds the wait (`None`: wait
    /// as long as it takes, for a person plugging a phone in).
    ///
    /// # Errors
    /// `Timeout` when `limit` passes first; `AdbServer` when the server goes away;
    /// `Cancelled` when the server's token is tripped (see [`AdbServer::with_cancel`]).
    pub fn wait_for_device(&self, limit: Option<Duration>) -> Result<Vec<DeviceInfo>> {
        let mut stream = self.endpoint.host_request("host:track-devices")?;
        let started = Instant::now();
        loop {
            self.endpoint.cancel.check()?;
            let remaining = match limit {
                Some(limit) => {
                    let left = limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(wait_timeout(limit));
                    }
                    Some(left)
                }
                None => None,
            };
            stream
                .set_read_timeout(remaining)
                .map_err(|e| self.server_error(&e))?;
            match server::read_tracked(&mut stream) {
                // A phone being plugged in shows as offline for a moment: wait for it to
                // settle as a usable or an unauthorized handset.
                Ok(list) if list.iter().any(|d| d.state != DeviceState::Offline) => {
                    return self.devices();
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    return Err(wait_timeout(limit.unwrap_or_default()));
                }
                Err(e) => return Err(self.server_error(&e)),
            }
        }
    }

    fn server_error(&self, err: &io::Error) -> Error {
        self.endpoint.server_error(err)
    }

    /// Opens a handset: the given serial, else the only one attached.
    ///
    /// # Errors
    /// `NoDevice`, `DeviceNotFound`, `MultipleDevices`, `Unauthorized`, `Offline`,
    /// `NotReady`; transport errors while asking its identity.
    pub fn open(&self, serial: Option<&str>) -> Result<Handset> {
        let devices = self.devices()?;
        let info = choose_device(&devices, serial)?;
        match info.state {
            DeviceState::Device => {}
            DeviceState::Unauthorized => {
                return Err(Error::Unauthorized {
                    serial: info.serial.clone(),
                })
            }
            DeviceState::Offline => {
                return Err(Error::Offline {
                    serial: info.serial.clone(),
                })
            }
            DeviceState::Other => {
                return Err(Error::NotReady {
                    serial: info.serial.clone(),
                })
            }
        }
        let features = Features::from_list(&self.endpoint.features(&info.serial)?);
        let mut handset = Handset {
            endpoint: self.endpoint.clone(),
            adb_serial: info.serial.clone(),
            identity: Identity {
                serial: info.serial.clone(),
                model: String::new(),
                manufacturer: String::new(),
                android_version: String::new(),
                sdk: 0,
            },
            features,
            pull_options: PullOptions::default(),
        };
        let out = handset.shell(IDENTITY_COMMAND)?;
        handset.identity = parse_identity(
            &String::from_utf8_lossy(&out.stdout),
            &info.serial,
            info.model.as_deref(),
        );
        Ok(handset)
    }
}

fn wait_timeout(limit: Duration) -> Error {
    Error::Timeout {
        serial: "(any)".into(),
        operation: "waiting for a handset to be plugged in".into(),
        path: None,
        seconds: limit.as_secs(),
    }
}

/// Picks the handset to use: the serial asked for, else the only one.
///
/// # Errors
/// `DeviceNotFound`, `NoDevice`, `MultipleDevices`.
pub fn choose_device<'a>(
    devices: &'a [DeviceInfo],
    serial: Option<&str>,
) -> Result<&'a DeviceInfo> {
    let listed = || {
        devices
            .iter()
            .map(|d| format!("{} ({})", d.serial, state_word(d.state)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match serial {
        Some(serial) => {
            devices
                .iter()
                .find(|d| d.serial == serial)
                .ok_or_else(|| Error::DeviceNotFound {
                    serial: serial.to_string(),
                    attached: if devices.is_empty() {
                        "none".into()
                    } else {
                        listed()
                    },
                })
        }
        None => match devices {
            [] => Err(Error::NoDevice),
            [only] => Ok(only),
            _ => Err(Error::MultipleDevices { serials: listed() }),
        },
    }
}

/// The word adb uses for a state.
pub fn state_word(state: DeviceState) -> &'static str {
    match state {
        DeviceState::Device => "device",
        DeviceState::Unauthorized => "unauthorized",
        DeviceState::Offline => "offline",
        DeviceState::Other => "other",
    }
}

/// One shell call for the whole identity: one `getprop` per property, in a fixed order, each
/// answer ended by a NUL (a value may hold a newline, which would shift every later line;
/// mksh's builtin `print` writes the NUL without a process of its own).
const IDENTITY_COMMAND: &str = "for p in ro.serialno ro.product.model \
     ro.product.manufacturer ro.build.version.release ro.build.version.sdk; \
     do getprop $p; print -n '\\0'; done";

/// Parses the output of [`IDENTITY_COMMAND`] (answers ended by NUL; one per line when the
/// text has no NUL); empty answers fall back to the adb serial and the model from
/// `devices-l` (where adb writes spaces as `_`).
pub fn parse_identity(text: &str, adb_serial: &str, listed_model: Option<&str>) -> Identity {
    let separator = if text.contains('\0') { '\0' } else { '\n' };
    let mut lines = text.split(separator).map(str::trim);
    let mut next = || lines.next().unwrap_or("").to_string();
    let serial = next();
    let model = next();
    let manufacturer = next();
    let android_version = next();
    let sdk = next();
    Identity {
        serial: if serial.is_empty() {
            adb_serial.to_string()
        } else {
            serial
        },
        model: if model.is_empty() {
            listed_model.unwrap_or("").replace('_', " ")
        } else {
            model
        },
        manufacturer,
        android_version,
        sdk: sdk.parse().unwrap_or(0),
    }
}

/// The storage probe: `stat -f` where toybox has it, else `df -k`.
const STORAGE_COMMAND: &str = "stat -f -c '%b %a %S' /sdcard/ 2>/dev/null || df -k /sdcard/";

/// Parses either `stat -f -c '%b %a %S'` (total blocks, free blocks, block size) or `df -k`
/// (a header line, then `fs 1K-blocks used available use% mount`; long device names may
/// wrap the numbers onto a second line).
pub fn parse_storage(text: &str) -> Option<StorageSpace> {
    let first = text.lines().next()?.trim();
    let numbers: Vec<u64> = first
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .unwrap_or_default();
    if let [blocks, free, block_size] = numbers[..] {
        return Some(StorageSpace {
            total: blocks.checked_mul(block_size)?,
            free: free.checked_mul(block_size)?,
        });
    }
    // df: join everything after the header and take the first three numbers after the name.
    let body: Vec<&str> = text
        .lines()
        .skip(1)
        .flat_map(str::split_whitespace)
        .collect();
    let numbers: Vec<u64> = body
        .iter()
        .skip(1)
        .take(3)
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    if let [blocks, _used, available] = numbers[..] {
        Some(StorageSpace {
            total: blocks.checked_mul(1024)?,
            free: available.checked_mul(1024)?,
        })
    } else {
        None
    }
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

/// What one sync stream reports while `pull_many` runs.
enum Msg {
    Start(usize),
    Data(usize, Vec<u8>),
    Done(usize),
    Failed(usize, String),
    Err(Error),
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

    /// Internal storage total and free.
    ///
    /// # Errors
    /// When the phone does not answer, or answers something that is not a size.
    pub fn storage(&self) -> Result<StorageSpace> {
        let out = self.shell(STORAGE_COMMAND)?;
        let text = String::from_utf8_lossy(&out.stdout);
        parse_storage(&text).ok_or_else(|| Error::Shell {
            serial: self.adb_serial.clone(),
            command: STORAGE_COMMAND.to_string(),
            status: out.status,
            stderr: format!(
                "unexpected output {:?} {}",
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
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

    /// Turns a wire stat into ours, refusing sizes that may have wrapped: a v1 size is 32
    /// bits, and a 4 GiB + 1 byte file looks like a 1-byte one, so a v1 size is never
    /// trusted for a regular file (directories, links and devices keep theirs: they cannot
    /// reach 4 GiB).
    fn checked_stat(&self, path: &str, stat: WireStat, v2: bool) -> Result<RemoteStat> {
        if !v2 && stat.mode & S_IFMT == S_IFREG {
            return Err(Error::SizeUnknown {
                serial: self.adb_serial.clone(),
                path: path.to_string(),
            });
        }
        Ok(RemoteStat {
            mode: stat.mode,
            size: stat.size,
            mtime: stat.mtime,
        })
    }

    /// Metadata of a path (following symlinks), `None` when it does not exist.
    ///
    /// # Errors
    /// Transport errors; `Remote` when the phone cannot stat it (permission); `SizeUnknown`
    /// for a regular file on a v1-only phone.
    pub fn stat(&self, path: &str) -> Result<Option<RemoteStat>> {
        self.check_path(path)?;
        let mut stream = self.sync_stream(Some(path))?;
        let op = "stat";
        let v2 = self.features.stat_v2;
        let id = if v2 { b"STA2" } else { b"STAT" };
        stream
            .write_all(&sync::encode_request(id, &phone_path_bytes(path)))
            .map_err(|e| self.io_error(op, Some(path), e))?;
        let wire = self.read_stat(&mut stream, path)?;
        Self::quit(&mut stream);
        match wire {
            Some(stat) => self.checked_stat(path, stat, v2).map(Some),
            None => Ok(None),
        }
    }

    /// Metadata of many paths in one round trip (the requests pipelined on one sync stream),
    /// in order; `None` for a path that is gone or cannot be looked at. Used to re-check files
    /// after they were copied. On a phone without `stat_v2` a size is only its low 32 bits.
    /// `timeout` replaces the handset's own for this call when given.
    ///
    /// # Errors
    /// Transport errors.
    pub fn stat_many(
        &self,
        paths: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<Option<RemoteStat>>> {
        let Some(first) = paths.first() else {
            return Ok(Vec::new());
        };
        let hurried = timeout.map(|timeout| {
            let mut hurried = self.clone();
            hurried.endpoint.timeout = timeout;
            hurried
        });
        let this = hurried.as_ref().unwrap_or(self);
        let mut stream = this.sync_stream(Some(first))?;
        let v2 = self.features.stat_v2;
        let id = if v2 { b"STA2" } else { b"STAT" };
        // Paths are in display form: the phone is asked for their exact bytes.
        let raw: Vec<_> = paths.iter().map(|p| phone_path_bytes(p)).collect();
        let mut request = Vec::new();
        for bytes in raw.iter().filter(|b| b.len() <= MAX_PATH) {
            request.extend(sync::encode_request(id, bytes));
        }
        stream
            .write_all(&request)
            .map_err(|e| self.io_error("stat", Some(first), e))?;
        let mut stats = Vec::with_capacity(paths.len());
        for (path, bytes) in paths.iter().zip(&raw) {
            if bytes.len() > MAX_PATH {
                stats.push(None);
                continue;
            }
            let map = |e| self.io_error("stat", Some(path), e);
            let wire = if v2 {
                sync::read_stat_v2(&mut stream).map_err(map)?.ok()
            } else {
                sync::read_stat_v1(&mut stream).map_err(map)?
            };
            stats.push(wire.map(|w| RemoteStat {
                mode: w.mode,
                size: w.size,
                mtime: w.mtime,
            }));
        }
        Self::quit(&mut stream);
        Ok(stats)
    }

    /// Reads the reply to a `STA2`/`STAT` just sent.
    fn read_stat(&self, stream: &mut CancellableStream, path: &str) -> Result<Option<WireStat>> {
        let map = |e| self.io_error("stat", Some(path), e);
        if self.features.stat_v2 {
            match sync::read_stat_v2(stream).map_err(map)? {
                Ok(stat) => Ok(Some(stat)),
                Err(sync::ENOENT | 20) => Ok(None),
                Err(errno) => Err(self.remote(path, sync::errno_message(errno))),
            }
        } else {
            sync::read_stat_v1(stream).map_err(map)
        }
    }

    /// The entries of a folder.
    ///
    /// # Errors
    /// `Remote` when the folder does not exist or is not a folder; transport errors;
    /// `SizeUnknown` on a v1-only phone when the folder holds a regular file.
    pub fn list(&self, path: &str) -> Result<Vec<RemoteEntry>> {
        self.check_path(path)?;
        let op = "list";
        let mut stream = self.sync_stream(Some(path))?;
        // The listing service answers an empty list for a missing folder, so a stat goes
        // first, in the same write: one round trip for both.
        let stat_id = if self.features.stat_v2 {
            b"STA2"
        } else {
            b"STAT"
        };
        let list_v2 = self.features.ls_v2;
        let list_id = if list_v2 { b"LIS2" } else { b"LIST" };
        let wire_path = phone_path_bytes(path);
        let mut request = sync::encode_request(stat_id, &wire_path);
        request.extend(sync::encode_request(list_id, &wire_path));
        stream
            .write_all(&request)
            .map_err(|e| self.io_error(op, Some(path), e))?;
        let stat = self.read_stat(&mut stream, path)?;
        let raw = sync::read_listing(&mut stream, list_v2)
            .map_err(|e| self.io_error(op, Some(path), e))?;
        Self::quit(&mut stream);
        match stat {
            None => return Err(self.remote(path, sync::errno_message(sync::ENOENT))),
            // v1 STAT does not follow links (`/sdcard` is one); LIST does, so let it answer.
            Some(stat) if stat.mode & S_IFMT == S_IFLNK && !self.features.stat_v2 => {}
            Some(stat) if stat.mode & S_IFMT != S_IFDIR => {
                return Err(self.remote(path, sync::errno_message(20)))
            }
            Some(_) => {}
        }
        let mut entries = Vec::with_capacity(raw.len());
        for (name, stat) in raw {
            // The display form keeps every byte (see `escape`), so a name that is not UTF-8
            // is still the name of its own file.
            let name = phone_path_text(&name).into_owned();
            // An entry that cannot be stat'ed vanished between readdir and lstat: leave it out.
            let Ok(stat) = stat else { continue };
            let full = format!("{}/{name}", path.trim_end_matches('/'));
            let stat = self.checked_stat(&full, stat, list_v2)?;
            entries.push(RemoteEntry { name, stat });
        }
        Ok(entries)
    }

    /// Copies one file from the phone into `to`; returns the bytes copied.
    ///
    /// # Errors
    /// `Remote` when the phone refuses the file; `DeviceGone`/`Timeout` naming the file;
    /// `Io` when `to` fails.
    pub fn pull(&self, path: &str, to: &mut dyn Write) -> Result<u64> {
        self.check_path(path)?;
        let mut stream = self.sync_stream(Some(path))?;
        stream
            .write_all(&sync::encode_request(b"RECV", &phone_path_bytes(path)))
            .map_err(|e| self.io_error("pull", Some(path), e))?;
        let mut buf = vec![0u8; MAX_DATA];
        let got = sync::read_file(&mut stream, &mut buf, &mut |bytes| to.write_all(bytes));
        match got {
            Ok(Ok(total)) => {
                Self::quit(&mut stream);
                Ok(total)
            }
            Ok(Err(message)) => Err(self.remote(path, message)),
            Err(sync::RecvError::Io(e)) => Err(self.io_error("pull", Some(path), e)),
            Err(sync::RecvError::Sink(e)) => Err(Error::io("writing the copy of", path, e)),
        }
    }

    /// Copies many files with requests pipelined on the sync stream; events arrive in order.
    /// An error returned by `sink` stops the transfer and is returned. Uses the handset's
    /// [`PullOptions`] (see [`Handset::set_pull_options`]).
    ///
    /// # Errors
    /// Transport errors naming the file in flight; errors from `sink`.
    pub fn pull_many(
        &self,
        paths: &[String],
        sink: &mut dyn FnMut(PullEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        self.pull_many_with(paths, self.pull_options, sink)
    }

    /// `pull_many` with explicit pipelining (for benchmarks and tuning).
    ///
    /// Memory stays bounded whatever the file sizes: one stream delivers straight to `sink`;
    /// with several, each stream may run at most a few 64 KiB chunks ahead of the file being
    /// delivered, then waits.
    ///
    /// # Errors
    /// Transport errors naming the file in flight; errors from `sink`.
    pub fn pull_many_with(
        &self,
        paths: &[String],
        options: PullOptions,
        sink: &mut dyn FnMut(PullEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        let window = options.window.max(1);
        let streams = options.streams.max(1).min(paths.len().max(1));
        if streams == 1 {
            let indices: Vec<usize> = (0..paths.len()).collect();
            let mut forward = |msg: Msg| -> Result<()> { deliver(msg, sink) };
            return self.pull_stream(paths, &indices, window, &mut forward, None);
        }
        let sockets = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            let mut receivers: Vec<Receiver<Msg>> = Vec::with_capacity(streams);
            for s in 0..streams {
                // Eight chunks of 64 KiB per stream at most wait for the sink.
                let (tx, rx): (SyncSender<Msg>, Receiver<Msg>) = sync_channel(8);
                receivers.push(rx);
                let indices: Vec<usize> = (s..paths.len()).step_by(streams).collect();
                let sockets = &sockets;
                scope.spawn(move || {
                    let mut send = |msg: Msg| -> Result<()> {
                        // The receiver is gone only when the caller stopped: end quietly.
                        tx.send(msg).map_err(|_| Error::TransferAbandoned {
                            side: "receiving side",
                        })
                    };
                    if let Err(err) =
                        self.pull_stream(paths, &indices, window, &mut send, Some(sockets))
                    {
                        let _ = tx.send(Msg::Err(err));
                    }
                });
            }
            let result = (|| {
                for index in 0..paths.len() {
                    let rx = &receivers[index % streams];
                    loop {
                        let msg = rx.recv().map_err(|_| {
                            self.endpoint.cancel.or_error(Error::DeviceGone {
                                serial: self.adb_serial.clone(),
                                path: Some(paths[index].clone()),
                                detail: "a transfer thread stopped".into(),
                            })
                        })?;
                        let last = matches!(msg, Msg::Done(_) | Msg::Failed(..));
                        deliver(msg, sink)?;
                        if last {
                            break;
                        }
                    }
                }
                Ok(())
            })();
            if result.is_err() {
                // Wake streams blocked on the phone so the threads end now, not at a timeout.
                for socket in sockets.lock().expect("not poisoned").iter() {
                    let _ = TcpStream::shutdown(socket, Shutdown::Both);
                }
            }
            drop(receivers);
            result
        })
    }

    /// Pulls `indices` (in order) on one sync stream with up to `window` RECVs in flight.
    fn pull_stream(
        &self,
        paths: &[String],
        indices: &[usize],
        window: usize,
        emit: &mut dyn FnMut(Msg) -> Result<()>,
        sockets: Option<&Mutex<Vec<TcpStream>>>,
    ) -> Result<()> {
        let too_long = |i: usize| phone_path_bytes(&paths[i]).len() > MAX_PATH;
        let mut stream: Option<CancellableStream> = None;
        let mut sent = 0; // positions in `indices` whose request went out
        let mut buf = vec![0u8; MAX_DATA];
        for (pos, &index) in indices.iter().enumerate() {
            let path = paths[index].as_str();
            if too_long(index) {
                emit(Msg::Failed(
                    index,
                    format!("the path is longer than the {MAX_PATH} bytes adb can carry"),
                ))?;
                sent = sent.max(pos + 1);
                continue;
            }
            if stream.is_none() {
                let s = self.sync_stream(Some(path))?;
                if let Some(sockets) = sockets {
                    if let Ok(clone) = s.try_clone() {
                        sockets.lock().expect("not poisoned").push(clone);
                    }
                }
                stream = Some(s);
                sent = pos;
            }
            let conn = stream.as_mut().expect("opened above");
            // Top the window up once half of it has drained, in one write: requests are tiny
            // (they fit in the socket buffers while the phone still sends earlier files), and
            // one write per file would cost a message through adb per file.
            let mut batch = Vec::new();
            let in_flight = sent.saturating_sub(pos);
            while in_flight <= window / 2 && sent < indices.len() && sent < pos + window {
                let ahead = indices[sent];
                if !too_long(ahead) {
                    batch.extend(sync::encode_request(
                        b"RECV",
                        &phone_path_bytes(&paths[ahead]),
                    ));
                }
                sent += 1;
            }
            if !batch.is_empty() {
                conn.write_all(&batch)
                    .map_err(|e| self.io_error("pull", Some(path), e))?;
            }
            let map = |e| self.io_error("pull", Some(path), e);
            let mut started = false;
            loop {
                match sync::read_frame(conn).map_err(map)? {
                    Frame::Data(len) => {
                        conn.read_exact(&mut buf[..len]).map_err(map)?;
                        if !started {
                            emit(Msg::Start(index))?;
                            started = true;
                        }
                        emit(Msg::Data(index, buf[..len].to_vec()))?;
                    }
                    Frame::Done => {
                        if !started {
                            emit(Msg::Start(index))?;
                        }
                        emit(Msg::Done(index))?;
                        break;
                    }
                    Frame::Fail(message) => {
                        emit(Msg::Failed(index, message))?;
                        // adbd ends the sync session after a failed RECV, dropping the
                        // requests queued behind it: start a new session for the rest.
                        stream = None;
                        break;
                    }
                    Frame::Okay => {
                        return Err(self.io_error(
                            "pull",
                            Some(path),
                            io::Error::new(io::ErrorKind::InvalidData, "OKAY in a RECV reply"),
                        ))
                    }
                }
            }
        }
        if let Some(conn) = stream.as_mut() {
            Self::quit(conn);
        }
        Ok(())
    }

    /// Writes `from` to `path` on the phone with this mode and mtime (parents are created).
    /// The sync protocol carries mtimes as 32-bit unsigned seconds: times before 1970 are
    /// sent as 0 and times after 2106 as the largest value.
    ///
    /// # Errors
    /// `Remote` when the phone refuses (no space, permission); transport errors; `Io` when
    /// `from` fails.
    pub fn push(&self, from: &mut dyn Read, path: &str, mode: u32, mtime: i64) -> Result<()> {
        self.check_path(path)?;
        let op = "push";
        let mut stream = self.sync_stream(Some(path))?;
        let mtime = u32::try_from(mtime.max(0)).unwrap_or(u32::MAX);
        let mut buf = vec![0u8; MAX_DATA + 8];
        match sync::write_send(&mut stream, from, path, mode, mtime, &mut buf) {
            Ok(_) => {}
            Err(Ok(local)) => return Err(Error::io("reading the file to push to", path, local)),
            Err(Err(e)) => {
                // The phone may have refused mid-way (no space) and closed: its FAIL says why.
                if let Ok(Frame::Fail(message)) = sync::read_frame(&mut stream) {
                    return Err(self.remote(path, message));
                }
                return Err(self.io_error(op, Some(path), e));
            }
        }
        match sync::read_frame(&mut stream).map_err(|e| self.io_error(op, Some(path), e))? {
            Frame::Okay => {
                Self::quit(&mut stream);
                Ok(())
            }
            Frame::Fail(message) => Err(self.remote(path, message)),
            other => Err(self.io_error(
                op,
                Some(path),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected answer to SEND: {other:?}"),
                ),
            )),
        }
    }
}

/// Hands one stream message to the caller's sink.
fn deliver(msg: Msg, sink: &mut dyn FnMut(PullEvent<'_>) -> Result<()>) -> Result<()> {
    match msg {
        Msg::Start(index) => sink(PullEvent::Start { index }),
        Msg::Data(index, bytes) => sink(PullEvent::Data {
            index,
            bytes: &bytes,
        }),
        Msg::Done(index) => sink(PullEvent::Done { index }),
        Msg::Failed(index, message) => sink(PullEvent::Failed { index, message }),
        Msg::Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(serial: &str, state: DeviceState) -> DeviceInfo {
        DeviceInfo {
            serial: serial.into(),
            state,
            model: None,
            product: None,
            device: None,
            transport_id: None,
        }
    }

    #[test]
    fn choosing_a_handset() {
        let one = [info("A", DeviceState::Device)];
        assert_eq!(choose_device(&one, None).unwrap().serial, "A");
        assert!(matches!(choose_device(&[], None), Err(Error::NoDevice)));
        let two = [
            info("A", DeviceState::Device),
            info("B", DeviceState::Unauthorized),
        ];
        match choose_device(&two, None) {
            Err(Error::MultipleDevices { serials }) => {
                assert_eq!(serials, "A (device), B (unauthorized)");
            }
            other => panic!("expected MultipleDevices, got {other:?}"),
        }
        assert_eq!(choose_device(&two, Some("B")).unwrap().serial, "B");
        assert!(matches!(
            choose_device(&two, Some("C")),
            Err(Error::DeviceNotFound { .. })
        ));
    }

    #[test]
    fn identity_from_getprop() {
        let id = parse_identity(
            "SIM14A0001\nPixel 8\nGoogle\n14\n34\n",
            "127.0.0.1:5555",
            None,
        );
        assert_eq!(
            id,
            Identity {
                serial: "SIM14A0001".into(),
                model: "Pixel 8".into(),
                manufacturer: "Google".into(),
                android_version: "14".into(),
                sdk: 34,
            }
        );
        // A newline inside a value does not shift the values after it.
        let id = parse_identity(
            "EVIL\u{1b}[31mX\n\0Pixel\nFAKE\n\0Google\n\x0014\n\x0034\n\0",
            "127.0.0.1:5555",
            None,
        );
        assert_eq!(id.serial, "EVIL\u{1b}[31mX");
        assert_eq!(id.model, "Pixel\nFAKE");
        assert_eq!(id.manufacturer, "Google");
        assert_eq!(id.sdk, 34);
        let id = parse_identity("\n\n\n\n\n", "127.0.0.1:5555", Some("Pixel_3a"));
        assert_eq!(id.serial, "127.0.0.1:5555");
        assert_eq!(id.model, "Pixel 3a");
        assert_eq!(id.sdk, 0);
    }

    #[test]
    fn storage_from_stat_and_df() {
        assert_eq!(
            parse_storage("14000000 3500000 4096\n"),
            Some(StorageSpace {
                total: 14_000_000 * 4096,
                free: 3_500_000 * 4096
            })
        );
        // toybox df -k on Android 10.
        let df = "Filesystem     1K-blocks    Used Available Use% Mounted on\n\
                  /data/media     57534328 8462072  48924000  15% /storage/emulated\n";
        assert_eq!(
            parse_storage(df),
            Some(StorageSpace {
                total: 57_534_328 * 1024,
                free: 48_924_000 * 1024
            })
        );
        let wrapped = "Filesystem 1K-blocks Used Available Use% Mounted on\n\
                       /dev/block/very/long/name\n 100 40 60 40% /sdcard\n";
        assert_eq!(
            parse_storage(wrapped),
            Some(StorageSpace {
                total: 102_400,
                free: 61_440
            })
        );
        assert_eq!(parse_storage("stat: /sdcard: Permission denied\n"), None);
        assert_eq!(parse_storage(""), None);
    }

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

//! A `Handset`: one phone reached through the adb server, with its identity and operations.
//!
//! CONTRACT (skeleton): the signatures below are what catalog, preview, backup and restore
//! code against. The adb work replaces the bodies (and may split the module into
//! `server.rs`, `sync.rs`, `shell.rs`), keeping these names and meanings.
//! Every method opens its own socket to the adb server, so a `Handset` can be shared by
//! reference between threads and several operations may run at once.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::Result;

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

/// A connection point to the adb server.
#[derive(Debug, Clone)]
pub struct AdbServer {
    _private: (),
}

/// Finds (or starts) the adb server.
///
/// # Errors
/// `AdbNotFound` when no server runs and no `adb` program can start one; `AdbServer` when it
/// cannot be reached.
pub fn connect(options: &ConnectOptions) -> Result<AdbServer> {
    let _ = options;
    unimplemented!("adb work")
}

/// A handset's state as the adb server reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// Who a handset is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub serial: String,
    pub model: String,
    pub manufacturer: String,
    pub android_version: String,
    pub sdk: u32,
}

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

/// One entry of a folder listing (no `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    pub name: String,
    pub stat: RemoteStat,
}

/// What `Handset::pull_many` reports, in order, file after file.
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
pub struct ExecStream {
    _private: (),
}

impl Read for ExecStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let _ = buf;
        unimplemented!("adb work")
    }
}

/// One phone.
#[derive(Debug, Clone)]
pub struct Handset {
    _private: (),
}

impl AdbServer {
    /// Every handset the server knows, in any state.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>> {
        unimplemented!("adb work")
    }

    /// Opens a handset: the given serial, else the only one attached.
    ///
    /// # Errors
    /// `NoDevice`, `DeviceNotFound`, `MultipleDevices`, `Unauthorized`, `Offline`.
    pub fn open(&self, serial: Option<&str>) -> Result<Handset> {
        let _ = serial;
        unimplemented!("adb work")
    }
}

impl Handset {
    pub fn serial(&self) -> &str {
        unimplemented!("adb work")
    }

    pub fn identity(&self) -> &Identity {
        unimplemented!("adb work")
    }

    /// Internal storage total and free.
    ///
    /// # Errors
    /// When the phone does not answer.
    pub fn storage(&self) -> Result<StorageSpace> {
        unimplemented!("adb work")
    }

    /// Runs a shell command (shell v2: separate stderr and the exit status).
    ///
    /// # Errors
    /// Transport errors only; a non-zero status is returned, not an error.
    pub fn shell(&self, command: &str) -> Result<ShellOutput> {
        let _ = command;
        unimplemented!("adb work")
    }

    /// Runs a command and streams its raw stdout (`exec:`).
    ///
    /// # Errors
    /// When the service cannot be opened.
    pub fn exec(&self, command: &str) -> Result<ExecStream> {
        let _ = command;
        unimplemented!("adb work")
    }

    /// Metadata of a path, `None` when it does not exist.
    ///
    /// # Errors
    /// Transport errors; `SizeUnknown` on a v1-only phone.
    pub fn stat(&self, path: &str) -> Result<Option<RemoteStat>> {
        let _ = path;
        unimplemented!("adb work")
    }

    /// The entries of a folder.
    ///
    /// # Errors
    /// `Remote` when the folder cannot be read.
    pub fn list(&self, path: &str) -> Result<Vec<RemoteEntry>> {
        let _ = path;
        unimplemented!("adb work")
    }

    /// Copies one file from the phone into `to`; returns the bytes copied.
    ///
    /// # Errors
    /// `Remote` when the phone refuses the file; `DeviceGone`/`Timeout` naming the file.
    pub fn pull(&self, path: &str, to: &mut dyn Write) -> Result<u64> {
        let _ = (path, to);
        unimplemented!("adb work")
    }

    /// Copies many files with requests pipelined on the sync stream; events arrive in order.
    /// An error returned by `sink` stops the transfer and is returned.
    ///
    /// # Errors
    /// Transport errors naming the file in flight; errors from `sink`.
    pub fn pull_many(
        &self,
        paths: &[String],
        sink: &mut dyn FnMut(PullEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        let _ = (paths, sink);
        unimplemented!("adb work")
    }

    /// Writes `from` to `path` on the phone with this mode and mtime (parents are created).
    ///
    /// # Errors
    /// `Remote` when the phone refuses (no space, permission); transport errors.
    pub fn push(&self, from: &mut dyn Read, path: &str, mode: u32, mtime: i64) -> Result<()> {
        let _ = (from, path, mode, mtime);
        unimplemented!("adb work")
    }
}

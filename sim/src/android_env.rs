//! The handset's userland (STUB in the skeleton; the env work replaces this file).
//!
//! `enter` sets up the process's private Android world: a mount namespace with a root where
//! `/system/bin` holds mksh (as `sh`) and toybox applets plus `getprop`, `am` and `content`,
//! the storage folder at `/sdcard` and `/storage/emulated/0`, and `/data/local/tmp`; then it
//! chroots the whole simulator process into it. After `enter`, device paths are real paths in
//! this process, so the sync service opens them as they are.

use std::path::PathBuf;
use std::process::Command;

use crate::profile::Profile;

/// What the environment is built from.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    pub storage: PathBuf,
    pub profile: Profile,
    /// Storage size in bytes: `df`/`stat -f` report it and writes past it fail with ENOSPC.
    pub capacity: Option<u64>,
    /// Globs of device paths that answer EACCES (sync and shell alike).
    pub deny: Vec<String>,
    /// Where `am` and `content` append the media-scan requests they receive.
    pub scan_log: Option<PathBuf>,
}

/// The entered environment.
#[derive(Debug)]
pub struct AndroidEnv {
    options: EnvOptions,
}

impl AndroidEnv {
    /// Enters the handset's world (STUB: does nothing; commands run with the host's `sh`).
    pub fn enter(options: EnvOptions) -> anyhow::Result<AndroidEnv> {
        Ok(AndroidEnv { options })
    }

    /// A command that runs `command` with the handset's shell, as adbd's shell service does.
    pub fn shell_command(&self, command: &[u8]) -> Command {
        use std::os::unix::ffi::OsStrExt;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(std::ffi::OsStr::from_bytes(command))
            .current_dir(&self.options.storage);
        cmd
    }

    /// Whether a device path is denied by a `--fault deny=GLOB`.
    pub fn is_denied(&self, device_path: &str) -> bool {
        let _ = device_path;
        false
    }
}

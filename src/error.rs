//! The one error type of the library.
//!
//! Variants carry their context (which handset, which path, what the phone said) so the
//! CLI can print a message a person can act on. Sections are grouped by area; add new
//! variants to your area's section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in phonevault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- local I/O -------------------------------------------------------------------
    /// A local file operation failed.
    #[error("{context}: {path}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // ---- adb server and handsets -----------------------------------------------------
    /// No `adb` program could be found to start the adb server.
    #[error("the adb program was not found ({searched}); {how_to_install}")]
    AdbNotFound {
        searched: String,
        how_to_install: &'static str,
    },
    /// The adb server could not be reached or started.
    #[error("cannot reach the adb server at {addr}: {detail}")]
    AdbServer { addr: String, detail: String },
    /// The adb server refused a request.
    #[error("the adb server refused `{request}`: {message}")]
    ServerRefused { request: String, message: String },
    /// No handset is attached.
    #[error("no handset found: plug the phone in with a USB cable and turn on USB debugging (Settings > Developer options)")]
    NoDevice,
    /// A chosen serial is not attached.
    #[error("handset {serial} is not attached (attached: {attached})")]
    DeviceNotFound { serial: String, attached: String },
    /// Several handsets are attached and none was chosen.
    #[error("several handsets are attached ({serials}) and none was chosen")]
    MultipleDevices { serials: String },
    /// The handset has not accepted this computer.
    #[error(
        "handset {serial} is unauthorized: unlock the phone and accept the USB debugging prompt"
    )]
    Unauthorized { serial: String },
    /// The handset is attached but offline.
    #[error("handset {serial} is offline: unplug and replug the cable, or restart adb with `adb kill-server`")]
    Offline { serial: String },
    /// The handset is attached in a state we cannot use (no permissions, recovery, bootloader).
    #[error("handset {serial} is attached but not usable (no USB permission, or in recovery or bootloader mode): check the udev rules and boot the phone normally")]
    NotReady { serial: String },
    /// The handset went away (cable pulled, phone rebooted) during an operation.
    #[error("handset {serial} stopped answering{}: {detail}", path_suffix(path.as_deref()))]
    DeviceGone {
        serial: String,
        path: Option<String>,
        detail: String,
    },
    /// An operation took longer than its timeout.
    #[error("handset {serial} did not answer within {seconds} s{}: {operation}", path_suffix(path.as_deref()))]
    Timeout {
        serial: String,
        operation: String,
        path: Option<String>,
        seconds: u64,
    },
    /// The phone answered an operation on a path with an error.
    #[error("handset {serial}: {path}: {message}")]
    Remote {
        serial: String,
        path: String,
        message: String,
    },
    /// The phone or the adb server sent bytes that break the protocol.
    #[error("protocol error with {peer}: {detail}")]
    Protocol { peer: String, detail: String },
    /// The handset only speaks sync v1, whose 32-bit sizes cannot describe this file.
    #[error("handset {serial}: {path}: size unknown (this phone only reports 32-bit sizes, and the file may be larger than 4 GiB)")]
    SizeUnknown { serial: String, path: String },
    /// A shell command on the phone failed.
    #[error("handset {serial}: `{command}` exited with status {status}: {stderr}")]
    Shell {
        serial: String,
        command: String,
        status: i32,
        stderr: String,
    },

    // ---- on-device helper and catalog -------------------------------------------------
    /// The on-device helper printed something we cannot parse.
    #[error("handset {serial}: the on-device helper gave unexpected output: {detail}")]
    HelperOutput { serial: String, detail: String },
    /// A selection setting has a bad value. `flag` names the setting as the library knows it
    /// (`since`, `album`), or as the caller asked to have it named (`--since`).
    #[error("invalid {flag} value `{value}`: {detail}")]
    InvalidSelection {
        flag: &'static str,
        value: String,
        detail: String,
    },

    // ---- previews ---------------------------------------------------------------------
    /// A preview source answered a batch of head reads with the wrong number of results.
    #[error("the preview reader answered {got} results for {asked} files")]
    PreviewSourceMismatch { asked: usize, got: usize },
    /// The system names no cache folder for the preview cache.
    #[error("no cache folder for previews (is HOME set?); pass a cache folder explicitly")]
    NoCacheDir,

    // ---- archives ---------------------------------------------------------------------
    /// An archive could not be read or is damaged.
    #[error("archive {path}: {detail}")]
    Archive { path: PathBuf, detail: String },
    /// The password does not open the archive.
    #[error("archive {path}: wrong password")]
    WrongPassword { path: PathBuf },
    /// An entry's password check (the AES header: salt and verification value) fails while
    /// the same password opens the archive's other entries: the entry is damaged, the
    /// password is right.
    #[error("archive {path}: entry {entry:?} is damaged: its password check (AES header) fails, but the same password opens the archive's other entries")]
    PasswordCheckDamaged { path: PathBuf, entry: String },
    /// A name from a phone or an archive would escape its folder or is not a usable path.
    #[error("refusing unsafe path {name:?}: {reason}")]
    UnsafePath { name: String, reason: &'static str },
    /// An item's entry got a different number of bytes than the phone reported; it was
    /// left out of the archive.
    #[error("{entry:?}: {written} bytes written, but the phone reported {expected}; the item was left out")]
    ItemIncomplete {
        entry: String,
        expected: u64,
        written: u64,
    },
    /// No password was available for an encrypted archive.
    #[error("a password is needed for this encrypted archive")]
    PasswordNeeded,
    /// The password typed the second time differs from the first.
    #[error("the two passwords typed differ; nothing was written")]
    PasswordMismatch,

    // ---- backup and restore -----------------------------------------------------------
    /// There is not enough room for the data.
    #[error("not enough space on {place}: {needed} bytes needed, {free} bytes free")]
    NoSpace {
        place: String,
        needed: u64,
        free: u64,
    },
    /// A chat database was not restored because a different file has its name on the
    /// phone: `WhatsApp` reads chat databases only by their exact names, so a renamed copy
    /// would be lost to it.
    #[error("not restored: a different chat database is already at {target}, and chat databases are never restored under another name (WhatsApp would not find it)")]
    ChatDatabaseConflict { target: String },

    /// No folder was chosen for a backup and there is no home folder to put the default one
    /// in.
    #[error("no backup folder was chosen, and there is no home folder for the default one")]
    NoDefaultFolder,

    // ---- automatic backups: config, watch, history --------------------------------------
    /// The automatic-backup config file cannot be used as it is.
    #[error("the config file {path} cannot be used: {detail}")]
    ConfigFile { path: PathBuf, detail: String },
    /// A phone's automatic-backup setting is incomplete or contradicts itself.
    #[error("the automatic backup setting for phone {phone} is not valid: {reason}")]
    InvalidConfig { phone: String, reason: String },
    /// `auto disable` named a phone that has no automatic-backup setting.
    #[error("phone {phone} is not set up for automatic backups (see `phonevault auto list`)")]
    NoAutoSetting { phone: String },

    // ---- cancellation -----------------------------------------------------------------
    /// The job's cancellation token was tripped (Ctrl-C, a cancel button): the work stopped
    /// on purpose. Also what a handset socket shut down by the token reports, never
    /// `DeviceGone` or `Timeout`.
    #[error("cancelled")]
    Cancelled,
    /// One side of a two-thread transfer stopped first (its own error, or a cancellation, is
    /// what gets reported); the other side ends with this. Internal: it never reaches a
    /// report on its own.
    #[error("the {side} of a transfer stopped first")]
    TransferAbandoned { side: &'static str },

    // ---- backup folders -------------------------------------------------------------
    /// Another job holds the lock on a backup folder (it is writing an archive there).
    #[error("another backup is writing into {folder} (waited {waited_seconds} s for it to finish); try again when it has finished, or back up into another folder")]
    FolderBusy {
        folder: PathBuf,
        waited_seconds: u64,
    },
}

fn path_suffix(path: Option<&str>) -> String {
    path.map_or_else(String::new, |p| format!(" while transferring {p}"))
}

impl Error {
    /// A stable, kebab-case name for this error's variant, meant for code (scripts, the
    /// desktop client's page): it never changes when the wording of a message does. The
    /// list is in `docs/json.md`.
    pub fn kind(&self) -> &'static str {
        // No wildcard arm: a new variant does not compile until it has its own kind.
        match self {
            Error::Io { .. } => "io",
            Error::AdbNotFound { .. } => "adb-not-found",
            Error::AdbServer { .. } => "adb-server",
            Error::ServerRefused { .. } => "server-refused",
            Error::NoDevice => "no-device",
            Error::DeviceNotFound { .. } => "device-not-found",
            Error::MultipleDevices { .. } => "multiple-devices",
            Error::Unauthorized { .. } => "unauthorized",
            Error::Offline { .. } => "offline",
            Error::NotReady { .. } => "not-ready",
            Error::DeviceGone { .. } => "device-gone",
            Error::Timeout { .. } => "timeout",
            Error::Remote { .. } => "remote",
            Error::Protocol { .. } => "protocol",
            Error::SizeUnknown { .. } => "size-unknown",
            Error::Shell { .. } => "shell",
            Error::HelperOutput { .. } => "helper-output",
            Error::InvalidSelection { .. } => "invalid-selection",
            Error::PreviewSourceMismatch { .. } => "preview-source-mismatch",
            Error::NoCacheDir => "no-cache-dir",
            Error::Archive { .. } => "archive",
            Error::WrongPassword { .. } => "wrong-password",
            Error::PasswordCheckDamaged { .. } => "password-check-damaged",
            Error::UnsafePath { .. } => "unsafe-path",
            Error::ItemIncomplete { .. } => "item-incomplete",
            Error::PasswordNeeded => "password-needed",
            Error::PasswordMismatch => "password-mismatch",
            Error::NoSpace { .. } => "no-space",
            Error::ChatDatabaseConflict { .. } => "chat-database-conflict",
            Error::ConfigFile { .. } => "config-file",
            Error::InvalidConfig { .. } => "invalid-config",
            Error::NoAutoSetting { .. } => "no-auto-setting",
            Error::Cancelled => "cancelled",
            Error::TransferAbandoned { .. } => "transfer-abandoned",
            Error::FolderBusy { .. } => "folder-busy",
            Error::NoDefaultFolder => "no-default-folder",
        }
    }

    /// The file or phone path the error is about, when it names one.
    pub fn path(&self) -> Option<String> {
        match self {
            Error::Io { path, .. }
            | Error::Archive { path, .. }
            | Error::WrongPassword { path }
            | Error::PasswordCheckDamaged { path, .. }
            | Error::ConfigFile { path, .. } => Some(path.display().to_string()),
            Error::FolderBusy { folder, .. } => Some(folder.display().to_string()),
            Error::DeviceGone { path, .. } | Error::Timeout { path, .. } => path.clone(),
            Error::Remote { path, .. } | Error::SizeUnknown { path, .. } => Some(path.clone()),
            Error::UnsafePath { name, .. } => Some(name.clone()),
            Error::ItemIncomplete { entry, .. } => Some(entry.clone()),
            Error::ChatDatabaseConflict { target } => Some(target.clone()),
            _ => None,
        }
    }

    /// The error as data: what reports and `--json` carry.
    pub fn record(&self) -> ErrorRecord {
        ErrorRecord::from(self)
    }

    /// Wraps a local I/O error with what was being done and where.
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

/// An error as data, for reports and JSON: `{kind, message, path?}`.
///
/// `kind` is [`Error::kind`] (stable, for code); `message` is the library's description
/// with its causes (for people; it names no command-line flag or button: each front end
/// adds its own hint); `path` is the file or phone path concerned, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl From<&Error> for ErrorRecord {
    fn from(err: &Error) -> ErrorRecord {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ErrorRecord {
            kind: err.kind().to_owned(),
            message,
            path: err.path(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Library messages describe the problem; naming a flag is the front end's business.
    #[test]
    fn messages_name_no_command_line_flag() {
        let errors = [
            Error::MultipleDevices {
                serials: "A, B".into(),
            },
            Error::PasswordNeeded,
            Error::NoDefaultFolder,
            Error::AdbNotFound {
                searched: "PATH".into(),
                how_to_install: crate::adb::HOW_TO_INSTALL_ADB,
            },
            Error::FolderBusy {
                folder: "/backups".into(),
                waited_seconds: 10,
            },
            crate::catalog::select::Selection {
                since: chrono::NaiveDate::from_ymd_opt(2024, 5, 1),
                until: chrono::NaiveDate::from_ymd_opt(2024, 4, 1),
                ..Default::default()
            }
            .compile()
            .expect_err("since after until"),
        ];
        for err in &errors {
            let message = err.to_string();
            for flag in ["-s SERIAL", "ANDROID_SERIAL", "--"] {
                assert!(!message.contains(flag), "{message:?} names {flag:?}");
            }
        }
    }
}

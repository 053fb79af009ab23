//! The history of automatic backups: one JSON object per line, appended after each run, in
//! the user's data folder. JSON lines because the program writes it and other programs
//! (`phonevault history`, the desktop client, a person's `jq`) read it; each run is one
//! `write` of one line, so a crash never leaves half a record in the middle, and a damaged
//! line is skipped without losing the others.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The environment variable that names the history file instead of the default.
pub const HISTORY_ENV: &str = "PHONEVAULT_HISTORY";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunResult {
    /// Everything selected is now in the folder; a new archive holds what was new.
    Complete,
    /// Everything selected was already in the folder: no archive, 0 bytes copied.
    NothingNew,
    /// Some items could not be copied (cable pulled, unreadable files): what arrived whole
    /// is saved, and the next run takes the rest.
    Partial,
    /// `watch` was stopped (Ctrl-C, SIGTERM) during the run: what arrived whole is saved.
    Interrupted,
    /// The run could not be done at all (folder not writable, password file missing...).
    Failed,
}

impl RunResult {
    /// The word used in JSON and in tables.
    pub fn word(self) -> &'static str {
        match self {
            RunResult::Complete => "complete",
            RunResult::NothingNew => "nothing-new",
            RunResult::Partial => "partial",
            RunResult::Interrupted => "interrupted",
            RunResult::Failed => "failed",
        }
    }
}

/// One automatic backup run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// The phone's hardware serial (`ro.serialno`), the key of its setting.
    pub serial: String,
    #[serde(default)]
    pub model: String,
    /// The adb transport it was reached through (`127.0.0.1:5555`, a USB serial).
    #[serde(default)]
    pub adb_serial: String,
    pub result: RunResult,
    /// Items written to the new archive.
    #[serde(default)]
    pub items: u64,
    /// Bytes of those items.
    #[serde(default)]
    pub bytes: u64,
    /// Items already in earlier archives.
    #[serde(default)]
    pub skipped: u64,
    /// Items the phone would not give, or not attempted because the run stopped early.
    #[serde(default)]
    pub missed: u64,
    /// The backup folder.
    #[serde(default)]
    pub folder: String,
    /// The new archive, when one was written.
    #[serde(default)]
    pub archive: Option<String>,
    /// Why the run failed or stopped early.
    #[serde(default)]
    pub error: Option<String>,
}

/// The history file: `PHONEVAULT_HISTORY` when set, else
/// `<data folder>/phonevault/history.jsonl` (`~/.local/share` on Linux, `~/Library/Application
/// Support` on macOS, `%APPDATA%` on Windows).
///
/// # Errors
/// `Io` when the system has no data folder.
pub fn history_path(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os(HISTORY_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let base = dirs::data_dir().ok_or_else(|| {
        Error::io(
            "cannot find the user's data folder (set PHONEVAULT_HISTORY)",
            "~",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    Ok(base.join("phonevault").join("history.jsonl"))
}

/// Appends one record as one line.
///
/// # Errors
/// `Io` when the file cannot be written.
pub fn append(path: &Path, record: &RunRecord) -> Result<()> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .map_err(|e| Error::io("cannot create the history folder", folder, e))?;
    }
    let mut line = serde_json::to_vec(record).expect("a run record always serialises");
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("cannot open the history file", path, e))?;
    // One write of the whole line: with O_APPEND, two watchers never interleave inside it.
    file.write_all(&line)
        .map_err(|e| Error::io("cannot write the history file", path, e))
}

/// What was read from the history file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Runs, oldest first.
    pub runs: Vec<RunRecord>,
    /// Lines that were not a record (damaged, or from a newer phonevault).
    pub unreadable_lines: usize,
}

impl History {
    /// The newest run of each phone, by hardware serial.
    pub fn last_by_phone(&self) -> std::collections::BTreeMap<&str, &RunRecord> {
        let mut last = std::collections::BTreeMap::new();
        for run in &self.runs {
            last.insert(run.serial.as_str(), run);
        }
        last
    }
}

/// Reads the whole history; a missing file is an empty history.
///
/// # Errors
/// `Io` when the file exists but cannot be read.
pub fn read(path: &Path) -> Result<History> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(Error::io("cannot read the history file", path, e)),
    };
    let mut history = History::default();
    for line in bytes.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<RunRecord>(line) {
            Ok(run) => history.runs.push(run),
            Err(_) => history.unreadable_lines += 1,
        }
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(serial: &str, result: RunResult) -> RunRecord {
        let now = Utc::now();
        RunRecord {
            started: now,
            finished: now,
            serial: serial.into(),
            model: "Pixel 8".into(),
            adb_serial: "127.0.0.1:5555".into(),
            result,
            items: 3,
            bytes: 300,
            skipped: 1,
            missed: 0,
            folder: "/b".into(),
            archive: Some("/b/x.zip".into()),
            error: None,
        }
    }

    #[test]
    fn appends_and_reads_back_skipping_a_damaged_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/history.jsonl");
        assert_eq!(read(&path).unwrap(), History::default());
        append(&path, &record("A", RunResult::Complete)).unwrap();
        // A line cut short by a crash of some other writer.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"started\":\n")
            .unwrap();
        append(&path, &record("B", RunResult::Partial)).unwrap();
        append(&path, &record("A", RunResult::NothingNew)).unwrap();
        let history = read(&path).unwrap();
        assert_eq!(history.unreadable_lines, 1);
        let results: Vec<_> = history.runs.iter().map(|r| r.result).collect();
        assert_eq!(
            results,
            [
                RunResult::Complete,
                RunResult::Partial,
                RunResult::NothingNew
            ]
        );
        assert_eq!(history.last_by_phone()["A"].result, RunResult::NothingNew);
    }
}

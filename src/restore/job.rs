//! One restore job's temporary folders on the phone, and telling a live job's folders from
//! those a dead job left behind.
//!
//! Every job pushes into dot-folders named after it (`.phonevault-restore-<id>.partial`),
//! so two jobs (two processes, or two restores in one process) never share one. While a job
//! runs it holds an exclusive lock on `<temp dir>/phonevault-restore-jobs/<id>.lock` on this
//! computer. A folder found on the phone belongs to a dead job when that lock file is
//! missing or nobody holds its lock; only then may it be removed. A phone is attached to one
//! computer at a time, so the computer's lock files speak for every job that can reach it.

use std::fs::{self, File, TryLockError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// Start of every temporary folder's name; the fixed name of older versions is this plus
/// [`TEMP_SUFFIX`].
pub const TEMP_PREFIX: &str = ".phonevault-restore";
/// End of every temporary folder's name.
pub const TEMP_SUFFIX: &str = ".partial";

/// Folder (under the system temp folder) of the jobs' lock files.
const LOCK_FOLDER: &str = "phonevault-restore-jobs";

/// A running restore job: its id, and the lock that says it is alive.
#[derive(Debug)]
pub struct Job {
    id: String,
    lock_path: PathBuf,
    /// Held (locked) for the job's lifetime; released when dropped.
    _lock: File,
}

impl Job {
    /// A new job with a unique id, its lock taken.
    ///
    /// # Errors
    /// `Io` when the lock file cannot be created or locked.
    pub fn start() -> Result<Job> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let id = format!(
            "{}-{nanos:x}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let folder = lock_folder();
        fs::create_dir_all(&folder)
            .map_err(|e| Error::io("cannot create the folder of restore locks", &folder, e))?;
        let lock_path = folder.join(format!("{id}.lock"));
        let lock = File::create_new(&lock_path)
            .map_err(|e| Error::io("cannot create the restore job's lock", &lock_path, e))?;
        lock.lock()
            .map_err(|e| Error::io("cannot lock the restore job's lock", &lock_path, e))?;
        Ok(Job {
            id,
            lock_path,
            _lock: lock,
        })
    }

    /// The name of this job's temporary folder inside each target folder.
    pub fn temp_name(&self) -> String {
        temp_name(&self.id)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // The lock goes with the file; folders this job left on the phone (cable pulled)
        // are then recognised as dead by the next run.
        let _ = fs::remove_file(&self.lock_path);
    }
}

fn lock_folder() -> PathBuf {
    std::env::temp_dir().join(LOCK_FOLDER)
}

/// The temporary folder name of the job `id`.
pub fn temp_name(id: &str) -> String {
    format!("{TEMP_PREFIX}-{id}{TEMP_SUFFIX}")
}

/// Whether a folder named `name` is a restore job's temporary folder, and whose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TempFolder {
    /// Not a restore temporary folder (or one whose id this version never makes).
    Other,
    /// Made by a job that no longer runs (or by a version that used one fixed name).
    Dead {
        /// The job's id; empty for the fixed name of older versions.
        id: String,
    },
    /// A job that still runs holds its lock: leave it alone.
    Live,
}

/// Classifies a folder name found on the phone.
pub fn classify(name: &str) -> TempFolder {
    let Some(middle) = name
        .strip_prefix(TEMP_PREFIX)
        .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
    else {
        return TempFolder::Other;
    };
    if middle.is_empty() {
        return TempFolder::Dead { id: String::new() };
    }
    let Some(id) = middle.strip_prefix('-') else {
        return TempFolder::Other;
    };
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return TempFolder::Other;
    }
    let lock_path = lock_folder().join(format!("{id}.lock"));
    let file = match File::open(&lock_path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return TempFolder::Dead { id: id.to_string() }
        }
        // Someone else's lock we cannot read: it may be alive.
        Err(_) => return TempFolder::Live,
    };
    match file.try_lock() {
        Ok(()) => TempFolder::Dead { id: id.to_string() },
        Err(TryLockError::WouldBlock | TryLockError::Error(_)) => TempFolder::Live,
    }
}

/// Forgets a dead job once its folders are gone (its lock file, if any).
pub fn forget(id: &str) {
    if !id.is_empty() {
        let _ = fs::remove_file(lock_folder().join(format!("{id}.lock")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_job_is_live_and_a_finished_one_dead() {
        let job = Job::start().unwrap();
        let name = job.temp_name();
        assert!(name.starts_with(".phonevault-restore-") && name.ends_with(".partial"));
        assert_eq!(classify(&name), TempFolder::Live);
        let other = Job::start().unwrap();
        assert_ne!(other.temp_name(), name, "two jobs share a folder name");
        let id = job.id.clone();
        drop(job);
        assert_eq!(classify(&name), TempFolder::Dead { id });
    }

    #[test]
    fn old_and_foreign_names() {
        assert_eq!(
            classify(".phonevault-restore.partial"),
            TempFolder::Dead { id: String::new() }
        );
        assert_eq!(classify("IMG_1.jpg"), TempFolder::Other);
        assert_eq!(classify(".phonevault-restorex.partial"), TempFolder::Other);
        assert_eq!(
            classify(".phonevault-restore-../../x.partial"),
            TempFolder::Other
        );
    }
}

//! A backup folder: the finished archives of one or more backups, for incremental backups.

use std::collections::{HashMap, HashSet};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::manifest::{ItemRecord, Manifest};
use super::reader::ArchiveReader;
use super::{Password, PARTIAL_SUFFIX};
use crate::cancel::Cancel;
use crate::{Error, Result};

/// `phonevault-<serial>-YYYYMMDD-HHMMSS` (UTC, so names sort by time whatever the time
/// zone). Characters of the serial other than ASCII letters, digits, `.`, `_` and `-`
/// become `_` (a TCP serial such as `127.0.0.1:5555` has a colon).
pub fn archive_stem(serial: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let serial: String = serial
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let serial = if serial.is_empty() {
        "unknown".to_owned()
    } else {
        serial
    };
    format!("phonevault-{serial}-{}", at.format("%Y%m%d-%H%M%S"))
}

/// An exclusive OS lock on a backup folder, held by the one job that writes into it, for the
/// whole of its run; released when dropped (and by the OS when the process dies, even by
/// SIGKILL).
///
/// On Unix the folder itself is locked (`flock` on the directory), so nothing is written and
/// nothing is left behind by a killed run. Windows cannot lock a directory handle, so there
/// the lock is on the file `.phonevault.lock` inside the folder, which stays (an empty file).
///
/// While it is held, no other phonevault writes into the folder, so every `*.zip.partial`
/// found there belongs to a writer that is dead.
#[derive(Debug)]
pub struct FolderLock {
    /// Kept open: closing it releases the lock.
    _handle: File,
    dir: PathBuf,
    /// False on a file system that has no locks (some network shares): then nothing keeps
    /// a second job out, and no `.partial` can be known to be stale.
    exclusive: bool,
}

/// The lock file used where a folder cannot be locked itself (Windows).
#[cfg(not(unix))]
pub const LOCK_FILE: &str = ".phonevault.lock";

/// How often a waiting job tries the lock again (and looks at its cancel flag).
const LOCK_POLL: Duration = Duration::from_millis(100);

impl FolderLock {
    /// Takes the lock on `dir` (which must exist), trying again for up to `wait` while
    /// another job holds it.
    ///
    /// # Errors
    /// `FolderBusy` when another job still holds it after `wait`; `Cancelled` when
    /// `cancel` trips while waiting; `Io` when the folder cannot be opened or locked.
    pub fn acquire(dir: &Path, wait: Duration, cancel: &Cancel) -> Result<FolderLock> {
        let handle = open_lock_handle(dir)?;
        let started = Instant::now();
        loop {
            match handle.try_lock() {
                Ok(()) => {
                    return Ok(FolderLock {
                        _handle: handle,
                        dir: dir.to_path_buf(),
                        exclusive: true,
                    })
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                    return Ok(FolderLock {
                        _handle: handle,
                        dir: dir.to_path_buf(),
                        exclusive: false,
                    })
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io("cannot lock the backup folder", dir, e))
                }
            }
            cancel.check()?;
            let waited = started.elapsed();
            if waited >= wait {
                return Err(Error::FolderBusy {
                    folder: dir.to_path_buf(),
                    waited_seconds: waited.as_secs(),
                });
            }
            std::thread::sleep(LOCK_POLL.min(wait.saturating_sub(waited)));
        }
    }

    /// Takes the lock only if it is free now; `None` when another job holds it.
    ///
    /// # Errors
    /// `Io` when the folder cannot be opened or locked.
    pub fn try_acquire(dir: &Path) -> Result<Option<FolderLock>> {
        match Self::acquire(dir, Duration::ZERO, &Cancel::new()) {
            Ok(lock) => Ok(Some(lock)),
            Err(Error::FolderBusy { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The locked folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the lock really keeps other jobs out: false when the folder's file system
    /// has no locks.
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}

#[cfg(unix)]
fn open_lock_handle(dir: &Path) -> Result<File> {
    File::open(dir).map_err(|e| Error::io("cannot open the backup folder to lock it", dir, e))
}

#[cfg(not(unix))]
fn open_lock_handle(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("cannot open the backup folder's lock file", &path, e))
}

/// The finished archives of a folder, with their manifests.
#[derive(Debug, Default)]
pub struct BackupFolder {
    dir: PathBuf,
    archives: Vec<(PathBuf, Manifest)>,
    /// (device path, size, mtime) -> (archive index, item index) of the first copy that is
    /// not known to be damaged.
    index: HashMap<(String, u64, i64), (usize, usize)>,
    /// Items with a copy that `verify` found damaged.
    damaged: HashSet<(String, u64, i64)>,
}

/// What [`BackupFolder::open`] found besides the archives.
#[derive(Debug)]
pub struct FolderScan {
    pub folder: BackupFolder,
    /// Stale `.zip.partial` files (interrupted backups whose writer is dead) that were removed.
    pub removed_partials: Vec<PathBuf>,
    /// `.zip.partial` files left alone because another job holds the folder's lock (its
    /// writer is alive).
    pub live_partials: Vec<PathBuf>,
    /// Archives that could not be read (damaged, truncated); their items count as not
    /// backed up, so an incremental backup copies them again.
    pub unreadable: Vec<(PathBuf, Error)>,
    /// Entries that `verify` found damaged (recorded beside their archive, see
    /// [`record_verify`]): (archive, entry name). Items whose only copies are damaged count
    /// as not backed up.
    pub damaged: Vec<(PathBuf, String)>,
}

impl BackupFolder {
    /// Lists the finished archives (`*.zip`) in `dir` (oldest first by name) and loads every
    /// manifest. Stale `*.zip.partial` files are removed when the folder's lock is free (their
    /// writers are dead); while another job holds it they are left alone. A missing folder is
    /// an empty one.
    ///
    /// # Errors
    /// As [`open_locked`](Self::open_locked).
    pub fn open(dir: &Path, password: Option<&Password>) -> Result<FolderScan> {
        let lock = match FolderLock::try_acquire(dir) {
            Ok(lock) => lock,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Self::scan(dir, password, lock.as_ref(), &Cancel::new())
    }

    /// [`open`](Self::open) for the job that holds the folder's lock: every `*.zip.partial`
    /// is stale and removed.
    ///
    /// # Errors
    /// `Io` when the folder cannot be listed or a stale file cannot be removed;
    /// `PasswordNeeded`/`WrongPassword` when an encrypted archive cannot be opened with
    /// `password` (a typo should not make a backup copy everything again); `Cancelled` when
    /// `cancel` trips (checked before each archive: a folder may hold many large ones).
    pub fn open_locked(
        lock: &FolderLock,
        password: Option<&Password>,
        cancel: &Cancel,
    ) -> Result<FolderScan> {
        Self::scan(lock.dir(), password, Some(lock), cancel)
    }

    fn scan(
        dir: &Path,
        password: Option<&Password>,
        lock: Option<&FolderLock>,
        cancel: &Cancel,
    ) -> Result<FolderScan> {
        let mut scan = FolderScan {
            folder: BackupFolder {
                dir: dir.to_path_buf(),
                ..BackupFolder::default()
            },
            removed_partials: Vec::new(),
            live_partials: Vec::new(),
            unreadable: Vec::new(),
            damaged: Vec::new(),
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(scan),
            Err(e) => return Err(Error::io("cannot list the backup folder", dir, e)),
        };
        let mut zips = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list the backup folder", dir, e))?;
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if !is_file || name.starts_with('.') {
                continue;
            }
            if name.ends_with(PARTIAL_SUFFIX) {
                if lock.is_some_and(FolderLock::is_exclusive) {
                    // We hold the lock, so the writer of this one is dead.
                    std::fs::remove_file(&path)
                        .map_err(|e| Error::io("cannot remove an unfinished archive", &path, e))?;
                    scan.removed_partials.push(path);
                } else {
                    scan.live_partials.push(path);
                }
            } else if path
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("zip"))
            {
                zips.push(path);
            }
        }
        zips.sort();
        scan.removed_partials.sort();
        scan.live_partials.sort();
        for path in zips {
            cancel.check()?;
            match ArchiveReader::open(&path, password) {
                Ok(reader) => {
                    let damaged = read_verify_record(&path);
                    scan.damaged
                        .extend(damaged.iter().map(|entry| (path.clone(), entry.clone())));
                    scan.folder.add(path, reader.manifest().clone(), &damaged);
                }
                Err(e @ (Error::WrongPassword { .. } | Error::PasswordNeeded)) => return Err(e),
                Err(e) => scan.unreadable.push((path, e)),
            }
        }
        Ok(scan)
    }

    fn add(&mut self, path: PathBuf, manifest: Manifest, damaged: &HashSet<String>) {
        let a = self.archives.len();
        for (i, record) in manifest.items.iter().enumerate() {
            let item = &record.item;
            if damaged.contains(&record.entry) {
                self.damaged
                    .insert((item.path.clone(), item.size, item.mtime));
                continue;
            }
            self.index
                .entry((item.path.clone(), item.size, item.mtime))
                .or_insert((a, i));
        }
        self.archives.push((path, manifest));
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The finished archives and their manifests, oldest first.
    pub fn archives(&self) -> impl Iterator<Item = (&Path, &Manifest)> {
        self.archives.iter().map(|(p, m)| (p.as_path(), m))
    }

    /// Whether an item with this device path, size and mtime is already in an archive.
    pub fn contains(&self, device_path: &str, size: u64, mtime: i64) -> bool {
        self.find(device_path, size, mtime).is_some()
    }

    /// Whether the folder holds this item only in copies that `verify` found damaged.
    pub fn holds_only_damaged(&self, device_path: &str, size: u64, mtime: i64) -> bool {
        let key = (device_path.to_owned(), size, mtime);
        self.damaged.contains(&key) && !self.index.contains_key(&key)
    }

    /// The archive and record holding an item with this device path, size and mtime.
    pub fn find(&self, device_path: &str, size: u64, mtime: i64) -> Option<(&Path, &ItemRecord)> {
        let &(a, i) = self.index.get(&(device_path.to_owned(), size, mtime))?;
        let (path, manifest) = &self.archives[a];
        Some((path.as_path(), &manifest.items[i]))
    }
}

/// What `verify` found damaged in one archive, kept beside it as
/// `<archive>.damaged.json` so that the next backup into the folder copies those items again.
#[derive(Debug, Serialize, Deserialize)]
struct VerifyRecord {
    /// The archive file this record is about, by size and modification time: a record left
    /// beside a file that has since been replaced (or repaired) is ignored.
    archive_size: u64,
    archive_modified_secs: i64,
    archive_modified_nanos: u32,
    checked: chrono::DateTime<chrono::Utc>,
    /// Zip entry names that failed the check.
    damaged: Vec<String>,
}

/// Suffix added to an archive's file name for its record of damaged entries.
pub const VERIFY_RECORD_SUFFIX: &str = ".damaged.json";

/// Where the record of damaged entries of `archive` is kept.
pub fn verify_record_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_os_string();
    name.push(VERIFY_RECORD_SUFFIX);
    PathBuf::from(name)
}

fn modified(meta: &std::fs::Metadata) -> Option<(i64, u32)> {
    let since = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((i64::try_from(since.as_secs()).ok()?, since.subsec_nanos()))
}

/// Records the outcome of verifying `archive`: with damaged entries, writes (atomically)
/// the record a backup folder scan reads, so items whose only copy is damaged count as not
/// backed up; with none, removes an earlier record.
///
/// # Errors
/// `Io` when the archive cannot be looked at or the record cannot be written or removed
/// (a read-only disk): the verify result itself stands.
pub fn record_verify(archive: &Path, damaged_entries: &[String]) -> Result<()> {
    let record_path = verify_record_path(archive);
    if damaged_entries.is_empty() {
        return match std::fs::remove_file(&record_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(
                "cannot remove the old record of damaged entries",
                &record_path,
                e,
            )),
        };
    }
    let meta = std::fs::metadata(archive)
        .map_err(|e| Error::io("cannot look at the archive", archive, e))?;
    let (secs, nanos) = modified(&meta).unwrap_or((0, 0));
    let record = VerifyRecord {
        archive_size: meta.len(),
        archive_modified_secs: secs,
        archive_modified_nanos: nanos,
        checked: chrono::Utc::now(),
        damaged: damaged_entries.to_vec(),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| Error::Archive {
        path: record_path.clone(),
        detail: format!("cannot encode the record of damaged entries: {e}"),
    })?;
    let dir = record_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let context = "cannot write the record of damaged entries";
    let mut tmp = tempfile::Builder::new()
        .prefix(".phonevault-damaged-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(context, &record_path, e))?;
    std::io::Write::write_all(&mut tmp, &json).map_err(|e| Error::io(context, &record_path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(context, &record_path, e))?;
    tmp.persist(&record_path)
        .map_err(|e| Error::io(context, &record_path, e.error))?;
    Ok(())
}

/// The damaged entries recorded for `archive`: empty when there is no record, when it
/// cannot be read, or when it was written for another file than the one there now.
fn read_verify_record(archive: &Path) -> HashSet<String> {
    let Ok(text) = std::fs::read(verify_record_path(archive)) else {
        return HashSet::new();
    };
    let Ok(record) = serde_json::from_slice::<VerifyRecord>(&text) else {
        return HashSet::new();
    };
    let Ok(meta) = std::fs::metadata(archive) else {
        return HashSet::new();
    };
    let same_file = meta.len() == record.archive_size
        && modified(&meta) == Some((record.archive_modified_secs, record.archive_modified_nanos));
    if same_file {
        record.damaged.into_iter().collect()
    } else {
        HashSet::new()
    }
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot sync the folder", dir, e))
}

/// Windows cannot open a folder as a file; its renames are journaled by NTFS.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `flock` locks belong to an open file, not a process: two jobs in one process exclude
    /// each other too.
    #[test]
    fn a_held_folder_lock_keeps_a_second_job_out_until_it_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(tmp.path(), Duration::ZERO, &Cancel::new()).unwrap();
        let err = FolderLock::acquire(tmp.path(), Duration::from_millis(250), &Cancel::new())
            .unwrap_err();
        assert!(matches!(err, Error::FolderBusy { .. }), "{err}");
        assert!(FolderLock::try_acquire(tmp.path()).unwrap().is_none());
        let cancel = Cancel::new();
        cancel.cancel();
        let err = FolderLock::acquire(tmp.path(), Duration::from_secs(60), &cancel).unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
        drop(first);
        assert!(FolderLock::try_acquire(tmp.path()).unwrap().is_some());
    }

    #[test]
    fn a_partial_is_left_alone_while_another_job_holds_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let partial = tmp.path().join(format!("live{PARTIAL_SUFFIX}"));
        std::fs::write(&partial, b"being written").unwrap();
        let writer = FolderLock::acquire(tmp.path(), Duration::ZERO, &Cancel::new()).unwrap();
        let scan = BackupFolder::open(tmp.path(), None).unwrap();
        assert_eq!(scan.live_partials, vec![partial.clone()]);
        assert!(scan.removed_partials.is_empty());
        assert!(partial.exists());
        drop(writer);
        let scan = BackupFolder::open(tmp.path(), None).unwrap();
        assert_eq!(scan.removed_partials, vec![partial.clone()]);
        assert!(!partial.exists());
    }

    #[test]
    fn a_verify_record_counts_only_for_the_file_it_was_written_for() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("a.zip");
        std::fs::write(&archive, b"pretend archive").unwrap();
        record_verify(&archive, &["gallery/x.jpg".to_owned()]).unwrap();
        let damaged = read_verify_record(&archive);
        assert!(damaged.contains("gallery/x.jpg"));
        // Replaced by another file: the record no longer applies.
        std::fs::write(&archive, b"another archive, longer").unwrap();
        assert!(read_verify_record(&archive).is_empty());
        // A clean verify removes the record.
        record_verify(&archive, &[]).unwrap();
        assert!(!verify_record_path(&archive).exists());
    }
}

//! A backup folder: the finished archives of one or more backups, for incremental backups.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

/// The finished archives of a folder, with their manifests.
#[derive(Debug, Default)]
pub struct BackupFolder {
    dir: PathBuf,
    archives: Vec<(PathBuf, Manifest)>,
    /// (device path, size, mtime) -> (archive index, item index)
    index: HashMap<(String, u64, i64), (usize, usize)>,
}

/// What [`BackupFolder::open`] found besides the archives.
#[derive(Debug)]
pub struct FolderScan {
    pub folder: BackupFolder,
    /// Stale `.zip.partial` files (interrupted backups) that were removed.
    pub removed_partials: Vec<PathBuf>,
    /// Archives that could not be read (damaged, truncated); their items count as not
    /// backed up, so an incremental backup copies them again.
    pub unreadable: Vec<(PathBuf, Error)>,
}

impl BackupFolder {
    /// [`open_cancellable`](Self::open_cancellable) without a way to stop it.
    ///
    /// # Errors
    /// As `open_cancellable`.
    pub fn open(dir: &Path, password: Option<&Password>) -> Result<FolderScan> {
        Self::open_cancellable(dir, password, &Cancel::new())
    }

    /// Lists the finished archives (`*.zip`) in `dir` (oldest first by name), removes stale
    /// `*.zip.partial` files and loads every manifest. A missing folder is an empty one.
    ///
    /// Do not run it while another backup writes into the same folder: its `.partial`
    /// would be taken for a stale one.
    ///
    /// # Errors
    /// `Io` when the folder cannot be listed or a stale file cannot be removed;
    /// `PasswordNeeded`/`WrongPassword` when an encrypted archive cannot be opened with
    /// `password` (a typo should not make a backup copy everything again); `Cancelled` when
    /// `cancel` trips (checked before each archive: a folder may hold many large ones).
    pub fn open_cancellable(
        dir: &Path,
        password: Option<&Password>,
        cancel: &Cancel,
    ) -> Result<FolderScan> {
        let mut scan = FolderScan {
            folder: BackupFolder {
                dir: dir.to_path_buf(),
                ..BackupFolder::default()
            },
            removed_partials: Vec::new(),
            unreadable: Vec::new(),
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
                std::fs::remove_file(&path)
                    .map_err(|e| Error::io("cannot remove an unfinished archive", &path, e))?;
                scan.removed_partials.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("zip"))
            {
                zips.push(path);
            }
        }
        zips.sort();
        scan.removed_partials.sort();
        for path in zips {
            cancel.check()?;
            match ArchiveReader::open(&path, password) {
                Ok(reader) => scan.folder.add(path, reader.manifest().clone()),
                Err(e @ (Error::WrongPassword { .. } | Error::PasswordNeeded)) => return Err(e),
                Err(e) => scan.unreadable.push((path, e)),
            }
        }
        Ok(scan)
    }

    fn add(&mut self, path: PathBuf, manifest: Manifest) {
        let a = self.archives.len();
        for (i, record) in manifest.items.iter().enumerate() {
            let item = &record.item;
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

    /// The archive and record holding an item with this device path, size and mtime.
    pub fn find(&self, device_path: &str, size: u64, mtime: i64) -> Option<(&Path, &ItemRecord)> {
        let &(a, i) = self.index.get(&(device_path.to_owned(), size, mtime))?;
        let (path, manifest) = &self.archives[a];
        Some((path.as_path(), &manifest.items[i]))
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

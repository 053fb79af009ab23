//! Streaming items into a new archive: `<stem>.zip.partial` until `finish()` makes it whole.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use zip::write::{FullFileOptions, SimpleFileOptions};
use zip::{AesMode, CompressionMethod, ZipWriter};

use super::folder::{archive_stem, sync_dir};
use super::manifest::{
    entry_name_among, HandsetRecord, ItemRecord, Manifest, FORMAT_NAME, FORMAT_VERSION,
    MANIFEST_ENTRY, PREVIEWS_ENTRY,
};
use super::{check_entry_name, Password, PARTIAL_SUFFIX};
use crate::catalog::MediaItem;
use crate::identity::Identity;
use crate::{Error, Result};

/// Above this many bytes an entry gets zip64 sizes; AES adds 28 bytes (salt, check, MAC),
/// so the margin keeps a just-under-4-GiB encrypted entry from overflowing 32 bits.
const ZIP64_THRESHOLD: u64 = u32::MAX as u64 - 64;

/// The `.partial` file under the zip writer. Once the archive is dropped unfinished,
/// `discard` makes every later write a no-op, so the zip crate's drop-time finalising
/// cannot make a half-written `.partial` look like a whole archive.
struct PartialFile {
    file: File,
    discard: Arc<AtomicBool>,
}

impl Write for PartialFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.discard.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.discard.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.file.flush()
    }
}

impl Seek for PartialFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        if self.discard.load(Ordering::Relaxed) {
            return Ok(0);
        }
        self.file.seek(pos)
    }
}

/// A new archive being written. See the module docs of [`crate::archive`].
pub struct ArchiveWriter {
    zip: Option<ZipWriter<PartialFile>>,
    discard: Arc<AtomicBool>,
    partial: PathBuf,
    target: PathBuf,
    password: Option<Password>,
    handset: HandsetRecord,
    records: Vec<ItemRecord>,
    entries: HashSet<String>,
    previews: Option<Vec<u8>>,
    /// Set after a write to the `.partial` failed: the zip stream can no longer be trusted,
    /// so nothing more is written and `finish()` refuses.
    failed: Option<String>,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("partial", &self.partial)
            .field("items", &self.records.len())
            .field("encrypted", &self.password.is_some())
            .finish_non_exhaustive()
    }
}

impl ArchiveWriter {
    /// Starts `<dir>/<stem>.zip.partial`, to become `<dir>/<stem>.zip` on [`finish`](Self::finish).
    ///
    /// # Errors
    /// `Archive` when `<stem>.zip` or `<stem>.zip.partial` already exists; `Io` when the file
    /// cannot be created; `UnsafePath` when `stem` is not a plain file name.
    pub fn create(
        dir: &Path,
        stem: &str,
        password: Option<&Password>,
        identity: &Identity,
    ) -> Result<ArchiveWriter> {
        if stem.is_empty() || stem.contains(['/', '\\', '\0']) || stem == "." || stem == ".." {
            return Err(Error::UnsafePath {
                name: stem.to_owned(),
                reason: "an archive name must be a plain file name",
            });
        }
        let target = dir.join(format!("{stem}.zip"));
        let partial = dir.join(format!("{stem}{PARTIAL_SUFFIX}"));
        if target.exists() {
            return Err(Error::Archive {
                path: target,
                detail: "already exists; choose another name".to_owned(),
            });
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    Error::Archive {
                        path: partial.clone(),
                        detail:
                            "already exists (another backup is writing it, or one was interrupted)"
                                .to_owned(),
                    }
                } else {
                    Error::io("cannot create the archive", &partial, e)
                }
            })?;
        let discard = Arc::new(AtomicBool::new(false));
        let zip = ZipWriter::new(PartialFile {
            file,
            discard: Arc::clone(&discard),
        });
        Ok(ArchiveWriter {
            zip: Some(zip),
            discard,
            partial,
            target,
            password: password.cloned(),
            handset: HandsetRecord::from(identity),
            records: Vec::new(),
            entries: HashSet::new(),
            previews: None,
            failed: None,
        })
    }

    /// Starts a new archive in `dir` named `phonevault-<serial>-YYYYMMDD-HHMMSS.zip` (UTC),
    /// with `-2`, `-3`, ... appended when that name is taken. Call it holding the folder's
    /// [`FolderLock`](super::FolderLock): then no other job can pick the same name before
    /// this one is renamed into place.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_in(
        dir: &Path,
        password: Option<&Password>,
        identity: &Identity,
    ) -> Result<ArchiveWriter> {
        let base = archive_stem(&identity.serial, chrono::Utc::now());
        for n in 1..=1000u32 {
            let stem = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let taken = dir.join(format!("{stem}.zip")).exists()
                || dir.join(format!("{stem}{PARTIAL_SUFFIX}")).exists();
            if taken {
                continue;
            }
            match Self::create(dir, &stem, password, identity) {
                // Lost a race with another writer for this name: try the next suffix.
                Err(Error::Archive { .. }) => {}
                other => return other,
            }
        }
        Err(Error::Archive {
            path: dir.join(format!("{base}.zip")),
            detail: "this name and 999 suffixed ones are all taken".to_owned(),
        })
    }

    /// The `.partial` file being written.
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// Where the archive will be once finished.
    pub fn target_path(&self) -> &Path {
        &self.target
    }

    /// The items committed so far.
    pub fn records(&self) -> &[ItemRecord] {
        &self.records
    }

    /// Starts the entry for `item`; write its bytes into the returned writer, then
    /// [`ItemWriter::commit`]. Dropping the item writer without committing discards the entry.
    ///
    /// # Errors
    /// `UnsafePath` when the item's `rel_path` is not a plain relative path; `Archive` when
    /// the archive already holds this entry or an earlier write failed; `Io` when writing fails.
    pub fn begin_item(&mut self, item: &MediaItem) -> Result<ItemWriter<'_>> {
        self.check_usable()?;
        crate::catalog::check_rel_path(&item.rel_path)?;
        let entry = entry_name_among(item, |name| self.entries.contains(name));
        check_entry_name(&entry)?;
        if self.entries.contains(&entry) {
            return Err(Error::Archive {
                path: self.partial.clone(),
                detail: format!("already holds an entry named {entry:?}"),
            });
        }
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(item.size > ZIP64_THRESHOLD);
        self.start_entry(&entry, options, item.mtime)?;
        Ok(ItemWriter {
            archive: self,
            item: item.clone(),
            entry,
            hasher: Sha256::new(),
            written: 0,
            done: false,
        })
    }

    /// Stores the previews blob (`phonevault/previews.json`), written by [`finish`](Self::finish).
    pub fn set_previews(&mut self, bytes: Vec<u8>) {
        self.previews = Some(bytes);
    }

    /// Writes the previews and the manifest, syncs, and renames the `.partial` to `.zip`.
    /// Call it with whatever was committed so far, even after an interruption: the result
    /// holds whole items only.
    ///
    /// # Errors
    /// `Archive` when an earlier write failed; `Io` when writing, syncing or renaming
    /// fails. In every error case the `.partial` is removed, so nothing looks complete.
    pub fn finish(mut self) -> Result<PathBuf> {
        match self.finish_inner() {
            Ok(path) => Ok(path),
            Err(err) => {
                self.discard.store(true, Ordering::Relaxed);
                drop(self.zip.take());
                let _ = std::fs::remove_file(&self.partial);
                Err(err)
            }
        }
    }

    /// Stops without making an archive: removes the `.partial`.
    ///
    /// # Errors
    /// `Io` when the `.partial` cannot be removed.
    pub fn abandon(mut self) -> Result<()> {
        self.discard.store(true, Ordering::Relaxed);
        drop(self.zip.take());
        match std::fs::remove_file(&self.partial) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(
                "cannot remove the unfinished archive",
                &self.partial,
                e,
            )),
        }
    }

    fn finish_inner(&mut self) -> Result<PathBuf> {
        self.check_usable()?;
        let now = chrono::Utc::now();
        let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        let previews = self.previews.take();
        if let Some(bytes) = &previews {
            self.start_entry(PREVIEWS_ENTRY, deflated, now.timestamp())?;
            self.write_raw(bytes)?;
        }
        let manifest = Manifest {
            format: FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            tool: format!("phonevault {}", env!("CARGO_PKG_VERSION")),
            created: now,
            handset: self.handset.clone(),
            encrypted: self.password.is_some(),
            previews: previews.map(|_| PREVIEWS_ENTRY.to_owned()),
            items: std::mem::take(&mut self.records),
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Archive {
            path: self.partial.clone(),
            detail: format!("cannot encode the manifest: {e}"),
        })?;
        self.records = manifest.items;
        self.start_entry(MANIFEST_ENTRY, deflated, now.timestamp())?;
        self.write_raw(&json)?;

        let zip = self.zip.take().expect("zip writer present until finish");
        let mut inner = zip.finish().map_err(|e| self.zip_error(e))?;
        // An entry discarded after others were written can leave bytes past the central
        // directory; readers look for the end record at the very end of the file.
        let end = inner
            .file
            .stream_position()
            .map_err(|e| Error::io("cannot write the archive", &self.partial, e))?;
        inner
            .file
            .set_len(end)
            .map_err(|e| Error::io("cannot write the archive", &self.partial, e))?;
        inner
            .file
            .sync_all()
            .map_err(|e| Error::io(write_context(&e), &self.partial, e))?;
        drop(inner);
        if self.target.exists() {
            return Err(Error::Archive {
                path: self.target.clone(),
                detail: "appeared while the backup was written; the new archive was not saved"
                    .to_owned(),
            });
        }
        std::fs::rename(&self.partial, &self.target)
            .map_err(|e| Error::io("cannot rename the finished archive", &self.partial, e))?;
        if let Some(dir) = self.target.parent() {
            sync_dir(dir)?;
        }
        Ok(self.target.clone())
    }

    fn check_usable(&self) -> Result<()> {
        match &self.failed {
            Some(why) => Err(Error::Archive {
                path: self.partial.clone(),
                detail: format!("an earlier write failed ({why}); the archive cannot be completed"),
            }),
            None => Ok(()),
        }
    }

    fn start_entry(&mut self, name: &str, options: SimpleFileOptions, mtime: i64) -> Result<()> {
        let mut options: FullFileOptions<'_, '_> = options
            .last_modified_time(dos_time(mtime))
            .unix_permissions(0o644)
            .into_full_options();
        // The 0x5455 field holds an unsigned 32-bit time here; outside that range only the
        // DOS time is written.
        if let Ok(unix) = u32::try_from(mtime) {
            options = options
                .with_extended_timestamp(Some(unix), None, None)
                .map_err(|e| self.zip_error(e))?;
        }
        if let Some(password) = &self.password {
            options = options.with_aes_encryption_bytes(AesMode::Aes256, password.as_bytes());
        }
        let zip = self.zip.as_mut().expect("zip writer present until finish");
        if let Err(e) = zip.start_file(name, options) {
            let err = self.zip_error(e);
            self.failed = Some(err.to_string());
            return Err(err);
        }
        self.entries.insert(name.to_owned());
        Ok(())
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let zip = self.zip.as_mut().expect("zip writer present until finish");
        if let Err(e) = zip.write_all(bytes) {
            self.failed = Some(e.to_string());
            return Err(Error::io(write_context(&e), &self.partial, e));
        }
        Ok(())
    }

    /// Drops the entry being written; the zip crate rewinds over it when it can.
    fn discard_entry(&mut self, entry: &str) {
        self.entries.remove(entry);
        if let Some(zip) = self.zip.as_mut() {
            if let Err(e) = zip.abort_file() {
                self.failed = Some(format!("cannot discard the entry {entry:?}: {e}"));
            }
        }
    }

    fn zip_error(&self, e: zip::result::ZipError) -> Error {
        match e {
            zip::result::ZipError::Io(io) => Error::io(write_context(&io), &self.partial, io),
            other => Error::Archive {
                path: self.partial.clone(),
                detail: other.to_string(),
            },
        }
    }
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        // Not finished: leave the `.partial` as it is; the next backup into the folder,
        // holding its lock (so knowing this writer is gone), removes it.
        self.discard.store(true, Ordering::Relaxed);
    }
}

fn write_context(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::StorageFull {
        "the disk is full; the unfinished archive was not kept"
    } else {
        "cannot write the archive"
    }
}

/// The DOS date and time of an entry: the computer's local wall clock, as Info-ZIP and
/// 7-Zip expect; clamped to the DOS range (1980..2107).
fn dos_time(mtime: i64) -> zip::DateTime {
    use chrono::{Datelike, TimeZone, Timelike};
    let Some(local) = chrono::Local.timestamp_opt(mtime, 0).earliest() else {
        return zip::DateTime::default_for_write();
    };
    let (Ok(year), Ok(month), Ok(day), Ok(hour), Ok(minute), Ok(second)) = (
        u16::try_from(local.year()),
        u8::try_from(local.month()),
        u8::try_from(local.day()),
        u8::try_from(local.hour()),
        u8::try_from(local.minute()),
        u8::try_from(local.second()),
    ) else {
        return zip::DateTime::DEFAULT;
    };
    if year < 1980 {
        return zip::DateTime::DEFAULT;
    }
    zip::DateTime::from_date_and_time(year, month, day, hour, minute, second)
        .unwrap_or(zip::DateTime::DEFAULT)
}

/// One item's entry being written. Write the item's bytes (exactly `item.size` of them),
/// then [`commit`](Self::commit). Dropping it uncommitted discards the entry.
pub struct ItemWriter<'a> {
    archive: &'a mut ArchiveWriter,
    item: MediaItem,
    entry: String,
    hasher: Sha256,
    written: u64,
    done: bool,
}

impl std::fmt::Debug for ItemWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemWriter")
            .field("entry", &self.entry)
            .field("written", &self.written)
            .field("size", &self.item.size)
            .finish_non_exhaustive()
    }
}

impl ItemWriter<'_> {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The zip entry name.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// Records the date taken read from the item's own bytes (its EXIF block), which the
    /// listing could not know; the manifest keeps it.
    pub fn set_taken(&mut self, taken: Option<crate::catalog::Taken>) {
        if taken.is_some() {
            self.item.taken = taken;
        }
    }

    /// Writes a chunk, like [`Write::write_all`] but with the library's error.
    ///
    /// # Errors
    /// `ItemIncomplete` when the chunk would go past the item's size; `Io` (disk full...)
    /// when the archive cannot be written, after which the archive cannot be finished.
    pub fn write_chunk(&mut self, bytes: &[u8]) -> Result<()> {
        let total = self.written + bytes.len() as u64;
        if total > self.item.size {
            return Err(Error::ItemIncomplete {
                entry: self.entry.clone(),
                expected: self.item.size,
                written: total,
            });
        }
        let zip = self
            .archive
            .zip
            .as_mut()
            .expect("zip writer present until finish");
        if let Err(e) = zip.write_all(bytes) {
            self.archive.failed = Some(e.to_string());
            return Err(Error::io(write_context(&e), &self.archive.partial, e));
        }
        self.hasher.update(bytes);
        self.written = total;
        Ok(())
    }

    /// Ends the entry and records it in the manifest-to-be.
    ///
    /// # Errors
    /// `ItemIncomplete` when fewer bytes than `item.size` were written (the entry is
    /// discarded and not recorded); `Archive` when an earlier write failed.
    pub fn commit(mut self) -> Result<ItemRecord> {
        self.done = true;
        if let Err(err) = self.archive.check_usable() {
            self.archive.discard_entry(&self.entry);
            return Err(err);
        }
        if self.written != self.item.size {
            self.archive.discard_entry(&self.entry);
            return Err(Error::ItemIncomplete {
                entry: self.entry.clone(),
                expected: self.item.size,
                written: self.written,
            });
        }
        let digest = std::mem::take(&mut self.hasher).finalize();
        let record = ItemRecord {
            entry: self.entry.clone(),
            sha256: hex(&digest),
            item: self.item.clone(),
        };
        self.archive.records.push(record.clone());
        Ok(record)
    }
}

impl Write for ItemWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.write_chunk(buf) {
            Ok(()) => Ok(buf.len()),
            Err(Error::Io { source, .. }) => Err(source),
            Err(other) => Err(io::Error::new(io::ErrorKind::InvalidInput, other)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ItemWriter<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.archive.discard_entry(&self.entry);
        }
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            serial: "X".to_owned(),
            model: "M".to_owned(),
            manufacturer: "F".to_owned(),
            android_version: "14".to_owned(),
            sdk: 34,
        }
    }

    /// What a full disk leaves behind: a failed write poisons the writer, and `finish`
    /// then leaves neither a `.zip` nor a `.partial`. (The failing write itself cannot be
    /// provoked portably without a small filesystem; this pins what follows it.)
    #[test]
    fn after_a_failed_write_finish_leaves_nothing_that_looks_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let mut writer = ArchiveWriter::create(tmp.path(), "full", None, &identity()).unwrap();
        writer.failed = Some("No space left on device (os error 28)".to_owned());
        let item = MediaItem {
            id: "1".to_owned(),
            path: "/sdcard/DCIM/a.jpg".to_owned(),
            root: "/sdcard".to_owned(),
            rel_path: "DCIM/a.jpg".to_owned(),
            source: crate::catalog::Source::Gallery,
            album: "DCIM".to_owned(),
            kind: crate::catalog::Kind::Photo,
            size: 1,
            mtime: 1,
            taken: None,
            sent: false,
            private: false,
        };
        assert!(matches!(
            writer.begin_item(&item),
            Err(Error::Archive { .. })
        ));
        let err = writer.finish().unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn storage_full_is_named() {
        let e = io::Error::from(io::ErrorKind::StorageFull);
        assert!(write_context(&e).contains("disk is full"));
    }
}

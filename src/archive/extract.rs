//! `extract`: archived items into a folder on this computer as `<source>/<rel_path>`, with
//! their original mtimes, under the same no-overwrite rule as restore.
//!
//! Every file is written to a temporary dot-name in its target folder, checked against the
//! manifest's size and SHA-256, given its mtime, synced, and only then renamed to its name;
//! a rename that must not replace anything uses the no-replace rename, so a file that
//! appears meanwhile is not lost either. An entry that cannot be written (unsafe name,
//! damaged, a folder in the way) is listed and the others are extracted.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::no_overwrite::numbered_name;
use super::reader::{problem_detail, EntryProblem};
use super::writer::hex;
use super::{safe_join, ArchiveReader, ItemRecord};
use crate::progress::{Event, Phase, Progress};
use crate::restore::OnConflict;
use crate::{Error, Result};

/// Prefix of the temporary files in a target folder; a dot-name, so file managers and
/// photo apps skip a half-written one.
const TEMP_PREFIX: &str = ".phonevault-extract-";

/// What happened to one extracted item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Extracted {
    /// Nothing had the item's name: written.
    Written,
    /// A file with the same size and SHA-256 was already there (under the item's name, or
    /// under a numbered name from an earlier keep-both): left as it is.
    AlreadyThere,
    /// A different file had the name: the item was written under a numbered name.
    KeptBoth,
    /// A different file had the name and was replaced (`OnConflict::Overwrite`).
    Overwritten,
    /// A different file had the name and was left alone (`OnConflict::Skip`).
    LeftAlone,
}

impl Extracted {
    /// Whether the item's bytes were written.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Extracted::Written | Extracted::KeptBoth | Extracted::Overwritten
        )
    }

    /// Whether a different file had the item's name.
    pub fn is_conflict(self) -> bool {
        matches!(
            self,
            Extracted::KeptBoth | Extracted::Overwritten | Extracted::LeftAlone
        )
    }
}

/// One item of an extraction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtractedItem {
    /// The zip entry name (from the archive: escape before printing).
    pub entry: String,
    /// The file that holds the item now (for `LeftAlone`: the file that was left).
    pub path: PathBuf,
    pub action: Extracted,
}

/// What [`ArchiveReader::extract`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExtractReport {
    /// Every chosen item that was dealt with, in manifest order.
    pub items: Vec<ExtractedItem>,
    /// Bytes written.
    pub bytes: u64,
    /// Entries not written: unsafe names, damaged entries, files that could not be written.
    pub problems: Vec<EntryProblem>,
}

/// One extracted item as data; the path as text (lossy), so a folder name that is not
/// UTF-8 does not stop the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractedItemSummary {
    pub entry: String,
    pub path: String,
    pub action: Extracted,
}

/// An extraction as data: what `extract --json` prints (fields in `docs/json.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractSummary {
    /// The folder extracted into.
    pub to: String,
    pub written: usize,
    pub already_there: usize,
    pub conflicts: usize,
    pub bytes: u64,
    pub items: Vec<ExtractedItemSummary>,
    pub problems: Vec<EntryProblem>,
}

impl ExtractReport {
    /// The report as data, for an extraction into `to`.
    pub fn summary(&self, to: &Path) -> ExtractSummary {
        ExtractSummary {
            to: to.to_string_lossy().into_owned(),
            written: self.written(),
            already_there: self.count(Extracted::AlreadyThere),
            conflicts: self.conflicts(),
            bytes: self.bytes,
            items: self
                .items
                .iter()
                .map(|item| ExtractedItemSummary {
                    entry: item.entry.clone(),
                    path: item.path.to_string_lossy().into_owned(),
                    action: item.action,
                })
                .collect(),
            problems: self.problems.clone(),
        }
    }

    /// Items that got this action.
    pub fn count(&self, action: Extracted) -> usize {
        self.items.iter().filter(|i| i.action == action).count()
    }

    /// Items whose bytes were written.
    pub fn written(&self) -> usize {
        self.items.iter().filter(|i| i.action.writes()).count()
    }

    /// Items whose name held a different file.
    pub fn conflicts(&self) -> usize {
        self.items.iter().filter(|i| i.action.is_conflict()).count()
    }
}

/// What to do with one item.
enum Decision {
    /// Nothing to write: the item is there, or the conflict is left alone.
    Done(Extracted, PathBuf),
    /// Write the item to `path`; `replace` lets the rename replace a file there.
    Write {
        path: PathBuf,
        replace: bool,
        action: Extracted,
    },
}

/// What a name on this computer holds, compared with an item.
enum Existing {
    Nothing,
    Same,
    Different,
}

impl ArchiveReader {
    /// Writes the items `filter` accepts under `to_dir` as `<source>/<rel_path>`, with their
    /// original mtimes, never replacing a different file unless `on_conflict` says so: an
    /// identical file is left as it is, and keep-both writes the item as `NAME (1).EXT`.
    ///
    /// # Errors
    /// `WrongPassword`/`PasswordNeeded` (nothing can be extracted). Everything about one
    /// item (an unsafe name, a damaged entry, a file that cannot be written) is listed in
    /// the report's problems and the other items are extracted.
    pub fn extract(
        &mut self,
        to_dir: &Path,
        filter: &mut dyn FnMut(&ItemRecord) -> bool,
        on_conflict: OnConflict,
        progress: &dyn Progress,
    ) -> Result<ExtractReport> {
        let mut report = ExtractReport::default();
        let mut chosen = Vec::new();
        for record in &self.manifest().items {
            if !filter(record) {
                continue;
            }
            match safe_join(to_dir, &record.entry) {
                Ok(dest) => chosen.push((record.clone(), dest)),
                Err(e) => report.problems.push(EntryProblem {
                    entry: record.entry.clone(),
                    detail: problem_detail(&e),
                }),
            }
        }
        report.problems.extend(self.unlisted_entries());
        // Keep-both never takes a name another chosen item will have (`IMG (1).jpg` in the
        // archive itself), as restore does.
        let reserved: HashSet<PathBuf> = chosen.iter().map(|(_, dest)| dest.clone()).collect();
        progress.event(Event::Phase {
            name: Phase::Extract,
            items: chosen.len() as u64,
            bytes: chosen.iter().map(|(r, _)| r.item.size).sum(),
        });
        for (index, (record, dest)) in chosen.into_iter().enumerate() {
            progress.event(Event::started(index, &record.entry, record.item.size));
            let place = Place {
                to_dir,
                dest: &dest,
                reserved: &reserved,
                on_conflict,
            };
            match self.extract_item(&record, &place, progress) {
                Ok((action, path, bytes)) => {
                    report.bytes += bytes;
                    report.items.push(ExtractedItem {
                        entry: record.entry.clone(),
                        path,
                        action,
                    });
                    progress.event(Event::done(index, &record.entry));
                }
                Err(
                    e @ (Error::WrongPassword { .. } | Error::PasswordNeeded | Error::Cancelled),
                ) => return Err(e),
                Err(e) => {
                    let detail = problem_detail(&e);
                    progress.event(Event::failed(index, &record.entry, &detail));
                    report.problems.push(EntryProblem {
                        entry: record.entry.clone(),
                        detail,
                    });
                }
            }
        }
        progress.event(Event::PhaseDone {
            name: Phase::Extract,
        });
        Ok(report)
    }

    /// Decides and writes one item; returns what was done, where, and the bytes written.
    fn extract_item(
        &mut self,
        record: &ItemRecord,
        place: &Place<'_>,
        progress: &dyn Progress,
    ) -> Result<(Extracted, PathBuf, u64)> {
        let dest = place.dest;
        let folder = dest.parent().unwrap_or(place.to_dir);
        std::fs::create_dir_all(folder)
            .map_err(|e| Error::io("cannot create the folder", folder, e))?;
        // The item's bytes, once read and checked; kept across a lost race for a name.
        let mut staged: Option<(NamedTempFile, u64)> = None;
        loop {
            let (path, replace, action) = match decide(record, place)? {
                Decision::Done(action, path) => return Ok((action, path, 0)),
                Decision::Write {
                    path,
                    replace,
                    action,
                } => (path, replace, action),
            };
            let (temp, bytes) = match staged.take() {
                Some(staged) => staged,
                None => self.stage(record, folder, dest, progress)?,
            };
            let persisted = if replace {
                temp.persist(&path)
            } else {
                temp.persist_noclobber(&path)
            };
            match persisted {
                Ok(_) => return Ok((action, path, bytes)),
                // Another program made a file with that name since `decide` looked: look
                // again, with the bytes already checked.
                Err(e) if !replace && e.error.kind() == io::ErrorKind::AlreadyExists => {
                    staged = Some((e.file, bytes));
                }
                Err(e) => return Err(Error::io("cannot write", &path, e.error)),
            }
        }
    }

    /// Copies the item's entry into a temporary file in `folder`, checking size and SHA-256,
    /// then sets its mtime and syncs it.
    fn stage(
        &mut self,
        record: &ItemRecord,
        folder: &Path,
        dest: &Path,
        progress: &dyn Progress,
    ) -> Result<(NamedTempFile, u64)> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(TEMP_PREFIX);
        // tempfile makes files 0600; archives hold no modes, so extracted files get what
        // any new file gets here (0644 under umask 022): open(2) applies the umask to 0666.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut temp = builder
            .tempfile_in(folder)
            .map_err(|e| Error::io("cannot create a file in", folder, e))?;
        let bytes = self.check_entry(record, temp.as_file_mut(), dest, progress)?;
        let file = temp.as_file();
        if let Some(mtime) = system_time(record.item.mtime) {
            file.set_modified(mtime)
                .map_err(|e| Error::io("cannot set the modification time of", dest, e))?;
        }
        file.sync_all()
            .map_err(|e| Error::io("cannot write", dest, e))?;
        Ok((temp, bytes))
    }
}

/// Where one item may go.
struct Place<'a> {
    to_dir: &'a Path,
    /// The item's own name under `to_dir`.
    dest: &'a Path,
    /// The names of every item being extracted.
    reserved: &'a HashSet<PathBuf>,
    on_conflict: OnConflict,
}

/// Where the item goes, under the no-overwrite rule.
fn decide(record: &ItemRecord, place: &Place<'_>) -> Result<Decision> {
    let dest = place.dest;
    let write = |path: PathBuf, replace, action| Decision::Write {
        path,
        replace,
        action,
    };
    match compare(dest, record)? {
        Existing::Nothing => return Ok(write(dest.to_path_buf(), false, Extracted::Written)),
        Existing::Same => return Ok(Decision::Done(Extracted::AlreadyThere, dest.to_path_buf())),
        Existing::Different => {}
    }
    match place.on_conflict {
        OnConflict::Skip => Ok(Decision::Done(Extracted::LeftAlone, dest.to_path_buf())),
        OnConflict::Overwrite => Ok(write(dest.to_path_buf(), true, Extracted::Overwritten)),
        OnConflict::KeepBoth => {
            let mut n = 1;
            loop {
                let variant = safe_join(place.to_dir, &numbered_name(&record.entry, n))?;
                if place.reserved.contains(&variant) {
                    n += 1;
                    continue;
                }
                match compare(&variant, record)? {
                    Existing::Nothing => return Ok(write(variant, false, Extracted::KeptBoth)),
                    Existing::Same => return Ok(Decision::Done(Extracted::AlreadyThere, variant)),
                    Existing::Different => n += 1,
                }
            }
        }
    }
}

/// What `path` holds compared with the item: only a regular file with the item's size and
/// SHA-256 is the same (a symlink is not followed: it is a different file).
fn compare(path: &Path, record: &ItemRecord) -> Result<Existing> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Nothing),
        Err(e) => return Err(Error::io("cannot look at", path, e)),
    };
    if !meta.is_file() || meta.len() != record.item.size {
        return Ok(Existing::Different);
    }
    let mut file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("cannot read", path, e)),
        }
    }
    let same = hex(&hasher.finalize()).eq_ignore_ascii_case(&record.sha256);
    Ok(if same {
        Existing::Same
    } else {
        Existing::Different
    })
}

/// The file time for an mtime in seconds, before 1970 too; `None` when this system cannot
/// represent it (the file then keeps the time it was written).
fn system_time(mtime: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(mtime.unsigned_abs());
    if mtime >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

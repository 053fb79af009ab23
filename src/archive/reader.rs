//! Reading archives back: the manifest, verification, extraction, one entry as a stream.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::read::ZipFile;
use zip::result::ZipError;
use zip::ZipArchive;

use super::manifest::{Manifest, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY};
use super::writer::hex;
use super::{ItemRecord, Password};
use crate::cancel::Cancel;
use crate::progress::{Event, Phase, Progress};
use crate::{Error, Result};

/// The manifest is small; anything bigger is not one of ours.
const MANIFEST_LIMIT: u64 = 512 * 1024 * 1024;
/// When the manifest's password check fails, this many other encrypted entries (the
/// smallest) are tried to tell a damaged manifest from a wrong password.
const PASSWORD_PROBES: usize = 4;

/// An open archive with its manifest loaded.
pub struct ArchiveReader {
    path: PathBuf,
    zip: ZipArchive<BufReader<File>>,
    password: Option<Password>,
    /// Whether the password opened an encrypted manifest (checked to its HMAC): then a
    /// later entry whose password check fails is damaged, not opened with a wrong password.
    password_proven: bool,
    manifest: Manifest,
    /// Stops `verify` and `extract` (see [`ArchiveReader::set_cancel`]).
    cancel: Cancel,
}

impl std::fmt::Debug for ArchiveReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader")
            .field("path", &self.path)
            .field("items", &self.manifest.items.len())
            .finish_non_exhaustive()
    }
}

/// One entry that failed a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryProblem {
    /// The zip entry name (from the archive: escape before printing).
    pub entry: String,
    pub detail: String,
}

/// What [`ArchiveReader::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries that were read and matched the manifest.
    pub good: usize,
    /// Bytes read from good entries.
    pub bytes: u64,
    /// Entries that are missing, damaged or differ from the manifest.
    pub problems: Vec<EntryProblem>,
}

/// A verification as data: what `verify --json` prints (fields in `docs/json.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifySummary {
    pub archive: PathBuf,
    /// Items the manifest lists.
    pub items: usize,
    pub good: usize,
    pub bytes: u64,
    pub problems: Vec<EntryProblem>,
}

impl VerifyReport {
    /// The report as data, for the archive at `archive` whose manifest lists `items` items.
    pub fn summary(&self, archive: &Path, items: usize) -> VerifySummary {
        VerifySummary {
            archive: archive.to_path_buf(),
            items,
            good: self.good,
            bytes: self.bytes,
            problems: self.problems.clone(),
        }
    }

    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl ArchiveReader {
    /// Opens an archive and reads its manifest.
    ///
    /// # Errors
    /// `Io` when the file cannot be opened; `Archive` when it is not a whole zip (truncated,
    /// damaged) or holds no valid phonevault manifest; `PasswordNeeded` when it is encrypted
    /// and no password was given; `WrongPassword` when the password does not open it;
    /// `PasswordCheckDamaged` when the manifest's password check fails but the password
    /// opens other entries (the manifest is damaged).
    pub fn open(path: &Path, password: Option<&Password>) -> Result<ArchiveReader> {
        let file = File::open(path).map_err(|e| Error::io("cannot open the archive", path, e))?;
        let zip = ZipArchive::new(BufReader::new(file)).map_err(|e| Error::Archive {
            path: path.to_path_buf(),
            detail: format!("not a whole zip archive (truncated or damaged?): {e}"),
        })?;
        let password = password.cloned();
        let mut zip = zip;
        if zip.index_for_name(MANIFEST_ENTRY).is_none() {
            return Err(Error::Archive {
                path: path.to_path_buf(),
                detail: format!(
                    "has no {MANIFEST_ENTRY}: not a phonevault archive, or one that was never finished"
                ),
            });
        }
        let json = match read_small(&mut zip, path, password.as_ref(), false, MANIFEST_ENTRY) {
            Ok(json) => json,
            Err(Error::WrongPassword { path }) => {
                let opens_others = password
                    .as_ref()
                    .is_some_and(|p| password_opens_another_entry(&mut zip, p, MANIFEST_ENTRY));
                return Err(if opens_others {
                    Error::PasswordCheckDamaged {
                        path,
                        entry: MANIFEST_ENTRY.to_owned(),
                    }
                } else {
                    Error::WrongPassword { path }
                });
            }
            Err(other) => return Err(other),
        };
        let password_proven = password.is_some() && entry_is_encrypted(&zip, MANIFEST_ENTRY);
        let manifest: Manifest = serde_json::from_slice(&json).map_err(|e| Error::Archive {
            path: path.to_path_buf(),
            detail: format!("{MANIFEST_ENTRY} is not a valid manifest: {e}"),
        })?;
        if manifest.format != FORMAT_NAME || manifest.format_version > FORMAT_VERSION {
            return Err(Error::Archive {
                path: path.to_path_buf(),
                detail: format!(
                    "manifest format {:?} version {} is not one this phonevault reads (it reads {FORMAT_NAME:?} up to version {FORMAT_VERSION})",
                    manifest.format, manifest.format_version
                ),
            });
        }
        // Every total taken later (show, verify, extract, restore plans) adds these up.
        if manifest.checked_total_size().is_none() {
            return Err(Error::Archive {
                path: path.to_path_buf(),
                detail: format!(
                    "{MANIFEST_ENTRY} is not a valid manifest: its item sizes add up to more than \
                     {} bytes",
                    u64::MAX
                ),
            });
        }
        Ok(ArchiveReader {
            path: path.to_path_buf(),
            zip,
            password,
            password_proven,
            manifest,
            cancel: Cancel::new(),
        })
    }

    /// Attaches a cancellation token: `verify` and `extract` stop with `Cancelled` when it
    /// trips (checked every read of an entry), leaving no temporary file behind.
    pub fn set_cancel(&mut self, cancel: &Cancel) {
        self.cancel = cancel.clone();
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The previews blob the backup stored, if any.
    ///
    /// # Errors
    /// As for reading any entry.
    pub fn previews(&mut self) -> Result<Option<Vec<u8>>> {
        match self.manifest.previews.clone() {
            Some(name) => self.read_small(&name).map(Some),
            None => Ok(None),
        }
    }

    /// Opens one item's bytes as a stream. The stream checks size and SHA-256 when it reaches
    /// the end and fails the last read (`InvalidData`) when they differ from the manifest.
    ///
    /// # Errors
    /// `Archive` when the entry is missing or unreadable; `PasswordCheckDamaged` when its
    /// AES header is damaged; `WrongPassword`; `PasswordNeeded`.
    pub fn open_entry(&mut self, record: &ItemRecord) -> Result<EntryReader<'_>> {
        let path = self.path.clone();
        let inner = self.open_zip_entry(&record.entry)?;
        Ok(EntryReader {
            inner,
            path,
            entry: record.entry.clone(),
            expected_size: record.item.size,
            expected_sha: record.sha256.clone(),
            hasher: Sha256::new(),
            read: 0,
            checked: false,
        })
    }

    /// Re-reads every item and checks its size and SHA-256 against the manifest.
    ///
    /// # Errors
    /// `WrongPassword` or `PasswordNeeded` (no entry can be checked). Damaged or missing
    /// entries (a damaged AES header included) are not errors: they are listed in the report.
    pub fn verify(&mut self, progress: &dyn Progress) -> Result<VerifyReport> {
        let records = self.manifest.items.clone();
        progress.event(Event::Phase {
            name: Phase::Verify,
            items: records.len() as u64,
            bytes: self.manifest.total_size(),
        });
        let mut report = VerifyReport::default();
        let archive_path = self.path.clone();
        for (index, record) in records.iter().enumerate() {
            progress.event(Event::started(index, &record.entry, record.item.size));
            // A name that would climb out of a folder is never extracted nor restored, so the
            // item cannot be had back whatever its bytes.
            let checked = super::check_entry_name(&record.entry)
                .and_then(|()| self.check_entry(record, &mut io::sink(), &archive_path, progress))
                .and_then(|n| {
                    // Bytes that match the manifest in an entry whose directory record says
                    // otherwise: the item can be had back, but the archive is damaged.
                    let index = self.zip.index_for_name(&record.entry);
                    match index.and_then(|i| self.directory_size_problem(i, record)) {
                        Some(detail) => Err(Error::Archive {
                            path: archive_path.clone(),
                            detail,
                        }),
                        None => Ok(n),
                    }
                });
            match checked {
                Ok(n) => {
                    report.good += 1;
                    report.bytes += n;
                    progress.event(Event::done(index, &record.entry));
                }
                Err(Error::WrongPassword { path }) => return Err(Error::WrongPassword { path }),
                Err(Error::PasswordNeeded) => return Err(Error::PasswordNeeded),
                Err(Error::Cancelled) => return Err(Error::Cancelled),
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
        report.problems.extend(self.unlisted_entries());
        if let Some(name) = self.manifest.previews.clone() {
            if let Err(e) = self.read_small(&name) {
                report.problems.push(EntryProblem {
                    entry: name,
                    detail: problem_detail(&e),
                });
            }
        }
        progress.event(Event::PhaseDone {
            name: Phase::Verify,
        });
        Ok(report)
    }

    /// Copies one entry into `out`, checking size and SHA-256; returns the byte count.
    /// Errors writing to `out` come back as `Io` naming `out_path`; everything about the
    /// entry as `Archive` (or `PasswordCheckDamaged`).
    pub(super) fn check_entry(
        &mut self,
        record: &ItemRecord,
        out: &mut dyn Write,
        out_path: &Path,
        progress: &dyn Progress,
    ) -> Result<u64> {
        let path = self.path.clone();
        let cancel = self.cancel.clone();
        let mut entry = self.open_zip_entry(&record.entry)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            cancel.check()?;
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Archive {
                        path,
                        detail: format!("entry {:?} is damaged: {e}", record.entry),
                    })
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("cannot write", out_path, e))?;
            total += n as u64;
            progress.event(Event::Bytes { bytes: n as u64 });
        }
        if total != record.item.size {
            return Err(Error::Archive {
                path,
                detail: format!(
                    "entry {:?} holds {total} bytes, the manifest says {}",
                    record.entry, record.item.size
                ),
            });
        }
        let sha = hex(&hasher.finalize());
        if !sha.eq_ignore_ascii_case(&record.sha256) {
            return Err(Error::Archive {
                path,
                detail: format!(
                    "entry {:?} has SHA-256 {sha}, the manifest says {}",
                    record.entry, record.sha256
                ),
            });
        }
        Ok(total)
    }

    /// What the zip's own directory says against the manifest, found without reading any
    /// item: manifest entries with unsafe names, entries missing from the zip, entries whose
    /// size in the zip's directory differs from the manifest's, and entries the manifest
    /// does not list (see
    /// [`ArchiveReader::unlisted_entries`]). A flipped byte inside an item's data is only
    /// found by reading it ([`ArchiveReader::verify`]).
    pub fn directory_problems(&self) -> Vec<EntryProblem> {
        let mut problems = Vec::new();
        for record in &self.manifest.items {
            let name = &record.entry;
            let problem = |detail: String| EntryProblem {
                entry: name.clone(),
                detail,
            };
            if let Err(e) = super::check_entry_name(name) {
                problems.push(problem(problem_detail(&e)));
                continue;
            }
            let Some(index) = self.zip.index_for_name(name) else {
                problems.push(problem(format!("has no entry {name:?}")));
                continue;
            };
            if let Some(detail) = self.directory_size_problem(index, record) {
                problems.push(problem(detail));
            }
        }
        problems.extend(self.unlisted_entries());
        problems
    }

    /// Why the zip's directory entry at `index` disagrees with `record` on the size, if it
    /// does.
    fn directory_size_problem(&self, index: usize, record: &ItemRecord) -> Option<String> {
        let name = &record.entry;
        match self.zip.by_index_data(index) {
            Ok(data) if data.size() == record.item.size => None,
            Ok(data) => Some(format!(
                "entry {name:?} holds {} bytes by the zip's directory, the manifest says {}",
                data.size(),
                record.item.size
            )),
            Err(e) => Some(format!("entry {name:?} is unreadable: {e}")),
        }
    }

    /// Entries of the zip that the manifest does not list (neither an item, nor the
    /// manifest, nor the previews): phonevault never writes one, so they are named as
    /// problems, and never extracted or restored.
    pub fn unlisted_entries(&self) -> Vec<EntryProblem> {
        let listed: std::collections::HashSet<&str> = self
            .manifest
            .items
            .iter()
            .map(|r| r.entry.as_str())
            .chain([MANIFEST_ENTRY])
            .chain(self.manifest.previews.as_deref())
            .collect();
        self.zip
            .file_names()
            .filter_map(|name| match name {
                Ok(name) if listed.contains(name.as_ref()) => None,
                Ok(name) => Some(EntryProblem {
                    detail: format!(
                        "entry {name:?} is not listed in the manifest: it is not one phonevault \
                         wrote, and is never extracted or restored"
                    ),
                    entry: name.into_owned(),
                }),
                Err(e) => Some(EntryProblem {
                    entry: String::new(),
                    detail: format!("an entry's name is unreadable: {e}"),
                }),
            })
            .collect()
    }

    fn read_small(&mut self, name: &str) -> Result<Vec<u8>> {
        read_small(
            &mut self.zip,
            &self.path,
            self.password.as_ref(),
            self.password_proven,
            name,
        )
    }

    fn open_zip_entry(&mut self, name: &str) -> Result<ZipFile<'_, BufReader<File>>> {
        open_zip_entry(
            &mut self.zip,
            &self.path,
            self.password.as_ref(),
            self.password_proven,
            name,
        )
    }
}

fn read_small(
    zip: &mut ZipArchive<BufReader<File>>,
    path: &Path,
    password: Option<&Password>,
    password_proven: bool,
    name: &str,
) -> Result<Vec<u8>> {
    let entry = open_zip_entry(zip, path, password, password_proven, name)?;
    let mut out = Vec::new();
    entry
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut out)
        .map_err(|e| Error::Archive {
            path: path.to_path_buf(),
            detail: format!("entry {name:?} is damaged: {e}"),
        })?;
    Ok(out)
}

/// Opens one entry, decrypting it when it is encrypted. A failed password check is a wrong
/// password, unless `password_proven` (the password opened other entries): then the entry's
/// AES header is damaged.
fn open_zip_entry<'z>(
    zip: &'z mut ZipArchive<BufReader<File>>,
    path: &Path,
    password: Option<&Password>,
    password_proven: bool,
    name: &str,
) -> Result<ZipFile<'z, BufReader<File>>> {
    let Some(index) = zip.index_for_name(name) else {
        return Err(Error::Archive {
            path: path.to_path_buf(),
            detail: format!("has no entry {name:?}"),
        });
    };
    let encrypted = zip
        .by_index_data(index)
        .map(|d| d.encrypted())
        .map_err(|e| Error::Archive {
            path: path.to_path_buf(),
            detail: format!("entry {name:?} is unreadable: {e}"),
        })?;
    if encrypted && !has_aes_header(zip, index) {
        // phonevault encrypts with AES only: a ZipCrypto entry is a flipped flag bit, and
        // asking for a password would send the user after the wrong problem.
        return Err(Error::Archive {
            path: path.to_path_buf(),
            detail: format!(
                "entry {name:?} is damaged: it is marked encrypted but has no AES header"
            ),
        });
    }
    let result = if encrypted {
        let Some(password) = password else {
            return Err(Error::PasswordNeeded);
        };
        zip.by_index_decrypt(index, password.as_bytes())
    } else {
        // A password is not applied to plain entries: the zip crate would take them for
        // ZipCrypto ones.
        zip.by_index(index)
    };
    result.map_err(|e| match e {
        ZipError::InvalidPassword if password_proven => Error::PasswordCheckDamaged {
            path: path.to_path_buf(),
            entry: name.to_owned(),
        },
        ZipError::InvalidPassword => Error::WrongPassword {
            path: path.to_path_buf(),
        },
        other => Error::Archive {
            path: path.to_path_buf(),
            detail: format!("entry {name:?} is unreadable: {other}"),
        },
    })
}

/// Whether the entry at `index` carries the AES extra field (WinZip AE-1/AE-2).
fn has_aes_header(zip: &mut ZipArchive<BufReader<File>>, index: usize) -> bool {
    zip.by_index_raw(index).is_ok_and(|entry| {
        entry
            .extra_data_fields()
            .any(|field| matches!(field, zip::ExtraField::AeXEncryption(_)))
    })
}

fn entry_is_encrypted(zip: &ZipArchive<BufReader<File>>, name: &str) -> bool {
    zip.index_for_name(name)
        .and_then(|i| zip.by_index_data(i).ok())
        .is_some_and(|d| d.encrypted())
}

/// Whether `password` opens an encrypted entry other than `except`, read to its end so its
/// HMAC is checked: a wrong password passes the 2-byte check of one entry in 65,536, never
/// the HMAC. The smallest entries are tried, a few at most.
fn password_opens_another_entry(
    zip: &mut ZipArchive<BufReader<File>>,
    password: &Password,
    except: &str,
) -> bool {
    let mut candidates: Vec<(u64, usize)> = (0..zip.len())
        .filter_map(|i| {
            let data = zip.by_index_data(i).ok()?;
            let other = data.name().ok().is_some_and(|n| n != except);
            (other && data.encrypted()).then(|| (data.compressed_size(), i))
        })
        .collect();
    candidates.sort_unstable();
    candidates.into_iter().take(PASSWORD_PROBES).any(|(_, i)| {
        match zip.by_index_decrypt(i, password.as_bytes()) {
            Ok(mut entry) => io::copy(&mut entry, &mut io::sink()).is_ok(),
            Err(_) => false,
        }
    })
}

/// The detail of an entry problem, without repeating the archive's path.
pub(super) fn problem_detail(err: &Error) -> String {
    match err {
        Error::Archive { detail, .. } => detail.clone(),
        Error::PasswordCheckDamaged { entry, .. } => format!(
            "entry {entry:?} is damaged: its password check (AES header) fails, but the same \
             password opens the archive's other entries"
        ),
        Error::Io {
            context,
            path,
            source,
        } => format!("{context} {}: {source}", path.display()),
        other => other.to_string(),
    }
}

/// One item's bytes, checked against the manifest as they are read.
pub struct EntryReader<'a> {
    inner: ZipFile<'a, BufReader<File>>,
    path: PathBuf,
    entry: String,
    expected_size: u64,
    expected_sha: String,
    hasher: Sha256,
    read: u64,
    checked: bool,
}

impl std::fmt::Debug for EntryReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryReader")
            .field("entry", &self.entry)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl EntryReader<'_> {
    /// The size the manifest records.
    pub fn size(&self) -> u64 {
        self.expected_size
    }

    fn mismatch(&self, detail: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            Error::Archive {
                path: self.path.clone(),
                detail,
            },
        )
    }
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .map_err(|e| self.mismatch(format!("entry {:?} is damaged: {e}", self.entry)))?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
            self.read += n as u64;
            return Ok(n);
        }
        if !self.checked && !buf.is_empty() {
            self.checked = true;
            if self.read != self.expected_size {
                return Err(self.mismatch(format!(
                    "entry {:?} holds {} bytes, the manifest says {}",
                    self.entry, self.read, self.expected_size
                )));
            }
            let sha = hex(&std::mem::take(&mut self.hasher).finalize());
            if !sha.eq_ignore_ascii_case(&self.expected_sha) {
                return Err(self.mismatch(format!(
                    "entry {:?} has SHA-256 {sha}, the manifest says {}",
                    self.entry, self.expected_sha
                )));
            }
        }
        Ok(0)
    }
}

//! Backup archives: zip files (zip64 where needed, optionally AES-256) holding the media
//! stored as-is under `<source>/<rel_path>`, plus `phonevault/manifest.json`.
//!
//! The format is written down in `docs/archive.md`. [`ArchiveWriter`] streams items in
//! while hashing them and only ever leaves a `.zip` that is whole; [`ArchiveReader`] reads
//! the manifest, verifies, extracts and streams entries back; [`BackupFolder`] lists the
//! archives of a backup folder for incremental backups.

pub mod entry_path;
mod extract;
mod folder;
mod manifest;
pub mod no_overwrite;
mod reader;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};

pub use extract::{ExtractReport, ExtractSummary, Extracted, ExtractedItem, ExtractedItemSummary};
pub use folder::{
    archive_stem, record_verify, verify_record_path, BackupFolder, FolderLock, FolderScan,
    VERIFY_RECORD_SUFFIX,
};
pub use manifest::{
    entry_name, entry_name_among, HandsetRecord, ItemRecord, Manifest, FORMAT_NAME, FORMAT_VERSION,
    MANIFEST_ENTRY, PREVIEWS_ENTRY,
};
pub use reader::{ArchiveReader, EntryProblem, EntryReader, VerifyReport, VerifySummary};
pub use writer::{ArchiveWriter, ItemWriter};

use crate::{Error, Result};

/// Suffix of an archive still being written.
pub const PARTIAL_SUFFIX: &str = ".zip.partial";

/// An archive password. Kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    ///
    /// # Errors
    /// `PasswordNeeded` for an empty password, which would protect nothing.
    pub fn new(text: impl Into<String>) -> Result<Password> {
        let text = text.into();
        if text.is_empty() {
            return Err(Error::PasswordNeeded);
        }
        Ok(Password(text))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Checks that a zip entry name (or a `rel_path`) is a plain relative path with `/`
/// separators that stays inside the folder it is joined to.
///
/// # Errors
/// `UnsafePath` saying why: empty, NUL, backslash, absolute, drive letter, `.`/`..` or
/// empty components.
pub fn check_entry_name(name: &str) -> Result<()> {
    let unsafe_path = |reason| {
        Err(Error::UnsafePath {
            name: name.to_owned(),
            reason,
        })
    };
    // A backslash is a separator to Windows and to some unzip tools; on the phone it is an
    // ordinary character, so only entry names refuse it (see `entry_path`).
    if name.contains('\\') {
        return unsafe_path("contains a backslash");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return unsafe_path("starts with a drive letter");
    }
    crate::catalog::check_rel_path(name)
}

/// Joins a checked entry name under `dir`. A component longer than a host file name may be
/// (255 bytes: a 255-byte phone name grows when the entry name escapes some of its bytes as
/// `%HH`) is shortened, the same way every time (see [`host_file_name`]).
///
/// # Errors
/// `UnsafePath` when [`check_entry_name`] refuses the name.
pub fn safe_join(dir: &Path, name: &str) -> Result<PathBuf> {
    check_entry_name(name)?;
    let mut path = dir.to_path_buf();
    for component in name.split('/') {
        path.push(&*host_file_name(component));
    }
    Ok(path)
}

/// Longest file name, in bytes, that Linux, macOS and Windows file systems all take.
const HOST_NAME_MAX: usize = 255;

/// `component` when it fits a host file name; else its first bytes (whole characters), `~`,
/// 16 hex digits of its SHA-256 and its extension: distinct for distinct names, and the
/// same on every run, so a rerun finds what an earlier one wrote.
fn host_file_name(component: &str) -> std::borrow::Cow<'_, str> {
    use sha2::{Digest as _, Sha256};
    if component.len() <= HOST_NAME_MAX {
        return component.into();
    }
    let extension = component
        .rfind('.')
        .map(|dot| &component[dot..])
        .filter(|ext| ext.len() <= 16)
        .unwrap_or("");
    let hash = Sha256::digest(component.as_bytes());
    let tag = writer::hex(&hash[..8]);
    let mut keep = HOST_NAME_MAX - extension.len() - 1 - tag.len();
    while !component.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}~{tag}{extension}", &component[..keep]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_that_escape_are_refused() {
        for bad in [
            "",
            "../evil",
            "gallery/../../evil",
            "/etc/passwd",
            "a\\b",
            "C:/x",
            "a//b",
            "./a",
            "a\0b",
        ] {
            assert!(
                matches!(check_entry_name(bad), Err(Error::UnsafePath { .. })),
                "{bad:?} was accepted"
            );
        }
        for good in ["gallery/Camera/x.jpg", "whatsapp/Media/a b.jpg", "x..y/..z"] {
            check_entry_name(good).unwrap();
        }
    }

    #[test]
    fn names_too_long_for_the_host_are_shortened_alike_every_time() {
        let dir = Path::new("/out");
        let short = "gallery/DCIM/a.jpg";
        assert_eq!(safe_join(dir, short).unwrap(), dir.join(short));
        let long_a = format!("gallery/DCIM/{}é%FF.jpg", "a".repeat(300));
        let long_b = format!("gallery/DCIM/{}é%FE.jpg", "a".repeat(300));
        let a = safe_join(dir, &long_a).unwrap();
        let b = safe_join(dir, &long_b).unwrap();
        assert_eq!(a, safe_join(dir, &long_a).unwrap());
        assert_ne!(a, b);
        for p in [&a, &b] {
            let name = p.file_name().unwrap().to_str().unwrap();
            assert!(name.len() <= HOST_NAME_MAX, "{name}");
            assert!(name.starts_with("aaaa"), "{name}");
            assert_eq!(p.extension().unwrap(), "jpg");
            assert_eq!(p.parent().unwrap(), dir.join("gallery/DCIM"));
        }
    }

    #[test]
    fn password_debug_hides_the_secret() {
        let p = Password::new("hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}

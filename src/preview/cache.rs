//! The disk cache of finished previews, so a second preview of the same phone reads nothing.
//!
//! One JSON file per preview under `<root>/<key[..2]>/<key>.json`, where the key is a SHA-256
//! of the handset serial, the device path, the size and the mtime: a file changed on the
//! phone gets a new key, and the old entry is simply never read again. A damaged or
//! foreign entry counts as a miss.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{resolve_taken, NoPicture, PhotoInfo, Preview, Thumbnail, ThumbnailKind};
use crate::catalog::MediaItem;
use crate::{Error, Result};

/// Bumped whenever what is stored changes meaning, so old entries become misses.
/// 2: placeholders say why ([`NoPicture`]); entries of format 1 may hold placeholders made
/// only because a byte budget was spent, which must now be made again.
const FORMAT: u32 = 2;

/// Previews of one handset, kept on disk.
#[derive(Debug, Clone)]
pub struct PreviewCache {
    root: PathBuf,
    serial: String,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    path: String,
    size: u64,
    mtime: i64,
    info: PhotoInfo,
    thumbnail: ThumbnailKind,
    image: Option<Thumbnail>,
    notes: Vec<String>,
    #[serde(default)]
    no_picture: Option<NoPicture>,
}

impl PreviewCache {
    /// The user's cache folder for previews: `<cache dir>/phonevault/previews`.
    ///
    /// # Errors
    /// [`Error::NoCacheDir`] when the system names no cache folder (no home directory).
    pub fn default_root() -> Result<PathBuf> {
        dirs::cache_dir()
            .map(|d| d.join("phonevault").join("previews"))
            .ok_or(Error::NoCacheDir)
    }

    /// A cache for the handset `serial` under `root` (created when missing).
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be created.
    pub fn open(root: impl Into<PathBuf>, serial: &str) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io("creating the preview cache folder", &root, e))?;
        Ok(PreviewCache {
            root,
            serial: serial.to_owned(),
        })
    }

    /// The cache of the handset `serial` in the user's cache folder ([`Self::default_root`]).
    ///
    /// # Errors
    /// As [`Self::default_root`] and [`Self::open`].
    pub fn for_handset(serial: &str) -> Result<Self> {
        Self::open(Self::default_root()?, serial)
    }

    /// The folder this cache lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry_path(&self, item: &MediaItem) -> PathBuf {
        let mut hash = Sha256::new();
        // NUL cannot occur in a serial or a path, so the fields cannot run into each other.
        for part in [
            self.serial.as_bytes(),
            item.path.as_bytes(),
            item.size.to_string().as_bytes(),
            item.mtime.to_string().as_bytes(),
        ] {
            hash.update(part);
            hash.update([0]);
        }
        let key = hash
            .finalize()
            .iter()
            .fold(String::with_capacity(64), |mut key, b| {
                let _ = write!(key, "{b:02x}");
                key
            });
        self.root.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The stored preview of `item`, if this exact file (path, size, mtime) was previewed.
    pub fn get(&self, item: &MediaItem) -> Option<Preview> {
        let text = std::fs::read(self.entry_path(item)).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        if entry.format != FORMAT
            || entry.path != item.path
            || entry.size != item.size
            || entry.mtime != item.mtime
        {
            return None;
        }
        Some(Preview {
            // The catalog's date may have improved since (a newer name parser), so only the
            // EXIF part is taken from the cache.
            taken: resolve_taken(entry.info.taken, item.taken, item.mtime),
            item: item.clone(),
            info: entry.info,
            thumbnail: entry.thumbnail,
            image: entry.image,
            notes: entry.notes,
            no_picture: entry.no_picture,
        })
    }

    /// Stores a preview, replacing any earlier one of the same file atomically.
    ///
    /// # Errors
    /// [`Error::Io`] when the entry cannot be written.
    pub fn put(&self, preview: &Preview) -> Result<()> {
        let path = self.entry_path(&preview.item);
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io("creating the preview cache folder", dir, e))?;
        let entry = Entry {
            format: FORMAT,
            path: preview.item.path.clone(),
            size: preview.item.size,
            mtime: preview.item.mtime,
            info: preview.info.clone(),
            thumbnail: preview.thumbnail,
            image: preview.image.clone(),
            notes: preview.notes.clone(),
            no_picture: preview.no_picture,
        };
        let json = serde_json::to_vec(&entry).map_err(|e| {
            Error::io(
                "encoding a preview cache entry",
                &path,
                std::io::Error::other(e),
            )
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| Error::io("creating a preview cache entry", dir, e))?;
        tmp.write_all(&json)
            .map_err(|e| Error::io("writing a preview cache entry", tmp.path().to_owned(), e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("storing a preview cache entry", &path, e.error))?;
        Ok(())
    }
}

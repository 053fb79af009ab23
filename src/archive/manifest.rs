//! `phonevault/manifest.json`: what an archive holds, written last by the writer.

use serde::{Deserialize, Serialize};

use crate::adb::Identity;
use crate::catalog::MediaItem;

/// The manifest's format version; readers refuse a newer major version.
pub const FORMAT_VERSION: u32 = 1;

/// The value of the manifest's `format` field, so a stray JSON file is not taken for one.
pub const FORMAT_NAME: &str = "phonevault-archive";

/// Entry name of the manifest inside the zip.
pub const MANIFEST_ENTRY: &str = "phonevault/manifest.json";

/// Entry name of the previews blob inside the zip (bytes chosen by the caller).
pub const PREVIEWS_ENTRY: &str = "phonevault/previews.json";

/// Who made the backup. A copy of [`Identity`] that can also be read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandsetRecord {
    pub serial: String,
    pub model: String,
    pub manufacturer: String,
    pub android_version: String,
    pub sdk: u32,
}

impl From<&Identity> for HandsetRecord {
    fn from(id: &Identity) -> Self {
        HandsetRecord {
            serial: id.serial.clone(),
            model: id.model.clone(),
            manufacturer: id.manufacturer.clone(),
            android_version: id.android_version.clone(),
            sdk: id.sdk,
        }
    }
}

/// One item stored in an archive: the catalog's [`MediaItem`] as it was when backed up,
/// plus where its bytes are and their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// Name of the zip entry holding the bytes: `<source>/<rel_path>`.
    pub entry: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    #[serde(flatten)]
    pub item: MediaItem,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    pub format_version: u32,
    /// `phonevault <version>` that wrote the archive.
    pub tool: String,
    /// When the archive was finished (UTC).
    pub created: chrono::DateTime<chrono::Utc>,
    pub handset: HandsetRecord,
    /// Whether every entry is AES-256 encrypted.
    pub encrypted: bool,
    /// Entry name of the previews blob, when the backup stored one.
    #[serde(default)]
    pub previews: Option<String>,
    pub items: Vec<ItemRecord>,
}

impl Manifest {
    /// Total bytes of the items' data. Saturates: a manifest from a stranger may claim sizes
    /// that add up past `u64::MAX` (`ArchiveReader::open` refuses such a manifest).
    pub fn total_size(&self) -> u64 {
        self.checked_total_size().unwrap_or(u64::MAX)
    }

    /// Total bytes of the items' data; `None` when the claimed sizes overflow a `u64`, which
    /// no real backup can hold.
    pub fn checked_total_size(&self) -> Option<u64> {
        self.items
            .iter()
            .try_fold(0u64, |sum, r| sum.checked_add(r.item.size))
    }

    /// The record whose entry is `entry`.
    pub fn record(&self, entry: &str) -> Option<&ItemRecord> {
        self.items.iter().find(|r| r.entry == entry)
    }
}

/// The zip entry name for an item: `<source>/<rel_path>`.
pub fn entry_name(item: &MediaItem) -> String {
    format!("{}/{}", item.source.as_str(), item.rel_path)
}

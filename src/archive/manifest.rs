//! `phonevault/manifest.json`: what an archive holds, written last by the writer.

use serde::{Deserialize, Serialize};

use crate::catalog::MediaItem;
use crate::identity::Identity;

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

/// The zip entry name for an item: `<source>/<rel_path>`, with the bytes of the phone name
/// that a zip entry name cannot hold as they are (not UTF-8, backslash) written `%HH`
/// (see [`entry_path`](super::entry_path)).
pub fn entry_name(item: &MediaItem) -> String {
    format!(
        "{}/{}",
        item.source.as_str(),
        super::entry_path::encode(&item.rel_path)
    )
}

/// The legacy `WhatsApp` folders (`/sdcard/WhatsApp`, `/sdcard/WhatsApp Business`), whose
/// items get the `-legacy` top folder when their usual entry name is taken.
const LEGACY_ROOTS: &[&str] = &["/sdcard/WhatsApp", "/sdcard/WhatsApp Business"];

/// The entry name for an item in an archive where `is_taken` says which names are used.
///
/// Usually [`entry_name`]. A phone updated across Android 11 can hold both `WhatsApp`
/// layouts, with files of the same `rel_path` in each (`Databases/msgstore.db.crypt14`);
/// the second one written then needs a name of its own, and the layout it came from names
/// it: `<source>-legacy/<rel_path>` for the legacy folder, `<source>-media/<rel_path>` for
/// the Android 11+ one. Items are written in path order, so on such a phone the Android 11+
/// copy keeps `whatsapp/...` and the legacy copy is `whatsapp-legacy/...`. Readers take
/// names from the manifest, never from this rule, so archives written before it read the
/// same.
pub fn entry_name_among(item: &MediaItem, is_taken: impl Fn(&str) -> bool) -> String {
    let usual = entry_name(item);
    if !is_taken(&usual) || item.source == crate::catalog::Source::Gallery {
        return usual;
    }
    let layout = if LEGACY_ROOTS.contains(&item.root.as_str()) {
        "legacy"
    } else {
        "media"
    };
    format!(
        "{}-{layout}/{}",
        item.source.as_str(),
        super::entry_path::encode(&item.rel_path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Kind, Source};

    fn item(root: &str, rel: &str) -> MediaItem {
        MediaItem {
            id: String::new(),
            path: format!("{root}/{rel}"),
            root: root.to_string(),
            rel_path: rel.to_string(),
            source: if root.contains("Business") {
                Source::WhatsappBusiness
            } else {
                Source::Whatsapp
            },
            album: "Chats".into(),
            kind: Kind::Database,
            size: 1,
            mtime: 0,
            taken: None,
            sent: false,
            private: false,
        }
    }

    #[test]
    fn the_second_layouts_copy_is_named_after_its_layout() {
        let rel = "Databases/msgstore.db.crypt14";
        let media = item("/sdcard/Android/media/com.whatsapp/WhatsApp", rel);
        let legacy = item("/sdcard/WhatsApp", rel);
        let business = item("/sdcard/WhatsApp Business", rel);
        let none = |_: &str| false;
        assert_eq!(
            entry_name_among(&media, none),
            "whatsapp/Databases/msgstore.db.crypt14"
        );
        assert_eq!(
            entry_name_among(&legacy, none),
            "whatsapp/Databases/msgstore.db.crypt14"
        );
        let taken =
            |name: &str| name.starts_with("whatsapp/") || name.starts_with("whatsapp-business/");
        assert_eq!(
            entry_name_among(&legacy, taken),
            "whatsapp-legacy/Databases/msgstore.db.crypt14"
        );
        assert_eq!(
            entry_name_among(&media, taken),
            "whatsapp-media/Databases/msgstore.db.crypt14"
        );
        assert_eq!(
            entry_name_among(&business, taken),
            "whatsapp-business-legacy/Databases/msgstore.db.crypt14"
        );
    }
}

//! What is on the phone: Gallery albums and `WhatsApp` folders, as a list of [`MediaItem`]s.

pub mod dates;
pub mod gallery;
pub mod select;
pub mod whatsapp;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::adb::Handset;
use crate::escape::phone_path_bytes;
use crate::helper::{self, ListedFile, Listing};
use crate::progress::{Event, Phase, Progress};
use crate::{Error, Result};

/// Where an item belongs, as the user thinks of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Gallery,
    Whatsapp,
    WhatsappBusiness,
}

impl Source {
    /// The name used in JSON, on the command line and as the archive's top folder.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Gallery => "gallery",
            Source::Whatsapp => "whatsapp",
            Source::WhatsappBusiness => "whatsapp-business",
        }
    }
}

/// What sort of file an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Photo,
    Video,
    Audio,
    Document,
    Sticker,
    Database,
    Other,
}

/// Where a date taken came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DateSource {
    Exif,
    Filename,
    Mtime,
}

/// When a photo or video was taken: the wall-clock time the camera recorded, with its UTC
/// offset when known (EXIF `OffsetTimeOriginal`, or a name known to be in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    pub local: chrono::NaiveDateTime,
    /// Offset east of UTC in seconds, when the source records one.
    pub offset_seconds: Option<i32>,
    pub source: DateSource,
}

/// One file the catalog found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    /// Stable id: the same file on the same handset always gets the same id.
    pub id: String,
    /// Absolute path on the phone, `/sdcard/...` for internal storage, in display form
    /// (`escape::phone_path_text`): the name as it is when it is UTF-8 without a backslash,
    /// else with `\\` for a backslash and `\xHH` for each byte that is not UTF-8. One-to-one
    /// with the bytes, so it names this file and no other; the adb layer sends the exact
    /// bytes. In JSON (`ls --json`, the manifest) a `raw_path` (base64 of the exact bytes)
    /// follows it whenever the two differ.
    #[serde(flatten, with = "raw_path")]
    pub path: String,
    /// The folder on the phone this item was found under: `/sdcard` for the Gallery,
    /// the `WhatsApp` folder (legacy or `Android/media/...`) for WhatsApp, `/storage/XXXX-XXXX`
    /// for an SD card.
    pub root: String,
    /// `path` relative to `root`, with `/` separators, in the same display form; what
    /// archives and restores map.
    pub rel_path: String,
    pub source: Source,
    pub album: String,
    pub kind: Kind,
    pub size: u64,
    /// Last modification, seconds since the Unix epoch.
    pub mtime: i64,
    pub taken: Option<Taken>,
    /// `WhatsApp`: sent by this phone (`Sent/` folder).
    #[serde(default)]
    pub sent: bool,
    /// `WhatsApp`: hidden from the Gallery (`Private/` folder).
    #[serde(default)]
    pub private: bool,
}

/// `path` and, when its display form is not its bytes, `raw_path`: the exact bytes in
/// base64 (standard alphabet, padded). Reading checks that the two agree, so a manifest
/// whose `raw_path` was edited is refused instead of restoring to a path nobody chose.
mod raw_path {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::escape::{phone_path_bytes, phone_path_text};

    #[derive(Serialize, Deserialize)]
    struct PathFields {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        raw_path: Option<String>,
    }

    /// The `raw_path` of a display path: `None` when the path is its own bytes.
    pub fn encode(path: &str) -> Option<String> {
        let bytes = phone_path_bytes(path);
        (*bytes != *path.as_bytes())
            .then(|| base64::engine::general_purpose::STANDARD.encode(&bytes))
    }

    #[allow(clippy::ptr_arg)] // serde's `with` passes the field as it is declared
    pub fn serialize<S: Serializer>(path: &String, serializer: S) -> Result<S::Ok, S::Error> {
        PathFields {
            path: path.clone(),
            raw_path: encode(path),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        let fields = PathFields::deserialize(deserializer)?;
        if let Some(b64) = &fields.raw_path {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| serde::de::Error::custom(format!("raw_path is not base64: {e}")))?;
            if phone_path_text(&bytes) != fields.path {
                return Err(serde::de::Error::custom(format!(
                    "raw_path does not match path {:?}",
                    fields.path
                )));
            }
        }
        Ok(fields.path)
    }
}

/// The `raw_path` JSON field of an item (see [`MediaItem::path`]): base64 of the path's exact
/// bytes, `None` when `path` is those bytes as they are.
pub fn raw_path_field(path: &str) -> Option<String> {
    raw_path::encode(path)
}

/// How to build the catalog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogOptions {
    /// Also list what the Gallery hides: dot-folders, dot-files with media extensions and
    /// folders holding a `.nomedia` file (`ls --all`).
    pub include_hidden: bool,
}

/// How the phone's files were listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListMethod {
    /// One call of the on-device helper for the whole phone.
    Helper,
    /// Folder by folder over the sync protocol (the helper could not run).
    SyncWalk,
}

/// What listing the phone cost, for `-v` and for tests that count round trips.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    pub method: ListMethod,
    /// Shell calls that ran the helper's `list` (1 for a whole phone; 0 on the sync walk).
    pub helper_calls: u32,
    /// Whether the helper had to be pushed first (missing or another version).
    pub helper_pushed: bool,
    /// Records the listing returned (files, unreadable folders, notes).
    pub records: usize,
    /// Folders read one by one on the sync walk.
    pub folders_walked: usize,
    pub elapsed: Duration,
}

/// What is on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub serial: String,
    /// Items sorted by path.
    pub items: Vec<MediaItem>,
    /// Folders under the listed roots that could not be read (their contents are unknown).
    pub unreadable: Vec<String>,
    /// Symbolic links under the listed roots: never followed, so never items (a link may
    /// loop, or point out of the storage at what is not the phone's media).
    pub links_not_followed: Vec<String>,
    /// SD cards found (`/storage/XXXX-XXXX`).
    pub sd_cards: Vec<String>,
    /// Things a person should know (e.g. why the helper was not used).
    pub notes: Vec<String>,
    pub stats: ScanStats,
}

/// One catalog item as data: what `ls --json` prints for it (fields in `docs/json.md`).
/// Like [`MediaItem`], with the date taken as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSummary {
    pub id: String,
    /// The display path, and `raw_path` beside it when that differs from the bytes (see
    /// [`MediaItem::path`]).
    #[serde(flatten, with = "raw_path")]
    pub path: String,
    pub root: String,
    pub rel_path: String,
    pub source: Source,
    pub album: String,
    pub kind: Kind,
    pub size: u64,
    pub mtime: i64,
    /// [`Taken::to_text`].
    pub taken: Option<String>,
    pub taken_source: Option<DateSource>,
    pub sent: bool,
    pub private: bool,
}

impl From<&MediaItem> for ItemSummary {
    fn from(item: &MediaItem) -> ItemSummary {
        ItemSummary {
            id: item.id.clone(),
            path: item.path.clone(),
            root: item.root.clone(),
            rel_path: item.rel_path.clone(),
            source: item.source,
            album: item.album.clone(),
            kind: item.kind,
            size: item.size,
            mtime: item.mtime,
            taken: item.taken.map(|t| t.to_text()),
            taken_source: item.taken.map(|t| t.source),
            sent: item.sent,
            private: item.private,
        }
    }
}

/// A listing as data: what `ls --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemListing {
    pub serial: String,
    pub items: Vec<ItemSummary>,
    pub unreadable: Vec<String>,
    /// As in [`Catalog::links_not_followed`].
    #[serde(default)]
    pub links_not_followed: Vec<String>,
    pub sd_cards: Vec<String>,
    pub notes: Vec<String>,
}

/// One album: its items and bytes among those chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumSummary {
    pub source: Source,
    pub album: String,
    pub count: u64,
    pub size: u64,
}

/// The albums as data: what `ls --albums --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumListing {
    pub serial: String,
    pub albums: Vec<AlbumSummary>,
    pub unreadable: Vec<String>,
}

/// The albums of these items, sorted by source and name.
pub fn albums<'a>(items: impl IntoIterator<Item = &'a MediaItem>) -> Vec<AlbumSummary> {
    let mut albums: BTreeMap<(Source, &str), (u64, u64)> = BTreeMap::new();
    for item in items {
        let entry = albums
            .entry((item.source, item.album.as_str()))
            .or_default();
        entry.0 += 1;
        entry.1 += item.size;
    }
    albums
        .into_iter()
        .map(|((source, album), (count, size))| AlbumSummary {
            source,
            album: album.to_owned(),
            count,
            size,
        })
        .collect()
}

/// The storage root of internal storage as users and the Gallery see it.
pub const SDCARD: &str = "/sdcard";

/// Every tree the catalog reads, in one helper call (`@sdcards` asks the helper for the
/// DCIM, Pictures and Movies folders of every SD card).
pub fn listing_roots() -> Vec<String> {
    let mut roots: Vec<String> = gallery::FOLDERS
        .iter()
        .map(|f| format!("{SDCARD}/{f}"))
        .collect();
    roots.extend(whatsapp::ROOTS.iter().map(|r| r.path.to_string()));
    roots.push(helper::SD_CARDS.to_string());
    roots
}

/// Why a symbolic link under the media folders is not an item.
pub const LINK_NOT_FOLLOWED: &str =
    "symbolic link, not followed: phonevault copies files, not what links point to";

/// Lists the whole phone and sorts what it finds into Gallery and WhatsApp items.
///
/// The on-device helper lists every root in one shell call; when it cannot run, the folders
/// are walked over the sync protocol instead (slower, same result).
///
/// Stops with `Cancelled` as soon as the handset's token trips (see
/// [`Handset::with_cancel`]), without falling back to the folder-by-folder walk.
///
/// # Errors
/// Transport errors from the handset, when even the sync walk cannot read the phone;
/// `Cancelled`.
pub fn scan(
    handset: &Handset,
    options: &CatalogOptions,
    progress: &dyn Progress,
) -> Result<Catalog> {
    progress.event(Event::Phase {
        name: Phase::Listing,
        items: 0,
        bytes: 0,
    });
    let started = Instant::now();
    let roots = listing_roots();
    let mut notes = Vec::new();
    let (listing, method, helper_calls, helper_pushed) = match helper::list(handset, &roots) {
        Ok(run) => (run.listing, ListMethod::Helper, 1, run.pushed),
        // Whatever failed after a cancel failed because of it: no fallback then.
        Err(err) if handset.cancel_token().is_cancelled() => {
            return Err(handset.cancel_token().or_error(err))
        }
        Err(err) => {
            let note = format!(
                "the on-device helper could not run ({err}); listing folder by folder instead"
            );
            progress.event(Event::warning(None, &note));
            notes.push(note);
            (
                helper::walk(handset, &roots)?,
                ListMethod::SyncWalk,
                0,
                false,
            )
        }
    };
    for folder in &listing.unreadable {
        progress.event(Event::warning(
            Some(folder.as_str()),
            "folder cannot be read",
        ));
    }
    for link in &listing.links {
        progress.event(Event::warning(Some(link.as_str()), LINK_NOT_FOLLOWED));
    }
    notes.extend(listing.messages.iter().cloned());
    handset.cancel_token().check()?;
    let items = build(handset.serial(), &listing, options);
    progress.event(Event::PhaseDone {
        name: Phase::Listing,
    });
    Ok(Catalog {
        serial: handset.serial().to_string(),
        items,
        unreadable: listing.unreadable.clone(),
        links_not_followed: listing.links.clone(),
        sd_cards: listing.sd_cards.clone(),
        notes,
        stats: ScanStats {
            method,
            helper_calls,
            helper_pushed,
            records: listing.records,
            folders_walked: listing.folders_walked,
            elapsed: started.elapsed(),
        },
    })
}

/// Sorts listed files into items: pure, so it is tested on made-up listings.
pub fn build(serial: &str, listing: &Listing, options: &CatalogOptions) -> Vec<MediaItem> {
    let nomedia: HashSet<&str> = listing
        .files
        .iter()
        .filter_map(|f| f.path.strip_suffix("/.nomedia"))
        .collect();
    let mut gallery_roots = vec![SDCARD.to_string()];
    gallery_roots.extend(listing.sd_cards.iter().cloned());
    let mut items: Vec<MediaItem> = listing
        .files
        .iter()
        .filter_map(|file| {
            let placement = whatsapp::classify(&file.path, options).or_else(|| {
                gallery_roots
                    .iter()
                    .find_map(|root| gallery::classify(root, &file.path, &nomedia, options))
            })?;
            Some(item(serial, file, placement))
        })
        .collect();
    items.sort_by(|a, b| a.path.cmp(&b.path));
    items.dedup_by(|a, b| a.path == b.path);
    items
}

/// Where a file belongs once classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub root: String,
    pub source: Source,
    pub album: String,
    pub kind: Kind,
    pub sent: bool,
    pub private: bool,
}

fn item(serial: &str, file: &ListedFile, placement: Placement) -> MediaItem {
    let rel_path = file
        .path
        .strip_prefix(placement.root.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(&file.path)
        .to_string();
    let name = file.path.rsplit('/').next().unwrap_or_default();
    MediaItem {
        id: item_id(serial, &file.path),
        path: file.path.clone(),
        root: placement.root,
        rel_path,
        source: placement.source,
        album: placement.album,
        kind: placement.kind,
        size: file.size,
        mtime: file.mtime,
        taken: dates::from_name(name),
        sent: placement.sent,
        private: placement.private,
    }
}

/// Checks that a `rel_path` (in display form) is a plain relative path on the phone: not
/// empty, not absolute, no NUL, no empty, `.` or `..` component. Unlike a zip entry name it
/// may hold a backslash: an ordinary character in an Android name (and how the display form
/// writes `\\` and `\xHH`, which never hide a `/`, `.` or NUL: see `escape`).
///
/// # Errors
/// `UnsafePath` saying why.
pub fn check_rel_path(rel_path: &str) -> Result<()> {
    let unsafe_path = |reason| {
        Err(Error::UnsafePath {
            name: rel_path.to_owned(),
            reason,
        })
    };
    if rel_path.is_empty() {
        return unsafe_path("empty name");
    }
    if rel_path.contains('\0') {
        return unsafe_path("contains a NUL byte");
    }
    if rel_path.starts_with('/') {
        return unsafe_path("absolute path");
    }
    for part in rel_path.split('/') {
        match part {
            "" => return unsafe_path("empty path component"),
            "." => return unsafe_path("`.` path component"),
            ".." => return unsafe_path("`..` path component"),
            _ => {}
        }
    }
    Ok(())
}

/// The stable id of a file on a handset: the first 12 hex digits of SHA-256 of
/// `serial`, a NUL and the path's exact bytes (`path` is in display form).
pub fn item_id(serial: &str, path: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serial.as_bytes());
    hasher.update([0]);
    hasher.update(phone_path_bytes(path));
    let digest = hasher.finalize();
    digest[..6]
        .iter()
        .fold(String::with_capacity(12), |mut id, b| {
            let _ = write!(id, "{b:02x}");
            id
        })
}

const PHOTO_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "heic", "heif", "webp", "gif", "dng"];
const VIDEO_EXTENSIONS: &[&str] = &["mp4", "3gp", "mkv", "webm", "mov"];
const AUDIO_EXTENSIONS: &[&str] = &[
    "opus", "m4a", "mp3", "aac", "amr", "ogg", "oga", "wav", "3ga", "flac",
];

/// Photo or video by the file name's extension (case-insensitive); `None` otherwise.
pub fn media_kind(name: &str) -> Option<Kind> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    if PHOTO_EXTENSIONS.contains(&ext.as_str()) {
        Some(Kind::Photo)
    } else if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
        Some(Kind::Video)
    } else if AUDIO_EXTENSIONS.contains(&ext.as_str()) {
        Some(Kind::Audio)
    } else {
        None
    }
}

impl Kind {
    /// The name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Photo => "photo",
            Kind::Video => "video",
            Kind::Audio => "audio",
            Kind::Document => "document",
            Kind::Sticker => "sticker",
            Kind::Database => "database",
            Kind::Other => "other",
        }
    }
}

impl Taken {
    /// RFC 3339-like text: `2024-03-12T15:30:12+00:00` with an offset, `2024-03-12T15:30:12`
    /// without.
    pub fn to_text(&self) -> String {
        let local = self.local.format("%Y-%m-%dT%H:%M:%S");
        match self.offset_seconds {
            Some(off) => {
                let sign = if off < 0 { '-' } else { '+' };
                let off = off.unsigned_abs();
                format!("{local}{sign}{:02}:{:02}", off / 3600, off % 3600 / 60)
            }
            None => local.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;

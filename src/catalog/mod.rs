//! What is on the phone: Gallery albums and `WhatsApp` folders, as a list of [`MediaItem`]s.

pub mod dates;
pub mod gallery;
pub mod select;
pub mod whatsapp;

use serde::{Deserialize, Serialize};

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
    /// Absolute path on the phone, `/sdcard/...` for internal storage.
    pub path: String,
    /// The folder on the phone this item was found under: `/sdcard` for the Gallery,
    /// the `WhatsApp` folder (legacy or `Android/media/...`) for WhatsApp, `/storage/XXXX-XXXX`
    /// for an SD card.
    pub root: String,
    /// `path` relative to `root`, with `/` separators; what archives and restores map.
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

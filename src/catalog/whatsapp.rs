//! WhatsApp and WhatsApp Business media folders, in both the legacy and the Android 11+
//! layout.

use super::{media_kind, CatalogOptions, Kind, Placement, Source};

/// One place WhatsApp keeps its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Root {
    pub path: &'static str,
    pub source: Source,
    /// The app's name as it prefixes its media folders (`WhatsApp Images`).
    pub app: &'static str,
}

/// Legacy and Android 11+ homes of both apps; a phone may have both layouts.
pub const ROOTS: &[Root] = &[
    Root {
        path: "/sdcard/WhatsApp",
        source: Source::Whatsapp,
        app: "WhatsApp",
    },
    Root {
        path: "/sdcard/WhatsApp Business",
        source: Source::WhatsappBusiness,
        app: "WhatsApp Business",
    },
    Root {
        path: "/sdcard/Android/media/com.whatsapp/WhatsApp",
        source: Source::Whatsapp,
        app: "WhatsApp",
    },
    Root {
        path: "/sdcard/Android/media/com.whatsapp.w4b/WhatsApp Business",
        source: Source::WhatsappBusiness,
        app: "WhatsApp Business",
    },
];

/// The kind a folder's files have; `None` = photo or video by extension (Statuses).
#[derive(Clone, Copy)]
enum FolderKind {
    Fixed(Kind),
    ByExtension,
}

/// Album and kind of a folder under `Media/`.
fn media_folder(app: &str, folder: &str) -> Option<(&'static str, FolderKind)> {
    if folder == ".Statuses" {
        return Some(("Statuses", FolderKind::ByExtension));
    }
    if folder == "WallPaper" {
        return Some(("Wallpaper", FolderKind::Fixed(Kind::Photo)));
    }
    let suffix = folder.strip_prefix(app)?.strip_prefix(' ')?;
    let (album, kind) = match suffix {
        "Images" => ("Images", Kind::Photo),
        "Video" => ("Video", Kind::Video),
        "Animated Gifs" => ("Animated Gifs", Kind::Video),
        "Audio" => ("Audio", Kind::Audio),
        "Voice Notes" => ("Voice Notes", Kind::Audio),
        "Documents" => ("Documents", Kind::Document),
        "Stickers" => ("Stickers", Kind::Sticker),
        "Profile Photos" => ("Profile Photos", Kind::Photo),
        _ => return None,
    };
    Some((album, FolderKind::Fixed(kind)))
}

/// Places `path` in a WhatsApp album, or `None` when it is not WhatsApp media (other folders
/// such as `Backups` and `.Shared`, `.nomedia` and other dot-files).
pub fn classify(path: &str, options: &CatalogOptions) -> Option<Placement> {
    let root = ROOTS.iter().find(|r| {
        path.strip_prefix(r.path)
            .is_some_and(|rest| rest.starts_with('/'))
    })?;
    let rel = &path[root.path.len() + 1..];
    let parts: Vec<&str> = rel.split('/').collect();
    let name = parts[parts.len() - 1];
    let (album, folder_kind, inner) = match parts.as_slice() {
        ["Databases", inner @ .., _] => ("Chats", FolderKind::Fixed(Kind::Database), inner),
        ["Media", folder, inner @ .., _] => {
            let (album, kind) = media_folder(root.app, folder)?;
            (album, kind, inner)
        }
        _ => return None,
    };
    if name == ".nomedia" || name.is_empty() {
        return None;
    }
    let dotted = name.starts_with('.') || inner.iter().any(|p| p.starts_with('.'));
    if dotted && !options.include_hidden {
        return None;
    }
    let by_extension = media_kind(name);
    let kind = match folder_kind {
        FolderKind::ByExtension => by_extension
            .filter(|k| matches!(k, Kind::Photo | Kind::Video))
            .unwrap_or(Kind::Other),
        FolderKind::Fixed(kind @ (Kind::Document | Kind::Database)) => kind,
        FolderKind::Fixed(Kind::Sticker) => match by_extension {
            Some(Kind::Photo) => Kind::Sticker,
            _ => Kind::Other,
        },
        // Media folders hold what their name says; a file whose extension names another
        // media kind is that kind, one we do not know is `other`.
        FolderKind::Fixed(_) => by_extension.unwrap_or(Kind::Other),
    };
    Some(Placement {
        root: root.path.to_string(),
        source: root.source,
        album: album.to_string(),
        kind,
        sent: inner.contains(&"Sent"),
        private: inner.contains(&"Private"),
    })
}

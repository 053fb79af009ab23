//! The Gallery: photos and videos under DCIM, Pictures and Movies, by their parent folder.

use std::collections::HashSet;
use std::hash::BuildHasher;

use super::{media_kind, CatalogOptions, Kind, Placement, Source};

/// The folders of a storage root the Gallery shows.
pub const FOLDERS: &[&str] = &["DCIM", "Pictures", "Movies"];

/// Places `path` (a file under storage `root`, e.g. `/sdcard` or `/storage/1234-ABCD`) in a
/// Gallery album, or `None` when the Gallery would not show it. `nomedia` holds every
/// folder that has a `.nomedia` file.
pub fn classify<H: BuildHasher>(
    root: &str,
    path: &str,
    nomedia: &HashSet<&str, H>,
    options: &CatalogOptions,
) -> Option<Placement> {
    let rel = path.strip_prefix(root)?.strip_prefix('/')?;
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.len() < 2 || !FOLDERS.contains(&parts[0]) {
        return None;
    }
    let name = parts[parts.len() - 1];
    let kind = media_kind(name).filter(|k| matches!(k, Kind::Photo | Kind::Video))?;
    if !options.include_hidden && hidden(root, &parts, nomedia) {
        return None;
    }
    Some(Placement {
        root: root.to_string(),
        source: Source::Gallery,
        album: parts[parts.len() - 2].to_string(),
        kind,
        sent: false,
        private: false,
    })
}

/// Dot-folders, dot-files (`.trashed-*`, `.pending-*`) and anything at or below a folder
/// holding `.nomedia` are hidden from the Gallery.
fn hidden<H: BuildHasher>(root: &str, parts: &[&str], nomedia: &HashSet<&str, H>) -> bool {
    if parts.iter().any(|p| p.starts_with('.')) {
        return true;
    }
    if nomedia.contains(root) {
        return true;
    }
    let mut folder = root.to_string();
    for part in &parts[..parts.len() - 1] {
        folder.push('/');
        folder.push_str(part);
        if nomedia.contains(folder.as_str()) {
            return true;
        }
    }
    false
}

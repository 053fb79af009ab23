//! A phone's media for the page: the catalog (listed once per phone and kept), what the
//! backup folder already holds, and thumbnails made on demand by one worker thread per
//! phone, which batches the requests that arrive together.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use phonevault::adb::Handset;
use phonevault::archive::ArchiveReader;
use phonevault::catalog::{self, select::item_day, Catalog, CatalogOptions, Kind, MediaItem};
use phonevault::preview::{
    build_previews, HandsetSource, Preview, PreviewCache, PreviewOptions, ThumbnailKind,
};
use phonevault::progress::NoProgress;
use phonevault::{Error, Result};
use serde::Serialize;
use tokio::sync::oneshot;

use super::events::error_kind;

/// One item as the grid shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub id: String,
    /// The file name (untrusted text from the phone: the page sets it as text).
    pub name: String,
    pub path: String,
    pub source: &'static str,
    pub album: String,
    pub kind: &'static str,
    pub size: u64,
    pub mtime: i64,
    /// When it was taken, as the phone's wall clock (`YYYY-MM-DDTHH:MM:SS`), else `None`.
    pub taken: Option<String>,
    /// The day it belongs to in the grid: date taken, else the local day of its mtime.
    pub day: Option<String>,
    /// Whether the page can ask for a thumbnail (photos).
    pub thumbnail: bool,
    /// An archive in the backup folder holds this exact file (path, size, mtime).
    pub backed_up: bool,
}

/// An album (Gallery) or category (WhatsApp) with its count and size.
#[derive(Debug, Clone, Serialize)]
pub struct AlbumView {
    pub source: &'static str,
    pub album: String,
    pub count: u64,
    pub size: u64,
}

/// Everything the page needs to draw a phone's media.
#[derive(Debug, Clone, Serialize)]
pub struct MediaView {
    pub serial: String,
    /// The backup folder the `backed_up` markers were read from.
    pub folder: String,
    /// Items newest first.
    pub items: Vec<ItemView>,
    pub albums: Vec<AlbumView>,
    pub unreadable: Vec<String>,
    /// Archives in the folder that need a password to read (their items show as not
    /// backed up).
    pub locked_archives: Vec<String>,
    /// Archives in the folder that could not be read at all.
    pub damaged_archives: Vec<String>,
}

/// What the backup folder's finished archives hold: (device path, size, mtime).
#[derive(Debug, Default)]
pub struct BackedUp {
    pub keys: HashSet<(String, u64, i64)>,
    pub locked: Vec<String>,
    pub damaged: Vec<String>,
}

/// Reads the manifests of the finished archives in `folder`, touching nothing.
///
/// The library's `BackupFolder::open` also removes stale `.zip.partial` files, which would
/// destroy the archive of a backup running into the same folder; the page only reads.
pub fn backed_up(folder: &Path) -> BackedUp {
    let mut found = BackedUp::default();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !is_file
            || name.starts_with('.')
            || !Path::new(name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        {
            continue;
        }
        match ArchiveReader::open(&path, None) {
            Ok(reader) => found.keys.extend(
                reader
                    .manifest()
                    .items
                    .iter()
                    .map(|r| (r.item.path.clone(), r.item.size, r.item.mtime)),
            ),
            Err(Error::PasswordNeeded | Error::WrongPassword { .. }) => {
                found.locked.push(name.to_owned());
            }
            Err(_) => found.damaged.push(name.to_owned()),
        }
    }
    found.locked.sort();
    found.damaged.sort();
    found
}

/// Lists the phone.
///
/// # Errors
/// As [`catalog::scan`].
pub fn scan(handset: &Handset) -> Result<Catalog> {
    catalog::scan(handset, &CatalogOptions::default(), &NoProgress)
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// The grid's view of a catalog, with the markers of `folder`.
pub fn media_view(catalog: &Catalog, folder: &Path) -> MediaView {
    let done = backed_up(folder);
    let mut items: Vec<ItemView> = catalog
        .items
        .iter()
        .map(|item| ItemView {
            id: item.id.clone(),
            name: file_name(&item.path),
            path: item.path.clone(),
            source: item.source.as_str(),
            album: item.album.clone(),
            kind: item.kind.as_str(),
            size: item.size,
            mtime: item.mtime,
            taken: item
                .taken
                .map(|t| t.local.format("%Y-%m-%dT%H:%M:%S").to_string()),
            day: item_day(item).map(|d| d.to_string()),
            thumbnail: item.kind == Kind::Photo,
            backed_up: done
                .keys
                .contains(&(item.path.clone(), item.size, item.mtime)),
        })
        .collect();
    // Newest first, as a phone's gallery shows them; the date sorts as text.
    items.sort_by(|a, b| {
        let when = |i: &ItemView| {
            i.taken.clone().unwrap_or_else(|| {
                chrono::DateTime::from_timestamp(i.mtime, 0)
                    .map(|t| {
                        t.with_timezone(&chrono::Local)
                            .format("%Y-%m-%dT%H:%M:%S")
                            .to_string()
                    })
                    .unwrap_or_default()
            })
        };
        when(b).cmp(&when(a)).then_with(|| a.path.cmp(&b.path))
    });
    let mut albums: BTreeMap<(&'static str, String), (u64, u64)> = BTreeMap::new();
    for item in &catalog.items {
        let entry = albums
            .entry((item.source.as_str(), item.album.clone()))
            .or_default();
        entry.0 += 1;
        entry.1 += item.size;
    }
    MediaView {
        serial: catalog.serial.clone(),
        folder: folder.display().to_string(),
        items,
        albums: albums
            .into_iter()
            .map(|((source, album), (count, size))| AlbumView {
                source,
                album,
                count,
                size,
            })
            .collect(),
        unreadable: catalog.unreadable.clone(),
        locked_archives: done.locked,
        damaged_archives: done.damaged,
    }
}

/// Why a preview could not be made: the library's error kind and words (the library's error
/// is not `Clone`, and one failed batch is told to every tile that waited on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFailure {
    pub kind: &'static str,
    pub message: String,
}

impl PreviewFailure {
    fn from_error(err: &Error) -> PreviewFailure {
        PreviewFailure {
            kind: error_kind(err),
            message: err.to_string(),
        }
    }

    fn worker_gone() -> PreviewFailure {
        PreviewFailure {
            kind: "internal",
            message: "the thumbnail worker of this phone stopped".to_owned(),
        }
    }
}

/// A request to the thumbnail worker.
struct ThumbRequest {
    item: MediaItem,
    reply: oneshot::Sender<Result<Preview, PreviewFailure>>,
}

/// Most items one preview run takes: enough to share one head read on the phone, few
/// enough that the first tiles do not wait for many behind them.
const THUMB_BATCH: usize = 8;

/// The thumbnail worker of one phone.
#[derive(Debug, Clone)]
pub struct Thumbnails {
    requests: Sender<ThumbRequest>,
}

impl Thumbnails {
    /// Starts the worker thread; it ends when the last `Thumbnails` is dropped.
    ///
    /// # Errors
    /// When the preview cache cannot be opened.
    pub fn start(handset: Handset, cache_root: PathBuf) -> Result<Thumbnails> {
        let cache = PreviewCache::open(cache_root, &handset.identity().serial)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("thumbs-{}", handset.serial()))
            .spawn(move || thumbnail_worker(&handset, &cache, &rx))
            .map_err(|e| Error::io("cannot start a thumbnail thread", "thumbs", e))?;
        Ok(Thumbnails { requests: tx })
    }

    /// The preview of one item (cached, EXIF thumbnail, or decoded whole).
    ///
    /// # Errors
    /// When the phone cannot be read (gone, timed out) or the worker has stopped.
    pub async fn preview(&self, item: MediaItem) -> Result<Preview, PreviewFailure> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(ThumbRequest { item, reply })
            .map_err(|_| PreviewFailure::worker_gone())?;
        answer.await.map_err(|_| PreviewFailure::worker_gone())?
    }
}

fn thumbnail_worker(handset: &Handset, cache: &PreviewCache, rx: &Receiver<ThumbRequest>) {
    // Every readable photo gets a real picture: no byte budget for whole-file decodes.
    let options = PreviewOptions::default();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < THUMB_BATCH * 4 {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        // A tile scrolled away cancels its request: skip it.
        batch.retain(|r| !r.reply.is_closed());
        // The newest requests are the tiles on screen now: serve them first.
        batch.reverse();
        for chunk in batch.chunks_mut(THUMB_BATCH) {
            let items: Vec<MediaItem> = chunk.iter().map(|r| r.item.clone()).collect();
            let run = build_previews(
                &items,
                &mut HandsetSource::new(handset),
                cache,
                &PreviewOptions {
                    batch: THUMB_BATCH,
                    ..options
                },
                &NoProgress,
            );
            match run {
                Ok(run) => {
                    for (request, preview) in chunk.iter_mut().zip(run.previews) {
                        let (reply, _) = oneshot::channel();
                        let reply = std::mem::replace(&mut request.reply, reply);
                        let _ = reply.send(Ok(preview));
                    }
                }
                Err(err) => {
                    let failure = PreviewFailure::from_error(&err);
                    for request in chunk.iter_mut() {
                        let (reply, _) = oneshot::channel();
                        let reply = std::mem::replace(&mut request.reply, reply);
                        let _ = reply.send(Err(failure.clone()));
                    }
                }
            }
        }
    }
}

/// Whether a preview carries a picture.
pub fn has_image(preview: &Preview) -> bool {
    preview.thumbnail != ThumbnailKind::Placeholder && preview.image.is_some()
}

/// The content type of a photo the page may show large, by its extension; `None` for files
/// a browser cannot show (HEIC, DNG) or that are not photos.
pub fn showable_type(item: &MediaItem) -> Option<&'static str> {
    if item.kind != Kind::Photo {
        return None;
    }
    let name = item.path.rsplit('/').next().unwrap_or_default();
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        "gif" => Some("image/gif"),
        _ => None,
    }
}

/// Largest file pulled whole for the large view.
pub const ORIGINAL_MAX: u64 = 40 * 1024 * 1024;

/// Details of one item for the large view.
#[derive(Debug, Clone, Serialize)]
pub struct DetailsView {
    #[serde(flatten)]
    pub item: ItemView,
    pub camera: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Whether `/original` can show the file itself.
    pub original: bool,
    pub notes: Vec<String>,
}

/// The shared map from serial to its listed catalog.
pub type Catalogs = std::sync::Mutex<std::collections::HashMap<String, Arc<Catalog>>>;

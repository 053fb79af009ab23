//! The backups page: the archives in the folders the client knows, an archive's grid from
//! the previews stored in it (no media entry is read for it), one entry on demand for the
//! large view, and verify and extract as jobs.
//!
//! Every request names an archive by its path; [`App::known_archive`] accepts only a
//! `*.zip` directly inside a known folder (the default folder of each phone seen, folders
//! under the default root, folders the user added), and items by their manifest id, so no
//! request reads or writes anything outside the chosen folders. Passwords arrive in POST
//! bodies only and are held in memory for the session ([`BackupsState`]).

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use phonevault::archive::{verify_record_path, ArchiveReader, Manifest, Password, PARTIAL_SUFFIX};
use phonevault::backup::default_folder;
use phonevault::catalog::select::item_day;
use phonevault::catalog::MediaItem;
use phonevault::preview::Thumbnail;
use phonevault::restore::OnConflict;
use phonevault::{Cancel, Error};
use serde::{Deserialize, Serialize};

use super::api::{ApiError, ApiResult};
use super::events::{ErrorView, JobShared, JobSink, JobState, JobView};
use super::jobs::{self, Job};
use super::{media, App};

/// What the backups page remembers for the session (memory only).
#[derive(Default)]
pub struct BackupsState {
    /// Folders the user added on the page.
    added: Mutex<Vec<PathBuf>>,
    /// Passwords that opened an archive, by archive path. Never written anywhere.
    passwords: Mutex<HashMap<PathBuf, Password>>,
    /// Archives opened on the page: manifest and stored previews.
    opened: Mutex<HashMap<PathBuf, Arc<OpenArchive>>>,
    /// Restore plans waiting for the person's go-ahead.
    pub plans: super::restore::Plans,
    /// What the list shows of each archive, while its size and mtime stay the same.
    facts: Mutex<HashMap<PathBuf, (FileStamp, ManifestFacts)>>,
}

/// A file's size and modification time: when both are unchanged, so is the archive.
type FileStamp = (u64, Option<std::time::SystemTime>);

fn file_stamp(path: &Path) -> FileStamp {
    let meta = std::fs::metadata(path).ok();
    (
        meta.as_ref().map_or(0, std::fs::Metadata::len),
        meta.and_then(|m| m.modified().ok()),
    )
}

/// What the list shows of an archive's manifest.
#[derive(Clone)]
pub struct ManifestFacts {
    created: chrono::DateTime<chrono::Utc>,
    items: usize,
    encrypted: bool,
    handset: phonevault::archive::HandsetRecord,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl BackupsState {
    pub fn password(&self, archive: &Path) -> Option<Password> {
        lock(&self.passwords).get(archive).cloned()
    }
}

/// One archive's manifest and the previews its backup stored.
pub struct OpenArchive {
    /// The file as it was when read (a changed file is read again).
    stamp: FileStamp,
    pub manifest: Manifest,
    thumbnails: HashMap<String, Thumbnail>,
    details: HashMap<String, PreviewDetails>,
}

/// The part of a stored preview record the page shows (see `docs/archive.md`).
#[derive(Deserialize)]
struct StoredPreview {
    id: String,
    #[serde(default)]
    taken: Option<String>,
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    #[serde(default)]
    make: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    image: Option<Thumbnail>,
}

#[derive(Clone, Serialize)]
struct PreviewDetails {
    taken: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    camera: Option<String>,
}

impl App {
    /// Every folder whose archives the page lists: the default folder of each phone seen,
    /// the folders under the default root (`~/phonevault/*`), and those the user added.
    pub(super) fn known_folders(&self) -> Vec<PathBuf> {
        let mut folders: Vec<PathBuf> = Vec::new();
        let mut add = |p: PathBuf| {
            if !folders.contains(&p) {
                folders.push(p);
            }
        };
        // Every phone's default folder sits in one root (`~/phonevault`): the parent of any.
        if let Some(root) = default_folder("x")
            .ok()
            .and_then(|f| f.parent().map(Path::to_path_buf))
        {
            if let Ok(entries) = std::fs::read_dir(&root) {
                let mut found: Vec<PathBuf> = entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect();
                found.sort();
                found.into_iter().for_each(&mut add);
            }
        }
        for phone in &self.phones.borrow().phones {
            if let Some(folder) = &phone.default_folder {
                add(PathBuf::from(folder));
            }
        }
        lock(&self.backups.added).iter().cloned().for_each(&mut add);
        folders
    }

    /// The archive `text` names, when it is a `*.zip` file directly inside a known folder.
    pub(super) fn known_archive(&self, text: &str) -> ApiResult<PathBuf> {
        let refuse =
            |why: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad-archive", why.to_owned());
        if text.is_empty() || text.contains('\0') {
            return Err(refuse("choose a backup archive"));
        }
        let path = PathBuf::from(text);
        if !path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(refuse(
                "an archive must be named by its full path, without `..`",
            ));
        }
        if !is_zip_name(&path) {
            return Err(refuse("not a backup archive (*.zip)"));
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        if !self.known_folders().iter().any(|f| f == parent) {
            return Err(refuse(
                "this archive is not in a backup folder the page knows; add its folder first",
            ));
        }
        // A link could lead out of the folder: only plain files.
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(path),
            Ok(_) => Err(refuse("not a plain file")),
            Err(_) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no-archive",
                "no such archive (was it moved?)",
            )),
        }
    }

    /// The list's facts of an archive: its manifest read once (previews are not read), again
    /// when the file changes.
    fn manifest_facts(&self, path: &Path) -> ApiResult<ManifestFacts> {
        let stamp = file_stamp(path);
        if let Some((known, facts)) = lock(&self.backups.facts).get(path) {
            if *known == stamp {
                return Ok(facts.clone());
            }
        }
        let password = self.backups.password(path);
        let reader = ArchiveReader::open(path, password.as_ref()).map_err(|e| archive_error(&e))?;
        let m = reader.manifest();
        let facts = ManifestFacts {
            created: m.created,
            items: m.items.len(),
            encrypted: m.encrypted,
            handset: m.handset.clone(),
        };
        lock(&self.backups.facts).insert(path.to_path_buf(), (stamp, facts.clone()));
        Ok(facts)
    }

    /// The archive opened with the session's password, manifest and previews cached.
    pub(super) fn open_archive(&self, path: &Path) -> ApiResult<Arc<OpenArchive>> {
        let stamp = file_stamp(path);
        if let Some(open) = lock(&self.backups.opened).get(path) {
            if open.stamp == stamp {
                return Ok(Arc::clone(open));
            }
        }
        let password = self.backups.password(path);
        let mut reader =
            ArchiveReader::open(path, password.as_ref()).map_err(|e| archive_error(&e))?;
        let blob = reader.previews().map_err(|e| archive_error(&e))?;
        let stored: Vec<StoredPreview> = blob
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut thumbnails = HashMap::new();
        let mut details = HashMap::new();
        for p in stored {
            let camera = [p.make, p.model]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            details.insert(
                p.id.to_ascii_lowercase(),
                PreviewDetails {
                    taken: p.taken,
                    width: p.width,
                    height: p.height,
                    camera: (!camera.is_empty()).then_some(camera),
                },
            );
            if let Some(image) = p.image {
                thumbnails.insert(p.id.to_ascii_lowercase(), image);
            }
        }
        let open = Arc::new(OpenArchive {
            stamp,
            manifest: reader.manifest().clone(),
            thumbnails,
            details,
        });
        lock(&self.backups.opened).insert(path.to_path_buf(), Arc::clone(&open));
        Ok(open)
    }
}

/// The known archive `text` names, opened (off the async executor: the first time reads
/// its manifest and previews).
async fn opened(app: &Arc<App>, text: &str) -> ApiResult<(PathBuf, Arc<OpenArchive>)> {
    let app = Arc::clone(app);
    let text = text.to_owned();
    tokio::task::spawn_blocking(move || {
        let path = app.known_archive(&text)?;
        let open = app.open_archive(&path)?;
        Ok((path, open))
    })
    .await
    .map_err(|_| ApiError::internal("the archive thread failed"))?
}

/// A library error opening an archive, as the page sees it.
pub(super) fn archive_error(err: &Error) -> ApiError {
    let status = match err {
        Error::PasswordNeeded | Error::WrongPassword { .. } => StatusCode::UNAUTHORIZED,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let message = match err {
        Error::PasswordNeeded => "this backup is encrypted: type its password".to_owned(),
        Error::WrongPassword { .. } => {
            "wrong password: this password does not open this backup".to_owned()
        }
        other => other.to_string(),
    };
    ApiError::new(status, super::events::error_kind(err), message)
}

// ---- listing -------------------------------------------------------------------------

#[derive(Serialize)]
struct ArchiveSummary {
    path: String,
    name: String,
    folder: String,
    /// When the backup finished (RFC 3339), when the manifest could be read.
    created: Option<String>,
    items: Option<usize>,
    /// Bytes of the archive file.
    size: u64,
    encrypted: bool,
    /// Encrypted and no password given yet in this session: the manifest is unknown.
    locked: bool,
    /// `complete`, `partial` (a backup still writing or interrupted: `.zip.partial`) or
    /// `unreadable` (see `problem`).
    status: &'static str,
    /// Entries an earlier verify found damaged.
    damaged: usize,
    problem: Option<String>,
}

#[derive(Serialize)]
struct PhoneBackups {
    serial: String,
    model: Option<String>,
    manufacturer: Option<String>,
    android_version: Option<String>,
    archives: Vec<ArchiveSummary>,
}

#[derive(Serialize)]
struct FolderView {
    folder: String,
    added: bool,
    exists: bool,
}

#[derive(Serialize)]
pub struct BackupsView {
    folders: Vec<FolderView>,
    phones: Vec<PhoneBackups>,
}

/// Whether a file's name ends in `.zip` (any case).
fn is_zip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// The serial in an archive's file name `phonevault-<serial>-YYYYMMDD-HHMMSS.zip`.
fn serial_from_name(name: &str) -> Option<String> {
    let stem = name
        .strip_suffix(PARTIAL_SUFFIX)
        .or_else(|| name.strip_suffix(".zip"))?
        .strip_prefix("phonevault-")?;
    let mut parts = stem.rsplitn(3, '-');
    let (_time, _date, serial) = (parts.next()?, parts.next()?, parts.next()?);
    Some(serial.to_owned())
}

fn damaged_count(archive: &Path) -> usize {
    std::fs::read(verify_record_path(archive))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["damaged"].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn list_backups(app: &App) -> BackupsView {
    let added = lock(&app.backups.added).clone();
    let mut phones: BTreeMap<String, PhoneBackups> = BTreeMap::new();
    let mut folders = Vec::new();
    for folder in app.known_folders() {
        folders.push(FolderView {
            folder: folder.display().to_string(),
            added: added.contains(&folder),
            exists: folder.is_dir(),
        });
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut names: Vec<(PathBuf, String)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| Some((e.path(), e.file_name().into_string().ok()?)))
            .filter(|(p, n)| is_zip_name(p) || n.ends_with(PARTIAL_SUFFIX))
            .collect();
        names.sort();
        for (path, name) in names {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            let mut summary = ArchiveSummary {
                path: path.display().to_string(),
                name: name.clone(),
                folder: folder.display().to_string(),
                created: None,
                items: None,
                size,
                encrypted: false,
                locked: false,
                status: "complete",
                damaged: 0,
                problem: None,
            };
            let mut handset = None;
            if name.ends_with(PARTIAL_SUFFIX) {
                summary.status = "partial";
            } else {
                summary.damaged = damaged_count(&path);
                match app.manifest_facts(&path) {
                    Ok(m) => {
                        summary.created = Some(m.created.to_rfc3339());
                        summary.items = Some(m.items);
                        summary.encrypted = m.encrypted;
                        handset = Some(m.handset);
                    }
                    Err(err) if matches!(err.kind(), "password-needed" | "wrong-password") => {
                        summary.encrypted = true;
                        summary.locked = true;
                    }
                    Err(err) => {
                        summary.status = "unreadable";
                        summary.problem = Some(err.message().to_owned());
                    }
                }
            }
            let serial = handset
                .as_ref()
                .map(|h| h.serial.clone())
                .or_else(|| serial_from_name(&name))
                .unwrap_or_else(|| "unknown phone".to_owned());
            let group = phones
                .entry(serial.clone())
                .or_insert_with(|| PhoneBackups {
                    serial,
                    model: None,
                    manufacturer: None,
                    android_version: None,
                    archives: Vec::new(),
                });
            if let Some(h) = handset {
                group.model = Some(h.model);
                group.manufacturer = Some(h.manufacturer);
                group.android_version = Some(h.android_version);
            }
            group.archives.push(summary);
        }
    }
    // Newest first within a phone: names sort by time.
    for group in phones.values_mut() {
        group.archives.sort_by(|a, b| b.name.cmp(&a.name));
    }
    BackupsView {
        folders,
        phones: phones.into_values().collect(),
    }
}

/// `GET /api/backups`: the known folders and their archives, grouped by phone.
pub async fn backups(State(app): State<Arc<App>>) -> ApiResult<Json<BackupsView>> {
    let view = tokio::task::spawn_blocking(move || list_backups(&app))
        .await
        .map_err(|_| ApiError::internal("the listing thread failed"))?;
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderRequest {
    folder: String,
}

/// `POST /api/backups/folders`: adds a folder (it must exist) to the known ones.
pub async fn add_folder(
    State(app): State<Arc<App>>,
    Json(request): Json<FolderRequest>,
) -> ApiResult<Json<BackupsView>> {
    let folder = jobs::check_folder(&request.folder).map_err(ApiError::refused)?;
    if !folder.is_dir() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-folder",
            "no such folder",
        ));
    }
    {
        let mut added = lock(&app.backups.added);
        if !added.contains(&folder) {
            added.push(folder);
        }
    }
    backups(State(app)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    archive: String,
    password: String,
}

// Never print a password, even in a debug log.
impl std::fmt::Debug for UnlockRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockRequest")
            .field("archive", &self.archive)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
pub struct Unlocked {
    archive: String,
    items: usize,
}

/// `POST /api/backups/unlock`: checks an encrypted archive's password and keeps it in
/// memory for the session (for this archive only).
pub async fn unlock(
    State(app): State<Arc<App>>,
    Json(request): Json<UnlockRequest>,
) -> ApiResult<Json<Unlocked>> {
    let path = app.known_archive(&request.archive)?;
    let password = Password::new(request.password).map_err(|e| archive_error(&e))?;
    let checked = path.clone();
    let pw = password.clone();
    let items = tokio::task::spawn_blocking(move || {
        ArchiveReader::open(&checked, Some(&pw)).map(|r| r.manifest().items.len())
    })
    .await
    .map_err(|_| ApiError::internal("the archive thread failed"))?
    .map_err(|e| archive_error(&e))?;
    lock(&app.backups.passwords).insert(path.clone(), password);
    lock(&app.backups.opened).remove(&path);
    Ok(Json(Unlocked {
        archive: request.archive,
        items,
    }))
}

// ---- one archive ---------------------------------------------------------------------

#[derive(Deserialize)]
pub struct ArchiveQuery {
    path: String,
}

#[derive(Serialize)]
struct ArchiveItem {
    id: String,
    entry: String,
    name: String,
    #[serde(flatten)]
    item: MediaItem,
    day: Option<String>,
    thumbnail: bool,
    damaged: bool,
}

#[derive(Serialize)]
pub struct ArchiveView {
    path: String,
    handset: phonevault::archive::HandsetRecord,
    created: String,
    encrypted: bool,
    items: Vec<ArchiveItem>,
    damaged: Vec<String>,
}

fn damaged_entries(archive: &Path) -> Vec<String> {
    std::fs::read(verify_record_path(archive))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v["damaged"].as_array().map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// `GET /api/backups/archive?path=ARCHIVE`: the items of an archive, with what its stored
/// previews say (no media entry is read).
pub async fn archive(
    State(app): State<Arc<App>>,
    Query(query): Query<ArchiveQuery>,
) -> ApiResult<Json<ArchiveView>> {
    let (path, open) = opened(&app, &query.path).await?;
    let damaged = damaged_entries(&path);
    let m = &open.manifest;
    let mut items: Vec<ArchiveItem> = m
        .items
        .iter()
        .map(|r| {
            let id = r.item.id.to_ascii_lowercase();
            let mut item = r.item.clone();
            if let Some(taken) = open.details.get(&id).and_then(|d| d.taken.clone()) {
                // The page shows the stored preview's date (EXIF) when the catalog had none.
                if item.taken.is_none() {
                    if let Ok(local) = chrono::NaiveDateTime::parse_from_str(
                        taken.get(..19).unwrap_or(&taken),
                        "%Y-%m-%dT%H:%M:%S",
                    ) {
                        item.taken = Some(phonevault::catalog::Taken {
                            local,
                            offset_seconds: None,
                            source: phonevault::catalog::DateSource::Exif,
                        });
                    }
                }
            }
            ArchiveItem {
                name: item
                    .rel_path
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                day: item_day(&item).map(|d| d.to_string()),
                thumbnail: open.thumbnails.contains_key(&id),
                damaged: damaged.contains(&r.entry),
                entry: r.entry.clone(),
                id,
                item,
            }
        })
        .collect();
    // Newest first, like the phone grid.
    items.sort_by(|a, b| b.day.cmp(&a.day).then(b.item.mtime.cmp(&a.item.mtime)));
    Ok(Json(ArchiveView {
        path: query.path,
        handset: m.handset.clone(),
        created: m.created.to_rfc3339(),
        encrypted: m.encrypted,
        items,
        damaged,
    }))
}

#[derive(Deserialize)]
pub struct ItemQuery {
    path: String,
    id: String,
}

fn check_id(id: &str) -> ApiResult<String> {
    if jobs::is_item_id(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-id",
            "not an item id",
        ))
    }
}

/// `GET /api/backups/thumb?path=ARCHIVE&id=ID`: the stored preview's JPEG.
pub async fn thumb(
    State(app): State<Arc<App>>,
    Query(query): Query<ItemQuery>,
) -> ApiResult<Response> {
    let id = check_id(&query.id)?;
    let (_, open) = opened(&app, &query.path).await?;
    let image = open.thumbnails.get(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-thumbnail",
            "the backup stored no preview of this item",
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=600"),
        ],
        image.jpeg.clone(),
    )
        .into_response())
}

#[derive(Serialize)]
pub struct ItemDetails {
    taken: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    camera: Option<String>,
    /// Whether `/api/backups/original` can show it.
    original: bool,
}

/// `GET /api/backups/item?path=ARCHIVE&id=ID`: what the stored preview says of one item.
pub async fn item(
    State(app): State<Arc<App>>,
    Query(query): Query<ItemQuery>,
) -> ApiResult<Json<ItemDetails>> {
    let id = check_id(&query.id)?;
    let (_, open) = opened(&app, &query.path).await?;
    let record = open
        .manifest
        .items
        .iter()
        .find(|r| r.item.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown-id", "no such item"))?;
    let d = open.details.get(&id).cloned();
    Ok(Json(ItemDetails {
        taken: d.as_ref().and_then(|d| d.taken.clone()),
        width: d.as_ref().and_then(|d| d.width),
        height: d.as_ref().and_then(|d| d.height),
        camera: d.and_then(|d| d.camera),
        original: media::showable_type(&record.item).is_some()
            && record.item.size <= media::ORIGINAL_MAX,
    }))
}

/// `GET /api/backups/original?path=ARCHIVE&id=ID`: one entry read from the archive, checked
/// against its SHA-256, for the large view.
pub async fn original(
    State(app): State<Arc<App>>,
    Query(query): Query<ItemQuery>,
) -> ApiResult<Response> {
    let id = check_id(&query.id)?;
    let (path, open) = opened(&app, &query.path).await?;
    let record = open
        .manifest
        .items
        .iter()
        .find(|r| r.item.id.eq_ignore_ascii_case(&id))
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown-id", "no such item"))?;
    let Some(content_type) = media::showable_type(&record.item) else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-showable",
            "a browser cannot show this kind of file",
        ));
    };
    if record.item.size > media::ORIGINAL_MAX {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "too large to show; the preview stands in",
        ));
    }
    let password = app.backups.password(&path);
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let mut reader =
            ArchiveReader::open(&path, password.as_ref()).map_err(|e| archive_error(&e))?;
        let mut entry = reader.open_entry(&record).map_err(|e| archive_error(&e))?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "damaged",
                format!("this entry is damaged: {e}"),
            )
        })?;
        Ok(bytes)
    })
    .await
    .map_err(|_| ApiError::internal("the archive thread failed"))??;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=600"),
        ],
        bytes,
    )
        .into_response())
}

// ---- verify and extract --------------------------------------------------------------

/// Starts `work` on its own thread as a job of `kind` on `archive`'s folder; `work`'s value
/// becomes the job's `details`, and it says how the job ended.
pub(super) fn start_job(
    app: &App,
    kind: &'static str,
    serial: &str,
    folder: &Path,
    work: impl FnOnce(&JobSink, &Cancel) -> Result<(JobState, serde_json::Value), Error>
        + Send
        + 'static,
) -> ApiResult<JobView> {
    let mut jobs = app.jobs_lock();
    let id = app
        .next_job
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut view = JobView::new(id, serial, &folder.display().to_string(), false);
    view.kind = kind;
    let shared = JobShared::new(view);
    let job = Arc::new(Job {
        shared: Arc::clone(&shared),
        cancel: Cancel::new(),
        serial: serial.to_owned(),
        folder: folder.to_path_buf(),
    });
    let cancel = job.cancel.clone();
    std::thread::Builder::new()
        .name(format!("{kind}-{id}"))
        .spawn(move || {
            let sink = JobSink::new(Arc::clone(&shared));
            let outcome = work(&sink, &cancel);
            shared.update(|view| {
                view.phase = None;
                view.current = None;
                match outcome {
                    Ok((state, details)) => {
                        view.state = state;
                        view.details = Some(details);
                    }
                    Err(err) => {
                        view.state = if matches!(err, Error::Cancelled) {
                            JobState::Cancelled
                        } else {
                            JobState::Failed
                        };
                        view.error = Some(ErrorView::from_error(&err));
                    }
                }
            });
        })
        .map_err(|_| ApiError::internal("cannot start a job thread"))?;
    let view = job.shared.snapshot();
    jobs.insert(id, job);
    Ok(view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    archive: String,
}

#[derive(Serialize)]
pub struct JobAnswer {
    pub job: JobView,
}

/// `POST /api/backups/verify`: re-reads every entry; the result names each bad one (and
/// records them beside the archive, so a later backup copies those items again).
pub async fn verify(
    State(app): State<Arc<App>>,
    Json(request): Json<VerifyRequest>,
) -> ApiResult<(StatusCode, Json<JobAnswer>)> {
    let path = app.known_archive(&request.archive)?;
    let password = app.backups.password(&path);
    let folder = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let job = start_job(&app, "verify", "", &folder, move |sink, cancel| {
        let mut reader = ArchiveReader::open(&path, password.as_ref())?;
        reader.set_cancel(cancel);
        let report = reader.verify(sink)?;
        let bad: Vec<String> = report.problems.iter().map(|p| p.entry.clone()).collect();
        let recorded = phonevault::archive::record_verify(&path, &bad);
        let state = if report.is_clean() {
            JobState::Done
        } else {
            JobState::Partial
        };
        Ok((
            state,
            serde_json::json!({
                "archive": path.display().to_string(),
                "good": report.good,
                "bytes": report.bytes,
                "problems": report.problems,
                "record_error": recorded.err().map(|e| e.to_string()),
            }),
        ))
    })?;
    Ok((StatusCode::ACCEPTED, Json(JobAnswer { job })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractRequest {
    archive: String,
    ids: Vec<String>,
    folder: String,
}

/// `POST /api/backups/extract`: the chosen items into a folder as `<source>/<rel_path>`,
/// with their original dates, never replacing a different file (keep both).
pub async fn extract(
    State(app): State<Arc<App>>,
    Json(request): Json<ExtractRequest>,
) -> ApiResult<(StatusCode, Json<JobAnswer>)> {
    jobs::check_ids(&request.ids).map_err(ApiError::refused)?;
    let path = app.known_archive(&request.archive)?;
    let to = jobs::check_folder(&request.folder).map_err(ApiError::refused)?;
    let password = app.backups.password(&path);
    let ids: Vec<String> = request.ids.iter().map(|i| i.to_ascii_lowercase()).collect();
    let job_folder = to.clone();
    let job = start_job(&app, "extract", "", &job_folder, move |sink, cancel| {
        let mut reader = ArchiveReader::open(&path, password.as_ref())?;
        reader.set_cancel(cancel);
        std::fs::create_dir_all(&to).map_err(|e| Error::io("cannot create the folder", &to, e))?;
        let mut wanted = |r: &phonevault::archive::ItemRecord| {
            ids.iter().any(|i| r.item.id.eq_ignore_ascii_case(i))
        };
        let report = reader.extract(&to, &mut wanted, OnConflict::KeepBoth, sink)?;
        let state = if report.problems.is_empty() {
            JobState::Done
        } else {
            JobState::Partial
        };
        Ok((
            state,
            serde_json::json!({
                "folder": to.display().to_string(),
                "written": report.written(),
                "already_there": report.count(phonevault::archive::Extracted::AlreadyThere),
                "kept_both": report.count(phonevault::archive::Extracted::KeptBoth),
                "bytes": report.bytes,
                "items": report.items,
                "problems": report.problems,
            }),
        ))
    })?;
    Ok((StatusCode::ACCEPTED, Json(JobAnswer { job })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_come_from_archive_names() {
        assert_eq!(
            serial_from_name("phonevault-ABC-123-20261130-053000.zip").as_deref(),
            Some("ABC-123")
        );
        assert_eq!(
            serial_from_name("phonevault-X-20261130-053000.zip.partial").as_deref(),
            Some("X")
        );
        assert_eq!(serial_from_name("holiday.zip"), None);
    }
}

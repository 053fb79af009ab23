//! The HTTP routes (documented in `docs/ui-api.md`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use phonevault::adb::Handset;
use phonevault::backup::default_folder;
use phonevault::catalog::{Catalog, MediaItem};
use phonevault::preview::{Preview, PreviewCache};
use phonevault::Error;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::events::{error_kind, JobState, JobView};
use super::jobs::{self, BackupRequest, Refusal};
use super::media::{self, DetailsView, Thumbnails};
use super::{assets, auto, backups, restore, security, App};

/// An answer that is not a success: `{"error": {"kind", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    kind: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInner {
                kind: self.kind,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    pub(super) fn from_library(err: &Error) -> ApiError {
        let status = match err {
            Error::NoDevice | Error::DeviceNotFound { .. } => StatusCode::NOT_FOUND,
            Error::DeviceGone { .. } | Error::Timeout { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error_kind(err), err.to_string())
    }

    pub(super) fn refused(refusal: Refusal) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, refusal.kind, refusal.message)
    }

    pub(super) fn internal(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            what.to_owned(),
        )
    }
}

impl ApiError {
    /// The words a person reads.
    pub(super) fn message(&self) -> &str {
        &self.message
    }

    /// The code a page matches on.
    pub(super) fn kind(&self) -> &'static str {
        self.kind
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/app.js", get(assets::app_js))
        .route("/style.css", get(assets::style))
        .route("/icon.svg", get(assets::icon))
        .route("/auto.js", get(auto::script))
        .route("/api/auto", get(auto::get_view))
        .route("/api/history", get(auto::get_history))
        .route(
            "/api/phones/{serial}/auto",
            get(auto::get_phone).post(auto::save_phone),
        )
        .route("/backups.js", get(assets::backups_js))
        .route("/restore.js", get(assets::restore_js))
        .route("/tiles.js", get(assets::tiles_js))
        .route("/api/phones", get(phones))
        .route("/api/events", get(events))
        .route("/api/phones/{serial}/media", get(media_list))
        .route("/api/phones/{serial}/thumb/{id}", get(thumb))
        .route("/api/phones/{serial}/items/{id}", get(details))
        .route("/api/phones/{serial}/items/{id}/original", get(original))
        .route("/api/phones/{serial}/backup", post(backup))
        .route("/api/space", get(space))
        .route("/api/jobs", get(job_list))
        .route("/api/jobs/{id}", get(job))
        .route("/api/jobs/{id}/events", get(job_events))
        .route("/api/jobs/{id}/cancel", post(cancel))
        .route("/api/quit", post(quit))
        .route("/api/backups", get(backups::backups))
        .route("/api/backups/folders", post(backups::add_folder))
        .route("/api/backups/unlock", post(backups::unlock))
        .route("/api/backups/archive", get(backups::archive))
        .route("/api/backups/thumb", get(backups::thumb))
        .route("/api/backups/item", get(backups::item))
        .route("/api/backups/original", get(backups::original))
        .route("/api/backups/verify", post(backups::verify))
        .route("/api/backups/extract", post(backups::extract))
        .route("/api/restore/plan", post(restore::plan))
        .route("/api/restore/start", post(restore::start))
        .fallback(not_found)
        .layer(from_fn_with_state(Arc::clone(&app), security::guard))
        .layer(from_fn(security::headers))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such page")
}

async fn phones(State(app): State<Arc<App>>) -> Json<super::phones::PhonesView> {
    Json(app.phones.borrow().clone())
}

/// Counts a page as connected while its event stream is open.
struct PageGuard(Arc<App>);

impl Drop for PageGuard {
    fn drop(&mut self) {
        self.0.page_left();
    }
}

fn json_event(name: &str, value: &impl Serialize) -> SseEvent {
    SseEvent::default()
        .event(name)
        .data(serde_json::to_string(value).unwrap_or_default())
}

/// `GET /api/events`: the phone list now and on every change (`phones`), and the
/// automatic backups' view now and on every change (`auto`). An open stream is what counts
/// as "a page is connected" for the idle exit.
async fn events(
    State(app): State<Arc<App>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    app.page_connected();
    let guard = PageGuard(Arc::clone(&app));
    let phones = app.phones.subscribe();
    let mut automatic = app.auto.view.subscribe();
    // The first `auto` event is sent right after the first `phones` one.
    automatic.mark_changed();
    let stop = app.stop.subscribe();
    let state = (guard, phones, automatic, stop, true);
    let stream = stream::unfold(
        state,
        |(guard, mut phones, mut automatic, mut stop, first)| async move {
            let event = if first {
                json_event("phones", &*phones.borrow_and_update())
            } else {
                tokio::select! {
                    changed = phones.changed() => {
                        changed.ok()?;
                        json_event("phones", &*phones.borrow_and_update())
                    }
                    changed = automatic.changed() => {
                        changed.ok()?;
                        json_event("auto", &*automatic.borrow_and_update())
                    }
                    _ = stop.wait_for(|s| *s) => return None,
                }
            };
            Some((Ok(event), (guard, phones, automatic, stop, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

pub(super) fn handset(app: &App, serial: &str) -> ApiResult<Handset> {
    app.handsets_lock().get(serial).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-device",
            "this phone is not attached (or not usable) now",
        )
    })
}

/// The cached catalog of a phone, listing it first when there is none or `refresh`.
async fn catalog(app: &Arc<App>, serial: &str, refresh: bool) -> ApiResult<Arc<Catalog>> {
    if !refresh {
        let cached = app
            .catalogs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(serial)
            .cloned();
        if let Some(catalog) = cached {
            return Ok(catalog);
        }
    }
    let handset = handset(app, serial)?;
    let listed = tokio::task::spawn_blocking(move || media::scan(&handset))
        .await
        .map_err(|_| ApiError::internal("the listing thread failed"))?
        .map_err(|e| ApiError::from_library(&e))?;
    let listed = Arc::new(listed);
    app.catalogs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(serial.to_owned(), Arc::clone(&listed));
    Ok(listed)
}

async fn item(app: &Arc<App>, serial: &str, id: &str) -> ApiResult<MediaItem> {
    if !jobs::is_item_id(id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-id",
            "not an item id",
        ));
    }
    let catalog = catalog(app, serial, false).await?;
    catalog
        .items
        .iter()
        .find(|i| i.id.eq_ignore_ascii_case(id))
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown-id", "no such item"))
}

fn folder_for(handset: &Handset, folder: Option<&str>) -> ApiResult<std::path::PathBuf> {
    match folder {
        Some(text) => jobs::check_folder(text).map_err(ApiError::refused),
        None => default_folder(&handset.identity().serial).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-folder",
                format!("{e}; choose a backup folder"),
            )
        }),
    }
}

#[derive(Deserialize)]
struct MediaQuery {
    folder: Option<String>,
    #[serde(default)]
    refresh: bool,
}

/// `GET /api/phones/{serial}/media`: albums and items, with the backup folder's markers.
async fn media_list(
    State(app): State<Arc<App>>,
    UrlPath(serial): UrlPath<String>,
    Query(query): Query<MediaQuery>,
) -> ApiResult<Json<media::MediaView>> {
    let handset = handset(&app, &serial)?;
    let folder = folder_for(&handset, query.folder.as_deref())?;
    let catalog = catalog(&app, &serial, query.refresh).await?;
    let view = tokio::task::spawn_blocking(move || media::media_view(&catalog, &folder))
        .await
        .map_err(|_| ApiError::internal("the media thread failed"))?;
    Ok(Json(view))
}

fn thumbnails(app: &App, serial: &str) -> ApiResult<Thumbnails> {
    let mut workers = app
        .thumbnails
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(worker) = workers.get(serial) {
        return Ok(worker.clone());
    }
    let worker = Thumbnails::start(handset(app, serial)?, app.cache_root.clone())
        .map_err(|e| ApiError::from_library(&e))?;
    workers.insert(serial.to_owned(), worker.clone());
    Ok(worker)
}

async fn preview(app: &Arc<App>, serial: &str, item: MediaItem) -> ApiResult<Preview> {
    let worker = thumbnails(app, serial)?;
    match worker.preview(item).await {
        Ok(preview) => Ok(preview),
        Err(failure) => {
            // A worker whose phone went away is started afresh next time.
            app.thumbnails
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(serial);
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                failure.kind,
                failure.message,
            ))
        }
    }
}

/// `GET /api/phones/{serial}/thumb/{id}`: a small JPEG.
async fn thumb(
    State(app): State<Arc<App>>,
    UrlPath((serial, id)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    let item = item(&app, &serial, &id).await?;
    if item.kind != phonevault::catalog::Kind::Photo {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-thumbnail",
            "only photos have thumbnails",
        ));
    }
    let preview = preview(&app, &serial, item).await?;
    match (media::has_image(&preview), preview.image) {
        (true, Some(image)) => Ok((
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=600"),
            ],
            image.jpeg,
        )
            .into_response()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-thumbnail",
            preview.notes.join("; "),
        )),
    }
}

/// `GET /api/phones/{serial}/items/{id}[?folder=DIR]`: what the large view shows beside the
/// picture; `backed_up` as in the media list for that folder.
async fn details(
    State(app): State<Arc<App>>,
    UrlPath((serial, id)): UrlPath<(String, String)>,
    Query(query): Query<MediaQuery>,
) -> ApiResult<Json<DetailsView>> {
    let item = item(&app, &serial, &id).await?;
    let catalog = catalog(&app, &serial, false).await?;
    let folder = folder_for(&handset(&app, &serial)?, query.folder.as_deref()).ok();
    let one = Catalog {
        items: vec![item.clone()],
        ..(*catalog).clone()
    };
    let view = match folder {
        Some(folder) => tokio::task::spawn_blocking(move || media::media_view(&one, &folder))
            .await
            .map_err(|_| ApiError::internal("the media thread failed"))?,
        None => media::media_view(&one, std::path::Path::new("")),
    };
    let item_view = view
        .items
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("item view missing"))?;
    let mut details = DetailsView {
        item: item_view,
        camera: None,
        width: None,
        height: None,
        original: media::showable_type(&item).is_some() && item.size <= media::ORIGINAL_MAX,
        notes: Vec::new(),
    };
    if item.kind == phonevault::catalog::Kind::Photo {
        let preview = preview(&app, &serial, item).await?;
        let camera = [preview.info.make.clone(), preview.info.model.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        details.camera = (!camera.is_empty()).then_some(camera);
        details.width = preview.info.width;
        details.height = preview.info.height;
        if let Some(taken) = preview.taken {
            details.item.taken = Some(taken.local.format("%Y-%m-%dT%H:%M:%S").to_string());
        }
        details.notes = preview.notes;
    }
    Ok(Json(details))
}

/// `GET /api/phones/{serial}/items/{id}/original`: the photo itself, for the large view.
async fn original(
    State(app): State<Arc<App>>,
    UrlPath((serial, id)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    let item = item(&app, &serial, &id).await?;
    let Some(content_type) = media::showable_type(&item) else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-showable",
            "a browser cannot show this kind of file",
        ));
    };
    if item.size > media::ORIGINAL_MAX {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "too large to show; the thumbnail stands in",
        ));
    }
    let handset = handset(&app, &serial)?;
    let bytes = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::with_capacity(usize::try_from(item.size).unwrap_or(0));
        handset.pull(&item.path, &mut bytes).map(|_| bytes)
    })
    .await
    .map_err(|_| ApiError::internal("the pull thread failed"))?
    .map_err(|e| ApiError::from_library(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=600"),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct SpaceQuery {
    folder: String,
}

#[derive(Serialize)]
struct SpaceAnswer {
    folder: String,
    /// Bytes free there; `null` when the system cannot say.
    free: Option<u64>,
}

/// `GET /api/space?folder=DIR`: free space where a backup would be written.
async fn space(Query(query): Query<SpaceQuery>) -> ApiResult<Json<SpaceAnswer>> {
    let folder = jobs::check_folder(&query.folder).map_err(ApiError::refused)?;
    let free = tokio::task::spawn_blocking(move || jobs::free_space(&folder))
        .await
        .map_err(|_| ApiError::internal("the space thread failed"))?;
    Ok(Json(SpaceAnswer {
        folder: query.folder,
        free,
    }))
}

#[derive(Serialize)]
struct JobAnswer {
    job: JobView,
}

/// `POST /api/phones/{serial}/backup`: starts a backup of the given items.
async fn backup(
    State(app): State<Arc<App>>,
    UrlPath(serial): UrlPath<String>,
    Json(request): Json<BackupRequest>,
) -> ApiResult<(StatusCode, Json<JobAnswer>)> {
    jobs::check_ids(&request.ids).map_err(ApiError::refused)?;
    let password = jobs::check_password(&request).map_err(ApiError::refused)?;
    let handset = handset(&app, &serial)?;
    // Not beside an automatic backup of the same phone (said before listing it); held from
    // here, so the watcher waits for this one.
    let claim = auto::claim_by_hand(&app, &handset)
        .map_err(|why| ApiError::new(StatusCode::CONFLICT, "busy", why))?;
    let folder = folder_for(&handset, request.folder.as_deref())?;
    let catalog = catalog(&app, &serial, false).await?;
    if let Some(unknown) = request
        .ids
        .iter()
        .find(|id| !catalog.items.iter().any(|i| i.id.eq_ignore_ascii_case(id)))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown-id",
            format!("no item {unknown} on this phone (reload the list)"),
        ));
    }
    let mut jobs = app.jobs_lock();
    let busy = jobs
        .values()
        .filter(|j| j.is_running())
        .find(|j| j.serial == serial || j.folder == folder);
    if let Some(busy) = busy {
        let why = if busy.serial == serial {
            "a backup of this phone is already running"
        } else {
            "another backup is writing into this folder; wait for it or choose another folder"
        };
        return Err(ApiError::new(StatusCode::CONFLICT, "busy", why));
    }
    let id = app
        .next_job
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The thumbnails the grid made are the archive's pictures too: no second decode.
    let previews = PreviewCache::open(app.cache_root.clone(), &serial).ok();
    let job = jobs::start_backup(id, handset, &folder, request.ids, password, previews)
        .map_err(|_| ApiError::internal("cannot start a backup thread"))?;
    let view = job.shared.snapshot();
    auto::release_when_done(Arc::clone(&job), claim);
    jobs.insert(id, job);
    Ok((StatusCode::ACCEPTED, Json(JobAnswer { job: view })))
}

fn find_job(app: &App, id: u64) -> ApiResult<Arc<super::jobs::Job>> {
    app.jobs_lock()
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown-job", "no such job"))
}

#[derive(Serialize)]
struct JobListAnswer {
    jobs: Vec<JobView>,
}

async fn job_list(State(app): State<Arc<App>>) -> Json<JobListAnswer> {
    let mut jobs: Vec<JobView> = app
        .jobs_lock()
        .values()
        .map(|j| j.shared.snapshot())
        .collect();
    jobs.sort_by_key(|j| j.id);
    Json(JobListAnswer { jobs })
}

async fn job(State(app): State<Arc<App>>, UrlPath(id): UrlPath<u64>) -> ApiResult<Json<JobAnswer>> {
    Ok(Json(JobAnswer {
        job: find_job(&app, id)?.shared.snapshot(),
    }))
}

/// What a job's event stream remembers between two events.
struct Follow {
    job: Arc<super::jobs::Job>,
    changed: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
    first: bool,
    ended: bool,
}

/// Least time between two progress events of one job, so a fast copy does not flood the page.
const PROGRESS_EVERY: Duration = Duration::from_millis(150);

/// `GET /api/jobs/{id}/events`: the job's view now, on every change (at most every 150 ms),
/// and a last time when it ends; then the stream closes.
async fn job_events(
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<u64>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let job = find_job(&app, id)?;
    let changed = job.shared.changed.subscribe();
    let stop = app.stop.subscribe();
    let state = Follow {
        job,
        changed,
        stop,
        first: true,
        ended: false,
    };
    let stream = stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        if !s.first {
            tokio::time::sleep(PROGRESS_EVERY).await;
            tokio::select! {
                changed = s.changed.changed() => changed.ok()?,
                _ = s.stop.wait_for(|v| *v) => {}
            }
        }
        s.first = false;
        s.changed.borrow_and_update();
        let view = s.job.shared.snapshot();
        s.ended = view.state != JobState::Running || *s.stop.borrow();
        let name = if view.state == JobState::Running {
            "progress"
        } else {
            "end"
        };
        Some((Ok(json_event(name, &view)), s))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `POST /api/jobs/{id}/cancel`: stops the job; what arrived whole is kept.
async fn cancel(
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<u64>,
) -> ApiResult<Json<JobAnswer>> {
    let job = find_job(&app, id)?;
    job.request_cancel();
    Ok(Json(JobAnswer {
        job: job.shared.snapshot(),
    }))
}

#[derive(Serialize)]
struct QuitAnswer {
    stopping: bool,
}

/// `POST /api/quit`: stops the server (running backups are cancelled, keeping what arrived
/// whole).
async fn quit(State(app): State<Arc<App>>) -> Json<QuitAnswer> {
    app.request_stop();
    Json(QuitAnswer { stopping: true })
}

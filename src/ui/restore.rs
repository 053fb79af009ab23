//! Restore from the page: a plan first (where each item goes on the target phone, what is
//! already there, what conflicts, space needed against free), kept on the server under an
//! id; then, with the person's conflict choices (per item, or one for all), the restore
//! runs as a job that can be cancelled.
//!
//! The plan is made with keep-both, so every conflicting item has a free numbered name
//! ready; a choice of "skip" or "replace" puts the item back on its own name (see
//! [`apply_choices`]). Archives are named by path and checked like every other route
//! ([`App::known_archive`]); nothing but the plan's targets is written on the phone.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use phonevault::archive::ArchiveReader;
use phonevault::catalog::select::{Matcher, Selection};
use phonevault::catalog::Kind;
use phonevault::progress::NoProgress;
use phonevault::restore::{self, Action, OnConflict, Placement, Plan, RestoreOptions};
use phonevault::{Cancel, Error};
use serde::{Deserialize, Serialize};

use super::api::{self, ApiError, ApiResult};
use super::backups::{archive_error, start_job, JobAnswer};
use super::events::JobState;
use super::jobs;
use super::App;

/// Plans waiting for the person's go-ahead.
#[derive(Default)]
pub struct Plans {
    plans: Mutex<HashMap<u64, Arc<StoredPlan>>>,
    next: std::sync::atomic::AtomicU64,
}

pub struct StoredPlan {
    serial: String,
    archives: Vec<PathBuf>,
    matcher: Matcher,
    plan: Plan,
    /// For each item that a choice may put back on its own name: that name.
    own_names: Vec<Option<String>>,
}

/// What to do with a conflicting item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Choice {
    KeepBoth,
    Skip,
    Replace,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    serial: String,
    archives: Vec<String>,
    ids: Vec<String>,
}

#[derive(Serialize)]
struct PlanItem {
    index: usize,
    archive: usize,
    from: String,
    target: String,
    /// For conflicts a choice can change: the item's own name on the phone (taken by a
    /// different file).
    own_name: Option<String>,
    source: phonevault::catalog::Source,
    kind: Kind,
    size: u64,
    action: Action,
    placement: Placement,
}

#[derive(Serialize)]
pub struct PlanView {
    plan_id: u64,
    serial: String,
    sdk: u32,
    items: Vec<PlanItem>,
    refused: Vec<phonevault::backup::FailedItem>,
    per_source: BTreeMap<&'static str, restore::SourceTotals>,
    needed: u64,
    free: u64,
    fits: bool,
    /// When it does not fit: the refusal, with both numbers.
    space_problem: Option<String>,
    to_push: usize,
    identical: usize,
    conflicts: usize,
    chats: bool,
}

fn own_name(item: &restore::PlannedItem, sdk: u32) -> Option<String> {
    match item.action {
        Action::KeepBoth if item.placement == Placement::Live => {
            restore::target_path(item.source, &item.record.item.rel_path, sdk).ok()
        }
        Action::ChatConflict => Some(item.target.clone()),
        _ => None,
    }
}

fn view(id: u64, stored: &StoredPlan) -> PlanView {
    let plan = &stored.plan;
    PlanView {
        plan_id: id,
        serial: plan.serial.clone(),
        sdk: plan.sdk,
        items: plan
            .items
            .iter()
            .enumerate()
            .map(|(index, i)| PlanItem {
                index,
                archive: i.archive,
                from: i.from.clone(),
                target: i.target.clone(),
                own_name: stored.own_names[index].clone(),
                source: i.source,
                kind: i.record.item.kind,
                size: i.size,
                action: i.action,
                placement: i.placement,
            })
            .collect(),
        refused: plan.refused.clone(),
        per_source: plan
            .per_source
            .iter()
            .map(|(s, t)| (s.as_str(), *t))
            .collect(),
        needed: plan.needed,
        free: plan.free,
        fits: plan.fits(),
        space_problem: plan.check_space().err().map(|e| e.to_string()),
        to_push: plan.items.iter().filter(|i| i.action.pushes()).count(),
        identical: plan.count(Action::Identical),
        conflicts: plan.conflicts(),
        chats: plan.has_chats(),
    }
}

fn open_all(
    app: &App,
    archives: &[PathBuf],
    cancel: &Cancel,
) -> Result<Vec<ArchiveReader>, ApiError> {
    archives
        .iter()
        .map(|path| {
            let mut reader = ArchiveReader::open(path, app.backups.password(path).as_ref())
                .map_err(|e| archive_error(&e))?;
            reader.set_cancel(cancel);
            Ok(reader)
        })
        .collect()
}

/// `POST /api/restore/plan`: what a restore of these items onto that phone would do.
pub async fn plan(
    State(app): State<Arc<App>>,
    Json(request): Json<PlanRequest>,
) -> ApiResult<Json<PlanView>> {
    jobs::check_ids(&request.ids).map_err(ApiError::refused)?;
    if request.archives.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "nothing-selected",
            "choose at least one backup",
        ));
    }
    let archives: Vec<PathBuf> = request
        .archives
        .iter()
        .map(|a| app.known_archive(a))
        .collect::<ApiResult<_>>()?;
    let handset = api::handset(&app, &request.serial)?;
    let matcher = Selection {
        ids: request.ids.clone(),
        ..Selection::default()
    }
    .compile()
    .map_err(|e| ApiError::from_library(&e))?;
    let app2 = Arc::clone(&app);
    let stored = tokio::task::spawn_blocking(move || -> ApiResult<StoredPlan> {
        let cancel = Cancel::new();
        let readers = open_all(&app2, &archives, &cancel)?;
        let options = RestoreOptions {
            matcher: matcher.clone(),
            on_conflict: OnConflict::KeepBoth,
            cancel,
        };
        let plan = restore::plan(&handset, &readers, &options, &NoProgress)
            .map_err(|e| ApiError::from_library(&e))?;
        let own_names = plan.items.iter().map(|i| own_name(i, plan.sdk)).collect();
        Ok(StoredPlan {
            serial: handset.serial().to_owned(),
            archives,
            matcher,
            plan,
            own_names,
        })
    })
    .await
    .map_err(|_| ApiError::internal("the planning thread failed"))??;
    let id = app
        .backups
        .plans
        .next
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let answer = view(id, &stored);
    app.backups
        .plans
        .plans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id, Arc::new(stored));
    Ok(Json(answer))
}

/// The plan with the person's choices: "skip" and "replace" put a conflicting item back on
/// its own name (left alone, or replacing the phone's file); "keep both" keeps the free
/// numbered name the plan found (a chat database is never renamed: it stays not restored).
pub fn apply_choices(
    plan: &Plan,
    own_names: &[Option<String>],
    all: Choice,
    per_item: &HashMap<usize, Choice>,
) -> Plan {
    let mut plan = plan.clone();
    for (index, item) in plan.items.iter_mut().enumerate() {
        let Some(own) = own_names.get(index).cloned().flatten() else {
            continue;
        };
        let choice = per_item.get(&index).copied().unwrap_or(all);
        match choice {
            Choice::KeepBoth => {}
            Choice::Skip => {
                item.action = Action::SkipConflict;
                item.target = own;
            }
            Choice::Replace => {
                item.action = Action::Overwrite;
                item.target = own;
            }
        }
    }
    let mut needed = 0;
    for totals in plan.per_source.values_mut() {
        totals.to_push = 0;
        totals.push_bytes = 0;
    }
    for item in &plan.items {
        if item.action.pushes() {
            needed += item.size;
            let totals = plan.per_source.entry(item.source).or_default();
            totals.to_push += 1;
            totals.push_bytes += item.size;
        }
    }
    plan.needed = needed;
    plan
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    plan_id: u64,
    /// The choice for every conflict without its own.
    #[serde(default = "default_choice")]
    all: Choice,
    /// Per-item choices, by the plan item's index.
    #[serde(default)]
    choices: HashMap<usize, Choice>,
}

fn default_choice() -> Choice {
    Choice::KeepBoth
}

/// `POST /api/restore/start`: runs a plan with the person's conflict choices. Refused up
/// front (nothing pushed) when it does not fit on the phone.
pub async fn start(
    State(app): State<Arc<App>>,
    Json(request): Json<StartRequest>,
) -> ApiResult<(StatusCode, Json<JobAnswer>)> {
    let stored = app
        .backups
        .plans
        .plans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&request.plan_id)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-plan",
                "this plan is gone; make it again",
            )
        })?;
    let plan = apply_choices(
        &stored.plan,
        &stored.own_names,
        request.all,
        &request.choices,
    );
    if let Err(err) = plan.check_space() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no-space",
            err.to_string(),
        ));
    }
    let handset = api::handset(&app, &stored.serial)?;
    if app.running_jobs().iter().any(|j| j.serial == stored.serial) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "busy",
            "this phone is busy with another job; wait for it",
        ));
    }
    // A plan is used once: the phone changes as it runs.
    app.backups
        .plans
        .plans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&request.plan_id);
    let folder = stored
        .archives
        .first()
        .and_then(|a| a.parent())
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let app2 = Arc::clone(&app);
    let serial = stored.serial.clone();
    let job = start_job(&app, "restore", &serial, &folder, move |sink, cancel| {
        let mut readers =
            open_all(&app2, &stored.archives, cancel).map_err(|e| Error::Archive {
                path: stored.archives.first().cloned().unwrap_or_default(),
                detail: e.message().to_owned(),
            })?;
        let options = RestoreOptions {
            matcher: stored.matcher.clone(),
            on_conflict: OnConflict::KeepBoth,
            cancel: cancel.clone(),
        };
        let report = restore::execute(&handset, &mut readers, &plan, &options, sink)?;
        let state = if cancel.is_cancelled() {
            JobState::Cancelled
        } else if report.is_complete() {
            JobState::Done
        } else {
            JobState::Partial
        };
        Ok((
            state,
            serde_json::json!({
                "restored": report.restored,
                "skipped": report.skipped,
                "conflicts": report.conflicts,
                "left_alone": plan.count(Action::SkipConflict),
                "failed": report.failed,
                "superseded": report.superseded,
                "bytes": report.bytes,
                "not_attempted": report.not_attempted,
                "stopped": report.stopped.as_ref().map(ToString::to_string),
                "removed_leftovers": report.removed_leftovers,
                "scanned_folders": report.scanned_folders,
                "chats": report.chats,
            }),
        ))
    })?;
    Ok((StatusCode::ACCEPTED, Json(JobAnswer { job })))
}

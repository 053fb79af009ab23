//! Automatic backups in the desktop client: each phone's setting (the same config file as
//! `phonevault auto`), the history of runs, and the watcher (`phonevault watch`'s engine)
//! running on its own thread while the page is open, its events streamed to the page.
//!
//! The watcher and the page's own backups share one [`BusyPhones`] registry by hardware
//! serial: the page refuses to start beside an automatic backup of the same phone (`409
//! busy`, saying so), and the watcher lets a backup by hand finish before its own.

use std::collections::BTreeMap;
use std::path::{Component, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use phonevault::adb::{ConnectOptions, Handset};
use phonevault::backup::default_folder;
use phonevault::config::{parse_every, AutoSelection, Config, PhoneSetting};
use phonevault::history::{self, RunRecord};
use phonevault::watch::{self, BusyBy, BusyClaim, BusyPhones, WatchEvent, WatchOptions};
use phonevault::{Cancel, Error};
use serde::{Deserialize, Serialize};
use tokio::sync::watch as channel;

use super::events::error_kind;
use super::jobs::{self, Job};
use super::App;

const AUTO_JS: &str = include_str!("static/auto.js");

/// The page's script for this part (an ES module `app.js` imports).
pub async fn script() -> impl IntoResponse {
    super::assets::script(AUTO_JS)
}

/// What the server keeps for automatic backups.
pub struct AutoState {
    pub config_path: PathBuf,
    pub history_path: PathBuf,
    /// Phones being backed up now, by the watcher or from the page.
    pub busy: BusyPhones,
    /// The watcher's stop flag (also its running backups' cancel flag).
    pub stop: Cancel,
    /// What the page shows, sent whole as an `auto` event on every change.
    pub view: channel::Sender<AutoView>,
    /// One read-modify-write of the config file at a time.
    config_write: Mutex<()>,
}

impl AutoState {
    pub fn new(config_path: PathBuf, history_path: PathBuf) -> AutoState {
        let last = last_runs(&history_path);
        let known = Config::load(&config_path)
            .map(|config| known_phones(&config))
            .unwrap_or_default();
        let view = AutoView {
            known,
            config_path: config_path.display().to_string(),
            history_path: history_path.display().to_string(),
            last,
            ..AutoView::default()
        };
        AutoState {
            config_path,
            history_path,
            busy: BusyPhones::new(),
            stop: Cancel::new(),
            view: channel::Sender::new(view),
            config_write: Mutex::new(()),
        }
    }

    /// Whether an automatic backup runs now (the server does not stop for being idle then).
    pub fn is_running(&self) -> bool {
        !self.view.borrow().running.is_empty()
    }
}

/// Takes the newest runs from a history just read, so "last backed up" also counts runs
/// another program wrote (a `phonevault watch` service beside the page).
fn refresh_last(auto: &AutoState, history: &history::History) {
    let last: BTreeMap<String, RunRecord> = history
        .last_by_phone()
        .into_iter()
        .map(|(serial, run)| (serial.to_owned(), run.clone()))
        .collect();
    auto.view.send_if_modified(|v| {
        if v.last == last {
            return false;
        }
        v.last = last;
        v.version += 1;
        true
    });
}

/// The phones in the settings file, for the page's list of phones not attached now.
fn known_phones(config: &Config) -> Vec<KnownPhone> {
    config
        .phones
        .iter()
        .map(|(serial, setting)| KnownPhone {
            serial: serial.clone(),
            model: setting.model.clone(),
            enabled: setting.enabled,
            folder: setting.folder.display().to_string(),
        })
        .collect()
}

/// Takes the phones of a settings file just read (edited here, or by `phonevault auto`).
fn refresh_known(auto: &AutoState, config: &Config) {
    let known = known_phones(config);
    auto.view.send_if_modified(|v| {
        if v.known == known {
            return false;
        }
        v.known = known;
        v.version += 1;
        true
    });
}

/// Reads the settings and the history again (another program may have changed them), for
/// the page's view. Blocking: not on the executor.
fn reread_files(auto: &AutoState) -> Result<history::History, Error> {
    if let Ok(config) = Config::load(&auto.config_path) {
        refresh_known(auto, &config);
    }
    let read = history::read(&auto.history_path)?;
    refresh_last(auto, &read);
    Ok(read)
}

/// The newest run of each phone in the history file (empty when it cannot be read).
fn last_runs(history_path: &std::path::Path) -> BTreeMap<String, RunRecord> {
    history::read(history_path)
        .map(|h| {
            h.last_by_phone()
                .into_iter()
                .map(|(serial, run)| (serial.to_owned(), run.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// An automatic backup in progress.
#[derive(Debug, Clone, Serialize)]
pub struct RunningView {
    /// The hardware serial.
    pub serial: String,
    pub adb_serial: String,
    pub model: String,
    pub folder: String,
    pub started: DateTime<Utc>,
}

/// A phone in the settings file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KnownPhone {
    /// The hardware serial.
    pub serial: String,
    pub model: Option<String>,
    pub enabled: bool,
    pub folder: String,
}

/// The watcher as the page sees it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AutoView {
    /// Every phone in the settings file, attached or not.
    pub known: Vec<KnownPhone>,
    /// Following the adb server's device events.
    pub watching: bool,
    /// Why it is not (the adb server cannot be reached), when it is not.
    pub problem: Option<String>,
    pub running: Vec<RunningView>,
    /// Hardware serials of enabled phones whose automatic backup waits for one by hand.
    pub waiting: Vec<String>,
    /// The newest run of each phone, by hardware serial.
    pub last: BTreeMap<String, RunRecord>,
    /// The last problem with a phone or the settings file that kept a backup from starting
    /// (a settings file broken by hand, a phone that would not answer); cleared when a
    /// backup starts.
    pub phone_error: Option<String>,
    pub config_path: String,
    pub history_path: String,
    /// Changes with every event, so a page can tell two views apart.
    pub version: u64,
    /// The watcher's last event.
    pub last_event: Option<WatchEvent>,
}

/// Starts the watcher on its own thread, so phones set up for automatic backups are backed
/// up when plugged in while the page is open; it runs until [`AutoState::stop`] is set
/// (the server's shutdown sets it), and its running backups then keep what arrived whole.
///
/// # Errors
/// When the thread cannot be started.
pub fn start_watcher(
    app: &Arc<App>,
    connect: ConnectOptions,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let app = Arc::clone(app);
    std::thread::Builder::new()
        .name("auto-watch".into())
        .spawn(move || {
            let options = WatchOptions {
                connect,
                config_path: app.auto.config_path.clone(),
                history_path: app.auto.history_path.clone(),
                stop: app.auto.stop.clone(),
            };
            let on_event = |event: WatchEvent| fold_event(&app.auto.view, event);
            // Every failure is an event and is retried; nothing is left to report here.
            let _ = watch::watch_with(&options, &app.auto.busy, &on_event);
        })
}

/// Folds one watcher event into the page's view.
fn fold_event(view: &channel::Sender<AutoView>, event: WatchEvent) {
    view.send_modify(|v| {
        match &event {
            WatchEvent::ServerConnected { .. } => {
                v.watching = true;
                v.problem = None;
            }
            WatchEvent::ServerLost { error, .. } => {
                v.watching = false;
                v.problem = Some(error.clone());
            }
            WatchEvent::BackupStarted {
                adb_serial,
                serial,
                model,
                folder,
            } => {
                v.phone_error = None;
                v.waiting.retain(|s| s != serial);
                v.running.push(RunningView {
                    serial: serial.clone(),
                    adb_serial: adb_serial.clone(),
                    model: model.clone(),
                    folder: folder.display().to_string(),
                    started: Utc::now(),
                });
            }
            WatchEvent::WaitingForOther { serial, .. } if !v.waiting.contains(serial) => {
                v.waiting.push(serial.clone());
            }
            WatchEvent::BackupFinished { record } => {
                v.running.retain(|r| r.serial != record.serial);
                v.last.insert(record.serial.clone(), record.clone());
            }
            WatchEvent::PhoneError { adb_serial, error } => {
                v.phone_error = Some(format!("phone on {adb_serial}: {error}"));
            }
            WatchEvent::Stopping { .. } => v.watching = false,
            _ => {}
        }
        v.version += 1;
        v.last_event = Some(event);
    });
}

/// Marks a phone as backed up by hand for a backup started from the page.
///
/// `None` when another backup by hand already holds its hardware serial: the page's own job
/// registry decides about two backups of one adb serial, and two transports with one
/// hardware serial (rare; simulated handsets share theirs) are let run, the folder lock
/// keeping them apart; the watcher waits for the first.
///
/// # Errors
/// Why it cannot start now, for a `409 busy`: an automatic backup of the phone runs.
pub fn claim_by_hand(app: &App, handset: &Handset) -> Result<Option<BusyClaim>, String> {
    let serial = &handset.identity().serial;
    match app.auto.busy.claim(serial, BusyBy::ByHand) {
        Ok(claim) => Ok(Some(claim)),
        Err(BusyBy::ByHand) => Ok(None),
        Err(BusyBy::Automatic) => Err("an automatic backup of this phone is running (it \
                                       started when the phone was plugged in); wait for it to \
                                       end, then back up what is left"
            .to_owned()),
    }
}

/// Keeps `claim` until `job` ends, so the watcher waits for it.
pub fn release_when_done(job: Arc<Job>, claim: Option<BusyClaim>) {
    let Some(claim) = claim else { return };
    let mut changed = job.shared.changed.subscribe();
    tokio::spawn(async move {
        while job.is_running() {
            if changed.changed().await.is_err() {
                break;
            }
        }
        drop(claim);
    });
}

// ---- the HTTP side ------------------------------------------------------------------------

/// A refusal or failure, as every route answers one: `{"error": {"kind", "message"}}`.
#[derive(Debug)]
pub struct AutoError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl AutoError {
    fn bad(kind: &'static str, message: impl Into<String>) -> AutoError {
        AutoError {
            status: StatusCode::BAD_REQUEST,
            kind,
            message: message.into(),
        }
    }

    fn from_library(status: StatusCode, err: &Error) -> AutoError {
        let kind = match err {
            Error::InvalidConfig { .. } => "invalid-setting",
            Error::ConfigFile { .. } => "config-file",
            _ => error_kind(err),
        };
        AutoError {
            status,
            kind,
            message: err.to_string(),
        }
    }
}

impl IntoResponse for AutoError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

/// The attached, usable phone behind an adb serial.
fn handset(app: &App, adb_serial: &str) -> Result<Handset, AutoError> {
    app.handsets_lock()
        .get(adb_serial)
        .cloned()
        .ok_or_else(|| AutoError {
            status: StatusCode::NOT_FOUND,
            kind: "no-device",
            message: "this phone is not attached (or not usable) now".into(),
        })
}

/// A setting as the page edits it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettingForm {
    pub enabled: bool,
    /// The backup folder; the phone's default folder when absent or empty.
    #[serde(default)]
    pub folder: Option<String>,
    #[serde(default)]
    pub selection: AutoSelection,
    /// Album globs, with `selection: "albums"`.
    #[serde(default)]
    pub albums: Vec<String>,
    /// `"connect"` or a number with `m`, `h` or `d`.
    #[serde(default)]
    pub every: Option<String>,
    #[serde(default)]
    pub encrypt: bool,
    /// The file whose first line is the password (read at every backup, never stored).
    #[serde(default)]
    pub password_file: Option<String>,
}

/// One phone's automatic backup, for its page.
#[derive(Debug, Serialize)]
pub struct PhoneAuto {
    pub adb_serial: String,
    /// The hardware serial: the key in the config file and the history.
    pub serial: String,
    pub model: String,
    /// The saved setting; `null` when the phone has none.
    pub setting: Option<SettingForm>,
    /// The folder used when none is given.
    pub default_folder: Option<String>,
    pub last_run: Option<RunRecord>,
    pub running: bool,
    pub config_path: String,
    /// Whether passwords can come from the system's credential store (not yet).
    pub credential_store: bool,
}

fn form_of(setting: &PhoneSetting) -> SettingForm {
    SettingForm {
        enabled: setting.enabled,
        folder: Some(setting.folder.display().to_string()),
        selection: setting.selection,
        albums: setting.albums.clone(),
        every: setting.every.clone(),
        encrypt: setting.encrypt,
        password_file: setting
            .password_file
            .as_ref()
            .map(|p| p.display().to_string()),
    }
}

fn phone_auto(app: &App, handset: &Handset) -> Result<PhoneAuto, AutoError> {
    let identity = handset.identity();
    let config = Config::load(&app.auto.config_path)
        .map_err(|e| AutoError::from_library(StatusCode::CONFLICT, &e))?;
    let view = app.auto.view.borrow();
    Ok(PhoneAuto {
        adb_serial: handset.serial().to_owned(),
        serial: identity.serial.clone(),
        model: identity.model.clone(),
        setting: config.phones.get(&identity.serial).map(form_of),
        default_folder: default_folder(&identity.serial)
            .ok()
            .map(|p| p.display().to_string()),
        last_run: view.last.get(&identity.serial).cloned(),
        running: view.running.iter().any(|r| r.serial == identity.serial),
        config_path: view.config_path.clone(),
        credential_store: false,
    })
}

/// `GET /api/phones/{serial}/auto`.
pub async fn get_phone(
    State(app): State<Arc<App>>,
    UrlPath(adb_serial): UrlPath<String>,
) -> Result<Json<PhoneAuto>, AutoError> {
    let handset = handset(&app, &adb_serial)?;
    let app_for_read = Arc::clone(&app);
    let _ = tokio::task::spawn_blocking(move || reread_files(&app_for_read.auto)).await;
    Ok(Json(phone_auto(&app, &handset)?))
}

/// A file path typed on the page: absolute, without `..`.
fn check_password_file(text: &str) -> Result<PathBuf, AutoError> {
    let bad = |m: &str| AutoError::bad("bad-password-file", m);
    if text.is_empty() || text.contains('\0') {
        return Err(bad(
            "encryption needs a password file: name a file whose first line is the password",
        ));
    }
    let path = PathBuf::from(text);
    if !path.is_absolute() {
        return Err(bad(
            "the password file must be a full path (starting at the root of a disk)",
        ));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(bad("the password file's path may not contain `..`"));
    }
    Ok(path)
}

/// Turns the page's form into a setting, checked by the library's rules and more: the
/// folder and password file as paths typed on a page, the password file readable now (so a
/// mistake shows here, not at the first automatic backup).
fn setting_from(form: &SettingForm, serial: &str, model: &str) -> Result<PhoneSetting, AutoError> {
    let folder = match form.folder.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => {
            jobs::check_folder(text).map_err(|r| AutoError::bad(r.kind, r.message))?
        }
        _ => default_folder(serial)
            .map_err(|e| AutoError::bad("bad-folder", format!("{e}; choose a backup folder")))?,
    };
    let every = match form.every.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => parse_every(text)
            .map_err(|r| AutoError::bad("invalid-setting", format!("how often: {r}")))?
            .map(|_| text.to_owned()),
    };
    let albums: Vec<String> = form
        .albums
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    let password_file = if form.encrypt {
        match form.password_file.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => {
                let file = check_password_file(text)?;
                watch::read_password_file(&file).map_err(|e| {
                    let why = match e {
                        Error::PasswordNeeded => "its first line is empty".to_owned(),
                        other => other.to_string(),
                    };
                    AutoError::bad(
                        "bad-password-file",
                        format!("the password file cannot be used: {why}"),
                    )
                })?;
                Some(file)
            }
            _ => None,
        }
    } else {
        None
    };
    let setting = PhoneSetting {
        enabled: form.enabled,
        model: Some(model.to_owned()),
        folder,
        selection: form.selection,
        albums: if form.selection == AutoSelection::Albums {
            albums
        } else {
            Vec::new()
        },
        every,
        encrypt: form.encrypt,
        password_file,
    };
    setting
        .validate(serial)
        .map_err(|e| AutoError::from_library(StatusCode::BAD_REQUEST, &e))?;
    setting
        .selection()
        .compile()
        .map_err(|e| AutoError::from_library(StatusCode::BAD_REQUEST, &e))?;
    Ok(setting)
}

/// Fields a page might send that must never reach the config file.
const SECRET_FIELDS: [&str; 3] = ["password", "password_confirm", "passphrase"];

/// `POST /api/phones/{serial}/auto`: saves the phone's setting in the config file.
pub async fn save_phone(
    State(app): State<Arc<App>>,
    UrlPath(adb_serial): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<PhoneAuto>, AutoError> {
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AutoError::bad("bad-request", format!("not JSON: {e}")))?;
    if let Some(secret) = SECRET_FIELDS.iter().find(|f| value.get(**f).is_some()) {
        return Err(AutoError::bad(
            "password-not-stored",
            format!(
                "`{secret}` refused: a password is never kept in the settings; name a password \
                 file instead (the system's credential store is not supported yet)"
            ),
        ));
    }
    let form: SettingForm =
        serde_json::from_value(value).map_err(|e| AutoError::bad("bad-request", e.to_string()))?;
    let handset = handset(&app, &adb_serial)?;
    let identity = handset.identity().clone();
    let app_for_save = Arc::clone(&app);
    // Reading a password file and writing the config touch the disk: not on the executor.
    tokio::task::spawn_blocking(move || {
        let setting = setting_from(&form, &identity.serial, &identity.model)?;
        let auto = &app_for_save.auto;
        let _one_writer = auto
            .config_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A file someone broke by hand is not overwritten: the message says what to fix.
        let mut config = Config::load(&auto.config_path)
            .map_err(|e| AutoError::from_library(StatusCode::CONFLICT, &e))?;
        config.phones.insert(identity.serial.clone(), setting);
        config
            .save(&auto.config_path)
            .map_err(|e| AutoError::from_library(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
        refresh_known(auto, &config);
        Ok(())
    })
    .await
    .map_err(|_| AutoError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal",
        message: "the settings thread failed".into(),
    })??;
    Ok(Json(phone_auto(&app, &handset)?))
}

/// `GET /api/auto`: the watcher's view (also sent as `auto` events on `/api/events`).
pub async fn get_view(State(app): State<Arc<App>>) -> Json<AutoView> {
    Json(app.auto.view.borrow().clone())
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    /// Only this phone's runs (hardware serial).
    serial: Option<String>,
    /// At most this many, newest first (default 200).
    limit: Option<usize>,
}

#[derive(Serialize)]
pub struct HistoryAnswer {
    /// Newest first.
    runs: Vec<RunRecord>,
    /// Runs in the file (for this phone) before `limit`.
    total: usize,
    /// Lines that were not a record (damaged, or from a newer phonevault).
    unreadable_lines: usize,
    history_path: String,
}

/// `GET /api/history[?serial=HW][&limit=N]`: the runs, newest first, read from the file
/// (a `phonevault watch` running beside the page writes there too).
pub async fn get_history(
    State(app): State<Arc<App>>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<HistoryAnswer>, AutoError> {
    let app_for_read = Arc::clone(&app);
    let read = tokio::task::spawn_blocking(move || reread_files(&app_for_read.auto))
        .await
        .map_err(|_| AutoError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: "the history thread failed".into(),
        })?
        .map_err(|e| AutoError::from_library(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
    let mut runs: Vec<RunRecord> = read
        .runs
        .into_iter()
        .filter(|r| query.serial.as_ref().is_none_or(|s| &r.serial == s))
        .collect();
    runs.reverse();
    let total = runs.len();
    runs.truncate(query.limit.unwrap_or(200));
    Ok(Json(HistoryAnswer {
        runs,
        total,
        unreadable_lines: read.unreadable_lines,
        history_path: app.auto.history_path.display().to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SettingForm {
        SettingForm {
            enabled: true,
            folder: Some("/tmp/auto-backups".into()),
            selection: AutoSelection::Gallery,
            albums: vec![],
            every: Some("6h".into()),
            encrypt: false,
            password_file: None,
        }
    }

    #[test]
    fn a_form_becomes_a_checked_setting() {
        let setting = setting_from(&form(), "HW1", "Pixel").unwrap();
        assert_eq!(setting.folder, PathBuf::from("/tmp/auto-backups"));
        assert_eq!(setting.every.as_deref(), Some("6h"));
        assert_eq!(setting.model.as_deref(), Some("Pixel"));
        let bad = |f: SettingForm| setting_from(&f, "HW1", "Pixel").unwrap_err().kind;
        assert_eq!(
            bad(SettingForm {
                folder: Some("relative".into()),
                ..form()
            }),
            "bad-folder"
        );
        assert_eq!(
            bad(SettingForm {
                every: Some("often".into()),
                ..form()
            }),
            "invalid-setting"
        );
        assert_eq!(
            bad(SettingForm {
                selection: AutoSelection::Albums,
                albums: vec![" ".into()],
                ..form()
            }),
            "invalid-setting"
        );
        let no_file = setting_from(
            &SettingForm {
                encrypt: true,
                ..form()
            },
            "HW1",
            "Pixel",
        )
        .unwrap_err();
        assert_eq!(no_file.kind, "invalid-setting");
        assert!(
            no_file.message.contains("credential store"),
            "{}",
            no_file.message
        );
        assert_eq!(
            bad(SettingForm {
                encrypt: true,
                password_file: Some("/no/such/password-file".into()),
                ..form()
            }),
            "bad-password-file"
        );
        assert_eq!(
            bad(SettingForm {
                encrypt: true,
                password_file: Some("pw.txt".into()),
                ..form()
            }),
            "bad-password-file"
        );
    }
}

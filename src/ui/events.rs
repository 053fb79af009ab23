//! The adapter between the library's progress events and the page.
//!
//! The library reports through [`Progress`] with owned, serialisable events. [`JobSink`]
//! folds each one into the job's [`JobView`] (totals, rate, ETA) and wakes whoever streams
//! that view.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use phonevault::progress::{Event, Progress};
use phonevault::Error;
use serde::Serialize;
use tokio::sync::watch;

/// One progress event as the page receives it: the library's own event, which is owned and
/// serialisable (see [`phonevault::progress`] for its meaning and ordering).
pub type JobEvent = Event;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Running,
    /// Ended; everything selected is in the folder.
    Done,
    /// Ended with some items not copied (listed in the result).
    Partial,
    /// Stopped by the user; what arrived whole is saved.
    Cancelled,
    /// Ended without an archive (see `error`).
    Failed,
}

/// An error as the page sees it: a kind code can match on, and words a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorView {
    pub kind: &'static str,
    pub message: String,
}

impl ErrorView {
    pub fn from_error(err: &Error) -> ErrorView {
        ErrorView {
            kind: error_kind(err),
            message: err.to_string(),
        }
    }
}

/// A stable name for each library error the page may want to react to: the library's own
/// [`Error::kind`] (listed in docs/json.md), so the page, `--json` and scripts agree.
pub fn error_kind(err: &Error) -> &'static str {
    err.kind()
}

/// An item that could not be backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedView {
    pub path: String,
    pub message: String,
}

/// What a finished backup did (the library's `BackupReport`, owned and serialisable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupResult {
    pub archive: Option<String>,
    pub selected: usize,
    pub items: usize,
    pub bytes: u64,
    pub skipped: usize,
    pub failed: Vec<FailedView>,
    pub not_attempted: usize,
    pub stopped: Option<ErrorView>,
    pub unreadable_folders: Vec<String>,
}

impl BackupResult {
    pub fn from_report(report: &phonevault::backup::BackupReport) -> BackupResult {
        BackupResult {
            archive: report.archive.as_ref().map(|p| p.display().to_string()),
            selected: report.selected,
            items: report.items,
            bytes: report.bytes,
            skipped: report.skipped,
            failed: report
                .failed
                .iter()
                .map(|f| FailedView {
                    path: f.path.clone(),
                    message: f.message.clone(),
                })
                .collect(),
            not_attempted: report.not_attempted,
            stopped: report.stopped.as_ref().map(ErrorView::from_error),
            unreadable_folders: report.unreadable_folders.clone(),
        }
    }
}

/// Most warnings a job keeps for the page (the rest are counted).
const MAX_WARNINGS: usize = 50;

/// A warning the work met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarningView {
    pub path: Option<String>,
    pub message: String,
}

/// Everything the page shows about one job; sent whole on every update.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: u64,
    pub kind: &'static str,
    pub serial: String,
    pub folder: String,
    pub encrypted: bool,
    pub state: JobState,
    /// The phase in progress (`listing`, `backup`), `None` between phases.
    pub phase: Option<String>,
    pub items_total: u64,
    pub bytes_total: u64,
    pub items_done: u64,
    /// Items of the phase that failed (the result says why).
    pub items_failed: u64,
    pub bytes_done: u64,
    /// Bytes per second since the copy began.
    pub rate: f64,
    /// Seconds left at that rate, once it is known.
    pub eta_seconds: Option<u64>,
    pub current: Option<String>,
    pub cancel_requested: bool,
    pub warnings: Vec<WarningView>,
    pub warnings_dropped: u64,
    pub result: Option<BackupResult>,
    /// What a verify, extract or restore job did (see `docs/ui-api.md`).
    pub details: Option<serde_json::Value>,
    pub error: Option<ErrorView>,
    /// The last event folded in, for clients that follow single events.
    pub last_event: Option<JobEvent>,
}

impl JobView {
    pub fn new(id: u64, serial: &str, folder: &str, encrypted: bool) -> JobView {
        JobView {
            id,
            kind: "backup",
            serial: serial.to_owned(),
            folder: folder.to_owned(),
            encrypted,
            state: JobState::Running,
            phase: None,
            items_total: 0,
            bytes_total: 0,
            items_done: 0,
            items_failed: 0,
            bytes_done: 0,
            rate: 0.0,
            eta_seconds: None,
            current: None,
            cancel_requested: false,
            warnings: Vec::new(),
            warnings_dropped: 0,
            result: None,
            details: None,
            error: None,
            last_event: None,
        }
    }
}

/// A job's view and the signal that it changed.
#[derive(Debug)]
pub struct JobShared {
    pub view: Mutex<JobView>,
    pub changed: watch::Sender<u64>,
}

impl JobShared {
    pub fn new(view: JobView) -> Arc<JobShared> {
        Arc::new(JobShared {
            view: Mutex::new(view),
            changed: watch::Sender::new(0),
        })
    }

    pub fn snapshot(&self) -> JobView {
        self.view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Changes the view and wakes the streams that follow it.
    pub fn update(&self, change: impl FnOnce(&mut JobView)) {
        change(
            &mut self
                .view
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.changed.send_modify(|version| *version += 1);
    }
}

/// The [`Progress`] sink a job hands to the library.
pub struct JobSink {
    shared: Arc<JobShared>,
    copy_started: Mutex<Option<Instant>>,
}

impl JobSink {
    pub fn new(shared: Arc<JobShared>) -> JobSink {
        JobSink {
            shared,
            copy_started: Mutex::new(None),
        }
    }

    fn apply(&self, view: &mut JobView, event: &JobEvent) {
        match event {
            Event::Phase { name, items, bytes } => {
                view.phase = Some(name.as_str().to_owned());
                view.items_total = *items;
                view.bytes_total = *bytes;
                view.items_done = 0;
                view.items_failed = 0;
                view.bytes_done = 0;
                *self
                    .copy_started
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
            }
            Event::ItemStarted { path, .. } => view.current = Some(path.clone()),
            Event::Bytes { bytes } => view.bytes_done += bytes,
            Event::ItemDone { .. } => view.items_done += 1,
            Event::ItemFailed { .. } => view.items_failed += 1,
            Event::Warning { path, message } => {
                if view.warnings.len() < MAX_WARNINGS {
                    view.warnings.push(WarningView {
                        path: path.clone(),
                        message: message.clone(),
                    });
                } else {
                    view.warnings_dropped += 1;
                }
            }
            Event::PhaseDone { .. } => view.current = None,
            // Kinds a later library adds: nothing to fold in.
            #[allow(unreachable_patterns)]
            _ => {}
        }
        let started = *self
            .copy_started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(started) = started {
            let seconds = started.elapsed().as_secs_f64();
            if seconds > 0.0 {
                view.rate = view.bytes_done as f64 / seconds;
            }
            view.eta_seconds =
                (view.rate > 0.0 && view.bytes_total >= view.bytes_done).then(|| {
                    // Non-negative and finite: rate > 0 and the numerator is unsigned.
                    #[allow(clippy::cast_sign_loss)]
                    let seconds =
                        ((view.bytes_total - view.bytes_done) as f64 / view.rate).ceil() as u64;
                    seconds
                });
        }
    }
}

impl Progress for JobSink {
    fn event(&self, event: Event) {
        self.shared.update(|view| {
            self.apply(view, &event);
            view.last_event = Some(event);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonevault::progress::Phase;

    #[test]
    fn events_become_owned_totals() {
        let shared = JobShared::new(JobView::new(1, "s", "/tmp/x", false));
        let sink = JobSink::new(Arc::clone(&shared));
        sink.event(Event::Phase {
            name: Phase::Backup,
            items: 2,
            bytes: 300,
        });
        let path = "/sdcard/DCIM/a.jpg";
        sink.event(Event::started(0, path, 100));
        sink.event(Event::Bytes { bytes: 100 });
        sink.event(Event::done(0, path));
        let view = shared.snapshot();
        assert_eq!(view.phase.as_deref(), Some("backup"));
        assert_eq!((view.items_done, view.items_total), (1, 2));
        assert_eq!((view.bytes_done, view.bytes_total), (100, 300));
        assert_eq!(view.last_event, Some(Event::done(0, path)));
        assert_eq!(*shared.changed.borrow(), 4);
    }
}

//! The adapter between the library's progress events and the page.
//!
//! The library reports through [`Progress`] with events that borrow (`Event<'_>`); the page
//! needs owned, serialisable values it can receive on another thread. [`JobSink`] turns each
//! event into an owned [`JobEvent`], folds it into the job's [`JobView`] (totals, rate, ETA)
//! and wakes whoever streams that view. When the library's events become owned and
//! serialisable themselves, only this file changes.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use phonevault::progress::{Event, Progress};
use phonevault::Error;
use serde::Serialize;
use tokio::sync::watch;

/// One progress event, owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum JobEvent {
    Phase {
        name: String,
        items: u64,
        bytes: u64,
    },
    ItemStarted {
        path: String,
        size: u64,
    },
    Bytes {
        bytes: u64,
    },
    ItemDone {
        path: String,
    },
    Warning {
        path: Option<String>,
        message: String,
    },
    PhaseDone,
}

impl JobEvent {
    /// The owned copy of a library event (`None` for kinds this adapter does not know yet).
    pub fn from_library(event: &Event<'_>) -> Option<JobEvent> {
        Some(match event {
            Event::Phase { name, items, bytes } => JobEvent::Phase {
                name: (*name).to_owned(),
                items: *items,
                bytes: *bytes,
            },
            Event::ItemStarted { path, size } => JobEvent::ItemStarted {
                path: (*path).to_owned(),
                size: *size,
            },
            Event::Bytes(bytes) => JobEvent::Bytes { bytes: *bytes },
            Event::ItemDone { path } => JobEvent::ItemDone {
                path: (*path).to_owned(),
            },
            Event::Warning { path, message } => JobEvent::Warning {
                path: path.map(str::to_owned),
                message: (*message).to_owned(),
            },
            Event::PhaseDone => JobEvent::PhaseDone,
            #[allow(unreachable_patterns)] // the library's enum is non_exhaustive
            _ => return None,
        })
    }
}

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
            kind: err.kind(),
            message: err.to_string(),
        }
    }
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
            bytes_done: 0,
            rate: 0.0,
            eta_seconds: None,
            current: None,
            cancel_requested: false,
            warnings: Vec::new(),
            warnings_dropped: 0,
            result: None,
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
            JobEvent::Phase { name, items, bytes } => {
                view.phase = Some(name.clone());
                view.items_total = *items;
                view.bytes_total = *bytes;
                view.items_done = 0;
                view.bytes_done = 0;
                *self
                    .copy_started
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
            }
            JobEvent::ItemStarted { path, .. } => view.current = Some(path.clone()),
            JobEvent::Bytes { bytes } => view.bytes_done += bytes,
            JobEvent::ItemDone { .. } => view.items_done += 1,
            JobEvent::Warning { path, message } => {
                if view.warnings.len() < MAX_WARNINGS {
                    view.warnings.push(WarningView {
                        path: path.clone(),
                        message: message.clone(),
                    });
                } else {
                    view.warnings_dropped += 1;
                }
            }
            JobEvent::PhaseDone => view.current = None,
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
    fn event(&self, event: Event<'_>) {
        let Some(owned) = JobEvent::from_library(&event) else {
            return;
        };
        self.shared.update(|view| {
            self.apply(view, &owned);
            view.last_event = Some(owned);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_owned_totals() {
        let shared = JobShared::new(JobView::new(1, "s", "/tmp/x", false));
        let sink = JobSink::new(Arc::clone(&shared));
        sink.event(Event::Phase {
            name: "backup",
            items: 2,
            bytes: 300,
        });
        let path = String::from("/sdcard/DCIM/a.jpg");
        sink.event(Event::ItemStarted {
            path: &path,
            size: 100,
        });
        sink.event(Event::Bytes(100));
        sink.event(Event::ItemDone { path: &path });
        let view = shared.snapshot();
        assert_eq!(view.phase.as_deref(), Some("backup"));
        assert_eq!((view.items_done, view.items_total), (1, 2));
        assert_eq!((view.bytes_done, view.bytes_total), (100, 300));
        assert_eq!(
            view.last_event,
            Some(JobEvent::ItemDone { path: path.clone() })
        );
        assert_eq!(*shared.changed.borrow(), 4);
    }
}

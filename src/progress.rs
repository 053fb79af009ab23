//! Progress events: how long-running library work reports to whoever draws it.
//!
//! Events are owned and serialisable (`Send + 'static`), so a front end can send them to
//! another thread or straight to a page (the CLI turns them into bars, the desktop client
//! streams them). Sinks must be cheap: events arrive from transfer threads.
//!
//! **Events are live, the report is the record.** Events say what is happening now, for
//! bars and rates; what a job did (what was copied, what failed and why, why it stopped) is
//! in the report it returns, and only there: nothing in the report is sent again as an event,
//! and a front end that missed events loses only the live view.
//!
//! Ordering, the same in every job:
//! - `Phase` opens a phase with its totals; `PhaseDone` (naming the same phase) closes it.
//!   Phases do not nest. Only `Warning` may come outside a phase.
//! - Inside a phase, each item that is worked on gets `ItemStarted`, then any number of
//!   `Bytes`, then exactly one of `ItemDone` (its work in this phase succeeded: backed up =
//!   stored in the archive, restored = checked on the phone and under its real name, verified
//!   = intact, extracted = dealt with) or `ItemFailed` (it did not; the report says more).
//!   Items are numbered by `index`, from 0 in the phase's own order; the end of an item may
//!   come after later items started (backup and restore check items in batches).
//! - An item the phase never reached (the job stopped early) gets no event at all; its count
//!   is in the report (`not_attempted`).
//! - `Bytes` counts bytes moved or read since the last `Bytes`, for rates; its sum over a
//!   phase may exceed the phase's `bytes` when an item is read twice.

use serde::{Deserialize, Serialize};

/// The phases of long work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Phase {
    /// Listing the phone (catalog).
    Listing,
    /// Reading the target phone and deciding a restore.
    Planning,
    /// Making previews.
    Previews,
    /// Copying items into an archive.
    Backup,
    /// Putting items onto a phone.
    Restore,
    /// Reading an archive back.
    Verify,
    /// Writing an archive's items into a folder.
    Extract,
}

impl Phase {
    /// The name used in JSON and on bars.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Listing => "listing",
            Phase::Planning => "planning",
            Phase::Previews => "previews",
            Phase::Backup => "backup",
            Phase::Restore => "restore",
            Phase::Verify => "verify",
            Phase::Extract => "extract",
        }
    }
}

/// One thing that happened during long work (see the module's notes for the ordering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// A phase begins, with the totals it will work through (0 when unknown).
    Phase { name: Phase, items: u64, bytes: u64 },
    /// Work on item `index` of the phase begins.
    ItemStarted { index: u64, path: String, size: u64 },
    /// This many more bytes were moved or read.
    Bytes { bytes: u64 },
    /// Item `index` is done, successfully.
    ItemDone { index: u64, path: String },
    /// Item `index` could not be done; the report has it with the reason.
    ItemFailed {
        index: u64,
        path: String,
        message: String,
    },
    /// Something a person should know about that did not stop the work.
    Warning {
        path: Option<String>,
        message: String,
    },
    /// The phase is over.
    PhaseDone { name: Phase },
}

impl Event {
    /// `ItemStarted` for item `index`.
    pub fn started(index: usize, path: &str, size: u64) -> Event {
        Event::ItemStarted {
            index: index as u64,
            path: path.to_owned(),
            size,
        }
    }

    /// `ItemDone` for item `index`.
    pub fn done(index: usize, path: &str) -> Event {
        Event::ItemDone {
            index: index as u64,
            path: path.to_owned(),
        }
    }

    /// `ItemFailed` for item `index`.
    pub fn failed(index: usize, path: &str, message: &str) -> Event {
        Event::ItemFailed {
            index: index as u64,
            path: path.to_owned(),
            message: message.to_owned(),
        }
    }

    /// A `Warning`.
    pub fn warning(path: Option<&str>, message: &str) -> Event {
        Event::Warning {
            path: path.map(str::to_owned),
            message: message.to_owned(),
        }
    }
}

/// A receiver of progress events.
pub trait Progress: Send + Sync {
    /// Called for every event; must not block for long.
    fn event(&self, event: Event);
}

/// A sink that ignores everything (quiet mode, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: Event) {}
}

/// A sink that keeps every event, in order (tests, and front ends that replay them).
#[derive(Debug, Default)]
pub struct Recorder {
    events: std::sync::Mutex<Vec<Event>>,
}

impl Recorder {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Progress for Recorder {
    fn event(&self, event: Event) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
    }
}

//! Progress events: how long-running library work reports to whoever draws it.
//!
//! The CLI turns these into indicatif bars; a later desktop client can stream them to a page.
//! Sinks must be cheap: events arrive from transfer threads.

/// One thing that happened during long work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A phase begins (`"listing"`, `"previews"`, `"backup"`, `"restore"`, `"verify"`),
    /// with the totals it will work through (0 when unknown).
    Phase {
        name: &'static str,
        items: u64,
        bytes: u64,
    },
    /// Work on one item begins.
    ItemStarted { path: &'a str, size: u64 },
    /// This many more bytes were moved or read.
    Bytes(u64),
    /// Work on one item ended, successfully or not.
    ItemDone { path: &'a str },
    /// Something a person should know about that did not stop the work.
    Warning {
        path: Option<&'a str>,
        message: &'a str,
    },
    /// The current phase is over.
    PhaseDone,
}

/// A receiver of progress events.
pub trait Progress: Send + Sync {
    /// Called for every event; must not block for long.
    fn event(&self, event: Event<'_>);
}

/// A sink that ignores everything (quiet mode, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: Event<'_>) {}
}

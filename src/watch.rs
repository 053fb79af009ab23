//! `watch`: follow the adb server's device events and back up each enabled phone when it
//! becomes usable, and again every so often while it stays connected when its setting says so.
//!
//! - Device events come from `host:track-devices` (a reader thread blocks on the stream);
//!   nothing asks the server in a loop. The main loop wakes at least every
//!   [`STOP_CHECK`] to look at the stop flag, and when a scheduled run falls due.
//! - One backup at a time per phone (a phone that reconnects during its own backup is backed
//!   up again once that one ends), phones in parallel (one thread each).
//! - The adb server going away (killed, restarted, upgraded) closes the stream: the watcher
//!   reconnects with a growing pause ([`FIRST_RETRY`] doubling up to [`LONGEST_RETRY`]),
//!   starting the server when none runs, as every command does.
//! - A phone that goes away mid-backup ends that run with what arrived whole (the archive is
//!   finished, the history says `partial`); the next connection takes the rest.
//! - The stop flag (Ctrl-C, SIGTERM) is also each backup's cancel flag: running backups
//!   finish their archives with what arrived whole, then `watch` returns.
//!
//! The config is read again for every connection, so edits apply without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

use crate::adb::{self, AdbServer, ConnectOptions, DeviceInfo, DeviceState, Handset};
use crate::archive::Password;
use crate::backup::{self, BackupOptions, BackupReport};
use crate::cancel::Cancel;
use crate::catalog::CatalogOptions;
use crate::config::{Config, PhoneSetting};
use crate::history::{self, RunRecord, RunResult};
use crate::preview::PreviewCache;
use crate::progress::NoProgress;
use crate::{Error, Result};

/// The longest the main loop sleeps before looking at the stop flag.
pub const STOP_CHECK: Duration = Duration::from_millis(500);
/// The first pause before reconnecting to a lost adb server.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The longest pause between reconnection attempts.
pub const LONGEST_RETRY: Duration = Duration::from_secs(30);

/// What `watch` needs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How to reach (or start) the adb server.
    pub connect: ConnectOptions,
    /// The automatic-backup settings (see [`crate::config`]).
    pub config_path: PathBuf,
    /// Where each run is recorded (see [`crate::history`]).
    pub history_path: PathBuf,
    /// Set from another thread to stop: running backups keep what arrived whole.
    pub stop: Cancel,
}

/// What the watcher tells its caller, as it happens (the library never prints).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum WatchEvent {
    /// Following the adb server's device events.
    ServerConnected { addr: String },
    /// The adb server could not be reached or went away; trying again after `retry_in_ms`.
    ServerLost { error: String, retry_in_ms: u64 },
    /// A phone that has no enabled setting became usable: nothing is done.
    NotEnabled {
        adb_serial: String,
        serial: String,
        model: String,
    },
    /// An automatic backup began.
    BackupStarted {
        adb_serial: String,
        serial: String,
        model: String,
        folder: PathBuf,
    },
    /// An automatic backup ended (the record is also in the history).
    BackupFinished { record: RunRecord },
    /// A usable phone could not be looked at (identity, config), or a run could not be
    /// recorded.
    PhoneError { adb_serial: String, error: String },
    /// Stopping: waiting for running backups to finish their archives.
    Stopping { running: usize },
    /// An enabled phone is being backed up by hand (another front end holds it, see
    /// [`BusyPhones`]): its automatic backup starts when that one ends.
    WaitingForOther {
        adb_serial: String,
        serial: String,
        model: String,
    },
}

/// Who is backing a phone up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusyBy {
    /// The watcher (an automatic backup).
    Automatic,
    /// A person, through a front end (the desktop client's "Back up" button).
    ByHand,
}

/// The phones being backed up right now, by hardware serial, shared by the watcher and any
/// front end that backs up by hand in the same process, so the two never run at once on
/// one phone (the backup folder's lock would make the second wait or fail, with less to
/// say about why).
#[derive(Debug, Clone, Default)]
pub struct BusyPhones {
    inner: Arc<(Mutex<HashMap<String, BusyBy>>, Condvar)>,
}

impl BusyPhones {
    pub fn new() -> BusyPhones {
        BusyPhones::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, BusyBy>> {
        self.inner
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who holds `serial`, if anyone.
    pub fn holder(&self, serial: &str) -> Option<BusyBy> {
        self.lock().get(serial).copied()
    }

    /// Marks `serial` as being backed up by `by` until the claim is dropped.
    ///
    /// # Errors
    /// Who already holds it.
    pub fn claim(&self, serial: &str, by: BusyBy) -> std::result::Result<BusyClaim, BusyBy> {
        let mut held = self.lock();
        if let Some(other) = held.get(serial) {
            return Err(*other);
        }
        held.insert(serial.to_owned(), by);
        Ok(BusyClaim {
            phones: self.clone(),
            serial: serial.to_owned(),
        })
    }

    /// Claims `serial` for `by`, waiting while a backup by hand holds it; `Err` at once
    /// when the watcher itself holds it, or when `stop` is set while waiting.
    fn claim_after_others(
        &self,
        serial: &str,
        by: BusyBy,
        stop: &Cancel,
        on_wait: &dyn Fn(),
    ) -> std::result::Result<BusyClaim, BusyBy> {
        let mut told = false;
        loop {
            match self.claim(serial, by) {
                Err(BusyBy::ByHand) if !stop.is_cancelled() => {}
                other => return other,
            }
            if !told {
                on_wait();
                told = true;
            }
            let held = self.lock();
            // Woken when a claim is dropped; the timeout looks at the stop flag.
            let _ = self
                .inner
                .1
                .wait_timeout(held, STOP_CHECK)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// A phone's hardware serial marked as being backed up, until dropped.
#[derive(Debug)]
pub struct BusyClaim {
    phones: BusyPhones,
    serial: String,
}

impl Drop for BusyClaim {
    fn drop(&mut self) {
        self.phones.lock().remove(&self.serial);
        self.phones.inner.1.notify_all();
    }
}

/// Runs until `options.stop` is set.
///
/// # Errors
/// None today: every failure (server gone, phone gone, broken config) is reported through
/// `on_event` and retried; the `Result` leaves room for a failure that cannot be.
pub fn watch(options: &WatchOptions, on_event: &(dyn Fn(WatchEvent) + Sync)) -> Result<()> {
    watch_with(options, &BusyPhones::new(), on_event)
}

/// [`watch`], sharing `busy_phones` with a front end that also backs up by hand: a phone it
/// holds is backed up automatically once that backup ends, and the front end can see (and
/// refuse to start beside) the automatic backups.
///
/// # Errors
/// As [`watch`].
pub fn watch_with(
    options: &WatchOptions,
    busy_phones: &BusyPhones,
    on_event: &(dyn Fn(WatchEvent) + Sync),
) -> Result<()> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Message>();
        let mut phones: HashMap<String, PhoneSlot> = HashMap::new();
        let mut retry = FIRST_RETRY;
        while !stopped(options) {
            let connected = adb::connect(&options.connect).and_then(|server| {
                let tracker = server.track_devices()?;
                let stopper = tracker.stopper()?;
                Ok((server, tracker, stopper))
            });
            let (server, mut tracker, stopper) = match connected {
                Ok(all) => all,
                Err(err) => {
                    server_lost(options, on_event, &err, &mut retry);
                    continue;
                }
            };
            retry = FIRST_RETRY;
            on_event(WatchEvent::ServerConnected {
                addr: format!("127.0.0.1:{}", server.port()),
            });
            let events = tx.clone();
            let reader = scope.spawn(move || loop {
                let next = tracker.next_list();
                let ended = next.is_err();
                if events.send(Message::Devices(next)).is_err() || ended {
                    return;
                }
            });
            let start = |adb_serial: &str| {
                let adb_serial = adb_serial.to_owned();
                let server = server.clone();
                let done = tx.clone();
                let busy = busy_phones;
                scope.spawn(move || {
                    let every = back_up_attached(&server, &adb_serial, options, busy, on_event);
                    let _ = done.send(Message::Finished { adb_serial, every });
                });
            };
            let lost = follow(options, &rx, &mut phones, &start);
            stopper.stop();
            let _ = reader.join();
            // Whatever the server knew is gone with it; the new stream lists what is there.
            for slot in phones.values_mut() {
                slot.disconnected();
            }
            if let Some(err) = lost {
                server_lost(options, on_event, &err, &mut retry);
            }
        }
        let running = phones.values().filter(|s| s.running).count();
        on_event(WatchEvent::Stopping { running });
    });
    Ok(())
}

/// What the main loop hears.
enum Message {
    /// A device list from the track-devices stream, or why it ended.
    Devices(Result<Vec<DeviceInfo>>),
    /// A phone's run ended; `every` is its setting's interval.
    Finished {
        adb_serial: String,
        every: Option<Duration>,
    },
}

/// What the main loop knows of one adb transport.
#[derive(Debug, Default)]
struct PhoneSlot {
    /// Listed as `device` (usable) on the stream.
    connected: bool,
    /// A backup thread runs for it.
    running: bool,
    /// It reconnected while its backup ran: run again when that one ends.
    again: bool,
    /// When the next scheduled run is due while it stays connected.
    next_due: Option<Instant>,
}

impl PhoneSlot {
    fn disconnected(&mut self) {
        self.connected = false;
        self.again = false;
        self.next_due = None;
    }
}

/// Follows one track-devices stream until it ends (`Some(why)`) or the stop flag is set
/// (`None`).
fn follow(
    options: &WatchOptions,
    rx: &mpsc::Receiver<Message>,
    phones: &mut HashMap<String, PhoneSlot>,
    start: &dyn Fn(&str),
) -> Option<Error> {
    loop {
        if stopped(options) {
            return None;
        }
        let now = Instant::now();
        for (adb_serial, slot) in phones.iter_mut() {
            if slot.connected && !slot.running && slot.next_due.is_some_and(|due| due <= now) {
                slot.next_due = None;
                slot.running = true;
                start(adb_serial);
            }
        }
        let wait = phones
            .values()
            .filter_map(|s| s.next_due)
            .map(|due| due.saturating_duration_since(now))
            .fold(STOP_CHECK, Duration::min);
        match rx.recv_timeout(wait) {
            Ok(Message::Devices(Ok(list))) => on_list(&list, phones, start),
            Ok(Message::Devices(Err(err))) => return Some(err),
            Ok(Message::Finished { adb_serial, every }) => {
                let slot = phones.entry(adb_serial.clone()).or_default();
                slot.running = false;
                if slot.connected && slot.again {
                    slot.again = false;
                    slot.running = true;
                    start(&adb_serial);
                } else if slot.connected {
                    slot.next_due = every.map(|every| Instant::now() + every);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => unreachable!("the loop holds a sender"),
        }
    }
}

/// A new device list: start a backup for each transport that just became usable.
fn on_list(list: &[DeviceInfo], phones: &mut HashMap<String, PhoneSlot>, start: &dyn Fn(&str)) {
    for (adb_serial, slot) in phones.iter_mut() {
        let usable = list
            .iter()
            .any(|d| &d.serial == adb_serial && d.state == DeviceState::Device);
        if !usable {
            slot.disconnected();
        }
    }
    for device in list.iter().filter(|d| d.state == DeviceState::Device) {
        let slot = phones.entry(device.serial.clone()).or_default();
        if slot.connected {
            continue;
        }
        slot.connected = true;
        if slot.running {
            slot.again = true;
        } else {
            slot.running = true;
            start(&device.serial);
        }
    }
}

fn stopped(options: &WatchOptions) -> bool {
    options.stop.is_cancelled()
}

fn server_lost(
    options: &WatchOptions,
    on_event: &(dyn Fn(WatchEvent) + Sync),
    err: &Error,
    retry: &mut Duration,
) {
    if stopped(options) {
        return;
    }
    on_event(WatchEvent::ServerLost {
        error: error_chain(err),
        retry_in_ms: retry.as_millis() as u64,
    });
    let until = Instant::now() + *retry;
    while !stopped(options) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(STOP_CHECK));
    }
    *retry = (*retry * 2).min(LONGEST_RETRY);
}

/// Opens a usable transport, looks its phone up in the config, and backs it up when it is
/// enabled. Returns the setting's interval for the next scheduled run.
fn back_up_attached(
    server: &AdbServer,
    adb_serial: &str,
    options: &WatchOptions,
    busy: &BusyPhones,
    on_event: &(dyn Fn(WatchEvent) + Sync),
) -> Option<Duration> {
    let phone_error = |err: &Error| {
        on_event(WatchEvent::PhoneError {
            adb_serial: adb_serial.to_owned(),
            error: error_chain(err),
        });
    };
    let handset = match server.open(Some(adb_serial)) {
        Ok(handset) => handset,
        Err(err) => {
            phone_error(&err);
            return None;
        }
    };
    let identity = handset.identity();
    let config = match Config::load(&options.config_path) {
        Ok(config) => config,
        Err(err) => {
            phone_error(&err);
            return None;
        }
    };
    let Some(setting) = config.phones.get(&identity.serial).filter(|s| s.enabled) else {
        on_event(WatchEvent::NotEnabled {
            adb_serial: adb_serial.to_owned(),
            serial: identity.serial.clone(),
            model: identity.model.clone(),
        });
        return None;
    };
    // The same phone on two transports (USB and Wi-Fi) is backed up by one of them; a
    // backup by hand in the same process is let finish first.
    let waiting = || {
        on_event(WatchEvent::WaitingForOther {
            adb_serial: adb_serial.to_owned(),
            serial: identity.serial.clone(),
            model: identity.model.clone(),
        });
    };
    let _claim = busy
        .claim_after_others(&identity.serial, BusyBy::Automatic, &options.stop, &waiting)
        .ok()?;
    if options.stop.is_cancelled() {
        return None;
    }
    on_event(WatchEvent::BackupStarted {
        adb_serial: adb_serial.to_owned(),
        serial: identity.serial.clone(),
        model: identity.model.clone(),
        folder: setting.folder.clone(),
    });
    let record = back_up_phone(&handset, setting, options.stop.clone());
    if let Err(err) = history::append(&options.history_path, &record) {
        phone_error(&err);
    }
    on_event(WatchEvent::BackupFinished { record });
    setting.interval().ok().flatten()
}

/// One automatic backup of an open phone as its setting says, recorded as a [`RunRecord`]
/// (not yet appended to the history). Also for a "back up now" button.
pub fn back_up_phone(handset: &Handset, setting: &PhoneSetting, cancel: Cancel) -> RunRecord {
    let started = Utc::now();
    let identity = handset.identity();
    let mut record = RunRecord {
        started,
        finished: started,
        serial: identity.serial.clone(),
        model: identity.model.clone(),
        adb_serial: handset.serial().to_owned(),
        result: RunResult::Failed,
        items: 0,
        bytes: 0,
        skipped: 0,
        missed: 0,
        folder: setting.folder.to_string_lossy().into_owned(),
        archive: None,
        error: None,
    };
    let outcome = options_for(setting, &identity.serial, cancel)
        .and_then(|options| backup::run(handset, &options, &NoProgress));
    match outcome {
        Ok(report) => fill_from_report(&mut record, &report),
        Err(err) => record.error = Some(error_chain(&err)),
    }
    record.finished = Utc::now();
    record
}

fn options_for(setting: &PhoneSetting, serial: &str, cancel: Cancel) -> Result<BackupOptions> {
    let password = match (&setting.password_file, setting.encrypt) {
        (Some(file), true) => Some(read_password_file(file)?),
        (_, _) => None,
    };
    Ok(BackupOptions {
        folder: setting.folder.clone(),
        matcher: setting.selection().compile()?,
        password,
        catalog: CatalogOptions::default(),
        cancel,
        // A backup started by hand into the same folder is let finish first.
        lock_wait: backup::DEFAULT_LOCK_WAIT * 6,
        fresh_copy: false,
        previews: PreviewCache::for_handset(serial).ok(),
    })
}

/// The first line of a password file.
///
/// # Errors
/// `Io` when it cannot be read; `PasswordNeeded` when its first line is empty.
pub fn read_password_file(file: &Path) -> Result<Password> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::io("cannot read the password file", file, e))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(Error::PasswordNeeded);
    }
    Password::new(line)
}

fn fill_from_report(record: &mut RunRecord, report: &BackupReport) {
    record.items = report.items as u64;
    record.bytes = report.bytes;
    record.skipped = report.skipped as u64;
    record.missed = (report.failed.len() + report.not_attempted) as u64;
    record.archive = report
        .archive
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    record.result = match &report.stopped {
        Some(Error::Cancelled) => RunResult::Interrupted,
        _ if report.is_complete() && report.archive.is_some() => RunResult::Complete,
        _ if report.is_complete() => RunResult::NothingNew,
        _ => RunResult::Partial,
    };
    record.error = if let Some(stopped) = &report.stopped {
        Some(error_chain(stopped))
    } else if let Some(first) = report.failed.first() {
        Some(format!(
            "{} items could not be copied (first: {}: {})",
            report.failed.len(),
            first.path,
            first.message
        ))
    } else if !report.unreadable_folders.is_empty() {
        Some(format!(
            "{} folders could not be read (first: {})",
            report.unreadable_folders.len(),
            report.unreadable_folders[0]
        ))
    } else {
        None
    };
}

/// An error and its causes on one line.
fn error_chain(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(serial: &str, state: DeviceState) -> DeviceInfo {
        DeviceInfo {
            serial: serial.into(),
            state,
            model: None,
            product: None,
            device: None,
            transport_id: None,
        }
    }

    #[test]
    fn starts_once_per_connection_and_again_after_a_reconnect_during_a_run() {
        let started = std::cell::RefCell::new(Vec::new());
        let start = |s: &str| started.borrow_mut().push(s.to_owned());
        let mut phones = HashMap::new();
        // Offline first (being plugged in), then usable: one start.
        on_list(&[device("A", DeviceState::Offline)], &mut phones, &start);
        on_list(&[device("A", DeviceState::Device)], &mut phones, &start);
        on_list(
            &[
                device("A", DeviceState::Device),
                device("B", DeviceState::Unauthorized),
            ],
            &mut phones,
            &start,
        );
        assert_eq!(*started.borrow(), ["A"]);
        // Unplugged and plugged back while its run goes on: one more run, after it.
        on_list(&[], &mut phones, &start);
        on_list(&[device("A", DeviceState::Device)], &mut phones, &start);
        assert_eq!(*started.borrow(), ["A"]);
        assert!(phones["A"].again);
        // B accepted the prompt.
        on_list(
            &[
                device("A", DeviceState::Device),
                device("B", DeviceState::Device),
            ],
            &mut phones,
            &start,
        );
        assert_eq!(*started.borrow(), ["A", "B"]);
    }

    #[test]
    fn a_backup_by_hand_is_waited_for_and_another_transport_is_not() {
        let busy = BusyPhones::new();
        let stop = Cancel::new();
        let by_hand = busy.claim("A", BusyBy::ByHand).unwrap();
        assert_eq!(busy.holder("A"), Some(BusyBy::ByHand));
        assert_eq!(
            busy.claim("A", BusyBy::Automatic).unwrap_err(),
            BusyBy::ByHand
        );
        let waited = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                busy.claim_after_others("A", BusyBy::Automatic, &stop, &|| {
                    waited.store(true, std::sync::atomic::Ordering::SeqCst);
                })
            });
            std::thread::sleep(Duration::from_millis(100));
            drop(by_hand);
            let automatic = waiter.join().unwrap().expect("claimed once released");
            assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
            assert_eq!(busy.holder("A"), Some(BusyBy::Automatic));
            // The same phone on a second transport is not backed up twice.
            let second = busy.claim_after_others("A", BusyBy::Automatic, &stop, &|| {});
            assert_eq!(second.unwrap_err(), BusyBy::Automatic);
            drop(automatic);
        });
        assert_eq!(busy.holder("A"), None);
        // Stopping ends a wait.
        let _by_hand = busy.claim("B", BusyBy::ByHand).unwrap();
        stop.cancel();
        let stopped = busy.claim_after_others("B", BusyBy::Automatic, &stop, &|| {});
        assert_eq!(stopped.unwrap_err(), BusyBy::ByHand);
    }

    #[test]
    fn runs_again_when_the_interval_passes_while_connected_and_not_after_unplugging() {
        let options = WatchOptions {
            connect: ConnectOptions::default(),
            config_path: PathBuf::new(),
            history_path: PathBuf::new(),
            stop: Cancel::new(),
        };
        let (tx, rx) = mpsc::channel();
        let mut phones = HashMap::new();
        for serial in ["kept", "unplugged"] {
            phones.insert(
                serial.to_owned(),
                PhoneSlot {
                    connected: true,
                    running: true,
                    ..PhoneSlot::default()
                },
            );
            tx.send(Message::Finished {
                adb_serial: serial.to_owned(),
                every: Some(Duration::from_millis(100)),
            })
            .unwrap();
        }
        tx.send(Message::Devices(Ok(vec![device(
            "kept",
            DeviceState::Device,
        )])))
        .unwrap();
        // Ends the loop well after one interval (and well before a second run could be
        // due: the first one never reports back).
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            let _ = tx.send(Message::Devices(Err(Error::Cancelled)));
        });
        let started = Mutex::new(Vec::new());
        let start = |s: &str| started.lock().unwrap().push(s.to_owned());
        let ended = follow(&options, &rx, &mut phones, &start);
        assert!(matches!(ended, Some(Error::Cancelled)));
        assert_eq!(*started.lock().unwrap(), ["kept"]);
        assert!(phones["kept"].running);
        assert!(!phones["unplugged"].connected);
    }
}

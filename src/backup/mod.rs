//! `backup`: pull the selected items into a new archive in the backup folder.
//!
//! The phone is read on the calling thread (pipelined sync streams, see
//! [`Handset::pull_many`]); hashing, writing the zip and making previews happen on a writer
//! thread fed through a bounded channel, so the receive path never waits on the disk for long
//! and memory stays bounded whatever the file sizes.
//!
//! Whatever stops a backup early (cable pulled, phone frozen, Ctrl-C) the archive is finished
//! with the items that arrived whole, so a rerun pulls only the rest. Only a failure to write
//! on the computer (full disk) leaves no archive: then nothing that looks complete remains.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::adb::{Handset, PullEvent, RemoteStat};
use crate::archive::{ArchiveWriter, BackupFolder, FolderLock, ItemWriter, Password};
use crate::cancel::Cancel;
use crate::catalog::{self, select::Matcher, CatalogOptions, Kind, MediaItem};
use crate::error::ErrorRecord;
use crate::escape::for_file_name;
use crate::preview::{
    make_thumbnail, parse_head, records, resolve_taken, Preview, PreviewCache, PreviewRecord,
    Thumbnail, ThumbnailKind, HEAD_BYTES,
};

mod pictures;
use crate::progress::{Event, Phase, Progress};
use crate::{Error, Result};
use pictures::LatePictures;

/// What to back up and where.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// The backup folder (see [`default_folder`]).
    pub folder: PathBuf,
    /// Which catalog items to take.
    pub matcher: Matcher,
    /// Encrypts the new archive, and opens encrypted ones already in the folder.
    pub password: Option<Password>,
    pub catalog: CatalogOptions,
    /// Tripped from another thread (Ctrl-C, a button) to stop at once, in any phase; what
    /// arrived whole is kept.
    pub cancel: Cancel,
    /// How long to wait for another job that is writing into the same folder before giving
    /// up with `FolderBusy`.
    pub lock_wait: Duration,
    /// Copies every selected item, even those an earlier archive in the folder holds: a
    /// fresh copy (say, when an older archive is suspect but was never verified).
    pub fresh_copy: bool,
    /// The handset's preview cache, when there is one: a photo with no EXIF thumbnail takes
    /// its picture for the archive from it when it holds this file's, and the pictures
    /// decoded during the backup are put in it.
    pub previews: Option<PreviewCache>,
}

/// How long a job waits by default for another one writing into the same folder.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// An item that could not be backed up, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedItem {
    pub path: String,
    pub message: String,
}

/// What a backup did.
#[derive(Debug)]
pub struct BackupReport {
    /// The new archive; `None` when there was nothing new (or nothing arrived whole).
    pub archive: Option<PathBuf>,
    /// Items selected on the phone.
    pub selected: usize,
    /// Items written to the new archive.
    pub items: usize,
    /// Bytes of those items.
    pub bytes: u64,
    /// Items skipped because an archive in the folder already holds them.
    pub skipped: usize,
    /// Items copied again because their only copy in the folder was found damaged by
    /// `verify` (included in `items` when they arrived).
    pub recopied_damaged: usize,
    /// Items that changed on the phone while they were read and were read a second time.
    pub reread: usize,
    /// Items the phone would not give (unreadable, changed twice or gone while copying).
    pub failed: Vec<FailedItem>,
    /// Items not stored because the backup stopped early, the one in flight included.
    pub not_attempted: usize,
    /// Why the backup stopped early (cable pulled, Ctrl-C), when it did.
    pub stopped: Option<Error>,
    /// Unfinished archives from earlier runs that were removed.
    pub removed_partials: Vec<PathBuf>,
    /// Folders on the phone that could not be read.
    pub unreadable_folders: Vec<String>,
    /// Symbolic links under the media folders, which are never followed.
    pub links_not_followed: Vec<String>,
}

/// A backup's report as data: what `backup --json` prints (fields in `docs/json.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    pub archive: Option<PathBuf>,
    pub selected: usize,
    pub items: usize,
    pub bytes: u64,
    pub skipped: usize,
    pub recopied_damaged: usize,
    pub reread: usize,
    /// How many items could not be backed up (they are in `failures`).
    pub failed: usize,
    pub failures: Vec<FailedItem>,
    pub not_attempted: usize,
    /// Why the backup stopped early, in words (`"cancelled"` for a cancellation).
    pub stopped: Option<String>,
    /// The same, as data (`kind` is for code).
    pub stopped_error: Option<ErrorRecord>,
    pub removed_partials: Vec<PathBuf>,
    pub unreadable_folders: Vec<String>,
    #[serde(default)]
    pub links_not_followed: Vec<String>,
}

impl BackupReport {
    /// The report as data (what `backup --json` prints).
    pub fn summary(&self) -> BackupSummary {
        BackupSummary {
            archive: self.archive.clone(),
            selected: self.selected,
            items: self.items,
            bytes: self.bytes,
            skipped: self.skipped,
            recopied_damaged: self.recopied_damaged,
            reread: self.reread,
            failed: self.failed.len(),
            failures: self.failed.clone(),
            not_attempted: self.not_attempted,
            stopped: self.stopped.as_ref().map(ToString::to_string),
            stopped_error: self.stopped.as_ref().map(Error::record),
            removed_partials: self.removed_partials.clone(),
            unreadable_folders: self.unreadable_folders.clone(),
            links_not_followed: self.links_not_followed.clone(),
        }
    }

    /// Whether everything selected is now in the folder.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
            && self.stopped.is_none()
            && self.not_attempted == 0
            && self.unreadable_folders.is_empty()
    }
}

/// The default backup folder: one per handset, `~/phonevault/<serial>`. The serial comes
/// from the phone, so it is made a safe folder name first ([`for_file_name`]: anything but
/// ASCII letters, digits, `.`, `_` and `-` becomes `_`, with a short hash of the serial
/// added then, so `EVIL\e[31mX` gives `EVIL__31mX-` and 8 hex digits).
///
/// # Errors
/// `NoDefaultFolder` when there is no home folder.
pub fn default_folder(serial: &str) -> Result<PathBuf> {
    let serial = for_file_name(serial);
    let home = dirs::home_dir().ok_or(Error::NoDefaultFolder)?;
    Ok(home.join("phonevault").join(serial))
}

/// Backs up what `options` selects that the folder does not hold yet.
///
/// The folder is locked for the whole run (see [`FolderLock`]): a second job on the same
/// folder waits up to `options.lock_wait`, then gets `FolderBusy`.
///
/// # Errors
/// `FolderBusy` when another job keeps the folder; listing errors (the phone cannot be read
/// at all), errors opening the backup folder, and failures to write the archive on the
/// computer (full disk); `Cancelled` when the token trips before the copy begins. A phone
/// that goes away (or a cancel) during the copy is not an error: the report's `stopped` says
/// so, and the archive holds what arrived whole.
pub fn run(
    handset: &Handset,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    let cancel = &options.cancel;
    let handset = &handset.with_cancel(cancel);
    std::fs::create_dir_all(&options.folder)
        .map_err(|e| Error::io("cannot create the backup folder", &options.folder, e))?;
    // Taken before the listing, so a job that waited lists the phone after the other ended.
    let lock = FolderLock::acquire(&options.folder, options.lock_wait, cancel)?;
    if !lock.is_exclusive() {
        progress.event(Event::warning(
            options.folder.to_str(),
            "this folder's file system has no locks: nothing stops another backup \
                      from writing into it at the same time, and unfinished archives are \
                      left in place",
        ));
    }
    let catalog = catalog::scan(handset, &options.catalog, progress)?;
    cancel.check()?;
    let scan = BackupFolder::open_locked(&lock, options.password.as_ref(), cancel)?;
    for (path, err) in &scan.unreadable {
        let message = format!("archive skipped when looking for earlier backups: {err}");
        progress.event(Event::warning(path.to_str(), &message));
    }
    let selected: Vec<&MediaItem> = catalog
        .items
        .iter()
        .filter(|item| options.matcher.matches(item))
        .collect();
    let to_pull: Vec<MediaItem> = selected
        .iter()
        .filter(|item| {
            options.fresh_copy || !scan.folder.contains(&item.path, item.size, item.mtime)
        })
        .map(|item| (*item).clone())
        .collect();
    let mut report = BackupReport {
        archive: None,
        selected: selected.len(),
        items: 0,
        bytes: 0,
        skipped: selected.len() - to_pull.len(),
        recopied_damaged: to_pull
            .iter()
            .filter(|item| {
                scan.folder
                    .holds_only_damaged(&item.path, item.size, item.mtime)
            })
            .count(),
        reread: 0,
        failed: Vec::new(),
        not_attempted: 0,
        stopped: None,
        removed_partials: scan.removed_partials,
        unreadable_folders: catalog.unreadable,
        links_not_followed: catalog.links_not_followed,
    };
    if to_pull.is_empty() {
        return Ok(report);
    }
    let archive = ArchiveWriter::create_in(
        &options.folder,
        options.password.as_ref(),
        handset.identity(),
    )?;
    let pictures = LatePictures::new(options.previews.clone());
    let mut outcome = copy_items(handset, &to_pull, archive, cancel, progress, &pictures);
    report.reread = reread_changed(handset, &mut outcome, cancel, progress, &pictures);
    report.items = outcome.committed;
    report.bytes = outcome.bytes;
    // Whatever was neither stored nor refused (the item in flight when the copy stopped,
    // items read whole that could not be checked afterwards, the rest of the list) is
    // counted here, so items + failed + not_attempted + skipped = selected.
    report.not_attempted = to_pull.len() - outcome.committed - outcome.failed.len();
    report.failed = outcome.failed;
    report.stopped = outcome.stopped;
    let mut archive = outcome
        .archive
        .expect("the writer thread returns the archive");
    match outcome.fatal {
        Some(err) => {
            let _ = archive.abandon();
            Err(err)
        }
        None if outcome.committed == 0 => {
            archive.abandon()?;
            Ok(report)
        }
        None => {
            pictures.finish(&mut outcome.previews, cancel.is_cancelled());
            archive.set_previews(previews_blob(&outcome.previews)?);
            report.archive = Some(archive.finish()?);
            drop(lock);
            Ok(report)
        }
    }
}

/// Reads once more, as the phone has them now, the items that changed while they were
/// read; what changes again (or cannot be read again) ends in `failed`. Returns how many
/// were read again.
fn reread_changed(
    handset: &Handset,
    outcome: &mut Outcome,
    cancel: &Cancel,
    progress: &dyn Progress,
    pictures: &LatePictures,
) -> usize {
    let mut reread = 0;
    if !outcome.changed.is_empty() && outcome.stopped.is_none() && outcome.fatal.is_none() {
        let changed = std::mem::take(&mut outcome.changed);
        match fresh_listing(handset, changed) {
            Ok((again, gone)) => {
                outcome.failed.extend(gone);
                reread = again.len();
                let archive = outcome.archive.take().expect("the archive comes back");
                let second = copy_items(handset, &again, archive, cancel, progress, pictures);
                outcome.absorb(second);
            }
            Err(err) => outcome.stopped = Some(err),
        }
    }
    // Changed twice, or changed when there was no time to read it again.
    outcome
        .failed
        .extend(outcome.changed.drain(..).map(|item| FailedItem {
            path: item.path,
            message: CHANGED_WHILE_COPIED.to_owned(),
        }));
    reread
}

/// The phone's current size and mtime for items that changed while read: the ones still
/// there, ready to be read again, and the ones that are gone (as failures).
fn fresh_listing(
    handset: &Handset,
    changed: Vec<MediaItem>,
) -> Result<(Vec<MediaItem>, Vec<FailedItem>)> {
    let paths: Vec<String> = changed.iter().map(|i| i.path.clone()).collect();
    let stats = handset.stat_many(&paths, None)?;
    let mut again = Vec::new();
    let mut gone = Vec::new();
    for (mut item, stat) in changed.into_iter().zip(stats) {
        match stat {
            Some(stat) if stat.is_file() && handset.has_stat_v2() => {
                item.size = stat.size;
                item.mtime = stat.mtime;
                again.push(item);
            }
            // A v1-only phone's size may have wrapped at 4 GiB: not one to copy by.
            Some(_) => gone.push(FailedItem {
                path: item.path,
                message: CHANGED_WHILE_COPIED.to_owned(),
            }),
            None => gone.push(FailedItem {
                path: item.path,
                message: "gone from the phone while it was copied".to_owned(),
            }),
        }
    }
    Ok((again, gone))
}

/// One step of the copy, from the receiving thread to the writer thread.
enum Step {
    Start(usize),
    Data(Vec<u8>),
    Done,
    Failed(usize, String),
    /// The phone gave every file asked for: it still answers.
    Finished,
}

/// What the writer thread ends with.
struct Outcome {
    /// Always present once the writer thread has ended.
    archive: Option<ArchiveWriter>,
    committed: usize,
    bytes: u64,
    failed: Vec<FailedItem>,
    /// Items that changed on the phone while they were read: not stored.
    changed: Vec<MediaItem>,
    previews: Vec<Preview>,
    /// Why the receiving side stopped early.
    stopped: Option<Error>,
    /// A failure to write on the computer: the archive cannot be finished.
    fatal: Option<Error>,
}

impl Outcome {
    /// Adds a later pass over the same archive.
    fn absorb(&mut self, later: Outcome) {
        self.archive = later.archive;
        self.committed += later.committed;
        self.bytes += later.bytes;
        self.failed.extend(later.failed);
        self.changed.extend(later.changed);
        self.previews.extend(later.previews);
        self.stopped = self.stopped.take().or(later.stopped);
        self.fatal = self.fatal.take().or(later.fatal);
    }
}

fn copy_items(
    handset: &Handset,
    items: &[MediaItem],
    archive: ArchiveWriter,
    cancel: &Cancel,
    progress: &dyn Progress,
    pictures: &LatePictures,
) -> Outcome {
    progress.event(Event::Phase {
        name: Phase::Backup,
        items: items.len() as u64,
        bytes: items.iter().map(|i| i.size).sum(),
    });
    let paths: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
    // Sixteen 64 KiB chunks in flight: enough to ride out a slow disk write, little memory.
    let (tx, rx) = sync_channel::<Step>(16);
    let outcome = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut writer = ItemWriterThread::new(handset, items, archive, progress, pictures);
            writer.run(&rx);
            writer.into_outcome()
        });
        let mut sink = |event: PullEvent<'_>| -> Result<()> {
            cancel.check()?;
            let step = match event {
                PullEvent::Start { index } => Step::Start(index),
                PullEvent::Data { bytes, .. } => {
                    progress.event(Event::Bytes {
                        bytes: bytes.len() as u64,
                    });
                    Step::Data(bytes.to_vec())
                }
                PullEvent::Done { .. } => Step::Done,
                PullEvent::Failed { index, message } => Step::Failed(index, message),
            };
            // The writer hangs up only after a write failure, which it reports itself.
            tx.send(step).map_err(|_| Error::TransferAbandoned {
                side: "archive writer",
            })
        };
        let pulled = handset.pull_many(&paths, &mut sink);
        if pulled.is_ok() {
            let _ = tx.send(Step::Finished);
        }
        drop(tx);
        let mut outcome = writer.join().expect("the archive writer thread panicked");
        if let Err(err) = pulled {
            if outcome.fatal.is_none() {
                outcome.stopped = Some(err);
            }
        }
        outcome
    });
    progress.event(Event::PhaseDone {
        name: Phase::Backup,
    });
    outcome
}

/// Items up to this size (most photos, every voice note and sticker) are read whole into
/// memory and stored only after a batched re-check of their size and mtime on the phone:
/// one stat round trip for hundreds of files, where one each would cost more than reading
/// them. Bigger ones are streamed into their entry and re-checked one by one before the
/// commit, one round trip beside a transfer of several MiB.
const HELD_ITEM_MAX: u64 = 4 << 20;
/// A batch of small items waits for the check before it once it holds this many bytes. At
/// most about three batches are in memory (one filling, one being checked, one being
/// stored); a pulled cable leaves the last two unchecked, for the next run to copy.
const HELD_BYTES_MAX: u64 = 8 << 20;
/// A batch of small items waits for the check before it once it holds this many.
const HELD_ITEMS_MAX: usize = 256;
/// A batch of small items is sent to be checked, when no check is in flight, once it
/// holds this many items or bytes.
const CHECK_MIN_ITEMS: usize = 32;
const CHECK_MIN_BYTES: u64 = 2 << 20;
/// The re-check after the copy stopped early (cable pulled, Ctrl-C) gets this long: a
/// frozen phone must not hold the end of the run for a whole transfer timeout.
const LATE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Small items read whole, waiting for their re-check: (index, bytes).
type Held = Vec<(usize, Vec<u8>)>;

/// A batch of held items whose stat runs on a thread of its own, so receiving goes on.
struct Check {
    batch: Held,
    result: Receiver<Result<Vec<Option<RemoteStat>>>>,
}

/// The writer thread's state: one item at a time, from `Start` to `Done` or `Failed`.
///
/// Small items go through three stages: held in memory as they arrive, re-checked in a
/// batch by a stat on another thread, then stored one per received step, so storing keeps
/// pace with receiving instead of holding it up in bursts.
struct ItemWriterThread<'a> {
    handset: &'a Handset,
    items: &'a [MediaItem],
    archive: ArchiveWriter,
    progress: &'a dyn Progress,
    pictures: &'a LatePictures,
    outcome: Outcome,
    held: Held,
    held_bytes: u64,
    checking: Option<Check>,
    /// Re-checked items waiting to be stored: (index, bytes, unchanged).
    checked: VecDeque<(usize, Vec<u8>, bool)>,
    /// The receiving side sent `Finished`: every file was given, the phone answers.
    finished: bool,
    /// Nothing more will be received (the last checks are under way).
    receiving_ended: bool,
}

impl<'a> ItemWriterThread<'a> {
    fn new(
        handset: &'a Handset,
        items: &'a [MediaItem],
        archive: ArchiveWriter,
        progress: &'a dyn Progress,
        pictures: &'a LatePictures,
    ) -> Self {
        ItemWriterThread {
            handset,
            items,
            archive,
            progress,
            pictures,
            outcome: Outcome {
                archive: None,
                committed: 0,
                bytes: 0,
                failed: Vec::new(),
                changed: Vec::new(),
                previews: Vec::new(),
                stopped: None,
                fatal: None,
            },
            held: Vec::new(),
            held_bytes: 0,
            checking: None,
            checked: VecDeque::new(),
            finished: false,
            receiving_ended: false,
        }
    }

    fn into_outcome(mut self) -> Outcome {
        self.outcome.archive = Some(self.archive);
        self.outcome
    }

    fn run(&mut self, rx: &Receiver<Step>) {
        loop {
            let step = match rx.try_recv() {
                Ok(step) => step,
                Err(TryRecvError::Empty) => {
                    // Nothing waiting: store what is checked before blocking.
                    if self.store_one_checked() {
                        continue;
                    }
                    match rx.recv() {
                        Ok(step) => step,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            if self.outcome.fatal.is_some() || !self.take_step(step, rx) {
                break;
            }
            self.store_one_checked();
            if self.outcome.fatal.is_some() {
                break;
            }
            // One check in flight at a time, the next started once the last one answered and
            // enough arrived meanwhile: a pulled cable leaves little that was never checked,
            // and a stat costs far less than the files it covers.
            let enough = self.held.len() >= CHECK_MIN_ITEMS || self.held_bytes >= CHECK_MIN_BYTES;
            if self.checking.is_none() && enough {
                self.start_check();
            }
        }
        // Whatever ended the copy, what arrived whole is stored if the phone confirms it.
        self.receiving_ended = true;
        self.store_all();
    }

    /// Handles one step from the receiving side; false when the copy cannot go on.
    fn take_step(&mut self, step: Step, rx: &Receiver<Step>) -> bool {
        let index = match step {
            Step::Start(index) => index,
            Step::Failed(index, message) => {
                self.fail(index, message);
                return true;
            }
            Step::Finished => {
                self.finished = true;
                return true;
            }
            // Data or Done without a Start cannot happen; ignore rather than guess.
            Step::Data(_) | Step::Done => return true,
        };
        let item = &self.items[index];
        self.progress
            .event(Event::started(index, &item.path, item.size));
        if item.size <= HELD_ITEM_MAX {
            match receive_whole(item, rx) {
                Received::Whole(bytes) => {
                    self.held_bytes += bytes.len() as u64;
                    self.held.push((index, bytes));
                    if self.held.len() >= HELD_ITEMS_MAX || self.held_bytes >= HELD_BYTES_MAX {
                        self.start_check();
                    }
                }
                Received::Changed => self.outcome.changed.push(item.clone()),
                Received::Failed(message) => self.fail(index, message),
                Received::Cut => return false,
            }
            return true;
        }
        // A streamed entry cannot be interleaved with others: store the held ones first.
        self.store_all();
        if self.outcome.fatal.is_some() {
            return false;
        }
        let end = write_streamed(self.handset, item, &mut self.archive, self.pictures, rx);
        self.record(index, end)
    }

    /// Books an item the phone would not give, and says so.
    fn fail(&mut self, index: usize, message: String) {
        let path = &self.items[index].path;
        self.progress.event(Event::failed(index, path, &message));
        self.outcome.failed.push(FailedItem {
            path: path.clone(),
            message,
        });
    }

    /// Books how item `index` ended; false when the copy cannot go on.
    fn record(&mut self, index: usize, end: ItemEnd) -> bool {
        let item = &self.items[index];
        match end {
            ItemEnd::Committed(preview) => {
                self.outcome.committed += 1;
                self.outcome.bytes += item.size;
                self.outcome.previews.extend(preview.map(|p| *p));
                self.progress.event(Event::done(index, &item.path));
            }
            ItemEnd::Failed(message) => self.fail(index, message),
            ItemEnd::Changed => self.outcome.changed.push(item.clone()),
            // The phone went away mid-item (or could not confirm it): nothing was stored,
            // and the item counts as not attempted.
            ItemEnd::Cut => return false,
            ItemEnd::Fatal(err) => {
                self.outcome.fatal = Some(err);
                return false;
            }
        }
        true
    }

    /// Sends the held items to be re-checked (after the batch before them, if any).
    fn start_check(&mut self) {
        if self.held.is_empty() {
            return;
        }
        self.finish_check();
        let batch = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let paths: Vec<String> = batch
            .iter()
            .map(|(index, _)| self.items[*index].path.clone())
            .collect();
        let handset = self.handset.clone();
        let (tx, result) = sync_channel(1);
        // Detached: if the phone froze, a late check is given up on (see `finish_check`)
        // and this thread ends at the handset's own timeout.
        std::thread::spawn(move || {
            let _ = tx.send(handset.stat_many(&paths, None));
        });
        self.checking = Some(Check { batch, result });
    }

    /// Waits for the batch being re-checked and queues its items for storing. When the
    /// phone does not answer, none is stored: each counts as not attempted.
    fn finish_check(&mut self) {
        let Some(check) = self.checking.take() else {
            return;
        };
        // After the copy stopped early the phone may be frozen or gone: do not wait long.
        let stopped_early = self.receiving_ended && !self.finished;
        let answer = if stopped_early {
            check.result.recv_timeout(LATE_CHECK_TIMEOUT).ok()
        } else {
            check.result.recv().ok()
        };
        self.accept(check.batch, answer);
    }

    /// Queues a re-checked batch for storing; without an answer from the phone, none of it.
    fn accept(&mut self, batch: Held, answer: Option<Result<Vec<Option<RemoteStat>>>>) {
        let Some(Ok(stats)) = answer else { return };
        let exact = self.handset.has_stat_v2();
        for ((index, bytes), stat) in batch.into_iter().zip(stats) {
            let unchanged = unchanged(&self.items[index], stat, exact);
            self.checked.push_back((index, bytes, unchanged));
        }
    }

    /// Stores the next re-checked item, if one is ready; whether there was one.
    fn store_one_checked(&mut self) -> bool {
        if self.checked.is_empty() {
            let Some(check) = self.checking.take() else {
                return false;
            };
            match check.result.try_recv() {
                Ok(answer) => self.accept(check.batch, Some(answer)),
                Err(TryRecvError::Empty) => {
                    self.checking = Some(check);
                    return false;
                }
                Err(TryRecvError::Disconnected) => {}
            }
        }
        let Some((index, bytes, unchanged)) = self.checked.pop_front() else {
            return false;
        };
        if self.outcome.fatal.is_some() {
            return false;
        }
        let item = &self.items[index];
        let end = if unchanged {
            store_whole(item, bytes, &mut self.archive, self.pictures)
        } else {
            ItemEnd::Changed
        };
        self.record(index, end);
        true
    }

    /// Re-checks and stores everything held, now.
    fn store_all(&mut self) {
        self.start_check();
        self.finish_check();
        while self.store_one_checked() {}
    }
}

/// Whether the phone's stat after the read still shows the size and mtime the item was
/// listed with (a v1-only phone gives only the low 32 bits of a size).
fn unchanged(item: &MediaItem, stat: Option<RemoteStat>, exact_size: bool) -> bool {
    let Some(stat) = stat else { return false };
    let size_matches = if exact_size {
        stat.size == item.size
    } else {
        stat.size & 0xFFFF_FFFF == item.size & 0xFFFF_FFFF
    };
    stat.is_file() && size_matches && stat.mtime == item.mtime
}

/// How one small item's reading ended.
enum Received {
    Whole(Vec<u8>),
    Changed,
    Failed(String),
    Cut,
}

/// Reads a small item whole into memory.
fn receive_whole(item: &MediaItem, rx: &Receiver<Step>) -> Received {
    let mut bytes = Vec::with_capacity(usize::try_from(item.size).unwrap_or(0));
    loop {
        match rx.recv() {
            Ok(Step::Data(chunk)) => {
                if bytes.len() as u64 + chunk.len() as u64 > item.size {
                    // The file grew since it was listed.
                    return match skip_item(rx, ItemEnd::Changed) {
                        ItemEnd::Cut => Received::Cut,
                        _ => Received::Changed,
                    };
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Step::Done) if bytes.len() as u64 == item.size => return Received::Whole(bytes),
            Ok(Step::Done) => return Received::Changed,
            Ok(Step::Failed(_, message)) => return Received::Failed(message),
            Ok(Step::Start(_) | Step::Finished) => {
                unreachable!("pull_many starts a file only after the previous one ended")
            }
            Err(_) => return Received::Cut,
        }
    }
}

/// Stores a small item that was read whole and re-checked.
fn store_whole(
    item: &MediaItem,
    bytes: Vec<u8>,
    archive: &mut ArchiveWriter,
    pictures: &LatePictures,
) -> ItemEnd {
    let mut entry = match archive.begin_item(item) {
        Ok(entry) => entry,
        Err(err) => return ItemEnd::Failed(err.to_string()),
    };
    if let Err(err) = entry.write_chunk(&bytes) {
        return ItemEnd::Fatal(err);
    }
    commit_with_preview(item, entry, Kept::Whole(bytes), pictures)
}

/// The bytes of a photo kept while it was copied: all of them, or only the first
/// [`HEAD_BYTES`] (enough for its EXIF block and thumbnail).
enum Kept {
    Whole(Vec<u8>),
    Head(Vec<u8>),
}

impl Kept {
    fn head(&self) -> &[u8] {
        let (Kept::Whole(bytes) | Kept::Head(bytes)) = self;
        &bytes[..bytes.len().min(HEAD_BYTES)]
    }
}

/// Commits an entry whose bytes are all written; a photo's first bytes give its EXIF date
/// and preview.
fn commit_with_preview(
    item: &MediaItem,
    mut entry: ItemWriter<'_>,
    kept: Kept,
    pictures: &LatePictures,
) -> ItemEnd {
    let info = (item.kind == Kind::Photo).then(|| parse_head(kept.head()));
    if let Some(info) = &info {
        entry.set_taken(info.taken);
    }
    match entry.commit() {
        Ok(record) => ItemEnd::Committed(
            info.map(|info| Box::new(photo_preview(&record.item, info, kept, pictures))),
        ),
        Err(Error::ItemIncomplete { .. }) => ItemEnd::Changed,
        Err(err) => ItemEnd::Fatal(err),
    }
}

/// How one item's copy ended.
enum ItemEnd {
    Committed(Option<Box<Preview>>),
    Failed(String),
    /// Its size or mtime changed while it was read: not stored.
    Changed,
    Cut,
    Fatal(Error),
}

const CHANGED_WHILE_COPIED: &str =
    "changed on the phone while it was copied; the next backup tries again";

/// Streams a big item's bytes into its entry, re-checks its size and mtime on the phone,
/// and commits it only when they are still the listed ones.
fn write_streamed(
    handset: &Handset,
    item: &MediaItem,
    archive: &mut ArchiveWriter,
    pictures: &LatePictures,
    rx: &Receiver<Step>,
) -> ItemEnd {
    let mut entry = match archive.begin_item(item) {
        Ok(entry) => entry,
        Err(err) => return skip_item(rx, ItemEnd::Failed(err.to_string())),
    };
    let is_photo = item.kind == Kind::Photo;
    // The whole photo is kept only while its head shows no EXIF thumbnail to use.
    let mut keep_all = is_photo && LatePictures::wants_bytes(item);
    let mut kept = Vec::new();
    loop {
        match rx.recv() {
            Ok(Step::Data(chunk)) => {
                if keep_all {
                    let head_was_short = kept.len() < HEAD_BYTES;
                    kept.extend_from_slice(&chunk);
                    if head_was_short && kept.len() >= HEAD_BYTES {
                        let head = &kept[..HEAD_BYTES];
                        if parse_head(head).thumbnail_bytes(head).is_some() {
                            keep_all = false;
                            kept.truncate(HEAD_BYTES);
                            kept.shrink_to_fit();
                        }
                    }
                } else if is_photo && kept.len() < HEAD_BYTES {
                    let take = chunk.len().min(HEAD_BYTES - kept.len());
                    kept.extend_from_slice(&chunk[..take]);
                }
                match entry.write_chunk(&chunk) {
                    Ok(()) => {}
                    // The file grew since it was listed: not this backup's to take.
                    Err(Error::ItemIncomplete { .. }) => {
                        drop(entry);
                        return skip_item(rx, ItemEnd::Changed);
                    }
                    Err(err) => return ItemEnd::Fatal(err),
                }
            }
            Ok(Step::Done) => {
                if entry.written() != item.size {
                    return ItemEnd::Changed;
                }
                // The receive side already reads the next files: this stat is one round
                // trip beside a big file's transfer.
                return match handset.stat_many(std::slice::from_ref(&item.path), None) {
                    Ok(stats) => {
                        let stat = stats.into_iter().next().flatten();
                        if unchanged(item, stat, handset.has_stat_v2()) {
                            let kept = if keep_all {
                                Kept::Whole(kept)
                            } else {
                                Kept::Head(kept)
                            };
                            commit_with_preview(item, entry, kept, pictures)
                        } else {
                            ItemEnd::Changed
                        }
                    }
                    // The phone went away: the item cannot be confirmed, so it is not stored.
                    Err(_) => ItemEnd::Cut,
                };
            }
            Ok(Step::Failed(_, message)) => return ItemEnd::Failed(message),
            Ok(Step::Start(_) | Step::Finished) => {
                unreachable!("pull_many starts a file only after the previous one ended")
            }
            Err(_) => return ItemEnd::Cut,
        }
    }
}

/// Passes over the rest of an item that will not be stored.
fn skip_item(rx: &Receiver<Step>, end: ItemEnd) -> ItemEnd {
    loop {
        match rx.recv() {
            Ok(Step::Done | Step::Failed(..)) => return end,
            Ok(_) => {}
            Err(_) => return ItemEnd::Cut,
        }
    }
}

/// A photo's preview from bytes that passed by anyway (a backup never reads anything twice
/// for previews): its EXIF thumbnail when there is one, else the photo decoded from its
/// whole bytes (see [`LatePictures`]), else a placeholder that says why.
fn photo_preview(
    item: &MediaItem,
    info: crate::preview::PhotoInfo,
    kept: Kept,
    pictures: &LatePictures,
) -> Preview {
    let exif_thumbnail: Option<Thumbnail> = info
        .thumbnail_bytes(kept.head())
        .and_then(|jpeg| make_thumbnail(jpeg, info.orientation).ok());
    let Some(image) = exif_thumbnail else {
        let whole = match kept {
            Kept::Whole(bytes) => Some(bytes),
            Kept::Head(_) => None,
        };
        return pictures.preview(item, info, whole);
    };
    Preview {
        item: item.clone(),
        taken: resolve_taken(info.taken, item.taken, item.mtime),
        thumbnail: ThumbnailKind::Exif,
        image: Some(image),
        notes: info.notes.clone(),
        info,
        no_picture: None,
    }
}

/// The previews entry of an archive: one record per photo with its thumbnail.
#[derive(Serialize)]
struct ArchivedPreview<'a> {
    #[serde(flatten)]
    record: PreviewRecord,
    image: Option<&'a Thumbnail>,
}

fn previews_blob(previews: &[Preview]) -> Result<Vec<u8>> {
    let list: Vec<ArchivedPreview<'_>> = records(previews)
        .into_iter()
        .zip(previews)
        .map(|(record, p)| ArchivedPreview {
            record,
            image: p.image.as_ref(),
        })
        .collect();
    serde_json::to_vec(&list).map_err(|e| Error::Archive {
        path: Path::new("phonevault/previews.json").to_path_buf(),
        detail: format!("cannot encode the previews: {e}"),
    })
}

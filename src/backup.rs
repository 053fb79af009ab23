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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use serde::Serialize;

use crate::adb::{Handset, PullEvent};
use crate::archive::{ArchiveWriter, BackupFolder, Password};
use crate::catalog::{self, select::Matcher, CatalogOptions, Kind, MediaItem};
use crate::preview::{
    make_thumbnail, parse_head, records, resolve_taken, Preview, PreviewRecord, Thumbnail,
    ThumbnailKind, HEAD_BYTES,
};
use crate::progress::{Event, Progress};
use crate::{Error, Result};

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
    /// Set from another thread (Ctrl-C) to stop early and keep what arrived whole.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// An item that could not be backed up, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// Items the phone would not give (unreadable, changed or gone while copying).
    pub failed: Vec<FailedItem>,
    /// Items not attempted because the backup stopped early.
    pub not_attempted: usize,
    /// Why the backup stopped early (cable pulled, Ctrl-C), when it did.
    pub stopped: Option<Error>,
    /// Unfinished archives from earlier runs that were removed.
    pub removed_partials: Vec<PathBuf>,
    /// Folders on the phone that could not be read.
    pub unreadable_folders: Vec<String>,
}

impl BackupReport {
    /// Whether everything selected is now in the folder.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
            && self.stopped.is_none()
            && self.not_attempted == 0
            && self.unreadable_folders.is_empty()
    }
}

/// The default backup folder: one per handset, `~/phonevault/<serial>`.
///
/// # Errors
/// `UnsafePath` when the serial is not a plain file name; `Io` when there is no home folder.
pub fn default_folder(serial: &str) -> Result<PathBuf> {
    if serial.is_empty() || serial.starts_with('.') || serial.contains(['/', '\\', '\0', ':']) {
        return Err(Error::UnsafePath {
            name: serial.to_owned(),
            reason: "this handset serial cannot name a folder; choose one with --to DIR",
        });
    }
    let home = dirs::home_dir().ok_or_else(|| {
        Error::io(
            "cannot find the home folder for the default backup folder (use --to DIR)",
            "~",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    Ok(home.join("phonevault").join(serial))
}

/// Backs up what `options` selects that the folder does not hold yet.
///
/// # Errors
/// Listing errors (the phone cannot be read at all), errors opening the backup folder, and
/// failures to write the archive on the computer (full disk). A phone that goes away during
/// the copy is not an error: the report's `stopped` says so, and the archive holds what
/// arrived whole.
pub fn run(
    handset: &Handset,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    let catalog = catalog::scan(handset, &options.catalog, progress)?;
    std::fs::create_dir_all(&options.folder)
        .map_err(|e| Error::io("cannot create the backup folder", &options.folder, e))?;
    let scan = BackupFolder::open(&options.folder, options.password.as_ref())?;
    for (path, err) in &scan.unreadable {
        let message = format!("archive skipped when looking for earlier backups: {err}");
        progress.event(Event::Warning {
            path: path.to_str(),
            message: &message,
        });
    }
    let selected: Vec<&MediaItem> = catalog
        .items
        .iter()
        .filter(|item| options.matcher.matches(item))
        .collect();
    let to_pull: Vec<MediaItem> = selected
        .iter()
        .filter(|item| !scan.folder.contains(&item.path, item.size, item.mtime))
        .map(|item| (*item).clone())
        .collect();
    let mut report = BackupReport {
        archive: None,
        selected: selected.len(),
        items: 0,
        bytes: 0,
        skipped: selected.len() - to_pull.len(),
        failed: Vec::new(),
        not_attempted: 0,
        stopped: None,
        removed_partials: scan.removed_partials,
        unreadable_folders: catalog.unreadable,
    };
    if to_pull.is_empty() {
        return Ok(report);
    }
    let archive = ArchiveWriter::create_in(
        &options.folder,
        options.password.as_ref(),
        handset.identity(),
    )?;
    let outcome = copy_items(
        handset,
        &to_pull,
        archive,
        options.cancel.as_deref(),
        progress,
    );
    report.items = outcome.committed;
    report.bytes = outcome.bytes;
    report.failed = outcome.failed;
    report.not_attempted = to_pull.len() - outcome.attempted;
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
            archive.set_previews(previews_blob(&outcome.previews)?);
            report.archive = Some(archive.finish()?);
            Ok(report)
        }
    }
}

/// One step of the copy, from the receiving thread to the writer thread.
enum Step {
    Start(usize),
    Data(Vec<u8>),
    Done,
    Failed(usize, String),
}

/// What the writer thread ends with.
struct Outcome {
    /// Always present once the writer thread has ended.
    archive: Option<ArchiveWriter>,
    committed: usize,
    bytes: u64,
    /// Items whose copy began (committed, failed or cut short).
    attempted: usize,
    failed: Vec<FailedItem>,
    previews: Vec<Preview>,
    /// Why the receiving side stopped early.
    stopped: Option<Error>,
    /// A failure to write on the computer: the archive cannot be finished.
    fatal: Option<Error>,
}

fn copy_items(
    handset: &Handset,
    items: &[MediaItem],
    archive: ArchiveWriter,
    cancel: Option<&AtomicBool>,
    progress: &dyn Progress,
) -> Outcome {
    progress.event(Event::Phase {
        name: "backup",
        items: items.len() as u64,
        bytes: items.iter().map(|i| i.size).sum(),
    });
    let paths: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
    // Sixteen 64 KiB chunks in flight: enough to ride out a slow disk write, little memory.
    let (tx, rx) = sync_channel::<Step>(16);
    let outcome = std::thread::scope(|scope| {
        let writer = scope.spawn(move || write_items(items, archive, &rx, progress));
        let mut sink = |event: PullEvent<'_>| -> Result<()> {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Error::Interrupted);
            }
            let step = match event {
                PullEvent::Start { index } => Step::Start(index),
                PullEvent::Data { bytes, .. } => {
                    progress.event(Event::Bytes(bytes.len() as u64));
                    Step::Data(bytes.to_vec())
                }
                PullEvent::Done { .. } => Step::Done,
                PullEvent::Failed { index, message } => Step::Failed(index, message),
            };
            // The writer hangs up only after a write failure, which it reports itself.
            tx.send(step).map_err(|_| Error::Interrupted)
        };
        let pulled = handset.pull_many(&paths, &mut sink);
        drop(tx);
        let mut outcome = writer.join().expect("the archive writer thread panicked");
        if let Err(err) = pulled {
            if outcome.fatal.is_none() {
                outcome.stopped = Some(err);
            }
        }
        outcome
    });
    progress.event(Event::PhaseDone);
    outcome
}

/// The writer thread: one item at a time, from `Start` to `Done` or `Failed`.
fn write_items(
    items: &[MediaItem],
    mut archive: ArchiveWriter,
    rx: &Receiver<Step>,
    progress: &dyn Progress,
) -> Outcome {
    let mut outcome = Outcome {
        archive: None,
        committed: 0,
        bytes: 0,
        attempted: 0,
        failed: Vec::new(),
        previews: Vec::new(),
        stopped: None,
        fatal: None,
    };
    while let Ok(step) = rx.recv() {
        let index = match step {
            Step::Start(index) => index,
            Step::Failed(index, message) => {
                outcome.attempted += 1;
                outcome.failed.push(FailedItem {
                    path: items[index].path.clone(),
                    message,
                });
                continue;
            }
            // Data or Done without a Start cannot happen; ignore rather than guess.
            Step::Data(_) | Step::Done => continue,
        };
        outcome.attempted += 1;
        let item = &items[index];
        progress.event(Event::ItemStarted {
            path: &item.path,
            size: item.size,
        });
        match write_one(item, &mut archive, rx) {
            ItemEnd::Committed(preview) => {
                outcome.committed += 1;
                outcome.bytes += item.size;
                outcome.previews.extend(preview.map(|p| *p));
                progress.event(Event::ItemDone { path: &item.path });
            }
            ItemEnd::Failed(message) => outcome.failed.push(FailedItem {
                path: item.path.clone(),
                message,
            }),
            // The phone went away mid-item: the entry was discarded.
            ItemEnd::Cut => break,
            ItemEnd::Fatal(err) => {
                outcome.fatal = Some(err);
                break;
            }
        }
    }
    outcome.archive = Some(archive);
    outcome
}

/// How one item's copy ended.
enum ItemEnd {
    Committed(Option<Box<Preview>>),
    Failed(String),
    Cut,
    Fatal(Error),
}

const CHANGED_WHILE_COPIED: &str = "changed on the phone while it was copied";

/// Writes one item's bytes into its entry and commits it; a photo's first bytes also give
/// its EXIF date and preview.
fn write_one(item: &MediaItem, archive: &mut ArchiveWriter, rx: &Receiver<Step>) -> ItemEnd {
    let mut entry = match archive.begin_item(item) {
        Ok(entry) => entry,
        Err(err) => return skip_item(rx, ItemEnd::Failed(err.to_string())),
    };
    let wants_preview = item.kind == Kind::Photo;
    let mut head = Vec::new();
    loop {
        match rx.recv() {
            Ok(Step::Data(chunk)) => {
                if wants_preview && head.len() < HEAD_BYTES {
                    let take = chunk.len().min(HEAD_BYTES - head.len());
                    head.extend_from_slice(&chunk[..take]);
                }
                match entry.write_chunk(&chunk) {
                    Ok(()) => {}
                    // The file grew since it was listed: not this backup's to take.
                    Err(Error::ItemIncomplete { .. }) => {
                        drop(entry);
                        return skip_item(rx, ItemEnd::Failed(CHANGED_WHILE_COPIED.into()));
                    }
                    Err(err) => return ItemEnd::Fatal(err),
                }
            }
            Ok(Step::Done) => {
                let info = wants_preview.then(|| parse_head(&head));
                if let Some(info) = &info {
                    entry.set_taken(info.taken);
                }
                return match entry.commit() {
                    Ok(record) => ItemEnd::Committed(
                        info.map(|info| Box::new(preview_from_head(&record.item, info, &head))),
                    ),
                    Err(Error::ItemIncomplete { .. }) => {
                        ItemEnd::Failed(CHANGED_WHILE_COPIED.into())
                    }
                    Err(err) => ItemEnd::Fatal(err),
                };
            }
            Ok(Step::Failed(_, message)) => return ItemEnd::Failed(message),
            Ok(Step::Start(_)) => {
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

/// A preview made from bytes that passed by anyway: the EXIF thumbnail when there is one,
/// else a placeholder (a backup never reads anything twice for previews).
fn preview_from_head(item: &MediaItem, info: crate::preview::PhotoInfo, head: &[u8]) -> Preview {
    let image: Option<Thumbnail> = info
        .thumbnail_bytes(head)
        .and_then(|jpeg| make_thumbnail(jpeg, info.orientation).ok());
    Preview {
        item: item.clone(),
        taken: resolve_taken(info.taken, item.taken, item.mtime),
        thumbnail: if image.is_some() {
            ThumbnailKind::Exif
        } else {
            ThumbnailKind::Placeholder
        },
        image,
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

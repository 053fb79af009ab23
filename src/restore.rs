//! `restore`: put archived items back onto a phone.
//!
//! Two steps, so the caller can show the plan (or stop after it, `--dry-run`):
//! [`plan`] maps every selected manifest record to a path on this handset, lists what is
//! already there in one helper call, hashes same-size files on the phone to tell identical
//! files from conflicts, and sums the space needed; [`execute`] then pushes.
//!
//! Pushing is safe against a pulled cable: every file goes to a temporary dot-name in its
//! target folder (`.phonevault-<hash>.partial`, pipelined on one sync stream with its mode
//! and mtime), its SHA-256 is checked on the phone against the manifest, and only then is it
//! moved to its real name (moves batched in a few shell calls). A rerun removes temporary
//! files left by an interrupted run and skips what is already in place.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Write};

use serde::Serialize;

use crate::adb::{Handset, PushFile, PushOutcome};
use crate::archive::{check_entry_name, ArchiveReader, ItemRecord};
use crate::backup::FailedItem;
use crate::cancel::Cancel;
use crate::catalog::{select::Matcher, Kind, Source};
use crate::helper::{self, shell_quote};
use crate::progress::{Event, Progress};
use crate::{Error, Result};

/// Where restored files start: a dot-folder inside the target folder, holding each file
/// under its final name. The Gallery and WhatsApp never look into dot-folders, so no
/// half-written file is ever seen; the move to the real name stays on one file system, and
/// one `mv` per folder moves all its files (one process per file cost seconds).
const TEMP_DIR: &str = ".phonevault-restore.partial";
/// Archives do not record file modes; this is what they store for every entry.
const FILE_MODE: u32 = 0o644;
/// Shell commands are kept below this length (the adb server takes 64 KiB requests).
const COMMAND_BUDGET: usize = 32 * 1024;

/// What to do when a different file already has an item's target name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Leave the phone's file alone and do not restore the item.
    Skip,
    /// Restore the item under a free name: `IMG_1 (1).jpg`.
    #[default]
    KeepBoth,
    /// Replace the phone's file.
    Overwrite,
}

/// What to restore and how.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Which manifest items to take.
    pub matcher: Matcher,
    pub on_conflict: OnConflict,
    /// Tripped from another thread (Ctrl-C, a button) to stop at once, in planning or
    /// pushing (even inside a large file); nothing half-done stays under a real name.
    pub cancel: Cancel,
}

/// What will happen to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing has the target name yet: push it.
    Push,
    /// An identical file (same size and SHA-256) is already there.
    Identical,
    /// A different file has the name: push under another name (`target` holds it).
    KeepBoth,
    /// A different file has the name: replace it.
    Overwrite,
    /// A different file has the name and `--on-conflict skip` leaves it.
    SkipConflict,
}

impl Action {
    /// Whether this action pushes bytes.
    pub fn pushes(self) -> bool {
        matches!(self, Action::Push | Action::KeepBoth | Action::Overwrite)
    }
}

/// One item of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedItem {
    /// Index of the archive (in the order given) that holds the item.
    pub archive: usize,
    #[serde(skip)]
    pub record: ItemRecord,
    /// The path the item had on the phone it was backed up from.
    pub from: String,
    /// Where it goes on this handset.
    pub target: String,
    pub source: Source,
    pub size: u64,
    pub action: Action,
}

/// Counts and bytes of one source in a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SourceTotals {
    /// Items selected.
    pub items: usize,
    pub bytes: u64,
    /// Of those, items that will be pushed, and their bytes.
    pub to_push: usize,
    pub push_bytes: u64,
}

/// What a restore will do on this handset.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub serial: String,
    pub sdk: u32,
    pub items: Vec<PlannedItem>,
    /// Items refused before planning (unsafe names in the manifest).
    pub refused: Vec<FailedItem>,
    pub per_source: BTreeMap<Source, SourceTotals>,
    /// Bytes that will be pushed.
    pub needed: u64,
    /// Free bytes on the handset's storage.
    pub free: u64,
    /// Temporary files left by an earlier, interrupted restore (removed by `execute`).
    pub leftovers: Vec<String>,
}

impl Plan {
    /// Whether the items to push fit in the free space.
    pub fn fits(&self) -> bool {
        self.needed <= self.free
    }

    /// Items with this action.
    pub fn count(&self, action: Action) -> usize {
        self.items.iter().filter(|i| i.action == action).count()
    }

    /// Items whose target name holds a different file.
    pub fn conflicts(&self) -> usize {
        self.count(Action::KeepBoth)
            + self.count(Action::Overwrite)
            + self.count(Action::SkipConflict)
    }

    /// Whether chat databases are among the items to restore (WhatsApp must then be set up
    /// in a particular order to pick them up).
    pub fn has_chats(&self) -> bool {
        self.items
            .iter()
            .any(|i| i.record.item.kind == Kind::Database && i.action.pushes())
    }

    /// `NoSpace` with both numbers when the plan does not fit.
    ///
    /// # Errors
    /// `NoSpace` when more bytes are needed than are free.
    pub fn check_space(&self) -> Result<()> {
        if self.fits() {
            Ok(())
        } else {
            Err(Error::NoSpace {
                place: format!("handset {} (/sdcard)", self.serial),
                needed: self.needed,
                free: self.free,
            })
        }
    }
}

/// One item put in place.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredItem {
    pub from: String,
    pub target: String,
    pub size: u64,
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreReport {
    pub restored: Vec<RestoredItem>,
    /// Items skipped because an identical file was already in place.
    pub skipped: usize,
    /// Items whose target name held a different file (kept both, overwritten or skipped).
    pub conflicts: usize,
    /// Items that could not be restored, and why (damaged entry, refused by the phone,
    /// unsafe name).
    pub failed: Vec<FailedItem>,
    /// Bytes of the restored items.
    pub bytes: u64,
    /// Items not attempted because the restore stopped early.
    pub not_attempted: usize,
    /// Why the restore stopped early (cable pulled, Ctrl-C), when it did.
    pub stopped: Option<Error>,
    /// Temporary files from an earlier run that were removed.
    pub removed_leftovers: Vec<String>,
    /// Folders the Gallery was asked to rescan.
    pub scanned_folders: Vec<String>,
    /// Whether chat databases were restored (see [`Plan::has_chats`]).
    pub chats: bool,
}

impl RestoreReport {
    /// Whether every selected item is now on the phone (restored, identical, or skipped
    /// on purpose).
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.stopped.is_none() && self.not_attempted == 0
    }
}

/// The path an item's `rel_path` maps to on a handset with this SDK level: the Gallery
/// under `/sdcard`, WhatsApp in the layout the target phone's app uses (Android 11+ keeps it
/// under `Android/media`), whichever layout the backup came from.
///
/// # Errors
/// `UnsafePath` when `rel_path` is not a plain relative path.
pub fn target_path(source: Source, rel_path: &str, sdk: u32) -> Result<String> {
    check_entry_name(rel_path)?;
    let root = match (source, sdk >= 30) {
        (Source::Gallery, _) => "/sdcard",
        (Source::Whatsapp, true) => "/sdcard/Android/media/com.whatsapp/WhatsApp",
        (Source::Whatsapp, false) => "/sdcard/WhatsApp",
        (Source::WhatsappBusiness, true) => {
            "/sdcard/Android/media/com.whatsapp.w4b/WhatsApp Business"
        }
        (Source::WhatsappBusiness, false) => "/sdcard/WhatsApp Business",
    };
    Ok(format!("{root}/{rel_path}"))
}

/// The folder part of a phone path.
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("/", |(dir, _)| dir)
}

/// The temporary folder of a target folder.
pub fn temp_dir(folder: &str) -> String {
    format!("{folder}/{TEMP_DIR}")
}

/// The temporary path an item is pushed to: its final name in the target folder's
/// temporary folder.
pub fn temp_path(target: &str) -> String {
    let (folder, name) = target.rsplit_once('/').unwrap_or(("", target));
    format!("{}/{name}", temp_dir(folder))
}

/// The target folder whose temporary folder holds `path`, if it is in one.
fn temp_owner(path: &str) -> Option<&str> {
    let dir = parent(path);
    let (folder, name) = dir.rsplit_once('/')?;
    (name == TEMP_DIR).then_some(folder)
}

/// `IMG_1.jpg` -> `IMG_1 (n).jpg`; a dot at the start of the name is not an extension.
pub fn numbered_name(path: &str, n: u32) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    format!("{dir}/{stem} ({n}){ext}")
}

/// The fewest folders whose trees hold all `folders`.
fn covering_roots(folders: &BTreeSet<String>) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for folder in folders {
        // Sorted order puts a folder before everything inside it.
        let inside = roots
            .iter()
            .any(|r| folder.starts_with(&format!("{r}/")) || folder == r);
        if !inside {
            roots.push(folder.clone());
        }
    }
    roots
}

/// Existing regular files under `roots`: path -> (size, mtime).
fn existing_files(handset: &Handset, roots: &[String]) -> Result<HashMap<String, (u64, i64)>> {
    if roots.is_empty() {
        return Ok(HashMap::new());
    }
    let run = helper::list(handset, roots)?;
    Ok(run
        .listing
        .files
        .into_iter()
        .map(|f| (f.path, (f.size, f.mtime)))
        .collect())
}

/// Plans a restore of what `options` selects from `archives` onto `handset`.
///
/// # Errors
/// Transport errors; helper errors while listing or hashing what is on the phone; an
/// error reading the free space; `Cancelled` when `options.cancel` trips.
pub fn plan(
    handset: &Handset,
    archives: &[ArchiveReader],
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<Plan> {
    let handset = &handset.with_cancel(&options.cancel);
    progress.event(Event::Phase {
        name: "planning",
        items: 0,
        bytes: 0,
    });
    let sdk = handset.identity().sdk;
    let (by_target, refused) = select_records(archives, &options.matcher, sdk);
    let folders: BTreeSet<String> = by_target.keys().map(|t| parent(t).to_string()).collect();
    let existing = existing_files(handset, &covering_roots(&folders))?;
    options.cancel.check()?;
    let mut leftovers: Vec<String> = existing
        .keys()
        .filter(|p| temp_owner(p).is_some_and(|f| folders.contains(f)))
        .cloned()
        .collect();
    leftovers.sort();

    // Same-size files on the phone (the target, and for keep-both its numbered variants)
    // are hashed in one batch to tell identical files from conflicts.
    let mut to_hash: BTreeSet<String> = BTreeSet::new();
    for (target, (_, record)) in &by_target {
        let size = record.item.size;
        if existing.get(target).is_some_and(|(s, _)| *s == size) {
            to_hash.insert(target.clone());
        }
        if existing.contains_key(target) && options.on_conflict == OnConflict::KeepBoth {
            let mut n = 1;
            loop {
                let variant = numbered_name(target, n);
                match existing.get(&variant) {
                    Some((s, _)) => {
                        if *s == size {
                            to_hash.insert(variant);
                        }
                    }
                    None => break,
                }
                n += 1;
            }
        }
    }
    let to_hash: Vec<String> = to_hash.into_iter().collect();
    let hashes: HashMap<String, String> = to_hash
        .iter()
        .cloned()
        .zip(hash_files(handset, &to_hash)?)
        .collect();
    options.cancel.check()?;
    let same = |path: &str, record: &ItemRecord| {
        hashes
            .get(path)
            .is_some_and(|h| !h.is_empty() && h.eq_ignore_ascii_case(&record.sha256))
    };

    let mut taken: BTreeSet<String> = by_target.keys().cloned().collect();
    let mut items = Vec::with_capacity(by_target.len());
    for (target, (archive, record)) in by_target {
        let (action, target) = if !existing.contains_key(&target) {
            (Action::Push, target)
        } else if same(&target, &record) {
            (Action::Identical, target)
        } else {
            match options.on_conflict {
                OnConflict::Skip => (Action::SkipConflict, target),
                OnConflict::Overwrite => (Action::Overwrite, target),
                OnConflict::KeepBoth => keep_both(&target, &record, &existing, &mut taken, same),
            }
        };
        items.push(PlannedItem {
            archive,
            from: record.item.path.clone(),
            source: record.item.source,
            size: record.item.size,
            record,
            target,
            action,
        });
    }
    let mut per_source: BTreeMap<Source, SourceTotals> = BTreeMap::new();
    for item in &items {
        let totals = per_source.entry(item.source).or_default();
        totals.items += 1;
        totals.bytes += item.size;
        if item.action.pushes() {
            totals.to_push += 1;
            totals.push_bytes += item.size;
        }
    }
    let needed = per_source.values().map(|t| t.push_bytes).sum();
    let free = handset.storage()?.free;
    progress.event(Event::PhaseDone);
    Ok(Plan {
        serial: handset.serial().to_string(),
        sdk,
        items,
        refused,
        per_source,
        needed,
        free,
        leftovers,
    })
}

/// Selected records by target path (later archives win for the same target: they were
/// given later, usually newer), and the records refused for unsafe names.
fn select_records(
    archives: &[ArchiveReader],
    matcher: &Matcher,
    sdk: u32,
) -> (BTreeMap<String, (usize, ItemRecord)>, Vec<FailedItem>) {
    let mut refused = Vec::new();
    let mut by_target: BTreeMap<String, (usize, ItemRecord)> = BTreeMap::new();
    for (index, archive) in archives.iter().enumerate() {
        for record in &archive.manifest().items {
            if !matcher.matches(&record.item) {
                continue;
            }
            match target_path(record.item.source, &record.item.rel_path, sdk) {
                Ok(target) => {
                    by_target.insert(target, (index, record.clone()));
                }
                Err(err) => refused.push(FailedItem {
                    path: record.item.path.clone(),
                    message: err.to_string(),
                }),
            }
        }
    }
    (by_target, refused)
}

/// Keep-both for one conflicting item: an identical numbered copy from an earlier restore
/// counts as already there; else the first free numbered name.
fn keep_both(
    target: &str,
    record: &ItemRecord,
    existing: &HashMap<String, (u64, i64)>,
    taken: &mut BTreeSet<String>,
    same: impl Fn(&str, &ItemRecord) -> bool,
) -> (Action, String) {
    let mut n = 1;
    loop {
        let variant = numbered_name(target, n);
        if existing.contains_key(&variant) {
            if same(&variant, record) {
                return (Action::Identical, variant);
            }
        } else if taken.insert(variant.clone()) {
            return (Action::KeepBoth, variant);
        }
        n += 1;
    }
}

/// Pushes what `plan` says, checks it on the phone, moves it into place and asks the
/// Gallery to rescan the folders.
///
/// # Errors
/// `NoSpace` when the plan does not fit (before anything is pushed); transport and helper
/// errors outside the push itself. A phone that goes away during the push is not an error:
/// the report's `stopped` says so, and nothing half-written sits under a real name.
pub fn execute(
    handset: &Handset,
    archives: &mut [ArchiveReader],
    plan: &Plan,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let handset = &handset.with_cancel(&options.cancel);
    plan.check_space()?;
    let mut report = RestoreReport {
        restored: Vec::new(),
        skipped: plan.count(Action::Identical),
        conflicts: plan.conflicts(),
        failed: plan.refused.clone(),
        bytes: 0,
        not_attempted: 0,
        stopped: None,
        removed_leftovers: Vec::new(),
        scanned_folders: Vec::new(),
        chats: false,
    };
    if !plan.leftovers.is_empty() {
        let dirs: BTreeSet<String> = plan
            .leftovers
            .iter()
            .map(|p| parent(p).to_string())
            .collect();
        run_batched(handset, "rm -rf --", &dirs.into_iter().collect::<Vec<_>>())?;
        report.removed_leftovers.clone_from(&plan.leftovers);
    }
    let work: Vec<&PlannedItem> = plan.items.iter().filter(|i| i.action.pushes()).collect();
    if work.is_empty() {
        return Ok(report);
    }
    progress.event(Event::Phase {
        name: "restore",
        items: work.len() as u64,
        bytes: work.iter().map(|i| i.size).sum(),
    });
    let verified = push_and_verify(handset, archives, &work, progress, &mut report);
    progress.event(Event::PhaseDone);
    for (k, message) in verified.failed {
        report.failed.push(FailedItem {
            path: work[k].from.clone(),
            message,
        });
    }
    report.not_attempted += verified.unchecked;
    if let Some(err) = verified.error {
        report.stopped.get_or_insert(err);
    }
    if matches!(report.stopped, Some(Error::Cancelled)) {
        // Cancelled on purpose, so the phone still answers: take the temporary folders
        // away now, on a fresh token (the job's is tripped) and briefly.
        let folders: BTreeSet<&str> = work.iter().map(|i| parent(&i.target)).collect();
        let _ = remove_temp_dirs(&handset.finishing(), &folders);
    }
    if report.stopped.is_some() {
        // The phone is gone: what was not moved stays in the temporary folders, which
        // the next run removes.
        report.not_attempted += verified.placed.len();
        return Ok(report);
    }
    let folders: BTreeSet<&str> = work.iter().map(|i| parent(&i.target)).collect();
    let stuck = match remove_temp_dirs(handset, &folders) {
        // Cancelled after the last push: the moves are done, so finish tidying up (and
        // report what is in place) rather than lose the report.
        Err(Error::Cancelled) => remove_temp_dirs(&handset.finishing(), &folders)?,
        other => other?,
    };
    for k in verified.placed {
        let item = work[k];
        if stuck.contains(&temp_path(&item.target)) {
            report.failed.push(FailedItem {
                path: item.from.clone(),
                message: "could not be moved into place (a file appeared under its name during \
                          the restore, and was left alone)"
                    .into(),
            });
            continue;
        }
        report.bytes += item.size;
        report.chats |= item.record.item.kind == Kind::Database;
        report.restored.push(RestoredItem {
            from: item.from.clone(),
            target: item.target.clone(),
            size: item.size,
        });
    }
    let scanner = if options.cancel.is_cancelled() {
        report.stopped = Some(Error::Cancelled);
        // What was put in place stays hidden from the Gallery without a rescan: ask for it
        // even after a cancel (quick, and bounded).
        handset.finishing()
    } else {
        handset.clone()
    };
    let scanned: BTreeSet<String> = report
        .restored
        .iter()
        .map(|r| parent(&r.target).to_string())
        .collect();
    report.scanned_folders = scanned.into_iter().collect();
    request_scan(&scanner, &report.scanned_folders, plan.sdk)?;
    Ok(report)
}

/// What the checking thread did.
#[derive(Default)]
struct Verified {
    /// Items checked and moved to their real names.
    placed: Vec<usize>,
    /// Items whose copy on the phone was wrong, and why.
    failed: Vec<(usize, String)>,
    /// Items that arrived but could not be checked (the phone stopped answering).
    unchecked: usize,
    error: Option<Error>,
}

/// Pushes in chunks; while one chunk goes up, a second thread checks the previous one on the
/// phone (SHA-256, size, mtime) and moves it into place. Hashing on the phone costs about
/// as much as the transfer, so doing both at once keeps a restore near `adb push` speed;
/// and a cut cable loses at most the chunks in flight.
fn push_and_verify(
    handset: &Handset,
    archives: &mut [ArchiveReader],
    work: &[&PlannedItem],
    progress: &dyn Progress,
    report: &mut RestoreReport,
) -> Verified {
    let chunks = chunk_ranges(work);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<usize>>();
        let checker = scope.spawn(move || {
            let mut verified = Verified::default();
            for arrived in rx {
                if verified.error.is_some() {
                    verified.unchecked += arrived.len();
                    continue;
                }
                match verify_and_move(handset, work, &arrived) {
                    Ok((placed, failed)) => {
                        verified.placed.extend(placed);
                        verified.failed.extend(failed);
                    }
                    Err(err) => {
                        verified.unchecked += arrived.len();
                        verified.error = Some(err);
                    }
                }
            }
            verified
        });
        for range in chunks {
            let end = range.end;
            let outcomes = push_items(handset, archives, work, range.clone(), progress);
            let arrived = sort_outcomes(&outcomes.outcomes, range.start, work, report);
            if let Some(stopped) = outcomes.stopped {
                report.stopped = Some(stopped);
                report.not_attempted += arrived.len() + (work.len() - end);
                break;
            }
            // The checker hangs up only by panicking, which the join below reports.
            let _ = tx.send(arrived);
        }
        drop(tx);
        checker
            .join()
            .expect("the restore checking thread panicked")
    })
}

/// Chunks of the work list: a few MiB or a few dozen files each, so checking overlaps the
/// transfer without a round trip per file.
fn chunk_ranges(work: &[&PlannedItem]) -> Vec<std::ops::Range<usize>> {
    const CHUNK_BYTES: u64 = 4 << 20;
    const CHUNK_FILES: usize = 64;
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (k, item) in work.iter().enumerate() {
        bytes += item.size;
        if bytes >= CHUNK_BYTES || k + 1 - start >= CHUNK_FILES {
            ranges.push(start..k + 1);
            start = k + 1;
            bytes = 0;
        }
    }
    if start < work.len() {
        ranges.push(start..work.len());
    }
    ranges
}

/// Checks arrived items on the phone against the manifest and moves the good ones into
/// place; returns them, and the bad ones with why (they stay in the temporary folder).
#[allow(clippy::type_complexity)]
fn verify_and_move(
    handset: &Handset,
    work: &[&PlannedItem],
    arrived: &[usize],
) -> Result<(Vec<usize>, Vec<(usize, String)>)> {
    let temps: Vec<String> = arrived
        .iter()
        .map(|&k| temp_path(&work[k].target))
        .collect();
    let checks = check_files(handset, &temps)?;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (&k, check) in arrived.iter().zip(checks) {
        let item = &work[k].record;
        // The sync protocol carries 32-bit times; outside that range nothing better can
        // be set.
        let settable = (0..=i64::from(u32::MAX)).contains(&item.item.mtime);
        let problem = if !check.sha256.eq_ignore_ascii_case(&item.sha256) {
            Some(format!(
                "the copy on the phone has SHA-256 {:?}, the archive says {}",
                check.sha256, item.sha256
            ))
        } else if check.size != Some(item.item.size) {
            Some(format!(
                "the copy on the phone has {:?} bytes, the archive says {}",
                check.size, item.item.size
            ))
        } else if settable && check.mtime != Some(item.item.mtime) {
            Some(format!(
                "the copy on the phone has modified time {:?}, the archive says {}",
                check.mtime, item.item.mtime
            ))
        } else {
            None
        };
        match problem {
            None => good.push(k),
            Some(message) => bad.push((k, message)),
        }
    }
    move_into_place(handset, work, &good)?;
    Ok((good, bad))
}

/// The items whose push arrived; failures and items not attempted go into the report
/// (their temporary files go with the temporary folders).
fn sort_outcomes(
    outcomes: &[PushOutcome],
    first: usize,
    work: &[&PlannedItem],
    report: &mut RestoreReport,
) -> Vec<usize> {
    let mut arrived = Vec::new();
    for (j, outcome) in outcomes.iter().enumerate() {
        let k = first + j;
        match outcome {
            PushOutcome::Written => arrived.push(k),
            PushOutcome::Refused(message) | PushOutcome::SourceFailed(message) => {
                report.failed.push(FailedItem {
                    path: work[k].from.clone(),
                    message: message.clone(),
                });
            }
            PushOutcome::NotSent => report.not_attempted += 1,
        }
    }
    arrived
}

/// Streams the items of `range` from their archives to their temporary paths.
fn push_items(
    handset: &Handset,
    archives: &mut [ArchiveReader],
    work: &[&PlannedItem],
    range: std::ops::Range<usize>,
    progress: &dyn Progress,
) -> crate::adb::PushReport {
    let temps: Vec<String> = work[range.clone()]
        .iter()
        .map(|i| temp_path(&i.target))
        .collect();
    let files: Vec<PushFile<'_>> = work[range.clone()]
        .iter()
        .zip(&temps)
        .map(|(item, temp)| PushFile {
            path: temp,
            mode: FILE_MODE,
            mtime: item.record.item.mtime,
        })
        .collect();
    // No cancel check here: `push_many` stops asking for files once the handset's token
    // trips, and its socket shut down ends a file mid-way.
    let mut source = |j: usize, sink: &mut dyn Write| -> std::result::Result<(), String> {
        let item = work[range.start + j];
        progress.event(Event::ItemStarted {
            path: &item.target,
            size: item.size,
        });
        let mut entry = archives[item.archive]
            .open_entry(&item.record)
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            };
            sink.write_all(&buf[..n]).map_err(|e| e.to_string())?;
            progress.event(Event::Bytes(n as u64));
        }
        progress.event(Event::ItemDone { path: &item.target });
        Ok(())
    };
    handset.push_many(&files, &mut source)
}

/// Moves checked files from the temporary folders to their targets, one `mv` per folder
/// (a few when a folder holds many). Only `Overwrite` items replace a file that appeared
/// meanwhile (`mv -n` for the others; `remove_temp_dirs` finds what stayed).
fn move_into_place(handset: &Handset, work: &[&PlannedItem], placed: &[usize]) -> Result<()> {
    const LINE_BUDGET: usize = 16 * 1024;
    let mut by_folder: BTreeMap<(&str, bool), Vec<String>> = BTreeMap::new();
    for &k in placed {
        let overwrite = work[k].action == Action::Overwrite;
        by_folder
            .entry((parent(&work[k].target), overwrite))
            .or_default()
            .push(shell_quote(&temp_path(&work[k].target)));
    }
    let mut lines = Vec::new();
    for ((folder, overwrite), files) in &by_folder {
        let head = format!("mv -{} --", if *overwrite { 'f' } else { 'n' });
        let dest = shell_quote(&format!("{folder}/"));
        let mut line = head.clone();
        for file in files {
            if line.len() > head.len() && line.len() + file.len() + dest.len() > LINE_BUDGET {
                lines.push(format!("{line} {dest}"));
                line.clone_from(&head);
            }
            line.push(' ');
            line.push_str(file);
        }
        lines.push(format!("{line} {dest}"));
    }
    run_lines(handset, &lines)?;
    Ok(())
}

/// Removes the temporary folders; returns the files that were still in them (items that
/// failed their check, or that `mv -n` left because a file appeared under their name).
fn remove_temp_dirs(handset: &Handset, folders: &BTreeSet<&str>) -> Result<BTreeSet<String>> {
    let dirs: Vec<String> = folders.iter().map(|f| shell_quote(&temp_dir(f))).collect();
    let mut stuck = BTreeSet::new();
    for batch in budget_batches(&dirs, COMMAND_BUDGET / 2) {
        let dirs = dirs[batch].join(" ");
        let out = handset.shell(&format!(
            "find {dirs} -type f 2>/dev/null; rm -rf -- {dirs}"
        ))?;
        stuck.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(String::from),
        );
    }
    Ok(stuck)
}

/// SHA-256 of each file on the phone, lower-case hex (empty when it cannot be read).
///
/// Why not only `helper::hash`: it runs one `sha256sum` process per file, which cost more
/// than the transfer itself for a few hundred photos. One `sha256sum` over many files is
/// used instead, and the helper only for names its output cannot carry (newlines,
/// backslashes, which `sha256sum` would escape).
fn hash_files(handset: &Handset, paths: &[String]) -> Result<Vec<String>> {
    let (plain, odd): (Vec<usize>, Vec<usize>) =
        (0..paths.len()).partition(|&i| !paths[i].contains(['\n', '\\']));
    let mut hashes = vec![String::new(); paths.len()];
    let odd_paths: Vec<String> = odd.iter().map(|&i| paths[i].clone()).collect();
    for (&i, h) in odd.iter().zip(helper::hash_inline(handset, &odd_paths)?) {
        hashes[i] = h.sha256;
    }
    let lines: Vec<String> = plain.iter().map(|&i| shell_quote(&paths[i])).collect();
    let mut found: HashMap<&str, String> = HashMap::new();
    let mut outputs = Vec::new();
    for batch in budget_batches(&lines, COMMAND_BUDGET) {
        let command = format!("sha256sum -- {} 2>/dev/null", lines[batch].join(" "));
        outputs.push(handset.shell(&command)?.stdout);
    }
    let texts: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(o).into_owned())
        .collect();
    for text in &texts {
        for line in text.lines() {
            if let Some((hex, path)) = line.split_once("  ") {
                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    found.insert(path, hex.to_ascii_lowercase());
                }
            }
        }
    }
    for &i in &plain {
        if let Some(hex) = found.get(paths[i].as_str()) {
            hashes[i].clone_from(hex);
        }
    }
    Ok(hashes)
}

/// What the phone says about one pushed file.
struct FileCheck {
    /// Lower-case hex; empty when it could not be read.
    sha256: String,
    size: Option<u64>,
    mtime: Option<i64>,
}

/// SHA-256, size and mtime of each file on the phone: one shell call per batch running
/// `sha256sum` and `stat` over all of it (the helper and one `stat` each for names their
/// output cannot carry).
fn check_files(handset: &Handset, paths: &[String]) -> Result<Vec<FileCheck>> {
    let hashes = hash_files(handset, paths)?;
    let mut stats: HashMap<&str, (u64, i64)> = HashMap::new();
    let plain: Vec<&String> = paths.iter().filter(|p| !p.contains(['\n', '\\'])).collect();
    let words: Vec<String> = plain.iter().map(|p| shell_quote(p)).collect();
    let mut texts = Vec::new();
    for batch in budget_batches(&words, COMMAND_BUDGET) {
        let out = handset.shell(&format!(
            "stat -c '%s %Y %n' -- {} 2>/dev/null",
            words[batch].join(" ")
        ))?;
        texts.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    for text in &texts {
        for line in text.lines() {
            let mut parts = line.splitn(3, ' ');
            if let (Some(size), Some(mtime), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            {
                if let (Ok(size), Ok(mtime)) = (size.parse(), mtime.parse()) {
                    stats.insert(path, (size, mtime));
                }
            }
        }
    }
    let mut checks = Vec::with_capacity(paths.len());
    for (path, sha256) in paths.iter().zip(hashes) {
        let (size, mtime) = match stats.get(path.as_str()) {
            Some((size, mtime)) => (Some(*size), Some(*mtime)),
            None if !plain.contains(&path) => match handset.stat(path) {
                Ok(Some(st)) => (Some(st.size), Some(st.mtime)),
                _ => (None, None),
            },
            None => (None, None),
        };
        checks.push(FileCheck {
            sha256,
            size,
            mtime,
        });
    }
    Ok(checks)
}

/// Index ranges of `words` whose joined length stays within `budget` (at least one word
/// each).
fn budget_batches(words: &[String], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < words.len() {
        let mut len = 0;
        let mut end = start;
        while end < words.len() && (end == start || len + words[end].len() + 1 < budget) {
            len += words[end].len() + 1;
            end += 1;
        }
        batches.push(start..end);
        start = end;
    }
    batches
}

/// `file://` URI of a phone folder, percent-encoded (spaces in `WhatsApp Business`, and
/// anything else a URI cannot hold as is).
pub fn file_uri(folder: &str) -> String {
    let mut uri = String::from("file://");
    for &b in folder.as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri
}

/// Asks the media scanner to look at every folder (all SDK levels), and from Android 11 to
/// rescan the volume: without it restored files stay hidden from the Gallery.
fn request_scan(handset: &Handset, folders: &[String], sdk: u32) -> Result<()> {
    let mut lines: Vec<String> = folders
        .iter()
        .map(|folder| {
            format!(
                "am broadcast -a android.intent.action.MEDIA_SCANNER_SCAN_FILE \
                 --receiver-include-background -d {} >/dev/null",
                shell_quote(&file_uri(folder))
            )
        })
        .collect();
    if sdk >= 30 && !folders.is_empty() {
        lines.push(
            "content call --uri content://media --method scan_volume --arg external_primary \
             >/dev/null"
                .to_string(),
        );
    }
    run_lines(handset, &lines)?;
    Ok(())
}

/// Runs `lines` joined by newlines in as few shell calls as the budget allows; returns each
/// call's stdout.
fn run_lines(handset: &Handset, lines: &[String]) -> Result<Vec<Vec<u8>>> {
    let mut outputs = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let mut command = String::new();
        let mut end = start;
        while end < lines.len()
            && (end == start || command.len() + lines[end].len() + 1 < COMMAND_BUDGET)
        {
            command.push_str(&lines[end]);
            command.push('\n');
            end += 1;
        }
        let out = handset.shell(&command)?;
        outputs.push(out.stdout);
        start = end;
    }
    Ok(outputs)
}

/// Runs `PREFIX 'a' 'b' ...` over `paths` in as few calls as the budget allows.
fn run_batched(handset: &Handset, prefix: &str, paths: &[String]) -> Result<()> {
    let words: Vec<String> = paths.iter().map(|p| shell_quote(p)).collect();
    for batch in budget_batches(&words, COMMAND_BUDGET) {
        let command = format!("{prefix} {}", words[batch].join(" "));
        handset.shell_checked(&command)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_the_target_layout() {
        assert_eq!(
            target_path(Source::Gallery, "DCIM/Camera/a.jpg", 34).unwrap(),
            "/sdcard/DCIM/Camera/a.jpg"
        );
        assert_eq!(
            target_path(Source::Whatsapp, "Media/WhatsApp Images/x.jpg", 30).unwrap(),
            "/sdcard/Android/media/com.whatsapp/WhatsApp/Media/WhatsApp Images/x.jpg"
        );
        assert_eq!(
            target_path(Source::Whatsapp, "Databases/msgstore.db.crypt14", 29).unwrap(),
            "/sdcard/WhatsApp/Databases/msgstore.db.crypt14"
        );
        assert_eq!(
            target_path(Source::WhatsappBusiness, "Media/a.jpg", 34).unwrap(),
            "/sdcard/Android/media/com.whatsapp.w4b/WhatsApp Business/Media/a.jpg"
        );
        assert_eq!(
            target_path(Source::WhatsappBusiness, "Media/a.jpg", 28).unwrap(),
            "/sdcard/WhatsApp Business/Media/a.jpg"
        );
        for bad in ["../etc/x", "/abs", "a/../../b", "", "a//b", "a\0b"] {
            assert!(
                matches!(
                    target_path(Source::Gallery, bad, 34),
                    Err(Error::UnsafePath { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered_name("/d/IMG_1.jpg", 1), "/d/IMG_1 (1).jpg");
        assert_eq!(numbered_name("/d/a.tar.gz", 2), "/d/a.tar (2).gz");
        assert_eq!(numbered_name("/d/noext", 1), "/d/noext (1)");
        assert_eq!(numbered_name("/d/.hidden", 1), "/d/.hidden (1)");
    }

    #[test]
    fn temp_names_are_in_a_dot_folder_of_the_target_folder() {
        let t = temp_path("/sdcard/DCIM/Camera/a.jpg");
        assert_eq!(t, "/sdcard/DCIM/Camera/.phonevault-restore.partial/a.jpg");
        assert_eq!(temp_owner(&t), Some("/sdcard/DCIM/Camera"));
        assert_eq!(temp_owner("/sdcard/DCIM/Camera/a.jpg"), None);
    }

    #[test]
    fn batches_stay_within_the_budget() {
        let words: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
        let batches = budget_batches(&words, 10);
        assert_eq!(batches.first().unwrap().start, 0);
        assert_eq!(batches.last().unwrap().end, 10);
        for b in &batches {
            assert!(b.len() == 1 || words[b.clone()].join(" ").len() < 10);
        }
        assert_eq!(
            budget_batches(&[], 10),
            Vec::<std::ops::Range<usize>>::new()
        );
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(
            file_uri("/sdcard/WhatsApp Business/Media/it's"),
            "file:///sdcard/WhatsApp%20Business/Media/it%27s"
        );
    }

    #[test]
    fn roots_cover_nested_folders_once() {
        let folders: BTreeSet<String> = ["/a/b", "/a/b/c", "/a/bc", "/d"]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(covering_roots(&folders), vec!["/a/b", "/a/bc", "/d"]);
    }
}

//! `restore`: put archived items back onto a phone.
//!
//! Two steps, so the caller can show the plan (or stop after it, `--dry-run`):
//! [`plan`] maps every selected manifest record to a path on this handset, lists what is
//! already there in one helper call, hashes same-size files on the phone to tell identical
//! files from conflicts, and sums the space needed; [`execute`] then pushes.
//!
//! Pushing is safe against a pulled cable: every file goes under its final name into this
//! job's temporary dot-folder in its target folder (`.phonevault-restore-<job>.partial`, see
//! [`job`]; pipelined on one sync stream with its mode and mtime), its SHA-256 is checked on
//! the phone against the manifest, and only then is it moved to its real name (moves batched
//! in a few shell calls, and checked). A rerun removes the temporary folders of dead jobs,
//! never those of a job still running, and skips what is already in place.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::adb::{Handset, PushFile, PushOutcome};
use crate::archive::ArchiveReader;
use crate::backup::FailedItem;
use crate::cancel::Cancel;
use crate::catalog::{select::Matcher, Kind};
use crate::error::ErrorRecord;
use crate::helper::check_files;
pub use crate::phone_shell::file_uri;
use crate::phone_shell::request_scan;
use crate::phone_shell::{run_batched, run_lines, shell_quote};
use crate::progress::{Event, Phase, Progress};
use crate::{Error, Result};

pub mod job;
pub mod plan;

use job::Job;
use plan::parent;
pub use plan::{
    numbered_name, plan, target_path, Action, OnConflict, Placement, Plan, PlanSummary,
    PlannedItem, PlannedItemSummary, SourceTotals,
};

/// Archives do not record file modes; this is what they store for every entry.
const FILE_MODE: u32 = 0o644;

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

/// One item put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Items whose target name held a different file (kept both, overwritten, skipped, or
    /// a chat database not restored).
    pub conflicts: usize,
    /// Items that could not be restored, and why (damaged entry, refused by the phone,
    /// unsafe name, a chat database whose name holds a different file).
    pub failed: Vec<FailedItem>,
    /// Items not restored because another copy of the same phone file was restored
    /// instead (the path of that copy is in the message).
    pub superseded: Vec<FailedItem>,
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
    /// Whether chat databases were restored where WhatsApp reads them (see
    /// [`Plan::has_chats`]).
    pub chats: bool,
}

/// A restore's report as data: what `restore --json` prints (fields in `docs/json.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreSummary {
    /// How many items were put in place (they are in `items`).
    pub restored: usize,
    pub skipped: usize,
    pub conflicts: usize,
    /// How many items could not be restored (they are in `failures`).
    pub failed: usize,
    pub bytes: u64,
    pub items: Vec<RestoredItem>,
    pub failures: Vec<FailedItem>,
    pub superseded: Vec<FailedItem>,
    pub not_attempted: usize,
    /// Why the restore stopped early, in words (`"cancelled"` for a cancellation).
    pub stopped: Option<String>,
    /// The same, as data (`kind` is for code).
    pub stopped_error: Option<ErrorRecord>,
    pub removed_leftovers: Vec<String>,
    pub scanned_folders: Vec<String>,
    pub chats: bool,
}

impl RestoreReport {
    /// The report as data (what `restore --json` prints).
    pub fn summary(&self) -> RestoreSummary {
        RestoreSummary {
            restored: self.restored.len(),
            skipped: self.skipped,
            conflicts: self.conflicts,
            failed: self.failed.len(),
            bytes: self.bytes,
            items: self.restored.clone(),
            failures: self.failed.clone(),
            superseded: self.superseded.clone(),
            not_attempted: self.not_attempted,
            stopped: self.stopped.as_ref().map(ToString::to_string),
            stopped_error: self.stopped.as_ref().map(Error::record),
            removed_leftovers: self.removed_leftovers.clone(),
            scanned_folders: self.scanned_folders.clone(),
            chats: self.chats,
        }
    }

    /// Whether every selected item is now on the phone (restored, identical, or skipped
    /// on purpose).
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.stopped.is_none() && self.not_attempted == 0
    }
}

/// The temporary folder named `temp_name` of a target folder.
pub fn temp_dir(folder: &str, temp_name: &str) -> String {
    format!("{folder}/{temp_name}")
}

/// The temporary path an item is pushed to: its final name in the target folder's
/// temporary folder. Restored files start there: the Gallery and WhatsApp never look into
/// dot-folders, so no half-written file is ever seen; the move to the real name stays on
/// one file system, and one `mv` per folder moves all its files.
pub fn temp_path(target: &str, temp_name: &str) -> String {
    let (folder, name) = target.rsplit_once('/').unwrap_or(("", target));
    format!("{}/{name}", temp_dir(folder, temp_name))
}

/// Pushes what `plan` says, checks it on the phone, moves it into place and asks the
/// Gallery to rescan the folders.
///
/// # Errors
/// `NoSpace` when the plan does not fit (before anything is pushed); `Io` when the job's
/// lock cannot be taken; transport and helper errors outside the push itself. A phone that
/// goes away during the push is not an error: the report's `stopped` says so, and nothing
/// half-written sits under a real name.
pub fn execute(
    handset: &Handset,
    archives: &mut [ArchiveReader],
    plan: &Plan,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let handset = &handset.with_cancel(&options.cancel);
    plan.check_space()?;
    let mut report = report_from_plan(plan);
    if !plan.stale_dirs.is_empty() {
        run_batched(handset, "rm -rf --", &plan.stale_dirs)?;
        for dir in &plan.stale_dirs {
            if let Some(job::TempFolder::Dead { id }) = dir.rsplit('/').next().map(job::classify) {
                job::forget(&id);
            }
        }
        report.removed_leftovers.clone_from(&plan.leftovers);
    }
    let work: Vec<&PlannedItem> = plan.items.iter().filter(|i| i.action.pushes()).collect();
    if work.is_empty() {
        return Ok(report);
    }
    let job = Job::start()?;
    let temp_name = job.temp_name();
    progress.event(Event::Phase {
        name: Phase::Restore,
        items: work.len() as u64,
        bytes: work.iter().map(|i| i.size).sum(),
    });
    let verified = push_and_verify(handset, archives, &work, &temp_name, progress, &mut report);
    progress.event(Event::PhaseDone {
        name: Phase::Restore,
    });
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
    // What was checked and seen under its real name is restored, even when the phone went
    // away later.
    for &k in &verified.placed {
        let item = work[k];
        report.bytes += item.size;
        report.chats |=
            item.record.item.kind == Kind::Database && item.placement == Placement::Live;
        report.restored.push(RestoredItem {
            from: item.from.clone(),
            target: item.target.clone(),
            size: item.size,
        });
    }
    if matches!(report.stopped, Some(Error::Cancelled)) {
        // Cancelled on purpose, so the phone still answers: take the temporary folders
        // away now, on a fresh token (the job's is tripped) and briefly.
        let folders: BTreeSet<&str> = work.iter().map(|i| parent(&i.target)).collect();
        let _ = remove_temp_dirs(&handset.finishing(), &folders, &temp_name);
    }
    if report.stopped.is_some() {
        // The phone is gone: the temporary folders stay, and the next run removes them
        // (this job's lock is gone by then).
        return Ok(report);
    }
    let folders: BTreeSet<&str> = work.iter().map(|i| parent(&i.target)).collect();
    match remove_temp_dirs(handset, &folders, &temp_name) {
        // Cancelled after the last push: the moves are done, so finish tidying up (and
        // report what is in place) rather than lose the report.
        Err(Error::Cancelled) => remove_temp_dirs(&handset.finishing(), &folders, &temp_name)?,
        other => other?,
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

/// The report before anything is pushed: what the plan already decided.
fn report_from_plan(plan: &Plan) -> RestoreReport {
    let mut report = RestoreReport {
        restored: Vec::new(),
        skipped: plan.count(Action::Identical),
        conflicts: plan.conflicts(),
        failed: plan.refused.clone(),
        superseded: Vec::new(),
        bytes: 0,
        not_attempted: 0,
        stopped: None,
        removed_leftovers: Vec::new(),
        scanned_folders: Vec::new(),
        chats: false,
    };
    for item in &plan.items {
        match item.action {
            Action::ChatConflict => report.failed.push(FailedItem {
                path: item.from.clone(),
                message: Error::ChatDatabaseConflict {
                    target: item.target.clone(),
                }
                .to_string(),
            }),
            Action::Superseded => report.superseded.push(FailedItem {
                path: item.from.clone(),
                message: "another copy of this file (newer, or from a later archive) was \
                          restored instead"
                    .into(),
            }),
            _ => {}
        }
    }
    report
}

/// What the checking thread did.
#[derive(Default)]
struct Verified {
    /// Items checked and seen under their real names.
    placed: Vec<usize>,
    /// Items whose copy on the phone was wrong or could not be moved, and why.
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
    temp_name: &str,
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
                match verify_and_move(handset, work, &arrived, temp_name) {
                    Ok((placed, failed)) => {
                        for &k in &placed {
                            progress.event(Event::done(k, &work[k].target));
                        }
                        for (k, message) in &failed {
                            progress.event(Event::failed(*k, &work[*k].target, message));
                        }
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
            let outcomes = push_items(handset, archives, work, range.clone(), temp_name, progress);
            let arrived = sort_outcomes(&outcomes.outcomes, range.start, work, report, progress);
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
/// place; returns those seen to have left the temporary folder, and the others with why
/// (bad copies stay in the temporary folder).
#[allow(clippy::type_complexity)]
fn verify_and_move(
    handset: &Handset,
    work: &[&PlannedItem],
    arrived: &[usize],
    temp_name: &str,
) -> Result<(Vec<usize>, Vec<(usize, String)>)> {
    let temps: Vec<String> = arrived
        .iter()
        .map(|&k| temp_path(&work[k].target, temp_name))
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
    let stuck = move_into_place(handset, work, &good, temp_name)?;
    let mut placed = Vec::with_capacity(good.len());
    for k in good {
        if stuck.contains(&k) {
            bad.push((
                k,
                "could not be moved into place (a file appeared under its name during the \
                 restore, and was left alone)"
                    .into(),
            ));
        } else {
            placed.push(k);
        }
    }
    Ok((placed, bad))
}

/// The items whose push arrived; failures and items not attempted go into the report
/// (their temporary files go with the temporary folders).
fn sort_outcomes(
    outcomes: &[PushOutcome],
    first: usize,
    work: &[&PlannedItem],
    report: &mut RestoreReport,
    progress: &dyn Progress,
) -> Vec<usize> {
    let mut arrived = Vec::new();
    for (j, outcome) in outcomes.iter().enumerate() {
        let k = first + j;
        match outcome {
            PushOutcome::Written => arrived.push(k),
            PushOutcome::Refused(message) | PushOutcome::SourceFailed(message) => {
                progress.event(Event::failed(k, &work[k].target, message));
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
    temp_name: &str,
    progress: &dyn Progress,
) -> crate::adb::PushReport {
    let temps: Vec<String> = work[range.clone()]
        .iter()
        .map(|i| temp_path(&i.target, temp_name))
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
        progress.event(Event::started(range.start + j, &item.target, item.size));
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
            progress.event(Event::Bytes { bytes: n as u64 });
        }
        // Not done yet: `ItemDone` comes once the copy is checked and under its real name.
        Ok(())
    };
    handset.push_many(&files, &mut source)
}

/// Moves checked files from the temporary folders to their targets, one `mv` per folder
/// (a few when a folder holds many). Only `Overwrite` items replace a file that appeared
/// meanwhile (`mv -n` for the others). Returns the items still in the temporary folder
/// afterwards (checked in the same shell calls, by index, so no name is parsed back).
fn move_into_place(
    handset: &Handset,
    work: &[&PlannedItem],
    placed: &[usize],
    temp_name: &str,
) -> Result<BTreeSet<usize>> {
    const LINE_BUDGET: usize = 16 * 1024;
    let mut by_folder: BTreeMap<(&str, bool), Vec<String>> = BTreeMap::new();
    for &k in placed {
        let overwrite = work[k].action == Action::Overwrite;
        by_folder
            .entry((parent(&work[k].target), overwrite))
            .or_default()
            .push(shell_quote(&temp_path(&work[k].target, temp_name)));
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
    // After every move: which temporary files are still there.
    for &k in placed {
        lines.push(format!(
            "[ -e {} ] && echo {k}",
            shell_quote(&temp_path(&work[k].target, temp_name))
        ));
    }
    let outputs = run_lines(handset, &lines)?;
    let mut stuck = BTreeSet::new();
    for output in &outputs {
        for line in String::from_utf8_lossy(output).lines() {
            if let Ok(k) = line.trim().parse::<usize>() {
                stuck.insert(k);
            }
        }
    }
    Ok(stuck)
}

/// Removes this job's temporary folders (with the bad copies still in them).
fn remove_temp_dirs(handset: &Handset, folders: &BTreeSet<&str>, temp_name: &str) -> Result<()> {
    let dirs: Vec<String> = folders.iter().map(|f| temp_dir(f, temp_name)).collect();
    run_batched(handset, "rm -rf --", &dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_in_the_jobs_dot_folder_of_the_target_folder() {
        let t = temp_path(
            "/sdcard/DCIM/Camera/a.jpg",
            ".phonevault-restore-7-ab-0.partial",
        );
        assert_eq!(
            t,
            "/sdcard/DCIM/Camera/.phonevault-restore-7-ab-0.partial/a.jpg"
        );
    }
}

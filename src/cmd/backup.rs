//! `phonevault backup`: copy what is new on the phone into an archive in the backup folder.

use std::io::Write as _;
use std::time::Duration;

use phonevault::backup::{self, BackupOptions, BackupReport};
use phonevault::catalog::CatalogOptions;
use phonevault::escape::{for_terminal, path_for_terminal};
use phonevault::json::{to_text, Versioned};
use phonevault::preview::PreviewCache;
use phonevault::Error;

use crate::cli::{BackupArgs, GlobalArgs};
use crate::cmd::bars::Bars;
use crate::cmd::selection::selection;
use crate::cmd::{human, interrupt, open_handset, password, Exit};

pub fn run(args: &BackupArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let matcher = selection(&args.selection)?.compile()?;
    let handset = open_handset(global)?;
    let folder = match &args.to {
        Some(dir) => dir.clone(),
        None => backup::default_folder(&handset.identity().serial)?,
    };
    let password = if args.encrypt {
        Some(password::for_new_archive(&args.password)?)
    } else {
        password::given(&args.password)?
    };
    let bars = Bars::new(global.quiet);
    let report = backup::run(
        &handset,
        &BackupOptions {
            folder: folder.clone(),
            matcher,
            password,
            catalog: CatalogOptions::default(),
            // A second Ctrl-C while the archive is being finished changes nothing on purpose:
            // finishing takes a moment and leaves a valid archive.
            cancel: interrupt().clone(),
            lock_wait: Duration::from_secs(args.lock_wait),
            fresh_copy: args.fresh_copy,
            previews: PreviewCache::for_handset(&handset.identity().serial).ok(),
        },
        &bars,
    );
    // A busy folder is reported like any error; `print_error` adds what to type about it.
    let report = report?;
    if args.json {
        print_json(&report);
    } else {
        print_text(&report, &folder);
    }
    Ok(match &report.stopped {
        Some(Error::Cancelled) => Exit::Interrupted,
        _ if report.is_complete() => Exit::Success,
        _ => Exit::Partial,
    })
}

fn print_json(report: &BackupReport) {
    let text = to_text(&Versioned::new(report.summary()));
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_text(report: &BackupReport, folder: &std::path::Path) {
    let mut out = std::io::stdout().lock();
    for partial in &report.removed_partials {
        let _ = writeln!(
            out,
            "Removed an unfinished archive from an earlier run: {}",
            partial.display()
        );
    }
    match &report.archive {
        Some(archive) => {
            let _ = writeln!(
                out,
                "Backed up {} items ({}) to {}",
                report.items,
                human::size(report.bytes),
                archive.display()
            );
            if report.skipped > 0 {
                let _ = writeln!(
                    out,
                    "Skipped {} items already in earlier backups.",
                    report.skipped
                );
            }
            if report.recopied_damaged > 0 {
                let _ = writeln!(
                    out,
                    "Copied {} items again: their only earlier copy was found damaged by verify.",
                    report.recopied_damaged
                );
            }
            if report.reread > 0 {
                let _ = writeln!(
                    out,
                    "Read {} items twice: they changed on the phone while they were copied.",
                    report.reread
                );
            }
        }
        None if report.stopped.is_none() && report.failed.is_empty() => {
            let _ = writeln!(
                out,
                "Nothing new: all {} selected items are already backed up in {} (0 bytes copied).",
                report.selected,
                folder.display()
            );
        }
        None => {
            let _ = writeln!(out, "No archive was written: no item arrived whole.");
        }
    }
    if !report.failed.is_empty() {
        let _ = writeln!(
            out,
            "Could not back up {} items (they stay on the phone; the next backup tries again):",
            report.failed.len()
        );
        for failed in &report.failed {
            let _ = writeln!(
                out,
                "  {}: {}",
                path_for_terminal(&failed.path),
                for_terminal(&failed.message)
            );
        }
    }
    for folder in &report.unreadable_folders {
        let _ = writeln!(
            out,
            "Folder could not be read, its files were not backed up: {}",
            for_terminal(folder)
        );
    }
    if let Some(stopped) = &report.stopped {
        let _ = writeln!(
            out,
            "The backup stopped early ({stopped}). What arrived whole is saved; {} items were not \
             copied: run the same command again to copy them.",
            report.not_attempted
        );
    }
}

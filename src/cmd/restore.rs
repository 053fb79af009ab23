//! `phonevault restore`: put archived items back onto a phone.

use std::io::Write as _;

use phonevault::archive::ArchiveReader;
use phonevault::escape::for_terminal;
use phonevault::json::{to_text, Versioned};
use phonevault::restore::{
    self, Action, OnConflict, Placement, Plan, RestoreOptions, RestoreReport,
};

use crate::cli::{self, GlobalArgs, RestoreArgs};
use crate::cmd::bars::Bars;
use crate::cmd::selection::selection;
use crate::cmd::{human, interrupt, open_handset, password, Exit};

impl From<cli::OnConflict> for OnConflict {
    fn from(arg: cli::OnConflict) -> OnConflict {
        match arg {
            cli::OnConflict::Skip => OnConflict::Skip,
            cli::OnConflict::KeepBoth => OnConflict::KeepBoth,
            cli::OnConflict::Overwrite => OnConflict::Overwrite,
        }
    }
}

pub fn run(args: &RestoreArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let matcher = selection(&args.selection)?.compile()?;
    // Every archive is opened (and its password checked) before the phone is touched.
    let mut archives: Vec<ArchiveReader> = args
        .archives
        .iter()
        .map(|path| password::open_archive(path, &args.password))
        .collect::<phonevault::Result<_>>()?;
    let handset = open_handset(global)?;
    let options = RestoreOptions {
        matcher,
        on_conflict: args.on_conflict.into(),
        cancel: interrupt().clone(),
    };
    let bars = Bars::new(global.quiet);
    let plan = restore::plan(&handset, &archives, &options, &bars)?;
    if args.dry_run {
        if args.json {
            print_plan_json(&plan);
        } else {
            print_plan(&plan);
        }
        plan.check_space()?;
        return Ok(Exit::Success);
    }
    if !args.json {
        print_plan(&plan);
    }
    let report = restore::execute(&handset, &mut archives, &plan, &options, &bars)?;
    if args.json {
        print_json(&report);
    } else {
        print_text(&plan, &report);
    }
    Ok(match &report.stopped {
        _ if options.cancel.is_cancelled() => Exit::Interrupted,
        _ if report.is_complete() => Exit::Success,
        _ => Exit::Partial,
    })
}

fn print_plan(plan: &Plan) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Restore plan for handset {} (Android SDK {}):",
        for_terminal(&plan.serial),
        plan.sdk
    );
    for (source, totals) in &plan.per_source {
        let _ = writeln!(
            out,
            "  {:<18} {:>5} items {:>10}, to copy: {:>5} items {:>10}",
            source.as_str(),
            totals.items,
            human::size(totals.bytes),
            totals.to_push,
            human::size(totals.push_bytes)
        );
    }
    let _ = writeln!(
        out,
        "  already there: {}; conflicts: {} kept under a new name, {} overwritten, {} left alone",
        plan.count(Action::Identical),
        plan.count(Action::KeepBoth),
        plan.count(Action::Overwrite),
        plan.count(Action::SkipConflict)
    );
    let chat_conflicts = plan.count(Action::ChatConflict);
    if chat_conflicts > 0 {
        let _ = writeln!(
            out,
            "  chat databases not restored: {chat_conflicts} (a different one is on the phone \
             under the same name; chat databases are never renamed)"
        );
    }
    let other_layout = plan
        .items
        .iter()
        .filter(|i| i.placement == Placement::OtherLayout && i.action.pushes())
        .count();
    if other_layout > 0 {
        let _ = writeln!(
            out,
            "  names in both WhatsApp layouts: {other_layout} (the newer copy of each goes where \
             WhatsApp reads it, the other keeps its name in the other layout's folder)"
        );
    }
    let superseded = plan.count(Action::Superseded);
    if superseded > 0 {
        let _ = writeln!(
            out,
            "  older copies of the same file, not restored: {superseded} (a newer copy is)"
        );
    }
    let _ = writeln!(
        out,
        "  space needed: {} ({} bytes), free on the phone: {} ({} bytes){}",
        human::size(plan.needed),
        plan.needed,
        human::size(plan.free),
        plan.free,
        if plan.fits() { "" } else { "  DOES NOT FIT" }
    );
    for refused in &plan.refused {
        let _ = writeln!(
            out,
            "  refused: {}: {}",
            for_terminal(&refused.path),
            for_terminal(&refused.message)
        );
    }
}

fn print_plan_json(plan: &Plan) {
    let text = to_text(&Versioned::new(plan.summary()));
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_json(report: &RestoreReport) {
    let text = to_text(&Versioned::new(report.summary()));
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_text(plan: &Plan, report: &RestoreReport) {
    let mut out = std::io::stdout().lock();
    if !report.removed_leftovers.is_empty() {
        let _ = writeln!(
            out,
            "Removed {} temporary files left by an earlier, interrupted restore.",
            report.removed_leftovers.len()
        );
    }
    let _ = writeln!(
        out,
        "Restored {} items ({}); {} already there; {} conflicts.",
        report.restored.len(),
        human::size(report.bytes),
        report.skipped,
        report.conflicts
    );
    if !report.failed.is_empty() {
        let _ = writeln!(out, "Could not restore {} items:", report.failed.len());
        for failed in &report.failed {
            let _ = writeln!(
                out,
                "  {}: {}",
                for_terminal(&failed.path),
                for_terminal(&failed.message)
            );
        }
        if plan.count(Action::ChatConflict) > 0 {
            let _ = writeln!(
                out,
                "To restore a chat database that was not restored: move the phone's file of \
                 that name away and run the same command again, or run it again with \
                 --on-conflict overwrite to replace the phone's file (its chats are then lost)."
            );
        }
    }
    for superseded in &report.superseded {
        let _ = writeln!(
            out,
            "Not restored: {}: {}",
            for_terminal(&superseded.path),
            for_terminal(&superseded.message)
        );
    }
    if let Some(stopped) = &report.stopped {
        let _ = writeln!(
            out,
            "The restore stopped early ({}). Nothing half-written is under a real name; {} items \
             were not restored: run the same command again to finish.",
            for_terminal(&stopped.to_string()),
            report.not_attempted
        );
    }
    if !report.scanned_folders.is_empty() {
        let _ = writeln!(
            out,
            "Asked the phone to rescan {} folders so the Gallery shows the restored items.",
            report.scanned_folders.len()
        );
    }
    if report.chats {
        let _ = writeln!(
            out,
            "WhatsApp chats were restored (Databases/). To have WhatsApp offer them:\n  \
             1. Install WhatsApp and do not open it. (If it was already set up, uninstall it, \
             install it again and run this restore again: uninstalling deletes its folder.)\n  \
             2. Restore (done).\n  \
             3. Open WhatsApp and verify the same phone number the backup came from; when it \
             offers to restore the backup found on the phone, accept."
        );
    }
}

//! `phonevault verify`, `show` and `extract`: reading archives back.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use chrono::Datelike;
use phonevault::archive::{EntryProblem, ExtractReport, Extracted, ItemRecord};
use phonevault::escape::for_terminal;
use phonevault::json::{to_text, versioned_list, Versioned};

use crate::cli::{ArchiveArgs, ExtractArgs, GlobalArgs, ShowArgs};
use crate::cmd::bars::Bars;
use crate::cmd::password::open_archive;
use crate::cmd::selection::selection;
use crate::cmd::Exit;

pub fn verify(args: &ArchiveArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let mut reader = open_archive(&args.archive, &args.password)?;
    let bars = Bars::new(global.quiet);
    let report = reader.verify(&bars)?;
    // Clear the bar before the report is printed.
    drop(bars);
    // Kept beside the archive, so the next backup into its folder copies damaged items again.
    let damaged: Vec<String> = report.problems.iter().map(|p| p.entry.clone()).collect();
    if let Err(err) = phonevault::archive::record_verify(&args.archive, &damaged) {
        let _ = writeln!(
            std::io::stderr(),
            "phonevault: warning: {}",
            for_terminal(&err.to_string())
        );
    }
    let shown = for_terminal(&args.archive.display().to_string()).into_owned();
    let mut out = std::io::stdout().lock();
    if args.json {
        let summary = report.summary(&args.archive, reader.manifest().items.len());
        let _ = out.write_all(to_text(&Versioned::new(summary)).as_bytes());
    } else {
        for problem in &report.problems {
            let _ = writeln!(
                out,
                "BAD  {}: {}",
                for_terminal(&problem.entry),
                for_terminal(&problem.detail)
            );
        }
        if report.is_clean() {
            let _ = writeln!(
                out,
                "{shown}: all {} items are intact ({} bytes checked)",
                report.good, report.bytes
            );
        } else {
            let _ = writeln!(
                out,
                "{shown}: {} of {} entries are damaged or missing; {} items are intact",
                report.problems.len(),
                report.problems.len() + report.good,
                report.good
            );
        }
    }
    Ok(outcome(report.good, &report.problems))
}

pub fn show(args: &ShowArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let _ = global;
    let reader = open_archive(&args.archive.archive, &args.archive.password)?;
    let filter = selection(&args.selection)?.compile()?;
    let manifest = reader.manifest();
    let records: Vec<&ItemRecord> = manifest
        .items
        .iter()
        .filter(|r| filter.matches(&r.item))
        .collect();
    // What the zip's directory says against the manifest (no item is read: `verify` does
    // that). In JSON mode the list stays alone on stdout and the problems go to stderr.
    let problems = reader.directory_problems();
    let shown_problems = problems.iter().fold(String::new(), |mut text, p| {
        let _ = writeln!(
            text,
            "BAD  {}: {}",
            for_terminal(&p.entry),
            for_terminal(&p.detail)
        );
        text
    });
    let exit = if problems.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    };
    let mut out = std::io::stdout().lock();
    if args.archive.json {
        let _ = out.write_all(to_text(&versioned_list(records)).as_bytes());
        let _ = std::io::stderr().write_all(shown_problems.as_bytes());
        return Ok(exit);
    }
    let h = &manifest.handset;
    let _ = writeln!(
        out,
        "{} {} ({}), Android {}, backed up {} UTC{}",
        for_terminal(&h.manufacturer),
        for_terminal(&h.model),
        for_terminal(&h.serial),
        for_terminal(&h.android_version),
        manifest.created.format("%Y-%m-%d %H:%M:%S"),
        if manifest.encrypted {
            ", encrypted"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "{:<17} {:<16} {:<8} {:>12}  {:<16}  ENTRY",
        "SOURCE", "ALBUM", "KIND", "SIZE", "MODIFIED (UTC)"
    );
    for record in &records {
        let item = &record.item;
        let modified = modified_for_people(item.mtime);
        let _ = writeln!(
            out,
            "{:<17} {:<16} {:<8} {:>12}  {:<16}  {}",
            item.source.as_str(),
            for_terminal(&item.album),
            item.kind.as_str(),
            item.size,
            modified,
            for_terminal(&record.entry)
        );
    }
    let _ = writeln!(
        out,
        "{} of {} items, {} bytes",
        records.len(),
        manifest.items.len(),
        records.iter().map(|r| r.item.size).sum::<u64>()
    );
    if !problems.is_empty() {
        let _ = out.write_all(shown_problems.as_bytes());
        let _ = writeln!(
            out,
            "{} entries disagree with the manifest or are unsafe (`verify` reads every item)",
            problems.len()
        );
    }
    Ok(exit)
}

pub fn extract(args: &ExtractArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let mut reader = open_archive(&args.archive, &args.password)?;
    let filter = selection(&args.selection)?.compile()?;
    let bars = Bars::new(global.quiet);
    let report = reader.extract(
        &args.to,
        &mut |record| filter.matches(&record.item),
        args.on_conflict.into(),
        &bars,
    )?;
    // Clear the bar before the report is printed.
    drop(bars);
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = out.write_all(to_text(&Versioned::new(report.summary(&args.to))).as_bytes());
    } else {
        print_extract_text(&mut out, &args.to, &report);
    }
    Ok(outcome(report.items.len(), &report.problems))
}

fn print_extract_text(out: &mut impl Write, to: &Path, report: &ExtractReport) {
    let shown = |path: &Path| {
        for_terminal(&path.strip_prefix(to).unwrap_or(path).display().to_string()).into_owned()
    };
    for item in &report.items {
        let entry = for_terminal(&item.entry);
        let _ = match item.action {
            Extracted::KeptBoth => writeln!(
                out,
                "KEPT BOTH    {entry}: a different file has this name; written as {}",
                shown(&item.path)
            ),
            Extracted::Overwritten => writeln!(
                out,
                "OVERWRITTEN  {entry}: a different file had this name and was replaced"
            ),
            Extracted::LeftAlone => writeln!(
                out,
                "LEFT ALONE   {entry}: a different file has this name; not extracted \
                 (--on-conflict keep-both keeps both, overwrite replaces it)"
            ),
            Extracted::Written | Extracted::AlreadyThere => Ok(()),
        };
    }
    for problem in &report.problems {
        let _ = writeln!(
            out,
            "NOT WRITTEN  {}: {}",
            for_terminal(&problem.entry),
            for_terminal(&problem.detail)
        );
    }
    let _ = writeln!(
        out,
        "{} files ({} bytes) written to {}; {} already there; {} conflicts: {} kept under a new \
         name, {} overwritten, {} left alone{}",
        report.written(),
        report.bytes,
        for_terminal(&to.display().to_string()),
        report.count(Extracted::AlreadyThere),
        report.conflicts(),
        report.count(Extracted::KeptBoth),
        report.count(Extracted::Overwritten),
        report.count(Extracted::LeftAlone),
        if report.problems.is_empty() {
            String::new()
        } else {
            format!("; {} not written", report.problems.len())
        }
    );
}

/// An mtime for people: the date when it is one a calendar shows (years 1 to 9999), else
/// the number itself, marked, rather than a made-up date.
fn modified_for_people(mtime: i64) -> String {
    match chrono::DateTime::from_timestamp(mtime, 0) {
        Some(t) if (1..=9999).contains(&t.year()) => t.format("%Y-%m-%d %H:%M").to_string(),
        _ => format!("{mtime} (out of range)"),
    }
}

fn outcome(good: usize, problems: &[EntryProblem]) -> Exit {
    match (good, problems.len()) {
        (_, 0) => Exit::Success,
        (0, _) => Exit::Failure,
        _ => Exit::Partial,
    }
}

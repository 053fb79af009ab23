//! `phonevault verify`, `show` and `extract`: reading archives back.

use std::io::{IsTerminal, Write};

use globset::{Glob, GlobSet, GlobSetBuilder};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use phonevault::archive::{EntryProblem, ItemRecord};
use phonevault::catalog::{Kind, MediaItem, Source};
use phonevault::escape::for_terminal;
use phonevault::progress::{Event, NoProgress, Progress};
use phonevault::Error;

use crate::cli::{
    ArchiveArgs, ExtractArgs, GlobalArgs, KindArg, SelectionArgs, ShowArgs, SourceArg,
};
use crate::cmd::password::open_archive;
use crate::cmd::Exit;

pub fn verify(args: &ArchiveArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let mut reader = open_archive(&args.archive, &args.password)?;
    let bar = bar(global);
    let report = reader.verify(bar.as_ref().map_or(&NoProgress as &dyn Progress, |b| b))?;
    drop(bar);
    let shown = for_terminal(&args.archive.display().to_string()).into_owned();
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = serde_json::json!({
            "archive": args.archive,
            "items": reader.manifest().items.len(),
            "good": report.good,
            "bytes": report.bytes,
            "problems": problems_json(&report.problems),
        });
        let _ = writeln!(out, "{json:#}");
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
    let filter = ItemFilter::new(&args.selection)?;
    let manifest = reader.manifest();
    let records: Vec<&ItemRecord> = manifest
        .items
        .iter()
        .filter(|r| filter.matches(&r.item))
        .collect();
    let mut out = std::io::stdout().lock();
    if args.archive.json {
        let json = serde_json::to_string_pretty(&records).map_err(|e| Error::Archive {
            path: args.archive.archive.clone(),
            detail: format!("cannot print the manifest as JSON: {e}"),
        })?;
        let _ = writeln!(out, "{json}");
        return Ok(Exit::Success);
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
        let modified = chrono::DateTime::from_timestamp(item.mtime, 0).map_or_else(
            || item.mtime.to_string(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        );
        let _ = writeln!(
            out,
            "{:<17} {:<16} {:<8} {:>12}  {:<16}  {}",
            item.source.as_str(),
            for_terminal(&item.album),
            kind_name(item.kind),
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
    Ok(Exit::Success)
}

pub fn extract(args: &ExtractArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let mut reader = open_archive(&args.archive, &args.password)?;
    let filter = ItemFilter::new(&args.selection)?;
    let bar = bar(global);
    let report = reader.extract(
        &args.to,
        &mut |record| filter.matches(&record.item),
        bar.as_ref().map_or(&NoProgress as &dyn Progress, |b| b),
    )?;
    drop(bar);
    let mut out = std::io::stdout().lock();
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
        "{} files ({} bytes) written to {}",
        report.written.len(),
        report.bytes,
        for_terminal(&args.to.display().to_string())
    );
    Ok(outcome(report.written.len(), &report.problems))
}

fn outcome(good: usize, problems: &[EntryProblem]) -> Exit {
    match (good, problems.len()) {
        (_, 0) => Exit::Success,
        (0, _) => Exit::Failure,
        _ => Exit::Partial,
    }
}

fn problems_json(problems: &[EntryProblem]) -> serde_json::Value {
    problems
        .iter()
        .map(|p| serde_json::json!({"entry": p.entry, "detail": p.detail}))
        .collect()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Photo => "photo",
        Kind::Video => "video",
        Kind::Audio => "audio",
        Kind::Document => "document",
        Kind::Sticker => "sticker",
        Kind::Database => "database",
        Kind::Other => "other",
    }
}

/// Which manifest records `show` and `extract` take. The catalog's shared selection
/// matcher was not in main when this was written, so this covers `--source`, `--kind`,
/// `--album`, `--include`, `--exclude` (globs on the phone path) and `--id`, and refuses
/// the other selection flags rather than ignoring them.
struct ItemFilter {
    sources: Vec<Source>,
    kinds: Vec<Kind>,
    albums: Option<GlobSet>,
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    ids: Vec<String>,
}

impl ItemFilter {
    fn new(args: &SelectionArgs) -> phonevault::Result<ItemFilter> {
        let unsupported = [
            ("--since", args.since.as_deref()),
            ("--until", args.until.as_deref()),
            ("--min-size", args.min_size.as_deref()),
            ("--max-size", args.max_size.as_deref()),
        ];
        if let Some((flag, Some(value))) = unsupported.into_iter().find(|(_, v)| v.is_some()) {
            return Err(Error::InvalidSelection {
                flag,
                value: value.to_owned(),
                detail: "not supported by show and extract yet; use --include, --source, --kind, --album or --id".to_owned(),
            });
        }
        Ok(ItemFilter {
            sources: args
                .source
                .iter()
                .map(|s| match s {
                    SourceArg::Gallery => Source::Gallery,
                    SourceArg::Whatsapp => Source::Whatsapp,
                    SourceArg::WhatsappBusiness => Source::WhatsappBusiness,
                })
                .collect(),
            kinds: args
                .kind
                .iter()
                .map(|k| match k {
                    KindArg::Photo => Kind::Photo,
                    KindArg::Video => Kind::Video,
                    KindArg::Audio => Kind::Audio,
                    KindArg::Document => Kind::Document,
                    KindArg::Sticker => Kind::Sticker,
                    KindArg::Database => Kind::Database,
                    KindArg::Other => Kind::Other,
                })
                .collect(),
            albums: globs("--album", &args.album)?,
            include: globs("--include", &args.include)?,
            exclude: globs("--exclude", &args.exclude)?,
            ids: args.id.clone(),
        })
    }

    fn matches(&self, item: &MediaItem) -> bool {
        (self.sources.is_empty() || self.sources.contains(&item.source))
            && (self.kinds.is_empty() || self.kinds.contains(&item.kind))
            && self.albums.as_ref().is_none_or(|g| g.is_match(&item.album))
            && self.include.as_ref().is_none_or(|g| g.is_match(&item.path))
            && !self
                .exclude
                .as_ref()
                .is_some_and(|g| g.is_match(&item.path))
            && (self.ids.is_empty() || self.ids.iter().any(|id| id.eq_ignore_ascii_case(&item.id)))
    }
}

fn globs(flag: &'static str, patterns: &[String]) -> phonevault::Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|e| Error::InvalidSelection {
            flag,
            value: pattern.clone(),
            detail: e.kind().to_string(),
        })?;
        set.add(glob);
    }
    set.build().map(Some).map_err(|e| Error::InvalidSelection {
        flag,
        value: patterns.join(" "),
        detail: e.to_string(),
    })
}

/// A byte bar on standard error, when it is a terminal and not `--quiet`.
fn bar(global: &GlobalArgs) -> Option<Bar> {
    if global.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    Some(Bar(bar))
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Phase { name, bytes, .. } => {
                self.0.set_message(name);
                self.0.set_length(bytes);
                self.0.set_position(0);
            }
            Event::Bytes(n) => self.0.inc(n),
            _ => {}
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

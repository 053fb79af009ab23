//! `phonevault ls`: what is on the phone, as items or albums, as a table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use phonevault::catalog::{self, Catalog, CatalogOptions, ListMethod, MediaItem, Source};
use phonevault::escape::{for_terminal, path_for_terminal};
use phonevault::progress::{Event, Progress};
use serde_json::{json, Value};

use crate::cli::{GlobalArgs, LsArgs};
use crate::cmd::selection::selection;
use crate::cmd::{human, open_handset, Exit};

/// Prints the library's warnings (unreadable folders, fallbacks) when asked to be verbose.
struct StderrProgress {
    verbose: bool,
}

impl Progress for StderrProgress {
    fn event(&self, event: Event<'_>) {
        if let (true, Event::Warning { path, message }) = (self.verbose, event) {
            let path = path
                .map(|p| format!("{}: ", path_for_terminal(p)))
                .unwrap_or_default();
            eprintln!("phonevault: debug: {path}{}", for_terminal(message));
        }
    }
}

pub fn run(args: &LsArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let matcher = selection(&args.selection)?.compile()?;
    let handset = open_handset(global)?;
    let progress = StderrProgress {
        verbose: global.verbose,
    };
    let options = CatalogOptions {
        include_hidden: args.all,
    };
    let catalog = catalog::scan(&handset, &options, &progress)?;
    if global.verbose {
        print_stats(&catalog);
    }
    let items: Vec<&MediaItem> = catalog
        .items
        .iter()
        .filter(|i| matcher.matches(i))
        .collect();
    let out = match (args.json, args.albums) {
        (true, false) => json_text(&json!({
            "serial": catalog.serial,
            "items": items.iter().map(|i| item_json(i)).collect::<Vec<_>>(),
            "unreadable": catalog.unreadable,
            "sd_cards": catalog.sd_cards,
            "notes": catalog.notes,
        })),
        (true, true) => json_text(&json!({
            "serial": catalog.serial,
            "albums": albums(&items).iter().map(|((source, album), (count, size))| json!({
                "source": source.as_str(),
                "album": album,
                "count": count,
                "size": size,
            })).collect::<Vec<_>>(),
            "unreadable": catalog.unreadable,
        })),
        (false, false) => items_table(&items),
        (false, true) => albums_table(&items),
    };
    write_stdout(&out);
    if !args.json {
        for folder in &catalog.unreadable {
            eprintln!(
                "phonevault: warning: folder cannot be read, its files are not listed: {}",
                path_for_terminal(folder)
            );
        }
    }
    Ok(Exit::Success)
}

fn print_stats(catalog: &Catalog) {
    let s = &catalog.stats;
    match s.method {
        ListMethod::Helper => eprintln!(
            "phonevault: debug: helper call: list {} roots ({} records, {} ms{})",
            catalog::listing_roots().len(),
            s.records,
            s.elapsed.as_millis(),
            if s.helper_pushed {
                ", helper pushed first"
            } else {
                ""
            }
        ),
        ListMethod::SyncWalk => eprintln!(
            "phonevault: debug: sync walk: {} folders listed one by one ({} ms)",
            s.folders_walked,
            s.elapsed.as_millis()
        ),
    }
    eprintln!(
        "phonevault: debug: {} items, {} unreadable folders, {} SD cards",
        catalog.items.len(),
        catalog.unreadable.len(),
        catalog.sd_cards.len()
    );
    for note in &catalog.notes {
        eprintln!("phonevault: debug: note: {}", for_terminal(note));
    }
}

fn item_json(item: &MediaItem) -> Value {
    let mut value = json!({
        "id": item.id,
        "path": item.path,
        "root": item.root,
        "rel_path": item.rel_path,
        "source": item.source.as_str(),
        "album": item.album,
        "kind": item.kind.as_str(),
        "size": item.size,
        "mtime": item.mtime,
        "taken": item.taken.map(|t| t.to_text()),
        "taken_source": item.taken.map(|t| t.source),
        "sent": item.sent,
        "private": item.private,
    });
    // The exact bytes, only where the display form differs from them (see `MediaItem::path`).
    if let Some(raw) = catalog::raw_path_field(&item.path) {
        value["raw_path"] = Value::String(raw);
    }
    value
}

fn albums<'a>(items: &[&'a MediaItem]) -> BTreeMap<(Source, &'a str), (u64, u64)> {
    let mut albums: BTreeMap<(Source, &str), (u64, u64)> = BTreeMap::new();
    for item in items {
        let entry = albums
            .entry((item.source, item.album.as_str()))
            .or_default();
        entry.0 += 1;
        entry.1 += item.size;
    }
    albums
}

fn json_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn items_table(items: &[&MediaItem]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12}  {:<17}  {:<16}  {:<8}  {:>9}  {:<19}  PATH",
        "ID", "SOURCE", "ALBUM", "KIND", "SIZE", "DATE"
    );
    for item in items {
        let date = item.taken.map_or_else(
            || {
                chrono::DateTime::from_timestamp(item.mtime, 0)
                    .map(|t| {
                        t.with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M:%S")
                            .to_string()
                    })
                    .unwrap_or_default()
            },
            |t| t.local.format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        let _ = writeln!(
            out,
            "{:<12}  {:<17}  {:<16}  {:<8}  {:>9}  {:<19}  {}",
            item.id,
            item.source.as_str(),
            path_for_terminal(&item.album),
            item.kind.as_str(),
            human::size(item.size),
            date,
            path_for_terminal(&item.path)
        );
    }
    let total: u64 = items.iter().map(|i| i.size).sum();
    let _ = writeln!(out, "{} items, {}", items.len(), human::size(total));
    out
}

fn albums_table(items: &[&MediaItem]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<17}  {:<24}  {:>7}  {:>9}",
        "SOURCE", "ALBUM", "ITEMS", "SIZE"
    );
    let albums = albums(items);
    for ((source, album), (count, size)) in &albums {
        let _ = writeln!(
            out,
            "{:<17}  {:<24}  {:>7}  {:>9}",
            source.as_str(),
            path_for_terminal(album),
            count,
            human::size(*size)
        );
    }
    let total: u64 = items.iter().map(|i| i.size).sum();
    let _ = writeln!(
        out,
        "{} albums, {} items, {}",
        albums.len(),
        items.len(),
        human::size(total)
    );
    out
}

/// A closed pipe (`phonevault ls | head`) is not an error.
fn write_stdout(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

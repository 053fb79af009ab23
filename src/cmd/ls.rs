//! `phonevault ls`: what is on the phone, as items or albums, as a table or JSON.

use std::fmt::Write as _;
use std::io::Write as _;

use phonevault::catalog::{
    self, AlbumListing, Catalog, CatalogOptions, ItemListing, ItemSummary, ListMethod, MediaItem,
};
use phonevault::escape::{for_terminal, path_for_terminal};
use phonevault::json::{to_text, Versioned};
use phonevault::progress::{Event, Progress};

use crate::cli::{GlobalArgs, LsArgs};
use crate::cmd::selection::selection;
use crate::cmd::{human, open_handset, Exit};

/// Prints the library's warnings (unreadable folders, fallbacks) when asked to be verbose.
struct StderrProgress {
    verbose: bool,
}

impl Progress for StderrProgress {
    fn event(&self, event: Event) {
        if let (true, Event::Warning { path, message }) = (self.verbose, event) {
            let path = path
                .map(|p| format!("{}: ", path_for_terminal(&p)))
                .unwrap_or_default();
            eprintln!("phonevault: debug: {path}{}", for_terminal(&message));
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
        (true, false) => to_text(&Versioned::new(ItemListing {
            serial: catalog.serial.clone(),
            items: items.iter().map(|i| ItemSummary::from(*i)).collect(),
            unreadable: catalog.unreadable.clone(),
            links_not_followed: catalog.links_not_followed.clone(),
            sd_cards: catalog.sd_cards.clone(),
            notes: catalog.notes.clone(),
        })),
        (true, true) => to_text(&Versioned::new(AlbumListing {
            serial: catalog.serial.clone(),
            albums: catalog::albums(items.iter().copied()),
            unreadable: catalog.unreadable.clone(),
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
        for link in &catalog.links_not_followed {
            eprintln!(
                "phonevault: warning: {}: {}",
                path_for_terminal(link),
                catalog::LINK_NOT_FOLLOWED
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
    let albums = catalog::albums(items.iter().copied());
    for album in &albums {
        let _ = writeln!(
            out,
            "{:<17}  {:<24}  {:>7}  {:>9}",
            album.source.as_str(),
            path_for_terminal(&album.album),
            album.count,
            human::size(album.size)
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

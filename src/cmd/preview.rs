//! `phonevault preview`: a contact sheet of the selected photos, built from the first bytes
//! of each file, before anything is copied.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use phonevault::catalog::{self, CatalogOptions, Kind, MediaItem, Source};
use phonevault::json::{to_text, versioned_list};
use phonevault::preview::{
    build_previews, records, render_sheet, HandsetSource, PreviewCache, PreviewOptions, PreviewRun,
    HEAD_BYTES,
};
use phonevault::Error;

use crate::cli::{GlobalArgs, PreviewArgs};
use crate::cmd::bars::Bars;
use crate::cmd::selection::selection;
use crate::cmd::{human, open_handset, Exit};

/// Share of the selected photos' bytes that previews may read. Heads alone cost about 2% of
/// a camera photo; what is left of the share pays for decoding photos that carry no EXIF
/// thumbnail, and photos past it get a placeholder tile.
const BYTE_SHARE_PERCENT: u64 = 5;

pub fn run(args: &PreviewArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let matcher = selection(&args.selection)?.compile()?;
    let handset = open_handset(global)?;
    let bars = Bars::new(global.quiet);
    let catalog = catalog::scan(&handset, &CatalogOptions::default(), &bars)?;
    let items: Vec<MediaItem> = catalog
        .items
        .into_iter()
        .filter(|item| matcher.matches(item))
        .collect();
    let cache = PreviewCache::open(PreviewCache::default_root()?, &handset.identity().serial)?;
    let options = PreviewOptions {
        whole_budget: Some(whole_budget(&items)),
        ..PreviewOptions::default()
    };
    let run = build_previews(
        &items,
        &mut HandsetSource::new(&handset),
        &cache,
        &options,
        &bars,
    )?;
    let out_path = match (&args.out, args.json) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => None,
        (None, false) => Some(PathBuf::from(format!(
            "phonevault-preview-{}.html",
            sanitized(&handset.identity().serial)
        ))),
    };
    if let Some(path) = &out_path {
        let title = format!(
            "{} {} ({})",
            handset.identity().manufacturer,
            handset.identity().model,
            handset.identity().serial
        );
        write_atomically(path, render_sheet(&run.previews, &title).as_bytes())?;
    }
    if args.json {
        let text = to_text(&versioned_list(records(&run.previews)));
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    print_summary(&run, &items, out_path.as_deref());
    if let (true, Some(path)) = (args.open, &out_path) {
        if let Err(e) = open::that_detached(path) {
            eprintln!(
                "phonevault: could not open a browser ({e}); open {} yourself",
                path.display()
            );
        }
    }
    Ok(Exit::Success)
}

/// Bytes previews may pull whole to decode, over the run.
fn whole_budget(items: &[MediaItem]) -> u64 {
    let photos: Vec<&MediaItem> = items.iter().filter(|i| i.kind == Kind::Photo).collect();
    let total: u64 = photos.iter().map(|i| i.size).sum();
    // Only Gallery photos are read by their heads; WhatsApp images carry no EXIF and are
    // decoded whole, out of this budget.
    let heads: u64 = photos
        .iter()
        .filter(|i| i.source == Source::Gallery)
        .map(|i| i.size.min(HEAD_BYTES as u64))
        .sum();
    (total * BYTE_SHARE_PERCENT / 100).saturating_sub(heads)
}

/// Serials become file names: keep letters, digits, `-` and `_`.
fn sanitized(serial: &str) -> String {
    serial
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> phonevault::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Error::io("cannot create the contact sheet", path, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("cannot write the contact sheet", path, e))?;
    file.persist(path)
        .map_err(|e| Error::io("cannot write the contact sheet", path, e.error))?;
    Ok(())
}

fn print_summary(run: &PreviewRun, items: &[MediaItem], out: Option<&Path>) {
    let stats = &run.stats;
    let photo_bytes: u64 = items
        .iter()
        .filter(|i| i.kind == Kind::Photo)
        .map(|i| i.size)
        .sum();
    let share = if photo_bytes == 0 {
        0.0
    } else {
        stats.bytes_read as f64 * 100.0 / photo_bytes as f64
    };
    eprintln!(
        "{} previews: {} from EXIF thumbnails, {} decoded, {} placeholders, {} from the cache; \
         read {} from the phone ({share:.1}% of the photos' {}).",
        run.previews.len(),
        stats.exif_thumbnails,
        stats.decoded,
        stats.placeholders,
        stats.cache_hits,
        human::size(stats.bytes_read),
        human::size(photo_bytes),
    );
    if let Some(path) = out {
        eprintln!("Contact sheet: {}", path.display());
    }
}

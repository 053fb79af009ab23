//! `phonevault preview`: a contact sheet of the selected photos, built from the first bytes
//! of each file, before anything is copied.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use phonevault::catalog::{self, CatalogOptions, MediaItem};
use phonevault::json::{to_text, versioned_list};
use phonevault::preview::{
    build_previews, photo_bytes, records, render_sheet, HandsetSource, PreviewCache,
    PreviewOptions, PreviewRun,
};
use phonevault::Error;

use crate::cli::{GlobalArgs, PreviewArgs};
use crate::cmd::bars::Bars;
use crate::cmd::selection::selection;
use crate::cmd::{human, open_handset, Exit};

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
    let cache = PreviewCache::for_handset(&handset.identity().serial)?;
    // Every readable photo gets a picture; the share of the photos' bytes read is reported
    // in the summary, not used to cut previews short.
    let options = PreviewOptions::default();
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
    let photo_bytes = photo_bytes(items);
    let share = stats.share_percent(photo_bytes);
    eprintln!(
        "{} previews: {} from EXIF thumbnails, {} decoded, {} without a picture ({} cannot be \
         read), {} from the cache; read {} from the phone ({share:.1}% of the photos' {}).",
        run.previews.len(),
        stats.exif_thumbnails,
        stats.decoded,
        stats.placeholders,
        stats.cannot_be_read,
        stats.cache_hits,
        human::size(stats.bytes_read),
        human::size(photo_bytes),
    );
    if let Some(path) = out {
        eprintln!("Contact sheet: {}", path.display());
    }
}

//! Previews: a small upright thumbnail, the date taken and the camera facts for each photo,
//! from the first bytes of the file whenever possible.
//!
//! Most phone JPEGs carry a JPEG thumbnail in their EXIF block, which sits in the first
//! [`HEAD_BYTES`] of the file; reading only those keeps a preview of a whole phone to a few
//! percent of its photos' size. Photos without one are pulled whole (up to a limit) and
//! decoded; formats without a decoder (HEIC, videos) get a placeholder tile. Results are kept
//! in a [`PreviewCache`] so a second preview of the same phone reads nothing.
//!
//! The bytes come from a caller-supplied [`PreviewSource`], so this module never talks to a
//! phone itself and is tested without one.

pub mod cache;
pub mod exif;
pub mod handset;
pub mod sheet;
pub mod thumb;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::{Deserialize, Serialize};

use crate::catalog::{DateSource, Kind, MediaItem, Source, Taken};
use crate::progress::{Event, Phase, Progress};
use crate::{Error, Result};

pub use cache::PreviewCache;
pub use exif::{parse_head, Container, Gps, PhotoInfo, HEAD_BYTES};
pub use handset::HandsetSource;
pub use sheet::{records, render_sheet, PreviewRecord};
pub use thumb::{make_thumbnail, Thumbnail, THUMB_LONG_SIDE};

/// The first bytes of one file, as a [`PreviewSource`] delivers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// The first `limit` bytes (fewer when the file is shorter).
    Bytes(Vec<u8>),
    /// The file could not be read (gone since the listing, no permission): what the phone said.
    Unreadable(String),
}

/// Where preview bytes come from: the on-device helper on a real phone, files in tests.
pub trait PreviewSource {
    /// The first `limit` bytes of each item, one [`Head`] per item in the same order.
    ///
    /// # Errors
    /// Failures that stop all reading (handset gone, protocol error); a single unreadable
    /// file is a [`Head::Unreadable`] instead.
    fn heads(&mut self, items: &[&MediaItem], limit: usize) -> Result<Vec<Head>>;

    /// The first `max` bytes of one file (all of it when it is shorter).
    ///
    /// # Errors
    /// [`Error::Remote`] when this file cannot be read (the preview notes it and goes on);
    /// anything else stops the previews.
    fn whole(&mut self, item: &MediaItem, max: u64) -> Result<Vec<u8>>;
}

/// Where a preview's image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThumbnailKind {
    /// The JPEG thumbnail embedded in the EXIF block.
    Exif,
    /// Decoded from the whole file.
    Decoded,
    /// No image: a tile with the name, size and date.
    Placeholder,
}

impl ThumbnailKind {
    /// The name used in JSON records.
    pub fn as_str(self) -> &'static str {
        match self {
            ThumbnailKind::Exif => "exif",
            ThumbnailKind::Decoded => "decoded",
            ThumbnailKind::Placeholder => "placeholder",
        }
    }
}

/// The preview of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub item: MediaItem,
    pub info: PhotoInfo,
    /// EXIF date first, then the catalog's date (from the file name), then the mtime.
    pub taken: Option<Taken>,
    pub thumbnail: ThumbnailKind,
    /// Present unless `thumbnail` is [`ThumbnailKind::Placeholder`].
    pub image: Option<Thumbnail>,
    /// What was odd on the way (broken EXIF, unreadable file, no decoder), for people.
    pub notes: Vec<String>,
}

/// Limits of a preview run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewOptions {
    /// First bytes read of each photo.
    pub head_bytes: usize,
    /// Largest file pulled whole to decode when it has no usable EXIF thumbnail.
    pub whole_max: u64,
    /// How far into a file to look when its EXIF block runs past the head (HEIF may put it
    /// anywhere; a cut-off JPEG APP1 needs at most 64 KiB more).
    pub exif_max: u64,
    /// Items per [`PreviewSource::heads`] call.
    pub batch: usize,
    /// Most bytes a run may pull whole to decode, over all items (`None`: no limit). Photos
    /// past it get a placeholder, so a caller can hold previews to a share of the phone.
    pub whole_budget: Option<u64>,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        PreviewOptions {
            head_bytes: HEAD_BYTES,
            whole_max: 30 * 1024 * 1024,
            exif_max: 1024 * 1024,
            batch: 256,
            whole_budget: None,
        }
    }
}

/// What a preview run read, for the caller to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PreviewStats {
    /// Bytes delivered by the source (heads and whole files).
    pub bytes_read: u64,
    /// Calls to [`PreviewSource::heads`] and [`PreviewSource::whole`].
    pub source_calls: u64,
    /// Files pulled whole (or further than the head) through [`PreviewSource::whole`].
    pub whole_reads: u64,
    /// Bytes of the files pulled whole to decode (counted against
    /// [`PreviewOptions::whole_budget`]).
    pub whole_bytes: u64,
    /// Items answered from the cache.
    pub cache_hits: u64,
    /// Previews that got an EXIF / decoded / placeholder image.
    pub exif_thumbnails: u64,
    pub decoded: u64,
    pub placeholders: u64,
}

/// The previews (in the order of the items given) and what it took to make them.
#[derive(Debug, Clone)]
pub struct PreviewRun {
    pub previews: Vec<Preview>,
    pub stats: PreviewStats,
}

/// How an item's preview is made, decided from its kind and name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Read the head: EXIF, maybe a thumbnail, maybe a decode after.
    Head,
    /// Nothing useful in a head (PNG screenshots): decode the whole file.
    Whole,
    /// No decoder: placeholder without reading anything.
    Placeholder,
}

fn extension(item: &MediaItem) -> String {
    let name = item.path.rsplit('/').next().unwrap_or_default();
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn plan(item: &MediaItem) -> Plan {
    if item.kind != Kind::Photo {
        return Plan::Placeholder;
    }
    // WhatsApp strips EXIF from every image it sends or receives: a head would hold no
    // thumbnail and cost a third of a typical 200 KB WhatsApp image. Decode it whole instead
    // (within the run's byte budget).
    let stripped = item.source != Source::Gallery;
    match extension(item).as_str() {
        "jpg" | "jpeg" | "jpe" if stripped => Plan::Whole,
        "jpg" | "jpeg" | "jpe" | "heic" | "heif" | "dng" => Plan::Head,
        "png" => Plan::Whole,
        _ => Plan::Placeholder,
    }
}

fn decodable(item: &MediaItem) -> bool {
    matches!(extension(item).as_str(), "jpg" | "jpeg" | "jpe" | "png")
}

/// The date an item was taken: EXIF first, then what the catalog derived (from the file
/// name), then the file's mtime (as UTC).
pub fn resolve_taken(
    exif: Option<Taken>,
    from_catalog: Option<Taken>,
    mtime: i64,
) -> Option<Taken> {
    exif.or(from_catalog).or_else(|| {
        DateTime::from_timestamp(mtime, 0).map(|t| Taken {
            local: t.naive_utc(),
            offset_seconds: Some(0),
            source: DateSource::Mtime,
        })
    })
}

/// RFC 3339 text of a date taken: the photo's own wall-clock time, with its offset when the
/// photo records one and without any offset otherwise. Whole seconds, like EXIF itself.
pub fn format_taken(taken: &Taken) -> String {
    let offset = taken.offset_seconds.and_then(FixedOffset::east_opt);
    match offset.and_then(|o| taken.local.and_local_timezone(o).single()) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, false),
        None => taken.local.format("%Y-%m-%dT%H:%M:%S").to_string(),
    }
}

/// Makes a preview of every item, reading as little as possible through `source` and
/// nothing for items already in `cache`.
///
/// # Errors
/// Whatever the source reports that stops all reading (handset gone, timeout), and
/// [`Error::PreviewSourceMismatch`] when the source answers a batch with the wrong number of
/// heads; `Cancelled` from a source whose handset's token tripped (see
/// [`Handset::with_cancel`](crate::adb::Handset::with_cancel)). Unreadable single files and
/// broken images are notes on their previews, and a cache that cannot be written is a
/// progress warning.
pub fn build_previews(
    items: &[MediaItem],
    source: &mut dyn PreviewSource,
    cache: &PreviewCache,
    options: &PreviewOptions,
    progress: &dyn Progress,
) -> Result<PreviewRun> {
    let mut stats = PreviewStats::default();
    let mut slots: Vec<Option<Preview>> = vec![None; items.len()];
    let mut pending = Vec::new();
    progress.event(Event::Phase {
        name: Phase::Previews,
        items: items.len() as u64,
        bytes: 0,
    });
    for (i, item) in items.iter().enumerate() {
        if let Some(hit) = cache.get(item) {
            stats.cache_hits += 1;
            progress.event(Event::started(i, &item.path, item.size));
            progress.event(Event::done(i, &item.path));
            slots[i] = Some(hit);
        } else {
            pending.push(i);
        }
    }
    // Items are worked through in their own order (the whole-file budget goes to the first
    // ones), a batch at a time so heads are fetched together.
    for chunk in pending.chunks(options.batch.max(1)) {
        let want: Vec<usize> = chunk
            .iter()
            .copied()
            .filter(|&i| plan(&items[i]) == Plan::Head)
            .collect();
        let mut heads = Vec::new();
        if !want.is_empty() {
            let batch: Vec<&MediaItem> = want.iter().map(|&i| &items[i]).collect();
            stats.source_calls += 1;
            heads = source.heads(&batch, options.head_bytes)?;
            if heads.len() != batch.len() {
                return Err(Error::PreviewSourceMismatch {
                    asked: batch.len(),
                    got: heads.len(),
                });
            }
        }
        let mut heads = heads.into_iter();
        for &i in chunk {
            let item = &items[i];
            progress.event(Event::started(i, &item.path, item.size));
            let plan = plan(item);
            let mut work = Work::new(source, options, progress, &mut stats);
            let preview = match plan {
                Plan::Placeholder => Some(placeholder(item, PhotoInfo::default(), Vec::new())),
                Plan::Whole => work.preview_from(item, Vec::new())?,
                Plan::Head => match heads.next() {
                    Some(Head::Bytes(bytes)) => {
                        work.stats.bytes_read += bytes.len() as u64;
                        progress.event(Event::Bytes {
                            bytes: bytes.len() as u64,
                        });
                        work.preview_from(item, bytes)?
                    }
                    Some(Head::Unreadable(message)) => {
                        progress.event(Event::warning(Some(item.path.as_str()), &message));
                        None
                    }
                    None => None,
                },
            };
            slots[i] = Some(finish(preview, item, cache, plan, progress));
            progress.event(Event::done(i, &item.path));
        }
    }
    progress.event(Event::PhaseDone {
        name: Phase::Previews,
    });
    let previews: Vec<Preview> = slots.into_iter().flatten().collect();
    for p in &previews {
        match p.thumbnail {
            ThumbnailKind::Exif => stats.exif_thumbnails += 1,
            ThumbnailKind::Decoded => stats.decoded += 1,
            ThumbnailKind::Placeholder => stats.placeholders += 1,
        }
    }
    Ok(PreviewRun { previews, stats })
}

/// Stores a finished preview in the cache; `None` (the file could not be read) becomes an
/// uncached placeholder so the next run tries again.
fn finish(
    preview: Option<Preview>,
    item: &MediaItem,
    cache: &PreviewCache,
    plan: Plan,
    progress: &dyn Progress,
) -> Preview {
    let Some(preview) = preview else {
        return placeholder(
            item,
            PhotoInfo::default(),
            vec!["the file could not be read".to_owned()],
        );
    };
    // Placeholders made without reading anything cost nothing to make again.
    if plan != Plan::Placeholder {
        if let Err(e) = cache.put(&preview) {
            let message = format!("preview cache not written: {e}");
            progress.event(Event::warning(Some(item.path.as_str()), &message));
        }
    }
    preview
}

fn placeholder(item: &MediaItem, info: PhotoInfo, notes: Vec<String>) -> Preview {
    Preview {
        taken: resolve_taken(info.taken, item.taken, item.mtime),
        item: item.clone(),
        info,
        thumbnail: ThumbnailKind::Placeholder,
        image: None,
        notes,
    }
}

/// One item's reads past its head, with the run's counters.
struct Work<'a> {
    source: &'a mut dyn PreviewSource,
    options: &'a PreviewOptions,
    progress: &'a dyn Progress,
    stats: &'a mut PreviewStats,
}

impl<'a> Work<'a> {
    fn new(
        source: &'a mut dyn PreviewSource,
        options: &'a PreviewOptions,
        progress: &'a dyn Progress,
        stats: &'a mut PreviewStats,
    ) -> Self {
        Work {
            source,
            options,
            progress,
            stats,
        }
    }

    fn within_budget(&self, size: u64) -> bool {
        self.options
            .whole_budget
            .is_none_or(|budget| self.stats.whole_bytes.saturating_add(size) <= budget)
    }

    /// Reads the first `max` bytes; `Ok(Err(message))` when this one file is unreadable.
    fn read(&mut self, item: &MediaItem, max: u64) -> Result<Result<Vec<u8>, String>> {
        self.stats.source_calls += 1;
        self.stats.whole_reads += 1;
        match self.source.whole(item, max) {
            Ok(bytes) => {
                self.stats.bytes_read += bytes.len() as u64;
                self.progress.event(Event::Bytes {
                    bytes: bytes.len() as u64,
                });
                Ok(Ok(bytes))
            }
            Err(Error::Remote { message, .. }) => Ok(Err(message)),
            Err(e) => Err(e),
        }
    }

    /// Makes the preview from the bytes read so far (empty for [`Plan::Whole`]), reading more
    /// when the EXIF block or a decode needs it. `None` when the file could not be read.
    fn preview_from(&mut self, item: &MediaItem, mut bytes: Vec<u8>) -> Result<Option<Preview>> {
        let mut notes = Vec::new();
        let mut info = parse_head(&bytes);
        let have_all = |bytes: &Vec<u8>| bytes.len() as u64 >= item.size;
        if !bytes.is_empty() && info.exif_cut_off && !have_all(&bytes) {
            let more = info
                .exif_end
                .unwrap_or(u64::MAX)
                .min(self.options.exif_max)
                .min(item.size);
            if more > bytes.len() as u64 {
                match self.read(item, more)? {
                    Ok(b) => {
                        bytes = b;
                        info = parse_head(&bytes);
                    }
                    Err(message) => notes.push(format!("reading further failed: {message}")),
                }
            }
        }
        if let Some(t) = info.thumbnail_bytes(&bytes) {
            match make_thumbnail(t, info.orientation) {
                Ok(image) => {
                    notes.append(&mut info.notes);
                    return Ok(Some(Preview {
                        taken: resolve_taken(info.taken, item.taken, item.mtime),
                        item: item.clone(),
                        info,
                        thumbnail: ThumbnailKind::Exif,
                        image: Some(image),
                        notes,
                    }));
                }
                Err(e) => notes.push(format!("EXIF thumbnail not decodable: {e}")),
            }
        }
        if !decodable(item) {
            notes.push(format!(
                "no decoder for .{} files: placeholder",
                extension(item)
            ));
        } else if item.size > self.options.whole_max {
            notes.push(format!(
                "no EXIF thumbnail, and the file is larger than the {} bytes pulled to decode",
                self.options.whole_max
            ));
        } else if !have_all(&bytes) && !self.within_budget(item.size) {
            notes.push(
                "no EXIF thumbnail, and the run's budget for pulling files to decode is spent"
                    .to_owned(),
            );
        } else {
            if !have_all(&bytes) {
                self.stats.whole_bytes += item.size;
                match self.read(item, item.size)? {
                    Ok(b) => bytes = b,
                    Err(message) => {
                        if bytes.is_empty() {
                            return Ok(None);
                        }
                        notes.push(format!("pulling the file failed: {message}"));
                        notes.append(&mut info.notes);
                        return Ok(Some(placeholder(item, info, notes)));
                    }
                }
                let before = info.clone();
                info = parse_head(&bytes);
                // A PNG has no orientation of its own, and a re-parse must not lose what the
                // head gave (a truncated re-read would).
                if !info.exif && before.exif {
                    info = before;
                }
            }
            match make_thumbnail(&bytes, info.orientation) {
                Ok(image) => {
                    notes.append(&mut info.notes);
                    return Ok(Some(Preview {
                        taken: resolve_taken(info.taken, item.taken, item.mtime),
                        item: item.clone(),
                        info,
                        thumbnail: ThumbnailKind::Decoded,
                        image: Some(image),
                        notes,
                    }));
                }
                Err(e) => notes.push(format!("image not decodable: {e}")),
            }
        }
        notes.append(&mut info.notes);
        Ok(Some(placeholder(item, info, notes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(h: u32, offset_seconds: Option<i32>, source: DateSource) -> Taken {
        Taken {
            local: NaiveDate::from_ymd_opt(2024, 3, 12)
                .unwrap()
                .and_hms_milli_opt(h, 30, 12, 345)
                .unwrap(),
            offset_seconds,
            source,
        }
    }

    #[test]
    fn taken_prints_wall_clock_with_offset_only_when_known() {
        assert_eq!(
            format_taken(&at(15, Some(0), DateSource::Exif)),
            "2024-03-12T15:30:12+00:00"
        );
        assert_eq!(
            format_taken(&at(15, Some(-5 * 3600 - 1800), DateSource::Exif)),
            "2024-03-12T15:30:12-05:30"
        );
        assert_eq!(
            format_taken(&at(9, None, DateSource::Filename)),
            "2024-03-12T09:30:12"
        );
    }

    #[test]
    fn exif_beats_name_beats_mtime() {
        let exif = at(15, None, DateSource::Exif);
        let name = at(9, None, DateSource::Filename);
        assert_eq!(resolve_taken(Some(exif), Some(name), 0), Some(exif));
        assert_eq!(resolve_taken(None, Some(name), 0), Some(name));
        let mtime = resolve_taken(None, None, 1_710_257_412).unwrap();
        assert_eq!(mtime.source, DateSource::Mtime);
        assert_eq!(format_taken(&mtime), "2024-03-12T15:30:12+00:00");
    }
}

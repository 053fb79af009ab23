//! Previews: a small upright thumbnail, the date taken and the camera facts for each photo,
//! from the first bytes of the file whenever possible.
//!
//! Most phone JPEGs carry a JPEG thumbnail in their EXIF block, which sits in the first
//! [`HEAD_BYTES`] of the file; reading only those keeps a preview of a whole phone to a few
//! percent of its photos' size. Photos without one (WhatsApp strips EXIF; screenshots are
//! PNG) are pulled whole through one pipelined transfer per batch and decoded at reduced
//! scale on every core: every readable photo gets a picture. A photo with no picture says
//! why ([`NoPicture`]): damaged, unreadable, no decoder (HEIC without an EXIF thumbnail),
//! or not a photo at all. Results are kept in a [`PreviewCache`] so a second preview of the
//! same phone reads nothing.
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

    /// Every byte of each item (at most its listed size), handed to `deliver` one file at a
    /// time with its index in `items`, in order. A source that can pipeline many files
    /// through one transfer (a handset: [`Handset::pull_many`](crate::adb::Handset::pull_many))
    /// overrides this; the default reads them one by one with [`PreviewSource::whole`].
    ///
    /// # Errors
    /// Failures that stop all reading, and whatever `deliver` returns; a single unreadable
    /// file is delivered as a [`Head::Unreadable`].
    fn wholes(
        &mut self,
        items: &[&MediaItem],
        deliver: &mut dyn FnMut(usize, Head) -> Result<()>,
    ) -> Result<()> {
        for (index, item) in items.iter().enumerate() {
            let file = match self.whole(item, item.size) {
                Ok(bytes) => Head::Bytes(bytes),
                Err(Error::Remote { message, .. }) => Head::Unreadable(message),
                Err(e) => return Err(e),
            };
            deliver(index, file)?;
        }
        Ok(())
    }
}

/// Where a preview's image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThumbnailKind {
    /// The JPEG thumbnail embedded in the EXIF block.
    Exif,
    /// Decoded from the whole file.
    Decoded,
    /// No image: a tile with the name, size and date; [`Preview::no_picture`] says why.
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

/// Why a preview has no picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum NoPicture {
    /// Not a photo (a video, a voice note, a document): nothing is read for it.
    NotAPhoto,
    /// A photo in a format this build has no decoder for (HEIC/HEIF, DNG, WebP) and without
    /// an EXIF thumbnail.
    NoDecoder,
    /// The photo cannot be read: its bytes are not a readable image (damaged, cut short, or
    /// not what its name says).
    Damaged,
    /// The phone would not give the file (gone since the listing, permission denied).
    Unreadable,
    /// No EXIF thumbnail, and larger than [`PreviewOptions::whole_max`].
    TooLarge,
}

impl NoPicture {
    /// The name used in JSON records.
    pub fn as_str(self) -> &'static str {
        match self {
            NoPicture::NotAPhoto => "not-a-photo",
            NoPicture::NoDecoder => "no-decoder",
            NoPicture::Damaged => "damaged",
            NoPicture::Unreadable => "unreadable",
            NoPicture::TooLarge => "too-large",
        }
    }

    /// Words for a tile that has no picture.
    pub fn describe(self) -> &'static str {
        match self {
            NoPicture::NotAPhoto => "not a photo",
            NoPicture::NoDecoder => "no decoder for this format here",
            NoPicture::Damaged => "cannot be read: the image is damaged",
            NoPicture::Unreadable => "cannot be read from the phone",
            NoPicture::TooLarge => "too large to preview",
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
    /// Why there is no picture, for a [`ThumbnailKind::Placeholder`] made here; `None` when
    /// there is a picture (and for previews whose maker did not say, such as those a backup
    /// makes from the heads that pass by).
    pub no_picture: Option<NoPicture>,
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
    /// Items per [`PreviewSource::heads`] and [`PreviewSource::wholes`] call.
    pub batch: usize,
    /// Threads decoding photos pulled whole (0: one per core the system offers).
    pub decode_threads: usize,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        PreviewOptions {
            head_bytes: HEAD_BYTES,
            whole_max: 30 * 1024 * 1024,
            exif_max: 1024 * 1024,
            batch: 256,
            decode_threads: 0,
        }
    }
}

/// What a preview run read, for the caller to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PreviewStats {
    /// Bytes delivered by the source (heads and whole files).
    pub bytes_read: u64,
    /// Calls to [`PreviewSource::heads`], [`PreviewSource::whole`] and
    /// [`PreviewSource::wholes`].
    pub source_calls: u64,
    /// Files read further than their head: pulled whole to decode, or read on to the end of
    /// an EXIF block.
    pub whole_reads: u64,
    /// Bytes of the files pulled whole to decode.
    pub whole_bytes: u64,
    /// Items answered from the cache.
    pub cache_hits: u64,
    /// Previews that got an EXIF / decoded / placeholder image.
    pub exif_thumbnails: u64,
    pub decoded: u64,
    pub placeholders: u64,
    /// Of the placeholders, photos that cannot be read ([`NoPicture::Damaged`] or
    /// [`NoPicture::Unreadable`]).
    pub cannot_be_read: u64,
}

impl PreviewStats {
    /// What the run read, as a percentage of `photo_bytes` (see [`photo_bytes`]): the
    /// measure that previews are held to, reported rather than enforced.
    pub fn share_percent(&self, photo_bytes: u64) -> f64 {
        if photo_bytes == 0 {
            0.0
        } else {
            self.bytes_read as f64 * 100.0 / photo_bytes as f64
        }
    }
}

/// Bytes of the photos among `items`: what pulling them all would cost.
pub fn photo_bytes(items: &[MediaItem]) -> u64 {
    items
        .iter()
        .filter(|i| i.kind == Kind::Photo)
        .map(|i| i.size)
        .sum()
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
    /// Nothing useful in a head (PNG screenshots, WhatsApp images): decode the whole file.
    Whole,
    /// No decoder or not a photo: placeholder without reading anything.
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
    // thumbnail and cost a third of a typical 200 KB WhatsApp image. Decode it whole instead.
    let stripped = item.source != Source::Gallery;
    match extension(item).as_str() {
        "jpg" | "jpeg" | "jpe" if stripped => Plan::Whole,
        "jpg" | "jpeg" | "jpe" | "heic" | "heif" | "dng" => Plan::Head,
        "png" => Plan::Whole,
        _ => Plan::Placeholder,
    }
}

/// Whether this build decodes the item's format (JPEG, PNG) to make a picture of it.
pub(crate) fn decodable(item: &MediaItem) -> bool {
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
/// Every readable photo gets a picture: its EXIF thumbnail when it has one, else the photo
/// itself, pulled whole (a batch at a time through [`PreviewSource::wholes`]) and decoded at
/// reduced scale on every core. Items are worked through in the order given, so a caller
/// that asks for what is on screen first gets those first. What was read is reported in
/// [`PreviewStats`] (see [`PreviewStats::share_percent`]), never used to cut previews short.
///
/// # Errors
/// Whatever the source reports that stops all reading (handset gone, timeout), and
/// [`Error::PreviewSourceMismatch`] when the source answers a batch with the wrong number of
/// heads; `Cancelled` from a source whose handset's token tripped (see
/// [`Handset::with_cancel`](crate::adb::Handset::with_cancel)). Unreadable single files and
/// broken images are placeholders that say why ([`Preview::no_picture`]), and a cache that
/// cannot be written is a progress warning.
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
    let threads = decode_threads(options);
    // Items are worked through in their own order, a batch at a time so heads and whole
    // files are fetched together.
    for chunk in pending.chunks(options.batch.max(1)) {
        let mut work = Work {
            source: &mut *source,
            options,
            progress,
            stats: &mut stats,
        };
        let made = work.chunk(items, chunk, threads)?;
        for (i, (preview, keep)) in chunk.iter().copied().zip(made) {
            let item = &items[i];
            progress.event(Event::started(i, &item.path, item.size));
            if keep {
                if let Err(e) = cache.put(&preview) {
                    let message = format!("preview cache not written: {e}");
                    progress.event(Event::warning(Some(item.path.as_str()), &message));
                }
            }
            slots[i] = Some(preview);
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
        if matches!(
            p.no_picture,
            Some(NoPicture::Damaged | NoPicture::Unreadable)
        ) {
            stats.cannot_be_read += 1;
        }
    }
    Ok(PreviewRun { previews, stats })
}

fn decode_threads(options: &PreviewOptions) -> usize {
    if options.decode_threads > 0 {
        options.decode_threads
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }
}

pub(crate) fn placeholder(
    item: &MediaItem,
    info: PhotoInfo,
    notes: Vec<String>,
    why: NoPicture,
) -> Preview {
    Preview {
        taken: resolve_taken(info.taken, item.taken, item.mtime),
        item: item.clone(),
        info,
        thumbnail: ThumbnailKind::Placeholder,
        image: None,
        notes,
        no_picture: Some(why),
    }
}

fn pictured(
    item: &MediaItem,
    info: PhotoInfo,
    notes: Vec<String>,
    kind: ThumbnailKind,
    image: Thumbnail,
) -> Preview {
    Preview {
        taken: resolve_taken(info.taken, item.taken, item.mtime),
        item: item.clone(),
        info,
        thumbnail: kind,
        image: Some(image),
        notes,
        no_picture: None,
    }
}

/// A photo whose picture comes from decoding the file itself.
struct Decode {
    /// Position in the chunk.
    at: usize,
    info: PhotoInfo,
    notes: Vec<String>,
    /// The whole file when the head already held all of it; pulled otherwise.
    bytes: Option<Vec<u8>>,
}

/// One item's state after its head: finished, or waiting for a decode.
enum Step {
    /// The preview, and whether to cache it (not when the phone would not give the file, so
    /// the next run tries again; not when nothing was read).
    Done(Box<Preview>, bool),
    Decode(Box<Decode>),
}

/// What a decoding thread hands back: the EXIF facts of the whole file
/// (when the file was pulled and holds EXIF), and the picture or the decoder's words.
type Decoded = (Option<PhotoInfo>, std::result::Result<Thumbnail, String>);

/// One batch's reads, with the run's counters.
struct Work<'a> {
    source: &'a mut dyn PreviewSource,
    options: &'a PreviewOptions,
    progress: &'a dyn Progress,
    stats: &'a mut PreviewStats,
}

impl Work<'_> {
    /// The previews of `chunk` (indices into `items`), in its order, each with whether to
    /// cache it.
    fn chunk(
        &mut self,
        items: &[MediaItem],
        chunk: &[usize],
        threads: usize,
    ) -> Result<Vec<(Preview, bool)>> {
        let want: Vec<&MediaItem> = chunk
            .iter()
            .map(|&i| &items[i])
            .filter(|item| plan(item) == Plan::Head)
            .collect();
        let mut heads = Vec::new();
        if !want.is_empty() {
            self.stats.source_calls += 1;
            heads = self.source.heads(&want, self.options.head_bytes)?;
            if heads.len() != want.len() {
                return Err(Error::PreviewSourceMismatch {
                    asked: want.len(),
                    got: heads.len(),
                });
            }
        }
        let mut heads = heads.into_iter();
        let mut steps = Vec::with_capacity(chunk.len());
        for (at, &i) in chunk.iter().enumerate() {
            let item = &items[i];
            let step = match plan(item) {
                Plan::Placeholder => {
                    let (why, notes) = if item.kind == Kind::Photo {
                        (
                            NoPicture::NoDecoder,
                            vec![format!("no decoder for .{} files", extension(item))],
                        )
                    } else {
                        (NoPicture::NotAPhoto, Vec::new())
                    };
                    Step::Done(
                        Box::new(placeholder(item, PhotoInfo::default(), notes, why)),
                        false,
                    )
                }
                Plan::Whole => Step::Decode(Box::new(Decode {
                    at,
                    info: PhotoInfo::default(),
                    notes: Vec::new(),
                    bytes: None,
                })),
                Plan::Head => match heads.next() {
                    Some(Head::Bytes(bytes)) => {
                        self.stats.bytes_read += bytes.len() as u64;
                        self.progress.event(Event::Bytes {
                            bytes: bytes.len() as u64,
                        });
                        self.after_head(item, at, bytes)?
                    }
                    Some(Head::Unreadable(message)) => {
                        self.progress
                            .event(Event::warning(Some(item.path.as_str()), &message));
                        Step::Done(
                            Box::new(unreadable(item, PhotoInfo::default(), &message)),
                            false,
                        )
                    }
                    None => Step::Done(
                        Box::new(unreadable(item, PhotoInfo::default(), "no head came back")),
                        false,
                    ),
                },
            };
            steps.push(step);
        }
        let mut made: Vec<Option<(Preview, bool)>> = Vec::with_capacity(steps.len());
        let mut decodes = Vec::new();
        for step in steps {
            match step {
                Step::Done(preview, keep) => made.push(Some((*preview, keep))),
                Step::Decode(d) => {
                    made.push(None);
                    decodes.push(*d);
                }
            }
        }
        if !decodes.is_empty() {
            let chunk_items: Vec<&MediaItem> = chunk.iter().map(|&i| &items[i]).collect();
            for (at, done) in self.decode_all(&chunk_items, decodes, threads)? {
                made[at] = Some(done);
            }
        }
        Ok(made.into_iter().flatten().collect())
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

    /// What the head of a photo gives: its EXIF thumbnail (reading on when the EXIF block
    /// runs past the head), or a decode of the file itself.
    fn after_head(&mut self, item: &MediaItem, at: usize, mut bytes: Vec<u8>) -> Result<Step> {
        let mut notes = Vec::new();
        let mut info = parse_head(&bytes);
        let have_all = |bytes: &Vec<u8>| bytes.len() as u64 >= item.size;
        if info.exif_cut_off && !have_all(&bytes) {
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
                    return Ok(Step::Done(
                        Box::new(pictured(item, info, notes, ThumbnailKind::Exif, image)),
                        true,
                    ));
                }
                Err(e) => notes.push(format!("EXIF thumbnail not decodable: {e}")),
            }
        }
        if !decodable(item) {
            notes.push(format!(
                "no EXIF thumbnail, and no decoder for .{} files in this build",
                extension(item)
            ));
            notes.append(&mut info.notes);
            return Ok(Step::Done(
                Box::new(placeholder(item, info, notes, NoPicture::NoDecoder)),
                true,
            ));
        }
        if item.size > self.options.whole_max {
            notes.push(format!(
                "no EXIF thumbnail, and the file is larger than the {} bytes pulled to decode",
                self.options.whole_max
            ));
            notes.append(&mut info.notes);
            return Ok(Step::Done(
                Box::new(placeholder(item, info, notes, NoPicture::TooLarge)),
                true,
            ));
        }
        let bytes = have_all(&bytes).then_some(bytes);
        Ok(Step::Decode(Box::new(Decode {
            at,
            info,
            notes,
            bytes,
        })))
    }

    /// Pulls the files of `decodes` that are not in hand yet (one [`PreviewSource::wholes`]
    /// call) while `threads` threads decode what has arrived; the previews by chunk position.
    fn decode_all(
        &mut self,
        chunk_items: &[&MediaItem],
        mut decodes: Vec<Decode>,
        threads: usize,
    ) -> Result<Vec<(usize, (Preview, bool))>> {
        let mut unreadable_files: Vec<Option<String>> = vec![None; decodes.len()];
        let mut results: Vec<Option<Decoded>> = vec![None; decodes.len()];
        let orientations: Vec<Option<u8>> = decodes.iter().map(|d| d.info.orientation).collect();
        // Bounded, so files wait on the wire rather than pile up in memory.
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>, bool)>(threads * 2);
        let job_rx = std::sync::Mutex::new(job_rx);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, Decoded)>();
        let pulled = std::thread::scope(|scope| -> Result<()> {
            for _ in 0..threads {
                let job_rx = &job_rx;
                let done_tx = done_tx.clone();
                let orientations = &orientations;
                scope.spawn(move || loop {
                    let job = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((k, bytes, pulled))) = job else {
                        return;
                    };
                    let decoded = decode_one(&bytes, pulled, orientations[k]);
                    if done_tx.send((k, decoded)).is_err() {
                        return;
                    }
                });
            }
            drop(done_tx);
            let mut to_pull = Vec::new();
            for (k, d) in decodes.iter_mut().enumerate() {
                match d.bytes.take() {
                    Some(bytes) => {
                        let _ = job_tx.send((k, bytes, false));
                    }
                    None => to_pull.push(k),
                }
            }
            let mut outcome = Ok(());
            if !to_pull.is_empty() {
                let wanted: Vec<&MediaItem> = to_pull
                    .iter()
                    .map(|&k| chunk_items[decodes[k].at])
                    .collect();
                self.stats.source_calls += 1;
                let stats = &mut *self.stats;
                let progress = self.progress;
                let unreadable_files = &mut unreadable_files;
                outcome = self.source.wholes(&wanted, &mut |n, file| {
                    let Some(&k) = to_pull.get(n) else {
                        return Ok(());
                    };
                    stats.whole_reads += 1;
                    match file {
                        Head::Bytes(mut bytes) => {
                            // A file that grew since the listing is read as listed.
                            bytes.truncate(usize::try_from(wanted[n].size).unwrap_or(usize::MAX));
                            stats.bytes_read += bytes.len() as u64;
                            stats.whole_bytes += bytes.len() as u64;
                            progress.event(Event::Bytes {
                                bytes: bytes.len() as u64,
                            });
                            job_tx
                                .send((k, bytes, true))
                                .map_err(|_| Error::TransferAbandoned { side: "decoder" })?;
                        }
                        Head::Unreadable(message) => unreadable_files[k] = Some(message),
                    }
                    Ok(())
                });
            }
            drop(job_tx);
            for (k, decoded) in done_rx {
                results[k] = Some(decoded);
            }
            outcome
        });
        pulled?;
        Ok(decodes
            .into_iter()
            .enumerate()
            .map(|(k, d)| {
                let item = chunk_items[d.at];
                (
                    d.at,
                    decoded_preview(item, d, unreadable_files[k].take(), results[k].take()),
                )
            })
            .collect())
    }
}

/// The preview of a photo sent to be decoded, from what came back: the phone's refusal, or
/// the decoder's picture or words. With whether to cache it.
fn decoded_preview(
    item: &MediaItem,
    decode: Decode,
    refused: Option<String>,
    result: Option<Decoded>,
) -> (Preview, bool) {
    let Decode {
        mut info,
        mut notes,
        ..
    } = decode;
    if let Some(message) = refused {
        notes.append(&mut info.notes);
        let mut p = unreadable(item, info, &message);
        p.notes.splice(0..0, notes);
        return (p, false);
    }
    let Some((whole_info, decoded)) = result else {
        // The source ended without delivering this file.
        return (
            unreadable(item, info, "the phone did not send the file"),
            false,
        );
    };
    // The whole file's EXIF, when it has any, says more than a head did; a PNG or a stripped
    // file keeps what the head gave.
    if let Some(whole_info) = whole_info.filter(|w| w.exif || !info.exif) {
        info = whole_info;
    }
    match decoded {
        Ok(image) => {
            notes.append(&mut info.notes);
            (
                pictured(item, info, notes, ThumbnailKind::Decoded, image),
                true,
            )
        }
        Err(e) => {
            notes.push(format!("image not decodable: {e}"));
            notes.append(&mut info.notes);
            (placeholder(item, info, notes, NoPicture::Damaged), true)
        }
    }
}

/// The preview of a photo whose whole bytes are at hand (a backup holds them anyway),
/// decoded at reduced scale; `info` is what its first bytes said.
pub(crate) fn decode_whole_photo(item: &MediaItem, info: PhotoInfo, bytes: &[u8]) -> Preview {
    let orientation = info.orientation;
    let decode = Decode {
        at: 0,
        info,
        notes: Vec::new(),
        bytes: None,
    };
    let decoded = decode_one(bytes, false, orientation);
    decoded_preview(item, decode, None, Some(decoded)).0
}

/// A photo the phone would not give: a placeholder that says so (never cached).
fn unreadable(item: &MediaItem, info: PhotoInfo, message: &str) -> Preview {
    placeholder(
        item,
        info,
        vec![format!("the file could not be read: {message}")],
        NoPicture::Unreadable,
    )
}

/// Decodes one photo on a decoding thread. A decoder that panics on hostile bytes is a
/// damaged image, not a crash of the run.
fn decode_one(bytes: &[u8], pulled: bool, orientation: Option<u8>) -> Decoded {
    let attempt = std::panic::catch_unwind(|| {
        let whole_info = pulled.then(|| parse_head(bytes));
        let orientation = whole_info
            .as_ref()
            .filter(|w| w.exif)
            .map_or(orientation, |w| w.orientation);
        let picture = make_thumbnail(bytes, orientation).map_err(|e| e.to_string());
        (whole_info, picture)
    });
    match attempt {
        Ok(decoded) => decoded,
        Err(_) => (None, Err("the decoder failed on these bytes".to_owned())),
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

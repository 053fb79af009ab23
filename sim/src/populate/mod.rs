//! `phonevault-sim populate`: a deterministic sample phone and its truth file.
//!
//! Everything comes from one ChaCha stream seeded by `--seed`, and files are made in a fixed
//! order, so the same options give the same names, bytes and mtimes on every machine.

mod exif;
mod gallery;
mod media;
mod whatsapp;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, FileTimes};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::profile::Profile;

/// An inclusive range of file sizes in bytes, written `MIN-MAX` or `SIZE` with optional
/// `K`, `M` or `G` suffixes (powers of 1024): `2M-4M`, `100K-300K`, `4096`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRange {
    pub min: u64,
    pub max: u64,
}

impl SizeRange {
    pub const fn new(min: u64, max: u64) -> SizeRange {
        SizeRange { min, max }
    }

    fn pick(self, rng: &mut ChaCha8Rng) -> u64 {
        rng.random_range(self.min..=self.max)
    }

    fn scaled(self, factor: u64) -> SizeRange {
        SizeRange::new(self.min * factor, self.max * factor)
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let factor: u64 = match unit {
        'B' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        _ => return Err(format!("unknown size unit in {text:?} (use K, M or G)")),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {text:?}"))?;
    n.checked_mul(factor)
        .ok_or_else(|| format!("size too large: {text:?}"))
}

impl FromStr for SizeRange {
    type Err = String;

    fn from_str(text: &str) -> Result<SizeRange, String> {
        let (min, max) = if let Some((a, b)) = text.split_once('-') {
            (parse_size(a)?, parse_size(b)?)
        } else {
            let n = parse_size(text)?;
            (n, n)
        };
        if min > max {
            return Err(format!("size range {text:?} has MIN above MAX"));
        }
        Ok(SizeRange { min, max })
    }
}

impl fmt::Display for SizeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

/// Default size of camera photos: small enough for quick tests.
pub const DEFAULT_PHOTO_SIZE: SizeRange = SizeRange::new(40 << 10, 200 << 10);
/// Default size of gallery videos.
pub const DEFAULT_VIDEO_SIZE: SizeRange = SizeRange::new(100 << 10, 400 << 10);
/// Default size of WhatsApp images (WhatsApp videos are five times this).
pub const DEFAULT_WHATSAPP_SIZE: SizeRange = SizeRange::new(20 << 10, 80 << 10);

/// Options of `populate`, as given on the command line.
#[derive(Debug, Clone)]
pub struct PopulateOptions {
    pub dir: PathBuf,
    pub profile: String,
    pub photos: u32,
    pub videos: u32,
    pub whatsapp: u32,
    pub huge: bool,
    pub seed: u64,
    pub truth: PathBuf,
    pub photo_size: SizeRange,
    pub video_size: SizeRange,
    pub whatsapp_size: SizeRange,
    /// Also fill the other WhatsApp layout (legacy and `Android/media`) with a few items.
    pub both_layouts: bool,
}

impl PopulateOptions {
    /// The command line's defaults: 20 photos, 3 videos, 20 WhatsApp images, seed 1, small
    /// sizes, no huge file.
    pub fn new(dir: PathBuf, profile: &str, truth: PathBuf) -> PopulateOptions {
        PopulateOptions {
            dir,
            profile: profile.to_owned(),
            photos: 20,
            videos: 3,
            whatsapp: 20,
            huge: false,
            seed: 1,
            truth,
            photo_size: DEFAULT_PHOTO_SIZE,
            video_size: DEFAULT_VIDEO_SIZE,
            whatsapp_size: DEFAULT_WHATSAPP_SIZE,
            both_layouts: false,
        }
    }
}

/// One line of the truth file; see the shared contract in the project brief and
/// `fixtures/README.md`.
#[derive(Debug, Clone, Serialize)]
pub struct TruthRecord {
    pub path: String,
    pub size: u64,
    pub mtime: i64,
    pub include: bool,
    pub source: Option<&'static str>,
    pub album: Option<String>,
    pub kind: Option<&'static str>,
    pub sent: bool,
    pub private: bool,
    pub taken: Option<String>,
    pub taken_source: Option<&'static str>,
    pub orientation: Option<u16>,
    pub exif_thumbnail: Option<bool>,
}

/// Where a file belongs in the catalog, when it belongs at all.
#[derive(Debug, Clone)]
struct Catalogued {
    source: &'static str,
    album: String,
    kind: &'static str,
    sent: bool,
    private: bool,
    taken: Taken,
}

/// The date the catalog is expected to find.
#[derive(Debug, Clone)]
enum Taken {
    /// From EXIF: wall clock, with the offset when `OffsetTimeOriginal` is present.
    Exif(NaiveDateTime, Option<FixedOffset>),
    /// From the name: wall clock, with an offset for names known to be UTC (Pixel).
    Name(NaiveDateTime, Option<FixedOffset>),
    /// No date in the file or its name: the mtime.
    Mtime,
}

/// JPEG facts the preview expects; `None` for other formats.
#[derive(Debug, Clone, Copy)]
struct JpegFacts {
    orientation: u16,
    exif_thumbnail: bool,
}

/// What to write and how to describe it.
struct FileSpec<'a> {
    rel: &'a str,
    head: &'a [u8],
    /// Pad with random bytes up to this length (no padding when `head` is longer).
    target: u64,
    mtime: i64,
    catalogued: Option<Catalogued>,
    jpeg: Option<JpegFacts>,
}

fn format_taken(local: NaiveDateTime, offset: Option<FixedOffset>) -> String {
    let wall = local.format("%Y-%m-%dT%H:%M:%S");
    match offset {
        Some(offset) => format!("{wall}{offset}"),
        None => wall.to_string(),
    }
}

/// Distinct pictures made per size; later files reuse them with their own EXIF and bytes.
const PICTURE_POOL: usize = 6;

/// An encoded picture, shared by several files.
#[derive(Debug, Clone)]
struct Picture {
    width: u32,
    height: u32,
    jpeg: Vec<u8>,
    /// 160x120 JPEG, for pictures large enough to carry one.
    thumbnail: Option<Vec<u8>>,
}

/// Builds the phone: owns the random stream, writes files and collects the truth.
struct Phone {
    root: PathBuf,
    rng: ChaCha8Rng,
    records: Vec<TruthRecord>,
    paths: BTreeSet<String>,
    pictures: BTreeMap<(u32, u32), Vec<Picture>>,
}

impl Phone {
    /// Whether `rel` is still free (camera names are made from random times and may clash).
    fn is_free(&self, rel: &str) -> bool {
        !self.paths.contains(rel)
    }

    fn write(&mut self, spec: &FileSpec<'_>) -> anyhow::Result<()> {
        assert!(
            self.paths.insert(spec.rel.to_owned()),
            "generator made {:?} twice",
            spec.rel
        );
        let path = self.root.join(spec.rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let seed = self.rng.random();
        let size = media::write_padded(&path, spec.head, spec.target, seed)?;
        set_mtime(&path, spec.mtime)?;
        self.record(spec, size);
        Ok(())
    }

    /// Writes `head`, then extends the file to `len` without writing (a hole).
    fn write_sparse(
        &mut self,
        rel: &str,
        head: &[u8],
        len: u64,
        mtime: i64,
        catalogued: Catalogued,
    ) -> anyhow::Result<()> {
        assert!(
            self.paths.insert(rel.to_owned()),
            "generator made {rel:?} twice"
        );
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&path, head).with_context(|| format!("writing {}", path.display()))?;
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(len))
            .with_context(|| format!("extending {}", path.display()))?;
        set_mtime(&path, mtime)?;
        let spec = FileSpec {
            rel,
            head,
            target: len,
            mtime,
            catalogued: Some(catalogued),
            jpeg: None,
        };
        self.record(&spec, len);
        Ok(())
    }

    fn record(&mut self, spec: &FileSpec<'_>, size: u64) {
        let c = spec.catalogued.as_ref();
        let (taken, taken_source) = match c.map(|c| &c.taken) {
            None => (None, None),
            Some(Taken::Exif(local, offset)) => (Some(format_taken(*local, *offset)), Some("exif")),
            Some(Taken::Name(local, offset)) => {
                (Some(format_taken(*local, *offset)), Some("filename"))
            }
            Some(Taken::Mtime) => {
                let at = DateTime::<Utc>::from_timestamp(spec.mtime, 0).expect("mtime in range");
                (
                    Some(format_taken(at.naive_utc(), FixedOffset::east_opt(0))),
                    Some("mtime"),
                )
            }
        };
        self.records.push(TruthRecord {
            path: format!("/sdcard/{}", spec.rel),
            size,
            mtime: spec.mtime,
            include: c.is_some(),
            source: c.map(|c| c.source),
            album: c.map(|c| c.album.clone()),
            kind: c.map(|c| c.kind),
            sent: c.is_some_and(|c| c.sent),
            private: c.is_some_and(|c| c.private),
            taken,
            taken_source,
            orientation: spec.jpeg.map(|j| j.orientation),
            exif_thumbnail: spec.jpeg.map(|j| j.exif_thumbnail),
        });
    }

    /// A picture of this size: a new one until the pool for the size is full, then a
    /// reused one (encoding dominates the run time, above all in debug builds).
    fn picture(&mut self, width: u32, height: u32) -> Picture {
        let pool = self.pictures.entry((width, height)).or_default();
        if pool.len() < PICTURE_POOL {
            let image = media::pattern(&mut self.rng, width, height);
            pool.push(Picture {
                width,
                height,
                jpeg: media::jpeg(&image, 85),
                thumbnail: (width >= 640).then(|| media::thumbnail(&image)),
            });
            return pool.last().expect("just pushed").clone();
        }
        pool[self.rng.random_range(0..pool.len())].clone()
    }

    /// A text unique to the next file, for the JPEG COM segment.
    fn comment(&self) -> String {
        format!("phonevault-sim file {}", self.records.len() + 1)
    }

    /// A JPEG without EXIF (as WhatsApp and editors save them).
    fn plain_jpeg(&mut self, width: u32, height: u32) -> Vec<u8> {
        let picture = self.picture(width, height);
        media::finish_jpeg(&picture.jpeg, None, &self.comment())
    }

    /// A uniformly random instant between two dates (UTC), whole seconds.
    fn instant_between(&mut self, from: NaiveDate, to: NaiveDate) -> DateTime<Utc> {
        let start = from
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp();
        let end = to
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp();
        let at = self.rng.random_range(start..end);
        DateTime::from_timestamp(at, 0).expect("in range")
    }
}

fn set_mtime(path: &Path, mtime: i64) -> anyhow::Result<()> {
    let at = UNIX_EPOCH + Duration::from_secs(mtime.try_into().context("mtime before 1970")?);
    let times = FileTimes::new().set_modified(at).set_accessed(at);
    File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_times(times))
        .with_context(|| format!("setting the mtime of {}", path.display()))
}

/// Gives every folder the newest mtime below it, as on a phone where folders change when
/// files arrive; this also makes folder times the same on every run.
fn set_folder_mtimes(root: &Path, records: &[TruthRecord]) -> anyhow::Result<()> {
    let mut newest: BTreeMap<&str, i64> = BTreeMap::new();
    for record in records {
        let rel = record
            .path
            .strip_prefix("/sdcard/")
            .expect("generated paths");
        let mut at = rel;
        while let Some((parent, _)) = at.rsplit_once('/') {
            let entry = newest.entry(parent).or_insert(record.mtime);
            *entry = (*entry).max(record.mtime);
            at = parent;
        }
    }
    let all = records.iter().map(|r| r.mtime).max();
    for (rel, mtime) in newest.into_iter().chain(all.map(|m| ("", m))) {
        let path = root.join(rel);
        let at = UNIX_EPOCH + Duration::from_secs(mtime.try_into().context("mtime before 1970")?);
        File::open(&path)
            .and_then(|f| f.set_times(FileTimes::new().set_modified(at).set_accessed(at)))
            .with_context(|| format!("setting the mtime of {}", path.display()))?;
    }
    Ok(())
}

/// Fills `options.dir` (the phone's `/sdcard`, absent or empty) and writes the truth file.
pub fn run(options: &PopulateOptions) -> anyhow::Result<()> {
    let summary = populate(options)?;
    println!(
        "populate: {} files, {} bytes, {} included ({} bytes) in {}",
        summary.files,
        summary.bytes,
        summary.included,
        summary.included_bytes,
        options.dir.display()
    );
    Ok(())
}

/// Totals of one `populate` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
    pub included: usize,
    pub included_bytes: u64,
}

/// [`run`] without the summary line: fills the folder, writes the truth file, returns totals.
pub fn populate(options: &PopulateOptions) -> anyhow::Result<Summary> {
    let Some(profile) = Profile::named(&options.profile) else {
        bail!(
            "unknown profile {:?} (known: {})",
            options.profile,
            Profile::NAMES.join(", ")
        );
    };
    if options.dir.exists()
        && fs::read_dir(&options.dir)
            .with_context(|| format!("reading {}", options.dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; populate fills an empty folder so the truth file lists all of it",
            options.dir.display()
        );
    }
    fs::create_dir_all(&options.dir)
        .with_context(|| format!("creating {}", options.dir.display()))?;

    let mut phone = Phone {
        root: options.dir.clone(),
        rng: ChaCha8Rng::seed_from_u64(options.seed),
        records: Vec::new(),
        paths: BTreeSet::new(),
        pictures: BTreeMap::new(),
    };
    gallery::populate(&mut phone, options)?;
    if options.whatsapp > 0 {
        for business in [false, true] {
            whatsapp::populate(&mut phone, options, &profile, business)?;
        }
        if options.both_layouts {
            // What a phone updated across Android 11 keeps: the other layout's folder with
            // older media in it, which a backup must list as well.
            let mut other = profile.clone();
            other.legacy_whatsapp = !other.legacy_whatsapp;
            let fewer = PopulateOptions {
                whatsapp: (options.whatsapp / 5).max(2),
                ..options.clone()
            };
            whatsapp::populate(&mut phone, &fewer, &other, false)?;
        }
    }

    phone.records.sort_by(|a, b| a.path.cmp(&b.path));
    set_folder_mtimes(&options.dir, &phone.records)?;
    let json = serde_json::to_vec_pretty(&phone.records)?;
    if let Some(parent) = options.truth.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(&options.truth, json)
        .with_context(|| format!("writing {}", options.truth.display()))?;

    let included: Vec<_> = phone.records.iter().filter(|r| r.include).collect();
    Ok(Summary {
        files: phone.records.len(),
        bytes: phone.records.iter().map(|r| r.size).sum(),
        included: included.len(),
        included_bytes: included.iter().map(|r| r.size).sum(),
    })
}

/// Today for the generated phone: fixed, so output never depends on the clock.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_732_300_000, 0).expect("in range")
}

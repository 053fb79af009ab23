//! WhatsApp and WhatsApp Business folders, in the layout of the profile's Android version.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, NaiveTime};
use rand::Rng;

use super::{media, Catalogued, FileSpec, JpegFacts, Phone, PopulateOptions, Taken};
use crate::profile::Profile;

/// One package's folder and the names it uses.
struct Package {
    /// Relative to `/sdcard`.
    root: String,
    /// `WhatsApp` or `WhatsApp Business`: the prefix of the media folder names.
    brand: &'static str,
    source: &'static str,
    /// Per-day counters behind the `-WA0001` suffix, per prefix.
    counters: BTreeMap<(&'static str, NaiveDate), u32>,
    /// Chats come in bursts: the day of the previous item, often reused.
    last_day: Option<NaiveDate>,
}

const PLAIN_JPEG: Option<JpegFacts> = Some(JpegFacts {
    orientation: 1,
    exif_thumbnail: false,
});

impl Package {
    /// `IMG-20241112-WA0001.jpg` and friends; the number counts per day and prefix.
    fn name(&mut self, prefix: &'static str, day: NaiveDate, ext: &str) -> String {
        let n = self.counters.entry((prefix, day)).or_insert(0);
        *n += 1;
        format!("{prefix}-{}-WA{n:04}.{ext}", day.format("%Y%m%d"))
    }

    fn catalogued(&self, album: &str, kind: &'static str, taken: Taken) -> Catalogued {
        Catalogued {
            source: self.source,
            album: album.to_owned(),
            kind,
            sent: false,
            private: false,
            taken,
        }
    }
}

fn named_day(day: NaiveDate) -> Taken {
    Taken::Name(day.and_time(NaiveTime::MIN), None)
}

/// A random day, and an mtime during that day's waking hours in UTC (so the day is the
/// same in any zone within a few hours of UTC).
fn pick_day(phone: &mut Phone, pkg: &mut Package) -> (NaiveDate, i64) {
    let start = NaiveDate::from_ymd_opt(2023, 6, 1).expect("valid date");
    let day = match pkg.last_day {
        Some(day) if phone.rng.random_bool(0.4) => day,
        _ => start + Duration::days(phone.rng.random_range(0..538)),
    };
    pkg.last_day = Some(day);
    let secs = phone.rng.random_range(7 * 3600..21 * 3600);
    let mtime = day.and_time(NaiveTime::MIN).and_utc().timestamp() + secs;
    (day, mtime)
}

/// Media `(folder under Media/, album, prefix, extension, kind)` made the same way.
struct Category {
    folder: String,
    album: &'static str,
    prefix: &'static str,
    ext: &'static str,
    kind: &'static str,
}

pub(super) fn populate(
    phone: &mut Phone,
    options: &PopulateOptions,
    profile: &Profile,
    business: bool,
) -> anyhow::Result<()> {
    let brand = if business {
        "WhatsApp Business"
    } else {
        "WhatsApp"
    };
    let mut pkg = Package {
        root: profile.whatsapp_root(business),
        brand,
        source: if business {
            "whatsapp-business"
        } else {
            "whatsapp"
        },
        counters: BTreeMap::new(),
        last_day: None,
    };
    let images = if business {
        (options.whatsapp / 4).max(2)
    } else {
        options.whatsapp
    };
    let scaled = |div: u32, min: u32| (images / div).max(min);

    images_and_videos(phone, options, &mut pkg, images, scaled(5, 1))?;

    let small = [
        (
            Category {
                folder: format!("{brand} Animated Gifs"),
                album: "Animated Gifs",
                prefix: "VID",
                ext: "mp4",
                kind: "video",
            },
            scaled(10, 1),
        ),
        (
            Category {
                folder: format!("{brand} Audio"),
                album: "Audio",
                prefix: "AUD",
                ext: "mp3",
                kind: "audio",
            },
            scaled(10, 1),
        ),
        (
            Category {
                folder: format!("{brand} Documents"),
                album: "Documents",
                prefix: "DOC",
                ext: "pdf",
                kind: "document",
            },
            scaled(20, 1),
        ),
        (
            Category {
                folder: format!("{brand} Stickers"),
                album: "Stickers",
                prefix: "STK",
                ext: "webp",
                kind: "sticker",
            },
            scaled(5, 1),
        ),
        (
            Category {
                folder: format!("{brand} Profile Photos"),
                album: "Profile Photos",
                prefix: "IMG",
                ext: "jpg",
                kind: "photo",
            },
            2,
        ),
    ];
    for (category, count) in &small {
        for _ in 0..*count {
            let (day, mtime) = pick_day(phone, &mut pkg);
            let name = pkg.name(category.prefix, day, category.ext);
            let rel = format!("{}/Media/{}/{name}", pkg.root, category.folder);
            let (head, target, jpeg) = contents(phone, options, category.ext);
            phone.write(&FileSpec {
                rel: &rel,
                head: &head,
                target,
                mtime,
                catalogued: Some(pkg.catalogued(category.album, category.kind, named_day(day))),
                jpeg,
            })?;
        }
    }

    voice_notes(phone, &mut pkg, scaled(5, 2))?;
    undated(phone, options, &pkg, scaled(10, 2))?;
    databases(phone, &pkg)?;
    Ok(())
}

/// Bytes for a file with extension `ext`: head, padded length, JPEG facts.
fn contents(
    phone: &mut Phone,
    options: &PopulateOptions,
    ext: &str,
) -> (Vec<u8>, u64, Option<JpegFacts>) {
    match ext {
        "jpg" => {
            let head = phone.plain_jpeg(480, 360);
            (head, options.whatsapp_size.pick(&mut phone.rng), PLAIN_JPEG)
        }
        "mp4" => {
            let target = options.whatsapp_size.scaled(5).pick(&mut phone.rng);
            let duration = phone.rng.random_range(2_000..60_000);
            (
                media::mp4_head(1_700_000_000, duration, target),
                target,
                None,
            )
        }
        "mp3" => (
            b"ID3\x03\x00\x00\x00\x00\x00\x00".to_vec(),
            phone.rng.random_range(30_000..300_000),
            None,
        ),
        "opus" => (
            b"OggS\x00\x02".to_vec(),
            phone.rng.random_range(5_000..60_000),
            None,
        ),
        "pdf" => (media::pdf(), 0, None),
        "webp" => {
            let target = phone.rng.random_range(8_000..40_000);
            (media::webp_head(target), target, None)
        }
        other => unreachable!("no contents for .{other}"),
    }
}

/// Images (some in `Sent/` and `Private/`) and videos (some in `Sent/`); those subfolders
/// hold a `.nomedia` as WhatsApp makes them.
fn images_and_videos(
    phone: &mut Phone,
    options: &PopulateOptions,
    pkg: &mut Package,
    images: u32,
    videos: u32,
) -> anyhow::Result<()> {
    let brand = pkg.brand;
    let image_dir = format!("{}/Media/{brand} Images", pkg.root);
    let video_dir = format!("{}/Media/{brand} Video", pkg.root);
    for dir in [
        format!("{image_dir}/Sent"),
        format!("{image_dir}/Private"),
        format!("{video_dir}/Sent"),
    ] {
        phone.write(&FileSpec {
            rel: &format!("{dir}/.nomedia"),
            head: b"",
            target: 0,
            mtime: 1_690_000_000,
            catalogued: None,
            jpeg: None,
        })?;
    }
    for (dir, album, prefix, ext, kind, count) in [
        (&image_dir, "Images", "IMG", "jpg", "photo", images),
        (&video_dir, "Video", "VID", "mp4", "video", videos),
    ] {
        for i in 0..count {
            let (day, mtime) = pick_day(phone, pkg);
            let name = pkg.name(prefix, day, ext);
            // By position rather than by chance, so even a small phone has both kinds.
            let (sub, sent, private) = if i % 6 == 2 {
                ("Sent/", true, false)
            } else if i % 20 == 9 && ext == "jpg" {
                ("Private/", false, true)
            } else {
                ("", false, false)
            };
            let (head, target, jpeg) = contents(phone, options, ext);
            let mut catalogued = pkg.catalogued(album, kind, named_day(day));
            catalogued.sent = sent;
            catalogued.private = private;
            phone.write(&FileSpec {
                rel: &format!("{dir}/{sub}{name}"),
                head: &head,
                target,
                mtime,
                catalogued: Some(catalogued),
                jpeg,
            })?;
        }
    }
    Ok(())
}

/// `Media/WhatsApp Voice Notes/<YYYYWW>/PTT-...opus`: one folder per week.
fn voice_notes(phone: &mut Phone, pkg: &mut Package, count: u32) -> anyhow::Result<()> {
    for _ in 0..count {
        let (day, mtime) = pick_day(phone, pkg);
        let name = pkg.name("PTT", day, "opus");
        let rel = format!(
            "{}/Media/{} Voice Notes/{}/{name}",
            pkg.root,
            pkg.brand,
            day.format("%Y%W")
        );
        let head = b"OggS\x00\x02";
        let target = phone.rng.random_range(5_000..60_000);
        phone.write(&FileSpec {
            rel: &rel,
            head,
            target,
            mtime,
            catalogued: Some(pkg.catalogued("Voice Notes", "audio", named_day(day))),
            jpeg: None,
        })?;
    }
    Ok(())
}

/// Items whose names carry no date: statuses (random hex names), a document kept under its
/// own name, a wallpaper; and the folders a backup leaves alone.
fn undated(
    phone: &mut Phone,
    options: &PopulateOptions,
    pkg: &Package,
    statuses: u32,
) -> anyhow::Result<()> {
    let recent = super::now().timestamp() - 86_400;
    for n in 0..statuses {
        let ext = if n % 2 == 0 { "jpg" } else { "mp4" };
        let hex: String = (0..32)
            .map(|_| char::from_digit(phone.rng.random_range(0..16), 16).expect("hex digit"))
            .collect();
        let (head, target, jpeg) = contents(phone, options, ext);
        let mtime = recent + phone.rng.random_range(0..80_000);
        let kind = if ext == "jpg" { "photo" } else { "video" };
        phone.write(&FileSpec {
            rel: &format!("{}/Media/.Statuses/{hex}.{ext}", pkg.root),
            head: &head,
            target,
            mtime,
            catalogued: Some(pkg.catalogued("Statuses", kind, Taken::Mtime)),
            jpeg,
        })?;
    }
    let brand = pkg.brand;
    let (head, target, jpeg) = contents(phone, options, "jpg");
    phone.write(&FileSpec {
        rel: &format!("{}/Media/WallPaper/wallpaper.jpg", pkg.root),
        head: &head,
        target,
        mtime: 1_700_100_000,
        catalogued: Some(pkg.catalogued("Wallpaper", "photo", Taken::Mtime)),
        jpeg,
    })?;
    phone.write(&FileSpec {
        rel: &format!("{}/Media/{brand} Documents/Boarding pass.pdf", pkg.root),
        head: &media::pdf(),
        target: 0,
        mtime: 1_716_000_000,
        catalogued: Some(pkg.catalogued("Documents", "document", Taken::Mtime)),
        jpeg: None,
    })?;
    for (rel, head, target) in [
        ("Backups/chatsettingsbackup.db.crypt14", &b""[..], 4_000),
        ("Backups/wa.db.crypt14", b"", 20_000),
        (".Shared/share-tmp.jpg", b"\xFF\xD8\xFF", 3_000),
    ] {
        phone.write(&FileSpec {
            rel: &format!("{}/{rel}", pkg.root),
            head,
            target,
            mtime: recent - 7 * 86_400,
            catalogued: None,
            jpeg: None,
        })?;
    }
    Ok(())
}

/// The chat database and one dated daily backup of it (WhatsApp keeps these in `Databases`).
fn databases(phone: &mut Phone, pkg: &Package) -> anyhow::Result<()> {
    let last_night = NaiveDate::from_ymd_opt(2024, 11, 20)
        .expect("valid date")
        .and_hms_opt(2, 0, 0)
        .expect("valid time")
        .and_utc()
        .timestamp();
    for (name, mtime) in [
        ("msgstore.db.crypt14", last_night + 86_400 + 120),
        ("msgstore-2024-11-20.1.db.crypt14", last_night + 95),
    ] {
        let target = phone.rng.random_range(50_000..200_000);
        phone.write(&FileSpec {
            rel: &format!("{}/Databases/{name}", pkg.root),
            head: b"",
            target,
            mtime,
            catalogued: Some(pkg.catalogued("Chats", "database", Taken::Mtime)),
            jpeg: None,
        })?;
    }
    Ok(())
}

//! The Gallery part of the phone: camera photos and videos, screenshots, other albums,
//! awkward names, and the files a backup must leave alone.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use rand::seq::IndexedRandom;
use rand::Rng;

use super::exif::ExifSpec;
use super::{media, Catalogued, FileSpec, JpegFacts, Phone, PopulateOptions, Taken};

/// Offsets a travelling phone records, in minutes east of UTC (home is +01:00).
const OFFSETS: &[i32] = &[60, 60, 60, 60, 120, 0, -300, 540, 330];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn gallery(album: &str, kind: &'static str, taken: Taken) -> Catalogued {
    Catalogued {
        source: "gallery",
        album: album.to_owned(),
        kind,
        sent: false,
        private: false,
        taken,
    }
}

const PLAIN_JPEG: Option<JpegFacts> = Some(JpegFacts {
    orientation: 1,
    exif_thumbnail: false,
});

pub(super) fn populate(phone: &mut Phone, options: &PopulateOptions) -> anyhow::Result<()> {
    camera_photos(phone, options)?;
    camera_videos(phone, options)?;
    screenshots(phone, options)?;
    kyoto(phone, options)?;
    other_albums(phone)?;
    awkward_names(phone)?;
    left_out(phone)?;
    if options.huge {
        huge(phone)?;
    }
    Ok(())
}

fn pick_offset(phone: &mut Phone) -> FixedOffset {
    let minutes = *OFFSETS.choose(&mut phone.rng).expect("not empty");
    FixedOffset::east_opt(minutes * 60).expect("valid offset")
}

fn pick_orientation(phone: &mut Phone) -> u16 {
    if phone.rng.random_bool(0.8) {
        1
    } else {
        *[3, 6, 8].choose(&mut phone.rng).expect("not empty")
    }
}

/// A camera photo, as a Pixel or a Samsung names and tags it.
fn camera_photos(phone: &mut Phone, options: &PopulateOptions) -> anyhow::Result<()> {
    for i in 0..options.photos {
        let pixel = phone.rng.random_bool(0.6);
        let offset = pick_offset(phone);
        let (instant, millis, rel) = loop {
            let instant = phone.instant_between(date(2022, 1, 1), date(2024, 11, 20));
            let millis: u32 = phone.rng.random_range(0..1000);
            let local = instant.with_timezone(&offset).naive_local();
            let rel = if pixel {
                format!(
                    "DCIM/Camera/PXL_{}{millis:03}.jpg",
                    instant.format("%Y%m%d_%H%M%S")
                )
            } else {
                format!("DCIM/Camera/{}.jpg", local.format("%Y%m%d_%H%M%S"))
            };
            if phone.is_free(&rel) {
                break (instant, millis, rel);
            }
        };
        let local = instant.with_timezone(&offset).naive_local();
        // Older Samsung firmware wrote no OffsetTimeOriginal.
        let recorded_offset = (pixel || phone.rng.random_bool(0.75)).then_some(offset);
        let (make, model) = if pixel {
            (
                "Google",
                *["Pixel 8", "Pixel 7a"]
                    .choose(&mut phone.rng)
                    .expect("not empty"),
            )
        } else {
            (
                "samsung",
                *["SM-S911B", "SM-A546B"]
                    .choose(&mut phone.rng)
                    .expect("not empty"),
            )
        };
        // By position rather than by chance, so every small phone has each rotation.
        let orientation = if i % 5 == 4 {
            [6, 3, 8][(i as usize / 5) % 3]
        } else {
            1
        };
        let with_thumbnail = phone.rng.random_range(0..5) != 0;
        let gps = phone.rng.random_bool(0.35).then(|| {
            (
                phone.rng.random_range(-60.0..70.0),
                phone.rng.random_range(-180.0..180.0),
            )
        });
        let picture = phone.picture(640, 480);
        let spec = ExifSpec {
            make: make.into(),
            model: model.into(),
            orientation,
            date_time_original: local.format("%Y:%m:%d %H:%M:%S").to_string(),
            offset_time_original: recorded_offset.map(|o| o.to_string()),
            sub_sec_time_original: Some(format!("{millis:03}")),
            pixel_width: picture.width,
            pixel_height: picture.height,
            gps,
            thumbnail: picture.thumbnail.filter(|_| with_thumbnail),
        };
        let bytes = media::finish_jpeg(&picture.jpeg, Some(&spec), &phone.comment());
        let target = options.photo_size.pick(&mut phone.rng);
        // The file is closed a moment after the shutter.
        let mtime = instant.timestamp() + phone.rng.random_range(1..=4);
        phone.write(&FileSpec {
            rel: &rel,
            head: &bytes,
            target,
            mtime,
            catalogued: Some(gallery(
                "Camera",
                "photo",
                Taken::Exif(local, recorded_offset),
            )),
            jpeg: Some(JpegFacts {
                orientation,
                exif_thumbnail: with_thumbnail,
            }),
        })?;
    }
    Ok(())
}

const MOVIE_TITLES: &[&str] = &["Birthday party", "Concert", "Beach day", "Recital", "Drone"];

/// Camera videos (Pixel names in UTC, Samsung names in local time) and a few in `Movies`.
fn camera_videos(phone: &mut Phone, options: &PopulateOptions) -> anyhow::Result<()> {
    for i in 0..options.videos {
        let duration_s: i64 = phone.rng.random_range(5..90);
        let target = options.video_size.pick(&mut phone.rng);
        let (rel, instant, taken, album) = loop {
            let instant = phone.instant_between(date(2022, 1, 1), date(2024, 11, 20));
            let (rel, taken, album) = if i % 4 == 3 {
                let title = MOVIE_TITLES[(i as usize / 4) % MOVIE_TITLES.len()];
                (
                    format!("Movies/{title} {}.mp4", i / 4 + 1),
                    Taken::Mtime,
                    "Movies",
                )
            } else if phone.rng.random_bool(0.6) {
                let millis: u32 = phone.rng.random_range(0..1000);
                let rel = format!(
                    "DCIM/Camera/PXL_{}{millis:03}.mp4",
                    instant.format("%Y%m%d_%H%M%S")
                );
                let utc = FixedOffset::east_opt(0);
                (rel, Taken::Name(instant.naive_utc(), utc), "Camera")
            } else {
                let local = instant.with_timezone(&pick_offset(phone)).naive_local();
                let rel = format!("DCIM/Camera/{}.mp4", local.format("%Y%m%d_%H%M%S"));
                (rel, Taken::Name(local, None), "Camera")
            };
            if phone.is_free(&rel) {
                break (rel, instant, taken, album);
            }
        };
        let head = media::mp4_head(instant.timestamp(), (duration_s * 1000) as u32, target);
        let mtime = instant.timestamp() + duration_s + 1;
        phone.write(&FileSpec {
            rel: &rel,
            head: &head,
            target,
            mtime,
            catalogued: Some(gallery(album, "video", taken)),
            jpeg: None,
        })?;
    }
    Ok(())
}

/// `Screenshot_YYYYMMDD-HHMMSS.png`: no EXIF, local time in the name.
fn screenshots(phone: &mut Phone, options: &PopulateOptions) -> anyhow::Result<()> {
    for _ in 0..=options.photos / 5 {
        let offset = pick_offset(phone);
        let (rel, instant) = loop {
            let instant = phone.instant_between(date(2023, 1, 1), date(2024, 11, 20));
            let local = instant.with_timezone(&offset).naive_local();
            let rel = format!(
                "Pictures/Screenshots/Screenshot_{}.png",
                local.format("%Y%m%d-%H%M%S")
            );
            if phone.is_free(&rel) {
                break (rel, instant);
            }
        };
        let local = instant.with_timezone(&offset).naive_local();
        let image = media::pattern(&mut phone.rng, 270, 585);
        let bytes = media::png(&image);
        phone.write(&FileSpec {
            rel: &rel,
            head: &bytes,
            target: 0,
            mtime: instant.timestamp(),
            catalogued: Some(gallery("Screenshots", "photo", Taken::Name(local, None))),
            jpeg: None,
        })?;
    }
    Ok(())
}

/// An album from a camera: FUJIFILM EXIF, upper-case `.JPG`, all in Japan time.
fn kyoto(phone: &mut Phone, options: &PopulateOptions) -> anyhow::Result<()> {
    let japan = FixedOffset::east_opt(9 * 3600).expect("valid offset");
    let start = date(2023, 4, 2)
        .and_hms_opt(0, 30, 0)
        .expect("valid time")
        .and_utc();
    for n in 0..(options.photos / 10).max(2) {
        let instant =
            start + Duration::seconds(i64::from(n) * 5400 + phone.rng.random_range(0..3000));
        let local = instant.with_timezone(&japan).naive_local();
        let orientation = pick_orientation(phone);
        let picture = phone.picture(640, 480);
        let spec = ExifSpec {
            make: "FUJIFILM".into(),
            model: "X-T30".into(),
            orientation,
            date_time_original: local.format("%Y:%m:%d %H:%M:%S").to_string(),
            offset_time_original: Some(japan.to_string()),
            sub_sec_time_original: None,
            pixel_width: picture.width,
            pixel_height: picture.height,
            gps: None,
            thumbnail: picture.thumbnail,
        };
        let bytes = media::finish_jpeg(&picture.jpeg, Some(&spec), &phone.comment());
        let target = options.photo_size.pick(&mut phone.rng);
        phone.write(&FileSpec {
            rel: &format!("Pictures/Trip to Kyoto/DSCF{:04}.JPG", 101 + n),
            head: &bytes,
            target,
            mtime: instant.timestamp() + 2,
            catalogued: Some(gallery(
                "Trip to Kyoto",
                "photo",
                Taken::Exif(local, Some(japan)),
            )),
            jpeg: Some(JpegFacts {
                orientation,
                exif_thumbnail: true,
            }),
        })?;
    }
    Ok(())
}

/// Saved pictures without EXIF, and an album hidden by `.nomedia` (left out with all below it).
fn other_albums(phone: &mut Phone) -> anyhow::Result<()> {
    for n in 1..=2 {
        let bytes = phone.plain_jpeg(480, 480);
        let mtime = phone
            .instant_between(date(2024, 1, 1), date(2024, 11, 1))
            .timestamp();
        phone.write(&FileSpec {
            rel: &format!("Pictures/Instagram/insta-{n:04}.jpg"),
            head: &bytes,
            target: 0,
            mtime,
            catalogued: Some(gallery("Instagram", "photo", Taken::Mtime)),
            jpeg: PLAIN_JPEG,
        })?;
    }
    let hidden_mtime = now_minus(phone, 200);
    phone.write(&FileSpec {
        rel: "Pictures/Hidden Album/.nomedia",
        head: b"",
        target: 0,
        mtime: hidden_mtime,
        catalogued: None,
        jpeg: None,
    })?;
    for rel in [
        "Pictures/Hidden Album/private-1.jpg",
        "Pictures/Hidden Album/private-2.jpg",
        "Pictures/Hidden Album/More/deeper.jpg",
    ] {
        let bytes = phone.plain_jpeg(320, 240);
        phone.write(&FileSpec {
            rel,
            head: &bytes,
            target: 0,
            mtime: hidden_mtime + 60,
            catalogued: None,
            jpeg: PLAIN_JPEG,
        })?;
    }
    Ok(())
}

fn now_minus(phone: &mut Phone, days: i64) -> i64 {
    let jitter = phone.rng.random_range(0..86_400);
    (super::now() - Duration::days(days)).timestamp() + jitter
}

/// Names that break careless shell quoting or path handling; all are real Gallery items.
const AWKWARD: &[&str] = &[
    "DCIM/Camera/with space.jpg",
    "DCIM/Camera/写真 фото.jpg",
    "DCIM/Camera/it's \"quoted\".jpg",
    "DCIM/Camera/$HOME.jpg",
    "DCIM/Camera/-rf.jpg",
    "DCIM/Camera/line\nbreak.jpg",
];

fn awkward_names(phone: &mut Phone) -> anyhow::Result<()> {
    for rel in AWKWARD {
        let bytes = phone.plain_jpeg(320, 240);
        let mtime = phone
            .instant_between(date(2024, 1, 1), date(2024, 11, 1))
            .timestamp();
        phone.write(&FileSpec {
            rel,
            head: &bytes,
            target: 0,
            mtime,
            catalogued: Some(gallery("Camera", "photo", Taken::Mtime)),
            jpeg: PLAIN_JPEG,
        })?;
    }
    Ok(())
}

/// Files a backup must not take: caches, trash, pending captures, non-media folders.
fn left_out(phone: &mut Phone) -> anyhow::Result<()> {
    for rel in [
        "DCIM/.thumbnails/1731000000.jpg",
        "DCIM/.thumbnails/1731000001.jpg",
        "DCIM/Camera/.trashed-1731000000-x.jpg",
        "DCIM/Camera/.pending-1731000000-y.jpg",
        "DCIM/Camera/.hidden.jpg",
        "Download/photo-from-web.jpg",
        "Android/data/com.example.app/files/cache.jpg",
    ] {
        let bytes = phone.plain_jpeg(160, 120);
        let mtime = now_minus(phone, 30);
        phone.write(&FileSpec {
            rel,
            head: &bytes,
            target: 0,
            mtime,
            catalogued: None,
            jpeg: PLAIN_JPEG,
        })?;
    }
    let pdf = media::pdf();
    let others: [(&str, &[u8], u64); 3] = [
        ("Download/manual.pdf", &pdf, 0),
        ("Music/Song.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00", 40_000),
        ("DCIM/Camera/notes.txt", b"not media\n", 0),
    ];
    for (rel, head, target) in others {
        let mtime = now_minus(phone, 60);
        phone.write(&FileSpec {
            rel,
            head,
            target,
            mtime,
            catalogued: None,
            jpeg: None,
        })?;
    }
    Ok(())
}

/// 4.5 GiB, sparse: a valid MP4 head and a hole, so it costs almost no disk.
fn huge(phone: &mut Phone) -> anyhow::Result<()> {
    const LEN: u64 = 4608 << 20;
    let rel = "Movies/huge-4.5GiB.mp4";
    let recorded: DateTime<Utc> = phone.instant_between(date(2024, 6, 1), date(2024, 6, 30));
    let head = media::mp4_head(recorded.timestamp(), 3_600_000, LEN);
    let mtime = recorded.timestamp() + 3601;
    phone.write_sparse(
        rel,
        &head,
        LEN,
        mtime,
        gallery("Movies", "video", Taken::Mtime),
    )
}

//! The preview pipeline on generated photos: orientation, the disk cache,
//! hostile EXIF, the JSON records and the HTML contact sheet.

mod preview_common;

use std::io::Cursor;

use exif::experimental::Writer;
use exif::{Field, In, Tag, Value};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use phonevault::catalog::{DateSource, Kind, Source};
use phonevault::preview::{
    build_previews, make_thumbnail, parse_head, records, render_sheet, NoPicture, PreviewCache,
    PreviewOptions, ThumbnailKind,
};
use phonevault::progress::NoProgress;
use preview_common::{item, temp_cache_dir, MemSource};

const RED: [u8; 3] = [230, 20, 20];
const GREEN: [u8; 3] = [20, 200, 20];
const BLUE: [u8; 3] = [20, 20, 230];
const WHITE: [u8; 3] = [250, 250, 250];

/// A landscape picture with a solid colour in each quadrant: red top left, green top right,
/// blue bottom left, white bottom right.
fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb(match (x < width / 2, y < height / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    })
}

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

fn near(pixel: Rgb<u8>, want: [u8; 3]) -> bool {
    pixel
        .0
        .iter()
        .zip(want)
        .all(|(&a, b)| (i16::from(a) - i16::from(b)).abs() < 40)
}

#[test]
fn every_orientation_lands_upright() {
    let png = encode(&quadrants(600, 300), ImageFormat::Png);
    // (width, height, top-left colour, top-right colour) of the upright thumbnail.
    let expected = [
        (1, 256, 128, RED, GREEN),
        (2, 256, 128, GREEN, RED),
        (3, 256, 128, WHITE, BLUE),
        (4, 256, 128, BLUE, WHITE),
        (5, 128, 256, RED, BLUE),
        (6, 128, 256, BLUE, RED),
        (7, 128, 256, WHITE, GREEN),
        (8, 128, 256, GREEN, WHITE),
    ];
    for (orientation, w, h, top_left, top_right) in expected {
        let thumb = make_thumbnail(&png, Some(orientation)).unwrap();
        assert_eq!(
            (thumb.width, thumb.height),
            (w, h),
            "orientation {orientation}"
        );
        let back = image::load_from_memory_with_format(&thumb.jpeg, ImageFormat::Jpeg)
            .unwrap()
            .to_rgb8();
        assert_eq!(back.dimensions(), (w, h));
        let tl = *back.get_pixel(4, 4);
        let tr = *back.get_pixel(w - 5, 4);
        assert!(
            near(tl, top_left),
            "orientation {orientation}: top left {tl:?}"
        );
        assert!(
            near(tr, top_right),
            "orientation {orientation}: top right {tr:?}"
        );
    }
    // Out-of-range values are ignored rather than guessed at.
    let thumb = make_thumbnail(&png, Some(9)).unwrap();
    assert_eq!((thumb.width, thumb.height), (256, 128));
}

/// A JPEG as a phone camera writes it: an EXIF block with date, offset, orientation, camera
/// and a 160x80 JPEG thumbnail, then the picture, then `padding` bytes to reach a realistic
/// file size.
fn camera_jpeg(date: &str, offset: &str, orientation: u16, padding: usize) -> Vec<u8> {
    let picture = quadrants(320, 160);
    let thumb = encode(
        &image::imageops::thumbnail(&picture, 160, 80),
        ImageFormat::Jpeg,
    );
    let fields = [
        Field {
            tag: Tag::Make,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"Google".to_vec()]),
        },
        Field {
            tag: Tag::Model,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"Pixel 8".to_vec()]),
        },
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![orientation]),
        },
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![date.as_bytes().to_vec()]),
        },
        Field {
            tag: Tag::OffsetTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![offset.as_bytes().to_vec()]),
        },
        Field {
            tag: Tag::SubSecTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"345".to_vec()]),
        },
    ];
    let mut writer = Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    writer.set_jpeg(&thumb, In::THUMBNAIL);
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let body = encode(&picture, ImageFormat::Jpeg);
    let mut out = vec![0xff, 0xd8, 0xff, 0xe1];
    out.extend_from_slice(&u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&body[2..]);
    out.resize(out.len() + padding, 0);
    out
}

#[test]
fn exif_thumbnail_date_and_orientation_come_from_the_head() {
    let jpeg = camera_jpeg("2024:03:12 15:30:12", "+01:00", 6, 0);
    let info = parse_head(&jpeg);
    assert_eq!(info.orientation, Some(6));
    assert_eq!(info.make.as_deref(), Some("Google"));
    assert_eq!(info.model.as_deref(), Some("Pixel 8"));
    assert_eq!((info.width, info.height), (Some(320), Some(160)));
    let taken = info.taken.unwrap();
    assert_eq!(taken.source, DateSource::Exif);
    assert_eq!(taken.offset_seconds, Some(3600));
    assert_eq!(taken.local.to_string(), "2024-03-12 15:30:12.345");
    let thumb = make_thumbnail(info.thumbnail_bytes(&jpeg).unwrap(), info.orientation).unwrap();
    // 160x80 stored, turned upright by orientation 6.
    assert_eq!((thumb.width, thumb.height), (80, 160));
}

/// Builds a phone's worth of items: camera JPEGs with thumbnails (3 MB each, like real
/// photos), one WhatsApp JPEG without EXIF, a PNG screenshot, a video and a HEIC.
fn phone() -> (Vec<phonevault::catalog::MediaItem>, MemSource) {
    let mut source = MemSource::default();
    let mut items = Vec::new();
    let mut add = |path: &str, kind: Kind, bytes: Vec<u8>| {
        items.push(item(path, bytes.len() as u64, kind));
        source.add(path, bytes);
    };
    for i in 0..20u32 {
        let date = format!("2024:03:{:02} 15:30:12", 1 + i % 28);
        add(
            &format!(
                "/sdcard/DCIM/Camera/PXL_202403{:02}_153012345.jpg",
                1 + i % 28
            ),
            Kind::Photo,
            camera_jpeg(&date, "+00:00", 1 + (i % 8) as u16, 3_000_000),
        );
    }
    add(
        "/sdcard/WhatsApp/Media/WhatsApp Images/IMG-20240301-WA0001.jpg",
        Kind::Photo,
        // Longer than a head, so it must be pulled whole.
        [
            encode(&quadrants(400, 200), ImageFormat::Jpeg),
            vec![0; 100_000],
        ]
        .concat(),
    );
    add(
        "/sdcard/Pictures/Screenshots/Screenshot_20240301-101010.png",
        Kind::Photo,
        encode(&quadrants(200, 400), ImageFormat::Png),
    );
    add(
        "/sdcard/DCIM/Camera/PXL_20240301_101010000.mp4",
        Kind::Video,
        vec![0; 5000],
    );
    add(
        "/sdcard/DCIM/Camera/IMG_0001.HEIC",
        Kind::Photo,
        b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(),
    );
    (items, source)
}

#[test]
fn second_run_reads_nothing_and_gives_the_same_previews() {
    let (items, mut source) = phone();
    let photo_bytes: u64 = items
        .iter()
        .filter(|i| i.path.contains("PXL_") && i.kind == Kind::Photo)
        .map(|i| i.size)
        .sum();
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "SERIAL1").unwrap();
    let options = PreviewOptions::default();
    let first = build_previews(&items, &mut source, &cache, &options, &NoProgress).unwrap();
    assert!(source.calls() > 0);
    assert_eq!(first.stats.bytes_read, source.bytes);
    assert_eq!(first.stats.exif_thumbnails, 20);
    assert_eq!(first.stats.decoded, 2);
    assert_eq!(first.stats.placeholders, 2);
    // The camera photos cost only their heads: far under 5% of their size.
    let camera_read: u64 = 20 * phonevault::preview::HEAD_BYTES as u64;
    assert!(
        camera_read * 20 <= photo_bytes,
        "{camera_read} of {photo_bytes} bytes"
    );
    println!(
        "first run: {:?}; camera photos {photo_bytes} bytes, heads {camera_read} bytes ({:.2}%)",
        first.stats,
        camera_read as f64 * 100.0 / photo_bytes as f64
    );

    let mut again = MemSource {
        files: source.files.clone(),
        ..MemSource::default()
    };
    let second = build_previews(&items, &mut again, &cache, &options, &NoProgress).unwrap();
    assert_eq!(again.calls(), 0, "the second run asked the phone for bytes");
    assert_eq!(second.stats.bytes_read, 0);
    // Everything but the video, whose placeholder costs nothing to make again.
    assert_eq!(second.stats.cache_hits, 23);
    // Everything but where the thumbnail lay in the bytes read, which the cache does not need.
    let mut expected = first.previews.clone();
    for p in &mut expected {
        p.info.thumbnail = None;
    }
    for (a, b) in expected.iter().zip(&second.previews) {
        assert!(a == b, "cached preview of {} differs", a.item.path);
    }

    // Another handset's cache, or a changed file, is not this one.
    let other = PreviewCache::open(cache_dir.path(), "SERIAL2").unwrap();
    let mut third = MemSource {
        files: source.files.clone(),
        ..MemSource::default()
    };
    let mut changed = items.clone();
    changed.truncate(1);
    let run = build_previews(&changed, &mut third, &other, &options, &NoProgress).unwrap();
    assert_eq!(run.stats.cache_hits, 0);
    changed[0].mtime += 1;
    let run = build_previews(&changed, &mut third, &cache, &options, &NoProgress).unwrap();
    assert_eq!(run.stats.cache_hits, 0);
}

#[test]
fn records_follow_the_shared_contract() {
    let (items, mut source) = phone();
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "SERIAL1").unwrap();
    let run = build_previews(
        &items,
        &mut source,
        &cache,
        &PreviewOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let json: Vec<serde_json::Value> = records(&run.previews)
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    let first = &json[0];
    assert_eq!(first["id"], items[0].id.as_str());
    assert_eq!(
        first["path"],
        "/sdcard/DCIM/Camera/PXL_20240301_153012345.jpg"
    );
    assert_eq!(first["taken"], "2024-03-01T15:30:12+00:00");
    assert_eq!(first["taken_source"], "exif");
    assert_eq!(first["orientation"], 1);
    assert_eq!(first["thumbnail"], "exif");
    assert_eq!(first["width"], 320);
    assert_eq!(first["make"], "Google");
    assert!(first.get("gps").is_none());
    let whatsapp = &json[20];
    assert_eq!(whatsapp["thumbnail"], "decoded");
    assert_eq!(whatsapp["taken_source"], "mtime");
    assert_eq!(whatsapp["taken"], "2023-11-14T22:13:20+00:00");
    assert_eq!(json[22]["thumbnail"], "placeholder");
    assert_eq!(json[23]["thumbnail"], "placeholder");
}

#[test]
fn unreadable_files_become_uncached_placeholders() {
    let (mut items, mut source) = phone();
    items.truncate(1);
    source.files.clear();
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "SERIAL1").unwrap();
    let options = PreviewOptions::default();
    let run = build_previews(&items, &mut source, &cache, &options, &NoProgress).unwrap();
    assert_eq!(run.previews[0].thumbnail, ThumbnailKind::Placeholder);
    assert_eq!(run.previews[0].no_picture, Some(NoPicture::Unreadable));
    assert!(!run.previews[0].notes.is_empty());
    let run = build_previews(&items, &mut source, &cache, &options, &NoProgress).unwrap();
    assert_eq!(run.stats.cache_hits, 0);
    assert_eq!(
        source.head_calls, 2,
        "a failed read must be retried next time"
    );
}

/// TIFF structures built to hurt, by name.
fn hostile_tiffs() -> Vec<(&'static str, Vec<u8>)> {
    let le32 = |v: u32| v.to_le_bytes();
    let le16 = |v: u16| v.to_le_bytes();
    let entry = |tag: u16, kind: u16, count: u32, value: u32| {
        let mut e = Vec::new();
        e.extend_from_slice(&le16(tag));
        e.extend_from_slice(&le16(kind));
        e.extend_from_slice(&le32(count));
        e.extend_from_slice(&le32(value));
        e
    };
    let ifd = |entries: &[Vec<u8>], next: u32| {
        let mut d = le16(u16::try_from(entries.len()).unwrap()).to_vec();
        for e in entries {
            d.extend_from_slice(e);
        }
        d.extend_from_slice(&le32(next));
        d
    };
    vec![
        // IFD0 whose next-IFD pointer is itself.
        (
            "loop",
            [
                b"II*\0\x08\0\0\0".to_vec(),
                ifd(&[entry(0x0112, 3, 1, 6)], 8),
            ]
            .concat(),
        ),
        // Exif IFD pointer back to IFD0.
        (
            "exif loop",
            [
                b"II*\0\x08\0\0\0".to_vec(),
                ifd(&[entry(0x8769, 4, 1, 8)], 0),
            ]
            .concat(),
        ),
        // A Make string claiming 4 GB.
        (
            "huge count",
            [
                b"II*\0\x08\0\0\0".to_vec(),
                ifd(&[entry(0x010f, 2, u32::MAX, 26)], 0),
            ]
            .concat(),
        ),
        // 65535 entries announced, none there.
        (
            "huge ifd",
            [b"II*\0\x08\0\0\0".to_vec(), vec![0xff, 0xff]].concat(),
        ),
        // IFD0 past the end.
        ("ifd past end", b"II*\0\xff\xff\xff\x7f".to_vec()),
        // Thumbnail offset past the end, and a length that overflows.
        (
            "thumb past end",
            [
                b"II*\0\x08\0\0\0".to_vec(),
                ifd(&[], 14),
                ifd(
                    &[
                        entry(0x0201, 4, 1, 0xffff_fff0),
                        entry(0x0202, 4, 1, 0xffff_fff0),
                    ],
                    0,
                ),
            ]
            .concat(),
        ),
    ]
}

/// EXIF built to hurt: offsets past the end, IFD loops, huge counts. Each gives notes and a
/// placeholder or a decoded picture, quickly.
#[test]
fn hostile_exif_gives_notes_not_crashes() {
    let tiffs = hostile_tiffs();
    let picture = encode(&quadrants(64, 32), ImageFormat::Jpeg);
    let mut source = MemSource::default();
    let mut items = Vec::new();
    for (name, tiff) in &tiffs {
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
        jpeg.extend_from_slice(&u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
        jpeg.extend_from_slice(b"Exif\0\0");
        jpeg.extend_from_slice(tiff);
        jpeg.extend_from_slice(&picture[2..]);
        let started = std::time::Instant::now();
        let info = parse_head(&jpeg);
        assert!(started.elapsed().as_millis() < 200, "{name}: slow");
        assert!(info.thumbnail.is_none(), "{name}: {info:?}");
        let path = format!("/sdcard/DCIM/Camera/{}.jpg", name.replace(' ', "_"));
        items.push(item(&path, jpeg.len() as u64, Kind::Photo));
        source.add(&path, jpeg);
    }
    // A JPEG whose APP1 length runs past the end of the file.
    let cut = [&[0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff][..], b"Exif\0\0II*\0"].concat();
    let info = parse_head(&cut);
    assert!(info.exif_cut_off && info.thumbnail.is_none());
    items.push(item(
        "/sdcard/DCIM/Camera/cut.jpg",
        cut.len() as u64,
        Kind::Photo,
    ));
    source.add("/sdcard/DCIM/Camera/cut.jpg", cut);

    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "HOSTILE").unwrap();
    let run = build_previews(
        &items,
        &mut source,
        &cache,
        &PreviewOptions::default(),
        &NoProgress,
    )
    .unwrap();
    for p in &run.previews {
        assert_ne!(p.thumbnail, ThumbnailKind::Exif, "{}", p.item.path);
        if p.thumbnail == ThumbnailKind::Placeholder {
            assert!(!p.notes.is_empty(), "{}", p.item.path);
        }
    }
    assert_eq!(
        run.previews.last().unwrap().thumbnail,
        ThumbnailKind::Placeholder
    );
}

#[test]
fn contact_sheet_has_a_tile_per_item_and_inert_names() {
    let (mut items, mut source) = phone();
    let evil = "/sdcard/Pictures/x/<img src=x onerror=alert(1)><script>alert(2)&\"'.png";
    let png = encode(&quadrants(40, 20), ImageFormat::Png);
    items.push(item(evil, png.len() as u64, Kind::Photo));
    source.add(evil, png);
    items[20].source = Source::Whatsapp;
    items[20].album = "Images".to_owned();
    items[20].sent = true;
    items[21].private = true;
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "SERIAL1").unwrap();
    let run = build_previews(
        &items,
        &mut source,
        &cache,
        &PreviewOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let html = render_sheet(&run.previews, "Phone <b>\"one\"</b>");
    assert!(
        !html.to_ascii_lowercase().contains("<script") && !html.contains("<img src=x"),
        "raw script tag in the sheet"
    );
    assert!(html
        .contains("&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&amp;&quot;&#39;.png"));
    assert!(html.contains("<title>Phone &lt;b&gt;&quot;one&quot;&lt;/b&gt;</title>"));
    assert_eq!(html.matches("<figure class=\"tile\"").count(), items.len());
    for item in &items {
        assert!(
            html.contains(&format!("id=\"item-{}\"", item.id)),
            "{}",
            item.path
        );
    }
    assert_eq!(
        html.matches("src=\"data:image/jpeg;base64,").count(),
        run.previews.iter().filter(|p| p.image.is_some()).count()
    );
    assert_eq!(html.matches("class=\"mark sent\"").count(), 1);
    assert_eq!(html.matches("class=\"mark private\"").count(), 1);
    assert_eq!(html.matches("class=\"mark placeholder\"").count(), 2);
    assert!(html.contains("<h2>gallery</h2>") && html.contains("<h2>whatsapp</h2>"));
    assert!(html.contains("<h4>2024-03-01</h4>"));
    assert!(html.contains("Content-Security-Policy"));
}

/// Big APP segments in front of the EXIF block (ICC profiles) push it past the head: the
/// pipeline reads just far enough to hold it, and still uses the embedded thumbnail.
#[test]
fn exif_behind_large_segments_is_read_further() {
    let camera = camera_jpeg("2024:03:12 15:30:12", "+01:00", 1, 3_000_000);
    let mut jpeg = vec![0xff, 0xd8];
    for filler in [65_000usize, 10_000] {
        jpeg.extend_from_slice(&[0xff, 0xe2]);
        jpeg.extend_from_slice(&u16::try_from(filler + 2).unwrap().to_be_bytes());
        jpeg.resize(jpeg.len() + filler, 0x55);
    }
    jpeg.extend_from_slice(&camera[2..]);
    let head = parse_head(&jpeg[..phonevault::preview::HEAD_BYTES]);
    assert!(head.exif_cut_off && !head.exif, "{head:?}");
    let path = "/sdcard/DCIM/Camera/PXL_20240312_143012000.jpg";
    let items = vec![item(path, jpeg.len() as u64, Kind::Photo)];
    let mut source = MemSource::default();
    source.add(path, jpeg);
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "ICC").unwrap();
    let run = build_previews(
        &items,
        &mut source,
        &cache,
        &PreviewOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let p = &run.previews[0];
    assert_eq!(p.thumbnail, ThumbnailKind::Exif, "{:?}", p.notes);
    assert_eq!(p.taken.unwrap().offset_seconds, Some(3600));
    assert_eq!(run.stats.whole_reads, 1);
    // Head, then the first 75,006 + 65,539 bytes: far less than the 3 MB file.
    assert!(run.stats.bytes_read < 250_000, "{:?}", run.stats);
}

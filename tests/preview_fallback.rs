//! A real picture for every readable photo: photos without an EXIF thumbnail are decoded
//! from the file itself (at reduced scale, upright), damaged ones say they cannot be read,
//! and a phone of WhatsApp images (EXIF stripped) gets a picture for every one of them,
//! pulled through the pipelined transfer rather than a sync session per file.

mod common;
mod preview_common;

use std::collections::BTreeSet;
use std::io::Cursor;

use common::{assert_success, sim_bin, HandsetSpec, TestEnv};
use exif::experimental::Writer;
use exif::{Field, In, Tag, Value};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use phonevault::catalog::Kind;
use phonevault::preview::{
    build_previews, records, render_sheet, NoPicture, PreviewCache, PreviewOptions, ThumbnailKind,
    HEAD_BYTES,
};
use phonevault::progress::NoProgress;
use preview_common::{item, temp_cache_dir, MemSource};

const RED: [u8; 3] = [230, 20, 20];
const GREEN: [u8; 3] = [20, 200, 20];
const BLUE: [u8; 3] = [20, 20, 230];
const WHITE: [u8; 3] = [250, 250, 250];

/// Red top left, green top right, blue bottom left, white bottom right.
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

fn near(pixel: Rgb<u8>, want: [u8; 3]) -> bool {
    pixel
        .0
        .iter()
        .zip(want)
        .all(|(&a, b)| (i16::from(a) - i16::from(b)).abs() < 40)
}

/// A camera JPEG of `image` with an EXIF block (date, camera, orientation) but no
/// embedded thumbnail, as some cameras and editors write them.
fn jpeg_without_thumbnail(image: &RgbImage, orientation: u16) -> Vec<u8> {
    let mut jpeg = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut jpeg, ImageFormat::Jpeg)
        .unwrap();
    let jpeg = jpeg.into_inner();
    let fields = [
        Field {
            tag: Tag::Make,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"TestCam".to_vec()]),
        },
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![orientation]),
        },
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"2024:03:12 15:30:12".to_vec()]),
        },
    ];
    let mut writer = Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let mut out = vec![0xff, 0xd8, 0xff, 0xe1];
    out.extend_from_slice(&u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn a_photo_without_exif_thumbnail_gets_a_decoded_upright_picture() {
    // 2400x1600 so the decoder's DCT scaling has room to work (1/4 gives 600x400), and well
    // past a head so the file must be pulled whole. Orientation 6: turn 90 degrees clockwise.
    let bytes = jpeg_without_thumbnail(&quadrants(2400, 1600), 6);
    assert!(bytes.len() > HEAD_BYTES, "{} bytes", bytes.len());
    let path = "/sdcard/DCIM/Camera/IMG_20240312_153012.jpg";
    let items = vec![item(path, bytes.len() as u64, Kind::Photo)];
    let mut source = MemSource::default();
    source.add(path, bytes);
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "NOTHUMB").unwrap();
    let run = build_previews(
        &items,
        &mut source,
        &cache,
        &PreviewOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let p = &run.previews[0];
    assert_eq!(p.thumbnail, ThumbnailKind::Decoded, "{:?}", p.notes);
    assert_eq!(p.no_picture, None);
    assert_eq!(p.info.make.as_deref(), Some("TestCam"));
    let image = p.image.as_ref().unwrap();
    // Upright: a landscape photo stored sideways comes out portrait, 256 on its long side.
    assert_eq!((image.width, image.height), (171, 256));
    let picture = image::load_from_memory(&image.jpeg).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (171, 256));
    // Turned clockwise, the stored bottom left (blue) is now top left, and the stored top
    // left (red) top right; the picture is the photo, not a uniform tile.
    let corner = |x: u32, y: u32| *picture.get_pixel(x, y);
    assert!(near(corner(20, 20), BLUE), "{:?}", corner(20, 20));
    assert!(near(corner(150, 20), RED), "{:?}", corner(150, 20));
    assert!(near(corner(20, 235), WHITE), "{:?}", corner(20, 235));
    assert!(near(corner(150, 235), GREEN), "{:?}", corner(150, 235));
    let colours: BTreeSet<[u8; 3]> = picture.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 4, "a uniform picture: {colours:?}");
    assert_eq!(run.stats.decoded, 1);
    assert_eq!(run.stats.whole_reads, 1);
}

#[test]
fn a_damaged_image_is_marked_cannot_be_read_not_a_picture() {
    let good = jpeg_without_thumbnail(&quadrants(800, 600), 1);
    // A JPEG cut short inside its frame header, padded past a head with zeros (a file the
    // phone did not finish writing), and a "photo" that is no image at all.
    let mut cut = good[..good.len().min(HEAD_BYTES / 4)].to_vec();
    let sof = cut
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("a baseline frame header");
    cut.truncate(sof + 5);
    cut.resize(HEAD_BYTES * 2, 0);
    let garbage: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let files = [
        ("/sdcard/DCIM/Camera/cut.jpg", cut),
        ("/sdcard/Pictures/garbage.png", garbage.clone()),
        ("/sdcard/DCIM/Camera/garbage.jpg", garbage),
        ("/sdcard/DCIM/Camera/good.jpg", good),
    ];
    let mut source = MemSource::default();
    let mut items = Vec::new();
    for (path, bytes) in files {
        items.push(item(path, bytes.len() as u64, Kind::Photo));
        source.add(path, bytes);
    }
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "DAMAGED").unwrap();
    let options = PreviewOptions::default();
    let run = build_previews(&items, &mut source, &cache, &options, &NoProgress).unwrap();
    for p in &run.previews[..3] {
        assert_eq!(p.thumbnail, ThumbnailKind::Placeholder, "{}", p.item.path);
        assert_eq!(p.no_picture, Some(NoPicture::Damaged), "{}", p.item.path);
        assert!(p.image.is_none(), "{}", p.item.path);
        assert!(
            p.notes.iter().any(|n| n.contains("not decodable")),
            "{}: {:?}",
            p.item.path,
            p.notes
        );
    }
    assert_eq!(run.previews[3].thumbnail, ThumbnailKind::Decoded);
    assert_eq!(run.stats.cannot_be_read, 3);

    // The record and the tile say so in words a program and a person can use.
    let json = serde_json::to_value(records(&run.previews)).unwrap();
    assert_eq!(json[0]["no_picture"], "damaged");
    assert!(json[3].get("no_picture").is_none());
    let html = render_sheet(&run.previews, "damaged");
    assert_eq!(
        html.matches("<span class=\"mark unreadable\">cannot be read</span>")
            .count(),
        3
    );
    assert_eq!(html.matches("data-no-picture=\"damaged\"").count(), 3);
    assert_eq!(html.matches("class=\"mark placeholder\"").count(), 0);

    // The same bytes give the same answer: damaged photos are cached, not read again.
    let again = build_previews(&items, &mut source, &cache, &options, &NoProgress).unwrap();
    assert_eq!(again.stats.cache_hits, 4);
    assert_eq!(again.previews[1].no_picture, Some(NoPicture::Damaged));
}

#[test]
fn a_phone_of_whatsapp_images_gets_a_picture_for_every_one() {
    let env = TestEnv::new();
    let storage = env.new_dir("storage");
    let populate = env
        .command(sim_bin())
        .arg("populate")
        .arg(&storage)
        .args(["--profile", "android-14", "--photos", "0", "--videos", "0"])
        .args([
            "--whatsapp",
            "60",
            "--whatsapp-size",
            "40K-80K",
            "--seed",
            "11",
        ])
        .arg("--truth")
        .arg(env.path().join("truth.json"))
        .output()
        .unwrap();
    assert_success(&populate, "populate");
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage));
    let sessions_before = phone.stats()["services"]["sync:"].as_u64().unwrap_or(0);
    let out = env.phonevault(&[
        "-s",
        &phone.serial(),
        "-q",
        "preview",
        "--source",
        "whatsapp",
        "--kind",
        "photo",
        "--json",
    ]);
    assert_success(&out, "preview of WhatsApp images");
    let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(records.len() >= 20, "{} WhatsApp images", records.len());
    for record in &records {
        assert_eq!(record["thumbnail"], "decoded", "{record}");
        assert!(record.get("no_picture").is_none(), "{record}");
    }
    // Pulled through pipelined sync streams, not one sync session per image.
    let stats = phone.stats();
    let sessions = stats["services"]["sync:"].as_u64().unwrap_or(0) - sessions_before;
    let recvs = stats["sync_requests"]["RECV"].as_u64().unwrap_or(0);
    assert!(recvs >= records.len() as u64, "{recvs} RECVs");
    assert!(
        sessions * 4 <= records.len() as u64,
        "{sessions} sync sessions for {} images",
        records.len()
    );
    // The byte share is reported, not used to cut: the summary says how much was read.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} decoded", records.len()))
            && stderr.contains("% of the photos'"),
        "{stderr}"
    );
}

/// A HEIC photo (no decoder in this build, no EXIF thumbnail) gets a tile that says why there
/// is no picture, with its date and camera from EXIF; a video says it is not a photo.
#[test]
fn a_heic_without_decoder_says_why_with_date_and_camera() {
    // The repository's copy keeps the photo's first 64 KiB: header boxes and EXIF, which is
    // all a preview without a HEIC decoder can use.
    let heic = std::fs::read(
        preview_common::fixture_samples_dir().join("heic-mobile-iphone_13_pro_max-first64k.HEIC"),
    )
    .unwrap();
    let heic_path = "/sdcard/DCIM/Camera/IMG_0001.HEIC";
    let video_path = "/sdcard/DCIM/Camera/VID_20240301_101010.mp4";
    let items = vec![
        item(heic_path, heic.len() as u64, Kind::Photo),
        item(video_path, 5000, Kind::Video),
    ];
    let mut source = MemSource::default();
    source.add(heic_path, heic);
    source.add(video_path, vec![0; 5000]);
    let cache_dir = temp_cache_dir();
    let cache = PreviewCache::open(cache_dir.path(), "HEIC").unwrap();
    let run = build_previews(
        &items,
        &mut source,
        &cache,
        &PreviewOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let heic = &run.previews[0];
    assert_eq!(heic.thumbnail, ThumbnailKind::Placeholder);
    assert_eq!(
        heic.no_picture,
        Some(NoPicture::NoDecoder),
        "{:?}",
        heic.notes
    );
    assert_eq!(heic.info.model.as_deref(), Some("iPhone 13 Pro Max"));
    let video = &run.previews[1];
    assert_eq!(video.no_picture, Some(NoPicture::NotAPhoto));
    let json = serde_json::to_value(records(&run.previews)).unwrap();
    assert_eq!(json[0]["no_picture"], "no-decoder");
    assert_eq!(json[0]["taken"], "2022-02-16T12:55:41+01:00");
    assert_eq!(json[1]["no_picture"], "not-a-photo");
    let html = render_sheet(&run.previews, "heic");
    assert!(html.contains("no decoder for this format here"), "{html}");
    assert!(html.contains("Apple iPhone 13 Pro Max"), "{html}");
    assert!(html.contains("2022-02-16T12:55:41"), "{html}");
}

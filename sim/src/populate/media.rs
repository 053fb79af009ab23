//! File contents: real small JPEGs and PNGs, minimal MP4s, and recognisable headers for the
//! other formats. Bulk to reach a target size is seeded random bytes appended at the end.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::exif::{self, ExifSpec};

/// A picture with a few seeded shapes over a gradient: varied enough that images differ,
/// smooth enough to compress like a photo rather than like noise.
pub fn pattern(rng: &mut ChaCha8Rng, width: u32, height: u32) -> RgbImage {
    let c0: [u8; 3] = rng.random();
    let c1: [u8; 3] = rng.random();
    let shapes: Vec<(u32, u32, u32, [u8; 3])> = (0..rng.random_range(3..7))
        .map(|_| {
            (
                rng.random_range(0..width),
                rng.random_range(0..height),
                rng.random_range(width / 12..width / 3),
                rng.random(),
            )
        })
        .collect();
    RgbImage::from_fn(width, height, |x, y| {
        for &(cx, cy, r, color) in &shapes {
            let dx = i64::from(x) - i64::from(cx);
            let dy = i64::from(y) - i64::from(cy);
            if dx * dx + dy * dy < i64::from(r) * i64::from(r) {
                return image::Rgb(color);
            }
        }
        let t = (x + y) * 255 / (width + height);
        let mix = |a: u8, b: u8| ((u32::from(a) * (255 - t) + u32::from(b) * t) / 255) as u8;
        image::Rgb([mix(c0[0], c1[0]), mix(c0[1], c1[1]), mix(c0[2], c1[2])])
    })
}

/// Encodes `image` as a baseline JPEG.
pub fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .expect("encoding to memory cannot fail");
    out
}

/// A 160x120 JPEG of `image`, the size phones store in IFD1.
pub fn thumbnail(image: &RgbImage) -> Vec<u8> {
    jpeg(&image::imageops::thumbnail(image, 160, 120), 70)
}

/// Finishes a pooled JPEG for one file: an EXIF APP1 segment right after SOI, where
/// readers (and the catalog's first-64-KiB preview) expect it, replacing the encoder's JFIF
/// APP0 as camera files have none; and a COM segment naming the file, so no two files that
/// share a pooled picture are byte-identical.
pub fn finish_jpeg(jpeg: &[u8], exif: Option<&ExifSpec>, comment: &str) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "not a JPEG");
    let mut rest = &jpeg[2..];
    let mut out = Vec::with_capacity(jpeg.len() + 1024);
    out.extend_from_slice(&[0xFF, 0xD8]);
    if rest.len() > 4 && rest[..2] == [0xFF, 0xE0] {
        let len = 2 + usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if exif.is_none() {
            out.extend_from_slice(&rest[..len]);
        }
        rest = &rest[len..];
    }
    if let Some(spec) = exif {
        out.extend_from_slice(&exif::app1_segment(spec));
    }
    let comment = comment.as_bytes();
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&(2 + comment.len() as u16).to_be_bytes());
    out.extend_from_slice(comment);
    out.extend_from_slice(rest);
    out
}

/// Encodes `image` as PNG.
pub fn png(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encoding to memory cannot fail");
    out
}

/// Seconds from 1904-01-01 (the MP4 epoch) to 1970-01-01.
const MP4_EPOCH_OFFSET: i64 = 2_082_844_800;

/// The head of a minimal MP4 (`ftyp`, `moov` with `mvhd`, `mdat` header) for a file of
/// `total_len` bytes; the rest of the file is the `mdat` payload.
pub fn mp4_head(created_unix: i64, duration_ms: u32, total_len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    // ftyp
    out.extend_from_slice(&24u32.to_be_bytes());
    out.extend_from_slice(b"ftypisom");
    out.extend_from_slice(&0x200u32.to_be_bytes());
    out.extend_from_slice(b"isomiso2mp41");
    // moov > mvhd (version 0)
    out.extend_from_slice(&(8 + 108u32).to_be_bytes());
    out.extend_from_slice(b"moov");
    out.extend_from_slice(&108u32.to_be_bytes());
    out.extend_from_slice(b"mvhd");
    out.extend_from_slice(&0u32.to_be_bytes());
    let created = (created_unix + MP4_EPOCH_OFFSET) as u32;
    out.extend_from_slice(&created.to_be_bytes());
    out.extend_from_slice(&created.to_be_bytes());
    out.extend_from_slice(&1000u32.to_be_bytes());
    out.extend_from_slice(&duration_ms.to_be_bytes());
    out.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes());
    out.extend_from_slice(&[0; 10]);
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&[0; 24]);
    out.extend_from_slice(&2u32.to_be_bytes());
    // mdat with a 64-bit size, so the same header serves files over 4 GiB.
    let mdat_len = total_len.saturating_sub(out.len() as u64).max(16);
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(&mdat_len.to_be_bytes());
    out
}

/// A WebP container head (RIFF/WEBP/VP8L) for a file of `total_len` bytes.
pub fn webp_head(total_len: u64) -> Vec<u8> {
    let total = total_len.max(21) as u32;
    let mut out = Vec::with_capacity(21);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(total - 8).to_le_bytes());
    out.extend_from_slice(b"WEBPVP8L");
    out.extend_from_slice(&(total - 20).to_le_bytes());
    out.push(0x2F);
    out
}

/// A small PDF that viewers open (one empty page).
pub fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = write!(out, "{} 0 obj\n{body}\nendobj\n", i + 1);
    }
    let xref = out.len();
    let count = objects.len() + 1;
    let _ = write!(out, "xref\n0 {count}\n0000000000 65535 f \n");
    for offset in offsets {
        let _ = writeln!(out, "{offset:010} 00000 n ");
    }
    let _ = write!(
        out,
        "trailer\n<< /Size {count} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    );
    out.into_bytes()
}

/// Writes `head`, then seeded random bytes up to `target` bytes; returns the file's length.
///
/// JPEG and PNG decoders stop at EOI/IEND and MP4 readers at the end of the boxes they know,
/// so the padding changes nothing for readers while giving archives incompressible data of
/// realistic size.
pub fn write_padded(path: &Path, head: &[u8], target: u64, seed: u64) -> anyhow::Result<u64> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(head)?;
    let mut left = target.saturating_sub(head.len() as u64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chunk = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        rng.fill_bytes(&mut chunk[..n]);
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(head.len() as u64 + target.saturating_sub(head.len() as u64))
}

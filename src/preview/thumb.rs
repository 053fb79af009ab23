//! Turning encoded image bytes (an EXIF thumbnail or a whole photo) into the small, upright
//! JPEG every preview shows.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageReader, Limits};
use serde::{Deserialize, Serialize};

/// Longest side of every thumbnail, in pixels.
pub const THUMB_LONG_SIDE: u32 = 256;

/// JPEG quality of the thumbnails: small enough for a contact sheet of thousands.
const THUMB_QUALITY: u8 = 80;

/// Bytes the decoder may allocate for one image: a 50 MP photo in RGBA is 200 MB; anything
/// claiming more is refused rather than trusted.
const DECODE_MAX_ALLOC: u64 = 256 * 1024 * 1024;

/// Decoder allocation allowed per byte of input, so a small (EXIF thumbnail) input claiming
/// a huge picture is refused early: real photos compress far less than 1:256.
const DECODE_ALLOC_PER_BYTE: u64 = 256;

/// The least allocation allowed, whatever the input size (a 2 MP picture).
const DECODE_MIN_ALLOC: u64 = 8 * 1024 * 1024;

/// Largest side the decoder accepts.
const DECODE_MAX_SIDE: u32 = 16_384;

/// A finished thumbnail: upright, at most [`THUMB_LONG_SIDE`] on its long side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// JPEG bytes.
    #[serde(with = "base64_bytes")]
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Decodes `encoded` (JPEG or PNG), shrinks it to fit [`THUMB_LONG_SIDE`], turns it upright
/// according to the EXIF `orientation` (1-8; other values are ignored) and encodes it as JPEG.
/// The decoder may allocate at most 256 bytes per input byte (8 MB at least, 256 MB at most).
///
/// A JPEG is decoded at reduced scale (1/2, 1/4 or 1/8 straight from its DCT coefficients,
/// the least reduction that still covers [`THUMB_LONG_SIDE`]): a 12 MP photo becomes a
/// 0.2 MP picture without ever being decoded whole, several times faster and in a fraction
/// of the memory. CMYK and 16-bit JPEGs, which that decoder does not turn into RGB, and PNGs
/// are decoded whole.
///
/// # Errors
/// The decoder's error when the bytes are not a decodable JPEG/PNG, or claim a size beyond
/// the decoder's limits.
pub fn make_thumbnail(
    encoded: &[u8],
    orientation: Option<u8>,
) -> Result<Thumbnail, image::ImageError> {
    let max_alloc = (encoded.len() as u64)
        .saturating_mul(DECODE_ALLOC_PER_BYTE)
        .clamp(DECODE_MIN_ALLOC, DECODE_MAX_ALLOC);
    let image = match decode_jpeg_scaled(encoded, max_alloc)? {
        Some(image) => image,
        None => decode_whole(encoded, max_alloc)?,
    };
    let mut small = if image.width() > THUMB_LONG_SIDE || image.height() > THUMB_LONG_SIDE {
        image.thumbnail(THUMB_LONG_SIDE, THUMB_LONG_SIDE)
    } else {
        image
    };
    if let Some(o) = orientation.and_then(Orientation::from_exif) {
        small.apply_orientation(o);
    }
    let rgb = DynamicImage::ImageRgb8(small.to_rgb8());
    let mut jpeg = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, THUMB_QUALITY);
    rgb.write_with_encoder(encoder)?;
    Ok(Thumbnail {
        jpeg,
        width: rgb.width(),
        height: rgb.height(),
    })
}

/// Any image the `image` crate reads, decoded at full size within the limits.
fn decode_whole(encoded: &[u8], max_alloc: u64) -> Result<DynamicImage, image::ImageError> {
    let mut reader = ImageReader::new(Cursor::new(encoded)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_alloc);
    limits.max_image_width = Some(DECODE_MAX_SIDE);
    limits.max_image_height = Some(DECODE_MAX_SIDE);
    reader.limits(limits);
    reader.decode()
}

/// A JPEG decoded at the least DCT scale that still covers the thumbnail; `Ok(None)` when
/// the bytes are not a JPEG or hold pixels this decoder does not give as RGB or grey.
fn decode_jpeg_scaled(
    encoded: &[u8],
    max_alloc: u64,
) -> Result<Option<DynamicImage>, image::ImageError> {
    use jpeg_decoder::PixelFormat;
    if !encoded.starts_with(&[0xFF, 0xD8]) {
        return Ok(None);
    }
    let failed = |e: jpeg_decoder::Error| {
        image::ImageError::Decoding(image::error::DecodingError::new(
            image::error::ImageFormatHint::Exact(image::ImageFormat::Jpeg),
            e,
        ))
    };
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(encoded));
    decoder.set_max_decoding_buffer_size(usize::try_from(max_alloc).unwrap_or(usize::MAX));
    decoder.read_info().map_err(failed)?;
    let Some(info) = decoder.info() else {
        return Ok(None);
    };
    if u32::from(info.width) > DECODE_MAX_SIDE || u32::from(info.height) > DECODE_MAX_SIDE {
        return Err(image::ImageError::Limits(
            image::error::LimitError::from_kind(image::error::LimitErrorKind::DimensionError),
        ));
    }
    if !matches!(info.pixel_format, PixelFormat::RGB24 | PixelFormat::L8) {
        return Ok(None);
    }
    let side = THUMB_LONG_SIDE as u16;
    let (width, height) = decoder.scale(side, side).map_err(failed)?;
    let pixels = decoder.decode().map_err(failed)?;
    let (width, height) = (u32::from(width), u32::from(height));
    let image = match info.pixel_format {
        PixelFormat::RGB24 => {
            image::RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        }
        _ => image::GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8),
    };
    // A decoder that returned fewer pixels than it announced: not an image to show.
    image.map(Some).ok_or_else(|| {
        image::ImageError::Decoding(image::error::DecodingError::new(
            image::error::ImageFormatHint::Exact(image::ImageFormat::Jpeg),
            "the decoder returned fewer pixels than the frame holds",
        ))
    })
}

/// Thumbnails travel as base64 text in the cache's JSON files.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

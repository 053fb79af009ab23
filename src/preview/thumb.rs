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
/// # Errors
/// The decoder's error when the bytes are not a decodable JPEG/PNG, or claim a size beyond
/// the decoder's limits.
pub fn make_thumbnail(
    encoded: &[u8],
    orientation: Option<u8>,
) -> Result<Thumbnail, image::ImageError> {
    let mut reader = ImageReader::new(Cursor::new(encoded)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(
        (encoded.len() as u64)
            .saturating_mul(DECODE_ALLOC_PER_BYTE)
            .clamp(DECODE_MIN_ALLOC, DECODE_MAX_ALLOC),
    );
    limits.max_image_width = Some(DECODE_MAX_SIDE);
    limits.max_image_height = Some(DECODE_MAX_SIDE);
    reader.limits(limits);
    let image = reader.decode()?;
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

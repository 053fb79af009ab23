//! What the first bytes of a photo say: EXIF date, orientation, camera, size, GPS and the
//! embedded IFD1 JPEG thumbnail.
//!
//! Everything here is pure and total: the bytes come from a phone and may be truncated,
//! corrupt or built to hurt. [`parse_head`] never panics, only copies the EXIF block it finds
//! (at most the input's size), and every offset is checked against the bytes actually given.

use std::io::Cursor;
use std::ops::Range;

use chrono::NaiveDate;
use exif::{In, Tag, Value};
use serde::{Deserialize, Serialize};

use crate::catalog::{DateSource, Taken};

/// How many first bytes of a photo to read: the largest EXIF APP1 segment is 65,535 bytes
/// after the SOI marker, plus room for a JFIF APP0 segment in front of it.
pub const HEAD_BYTES: usize = 69_632;

/// The container a head was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Container {
    Jpeg,
    Heif,
    Png,
    Tiff,
    #[default]
    Unknown,
}

/// A position from the GPS IFD, in decimal degrees (south and west negative).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gps {
    pub latitude: f64,
    pub longitude: f64,
    /// Metres above sea level (negative below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
}

/// What [`parse_head`] found in the first bytes of a photo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhotoInfo {
    pub container: Container,
    /// Whether an EXIF block was found and (at least partly) parsed.
    pub exif: bool,
    /// `DateTimeOriginal`, refined by `SubSecTimeOriginal` and `OffsetTimeOriginal`.
    pub taken: Option<Taken>,
    /// EXIF orientation, only when it is one of the eight valid values.
    pub orientation: Option<u8>,
    pub make: Option<String>,
    pub model: Option<String>,
    /// Pixel size as stored (before orientation): the JPEG frame header when it lies in the
    /// bytes read, else the EXIF pixel dimensions.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub gps: Option<Gps>,
    /// Where the IFD1 JPEG thumbnail lies in the bytes given to [`parse_head`]; checked to be
    /// inside them and to start with a JPEG SOI marker.
    #[serde(skip)]
    pub thumbnail: Option<Range<usize>>,
    /// The EXIF block runs past the end of the bytes given: reading more of the file may
    /// give more (HEIF puts its EXIF item wherever it likes).
    pub exif_cut_off: bool,
    /// How many first bytes of the file hold the whole EXIF block, when the container says
    /// (a cut-off JPEG APP1 segment); `None` when unknown.
    #[serde(default)]
    pub exif_end: Option<u64>,
    /// What was odd or broken, for people; never fatal.
    pub notes: Vec<String>,
}

impl PhotoInfo {
    /// The embedded thumbnail, sliced out of the same bytes that were parsed.
    pub fn thumbnail_bytes<'a>(&self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        self.thumbnail.clone().and_then(|r| bytes.get(r))
    }
}

/// Parses the first bytes of a photo (or the whole file). Never panics; problems end up in
/// [`PhotoInfo::notes`] and a result without the parts that could not be trusted.
pub fn parse_head(bytes: &[u8]) -> PhotoInfo {
    let mut info = PhotoInfo::default();
    if bytes.starts_with(&[0xff, 0xd8]) {
        info.container = Container::Jpeg;
        parse_jpeg(bytes, &mut info);
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        info.container = Container::Png;
        parse_png(bytes, &mut info);
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        info.container = Container::Tiff;
        parse_tiff(bytes, 0..bytes.len(), &mut info);
    } else if bytes.get(4..8) == Some(b"ftyp") {
        info.container = Container::Heif;
        parse_heif(bytes, &mut info);
    } else {
        info.notes
            .push("not a JPEG, PNG, TIFF or HEIF file".to_owned());
    }
    info
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Walks the marker segments up to the start of the scan: finds the first EXIF APP1 segment
/// and the frame header's pixel size. Each step moves forward, so it always ends.
fn parse_jpeg(bytes: &[u8], info: &mut PhotoInfo) {
    let mut pos = 2usize;
    let mut exif_seen = false;
    let mut frame_seen = false;
    loop {
        if pos >= bytes.len() {
            if !frame_seen {
                info.notes
                    .push("JPEG frame header not within the bytes read".to_owned());
            }
            break;
        }
        if bytes[pos] != 0xff {
            info.notes
                .push(format!("JPEG marker expected at byte {pos}, found garbage"));
            break;
        }
        // Markers may be preceded by any number of 0xff fill bytes.
        while bytes.get(pos) == Some(&0xff) {
            pos += 1;
        }
        let Some(&code) = bytes.get(pos) else {
            continue;
        };
        pos += 1;
        match code {
            0x01 | 0xd0..=0xd7 => continue,
            0xd8..=0xda => {
                if !frame_seen {
                    info.notes
                        .push("no JPEG frame header before the image data".to_owned());
                }
                break;
            }
            _ => {}
        }
        let Some(len) = be16(bytes, pos) else {
            info.notes
                .push("JPEG segment length cut off by the end of the bytes read".to_owned());
            break;
        };
        let len = usize::from(len);
        if len < 2 {
            info.notes
                .push(format!("JPEG segment with impossible length {len}"));
            break;
        }
        let body_start = pos + 2;
        let body_end = pos + len;
        let cut = body_end > bytes.len();
        let body = &bytes[body_start.min(bytes.len())..body_end.min(bytes.len())];
        match code {
            0xe1 if !exif_seen && body.starts_with(b"Exif\0\0") => {
                exif_seen = true;
                if cut {
                    info.exif_cut_off = true;
                    info.exif_end = Some(body_end as u64);
                    info.notes
                        .push("EXIF block runs past the end of the bytes read".to_owned());
                }
                parse_tiff(bytes, body_start + 6..body_end.min(bytes.len()), info);
            }
            0xc0..=0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf if !frame_seen => {
                if let (Some(h), Some(w)) = (be16(body, 1), be16(body, 3)) {
                    frame_seen = true;
                    if w > 0 && h > 0 {
                        info.width = Some(u32::from(w));
                        info.height = Some(u32::from(h));
                    }
                }
            }
            _ => {}
        }
        if cut {
            if !frame_seen {
                info.notes
                    .push("JPEG frame header not within the bytes read".to_owned());
            }
            if !exif_seen {
                // Large APP segments (ICC profiles) may push the EXIF block past the head;
                // the next segment is at most 65,535 bytes plus its marker and length.
                info.exif_cut_off = true;
                info.exif_end = Some(body_end as u64 + 4 + 65_535);
                info.notes
                    .push("an EXIF block may follow past the end of the bytes read".to_owned());
            }
            break;
        }
        pos = body_end;
    }
    if !exif_seen && !info.exif_cut_off {
        info.notes.push("no EXIF block".to_owned());
    }
}

fn parse_png(bytes: &[u8], info: &mut PhotoInfo) {
    // IHDR is always the first chunk: length, "IHDR", width, height.
    if bytes.get(12..16) == Some(b"IHDR") {
        if let (Some(w), Some(h)) = (be32(bytes, 16), be32(bytes, 20)) {
            if w > 0 && h > 0 {
                info.width = Some(w);
                info.height = Some(h);
            }
        }
    }
    let mut pos = 8usize;
    // Chunks only move forward; a length that would overflow ends the walk.
    while let (Some(len), Some(kind)) = (be32(bytes, pos), bytes.get(pos + 4..pos + 8)) {
        let start = pos + 8;
        let Some(end) = start.checked_add(len as usize) else {
            break;
        };
        if kind == b"eXIf" {
            if end > bytes.len() {
                info.exif_cut_off = true;
                info.exif_end = Some(end as u64);
                info.notes
                    .push("EXIF chunk runs past the end of the bytes read".to_owned());
            }
            parse_tiff(bytes, start..end.min(bytes.len()), info);
            return;
        }
        if kind == b"IDAT" || kind == b"IEND" {
            break;
        }
        let Some(next) = end.checked_add(4) else {
            break;
        };
        pos = next;
    }
}

fn parse_heif(bytes: &[u8], info: &mut PhotoInfo) {
    let result = exif::Reader::new()
        .continue_on_error(true)
        .read_from_container(&mut Cursor::new(bytes));
    match result {
        Ok(exif) => read_fields(&exif, None, info),
        Err(exif::Error::PartialResult(partial)) => {
            let (exif, errors) = partial.into_inner();
            for e in errors {
                info.notes.push(format!("EXIF: {e}"));
            }
            read_fields(&exif, None, info);
        }
        Err(exif::Error::NotFound(_)) => info.notes.push("no EXIF item".to_owned()),
        Err(e) => {
            // The EXIF item is somewhere past the bytes read (kamadak-exif reports the
            // short read as a broken file); the pipeline may read further.
            info.exif_cut_off = true;
            info.notes.push(format!("HEIF EXIF not readable: {e}"));
        }
    }
}

/// Parses a TIFF structure (the EXIF body) lying at `range` within `bytes`; the thumbnail
/// range is recorded relative to `bytes`.
fn parse_tiff(bytes: &[u8], range: Range<usize>, info: &mut PhotoInfo) {
    let Some(tiff) = bytes.get(range.clone()) else {
        info.notes.push("EXIF block is empty".to_owned());
        return;
    };
    let result = exif::Reader::new()
        .continue_on_error(true)
        .read_raw(tiff.to_vec());
    match result {
        Ok(exif) => read_fields(&exif, Some(range.start), info),
        Err(exif::Error::PartialResult(partial)) => {
            let (exif, errors) = partial.into_inner();
            for e in errors.iter().take(8) {
                info.notes.push(format!("EXIF: {e}"));
            }
            read_fields(&exif, Some(range.start), info);
        }
        Err(e) => info.notes.push(format!("EXIF unreadable: {e}")),
    }
}

fn ascii(exif: &exif::Exif, tag: Tag) -> Option<&[u8]> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Ascii(v) => v.first().map(Vec::as_slice),
        _ => None,
    }
}

fn text(exif: &exif::Exif, tag: Tag) -> Option<String> {
    let raw = ascii(exif, tag)?;
    let s = String::from_utf8_lossy(raw);
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.chars().take(128).collect())
}

fn uint(exif: &exif::Exif, tag: Tag, ifd: In) -> Option<u32> {
    exif.get_field(tag, ifd)?.value.get_uint(0)
}

/// `tiff_at` is where the TIFF header lies within the parsed bytes (JPEG/TIFF/PNG); `None`
/// for HEIF, whose thumbnails are not JPEG anyway.
fn read_fields(exif: &exif::Exif, tiff_at: Option<usize>, info: &mut PhotoInfo) {
    info.exif = true;
    info.taken = exif_taken(exif, &mut info.notes);
    match uint(exif, Tag::Orientation, In::PRIMARY) {
        Some(o @ 1..=8) => info.orientation = Some(o as u8),
        Some(o) => info.notes.push(format!("invalid EXIF orientation {o}")),
        None => {}
    }
    info.make = text(exif, Tag::Make);
    info.model = text(exif, Tag::Model);
    if info.width.is_none() {
        let w = uint(exif, Tag::PixelXDimension, In::PRIMARY)
            .or_else(|| uint(exif, Tag::ImageWidth, In::PRIMARY));
        let h = uint(exif, Tag::PixelYDimension, In::PRIMARY)
            .or_else(|| uint(exif, Tag::ImageLength, In::PRIMARY));
        if let (Some(w @ 1..), Some(h @ 1..)) = (w, h) {
            info.width = Some(w);
            info.height = Some(h);
        }
    }
    info.gps = gps(exif);
    if let Some(tiff_at) = tiff_at {
        info.thumbnail = thumbnail(exif, tiff_at, &mut info.notes);
    }
}

fn exif_taken(exif: &exif::Exif, notes: &mut Vec<String>) -> Option<Taken> {
    let raw = ascii(exif, Tag::DateTimeOriginal)?;
    let mut dt = match exif::DateTime::from_ascii(raw) {
        Ok(dt) => dt,
        Err(e) => {
            notes.push(format!("DateTimeOriginal unusable: {e}"));
            return None;
        }
    };
    if let Some(sub) = ascii(exif, Tag::SubSecTimeOriginal) {
        if dt.parse_subsec(sub).is_err() {
            notes.push("SubSecTimeOriginal unusable".to_owned());
            dt.nanosecond = None;
        }
    }
    let mut offset_seconds = None;
    if let Some(off) = ascii(exif, Tag::OffsetTimeOriginal) {
        match dt.parse_offset(off) {
            // Real offsets lie within +-18 h; anything else is a corrupt field.
            Ok(()) => {
                offset_seconds = dt
                    .offset
                    .map(|m| i32::from(m) * 60)
                    .filter(|s| s.abs() <= 18 * 3600);
            }
            Err(e) => notes.push(format!("OffsetTimeOriginal unusable: {e}")),
        }
    }
    let local = NaiveDate::from_ymd_opt(i32::from(dt.year), u32::from(dt.month), u32::from(dt.day))
        .and_then(|d| {
            d.and_hms_nano_opt(
                u32::from(dt.hour),
                u32::from(dt.minute),
                u32::from(dt.second),
                dt.nanosecond.unwrap_or(0),
            )
        });
    if local.is_none() {
        notes.push(format!("DateTimeOriginal out of range: {dt}"));
    }
    // Year 0 is what some cameras write when the clock was never set.
    local
        .filter(|l| l.and_utc().timestamp() > 0)
        .map(|local| Taken {
            local,
            offset_seconds,
            source: DateSource::Exif,
        })
}

fn gps(exif: &exif::Exif) -> Option<Gps> {
    fn degrees(exif: &exif::Exif, tag: Tag) -> Option<f64> {
        match &exif.get_field(tag, In::PRIMARY)?.value {
            Value::Rational(v) if v.len() >= 3 => {
                let parts: Vec<f64> = v.iter().take(3).map(exif::Rational::to_f64).collect();
                let d = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0;
                d.is_finite().then_some(d)
            }
            _ => None,
        }
    }
    fn reference(exif: &exif::Exif, tag: Tag) -> Option<u8> {
        ascii(exif, tag).and_then(|r| r.first().copied())
    }
    let mut latitude = degrees(exif, Tag::GPSLatitude)?;
    let mut longitude = degrees(exif, Tag::GPSLongitude)?;
    if reference(exif, Tag::GPSLatitudeRef) == Some(b'S') {
        latitude = -latitude;
    }
    if reference(exif, Tag::GPSLongitudeRef) == Some(b'W') {
        longitude = -longitude;
    }
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return None;
    }
    let altitude = match exif
        .get_field(Tag::GPSAltitude, In::PRIMARY)
        .map(|f| &f.value)
    {
        Some(Value::Rational(v)) => v
            .first()
            .map(exif::Rational::to_f64)
            .filter(|a| a.is_finite()),
        _ => None,
    }
    .map(|a| {
        if uint(exif, Tag::GPSAltitudeRef, In::PRIMARY) == Some(1) {
            -a
        } else {
            a
        }
    });
    Some(Gps {
        latitude,
        longitude,
        altitude,
    })
}

fn thumbnail(exif: &exif::Exif, tiff_at: usize, notes: &mut Vec<String>) -> Option<Range<usize>> {
    let offset = uint(exif, Tag::JPEGInterchangeFormat, In::THUMBNAIL)?;
    let len = uint(exif, Tag::JPEGInterchangeFormatLength, In::THUMBNAIL)?;
    if len == 0 {
        return None;
    }
    let tiff = exif.buf();
    let start = offset as usize;
    let Some(end) = start.checked_add(len as usize) else {
        notes.push("EXIF thumbnail offset overflows".to_owned());
        return None;
    };
    if end > tiff.len() {
        notes.push(format!(
            "EXIF thumbnail ({len} bytes at {offset}) lies past the end of the bytes read"
        ));
        return None;
    }
    if !tiff[start..end].starts_with(&[0xff, 0xd8]) {
        notes.push("EXIF thumbnail is not a JPEG".to_owned());
        return None;
    }
    Some(tiff_at + start..tiff_at + end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_tiny_inputs_give_notes() {
        for bytes in [
            &b""[..],
            b"\xff",
            b"\xff\xd8",
            b"\xff\xd8\xff",
            b"\xff\xd8\xff\xe1\xff",
        ] {
            let info = parse_head(bytes);
            assert!(info.thumbnail.is_none());
            assert!(!info.notes.is_empty(), "{bytes:?}");
        }
    }

    #[test]
    fn hostile_thumbnail_offset_is_refused() {
        // Little-endian TIFF: IFD0 with no entries, IFD1 with a thumbnail far out of bounds.
        let mut tiff = b"II*\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&0u16.to_le_bytes());
        tiff.extend_from_slice(&14u32.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        for (tag, value) in [(0x0201u16, 0xffff_0000u32), (0x0202, 0x1000)] {
            tiff.extend_from_slice(&tag.to_le_bytes());
            tiff.extend_from_slice(&4u16.to_le_bytes());
            tiff.extend_from_slice(&1u32.to_le_bytes());
            tiff.extend_from_slice(&value.to_le_bytes());
        }
        tiff.extend_from_slice(&0u32.to_le_bytes());
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
        jpeg.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        jpeg.extend_from_slice(b"Exif\0\0");
        jpeg.extend_from_slice(&tiff);
        let info = parse_head(&jpeg);
        assert!(info.exif);
        assert!(info.thumbnail.is_none());
        assert!(
            info.notes.iter().any(|n| n.contains("past the end")),
            "{info:?}"
        );
    }
}

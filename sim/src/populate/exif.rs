//! A small TIFF/EXIF writer: just the tags a phone camera writes that phonevault reads.
//!
//! Written by hand rather than with a crate so the generator controls exactly which tags are
//! present (a missing thumbnail, a missing offset) the way real handsets differ.

/// What goes into one photo's EXIF block.
#[derive(Debug, Clone)]
pub struct ExifSpec {
    pub make: String,
    pub model: String,
    /// 1 (upright), 3, 6 or 8.
    pub orientation: u16,
    /// Wall-clock time, `YYYY:MM:DD HH:MM:SS`.
    pub date_time_original: String,
    /// `+01:00`, or `None` for cameras that record no offset.
    pub offset_time_original: Option<String>,
    /// Milliseconds, as digits (`345`).
    pub sub_sec_time_original: Option<String>,
    pub pixel_width: u32,
    pub pixel_height: u32,
    /// Latitude and longitude in degrees (north and east positive).
    pub gps: Option<(f64, f64)>,
    /// A complete JPEG stream stored as the IFD1 thumbnail.
    pub thumbnail: Option<Vec<u8>>,
}

const ASCII: u16 = 2;
const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;
const BYTE: u16 = 1;
const UNDEFINED: u16 = 7;

/// One IFD entry: tag, type, count and the value bytes (little-endian).
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    value: Vec<u8>,
}

impl Entry {
    fn ascii(tag: u16, text: &str) -> Entry {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        Entry {
            tag,
            kind: ASCII,
            count: value.len() as u32,
            value,
        }
    }

    fn short(tag: u16, v: u16) -> Entry {
        Entry {
            tag,
            kind: SHORT,
            count: 1,
            value: v.to_le_bytes().to_vec(),
        }
    }

    fn long(tag: u16, v: u32) -> Entry {
        Entry {
            tag,
            kind: LONG,
            count: 1,
            value: v.to_le_bytes().to_vec(),
        }
    }

    fn rationals(tag: u16, values: &[(u32, u32)]) -> Entry {
        let mut value = Vec::with_capacity(values.len() * 8);
        for (n, d) in values {
            value.extend_from_slice(&n.to_le_bytes());
            value.extend_from_slice(&d.to_le_bytes());
        }
        Entry {
            tag,
            kind: RATIONAL,
            count: values.len() as u32,
            value,
        }
    }

    fn out_of_line_len(&self) -> usize {
        if self.value.len() > 4 {
            self.value.len().next_multiple_of(2)
        } else {
            0
        }
    }
}

/// An IFD before it is placed: its size does not depend on where it goes.
struct Ifd {
    entries: Vec<Entry>,
}

impl Ifd {
    fn new(mut entries: Vec<Entry>) -> Ifd {
        // TIFF requires entries in ascending tag order.
        entries.sort_by_key(|e| e.tag);
        Ifd { entries }
    }

    fn len(&self) -> usize {
        2 + 12 * self.entries.len()
            + 4
            + self
                .entries
                .iter()
                .map(Entry::out_of_line_len)
                .sum::<usize>()
    }

    /// Appends the IFD to `out`, which must already be `offset` bytes long.
    fn write(&self, out: &mut Vec<u8>, next_ifd: u32) {
        let offset = out.len();
        let mut data_at = offset + 2 + 12 * self.entries.len() + 4;
        let mut data = Vec::new();
        out.extend_from_slice(&(self.entries.len() as u16).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.tag.to_le_bytes());
            out.extend_from_slice(&e.kind.to_le_bytes());
            out.extend_from_slice(&e.count.to_le_bytes());
            if e.value.len() <= 4 {
                let mut inline = [0u8; 4];
                inline[..e.value.len()].copy_from_slice(&e.value);
                out.extend_from_slice(&inline);
            } else {
                out.extend_from_slice(&(data_at as u32).to_le_bytes());
                data.extend_from_slice(&e.value);
                if e.value.len() % 2 == 1 {
                    data.push(0);
                }
                data_at += e.out_of_line_len();
            }
        }
        out.extend_from_slice(&next_ifd.to_le_bytes());
        out.extend_from_slice(&data);
    }
}

fn degrees_to_rationals(degrees: f64) -> [(u32, u32); 3] {
    let d = degrees.abs();
    let whole = d.trunc();
    let minutes = (d - whole) * 60.0;
    let min_whole = minutes.trunc();
    let seconds = (minutes - min_whole) * 60.0;
    [
        (whole as u32, 1),
        (min_whole as u32, 1),
        ((seconds * 1000.0).round() as u32, 1000),
    ]
}

/// The TIFF structure (little-endian) that follows `Exif\0\0` in an APP1 segment.
pub fn tiff(spec: &ExifSpec) -> Vec<u8> {
    let resolution = |tag| Entry::rationals(tag, &[(72, 1)]);

    let mut exif_entries = vec![
        Entry {
            tag: 0x9000,
            kind: UNDEFINED,
            count: 4,
            value: b"0232".to_vec(),
        },
        Entry::ascii(0x9003, &spec.date_time_original),
        Entry::ascii(0x9004, &spec.date_time_original),
        Entry::long(0xA002, spec.pixel_width),
        Entry::long(0xA003, spec.pixel_height),
    ];
    if let Some(offset) = &spec.offset_time_original {
        exif_entries.push(Entry::ascii(0x9010, offset));
        exif_entries.push(Entry::ascii(0x9011, offset));
    }
    if let Some(sub) = &spec.sub_sec_time_original {
        exif_entries.push(Entry::ascii(0x9291, sub));
    }
    let exif_ifd = Ifd::new(exif_entries);

    let gps_ifd = spec.gps.map(|(lat, lon)| {
        Ifd::new(vec![
            Entry {
                tag: 0x0000,
                kind: BYTE,
                count: 4,
                value: vec![2, 2, 0, 0],
            },
            Entry::ascii(0x0001, if lat >= 0.0 { "N" } else { "S" }),
            Entry::rationals(0x0002, &degrees_to_rationals(lat)),
            Entry::ascii(0x0003, if lon >= 0.0 { "E" } else { "W" }),
            Entry::rationals(0x0004, &degrees_to_rationals(lon)),
        ])
    });

    // Pointer values are placeholders here; sizes are all that matter for the layout.
    let ifd0_entries = |exif_at: u32, gps_at: Option<u32>| {
        let mut entries = vec![
            Entry::ascii(0x010F, &spec.make),
            Entry::ascii(0x0110, &spec.model),
            Entry::short(0x0112, spec.orientation),
            resolution(0x011A),
            resolution(0x011B),
            Entry::short(0x0128, 2),
            Entry::ascii(0x0132, &spec.date_time_original),
            Entry::long(0x8769, exif_at),
        ];
        if let Some(at) = gps_at {
            entries.push(Entry::long(0x8825, at));
        }
        Ifd::new(entries)
    };
    let ifd1_entries = |thumb_at: u32, thumb_len: u32| {
        Ifd::new(vec![
            Entry::short(0x0103, 6),
            resolution(0x011A),
            resolution(0x011B),
            Entry::short(0x0128, 2),
            Entry::long(0x0201, thumb_at),
            Entry::long(0x0202, thumb_len),
        ])
    };

    let ifd0_len = ifd0_entries(0, gps_ifd.as_ref().map(|_| 0)).len();
    let exif_at = 8 + ifd0_len;
    let gps_at = exif_at + exif_ifd.len();
    let ifd1_at = gps_at + gps_ifd.as_ref().map_or(0, Ifd::len);
    let thumb_at = ifd1_at + ifd1_entries(0, 0).len();

    let mut out = Vec::with_capacity(thumb_at + spec.thumbnail.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(b"II*\0");
    out.extend_from_slice(&8u32.to_le_bytes());
    let next_after_ifd0 = if spec.thumbnail.is_some() {
        ifd1_at as u32
    } else {
        0
    };
    ifd0_entries(exif_at as u32, gps_ifd.as_ref().map(|_| gps_at as u32))
        .write(&mut out, next_after_ifd0);
    exif_ifd.write(&mut out, 0);
    if let Some(gps) = &gps_ifd {
        gps.write(&mut out, 0);
    }
    if let Some(thumb) = &spec.thumbnail {
        ifd1_entries(thumb_at as u32, thumb.len() as u32).write(&mut out, 0);
        out.extend_from_slice(thumb);
    }
    out
}

/// The complete APP1 segment (marker, length, `Exif\0\0`, TIFF).
///
/// # Panics
/// When the block exceeds the 64 KiB a JPEG segment can hold (a thumbnail far larger than
/// 160x120 would).
pub fn app1_segment(spec: &ExifSpec) -> Vec<u8> {
    let tiff = tiff(spec);
    let len = 2 + 6 + tiff.len();
    assert!(
        len <= 0xFFFF,
        "EXIF block of {len} bytes does not fit in APP1"
    );
    let mut out = Vec::with_capacity(2 + len);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out
}

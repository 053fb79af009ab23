//! How a phone path becomes part of a zip entry name, and back.
//!
//! A phone name may hold bytes that are not UTF-8 (a zip entry name is UTF-8 text, and a
//! lossy conversion would merge two names) or a backslash (legal on Android, a folder
//! separator to Windows tools and to `unzip`, and refused in entry names). Such bytes are
//! written `%HH` (upper-case hex) in the entry name, so every entry name is UTF-8 text that
//! any zip tool extracts safely, and two different phone names never share an entry. Other
//! characters, control characters included, stay as they are: 7-Zip and `unzip` on Linux
//! give a name with a newline back as it was (and readers escape names when they print).
//!
//! A `%` is written `%25` only when two hex digits follow it (`100%.jpg` stays as it is),
//! which keeps the encoding reversible: [`decode`] gives the exact bytes back. The manifest
//! keeps the phone path too, so a restore never needs to decode; the encoding is documented
//! in `docs/archive.md` for people opening an archive without phonevault.

use std::fmt::Write as _;

use crate::escape::phone_path_bytes;

/// The entry-name form of a relative phone path in display form (see `escape`).
pub fn encode(rel_path: &str) -> String {
    let bytes = phone_path_bytes(rel_path);
    let mut out = String::with_capacity(bytes.len() + 8);
    let push_escaped = |out: &mut String, raw: &[u8]| {
        for b in raw {
            let _ = write!(out, "%{b:02X}");
        }
    };
    let mut rest: &[u8] = &bytes;
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        for (at, c) in valid.char_indices() {
            let after = &rest[at + c.len_utf8()..];
            let escape = match c {
                '\\' => true,
                '%' => after.len() >= 2 && after[..2].iter().all(u8::is_ascii_hexdigit),
                _ => false,
            };
            if escape {
                push_escaped(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes());
            } else {
                out.push(c);
            }
        }
        push_escaped(&mut out, chunk.invalid());
        rest = &rest[valid.len() + chunk.invalid().len()..];
    }
    out
}

/// The exact bytes of an entry-name path written by [`encode`]: `%HH` becomes the byte HH,
/// any other `%` stays.
pub fn decode(entry: &str) -> Vec<u8> {
    let src = entry.as_bytes();
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'%' {
            let byte = src
                .get(i + 1..i + 3)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            if let Some(byte) = byte {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(src[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::check_entry_name;
    use crate::escape::phone_path_text;

    #[test]
    fn hostile_names_get_safe_distinct_reversible_entry_names() {
        let cases: &[(&[u8], &str)] = &[
            (b"DCIM/Camera/a b.jpg", "DCIM/Camera/a b.jpg"),
            (b"DCIM/Camera/100%.jpg", "DCIM/Camera/100%.jpg"),
            (b"DCIM/Camera/photo\xff.jpg", "DCIM/Camera/photo%FF.jpg"),
            (
                "DCIM/Camera/photo\u{fffd}.jpg".as_bytes(),
                "DCIM/Camera/photo\u{fffd}.jpg",
            ),
            (b"DCIM/Camera/photo%FF.jpg", "DCIM/Camera/photo%25FF.jpg"),
            (b"DCIM/Camera/photo\\xFF.jpg", "DCIM/Camera/photo%5CxFF.jpg"),
            (b"DCIM/back\\slash.jpg", "DCIM/back%5Cslash.jpg"),
            (
                b"DCIM/a\x1b[2J\nb\xc2\x9b.jpg",
                "DCIM/a\x1b[2J\nb\u{9b}.jpg",
            ),
            (b"DCIM/%%41%\\%", "DCIM/%%2541%%5C%"),
            (b"DCIM/%\xab", "DCIM/%%AB"),
        ];
        let mut seen = std::collections::HashSet::new();
        for &(bytes, entry) in cases {
            let display = phone_path_text(bytes);
            assert_eq!(encode(&display), entry, "{display}");
            assert_eq!(decode(entry), bytes, "{entry}");
            check_entry_name(&format!("gallery/{entry}")).unwrap();
            assert!(seen.insert(entry), "{entry} is not distinct");
        }
    }
}

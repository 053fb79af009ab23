//! Making text from a phone safe to print.
//!
//! File names on a phone are untrusted: a name may hold a newline that would break a table
//! row, or a terminal escape sequence that would rewrite the screen. Everything printed from
//! a phone goes through [`for_terminal`] (phone paths through [`path_for_terminal`]).
//!
//! Phone paths are bytes, not text: Linux allows any byte but `/` and NUL in a name, and a
//! phone may hold names that are not UTF-8. The program carries a phone path as a `String`
//! in its *display form* ([`phone_path_text`]): valid UTF-8 as it is, a backslash doubled,
//! and every byte that is not part of valid UTF-8 written `\xHH`. That form is one-to-one
//! with the bytes, so two different files never share a path, an id or an archive entry,
//! and every map keyed by path stays right; the adb layer turns it back into the exact bytes
//! ([`phone_path_bytes`]) for every request to the phone.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes control characters (C0, DEL, C1) and Unicode bidi overrides as `\n`, `\t`, `\e`,
/// `\x7f`, `\u{202e}`; backslashes are doubled so the escaping is unambiguous.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Escapes a phone path in display form for the terminal: like [`for_terminal`], but its
/// backslashes are left as they are, because the display form already doubled them (so
/// `photo\xff.jpg` prints as it reads, once escaped).
pub fn path_for_terminal(path: &str) -> Cow<'_, str> {
    if !path.chars().any(|c| c != '\\' && needs_escape(c)) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 8);
    for c in path.chars() {
        if c == '\\' {
            out.push(c);
        } else {
            out.push_str(&for_terminal(c.encode_utf8(&mut [0; 4])));
        }
    }
    Cow::Owned(out)
}

/// The display form of a phone path (see the module notes): valid UTF-8 unchanged except
/// that `\` becomes `\\`, and each byte of an invalid sequence becomes `\xHH` (upper-case
/// hex). One-to-one: [`phone_path_bytes`] gives the bytes back.
pub fn phone_path_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\\') => Cow::Borrowed(text),
        _ => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(&chunk.valid().replace('\\', "\\\\"));
                for b in chunk.invalid() {
                    let _ = write!(out, "\\x{b:02X}");
                }
            }
            Cow::Owned(out)
        }
    }
}

/// The exact bytes of a phone path in display form: `\\` becomes one backslash and
/// `\xHH` the byte HH. Only bytes from 0x80 up are ever written `\xHH` (an invalid UTF-8
/// sequence has no ASCII byte), so anything else after a backslash is kept as it is: text
/// that never came from [`phone_path_text`] cannot smuggle in a `/`, a `.` or a NUL.
pub fn phone_path_bytes(text: &str) -> Cow<'_, [u8]> {
    if !text.contains('\\') {
        return Cow::Borrowed(text.as_bytes());
    }
    let src = text.as_bytes();
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'\\' {
            if src.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            if src.get(i + 1) == Some(&b'x') {
                let byte = src
                    .get(i + 2..i + 4)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .filter(|&b| b >= 0x80);
                if let Some(byte) = byte {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(src[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// Makes text from a phone usable as one folder or file name on any computer: ASCII
/// letters, digits, `.`, `_` and `-` are kept, anything else (control characters, escape
/// sequences, `/`, `\`, `:`) becomes `_`, and a leading `.` becomes `_` (no hidden names, no
/// `..`). When something was replaced, `-` and 8 hex digits of the text's SHA-256 follow,
/// so two phones whose names differ only in replaced characters still get two names.
/// Empty text gives `unknown`.
pub fn for_file_name(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with('.') {
        name.replace_range(..1, "_");
    }
    if name.is_empty() {
        return "unknown".to_owned();
    }
    if name != text {
        let digest = Sha256::digest(text.as_bytes());
        let _ = write!(
            name,
            "-{:02x}{:02x}{:02x}{:02x}",
            digest[0], digest[1], digest[2], digest[3]
        );
    }
    name
}

fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched() {
        assert_eq!(
            for_terminal("IMG 2024 Ünïcødé 写真.jpg"),
            "IMG 2024 Ünïcødé 写真.jpg"
        );
    }

    #[test]
    fn control_and_escape_codes_are_made_visible() {
        assert_eq!(for_terminal("a\nb\u{1b}[2Jc\\"), "a\\nb\\e[2Jc\\\\");
        assert_eq!(for_terminal("x\u{202e}y\u{7f}"), "x\\u{202e}y\\u{7f}");
    }

    #[test]
    fn phone_paths_round_trip_through_the_display_form() {
        let cases: &[(&[u8], &str)] = &[
            (b"/sdcard/DCIM/a b.jpg", "/sdcard/DCIM/a b.jpg"),
            (b"/sdcard/photo\xff.jpg", "/sdcard/photo\\xFF.jpg"),
            (
                "/sdcard/photo\u{fffd}.jpg".as_bytes(),
                "/sdcard/photo\u{fffd}.jpg",
            ),
            (b"/sdcard/a\\b.jpg", "/sdcard/a\\\\b.jpg"),
            (b"/sdcard/a\\xFF.jpg", "/sdcard/a\\\\xFF.jpg"),
            (b"\xc3\x28\\\xe9", "\\xC3(\\\\\\xE9"),
        ];
        for &(bytes, text) in cases {
            assert_eq!(phone_path_text(bytes), text);
            assert_eq!(&*phone_path_bytes(text), bytes, "{text}");
        }
        // A literal backslash-x name and an invalid byte stay two different paths.
        assert_ne!(
            phone_path_text(b"photo\\xFF.jpg"),
            phone_path_text(b"photo\xff.jpg")
        );
    }

    #[test]
    fn display_form_cannot_smuggle_separators() {
        assert_eq!(&*phone_path_bytes("a\\x2f..\\x2fb"), b"a\\x2f..\\x2fb");
        assert_eq!(&*phone_path_bytes("a\\x00b\\"), b"a\\x00b\\");
    }

    #[test]
    fn paths_print_with_their_backslashes_escaped_once() {
        assert_eq!(
            path_for_terminal("/sdcard/a\\\\b\\xFF\n\u{1b}[31m.jpg"),
            "/sdcard/a\\\\b\\xFF\\n\\e[31m.jpg"
        );
    }

    #[test]
    fn file_names_from_a_phone_are_sanitised() {
        assert_eq!(for_file_name("SIM14A0001"), "SIM14A0001");
        let evil = for_file_name("EVIL\u{1b}[31mX");
        assert!(evil.starts_with("EVIL__31mX-"), "{evil}");
        assert!(evil
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        assert_ne!(for_file_name("a/b"), for_file_name("a:b"));
        assert!(for_file_name("..").starts_with("_."));
        assert_eq!(for_file_name(""), "unknown");
    }
}

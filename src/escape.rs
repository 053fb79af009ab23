//! Making text from a phone safe to print.
//!
//! File names on a phone are untrusted: a name may hold a newline that would break a table
//! row, or a terminal escape sequence that would rewrite the screen. Everything printed from
//! a phone goes through [`for_terminal`].

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

fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::for_terminal;

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
}

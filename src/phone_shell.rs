//! Phone-side shell work, in one place: quoting a phone path as one shell word, batching
//! words and lines into as few shell calls as the adb server's request limit allows, and
//! the commands built on them (remove, move, the media scan). Used by the on-device helper's
//! wrapper ([`crate::helper`], which adds hashing and stat checks) and by restore.

use std::fmt::Write as _;

use crate::adb::Handset;
use crate::escape::phone_path_bytes;
use crate::Result;

/// Shell commands are kept below this length (the adb server takes requests of at most
/// 64 KiB; stay well below).
pub const COMMAND_BUDGET: usize = 32 * 1024;

/// Quotes a phone path (in display form, see `escape`) as one word for the phone's shell,
/// so the command reaches exactly its bytes: `'...'` when they are UTF-8, else mksh's
/// `$'...'` with every byte outside printable ASCII as a three-digit octal escape (the
/// command itself stays text, and adb carries it unchanged).
pub fn shell_quote(word: &str) -> String {
    let bytes = phone_path_bytes(word);
    if let Ok(text) = std::str::from_utf8(&bytes) {
        return format!("'{}'", text.replace('\'', r"'\''"));
    }
    let mut quoted = String::with_capacity(bytes.len() * 2 + 3);
    quoted.push_str("$'");
    for &b in bytes.iter() {
        match b {
            b'\\' | b'\'' => {
                quoted.push('\\');
                quoted.push(char::from(b));
            }
            b' '..=b'~' => quoted.push(char::from(b)),
            _ => {
                let _ = write!(quoted, "\\{b:03o}");
            }
        }
    }
    quoted.push('\'');
    quoted
}

/// Index ranges of `words` whose joined length stays within `budget` (at least one word
/// each).
pub fn budget_batches(words: &[String], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < words.len() {
        let mut len = 0;
        let mut end = start;
        while end < words.len() && (end == start || len + words[end].len() + 1 < budget) {
            len += words[end].len() + 1;
            end += 1;
        }
        batches.push(start..end);
        start = end;
    }
    batches
}

/// Runs `lines` joined by newlines in as few shell calls as the budget allows; returns each
/// call's stdout.
///
/// # Errors
/// Transport errors.
pub fn run_lines(handset: &Handset, lines: &[String]) -> Result<Vec<Vec<u8>>> {
    let mut outputs = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let mut command = String::new();
        let mut end = start;
        while end < lines.len()
            && (end == start || command.len() + lines[end].len() + 1 < COMMAND_BUDGET)
        {
            command.push_str(&lines[end]);
            command.push('\n');
            end += 1;
        }
        let out = handset.shell(&command)?;
        outputs.push(out.stdout);
        start = end;
    }
    Ok(outputs)
}

/// Runs `PREFIX 'a' 'b' ...` over `paths` in as few calls as the budget allows.
///
/// # Errors
/// Transport errors; `Shell` when a call exits with an error.
pub fn run_batched(handset: &Handset, prefix: &str, paths: &[String]) -> Result<()> {
    let words: Vec<String> = paths.iter().map(|p| shell_quote(p)).collect();
    for batch in budget_batches(&words, COMMAND_BUDGET) {
        let command = format!("{prefix} {}", words[batch].join(" "));
        handset.shell_checked(&command)?;
    }
    Ok(())
}

/// `file://` URI of a phone folder, percent-encoded (spaces in `WhatsApp Business`, and
/// anything else a URI cannot hold as is).
pub fn file_uri(folder: &str) -> String {
    let mut uri = String::from("file://");
    for &b in crate::escape::phone_path_bytes(folder).iter() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri
}

/// Asks the media scanner to look at every folder (all SDK levels), and from Android 11 to
/// rescan the volume: without it restored files stay hidden from the Gallery.
///
/// # Errors
/// Transport errors.
pub fn request_scan(handset: &Handset, folders: &[String], sdk: u32) -> Result<()> {
    let mut lines: Vec<String> = folders
        .iter()
        .map(|folder| {
            format!(
                "am broadcast -a android.intent.action.MEDIA_SCANNER_SCAN_FILE \
                 --receiver-include-background -d {} >/dev/null",
                shell_quote(&file_uri(folder))
            )
        })
        .collect();
    if sdk >= 30 && !folders.is_empty() {
        lines.push(
            "content call --uri content://media --method scan_volume --arg external_primary \
             >/dev/null"
                .to_string(),
        );
    }
    run_lines(handset, &lines)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_within_the_budget() {
        let words: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
        let batches = budget_batches(&words, 10);
        assert_eq!(batches.first().unwrap().start, 0);
        assert_eq!(batches.last().unwrap().end, 10);
        for b in &batches {
            assert!(b.len() == 1 || words[b.clone()].join(" ").len() < 10);
        }
        assert_eq!(
            budget_batches(&[], 10),
            Vec::<std::ops::Range<usize>>::new()
        );
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(
            file_uri("/sdcard/WhatsApp Business/Media/it's"),
            "file:///sdcard/WhatsApp%20Business/Media/it%27s"
        );
    }
}

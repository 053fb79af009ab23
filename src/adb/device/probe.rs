//! What a handset is and how much room it has: the identity and storage probes (one shell
//! call each) and the parsers for what they print.

use super::{Handset, Identity, StorageSpace};
use crate::{Error, Result};

/// One shell call for the whole identity: one `getprop` per property, in a fixed order, each
/// answer ended by a NUL (a value may hold a newline, which would shift every later line;
/// mksh's builtin `print` writes the NUL without a process of its own).
pub(super) const IDENTITY_COMMAND: &str = "for p in ro.serialno ro.product.model \
     ro.product.manufacturer ro.build.version.release ro.build.version.sdk; \
     do getprop $p; print -n '\\0'; done";

/// Parses the output of [`IDENTITY_COMMAND`] (answers ended by NUL; one per line when the
/// text has no NUL); empty answers fall back to the adb serial and the model from
/// `devices-l` (where adb writes spaces as `_`).
pub fn parse_identity(text: &str, adb_serial: &str, listed_model: Option<&str>) -> Identity {
    let separator = if text.contains('\0') { '\0' } else { '\n' };
    let mut lines = text.split(separator).map(str::trim);
    let mut next = || lines.next().unwrap_or("").to_string();
    let serial = next();
    let model = next();
    let manufacturer = next();
    let android_version = next();
    let sdk = next();
    Identity {
        serial: if serial.is_empty() {
            adb_serial.to_string()
        } else {
            serial
        },
        model: if model.is_empty() {
            listed_model.unwrap_or("").replace('_', " ")
        } else {
            model
        },
        manufacturer,
        android_version,
        sdk: sdk.parse().unwrap_or(0),
    }
}

/// The storage probe: `stat -f` where toybox has it, else `df -k`.
const STORAGE_COMMAND: &str = "stat -f -c '%b %a %S' /sdcard/ 2>/dev/null || df -k /sdcard/";

/// Parses either `stat -f -c '%b %a %S'` (total blocks, free blocks, block size) or `df -k`
/// (a header line, then `fs 1K-blocks used available use% mount`; long device names may
/// wrap the numbers onto a second line).
pub fn parse_storage(text: &str) -> Option<StorageSpace> {
    let first = text.lines().next()?.trim();
    let numbers: Vec<u64> = first
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .unwrap_or_default();
    if let [blocks, free, block_size] = numbers[..] {
        return Some(StorageSpace {
            total: blocks.checked_mul(block_size)?,
            free: free.checked_mul(block_size)?,
        });
    }
    // df: join everything after the header and take the first three numbers after the name.
    let body: Vec<&str> = text
        .lines()
        .skip(1)
        .flat_map(str::split_whitespace)
        .collect();
    let numbers: Vec<u64> = body
        .iter()
        .skip(1)
        .take(3)
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    if let [blocks, _used, available] = numbers[..] {
        Some(StorageSpace {
            total: blocks.checked_mul(1024)?,
            free: available.checked_mul(1024)?,
        })
    } else {
        None
    }
}

impl Handset {
    /// Internal storage total and free.
    ///
    /// # Errors
    /// When the phone does not answer, or answers something that is not a size.
    pub fn storage(&self) -> Result<StorageSpace> {
        let out = self.shell(STORAGE_COMMAND)?;
        let text = String::from_utf8_lossy(&out.stdout);
        parse_storage(&text).ok_or_else(|| Error::Shell {
            serial: self.adb_serial.clone(),
            command: STORAGE_COMMAND.to_string(),
            status: out.status,
            stderr: format!(
                "unexpected output {:?} {}",
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_getprop() {
        let id = parse_identity(
            "SIM14A0001\nPixel 8\nGoogle\n14\n34\n",
            "127.0.0.1:5555",
            None,
        );
        assert_eq!(
            id,
            Identity {
                serial: "SIM14A0001".into(),
                model: "Pixel 8".into(),
                manufacturer: "Google".into(),
                android_version: "14".into(),
                sdk: 34,
            }
        );
        // A newline inside a value does not shift the values after it.
        let id = parse_identity(
            "EVIL\u{1b}[31mX\n\0Pixel\nFAKE\n\0Google\n\x0014\n\x0034\n\0",
            "127.0.0.1:5555",
            None,
        );
        assert_eq!(id.serial, "EVIL\u{1b}[31mX");
        assert_eq!(id.model, "Pixel\nFAKE");
        assert_eq!(id.manufacturer, "Google");
        assert_eq!(id.sdk, 34);
        let id = parse_identity("\n\n\n\n\n", "127.0.0.1:5555", Some("Pixel_3a"));
        assert_eq!(id.serial, "127.0.0.1:5555");
        assert_eq!(id.model, "Pixel 3a");
        assert_eq!(id.sdk, 0);
    }

    #[test]
    fn storage_from_stat_and_df() {
        assert_eq!(
            parse_storage("14000000 3500000 4096\n"),
            Some(StorageSpace {
                total: 14_000_000 * 4096,
                free: 3_500_000 * 4096
            })
        );
        // toybox df -k on Android 10.
        let df = "Filesystem     1K-blocks    Used Available Use% Mounted on\n\
                  /data/media     57534328 8462072  48924000  15% /storage/emulated\n";
        assert_eq!(
            parse_storage(df),
            Some(StorageSpace {
                total: 57_534_328 * 1024,
                free: 48_924_000 * 1024
            })
        );
        let wrapped = "Filesystem 1K-blocks Used Available Use% Mounted on\n\
                       /dev/block/very/long/name\n 100 40 60 40% /sdcard\n";
        assert_eq!(
            parse_storage(wrapped),
            Some(StorageSpace {
                total: 102_400,
                free: 61_440
            })
        );
        assert_eq!(parse_storage("stat: /sdcard: Permission denied\n"), None);
        assert_eq!(parse_storage(""), None);
    }
}

//! The automatic-backup settings: one small TOML file in the user's config folder, one table
//! per phone, keyed by the phone's hardware serial (`ro.serialno`).
//!
//! Why TOML and not JSON: people edit this file by hand (turn a phone off, change a folder),
//! and TOML allows comments, needs no quotes around keys or trailing-comma care, and reads as
//! a list of settings. The history (see [`crate::history`]) is JSON lines instead: it is
//! written by the program, appended to, and read by other programs.
//!
//! ```toml
//! version = 1
//!
//! [phones.R58M12ABCDE]
//! enabled = true
//! model = "SM-G991B"              # informational
//! folder = "/home/me/phonevault/R58M12ABCDE"
//! selection = "everything"        # or "gallery", "whatsapp", "albums"
//! albums = []                     # album globs, when selection = "albums"
//! every = "6h"                    # while connected; absent or "connect": on connect only
//! encrypt = true
//! password_file = "/home/me/.config/phonevault/password"
//! ```
//!
//! The password itself is never stored here; only where to read it from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalog::select::Selection;
use crate::catalog::Source;
use crate::{Error, Result};

/// The environment variable that names the config file instead of the default.
pub const CONFIG_ENV: &str = "PHONEVAULT_CONFIG";

/// The format version this program writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; a file from a newer phonevault is refused rather than half-read.
    pub version: u32,
    /// Settings per phone, by hardware serial.
    #[serde(default)]
    pub phones: BTreeMap<String, PhoneSetting>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: FORMAT_VERSION,
            phones: BTreeMap::new(),
        }
    }
}

/// Which items an automatic backup takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AutoSelection {
    /// Gallery and WhatsApp (and WhatsApp Business).
    #[default]
    Everything,
    /// DCIM, Pictures, Movies, screenshots.
    Gallery,
    /// WhatsApp and WhatsApp Business media.
    Whatsapp,
    /// Only the albums named in `albums` (globs).
    Albums,
}

/// One phone's automatic-backup setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneSetting {
    /// Back this phone up when it is connected.
    pub enabled: bool,
    /// The phone's model when the setting was made (shown in lists; not used to match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The backup folder.
    pub folder: PathBuf,
    #[serde(default)]
    pub selection: AutoSelection,
    /// Album globs when `selection` is `albums`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub albums: Vec<String>,
    /// How often to back up again while the phone stays connected: `"connect"` (on connect
    /// only, the default) or a number with `m`, `h` or `d` (`"6h"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Encrypt each archive with AES-256.
    #[serde(default)]
    pub encrypt: bool,
    /// Where the password is read from, first line (never the password itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl PhoneSetting {
    /// Checks what the types cannot: albums with `albums`, a password source with `encrypt`,
    /// a readable `every`.
    ///
    /// # Errors
    /// `InvalidConfig` naming the phone and the field.
    pub fn validate(&self, serial: &str) -> Result<()> {
        let invalid = |reason: String| Error::InvalidConfig {
            phone: serial.to_owned(),
            reason,
        };
        if self.selection == AutoSelection::Albums && self.albums.is_empty() {
            return Err(invalid(
                "selection is \"albums\" but no album is named (albums = [\"Camera\"])".into(),
            ));
        }
        if self.encrypt && self.password_file.is_none() {
            return Err(invalid(
                "encryption needs a password file (password_file in the config): an \
                 automatic backup cannot ask for a password, and the OS credential store is \
                 not supported yet"
                    .into(),
            ));
        }
        if self.folder.as_os_str().is_empty() {
            return Err(invalid("folder is empty".into()));
        }
        self.interval()
            .map_err(|reason| invalid(format!("every: {reason}")))?;
        Ok(())
    }

    /// How long after a backup to run the next while the phone stays connected; `None`: on
    /// connect only.
    ///
    /// # Errors
    /// What is wrong with `every`.
    pub fn interval(&self) -> std::result::Result<Option<Duration>, String> {
        match self.every.as_deref() {
            None => Ok(None),
            Some(text) => parse_every(text),
        }
    }

    /// The catalog selection this setting stands for.
    pub fn selection(&self) -> Selection {
        match self.selection {
            AutoSelection::Everything => Selection::default(),
            AutoSelection::Gallery => Selection {
                sources: vec![Source::Gallery],
                ..Selection::default()
            },
            AutoSelection::Whatsapp => Selection {
                sources: vec![Source::Whatsapp, Source::WhatsappBusiness],
                ..Selection::default()
            },
            AutoSelection::Albums => Selection {
                albums: self.albums.clone(),
                ..Selection::default()
            },
        }
    }
}

/// Parses `every`: `connect` (or `0`) for on connect only, else `N` followed by `m`, `h` or
/// `d`, at least one minute.
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_every(text: &str) -> std::result::Result<Option<Duration>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("connect") || text == "0" {
        return Ok(None);
    }
    let bad = || format!("{text:?} is not \"connect\" or a number with m, h or d (\"6h\")");
    let unit_at = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let minutes = match unit {
        "m" => Some(number),
        "h" => number.checked_mul(60),
        "d" => number.checked_mul(24 * 60),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if minutes == 0 {
        return Err(bad());
    }
    Ok(Some(Duration::from_secs(minutes * 60)))
}

/// The config file: `--config`/`PHONEVAULT_CONFIG` when given, else
/// `<config folder>/phonevault/config.toml` (`~/.config` on Linux, `~/Library/Application
/// Support` on macOS, `%APPDATA%` on Windows).
///
/// # Errors
/// `Io` when the system has no config folder.
pub fn config_path(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let base = dirs::config_dir().ok_or_else(|| {
        Error::io(
            "cannot find the user's config folder (set PHONEVAULT_CONFIG)",
            "~",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    Ok(base.join("phonevault").join("config.toml"))
}

impl Config {
    /// Reads the config; a missing file is an empty config.
    ///
    /// # Errors
    /// `Io` when it cannot be read; `ConfigFile` when it does not parse, is from a newer
    /// version, or a setting is invalid.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(Error::io("cannot read the config file", path, e)),
        };
        Config::parse(&text).map_err(|detail| Error::ConfigFile {
            path: path.to_path_buf(),
            detail,
        })
    }

    /// Parses the text of a config file.
    ///
    /// # Errors
    /// What is wrong, as a sentence.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        if config.version != FORMAT_VERSION {
            return Err(format!(
                "format version {} is not one this phonevault reads ({FORMAT_VERSION})",
                config.version
            ));
        }
        for (serial, setting) in &config.phones {
            setting.validate(serial).map_err(|e| e.to_string())?;
        }
        Ok(config)
    }

    /// Writes the config whole: a temporary file beside it, renamed over it, so a crash
    /// leaves the old file or the new one, never half of one.
    ///
    /// # Errors
    /// `Io` on a write failure; `ConfigFile` when a path in it is not UTF-8 (TOML is text).
    pub fn save(&self, path: &Path) -> Result<()> {
        let body = toml::to_string_pretty(self).map_err(|e| Error::ConfigFile {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let text = format!(
            "# phonevault automatic backups (see docs/automatic-backups.md).\n\
             # Edit freely; `phonevault auto list` checks it. The password is never kept here.\n\n\
             {body}"
        );
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(folder)
            .map_err(|e| Error::io("cannot create the config folder", folder, e))?;
        let mut file = tempfile::NamedTempFile::new_in(folder)
            .map_err(|e| Error::io("cannot write the config file", folder, e))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .map_err(|e| Error::io("cannot write the config file", path, e))?;
        file.persist(path)
            .map_err(|e| Error::io("cannot write the config file", path, e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepts_connect_minutes_hours_days() {
        assert_eq!(parse_every("connect"), Ok(None));
        assert_eq!(parse_every("0"), Ok(None));
        assert_eq!(parse_every("30m"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(parse_every("6h"), Ok(Some(Duration::from_secs(6 * 3600))));
        assert_eq!(parse_every("1d"), Ok(Some(Duration::from_secs(86400))));
        for bad in ["", "h", "6", "6x", "-1h", "0h", "99999999999999999999d"] {
            assert!(parse_every(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn round_trips_through_toml_and_reads_a_hand_written_file() {
        let text = r#"
            version = 1
            # a comment a person wrote
            [phones.R58M12ABCDE]
            enabled = true
            folder = "/backups/phone"
            selection = "albums"
            albums = ["Camera", "WhatsApp*"]
            every = "6h"
            encrypt = true
            password_file = "/secret/pw"
        "#;
        let config = Config::parse(text).unwrap();
        let setting = &config.phones["R58M12ABCDE"];
        assert_eq!(setting.selection, AutoSelection::Albums);
        assert_eq!(setting.selection().albums, ["Camera", "WhatsApp*"]);
        assert_eq!(setting.interval(), Ok(Some(Duration::from_secs(6 * 3600))));
        let again = Config::parse(&toml::to_string_pretty(&config).unwrap()).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn refuses_newer_versions_encryption_without_password_source_and_unknown_fields() {
        assert!(Config::parse("version = 2")
            .unwrap_err()
            .contains("version 2"));
        let no_password =
            "version = 1\n[phones.A]\nenabled = true\nfolder = \"/b\"\nencrypt = true\n";
        assert!(Config::parse(no_password)
            .unwrap_err()
            .contains("password_file"));
        let password_inline =
            "version = 1\n[phones.A]\nenabled = true\nfolder = \"/b\"\npassword = \"x\"\n";
        assert!(Config::parse(password_inline).is_err());
    }
}

/// One phone as `auto list --json` prints it: its setting and its last run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoPhone {
    pub serial: String,
    #[serde(flatten)]
    pub setting: PhoneSetting,
    pub last_run: Option<crate::history::RunRecord>,
}

/// What `auto list --json` prints (fields in `docs/json.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoListing {
    /// The config file read.
    pub config: PathBuf,
    pub phones: Vec<AutoPhone>,
}

//! The user's choice of items, shared by every command that takes items.

use super::{Kind, Source};

/// Plain selection options (the CLI's flags, already parsed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub sources: Vec<Source>,
    pub albums: Vec<String>,
    pub kinds: Vec<Kind>,
    pub since: Option<chrono::NaiveDate>,
    pub until: Option<chrono::NaiveDate>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub ids: Vec<String>,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
}

use chrono::{Local, NaiveDate, TimeZone};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::MediaItem;
use crate::{Error, Result};

/// A compiled [`Selection`]: globs built once, then tested against every item.
#[derive(Debug, Clone)]
pub struct Matcher {
    selection: Selection,
    albums: Option<GlobSet>,
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Selection {
    /// Builds the globs.
    ///
    /// # Errors
    /// `InvalidSelection` for a glob that does not parse, or `since` after `until`.
    pub fn compile(&self) -> Result<Matcher> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                return Err(Error::InvalidSelection {
                    flag: "since",
                    value: since.to_string(),
                    detail: format!("it is after the until date {until}"),
                });
            }
        }
        Ok(Matcher {
            albums: glob_set("album", &self.albums, true)?,
            include: glob_set("include", &self.include, false)?,
            exclude: glob_set("exclude", &self.exclude, false)?,
            selection: self.clone(),
        })
    }
}

fn glob_set(
    flag: &'static str,
    globs: &[String],
    case_insensitive: bool,
) -> Result<Option<GlobSet>> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let built: std::result::Result<Glob, _> = GlobBuilder::new(glob)
            .case_insensitive(case_insensitive)
            .backslash_escape(true)
            .build();
        set.add(built.map_err(|e| Error::InvalidSelection {
            flag,
            value: glob.clone(),
            detail: e.kind().to_string(),
        })?);
    }
    set.build().map(Some).map_err(|e| Error::InvalidSelection {
        flag,
        value: globs.join(" "),
        detail: e.to_string(),
    })
}

impl Matcher {
    /// Whether the item is selected: every given criterion must hold.
    pub fn matches(&self, item: &MediaItem) -> bool {
        let s = &self.selection;
        (s.sources.is_empty() || s.sources.contains(&item.source))
            && (s.kinds.is_empty() || s.kinds.contains(&item.kind))
            && self.albums.as_ref().is_none_or(|g| g.is_match(&item.album))
            && self.include.as_ref().is_none_or(|g| g.is_match(&item.path))
            && !self
                .exclude
                .as_ref()
                .is_some_and(|g| g.is_match(&item.path))
            && (s.ids.is_empty() || s.ids.iter().any(|id| id.eq_ignore_ascii_case(&item.id)))
            && s.min_size.is_none_or(|min| item.size >= min)
            && s.max_size.is_none_or(|max| item.size <= max)
            && self.date_matches(item)
    }

    fn date_matches(&self, item: &MediaItem) -> bool {
        let s = &self.selection;
        if s.since.is_none() && s.until.is_none() {
            return true;
        }
        let Some(day) = item_day(item) else {
            return false;
        };
        s.since.is_none_or(|since| day >= since) && s.until.is_none_or(|until| day <= until)
    }
}

/// The day an item was taken (its wall clock), else the local day of its mtime.
pub fn item_day(item: &MediaItem) -> Option<NaiveDate> {
    if let Some(taken) = item.taken {
        return Some(taken.local.date());
    }
    Local
        .timestamp_opt(item.mtime, 0)
        .earliest()
        .map(|t| t.date_naive())
}

/// Parses `--since`/`--until` (`YYYY-MM-DD`).
///
/// # Errors
/// `InvalidSelection` when it is not a date.
pub fn parse_date(flag: &'static str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| Error::InvalidSelection {
        flag,
        value: text.to_string(),
        detail: format!("{e} (expected YYYY-MM-DD)"),
    })
}

/// Parses `--min-size`/`--max-size`: bytes, or a number with K, M or G (powers of 1024;
/// `KB`, `KiB` and lower case are accepted too), e.g. `1.5M`.
///
/// # Errors
/// `InvalidSelection` when it is not a size.
pub fn parse_size(flag: &'static str, text: &str) -> Result<u64> {
    let bad = |detail: &str| Error::InvalidSelection {
        flag,
        value: text.to_string(),
        detail: detail.to_string(),
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad("unknown unit (use K, M or G)")),
    };
    if number.is_empty() {
        return Err(bad("expected a number of bytes, e.g. 500K"));
    }
    if let Ok(n) = number.parse::<u64>() {
        return n.checked_mul(multiplier).ok_or_else(|| bad("too large"));
    }
    let f: f64 = number.parse().map_err(|_| bad("not a number"))?;
    let bytes = (f * multiplier as f64).round();
    if !(0.0..1.8e19).contains(&bytes) {
        return Err(bad("too large"));
    }
    #[allow(clippy::cast_sign_loss)] // checked to be in range just above
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{DateSource, Kind, Source, Taken};

    fn item(path: &str, album: &str, size: u64) -> MediaItem {
        MediaItem {
            id: crate::catalog::item_id("S", path),
            path: path.into(),
            root: "/sdcard".into(),
            rel_path: path.trim_start_matches("/sdcard/").into(),
            source: Source::Gallery,
            album: album.into(),
            kind: Kind::Photo,
            size,
            mtime: 1_700_000_000,
            taken: None,
            sent: false,
            private: false,
        }
    }

    #[test]
    fn empty_selection_takes_everything() {
        let m = Selection::default().compile().unwrap();
        assert!(m.matches(&item("/sdcard/DCIM/Camera/a.jpg", "Camera", 1)));
    }

    #[test]
    fn globs_sizes_sources_and_ids() {
        let a = item("/sdcard/DCIM/Camera/a.jpg", "Camera", 2000);
        let b = item("/sdcard/Pictures/Screenshots/b.png", "Screenshots", 10);
        let sel = Selection {
            albums: vec!["cam*".into()],
            ..Selection::default()
        };
        let m = sel.compile().unwrap();
        assert!(m.matches(&a) && !m.matches(&b));
        let sel = Selection {
            include: vec!["/sdcard/Pictures/**".into()],
            ..Selection::default()
        };
        let m = sel.compile().unwrap();
        assert!(!m.matches(&a) && m.matches(&b));
        let sel = Selection {
            exclude: vec!["*.png".into()],
            min_size: Some(5),
            ..Selection::default()
        };
        let m = sel.compile().unwrap();
        assert!(m.matches(&a) && !m.matches(&b));
        let sel = Selection {
            max_size: Some(1999),
            ..Selection::default()
        };
        assert!(!sel.compile().unwrap().matches(&a));
        let sel = Selection {
            ids: vec![b.id.to_uppercase()],
            sources: vec![Source::Gallery],
            kinds: vec![Kind::Photo],
            ..Selection::default()
        };
        let m = sel.compile().unwrap();
        assert!(!m.matches(&a) && m.matches(&b));
        let sel = Selection {
            sources: vec![Source::Whatsapp],
            ..Selection::default()
        };
        assert!(!sel.compile().unwrap().matches(&a));
    }

    #[test]
    fn dates_use_taken_then_mtime() {
        let mut a = item("/sdcard/DCIM/Camera/a.jpg", "Camera", 1);
        a.taken = Some(Taken {
            local: NaiveDate::from_ymd_opt(2024, 3, 12)
                .unwrap()
                .and_hms_opt(23, 59, 0)
                .unwrap(),
            offset_seconds: None,
            source: DateSource::Filename,
        });
        let d = |s| parse_date("--since", s).unwrap();
        let sel = Selection {
            since: Some(d("2024-03-12")),
            until: Some(d("2024-03-12")),
            ..Selection::default()
        };
        assert!(sel.compile().unwrap().matches(&a));
        let sel = Selection {
            since: Some(d("2024-03-13")),
            ..Selection::default()
        };
        assert!(!sel.compile().unwrap().matches(&a));
        // 1_700_000_000 is 2023-11-14 or -15 depending on the zone: both before 2024.
        let b = item("/sdcard/DCIM/Camera/b.jpg", "Camera", 1);
        let sel = Selection {
            until: Some(d("2023-12-31")),
            ..Selection::default()
        };
        assert!(sel.compile().unwrap().matches(&b));
        let sel = Selection {
            since: Some(d("2024-01-02")),
            until: Some(d("2024-01-01")),
            ..Selection::default()
        };
        assert!(sel.compile().is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse_date("--since", "12/03/2024").is_err());
        assert!(Selection {
            albums: vec!["[".into()],
            ..Selection::default()
        }
        .compile()
        .is_err());
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_size("--min-size", "123").unwrap(), 123);
        assert_eq!(parse_size("--min-size", "2K").unwrap(), 2048);
        assert_eq!(parse_size("--min-size", "1.5M").unwrap(), 1_572_864);
        assert_eq!(parse_size("--min-size", "5GiB").unwrap(), 5 << 30);
        assert_eq!(parse_size("--min-size", "10kb").unwrap(), 10240);
        assert!(parse_size("--min-size", "M").is_err());
        assert!(parse_size("--min-size", "3X").is_err());
        assert!(parse_size("--min-size", "-1").is_err());
    }
}

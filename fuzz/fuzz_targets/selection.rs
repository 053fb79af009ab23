//! The selection flags as a user (or a script) types them: dates, sizes, album and path
//! globs, plus the dates file names carry. Input lines: since, until, min size, max size,
//! album glob, include glob, exclude glob, then a file name; each matched against an item
//! made from the name.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phonevault::catalog::dates::from_name;
use phonevault::catalog::select::{parse_date, parse_size, Selection};
use phonevault::catalog::{Kind, MediaItem, Source};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or("");
    let since = parse_date("--since", next()).ok();
    let until = parse_date("--until", next()).ok();
    let min_size = parse_size("--min-size", next()).ok();
    let max_size = parse_size("--max-size", next()).ok();
    let glob = |g: &str| {
        if g.is_empty() {
            Vec::new()
        } else {
            vec![g.to_string()]
        }
    };
    let (albums, include, exclude) = (glob(next()), glob(next()), glob(next()));
    let name = next();
    let taken = from_name(name);
    let selection = Selection {
        sources: Vec::new(),
        albums,
        kinds: Vec::new(),
        since,
        until,
        include,
        exclude,
        ids: Vec::new(),
        min_size,
        max_size,
    };
    let Ok(matcher) = selection.compile() else {
        return;
    };
    let path = format!("/sdcard/DCIM/Camera/{name}");
    let item = MediaItem {
        id: "0123456789abcdef".to_string(),
        path: path.clone(),
        root: "/sdcard".to_string(),
        rel_path: path.trim_start_matches("/sdcard/").to_string(),
        source: Source::Gallery,
        album: "Camera".to_string(),
        kind: Kind::Photo,
        size: min_size.unwrap_or(0),
        mtime: i64::from(u32::from_le_bytes(*b"\x00\x10\x80\x65")),
        taken,
        sent: false,
        private: false,
    };
    let _ = matcher.matches(&item);
});

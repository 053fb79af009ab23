//! The first bytes of a photo (JPEG, PNG, HEIF) through the head parser, then the EXIF
//! thumbnail it finds through the thumbnail maker, as the preview pipeline does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phonevault::preview::{make_thumbnail, parse_head, THUMB_LONG_SIDE};

fuzz_target!(|data: &[u8]| {
    let info = parse_head(data);
    if let Some(thumb) = info.thumbnail_bytes(data) {
        // A thumbnail is a slice of the head, never bytes from elsewhere.
        let start = thumb.as_ptr() as usize - data.as_ptr() as usize;
        assert!(start + thumb.len() <= data.len());
        if let Ok(t) = make_thumbnail(thumb, info.orientation) {
            assert!(t.width.max(t.height) <= THUMB_LONG_SIDE);
        }
    }
});

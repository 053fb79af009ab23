//! Shell output: shell v2 packet framing, and the v1 fallback's exit-status marker. The first
//! byte picks which.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phonevault::adb::shell;

/// A marker as `new_marker` makes them (fixed, so inputs replay).
const MARKER: &str = "__phonevault_exit_1f_2a_0__";

fuzz_target!(|data: &[u8]| {
    let Some((&kind, stream)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        let mut r = stream;
        if let Ok(out) = shell::collect_v2(&mut r) {
            assert!(out.stdout.len() + out.stderr.len() <= stream.len());
        }
    } else if let Some((body, _status)) = shell::split_v1(stream, MARKER) {
        assert!(body.len() < stream.len());
    }
});

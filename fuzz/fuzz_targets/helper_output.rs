//! What the on-device helper prints: `list` records, `heads` streams and `hash` lines. The
//! first byte picks which; for `heads` and `hash` the next bytes give the path count and the
//! byte limit the caller asked for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phonevault::helper;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            if let Ok(listing) = helper::parse_list("FUZZ", rest) {
                assert!(listing.files.len() <= listing.records);
            }
        }
        1 => {
            let Some((&count, output)) = rest.split_first() else {
                return;
            };
            if let Ok(hashes) = helper::parse_hash("FUZZ", output, usize::from(count)) {
                assert_eq!(hashes.len(), usize::from(count));
                for h in hashes {
                    assert!(h.sha256.is_empty() || h.sha256.len() == 64);
                }
            }
        }
        _ => {
            let [count, l0, l1, stream @ ..] = rest else {
                return;
            };
            let count = usize::from(*count % 32);
            let limit = u64::from(u16::from_le_bytes([*l0, *l1]));
            let mut seen = 0;
            let _ = helper::read_heads(
                "FUZZ",
                stream,
                count,
                limit,
                &mut |index, _status, bytes| {
                    assert_eq!(index, seen);
                    assert!(bytes.len() as u64 <= limit);
                    seen += 1;
                    Ok(())
                },
            );
            assert!(seen == 0 || seen == count);
        }
    }
});

//! Sync protocol replies as a phone (or anything on the socket) may send them: listings (v1
//! and v2), stat replies, RECV frame streams. The first byte picks the reply kind.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phonevault::adb::sync::{self, Frame};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, reply)) = data.split_first() else {
        return;
    };
    let mut r = reply;
    match kind % 6 {
        0 | 1 => {
            if let Ok(entries) = sync::read_listing(&mut r, kind % 6 == 0) {
                for (name, _) in entries {
                    assert!(name.len() <= sync::MAX_PATH);
                    assert!(name != b"." && name != b"..");
                }
            }
        }
        2 => {
            let _ = sync::read_stat_v2(&mut r);
        }
        3 => {
            let _ = sync::read_stat_v1(&mut r);
        }
        4 => {
            let mut buf = vec![0u8; sync::MAX_DATA];
            let mut received = 0u64;
            let result = sync::read_file::<()>(&mut r, &mut buf, &mut |chunk| {
                received += chunk.len() as u64;
                Ok(())
            });
            // Nothing is made up: every byte handed on came from the reply.
            assert!(received <= reply.len() as u64);
            if let Ok(Ok(total)) = result {
                assert_eq!(total, received);
            }
        }
        _ => {
            while let Ok(frame) = sync::read_frame(&mut r) {
                if let Frame::Data(len) = frame {
                    assert!(len <= sync::MAX_DATA);
                    let skip = len.min(r.len());
                    r = &r[skip..];
                }
            }
        }
    }
});

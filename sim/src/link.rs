//! Link profiles: a USB cable's bandwidth (each direction) and per-message latency, and the
//! per-file cost of the phone's media storage behind it.
//!
//! Latency is a delay queue on device->host messages: each message leaves no earlier than
//! `latency` after it was queued, so a round trip pays it once but pipelined traffic keeps
//! the full bandwidth. Bandwidth is a virtual clock per direction shared by all connections.
//!
//! Media storage ([`MediaStorage`]): on a phone, `/sdcard` is not the disk. Android 11 and
//! later serve it through FUSE (the kernel hands every lookup and open to MediaProvider's
//! daemon in user space, which checks permissions and may consult its database); Android 8-10
//! through sdcardfs, a stacked file system in the kernel. Either way each file opened or
//! stat'ed costs more than on the computer's disk, where the simulated handset keeps its
//! files. The sync service pays that cost per open (RECV, SEND) and per stat (STAT, STA2,
//! LST2, and every entry of LIST/LIS2), so `adb pull`, `adb push` and phonevault's own
//! transfers pay it alike, in the handset.
//!
//! The shell does not pay it: `find`, `stat`, `head` and `sha256sum` run as mksh and toybox
//! inside the handset and make their own system calls on the computer's file system, with no
//! hook in between. Making them pay would take a real FUSE file system mounted over the
//! handset's storage (a passthrough daemon that sleeps per lookup and open); that is not
//! built, so work done by the shell (listing, heads, hashing) is a little cheaper here than
//! on a phone.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// What the phone's media storage costs per file, on top of the computer's own disk.
///
/// The figures are estimates, not measurements: no public measurement of per-file open and
/// stat latency on a phone's `/sdcard` was found (searched: AOSP's FUSE passthrough page,
/// which reports FUSE's regressions on mid and low-end devices in throughput only, and
/// Vangoor et al., "To FUSE or Not to FUSE", FAST 2017 and ACM TOS 2019, which measured
/// FUSE on Linux servers: metadata operations up to 4x the latency of ext4, throughput down
/// by up to 83% on metadata-heavy workloads). They are derived from that: an open on a
/// phone's ext4/f2fs costs tens of microseconds; FUSE adds two user-space round trips
/// (lookup, open) through MediaProvider, whose open path is Java and checks the caller
/// against its database; phone cores are several times slower per round trip than a
/// server's. Replace them with measured figures (a loop of `cat` over 1,000 small files in
/// `/sdcard` against the same in `/data/local/tmp`, on a real phone) when one is at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaStorage {
    /// Opening one file for reading or writing.
    pub open: Duration,
    /// Looking one path up (stat, lstat; one entry of a listing).
    pub stat: Duration,
}

impl MediaStorage {
    /// The computer's own disk, nothing added (the `unlimited` link).
    pub const NONE: MediaStorage = MediaStorage {
        open: Duration::ZERO,
        stat: Duration::ZERO,
    };

    /// Android 11 and later: FUSE through MediaProvider (estimate: 1 ms an open, 0.2 ms a
    /// stat, whose attributes the kernel caches for a while).
    pub const FUSE: MediaStorage = MediaStorage {
        open: Duration::from_millis(1),
        stat: Duration::from_micros(200),
    };

    /// Android 8-10: sdcardfs, in the kernel (estimate: 0.15 ms an open, 0.05 ms a stat).
    pub const SDCARDFS: MediaStorage = MediaStorage {
        open: Duration::from_micros(150),
        stat: Duration::from_micros(50),
    };

    /// Holds the calling service thread for the cost of one open.
    pub fn pay_open(&self) {
        pay(self.open);
    }

    /// Holds the calling service thread for the cost of `paths` lookups.
    pub fn pay_stat(&self, paths: u32) {
        pay(self.stat * paths);
    }
}

/// Sleeps at least `cost` (a sleep never ends early; it may end late on a loaded machine,
/// which only adds to what a phone would cost).
fn pay(cost: Duration) {
    if !cost.is_zero() {
        thread::sleep(cost);
    }
}

#[derive(Debug)]
pub struct Link {
    /// Bytes per second, `None` for unlimited.
    rate: Option<f64>,
    latency: Duration,
    storage: MediaStorage,
    outbound: Mutex<Instant>,
    inbound: Mutex<Instant>,
}

impl Link {
    /// `usb2` (40 MB/s, 150 us), `usb3` (300 MB/s, 60 us), each with an Android 11+ phone's
    /// FUSE media storage; `usb2-sdcardfs` and `usb3-sdcardfs` the same cables to an Android
    /// 8-10 phone; or `unlimited` (no cable, no storage cost).
    pub fn named(name: &str) -> Option<Link> {
        let (rate, latency_us, storage) = match name {
            "usb2" => (Some(40e6), 150, MediaStorage::FUSE),
            "usb3" => (Some(300e6), 60, MediaStorage::FUSE),
            "usb2-sdcardfs" => (Some(40e6), 150, MediaStorage::SDCARDFS),
            "usb3-sdcardfs" => (Some(300e6), 60, MediaStorage::SDCARDFS),
            "unlimited" => (None, 0, MediaStorage::NONE),
            _ => return None,
        };
        let now = Instant::now();
        Some(Link {
            rate,
            latency: Duration::from_micros(latency_us),
            storage,
            outbound: Mutex::new(now),
            inbound: Mutex::new(now),
        })
    }

    /// The per-file cost of the phone's media storage behind this link.
    pub fn storage(&self) -> MediaStorage {
        self.storage
    }

    pub fn is_unlimited(&self) -> bool {
        self.rate.is_none() && self.latency.is_zero()
    }

    /// When a message of `bytes` queued at `queued` reaches the host: it takes the cable
    /// once the messages before it are through, for `bytes / rate`, then `latency` more.
    /// `None` on an unlimited link.
    pub fn schedule_outbound(&self, queued: Instant, bytes: usize) -> Option<Instant> {
        if self.is_unlimited() {
            return None;
        }
        let mut clock = self
            .outbound
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = (*clock).max(queued);
        let on_cable = self.rate.map_or(Duration::ZERO, |r| {
            Duration::from_secs_f64(bytes as f64 / r)
        });
        *clock = start + on_cable;
        Some(*clock + self.latency)
    }

    /// Holds the reader back so the host's data arrives no faster than the cable allows.
    pub fn pace_inbound(&self, bytes: usize) {
        if let Some(done) = self.reserve(&self.inbound, bytes) {
            thread::sleep(done.saturating_duration_since(Instant::now()));
        }
    }

    fn reserve(&self, clock: &Mutex<Instant>, bytes: usize) -> Option<Instant> {
        let rate = self.rate?;
        let mut next = clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = (*next).max(Instant::now());
        *next = start + Duration::from_secs_f64(bytes as f64 / rate);
        Some(*next)
    }
}

#[cfg(test)]
mod tests {
    use super::{Link, MediaStorage};
    use std::time::{Duration, Instant};

    #[test]
    fn media_storage_costs_at_least_its_figure_per_open_and_stat() {
        for name in ["usb3", "usb2-sdcardfs"] {
            let storage = Link::named(name).unwrap().storage();
            assert!(storage.open > Duration::ZERO && storage.stat > Duration::ZERO);
            let t0 = Instant::now();
            for _ in 0..20 {
                storage.pay_open();
            }
            let opens = t0.elapsed();
            // A lower bound only: a loaded machine may sleep longer, never shorter.
            assert!(
                opens >= storage.open * 20,
                "{name}: 20 opens took {opens:?}"
            );
            let t0 = Instant::now();
            storage.pay_stat(50);
            assert!(
                t0.elapsed() >= storage.stat * 50,
                "{name}: a 50-entry listing"
            );
        }
        assert_eq!(Link::named("usb3").unwrap().storage(), MediaStorage::FUSE);
        let unlimited = Link::named("unlimited").unwrap().storage();
        assert_eq!(unlimited, MediaStorage::NONE);
        let t0 = Instant::now();
        for _ in 0..1000 {
            unlimited.pay_open();
        }
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn usb2_paces_forty_megabytes_a_second() {
        let link = Link::named("usb2").unwrap();
        let t0 = Instant::now();
        let mut done = t0;
        for _ in 0..40 {
            done = link.schedule_outbound(t0, 100_000).unwrap();
        }
        // Pipelined: 4 MB take 0.1 s on the cable and pay the 150 us latency once.
        let secs = done.duration_since(t0).as_secs_f64();
        assert!(
            (0.1001..0.1002).contains(&secs),
            "4 MB arrived after {secs} s"
        );
        let unlimited = Link::named("unlimited").unwrap();
        assert!(unlimited.schedule_outbound(t0, 1).is_none());
        assert!(Link::named("usb9").is_none());
    }
}

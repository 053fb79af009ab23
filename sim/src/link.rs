//! Link profiles: a USB cable's bandwidth (each direction) and per-message latency.
//!
//! Latency is a delay queue on device->host messages: each message leaves no earlier than
//! `latency` after it was queued, so a round trip pays it once but pipelined traffic keeps
//! the full bandwidth. Bandwidth is a virtual clock per direction shared by all connections.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Link {
    /// Bytes per second, `None` for unlimited.
    rate: Option<f64>,
    latency: Duration,
    outbound: Mutex<Instant>,
    inbound: Mutex<Instant>,
}

impl Link {
    /// `usb2` (40 MB/s, 150 us), `usb3` (300 MB/s, 60 us) or `unlimited`.
    pub fn named(name: &str) -> Option<Link> {
        let (rate, latency_us) = match name {
            "usb2" => (Some(40e6), 150),
            "usb3" => (Some(300e6), 60),
            "unlimited" => (None, 0),
            _ => return None,
        };
        let now = Instant::now();
        Some(Link {
            rate,
            latency: Duration::from_micros(latency_us),
            outbound: Mutex::new(now),
            inbound: Mutex::new(now),
        })
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
    use super::Link;
    use std::time::Instant;

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

//! `--stats FILE`: counters of what the handset served, kept current in a JSON file.
//!
//! The file's directory is opened before the process chroots into the handset's world, and
//! the file is rewritten through that descriptor (temp name, then rename), so readers never
//! see half a file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;

#[derive(Debug)]
struct Sink {
    dir: File,
    name: OsString,
    tmp: OsString,
    /// Serialises rewrites from the timer, service ends and faults.
    lock: Mutex<()>,
}

#[derive(Debug, Default)]
pub struct Stats {
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    connections: AtomicU64,
    services: Mutex<BTreeMap<String, u64>>,
    sync_requests: Mutex<BTreeMap<String, u64>>,
    /// Opens and lookups charged to the media storage, and the time they held the service.
    storage_opens: AtomicU64,
    storage_lookups: AtomicU64,
    storage_waited_us: AtomicU64,
    dirty: AtomicBool,
    sink: Option<Sink>,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    let mut m = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *m.entry(key.to_string()).or_insert(0) += 1;
}

impl Stats {
    /// Counters written to `file` (opened now, before the chroot), or kept in memory only.
    pub fn open(file: Option<&Path>) -> anyhow::Result<Stats> {
        let Some(file) = file else {
            return Ok(Stats::default());
        };
        let name = file
            .file_name()
            .with_context(|| format!("--stats {}: not a file name", file.display()))?
            .to_os_string();
        let parent = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = File::open(parent)
            .with_context(|| format!("--stats: cannot open folder {}", parent.display()))?;
        let mut tmp = OsString::from(".");
        tmp.push(&name);
        tmp.push(format!(".tmp{}", std::process::id()));
        let stats = Stats {
            sink: Some(Sink {
                dir,
                name,
                tmp,
                lock: Mutex::new(()),
            }),
            ..Stats::default()
        };
        stats.write_now();
        Ok(stats)
    }

    /// Rewrites the file every ~50 ms while something changed.
    pub fn start_timer(self: &Arc<Self>) {
        if self.sink.is_none() {
            return;
        }
        let stats = Arc::clone(self);
        thread::spawn(move || loop {
            thread::sleep(Duration::from_millis(50));
            if stats.dirty.swap(false, Ordering::SeqCst) {
                stats.write_now();
            }
        });
    }

    pub fn sent(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn received(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn service_opened(&self, name: &str) {
        bump(&self.services, name);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn sync_request(&self, id: &str) {
        bump(&self.sync_requests, id);
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// `opens` opens and `lookups` lookups were charged to the media storage, holding the
    /// service for `waited`.
    pub fn media_storage(&self, opens: u64, lookups: u64, waited: Duration) {
        self.storage_opens.fetch_add(opens, Ordering::Relaxed);
        self.storage_lookups.fetch_add(lookups, Ordering::Relaxed);
        self.storage_waited_us.fetch_add(
            u64::try_from(waited.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn service_ended(&self) {
        self.write_now();
    }

    /// The counters as the JSON the tests read.
    pub fn to_json(&self) -> serde_json::Value {
        let map = |m: &Mutex<BTreeMap<String, u64>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        serde_json::json!({
            "bytes_sent": self.bytes_sent.load(Ordering::Relaxed),
            "bytes_received": self.bytes_received.load(Ordering::Relaxed),
            "connections": self.connections.load(Ordering::Relaxed),
            "services": map(&self.services),
            "sync_requests": map(&self.sync_requests),
            "media_storage": {
                "opens": self.storage_opens.load(Ordering::Relaxed),
                "lookups": self.storage_lookups.load(Ordering::Relaxed),
                "waited_us": self.storage_waited_us.load(Ordering::Relaxed),
            },
        })
    }

    /// Rewrites the file now; failures are reported once per write and otherwise ignored,
    /// since the handset keeps serving.
    pub fn write_now(&self) {
        let Some(sink) = &self.sink else { return };
        let _guard = sink
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.dirty.store(false, Ordering::Relaxed);
        let body = self.to_json().to_string();
        let result = openat(
            sink.dir.as_fd(),
            sink.tmp.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(std::io::Error::from)
        .and_then(|fd| File::from(fd).write_all(body.as_bytes()))
        .and_then(|()| {
            renameat(
                sink.dir.as_fd(),
                sink.tmp.as_os_str(),
                sink.dir.as_fd(),
                sink.name.as_os_str(),
            )
            .map_err(std::io::Error::from)
        });
        if let Err(e) = result {
            eprintln!("phonevault-sim: cannot write the stats file: {e}");
        }
    }
}

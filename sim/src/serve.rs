//! `phonevault-sim serve`: one simulated handset on a TCP port, speaking the device side of
//! ADB to the real adb server.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use anyhow::{bail, Context};

use crate::adb::connection;
use crate::android_env::{AndroidEnv, EnvOptions};
use crate::faults::Faults;
use crate::link::Link;
use crate::profile::Profile;
use crate::stats::Stats;

/// Options of `serve`, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub storage: PathBuf,
    pub port: u16,
    pub profile: String,
    pub unauthorized: bool,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub features: Option<String>,
    pub capacity: Option<u64>,
    pub link: String,
    pub faults: Vec<String>,
    pub stats: Option<PathBuf>,
    pub scan_log: Option<PathBuf>,
}

/// Everything the connections of one handset share.
#[derive(Debug)]
pub struct Handset {
    pub env: AndroidEnv,
    pub banner: String,
    pub unauthorized: bool,
    pub link: Link,
    pub faults: Faults,
    pub stats: Arc<Stats>,
}

/// The profile with the command line's overrides applied.
fn profile(options: &ServeOptions) -> anyhow::Result<Profile> {
    let Some(mut p) = Profile::named(&options.profile) else {
        bail!(
            "unknown profile {:?} (known: {})",
            options.profile,
            Profile::NAMES.join(", ")
        );
    };
    if let Some(s) = &options.serial {
        p.serial.clone_from(s);
    }
    if let Some(m) = &options.model {
        p.model.clone_from(m);
    }
    if let Some(m) = &options.manufacturer {
        p.manufacturer.clone_from(m);
    }
    if let Some(f) = &options.features {
        p.features = f
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }
    Ok(p)
}

/// Serves one handset until killed (or until a `disconnect-after` fault pulls the cable).
pub fn run(options: &ServeOptions) -> anyhow::Result<()> {
    let profile = profile(options)?;
    let Some(link) = Link::named(&options.link) else {
        bail!(
            "unknown link {:?} (usb2, usb3, usb2-sdcardfs, usb3-sdcardfs, unlimited)",
            options.link
        );
    };
    let faults = Faults::parse(&options.faults)?;
    // Host paths vanish once we chroot: open the stats file's folder and the port first.
    let stats = Arc::new(Stats::open(options.stats.as_deref())?);
    let listener = TcpListener::bind(("127.0.0.1", options.port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", options.port))?;
    let port = listener.local_addr()?.port();
    let banner = profile.banner();
    // No thread may exist before this: entering a mount namespace needs a single thread.
    let env = AndroidEnv::enter(EnvOptions {
        storage: options.storage.clone(),
        profile,
        capacity: options.capacity,
        deny: faults.deny.clone(),
        scan_log: options.scan_log.clone(),
    })?;
    let handset = Arc::new(Handset {
        env,
        banner,
        unauthorized: options.unauthorized,
        link,
        faults,
        stats: Arc::clone(&stats),
    });
    // Before the first thread (the stats timer), so every thread leaves these signals to it.
    crate::lifelog::log_terminating_signals().context("cannot watch for SIGTERM")?;
    stats.start_timer();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on 127.0.0.1:{port}")?;
        out.flush()?;
    }
    for sock in listener.incoming() {
        match sock {
            Ok(sock) => {
                let handset = Arc::clone(&handset);
                thread::spawn(move || connection::serve(&sock, &handset));
            }
            Err(e) => eprintln!(
                "phonevault-sim: {} accept failed: {e}",
                crate::lifelog::stamp()
            ),
        }
    }
    Ok(())
}

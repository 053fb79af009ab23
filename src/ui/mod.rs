//! `phonevault ui`: the desktop client. A local web server (axum on tokio, loopback only)
//! serves a page embedded in the binary and an HTTP API over the library; the browser is the
//! window.
//!
//! Blocking library work (adb sockets, zip writing) runs on its own threads: the phone
//! watcher, one thumbnail worker per phone, one thread per backup, and `spawn_blocking` for
//! listings; the async executor only moves requests and events.
//!
//! The API is written down in `docs/ui-api.md`.

mod api;
mod assets;
mod auto;
mod backups;
mod events;
mod jobs;
mod media;
mod phones;
mod restore;
mod security;

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use phonevault::adb::{ConnectOptions, Handset};
use tokio::sync::watch;

use self::jobs::Job;
use self::media::{Catalogs, Thumbnails};
use self::phones::PhonesView;

/// How the server is started.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// Port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Open the page in the default browser.
    pub open_browser: bool,
    /// Stop after this long with no page connected and no backup running.
    pub idle_exit: Duration,
    pub adb: ConnectOptions,
    /// Where thumbnails are cached (shared with `phonevault preview`).
    pub cache_root: PathBuf,
    /// The automatic-backup settings (as `phonevault auto`, `--config`).
    pub config_path: PathBuf,
    /// The history of automatic backups (as `phonevault history`).
    pub history_path: PathBuf,
}

/// The server's state, shared by every request.
pub struct App {
    port: u16,
    token: String,
    cache_root: PathBuf,
    phones: watch::Sender<PhonesView>,
    handsets: Mutex<HashMap<String, Handset>>,
    catalogs: Catalogs,
    thumbnails: Mutex<HashMap<String, Thumbnails>>,
    jobs: Mutex<HashMap<u64, Arc<Job>>>,
    next_job: AtomicU64,
    /// Pages following `/api/events` right now.
    pages: AtomicUsize,
    /// When the last page went away (or the server started).
    idle_since: Mutex<Instant>,
    stopping: AtomicBool,
    stop: watch::Sender<bool>,
    /// Automatic backups: settings, history, and the watcher that runs them.
    auto: auto::AutoState,
    /// The backups page's folders, passwords, opened archives and restore plans (memory
    /// only).
    backups: backups::BackupsState,
}

impl App {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Sleeps `pause`, waking early (within 100 ms) when the server stops.
    fn sleep_unless_stopping(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while !self.is_stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    fn handsets_lock(&self) -> MutexGuard<'_, HashMap<String, Handset>> {
        self.handsets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn jobs_lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Job>>> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops what was learnt about phones no longer attached: a phone plugged in again may
    /// hold other files, and its thumbnail worker would talk to a dead transport.
    fn forget_gone(&self, listed: &[phonevault::adb::DeviceInfo]) {
        let attached = |serial: &String| listed.iter().any(|d| &d.serial == serial);
        self.catalogs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|serial, _| attached(serial));
        self.thumbnails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|serial, _| attached(serial));
    }

    /// Asks everything to stop: the server, its event streams and the phone watcher.
    fn request_stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.stop.send_replace(true);
        self.auto.stop.cancel();
    }

    fn running_jobs(&self) -> Vec<Arc<Job>> {
        self.jobs_lock()
            .values()
            .filter(|j| j.is_running())
            .cloned()
            .collect()
    }

    fn page_connected(&self) {
        self.pages.fetch_add(1, Ordering::SeqCst);
    }

    fn page_left(&self) {
        if self.pages.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self
                .idle_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        }
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.pages.load(Ordering::SeqCst) > 0
            || !self.running_jobs().is_empty()
            || self.auto.is_running()
        {
            return None;
        }
        Some(
            self.idle_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .elapsed(),
        )
    }
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The Quit button.
    Quit,
    /// Ctrl-C (or SIGTERM).
    Signal,
    /// No page was connected for the idle time.
    Idle,
}

/// Prints the launch address (the first line of standard output, which scripts read).
fn announce(url: &str, idle_exit: Duration) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "phonevault ui: {url}");
    let _ = writeln!(
        out,
        "Open that address in a browser; press Ctrl-C here or Quit on the page to stop. \
         Stops by itself after {} s with no page open.",
        idle_exit.as_secs()
    );
    let _ = out.flush();
}

/// Runs the server until the page quits, Ctrl-C, or no page is connected for
/// `options.idle_exit`. Prints the address to standard output first.
///
/// # Errors
/// When the port cannot be bound or the randomness for the token is missing.
pub async fn serve(options: UiOptions) -> std::io::Result<StopReason> {
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, options.port)))
            .await?;
    let port = listener.local_addr()?.port();
    let token = security::new_token()?;
    let (stop, _) = watch::channel(false);
    let app = Arc::new(App {
        port,
        token,
        cache_root: options.cache_root.clone(),
        phones: watch::Sender::new(PhonesView::default()),
        handsets: Mutex::new(HashMap::new()),
        catalogs: Mutex::new(HashMap::new()),
        thumbnails: Mutex::new(HashMap::new()),
        jobs: Mutex::new(HashMap::new()),
        next_job: AtomicU64::new(1),
        pages: AtomicUsize::new(0),
        idle_since: Mutex::new(Instant::now()),
        stopping: AtomicBool::new(false),
        stop,
        auto: auto::AutoState::new(options.config_path.clone(), options.history_path.clone()),
        backups: backups::BackupsState::default(),
    });
    let url = format!("http://127.0.0.1:{port}/?token={}", app.token);
    announce(&url, options.idle_exit);
    let watcher_app = Arc::clone(&app);
    let adb = options.adb.clone();
    let watcher = std::thread::Builder::new()
        .name("phones".into())
        .spawn(move || phones::watch(&watcher_app, &adb))?;
    let auto_watcher = auto::start_watcher(&app, options.adb.clone())?;
    if options.open_browser {
        let url = url.clone();
        // Opening a browser can block (xdg-open waits on some desktops): not on the executor.
        tokio::task::spawn_blocking(move || {
            let _ = open::that(url);
        });
    }
    let reason = Arc::new(Mutex::new(StopReason::Quit));
    let stopper = {
        let app = Arc::clone(&app);
        let reason = Arc::clone(&reason);
        let idle_exit = options.idle_exit;
        tokio::spawn(async move {
            let mut stop = app.stop.subscribe();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {
                        *reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            StopReason::Signal;
                        break;
                    }
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tick.tick() => {
                        if app.idle_for().is_some_and(|idle| idle >= idle_exit) {
                            *reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                                StopReason::Idle;
                            break;
                        }
                    }
                }
            }
            app.request_stop();
        })
    };
    let router = api::router(Arc::clone(&app));
    let mut stop = app.stop.subscribe();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;
    let _ = stopper.await;
    // Running backups stop like on Ctrl-C in the command line: what arrived whole is kept.
    let running = app.running_jobs();
    for job in &running {
        job.request_cancel();
    }
    let app_for_wait = Arc::clone(&app);
    let _ = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !app_for_wait.running_jobs().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = watcher.join();
        let _ = auto_watcher.join();
    })
    .await;
    let reason = *reason
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(reason)
}

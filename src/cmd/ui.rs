//! `phonevault ui`: starts the desktop client's server and waits until it stops.

use std::time::Duration;

use phonevault::adb::ConnectOptions;
use phonevault::config::config_path;
use phonevault::history::history_path;
use phonevault::preview::PreviewCache;
use phonevault::Error;

use crate::cli::{GlobalArgs, UiArgs};
use crate::cmd::Exit;
use crate::ui::{self, StopReason, UiOptions};

pub fn run(args: &UiArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let options = UiOptions {
        port: args.port,
        open_browser: !args.no_open,
        idle_exit: Duration::from_secs(args.idle_exit),
        adb: ConnectOptions {
            adb_program: global.adb.clone(),
            ..ConnectOptions::default()
        },
        cache_root: PreviewCache::default_root()?,
        // The same files as `phonevault auto`, `watch` and `history`.
        config_path: config_path(args.config.config.as_deref())?,
        history_path: history_path(args.history.history.as_deref())?,
    };
    // Two workers: the server only moves requests and events; the library's blocking work
    // runs on threads of its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the server's runtime", "tokio", e))?;
    let reason = runtime
        .block_on(ui::serve(options))
        .map_err(|e| Error::io("cannot run the desktop client's server", "127.0.0.1", e))?;
    // Threads still blocked on a phone must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match reason {
        StopReason::Quit | StopReason::Idle => Ok(Exit::Success),
        StopReason::Signal => Ok(Exit::Interrupted),
    }
}

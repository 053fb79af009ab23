//! `phonevault watch`: the automatic backups, logged one line per event on standard error
//! (a login service's journal keeps them).

use std::fmt::Write as _;
use std::io::Write as _;

use chrono::Utc;
use phonevault::adb::ConnectOptions;
use phonevault::config::{config_path, Config};
use phonevault::escape::for_terminal;
use phonevault::history::history_path;
use phonevault::watch::{self, WatchEvent, WatchOptions};

use crate::cli::{GlobalArgs, WatchArgs};
use crate::cmd::{human, Exit};

pub fn run(args: &WatchArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let options = WatchOptions {
        connect: ConnectOptions {
            adb_program: global.adb.clone(),
            ..ConnectOptions::default()
        },
        config_path: config_path(args.config.config.as_deref())?,
        history_path: history_path(args.history.history.as_deref())?,
        // Ctrl-C, SIGTERM (systemd, `kill`) and SIGHUP all stop cleanly: running backups
        // finish their archives with what arrived whole.
        stop: super::interrupt().clone(),
    };
    log(&format!(
        "watching for phones (settings {}, history {})",
        options.config_path.display(),
        options.history_path.display()
    ));
    // Said once at the start so a service's log shows a setup that cannot do anything; the
    // config is read again at every connection, so this is not fatal.
    match Config::load(&options.config_path) {
        Ok(config) => {
            let enabled = config.phones.values().filter(|s| s.enabled).count();
            log(&format!(
                "phones set up for automatic backups: {enabled}{}",
                if enabled == 0 {
                    " (add one with `phonevault auto enable`)"
                } else {
                    ""
                }
            ));
        }
        Err(err) => log(&format!(
            "the settings cannot be used yet: {}",
            for_terminal(&err.to_string())
        )),
    }
    watch::watch(&options, &|event| log(&describe(&event)))?;
    log("stopped");
    Ok(Exit::Success)
}

fn log(line: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{} {line}",
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
}

/// One event as a line; text from a phone is escaped.
fn describe(event: &WatchEvent) -> String {
    match event {
        WatchEvent::ServerConnected { addr } => {
            format!("following device events from the adb server at {addr}")
        }
        WatchEvent::ServerLost { error, retry_in_ms } => format!(
            "adb server lost ({}); reconnecting in {:.1} s",
            for_terminal(error),
            *retry_in_ms as f64 / 1000.0
        ),
        WatchEvent::NotEnabled {
            adb_serial,
            serial,
            model,
        } => format!(
            "phone {} ({}) on {} is not set up for automatic backups: nothing to do",
            for_terminal(serial),
            for_terminal(model),
            for_terminal(adb_serial)
        ),
        WatchEvent::BackupStarted {
            adb_serial,
            serial,
            model,
            folder,
        } => format!(
            "phone {} ({}) on {}: backing up into {}",
            for_terminal(serial),
            for_terminal(model),
            for_terminal(adb_serial),
            for_terminal(&folder.display().to_string())
        ),
        WatchEvent::BackupFinished { record } => {
            let mut line = format!(
                "phone {}: {}, {} items ({}) new, {} already backed up",
                for_terminal(&record.serial),
                record.result.word(),
                record.items,
                human::size(record.bytes),
                record.skipped
            );
            if let Some(archive) = &record.archive {
                let _ = write!(line, ", archive {}", for_terminal(archive));
            }
            if let Some(error) = &record.error {
                let _ = write!(line, ": {}", for_terminal(error));
            }
            line
        }
        WatchEvent::PhoneError { adb_serial, error } => format!(
            "phone on {}: {}",
            for_terminal(adb_serial),
            for_terminal(error)
        ),
        WatchEvent::WaitingForOther {
            adb_serial,
            serial,
            model,
        } => format!(
            "phone {} ({}) on {} is being backed up by hand: its automatic backup follows",
            for_terminal(serial),
            for_terminal(model),
            for_terminal(adb_serial)
        ),
        WatchEvent::Stopping { running } => {
            format!("stopping; {running} backups finishing with what arrived whole")
        }
    }
}

//! Glue between the command line and the library: options in, tables, JSON and bars out.

use std::io::Write;
use std::process::ExitCode;
use std::sync::OnceLock;

use phonevault::{Cancel, Error};

use phonevault::adb::{self, ConnectOptions, Handset};

use crate::cli::{Cli, Command, GlobalArgs};

mod archive;
mod auto;
mod backup;
mod bars;
mod devices;
mod history;
mod human;
mod ls;
mod password;
mod preview;
mod restore;
mod selection;
mod ui;
mod watch;

/// Exit codes, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Success = 0,
    /// The command failed.
    Failure = 1,
    /// Some items could not be done (listed in the output); the rest were.
    Partial = 3,
    /// The archive's password is wrong.
    WrongPassword = 4,
    /// Stopped by Ctrl-C.
    Interrupted = 130,
}

impl Exit {
    pub fn for_error(err: &Error) -> Exit {
        match err {
            Error::WrongPassword { .. } => Exit::WrongPassword,
            Error::Cancelled => Exit::Interrupted,
            _ => Exit::Failure,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Prints an error and its causes to standard error, with control characters escaped: they
/// may quote the phone (paths, serials, what it printed). Backslashes are kept as they are:
/// phone paths are already in display form, and a Windows path should read as one. Then,
/// for errors a flag or variable can fix, a hint naming it: the library's messages describe
/// the problem, the command line says what to type.
pub fn print_error(err: &Error) {
    use phonevault::escape::path_for_terminal as for_terminal;
    let mut stderr = std::io::stderr().lock();
    if matches!(err, Error::Cancelled) {
        let _ = writeln!(stderr, "phonevault: interrupted");
        return;
    }
    let message = match err {
        // The setting as the command line spells it.
        Error::InvalidSelection {
            flag,
            value,
            detail,
        } => {
            let flag = if flag.starts_with('-') {
                (*flag).to_owned()
            } else {
                format!("--{flag}")
            };
            format!("invalid {flag} value `{value}`: {detail}")
        }
        other => other.to_string(),
    };
    let _ = write!(stderr, "phonevault: error: {}", for_terminal(&message));
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let _ = write!(stderr, ": {}", for_terminal(&cause.to_string()));
        source = cause.source();
    }
    let _ = writeln!(stderr);
    if let Some(hint) = hint(err) {
        let _ = writeln!(stderr, "phonevault: hint: {hint}");
    }
}

/// What to type about an error, when a flag or variable of this program can fix it.
fn hint(err: &Error) -> Option<&'static str> {
    Some(match err {
        Error::MultipleDevices { .. } => "choose one with -s SERIAL or ANDROID_SERIAL",
        Error::DeviceNotFound { .. } => {
            "choose an attached one with -s SERIAL (see `phonevault devices`)"
        }
        Error::AdbNotFound { .. } => "or tell phonevault where adb is with --adb PATH (or ADB)",
        Error::PasswordNeeded => "use --password-file FILE or set PHONEVAULT_PASSWORD",
        Error::NoDefaultFolder => "choose a folder with --to DIR",
        Error::FolderBusy { .. } => {
            "wait longer with --lock-wait SECONDS, or choose another folder with --to DIR"
        }
        _ => return None,
    })
}

static INTERRUPT: OnceLock<Cancel> = OnceLock::new();

/// The command's cancellation token, tripped by Ctrl-C. The handler is installed on the
/// first call, which [`run`] makes before any long command starts, so Ctrl-C stops listing
/// and planning too, not only copying. A second Ctrl-C does nothing more: the work stops
/// within about a second, and what is being saved (a backup's finished items) is kept.
pub(crate) fn interrupt() -> &'static Cancel {
    INTERRUPT.get_or_init(|| {
        let token = Cancel::new();
        let on_signal = token.clone();
        let _ = ctrlc::set_handler(move || on_signal.cancel());
        token
    })
}

/// Runs one command.
pub fn run(cli: Cli) -> phonevault::Result<Exit> {
    let global = &cli.global;
    // `show` only reads a manifest: Ctrl-C keeps its default meaning there; `ui` answers
    // Ctrl-C on its own executor (and cancels its jobs' tokens).
    if !matches!(cli.command, Command::Show(_) | Command::Ui(_)) {
        interrupt();
    }
    let result = dispatch(cli.command, global);
    match result {
        // Whatever failed after Ctrl-C failed because of it.
        Err(_) if interrupt_tripped() => Err(Error::Cancelled),
        other => other,
    }
}

fn interrupt_tripped() -> bool {
    INTERRUPT.get().is_some_and(Cancel::is_cancelled)
}

fn dispatch(command: Command, global: &GlobalArgs) -> phonevault::Result<Exit> {
    match command {
        Command::Ui(args) => ui::run(&args, global),
        Command::Devices(args) => devices::run(&args, global),
        Command::Ls(args) => ls::run(&args, global),
        Command::Preview(args) => preview::run(&args, global),
        Command::Backup(args) => backup::run(&args, global),
        Command::Verify(args) => archive::verify(&args, global),
        Command::Show(args) => archive::show(&args, global),
        Command::Extract(args) => archive::extract(&args, global),
        Command::Restore(args) => restore::run(&args, global),
        Command::Auto(command) => auto::run(&command, global),
        Command::Watch(args) => watch::run(&args, global),
        Command::History(args) => history::run(&args),
    }
}

/// Reaches the adb server and opens the handset the user chose (`-s`, `ANDROID_SERIAL`, or
/// the only one attached).
pub(crate) fn open_handset(global: &GlobalArgs) -> phonevault::Result<Handset> {
    let server = adb::connect(&ConnectOptions {
        adb_program: global.adb.clone(),
        ..ConnectOptions::default()
    })?
    .with_cancel(interrupt());
    server.open(global.serial.as_deref())
}

//! `phonevault auto enable|disable|list`: edit and show the automatic-backup settings that
//! `phonevault watch` follows.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use phonevault::adb::{self, ConnectOptions};
use phonevault::config::{
    config_path, parse_every, AutoListing, AutoPhone, AutoSelection, Config, PhoneSetting,
};
use phonevault::escape::for_terminal;
use phonevault::history::{self, history_path};
use phonevault::json::{to_text, Versioned};
use phonevault::watch::read_password_file;
use phonevault::{backup, Error};

use crate::cli::{
    AutoCommand, AutoDisableArgs, AutoEnableArgs, AutoListArgs, AutoSourceArg, GlobalArgs,
};
use crate::cmd::{human, open_handset, Exit};

pub fn run(command: &AutoCommand, global: &GlobalArgs) -> phonevault::Result<Exit> {
    match command {
        AutoCommand::Enable(args) => enable(args, global),
        AutoCommand::Disable(args) => disable(args, global),
        AutoCommand::List(args) => list(args),
    }
}

/// The phone a command is about: its hardware serial (and model, when it is attached).
///
/// `-s` may be the hardware serial itself (the phone need not be attached) or the adb serial
/// of an attached phone (`127.0.0.1:5555` changes with the port; the hardware serial does
/// not, so that is what the config keeps). Without `-s`, the only attached phone.
fn phone(global: &GlobalArgs) -> phonevault::Result<(String, Option<String>)> {
    let Some(given) = &global.serial else {
        let handset = open_handset(global)?;
        let identity = handset.identity();
        return Ok((identity.serial.clone(), Some(identity.model.clone())));
    };
    let server = adb::connect(&ConnectOptions {
        adb_program: global.adb.clone(),
        ..ConnectOptions::default()
    });
    let listed = server
        .as_ref()
        .ok()
        .and_then(|server| server.devices().ok())
        .is_some_and(|devices| devices.iter().any(|d| &d.serial == given));
    if let (true, Ok(server)) = (listed, &server) {
        // Attached: its hardware serial (an unauthorized or offline phone is an error
        // saying what to do, not a setting under its transport name).
        let handset = server.open(Some(given))?;
        let identity = handset.identity();
        return Ok((identity.serial.clone(), Some(identity.model.clone())));
    }
    // Hardware serials have no `:`; a transport name (`HOST:PORT`) changes, so it cannot
    // name a phone that is not attached.
    if given.contains(':') {
        return Err(Error::InvalidConfig {
            phone: given.clone(),
            reason: "this is an adb transport name, which changes from one connection to the \
                     next: attach the phone, or give its hardware serial (`phonevault devices` \
                     shows it)"
                .into(),
        });
    }
    Ok((given.clone(), None))
}

/// A path made absolute: `watch` runs from another folder (a login service).
fn absolute(path: &Path) -> phonevault::Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io("cannot make the path absolute", path, e))
}

fn enable(args: &AutoEnableArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let (serial, model) = phone(global)?;
    let folder = match &args.to {
        Some(dir) => absolute(dir)?,
        None => backup::default_folder(&serial)?,
    };
    let invalid = |reason: String| Error::InvalidConfig {
        phone: serial.clone(),
        reason,
    };
    let every = parse_every(&args.every).map_err(|r| invalid(format!("--every: {r}")))?;
    let password_file = args.password_file.as_deref().map(absolute).transpose()?;
    if args.encrypt {
        // Read it now, so a wrong path shows here and not at the first automatic backup.
        if let Some(file) = &password_file {
            read_password_file(file)?;
        }
    }
    let setting = PhoneSetting {
        enabled: true,
        model,
        folder,
        selection: if args.album.is_empty() {
            match args.source {
                AutoSourceArg::Everything => AutoSelection::Everything,
                AutoSourceArg::Gallery => AutoSelection::Gallery,
                AutoSourceArg::Whatsapp => AutoSelection::Whatsapp,
            }
        } else {
            AutoSelection::Albums
        },
        albums: args.album.clone(),
        every: every.map(|_| args.every.trim().to_owned()),
        encrypt: args.encrypt,
        password_file,
    };
    // The library says what is wrong; the command line adds the flag that fixes it.
    setting.validate(&serial).map_err(|err| match err {
        Error::InvalidConfig { phone, reason }
            if setting.encrypt && setting.password_file.is_none() =>
        {
            Error::InvalidConfig {
                phone,
                reason: format!("{reason}; pass --password-file FILE"),
            }
        }
        other => other,
    })?;
    let path = config_path(args.config.config.as_deref())?;
    let mut config = Config::load(&path)?;
    let folder_text = setting.folder.display().to_string();
    config.phones.insert(serial.clone(), setting);
    config.save(&path)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Phone {} will be backed up into {} whenever `phonevault watch` sees it (settings in {}).",
        for_terminal(&serial),
        for_terminal(&folder_text),
        path.display()
    );
    Ok(Exit::Success)
}

fn disable(args: &AutoDisableArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let (serial, _) = phone(global)?;
    let path = config_path(args.config.config.as_deref())?;
    let mut config = Config::load(&path)?;
    let setting = config
        .phones
        .get_mut(&serial)
        .ok_or_else(|| Error::NoAutoSetting {
            phone: serial.clone(),
        })?;
    setting.enabled = false;
    config.save(&path)?;
    let _ = writeln!(
        std::io::stdout().lock(),
        "Phone {} will no longer be backed up automatically (its setting is kept in {}).",
        for_terminal(&serial),
        path.display()
    );
    Ok(Exit::Success)
}

fn list(args: &AutoListArgs) -> phonevault::Result<Exit> {
    let path = config_path(args.config.config.as_deref())?;
    let config = Config::load(&path)?;
    let history = history::read(&history_path(args.history.history.as_deref())?)?;
    let last = history.last_by_phone();
    let mut out = std::io::stdout().lock();
    if args.json {
        let phones: Vec<AutoPhone> = config
            .phones
            .iter()
            .map(|(serial, setting)| AutoPhone {
                serial: serial.clone(),
                setting: setting.clone(),
                last_run: last.get(serial.as_str()).map(|run| (*run).clone()),
            })
            .collect();
        let listing = AutoListing {
            config: path.clone(),
            phones,
        };
        let _ = out.write_all(to_text(&Versioned::new(listing)).as_bytes());
        return Ok(Exit::Success);
    }
    if config.phones.is_empty() {
        let _ = writeln!(
            out,
            "No phone is set up for automatic backups ({}); add one with `phonevault auto enable`.",
            path.display()
        );
        return Ok(Exit::Success);
    }
    let _ = writeln!(out, "Settings: {}", path.display());
    for (serial, setting) in &config.phones {
        let what = match setting.selection {
            AutoSelection::Albums => format!("albums {}", setting.albums.join(", ")),
            other => format!("{other:?}").to_lowercase(),
        };
        let _ = writeln!(
            out,
            "{} {}{}: {}, {}, {}, into {}",
            for_terminal(serial),
            if setting.enabled { "on" } else { "off" },
            setting
                .model
                .as_deref()
                .map(|m| format!(" ({})", for_terminal(m)))
                .unwrap_or_default(),
            what,
            if setting.encrypt {
                "encrypted"
            } else {
                "not encrypted"
            },
            match setting.every.as_deref() {
                Some(every) if !every.eq_ignore_ascii_case("connect") => format!("every {every}"),
                _ => "on connect".to_owned(),
            },
            for_terminal(&setting.folder.display().to_string()),
        );
        let _ = match last.get(serial.as_str()) {
            Some(run) => writeln!(
                out,
                "    last automatic backup {}: {}, {} items, {}",
                run.finished.format("%Y-%m-%d %H:%M UTC"),
                run.result.word(),
                run.items,
                human::size(run.bytes)
            ),
            None => writeln!(out, "    never backed up automatically"),
        };
    }
    Ok(Exit::Success)
}

//! `phonevault devices`: one row per handset the adb server knows.

use std::io::Write;

use indicatif::HumanBytes;
use phonevault::adb::{self, ConnectOptions, DeviceSummary};
use phonevault::escape::for_terminal;
use phonevault::json::{to_text, versioned_list};

use crate::cli::{DevicesArgs, GlobalArgs};
use crate::cmd::{interrupt, Exit};

type Row = DeviceSummary;

pub fn run(args: &DevicesArgs, global: &GlobalArgs) -> phonevault::Result<Exit> {
    let server = adb::connect(&ConnectOptions {
        adb_program: global.adb.clone(),
        ..ConnectOptions::default()
    })?
    .with_cancel(interrupt());
    let devices = if args.wait {
        server.wait_for_device(None)?
    } else {
        server.devices()?
    };
    let rows: Vec<Row> = devices
        .iter()
        .map(|d| adb::describe_device(&server, d))
        .collect();
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        out.write_all(to_text(&versioned_list(&rows)).as_bytes())
    } else {
        print_table(&mut out, &rows)
    };
    match written {
        Ok(()) => Ok(Exit::Success),
        // A closed pipe (`| head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Success),
        Err(e) => Err(phonevault::Error::io(
            "writing the device list",
            "stdout",
            e,
        )),
    }
}

fn print_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    if rows.is_empty() {
        writeln!(
            out,
            "No handset attached: plug the phone in with a USB cable and turn on USB debugging \
             (Settings > Developer options)."
        )?;
        return Ok(());
    }
    let dash = || "-".to_string();
    let text = |v: &Option<String>| {
        v.as_deref()
            .map_or_else(dash, |s| for_terminal(s).into_owned())
    };
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                for_terminal(&r.serial).into_owned(),
                adb::state_word(r.state).to_string(),
                text(&r.model),
                text(&r.manufacturer),
                text(&r.android_version),
                r.sdk.map_or_else(dash, |s| s.to_string()),
                match (r.storage_free, r.storage_total) {
                    (Some(free), Some(total)) => {
                        format!("{} free of {}", HumanBytes(free), HumanBytes(total))
                    }
                    _ => dash(),
                },
            ]
        })
        .collect();
    let header = [
        "SERIAL",
        "STATE",
        "MODEL",
        "MANUFACTURER",
        "ANDROID",
        "SDK",
        "STORAGE",
    ];
    let mut widths = header.map(str::len);
    for cells in &table {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = w - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &header)?;
    for (row, cells) in rows.iter().zip(&table) {
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        line(out, &cells)?;
        if let Some(note) = &row.note {
            writeln!(
                out,
                "  {}: {}",
                for_terminal(&row.serial),
                for_terminal(note)
            )?;
        }
    }
    Ok(())
}

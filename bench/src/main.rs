//! `phonevault-bench`: the benchmark behind `scripts/bench.sh` (issue 8).
//!
//! It makes sample phones with `phonevault-sim populate`, serves them with
//! `phonevault-sim serve` over the `usb2` and `usb3` link profiles through a private adb server,
//! times `phonevault` against the plain adb peer (`adb pull`, `adb push`, `adb shell find`),
//! and prints one table, which it also writes to `BENCHMARKS.md` with the machine it ran on.
//! Targets are reported, never asserted.

mod cleanup;
mod handset;
mod load_rows;
mod measure;
mod report;
mod rows;
mod ui_row;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::handset::{AdbServer, Phone, PhoneSpec};
use crate::measure::Runner;
use crate::report::Row;

/// Benchmark phonevault against adb on simulated handsets; print the table and write it to a
/// Markdown file.
#[derive(Debug, Parser)]
#[command(
    name = "phonevault-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    inner: Option<Inner>,
    /// A small run for everyday use: tiny phones, one run each, usb3 only (under two minutes).
    #[arg(long)]
    quick: bool,
    /// Only these rows (B1..B9, P1; B2 runs B2a and B2b; B7 needs chromium and
    /// chromium-driver), e.g. `--rows B1,B3`.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    rows: Vec<String>,
    /// Runs per measurement (the median is reported); default 3, or 1 with --quick.
    #[arg(long)]
    runs: Option<usize>,
    /// Where to write the table (default: BENCHMARKS.md, or target/bench/BENCHMARKS-quick.md
    /// with --quick so a quick run never replaces the committed figures).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Folder in which to make the temporary data folder (default: the system temp folder).
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Folder holding the `phonevault` and `phonevault-sim` binaries (default: this binary's).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The adb program.
    #[arg(long, env = "ADB", default_value = "adb", value_name = "PATH")]
    adb: PathBuf,
    /// Keep the data folder and logs at the end (for looking into a failure).
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum Inner {
    /// (internal) Run one command and report its time and peak memory.
    #[command(hide = true)]
    MeasureChild(measure::ChildArgs),
}

/// Sizes, links and repetitions of one benchmark run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub runs: usize,
    pub b1_links: Vec<&'static str>,
    /// The link of every other row.
    pub link: &'static str,
    pub phone_a: PhoneSpec,
    pub b3_items: usize,
    pub b6_files: usize,
    pub small: PhoneSpec,
    pub huge: u64,
    /// B9: each of the three handsets backed up at once (seeds 91, 92, 93), and their cable.
    pub b9_phone: PhoneSpec,
    pub b9_link: &'static str,
    pub timeout: Duration,
}

impl Plan {
    fn new(quick: bool, runs: Option<usize>) -> Plan {
        if quick {
            Plan {
                quick,
                runs: runs.unwrap_or(1),
                b1_links: vec!["usb3"],
                link: "usb3",
                phone_a: PhoneSpec {
                    photos: 12,
                    videos: 2,
                    whatsapp: 16,
                    photo_size: "24K-64K".into(),
                    video_size: "128K-256K".into(),
                    whatsapp_size: "8K-16K".into(),
                    seed: 8,
                },
                b3_items: 300,
                b6_files: 600,
                small: PhoneSpec {
                    photos: 0,
                    videos: 0,
                    whatsapp: 0,
                    photo_size: "4K-8K".into(),
                    video_size: "8K-16K".into(),
                    whatsapp_size: "2K-4K".into(),
                    seed: 9,
                },
                huge: 64 << 20,
                b9_phone: PhoneSpec {
                    photos: 6,
                    videos: 1,
                    whatsapp: 8,
                    photo_size: "24K-64K".into(),
                    video_size: "128K-256K".into(),
                    whatsapp_size: "8K-16K".into(),
                    seed: 91,
                },
                b9_link: "usb2",
                timeout: Duration::from_secs(30),
            }
        } else {
            Plan {
                quick,
                runs: runs.unwrap_or(3),
                b1_links: vec!["usb2", "usb3"],
                link: "usb3",
                phone_a: PhoneSpec {
                    photos: 1000,
                    videos: 20,
                    whatsapp: 2000,
                    photo_size: "2M-4M".into(),
                    video_size: "30M-60M".into(),
                    whatsapp_size: "100K-300K".into(),
                    seed: 8,
                },
                b3_items: 10_000,
                b6_files: 20_000,
                small: PhoneSpec {
                    photos: 0,
                    videos: 0,
                    whatsapp: 0,
                    photo_size: "8K-16K".into(),
                    video_size: "32K-64K".into(),
                    whatsapp_size: "4K-8K".into(),
                    seed: 9,
                },
                huge: 5 << 30,
                // About 1 GB: phone A's mix at a sixth of its counts.
                b9_phone: PhoneSpec {
                    photos: 150,
                    videos: 6,
                    whatsapp: 300,
                    photo_size: "2M-4M".into(),
                    video_size: "30M-60M".into(),
                    whatsapp_size: "100K-300K".into(),
                    seed: 91,
                },
                b9_link: "usb2",
                timeout: Duration::from_secs(30 * 60),
            }
        }
    }

    /// A generous guess of the disk the run needs at its peak: phone A, one backup of it and
    /// one pull of it at the same time (B1), or one backup of the huge file (B5, stored), or
    /// B9's three phones with a backup of each.
    fn disk_needed(&self, rows: &BTreeSet<&str>) -> u64 {
        let mid = |range: &str| -> u64 {
            let parse = |t: &str| -> u64 {
                let (n, unit) = t.split_at(t.len() - 1);
                let n: u64 = n.parse().unwrap_or(0);
                match unit {
                    "K" => n << 10,
                    "M" => n << 20,
                    "G" => n << 30,
                    _ => 0,
                }
            };
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            u64::midpoint(parse(a), parse(b))
        };
        let a = &self.phone_a;
        let b = &self.b9_phone;
        // Screenshots and album extras add about 30% to the camera photos; WhatsApp adds a
        // quarter for Business and videos at five times the size.
        let phone_a = a.photos * 13 / 10 * mid(&a.photo_size)
            + a.videos * mid(&a.video_size)
            + a.whatsapp * 5 / 4 * mid(&a.whatsapp_size) * 2;
        let mut need = 0;
        if rows.contains("B1") || rows.contains("B4") {
            need = need.max(phone_a * 3);
        }
        // Phone A and one backup (B8) or one pull of its photos (B2) at a time.
        if rows.contains("B2") || rows.contains("B8") {
            need = need.max(phone_a * 2);
        }
        if rows.contains("B5") {
            need = need.max(self.huge + (1 << 30));
        }
        if rows.contains("B9") {
            // Three phones and three backups of them at once.
            let one = b.photos * 13 / 10 * mid(&b.photo_size)
                + b.videos * mid(&b.video_size)
                + b.whatsapp * 5 / 4 * mid(&b.whatsapp_size) * 2;
            need = need.max(one * 6);
        }
        if rows.contains("B7") {
            need = need.max(ui_row::disk_needed(self.quick));
        }
        need + (2 << 30)
    }
}

/// What every row needs.
pub struct Ctx {
    pub plan: Plan,
    pub work: PathBuf,
    pub logs: PathBuf,
    pub phonevault: PathBuf,
    pub sim: PathBuf,
    pub adb_program: PathBuf,
    pub adb: Result<AdbServer, String>,
    pub runner: Runner,
}

/// The rows that run on phone A.
const PHONE_A_ROWS: [&str; 4] = ["B1", "B2", "B4", "B8"];

const ALL_ROWS: [&str; 10] = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "P1"];

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Inner::MeasureChild(args)) = &cli.inner {
        return match measure::child_main(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("phonevault-bench measure-child: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    match bench(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(text: &str) {
    eprintln!("bench: {text}");
}

fn free_bytes(dir: &Path) -> anyhow::Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir)
        .with_context(|| format!("reading the free space of {}", dir.display()))?;
    Ok(st.blocks_available() * st.fragment_size())
}

fn bench(cli: &Cli) -> anyhow::Result<()> {
    let mut selected = BTreeSet::new();
    for id in &cli.rows {
        let id = id.trim().to_ascii_uppercase();
        let Some(known) = ALL_ROWS.iter().find(|r| **r == id) else {
            bail!(
                "unknown row {id:?} in --rows (known: {})",
                ALL_ROWS.join(",")
            );
        };
        selected.insert(*known);
    }
    if selected.is_empty() {
        selected.extend(ALL_ROWS);
    }
    if cli.runs == Some(0) {
        bail!("--runs must be at least 1");
    }
    let plan = Plan::new(cli.quick, cli.runs);

    let bin_dir = match &cli.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this binary has no folder")?
            .to_owned(),
    };
    let phonevault = bin_dir.join("phonevault");
    let sim = bin_dir.join("phonevault-sim");
    for (bin, what) in [(&phonevault, "phonevault"), (&sim, "phonevault-sim")] {
        if !bin.is_file() {
            bail!(
                "{what} is not at {} (build it: cargo build --release -p {what})",
                bin.display()
            );
        }
    }

    let temp = make_workdir(cli, &plan, &selected)?;
    let work = temp.path().to_owned();
    cleanup::set_workdir(work.clone());
    cleanup::install()?;
    let logs = work.join("logs");
    fs::create_dir_all(&logs)?;

    let adb = AdbServer::start(&cli.adb);
    if let Err(why) = &adb {
        progress(&format!("adb server: {why}"));
    }
    let port = adb.as_ref().map_or(0, |a| a.port);
    let runner = Runner::new(
        logs.join("runs"),
        vec![(
            OsString::from("ANDROID_ADB_SERVER_PORT"),
            OsString::from(port.to_string()),
        )],
        plan.timeout,
    )?;
    let ctx = Ctx {
        plan,
        work,
        logs,
        phonevault,
        sim,
        adb_program: cli.adb.clone(),
        adb,
        runner,
    };
    let (rows, phones) = run_rows(&ctx, &selected);

    let text = render(&ctx, cli, &rows, &phones);
    println!("{}", report::table(&rows));
    let out = match &cli.out {
        Some(out) => out.clone(),
        None if ctx.plan.quick => PathBuf::from("target/bench/BENCHMARKS-quick.md"),
        None => PathBuf::from("BENCHMARKS.md"),
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    progress(&format!("table written to {}", out.display()));

    drop(ctx);
    if cli.keep {
        let kept = temp.keep();
        progress(&format!("kept the data and logs in {}", kept.display()));
    }
    Ok(())
}

/// Makes the temporary data folder, once there is room for the run.
fn make_workdir(
    cli: &Cli,
    plan: &Plan,
    selected: &BTreeSet<&str>,
) -> anyhow::Result<tempfile::TempDir> {
    let parent = match &cli.workdir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir(),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let need = plan.disk_needed(selected);
    let free = free_bytes(&parent)?;
    if free < need {
        bail!(
            "not enough free disk in {}: this run needs about {} and {} is free; free some space, \
             pass --workdir on a larger disk, run fewer rows (--rows) or use --quick",
            parent.display(),
            report::bytes(need),
            report::bytes(free)
        );
    }
    let temp = tempfile::Builder::new()
        .prefix("phonevault-bench-")
        .tempdir_in(&parent)
        .context("making the data folder")?;
    progress(&format!(
        "data in {} ({} free, about {} needed)",
        temp.path().display(),
        report::bytes(free),
        report::bytes(need)
    ));
    Ok(temp)
}

/// Which phone each row ran on, described for the report.
type PhoneNotes = Vec<(String, String)>;

fn describe(name: &str, rows: &str, phone: &Result<Phone, String>) -> (String, String) {
    let label = format!("{name} ({rows})");
    match phone {
        Ok(p) => {
            let how = p.spec.as_ref().map_or_else(
                || "made by the benchmark (sparse)".to_owned(),
                |s| {
                    format!(
                        "`phonevault-sim populate --profile android-14 {}`",
                        s.describe()
                    )
                },
            );
            (label, format!("{how}: {}", p.summary()))
        }
        Err(why) => (label, format!("not made: {why}")),
    }
}

fn run_rows(ctx: &Ctx, selected: &BTreeSet<&str>) -> (Vec<Row>, PhoneNotes) {
    let plan = &ctx.plan;
    let mut rows = Vec::new();
    let mut phones = Vec::new();

    if selected.contains("B6") {
        progress(&format!(
            "B6: making a phone of about {} files",
            plan.b6_files
        ));
        let phone = handset::calibrate(
            &ctx.sim,
            &ctx.work,
            &PhoneSpec {
                seed: 6,
                ..plan.small.clone()
            },
            plan.b6_files,
            Phone::files_under_media_roots,
        )
        .and_then(|spec| handset::populate(&ctx.sim, &ctx.work.join("phone-b6"), &spec));
        progress("B6: listing");
        rows.push(rows::b6(ctx, &phone, plan.link));
        retire(&mut phones, "L", "B6", &phone);
    }
    if selected.contains("B3") || selected.contains("P1") {
        progress(&format!(
            "B3: making a phone of about {} items",
            plan.b3_items
        ));
        let phone = handset::calibrate(
            &ctx.sim,
            &ctx.work,
            &PhoneSpec {
                seed: 3,
                ..plan.small.clone()
            },
            plan.b3_items,
            |p| p.included().count(),
        )
        .and_then(|spec| handset::populate(&ctx.sim, &ctx.work.join("phone-b3"), &spec));
        if selected.contains("B3") {
            progress("B3: backup, then reruns");
            rows.push(rows::b3(ctx, &phone, plan.link));
        }
        if selected.contains("P1") {
            progress("P1: small files, pipelined against one at a time");
            rows.push(rows::p1(ctx, &phone, plan.link, 1000));
        }
        retire(&mut phones, "S", "B3", &phone);
    }
    let needs_a = PHONE_A_ROWS.iter().any(|r| selected.contains(r));
    if needs_a {
        progress("making phone A (Gallery and WhatsApp)");
        let phone = handset::populate(&ctx.sim, &ctx.work.join("phone-a"), &plan.phone_a);
        let backup = ctx.work.join("b1-kept-backup");
        if selected.contains("B1") {
            for link in &plan.b1_links {
                progress(&format!("B1 on {link}: backup against adb pull"));
                // The last link's final backup is kept for B4 to restore.
                let keep = (selected.contains("B4") && Some(link) == plan.b1_links.last())
                    .then_some(backup.as_path());
                rows.push(rows::b1(ctx, &phone, link, keep));
            }
        }
        if selected.contains("B2") {
            progress("B2a: previews of photos with EXIF thumbnails against pulling them");
            rows.push(rows::b2a(ctx, &phone, plan.link));
            progress("B2b: previews of every photo against pulling them");
            rows.push(rows::b2b(ctx, &phone, plan.link));
        }
        if selected.contains("B4") {
            progress("B4: restore against adb push");
            rows.push(rows::b4(ctx, &phone, &backup, plan.link));
        }
        if selected.contains("B8") {
            progress("B8: CPU of phonevault per GB backed up, plain and encrypted");
            rows.push(load_rows::b8(ctx, &phone, plan.link));
        }
        let _ = fs::remove_dir_all(&backup);
        retire(&mut phones, "A", "B1, B2, B4, B8", &phone);
    }
    if selected.contains("B5") {
        progress(&format!("B5: backup of one {}-byte file", plan.huge));
        let phone = handset::huge_phone(&ctx.work.join("phone-b5"), plan.huge);
        rows.push(rows::b5(ctx, &phone, plan.link));
        retire(&mut phones, "H", "B5", &phone);
    }
    run_b9(ctx, selected, &mut rows, &mut phones);
    run_b7(ctx, selected, &mut rows, &mut phones);
    rows.sort_by(|a, b| a.id.cmp(b.id).then_with(|| a.link.cmp(&b.link)));
    (rows, phones)
}

/// B9, when selected, on three handsets of its own (seeds `b9_phone.seed`, +1, +2), removed
/// afterwards.
fn run_b9(ctx: &Ctx, selected: &BTreeSet<&str>, rows: &mut Vec<Row>, phones: &mut PhoneNotes) {
    if !selected.contains("B9") {
        return;
    }
    let plan = &ctx.plan;
    progress("B9: making three handsets");
    let three: Vec<Result<Phone, String>> = (0..3)
        .map(|k| {
            let spec = PhoneSpec {
                seed: plan.b9_phone.seed + k,
                ..plan.b9_phone.clone()
            };
            handset::populate(&ctx.sim, &ctx.work.join(format!("phone-b9-{k}")), &spec)
        })
        .collect();
    progress(&format!(
        "B9: three handsets backed up each alone, then at once, on {}",
        plan.b9_link
    ));
    rows.push(load_rows::b9(ctx, &three, plan.b9_link));
    for (k, phone) in three.iter().enumerate() {
        retire(phones, &format!("T{}", k + 1), "B9", phone);
    }
}

/// B7 on a phone of its own (the desktop client's first screen).
fn run_b7(ctx: &Ctx, selected: &BTreeSet<&str>, rows: &mut Vec<Row>, phones: &mut PhoneNotes) {
    if !selected.contains("B7") {
        return;
    }
    progress("B7: making the phone of the desktop client's first screen");
    let phone = ui_row::make_phone(ctx);
    progress("B7: phonevault ui to the first screen of thumbnails in Chromium, cold and warm");
    rows.push(ui_row::b7(ctx, &phone, ctx.plan.link));
    retire(phones, "U", "B7", &phone);
}

/// Notes a phone for the report and removes its files.
fn retire(phones: &mut PhoneNotes, name: &str, rows: &str, phone: &Result<Phone, String>) {
    phones.push(describe(name, rows, phone));
    if let Ok(p) = phone {
        let _ = fs::remove_dir_all(&p.dir);
    }
}

fn render(ctx: &Ctx, cli: &Cli, rows: &[Row], phones: &PhoneNotes) -> String {
    let plan = &ctx.plan;
    let mut md = String::new();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let mode = if plan.quick {
        "`scripts/bench.sh --quick`"
    } else {
        "`scripts/bench.sh`"
    };
    let _ = writeln!(md, "# phonevault benchmarks\n");
    let _ = writeln!(
        md,
        "Written by {mode} on {now}; every figure is the median of {} run{} \
         (targets are from issue 8 and are reported, never asserted in tests).\n",
        plan.runs,
        if plan.runs == 1 { "" } else { "s" }
    );
    md.push_str(&report::table(rows));
    md.push_str(
        "\nFigures are wall-clock times of the whole command. `sent` and `received` are the \
         bytes the simulated handset sent or received over ADB during the command (from its \
         `--stats` file), for us and for the peer alike. Ratios are our median time over the \
         peer's. `n/a` means the command failed (the reason is in the cell) or could not run.\n",
    );
    let _ = writeln!(md, "\n## Machine\n");
    for (k, v) in report::machine() {
        let _ = writeln!(md, "- {k}: {v}");
    }
    let _ = writeln!(
        md,
        "- adb: {}",
        report::tool_version(&cli.adb, &["version"])
    );
    let commit = report::tool_version(Path::new("git"), &["describe", "--always", "--dirty"]);
    let build = if ctx
        .phonevault
        .parent()
        .is_some_and(|d| d.ends_with("debug"))
    {
        "debug build (figures not comparable)"
    } else {
        "release build"
    };
    let _ = writeln!(md, "- phonevault: commit {commit}, {build}");
    let _ = writeln!(md, "\n## Phones and links\n");
    for (name, text) in phones {
        let _ = writeln!(md, "- {name}: {text}");
    }
    let _ = writeln!(
        md,
        "- B1 ran over the {} link profile{}, B9 over `{}` (three cables); every other row over \
         `{}`. A backup rerun (B3) \
         counts as nothing pulled when it makes no file reads, or, when the handset does not \
         count those, when it sends less than 16 kB beyond what `phonevault ls --json` alone \
         makes it send.",
        plan.b1_links
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(" and "),
        if plan.b1_links.len() == 1 { "" } else { "s" },
        plan.b9_link,
        plan.link
    );
    let _ = writeln!(md, "\n## Every run\n");
    for r in rows {
        let _ = writeln!(md, "{} ({}):", r.id, r.link);
        for n in &r.notes {
            let _ = writeln!(md, "- {}", n.replace('|', "\\|"));
        }
        md.push('\n');
    }
    md
}

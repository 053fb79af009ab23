//! The rows about load (issue 15): B8, the CPU phonevault itself spends per GB backed up, and
//! B9, three handsets backed up at once against each alone.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;

use crate::handset::{Phone, Sim};
use crate::measure::Outcome;
use crate::report::{bytes, median, secs, Row, Verdict};
use crate::rows::{
    backup_args, order, os, phone_or_fail, phonevault, remove, sent_since, sim_or_fail, Side,
};
use crate::Ctx;

/// CPU seconds per GB (10^9 bytes) backed up.
fn cpu_per_gb(cpu: f64, backed_up: u64) -> f64 {
    cpu / (backed_up as f64 / 1e9)
}

/// The median of a side's CPU seconds per GB, `None` when it failed or has no run.
fn side_cpu_per_gb(side: &Side, backed_up: u64) -> Option<f64> {
    if side.failure.is_some() {
        return None;
    }
    median(&side.cpu).map(|c| cpu_per_gb(c, backed_up))
}

fn cpu_note(name: &str, side: &Side, backed_up: u64) -> String {
    let per: Vec<String> = side
        .cpu
        .iter()
        .map(|c| format!("{c:.2} s ({:.2} s/GB)", cpu_per_gb(*c, backed_up)))
        .collect();
    format!("{name}: CPU (user + system) [{}]", per.join(", "))
}

/// The three ways B8 backs phone A up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum B8Kind {
    /// Plain, empty preview cache: photos without an EXIF thumbnail are decoded.
    Plain,
    /// Encrypted (AES-256), empty preview cache.
    Encrypted,
    /// Plain, with the cache filled by `phonevault preview` first: nothing decoded.
    CacheFilled,
}

impl B8Kind {
    fn label(self) -> &'static str {
        match self {
            B8Kind::Plain => "plain",
            B8Kind::Encrypted => "encrypted",
            B8Kind::CacheFilled => "cache-filled",
        }
    }
}

/// One measured backup of B8 (the cache filling, when asked, is not measured).
fn b8_run(
    ctx: &Ctx,
    sim: &mut Sim,
    kind: B8Kind,
    run: usize,
    password: &std::path::Path,
    side: &mut Side,
) {
    let name = kind.label();
    let cache = ctx.work.join(format!("b8-{name}-cache-{run}"));
    let dest = ctx.work.join(format!("b8-{name}-backup-{run}"));
    let _ = fs::create_dir_all(&cache);
    let env = [("XDG_CACHE_HOME", cache.as_os_str())];
    if kind == B8Kind::CacheFilled {
        let sheet = ctx.work.join(format!("b8-sheet-{run}.html"));
        let args = os(&[
            OsStr::new("-s"),
            OsStr::new(&sim.serial),
            OsStr::new("preview"),
            OsStr::new("--out"),
            sheet.as_os_str(),
        ]);
        let filled = phonevault(ctx, "b8-preview-fill", &args, &env);
        remove(&sheet);
        if let Some(why) = &filled.failure {
            side.failure = Some(format!("filling the preview cache failed: {why}"));
            remove(&cache);
            return;
        }
    }
    let mut args = backup_args(&sim.serial, &dest);
    if kind == B8Kind::Encrypted {
        args.push("--encrypt".into());
        args.push("--password-file".into());
        args.push(password.as_os_str().to_owned());
    }
    let before = sim.stats();
    let out = phonevault(ctx, &format!("b8-{name}-backup"), &args, &env);
    let moved = sent_since(sim, before.as_ref());
    side.record_on(sim, &out, moved);
    remove(&dest);
    remove(&cache);
}

/// B8: the CPU time of `phonevault backup` itself per GB backed up (user + system seconds of
/// the process, from `getrusage` in the measuring wrapper; the handset and the adb server are
/// other processes and are not counted), plain and encrypted, each with an empty preview
/// cache (so photos without an EXIF thumbnail are decoded for the archive's previews), and
/// plain once more with the cache filled by `phonevault preview` first (nothing decoded), to
/// show the decoding's share.
pub fn b8(ctx: &Ctx, phone: &Result<Phone, String>, link: &str) -> Row {
    let mut row = Row::new(
        "B8",
        "CPU of phonevault itself per GB backed up (user + system)",
        link,
        "<= 1.0 s/GB plain, <= 2.5 s/GB encrypted",
    );
    let Some(phone) = phone_or_fail(&mut row, phone) else {
        return row;
    };
    let backed_up: u64 = phone.included().map(|t| t.size).sum();
    let password = ctx.work.join("b8-password");
    if let Err(err) = fs::write(&password, "bench-password-b8\n") {
        row.fail(&format!("cannot write the password file: {err}"));
        return row;
    }
    let Some(mut sim) = sim_or_fail(&mut row, ctx, &phone.dir, link) else {
        return row;
    };
    let kinds = [B8Kind::Plain, B8Kind::Encrypted, B8Kind::CacheFilled];
    let mut sides = [
        Side::new("plain backup"),
        Side::new("encrypted backup"),
        Side::new("backup with the preview cache filled"),
    ];
    for run in 0..ctx.plan.runs {
        for (kind, side) in kinds.iter().zip(sides.iter_mut()) {
            if !side.gave_up() {
                b8_run(ctx, &mut sim, *kind, run, &password, side);
            }
        }
    }
    remove(&password);
    for (name, side) in [
        "plain, empty preview cache",
        "encrypted, empty preview cache",
        "plain, preview cache filled",
    ]
    .iter()
    .zip(&sides)
    {
        row.notes.push(side.note(name));
        row.notes.push(cpu_note(name, side, backed_up));
    }
    row.notes.push(format!(
        "backed up per run: {} ({} catalogued items)",
        bytes(backed_up),
        phone.included().count()
    ));
    b8_verdict(&mut row, &sides, backed_up);
    row
}

fn b8_verdict(row: &mut Row, sides: &[Side; 3], backed_up: u64) {
    let [plain, encrypted, filled] = sides;
    let (p, e, w) = (
        side_cpu_per_gb(plain, backed_up),
        side_cpu_per_gb(encrypted, backed_up),
        side_cpu_per_gb(filled, backed_up),
    );
    let show = |v: Option<f64>, side: &Side| match (v, &side.failure) {
        (Some(v), _) => format!("{v:.2} s/GB"),
        (None, Some(why)) => format!("n/a ({why})"),
        (None, None) => "n/a".to_owned(),
    };
    row.figure = format!(
        "plain {}, encrypted {}; with the preview cache filled: plain {}",
        show(p, plain),
        show(e, encrypted),
        show(w, filled)
    );
    if let (Some(p), Some(w)) = (p, w) {
        let decoding = (p - w).max(0.0);
        let _ = write!(
            row.figure,
            " (decoding previews: {decoding:.2} s/GB, {:.0}% of plain)",
            decoding / p * 100.0
        );
    }
    row.met = match (p, e) {
        (Some(p), Some(e)) => Verdict::from_bool(p <= 1.0 && e <= 2.5),
        _ => Verdict::NotAvailable,
    };
}

/// The three handsets' backups at once, each in a thread of its own.
fn b9_together(ctx: &Ctx, sims: &[Sim], run: usize) -> Vec<Outcome> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = sims
            .iter()
            .enumerate()
            .map(|(k, sim)| {
                let serial = sim.serial.clone();
                scope.spawn(move || {
                    let dest = ctx.work.join(format!("b9-together-{k}-{run}"));
                    let out = phonevault(
                        ctx,
                        &format!("b9-together-{}", k + 1),
                        &backup_args(&serial, &dest),
                        &[],
                    );
                    remove(&dest);
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a backup thread"))
            .collect()
    })
}

/// What B9 measured, per handset.
struct B9Samples {
    alone: Vec<Side>,
    together: Vec<Side>,
    /// Speed together over speed alone, per run (time alone over time together).
    ratios: Vec<Vec<f64>>,
}

fn b9_measure(ctx: &Ctx, sims: &mut [Sim]) -> B9Samples {
    let n = sims.len();
    let mut s = B9Samples {
        alone: (0..n).map(|_| Side::new("alone")).collect(),
        together: (0..n).map(|_| Side::new("together")).collect(),
        ratios: vec![Vec::new(); n],
    };
    for run in 0..ctx.plan.runs {
        let mut alone_secs = vec![None; n];
        let mut together_secs = vec![None; n];
        for alone_turn in order(run) {
            if alone_turn {
                for (k, sim) in sims.iter_mut().enumerate() {
                    let dest = ctx.work.join(format!("b9-alone-{k}-{run}"));
                    let label = format!("b9-alone-{}", k + 1);
                    let out = phonevault(ctx, &label, &backup_args(&sim.serial, &dest), &[]);
                    remove(&dest);
                    alone_secs[k] = out.ok().then_some(out.secs);
                    s.alone[k].record_on(sim, &out, None);
                }
            } else {
                let outs = b9_together(ctx, sims, run);
                for (k, out) in outs.iter().enumerate() {
                    together_secs[k] = out.ok().then_some(out.secs);
                    s.together[k].record_on(&mut sims[k], out, None);
                }
            }
        }
        for k in 0..n {
            if let (Some(a), Some(t)) = (alone_secs[k], together_secs[k]) {
                s.ratios[k].push(a / t);
            }
        }
    }
    s
}

/// B9: three handsets backed up at once against each alone, on one adb server, each over a
/// cable of its own (`link`). Per handset and run, the ratio of its speed together to its
/// speed alone (the same bytes, so time alone over time together); the median over runs per
/// handset; met when every handset keeps >= 0.8 of its speed alone and all three finish
/// every run (a handset lost under load fails the row).
pub fn b9(ctx: &Ctx, phones: &[Result<Phone, String>], link: &str) -> Row {
    let mut row = Row::new(
        "B9",
        "three handsets backed up at once",
        link,
        "each >= 0.8x its speed alone",
    );
    let mut ready = Vec::new();
    for phone in phones {
        let Some(phone) = phone_or_fail(&mut row, phone) else {
            return row;
        };
        ready.push(phone);
    }
    let mut sims = Vec::new();
    for phone in &ready {
        let Some(sim) = sim_or_fail(&mut row, ctx, &phone.dir, link) else {
            return row;
        };
        sims.push(sim);
    }
    let s = b9_measure(ctx, &mut sims);
    let mut medians = Vec::new();
    for (k, phone) in ready.iter().enumerate() {
        let ratios: Vec<String> = s.ratios[k].iter().map(|r| format!("{r:.2}")).collect();
        row.notes.push(format!(
            "handset {} ({}): {}; {}; speed together / alone per run [{}]",
            k + 1,
            bytes(phone.included().map(|t| t.size).sum()),
            s.alone[k].note("alone"),
            s.together[k].note("together"),
            ratios.join(", ")
        ));
        medians.push(median(&s.ratios[k]));
    }
    let times = |sides: &[Side]| -> String {
        let t: Vec<String> = sides
            .iter()
            .map(|s| s.time().map_or("n/a".to_owned(), secs))
            .collect();
        t.join(", ")
    };
    row.figure = format!("together: {}", times(&s.together));
    row.peer = format!("each alone: {}", times(&s.alone));
    let failed = s
        .alone
        .iter()
        .chain(&s.together)
        .find_map(|side| side.failure.clone());
    let lost: usize = s
        .alone
        .iter()
        .chain(&s.together)
        .map(|side| side.excused.len())
        .sum();
    let all: Option<Vec<f64>> = medians.into_iter().collect();
    match (all, failed) {
        (Some(all), None) if lost == 0 && !all.is_empty() => {
            let worst = all.iter().copied().fold(f64::INFINITY, f64::min);
            let each: Vec<String> = all.iter().map(|r| format!("{r:.2}")).collect();
            row.ratio = format!("{} (worst {worst:.2})", each.join(", "));
            row.met = Verdict::from_bool(worst >= 0.8);
        }
        (_, Some(why)) => row.fail(&why),
        _ => {
            "n/a".clone_into(&mut row.ratio);
            row.fail(&format!(
                "{lost} run(s) lost to a failing handset (see the notes)"
            ));
        }
    }
    row
}

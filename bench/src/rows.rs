//! The measurements. Each returns its row whatever happens: a command that fails makes its
//! side `n/a (command failed: ...)`, and the run goes on.
//!
//! Our side and the peer take turns (ours first in even runs, the peer first in odd ones) so
//! neither always finds the host's page cache warmer.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::handset::{self, Phone, Sim, Stats};
use crate::measure::{Outcome, Runner};
use crate::report::{bytes, median, median_u64, secs, Row, Verdict};
use crate::Ctx;

pub(crate) fn os<S: AsRef<OsStr>>(args: &[S]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_owned()).collect()
}

fn start_sim<'a>(ctx: &'a Ctx, storage: &Path, link: &str) -> Result<Sim<'a>, String> {
    let adb = ctx.adb.as_ref().map_err(Clone::clone)?;
    Sim::start(adb, &ctx.sim, storage, link, &ctx.logs)
}

pub(crate) fn sent_since(sim: &Sim, before: Option<&Stats>) -> Option<u64> {
    Some(sim.stats()?.sent.saturating_sub(before?.sent))
}

fn received_since(sim: &Sim, before: Option<&Stats>) -> Option<u64> {
    Some(sim.stats()?.received.saturating_sub(before?.received))
}

/// The samples of one side of a row.
#[derive(Debug)]
pub(crate) struct Side {
    /// What failed, for the table: `command` (ours) or the peer's name.
    what: &'static str,
    pub(crate) times: Vec<f64>,
    moved: Vec<u64>,
    rss: Vec<u64>,
    /// User + system CPU seconds of each counted run.
    pub(crate) cpu: Vec<f64>,
    /// Why the side is `n/a`, ready for the table.
    pub(crate) failure: Option<String>,
    /// Runs left out because the simulated handset failed under them.
    pub(crate) excused: Vec<String>,
}

impl Side {
    pub(crate) fn new(what: &'static str) -> Side {
        Side {
            what,
            times: Vec::new(),
            moved: Vec::new(),
            rss: Vec::new(),
            cpu: Vec::new(),
            failure: None,
            excused: Vec::new(),
        }
    }

    /// Records a run. A failed run after which the handset had to be started again is left
    /// out and noted: the simulated handset failed, not the command.
    pub(crate) fn record_on(&mut self, sim: &mut Sim, outcome: &Outcome, moved: Option<u64>) {
        if outcome.ok() {
            self.record(outcome, moved);
            return;
        }
        let failure = outcome.failure.clone().unwrap_or_default();
        match sim.revive() {
            Ok(None) => self.record(outcome, None),
            Ok(Some(why)) => self
                .excused
                .push(format!("{failure} ({why}; restarted it)")),
            Err(err) => {
                self.record(outcome, None);
                self.excused.push(format!(
                    "{failure} (the handset could not be restarted: {err})"
                ));
            }
        }
    }

    fn record(&mut self, outcome: &Outcome, moved: Option<u64>) {
        match &outcome.failure {
            None => {
                self.times.push(outcome.secs);
                self.rss.push(outcome.max_rss);
                self.cpu.push(outcome.cpu_secs);
                if let Some(m) = moved {
                    self.moved.push(m);
                }
            }
            Some(why) => {
                if self.failure.is_none() {
                    self.failure = Some(format!("{} failed: {why}", self.what));
                }
            }
        }
    }

    /// Stop measuring a side once it failed: the row is `n/a` anyway.
    pub(crate) fn gave_up(&self) -> bool {
        self.failure.is_some()
    }

    pub(crate) fn time(&self) -> Option<f64> {
        if self.failure.is_some() {
            None
        } else {
            median(&self.times)
        }
    }

    fn moved(&self) -> Option<u64> {
        median_u64(&self.moved)
    }

    /// `1.23 s, 4.31 GB sent` (what the handset sent or received, per `verb`).
    fn cell(&self, verb: &str) -> String {
        match (&self.failure, self.time()) {
            (Some(why), _) => format!("n/a ({why})"),
            (None, Some(t)) => match self.moved() {
                Some(m) if !verb.is_empty() => format!("{}, {} {verb}", secs(t), bytes(m)),
                _ => secs(t),
            },
            (None, None) => match self.excused.last() {
                Some(why) => format!("n/a (every run lost to a failing handset: {why})"),
                None => "n/a (not run)".to_owned(),
            },
        }
    }

    pub(crate) fn note(&self, name: &str) -> String {
        let times: Vec<String> = self.times.iter().map(|t| format!("{t:.3}")).collect();
        let moved: Vec<String> = self.moved.iter().map(u64::to_string).collect();
        let mut note = format!(
            "{name}: times [{}] s, bytes moved [{}]",
            times.join(", "),
            moved.join(", ")
        );
        if let Some(f) = &self.failure {
            let _ = write!(note, "; {f}");
        }
        for e in &self.excused {
            let _ = write!(note, "; a run left out: {e}");
        }
        note
    }
}

pub(crate) fn order(i: usize) -> [bool; 2] {
    if i.is_multiple_of(2) {
        [true, false]
    } else {
        [false, true]
    }
}

/// Runs `phonevault`. Unless `env` names a preview cache (`XDG_CACHE_HOME`), the run gets an
/// empty one of its own: a backup decodes the pictures of photos without an EXIF thumbnail,
/// and a cache left by an earlier run (or the user's own) would spare it that work.
pub(crate) fn phonevault(
    ctx: &Ctx,
    label: &str,
    args: &[OsString],
    env: &[(&str, &OsStr)],
) -> Outcome {
    if env.iter().any(|(name, _)| *name == "XDG_CACHE_HOME") {
        return ctx.runner.run(label, &ctx.phonevault, args, env);
    }
    let cache = ctx.work.join(format!("cache-{label}"));
    remove(&cache);
    let mut with_cache = env.to_vec();
    with_cache.push(("XDG_CACHE_HOME", cache.as_os_str()));
    let out = ctx.runner.run(label, &ctx.phonevault, args, &with_cache);
    remove(&cache);
    out
}

fn adb(runner: &Runner, ctx: &Ctx, label: &str, args: &[OsString]) -> Outcome {
    runner.run(label, &ctx.adb_program, args, &[])
}

/// `phonevault -s SERIAL backup --to DEST -q --json`, the backup every row runs.
pub(crate) fn backup_args(serial: &str, dest: &Path) -> Vec<OsString> {
    os(&[
        OsStr::new("-s"),
        OsStr::new(serial),
        OsStr::new("backup"),
        OsStr::new("--to"),
        dest.as_os_str(),
        OsStr::new("-q"),
        OsStr::new("--json"),
    ])
}

pub(crate) fn remove(path: &Path) {
    if path.is_dir() {
        let _ = fs::remove_dir_all(path);
    } else {
        let _ = fs::remove_file(path);
    }
}

pub(crate) fn phone_or_fail<'p>(
    row: &mut Row,
    phone: &'p Result<Phone, String>,
) -> Option<&'p Phone> {
    match phone {
        Ok(p) => Some(p),
        Err(why) => {
            row.fail(why);
            if row.peer != "-" {
                row.peer = format!("n/a ({why})");
            }
            None
        }
    }
}

pub(crate) fn sim_or_fail<'a>(
    row: &mut Row,
    ctx: &'a Ctx,
    storage: &Path,
    link: &str,
) -> Option<Sim<'a>> {
    match start_sim(ctx, storage, link) {
        Ok(sim) => Some(sim),
        Err(why) => {
            row.fail(&why);
            if row.peer != "-" {
                row.peer = format!("n/a ({why})");
            }
            None
        }
    }
}

/// B1: `phonevault backup` of everything against `adb pull` of the media folders.
pub fn b1(ctx: &Ctx, phone: &Result<Phone, String>, link: &str, keep: Option<&Path>) -> Row {
    let limit = if link == "usb2" { 1.0 } else { 0.8 };
    let mut row = Row::new(
        "B1",
        "full backup of Gallery + WhatsApp",
        link,
        &format!("time ratio <= {limit:.1}"),
    );
    row.peer = String::new();
    let Some(phone) = phone_or_fail(&mut row, phone) else {
        return row;
    };
    let Some(mut sim) = sim_or_fail(&mut row, ctx, &phone.dir, link) else {
        return row;
    };
    let roots = phone.media_roots();
    let (mut ours, mut peer) = (Side::new("command"), Side::new("adb pull"));
    for i in 0..ctx.plan.runs {
        for our_turn in order(i) {
            if our_turn && !ours.gave_up() {
                let dest = ctx.work.join(format!("b1-{link}-backup-{i}"));
                let before = sim.stats();
                let out = phonevault(ctx, "b1-backup", &backup_args(&sim.serial, &dest), &[]);
                let moved = sent_since(&sim, before.as_ref());
                ours.record_on(&mut sim, &out, moved);
                match keep {
                    Some(keep) if out.ok() && i + 1 == ctx.plan.runs => {
                        remove(keep);
                        if fs::rename(&dest, keep).is_err() {
                            remove(&dest);
                        }
                    }
                    _ => remove(&dest),
                }
            } else if !our_turn && !peer.gave_up() {
                let dest = ctx.work.join(format!("b1-{link}-pull-{i}"));
                let _ = fs::create_dir_all(&dest);
                let mut args = os(&["-s", sim.serial.as_str(), "pull"]);
                args.extend(roots.iter().map(OsString::from));
                args.push(dest.clone().into_os_string());
                let before = sim.stats();
                let out = adb(&ctx.runner, ctx, "b1-pull", &args);
                let moved = sent_since(&sim, before.as_ref());
                peer.record_on(&mut sim, &out, moved);
                remove(&dest);
            }
        }
    }
    row.figure = ours.cell("sent");
    row.peer = format!("adb pull: {}", peer.cell("sent"));
    if let (Some(a), Some(b)) = (ours.time(), peer.time()) {
        let ratio = a / b;
        row.ratio = format!("{ratio:.2}");
        row.met = Verdict::from_bool(ratio <= limit);
    } else {
        "n/a".clone_into(&mut row.ratio);
    }
    row.notes.push(ours.note("phonevault backup"));
    row.notes.push(peer.note("adb pull"));
    row
}

/// Which photos a preview row shows, and what it is held to (issue 15's table).
struct PreviewRow {
    id: &'static str,
    what: &'static str,
    target: &'static str,
    /// Only Gallery photos whose JPEG carries an EXIF thumbnail (B2a), or every photo (B2b).
    with_exif_thumbnail_only: bool,
    /// Largest share of the pulled bytes the cold run may read, in percent (`None`: a
    /// measure only).
    max_share: Option<f64>,
    min_faster: f64,
    /// Longest warm rerun, in seconds (`None`: not part of the target).
    max_warm: Option<f64>,
}

/// B2a: previews of the camera photos that carry EXIF thumbnails against pulling them.
pub fn b2a(ctx: &Ctx, phone: &Result<Phone, String>, link: &str) -> Row {
    preview_row(
        ctx,
        phone,
        link,
        &PreviewRow {
            id: "B2a",
            what: "previews of camera photos that carry EXIF thumbnails",
            target: "<= 3% of the bytes, >= 15x faster",
            with_exif_thumbnail_only: true,
            max_share: Some(3.0),
            min_faster: 15.0,
            max_warm: None,
        },
    )
}

/// B2b: previews of every photo (WhatsApp images included), none a placeholder, against
/// pulling them.
pub fn b2b(ctx: &Ctx, phone: &Result<Phone, String>, link: &str) -> Row {
    preview_row(
        ctx,
        phone,
        link,
        &PreviewRow {
            id: "B2b",
            what: "previews of every photo, none a placeholder",
            target: ">= 8x faster, no placeholder; warm rerun <= 1 s",
            with_exif_thumbnail_only: false,
            max_share: None,
            min_faster: 8.0,
            max_warm: Some(1.0),
        },
    )
}

/// A glob that matches exactly `path`: globset's metacharacters escaped with a backslash
/// (phonevault builds `--include` globs with backslash escapes on).
fn literal_glob(path: &str) -> String {
    let mut glob = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            glob.push('\\');
        }
        glob.push(c);
    }
    glob
}

/// Tiles of a contact sheet that show no picture although their photo could have one:
/// placeholders other than the formats without a decoder here (HEIC, DNG).
fn placeholder_tiles(sheet: &str) -> usize {
    sheet
        .split("<figure ")
        .filter(|tile| tile.contains("data-thumbnail=\"placeholder\""))
        .filter(|tile| !tile.contains("data-no-picture=\"no-decoder\""))
        .count()
}

/// A cold and a warm contact sheet of the row's photos against pulling those photos.
fn preview_row(ctx: &Ctx, phone: &Result<Phone, String>, link: &str, spec: &PreviewRow) -> Row {
    let mut row = Row::new(spec.id, spec.what, link, spec.target);
    row.peer = String::new();
    let Some(phone) = phone_or_fail(&mut row, phone) else {
        return row;
    };
    let photos: Vec<String> = phone
        .included()
        .filter(|t| t.kind.as_deref() == Some("photo"))
        .filter(|t| !spec.with_exif_thumbnail_only || t.exif_thumbnail == Some(true))
        .map(|t| t.path.clone())
        .collect();
    if photos.is_empty() {
        row.fail("the phone holds no such photo");
        return row;
    }
    let Some(mut sim) = sim_or_fail(&mut row, ctx, &phone.dir, link) else {
        return row;
    };
    let (mut cold, mut warm, mut peer) = (
        Side::new("command"),
        Side::new("command"),
        Side::new("adb pull"),
    );
    let mut placeholders = Vec::new();
    let mut args = os(&["-s", sim.serial.as_str(), "preview", "--kind", "photo"]);
    if spec.with_exif_thumbnail_only {
        for path in &photos {
            args.push("--include".into());
            args.push(literal_glob(path).into());
        }
    }
    for i in 0..ctx.plan.runs {
        for our_turn in order(i) {
            if our_turn && !cold.gave_up() {
                let cache = ctx.work.join(format!("{}-cache-{i}", spec.id));
                let sheet = ctx.work.join(format!("{}-sheet-{i}.html", spec.id));
                let _ = fs::create_dir_all(&cache);
                let mut args = args.clone();
                args.push("--out".into());
                args.push(sheet.clone().into_os_string());
                let env = [("XDG_CACHE_HOME", cache.as_os_str())];
                let before = sim.stats();
                let out = phonevault(ctx, &format!("{}-preview-cold", spec.id), &args, &env);
                let moved = sent_since(&sim, before.as_ref());
                cold.record_on(&mut sim, &out, moved);
                if out.ok() {
                    placeholders.push(placeholder_tiles(
                        &fs::read_to_string(&sheet).unwrap_or_default(),
                    ));
                    let before = sim.stats();
                    let out = phonevault(ctx, &format!("{}-preview-warm", spec.id), &args, &env);
                    let moved = sent_since(&sim, before.as_ref());
                    warm.record_on(&mut sim, &out, moved);
                }
                remove(&cache);
                remove(&sheet);
            } else if !our_turn && !peer.gave_up() {
                let dest = ctx.work.join(format!("{}-pull-{i}", spec.id));
                let _ = fs::create_dir_all(&dest);
                let mut args = os(&["-s", sim.serial.as_str(), "pull"]);
                args.extend(photos.iter().map(OsString::from));
                args.push(dest.clone().into_os_string());
                let before = sim.stats();
                let out = adb(&ctx.runner, ctx, &format!("{}-pull", spec.id), &args);
                let moved = sent_since(&sim, before.as_ref());
                peer.record_on(&mut sim, &out, moved);
                remove(&dest);
            }
        }
    }
    preview_verdict(
        &mut row,
        spec,
        [&cold, &warm, &peer],
        &placeholders,
        photos.len(),
    );
    row.notes.push(cold.note("phonevault preview, cold cache"));
    row.notes.push(warm.note("phonevault preview, warm cache"));
    row.notes.push(peer.note("adb pull of the photos"));
    row.notes.push(format!(
        "tiles without a picture that could have one, per cold run: {placeholders:?}"
    ));
    row
}

/// The figure, peer, ratio and verdict of a preview row from its three sides (cold, warm,
/// the peer) and the placeholder count of each cold run.
fn preview_verdict(
    row: &mut Row,
    spec: &PreviewRow,
    [cold, warm, peer]: [&Side; 3],
    placeholders: &[usize],
    photos: usize,
) {
    let most_placeholders = placeholders.iter().copied().max();
    row.figure = match (&cold.failure, &warm.failure) {
        (Some(_), _) => cold.cell("sent"),
        (None, Some(_)) => format!("cold {}; warm {}", cold.cell("sent"), warm.cell("sent")),
        (None, None) => format!(
            "cold {}; warm {}; {} placeholders",
            cold.cell("sent"),
            warm.time().map_or_else(|| "n/a".to_owned(), secs),
            most_placeholders.map_or_else(|| "n/a".to_owned(), |n| n.to_string())
        ),
    };
    row.peer = format!("adb pull of {} photos: {}", photos, peer.cell("sent"));
    match (
        cold.time(),
        cold.moved(),
        warm.time(),
        peer.time(),
        peer.moved(),
    ) {
        (Some(ct), Some(cb), Some(wt), Some(pt), Some(pb)) if pb > 0 && ct > 0.0 => {
            let share = cb as f64 / pb as f64 * 100.0;
            let faster = pt / ct;
            row.ratio = format!("{share:.1}% of the bytes, {faster:.1}x faster");
            row.met = Verdict::from_bool(
                spec.max_share.is_none_or(|max| share <= max)
                    && faster >= spec.min_faster
                    && spec.max_warm.is_none_or(|max| wt <= max)
                    && (spec.with_exif_thumbnail_only || most_placeholders == Some(0)),
            );
        }
        _ => "n/a".clone_into(&mut row.ratio),
    }
}

/// How many whole-file reads (sync `RECV`/`RCV2`) the handset's stats count, when it counts
/// them.
fn recv_requests(stats: &Value) -> Option<u64> {
    let mut found = None;
    for group in ["sync_requests", "services"] {
        let Some(map) = stats.get(group).and_then(Value::as_object) else {
            continue;
        };
        for (name, value) in map {
            let name = name.to_ascii_uppercase();
            if name.contains("RECV") || name.contains("RCV2") {
                *found.get_or_insert(0) += value.as_u64().unwrap_or(0);
            }
        }
    }
    found
}

/// B3: a second backup when nothing is new.
pub fn b3(ctx: &Ctx, phone: &Result<Phone, String>, link: &str) -> Row {
    let mut row = Row::new(
        "B3",
        "backup rerun with nothing new",
        link,
        "<= 3 s, 0 bytes pulled",
    );
    let Some(phone) = phone_or_fail(&mut row, phone) else {
        return row;
    };
    let Some(mut sim) = sim_or_fail(&mut row, ctx, &phone.dir, link) else {
        return row;
    };
    let dest = ctx.work.join("b3-backup");
    let first = phonevault(
        ctx,
        "b3-first-backup",
        &backup_args(&sim.serial, &dest),
        &[],
    );
    if let Some(why) = &first.failure {
        row.fail(&format!("command failed: {why}"));
        return row;
    }
    row.notes.push(format!(
        "first backup of {} items: {:.3} s",
        phone.included().count(),
        first.secs
    ));
    // Listing alone is the least any rerun must ask for; what a rerun sends beyond it was pulled.
    let before = sim.stats();
    let listing = phonevault(
        ctx,
        "b3-ls",
        &os(&["-s", sim.serial.as_str(), "ls", "--json"]),
        &[],
    );
    let listing_sent = if listing.ok() {
        sent_since(&sim, before.as_ref())
    } else {
        None
    };
    let mut rerun = Side::new("command");
    let mut recvs = Vec::new();
    for _ in 0..ctx.plan.runs {
        let before = sim.stats();
        let out = phonevault(ctx, "b3-rerun", &backup_args(&sim.serial, &dest), &[]);
        let after = sim.stats();
        let sent = match (&before, &after) {
            (Some(b), Some(a)) => Some(a.sent.saturating_sub(b.sent)),
            _ => None,
        };
        if out.ok() {
            if let (Some(b), Some(a)) = (&before, &after) {
                if let (Some(rb), Some(ra)) = (recv_requests(&b.raw), recv_requests(&a.raw)) {
                    recvs.push(ra.saturating_sub(rb));
                }
            }
        }
        rerun.record_on(&mut sim, &out, sent);
        if rerun.gave_up() {
            break;
        }
    }
    remove(&dest);
    row.notes.push(rerun.note("phonevault backup, rerun"));
    if let Some(why) = &rerun.failure {
        row.fail(why);
        return row;
    }
    b3_verdict(&mut row, &rerun, listing_sent, recvs.iter().copied().max());
    row
}

/// B3's figure and verdict from the reruns, the listing's cost and the file reads seen.
fn b3_verdict(row: &mut Row, rerun: &Side, listing_sent: Option<u64>, recv: Option<u64>) {
    let time = rerun.time().unwrap_or(f64::NAN);
    let sent = rerun.moved();
    let pulled = match (sent, listing_sent) {
        (Some(s), Some(l)) => Some(s.saturating_sub(l)),
        _ => None,
    };
    let mut figure = format!(
        "{}, handset sent {}",
        secs(time),
        sent.map_or("n/a".into(), bytes)
    );
    match (pulled, recv) {
        (Some(p), _) => {
            let _ = write!(figure, " ({} beyond a listing)", bytes(p));
        }
        (None, Some(r)) => {
            let _ = write!(figure, " ({r} file reads)");
        }
        (None, None) => figure.push_str(" (bytes pulled unknown: `ls` failed)"),
    }
    if let Some(l) = listing_sent {
        row.notes.push(format!(
            "`phonevault ls --json` alone: handset sent {l} bytes"
        ));
    }
    if let Some(r) = recv {
        row.notes
            .push(format!("most file reads (RECV) in a rerun: {r}"));
    }
    row.figure = figure;
    // Whole-file reads show as RECV; reads through `exec` only as bytes beyond a listing (the
    // two listings may differ by a few requests' framing, hence the slack).
    let nothing_pulled = match (pulled, recv) {
        (None, None) => None,
        (p, r) => Some(p.is_none_or(|p| p < 16 * 1024) && r.is_none_or(|r| r == 0)),
    };
    row.met = match nothing_pulled {
        Some(none) => Verdict::from_bool(time <= 3.0 && none),
        None => Verdict::NotAvailable,
    };
}

/// Every `.zip` under `dir`.
fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("zip")) {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

/// B4: `phonevault restore` onto an empty handset against `adb push` of the same files.
pub fn b4(ctx: &Ctx, phone: &Result<Phone, String>, backup: &Path, link: &str) -> Row {
    let mut row = Row::new(
        "B4",
        "restore onto an empty handset",
        link,
        "time ratio <= 1.1",
    );
    row.peer = String::new();
    let Some(phone) = phone_or_fail(&mut row, phone) else {
        return row;
    };
    let mut zips = archives(backup);
    // Why our side cannot run at all, when it cannot.
    let mut blocker = None;
    if zips.is_empty() {
        // B1 did not leave a backup (not asked for, or it failed): make one, untimed.
        match start_sim(ctx, &phone.dir, link) {
            Err(why) => blocker = Some(why),
            Ok(sim) => {
                let out = phonevault(ctx, "b4-backup", &backup_args(&sim.serial, backup), &[]);
                zips = archives(backup);
                if let Some(why) = &out.failure {
                    blocker = Some(format!("no archive to restore: backup failed: {why}"));
                } else if zips.is_empty() {
                    blocker = Some("no archive to restore: backup wrote no .zip".to_owned());
                }
            }
        }
    }
    let stage = ctx.work.join("b4-stage");
    let mut peer = Side::new("adb push");
    if let Err(why) = handset::stage_included(phone, &stage) {
        peer.failure = Some(why);
    }
    let mut pushed: Vec<OsString> = fs::read_dir(&stage)
        .map(|rd| rd.flatten().map(|e| e.path().into_os_string()).collect())
        .unwrap_or_default();
    pushed.sort();
    let target = ctx.work.join("b4-phone");
    let mut ours = Side::new("command");
    ours.failure.clone_from(&blocker);
    for i in 0..ctx.plan.runs {
        for our_turn in order(i) {
            let side = if our_turn { &mut ours } else { &mut peer };
            if side.gave_up() {
                continue;
            }
            if let Err(why) = handset::reset_empty_phone(&target) {
                side.failure = Some(why);
                continue;
            }
            let mut sim = match start_sim(ctx, &target, link) {
                Ok(sim) => sim,
                Err(why) => {
                    side.failure = Some(why);
                    continue;
                }
            };
            let before = sim.stats();
            let out = if our_turn {
                let mut args = os(&["-s", sim.serial.as_str(), "restore"]);
                args.extend(zips.iter().map(|z| z.clone().into_os_string()));
                args.extend(os(&["-q", "--json"]));
                phonevault(ctx, "b4-restore", &args, &[])
            } else {
                let mut args = os(&["-s", sim.serial.as_str(), "push"]);
                args.extend(pushed.iter().cloned());
                args.push("/sdcard/".into());
                adb(&ctx.runner, ctx, "b4-push", &args)
            };
            let moved = received_since(&sim, before.as_ref());
            side.record_on(&mut sim, &out, moved);
        }
    }
    remove(&target);
    remove(&stage);
    row.figure = ours.cell("received");
    row.peer = format!("adb push: {}", peer.cell("received"));
    if let (Some(a), Some(b)) = (ours.time(), peer.time()) {
        let ratio = a / b;
        row.ratio = format!("{ratio:.2}");
        row.met = Verdict::from_bool(ratio <= 1.1);
    } else {
        "n/a".clone_into(&mut row.ratio);
    }
    row.notes.push(format!("archives: {}", zips.len()));
    row.notes.push(ours.note("phonevault restore"));
    row.notes.push(peer.note("adb push"));
    row
}

/// B5: peak memory of a backup of one very large file.
pub fn b5(ctx: &Ctx, phone: &Result<Phone, String>, link: &str) -> Row {
    let mut row = Row::new(
        "B5",
        "backup of one 5 GiB file",
        link,
        "peak memory <= 100 MB",
    );
    let Some(phone) = phone_or_fail(&mut row, phone) else {
        return row;
    };
    row.what = if ctx.plan.quick {
        "backup of one large file (quick: small)"
    } else {
        "backup of one 5 GiB file"
    };
    let Some(mut sim) = sim_or_fail(&mut row, ctx, &phone.dir, link) else {
        return row;
    };
    let mut ours = Side::new("command");
    for i in 0..ctx.plan.runs {
        let dest = ctx.work.join(format!("b5-backup-{i}"));
        let before = sim.stats();
        let out = phonevault(ctx, "b5-backup", &backup_args(&sim.serial, &dest), &[]);
        let moved = sent_since(&sim, before.as_ref());
        ours.record_on(&mut sim, &out, moved);
        remove(&dest);
        if ours.gave_up() {
            break;
        }
    }
    let rss: Vec<String> = ours.rss.iter().map(u64::to_string).collect();
    row.notes.push(ours.note("phonevault backup"));
    row.notes
        .push(format!("peak RSS per run: [{}] bytes", rss.join(", ")));
    if let Some(why) = &ours.failure {
        row.fail(why);
        return row;
    }
    let peak = median_u64(&ours.rss).unwrap_or(0);
    let worst = ours.rss.iter().copied().max().unwrap_or(0);
    row.figure = format!(
        "peak RSS {} (worst run {}), {} for {}",
        bytes(peak),
        bytes(worst),
        ours.time().map_or("n/a".into(), secs),
        bytes(phone.bytes())
    );
    row.met = Verdict::from_bool(peak <= 100_000_000);
    row
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// How many items `phonevault ls --json` printed: a JSON array, an object holding an `items`
/// array, or one JSON object per line.
fn count_items(text: &str) -> usize {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items.len(),
        Ok(Value::Object(map)) => map
            .get("items")
            .and_then(Value::as_array)
            .map_or(1, Vec::len),
        _ => text
            .lines()
            .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object()))
            .count(),
    }
}

/// B6: listing the phone against `find` over the same folders.
pub fn b6(ctx: &Ctx, phone: &Result<Phone, String>, link: &str) -> Row {
    let mut row = Row::new(
        "B6",
        "listing a phone of 20,000 files",
        link,
        "time ratio <= 1.5",
    );
    row.peer = String::new();
    let Some(phone) = phone_or_fail(&mut row, phone) else {
        return row;
    };
    if ctx.plan.quick {
        row.what = "listing a phone (quick: small)";
    }
    let Some(mut sim) = sim_or_fail(&mut row, ctx, &phone.dir, link) else {
        return row;
    };
    let roots: Vec<String> = phone.media_roots().iter().map(|r| shell_quote(r)).collect();
    let find = format!("find {} -type f", roots.join(" "));
    let (mut ours, mut peer) = (Side::new("command"), Side::new("adb shell find"));
    let (mut items, mut lines) = (0, 0);
    for i in 0..ctx.plan.runs {
        for our_turn in order(i) {
            if our_turn && !ours.gave_up() {
                let out = phonevault(
                    ctx,
                    "b6-ls",
                    &os(&["-s", sim.serial.as_str(), "ls", "--json"]),
                    &[],
                );
                ours.record_on(&mut sim, &out, None);
                if out.ok() {
                    items = count_items(&out.stdout_text());
                }
            } else if !our_turn && !peer.gave_up() {
                let out = adb(
                    &ctx.runner,
                    ctx,
                    "b6-find",
                    &os(&["-s", sim.serial.as_str(), "shell", find.as_str()]),
                );
                peer.record_on(&mut sim, &out, None);
                if out.ok() {
                    lines = out.stdout_text().lines().count();
                }
            }
        }
    }
    row.figure = match ours.time() {
        Some(t) => format!("{} ({items} items)", secs(t)),
        None => ours.cell(""),
    };
    row.peer = match peer.time() {
        Some(t) => format!("adb shell find: {} ({lines} files)", secs(t)),
        None => format!("adb shell find: {}", peer.cell("")),
    };
    if let (Some(a), Some(b)) = (ours.time(), peer.time()) {
        let ratio = a / b;
        row.ratio = format!("{ratio:.2}");
        row.met = Verdict::from_bool(ratio <= 1.5);
    } else {
        "n/a".clone_into(&mut row.ratio);
    }
    row.notes.push(ours.note("phonevault ls --json"));
    row.notes.push(peer.note("adb shell find"));
    row.notes.push(format!(
        "files under the media folders: {}",
        phone.files_under_media_roots()
    ));
    row
}

/// P1 (issue 3): small files through the library's `Handset::pull_many_with`, pipelined (the
/// default window and streams) against one request at a time on one stream, the way
/// `adb pull` asks for files. The same phone, link and run; only the pipelining differs.
pub fn p1(ctx: &Ctx, phone: &Result<Phone, String>, link: &str, files: usize) -> Row {
    use phonevault::adb::{ConnectOptions, PullEvent, PullOptions};

    let mut row = Row::new(
        "P1",
        "small files pulled, pipelined vs one at a time",
        link,
        "faster than one at a time",
    );
    let Some(phone) = phone_or_fail(&mut row, phone) else {
        return row;
    };
    let Some(sim) = sim_or_fail(&mut row, ctx, &phone.dir, link) else {
        return row;
    };
    let paths: Vec<String> = phone
        .truth
        .iter()
        .filter(|t| t.include)
        .take(files)
        .map(|t| t.path.clone())
        .collect();
    let port = ctx.adb.as_ref().map(|a| a.port).ok();
    let handset = phonevault::adb::connect(&ConnectOptions {
        adb_program: Some(ctx.adb_program.clone()),
        port,
        timeout: None,
    })
    .and_then(|server| server.open(Some(&sim.serial)));
    let handset = match handset {
        Ok(h) => h,
        Err(e) => {
            row.fail(&e.to_string());
            return row;
        }
    };
    let pipelined = PullOptions::default();
    let one_at_a_time = PullOptions {
        window: 1,
        streams: 1,
    };
    let time = |options: PullOptions| -> Result<(f64, u64), String> {
        let started = std::time::Instant::now();
        let mut moved = 0u64;
        handset
            .pull_many_with(&paths, options, &mut |event| {
                if let PullEvent::Data { bytes, .. } = event {
                    moved += bytes.len() as u64;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        Ok((started.elapsed().as_secs_f64(), moved))
    };
    let (mut ours, mut peer, mut moved) = (Vec::new(), Vec::new(), 0);
    for i in 0..ctx.plan.runs {
        for our_turn in order(i) {
            let options = if our_turn { pipelined } else { one_at_a_time };
            match time(options) {
                Ok((t, m)) => {
                    moved = m;
                    if our_turn { &mut ours } else { &mut peer }.push(t);
                }
                Err(e) => {
                    row.fail(&e);
                    return row;
                }
            }
        }
    }
    let (Some(a), Some(b)) = (median(&ours), median(&peer)) else {
        row.fail("no run finished");
        return row;
    };
    row.figure = format!(
        "{} for {} files ({}), window {} x {} streams",
        secs(a),
        paths.len(),
        bytes(moved),
        pipelined.window,
        pipelined.streams
    );
    row.peer = format!("one request at a time: {}", secs(b));
    row.ratio = format!("{:.2}", a / b);
    row.met = Verdict::from_bool(a < b);
    row.notes.push(format!("pipelined runs: {ours:?} s"));
    row.notes.push(format!("one-at-a-time runs: {peer:?} s"));
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_counted_in_each_json_shape() {
        assert_eq!(count_items(r#"[{"a":1},{"a":2}]"#), 2);
        assert_eq!(count_items(r#"{"items":[{"a":1}],"total":1}"#), 1);
        assert_eq!(count_items("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"), 3);
        assert_eq!(count_items(""), 0);
    }

    #[test]
    fn recv_counts_are_found_in_services() {
        let stats: Value = serde_json::json!({"bytes_sent": 1, "services": {"sync": 2, "shell": 2},
            "sync_requests": {"RECV": 3, "STA2": 9, "RCV2": 1}});
        assert_eq!(recv_requests(&stats), Some(4));
        assert_eq!(
            recv_requests(&serde_json::json!({"services": {"shell": 1}})),
            None
        );
    }

    #[test]
    fn literal_globs_and_placeholder_tiles() {
        assert_eq!(
            literal_glob("/sdcard/a b/x[1]*{2}.jpg"),
            r"/sdcard/a b/x\[1\]\*\{2\}.jpg"
        );
        let sheet = "<figure class=\"tile\" data-thumbnail=\"exif\"><img></figure>\
                     <figure class=\"tile\" data-thumbnail=\"placeholder\">\
                     <div class=\"ph\" data-no-picture=\"no-decoder\"></div></figure>\
                     <figure class=\"tile\" data-thumbnail=\"placeholder\">\
                     <div class=\"ph\" data-no-picture=\"damaged\"></div></figure>";
        assert_eq!(placeholder_tiles(sheet), 1);
    }

    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(
            shell_quote("/sdcard/WhatsApp Business"),
            "'/sdcard/WhatsApp Business'"
        );
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}

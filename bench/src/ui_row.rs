//! B7 (issue 13): from the start of `phonevault ui` to the first screen of real thumbnails
//! painted in Chromium, for a handset of 4,000 Gallery photos and 2,000 WhatsApp images.
//!
//! One run: a browser is started first (headless Debian Chromium under chromedriver, fresh
//! profile, not timed). t0 is the spawn of `phonevault ui --no-open` with a private HOME and
//! XDG folders; as soon as it prints its launch address the browser is sent there, and a
//! script in the page clicks the phone's button when it appears (what a person does first)
//! and checks on every animation frame whether each photo tile inside the first viewport
//! shows a decoded picture (`img.complete && naturalWidth > 0`). t1 is that frame, read from
//! the page's clock (the same wall clock as the host's). Cold: an empty preview cache; warm:
//! `phonevault ui` started again on the same cache, a new process and a fresh browser profile.
//!
//! The peer is what plain adb needs for the same screen: `adb shell find` of the media
//! folders (a listing) plus `adb pull` of the photos that the first screen showed.

// The row drives Chromium with the browser tests' WebDriver client; it uses only part of it.
#[allow(dead_code)]
#[path = "../../tests/ui_common/webdriver.rs"]
mod webdriver;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use serde_json::{json, Value};

use crate::cleanup;
use crate::handset::{self, Phone, PhoneSpec, Sim};
use crate::measure::first_line;
use crate::report::{median, secs, Row, Verdict};
use crate::Ctx;
use webdriver::{missing_browser, try_http, Browser};

/// The issue's phone: Gallery photos and WhatsApp images, nothing else asked for.
const GALLERY_PHOTOS: usize = 4000;
const WHATSAPP_IMAGES: usize = 2000;

/// Targets, in seconds.
const COLD_TARGET: f64 = 2.0;
const WARM_TARGET: f64 = 0.5;

/// The template of the B7 phone. Sizes are kept modest so that populating takes well under a
/// minute: what the first screen costs is the count (the listing, the page) and which photos
/// must be pulled whole (WhatsApp images and camera photos without an EXIF thumbnail), not
/// the bytes of camera photos, of which only the head is read.
fn template(quick: bool) -> PhoneSpec {
    if quick {
        PhoneSpec {
            photos: 30,
            videos: 0,
            whatsapp: 30,
            photo_size: "24K-64K".into(),
            video_size: "128K-256K".into(),
            whatsapp_size: "8K-16K".into(),
            seed: 7,
        }
    } else {
        PhoneSpec {
            photos: 0,
            videos: 0,
            whatsapp: 0,
            photo_size: "128K-256K".into(),
            video_size: "1M-2M".into(),
            whatsapp_size: "100K-300K".into(),
            seed: 7,
        }
    }
}

/// About the disk the row needs at its peak: the phone (its WhatsApp videos are five times
/// its images' size) and the peer's pull of one screen.
pub fn disk_needed(quick: bool) -> u64 {
    if quick {
        64 << 20
    } else {
        3 << 30
    }
}

fn is_photo(t: &handset::Truth) -> bool {
    t.include && t.kind.as_deref() == Some("photo")
}

fn gallery_photos(phone: &Phone) -> usize {
    phone
        .truth
        .iter()
        .filter(|t| is_photo(t) && t.source.as_deref() == Some("gallery"))
        .count()
}

fn whatsapp_images(phone: &Phone) -> usize {
    phone
        .truth
        .iter()
        .filter(|t| {
            is_photo(t)
                && t.source
                    .as_deref()
                    .is_some_and(|s| s.starts_with("whatsapp"))
        })
        .count()
}

/// Makes the B7 phone: `--photos` and `--whatsapp` are found with two small probes each (the
/// generator adds screenshots, album photos and WhatsApp Business images in proportion), so
/// that it holds about 4,000 Gallery photos and 2,000 WhatsApp images.
pub fn make_phone(ctx: &Ctx) -> Result<Phone, String> {
    let template = template(ctx.plan.quick);
    let spec = if ctx.plan.quick {
        template
    } else {
        let photos = handset::calibrate(
            &ctx.sim,
            &ctx.work,
            &template,
            GALLERY_PHOTOS,
            gallery_photos,
        )?
        .photos;
        let whatsapp = handset::calibrate(
            &ctx.sim,
            &ctx.work,
            &template,
            WHATSAPP_IMAGES,
            whatsapp_images,
        )?
        .whatsapp;
        PhoneSpec {
            photos,
            whatsapp,
            ..template
        }
    };
    handset::populate(&ctx.sim, &ctx.work.join("phone-b7"), &spec)
}

/// Milliseconds since the Unix epoch, the unit of the page's clock.
fn epoch_ms(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// A running `phonevault ui`, ended on drop.
struct UiServer {
    child: Child,
    /// Lines of its standard output as they come.
    lines: mpsc::Receiver<String>,
}

impl UiServer {
    /// The launch address, from the first line of its output that carries one.
    fn address(&mut self, deadline: Instant, log: &Path) -> Result<String, String> {
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Some(url) = line.strip_prefix("phonevault ui: ") {
                return Ok(url.trim().to_owned());
            }
        }
        self.stop();
        let said = first_line(&fs::read_to_string(log).unwrap_or_default());
        Err(format!(
            "phonevault ui printed no address{}",
            said.map(|s| format!(": {s}")).unwrap_or_default()
        ))
    }

    fn stop(&mut self) {
        let pid = self.child.id();
        // Ctrl-C first, so it ends as a person would stop it (its preview cache is written as
        // each picture is made, so nothing waits on this); then for sure.
        cleanup::signal_group(pid, Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        cleanup::signal_group(pid, Signal::SIGKILL);
        let _ = self.child.wait();
        cleanup::remove_group(pid);
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one run saw, in seconds after t0 (the spawn of `phonevault ui`).
#[derive(Debug, Clone)]
struct Sample {
    /// t1 - t0: the first screen painted.
    painted: f64,
    /// The launch address read from its standard output.
    address: f64,
    /// The browser started the navigation (`performance.timeOrigin`).
    navigation: Option<f64>,
    /// The page's document and its modules ran (`DOMContentLoaded` ended).
    page_ready: Option<f64>,
    /// `POST /url` returned (the page's load event, seen by the host).
    loaded: f64,
    /// The phone's button first seen in the list (and clicked).
    listed: f64,
    /// The media list received (`/api/phones/SERIAL/media`), from the page's resource timing.
    media: Option<f64>,
    /// The first tile in the grid.
    grid: f64,
    /// How long the page's first layout of the whole grid took (forced by one geometry read
    /// just after the grid was seen), in seconds.
    layout: Option<f64>,
    /// The first thumbnail asked for, and the last one of the first screen received.
    first_thumb: Option<f64>,
    last_thumb: Option<f64>,
    /// Tiles in the first viewport, the photos among them, and those photos without a picture
    /// that could have one (HEIC and DNG, which have no decoder here, not counted).
    tiles: usize,
    photos: usize,
    without_picture: usize,
    /// Phone paths of the photos on the first screen, when asked for.
    paths: Vec<String>,
}

impl Sample {
    fn breakdown(&self) -> String {
        let at = |t: Option<f64>| t.map_or_else(|| "n/a".to_owned(), |t| format!("{t:.3} s"));
        format!(
            "address printed {}, navigation started {}, page ready {}, `POST /url` returned {}, \
             phone listed {}, media list received {}, \
             grid drawn {} (its first layout took {}), first thumbnail asked {}, last first-screen thumbnail received {}, \
             first screen painted {}; {} tiles in view, {} photos, {} without a picture",
            at(Some(self.address)),
            at(self.navigation),
            at(self.page_ready),
            at(Some(self.loaded)),
            at(Some(self.listed)),
            at(self.media),
            at(Some(self.grid)),
            at(self.layout),
            at(self.first_thumb),
            at(self.last_thumb),
            at(Some(self.painted)),
            self.tiles,
            self.photos,
            self.without_picture
        )
    }
}

/// Runs in the page (WebDriver `execute/async`; the last argument is the callback). Clicks
/// the phone's button when it is listed, then checks on every animation frame whether each
/// photo tile in the first viewport shows a decoded picture. Times are the page's wall clock
/// in ms since the epoch (`performance.timeOrigin + performance.now()`).
const FIRST_SCREEN_SCRIPT: &str = r#"
const [serial, limitMs, done] = arguments;
const clock = () => performance.timeOrigin + performance.now();
performance.setResourceTimingBufferSize(100000);
const giveUp = performance.now() + limitMs;
const button = `#phones button[data-serial="${CSS.escape(serial)}"]`;
const noDecoder = /\.(heic|heif|dng)$/i;
const marks = { listed: null, grid: null, layout: null };
const loaded = (t) => { const i = t.querySelector('img'); return Boolean(i && i.complete && i.naturalWidth > 0); };
const failed = (t) => t.dataset.thumb === 'false' && t.querySelector('.kind')?.textContent === 'no preview';
function firstScreen() {
  const shown = [];
  let below = false;
  for (const tile of document.querySelectorAll('#grid .tile')) {
    const r = tile.getBoundingClientRect();
    if (r.top >= innerHeight) { below = true; break; }
    if (r.bottom > 0 && r.right > 0 && r.left < innerWidth) shown.push(tile);
  }
  return { shown, below };
}
function report(extra) {
  const { shown, below } = firstScreen();
  const photos = shown.filter((t) => t.dataset.thumb === 'true' || failed(t));
  const ids = photos.map((t) => t.dataset.id);
  const resources = performance.getEntriesByType('resource');
  const media = resources.find((e) => /\/api\/phones\/[^/]+\/media/.test(e.name));
  const thumbs = resources.filter((e) => e.name.includes('/thumb/'));
  const onScreen = thumbs.filter((e) => ids.some((id) => e.name.endsWith(`/thumb/${id}`)));
  const at = (ms) => performance.timeOrigin + ms;
  const nav = performance.getEntriesByType('navigation')[0];
  return Object.assign({
    navigation: performance.timeOrigin,
    page_ready: nav && nav.domContentLoadedEventEnd ? at(nav.domContentLoadedEventEnd) : null,
    listed: marks.listed, grid: marks.grid, layout_ms: marks.layout,
    media: media ? at(media.responseEnd) : null,
    first_thumb: thumbs.length ? at(Math.min(...thumbs.map((e) => e.startTime))) : null,
    last_thumb: onScreen.length ? at(Math.max(...onScreen.map((e) => e.responseEnd))) : null,
    tiles: shown.length, photos: photos.length, ids, screenful: below,
    waiting: photos.filter((t) => !loaded(t) && !failed(t)).length,
    without_picture: photos.filter((t) => failed(t)
      && !noDecoder.test(t.querySelector('.name')?.textContent || '')).length,
  }, extra);
}
function step() {
  try {
    if (!marks.listed) {
      const b = document.querySelector(button);
      if (b) { marks.listed = clock(); b.click(); }
    } else if (!marks.grid && document.querySelector('#grid .tile')) {
      marks.grid = clock();
      // The first geometry read lays the whole grid out: how long that takes, alone.
      const before = clock();
      document.querySelector('#grid .tile').getBoundingClientRect();
      marks.layout = clock() - before;
    }
    if (marks.grid) {
      const now = report({});
      if (now.photos > 0 && now.waiting === 0) { done(Object.assign(now, { painted: clock() })); return; }
    }
    if (performance.now() > giveUp) {
      done(report({ timeout: true, status: document.getElementById('media-status')?.textContent || '' }));
      return;
    }
    requestAnimationFrame(step);
  } catch (e) {
    done({ error: String(e) });
  }
}
step();
"#;

/// Starts `phonevault ui --no-open` on `home` (its HOME and XDG folders, the preview cache
/// among them); returns it and t0, the moment just before the spawn.
fn start_ui(ctx: &Ctx, home: &Path, log: &Path) -> Result<(UiServer, SystemTime), String> {
    let port = ctx.adb.as_ref().map_err(Clone::clone)?.port;
    let stderr = File::create(log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let mut command = Command::new(&ctx.phonevault);
    command
        .args(["ui", "--no-open"])
        .env("ANDROID_ADB_SERVER_PORT", port.to_string())
        .env_remove("ANDROID_SERIAL")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .process_group(0);
    let t0 = SystemTime::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", ctx.phonevault.display()))?;
    cleanup::add_group(child.id());
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((UiServer { child, lines }, t0))
}

fn number(value: &Value, key: &str) -> Option<f64> {
    value.get(key).and_then(Value::as_f64)
}

fn count(value: &Value, key: &str) -> usize {
    value
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

/// Why the page script's answer is not a painted first screen, if it is not.
fn check_page_result(result: &Value, limit: Duration) -> Result<(), String> {
    if let Some(error) = result.get("error").and_then(Value::as_str) {
        return Err(format!("the page script failed: {error}"));
    }
    if result.get("timeout").is_some() {
        let status = result
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let stage = if number(result, "listed").is_none() {
            "the phone was never listed".to_owned()
        } else if number(result, "grid").is_none() {
            format!("the grid never appeared (page says: {status:?})")
        } else {
            format!(
                "{} of {} photos on the first screen still without a picture",
                count(result, "waiting"),
                count(result, "photos")
            )
        };
        return Err(format!(
            "no first screen within {} s: {stage}",
            limit.as_secs()
        ));
    }
    if result.get("screenful") != Some(&Value::Bool(true)) {
        return Err("the grid is shorter than one screen: the phone is too small".to_owned());
    }
    Ok(())
}

/// The phone paths of the photos the page reported on its first screen, read from the server
/// at the launch address `url` (still running).
fn screen_paths(url: &str, serial: &str, result: &Value) -> Result<Vec<String>, String> {
    let token = url.split_once("token=").map_or("", |(_, t)| t);
    let port = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("not a loopback address: {url}"))?;
    let by_id = paths_by_id(port, token, serial)?;
    result
        .get("ids")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|id| {
            id.as_str()
                .and_then(|id| by_id.get(id))
                .cloned()
                .ok_or_else(|| format!("the media list has no item {id}"))
        })
        .collect()
}

/// One timed run on `home`: `phonevault ui` started, the page opened in `browser`, the first
/// screen painted. With `want_paths`, the phone paths of the first screen's photos are read
/// from the server afterwards (not timed).
fn first_screen(
    ctx: &Ctx,
    browser: &Browser,
    serial: &str,
    home: &Path,
    label: &str,
    want_paths: bool,
) -> Result<Sample, String> {
    let limit = if ctx.plan.quick {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(120)
    };
    let log = ctx.logs.join(format!("{label}.ui.log"));
    let (mut ui, t0) = start_ui(ctx, home, &log)?;
    let since = |ms: f64| (ms - epoch_ms(t0)) / 1000.0;
    let after = |at: SystemTime| at.duration_since(t0).map_or(0.0, |d| d.as_secs_f64());
    let deadline = Instant::now() + limit;
    let url = ui.address(deadline, &log)?;
    let address = after(SystemTime::now());
    browser
        .try_cmd("POST", "/url", Some(&json!({ "url": url })))
        .map_err(|e| format!("the browser did not open the page: {e}"))?;
    let loaded = after(SystemTime::now());
    let remaining = deadline.saturating_duration_since(Instant::now());
    let limit_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
    let result = browser
        .try_exec_async(
            FIRST_SCREEN_SCRIPT,
            &[json!(serial), json!(limit_ms)],
            remaining + Duration::from_secs(10),
        )
        .map_err(|e| format!("the page script failed: {e}"))?;
    browser.screenshot(label);
    check_page_result(&result, limit)?;
    let paths = if want_paths {
        screen_paths(&url, serial, &result)?
    } else {
        Vec::new()
    };
    drop(ui);
    let mark = |key: &str| number(&result, key).map(since);
    Ok(Sample {
        painted: mark("painted").unwrap_or(f64::NAN),
        address,
        navigation: mark("navigation"),
        page_ready: mark("page_ready"),
        loaded,
        listed: mark("listed").unwrap_or(f64::NAN),
        media: mark("media"),
        grid: mark("grid").unwrap_or(f64::NAN),
        layout: number(&result, "layout_ms").map(|ms| ms / 1000.0),
        first_thumb: mark("first_thumb"),
        last_thumb: mark("last_thumb"),
        tiles: count(&result, "tiles"),
        photos: count(&result, "photos"),
        without_picture: count(&result, "without_picture"),
        paths,
    })
}

/// The phone paths of the media list's items, by id, as the running server reports them.
fn paths_by_id(port: u16, token: &str, serial: &str) -> Result<HashMap<String, String>, String> {
    let bearer = format!("Bearer {token}");
    let path = format!("/api/phones/{serial}/media");
    let reply = try_http(port, "GET", &path, &[("Authorization", &bearer)], None)?;
    if reply.status != 200 {
        return Err(format!(
            "GET {path}: {} {}",
            reply.status,
            first_line(&reply.text()).unwrap_or_default()
        ));
    }
    let media = reply.try_json()?;
    Ok(media["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some((i["id"].as_str()?.to_owned(), i["path"].as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The samples of one side (cold, warm or a peer command) and why it stopped, if it did.
#[derive(Debug, Default)]
struct Times {
    runs: Vec<f64>,
    failure: Option<String>,
    /// Runs left out because the simulated handset failed under them.
    excused: Vec<String>,
}

impl Times {
    fn median(&self) -> Option<f64> {
        if self.failure.is_some() {
            None
        } else {
            median(&self.runs)
        }
    }

    fn cell(&self) -> String {
        match (&self.failure, self.median()) {
            (Some(why), _) => format!("n/a ({why})"),
            (None, Some(t)) => secs(t),
            (None, None) => match self.excused.last() {
                Some(why) => format!("n/a (every run lost to a failing handset: {why})"),
                None => "n/a (not run)".to_owned(),
            },
        }
    }

    fn note(&self, name: &str) -> String {
        let runs: Vec<String> = self.runs.iter().map(|t| format!("{t:.3}")).collect();
        let mut note = format!("{name}: times [{}] s", runs.join(", "));
        if let Some(f) = &self.failure {
            let _ = write!(note, "; {f}");
        }
        for e in &self.excused {
            let _ = write!(note, "; a run left out: {e}");
        }
        note
    }

    /// Records a failed run: left out when the handset had to be started again (it failed,
    /// not us), else the side stops with the reason.
    fn failed(&mut self, sim: &mut Sim, why: String) {
        match sim.revive() {
            Ok(Some(lost)) => self.excused.push(format!("{why} ({lost}; restarted it)")),
            Ok(None) => self.failure = Some(why),
            Err(err) => {
                self.failure = Some(format!("{why} (the handset could not be restarted: {err})"));
            }
        }
    }
}

/// Runs `adb ARGS` through the measuring wrapper; its time, or why it failed.
fn adb_time(ctx: &Ctx, label: &str, args: &[OsString]) -> Result<f64, String> {
    let out = ctx.runner.run(label, &ctx.adb_program, args, &[]);
    match out.failure {
        None => Ok(out.secs),
        Some(why) => Err(why),
    }
}

/// The row: per run, a cold and a warm first screen, then the peer.
pub fn b7(ctx: &Ctx, phone: &Result<Phone, String>, link: &str) -> Row {
    let what = if ctx.plan.quick {
        "phonevault ui to the first screen of thumbnails (quick: small phone)"
    } else {
        "phonevault ui to the first screen of thumbnails (4,000 photos, 2,000 WhatsApp images)"
    };
    let mut row = Row::new(
        "B7",
        what,
        link,
        &format!("cold <= {COLD_TARGET} s, warm <= {WARM_TARGET} s"),
    );
    let fail = |row: &mut Row, why: &str| {
        row.fail(why);
        row.peer = format!("n/a ({why})");
    };
    let phone = match phone {
        Ok(p) => p,
        Err(why) => {
            fail(&mut row, why);
            return row;
        }
    };
    if let Some(missing) = missing_browser() {
        fail(
            &mut row,
            &format!(
                "{missing}; apt-get install chromium chromium-driver, or run scripts/test.sh once"
            ),
        );
        return row;
    }
    let adb = match &ctx.adb {
        Ok(adb) => adb,
        Err(why) => {
            fail(&mut row, why);
            return row;
        }
    };
    let sim = match Sim::start(adb, &ctx.sim, &phone.dir, link, &ctx.logs) {
        Ok(sim) => sim,
        Err(why) => {
            fail(&mut row, &why);
            return row;
        }
    };
    row.notes.push(format!(
        "the phone: {} Gallery photos, {} WhatsApp images, {} catalogued items",
        gallery_photos(phone),
        whatsapp_images(phone),
        phone.included().count()
    ));
    let roots: Vec<String> = phone.media_roots().iter().map(|r| shell_quote(r)).collect();
    let mut runs = Runs {
        ctx,
        sim,
        find: format!("find {} -type f", roots.join(" ")),
        cold: Times::default(),
        warm: Times::default(),
        find_times: Times::default(),
        pull_times: Times::default(),
        samples: Vec::new(),
        screen: Vec::new(),
    };
    for i in 0..ctx.plan.runs {
        runs.first_screens(i);
        runs.peer(i);
    }
    let Runs {
        cold,
        warm,
        find_times,
        pull_times,
        samples,
        screen,
        ..
    } = runs;
    verdict(
        &mut row,
        [&cold, &warm],
        [&find_times, &pull_times],
        &samples,
        screen.len(),
    );
    row.notes.push(cold.note("cold (empty preview cache)"));
    row.notes
        .push(warm.note("warm (the same cache, a new process and browser profile)"));
    row.notes
        .push(find_times.note("peer: adb shell find of the media folders"));
    row.notes.push(pull_times.note(&format!(
        "peer: adb pull of the {} photos of the first screen",
        screen.len()
    )));
    for (name, sample) in &samples {
        row.notes.push(format!("{name}: {}", sample.breakdown()));
    }
    row
}

/// The row's measurements as they are taken.
struct Runs<'a> {
    ctx: &'a Ctx,
    sim: Sim<'a>,
    /// The peer's listing command.
    find: String,
    cold: Times,
    warm: Times,
    find_times: Times,
    pull_times: Times,
    samples: Vec<(String, Sample)>,
    /// The first screen's photos, from the first cold run that painted it: what the peer
    /// pulls.
    screen: Vec<String>,
}

impl Runs<'_> {
    /// Run `i`'s cold first screen (a fresh HOME, so an empty preview cache), then its warm
    /// one on the same HOME when the cold one finished.
    fn first_screens(&mut self, i: usize) {
        let home = self.ctx.work.join(format!("b7-home-{i}"));
        let _ = fs::remove_dir_all(&home);
        let mut cache_filled = false;
        for temperature in ["cold", "warm"] {
            let is_warm = temperature == "warm";
            if is_warm && !cache_filled {
                continue;
            }
            let times = if is_warm {
                &mut self.warm
            } else {
                &mut self.cold
            };
            if times.failure.is_some() {
                continue;
            }
            if let Err(e) = fs::create_dir_all(&home) {
                times.failure = Some(format!("cannot make {}: {e}", home.display()));
                continue;
            }
            let browser = match Browser::launch(&self.ctx.logs) {
                Ok(b) => b,
                Err(why) => {
                    times.failure = Some(why);
                    continue;
                }
            };
            let label = format!("b7-{temperature}-{i}");
            let want_paths = self.screen.is_empty();
            let run = first_screen(
                self.ctx,
                &browser,
                &self.sim.serial,
                &home,
                &label,
                want_paths,
            );
            match run {
                Ok(sample) => {
                    cache_filled = true;
                    times.runs.push(sample.painted);
                    if want_paths {
                        self.screen.clone_from(&sample.paths);
                    }
                    self.samples
                        .push((format!("{temperature} run {}", i + 1), sample));
                }
                Err(why) => times.failed(&mut self.sim, why),
            }
        }
        let _ = fs::remove_dir_all(&home);
    }

    /// Run `i` of the peer: the listing, then a pull of the first screen's photos.
    fn peer(&mut self, i: usize) {
        if self.screen.is_empty()
            || self.find_times.failure.is_some()
            || self.pull_times.failure.is_some()
        {
            return;
        }
        let serial = self.sim.serial.clone();
        let find = os(&["-s", &serial, "shell", &self.find]);
        match adb_time(self.ctx, "b7-find", &find) {
            Ok(t) => self.find_times.runs.push(t),
            Err(why) => self
                .find_times
                .failed(&mut self.sim, format!("adb shell find failed: {why}")),
        }
        let dest = self.ctx.work.join(format!("b7-pull-{i}"));
        let _ = fs::create_dir_all(&dest);
        let mut pull = os(&["-s", &serial, "pull"]);
        pull.extend(self.screen.iter().map(OsString::from));
        pull.push(dest.clone().into_os_string());
        match adb_time(self.ctx, "b7-pull", &pull) {
            Ok(t) => self.pull_times.runs.push(t),
            Err(why) => self
                .pull_times
                .failed(&mut self.sim, format!("adb pull failed: {why}")),
        }
        let _ = fs::remove_dir_all(&dest);
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// The figure, peer, ratio and verdict from the cold and warm times, the peer's two commands
/// and every sample.
fn verdict(
    row: &mut Row,
    [cold, warm]: [&Times; 2],
    [find, pull]: [&Times; 2],
    samples: &[(String, Sample)],
    screen: usize,
) {
    let without = samples.iter().map(|(_, s)| s.without_picture).max();
    let photos = samples.iter().map(|(_, s)| s.photos).max().unwrap_or(0);
    row.figure = match (cold.median(), warm.median()) {
        (None, _) => cold.cell(),
        (Some(_), None) => format!("cold {}; warm {}", cold.cell(), warm.cell()),
        (Some(c), Some(w)) => format!(
            "cold {}, warm {}; {photos} photos on the first screen, {} without a picture",
            secs(c),
            secs(w),
            without.unwrap_or(0)
        ),
    };
    let peer = match (find.median(), pull.median()) {
        (Some(f), Some(p)) => Some(f + p),
        _ => None,
    };
    row.peer = match (peer, find.median()) {
        (Some(total), Some(f)) => format!(
            "adb shell find + adb pull of the {screen} first-screen photos: {} ({} + {})",
            secs(total),
            secs(f),
            secs(total - f)
        ),
        _ if find.failure.is_some() => format!("adb shell find: {}", find.cell()),
        _ if pull.failure.is_some() => format!("adb pull: {}", pull.cell()),
        _ => "n/a (no first screen to compare with)".to_owned(),
    };
    if let (Some(c), Some(w)) = (cold.median(), warm.median()) {
        row.ratio = peer.filter(|p| *p > 0.0).map_or_else(
            || "n/a".to_owned(),
            |p| format!("cold {:.1}x, warm {:.1}x the peer", c / p, w / p),
        );
        // Every photo of the first screen must show a picture, in every run.
        row.met = Verdict::from_bool(c <= COLD_TARGET && w <= WARM_TARGET && without == Some(0));
    } else {
        "n/a".clone_into(&mut row.ratio);
        row.met = Verdict::NotAvailable;
    }
}

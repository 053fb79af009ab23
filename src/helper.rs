//! The on-device helper (`android-helper/phonevault-helper.sh`): pushed to the phone, run with
//! its shell, and its output parsed here. The wire format is written down in
//! `android-helper/README.md`.
//!
//! Why a script: listing a phone folder by folder over sync costs one round trip per folder;
//! the helper lists every tree in one shell call with `find`, and reads file heads and hashes
//! in one call for many files.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use crate::adb::Handset;
use crate::escape::{phone_path_bytes, phone_path_text};
pub use crate::phone_shell::shell_quote;
use crate::phone_shell::{budget_batches, COMMAND_BUDGET};
use crate::{Error, Result};

/// The script, as pushed to the phone.
pub const SCRIPT: &str = include_str!("../android-helper/phonevault-helper.sh");
/// Its version; the phone's copy is replaced when it says another one.
pub const VERSION: &str = include_str!("../android-helper/VERSION").trim_ascii();
/// Where the script lives on the phone.
pub const DEVICE_PATH: &str = "/data/local/tmp/phonevault-helper.sh";
/// A root that makes `list` take the DCIM, Pictures and Movies folders of every SD card.
pub const SD_CARDS: &str = "@sdcards";
/// The folders of each SD card that [`SD_CARDS`] stands for, as the script lists them (the
/// catalog checks they are the Gallery's folders).
pub const SD_CARD_FOLDERS: &[&str] = &["DCIM", "Pictures", "Movies"];

/// Exit status of the helper when its version is not the one asked for.
const STATUS_OTHER_VERSION: i32 = 97;
/// Exit status of the wrapper command when the script is not on the phone.
const STATUS_MISSING: i32 = 98;

/// One regular file from a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    /// In display form (`escape::phone_path_text`): one-to-one with the name's bytes.
    pub path: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub mtime: i64,
}

/// What a listing found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub files: Vec<ListedFile>,
    /// Folders that could not be read.
    pub unreadable: Vec<String>,
    /// Symbolic links under the roots: named, never followed (a link may loop or point out
    /// of the storage, and what it points to is not the phone's media).
    pub links: Vec<String>,
    /// SD card roots (`/storage/XXXX-XXXX`).
    pub sd_cards: Vec<String>,
    /// Messages the phone printed while listing (e.g. `find` errors).
    pub messages: Vec<String>,
    /// Records in the helper's output.
    pub records: usize,
    /// Folders read one by one (sync walk only).
    pub folders_walked: usize,
}

/// The result of [`list`].
#[derive(Debug, Clone)]
pub struct ListRun {
    pub listing: Listing,
    /// Whether the helper had to be pushed first.
    pub pushed: bool,
}

fn helper_command(args: &str) -> String {
    // The version line is checked before the script runs, so a damaged or foreign file at
    // the helper's path is replaced instead of being trusted.
    format!(
        "H={DEVICE_PATH}; [ -f \"$H\" ] || exit {STATUS_MISSING}; \
         grep -qx 'PVH_VERSION={VERSION}' \"$H\" || exit {STATUS_OTHER_VERSION}; \
         exec sh \"$H\" --expect {VERSION} {args}"
    )
}

fn push_helper(handset: &Handset) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    handset.push(&mut SCRIPT.as_bytes(), DEVICE_PATH, 0o755, now)
}

/// Runs a helper command with shell v2, pushing the helper first when the phone's copy is
/// missing or another version. Returns the output and whether a push happened.
fn run_shell(handset: &Handset, args: &str) -> Result<(crate::adb::ShellOutput, bool)> {
    let command = helper_command(args);
    let mut pushed = false;
    loop {
        let out = handset.shell(&command)?;
        if !pushed && matches!(out.status, STATUS_OTHER_VERSION | STATUS_MISSING) {
            push_helper(handset)?;
            pushed = true;
            continue;
        }
        if out.status != 0 {
            return Err(handset.shell_failed(&command, &out));
        }
        return Ok((out, pushed));
    }
}

/// Makes sure the phone has this version of the helper (one shell call; a push when needed).
/// Returns whether it was pushed.
///
/// # Errors
/// Transport errors; `Shell` when the helper cannot run.
pub fn ensure(handset: &Handset) -> Result<bool> {
    let (out, pushed) = run_shell(handset, "version")?;
    if out.stdout.trim_ascii() != VERSION.as_bytes() {
        return Err(Error::HelperOutput {
            serial: handset.serial().to_string(),
            detail: format!(
                "`version` printed {:?}",
                String::from_utf8_lossy(&out.stdout)
            ),
        });
    }
    Ok(pushed)
}

/// Lists every tree under `roots` in one helper call (roots that do not exist are skipped;
/// [`SD_CARDS`] stands for the SD cards' media folders).
///
/// # Errors
/// Transport errors; `Shell` when the helper fails; `HelperOutput` when its output is cut
/// short or malformed.
pub fn list(handset: &Handset, roots: &[String]) -> Result<ListRun> {
    let args: Vec<String> = roots.iter().map(|r| shell_quote(r)).collect();
    let (out, pushed) = run_shell(handset, &format!("list {}", args.join(" ")))
        .map_err(|e| after_cancel(handset, None, e))?;
    let listing = parse_list(handset.serial(), &out.stdout)?;
    Ok(ListRun { listing, pushed })
}

/// Parses the output of `list`: records `TYPE SIZE MTIME PATH` each ended by NUL, the last
/// one `z 0 0 end`.
///
/// # Errors
/// `HelperOutput` when a record is malformed or the end record is missing (output cut short).
pub fn parse_list(serial: &str, output: &[u8]) -> Result<Listing> {
    let bad = |detail: String| Error::HelperOutput {
        serial: serial.to_string(),
        detail,
    };
    let mut listing = Listing::default();
    let mut ended = false;
    let mut records = output.split(|&b| b == 0).peekable();
    while let Some(record) = records.next() {
        if records.peek().is_none() {
            if !record.is_empty() {
                return Err(bad(format!(
                    "listing ends inside a record: {:?}",
                    String::from_utf8_lossy(record)
                )));
            }
            break;
        }
        if ended {
            return Err(bad("records after the end record".into()));
        }
        listing.records += 1;
        let mut fields = record.splitn(4, |&b| b == b' ');
        let (Some(kind), Some(size), Some(mtime), Some(path)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad(format!(
                "malformed record {:?}",
                String::from_utf8_lossy(record)
            )));
        };
        // The display form keeps every byte: a name that is not UTF-8 stays the name of its
        // own file (a lossy conversion would merge it with another, or lose it).
        let path = phone_path_text(path).into_owned();
        match kind {
            b"f" => {
                let size = std::str::from_utf8(size)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| bad(format!("bad size in record for {path}")))?;
                // find -printf %T@ prints fractions of a second; the catalog keeps seconds.
                let mtime = std::str::from_utf8(mtime)
                    .ok()
                    .map(|s| s.split('.').next().unwrap_or(s))
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| bad(format!("bad mtime in record for {path}")))?;
                listing.files.push(ListedFile { path, size, mtime });
            }
            b"u" => listing.unreadable.push(path),
            b"l" => listing.links.push(path),
            b"s" => listing.sd_cards.push(path),
            b"e" => listing.messages.push(path),
            b"z" => ended = true,
            _ => {
                return Err(bad(format!(
                    "unknown record type {:?}",
                    String::from_utf8_lossy(kind)
                )))
            }
        }
    }
    if !ended {
        return Err(bad("listing cut short (no end record)".into()));
    }
    Ok(listing)
}

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// Lists the same trees as [`list`] folder by folder over sync (LIS2): the way when the helper
/// cannot run.
///
/// # Errors
/// Transport errors; an unreadable folder is recorded, not an error.
pub fn walk(handset: &Handset, roots: &[String]) -> Result<Listing> {
    let mut listing = Listing::default();
    for root in roots {
        if root == SD_CARDS {
            let Ok(entries) = handset.list("/storage") else {
                continue;
            };
            for entry in entries {
                if is_sd_card_name(&entry.name) && entry.stat.mode & S_IFMT == S_IFDIR {
                    let card = format!("/storage/{}", entry.name);
                    for sub in SD_CARD_FOLDERS {
                        walk_root(handset, &format!("{card}/{sub}"), &mut listing)?;
                    }
                    listing.sd_cards.push(card);
                }
            }
        } else {
            walk_root(handset, root, &mut listing)?;
        }
    }
    Ok(listing)
}

/// `XXXX-XXXX` in upper-case hex: how Android names an SD card's volume.
pub fn is_sd_card_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 9
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit() || (b'A'..=b'F').contains(c))
}

/// Whether `root` is a symbolic link, from its parent's listing; `false` when the parent
/// cannot be listed (the root's own stat then decides).
fn root_is_link(handset: &Handset, root: &str) -> Result<bool> {
    let Some((parent, name)) = root.rsplit_once('/') else {
        return Ok(false);
    };
    let parent = if parent.is_empty() { "/" } else { parent };
    match handset.list(parent) {
        Ok(entries) => Ok(entries
            .iter()
            .any(|e| e.name == name && e.stat.mode & S_IFMT == S_IFLNK)),
        Err(Error::Remote { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

fn walk_root(handset: &Handset, root: &str, listing: &mut Listing) -> Result<()> {
    // STA2 follows links, so a root that is one (a media folder linked out of the storage)
    // shows in its parent's listing (whose entries are lstat'ed): named, as the helper
    // names it, and not walked.
    if root_is_link(handset, root)? {
        listing.links.push(root.to_string());
        return Ok(());
    }
    match handset.stat(root)? {
        Some(stat) if stat.mode & S_IFMT == S_IFDIR => {}
        _ => return Ok(()),
    }
    let mut pending = vec![root.to_string()];
    while let Some(dir) = pending.pop() {
        handset.cancel_token().check()?;
        listing.folders_walked += 1;
        let entries = match handset.list(&dir) {
            Ok(entries) => entries,
            Err(Error::Remote { .. }) => {
                listing.unreadable.push(dir);
                continue;
            }
            Err(err) => return Err(err),
        };
        for entry in entries {
            let path = format!("{dir}/{}", entry.name);
            match entry.stat.mode & S_IFMT {
                S_IFDIR => pending.push(path),
                S_IFREG => listing.files.push(ListedFile {
                    path,
                    size: entry.stat.size,
                    mtime: entry.stat.mtime,
                }),
                S_IFLNK => listing.links.push(path),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Receives each file's index, status and first bytes from [`heads`].
pub type HeadSink<'a> = dyn FnMut(usize, FileStatus, &[u8]) -> Result<()> + 'a;

/// How the helper found a file it was asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Ok,
    Missing,
    Denied,
    Directory,
    Error,
}

impl FileStatus {
    fn parse(word: &[u8]) -> Option<FileStatus> {
        Some(match word {
            b"ok" => FileStatus::Ok,
            b"missing" => FileStatus::Missing,
            b"denied" => FileStatus::Denied,
            b"directory" => FileStatus::Directory,
            b"error" => FileStatus::Error,
            _ => return None,
        })
    }
}

/// The paths as the helper reads them: each followed by NUL.
fn path_list(paths: &[String]) -> Vec<u8> {
    let mut list = Vec::new();
    for p in paths {
        list.extend_from_slice(&phone_path_bytes(p));
        list.push(0);
    }
    list
}

/// A name of its own for each helper run's path list: jobs side by side, in one process or
/// several, never share (or remove) one another's list.
fn new_list_path() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "/data/local/tmp/phonevault-helper.paths.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// `Cancelled` in place of `err` when the handset's token tripped, after removing what the
/// helper run cut short left on the phone (the phone kills it when its stream closes, before
/// it tidies up): the run's path list (`list`), and error logs of `list` whose writer no longer
/// runs (named after the phone process; a live job's log stays). Best effort, briefly.
fn after_cancel(handset: &Handset, list: Option<&str>, err: Error) -> Error {
    if !handset.cancel_token().is_cancelled() {
        return err;
    }
    let dir = DEVICE_PATH.rsplit_once('/').map_or("/", |(dir, _)| dir);
    // The phone may take a moment to end the killed run: wait up to half a second for it.
    let command = format!(
        "cd {dir} 2>/dev/null || exit 0; {remove_list}\
         for f in .phonevault-helper.err.*; do [ -e \"$f\" ] || continue; p=${{f##*.}}; n=0; \
         while kill -0 \"$p\" 2>/dev/null && [ $n -lt 5 ]; do sleep 0.1; n=$((n + 1)); done; \
         kill -0 \"$p\" 2>/dev/null || rm -f -- \"$f\"; done",
        dir = shell_quote(dir),
        remove_list = list.map_or_else(String::new, |l| format!("rm -f -- {}; ", shell_quote(l))),
    );
    let _ = handset.finishing().shell(&command);
    Error::Cancelled
}

/// Pushes the path list next to the helper and runs `CMD LISTFILE` with exec (binary-safe).
fn run_with_list(
    handset: &Handset,
    command: &str,
    paths: &[String],
    list_path: &str,
) -> Result<crate::adb::ExecStream> {
    ensure(handset)?;
    handset.push(&mut path_list(paths).as_slice(), list_path, 0o600, 0)?;
    handset.exec(&format!(
        "sh {DEVICE_PATH} --expect {VERSION} {command} {list}; rm -f {list}",
        list = shell_quote(list_path)
    ))
}

/// Reads the first `n` bytes of each path in one helper call; `sink` gets each path's index,
/// status and bytes (empty unless `Ok`) in order.
///
/// # Errors
/// Transport errors; `HelperOutput` when the stream is malformed or cut short; errors from
/// `sink`.
pub fn heads(handset: &Handset, paths: &[String], n: u64, sink: &mut HeadSink<'_>) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    // A file that changes or goes away while it is read spoils the batch; a second try
    // almost always finds the phone settled.
    let list = new_list_path();
    let stream = run_with_list(handset, &format!("heads {n}"), paths, &list)
        .map_err(|e| after_cancel(handset, Some(&list), e))?;
    match read_heads(handset.serial(), stream, paths.len(), n, sink) {
        // A stream cut by a cancel looks malformed: no second try then.
        Err(err) if handset.cancel_token().is_cancelled() => {
            Err(after_cancel(handset, Some(&list), err))
        }
        Err(Error::HelperOutput { .. }) => {
            let stream = run_with_list(handset, &format!("heads {n}"), paths, &new_list_path())?;
            read_heads(handset.serial(), stream, paths.len(), n, sink)
        }
        other => other,
    }
}

/// Splits the `heads` stream: a line `STATUS LENGTH` per path; then the first bytes of every
/// `ok` path, in order, LENGTH each; then `end ok`. The sink is called only once the whole
/// stream checked out, so bytes from a file that changed while it was read never reach it.
///
/// # Errors
/// `HelperOutput` when the stream is malformed, cut short, or ends with `end changed` (a file
/// changed size while it was read: ask again).
pub fn read_heads(
    serial: &str,
    stream: impl Read,
    count: usize,
    limit: u64,
    sink: &mut HeadSink<'_>,
) -> Result<()> {
    let bad = |detail: String| Error::HelperOutput {
        serial: serial.to_string(),
        detail,
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut frames = Vec::with_capacity(count);
    for index in 0..count {
        line.clear();
        reader
            .read_until(b'\n', &mut line)
            .map_err(|e| bad(format!("reading heads: {e}")))?;
        let (status, len) = parse_status_line(&line).ok_or_else(|| {
            bad(format!(
                "bad heads line {index}: {:?}",
                String::from_utf8_lossy(&line)
            ))
        })?;
        let len: u64 = std::str::from_utf8(len)
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l <= limit && (l == 0 || status == FileStatus::Ok))
            .ok_or_else(|| bad(format!("bad length in heads line {index}")))?;
        frames.push((status, len));
    }
    let mut heads = Vec::with_capacity(count);
    for (index, &(status, len)) in frames.iter().enumerate() {
        let mut bytes = Vec::new();
        let got = (&mut reader)
            .take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("reading heads: {e}")))?;
        if got as u64 != len {
            return Err(bad(format!("heads stream cut short in file {index}")));
        }
        heads.push((status, bytes));
    }
    line.clear();
    reader
        .read_until(b'\n', &mut line)
        .map_err(|e| bad(format!("reading heads: {e}")))?;
    match line.as_slice() {
        b"end ok\n" => {}
        b"end changed\n" => {
            return Err(bad(
                "a file changed while its first bytes were read; try again".to_string(),
            ))
        }
        other => {
            return Err(bad(format!(
                "heads stream does not end where expected: {:?}",
                String::from_utf8_lossy(&other[..other.len().min(40)])
            )))
        }
    }
    for (index, (status, bytes)) in heads.iter().enumerate() {
        sink(index, *status, bytes)?;
    }
    Ok(())
}

fn parse_status_line(line: &[u8]) -> Option<(FileStatus, &[u8])> {
    let line = line.strip_suffix(b"\n")?;
    let (status, rest) = line.split_at(line.iter().position(|&b| b == b' ')?);
    Some((FileStatus::parse(status)?, &rest[1..]))
}

/// SHA-256 of one file on the phone, when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHash {
    pub status: FileStatus,
    /// Lower-case hex; empty unless `status` is `Ok`.
    pub sha256: String,
}

/// Hashes each path on the phone in one helper call, in order.
///
/// # Errors
/// Transport errors; `HelperOutput` when the output is malformed.
pub fn hash(handset: &Handset, paths: &[String]) -> Result<Vec<RemoteHash>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let list = new_list_path();
    let mut stream = run_with_list(handset, "hash", paths, &list)
        .map_err(|e| after_cancel(handset, Some(&list), e))?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).map_err(|e| {
        after_cancel(
            handset,
            Some(&list),
            Error::HelperOutput {
                serial: handset.serial().to_string(),
                detail: format!("reading hashes: {e}"),
            },
        )
    })?;
    // A cancel cuts the output short, which would read as malformed.
    parse_hash(handset.serial(), &out, paths.len())
        .map_err(|e| after_cancel(handset, Some(&list), e))
}

/// Like [`hash`], but the paths travel in the command line instead of a pushed list file,
/// in as many calls as the command length allows: nothing is written on the phone (a
/// rerun that finds everything in place pushes nothing at all).
///
/// # Errors
/// Transport errors; `HelperOutput` when the output is malformed.
pub fn hash_inline(handset: &Handset, paths: &[String]) -> Result<Vec<RemoteHash>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    ensure(handset)?;
    let mut hashes = Vec::with_capacity(paths.len());
    let words: Vec<String> = paths.iter().map(|p| shell_quote(p)).collect();
    for batch in budget_batches(&words, COMMAND_BUDGET) {
        let count = batch.len();
        let command = format!(
            "printf '%s\\0' {} | sh {DEVICE_PATH} --expect {VERSION} hash",
            words[batch].join(" ")
        );
        let mut out = Vec::new();
        handset.exec(&command)?.read_to_end(&mut out).map_err(|e| {
            handset.cancel_token().or_error(Error::HelperOutput {
                serial: handset.serial().to_string(),
                detail: format!("reading hashes: {e}"),
            })
        })?;
        hashes.extend(
            parse_hash(handset.serial(), &out, count)
                .map_err(|e| handset.cancel_token().or_error(e))?,
        );
    }
    Ok(hashes)
}

/// Parses the `hash` output: per path a line `STATUS HEX` (HEX is `-` unless ok).
///
/// # Errors
/// `HelperOutput` when a line is malformed or lines are missing.
pub fn parse_hash(serial: &str, output: &[u8], count: usize) -> Result<Vec<RemoteHash>> {
    let bad = |detail: String| Error::HelperOutput {
        serial: serial.to_string(),
        detail,
    };
    let mut hashes = Vec::with_capacity(count);
    for line in output.split_inclusive(|&b| b == b'\n') {
        let (status, hex) = parse_status_line(line)
            .ok_or_else(|| bad(format!("bad hash line {:?}", String::from_utf8_lossy(line))))?;
        let sha256 = if status == FileStatus::Ok {
            if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(bad(format!("bad hash {:?}", String::from_utf8_lossy(hex))));
            }
            String::from_utf8_lossy(hex).to_ascii_lowercase()
        } else {
            String::new()
        };
        hashes.push(RemoteHash { status, sha256 });
    }
    if hashes.len() != count {
        return Err(bad(format!("{} hashes for {count} paths", hashes.len())));
    }
    Ok(hashes)
}

/// SHA-256 of each file on the phone, lower-case hex (empty when it cannot be read).
///
/// Why not only [`hash`]: it runs one `sha256sum` process per file, which cost more
/// than the transfer itself for a few hundred photos. One `sha256sum` over many files is
/// used instead, and the helper only for names its output cannot carry (newlines,
/// backslashes, which `sha256sum` would escape).
///
/// # Errors
/// Transport errors; `HelperOutput` when the helper's output is malformed.
pub fn hash_files(handset: &Handset, paths: &[String]) -> Result<Vec<String>> {
    let (plain, odd): (Vec<usize>, Vec<usize>) =
        (0..paths.len()).partition(|&i| !paths[i].contains(['\n', '\\']));
    let mut hashes = vec![String::new(); paths.len()];
    let odd_paths: Vec<String> = odd.iter().map(|&i| paths[i].clone()).collect();
    for (&i, h) in odd.iter().zip(hash_inline(handset, &odd_paths)?) {
        hashes[i] = h.sha256;
    }
    let lines: Vec<String> = plain.iter().map(|&i| shell_quote(&paths[i])).collect();
    let mut found: HashMap<&str, String> = HashMap::new();
    let mut outputs = Vec::new();
    for batch in budget_batches(&lines, COMMAND_BUDGET) {
        let command = format!("sha256sum -- {} 2>/dev/null", lines[batch].join(" "));
        outputs.push(handset.shell(&command)?.stdout);
    }
    let texts: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(o).into_owned())
        .collect();
    for text in &texts {
        for line in text.lines() {
            if let Some((hex, path)) = line.split_once("  ") {
                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    found.insert(path, hex.to_ascii_lowercase());
                }
            }
        }
    }
    for &i in &plain {
        if let Some(hex) = found.get(paths[i].as_str()) {
            hashes[i].clone_from(hex);
        }
    }
    Ok(hashes)
}

/// What the phone says about one file.
pub struct FileCheck {
    /// Lower-case hex; empty when it could not be read.
    pub sha256: String,
    pub size: Option<u64>,
    pub mtime: Option<i64>,
}

/// SHA-256, size and mtime of each file on the phone: one shell call per batch running
/// `sha256sum` and `stat` over all of it (the helper and one `stat` each for names their
/// output cannot carry).
///
/// # Errors
/// Transport errors; `HelperOutput` when the helper's output is malformed.
pub fn check_files(handset: &Handset, paths: &[String]) -> Result<Vec<FileCheck>> {
    let hashes = hash_files(handset, paths)?;
    let mut stats: HashMap<&str, (u64, i64)> = HashMap::new();
    let plain: Vec<&String> = paths.iter().filter(|p| !p.contains(['\n', '\\'])).collect();
    let words: Vec<String> = plain.iter().map(|p| shell_quote(p)).collect();
    let mut texts = Vec::new();
    for batch in budget_batches(&words, COMMAND_BUDGET) {
        let out = handset.shell(&format!(
            "stat -c '%s %Y %n' -- {} 2>/dev/null",
            words[batch].join(" ")
        ))?;
        texts.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    for text in &texts {
        for line in text.lines() {
            let mut parts = line.splitn(3, ' ');
            if let (Some(size), Some(mtime), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            {
                if let (Ok(size), Ok(mtime)) = (size.parse(), mtime.parse()) {
                    stats.insert(path, (size, mtime));
                }
            }
        }
    }
    let mut checks = Vec::with_capacity(paths.len());
    for (path, sha256) in paths.iter().zip(hashes) {
        let (size, mtime) = match stats.get(path.as_str()) {
            Some((size, mtime)) => (Some(*size), Some(*mtime)),
            None if !plain.contains(&path) => match handset.stat(path) {
                Ok(Some(st)) => (Some(st.size), Some(st.mtime)),
                _ => (None, None),
            },
            None => (None, None),
        };
        checks.push(FileCheck {
            sha256,
            size,
            mtime,
        });
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two helper runs at once in one process (two jobs of the desktop client) must not
    /// write, read or remove the same path list on the phone.
    #[test]
    fn every_helper_run_gets_its_own_path_list() {
        let names: std::collections::HashSet<String> = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..8).map(|_| scope.spawn(new_list_path)).collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(names.len(), 8, "{names:?}");
        let pid = format!(".{}.", std::process::id());
        assert!(names.iter().all(|n| n.contains(&pid)), "{names:?}");
    }

    #[test]
    fn version_file_matches_the_script() {
        assert!(
            SCRIPT.contains(&format!("\nPVH_VERSION={VERSION}\n")),
            "android-helper/VERSION ({VERSION}) differs from PVH_VERSION in the script"
        );
    }

    #[test]
    fn list_records_are_parsed() {
        let out = b"f 3 1710257412.25 /sdcard/DCIM/a b.jpg\0f 5000000000 17 /sdcard/DCIM/new\nline\0u 0 0 /sdcard/DCIM/Secret\0s 0 0 /storage/1234-ABCD\0e 0 0 find: oops\0l 0 0 /sdcard/DCIM/to-etc\0z 0 0 end\0";
        let l = parse_list("S", out).unwrap();
        assert_eq!(
            l.files,
            vec![
                ListedFile {
                    path: "/sdcard/DCIM/a b.jpg".into(),
                    size: 3,
                    mtime: 1_710_257_412
                },
                ListedFile {
                    path: "/sdcard/DCIM/new\nline".into(),
                    size: 5_000_000_000,
                    mtime: 17
                },
            ]
        );
        assert_eq!(l.unreadable, vec!["/sdcard/DCIM/Secret".to_string()]);
        assert_eq!(l.sd_cards, vec!["/storage/1234-ABCD".to_string()]);
        assert_eq!(l.messages, vec!["find: oops".to_string()]);
        assert_eq!(l.links, vec!["/sdcard/DCIM/to-etc".to_string()]);
        assert_eq!(l.records, 7, "the end record counts too");
    }

    #[test]
    fn names_that_are_not_utf8_keep_every_byte() {
        let out = b"f 1 1 /sdcard/DCIM/photo\xff.jpg\0f 2 1 /sdcard/DCIM/photo\xef\xbf\xbd.jpg\0f 3 1 /sdcard/DCIM/a\\b\0z 0 0 end\0";
        let l = parse_list("S", out).unwrap();
        let paths: Vec<&str> = l.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/sdcard/DCIM/photo\\xFF.jpg",
                "/sdcard/DCIM/photo\u{fffd}.jpg",
                "/sdcard/DCIM/a\\\\b"
            ]
        );
        assert!(l.messages.is_empty());
        assert_eq!(
            path_list(&[paths[0].to_string(), paths[2].to_string()]),
            b"/sdcard/DCIM/photo\xff.jpg\0/sdcard/DCIM/a\\b\0"
        );
    }

    #[test]
    fn shell_words_carry_the_exact_bytes() {
        assert_eq!(shell_quote("/sdcard/it's"), r"'/sdcard/it'\''s'");
        assert_eq!(shell_quote(r"/sdcard/a\\b"), r"'/sdcard/a\b'");
        assert_eq!(
            shell_quote("/sdcard/\\xFF'\\\\\n.jpg"),
            r"$'/sdcard/\377\'\\\012.jpg'"
        );
    }

    #[test]
    fn cut_listings_are_errors() {
        assert!(parse_list("S", b"f 3 1 /a\0").is_err());
        assert!(parse_list("S", b"f 3 1 /a\0z 0 0 end\0f 3").is_err());
        assert!(parse_list("S", b"f x 1 /a\0z 0 0 end\0").is_err());
        assert!(parse_list("S", b"").is_err());
    }

    #[test]
    fn heads_frames_are_split() {
        let stream: &[u8] = b"ok 2\nmissing 0\nok 1\ndenied 0\nhizend ok\n";
        let mut got = Vec::new();
        read_heads("S", stream, 4, 2, &mut |i, s, b| {
            got.push((i, s, b.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                (0, FileStatus::Ok, b"hi".to_vec()),
                (1, FileStatus::Missing, vec![]),
                (2, FileStatus::Ok, b"z".to_vec()),
                (3, FileStatus::Denied, vec![]),
            ]
        );
        let no_sink = &mut |_: usize, _: FileStatus, _: &[u8]| -> Result<()> {
            panic!("nothing may reach the sink from a bad stream")
        };
        assert!(read_heads("S", &b"ok 5\nabc"[..], 1, 8, no_sink).is_err());
        assert!(read_heads("S", &b"ok 9\nabcdefghi\nend ok\n"[..], 1, 8, no_sink).is_err());
        assert!(read_heads("S", &b"ok 3\nabc\nend changed\n"[..], 1, 8, no_sink).is_err());
        assert!(read_heads("S", &b"ok 3\nabcdend ok\n"[..], 1, 8, no_sink).is_err());
        assert!(read_heads("S", &b"missing 3\nabcend ok\n"[..], 1, 8, no_sink).is_err());
    }

    #[test]
    fn hash_lines_are_parsed() {
        let hex = "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4";
        let out = format!("ok {hex}\nmissing -\n");
        let h = parse_hash("S", out.as_bytes(), 2).unwrap();
        assert_eq!(h[0].sha256, hex);
        assert_eq!(h[1].status, FileStatus::Missing);
        assert!(parse_hash("S", out.as_bytes(), 3).is_err());
    }

    #[test]
    fn sd_card_names() {
        assert!(is_sd_card_name("1234-ABCD"));
        assert!(!is_sd_card_name("emulated"));
        assert!(!is_sd_card_name("1234-abcd"));
    }
}

//! The `sync:` service as adbd answers it: STAT, STA2, LST2, LIST, LIS2, RECV, SEND, QUIT.
//!
//! Requests are parsed from the stream as bytes (the host may split a packet across WRTEs);
//! replies are buffered and sent as full WRTEs, flushed once no further request is waiting.

use std::ffi::OsStr;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;

use super::stream::{Stream, StreamReader, StreamWriter};
use crate::serve::Handset;

/// adbd's largest DATA chunk; adb 29 aborts on bigger ones.
const SYNC_DATA_MAX: usize = 64 * 1024;
const MAX_PATH: usize = 1024;
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Why a session ends after a request (adbd closes the service on these).
struct EndSession;

pub fn serve(stream: &Arc<Stream>, handset: &Handset) {
    let mut session = Session {
        r: StreamReader::new(Arc::clone(stream)),
        w: StreamWriter::new(Arc::clone(stream)),
        handset,
    };
    loop {
        let mut head = [0u8; 8];
        if session.r.read_exact(&mut head).is_err() {
            break;
        }
        let id: [u8; 4] = [head[0], head[1], head[2], head[3]];
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        handset.stats.sync_request(&String::from_utf8_lossy(&id));
        if session.request(id, len).is_err() {
            break;
        }
        if !session.r.has_buffered() && session.w.flush().is_err() {
            break;
        }
    }
    let _ = session.w.flush();
}

struct Session<'a> {
    r: StreamReader,
    w: StreamWriter,
    handset: &'a Handset,
}

type Step = Result<(), EndSession>;

fn os_errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn describe(errno: i32) -> &'static str {
    Errno::from_raw(errno).desc()
}

impl Session<'_> {
    fn put(&mut self, bytes: &[u8]) -> Step {
        self.w.write_all(bytes).map_err(|_| EndSession)
    }

    fn fail(&mut self, msg: &str) -> Step {
        let mut p = Vec::with_capacity(8 + msg.len());
        p.extend_from_slice(b"FAIL");
        p.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        p.extend_from_slice(msg.as_bytes());
        self.put(&p)?;
        let _ = self.w.flush();
        Err(EndSession)
    }

    fn request(&mut self, id: [u8; 4], len: usize) -> Step {
        if &id == b"QUIT" {
            return Err(EndSession);
        }
        let known = [
            b"STAT", b"STA2", b"LST2", b"LIST", b"LIS2", b"RECV", b"SEND",
        ];
        if !known.contains(&&id) {
            return self.fail(&format!(
                "unknown command {}",
                String::from_utf8_lossy(&id).escape_default()
            ));
        }
        if len > MAX_PATH {
            return self.fail("path too long");
        }
        let mut raw = vec![0u8; len];
        self.r.read_exact(&mut raw).map_err(|_| EndSession)?;
        match &id {
            b"STAT" => self.stat_v1(&raw),
            b"STA2" => self.stat_v2(id, &raw, true),
            b"LST2" => self.stat_v2(id, &raw, false),
            b"LIST" => self.list(&raw, false),
            b"LIS2" => self.list(&raw, true),
            b"RECV" => self.recv(&raw),
            _ => self.send(&raw),
        }
    }

    /// The phone's media storage charges every open (see `crate::link::MediaStorage`); the
    /// time it held this service is counted in the stats.
    fn pay_open(&self) {
        let t0 = Instant::now();
        self.handset.link.storage().pay_open();
        self.handset.stats.media_storage(1, 0, t0.elapsed());
    }

    /// `n` lookups (stat, lstat, listing entries) on the phone's media storage.
    fn pay_lookups(&self, n: u32) {
        let t0 = Instant::now();
        self.handset.link.storage().pay_stat(n);
        self.handset
            .stats
            .media_storage(0, u64::from(n), t0.elapsed());
    }

    fn denied(&self, raw: &[u8]) -> bool {
        self.handset.env.is_denied(&String::from_utf8_lossy(raw))
    }

    fn lookup(&self, raw: &[u8], follow: bool) -> Result<Metadata, i32> {
        self.pay_lookups(1);
        if self.denied(raw) {
            return Err(libc::EACCES);
        }
        let path = Path::new(OsStr::from_bytes(raw));
        let md = if follow {
            fs::metadata(path)
        } else {
            fs::symlink_metadata(path)
        };
        md.map_err(|e| os_errno(&e))
    }

    fn stat_v1(&mut self, raw: &[u8]) -> Step {
        let mut p = Vec::with_capacity(16);
        p.extend_from_slice(b"STAT");
        let (mode, size, mtime) = match self.lookup(raw, false) {
            Ok(md) => (md.mode(), md.size() as u32, md.mtime() as u32),
            Err(_) => (0, 0, 0),
        };
        for v in [mode, size, mtime] {
            p.extend_from_slice(&v.to_le_bytes());
        }
        self.put(&p)
    }

    fn stat_v2(&mut self, id: [u8; 4], raw: &[u8], follow: bool) -> Step {
        let mut p = Vec::with_capacity(72);
        p.extend_from_slice(&id);
        stat_body(&mut p, self.lookup(raw, follow));
        self.put(&p)
    }

    fn list(&mut self, raw: &[u8], v2: bool) -> Step {
        let dir = PathBuf::from(OsStr::from_bytes(raw));
        if !self.denied(raw) {
            if let Ok(entries) = fs::read_dir(&dir) {
                // adbd's readdir loop reports `.` and `..` too.
                let mut names: Vec<Vec<u8>> = vec![b".".to_vec(), b"..".to_vec()];
                names.extend(entries.flatten().map(|e| e.file_name().as_bytes().to_vec()));
                // adbd lstat()s every entry, each a lookup on the phone's media storage.
                self.pay_lookups(u32::try_from(names.len()).unwrap_or(u32::MAX));
                for name in names {
                    let md = fs::symlink_metadata(dir.join(OsStr::from_bytes(&name)))
                        .map_err(|e| os_errno(&e));
                    let mut p = Vec::with_capacity(80 + name.len());
                    if v2 {
                        p.extend_from_slice(b"DNT2");
                        stat_body(&mut p, md);
                    } else {
                        let Ok(md) = md else { continue };
                        p.extend_from_slice(b"DENT");
                        for v in [md.mode(), md.size() as u32, md.mtime() as u32] {
                            p.extend_from_slice(&v.to_le_bytes());
                        }
                    }
                    p.extend_from_slice(&(name.len() as u32).to_le_bytes());
                    p.extend_from_slice(&name);
                    self.put(&p)?;
                }
            }
        }
        let mut done = b"DONE".to_vec();
        done.resize(if v2 { 76 } else { 20 }, 0);
        self.put(&done)
    }

    fn recv(&mut self, raw: &[u8]) -> Step {
        if self.denied(raw) {
            return self.fail(&format!("open failed: {}", describe(libc::EACCES)));
        }
        self.pay_open();
        let mut file = match File::open(OsStr::from_bytes(raw)) {
            Ok(f) => f,
            Err(e) => return self.fail(&format!("open failed: {}", describe(os_errno(&e)))),
        };
        let mut read = 0u64;
        loop {
            match self.w.append_data_from(&mut file, SYNC_DATA_MAX) {
                Ok((n, false)) => {
                    read += n as u64;
                    let env = &self.handset.env;
                    let shell = |command: &str| env.shell_command(command.as_bytes());
                    self.handset.faults.after_file_read(raw, read, shell);
                }
                Ok((_, true)) => break,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(EndSession),
                Err(e) => return self.fail(&format!("read failed: {}", describe(os_errno(&e)))),
            }
        }
        self.put(b"DONE\0\0\0\0")
    }

    fn send(&mut self, raw: &[u8]) -> Step {
        let Some(comma) = raw.iter().rposition(|&b| b == b',') else {
            return self.fail("missing , in ID_SEND");
        };
        let path_raw = raw[..comma].to_vec();
        let mode = parse_mode(&String::from_utf8_lossy(&raw[comma + 1..]));
        let path = PathBuf::from(OsStr::from_bytes(&path_raw));
        if self.denied(&path_raw) {
            return self.fail_and_drain(
                &format!("couldn't create file: {}", describe(libc::EACCES)),
                None,
            );
        }
        if let Some(parent) = path.parent() {
            if let Err(e) = fs::create_dir_all(parent) {
                let msg = format!("secure_mkdirs failed: {}", describe(os_errno(&e)));
                return self.fail_and_drain(&msg, None);
            }
        }
        if mode & S_IFMT == S_IFLNK {
            return self.send_symlink(&path);
        }
        self.pay_open();
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode & 0o777)
            .open(&path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) => {
                let msg = format!("couldn't create file: {}", describe(os_errno(&e)));
                return self.fail_and_drain(&msg, None);
            }
        };
        let mut data = Vec::with_capacity(SYNC_DATA_MAX);
        loop {
            match self.data_packet(&mut data)? {
                Packet::Data => {
                    if let Err(e) = file.write_all(&data) {
                        let msg = format!("write failed: {}", describe(os_errno(&e)));
                        return self.fail_and_drain(&msg, Some(&path));
                    }
                }
                Packet::Done(mtime) => {
                    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(mtime));
                    let times = fs::FileTimes::new().set_accessed(t).set_modified(t);
                    let finish = file
                        .set_permissions(fs::Permissions::from_mode(mode & 0o777))
                        .and_then(|()| file.set_times(times))
                        .and_then(|()| file.sync_all());
                    if let Err(e) = finish {
                        let msg = format!("write failed: {}", describe(os_errno(&e)));
                        let _ = fs::remove_file(&path);
                        return self.fail(&msg);
                    }
                    return self.put(b"OKAY\0\0\0\0");
                }
            }
        }
    }

    fn send_symlink(&mut self, path: &Path) -> Step {
        let mut target = Vec::new();
        let mut data = Vec::new();
        while let Packet::Data = self.data_packet(&mut data)? {
            target.extend_from_slice(&data);
        }
        let _ = fs::remove_file(path);
        match std::os::unix::fs::symlink(OsStr::from_bytes(&target), path) {
            Ok(()) => self.put(b"OKAY\0\0\0\0"),
            Err(e) => self.fail(&format!("symlink failed: {}", describe(os_errno(&e)))),
        }
    }

    /// Reads the next DATA or DONE of a SEND; anything else ends the session with FAIL.
    fn data_packet(&mut self, data: &mut Vec<u8>) -> Result<Packet, EndSession> {
        let mut head = [0u8; 8];
        self.r.read_exact(&mut head).map_err(|_| EndSession)?;
        let arg = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        match &head[..4] {
            b"DATA" => {
                if arg as usize > SYNC_DATA_MAX {
                    self.fail("oversize data message")?;
                }
                data.resize(arg as usize, 0);
                self.r.read_exact(data).map_err(|_| EndSession)?;
                Ok(Packet::Data)
            }
            b"DONE" => Ok(Packet::Done(arg)),
            _ => {
                self.fail("invalid data message")?;
                Err(EndSession)
            }
        }
    }

    /// Answers FAIL, then (as adbd) swallows the rest of the upload so the host sees the FAIL.
    fn fail_and_drain(&mut self, msg: &str, partial: Option<&Path>) -> Step {
        let _ = self.fail(msg);
        let mut data = Vec::new();
        while let Ok(Packet::Data) = self.data_packet(&mut data) {}
        if let Some(p) = partial {
            let _ = fs::remove_file(p);
        }
        Err(EndSession)
    }
}

enum Packet {
    Data,
    Done(u32),
}

/// The 68 bytes after the id of a STA2/LST2/DNT2 record; only errno is set on error.
fn stat_body(p: &mut Vec<u8>, md: Result<Metadata, i32>) {
    match md {
        Ok(md) => {
            p.extend_from_slice(&0u32.to_le_bytes());
            p.extend_from_slice(&md.dev().to_le_bytes());
            p.extend_from_slice(&md.ino().to_le_bytes());
            p.extend_from_slice(&md.mode().to_le_bytes());
            p.extend_from_slice(&(md.nlink() as u32).to_le_bytes());
            p.extend_from_slice(&md.uid().to_le_bytes());
            p.extend_from_slice(&md.gid().to_le_bytes());
            p.extend_from_slice(&md.size().to_le_bytes());
            p.extend_from_slice(&md.atime().to_le_bytes());
            p.extend_from_slice(&md.mtime().to_le_bytes());
            p.extend_from_slice(&md.ctime().to_le_bytes());
        }
        Err(errno) => {
            p.extend_from_slice(&(errno as u32).to_le_bytes());
            p.resize(p.len() + 64, 0);
        }
    }
}

/// Parses a SEND mode like C's `strtoul(s, 0)`: `0x` hex, leading `0` octal, else decimal.
fn parse_mode(s: &str) -> u32 {
    let s = s.trim();
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    u32::from_str_radix(&digits[..end], radix).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::parse_mode;

    #[test]
    fn modes_parse_like_strtoul() {
        assert_eq!(parse_mode("33188"), 0o100_644);
        assert_eq!(parse_mode("0777"), 0o777);
        assert_eq!(parse_mode("0x1ff"), 0o777);
        assert_eq!(parse_mode("0"), 0);
        assert_eq!(parse_mode("junk"), 0);
    }
}

//! File operations on a handset over the sync service: stat (one path or many pipelined),
//! folder listings and pushing a single file.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::{Handset, RemoteEntry, RemoteStat};
use crate::adb::sync::{
    self, Frame, WireStat, MAX_DATA, MAX_PATH, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use crate::cancel::CancellableStream;
use crate::escape::{phone_path_bytes, phone_path_text};
use crate::{Error, Result};

impl Handset {
    /// Turns a wire stat into ours, refusing sizes that may have wrapped: a v1 size is 32
    /// bits, and a 4 GiB + 1 byte file looks like a 1-byte one, so a v1 size is never
    /// trusted for a regular file (directories, links and devices keep theirs: they cannot
    /// reach 4 GiB).
    fn checked_stat(&self, path: &str, stat: WireStat, v2: bool) -> Result<RemoteStat> {
        if !v2 && stat.mode & S_IFMT == S_IFREG {
            return Err(Error::SizeUnknown {
                serial: self.adb_serial.clone(),
                path: path.to_string(),
            });
        }
        Ok(RemoteStat {
            mode: stat.mode,
            size: stat.size,
            mtime: stat.mtime,
        })
    }

    /// Metadata of a path (following symlinks), `None` when it does not exist.
    ///
    /// # Errors
    /// Transport errors; `Remote` when the phone cannot stat it (permission); `SizeUnknown`
    /// for a regular file on a v1-only phone.
    pub fn stat(&self, path: &str) -> Result<Option<RemoteStat>> {
        self.check_path(path)?;
        let mut stream = self.sync_stream(Some(path))?;
        let op = "stat";
        let v2 = self.features.stat_v2;
        let id = if v2 { b"STA2" } else { b"STAT" };
        stream
            .write_all(&sync::encode_request(id, &phone_path_bytes(path)))
            .map_err(|e| self.io_error(op, Some(path), e))?;
        let wire = self.read_stat(&mut stream, path)?;
        Self::quit(&mut stream);
        match wire {
            Some(stat) => self.checked_stat(path, stat, v2).map(Some),
            None => Ok(None),
        }
    }

    /// Metadata of many paths in one round trip (the requests pipelined on one sync stream),
    /// in order; `None` for a path that is gone or cannot be looked at. Used to re-check files
    /// after they were copied. On a phone without `stat_v2` a size is only its low 32 bits.
    /// `timeout` replaces the handset's own for this call when given.
    ///
    /// # Errors
    /// Transport errors.
    pub fn stat_many(
        &self,
        paths: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<Option<RemoteStat>>> {
        let Some(first) = paths.first() else {
            return Ok(Vec::new());
        };
        let hurried = timeout.map(|timeout| {
            let mut hurried = self.clone();
            hurried.endpoint.timeout = timeout;
            hurried
        });
        let this = hurried.as_ref().unwrap_or(self);
        let mut stream = this.sync_stream(Some(first))?;
        let v2 = self.features.stat_v2;
        let id = if v2 { b"STA2" } else { b"STAT" };
        // Paths are in display form: the phone is asked for their exact bytes.
        let raw: Vec<_> = paths.iter().map(|p| phone_path_bytes(p)).collect();
        let mut request = Vec::new();
        for bytes in raw.iter().filter(|b| b.len() <= MAX_PATH) {
            request.extend(sync::encode_request(id, bytes));
        }
        stream
            .write_all(&request)
            .map_err(|e| self.io_error("stat", Some(first), e))?;
        let mut stats = Vec::with_capacity(paths.len());
        for (path, bytes) in paths.iter().zip(&raw) {
            if bytes.len() > MAX_PATH {
                stats.push(None);
                continue;
            }
            let map = |e| self.io_error("stat", Some(path), e);
            let wire = if v2 {
                sync::read_stat_v2(&mut stream).map_err(map)?.ok()
            } else {
                sync::read_stat_v1(&mut stream).map_err(map)?
            };
            stats.push(wire.map(|w| RemoteStat {
                mode: w.mode,
                size: w.size,
                mtime: w.mtime,
            }));
        }
        Self::quit(&mut stream);
        Ok(stats)
    }

    /// Reads the reply to a `STA2`/`STAT` just sent.
    fn read_stat(&self, stream: &mut CancellableStream, path: &str) -> Result<Option<WireStat>> {
        let map = |e| self.io_error("stat", Some(path), e);
        if self.features.stat_v2 {
            match sync::read_stat_v2(stream).map_err(map)? {
                Ok(stat) => Ok(Some(stat)),
                Err(sync::ENOENT | 20) => Ok(None),
                Err(errno) => Err(self.remote(path, sync::errno_message(errno))),
            }
        } else {
            sync::read_stat_v1(stream).map_err(map)
        }
    }

    /// The entries of a folder.
    ///
    /// # Errors
    /// `Remote` when the folder does not exist or is not a folder; transport errors;
    /// `SizeUnknown` on a v1-only phone when the folder holds a regular file.
    pub fn list(&self, path: &str) -> Result<Vec<RemoteEntry>> {
        self.check_path(path)?;
        let op = "list";
        let mut stream = self.sync_stream(Some(path))?;
        // The listing service answers an empty list for a missing folder, so a stat goes
        // first, in the same write: one round trip for both.
        let stat_id = if self.features.stat_v2 {
            b"STA2"
        } else {
            b"STAT"
        };
        let list_v2 = self.features.ls_v2;
        let list_id = if list_v2 { b"LIS2" } else { b"LIST" };
        let wire_path = phone_path_bytes(path);
        let mut request = sync::encode_request(stat_id, &wire_path);
        request.extend(sync::encode_request(list_id, &wire_path));
        stream
            .write_all(&request)
            .map_err(|e| self.io_error(op, Some(path), e))?;
        let stat = self.read_stat(&mut stream, path)?;
        let raw = sync::read_listing(&mut stream, list_v2)
            .map_err(|e| self.io_error(op, Some(path), e))?;
        Self::quit(&mut stream);
        match stat {
            None => return Err(self.remote(path, sync::errno_message(sync::ENOENT))),
            // v1 STAT does not follow links (`/sdcard` is one); LIST does, so let it answer.
            Some(stat) if stat.mode & S_IFMT == S_IFLNK && !self.features.stat_v2 => {}
            Some(stat) if stat.mode & S_IFMT != S_IFDIR => {
                return Err(self.remote(path, sync::errno_message(20)))
            }
            Some(_) => {}
        }
        let mut entries = Vec::with_capacity(raw.len());
        for (name, stat) in raw {
            // The display form keeps every byte (see `escape`), so a name that is not UTF-8
            // is still the name of its own file.
            let name = phone_path_text(&name).into_owned();
            // An entry that cannot be stat'ed vanished between readdir and lstat: leave it out.
            let Ok(stat) = stat else { continue };
            let full = format!("{}/{name}", path.trim_end_matches('/'));
            let stat = self.checked_stat(&full, stat, list_v2)?;
            entries.push(RemoteEntry { name, stat });
        }
        Ok(entries)
    }

    /// Writes `from` to `path` on the phone with this mode and mtime (parents are created).
    /// The sync protocol carries mtimes as 32-bit unsigned seconds: times before 1970 are
    /// sent as 0 and times after 2106 as the largest value.
    ///
    /// # Errors
    /// `Remote` when the phone refuses (no space, permission); transport errors; `Io` when
    /// `from` fails.
    pub fn push(&self, from: &mut dyn Read, path: &str, mode: u32, mtime: i64) -> Result<()> {
        self.check_path(path)?;
        let op = "push";
        let mut stream = self.sync_stream(Some(path))?;
        let mtime = u32::try_from(mtime.max(0)).unwrap_or(u32::MAX);
        let mut buf = vec![0u8; MAX_DATA + 8];
        match sync::write_send(&mut stream, from, path, mode, mtime, &mut buf) {
            Ok(_) => {}
            Err(Ok(local)) => return Err(Error::io("reading the file to push to", path, local)),
            Err(Err(e)) => {
                // The phone may have refused mid-way (no space) and closed: its FAIL says why.
                if let Ok(Frame::Fail(message)) = sync::read_frame(&mut stream) {
                    return Err(self.remote(path, message));
                }
                return Err(self.io_error(op, Some(path), e));
            }
        }
        match sync::read_frame(&mut stream).map_err(|e| self.io_error(op, Some(path), e))? {
            Frame::Okay => {
                Self::quit(&mut stream);
                Ok(())
            }
            Frame::Fail(message) => Err(self.remote(path, message)),
            other => Err(self.io_error(
                op,
                Some(path),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected answer to SEND: {other:?}"),
                ),
            )),
        }
    }
}

//! The sync service's frames (`sync:` on a transport socket): encoding requests and parsing
//! replies. Everything here works on byte streams (`Read`/`Write`), so the parsers are tested
//! on captured bytes; the handset layer adds the socket, timeouts and error context.
//!
//! Replies are read as a byte stream, never per TCP segment: the adb server re-chunks data.

use std::io::{self, Read, Write};

/// The largest DATA payload either side may send (adb 29 aborts above this).
pub const MAX_DATA: usize = 64 * 1024;
/// The longest path a sync request may carry.
pub const MAX_PATH: usize = 1024;

/// `S_IFMT` and friends, as Linux numbers them on the wire.
pub const S_IFMT: u32 = 0o170_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFLNK: u32 = 0o120_000;

/// Size of a `STA2`/`LST2` reply, and of the stat body inside a `DNT2` entry plus its id.
const STAT_V2_LEN: usize = 72;

/// `id | u32le len | payload`.
pub fn encode_request(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(id);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// `id | u32le value` with no payload (`DONE mtime`, `QUIT 0`).
pub fn encode_word(id: &[u8; 4], value: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(id);
    out[4..].copy_from_slice(&value.to_le_bytes());
    out
}

/// The `SEND` argument: `path,mode` with the mode in decimal (as adb sends it), a regular file.
/// `path` is in display form (see `escape`); its exact bytes go on the wire.
pub fn send_argument(path: &str, mode: u32) -> Vec<u8> {
    let mut argument = crate::escape::phone_path_bytes(path).into_owned();
    argument.extend_from_slice(format!(",{}", S_IFREG | (mode & 0o7777)).as_bytes());
    argument
}

/// One file's metadata as the phone reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireStat {
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
}

/// A v2 stat reply: an errno, or the metadata.
pub type StatV2 = std::result::Result<WireStat, u32>;

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().expect("4 bytes"))
}
fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}
fn le_i64(b: &[u8]) -> i64 {
    i64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

fn bad(detail: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail)
}

fn id_text(id: &[u8]) -> String {
    String::from_utf8_lossy(id).into_owned()
}

/// Parses the 68 bytes after the id of `STA2`/`LST2`/`DNT2`:
/// `errno, dev u64, ino u64, mode, nlink, uid, gid, size u64, atime, mtime, ctime`.
///
/// # Errors
/// The phone's errno when it could not stat the path.
pub fn parse_stat_v2_body(body: &[u8]) -> StatV2 {
    let errno = le_u32(&body[0..]);
    if errno != 0 {
        return Err(errno);
    }
    Ok(WireStat {
        mode: le_u32(&body[20..]),
        size: le_u64(&body[36..]),
        mtime: le_i64(&body[52..]),
    })
}

/// Reads a `STA2` reply.
///
/// # Errors
/// I/O errors; `InvalidData` when the reply is not `STA2`/`LST2`.
pub fn read_stat_v2(r: &mut impl Read) -> io::Result<StatV2> {
    let mut buf = [0u8; STAT_V2_LEN];
    r.read_exact(&mut buf)?;
    if &buf[..4] != b"STA2" && &buf[..4] != b"LST2" {
        return Err(bad(format!("expected STA2, got {:?}", id_text(&buf[..4]))));
    }
    Ok(parse_stat_v2_body(&buf[4..]))
}

/// Reads a v1 `STAT` reply: mode, size (32 bits, wraps at 4 GiB) and mtime; `None` when the
/// phone could not stat the path (it sends all zeros then).
///
/// # Errors
/// I/O errors; `InvalidData` when the reply is not `STAT`.
pub fn read_stat_v1(r: &mut impl Read) -> io::Result<Option<WireStat>> {
    let mut buf = [0u8; 16];
    r.read_exact(&mut buf)?;
    if &buf[..4] != b"STAT" {
        return Err(bad(format!("expected STAT, got {:?}", id_text(&buf[..4]))));
    }
    let mode = le_u32(&buf[4..]);
    if mode == 0 {
        return Ok(None);
    }
    Ok(Some(WireStat {
        mode,
        size: u64::from(le_u32(&buf[8..])),
        mtime: i64::from(le_u32(&buf[12..])),
    }))
}

/// Reads one folder listing (`LIS2` when `v2`, else `LIST`) up to its `DONE`, leaving out
/// `.` and `..`. Names are raw bytes: a phone's names need not be UTF-8.
///
/// # Errors
/// I/O errors; `InvalidData` on an unknown record.
pub fn read_listing(r: &mut impl Read, v2: bool) -> io::Result<Vec<(Vec<u8>, StatV2)>> {
    let mut entries = Vec::new();
    loop {
        let (id, stat, name_len) = if v2 {
            let mut head = [0u8; STAT_V2_LEN + 4];
            r.read_exact(&mut head)?;
            let id: [u8; 4] = head[..4].try_into().expect("4 bytes");
            let stat = parse_stat_v2_body(&head[4..STAT_V2_LEN]);
            (id, stat, le_u32(&head[STAT_V2_LEN..]) as usize)
        } else {
            let mut head = [0u8; 20];
            r.read_exact(&mut head)?;
            let id: [u8; 4] = head[..4].try_into().expect("4 bytes");
            let stat = Ok(WireStat {
                mode: le_u32(&head[4..]),
                size: u64::from(le_u32(&head[8..])),
                mtime: i64::from(le_u32(&head[12..])),
            });
            (id, stat, le_u32(&head[16..]) as usize)
        };
        match &id {
            b"DONE" => return Ok(entries),
            b"DENT" | b"DNT2" => {
                if name_len > MAX_PATH {
                    return Err(bad(format!("directory entry name of {name_len} bytes")));
                }
                let mut name = vec![0u8; name_len];
                r.read_exact(&mut name)?;
                if name != b"." && name != b".." {
                    entries.push((name, stat));
                }
            }
            other => {
                return Err(bad(format!(
                    "expected DENT/DNT2 or DONE in a listing, got {:?}",
                    id_text(other)
                )))
            }
        }
    }
}

/// The header of one reply frame to `RECV` (and `SEND`'s final answer).
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// `DATA len`: `len` bytes of file follow.
    Data(usize),
    /// `DONE`: the file is complete.
    Done,
    /// `OKAY`: a `SEND` was stored.
    Okay,
    /// `FAIL msg`: the phone refused; the message has been read.
    Fail(String),
}

/// Reads one reply frame header (and a `FAIL`'s message).
///
/// # Errors
/// I/O errors; `InvalidData` on an unknown id or an oversized DATA.
pub fn read_frame(r: &mut impl Read) -> io::Result<Frame> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head)?;
    let len = le_u32(&head[4..]) as usize;
    match &head[..4] {
        b"DATA" if len <= MAX_DATA => Ok(Frame::Data(len)),
        b"DATA" => Err(bad(format!("DATA frame of {len} bytes (limit {MAX_DATA})"))),
        b"DONE" => Ok(Frame::Done),
        b"OKAY" => Ok(Frame::Okay),
        b"FAIL" => {
            if len > 64 * 1024 {
                return Err(bad(format!("FAIL message of {len} bytes")));
            }
            let mut message = vec![0u8; len];
            r.read_exact(&mut message)?;
            Ok(Frame::Fail(String::from_utf8_lossy(&message).into_owned()))
        }
        other => Err(bad(format!(
            "expected DATA, DONE, OKAY or FAIL, got {:?}",
            id_text(other)
        ))),
    }
}

/// Streams one `RECV` reply into `sink`, chunk by chunk, through `buf` (at least `MAX_DATA`
/// long). `Ok(Err(msg))` when the phone refused the file.
///
/// # Errors
/// I/O errors from the stream, and whatever `sink` returns.
pub fn read_file<E>(
    r: &mut impl Read,
    buf: &mut [u8],
    sink: &mut dyn FnMut(&[u8]) -> std::result::Result<(), E>,
) -> std::result::Result<std::result::Result<u64, String>, RecvError<E>> {
    let mut total = 0u64;
    loop {
        match read_frame(r).map_err(RecvError::Io)? {
            Frame::Data(len) => {
                r.read_exact(&mut buf[..len]).map_err(RecvError::Io)?;
                total += len as u64;
                sink(&buf[..len]).map_err(RecvError::Sink)?;
            }
            Frame::Done => return Ok(Ok(total)),
            Frame::Fail(message) => return Ok(Err(message)),
            Frame::Okay => return Err(RecvError::Io(bad("OKAY in a RECV reply".into()))),
        }
    }
}

/// Why `read_file` stopped early.
#[derive(Debug)]
pub enum RecvError<E> {
    Io(io::Error),
    Sink(E),
}

/// Sends a whole `SEND`: the request, `from` in DATA chunks, then `DONE mtime`. The caller
/// reads the phone's answer with [`read_frame`].
///
/// # Errors
/// Read errors from `from` come back as `Err(Ok(e))`, write errors to the phone as
/// `Err(Err(e))`, so the caller can tell a local file from the phone.
pub fn write_send(
    w: &mut impl Write,
    from: &mut dyn Read,
    path: &str,
    mode: u32,
    mtime: u32,
    buf: &mut [u8],
) -> std::result::Result<u64, std::result::Result<io::Error, io::Error>> {
    w.write_all(&encode_request(b"SEND", &send_argument(path, mode)))
        .map_err(Err)?;
    let mut total = 0u64;
    loop {
        // Fill a whole chunk where possible: fewer, fuller DATA frames.
        let mut filled = 0;
        while filled < MAX_DATA {
            match from.read(&mut buf[8 + filled..8 + MAX_DATA]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Ok(e)),
            }
        }
        if filled == 0 {
            break;
        }
        buf[..8].copy_from_slice(&encode_word(b"DATA", filled as u32));
        w.write_all(&buf[..8 + filled]).map_err(Err)?;
        total += filled as u64;
        if filled < MAX_DATA {
            break;
        }
    }
    w.write_all(&encode_word(b"DONE", mtime)).map_err(Err)?;
    w.flush().map_err(Err)?;
    Ok(total)
}

/// A short text for a Linux errno from the phone (the host's own numbering may differ).
pub fn errno_message(errno: u32) -> String {
    let text = match errno {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        5 => "I/O error",
        13 => "Permission denied",
        17 => "File exists",
        20 => "Not a directory",
        21 => "Is a directory",
        28 => "No space left on device",
        30 => "Read-only file system",
        36 => "File name too long",
        40 => "Too many levels of symbolic links",
        _ => return format!("error {errno}"),
    };
    text.to_string()
}

/// Linux `ENOENT`.
pub const ENOENT: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_v2_reply(id: [u8; 4], errno: u32, mode: u32, size: u64, mtime: i64) -> Vec<u8> {
        let mut out = id.to_vec();
        out.extend_from_slice(&errno.to_le_bytes());
        out.extend_from_slice(&66u64.to_le_bytes()); // dev
        out.extend_from_slice(&77u64.to_le_bytes()); // ino
        out.extend_from_slice(&mode.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // nlink
        out.extend_from_slice(&2000u32.to_le_bytes()); // uid
        out.extend_from_slice(&9997u32.to_le_bytes()); // gid
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&1i64.to_le_bytes()); // atime
        out.extend_from_slice(&mtime.to_le_bytes());
        out.extend_from_slice(&3i64.to_le_bytes()); // ctime
        out
    }

    #[test]
    fn request_encoding() {
        assert_eq!(
            encode_request(b"STA2", b"/sdcard"),
            b"STA2\x07\0\0\0/sdcard"
        );
        assert_eq!(encode_word(b"DONE", 0x0102_0304), *b"DONE\x04\x03\x02\x01");
        assert_eq!(
            send_argument("/sdcard/a,b.jpg", 0o644),
            b"/sdcard/a,b.jpg,33188"
        );
        assert_eq!(send_argument("/x", 0o100_600), b"/x,33152");
        // A path in display form goes out as its exact bytes.
        assert_eq!(
            send_argument("/sdcard/photo\\xFF\\\\.jpg", 0o644),
            b"/sdcard/photo\xff\\.jpg,33188"
        );
    }

    #[test]
    fn stat_v2_of_a_huge_file_keeps_64_bits() {
        let size = 5 * 1024 * 1024 * 1024 + 7;
        let bytes = stat_v2_reply(*b"STA2", 0, 0o100_644, size, 1_710_257_412);
        assert_eq!(bytes.len(), 72);
        let stat = read_stat_v2(&mut bytes.as_slice()).unwrap().unwrap();
        assert_eq!(
            stat,
            WireStat {
                mode: 0o100_644,
                size,
                mtime: 1_710_257_412
            }
        );
        let missing = stat_v2_reply(*b"STA2", ENOENT, 0, 0, 0);
        assert_eq!(read_stat_v2(&mut missing.as_slice()).unwrap(), Err(ENOENT));
        let wrong = stat_v2_reply(*b"STAT", 0, 0, 0, 0);
        assert!(read_stat_v2(&mut wrong.as_slice()).is_err());
    }

    #[test]
    fn stat_v1() {
        let mut bytes = b"STAT".to_vec();
        for v in [0o100_644u32, 1234, 1_700_000_000] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let stat = read_stat_v1(&mut bytes.as_slice()).unwrap().unwrap();
        assert_eq!(
            (stat.mode, stat.size, stat.mtime),
            (0o100_644, 1234, 1_700_000_000)
        );
        let zeros = *b"STAT\0\0\0\0\0\0\0\0\0\0\0\0";
        assert_eq!(read_stat_v1(&mut zeros.as_slice()).unwrap(), None);
    }

    #[test]
    fn listing_v2_and_v1() {
        let mut bytes = Vec::new();
        for (name, mode, size) in [
            (&b"."[..], 0o040_771u32, 4096u64),
            (b"..", 0o040_771, 4096),
            (b"big.mp4", 0o100_660, 6_000_000_000),
            (b"bad\xffname", 0o100_660, 3),
        ] {
            bytes.extend(stat_v2_reply(*b"DNT2", 0, mode, size, 99));
            bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
            bytes.extend_from_slice(name);
        }
        bytes.extend_from_slice(b"DONE");
        bytes.extend_from_slice(&[0u8; 72]);
        let mut r = bytes.as_slice();
        let list = read_listing(&mut r, true).unwrap();
        assert!(r.is_empty(), "the 76-byte DONE is consumed exactly");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].0, b"big.mp4");
        assert_eq!(list[0].1.unwrap().size, 6_000_000_000);
        assert_eq!(list[1].0, b"bad\xffname");

        let mut v1 = Vec::new();
        for (name, mode) in [(&b".."[..], 0o040_771u32), (b"a.jpg", 0o100_660)] {
            v1.extend_from_slice(b"DENT");
            for v in [mode, 10, 20, name.len() as u32] {
                v1.extend_from_slice(&v.to_le_bytes());
            }
            v1.extend_from_slice(name);
        }
        v1.extend_from_slice(b"DONE");
        v1.extend_from_slice(&[0u8; 16]);
        let mut r = v1.as_slice();
        let list = read_listing(&mut r, false).unwrap();
        assert!(r.is_empty());
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0].1.unwrap(),
            WireStat {
                mode: 0o100_660,
                size: 10,
                mtime: 20
            }
        );
    }

    #[test]
    fn recv_reply_streams_chunks_and_failures() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&encode_request(b"DATA", b"hello "));
        bytes.extend_from_slice(&encode_request(b"DATA", b"world"));
        bytes.extend_from_slice(&encode_word(b"DONE", 0));
        bytes.extend_from_slice(&encode_request(
            b"FAIL",
            b"open failed: No such file or directory",
        ));
        let mut r = bytes.as_slice();
        let mut buf = vec![0u8; MAX_DATA];
        let mut got = Vec::new();
        let n = read_file::<()>(&mut r, &mut buf, &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert_eq!((n, got.as_slice()), (11, &b"hello world"[..]));
        let failed = read_file::<()>(&mut r, &mut buf, &mut |_| Ok(())).unwrap();
        assert_eq!(
            failed,
            Err("open failed: No such file or directory".to_string())
        );
        let mut huge = encode_word(b"DATA", (MAX_DATA + 1) as u32).to_vec();
        huge.extend_from_slice(&[0u8; 16]);
        assert!(read_frame(&mut huge.as_slice()).is_err());
    }

    #[test]
    fn send_frames() {
        let data = vec![7u8; MAX_DATA + 10];
        let mut out = Vec::new();
        let mut buf = vec![0u8; MAX_DATA + 8];
        let n = write_send(
            &mut out,
            &mut data.as_slice(),
            "/sdcard/x",
            0o644,
            42,
            &mut buf,
        )
        .unwrap();
        assert_eq!(n, data.len() as u64);
        let mut r = out.as_slice();
        let mut head = [0u8; 8];
        r.read_exact(&mut head).unwrap();
        assert_eq!(&head[..4], b"SEND");
        let mut arg = vec![0u8; le_u32(&head[4..]) as usize];
        r.read_exact(&mut arg).unwrap();
        assert_eq!(arg, b"/sdcard/x,33188");
        assert_eq!(read_frame(&mut r).unwrap(), Frame::Data(MAX_DATA));
        r = &r[MAX_DATA..];
        assert_eq!(read_frame(&mut r).unwrap(), Frame::Data(10));
        r = &r[10..];
        assert_eq!(r, encode_word(b"DONE", 42));
    }
}

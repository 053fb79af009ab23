//! The shell service: shell v2 packets, and the v1 fallback that recovers the exit status
//! from a marker line.

use std::io::{self, Read};

/// Shell v2 packet ids.
pub const ID_STDIN: u8 = 0;
pub const ID_STDOUT: u8 = 1;
pub const ID_STDERR: u8 = 2;
pub const ID_EXIT: u8 = 3;
pub const ID_CLOSE_STDIN: u8 = 4;

/// `id | u32le len | data`.
pub fn encode_packet(id: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + data.len());
    out.push(id);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// What a shell v2 session produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// `None` when the stream ended without an exit packet.
    pub status: Option<i32>,
}

/// Reads shell v2 packets until the exit packet or the end of the stream.
///
/// # Errors
/// I/O errors; `InvalidData` on a packet too large to be real.
pub fn collect_v2(r: &mut impl Read) -> io::Result<Collected> {
    let mut out = Collected::default();
    loop {
        let mut head = [0u8; 5];
        if !read_exact_or_eof(r, &mut head)? {
            return Ok(out);
        }
        let len = u32::from_le_bytes(head[1..].try_into().expect("4 bytes")) as usize;
        if len > 16 * 1024 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("shell packet of {len} bytes"),
            ));
        }
        let target = match head[0] {
            ID_STDOUT => &mut out.stdout,
            ID_STDERR => &mut out.stderr,
            ID_EXIT => {
                let mut status = vec![0u8; len];
                r.read_exact(&mut status)?;
                out.status = Some(status.first().copied().map_or(0, i32::from));
                return Ok(out);
            }
            _ => {
                // Unknown packets (window size echoes, future ids) are skipped, not fatal.
                io::copy(&mut r.take(len as u64), &mut io::sink())?;
                continue;
            }
        };
        let start = target.len();
        target.resize(start + len, 0);
        r.read_exact(&mut target[start..])?;
    }
}

/// `read_exact`, but a clean end of stream before the first byte gives `false`.
fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The v1 shell (`shell:CMD`) has no exit status and merges stderr into stdout. We run the
/// command in a subshell (so `exit` inside it still reaches our echo) and print a newline,
/// a marker unique to this call and `$?` after it; [`split_v1`] takes them off again. The
/// leading newline makes the marker start a line even when the output does not end with one.
pub fn wrap_v1(command: &str, marker: &str) -> String {
    format!("({command}\n); echo \"\n{marker}$?\"")
}

/// Splits v1 output into the command's own output and the exit status printed by
/// [`wrap_v1`]; `None` when the marker line is missing (the stream was cut).
pub fn split_v1(output: &[u8], marker: &str) -> Option<(Vec<u8>, i32)> {
    let needle = format!("\n{marker}");
    let needle = needle.as_bytes();
    let at = output.windows(needle.len()).rposition(|w| w == needle)?;
    let tail = std::str::from_utf8(&output[at + needle.len()..]).ok()?;
    // A PTY would turn "\n" into "\r\n"; accept both.
    let status = tail.trim_end_matches(['\r', '\n']).parse().ok()?;
    let mut body = output[..at].to_vec();
    if body.last() == Some(&b'\r') {
        body.pop();
    }
    Some((body, status))
}

/// A marker no command output will contain by chance.
pub fn new_marker() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "__phonevault_exit_{:x}_{:x}_{}__",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_packets() {
        let mut bytes = encode_packet(ID_STDOUT, b"hello\n");
        bytes.extend(encode_packet(ID_STDERR, b"warn\n"));
        bytes.extend(encode_packet(5, b"\0\0\0\0"));
        bytes.extend(encode_packet(ID_STDOUT, b"bye\n"));
        bytes.extend(encode_packet(ID_EXIT, &[3]));
        let got = collect_v2(&mut bytes.as_slice()).unwrap();
        assert_eq!(
            got,
            Collected {
                stdout: b"hello\nbye\n".to_vec(),
                stderr: b"warn\n".to_vec(),
                status: Some(3),
            }
        );
        let cut = encode_packet(ID_STDOUT, b"partial");
        let got = collect_v2(&mut cut.as_slice()).unwrap();
        assert_eq!(got.status, None);
        assert!(collect_v2(&mut &cut[..7]).is_err());
    }

    #[test]
    fn v1_marker_round_trip() {
        let marker = new_marker();
        assert_ne!(marker, new_marker());
        let wrapped = wrap_v1("ls /nope", &marker);
        assert!(wrapped.starts_with("(ls /nope\n); echo"));
        let out = format!("ls: /nope: No such file\n\n{marker}1\n");
        assert_eq!(
            split_v1(out.as_bytes(), &marker),
            Some((b"ls: /nope: No such file\n".to_vec(), 1))
        );
        let out = format!("no newline\n{marker}0\n");
        assert_eq!(
            split_v1(out.as_bytes(), &marker),
            Some((b"no newline".to_vec(), 0))
        );
        assert_eq!(split_v1(b"cut off", &marker), None);
    }
}

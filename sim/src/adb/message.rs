//! ADB messages: a 24-byte little-endian header and a payload.

use std::io::{self, Read};

pub const A_CNXN: u32 = 0x4e58_4e43;
pub const A_AUTH: u32 = 0x4854_5541;
pub const A_OPEN: u32 = 0x4e45_504f;
pub const A_OKAY: u32 = 0x5941_4b4f;
pub const A_CLSE: u32 = 0x4553_4c43;
pub const A_WRTE: u32 = 0x4554_5257;

/// The protocol version we speak; adb 29 sends the same.
pub const A_VERSION: u32 = 0x0100_0001;
/// What we offer as maximum payload; the host's offer may lower it.
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// Larger host payloads than this are taken as a malformed packet (adb sends at most 1 MiB).
const MAX_INBOUND_PAYLOAD: usize = 4 * MAX_PAYLOAD;

pub const AUTH_TOKEN: u32 = 1;
pub const AUTH_SIGNATURE: u32 = 2;

/// One message as read from the host.
#[derive(Debug)]
pub struct Message {
    pub command: u32,
    pub arg0: u32,
    pub arg1: u32,
    pub payload: Vec<u8>,
}

/// The unsigned sum of the payload bytes, as adb's `data_check`.
pub fn checksum(data: &[u8]) -> u32 {
    // Summing into u64 lets the compiler vectorise; a 1 MiB payload cannot overflow it.
    data.iter().map(|&b| u64::from(b)).sum::<u64>() as u32
}

/// The header for a message carrying `payload`.
pub fn header(command: u32, arg0: u32, arg1: u32, payload: &[u8]) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&command.to_le_bytes());
    h[4..8].copy_from_slice(&arg0.to_le_bytes());
    h[8..12].copy_from_slice(&arg1.to_le_bytes());
    h[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[16..20].copy_from_slice(&checksum(payload).to_le_bytes());
    h[20..24].copy_from_slice(&(command ^ 0xffff_ffff).to_le_bytes());
    h
}

/// Reads one message; `Ok(None)` when the host closed the connection between messages.
///
/// A bad magic or an oversized payload is an `InvalidData` error: the caller drops the
/// connection, as adbd does.
pub fn read_message(r: &mut impl Read) -> io::Result<Option<Message>> {
    let mut h = [0u8; 24];
    let mut got = 0;
    while got < h.len() {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let (command, arg0, arg1, len, magic) = (word(0), word(4), word(8), word(12), word(20));
    if magic != command ^ 0xffff_ffff {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad magic {magic:#010x} for command {command:#010x}"),
        ));
    }
    let len = len as usize;
    if len > MAX_INBOUND_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("payload of {len} bytes is over the limit"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some(Message {
        command,
        arg0,
        arg1,
        payload,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let payload = b"host::features=shell_v2";
        let mut bytes = header(A_CNXN, A_VERSION, 4096, payload).to_vec();
        bytes.extend_from_slice(payload);
        let msg = read_message(&mut bytes.as_slice()).unwrap().unwrap();
        assert_eq!(msg.command, A_CNXN);
        assert_eq!(msg.arg0, A_VERSION);
        assert_eq!(msg.arg1, 4096);
        assert_eq!(msg.payload, payload);
        assert_eq!(checksum(&[255, 255, 1]), 511);
    }

    #[test]
    fn bad_magic_is_an_error() {
        let mut bytes = header(A_OKAY, 1, 2, b"").to_vec();
        bytes[20] ^= 1;
        let err = read_message(&mut bytes.as_slice()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}

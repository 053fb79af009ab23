//! Requests to the adb server's smart socket (`host:*`), finding or starting the server, and
//! parsing what it answers.
//!
//! Each request opens its own TCP connection: the server closes a `host:` socket after one
//! answer, and a transport socket carries exactly one device service.

use std::ffi::OsString;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::adb::device::{DeviceInfo, DeviceState};
use crate::cancel::{Cancel, CancellableStream};
use crate::{Error, Result};

/// Where adb listens when `ANDROID_ADB_SERVER_PORT` says nothing.
pub const DEFAULT_PORT: u16 = 5037;

/// How to get `adb`, shown when it is missing.
pub const HOW_TO_INSTALL_ADB: &str =
    "install Android's platform tools: Debian/Ubuntu `sudo apt install adb`, \
     Fedora `sudo dnf install android-tools`, macOS `brew install android-platform-tools`, \
     Windows: download Google's SDK Platform-Tools zip and add its folder to PATH";

/// The address and timeout every socket to the server uses, and the cancellation token its
/// sockets are registered with.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub port: u16,
    pub timeout: Duration,
    pub cancel: Cancel,
}

impl Endpoint {
    pub fn addr_text(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A fresh socket with read and write timeouts set, registered with the cancellation
    /// token (so cancelling wakes whoever waits on it).
    ///
    /// A token already tripped refuses to open one: the error carries [`Error::Cancelled`]
    /// inside, which the error mappings unwrap.
    pub fn socket(&self) -> io::Result<CancellableStream> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other(Error::Cancelled));
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let stream = TcpStream::connect_timeout(&addr, self.timeout)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        // Sync requests are small and latency-bound; Nagle would hold them back.
        stream.set_nodelay(true)?;
        self.cancel.register(stream)
    }

    /// The error for a failed exchange with the server: `Cancelled` when the token was
    /// tripped (its shutdown is what broke the socket), else `AdbServer`.
    pub fn server_error(&self, err: &io::Error) -> Error {
        if self.cancel.is_cancelled() {
            return Error::Cancelled;
        }
        Error::AdbServer {
            addr: self.addr_text(),
            detail: err.to_string(),
        }
    }

    /// Opens a socket and sends one `host:` request, leaving the socket after `OKAY`.
    pub fn host_request(&self, request: &str) -> Result<CancellableStream> {
        let mut stream = self.socket().map_err(|e| self.server_error(&e))?;
        send_request(&mut stream, request).map_err(|e| match e {
            RequestError::Io(e) => self.server_error(&e),
            RequestError::Refused(message) => Error::ServerRefused {
                request: request.to_string(),
                message,
            },
        })?;
        Ok(stream)
    }

    /// A `host:` request whose answer is one length-prefixed string.
    pub fn host_query(&self, request: &str) -> Result<Vec<u8>> {
        let mut stream = self.host_request(request)?;
        read_length_prefixed(&mut stream).map_err(|e| self.server_error(&e))
    }

    /// Every handset the server knows.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>> {
        let text = self.host_query("host:devices-l")?;
        Ok(parse_devices_l(&String::from_utf8_lossy(&text)))
    }

    /// The features a handset and the server both support.
    pub fn features(&self, serial: &str) -> Result<Vec<String>> {
        let text = self.host_query(&format!("host-serial:{serial}:features"))?;
        Ok(parse_features(&String::from_utf8_lossy(&text)))
    }
}

/// Why a smart-socket request did not get `OKAY`.
#[derive(Debug)]
pub(crate) enum RequestError {
    Io(io::Error),
    Refused(String),
}

impl From<io::Error> for RequestError {
    fn from(err: io::Error) -> Self {
        RequestError::Io(err)
    }
}

/// `0012host:version` style framing: four hex digits of length, then the payload.
pub fn encode_request(request: &str) -> Vec<u8> {
    let mut out = format!("{:04x}", request.len()).into_bytes();
    out.extend_from_slice(request.as_bytes());
    out
}

/// Sends a request and reads `OKAY`, or `FAIL` with its message.
pub(crate) fn send_request(
    stream: &mut TcpStream,
    request: &str,
) -> std::result::Result<(), RequestError> {
    stream.write_all(&encode_request(request))?;
    let mut status = [0u8; 4];
    stream.read_exact(&mut status)?;
    match &status {
        b"OKAY" => Ok(()),
        b"FAIL" => {
            let message = read_length_prefixed(stream)?;
            Err(RequestError::Refused(
                String::from_utf8_lossy(&message).into_owned(),
            ))
        }
        other => Err(RequestError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the adb server answered {:?} instead of OKAY or FAIL",
                String::from_utf8_lossy(other)
            ),
        ))),
    }
}

/// Reads four hex digits of length and that many bytes.
pub(crate) fn read_length_prefixed(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = parse_hex_len(&len).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad length prefix {:?}", String::from_utf8_lossy(&len)),
        )
    })?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Four ASCII hex digits as a length.
pub fn parse_hex_len(digits: &[u8; 4]) -> Option<usize> {
    let text = std::str::from_utf8(digits).ok()?;
    usize::from_str_radix(text, 16).ok()
}

/// Parses the answer of `host:devices-l` (also each message of `host:track-devices-l`):
/// `SERIAL  STATE key:value key:value...` per line, with any run of spaces between fields.
pub fn parse_devices_l(text: &str) -> Vec<DeviceInfo> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let serial = fields.next()?.to_string();
            let state_word = fields.next()?;
            let mut info = DeviceInfo {
                serial,
                state: parse_state(state_word),
                model: None,
                product: None,
                device: None,
                transport_id: None,
            };
            // The state "no permissions" spans words and may carry a hint in brackets: skip
            // anything until the key:value pairs.
            for field in fields {
                let Some((key, value)) = field.split_once(':') else {
                    continue;
                };
                match key {
                    "model" => info.model = Some(value.to_string()),
                    "product" => info.product = Some(value.to_string()),
                    "device" => info.device = Some(value.to_string()),
                    "transport_id" => info.transport_id = value.parse().ok(),
                    _ => {}
                }
            }
            Some(info)
        })
        .collect()
}

fn parse_state(word: &str) -> DeviceState {
    match word {
        "device" => DeviceState::Device,
        "unauthorized" => DeviceState::Unauthorized,
        "offline" => DeviceState::Offline,
        _ => DeviceState::Other,
    }
}

/// Parses a comma-separated feature list.
pub fn parse_features(text: &str) -> Vec<String> {
    text.trim()
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// The server's port: the option, else `ANDROID_ADB_SERVER_PORT`, else 5037.
pub(crate) fn resolve_port(option: Option<u16>) -> u16 {
    option
        .or_else(|| {
            std::env::var("ANDROID_ADB_SERVER_PORT")
                .ok()
                .and_then(|p| p.trim().parse().ok())
        })
        .unwrap_or(DEFAULT_PORT)
}

/// Finds the `adb` program: the option (`--adb`, which clap also fills from `$ADB`), else
/// `$ADB`, else the first `adb` on `PATH`.
///
/// # Errors
/// `AdbNotFound` naming the places searched and how to install adb.
pub fn find_adb(option: Option<&Path>) -> Result<PathBuf> {
    let explicit = option
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("ADB").map(PathBuf::from));
    if let Some(path) = explicit {
        // A bare name ("adb") still means "look on PATH".
        if path.components().count() > 1 || path.is_absolute() {
            return if path.is_file() {
                Ok(path)
            } else {
                Err(Error::AdbNotFound {
                    searched: format!("{} does not exist", path.display()),
                    how_to_install: HOW_TO_INSTALL_ADB,
                })
            };
        }
        return search_path(path.as_os_str());
    }
    search_path(&OsString::from(if cfg!(windows) {
        "adb.exe"
    } else {
        "adb"
    }))
}

fn search_path(name: &std::ffi::OsStr) -> Result<PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::AdbNotFound {
            searched: format!("no {} on PATH", name.to_string_lossy()),
            how_to_install: HOW_TO_INSTALL_ADB,
        })
}

/// Checks that a server answers `host:version`; when none listens, starts one with the `adb`
/// program and waits for it.
///
/// Why not `adb_client::server::ADBServer::start`: it lets `adb start-server` write its
/// "daemon not running; starting now" lines to our terminal (the library never prints) and
/// only logs a failure, so we could not say why the server did not start. Here the port goes
/// to the child through `ANDROID_ADB_SERVER_PORT` (the adb program reads nothing else), its
/// stderr goes to a temp file (not a pipe: the forked server could hold a pipe open) and is
/// quoted in the error when the start fails.
pub(crate) fn ensure_running(endpoint: &Endpoint, adb_program: Option<&Path>) -> Result<u32> {
    match query_version(endpoint) {
        Ok(version) => return Ok(version),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {}
        Err(err) => return Err(endpoint.server_error(&err)),
    }
    let adb = find_adb(adb_program)?;
    let failed = |detail: String| Error::AdbServer {
        addr: endpoint.addr_text(),
        detail: format!("`{} start-server`: {detail}", adb.display()),
    };
    let mut log = tempfile::tempfile().map_err(|e| failed(e.to_string()))?;
    let stderr = log.try_clone().map_err(|e| failed(e.to_string()))?;
    let mut child = Command::new(&adb)
        .arg("start-server")
        .env("ANDROID_ADB_SERVER_PORT", endpoint.port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let deadline = Instant::now() + endpoint.timeout.max(Duration::from_secs(10));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed("did not finish in time".into()));
            }
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    let mut said = || {
        let mut text = String::new();
        let _ = log.seek(SeekFrom::Start(0));
        let _ = log.read_to_string(&mut text);
        text.trim().replace('\n', "; ")
    };
    if !status.success() {
        return Err(failed(format!("{status}: {}", said())));
    }
    // `adb start-server` returns once the server listens; poll briefly in case it raced.
    let ready_by = Instant::now() + Duration::from_secs(5);
    loop {
        match query_version(endpoint) {
            Ok(version) => return Ok(version),
            Err(err) if Instant::now() >= ready_by => {
                return Err(failed(format!(
                    "the server does not answer: {err} ({})",
                    said()
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn query_version(endpoint: &Endpoint) -> io::Result<u32> {
    let mut stream = endpoint.socket()?;
    match send_request(&mut stream, "host:version") {
        Ok(()) => {}
        Err(RequestError::Io(e)) => return Err(e),
        Err(RequestError::Refused(m)) => return Err(io::Error::other(m)),
    }
    let body = read_length_prefixed(&mut stream)?;
    let text = String::from_utf8_lossy(&body);
    u32::from_str_radix(text.trim(), 16)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad version {text:?}")))
}

/// Reads one device list from a `host:track-devices-l` stream.
pub(crate) fn read_tracked(stream: &mut TcpStream) -> io::Result<Vec<DeviceInfo>> {
    let body = read_length_prefixed(stream)?;
    Ok(parse_devices_l(&String::from_utf8_lossy(&body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_framing() {
        assert_eq!(encode_request("host:version"), b"000chost:version");
        assert_eq!(parse_hex_len(b"001f"), Some(31));
        assert_eq!(parse_hex_len(b"zz00"), None);
    }

    #[test]
    fn devices_l_as_adb_29_prints_them() {
        // Captured from adb 29.0.6 with two handsets over TCP, one unauthorized, one offline.
        let text = "127.0.0.1:40001         device product:shiba model:Pixel_8 device:shiba transport_id:1\n\
                    127.0.0.1:40002         unauthorized transport_id:2\n\
                    emulator-5554          offline transport_id:3\n\
                    0123456789ABCDEF       no permissions (user in plugdev group; are your udev rules wrong?); see [http://developer.android.com/tools/device.html] usb:1-1 transport_id:4\n";
        let devices = parse_devices_l(text);
        assert_eq!(devices.len(), 4);
        assert_eq!(
            devices[0],
            DeviceInfo {
                serial: "127.0.0.1:40001".into(),
                state: DeviceState::Device,
                model: Some("Pixel_8".into()),
                product: Some("shiba".into()),
                device: Some("shiba".into()),
                transport_id: Some(1),
            }
        );
        assert_eq!(devices[1].state, DeviceState::Unauthorized);
        assert_eq!(devices[1].model, None);
        assert_eq!(devices[1].transport_id, Some(2));
        assert_eq!(devices[2].state, DeviceState::Offline);
        assert_eq!(devices[3].state, DeviceState::Other);
        assert_eq!(devices[3].transport_id, Some(4));
        assert!(parse_devices_l("").is_empty());
        assert!(parse_devices_l("\n").is_empty());
    }

    #[test]
    fn features_list() {
        assert_eq!(
            parse_features("shell_v2,cmd,stat_v2,ls_v2,fixed_push_mkdir\n"),
            ["shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir"]
        );
        assert!(parse_features("").is_empty());
    }

    #[test]
    fn length_prefixed_body() {
        let mut bytes: &[u8] = b"0005hello0000";
        assert_eq!(read_length_prefixed(&mut bytes).unwrap(), b"hello");
        assert_eq!(read_length_prefixed(&mut bytes).unwrap(), b"");
    }
}

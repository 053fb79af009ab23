//! A small WebDriver client for chromedriver driving headless Chromium, with the minimal
//! HTTP/1.1 client it speaks through (the desktop client's API speaks plain HTTP too).
//!
//! Shared by the browser tests (`tests/ui_common/mod.rs` includes it) and by the benchmark's
//! row B7 (`bench/src/ui_row.rs` includes it by path), so it depends on nothing of either:
//! only `serde_json`, `tempfile` and `base64`. Every step has a form that returns an error
//! (the benchmark reports failures in its table and goes on) and, for the tests, one that
//! panics with the reason.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

// ---- a minimal HTTP/1.1 client ----

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or why it is not JSON (with the start of the body).
    pub fn try_json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(2000)])
            )
        })
    }

    pub fn json(&self) -> Value {
        self.try_json().unwrap_or_else(|why| panic!("{why}"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&body[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
}

/// One request on a fresh connection; `Host` is `127.0.0.1:PORT` unless given.
///
/// # Errors
/// When the connection cannot be made, breaks, or the reply has no status line.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Reply, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| format!("cannot set a read timeout: {e}"))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        let _ = write!(request, "Host: 127.0.0.1:{port}\r\n");
    }
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    if let Some(body) = body {
        let _ = write!(request, "Content-Length: {}\r\n", body.len());
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    stream
        .write_all(&bytes)
        .map_err(|e| format!("sending {method} {path}: {e}"))?;
    let read_error = |e: std::io::Error| format!("reading the reply to {method} {path}: {e}");
    // Read the head, then exactly the body it announces: chromedriver keeps the connection
    // open whatever `Connection: close` says.
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).map_err(read_error)?;
        if n == 0 {
            return Err(format!(
                "the connection closed before the headers of {method} {path}: {:?}",
                String::from_utf8_lossy(&raw)
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in the reply to {method} {path}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if let Some(length) = find("content-length").and_then(|l| l.parse::<usize>().ok()) {
        while body.len() < length {
            let n = stream.read(&mut buf).map_err(read_error)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body.truncate(length);
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut buf).map_err(read_error)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body = dechunk(&body);
    } else {
        stream.read_to_end(&mut body).map_err(read_error)?;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// [`try_http`] for the tests: a failure to talk HTTP panics with the reason.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    try_http(port, method, path, headers, body).unwrap_or_else(|why| panic!("{why}"))
}

// ---- a small WebDriver client for chromedriver ----

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Debian's Chromium, unless `PHONEVAULT_CHROMIUM` names another build.
pub fn chromium_program() -> PathBuf {
    std::env::var_os("PHONEVAULT_CHROMIUM")
        .map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from)
}

/// Whether `program` is an executable file, by path or on `PATH`.
pub fn program_exists(program: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let runnable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return runnable(program);
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| runnable(&dir.join(program))))
}

/// What is missing to drive a browser (chromedriver, Chromium), as a sentence; `None` when
/// both are there.
pub fn missing_browser() -> Option<String> {
    let mut missing = Vec::new();
    if !program_exists(Path::new("chromedriver")) {
        missing.push("chromedriver (Debian package chromium-driver)".to_owned());
    }
    let chromium = chromium_program();
    if !program_exists(&chromium) {
        missing.push(format!(
            "Chromium at {} (Debian package chromium)",
            chromium.display()
        ));
    }
    (!missing.is_empty()).then(|| format!("{} not installed", missing.join(" and ")))
}

/// A headless Chromium under chromedriver, with a fresh profile, in one WebDriver session;
/// both end on drop.
pub struct Browser {
    pub driver: Child,
    pub port: u16,
    pub session: String,
    pub _profile: tempfile::TempDir,
    pub shots: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a session: headless, `--no-sandbox`, a fresh profile, no
    /// background networking, a 1400x900 window. Screenshots go to `shots`.
    ///
    /// # Errors
    /// When chromedriver or Chromium cannot be started.
    pub fn launch(shots: &Path) -> Result<Browser, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for chromedriver: {e}"))?
            .port();
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start chromedriver ({e}; Debian package chromium-driver, which \
                     scripts/test.sh installs)"
                )
            })?;
        let mut stop_driver = |why: String| {
            let _ = driver.kill();
            let _ = driver.wait();
            why
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() >= deadline {
                return Err(stop_driver(
                    "chromedriver did not listen within 20 s".into(),
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
        let profile = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(e) => return Err(stop_driver(format!("no folder for a browser profile: {e}"))),
        };
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1400,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium_program(), "args": args},
        }}});
        let session = try_http(
            port,
            "POST",
            "/session",
            &[("Content-Type", "application/json")],
            Some(caps.to_string().as_bytes()),
        )
        .and_then(|reply| reply.try_json())
        .and_then(|value| {
            value["value"]["sessionId"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("no WebDriver session: {value}"))
        });
        let session = match session {
            Ok(session) => session,
            Err(why) => return Err(stop_driver(why)),
        };
        if let Err(e) = fs::create_dir_all(shots) {
            return Err(stop_driver(format!(
                "cannot make the screenshot folder {}: {e}",
                shots.display()
            )));
        }
        Ok(Browser {
            driver,
            port,
            session,
            _profile: profile,
            shots: shots.to_owned(),
        })
    }

    /// A WebDriver command; the `value` of its answer, or `Err` with the error object (a
    /// string when the command did not get through).
    pub fn try_cmd(
        &self,
        method: &str,
        suffix: &str,
        body: Option<&Value>,
    ) -> Result<Value, Value> {
        let path = format!("/session/{}{suffix}", self.session);
        let text = body.map(Value::to_string);
        let reply = try_http(
            self.port,
            method,
            &path,
            &[("Content-Type", "application/json")],
            text.as_deref().map(str::as_bytes),
        )
        .map_err(Value::String)?;
        let value = reply.try_json().map_err(Value::String)?["value"].clone();
        if reply.status == 200 {
            Ok(value)
        } else {
            Err(value)
        }
    }

    pub fn cmd(&self, method: &str, suffix: &str, body: Option<&Value>) -> Value {
        self.try_cmd(method, suffix, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {suffix} failed: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })));
    }

    pub fn exec(&self, script: &str, args: &[Value]) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// Runs an asynchronous `script` (its last argument is the callback that ends it) for at
    /// most `timeout`; what it passed to the callback.
    ///
    /// # Errors
    /// The WebDriver error object, e.g. a script timeout.
    pub fn try_exec_async(
        &self,
        script: &str,
        args: &[Value],
        timeout: Duration,
    ) -> Result<Value, Value> {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.try_cmd("POST", "/timeouts", Some(&json!({ "script": ms })))?;
        self.try_cmd(
            "POST",
            "/execute/async",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// Runs `script` until it returns something truthy; that value.
    pub fn wait_for(&self, what: &str, script: &str, args: &[Value], timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.exec(script, args);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() >= deadline {
                self.screenshot(&format!("timeout-{}", what.replace(' ', "-")));
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            thread::sleep(Duration::from_millis(40));
        }
    }

    /// Waits until an element matches `css`.
    pub fn wait_for_element(&self, what: &str, css: &str, timeout: Duration) {
        self.wait_for(
            what,
            "return document.querySelector(arguments[0]) !== null",
            &[json!(css)],
            timeout,
        );
    }

    pub fn find(&self, css: &str) -> Value {
        let found = self.cmd(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": css })),
        );
        found[ELEMENT].clone()
    }

    /// `POST /element/ID/COMMAND` on the first element matching `css`.
    fn element_command(&self, css: &str, command: &str, body: &Value) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{}/{command}", id.as_str().expect("an element id")),
            Some(body),
        );
    }

    pub fn click(&self, css: &str) {
        self.element_command(css, "click", &json!({}));
    }

    /// A click with a modifier key held (`\u{E008}` Shift, `\u{E009}` Control).
    pub fn click_with(&self, css: &str, key: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            "/actions",
            Some(&json!({ "actions": [
                { "type": "key", "id": "keyboard", "actions": [
                    { "type": "keyDown", "value": key },
                    { "type": "pause", "duration": 0 },
                    { "type": "pause", "duration": 0 },
                    { "type": "pause", "duration": 0 },
                    { "type": "keyUp", "value": key },
                ]},
                { "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" }, "actions": [
                    { "type": "pause", "duration": 0 },
                    { "type": "pointerMove", "duration": 0, "origin": { ELEMENT: id }, "x": 0, "y": 0 },
                    { "type": "pointerDown", "button": 0 },
                    { "type": "pointerUp", "button": 0 },
                    { "type": "pause", "duration": 0 },
                ]},
            ]})),
        );
        self.cmd("DELETE", "/actions", None);
    }

    /// Types into a field as a person would (key events).
    pub fn type_into(&self, css: &str, text: &str) {
        self.element_command(css, "value", &json!({ "text": text }));
    }

    /// Empties a text field.
    pub fn clear(&self, css: &str) {
        self.element_command(css, "clear", &json!({}));
    }

    /// The text of the first element matching `css` (empty when there is none).
    pub fn text_of(&self, css: &str) -> String {
        let value = self.exec(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''",
            &[json!(css)],
        );
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Saves the page as `NAME.png` in the screenshot folder (best effort).
    pub fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        if let Ok(Value::String(png)) = self.try_cmd("GET", "/screenshot", None) {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(png) {
                let _ = fs::write(self.shots.join(format!("{name}.png")), bytes);
            }
        }
    }

    /// The text of an open `alert()`, if one is open.
    pub fn alert(&self) -> Option<String> {
        self.try_cmd("GET", "/alert/text", None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.try_cmd("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

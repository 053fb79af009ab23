//! What the browser tests share: a minimal HTTP/1.1 client (WebDriver and the server's API
//! both speak plain HTTP), a running `phonevault ui`, and a small WebDriver client for
//! chromedriver driving headless Chromium. Used by `tests/ui.rs`, `tests/ui_restore.rs` and
//! `tests/ui_auto.rs`.

#![allow(dead_code)] // each test file uses its own part

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{free_port, wait_timeout, TestEnv};

// ---- a minimal HTTP/1.1 client (WebDriver and the server's API both speak plain HTTP) ----

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

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(2000)])
            )
        })
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
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("cannot connect to 127.0.0.1:{port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("a read timeout");
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
    stream.write_all(&bytes).expect("sending a request");
    // Read the head, then exactly the body it announces: chromedriver keeps the connection
    // open whatever `Connection: close` says.
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).expect("reading a reply");
        assert!(
            n > 0,
            "the connection closed before the headers: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
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
            let n = stream.read(&mut buf).expect("reading a body");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body.truncate(length);
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut buf).expect("reading a chunked body");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body = dechunk(&body);
    } else {
        stream.read_to_end(&mut body).expect("reading a body");
    }
    Reply {
        status,
        headers,
        body,
    }
}

// ---- the server under test ----

/// A running `phonevault ui`.
pub struct Ui {
    pub child: Child,
    pub port: u16,
    pub token: String,
}

impl Ui {
    pub fn start(env: &TestEnv, extra: &[&str]) -> Ui {
        Ui::start_with(env, extra, &[])
    }

    pub fn start_with(env: &TestEnv, extra: &[&str], vars: &[(&str, &str)]) -> Ui {
        let mut child = env
            .command(env!("CARGO_BIN_EXE_phonevault"))
            .args(["ui", "--no-open"])
            .args(extra)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting phonevault ui");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("phonevault ui prints its address");
        let url = first
            .strip_prefix("phonevault ui: ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .unwrap_or_else(|| panic!("not a loopback address: {url}"));
        let (port, token) = rest.split_once("/?token=").expect("a token in the address");
        assert_eq!(token.len(), 64, "a 256-bit token as hex: {token}");
        Ui {
            child,
            port: port.parse().expect("a port"),
            token: token.to_owned(),
        }
    }

    pub fn launch_url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// `GET` with the bearer token, as a script would.
    pub fn get(&self, path: &str) -> Reply {
        http(
            self.port,
            "GET",
            path,
            &[("Authorization", &self.bearer())],
            None,
        )
    }

    /// This server's own origin, as the page's requests name it.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `POST` of a JSON body: the `credential` header if any, the content type, then `extra`.
    fn post_json(
        &self,
        credential: Option<(&str, &str)>,
        path: &str,
        extra: &[(&str, &str)],
        body: &Value,
    ) -> Reply {
        let mut headers: Vec<(&str, &str)> = credential.into_iter().collect();
        headers.push(("Content-Type", "application/json"));
        headers.extend_from_slice(extra);
        http(
            self.port,
            "POST",
            path,
            &headers,
            Some(body.to_string().as_bytes()),
        )
    }

    /// `POST` of a JSON body with the bearer token, as a script would.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_with(path, &[], body)
    }

    /// [`Ui::post`] with `extra` headers after the bearer token and the content type.
    pub fn post_with(&self, path: &str, extra: &[(&str, &str)], body: &Value) -> Reply {
        let bearer = self.bearer();
        self.post_json(Some(("Authorization", &bearer)), path, extra, body)
    }

    /// `POST` of a JSON body with the page's session `cookie` (`name=value`) and the `extra`
    /// headers a browser adds to say where a request comes from.
    pub fn post_with_cookie(
        &self,
        cookie: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: &Value,
    ) -> Reply {
        self.post_json(Some(("Cookie", cookie)), path, extra, body)
    }

    /// `POST` of a JSON body as the page itself sends it: its cookie, from its own origin.
    pub fn post_from_page(&self, cookie: &str, path: &str, body: &Value) -> Reply {
        let origin = self.origin();
        let page = [
            ("Origin", origin.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
        ];
        self.post_with_cookie(cookie, path, &page, body)
    }

    /// `POST` of a JSON body from this server's own origin but with no credential at all.
    pub fn post_without_credential(&self, path: &str, body: &Value) -> Reply {
        let origin = self.origin();
        self.post_json(None, path, &[("Origin", &origin)], body)
    }

    /// Waits until the server lists `serial` as usable.
    pub fn wait_for_phone(&self, serial: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let phones = self.get("/api/phones").json();
            let usable = phones["phones"].as_array().is_some_and(|p| {
                p.iter()
                    .any(|p| p["serial"] == serial && p["state"] == "device")
            });
            if usable {
                return;
            }
            assert!(Instant::now() < deadline, "{serial} never listed: {phones}");
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn media(&self, serial: &str) -> Value {
        let reply = self.get(&format!("/api/phones/{serial}/media"));
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    /// Waits for the process to end by itself; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_timeout(&mut self.child, timeout).map(|s| s.code().unwrap_or(-1))
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The selector of a phone's button in the page's phone list.
pub fn phone_button(serial: &str) -> String {
    format!("#phones button[data-serial=\"{serial}\"]")
}

/// The headers a browser adds to a request from anywhere but the page itself: from another
/// site, from a sibling site, from an opaque origin (`null`), and with no origin at all. A
/// change asked with any of them must be refused, whatever its credential.
pub const NOT_FROM_THE_PAGE: [&[(&str, &str)]; 4] = [
    &[
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ],
    &[("Sec-Fetch-Site", "same-site")],
    &[("Origin", "null")],
    &[],
];

// ---- a small WebDriver client for chromedriver ----

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    pub driver: Child,
    pub port: u16,
    pub session: String,
    pub _profile: tempfile::TempDir,
    pub shots: PathBuf,
}

impl Browser {
    pub fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver; scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("a browser profile dir");
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
        // Debian's Chromium; `PHONEVAULT_CHROMIUM` names another build.
        let chromium =
            std::env::var("PHONEVAULT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let reply = http(
            port,
            "POST",
            "/session",
            &[("Content-Type", "application/json")],
            Some(caps.to_string().as_bytes()),
        );
        let value = reply.json();
        let session = value["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {value}"))
            .to_owned();
        let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("ui-screenshots");
        fs::create_dir_all(&shots).expect("the screenshot folder");
        Browser {
            driver,
            port,
            session,
            _profile: profile,
            shots,
        }
    }

    /// A WebDriver command; the `value` of its answer, or `Err` with the error object.
    pub fn try_cmd(
        &self,
        method: &str,
        suffix: &str,
        body: Option<&Value>,
    ) -> Result<Value, Value> {
        let path = format!("/session/{}{suffix}", self.session);
        let text = body.map(Value::to_string);
        let reply = http(
            self.port,
            method,
            &path,
            &[("Content-Type", "application/json")],
            text.as_deref().map(str::as_bytes),
        );
        let value = reply.json()["value"].clone();
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

    /// Opens `ui`'s page by its launch address and waits until it lists `serial`; the
    /// selector of that phone's button.
    pub fn open_listing(&self, ui: &Ui, serial: &str) -> String {
        self.goto(&ui.launch_url());
        let button = phone_button(serial);
        self.wait_for_element("the phone in the list", &button, Duration::from_secs(30));
        button
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

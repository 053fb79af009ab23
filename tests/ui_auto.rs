//! Automatic backups in `phonevault ui`: a phone's setting made by clicking in the page
//! (saved in the config file the CLI uses, keyed by hardware serial, with no password), the
//! watcher inside the ui backing the phone up when it is plugged in while the page is open,
//! "last backed up" and the history on the page; and the settings route's refusals.
//!
//! The HTTP and WebDriver clients below are copied from tests/ui.rs (only what is used here)
//! until they move to a shared module.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_success, free_port, stdout_json, wait_timeout, HandsetSpec, Populate, TestEnv,
};
use serde_json::{json, Value};

// ---- a minimal HTTP/1.1 client (WebDriver and the server's API both speak plain HTTP) ----

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(2000)])
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
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
fn http(
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
struct Ui {
    child: Child,
    port: u16,
    token: String,
}

impl Ui {
    fn start_with(env: &TestEnv, extra: &[&str], vars: &[(&str, &str)]) -> Ui {
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

    fn launch_url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// `GET` with the bearer token, as a script would.
    fn get(&self, path: &str) -> Reply {
        http(
            self.port,
            "GET",
            path,
            &[("Authorization", &self.bearer())],
            None,
        )
    }

    /// Waits until the server lists `serial` as usable.
    fn wait_for_phone(&self, serial: &str) {
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
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- a small WebDriver client for chromedriver ----

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    fn start() -> Browser {
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
    fn try_cmd(&self, method: &str, suffix: &str, body: Option<&Value>) -> Result<Value, Value> {
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

    fn cmd(&self, method: &str, suffix: &str, body: Option<&Value>) -> Value {
        self.try_cmd(method, suffix, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {suffix} failed: {e}"))
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })));
    }

    fn exec(&self, script: &str, args: &[Value]) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// Runs `script` until it returns something truthy; that value.
    fn wait_for(&self, what: &str, script: &str, args: &[Value], timeout: Duration) -> Value {
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

    fn find(&self, css: &str) -> Value {
        let found = self.cmd(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": css })),
        );
        found[ELEMENT].clone()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{}/click", id.as_str().expect("an element id")),
            Some(&json!({})),
        );
    }

    /// Types into a field as a person would (key events).
    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{}/value", id.as_str().expect("an element id")),
            Some(&json!({ "text": text })),
        );
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        if let Ok(Value::String(png)) = self.try_cmd("GET", "/screenshot", None) {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(png) {
                let _ = fs::write(self.shots.join(format!("{name}.png")), bytes);
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.try_cmd("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

// ---- the tests ----

impl Browser {
    /// Empties a text field.
    fn clear(&self, css: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{}/clear", id.as_str().expect("an element id")),
            Some(&json!({})),
        );
    }

    /// The text of the first element matching `css` (empty when there is none).
    fn text_of(&self, css: &str) -> String {
        let value = self.exec(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''",
            &[json!(css)],
        );
        value.as_str().unwrap_or_default().to_owned()
    }
}

/// The hardware serial of the test phone (the adb serial is `127.0.0.1:PORT`).
const HW: &str = "AUTOUI001";

fn small() -> Populate {
    Populate {
        photos: 4,
        photo_size: None,
        videos: 1,
        whatsapp: 4,
        huge: false,
        seed: 7,
    }
}

/// Phone paths of the handset's Gallery items, from its truth file.
fn gallery_paths(truth: &Value) -> BTreeSet<String> {
    truth
        .as_array()
        .expect("a truth array")
        .iter()
        .filter(|r| r["include"] == true && r["source"] == "gallery")
        .map(|r| r["path"].as_str().expect("a path").to_owned())
        .collect()
}

fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|e| e == "zip"));
    found.sort();
    found
}

/// The phone paths an archive holds, through `phonevault show --json`.
fn archive_paths(env: &TestEnv, archive: &Path) -> BTreeSet<String> {
    let out = env.phonevault(&["show", archive.to_str().expect("a UTF-8 path"), "--json"]);
    assert_success(&out, "show --json");
    let value = stdout_json(&out);
    value["items"]
        .as_array()
        .or_else(|| value.as_array())
        .unwrap_or_else(|| panic!("show --json has no items: {value}"))
        .iter()
        .map(|i| i["path"].as_str().expect("a path").to_owned())
        .collect()
}

/// Set up by clicking, plugged in while the page is open: backed up with no other action,
/// "last backed up" and the history on the page. The settings route's refusals first.
#[test]
fn a_phone_set_up_in_the_page_is_backed_up_when_plugged_in_and_the_page_says_so() {
    let started = Instant::now();
    let env = TestEnv::new();
    let config = env.path().join("settings/auto.toml");
    let history = env.path().join("runs/history.jsonl");
    let to = env.path().join("auto-backups");
    let spec = || HandsetSpec::android14().serial(HW);
    let mut phone = env.start_handset(spec().populate(small()));
    let serial = phone.serial();
    // `--config` as a flag and the history through its environment variable, as the CLI.
    let ui = Ui::start_with(
        &env,
        &["--config", config.to_str().expect("a UTF-8 path")],
        &[(
            "PHONEVAULT_HISTORY",
            history.to_str().expect("a UTF-8 path"),
        )],
    );
    ui.wait_for_phone(&serial);

    settings_route_refusals(&env, &ui, &serial, &config);

    let browser = Browser::start();
    browser.goto(&ui.launch_url());
    let phone_button = format!("#phones button[data-serial=\"{serial}\"]");
    browser.wait_for(
        "the phone in the list",
        "return document.querySelector(arguments[0]) !== null",
        &[json!(phone_button)],
        Duration::from_secs(30),
    );
    let last_line = format!("{phone_button} .last-backup");
    browser.wait_for(
        "\"not backed up\" beside the phone",
        "const e = document.querySelector(arguments[0]); \
         return e && e.textContent.startsWith('Not backed up automatically')",
        &[json!(last_line)],
        Duration::from_secs(20),
    );
    set_up_by_clicking(&env, &browser, &phone_button, &to, &config, &serial);
    assert!(
        archives(&to).is_empty(),
        "backed up before being plugged in"
    );

    // Plugged in (served again) while the page is open: nothing else is done.
    let want = gallery_paths(&phone.truth());
    let storage = phone.storage().to_path_buf();
    phone.restart(spec().storage(&storage));
    let deadline = Instant::now() + Duration::from_secs(90);
    let archive = loop {
        let runs = ui.get(&format!("/api/history?serial={HW}")).json();
        if let Some(run) = runs["runs"].as_array().and_then(|r| r.first()) {
            assert_eq!(run["result"], "complete", "{run}");
            break PathBuf::from(run["archive"].as_str().expect("an archive"));
        }
        assert!(Instant::now() < deadline, "no automatic backup: {runs}");
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(archives(&to), std::slice::from_ref(&archive));
    assert_eq!(archive_paths(&env, &archive), want);

    page_shows_the_run(&browser, &last_line, &archive, want.len());
    browser.click("#history-close");
    // Unplugged, it is still listed with its last backup.
    phone.stop();
    let _ = env.adb(&["disconnect", &serial]);
    let away = format!("#auto-known-list li[data-serial=\"{HW}\"] .last-backup");
    browser.wait_for(
        "the unplugged phone with its last backup",
        "const e = document.querySelector(arguments[0]); \
         return e !== null && e.textContent.startsWith('Last backed up')",
        &[json!(away)],
        Duration::from_secs(20),
    );
    browser.screenshot("auto-03-unplugged");
    let runs: Vec<&str> = fs::read_to_string(&history)
        .expect("the history file")
        .lines()
        .map(|_| "run")
        .collect();
    assert_eq!(runs.len(), 1, "one run in the history");
    eprintln!("ui auto test took {:?}", started.elapsed());
}

/// The settings route: refused from another site and without an origin; a password in the
/// body refused; encryption without a password file refused with the reason. Nothing written.
fn settings_route_refusals(env: &TestEnv, ui: &Ui, serial: &str, config: &Path) {
    let port = ui.port;
    let launch = http(port, "GET", &format!("/?token={}", ui.token), &[], None);
    let cookie = launch
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let route = format!("/api/phones/{serial}/auto");
    let folder = env.path().join("cross-site");
    let body = json!({
        "enabled": true,
        "folder": folder.display().to_string(),
        "selection": "everything",
    })
    .to_string();
    let attempts: [&[(&str, &str)]; 4] = [
        &[
            ("Origin", "http://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        &[("Sec-Fetch-Site", "same-site")],
        &[("Origin", "null")],
        &[],
    ];
    for extra in attempts {
        let mut headers = vec![
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        let reply = http(port, "POST", &route, &headers, Some(body.as_bytes()));
        assert_eq!(reply.status, 403, "{extra:?}: {}", reply.text());
        assert_eq!(reply.json()["error"]["kind"], "refused");
    }
    let no_credential = http(
        port,
        "POST",
        &route,
        &[
            ("Content-Type", "application/json"),
            ("Origin", &format!("http://127.0.0.1:{port}")),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(no_credential.status, 401);

    // From the page itself, but asking for what is never done.
    let same_origin = format!("http://127.0.0.1:{port}");
    let page = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/json"),
        ("Origin", same_origin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    let password_file = env.path().join("password.txt");
    fs::write(&password_file, "correct horse\n").expect("a password file");
    let cases = [
        (
            json!({"enabled": true, "folder": folder, "encrypt": true, "password": "hunter2"}),
            "password-not-stored",
        ),
        (
            json!({"enabled": true, "folder": folder, "encrypt": true}),
            "invalid-setting",
        ),
        (
            json!({"enabled": true, "folder": folder, "encrypt": true,
                   "password_file": "password.txt"}),
            "bad-password-file",
        ),
        (
            json!({"enabled": true, "folder": "/tmp/../etc/phonevault"}),
            "bad-folder",
        ),
        (
            json!({"enabled": true, "folder": folder, "every": "sometimes"}),
            "invalid-setting",
        ),
    ];
    for (body, kind) in cases {
        let reply = http(
            port,
            "POST",
            &route,
            &page,
            Some(body.to_string().as_bytes()),
        );
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert_eq!(reply.json()["error"]["kind"], kind, "{body}");
        if kind == "invalid-setting" && body["encrypt"] == true {
            let message = reply.json()["error"]["message"].to_string();
            assert!(message.contains("credential store"), "{message}");
        }
    }
    assert!(!config.exists(), "a refused request wrote the config");
    assert!(!folder.exists());
    let history = ui.get("/api/history").json();
    assert_eq!(history["runs"], json!([]), "{history}");
    let auto = ui.get("/api/auto").json();
    assert_eq!(auto["config_path"], json!(config.display().to_string()));
}

/// On the phone's page: a refused folder explained, then enabled for its Gallery into `to`
/// by clicking; the config file then holds it under the hardware serial, with no password.
fn set_up_by_clicking(
    env: &TestEnv,
    browser: &Browser,
    phone_button: &str,
    to: &Path,
    config: &Path,
    serial: &str,
) {
    browser.click(phone_button);
    browser.click("#auto-summary");
    browser.wait_for(
        "the phone's automatic-backup setting",
        "return document.querySelector('#auto-folder').value !== ''",
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(browser.text_of("#auto-summary"), "Automatic backup: off");
    assert!(
        browser.text_of("#auto-box").contains(
            "credential store (Keychain, Credential Manager, Secret Service) is not supported yet"
        ),
        "the page says the credential store is not supported"
    );

    // A folder the library would refuse: the page says why and nothing is saved.
    browser.click("#auto-enabled");
    browser.clear("#auto-folder");
    browser.type_into("#auto-folder", "relative/folder");
    browser.click("#auto-selection-gallery");
    browser.click("#auto-save");
    let refused = browser.wait_for(
        "the refusal",
        "return document.querySelector('#auto-error').textContent",
        &[],
        Duration::from_secs(20),
    );
    assert!(
        refused.as_str().is_some_and(|t| t.contains("full path")),
        "{refused}"
    );
    assert!(!config.exists(), "a refused setting was saved");

    browser.clear("#auto-folder");
    browser.type_into("#auto-folder", to.to_str().expect("a UTF-8 path"));
    browser.click("#auto-save");
    browser.wait_for(
        "the setting saved",
        "return document.querySelector('#auto-saved').textContent.startsWith('Saved in')",
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(
        browser.text_of("#auto-summary"),
        "Automatic backup: on (Gallery, when plugged in)"
    );
    browser.screenshot("auto-01-setting");
    let saved = fs::read_to_string(config).expect("the config file");
    assert!(saved.contains(&format!("[phones.{HW}]")), "{saved}");
    assert!(saved.contains("enabled = true"), "{saved}");
    assert!(saved.contains("selection = \"gallery\""), "{saved}");
    // No password key (only the header's sentence saying none is kept), nothing typed earlier.
    assert!(
        !saved
            .lines()
            .any(|l| l.trim_start().starts_with("password")),
        "{saved}"
    );
    assert!(!saved.contains("hunter2"), "{saved}");
    assert!(!saved.contains(serial), "keyed by the adb serial: {saved}");
    // The CLI reads the same file.
    let listed = env
        .command(env!("CARGO_BIN_EXE_phonevault"))
        .args(["auto", "list", "--json", "--config"])
        .arg(config)
        .output()
        .expect("auto list");
    assert_success(&listed, "auto list --json");
    let listed = stdout_json(&listed).to_string();
    assert!(
        listed.contains(HW) && listed.contains("gallery"),
        "{listed}"
    );
}

/// "Last backed up" beside the phone and on its page, and the run in the history view.
fn page_shows_the_run(browser: &Browser, last_line: &str, archive: &Path, items: usize) {
    let last = browser.wait_for(
        "\"last backed up\" beside the phone",
        "const e = document.querySelector(arguments[0]); \
         return e && e.textContent.startsWith('Last backed up') ? e.textContent : ''",
        &[json!(last_line)],
        Duration::from_secs(20),
    );
    assert!(
        last.as_str()
            .is_some_and(|t| t.contains(&format!("{items} new items"))),
        "{last}"
    );
    assert!(browser.text_of("#auto-last").starts_with("Last backed up"));
    browser.click("#history-open");
    let row = format!("#history-runs tr[data-serial=\"{HW}\"][data-result=\"complete\"]");
    browser.wait_for(
        "the run in the history",
        "return document.querySelector(arguments[0]) !== null",
        &[json!(row)],
        Duration::from_secs(20),
    );
    let row_text = browser.text_of(&row);
    assert!(
        row_text.contains(archive.to_str().expect("a UTF-8 path")),
        "{row_text}"
    );
    browser.screenshot("auto-02-history");
}

/// A backup from the page is refused, saying why, while the watcher backs the same phone
/// up; once that ends the page's backup starts.
#[test]
fn a_backup_from_the_page_waits_for_the_automatic_one_of_the_same_phone() {
    let env = TestEnv::new();
    let config = env.path().join("auto.toml");
    let to = env.path().join("auto-backups");
    // Enough bytes over a USB 2 link that the automatic backup runs for a few seconds.
    let spec = || HandsetSpec::android14().serial("AUTOUI002").link("usb2");
    let mut phone = env.start_handset(spec().populate(Populate {
        photos: 14,
        photo_size: Some("4M-5M"),
        videos: 0,
        whatsapp: 0,
        huge: false,
        seed: 9,
    }));
    let serial = phone.serial();
    let ui = Ui::start_with(
        &env,
        &["--config", config.to_str().expect("a UTF-8 path")],
        &[],
    );
    ui.wait_for_phone(&serial);
    enable_encrypted(&env, &ui, &serial, &config, &to);
    let ids: Vec<Value> = ui.get(&format!("/api/phones/{serial}/media")).json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].clone())
        .collect();

    let storage = phone.storage().to_path_buf();
    phone.restart(spec().storage(&storage));
    let deadline = Instant::now() + Duration::from_secs(60);
    while ui.get("/api/auto").json()["running"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "no automatic backup started");
        thread::sleep(Duration::from_millis(50));
    }
    ui.wait_for_phone(&serial);
    let by_hand =
        json!({"ids": ids, "folder": env.path().join("by-hand").display().to_string()}).to_string();
    let post_backup = || {
        http(
            ui.port,
            "POST",
            &format!("/api/phones/{serial}/backup"),
            &[
                ("Authorization", &ui.bearer()),
                ("Content-Type", "application/json"),
            ],
            Some(by_hand.as_bytes()),
        )
    };
    let refused = post_backup();
    let still_running = !ui.get("/api/auto").json()["running"]
        .as_array()
        .is_none_or(Vec::is_empty);
    assert!(
        still_running,
        "the automatic backup ended too soon for this check"
    );
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert_eq!(refused.json()["error"]["kind"], "busy");
    let message = refused.json()["error"]["message"].to_string();
    assert!(message.contains("automatic backup"), "{message}");

    // Once it has ended, the page's backup goes ahead.
    let deadline = Instant::now() + Duration::from_secs(90);
    while ui.get("/api/history").json()["runs"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(
            Instant::now() < deadline,
            "the automatic backup never ended"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let run = &ui.get("/api/history").json()["runs"][0];
    assert_eq!(run["result"], "complete", "{run}");
    assert_eq!(run["items"].as_u64(), Some(ids.len() as u64), "{run}");
    let started = post_backup();
    assert_eq!(started.status, 202, "{}", started.text());
    // The automatic archive is encrypted with the file's password, and 7-Zip opens it.
    let archive = run["archive"].as_str().expect("an archive");
    assert!(
        opens_in_7zip(archive, PASSWORD),
        "7-Zip cannot open {archive}"
    );
    assert!(
        !opens_in_7zip(archive, "wrong"),
        "{archive} is not encrypted"
    );
}

const PASSWORD: &str = "tr0ub4dor&3";

/// Enables `serial` through the API, encrypted with [`PASSWORD`] from a password file; the
/// config then names the file and does not hold the password.
fn enable_encrypted(env: &TestEnv, ui: &Ui, serial: &str, config: &Path, to: &Path) {
    // Encrypted, with the password in a file the setting names.
    let password_file = env.path().join("password.txt");
    fs::write(&password_file, format!("{PASSWORD}\n")).expect("a password file");
    let enable = json!({
        "enabled": true,
        "folder": to.display().to_string(),
        "encrypt": true,
        "password_file": password_file.display().to_string(),
    })
    .to_string();
    let saved = http(
        ui.port,
        "POST",
        &format!("/api/phones/{serial}/auto"),
        &[
            ("Authorization", &ui.bearer()),
            ("Content-Type", "application/json"),
        ],
        Some(enable.as_bytes()),
    );
    assert_eq!(saved.status, 200, "{}", saved.text());
    let written = fs::read_to_string(config).expect("the config file");
    assert!(
        written.contains(&format!("password_file = \"{}\"", password_file.display())),
        "{written}"
    );
    assert!(!written.contains(PASSWORD), "the password is in the config");
}

/// Whether `7zz t` accepts `archive` with `password`.
fn opens_in_7zip(archive: &str, password: &str) -> bool {
    Command::new("7zz")
        .args(["t", &format!("-p{password}"), archive])
        .output()
        .expect("7zz (Debian package 7zip)")
        .status
        .success()
}

/// The watcher waits for a backup started from the page: the same phone (hardware serial)
/// seen on a second connection while the page backs it up is backed up automatically only
/// once the page's backup has ended.
#[test]
fn the_watcher_waits_for_a_backup_from_the_page_of_the_same_phone() {
    let env = TestEnv::new();
    let config = env.path().join("auto.toml");
    let to = env.path().join("auto-backups");
    // The first connection freezes during the page's backup, which so runs until cancelled.
    let first = env.start_handset(
        HandsetSpec::android14()
            .serial("AUTOUI003")
            .fault("stall-after=3M")
            .populate(Populate {
                photos: 3,
                photo_size: Some("2M-3M"),
                videos: 0,
                whatsapp: 0,
                huge: false,
                seed: 11,
            }),
    );
    let serial = first.serial();
    let ui = Ui::start_with(
        &env,
        &["--config", config.to_str().expect("a UTF-8 path")],
        &[],
    );
    ui.wait_for_phone(&serial);
    let post = |path: &str, body: &Value| {
        http(
            ui.port,
            "POST",
            path,
            &[
                ("Authorization", &ui.bearer()),
                ("Content-Type", "application/json"),
            ],
            Some(body.to_string().as_bytes()),
        )
    };
    let saved = post(
        &format!("/api/phones/{serial}/auto"),
        &json!({"enabled": true, "folder": to.display().to_string(), "selection": "gallery"}),
    );
    assert_eq!(saved.status, 200, "{}", saved.text());
    let ids: Vec<Value> = ui.get(&format!("/api/phones/{serial}/media")).json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    let by_hand = post(
        &format!("/api/phones/{serial}/backup"),
        &json!({"ids": ids, "folder": env.path().join("by-hand").display().to_string()}),
    );
    assert_eq!(by_hand.status, 202, "{}", by_hand.text());
    let job = by_hand.json()["job"]["id"].as_u64().expect("a job id");

    // The same phone on a second connection (as USB and Wi-Fi debugging at once).
    let second = env.start_handset(HandsetSpec::android14().serial("AUTOUI003").populate(
        Populate {
            photos: 3,
            videos: 0,
            whatsapp: 2,
            seed: 12,
            ..Populate::default()
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = ui.get("/api/auto").json();
        if view["waiting"] == json!(["AUTOUI003"]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher did not wait: {view}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(500));
    assert!(!to.exists(), "backed up beside the page's backup");
    assert_eq!(ui.get("/api/history").json()["runs"], json!([]));

    let cancelled = post(&format!("/api/jobs/{job}/cancel"), &json!({}));
    assert_eq!(cancelled.status, 200, "{}", cancelled.text());
    let deadline = Instant::now() + Duration::from_secs(90);
    let run = loop {
        let runs = ui.get("/api/history").json();
        if let Some(run) = runs["runs"].as_array().and_then(|r| r.first()) {
            break run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no automatic backup after the page's"
        );
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        ui.get(&format!("/api/jobs/{job}")).json()["job"]["state"],
        "cancelled"
    );
    assert_eq!(run["result"], "complete", "{run}");
    assert_eq!(run["adb_serial"], json!(second.serial()), "{run}");
    let want = gallery_paths(&second.truth());
    let archive = PathBuf::from(run["archive"].as_str().expect("an archive"));
    assert_eq!(archive_paths(&env, &archive), want);
    assert_eq!(ui.get("/api/auto").json()["waiting"], json!([]));
}

impl Ui {
    /// Waits for the process to end by itself; its exit code.
    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_timeout(&mut self.child, timeout).map(|s| s.code().unwrap_or(-1))
    }
}

/// Quitting the page stops the watcher too: an automatic backup on a phone that froze
/// mid-file ends as `interrupted` in the history, and the server exits 0.
#[test]
fn quitting_stops_a_running_automatic_backup() {
    let env = TestEnv::new();
    let config = env.path().join("auto.toml");
    let history = env.path().join("history.jsonl");
    let spec = || {
        HandsetSpec::android14()
            .serial("AUTOUI004")
            .fault("stall-after=2M")
    };
    let mut phone = env.start_handset(spec().populate(Populate {
        photos: 3,
        photo_size: Some("2M-3M"),
        videos: 0,
        whatsapp: 0,
        huge: false,
        seed: 15,
    }));
    let serial = phone.serial();
    let mut ui = Ui::start_with(
        &env,
        &["--config", config.to_str().expect("a UTF-8 path")],
        &[(
            "PHONEVAULT_HISTORY",
            history.to_str().expect("a UTF-8 path"),
        )],
    );
    ui.wait_for_phone(&serial);
    let to = env.path().join("auto-backups");
    let body = json!({"enabled": true, "folder": to.display().to_string()}).to_string();
    let auth = ui.bearer();
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let saved = http(
        ui.port,
        "POST",
        &format!("/api/phones/{serial}/auto"),
        &headers,
        Some(body.as_bytes()),
    );
    assert_eq!(saved.status, 200, "{}", saved.text());
    let storage = phone.storage().to_path_buf();
    phone.restart(spec().storage(&storage));
    let deadline = Instant::now() + Duration::from_secs(60);
    while ui.get("/api/auto").json()["running"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "no automatic backup started");
        thread::sleep(Duration::from_millis(50));
    }
    // Frozen part-way: the run cannot end by itself.
    thread::sleep(Duration::from_secs(1));
    assert!(!history.exists(), "the run ended by itself");

    let quit = http(ui.port, "POST", "/api/quit", &headers, Some(b"{}"));
    assert_eq!(quit.status, 200);
    let stopping = Instant::now();
    assert_eq!(ui.wait_exit(Duration::from_secs(60)), Some(0));
    eprintln!("stopped {:?} after Quit", stopping.elapsed());
    let text = fs::read_to_string(&history).expect("the history file");
    let runs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(runs.len(), 1, "{text}");
    assert_eq!(runs[0]["result"], "interrupted", "{text}");
    assert_eq!(runs[0]["serial"], "AUTOUI004");
    // Nothing half-written is left with a real name.
    let leftovers: Vec<PathBuf> = fs::read_dir(&to)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        leftovers
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "zip" || e == "lock")),
        "{leftovers:?}"
    );
}

//! What the browser tests share: a running `phonevault ui`, and the WebDriver client with its
//! HTTP client (`webdriver.rs`, which the benchmark's row B7 includes too). Used by
//! `tests/ui.rs`, `tests/ui_restore.rs` and `tests/ui_auto.rs`.

#![allow(dead_code)] // each test file uses its own part

mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use webdriver::{http, Browser, Reply};

use crate::common::{wait_timeout, TestEnv};

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

/// What the tests add to the shared WebDriver client.
impl Browser {
    /// A browser whose screenshots go to `target/ui-screenshots/`; panics when chromedriver
    /// or Chromium cannot start.
    pub fn start() -> Browser {
        let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("ui-screenshots");
        Browser::launch(&shots).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Opens `ui`'s page by its launch address and waits until it lists `serial`; the
    /// selector of that phone's button.
    pub fn open_listing(&self, ui: &Ui, serial: &str) -> String {
        self.goto(&ui.launch_url());
        let button = phone_button(serial);
        self.wait_for_element("the phone in the list", &button, Duration::from_secs(30));
        button
    }
}

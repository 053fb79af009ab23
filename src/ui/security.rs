//! What keeps other web pages and other users of this computer away from the server.
//!
//! The server listens on loopback only, but any page open in the user's browser can still
//! send requests to `127.0.0.1:PORT`, and a DNS-rebinding page can even read the answers. So:
//! - every request must carry the session secret: the launch URL's `?token=` once (swapped
//!   for an `HttpOnly; SameSite=Strict` cookie and a redirect that drops it from the address
//!   bar), then the cookie; a script may send `Authorization: Bearer TOKEN` instead;
//! - the `Host` header must name the loopback address and our port (DNS rebinding gives a
//!   foreign name);
//! - a request that changes anything must come from our own origin (`Sec-Fetch-Site`,
//!   `Origin`), so a cross-site form or fetch riding on the cookie is refused;
//! - every answer carries a strict Content-Security-Policy, `nosniff`, `no-referrer` and no
//!   framing.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::sync::Arc;

use super::App;

/// Name of the session cookie.
pub const COOKIE: &str = "phonevault_session";

/// Content-Security-Policy of every answer: our own scripts, styles and images only
/// (thumbnails are same-origin URLs; `blob:` for images a script makes), no framing.
pub const CSP: &str = "default-src 'self'; img-src 'self' blob:; object-src 'none'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A fresh 256-bit secret, as 64 hex digits.
///
/// # Errors
/// When the operating system gives no randomness.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

/// Compares two secrets in time that does not depend on where they first differ.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether the `Host` header names this server on loopback.
pub fn host_allowed(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
}

/// Whether `origin` is this server's own origin.
fn own_origin(origin: &str, port: u16) -> bool {
    origin == format!("http://127.0.0.1:{port}") || origin == format!("http://localhost:{port}")
}

/// How a request proved it holds the session secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Cookie,
    Bearer,
    None,
}

fn credential(headers: &HeaderMap, token: &str) -> Credential {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    if bearer.is_some_and(|b| same_secret(b.trim(), token)) {
        return Credential::Bearer;
    }
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same_secret(value, token));
    if from_cookie {
        Credential::Cookie
    } else {
        Credential::None
    }
}

/// Whether a state-changing request comes from our own page (or a script holding the
/// bearer token, which no other site can have).
fn same_origin(headers: &HeaderMap, port: u16, credential: Credential) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    if fetch_site.is_some_and(|site| site != "same-origin") {
        return false;
    }
    if origin.is_some_and(|o| !own_origin(o, port)) {
        return false;
    }
    // A browser says where a POST comes from; a request that says nothing is only trusted
    // when it proves itself without the cookie a browser would attach on its own.
    fetch_site.is_some() || origin.is_some() || credential == Credential::Bearer
}

/// The `?token=` value of a query string, if any.
fn query_token(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "token")
        .map(|(_, value)| value)
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"error\":{{\"kind\":\"refused\",\"message\":\"{message}\"}}}}"),
    )
        .into_response()
}

/// Middleware run before every route: Host check, token swap, credential and origin checks.
pub async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !host_allowed(headers, app.port) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this server only answers to 127.0.0.1 and localhost on its own port",
        );
    }
    if let Some(given) = query_token(request.uri().query()) {
        if !same_secret(given, &app.token) {
            return refuse(StatusCode::FORBIDDEN, "wrong token");
        }
        // Swap the token for a cookie and drop it from the address bar (and history).
        let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", app.token);
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SEE_OTHER;
        let location = HeaderValue::from_str(request.uri().path())
            .unwrap_or_else(|_| HeaderValue::from_static("/"));
        response.headers_mut().insert(header::LOCATION, location);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        return response;
    }
    let credential = credential(headers, &app.token);
    if credential == Credential::None {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "open the address phonevault ui printed (it carries the session token)",
        );
    }
    let reads_only = matches!(*request.method(), Method::GET | Method::HEAD);
    if !reads_only && !same_origin(headers, app.port, credential) {
        return refuse(
            StatusCode::FORBIDDEN,
            "requests that change anything must come from the phonevault page itself",
        );
    }
    next.run(request).await
}

/// Middleware that adds the protective headers to every answer, refusals included.
pub async fn headers(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if is_api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn host_must_be_loopback_with_our_port() {
        assert!(host_allowed(&headers(&[("host", "127.0.0.1:8080")]), 8080));
        assert!(host_allowed(&headers(&[("host", "localhost:8080")]), 8080));
        assert!(!host_allowed(
            &headers(&[("host", "evil.example:8080")]),
            8080
        ));
        assert!(!host_allowed(&headers(&[("host", "127.0.0.1:8081")]), 8080));
        assert!(!host_allowed(&headers(&[("host", "127.0.0.1")]), 8080));
        assert!(!host_allowed(&HeaderMap::new(), 8080));
    }

    #[test]
    fn cookie_and_bearer_are_credentials() {
        let t = "ab".repeat(32);
        let cookie = format!("other=1; {COOKIE}={t}");
        assert_eq!(
            credential(&headers(&[("cookie", &cookie)]), &t),
            Credential::Cookie
        );
        let bearer = format!("Bearer {t}");
        assert_eq!(
            credential(&headers(&[("authorization", &bearer)]), &t),
            Credential::Bearer
        );
        let wrong = format!("{COOKIE}={}", "cd".repeat(32));
        assert_eq!(
            credential(&headers(&[("cookie", &wrong)]), &t),
            Credential::None
        );
    }

    #[test]
    fn state_changes_need_our_origin() {
        let ok = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://127.0.0.1:9"),
        ]);
        assert!(same_origin(&ok, 9, Credential::Cookie));
        let cross = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(!same_origin(&cross, 9, Credential::Cookie));
        let foreign = headers(&[("origin", "http://evil.example")]);
        assert!(!same_origin(&foreign, 9, Credential::Cookie));
        assert!(!same_origin(&HeaderMap::new(), 9, Credential::Cookie));
        assert!(same_origin(&HeaderMap::new(), 9, Credential::Bearer));
    }

    #[test]
    fn tokens_are_256_bit_hex_and_differ() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

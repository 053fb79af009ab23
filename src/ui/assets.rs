//! The page, embedded in the binary: no build step, nothing fetched from elsewhere.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("static/index.html");
const APP_JS: &str = include_str!("static/app.js");
const STYLE: &str = include_str!("static/style.css");
const BACKUPS_JS: &str = include_str!("static/backups.js");
const RESTORE_JS: &str = include_str!("static/restore.js");
const TILES_JS: &str = include_str!("static/tiles.js");
const ICON: &str = include_str!("static/icon.svg");

// The page changes with the binary, never while it runs: no revalidation needed within a
// session, but a new binary must not be served an old script.
const CACHE: &str = "no-cache";

pub async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        INDEX,
    )
}

/// A script of the page.
pub(super) fn script(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        body,
    )
}

pub async fn app_js() -> impl IntoResponse {
    script(APP_JS)
}

pub async fn tiles_js() -> impl IntoResponse {
    script(TILES_JS)
}

pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        STYLE,
    )
}

pub async fn icon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, CACHE),
        ],
        ICON,
    )
}

pub async fn backups_js() -> impl IntoResponse {
    script(BACKUPS_JS)
}

pub async fn restore_js() -> impl IntoResponse {
    script(RESTORE_JS)
}

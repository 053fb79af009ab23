//! Showing previews: a self-contained HTML contact sheet, and one JSON record per item.
//!
//! Every name in here comes from the phone, so everything is HTML-escaped, and the page's
//! Content-Security-Policy allows no script at all: a name like `<script>` stays text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{format_taken, Gps, NoPicture, Preview, ThumbnailKind};
use crate::catalog::DateSource;
use crate::escape::for_terminal;

/// The JSON record of one preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewRecord {
    pub id: String,
    pub path: String,
    /// RFC 3339, the photo's own wall-clock time; with an offset only when one is known.
    pub taken: Option<String>,
    pub taken_source: Option<DateSource>,
    pub orientation: Option<u8>,
    pub thumbnail: ThumbnailKind,
    /// Why a placeholder has no picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_picture: Option<NoPicture>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub make: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gps: Option<Gps>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One record per preview, in the same order.
pub fn records(previews: &[Preview]) -> Vec<PreviewRecord> {
    previews
        .iter()
        .map(|p| PreviewRecord {
            id: p.item.id.clone(),
            path: p.item.path.clone(),
            taken: p.taken.as_ref().map(format_taken),
            taken_source: p.taken.map(|t| t.source),
            orientation: p.info.orientation,
            thumbnail: p.thumbnail,
            no_picture: p.no_picture,
            width: p.info.width,
            height: p.info.height,
            make: p.info.make.clone(),
            model: p.info.model.clone(),
            gps: p.info.gps,
            notes: p.notes.clone(),
        })
        .collect()
}

/// Escapes text for HTML content and attribute values; control characters and bidi
/// overrides are first made visible, as on a terminal.
fn html(text: &str) -> String {
    let text = for_terminal(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em;background:#fafafa;color:#222}\
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.5em;border-bottom:1px solid #ccc}\
h3{font-size:1em;color:#555}h4{font-size:.9em;color:#777;margin:.8em 0 .3em}\
.day{display:flex;flex-wrap:wrap;gap:8px}\
.tile{width:264px;margin:0;background:#fff;border:1px solid #ddd;padding:4px;font-size:12px;overflow-wrap:anywhere}\
.tile img{display:block;max-width:256px;max-height:256px;margin:auto}\
.ph{width:256px;height:160px;display:flex;align-items:center;justify-content:center;text-align:center;\
background:repeating-linear-gradient(45deg,#eee,#eee 10px,#f6f6f6 10px,#f6f6f6 20px);color:#555}\
.mark{display:inline-block;padding:0 4px;margin-right:3px;border-radius:3px;background:#444;color:#fff;font-size:11px}\
.mark.sent{background:#2a7}.mark.private{background:#a27}.mark.placeholder{background:#888}\
.mark.unreadable{background:#b22}.ph.unreadable{background:#fdecec;color:#900;border:2px dashed #b22}\
.id{color:#888;font-family:monospace}";

/// A self-contained HTML page: tiles grouped by source, album and day, images inline as
/// `data:` URIs, each tile with its item id, name, date, size and marks for Sent, Private
/// and placeholder.
pub fn render_sheet(previews: &[Preview], title: &str) -> String {
    let mut groups: BTreeMap<(&str, &str), BTreeMap<String, Vec<&Preview>>> = BTreeMap::new();
    for p in previews {
        let day = p.taken.map_or_else(
            || "undated".to_owned(),
            |t| t.local.date().format("%Y-%m-%d").to_string(),
        );
        groups
            .entry((p.item.source.as_str(), p.item.album.as_str()))
            .or_default()
            .entry(day)
            .or_default()
            .push(p);
    }
    let mut out = String::new();
    let title = html(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>{STYLE}</style></head>\n<body>\n<h1>{title}</h1>\n<p>{} items</p>\n",
        previews.len()
    );
    let mut last_source = "";
    for ((source, album), days) in &groups {
        if *source != last_source {
            let _ = writeln!(out, "<h2>{}</h2>", html(source));
            last_source = source;
        }
        let _ = writeln!(out, "<section class=\"album\"><h3>{}</h3>", html(album));
        for (day, mut tiles) in days.clone() {
            tiles.sort_by(|a, b| {
                a.taken
                    .map(|t| t.local)
                    .cmp(&b.taken.map(|t| t.local))
                    .then_with(|| a.item.path.cmp(&b.item.path))
            });
            let _ = writeln!(out, "<h4>{day}</h4>\n<div class=\"day\">");
            for p in tiles {
                tile(&mut out, p);
            }
            out.push_str("</div>\n");
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn tile(out: &mut String, p: &Preview) {
    let name = p.item.path.rsplit('/').next().unwrap_or_default();
    let name = html(name);
    let date = p.taken.as_ref().map_or_else(
        || "no date".to_owned(),
        |t| {
            let source = match t.source {
                DateSource::Exif => "EXIF",
                DateSource::Filename => "name",
                DateSource::Mtime => "mtime",
            };
            format!("{} ({source})", format_taken(t))
        },
    );
    let _ = write!(
        out,
        "<figure class=\"tile\" id=\"item-{id}\" data-id=\"{id}\" data-thumbnail=\"{kind}\">",
        id = html(&p.item.id),
        kind = p.thumbnail.as_str()
    );
    match &p.image {
        Some(image) if p.thumbnail != ThumbnailKind::Placeholder => {
            let _ = write!(
                out,
                "<img src=\"data:image/jpeg;base64,{}\" width=\"{}\" height=\"{}\" alt=\"{name}\">",
                base64::engine::general_purpose::STANDARD.encode(&image.jpeg),
                image.width,
                image.height
            );
        }
        _ => {
            let what = match p.no_picture {
                Some(why) if why != NoPicture::NotAPhoto => why.describe(),
                _ => kind_name(p.item.kind),
            };
            let class = if cannot_be_read(p) {
                "ph unreadable"
            } else {
                "ph"
            };
            let _ = write!(
                out,
                "<div class=\"{class}\" data-no-picture=\"{}\">{what}<br>{name}<br>{}<br>{}</div>",
                p.no_picture.map_or("", NoPicture::as_str),
                human_size(p.item.size),
                html(&date)
            );
        }
    }
    out.push_str("<figcaption>");
    if p.item.sent {
        out.push_str("<span class=\"mark sent\">Sent</span>");
    }
    if p.item.private {
        out.push_str("<span class=\"mark private\">Private</span>");
    }
    if cannot_be_read(p) {
        out.push_str("<span class=\"mark unreadable\">cannot be read</span>");
    } else if p.thumbnail == ThumbnailKind::Placeholder {
        out.push_str("<span class=\"mark placeholder\">placeholder</span>");
    }
    let _ = write!(
        out,
        "<span class=\"id\">{}</span><br><b>{name}</b><br>{}<br>{}",
        html(&p.item.id),
        html(&date),
        human_size(p.item.size)
    );
    if let Some(camera) = camera(p) {
        let _ = write!(out, "<br>{}", html(&camera));
    }
    if !p.notes.is_empty() {
        let _ = write!(
            out,
            "<br><small title=\"{}\">notes</small>",
            html(&p.notes.join("; "))
        );
    }
    out.push_str("</figcaption></figure>\n");
}

/// Whether a tile stands for a photo that cannot be read (damaged, or refused by the phone).
fn cannot_be_read(p: &Preview) -> bool {
    matches!(
        p.no_picture,
        Some(NoPicture::Damaged | NoPicture::Unreadable)
    )
}

/// "Make Model" from EXIF, so a tile without a picture still says which camera took it.
fn camera(p: &Preview) -> Option<String> {
    let parts: Vec<&str> = [p.info.make.as_deref(), p.info.model.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn kind_name(kind: crate::catalog::Kind) -> &'static str {
    match kind {
        crate::catalog::Kind::Photo => "photo: no preview",
        crate::catalog::Kind::Video => "video",
        crate::catalog::Kind::Audio => "audio",
        crate::catalog::Kind::Document => "document",
        crate::catalog::Kind::Sticker => "sticker",
        crate::catalog::Kind::Database => "chat database",
        crate::catalog::Kind::Other => "file",
    }
}

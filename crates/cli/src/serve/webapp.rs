//! The officer app's files (`crates/cli/webapp/`), embedded in the binary
//! at build time (docs/OFFICER-APP.md), and the headers that keep the page
//! from loading or sending anything anywhere but this server.

use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "webapp/"]
#[include = "index.html"]
#[include = "app/*.js"]
#[include = "app/*.css"]
#[include = "app/*.svg"]
struct Assets;

/// Nothing but this server: no other origin, no inline script or style,
/// no framing. `blob:`/`data:` images are the app's own thumbnails and
/// camera captures; `mediastream:` the camera preview.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self'; \
font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Adds the page's protective headers to every answer.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
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
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    resp
}

/// `GET /`.
pub async fn index(headers: HeaderMap) -> Response {
    asset("index.html", &headers)
}

/// `GET /app/{file}`.
pub async fn app_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    asset(&format!("app/{file}"), &headers)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// One embedded file, revalidated by its hash (`no-cache`: a new binary
/// serves its own files at once).
fn asset(name: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(name))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// Names of the embedded files.
#[cfg(test)]
fn names() -> impl Iterator<Item = String> {
    Assets::iter().map(|n| n.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_script_are_embedded() {
        let names: Vec<String> = names().collect();
        assert!(names.iter().any(|n| n == "index.html"), "{names:?}");
        assert!(names.iter().any(|n| n == "app/main.js"), "{names:?}");
        assert!(names.iter().any(|n| n == "app/style.css"), "{names:?}");
    }

    #[test]
    fn no_embedded_file_names_another_host() {
        // The CSP stops such a request; this catches the mistake earlier.
        for name in names() {
            let file = Assets::get(&name)
                .map(|f| f.data.into_owned())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&file);
            for needle in ["http://", "https://", "//fonts.", "//cdn"] {
                let hits: Vec<String> = text
                    .match_indices(needle)
                    .map(|(i, _)| text[i..].chars().take(60).collect::<String>())
                    // The SVG namespace, and this laptop itself (in comments).
                    .filter(|s| {
                        !["http://www.w3.org/", "http://127.0.0.1", "http://localhost"]
                            .iter()
                            .any(|ok| s.starts_with(ok))
                    })
                    .collect();
                assert!(hits.is_empty(), "{name} names another host: {hits:?}");
            }
        }
    }
}

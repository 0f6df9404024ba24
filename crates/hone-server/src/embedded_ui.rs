//! The web UI built into the binary (`ui/dist` at compile time, by rust-embed), so `hone serve`
//! works from any folder. Built without the UI (`npm run build` not run first), the binary
//! holds none and serves the API alone, saying so.

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../../ui/dist"]
#[allow_missing = true]
struct Files;

/// Whether this binary was built with the UI in it.
pub fn available() -> bool {
    Files::get("index.html").is_some()
}

/// A file of the UI by its path; any other path is the app's page (its router reads the hash).
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (path, file) = match Files::get(path).filter(|_| !path.is_empty()) {
        Some(file) => (path, file),
        None => match Files::get("index.html") {
            Some(file) => ("index.html", file),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    "this hone was built without its web UI",
                )
                    .into_response()
            }
        },
    };
    let mime = HeaderValue::from_str(file.metadata.mimetype())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    // Vite names built assets by their content: they never change; the page itself may.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        file.data,
    )
        .into_response()
}

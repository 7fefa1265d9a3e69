//! How the site's files and pages travel: the widget's files (`/pkg/...`) carry content hashes
//! in their names when the build made them (`hash-files`), so they are cached for a year as
//! immutable and a revisit downloads nothing but the page; their brotli and gzip variants are
//! made at build time (`cargo leptos build --release --precompress`) and served as they are.
//! Dynamic answers (pages, JSON) are compressed on the fly.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};

use crate::server::state::AppState;

/// A year: the longest lifetime caches honour, for files whose name changes with their content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Files under a fixed name: cached, but checked with the server before each use.
const REVALIDATE: &str = "no-cache";
/// Site assets under a fixed name that rarely change (the favicon).
const ASSET: &str = "public, max-age=86400";

/// The `Cache-Control` of a static file at `path`, `None` for anything that is not one.
pub fn static_cache_control(path: &str, hashed_names: bool) -> Option<&'static str> {
    if path.starts_with("/pkg/") {
        Some(if hashed_names { IMMUTABLE } else { REVALIDATE })
    } else if path == "/favicon.svg" {
        Some(ASSET)
    } else {
        None
    }
}

/// Adds the cache policy to successful answers for static files.
pub async fn cache_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let policy = static_cache_control(request.uri().path(), state.leptos_options.hash_files);
    let mut response = next.run(request).await;
    let served = response.status().is_success() || response.status().as_u16() == 304;
    if let Some(policy) = policy.filter(|_| served)
        && !response.headers().contains_key(header::CACHE_CONTROL)
    {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

/// Whether a dynamic answer of this content type is worth compressing on the fly. The widget's
/// files are left alone: release builds serve them precompressed at the best ratio, and
/// compressing several megabytes of a debug build on every request would only cost time.
fn is_dynamic_text(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "text/html"
        || essence == "text/plain"
        || essence == "application/json"
        || essence.ends_with("+json")
}

/// Brotli or gzip for pages and JSON, at a level that costs little CPU per answer.
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .quality(CompressionLevel::Precise(5))
        .compress_when(DefaultPredicate::new().and(
            |_status: axum::http::StatusCode,
             _version: axum::http::Version,
             headers: &axum::http::HeaderMap,
             _extensions: &axum::http::Extensions| {
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(is_dynamic_text)
            },
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_widget_files_are_immutable_and_others_revalidate() {
        assert_eq!(
            static_cache_control("/pkg/otpgate.Xy12.wasm", true),
            Some(IMMUTABLE)
        );
        assert_eq!(
            static_cache_control("/pkg/otpgate.wasm", false),
            Some(REVALIDATE)
        );
        assert_eq!(static_cache_control("/favicon.svg", true), Some(ASSET));
        assert_eq!(static_cache_control("/verify/abc", true), None);
        assert_eq!(static_cache_control("/api/v1/otp/send", true), None);
    }

    #[test]
    fn only_pages_and_json_are_compressed_on_the_fly() {
        for yes in [
            "text/html; charset=utf-8",
            "application/json",
            "application/problem+json",
            "text/plain",
        ] {
            assert!(is_dynamic_text(yes), "{yes}");
        }
        for no in [
            "application/wasm",
            "text/javascript",
            "text/css",
            "image/svg+xml",
            "",
        ] {
            assert!(!is_dynamic_text(no), "{no}");
        }
    }
}

//! The pages a new user meets in the first minute (the start page, the demo, the development
//! outbox, the API reference), read for what they show rather than their status, and how the
//! site's files and pages travel (compression, cache policy).

use crate::common::{Answer, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use otpgate::server::config::Mode;
use serde_json::json;

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method(Method::GET).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.request(request.body(Body::empty()).expect("request"))
        .await
}

/// The text of an HTML page without its tags, so assertions read what a person reads.
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_outbox_lists_every_caught_message_with_its_code() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let email_code = app.code("email", "user@example.com").await;
    let sms_code = app.code("sms", "+14155550100").await;
    // A live key's message in development mode is caught too.
    let live = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["email"], "recipients": {"email": "live@example.com"}}),
        )
        .await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.text);

    let page = app.get("/dev/outbox", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = visible_text(&page.text);
    assert!(
        !text.contains("unavailable"),
        "the outbox page must get its data: {text}"
    );
    for shown in [
        "user@example.com",
        "+14155550100",
        "live@example.com",
        email_code.as_str(),
        sms_code.as_str(),
        "Acme (test)",
    ] {
        assert!(text.contains(shown), "{shown} missing from: {text}");
    }
    // Verifying erases the codes: the page says so instead of showing them.
    app.verify(&token, json!({"email": email_code})).await;
    let text = visible_text(&app.get("/dev/outbox", None).await.text);
    assert!(!text.contains(&email_code), "{text}");
    assert!(text.contains("erased"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_shows_every_endpoint_of_the_document() {
    let app = TestApp::new().await;
    let document = app.get("/api/openapi.json", None).await.body;
    let page = app.get("/docs/api", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = visible_text(&page.text);
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 9, "{paths:?}");
    for (path, operations) in paths {
        for method in operations.as_object().expect("operations").keys() {
            let heading = format!("{} {path}", method.to_uppercase());
            assert!(text.contains(&heading), "{heading} missing from: {text}");
        }
    }
    for field in ["session_token", "otps", "phone_number", "verification_mode"] {
        assert!(text.contains(field), "{field} missing from: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_page_links_the_demo_in_development_mode_only() {
    let dev = TestApp::new().await;
    let page = dev.get("/", None).await;
    assert!(page.text.contains(r#"href="/demo""#), "{}", page.text);
    assert!(page.text.contains(r#"href="/dev/outbox""#));
    let production = TestApp::with_mode(Mode::Production).await;
    let page = production.get("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains(r#"href="/demo""#), "{}", page.text);
    assert!(!page.text.contains(r#"href="/dev/outbox""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_renders_its_form_and_frame_area() {
    let app = TestApp::new().await;
    let page = app.get("/demo", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = visible_text(&page.text);
    for shown in ["Start a session", "Send codes", "The widget", "The codes"] {
        assert!(text.contains(shown), "{shown} missing from: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_json_are_compressed_for_browsers_that_accept_it() {
    let app = TestApp::new().await;
    for path in ["/docs/api", "/api/openapi.json"] {
        let plain = get_with(&app, path, &[]).await;
        assert!(plain.headers.get(header::CONTENT_ENCODING).is_none());
        for encoding in ["br", "gzip"] {
            let packed = get_with(&app, path, &[("accept-encoding", encoding)]).await;
            assert_eq!(packed.status, StatusCode::OK, "{path}");
            assert_eq!(
                packed.headers[header::CONTENT_ENCODING],
                encoding,
                "{path} {encoding}"
            );
            assert!(
                packed.text.len() * 2 < plain.text.len(),
                "{path} {encoding}: {} of {} bytes",
                packed.text.len(),
                plain.text.len()
            );
        }
    }
}

/// A site directory as the release build leaves it: a hashed WASM file with its brotli and
/// gzip variants beside it.
fn release_site(dir: &std::path::Path) -> (String, Vec<u8>) {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg");
    let wasm = b"\0asm\x01\0\0\0 pretend module".repeat(100);
    let name = "otpgate.Hx7mQ2pLr9sTuvWxYz0aBc.wasm";
    std::fs::write(pkg.join(name), &wasm).expect("wasm");
    std::fs::write(pkg.join(format!("{name}.br")), b"brotli bytes").expect("br");
    std::fs::write(pkg.join(format!("{name}.gz")), b"gzip bytes").expect("gz");
    (format!("/pkg/{name}"), wasm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_widget_files_are_served_precompressed_and_immutable() {
    let site = tempfile::tempdir().expect("site");
    let (path, wasm) = release_site(site.path());
    let app = TestApp::with_site(site.path(), true).await;

    let br = get_with(&app, &path, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(br.status, StatusCode::OK);
    assert_eq!(br.headers[header::CONTENT_ENCODING], "br");
    assert_eq!(br.text, "brotli bytes", "the build's own brotli file");
    assert_eq!(br.headers[header::CONTENT_TYPE], "application/wasm");
    assert_eq!(
        br.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    let gz = get_with(&app, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(gz.text, "gzip bytes");
    let raw = get_with(&app, &path, &[]).await;
    assert!(raw.headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(raw.text.len(), wasm.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhashed_widget_files_are_revalidated() {
    let site = tempfile::tempdir().expect("site");
    let (path, _) = release_site(site.path());
    let app = TestApp::with_site(site.path(), false).await;
    let answer = get_with(&app, &path, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CACHE_CONTROL], "no-cache");
    // A missing file is a 404 page, not something cached.
    let missing = get_with(&app, "/pkg/otpgate.nope.wasm", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.headers.get(header::CACHE_CONTROL).is_none());
}

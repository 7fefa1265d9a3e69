//! The verification page through the real router: server-rendered content, security headers,
//! the plain-form path that works without JavaScript, languages and the invalid-link page.

use crate::common::{Answer, TestApp, wrong};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

const EMAIL: &str = "user@example.com";
const PHONE: &str = "+14155550100";

async fn page(app: &TestApp, path: &str, accept_language: Option<&str>) -> Answer {
    let mut request = Request::builder().method(Method::GET).uri(path);
    if let Some(language) = accept_language {
        request = request.header(header::ACCEPT_LANGUAGE, language);
    }
    app.request(request.body(Body::empty()).expect("request"))
        .await
}

async fn form(app: &TestApp, path: &str, fields: &str) -> Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(fields.to_owned()))
        .expect("request");
    app.request(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_rendered_complete_on_the_server() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let answer = page(&app, &format!("/verify/{token}"), None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let html = &answer.text;
    assert!(html.contains("Confirm it’s you"), "{html}");
    assert!(html.contains("u***@example.com"));
    assert!(html.contains("+1 •••• ••0100"));
    assert!(
        !html.contains(EMAIL) && !html.contains(PHONE),
        "recipients are masked"
    );
    assert!(html.contains(r#"autocomplete="one-time-code""#));
    assert!(html.contains(r#"inputmode="numeric""#));
    assert!(html.contains("Email code") && html.contains("SMS code"));
    assert!(html.contains("0 of 2 verified"));
    assert!(html.contains(r#"role="timer""#) && html.contains("Codes expire in 10:00"));
    assert!(html.contains("5 attempts left"));
    assert!(html.contains(r#"aria-live="polite""#));
    assert!(html.contains(&format!(r#"action="/verify/{token}""#)));
    assert!(
        !html.contains(&app.code("email", EMAIL).await),
        "no code in the page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_sends_its_security_headers() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let answer = page(&app, &format!("/verify/{token}?embed=1"), None).await;
    assert_eq!(
        answer.headers["content-security-policy"],
        "frame-ancestors https://app.acme.test"
    );
    assert_eq!(answer.headers["referrer-policy"], "no-referrer");
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    // A tenant without origins may not be framed at all.
    let other = app
        .post(
            "/api/v1/otp/send",
            &app.other_key,
            json!({"channels": ["email"], "recipients": {"email": EMAIL}}),
        )
        .await;
    let other_token = other.body["session_token"].as_str().unwrap();
    let answer = page(&app, &format!("/verify/{other_token}"), None).await;
    assert_eq!(
        answer.headers["content-security-policy"],
        "frame-ancestors 'none'"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_cancelled_tokens_get_a_proper_404_page() {
    let app = TestApp::new().await;
    let answer = page(&app, "/verify/not-a-token", None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.text.contains("This verification link is not valid"),
        "{}",
        answer.text
    );
    assert_eq!(
        answer.headers["content-security-policy"],
        "frame-ancestors 'none'"
    );
    let token = app.email_sms_session(json!({})).await;
    app.post(
        "/api/v1/otp/cancel",
        &app.test_key,
        json!({"session_token": token}),
    )
    .await;
    let cancelled = page(&app, &format!("/verify/{token}"), None).await;
    assert_eq!(cancelled.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_verify_without_javascript() {
    let app = TestApp::new().await;
    let token = app
        .email_sms_session(json!({"verification_mode": "all"}))
        .await;
    let email = app.code("email", EMAIL).await;

    let answer = form(
        &app,
        &format!("/verify/{token}?embed=1"),
        &format!("channel=email&code={}&intent=verify", wrong(&email)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let location = answer.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/verify/{token}?embed=1&notice=wrong&channel=email")
    );
    let shown = page(&app, &location, None).await;
    assert!(
        shown.text.contains("That code is not right"),
        "{}",
        shown.text
    );
    assert!(shown.text.contains("4 attempts left"));

    let answer = form(
        &app,
        &format!("/verify/{token}"),
        &format!("channel=email&code={email}&intent=verify"),
    )
    .await;
    assert_eq!(
        answer.headers["location"],
        format!("/verify/{token}?notice=verified&channel=email").as_str()
    );
    let shown = page(&app, &format!("/verify/{token}"), None).await;
    assert!(shown.text.contains("1 of 2 verified"));
    assert!(
        shown
            .text
            .contains(r#"data-channel="email" data-state="verified""#),
        "{}",
        shown.text
    );
    let status = app.status(&token).await;
    assert_eq!(status.body["verified_channels"], json!(["email"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_works_without_javascript_and_keeps_the_cooldown() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let early = form(
        &app,
        &format!("/verify/{token}"),
        "channel=sms&intent=resend",
    )
    .await;
    assert_eq!(
        early.headers["location"],
        format!("/verify/{token}?notice=cooldown&channel=sms").as_str()
    );
    app.clock.advance(30);
    let resent = form(
        &app,
        &format!("/verify/{token}"),
        "channel=sms&intent=resend",
    )
    .await;
    assert_eq!(
        resent.headers["location"],
        format!("/verify/{token}?notice=resent&channel=sms").as_str()
    );
    assert_eq!(app.outbox(PHONE).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_speaks_arabic_by_locale_or_browser() {
    let app = TestApp::new().await;
    let arabic = app.email_sms_session(json!({"locale": "ar"})).await;
    let answer = page(&app, &format!("/verify/{arabic}"), Some("en-US")).await;
    assert!(answer.text.contains(r#"dir="rtl""#), "{}", answer.text);
    assert!(answer.text.contains("تأكيد هويتك"));
    let english = app.email_sms_session(json!({})).await;
    let by_browser = page(
        &app,
        &format!("/verify/{english}"),
        Some("ar-LY,ar;q=0.9,en;q=0.5"),
    )
    .await;
    assert!(by_browser.text.contains("تأكيد هويتك"));
    let plain = page(&app, &format!("/verify/{english}"), Some("ja, ko")).await;
    assert!(plain.text.contains("Confirm it’s you"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_locked_sessions_say_what_to_do_next() {
    let app = TestApp::new().await;
    let token = app
        .email_sms_session(json!({"expires_in": 60, "max_attempts": 1}))
        .await;
    app.clock.advance(60);
    let expired = page(&app, &format!("/verify/{token}"), None).await;
    assert!(
        expired.text.contains("These codes have expired"),
        "{}",
        expired.text
    );
    assert!(expired.text.contains("Go back to Acme"));

    let locked = app.email_sms_session(json!({"max_attempts": 1})).await;
    app.verify(&locked, json!({"email": "000000"})).await;
    let answer = page(&app, &format!("/verify/{locked}"), None).await;
    assert!(answer.text.contains("Too many attempts"), "{}", answer.text);
    assert!(
        !answer.text.contains(r#"name="code""#),
        "no code entry once locked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_pages_exist_only_in_development_mode() {
    let dev = TestApp::new().await;
    assert_eq!(page(&dev, "/demo", None).await.status, StatusCode::OK);
    assert_eq!(page(&dev, "/dev/outbox", None).await.status, StatusCode::OK);
    let production = TestApp::with_mode(otpgate::server::config::Mode::Production).await;
    assert_eq!(
        page(&production, "/demo", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        page(&production, "/dev/outbox", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(page(&production, "/", None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_page_paths_answer_404_never_500() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let hostile = [
        format!("/verify/%0A{}", &token[1..]),
        format!(
            "/verify/%0D%0ALocation:%20https:%2F%2Fevil.test{}",
            &token[..10]
        ),
        "/verify/%00".to_owned(),
        format!("/verify/{token}%0A"),
        format!("/verify/{}%E2%80%AE", &token[1..]),
        format!("/verify/{}", "A".repeat(5000)),
        "/verify/..%2F..%2Fetc%2Fpasswd".to_owned(),
    ];
    for path in &hostile {
        let posted = form(&app, path, "channel=email&code=123456&intent=verify").await;
        assert_eq!(
            posted.status,
            StatusCode::NOT_FOUND,
            "POST {path}: {}",
            posted.text
        );
        assert!(
            posted.headers.get(header::LOCATION).is_none(),
            "POST {path}"
        );
        let shown = page(&app, path, None).await;
        assert_eq!(shown.status, StatusCode::NOT_FOUND, "GET {path}");
    }
    // Hostile page options are re-encoded, never copied into the redirect.
    let answer = form(
        &app,
        &format!("/verify/{token}?origin=https%3A%2F%2Fa.test%0D%0AX%3A1&theme=%0A&embed=1"),
        "channel=email&code=000000&intent=verify",
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let location = answer.headers["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!(
            "/verify/{token}?embed=1&origin=https%3A%2F%2Fa.test%0D%0AX%3A1&notice="
        )),
        "{location}"
    );
    // Nothing was counted for the hostile paths: one wrong code above, four attempts left.
    assert_eq!(app.status(&token).await.body["attempts_remaining"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_page_invites_no_further_attempt() {
    let app = TestApp::new().await;
    for locale in ["en", "ar"] {
        let token = app
            .email_sms_session(json!({"max_attempts": 2, "locale": locale}))
            .await;
        let mut location = String::new();
        for _ in 0..2 {
            let answer = form(
                &app,
                &format!("/verify/{token}"),
                "channel=email&code=000000&intent=verify",
            )
            .await;
            location = answer.headers["location"].to_str().unwrap().to_owned();
        }
        assert!(location.contains("notice=wrong"), "{location}");
        let shown = page(&app, &location, None).await;
        let (locked, wrong_code) = if locale == "ar" {
            ("محاولات كثيرة جدًا", "الرمز غير صحيح")
        } else {
            ("Too many attempts", "That code is not right")
        };
        assert!(shown.text.contains(locked), "{}", shown.text);
        assert!(
            !crate::common::visible_text(&shown.text).contains(wrong_code),
            "one message per state ({locale}): {}",
            shown.text
        );
        assert!(!shown.text.contains(r#"name="code""#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_form_answers_are_not_cached() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let shown = page(&app, &format!("/verify/{token}"), None).await;
    assert_eq!(shown.headers[header::CACHE_CONTROL], "no-store");
    let posted = form(
        &app,
        &format!("/verify/{token}"),
        "channel=email&code=000000&intent=verify",
    )
    .await;
    assert_eq!(posted.headers[header::CACHE_CONTROL], "no-store");
    let missing = page(&app, "/verify/nothing-here", None).await;
    assert_eq!(missing.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_what_happened_to_each_channels_message() {
    let twilio = crate::common::standins::twilio().await;
    let app = TestApp::served(&[
        ("sms_provider", "twilio".into()),
        ("twilio_base_url", twilio.base_url.clone()),
        (
            "twilio_account_sid",
            crate::common::standins::TWILIO_SID.into(),
        ),
        (
            "twilio_auth_token",
            crate::common::standins::TWILIO_TOKEN.into(),
        ),
        ("twilio_from", "+14155550199".into()),
    ])
    .await;
    let send = |to: &'static str, locale: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/otp/send",
                &app.live_key,
                json!({"channels": ["sms"], "recipients": {"sms": to}, "locale": locale}),
            )
            .await
            .body["session_token"]
                .as_str()
                .expect("a token")
                .to_owned()
        }
    };
    let sent = send(PHONE, "en").await;
    let failed = send(crate::common::standins::TWILIO_INVALID, "en").await;
    let failed_ar = send(crate::common::standins::TWILIO_INVALID, "ar").await;
    let queued = page(&app, &format!("/verify/{sent}"), None).await;
    assert!(
        queued.text.contains(r#"data-delivery="queued""#),
        "{}",
        queued.text
    );
    assert!(queued.text.contains("Sending…"));
    app.deliver().await;
    let shown = page(&app, &format!("/verify/{sent}"), None).await;
    assert!(shown.text.contains(r#"data-delivery="sent""#) && shown.text.contains(">Sent<"));
    let shown = page(&app, &format!("/verify/{failed}"), None).await;
    assert!(
        shown.text.contains(r#"data-delivery="failed""#),
        "{}",
        shown.text
    );
    assert!(
        shown
            .text
            .contains("Could not be delivered — try another channel, or resend the code.")
    );
    let shown = page(&app, &format!("/verify/{failed_ar}"), None).await;
    assert!(shown.text.contains("تعذّر إيصال الرمز"), "{}", shown.text);
}

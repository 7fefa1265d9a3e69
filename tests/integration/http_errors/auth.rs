//! Authentication: which keys, headers and schemes are refused, and how.

use otpgate::server::service::{Caller, KeyRef};

use super::*;

#[tokio::test]
async fn missing_key_is_unauthenticated() {
    let app = TestApp::new().await;
    assert_all_unauthenticated(&app, &[], "").await;
}

#[tokio::test]
async fn unknown_well_formed_key_is_unauthenticated() {
    let app = TestApp::new().await;
    for key in [
        format!("sk_test_{}", "A1b2C3d4".repeat(4)),
        format!("sk_live_{}", "Z9y8X7w6".repeat(4)),
    ] {
        assert_all_unauthenticated(&app, &[("x-api-key", key.as_str())], "").await;
        let bearer = format!("Bearer {key}");
        assert_all_unauthenticated(&app, &[("authorization", bearer.as_str())], "").await;
    }
}

#[tokio::test]
async fn malformed_key_is_unauthenticated() {
    let app = TestApp::new().await;
    let real = app.test_key.clone();
    let malformed = [
        String::new(),
        "sk_test_".into(),
        "sk_test_short".into(),
        format!("sk_prod_{}", &real[8..]),
        real.to_uppercase(),
        real[..real.len() - 1].to_owned(),
        format!("{real}x"),
        format!("{}-{}", &real[..20], &real[21..]),
        "null".into(),
        "' OR 1=1 --".into(),
    ];
    for key in &malformed {
        assert_all_unauthenticated(&app, &[("x-api-key", key.as_str())], "").await;
    }
    // A header value that is not visible ASCII.
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(INITIATE)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"phone_number": PHONE}).to_string()))
        .expect("request");
    request.headers_mut().insert(
        "x-api-key",
        HeaderValue::from_bytes(format!("{real}\u{e9}").as_bytes()).expect("obs-text header"),
    );
    assert_error(
        &app.request(request).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

#[tokio::test]
async fn live_key_with_test_prefix_is_unauthenticated() {
    let app = TestApp::new().await;
    // The kind is part of the key: the live key's random part under the test prefix is unknown.
    let swapped = format!("sk_test_{}", &app.live_key[8..]);
    assert_all_unauthenticated(&app, &[("x-api-key", swapped.as_str())], "").await;
}

#[tokio::test]
async fn bearer_authorization_works_on_both_apis() {
    let app = TestApp::new().await;
    let bearer = format!("Bearer {}", app.test_key);
    let headers = [("authorization", bearer.as_str())];
    let sent = post_with(&app, SEND, &headers, &email_send(EMAIL)).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    let token = sent.body["session_token"].as_str().expect("token");
    let status = post_with(&app, STATUS, &headers, &json!({"session_token": token})).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    let initiated = post_with(&app, INITIATE, &headers, &json!({"phone_number": PHONE})).await;
    assert_eq!(initiated.status, StatusCode::OK, "{}", initiated.text);
    let request_id = initiated.body["request_id"].as_str().expect("request_id");
    let code = app.code("sms", PHONE).await;
    let verified = post_with(
        &app,
        SINGLE_VERIFY,
        &headers,
        &json!({"request_id": request_id, "code": code}),
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let outbox = call(&app, Method::GET, MESSAGES, &headers, Vec::new()).await;
    assert_eq!(outbox.status, StatusCode::OK, "{}", outbox.text);
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let app = TestApp::new().await;
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let value = format!("{scheme} {}", app.test_key);
        let answer = post_with(
            &app,
            INITIATE,
            &[("authorization", value.as_str())],
            &json!({"phone_number": PHONE}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{scheme}: {}", answer.text);
        let answer = post_with(
            &app,
            SEND,
            &[("authorization", value.as_str())],
            &email_send(EMAIL),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{scheme}: {}", answer.text);
    }
}

#[tokio::test]
async fn other_authorization_schemes_are_unauthenticated() {
    let app = TestApp::new().await;
    let key = app.test_key.clone();
    for value in [
        format!("Basic {key}"),
        format!("Token {key}"),
        format!("ApiKey {key}"),
        key.clone(),
        format!("Bearer{key}"),
        "Bearer ".to_owned(),
    ] {
        assert_all_unauthenticated(&app, &[("authorization", value.as_str())], "").await;
    }
}

#[tokio::test]
async fn key_in_query_string_is_unauthenticated() {
    let app = TestApp::new().await;
    for name in ["api_key", "key", "apikey", "x-api-key", "access_token"] {
        let suffix = format!("?{name}={}", urlencode(&app.test_key));
        assert_all_unauthenticated(&app, &[], &suffix).await;
    }
}

#[tokio::test]
async fn revoked_key_is_unauthenticated() {
    let app = TestApp::new().await;
    let before = app
        .post(INITIATE, &app.test_key, json!({"phone_number": PHONE}))
        .await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    // Revoked through the service: refused from the very next call, although the key was
    // just authenticated (and is remembered for a second).
    let revoked = app
        .state
        .admin
        .revoke_key(KeyRef::Prefix(&app.test_key[..16]), &Caller::cli())
        .await
        .expect("revoke");
    assert!(revoked, "the key's prefix names it");
    assert_all_unauthenticated(&app, &[("x-api-key", app.test_key.as_str())], "").await;
    let bearer = format!("Bearer {}", app.test_key);
    assert_all_unauthenticated(&app, &[("authorization", bearer.as_str())], "").await;
    // The tenant's other key and the other tenant are untouched.
    let live = app
        .post(INITIATE, &app.live_key, json!({"phone_number": PHONE}))
        .await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.text);
    let other = app.get(MESSAGES, Some(&app.other_key)).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
}

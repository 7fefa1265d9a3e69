//! Cross-cutting HTTP behaviour of both APIs: authentication, content type, body limit, malformed
//! JSON, hostile code values, request validation, routing, the OpenAPI document, the test
//! outbox, security headers and idempotent sends.

mod common;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use common::{Answer, TestApp, assert_error, urlencode, wrong};
use serde_json::{Value, json};

const SEND: &str = "/api/v1/otp/send";
const VERIFY: &str = "/api/v1/otp/verify";
const STATUS: &str = "/api/v1/otp/status";
const RESEND: &str = "/api/v1/otp/resend";
const CANCEL: &str = "/api/v1/otp/cancel";
const INITIATE: &str = "/api/otp/initiate";
const SINGLE_VERIFY: &str = "/api/otp/verify";
const MESSAGES: &str = "/api/v1/test/messages";

const EMAIL: &str = "user@example.com";
const PHONE: &str = "+14155550100";

// --- helpers ---------------------------------------------------------------------------------

/// Sends a request built from parts: `headers` are added as given, nothing else.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    app.request(builder.body(Body::from(body)).expect("request"))
        .await
}

/// POSTs `body` as JSON with exactly the given headers (plus the content type).
async fn post_with(app: &TestApp, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    call(app, Method::POST, path, &all, body.to_string().into_bytes()).await
}

/// A send body for one email channel to `email`.
fn email_send(email: &str) -> Value {
    json!({"channels": ["email"], "recipients": {"email": email}})
}

/// Every authenticated endpoint with a plausible body (the key is checked before the body).
fn endpoints() -> Vec<(Method, &'static str, Value)> {
    let token = json!({"session_token": "x".repeat(43)});
    vec![
        (Method::POST, SEND, email_send(EMAIL)),
        (
            Method::POST,
            VERIFY,
            json!({"session_token": "x".repeat(43), "otps": {"email": "123456"}}),
        ),
        (Method::POST, STATUS, token.clone()),
        (Method::POST, RESEND, token.clone()),
        (Method::POST, CANCEL, token),
        (Method::POST, INITIATE, json!({"phone_number": PHONE})),
        (
            Method::POST,
            SINGLE_VERIFY,
            json!({"request_id": uuid::Uuid::new_v4().to_string(), "code": "123456"}),
        ),
        (Method::GET, MESSAGES, Value::Null),
    ]
}

/// Calls every endpoint with `headers` and a query `suffix`, asserting the exact 401 body.
async fn assert_all_unauthenticated(app: &TestApp, headers: &[(&str, &str)], suffix: &str) {
    for (method, path, body) in endpoints() {
        let uri = format!("{path}{suffix}");
        let mut all = headers.to_vec();
        let bytes = if method == Method::POST {
            all.push(("content-type", "application/json"));
            body.to_string().into_bytes()
        } else {
            Vec::new()
        };
        let answer = call(app, method.clone(), &uri, &all, bytes).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} {headers:?}: {}",
            answer.text
        );
        assert_eq!(
            answer.body,
            json!({"message": "Unauthenticated.", "code": "unauthenticated"}),
            "{method} {uri}"
        );
    }
}

/// Asserts `400 invalid_request` whose message names `field`.
fn assert_invalid_request(answer: &Answer, field: &str) {
    assert_error(answer, StatusCode::BAD_REQUEST, "invalid_request");
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(field),
        "message should name {field}: {}",
        answer.text
    );
}

/// Asserts a client error (4xx, never 5xx) with a JSON `message` and `code`.
fn assert_client_error(answer: &Answer, what: &str) {
    assert!(
        answer.status.is_client_error(),
        "{what}: {} {}",
        answer.status,
        answer.text
    );
    assert!(
        answer.body["message"].is_string(),
        "{what}: {}",
        answer.text
    );
    assert!(answer.body["code"].is_string(), "{what}: {}", answer.text);
}

async fn attempts_remaining(app: &TestApp, token: &str) -> u64 {
    let status = app.status(token).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    status.body["attempts_remaining"]
        .as_u64()
        .expect("attempts_remaining")
}

/// Initiates a single-SMS request for `phone` with the test key; returns its ID and code.
async fn initiate(app: &TestApp, phone: &str) -> (String, String) {
    let answer = app
        .post(INITIATE, &app.test_key, json!({"phone_number": phone}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let request_id = answer.body["request_id"]
        .as_str()
        .expect("request_id")
        .to_owned();
    (request_id, app.code("sms", phone).await)
}

async fn single_verify(app: &TestApp, request_id: &str, code: Value) -> Answer {
    app.post(
        SINGLE_VERIFY,
        &app.test_key,
        json!({"request_id": request_id, "code": code}),
    )
    .await
}

/// A value shortened for assertion messages.
fn short(value: &Value) -> String {
    value.to_string().chars().take(40).collect()
}

/// Code values that are not strings of sensible length: malformed requests, never attempts.
fn malformed_codes() -> Vec<Value> {
    vec![
        json!(123456),
        json!(0),
        json!(-1),
        serde_json::from_str("1e99").expect("number"),
        json!(12.5),
        json!([]),
        json!(["123456"]),
        json!({}),
        json!({"code": "123456"}),
        json!(null),
        json!(true),
        json!(false),
        json!("1".repeat(10_000)),
        json!("9".repeat(65)),
    ]
}

/// Strings that are not codes: each is a wrong guess (or, at most, a malformed request).
fn hostile_strings() -> Vec<String> {
    vec![
        "abcdef".into(),
        String::new(),
        "   ".into(),
        "\t\n".into(),
        "12\u{0}456".into(),
        "😀😀😀😀😀😀".into(),
        "\u{202E}123456".into(),
        "123456\u{202E}".into(),
        "12 34 56".into(),
        "0x1E240".into(),
        "-12345".into(),
        "123456; DROP TABLE sessions".into(),
        "<script>alert(1)</script>".into(),
    ]
}

// --- authentication --------------------------------------------------------------------------

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
        .service
        .revoke_key(&app.test_key[..16])
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

// --- content type ----------------------------------------------------------------------------

#[tokio::test]
async fn body_that_is_not_json_content_type_is_415() {
    let app = TestApp::new().await;
    let bodies = [
        (SEND, email_send(EMAIL)),
        (INITIATE, json!({"phone_number": PHONE})),
    ];
    for (path, body) in &bodies {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("text/json"),
            Some("application/jsonx"),
        ] {
            let answer = app
                .post_raw(
                    path,
                    Some(&app.test_key),
                    content_type,
                    body.to_string().into_bytes(),
                )
                .await;
            assert_error(
                &answer,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            );
        }
    }
    assert!(app.outbox(EMAIL).await.is_empty());
    assert!(app.outbox(PHONE).await.is_empty());
}

#[tokio::test]
async fn json_with_charset_parameter_is_accepted() {
    let app = TestApp::new().await;
    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ] {
        let answer = app
            .post_raw(
                SEND,
                Some(&app.test_key),
                Some(content_type),
                email_send(EMAIL).to_string().into_bytes(),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{content_type}: {}",
            answer.text
        );
        let answer = app
            .post_raw(
                INITIATE,
                Some(&app.test_key),
                Some(content_type),
                json!({"phone_number": PHONE}).to_string().into_bytes(),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{content_type}: {}",
            answer.text
        );
    }
}

// --- body limit ------------------------------------------------------------------------------

/// `body` with an ignored `padding` field, so the serialised JSON is `size` bytes or a bit more.
fn padded(mut body: Value, size: usize) -> Vec<u8> {
    let base = body.to_string().len() + r#","padding":"""#.len();
    body["padding"] = json!("p".repeat(size.saturating_sub(base)));
    body.to_string().into_bytes()
}

#[tokio::test]
async fn body_over_16_kib_is_413_with_a_json_error() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let cases = [
        (SEND, email_send("big@example.com")),
        (
            VERIFY,
            json!({"session_token": token, "otps": {"email": "123456"}}),
        ),
        (STATUS, json!({"session_token": token})),
        (INITIATE, json!({"phone_number": PHONE})),
        (SINGLE_VERIFY, json!({"request_id": "x", "code": "123456"})),
    ];
    for (path, body) in cases {
        let bytes = padded(body, 17 * 1024);
        assert!(bytes.len() >= 17 * 1024);
        let answer = app
            .post_raw(path, Some(&app.test_key), Some("application/json"), bytes)
            .await;
        assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    }
    assert!(app.outbox("big@example.com").await.is_empty());
    assert_eq!(
        attempts_remaining(&app, &token).await,
        5,
        "an oversized verify is no attempt"
    );
}

#[tokio::test]
async fn body_of_15_kib_is_accepted() {
    let app = TestApp::new().await;
    let bytes = padded(json!({"phone_number": PHONE}), 15 * 1024);
    assert!(bytes.len() >= 15 * 1024 && bytes.len() < 16 * 1024);
    let answer = app
        .post_raw(
            INITIATE,
            Some(&app.test_key),
            Some("application/json"),
            bytes,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let bytes = padded(email_send(EMAIL), 15 * 1024);
    let answer = app
        .post_raw(SEND, Some(&app.test_key), Some("application/json"), bytes)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

// --- malformed JSON --------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_invalid_request_never_500() {
    let app = TestApp::new().await;
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"}".to_vec(),
        b"[]".to_vec(),
        b"[1, 2]".to_vec(),
        b"\"x\"".to_vec(),
        b"null".to_vec(),
        b"42".to_vec(),
        b"{}x".to_vec(),
        b"{} {}".to_vec(),
        b"{\"phone_number\": \"+14155550100\"}x".to_vec(),
        b"{\"phone_number\": \"\xff\xfe\"}".to_vec(),
        b"\xef\xbb\xbf{}".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        b"\0".to_vec(),
        b"{\"phone_number\": \"+1415\x005550100\"}".to_vec(),
        b"{\"phone_number\": \"+14155550100\"}\0".to_vec(),
        b"{'phone_number': '+14155550100'}".to_vec(),
        b"{\"a\":".repeat(200),
        b"[".repeat(5000),
    ];
    for path in [
        SEND,
        VERIFY,
        STATUS,
        RESEND,
        CANCEL,
        INITIATE,
        SINGLE_VERIFY,
    ] {
        for body in &bodies {
            let answer = app
                .post_raw(
                    path,
                    Some(&app.test_key),
                    Some("application/json"),
                    body.clone(),
                )
                .await;
            let shown = String::from_utf8_lossy(body);
            let shown: String = shown.chars().take(40).collect();
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{path} {shown:?}: {}",
                answer.text
            );
            assert_eq!(
                answer.body["code"], "invalid_request",
                "{path} {shown:?}: {}",
                answer.text
            );
            assert!(answer.body["message"].is_string(), "{path} {shown:?}");
        }
    }
}

// --- hostile code values ---------------------------------------------------------------------

#[tokio::test]
async fn v1_malformed_code_values_are_invalid_request_and_cost_no_attempt() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    for value in malformed_codes() {
        let answer = app.verify(&token, json!({"email": value})).await;
        assert_invalid_request(&answer, "otps.email");
        assert_eq!(
            attempts_remaining(&app, &token).await,
            5,
            "after {}",
            short(&value)
        );
    }
    let code = app.code("email", EMAIL).await;
    let answer = app.verify(&token, json!({"email": code})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["attempts_remaining"], 5);
}

#[tokio::test]
async fn v1_non_digit_strings_are_client_errors_and_count_consistently() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({"max_attempts": 20})).await;
    let mut remaining = attempts_remaining(&app, &token).await;
    assert_eq!(remaining, 20);
    for value in hostile_strings() {
        let answer = app.verify(&token, json!({"email": value})).await;
        assert_client_error(&answer, &format!("{value:?}"));
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{value:?}: {}",
            answer.text
        );
        let now = attempts_remaining(&app, &token).await;
        match answer.body["code"].as_str() {
            Some("invalid_otp") => assert_eq!(now, remaining - 1, "{value:?} counts one attempt"),
            Some("invalid_request") => assert_eq!(now, remaining, "{value:?} is no attempt"),
            other => panic!("{value:?}: unexpected code {other:?}"),
        }
        if value.trim().len() >= 4 {
            assert!(
                !answer.text.contains(&value),
                "{value:?} echoed: {}",
                answer.text
            );
        }
        remaining = now;
    }
}

#[tokio::test]
async fn v1_short_non_digit_string_is_invalid_otp_and_counts() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let answer = app.verify(&token, json!({"email": "abcdef"})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_otp");
    assert_eq!(answer.body["message"], "Invalid OTP");
    assert_eq!(answer.body["attempts_remaining"], 4, "{}", answer.text);
    assert_eq!(attempts_remaining(&app, &token).await, 4);
}

#[tokio::test]
async fn v1_code_sent_as_number_is_never_echoed() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", EMAIL).await;
    let number: u64 = code.parse().expect("digits");
    let answer = app.verify(&token, json!({"email": number})).await;
    assert_invalid_request(&answer, "otps.email");
    assert!(
        !answer.text.contains(&number.to_string()),
        "code echoed: {}",
        answer.text
    );
    // A number alongside a valid string: still refused as a whole, nothing consumed.
    let sms = app.code("sms", PHONE).await;
    let sms_number: u64 = sms.parse().expect("digits");
    let answer = app
        .verify(&token, json!({"email": code, "sms": sms_number}))
        .await;
    assert_invalid_request(&answer, "otps.sms");
    assert!(
        !answer.text.contains(&sms_number.to_string()),
        "code echoed: {}",
        answer.text
    );
    assert!(!answer.text.contains(&code), "code echoed: {}", answer.text);
    let status = app.status(&token).await;
    assert_eq!(status.body["status"], "pending", "{}", status.text);
    assert_eq!(status.body["attempts_remaining"], 5, "{}", status.text);
}

#[tokio::test]
async fn single_malformed_code_values_are_invalid_request_and_cost_no_attempt() {
    let app = TestApp::new().await;
    let (request_id, code) = initiate(&app, PHONE).await;
    for value in malformed_codes() {
        let answer = single_verify(&app, &request_id, value.clone()).await;
        assert_invalid_request(&answer, "code");
        assert!(
            !answer.text.contains(&code),
            "code echoed for {}: {}",
            short(&value),
            answer.text
        );
    }
    let answer = single_verify(&app, &request_id, json!(code)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["attempts_used"], 1, "{}", answer.text);
}

#[tokio::test]
async fn single_code_sent_as_number_is_never_echoed() {
    let app = TestApp::new().await;
    let (request_id, code) = initiate(&app, PHONE).await;
    let number: u64 = code.parse().expect("digits");
    let answer = single_verify(&app, &request_id, json!(number)).await;
    assert_invalid_request(&answer, "code");
    assert!(
        !answer.text.contains(&number.to_string()),
        "code echoed: {}",
        answer.text
    );
}

#[tokio::test]
async fn single_non_digit_strings_are_client_errors_and_count_consistently() {
    let app = TestApp::new().await;
    for value in hostile_strings() {
        let (request_id, code) = initiate(&app, PHONE).await;
        let answer = single_verify(&app, &request_id, json!(value)).await;
        assert_client_error(&answer, &format!("{value:?}"));
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{value:?}: {}",
            answer.text
        );
        let expected_used = match answer.body["code"].as_str() {
            Some("invalid_otp") => 2,
            Some("invalid_request") => 1,
            other => panic!("{value:?}: unexpected code {other:?}"),
        };
        let right = single_verify(&app, &request_id, json!(code)).await;
        assert_eq!(right.status, StatusCode::OK, "{value:?}: {}", right.text);
        assert_eq!(
            right.body["attempts_used"], expected_used,
            "{value:?}: {}",
            right.text
        );
    }
}

#[tokio::test]
async fn single_short_non_digit_string_is_invalid_otp() {
    let app = TestApp::new().await;
    let (request_id, code) = initiate(&app, PHONE).await;
    let answer = single_verify(&app, &request_id, json!("abcdef")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"message": "Invalid OTP", "code": "invalid_otp"})
    );
    let right = single_verify(&app, &request_id, json!(code)).await;
    assert_eq!(right.body["attempts_used"], 2, "{}", right.text);
}

// --- the shape of `otps` ---------------------------------------------------------------------

#[tokio::test]
async fn bad_otps_shapes_are_invalid_request_and_cost_no_attempt() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", EMAIL).await;
    // The message names `otps`, or the channel at fault when the shape itself is fine.
    let cases = [
        ("not an object (string)", json!(code), "otps"),
        ("not an object (array)", json!([code]), "otps"),
        ("not an object (number)", json!(1), "otps"),
        ("null", json!(null), "otps"),
        ("empty", json!({}), "otps"),
        ("unknown channel", json!({"push": code}), "otps"),
        (
            "unknown channel with a known one",
            json!({"email": code, "push": code}),
            "otps",
        ),
        ("upper-case channel", json!({"EMAIL": code}), "otps"),
        (
            "channel not in the session",
            json!({"whatsapp": code}),
            "whatsapp",
        ),
    ];
    for (what, otps, named) in cases {
        let answer = app.verify(&token, otps).await;
        assert_invalid_request(&answer, named);
        assert!(
            !answer.text.contains(&code),
            "{what}: code echoed: {}",
            answer.text
        );
        assert_eq!(attempts_remaining(&app, &token).await, 5, "{what}");
    }
    let missing = app
        .post(VERIFY, &app.test_key, json!({"session_token": token}))
        .await;
    assert_invalid_request(&missing, "otps");
    let no_token = app
        .post(VERIFY, &app.test_key, json!({"otps": {"email": code}}))
        .await;
    assert_invalid_request(&no_token, "session_token");
    let status = app.status(&token).await;
    assert_eq!(
        status.body["status"], "pending",
        "nothing verified: {}",
        status.text
    );
    assert_eq!(status.body["attempts_remaining"], 5);
}

#[tokio::test]
async fn channel_not_in_session_error_names_otps() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let answer = app.verify(&token, json!({"whatsapp": "123456"})).await;
    // The request has no `channels` field: the field at fault is `otps`.
    assert_invalid_request(&answer, "otps");
}

// --- send validation -------------------------------------------------------------------------

/// A valid send body for email, with `field` set to `value` (or removed when `value` is null).
fn send_with(field: &str, value: Value) -> Value {
    let mut body = json!({"channels": ["email"], "recipients": {"email": EMAIL, "sms": PHONE}});
    if let Some(object) = body.as_object_mut() {
        if value.is_null() {
            object.remove(field);
        } else {
            object.insert(field.to_owned(), value);
        }
    }
    body
}

/// A send body for one phone channel to `phone`.
fn phone_send(channel: &str, phone: &str) -> Value {
    json!({"channels": [channel], "recipients": {channel: phone}})
}

#[tokio::test]
async fn send_validation_errors_name_the_field() {
    let app = TestApp::new().await;
    let cases: Vec<(&str, Value)> = vec![
        ("channels", send_with("channels", Value::Null)),
        ("channels", send_with("channels", json!([]))),
        ("channels", send_with("channels", json!(["email", "email"]))),
        ("channels", send_with("channels", json!(["push"]))),
        ("channels", send_with("channels", json!("email"))),
        (
            "recipients.sms",
            json!({"channels": ["email", "sms"], "recipients": {"email": EMAIL}}),
        ),
        ("recipients.email", send_with("recipients", Value::Null)),
        (
            "recipients.whatsapp",
            send_with("channels", json!(["whatsapp"])),
        ),
        ("recipients.email", email_send("a@b.c\r\nBcc: x@y.z")),
        ("recipients.email", email_send("a@b.c\nBcc: x@y.z")),
        ("recipients.email", email_send("user.example.com")),
        ("recipients.email", email_send("")),
        ("recipients.sms", phone_send("sms", "+1 415 555 0100")),
        ("recipients.sms", phone_send("sms", "14155550100")),
        ("recipients.sms", phone_send("sms", "+999999999")),
        (
            "recipients.whatsapp",
            phone_send("whatsapp", "+1415abc0100"),
        ),
        ("recipients", send_with("recipients", json!([EMAIL]))),
        (
            "recipients",
            send_with("recipients", json!({"email": EMAIL, "push": "x"})),
        ),
        ("code_length", send_with("code_length", json!(3))),
        ("code_length", send_with("code_length", json!(11))),
        ("code_length", send_with("code_length", json!("6"))),
        ("expires_in", send_with("expires_in", json!(0))),
        ("expires_in", send_with("expires_in", json!(601))),
        ("max_attempts", send_with("max_attempts", json!(0))),
        ("max_attempts", send_with("max_attempts", json!(21))),
        (
            "verification_mode",
            send_with("verification_mode", json!("some")),
        ),
        (
            "verification_mode",
            send_with("verification_mode", json!("ANY")),
        ),
        ("locale", send_with("locale", json!("<script>"))),
        ("locale", send_with("locale", json!("en_US"))),
    ];
    for (field, body) in cases {
        let answer = app.post(SEND, &app.test_key, body).await;
        assert_invalid_request(&answer, field);
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("Bcc"),
            "the message names the field, not the value: {message}"
        );
    }
    assert!(
        app.outbox(EMAIL).await.is_empty(),
        "nothing is sent for a refused request"
    );
    assert!(
        app.outbox(PHONE).await.is_empty(),
        "nothing is sent for a refused request"
    );
}

#[tokio::test]
async fn enum_fields_of_the_wrong_json_type_name_the_field() {
    let app = TestApp::new().await;
    let cases = [
        ("channels", send_with("channels", json!([null]))),
        ("channels", send_with("channels", json!([1]))),
        (
            "verification_mode",
            send_with("verification_mode", json!(5)),
        ),
        (
            "verification_mode",
            send_with("verification_mode", json!([])),
        ),
    ];
    let mut wrong_messages = Vec::new();
    for (field, body) in cases {
        let answer = app.post(SEND, &app.test_key, body.clone()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        let message = answer.body["message"].as_str().unwrap_or_default();
        if !message.contains(field) || message.contains("not valid JSON") {
            wrong_messages.push(format!("{body} -> {message}"));
        }
    }
    assert!(
        wrong_messages.is_empty(),
        "messages that do not name the field:\n{}",
        wrong_messages.join("\n")
    );
}

// --- routing, health, OpenAPI ----------------------------------------------------------------

#[tokio::test]
async fn unknown_api_route_is_json_404() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::GET, "/api/v1/nope"),
        (Method::POST, "/api/v1/nope"),
        (Method::GET, "/api/nope"),
        (Method::POST, "/api/v2/otp/send"),
        (Method::GET, "/api/v1/otp/send/extra"),
    ] {
        let headers = [
            ("x-api-key", app.test_key.as_str()),
            ("content-type", "application/json"),
        ];
        let answer = call(&app, method.clone(), path, &headers, b"{}".to_vec()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            answer.body["code"], "not_found",
            "{method} {path}: not JSON"
        );
        assert!(answer.body["message"].is_string(), "{method} {path}");
        let unauthenticated = call(&app, method, path, &[], Vec::new()).await;
        assert_eq!(
            unauthenticated.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            unauthenticated.text
        );
        assert_eq!(unauthenticated.body["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn api_root_is_json_404() {
    let app = TestApp::new().await;
    for path in ["/api", "/api/"] {
        let answer = app.get(path, Some(&app.test_key)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.body["code"], "not_found", "{path}: not a JSON error");
    }
}

#[tokio::test]
async fn wrong_method_is_json_405() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::GET, SEND),
        (Method::GET, VERIFY),
        (Method::PUT, INITIATE),
        (Method::DELETE, SINGLE_VERIFY),
        (Method::POST, MESSAGES),
    ] {
        let answer = call(
            &app,
            method.clone(),
            path,
            &[("x-api-key", app.test_key.as_str())],
            Vec::new(),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            answer.text
        );
        assert!(
            answer.body["message"].is_string(),
            "{method} {path}: {}",
            answer.text
        );
        assert!(
            answer.body["code"].is_string(),
            "{method} {path}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::new().await;
    let answer = app.get("/healthz", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["status"], "ok", "{}", answer.text);
    let content_type = answer
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/json"));
}

#[tokio::test]
async fn openapi_document_describes_every_endpoint_and_both_auth_schemes() {
    let app = TestApp::new().await;
    let answer = app.get("/api/openapi.json", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let document: Value = serde_json::from_str(&answer.text).expect("valid JSON");
    let version = document["openapi"].as_str().expect("openapi field");
    assert!(version.starts_with("3."), "{version}");
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        SEND,
        VERIFY,
        STATUS,
        RESEND,
        CANCEL,
        INITIATE,
        SINGLE_VERIFY,
        MESSAGES,
        "/healthz",
    ] {
        assert!(
            paths.contains_key(path),
            "missing {path} in {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    assert!(schemes.contains_key("api_key"), "{schemes:?}");
    assert!(schemes.contains_key("bearer"), "{schemes:?}");
    assert_eq!(
        schemes["bearer"]["scheme"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("bearer")
    );
    assert_eq!(schemes["api_key"]["in"], "header");
}

// --- test outbox -----------------------------------------------------------------------------

#[tokio::test]
async fn test_outbox_refuses_live_keys() {
    let app = TestApp::new().await;
    let answer = app.get(MESSAGES, Some(&app.live_key)).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn test_outbox_filters_by_recipient_and_lists_newest_first() {
    let app = TestApp::new().await;
    app.send(email_send("first@example.com")).await;
    app.clock.advance(60);
    app.send(email_send("second@example.com")).await;
    app.clock.advance(60);
    let answer = app
        .post(INITIATE, &app.test_key, json!({"phone_number": PHONE}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    let all = app.get(MESSAGES, Some(&app.test_key)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let all = all.body.as_array().expect("array").clone();
    let recipients: Vec<&str> = all.iter().filter_map(|m| m["to"].as_str()).collect();
    assert_eq!(
        recipients,
        [PHONE, "second@example.com", "first@example.com"]
    );
    let sent_at: Vec<&str> = all.iter().filter_map(|m| m["sent_at"].as_str()).collect();
    assert_eq!(
        sent_at,
        [
            "2027-01-15T08:02:00Z",
            "2027-01-15T08:01:00Z",
            "2027-01-15T08:00:00Z"
        ]
    );

    for message in &all {
        for field in ["channel", "to", "body", "code", "sent_at"] {
            assert!(message[field].is_string(), "{field} in {message}");
        }
        let code = message["code"].as_str().expect("code");
        assert!(
            message["body"].as_str().expect("body").contains(code),
            "{message}"
        );
    }
    assert_eq!(all[0]["channel"], "sms");
    assert_eq!(all[1]["channel"], "email");

    let filtered = app.outbox("second@example.com").await;
    assert_eq!(filtered.len(), 1, "{filtered:?}");
    assert_eq!(filtered[0]["to"], "second@example.com");
    assert!(app.outbox("nobody@example.com").await.is_empty());
}

#[tokio::test]
async fn test_outbox_is_per_tenant() {
    let app = TestApp::new().await;
    app.send(email_send(EMAIL)).await;
    let other = app.get(MESSAGES, Some(&app.other_key)).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert_eq!(other.body, json!([]), "Globex must not see Acme's messages");
    let path = format!("{MESSAGES}?to={}", urlencode(EMAIL));
    let other = app.get(&path, Some(&app.other_key)).await;
    assert_eq!(other.body, json!([]));
}

// --- security headers ------------------------------------------------------------------------

#[tokio::test]
async fn responses_carry_nosniff() {
    let app = TestApp::new().await;
    let answers = [
        app.get("/healthz", None).await,
        app.get("/api/openapi.json", None).await,
        app.get(MESSAGES, Some(&app.test_key)).await,
        app.get(MESSAGES, None).await,
        app.get("/api/v1/nope", None).await,
        app.post(INITIATE, &app.test_key, json!({"phone_number": PHONE}))
            .await,
        app.post(INITIATE, &app.test_key, json!({"phone_number": "nope"}))
            .await,
        app.post_raw(
            INITIATE,
            Some(&app.test_key),
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await,
        app.post_raw(
            INITIATE,
            Some(&app.test_key),
            Some("application/json"),
            vec![b' '; 20_000],
        )
        .await,
    ];
    for answer in &answers {
        assert_eq!(
            answer
                .headers
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{} {}",
            answer.status,
            answer.text
        );
    }
}

// --- idempotent sends ------------------------------------------------------------------------

async fn idempotent_send(app: &TestApp, key: &str, idempotency_key: &str, body: &Value) -> Answer {
    post_with(
        app,
        SEND,
        &[("x-api-key", key), ("idempotency-key", idempotency_key)],
        body,
    )
    .await
}

#[tokio::test]
async fn same_idempotency_key_and_body_replay_the_first_answer_without_sending() {
    let app = TestApp::new().await;
    let body = email_send("idem@example.com");
    let first = idempotent_send(&app, &app.test_key, "order-42", &body).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    app.clock.advance(60);
    let second = idempotent_send(&app, &app.test_key, "order-42", &body).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(first.body["session_token"], second.body["session_token"]);
    assert_eq!(first.body, second.body, "the replay is the first answer");
    assert_eq!(app.outbox("idem@example.com").await.len(), 1, "sent once");
    // The replayed session is a real one.
    let token = first.body["session_token"].as_str().expect("token");
    let code = app.code("email", "idem@example.com").await;
    let verified = app.verify(token, json!({"email": code})).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
}

#[tokio::test]
async fn same_idempotency_key_with_another_body_is_invalid_request() {
    let app = TestApp::new().await;
    let first = idempotent_send(
        &app,
        &app.test_key,
        "order-42",
        &email_send("idem@example.com"),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let other = idempotent_send(
        &app,
        &app.test_key,
        "order-42",
        &email_send("else@example.com"),
    )
    .await;
    assert_invalid_request(&other, "Idempotency-Key");
    assert!(app.outbox("else@example.com").await.is_empty());
    assert_eq!(app.outbox("idem@example.com").await.len(), 1);
}

#[tokio::test]
async fn different_idempotency_keys_make_different_sessions() {
    let app = TestApp::new().await;
    let body = email_send("idem@example.com");
    let first = idempotent_send(&app, &app.test_key, "order-1", &body).await;
    let second = idempotent_send(&app, &app.test_key, "order-2", &body).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_ne!(first.body["session_token"], second.body["session_token"]);
    assert_eq!(app.outbox("idem@example.com").await.len(), 2);
}

#[tokio::test]
async fn idempotency_keys_are_per_tenant() {
    let app = TestApp::new().await;
    let body = email_send("idem@example.com");
    let acme = idempotent_send(&app, &app.test_key, "order-42", &body).await;
    let globex = idempotent_send(&app, &app.other_key, "order-42", &body).await;
    assert_eq!(acme.status, StatusCode::OK, "{}", acme.text);
    assert_eq!(globex.status, StatusCode::OK, "{}", globex.text);
    assert_ne!(acme.body["session_token"], globex.body["session_token"]);
    let globex_token = globex.body["session_token"].as_str().expect("token");
    let mine = app
        .post(
            STATUS,
            &app.other_key,
            json!({"session_token": globex_token}),
        )
        .await;
    assert_eq!(
        mine.status,
        StatusCode::OK,
        "Globex owns its session: {}",
        mine.text
    );
    let theirs = app.status(globex_token).await;
    assert_error(&theirs, StatusCode::NOT_FOUND, "not_found");
    let globex_outbox = app
        .get(
            &format!("{MESSAGES}?to=idem%40example.com"),
            Some(&app.other_key),
        )
        .await;
    assert_eq!(
        globex_outbox.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        globex_outbox.text
    );
    assert_eq!(
        app.outbox("idem@example.com").await.len(),
        1,
        "Acme's own message only"
    );
}

#[tokio::test]
async fn invalid_idempotency_key_is_invalid_request() {
    let app = TestApp::new().await;
    let body = email_send("idem@example.com");
    for key in ["has space".to_owned(), "k".repeat(256)] {
        let answer = idempotent_send(&app, &app.test_key, &key, &body).await;
        assert_invalid_request(&answer, "Idempotency-Key");
    }
    assert!(app.outbox("idem@example.com").await.is_empty());
}

/// The baseline the "costs no attempt" checks above compare against: a wrong code costs one.
#[tokio::test]
async fn v1_wrong_code_counts_one_attempt() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", EMAIL).await;
    let answer = app.verify(&token, json!({"email": wrong(&code)})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_otp");
    assert_eq!(attempts_remaining(&app, &token).await, 4);
}

// --- defects found by a first-minute review ---------------------------------------------------

#[tokio::test]
async fn duplicate_json_keys_are_refused_naming_the_key() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", EMAIL).await;
    let cases = [
        (
            VERIFY,
            format!(
                r#"{{"session_token":"{}","session_token":"{token}","otps":{{"email":"{code}"}}}}"#,
                "x".repeat(43)
            ),
            "session_token",
        ),
        (
            VERIFY,
            format!(
                r#"{{"session_token":"{token}","otps":{{"email":"000000","email":"{code}"}}}}"#
            ),
            "otps.email",
        ),
        (
            SEND,
            r#"{"channels":["email"],"recipients":{"email":"a@example.com"},"channels":["sms"]}"#
                .to_owned(),
            "channels",
        ),
        (
            STATUS,
            format!(r#"{{"session_token":"{token}","session_token":"{token}"}}"#),
            "session_token",
        ),
        (
            SINGLE_VERIFY,
            r#"{"request_id":"a","code":"1","code":"2"}"#.to_owned(),
            "code",
        ),
    ];
    for (path, body, key) in cases {
        let answer = app
            .post_raw(
                path,
                Some(&app.test_key),
                Some("application/json"),
                body.into_bytes(),
            )
            .await;
        assert_invalid_request(&answer, &format!("{key}: duplicate key"));
        assert!(!answer.text.contains(&code), "{}", answer.text);
    }
    // Nothing was verified or counted by the refused bodies.
    let status = app.status(&token).await;
    assert_eq!(status.body["verified_channels"], json!([]));
    assert_eq!(status.body["attempts_remaining"], 5);
}

#[tokio::test]
async fn every_api_answer_says_no_store() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let answers = [
        app.post(SEND, &app.test_key, email_send(EMAIL)).await,
        app.status(&token).await,
        app.verify(&token, json!({"email": "000000"})).await,
        app.get(
            &format!("{MESSAGES}?to={}", urlencode(EMAIL)),
            Some(&app.test_key),
        )
        .await,
        app.get("/api/openapi.json", None).await,
        app.post(STATUS, "sk_test_nope", json!({})).await,
        app.get("/api/v1/nowhere", None).await,
        app.post_raw(
            SEND,
            Some(&app.test_key),
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await,
        app.post_raw(
            SEND,
            Some(&app.test_key),
            Some("application/json"),
            vec![b' '; 17 * 1024],
        )
        .await,
    ];
    for answer in answers {
        assert_eq!(
            answer
                .headers
                .get(header::CACHE_CONTROL)
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{} {}",
            answer.status,
            answer.text
        );
    }
}

#[tokio::test]
async fn send_accepts_exactly_one_plain_mailbox() {
    let app = TestApp::new().await;
    for address in [
        "x@evil.com, <victim@example.com>",
        "x@evil.com,victim@example.com",
        "Victim <victim@example.com>",
        "<victim@example.com>",
        "u@[127.0.0.1]",
        "victim@example.com (comment)",
        "\"quoted\"@example.com",
        "user@localhost",
    ] {
        let answer = app.post(SEND, &app.test_key, email_send(address)).await;
        assert_invalid_request(&answer, "recipients.email");
        assert!(app.outbox(address).await.is_empty(), "{address}");
    }
    let answer = app
        .post(
            SEND,
            &app.test_key,
            email_send("first.last+tag@mail.example.org"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

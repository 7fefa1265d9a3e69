//! Cross-cutting HTTP behaviour of both APIs, a module per topic; the helpers they share are
//! here.

mod auth;
mod bodies;
mod codes;
mod idempotency;
mod outbox;
mod routing;
mod validation;

use crate::common::{Answer, TestApp, assert_error, urlencode, wrong};
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
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

//! Request bodies: content type, size limit, malformed JSON, duplicate keys.

use super::*;

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

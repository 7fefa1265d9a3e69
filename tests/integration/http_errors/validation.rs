//! Send validation: every refused field is named, recipients are plain contact points.

use super::*;

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

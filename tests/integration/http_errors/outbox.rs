//! The test outbox: test keys only, per tenant, newest first, filtered by recipient.

use super::*;

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

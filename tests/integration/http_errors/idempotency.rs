//! Idempotent sends: the same key and body replay the first answer; another body is `422`.

use super::*;

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
async fn same_idempotency_key_with_another_body_is_unprocessable() {
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
    // draft-ietf-httpapi-idempotency-key-header: 422, not 400.
    assert_error(&other, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(
        other.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Idempotency-Key"),
        "{}",
        other.text
    );
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

#[tokio::test]
async fn an_idempotency_key_used_again_after_its_window_sends_anew_and_replays_the_new_answer() {
    let app = TestApp::new().await;
    let first_body = email_send("window@example.com");
    let first = idempotent_send(&app, &app.test_key, "order-7", &first_body).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    // A day and a second later the first record is out of its window but still stored (no
    // purge ran): the key is free again, even with another body, and its record is replaced.
    app.clock.advance(24 * 60 * 60 + 1);
    let second_body = email_send("window2@example.com");
    let second = idempotent_send(&app, &app.test_key, "order-7", &second_body).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_ne!(first.body["session_token"], second.body["session_token"]);
    let replay = idempotent_send(&app, &app.test_key, "order-7", &second_body).await;
    assert_eq!(replay.body, second.body, "the new answer is the one kept");
    let mismatch = idempotent_send(&app, &app.test_key, "order-7", &first_body).await;
    assert_error(
        &mismatch,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(app.outbox("window2@example.com").await.len(), 1);
}

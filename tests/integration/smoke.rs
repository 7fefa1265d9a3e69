//! A first end-to-end pass through the router: send, read the outbox, verify, status.

use crate::common::TestApp;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn send_verify_status() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", "user@example.com").await;
    let answer = app.verify(&token, json!({"email": code})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let status = app.status(&token).await;
    assert_eq!(status.body["status"], "verified", "{}", status.text);
}

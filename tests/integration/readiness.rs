//! Readiness and unavailability: `/readyz` says whether the instance can serve, and while the
//! database cannot take writes every call that needs it answers `503 unavailable` with
//! `Retry-After` (never `500`); both come back without a restart.

use axum::http::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::common::{TestApp, database};

#[tokio::test]
async fn a_healthy_instance_is_ready() {
    let app = TestApp::new().await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body, json!({"status": "ok"}));
    let live = app.get("/healthz", None).await;
    assert_eq!(live.status, StatusCode::OK);
}

/// Another process holds SQLite's write lock (a stuck job, a backup taken the wrong way): the
/// instance is not ready, and sends and verifications answer 503 after the busy timeout; once
/// the lock is released, all of it works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_takes_no_writes_is_503_until_it_does_again() {
    if database::on_postgres() {
        return; // PostgreSQL's outage is the test of `scripts/test`'s outage step.
    }
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let url = app.settings.database_url();
    let mut blocker = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .expect("the write lock");

    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert_eq!(
        ready.body,
        json!({"status": "unavailable", "reason": "database does not take writes"})
    );
    let send = app
        .post(
            "/api/v1/otp/send",
            &app.test_key,
            json!({"channels": ["email"], "recipients": {"email": "later@example.com"}}),
        )
        .await;
    assert_eq!(
        send.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        send.text
    );
    assert_eq!(send.body["code"], "unavailable");
    assert_eq!(send.headers["retry-after"], "5");
    let verify = app.verify(&token, json!({"email": "000000"})).await;
    assert_eq!(
        verify.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        verify.text
    );
    // Reads still work: a status needs no write.
    assert_eq!(app.status(&token).await.status, StatusCode::OK);

    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("release");
    drop(blocker);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let send = app
        .post(
            "/api/v1/otp/send",
            &app.test_key,
            json!({"channels": ["email"], "recipients": {"email": "later@example.com"}}),
        )
        .await;
    assert_eq!(send.status, StatusCode::OK, "{}", send.text);
}

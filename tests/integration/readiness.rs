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

/// Marks files immutable (`chattr +i`: even root cannot write them) while it lives, and always
/// clears the mark again, so the temporary directory can be removed.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(paths: Vec<std::path::PathBuf>) -> Option<Immutable> {
        let set = std::process::Command::new("chattr")
            .arg("+i")
            .args(&paths)
            .status()
            .is_ok_and(|s| s.success());
        let guard = Immutable(paths);
        set.then_some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .args(&self.0)
            .status();
    }
}

/// The SQLite file made read-only under the running instance (immutable, so that root too is
/// refused — this suite runs as root, where permission bits do not hold): not ready, and sends
/// answer 503; writable again, ready again, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_made_read_only_is_503_until_it_is_writable_again() {
    if database::on_postgres() {
        return; // PostgreSQL's outage is the test of `scripts/test`'s outage step.
    }
    let app = TestApp::new().await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let db = app.dir.path().join("otpgate.db");
    let wal = app.dir.path().join("otpgate.db-wal");
    let Some(guard) = Immutable::set(vec![db, wal]) else {
        panic!("chattr +i failed: this test needs an ext4 (or xfs) temporary directory and root");
    };

    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert_eq!(ready.body["status"], "unavailable");
    let reason = ready.body["reason"].as_str().expect("a reason");
    assert!(reason.contains("does not take writes"), "{reason}");
    let send = app
        .post(
            "/api/v1/otp/send",
            &app.test_key,
            json!({"channels": ["email"], "recipients": {"email": "ro@example.com"}}),
        )
        .await;
    assert_eq!(
        send.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        send.text
    );
    assert_eq!(send.body["code"], "unavailable");

    drop(guard);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let send = app
        .post(
            "/api/v1/otp/send",
            &app.test_key,
            json!({"channels": ["email"], "recipients": {"email": "ro@example.com"}}),
        )
        .await;
    assert_eq!(send.status, StatusCode::OK, "{}", send.text);
}

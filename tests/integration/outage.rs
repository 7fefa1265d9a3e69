//! PostgreSQL going away under a running instance and coming back: while it is gone `/readyz`
//! says so and every call that needs the database answers `503 unavailable` with `Retry-After`
//! (never `500`); when it is back, everything works again without a restart, and what was
//! acknowledged before is still there. It stops its cluster, so `scripts/test` runs it alone on a
//! throwaway cluster of its own.

use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{TestApp, database};

/// `pg_ctlcluster` on the throwaway cluster `pg_virtualenv` made (`regress`).
fn cluster(action: &str) {
    let version = std::env::var("PGVERSION").expect("PGVERSION, set by pg_virtualenv");
    let mut command = Command::new("pg_ctlcluster");
    command.args([version.as_str(), "regress", action]);
    if action == "stop" {
        command.args(["-m", "fast"]);
    }
    let output = command.output().expect("pg_ctlcluster");
    assert!(
        output.status.success(),
        "pg_ctlcluster {action}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `/readyz`'s status, asked until it is `wanted` (at most `seconds`).
async fn readiness_becomes(app: &TestApp, wanted: StatusCode, seconds: u64) -> serde_json::Value {
    for _ in 0..seconds * 10 {
        let ready = app.get("/readyz", None).await;
        if ready.status == wanted {
            return ready.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {wanted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops its PostgreSQL cluster: scripts/test runs it alone, on a cluster of its own"]
async fn postgres_stopped_then_started() {
    assert!(database::on_postgres(), "run under scripts/with-postgres");
    let app = TestApp::new().await;
    let before = app.email_sms_session(json!({"expires_in": 600})).await;
    let code = app.code("email", "user@example.com").await;

    cluster("stop");
    let body = readiness_becomes(&app, StatusCode::SERVICE_UNAVAILABLE, 20).await;
    assert_eq!(
        body,
        json!({"status": "unavailable", "reason": "database unreachable"})
    );
    let send = json!({"channels": ["email"], "recipients": {"email": "gone@example.com"}});
    for _ in 0..3 {
        for answer in [
            app.post("/api/v1/otp/send", &app.test_key, send.clone())
                .await,
            app.verify(&before, json!({"email": "000000"})).await,
            app.status(&before).await,
        ] {
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{}",
                answer.text
            );
            assert_eq!(answer.body["code"], "unavailable");
            assert_eq!(answer.headers["retry-after"], "5");
        }
    }

    cluster("start");
    readiness_becomes(&app, StatusCode::OK, 30).await;
    let sent = app.post("/api/v1/otp/send", &app.test_key, send).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    let verified = app.verify(&before, json!({"email": code})).await;
    assert_eq!(
        verified.status,
        StatusCode::OK,
        "the session acknowledged before the outage: {}",
        verified.text
    );
}

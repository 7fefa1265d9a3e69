//! Atomicity under concurrency, through the real router on a multi-threaded runtime: attempts
//! are counted exactly, a code is consumed once, a resend is sent once, an idempotent send
//! creates one session.

#![expect(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::Arc;

use crate::common::{TestApp, wrong};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Barrier;

const EMAIL: &str = "user@example.com";
const PHONE: &str = "+14155550100";

/// Runs `n` copies of the same POST at once and returns their statuses.
async fn post_concurrently(
    app: &Arc<TestApp>,
    n: usize,
    path: &'static str,
    body: Value,
) -> Vec<StatusCode> {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let app = app.clone();
            let barrier = barrier.clone();
            let body = body.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                app.post(path, &app.test_key, body).await.status
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|&&s| s == status).count()
}

async fn wrong_guesses_consume_exactly_max_attempts(max_attempts: u64) {
    let app = Arc::new(TestApp::new().await);
    let token = app
        .email_sms_session(json!({"max_attempts": max_attempts}))
        .await;
    let code = app.code("email", EMAIL).await;
    let body = json!({"session_token": token, "otps": {"email": wrong(&code)}});
    let statuses = post_concurrently(&app, 50, "/api/v1/otp/verify", body).await;
    let limit = usize::try_from(max_attempts).unwrap();
    assert_eq!(
        count(&statuses, StatusCode::BAD_REQUEST),
        limit,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        50 - limit,
        "{statuses:?}"
    );
    let status = app.status(&token).await.body;
    assert_eq!(status["attempts_remaining"], 0);
    assert_eq!(status["status"], "locked");
    let stored: i64 = sqlx::query_scalar("SELECT failed_attempts FROM sessions")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(stored, i64::try_from(max_attempts).unwrap());
    // Locked for good, even with the right code.
    let right = app.verify(&token, json!({"email": code})).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_wrong_guesses_consume_exactly_the_default_five() {
    wrong_guesses_consume_exactly_max_attempts(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_wrong_guesses_consume_exactly_twenty() {
    wrong_guesses_consume_exactly_max_attempts(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_correct_single_sms_submissions_verify_once() {
    let app = Arc::new(TestApp::new().await);
    let initiated = app
        .post(
            "/api/otp/initiate",
            &app.test_key,
            json!({"phone_number": PHONE}),
        )
        .await;
    assert_eq!(initiated.status, StatusCode::OK);
    let request_id = initiated.body["request_id"].as_str().unwrap().to_owned();
    let code = app.code("sms", PHONE).await;
    let body = json!({"request_id": request_id, "code": code});
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, barrier, body) = (app.clone(), barrier.clone(), body.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                app.post("/api/otp/verify", &app.test_key, body).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let ok: Vec<_> = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].body["attempts_used"], 1);
    let already = answers
        .iter()
        .filter(|a| a.status == StatusCode::BAD_REQUEST && a.body["code"] == "otp_already_verified")
        .count();
    assert_eq!(already, 19);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_correct_submissions_verify_a_channel_once() {
    let app = Arc::new(TestApp::new().await);
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", EMAIL).await;
    let body = json!({"session_token": token, "otps": {"email": code}});
    let statuses = post_concurrently(&app, 20, "/api/v1/otp/verify", body).await;
    // Re-verifying a verified channel reports success and costs nothing.
    assert_eq!(count(&statuses, StatusCode::OK), 20);
    let ranks: Vec<Option<i64>> =
        sqlx::query_scalar("SELECT verified_rank FROM session_channels ORDER BY position")
            .fetch_all(&app.db().await)
            .await
            .unwrap();
    assert_eq!(ranks, vec![Some(1), None]);
    assert_eq!(app.status(&token).await.body["attempts_remaining"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_resends_send_once() {
    let app = Arc::new(TestApp::new().await);
    let token = app.email_sms_session(json!({})).await;
    app.clock.advance(30);
    let body = json!({"session_token": token, "channels": ["sms"]});
    let statuses = post_concurrently(&app, 10, "/api/v1/otp/resend", body).await;
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        9,
        "{statuses:?}"
    );
    assert_eq!(
        app.outbox(PHONE).await.len(),
        2,
        "the first send and one resend"
    );
    // The code that works is the one in the newest message.
    let code = app.code("sms", PHONE).await;
    assert_eq!(
        app.verify(&token, json!({"sms": code})).await.status,
        StatusCode::OK
    );
}

fn idempotent_send(app: &TestApp, body: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post("/api/v1/otp/send")
        .header("x-api-key", &app.test_key)
        .header("content-type", "application/json")
        .header("idempotency-key", "order-1001")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_idempotent_sends_create_one_session() {
    let app = Arc::new(TestApp::new().await);
    let body = json!({"channels": ["sms"], "recipients": {"sms": PHONE}}).to_string();
    let barrier = Arc::new(Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, barrier, body) = (app.clone(), barrier.clone(), body.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                app.request(idempotent_send(&app, &body)).await
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        // Each retry is the first answer, or told the first is still being answered.
        match answer.status {
            StatusCode::OK => {
                tokens.push(answer.body["session_token"].as_str().unwrap().to_owned())
            }
            StatusCode::CONFLICT => assert_eq!(answer.body["code"], "conflict", "{}", answer.text),
            _ => panic!("{}", answer.text),
        }
    }
    let after = app.request(idempotent_send(&app, &body)).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    tokens.push(after.body["session_token"].as_str().unwrap().to_owned());
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "one session token for every retry");
    assert_eq!(app.outbox(PHONE).await.len(), 1, "one message");
}

/// While the first request with a key waits on the database, a second one with that key is
/// answered `409` at once; once the first is answered, the key replays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_while_the_first_is_being_answered_is_a_conflict() {
    let app = Arc::new(TestApp::new().await);
    let body =
        json!({"channels": ["email"], "recipients": {"email": "slow@example.com"}}).to_string();
    let pool = app.db().await;
    let mut blocker = pool.acquire().await.expect("a connection");
    let hold = if crate::common::database::on_postgres() {
        vec!["BEGIN", "LOCK TABLE sessions IN EXCLUSIVE MODE"]
    } else {
        vec!["BEGIN IMMEDIATE"]
    };
    for statement in hold {
        sqlx::query(statement)
            .execute(&mut *blocker)
            .await
            .expect(statement);
    }
    let first = {
        let (app, body) = (app.clone(), body.clone());
        tokio::spawn(async move { app.request(idempotent_send(&app, &body)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = app.request(idempotent_send(&app, &body)).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    assert_eq!(second.body["code"], "conflict");
    assert!(
        second.body["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{}",
        second.text
    );
    sqlx::query("ROLLBACK")
        .execute(&mut *blocker)
        .await
        .expect("release");
    drop(blocker);
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let third = app.request(idempotent_send(&app, &body)).await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.text);
    assert_eq!(third.body, first.body, "the first answer, replayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_abandoned_mid_write_leave_the_store_working() {
    // Clients that go away mid-request (a closed connection drops the request's future): the
    // writes they started must neither be cut between two statements nor leave the writer
    // connection unusable.
    let app = Arc::new(TestApp::new().await);
    let mut tasks = Vec::new();
    for i in 0..400u64 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let request = app.post(
                "/api/v1/otp/send",
                &app.test_key,
                json!({"channels": ["email"], "recipients": {"email": format!("gone{i}@example.com")}}),
            );
            let deadline = std::time::Duration::from_micros(50 + (i * 7919) % 3000);
            let _ = tokio::time::timeout(deadline, request).await;
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", "user@example.com").await;
    let answer = app.verify(&token, json!({"email": code})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    // Every send that answered left a whole session: one delivery per session.
    let db = app.db().await;
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.session_id = s.id)",
    )
    .fetch_one(&db)
    .await
    .expect("count");
    assert_eq!(orphans, 0);
}

//! One verification looked up over the admin API: a session by the `session_id` send and
//! status answer, a single-SMS request by its `request_id`, each with its timeline in time
//! order (created, messages and every hand-over to the provider, decided codes, the end),
//! within the token's tenant, and never a code, a token or a recipient in clear.

use axum::http::{Method, StatusCode};
use otpgate::server::service::AdminScope;
use serde_json::{Value, json};

use crate::common::standins::Trouble;
use crate::common::{TestApp, assert_error, wrong};
use crate::delivery::{code_in, twilio_app};

const PHONE: &str = "+14155550100";

/// The `type`s of a timeline, in order.
fn kinds(verification: &Value) -> Vec<String> {
    verification["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|line| line["type"].as_str().expect("a type").to_owned())
        .collect()
}

async fn look_up(app: &TestApp, path: &str, token: &str) -> crate::common::Answer {
    app.admin_call(Method::GET, path, Some(token), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_found_by_its_session_id_with_every_hand_over_and_code_in_order() {
    let (app, twilio) = twilio_app().await;
    let read = app.admin_token(AdminScope::Read, Some("Acme")).await;
    twilio.trouble(Trouble::Down, 1);
    let sent = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["sms"], "recipients": {"sms": PHONE}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    let token = sent.body["session_token"].as_str().expect("a token");
    let session_id = sent.body["session_id"].as_str().expect("a session_id");
    assert!(session_id.starts_with("ses_") && session_id.len() == 36);
    assert!(!token.contains(&session_id[4..]), "unrelated to the token");

    assert_eq!(app.deliver().await, 1, "the provider is down");
    app.clock.advance(2);
    assert_eq!(app.deliver().await, 1, "accepted on the second try");
    let code = code_in(&twilio.accepted()[0].text);
    app.clock.advance(5);
    let wrong_answer = app
        .post(
            "/api/v1/otp/verify",
            &app.live_key,
            json!({"session_token": token, "otps": {"sms": wrong(&code)}}),
        )
        .await;
    assert_eq!(wrong_answer.status, StatusCode::BAD_REQUEST);
    app.clock.advance(3);
    let right = app
        .post(
            "/api/v1/otp/verify",
            &app.live_key,
            json!({"session_token": token, "otps": {"sms": code}}),
        )
        .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
    let status = app
        .post(
            "/api/v1/otp/status",
            &app.live_key,
            json!({"session_token": token}),
        )
        .await;
    assert_eq!(status.body["session_id"], session_id, "status names it too");

    let found = look_up(&app, &format!("/admin/v1/sessions/{session_id}"), &read).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    let body = &found.body;
    assert_eq!(
        (
            &body["session_id"],
            &body["api"],
            &body["tenant"],
            &body["status"]
        ),
        (
            &json!(session_id),
            &json!("progressive"),
            &json!("Acme"),
            &json!("verified")
        )
    );
    assert_eq!(body["attempts_remaining"], 4);
    assert_eq!(body["channels"][0]["recipient"], "+1 •••• ••0100");
    assert_eq!(body["channels"][0]["failed_attempts"], 1);
    assert_eq!(
        kinds(body),
        [
            "created",
            "message.queued",
            "message.attempt",
            "message.attempt",
            "code.checked",
            "code.checked",
            "verified"
        ]
    );
    let timeline = &body["timeline"];
    assert_eq!(timeline[1]["resend"], false);
    assert_eq!(
        (&timeline[2]["outcome"], &timeline[3]["outcome"]),
        (&json!("transient"), &json!("accepted"))
    );
    assert_eq!(timeline[3]["provider"], "twilio");
    assert_eq!(timeline[3]["attempt"], 2);
    assert_eq!(
        (&timeline[4]["result"], &timeline[5]["result"]),
        (&json!("wrong_code"), &json!("verified"))
    );
    assert_eq!(
        timeline[5]["at"], timeline[6]["at"],
        "verified by that code"
    );
    for secret in [token, code.as_str(), PHONE, "4155550100"] {
        assert!(!found.text.contains(secret), "{secret} in {}", found.text);
    }
}

#[tokio::test]
async fn another_tenants_session_and_malformed_ids_are_not_found() {
    let app = TestApp::new().await;
    let sent = app
        .send(json!({"channels": ["email"], "recipients": {"email": "a@example.com"}}))
        .await;
    let session_id = sent["session_id"].as_str().expect("a session_id");
    let path = format!("/admin/v1/sessions/{session_id}");
    let globex = app.admin_token(AdminScope::Read, Some("Globex")).await;
    assert_error(
        &look_up(&app, &path, &globex).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let operator = app.admin_token(AdminScope::Read, None).await;
    assert_eq!(look_up(&app, &path, &operator).await.status, StatusCode::OK);
    for bad in [
        "ses_00000000000000000000000000000000",
        "ses_ZZ",
        "1",
        "%27%20OR%201%3D1",
    ] {
        let answer = look_up(&app, &format!("/admin/v1/sessions/{bad}"), &operator).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
        let answer = look_up(&app, &format!("/admin/v1/sms-requests/{bad}"), &operator).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let none = app.admin_call(Method::GET, &path, None, None).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_locked_session_ends_at_its_last_wrong_code_and_a_cancelled_one_when_cancelled() {
    let app = TestApp::new().await;
    let read = app.admin_token(AdminScope::Read, None).await;
    let sent = app
        .send(
            json!({"channels": ["email"], "recipients": {"email": "a@example.com"},
                     "max_attempts": 2}),
        )
        .await;
    let token = sent["session_token"].as_str().expect("a token");
    let code = app.code("email", "a@example.com").await;
    app.clock.advance(10);
    app.verify(token, json!({"email": wrong(&code)})).await;
    app.clock.advance(10);
    let locked = app.verify(token, json!({"email": wrong(&code)})).await;
    assert_error(&locked, StatusCode::BAD_REQUEST, "invalid_otp");
    app.clock.advance(10);
    let path = format!(
        "/admin/v1/sessions/{}",
        sent["session_id"].as_str().expect("id")
    );
    let found = look_up(&app, &path, &read).await;
    assert_eq!(found.body["status"], "locked", "{}", found.text);
    assert_eq!(found.body["test"], true);
    let timeline = found.body["timeline"].as_array().expect("timeline").clone();
    let last = timeline.last().expect("an end");
    assert_eq!(last["type"], "locked");
    assert_eq!(last["at"], timeline[timeline.len() - 2]["at"]);

    let other = app
        .send(json!({"channels": ["email"], "recipients": {"email": "b@example.com"}}))
        .await;
    let cancel = app
        .post(
            "/api/v1/otp/cancel",
            &app.test_key,
            json!({"session_token": other["session_token"]}),
        )
        .await;
    assert!(cancel.status.is_success(), "{}", cancel.text);
    let path = format!(
        "/admin/v1/sessions/{}",
        other["session_id"].as_str().expect("id")
    );
    let found = look_up(&app, &path, &read).await;
    assert_eq!(found.body["status"], "canceled", "{}", found.text);
    assert_eq!(
        kinds(&found.body).last().map(String::as_str),
        Some("canceled")
    );
}

#[tokio::test]
async fn a_single_sms_request_is_found_by_any_spelling_of_its_id() {
    let app = TestApp::new().await;
    let operator = app.admin_token(AdminScope::Read, None).await;
    let started = app
        .post(
            "/api/otp/initiate",
            &app.test_key,
            json!({"phone_number": PHONE}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let request_id = started.body["request_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let code = app.code("sms", PHONE).await;
    for _ in 0..3 {
        app.clock.advance(1);
        app.post(
            "/api/otp/verify",
            &app.test_key,
            json!({"request_id": request_id, "code": wrong(&code)}),
        )
        .await;
    }
    let path = format!("/admin/v1/sms-requests/{}", request_id.to_uppercase());
    let found = look_up(&app, &path, &operator).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    assert_eq!(
        (
            &found.body["request_id"],
            &found.body["api"],
            &found.body["status"]
        ),
        (&json!(request_id), &json!("single"), &json!("locked"))
    );
    assert!(found.body.get("session_id").is_none());
    assert_eq!(found.body["attempts_remaining"], 0);
    assert_eq!(
        kinds(&found.body),
        [
            "created",
            "message.queued",
            "code.checked",
            "code.checked",
            "code.checked",
            "locked"
        ]
    );
    assert!(!found.text.contains(&code) && !found.text.contains(PHONE));
    let globex = app.admin_token(AdminScope::Read, Some("Globex")).await;
    assert_error(
        &look_up(&app, &path, &globex).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

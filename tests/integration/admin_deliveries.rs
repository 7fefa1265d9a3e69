//! The delivery queue over the admin API, against the Twilio stand-in: messages listed by
//! status, channel and provider with a cursor, masked; a failed message sent again (a resend
//! with a new code, recorded once); a waiting message canceled (never delivered, its code
//! erased, recorded once); each within the token's tenant and scope.

use axum::http::{Method, StatusCode};
use otpgate::server::service::AdminScope;
use serde_json::{Value, json};

use crate::common::standins::TWILIO_BLOCKED;
use crate::common::{TestApp, assert_error};
use crate::delivery::twilio_app;

const PHONE: &str = "+14155550100";

async fn live_sms(app: &TestApp, to: &str) -> Value {
    let sent = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["sms"], "recipients": {"sms": to}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    sent.body
}

async fn list(app: &TestApp, query: &str, token: &str) -> crate::common::Answer {
    let path = format!("/admin/v1/deliveries{query}");
    app.admin_call(Method::GET, &path, Some(token), None).await
}

fn ids(page: &Value) -> Vec<i64> {
    page["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["id"].as_i64().expect("an id"))
        .collect()
}

async fn audit(app: &TestApp, action: &str, token: &str) -> Vec<Value> {
    let path = format!("/admin/v1/audit?action={action}");
    let answer = app.admin_call(Method::GET, &path, Some(token), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["entries"].as_array().expect("entries").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_listed_by_status_channel_and_provider_newest_first_and_masked() {
    let (app, _twilio) = twilio_app().await;
    let read = app.admin_token(AdminScope::Read, None).await;
    let good = live_sms(&app, PHONE).await;
    live_sms(&app, TWILIO_BLOCKED).await;
    let waiting = list(&app, "?status=queued", &read).await;
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.text);
    assert_eq!(ids(&waiting.body).len(), 2);
    let newest = &waiting.body["deliveries"][1];
    assert_eq!(newest["session_id"], good["session_id"]);
    assert_eq!(newest["recipient"], "+1 •••• ••0100");
    assert!(newest["next_attempt_at"].is_string());
    assert_eq!(app.deliver().await, 2);

    let failed = list(&app, "?status=failed&channel=sms&provider=twilio", &read).await;
    assert_eq!(ids(&failed.body).len(), 1, "{}", failed.text);
    assert_eq!(failed.body["deliveries"][0]["error"], "blocked");
    assert!(failed.body["deliveries"][0]["next_attempt_at"].is_null());
    let sent = list(&app, "?status=sent", &read).await;
    assert_eq!(ids(&sent.body).len(), 1);
    assert!(!sent.text.contains(PHONE) && !failed.text.contains(TWILIO_BLOCKED));
    assert_eq!(
        ids(&list(&app, "?channel=email", &read).await.body).len(),
        0
    );

    let first = list(&app, "?limit=1", &read).await;
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = list(&app, &format!("?limit=1&cursor={cursor}"), &read).await;
    assert!(ids(&second.body)[0] < ids(&first.body)[0], "newest first");
    let all = [ids(&first.body), ids(&second.body)].concat();
    assert_eq!(all, ids(&list(&app, "", &read).await.body));

    for bad in [
        "?status=lost",
        "?channel=fax",
        "?cursor=x",
        "?limit=0",
        "?limit=1001",
    ] {
        assert_error(
            &list(&app, bad, &read).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
    let globex = app.admin_token(AdminScope::Read, Some("Globex")).await;
    assert_eq!(
        ids(&list(&app, "", &globex).await.body).len(),
        0,
        "another tenant's"
    );
    assert_error(
        &list(&app, "?tenant=Acme", &globex).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_is_sent_again_with_a_new_code_once_and_recorded() {
    let (app, twilio) = twilio_app().await;
    let read = app.admin_token(AdminScope::Read, None).await;
    let write = app.admin_token(AdminScope::Write, Some("Acme")).await;
    let sent = live_sms(&app, TWILIO_BLOCKED).await;
    let delivered = live_sms(&app, PHONE).await;
    assert_eq!(app.deliver().await, 2);
    let failed = list(&app, "?status=failed", &read).await;
    let id = ids(&failed.body)[0];
    let retry_path = format!("/admin/v1/deliveries/{id}/retry");

    let refused = app
        .admin_call(Method::POST, &retry_path, Some(&read), None)
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    let early = app
        .admin_call(Method::POST, &retry_path, Some(&write), None)
        .await;
    assert_error(&early, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        early.headers.contains_key("retry-after"),
        "a resend's cooldown"
    );

    app.clock.advance(30);
    let retried = app
        .admin_call(Method::POST, &retry_path, Some(&write), None)
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(
        (
            &retried.body["retried"],
            &retried.body["session_id"],
            &retried.body["channel"]
        ),
        (&json!(id), &sent["session_id"], &json!("sms"))
    );
    assert_eq!(retried.body["delivery"]["status"], "queued");
    let again = app
        .admin_call(Method::POST, &retry_path, Some(&write), None)
        .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
    assert!(
        again.body["message"]
            .as_str()
            .expect("why")
            .contains("replaced")
    );

    let before = twilio.requests();
    assert_eq!(app.deliver().await, 1, "the new message");
    assert_eq!(twilio.requests(), before + 1);
    let entries = audit(&app, "delivery.retried", &read).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["target"], format!("message {id}"));
    assert_eq!(entries[0]["after"]["session_id"], sent["session_id"]);
    assert_eq!(entries[0]["actor"]["type"], "admin_token");
    assert!(!entries[0].to_string().contains(TWILIO_BLOCKED));

    // A sent message is not retried, nor one of another tenant.
    let sent_id = ids(&list(&app, "?status=sent", &read).await.body)[0];
    let path = format!("/admin/v1/deliveries/{sent_id}/retry");
    let answer = app
        .admin_call(Method::POST, &path, Some(&write), None)
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "conflict");
    let globex = app.admin_token(AdminScope::Write, Some("Globex")).await;
    let answer = app
        .admin_call(Method::POST, &path, Some(&globex), None)
        .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    let _ = delivered;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_sms_message_is_not_retried_and_a_waiting_one_is_canceled_for_good() {
    let (app, twilio) = twilio_app().await;
    let write = app.admin_token(AdminScope::Write, None).await;
    let started = app
        .post(
            "/api/otp/initiate",
            &app.live_key,
            json!({"phone_number": TWILIO_BLOCKED}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    assert_eq!(app.deliver().await, 1);
    let failed = list(&app, "?status=failed", &write).await;
    assert_eq!(
        failed.body["deliveries"][0]["request_id"],
        started.body["request_id"]
    );
    let path = format!("/admin/v1/deliveries/{}/retry", ids(&failed.body)[0]);
    let answer = app
        .admin_call(Method::POST, &path, Some(&write), None)
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "conflict");

    let sent = live_sms(&app, PHONE).await;
    let waiting = list(&app, "?status=queued", &write).await;
    let id = ids(&waiting.body)[0];
    let cancel_path = format!("/admin/v1/deliveries/{id}/cancel");
    let canceled = app
        .admin_call(Method::POST, &cancel_path, Some(&write), None)
        .await;
    assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.text);
    assert_eq!(canceled.body["status"], "canceled");
    assert_eq!(canceled.body["session_id"], sent["session_id"]);
    let before = twilio.requests();
    assert_eq!(app.deliver().await, 0, "never handed over");
    assert_eq!(twilio.requests(), before);
    let sealed: Option<Vec<u8>> = sqlx::query_scalar(&format!(
        "SELECT sealed_code FROM deliveries WHERE id = {id}"
    ))
    .fetch_one(&app.db().await)
    .await
    .expect("the message");
    assert!(sealed.is_none(), "its code is erased");
    let again = app
        .admin_call(Method::POST, &cancel_path, Some(&write), None)
        .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
    let entries = audit(&app, "delivery.canceled", &write).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["before"]["status"], "queued");
    assert_eq!(entries[0]["after"]["recipient"], "+1 •••• ••0100");
    let status = app
        .post(
            "/api/v1/otp/status",
            &app.live_key,
            json!({"session_token": sent["session_token"]}),
        )
        .await;
    assert_eq!(status.status, StatusCode::OK);
    let missing = app
        .admin_call(
            Method::POST,
            "/admin/v1/deliveries/999999/cancel",
            Some(&write),
            None,
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
}

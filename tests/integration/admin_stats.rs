//! The figures of a window over the admin API, from a known mix of live SMS through the Twilio
//! stand-in: verified, expired and locked sessions, delivered, refused and undelivered messages;
//! per country; rates over nothing are null; within the token's tenant.

use axum::http::{Method, StatusCode};
use otpgate::server::service::AdminScope;
use serde_json::{Value, json};

use crate::common::standins::TWILIO_BLOCKED;
use crate::common::{TestApp, assert_error, wrong};
use crate::delivery::{code_in, twilio_app};

async fn live_sms(app: &TestApp, to: &str) -> String {
    let sent = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["sms"], "recipients": {"sms": to}, "max_attempts": 2}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    sent.body["session_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn stats(app: &TestApp, query: &str, token: &str) -> crate::common::Answer {
    let path = format!("/admin/v1/stats{query}");
    app.admin_call(Method::GET, &path, Some(token), None).await
}

fn group<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_mix_gives_its_counts_rates_and_times_in_total_and_per_country() {
    let (app, twilio) = twilio_app().await;
    let read = app.admin_token(AdminScope::Read, None).await;
    let verified = live_sms(&app, "+14155550100").await;
    let _expired = live_sms(&app, "+14155550101").await;
    let locked = live_sms(&app, "+447911123456").await;
    let _refused = live_sms(&app, TWILIO_BLOCKED).await;
    app.send(json!({"channels": ["sms"], "recipients": {"sms": "+14155550102"}}))
        .await; // a test key's: not traffic
    assert_eq!(app.deliver().await, 4);
    let accepted = twilio.accepted();
    assert_eq!(accepted.len(), 3);
    let to = |number: &str| {
        accepted
            .iter()
            .find(|m| m.to == number)
            .unwrap_or_else(|| panic!("nothing to {number}"))
    };
    app.clock.advance(4);
    for (number, status) in [
        ("+14155550100", "delivered"),
        ("+14155550101", "delivered"),
        ("+447911123456", "undelivered"),
    ] {
        let message = to(number);
        let callback = message.callback.as_deref().expect("a callback");
        assert_eq!(
            twilio
                .twilio_callback(callback, &message.id, status, false)
                .await,
            200
        );
    }
    app.clock.advance(8);
    let code = code_in(&to("+14155550100").text);
    let answer = app
        .post(
            "/api/v1/otp/verify",
            &app.live_key,
            json!({"session_token": verified, "otps": {"sms": code}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    for _ in 0..2 {
        app.post(
            "/api/v1/otp/verify",
            &app.live_key,
            json!({"session_token": locked, "otps": {"sms": wrong(&code)}}),
        )
        .await;
    }
    app.clock.advance(600);

    let answer = stats(&app, "?group_by=country", &read).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let total = &answer.body["total"];
    assert_eq!(
        [
            &total["sessions_started"],
            &total["sessions_verified"],
            &total["sessions_expired"],
            &total["sessions_locked"]
        ],
        [&json!(4), &json!(1), &json!(2), &json!(1)],
        "{total}"
    );
    assert_eq!(
        [
            &total["messages_sent"],
            &total["messages_delivered"],
            &total["messages_failed"]
        ],
        [&json!(3), &json!(2), &json!(2)],
        "{total}"
    );
    assert_eq!(total["conversion"], 0.25);
    assert_eq!(total["delivery_rate"], 2.0 / 3.0);
    assert_eq!(total["receipt_coverage"], 1.0);
    assert_eq!(total["time_to_deliver_p50"], 4.0);
    assert_eq!(total["time_to_verify_p50"], 12.0);
    let us = group(&answer.body, "+1");
    assert_eq!(
        (&us["sessions_started"], &us["messages_failed"]),
        (&json!(3), &json!(1))
    );
    let uk = group(&answer.body, "+44");
    assert_eq!(
        (&uk["sessions_locked"], &uk["delivery_rate"]),
        (&json!(1), &json!(0.0))
    );
    assert!(!answer.text.contains("4155550100") && !answer.text.contains("7911123456"));

    let by_channel = stats(&app, "?group_by=channel", &read).await;
    assert_eq!(group(&by_channel.body, "sms")["sessions_started"], 4);
    let empty = stats(
        &app,
        "?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z",
        &read,
    )
    .await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    for rate in [
        "conversion",
        "delivery_rate",
        "receipt_coverage",
        "time_to_verify_p50",
    ] {
        assert!(empty.body["total"][rate].is_null(), "{rate} over nothing");
    }
    assert_eq!(empty.body["total"]["sessions_started"], 0);

    let globex = app.admin_token(AdminScope::Read, Some("Globex")).await;
    let theirs = stats(&app, "", &globex).await;
    assert_eq!(
        theirs.body["total"]["sessions_started"], 0,
        "{}",
        theirs.text
    );
    assert_eq!(theirs.body["tenant"], "Globex");
    assert_error(
        &stats(&app, "?tenant=Acme", &globex).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    for bad in [
        "?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        "?since=2026-01-01T00:00:00Z&until=2026-02-02T00:00:00Z",
        "?since=yesterday",
        "?group_by=planet",
    ] {
        assert_error(
            &stats(&app, bad, &read).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
}

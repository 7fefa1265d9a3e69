//! Channel fallback end to end: only the first channel is sent; the next goes when the current
//! one's message fails for good (the WhatsApp stand-in refusing a number: SMS at once) or when
//! it is neither delivered nor verified `after_secs` after it was sent (at the test clock);
//! nothing more once a channel is verified; refusals of what a fallback cannot be; the timer
//! survives a restart of the app (it is a row).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::standins::{self, StandIn};
use crate::common::{TestApp, assert_error};

fn fallback_send(channels: Value, recipients: Value, after_secs: i64) -> Value {
    json!({
        "channels": channels,
        "recipients": recipients,
        "delivery": {"strategy": "fallback", "after_secs": after_secs},
    })
}

#[tokio::test]
async fn the_next_channel_goes_when_the_first_is_neither_verified_nor_delivered_in_time() {
    let app = TestApp::new().await;
    let sent = app
        .send(fallback_send(
            json!(["email", "sms"]),
            json!({"email": "fallback@example.com", "sms": "+14155550140"}),
            30,
        ))
        .await;
    assert_eq!(
        sent["delivery"],
        json!({"strategy": "fallback", "after_secs": 30})
    );
    assert_eq!(
        sent["deliveries"].as_object().map(|d| d.len()),
        Some(1),
        "{sent}"
    );
    assert_eq!(sent["deliveries"]["email"]["status"], "sent");
    assert_eq!(app.outbox("fallback@example.com").await.len(), 1);
    assert!(
        app.outbox("+14155550140").await.is_empty(),
        "SMS waits its turn"
    );

    app.clock.advance(29);
    assert_eq!(app.fallback_pass().await, 0);
    assert!(app.outbox("+14155550140").await.is_empty());

    app.clock.advance(1);
    assert_eq!(app.fallback_pass().await, 1);
    let sms = app.outbox("+14155550140").await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    // A second pass (another instance's, say) sends nothing more: the step is written once.
    assert_eq!(app.fallback_pass().await, 0);
    app.clock.advance(60);
    assert_eq!(
        app.fallback_pass().await,
        0,
        "the last channel had its turn"
    );

    // The SMS code verifies the session; the status shows both steps.
    let token = sent["session_token"].as_str().unwrap();
    let code = sms[0]["code"].as_str().unwrap();
    let verified = app.verify(token, json!({"sms": code})).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let status = app.status(token).await;
    let deliveries = status.body["deliveries"].as_object().expect("deliveries");
    assert!(
        deliveries.contains_key("email") && deliveries.contains_key("sms"),
        "{}",
        status.text
    );
}

#[tokio::test]
async fn nothing_more_is_sent_once_the_first_channel_is_verified() {
    let app = TestApp::new().await;
    let sent = app
        .send(fallback_send(
            json!(["sms", "email"]),
            json!({"email": "verified-first@example.com", "sms": "+14155550141"}),
            5,
        ))
        .await;
    let token = sent["session_token"].as_str().unwrap();
    let code = app.code("sms", "+14155550141").await;
    app.clock.advance(2);
    let verified = app.verify(token, json!({"sms": code})).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    app.clock.advance(10);
    assert_eq!(app.fallback_pass().await, 0);
    assert!(app.outbox("verified-first@example.com").await.is_empty());
}

#[tokio::test]
async fn what_a_fallback_cannot_be_is_refused() {
    let app = TestApp::new().await;
    let recipients = json!({"email": "refused@example.com", "sms": "+14155550142"});
    let mut all = fallback_send(json!(["email", "sms"]), recipients.clone(), 30);
    all["verification_mode"] = json!("all");
    for (body, expected) in [
        (all, "`any` sessions"),
        (
            fallback_send(json!(["email", "sms"]), recipients.clone(), 4),
            "delivery.after_secs",
        ),
        (
            fallback_send(json!(["email", "sms"]), recipients.clone(), 3601),
            "delivery.after_secs",
        ),
        (
            json!({"channels": ["email"], "recipients": recipients, "delivery": {"strategy": "parallel", "after_secs": 30}}),
            "delivery.after_secs",
        ),
        (
            json!({"channels": ["email"], "recipients": recipients, "delivery": {"strategy": "cascade"}}),
            "delivery",
        ),
    ] {
        let answer = app
            .post("/api/v1/otp/send", &app.test_key, body.clone())
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert!(app.outbox("refused@example.com").await.is_empty());
    // The default wait is 30 seconds; a parallel send is the default strategy.
    let default = app
        .send(json!({"channels": ["email", "sms"], "recipients": recipients, "delivery": {"strategy": "fallback"}}))
        .await;
    assert_eq!(default["delivery"]["after_secs"], 30);
    let parallel = app
        .send(json!({"channels": ["email"], "recipients": {"email": "p@example.com"}, "delivery": {"strategy": "parallel"}}))
        .await;
    assert!(parallel.get("delivery").is_none(), "{parallel}");
}

#[tokio::test]
async fn the_timer_is_a_row_a_restarted_app_carries_on() {
    let app = TestApp::new().await;
    app.send(fallback_send(
        json!(["email", "sms"]),
        json!({"email": "restart@example.com", "sms": "+14155550143"}),
        10,
    ))
    .await;
    let app = app.restarted().await;
    app.clock.advance(10);
    assert_eq!(app.fallback_pass().await, 1);
    assert_eq!(app.outbox("+14155550143").await.len(), 1);
}

async fn whatsapp_then_sms() -> (TestApp, StandIn, StandIn) {
    let whatsapp = standins::whatsapp().await;
    let twilio = standins::twilio().await;
    let app = TestApp::served(&[
        ("whatsapp_base_url", whatsapp.base_url.clone()),
        (
            "whatsapp_phone_number_id",
            standins::WHATSAPP_PHONE_ID.into(),
        ),
        ("whatsapp_token", standins::WHATSAPP_TOKEN.into()),
        ("whatsapp_app_secret", standins::WHATSAPP_APP_SECRET.into()),
        (
            "whatsapp_verify_token",
            standins::WHATSAPP_VERIFY_TOKEN.into(),
        ),
        ("whatsapp_template", standins::WHATSAPP_TEMPLATE.into()),
        ("sms_provider", "twilio".into()),
        ("twilio_base_url", twilio.base_url.clone()),
        ("twilio_account_sid", standins::TWILIO_SID.into()),
        ("twilio_auth_token", standins::TWILIO_TOKEN.into()),
        ("twilio_from", "+14155550199".into()),
    ])
    .await;
    (app, whatsapp, twilio)
}

async fn live_fallback(app: &TestApp, number: &str, after_secs: i64) -> Value {
    let answer = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            fallback_send(
                json!(["whatsapp", "sms"]),
                json!({"whatsapp": number, "sms": number}),
                after_secs,
            ),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_message_that_fails_for_good_sends_the_sms_at_once() {
    let (app, whatsapp, twilio) = whatsapp_then_sms().await;
    live_fallback(&app, standins::WHATSAPP_UNDELIVERABLE, 60).await;
    assert_eq!(app.deliver().await, 1, "WhatsApp only");
    assert!(
        whatsapp.accepted().is_empty(),
        "the stand-in refused the number"
    );
    // No time passes: the failure alone makes the SMS due.
    assert_eq!(app.fallback_pass().await, 1);
    assert_eq!(app.deliver().await, 1);
    let sms = twilio.accepted();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].to, standins::WHATSAPP_UNDELIVERABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_message_without_receipt_or_verification_sends_the_sms_after_its_time() {
    let (app, whatsapp, twilio) = whatsapp_then_sms().await;
    let number = "+14155550144";
    let sent = live_fallback(&app, number, 20).await;
    assert_eq!(sent["deliveries"]["whatsapp"]["status"], "queued");
    assert_eq!(app.deliver().await, 1);
    assert_eq!(whatsapp.accepted().len(), 1);
    app.clock.advance(19);
    assert_eq!(app.fallback_pass().await, 0);
    assert_eq!(app.deliver().await, 0);
    app.clock.advance(1);
    assert_eq!(app.fallback_pass().await, 1);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(twilio.accepted().len(), 1);
    assert_eq!(twilio.accepted()[0].to, number);
}

#[tokio::test]
async fn a_step_the_tenant_no_longer_allows_ends_the_fallback_instead_of_retrying() {
    let app = TestApp::new().await;
    let sent = app
        .send(fallback_send(
            json!(["email", "sms"]),
            json!({"email": "disabled-step@example.com", "sms": "+14155550145"}),
            5,
        ))
        .await;
    let token = app
        .admin_token(otpgate::server::service::AdminScope::Write, None)
        .await;
    let changed = app
        .admin_call(
            axum::http::Method::PATCH,
            "/admin/v1/tenants/Acme",
            Some(&token),
            Some(json!({"enabled_channels": ["email"]})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    app.clock.advance(5);
    assert_eq!(app.fallback_pass().await, 0);
    assert!(app.outbox("+14155550145").await.is_empty());
    let status = app.status(sent["session_token"].as_str().unwrap()).await;
    assert_eq!(
        status.body["delivery"]["next_step_at"],
        Value::Null,
        "{}",
        status.text
    );
    // Not tried again: the session is no longer due.
    app.clock.advance(5);
    assert_eq!(app.fallback_pass().await, 0);
}

#[tokio::test]
async fn a_step_a_limit_refuses_waits_as_long_as_the_limit_says() {
    let app = TestApp::new().await;
    let number = "+14155550146";
    // Initech keeps the server's limits: five codes to one number in ten minutes.
    for _ in 0..5 {
        let answer = app
            .post(
                "/api/v1/otp/send",
                &app.limited_test_key,
                json!({"channels": ["sms"], "recipients": {"sms": number}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let sent = app
        .post(
            "/api/v1/otp/send",
            &app.limited_test_key,
            fallback_send(
                json!(["email", "sms"]),
                json!({"email": "limited-step@example.com", "sms": number}),
                5,
            ),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    app.clock.advance(5);
    assert_eq!(
        app.fallback_pass().await,
        0,
        "the sixth code to the number is refused"
    );
    let status = app
        .post(
            "/api/v1/otp/status",
            &app.limited_test_key,
            json!({"session_token": sent.body["session_token"]}),
        )
        .await;
    let next = status.body["delivery"]["next_step_at"]
        .as_str()
        .expect("a later step");
    let now = otpgate::server::clock::rfc3339(crate::common::START + 5);
    assert!(next > now.as_str(), "{next} is after {now}");
    // Not tried again every second meanwhile: the session is no longer due.
    let store = app.open_store().await;
    let due = store
        .due_fallbacks(crate::common::START + 6, 10)
        .await
        .expect("due fallbacks");
    assert!(due.is_empty(), "{due:?}");
}

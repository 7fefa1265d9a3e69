//! Delivery through the queue to the Twilio and WhatsApp stand-ins (strict, following their
//! documented wire formats), in production mode with a live key, with the worker run at the
//! test's clock: what is sent, what the integrator sees in `deliveries`, receipts (signed,
//! forged, unknown, late), and the faults: a provider down then back, throttling, permanent
//! errors, a resend while queued, a session that ends or expires first.

use crate::common::TestApp;
use crate::common::standins::{self, StandIn, Trouble};
use axum::http::StatusCode;
use serde_json::{Value, json};

const PHONE: &str = "+14155550100";

pub(crate) async fn twilio_app() -> (TestApp, StandIn) {
    let twilio = standins::twilio().await;
    let app = TestApp::served(&[
        ("sms_provider", "twilio".into()),
        ("twilio_base_url", twilio.base_url.clone()),
        ("twilio_account_sid", standins::TWILIO_SID.into()),
        ("twilio_auth_token", standins::TWILIO_TOKEN.into()),
        ("twilio_from", "+14155550199".into()),
    ])
    .await;
    (app, twilio)
}

async fn whatsapp_app() -> (TestApp, StandIn) {
    let whatsapp = standins::whatsapp().await;
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
        ("whatsapp_languages", "en=en_US,ar=ar".into()),
    ])
    .await;
    (app, whatsapp)
}

/// Sends `channel` to `to` with the live key; returns the token and the answer's body.
async fn live_send(app: &TestApp, channel: &str, to: &str, extra: Value) -> (String, Value) {
    let mut body = json!({"channels": [channel], "recipients": {channel: to}});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let answer = app.post("/api/v1/otp/send", &app.live_key, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let token = answer.body["session_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    (token, answer.body)
}

async fn delivery_of(app: &TestApp, token: &str, channel: &str) -> Value {
    let status = app
        .post(
            "/api/v1/otp/status",
            &app.live_key,
            json!({"session_token": token}),
        )
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    status.body["deliveries"][channel].clone()
}

/// The six digits at the start of "Your Acme code is 123456."
pub(crate) fn code_in(text: &str) -> String {
    text.split("code is ")
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default()
}

async fn sealed_codes(app: &TestApp) -> Vec<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT sealed_code FROM deliveries ORDER BY id")
        .fetch_all(&app.db().await)
        .await
        .expect("deliveries")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_goes_through_twilio_and_its_receipts_move_it_forward() {
    let (app, twilio) = twilio_app().await;
    let (token, sent) = live_send(&app, "sms", PHONE, json!({})).await;
    assert_eq!(sent["deliveries"]["sms"]["status"], "queued");
    assert_eq!(sent["deliveries"]["sms"]["attempts"], 0);
    assert!(sealed_codes(&app).await[0].is_some(), "sealed while queued");
    assert!(
        twilio.accepted().is_empty(),
        "nothing before the worker runs"
    );

    assert_eq!(app.deliver().await, 1);
    let accepted = twilio.accepted();
    assert_eq!(accepted.len(), 1);
    let message = &accepted[0];
    assert_eq!(message.to, PHONE);
    assert_eq!(message.fields["From"], "+14155550199");
    // The tenant has an origin: the text ends with the WebOTP line.
    let code = code_in(&message.text);
    assert_eq!(code.len(), 6, "{}", message.text);
    assert!(
        message
            .text
            .ends_with(&format!("\n\n@app.acme.test #{code}")),
        "{}",
        message.text
    );
    let base = app.base_url.clone().unwrap();
    assert_eq!(
        message.callback.as_deref(),
        Some(format!("{base}/hooks/twilio/status").as_str())
    );
    let sms = delivery_of(&app, &token, "sms").await;
    assert_eq!(
        (sms["status"].clone(), sms["attempts"].clone()),
        (json!("sent"), json!(1))
    );
    assert_eq!(
        sealed_codes(&app).await[0],
        None,
        "erased once the provider took it"
    );

    // The code that arrived verifies.
    let verified = app
        .post(
            "/api/v1/otp/verify",
            &app.live_key,
            json!({"session_token": token, "otps": {"sms": code}}),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);

    // Receipts: forged and unknown ones change nothing; a signed one moves it forward; a late
    // "sent" after "delivered" does not move it back.
    let callback = message.callback.clone().unwrap();
    assert_eq!(
        twilio
            .twilio_callback(&callback, &message.id, "delivered", true)
            .await,
        401
    );
    assert_eq!(delivery_of(&app, &token, "sms").await["status"], "sent");
    assert_eq!(
        twilio
            .twilio_callback(&callback, "SMdoesnotexist", "delivered", false)
            .await,
        404
    );
    assert_eq!(
        twilio
            .twilio_callback(&callback, &message.id, "delivered", false)
            .await,
        200
    );
    assert_eq!(
        delivery_of(&app, &token, "sms").await["status"],
        "delivered"
    );
    assert_eq!(
        twilio
            .twilio_callback(&callback, &message.id, "sent", false)
            .await,
        200
    );
    assert_eq!(
        twilio
            .twilio_callback(&callback, &message.id, "failed", false)
            .await,
        200
    );
    assert_eq!(
        delivery_of(&app, &token, "sms").await["status"],
        "delivered"
    );
    // A receipt without a signature at all.
    let unsigned = reqwest::Client::new()
        .post(&callback)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("MessageSid={}&MessageStatus=failed", message.id))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_that_overtakes_the_providers_answer_is_applied_with_it() {
    use otpgate::engine::delivery::{DeliveryFailure, DeliveryStatus};
    use otpgate::server::clock::Clock;
    use otpgate::server::store::{ClaimedDelivery, ReceiptKey, ReceiptOutcome, TryResult};

    let (app, _twilio) = twilio_app().await;
    // The queue as a worker sees it (a second handle on the same database, as another
    // instance's worker would have), to stop the hand-over between its two steps.
    let store = app.open_store().await;
    let now = app.clock.now();
    let service = app.state.service.clone();
    let report = |id: i64, status: DeliveryStatus, error: Option<DeliveryFailure>| {
        let service = service.clone();
        async move {
            service
                .receipt(ReceiptKey::Delivery(id), status, error)
                .await
                .expect("receipt")
        }
    };
    // Sends to `to`; the worker has handed the message over and waits for the provider's answer.
    let handed_over = |to: &'static str| {
        let (app, store) = (&app, store.clone());
        async move {
            let (token, _) = live_send(app, "sms", to, json!({})).await;
            let claimed = store
                .claim_due_deliveries(now, 10, 60)
                .await
                .expect("claim");
            assert_eq!(claimed.len(), 1);
            (token, claimed.into_iter().next().expect("one message"))
        }
    };
    // The provider's answer comes: accepted. What the integrator then sees.
    let accepted = |message: ClaimedDelivery, token: String| {
        let (app, store) = (&app, store.clone());
        async move {
            let answer = TryResult::Accepted {
                provider_message_id: Some("SM00000000000000000000000000000001".into()),
            };
            store
                .finish_attempt(&message, "twilio", &answer, now)
                .await
                .expect("finish");
            delivery_of(app, &token, "sms").await
        }
    };

    let (token, message) = handed_over(PHONE).await;
    // The delivery report arrives first (a gateway's report can).
    let outcome = report(message.id, DeliveryStatus::Delivered, None).await;
    assert_eq!(outcome, ReceiptOutcome::Applied, "kept, not dropped");
    assert_eq!(delivery_of(&app, &token, "sms").await["status"], "queued");
    // A report of less (sent) does not undo the one held.
    report(message.id, DeliveryStatus::Sent, None).await;
    // Accepted: the message is delivered, not merely sent.
    let delivery = accepted(message, token).await;
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(delivery["error"], Value::Null, "{delivery}");

    // A failure report held the same way is applied with its error.
    let (token, message) = handed_over("+14155550101").await;
    let failure = Some(DeliveryFailure::InvalidRecipient);
    report(message.id, DeliveryStatus::Failed, failure).await;
    let delivery = accepted(message, token).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["error"], "invalid_recipient", "{delivery}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_sends_the_authentication_template_and_reads_signed_webhooks() {
    let (app, whatsapp) = whatsapp_app().await;
    let (token, _) = live_send(&app, "whatsapp", PHONE, json!({"locale": "ar"})).await;
    assert_eq!(app.deliver().await, 1);
    let accepted = whatsapp.accepted();
    assert_eq!(accepted.len(), 1);
    let message = &accepted[0];
    assert_eq!(message.to, "14155550100");
    assert_eq!(
        message.fields["template"]["name"],
        standins::WHATSAPP_TEMPLATE
    );
    assert_eq!(message.fields["template"]["language"]["code"], "ar");
    assert_eq!(message.text.len(), 6);
    let webhook = format!("{}/hooks/whatsapp", app.base_url.clone().unwrap());
    assert_eq!(
        whatsapp
            .whatsapp_webhook(&webhook, &message.id, "delivered", true)
            .await,
        401
    );
    assert_eq!(
        delivery_of(&app, &token, "whatsapp").await["status"],
        "sent"
    );
    assert_eq!(
        whatsapp
            .whatsapp_webhook(&webhook, "wamid.unknown", "delivered", false)
            .await,
        404
    );
    assert_eq!(
        whatsapp
            .whatsapp_webhook(&webhook, &message.id, "read", false)
            .await,
        200
    );
    assert_eq!(
        delivery_of(&app, &token, "whatsapp").await["status"],
        "delivered"
    );

    // The subscription challenge answers only the right verify token.
    let client = reqwest::Client::new();
    let good = client
        .get(format!(
            "{webhook}?hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
            standins::WHATSAPP_VERIFY_TOKEN
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status().as_u16(), 200);
    assert_eq!(good.text().await.unwrap(), "1158201444");
    let bad = client
        .get(format!(
            "{webhook}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_down_then_back_delivers_after_retries() {
    let (app, twilio) = twilio_app().await;
    twilio.trouble(Trouble::Down, 2);
    let (token, _) = live_send(&app, "sms", PHONE, json!({})).await;
    assert_eq!(app.deliver().await, 1);
    let first = delivery_of(&app, &token, "sms").await;
    assert_eq!(
        (first["status"].clone(), first["attempts"].clone()),
        (json!("queued"), json!(1))
    );
    // Not before its backoff (1-2 s after the first try).
    assert_eq!(app.deliver().await, 0);
    app.clock.advance(2);
    assert_eq!(app.deliver().await, 1, "second try");
    app.clock.advance(4);
    assert_eq!(app.deliver().await, 1, "third try");
    let sms = delivery_of(&app, &token, "sms").await;
    assert_eq!(
        (sms["status"].clone(), sms["attempts"].clone()),
        (json!("sent"), json!(3))
    );
    assert_eq!(twilio.requests(), 3);
    assert_eq!(twilio.accepted().len(), 1, "delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_honoured() {
    let (app, twilio) = twilio_app().await;
    twilio.trouble(Trouble::Throttled(30), 1);
    let (token, _) = live_send(&app, "sms", PHONE, json!({})).await;
    app.deliver().await;
    assert_eq!(delivery_of(&app, &token, "sms").await["status"], "queued");
    app.clock.advance(29);
    assert_eq!(app.deliver().await, 0, "Retry-After: 30 is a minimum");
    app.clock.advance(1);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(delivery_of(&app, &token, "sms").await["status"], "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_fail_at_once_with_a_stable_error() {
    let (app, twilio) = twilio_app().await;
    let (invalid, _) = live_send(&app, "sms", standins::TWILIO_INVALID, json!({})).await;
    let (blocked, _) = live_send(&app, "sms", standins::TWILIO_BLOCKED, json!({})).await;
    assert_eq!(app.deliver().await, 2);
    let invalid = delivery_of(&app, &invalid, "sms").await;
    assert_eq!(invalid["status"], "failed");
    assert_eq!(invalid["error"], "invalid_recipient");
    let blocked = delivery_of(&app, &blocked, "sms").await;
    assert_eq!(
        (blocked["status"].clone(), blocked["error"].clone()),
        (json!("failed"), json!("blocked"))
    );
    app.clock.advance(60);
    assert_eq!(app.deliver().await, 0, "never retried");
    assert_eq!(twilio.requests(), 2);
    assert!(
        sealed_codes(&app).await.iter().all(Option::is_none),
        "codes erased"
    );

    let (whatsapp_app, _) = whatsapp_app().await;
    let (token, _) = live_send(
        &whatsapp_app,
        "whatsapp",
        standins::WHATSAPP_UNDELIVERABLE,
        json!({}),
    )
    .await;
    whatsapp_app.deliver().await;
    let failed = delivery_of(&whatsapp_app, &token, "whatsapp").await;
    assert_eq!(
        (failed["status"].clone(), failed["error"].clone()),
        (json!("failed"), json!("invalid_recipient"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_while_queued_delivers_only_the_new_code() {
    let (app, twilio) = twilio_app().await;
    twilio.trouble(Trouble::Down, 1);
    let (token, _) = live_send(&app, "sms", PHONE, json!({})).await;
    app.deliver().await;
    assert_eq!(delivery_of(&app, &token, "sms").await["status"], "queued");
    app.clock.advance(30);
    let resent = app
        .post(
            "/api/v1/otp/resend",
            &app.live_key,
            json!({"session_token": token}),
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    assert_eq!(resent.body["deliveries"]["sms"]["status"], "queued");
    assert_eq!(
        resent.body["deliveries"]["sms"]["attempts"], 0,
        "the channel's entry is replaced"
    );
    assert_eq!(app.deliver().await, 1, "only the new message is due");
    app.clock.advance(60);
    assert_eq!(app.deliver().await, 0);
    let accepted = twilio.accepted();
    assert_eq!(accepted.len(), 1);
    let code = code_in(&accepted[0].text);
    let verified = app
        .post(
            "/api/v1/otp/verify",
            &app.live_key,
            json!({"session_token": token, "otps": {"sms": code}}),
        )
        .await;
    assert_eq!(
        verified.status,
        StatusCode::OK,
        "the delivered code is the live one"
    );
    let codes = sealed_codes(&app).await;
    assert_eq!(codes.len(), 2);
    assert!(
        codes.iter().all(Option::is_none),
        "the replaced code was erased too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_delivered_after_expiry_and_codes_are_erased() {
    let (app, twilio) = twilio_app().await;
    twilio.trouble(Trouble::Down, 100);
    let (token, _) = live_send(&app, "sms", PHONE, json!({"expires_in": 10})).await;
    app.deliver().await;
    for _ in 0..10 {
        app.clock.advance(2);
        app.deliver().await;
    }
    let sms = delivery_of(&app, &token, "sms").await;
    assert_eq!(sms["status"], "failed");
    assert_eq!(sms["error"], "provider_unavailable");
    assert!(twilio.accepted().is_empty());
    assert!(sealed_codes(&app).await.iter().all(Option::is_none));

    // Never tried before expiry (no worker ran): expired before delivery.
    let (late, _) = live_send(&app, "sms", PHONE, json!({"expires_in": 5})).await;
    app.clock.advance(5);
    assert_eq!(app.deliver().await, 0);
    let sms = delivery_of(&app, &late, "sms").await;
    assert_eq!(
        (sms["status"].clone(), sms["error"].clone()),
        (json!("failed"), json!("expired_before_delivery"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ends_first_gives_up_its_queued_messages() {
    let (app, twilio) = twilio_app().await;
    twilio.trouble(Trouble::Down, 1);
    let (token, _) = live_send(&app, "sms", PHONE, json!({"max_attempts": 1})).await;
    app.deliver().await;
    // Locked by a wrong guess while the SMS waits for its retry.
    app.post(
        "/api/v1/otp/verify",
        &app.live_key,
        json!({"session_token": token, "otps": {"sms": "000000"}}),
    )
    .await;
    app.clock.advance(10);
    assert_eq!(app.deliver().await, 0);
    let sms = delivery_of(&app, &token, "sms").await;
    assert_eq!(
        (sms["status"].clone(), sms["error"].clone()),
        (json!("failed"), json!("expired_before_delivery"))
    );
    assert!(sealed_codes(&app).await.iter().all(Option::is_none));
    assert!(twilio.accepted().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_without_a_provider_refuses_the_channel_and_test_keys_still_work() {
    let (app, _) = twilio_app().await;
    let email = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["email"], "recipients": {"email": "a@example.com"}}),
        )
        .await;
    crate::common::assert_error(&email, StatusCode::FORBIDDEN, "forbidden");
    let test = app
        .post(
            "/api/v1/otp/send",
            &app.test_key,
            json!({"channels": ["sms"], "recipients": {"sms": PHONE}}),
        )
        .await;
    assert_eq!(test.status, StatusCode::OK);
    assert_eq!(test.body["deliveries"]["sms"]["status"], "sent");
    assert_eq!(
        app.outbox(PHONE).await.len(),
        1,
        "test keys: in the outbox when send returns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_try_recorded_twice_keeps_the_later_answer() {
    use otpgate::engine::delivery::DeliveryFailure;
    use otpgate::server::clock::Clock;
    use otpgate::server::store::TryResult;

    let (app, _twilio) = twilio_app().await;
    let store = app.open_store().await;
    let now = app.clock.now();
    live_send(&app, "sms", PHONE, json!({})).await;
    let claimed = store
        .claim_due_deliveries(now, 10, 60)
        .await
        .expect("claim");
    let message = claimed.into_iter().next().expect("one message");
    let retry = TryResult::Retry {
        at: now + 2,
        detail: "HTTP 503".into(),
    };
    store
        .finish_attempt(&message, "twilio", &retry, now)
        .await
        .expect("first record");
    // The same try recorded again (its answer arrived twice): one row, the later answer.
    let failed = TryResult::Failed {
        failure: DeliveryFailure::ProviderRejected,
        detail: "HTTP 400".into(),
        permanent: true,
    };
    store
        .finish_attempt(&message, "twilio", &failed, now + 1)
        .await
        .expect("second record");
    let rows: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT attempt, outcome, at FROM delivery_attempts WHERE delivery_id = $1")
            .bind(message.id)
            .fetch_all(&app.db().await)
            .await
            .expect("attempts");
    assert_eq!(rows, [(1, "permanent".to_owned(), now + 1)]);
}

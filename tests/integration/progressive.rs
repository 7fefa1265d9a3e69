//! The progressive multi-channel API through the real router: every rule of the contract for
//! send, verify, status, resend and cancel, and tenant isolation.

use crate::common::{START, TestApp, assert_error, wrong};
use axum::http::StatusCode;
use serde_json::{Value, json};

const EMAIL: &str = "user@example.com";
const PHONE: &str = "+14155550100";

fn channels(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect()
}

#[tokio::test]
async fn send_answers_the_contract_shape() {
    let app = TestApp::new().await;
    let body = app
        .send(json!({
            "channels": ["email", "sms", "whatsapp"],
            "recipients": {"email": EMAIL, "sms": PHONE, "whatsapp": "+218911234567"},
            "verification_mode": "all",
            "code_length": 8,
            "expires_in": 300,
            "max_attempts": 3,
            "locale": "en"
        }))
        .await;
    let token = body["session_token"].as_str().unwrap();
    assert!(token.len() >= 22, "at least 128 bits");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "url-safe"
    );
    assert_eq!(body["expires_at"], "2027-01-15T08:05:00Z");
    assert_eq!(channels(&body["channels"]), ["email", "sms", "whatsapp"]);
    assert_eq!(body["verification_mode"], "all");
    assert_eq!(body["widget_url"], format!("/verify/{token}"));
    let status = app.status(token).await;
    assert_eq!(status.body["attempts_remaining"], 3);
    for (channel, to) in [
        ("email", EMAIL),
        ("sms", PHONE),
        ("whatsapp", "+218911234567"),
    ] {
        assert_eq!(app.code(channel, to).await.len(), 8);
    }
}

#[tokio::test]
async fn defaults_are_any_six_digits_ten_minutes_five_attempts() {
    let app = TestApp::new().await;
    let body = app
        .send(json!({"channels": ["email"], "recipients": {"email": EMAIL}}))
        .await;
    assert_eq!(body["verification_mode"], "any");
    assert_eq!(body["expires_at"], "2027-01-15T08:10:00Z");
    let token = body["session_token"].as_str().unwrap();
    assert_eq!(app.status(token).await.body["attempts_remaining"], 5);
    let messages = app.outbox(EMAIL).await;
    let code = messages[0]["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert_eq!(
        messages[0]["body"],
        format!("Your Acme code is {code}. It expires in 10 minutes.")
    );
    assert_eq!(messages[0]["channel"], "email");
    assert_eq!(messages[0]["to"], EMAIL);
    assert_eq!(messages[0]["sent_at"], "2027-01-15T08:00:00Z");
}

#[tokio::test]
async fn arabic_locale_gets_arabic_text() {
    let app = TestApp::new().await;
    app.send(json!({"channels": ["sms"], "recipients": {"sms": PHONE}, "locale": "ar"}))
        .await;
    let message = &app.outbox(PHONE).await[0];
    let code = message["code"].as_str().unwrap();
    assert_eq!(
        message["body"],
        format!("رمز Acme الخاص بك هو {code}. تنتهي صلاحيته خلال 10 دقائق.")
    );
}

#[tokio::test]
async fn every_channel_gets_its_own_code() {
    let app = TestApp::new().await;
    // Ten-digit codes: equal codes by chance would be a one-in-ten-billion event.
    let token = app.email_sms_session(json!({"code_length": 10})).await;
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;
    assert_ne!(email, sms);
    // A channel's code does not verify another channel.
    let answer = app.verify(&token, json!({"sms": email})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_otp");
}

#[tokio::test]
async fn progressive_any_mode_email_now_sms_later() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;

    let first = app.verify(&token, json!({"email": email})).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["verified"], true);
    assert_eq!(
        first.body["verification_results"],
        json!({"email": {"success": true}})
    );
    assert_eq!(channels(&first.body["verified_channels"]), ["email"]);
    assert_eq!(first.body["session_verified"], true);
    assert_eq!(first.body["all_channels_verified"], false);
    assert_eq!(first.body["attempts_remaining"], 5);
    assert_eq!(first.body["expires_at"], "2027-01-15T08:10:00Z");

    app.clock.advance(120);
    let second = app.verify(&token, json!({"sms": sms})).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        second.body["verification_results"],
        json!({"sms": {"success": true}})
    );
    assert_eq!(
        channels(&second.body["verified_channels"]),
        ["email", "sms"]
    );
    assert_eq!(second.body["all_channels_verified"], true);
}

#[tokio::test]
async fn all_mode_needs_every_channel() {
    let app = TestApp::new().await;
    let token = app
        .email_sms_session(json!({"verification_mode": "all"}))
        .await;
    let sms = app.code("sms", PHONE).await;
    let email = app.code("email", EMAIL).await;
    let first = app.verify(&token, json!({"sms": sms})).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["session_verified"], false);
    assert_eq!(app.status(&token).await.body["status"], "pending");
    let second = app.verify(&token, json!({"email": email})).await;
    assert_eq!(second.body["session_verified"], true);
    assert_eq!(second.body["all_channels_verified"], true);
    // Cumulative, in the order of verification.
    assert_eq!(
        channels(&second.body["verified_channels"]),
        ["sms", "email"]
    );
    assert_eq!(app.status(&token).await.body["status"], "verified");
}

#[tokio::test]
async fn both_codes_in_one_call() {
    let app = TestApp::new().await;
    let token = app
        .email_sms_session(json!({"verification_mode": "all"}))
        .await;
    let otps =
        json!({"email": app.code("email", EMAIL).await, "sms": app.code("sms", PHONE).await});
    let answer = app.verify(&token, otps).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["verified"], true);
    assert_eq!(answer.body["session_verified"], true);
    assert_eq!(
        answer.body["verification_results"],
        json!({"email": {"success": true}, "sms": {"success": true}})
    );
}

#[tokio::test]
async fn a_partly_right_call_is_200_with_verified_false() {
    let app = TestApp::new().await;
    let token = app
        .email_sms_session(json!({"verification_mode": "all"}))
        .await;
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;
    let answer = app
        .verify(&token, json!({"email": email, "sms": wrong(&sms)}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["verified"], false);
    assert_eq!(
        answer.body["verification_results"],
        json!({"email": {"success": true}, "sms": {"success": false, "error": "Invalid OTP"}})
    );
    assert_eq!(answer.body["attempts_remaining"], 4);
}

#[tokio::test]
async fn a_wrong_code_is_400_invalid_otp_with_the_verification_fields() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    let answer = app.verify(&token, json!({"email": wrong(&email)})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_otp");
    assert_eq!(answer.body["message"], "Invalid OTP");
    assert_eq!(answer.body["verified"], false);
    assert_eq!(
        answer.body["verification_results"],
        json!({"email": {"success": false, "error": "Invalid OTP"}})
    );
    assert_eq!(answer.body["attempts_remaining"], 4);
    assert_eq!(answer.body["session_verified"], false);
    assert_eq!(answer.body["verified_channels"], json!([]));
    // Wrong then right.
    let right = app.verify(&token, json!({"email": email})).await;
    assert_eq!(right.status, StatusCode::OK);
    assert_eq!(right.body["attempts_remaining"], 4);
}

#[tokio::test]
async fn each_failed_code_counts_one_attempt() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;
    let answer = app
        .verify(&token, json!({"email": wrong(&email), "sms": wrong(&sms)}))
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_otp");
    assert_eq!(answer.body["attempts_remaining"], 3);
}

#[tokio::test]
async fn the_session_locks_for_good_at_max_attempts() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({"max_attempts": 3})).await;
    let email = app.code("email", EMAIL).await;
    for remaining in [2, 1, 0] {
        let answer = app.verify(&token, json!({"email": wrong(&email)})).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_otp");
        assert_eq!(answer.body["attempts_remaining"], remaining);
    }
    for otps in [
        json!({"email": email}),
        json!({"email": wrong(&email)}),
        json!({"sms": "000000"}),
    ] {
        let answer = app.verify(&token, otps).await;
        assert_error(&answer, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
        assert_eq!(answer.body["message"], "Too many attempts");
        assert_eq!(answer.body["attempts_remaining"], 0);
        assert_eq!(answer.body["session_verified"], false);
    }
    let status = app.status(&token).await;
    assert_eq!(status.body["status"], "locked");
    // Resend does not reset the lock.
    app.clock.advance(60);
    let resend = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token}),
        )
        .await;
    assert_error(&resend, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
}

#[tokio::test]
async fn per_channel_limit_stops_one_channel_only() {
    let app = TestApp::new().await;
    let token = app
        .email_sms_session(json!({"max_attempts": 6, "max_attempts_per_channel": 2}))
        .await;
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;
    for _ in 0..2 {
        app.verify(&token, json!({"email": wrong(&email)})).await;
    }
    let locked_channel = app.verify(&token, json!({"email": email})).await;
    assert_error(
        &locked_channel,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    assert_eq!(locked_channel.body["attempts_remaining"], 4);
    let other = app.verify(&token, json!({"sms": sms})).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body["session_verified"], true);
}

#[tokio::test]
async fn reverifying_a_verified_channel_costs_nothing() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    app.verify(&token, json!({"email": email})).await;
    let again = app.verify(&token, json!({"email": email})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["verification_results"]["email"]["success"], true);
    let wrong_again = app.verify(&token, json!({"email": wrong(&email)})).await;
    assert_error(&wrong_again, StatusCode::BAD_REQUEST, "invalid_otp");
    assert_eq!(wrong_again.body["attempts_remaining"], 5);
    assert_eq!(channels(&wrong_again.body["verified_channels"]), ["email"]);
}

#[tokio::test]
async fn expiry_is_checked_on_every_verify_at_the_exact_second() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({"expires_in": 60})).await;
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;
    app.clock.set(START + 59);
    let in_time = app.verify(&token, json!({"email": email})).await;
    assert_eq!(in_time.status, StatusCode::OK);
    app.clock.set(START + 60);
    for otps in [
        json!({"sms": sms}),
        json!({"sms": wrong(&sms)}),
        json!({"email": email}),
    ] {
        let late = app.verify(&token, otps).await;
        assert_error(&late, StatusCode::GONE, "otp_expired");
        assert_eq!(late.body["message"], "OTP has expired");
        assert_eq!(late.body["expires_at"], "2027-01-15T08:01:00Z");
        assert_eq!(late.body["attempts_remaining"], 5);
    }
}

#[tokio::test]
async fn status_reports_every_state() {
    let app = TestApp::new().await;
    let sent = app
        .send(json!({
            "channels": ["email", "sms"],
            "recipients": {"email": EMAIL, "sms": PHONE},
            "expires_in": 100,
        }))
        .await;
    let token = sent["session_token"].as_str().expect("a token").to_owned();
    let status = app.status(&token).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(
        status.body,
        json!({
            "session_id": sent["session_id"],
            "status": "pending",
            "channels": ["email", "sms"],
            "verified_channels": [],
            "session_verified": false,
            "all_channels_verified": false,
            "attempts_remaining": 5,
            "expires_at": "2027-01-15T08:01:40Z",
            "verification_mode": "any",
            // Test keys' messages go to the test outbox: sent as soon as the send returns.
            "deliveries": {
                "email": {"status": "sent", "updated_at": "2027-01-15T08:00:00Z", "attempts": 0},
                "sms": {"status": "sent", "updated_at": "2027-01-15T08:00:00Z", "attempts": 0}
            }
        })
    );
    app.clock.advance(100);
    assert_eq!(app.status(&token).await.body["status"], "expired");

    let verified = app.email_sms_session(json!({})).await;
    let sms = app.code("sms", PHONE).await;
    app.verify(&verified, json!({"sms": sms})).await;
    let status = app.status(&verified).await.body;
    assert_eq!(status["status"], "verified");
    assert_eq!(status["verified_channels"], json!(["sms"]));
}

#[tokio::test]
async fn resend_replaces_the_code_and_keeps_attempts_and_expiry() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let old_sms = app.code("sms", PHONE).await;
    app.verify(&token, json!({"sms": wrong(&old_sms)})).await;

    app.clock.advance(30);
    let resend = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token, "channels": ["sms"]}),
        )
        .await;
    assert_eq!(resend.status, StatusCode::OK, "{}", resend.text);
    assert_eq!(resend.body["resent"], json!(["sms"]));
    assert_eq!(resend.body["attempts_remaining"], 4);
    assert_eq!(resend.body["expires_at"], "2027-01-15T08:10:00Z");

    let sms_messages: Vec<_> = app.outbox(PHONE).await;
    assert_eq!(sms_messages.len(), 2, "one new message");
    let new_sms = sms_messages[0]["code"].as_str().unwrap().to_owned();
    assert_eq!(
        sms_messages[0]["body"],
        format!("Your Acme code is {new_sms}. It expires in 9 minutes.")
    );
    if new_sms != old_sms {
        let dead = app.verify(&token, json!({"sms": old_sms})).await;
        assert_error(&dead, StatusCode::BAD_REQUEST, "invalid_otp");
    }
    // The email code was not touched by an SMS resend (read before the session is verified,
    // which erases the outbox's codes).
    let email = app.code("email", EMAIL).await;
    assert_eq!(app.outbox(EMAIL).await.len(), 1);
    let ok = app.verify(&token, json!({"sms": new_sms})).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        app.verify(&token, json!({"email": email})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn resend_has_a_30_second_cooldown_per_channel() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    app.clock.advance(10);
    let early = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token}),
        )
        .await;
    assert_error(&early, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(early.headers["retry-after"], "20");
    assert_eq!(app.outbox(PHONE).await.len(), 1, "nothing sent");

    app.clock.advance(20);
    let sms_only = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token, "channels": ["sms"]}),
        )
        .await;
    assert_eq!(sms_only.status, StatusCode::OK);
    app.clock.advance(1);
    let again = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token, "channels": ["sms"]}),
        )
        .await;
    assert_error(&again, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(again.headers["retry-after"], "29");
    let email_only = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token, "channels": ["email"]}),
        )
        .await;
    assert_eq!(
        email_only.status,
        StatusCode::OK,
        "email has its own cooldown"
    );
}

#[tokio::test]
async fn resend_skips_verified_channels() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    app.verify(&token, json!({"email": email})).await;
    app.clock.advance(30);
    let all = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token}),
        )
        .await;
    assert_eq!(all.body["resent"], json!(["sms"]));
    assert_eq!(app.outbox(EMAIL).await.len(), 1);
    app.clock.advance(30);
    let only_verified = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token, "channels": ["email"]}),
        )
        .await;
    assert_error(&only_verified, StatusCode::BAD_REQUEST, "invalid_request");
    let unknown = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token, "channels": ["whatsapp"]}),
        )
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn resend_after_expiry_is_410() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({"expires_in": 40})).await;
    app.clock.advance(40);
    let answer = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token}),
        )
        .await;
    assert_error(&answer, StatusCode::GONE, "otp_expired");
}

#[tokio::test]
async fn cancel_makes_every_later_call_404() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    let cancel = app
        .post(
            "/api/v1/otp/cancel",
            &app.test_key,
            json!({"session_token": token}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text);
    let verify = app.verify(&token, json!({"email": email})).await;
    assert_error(&verify, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(verify.body["message"], "OTP not found");
    assert_error(
        &app.status(&token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    for path in ["/api/v1/otp/resend", "/api/v1/otp/cancel"] {
        let answer = app
            .post(path, &app.test_key, json!({"session_token": token}))
            .await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn unknown_tokens_are_404() {
    let app = TestApp::new().await;
    for token in [
        "",
        "nope",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &"x".repeat(5000),
    ] {
        let answer = app.verify(token, json!({"email": "123456"})).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
        assert_error(&app.status(token).await, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn another_tenants_key_sees_nothing() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    let other = &app.other_key;
    let body = json!({"session_token": token});
    let verify = app
        .post(
            "/api/v1/otp/verify",
            other,
            json!({"session_token": token, "otps": {"email": email}}),
        )
        .await;
    assert_error(&verify, StatusCode::NOT_FOUND, "not_found");
    for path in [
        "/api/v1/otp/status",
        "/api/v1/otp/resend",
        "/api/v1/otp/cancel",
    ] {
        app.clock.advance(31);
        assert_error(
            &app.post(path, other, body.clone()).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    // Nothing happened to the session: no attempt used, not cancelled, not resent.
    let own = app.status(&token).await;
    assert_eq!(own.body["attempts_remaining"], 5);
    assert_eq!(app.outbox(EMAIL).await.len(), 1);
    // The other tenant's outbox does not show this tenant's messages.
    let outbox = app.get("/api/v1/test/messages", Some(other)).await;
    assert_eq!(outbox.body, json!([]));
}

#[tokio::test]
async fn live_and_test_keys_of_a_tenant_share_its_sessions() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let status = app
        .post(
            "/api/v1/otp/status",
            &app.live_key,
            json!({"session_token": token}),
        )
        .await;
    assert_eq!(status.status, StatusCode::OK);
}

#[tokio::test]
async fn production_refuses_channels_without_a_provider_and_names_them() {
    let app = TestApp::with_mode(otpgate::server::config::Mode::Production).await;
    let answer = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["email", "whatsapp"], "recipients": {"email": EMAIL, "whatsapp": PHONE}}),
        )
        .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    let message = answer.body["message"].as_str().unwrap();
    assert!(message.starts_with("Forbidden"), "{message}");
    assert!(message.contains("`email`"), "{message}");
    // Nothing was stored or sent.
    let caught = app.state.service.dev_outbox(10).await.unwrap();
    assert!(caught.is_empty());
    // Test keys still work in production: their messages go to the test outbox.
    let token = app.email_sms_session(json!({})).await;
    assert!(!token.is_empty());
    assert_eq!(app.outbox(EMAIL).await.len(), 1);
}

#[tokio::test]
async fn dev_mode_catches_live_key_messages_outside_the_test_api() {
    let app = TestApp::new().await;
    let answer = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["sms"], "recipients": {"sms": PHONE}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    // The test outbox API lists test-key messages only...
    assert!(app.outbox(PHONE).await.is_empty());
    // ...while the development outbox holds the live one.
    let caught = app.state.service.dev_outbox(10).await.unwrap();
    assert_eq!(caught.len(), 1);
    assert!(!caught[0].is_test);
}

#[tokio::test]
async fn purge_removes_expired_sessions_with_their_messages_after_the_grace() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({"expires_in": 60})).await;
    // Expired but within the grace period: kept, and still answers 410 (never 404).
    let counts = app.purge_at(START + 61, 3600).await;
    assert_eq!(counts.sessions, 0);
    app.clock.set(START + 61);
    assert_error(
        &app.verify(&token, json!({"email": "000000"})).await,
        StatusCode::GONE,
        "otp_expired",
    );
    let counts = app.purge_at(START + 60 + 3601, 3600).await;
    assert_eq!(counts.sessions, 1);
    assert!(
        app.outbox(EMAIL).await.is_empty(),
        "messages go with their session"
    );
    assert_error(
        &app.status(&token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// A purge deletes in batches (a short transaction each, so verifications are not held up):
/// more expired sessions than one batch all go, and live ones stay.
#[tokio::test]
async fn purge_deletes_more_than_a_batch_and_keeps_live_sessions() {
    let app = TestApp::new().await;
    for n in 0..2_100 {
        let body = json!({"channels": ["email"], "recipients": {"email": format!("p{n}@example.com")},
                          "expires_in": 60});
        app.send(body).await;
    }
    app.clock.set(START + 600);
    let live = app.email_sms_session(json!({"expires_in": 600})).await;
    let counts = app.purge_at(START + 600, 0).await;
    assert_eq!(counts.sessions, 2_100);
    assert_eq!(app.status(&live).await.status, StatusCode::OK);
}

/// The code fields of the test outbox's messages to `to`, newest first (`None` once erased).
async fn outbox_codes(app: &TestApp, to: &str) -> Vec<Option<String>> {
    app.outbox(to)
        .await
        .iter()
        .map(|m| m["code"].as_str().map(str::to_owned))
        .collect()
}

/// Asserts that no message to `to` still shows `code`, in its code field or its text.
async fn assert_erased(app: &TestApp, to: &str, code: &str) {
    for message in app.outbox(to).await {
        assert!(message["code"].is_null(), "{message}");
        let body = message["body"].as_str().expect("body");
        assert!(!body.contains(code), "{body}");
    }
}

#[tokio::test]
async fn outbox_codes_are_erased_once_verified_or_replaced() {
    let app = TestApp::new().await;
    let token = app
        .email_sms_session(json!({"verification_mode": "all"}))
        .await;
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;
    // A wrong guess changes nothing.
    app.verify(&token, json!({"email": wrong(&email)})).await;
    assert_eq!(outbox_codes(&app, EMAIL).await, vec![Some(email.clone())]);
    // The verified channel's code goes at once; the other stays readable until it is used.
    app.verify(&token, json!({"email": email.clone()})).await;
    assert_erased(&app, EMAIL, &email).await;
    assert_eq!(outbox_codes(&app, PHONE).await, vec![Some(sms.clone())]);
    // A resend replaces the SMS code: the old one is erased, the new one readable.
    app.clock.advance(30);
    let resent = app
        .post(
            "/api/v1/otp/resend",
            &app.test_key,
            json!({"session_token": token, "channels": ["sms"]}),
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.text);
    let codes = outbox_codes(&app, PHONE).await;
    assert_eq!(codes.len(), 2);
    assert_eq!(codes[1], None, "the replaced code is erased");
    let new_sms = codes[0].clone().expect("the new code is readable");
    app.verify(&token, json!({"sms": new_sms.clone()})).await;
    assert_erased(&app, PHONE, &new_sms).await;
}

#[tokio::test]
async fn outbox_codes_are_erased_when_the_session_ends() {
    let app = TestApp::new().await;
    // Verified in `any` mode: the session is done, so the other channel's code goes too.
    let any = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;
    app.verify(&any, json!({"email": email.clone()})).await;
    assert_erased(&app, EMAIL, &email).await;
    assert_erased(&app, PHONE, &sms).await;

    // Cancelled.
    let cancelled = app.email_sms_session(json!({})).await;
    let email = app.code("email", EMAIL).await;
    let answer = app
        .post(
            "/api/v1/otp/cancel",
            &app.test_key,
            json!({"session_token": cancelled}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_erased(&app, EMAIL, &email).await;

    // Locked.
    let locked = app.email_sms_session(json!({"max_attempts": 1})).await;
    let email = app.code("email", EMAIL).await;
    app.verify(&locked, json!({"email": wrong(&email)})).await;
    assert_erased(&app, EMAIL, &email).await;

    // Expired: hidden from that second on, and erased in storage by the next purge (long
    // before the session itself is deleted).
    let expiring = app.email_sms_session(json!({"expires_in": 60})).await;
    let email = app.code("email", EMAIL).await;
    app.clock.set(START + 59);
    assert_eq!(outbox_codes(&app, EMAIL).await[0], Some(email.clone()));
    app.clock.set(START + 60);
    assert_erased(&app, EMAIL, &email).await;
    let counts = app.purge_at(START + 60, 86_400).await;
    assert!(counts.codes_erased >= 1, "{counts:?}");
    assert_eq!(
        counts.sessions, 0,
        "the session itself stays for the grace period"
    );
    assert_eq!(app.status(&expiring).await.body["status"], "expired");
    // Erased in storage, not only hidden: even a reading dated before expiry shows no code.
    app.clock.set(START);
    assert_erased(&app, EMAIL, &email).await;
}

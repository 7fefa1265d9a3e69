//! No code and no provider secret in any log line, even at TRACE level with every library's
//! tracing on (the HTTP client, TLS, the SMTP transport): a delivery through each provider
//! (SMTP, Twilio, WhatsApp, the Kannel gateway), captured from every thread.

use std::time::Duration;

use crate::common::TestApp;
use crate::common::servers::{Kannel, SMTP_PASSWORD, SmtpSink};
use crate::common::standins;
use axum::http::StatusCode;
use serde_json::json;

/// In a process of its own: it installs the process-wide log subscriber.
#[test]
fn deliveries_log_neither_codes_nor_secrets_at_trace_level() {
    crate::common::run_alone("trace_leaks::alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run alone, in a process of its own, by the test above"]
async fn alone() {
    let captured = crate::common::capture_logs();

    let sink = SmtpSink::start(&[]);
    let twilio = standins::twilio().await;
    let whatsapp = standins::whatsapp().await;
    let kannel = Kannel::start();
    let app = TestApp::served(&[
        ("smtp_url", sink.url()),
        ("smtp_from", "Acme <codes@acme.test>".into()),
        ("smtp_ca_file", sink.ca_file()),
        ("sms_provider", "twilio".into()),
        ("twilio_base_url", twilio.base_url.clone()),
        ("twilio_account_sid", standins::TWILIO_SID.into()),
        ("twilio_auth_token", standins::TWILIO_TOKEN.into()),
        ("twilio_from", "+14155550199".into()),
        ("whatsapp_base_url", whatsapp.base_url.clone()),
        (
            "whatsapp_phone_number_id",
            standins::WHATSAPP_PHONE_ID.into(),
        ),
        ("whatsapp_token", standins::WHATSAPP_TOKEN.into()),
        ("whatsapp_app_secret", standins::WHATSAPP_APP_SECRET.into()),
        ("whatsapp_template", standins::WHATSAPP_TEMPLATE.into()),
    ])
    .await;
    let sent = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({
                "channels": ["email", "sms", "whatsapp"],
                "recipients": {"email": "trace@example.com", "sms": "+14155550100", "whatsapp": "+14155550100"},
                "code_length": 10
            }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(app.deliver().await, 3);
    let mail = sink
        .wait_for("trace@example.com", 0, 10)
        .await
        .expect("mail");
    let mut codes = vec![
        mail["subject"]
            .as_str()
            .unwrap()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>(),
        whatsapp.accepted()[0].text.clone(),
    ];
    let sms = twilio.accepted()[0].text.clone();
    codes.push(
        sms.split("code is ")
            .nth(1)
            .unwrap()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect(),
    );

    // The gateway too (its password travels in the request's query string).
    let gateway_app = TestApp::served(&[
        ("sms_provider", "gateway".into()),
        ("gateway_url", kannel.sendsms_url.clone()),
        ("gateway_username", kannel.username.clone()),
        ("gateway_password", kannel.password.clone()),
        ("gateway_from", "otpgate".into()),
    ])
    .await;
    let answer = gateway_app
        .post(
            "/api/v1/otp/send",
            &gateway_app.live_key,
            json!({"channels": ["sms"], "recipients": {"sms": "+14155550100"}, "code_length": 10}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(gateway_app.deliver().await, 1);
    let mut received = String::new();
    for _ in 0..100 {
        received = kannel.received();
        if received.contains("Got message") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    codes.push(
        received
            .split("code is ")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect(),
    );

    let log = captured.text();
    assert!(
        log.contains("message handed to the provider"),
        "the deliveries were logged"
    );
    assert!(log.contains("TRACE"), "trace lines were captured");
    for code in &codes {
        assert_eq!(code.len(), 10, "{codes:?}");
        assert!(
            !log.contains(code.as_str()),
            "code {code} appears in the log"
        );
    }
    for secret in [
        SMTP_PASSWORD,
        standins::TWILIO_TOKEN,
        standins::WHATSAPP_TOKEN,
        standins::WHATSAPP_APP_SECRET,
        kannel.password.as_str(),
    ] {
        assert!(
            !log.contains(secret),
            "a provider secret appears in the log"
        );
    }
}

//! SMS through Kannel (bearerbox, smsbox and its fake SMSC, from Debian, started by
//! `scripts/sms-gateway`) in production mode with a live key: the message reaches the SMSC, and
//! Kannel's delivery reports come back to otpgate's per-message URL and move the status to
//! delivered. A forged report token is refused.

use std::time::Duration;

use crate::common::TestApp;
use crate::common::servers::Kannel;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_reaches_kannel_and_its_delivery_report_comes_back() {
    let kannel = Kannel::start();
    let app = TestApp::served(&[
        ("sms_provider", "gateway".into()),
        ("gateway_url", kannel.sendsms_url.clone()),
        ("gateway_username", kannel.username.clone()),
        ("gateway_password", kannel.password.clone()),
        ("gateway_from", "otpgate".into()),
    ])
    .await;
    let answer = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["sms"], "recipients": {"sms": "+14155550100"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let token = answer.body["session_token"].as_str().unwrap().to_owned();
    assert_eq!(app.deliver().await, 1);

    // The fake SMSC received the text: sender, number, the message and the WebOTP line.
    let mut received = String::new();
    for _ in 0..100 {
        received = kannel.received();
        if received.contains("Got message") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line = received
        .lines()
        .find(|l| l.contains("Got message"))
        .unwrap_or_else(|| panic!("the SMSC got nothing: {received}"));
    assert!(
        line.contains("<otpgate +14155550100 text Your Acme code is "),
        "{line}"
    );
    let code: String = line
        .split("code is ")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // The WebOTP line follows on a line of its own.
    assert!(
        received.contains(&format!("@app.acme.test #{code}")),
        "{received}"
    );

    // The delivery report reaches otpgate (Kannel calls the URL it was given).
    let mut status = json!(null);
    for _ in 0..100 {
        status = app
            .post(
                "/api/v1/otp/status",
                &app.live_key,
                json!({"session_token": token}),
            )
            .await
            .body["deliveries"]["sms"]["status"]
            .clone();
        if status == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "delivered");

    // A report for a token otpgate did not make changes nothing.
    let base = app.base_url.clone().unwrap();
    let forged = reqwest::get(format!(
        "{base}/hooks/gateway/dlr/1-AAAAAAAAAAAAAAAAAAAAAAAA?type=2"
    ))
    .await
    .unwrap();
    assert_eq!(forged.status().as_u16(), 404);
    let unknown = reqwest::get(format!("{base}/hooks/gateway/dlr/not-a-token?type=1"))
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}

//! Nothing acknowledged is lost: the real binary, in production with an SMTP provider that is
//! not there yet, acknowledges a send and is killed with SIGKILL before it could deliver; once
//! the SMTP server is up and otpgate restarted, the mail arrives, and its code verifies.

use std::path::Path;

use crate::common::binary::{Otpgate, free_port, sigkill};
use crate::common::servers::{SMTP_PASSWORD, SMTP_USER, SmtpSink};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_acknowledged_before_a_kill_is_delivered_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let smtp_state = tempfile::tempdir().unwrap();
    let ca_file = SmtpSink::make_ca(smtp_state.path());
    let smtp_port = free_port();
    let otpgate = Otpgate::new(
        data.path().to_owned(),
        &[
            (
                "OTPGATE_SMTP_URL",
                format!("smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{smtp_port}"),
            ),
            ("OTPGATE_SMTP_FROM", "Acme <codes@acme.test>".to_owned()),
            ("OTPGATE_SMTP_CA_FILE", ca_file.clone()),
        ],
    )
    .await;
    otpgate.cli(&["tenant", "create", "Acme"]);
    let key = otpgate.cli(&["key", "create", "--tenant", "Acme"]);
    let key = key.lines().last().unwrap().trim().to_owned();

    let mut server = otpgate.serve().await;
    let sent = otpgate
        .post(
            "/api/v1/otp/send",
            &key,
            json!({"channels": ["email"], "recipients": {"email": "survivor@example.com"}}),
        )
        .await
        .1;
    let token = sent["session_token"]
        .as_str()
        .expect("acknowledged")
        .to_owned();
    assert_eq!(sent["deliveries"]["email"]["status"], "queued");
    sigkill(&mut server);

    let port = smtp_port.to_string();
    let sink = SmtpSink::start_in(smtp_state, &["--smtp-port", &port]);
    assert!(Path::new(&ca_file).exists());
    let mut server = otpgate.serve().await;
    // A try cut short by the kill holds its lease for up to a minute before it is retried.
    let mail = sink
        .wait_for("survivor@example.com", 0, 90)
        .await
        .expect("the acknowledged message is delivered after the restart");
    let code: String = mail["subject"]
        .as_str()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let verified = otpgate
        .post(
            "/api/v1/otp/verify",
            &key,
            json!({"session_token": token, "otps": {"email": code}}),
        )
        .await
        .1;
    assert_eq!(verified["verified"], true, "{verified}");
    // The worker records the SMTP server's acceptance once the server has answered, which is
    // after the mail reached the sink: the status turns "sent" within moments, never stays.
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        status = otpgate
            .post("/api/v1/otp/status", &key, json!({"session_token": token}))
            .await
            .1;
        if status["deliveries"]["email"]["status"] == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status["deliveries"]["email"]["status"], "sent", "{status}");
    assert_eq!(sink.messages().await.len(), 1, "delivered once");
    sigkill(&mut server);
}

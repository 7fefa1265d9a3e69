//! A real Prometheus (Debian's, started by `scripts/prometheus`) scrapes a real otpgate's admin
//! listener while the test drives a known mix of verifications through the public API; the
//! figures read back from Prometheus' own query API are exactly that mix. And what `/metrics`
//! shows never holds a recipient, a code or a key.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::binary::{Otpgate, client, free_port, sigkill};
use crate::common::wrong;

/// A Prometheus of the test's own, stopped when dropped.
struct Prometheus {
    dir: tempfile::TempDir,
    url: String,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("directory");
        let output = script()
            .args(["start", path(dir.path()), "--target", target])
            .output()
            .expect("scripts/prometheus");
        assert!(
            output.status.success(),
            "scripts/prometheus start (run scripts/setup first): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let url = stdout.lines().last().expect("the URL").trim().to_owned();
        Prometheus { dir, url }
    }

    /// The value of an instant query with one result, asked until it is `wanted` (Prometheus
    /// scrapes every second) or 30 s have passed; the last value read.
    async fn value_becomes(&self, query: &str, wanted: f64) -> f64 {
        let mut last = f64::NAN;
        for _ in 0..60 {
            let answer: Value = client()
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", query)])
                .send()
                .await
                .expect("Prometheus answers")
                .json()
                .await
                .expect("JSON");
            assert_eq!(answer["status"], "success", "{query}: {answer}");
            if let Some(value) = answer["data"]["result"][0]["value"][1].as_str() {
                last = value.parse().expect("a number");
                if last == wanted {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        last
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = script().args(["stop", path(self.dir.path())]).status();
    }
}

fn script() -> Command {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/prometheus"))
}

fn path(dir: &Path) -> &str {
    dir.to_str().expect("a UTF-8 path")
}

fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().trim().to_owned()
}

/// How the public API answered a verify, as the metric's `result` label names it.
fn result_of(status: u16, body: &Value) -> &'static str {
    match (status, body["code"].as_str()) {
        (200, _) => "verified",
        (_, Some("invalid_otp")) => "wrong_code",
        (_, Some("otp_expired")) => "expired",
        (_, Some("too_many_attempts")) => "locked",
        other => panic!("an answer outside the mix: {other:?} {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_back_exactly_the_mix_that_was_driven() {
    let dir = tempfile::tempdir().expect("directory");
    let admin_port = free_port();
    let otpgate = Otpgate::new(
        dir.path().to_owned(),
        &[("OTPGATE_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))],
    )
    .await;
    otpgate.cli(&["tenant", "create", "Metrics"]);
    otpgate.raise_limits("Metrics");
    otpgate.cli(&["tenant", "set", "Metrics", "--destination-per-10min", "2"]);
    let key = last_line(&otpgate.cli(&["key", "create", "--tenant", "Metrics", "--test"]));
    let mut server = otpgate.serve().await;
    let prometheus = Prometheus::start(&format!("127.0.0.1:{admin_port}"));

    let mut codes = Vec::new();
    let mut session = async |to: &str, extra: Value| -> (String, String) {
        let mut body = json!({"channels": ["email"], "recipients": {"email": to}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, sent) = otpgate.post("/api/v1/otp/send", &key, body).await;
        assert_eq!(status, 200, "{sent}");
        let (_, messages) = otpgate
            .get(&format!("/api/v1/test/messages?to={to}"), &key)
            .await;
        let code = messages[0]["code"].as_str().expect("a code").to_owned();
        codes.push(code.clone());
        let token = sent["session_token"].as_str().expect("a token").to_owned();
        (token, code)
    };
    let mut results: Vec<&'static str> = Vec::new();
    let mut verify = async |(token, code): &(String, String), right: bool| {
        let code = if right { code.clone() } else { wrong(code) };
        let (status, body) = otpgate
            .post(
                "/api/v1/otp/verify",
                &key,
                json!({"session_token": token, "otps": {"email": code}}),
            )
            .await;
        results.push(result_of(status, &body));
    };

    for n in 0..7 {
        let started = session(&format!("right{n}@example.com"), json!({})).await;
        verify(&started, true).await;
    }
    for n in 0..2 {
        let started = session(&format!("wrong{n}@example.com"), json!({})).await;
        verify(&started, false).await;
    }
    // One attempt: its wrong code (the third) locks it, and the next call is answered locked.
    let once = session("once@example.com", json!({"max_attempts": 1})).await;
    verify(&once, false).await;
    verify(&once, true).await;
    let mut expiring = Vec::new();
    for n in 0..2 {
        expiring.push(session(&format!("late{n}@example.com"), json!({"expires_in": 1})).await);
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for started in &expiring {
        verify(started, true).await;
    }
    // Two sends to one address in ten minutes, then four refused.
    let mut refused = 0;
    for _ in 0..6 {
        let (status, _) = otpgate
            .post(
                "/api/v1/otp/send",
                &key,
                json!({"channels": ["email"], "recipients": {"email": "often@example.com"}}),
            )
            .await;
        if status == 429 {
            refused += 1;
        }
    }
    let count = |wanted: &str| results.iter().filter(|r| **r == wanted).count() as f64;
    assert_eq!(
        [
            count("verified"),
            count("wrong_code"),
            count("expired"),
            count("locked")
        ],
        [7.0, 3.0, 2.0, 1.0],
        "the API answered the planned mix: {results:?}"
    );
    assert_eq!(refused, 4);

    // One verification through the Twilio-compatible door: a wrong code, then the right one,
    // counted under its own `api` label.
    let shown = otpgate.cli(&["tenant", "show", "Metrics"]);
    let settings: Value = serde_json::from_str(&shown).expect("tenant show prints JSON");
    let account = (
        settings["account_sid"].as_str().expect("an account SID"),
        key.as_str(),
    );
    let (status, service) = otpgate
        .twilio("/v2/Services", account, &[("FriendlyName", "Metrics")])
        .await;
    assert_eq!(status, 201, "{service}");
    let service = service["sid"].as_str().expect("a service SID").to_owned();
    let door_phone = "+14155550188";
    let (status, started) = otpgate
        .twilio(
            &format!("/v2/Services/{service}/Verifications"),
            account,
            &[("To", door_phone), ("Channel", "sms")],
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let (_, messages) = otpgate
        .get("/api/v1/test/messages?to=%2B14155550188", &key)
        .await;
    let door_code = messages[0]["code"].as_str().expect("a code").to_owned();
    codes.push(door_code.clone());
    for code in [wrong(&door_code), door_code.clone()] {
        let (status, checked) = otpgate
            .twilio(
                &format!("/v2/Services/{service}/VerificationCheck"),
                account,
                &[("To", door_phone), ("Code", &code)],
            )
            .await;
        assert_eq!(status, 200, "{checked}");
    }

    for (query, wanted) in [
        (
            r#"otpgate_verification_attempts_total{api="progressive",result="verified"}"#,
            7.0,
        ),
        (
            r#"otpgate_verification_attempts_total{api="progressive",result="wrong_code"}"#,
            3.0,
        ),
        (
            r#"otpgate_verification_attempts_total{api="progressive",result="expired"}"#,
            2.0,
        ),
        (
            r#"otpgate_verification_attempts_total{api="progressive",result="locked"}"#,
            1.0,
        ),
        (
            r#"otpgate_limit_refusals_total{rule="destination_10min"}"#,
            4.0,
        ),
        // 7 + 2 + 1 + 2 verifications, and the two sends before the refusals.
        (r#"otpgate_sessions_started_total{api="progressive"}"#, 14.0),
        (
            r#"otpgate_messages_total{channel="email",provider="outbox",status="sent"}"#,
            14.0,
        ),
        (
            r#"otpgate_time_to_verify_seconds_count{channel="email"}"#,
            7.0,
        ),
        (
            r#"sum(otpgate_http_requests_total{route="/api/v1/otp/verify",method="POST"})"#,
            13.0,
        ),
        (
            r#"sum(otpgate_http_requests_total{route="/api/v1/otp/send",status="429"})"#,
            4.0,
        ),
        (r#"otpgate_delivery_queue_depth{channel="email"}"#, 0.0),
        (r#"otpgate_sessions_started_total{api="twilio"}"#, 1.0),
        (
            r#"otpgate_verification_attempts_total{api="twilio",result="wrong_code"}"#,
            1.0,
        ),
        (
            r#"otpgate_verification_attempts_total{api="twilio",result="verified"}"#,
            1.0,
        ),
    ] {
        let read = prometheus.value_becomes(query, wanted).await;
        assert_eq!(read, wanted, "{query}");
    }
    // The database's pools: SQLite's readers and its one writer, or PostgreSQL's one pool.
    let (query, pools) = if crate::common::database::on_postgres() {
        (r#"count(otpgate_db_connections{pool="shared"})"#, 2.0)
    } else {
        (r#"otpgate_db_connections_max{pool="writer"}"#, 1.0)
    };
    assert_eq!(
        prometheus.value_becomes(query, pools).await,
        pools,
        "{query}"
    );

    // What Prometheus stores is what /metrics shows: nothing secret in it.
    let text = client()
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("process_resident_memory_bytes"),
        "process figures"
    );
    for secret in codes
        .iter()
        .map(String::as_str)
        .chain([key.as_str(), "@example.com"])
    {
        assert!(!text.contains(secret), "/metrics shows `{secret}`");
    }
    let public = client()
        .get(format!("http://127.0.0.1:{}/metrics", otpgate.port))
        .send()
        .await
        .expect("public /metrics");
    assert_eq!(public.status(), 404, "never on the public listener");
    sigkill(&mut server);
}

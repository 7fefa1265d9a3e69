//! Webhooks from real processes: the command line's `webhook` commands, and three instances of the binary on one database, an endpoint
//! subscribed with the CLI, sessions sent and verified through every instance while the
//! receiver goes down for a moment and one instance is killed with SIGKILL. Every event
//! arrives, signed (judged by the official Standard Webhooks library), and de-duplicated by
//! `webhook-id` the receiver holds exactly the events the sessions caused.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::common::binary::{Otpgate, sigkill};
use crate::common::servers::WebhookReceiver;

const SESSIONS: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_and_a_kill_lose_no_event() {
    let data = tempfile::tempdir().unwrap();
    let first = Otpgate::new(
        data.path().to_owned(),
        &[("OTPGATE_WEBHOOKS_ALLOW_PRIVATE", "true".to_owned())],
    )
    .await;
    first.cli(&["tenant", "create", "Acme"]);
    first.raise_limits("Acme");
    let key = first.cli(&["key", "create", "--tenant", "Acme", "--test"]);
    let key = key.lines().last().unwrap().trim().to_owned();
    let mut receiver = WebhookReceiver::start();
    let created = first.cli(&[
        "webhook",
        "create",
        "--tenant",
        "Acme",
        "--url",
        &receiver.url("/hooks"),
        "--description",
        "three instances",
    ]);
    let secret = created.lines().last().unwrap().trim().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    receiver.set_secrets(&[&secret]).await;

    // The first instance's admin listener on a known port, to read its /metrics.
    let admin_port = crate::common::binary::free_port();
    let mut metered = first.clone();
    metered.env.push((
        "OTPGATE_ADMIN_ADDR".to_owned(),
        format!("127.0.0.1:{admin_port}"),
    ));
    let instances = [metered, first.another(), first.another()];
    let mut servers = Servers(Vec::new());
    for instance in &instances {
        servers.0.push(Some(instance.serve().await));
    }
    let mut expected: BTreeSet<(String, String, String)> = BTreeSet::new();
    for n in 0..SESSIONS {
        let instance = &instances[n % 3];
        if servers.0[n % 3].is_none() {
            continue;
        }
        let email = format!("multi{n}@example.com");
        let (status, sent) = instance
            .post(
                "/api/v1/otp/send",
                &key,
                json!({"channels": ["email"], "recipients": {"email": email}}),
            )
            .await;
        assert_eq!(status, 200, "{sent}");
        let session = sent["session_id"].as_str().unwrap().to_owned();
        let (_, messages) = instance
            .get(&format!("/api/v1/test/messages?to={email}"), &key)
            .await;
        let code = messages[0]["code"].as_str().unwrap().to_owned();
        let (status, verified) = instance
            .post(
                "/api/v1/otp/verify",
                &key,
                json!({"session_token": sent["session_token"], "otps": {"email": code}}),
            )
            .await;
        assert_eq!(status, 200, "{verified}");
        for (kind, channel) in [
            ("verification.started", ""),
            ("message.sent", "email"),
            ("verification.channel_verified", "email"),
            ("verification.verified", ""),
        ] {
            expected.insert((kind.to_owned(), session.clone(), channel.to_owned()));
        }
        if n == SESSIONS / 3 {
            // The receiver goes away for a moment: what meets it closed is retried 5 s later.
            receiver.down();
        }
        if n == SESSIONS / 3 + 3 {
            receiver.up();
            receiver.set_secrets(&[&secret]).await;
            // Slow answers, so that deliveries are in flight when an instance dies next.
            receiver.answer(204, None, 1.5).await;
        }
        if n == SESSIONS / 2 + 1 {
            // One instance dies mid-run with what it had claimed: its leases run out (a
            // minute) and the others deliver those events.
            let mut killed = servers.0[1].take().expect("running");
            sigkill(&mut killed);
            receiver.answer(204, None, 0.0).await;
        }
    }
    let received = receiver.wait_for_distinct(expected.len(), 120).await;
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for delivery in &received {
        assert_eq!(
            delivery["verified_with"],
            json!([0]),
            "signature judged by the official library: {delivery}"
        );
        let id = delivery["id"].as_str().unwrap().to_owned();
        if let Some(earlier) = by_id.get(&id) {
            assert_eq!(
                earlier["body"], delivery["body"],
                "a retry carries the same body"
            );
        }
        by_id.insert(id, delivery.clone());
    }
    let told: BTreeSet<(String, String, String)> = by_id
        .values()
        .map(|d| {
            let event = &d["event"];
            (
                event["type"].as_str().unwrap_or_default().to_owned(),
                event["data"]["session_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                event["data"]["channel"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        told, expected,
        "de-duplicated by webhook-id, exactly the events the sessions caused"
    );
    assert_eq!(by_id.len(), expected.len(), "one ID per event");
    // The instance that stayed counted what it posted, and has nothing left.
    let metrics = reqwest::get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("text");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    assert!(value("otpgate_webhook_deliveries_total{result=\"delivered\"}") > 0.0);
    assert!(value("otpgate_webhook_delivery_latency_seconds_count") > 0.0);
    // (What the killed instance had claimed waits for its lease: the depth need not be 0.)
    assert!(value("otpgate_webhook_queue_depth") >= 0.0);
    assert!(value("otpgate_webhook_queue_oldest_seconds") >= 0.0);
    assert!(!metrics.contains(&secret), "no secret in the metrics");
}

/// The instances of a test, killed when it ends, also when it fails.
struct Servers(Vec<Option<std::process::Child>>);

impl Drop for Servers {
    fn drop(&mut self) {
        for server in self.0.iter_mut().flatten() {
            sigkill(server);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_manages_endpoints_as_the_admin_api_does() {
    let data = tempfile::tempdir().unwrap();
    let otpgate = Otpgate::new(data.path().to_owned(), &[]).await;
    otpgate.cli(&["tenant", "create", "Acme"]);
    // Without the operator's allowance, loopback is refused, with the reason.
    let refused = otpgate
        .command(&[
            "webhook",
            "create",
            "--tenant",
            "Acme",
            "--url",
            "http://127.0.0.1:9/hooks",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("must be https"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let mut allowed = otpgate.clone();
    allowed.env.push((
        "OTPGATE_WEBHOOKS_ALLOW_PRIVATE".to_owned(),
        "true".to_owned(),
    ));
    let created = allowed.cli(&[
        "webhook",
        "create",
        "--tenant",
        "Acme",
        "--url",
        "http://127.0.0.1:9/hooks",
        "--event",
        "verification.verified",
    ]);
    let secret = created.lines().last().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    let listed = allowed.cli(&["webhook", "list", "--tenant", "Acme"]);
    assert!(listed.contains("http://127.0.0.1:9/hooks"), "{listed}");
    assert!(listed.contains("verification.verified"), "{listed}");
    assert!(!listed.contains(secret), "the secret is shown once");
    let rotated = allowed.cli(&["webhook", "rotate", "1", "--overlap", "1h"]);
    let new = rotated.lines().last().unwrap();
    assert!(new.starts_with("whsec_") && new != secret, "{rotated}");
    let tested = allowed.cli(&["webhook", "test", "1", "--type", "message.failed"]);
    assert!(tested.contains("delivery 1"), "{tested}");
    let deliveries = allowed.cli(&["webhook", "deliveries", "1"]);
    assert!(
        deliveries.contains("message.failed\tpending"),
        "{deliveries}"
    );
    let updated = allowed.cli(&["webhook", "update", "1", "--all-events", "--disable"]);
    assert!(
        updated.contains("every event") && updated.contains("disabled"),
        "{updated}"
    );
    allowed.cli(&["webhook", "delete", "1"]);
    assert!(!allowed.cli(&["webhook", "list"]).contains("127.0.0.1:9"));
    let audit = allowed.cli(&["audit", "--tenant", "Acme"]);
    for action in [
        "webhook.created",
        "webhook.rotated",
        "webhook.updated",
        "webhook.deleted",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
    assert!(!audit.contains(secret) && !audit.contains(new));
}

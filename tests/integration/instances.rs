//! Three `otpgate serve` processes on one database, requests spread over them: what the
//! contract guarantees must hold across instances exactly as within one. In the PostgreSQL pass
//! of `scripts/test` this is the several-instances deployment (one schema, three processes);
//! in the SQLite pass, three processes on one file.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::time::Duration;

use crate::common::binary::{Otpgate, sigkill};
use crate::common::standins::{self, StandIn};
use serde_json::{Value, json};

const SEND: &str = "/api/v1/otp/send";
const VERIFY: &str = "/api/v1/otp/verify";
const RESEND: &str = "/api/v1/otp/resend";
const STATUS: &str = "/api/v1/otp/status";

/// Three instances, an Acme tenant with its limits raised (test and live keys, through
/// `scripts/raise-limits` as every suite does) and an Initech tenant on the server's defaults,
/// SMS through a Twilio stand-in.
struct Cluster {
    instances: Vec<Otpgate>,
    servers: Vec<Option<Child>>,
    test_key: String,
    live_key: String,
    limited_key: String,
    twilio: StandIn,
    _data: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for server in self.servers.iter_mut().flatten() {
            sigkill(server);
        }
    }
}

fn last_line(output: &str) -> String {
    output.lines().last().expect("a key").trim().to_owned()
}

async fn cluster() -> Cluster {
    let twilio = standins::twilio().await;
    let data = tempfile::tempdir().expect("temporary directory");
    let first = Otpgate::new(
        data.path().to_owned(),
        &[
            ("OTPGATE_SMS_PROVIDER", "twilio".to_owned()),
            ("OTPGATE_TWILIO_BASE_URL", twilio.base_url.clone()),
            (
                "OTPGATE_TWILIO_ACCOUNT_SID",
                standins::TWILIO_SID.to_owned(),
            ),
            (
                "OTPGATE_TWILIO_AUTH_TOKEN",
                standins::TWILIO_TOKEN.to_owned(),
            ),
            ("OTPGATE_TWILIO_FROM", "+14155550199".to_owned()),
            // A killed instance's messages go back to the queue within seconds.
            ("OTPGATE_DELIVERY_LEASE_SECS", "3".to_owned()),
        ],
    )
    .await;
    first.cli(&["tenant", "create", "Acme"]);
    first.cli(&["tenant", "create", "Initech"]);
    first.raise_limits("Acme");
    let test_key = last_line(&first.cli(&["key", "create", "--tenant", "Acme", "--test"]));
    let live_key = last_line(&first.cli(&["key", "create", "--tenant", "Acme"]));
    let limited_key = last_line(&first.cli(&["key", "create", "--tenant", "Initech", "--test"]));
    let instances = vec![first.clone(), first.another(), first.another()];
    let mut servers = Vec::new();
    for instance in &instances {
        servers.push(Some(instance.serve().await));
    }
    Cluster {
        instances,
        servers,
        test_key,
        live_key,
        limited_key,
        twilio,
        _data: data,
    }
}

impl Cluster {
    /// The instance the `n`th request goes to.
    fn at(&self, n: usize) -> &Otpgate {
        &self.instances[n % self.instances.len()]
    }

    async fn send_email(&self, key: &str, to: &str, extra: Value) -> Value {
        let mut body = json!({"channels": ["email"], "recipients": {"email": to}});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let (status, answer) = self.at(0).post(SEND, key, body).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// The newest code the test key sent to `to`, read from another instance.
    async fn code(&self, to: &str) -> String {
        let path = format!("/api/v1/test/messages?to={}", to.replace('@', "%40"));
        let (status, messages) = self.at(1).get(&path, &self.test_key).await;
        assert_eq!(status, 200, "{messages}");
        messages[0]["code"].as_str().expect("a code").to_owned()
    }

    /// Posts `count` copies of `body` at once, spread over the instances; their answers.
    async fn post_at_once(
        &self,
        count: usize,
        path: &str,
        key: &str,
        body: Value,
    ) -> Vec<(u16, Value)> {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(count));
        let tasks: Vec<_> = (0..count)
            .map(|n| {
                let (instance, key, body) = (self.at(n).clone(), key.to_owned(), body.clone());
                let (path, barrier) = (path.to_owned(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    instance.post(&path, &key, body).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task"));
        }
        answers
    }
}

fn statuses(answers: &[(u16, Value)]) -> BTreeMap<u16, usize> {
    let mut counted = BTreeMap::new();
    for (status, _) in answers {
        *counted.entry(*status).or_default() += 1;
    }
    counted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_wrong_guesses_over_three_instances_consume_exactly_max_attempts() {
    let cluster = cluster().await;
    let sent = cluster
        .send_email(
            &cluster.test_key,
            "guess@example.com",
            json!({"max_attempts": 10}),
        )
        .await;
    let token = sent["session_token"].as_str().expect("token");
    // Read now: a locked session's code is erased from the outbox.
    let code = cluster.code("guess@example.com").await;
    let body = json!({"session_token": token, "otps": {"email": "000000"}});
    let answers = cluster
        .post_at_once(50, VERIFY, &cluster.test_key, body)
        .await;
    assert_eq!(
        statuses(&answers),
        BTreeMap::from([(400, 10), (429, 40)]),
        "ten counted failures, then the session is locked"
    );
    let (_, status) = cluster
        .at(2)
        .post(STATUS, &cluster.test_key, json!({"session_token": token}))
        .await;
    assert_eq!(status["attempts_remaining"], 0, "{status}");
    // Locked for good: the right code no longer works, on any instance.
    let right = json!({"session_token": token, "otps": {"email": code}});
    for n in 0..3 {
        let (status, answer) = cluster
            .at(n)
            .post(VERIFY, &cluster.test_key, right.clone())
            .await;
        assert_eq!(status, 429, "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_correct_submissions_over_three_instances_verify_once() {
    let cluster = cluster().await;
    let sent = cluster
        .send_email(&cluster.test_key, "right@example.com", json!({}))
        .await;
    let token = sent["session_token"].as_str().expect("token");
    let code = cluster.code("right@example.com").await;
    let body = json!({"session_token": token, "otps": {"email": code}});
    let answers = cluster
        .post_at_once(20, VERIFY, &cluster.test_key, body)
        .await;
    assert_eq!(statuses(&answers), BTreeMap::from([(200, 20)]));
    // Re-submitting a verified channel reports success and costs nothing.
    for (_, answer) in &answers {
        assert_eq!(answer["verified_channels"], json!(["email"]), "{answer}");
    }
    let (_, status) = cluster
        .at(1)
        .post(STATUS, &cluster.test_key, json!({"session_token": token}))
        .await;
    assert_eq!(status["verified_channels"], json!(["email"]), "{status}");
    assert_eq!(status["attempts_remaining"], 5, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_resends_over_three_instances_send_once() {
    let cluster = cluster().await;
    let sent = cluster
        .send_email(&cluster.test_key, "again@example.com", json!({}))
        .await;
    let token = sent["session_token"].as_str().expect("token");
    // A channel may be resent 30 seconds after its last code (real time: these are processes).
    tokio::time::sleep(Duration::from_secs(31)).await;
    let body = json!({"session_token": token, "channels": ["email"]});
    let answers = cluster
        .post_at_once(10, RESEND, &cluster.test_key, body)
        .await;
    assert_eq!(statuses(&answers), BTreeMap::from([(200, 1), (429, 9)]));
    let path = "/api/v1/test/messages?to=again%40example.com";
    let (_, messages) = cluster.at(2).get(path, &cluster.test_key).await;
    assert_eq!(
        messages.as_array().map(Vec::len),
        Some(2),
        "the first send and one resend: {messages}"
    );
    let code = cluster.code("again@example.com").await;
    let right = json!({"session_token": token, "otps": {"email": code}});
    let (status, answer) = cluster.at(0).post(VERIFY, &cluster.test_key, right).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_destination_limit_holds_exactly_over_three_instances() {
    let cluster = cluster().await;
    let body = json!({"channels": ["email"], "recipients": {"email": "limit@example.com"}});
    let answers = cluster
        .post_at_once(40, SEND, &cluster.limited_key, body)
        .await;
    assert_eq!(statuses(&answers), BTreeMap::from([(200, 5), (429, 35)]));
}

/// Sends an SMS to each number, `parallel` at a time, spread over the live instances; the
/// numbers whose send was acknowledged (200). A send to a killed instance is not acknowledged.
async fn send_sms_to_all(cluster: &Cluster, numbers: &[String], parallel: usize) -> Vec<String> {
    let client = crate::common::binary::client();
    let mut acknowledged = Vec::new();
    for (batch_index, batch) in numbers.chunks(parallel).enumerate() {
        let tasks: Vec<_> = batch
            .iter()
            .enumerate()
            .map(|(n, number)| {
                let port = cluster.at(batch_index + n).port;
                let (client, key, number) =
                    (client.clone(), cluster.live_key.clone(), number.clone());
                tokio::spawn(async move {
                    let answer = client
                        .post(format!("http://127.0.0.1:{port}{SEND}"))
                        .header("x-api-key", key)
                        .json(&json!({"channels": ["sms"], "recipients": {"sms": number}}))
                        .send()
                        .await;
                    match answer {
                        Ok(answer) if answer.status() == 200 => Some(number),
                        Ok(answer) => panic!("{number}: {}", answer.status()),
                        Err(_) => None,
                    }
                })
            })
            .collect();
        for task in tasks {
            acknowledged.extend(task.await.expect("task"));
        }
    }
    acknowledged
}

fn numbers(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("+1415555{:04}", 2000 + n))
        .collect()
}

/// How often the stand-in accepted a message for each number.
fn accepted_per_number(twilio: &StandIn) -> BTreeMap<String, usize> {
    let mut counted = BTreeMap::new();
    for message in twilio.accepted() {
        *counted.entry(message.to).or_default() += 1;
    }
    counted
}

/// Waits until every number in `expected` was accepted at least once (or a minute passed).
async fn wait_for_deliveries(twilio: &StandIn, expected: &[String]) -> BTreeMap<String, usize> {
    for _ in 0..600 {
        let accepted = accepted_per_number(twilio);
        if expected.iter().all(|number| accepted.contains_key(number)) {
            return accepted;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    accepted_per_number(twilio)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_queued_messages_over_three_workers_are_each_delivered_once() {
    let cluster = cluster().await;
    let numbers = numbers(200);
    let acknowledged = send_sms_to_all(&cluster, &numbers, 20).await;
    assert_eq!(acknowledged.len(), 200);
    let accepted = wait_for_deliveries(&cluster.twilio, &numbers).await;
    assert_eq!(accepted.len(), 200, "every message delivered");
    // A worker that took a message twice would show it here, a little later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = accepted_per_number(&cluster.twilio);
    let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(cluster.twilio.accepted().len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_an_instance_under_load_loses_no_acknowledged_send() {
    let mut cluster = cluster().await;
    let numbers = numbers(300);
    let (before, after) = numbers.split_at(150);
    let mut acknowledged = send_sms_to_all(&cluster, before, 30).await;
    // kill -9 while its worker may hold claimed messages and requests are on their way.
    let killed = cluster.servers[2].take();
    let load = {
        let after = after.to_vec();
        let cluster = &cluster;
        async move { send_sms_to_all(cluster, &after, 30).await }
    };
    let kill = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Some(mut server) = killed {
            sigkill(&mut server);
        }
    };
    let (sent_after, ()) = tokio::join!(load, kill);
    acknowledged.extend(sent_after);
    assert!(
        acknowledged.len() >= 250,
        "the others kept answering: {}",
        acknowledged.len()
    );
    // Every acknowledged session is stored: the survivors know it.
    let accepted = wait_for_deliveries(&cluster.twilio, &acknowledged).await;
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|number| !accepted.contains_key(*number))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but never delivered: {lost:?}"
    );
    // At-least-once: only a message the killed worker had handed over but not yet recorded may
    // go twice; report how many did.
    let twice = accepted.values().filter(|n| **n > 1).count();
    eprintln!(
        "{} acknowledged, {} delivered, {twice} delivered twice after the kill",
        acknowledged.len(),
        accepted.len()
    );
    assert!(
        twice <= 64,
        "more duplicates than one worker holds in flight: {twice}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_revoked_from_the_command_line_is_refused_by_every_instance_within_a_second() {
    let cluster = cluster().await;
    let body = json!({"channels": ["email"], "recipients": {"email": "revoked@example.com"}});
    for n in 0..3 {
        let (status, answer) = cluster
            .at(n)
            .post(SEND, &cluster.test_key, body.clone())
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    cluster
        .at(0)
        .cli(&["key", "revoke", &cluster.test_key[..16]]);
    let revoked_at = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for n in 0..3 {
        let (status, answer) = cluster
            .at(n)
            .post(SEND, &cluster.test_key, body.clone())
            .await;
        assert_eq!(
            status,
            401,
            "instance {n}, {:?} after: {answer}",
            revoked_at.elapsed()
        );
    }
}

/// The test outbox's messages to `to`, read from instance `n`.
async fn outbox_at(cluster: &Cluster, n: usize, to: &str) -> Vec<Value> {
    let path = format!("/api/v1/test/messages?to={}", to.replace('+', "%2B"));
    let (status, messages) = cluster.at(n).get(&path, &cluster.test_key).await;
    assert_eq!(status, 200, "{messages}");
    messages.as_array().expect("messages").clone()
}

/// Waits up to `seconds` for the outbox to hold a message to `to`; what it holds then.
async fn wait_for_message(cluster: &Cluster, to: &str, seconds: u64) -> Vec<Value> {
    for _ in 0..seconds * 4 {
        let messages = outbox_at(cluster, 2, to).await;
        if !messages.is_empty() {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Vec::new()
}

async fn fallback_session(cluster: &Cluster, email: &str, sms: &str) {
    let body = json!({
        "channels": ["email", "sms"],
        "recipients": {"email": email, "sms": sms},
        "delivery": {"strategy": "fallback", "after_secs": 5},
    });
    let (status, answer) = cluster.at(0).post(SEND, &cluster.test_key, body).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_send_each_fallback_step_once() {
    let cluster = cluster().await;
    fallback_session(&cluster, "fallback-3@example.com", "+14155550150").await;
    assert!(outbox_at(&cluster, 1, "+14155550150").await.is_empty());
    // Every instance runs the pass each second; the step's write is won by one.
    let sms = wait_for_message(&cluster, "+14155550150", 15).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(outbox_at(&cluster, 0, "+14155550150").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fallback_step_survives_every_instance_killed_before_it() {
    let mut cluster = cluster().await;
    fallback_session(&cluster, "fallback-kill@example.com", "+14155550151").await;
    for server in cluster.servers.iter_mut() {
        if let Some(mut child) = server.take() {
            sigkill(&mut child);
        }
    }
    // Down past the step's time: the timer is a row, and the first instance back takes it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    cluster.servers[2] = Some(cluster.instances[2].serve().await);
    let sms = wait_for_message(&cluster, "+14155550151", 10).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
}

impl Cluster {
    /// The Acme tenant's account SID (the Twilio-compatible door's user name).
    fn account_sid(&self) -> String {
        let shown = self.at(0).cli(&["tenant", "show", "Acme"]);
        let settings: Value = serde_json::from_str(&shown).expect("tenant show prints JSON");
        settings["account_sid"]
            .as_str()
            .expect("an account SID")
            .to_owned()
    }

    /// Posts `count` copies of a Twilio form at once, spread over the instances.
    async fn twilio_at_once(
        &self,
        count: usize,
        path: &str,
        account: (&str, &str),
        form: &[(&str, &str)],
    ) -> Vec<(u16, Value)> {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(count));
        let owned: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let tasks: Vec<_> = (0..count)
            .map(|n| {
                let instance = self.at(n).clone();
                let (sid, key) = (account.0.to_owned(), account.1.to_owned());
                let (path, barrier, owned) = (path.to_owned(), barrier.clone(), owned.clone());
                tokio::spawn(async move {
                    let form: Vec<(&str, &str)> = owned
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    barrier.wait().await;
                    instance.twilio(&path, (&sid, &key), &form).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task"));
        }
        answers
    }
}

/// The Twilio-compatible door's rules hold across processes: ten creates at once for one `To`
/// make one verification (the others are its resend, refused inside the cooldown); 30 wrong
/// checks at once over three instances spend exactly five; 20 right checks approve once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_twilio_doors_rules_hold_over_three_instances() {
    let cluster = cluster().await;
    let sid = cluster.account_sid();
    let account = (sid.as_str(), cluster.test_key.as_str());
    let (status, service) = cluster
        .at(0)
        .twilio("/v2/Services", account, &[("FriendlyName", "Cluster")])
        .await;
    assert_eq!(status, 201, "{service}");
    let service = service["sid"].as_str().expect("a service").to_owned();
    let start = format!("/v2/Services/{service}/Verifications");
    let check = format!("/v2/Services/{service}/VerificationCheck");

    let to = "door@example.com";
    let created = cluster
        .twilio_at_once(10, &start, account, &[("To", to), ("Channel", "email")])
        .await;
    let made: BTreeSet<&str> = created
        .iter()
        .filter(|(status, _)| *status == 201)
        .filter_map(|(_, body)| body["sid"].as_str())
        .collect();
    assert_eq!(made.len(), 1, "one verification: {created:?}");
    assert!(
        created
            .iter()
            .all(|(status, body)| *status == 201 || (*status == 429 && body["code"] == 20429)),
        "the others are its resend inside the cooldown: {created:?}"
    );
    let code = cluster.code(to).await;
    let wrong = crate::common::wrong(&code);
    let answers = cluster
        .twilio_at_once(30, &check, account, &[("To", to), ("Code", &wrong)])
        .await;
    assert_eq!(
        statuses(&answers),
        BTreeMap::from([(200, 5), (429, 25)]),
        "five checks spent, then 60202"
    );

    let to = "door-right@example.com";
    let (status, _) = cluster
        .at(1)
        .twilio(&start, account, &[("To", to), ("Channel", "email")])
        .await;
    assert_eq!(status, 201);
    let code = cluster.code(to).await;
    let answers = cluster
        .twilio_at_once(20, &check, account, &[("To", to), ("Code", &code)])
        .await;
    let approved = answers
        .iter()
        .filter(|(status, body)| *status == 200 && body["status"] == "approved")
        .count();
    assert_eq!(
        (approved, statuses(&answers).get(&404).copied()),
        (1, Some(19))
    );
}

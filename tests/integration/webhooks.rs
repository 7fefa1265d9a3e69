//! Webhooks end to end: endpoints subscribed over the admin API, events written with the
//! changes that cause them, posted by the worker (run at the test's clock) to a real receiver
//! that judges every signature with the official Standard Webhooks library
//! (`tests/servers/webhook_receiver.py`): a scripted session's story, lock, expiry, cancel, a
//! failed message, the single-SMS flow, outages and retries, rotation, `410`, five days of
//! failures, the guard on URLs, scopes, and that no event ever carries a code, a token or a key.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use otpgate::server::service::AdminScope;
use serde_json::{Value, json};

use crate::common::servers::WebhookReceiver;
use crate::common::standins::{self, StandIn};
use crate::common::{TestApp, wrong};

/// An app whose endpoints may be on loopback (the receiver), with a write token over every
/// tenant, and a receiver subscribed to Acme's events (every type): its ID and secret.
struct Hooked {
    app: TestApp,
    receiver: WebhookReceiver,
    token: String,
    endpoint: i64,
    secret: String,
}

async fn subscribe(app: &TestApp, token: &str, receiver: &WebhookReceiver, body: Value) -> Value {
    let mut body = body;
    body["url"] = json!(receiver.url("/otpgate"));
    let answer = app
        .admin_call(
            Method::POST,
            "/admin/v1/tenants/Acme/webhooks",
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body
}

async fn hooked_with(app: TestApp) -> Hooked {
    let receiver = WebhookReceiver::start();
    let token = app.admin_token(AdminScope::Write, None).await;
    let created = subscribe(&app, &token, &receiver, json!({"description": "tests"})).await;
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.set_secrets(&[&secret]).await;
    Hooked {
        endpoint: created["id"].as_i64().expect("an ID"),
        app,
        receiver,
        token,
        secret,
    }
}

async fn hooked() -> Hooked {
    hooked_with(TestApp::with_settings(|s| s.webhooks_allow_private = true).await).await
}

/// Where a type comes in a verification's story, for events of one second.
fn rank(kind: &str) -> usize {
    [
        "verification.started",
        "sms_request.started",
        "message.sent",
        "message.delivered",
        "message.failed",
        "verification.channel_verified",
    ]
    .iter()
    .position(|k| *k == kind)
    .unwrap_or(9)
}

/// The events received, as `(type, data)`, in the order of their `timestamp` (and, within one
/// second, of the story): events are not posted in order, but their times tell the story.
fn story(received: &[Value]) -> Vec<(String, Value)> {
    let mut events: Vec<(String, String, Value)> = received
        .iter()
        .map(|r| {
            let event = &r["event"];
            (
                event["timestamp"].as_str().unwrap_or_default().to_owned(),
                event["type"].as_str().unwrap_or_default().to_owned(),
                event["data"].clone(),
            )
        })
        .collect();
    events.sort_by(|a, b| (&a.0, rank(&a.1)).cmp(&(&b.0, rank(&b.1))));
    events.into_iter().map(|(_, t, d)| (t, d)).collect()
}

fn types(received: &[Value]) -> Vec<String> {
    story(received).into_iter().map(|(t, _)| t).collect()
}

/// Every delivery verified with the official library, with the secret at `index`.
fn all_verified_with(received: &[Value], index: &[u64]) {
    for delivery in received {
        let with: Vec<u64> = delivery["verified_with"]
            .as_array()
            .expect("verified_with")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert_eq!(with, index, "signature of {delivery}");
        assert_eq!(delivery["content_type"], "application/json");
        assert!(
            delivery["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("msg_"))
        );
    }
}

/// No body holds any of `secrets` (codes, tokens, keys).
fn none_holds(received: &[Value], secrets: &[&str]) {
    for delivery in received {
        let body = delivery["body"].as_str().expect("body");
        for secret in secrets {
            assert!(
                !body.contains(secret),
                "a delivery holds a secret ({secret}): {body}"
            );
        }
        assert!(body.len() < 20_000, "a body under 20 KB");
    }
}

/// The endpoint's deliveries as the admin API lists them.
async fn deliveries_of(hooked: &Hooked) -> crate::common::Answer {
    hooked
        .app
        .admin_call(
            Method::GET,
            &format!("/admin/v1/webhooks/{}/deliveries", hooked.endpoint),
            Some(&hooked.token),
            None,
        )
        .await
}

/// Posts what is due, as often as it takes for `count` deliveries to have arrived.
async fn post_until(hooked: &Hooked, count: usize) -> Vec<Value> {
    for _ in 0..20 {
        hooked.app.post_webhooks().await;
        let received = hooked.receiver.received().await;
        if received.len() >= count {
            return received;
        }
    }
    hooked.receiver.received().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_session_tells_its_story_signed_for_the_official_library() {
    let hooked = hooked().await;
    let app = &hooked.app;
    let sent = app
        .send(json!({
            "channels": ["email", "sms"],
            "verification_mode": "all",
            "recipients": {"email": "story@example.com", "sms": "+14155550111"},
        }))
        .await;
    let token = sent["session_token"].as_str().unwrap().to_owned();
    let session_id = sent["session_id"].as_str().unwrap().to_owned();
    let email_code = app.code("email", "story@example.com").await;
    let sms_code = app.code("sms", "+14155550111").await;

    app.clock.advance(1);
    let answer = app
        .verify(&token, json!({"email": wrong(&email_code)}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    app.clock.advance(1);
    assert_eq!(
        app.verify(&token, json!({"email": email_code}))
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance(1);
    assert_eq!(
        app.verify(&token, json!({"sms": sms_code})).await.status,
        StatusCode::OK
    );

    let received = post_until(&hooked, 6).await;
    let mut kinds = types(&received);
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "message.sent",
            "message.sent",
            "verification.channel_verified",
            "verification.channel_verified",
            "verification.started",
            "verification.verified",
        ]
    );
    let story = story(&received);
    let first_three: BTreeSet<&str> = story[..3].iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        first_three,
        BTreeSet::from(["message.sent", "verification.started"])
    );
    assert_eq!(story[3].0, "verification.channel_verified");
    assert_eq!(story[3].1["channel"], "email");
    assert_eq!(story[3].1["session_verified"], false);
    assert_eq!(story[3].1["verified_channels"], json!(["email"]));
    assert_eq!(story[3].1["recipient"], "s***@example.com");
    assert_eq!(story[4].0, "verification.channel_verified");
    assert_eq!(story[4].1["channel"], "sms");
    assert_eq!(story[5].0, "verification.verified");
    assert_eq!(story[5].1["verified_channels"], json!(["email", "sms"]));
    assert_eq!(story[5].1["status"], "verified");
    for (_, data) in &story {
        assert_eq!(data["tenant"], "Acme");
        assert_eq!(data["session_id"], session_id.as_str());
        assert_eq!(data["test"], true);
    }
    let started = &story
        .iter()
        .find(|(t, _)| t == "verification.started")
        .unwrap()
        .1;
    assert_eq!(
        started["channels"],
        json!([
            {"channel": "email", "recipient": "s***@example.com"},
            {"channel": "sms", "recipient": "+1 •••• ••0111"}
        ])
    );
    all_verified_with(&received, &[0]);
    none_holds(
        &received,
        &[
            &token,
            &email_code,
            &sms_code,
            &app.test_key,
            &hooked.secret,
            "story@example.com",
            "+14155550111",
        ],
    );
    // Each event once: its ID is its own.
    let ids: BTreeSet<&str> = received.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), 6);

    // The admin API lists them delivered, each with the request made.
    let listed = app
        .admin_call(
            Method::GET,
            &format!("/admin/v1/webhooks/{}/deliveries", hooked.endpoint),
            Some(&hooked.token),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let deliveries = listed.body["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 6);
    for delivery in deliveries {
        assert_eq!(delivery["status"], "delivered");
        assert_eq!(delivery["tries"].as_array().unwrap().len(), 1);
        assert_eq!(delivery["tries"][0]["status"], 204);
        assert!(ids.contains(delivery["event_id"].as_str().unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_expiry_and_cancel_are_told_and_the_single_sms_flow_too() {
    let hooked = hooked().await;
    let app = &hooked.app;
    // Locked: two wrong codes of two allowed.
    let sent = app
        .send(
            json!({"channels": ["email"], "recipients": {"email": "lock@example.com"},
                     "max_attempts": 2}),
        )
        .await;
    let locked = sent["session_token"].as_str().unwrap().to_owned();
    let code = app.code("email", "lock@example.com").await;
    app.verify(&locked, json!({"email": wrong(&code)})).await;
    app.verify(&locked, json!({"email": wrong(&code)})).await;
    // Canceled.
    let sent = app
        .send(json!({"channels": ["email"], "recipients": {"email": "cancel@example.com"}}))
        .await;
    let canceled = sent["session_token"].as_str().unwrap().to_owned();
    let answer = app
        .post(
            "/api/v1/otp/cancel",
            &app.test_key,
            json!({"session_token": canceled}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    // Expired: left alone past its 600 s.
    let sent = app
        .send(
            json!({"channels": ["email"], "recipients": {"email": "late@example.com"},
                     "expires_in": 60}),
        )
        .await;
    let late_id = sent["session_id"].as_str().unwrap().to_owned();
    // Single SMS: one verified, one expired.
    let initiated = app
        .post(
            "/api/otp/initiate",
            &app.test_key,
            json!({"phone_number": "+14155550122"}),
        )
        .await;
    assert_eq!(initiated.status, StatusCode::OK, "{}", initiated.text);
    let request_id = initiated.body["request_id"].as_str().unwrap().to_owned();
    let sms_code = app.code("sms", "+14155550122").await;
    let verified = app
        .post(
            "/api/otp/verify",
            &app.test_key,
            json!({"request_id": request_id, "code": sms_code}),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let unanswered = app
        .post(
            "/api/otp/initiate",
            &app.test_key,
            json!({"phone_number": "+14155550133"}),
        )
        .await;
    let unanswered_id = unanswered.body["request_id"].as_str().unwrap().to_owned();

    app.post_webhooks().await;
    let before_expiry = hooked.receiver.received().await.len();
    // Nothing expired yet: the pass tells of nothing.
    app.expiry_pass().await;
    app.post_webhooks().await;
    assert_eq!(hooked.receiver.received().await.len(), before_expiry);

    app.clock.advance(700);
    app.expiry_pass().await;
    // A second pass tells of nothing again.
    app.expiry_pass().await;
    let received = post_until(&hooked, before_expiry + 3).await;
    let told: Vec<(String, Value)> = story(&received);
    let of = |kind: &str| -> Vec<Value> {
        told.iter()
            .filter(|(t, _)| t == kind)
            .map(|(_, d)| d.clone())
            .collect()
    };
    let locked_events = of("verification.locked");
    assert_eq!(locked_events.len(), 1, "{told:?}");
    assert_eq!(locked_events[0]["status"], "locked");
    assert_eq!(locked_events[0]["session_verified"], false);
    assert_eq!(of("verification.canceled").len(), 1);
    assert_eq!(of("verification.canceled")[0]["status"], "canceled");
    // Only the one left alone expired: the locked, the canceled and the verified did not.
    let expired = of("verification.expired");
    assert_eq!(expired.len(), 1, "{told:?}");
    assert_eq!(expired[0]["session_id"], late_id.as_str());
    assert_eq!(of("sms_request.started").len(), 2);
    assert_eq!(of("sms_request.verified").len(), 1);
    assert_eq!(
        of("sms_request.verified")[0]["request_id"],
        request_id.as_str()
    );
    assert_eq!(of("sms_request.verified")[0]["recipient"], "+1 •••• ••0122");
    let sms_expired = of("sms_request.expired");
    assert_eq!(sms_expired.len(), 1, "{told:?}");
    assert_eq!(sms_expired[0]["request_id"], unanswered_id.as_str());
    all_verified_with(&received, &[0]);
    none_holds(&received, &[&locked, &canceled, &code, &sms_code]);
    assert_eq!(
        received.len(),
        before_expiry + 2,
        "each expiry told once: {told:?}"
    );
}

async fn hooked_twilio() -> (Hooked, StandIn) {
    let twilio = standins::twilio().await;
    let app = TestApp::served_with(
        &[
            ("sms_provider", "twilio".into()),
            ("twilio_base_url", twilio.base_url.clone()),
            ("twilio_account_sid", standins::TWILIO_SID.into()),
            ("twilio_auth_token", standins::TWILIO_TOKEN.into()),
            ("twilio_from", "+14155550199".into()),
        ],
        |s| s.webhooks_allow_private = true,
    )
    .await;
    (hooked_with(app).await, twilio)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_tell_when_the_provider_takes_them_delivers_them_or_fails() {
    let (hooked, twilio) = hooked_twilio().await;
    let app = &hooked.app;
    let body = |to: &str| json!({"channels": ["sms"], "recipients": {"sms": to}});
    let ok = app
        .post("/api/v1/otp/send", &app.live_key, body("+14155550144"))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let bad = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            body(standins::TWILIO_INVALID),
        )
        .await;
    assert_eq!(bad.status, StatusCode::OK, "{}", bad.text);
    assert_eq!(app.deliver().await, 2);
    // The provider reports the good one delivered, with its signed callback.
    let accepted = twilio.accepted();
    let sid = accepted
        .iter()
        .find(|a| a.to == "+14155550144")
        .expect("accepted")
        .id
        .clone();
    let callback = accepted[0].callback.clone().expect("a callback URL");
    assert_eq!(
        twilio
            .twilio_callback(&callback, &sid, "delivered", false)
            .await,
        200
    );
    let received = post_until(&hooked, 5).await;
    let told = story(&received);
    let of = |kind: &str| -> Vec<Value> {
        told.iter()
            .filter(|(t, _)| t == kind)
            .map(|(_, d)| d.clone())
            .collect()
    };
    assert_eq!(of("verification.started").len(), 2, "{told:?}");
    let sent = of("message.sent");
    assert_eq!(sent.len(), 1, "{told:?}");
    assert_eq!(sent[0]["provider"], "twilio");
    assert_eq!(sent[0]["test"], false);
    assert_eq!(sent[0]["session_id"], ok.body["session_id"]);
    let delivered = of("message.delivered");
    assert_eq!(delivered.len(), 1, "{told:?}");
    assert_eq!(delivered[0]["recipient"], "+1 •••• ••0144");
    let failed = of("message.failed");
    assert_eq!(failed.len(), 1, "{told:?}");
    assert_eq!(failed[0]["error"], "invalid_recipient");
    assert_eq!(failed[0]["session_id"], bad.body["session_id"]);
    all_verified_with(&received, &[0]);
    none_holds(
        &received,
        &[
            &app.live_key,
            &accepted[0].text,
            standins::TWILIO_TOKEN,
            "+14155550144",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_gets_every_event_later_on_the_schedule_once_each() {
    let mut hooked = hooked().await;
    hooked.receiver.down();
    let app = &hooked.app;
    let mut tokens = Vec::new();
    for n in 0..3 {
        let sent = app
            .send(json!({"channels": ["email"], "recipients": {"email": format!("down{n}@example.com")}}))
            .await;
        tokens.push(sent["session_token"].as_str().unwrap().to_owned());
    }
    // Three sessions: started and sent each, six events; the first try meets a closed port.
    assert_eq!(app.post_webhooks().await, 6);
    let page = deliveries_of(&hooked).await;
    for delivery in page.body["deliveries"].as_array().unwrap() {
        assert_eq!(delivery["status"], "pending", "{delivery}");
        assert!(
            delivery["tries"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("could not connect")),
            "{delivery}"
        );
    }
    // Nothing is due before the next time on the schedule (5 s).
    app.clock.advance(4);
    assert_eq!(app.post_webhooks().await, 0);
    // Still down at the second and third tries.
    app.clock.advance(1);
    assert_eq!(app.post_webhooks().await, 6);
    app.clock.advance(300);
    assert_eq!(app.post_webhooks().await, 6);
    // Up again, answering 503 and then 429 with a Retry-After of an hour.
    hooked.receiver.up();
    hooked.receiver.set_secrets(&[&hooked.secret]).await;
    hooked.receiver.answer(503, None, 0.0).await;
    app.clock.advance(1_800);
    assert_eq!(app.post_webhooks().await, 6);
    hooked.receiver.answer(429, Some("3600"), 0.0).await;
    app.clock.advance(7_200);
    assert_eq!(app.post_webhooks().await, 6);
    // The schedule says 5 h after the first try; the endpoint asked for an hour from now,
    // which is sooner: the schedule wins.
    hooked.receiver.answer(204, None, 0.0).await;
    app.clock.advance(3_600);
    assert_eq!(app.post_webhooks().await, 0, "not due before the schedule");
    app.clock.advance(18_000);
    assert_eq!(app.post_webhooks().await, 6);
    let received = hooked.receiver.received().await;
    let delivered: Vec<&Value> = received.iter().filter(|r| r["answered"] == 204).collect();
    let ids: BTreeSet<&str> = delivered.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(delivered.len(), 6);
    assert_eq!(ids.len(), 6, "each event once, under one ID on every try");
    let tried_ids: BTreeSet<&str> = received.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(tried_ids, ids, "a retry carries its event's ID");
    all_verified_with(&received, &[0]);
    let page = deliveries_of(&hooked).await;
    for delivery in page.body["deliveries"].as_array().unwrap() {
        assert_eq!(delivery["status"], "delivered");
        assert_eq!(delivery["tries"].as_array().unwrap().len(), 6);
    }
    // Eight tries at most: a delivery that keeps failing is given up after the last.
    let sent = app
        .send(json!({"channels": ["email"], "recipients": {"email": "never@example.com"}}))
        .await;
    assert!(sent["session_token"].is_string());
    hooked.receiver.answer(500, None, 0.0).await;
    let mut tries = 0;
    for wait in [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000] {
        app.clock.advance(wait);
        tries += app.post_webhooks().await;
    }
    assert_eq!(tries, 16, "two events, eight tries each");
    let failed = app
        .admin_call(
            Method::GET,
            &format!(
                "/admin/v1/webhooks/{}/deliveries?status=failed",
                hooked.endpoint
            ),
            Some(&hooked.token),
            None,
        )
        .await;
    assert_eq!(failed.body["deliveries"].as_array().unwrap().len(), 2);
    // A replay sends them again, under their own IDs.
    hooked.receiver.answer(204, None, 0.0).await;
    let replay = app
        .admin_call(
            Method::POST,
            &format!("/admin/v1/webhooks/{}/replay", hooked.endpoint),
            Some(&hooked.token),
            Some(json!({"since": "2027-01-15T00:00:00Z"})),
        )
        .await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.text);
    assert_eq!(replay.body["queued"], 2);
    assert_eq!(app.post_webhooks().await, 2);
    let received = hooked.receiver.received().await;
    let ok: BTreeSet<&str> = received
        .iter()
        .filter(|r| r["answered"] == 204)
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ok.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_new_one_for_the_overlap_only() {
    let hooked = hooked().await;
    let app = &hooked.app;
    let rotated = app
        .admin_call(
            Method::POST,
            &format!("/admin/v1/webhooks/{}/rotate", hooked.endpoint),
            Some(&hooked.token),
            Some(json!({"overlap_secs": 3600})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, hooked.secret);
    // The receiver knows both: secret 0 the old, 1 the new.
    hooked.receiver.set_secrets(&[&hooked.secret, &new]).await;
    app.send(json!({"channels": ["email"], "recipients": {"email": "rot1@example.com"}}))
        .await;
    let during = post_until(&hooked, 2).await;
    assert_eq!(during.len(), 2);
    all_verified_with(&during, &[0, 1]);
    for delivery in &during {
        let signature = delivery["signature"].as_str().unwrap();
        assert_eq!(signature.split(' ').count(), 2, "{signature}");
    }
    // After the overlap only the new one signs.
    app.clock.advance(3_601);
    app.send(json!({"channels": ["email"], "recipients": {"email": "rot2@example.com"}}))
        .await;
    let all = post_until(&hooked, 4).await;
    let after: Vec<Value> = all[2..].to_vec();
    all_verified_with(&after, &[1]);
    // The rotation is audited, without the secret.
    let audit = app
        .admin_call(
            Method::GET,
            "/admin/v1/audit?action=webhook.rotated",
            Some(&hooked.token),
            None,
        )
        .await;
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert!(!audit.text.contains(&new) && !audit.text.contains(&hooked.secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_and_so_do_five_days_of_failures_each_audited() {
    let hooked = hooked().await;
    let app = &hooked.app;
    hooked.receiver.answer(410, None, 0.0).await;
    app.send(json!({"channels": ["email"], "recipients": {"email": "gone@example.com"}}))
        .await;
    app.post_webhooks().await;
    let endpoint = app
        .admin_call(
            Method::GET,
            &format!("/admin/v1/webhooks/{}", hooked.endpoint),
            Some(&hooked.token),
            None,
        )
        .await;
    assert_eq!(endpoint.body["enabled"], false, "{}", endpoint.text);
    assert_eq!(endpoint.body["disabled_reason"], "gone");
    // Later events are kept as skipped, not posted; one test of a disabled endpoint is refused.
    let before = hooked.receiver.received().await.len();
    app.send(json!({"channels": ["email"], "recipients": {"email": "gone2@example.com"}}))
        .await;
    assert_eq!(app.post_webhooks().await, 0);
    assert_eq!(hooked.receiver.received().await.len(), before);
    let test = app
        .admin_call(
            Method::POST,
            &format!("/admin/v1/webhooks/{}/test", hooked.endpoint),
            Some(&hooked.token),
            Some(json!({"type": "verification.verified"})),
        )
        .await;
    assert_eq!(test.status, StatusCode::CONFLICT, "{}", test.text);
    // Enabled again, a replay sends what it missed.
    hooked.receiver.answer(204, None, 0.0).await;
    let enabled = app
        .admin_call(
            Method::PATCH,
            &format!("/admin/v1/webhooks/{}", hooked.endpoint),
            Some(&hooked.token),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(enabled.body["enabled"], true, "{}", enabled.text);
    let replay = app
        .admin_call(
            Method::POST,
            &format!("/admin/v1/webhooks/{}/replay", hooked.endpoint),
            Some(&hooked.token),
            Some(json!({"since": "2027-01-15T00:00:00Z"})),
        )
        .await;
    assert_eq!(replay.body["queued"], 4, "{}", replay.text);
    assert_eq!(app.post_webhooks().await, 4);

    // Five days of failures: a new endpoint that never answers well.
    let failing = WebhookReceiver::start();
    failing.answer(503, None, 0.0).await;
    let created = subscribe(app, &hooked.token, &failing, json!({})).await;
    let id = created["id"].as_i64().unwrap();
    for day in 0..6 {
        app.send(json!({"channels": ["email"], "recipients": {"email": format!("fail{day}@example.com")}}))
            .await;
        for wait in [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 22_095] {
            app.clock.advance(wait);
            app.post_webhooks().await;
        }
    }
    let read = app
        .admin_call(
            Method::GET,
            &format!("/admin/v1/webhooks/{id}"),
            Some(&hooked.token),
            None,
        )
        .await;
    assert_eq!(read.body["enabled"], false, "{}", read.text);
    assert_eq!(read.body["disabled_reason"], "failing");
    let audit = app
        .admin_call(
            Method::GET,
            "/admin/v1/audit?action=webhook.disabled",
            Some(&hooked.token),
            None,
        )
        .await;
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", audit.text);
    let reasons: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e["after"]["reason"].as_str())
        .collect();
    assert_eq!(reasons, BTreeSet::from(["gone", "failing"]));
    assert!(entries.iter().all(|e| e["actor"]["type"] == "system"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_to_private_addresses_are_refused_unless_the_operator_allows_them() {
    let app = TestApp::new().await;
    let token = app.admin_token(AdminScope::Write, None).await;
    for url in [
        "http://127.0.0.1:8080/hooks",
        "https://127.0.0.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hooks",
        "https://localhost/hooks",
        "https://10.0.0.1/hooks",
        "ftp://example.com/hooks",
        "not a url",
    ] {
        let answer = app
            .admin_call(
                Method::POST,
                "/admin/v1/tenants/Acme/webhooks",
                Some(&token),
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{url}: {}",
            answer.text
        );
        assert_eq!(answer.body["code"], "invalid_request");
    }
    // Nothing was subscribed.
    let listed = app
        .admin_call(
            Method::GET,
            "/admin/v1/tenants/Acme/webhooks",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(listed.body, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_their_tenants_own_and_every_change_is_audited() {
    let hooked = hooked().await;
    let app = &hooked.app;
    let id = hooked.endpoint;
    let globex = app.admin_token(AdminScope::Write, Some("Globex")).await;
    let acme_read = app.admin_token(AdminScope::Read, Some("Acme")).await;
    let acme_write = app.admin_token(AdminScope::Write, Some("Acme")).await;
    // Another tenant's token: as if it did not exist, on every path.
    for (method, path, body) in [
        (Method::GET, format!("/admin/v1/webhooks/{id}"), None),
        (
            Method::PATCH,
            format!("/admin/v1/webhooks/{id}"),
            Some(json!({"description": "x"})),
        ),
        (Method::DELETE, format!("/admin/v1/webhooks/{id}"), None),
        (
            Method::POST,
            format!("/admin/v1/webhooks/{id}/rotate"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/v1/webhooks/{id}/test"),
            Some(json!({"type": "verification.verified"})),
        ),
        (
            Method::GET,
            format!("/admin/v1/webhooks/{id}/deliveries"),
            None,
        ),
        (Method::GET, "/admin/v1/tenants/Acme/webhooks".into(), None),
    ] {
        let answer = app.admin_call(method, &path, Some(&globex), body).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
    }
    // A read token reads, and changes nothing.
    let read = app
        .admin_call(
            Method::GET,
            &format!("/admin/v1/webhooks/{id}"),
            Some(&acme_read),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(
        read.body.get("secret").is_none(),
        "the secret is never shown again"
    );
    let refused = app
        .admin_call(
            Method::DELETE,
            &format!("/admin/v1/webhooks/{id}"),
            Some(&acme_read),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // The tenant's own write token manages it: change, test, delete.
    let changed = app
        .admin_call(
            Method::PATCH,
            &format!("/admin/v1/webhooks/{id}"),
            Some(&acme_write),
            Some(json!({"events": ["verification.verified", "message.failed"], "description": "billing"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(
        changed.body["events"],
        json!(["verification.verified", "message.failed"])
    );
    // Only the types it wants reach it now.
    app.send(json!({"channels": ["email"], "recipients": {"email": "filter@example.com"}}))
        .await;
    assert_eq!(app.post_webhooks().await, 0);
    let tested = app
        .admin_call(
            Method::POST,
            &format!("/admin/v1/webhooks/{id}/test"),
            Some(&acme_write),
            Some(json!({"type": "message.failed"})),
        )
        .await;
    assert_eq!(tested.status, StatusCode::ACCEPTED, "{}", tested.text);
    let received = post_until(&hooked, 1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["event"]["type"], "message.failed");
    assert_eq!(received[0]["event"]["data"]["test"], true);
    all_verified_with(&received, &[0]);
    // Unknown types and hostile bodies are refused.
    for body in [
        json!({"events": ["verification.approved"]}),
        json!({"events": []}),
        json!({"url": "ftp://hooks.example.com/"}),
        json!({"description": "a\u{0}b"}),
        json!({"enabled": "yes"}),
        json!({"nothing": true}),
        json!({}),
    ] {
        let answer = app
            .admin_call(
                Method::PATCH,
                &format!("/admin/v1/webhooks/{id}"),
                Some(&acme_write),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
    }
    let deleted = app
        .admin_call(
            Method::DELETE,
            &format!("/admin/v1/webhooks/{id}"),
            Some(&acme_write),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    // Created, updated, deleted: one entry each, none with the secret.
    let audit = app
        .admin_call(
            Method::GET,
            "/admin/v1/audit?tenant=Acme",
            Some(&hooked.token),
            None,
        )
        .await;
    let actions: Vec<&str> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("webhook."))
        .collect();
    assert_eq!(
        actions,
        ["webhook.deleted", "webhook.updated", "webhook.created"]
    );
    assert!(!audit.text.contains(&hooked.secret));
    let updated = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "webhook.updated")
        .unwrap();
    assert_eq!(updated["before"]["events"], Value::Null);
    assert_eq!(updated["after"]["description"], "billing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_claimed_by_a_worker_that_died_is_sent_once_its_lease_runs_out() {
    let hooked = hooked().await;
    let app = &hooked.app;
    app.send(json!({"channels": ["email"], "recipients": {"email": "lease@example.com"}}))
        .await;
    // Another instance's worker claims both events, then dies before posting them.
    let other = app.open_store().await;
    let claimed = other
        .claim_due_webhooks(crate::common::START, 10, 60)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    // While its lease holds, nobody else posts them.
    assert_eq!(app.post_webhooks().await, 0);
    app.clock.advance(59);
    assert_eq!(app.post_webhooks().await, 0);
    app.clock.advance(1);
    assert_eq!(app.post_webhooks().await, 2);
    let received = hooked.receiver.received().await;
    assert_eq!(received.len(), 2);
    all_verified_with(&received, &[0]);
    let ids: BTreeSet<&str> = received.iter().filter_map(|r| r["id"].as_str()).collect();
    let claimed_ids: BTreeSet<&str> = claimed.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(ids, claimed_ids, "the same events, under their own IDs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fallback_step_tells_of_its_message() {
    let hooked = hooked().await;
    let app = &hooked.app;
    app.send(json!({
        "channels": ["email", "sms"],
        "recipients": {"email": "fallback-events@example.com", "sms": "+14155550160"},
        "delivery": {"strategy": "fallback", "after_secs": 5},
    }))
    .await;
    let received = post_until(&hooked, 2).await;
    assert_eq!(types(&received), ["verification.started", "message.sent"]);
    assert_eq!(story(&received)[1].1["channel"], "email");
    app.clock.advance(5);
    assert_eq!(app.fallback_pass().await, 1);
    let received = post_until(&hooked, 3).await;
    let story = story(&received);
    assert_eq!(story.len(), 3, "{story:?}");
    assert_eq!(story[2].0, "message.sent");
    assert_eq!(story[2].1["channel"], "sms");
    all_verified_with(&received, &[0]);
}

/// A verification through the Twilio-compatible door tells the same story as a native session
/// of one channel: started, its message sent, its channel verified, verified — signed alike,
/// with no code, key or session token in any body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_door_verification_tells_the_same_story_as_a_native_one() {
    use crate::common::twilio::Door;
    let hooked = hooked().await;
    let app = &hooked.app;
    let door = Door::of(app, "Acme", &app.test_key).await;
    let service = door.service("Shop").await;
    let to = "+14155550112";
    let started = door
        .call(
            Method::POST,
            &format!("/v2/Services/{service}/Verifications"),
            &[("To", to), ("Channel", "sms")],
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let code = app.code("sms", to).await;
    app.clock.advance(1);
    let checked = door
        .call(
            Method::POST,
            &format!("/v2/Services/{service}/VerificationCheck"),
            &[("To", to), ("Code", &code)],
        )
        .await;
    assert_eq!(checked.body["status"], "approved", "{}", checked.text);

    let received = post_until(&hooked, 4).await;
    assert_eq!(
        types(&received),
        [
            "verification.started",
            "message.sent",
            "verification.channel_verified",
            "verification.verified"
        ]
    );
    all_verified_with(&received, &[0]);
    // The session token the door derived (the test server's secret is the tests' own).
    let secret =
        secrecy::SecretString::from("0123456789abcdef0123456789abcdef-test-secret".to_owned());
    let keys = otpgate::server::crypto::ServerKeys::from_secret(
        otpgate::server::config::secret_bytes(&secret),
    );
    let token = keys.twilio_session_token(started.body["sid"].as_str().expect("a SID"));
    none_holds(&received, &[&code, &app.test_key, &token]);
    for (_, data) in story(&received) {
        assert_eq!(data["tenant"], "Acme");
        assert_eq!(data["test"], true);
    }
}

/// A door verification under a live key goes through the real provider path: the provider
/// takes it, its signed receipt says delivered, and the webhooks say so as for a native
/// session's message; a bad number's failure is told too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_door_verifications_receipts_are_told_as_a_native_ones() {
    use crate::common::twilio::Door;
    let (hooked, twilio) = hooked_twilio().await;
    let app = &hooked.app;
    let door = Door::of(app, "Acme", &app.live_key).await;
    let service = door.service("Shop").await;
    let start = |to: &'static str| {
        let (door, service) = (&door, service.clone());
        async move {
            door.call(
                Method::POST,
                &format!("/v2/Services/{service}/Verifications"),
                &[("To", to), ("Channel", "sms")],
            )
            .await
        }
    };
    let ok = start("+14155550145").await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    let bad = start(standins::TWILIO_INVALID).await;
    assert_eq!(bad.status, StatusCode::CREATED, "{}", bad.text);
    assert_eq!(app.deliver().await, 2);
    let accepted = twilio.accepted();
    let taken = accepted
        .iter()
        .find(|a| a.to == "+14155550145")
        .expect("accepted");
    assert!(
        taken.text.contains("Shop"),
        "the service's name: {}",
        taken.text
    );
    let callback = taken.callback.clone().expect("a callback URL");
    assert_eq!(
        twilio
            .twilio_callback(&callback, &taken.id, "delivered", false)
            .await,
        200
    );
    let received = post_until(&hooked, 5).await;
    let told = story(&received);
    let count = |kind: &str| told.iter().filter(|(t, _)| t == kind).count();
    assert_eq!(
        (
            count("verification.started"),
            count("message.sent"),
            count("message.delivered"),
            count("message.failed")
        ),
        (2, 1, 1, 1),
        "{told:?}"
    );
    let delivered = told
        .iter()
        .find(|(t, _)| t == "message.delivered")
        .expect("delivered");
    assert_eq!(delivered.1["provider"], "twilio");
    assert_eq!(delivered.1["test"], false);
    all_verified_with(&received, &[0]);
    none_holds(
        &received,
        &[&app.live_key, &taken.text, standins::TWILIO_TOKEN],
    );
}

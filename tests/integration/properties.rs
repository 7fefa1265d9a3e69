//! Property tests through the real router on a real SQLite file: hostile bodies never get a
//! server error, and random sequences of send, verify, resend, cancel and clock moves over
//! several sessions keep the contract's invariants (checked with `status` after every step).

use std::collections::BTreeMap;

use crate::common::{TestApp, wrong};
use axum::http::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};

const ENDPOINTS: [&str; 7] = [
    "/api/v1/otp/send",
    "/api/v1/otp/verify",
    "/api/v1/otp/status",
    "/api/v1/otp/resend",
    "/api/v1/otp/cancel",
    "/api/otp/initiate",
    "/api/otp/verify",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Bodies a client (or an attacker) might send: arbitrary bytes, arbitrary JSON, and the right
/// shapes with arbitrary values in them.
fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    let any_json = leaf
        .prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{1,14}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .prop_map(|v| v.to_string().into_bytes());
    let shaped = (
        any::<String>(),
        any::<String>(),
        prop_oneof![Just(json!(null)), any::<i64>().prop_map(Value::from)],
    )
        .prop_map(|(a, b, n)| {
            json!({
                "session_token": a, "otps": {"email": b.clone(), "sms": n.clone()},
                "channels": ["email", b], "recipients": {"email": a},
                "phone_number": b, "request_id": a, "code": n, "code_length": n
            })
            .to_string()
            .into_bytes()
        });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        any_json,
        shaped,
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Send(u8),
    Verify {
        session: usize,
        channel: usize,
        right: bool,
        replaced: bool,
    },
    Resend(usize),
    Cancel(usize),
    Wait(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (1u8..8).prop_map(Step::Send),
        6 => (0usize..4, 0usize..3, any::<bool>(), any::<bool>())
            .prop_map(|(session, channel, right, replaced)| Step::Verify { session, channel, right, replaced }),
        2 => (0usize..4).prop_map(Step::Resend),
        1 => (0usize..4).prop_map(Step::Cancel),
        2 => prop_oneof![1i64..10, 30i64..60, 300i64..700].prop_map(Step::Wait),
    ]
}

/// What the test knows of one session: its channels, their codes, and what it last saw.
struct Known {
    token: String,
    channels: Vec<&'static str>,
    codes: BTreeMap<&'static str, String>,
    replaced: BTreeMap<&'static str, Vec<String>>,
    cancelled: bool,
    verified: Vec<Value>,
    remaining: u64,
    locked: bool,
    expires: i64,
}

fn recipient(n: usize, channel: &str) -> String {
    match channel {
        "email" => format!("model-{n}@example.com"),
        // Distinct valid numbers per session, so the newest message to each is its own.
        "sms" => format!("+1415555{:04}", 100 + n),
        _ => format!("+1415555{:04}", 150 + n),
    }
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let app = TestApp::new().await;
    let mut sessions: Vec<Known> = Vec::new();
    let mut now = crate::common::START;
    for step in steps {
        match step {
            Step::Wait(seconds) => {
                now += seconds;
                app.clock.set(now);
            }
            Step::Send(mask) => {
                let channels: Vec<&'static str> = ["email", "sms", "whatsapp"]
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, c)| c)
                    .collect();
                let n = sessions.len();
                let recipients: BTreeMap<&str, String> =
                    channels.iter().map(|c| (*c, recipient(n, c))).collect();
                let body = app
                    .send(
                        json!({"channels": channels, "recipients": recipients, "max_attempts": 3}),
                    )
                    .await;
                let mut codes = BTreeMap::new();
                for c in &channels {
                    codes.insert(*c, app.code(c, &recipients[c]).await);
                }
                sessions.push(Known {
                    token: body["session_token"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    channels,
                    codes,
                    replaced: BTreeMap::new(),
                    cancelled: false,
                    verified: Vec::new(),
                    remaining: 3,
                    locked: false,
                    expires: now + 600,
                });
            }
            Step::Verify {
                session,
                channel,
                right,
                replaced,
            } => {
                let Some(s) = sessions.get(session) else {
                    continue;
                };
                let channel = s.channels[channel % s.channels.len()];
                let old = s.replaced.get(channel).and_then(|r| r.last()).cloned();
                let code = match (right, replaced, old) {
                    (_, true, Some(old)) => old,
                    (true, _, _) => s.codes[channel].clone(),
                    (false, _, _) => wrong(&s.codes[channel]),
                };
                let is_replaced = s.replaced.get(channel).is_some_and(|r| r.contains(&code))
                    && code != s.codes[channel];
                let answer = app.verify(&s.token, json!({ channel: code })).await;
                let accepted = answer.status == StatusCode::OK;
                prop_assert!(answer.status.as_u16() < 500, "{}", answer.text);
                if s.cancelled {
                    prop_assert_eq!(answer.status, StatusCode::NOT_FOUND);
                }
                if now >= s.expires {
                    prop_assert!(!accepted, "an expired session never verifies");
                }
                if s.locked && !s.cancelled {
                    prop_assert_eq!(
                        answer.status,
                        StatusCode::TOO_MANY_REQUESTS,
                        "a locked session stays locked"
                    );
                }
                if is_replaced {
                    prop_assert!(!accepted, "a replaced code never verifies");
                }
            }
            Step::Resend(session) => {
                let Some(s) = sessions.get_mut(session) else {
                    continue;
                };
                let answer = app
                    .post(
                        "/api/v1/otp/resend",
                        &app.test_key,
                        json!({"session_token": s.token}),
                    )
                    .await;
                prop_assert!(answer.status.as_u16() < 500, "{}", answer.text);
                if answer.status == StatusCode::OK {
                    let n = session;
                    for c in answer.body["resent"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        let c = s
                            .channels
                            .iter()
                            .copied()
                            .find(|x| c == *x)
                            .unwrap_or("email");
                        let fresh = app.code(c, &recipient(n, c)).await;
                        let old = s.codes.insert(c, fresh).unwrap_or_default();
                        s.replaced.entry(c).or_default().push(old);
                    }
                }
            }
            Step::Cancel(session) => {
                let Some(s) = sessions.get_mut(session) else {
                    continue;
                };
                let answer = app
                    .post(
                        "/api/v1/otp/cancel",
                        &app.test_key,
                        json!({"session_token": s.token}),
                    )
                    .await;
                let expected = if s.cancelled {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::OK
                };
                prop_assert_eq!(answer.status, expected);
                s.cancelled = true;
            }
        }
        // Invariants of every session, read back through `status`.
        for s in &mut sessions {
            let status = app.status(&s.token).await;
            if s.cancelled {
                prop_assert_eq!(status.status, StatusCode::NOT_FOUND);
                continue;
            }
            prop_assert_eq!(status.status, StatusCode::OK, "{}", status.text);
            let verified = status.body["verified_channels"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            prop_assert!(
                verified.starts_with(&s.verified),
                "verified_channels only grows"
            );
            let remaining = status.body["attempts_remaining"].as_u64().unwrap_or(99);
            prop_assert!(
                remaining <= 3 && remaining <= s.remaining,
                "attempts never come back"
            );
            let state = status.body["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if s.locked {
                prop_assert_eq!(&state, "locked");
            }
            if now >= s.expires && verified.len() == s.verified.len() && !s.locked {
                prop_assert!(state == "expired" || state == "verified", "{state}");
            }
            s.verified = verified;
            s.remaining = remaining;
            s.locked = state == "locked";
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hostile_bodies_never_get_a_server_error(
        endpoint in prop::sample::select(ENDPOINTS.to_vec()),
        body in hostile_body(),
        content_type in prop::sample::select(vec!["application/json", "text/plain", "application/json; charset=utf-8"]),
    ) {
        let answer = runtime().block_on(async {
            let app = TestApp::new().await;
            app.post_raw(endpoint, Some(&app.test_key), Some(content_type), body).await
        });
        prop_assert!(answer.status.as_u16() < 500, "{} {}", answer.status, answer.text);
        prop_assert!(answer.body["code"].is_string() || answer.status == StatusCode::OK, "{}", answer.text);
    }

    #[test]
    fn sessions_through_the_api_keep_the_contract(steps in proptest::collection::vec(step(), 1..30)) {
        runtime().block_on(run(steps))?;
    }
}

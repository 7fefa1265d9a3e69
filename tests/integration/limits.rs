//! Abuse protection through the real router, with the clock moved: each rule at its exact
//! boundary, the pumping simulation, brute force across 500 sessions, counters that survive a
//! restart and hold under concurrency, and the widget's per-IP limit that a forged
//! `X-Forwarded-For` cannot reset. Tenant "Initech" keeps the server's default limits.

use crate::common::{Answer, START, TestApp, assert_error, urlencode, wrong};
use axum::http::StatusCode;
use otpgate::engine::limits::LimitOverrides;
use otpgate::server::service::Caller;
use serde_json::{Value, json};

const SEND: &str = "/api/v1/otp/send";
const INITIATE: &str = "/api/otp/initiate";

fn email(to: &str) -> Value {
    json!({"channels": ["email"], "recipients": {"email": to}})
}

fn sms(to: &str) -> Value {
    json!({"channels": ["sms"], "recipients": {"sms": to}})
}

async fn send(app: &TestApp, body: Value) -> Answer {
    app.post(SEND, &app.limited_test_key, body).await
}

async fn initiate(app: &TestApp, number: &str) -> Answer {
    app.post(
        INITIATE,
        &app.limited_test_key,
        json!({"phone_number": number}),
    )
    .await
}

fn token(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["session_token"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

/// Asserts a limit's refusal: 429 `rate_limited` with the given `Retry-After`.
fn assert_limited(answer: &Answer, retry_after: &str) {
    assert_error(answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(
        answer.headers.get("retry-after").map(|v| v.to_str().ok()),
        Some(Some(retry_after)),
        "{}",
        answer.text
    );
}

/// The newest code Initech's test key sent to `to`.
async fn code(app: &TestApp, to: &str) -> String {
    let path = format!("/api/v1/test/messages?to={}", urlencode(to));
    let answer = app.get(&path, Some(&app.limited_test_key)).await;
    answer.body[0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no message to {to}: {}", answer.text))
        .to_owned()
}

async fn verify(app: &TestApp, token: &str, otps: Value) -> Answer {
    app.post(
        "/api/v1/otp/verify",
        &app.limited_test_key,
        json!({"session_token": token, "otps": otps}),
    )
    .await
}

/// Sets some of Initech's own limits.
async fn set_limits(app: &TestApp, limits: LimitOverrides) {
    app.state
        .admin
        .set_tenant_limits("Initech", &limits, false, &Caller::cli())
        .await
        .expect("limits");
}

/// Lets Initech send a destination a hundred codes per ten minutes, for the tests of the rules
/// that stand behind that one.
async fn allow_many_sends_per_destination(app: &TestApp) {
    set_limits(
        app,
        LimitOverrides {
            destination_per_10min: Some(100),
            ..LimitOverrides::default()
        },
    )
    .await;
}

/// Lets Initech open `sessions` sessions to one number within ten minutes: only the streak of
/// failed codes then stands in an attacker's way.
async fn allow_sessions_to_one_number(app: &TestApp, sessions: u32) {
    set_limits(
        app,
        LimitOverrides {
            destination_per_10min: Some(sessions),
            destination_per_day: Some(sessions),
            prefix_unverified_per_hour: Some(sessions),
            ..LimitOverrides::default()
        },
    )
    .await;
}

/// Failed attempts counted over every session.
async fn failed_attempts(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT CAST(sum(failed_attempts) AS BIGINT) FROM sessions")
        .fetch_one(&app.db().await)
        .await
        .expect("sum")
}

/// A wrong code's answer: counted (`true`, 400 `invalid_otp`) or refused because the number is
/// locked (`false`, 429 `rate_limited`); anything else fails the test.
fn counted(answer: &Answer) -> bool {
    match (answer.status, answer.body["code"].as_str()) {
        (StatusCode::BAD_REQUEST, Some("invalid_otp")) => true,
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")) => false,
        other => panic!("{other:?}: {}", answer.text),
    }
}

/// Twenty failed codes for `address` in one session: its destination locks.
async fn lock_by_failures(app: &TestApp, address: &str) {
    let body = json!({"channels": ["email"], "recipients": {"email": address}, "max_attempts": 20});
    let session = token(&send(app, body).await);
    for _ in 0..20 {
        let answer = verify(app, &session, json!({"email": "000000"})).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    }
}

/// A day's twenty sends to `address`, five every ten minutes from `START`.
async fn send_twenty_over_forty_minutes(app: &TestApp, address: &str) {
    for round in 0..4 {
        app.clock.set(START + round * 600);
        for _ in 0..5 {
            token(&send(app, email(address)).await);
        }
    }
}

#[tokio::test]
async fn a_destination_gets_five_codes_per_ten_minutes_whatever_the_api_or_channel() {
    let app = TestApp::new().await;
    let number = "+14155550123";
    let wa = json!({"channels": ["whatsapp"], "recipients": {"whatsapp": number}});
    for answer in [
        send(&app, sms(number)).await,
        initiate(&app, number).await,
        send(&app, wa.clone()).await,
        initiate(&app, number).await,
        send(&app, sms(number)).await,
    ] {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let refused = initiate(&app, number).await;
    assert_limited(&refused, "600");
    assert_limited(&send(&app, wa).await, "600");
    assert_eq!(
        app.stored_messages("Initech").await,
        5,
        "nothing sent when refused"
    );

    app.clock.set(START + 599);
    assert_limited(&send(&app, sms(number)).await, "600");
    app.clock.set(START + 600);
    assert_eq!(send(&app, sms(number)).await.status, StatusCode::OK);

    // An address is one destination whatever its case.
    for _ in 0..5 {
        token(&send(&app, email("pat@example.com")).await);
    }
    assert_limited(&send(&app, email("Pat@EXAMPLE.com")).await, "600");
    // Another tenant's sends are its own.
    let other = app
        .post(SEND, &app.test_key, email("pat@example.com"))
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
}

#[tokio::test]
async fn a_destination_gets_twenty_codes_per_day() {
    let app = TestApp::new().await;
    send_twenty_over_forty_minutes(&app, "day@example.com").await;
    app.clock.set(START + 2400);
    assert_limited(&send(&app, email("day@example.com")).await, "600");
    app.clock.set(START + 86_399);
    assert_limited(&send(&app, email("day@example.com")).await, "600");
    // A day after the first five, they stop counting.
    app.clock.set(START + 86_400);
    token(&send(&app, email("day@example.com")).await);
}

#[tokio::test]
async fn a_refusal_reads_the_same_whatever_happened_to_the_destination() {
    let app = TestApp::new().await;
    // Twenty sends over the day, five in the last ten minutes, twenty failed codes, a cooling
    // prefix: four histories, one answer.
    send_twenty_over_forty_minutes(&app, "day@example.com").await;
    app.clock.set(START + 2400);
    for _ in 0..5 {
        token(&send(&app, email("ten@example.com")).await);
    }
    lock_by_failures(&app, "lock@example.com").await;
    for n in 0..10 {
        token(&send(&app, sms(&format!("+4479111234{n:02}"))).await);
    }
    let answers = [
        send(&app, email("day@example.com")).await,
        send(&app, email("ten@example.com")).await,
        send(&app, email("lock@example.com")).await,
        send(&app, sms("+447911123499")).await,
    ];
    for answer in &answers {
        assert_limited(answer, "600");
        assert_eq!(answer.body, answers[0].body);
        assert_eq!(answer.text, answers[0].text);
    }
    // The operator's record tells them apart.
    let rules: Vec<String> = sqlx::query_scalar("SELECT rule FROM limit_refusals ORDER BY id")
        .fetch_all(&app.db().await)
        .await
        .expect("refusals");
    assert_eq!(
        rules,
        [
            "destination_day",
            "destination_10min",
            "failure_lock",
            "prefix_velocity"
        ]
    );
}

#[tokio::test]
async fn a_number_prefix_cools_down_after_ten_unverified_sends_in_an_hour() {
    let app = TestApp::new().await;
    // Sequential numbers of one range: ten go, the eleventh and the rest of the range wait.
    for n in 0..10 {
        token(&send(&app, sms(&format!("+4479111234{n:02}"))).await);
    }
    assert_limited(&send(&app, sms("+447911123410")).await, "600");
    assert_limited(&initiate(&app, "+447911199999").await, "600");
    // Another prefix of the same country is not affected.
    token(&send(&app, sms("+447912123410")).await);
    app.clock.set(START + 3599);
    assert_limited(&send(&app, sms("+447911123411")).await, "600");
    app.clock.set(START + 3600);
    token(&send(&app, sms("+447911123411")).await);

    // Verified sends stop counting: of nine sends, five verified leave room for six more.
    let mut sessions = Vec::new();
    for n in 0..9 {
        let number = format!("+3361234560{n}");
        sessions.push((token(&send(&app, sms(&number)).await), number));
    }
    for (session, number) in &sessions[..5] {
        let code = code(&app, number).await;
        let answer = verify(&app, session, json!({"sms": code})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    for n in 0..6 {
        token(&send(&app, sms(&format!("+3361234561{n}"))).await);
    }
    assert_limited(&send(&app, sms("+33612345620")).await, "600");
}

#[tokio::test]
async fn a_tenants_country_allowlist_refuses_other_numbers_before_anything_is_stored() {
    let app = TestApp::new().await;
    set_limits(
        &app,
        LimitOverrides {
            allowed_countries: Some(vec![1, 44]),
            ..LimitOverrides::default()
        },
    )
    .await;
    let libya = "+218911234567";
    for answer in [
        send(&app, sms(libya)).await,
        initiate(&app, libya).await,
        send(
            &app,
            json!({"channels": ["email", "whatsapp"],
                   "recipients": {"email": "a@example.com", "whatsapp": libya}}),
        )
        .await,
    ] {
        assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            answer.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("+218")),
            "the country is named: {}",
            answer.text
        );
        assert!(answer.headers.get("retry-after").is_none());
    }
    assert_eq!(
        app.stored_messages("Initech").await,
        0,
        "nothing stored or sent"
    );
    token(&send(&app, sms("+447911123456")).await);
    token(&send(&app, sms("+14155550100")).await);
    token(&send(&app, email("a@example.com")).await);
    // Other tenants have no allowlist.
    let other = app.post(SEND, &app.test_key, sms(libya)).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
}

#[tokio::test]
async fn a_tenants_hourly_budget_caps_each_channel() {
    let app = TestApp::new().await;
    set_limits(
        &app,
        LimitOverrides {
            sms_per_hour: Some(3),
            ..LimitOverrides::default()
        },
    )
    .await;
    let numbers = [
        "+14155550100",
        "+447911123456",
        "+33612345678",
        "+4915112345678",
    ];
    for number in &numbers[..3] {
        token(&send(&app, sms(number)).await);
    }
    let spent = initiate(&app, numbers[3]).await;
    assert_limited(&spent, "3600");
    assert!(
        spent.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("sms"))
    );
    // Email has its own budget, and live keys theirs (test traffic never spends live money).
    token(&send(&app, email("a@example.com")).await);
    let live = app.post(SEND, &app.limited_live_key, sms(numbers[3])).await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.text);
    app.clock.set(START + 3599);
    assert_limited(&send(&app, sms(numbers[3])).await, "3600");
    app.clock.set(START + 3600);
    token(&send(&app, sms(numbers[3])).await);
}

#[tokio::test]
async fn sends_for_one_client_ip_stop_at_ten_per_ten_minutes() {
    let app = TestApp::new().await;
    let from = |to: String, ip: &str| json!({"channels": ["email"], "recipients": {"email": to}, "client_ip": ip});
    for n in 0..9 {
        token(&send(&app, from(format!("u{n}@example.com"), "203.0.113.7")).await);
    }
    let single = app
        .post(
            INITIATE,
            &app.limited_test_key,
            json!({"phone_number": "+14155550100", "client_ip": "203.0.113.7"}),
        )
        .await;
    assert_eq!(single.status, StatusCode::OK, "{}", single.text);
    assert_limited(
        &send(&app, from("x@example.com".into(), "203.0.113.7")).await,
        "600",
    );
    // Written as IPv4-mapped IPv6, it is the same address.
    assert_limited(
        &send(&app, from("x@example.com".into(), "::ffff:203.0.113.7")).await,
        "600",
    );
    token(&send(&app, from("x@example.com".into(), "203.0.113.8")).await);
    token(&send(&app, email("y@example.com")).await);
    // IPv6 counts by /64.
    for n in 0..10 {
        let ip = format!("2001:db8:1:2::{n:x}");
        token(&send(&app, from(format!("v{n}@example.com"), &ip)).await);
    }
    assert_limited(
        &send(&app, from("z@example.com".into(), "2001:db8:1:2:ffff::1")).await,
        "600",
    );
    let bad = send(&app, from("z@example.com".into(), "not-an-address")).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        bad.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("client_ip"))
    );
    app.clock.set(START + 600);
    token(&send(&app, from("x@example.com".into(), "203.0.113.7")).await);
}

#[tokio::test]
async fn a_session_gets_five_resends() {
    let app = TestApp::new().await;
    allow_many_sends_per_destination(&app).await;
    let session = token(&send(&app, email("r@example.com")).await);
    let resend = |at: i64| {
        let app = &app;
        let session = session.clone();
        async move {
            app.clock.set(at);
            app.post(
                "/api/v1/otp/resend",
                &app.limited_test_key,
                json!({"session_token": session}),
            )
            .await
        }
    };
    for n in 1..=5 {
        let answer = resend(START + 30 * n).await;
        assert_eq!(answer.status, StatusCode::OK, "resend {n}: {}", answer.text);
    }
    let refused = resend(START + 180).await;
    assert_error(&refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("resends"))
    );
    // Never sooner than the session's end.
    assert_eq!(refused.headers["retry-after"], "420");
    assert_eq!(app.stored_messages("Initech").await, 6);
}

#[tokio::test]
async fn with_the_defaults_resends_also_count_as_sends_to_the_destination() {
    let app = TestApp::new().await;
    let session = token(&send(&app, email("r@example.com")).await);
    for n in 1..=4 {
        app.clock.set(START + 30 * n);
        let answer = app
            .post(
                "/api/v1/otp/resend",
                &app.limited_test_key,
                json!({"session_token": session}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    app.clock.set(START + 150);
    let refused = app
        .post(
            "/api/v1/otp/resend",
            &app.limited_test_key,
            json!({"session_token": session}),
        )
        .await;
    assert_limited(&refused, "600");
    // The refused resend changed nothing: the latest code still works.
    let code = code(&app, "r@example.com").await;
    let answer = verify(&app, &session, json!({"email": code})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn five_hundred_sessions_to_one_number_lock_it_after_twenty_failures() {
    let app = TestApp::new().await;
    // Let the attacker open all the sessions they want.
    allow_sessions_to_one_number(&app, 1_000).await;
    let number = "+14155550100";
    let mut sessions = Vec::new();
    for _ in 0..500 {
        sessions.push(token(&send(&app, sms(number)).await));
    }
    let mut rejected = 0;
    for session in &sessions {
        rejected += usize::from(counted(
            &verify(&app, session, json!({"sms": "000000"})).await,
        ));
    }
    assert_eq!((rejected, sessions.len() - rejected), (20, 480));
    // Locked: new codes are refused, and codes of the sessions still open are not even
    // checked, the right one included.
    assert_limited(&send(&app, sms(number)).await, "600");
    assert_limited(&initiate(&app, number).await, "600");
    assert_eq!(failed_attempts(&app).await, 20);
    let last = sessions.last().expect("sessions");
    let right = code(&app, number).await;
    assert_limited(&verify(&app, last, json!({"sms": right})).await, "600");
    app.clock.set(START + 3599);
    assert_limited(&send(&app, sms(number)).await, "600");
    assert_eq!(failed_attempts(&app).await, 20);
    // An hour later the number takes codes again, and twenty more guesses at most.
    app.clock.set(START + 3600);
    let session = token(&send(&app, sms(number)).await);
    let right = code(&app, number).await;
    let answer = verify(&app, &session, json!({"sms": right})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn a_locked_number_refuses_codes_of_sessions_already_open_at_every_door() {
    let app = TestApp::new().await;
    allow_sessions_to_one_number(&app, 100).await;
    let number = "+14155550100";
    // The attacker opens sessions first, then guesses: ten through the progressive API and ten
    // through the single-SMS API lock the number.
    let open = token(&send(&app, sms(number)).await);
    let right = code(&app, number).await;
    for _ in 0..5 {
        let session = token(
            &send(
                &app,
                json!({"channels": ["sms"], "recipients": {"sms": number}, "max_attempts": 2}),
            )
            .await,
        );
        for _ in 0..2 {
            let answer = verify(&app, &session, json!({"sms": "000000"})).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        }
    }
    for _ in 0..4 {
        let request = initiate(&app, number).await;
        let id = request.body["request_id"]
            .as_str()
            .expect("request id")
            .to_owned();
        for _ in 0..3 {
            let answer = app
                .post(
                    "/api/otp/verify",
                    &app.limited_test_key,
                    json!({"request_id": id, "code": "000000"}),
                )
                .await;
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                break;
            }
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        }
    }
    // 10 + 10 (the fourth request's last guess was refused): locked.
    let rest = verify(&app, &open, json!({"sms": right})).await;
    assert_limited(&rest, "600");
    let form = app
        .post_form(
            &format!("/verify/{open}"),
            &format!("channel=sms&code={right}&intent=verify"),
        )
        .await;
    assert_eq!(form.status, StatusCode::SEE_OTHER);
    let location = form.headers["location"].to_str().expect("location");
    assert!(location.contains("notice=throttled"), "{location}");
    let rpc = app
        .post_raw(
            "/rpc/widget_code",
            None,
            Some("application/json"),
            json!({"token": open, "channel": "sms", "code": right})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(rpc.body["result"]["Throttled"], 600, "{}", rpc.text);
    // Nothing was spent on the open session.
    let status = app
        .post(
            "/api/v1/otp/status",
            &app.limited_test_key,
            json!({"session_token": open}),
        )
        .await;
    assert_eq!(status.body["attempts_remaining"], 5, "{}", status.text);
    assert_eq!(status.body["status"], "pending");
}

#[tokio::test]
async fn a_success_resets_the_streak() {
    let app = TestApp::new().await;
    allow_many_sends_per_destination(&app).await;
    let guess = |body: Value| {
        let app = &app;
        async move {
            let session = token(&send(app, body).await);
            for _ in 0..19 {
                let answer = verify(app, &session, json!({"email": "000000"})).await;
                assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
            }
            session
        }
    };
    let body = json!({"channels": ["email"], "recipients": {"email": "s@example.com"}, "max_attempts": 20});
    let session = guess(body.clone()).await;
    let right = code(&app, "s@example.com").await;
    assert_eq!(
        verify(&app, &session, json!({"email": right})).await.status,
        StatusCode::OK
    );
    // Nineteen more failures: still not locked.
    guess(body.clone()).await;
    token(&send(&app, body.clone()).await);
    // One more is the twentieth in a row.
    let session = token(&send(&app, body).await);
    let last = verify(
        &app,
        &session,
        json!({"email": wrong(&code(&app, "s@example.com").await)}),
    )
    .await;
    assert_eq!(last.status, StatusCode::BAD_REQUEST);
    assert_limited(&send(&app, email("s@example.com")).await, "600");
}

#[tokio::test]
async fn counters_survive_a_restart() {
    let app = TestApp::new().await;
    for _ in 0..5 {
        token(&send(&app, email("restart@example.com")).await);
    }
    lock_by_failures(&app, "lock@example.com").await;
    let app = app.restarted().await;
    assert_limited(&send(&app, email("restart@example.com")).await, "600");
    assert_limited(&send(&app, email("lock@example.com")).await, "600");
    app.clock.set(START + 600);
    token(&send(&app, email("restart@example.com")).await);
    assert_limited(&send(&app, email("lock@example.com")).await, "600");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_to_one_destination_never_pass_the_limit() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            send(&app, email("race@example.com")).await.status
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(app.stored_messages("Initech").await, 5);
}

/// Decisions are made on copies read without the write lock and written only over the state
/// they were made on: wrong codes racing in many sessions of one number still lock it at
/// exactly the twentieth.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_codes_across_sessions_lock_at_exactly_twenty() {
    let app = std::sync::Arc::new(TestApp::new().await);
    allow_sessions_to_one_number(&app, 100).await;
    let number = "+14155550123";
    let mut sessions = Vec::new();
    for _ in 0..30 {
        sessions.push(token(&send(&app, sms(number)).await));
    }
    let mut tasks = Vec::new();
    for session in sessions {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            counted(&verify(&app, &session, json!({"sms": "000000"})).await)
        }));
    }
    let mut rejected = 0;
    for task in tasks {
        rejected += usize::from(task.await.expect("task"));
    }
    assert_eq!((rejected, 30 - rejected), (20, 10));
    assert_eq!(failed_attempts(&app).await, 20);
    assert_limited(&send(&app, sms(number)).await, "600");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_share_the_limits() {
    use crate::common::binary::{Otpgate, sigkill};

    let data = tempfile::tempdir().expect("temporary directory");
    let first = Otpgate::new(data.path().to_owned(), &[]).await;
    let second = first.another();
    first.cli(&["tenant", "create", "Initech"]);
    let key = first.cli(&["key", "create", "--tenant", "Initech", "--test"]);
    let key = key.lines().last().expect("a key").trim().to_owned();
    let mut servers = [first.serve().await, second.serve().await];
    let mut tasks = Vec::new();
    for n in 0..40 {
        let instance = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            instance.post(SEND, &key, email("race@example.com")).await.0
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    for server in &mut servers {
        sigkill(server);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        35,
        "{statuses:?}"
    );
}

/// Posts a code through the plain form of the page, over TCP, with optional forwarding
/// headers; returns the notice the redirect carries.
async fn form_notice(base: &str, token: &str, code: &str, forwarded: Option<&str>) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut request = client
        .post(format!("{base}/verify/{token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("channel=email&code={code}&intent=verify"));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let answer = request.send().await.expect("answer");
    assert_eq!(answer.status(), reqwest::StatusCode::SEE_OTHER);
    let location = answer.headers()["location"].to_str().expect("location");
    location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("notice="))
        .expect("a notice")
        .to_owned()
}

/// Three sessions of one served app and their codes (the widget's limit is across sessions).
async fn widget_sessions(app: &TestApp) -> Vec<(String, String)> {
    let mut sessions = Vec::new();
    for n in 0..3 {
        let to = format!("w{n}@example.com");
        let session = token(&send(app, email(&to)).await);
        sessions.push((session, code(app, &to).await));
    }
    sessions
}

#[tokio::test]
async fn the_widget_takes_thirty_codes_a_minute_from_one_address_and_ignores_forged_headers() {
    let app = TestApp::served(&[]).await;
    let base = app.base_url.clone().expect("served");
    let sessions = widget_sessions(&app).await;
    for (session, code) in &sessions {
        for n in 0..10 {
            // Forged forwarding headers from an untrusted peer change nothing.
            let forged = format!("198.51.100.{n}");
            let notice = form_notice(&base, session, code, Some(&forged)).await;
            assert_eq!(notice, "verified");
        }
    }
    let (session, code) = &sessions[0];
    assert_eq!(
        form_notice(&base, session, code, Some("192.0.2.200")).await,
        "throttled"
    );
    assert_eq!(form_notice(&base, session, code, None).await, "throttled");
    let rpc = reqwest::Client::new()
        .post(format!("{base}/rpc/widget_code"))
        .json(&json!({"token": session, "channel": "email", "code": code}))
        .send()
        .await
        .expect("answer")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(rpc["result"]["Throttled"], 60, "{rpc}");
    app.clock.set(START + 60);
    assert_eq!(form_notice(&base, session, code, None).await, "verified");
    let rule: String = sqlx::query_scalar("SELECT rule FROM limit_refusals")
        .fetch_one(&app.db().await)
        .await
        .expect("a refusal");
    assert_eq!(rule, "widget_ip");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_minute() {
    let app = TestApp::served_with(&[], |settings| {
        settings.trusted_proxies = vec!["127.0.0.1".parse().expect("a network")];
    })
    .await;
    let base = app.base_url.clone().expect("served");
    let sessions = widget_sessions(&app).await;
    for (session, code) in &sessions {
        for _ in 0..10 {
            // The client forged the first entry; the proxy appended the address it saw.
            let chain = "10.9.9.9, 203.0.113.50";
            assert_eq!(
                form_notice(&base, session, code, Some(chain)).await,
                "verified"
            );
        }
    }
    let (session, code) = &sessions[0];
    let chain = "10.9.9.9, 203.0.113.50";
    assert_eq!(
        form_notice(&base, session, code, Some(chain)).await,
        "throttled"
    );
    // Changing the forged part does not help; another client behind the proxy is not affected.
    let forged = "10.9.9.10, 203.0.113.50";
    assert_eq!(
        form_notice(&base, session, code, Some(forged)).await,
        "throttled"
    );
    let other = "203.0.113.51";
    assert_eq!(
        form_notice(&base, session, code, Some(other)).await,
        "verified"
    );
}

/// Numbers spread over many countries and prefixes, as real users' are: valid (checked by the
/// same rule the API uses) and never more than five in one prefix.
fn spread_numbers(count: usize) -> Vec<String> {
    use otpgate::engine::limits::number_prefix;
    use rand::{Rng, SeedableRng};

    // Country code, the national part's fixed start, and how many random digits follow.
    const PLANS: &[(u16, &str, usize)] = &[
        (1, "", 10),
        (44, "7", 9),
        (33, "6", 8),
        (49, "15", 9),
        (39, "3", 9),
        (34, "6", 8),
        (61, "4", 8),
        (55, "119", 8),
        (91, "9", 9),
        (81, "90", 8),
        (218, "91", 7),
        (20, "10", 8),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261124);
    let mut per_prefix = std::collections::HashMap::<String, usize>::new();
    let mut numbers = std::collections::BTreeSet::new();
    while numbers.len() < count {
        let (country, start, digits) = PLANS[rng.random_range(0..PLANS.len())];
        let rest: String = (0..digits)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
        let number = format!("+{country}{start}{rest}");
        if otpgate::server::service::validate::phone_e164(&number).is_err() {
            continue;
        }
        let prefix = number_prefix(&number, country, 5);
        let seen = per_prefix.entry(prefix).or_default();
        if *seen < 5 && numbers.insert(number) {
            *seen += 1;
        }
    }
    numbers.into_iter().collect()
}

#[tokio::test]
async fn pumping_one_prefix_hands_at_most_the_threshold_to_delivery() {
    let app = TestApp::new().await;
    let mut accepted = 0;
    for n in 0..1_000 {
        let number = format!("+447911{n:06}");
        let answer = app.post(SEND, &app.limited_live_key, sms(&number)).await;
        match answer.status {
            StatusCode::OK => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{number}: {other} {}", answer.text),
        }
    }
    assert_eq!(accepted, 10);
    assert_eq!(app.stored_messages("Initech").await, 10);
    let refused: i64 =
        sqlx::query_scalar("SELECT count(*) FROM limit_refusals WHERE rule = 'prefix_velocity'")
            .fetch_one(&app.db().await)
            .await
            .expect("count");
    assert_eq!(refused, 990);
}

#[tokio::test]
async fn a_spread_of_real_numbers_all_goes_through() {
    let app = TestApp::new().await;
    let numbers = spread_numbers(1_000);
    for number in &numbers {
        let answer = app.post(SEND, &app.limited_live_key, sms(number)).await;
        assert_eq!(answer.status, StatusCode::OK, "{number}: {}", answer.text);
    }
    assert_eq!(app.stored_messages("Initech").await, 1_000);
    // The budget of 1,000 SMS an hour is spent now.
    let over = app
        .post(SEND, &app.limited_live_key, sms("+14155550100"))
        .await;
    assert_limited(&over, "3600");
}

#[tokio::test]
async fn refusals_are_reported_by_the_cli() {
    let app = TestApp::new().await;
    for _ in 0..7 {
        send(&app, email("report@example.com")).await;
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_otpgate"))
        .args(["limits", "report", "--hours", "1"])
        .env("OTPGATE_CONFIG", app.dir.path().join("none.toml"))
        .env("OTPGATE_DATABASE_URL", app.settings.database_url())
        .env("RUST_LOG", "warn")
        .output()
        .expect("otpgate");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The CLI reads the real clock, behind the test's: the test's refusals fall in its window.
    let line = text
        .lines()
        .find(|l| l.starts_with("Initech\tdestination_10min\temail\t2\t1\t"))
        .unwrap_or_else(|| panic!("no Initech line in:\n{text}"));
    assert!(line.ends_with("×2"), "{line}");
    assert!(
        !text.contains("report@example.com"),
        "destinations are never shown"
    );
}

#[tokio::test]
async fn counters_are_purged_once_no_window_looks_at_them() {
    let app = TestApp::new().await;
    lock_by_failures(&app, "old@example.com").await;
    for n in 0..10 {
        token(&send(&app, sms(&format!("+4479111234{n:02}"))).await);
    }
    assert_limited(&send(&app, email("old@example.com")).await, "600");
    let db = app.db().await;
    let rows = |table: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&db)
                .await
                .expect("count")
        }
    };
    // An hour on, the lock and the cool-down are over; the day's sends still count.
    app.purge_at(START + 3600, 86_400).await;
    assert_eq!(rows("destination_streaks").await, 0);
    assert_eq!(rows("prefix_cooldowns").await, 0);
    assert_eq!(rows("limit_buckets").await, 0);
    assert_eq!(rows("limit_events").await, 21);
    let counts = app.purge_at(START + 86_400, 86_400).await;
    assert_eq!(rows("limit_events").await, 0);
    assert!(counts.limit_records >= 21);
    // Refusals are kept 30 days for the report.
    assert_eq!(rows("limit_refusals").await, 1);
    app.purge_at(START + 30 * 86_400, 86_400).await;
    assert_eq!(rows("limit_refusals").await, 0);
}

//! The Twilio Verify-compatible door through the real router: its credentials (the tenant's
//! account SID and one of its API keys, HTTP Basic), Twilio's error bodies and codes, and
//! `/v2/Services` with paging as the official SDKs read it.

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::common::twilio::{Door, call};
use crate::common::{Answer, TestApp};

/// Asserts a Twilio error body: its code, HTTP status (also in the body) and documentation link.
fn twilio_error(answer: &Answer, status: StatusCode, code: u64) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.body["code"], code, "{}", answer.text);
    assert_eq!(answer.body["status"], status.as_u16(), "{}", answer.text);
    assert_eq!(
        answer.body["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(answer.body.get("type").is_none() && answer.body.get("title").is_none());
}

fn is_sid(value: &Value, prefix: &str) -> bool {
    value.as_str().is_some_and(|sid| {
        sid.len() == 34
            && sid.starts_with(prefix)
            && sid[2..]
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `2015-07-30T20:00:00Z` exactly: twilio-python parses no other form.
fn is_twilio_date(value: &Value) -> bool {
    value.as_str().is_some_and(|d| {
        let b = d.as_bytes();
        d.len() == 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'Z'
            && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
                .into_iter()
                .all(|r| b[r].iter().all(u8::is_ascii_digit))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_credentials_are_20003() {
    let app = TestApp::new().await;
    let acme = Door::of(&app, "Acme", &app.test_key).await;
    let globex_key_on_acme = Door {
        key: app.other_key.clone(),
        ..Door::of(&app, "Acme", &app.test_key).await
    };
    let unknown_sid = Door {
        sid: format!("AC{}", "0".repeat(32)),
        ..Door::of(&app, "Acme", &app.test_key).await
    };
    let wrong_key = Door {
        key: "sk_test_wrong".into(),
        ..Door::of(&app, "Acme", &app.test_key).await
    };
    for door in [&globex_key_on_acme, &unknown_sid, &wrong_key] {
        let answer = door.call(Method::GET, "/v2/Services", &[]).await;
        twilio_error(&answer, StatusCode::UNAUTHORIZED, 20003);
    }
    for authorization in [
        None,
        Some("Bearer x"),
        Some("Basic !!!"),
        Some("Basic QUM="),
    ] {
        let answer = call(&app, Method::GET, "/v2/Services", &[], authorization).await;
        twilio_error(&answer, StatusCode::UNAUTHORIZED, 20003);
    }
    let answer = acme.call(Method::GET, "/v2/Services", &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_created_read_changed_and_deleted_as_twilio_answers_them() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.live_key).await;
    let created = door
        .call(Method::POST, "/v2/Services", &[("FriendlyName", "My App")])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let service = &created.body;
    assert!(is_sid(&service["sid"], "VA"), "{service}");
    assert_eq!(service["account_sid"], door.sid.as_str());
    assert_eq!(service["friendly_name"], "My App");
    assert_eq!(service["code_length"], 6);
    assert_eq!(service["lookup_enabled"], false);
    assert!(is_twilio_date(&service["date_created"]), "{service}");
    assert!(is_twilio_date(&service["date_updated"]), "{service}");
    let sid = service["sid"].as_str().unwrap().to_owned();
    let path = format!("/v2/Services/{sid}");
    assert_eq!(service["url"], format!("http://otp.example.test{path}"));
    assert_eq!(
        service["links"]["verifications"],
        format!("http://otp.example.test{path}/Verifications")
    );

    let fetched = door.call(Method::GET, &path, &[]).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, created.body);

    let changed = door
        .call(
            Method::POST,
            &path,
            &[("FriendlyName", "Renamed"), ("CodeLength", "8")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["friendly_name"], "Renamed");
    assert_eq!(changed.body["code_length"], 8);
    let untouched = door.call(Method::POST, &path, &[("CodeLength", "4")]).await;
    assert_eq!(untouched.body["friendly_name"], "Renamed");
    assert_eq!(untouched.body["code_length"], 4);

    // Another tenant sees nothing, as if it did not exist.
    let globex = Door::of(&app, "Globex", &app.other_key).await;
    let answer = globex.call(Method::GET, &path, &[]).await;
    twilio_error(&answer, StatusCode::NOT_FOUND, 20404);
    assert_eq!(
        answer.body["message"],
        format!("The requested resource /Services/{sid} was not found")
    );
    twilio_error(
        &globex.call(Method::DELETE, &path, &[]).await,
        StatusCode::NOT_FOUND,
        20404,
    );
    let renamed = globex
        .call(Method::POST, &path, &[("FriendlyName", "Mine")])
        .await;
    twilio_error(&renamed, StatusCode::NOT_FOUND, 20404);

    let deleted = door.call(Method::DELETE, &path, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    twilio_error(
        &door.call(Method::GET, &path, &[]).await,
        StatusCode::NOT_FOUND,
        20404,
    );
    twilio_error(
        &door.call(Method::DELETE, &path, &[]).await,
        StatusCode::NOT_FOUND,
        20404,
    );

    // Each change is in the audit log, by the key's prefix.
    let audit = app
        .state
        .admin
        .audit(&otpgate::server::store::AuditQuery {
            tenant: Some("Acme"),
            action: None,
            actor_type: Some("api_key"),
            since: None,
            until: None,
            before_id: None,
            limit: 100,
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = audit
        .iter()
        .filter(|e| e.target.as_deref() == Some(sid.as_str()))
        .map(|e| e.action.as_str())
        .collect();
    let prefix = &app.live_key[..16];
    assert!(
        audit.iter().all(|e| e.actor_id.as_deref() == Some(prefix)),
        "{audit:?}"
    );
    assert_eq!(
        actions,
        [
            "twilio_service.deleted",
            "twilio_service.updated",
            "twilio_service.updated",
            "twilio_service.created"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_wrong_or_not_offered_is_60200_naming_the_parameter() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.test_key).await;
    for (form, named) in [
        (vec![], "FriendlyName"),
        (vec![("FriendlyName", "   ")], "FriendlyName"),
        (vec![("FriendlyName", &*"x".repeat(33))], "FriendlyName"),
        (vec![("FriendlyName", "a\u{7}b")], "FriendlyName"),
        (
            vec![("FriendlyName", "A"), ("CodeLength", "3")],
            "CodeLength",
        ),
        (
            vec![("FriendlyName", "A"), ("CodeLength", "11")],
            "CodeLength",
        ),
        (
            vec![("FriendlyName", "A"), ("CodeLength", "six")],
            "CodeLength",
        ),
        (
            vec![("FriendlyName", "A"), ("LookupEnabled", "true")],
            "LookupEnabled",
        ),
        (
            vec![("FriendlyName", "A"), ("LookupEnabled", "yes")],
            "LookupEnabled",
        ),
        (
            vec![("FriendlyName", "A"), ("Psd2Enabled", "true")],
            "Psd2Enabled",
        ),
        (
            vec![("FriendlyName", "A"), ("Push.IncludeDate", "false")],
            "Push",
        ),
        (vec![("FriendlyName", "A"), ("Totp.Issuer", "Acme")], "Totp"),
        (
            vec![("FriendlyName", "A"), ("DefaultTemplateSid", "HJ0")],
            "DefaultTemplateSid",
        ),
    ] {
        let answer = door.call(Method::POST, "/v2/Services", &form).await;
        twilio_error(&answer, StatusCode::BAD_REQUEST, 60200);
        let message = answer.body["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("Invalid parameter: {named}")),
            "{message}"
        );
    }
    // Settings for voice calls otpgate has no use for, and features asked off, are accepted.
    let accepted = door
        .call(
            Method::POST,
            "/v2/Services",
            &[
                ("FriendlyName", "A"),
                ("LookupEnabled", "false"),
                ("DtmfInputRequired", "true"),
                ("TtsName", "alice"),
            ],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
    let listed = door.call(Method::GET, "/v2/Services", &[]).await;
    assert_eq!(
        listed.body["services"].as_array().unwrap().len(),
        1,
        "nothing else stored"
    );
    let bad_size = door
        .call(Method::GET, "/v2/Services", &[("PageSize", "0")])
        .await;
    twilio_error(&bad_size, StatusCode::BAD_REQUEST, 60200);
    let malformed = door.call(Method::GET, "/v2/Services/VA123", &[]).await;
    twilio_error(&malformed, StatusCode::NOT_FOUND, 20404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_listed_a_page_at_a_time_through_next_page_url() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.test_key).await;
    let mut created = Vec::new();
    for n in 0..5 {
        let answer = door
            .call(
                Method::POST,
                "/v2/Services",
                &[("FriendlyName", &*format!("App {n}"))],
            )
            .await;
        created.push(answer.body["sid"].as_str().unwrap().to_owned());
    }
    // Another tenant's services are not listed.
    Door::of(&app, "Globex", &app.other_key)
        .await
        .call(Method::POST, "/v2/Services", &[("FriendlyName", "Theirs")])
        .await;

    let mut seen = Vec::new();
    let mut path = "/v2/Services?PageSize=2".to_owned();
    let mut pages = 0;
    loop {
        let (route, query) = path.split_once('?').unwrap();
        let form: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let page = door.call(Method::GET, route, &form).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let meta = &page.body["meta"];
        assert_eq!(meta["key"], "services");
        assert_eq!(meta["page"], pages);
        assert_eq!(meta["page_size"], 2);
        assert_eq!(
            meta["first_page_url"],
            "http://otp.example.test/v2/Services?PageSize=2&Page=0"
        );
        for service in page.body["services"].as_array().unwrap() {
            seen.push(service["sid"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match meta["next_page_url"].as_str() {
            Some(next) => {
                path = next
                    .strip_prefix("http://otp.example.test")
                    .expect("absolute, on this host")
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "each once, oldest first");

    let second = door
        .call(
            Method::GET,
            "/v2/Services",
            &[("PageSize", "2"), ("Page", "1")],
        )
        .await;
    let sids: Vec<&str> = second.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, &created[2..4]);
}

/// A service of Acme's and a door for it; the service's SID.
async fn start(door: &Door<'_>, service: &str, to: &str, channel: &str) -> Answer {
    door.call(
        Method::POST,
        &format!("/v2/Services/{service}/Verifications"),
        &[("To", to), ("Channel", channel)],
    )
    .await
}

async fn check(door: &Door<'_>, service: &str, form: &[(&str, &str)]) -> Answer {
    door.call(
        Method::POST,
        &format!("/v2/Services/{service}/VerificationCheck"),
        form,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_is_sent_checked_approved_once_and_then_gone() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.test_key).await;
    let service = door.service("Shop").await;
    let to = "+14155550171";
    let started = start(&door, &service, to, "sms").await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let v = &started.body;
    assert!(is_sid(&v["sid"], "VE"), "{v}");
    assert_eq!(v["service_sid"], service.as_str());
    assert_eq!(v["account_sid"], door.sid.as_str());
    assert_eq!(
        (v["to"].as_str(), v["channel"].as_str()),
        (Some(to), Some("sms"))
    );
    assert_eq!(
        (v["status"].as_str(), v["valid"].as_bool()),
        (Some("pending"), Some(false))
    );
    assert!(is_twilio_date(&v["date_created"]));
    let attempts = v["send_code_attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(is_sid(&attempts[0]["attempt_sid"], "VL"));
    assert!(is_twilio_date(&attempts[0]["time"]));
    let sid = v["sid"].as_str().unwrap().to_owned();

    // The message names the service, not the tenant.
    let message = &app.outbox(to).await[0];
    let code = message["code"].as_str().unwrap().to_owned();
    assert!(
        message["body"].as_str().unwrap().contains("Shop"),
        "{message}"
    );
    assert_eq!(code.len(), 6);

    let fetched = door
        .call(
            Method::GET,
            &format!("/v2/Services/{service}/Verifications/{sid}"),
            &[],
        )
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    assert_eq!(fetched.body["status"], "pending");

    let wrong = check(
        &door,
        &service,
        &[("To", to), ("Code", &crate::common::wrong(&code))],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::OK, "{}", wrong.text);
    assert_eq!(
        (wrong.body["status"].as_str(), wrong.body["valid"].as_bool()),
        (Some("pending"), Some(false))
    );
    let right = check(
        &door,
        &service,
        &[("VerificationSid", &sid), ("Code", &code)],
    )
    .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
    assert_eq!(
        (right.body["status"].as_str(), right.body["valid"].as_bool()),
        (Some("approved"), Some(true))
    );
    assert_eq!(right.body["sid"], sid.as_str());

    // Approved: gone, whatever names it.
    twilio_error(
        &check(&door, &service, &[("To", to), ("Code", &code)]).await,
        StatusCode::NOT_FOUND,
        20404,
    );
    twilio_error(
        &check(
            &door,
            &service,
            &[("VerificationSid", &sid), ("Code", &code)],
        )
        .await,
        StatusCode::NOT_FOUND,
        20404,
    );
    let gone = door
        .call(
            Method::GET,
            &format!("/v2/Services/{service}/Verifications/{sid}"),
            &[],
        )
        .await;
    twilio_error(&gone, StatusCode::NOT_FOUND, 20404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_checks_spend_it_and_cancel_or_approve_end_it() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.test_key).await;
    let service = door.service("Shop").await;
    let to = "+14155550172";
    start(&door, &service, to, "sms").await;
    let code = app.code("sms", to).await;
    for _ in 0..5 {
        let answer = check(
            &door,
            &service,
            &[("To", to), ("Code", &crate::common::wrong(&code))],
        )
        .await;
        assert_eq!(answer.body["status"], "pending", "{}", answer.text);
    }
    let spent = check(&door, &service, &[("To", to), ("Code", &code)]).await;
    twilio_error(&spent, StatusCode::TOO_MANY_REQUESTS, 60202);
    // A new verification for the same `To` starts afresh.
    let again = start(&door, &service, to, "sms").await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    let fresh = app.outbox(to).await[0]["code"].as_str().unwrap().to_owned();
    let approved = check(&door, &service, &[("To", to), ("Code", &fresh)]).await;
    assert_eq!(approved.body["status"], "approved", "{}", approved.text);

    // Canceled: its code no longer works.
    let to = "+14155550173";
    let sid = start(&door, &service, to, "sms").await.body["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app.code("sms", to).await;
    let path = format!("/v2/Services/{service}/Verifications/{sid}");
    let canceled = door
        .call(Method::POST, &path, &[("Status", "canceled")])
        .await;
    assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.text);
    assert_eq!(canceled.body["status"], "canceled");
    twilio_error(
        &check(&door, &service, &[("To", to), ("Code", &code)]).await,
        StatusCode::NOT_FOUND,
        20404,
    );
    twilio_error(
        &door.call(Method::GET, &path, &[]).await,
        StatusCode::NOT_FOUND,
        20404,
    );

    // Approved by the integrator: gone too.
    let to = "+14155550174";
    let sid = start(&door, &service, to, "sms").await.body["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v2/Services/{service}/Verifications/{sid}");
    let approved = door
        .call(Method::POST, &path, &[("Status", "approved")])
        .await;
    assert_eq!(
        (
            approved.body["status"].as_str(),
            approved.body["valid"].as_bool()
        ),
        (Some("approved"), Some(true))
    );
    twilio_error(
        &door.call(Method::GET, &path, &[]).await,
        StatusCode::NOT_FOUND,
        20404,
    );
    let bad = door
        .call(Method::POST, &path, &[("Status", "pending")])
        .await;
    twilio_error(&bad, StatusCode::BAD_REQUEST, 60200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_again_while_pending_sends_again_under_the_same_sid() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.test_key).await;
    let service = door.service("Shop").await;
    let to = "user@example.com";
    let first = start(&door, &service, to, "email").await;
    let first_code = app.code("email", to).await;
    // Within otpgate's 30-second resend cooldown: Twilio's "too many requests", with a wait.
    let early = start(&door, &service, to, "email").await;
    twilio_error(&early, StatusCode::TOO_MANY_REQUESTS, 20429);
    assert!(early.headers.contains_key("retry-after"));
    app.clock.advance(30);
    let second = start(&door, &service, to, "email").await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_eq!(second.body["sid"], first.body["sid"]);
    assert_eq!(
        second.body["send_code_attempts"].as_array().unwrap().len(),
        2
    );
    let newest = app.outbox(to).await[0]["code"].as_str().unwrap().to_owned();
    assert_ne!(newest, first_code);
    // The previous code died at the resend (otpgate's rule); the newest works.
    let old = check(&door, &service, &[("To", to), ("Code", &first_code)]).await;
    assert_eq!(old.body["status"], "pending");
    let ok = check(&door, &service, &[("To", to), ("Code", &newest)]).await;
    assert_eq!(ok.body["status"], "approved", "{}", ok.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_targets_and_parameters_answer_twilios_codes() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.test_key).await;
    let service = door.service("Shop").await;
    let bad_to = start(&door, &service, "+1 not a number", "sms").await;
    twilio_error(&bad_to, StatusCode::BAD_REQUEST, 60200);
    assert_eq!(bad_to.body["message"], "Invalid parameter: To");
    twilio_error(
        &start(&door, &service, "not-an-email", "email").await,
        StatusCode::BAD_REQUEST,
        60200,
    );
    for channel in ["call", "sna", "auto"] {
        twilio_error(
            &start(&door, &service, "+14155550175", channel).await,
            StatusCode::BAD_REQUEST,
            60223,
        );
    }
    twilio_error(
        &start(&door, &service, "+14155550175", "fax").await,
        StatusCode::BAD_REQUEST,
        60200,
    );
    let custom = door
        .call(
            Method::POST,
            &format!("/v2/Services/{service}/Verifications"),
            &[
                ("To", "+14155550175"),
                ("Channel", "sms"),
                ("CustomCode", "123456"),
            ],
        )
        .await;
    twilio_error(&custom, StatusCode::BAD_REQUEST, 60200);
    twilio_error(
        &check(&door, &service, &[("Code", "123456")]).await,
        StatusCode::BAD_REQUEST,
        60221,
    );
    twilio_error(
        &check(&door, &service, &[("To", "+14155550175")]).await,
        StatusCode::BAD_REQUEST,
        60200,
    );
    twilio_error(
        &check(
            &door,
            &service,
            &[("To", "+14155550175"), ("Code", "123456")],
        )
        .await,
        StatusCode::NOT_FOUND,
        20404,
    );
    // A channel the tenant disabled is Twilio's "delivery channel disabled".
    let admin = app
        .admin_token(otpgate::server::service::AdminScope::Write, None)
        .await;
    let changed = app
        .admin_call(
            Method::PATCH,
            "/admin/v1/tenants/Acme",
            Some(&admin),
            Some(serde_json::json!({"enabled_channels": ["email"]})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    twilio_error(
        &start(&door, &service, "+14155550175", "sms").await,
        StatusCode::BAD_REQUEST,
        60223,
    );
    app.admin_call(
        Method::PATCH,
        "/admin/v1/tenants/Acme",
        Some(&admin),
        Some(serde_json::json!({"enabled_channels": null})),
    )
    .await;
    let unknown = format!("VA{}", "0".repeat(32));
    twilio_error(
        &start(&door, &unknown, "+14155550175", "sms").await,
        StatusCode::NOT_FOUND,
        20404,
    );

    // Another tenant's verification does not exist for this one.
    let sid = start(&door, &service, "+14155550176", "sms").await.body["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let globex = Door::of(&app, "Globex", &app.other_key).await;
    let path = format!("/v2/Services/{service}/Verifications/{sid}");
    twilio_error(
        &globex.call(Method::GET, &path, &[]).await,
        StatusCode::NOT_FOUND,
        20404,
    );
    twilio_error(
        &globex
            .call(Method::POST, &path, &[("Status", "canceled")])
            .await,
        StatusCode::NOT_FOUND,
        20404,
    );
    let theirs = check(
        &globex,
        &service,
        &[("VerificationSid", &sid), ("Code", "123456")],
    )
    .await;
    twilio_error(&theirs, StatusCode::NOT_FOUND, 20404);
    assert_eq!(
        door.call(Method::GET, &path, &[]).await.status,
        StatusCode::OK,
        "untouched"
    );
}

/// `n` checks of the same form at once (tasks released together).
async fn checks_at_once(
    app: &std::sync::Arc<TestApp>,
    door: &Door<'_>,
    service: &str,
    form: &[(&str, &str)],
    n: usize,
) -> Vec<Answer> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let authorization = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", door.sid, door.key))
    );
    let path = format!("/v2/Services/{service}/VerificationCheck");
    let form: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (app, barrier) = (app.clone(), barrier.clone());
            let (authorization, path, form) = (authorization.clone(), path.clone(), form.clone());
            tokio::spawn(async move {
                let form: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                barrier.wait().await;
                call(&app, Method::POST, &path, &form, Some(&authorization)).await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    answers
}

/// Concurrent checks count as one after the other: 50 wrong checks at once spend exactly the
/// five a verification has; 20 right checks at once approve it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checks_spend_five_and_approve_once() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let door = Door::of(&app, "Acme", &app.test_key).await;
    let service = door.service("Shop").await;
    let to = "+14155550177";
    start(&door, &service, to, "sms").await;
    let code = app.code("sms", to).await;
    let wrong = crate::common::wrong(&code);
    let answers = checks_at_once(&app, &door, &service, &[("To", to), ("Code", &wrong)], 50).await;
    let pending = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let spent = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS && a.body["code"] == 60202)
        .count();
    assert_eq!((pending, spent), (5, 45));

    let to = "+14155550178";
    start(&door, &service, to, "sms").await;
    let code = app.code("sms", to).await;
    let answers = checks_at_once(&app, &door, &service, &[("To", to), ("Code", &code)], 20).await;
    let approved = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK && a.body["status"] == "approved")
        .count();
    let gone = answers
        .iter()
        .filter(|a| a.status == StatusCode::NOT_FOUND)
        .count();
    assert_eq!(
        (approved, gone),
        (1, 19),
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
}

/// Verifications go with their sessions: after the purge's grace, the rows are deleted too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_with_their_sessions() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.test_key).await;
    let service = door.service("Shop").await;
    let sid = start(&door, &service, "+14155550179", "sms").await.body["sid"]
        .as_str()
        .expect("a verification SID")
        .to_owned();
    let start_at = crate::common::START;
    let kept = app.purge_at(start_at + 601, 3600).await;
    assert_eq!(kept.twilio_verifications, 0, "within the grace");
    let purged = app.purge_at(start_at + 600 + 3601, 3600).await;
    assert_eq!((purged.sessions, purged.twilio_verifications), (1, 1));
    app.clock.set(start_at + 600 + 3601);
    let path = format!("/v2/Services/{service}/Verifications/{sid}");
    twilio_error(
        &door.call(Method::GET, &path, &[]).await,
        StatusCode::NOT_FOUND,
        20404,
    );
}

/// After ten minutes a verification is gone, as Twilio's is; otpgate's limits answer in
/// Twilio's terms: too many sends to one number is 60203 with when to try again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_destination_limits_answer_as_twilio() {
    let app = TestApp::new().await;
    let door = Door::of(&app, "Acme", &app.test_key).await;
    let service = door.service("Shop").await;
    let to = "+14155550180";
    let sid = start(&door, &service, to, "sms").await.body["sid"]
        .as_str()
        .expect("a verification SID")
        .to_owned();
    let code = app.code("sms", to).await;
    app.clock.advance(599);
    let path = format!("/v2/Services/{service}/Verifications/{sid}");
    assert_eq!(
        door.call(Method::GET, &path, &[]).await.status,
        StatusCode::OK
    );
    app.clock.advance(1);
    twilio_error(
        &door.call(Method::GET, &path, &[]).await,
        StatusCode::NOT_FOUND,
        20404,
    );
    let late = check(&door, &service, &[("To", to), ("Code", &code)]).await;
    twilio_error(&late, StatusCode::NOT_FOUND, 20404);
    // A new one for the same `To` starts afresh.
    let again = start(&door, &service, to, "sms").await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_ne!(again.body["sid"], sid.as_str());

    // Initech keeps the server's limits: five sends to one number in ten minutes.
    let limited = Door::of(&app, "Initech", &app.limited_test_key).await;
    let number = "+14155550181";
    let mut answers = Vec::new();
    for n in 0..6 {
        let theirs = limited.service(&format!("Shop {n}")).await;
        answers.push(start(&limited, &theirs, number, "sms").await);
    }
    assert!(answers[..5].iter().all(|a| a.status == StatusCode::CREATED));
    twilio_error(&answers[5], StatusCode::TOO_MANY_REQUESTS, 60203);
    let wait: i64 = answers[5].headers["retry-after"]
        .to_str()
        .expect("a number")
        .parse()
        .expect("seconds");
    assert!(wait > 0, "{wait}");
}

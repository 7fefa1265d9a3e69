//! Changing a tenant over the admin API (`PATCH /admin/v1/tenants/{name}`): each setting takes
//! effect on the public API at once, leaves exactly one audit entry with what changed before
//! and after, is refused to the tokens that may not make it, and hostile bodies are `400`.

use axum::http::{Method, StatusCode};
use otpgate::server::service::AdminScope;
use serde_json::{Value, json};

use crate::common::{Answer, TestApp, assert_error};

const ACME: &str = "/admin/v1/tenants/Acme";

async fn token(app: &TestApp, scope: AdminScope, tenant: Option<&str>) -> String {
    app.admin_token(scope, tenant).await
}

async fn change(app: &TestApp, token: &str, body: Value) -> Answer {
    app.admin_call(Method::PATCH, ACME, Some(token), Some(body))
        .await
}

/// Acme's `tenant.updated` entries, newest first.
async fn updates(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = app
        .admin_call(
            Method::GET,
            "/admin/v1/audit?tenant=Acme&action=tenant.updated",
            Some(token),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Asserts that exactly one `tenant.updated` entry was added since `audited` were counted, with
/// these settings before and after.
async fn expect_entry(
    app: &TestApp,
    token: &str,
    audited: &mut usize,
    before: Value,
    after: Value,
) {
    let entries = updates(app, token).await;
    assert_eq!(
        entries.len(),
        *audited + 1,
        "exactly one entry: {entries:?}"
    );
    *audited += 1;
    let newest = &entries[0];
    assert_eq!(newest["before"], before, "{newest}");
    assert_eq!(newest["after"], after, "{newest}");
    assert_eq!(newest["actor"]["type"], "admin_token");
    assert_eq!(newest["target"], "Acme");
}

async fn send(app: &TestApp, channel: &str, to: &str) -> Answer {
    app.post(
        "/api/v1/otp/send",
        &app.test_key,
        json!({"channels": [channel], "recipients": {channel: to}}),
    )
    .await
}

#[tokio::test]
async fn each_setting_applies_at_once_and_is_audited_once_with_before_and_after() {
    let app = TestApp::new().await;
    let write = token(&app, AdminScope::Write, None).await;
    let mut audited = updates(&app, &write).await.len();
    // Origins: replaced, normalised, each once.
    let changed = change(
        &app,
        &write,
        json!({"origins": ["https://Shop.Acme.test/", "https://shop.acme.test"]}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["origins"], json!(["https://shop.acme.test"]));
    expect_entry(
        &app,
        &write,
        &mut audited,
        json!({"origins": ["https://app.acme.test"]}),
        json!({"origins": ["https://shop.acme.test"]}),
    )
    .await;

    // Enabled channels: a channel left out is refused before anything is sent.
    let changed = change(&app, &write, json!({"enabled_channels": ["email"]})).await;
    assert_eq!(
        changed.body["enabled_channels"],
        json!(["email"]),
        "{}",
        changed.text
    );
    expect_entry(
        &app,
        &write,
        &mut audited,
        json!({"enabled_channels": null}),
        json!({"enabled_channels": ["email"]}),
    )
    .await;
    let refused = send(&app, "sms", "+14155550100").await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        refused.body["message"],
        "Forbidden: channel `sms` is not enabled for this app"
    );
    assert_eq!(
        send(&app, "email", "a@example.com").await.status,
        StatusCode::OK
    );
    let changed = change(&app, &write, json!({"enabled_channels": null})).await;
    assert_eq!(changed.body["enabled_channels"], Value::Null);
    audited += 1;
    assert_eq!(
        send(&app, "sms", "+14155550100").await.status,
        StatusCode::OK
    );

    // Limits: a merge patch over the tenant's own; `null` gives one back to the server's.
    let changed = change(&app, &write, json!({"limits": {"sms_per_hour": 7}})).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["limits"]["sms_per_hour"], 7);
    assert_eq!(changed.body["effective_limits"]["sms_per_hour"], 7);
    assert_eq!(
        changed.body["limits"]["email_per_hour"], 1_000_000,
        "the others stay"
    );
    let entries = updates(&app, &write).await;
    assert_eq!(entries.len(), audited + 1);
    audited += 1;
    assert_eq!(entries[0]["before"]["limits"]["sms_per_hour"], 1_000_000);
    assert_eq!(entries[0]["after"]["limits"]["sms_per_hour"], 7);
    let changed = change(&app, &write, json!({"limits": {"sms_per_hour": null}})).await;
    assert_eq!(
        changed.body["limits"].get("sms_per_hour"),
        None,
        "{}",
        changed.text
    );
    assert_eq!(
        changed.body["effective_limits"]["sms_per_hour"],
        app.state.admin.server_limits().sms_per_hour
    );
    audited += 1;

    // Allowed countries: SMS elsewhere is refused, naming the calling code.
    let changed = change(&app, &write, json!({"allowed_countries": [44]})).await;
    assert_eq!(
        changed.body["allowed_countries"],
        json!([44]),
        "{}",
        changed.text
    );
    assert_eq!(changed.body["limits"].get("allowed_countries"), None);
    expect_entry(
        &app,
        &write,
        &mut audited,
        json!({"limits": changed_limits(&changed, None)}),
        json!({"limits": changed_limits(&changed, Some(json!([44])))}),
    )
    .await;
    let refused = send(&app, "sms", "+14155550100").await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    assert!(refused.text.contains("+1 "), "{}", refused.text);
    assert_eq!(
        send(&app, "sms", "+447911123456").await.status,
        StatusCode::OK
    );
    let changed = change(&app, &write, json!({"allowed_countries": null})).await;
    assert_eq!(changed.body["allowed_countries"], Value::Null);
    audited += 1;

    // Disabled: its keys are refused on every call, and enabled again they work.
    let session = app.email_sms_session(json!({})).await;
    let changed = change(&app, &write, json!({"disabled": true})).await;
    assert_eq!(changed.body["disabled"], true, "{}", changed.text);
    assert!(changed.body["disabled_at"].is_string());
    expect_entry(
        &app,
        &write,
        &mut audited,
        json!({"disabled": false}),
        json!({"disabled": true}),
    )
    .await;
    for refused in [
        send(&app, "email", "b@example.com").await,
        app.status(&session).await,
    ] {
        assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(
            refused.body["message"],
            "Forbidden: this app is disabled; its operator can enable it again"
        );
    }
    let again = change(&app, &write, json!({"disabled": true})).await;
    assert_eq!(
        again.body["disabled_at"], changed.body["disabled_at"],
        "kept"
    );
    assert_eq!(
        updates(&app, &write).await.len(),
        audited,
        "no change, no entry"
    );
    let changed = change(&app, &write, json!({"disabled": false})).await;
    assert_eq!(changed.body["disabled"], false);
    assert_eq!(changed.body["disabled_at"], Value::Null);
    expect_entry(
        &app,
        &write,
        &mut audited,
        json!({"disabled": true}),
        json!({"disabled": false}),
    )
    .await;
    assert_eq!(app.status(&session).await.status, StatusCode::OK);

    // What the API shows is what a later read shows.
    let read = app.admin_call(Method::GET, ACME, Some(&write), None).await;
    assert_eq!(read.body, changed.body);
}

/// Acme's own limits as the answer shows them, with `allowed_countries` as given.
fn changed_limits(answer: &Answer, countries: Option<Value>) -> Value {
    let mut limits = answer.body["limits"].clone();
    if let Some(countries) = countries {
        limits["allowed_countries"] = countries;
    }
    limits
}

#[tokio::test]
async fn a_tenant_token_changes_its_origins_and_channels_only_and_a_read_token_nothing() {
    let app = TestApp::new().await;
    let own = token(&app, AdminScope::Write, Some("Acme")).await;
    let other = token(&app, AdminScope::Write, Some("Globex")).await;
    let read = token(&app, AdminScope::Read, None).await;

    let changed = change(
        &app,
        &own,
        json!({"origins": [], "enabled_channels": ["sms"]}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["origins"], json!([]));
    for operators in [
        json!({"limits": {"sms_per_hour": 1_000_000_000}}),
        json!({"allowed_countries": []}),
        json!({"disabled": false}),
        json!({"limits": null}),
    ] {
        let refused = change(&app, &own, operators).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    let hidden = change(&app, &other, json!({"origins": []})).await;
    assert_error(&hidden, StatusCode::NOT_FOUND, "not_found");
    let refused = change(&app, &read, json!({"origins": []})).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    let missing = app
        .admin_call(
            Method::PATCH,
            "/admin/v1/tenants/Nobody",
            Some(&token(&app, AdminScope::Write, None).await),
            Some(json!({"origins": []})),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
    // The tenant's limits raised when the test app was made, and the one change made here.
    assert_eq!(updates(&app, &read).await.len(), 2);
}

#[tokio::test]
async fn bodies_that_do_not_say_a_valid_change_are_refused_naming_what_is_wrong() {
    let app = TestApp::new().await;
    let write = token(&app, AdminScope::Write, None).await;
    for (body, says) in [
        (json!({}), "nothing to change"),
        (json!({"colour": "blue"}), "colour"),
        (
            json!({"limits": {"sms_per_day": 3}}),
            "`sms_per_day` is not a limit",
        ),
        (json!({"limits": {"sms_per_hour": "many"}}), "limits:"),
        (
            json!({"limits": {"failure_lock_secs": -5}}),
            "failure_lock_secs",
        ),
        (json!({"limits": {"prefix_digits": 40}}), "prefix_digits"),
        (json!({"enabled_channels": []}), "at least one channel"),
        (json!({"enabled_channels": ["fax"]}), "enabled_channels[0]"),
        (json!({"allowed_countries": [4000]}), "4000"),
        (
            json!({"allowed_countries": [1], "limits": {"allowed_countries": [44]}}),
            "once",
        ),
        (json!({"origins": ["javascript:alert(1)"]}), "origin"),
        (json!({"disabled": "yes"}), "disabled"),
    ] {
        let refused = change(&app, &write, body.clone()).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            refused.body["message"]
                .as_str()
                .is_some_and(|m| m.contains(says)),
            "{body} → {}",
            refused.text
        );
    }
    assert_eq!(
        updates(&app, &write).await.len(),
        1,
        "only the test app's own change"
    );
}

/// Each tenant's account SID (the Twilio-compatible door's user name) is in its settings, its
/// own, and the same on every read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_has_its_own_account_sid() {
    let app = TestApp::new().await;
    let admin = token(&app, AdminScope::Read, None).await;
    let read = |path: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let answer = app.admin_call(Method::GET, path, Some(&admin), None).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            answer.body["account_sid"]
                .as_str()
                .expect("account_sid")
                .to_owned()
        }
    };
    let acme = read(ACME).await;
    assert!(
        acme.len() == 34
            && acme.starts_with("AC")
            && acme[2..]
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{acme}"
    );
    assert_eq!(read(ACME).await, acme);
    assert_ne!(read("/admin/v1/tenants/Globex").await, acme);
}

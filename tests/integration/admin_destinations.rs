//! Destinations locked by their run of failed codes, over the admin API: looked up by the
//! address (matched by its keyed hash, shown masked), unlocked with one audit entry per tenant,
//! within the token's scope; after an unlock the destination gets codes again.

use axum::http::{Method, StatusCode};
use otpgate::server::service::AdminScope;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error, wrong};

const LOOKUP: &str = "/admin/v1/destinations/lookup";
const UNLOCK: &str = "/admin/v1/destinations/unlock";
const VICTIM: &str = "Victim@Example.com";

async fn token(app: &TestApp, scope: AdminScope, tenant: Option<&str>) -> String {
    app.admin_token(scope, tenant).await
}

/// A send to the victim's address with Initech's key (Initech keeps the server's limits).
async fn send(app: &TestApp) -> crate::common::Answer {
    app.post(
        "/api/v1/otp/send",
        &app.limited_test_key,
        json!({"channels": ["email"], "recipients": {"email": "victim@example.com"}}),
    )
    .await
}

/// Locks the victim's address in Initech: a streak of two failed codes is enough there.
async fn lock(app: &TestApp, write: &str) {
    let changed = app
        .admin_call(
            Method::PATCH,
            "/admin/v1/tenants/Initech",
            Some(write),
            Some(json!({"limits": {"failure_streak": 2}})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let sent = send(app).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    let token = sent.body["session_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let outbox = app
        .get(
            "/api/v1/test/messages?to=victim%40example.com",
            Some(&app.limited_test_key),
        )
        .await;
    let code = outbox.body[0]["code"].as_str().expect("a code").to_owned();
    for _ in 0..2 {
        let answer = app
            .post(
                "/api/v1/otp/verify",
                &app.limited_test_key,
                json!({"session_token": token, "otps": {"email": wrong(&code)}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    }
    let refused = send(app).await;
    assert_error(&refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn a_locked_destination_is_found_by_its_address_and_unlocked_once_with_an_audit_entry() {
    let app = TestApp::new().await;
    let write = token(&app, AdminScope::Write, None).await;
    let read = token(&app, AdminScope::Read, None).await;
    lock(&app, &write).await;

    let found = app
        .admin_call(
            Method::POST,
            LOOKUP,
            Some(&read),
            Some(json!({"destination": VICTIM})),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    assert_eq!(found.body["destination"], "v***@example.com");
    let streaks = found.body["tenants"].as_array().unwrap();
    assert_eq!(streaks.len(), 1, "{}", found.text);
    assert_eq!(streaks[0]["tenant"], "Initech");
    // The lock took the run: it counts again from zero after the lock.
    assert!(streaks[0]["failures"].is_u64(), "{}", found.text);
    assert_eq!(streaks[0]["locked"], true);
    assert!(streaks[0]["locked_until"].is_string());
    assert!(
        !found.text.to_lowercase().contains("victim@"),
        "never in clear"
    );
    let subject = found.body["subject"].as_str().unwrap().to_owned();

    let refused = app
        .admin_call(
            Method::POST,
            UNLOCK,
            Some(&read),
            Some(json!({"destination": VICTIM})),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");

    let unlocked = app
        .admin_call(
            Method::POST,
            UNLOCK,
            Some(&write),
            Some(json!({"destination": VICTIM})),
        )
        .await;
    assert_eq!(unlocked.status, StatusCode::OK, "{}", unlocked.text);
    assert_eq!(
        unlocked.body,
        json!({"destination": "v***@example.com", "unlocked": ["Initech"]})
    );
    assert_eq!(send(&app).await.status, StatusCode::OK, "codes again");
    let again = app
        .admin_call(
            Method::POST,
            UNLOCK,
            Some(&write),
            Some(json!({"destination": VICTIM})),
        )
        .await;
    assert_eq!(again.body["unlocked"], json!([]), "nothing left to unlock");

    let audit = app
        .admin_call(
            Method::GET,
            "/admin/v1/audit?action=destination.unlocked",
            Some(&read),
            None,
        )
        .await;
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", audit.text);
    let entry = &entries[0];
    assert_eq!(entry["tenant"], "Initech");
    assert_eq!(entry["actor"]["type"], "admin_token");
    assert_eq!(entry["target"], format!("v***@example.com ({subject})"));
    assert!(entry["before"]["locked_until"].is_i64(), "{entry}");
    assert_eq!(entry["after"], Value::Null);
    assert!(
        !audit.text.to_lowercase().contains("victim@"),
        "never in clear"
    );
}

#[tokio::test]
async fn a_tenant_token_looks_up_and_unlocks_in_its_own_tenant_only() {
    let app = TestApp::new().await;
    let write = token(&app, AdminScope::Write, None).await;
    lock(&app, &write).await;
    let globex = token(&app, AdminScope::Write, Some("Globex")).await;

    let own = app
        .admin_call(
            Method::POST,
            LOOKUP,
            Some(&globex),
            Some(json!({"destination": VICTIM})),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(
        own.body["tenants"],
        json!([]),
        "Initech's streak is not Globex's to see"
    );
    for path in [LOOKUP, UNLOCK] {
        let other = app
            .admin_call(
                Method::POST,
                path,
                Some(&globex),
                Some(json!({"destination": VICTIM, "tenant": "Initech"})),
            )
            .await;
        assert_error(&other, StatusCode::NOT_FOUND, "not_found");
    }
    let unlocked = app
        .admin_call(
            Method::POST,
            UNLOCK,
            Some(&globex),
            Some(json!({"destination": VICTIM})),
        )
        .await;
    assert_eq!(unlocked.body["unlocked"], json!([]), "{}", unlocked.text);
    let refused = send(&app).await;
    assert_error(&refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn what_is_not_a_destination_is_refused_naming_the_field() {
    let app = TestApp::new().await;
    let write = token(&app, AdminScope::Write, None).await;
    for body in [
        json!({"destination": "not an address"}),
        json!({"destination": "+12"}),
        json!({"destination": ""}),
        json!({"destination": VICTIM, "colour": "blue"}),
        json!({}),
    ] {
        for path in [LOOKUP, UNLOCK] {
            let answer = app
                .admin_call(Method::POST, path, Some(&write), Some(body.clone()))
                .await;
            assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        }
    }
    let missing = app
        .admin_call(
            Method::POST,
            LOOKUP,
            Some(&write),
            Some(json!({"destination": VICTIM, "tenant": "Nobody"})),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_refusal_report_is_served_as_json_within_the_tokens_tenant() {
    let app = TestApp::new().await;
    let write = token(&app, AdminScope::Write, None).await;
    lock(&app, &write).await;
    let report = app
        .admin_call(Method::GET, "/admin/v1/refusals", Some(&write), None)
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    let groups = report.body["groups"].as_array().expect("groups");
    let initech: Vec<&Value> = groups.iter().filter(|g| g["tenant"] == "Initech").collect();
    assert_eq!(initech.len(), 1, "{}", report.text);
    assert_eq!(initech[0]["rule"], "failure_lock");
    assert_eq!(initech[0]["refusals"], 1);
    assert_eq!(initech[0]["subjects"], 1);
    assert_eq!(initech[0]["top_subject"]["refusals"], 1);
    assert!(!report.text.to_lowercase().contains("victim@"));

    let globex = token(&app, AdminScope::Read, Some("Globex")).await;
    let theirs = app
        .admin_call(Method::GET, "/admin/v1/refusals", Some(&globex), None)
        .await;
    assert_eq!(theirs.body["groups"], json!([]), "{}", theirs.text);
    let other = app
        .admin_call(
            Method::GET,
            "/admin/v1/refusals?tenant=Initech",
            Some(&globex),
            None,
        )
        .await;
    assert_error(&other, StatusCode::NOT_FOUND, "not_found");
    for bad in ["?hours=0", "?hours=721", "?hours=x"] {
        let path = format!("/admin/v1/refusals{bad}");
        let answer = app.admin_call(Method::GET, &path, Some(&write), None).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

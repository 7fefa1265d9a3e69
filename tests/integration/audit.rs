//! The audit log: every administrative change leaves exactly one entry, in its transaction,
//! with who, what (before and after), on which tenant, from where; the security events
//! otpgate itself records; nothing secret in any entry; reading it back by the admin API and
//! the CLI; retention.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use otpgate::engine::limits::LimitOverrides;
use otpgate::server::service::{AdminScope, AuditEntry, AuditQuery, Caller, KeyRef};
use serde_json::{Value, json};

use crate::common::{START, TestApp, urlencode, wrong};

async fn entries(app: &TestApp) -> Vec<AuditEntry> {
    app.state
        .admin
        .audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .expect("audit")
}

/// The entries written since `before` entries were there (newest first).
async fn new_entries(app: &TestApp, before: usize) -> Vec<AuditEntry> {
    let all = entries(app).await;
    all[..all.len() - before].to_vec()
}

/// The one entry the last call wrote.
async fn one_more(app: &TestApp, before: usize) -> AuditEntry {
    let new = new_entries(app, before).await;
    assert_eq!(new.len(), 1, "exactly one entry: {new:?}");
    new.into_iter().next().expect("an entry")
}

#[tokio::test]
async fn every_change_leaves_one_entry_with_who_what_and_before_and_after() {
    let app = TestApp::new().await;
    let admin = &app.state.admin;
    let cli = Caller::cli();

    let n = entries(&app).await.len();
    admin
        .create_tenant("Hooli", &["https://hooli.test".into()], &cli)
        .await
        .unwrap();
    let created = one_more(&app, n).await;
    assert_eq!(
        (
            created.action.as_str(),
            created.actor_type.as_str(),
            created.actor_id.as_deref()
        ),
        ("tenant.created", "cli", None)
    );
    assert_eq!(created.tenant.as_deref(), Some("Hooli"));
    assert_eq!(created.target.as_deref(), Some("Hooli"));
    assert_eq!(
        created.after,
        Some(json!({"name": "Hooli", "origins": ["https://hooli.test"]}))
    );
    assert_eq!(created.at, START);

    let n = entries(&app).await.len();
    let limits = LimitOverrides {
        destination_per_day: Some(50),
        ..LimitOverrides::default()
    };
    admin
        .set_tenant_limits("Hooli", &limits, false, &cli)
        .await
        .unwrap();
    let updated = one_more(&app, n).await;
    assert_eq!(updated.action, "tenant.updated");
    assert_eq!(updated.before, Some(json!({"limits": {}})));
    assert_eq!(
        updated.after,
        Some(json!({"limits": {"destination_per_day": 50}}))
    );

    let n = entries(&app).await.len();
    let key = admin.create_key("Hooli", false, &cli).await.unwrap();
    let key_created = one_more(&app, n).await;
    assert_eq!(key_created.action, "key.created");
    assert_eq!(key_created.target.as_deref(), Some(key.prefix.as_str()));
    assert_eq!(
        key_created.after,
        Some(json!({"kind": "live", "prefix": key.prefix}))
    );
    let n = entries(&app).await.len();
    assert!(
        admin
            .revoke_key(KeyRef::Prefix(&key.prefix), &cli)
            .await
            .unwrap()
    );
    let revoked = one_more(&app, n).await;
    assert_eq!(revoked.action, "key.revoked");
    assert_eq!(revoked.tenant.as_deref(), Some("Hooli"));
    let n = entries(&app).await.len();
    assert!(
        !admin
            .revoke_key(KeyRef::Prefix(&key.prefix), &cli)
            .await
            .unwrap()
    );
    assert!(
        new_entries(&app, n).await.is_empty(),
        "nothing changed, nothing written"
    );

    let n = entries(&app).await.len();
    let token = admin
        .create_admin_token(AdminScope::Read, Some("Hooli"), Some(3600), &cli)
        .await
        .unwrap();
    let token_created = one_more(&app, n).await;
    assert_eq!(token_created.action, "admin_token.created");
    assert_eq!(token_created.target, Some(token.info.id.to_string()));
    assert_eq!(
        token_created.after,
        Some(json!({
            "prefix": token.info.prefix,
            "scope": "read",
            "tenant": "Hooli",
            "expires_at": START + 3600,
        }))
    );
    let n = entries(&app).await.len();
    admin.revoke_admin_token(token.info.id, &cli).await.unwrap();
    assert_eq!(one_more(&app, n).await.action, "admin_token.revoked");

    // A refused change writes nothing.
    let n = entries(&app).await.len();
    assert!(admin.create_tenant("Hooli", &[], &cli).await.is_err());
    assert!(admin.create_key("Nobody", true, &cli).await.is_err());
    assert!(new_entries(&app, n).await.is_empty());

    // Nothing secret in any entry.
    let text = serde_json::to_string(&format!("{:?}", entries(&app).await)).unwrap();
    for secret in [&key.key, &token.token, &app.test_key, &app.live_key] {
        assert!(!text.contains(secret.as_str()), "a secret in the audit log");
    }
}

#[tokio::test]
async fn the_admin_api_records_its_token_and_the_requests_id() {
    let app = TestApp::new().await;
    let write = app
        .state
        .admin
        .create_admin_token(AdminScope::Write, None, None, &Caller::cli())
        .await
        .unwrap();
    let n = entries(&app).await.len();
    let request = Request::post("/admin/v1/tenants")
        .header(header::AUTHORIZATION, format!("Bearer {}", write.token))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "req-7f3a")
        .body(Body::from(r#"{"name": "Pied Piper"}"#))
        .expect("request");
    let answer = app.admin_request(request).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let entry = one_more(&app, n).await;
    assert_eq!(entry.action, "tenant.created");
    assert_eq!(entry.actor_type, "admin_token");
    assert_eq!(entry.actor_id, Some(write.info.id.to_string()));
    // Not from a trusted proxy: the ID is otpgate's own, the one the answer carries.
    let id = answer.headers["x-request-id"].to_str().unwrap();
    assert_ne!(id, "req-7f3a");
    assert_eq!(entry.request_id.as_deref(), Some(id));
}

#[tokio::test]
async fn a_session_and_a_destination_locked_by_failures_are_security_events() {
    let app = TestApp::new().await;
    // Initech keeps the server's limits: twenty failures in a row lock the address.
    let address = "victim@example.com";
    let sent = app
        .post(
            "/api/v1/otp/send",
            &app.limited_test_key,
            json!({"channels": ["email"], "recipients": {"email": address}, "max_attempts": 20}),
        )
        .await;
    let token = sent.body["session_token"].as_str().unwrap().to_owned();
    let outbox = app
        .get(
            &format!("/api/v1/test/messages?to={}", urlencode(address)),
            Some(&app.limited_test_key),
        )
        .await;
    let code = outbox.body[0]["code"].as_str().expect("a code").to_owned();
    let n = entries(&app).await.len();
    for _ in 0..20 {
        app.post(
            "/api/v1/otp/verify",
            &app.limited_test_key,
            json!({"session_token": token, "otps": {"email": wrong(&code)}}),
        )
        .await;
    }
    let new = new_entries(&app, n).await;
    let actions: Vec<&str> = new.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.len(), 2, "{new:?}");
    assert!(actions.contains(&"session.locked") && actions.contains(&"destination.locked"));
    for entry in &new {
        assert_eq!(entry.actor_type, "system");
        assert_eq!(entry.tenant.as_deref(), Some("Initech"));
    }
    let destination = new
        .iter()
        .find(|e| e.action == "destination.locked")
        .unwrap();
    let target = destination.target.as_deref().unwrap();
    assert!(target.starts_with("v***@example.com ("), "{target}");
    let text = format!("{new:?}");
    assert!(!text.contains(address), "the address only masked: {text}");
    assert!(!text.contains(&code), "never a code");
    assert_eq!(
        destination.after,
        Some(json!({"locked_until": START + 3600})),
        "locked for the hour"
    );
}

#[tokio::test]
async fn the_log_is_read_newest_first_by_filter_and_cursor_and_a_tenant_token_reads_its_own() {
    let app = TestApp::new().await;
    let cli = Caller::cli();
    for name in ["T1", "T2", "T3"] {
        app.state
            .admin
            .create_tenant(name, &[], &cli)
            .await
            .unwrap();
        app.clock.advance(10);
    }
    let read = app
        .state
        .admin
        .create_admin_token(AdminScope::Read, None, None, &cli)
        .await
        .unwrap()
        .token;
    let call = |path: String| {
        let read = read.clone();
        let app = &app;
        async move { app.admin_call(Method::GET, &path, Some(&read), None).await }
    };
    let first = call("/admin/v1/audit?action=tenant.created&limit=2".into()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let targets = |page: &Value| -> Vec<String> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["target"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(targets(&first.body), ["T3", "T2"]);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = call(format!(
        "/admin/v1/audit?action=tenant.created&limit=2&cursor={cursor}"
    ))
    .await;
    assert_eq!(targets(&second.body)[0], "T1");
    let entry = &first.body["entries"][0];
    assert_eq!(entry["actor"], json!({"type": "cli", "id": null}));
    assert!(entry["at"].as_str().unwrap().ends_with('Z'));

    let since = "2027-01-15T08:00:15Z"; // START + 15: T3 only
    let recent = call(format!(
        "/admin/v1/audit?action=tenant.created&since={since}"
    ))
    .await;
    assert_eq!(targets(&recent.body), ["T3"], "{}", recent.text);
    assert_eq!(recent.body["next_cursor"], Value::Null);
    for bad in ["since=yesterday", "cursor=abc", "limit=0", "limit=1001"] {
        let answer = call(format!("/admin/v1/audit?{bad}")).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.text
        );
    }

    let acme = app
        .state
        .admin
        .create_admin_token(AdminScope::Read, Some("Acme"), None, &cli)
        .await
        .unwrap()
        .token;
    let own = app
        .admin_call(Method::GET, "/admin/v1/audit", Some(&acme), None)
        .await;
    let tenants: Vec<&str> = own.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tenant"].as_str().unwrap_or("-"))
        .collect();
    assert!(
        !tenants.is_empty() && tenants.iter().all(|t| *t == "Acme"),
        "{tenants:?}"
    );
    let other = app
        .admin_call(
            Method::GET,
            "/admin/v1/audit?tenant=Globex",
            Some(&acme),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
}

#[tokio::test]
async fn entries_are_kept_for_their_retention_then_purged() {
    let app = TestApp::new().await;
    let kept = entries(&app).await.len();
    assert!(kept > 0);
    let days = i64::from(app.settings.audit_retention_days);
    let counts = app.purge_at(START + days * 86_400, 86_400).await;
    assert_eq!(counts.audit_entries, 0, "not yet: kept {days} days");
    let counts = app.purge_at(START + days * 86_400 + 1, 86_400).await;
    assert_eq!(counts.audit_entries as usize, kept);
    assert!(entries(&app).await.is_empty());
}

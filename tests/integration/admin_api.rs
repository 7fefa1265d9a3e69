//! The admin API, as an operator's tooling calls it on the admin listener: admin tokens and
//! their scopes, tenant isolation, the error shape, and that the public listener serves none of
//! it.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use otpgate::server::service::AdminScope;
use serde_json::{Value, json};

use crate::common::{Answer, TestApp};
use otpgate::server::service::Caller;

const TENANTS: &str = "/admin/v1/tenants";

async fn token(app: &TestApp, scope: AdminScope, tenant: Option<&str>) -> String {
    app.admin_token(scope, tenant).await
}

fn assert_answer(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.body["code"], code, "{}", answer.text);
}

fn names(answer: &Answer) -> Vec<String> {
    answer.body.as_array().map_or_else(Vec::new, |list| {
        list.iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    })
}

#[tokio::test]
async fn every_token_that_is_not_valid_is_answered_alike() {
    let app = TestApp::new().await;
    let expiring = app
        .state
        .admin
        .create_admin_token(AdminScope::Write, None, Some(10), &Caller::cli())
        .await
        .expect("token");
    let revoked = app
        .state
        .admin
        .create_admin_token(AdminScope::Write, None, None, &Caller::cli())
        .await
        .expect("token");
    app.state
        .admin
        .revoke_admin_token(revoked.info.id, &Caller::cli())
        .await
        .expect("revoke");
    app.clock.advance(10);
    let unknown = format!("at_{}", "A".repeat(32));
    let mut bodies = Vec::new();
    for presented in [
        None,
        Some("not-a-token"),
        Some(unknown.as_str()),
        Some(expiring.token.as_str()),
        Some(revoked.token.as_str()),
        Some(app.test_key.as_str()),
    ] {
        let answer = app.admin_call(Method::GET, TENANTS, presented, None).await;
        assert_answer(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
        bodies.push(answer.text);
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "one body whatever was wrong: {bodies:?}");

    // Only the bearer header is read: not the query string, not X-API-Key.
    let valid = token(&app, AdminScope::Read, None).await;
    for request in [
        Request::get(format!("{TENANTS}?token={valid}")).body(Body::empty()),
        Request::get(TENANTS)
            .header("x-api-key", valid.as_str())
            .body(Body::empty()),
    ] {
        let answer = app.admin_request(request.expect("request")).await;
        assert_answer(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let answer = app
        .admin_call(Method::GET, TENANTS, Some(&valid), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn a_read_token_reads_and_a_write_token_also_creates() {
    let app = TestApp::new().await;
    let read = token(&app, AdminScope::Read, None).await;
    let write = token(&app, AdminScope::Write, None).await;
    let listed = app
        .admin_call(Method::GET, TENANTS, Some(&read), None)
        .await;
    assert_eq!(
        names(&listed),
        ["Acme", "Globex", "Initech"],
        "{}",
        listed.text
    );
    let acme = &listed.body[0];
    assert_eq!(acme["origins"], json!(["https://app.acme.test"]));
    assert!(acme["limits"].is_object(), "{acme}");
    assert!(
        acme["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let new = json!({"name": "Hooli", "origins": ["https://Hooli.test/"]});
    let refused = app
        .admin_call(Method::POST, TENANTS, Some(&read), Some(new.clone()))
        .await;
    assert_answer(&refused, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(refused.body["message"], "Forbidden", "says nothing more");

    let created = app
        .admin_call(Method::POST, TENANTS, Some(&write), Some(new.clone()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["name"], "Hooli");
    assert_eq!(created.body["origins"], json!(["https://hooli.test"]));
    let again = app
        .admin_call(Method::POST, TENANTS, Some(&write), Some(new))
        .await;
    assert_answer(&again, StatusCode::CONFLICT, "conflict");
    assert_eq!(again.body["message"], "tenant `Hooli` already exists");

    let read_back = app
        .admin_call(Method::GET, &format!("{TENANTS}/Hooli"), Some(&read), None)
        .await;
    assert_eq!(read_back.status, StatusCode::OK, "{}", read_back.text);
    assert_eq!(read_back.body, created.body);
    let missing = app
        .admin_call(Method::GET, &format!("{TENANTS}/Nobody"), Some(&read), None)
        .await;
    assert_answer(&missing, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(missing.body["message"], "no tenant named `Nobody`");
}

#[tokio::test]
async fn a_tenant_token_sees_its_tenant_only_and_others_as_missing() {
    let app = TestApp::new().await;
    let acme = token(&app, AdminScope::Write, Some("Acme")).await;
    let listed = app
        .admin_call(Method::GET, TENANTS, Some(&acme), None)
        .await;
    assert_eq!(names(&listed), ["Acme"], "{}", listed.text);
    let own = app
        .admin_call(Method::GET, &format!("{TENANTS}/Acme"), Some(&acme), None)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let other = app
        .admin_call(Method::GET, &format!("{TENANTS}/Globex"), Some(&acme), None)
        .await;
    let missing = app
        .admin_call(Method::GET, &format!("{TENANTS}/Nobody"), Some(&acme), None)
        .await;
    assert_answer(&other, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        other.body["message"], "no tenant named `Globex`",
        "answered as if it did not exist"
    );
    assert_eq!(missing.status, other.status);
    let create = app
        .admin_call(
            Method::POST,
            TENANTS,
            Some(&acme),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_answer(&create, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn hostile_bodies_and_paths_are_client_errors_in_the_public_apis_shape() {
    let app = TestApp::new().await;
    let write = token(&app, AdminScope::Write, None).await;
    let duplicate = Request::post(TENANTS)
        .header(header::AUTHORIZATION, format!("Bearer {write}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "A", "name": "B"}"#));
    let answer = app.admin_request(duplicate.expect("request")).await;
    assert_answer(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(answer.body["message"].as_str().unwrap().contains("name"));
    for (body, field) in [
        (json!({"name": ""}), "tenant name"),
        (
            json!({"name": "Ok", "origins": ["ftp://x.test"]}),
            "not an origin",
        ),
        (json!({"origins": []}), "name"),
    ] {
        let answer = app
            .admin_call(Method::POST, TENANTS, Some(&write), Some(body))
            .await;
        assert_answer(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            answer.body["message"].as_str().unwrap().contains(field),
            "{}",
            answer.text
        );
    }
    let big = json!({"name": "Big", "origins": ["x".repeat(17 * 1024)]});
    let answer = app
        .admin_call(Method::POST, TENANTS, Some(&write), Some(big))
        .await;
    assert_answer(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let not_json = Request::post(TENANTS)
        .header(header::AUTHORIZATION, format!("Bearer {write}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("name=x"));
    let answer = app.admin_request(not_json.expect("request")).await;
    assert_answer(
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    for path in ["/admin/v1/nothing", "/admin/v1/tenants/a/b/c", "/elsewhere"] {
        let answer = app.admin_call(Method::GET, path, Some(&write), None).await;
        assert_answer(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let answer = app
        .admin_call(Method::DELETE, TENANTS, Some(&write), None)
        .await;
    assert_answer(
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn the_admin_document_describes_every_operation_and_the_public_listener_serves_none() {
    let app = TestApp::new().await;
    let document = app
        .admin_call(Method::GET, "/admin/openapi.json", None, None)
        .await;
    assert_eq!(document.status, StatusCode::OK, "{}", document.text);
    let paths = document.body["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/admin/v1/tenants"));
    assert!(paths.contains_key("/admin/v1/tenants/{name}"));
    for operation in paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
    {
        let responses = operation["responses"].as_object().unwrap();
        for status in ["401", "500"] {
            assert!(responses.contains_key(status), "{operation}");
        }
        assert_eq!(operation["security"], json!([{"admin_token": []}]));
    }
    assert!(document.body["components"]["schemas"]["ErrorBody"].is_object());
    let public: Value = app.get("/api/openapi.json", None).await.body;
    assert!(
        public["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| !p.starts_with("/admin")),
        "the public document names no admin path"
    );

    let write = token(&app, AdminScope::Write, None).await;
    for path in [
        "/admin",
        "/admin/",
        "/admin/v1/tenants",
        "/admin/openapi.json",
        "/metrics",
        "/console",
        "/console/tenants",
    ] {
        let request = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {write}"))
            .body(Body::empty())
            .expect("request");
        let answer = app.request(request).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
        assert!(!answer.text.contains("Acme"), "{path}");
    }
}

#[tokio::test]
async fn keys_are_listed_made_once_and_revoked_by_id_within_the_tokens_tenants() {
    let app = TestApp::new().await;
    let write = token(&app, AdminScope::Write, None).await;
    let read = token(&app, AdminScope::Read, None).await;
    let keys = "/admin/v1/tenants/Acme/keys";

    let listed = app.admin_call(Method::GET, keys, Some(&read), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let before = listed.body.as_array().unwrap().len();
    assert!(before >= 2, "Acme's test and live keys: {}", listed.text);
    let test_key = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "test")
        .unwrap();
    assert!(
        app.test_key
            .starts_with(test_key["prefix"].as_str().unwrap())
    );
    assert!(!listed.text.contains(&app.test_key), "never a key");

    let refused = app
        .admin_call(
            Method::POST,
            keys,
            Some(&read),
            Some(json!({"kind": "live"})),
        )
        .await;
    assert_answer(&refused, StatusCode::FORBIDDEN, "forbidden");
    let bad = app
        .admin_call(
            Method::POST,
            keys,
            Some(&write),
            Some(json!({"kind": "admin"})),
        )
        .await;
    assert_answer(&bad, StatusCode::BAD_REQUEST, "invalid_request");
    let created = app
        .admin_call(
            Method::POST,
            keys,
            Some(&write),
            Some(json!({"kind": "live"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let key = created.body["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("sk_live_") && key.starts_with(created.body["prefix"].as_str().unwrap())
    );
    let id = created.body["id"].as_str().unwrap().to_owned();

    // The new key works, and its use is recorded.
    let sent = app
        .post(
            "/api/v1/otp/send",
            &key,
            json!({"channels": ["email"], "recipients": {"email": "k@example.com"}}),
        )
        .await;
    assert_ne!(sent.status, StatusCode::UNAUTHORIZED, "{}", sent.text);
    // The use is written beside the request: look until it is there.
    let mut listed = app.admin_call(Method::GET, keys, Some(&read), None).await;
    let find = |listed: &crate::common::Answer| {
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())
            .unwrap()
            .clone()
    };
    for _ in 0..100 {
        if find(&listed)["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        listed = app.admin_call(Method::GET, keys, Some(&read), None).await;
    }
    let entry = find(&listed);
    assert_eq!(entry["kind"], "live");
    assert!(entry["last_used_at"].as_str().is_some(), "{entry}");
    assert_eq!(entry["revoked_at"], Value::Null);
    assert!(!listed.text.contains(&key), "shown only when made");

    // A tenant token cannot reach another tenant's key; a read token cannot revoke.
    let globex = token(&app, AdminScope::Write, Some("Globex")).await;
    let path = format!("/admin/v1/keys/{id}");
    for (who, status) in [
        (&globex, StatusCode::NOT_FOUND),
        (&read, StatusCode::FORBIDDEN),
    ] {
        let answer = app.admin_call(Method::DELETE, &path, Some(who), None).await;
        assert_eq!(answer.status, status, "{}", answer.text);
    }
    let other = app
        .admin_call(
            Method::GET,
            "/admin/v1/tenants/Acme/keys",
            Some(&globex),
            None,
        )
        .await;
    assert_answer(&other, StatusCode::NOT_FOUND, "not_found");

    let revoked = app
        .admin_call(Method::DELETE, &path, Some(&write), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let again = app
        .admin_call(Method::DELETE, &path, Some(&write), None)
        .await;
    assert_answer(&again, StatusCode::NOT_FOUND, "not_found");
    for bad in ["/admin/v1/keys/abc", "/admin/v1/keys/999999"] {
        let answer = app
            .admin_call(Method::DELETE, bad, Some(&write), None)
            .await;
        assert_answer(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let refused = app
        .post(
            "/api/v1/otp/send",
            &key,
            json!({"channels": ["email"], "recipients": {"email": "k@example.com"}}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "revoked: {}",
        refused.text
    );
}

//! Request IDs and structured logs: every answer carries `X-Request-Id` (a trusted proxy's, else
//! one made by otpgate), and with `OTPGATE_LOG_FORMAT=json` the real binary writes one JSON
//! object per line, the request's ID in its request's lines.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use otpgate::server::service::{AdminScope, Caller};

use crate::common::TestApp;
use crate::common::binary::{Otpgate, client, sigkill};

#[tokio::test]
async fn every_answer_has_an_id_and_a_forged_one_from_an_untrusted_peer_is_not_believed() {
    let app = TestApp::new().await;
    let request = Request::get("/healthz")
        .header("x-request-id", "forged-id")
        .body(Body::empty())
        .expect("request");
    let answer = app.request(request).await;
    let id = answer.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "forged-id");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let again = app.get("/healthz", None).await;
    assert_ne!(
        again.headers["x-request-id"], answer.headers["x-request-id"],
        "one per request"
    );
    let admin = app
        .admin_call(Method::GET, "/admin/v1/tenants", None, None)
        .await;
    assert_eq!(admin.status, StatusCode::UNAUTHORIZED);
    assert!(
        admin.headers.contains_key("x-request-id"),
        "the admin listener's too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_id_is_kept_and_recorded_in_the_audit_entry() {
    let app = TestApp::served_with(&[], |settings| {
        settings.trusted_proxies = vec!["127.0.0.1".parse().expect("a network")];
    })
    .await;
    let base = app.base_url.clone().unwrap();
    let answer = client()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "edge-42")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "edge-42");

    // Through the admin listener's router, as from the proxy: the entry names the proxy's ID.
    let token = app
        .state
        .admin
        .create_admin_token(AdminScope::Write, None, None, &Caller::cli())
        .await
        .unwrap()
        .token;
    let mut request = Request::post("/admin/v1/tenants")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("x-request-id", "edge-43")
        .header("x-forwarded-for", "203.0.113.7")
        .body(Body::from(r#"{"name": "Proxied"}"#))
        .expect("request");
    request.extensions_mut().insert(axum::extract::ConnectInfo(
        "127.0.0.1:4000".parse::<std::net::SocketAddr>().unwrap(),
    ));
    let created = app.admin_request(request).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.headers["x-request-id"], "edge-43");
    let entries = app
        .state
        .admin
        .audit(&otpgate::server::service::AuditQuery {
            action: Some("tenant.created"),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries[0].target.as_deref(), Some("Proxied"));
    assert_eq!(entries[0].request_id.as_deref(), Some("edge-43"));
    assert_eq!(
        entries[0].ip.as_deref(),
        Some("203.0.113.7"),
        "the client, not the proxy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_requests_id() {
    let data = tempfile::tempdir().unwrap();
    let otpgate = Otpgate::new(
        data.path().to_owned(),
        &[
            ("OTPGATE_LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            ("OTPGATE_TRUSTED_PROXIES", "127.0.0.1".to_owned()),
        ],
    )
    .await;
    let mut server = otpgate.serve().await;
    let answer = client()
        .get(format!("http://127.0.0.1:{}/healthz", otpgate.port))
        .header("x-request-id", "json-log-check")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sigkill(&mut server);
    let log = std::fs::read_to_string(otpgate.log_path()).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("listening on"))),
        "{log}"
    );
    let request_line = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "json-log-check")
        .unwrap_or_else(|| panic!("no line names the request: {log}"));
    assert_eq!(request_line["span"]["route"], "/healthz");
    assert_eq!(request_line["level"], "INFO");
}

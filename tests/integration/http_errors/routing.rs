//! Routing, health, the OpenAPI document, and the headers every answer carries.

use super::*;

#[tokio::test]
async fn unknown_api_route_is_json_404() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::GET, "/api/v1/nope"),
        (Method::POST, "/api/v1/nope"),
        (Method::GET, "/api/nope"),
        (Method::POST, "/api/v2/otp/send"),
        (Method::GET, "/api/v1/otp/send/extra"),
    ] {
        let headers = [
            ("x-api-key", app.test_key.as_str()),
            ("content-type", "application/json"),
        ];
        let answer = call(&app, method.clone(), path, &headers, b"{}".to_vec()).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            answer.body["code"], "not_found",
            "{method} {path}: not JSON"
        );
        assert!(answer.body["message"].is_string(), "{method} {path}");
        let unauthenticated = call(&app, method, path, &[], Vec::new()).await;
        assert_eq!(
            unauthenticated.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            unauthenticated.text
        );
        assert_eq!(unauthenticated.body["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn api_root_is_json_404() {
    let app = TestApp::new().await;
    for path in ["/api", "/api/"] {
        let answer = app.get(path, Some(&app.test_key)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.body["code"], "not_found", "{path}: not a JSON error");
    }
}

#[tokio::test]
async fn wrong_method_is_json_405() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::GET, SEND),
        (Method::GET, VERIFY),
        (Method::PUT, INITIATE),
        (Method::DELETE, SINGLE_VERIFY),
        (Method::POST, MESSAGES),
    ] {
        let answer = call(
            &app,
            method.clone(),
            path,
            &[("x-api-key", app.test_key.as_str())],
            Vec::new(),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            answer.text
        );
        assert!(
            answer.body["message"].is_string(),
            "{method} {path}: {}",
            answer.text
        );
        assert!(
            answer.body["code"].is_string(),
            "{method} {path}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::new().await;
    let answer = app.get("/healthz", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["status"], "ok", "{}", answer.text);
    let content_type = answer
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/json"));
}

#[tokio::test]
async fn openapi_document_describes_every_endpoint_and_both_auth_schemes() {
    let app = TestApp::new().await;
    let answer = app.get("/api/openapi.json", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let document: Value = serde_json::from_str(&answer.text).expect("valid JSON");
    let version = document["openapi"].as_str().expect("openapi field");
    assert!(version.starts_with("3."), "{version}");
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        SEND,
        VERIFY,
        STATUS,
        RESEND,
        CANCEL,
        INITIATE,
        SINGLE_VERIFY,
        MESSAGES,
        "/healthz",
    ] {
        assert!(
            paths.contains_key(path),
            "missing {path} in {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    assert!(schemes.contains_key("api_key"), "{schemes:?}");
    assert!(schemes.contains_key("bearer"), "{schemes:?}");
    assert_eq!(
        schemes["bearer"]["scheme"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("bearer")
    );
    assert_eq!(schemes["api_key"]["in"], "header");
}

// --- security headers ------------------------------------------------------------------------

#[tokio::test]
async fn responses_carry_nosniff() {
    let app = TestApp::new().await;
    let answers = [
        app.get("/healthz", None).await,
        app.get("/api/openapi.json", None).await,
        app.get(MESSAGES, Some(&app.test_key)).await,
        app.get(MESSAGES, None).await,
        app.get("/api/v1/nope", None).await,
        app.post(INITIATE, &app.test_key, json!({"phone_number": PHONE}))
            .await,
        app.post(INITIATE, &app.test_key, json!({"phone_number": "nope"}))
            .await,
        app.post_raw(
            INITIATE,
            Some(&app.test_key),
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await,
        app.post_raw(
            INITIATE,
            Some(&app.test_key),
            Some("application/json"),
            vec![b' '; 20_000],
        )
        .await,
    ];
    for answer in &answers {
        assert_eq!(
            answer
                .headers
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{} {}",
            answer.status,
            answer.text
        );
    }
}

#[tokio::test]
async fn every_api_answer_says_no_store() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let answers = [
        app.post(SEND, &app.test_key, email_send(EMAIL)).await,
        app.status(&token).await,
        app.verify(&token, json!({"email": "000000"})).await,
        app.get(
            &format!("{MESSAGES}?to={}", urlencode(EMAIL)),
            Some(&app.test_key),
        )
        .await,
        app.get("/api/openapi.json", None).await,
        app.post(STATUS, "sk_test_nope", json!({})).await,
        app.get("/api/v1/nowhere", None).await,
        app.post_raw(
            SEND,
            Some(&app.test_key),
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await,
        app.post_raw(
            SEND,
            Some(&app.test_key),
            Some("application/json"),
            vec![b' '; 17 * 1024],
        )
        .await,
    ];
    for answer in answers {
        assert_eq!(
            answer
                .headers
                .get(header::CACHE_CONTROL)
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{} {}",
            answer.status,
            answer.text
        );
    }
}

//! Codes never leak: the server's log output over a full flow of both APIs holds none of the
//! codes, and the database holds them only in the outbox (codes are HMACs everywhere else).

use crate::common::{TestApp, wrong};
use axum::http::StatusCode;
use serde_json::json;
use sqlx::{Column, Row, ValueRef};

const EMAIL: &str = "user@example.com";
const PHONE: &str = "+14155550100";
const WHATSAPP: &str = "+218911234567";

/// In a process of its own: it installs the process-wide log subscriber.
#[test]
fn no_code_in_logs_or_outside_the_outbox() {
    crate::common::run_alone("leaks::alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run alone, in a process of its own, by the test above"]
async fn alone() {
    let captured = crate::common::capture_logs();

    let app = TestApp::new().await;
    let mut codes = Vec::new();

    // Progressive: three channels, a wrong code, a code sent as a number, resend, verify, status.
    let token = app
        .send(json!({
            "channels": ["email", "sms", "whatsapp"],
            "recipients": {"email": EMAIL, "sms": PHONE, "whatsapp": WHATSAPP},
            "code_length": 10
        }))
        .await["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let email = app.code("email", EMAIL).await;
    let sms = app.code("sms", PHONE).await;
    codes.extend([
        email.clone(),
        sms.clone(),
        app.code("whatsapp", WHATSAPP).await,
    ]);
    app.verify(&token, json!({"email": wrong(&email)})).await;
    let as_number: u64 = email.parse().unwrap();
    let refused = app.verify(&token, json!({"email": as_number})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        !refused.text.contains(&email),
        "error body echoes the code: {}",
        refused.text
    );
    app.verify(&token, json!({"email": email})).await;
    app.clock.advance(30);
    app.post(
        "/api/v1/otp/resend",
        &app.test_key,
        json!({"session_token": token, "channels": ["sms"]}),
    )
    .await;
    let new_sms = app.code("sms", PHONE).await;
    codes.push(new_sms.clone());
    app.verify(&token, json!({"sms": sms})).await;
    app.verify(&token, json!({"sms": new_sms})).await;
    app.status(&token).await;

    // Single SMS: wrong, then right.
    let initiated = app
        .post(
            "/api/otp/initiate",
            &app.test_key,
            json!({"phone_number": WHATSAPP}),
        )
        .await;
    let request_id = initiated.body["request_id"].as_str().unwrap().to_owned();
    let single = app.outbox(WHATSAPP).await[0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    codes.push(single.clone());
    app.post(
        "/api/otp/verify",
        &app.test_key,
        json!({"request_id": request_id, "code": wrong(&single)}),
    )
    .await;
    let verified = app
        .post(
            "/api/otp/verify",
            &app.test_key,
            json!({"request_id": request_id, "code": single}),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK);

    let log = captured.text();
    assert!(
        log.contains("messages stored"),
        "the flow was logged:\n{log}"
    );
    for code in &codes {
        assert!(
            !log.contains(code.as_str()),
            "code {code} appears in the log:\n{log}"
        );
    }

    // The database: every column of every table but the outbox, as text and as bytes.
    let db = app.db().await;
    let tables_sql = if crate::common::database::on_postgres() {
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_name <> 'outbox'
           AND table_name <> '_sqlx_migrations'"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         AND name <> 'outbox' AND name <> '_sqlx_migrations'"
    };
    let tables: Vec<String> = sqlx::query_scalar(tables_sql).fetch_all(&db).await.unwrap();
    assert!(tables.contains(&"session_channels".to_owned()));
    for table in &tables {
        for row in sqlx::query(&format!("SELECT * FROM \"{table}\""))
            .fetch_all(&db)
            .await
            .unwrap()
        {
            for column in row.columns() {
                let at = column.ordinal();
                if row.try_get_raw(at).unwrap().is_null() {
                    continue;
                }
                let text = row
                    .try_get::<String, _>(at)
                    .or_else(|_| {
                        row.try_get::<Vec<u8>, _>(at)
                            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    })
                    .or_else(|_| row.try_get::<i64, _>(at).map(|n| n.to_string()))
                    .unwrap_or_else(|e| panic!("{table}.{}: {e}", column.name()));
                for code in &codes {
                    assert!(
                        !text.contains(code.as_str()),
                        "{table}.{} holds code {code}",
                        column.name()
                    );
                }
                for (secret, what) in [(&token, "the session token"), (&app.test_key, "an API key")]
                {
                    assert!(
                        !text.contains(secret.as_str()),
                        "{table}.{} holds {what}",
                        column.name()
                    );
                }
            }
        }
    }
    // Stored code hashes are keyed HMACs: 32 bytes, not the plain SHA-256 of the code.
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM session_channels")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 3);
    for hash in &hashes {
        assert_eq!(hash.len(), 32);
        for code in &codes {
            assert_ne!(hash, &otpgate::server::crypto::sha256(code.as_bytes()));
        }
    }
    // Keys and tokens are stored as hashes too.
    let key_hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(key_hashes.contains(&otpgate::server::crypto::sha256(app.test_key.as_bytes())));
    let token_hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(
        token_hashes,
        vec![otpgate::server::crypto::sha256(token.as_bytes())]
    );
}

//! The single-SMS API (`POST /api/otp/initiate`, `POST /api/otp/verify`): every rule and error
//! row of the contract, through the real router on a real SQLite file with a manual clock.

use crate::common::{Answer, START, TestApp, assert_error, wrong};
use axum::http::StatusCode;
use otpgate::server::config::Mode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const INITIATE: &str = "/api/otp/initiate";
const VERIFY: &str = "/api/otp/verify";
const PHONE: &str = "+14155550100";
const UK_PHONE: &str = "+447911123456";
const LIBYA_PHONE: &str = "+218911234567";

/// `START + seconds` as the RFC 3339 UTC string the API answers with.
fn at(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(START + seconds)
        .expect("timestamp")
        .format(&Rfc3339)
        .expect("format")
}

async fn initiate(app: &TestApp, key: &str, body: Value) -> Answer {
    app.post(INITIATE, key, body).await
}

/// Initiates for `phone` with the test key (plus `extra` fields); returns the request ID and the
/// code read from the test outbox.
async fn start(app: &TestApp, phone: &str, extra: Value) -> (String, String) {
    let mut body = json!({ "phone_number": phone });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let answer = initiate(app, &app.test_key, body).await;
    assert_eq!(answer.status, StatusCode::OK, "initiate: {}", answer.text);
    let request_id = answer.body["request_id"]
        .as_str()
        .expect("request_id")
        .to_owned();
    (request_id, app.code("sms", phone).await)
}

async fn verify(app: &TestApp, key: &str, request_id: &str, code: Value) -> Answer {
    app.post(
        VERIFY,
        key,
        json!({ "request_id": request_id, "code": code }),
    )
    .await
}

/// Verifies with the test key and a string code.
async fn verify_code(app: &TestApp, request_id: &str, code: &str) -> Answer {
    verify(app, &app.test_key, request_id, json!(code)).await
}

/// Asserts a 200 verify answer for `phone` after `attempts_used` attempts.
fn assert_verified(answer: &Answer, phone: &str, attempts_used: u64) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body["message"], "OTP verified successfully",
        "{}",
        answer.text
    );
    assert_eq!(answer.body["phone_number"], phone, "{}", answer.text);
    assert_eq!(
        answer.body["attempts_used"], attempts_used,
        "{}",
        answer.text
    );
    assert_eq!(answer.body["max_attempts"], 3, "{}", answer.text);
}

/// Asserts a single-SMS verify failure: 400 with the contract's message and code.
fn assert_single_error(answer: &Answer, code: &str, message: &str) {
    assert_error(answer, StatusCode::BAD_REQUEST, code);
    assert_eq!(answer.body["message"], message, "{}", answer.text);
}

fn assert_not_found(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"message": "OTP not found", "code": "not_found"})
    );
}

/// Asserts `400 invalid_request` whose message names `field`.
fn assert_invalid_request(answer: &Answer, field: &str) {
    assert_error(answer, StatusCode::BAD_REQUEST, "invalid_request");
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(field),
        "message should name {field}: {}",
        answer.text
    );
}

/// The code written in Arabic-Indic digits (U+0660 to U+0669).
fn arabic_indic(code: &str) -> String {
    code.chars()
        .map(|c| {
            let digit = c.to_digit(10).expect("ASCII digit");
            char::from_u32(0x0660 + digit).expect("Arabic-Indic digit")
        })
        .collect()
}

// --- initiate -------------------------------------------------------------------------------

#[tokio::test]
async fn initiate_answers_message_uuid_v4_request_id_and_expires_at() {
    let app = TestApp::new().await;
    let answer = initiate(&app, &app.test_key, json!({"phone_number": LIBYA_PHONE})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["message"], "OTP sent successfully");
    let request_id = answer.body["request_id"].as_str().expect("request_id");
    let parsed = uuid::Uuid::parse_str(request_id).expect("request_id is a UUID");
    assert_eq!(parsed.get_version_num(), 4, "UUID v4: {request_id}");
    assert_eq!(
        parsed.to_string(),
        request_id,
        "canonical lower-case hyphenated form"
    );
    assert_eq!(answer.body["expires_at"], "2027-01-15T08:05:00Z");
}

#[tokio::test]
async fn initiate_gives_each_request_its_own_id() {
    let app = TestApp::new().await;
    let (first, _) = start(&app, PHONE, json!({})).await;
    let (second, _) = start(&app, PHONE, json!({})).await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn initiate_sends_the_code_by_sms_with_the_contract_text() {
    let app = TestApp::new().await;
    start(&app, LIBYA_PHONE, json!({})).await;
    let outbox = app.outbox(LIBYA_PHONE).await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let message = &outbox[0];
    assert_eq!(message["channel"], "sms");
    assert_eq!(message["to"], LIBYA_PHONE);
    let code = message["code"].as_str().expect("code");
    assert_eq!(code.len(), 6, "default code length is 6: {code}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    assert_eq!(
        message["body"],
        format!("Your Acme code is {code}. It expires in 5 minutes.")
    );
}

#[tokio::test]
async fn code_length_4_and_6_give_codes_of_that_many_digits() {
    let app = TestApp::new().await;
    for (length, phone) in [(4, PHONE), (6, UK_PHONE)] {
        let (_, code) = start(&app, phone, json!({"code_length": length})).await;
        assert_eq!(code.len(), length, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    }
}

#[tokio::test]
async fn four_digit_code_verifies() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({"code_length": 4})).await;
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 1);
}

#[tokio::test]
async fn code_length_other_than_4_or_6_is_invalid_request() {
    let app = TestApp::new().await;
    for length in [
        json!(5),
        json!(8),
        json!(0),
        json!(-4),
        json!(10),
        json!("6"),
    ] {
        let answer = initiate(
            &app,
            &app.test_key,
            json!({"phone_number": PHONE, "code_length": length}),
        )
        .await;
        assert_invalid_request(&answer, "code_length");
    }
    assert!(
        app.outbox(PHONE).await.is_empty(),
        "nothing is sent for a refused request"
    );
}

#[tokio::test]
async fn expires_in_defaults_to_300_seconds() {
    let app = TestApp::new().await;
    let answer = initiate(&app, &app.test_key, json!({"phone_number": PHONE})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["expires_at"], at(300));
}

#[tokio::test]
async fn expires_in_sets_expires_at_and_the_message_text() {
    let app = TestApp::new().await;
    app.clock.advance(42);
    let answer = initiate(
        &app,
        &app.test_key,
        json!({"phone_number": PHONE, "expires_in": 600}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["expires_at"], at(42 + 600));
    let outbox = app.outbox(PHONE).await;
    let body = outbox[0]["body"].as_str().expect("body");
    assert!(body.ends_with("It expires in 10 minutes."), "{body}");
}

#[tokio::test]
async fn expires_in_out_of_range_is_invalid_request() {
    let app = TestApp::new().await;
    for expires_in in [601, 3600, 0, -1] {
        let answer = initiate(
            &app,
            &app.test_key,
            json!({"phone_number": PHONE, "expires_in": expires_in}),
        )
        .await;
        assert_invalid_request(&answer, "expires_in");
    }
    assert!(app.outbox(PHONE).await.is_empty());
}

#[tokio::test]
async fn invalid_phone_numbers_are_invalid_request_naming_phone_number() {
    let app = TestApp::new().await;
    let bad = [
        "14155550100",       // no +
        "+1 415 555 0100",   // spaces
        "+1-415-555-0100",   // dashes
        "+1415555O100",      // a letter O
        "+1415abc0100",      // letters
        "+1415555010012345", // too long for E.164
        "+999999999",        // not valid per libphonenumber
        "+0123456789",       // country code cannot start with 0
        "+",                 // nothing after +
        "",                  // empty
        " +14155550100",     // surrounding space
        "+14155550100\n",    // trailing newline
        "tel:+14155550100",  // URI form
        "+١٤١٥٥٥٥٠١٠٠",      // Arabic-Indic digits
    ];
    for phone in bad {
        let answer = initiate(&app, &app.test_key, json!({"phone_number": phone})).await;
        assert_invalid_request(&answer, "phone_number");
    }
}

#[tokio::test]
async fn missing_or_non_string_phone_number_is_invalid_request() {
    let app = TestApp::new().await;
    for body in [
        json!({}),
        json!({"phone_number": 14155550100_i64}),
        json!({"phone_number": null}),
        json!({"phone_number": ["+14155550100"]}),
    ] {
        let answer = initiate(&app, &app.test_key, body).await;
        assert_invalid_request(&answer, "phone_number");
    }
}

// --- verify: success, wrong codes, attempts -------------------------------------------------

#[tokio::test]
async fn right_code_verifies_on_the_first_attempt() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, LIBYA_PHONE, json!({})).await;
    app.clock.advance(10);
    let answer = verify_code(&app, &request_id, &code).await;
    assert_verified(&answer, LIBYA_PHONE, 1);
    assert_eq!(answer.body["verified_at"], at(10));
}

#[tokio::test]
async fn wrong_code_is_invalid_otp() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    let answer = verify_code(&app, &request_id, &wrong(&code)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"message": "Invalid OTP", "code": "invalid_otp"})
    );
}

#[tokio::test]
async fn attempts_used_counts_failures_before_success() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    for _ in 0..2 {
        let answer = verify_code(&app, &request_id, &wrong(&code)).await;
        assert_single_error(&answer, "invalid_otp", "Invalid OTP");
    }
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 3);
}

#[tokio::test]
async fn non_digit_code_string_is_invalid_otp_and_counts() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    let answer = verify_code(&app, &request_id, "abcdef").await;
    assert_single_error(&answer, "invalid_otp", "Invalid OTP");
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 2);
}

#[tokio::test]
async fn three_failures_lock_the_request_even_for_the_right_code() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    for _ in 0..3 {
        let answer = verify_code(&app, &request_id, &wrong(&code)).await;
        assert_single_error(&answer, "invalid_otp", "Invalid OTP");
    }
    let answer = verify_code(&app, &request_id, &code).await;
    assert_single_error(&answer, "too_many_attempts", "Too many attempts");
    let answer = verify_code(&app, &request_id, &wrong(&code)).await;
    assert_single_error(&answer, "too_many_attempts", "Too many attempts");
}

#[tokio::test]
async fn a_verified_request_never_verifies_again() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 1);
    let again = verify_code(&app, &request_id, &code).await;
    assert_single_error(&again, "otp_already_verified", "OTP already verified");
    let wrong_after = verify_code(&app, &request_id, &wrong(&code)).await;
    assert_single_error(&wrong_after, "otp_already_verified", "OTP already verified");
}

#[tokio::test]
async fn each_request_has_its_own_code() {
    let app = TestApp::new().await;
    let (first, first_code) = start(&app, PHONE, json!({})).await;
    let (second, second_code) = start(&app, UK_PHONE, json!({})).await;
    if first_code != second_code {
        let answer = verify_code(&app, &first, &second_code).await;
        assert_single_error(&answer, "invalid_otp", "Invalid OTP");
    }
    assert_verified(&verify_code(&app, &second, &second_code).await, UK_PHONE, 1);
}

// --- verify: expiry --------------------------------------------------------------------------

#[tokio::test]
async fn code_works_one_second_before_expires_at() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    app.clock.set(START + 299);
    let answer = verify_code(&app, &request_id, &code).await;
    assert_verified(&answer, PHONE, 1);
    assert_eq!(answer.body["verified_at"], at(299));
}

#[tokio::test]
async fn code_expires_exactly_at_expires_at() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    app.clock.set(START + 300);
    let answer = verify_code(&app, &request_id, &code).await;
    assert_single_error(&answer, "otp_expired", "OTP has expired");
    app.clock.advance(3600);
    let later = verify_code(&app, &request_id, &code).await;
    assert_single_error(&later, "otp_expired", "OTP has expired");
}

#[tokio::test]
async fn custom_expires_in_moves_the_expiry_boundary() {
    let app = TestApp::new().await;
    let (early, early_code) = start(&app, PHONE, json!({"expires_in": 60})).await;
    let (late, late_code) = start(&app, UK_PHONE, json!({"expires_in": 60})).await;
    app.clock.set(START + 59);
    assert_verified(&verify_code(&app, &early, &early_code).await, PHONE, 1);
    app.clock.set(START + 60);
    let answer = verify_code(&app, &late, &late_code).await;
    assert_single_error(&answer, "otp_expired", "OTP has expired");
}

// --- verify: not found ----------------------------------------------------------------------

#[tokio::test]
async fn unknown_request_id_is_not_found() {
    let app = TestApp::new().await;
    start(&app, PHONE, json!({})).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_not_found(&verify_code(&app, &unknown, "123456").await);
}

#[tokio::test]
async fn malformed_request_id_is_not_found() {
    let app = TestApp::new().await;
    for request_id in [
        "abc",
        "",
        " ",
        "00000000-0000-0000-0000",
        "../../etc/passwd",
        "' OR 1=1 --",
    ] {
        assert_not_found(&verify_code(&app, request_id, "123456").await);
    }
}

#[tokio::test]
async fn other_tenants_request_is_not_found_and_costs_no_attempt() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    assert_not_found(&verify(&app, &app.other_key, &request_id, json!(wrong(&code))).await);
    assert_not_found(&verify(&app, &app.other_key, &request_id, json!(code)).await);
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 1);
}

// --- verify: code shapes and normalisation ---------------------------------------------------

#[tokio::test]
async fn code_as_json_number_is_invalid_request_and_costs_no_attempt() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    let number: u64 = code.parse().expect("digits");
    let answer = verify(&app, &app.test_key, &request_id, json!(number)).await;
    assert_invalid_request(&answer, "code");
    assert!(
        !answer.text.contains(&number.to_string()),
        "the error must not echo the code: {}",
        answer.text
    );
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 1);
}

#[tokio::test]
async fn missing_code_or_request_id_is_invalid_request() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    let answer = app
        .post(VERIFY, &app.test_key, json!({"request_id": request_id}))
        .await;
    assert_invalid_request(&answer, "code");
    let answer = app.post(VERIFY, &app.test_key, json!({"code": code})).await;
    assert_invalid_request(&answer, "request_id");
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 1);
}

#[tokio::test]
async fn arabic_indic_digits_are_accepted() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    let answer = verify_code(&app, &request_id, &arabic_indic(&code)).await;
    assert_verified(&answer, PHONE, 1);
}

#[tokio::test]
async fn surrounding_whitespace_is_trimmed() {
    let app = TestApp::new().await;
    let (first, first_code) = start(&app, PHONE, json!({})).await;
    assert_verified(
        &verify_code(&app, &first, &format!("  {first_code}  ")).await,
        PHONE,
        1,
    );
    let (second, second_code) = start(&app, UK_PHONE, json!({})).await;
    let padded = format!("\t{second_code}\n");
    assert_verified(&verify_code(&app, &second, &padded).await, UK_PHONE, 1);
}

// --- keys and modes --------------------------------------------------------------------------

#[tokio::test]
async fn live_key_initiates_in_dev_mode_without_reaching_the_test_outbox_api() {
    let app = TestApp::new().await;
    let answer = initiate(&app, &app.live_key, json!({"phone_number": PHONE})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["message"], "OTP sent successfully");
    assert!(
        app.outbox(PHONE).await.is_empty(),
        "the test-outbox API lists test-key messages only"
    );
    let caught = app.state.service.dev_outbox(10).await.expect("dev outbox");
    assert!(
        caught.iter().any(|m| m.recipient == PHONE && !m.is_test),
        "development mode catches the live-key message"
    );
}

#[tokio::test]
async fn production_mode_refuses_live_key_sms_without_a_provider() {
    let app = TestApp::with_mode(Mode::Production).await;
    let answer = initiate(&app, &app.live_key, json!({"phone_number": PHONE})).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Forbidden"), "{message}");
    assert!(message.contains("sms"), "{message}");
    let caught = app.state.service.dev_outbox(10).await.expect("outbox");
    assert!(
        caught.is_empty(),
        "nothing is stored or sent for a refused request"
    );
}

#[tokio::test]
async fn production_mode_still_serves_test_keys() {
    let app = TestApp::with_mode(Mode::Production).await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 1);
}

#[tokio::test]
async fn outbox_code_is_erased_once_verified_or_locked() {
    let app = TestApp::new().await;
    let (request_id, code) = start(&app, PHONE, json!({})).await;
    verify_code(&app, &request_id, &wrong(&code)).await;
    assert_eq!(app.outbox(PHONE).await[0]["code"], code.as_str());
    assert_verified(&verify_code(&app, &request_id, &code).await, PHONE, 2);
    let message = &app.outbox(PHONE).await[0];
    assert!(message["code"].is_null(), "{message}");
    assert!(!message["body"].as_str().unwrap().contains(&code));

    let (locked, code) = start(&app, UK_PHONE, json!({})).await;
    for _ in 0..3 {
        verify_code(&app, &locked, &wrong(&code)).await;
    }
    let message = &app.outbox(UK_PHONE).await[0];
    assert!(message["code"].is_null(), "{message}");
    assert!(!message["body"].as_str().unwrap().contains(&code));
}

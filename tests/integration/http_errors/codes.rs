//! Hostile code values and the shape of `otps`: malformed requests that cost no attempt, and
//! strings that are wrong guesses.

use super::*;

#[tokio::test]
async fn v1_malformed_code_values_are_invalid_request_and_cost_no_attempt() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    for value in malformed_codes() {
        let answer = app.verify(&token, json!({"email": value})).await;
        assert_invalid_request(&answer, "otps.email");
        assert_eq!(
            attempts_remaining(&app, &token).await,
            5,
            "after {}",
            short(&value)
        );
    }
    let code = app.code("email", EMAIL).await;
    let answer = app.verify(&token, json!({"email": code})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["attempts_remaining"], 5);
}

#[tokio::test]
async fn v1_non_digit_strings_are_client_errors_and_count_consistently() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({"max_attempts": 20})).await;
    let mut remaining = attempts_remaining(&app, &token).await;
    assert_eq!(remaining, 20);
    for value in hostile_strings() {
        let answer = app.verify(&token, json!({"email": value})).await;
        assert_client_error(&answer, &format!("{value:?}"));
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{value:?}: {}",
            answer.text
        );
        let now = attempts_remaining(&app, &token).await;
        match answer.body["code"].as_str() {
            Some("invalid_otp") => assert_eq!(now, remaining - 1, "{value:?} counts one attempt"),
            Some("invalid_request") => assert_eq!(now, remaining, "{value:?} is no attempt"),
            other => panic!("{value:?}: unexpected code {other:?}"),
        }
        if value.trim().len() >= 4 {
            assert!(
                !answer.text.contains(&value),
                "{value:?} echoed: {}",
                answer.text
            );
        }
        remaining = now;
    }
}

#[tokio::test]
async fn v1_short_non_digit_string_is_invalid_otp_and_counts() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let answer = app.verify(&token, json!({"email": "abcdef"})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_otp");
    assert_eq!(answer.body["message"], "Invalid OTP");
    assert_eq!(answer.body["attempts_remaining"], 4, "{}", answer.text);
    assert_eq!(attempts_remaining(&app, &token).await, 4);
}

#[tokio::test]
async fn v1_code_sent_as_number_is_never_echoed() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", EMAIL).await;
    let number: u64 = code.parse().expect("digits");
    let answer = app.verify(&token, json!({"email": number})).await;
    assert_invalid_request(&answer, "otps.email");
    assert!(
        !answer.text.contains(&number.to_string()),
        "code echoed: {}",
        answer.text
    );
    // A number alongside a valid string: still refused as a whole, nothing consumed.
    let sms = app.code("sms", PHONE).await;
    let sms_number: u64 = sms.parse().expect("digits");
    let answer = app
        .verify(&token, json!({"email": code, "sms": sms_number}))
        .await;
    assert_invalid_request(&answer, "otps.sms");
    assert!(
        !answer.text.contains(&sms_number.to_string()),
        "code echoed: {}",
        answer.text
    );
    assert!(!answer.text.contains(&code), "code echoed: {}", answer.text);
    let status = app.status(&token).await;
    assert_eq!(status.body["status"], "pending", "{}", status.text);
    assert_eq!(status.body["attempts_remaining"], 5, "{}", status.text);
}

#[tokio::test]
async fn single_malformed_code_values_are_invalid_request_and_cost_no_attempt() {
    let app = TestApp::new().await;
    let (request_id, code) = initiate(&app, PHONE).await;
    for value in malformed_codes() {
        let answer = single_verify(&app, &request_id, value.clone()).await;
        assert_invalid_request(&answer, "code");
        assert!(
            !answer.text.contains(&code),
            "code echoed for {}: {}",
            short(&value),
            answer.text
        );
    }
    let answer = single_verify(&app, &request_id, json!(code)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["attempts_used"], 1, "{}", answer.text);
}

#[tokio::test]
async fn single_code_sent_as_number_is_never_echoed() {
    let app = TestApp::new().await;
    let (request_id, code) = initiate(&app, PHONE).await;
    let number: u64 = code.parse().expect("digits");
    let answer = single_verify(&app, &request_id, json!(number)).await;
    assert_invalid_request(&answer, "code");
    assert!(
        !answer.text.contains(&number.to_string()),
        "code echoed: {}",
        answer.text
    );
}

#[tokio::test]
async fn single_non_digit_strings_are_client_errors_and_count_consistently() {
    let app = TestApp::new().await;
    for value in hostile_strings() {
        let (request_id, code) = initiate(&app, PHONE).await;
        let answer = single_verify(&app, &request_id, json!(value)).await;
        assert_client_error(&answer, &format!("{value:?}"));
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{value:?}: {}",
            answer.text
        );
        let expected_used = match answer.body["code"].as_str() {
            Some("invalid_otp") => 2,
            Some("invalid_request") => 1,
            other => panic!("{value:?}: unexpected code {other:?}"),
        };
        let right = single_verify(&app, &request_id, json!(code)).await;
        assert_eq!(right.status, StatusCode::OK, "{value:?}: {}", right.text);
        assert_eq!(
            right.body["attempts_used"], expected_used,
            "{value:?}: {}",
            right.text
        );
    }
}

#[tokio::test]
async fn single_short_non_digit_string_is_invalid_otp() {
    let app = TestApp::new().await;
    let (request_id, code) = initiate(&app, PHONE).await;
    let answer = single_verify(&app, &request_id, json!("abcdef")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"message": "Invalid OTP", "code": "invalid_otp"})
    );
    let right = single_verify(&app, &request_id, json!(code)).await;
    assert_eq!(right.body["attempts_used"], 2, "{}", right.text);
}

// --- the shape of `otps` ---------------------------------------------------------------------

#[tokio::test]
async fn bad_otps_shapes_are_invalid_request_and_cost_no_attempt() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", EMAIL).await;
    // The message names `otps`, or the channel at fault when the shape itself is fine.
    let cases = [
        ("not an object (string)", json!(code), "otps"),
        ("not an object (array)", json!([code]), "otps"),
        ("not an object (number)", json!(1), "otps"),
        ("null", json!(null), "otps"),
        ("empty", json!({}), "otps"),
        ("unknown channel", json!({"push": code}), "otps"),
        (
            "unknown channel with a known one",
            json!({"email": code, "push": code}),
            "otps",
        ),
        ("upper-case channel", json!({"EMAIL": code}), "otps"),
        (
            "channel not in the session",
            json!({"whatsapp": code}),
            "whatsapp",
        ),
    ];
    for (what, otps, named) in cases {
        let answer = app.verify(&token, otps).await;
        assert_invalid_request(&answer, named);
        assert!(
            !answer.text.contains(&code),
            "{what}: code echoed: {}",
            answer.text
        );
        assert_eq!(attempts_remaining(&app, &token).await, 5, "{what}");
    }
    let missing = app
        .post(VERIFY, &app.test_key, json!({"session_token": token}))
        .await;
    assert_invalid_request(&missing, "otps");
    let no_token = app
        .post(VERIFY, &app.test_key, json!({"otps": {"email": code}}))
        .await;
    assert_invalid_request(&no_token, "session_token");
    let status = app.status(&token).await;
    assert_eq!(
        status.body["status"], "pending",
        "nothing verified: {}",
        status.text
    );
    assert_eq!(status.body["attempts_remaining"], 5);
}

#[tokio::test]
async fn channel_not_in_session_error_names_otps() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let answer = app.verify(&token, json!({"whatsapp": "123456"})).await;
    // The request has no `channels` field: the field at fault is `otps`.
    assert_invalid_request(&answer, "otps");
}

/// The baseline the "costs no attempt" checks above compare against: a wrong code costs one.
#[tokio::test]
async fn v1_wrong_code_counts_one_attempt() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({})).await;
    let code = app.code("email", EMAIL).await;
    let answer = app.verify(&token, json!({"email": wrong(&code)})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_otp");
    assert_eq!(attempts_remaining(&app, &token).await, 4);
}

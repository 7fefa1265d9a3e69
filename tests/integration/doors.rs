//! One rule for every door: the same submitted code gives the same answer and costs the same
//! through the REST API, the widget's server function and the plain form (no JavaScript).

use crate::common::{TestApp, urlencode};
use axum::http::StatusCode;
use serde_json::{Value, json};

const EMAIL: &str = "user@example.com";

/// What one door made of a submission, in terms all three share.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Accepted,
    Wrong,
    Malformed,
}

#[derive(Clone, Copy, Debug)]
enum Door {
    Rest,
    ServerFunction,
    Form,
}

async fn submit(app: &TestApp, door: Door, token: &str, code: &str) -> Seen {
    match door {
        Door::Rest => {
            let answer = app.verify(token, json!({"email": code})).await;
            match (answer.status, answer.body["code"].as_str()) {
                (StatusCode::OK, _) => Seen::Accepted,
                (StatusCode::BAD_REQUEST, Some("invalid_otp")) => Seen::Wrong,
                (StatusCode::BAD_REQUEST, Some("invalid_request")) => Seen::Malformed,
                other => panic!("REST: {other:?} {}", answer.text),
            }
        }
        Door::ServerFunction => {
            let answer = app
                .post_raw(
                    "/rpc/widget_code",
                    None,
                    Some("application/json"),
                    json!({"token": token, "channel": "email", "code": code})
                        .to_string()
                        .into_bytes(),
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            match answer.body["result"].as_str() {
                Some("Accepted") => Seen::Accepted,
                Some("Wrong") => Seen::Wrong,
                Some("Malformed") => Seen::Malformed,
                other => panic!("server function: {other:?} {}", answer.text),
            }
        }
        Door::Form => {
            let answer = app
                .post_form(
                    &format!("/verify/{token}"),
                    &format!("channel=email&code={}&intent=verify", urlencode(code)),
                )
                .await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
            let location = answer.headers["location"].to_str().expect("location");
            if location.contains("notice=verified") {
                Seen::Accepted
            } else if location.contains("notice=wrong") {
                Seen::Wrong
            } else if location.contains("notice=malformed") {
                Seen::Malformed
            } else {
                panic!("form: {location}")
            }
        }
    }
}

async fn attempts_left(app: &TestApp, token: &str) -> Value {
    app.status(token).await.body["attempts_remaining"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_reads_a_code_by_the_same_rule_at_the_same_cost() {
    let app = TestApp::new().await;
    for door in [Door::Rest, Door::ServerFunction, Door::Form] {
        let token = app.email_sms_session(json!({})).await;
        let code = app.code("email", EMAIL).await;

        // Separators inside the code: a wrong code, one attempt, at every door.
        let dashed = format!("{}-{}", &code[..3], &code[3..]);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        for (typed, left) in [(&dashed, 4), (&spaced, 3)] {
            assert_eq!(
                submit(&app, door, &token, typed).await,
                Seen::Wrong,
                "{door:?} {typed:?}"
            );
            assert_eq!(
                attempts_left(&app, &token).await,
                left,
                "{door:?} {typed:?}"
            );
        }

        // Longer than any code (65 characters): malformed, no attempt, at every door.
        let long = format!("{code}{}", "0".repeat(59));
        assert_eq!(long.chars().count(), 65);
        assert_eq!(
            submit(&app, door, &token, &long).await,
            Seen::Malformed,
            "{door:?}"
        );
        let padded = format!("{}{code}", " ".repeat(60));
        assert_eq!(
            submit(&app, door, &token, &padded).await,
            Seen::Malformed,
            "{door:?}"
        );
        assert_eq!(attempts_left(&app, &token).await, 3, "{door:?}");

        // Surrounding white space and another script's digits: the right code, at every door.
        let arabic: String = code
            .bytes()
            .map(|b| char::from_u32(0x0660 + u32::from(b - b'0')).expect("digit"))
            .collect();
        let typed = format!(" {arabic}\t");
        assert_eq!(
            submit(&app, door, &token, &typed).await,
            Seen::Accepted,
            "{door:?}"
        );
        assert_eq!(attempts_left(&app, &token).await, 3, "{door:?}");
    }
}

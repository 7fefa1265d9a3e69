//! Receipts: what providers report about the messages they took. Twilio's status callbacks
//! (signed with the account's auth token), a gateway's delivery reports (each URL carries an
//! unguessable per-message token) and WhatsApp's webhooks (the subscription challenge, and
//! events signed with the app secret). A receipt only moves a message's status forward; an
//! unsigned or forged one answers 401, one about an unknown message 404, and neither changes
//! anything.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;

use crate::engine::delivery::{DeliveryFailure, DeliveryStatus};
use crate::server::delivery::providers::{gateway, twilio, whatsapp};
use crate::server::service::{ReceiptKey, ReceiptOutcome};
use crate::server::state::AppState;

/// The receipt endpoints.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/hooks/twilio/status", post(twilio_status))
        .route(
            "/hooks/gateway/dlr/{token}",
            get(gateway_report).post(gateway_report_posted),
        )
        .route(
            "/hooks/whatsapp",
            get(whatsapp_challenge).post(whatsapp_event),
        )
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

async fn apply(
    state: &AppState,
    by: ReceiptKey<'_>,
    status: DeliveryStatus,
    error: Option<DeliveryFailure>,
) -> Response {
    match state.service.receipt(by, status, error).await {
        Ok(ReceiptOutcome::Applied | ReceiptOutcome::Unchanged) => answer(StatusCode::OK, "OK"),
        Ok(ReceiptOutcome::Unknown) => answer(StatusCode::NOT_FOUND, "unknown message"),
        Err(error) => {
            tracing::error!(%error, "cannot record a receipt");
            answer(StatusCode::SERVICE_UNAVAILABLE, "try again")
        }
    }
}

/// Twilio's status callback: a form POST, signed over the URL otpgate gave and the parameters.
async fn twilio_status(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (Some(token), Some(public)) = (&state.providers.twilio_auth_token, &state.public_url)
    else {
        return answer(StatusCode::NOT_FOUND, "not configured");
    };
    let Ok(url) = public.join("hooks/twilio/status") else {
        return answer(StatusCode::NOT_FOUND, "not configured");
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !twilio::signature_is_valid(token.expose_secret(), url.as_str(), &params, signature) {
        return answer(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(sid), Some(message_status)) = (field("MessageSid"), field("MessageStatus")) else {
        return answer(
            StatusCode::BAD_REQUEST,
            "MessageSid and MessageStatus are required",
        );
    };
    let error_code = field("ErrorCode").and_then(|c| c.parse().ok());
    let Some((status, failure)) = twilio::receipt_status(message_status, error_code) else {
        return answer(StatusCode::OK, "OK");
    };
    apply(
        &state,
        ReceiptKey::Provider {
            provider: "twilio",
            id: sid,
        },
        status,
        failure,
    )
    .await
}

#[derive(serde::Deserialize)]
struct Report {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// A gateway's delivery report, by GET (Kannel's way) or POST; the token names the message.
async fn gateway_report(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(report): Query<Report>,
) -> Response {
    gateway_receipt(&state, &token, report.kind.as_deref()).await
}

async fn gateway_report_posted(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let kind = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .chain(url::form_urlencoded::parse(&body))
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.into_owned());
    gateway_receipt(&state, &token, kind.as_deref()).await
}

async fn gateway_receipt(state: &AppState, token: &str, kind: Option<&str>) -> Response {
    let Some(id) = state.service.receipt_delivery(token) else {
        return answer(StatusCode::NOT_FOUND, "unknown message");
    };
    let Some((status, failure)) = kind.and_then(gateway::receipt_status) else {
        return answer(StatusCode::OK, "OK");
    };
    apply(state, ReceiptKey::Delivery(id), status, failure).await
}

#[derive(serde::Deserialize)]
struct Challenge {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription check: echo the challenge when the verify token is ours.
async fn whatsapp_challenge(
    State(state): State<AppState>,
    Query(challenge): Query<Challenge>,
) -> Response {
    let Some(expected) = &state.providers.whatsapp_verify_token else {
        return answer(StatusCode::NOT_FOUND, "not configured");
    };
    let given = challenge.verify_token.unwrap_or_default();
    let matches: bool =
        subtle::ConstantTimeEq::ct_eq(expected.expose_secret().as_bytes(), given.as_bytes()).into();
    match (challenge.mode.as_deref(), challenge.challenge) {
        (Some("subscribe"), Some(text)) if matches => (StatusCode::OK, text).into_response(),
        _ => answer(StatusCode::UNAUTHORIZED, "verification failed"),
    }
}

/// A webhook event: its statuses move the messages they name.
async fn whatsapp_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &state.providers.whatsapp_app_secret else {
        return answer(StatusCode::NOT_FOUND, "not configured");
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !whatsapp::signature_is_valid(secret.expose_secret(), &body, signature) {
        return answer(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "not JSON");
    };
    let updates = whatsapp::statuses(&event);
    if updates.is_empty() {
        // Signed, but about something else (incoming messages, say): acknowledged.
        return answer(StatusCode::OK, "OK");
    }
    let mut known = false;
    for update in updates {
        let outcome = state
            .service
            .receipt(
                ReceiptKey::Provider {
                    provider: "whatsapp",
                    id: &update.message_id,
                },
                update.status,
                update.failure,
            )
            .await;
        match outcome {
            Ok(ReceiptOutcome::Unknown) => {}
            Ok(_) => known = true,
            Err(error) => {
                tracing::error!(%error, "cannot record a receipt");
                return answer(StatusCode::SERVICE_UNAVAILABLE, "try again");
            }
        }
    }
    if known {
        answer(StatusCode::OK, "OK")
    } else {
        answer(StatusCode::NOT_FOUND, "unknown message")
    }
}

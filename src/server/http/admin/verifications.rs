//! One verification looked up by an operator: a progressive session by its public
//! `session_id`, or a single-SMS request by its `request_id`, each with its timeline. Never a
//! code, a token or a recipient in clear.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::Admin;
use crate::engine::{Channel, VerificationMode};
use crate::server::http::rest::answers::{Answer, Body, error_answers, with_key};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::types::rfc3339;
use crate::server::service::timeline::{Happening, Timeline, TimelineEvent};
use crate::server::state::AppState;

/// One channel of a verification.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelLine {
    pub channel: Channel,
    /// Masked (`v***@example.com`, `+1 •••• ••0100`).
    pub recipient: String,
    /// Wrong codes submitted on this channel.
    pub failed_attempts: u32,
    pub verified_at: Option<String>,
}

/// One line of a timeline: `at`, `type`, and the details its type has.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineLine {
    pub at: String,
    /// `created`; `message.queued`, `message.attempt` (one hand-over to a provider),
    /// `message.delivered`, `message.failed`, `message.canceled` (ended unsent: replaced,
    /// expired, or no longer needed); `code.checked` (a code a verify decided); and how it
    /// ended: `verified`, `locked`, `expired` or `canceled`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The message, as `/admin/v1/deliveries` names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// `message.queued`: a later code for a channel that already had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resend: Option<bool>,
    /// `message.attempt`: its number, the provider, and `accepted`, `transient` or `permanent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// `message.failed`: the stable delivery error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `code.checked`: `verified` or `wrong_code` (never the code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
}

impl From<&TimelineEvent> for TimelineLine {
    fn from(event: &TimelineEvent) -> TimelineLine {
        let mut line = TimelineLine {
            at: rfc3339(event.at),
            kind: event.what.kind(),
            channel: event.channel,
            message_id: event.message_id,
            resend: None,
            attempt: None,
            provider: None,
            outcome: None,
            error: None,
            result: None,
        };
        match &event.what {
            Happening::MessageQueued { resend } => line.resend = Some(*resend),
            Happening::MessageAttempt {
                attempt,
                provider,
                outcome,
            } => {
                line.attempt = Some(*attempt);
                line.provider = Some(provider.clone());
                line.outcome = Some(outcome.clone());
            }
            Happening::MessageFailed { error } => line.error = error.clone(),
            Happening::CodeChecked { verified } => {
                line.result = Some(if *verified { "verified" } else { "wrong_code" });
            }
            _ => {}
        }
        line
    }
}

/// A verification as an operator sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "session_id": "ses_5f0c1e9a7b3d4c2e8f6a1b0c9d8e7f6a", "api": "progressive", "tenant": "shop",
    "test": false, "status": "verified", "verification_mode": "any",
    "created_at": "2026-03-18T12:20:00Z", "expires_at": "2026-03-18T12:30:00Z",
    "max_attempts": 5, "attempts_remaining": 4,
    "channels": [{"channel": "sms", "recipient": "+1 •••• ••0100", "failed_attempts": 1,
                  "verified_at": "2026-03-18T12:21:09Z"}],
    "timeline": [
        {"at": "2026-03-18T12:20:00Z", "type": "created"},
        {"at": "2026-03-18T12:20:00Z", "type": "message.queued", "channel": "sms", "message_id": 41, "resend": false},
        {"at": "2026-03-18T12:20:01Z", "type": "message.attempt", "channel": "sms", "message_id": 41,
         "attempt": 1, "provider": "twilio", "outcome": "accepted"},
        {"at": "2026-03-18T12:20:04Z", "type": "message.delivered", "channel": "sms", "message_id": 41},
        {"at": "2026-03-18T12:20:58Z", "type": "code.checked", "channel": "sms", "result": "wrong_code"},
        {"at": "2026-03-18T12:21:09Z", "type": "code.checked", "channel": "sms", "result": "verified"},
        {"at": "2026-03-18T12:21:09Z", "type": "verified"}
    ]
}))]
pub struct Verification {
    /// A progressive session's public name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// A single-SMS request's ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `progressive` or `single`.
    pub api: &'static str,
    pub tenant: String,
    /// Made with a test key (its messages went to the test outbox).
    pub test: bool,
    /// `pending`, `verified`, `locked`, `expired` or `canceled`.
    pub status: &'static str,
    /// A progressive session's mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_mode: Option<VerificationMode>,
    pub created_at: String,
    pub expires_at: String,
    pub max_attempts: u32,
    pub attempts_remaining: u32,
    pub channels: Vec<ChannelLine>,
    /// What happened to it, in time order.
    pub timeline: Vec<TimelineLine>,
}

impl Verification {
    fn of(timeline: Timeline) -> Verification {
        let progressive = timeline.mode.is_some();
        let id = Some(timeline.id);
        Verification {
            session_id: if progressive { id.clone() } else { None },
            request_id: if progressive { None } else { id },
            api: if progressive { "progressive" } else { "single" },
            tenant: timeline.tenant,
            test: timeline.is_test,
            status: timeline.standing.as_str(),
            verification_mode: timeline.mode,
            created_at: rfc3339(timeline.created_at),
            expires_at: rfc3339(timeline.expires_at),
            max_attempts: timeline.max_attempts,
            attempts_remaining: timeline.attempts_remaining,
            channels: timeline
                .channels
                .into_iter()
                .map(|c| ChannelLine {
                    channel: c.channel,
                    recipient: c.recipient,
                    failed_attempts: c.failed_attempts,
                    verified_at: c.verified_at.map(rfc3339),
                })
                .collect(),
            timeline: timeline.events.iter().map(TimelineLine::from).collect(),
        }
    }
}

error_answers!(
    /// What looking a verification up answers besides its success.
    LookUpErrors => with_key(vec![Answer::new(
        vec![ApiError::UnknownResource(String::new())],
        "`not_found`: no such verification (or not yet created, or purged a day after it \
         expired), or one of a tenant this token does not see.",
        Body::Error,
    )])
);

/// A progressive session, by the `session_id` send and status answered, with its timeline.
#[utoipa::path(
    get, path = "/admin/v1/sessions/{session_id}", operation_id = "read_session",
    tag = "verifications",
    params(("session_id" = String, Path, description = "The session's `ses_…` name")),
    responses((status = 200, description = "The session and its timeline", body = Verification), LookUpErrors),
    security(("admin_token" = []))
)]
pub async fn session(
    State(state): State<AppState>,
    admin: Admin,
    Path(session_id): Path<String>,
) -> ApiResult<Json<Verification>> {
    let timeline = state
        .admin
        .session_timeline(&session_id, admin.own_tenant())
        .await?;
    Ok(Json(Verification::of(timeline)))
}

/// A single-SMS request, by the `request_id` initiate answered, with its timeline.
#[utoipa::path(
    get, path = "/admin/v1/sms-requests/{request_id}", operation_id = "read_sms_request",
    tag = "verifications",
    params(("request_id" = String, Path, description = "The request's ID (a UUID)")),
    responses((status = 200, description = "The request and its timeline", body = Verification), LookUpErrors),
    security(("admin_token" = []))
)]
pub async fn sms_request(
    State(state): State<AppState>,
    admin: Admin,
    Path(request_id): Path<String>,
) -> ApiResult<Json<Verification>> {
    let timeline = state
        .admin
        .request_timeline(&request_id, admin.own_tenant())
        .await?;
    Ok(Json(Verification::of(timeline)))
}

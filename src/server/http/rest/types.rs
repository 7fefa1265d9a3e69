//! Request and response bodies of the REST API, exactly as the contract names their fields.
//! They also feed the OpenAPI document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::delivery::{DeliveryFailure, DeliveryStatus, DeliveryView};
use crate::engine::{Channel, SessionStatus, VerificationMode};
use crate::server::service::Deliveries;
use crate::server::service::{SessionCreated, SessionView, VerifyReport};

/// One channel's latest message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryInfo {
    /// `queued` (stored, not yet accepted by a provider; also while retrying), `sent` (a
    /// provider accepted it), `delivered` (the provider's receipt says it arrived) or `failed`.
    /// Only ever moves forward.
    pub status: DeliveryStatus,
    pub updated_at: String,
    /// Tries handed to a provider so far.
    pub attempts: u32,
    /// Why it failed (only with `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<DeliveryFailure>,
}

impl From<&DeliveryView> for DeliveryInfo {
    fn from(view: &DeliveryView) -> Self {
        DeliveryInfo {
            status: view.status,
            updated_at: rfc3339(view.updated_at),
            attempts: view.attempts,
            error: view.error,
        }
    }
}

/// Each channel's latest message, as answers report it.
pub fn deliveries(views: &Deliveries) -> BTreeMap<Channel, DeliveryInfo> {
    views
        .iter()
        .map(|(c, v)| (*c, DeliveryInfo::from(v)))
        .collect()
}

pub use crate::server::clock::rfc3339;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "channels": ["email", "sms"],
    "recipients": {"email": "user@example.com", "sms": "+14155550100"},
    "verification_mode": "any", "code_length": 6, "expires_in": 600, "max_attempts": 5, "locale": "en"
}))]
pub struct SendRequest {
    /// Non-empty, no duplicates; each channel needs its recipient.
    pub channels: Vec<Channel>,
    /// Email address for `email`, E.164 phone number for `sms` and `whatsapp`.
    #[serde(default)]
    pub recipients: BTreeMap<Channel, String>,
    /// `any` (default): one verified channel verifies the session; `all`: every channel must be.
    #[serde(default)]
    pub verification_mode: VerificationMode,
    /// 4 to 10 digits, default 6.
    pub code_length: Option<i64>,
    /// Seconds, 1 to 600, default 600.
    pub expires_in: Option<i64>,
    /// Total failed attempts across all channels, 1 to 20, default 5.
    pub max_attempts: Option<i64>,
    /// Optional tighter limit per channel (1 to `max_attempts`); a channel that reaches it stops
    /// accepting codes while the others continue.
    pub max_attempts_per_channel: Option<i64>,
    /// Language of the messages and the page (a BCP 47 tag, its region ignored: `pt-BR` is `pt`):
    /// `en`, `ar`, `es`, `fr`, `de`, `pt`, `hi`, `id`, `tr`, `ru`, `zh`, `fa` (the tenant's own
    /// template in that language when it has one). Without it, or for another language, the
    /// page speaks the browser's `Accept-Language`, else the tenant's `language`, and the
    /// messages the tenant's `language`; English when the tenant has none.
    pub locale: Option<String>,
    /// The end user's IP address, as your backend saw it (IPv4 or IPv6). When given, sends
    /// from one IP are limited (10 per 10 minutes by default).
    pub client_ip: Option<String>,
    /// How the channels are sent: every one at once (`parallel`, the default), or one after the
    /// other (`fallback`, with `after_secs`: `{"strategy": "fallback", "after_secs": 30}`).
    #[schema(example = json!({"strategy": "parallel"}))]
    pub delivery: Option<DeliveryRequest>,
}

/// How a session's channels are sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    pub strategy: DeliveryStrategy,
    /// `fallback`: seconds each channel is given (5 to 3600, default 30) before the next is
    /// sent, when it is neither verified nor delivered by then. A failed message moves on at
    /// once.
    pub after_secs: Option<i64>,
}

/// `parallel`: every channel's code at once. `fallback` (`any` sessions only): the first
/// channel's only; the next channel's when the current one's message fails, or when it is
/// neither verified nor delivered `after_secs` after it was sent, in the order of `channels`,
/// until one is verified.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStrategy {
    Parallel,
    Fallback,
}

/// The fallback's default wait for each channel.
pub const DEFAULT_FALLBACK_AFTER_SECS: i64 = 30;

impl DeliveryRequest {
    /// Seconds each channel is given, for a fallback; `None` for a parallel send.
    pub fn fallback_after_secs(&self) -> crate::server::http::rest::error::ApiResult<Option<i64>> {
        match self.strategy {
            DeliveryStrategy::Parallel if self.after_secs.is_some() => {
                Err(crate::server::http::rest::error::ApiError::InvalidRequest(
                    "delivery.after_secs: only for the `fallback` strategy".into(),
                ))
            }
            DeliveryStrategy::Parallel => Ok(None),
            DeliveryStrategy::Fallback => {
                Ok(Some(self.after_secs.unwrap_or(DEFAULT_FALLBACK_AFTER_SECS)))
            }
        }
    }
}

/// A fallback send, as its answers show it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryInfoOfSession {
    pub strategy: DeliveryStrategy,
    pub after_secs: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "session_token": "ZXhhbXBsZS1zZXNzaW9uLXRva2VuLW9mLTMyLWJ5dGU",
    "session_id": "ses_5f0c1e9a7b3d4c2e8f6a1b0c9d8e7f6a", "expires_at": "2026-03-18T12:30:00Z",
    "channels": ["email", "sms"], "verification_mode": "any",
    "widget_url": "/verify/ZXhhbXBsZS1zZXNzaW9uLXRva2VuLW9mLTMyLWJ5dGU",
    "deliveries": {
        "email": {"status": "queued", "updated_at": "2026-03-18T12:20:00Z", "attempts": 0},
        "sms": {"status": "queued", "updated_at": "2026-03-18T12:20:00Z", "attempts": 0}
    }
}))]
pub struct SendResponse {
    /// Opaque, 256 random bits, URL-safe. Keep it on your backend; give the widget URL to the person.
    pub session_token: String,
    /// The session's non-secret name (`ses_` + 32 hex): log it, show it to support, look the
    /// session up on the admin API by it. It grants nothing.
    pub session_id: String,
    pub expires_at: String,
    pub channels: Vec<Channel>,
    pub verification_mode: VerificationMode,
    /// Path of the verification page for this session, relative to otpgate's address.
    pub widget_url: String,
    /// Each channel's message: `queued` for a provider, `sent` for test keys (the test outbox).
    /// A fallback send has the first channel's only.
    pub deliveries: BTreeMap<Channel, DeliveryInfo>,
    /// Present for a fallback send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryInfoOfSession>,
}

impl From<SessionCreated> for SendResponse {
    fn from(created: SessionCreated) -> Self {
        SendResponse {
            deliveries: deliveries(&created.deliveries),
            widget_url: format!("/verify/{}", created.session_token),
            session_token: created.session_token,
            session_id: created.session_id,
            expires_at: rfc3339(created.expires_at),
            channels: created.channels,
            verification_mode: created.verification_mode,
            delivery: created
                .fallback_after_secs
                .map(|after_secs| DeliveryInfoOfSession {
                    strategy: DeliveryStrategy::Fallback,
                    after_secs,
                }),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"session_token": "…", "otps": {"email": "123456"}}))]
pub struct VerifyRequest {
    pub session_token: String,
    /// Channel → code, as a string (a JSON number loses leading zeros and is refused). Any
    /// non-empty subset of the session's channels. Surrounding white space is trimmed and any
    /// Unicode decimal digits are read as ASCII digits.
    #[schema(value_type = BTreeMap<String, String>)]
    pub otps: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelResult {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The cumulative verification fields every answer about a session carries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionFields {
    /// In the order they were verified.
    pub verified_channels: Vec<Channel>,
    pub session_verified: bool,
    pub all_channels_verified: bool,
    pub attempts_remaining: u32,
    pub expires_at: String,
}

impl From<&SessionView> for SessionFields {
    fn from(view: &SessionView) -> Self {
        SessionFields {
            verified_channels: view.summary.verified_channels.clone(),
            session_verified: view.summary.session_verified,
            all_channels_verified: view.summary.all_channels_verified,
            attempts_remaining: view.summary.attempts_remaining,
            expires_at: rfc3339(view.expires_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "verified": true, "verification_results": {"email": {"success": true}},
    "verified_channels": ["email"], "session_verified": true, "all_channels_verified": false,
    "attempts_remaining": 5, "expires_at": "2026-03-18T12:30:00Z"
}))]
pub struct VerifyResponse {
    /// True when every code submitted in this call was accepted.
    pub verified: bool,
    /// The channels submitted in this call only.
    pub verification_results: BTreeMap<Channel, ChannelResult>,
    #[serde(flatten)]
    pub session: SessionFields,
}

impl From<&VerifyReport> for VerifyResponse {
    fn from(report: &VerifyReport) -> Self {
        VerifyResponse {
            verified: report.outcome.all_accepted(),
            verification_results: report
                .outcome
                .results
                .iter()
                .map(|(channel, outcome)| {
                    (
                        *channel,
                        ChannelResult {
                            success: outcome.is_success(),
                            error: outcome.error_message().map(str::to_owned),
                        },
                    )
                })
                .collect(),
            session: SessionFields::from(&report.view),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"session_token": "ZXhhbXBsZS1zZXNzaW9uLXRva2VuLW9mLTMyLWJ5dGU"}))]
pub struct TokenRequest {
    pub session_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// The session's non-secret name, as send answered it.
    pub session_id: String,
    pub status: SessionStatus,
    pub channels: Vec<Channel>,
    pub verification_mode: VerificationMode,
    #[serde(flatten)]
    pub session: SessionFields,
    /// Each channel's latest message (a resend replaces the channel's entry). A fallback
    /// session's channels not yet sent have none.
    pub deliveries: BTreeMap<Channel, DeliveryInfo>,
    /// Present for a fallback send: when the next channel is sent unless the current one is
    /// delivered or verified first (`null` once nothing more will be sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<FallbackStatus>,
}

/// Where a fallback send stands.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FallbackStatus {
    pub strategy: DeliveryStrategy,
    pub after_secs: i64,
    /// RFC 3339; `null` when nothing more will be sent.
    pub next_step_at: Option<String>,
}

impl From<&SessionView> for StatusResponse {
    fn from(view: &SessionView) -> Self {
        StatusResponse {
            session_id: view.session_id.clone(),
            status: view.summary.status,
            channels: view.channels.clone(),
            verification_mode: view.mode,
            session: SessionFields::from(view),
            deliveries: view.deliveries.as_ref().map(deliveries).unwrap_or_default(),
            delivery: view.fallback.map(|timer| FallbackStatus {
                strategy: DeliveryStrategy::Fallback,
                after_secs: timer.after_secs,
                next_step_at: timer.due_at.map(rfc3339),
            }),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"session_token": "ZXhhbXBsZS1zZXNzaW9uLXRva2VuLW9mLTMyLWJ5dGU", "channels": ["sms"]}))]
pub struct ResendRequest {
    pub session_token: String,
    /// Channels to resend; omitted: every channel not yet verified.
    pub channels: Option<Vec<Channel>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResendResponse {
    /// The channels that were sent a new code.
    pub resent: Vec<Channel>,
    #[serde(flatten)]
    pub session: SessionFields,
    /// Each channel's latest message, the resent ones replaced by their new message.
    pub deliveries: BTreeMap<Channel, DeliveryInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelResponse {
    pub message: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"phone_number": "+218911234567", "code_length": 6, "expires_in": 300}))]
pub struct InitiateRequest {
    /// E.164.
    pub phone_number: String,
    /// 4 or 6, default 6.
    pub code_length: Option<i64>,
    /// Seconds, 1 to 600, default 300.
    pub expires_in: Option<i64>,
    /// The end user's IP address, as your backend saw it (IPv4 or IPv6). When given, sends
    /// from one IP are limited (10 per 10 minutes by default).
    pub client_ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InitiateResponse {
    pub message: String,
    /// UUID v4. Not a secret: the code is, and your key scopes every look-up.
    pub request_id: String,
    pub expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"request_id": "6f1c2a4e-8b0d-4f7a-9c3e-2d5b7a9e1f04", "code": "123456"}))]
pub struct SingleVerifyRequest {
    pub request_id: String,
    /// The code, as a string.
    #[schema(value_type = String)]
    pub code: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SingleVerifyResponse {
    pub message: String,
    pub phone_number: String,
    pub verified_at: String,
    pub attempts_used: u32,
    pub max_attempts: u32,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OutboxParams {
    /// Only messages to this recipient.
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxEntry {
    pub channel: String,
    pub to: String,
    pub body: String,
    /// The code in clear while it can still be used; `null` once it is erased (its channel was
    /// verified or resent, or its session was verified, locked, cancelled or expired).
    pub code: Option<String>,
    pub sent_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

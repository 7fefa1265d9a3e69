//! What the doors hand the services and get back: requests as clients sent them, and the views
//! of sessions, requests, tenants and messages the answers are made of. The store's records
//! that doors read as they are (a key's tenant, the outbox, a tenant's listing) are named here,
//! so no door imports the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::session::{Summary, VerifyOutcome};
use crate::engine::{Channel, RequestedLimits, Session, VerificationMode};
use crate::server::store::StoredSession;

pub use crate::server::store::{
    Actor, AdminPrincipal, AdminScope, AdminTokenInfo, AuditEntry, AuditQuery, AuthenticatedKey,
    Caller, Deliveries, DeliveryQuery, EndpointInfo, KeyInfo, KeyRef, OutboxMessage, PurgeCounts,
    ReceiptKey, ReceiptOutcome, RefusalSummary, StoreError, TenantGate, TenantInfo, TenantPatch,
    TenantSettings, WebhookDeliveryInfo, WebhookDeliveryQuery,
};

/// A request for a new progressive session, with fields as the client sent them.
#[derive(Clone, Debug, Default)]
pub struct SendInput {
    pub channels: Vec<Channel>,
    pub recipients: BTreeMap<Channel, String>,
    pub mode: VerificationMode,
    pub limits: RequestedLimits,
    pub locale: Option<String>,
    /// The end user's IP, as the integrator's backend saw it.
    pub client_ip: Option<String>,
    /// Sends the channels one after the other, each given this many seconds.
    pub fallback_after_secs: Option<i64>,
    /// The app name the messages say instead of the tenant's (a Twilio service's name).
    pub app_name: Option<String>,
    /// The session's token, when the door that starts it names it (the Twilio door derives it
    /// from its verification's SID); otherwise a new random one.
    pub token: Option<String>,
    /// Which door started it, for the metrics.
    pub api: crate::server::metrics::Api,
}

/// An `Idempotency-Key` with the hash of the body it came with.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: String,
    pub body_hash: Vec<u8>,
}

/// The answer to a send; also what an idempotent replay returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    pub session_token: String,
    /// The session's non-secret name (absent from answers sealed before it existed).
    #[serde(default)]
    pub session_id: String,
    pub expires_at: i64,
    pub channels: Vec<Channel>,
    pub verification_mode: VerificationMode,
    /// Each channel's message as it stood when the send was answered.
    pub deliveries: Deliveries,
    /// A fallback send's wait for each channel.
    #[serde(default)]
    pub fallback_after_secs: Option<i64>,
}

/// What every answer about a session reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub summary: Summary,
    pub channels: Vec<Channel>,
    pub mode: VerificationMode,
    pub expires_at: i64,
    pub code_length: u8,
    pub tenant_name: String,
    pub locale: Option<String>,
    pub recipients: Vec<String>,
    pub tenant_id: i64,
    /// The session itself, for callers that show per-channel detail (the widget).
    pub session: Session,
    /// When this view was taken.
    pub now: i64,
    /// Each channel's latest message, when the answer reports it (status, resend).
    pub deliveries: Option<Deliveries>,
    pub id: i64,
    /// The session's non-secret name (`ses_…`).
    pub session_id: String,
    /// A fallback session's timer.
    pub fallback: Option<crate::server::store::StoredFallback>,
}

impl SessionView {
    pub(super) fn of(stored: &StoredSession, now: i64) -> SessionView {
        let session = &stored.session;
        SessionView {
            summary: session.summary(now),
            channels: session.channels.iter().map(|c| c.channel).collect(),
            mode: session.mode,
            expires_at: session.expires_at,
            code_length: session.code_length,
            tenant_name: stored.tenant_name.clone(),
            locale: stored.locale.clone(),
            recipients: stored.recipients.clone(),
            tenant_id: stored.tenant_id,
            session: session.clone(),
            now,
            deliveries: None,
            id: stored.id,
            session_id: stored.public_id.clone(),
            fallback: stored.fallback,
        }
    }
}

/// The answer to a verify that looked at codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub outcome: VerifyOutcome,
    pub view: SessionView,
}

/// The answer to a resend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResendReport {
    pub resent: Vec<Channel>,
    /// Every channel's latest message, the resent ones replaced.
    pub view: SessionView,
}

/// The answer to a single-SMS initiate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleCreated {
    pub request_id: String,
    pub expires_at: i64,
}

/// The answer to a successful single-SMS verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleVerified {
    pub phone_number: String,
    pub verified_at: i64,
    pub attempts_used: u32,
    pub max_attempts: u32,
}

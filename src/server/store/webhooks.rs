//! Webhook endpoints and their deliveries as stored: the endpoints a tenant subscribed (their
//! signing secrets sealed), one delivery per event and endpoint — written by the store methods
//! that make the changes, in the same transaction — claimed by a worker under a lease and
//! finished with every attempt recorded, and the expiry pass that tells of verifications that
//! ran out.

use async_trait::async_trait;

use super::*;
use crate::engine::webhook::{EventType, Verdict};

/// How long a claimed webhook delivery belongs to the worker that claimed it: longer than the
/// request's timeout, so only a dead worker's deliveries are claimed again.
pub const WEBHOOK_LEASE_SECS: i64 = 60;

/// An endpoint to store: its URL (checked by the guard), the types it wants (`None`: all), and
/// its signing secret, sealed.
#[derive(Clone, Debug)]
pub struct NewEndpoint<'a> {
    pub tenant: &'a str,
    pub url: &'a str,
    pub event_types: Option<&'a [EventType]>,
    pub description: &'a str,
    pub secret_sealed: &'a [u8],
    pub created_at: i64,
}

/// What an operator changes on an endpoint; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    pub url: Option<String>,
    /// `Some(None)`: every type.
    pub event_types: Option<Option<Vec<EventType>>>,
    pub description: Option<String>,
    /// `Some(false)` disables it; `Some(true)` enables it again (its failure run forgotten).
    pub enabled: Option<bool>,
}

impl EndpointPatch {
    pub fn is_empty(&self) -> bool {
        *self == EndpointPatch::default()
    }
}

/// An endpoint as stored (never its secret in clear).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    pub id: i64,
    pub tenant: String,
    pub url: String,
    /// `None`: every type.
    pub event_types: Option<Vec<EventType>>,
    pub description: String,
    pub disabled_at: Option<i64>,
    /// `operator`, `gone` (it answered 410) or `failing` (five days of failures).
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    /// Until when the secret before the last rotation still signs.
    pub previous_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The sealed secrets an endpoint signs with now.
#[derive(Clone)]
pub struct EndpointSecrets {
    pub current: Vec<u8>,
    /// The previous secret, while its overlap lasts.
    pub previous: Option<(Vec<u8>, i64)>,
}

impl std::fmt::Debug for EndpointSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointSecrets").finish_non_exhaustive()
    }
}

/// A delivery claimed by the webhook worker, with where and how to post it.
#[derive(Clone, Debug)]
pub struct ClaimedWebhook {
    pub id: i64,
    pub endpoint_id: i64,
    pub tenant_id: i64,
    pub url: String,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    /// This try's number (1 for the first).
    pub attempt: u32,
    pub scheduled_from: i64,
    pub created_at_ms: i64,
    pub secrets: EndpointSecrets,
    /// When the endpoint's current run of failures began, as claimed.
    pub failing_since: Option<i64>,
}

/// One request to an endpoint, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub at: i64,
    pub duration_ms: i64,
    /// The HTTP status, when one came.
    pub status: Option<u16>,
    /// Why there was none, or why it was refused (timeout, connection, guard).
    pub error: Option<String>,
    /// The first 1 KB of the answer's body.
    pub response: Option<String>,
}

/// How a try ended, for [`WebhookStore::finish_webhooks`].
#[derive(Clone, Debug)]
pub struct WebhookOutcome {
    pub attempt: WebhookAttempt,
    pub verdict: Verdict,
    /// Disable the endpoint (`gone`, `failing`), recorded in the audit log.
    pub disable: Option<&'static str>,
}

/// A delivery as the admin API lists it, with its attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDeliveryInfo {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub body: String,
    pub tries: Vec<WebhookAttempt>,
}

/// Which deliveries of an endpoint to list: newest first, those with an ID below `before_id`.
#[derive(Clone, Debug, Default)]
pub struct WebhookDeliveryQuery<'a> {
    pub status: Option<&'a str>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// The pending deliveries, as `/metrics` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookQueueFigure {
    pub depth: u64,
    /// When the oldest pending one was made, in milliseconds of the wall clock.
    pub oldest_created_at_ms: Option<i64>,
}

/// Webhook endpoints and deliveries, shared by every worker of every instance: a delivery is
/// claimed by one worker at a time (under a lease a dead worker's deliveries run out of) and
/// finished only while it is still that worker's. Every change an operator makes is audited in
/// its own transaction.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_endpoint(&self, new: &NewEndpoint<'_>, by: &Caller) -> StoreResult<i64>;

    /// The endpoints of `tenant` (or of every tenant), oldest first.
    async fn endpoints(&self, tenant: Option<&str>) -> StoreResult<Vec<EndpointInfo>>;

    async fn endpoint(&self, id: i64) -> StoreResult<Option<EndpointInfo>>;

    /// Applies `patch` (audited as `webhook.updated` with what changed); false when there is no
    /// such endpoint.
    async fn update_endpoint(
        &self,
        id: i64,
        patch: &EndpointPatch,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool>;

    /// Deletes an endpoint and its deliveries (audited); false when there is no such endpoint.
    async fn delete_endpoint(&self, id: i64, now: i64, by: &Caller) -> StoreResult<bool>;

    /// Replaces the secret; the old one signs too until `previous_until` (audited).
    async fn rotate_secret(
        &self,
        id: i64,
        secret_sealed: &[u8],
        previous_until: i64,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool>;

    /// Queues one event for one endpoint alone (a test event an operator sends).
    async fn queue_event(
        &self,
        endpoint_id: i64,
        event: &crate::server::events::Event,
    ) -> StoreResult<i64>;

    /// Claims up to `limit` deliveries due by `now` for this worker, first giving back those of
    /// workers whose lease ran out.
    async fn claim_due_webhooks(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedWebhook>>;

    /// When the next pending delivery falls due (`None` when none is pending).
    async fn next_webhook_due(&self) -> StoreResult<Option<i64>>;

    /// Records claimed deliveries' tries, in one write: each attempt, each delivery's new state,
    /// the endpoints' runs of failures, and, where an outcome says so, the endpoint disabled and
    /// audited. A delivery no longer this worker's (its lease ran out) keeps its new owner's.
    async fn finish_webhooks(
        &self,
        finished: &[(ClaimedWebhook, WebhookOutcome)],
        now: i64,
    ) -> StoreResult<()>;

    /// Deliveries of an endpoint, newest first, with their attempts.
    async fn webhook_deliveries(
        &self,
        endpoint_id: i64,
        query: &WebhookDeliveryQuery<'_>,
    ) -> StoreResult<Vec<WebhookDeliveryInfo>>;

    /// Queues a finished delivery of the endpoint again (same event ID), due now: false when
    /// there is no such delivery of it, or it is still pending or being sent.
    async fn resend_webhook(
        &self,
        endpoint_id: i64,
        delivery_id: i64,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool>;

    /// Queues again, due now, every delivery of the endpoint made since `since` that failed or
    /// was skipped (and, with `delivered`, those delivered too); how many (audited).
    async fn replay_webhooks(
        &self,
        endpoint_id: i64,
        since: i64,
        delivered: bool,
        now: i64,
        by: &Caller,
    ) -> StoreResult<u64>;

    /// The expiry pass: writes `verification.expired` and `sms_request.expired` events for the
    /// sessions and requests that expired (unverified, not locked, not canceled) by `until`
    /// since the last pass, at most `limit` of each; how many it looked at.
    async fn emit_expiry_events(&self, until: i64, limit: i64) -> StoreResult<u64>;

    async fn webhook_queue(&self) -> StoreResult<WebhookQueueFigure>;
}

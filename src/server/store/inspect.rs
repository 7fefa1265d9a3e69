//! What an operator looks up: one verification (a progressive session by its public ID, or a
//! single-SMS request by its ID) and its history — each message with every hand-over to a
//! provider, and each code a verify decided (its result, never the code).

use async_trait::async_trait;

use super::deliveries::Owner;
use super::{StoreResult, StoredSession, StoredSingleRequest};
use crate::engine::Channel;

/// One hand-over of a message to a provider. The provider's own words are left out: they may
/// quote the address or number in clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TryRecord {
    pub attempt: i64,
    pub at: i64,
    pub provider: String,
    /// `accepted`, `transient` or `permanent`.
    pub outcome: String,
}

/// A message of a verification, as the queue holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: i64,
    pub channel: Channel,
    /// As stored: `queued`, `sending`, `sent`, `delivered`, `failed` or `cancelled`.
    pub status: String,
    /// The stable delivery error of a failed message.
    pub error: Option<String>,
    pub provider: Option<String>,
    /// Replaced by a resend's message.
    pub superseded: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub tries: Vec<TryRecord>,
}

/// A code a verify decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub channel: Channel,
    pub verified: bool,
    pub at: i64,
}

/// Everything that happened to a verification after it was created, in the order it happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub messages: Vec<MessageRecord>,
    pub attempts: Vec<AttemptRecord>,
}

/// Look-ups for operators: read-only, outside every decision's path.
#[async_trait]
pub trait InspectStore: Send + Sync {
    /// A session by its public ID, cancelled ones included, within `tenant` when it names one.
    async fn session_by_public_id(
        &self,
        public_id: &str,
        tenant: Option<&str>,
    ) -> StoreResult<Option<StoredSession>>;

    /// A single-SMS request by its canonical ID, within `tenant` when it names one.
    async fn request_by_id(
        &self,
        request_id: &str,
        tenant: Option<&str>,
    ) -> StoreResult<Option<StoredSingleRequest>>;

    /// The messages, hand-overs and decided codes of a session or request.
    async fn history(&self, owner: Owner) -> StoreResult<History>;
}

/// Which messages of the delivery queue, newest first.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryQuery<'a> {
    pub tenant: Option<&'a str>,
    /// As stored: `queued`, `sending`, `sent`, `delivered`, `failed`, `cancelled`.
    pub status: Option<&'a str>,
    pub channel: Option<Channel>,
    pub provider: Option<&'a str>,
    /// Only this one message.
    pub id: Option<i64>,
    /// Messages older than this one (the cursor).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// A message of the delivery queue, with what it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: i64,
    pub tenant: String,
    /// The session's public name, for a session's message.
    pub session_id: Option<String>,
    /// The request's ID, for a single-SMS request's message.
    pub request_id: Option<String>,
    pub channel: Channel,
    /// In clear, as stored: masked before it leaves the service.
    pub recipient: String,
    pub status: String,
    pub error: Option<String>,
    pub attempts: i64,
    pub provider: Option<String>,
    /// Replaced by a later message on its channel (a resend's or a retry's).
    pub superseded: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub next_attempt_at: i64,
    pub expires_at: i64,
}

/// The queue as operators act on it.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Messages, newest first, as the query selects them.
    async fn queued_messages(&self, query: &DeliveryQuery<'_>) -> StoreResult<Vec<QueuedMessage>>;

    /// Cancels a message still waiting for its provider (not one being handed over), with its
    /// audit entry in the same transaction; its sealed code is erased. False when it was not
    /// waiting.
    async fn cancel_message(
        &self,
        message: &QueuedMessage,
        shown: &str,
        by: &super::Caller,
        now: i64,
    ) -> StoreResult<bool>;
}

/// One channel of a verification made in a stats window (a single-SMS request is one `sms`
/// channel of its own), with how its verification stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOutcome {
    pub tenant: String,
    /// The session's or request's row (`single` tells which), to gather its channels.
    pub owner_id: i64,
    pub single: bool,
    pub mode_all: bool,
    pub channel: Channel,
    /// In clear, for its country; never leaves the service.
    pub recipient: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub cancelled: bool,
    /// The session's (or request's) attempts used up.
    pub session_locked: bool,
    /// This channel's own attempts used up (a session's per-channel limit).
    pub channel_locked: bool,
    pub verified_at: Option<i64>,
}

/// A message sent in a stats window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageOutcome {
    pub tenant: String,
    pub channel: Channel,
    pub recipient: String,
    /// As stored.
    pub status: String,
    /// A provider took it (it has the provider's ID), whatever happened after.
    pub accepted: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the figures of a window are computed from: live traffic only (test keys' is left out).
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// The channels of the sessions and requests created in `[since, until)`.
    async fn channel_outcomes(
        &self,
        since: i64,
        until: i64,
        tenant: Option<&str>,
    ) -> StoreResult<Vec<ChannelOutcome>>;

    /// The messages created in `[since, until)`.
    async fn message_outcomes(
        &self,
        since: i64,
        until: i64,
        tenant: Option<&str>,
    ) -> StoreResult<Vec<MessageOutcome>>;
}

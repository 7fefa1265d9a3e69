//! The outbox: messages caught instead of delivered (test keys, development mode).

use async_trait::async_trait;

use super::*;

/// What an erased code becomes in the message text.
pub(super) const ERASED: &str = "••••••";

/// A message read back from the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub tenant_name: String,
    pub is_test: bool,
    pub channel: String,
    pub recipient: String,
    pub body: String,
    /// `None` once the code is erased (used up, replaced, expired or its session ended).
    pub code: Option<String>,
    pub sent_at: i64,
}

/// Which messages to list.
#[derive(Clone, Debug, Default)]
pub struct OutboxQuery<'a> {
    pub tenant_id: Option<i64>,
    pub test_only: bool,
    pub recipient: Option<&'a str>,
    pub limit: i64,
    /// The time of the reading: codes of sessions and requests expired by then are not shown,
    /// even before the purge has erased them.
    pub now: i64,
}

/// The outbox as stored: its codes are erased by the writes that end them (a verified or
/// replaced channel, a settled or cancelled session), in the same transaction.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// The messages `query` asks for, newest first, as they stand at `query.now`.
    async fn list_outbox(&self, query: &OutboxQuery<'_>) -> StoreResult<Vec<OutboxMessage>>;
}

/// A caught message as both stores read it, with its session's or request's expiry.
#[derive(sqlx::FromRow)]
pub(super) struct OutboxRow {
    tenant_name: String,
    is_test: i64,
    channel: String,
    recipient: String,
    body: String,
    code: String,
    sent_at: i64,
    expires_at: Option<i64>,
}

impl OutboxRow {
    /// The message as read at `now`: a code erased in storage or expired by then is not shown.
    pub(super) fn message(self, now: i64) -> OutboxMessage {
        let expired = self.expires_at.is_some_and(|at| at <= now);
        let (code, body) = match (self.code.is_empty(), expired) {
            (true, _) => (None, self.body),
            (false, true) => (None, self.body.replace(self.code.as_str(), ERASED)),
            (false, false) => (Some(self.code), self.body),
        };
        OutboxMessage {
            tenant_name: self.tenant_name,
            is_test: self.is_test == 1,
            channel: self.channel,
            recipient: self.recipient,
            body,
            code,
            sent_at: self.sent_at,
        }
    }
}

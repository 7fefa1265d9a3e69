//! Operators' look-ups, for both stores: a verification by its public name, and its history.
//! Also the record of each decided code, which decisions write in their own transactions.

use async_trait::async_trait;

use serde_json::{Value, json};

use super::audit::{About, entry};
use super::deliveries::owner_column;
use super::sessions::SESSION_ROWS_BY_PUBLIC_ID;
use super::single::REQUEST_ROW_BY_ID;
use super::{Backend, Connection, Plan, Query};
use crate::engine::Channel;
use crate::server::store::deliveries::Owner;
use crate::server::store::inspect::*;
use crate::server::store::sessions::{SessionChannelRow, session_from_rows};
use crate::server::store::single::{SingleRequestRow, single_from_row};
use crate::server::store::{Caller, StoreError, StoreResult, StoredSession, StoredSingleRequest};

/// The record of `count` codes a verify decided on `channel` of `owner`: right ones
/// (`verified`) or wrong ones.
pub(super) fn decided_codes(
    owner: Owner,
    channel: Channel,
    verified: bool,
    count: u32,
    at: i64,
) -> impl Iterator<Item = Query> {
    let (session_id, request_id) = super::deliveries::owner_ids(owner);
    let result = if verified { "verified" } else { "wrong_code" };
    (0..count).map(move |_| {
        Query::new(
            "INSERT INTO verification_attempts (session_id, request_id, channel, result, at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session_id)
        .bind(request_id)
        .bind(channel.as_str())
        .bind(result)
        .bind(at)
    })
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    channel: String,
    status: String,
    error: Option<String>,
    provider: Option<String>,
    superseded: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct TryRow {
    delivery_id: i64,
    attempt: i64,
    at: i64,
    provider: String,
    outcome: String,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    channel: String,
    result: String,
    at: i64,
}

fn channel(name: &str) -> StoreResult<Channel> {
    Channel::parse(name).ok_or_else(|| StoreError::Corrupt(format!("channel `{name}`")))
}

#[async_trait]
impl<B: Backend> InspectStore for B {
    async fn session_by_public_id(
        &self,
        public_id: &str,
        tenant: Option<&str>,
    ) -> StoreResult<Option<StoredSession>> {
        let rows: Vec<SessionChannelRow> = self
            .reader()
            .await?
            .fetch_all(
                Query::new(SESSION_ROWS_BY_PUBLIC_ID)
                    .bind(public_id)
                    .bind(tenant),
            )
            .await?;
        session_from_rows(rows)
    }

    async fn request_by_id(
        &self,
        request_id: &str,
        tenant: Option<&str>,
    ) -> StoreResult<Option<StoredSingleRequest>> {
        let row: Option<SingleRequestRow> = self
            .reader()
            .await?
            .fetch_optional(Query::new(REQUEST_ROW_BY_ID).bind(request_id).bind(tenant))
            .await?;
        row.map(single_from_row).transpose()
    }

    async fn history(&self, owner: Owner) -> StoreResult<History> {
        let (column, id) = owner_column(owner);
        let mut reader = self.reader().await?;
        let messages: Vec<MessageRow> = reader
            .fetch_all(
                Query::text(format!(
                    "SELECT id, channel, status, error, provider, superseded, created_at,
                            updated_at
                     FROM deliveries WHERE {column} = $1 ORDER BY id"
                ))
                .bind(id),
            )
            .await?;
        let tries: Vec<TryRow> = reader
            .fetch_all(
                Query::text(format!(
                    "SELECT a.delivery_id, a.attempt, a.at, a.provider, a.outcome
                     FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                     WHERE d.{column} = $1 ORDER BY a.delivery_id, a.attempt"
                ))
                .bind(id),
            )
            .await?;
        let attempts: Vec<AttemptRow> = reader
            .fetch_all(
                Query::text(format!(
                    "SELECT channel, result, at FROM verification_attempts
                     WHERE {column} = $1 ORDER BY id"
                ))
                .bind(id),
            )
            .await?;
        let mut records = Vec::with_capacity(messages.len());
        for row in messages {
            records.push(MessageRecord {
                id: row.id,
                channel: channel(&row.channel)?,
                status: row.status,
                error: row.error,
                provider: row.provider,
                superseded: row.superseded == 1,
                created_at: row.created_at,
                updated_at: row.updated_at,
                tries: tries
                    .iter()
                    .filter(|t| t.delivery_id == row.id)
                    .map(|t| TryRecord {
                        attempt: t.attempt,
                        at: t.at,
                        provider: t.provider.clone(),
                        outcome: t.outcome.clone(),
                    })
                    .collect(),
            });
        }
        let attempts = attempts
            .into_iter()
            .map(|row| {
                Ok(AttemptRecord {
                    channel: channel(&row.channel)?,
                    verified: row.result == "verified",
                    at: row.at,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(History {
            messages: records,
            attempts,
        })
    }
}

#[derive(sqlx::FromRow)]
struct QueuedRow {
    id: i64,
    tenant: String,
    session_id: Option<String>,
    request_id: Option<String>,
    channel: String,
    recipient: String,
    status: String,
    error: Option<String>,
    attempts: i64,
    provider: Option<String>,
    superseded: i64,
    created_at: i64,
    updated_at: i64,
    next_attempt_at: i64,
    expires_at: i64,
}

impl QueuedRow {
    fn message(self) -> StoreResult<QueuedMessage> {
        Ok(QueuedMessage {
            id: self.id,
            tenant: self.tenant,
            session_id: self.session_id,
            request_id: self.request_id,
            channel: channel(&self.channel)?,
            recipient: self.recipient,
            status: self.status,
            error: self.error,
            attempts: self.attempts,
            provider: self.provider,
            superseded: self.superseded == 1,
            created_at: self.created_at,
            updated_at: self.updated_at,
            next_attempt_at: self.next_attempt_at,
            expires_at: self.expires_at,
        })
    }
}

#[async_trait]
impl<B: Backend> QueueStore for B {
    async fn queued_messages(&self, query: &DeliveryQuery<'_>) -> StoreResult<Vec<QueuedMessage>> {
        let mut sql = Query::new(
            "SELECT d.id, t.name AS tenant, s.public_id AS session_id, r.request_id, d.channel,
                    d.recipient, d.status, d.error, d.attempts, d.provider,
                    CAST(CASE WHEN d.superseded = 1 OR EXISTS (
                        SELECT 1 FROM deliveries n
                        WHERE n.session_id = d.session_id AND n.channel = d.channel
                          AND n.id > d.id) THEN 1 ELSE 0 END AS BIGINT) AS superseded,
                    d.created_at, d.updated_at, d.next_attempt_at, d.expires_at
             FROM deliveries d JOIN tenants t ON t.id = d.tenant_id
             LEFT JOIN sessions s ON s.id = d.session_id
             LEFT JOIN sms_requests r ON r.id = d.request_id
             WHERE 1 = 1",
        );
        if let Some(tenant) = query.tenant {
            sql = sql.push(" AND t.name = ").push_bind(tenant);
        }
        if let Some(status) = query.status {
            sql = sql.push(" AND d.status = ").push_bind(status);
        }
        if let Some(channel) = query.channel {
            sql = sql.push(" AND d.channel = ").push_bind(channel.as_str());
        }
        if let Some(provider) = query.provider {
            sql = sql.push(" AND d.provider = ").push_bind(provider);
        }
        if let Some(id) = query.id {
            sql = sql.push(" AND d.id = ").push_bind(id);
        }
        if let Some(before) = query.before_id {
            sql = sql.push(" AND d.id < ").push_bind(before);
        }
        let sql = sql
            .push(" ORDER BY d.id DESC LIMIT ")
            .push_bind(query.limit);
        let rows: Vec<QueuedRow> = self.reader().await?.fetch_all(sql).await?;
        rows.into_iter().map(QueuedRow::message).collect()
    }

    async fn cancel_message(
        &self,
        message: &QueuedMessage,
        shown: &str,
        by: &Caller,
        now: i64,
    ) -> StoreResult<bool> {
        let mut plan = Plan::new();
        plan.guard(
            Query::new(
                "UPDATE deliveries SET status = 'cancelled', sealed_code = NULL,
                     error = NULL, lease_until = NULL, updated_at = $1
                 WHERE id = $2 AND status = 'queued'",
            )
            .bind(now)
            .bind(message.id),
        );
        let owner = message
            .session_id
            .as_ref()
            .map(|id| json!({"session_id": id}))
            .or_else(|| {
                message
                    .request_id
                    .as_ref()
                    .map(|id| json!({"request_id": id}))
            });
        let mut after = json!({"status": "canceled", "channel": message.channel.as_str(),
                                "recipient": shown});
        if let (Some(after), Some(Value::Object(owner))) = (after.as_object_mut(), owner) {
            after.extend(owner);
        }
        plan.push(entry(
            by,
            About::Tenant(&message.tenant),
            "delivery.canceled",
            Some(format!("message {}", message.id)),
            Some(json!({"status": message.status})),
            Some(after),
            now,
        ));
        self.write(plan).await
    }
}

#[derive(sqlx::FromRow)]
struct ChannelOutcomeRow {
    tenant: String,
    owner_id: i64,
    single: i64,
    mode_all: i64,
    channel: String,
    recipient: String,
    created_at: i64,
    expires_at: i64,
    cancelled: i64,
    session_locked: i64,
    channel_locked: i64,
    verified_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct MessageOutcomeRow {
    tenant: String,
    channel: String,
    recipient: String,
    status: String,
    accepted: i64,
    created_at: i64,
    updated_at: i64,
}

#[async_trait]
impl<B: Backend> StatsStore for B {
    async fn channel_outcomes(
        &self,
        since: i64,
        until: i64,
        tenant: Option<&str>,
    ) -> StoreResult<Vec<ChannelOutcome>> {
        let rows: Vec<ChannelOutcomeRow> = self
            .reader()
            .await?
            .fetch_all(
                Query::new(
                    "SELECT t.name AS tenant, s.id AS owner_id, CAST(0 AS BIGINT) AS single,
                            CAST(CASE WHEN s.mode = 'all' THEN 1 ELSE 0 END AS BIGINT) AS mode_all,
                            c.channel, c.recipient, s.created_at, s.expires_at,
                            CAST(CASE WHEN s.cancelled_at IS NULL THEN 0 ELSE 1 END AS BIGINT)
                              AS cancelled,
                            CAST(CASE WHEN s.failed_attempts >= s.max_attempts THEN 1 ELSE 0 END
                                 AS BIGINT) AS session_locked,
                            CAST(CASE WHEN s.max_attempts_per_channel IS NOT NULL
                                       AND c.failed_attempts >= s.max_attempts_per_channel
                                 THEN 1 ELSE 0 END AS BIGINT) AS channel_locked,
                            c.verified_at
                     FROM sessions s JOIN tenants t ON t.id = s.tenant_id
                     JOIN session_channels c ON c.session_id = s.id
                     WHERE s.is_test = 0 AND s.created_at >= $1 AND s.created_at < $2
                       AND ($3 IS NULL OR t.name = $3)
                     UNION ALL
                     SELECT t.name, r.id, CAST(1 AS BIGINT), CAST(0 AS BIGINT), 'sms',
                            r.phone_number, r.created_at, r.expires_at, CAST(0 AS BIGINT),
                            CAST(CASE WHEN r.failed_attempts >= $4 THEN 1 ELSE 0 END AS BIGINT),
                            CAST(0 AS BIGINT), r.verified_at
                     FROM sms_requests r JOIN tenants t ON t.id = r.tenant_id
                     WHERE r.is_test = 0 AND r.created_at >= $1 AND r.created_at < $2
                       AND ($3 IS NULL OR t.name = $3)",
                )
                .bind(since)
                .bind(until)
                .bind(tenant)
                .bind(i64::from(crate::engine::single::SINGLE_MAX_ATTEMPTS)),
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ChannelOutcome {
                    tenant: row.tenant,
                    owner_id: row.owner_id,
                    single: row.single == 1,
                    mode_all: row.mode_all == 1,
                    channel: channel(&row.channel)?,
                    recipient: row.recipient,
                    created_at: row.created_at,
                    expires_at: row.expires_at,
                    cancelled: row.cancelled == 1,
                    session_locked: row.session_locked == 1,
                    channel_locked: row.channel_locked == 1,
                    verified_at: row.verified_at,
                })
            })
            .collect()
    }

    async fn message_outcomes(
        &self,
        since: i64,
        until: i64,
        tenant: Option<&str>,
    ) -> StoreResult<Vec<MessageOutcome>> {
        // Messages caught in the outbox (test keys, development mode) are not traffic.
        let rows: Vec<MessageOutcomeRow> = self
            .reader()
            .await?
            .fetch_all(
                Query::new(
                    "SELECT t.name AS tenant, d.channel, d.recipient, d.status,
                            CAST(CASE WHEN d.provider_message_id IS NULL THEN 0 ELSE 1 END
                                 AS BIGINT) AS accepted,
                            d.created_at, d.updated_at
                     FROM deliveries d JOIN tenants t ON t.id = d.tenant_id
                     WHERE (d.provider IS NULL OR d.provider <> 'outbox')
                       AND d.created_at >= $1 AND d.created_at < $2
                       AND ($3 IS NULL OR t.name = $3)",
                )
                .bind(since)
                .bind(until)
                .bind(tenant),
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(MessageOutcome {
                    tenant: row.tenant,
                    channel: channel(&row.channel)?,
                    recipient: row.recipient,
                    status: row.status,
                    accepted: row.accepted == 1,
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                })
            })
            .collect()
    }
}

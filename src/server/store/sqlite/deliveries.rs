//! The delivery queue in SQLite: messages written with their session or request, claimed by the
//! worker under a lease, finished with the provider's answer, moved forward by receipts, and
//! ended (their sealed codes erased) when a resend replaces them or their session ends.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
use super::statements::Statements;
use crate::engine::Channel;
use crate::engine::delivery::{DeliveryFailure, DeliveryStatus, DeliveryView, expiry_failure};
use crate::server::store::StoreResult;
use crate::server::store::deliveries::*;
use crate::server::store::flag;

/// Writes `messages` for `owner` (inside the caller's transaction): an outbox row and a `sent`
/// delivery for caught messages, a `queued` delivery with the sealed code for the others.
pub(super) async fn insert_messages(
    conn: &mut SqliteConnection,
    tenant_id: i64,
    is_test: bool,
    owner: Owner,
    expires_at: i64,
    now: i64,
    messages: &[NewMessage],
) -> StoreResult<BTreeMap<Channel, DeliveryView>> {
    let (session_id, request_id) = match owner {
        Owner::Session(id) => (Some(id), None),
        Owner::Request(id) => (None, Some(id)),
    };
    let mut views = BTreeMap::new();
    for message in messages {
        let (status, sealed, provider): (DeliveryStatus, Option<&[u8]>, Option<&str>) =
            match &message.route {
                NewRoute::Outbox { body, code } => {
                    sqlx::query(
                    "INSERT INTO outbox (tenant_id, session_id, request_id, is_test, channel, recipient, body, code, sent_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(tenant_id)
                .bind(session_id)
                .bind(request_id)
                .bind(flag(is_test))
                .bind(message.channel.as_str())
                .bind(&message.recipient)
                .bind(body)
                .bind(code)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                    (DeliveryStatus::Sent, None, Some("outbox"))
                }
                NewRoute::Provider { sealed_code } => {
                    (DeliveryStatus::Queued, Some(sealed_code.as_slice()), None)
                }
            };
        sqlx::query(
            "INSERT INTO deliveries (tenant_id, session_id, request_id, channel, recipient, sealed_code,
                 status, provider, next_attempt_at, expires_at, created_at, updated_at, queued_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant_id)
        .bind(session_id)
        .bind(request_id)
        .bind(message.channel.as_str())
        .bind(&message.recipient)
        .bind(sealed)
        .bind(status_name(status))
        .bind(provider)
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .bind(now)
        .bind(wall_clock_ms())
        .execute(&mut *conn)
        .await?;
        views.insert(message.channel, message.first_view(now));
    }
    Ok(views)
}

/// A resend replaced `channel`'s code: its queued message is never delivered, and one being
/// handed over is not retried.
pub(super) async fn replace_channel_messages(
    conn: &mut SqliteConnection,
    session_id: i64,
    channel: Channel,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', sealed_code = NULL, updated_at = ?
         WHERE session_id = ? AND channel = ? AND status = 'queued'",
    )
    .bind(now)
    .bind(session_id)
    .bind(channel.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE deliveries SET superseded = 1 WHERE session_id = ? AND channel = ? AND status = 'sending'",
    )
    .bind(session_id)
    .bind(channel.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The session ended (verified, locked, cancelled): messages not yet handed over are given up
/// and every sealed code of the session is erased.
pub(super) fn end_messages(statements: &mut Statements, owner: Owner, now: i64) {
    let (column, id) = match owner {
        Owner::Session(id) => ("session_id", id),
        Owner::Request(id) => ("request_id", id),
    };
    statements
        .push(&format!(
            "UPDATE deliveries SET status = 'failed', error = ?, sealed_code = NULL, updated_at = ?
             WHERE {column} = ? AND status = 'queued'"
        ))
        .bind(DeliveryFailure::ExpiredBeforeDelivery.as_str())
        .bind(now)
        .bind(id);
    statements
        .push(&format!(
            "UPDATE deliveries SET superseded = 1, sealed_code = NULL WHERE {column} = ? AND status = 'sending'"
        ))
        .bind(id);
}

/// Gives up every queued message whose session or request expired by `now`, erasing its code.
pub(super) async fn expire_overdue(conn: &mut SqliteConnection, now: i64) -> StoreResult<u64> {
    let overdue: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, attempts FROM deliveries WHERE status = 'queued' AND expires_at <= ?",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for (id, attempts) in &overdue {
        let failure = expiry_failure(u32::try_from(*attempts).unwrap_or(u32::MAX));
        sqlx::query(
            "UPDATE deliveries SET status = 'failed', error = ?, sealed_code = NULL, updated_at = ?
             WHERE id = ? AND status = 'queued'",
        )
        .bind(failure.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(overdue.len() as u64)
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn claim_due_deliveries(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE deliveries SET status = 'queued', lease_until = NULL
             WHERE status = 'sending' AND lease_until < ?",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        expire_overdue(&mut tx, now).await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE deliveries SET status = 'sending', lease_until = ?1, attempts = attempts + 1, updated_at = ?2
             WHERE id IN (SELECT id FROM deliveries WHERE status = 'queued' AND next_attempt_at <= ?2
                          ORDER BY next_attempt_at, id LIMIT ?3)
             RETURNING id",
        )
        .bind(now + lease_secs)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let row: ClaimedRow = sqlx::query_as(&format!(
                "SELECT {CLAIMED_COLUMNS} FROM deliveries d
                 JOIN tenants t ON t.id = d.tenant_id
                 LEFT JOIN sessions s ON s.id = d.session_id
                 LEFT JOIN sms_requests r ON r.id = d.request_id
                 WHERE d.id = ?"
            ))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            claimed.push(row.claimed()?);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'queued'",
        )
        .fetch_one(&mut *self.reader().await?)
        .await?)
    }

    async fn finish_attempt(
        &self,
        delivery: &ClaimedDelivery,
        provider: &str,
        result: &TryResult,
        now: i64,
    ) -> StoreResult<()> {
        let answered_at_ms = wall_clock_ms();
        let mut tx = self.begin_write().await?;
        let (outcome, detail) = match result {
            TryResult::Accepted { .. } => ("accepted", None),
            TryResult::Retry { detail, .. } => ("transient", Some(detail.as_str())),
            TryResult::Failed {
                detail, permanent, ..
            } => (
                if *permanent { "permanent" } else { "transient" },
                Some(detail.as_str()),
            ),
        };
        sqlx::query(
            "INSERT OR REPLACE INTO delivery_attempts (delivery_id, attempt, at, answered_at_ms, provider, outcome, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(delivery.id)
        .bind(i64::from(delivery.attempt))
        .bind(now)
        .bind(answered_at_ms)
        .bind(provider)
        .bind(outcome)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        match result {
            TryResult::Accepted {
                provider_message_id,
            } => {
                // Accepted, or further on when a receipt overtook this answer (held meanwhile).
                sqlx::query(
                    "UPDATE deliveries SET status = COALESCE(receipt_status, 'sent'), error = receipt_error,
                         sealed_code = NULL, lease_until = NULL,
                         provider = ?, provider_message_id = ?, updated_at = ?
                     WHERE id = ? AND status = 'sending'",
                )
                .bind(provider)
                .bind(provider_message_id)
                .bind(now)
                .bind(delivery.id)
                .execute(&mut *tx)
                .await?;
            }
            TryResult::Retry { at, .. } => {
                // A superseded message ends here: its code is dead.
                sqlx::query(
                    "UPDATE deliveries SET
                         status = CASE WHEN superseded = 1 THEN 'cancelled' ELSE 'queued' END,
                         sealed_code = CASE WHEN superseded = 1 THEN NULL ELSE sealed_code END,
                         next_attempt_at = ?, lease_until = NULL, provider = ?, updated_at = ?
                     WHERE id = ? AND status = 'sending'",
                )
                .bind(at)
                .bind(provider)
                .bind(now)
                .bind(delivery.id)
                .execute(&mut *tx)
                .await?;
            }
            TryResult::Failed { failure, .. } => {
                sqlx::query(
                    "UPDATE deliveries SET status = 'failed', error = ?, sealed_code = NULL,
                         lease_until = NULL, provider = ?, updated_at = ?
                     WHERE id = ? AND status = 'sending'",
                )
                .bind(failure.as_str())
                .bind(provider)
                .bind(now)
                .bind(delivery.id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn apply_receipt(
        &self,
        by: ReceiptKey<'_>,
        status: DeliveryStatus,
        error: Option<DeliveryFailure>,
        now: i64,
    ) -> StoreResult<ReceiptOutcome> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64, String, Option<String>)> = match by {
            ReceiptKey::Provider { provider, id } => {
                sqlx::query_as(
                    "SELECT id, status, receipt_status FROM deliveries
                     WHERE provider = ? AND provider_message_id = ?",
                )
                .bind(provider)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
            }
            ReceiptKey::Delivery(id) => {
                sqlx::query_as("SELECT id, status, receipt_status FROM deliveries WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        let Some((id, current, held)) = row else {
            return Ok(ReceiptOutcome::Unknown);
        };
        let sql = match receipt_move(&current, held.as_deref(), status) {
            ReceiptMove::Ignore => return Ok(ReceiptOutcome::Unchanged),
            ReceiptMove::Apply => {
                "UPDATE deliveries SET status = ?, error = ?, sealed_code = NULL, updated_at = ?
                 WHERE id = ?"
            }
            ReceiptMove::Hold => {
                "UPDATE deliveries SET receipt_status = ?, receipt_error = ?, receipt_at = ?
                 WHERE id = ?"
            }
        };
        sqlx::query(sql)
            .bind(status_name(status))
            .bind(error.map(DeliveryFailure::as_str))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ReceiptOutcome::Applied)
    }

    async fn session_deliveries(
        &self,
        session_id: i64,
    ) -> StoreResult<BTreeMap<Channel, DeliveryView>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT channel, status, error, attempts, updated_at FROM deliveries
             WHERE id IN (SELECT max(id) FROM deliveries WHERE session_id = ? GROUP BY channel)",
        )
        .bind(session_id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(delivery_views(rows))
    }

    async fn expire_deliveries(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let count = expire_overdue(&mut tx, now).await?;
        tx.commit().await?;
        Ok(count)
    }
}

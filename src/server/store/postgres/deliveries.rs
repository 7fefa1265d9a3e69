//! The delivery queue in PostgreSQL. Workers on every instance claim due messages with
//! `FOR UPDATE SKIP LOCKED` (a row another worker is claiming is skipped, never taken twice),
//! under a lease that a dead instance's messages run out of.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::PgConnection;

use super::PgStore;
use crate::engine::Channel;
use crate::engine::delivery::{DeliveryFailure, DeliveryStatus, DeliveryView, expiry_failure};
use crate::server::store::deliveries::*;
use crate::server::store::{StoreResult, flag};

/// Writes `messages` for `owner` inside the caller's transaction (see the SQLite store).
pub(super) async fn insert_messages(
    conn: &mut PgConnection,
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
                        "INSERT INTO outbox (tenant_id, session_id, request_id, is_test, channel,
                             recipient, body, code, sent_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $9, $11)",
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
    conn: &mut PgConnection,
    session_id: i64,
    channel: Channel,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE deliveries SET
             status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
             sealed_code = CASE WHEN status = 'queued' THEN NULL ELSE sealed_code END,
             updated_at = CASE WHEN status = 'queued' THEN $1 ELSE updated_at END,
             superseded = CASE WHEN status = 'sending' THEN 1 ELSE superseded END
         WHERE session_id = $2 AND channel = $3 AND status IN ('queued', 'sending')",
    )
    .bind(now)
    .bind(session_id)
    .bind(channel.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The session or request ended: messages not yet handed over are given up and every sealed
/// code is erased.
pub(super) async fn end_messages(
    conn: &mut PgConnection,
    owner: Owner,
    now: i64,
) -> StoreResult<()> {
    let (column, id) = match owner {
        Owner::Session(id) => ("session_id", id),
        Owner::Request(id) => ("request_id", id),
    };
    sqlx::query(&format!(
        "UPDATE deliveries SET
             status = CASE WHEN status = 'queued' THEN 'failed' ELSE status END,
             error = CASE WHEN status = 'queued' THEN $1 ELSE error END,
             updated_at = CASE WHEN status = 'queued' THEN $2 ELSE updated_at END,
             superseded = CASE WHEN status = 'sending' THEN 1 ELSE superseded END,
             sealed_code = NULL
         WHERE {column} = $3 AND status IN ('queued', 'sending')"
    ))
    .bind(DeliveryFailure::ExpiredBeforeDelivery.as_str())
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gives up every queued message whose session or request expired by `now`, erasing its code.
pub(super) async fn expire_overdue(conn: &mut PgConnection, now: i64) -> StoreResult<u64> {
    // The failure depends on whether the message was ever tried: one statement per kind.
    let never_tried = expiry_failure(0);
    let tried = expiry_failure(1);
    let expired = sqlx::query(
        "UPDATE deliveries SET status = 'failed', sealed_code = NULL, updated_at = $1,
             error = CASE WHEN attempts = 0 THEN $2 ELSE $3 END
         WHERE status = 'queued' AND expires_at <= $1",
    )
    .bind(now)
    .bind(never_tried.as_str())
    .bind(tried.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(expired.rows_affected())
}

#[async_trait]
impl DeliveryStore for PgStore {
    async fn claim_due_deliveries(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let mut tx = self.pool.begin().await?;
        // Leases that ran out (their worker died) go back to the queue; rows another worker
        // holds are skipped rather than waited for.
        sqlx::query(
            "UPDATE deliveries SET status = 'queued', lease_until = NULL
             WHERE id IN (SELECT id FROM deliveries WHERE status = 'sending' AND lease_until < $1
                          FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        expire_overdue(&mut tx, now).await?;
        let rows: Vec<ClaimedRow> = sqlx::query_as(&format!(
            "WITH claimed AS (
                 UPDATE deliveries SET status = 'sending', lease_until = $1,
                     attempts = attempts + 1, updated_at = $2
                 WHERE id IN (SELECT id FROM deliveries
                              WHERE status = 'queued' AND next_attempt_at <= $2
                              ORDER BY next_attempt_at, id LIMIT $3
                              FOR UPDATE SKIP LOCKED)
                 RETURNING *)
             SELECT {CLAIMED_COLUMNS} FROM claimed d
             JOIN tenants t ON t.id = d.tenant_id
             LEFT JOIN sessions s ON s.id = d.session_id
             LEFT JOIN sms_requests r ON r.id = d.request_id
             ORDER BY d.next_attempt_at, d.id"
        ))
        .bind(now + lease_secs)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(ClaimedRow::claimed).collect()
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'queued'",
        )
        .fetch_one(&self.pool)
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
        let mut tx = self.pool.begin().await?;
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
            "INSERT INTO delivery_attempts (delivery_id, attempt, at, answered_at_ms, provider, outcome, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (delivery_id, attempt) DO UPDATE SET at = EXCLUDED.at,
                 answered_at_ms = EXCLUDED.answered_at_ms, provider = EXCLUDED.provider,
                 outcome = EXCLUDED.outcome, detail = EXCLUDED.detail",
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
                         provider = $1, provider_message_id = $2, updated_at = $3
                     WHERE id = $4 AND status = 'sending'",
                )
                .bind(provider)
                .bind(provider_message_id)
                .bind(now)
                .bind(delivery.id)
                .execute(&mut *tx)
                .await?;
            }
            TryResult::Retry { at, .. } => {
                sqlx::query(
                    "UPDATE deliveries SET
                         status = CASE WHEN superseded = 1 THEN 'cancelled' ELSE 'queued' END,
                         sealed_code = CASE WHEN superseded = 1 THEN NULL ELSE sealed_code END,
                         next_attempt_at = $1, lease_until = NULL, provider = $2, updated_at = $3
                     WHERE id = $4 AND status = 'sending'",
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
                    "UPDATE deliveries SET status = 'failed', error = $1, sealed_code = NULL,
                         lease_until = NULL, provider = $2, updated_at = $3
                     WHERE id = $4 AND status = 'sending'",
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
        let mut tx = self.pool.begin().await?;
        // The row is locked while the move is decided, so two receipts for one message (a
        // provider retrying its callback to two instances) apply in turn.
        let row: Option<(i64, String, Option<String>)> =
            match by {
                ReceiptKey::Provider { provider, id } => {
                    sqlx::query_as(
                        "SELECT id, status, receipt_status FROM deliveries
                         WHERE provider = $1 AND provider_message_id = $2 FOR UPDATE",
                    )
                    .bind(provider)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                ReceiptKey::Delivery(id) => sqlx::query_as(
                    "SELECT id, status, receipt_status FROM deliveries WHERE id = $1 FOR UPDATE",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?,
            };
        let Some((id, current, held)) = row else {
            return Ok(ReceiptOutcome::Unknown);
        };
        let sql = match receipt_move(&current, held.as_deref(), status) {
            ReceiptMove::Ignore => return Ok(ReceiptOutcome::Unchanged),
            ReceiptMove::Apply => {
                "UPDATE deliveries SET status = $1, error = $2, sealed_code = NULL, updated_at = $3
                 WHERE id = $4"
            }
            ReceiptMove::Hold => {
                "UPDATE deliveries SET receipt_status = $1, receipt_error = $2, receipt_at = $3
                 WHERE id = $4"
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
            "SELECT DISTINCT ON (channel) channel, status, error, attempts, updated_at
             FROM deliveries WHERE session_id = $1 ORDER BY channel, id DESC",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(delivery_views(rows))
    }

    async fn expire_deliveries(&self, now: i64) -> StoreResult<u64> {
        let mut conn = self.pool.acquire().await?;
        expire_overdue(&mut conn, now).await
    }
}

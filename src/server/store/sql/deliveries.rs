//! The delivery queue, for both stores: messages written with their session or request, claimed
//! by a worker under a lease, finished with the provider's answer, moved forward by receipts,
//! and ended (their sealed codes erased) when a resend replaces them or their session ends.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::events::{MessageOwner, fan_out, fan_out_if, message_moved};
use super::{Backend, Connection, Plan, Query};
use crate::engine::Channel;
use crate::engine::delivery::{DeliveryFailure, DeliveryStatus, DeliveryView, expiry_failure};
use crate::engine::webhook::EventType;
use crate::server::store::deliveries::*;
use crate::server::store::{StoreError, StoreResult, flag};

/// The owner's column and ID: what a message or a limit event belongs to.
pub(super) fn owner_column(owner: Owner) -> (&'static str, i64) {
    match owner {
        Owner::Session(id) => ("session_id", id),
        Owner::Request(id) => ("request_id", id),
    }
}

/// The owner as the two nullable columns a row carries.
pub(super) fn owner_ids(owner: Owner) -> (Option<i64>, Option<i64>) {
    match owner {
        Owner::Session(id) => (Some(id), None),
        Owner::Request(id) => (None, Some(id)),
    }
}

/// A send's owner as its rows name it: by ID once it exists, or by the key of the session or
/// request that the same plan inserts before them (a plan's statements run without an answer
/// in between, so a new row's ID cannot be passed on; its unique key can).
#[derive(Clone, Copy, Debug)]
pub(super) enum OwnerRef<'a> {
    Id(Owner),
    NewSession { token_hash: &'a [u8] },
    NewRequest { request_id: &'a str },
}

/// The `session_id` and `request_id` a send's row carries, over four placeholders from `$2`
/// (see `bind_owner`): each the ID given, or the one found by the key given.
macro_rules! owner_values {
    () => {
        "COALESCE($2, (SELECT id FROM sessions WHERE token_hash = $3)),
         COALESCE($4, (SELECT id FROM sms_requests WHERE request_id = $5))"
    };
}
pub(super) use owner_values;

/// Binds `owner_values!`' four placeholders, in order.
pub(super) fn bind_owner(query: Query, owner: OwnerRef<'_>) -> Query {
    let (session_id, token_hash, request_id, request_key) = match owner {
        OwnerRef::Id(Owner::Session(id)) => (Some(id), None, None, None),
        OwnerRef::Id(Owner::Request(id)) => (None, None, Some(id), None),
        OwnerRef::NewSession { token_hash } => (None, Some(token_hash), None, None),
        OwnerRef::NewRequest { request_id } => (None, None, None, Some(request_id)),
    };
    query
        .bind(session_id)
        .bind(token_hash)
        .bind(request_id)
        .bind(request_key)
}

/// Appends the writes of `messages` for `owner`: an outbox row and a `sent` delivery for
/// caught messages, a `queued` delivery with the sealed code for the others. How each message
/// stands once written.
pub(super) fn insert_messages(
    plan: &mut Plan,
    tenant_id: i64,
    is_test: bool,
    owner: OwnerRef<'_>,
    expires_at: i64,
    now: i64,
    messages: &[NewMessage],
) -> BTreeMap<Channel, DeliveryView> {
    let mut views = BTreeMap::new();
    for message in messages {
        let (status, sealed, provider): (DeliveryStatus, Option<&[u8]>, Option<&str>) =
            match &message.route {
                NewRoute::Outbox { body, code } => {
                    let insert = Query::new(concat!(
                        "INSERT INTO outbox (tenant_id, session_id, request_id, is_test, channel,
                             recipient, body, code, sent_at)
                         VALUES ($1, ",
                        owner_values!(),
                        ", $6, $7, $8, $9, $10, $11)"
                    ))
                    .bind(tenant_id);
                    plan.push(
                        bind_owner(insert, owner)
                            .bind(flag(is_test))
                            .bind(message.channel.as_str())
                            .bind(&message.recipient)
                            .bind(body)
                            .bind(code)
                            .bind(now),
                    );
                    (DeliveryStatus::Sent, None, Some("outbox"))
                }
                NewRoute::Provider { sealed_code } => {
                    (DeliveryStatus::Queued, Some(sealed_code.as_slice()), None)
                }
            };
        let insert = Query::new(concat!(
            "INSERT INTO deliveries (tenant_id, session_id, request_id, channel, recipient,
                 sealed_code, status, provider, next_attempt_at, expires_at, created_at,
                 updated_at, queued_at_ms)
             VALUES ($1, ",
            owner_values!(),
            ", $6, $7, $8, $9, $10, $11, $12, $11, $11, $13)"
        ))
        .bind(tenant_id);
        plan.push(
            bind_owner(insert, owner)
                .bind(message.channel.as_str())
                .bind(&message.recipient)
                .bind(sealed)
                .bind(status_name(status))
                .bind(provider)
                .bind(now)
                .bind(expires_at)
                .bind(wall_clock_ms()),
        );
        views.insert(message.channel, message.first_view(now));
    }
    views
}

/// A resend replaced `channel`'s code: its queued message is never delivered, and one being
/// handed over is not retried.
pub(super) fn replace_channel_messages(session_id: i64, channel: Channel, now: i64) -> Query {
    Query::new(
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
}

/// A message failed for good: its session's fallback, if it has one waiting, moves on at once
/// (the fallback pass sends the next channel).
pub(super) fn fallback_now(delivery_id: i64, now: i64) -> Query {
    Query::new(
        "UPDATE sessions SET fallback_due_at = $1
         WHERE fallback_due_at > $1
           AND id = (SELECT session_id FROM deliveries WHERE id = $2)",
    )
    .bind(now)
    .bind(delivery_id)
}

/// The session or request ended (verified, locked, cancelled): messages not yet handed over
/// are given up, and every sealed code of it is erased.
pub(super) fn end_messages(owner: Owner, now: i64) -> Query {
    let (column, id) = owner_column(owner);
    Query::text(format!(
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
}

/// Gives up every queued message whose session or request expired by `now`, erasing its code;
/// the failure says whether it was ever tried.
pub(super) fn expire_overdue(now: i64) -> Query {
    Query::new(
        "UPDATE deliveries SET status = 'failed', sealed_code = NULL, updated_at = $1,
             error = CASE WHEN attempts = 0 THEN $2 ELSE $3 END
         WHERE status = 'queued' AND expires_at <= $1",
    )
    .bind(now)
    .bind(expiry_failure(0).as_str())
    .bind(expiry_failure(1).as_str())
}

/// How a delivery stands when a receipt comes, and the receipt held for it, if any.
#[derive(sqlx::FromRow)]
struct ReceiptTarget {
    id: i64,
    status: String,
    receipt_status: Option<String>,
    channel: String,
    provider: Option<String>,
    updated_at: i64,
    tenant_id: i64,
    recipient: String,
    tenant_name: String,
    session_public_id: Option<String>,
    request_id: Option<String>,
    is_test: i64,
}

/// What a receipt reads of its message (`m`): how it stands, and whose it is (for its event).
/// The owner's columns come from subqueries, so that PostgreSQL locks the message's row alone.
const RECEIPT_TARGET: &str = "SELECT m.id, m.status, m.receipt_status, m.channel, m.provider,
        m.updated_at, m.tenant_id, m.recipient,
        (SELECT name FROM tenants WHERE id = m.tenant_id) AS tenant_name,
        (SELECT public_id FROM sessions WHERE id = m.session_id) AS session_public_id,
        (SELECT request_id FROM sms_requests WHERE id = m.request_id) AS request_id,
        COALESCE((SELECT is_test FROM sessions WHERE id = m.session_id),
                 (SELECT is_test FROM sms_requests WHERE id = m.request_id)) AS is_test
    FROM deliveries m";

#[derive(sqlx::FromRow)]
struct QueueRow {
    channel: String,
    depth: i64,
    oldest: Option<i64>,
}

#[async_trait]
impl<B: Backend> DeliveryStore for B {
    async fn claim_due_deliveries(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let mut tx = self.begin().await?;
        B::release_lapsed_leases(&mut tx, now).await?;
        tx.execute(expire_overdue(now)).await?;
        let rows = B::lease_due(&mut tx, now, limit, lease_secs).await?;
        B::commit(tx).await?;
        rows.into_iter().map(ClaimedRow::claimed).collect()
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<i64>> {
        let (due,): (Option<i64>,) = self
            .reader()
            .await?
            .fetch_one(Query::new(
                "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'queued'",
            ))
            .await?;
        Ok(due)
    }

    async fn finish_attempt(
        &self,
        delivery: &ClaimedDelivery,
        provider: &str,
        result: &TryResult,
        now: i64,
    ) -> StoreResult<()> {
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
        let mut plan = Plan::new();
        // What the try tells of, written only while the message is still this worker's (as the
        // update below is).
        let told = match result {
            TryResult::Accepted { .. } => Some((EventType::MessageSent, None)),
            TryResult::Failed { failure, .. } => {
                Some((EventType::MessageFailed, Some(failure.as_str())))
            }
            TryResult::Retry { .. } => None,
        };
        if let Some((kind, error)) = told {
            let owner = MessageOwner {
                tenant: &delivery.tenant_name,
                test: delivery.is_test,
                session_id: delivery.session_public_id.as_deref(),
                request_id: delivery.request_id.as_deref(),
            };
            let event = message_moved(
                owner,
                delivery.channel,
                &delivery.recipient,
                Some(provider),
                kind,
                error,
                now,
            );
            let still_ours = |query: Query| {
                query
                    .push("EXISTS (SELECT 1 FROM deliveries WHERE id = ")
                    .push_bind(delivery.id)
                    .push(" AND status = 'sending')")
            };
            if let Some(query) = fan_out_if(delivery.tenant_id, &[event], now, still_ours) {
                plan.push(query);
            }
        }
        // A try recorded again (a lease that ran out while its answer was on the way) keeps
        // the later answer.
        plan.push(
            Query::new(
                "INSERT INTO delivery_attempts (delivery_id, attempt, at, answered_at_ms, provider,
                     outcome, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (delivery_id, attempt) DO UPDATE SET at = excluded.at,
                     answered_at_ms = excluded.answered_at_ms, provider = excluded.provider,
                     outcome = excluded.outcome, detail = excluded.detail",
            )
            .bind(delivery.id)
            .bind(i64::from(delivery.attempt))
            .bind(now)
            .bind(wall_clock_ms())
            .bind(provider)
            .bind(outcome)
            .bind(detail),
        );
        plan.push(match result {
            // Accepted, or further on when a receipt overtook this answer (held meanwhile).
            TryResult::Accepted {
                provider_message_id,
            } => Query::new(
                "UPDATE deliveries SET status = COALESCE(receipt_status, 'sent'),
                     error = receipt_error, sealed_code = NULL, lease_until = NULL,
                     provider = $1, provider_message_id = $2, updated_at = $3
                 WHERE id = $4 AND status = 'sending'",
            )
            .bind(provider)
            .bind(provider_message_id.as_deref())
            .bind(now)
            .bind(delivery.id),
            // A superseded message ends here: its code is dead.
            TryResult::Retry { at, .. } => Query::new(
                "UPDATE deliveries SET
                     status = CASE WHEN superseded = 1 THEN 'cancelled' ELSE 'queued' END,
                     sealed_code = CASE WHEN superseded = 1 THEN NULL ELSE sealed_code END,
                     next_attempt_at = $1, lease_until = NULL, provider = $2, updated_at = $3
                 WHERE id = $4 AND status = 'sending'",
            )
            .bind(*at)
            .bind(provider)
            .bind(now)
            .bind(delivery.id),
            TryResult::Failed { failure, .. } => Query::new(
                "UPDATE deliveries SET status = 'failed', error = $1, sealed_code = NULL,
                     lease_until = NULL, provider = $2, updated_at = $3
                 WHERE id = $4 AND status = 'sending'",
            )
            .bind(failure.as_str())
            .bind(provider)
            .bind(now)
            .bind(delivery.id),
        });
        if matches!(result, TryResult::Failed { .. }) {
            plan.push(fallback_now(delivery.id, now));
        }
        self.write(plan).await?;
        Ok(())
    }

    async fn apply_receipt(
        &self,
        by: ReceiptKey<'_>,
        status: DeliveryStatus,
        error: Option<DeliveryFailure>,
        now: i64,
    ) -> StoreResult<(ReceiptOutcome, Option<MovedMessage>)> {
        let mut tx = self.begin().await?;
        // The row is read locked while the move is decided, so two receipts for one message (a
        // provider retrying its callback to two instances) apply in turn.
        let lookup = match by {
            ReceiptKey::Provider { provider, id } => Query::text(format!(
                "{RECEIPT_TARGET} WHERE m.provider = $1 AND m.provider_message_id = $2{}",
                B::LOCK_ROWS
            ))
            .bind(provider)
            .bind(id),
            ReceiptKey::Delivery(id) => {
                Query::text(format!("{RECEIPT_TARGET} WHERE m.id = $1{}", B::LOCK_ROWS)).bind(id)
            }
        };
        let Some(target) = tx.fetch_optional::<ReceiptTarget>(lookup).await? else {
            return Ok((ReceiptOutcome::Unknown, None));
        };
        let moved = MovedMessage {
            channel: Channel::parse(&target.channel)
                .ok_or_else(|| StoreError::Corrupt(format!("channel `{}`", target.channel)))?,
            provider: target.provider.clone(),
            // The row last changed when the provider accepted the message.
            accepted_at: (target.status == status_name(DeliveryStatus::Sent))
                .then_some(target.updated_at),
        };
        let sql = match receipt_move(&target.status, target.receipt_status.as_deref(), status) {
            ReceiptMove::Ignore => return Ok((ReceiptOutcome::Unchanged, None)),
            ReceiptMove::Apply => {
                "UPDATE deliveries SET status = $1, error = $2, sealed_code = NULL, updated_at = $3
                 WHERE id = $4"
            }
            ReceiptMove::Hold => {
                "UPDATE deliveries SET receipt_status = $1, receipt_error = $2, receipt_at = $3
                 WHERE id = $4"
            }
        };
        tx.execute(
            Query::new(sql)
                .bind(status_name(status))
                .bind(error.map(DeliveryFailure::as_str))
                .bind(now)
                .bind(target.id),
        )
        .await?;
        if status == DeliveryStatus::Failed {
            tx.execute(fallback_now(target.id, now)).await?;
        }
        // A final receipt tells of itself, also one held while its message is being handed
        // over (the acceptance then tells only of the send: events are not ordered).
        let kind = match status {
            DeliveryStatus::Delivered => Some(EventType::MessageDelivered),
            DeliveryStatus::Failed => Some(EventType::MessageFailed),
            _ => None,
        };
        if let Some(kind) = kind {
            let owner = MessageOwner {
                tenant: &target.tenant_name,
                test: target.is_test == 1,
                session_id: target.session_public_id.as_deref(),
                request_id: target.request_id.as_deref(),
            };
            let event = message_moved(
                owner,
                moved.channel,
                &target.recipient,
                target.provider.as_deref(),
                kind,
                error.map(DeliveryFailure::as_str),
                now,
            );
            if let Some(query) = fan_out(target.tenant_id, &[event], now) {
                tx.execute(query).await?;
            }
        }
        B::commit(tx).await?;
        Ok((ReceiptOutcome::Applied, Some(moved)))
    }

    async fn queue_figures(&self) -> StoreResult<Vec<QueueFigure>> {
        let rows: Vec<QueueRow> = self
            .reader()
            .await?
            .fetch_all(Query::new(
                "SELECT channel, COUNT(*) AS depth, MIN(queued_at_ms) AS oldest FROM deliveries
                 WHERE status = 'queued' GROUP BY channel",
            ))
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(QueueFigure {
                    channel: Channel::parse(&row.channel)
                        .ok_or_else(|| StoreError::Corrupt(format!("channel `{}`", row.channel)))?,
                    depth: u64::try_from(row.depth).unwrap_or(0),
                    oldest_queued_at_ms: row.oldest,
                })
            })
            .collect()
    }

    async fn session_deliveries(
        &self,
        session_id: i64,
    ) -> StoreResult<BTreeMap<Channel, DeliveryView>> {
        let rows: Vec<DeliveryRow> = self
            .reader()
            .await?
            .fetch_all(
                Query::new(
                    "SELECT channel, status, error, attempts, updated_at FROM deliveries
                     WHERE id IN (SELECT max(id) FROM deliveries WHERE session_id = $1
                                  GROUP BY channel)",
                )
                .bind(session_id),
            )
            .await?;
        Ok(delivery_views(rows))
    }

    async fn expire_deliveries(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let expired = tx.execute(expire_overdue(now)).await?;
        B::commit(tx).await?;
        Ok(expired)
    }
}

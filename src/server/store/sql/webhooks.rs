//! Webhook endpoints and deliveries, for both stores: endpoints kept and audited, deliveries
//! claimed under a lease (skipping each other's rows on PostgreSQL), finished with their
//! attempts, listed, sent again; and the expiry pass, which tells of the sessions and requests
//! that ran out, moving a guarded cursor so that no expiry is told of twice.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::audit::{About, entry};
use super::events::{fan_out, request_expired, session_expired};
use super::sessions::SESSION_ROWS_EXPIRED;
use super::single::REQUEST_ROWS_EXPIRED;
use super::{Backend, Connection, Plan, Query};
use crate::engine::session::SessionStatus;
use crate::engine::webhook::{EventType, Verdict};
use crate::server::events::Event;
use crate::server::store::sessions::{SessionChannelRow, session_from_rows};
use crate::server::store::single::{SingleRequestRow, single_from_row};
use crate::server::store::webhooks::*;
use crate::server::store::{Caller, StoreError, StoreResult, wall_clock_ms};

/// An endpoint as both stores read it.
#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: i64,
    tenant: String,
    url: String,
    event_types: Option<String>,
    description: String,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    failing_since: Option<i64>,
    previous_until: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const ENDPOINT_COLUMNS: &str = "w.id, t.name AS tenant, w.url, w.event_types, w.description,
    w.disabled_at, w.disabled_reason, w.failing_since, w.previous_until, w.created_at,
    w.updated_at";

/// The stored form of an endpoint's types: a JSON array of their names, or NULL for all.
fn types_column(types: Option<&[EventType]>) -> Option<String> {
    types.map(|types| Value::from(types.iter().map(|t| t.as_str()).collect::<Vec<_>>()).to_string())
}

fn parse_types(column: Option<&str>) -> StoreResult<Option<Vec<EventType>>> {
    column
        .map(|text| {
            let names: Vec<String> = serde_json::from_str(text)
                .map_err(|e| StoreError::Corrupt(format!("webhook event types: {e}")))?;
            names
                .iter()
                .map(|name| {
                    EventType::parse(name)
                        .ok_or_else(|| StoreError::Corrupt(format!("event type `{name}`")))
                })
                .collect()
        })
        .transpose()
}

impl EndpointRow {
    fn info(self) -> StoreResult<EndpointInfo> {
        Ok(EndpointInfo {
            event_types: parse_types(self.event_types.as_deref())?,
            id: self.id,
            tenant: self.tenant,
            url: self.url,
            description: self.description,
            disabled_at: self.disabled_at,
            disabled_reason: self.disabled_reason,
            failing_since: self.failing_since,
            previous_until: self.previous_until,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// What an audit entry says of an endpoint's settings (never its secret).
fn settings_of(url: &str, types: Option<&[EventType]>, description: &str) -> Value {
    json!({
        "url": url,
        "events": types.map(|t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>()),
        "description": description,
    })
}

fn webhook_target(id: i64) -> Option<String> {
    Some(format!("webhook {id}"))
}

/// A claimed delivery's row.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    endpoint_id: i64,
    event_id: String,
    event_type: String,
    body: String,
    attempts: i64,
    scheduled_from: i64,
    created_at_ms: i64,
}

/// The endpoint of claimed deliveries: where and with what to sign.
#[derive(sqlx::FromRow)]
struct SigningRow {
    id: i64,
    tenant_id: i64,
    url: String,
    secret_sealed: Vec<u8>,
    previous_sealed: Option<Vec<u8>>,
    previous_until: Option<i64>,
    failing_since: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    endpoint_id: i64,
    event_id: String,
    event_type: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
    body: String,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: i64,
    at: i64,
    duration_ms: i64,
    status: Option<i64>,
    error: Option<String>,
    response: Option<String>,
}

impl AttemptRow {
    fn attempt(&self) -> WebhookAttempt {
        WebhookAttempt {
            at: self.at,
            duration_ms: self.duration_ms,
            status: self.status.and_then(|s| u16::try_from(s).ok()),
            error: self.error.clone(),
            response: self.response.clone(),
        }
    }
}

/// `IN ($n, $n+1, …)` over `ids`, appended to `query`.
fn push_ids(mut query: Query, ids: &[i64]) -> Query {
    query = query.push(" IN (");
    for (index, id) in ids.iter().enumerate() {
        if index > 0 {
            query = query.push(", ");
        }
        query = query.push_bind(*id);
    }
    query.push(")")
}

/// Disables an endpoint for otpgate's own reason, in the caller's transaction: its pending
/// deliveries are skipped (a replay may send them once it is enabled again), and the change is
/// audited. Nothing when it is already disabled.
async fn disable<B: Backend>(
    tx: &mut B::Conn,
    id: i64,
    reason: &str,
    now: i64,
    by: &Caller,
) -> StoreResult<bool> {
    let disabled: Option<i64> = tx
        .fetch_value(
            Query::new(
                "UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2,
                     updated_at = $1
                 WHERE id = $3 AND disabled_at IS NULL RETURNING tenant_id",
            )
            .bind(now)
            .bind(reason)
            .bind(id),
        )
        .await?;
    let Some(tenant_id) = disabled else {
        return Ok(false);
    };
    tx.execute(
        Query::new(
            "UPDATE webhook_deliveries SET status = 'skipped', lease_until = NULL
             WHERE endpoint_id = $1 AND status = 'pending'",
        )
        .bind(id),
    )
    .await?;
    tx.execute(entry(
        by,
        About::TenantId(tenant_id),
        "webhook.disabled",
        webhook_target(id),
        Some(json!({"enabled": true})),
        Some(json!({"enabled": false, "reason": reason})),
        now,
    ))
    .await?;
    Ok(true)
}

/// Appends to `plan` what one try of a claimed delivery writes: the attempt, the delivery's new
/// state (only while it is still this worker's), the endpoint's run of failures.
fn finish_plan(plan: &mut Plan, claimed: &ClaimedWebhook, outcome: &WebhookOutcome, now: i64) {
    let attempt = &outcome.attempt;
    plan.push(
        Query::new(
            "INSERT INTO webhook_attempts (delivery_id, at, duration_ms, status, error, response)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(claimed.id)
        .bind(attempt.at)
        .bind(attempt.duration_ms)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(attempt.response.as_deref()),
    );
    let (status, next, finished) = match outcome.verdict {
        Verdict::Delivered => ("delivered", now, Some(now)),
        Verdict::Retry { at } => ("pending", at, None),
        Verdict::GiveUp | Verdict::Gone => ("failed", now, Some(now)),
    };
    plan.push(
        Query::new(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, lease_until = NULL,
                 last_status = $3, last_error = $4, finished_at = $5
             WHERE id = $6 AND status = 'sending'",
        )
        .bind(status)
        .bind(next)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(finished)
        .bind(claimed.id),
    );
    // The endpoint's run of failures: ended by a success, begun by a first failure.
    plan.push(if matches!(outcome.verdict, Verdict::Delivered) {
        Query::new(
            "UPDATE webhook_endpoints SET failing_since = NULL
             WHERE id = $1 AND failing_since IS NOT NULL",
        )
        .bind(claimed.endpoint_id)
    } else {
        Query::new(
            "UPDATE webhook_endpoints SET failing_since = $1
             WHERE id = $2 AND failing_since IS NULL",
        )
        .bind(now)
        .bind(claimed.endpoint_id)
    });
}

/// How far the expiry pass has looked at one table.
#[derive(sqlx::FromRow)]
struct CursorRow {
    expired_until: i64,
    last_id: i64,
}

async fn read_cursor<B: Backend>(tx: &mut B::Conn, name: &str) -> StoreResult<CursorRow> {
    tx.fetch_optional(
        Query::text(format!(
            "SELECT expired_until, last_id FROM event_cursors WHERE name = $1{}",
            B::LOCK_ROWS
        ))
        .bind(name),
    )
    .await?
    .ok_or_else(|| StoreError::Corrupt(format!("no event cursor `{name}`")))
}

async fn move_cursor(
    tx: &mut impl Connection,
    name: &str,
    from: &CursorRow,
    to: (i64, i64),
) -> StoreResult<bool> {
    Ok(tx
        .execute(
            Query::new(
                "UPDATE event_cursors SET expired_until = $1, last_id = $2
                 WHERE name = $3 AND expired_until = $4 AND last_id = $5",
            )
            .bind(to.0)
            .bind(to.1)
            .bind(name)
            .bind(from.expired_until)
            .bind(from.last_id),
        )
        .await?
        == 1)
}

/// Whether anything in `table` (`sessions` or `sms_requests`) expired after the expiry pass's
/// cursor and by `until`: read without the write lock, so that an idle pass takes none.
async fn expired_since_cursor<B: Backend>(store: &B, table: &str, until: i64) -> StoreResult<bool> {
    let found: Option<i64> = store
        .reader()
        .await?
        .fetch_value(
            Query::text(format!(
                "SELECT CAST(1 AS BIGINT) FROM {table} t JOIN event_cursors c ON c.name = $1
                 WHERE (t.expires_at > c.expired_until
                        OR (t.expires_at = c.expired_until AND t.id > c.last_id))
                   AND t.expires_at <= $2
                 LIMIT 1"
            ))
            .bind(table)
            .bind(until),
        )
        .await?;
    Ok(found.is_some())
}

/// Writes the events of the expiry pass, grouped by tenant.
async fn write_events(
    tx: &mut impl Connection,
    events: BTreeMap<i64, Vec<Event>>,
    now: i64,
) -> StoreResult<()> {
    for (tenant_id, events) in events {
        if let Some(query) = fan_out(tenant_id, &events, now) {
            tx.execute(query).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl<B: Backend> WebhookStore for B {
    async fn create_endpoint(&self, new: &NewEndpoint<'_>, by: &Caller) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let id: Option<i64> = tx
            .fetch_value(
                Query::new(
                    "INSERT INTO webhook_endpoints (tenant_id, url, event_types, description,
                         secret_sealed, created_at, updated_at)
                     SELECT id, $2, $3, $4, $5, $6, $6 FROM tenants WHERE name = $1
                     RETURNING id",
                )
                .bind(new.tenant)
                .bind(new.url)
                .bind(types_column(new.event_types).as_deref())
                .bind(new.description)
                .bind(new.secret_sealed)
                .bind(new.created_at),
            )
            .await?;
        let id =
            id.ok_or_else(|| StoreError::NotFound(format!("no tenant named `{}`", new.tenant)))?;
        tx.execute(entry(
            by,
            About::Tenant(new.tenant),
            "webhook.created",
            webhook_target(id),
            None,
            Some(settings_of(new.url, new.event_types, new.description)),
            new.created_at,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(id)
    }

    async fn endpoints(&self, tenant: Option<&str>) -> StoreResult<Vec<EndpointInfo>> {
        let rows: Vec<EndpointRow> = self
            .reader()
            .await?
            .fetch_all(
                Query::text(format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints w
                     JOIN tenants t ON t.id = w.tenant_id
                     WHERE $1 IS NULL OR t.name = $1 ORDER BY w.id"
                ))
                .bind(tenant),
            )
            .await?;
        rows.into_iter().map(EndpointRow::info).collect()
    }

    async fn endpoint(&self, id: i64) -> StoreResult<Option<EndpointInfo>> {
        let row: Option<EndpointRow> = self
            .reader()
            .await?
            .fetch_optional(
                Query::text(format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints w
                     JOIN tenants t ON t.id = w.tenant_id WHERE w.id = $1"
                ))
                .bind(id),
            )
            .await?;
        row.map(EndpointRow::info).transpose()
    }

    async fn update_endpoint(
        &self,
        id: i64,
        patch: &EndpointPatch,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let stored: Option<EndpointRow> = tx
            .fetch_optional(
                Query::text(format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints w
                     JOIN tenants t ON t.id = w.tenant_id WHERE w.id = $1{}",
                    // Only the endpoint's row is locked: the tenant's stays free.
                    if B::LOCK_ROWS.is_empty() {
                        ""
                    } else {
                        " FOR UPDATE OF w"
                    }
                ))
                .bind(id),
            )
            .await?;
        let Some(stored) = stored else {
            return Ok(false);
        };
        let before = stored.info()?;
        let mut after = before.clone();
        let (mut was, mut is) = (serde_json::Map::new(), serde_json::Map::new());
        if let Some(url) = &patch.url
            && *url != before.url
        {
            was.insert("url".into(), before.url.clone().into());
            is.insert("url".into(), url.clone().into());
            after.url.clone_from(url);
        }
        if let Some(types) = &patch.event_types
            && *types != before.event_types
        {
            let names = |t: &Option<Vec<EventType>>| {
                t.as_ref()
                    .map(|t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>())
            };
            was.insert("events".into(), json!(names(&before.event_types)));
            is.insert("events".into(), json!(names(types)));
            after.event_types.clone_from(types);
        }
        if let Some(description) = &patch.description
            && *description != before.description
        {
            was.insert("description".into(), before.description.clone().into());
            is.insert("description".into(), description.clone().into());
            after.description.clone_from(description);
        }
        let enabled_before = before.disabled_at.is_none();
        if let Some(enabled) = patch.enabled
            && enabled != enabled_before
        {
            was.insert("enabled".into(), enabled_before.into());
            is.insert("enabled".into(), enabled.into());
            if enabled {
                after.disabled_at = None;
                after.disabled_reason = None;
                after.failing_since = None;
            } else {
                after.disabled_at = Some(now);
                after.disabled_reason = Some("operator".into());
                tx.execute(
                    Query::new(
                        "UPDATE webhook_deliveries SET status = 'skipped'
                         WHERE endpoint_id = $1 AND status = 'pending'",
                    )
                    .bind(id),
                )
                .await?;
            }
        }
        if was.is_empty() {
            return Ok(true);
        }
        tx.execute(
            Query::new(
                "UPDATE webhook_endpoints SET url = $1, event_types = $2, description = $3,
                     disabled_at = $4, disabled_reason = $5, failing_since = $6, updated_at = $7
                 WHERE id = $8",
            )
            .bind(after.url.as_str())
            .bind(types_column(after.event_types.as_deref()).as_deref())
            .bind(after.description.as_str())
            .bind(after.disabled_at)
            .bind(after.disabled_reason.as_deref())
            .bind(after.failing_since)
            .bind(now)
            .bind(id),
        )
        .await?;
        tx.execute(entry(
            by,
            About::Tenant(&before.tenant),
            "webhook.updated",
            webhook_target(id),
            Some(Value::Object(was)),
            Some(Value::Object(is)),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn delete_endpoint(&self, id: i64, now: i64, by: &Caller) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let deleted: Option<(i64, String, Option<String>, String)> = tx
            .fetch_optional(
                Query::new(
                    "DELETE FROM webhook_endpoints WHERE id = $1
                     RETURNING tenant_id, url, event_types, description",
                )
                .bind(id),
            )
            .await?;
        let Some((tenant_id, url, types, description)) = deleted else {
            return Ok(false);
        };
        let types = parse_types(types.as_deref())?;
        tx.execute(entry(
            by,
            About::TenantId(tenant_id),
            "webhook.deleted",
            webhook_target(id),
            Some(settings_of(&url, types.as_deref(), &description)),
            None,
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn rotate_secret(
        &self,
        id: i64,
        secret_sealed: &[u8],
        previous_until: i64,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let rotated: Option<i64> = tx
            .fetch_value(
                Query::new(
                    "UPDATE webhook_endpoints SET previous_sealed = secret_sealed,
                         previous_until = $1, secret_sealed = $2, updated_at = $3
                     WHERE id = $4 RETURNING tenant_id",
                )
                .bind(previous_until)
                .bind(secret_sealed)
                .bind(now)
                .bind(id),
            )
            .await?;
        let Some(tenant_id) = rotated else {
            return Ok(false);
        };
        tx.execute(entry(
            by,
            About::TenantId(tenant_id),
            "webhook.rotated",
            webhook_target(id),
            None,
            Some(json!({"previous_secret_valid_until": previous_until})),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn queue_event(&self, endpoint_id: i64, event: &Event) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let id: i64 = tx
            .fetch_value(
                Query::new(
                    "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body,
                         status, next_attempt_at, scheduled_from, created_at, created_at_ms)
                     VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5, $6) RETURNING id",
                )
                .bind(endpoint_id)
                .bind(event.id.as_str())
                .bind(event.kind.as_str())
                .bind(event.body().as_str())
                .bind(event.at)
                .bind(wall_clock_ms()),
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("an insert returned no ID".into()))?;
        B::commit(tx).await?;
        Ok(id)
    }

    async fn claim_due_webhooks(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedWebhook>> {
        let mut tx = self.begin().await?;
        tx.execute(
            Query::new(
                "UPDATE webhook_deliveries SET status = 'pending', lease_until = NULL
                 WHERE status = 'sending' AND lease_until <= $1",
            )
            .bind(now),
        )
        .await?;
        let rows: Vec<ClaimedRow> = tx
            .fetch_all(
                Query::text(format!(
                    "UPDATE webhook_deliveries SET status = 'sending', lease_until = $1,
                         attempts = attempts + 1
                     WHERE id IN (SELECT id FROM webhook_deliveries
                                  WHERE status = 'pending' AND next_attempt_at <= $2
                                  ORDER BY next_attempt_at, id LIMIT $3{})
                     RETURNING id, endpoint_id, event_id, event_type, body, attempts,
                         scheduled_from, created_at_ms",
                    B::SKIP_LOCKED
                ))
                .bind(now + lease_secs)
                .bind(now)
                .bind(limit),
            )
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<i64> = rows.iter().map(|r| r.endpoint_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let endpoints: Vec<SigningRow> = tx
            .fetch_all(push_ids(
                Query::new(
                    "SELECT id, tenant_id, url, secret_sealed, previous_sealed, previous_until,
                         failing_since
                     FROM webhook_endpoints WHERE id",
                ),
                &ids,
            ))
            .await?;
        B::commit(tx).await?;
        let mut claimed: Vec<ClaimedWebhook> = rows
            .into_iter()
            .filter_map(|row| {
                let endpoint = endpoints.iter().find(|e| e.id == row.endpoint_id)?;
                Some(ClaimedWebhook {
                    id: row.id,
                    endpoint_id: row.endpoint_id,
                    tenant_id: endpoint.tenant_id,
                    url: endpoint.url.clone(),
                    event_id: row.event_id,
                    event_type: row.event_type,
                    body: row.body,
                    attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                    scheduled_from: row.scheduled_from,
                    created_at_ms: row.created_at_ms,
                    secrets: EndpointSecrets {
                        current: endpoint.secret_sealed.clone(),
                        previous: endpoint
                            .previous_sealed
                            .clone()
                            .zip(endpoint.previous_until)
                            .filter(|(_, until)| *until > now),
                    },
                    failing_since: endpoint.failing_since,
                })
            })
            .collect();
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    async fn next_webhook_due(&self) -> StoreResult<Option<i64>> {
        let (due,): (Option<i64>,) = self
            .reader()
            .await?
            .fetch_one(Query::new(
                "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'",
            ))
            .await?;
        Ok(due)
    }

    async fn finish_webhooks(
        &self,
        finished: &[(ClaimedWebhook, WebhookOutcome)],
        now: i64,
    ) -> StoreResult<()> {
        let mut plan = Plan::new();
        for (claimed, outcome) in finished {
            finish_plan(&mut plan, claimed, outcome, now);
        }
        let disabling: Vec<(i64, &str)> = finished
            .iter()
            .filter_map(|(claimed, outcome)| outcome.disable.map(|why| (claimed.endpoint_id, why)))
            .collect();
        if disabling.is_empty() {
            self.write(plan).await?;
            return Ok(());
        }
        let mut tx = self.begin().await?;
        tx.run(plan).await?;
        for (endpoint, reason) in disabling {
            disable::<B>(&mut tx, endpoint, reason, now, &Caller::system()).await?;
        }
        B::commit(tx).await?;
        Ok(())
    }

    async fn webhook_deliveries(
        &self,
        endpoint_id: i64,
        query: &WebhookDeliveryQuery<'_>,
    ) -> StoreResult<Vec<WebhookDeliveryInfo>> {
        let mut sql = Query::new(
            "SELECT id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at,
                 last_status, last_error, created_at, finished_at, body
             FROM webhook_deliveries WHERE endpoint_id = $1",
        )
        .bind(endpoint_id);
        if let Some(status) = query.status {
            sql = sql.push(" AND status = ").push_bind(status);
        }
        if let Some(before) = query.before_id {
            sql = sql.push(" AND id < ").push_bind(before);
        }
        let sql = sql.push(" ORDER BY id DESC LIMIT ").push_bind(query.limit);
        let mut reader = self.reader().await?;
        let rows: Vec<DeliveryRow> = reader.fetch_all(sql).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let attempts: Vec<AttemptRow> = reader
            .fetch_all(
                push_ids(
                    Query::new(
                        "SELECT delivery_id, at, duration_ms, status, error, response
                         FROM webhook_attempts WHERE delivery_id",
                    ),
                    &ids,
                )
                .push(" ORDER BY id"),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| WebhookDeliveryInfo {
                tries: attempts
                    .iter()
                    .filter(|a| a.delivery_id == row.id)
                    .map(AttemptRow::attempt)
                    .collect(),
                id: row.id,
                endpoint_id: row.endpoint_id,
                event_id: row.event_id,
                event_type: row.event_type,
                next_attempt_at: (row.status == "pending").then_some(row.next_attempt_at),
                status: row.status,
                attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
                last_error: row.last_error,
                created_at: row.created_at,
                finished_at: row.finished_at,
                body: row.body,
            })
            .collect())
    }

    async fn resend_webhook(
        &self,
        endpoint_id: i64,
        delivery_id: i64,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let resent: Option<(i64, String)> = tx
            .fetch_optional(
                Query::new(
                    "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1,
                         scheduled_from = $1, attempts = 0, finished_at = NULL
                     WHERE id = $2 AND endpoint_id = $3
                       AND status IN ('delivered', 'failed', 'skipped')
                     RETURNING (SELECT tenant_id FROM webhook_endpoints WHERE id = $3), event_id",
                )
                .bind(now)
                .bind(delivery_id)
                .bind(endpoint_id),
            )
            .await?;
        let Some((tenant_id, event_id)) = resent else {
            return Ok(false);
        };
        tx.execute(entry(
            by,
            About::TenantId(tenant_id),
            "webhook.resent",
            webhook_target(endpoint_id),
            None,
            Some(json!({"delivery": delivery_id, "event_id": event_id})),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn replay_webhooks(
        &self,
        endpoint_id: i64,
        since: i64,
        delivered: bool,
        now: i64,
        by: &Caller,
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let tenant_id: Option<i64> = tx
            .fetch_value(
                Query::text(format!(
                    "SELECT tenant_id FROM webhook_endpoints WHERE id = $1{}",
                    B::LOCK_ROWS
                ))
                .bind(endpoint_id),
            )
            .await?;
        let Some(tenant_id) = tenant_id else {
            return Err(StoreError::NotFound("no such webhook endpoint".into()));
        };
        let replayed = tx
            .execute(
                Query::new(
                    "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1,
                         scheduled_from = $1, attempts = 0, finished_at = NULL
                     WHERE endpoint_id = $2 AND created_at >= $3
                       AND (status IN ('failed', 'skipped') OR ($4 = 1 AND status = 'delivered'))",
                )
                .bind(now)
                .bind(endpoint_id)
                .bind(since)
                .bind(i64::from(delivered)),
            )
            .await?;
        tx.execute(entry(
            by,
            About::TenantId(tenant_id),
            "webhook.replayed",
            webhook_target(endpoint_id),
            None,
            Some(json!({"since": since, "delivered_too": delivered, "queued": replayed})),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(replayed)
    }

    async fn emit_expiry_events(&self, until: i64, limit: i64) -> StoreResult<u64> {
        let mut looked_at = 0;
        // Sessions.
        let sessions = expired_since_cursor(self, "sessions", until).await?;
        let requests = expired_since_cursor(self, "sms_requests", until).await?;
        if !sessions && !requests {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let cursor = read_cursor::<B>(&mut tx, "sessions").await?;
        let rows: Vec<SessionChannelRow> = tx
            .fetch_all(
                Query::new(SESSION_ROWS_EXPIRED)
                    .bind(cursor.expired_until)
                    .bind(cursor.last_id)
                    .bind(until)
                    .bind(limit),
            )
            .await?;
        let mut by_session: BTreeMap<(i64, i64), Vec<SessionChannelRow>> = BTreeMap::new();
        for row in rows {
            by_session
                .entry((row.expires_at, row.id))
                .or_default()
                .push(row);
        }
        if let Some(&last) = by_session.keys().next_back() {
            let mut events: BTreeMap<i64, Vec<Event>> = BTreeMap::new();
            looked_at += by_session.len() as u64;
            for rows in by_session.into_values() {
                let Some(stored) = session_from_rows(rows)? else {
                    continue;
                };
                let expired = stored.cancelled_at.is_none()
                    && stored.session.status(until) == SessionStatus::Expired;
                if expired {
                    events
                        .entry(stored.tenant_id)
                        .or_default()
                        .push(session_expired(
                            &stored.tenant_name,
                            stored.is_test,
                            &stored.public_id,
                            stored.session.expires_at,
                        ));
                }
            }
            write_events(&mut *tx, events, until).await?;
            if move_cursor(&mut *tx, "sessions", &cursor, last).await? {
                B::commit(tx).await?;
            }
        } else {
            // Nothing expired: the write lock goes back at once (SQLite has one writer).
            drop(tx);
        }
        // Single-SMS requests.
        let mut tx = self.begin().await?;
        let cursor = read_cursor::<B>(&mut tx, "sms_requests").await?;
        let rows: Vec<SingleRequestRow> = tx
            .fetch_all(
                Query::new(REQUEST_ROWS_EXPIRED)
                    .bind(cursor.expired_until)
                    .bind(cursor.last_id)
                    .bind(until)
                    .bind(limit),
            )
            .await?;
        let Some(last) = rows.last().map(|r| (r.expires_at, r.id)) else {
            return Ok(looked_at);
        };
        looked_at += rows.len() as u64;
        let mut events: BTreeMap<i64, Vec<Event>> = BTreeMap::new();
        for row in rows {
            let stored = single_from_row(row)?;
            if stored.request.status(until) == SessionStatus::Expired {
                events
                    .entry(stored.tenant_id)
                    .or_default()
                    .push(request_expired(
                        &stored.tenant_name,
                        stored.is_test,
                        &stored.request_id,
                        stored.request.expires_at,
                    ));
            }
        }
        write_events(&mut *tx, events, until).await?;
        if move_cursor(&mut *tx, "sms_requests", &cursor, last).await? {
            B::commit(tx).await?;
        }
        Ok(looked_at)
    }

    async fn webhook_queue(&self) -> StoreResult<WebhookQueueFigure> {
        // Each status counted through its own partial index: the table keeps a month.
        let rows: Vec<(i64, Option<i64>)> = self
            .reader()
            .await?
            .fetch_all(Query::new(
                "SELECT COUNT(*), MIN(created_at_ms) FROM webhook_deliveries
                 WHERE status = 'pending'
                 UNION ALL
                 SELECT COUNT(*), MIN(created_at_ms) FROM webhook_deliveries
                 WHERE status = 'sending'",
            ))
            .await?;
        Ok(WebhookQueueFigure {
            depth: rows
                .iter()
                .map(|(n, _)| u64::try_from(*n).unwrap_or(0))
                .sum(),
            oldest_created_at_ms: rows.iter().filter_map(|(_, at)| *at).min(),
        })
    }
}

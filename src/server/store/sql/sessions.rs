//! Progressive sessions, for both stores: creation (with idempotency records and limits),
//! decisions written over the version they were made on, cancellation.

use async_trait::async_trait;

use super::audit::{About, entry};
use super::sends::{
    Outgoing, STALE_RETRIES, Sent, Target, refusal_plan, too_much_contention, write_send,
};
use super::{Backend, Connection, Plan, Query, deliveries, events, inspect, limits, outbox};
use crate::engine::limits::Refusal;
use crate::engine::session::SessionStatus;
use crate::server::mask::mask_recipient;
use crate::server::store::deliveries::Owner;
use crate::server::store::limits::subject_label;
use crate::server::store::limits::{RefusalRecord, SendPolicy};
use crate::server::store::sessions::*;
use crate::server::store::{Caller, NewMessage, StoreError, StoreResult};

/// A session's rows, filtered by `$filter`: the session's columns repeated on each of its
/// channels' rows (one round trip instead of two), with each channel's destination streak.
macro_rules! session_rows {
    ($filter:literal) => {
        concat!(
            "SELECT s.id, s.tenant_id, t.name AS tenant_name, t.limits, t.enabled_channels,
                t.disabled_at, s.is_test, s.mode, s.code_length, s.max_attempts,
                s.max_attempts_per_channel, s.failed_attempts, s.resends, s.locale, s.app_name, s.token_hash,
                s.public_id, s.created_at, s.cancelled_at, s.expires_at, s.version,
                s.fallback_after_secs, s.fallback_due_at, c.channel, c.recipient, c.code_hash, c.failed_attempts AS channel_failed,
                c.verified_rank, c.verified_at, c.last_sent_at, c.destination,
                d.failures AS streak_failures, d.locked_until AS streak_locked_until
             FROM sessions s
             JOIN tenants t ON t.id = s.tenant_id
             JOIN session_channels c ON c.session_id = s.id
             LEFT JOIN destination_streaks d
               ON d.tenant_id = s.tenant_id AND d.subject = c.destination
             WHERE ",
            $filter,
            " ORDER BY c.position"
        )
    };
}

/// An open session, by its token's hash (`$1`), within a tenant when `$2` names one.
const SESSION_ROWS: &str = session_rows!(
    "s.token_hash = $1 AND s.cancelled_at IS NULL AND ($2 IS NULL OR s.tenant_id = $2)"
);

/// The sessions that expired after the cursor (`$1` the second it reached, `$2` the last ID
/// at that second) and by `$3`, at most `$4`, cancelled ones too.
pub(super) const SESSION_ROWS_EXPIRED: &str = session_rows!(
    "s.id IN (SELECT id FROM sessions
              WHERE (expires_at > $1 OR (expires_at = $1 AND id > $2)) AND expires_at <= $3
              ORDER BY expires_at, id LIMIT $4)"
);

/// Any session, cancelled ones too, by its public ID (`$1`), within the tenant `$2` names.
pub(super) const SESSION_ROWS_BY_PUBLIC_ID: &str =
    session_rows!("s.public_id = $1 AND ($2 IS NULL OR t.name = $2)");

/// The plan of what a decision writes over the version it was made on: the session's counters
/// (guarded by its version), each destination streak it moved (guarded by the value it was
/// loaded with), the channels it changed and what follows from them: used-up codes erased,
/// verified sends marked, a settled session's messages ended.
fn decision_plan(before: &StoredSession, after: &StoredSession, now: i64) -> Plan {
    let mut plan = Plan::new();
    plan.guard(
        Query::new(
            "UPDATE sessions SET failed_attempts = $1, resends = $2, fallback_due_at = $3,
                 version = version + 1
             WHERE id = $4 AND version = $5 AND cancelled_at IS NULL",
        )
        .bind(i64::from(after.session.failed_attempts))
        .bind(i64::from(after.session.resends))
        .bind(after.fallback.and_then(|f| f.due_at))
        .bind(after.id)
        .bind(before.version),
    );
    for (destination, old, new) in changed_streaks(before, after) {
        limits::move_streak(&mut plan, after.tenant_id, destination, old, new);
    }
    for (position, old, new) in changed_channels(before, after) {
        let (old_hash, new_hash) = (&before.code_hashes[position], &after.code_hashes[position]);
        plan.push(
            Query::new(
                "UPDATE session_channels SET code_hash = $1, failed_attempts = $2,
                     verified_rank = $3, verified_at = $4, last_sent_at = $5
                 WHERE session_id = $6 AND position = $7",
            )
            .bind(new_hash)
            .bind(i64::from(new.failed_attempts))
            .bind(new.verified_rank.map(i64::from))
            .bind(new.verified_at)
            .bind(new.last_sent_at)
            .bind(after.id)
            .bind(position as i64),
        );
        let owner = Owner::Session(after.id);
        let wrong = new.failed_attempts.saturating_sub(old.failed_attempts);
        for query in inspect::decided_codes(owner, new.channel, false, wrong, now) {
            plan.push(query);
        }
        if new.is_verified() && !old.is_verified() {
            plan.push(limits::mark_verified(owner, new.channel));
            for query in inspect::decided_codes(owner, new.channel, true, 1, now) {
                plan.push(query);
            }
        }
        // A verified channel's code is used up and a replaced one is dead: neither stays in clear.
        if new.is_verified() != old.is_verified() || new_hash != old_hash {
            plan.push(outbox::erase_session_codes(after.id, Some(new.channel)));
        }
    }
    if after.session.is_settled() && !before.session.is_settled() {
        plan.push(outbox::erase_session_codes(after.id, None));
        plan.push(deliveries::end_messages(Owner::Session(after.id), now));
    }
    security_events(&mut plan, before, after, now);
    let told = events::session_decided(before, after, now);
    if let Some(query) = events::fan_out(after.tenant_id, &told, now) {
        plan.push(query);
    }
    plan
}

/// The audit entries of what a decision locked: the session (its attempts used up) and each
/// destination its run of failed verifications locked (shown masked, with its hash's prefix).
fn security_events(plan: &mut Plan, before: &StoredSession, after: &StoredSession, now: i64) {
    let system = Caller::system();
    let tenant = About::TenantId(after.tenant_id);
    let locked =
        |stored: &StoredSession| stored.session.summary(now).status == SessionStatus::Locked;
    if locked(after) && !locked(before) {
        let detail = serde_json::json!({"failed_attempts": after.session.failed_attempts});
        let target = Some(after.public_id.clone());
        plan.push(entry(
            &system,
            tenant,
            "session.locked",
            target,
            None,
            Some(detail),
            now,
        ));
    }
    for (destination, old, new) in changed_streaks(before, after) {
        if old.is_locked(now) || !new.is_locked(now) {
            continue;
        }
        let Some(index) = after
            .destinations
            .iter()
            .position(|d| d.as_deref() == Some(destination))
        else {
            continue;
        };
        let channel = after.session.channels[index].channel;
        let shown = mask_recipient(channel, &after.recipients[index]);
        let target = Some(format!("{shown} ({})", subject_label(destination)));
        let detail = serde_json::json!({"locked_until": new.locked_until});
        plan.push(entry(
            &system,
            tenant,
            "destination.locked",
            target,
            None,
            Some(detail),
            now,
        ));
    }
}

/// The audit entry of an operator's retry: the failed message, and the session and channel it
/// was sent again for.
fn retried_entry(
    retry: &Retry<'_>,
    after: &StoredSession,
    message: &NewMessage,
    now: i64,
) -> Query {
    let detail = serde_json::json!({
        "session_id": after.public_id,
        "channel": message.channel.as_str(),
        "recipient": retry.shown,
    });
    entry(
        retry.by,
        About::TenantId(after.tenant_id),
        "delivery.retried",
        Some(format!("message {}", retry.message_id)),
        Some(serde_json::json!({"status": "failed"})),
        Some(detail),
        now,
    )
}

/// A resend: the decision's writes (guarded by the session's version; they erase the replaced
/// codes, not the new ones after them), then the send's, in one plan; an operator's retry
/// records itself in it too. Stale when the session or a counted limit moved meanwhile.
async fn resend<B: Backend>(store: &B, change: &SessionChange<'_>) -> StoreResult<SessionCommit> {
    let SessionChange {
        before,
        after,
        messages,
        policy,
        retry,
        now,
        ..
    } = *change;
    let tenant_id = after.tenant_id;
    let send_policy = SendPolicy {
        policy: policy.clone(),
        client_ip: None,
    };
    let told = events::session_resent(after, messages, now);
    let send = Outgoing {
        tenant_id,
        is_test: after.is_test,
        expires_at: after.session.expires_at,
        now,
        messages,
        policy: &send_policy,
        events: &told,
    };
    let mut plan = decision_plan(before, after, now);
    if let Some(retry) = retry {
        plan.push(retried_entry(&retry, after, &messages[0], now));
    }
    let target = Target::Resend {
        session_id: after.id,
    };
    Ok(match write_send(store, plan, target, &send).await? {
        Sent::Written(views) => SessionCommit::Written(views),
        Sent::Refused(refusal) => SessionCommit::Refused(refusal),
        Sent::Stale => SessionCommit::Stale,
    })
}

/// The answer stored under an idempotency key within its window, read without the write lock
/// (a record, once written, stays until the purge).
async fn idempotent_answer<B: Backend>(
    store: &B,
    tenant_id: i64,
    record: &IdempotencyRecord<'_>,
    now: i64,
) -> StoreResult<Option<StoredIdempotency>> {
    let existing: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> = store
        .reader()
        .await?
        .fetch_optional(
            Query::new(
                "SELECT body_hash, nonce, sealed FROM idempotency_keys
                 WHERE tenant_id = $1 AND key = $2 AND created_at >= $3",
            )
            .bind(tenant_id)
            .bind(record.key)
            .bind(now - IDEMPOTENCY_WINDOW_SECS),
        )
        .await?;
    Ok(
        existing.map(|(body_hash, nonce, sealed)| StoredIdempotency {
            body_hash,
            nonce,
            sealed,
        }),
    )
}

/// Stores a send's idempotency record, as a guard: it holds unless a record within the window
/// is there (another send with the key was written first). A record older than the window may
/// still be there until the next purge: it is replaced in place.
fn idempotency_record(tenant_id: i64, record: &IdempotencyRecord<'_>, now: i64) -> Query {
    Query::new(
        "INSERT INTO idempotency_keys (tenant_id, key, body_hash, nonce, sealed, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, key) DO UPDATE SET body_hash = excluded.body_hash,
             nonce = excluded.nonce, sealed = excluded.sealed, created_at = excluded.created_at
         WHERE idempotency_keys.created_at < $7",
    )
    .bind(tenant_id)
    .bind(record.key)
    .bind(record.body_hash)
    .bind(&record.nonce)
    .bind(&record.sealed)
    .bind(now)
    .bind(now - IDEMPOTENCY_WINDOW_SECS)
}

#[async_trait]
impl<B: Backend> SessionStore for B {
    async fn create_session(
        &self,
        new: &CreateSession<'_>,
        idempotency: Option<&IdempotencyRecord<'_>>,
    ) -> StoreResult<SessionCreation> {
        let now = new.created_at;
        let told = events::session_started(new, now);
        let send = Outgoing {
            tenant_id: new.tenant_id,
            is_test: new.is_test,
            expires_at: new.session.expires_at,
            now,
            messages: &new.messages,
            policy: new.limits,
            events: &told,
        };
        for _ in 0..STALE_RETRIES {
            let mut plan = Plan::new();
            if let Some(record) = idempotency {
                if let Some(stored) = idempotent_answer(self, new.tenant_id, record, now).await? {
                    return Ok(SessionCreation::Replayed(stored));
                }
                // Two sends with one key: the second's record finds the first's (on PostgreSQL
                // once the first commits, the unique key holding it until then), so nothing of
                // it is written and, decided again, it reads the first's as its answer.
                plan.guard(idempotency_record(new.tenant_id, record, now));
            }
            match write_send(self, plan, Target::Session(new), &send).await? {
                Sent::Written(views) => return Ok(SessionCreation::Stored(views)),
                Sent::Refused(refusal) => return Ok(SessionCreation::Refused(refusal)),
                Sent::Stale => {}
            }
        }
        Err(too_much_contention())
    }

    async fn load_session(
        &self,
        tenant_id: Option<i64>,
        token_hash: &[u8],
    ) -> StoreResult<Option<StoredSession>> {
        let rows: Vec<SessionChannelRow> = self
            .reader()
            .await?
            .fetch_all(Query::new(SESSION_ROWS).bind(token_hash).bind(tenant_id))
            .await?;
        session_from_rows(rows)
    }

    async fn due_fallbacks(&self, now: i64, limit: i64) -> StoreResult<Vec<(i64, Vec<u8>)>> {
        self.reader()
            .await?
            .fetch_all(
                Query::new(
                    "SELECT tenant_id, token_hash FROM sessions
                     WHERE fallback_due_at <= $1 AND cancelled_at IS NULL AND expires_at > $1
                     ORDER BY fallback_due_at LIMIT $2",
                )
                .bind(now)
                .bind(limit),
            )
            .await
    }

    async fn postpone_fallback(
        &self,
        tenant_id: i64,
        token_hash: &[u8],
        now: i64,
        due_at: Option<i64>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.execute(
            Query::new(
                "UPDATE sessions SET fallback_due_at = $1
                 WHERE tenant_id = $2 AND token_hash = $3 AND fallback_due_at <= $4",
            )
            .bind(due_at)
            .bind(tenant_id)
            .bind(token_hash)
            .bind(now),
        )
        .await?;
        B::commit(tx).await
    }

    async fn commit_session(&self, change: &SessionChange<'_>) -> StoreResult<SessionCommit> {
        let SessionChange {
            before,
            after,
            messages,
            policy,
            widget_ip,
            decided,
            now,
            ..
        } = *change;
        let tenant_id = before.tenant_id;
        let writes_session = decided && change.writes_session();
        if widget_ip.is_none() && writes_session && !messages.is_empty() {
            return resend(self, change).await;
        }
        if widget_ip.is_none() {
            // Nothing to count first and no new message (the common verify, right or wrong,
            // and refusals): the writes alone, which SQLite groups with others'.
            let plan = if writes_session {
                decision_plan(before, after, now)
            } else if let Some(record) = &after.refusal {
                refusal_plan(tenant_id, record, now)
            } else {
                Plan::new()
            };
            return Ok(if self.write(plan).await? {
                SessionCommit::Written(Deliveries::new())
            } else {
                SessionCommit::Stale
            });
        }
        if !messages.is_empty() {
            return Err(StoreError::Unsupported(
                "a code submitted through the widget sends no message".into(),
            ));
        }
        let mut tx = self.begin().await?;
        if let Some(ip) = widget_ip
            && !limits::take_submission::<B>(&mut tx, tenant_id, ip, policy, now).await?
        {
            let record = RefusalRecord {
                refusal: Refusal::WidgetIp,
                subject: Some(ip.to_vec()),
                channel: None,
            };
            tx.execute(limits::refusal_record(tenant_id, &record, now))
                .await?;
            B::commit(tx).await?;
            return Ok(SessionCommit::Refused(Refusal::WidgetIp));
        }
        if !writes_session {
            if let Some(record) = &after.refusal {
                tx.execute(limits::refusal_record(tenant_id, record, now))
                    .await?;
            }
            B::commit(tx).await?;
            return Ok(SessionCommit::Written(Deliveries::new()));
        }
        // Dropping the transaction rolls back whatever it did (the widget's count included).
        if !tx.run(decision_plan(before, after, now)).await? {
            return Ok(SessionCommit::Stale);
        }
        B::commit(tx).await?;
        Ok(SessionCommit::Written(Deliveries::new()))
    }

    async fn cancel_session(
        &self,
        tenant_id: i64,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let cancelled: Option<(i64, String, i64, String)> = tx
            .fetch_optional(
                Query::new(
                    "UPDATE sessions SET cancelled_at = $1, version = version + 1
                     WHERE token_hash = $2 AND tenant_id = $3 AND cancelled_at IS NULL
                     RETURNING id, public_id, is_test,
                         (SELECT name FROM tenants WHERE id = $3) AS tenant",
                )
                .bind(now)
                .bind(token_hash)
                .bind(tenant_id),
            )
            .await?;
        let Some((session_id, public_id, is_test, tenant)) = cancelled else {
            return Ok(false);
        };
        let mut plan = Plan::new();
        plan.push(outbox::erase_session_codes(session_id, None));
        plan.push(deliveries::end_messages(Owner::Session(session_id), now));
        let told = [events::session_canceled(
            &tenant,
            is_test == 1,
            &public_id,
            now,
        )];
        if let Some(query) = events::fan_out(tenant_id, &told, now) {
            plan.push(query);
        }
        tx.run(plan).await?;
        B::commit(tx).await?;
        Ok(true)
    }
}

//! Progressive sessions in SQLite: creation (with idempotency records and limits, in one write
//! transaction), decisions written over the version they were made on, cancellation.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use super::statements::Statements;
use super::{deliveries, limits, outbox};
use crate::engine::limits::{Refusal, decide_send};
use crate::server::store::StoreResult;
use crate::server::store::deliveries::Owner;
use crate::server::store::flag;
use crate::server::store::limits::{MessageSubjects, RefusalRecord, SendPolicy};
use crate::server::store::sessions::*;

const SESSION_COLUMNS: &str = "s.id, s.tenant_id, t.name AS tenant_name, t.limits, s.is_test, s.mode, s.code_length,
     s.max_attempts, s.max_attempts_per_channel, s.failed_attempts, s.resends, s.locale, s.token_hash, s.expires_at, s.version";

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        new: &CreateSession<'_>,
        idempotency: Option<&IdempotencyRecord<'_>>,
    ) -> StoreResult<SessionCreation> {
        let mut tx = self.begin_write().await?;
        if let Some(record) = idempotency {
            let existing = sqlx::query(
                "SELECT body_hash, nonce, sealed FROM idempotency_keys
                 WHERE tenant_id = ? AND key = ? AND created_at >= ?",
            )
            .bind(new.tenant_id)
            .bind(record.key)
            .bind(new.created_at - IDEMPOTENCY_WINDOW_SECS)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = existing {
                return Ok(SessionCreation::Replayed(StoredIdempotency {
                    body_hash: row.get("body_hash"),
                    nonce: row.get("nonce"),
                    sealed: row.get("sealed"),
                }));
            }
        }
        let subjects: Vec<MessageSubjects> =
            new.messages.iter().map(|m| m.subjects.clone()).collect();
        let send = new.limits;
        let client_ip = send.client_ip.as_deref();
        let counts = limits::count_send(
            &mut tx,
            new.tenant_id,
            &send.policy,
            &subjects,
            client_ip,
            new.created_at,
        )
        .await?;
        if let Some(refused) = decide_send(&send.policy, &counts, new.created_at) {
            let record = RefusalRecord::of_send(refused, &subjects, client_ip);
            limits::record_refusal(&mut tx, new.tenant_id, &record, new.created_at).await?;
            tx.commit().await?;
            return Ok(SessionCreation::Refused(refused.refusal));
        }
        let session = new.session;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (tenant_id, token_hash, is_test, mode, code_length, max_attempts,
                 max_attempts_per_channel, failed_attempts, locale, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.tenant_id)
        .bind(new.token_hash)
        .bind(flag(new.is_test))
        .bind(session.mode.as_str())
        .bind(i64::from(session.code_length))
        .bind(i64::from(session.limits.max_attempts))
        .bind(session.limits.max_attempts_per_channel.map(i64::from))
        .bind(i64::from(session.failed_attempts))
        .bind(new.locale)
        .bind(new.created_at)
        .bind(session.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        let rows = session.channels.iter().zip(&new.channels).zip(&subjects);
        for (position, ((state, channel), subject)) in rows.enumerate() {
            sqlx::query(
                "INSERT INTO session_channels (session_id, position, channel, recipient, code_hash,
                     last_sent_at, destination)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(position as i64)
            .bind(state.channel.as_str())
            .bind(&channel.recipient)
            .bind(&channel.code_hash)
            .bind(state.last_sent_at)
            .bind(&subject.destination)
            .execute(&mut *tx)
            .await?;
        }
        limits::record_send(
            &mut tx,
            new.tenant_id,
            Owner::Session(id),
            &subjects,
            send,
            &counts,
            new.created_at,
        )
        .await?;
        let views = deliveries::insert_messages(
            &mut tx,
            new.tenant_id,
            new.is_test,
            Owner::Session(id),
            session.expires_at,
            new.created_at,
            &new.messages,
        )
        .await?;
        if let Some(record) = idempotency {
            // A record older than the window may still be there until the next purge.
            sqlx::query(
                "INSERT OR REPLACE INTO idempotency_keys (tenant_id, key, body_hash, nonce, sealed, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(new.tenant_id)
            .bind(record.key)
            .bind(record.body_hash)
            .bind(&record.nonce)
            .bind(&record.sealed)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(SessionCreation::Stored(views))
    }

    async fn load_session(
        &self,
        tenant_id: Option<i64>,
        token_hash: &[u8],
    ) -> StoreResult<Option<StoredSession>> {
        let mut conn = self.reader().await?;
        fetch_session(&mut conn, tenant_id, token_hash).await
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
        } = *change;
        let tenant_id = before.tenant_id;
        let writes_session = decided && change.writes_session();
        if widget_ip.is_none() && messages.is_empty() {
            // Nothing to count first and no new message: the writes go with others' (the common
            // verify, right or wrong, and refusals).
            let mut statements = Statements::new();
            if writes_session {
                decision_writes(&mut statements, before, after, now);
            } else if let Some(record) = &after.refusal {
                limits::refusal_record(&mut statements, tenant_id, record, now);
            }
            return Ok(if self.group.commit(statements).await? {
                SessionCommit::Written(Deliveries::new())
            } else {
                SessionCommit::Stale
            });
        }
        let mut tx = self.begin_write().await?;
        if let Some(ip) = widget_ip
            && !limits::take_submission(&mut tx, tenant_id, ip, policy, now).await?
        {
            let record = RefusalRecord {
                refusal: Refusal::WidgetIp,
                subject: Some(ip.to_vec()),
                channel: None,
            };
            limits::record_refusal(&mut tx, tenant_id, &record, now).await?;
            tx.commit().await?;
            return Ok(SessionCommit::Refused(Refusal::WidgetIp));
        }
        if !writes_session {
            if let Some(record) = &after.refusal {
                limits::record_refusal(&mut tx, tenant_id, record, now).await?;
            }
            tx.commit().await?;
            return Ok(SessionCommit::Written(Deliveries::new()));
        }
        // The decision's writes first: they erase the replaced codes, not the new ones below.
        let mut statements = Statements::new();
        decision_writes(&mut statements, before, after, now);
        // Dropping the transaction rolls back whatever it did (the widget's count included).
        if !statements.run(&mut tx).await? {
            return Ok(SessionCommit::Stale);
        }
        let subjects: Vec<MessageSubjects> = messages.iter().map(|m| m.subjects.clone()).collect();
        if !subjects.is_empty() {
            let counts =
                limits::count_send(&mut tx, tenant_id, policy, &subjects, None, now).await?;
            if let Some(refused) = decide_send(policy, &counts, now) {
                // Nothing of the decision is kept; only the refusal, in a transaction of its own.
                tx.rollback().await?;
                let record = RefusalRecord::of_send(refused, &subjects, None);
                let mut tx = self.begin_write().await?;
                limits::record_refusal(&mut tx, tenant_id, &record, now).await?;
                tx.commit().await?;
                return Ok(SessionCommit::Refused(refused.refusal));
            }
            let send = SendPolicy {
                policy: policy.clone(),
                client_ip: None,
            };
            let owner = Owner::Session(after.id);
            limits::record_send(&mut tx, tenant_id, owner, &subjects, &send, &counts, now).await?;
        }
        for message in messages {
            deliveries::replace_channel_messages(&mut tx, after.id, message.channel, now).await?;
        }
        let views = deliveries::insert_messages(
            &mut tx,
            tenant_id,
            after.is_test,
            Owner::Session(after.id),
            after.session.expires_at,
            now,
            messages,
        )
        .await?;
        tx.commit().await?;
        Ok(SessionCommit::Written(views))
    }

    async fn cancel_session(
        &self,
        tenant_id: i64,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let cancelled: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET cancelled_at = ?, version = version + 1
             WHERE token_hash = ? AND tenant_id = ? AND cancelled_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(session_id) = cancelled else {
            return Ok(false);
        };
        let mut statements = Statements::new();
        outbox::erase_session_codes(&mut statements, session_id, None);
        deliveries::end_messages(&mut statements, Owner::Session(session_id), now);
        statements.run(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}
async fn fetch_session(
    conn: &mut sqlx::SqliteConnection,
    tenant_id: Option<i64>,
    token_hash: &[u8],
) -> StoreResult<Option<StoredSession>> {
    // One row per channel, the session's columns repeated: one round trip instead of two.
    let sql = format!(
        "SELECT {SESSION_COLUMNS}, c.channel, c.recipient, c.code_hash, c.failed_attempts AS channel_failed,
                c.verified_rank, c.verified_at, c.last_sent_at, c.destination,
                d.failures AS streak_failures, d.locked_until AS streak_locked_until
         FROM sessions s
         JOIN tenants t ON t.id = s.tenant_id
         JOIN session_channels c ON c.session_id = s.id
         LEFT JOIN destination_streaks d ON d.tenant_id = s.tenant_id AND d.subject = c.destination
         WHERE s.token_hash = ? AND s.cancelled_at IS NULL AND (?2 IS NULL OR s.tenant_id = ?2)
         ORDER BY c.position"
    );
    let rows: Vec<SessionChannelRow> = sqlx::query_as(&sql)
        .bind(token_hash)
        .bind(tenant_id)
        .fetch_all(&mut *conn)
        .await?;
    session_from_rows(rows)
}

/// Appends what a decision writes over the version it was made on: the session's counters
/// (guarded by its version), each destination streak it moved (guarded by the value it was
/// loaded with), the channels it changed and what follows from them: used-up codes erased,
/// verified sends marked, a settled session's messages ended.
fn decision_writes(
    statements: &mut Statements,
    before: &StoredSession,
    after: &StoredSession,
    now: i64,
) {
    statements
        .guard(
            "UPDATE sessions SET failed_attempts = ?, resends = ?, version = version + 1
             WHERE id = ? AND version = ? AND cancelled_at IS NULL",
        )
        .bind(i64::from(after.session.failed_attempts))
        .bind(i64::from(after.session.resends))
        .bind(after.id)
        .bind(before.version);
    for (destination, old, new) in changed_streaks(before, after) {
        limits::move_streak(statements, after.tenant_id, destination, old, new);
    }
    for (position, old, new) in changed_channels(before, after) {
        let (old_hash, new_hash) = (&before.code_hashes[position], &after.code_hashes[position]);
        statements
            .push(
                "UPDATE session_channels SET code_hash = ?, failed_attempts = ?, verified_rank = ?,
                     verified_at = ?, last_sent_at = ?
                 WHERE session_id = ? AND position = ?",
            )
            .bind(new_hash.clone())
            .bind(i64::from(new.failed_attempts))
            .bind(new.verified_rank.map(i64::from))
            .bind(new.verified_at)
            .bind(new.last_sent_at)
            .bind(after.id)
            .bind(position as i64);
        if new.is_verified() && !old.is_verified() {
            limits::mark_verified(statements, Owner::Session(after.id), new.channel);
        }
        // A verified channel's code is used up and a replaced one is dead: neither stays in clear.
        if new.is_verified() != old.is_verified() || new_hash != old_hash {
            outbox::erase_session_codes(statements, after.id, Some(new.channel));
        }
    }
    if after.session.is_settled() && !before.session.is_settled() {
        outbox::erase_session_codes(statements, after.id, None);
        deliveries::end_messages(statements, Owner::Session(after.id), now);
    }
}

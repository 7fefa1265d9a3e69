//! Progressive sessions in PostgreSQL: creation (idempotency key and counted subjects locked
//! first), decisions written over the version they were made on, cancellation.

use async_trait::async_trait;

use super::{PgStore, deliveries, limits, outbox};
use crate::engine::limits::{Refusal, decide_send};
use crate::server::store::deliveries::Owner;
use crate::server::store::limits::{MessageSubjects, RefusalRecord, SendPolicy};
use crate::server::store::sessions::*;
use crate::server::store::{StoreResult, flag};

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(
        &self,
        new: &CreateSession<'_>,
        idempotency: Option<&IdempotencyRecord<'_>>,
    ) -> StoreResult<SessionCreation> {
        let mut tx = self.pool.begin().await?;
        if let Some(record) = idempotency {
            // Two sends with one key wait for each other here; the second then finds the first.
            let subject = vec![("idempotency", record.key.as_bytes().to_vec())];
            limits::lock_subjects(&mut tx, new.tenant_id, subject, new.created_at).await?;
            let existing: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> = sqlx::query_as(
                "SELECT body_hash, nonce, sealed FROM idempotency_keys
                 WHERE tenant_id = $1 AND key = $2 AND created_at >= $3",
            )
            .bind(new.tenant_id)
            .bind(record.key)
            .bind(new.created_at - IDEMPOTENCY_WINDOW_SECS)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((body_hash, nonce, sealed)) = existing {
                return Ok(SessionCreation::Replayed(StoredIdempotency {
                    body_hash,
                    nonce,
                    sealed,
                }));
            }
        }
        let subjects: Vec<MessageSubjects> =
            new.messages.iter().map(|m| m.subjects.clone()).collect();
        let send = new.limits;
        let client_ip = send.client_ip.as_deref();
        let now = new.created_at;
        let session = new.session;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (tenant_id, token_hash, is_test, mode, code_length, max_attempts,
                 max_attempts_per_channel, failed_attempts, locale, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
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
        .bind(now)
        .bind(session.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        let rows = session.channels.iter().zip(&new.channels).zip(&subjects);
        for (position, ((state, channel), subject)) in rows.enumerate() {
            sqlx::query(
                "INSERT INTO session_channels (session_id, position, channel, recipient, code_hash,
                     last_sent_at, destination)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        let owner = Owner::Session(id);
        let views = deliveries::insert_messages(
            &mut tx,
            new.tenant_id,
            new.is_test,
            owner,
            session.expires_at,
            now,
            &new.messages,
        )
        .await?;
        if let Some(record) = idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (tenant_id, key, body_hash, nonce, sealed, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, key) DO UPDATE SET body_hash = EXCLUDED.body_hash,
                     nonce = EXCLUDED.nonce, sealed = EXCLUDED.sealed, created_at = EXCLUDED.created_at",
            )
            .bind(new.tenant_id)
            .bind(record.key)
            .bind(record.body_hash)
            .bind(&record.nonce)
            .bind(&record.sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // The limits last: the counted subjects' rows (the tenant's budget among them, which
        // every send of the tenant and channel needs) stay locked only from here to the commit.
        let counts = limits::count_send(
            &mut tx,
            new.tenant_id,
            &send.policy,
            &subjects,
            client_ip,
            now,
        )
        .await?;
        if let Some(refused) = decide_send(&send.policy, &counts, now) {
            tx.rollback().await?;
            let record = RefusalRecord::of_send(refused, &subjects, client_ip);
            self.record_refusal(new.tenant_id, &record, now).await?;
            return Ok(SessionCreation::Refused(refused.refusal));
        }
        limits::record_send(&mut tx, new.tenant_id, owner, &subjects, send, &counts, now).await?;
        tx.commit().await?;
        Ok(SessionCreation::Stored(views))
    }

    async fn load_session(
        &self,
        tenant_id: Option<i64>,
        token_hash: &[u8],
    ) -> StoreResult<Option<StoredSession>> {
        let rows: Vec<SessionChannelRow> = sqlx::query_as(
            "SELECT s.id, s.tenant_id, t.name AS tenant_name, t.limits, s.is_test, s.mode,
                    s.code_length, s.max_attempts, s.max_attempts_per_channel, s.failed_attempts,
                    s.resends, s.locale, s.token_hash, s.expires_at, s.version,
                    c.channel, c.recipient, c.code_hash, c.failed_attempts AS channel_failed,
                    c.verified_rank, c.verified_at, c.last_sent_at, c.destination,
                    d.failures AS streak_failures, d.locked_until AS streak_locked_until
             FROM sessions s
             JOIN tenants t ON t.id = s.tenant_id
             JOIN session_channels c ON c.session_id = s.id
             LEFT JOIN destination_streaks d ON d.tenant_id = s.tenant_id AND d.subject = c.destination
             WHERE s.token_hash = $1 AND s.cancelled_at IS NULL
               AND ($2::BIGINT IS NULL OR s.tenant_id = $2)
             ORDER BY c.position",
        )
        .bind(token_hash)
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        session_from_rows(rows)
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
        let mut tx = self.pool.begin().await?;
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
        if !decided || !change.writes_session() {
            if let Some(record) = &after.refusal {
                limits::record_refusal(&mut tx, tenant_id, record, now).await?;
            }
            tx.commit().await?;
            return Ok(SessionCommit::Written(Deliveries::new()));
        }
        // Under READ COMMITTED this waits for a concurrent writer of the row, then re-checks the
        // version against what it committed: at most one of two racing decisions is written.
        let claimed = sqlx::query(
            "UPDATE sessions SET failed_attempts = $1, resends = $2, version = version + 1
             WHERE id = $3 AND version = $4 AND cancelled_at IS NULL",
        )
        .bind(i64::from(after.session.failed_attempts))
        .bind(i64::from(after.session.resends))
        .bind(after.id)
        .bind(before.version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 || !save_streaks(&mut tx, before, after).await? {
            return Ok(SessionCommit::Stale);
        }
        write_channels(&mut tx, before, after, now).await?;
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
        // New messages' limits last, as for a send.
        let subjects: Vec<MessageSubjects> = messages.iter().map(|m| m.subjects.clone()).collect();
        if !subjects.is_empty() {
            let counts =
                limits::count_send(&mut tx, tenant_id, policy, &subjects, None, now).await?;
            if let Some(refused) = decide_send(policy, &counts, now) {
                tx.rollback().await?;
                let record = RefusalRecord::of_send(refused, &subjects, None);
                self.record_refusal(tenant_id, &record, now).await?;
                return Ok(SessionCommit::Refused(refused.refusal));
            }
            let send = SendPolicy {
                policy: policy.clone(),
                client_ip: None,
            };
            let owner = Owner::Session(after.id);
            limits::record_send(&mut tx, tenant_id, owner, &subjects, &send, &counts, now).await?;
        }
        tx.commit().await?;
        Ok(SessionCommit::Written(views))
    }

    async fn cancel_session(
        &self,
        tenant_id: i64,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let cancelled: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET cancelled_at = $1, version = version + 1
             WHERE token_hash = $2 AND tenant_id = $3 AND cancelled_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(session_id) = cancelled else {
            return Ok(false);
        };
        outbox::erase_session_codes(&mut tx, session_id, None).await?;
        deliveries::end_messages(&mut tx, Owner::Session(session_id), now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Moves each destination streak the decision changed, only from the value it was loaded
/// with; false when one had moved meanwhile.
async fn save_streaks(
    conn: &mut sqlx::PgConnection,
    before: &StoredSession,
    after: &StoredSession,
) -> StoreResult<bool> {
    for (destination, old, new) in changed_streaks(before, after) {
        if !limits::move_streak(conn, after.tenant_id, destination, old, new).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes the channels the decision changed, and what follows from them.
async fn write_channels(
    conn: &mut sqlx::PgConnection,
    before: &StoredSession,
    after: &StoredSession,
    now: i64,
) -> StoreResult<()> {
    for (position, old, new) in changed_channels(before, after) {
        sqlx::query(
            "UPDATE session_channels SET code_hash = $1, failed_attempts = $2, verified_rank = $3,
                 verified_at = $4, last_sent_at = $5
             WHERE session_id = $6 AND position = $7",
        )
        .bind(&after.code_hashes[position])
        .bind(i64::from(new.failed_attempts))
        .bind(new.verified_rank.map(i64::from))
        .bind(new.verified_at)
        .bind(new.last_sent_at)
        .bind(after.id)
        .bind(position as i64)
        .execute(&mut *conn)
        .await?;
        if new.is_verified() && !old.is_verified() {
            limits::mark_verified(conn, Owner::Session(after.id), new.channel).await?;
        }
        if new.is_verified() != old.is_verified()
            || after.code_hashes[position] != before.code_hashes[position]
        {
            outbox::erase_session_codes(conn, after.id, Some(new.channel.as_str())).await?;
        }
    }
    if after.session.is_settled() && !before.session.is_settled() {
        outbox::erase_session_codes(conn, after.id, None).await?;
        deliveries::end_messages(conn, Owner::Session(after.id), now).await?;
    }
    Ok(())
}

//! Single-SMS requests in SQLite: creation with its limits, decisions written over the state
//! they were made on.

use async_trait::async_trait;

use super::SqliteStore;
use super::statements::Statements;
use super::{deliveries, limits, outbox};
use crate::engine::Channel;
use crate::engine::limits::{Refusal, decide_send};
use crate::server::store::StoreResult;
use crate::server::store::deliveries::Owner;
use crate::server::store::flag;
use crate::server::store::limits::RefusalRecord;
use crate::server::store::single::*;

#[async_trait]
impl SingleRequestStore for SqliteStore {
    async fn create_single_request(
        &self,
        new: &NewSingleRequest<'_>,
    ) -> StoreResult<Result<i64, Refusal>> {
        let mut tx = self.begin_write().await?;
        let subjects = std::slice::from_ref(&new.message.subjects);
        let send = new.limits;
        let client_ip = send.client_ip.as_deref();
        let now = new.created_at;
        let counts = limits::count_send(
            &mut tx,
            new.tenant_id,
            &send.policy,
            subjects,
            client_ip,
            now,
        )
        .await?;
        if let Some(refused) = decide_send(&send.policy, &counts, now) {
            let record = RefusalRecord::of_send(refused, subjects, client_ip);
            limits::record_refusal(&mut tx, new.tenant_id, &record, now).await?;
            tx.commit().await?;
            return Ok(Err(refused.refusal));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sms_requests (tenant_id, request_id, phone_number, code_hash, is_test,
                 failed_attempts, created_at, expires_at, destination)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.tenant_id)
        .bind(new.request_id)
        .bind(new.phone_number)
        .bind(new.code_hash)
        .bind(flag(new.is_test))
        .bind(i64::from(new.request.failed_attempts))
        .bind(new.created_at)
        .bind(new.request.expires_at)
        .bind(&new.message.subjects.destination)
        .fetch_one(&mut *tx)
        .await?;
        limits::record_send(
            &mut tx,
            new.tenant_id,
            Owner::Request(id),
            subjects,
            send,
            &counts,
            now,
        )
        .await?;
        deliveries::insert_messages(
            &mut tx,
            new.tenant_id,
            new.is_test,
            Owner::Request(id),
            new.request.expires_at,
            new.created_at,
            std::slice::from_ref(&new.message),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(id))
    }

    async fn load_single_request(
        &self,
        tenant_id: i64,
        request_id: &str,
    ) -> StoreResult<Option<StoredSingleRequest>> {
        let row: Option<SingleRequestRow> = sqlx::query_as(
            "SELECT r.id, r.tenant_id, t.name AS tenant_name, t.limits, r.phone_number, r.code_hash,
                    r.failed_attempts, r.expires_at, r.verified_at, r.destination,
                    d.failures AS streak_failures, d.locked_until AS streak_locked_until
             FROM sms_requests r JOIN tenants t ON t.id = r.tenant_id
             LEFT JOIN destination_streaks d ON d.tenant_id = r.tenant_id AND d.subject = r.destination
             WHERE r.request_id = ? AND r.tenant_id = ?",
        )
        .bind(request_id)
        .bind(tenant_id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        row.map(single_from_row).transpose()
    }

    async fn commit_single_request(
        &self,
        before: &StoredSingleRequest,
        after: &StoredSingleRequest,
        now: i64,
    ) -> StoreResult<bool> {
        // No limit to count and no new message: the writes go with others' (group commit).
        let mut statements = Statements::new();
        if let Some(record) = &after.refusal {
            limits::refusal_record(&mut statements, after.tenant_id, record, now);
        } else {
            if let Some(destination) = &after.destination
                && after.streak != before.streak
            {
                limits::move_streak(
                    &mut statements,
                    after.tenant_id,
                    destination,
                    before.streak,
                    after.streak,
                );
            }
            if after.request != before.request {
                statements
                    .guard(
                        "UPDATE sms_requests SET failed_attempts = ?, verified_at = ?
                         WHERE id = ? AND failed_attempts = ? AND verified_at IS ?",
                    )
                    .bind(i64::from(after.request.failed_attempts))
                    .bind(after.request.verified_at)
                    .bind(after.id)
                    .bind(i64::from(before.request.failed_attempts))
                    .bind(before.request.verified_at);
                if after.request.is_settled() {
                    outbox::erase_request_codes(&mut statements, after.id);
                    deliveries::end_messages(&mut statements, Owner::Request(after.id), now);
                }
                if after.request.verified_at.is_some() && before.request.verified_at.is_none() {
                    limits::mark_verified(&mut statements, Owner::Request(after.id), Channel::Sms);
                }
            }
        }
        self.group.commit(statements).await
    }
}

//! The Twilio-compatible door's services, for both stores: created, changed and deleted with
//! their audit entry in the same transaction; listed oldest first, a page after a given SID.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::audit::{About, entry};
use super::{Backend, Connection, Query};
use crate::engine::Channel;
use crate::server::store::twilio::*;
use crate::server::store::{Caller, StoreError, StoreResult};

#[derive(sqlx::FromRow)]
struct ServiceRow {
    sid: String,
    friendly_name: String,
    code_length: i64,
    created_at: i64,
    updated_at: i64,
}

impl ServiceRow {
    fn into_service(self) -> StoreResult<TwilioService> {
        let code_length = u8::try_from(self.code_length)
            .map_err(|_| StoreError::Corrupt(format!("service `{}` code length", self.sid)))?;
        Ok(TwilioService {
            sid: self.sid,
            friendly_name: self.friendly_name,
            code_length,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const SERVICE_COLUMNS: &str = "sid, friendly_name, code_length, created_at, updated_at";

fn select_one(tenant_id: i64, sid: &str, lock: &str) -> Query {
    Query::text(format!(
        "SELECT {SERVICE_COLUMNS} FROM twilio_services WHERE tenant_id = $1 AND sid = $2{lock}"
    ))
    .bind(tenant_id)
    .bind(sid)
}

/// A service as the audit log records it.
fn audited(service: &TwilioService) -> Value {
    json!({"friendly_name": service.friendly_name, "code_length": service.code_length})
}

/// The audit entry of a change to service `sid`: what it was and what it became.
fn change_entry(
    by: &Caller,
    tenant_id: i64,
    action: &str,
    sid: &str,
    before: Option<&TwilioService>,
    after: Option<&TwilioService>,
    at: i64,
) -> Query {
    entry(
        by,
        About::TenantId(tenant_id),
        action,
        Some(sid.to_owned()),
        before.map(audited),
        after.map(audited),
        at,
    )
}

/// The tenant's service; with `lock`, its row locked until the transaction ends (so two changes apply one
/// after the other, each audit entry's "before" being what it replaced).
async fn service_row(
    tx: &mut impl Connection,
    tenant_id: i64,
    sid: &str,
    lock: &str,
) -> StoreResult<Option<TwilioService>> {
    let row: Option<ServiceRow> = tx.fetch_optional(select_one(tenant_id, sid, lock)).await?;
    row.map(ServiceRow::into_service).transpose()
}

#[async_trait]
impl<B: Backend> TwilioStore for B {
    async fn create_twilio_service(
        &self,
        tenant_id: i64,
        service: &TwilioService,
        by: &Caller,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.execute(
            Query::new(
                "INSERT INTO twilio_services
                     (sid, tenant_id, friendly_name, code_length, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(service.sid.as_str())
            .bind(tenant_id)
            .bind(service.friendly_name.as_str())
            .bind(i64::from(service.code_length))
            .bind(service.created_at)
            .bind(service.updated_at),
        )
        .await?;
        tx.execute(change_entry(
            by,
            tenant_id,
            "twilio_service.created",
            &service.sid,
            None,
            Some(service),
            service.created_at,
        ))
        .await?;
        B::commit(tx).await
    }

    async fn twilio_service(
        &self,
        tenant_id: i64,
        sid: &str,
    ) -> StoreResult<Option<TwilioService>> {
        service_row(&mut *self.reader().await?, tenant_id, sid, "").await
    }

    async fn twilio_services(
        &self,
        tenant_id: i64,
        start: &PageStart,
        limit: u32,
    ) -> StoreResult<Vec<TwilioService>> {
        let query = match start {
            // Keyset: after the named service in creation order; a SID the tenant has not
            // (any more) starts nowhere, so the page is empty.
            PageStart::After(sid) => Query::text(format!(
                "SELECT {SERVICE_COLUMNS} FROM twilio_services
                 WHERE tenant_id = $1
                   AND id > (SELECT id FROM twilio_services WHERE tenant_id = $1 AND sid = $2)
                 ORDER BY id LIMIT $3"
            ))
            .bind(tenant_id)
            .bind(sid.as_str())
            .bind(i64::from(limit)),
            PageStart::Skip(skip) => Query::text(format!(
                "SELECT {SERVICE_COLUMNS} FROM twilio_services WHERE tenant_id = $1
                 ORDER BY id LIMIT $2 OFFSET $3"
            ))
            .bind(tenant_id)
            .bind(i64::from(limit))
            .bind(i64::try_from(*skip).unwrap_or(i64::MAX)),
        };
        let rows: Vec<ServiceRow> = self.reader().await?.fetch_all(query).await?;
        rows.into_iter().map(ServiceRow::into_service).collect()
    }

    async fn update_twilio_service(
        &self,
        tenant_id: i64,
        sid: &str,
        change: &TwilioServiceChange,
        now: i64,
        by: &Caller,
    ) -> StoreResult<Option<TwilioService>> {
        let mut tx = self.begin().await?;
        let Some(before) = service_row(&mut *tx, tenant_id, sid, B::LOCK_ROWS).await? else {
            return Ok(None);
        };
        let after = TwilioService {
            friendly_name: change
                .friendly_name
                .clone()
                .unwrap_or_else(|| before.friendly_name.clone()),
            code_length: change.code_length.unwrap_or(before.code_length),
            updated_at: now,
            ..before.clone()
        };
        tx.execute(
            Query::new(
                "UPDATE twilio_services SET friendly_name = $1, code_length = $2, updated_at = $3
                 WHERE tenant_id = $4 AND sid = $5",
            )
            .bind(after.friendly_name.as_str())
            .bind(i64::from(after.code_length))
            .bind(now)
            .bind(tenant_id)
            .bind(sid),
        )
        .await?;
        tx.execute(change_entry(
            by,
            tenant_id,
            "twilio_service.updated",
            sid,
            Some(&before),
            Some(&after),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(Some(after))
    }

    async fn delete_twilio_service(
        &self,
        tenant_id: i64,
        sid: &str,
        now: i64,
        by: &Caller,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let Some(before) = service_row(&mut *tx, tenant_id, sid, B::LOCK_ROWS).await? else {
            return Ok(false);
        };
        tx.execute(
            Query::new("DELETE FROM twilio_services WHERE tenant_id = $1 AND sid = $2")
                .bind(tenant_id)
                .bind(sid),
        )
        .await?;
        tx.execute(change_entry(
            by,
            tenant_id,
            "twilio_service.deleted",
            sid,
            Some(&before),
            None,
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }
}

#[derive(sqlx::FromRow)]
struct VerificationRow {
    id: i64,
    sid: String,
    service_sid: String,
    recipient: String,
    channel: String,
    open: i64,
    expires_at: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    sid: String,
    channel: String,
    at: i64,
}

fn channel_of(name: &str) -> StoreResult<Channel> {
    Channel::parse(name).ok_or_else(|| StoreError::Corrupt(format!("channel `{name}`")))
}

const VERIFICATION_COLUMNS: &str =
    "id, sid, service_sid, recipient, channel, open, expires_at, created_at, updated_at";

#[async_trait]
impl<B: Backend> TwilioVerificationStore for B {
    async fn open_twilio_verification(
        &self,
        tenant_id: i64,
        new: &NewTwilioVerification<'_>,
    ) -> StoreResult<Option<i64>> {
        // Any conflict is the open one of the same service and `To` (SIDs are random).
        let mut tx = self.begin().await?;
        let id = tx
            .fetch_value(
                Query::new(
                    "INSERT INTO twilio_verifications (sid, tenant_id, service_sid, recipient,
                         channel, open, expires_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7)
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(new.sid)
                .bind(tenant_id)
                .bind(new.service_sid)
                .bind(new.recipient)
                .bind(new.channel.as_str())
                .bind(new.expires_at)
                .bind(new.now),
            )
            .await?;
        B::commit(tx).await?;
        Ok(id)
    }

    async fn twilio_verification(
        &self,
        tenant_id: i64,
        service_sid: &str,
        which: VerificationRef<'_>,
    ) -> StoreResult<Option<TwilioVerification>> {
        let mut reader = self.reader().await?;
        let (filter, value) = match which {
            VerificationRef::Sid(sid) => ("sid = $3", sid),
            VerificationRef::OpenFor(recipient) => ("recipient = $3 AND open = 1", recipient),
        };
        let row: Option<VerificationRow> = reader
            .fetch_optional(
                Query::text(format!(
                    "SELECT {VERIFICATION_COLUMNS} FROM twilio_verifications
                     WHERE tenant_id = $1 AND service_sid = $2 AND {filter}"
                ))
                .bind(tenant_id)
                .bind(service_sid)
                .bind(value),
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts: Vec<AttemptRow> = reader
            .fetch_all(
                Query::new(
                    "SELECT sid, channel, at FROM twilio_send_attempts
                     WHERE verification_id = $1 ORDER BY at, sid",
                )
                .bind(row.id),
            )
            .await?;
        Ok(Some(TwilioVerification {
            id: row.id,
            channel: channel_of(&row.channel)?,
            sid: row.sid,
            service_sid: row.service_sid,
            recipient: row.recipient,
            open: row.open == 1,
            expires_at: row.expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            attempts: attempts
                .into_iter()
                .map(|a| {
                    Ok(SendAttempt {
                        channel: channel_of(&a.channel)?,
                        sid: a.sid,
                        at: a.at,
                    })
                })
                .collect::<StoreResult<_>>()?,
        }))
    }

    async fn add_send_attempt(
        &self,
        verification_id: i64,
        attempt: &SendAttempt,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.execute(
            Query::new(
                "INSERT INTO twilio_send_attempts (sid, verification_id, channel, at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(attempt.sid.as_str())
            .bind(verification_id)
            .bind(attempt.channel.as_str())
            .bind(attempt.at),
        )
        .await?;
        B::commit(tx).await
    }

    async fn close_twilio_verification(&self, verification_id: i64, now: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let closed = tx
            .execute(
                Query::new(
                    "UPDATE twilio_verifications SET open = 0, updated_at = $2
                     WHERE id = $1 AND open = 1",
                )
                .bind(verification_id)
                .bind(now),
            )
            .await?;
        B::commit(tx).await?;
        Ok(closed == 1)
    }

    async fn forget_twilio_verification(&self, verification_id: i64) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.execute(
            Query::new("DELETE FROM twilio_verifications WHERE id = $1").bind(verification_id),
        )
        .await?;
        B::commit(tx).await
    }
}

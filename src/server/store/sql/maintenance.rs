//! Health and clean-up, for both stores: the ping, and the purge in short steps (codes of
//! expired sessions erased, their queued messages given up, old rows deleted in batches, old
//! limit records forgotten), so that nothing waits long on it and instances may purge at once.

use async_trait::async_trait;

use super::{Backend, Connection, Expiring, Query, deliveries, limits, outbox};
use crate::server::store::sessions::IDEMPOTENCY_WINDOW_SECS;
use crate::server::store::{Maintenance, PoolFigure, PurgeCounts, StoreResult};

#[async_trait]
impl<B: Backend> Maintenance for B {
    fn pool_figures(&self) -> Vec<PoolFigure> {
        Backend::pool_figures(self)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.reader().await?.execute(Query::new("SELECT 1")).await?;
        Ok(())
    }

    async fn unready(&self) -> StoreResult<Option<String>> {
        let applied: i64 = self
            .reader()
            .await?
            .fetch_value(Query::new(
                "SELECT CAST(coalesce(max(version), 0) AS BIGINT) FROM _sqlx_migrations
                 WHERE success",
            ))
            .await?
            .unwrap_or(0);
        if applied < self.known_migration() {
            return Ok(Some(
                "the database's migrations are behind this binary's".into(),
            ));
        }
        match self.takes_writes().await {
            Ok(true) => Ok(None),
            Ok(false) => Ok(Some("the database is read-only".into())),
            Err(error) => Ok(Some(format!("the database does not take writes: {error}"))),
        }
    }

    async fn purge(
        &self,
        now: i64,
        grace: i64,
        audit_before: i64,
        webhooks_before: i64,
    ) -> StoreResult<PurgeCounts> {
        let cutoff = now - grace;
        let mut tx = self.begin().await?;
        let codes_erased = tx.execute(outbox::erase_expired_codes(now)).await?;
        let deliveries_expired = tx.execute(deliveries::expire_overdue(now)).await?;
        B::commit(tx).await?;
        let sessions = self.delete_expired(Expiring::Sessions, cutoff).await?;
        let requests = self.delete_expired(Expiring::Requests, cutoff).await?;
        let idempotency = self
            .delete_expired(Expiring::IdempotencyKeys, now - IDEMPOTENCY_WINDOW_SECS)
            .await?;
        let audit_entries = self
            .delete_expired(Expiring::AuditEntries, audit_before)
            .await?;
        let webhook_deliveries = self
            .delete_expired(Expiring::WebhookDeliveries, webhooks_before)
            .await?;
        // Kept as long as their sessions: a check names nothing once both are gone.
        let twilio_verifications = self
            .delete_expired(Expiring::TwilioVerifications, cutoff)
            .await?;
        let mut tx = self.begin().await?;
        let limit_records = limits::purge::<B>(&mut tx, now).await?;
        B::commit(tx).await?;
        Ok(PurgeCounts {
            sessions,
            requests,
            idempotency,
            codes_erased,
            deliveries_expired,
            limit_records,
            audit_entries,
            webhook_deliveries,
            twilio_verifications,
        })
    }
}

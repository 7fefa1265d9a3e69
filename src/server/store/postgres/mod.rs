//! Storage on PostgreSQL through sqlx, for several otpgate instances on one database. Every
//! transaction runs at READ COMMITTED (the default); what must be exact is decided by atomic
//! conditional updates (a session's version, a streak's value, a message's status) or under row
//! locks taken in a fixed order (`limit_locks`, one row per counted subject), and the delivery
//! queue is claimed with `FOR UPDATE SKIP LOCKED`, so no job goes to two workers.

mod deliveries;
mod limits;
mod outbox;
mod sessions;
mod single;
mod tenants;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Maintenance, PurgeCounts, StoreResult};

/// The PostgreSQL store: one pool; reads and writes share it (PostgreSQL has no single writer).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and applies pending migrations (several instances starting at once is
    /// safe: sqlx serialises migrations with a lock of its own).
    pub async fn open(url: &str, pool_size: u32) -> StoreResult<PgStore> {
        let options = PgConnectOptions::from_str(url)?.application_name("otpgate");
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

#[async_trait]
impl Maintenance for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn purge(&self, now: i64, grace: i64) -> StoreResult<PurgeCounts> {
        // Each step is its own statement: rows deleted twice by instances purging at once are
        // simply not there for the second, and nothing waits on a long transaction.
        let cutoff = now - grace;
        let mut conn = self.pool.acquire().await?;
        let codes_erased = outbox::erase_expired_codes(&mut conn, now).await?;
        let deliveries_expired = deliveries::expire_overdue(&mut conn, now).await?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(cutoff)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let requests = sqlx::query("DELETE FROM sms_requests WHERE expires_at < $1")
            .bind(cutoff)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let idempotency = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(now - super::sessions::IDEMPOTENCY_WINDOW_SECS)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let limit_records = limits::purge(&mut conn, now).await?;
        Ok(PurgeCounts {
            sessions,
            requests,
            idempotency,
            codes_erased,
            deliveries_expired,
            limit_records,
        })
    }
}

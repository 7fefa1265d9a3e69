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
        // No ping before each use (one more round trip per statement or transaction): a
        // connection lost with a failover fails its next statement once and is then replaced.
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }

    /// Records a refusal on its own, after the transaction that found it was rolled back (the
    /// refused session or message is not kept).
    async fn record_refusal(
        &self,
        tenant_id: i64,
        record: &super::RefusalRecord,
        now: i64,
    ) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        limits::record_refusal(&mut conn, tenant_id, record, now).await
    }
}

/// Rows a purge deletes per statement.
const PURGE_BATCH: i64 = 1000;

/// Deletes the rows of `table` matching `condition` (`$1` bound to `value`), a batch per
/// statement, so no purge holds many row locks or one long transaction; how many. Rows another
/// instance's purge is deleting are skipped, not waited for.
async fn delete_in_batches(
    conn: &mut sqlx::PgConnection,
    table: &str,
    condition: &str,
    value: i64,
) -> StoreResult<u64> {
    let (key, columns) = if table == "idempotency_keys" {
        ("(tenant_id, key)", "tenant_id, key")
    } else {
        ("id", "id")
    };
    let sql = format!(
        "DELETE FROM {table} WHERE {key} IN
             (SELECT {columns} FROM {table} WHERE {condition} LIMIT $2 FOR UPDATE SKIP LOCKED)"
    );
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(&sql)
            .bind(value)
            .bind(PURGE_BATCH)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        deleted += batch;
        if batch < PURGE_BATCH as u64 {
            return Ok(deleted);
        }
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
        let sessions = delete_in_batches(&mut conn, "sessions", "expires_at < $1", cutoff).await?;
        let requests =
            delete_in_batches(&mut conn, "sms_requests", "expires_at < $1", cutoff).await?;
        let window = now - super::sessions::IDEMPOTENCY_WINDOW_SECS;
        let idempotency =
            delete_in_batches(&mut conn, "idempotency_keys", "created_at < $1", window).await?;
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

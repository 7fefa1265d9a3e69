//! Storage on PostgreSQL through sqlx, for several otpgate instances on one database: how this
//! store reads, writes and locks for the shared statements and flows (`sql/`). Every
//! transaction runs at READ COMMITTED (the default); what must be exact is decided by atomic
//! conditional updates (a session's version, a streak's value, a message's status) or under row
//! locks taken in a fixed order (`limit_locks`, one row per counted subject), and the delivery
//! queue is claimed with `FOR UPDATE SKIP LOCKED`, so no job goes to two workers.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Arguments, Postgres};

use super::StoreResult;
use super::deliveries::{CLAIMED_COLUMNS, CLAIMED_JOINS, ClaimedRow};
use super::sql::{Arg, Backend, Connection, Expiring, Plan, Query, Row, StepKind, Subject};
use crate::engine::limits::DAY;

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
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
    }
}

/// The schema's migrations, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Rows a purge deletes per statement.
const PURGE_BATCH: i64 = 1000;

/// PostgreSQL's arguments for `values`, in order (each typed as sqlx types it: BIGINT, TEXT,
/// BYTEA, so a NULL has a type too).
fn arguments(values: Vec<Arg>) -> PgArguments {
    let mut args = PgArguments::default();
    for value in values {
        let added = match value {
            Arg::Int(value) => args.add(value),
            Arg::Text(value) => args.add(value),
            Arg::Blob(value) => args.add(value),
        };
        added.expect("PostgreSQL arguments take integers, texts and byte strings");
    }
    args
}

#[async_trait]
impl Connection for PgConnection {
    async fn execute(&mut self, query: Query) -> StoreResult<u64> {
        let (sql, args) = query.into_parts();
        let done = sqlx::query_with::<Postgres, _>(&sql, arguments(args))
            .execute(&mut *self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all<R: Row>(&mut self, query: Query) -> StoreResult<Vec<R>> {
        let (sql, args) = query.into_parts();
        Ok(sqlx::query_as_with::<Postgres, R, _>(&sql, arguments(args))
            .fetch_all(&mut *self)
            .await?)
    }

    async fn fetch_optional<R: Row>(&mut self, query: Query) -> StoreResult<Option<R>> {
        let (sql, args) = query.into_parts();
        Ok(sqlx::query_as_with::<Postgres, R, _>(&sql, arguments(args))
            .fetch_optional(&mut *self)
            .await?)
    }

    /// Statement by statement, stopping at the first guard that changed no row.
    async fn run(&mut self, plan: Plan) -> StoreResult<bool> {
        for step in plan.into_steps() {
            let held = match step.kind {
                StepKind::Write => {
                    self.execute(step.query).await?;
                    true
                }
                StepKind::Guard => self.execute(step.query).await? > 0,
                StepKind::Check => self.fetch_optional::<(i32,)>(step.query).await?.is_some(),
            };
            if !held {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[async_trait]
impl Backend for PgStore {
    type Conn = PgConnection;
    type Reader = sqlx::pool::PoolConnection<Postgres>;
    type Writer = sqlx::Transaction<'static, Postgres>;

    const LOCK_ROWS: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    async fn reader(&self) -> StoreResult<Self::Reader> {
        Ok(self.pool.acquire().await?)
    }

    async fn begin(&self) -> StoreResult<Self::Writer> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(writer: Self::Writer) -> StoreResult<()> {
        Ok(writer.commit().await?)
    }

    async fn write(&self, plan: Plan) -> StoreResult<bool> {
        if plan.is_empty() {
            return Ok(true);
        }
        let mut tx = self.begin().await?;
        // A check reads what others write without locking it: the subjects it counts are
        // locked before it, so that it sees every write of a transaction that held them
        // before. Under READ COMMITTED a guard waits for a concurrent writer of its row, then
        // re-checks its condition against what that one committed: at most one of two racing
        // decisions holds. One that does not is rolled back whole (dropping the transaction).
        let (before, locks, after) = plan.split_at_lock();
        if !tx.run(before).await? {
            return Ok(false);
        }
        if let Some(locks) = locks {
            Self::lock_subjects(&mut tx, locks.tenant_id, locks.subjects, locks.now).await?;
        }
        if !tx.run(after).await? {
            return Ok(false);
        }
        Self::commit(tx).await?;
        Ok(true)
    }

    /// Locks the subjects' `limit_locks` rows in one statement and one order (sorted), so two
    /// transactions never wait on each other in a circle; under READ COMMITTED each later
    /// statement then sees every event a transaction before it recorded, so "4 of 5" is never
    /// counted twice.
    async fn lock_subjects(
        conn: &mut PgConnection,
        tenant_id: i64,
        mut subjects: Vec<Subject>,
        now: i64,
    ) -> StoreResult<()> {
        if subjects.is_empty() {
            return Ok(());
        }
        subjects.sort();
        subjects.dedup();
        let (scopes, keys): (Vec<&str>, Vec<Vec<u8>>) = subjects.into_iter().unzip();
        sqlx::query(
            "INSERT INTO limit_locks (tenant_id, scope, subject, touched_at)
             SELECT $1, s.scope, s.subject, $4
             FROM UNNEST($2::TEXT[], $3::BYTEA[]) AS s (scope, subject)
             ORDER BY s.scope, s.subject
             ON CONFLICT (tenant_id, scope, subject) DO UPDATE SET touched_at = EXCLUDED.touched_at",
        )
        .bind(tenant_id)
        .bind(&scopes)
        .bind(&keys)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Rows another worker holds are skipped rather than waited for.
    async fn release_lapsed_leases(conn: &mut PgConnection, now: i64) -> StoreResult<()> {
        conn.execute(
            Query::new(
                "UPDATE deliveries SET status = 'queued', lease_until = NULL
                 WHERE id IN (SELECT id FROM deliveries WHERE status = 'sending' AND lease_until < $1
                              FOR UPDATE SKIP LOCKED)",
            )
            .bind(now),
        )
        .await?;
        Ok(())
    }

    /// One statement: rows another worker is claiming are skipped, never taken twice.
    async fn lease_due(
        conn: &mut PgConnection,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedRow>> {
        let sql = format!(
            "WITH claimed AS (
                 UPDATE deliveries SET status = 'sending', lease_until = $1,
                     attempts = attempts + 1, updated_at = $2
                 WHERE id IN (SELECT id FROM deliveries
                              WHERE status = 'queued' AND next_attempt_at <= $2
                              ORDER BY next_attempt_at, id LIMIT $3
                              FOR UPDATE SKIP LOCKED)
                 RETURNING *)
             SELECT {CLAIMED_COLUMNS} FROM claimed d {CLAIMED_JOINS}
             ORDER BY d.next_attempt_at, d.id"
        );
        conn.fetch_all(
            Query::text(sql)
                .bind(now + lease_secs)
                .bind(now)
                .bind(limit),
        )
        .await
    }

    /// A batch per statement, so no purge holds many row locks or one long transaction; rows
    /// another instance's purge is deleting are skipped, not waited for.
    async fn delete_expired(&self, what: Expiring, before: i64) -> StoreResult<u64> {
        let (table, column) = (what.table(), what.column());
        let (key, columns) = match what {
            Expiring::IdempotencyKeys => ("(tenant_id, key)", "tenant_id, key"),
            Expiring::Sessions
            | Expiring::Requests
            | Expiring::AuditEntries
            | Expiring::WebhookDeliveries
            | Expiring::TwilioVerifications => ("id", "id"),
        };
        let sql = format!(
            "DELETE FROM {table} WHERE {key} IN
                 (SELECT {columns} FROM {table} WHERE {column} < $1 LIMIT $2
                  FOR UPDATE SKIP LOCKED)"
        );
        let mut conn = self.reader().await?;
        let mut deleted = 0;
        loop {
            let batch = conn
                .execute(Query::text(sql.clone()).bind(before).bind(PURGE_BATCH))
                .await?;
            deleted += batch;
            if batch < PURGE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// A standby (after a failover that left this instance on a replica) refuses writes.
    async fn takes_writes(&self) -> StoreResult<bool> {
        let read_only: Option<String> = self
            .reader()
            .await?
            .fetch_value(Query::new(
                "SELECT current_setting('transaction_read_only')",
            ))
            .await?;
        Ok(read_only.as_deref() != Some("on"))
    }

    fn pool_figures(&self) -> Vec<super::PoolFigure> {
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        vec![super::PoolFigure {
            pool: "shared",
            in_use: size.saturating_sub(idle),
            idle,
            max: self.pool.options().get_max_connections(),
        }]
    }

    fn known_migration(&self) -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    async fn forget_idle_locks(conn: &mut PgConnection, now: i64) -> StoreResult<()> {
        conn.execute(Query::new("DELETE FROM limit_locks WHERE touched_at <= $1").bind(now - DAY))
            .await?;
        Ok(())
    }
}

//! Storage on SQLite through sqlx: how this store reads, writes and batches for the shared
//! statements and flows (`sql/`). Writes go through a single-connection pool inside
//! `BEGIN IMMEDIATE`, so they are serialised by SQLite's write lock across threads and
//! processes (the CLI, a second instance) alike; a decision made on a copy read from a reader
//! connection is written only over the version it was made on, most of them grouped several
//! to a transaction (`group_commit`). Reads use connections of their own, so status and
//! look-ups never queue behind writes (WAL mode).

mod batch;
mod checkpoint;
mod group_commit;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use async_trait::async_trait;

use super::deliveries::{CLAIMED_COLUMNS, CLAIMED_JOINS, ClaimedRow};
use super::sql::{Backend, Connection, Expiring, Plan, Query, Row, Subject};
use super::{StoreError, StoreResult, wall_clock_ms};
use batch::{Batch, arguments};

/// The schema's migrations, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Reader connections: each read takes one while it runs.
const READERS: usize = 8;

/// The SQLite store: reader connections and a one-connection writer pool on the same file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Held by the store itself, not by a sqlx pool: sqlx pings a pooled connection on its
    /// thread each time it is returned (one more hand-off per read, for a file that cannot go
    /// stale); these go back to the set as they are.
    read: deadpool::unmanaged::Pool<SqliteConnection>,
    write: SqlitePool,
    /// Marks the writer connection for replacement after a failed commit.
    suspect: WriterSuspect,
    group: group_commit::GroupCommit,
    _checkpointer: checkpoint::Checkpointer,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    /// A failed migration is an error: the server must not start on a schema it does not know.
    pub async fn open(url: &str) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL still never corrupts; it may lose the last commits on power loss.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Sorting and temporary indexes stay in memory.
            .pragma("temp_store", "memory");
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        // No ping before each use: a connection to a local file does not go stale, and each
        // ping is one more hand-off to the connection's thread.
        // The writer maps the file: its transactions (a purge's deletions above all) walk many
        // pages. Readers copy instead: each mapping reader remaps when the file grows, and the
        // unmaps stall every thread of the process (a verify profile showed them). The writer
        // leaves checkpoints to a connection of their own (`checkpoint`).
        let suspect = WriterSuspect::default();
        let replace = suspect.clone();
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            // A connection whose commit failed is closed here, and the pool opens a fresh one.
            .before_acquire(move |_, _| {
                let keep = !replace.take();
                Box::pin(async move { Ok(keep) })
            })
            .connect_with(
                options
                    .clone()
                    .pragma("mmap_size", "268435456")
                    .pragma("wal_autocheckpoint", "0"),
            )
            .await?;
        MIGRATOR.run(&write).await?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(options.clone().read_only(true).connect().await?);
        }
        let read = deadpool::unmanaged::Pool::from(readers);
        let checkpointer = checkpoint::Checkpointer::start(options).await?;
        let group = group_commit::GroupCommit::start(write.clone(), suspect.clone());
        Ok(SqliteStore {
            read,
            write,
            suspect,
            group,
            _checkpointer: checkpointer,
        })
    }

    /// A reader connection, back in the set when dropped.
    async fn reader_connection(
        &self,
    ) -> StoreResult<deadpool::unmanaged::Object<SqliteConnection>> {
        self.read
            .get()
            .await
            .map_err(|error| StoreError::Unavailable(format!("no reader connection: {error}")))
    }
}

/// Set when a commit on the writer connection failed. SQLite may keep such a connection in an
/// error state — after an I/O error writing the log it answers every later write "attempt to
/// write a readonly database", even once the file takes writes again — so the next checkout
/// of the writer pool closes it and opens a fresh one.
#[derive(Clone, Debug, Default)]
pub(super) struct WriterSuspect(Arc<AtomicBool>);

impl WriterSuspect {
    pub(super) fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the connection is to be replaced (and no longer marked).
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// A write transaction on the writer connection, which marks the connection when its commit
/// fails.
pub struct SqliteWriter {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    suspect: WriterSuspect,
}

impl std::ops::Deref for SqliteWriter {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for SqliteWriter {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// Begins a write transaction on `write` (the writer pool) that holds SQLite's write lock from
/// its first statement, so a read inside it cannot go stale before the write that depends on it.
async fn begin_write(write: &SqlitePool) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
    match write.begin_with("BEGIN IMMEDIATE").await {
        Err(sqlx::Error::InvalidSavePointStatement) => {
            // The writer connection still counts a transaction that was never finished (a
            // task cancelled mid-write): it can never begin another. Close it; the pool
            // opens a fresh one, and SQLite rolls back whatever the old one left open.
            tracing::warn!("the writer connection was left inside a transaction; replacing it");
            write.acquire().await?.close().await?;
            Ok(write.begin_with("BEGIN IMMEDIATE").await?)
        }
        other => Ok(other?),
    }
}

/// Rows a purge deletes per transaction: small enough that a write waiting behind one batch
/// (with its cascades) waits a few milliseconds; `bench/scale` measures it.
const PURGE_BATCH: i64 = 200;

#[async_trait]
impl Connection for SqliteConnection {
    async fn execute(&mut self, query: Query) -> StoreResult<u64> {
        let (sql, args) = query.into_parts();
        let done = sqlx::query_with(&sql, arguments(args))
            .execute(&mut *self)
            .await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all<R: Row>(&mut self, query: Query) -> StoreResult<Vec<R>> {
        let (sql, args) = query.into_parts();
        Ok(sqlx::query_as_with(&sql, arguments(args))
            .fetch_all(&mut *self)
            .await?)
    }

    async fn fetch_optional<R: Row>(&mut self, query: Query) -> StoreResult<Option<R>> {
        let (sql, args) = query.into_parts();
        Ok(sqlx::query_as_with(&sql, arguments(args))
            .fetch_optional(&mut *self)
            .await?)
    }

    /// The whole plan as one text: one hand-off to the connection's thread.
    async fn run(&mut self, plan: Plan) -> StoreResult<bool> {
        Batch::from(plan).run(self).await
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Conn = SqliteConnection;
    type Reader = deadpool::unmanaged::Object<SqliteConnection>;
    type Writer = SqliteWriter;

    const LOCK_ROWS: &'static str = "";
    const SKIP_LOCKED: &'static str = "";

    async fn reader(&self) -> StoreResult<Self::Reader> {
        self.reader_connection().await
    }

    async fn begin(&self) -> StoreResult<Self::Writer> {
        Ok(SqliteWriter {
            tx: begin_write(&self.write).await?,
            suspect: self.suspect.clone(),
        })
    }

    async fn commit(writer: Self::Writer) -> StoreResult<()> {
        let SqliteWriter { tx, suspect } = writer;
        tx.commit().await.map_err(|error| {
            suspect.mark();
            error.into()
        })
    }

    async fn write(&self, plan: Plan) -> StoreResult<bool> {
        self.group.commit(Batch::from(plan)).await
    }

    async fn lock_subjects(
        _conn: &mut SqliteConnection,
        _tenant_id: i64,
        _subjects: Vec<Subject>,
        _now: i64,
    ) -> StoreResult<()> {
        Ok(())
    }

    async fn release_lapsed_leases(conn: &mut SqliteConnection, now: i64) -> StoreResult<()> {
        conn.execute(
            Query::new(
                "UPDATE deliveries SET status = 'queued', lease_until = NULL
                 WHERE status = 'sending' AND lease_until < $1",
            )
            .bind(now),
        )
        .await?;
        Ok(())
    }

    async fn lease_due(
        conn: &mut SqliteConnection,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedRow>> {
        let leased: Vec<(i64,)> = conn
            .fetch_all(
                Query::new(
                    "UPDATE deliveries SET status = 'sending', lease_until = $1,
                         attempts = attempts + 1, updated_at = $2
                     WHERE id IN (SELECT id FROM deliveries
                                  WHERE status = 'queued' AND next_attempt_at <= $2
                                  ORDER BY next_attempt_at, id LIMIT $3)
                     RETURNING id",
                )
                .bind(now + lease_secs)
                .bind(now)
                .bind(limit),
            )
            .await?;
        let mut rows = Vec::with_capacity(leased.len());
        for (id,) in leased {
            let sql = format!(
                "SELECT {CLAIMED_COLUMNS} FROM deliveries d {CLAIMED_JOINS} WHERE d.id = $1"
            );
            rows.push(conn.fetch_one(Query::text(sql).bind(id)).await?);
        }
        Ok(rows)
    }

    /// A batch per write transaction, by `rowid`; each batch followed by a rest as long as it
    /// took. SQLite deletes on this process's own threads: a purge run flat out keeps one of
    /// the cores busy, and requests queue for the other. Resting as long as the batch took (its
    /// wait for the writer included, so it yields more when the writer is busy) halves its share
    /// at most, so a day's expired sessions go in minutes, not seconds, and verifications
    /// meanwhile keep their pace.
    async fn delete_expired(&self, what: Expiring, before: i64) -> StoreResult<u64> {
        let (table, column) = (what.table(), what.column());
        let sql = format!(
            "DELETE FROM {table} WHERE rowid IN
                 (SELECT rowid FROM {table} WHERE {column} < $1 LIMIT $2)"
        );
        let mut deleted = 0;
        loop {
            let started = Instant::now();
            let mut tx = self.begin().await?;
            let batch = tx
                .execute(Query::text(sql.clone()).bind(before).bind(PURGE_BATCH))
                .await?;
            Self::commit(tx).await?;
            deleted += batch;
            if batch < PURGE_BATCH as u64 {
                return Ok(deleted);
            }
            tokio::time::sleep(started.elapsed()).await;
        }
    }

    async fn forget_idle_locks(_conn: &mut SqliteConnection, _now: i64) -> StoreResult<()> {
        Ok(())
    }

    /// Takes the write lock and gives it back (nothing written): what every write needs first.
    async fn takes_writes(&self) -> StoreResult<bool> {
        // A committed write, not only the write lock: a file that takes no writes still lets a
        // transaction begin, and fails only when the write reaches it.
        let probe = async {
            let mut tx = self.begin().await?;
            tx.execute(
                Query::new(
                    "INSERT INTO readiness_probe (id, checked_at) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                )
                .bind(wall_clock_ms()),
            )
            .await?;
            SqliteStore::commit(tx).await
        };
        probe.await.inspect_err(|_| {
            // A connection opened while the file took no writes stays read-only for good.
            self.suspect.mark();
        })?;
        Ok(true)
    }

    fn pool_figures(&self) -> Vec<super::PoolFigure> {
        let readers = self.read.status();
        let idle = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let writer_size = self.write.size();
        let writer_idle = idle(self.write.num_idle());
        vec![
            super::PoolFigure {
                pool: "reader",
                in_use: idle(readers.size.saturating_sub(readers.available)),
                idle: idle(readers.available),
                max: idle(readers.max_size),
            },
            super::PoolFigure {
                pool: "writer",
                in_use: writer_size.saturating_sub(writer_idle),
                idle: writer_idle,
                max: 1,
            },
        ]
    }

    fn known_migration(&self) -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }
}

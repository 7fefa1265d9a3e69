//! Storage on SQLite through sqlx. Writes go through a single-connection pool inside
//! `BEGIN IMMEDIATE`, so they are serialised by SQLite's write lock across threads and
//! processes (the CLI, a second instance) alike; a decision made on a copy read from a reader
//! connection is written only over the version it was made on, most of them grouped several
//! to a transaction (`group_commit`). Reads use connections of their own, so status and
//! look-ups never queue behind writes (WAL mode).

mod checkpoint;
mod deliveries;
mod group_commit;
mod limits;
mod outbox;
mod sessions;
mod single;
mod statements;
mod tenants;

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use async_trait::async_trait;

use super::{Maintenance, PurgeCounts, StoreError, StoreResult};

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
                StoreError::Conflict(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        // No ping before each use: a connection to a local file does not go stale, and each
        // ping is one more hand-off to the connection's thread.
        // The writer maps the file: its transactions (a purge's deletions above all) walk many
        // pages. Readers copy instead: each mapping reader remaps when the file grows, and the
        // unmaps stall every thread of the process (a verify profile showed them). The writer
        // leaves checkpoints to a connection of their own (`checkpoint`).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .pragma("mmap_size", "268435456")
                    .pragma("wal_autocheckpoint", "0"),
            )
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(options.clone().read_only(true).connect().await?);
        }
        let read = deadpool::unmanaged::Pool::from(readers);
        let checkpointer = checkpoint::Checkpointer::start(options).await?;
        let group = group_commit::GroupCommit::start(write.clone());
        Ok(SqliteStore {
            read,
            write,
            group,
            _checkpointer: checkpointer,
        })
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        begin_write(&self.write).await
    }

    /// A reader connection, back in the set when dropped.
    async fn reader(&self) -> StoreResult<deadpool::unmanaged::Object<SqliteConnection>> {
        self.read
            .get()
            .await
            .map_err(|error| StoreError::Conflict(format!("no reader connection: {error}")))
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

impl SqliteStore {
    /// Deletes the rows of `table` matching `condition` (one `?`, bound to `value`), a batch per
    /// write transaction; how many.
    async fn delete_in_batches(
        &self,
        table: &str,
        condition: &str,
        value: i64,
    ) -> StoreResult<u64> {
        let sql = format!(
            "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {condition} LIMIT ?)"
        );
        let mut deleted = 0;
        loop {
            let started = Instant::now();
            let mut tx = self.begin_write().await?;
            let batch = sqlx::query(&sql)
                .bind(value)
                .bind(PURGE_BATCH)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            deleted += batch;
            if batch < PURGE_BATCH as u64 {
                return Ok(deleted);
            }
            // SQLite deletes on this process's own threads: a purge run flat out keeps one of
            // the cores busy, and requests queue for the other. Resting as long as the batch
            // took (its wait for the writer included, so it yields more when the writer is
            // busy) halves its share at most, so a day's expired sessions go in minutes, not
            // seconds, and verifications meanwhile keep their pace.
            tokio::time::sleep(started.elapsed()).await;
        }
    }
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.reader().await?)
            .await?;
        Ok(())
    }

    async fn purge(&self, now: i64, grace: i64) -> StoreResult<PurgeCounts> {
        // Short transactions, and deletions in batches: the writer is free between them, so a
        // day's expired sessions never hold verifications up for the whole clean-up.
        let cutoff = now - grace;
        let mut tx = self.begin_write().await?;
        let codes_erased = outbox::erase_expired_codes(&mut tx, now).await?;
        let deliveries_expired = deliveries::expire_overdue(&mut tx, now).await?;
        tx.commit().await?;
        let sessions = self
            .delete_in_batches("sessions", "expires_at < ?", cutoff)
            .await?;
        let requests = self
            .delete_in_batches("sms_requests", "expires_at < ?", cutoff)
            .await?;
        let idempotency = self
            .delete_in_batches(
                "idempotency_keys",
                "created_at < ?",
                now - super::sessions::IDEMPOTENCY_WINDOW_SECS,
            )
            .await?;
        let mut tx = self.begin_write().await?;
        let limit_records = limits::purge(&mut tx, now).await?;
        tx.commit().await?;
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

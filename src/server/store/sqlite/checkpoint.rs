//! WAL checkpoints off the writer's path. By default SQLite copies the write-ahead log back
//! into the database inside whichever commit pushes the log past 1,000 pages: that commit, and
//! every decision queued behind it, waits for the copy and its fsync (`bench/scale` measured
//! verification p99 at 30–100 ms while a purge wrote). Here the writer connection never
//! checkpoints; a connection of its own does, twice a second, in PASSIVE mode, which waits
//! for neither readers nor the writer.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tokio::time::MissedTickBehavior;

use crate::server::store::StoreResult;

/// How often the log is copied back: often enough that it stays a few thousand pages at most
/// under a steady write load.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Keeps the checkpoint task running: it stops once the last clone of the store is dropped.
#[derive(Clone, Debug)]
pub(super) struct Checkpointer {
    _alive: Arc<()>,
}

impl Checkpointer {
    /// Opens the checkpointing connection with `options` and starts its task.
    pub(super) async fn start(options: SqliteConnectOptions) -> StoreResult<Checkpointer> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let alive = Arc::new(());
        let store_alive = Arc::downgrade(&alive);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if store_alive.strong_count() == 0 {
                    break;
                }
                // A checkpoint that cannot run now (the database busy with another process's
                // checkpoint) is simply tried again at the next tick.
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
            }
            pool.close().await;
        });
        Ok(Checkpointer { _alive: alive })
    }
}

//! Group commit: decisions whose writes need no answer from the database beyond "did the
//! guards hold" (a counted wrong code, a verified channel, a refusal's record) queue here, and
//! one task writes everything that has queued meanwhile in one write transaction. SQLite has
//! one writer; under load, decisions no longer wait for the writer one at a time, and each
//! costs one hand-off to the connection's thread instead of a transaction of its own.
//!
//! Each decision runs inside its own savepoint, so a stale one (its session or a streak moved
//! since it was loaded) or a failed one is undone alone and the others are kept. Nobody hears
//! "written" before the transaction holding their writes has committed.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::begin_write;
use super::statements::Statements;
use crate::server::store::{StoreError, StoreResult};

/// Decisions written in one transaction at most: enough to absorb a burst, few enough that
/// a transaction stays short for the other writers (the delivery worker, the purge, the CLI).
const MAX_BATCH: usize = 64;

/// Decisions that may wait for the writer task before callers are held back.
const QUEUE_LEN: usize = 4096;

/// Where decisions are handed to the writer task.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

/// One decision waiting to be written, and who waits for the answer.
struct Job {
    statements: Statements,
    answer: oneshot::Sender<StoreResult<bool>>,
}

impl GroupCommit {
    /// Starts the writer task on `write` (the one-connection writer pool); it ends when the
    /// last `GroupCommit` is dropped, after writing what was queued.
    pub(super) fn start(write: SqlitePool) -> GroupCommit {
        let (queue, jobs) = mpsc::channel(QUEUE_LEN);
        tokio::spawn(write_batches(write, jobs));
        GroupCommit { queue }
    }

    /// Writes `statements` with whatever else is queued; whether their guards held (when they
    /// did not, nothing of them was written).
    pub(super) async fn commit(&self, statements: Statements) -> StoreResult<bool> {
        let (answer, answered) = oneshot::channel();
        let job = Job { statements, answer };
        self.queue.send(job).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Conflict("the SQLite writer task has stopped".into())
}

/// The writer task: takes what has queued (at least one decision), writes it, answers.
async fn write_batches(write: SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let answers = write_batch(&write, &mut batch).await;
        for (job, answer) in batch.drain(..).zip(answers) {
            // A caller that went away (its request was dropped) no longer needs the answer;
            // what it asked for is written all the same, like a reply lost on the way.
            let _ = job.answer.send(answer);
        }
    }
}

/// Writes a batch in one transaction, each decision in a savepoint; one answer per decision.
async fn write_batch(write: &SqlitePool, batch: &mut [Job]) -> Vec<StoreResult<bool>> {
    let mut tx = match begin_write(write).await {
        Ok(tx) => tx,
        Err(error) => return every_one_fails(batch.len(), &error),
    };
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let statements = std::mem::take(&mut job.statements).in_savepoint("decision");
        let answer = statements.run(&mut tx).await;
        if !matches!(answer, Ok(true)) {
            // Undo this decision alone; if even that fails, the transaction is unusable.
            if let Err(error) = sqlx::query("ROLLBACK TO decision").execute(&mut *tx).await {
                return every_one_fails(batch.len(), &error.into());
            }
        }
        answers.push(answer);
    }
    match tx.commit().await {
        Ok(()) => answers,
        Err(error) => every_one_fails(batch.len(), &error.into()),
    }
}

/// The same failure for each of `count` decisions (a database error cannot be cloned).
fn every_one_fails(count: usize, error: &StoreError) -> Vec<StoreResult<bool>> {
    tracing::error!(%error, decisions = count, "a group of decisions could not be written");
    (0..count)
        .map(|_| {
            Err(StoreError::Conflict(format!(
                "the write transaction failed: {error}"
            )))
        })
        .collect()
}

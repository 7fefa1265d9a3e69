//! Group commit: decisions whose writes need no answer from the database beyond "did the
//! guards hold" (a counted wrong code, a verified channel, a refusal's record) queue here, and
//! one task writes everything that has queued meanwhile in one write transaction. SQLite has
//! one writer; under load, decisions no longer wait for the writer one at a time, and each
//! costs one hand-off to the connection's thread instead of a transaction of its own.
//!
//! A batch is first sent to SQLite's connection thread as one text, `BEGIN IMMEDIATE` first:
//! when every guard held (the common case), a `COMMIT` is all that follows. Otherwise (a
//! session or a streak moved since it was loaded, or a statement failed) the batch is undone
//! and its decisions are written one by one, each inside its own savepoint, so a stale or
//! failed one is undone alone and the others are kept. Nobody hears "written" before the
//! transaction holding their writes has committed.

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::WriterSuspect;
use super::batch::Batch;
use crate::server::store::{StoreError, StoreResult};

/// Decisions written in one transaction at most: enough to absorb a burst, few enough that a
/// transaction stays short for the other writers (the delivery worker, the purge, the CLI) and
/// that the joined texts the writer connection keeps prepared stay small (`bench/` measured
/// 64 no faster).
const MAX_BATCH: usize = 16;

/// Decisions that may wait for the writer task before callers are held back.
const QUEUE_LEN: usize = 4096;

/// Where decisions are handed to the writer task.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

/// One decision waiting to be written, and who waits for the answer.
struct Job {
    batch: Batch,
    answer: oneshot::Sender<StoreResult<bool>>,
}

impl GroupCommit {
    /// Starts the writer task on `write` (the one-connection writer pool); it ends when the
    /// last `GroupCommit` is dropped, after writing what was queued.
    pub(super) fn start(write: SqlitePool, suspect: WriterSuspect) -> GroupCommit {
        let (queue, jobs) = mpsc::channel(QUEUE_LEN);
        tokio::spawn(write_batches(write, suspect, jobs));
        GroupCommit { queue }
    }

    /// Writes `batch` with whatever else is queued; whether their guards held (when they
    /// did not, nothing of them was written). Nothing to write holds at once.
    pub(super) async fn commit(&self, batch: Batch) -> StoreResult<bool> {
        if batch.is_empty() {
            return Ok(true);
        }
        let (answer, answered) = oneshot::channel();
        let job = Job { batch, answer };
        self.queue.send(job).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer task has stopped".into())
}

/// Batches the writer task writes on one checkout of the writer connection at most before it
/// gives the connection back, so that the other writers (the delivery worker, the purge,
/// resends) get their turn under a steady load.
const BATCHES_PER_CHECKOUT: usize = 8;

/// The writer task: takes what has queued (at least one decision), writes it, answers. It
/// keeps the writer connection while decisions keep coming (sqlx pings a pooled connection
/// each time it is returned, one more hand-off).
async fn write_batches(write: SqlitePool, suspect: WriterSuspect, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // A batch taken after the last write of a checkout is written by the next one: wait
        // for new decisions only when none is in hand (their callers wait for an answer, and
        // nothing else may ever come).
        if batch.is_empty() && jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let mut conn = match write.acquire().await {
            Ok(conn) => conn,
            Err(error) => {
                let failures = every_one_fails(batch.len(), &error.into());
                answer(&mut batch, failures);
                continue;
            }
        };
        for _ in 0..BATCHES_PER_CHECKOUT {
            let (answers, committed) = write_batch(&mut conn, &mut batch).await;
            let unavailable = answers
                .iter()
                .any(|a| matches!(a, Err(StoreError::Unavailable(_))));
            answer(&mut batch, answers);
            if !committed || unavailable {
                // Given back to be replaced (see `WriterSuspect`).
                suspect.mark();
                break;
            }
            while batch.len() < MAX_BATCH
                && let Ok(job) = jobs.try_recv()
            {
                batch.push(job);
            }
            if batch.is_empty() {
                break;
            }
        }
    }
}

/// Hands each decision of `batch` its answer.
fn answer(batch: &mut Vec<Job>, answers: Vec<StoreResult<bool>>) {
    for (job, answer) in batch.drain(..).zip(answers) {
        // A caller that went away (its request was dropped) no longer needs the answer;
        // what it asked for is written all the same, like a reply lost on the way.
        let _ = job.answer.send(answer);
    }
}

/// Writes a batch in one transaction; one answer per decision. The transaction is begun and
/// ended here in SQL (the task is never cancelled between the two), so the common case, every
/// guard holding, costs two hand-offs: the batch with its `BEGIN IMMEDIATE`, then `COMMIT`.
/// Also whether the connection is still sound: false when a `COMMIT` (or the rollback after a
/// failure) failed.
async fn write_batch(
    conn: &mut SqliteConnection,
    batch: &mut [Job],
) -> (Vec<StoreResult<bool>>, bool) {
    let mut joined = Batch::new();
    joined.push_text("BEGIN IMMEDIATE");
    for job in batch.iter() {
        joined.append(&job.batch);
    }
    match joined.run(&mut *conn).await {
        Ok(true) => {
            return match execute(conn, "COMMIT").await {
                Ok(()) => (batch.iter().map(|_| Ok(true)).collect(), true),
                Err(error) => {
                    let error = rolled_back(conn, error).await;
                    (every_one_fails(batch.len(), &error), false)
                }
            };
        }
        // A stale or failing decision among them (or no write lock within the busy timeout):
        // undo the batch and take the decisions one by one.
        _ => {
            if let Err(error) = rollback(conn).await {
                return (every_one_fails(batch.len(), &error), false);
            }
        }
    }
    if let Err(error) = execute(conn, "BEGIN IMMEDIATE").await {
        return (every_one_fails(batch.len(), &error), true);
    }
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let decision = std::mem::take(&mut job.batch).in_savepoint("decision");
        let answer = decision.run(&mut *conn).await;
        if !matches!(answer, Ok(true)) {
            // Undo this decision alone; if even that fails, the transaction is unusable.
            if let Err(error) = execute(conn, "ROLLBACK TO decision").await {
                let error = rolled_back(conn, error).await;
                return (every_one_fails(batch.len(), &error), false);
            }
        }
        answers.push(answer);
    }
    match execute(conn, "COMMIT").await {
        Ok(()) => (answers, true),
        Err(error) => {
            let error = rolled_back(conn, error).await;
            (every_one_fails(batch.len(), &error), false)
        }
    }
}

async fn execute(conn: &mut SqliteConnection, sql: &str) -> StoreResult<()> {
    sqlx::query(sql).execute(&mut *conn).await?;
    Ok(())
}

/// Ends whatever transaction the connection is in (none is fine); an error only when the
/// connection cannot even do that.
async fn rollback(conn: &mut SqliteConnection) -> StoreResult<()> {
    match sqlx::query("ROLLBACK").execute(&mut *conn).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(error))
            if error.message().contains("no transaction is active") =>
        {
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// `error`, after rolling back what it left open (the connection goes back to the pool outside
/// any transaction).
async fn rolled_back(conn: &mut SqliteConnection, error: StoreError) -> StoreError {
    if let Err(also) = rollback(conn).await {
        tracing::error!(%also, "the writer connection could not roll back");
    }
    error
}

/// The same failure for each of `count` decisions.
fn every_one_fails(count: usize, error: &StoreError) -> Vec<StoreResult<bool>> {
    tracing::error!(%error, decisions = count, "a group of decisions could not be written");
    (0..count).map(|_| Err(error.clone())).collect()
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;
    use crate::server::store::sql::{Plan, Query};

    /// A one-connection in-memory database with rows 1..=3 at `v = 0`.
    async fn database() -> SqlitePool {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("in-memory database");
        sqlx::raw_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);
             INSERT INTO t (id, v) VALUES (1, 0), (2, 0), (3, 0);",
        )
        .execute(&pool)
        .await
        .expect("table");
        pool
    }

    /// Sets row `id` from `from` to `to`, guarded by `from`.
    fn set(id: i64, from: i64, to: i64) -> Batch {
        let mut plan = Plan::new();
        plan.guard(
            Query::new("UPDATE t SET v = $1 WHERE id = $2 AND v = $3")
                .bind(to)
                .bind(id)
                .bind(from),
        );
        Batch::from(plan)
    }

    async fn values(pool: &SqlitePool) -> Vec<i64> {
        sqlx::query_scalar("SELECT v FROM t ORDER BY id")
            .fetch_all(pool)
            .await
            .expect("values")
    }

    #[tokio::test]
    async fn a_batch_whose_guards_all_hold_is_written_whole() {
        let pool = database().await;
        let group = GroupCommit::start(pool.clone(), WriterSuspect::default());
        // Queued together before the writer task runs (one thread): one batch.
        let (a, b, c) = tokio::join!(
            group.commit(set(1, 0, 1)),
            group.commit(set(2, 0, 2)),
            group.commit(set(3, 0, 3)),
        );
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (true, true, true));
        assert_eq!(values(&pool).await, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_stale_decision_in_a_batch_is_undone_alone() {
        let pool = database().await;
        let group = GroupCommit::start(pool.clone(), WriterSuspect::default());
        // The second was decided on the same copy as the first: its guard no longer holds.
        let (first, stale, other) = tokio::join!(
            group.commit(set(1, 0, 1)),
            group.commit(set(1, 0, 9)),
            group.commit(set(2, 0, 2)),
        );
        assert!(first.unwrap());
        assert!(!stale.unwrap());
        assert!(other.unwrap());
        assert_eq!(values(&pool).await, vec![1, 2, 0]);
    }

    #[tokio::test]
    async fn a_failing_decision_is_answered_with_its_error_and_the_others_are_kept() {
        let pool = database().await;
        let group = GroupCommit::start(pool.clone(), WriterSuspect::default());
        let mut failing = set(2, 0, 2);
        // NOT NULL: this statement fails after the guard above it has written.
        failing.push_text("UPDATE t SET v = NULL WHERE id = 3");
        let (first, failed, last) = tokio::join!(
            group.commit(set(1, 0, 1)),
            group.commit(failing),
            group.commit(set(3, 0, 3)),
        );
        assert!(first.unwrap());
        assert!(failed.is_err());
        assert!(last.unwrap());
        assert_eq!(
            values(&pool).await,
            vec![1, 0, 3],
            "nothing of the failed one stays"
        );
    }

    #[tokio::test]
    async fn decisions_beyond_one_checkout_are_all_answered_with_nothing_more_queued() {
        let pool = database().await;
        let group = GroupCommit::start(pool.clone(), WriterSuspect::default());
        // Queued together before the writer task runs: a checkout writes its batches, then
        // takes one more batch, the last; nothing further will ever be queued.
        let decisions = (BATCHES_PER_CHECKOUT + 1) * MAX_BATCH;
        let mut commits = tokio::task::JoinSet::new();
        for n in 0..decisions {
            let group = group.clone();
            let row = 1 + (n % 3) as i64;
            commits.spawn(async move { group.commit(set(row, 0, 0)).await });
        }
        let answers = tokio::time::timeout(std::time::Duration::from_secs(10), commits.join_all())
            .await
            .expect("every decision is answered");
        assert_eq!(answers.len(), decisions);
        assert!(answers.into_iter().all(|answer| answer.unwrap()));
    }

    #[tokio::test]
    async fn a_lone_decision_is_written_or_refused_on_its_own() {
        let pool = database().await;
        let group = GroupCommit::start(pool.clone(), WriterSuspect::default());
        assert!(group.commit(set(1, 0, 1)).await.unwrap());
        assert!(!group.commit(set(1, 0, 5)).await.unwrap());
        assert_eq!(values(&pool).await, vec![1, 0, 0]);
    }

    /// Sets row `id` to `to`, checked first: row `watched` must still be `at`.
    fn set_if(id: i64, to: i64, watched: i64, at: i64) -> Batch {
        let mut plan = Plan::new();
        plan.check(
            Query::new("SELECT 1 WHERE (SELECT v FROM t WHERE id = $1) = $2")
                .bind(watched)
                .bind(at),
        );
        plan.push(
            Query::new("UPDATE t SET v = $1 WHERE id = $2")
                .bind(to)
                .bind(id),
        );
        Batch::from(plan)
    }

    #[tokio::test]
    async fn a_check_holds_the_decision_only_while_what_it_reads_stands() {
        let pool = database().await;
        let group = GroupCommit::start(pool.clone(), WriterSuspect::default());
        // In one batch, in order: the second's check sees the first's write.
        let (first, stale, other) = tokio::join!(
            group.commit(set_if(3, 5, 3, 0)),
            group.commit(set_if(1, 7, 3, 0)),
            group.commit(set_if(2, 2, 2, 0)),
        );
        assert!(first.unwrap());
        assert!(!stale.unwrap(), "row 3 was no longer 0 when it was checked");
        assert!(other.unwrap());
        assert_eq!(values(&pool).await, vec![0, 2, 5]);
    }
}

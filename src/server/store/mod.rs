//! Storage: what the service keeps, as capability traits (sessions, single-SMS requests,
//! tenants and keys, their message templates, admin tokens, the audit log, the delivery queue, limit records, the outbox, maintenance), each trait
//! saying what its methods guarantee under concurrency. The service holds them as one
//! `Arc<dyn Store>`; the delivery worker only sees the queue. Every decision is the engine's: a
//! store reads a record, and writes a decision only over the state it was made on, counting
//! limits in the same transaction.
//!
//! Both databases run the same statements and flows (`sql/`, one dialect), each through a small
//! `sql::Backend` of its own (`sqlite/`, `postgres/`). What those do differently, on purpose:
//!
//! | what | SQLite (`sqlite/`) | PostgreSQL (`postgres/`) | why |
//! |---|---|---|---|
//! | writers | one connection; write transactions `BEGIN IMMEDIATE` | a pool; `BEGIN` at READ COMMITTED | SQLite has one writer per file, across processes; taking its lock first means a read inside the transaction cannot go stale |
//! | readers | 8 connections held by the store, not mapping the file | the same pool | sqlx pings a pooled connection on return (one more hand-off per read); mapping readers remap as the file grows |
//! | a decision's writes alone (`Backend::write`) | group commit: up to 16 callers' plans in one transaction, sent as one text | one transaction per plan | SQLite's writer is the bottleneck; PostgreSQL has no single writer |
//! | a send (`plan_send`: counts read on a reader, then one plan with checks through `Backend::write`) | the plan grouped with others' by the group commit; its checks run under the write lock | the plan's limit subjects' `limit_locks` rows locked in sorted order first, then its checks and writes in one transaction | SQLite's write lock already serialises the checks; under READ COMMITTED two PostgreSQL transactions would each check before the other's write |
//! | rows read to be changed (`LOCK_ROWS`) | nothing | `FOR UPDATE` | the write lock covers them |
//! | rows claimed by a worker (`SKIP_LOCKED`: webhook deliveries) | nothing | `FOR UPDATE SKIP LOCKED` | several PostgreSQL workers must skip each other's rows |
//! | claiming due messages (`lease_due`) | `UPDATE … RETURNING id`, then each message read | one `UPDATE … FOR UPDATE SKIP LOCKED` in a CTE | SQLite has no data-modifying CTEs; several PostgreSQL workers must skip each other's rows |
//! | purge batches (`delete_expired`) | 200 rows per transaction by `rowid`, resting as long as each took | 1,000 rows per statement, `SKIP LOCKED` | SQLite deletes on this process's threads and holds the one writer; PostgreSQL instances purge at once |
//! | checkpoints | a connection of their own, twice a second | the server's own | a commit that checkpoints holds every queued decision |

pub mod admin_tokens;
pub mod audit;
pub mod deliveries;
pub mod inspect;
pub mod limits;
pub mod outbox;
pub mod postgres;
pub mod sessions;
pub mod single;
mod sql;
pub mod sqlite;
pub mod templates;
pub mod tenants;
pub mod twilio;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;

pub use admin_tokens::{
    AdminPrincipal, AdminScope, AdminTokenInfo, AdminTokenStore, NewAdminToken,
};
pub use audit::{Actor, AuditEntry, AuditQuery, AuditStore, Caller};
pub use deliveries::{
    ClaimedDelivery, DeliveryStore, MovedMessage, NewMessage, NewRoute, Owner, QueueFigure,
    ReceiptKey, ReceiptOutcome, TryResult, wall_clock_ms,
};
pub use inspect::{
    AttemptRecord, ChannelOutcome, DeliveryQuery, History, InspectStore, MessageOutcome,
    MessageRecord, QueueStore, QueuedMessage, StatsStore, TryRecord,
};
pub use limits::{
    DestinationState, LimitStore, MessageSubjects, RefusalRecord, RefusalSummary, SendPolicy,
};
pub use outbox::{OutboxMessage, OutboxQuery, OutboxStore};
pub use postgres::PgStore;
pub use sessions::{
    CreateSession, Deliveries, IdempotencyRecord, NewChannel, Retry, SessionChange, SessionCommit,
    SessionCreation, SessionStore, StoredFallback, StoredIdempotency, StoredSession,
};
pub use single::{NewSingleRequest, SingleRequestStore, StoredSingleRequest};
pub use sqlite::SqliteStore;
pub use templates::{StoredTemplate, TemplateBody, TemplateStore};
pub use tenants::{
    AuthenticatedKey, KeyInfo, KeyRef, TenantGate, TenantInfo, TenantPatch, TenantSettings,
    TenantStore,
};
pub use twilio::{
    NewTwilioVerification, PageStart, SendAttempt, TwilioService, TwilioServiceChange, TwilioStore,
    TwilioVerification, TwilioVerificationStore, VerificationRef,
};
pub use webhooks::{
    ClaimedWebhook, EndpointInfo, EndpointPatch, EndpointSecrets, NewEndpoint, WebhookAttempt,
    WebhookDeliveryInfo, WebhookDeliveryQuery, WebhookOutcome, WebhookQueueFigure, WebhookStore,
};

/// Storage failures, by what the caller can do about them. Answered to API clients as a
/// generic 500 (logged with detail); the CLI and the admin path say `NotFound` and `Conflict`.
/// Every variant is text, so one failure can answer each of the calls it concerns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// What the call names does not exist (a tenant's name).
    #[error("{0}")]
    NotFound(String),
    /// It exists already (a unique name), or other calls kept changing the record first.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached or did not answer in time: I/O, the pool, a stopped
    /// writer task, a lock not granted. Trying again later may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A write broke a constraint of the schema (a NOT NULL, CHECK or foreign key): what was
    /// asked is wrong, since callers validate what they write.
    #[error("the database refused the write: {0}")]
    Constraint(String),
    /// The database holds something this version cannot read.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Unsupported(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        use sqlx::error::ErrorKind;
        match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            sqlx::Error::Database(database) => match database.kind() {
                ErrorKind::UniqueViolation => StoreError::Conflict(database.message().to_owned()),
                ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => {
                    StoreError::Constraint(database.message().to_owned())
                }
                _ if transient(database.as_ref()) => StoreError::Unavailable(error.to_string()),
                ErrorKind::Other if read_only(database.as_ref()) => {
                    StoreError::Unavailable(error.to_string())
                }
                _ => StoreError::Database(error.to_string()),
            },
            _ => StoreError::Database(error.to_string()),
        }
    }
}

/// Whether the database refused a write because it is read-only (SQLite's READONLY; a
/// PostgreSQL standby, `25006`).
fn read_only(error: &dyn sqlx::error::DatabaseError) -> bool {
    use sqlx::error::DatabaseError;
    if let Some(sqlite) = error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        let primary = sqlite
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff);
        return primary == Some(8);
    }
    error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|postgres| postgres.code() == "25006")
}

/// Whether a database error says "not now" rather than "never": SQLite busy, locked, out of
/// disk or unable to open its file; PostgreSQL's connection, resource, shutdown, lock and
/// serialisation failures.
fn transient(error: &dyn sqlx::error::DatabaseError) -> bool {
    use sqlx::error::DatabaseError;
    if let Some(sqlite) = error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        // Extended result codes keep the primary code in their low byte.
        let primary = sqlite
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff);
        return matches!(primary, Some(5 | 6 | 10 | 13 | 14));
    }
    if let Some(postgres) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = postgres.code();
        return ["08", "53", "57P"]
            .iter()
            .any(|class| code.starts_with(class))
            || matches!(code, "40001" | "40P01" | "55P03");
    }
    false
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::Migration(error.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Flags are stored as 0/1 integers in every store (SQLite's `STRICT` tables have no booleans),
/// so one row shape decodes them everywhere.
fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// What a purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub sessions: u64,
    pub requests: u64,
    pub idempotency: u64,
    /// Outbox codes erased because their session or request expired.
    pub codes_erased: u64,
    /// Queued messages given up (codes erased) because their session or request expired.
    pub deliveries_expired: u64,
    /// Limit counters and refusal records no window or report looks at any more.
    pub limit_records: u64,
    /// Audit entries older than their retention.
    pub audit_entries: u64,
    /// Webhook deliveries (with their attempts) older than their retention.
    pub webhook_deliveries: u64,
    /// Twilio-door verifications (with their send attempts) whose sessions expired.
    pub twilio_verifications: u64,
}

/// One pool of database connections, as `/metrics` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolFigure {
    /// `reader` or `writer` (SQLite), `shared` (PostgreSQL).
    pub pool: &'static str,
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

/// Health and clean-up.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// The connection pools, now.
    fn pool_figures(&self) -> Vec<PoolFigure>;

    /// A cheap query, to report health.
    async fn ping(&self) -> StoreResult<()>;

    /// Why the database cannot serve right now, or `None` when it can: its migrations are not
    /// behind this binary's and it takes writes (it is not read-only). A database that does
    /// not answer, or whose write lock is not obtained within the busy timeout, is an error.
    async fn unready(&self) -> StoreResult<Option<String>>;

    /// Erases the outbox codes of everything expired by `now`; deletes sessions, single-SMS
    /// requests (with their outbox messages) expired more than `grace` seconds before `now`,
    /// idempotency records older than 24 hours, limit records no window looks at, audit
    /// entries from before `audit_before` and webhook deliveries made before `webhooks_before`.
    /// Safe to run on every instance at once.
    async fn purge(
        &self,
        now: i64,
        grace: i64,
        audit_before: i64,
        webhooks_before: i64,
    ) -> StoreResult<PurgeCounts>;
}

/// Everything the service stores, in one object.
pub trait Store:
    SessionStore
    + SingleRequestStore
    + TenantStore
    + AdminTokenStore
    + AuditStore
    + DeliveryStore
    + OutboxStore
    + LimitStore
    + InspectStore
    + QueueStore
    + StatsStore
    + WebhookStore
    + TemplateStore
    + TwilioStore
    + TwilioVerificationStore
    + Maintenance
{
}

impl<T> Store for T where
    T: SessionStore
        + SingleRequestStore
        + TenantStore
        + AdminTokenStore
        + AuditStore
        + DeliveryStore
        + OutboxStore
        + LimitStore
        + InspectStore
        + QueueStore
        + StatsStore
        + WebhookStore
        + TemplateStore
        + TwilioStore
        + TwilioVerificationStore
        + Maintenance
{
}

/// Connections each instance keeps to PostgreSQL unless told otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Opens the store `url` names (`sqlite:` or `postgres:`), applying its migrations; `pool_size`
/// is the PostgreSQL pool's (SQLite has one writer and a fixed reader pool).
pub async fn open(url: &str, pool_size: u32) -> StoreResult<Arc<dyn Store>> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::open(url, pool_size).await?)),
        _ => Err(StoreError::Unsupported(format!(
            "unsupported database URL scheme `{scheme}:` (expected sqlite: or postgres:)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    #[tokio::test]
    async fn database_errors_are_told_apart_by_what_the_caller_can_do() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("in-memory database");
        sqlx::raw_sql(
            "CREATE TABLE t (a INTEGER NOT NULL UNIQUE CHECK (a > 0));
             CREATE TABLE u (t INTEGER NOT NULL REFERENCES t (a));
             PRAGMA foreign_keys = ON;
             INSERT INTO t (a) VALUES (1);",
        )
        .execute(&pool)
        .await
        .expect("tables");
        let error = |sql: &'static str| {
            let pool = pool.clone();
            async move { StoreError::from(sqlx::query(sql).execute(&pool).await.expect_err(sql)) }
        };
        assert!(matches!(
            error("INSERT INTO t (a) VALUES (1)").await,
            StoreError::Conflict(_)
        ));
        for sql in [
            "INSERT INTO t (a) VALUES (NULL)",
            "INSERT INTO t (a) VALUES (0)",
            "INSERT INTO u (t) VALUES (9)",
        ] {
            assert!(
                matches!(error(sql).await, StoreError::Constraint(_)),
                "{sql}"
            );
        }
        assert!(matches!(
            error("SELECT * FROM missing").await,
            StoreError::Database(_)
        ));
        pool.close().await;
        assert!(matches!(
            error("SELECT 1").await,
            StoreError::Unavailable(_)
        ));
    }
}

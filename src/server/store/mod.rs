//! Storage: what the service keeps, as capability traits (sessions, single-SMS requests,
//! tenants and keys, the delivery queue, limit records, the outbox, maintenance), each with one
//! implementation per database. The service holds them as one `Arc<dyn Store>`; the delivery
//! worker only sees the queue. Every decision is the engine's: a store reads a record, and
//! writes a decision only over the state it was made on, counting limits in the same
//! transaction.

pub mod deliveries;
pub mod limits;
pub mod outbox;
pub mod postgres;
pub mod sessions;
pub mod single;
pub mod sqlite;
pub mod tenants;

use std::sync::Arc;

use async_trait::async_trait;

pub use deliveries::{
    ClaimedDelivery, DeliveryStore, NewMessage, NewRoute, ReceiptKey, ReceiptOutcome, TryResult,
};
pub use limits::{LimitStore, MessageSubjects, RefusalRecord, RefusalSummary, SendPolicy};
pub use outbox::{OutboxMessage, OutboxQuery, OutboxStore};
pub use postgres::PgStore;
pub use sessions::{
    CreateSession, Deliveries, IdempotencyRecord, NewChannel, SessionChange, SessionCommit,
    SessionCreation, SessionStore, StoredIdempotency, StoredSession,
};
pub use single::{NewSingleRequest, SingleRequestStore, StoredSingleRequest};
pub use sqlite::SqliteStore;
pub use tenants::{AuthenticatedKey, KeyInfo, TenantInfo, TenantStore};

/// Storage failures. Answered to clients as a generic 500, logged with detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Unsupported(String),
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
}

/// Health and clean-up.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// A cheap query, to report health.
    async fn ping(&self) -> StoreResult<()>;

    /// Erases the outbox codes of everything expired by `now`; deletes sessions, single-SMS
    /// requests (with their outbox messages) expired more than `grace` seconds before `now`,
    /// idempotency records older than 24 hours, and limit records no window looks at. Safe to
    /// run on every instance at once.
    async fn purge(&self, now: i64, grace: i64) -> StoreResult<PurgeCounts>;
}

/// Everything the service stores, in one object.
pub trait Store:
    SessionStore
    + SingleRequestStore
    + TenantStore
    + DeliveryStore
    + OutboxStore
    + LimitStore
    + Maintenance
{
}

impl<T> Store for T where
    T: SessionStore
        + SingleRequestStore
        + TenantStore
        + DeliveryStore
        + OutboxStore
        + LimitStore
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

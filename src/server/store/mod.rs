//! Storage: what the service keeps, as capability traits (sessions, single-SMS requests,
//! tenants and keys, the delivery queue, limit records, the outbox, maintenance), each with one
//! implementation per database. The service holds them as one `Arc<dyn Store>`; the delivery
//! worker only sees the queue. Every decision is the engine's: a store reads a record, and
//! writes a decision only over the state it was made on, counting limits in the same
//! transaction.

pub mod deliveries;
pub mod limits;
pub mod outbox;
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

/// Opens the store `url` names (applying its migrations).
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::open(url).await?));
    }
    let scheme = url.split(':').next().unwrap_or_default();
    Err(StoreError::Unsupported(format!(
        "unsupported database URL scheme `{scheme}:` (expected sqlite:)"
    )))
}

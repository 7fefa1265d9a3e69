//! Single-SMS requests as stored: creation, decisions written over the state they were made on.

use async_trait::async_trait;

use super::*;
use crate::engine::limits::{LimitOverrides, Refusal, Streak};
use crate::engine::single::SingleRequest;

/// A single-SMS request to store.
#[derive(Clone, Debug)]
pub struct NewSingleRequest<'a> {
    pub tenant_id: i64,
    /// The tenant's name, for the events the request tells of.
    pub tenant_name: &'a str,
    pub request_id: &'a str,
    pub phone_number: &'a str,
    pub code_hash: &'a [u8],
    pub is_test: bool,
    pub created_at: i64,
    pub request: &'a SingleRequest,
    /// The SMS, written in the same transaction.
    pub message: NewMessage,
    /// The limits this send is held to.
    pub limits: &'a SendPolicy,
}

/// A single-SMS request as loaded for a decision.
#[derive(Clone, Debug)]
pub struct StoredSingleRequest {
    pub id: i64,
    pub tenant_id: i64,
    pub tenant_name: String,
    /// The request's ID (its UUID), as the integrator knows it.
    pub request_id: String,
    pub phone_number: String,
    pub code_hash: Vec<u8>,
    pub is_test: bool,
    pub created_at: i64,
    pub request: SingleRequest,
    /// The number's keyed hash and its run of failed verifications.
    pub destination: Option<Vec<u8>>,
    pub streak: Streak,
    /// The tenant's own limits.
    pub limits: LimitOverrides,
    /// Set by a decision that refuses the call under a limit, to be recorded.
    pub refusal: Option<RefusalRecord>,
}

/// Single-SMS requests. As for sessions, a decision is written only over the state it was
/// made on, so concurrent verifications of one request never count an attempt twice or let a
/// code through twice.
#[async_trait]
pub trait SingleRequestStore: Send + Sync {
    /// Stores a request with its message, counted under its limits as a session's send is
    /// (decided on counts read without the lock, written with checks that they still allow
    /// it): two sends at once never pass a limit together. A refused one stores only the
    /// refusal's record.
    async fn create_single_request(
        &self,
        new: &NewSingleRequest<'_>,
    ) -> StoreResult<Result<(), Refusal>>;

    /// Loads a request by its canonical ID, scoped to its tenant, without the write lock.
    async fn load_single_request(
        &self,
        tenant_id: i64,
        request_id: &str,
    ) -> StoreResult<Option<StoredSingleRequest>>;

    /// Writes what a decision on a request loaded without the write lock changed (its counters
    /// and its number's streak, or only the refusal it made), if the request and the streak
    /// still stand as they were loaded. False when one had moved: nothing written, load and
    /// decide again.
    async fn commit_single_request(
        &self,
        before: &StoredSingleRequest,
        after: &StoredSingleRequest,
        now: i64,
    ) -> StoreResult<bool>;
}

/// A single-SMS request as both stores read it, with its number's streak.
#[derive(sqlx::FromRow)]
pub(super) struct SingleRequestRow {
    pub(super) id: i64,
    tenant_id: i64,
    tenant_name: String,
    request_id: String,
    limits: Option<String>,
    phone_number: String,
    code_hash: Vec<u8>,
    failed_attempts: i64,
    is_test: i64,
    created_at: i64,
    pub(super) expires_at: i64,
    verified_at: Option<i64>,
    destination: Option<Vec<u8>>,
    streak_failures: Option<i64>,
    streak_locked_until: Option<i64>,
}

pub(super) fn single_from_row(row: SingleRequestRow) -> StoreResult<StoredSingleRequest> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    Ok(StoredSingleRequest {
        id: row.id,
        tenant_id: row.tenant_id,
        tenant_name: row.tenant_name,
        request_id: row.request_id,
        phone_number: row.phone_number,
        code_hash: row.code_hash,
        is_test: row.is_test == 1,
        created_at: row.created_at,
        request: SingleRequest {
            failed_attempts: u32::try_from(row.failed_attempts)
                .map_err(|_| corrupt("failed_attempts"))?,
            expires_at: row.expires_at,
            verified_at: row.verified_at,
        },
        destination: row.destination,
        streak: Streak {
            failures: row
                .streak_failures
                .map_or(Ok(0), |n| u32::try_from(n).map_err(|_| corrupt("streak")))?,
            locked_until: row.streak_locked_until,
        },
        limits: match row.limits {
            Some(json) => serde_json::from_str(&json).map_err(|_| corrupt("tenant limits"))?,
            None => LimitOverrides::default(),
        },
        refusal: None,
    })
}

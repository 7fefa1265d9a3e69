//! Single-SMS requests: creation and atomic verification.

use sqlx::Row;

use super::deliveries::{self, NewMessage, Owner};
use super::{Store, StoreError, StoreResult, flag};
use crate::engine::single::SingleRequest;

/// A single-SMS request to store.
#[derive(Clone, Debug)]
pub struct NewSingleRequest<'a> {
    pub tenant_id: i64,
    pub request_id: &'a str,
    pub phone_number: &'a str,
    pub code_hash: &'a [u8],
    pub is_test: bool,
    pub created_at: i64,
    pub request: &'a SingleRequest,
    /// The SMS, written in the same transaction.
    pub message: NewMessage,
}

/// A single-SMS request as loaded for a decision.
#[derive(Clone, Debug)]
pub struct StoredSingleRequest {
    pub id: i64,
    pub tenant_id: i64,
    pub tenant_name: String,
    pub phone_number: String,
    pub code_hash: Vec<u8>,
    pub request: SingleRequest,
}

impl Store {
    /// Stores a request with its message, in one transaction.
    pub async fn create_single_request(&self, new: &NewSingleRequest<'_>) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sms_requests (tenant_id, request_id, phone_number, code_hash, is_test,
                 failed_attempts, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.tenant_id)
        .bind(new.request_id)
        .bind(new.phone_number)
        .bind(new.code_hash)
        .bind(flag(new.is_test))
        .bind(i64::from(new.request.failed_attempts))
        .bind(new.created_at)
        .bind(new.request.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        deliveries::insert_messages(
            &mut tx,
            new.tenant_id,
            new.is_test,
            Owner::Request(id),
            new.request.expires_at,
            new.created_at,
            std::slice::from_ref(&new.message),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Loads the request under the write lock, lets `apply` decide, and writes back the counters
    /// whatever `apply` returned (a wrong code is an error that still counts). `None` when this
    /// tenant has no such request.
    pub async fn update_single_request<T>(
        &self,
        tenant_id: i64,
        request_id: &str,
        now: i64,
        apply: impl FnOnce(&mut StoredSingleRequest) -> T,
    ) -> StoreResult<Option<(StoredSingleRequest, T)>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT r.id, r.tenant_id, t.name AS tenant_name, r.phone_number, r.code_hash,
                    r.failed_attempts, r.expires_at, r.verified_at
             FROM sms_requests r JOIN tenants t ON t.id = r.tenant_id
             WHERE r.request_id = ? AND r.tenant_id = ?",
        )
        .bind(request_id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let failed_attempts = u32::try_from(row.get::<i64, _>("failed_attempts"))
            .map_err(|_| StoreError::Corrupt("failed_attempts".into()))?;
        let mut stored = StoredSingleRequest {
            id: row.get("id"),
            tenant_id: row.get("tenant_id"),
            tenant_name: row.get("tenant_name"),
            phone_number: row.get("phone_number"),
            code_hash: row.get("code_hash"),
            request: SingleRequest {
                failed_attempts,
                expires_at: row.get("expires_at"),
                verified_at: row.get("verified_at"),
            },
        };
        let before = stored.request.clone();
        let result = apply(&mut stored);
        if stored.request != before {
            sqlx::query(
                "UPDATE sms_requests SET failed_attempts = ?, verified_at = ? WHERE id = ?",
            )
            .bind(i64::from(stored.request.failed_attempts))
            .bind(stored.request.verified_at)
            .bind(stored.id)
            .execute(&mut *tx)
            .await?;
            if stored.request.is_settled() {
                super::outbox::erase_request_codes(&mut tx, stored.id).await?;
                deliveries::end_messages(&mut tx, Owner::Request(stored.id), now).await?;
            }
            tx.commit().await?;
        }
        Ok(Some((stored, result)))
    }
}

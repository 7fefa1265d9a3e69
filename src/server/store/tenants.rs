//! Tenants, their allowed origins and their API keys (stored as SHA-256 hashes).

use async_trait::async_trait;

use super::*;
use crate::engine::limits::LimitOverrides;

/// The tenant behind a valid, unrevoked key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedKey {
    /// The key's ID (`None` when a tenant acts without a key: the demo page).
    pub key_id: Option<i64>,
    pub tenant_id: i64,
    pub tenant_name: String,
    pub is_test: bool,
    /// The tenant's own limits, over the server's.
    pub limits: LimitOverrides,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantInfo {
    pub name: String,
    pub origins: Vec<String>,
    pub created_at: i64,
    pub keys: Vec<KeyInfo>,
    pub limits: LimitOverrides,
}

/// A tenant's limits as stored (JSON, absent when it has none of its own).
pub(super) fn parse_limits(stored: Option<String>) -> StoreResult<LimitOverrides> {
    match stored {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("tenant limits: {e}"))),
        None => Ok(LimitOverrides::default()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: i64,
    pub prefix: String,
    pub is_test: bool,
    pub created_at: i64,
    /// To the minute: a key's use is written at most once a minute.
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// How a call names a key.
#[derive(Clone, Copy, Debug)]
pub enum KeyRef<'a> {
    /// By its public prefix, as the CLI shows it.
    Prefix(&'a str),
    /// By its ID, as the admin API shows it.
    Id(i64),
}

/// How often a key's use is written at most.
pub const KEY_USE_EVERY_SECS: i64 = 60;

/// Tenants and keys. Every write is one transaction with its audit entry (`by` is who asked):
/// two calls creating one name make one tenant (the other is `Conflict`), and a key is never
/// stored for a tenant that does not exist (`NotFound`). Keys are looked up by the SHA-256 of
/// the key; the store never sees a key.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Stores a tenant with its allowed origins (each once, however often given); `Conflict`
    /// when the name is taken.
    async fn create_tenant(
        &self,
        name: &str,
        origins: &[String],
        now: i64,
        by: &Caller,
    ) -> StoreResult<i64>;

    /// Every tenant by name, with its origins, keys (prefixes, never hashes) and own limits.
    async fn list_tenants(&self) -> StoreResult<Vec<TenantInfo>>;

    /// The origins a tenant allows to embed its widget, sorted.
    async fn tenant_origins(&self, tenant_id: i64) -> StoreResult<Vec<String>>;

    /// Stores a new key of tenant `tenant_name` (`NotFound` when there is none); its ID. The
    /// caller made the key and keeps it.
    async fn create_key(
        &self,
        tenant_name: &str,
        key_hash: &[u8],
        prefix: &str,
        is_test: bool,
        now: i64,
        by: &Caller,
    ) -> StoreResult<i64>;

    /// Revokes the key; false if no unrevoked key is so named (so of two calls at once, one
    /// revokes and the other answers false).
    async fn revoke_key(&self, key: KeyRef<'_>, now: i64, by: &Caller) -> StoreResult<bool>;

    /// The name of the tenant a key belongs to, if there is such a key.
    async fn key_tenant(&self, id: i64) -> StoreResult<Option<String>>;

    /// Writes that the key was used at `now`, unless that was written less than
    /// `KEY_USE_EVERY_SECS` before.
    async fn touch_key(&self, id: i64, now: i64) -> StoreResult<()>;

    /// The tenant of an unrevoked key, by the key's hash.
    async fn authenticate(&self, key_hash: &[u8]) -> StoreResult<Option<AuthenticatedKey>>;

    /// Sets some of a tenant's own limits (the others stay as they were, or, with `reset`, go
    /// back to the server's) and returns them all. Read and written in one transaction with
    /// the tenant's row locked, so two changes at once apply one after the other and neither
    /// is lost; `NotFound` when there is no such tenant.
    async fn set_tenant_limits(
        &self,
        name: &str,
        changes: &LimitOverrides,
        reset: bool,
        now: i64,
        by: &Caller,
    ) -> StoreResult<LimitOverrides>;

    /// A tenant acting as if through one of its keys (the demo page's development tenant).
    async fn tenant_as_key(
        &self,
        name: &str,
        is_test: bool,
    ) -> StoreResult<Option<AuthenticatedKey>>;

    /// The ID of the tenant with this name, if there is one.
    async fn tenant_id(&self, name: &str) -> StoreResult<Option<i64>>;
}

/// A tenant's limits after a change: `changes` over what it had (or over nothing, with `reset`).
pub(super) fn merged_limits(
    stored: Option<String>,
    changes: &LimitOverrides,
    reset: bool,
) -> StoreResult<LimitOverrides> {
    let base = if reset {
        LimitOverrides::default()
    } else {
        parse_limits(stored)?
    };
    Ok(base.merged_with(changes))
}

/// A tenant's limits as stored: JSON, or nothing when it has none of its own.
pub(super) fn stored_limits(limits: &LimitOverrides) -> StoreResult<Option<String>> {
    if limits.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(limits)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("tenant limits: {e}")))
}

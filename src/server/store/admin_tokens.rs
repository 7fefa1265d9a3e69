//! Admin tokens (stored as SHA-256 hashes): who may use the admin listener, with which scope,
//! over which tenants.

use async_trait::async_trait;

use super::*;

/// What an admin token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AdminScope {
    /// Read everything it sees.
    Read,
    /// Read and change everything it sees.
    Write,
}

impl AdminScope {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminScope::Read => "read",
            AdminScope::Write => "write",
        }
    }

    pub fn parse(value: &str) -> Option<AdminScope> {
        match value {
            "read" => Some(AdminScope::Read),
            "write" => Some(AdminScope::Write),
            _ => None,
        }
    }
}

/// A token to store; the caller made it and shows it once.
#[derive(Clone, Debug)]
pub struct NewAdminToken<'a> {
    pub token_hash: &'a [u8],
    pub prefix: &'a str,
    pub scope: AdminScope,
    /// The tenant it is limited to, by name (`None`: every tenant).
    pub tenant: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// A stored token, as `admin-token list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminTokenInfo {
    pub id: i64,
    pub prefix: String,
    pub scope: AdminScope,
    pub tenant: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Who a valid token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminPrincipal {
    pub token_id: i64,
    pub scope: AdminScope,
    /// The one tenant it sees, when it is scoped to one.
    pub tenant_id: Option<i64>,
    pub tenant_name: Option<String>,
}

/// Admin tokens. Each write is one transaction with its audit entry: a token is never stored
/// for a tenant that does not exist (`NotFound`), and of two revocations at once one revokes
/// and the other answers false.
#[async_trait]
pub trait AdminTokenStore: Send + Sync {
    /// Stores a token; its ID.
    async fn create_admin_token(&self, new: &NewAdminToken<'_>, by: &Caller) -> StoreResult<i64>;

    /// Every token, newest first.
    async fn list_admin_tokens(&self) -> StoreResult<Vec<AdminTokenInfo>>;

    /// Revokes the token with this ID; false when no unrevoked token has it.
    async fn revoke_admin_token(&self, id: i64, now: i64, by: &Caller) -> StoreResult<bool>;

    /// Who the token with this hash speaks for, if it is neither revoked nor expired at `now`.
    async fn authenticate_admin(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<AdminPrincipal>>;
}

/// A token's row as both stores read it.
#[derive(sqlx::FromRow)]
pub(super) struct AdminTokenRow {
    id: i64,
    prefix: String,
    scope: String,
    tenant: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

pub(super) fn scope_of(stored: &str) -> StoreResult<AdminScope> {
    AdminScope::parse(stored).ok_or_else(|| StoreError::Corrupt(format!("admin scope `{stored}`")))
}

impl AdminTokenRow {
    pub(super) fn info(self) -> StoreResult<AdminTokenInfo> {
        Ok(AdminTokenInfo {
            id: self.id,
            prefix: self.prefix,
            scope: scope_of(&self.scope)?,
            tenant: self.tenant,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        })
    }
}

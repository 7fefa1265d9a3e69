//! Tenants, their allowed origins and their API keys (stored as SHA-256 hashes).

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::engine::limits::LimitOverrides;
use crate::server::store::flag;
use crate::server::store::tenants::*;
use crate::server::store::{StoreError, StoreResult};

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, name: &str, origins: &[String], now: i64) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 FROM tenants WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "tenant `{name}` already exists"
            )));
        }
        let id: i64 =
            sqlx::query_scalar("INSERT INTO tenants (name, created_at) VALUES (?, ?) RETURNING id")
                .bind(name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
        for origin in origins {
            sqlx::query("INSERT OR IGNORE INTO tenant_origins (tenant_id, origin) VALUES (?, ?)")
                .bind(id)
                .bind(origin)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantInfo>> {
        let tenants = sqlx::query("SELECT id, name, created_at, limits FROM tenants ORDER BY name")
            .fetch_all(&mut *self.reader().await?)
            .await?;
        let mut out = Vec::with_capacity(tenants.len());
        for row in tenants {
            let id: i64 = row.get("id");
            let keys = sqlx::query(
                "SELECT prefix, is_test, created_at, revoked_at FROM api_keys WHERE tenant_id = ? ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *self.reader().await?)
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                prefix: k.get("prefix"),
                is_test: k.get::<i64, _>("is_test") == 1,
                created_at: k.get("created_at"),
                revoked_at: k.get("revoked_at"),
            })
            .collect();
            out.push(TenantInfo {
                name: row.get("name"),
                origins: self.tenant_origins(id).await?,
                created_at: row.get("created_at"),
                keys,
                limits: parse_limits(row.get("limits"))?,
            });
        }
        Ok(out)
    }

    async fn tenant_origins(&self, tenant_id: i64) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT origin FROM tenant_origins WHERE tenant_id = ? ORDER BY origin",
        )
        .bind(tenant_id)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    async fn create_key(
        &self,
        tenant_name: &str,
        key_hash: &[u8],
        prefix: &str,
        is_test: bool,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let tenant_id: Option<i64> = sqlx::query_scalar("SELECT id FROM tenants WHERE name = ?")
            .bind(tenant_name)
            .fetch_optional(&mut *tx)
            .await?;
        let tenant_id = tenant_id
            .ok_or_else(|| StoreError::Conflict(format!("no tenant named `{tenant_name}`")))?;
        sqlx::query(
            "INSERT INTO api_keys (tenant_id, key_hash, prefix, is_test, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(tenant_id)
        .bind(key_hash)
        .bind(prefix)
        .bind(flag(is_test))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_key(&self, prefix: &str, now: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(prefix)
        .execute(&self.write)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn authenticate(&self, key_hash: &[u8]) -> StoreResult<Option<AuthenticatedKey>> {
        let row = sqlx::query(
            "SELECT k.tenant_id, k.is_test, t.name, t.limits
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.key_hash = ? AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        row.map(|row| {
            Ok(AuthenticatedKey {
                tenant_id: row.get("tenant_id"),
                tenant_name: row.get("name"),
                is_test: row.get::<i64, _>("is_test") == 1,
                limits: parse_limits(row.get("limits"))?,
            })
        })
        .transpose()
    }

    async fn set_tenant_limits(
        &self,
        name: &str,
        changes: &LimitOverrides,
        reset: bool,
    ) -> StoreResult<LimitOverrides> {
        let mut tx = self.begin_write().await?;
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT limits FROM tenants WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let stored =
            stored.ok_or_else(|| StoreError::Conflict(format!("no tenant named `{name}`")))?;
        let limits = merged_limits(stored, changes, reset)?;
        sqlx::query("UPDATE tenants SET limits = ? WHERE name = ?")
            .bind(stored_limits(&limits)?)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(limits)
    }

    async fn tenant_as_key(
        &self,
        name: &str,
        is_test: bool,
    ) -> StoreResult<Option<AuthenticatedKey>> {
        let row = sqlx::query("SELECT id, limits FROM tenants WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.map(|row| {
            Ok(AuthenticatedKey {
                tenant_id: row.get("id"),
                tenant_name: name.to_owned(),
                is_test,
                limits: parse_limits(row.get("limits"))?,
            })
        })
        .transpose()
    }

    async fn tenant_id(&self, name: &str) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT id FROM tenants WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *self.reader().await?)
            .await?)
    }
}

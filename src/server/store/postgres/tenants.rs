//! Tenants, their allowed origins and their API keys in PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;

use super::PgStore;
use crate::engine::limits::LimitOverrides;
use crate::server::store::tenants::*;
use crate::server::store::{StoreError, StoreResult, flag};

#[async_trait]
impl TenantStore for PgStore {
    async fn create_tenant(&self, name: &str, origins: &[String], now: i64) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let id =
            id.ok_or_else(|| StoreError::Conflict(format!("tenant `{name}` already exists")))?;
        for origin in origins {
            sqlx::query(
                "INSERT INTO tenant_origins (tenant_id, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
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
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(tenants.len());
        for row in tenants {
            let id: i64 = row.get("id");
            let keys = sqlx::query(
                "SELECT prefix, is_test, created_at, revoked_at FROM api_keys
                 WHERE tenant_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&self.pool)
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
            "SELECT origin FROM tenant_origins WHERE tenant_id = $1 ORDER BY origin",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
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
        let created = sqlx::query(
            "INSERT INTO api_keys (tenant_id, key_hash, prefix, is_test, created_at)
             SELECT id, $2, $3, $4, $5 FROM tenants WHERE name = $1",
        )
        .bind(tenant_name)
        .bind(key_hash)
        .bind(prefix)
        .bind(flag(is_test))
        .bind(now)
        .execute(&self.pool)
        .await?;
        if created.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "no tenant named `{tenant_name}`"
            )));
        }
        Ok(())
    }

    async fn revoke_key(&self, prefix: &str, now: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE prefix = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(prefix)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn authenticate(&self, key_hash: &[u8]) -> StoreResult<Option<AuthenticatedKey>> {
        let row = sqlx::query(
            "SELECT k.tenant_id, k.is_test, t.name, t.limits
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        // Locked, so two operators' changes apply one after the other.
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT limits FROM tenants WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let stored =
            stored.ok_or_else(|| StoreError::Conflict(format!("no tenant named `{name}`")))?;
        let limits = merged_limits(stored, changes, reset)?;
        sqlx::query("UPDATE tenants SET limits = $1 WHERE name = $2")
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
        let row = sqlx::query("SELECT id, limits FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
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
        Ok(sqlx::query_scalar("SELECT id FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }
}

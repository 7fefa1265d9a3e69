//! Tenants, their allowed origins and their API keys (stored as SHA-256 hashes), for both stores.

use async_trait::async_trait;

use serde_json::json;

use super::audit::{About, entry};
use super::{Backend, Connection, Query};
use crate::engine::limits::LimitOverrides;
use crate::server::store::Caller;
use crate::server::store::tenants::*;
use crate::server::store::{StoreError, StoreResult, flag};

/// A key as `list_tenants` shows it.
#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    prefix: String,
    is_test: i64,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: i64,
    name: String,
    created_at: i64,
    limits: Option<String>,
}

#[derive(sqlx::FromRow)]
struct KeyTenantRow {
    key_id: i64,
    tenant_id: i64,
    is_test: i64,
    name: String,
    limits: Option<String>,
}

fn no_tenant(name: &str) -> StoreError {
    StoreError::NotFound(format!("no tenant named `{name}`"))
}

async fn origins_of(conn: &mut impl Connection, tenant_id: i64) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = conn
        .fetch_all(
            Query::new("SELECT origin FROM tenant_origins WHERE tenant_id = $1 ORDER BY origin")
                .bind(tenant_id),
        )
        .await?;
    Ok(rows.into_iter().map(|(origin,)| origin).collect())
}

#[async_trait]
impl<B: Backend> TenantStore for B {
    async fn create_tenant(
        &self,
        name: &str,
        origins: &[String],
        now: i64,
        by: &Caller,
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        // `ON CONFLICT (name)` turns only a second tenant of that name into "no row": any other
        // constraint a row broke would still fail the statement (unlike `INSERT OR IGNORE`).
        let id: Option<i64> = tx
            .fetch_value(
                Query::new(
                    "INSERT INTO tenants (name, created_at) VALUES ($1, $2)
                     ON CONFLICT (name) DO NOTHING RETURNING id",
                )
                .bind(name)
                .bind(now),
            )
            .await?;
        let id =
            id.ok_or_else(|| StoreError::Conflict(format!("tenant `{name}` already exists")))?;
        for origin in origins {
            // An origin given twice is stored once.
            tx.execute(
                Query::new(
                    "INSERT INTO tenant_origins (tenant_id, origin) VALUES ($1, $2)
                     ON CONFLICT (tenant_id, origin) DO NOTHING",
                )
                .bind(id)
                .bind(origin),
            )
            .await?;
        }
        let mut stored = origins.to_vec();
        stored.sort();
        stored.dedup();
        let after = json!({"name": name, "origins": stored});
        tx.execute(entry(
            by,
            About::TenantId(id),
            "tenant.created",
            Some(name.to_owned()),
            None,
            Some(after),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(id)
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantInfo>> {
        let mut conn = self.reader().await?;
        let tenants: Vec<TenantRow> = conn
            .fetch_all(Query::new(
                "SELECT id, name, created_at, limits FROM tenants ORDER BY name",
            ))
            .await?;
        let mut out = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let keys: Vec<KeyRow> = conn
                .fetch_all(
                    Query::new(
                        "SELECT id, prefix, is_test, created_at, last_used_at, revoked_at
                         FROM api_keys WHERE tenant_id = $1 ORDER BY id",
                    )
                    .bind(tenant.id),
                )
                .await?;
            out.push(TenantInfo {
                name: tenant.name,
                origins: origins_of(&mut *conn, tenant.id).await?,
                created_at: tenant.created_at,
                keys: keys
                    .into_iter()
                    .map(|k| KeyInfo {
                        id: k.id,
                        prefix: k.prefix,
                        is_test: k.is_test == 1,
                        created_at: k.created_at,
                        last_used_at: k.last_used_at,
                        revoked_at: k.revoked_at,
                    })
                    .collect(),
                limits: parse_limits(tenant.limits)?,
            });
        }
        Ok(out)
    }

    async fn tenant_origins(&self, tenant_id: i64) -> StoreResult<Vec<String>> {
        origins_of(&mut *self.reader().await?, tenant_id).await
    }

    async fn create_key(
        &self,
        tenant_name: &str,
        key_hash: &[u8],
        prefix: &str,
        is_test: bool,
        now: i64,
        by: &Caller,
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let created: Option<i64> = tx
            .fetch_value(
                Query::new(
                    "INSERT INTO api_keys (tenant_id, key_hash, prefix, is_test, created_at)
                     SELECT id, $2, $3, $4, $5 FROM tenants WHERE name = $1
                     RETURNING id",
                )
                .bind(tenant_name)
                .bind(key_hash)
                .bind(prefix)
                .bind(flag(is_test))
                .bind(now),
            )
            .await?;
        let Some(id) = created else {
            return Err(no_tenant(tenant_name));
        };
        let kind = if is_test { "test" } else { "live" };
        tx.execute(entry(
            by,
            About::Tenant(tenant_name),
            "key.created",
            Some(prefix.to_owned()),
            None,
            Some(json!({"kind": kind, "prefix": prefix})),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(id)
    }

    async fn revoke_key(&self, key: KeyRef<'_>, now: i64, by: &Caller) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let revoke = match key {
            KeyRef::Prefix(prefix) => Query::new(
                "UPDATE api_keys SET revoked_at = $1 WHERE prefix = $2 AND revoked_at IS NULL
                 RETURNING tenant_id, prefix",
            )
            .bind(now)
            .bind(prefix),
            KeyRef::Id(id) => Query::new(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL
                 RETURNING tenant_id, prefix",
            )
            .bind(now)
            .bind(id),
        };
        let revoked: Option<(i64, String)> = tx.fetch_optional(revoke).await?;
        let Some((tenant_id, prefix)) = revoked else {
            return Ok(false);
        };
        tx.execute(entry(
            by,
            About::TenantId(tenant_id),
            "key.revoked",
            Some(prefix),
            None,
            None,
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn authenticate(&self, key_hash: &[u8]) -> StoreResult<Option<AuthenticatedKey>> {
        let row: Option<KeyTenantRow> = self
            .reader()
            .await?
            .fetch_optional(
                Query::new(
                    "SELECT k.id AS key_id, k.tenant_id, k.is_test, t.name, t.limits
                     FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
                     WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
                )
                .bind(key_hash),
            )
            .await?;
        row.map(|row| {
            Ok(AuthenticatedKey {
                key_id: Some(row.key_id),
                tenant_id: row.tenant_id,
                tenant_name: row.name,
                is_test: row.is_test == 1,
                limits: parse_limits(row.limits)?,
            })
        })
        .transpose()
    }

    async fn set_tenant_limits(
        &self,
        name: &str,
        changes: &LimitOverrides,
        reset: bool,
        now: i64,
        by: &Caller,
    ) -> StoreResult<LimitOverrides> {
        let mut tx = self.begin().await?;
        // Read with the row locked, so two operators' changes apply one after the other.
        let stored: Option<(Option<String>,)> = tx
            .fetch_optional(
                Query::text(format!(
                    "SELECT limits FROM tenants WHERE name = $1{}",
                    B::LOCK_ROWS
                ))
                .bind(name),
            )
            .await?;
        let (stored,) = stored.ok_or_else(|| no_tenant(name))?;
        let before = parse_limits(stored.clone())?;
        let limits = merged_limits(stored, changes, reset)?;
        tx.execute(
            Query::new("UPDATE tenants SET limits = $1 WHERE name = $2")
                .bind(stored_limits(&limits)?.as_deref())
                .bind(name),
        )
        .await?;
        tx.execute(entry(
            by,
            About::Tenant(name),
            "tenant.updated",
            Some(name.to_owned()),
            Some(json!({"limits": before})),
            Some(json!({"limits": limits})),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(limits)
    }

    async fn tenant_as_key(
        &self,
        name: &str,
        is_test: bool,
    ) -> StoreResult<Option<AuthenticatedKey>> {
        let row: Option<(i64, Option<String>)> = self
            .reader()
            .await?
            .fetch_optional(Query::new("SELECT id, limits FROM tenants WHERE name = $1").bind(name))
            .await?;
        row.map(|(tenant_id, limits)| {
            Ok(AuthenticatedKey {
                key_id: None,
                tenant_id,
                tenant_name: name.to_owned(),
                is_test,
                limits: parse_limits(limits)?,
            })
        })
        .transpose()
    }

    async fn key_tenant(&self, id: i64) -> StoreResult<Option<String>> {
        self.reader()
            .await?
            .fetch_value(
                Query::new(
                    "SELECT t.name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
                     WHERE k.id = $1",
                )
                .bind(id),
            )
            .await
    }

    async fn touch_key(&self, id: i64, now: i64) -> StoreResult<()> {
        let mut plan = super::Plan::new();
        plan.push(
            Query::new(
                "UPDATE api_keys SET last_used_at = $1
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(now)
            .bind(id)
            .bind(now - KEY_USE_EVERY_SECS),
        );
        self.write(plan).await?;
        Ok(())
    }

    async fn tenant_id(&self, name: &str) -> StoreResult<Option<i64>> {
        self.reader()
            .await?
            .fetch_value(Query::new("SELECT id FROM tenants WHERE name = $1").bind(name))
            .await
    }
}

//! Tenants, their allowed origins and their API keys (stored as SHA-256 hashes), for both stores.

use async_trait::async_trait;

use serde_json::json;

use super::audit::{About, entry};
use super::{Backend, Connection, Query};
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
    enabled_channels: Option<String>,
    disabled_at: Option<i64>,
    language: Option<String>,
    account_sid: Option<String>,
}

#[derive(sqlx::FromRow)]
struct KeyTenantRow {
    key_id: Option<i64>,
    key_prefix: Option<String>,
    tenant_id: i64,
    is_test: i64,
    name: String,
    limits: Option<String>,
    enabled_channels: Option<String>,
    disabled_at: Option<i64>,
}

impl KeyTenantRow {
    fn into_key(self) -> StoreResult<AuthenticatedKey> {
        Ok(AuthenticatedKey {
            key_id: self.key_id,
            key_prefix: self.key_prefix,
            tenant_id: self.tenant_id,
            tenant_name: self.name,
            is_test: self.is_test == 1,
            limits: parse_limits(self.limits)?,
            gate: TenantGate::from_columns(self.enabled_channels.as_deref(), self.disabled_at)?,
        })
    }
}

/// Stores one of a tenant's origins; one given twice is stored once.
fn insert_origin(tenant_id: i64, origin: &str) -> Query {
    Query::new(
        "INSERT INTO tenant_origins (tenant_id, origin) VALUES ($1, $2)
         ON CONFLICT (tenant_id, origin) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(origin)
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
        account_sid: &str,
        now: i64,
        by: &Caller,
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        // `ON CONFLICT (name)` turns only a second tenant of that name into "no row": any other
        // constraint a row broke would still fail the statement (unlike `INSERT OR IGNORE`).
        let id: Option<i64> = tx
            .fetch_value(
                Query::new(
                    "INSERT INTO tenants (name, created_at, account_sid) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO NOTHING RETURNING id",
                )
                .bind(name)
                .bind(now)
                .bind(account_sid),
            )
            .await?;
        let id =
            id.ok_or_else(|| StoreError::Conflict(format!("tenant `{name}` already exists")))?;
        for origin in origins {
            tx.execute(insert_origin(id, origin)).await?;
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
                "SELECT id, name, created_at, limits, enabled_channels, disabled_at, language,
                    account_sid
                 FROM tenants ORDER BY name",
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
                account_sid: tenant.account_sid.ok_or_else(|| {
                    StoreError::Corrupt(format!("tenant `{}` without an account SID", tenant.name))
                })?,
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
                gate: TenantGate::from_columns(
                    tenant.enabled_channels.as_deref(),
                    tenant.disabled_at,
                )?,
                language: tenant.language,
            });
        }
        Ok(out)
    }

    async fn tenant_origins(&self, tenant_id: i64) -> StoreResult<Vec<String>> {
        origins_of(&mut *self.reader().await?, tenant_id).await
    }

    async fn tenant_of_account(&self, account_sid: &str) -> StoreResult<Option<i64>> {
        self.reader()
            .await?
            .fetch_value(
                Query::new("SELECT id FROM tenants WHERE account_sid = $1").bind(account_sid),
            )
            .await
    }

    async fn tenant_language(&self, tenant_id: i64) -> StoreResult<Option<String>> {
        let language: Option<Option<String>> = self
            .reader()
            .await?
            .fetch_value(Query::new("SELECT language FROM tenants WHERE id = $1").bind(tenant_id))
            .await?;
        Ok(language.flatten())
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
                    "SELECT k.id AS key_id, k.prefix AS key_prefix, k.tenant_id, k.is_test, t.name,
                        t.limits,
                        t.enabled_channels, t.disabled_at
                     FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
                     WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
                )
                .bind(key_hash),
            )
            .await?;
        row.map(KeyTenantRow::into_key).transpose()
    }

    async fn update_tenant(
        &self,
        name: &str,
        patch: &TenantPatch,
        now: i64,
        by: &Caller,
    ) -> StoreResult<TenantSettings> {
        let mut tx = self.begin().await?;
        // Read with the row locked, so two operators' changes apply one after the other.
        let stored: Option<TenantRow> = tx
            .fetch_optional(
                Query::text(format!(
                    "SELECT id, name, created_at, limits, enabled_channels, disabled_at, language,
                        account_sid
                     FROM tenants WHERE name = $1{}",
                    B::LOCK_ROWS
                ))
                .bind(name),
            )
            .await?;
        let stored = stored.ok_or_else(|| no_tenant(name))?;
        let before = TenantSettings {
            origins: origins_of(&mut *tx, stored.id).await?,
            limits: parse_limits(stored.limits)?,
            gate: TenantGate::from_columns(stored.enabled_channels.as_deref(), stored.disabled_at)?,
            language: stored.language,
        };
        let after = before.patched(patch, now).map_err(StoreError::Constraint)?;
        if after == before {
            return Ok(after);
        }
        tx.execute(
            Query::new(
                "UPDATE tenants SET limits = $1, enabled_channels = $2, disabled_at = $3,
                    language = $4
                 WHERE id = $5",
            )
            .bind(stored_limits(&after.limits)?.as_deref())
            .bind(after.gate.channels_column().as_deref())
            .bind(after.gate.disabled_at)
            .bind(after.language.as_deref())
            .bind(stored.id),
        )
        .await?;
        if after.origins != before.origins {
            tx.execute(
                Query::new("DELETE FROM tenant_origins WHERE tenant_id = $1").bind(stored.id),
            )
            .await?;
            for origin in &after.origins {
                tx.execute(insert_origin(stored.id, origin)).await?;
            }
        }
        let (changed_from, changed_to) = before.difference(&after);
        tx.execute(entry(
            by,
            About::TenantId(stored.id),
            "tenant.updated",
            Some(name.to_owned()),
            Some(changed_from),
            Some(changed_to),
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(after)
    }

    async fn tenant_as_key(
        &self,
        name: &str,
        is_test: bool,
    ) -> StoreResult<Option<AuthenticatedKey>> {
        let row: Option<KeyTenantRow> = self
            .reader()
            .await?
            .fetch_optional(
                Query::new(
                    "SELECT CAST(NULL AS BIGINT) AS key_id, CAST(NULL AS TEXT) AS key_prefix,
                        id AS tenant_id, CAST($2 AS BIGINT) AS is_test,
                        name, limits,
                        enabled_channels, disabled_at
                     FROM tenants WHERE name = $1",
                )
                .bind(name)
                .bind(flag(is_test)),
            )
            .await?;
        row.map(KeyTenantRow::into_key).transpose()
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

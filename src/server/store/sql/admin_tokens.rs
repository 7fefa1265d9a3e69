//! Admin tokens, for both stores.

use async_trait::async_trait;

use serde_json::json;

use super::audit::{About, entry};
use super::{Backend, Connection, Query};
use crate::server::store::admin_tokens::*;
use crate::server::store::{Caller, StoreError, StoreResult};

#[async_trait]
impl<B: Backend> AdminTokenStore for B {
    async fn create_admin_token(&self, new: &NewAdminToken<'_>, by: &Caller) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        // The tenant named, or none: `$4 IS NULL` keeps the row of an all-tenants token.
        let id: Option<i64> = tx
            .fetch_value(
                Query::new(
                    "INSERT INTO admin_tokens (token_hash, prefix, scope, tenant_id, created_at,
                         expires_at)
                     SELECT $1, $2, $3, t.id, $5, $6
                     FROM (SELECT 1 AS one) AS o
                     LEFT JOIN tenants t ON t.name = $4
                     WHERE $4 IS NULL OR t.id IS NOT NULL
                     RETURNING id",
                )
                .bind(new.token_hash)
                .bind(new.prefix)
                .bind(new.scope.as_str())
                .bind(new.tenant)
                .bind(new.created_at)
                .bind(new.expires_at),
            )
            .await?;
        let id = id.ok_or_else(|| {
            StoreError::NotFound(format!(
                "no tenant named `{}`",
                new.tenant.unwrap_or_default()
            ))
        })?;
        let about = new.tenant.map_or(About::Nothing, About::Tenant);
        let after = json!({
            "prefix": new.prefix,
            "scope": new.scope.as_str(),
            "tenant": new.tenant,
            "expires_at": new.expires_at,
        });
        tx.execute(entry(
            by,
            about,
            "admin_token.created",
            Some(id.to_string()),
            None,
            Some(after),
            new.created_at,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(id)
    }

    async fn list_admin_tokens(&self) -> StoreResult<Vec<AdminTokenInfo>> {
        let rows: Vec<AdminTokenRow> = self
            .reader()
            .await?
            .fetch_all(Query::new(
                "SELECT a.id, a.prefix, a.scope, t.name AS tenant, a.created_at, a.expires_at,
                        a.revoked_at
                 FROM admin_tokens a LEFT JOIN tenants t ON t.id = a.tenant_id
                 ORDER BY a.id DESC",
            ))
            .await?;
        rows.into_iter().map(AdminTokenRow::info).collect()
    }

    async fn revoke_admin_token(&self, id: i64, now: i64, by: &Caller) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let revoked: Option<(Option<i64>,)> = tx
            .fetch_optional(
                Query::new(
                    "UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL
                     RETURNING tenant_id",
                )
                .bind(now)
                .bind(id),
            )
            .await?;
        let Some((tenant_id,)) = revoked else {
            return Ok(false);
        };
        let about = tenant_id.map_or(About::Nothing, About::TenantId);
        tx.execute(entry(
            by,
            about,
            "admin_token.revoked",
            Some(id.to_string()),
            None,
            None,
            now,
        ))
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn authenticate_admin(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<AdminPrincipal>> {
        let row: Option<(i64, String, Option<i64>, Option<String>)> = self
            .reader()
            .await?
            .fetch_optional(
                Query::new(
                    "SELECT a.id, a.scope, a.tenant_id, t.name
                     FROM admin_tokens a LEFT JOIN tenants t ON t.id = a.tenant_id
                     WHERE a.token_hash = $1 AND a.revoked_at IS NULL
                       AND (a.expires_at IS NULL OR a.expires_at > $2)",
                )
                .bind(token_hash)
                .bind(now),
            )
            .await?;
        row.map(|(token_id, scope, tenant_id, tenant_name)| {
            Ok(AdminPrincipal {
                token_id,
                scope: scope_of(&scope)?,
                tenant_id,
                tenant_name,
            })
        })
        .transpose()
    }
}

//! The audit log, for both stores: entries written inside the transactions of the changes they
//! record, read back newest first.

use async_trait::async_trait;
use serde_json::Value;

use super::{Backend, Connection, Query};
use crate::server::store::StoreResult;
use crate::server::store::audit::*;

/// The tenant an entry is about.
#[derive(Clone, Copy, Debug)]
pub(super) enum About<'a> {
    Tenant(&'a str),
    TenantId(i64),
    Nothing,
}

/// The entry recording `action` on `target` by `by`, to write in the change's transaction.
pub(super) fn entry(
    by: &Caller,
    about: About<'_>,
    action: &str,
    target: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
    at: i64,
) -> Query {
    let tenant = match about {
        About::Tenant(_) => "(SELECT id FROM tenants WHERE name = $4)",
        About::TenantId(_) => "$4",
        About::Nothing => "CAST($4 AS BIGINT)",
    };
    let query = Query::text(format!(
        "INSERT INTO audit_log (at, actor_type, actor_id, tenant_id, action, target, before,
             after, ip, request_id)
         SELECT $1, $2, $3, {tenant}, $5, $6, $7, $8, $9, $10"
    ))
    .bind(at)
    .bind(by.actor.kind())
    .bind(by.actor.id().as_deref());
    let query = match about {
        About::Tenant(name) => query.bind(name),
        About::TenantId(id) => query.bind(id),
        About::Nothing => query.bind(None::<i64>),
    };
    query
        .bind(action)
        .bind(target.as_deref())
        .bind(before.map(|v| v.to_string()).as_deref())
        .bind(after.map(|v| v.to_string()).as_deref())
        .bind(by.ip.as_deref())
        .bind(by.request_id.as_deref())
}

#[async_trait]
impl<B: Backend> AuditStore for B {
    async fn audit_entries(&self, query: &AuditQuery<'_>) -> StoreResult<Vec<AuditEntry>> {
        let mut sql = Query::new(
            "SELECT a.id, a.at, a.actor_type, a.actor_id, t.name AS tenant, a.action, a.target,
                    a.before, a.after, a.ip, a.request_id
             FROM audit_log a LEFT JOIN tenants t ON t.id = a.tenant_id
             WHERE 1 = 1",
        );
        if let Some(tenant) = query.tenant {
            sql = sql.push(" AND t.name = ").push_bind(tenant);
        }
        if let Some(action) = query.action {
            sql = sql.push(" AND a.action = ").push_bind(action);
        }
        if let Some(kind) = query.actor_type {
            sql = sql.push(" AND a.actor_type = ").push_bind(kind);
        }
        if let Some(since) = query.since {
            sql = sql.push(" AND a.at >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            sql = sql.push(" AND a.at < ").push_bind(until);
        }
        if let Some(before) = query.before_id {
            sql = sql.push(" AND a.id < ").push_bind(before);
        }
        let sql = sql
            .push(" ORDER BY a.id DESC LIMIT ")
            .push_bind(query.limit);
        let rows: Vec<AuditRow> = self.reader().await?.fetch_all(sql).await?;
        rows.into_iter().map(AuditRow::entry).collect()
    }
}

//! The audit log over the admin API: filtered, newest first, paginated with a cursor.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Admin;
use crate::server::http::rest::answers::{Answer, Body, error_answers, with_key};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::types::rfc3339;
use crate::server::service::{AuditEntry, AuditQuery};
use crate::server::state::AppState;

/// Entries a page holds unless `limit` says otherwise.
const PAGE: i64 = 100;

/// Who made a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `admin_token`, `cli`, `api_key`, `operator` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The admin token's ID or the API key's prefix; absent for `cli` and `system`.
    pub id: Option<String>,
}

/// One audit entry: never a code, a key, a token or a secret; destinations masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    pub at: String,
    pub actor: ActorView,
    pub tenant: Option<String>,
    /// `tenant.created`, `tenant.updated`, `key.created`, `key.revoked`,
    /// `admin_token.created`, `admin_token.revoked`, `session.locked`, `destination.locked`, …
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(entry: AuditEntry) -> AuditEntryView {
        AuditEntryView {
            id: entry.id.to_string(),
            at: rfc3339(entry.at),
            actor: ActorView {
                kind: entry.actor_type,
                id: entry.actor_id,
            },
            tenant: entry.tenant,
            action: entry.action,
            target: entry.target,
            before: entry.before,
            after: entry.after,
            ip: entry.ip,
            request_id: entry.request_id,
        }
    }
}

/// A page of entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    /// The `cursor` of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Which entries.
#[derive(Debug, Deserialize, IntoParams)]
// Said outright: the handler takes `Result<Query<…>>`, from which utoipa cannot tell.
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this tenant's entries (a tenant token always reads its own only).
    #[param(nullable = false)]
    pub tenant: Option<String>,
    /// Only this action, e.g. `key.revoked`.
    #[param(nullable = false)]
    pub action: Option<String>,
    /// Only this kind of actor: `admin_token`, `cli`, `api_key`, `operator`, `system`.
    #[param(nullable = false)]
    pub actor: Option<String>,
    /// Entries at or after this time (RFC 3339).
    #[param(nullable = false)]
    pub since: Option<String>,
    /// Entries before this time (RFC 3339).
    #[param(nullable = false)]
    pub until: Option<String>,
    /// The `next_cursor` of the page before.
    #[param(nullable = false)]
    pub cursor: Option<String>,
    /// Entries per page (100).
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

fn invalid(what: &str) -> ApiError {
    ApiError::InvalidRequest(what.to_owned())
}

pub(super) fn seconds(field: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .map(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp())
                .map_err(|_| {
                    invalid(&format!(
                        "{field}: an RFC 3339 time, e.g. 2026-12-02T10:00:00Z"
                    ))
                })
        })
        .transpose()
}

error_answers!(
    /// What reading the audit log answers besides its entries.
    AuditErrors => with_key(vec![
        Answer::new(
            vec![ApiError::InvalidRequest(String::new())],
            "`invalid_request`: a malformed query (a time that is not RFC 3339, a cursor that is \
             not one, a limit out of range).",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::UnknownResource(String::new())],
            "`not_found`: a tenant this token does not see.",
            Body::Error,
        ),
    ])
);

/// The audit log, newest first.
#[utoipa::path(
    get, path = "/admin/v1/audit", operation_id = "read_audit_log", tag = "audit",
    params(AuditParams),
    responses((status = 200, description = "A page of entries, newest first", body = AuditPage), AuditErrors),
    security(("admin_token" = []))
)]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let Query(params) = params.map_err(|_| invalid("invalid query string"))?;
    let tenant = admin.tenant_filter(params.tenant.as_deref())?;
    let before_id = super::cursor_before(params.cursor.as_deref())?;
    let limit = params.limit.unwrap_or(PAGE);
    let query = AuditQuery {
        tenant,
        action: params.action.as_deref(),
        actor_type: params.actor.as_deref(),
        since: seconds("since", params.since.as_deref())?,
        until: seconds("until", params.until.as_deref())?,
        before_id,
        limit,
    };
    let entries = state.admin.audit(&query).await?;
    let next_cursor = super::next_cursor(entries.len(), limit, entries.last().map(|e| e.id));
    Ok(Json(AuditPage {
        entries: entries.into_iter().map(AuditEntryView::from).collect(),
        next_cursor,
    }))
}

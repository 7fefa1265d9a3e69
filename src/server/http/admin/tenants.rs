//! Tenants over the admin API: list, create, read.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Admin;
use crate::server::http::rest::answers::{
    Answer, Body, error_answers, invalid_request, with_json_body, with_key,
};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::extract::ApiJson;
use crate::server::http::rest::types::rfc3339;
use crate::server::service::{ServiceError, StoreError, TenantInfo};
use crate::server::state::AppState;

/// A tenant as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tenant {
    /// Its name, which its messages name.
    pub name: String,
    /// The origins allowed to embed its widget, as browsers send them.
    pub origins: Vec<String>,
    /// Its own limits over the server's (the names of `[otpgate.limits]`); `{}` when it has
    /// none.
    #[schema(value_type = Object)]
    pub limits: serde_json::Value,
    pub created_at: String,
}

impl From<TenantInfo> for Tenant {
    fn from(tenant: TenantInfo) -> Tenant {
        Tenant {
            name: tenant.name,
            origins: tenant.origins,
            limits: serde_json::to_value(&tenant.limits).unwrap_or_default(),
            created_at: rfc3339(tenant.created_at),
        }
    }
}

/// A new tenant.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTenant {
    /// 1 to 64 characters, no control characters.
    pub name: String,
    /// Origins allowed to embed its widget: `scheme://host[:port]`.
    #[serde(default)]
    pub origins: Vec<String>,
}

/// A tenant the token does not see, or that does not exist: one answer for both.
pub(super) fn unknown_tenant(name: &str) -> ApiError {
    ApiError::from(ServiceError::Store(StoreError::NotFound(format!(
        "no tenant named `{name}`"
    ))))
}

fn tenant_not_found() -> Answer {
    Answer::new(
        vec![ApiError::UnknownResource(String::new())],
        "`not_found`: no such tenant, or one this token does not see.",
        Body::Error,
    )
}

fn read_only() -> Answer {
    Answer::new(
        vec![ApiError::Forbidden(String::new())],
        "`forbidden`: a `read` token, or a token scoped to one tenant.",
        Body::Error,
    )
}

error_answers!(
    /// What listing tenants answers besides its success.
    ListErrors => with_key(Vec::new())
);

error_answers!(
    /// What creating a tenant answers besides its success.
    CreateErrors => with_json_body(vec![
        invalid_request(),
        read_only(),
        Answer::new(
            vec![ApiError::Conflict(String::new())],
            "`conflict`: a tenant of that name exists.",
            Body::Error,
        ),
    ])
);

error_answers!(
    /// What reading a tenant answers besides its success.
    ReadErrors => with_key(vec![tenant_not_found()])
);

/// Every tenant this token sees, by name.
#[utoipa::path(
    get, path = "/admin/v1/tenants", operation_id = "list_tenants", tag = "tenants",
    responses((status = 200, description = "The tenants, by name", body = Vec<Tenant>), ListErrors),
    security(("admin_token" = []))
)]
pub async fn list(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<Vec<Tenant>>> {
    let tenants = state.admin.list_tenants().await?;
    Ok(Json(
        tenants
            .into_iter()
            .filter(|t| admin.sees(&t.name))
            .map(Tenant::from)
            .collect(),
    ))
}

/// Create a tenant (a `write` token over every tenant).
#[utoipa::path(
    post, path = "/admin/v1/tenants", operation_id = "create_tenant", tag = "tenants",
    request_body = NewTenant,
    responses((status = 201, description = "Created", body = Tenant), CreateErrors),
    security(("admin_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    admin.may_write()?;
    admin.over_every_tenant()?;
    let name = state
        .admin
        .create_tenant(&body.value.name, &body.value.origins, admin.caller())
        .await?;
    let tenant = state.admin.tenant(&name).await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

/// One tenant.
#[utoipa::path(
    get, path = "/admin/v1/tenants/{name}", operation_id = "read_tenant", tag = "tenants",
    params(("name" = String, Path, description = "The tenant's name")),
    responses((status = 200, description = "The tenant", body = Tenant), ReadErrors),
    security(("admin_token" = []))
)]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Tenant>> {
    if !admin.sees(&name) {
        return Err(unknown_tenant(&name));
    }
    Ok(Json(state.admin.tenant(&name).await?.into()))
}

//! A tenant's API keys over the admin API: list, create (the key shown only in that answer),
//! revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Admin;
use super::tenants::unknown_tenant;
use crate::server::http::rest::answers::{
    Answer, Body, error_answers, invalid_request, with_json_body, with_key,
};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::extract::ApiJson;
use crate::server::http::rest::types::rfc3339;
use crate::server::service::{KeyInfo, KeyRef};
use crate::server::state::AppState;

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct Key {
    pub id: String,
    /// `live` or `test`.
    pub kind: String,
    /// The key's first characters, by which it is recognised.
    pub prefix: String,
    pub created_at: String,
    /// To the minute; `null` when never used.
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

fn kind(is_test: bool) -> &'static str {
    if is_test { "test" } else { "live" }
}

impl From<KeyInfo> for Key {
    fn from(key: KeyInfo) -> Key {
        Key {
            id: key.id.to_string(),
            kind: kind(key.is_test).to_owned(),
            prefix: key.prefix,
            created_at: rfc3339(key.created_at),
            last_used_at: key.last_used_at.map(rfc3339),
            revoked_at: key.revoked_at.map(rfc3339),
        }
    }
}

/// A key just made: `key` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub id: String,
    pub kind: String,
    pub prefix: String,
    /// The key: keep it, it is stored only as a hash and never shown again.
    pub key: String,
}

/// Which kind of key to make.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewKey {
    /// `live` (delivers through the providers) or `test` (messages go to the test outbox).
    pub kind: KeyKind,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Live,
    Test,
}

fn tenant_not_found() -> Answer {
    Answer::new(
        vec![ApiError::UnknownResource(String::new())],
        "`not_found`: no such tenant, or one this token does not see.",
        Body::Error,
    )
}

error_answers!(
    /// What listing keys answers besides its success.
    ListErrors => with_key(vec![tenant_not_found()])
);

error_answers!(
    /// What creating a key answers besides its success.
    CreateErrors => with_json_body(vec![
        invalid_request(),
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: a `read` token.",
            Body::Error,
        ),
        tenant_not_found(),
    ])
);

error_answers!(
    /// What revoking a key answers besides its success.
    RevokeErrors => with_key(vec![
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: a `read` token.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::UnknownResource(String::new())],
            "`not_found`: no active key has this ID, or it is of a tenant this token does not \\
             see.",
            Body::Error,
        ),
    ])
);

/// A tenant's keys, oldest first.
#[utoipa::path(
    get, path = "/admin/v1/tenants/{name}/keys", operation_id = "list_keys", tag = "keys",
    params(("name" = String, Path, description = "The tenant's name")),
    responses((status = 200, description = "The keys", body = Vec<Key>), ListErrors),
    security(("admin_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Key>>> {
    if !admin.sees(&name) {
        return Err(unknown_tenant(&name));
    }
    let tenant = state.admin.tenant(&name).await?;
    Ok(Json(tenant.keys.into_iter().map(Key::from).collect()))
}

/// Make a key for a tenant; the answer is the only time it is shown.
#[utoipa::path(
    post, path = "/admin/v1/tenants/{name}/keys", operation_id = "create_key", tag = "keys",
    params(("name" = String, Path, description = "The tenant's name")),
    request_body = NewKey,
    responses((status = 201, description = "Created", body = CreatedKey), CreateErrors),
    security(("admin_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    body: ApiJson<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    admin.may_write()?;
    if !admin.sees(&name) {
        return Err(unknown_tenant(&name));
    }
    let is_test = matches!(body.value.kind, KeyKind::Test);
    let created = state
        .admin
        .create_key(&name, is_test, admin.caller())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: created.id.to_string(),
            kind: kind(created.is_test).to_owned(),
            prefix: created.prefix,
            key: created.key,
        }),
    ))
}

/// Revoke a key: every instance refuses it within a second.
#[utoipa::path(
    delete, path = "/admin/v1/keys/{id}", operation_id = "revoke_key", tag = "keys",
    params(("id" = i64, Path, description = "The key's ID")),
    responses((status = 204, description = "Revoked"), RevokeErrors),
    security(("admin_token" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin.may_write()?;
    let not_found = || ApiError::UnknownResource(format!("no active key has the ID {id}"));
    let id_number: i64 = id.parse().map_err(|_| not_found())?;
    let visible = state
        .admin
        .key_tenant(id_number)
        .await?
        .is_some_and(|tenant| admin.sees(&tenant));
    if !visible
        || !state
            .admin
            .revoke_key(KeyRef::Id(id_number), admin.caller())
            .await?
    {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

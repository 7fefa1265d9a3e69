//! Tenants over the admin API: list, create, read, change (origins, allowed countries, own
//! limits, enabled channels, disabled).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, present};
use crate::engine::Channel;
use crate::engine::limits::LimitPolicy;
use crate::server::http::rest::answers::{
    Answer, Body, error_answers, invalid_request, with_json_body, with_key,
};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::extract::ApiJson;
use crate::server::http::rest::types::rfc3339;
use crate::server::service::{ServiceError, StoreError, TenantInfo, TenantPatch};
use crate::server::state::AppState;

/// A tenant as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tenant {
    /// Its name, which its messages name.
    pub name: String,
    /// Its account SID (`AC` and 32 hex digits): the user name of the Twilio Verify-compatible
    /// door's HTTP Basic credentials, whose password is one of its API keys. Not a secret.
    pub account_sid: String,
    /// The origins allowed to embed its widget, as browsers send them.
    pub origins: Vec<String>,
    /// Country calling codes its SMS and WhatsApp may reach, as it set them: `null` follows
    /// the server's setting, `[]` allows any country.
    pub allowed_countries: Option<Vec<u16>>,
    /// Its own limits over the server's (the names of `[otpgate.limits]`, but for
    /// `allowed_countries`); `{}` when it has none.
    #[schema(value_type = Object)]
    pub limits: serde_json::Value,
    /// Every limit in force for it: the server's with its own over them.
    #[schema(value_type = Object)]
    pub effective_limits: serde_json::Value,
    /// The channels it may send on; `null` for every channel.
    pub enabled_channels: Option<Vec<Channel>>,
    /// A disabled tenant's keys are refused (`403`) and nothing is sent for it.
    pub disabled: bool,
    pub disabled_at: Option<String>,
    /// The language its people are spoken to in when their session names none otpgate speaks
    /// (and, on the page, their browser asks for none): `en`, `ar`, `es`, `fr`, `de`, `pt`,
    /// `hi`, `id`, `tr`, `ru`, `zh`, `fa`; `null` for English.
    pub language: Option<String>,
    pub created_at: String,
}

impl Tenant {
    pub fn of(tenant: TenantInfo, server: &LimitPolicy) -> Tenant {
        let effective = tenant.limits.over(server);
        let mut own = tenant.limits;
        let allowed_countries = own.allowed_countries.take();
        Tenant {
            name: tenant.name,
            account_sid: tenant.account_sid,
            origins: tenant.origins,
            allowed_countries,
            limits: serde_json::to_value(&own).unwrap_or_default(),
            effective_limits: serde_json::to_value(&effective).unwrap_or_default(),
            enabled_channels: tenant.gate.enabled_channels.clone(),
            disabled: tenant.gate.disabled(),
            disabled_at: tenant.gate.disabled_at.map(rfc3339),
            language: tenant.language,
            created_at: rfc3339(tenant.created_at),
        }
    }
}

/// A change to a tenant: what is left out stays as it is. `limits`, `allowed_countries` and
/// `disabled` protect the server and the tenant's budget, so only a token over every tenant
/// changes them; a tenant's own `write` token changes its origins, enabled channels and language.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    /// Replaces the origins allowed to embed its widget: `scheme://host[:port]` each.
    pub origins: Option<Vec<String>>,
    /// Country calling codes its SMS and WhatsApp may reach (`[1, 44]`); `[]` for any
    /// country, `null` to follow the server's setting.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<u16>>)]
    pub allowed_countries: Option<Option<Vec<u16>>>,
    /// Its own limits, as a JSON merge patch over them (the names of `[otpgate.limits]`): a
    /// number sets a limit, `null` gives that one back to the server's; `limits: null` gives
    /// them all back.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<Option<serde_json::Map<String, serde_json::Value>>>,
    /// The channels it may send on (at least one); `null` for every channel.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Channel>>)]
    pub enabled_channels: Option<Option<Vec<Channel>>>,
    /// `true` refuses its keys and sends nothing for it; `false` enables it again.
    pub disabled: Option<bool>,
    /// The language its people are spoken to in when their session names none otpgate speaks
    /// (and, on the page, their browser asks for none): one of `en`, `ar`, `es`, `fr`, `de`,
    /// `pt`, `hi`, `id`, `tr`, `ru`, `zh`, `fa` (a region is dropped: `pt-BR` is `pt`);
    /// `null` for English.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "fr")]
    pub language: Option<Option<String>>,
}

impl TenantChange {
    /// Whether this change is one only a token over every tenant may make.
    fn is_operators(&self) -> bool {
        self.allowed_countries.is_some() || self.limits.is_some() || self.disabled.is_some()
    }

    fn into_patch(self) -> ApiResult<TenantPatch> {
        let (mut limits, reset_limits) = match self.limits {
            None => (None, false),
            Some(None) => (None, true),
            Some(Some(fields)) => (Some(fields), false),
        };
        if let Some(countries) = self.allowed_countries {
            let fields = limits.get_or_insert_with(serde_json::Map::new);
            if fields.contains_key("allowed_countries") {
                return Err(ApiError::from(ServiceError::InvalidRequest(
                    "allowed_countries: give it once, outside `limits`".into(),
                )));
            }
            fields.insert(
                "allowed_countries".into(),
                serde_json::to_value(countries).unwrap_or_default(),
            );
        }
        Ok(TenantPatch {
            origins: self.origins,
            limits,
            reset_limits,
            enabled_channels: self.enabled_channels,
            disabled: self.disabled,
            language: self.language,
        })
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

error_answers!(
    /// What changing a tenant answers besides its success.
    ChangeErrors => with_json_body(vec![
        invalid_request(),
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: a `read` token, or a token scoped to the tenant changing its limits, \
             allowed countries or whether it is disabled.",
            Body::Error,
        ),
        tenant_not_found(),
    ])
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
            .map(|t| Tenant::of(t, state.admin.server_limits()))
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
    Ok((
        StatusCode::CREATED,
        Json(Tenant::of(tenant, state.admin.server_limits())),
    ))
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
    let tenant = state.admin.tenant(&name).await?;
    Ok(Json(Tenant::of(tenant, state.admin.server_limits())))
}

/// Change some of a tenant's settings; what the body leaves out stays as it is. The change
/// applies on every instance within a second, and the audit log records it with the settings
/// before and after.
#[utoipa::path(
    patch, path = "/admin/v1/tenants/{name}", operation_id = "change_tenant", tag = "tenants",
    params(("name" = String, Path, description = "The tenant's name")),
    request_body = TenantChange,
    responses((status = 200, description = "The tenant as it is now", body = Tenant), ChangeErrors),
    security(("admin_token" = []))
)]
pub async fn change(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    body: ApiJson<TenantChange>,
) -> ApiResult<Json<Tenant>> {
    admin.may_write()?;
    if !admin.sees(&name) {
        return Err(unknown_tenant(&name));
    }
    let change = body.value;
    if change.is_operators() {
        admin.over_every_tenant()?;
    }
    let tenant = state
        .admin
        .update_tenant(&name, &change.into_patch()?, admin.caller())
        .await?;
    Ok(Json(Tenant::of(tenant, state.admin.server_limits())))
}

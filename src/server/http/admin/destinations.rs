//! Destinations locked by failed codes, over the admin API: look one up (by the address or
//! number, matched by its keyed hash; it is never stored in clear) and unlock it.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Admin;
use super::tenants::unknown_tenant;
use crate::server::http::rest::answers::{
    Answer, Body, error_answers, invalid_request, with_json_body,
};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::extract::ApiJson;
use crate::server::http::rest::types::rfc3339;
use crate::server::state::AppState;

/// Which destination, and where.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationQuery {
    /// An email address (compared without case) or an E.164 number.
    pub destination: String,
    /// Only this tenant (a token scoped to a tenant always means its own).
    pub tenant: Option<String>,
}

/// A destination's run of failed codes in one tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationStreak {
    pub tenant: String,
    /// Consecutive failed codes, across sessions.
    pub failures: u32,
    /// Whether it gets no codes and takes no guesses now.
    pub locked: bool,
    pub locked_until: Option<String>,
}

/// A destination as otpgate knows it: masked, never in clear.
#[derive(Debug, Serialize, ToSchema)]
pub struct Destination {
    /// Masked (`v***@example.com`, `+1 •••• ••0100`).
    pub destination: String,
    /// The first bytes of its keyed hash, as audit entries name it.
    pub subject: String,
    /// Each tenant where it has a run of failures, by name.
    pub tenants: Vec<DestinationStreak>,
}

/// What an unlock did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unlocked {
    /// Masked.
    pub destination: String,
    /// The tenants where its run of failures ended (empty when it had none).
    pub unlocked: Vec<String>,
}

error_answers!(
    /// What looking a destination up answers besides its success.
    LookUpErrors => with_json_body(vec![
        invalid_request(),
        Answer::new(
            vec![ApiError::UnknownResource(String::new())],
            "`not_found`: a `tenant` this token does not see, or that does not exist.",
            Body::Error,
        ),
    ])
);

error_answers!(
    /// What unlocking a destination answers besides its success.
    UnlockErrors => with_json_body(vec![
        invalid_request(),
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: a `read` token.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::UnknownResource(String::new())],
            "`not_found`: a `tenant` this token does not see, or that does not exist.",
            Body::Error,
        ),
    ])
);

/// The tenant a call is about: the token's own when it is scoped to one (another is answered
/// as missing), else the one named, if any (checked to exist).
async fn tenant_of(
    state: &AppState,
    admin: &Admin,
    named: Option<String>,
) -> ApiResult<Option<String>> {
    let tenant = match (admin.own_tenant(), named) {
        (Some(own), Some(named)) if named != own => return Err(unknown_tenant(&named)),
        (Some(own), _) => Some(own.to_owned()),
        (None, named) => named,
    };
    if let Some(name) = &tenant {
        state.admin.tenant(name).await?;
    }
    Ok(tenant)
}

/// A destination's runs of failed codes, per tenant.
#[utoipa::path(
    post, path = "/admin/v1/destinations/lookup", operation_id = "look_up_destination",
    tag = "destinations",
    request_body = DestinationQuery,
    responses((status = 200, description = "The destination, masked, and its streaks", body = Destination), LookUpErrors),
    security(("admin_token" = []))
)]
pub async fn look_up(
    State(state): State<AppState>,
    admin: Admin,
    body: ApiJson<DestinationQuery>,
) -> ApiResult<Json<Destination>> {
    let query = body.value;
    let tenant = tenant_of(&state, &admin, query.tenant).await?;
    let report = state
        .admin
        .look_up_destination(&query.destination, tenant.as_deref())
        .await?;
    let now = state.admin.now();
    Ok(Json(Destination {
        destination: report.shown,
        subject: report.subject,
        tenants: report
            .tenants
            .into_iter()
            .filter(|streak| admin.sees(&streak.tenant))
            .map(|streak| DestinationStreak {
                tenant: streak.tenant,
                failures: streak.failures,
                locked: streak.locked_until.is_some_and(|until| until > now),
                locked_until: streak.locked_until.map(rfc3339),
            })
            .collect(),
    }))
}

/// End a destination's runs of failed codes (and so its locks), in one tenant or in every
/// tenant the token sees; each is recorded as `destination.unlocked`.
#[utoipa::path(
    post, path = "/admin/v1/destinations/unlock", operation_id = "unlock_destination",
    tag = "destinations",
    request_body = DestinationQuery,
    responses((status = 200, description = "Where it was unlocked", body = Unlocked), UnlockErrors),
    security(("admin_token" = []))
)]
pub async fn unlock(
    State(state): State<AppState>,
    admin: Admin,
    body: ApiJson<DestinationQuery>,
) -> ApiResult<Json<Unlocked>> {
    admin.may_write()?;
    let query = body.value;
    let tenant = tenant_of(&state, &admin, query.tenant).await?;
    let (destination, unlocked) = state
        .admin
        .unlock_destination(&query.destination, tenant.as_deref(), admin.caller())
        .await?;
    Ok(Json(Unlocked {
        destination,
        unlocked,
    }))
}

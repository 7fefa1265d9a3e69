//! Webhook endpoints over the admin API: subscribe a URL to a tenant's events (the signing
//! secret shown only in that answer), list, read, change, delete, rotate the secret, send a
//! test event, read the deliveries with their attempts, send one again, replay since a time.
//! A token scoped to a tenant manages that tenant's endpoints; any other is answered as if it
//! did not exist. Each change leaves one audit entry.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tenants::unknown_tenant;
use super::{Admin, present};
use crate::server::http::rest::answers::{
    Answer, Body, error_answers, invalid_request, with_json_body, with_key,
};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::extract::ApiJson;
use crate::server::http::rest::types::rfc3339;
use crate::server::service::webhooks::WebhookChange;
use crate::server::service::{EndpointInfo, WebhookDeliveryInfo, WebhookDeliveryQuery};
use crate::server::state::AppState;

/// Deliveries a page holds unless `limit` says otherwise.
const PAGE: i64 = 50;

/// A webhook endpoint (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub tenant: String,
    pub url: String,
    /// The event types it receives; `null` for every type.
    pub events: Option<Vec<String>>,
    pub description: String,
    pub enabled: bool,
    /// Why it is disabled: `operator`, `gone` (it answered 410) or `failing` (five days of
    /// failed deliveries).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<String>,
    /// Since when every delivery to it failed; `null` while it answers.
    pub failing_since: Option<String>,
    /// After a rotation: until when the previous secret still signs too.
    pub previous_secret_valid_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<EndpointInfo> for Webhook {
    fn from(info: EndpointInfo) -> Webhook {
        Webhook {
            id: info.id,
            tenant: info.tenant,
            url: info.url,
            events: info
                .event_types
                .map(|types| types.iter().map(|t| t.as_str().to_owned()).collect()),
            description: info.description,
            enabled: info.disabled_at.is_none(),
            disabled_reason: info.disabled_reason,
            disabled_at: info.disabled_at.map(rfc3339),
            failing_since: info.failing_since.map(rfc3339),
            previous_secret_valid_until: info.previous_until.map(rfc3339),
            created_at: rfc3339(info.created_at),
            updated_at: rfc3339(info.updated_at),
        }
    }
}

/// An endpoint just made, with its signing secret: shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` and the base64 of 32 random bytes: verify signatures with it (the Standard
    /// Webhooks libraries take it as it is). Stored sealed, never shown again.
    pub secret: String,
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are posted: `https`, reaching a public address (unless the server allows
    /// private ones, `OTPGATE_WEBHOOKS_ALLOW_PRIVATE`).
    pub url: String,
    /// The event types it wants; left out, every type (also types added later).
    pub events: Option<Vec<String>>,
    /// What it is for, at most 200 characters.
    pub description: Option<String>,
}

/// A change to an endpoint: what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub url: Option<String>,
    /// The event types it wants; `null` for every type.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub events: Option<Option<Vec<String>>>,
    pub description: Option<String>,
    /// `false` stops deliveries (pending ones are skipped; a replay may send them later);
    /// `true` starts them again and forgets its run of failures.
    pub enabled: Option<bool>,
}

/// A rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRotation {
    /// Seconds the previous secret keeps signing beside the new one (0 to 604800; a day when
    /// left out).
    pub overlap_secs: Option<i64>,
}

/// The new secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    /// The new secret, shown only here.
    pub secret: String,
    /// Until then every delivery carries a signature with each secret.
    pub previous_secret_valid_until: String,
}

/// A test event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTestEvent {
    /// Its type (`verification.verified`, say); its data are made up, with `"test": true`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A test event queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookTestQueued {
    /// The delivery, as `…/deliveries` lists it.
    pub delivery: i64,
}

/// A replay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookReplay {
    /// RFC 3339: the deliveries made since then are sent again.
    pub since: String,
    /// Also those already delivered (receivers de-duplicate by `webhook-id`); by default only
    /// the failed and the skipped.
    #[serde(default)]
    pub delivered: bool,
}

/// What a replay queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReplayed {
    pub queued: u64,
}

/// One request made to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptView {
    pub at: String,
    pub duration_ms: i64,
    /// The answer's HTTP status; `null` when none came.
    pub status: Option<u16>,
    /// Why none came (a timeout, a refused connection), or why it was not made.
    pub error: Option<String>,
    /// The first 1 KB of the answer's body.
    pub response: Option<String>,
}

/// One event for one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    /// The `webhook-id` header: the event's, the same on every retry.
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending` (also between retries), `sending`, `delivered`, `failed` (given up), `skipped`
    /// (the endpoint was disabled).
    pub status: String,
    /// Requests made in its current round (a resend or a replay starts a new one).
    pub attempts: u32,
    /// While pending: when it is tried next.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// The body as posted.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Every request made, oldest first.
    pub tries: Vec<WebhookAttemptView>,
}

impl From<WebhookDeliveryInfo> for WebhookDelivery {
    fn from(info: WebhookDeliveryInfo) -> WebhookDelivery {
        WebhookDelivery {
            id: info.id,
            event_id: info.event_id,
            kind: info.event_type,
            status: info.status,
            attempts: info.attempts,
            next_attempt_at: info.next_attempt_at.map(rfc3339),
            created_at: rfc3339(info.created_at),
            finished_at: info.finished_at.map(rfc3339),
            payload: serde_json::from_str(&info.body).unwrap_or_default(),
            tries: info
                .tries
                .into_iter()
                .map(|a| WebhookAttemptView {
                    at: rfc3339(a.at),
                    duration_ms: a.duration_ms,
                    status: a.status,
                    error: a.error,
                    response: a.response,
                })
                .collect(),
        }
    }
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub deliveries: Vec<WebhookDelivery>,
    /// The `cursor` of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookDeliveryStatus {
    Pending,
    Sending,
    Delivered,
    Failed,
    Skipped,
}

impl WebhookDeliveryStatus {
    fn name(self) -> &'static str {
        match self {
            WebhookDeliveryStatus::Pending => "pending",
            WebhookDeliveryStatus::Sending => "sending",
            WebhookDeliveryStatus::Delivered => "delivered",
            WebhookDeliveryStatus::Failed => "failed",
            WebhookDeliveryStatus::Skipped => "skipped",
        }
    }
}

/// Which deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookDeliveryParams {
    #[param(nullable = false, inline)]
    pub status: Option<WebhookDeliveryStatus>,
    /// The `next_cursor` of the page before.
    #[param(nullable = false)]
    pub cursor: Option<String>,
    /// Deliveries per page (50).
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

fn no_endpoint() -> ApiError {
    ApiError::UnknownResource("no such webhook endpoint".into())
}

/// A number as a path names it: anything else names nothing.
fn id_of(text: &str, missing: fn() -> ApiError) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(missing)
}

/// The endpoint a path names, if this token sees its tenant.
async fn visible(state: &AppState, admin: &Admin, id: &str) -> ApiResult<EndpointInfo> {
    let id = id_of(id, no_endpoint)?;
    match state.admin.webhook(id).await {
        Ok(endpoint) if admin.sees(&endpoint.tenant) => Ok(endpoint),
        Ok(_) => Err(no_endpoint()),
        Err(crate::server::service::ServiceError::Store(
            crate::server::service::StoreError::NotFound(_),
        )) => Err(no_endpoint()),
        Err(error) => Err(error.into()),
    }
}

fn read_only() -> Answer {
    Answer::new(
        vec![ApiError::Forbidden(String::new())],
        "`forbidden`: a `read` token.",
        Body::Error,
    )
}

fn endpoint_not_found() -> Answer {
    Answer::new(
        vec![ApiError::UnknownResource(String::new())],
        "`not_found`: no such endpoint, or one of a tenant this token does not see.",
        Body::Error,
    )
}

fn tenant_not_found() -> Answer {
    Answer::new(
        vec![ApiError::UnknownResource(String::new())],
        "`not_found`: no such tenant, or one this token does not see.",
        Body::Error,
    )
}

fn disabled_conflict() -> Answer {
    Answer::new(
        vec![ApiError::Conflict(String::new())],
        "`conflict`: the endpoint is disabled (enable it first), or the delivery is still \
         pending.",
        Body::Error,
    )
}

error_answers!(
    /// What listing a tenant's endpoints answers besides its success.
    ListErrors => with_key(vec![tenant_not_found()])
);

error_answers!(
    /// What subscribing an endpoint answers besides its success.
    CreateErrors => with_json_body(vec![invalid_request(), read_only(), tenant_not_found()])
);

error_answers!(
    /// What reading an endpoint or its deliveries answers besides its success.
    ReadErrors => with_key(vec![
        Answer::new(
            vec![ApiError::InvalidRequest(String::new())],
            "`invalid_request`: a malformed query (an unknown status, a cursor that is not one, \
             a limit out of range).",
            Body::Error,
        ),
        endpoint_not_found(),
    ])
);

error_answers!(
    /// What changing an endpoint answers besides its success.
    ChangeErrors => with_json_body(vec![invalid_request(), read_only(), endpoint_not_found()])
);

error_answers!(
    /// What deleting an endpoint answers besides its success.
    DeleteErrors => with_key(vec![read_only(), endpoint_not_found()])
);

error_answers!(
    /// What sending an endpoint events (a test, a replay, a resend) answers besides its
    /// success.
    SendErrors => with_json_body(vec![
        invalid_request(),
        read_only(),
        endpoint_not_found(),
        disabled_conflict(),
    ])
);

error_answers!(
    /// What resending a delivery answers besides its success.
    ResendErrors => with_key(vec![read_only(), endpoint_not_found(), disabled_conflict()])
);

/// A tenant's webhook endpoints, oldest first.
#[utoipa::path(
    get, path = "/admin/v1/tenants/{name}/webhooks", operation_id = "list_webhooks",
    tag = "webhooks",
    params(("name" = String, Path, description = "The tenant's name")),
    responses((status = 200, description = "The endpoints", body = Vec<Webhook>), ListErrors),
    security(("admin_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Webhook>>> {
    if !admin.sees(&name) {
        return Err(unknown_tenant(&name));
    }
    state.admin.tenant(&name).await?;
    let endpoints = state.admin.webhooks(Some(&name)).await?;
    Ok(Json(endpoints.into_iter().map(Webhook::from).collect()))
}

/// Subscribe a URL to the tenant's events. The answer carries the signing secret, the only
/// time it is shown.
#[utoipa::path(
    post, path = "/admin/v1/tenants/{name}/webhooks", operation_id = "create_webhook",
    tag = "webhooks",
    params(("name" = String, Path, description = "The tenant's name")),
    request_body = NewWebhook,
    responses((status = 201, description = "Subscribed", body = CreatedWebhook), CreateErrors),
    security(("admin_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    body: ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    admin.may_write()?;
    if !admin.sees(&name) {
        return Err(unknown_tenant(&name));
    }
    let new = body.value;
    let created = state
        .admin
        .create_webhook(
            &name,
            &new.url,
            new.events.as_deref(),
            new.description.as_deref(),
            admin.caller(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook: Webhook::from(created.endpoint),
            secret: created.secret,
        }),
    ))
}

/// One endpoint.
#[utoipa::path(
    get, path = "/admin/v1/webhooks/{id}", operation_id = "read_webhook", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (a number)")),
    responses((status = 200, description = "The endpoint", body = Webhook), ReadErrors),
    security(("admin_token" = []))
)]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(Webhook::from(visible(&state, &admin, &id).await?)))
}

/// Change an endpoint; what the body leaves out stays as it is.
#[utoipa::path(
    patch, path = "/admin/v1/webhooks/{id}", operation_id = "change_webhook", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (a number)")),
    request_body = WebhookPatch,
    responses((status = 200, description = "The endpoint as it is now", body = Webhook), ChangeErrors),
    security(("admin_token" = []))
)]
pub async fn change(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: ApiJson<WebhookPatch>,
) -> ApiResult<Json<Webhook>> {
    admin.may_write()?;
    let endpoint = visible(&state, &admin, &id).await?;
    let patch = body.value;
    let change = WebhookChange {
        url: patch.url,
        events: patch.events,
        description: patch.description,
        enabled: patch.enabled,
    };
    let changed = state
        .admin
        .update_webhook(endpoint.id, &change, admin.caller())
        .await?;
    Ok(Json(Webhook::from(changed)))
}

/// Delete an endpoint, with its deliveries.
#[utoipa::path(
    delete, path = "/admin/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (a number)")),
    responses((status = 204, description = "Deleted"), DeleteErrors),
    security(("admin_token" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin.may_write()?;
    let endpoint = visible(&state, &admin, &id).await?;
    state
        .admin
        .delete_webhook(endpoint.id, admin.caller())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret. The previous one keeps signing for the overlap (a day unless told):
/// meanwhile each delivery carries both signatures, so receivers move to the new secret
/// without missing an event.
#[utoipa::path(
    post, path = "/admin/v1/webhooks/{id}/rotate", operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (a number)")),
    request_body(content = WebhookRotation, description = "Optional: the overlap"),
    responses((status = 200, description = "The new secret", body = WebhookSecret), ChangeErrors),
    security(("admin_token" = []))
)]
pub async fn rotate(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: Option<ApiJson<WebhookRotation>>,
) -> ApiResult<Json<WebhookSecret>> {
    admin.may_write()?;
    let endpoint = visible(&state, &admin, &id).await?;
    let overlap = body.and_then(|b| b.value.overlap_secs);
    let rotated = state
        .admin
        .rotate_webhook_secret(endpoint.id, overlap, admin.caller())
        .await?;
    Ok(Json(WebhookSecret {
        secret: rotated.secret,
        previous_secret_valid_until: rfc3339(rotated.previous_valid_until),
    }))
}

/// Send the endpoint a test event of a chosen type, signed and retried like any other.
#[utoipa::path(
    post, path = "/admin/v1/webhooks/{id}/test", operation_id = "test_webhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (a number)")),
    request_body = WebhookTestEvent,
    responses((status = 202, description = "Queued", body = WebhookTestQueued), SendErrors),
    security(("admin_token" = []))
)]
pub async fn test(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: ApiJson<WebhookTestEvent>,
) -> ApiResult<(StatusCode, Json<WebhookTestQueued>)> {
    admin.may_write()?;
    let endpoint = visible(&state, &admin, &id).await?;
    let delivery = state
        .admin
        .test_webhook(endpoint.id, &body.value.kind)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(WebhookTestQueued { delivery })))
}

/// The endpoint's deliveries, newest first, each with every request made.
#[utoipa::path(
    get, path = "/admin/v1/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (a number)"), WebhookDeliveryParams),
    responses((status = 200, description = "A page of deliveries, newest first", body = WebhookDeliveryPage), ReadErrors),
    security(("admin_token" = []))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    params: Result<Query<WebhookDeliveryParams>, QueryRejection>,
) -> ApiResult<Json<WebhookDeliveryPage>> {
    let Query(params) =
        params.map_err(|_| ApiError::InvalidRequest("invalid query string".into()))?;
    let endpoint = visible(&state, &admin, &id).await?;
    let limit = params.limit.unwrap_or(PAGE);
    let query = WebhookDeliveryQuery {
        status: params.status.map(WebhookDeliveryStatus::name),
        before_id: super::cursor_before(params.cursor.as_deref())?,
        limit,
    };
    let found = state.admin.webhook_deliveries(endpoint.id, &query).await?;
    let next_cursor = super::next_cursor(found.len(), limit, found.last().map(|d| d.id));
    Ok(Json(WebhookDeliveryPage {
        deliveries: found.into_iter().map(WebhookDelivery::from).collect(),
        next_cursor,
    }))
}

/// Send one delivery again, now, under its same `webhook-id`.
#[utoipa::path(
    post, path = "/admin/v1/webhooks/{id}/deliveries/{delivery}/resend",
    operation_id = "resend_webhook_delivery", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint's ID (a number)"),
        ("delivery" = String, Path, description = "The delivery's ID (a number)"),
    ),
    responses((status = 202, description = "Queued"), ResendErrors),
    security(("admin_token" = []))
)]
pub async fn resend(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    admin.may_write()?;
    let endpoint = visible(&state, &admin, &id).await?;
    let delivery = id_of(&delivery, || {
        ApiError::UnknownResource("no such delivery of this endpoint".into())
    })?;
    state
        .admin
        .resend_webhook(endpoint.id, delivery, admin.caller())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Send again everything made since a time that failed or was skipped (with `delivered`, what
/// was delivered too), each under its same `webhook-id`.
#[utoipa::path(
    post, path = "/admin/v1/webhooks/{id}/replay", operation_id = "replay_webhooks",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (a number)")),
    request_body = WebhookReplay,
    responses((status = 202, description = "Queued", body = WebhookReplayed), SendErrors),
    security(("admin_token" = []))
)]
pub async fn replay(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: ApiJson<WebhookReplay>,
) -> ApiResult<(StatusCode, Json<WebhookReplayed>)> {
    admin.may_write()?;
    let endpoint = visible(&state, &admin, &id).await?;
    let since = time::OffsetDateTime::parse(
        &body.value.since,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| ApiError::InvalidRequest("since: an RFC 3339 time".into()))?
    .unix_timestamp();
    let queued = state
        .admin
        .replay_webhooks(endpoint.id, since, body.value.delivered, admin.caller())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(WebhookReplayed { queued })))
}

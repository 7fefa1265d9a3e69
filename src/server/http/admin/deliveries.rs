//! The delivery queue over the admin API: messages listed by status, channel and provider
//! (newest first, with a cursor), a failed message sent again, a waiting one canceled. Each
//! change leaves one audit entry; recipients are masked, codes never shown.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Admin;
use crate::engine::Channel;
use crate::server::http::rest::answers::{Answer, Body, error_answers, with_key};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::types::{DeliveryInfo, rfc3339};
use crate::server::service::DeliveryQuery;
use crate::server::service::queue::{DeliveryLine, stored_status};
use crate::server::state::AppState;

/// Messages a page holds unless `limit` says otherwise.
const PAGE: i64 = 100;

/// A message of the delivery queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub tenant: String,
    /// The session it was sent for (or `request_id`, for a single-SMS request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub channel: Channel,
    /// Masked.
    pub recipient: String,
    /// `queued` (waiting, also between retries), `sending` (being handed over), `sent`,
    /// `delivered`, `failed`, `canceled`.
    pub status: String,
    /// A failed message's stable error.
    pub error: Option<String>,
    /// Hand-overs to the provider so far.
    pub attempts: i64,
    pub provider: Option<String>,
    /// Replaced by a resend's message: it is never delivered after that.
    pub replaced: bool,
    pub created_at: String,
    pub updated_at: String,
    /// While `queued`: when the worker tries it next.
    pub next_attempt_at: Option<String>,
    /// It is not delivered after this (its session or request ends).
    pub expires_at: String,
}

impl From<DeliveryLine> for DeliveryView {
    fn from(line: DeliveryLine) -> DeliveryView {
        DeliveryView {
            id: line.id,
            tenant: line.tenant,
            session_id: line.session_id,
            request_id: line.request_id,
            channel: line.channel,
            recipient: line.recipient,
            status: line.status,
            error: line.error,
            attempts: line.attempts,
            provider: line.provider,
            replaced: line.replaced,
            created_at: rfc3339(line.created_at),
            updated_at: rfc3339(line.updated_at),
            next_attempt_at: line.next_attempt_at.map(rfc3339),
            expires_at: rfc3339(line.expires_at),
        }
    }
}

/// A page of messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    /// The `cursor` of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Where a message stands, as the queue lists it.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Failed,
    Canceled,
}

impl QueueStatus {
    fn stored(self) -> &'static str {
        let name = match self {
            QueueStatus::Queued => "queued",
            QueueStatus::Sending => "sending",
            QueueStatus::Sent => "sent",
            QueueStatus::Delivered => "delivered",
            QueueStatus::Failed => "failed",
            QueueStatus::Canceled => "canceled",
        };
        stored_status(name).unwrap_or("queued")
    }
}

/// Which messages.
#[derive(Debug, Deserialize, IntoParams)]
// Said outright: the handler takes `Result<Query<…>>`, from which utoipa cannot tell.
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Where the message stands.
    #[param(nullable = false, inline)]
    pub status: Option<QueueStatus>,
    pub channel: Option<Channel>,
    /// The provider's name: `smtp`, `twilio`, `gateway`, `whatsapp`.
    #[param(nullable = false)]
    pub provider: Option<String>,
    /// Only this tenant's (a tenant token always lists its own only).
    #[param(nullable = false)]
    pub tenant: Option<String>,
    /// The `next_cursor` of the page before.
    #[param(nullable = false)]
    pub cursor: Option<String>,
    /// Messages per page (100).
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// What a retry did: the failed message, and the channel's new message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    /// The failed message (now replaced).
    pub retried: i64,
    pub session_id: String,
    pub channel: Channel,
    /// The channel's new message, with a new code.
    pub delivery: Option<DeliveryInfo>,
}

/// A message's ID as a path names it: anything that is not one names no message.
fn message_id(text: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::UnknownResource("no such message".into()))
}

fn invalid(what: &str) -> ApiError {
    ApiError::InvalidRequest(what.to_owned())
}

error_answers!(
    /// What listing the queue answers besides its page.
    ListErrors => with_key(vec![
        Answer::new(
            vec![ApiError::InvalidRequest(String::new())],
            "`invalid_request`: a malformed query (an unknown status or channel, a cursor that is \
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

error_answers!(
    /// What retrying or canceling a message answers besides its success.
    ChangeErrors => with_key(vec![
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: a `read` token.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::UnknownResource(String::new())],
            "`not_found`: no such message, or one of a tenant this token does not see.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::Conflict(String::new())],
            "`conflict`: the message is not in a state this applies to (retry: only a failed \
             message whose session still takes codes; a single-SMS request's message never, \
             as its code is for life. Cancel: only a queued one); `message` says why.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::RateLimited {
                retry_after: 0,
                message: String::new(),
            }],
            "`rate_limited`: the retry is a resend, held to the same cooldown and limits, with \
             `Retry-After`.",
            Body::Error,
        ),
    ])
);

/// The delivery queue, newest first.
#[utoipa::path(
    get, path = "/admin/v1/deliveries", operation_id = "list_deliveries", tag = "deliveries",
    params(DeliveryParams),
    responses((status = 200, description = "A page of messages, newest first", body = DeliveryPage), ListErrors),
    security(("admin_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    params: Result<Query<DeliveryParams>, QueryRejection>,
) -> ApiResult<Json<DeliveryPage>> {
    let Query(params) = params.map_err(|_| invalid("invalid query string"))?;
    let tenant = admin.tenant_filter(params.tenant.as_deref())?;
    let status = params.status.map(QueueStatus::stored);
    let channel = params.channel;
    let before_id = super::cursor_before(params.cursor.as_deref())?;
    let limit = params.limit.unwrap_or(PAGE);
    let query = DeliveryQuery {
        tenant,
        status,
        channel,
        provider: params.provider.as_deref(),
        id: None,
        before_id,
        limit,
    };
    let lines = state.admin.deliveries(&query).await?;
    let next_cursor = super::next_cursor(lines.len(), limit, lines.last().map(|l| l.id));
    Ok(Json(DeliveryPage {
        deliveries: lines.into_iter().map(DeliveryView::from).collect(),
        next_cursor,
    }))
}

/// Send a failed message again: a resend of its channel with a new code, under the same
/// cooldown and limits as any resend, while its session still takes codes. Recorded as
/// `delivery.retried`.
#[utoipa::path(
    post, path = "/admin/v1/deliveries/{id}/retry", operation_id = "retry_delivery",
    tag = "deliveries",
    params(("id" = String, Path, description = "The message's ID (a number)")),
    responses((status = 200, description = "Sent again", body = Retried), ChangeErrors),
    security(("admin_token" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Retried>> {
    admin.may_write()?;
    let id = message_id(&id)?;
    let (message, report) = state
        .service
        .retry_message(id, admin.own_tenant(), admin.caller())
        .await?;
    let delivery = report
        .view
        .deliveries
        .as_ref()
        .and_then(|all| all.get(&message.channel))
        .map(DeliveryInfo::from);
    Ok(Json(Retried {
        retried: message.id,
        session_id: report.view.session_id,
        channel: message.channel,
        delivery,
    }))
}

/// Cancel a message still waiting for its provider; its sealed code is erased. Recorded as
/// `delivery.canceled`.
#[utoipa::path(
    post, path = "/admin/v1/deliveries/{id}/cancel", operation_id = "cancel_delivery",
    tag = "deliveries",
    params(("id" = String, Path, description = "The message's ID (a number)")),
    responses((status = 200, description = "The message, canceled", body = DeliveryView), ChangeErrors),
    security(("admin_token" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryView>> {
    admin.may_write()?;
    let id = message_id(&id)?;
    let line = state
        .admin
        .cancel_delivery(id, admin.own_tenant(), admin.caller())
        .await?;
    Ok(Json(DeliveryView::from(line)))
}

//! The test outbox and the health check.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};

use super::answers::{Answer, Body, error_answers, with_key};
use super::error::{ApiError, ApiResult};
use super::extract::ApiKey;
use super::types::{Health, OutboxEntry, OutboxParams, rfc3339};
use crate::server::service::VerificationService;

error_answers!(
    /// What the test outbox answers besides its messages.
    OutboxErrors => with_key(vec![
        Answer::new(
            vec![ApiError::InvalidRequest(String::new())],
            "`invalid_request`: the query string is malformed.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: a live key (the test outbox is for test keys).",
            Body::Error,
        ),
    ])
);

/// Messages sent under this tenant's test keys, newest first (test keys only).
#[utoipa::path(
    get, path = "/api/v1/test/messages", operation_id = "list_test_messages", tag = "testing",
    params(OutboxParams),
    responses(
        (status = 200, description = "Caught messages, newest first", body = Vec<OutboxEntry>),
        OutboxErrors,
    ),

    security(("api_key" = []), ("bearer" = []))
)]
pub async fn test_messages(
    State(service): State<VerificationService>,
    ApiKey(key): ApiKey,
    params: Result<Query<OutboxParams>, QueryRejection>,
) -> ApiResult<Json<Vec<OutboxEntry>>> {
    let Query(params) =
        params.map_err(|_| ApiError::InvalidRequest("invalid query string".into()))?;
    let messages = service.test_messages(&key, params.to.as_deref()).await?;
    Ok(Json(
        messages
            .into_iter()
            .map(|m| OutboxEntry {
                channel: m.channel,
                to: m.recipient,
                body: m.body,
                code: m.code,
                sent_at: rfc3339(m.sent_at),
            })
            .collect(),
    ))
}

/// Liveness: answers as soon as the HTTP stack does, without touching the database.
#[utoipa::path(get, path = "/healthz", operation_id = "health", tag = "operations",
    responses((status = 200, description = "The server is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Whether this instance is ready.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Why not: `database unreachable`, `database does not take writes`, `database read-only`,
    /// `database migrations behind`, `delivery worker stopped` or `webhook worker stopped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Readiness: whether this instance can serve now (the database answers reads and writes with
/// current migrations; the delivery and webhook workers run). For load balancers and orchestrators; it
/// changes back without a restart.
#[utoipa::path(get, path = "/readyz", operation_id = "readiness", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: `reason` says why", body = Readiness),
    ))]
pub async fn readyz(
    State(service): State<VerificationService>,
) -> (axum::http::StatusCode, Json<Readiness>) {
    match service.readiness().await {
        Ok(()) => (
            axum::http::StatusCode::OK,
            Json(Readiness {
                status: "ok".into(),
                reason: None,
            }),
        ),
        Err(reason) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "unavailable".into(),
                reason: Some(reason.into()),
            }),
        ),
    }
}

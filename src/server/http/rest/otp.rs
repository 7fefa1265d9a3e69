//! Handlers of the progressive multi-channel API (`/api/v1/otp/...`).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiKey, code_string};
use super::types::{
    CancelResponse, ResendRequest, ResendResponse, SendRequest, SendResponse, SessionFields,
    StatusResponse, TokenRequest, VerifyRequest, VerifyResponse,
};
use crate::engine::session::Verdict;
use crate::engine::{Channel, RequestedLimits};
use crate::server::crypto::sha256;
use crate::server::service::{Idempotency, SendInput, VerificationService};

/// Send codes: one independent code per channel, under one session token.
#[utoipa::path(
    post, path = "/api/v1/otp/send", operation_id = "send_codes", tag = "progressive",
    request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The same key and body within 24 hours return the first response and send nothing again.")),
    responses(
        (status = 200, description = "Stored and sent: one independent code per channel, under one session token", body = SendResponse),
    ),

    security(("api_key" = []), ("bearer" = []))
)]
pub async fn send(
    State(service): State<VerificationService>,
    ApiKey(key): ApiKey,
    headers: HeaderMap,
    body: ApiJson<SendRequest>,
) -> ApiResult<Json<SendResponse>> {
    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(Idempotency {
            key: value
                .to_str()
                .map_err(|_| {
                    ApiError::InvalidRequest("Idempotency-Key must be visible ASCII".into())
                })?
                .to_owned(),
            body_hash: sha256(&body.raw),
        }),
    };
    let request = body.value;
    let input = SendInput {
        channels: request.channels,
        recipients: request.recipients,
        mode: request.verification_mode,
        limits: RequestedLimits {
            code_length: request.code_length,
            expires_in: request.expires_in,
            max_attempts: request.max_attempts,
            max_attempts_per_channel: request.max_attempts_per_channel,
        },
        locale: request.locale,
        client_ip: request.client_ip,
    };
    let created = service.send(&key, input, idempotency).await?;
    Ok(Json(created.into()))
}

/// Turns the `otps` object into channel/code pairs, refusing unknown channels and non-strings.
fn submitted_codes(
    otps: &std::collections::BTreeMap<String, serde_json::Value>,
) -> ApiResult<Vec<(Channel, String)>> {
    otps.iter()
        .map(|(name, value)| {
            let channel = Channel::parse(name).ok_or_else(|| {
                ApiError::InvalidRequest(
                    "otps: unknown channel (expected email, sms or whatsapp)".into(),
                )
            })?;
            Ok((channel, code_string(&format!("otps.{channel}"), value)?))
        })
        .collect()
}

/// Verify one or more channels of a session, in any order, in one call or many.
#[utoipa::path(
    post, path = "/api/v1/otp/verify", operation_id = "verify_codes", tag = "progressive",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "At least one submitted code was accepted", body = VerifyResponse),
    ),

    security(("api_key" = []), ("bearer" = []))
)]
pub async fn verify(
    State(service): State<VerificationService>,
    ApiKey(key): ApiKey,
    body: ApiJson<VerifyRequest>,
) -> ApiResult<Json<VerifyResponse>> {
    let submitted = submitted_codes(&body.value.otps)?;
    let report = service
        .verify(
            Some(key.tenant_id),
            &body.value.session_token,
            &submitted,
            None,
        )
        .await?;
    let response = VerifyResponse::from(&report);
    match report.outcome.verdict() {
        Verdict::Accepted => Ok(Json(response)),
        Verdict::Rejected => Err(ApiError::InvalidOtp(Box::new(
            serde_json::to_value(&response).map_err(|_| ApiError::Internal)?,
        ))),
        Verdict::Locked => Err(ApiError::TooManyAttempts(Some(Box::new(
            SessionFields::from(&report.view),
        )))),
    }
}

/// Where a session stands: how an integrator's backend confirms a verification.
#[utoipa::path(
    post, path = "/api/v1/otp/status", operation_id = "session_status", tag = "progressive",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The session", body = StatusResponse),
    ),

    security(("api_key" = []), ("bearer" = []))
)]
pub async fn status(
    State(service): State<VerificationService>,
    ApiKey(key): ApiKey,
    body: ApiJson<TokenRequest>,
) -> ApiResult<Json<StatusResponse>> {
    let view = service
        .status(Some(key.tenant_id), &body.value.session_token)
        .await?;
    Ok(Json(StatusResponse::from(&view)))
}

/// Send new codes: the old code of each channel stops working at once; attempts and expiry stay.
#[utoipa::path(
    post, path = "/api/v1/otp/resend", operation_id = "resend_codes", tag = "progressive",
    request_body = ResendRequest,
    responses(
        (status = 200, description = "New codes sent; the old code of each resent channel stopped working", body = ResendResponse),
    ),

    security(("api_key" = []), ("bearer" = []))
)]
pub async fn resend(
    State(service): State<VerificationService>,
    ApiKey(key): ApiKey,
    body: ApiJson<ResendRequest>,
) -> ApiResult<Json<ResendResponse>> {
    let request = body.value;
    let report = service
        .resend(
            Some(key.tenant_id),
            &request.session_token,
            request.channels.as_deref(),
        )
        .await?;
    Ok(Json(ResendResponse {
        resent: report.resent,
        session: SessionFields::from(&report.view),
        deliveries: report
            .view
            .deliveries
            .as_ref()
            .map(super::types::deliveries)
            .unwrap_or_default(),
    }))
}

/// Cancel a session: every later call on it answers `404 not_found`.
#[utoipa::path(
    post, path = "/api/v1/otp/cancel", operation_id = "cancel_session", tag = "progressive",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Cancelled", body = CancelResponse),
    ),

    security(("api_key" = []), ("bearer" = []))
)]
pub async fn cancel(
    State(service): State<VerificationService>,
    ApiKey(key): ApiKey,
    body: ApiJson<TokenRequest>,
) -> ApiResult<Json<CancelResponse>> {
    service
        .cancel(key.tenant_id, &body.value.session_token)
        .await?;
    Ok(Json(CancelResponse {
        message: "Session cancelled".into(),
    }))
}

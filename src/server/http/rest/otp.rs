//! Handlers of the progressive multi-channel API (`/api/v1/otp/...`).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use super::answers::{
    Answer, Body, error_answers, invalid_request, rate_limited, send_limited, session_expired,
    session_not_found, with_json_body,
};
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

error_answers!(
    /// What `send` answers besides its success.
    SendErrors => with_json_body(vec![
        invalid_request(),
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: a channel cannot be delivered under this key (no provider \
             configured for it; `message` names the channel), or an SMS or WhatsApp number is \
             outside the app's allowed countries (`message` names the calling code).",
            Body::Error,
        ),
        send_limited(),
        Answer::new(
            vec![ApiError::Conflict(String::new())],
            "`conflict`: a request with this `Idempotency-Key` is still being answered; retry \
             when it is, and get its answer.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::Unprocessable(String::new())],
            "`invalid_request`: this `Idempotency-Key` was used with another request body.",
            Body::Error,
        ),
    ])
);

error_answers!(
    /// What `verify` answers besides its success.
    VerifyErrors => with_json_body(vec![
        Answer::new(
            vec![
                ApiError::InvalidOtp(Box::default()),
                ApiError::InvalidRequest(String::new()),
            ],
            "`invalid_otp`: no submitted code was accepted (each wrong code counted one \
             attempt); the body also carries the verification fields. Or `invalid_request`: a \
             malformed body, an unknown channel, or a code longer than 64 characters (no \
             attempt counted).",
            Body::VerifyRejectedOrError,
        ),
        session_not_found(),
        session_expired(),
        Answer::new(
            vec![ApiError::TooManyAttempts(None), rate_limited()],
            "`too_many_attempts`: the session is locked for good, even for the right code. Or \
             `rate_limited`: the recipient had too many failed verifications across sessions; \
             no code was checked and no attempt counted (`Retry-After`).",
            Body::ErrorOrSessionError,
        ),
    ])
);

error_answers!(
    /// What `status` and `cancel` answer besides their success.
    SessionErrors => with_json_body(vec![invalid_request(), session_not_found()])
);

error_answers!(
    /// What `resend` answers besides its success.
    ResendErrors => with_json_body(vec![
        Answer::new(
            vec![ApiError::InvalidRequest(String::new())],
            "`invalid_request`: a malformed body, a channel that is not in the session, or \
             nothing left to resend (every named channel is verified or out of attempts).",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: a channel cannot be delivered under this key, or its number is \
             outside the app's allowed countries.",
            Body::Error,
        ),
        session_not_found(),
        session_expired(),
        Answer::new(
            vec![rate_limited(), ApiError::TooManyAttempts(None)],
            "`rate_limited`: a channel was sent less than 30 s ago, the session had all its \
             resends, or a send limit refused it (`Retry-After` says when to try again; \
             nothing was sent), or `too_many_attempts`: the session is locked.",
            Body::ErrorOrSessionError,
        ),
    ])
);

/// Send codes: one independent code per channel, under one session token.
#[utoipa::path(
    post, path = "/api/v1/otp/send", operation_id = "send_codes", tag = "progressive",
    request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The same key and body within 24 hours return the first response and send nothing again.")),
    responses(
        (status = 200, description = "Stored and sent: one independent code per channel, under one session token", body = SendResponse),
        SendErrors,
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
        fallback_after_secs: request
            .delivery
            .as_ref()
            .map(|d| d.fallback_after_secs())
            .transpose()?
            .flatten(),
        app_name: None,
        token: None,
        api: crate::server::metrics::Api::Progressive,
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
        VerifyErrors,
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
        SessionErrors,
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
        ResendErrors,
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
        SessionErrors,
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

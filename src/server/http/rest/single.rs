//! Handlers of the single-SMS API (`/api/otp/...`).

use axum::Json;
use axum::extract::State;

use super::answers::{
    Answer, Body, error_answers, invalid_request, rate_limited, send_limited, with_json_body,
};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiKey, code_string};
use super::types::{
    InitiateRequest, InitiateResponse, SingleVerifyRequest, SingleVerifyResponse, rfc3339,
};
use crate::engine::single::SingleError;
use crate::server::service::VerificationService;

error_answers!(
    /// What `initiate` answers besides its success.
    InitiateErrors => with_json_body(vec![
        invalid_request(),
        Answer::new(
            vec![ApiError::Forbidden(String::new())],
            "`forbidden`: SMS cannot be delivered under this key, or the number is outside the \
             app's allowed countries (`message` names the calling code).",
            Body::Error,
        ),
        send_limited(),
    ])
);

error_answers!(
    /// What `verify` answers besides its success.
    VerifyErrors => with_json_body(vec![
        Answer::new(
            vec![
                ApiError::Single(SingleError::InvalidOtp),
                ApiError::Single(SingleError::Expired),
                ApiError::Single(SingleError::AlreadyVerified),
                ApiError::Single(SingleError::TooManyAttempts),
                ApiError::InvalidRequest(String::new()),
            ],
            "`invalid_otp` (`Invalid OTP`, counts an attempt), `otp_expired`, \
             `otp_already_verified`, `too_many_attempts` (after 3 failed attempts, even with the \
             right code) or `invalid_request`.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::NotFound],
            "`not_found`: unknown, malformed or another tenant's `request_id`.",
            Body::Error,
        ),
        Answer::new(
            vec![rate_limited()],
            "`rate_limited`: the number had too many failed verifications across requests and \
             sessions; the code was not checked and no attempt counted (`Retry-After`).",
            Body::Error,
        ),
    ])
);

/// Send one SMS code to a phone number.
#[utoipa::path(
    post, path = "/api/otp/initiate", operation_id = "initiate_single", tag = "single-sms",
    request_body = InitiateRequest,
    responses(
        (status = 200, description = "Code sent", body = InitiateResponse),
        InitiateErrors,
    ),

    security(("api_key" = []), ("bearer" = []))
)]
pub async fn initiate(
    State(service): State<VerificationService>,
    ApiKey(key): ApiKey,
    body: ApiJson<InitiateRequest>,
) -> ApiResult<Json<InitiateResponse>> {
    let request = body.value;
    let created = service
        .initiate_single(
            &key,
            &request.phone_number,
            request.code_length,
            request.expires_in,
            request.client_ip.as_deref(),
        )
        .await?;
    Ok(Json(InitiateResponse {
        message: "OTP sent successfully".into(),
        request_id: created.request_id,
        expires_at: rfc3339(created.expires_at),
    }))
}

/// Check the code of a request: three attempts at most, single use.
#[utoipa::path(
    post, path = "/api/otp/verify", operation_id = "verify_single", tag = "single-sms",
    request_body = SingleVerifyRequest,
    responses(
        (status = 200, description = "Verified", body = SingleVerifyResponse),
        VerifyErrors,
    ),

    security(("api_key" = []), ("bearer" = []))
)]
pub async fn verify(
    State(service): State<VerificationService>,
    ApiKey(key): ApiKey,
    body: ApiJson<SingleVerifyRequest>,
) -> ApiResult<Json<SingleVerifyResponse>> {
    let code = code_string("code", &body.value.code)?;
    let verified = service
        .verify_single(key.tenant_id, &body.value.request_id, &code)
        .await?;
    Ok(Json(SingleVerifyResponse {
        message: "OTP verified successfully".into(),
        phone_number: verified.phone_number,
        verified_at: rfc3339(verified.verified_at),
        attempts_used: verified.attempts_used,
        max_attempts: verified.max_attempts,
    }))
}

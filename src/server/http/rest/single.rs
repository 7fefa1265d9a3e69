//! Handlers of the single-SMS API (`/api/otp/...`).

use axum::Json;
use axum::extract::State;

use super::error::ApiResult;
use super::extract::{ApiJson, ApiKey, code_string};
use super::types::{
    InitiateRequest, InitiateResponse, SingleVerifyRequest, SingleVerifyResponse, rfc3339,
};
use crate::server::service::VerificationService;

/// Send one SMS code to a phone number.
#[utoipa::path(
    post, path = "/api/otp/initiate", operation_id = "initiate_single", tag = "single-sms",
    request_body = InitiateRequest,
    responses(
        (status = 200, description = "Code sent", body = InitiateResponse),
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

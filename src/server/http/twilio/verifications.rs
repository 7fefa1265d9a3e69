//! `/v2/Services/{ServiceSid}/Verifications` and `/VerificationCheck`: start (or send again),
//! read, cancel or approve, and check a verification, as Twilio's SDKs call them. Parameters for
//! features otpgate does not offer (custom codes, PSD2 amounts, Twilio templates, custom
//! messages, channel configurations) are refused naming them; `call`, `sna` and `auto` are
//! answered as a disabled channel (60223).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::TwilioAccount;
use super::bodies::{
    CheckBody, CheckForm, SendAttemptBody, StatusForm, TwilioErrorBody, VerificationBody,
    VerificationForm,
};
use super::error::{TwilioError, TwilioResult};
use super::params::Params;
use super::{Links, date};
use crate::engine::Channel;
use crate::server::service::ServiceError;
use crate::server::service::twilio_verifications::{CheckTarget, StartVerification};
use crate::server::state::AppState;
use crate::server::store::TwilioVerification;

const UNOFFERED: &[&str] = &[
    "CustomCode",
    "CustomMessage",
    "Amount",
    "Payee",
    "TemplateSid",
    "Templates",
    "TemplateCustomSubstitutions",
    "ChannelConfiguration",
];

/// Twilio's status of a verification otpgate answers about.
#[derive(Clone, Copy)]
enum Status {
    Pending,
    Approved,
    Canceled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Canceled => "canceled",
        }
    }
}

fn verification_body(
    verification: &TwilioVerification,
    status: Status,
    account: &TwilioAccount,
    links: &Links,
) -> VerificationBody {
    VerificationBody {
        sid: verification.sid.clone(),
        service_sid: verification.service_sid.clone(),
        account_sid: account.account_sid.clone(),
        to: verification.recipient.clone(),
        channel: verification.channel.as_str().to_owned(),
        status: status.as_str().to_owned(),
        valid: matches!(status, Status::Approved),
        lookup: json!({}),
        amount: None,
        payee: None,
        send_code_attempts: verification
            .attempts
            .iter()
            .map(|a| SendAttemptBody {
                attempt_sid: a.sid.clone(),
                channel: a.channel.as_str().to_owned(),
                time: date(a.at),
            })
            .collect(),
        date_created: date(verification.created_at),
        date_updated: date(verification.updated_at),
        sna: None,
        url: links.verification(&verification.service_sid, &verification.sid),
    }
}

/// The service's answer about a verification's parameters in Twilio's words: whatever names the
/// `To` is "Invalid parameter: To", a code that cannot be one "Invalid parameter: Code".
fn parameter_error(error: ServiceError, path: &str) -> TwilioError {
    match error {
        ServiceError::InvalidRequest(message) if message.starts_with("To") => {
            TwilioError::invalid("To")
        }
        ServiceError::MalformedCode(_) => TwilioError::invalid("Code"),
        other => TwilioError::of(other, path),
    }
}

fn channel(params: &Params) -> TwilioResult<Channel> {
    let name = params
        .text("Channel")
        .ok_or_else(|| TwilioError::invalid("Channel: required"))?;
    match name.trim().to_ascii_lowercase().as_str() {
        "call" | "sna" | "auto" => Err(TwilioError::bad_request(
            60223,
            format!("Delivery channel disabled: otpgate does not send by `{name}`"),
        )),
        other => Channel::parse(other)
            .ok_or_else(|| TwilioError::invalid("Channel: sms, whatsapp or email")),
    }
}

/// Sends a code: starts a verification, or sends the open one for this `To` again.
#[utoipa::path(
    post, path = "/v2/Services/{ServiceSid}/Verifications", operation_id = "twilio_create_verification", tag = "twilio",
    params(("ServiceSid" = String, Path, description = "The service's SID (`VA…`)")),
    request_body(content = VerificationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Sent: a new verification, or the open one for this `To` sent again", body = VerificationBody),
        (status = 400, description = "60200: a parameter is missing or wrong (`Invalid parameter: To`); 60223: a channel otpgate or the account does not send by", body = TwilioErrorBody),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
        (status = 403, description = "20403: the account is disabled", body = TwilioErrorBody),
        (status = 404, description = "20404: no such service of this account", body = TwilioErrorBody),
        (status = 429, description = "60203: sends to this `To` are limited; 20429: another limit, or the 30-second resend cooldown (`Retry-After`)", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    uri: Uri,
    Path(service_sid): Path<String>,
    params: Params,
) -> TwilioResult<Response> {
    if let Some(name) = UNOFFERED.iter().find(|name| params.text(name).is_some()) {
        return Err(TwilioError::invalid(&format!(
            "{name}: otpgate does not offer it"
        )));
    }
    let to = params
        .text("To")
        .ok_or_else(|| TwilioError::invalid("To"))?
        .to_owned();
    let start = StartVerification {
        to,
        channel: channel(&params)?,
        locale: params.text("Locale").map(str::to_owned),
        custom_friendly_name: params.text("CustomFriendlyName").map(str::to_owned),
        device_ip: params.text("DeviceIp").map(str::to_owned),
    };
    let verification = state
        .service
        .start_twilio_verification(&account.key, &service_sid, &start)
        .await
        .map_err(|error| match error {
            // A channel the tenant may not use, or has no provider for.
            ServiceError::Forbidden(message) if message != crate::server::service::DISABLED => {
                TwilioError::bad_request(60223, format!("Delivery channel disabled: {message}"))
            }
            other => parameter_error(other, uri.path()),
        })?;
    let body = verification_body(&verification, Status::Pending, &account, &links);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Reads a pending verification.
#[utoipa::path(
    get, path = "/v2/Services/{ServiceSid}/Verifications/{Sid}", operation_id = "twilio_fetch_verification", tag = "twilio",
    params(
        ("ServiceSid" = String, Path, description = "The service's SID (`VA…`)"),
        ("Sid" = String, Path, description = "The verification's SID (`VE…`)"),
    ),
    responses(
        (status = 200, description = "The pending verification", body = VerificationBody),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
        (status = 404, description = "20404: no such verification, or gone (approved, canceled, expired, its checks spent)", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn fetch(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    uri: Uri,
    Path((service_sid, sid)): Path<(String, String)>,
) -> TwilioResult<Json<VerificationBody>> {
    let verification = state
        .service
        .twilio_verification_now(&account.key, &service_sid, &sid)
        .await
        .map_err(|e| TwilioError::of(e, uri.path()))?;
    Ok(Json(verification_body(
        &verification,
        Status::Pending,
        &account,
        &links,
    )))
}

/// Ends a verification: `Status=canceled` or `Status=approved`; it is gone afterwards.
#[utoipa::path(
    post, path = "/v2/Services/{ServiceSid}/Verifications/{Sid}", operation_id = "twilio_update_verification", tag = "twilio",
    params(
        ("ServiceSid" = String, Path, description = "The service's SID (`VA…`)"),
        ("Sid" = String, Path, description = "The verification's SID (`VE…`)"),
    ),
    request_body(content = StatusForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Ended: `canceled` or `approved`", body = VerificationBody),
        (status = 400, description = "60200: `Status` is neither `canceled` nor `approved`", body = TwilioErrorBody),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
        (status = 404, description = "20404: no such verification, or gone", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    uri: Uri,
    Path((service_sid, sid)): Path<(String, String)>,
    params: Params,
) -> TwilioResult<Json<VerificationBody>> {
    let status = match params.text("Status").map(str::trim) {
        Some("canceled") => Status::Canceled,
        Some("approved") => Status::Approved,
        _ => return Err(TwilioError::invalid("Status: canceled or approved")),
    };
    let mut verification = state
        .service
        .end_twilio_verification(&account.key, &service_sid, &sid)
        .await
        .map_err(|e| TwilioError::of(e, uri.path()))?;
    verification.updated_at = state.service.now();
    Ok(Json(verification_body(
        &verification,
        status,
        &account,
        &links,
    )))
}

/// Checks a code: `Code` with `To` or `VerificationSid`; pending (wrong) or approved (once).
#[utoipa::path(
    post, path = "/v2/Services/{ServiceSid}/VerificationCheck", operation_id = "twilio_check_verification", tag = "twilio",
    params(("ServiceSid" = String, Path, description = "The service's SID (`VA…`)")),
    request_body(content = CheckForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Checked: `pending` (a wrong code, one of five used) or `approved` (once)", body = CheckBody),
        (status = 400, description = "60200: `Code` missing or not 4 to 10 characters, or a wrong `To`; 60221: neither `To` nor `VerificationSid`", body = TwilioErrorBody),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
        (status = 404, description = "20404: no open verification so named (approved, canceled, expired, or none)", body = TwilioErrorBody),
        (status = 429, description = "60202: its five checks are spent; 20429: another limit (`Retry-After`)", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn check(
    State(state): State<AppState>,
    account: TwilioAccount,
    uri: Uri,
    Path(service_sid): Path<String>,
    params: Params,
) -> TwilioResult<Json<CheckBody>> {
    let code = params
        .text("Code")
        .map(str::trim)
        .filter(|c| (4..=10).contains(&c.chars().count()))
        .ok_or_else(|| TwilioError::invalid("Code"))?
        .to_owned();
    let target = match (params.text("VerificationSid"), params.text("To")) {
        (Some(sid), _) => CheckTarget::Sid(sid.to_owned()),
        (None, Some(to)) => CheckTarget::To(to.to_owned()),
        (None, None) => {
            return Err(TwilioError::bad_request(
                60221,
                "No target verification specified: give To or VerificationSid",
            ));
        }
    };
    let checked = state
        .service
        .check_twilio_verification(&account.key, &service_sid, &target, &code)
        .await
        .map_err(|error| parameter_error(error, uri.path()))?;
    let verification = &checked.verification;
    let status = if checked.approved {
        Status::Approved
    } else {
        Status::Pending
    };
    Ok(Json(CheckBody {
        sid: verification.sid.clone(),
        service_sid: verification.service_sid.clone(),
        account_sid: account.account_sid.clone(),
        to: verification.recipient.clone(),
        channel: verification.channel.as_str().to_owned(),
        status: status.as_str().to_owned(),
        valid: checked.approved,
        amount: None,
        payee: None,
        sna_attempts_error_codes: Vec::new(),
        date_created: date(verification.created_at),
        date_updated: date(state.service.now()),
    }))
}

//! `/v2/Services/{ServiceSid}/Verifications` and `/VerificationCheck`: start (or send again),
//! read, cancel or approve, and check a verification, as Twilio's SDKs call them. Parameters for
//! features otpgate does not offer (custom codes, PSD2 amounts, Twilio templates, custom
//! messages, channel configurations) are refused naming them; `call`, `sna` and `auto` are
//! answered as a disabled channel (60223).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::TwilioAccount;
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

fn verification_json(
    verification: &TwilioVerification,
    status: Status,
    account: &TwilioAccount,
    links: &Links,
) -> Value {
    let attempts: Vec<Value> = verification
        .attempts
        .iter()
        .map(|a| json!({"attempt_sid": a.sid, "channel": a.channel.as_str(), "time": date(a.at)}))
        .collect();
    json!({
        "sid": verification.sid,
        "service_sid": verification.service_sid,
        "account_sid": account.account_sid,
        "to": verification.recipient,
        "channel": verification.channel.as_str(),
        "status": status.as_str(),
        "valid": matches!(status, Status::Approved),
        "lookup": {},
        "amount": null,
        "payee": null,
        "send_code_attempts": attempts,
        "date_created": date(verification.created_at),
        "date_updated": date(verification.updated_at),
        "sna": null,
        "url": links.verification(&verification.service_sid, &verification.sid),
    })
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
            // Whatever names the `To` is Twilio's "Invalid parameter: To".
            ServiceError::InvalidRequest(message) if message.starts_with("To") => {
                TwilioError::invalid("To")
            }
            other => TwilioError::of(other, uri.path()),
        })?;
    let body = verification_json(&verification, Status::Pending, &account, &links);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn fetch(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    uri: Uri,
    Path((service_sid, sid)): Path<(String, String)>,
) -> TwilioResult<Json<Value>> {
    let verification = state
        .service
        .twilio_verification_now(&account.key, &service_sid, &sid)
        .await
        .map_err(|e| TwilioError::of(e, uri.path()))?;
    Ok(Json(verification_json(
        &verification,
        Status::Pending,
        &account,
        &links,
    )))
}

/// `Status=canceled` or `Status=approved`: the verification ends, and is gone afterwards.
pub async fn update(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    uri: Uri,
    Path((service_sid, sid)): Path<(String, String)>,
    params: Params,
) -> TwilioResult<Json<Value>> {
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
    Ok(Json(verification_json(
        &verification,
        status,
        &account,
        &links,
    )))
}

/// `Code` with `To` or `VerificationSid`: `200` pending (wrong) or approved (right, once).
pub async fn check(
    State(state): State<AppState>,
    account: TwilioAccount,
    uri: Uri,
    Path(service_sid): Path<String>,
    params: Params,
) -> TwilioResult<Json<Value>> {
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
        .map_err(|error| match error {
            ServiceError::MalformedCode(_) => TwilioError::invalid("Code"),
            ServiceError::InvalidRequest(message) if message.starts_with("To") => {
                TwilioError::invalid("To")
            }
            other => TwilioError::of(other, uri.path()),
        })?;
    let verification = &checked.verification;
    let status = if checked.approved {
        Status::Approved
    } else {
        Status::Pending
    };
    Ok(Json(json!({
        "sid": verification.sid,
        "service_sid": verification.service_sid,
        "account_sid": account.account_sid,
        "to": verification.recipient,
        "channel": verification.channel.as_str(),
        "status": status.as_str(),
        "valid": checked.approved,
        "amount": null,
        "payee": null,
        "sna_attempts_error_codes": [],
        "date_created": date(verification.created_at),
        "date_updated": date(state.service.now()),
    })))
}

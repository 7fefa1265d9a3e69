//! `/v2/Services`: a tenant's services, created, listed a page at a time (Twilio's `meta`
//! block), read, changed and deleted. A Twilio feature otpgate does not offer (lookup, PSD2,
//! custom codes, push, TOTP, passkeys, templates, messaging services) is refused when asked
//! for, never silently ignored; voice-call settings otpgate has no use for are accepted.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::TwilioAccount;
use super::bodies::{
    NewServiceForm, PageMeta, ServiceBody, ServiceForm, ServiceLinks, ServicePage, TwilioErrorBody,
};
use super::error::{TwilioError, TwilioResult};
use super::params::Params;
use super::{Links, date};
use crate::server::service::twilio::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ServiceSettings};
use crate::server::state::AppState;
use crate::server::store::{PageStart, TwilioService};

/// Flags naming features otpgate does not have: `true` is refused.
const UNOFFERED_FLAGS: &[&str] = &[
    "LookupEnabled",
    "SkipSmsToLandlines",
    "Psd2Enabled",
    "DoNotShareWarningEnabled",
    "CustomCodeEnabled",
    "VerifyEventSubscriptionEnabled",
];

/// Parameters naming features otpgate does not have: any value is refused.
const UNOFFERED_PARAMETERS: &[&str] = &[
    "DefaultTemplateSid",
    "Whatsapp.MsgServiceSid",
    "Whatsapp.From",
];
const UNOFFERED_GROUPS: &[&str] = &["Push.", "Totp.", "Passkeys."];

fn settings(params: &Params) -> TwilioResult<ServiceSettings> {
    for name in UNOFFERED_FLAGS {
        if params.flag(name)? == Some(true) {
            return Err(TwilioError::invalid(&format!(
                "{name}: otpgate does not offer it"
            )));
        }
    }
    for name in UNOFFERED_PARAMETERS {
        if params.text(name).is_some() {
            return Err(TwilioError::invalid(&format!(
                "{name}: otpgate does not offer it"
            )));
        }
    }
    for group in UNOFFERED_GROUPS {
        if params.any_under(group) {
            let name = group.trim_end_matches('.');
            return Err(TwilioError::invalid(&format!(
                "{name}: otpgate does not offer it"
            )));
        }
    }
    Ok(ServiceSettings {
        friendly_name: params.text("FriendlyName").map(str::to_owned),
        code_length: params.integer("CodeLength")?,
    })
}

/// A service as Twilio describes one; the features otpgate does not offer are off or empty.
fn service_body(service: &TwilioService, account: &TwilioAccount, links: &Links) -> ServiceBody {
    let url = links.service(&service.sid);
    ServiceBody {
        sid: service.sid.clone(),
        account_sid: account.account_sid.clone(),
        friendly_name: service.friendly_name.clone(),
        code_length: service.code_length,
        lookup_enabled: false,
        psd2_enabled: false,
        skip_sms_to_landlines: false,
        dtmf_input_required: false,
        tts_name: None,
        do_not_share_warning_enabled: false,
        custom_code_enabled: false,
        push: json!({"include_date": false, "apn_credential_sid": null, "fcm_credential_sid": null}),
        totp: json!({"issuer": null, "time_step": null, "code_length": null, "skew": null}),
        default_template_sid: None,
        whatsapp: json!({"msg_service_sid": null, "from": null}),
        passkeys: json!({
            "relying_party": {"id": null, "name": null, "origins": null},
            "authenticator_attachment": null,
            "discoverable_credentials": null,
            "user_verification": null
        }),
        verify_event_subscription_enabled: false,
        date_created: date(service.created_at),
        date_updated: date(service.updated_at),
        links: ServiceLinks {
            verifications: format!("{url}/Verifications"),
            verification_checks: format!("{url}/VerificationCheck"),
        },
        url,
    }
}

/// Creates a service: the app name its messages say and its code length.
#[utoipa::path(
    post, path = "/v2/Services", operation_id = "twilio_create_service", tag = "twilio",
    request_body(content = NewServiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Created", body = ServiceBody),
        (status = 400, description = "60200: a parameter is missing or wrong, or names a feature otpgate does not offer", body = TwilioErrorBody),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    uri: Uri,
    params: Params,
) -> TwilioResult<Response> {
    let settings = settings(&params)?;
    let service = state
        .service
        .create_twilio_service(&account.key, &settings, &account.caller)
        .await
        .map_err(|e| TwilioError::of(e, uri.path()))?;
    Ok((
        StatusCode::CREATED,
        Json(service_body(&service, &account, &links)),
    )
        .into_response())
}

/// Reads a service.
#[utoipa::path(
    get, path = "/v2/Services/{Sid}", operation_id = "twilio_fetch_service", tag = "twilio",
    params(("Sid" = String, Path, description = "The service's SID (`VA…`)")),
    responses(
        (status = 200, description = "The service", body = ServiceBody),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
        (status = 404, description = "20404: no such service of this account", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn fetch(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    uri: Uri,
    Path(sid): Path<String>,
) -> TwilioResult<Json<ServiceBody>> {
    let service = state
        .service
        .twilio_service(account.key.tenant_id, &sid)
        .await
        .map_err(|e| TwilioError::of(e, uri.path()))?;
    Ok(Json(service_body(&service, &account, &links)))
}

/// Changes a service's name or code length.
#[utoipa::path(
    post, path = "/v2/Services/{Sid}", operation_id = "twilio_update_service", tag = "twilio",
    params(("Sid" = String, Path, description = "The service's SID (`VA…`)")),
    request_body(content = ServiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The service as changed", body = ServiceBody),
        (status = 400, description = "60200: a parameter is wrong", body = TwilioErrorBody),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
        (status = 404, description = "20404: no such service of this account", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    uri: Uri,
    Path(sid): Path<String>,
    params: Params,
) -> TwilioResult<Json<ServiceBody>> {
    let settings = settings(&params)?;
    let service = state
        .service
        .update_twilio_service(account.key.tenant_id, &sid, &settings, &account.caller)
        .await
        .map_err(|e| TwilioError::of(e, uri.path()))?;
    Ok(Json(service_body(&service, &account, &links)))
}

/// Deletes a service.
#[utoipa::path(
    delete, path = "/v2/Services/{Sid}", operation_id = "twilio_delete_service", tag = "twilio",
    params(("Sid" = String, Path, description = "The service's SID (`VA…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
        (status = 404, description = "20404: no such service of this account", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    account: TwilioAccount,
    uri: Uri,
    Path(sid): Path<String>,
) -> TwilioResult<StatusCode> {
    state
        .service
        .delete_twilio_service(account.key.tenant_id, &sid, &account.caller)
        .await
        .map_err(|e| TwilioError::of(e, uri.path()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the account's services, a page at a time.
///
/// `PageSize` (1 to 1,000, 50 unless given), `Page` (the page's number, counted by the client),
/// `PageToken` (where the page starts: the SID of the previous page's last service, as
/// `next_page_url` gives it). Without a token, `Page` × `PageSize` are skipped.
#[utoipa::path(
    get, path = "/v2/Services", operation_id = "twilio_list_services", tag = "twilio",
    params(
        ("PageSize" = Option<u32>, Query, description = "1 to 1000 (50)", minimum = 1, maximum = 1000),
        ("Page" = Option<u64>, Query, description = "The page's number, from 0"),
        ("PageToken" = Option<String>, Query, description = "Where the page starts, as `next_page_url` gives it"),
    ),
    responses(
        (status = 200, description = "A page of services, oldest first", body = ServicePage),
        (status = 400, description = "60200: a paging parameter is wrong", body = TwilioErrorBody),
        (status = 401, description = "20003: wrong or missing credentials", body = TwilioErrorBody),
    ),
    security(("twilio_basic" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    links: Links,
    account: TwilioAccount,
    params: Params,
) -> TwilioResult<Json<ServicePage>> {
    if let Some(name) = params.other_than(&["PageSize", "Page", "PageToken"]) {
        return Err(TwilioError::invalid(&format!(
            "{name}: not a parameter of this list"
        )));
    }
    let page_size = match params.integer("PageSize")? {
        None => DEFAULT_PAGE_SIZE,
        Some(size) => u32::try_from(size)
            .ok()
            .filter(|s| (1..=MAX_PAGE_SIZE).contains(s))
            .ok_or_else(|| TwilioError::invalid("PageSize: 1 to 1000"))?,
    };
    let page = match params.integer("Page")? {
        None => 0,
        Some(page) => u64::try_from(page).map_err(|_| TwilioError::invalid("Page: 0 or more"))?,
    };
    let token = params.text("PageToken").filter(|t| !t.is_empty());
    let start = match token {
        Some(after) => PageStart::After(after.to_owned()),
        None => PageStart::Skip(page.saturating_mul(u64::from(page_size))),
    };
    let (services, more) = state
        .service
        .twilio_services(account.key.tenant_id, &start, page_size)
        .await
        .map_err(|e| TwilioError::of(e, "/v2/Services"))?;
    let page_url = |number: u64, token: Option<&str>| {
        let mut url = format!("{}?PageSize={page_size}&Page={number}", links.services());
        if let Some(token) = token {
            url.push_str("&PageToken=");
            url.extend(url::form_urlencoded::byte_serialize(token.as_bytes()));
        }
        url
    };
    let next = more
        .then(|| {
            services
                .last()
                .map(|last| page_url(page + 1, Some(&last.sid)))
        })
        .flatten();
    Ok(Json(ServicePage {
        services: services
            .iter()
            .map(|service| service_body(service, &account, &links))
            .collect(),
        meta: PageMeta {
            page,
            page_size,
            first_page_url: page_url(0, None),
            previous_page_url: None,
            url: page_url(page, token),
            next_page_url: next,
            key: "services".into(),
        },
    }))
}

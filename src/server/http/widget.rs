//! The verification page's server side: the session as the page sees it (masked recipients,
//! language, allowed origins), code and resend calls by session token, the plain-form path
//! for browsers without JavaScript, and the security headers of the page.

use std::net::IpAddr;

use axum::Extension;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::engine::Channel;
use crate::engine::session::ChannelOutcome;
use crate::model::{
    CodeAnswer, CodeResult, PageError, PageOptions, Preloaded, ResendAnswer, WidgetChannel,
    WidgetSession, negotiate,
};
use crate::server::crypto::looks_like_session_token;
use crate::server::http::client_ip::ClientIp;
use crate::server::service::{ServiceError, SessionView, VerificationService};
use crate::server::state::AppState;

pub use crate::server::mask::{mask_email, mask_phone};

fn page_error(error: ServiceError) -> PageError {
    match error {
        ServiceError::NotFound => PageError::NotFound,
        ServiceError::InvalidRequest(message) => PageError::Invalid(message),
        other => {
            tracing::error!(error = %other, "verification page call failed");
            PageError::Unavailable
        }
    }
}

/// Builds the page's view of a session.
pub async fn widget_session(
    service: &VerificationService,
    view: &SessionView,
    accept_language: Option<&str>,
) -> Result<WidgetSession, PageError> {
    let origins = service
        .tenant_origins(view.tenant_id)
        .await
        .map_err(page_error)?;
    let deliveries = service.deliveries(view).await.map_err(page_error)?;
    let tenant_language = service
        .tenant_language(view.tenant_id)
        .await
        .map_err(page_error)?;
    let session = &view.session;
    Ok(WidgetSession {
        tenant: view.tenant_name.clone(),
        lang: negotiate(view.locale.as_deref(), accept_language, tenant_language).to_owned(),
        mode: view.mode,
        status: view.summary.status,
        code_length: view.code_length,
        expires_at: view.expires_at,
        server_now: view.now,
        attempts_remaining: view.summary.attempts_remaining,
        session_verified: view.summary.session_verified,
        all_channels_verified: view.summary.all_channels_verified,
        verified_channels: view.summary.verified_channels.clone(),
        channels: session
            .channels
            .iter()
            .zip(&view.recipients)
            .map(|(state, recipient)| WidgetChannel {
                channel: state.channel,
                recipient: if state.channel.uses_phone_number() {
                    mask_phone(recipient)
                } else {
                    mask_email(recipient)
                },
                verified: state.is_verified(),
                locked: session.channel_locked(state),
                resend_at: state.last_sent_at + crate::engine::policy::RESEND_COOLDOWN_SECS,
                delivery: deliveries.get(&state.channel).copied(),
            })
            .collect(),
        origins,
        fallback: view.fallback.is_some(),
    })
}

/// The session behind a page's token.
pub async fn load(
    service: &VerificationService,
    token: &str,
    accept_language: Option<&str>,
) -> Result<WidgetSession, PageError> {
    let view = service.status(None, token).await.map_err(page_error)?;
    widget_session(service, &view, accept_language).await
}

/// A code typed on the page, from `client_ip` (whose submissions per minute are limited).
pub async fn submit_code(
    service: &VerificationService,
    token: &str,
    channel: Channel,
    code: &str,
    accept_language: Option<&str>,
    client_ip: Option<IpAddr>,
) -> Result<CodeAnswer, PageError> {
    let submitted = [(channel, code.to_owned())];
    let (result, view) = match service.verify(None, token, &submitted, client_ip).await {
        Ok(report) => {
            let result = match report.outcome.results.first().map(|(_, o)| *o) {
                Some(ChannelOutcome::Accepted) => CodeResult::Accepted,
                Some(ChannelOutcome::ChannelLocked) => CodeResult::ChannelLocked,
                _ => CodeResult::Wrong,
            };
            (Some(result), report.view)
        }
        Err(ServiceError::Expired(view) | ServiceError::Locked(view)) => (None, *view),
        Err(ServiceError::MalformedCode(_)) => {
            return Ok(CodeAnswer {
                result: Some(CodeResult::Malformed),
                session: load(service, token, accept_language).await?,
            });
        }
        Err(ServiceError::RateLimited { retry_after, .. }) => {
            return Ok(CodeAnswer {
                result: Some(CodeResult::Throttled(retry_after)),
                session: load(service, token, accept_language).await?,
            });
        }
        Err(error) => return Err(page_error(error)),
    };
    Ok(CodeAnswer {
        result,
        session: widget_session(service, &view, accept_language).await?,
    })
}

/// "Resend code" on the page.
pub async fn resend(
    service: &VerificationService,
    token: &str,
    channel: Channel,
    accept_language: Option<&str>,
) -> Result<ResendAnswer, PageError> {
    match service.resend(None, token, Some(&[channel])).await {
        Ok(report) => Ok(ResendAnswer::Sent(
            widget_session(service, &report.view, accept_language).await?,
        )),
        Err(ServiceError::RateLimited {
            retry_after,
            refusal: None,
            ..
        }) => Ok(ResendAnswer::CoolingDown(retry_after)),
        Err(ServiceError::RateLimited { .. } | ServiceError::Forbidden(_)) => {
            Ok(ResendAnswer::Refused)
        }
        Err(ServiceError::Expired(view) | ServiceError::Locked(view)) => Ok(ResendAnswer::Closed(
            widget_session(service, &view, accept_language).await?,
        )),
        Err(ServiceError::InvalidRequest(_)) => Ok(ResendAnswer::Closed(
            load(service, token, accept_language).await?,
        )),
        Err(error) => Err(page_error(error)),
    }
}

/// A plain form post from the page (no JavaScript).
#[derive(Debug, Deserialize)]
pub struct FormPost {
    pub channel: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub intent: String,
}

/// The page options a form post carries in its address and keeps on the way back.
#[derive(Debug, Default, Deserialize)]
struct KeptQuery {
    embed: Option<String>,
    theme: Option<String>,
    origin: Option<String>,
}

/// The answer to anything posted to an address that names no session: the same 404 whatever
/// was in the path, which is never echoed.
fn no_such_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        "This verification link is not valid.",
    )
        .into_response()
}

/// A 303 back to the page (so a reload does not post again). The location is built only from
/// a checked token and re-encoded options, so it is always a valid header value.
fn back_to_page(token: &str, options: &PageOptions, notice: &str, channel: &str) -> Response {
    let query = options.query();
    let separator = if query.is_empty() { '?' } else { '&' };
    let location = format!("/verify/{token}{query}{separator}notice={notice}&channel={channel}");
    match HeaderValue::from_str(&location) {
        Ok(value) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, value)],
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        )
            .into_response(),
        Err(_) => no_such_page(),
    }
}

/// Handles the page's form without JavaScript: does what was asked, then redirects back to the
/// page with a notice the server render shows.
pub async fn form_post(
    State(state): State<AppState>,
    Path(token): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    client: Option<Extension<ClientIp>>,
    Form(form): Form<FormPost>,
) -> Response {
    let client_ip = client.and_then(|Extension(ClientIp(ip))| ip);
    if !looks_like_session_token(&token) {
        return no_such_page();
    }
    let language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let kept = Query::<KeptQuery>::try_from_uri(&uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let options = PageOptions {
        embed: kept.embed.as_deref() == Some("1"),
        theme: kept.theme.filter(|t| t == "dark" || t == "light"),
        origin: kept.origin,
        notice: None,
    };
    let Some(channel) = Channel::parse(&form.channel) else {
        return back_to_page(&token, &options, "invalid", "");
    };
    let service = &state.service;
    let notice = if form.intent == "resend" {
        match resend(service, &token, channel, language).await {
            Ok(ResendAnswer::Sent(_)) => "resent",
            Ok(ResendAnswer::CoolingDown(_)) => "cooldown",
            Ok(ResendAnswer::Refused) => "no-more-codes",
            Ok(ResendAnswer::Closed(_)) => "closed",
            Err(PageError::NotFound) => "closed",
            Err(_) => "error",
        }
    } else {
        match submit_code(service, &token, channel, &form.code, language, client_ip).await {
            Ok(CodeAnswer { result, .. }) => match result {
                Some(CodeResult::Accepted) => "verified",
                Some(CodeResult::Wrong) => "wrong",
                Some(CodeResult::Malformed) => "malformed",
                Some(CodeResult::ChannelLocked) => "locked",
                Some(CodeResult::Throttled(_)) => "throttled",
                None => "closed",
            },
            Err(PageError::NotFound) => "closed",
            Err(_) => "error",
        }
    };
    back_to_page(&token, &options, notice, channel.as_str())
}

/// For every request of the verification page: loads the session the page shows (before
/// rendering, so the render needs no async resource), and answers with
/// `Content-Security-Policy: frame-ancestors` from the session's tenant (`'none'` without
/// origins or without a session), `Referrer-Policy: no-referrer` and `nosniff`.
pub async fn page_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .uri()
        .path()
        .strip_prefix("/verify/")
        .map(|rest| rest.split('/').next().unwrap_or_default().to_owned());
    // Only a rendered page needs the session loaded and the headers; a form post (no
    // JavaScript) is answered by `form_post` with a redirect back to the page.
    let Some(token) = token.filter(|_| request.method() == axum::http::Method::GET) else {
        return next.run(request).await;
    };
    let language = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let loaded = load(&state.service, &token, language.as_deref()).await;
    let origins = match &loaded {
        Ok(session) => session.origins.clone(),
        Err(_) => Vec::new(),
    };
    let lang = match &loaded {
        Ok(session) => session.lang.clone(),
        Err(_) => negotiate(None, language.as_deref(), None).to_owned(),
    };
    request.extensions_mut().insert(Preloaded(loaded));
    request
        .extensions_mut()
        .insert(crate::app::i18n::texts(&lang));
    let ancestors = if origins.is_empty() {
        "'none'".to_owned()
    } else {
        origins.join(" ")
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!("frame-ancestors {ancestors}")) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_masked() {
        assert_eq!(mask_email("user@example.com"), "u***@example.com");
        assert_eq!(mask_email("x@y.z"), "x***@y.z");
        assert_eq!(mask_phone("+14155550100"), "+1 •••• ••0100");
        assert_eq!(mask_phone("+218911234567"), "+218 •••• ••4567");
    }
}

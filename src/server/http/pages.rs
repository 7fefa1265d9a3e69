//! What the pages' server functions do, as plain functions over the app state.

use std::collections::BTreeMap;

use crate::engine::{Channel, VerificationMode};
use crate::model::{DemoSession, DevelopmentMode, OutboxItem, PageError, ServiceInfo};
use crate::server::service::{AuthenticatedKey, OutboxMessage};
use crate::server::service::{SendInput, ServiceError};
use crate::server::state::AppState;

/// How many messages the development outbox page shows.
const OUTBOX_PAGE_SIZE: i64 = 200;

fn unavailable(error: impl std::fmt::Display) -> PageError {
    tracing::error!(%error, "page data unavailable");
    PageError::Unavailable
}

pub async fn service_info(state: &AppState) -> Result<ServiceInfo, PageError> {
    state.admin.ping().await.map_err(unavailable)?;
    Ok(ServiceInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        mode: state.mode.as_str().to_owned(),
    })
}

pub async fn outbox_items(state: &AppState) -> Result<Vec<OutboxItem>, PageError> {
    if !super::dev_pages_enabled(state.mode) {
        return Err(PageError::DevelopmentOnly);
    }
    let messages = state
        .service
        .dev_outbox(OUTBOX_PAGE_SIZE)
        .await
        .map_err(unavailable)?;
    Ok(messages.into_iter().map(outbox_item).collect())
}

fn outbox_item(m: OutboxMessage) -> OutboxItem {
    OutboxItem {
        tenant: m.tenant_name,
        test: m.is_test,
        channel: m.channel,
        to: m.recipient,
        code: m.code,
        body: m.body,
        sent_at: super::rest::types::rfc3339(m.sent_at),
    }
}

/// The tenant the demo acts as: the one `scripts/run` creates.
pub const DEMO_TENANT: &str = "dev";

async fn demo_key(state: &AppState) -> Result<AuthenticatedKey, PageError> {
    if !super::dev_pages_enabled(state.mode) {
        return Err(PageError::DevelopmentOnly);
    }
    state
        .service
        .tenant_key(DEMO_TENANT, true)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            PageError::Invalid(format!(
                "There is no tenant `{DEMO_TENANT}`: create it with `otpgate tenant create {DEMO_TENANT} --origin <this address>` (scripts/run does)."
            ))
        })
}

pub async fn start_demo(
    state: &AppState,
    channels: Vec<Channel>,
    email: String,
    phone: String,
    mode: &str,
    locale: String,
    client_ip: Option<std::net::IpAddr>,
) -> Result<DemoSession, PageError> {
    let key = demo_key(state).await?;
    let recipients: BTreeMap<Channel, String> = channels
        .iter()
        .map(|&c| {
            (
                c,
                if c.uses_phone_number() {
                    phone.clone()
                } else {
                    email.clone()
                },
            )
        })
        .collect();
    let input = SendInput {
        channels,
        recipients,
        mode: VerificationMode::parse(mode).unwrap_or_default(),
        limits: Default::default(),
        locale: Some(locale),
        client_ip: client_ip.map(|ip| ip.to_string()),
        fallback_after_secs: None,
        app_name: None,
        token: None,
        api: crate::server::metrics::Api::Progressive,
    };
    match state.service.send(&key, input, None).await {
        Ok(created) => Ok(DemoSession {
            widget_url: format!("/verify/{}", created.session_token),
            token: created.session_token,
        }),
        Err(
            ServiceError::InvalidRequest(message)
            | ServiceError::Forbidden(message)
            | ServiceError::RateLimited { message, .. },
        ) => Err(PageError::Invalid(message)),
        Err(error) => Err(unavailable(error)),
    }
}

pub async fn demo_messages(state: &AppState) -> Result<Vec<OutboxItem>, PageError> {
    let key = demo_key(state).await?;
    let messages = state
        .service
        .tenant_test_messages(key.tenant_id, 12)
        .await
        .map_err(unavailable)?;
    Ok(messages.into_iter().map(outbox_item).collect())
}

/// Loads the data of the start page, the development outbox and the API reference before
/// they render.
pub async fn page_data(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match request.uri().path() {
        "/" => {
            let development = super::dev_pages_enabled(state.mode);
            request
                .extensions_mut()
                .insert(DevelopmentMode(development));
        }
        "/dev/outbox" => {
            let items = outbox_items(&state).await;
            request.extensions_mut().insert(items);
        }
        "/docs/api" => {
            request
                .extensions_mut()
                .insert(super::reference::endpoints());
        }
        _ => {}
    }
    next.run(request).await
}

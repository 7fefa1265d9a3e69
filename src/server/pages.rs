//! What the pages' server functions do, as plain functions over the app state.

use super::state::AppState;
use crate::app::outbox::OutboxItem;
use crate::server_fns::{PageError, ServiceInfo};

/// How many messages the development outbox page shows.
const OUTBOX_PAGE_SIZE: i64 = 200;

fn unavailable(error: impl std::fmt::Display) -> PageError {
    tracing::error!(%error, "page data unavailable");
    PageError::Unavailable
}

pub async fn service_info(state: &AppState) -> Result<ServiceInfo, PageError> {
    state.service.store().ping().await.map_err(unavailable)?;
    Ok(ServiceInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        mode: match state.mode {
            super::config::Mode::Dev => "development",
            super::config::Mode::Production => "production",
        }
        .to_owned(),
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
    Ok(messages
        .into_iter()
        .map(|m| OutboxItem {
            tenant: m.tenant_name,
            test: m.is_test,
            channel: m.channel,
            to: m.recipient,
            code: m.code,
            body: m.body,
            sent_at: super::rest::types::rfc3339(m.sent_at),
        })
        .collect())
}

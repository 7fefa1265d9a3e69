//! Server functions: the pages' calls into the server. Each is a few lines over the service and
//! returns a typed error. They live under `/rpc/` so that `/api/` stays the REST API's alone.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::app::outbox::OutboxItem;
use crate::app::reference::EndpointDoc;

/// What went wrong in a server function, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PageError {
    #[error("This page is only available in development mode.")]
    DevelopmentOnly,
    #[error("The service is unavailable right now. Please try again.")]
    Unavailable,
    #[error("The request did not reach the service: {0}")]
    Transport(String),
}

impl FromServerFnError for PageError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        PageError::Transport(value.to_string())
    }
}

/// The service's version and mode, after checking that the database answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub version: String,
    pub mode: String,
}

#[server(prefix = "/rpc", endpoint = "service_status")]
pub async fn service_status() -> Result<ServiceInfo, PageError> {
    let state = expect_context::<crate::server::state::AppState>();
    crate::server::pages::service_info(&state).await
}

#[server(prefix = "/rpc", endpoint = "dev_outbox")]
pub async fn dev_outbox() -> Result<Vec<OutboxItem>, PageError> {
    let state = expect_context::<crate::server::state::AppState>();
    crate::server::pages::outbox_items(&state).await
}

#[server(prefix = "/rpc", endpoint = "api_reference")]
pub async fn api_reference() -> Result<Vec<EndpointDoc>, PageError> {
    Ok(crate::server::reference::endpoints())
}

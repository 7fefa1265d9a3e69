//! Server functions: the pages' calls into the server. Each is a few lines over the service and
//! returns a typed error. They live under `/rpc/` so that `/api/` stays the REST API's alone.
//! The widget's calls take and answer JSON decoded from text (`JsonText`, as the islands' props
//! are), so the widget's page carries no URL-form encoder and one JSON decoder per type; the
//! demo's keep the form encoding its `ActionForm` posts.

use leptos::prelude::*;

use crate::engine::Channel;
use crate::model::{
    CodeAnswer, DemoSession, JsonText, OutboxItem, PageError, ResendAnswer, ServiceInfo,
    WidgetSession,
};

#[server(prefix = "/rpc", endpoint = "service_status")]
pub async fn service_status() -> Result<ServiceInfo, PageError> {
    let state = expect_context::<crate::server::state::AppState>();
    crate::server::http::pages::service_info(&state).await
}

/// The client's address, as the router resolved it (see `server::http::client_ip`).
#[cfg(feature = "ssr")]
async fn client_ip() -> Option<std::net::IpAddr> {
    use crate::server::http::client_ip::ClientIp;
    leptos_axum::extract::<axum::Extension<ClientIp>>()
        .await
        .ok()
        .and_then(|axum::Extension(ClientIp(ip))| ip)
}

/// The request's `Accept-Language`, for pages whose session names no language.
#[cfg(feature = "ssr")]
async fn accept_language() -> Option<String> {
    let headers = leptos_axum::extract::<axum::http::HeaderMap>().await.ok()?;
    headers
        .get(axum::http::header::ACCEPT_LANGUAGE)?
        .to_str()
        .ok()
        .map(str::to_owned)
}

#[server(prefix = "/rpc", endpoint = "widget_code", input = JsonText, output = JsonText)]
pub async fn submit_widget_code(
    token: String,
    channel: Channel,
    code: String,
) -> Result<CodeAnswer, PageError> {
    let state = expect_context::<crate::server::state::AppState>();
    let language = accept_language().await;
    crate::server::http::widget::submit_code(
        &state.service,
        &token,
        channel,
        &code,
        language.as_deref(),
        client_ip().await,
    )
    .await
}

/// The page's session as it stands now (delivery states, verification from another tab).
#[server(prefix = "/rpc", endpoint = "widget_session", input = JsonText, output = JsonText)]
pub async fn refresh_widget(token: String) -> Result<WidgetSession, PageError> {
    let state = expect_context::<crate::server::state::AppState>();
    let language = accept_language().await;
    crate::server::http::widget::load(&state.service, &token, language.as_deref()).await
}

#[server(prefix = "/rpc", endpoint = "widget_resend", input = JsonText, output = JsonText)]
pub async fn resend_widget_code(
    token: String,
    channel: Channel,
) -> Result<ResendAnswer, PageError> {
    let state = expect_context::<crate::server::state::AppState>();
    let language = accept_language().await;
    crate::server::http::widget::resend(&state.service, &token, channel, language.as_deref()).await
}

/// Starts a session as the development tenant with a test key (development mode only).
#[server(prefix = "/rpc", endpoint = "start_demo")]
pub async fn start_demo(
    #[server(default)] email: bool,
    #[server(default)] sms: bool,
    #[server(default)] whatsapp: bool,
    email_address: String,
    phone_number: String,
    mode: String,
    locale: String,
) -> Result<DemoSession, PageError> {
    let state = expect_context::<crate::server::state::AppState>();
    let channels: Vec<Channel> = [
        (email, Channel::Email),
        (sms, Channel::Sms),
        (whatsapp, Channel::Whatsapp),
    ]
    .into_iter()
    .filter_map(|(on, channel)| on.then_some(channel))
    .collect();
    crate::server::http::pages::start_demo(
        &state,
        channels,
        email_address,
        phone_number,
        &mode,
        locale,
        client_ip().await,
    )
    .await
}

/// The development tenant's newest test messages (development mode only).
#[server(prefix = "/rpc", endpoint = "demo_messages")]
pub async fn demo_messages() -> Result<Vec<OutboxItem>, PageError> {
    let state = expect_context::<crate::server::state::AppState>();
    crate::server::http::pages::demo_messages(&state).await
}

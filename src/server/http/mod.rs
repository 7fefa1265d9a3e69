//! Everything that speaks HTTP: the router, the REST API (`rest`), the verification page's server
//! side (`widget`), the development pages' data (`pages`), the API reference (`reference`), and
//! how files and pages travel (`assets`).

pub mod admin;
pub mod assets;
pub mod client_ip;
pub mod hooks;
pub mod pages;
pub mod reference;
pub mod request_id;
pub mod rest;
pub mod twilio;
pub mod widget;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::post;
use leptos::config::LeptosOptions;
use leptos::prelude::IntoView;
use leptos_axum::{AxumRouteListing, LeptosRoutes};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::config::Mode;
use super::state::AppState;

/// The whole HTTP app: REST API, server functions, the pages `routes` lists rendered in `shell`,
/// and static files. The crate root passes the UI in (`crate::app`), so nothing on the server
/// side imports it.
pub fn router<Shell, View>(state: AppState, routes: Vec<AxumRouteListing>, shell: Shell) -> Router
where
    Shell: Fn(LeptosOptions) -> View + Clone + Send + Sync + 'static,
    View: IntoView + 'static,
{
    let options = state.leptos_options.clone();
    let page_shell = shell.clone();
    Router::new()
        .merge(rest::routes())
        .merge(not_on_the_public_listener())
        .merge(hooks::routes())
        .merge(twilio::routes())
        .route("/verify/{token}", post(widget::form_post))
        .leptos_routes_with_context(
            &state,
            routes,
            || {},
            move || page_shell((*options).clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(crate::server::metrics::count_request))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            widget::page_context,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            pages::page_data,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            development_pages,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            assets::cache_headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client_ip::client_ip,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(assets::compression())
        .layer(middleware::from_fn(run_to_completion))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_id::span::<axum::body::Body>)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_id::request_id,
        ))
        .with_state(state)
}

/// Runs every request to its end on a task of its own, even when the client goes away: a
/// client that disconnects (or a load generator that stops) mid-request would otherwise cancel
/// the handler between two statements of a write transaction.
async fn run_to_completion(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "a request's task failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What only the admin listener serves is not found here, whatever the path below it: an
/// operator who exposes the public port does not expose administration.
fn not_on_the_public_listener() -> Router<AppState> {
    let not_found = || async { (axum::http::StatusCode::NOT_FOUND, "Not found") };
    let mut router = Router::new();
    for prefix in ["/admin", "/metrics", "/console"] {
        router = router
            .route(prefix, axum::routing::any(not_found))
            .route(&format!("{prefix}/"), axum::routing::any(not_found))
            .route(
                &format!("{prefix}/{{*rest}}"),
                axum::routing::any(not_found),
            );
    }
    router
}

/// Whether development-only pages (`/dev/outbox`, `/demo`) are served.
pub fn dev_pages_enabled(mode: Mode) -> bool {
    mode == Mode::Dev
}

/// Outside development mode the development pages do not exist: they show codes, and the demo
/// acts as a tenant.
async fn development_pages(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let development_only = path == "/demo" || path.starts_with("/dev/");
    if development_only && !dev_pages_enabled(state.mode) {
        return (axum::http::StatusCode::NOT_FOUND, "Not found").into_response();
    }
    next.run(request).await
}

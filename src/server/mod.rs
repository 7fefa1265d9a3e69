//! The server side (feature `ssr`): configuration, state, the verification service and its
//! storage and delivery, the REST API, the CLI, and the axum app that serves it all with the
//! Leptos pages.

pub mod assets;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod pages;
pub mod reference;
pub mod rest;
pub mod service;
pub mod state;
pub mod store;
pub mod validate;
pub mod widget;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::post;
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use secrecy::SecretString;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::{App, shell};
use clock::Clock;
use config::{Mode, Settings};
use crypto::ServerKeys;
use delivery::{Delivery, OutboxDelivery};
use service::VerificationService;
use state::AppState;
use store::Store;

/// Opens the store (applying migrations) and wires the service for `settings`.
pub async fn build_state(
    settings: &Settings,
    secret: &SecretString,
    leptos_options: LeptosOptions,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let url = settings.database_url();
    config::check_database_url(&url)?;
    let store = Store::open(&url).await?;
    let keys = ServerKeys::from_secret(config::secret_bytes(secret));
    let outbox = Arc::new(OutboxDelivery::new(store.clone(), clock.clone()));
    let delivery = Delivery::new(settings.mode, outbox);
    let service = VerificationService::new(store, keys, delivery, clock);
    Ok(AppState {
        leptos_options,
        service,
        mode: settings.mode,
    })
}

/// The whole HTTP app: REST API, server functions, pages and static files. Used by `main` and
/// by the tests alike.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .merge(rest::routes())
        .route("/verify/{token}", post(widget::form_post))
        .leptos_routes_with_context(&state, routes, || {}, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
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
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(assets::compression())
        .layer(
            // Spans name the route pattern, never the raw URI, so tokens in paths stay out of logs.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("-", MatchedPath::as_str)
                        .to_owned();
                    tracing::info_span!("http", method = %request.method(), route)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Deletes long-expired sessions and requests in the background. Expiry itself never depends
/// on this: every check compares against the stored `expires_at`.
pub fn spawn_purge_task(store: Store, clock: Arc<dyn Clock>, settings: &Settings) {
    let grace = settings.purge_grace_secs;
    let every = Duration::from_secs(settings.purge_interval_secs.max(1));
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            match store.purge(clock.now(), grace).await {
                Ok(counts) if counts != store::PurgeCounts::default() => {
                    tracing::info!(?counts, "purged expired records");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "purge failed; will retry"),
            }
        }
    });
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

//! The admin listener (`OTPGATE_ADMIN_ADDR`, by default `127.0.0.1:3100`), never served on the
//! public address: the admin API (`/admin/v1/…`) and its OpenAPI document
//! (`/admin/openapi.json`), both made from one list of operations. Every call is authenticated
//! with an admin token (`Authorization: Bearer at_…` only); errors, body size, duplicate keys
//! and `Cache-Control: no-store` follow the public API's rules. The handlers are thin adapters
//! over `AdminService`.

mod audit;
mod auth;
mod deliveries;
mod destinations;
mod keys;
mod refusals;
mod stats;
mod templates;
pub mod tenants;
mod verifications;
mod webhooks;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::Value;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::rest::BODY_LIMIT;
use super::rest::error::{ApiError, ApiResult};
use crate::server::state::AppState;

pub use audit::AuditEntryView;
pub use auth::Admin;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "otpgate admin API",
        description = "Administration of an otpgate server, served only on its admin listener \
            (`OTPGATE_ADMIN_ADDR`). Authenticate with `Authorization: Bearer <admin token>` \
            (`otpgate admin-token create --scope read|write [--tenant NAME]`); a token in the \
            query string is never accepted. A `read` token reads, a `write` token also changes; \
            a token scoped to a tenant sees that tenant only, and any other is answered as if it \
            did not exist. Errors are JSON with `message` and `code`, bodies JSON of at most \
            16 KiB with no key given twice, every answer `Cache-Control: no-store`."
    ),
    modifiers(&Security),
    tags(
        (name = "tenants", description = "Tenants (apps), their origins and limits"),
        (name = "keys", description = "A tenant's API keys"),
        (name = "destinations", description = "Destinations locked by failed codes"),
        (name = "deliveries", description = "The delivery queue"),
        (name = "verifications", description = "One session or single-SMS request and its timeline"),
        (name = "refusals", description = "What the limits refused"),
        (name = "stats", description = "Figures of a time window"),
        (name = "audit", description = "Who changed what, when, from where"),
        (name = "webhooks", description = "Endpoints that receive the tenant's events, signed the Standard Webhooks way"),
        (name = "templates", description = "What the tenant's messages say, per channel and language"),
    )
)]
struct AdminDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every operation of the admin API, in the order the document presents them.
fn operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(AdminDoc::openapi())
        .routes(routes!(tenants::list, tenants::create))
        .routes(routes!(tenants::read, tenants::change))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(destinations::look_up))
        .routes(routes!(destinations::unlock))
        .routes(routes!(deliveries::list))
        .routes(routes!(deliveries::retry))
        .routes(routes!(deliveries::cancel))
        .routes(routes!(verifications::session))
        .routes(routes!(verifications::sms_request))
        .routes(routes!(refusals::report))
        .routes(routes!(stats::read))
        .routes(routes!(audit::read))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::read, webhooks::change, webhooks::delete))
        .routes(routes!(webhooks::rotate))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::resend))
        .routes(routes!(webhooks::replay))
        .routes(routes!(templates::list))
        .routes(routes!(templates::read, templates::save, templates::delete))
        .routes(routes!(templates::preview))
        .routes(routes!(templates::test))
}

/// The admin OpenAPI document, made from the same list as the routes, with the error-body
/// schemas the answers refer to.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let (_, document) = operations().split_for_parts();
        let mut document =
            serde_json::to_value(document).expect("the admin OpenAPI document serialises");
        super::rest::openapi::add_error_body(&mut document);
        document
    });
    &DOCUMENT
}

async fn openapi_json() -> impl IntoResponse {
    static TEXT: LazyLock<String> =
        LazyLock::new(|| serde_json::to_string_pretty(document()).unwrap_or_else(|_| "{}".into()));
    ([(header::CONTENT_TYPE, "application/json")], TEXT.as_str())
}

/// Prometheus' text format: the delivery queue counted now, and everything recorded since the
/// process started. `404` when metrics are off (`OTPGATE_METRICS=false`).
async fn metrics_text(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    if !crate::server::metrics::installed() {
        return ApiError::UnknownResource("metrics are off (OTPGATE_METRICS=false)".into())
            .into_response();
    }
    for pool in state.service.db_pools() {
        crate::server::metrics::db_pool(pool.pool, pool.in_use, pool.idle, pool.max);
    }
    match state.service.delivery_queue().await {
        Ok(queue) => {
            for (channel, depth, oldest_seconds) in queue {
                crate::server::metrics::delivery_queue(channel, depth, oldest_seconds);
            }
        }
        // The rest is still worth reading; the queue gauges keep their last value.
        Err(error) => tracing::warn!(%error, "cannot count the delivery queue for /metrics"),
    }
    match state.service.webhook_queue().await {
        Ok((depth, oldest_seconds)) => {
            crate::server::metrics::webhook_queue(depth, oldest_seconds);
        }
        Err(error) => tracing::warn!(%error, "cannot count the webhook queue for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::server::metrics::render(),
    )
        .into_response()
}

/// A field that may be given as `null` (which means something) or left out (which changes
/// nothing): `Some(None)` for `null`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// The ID a page of a newest-first listing starts below, from the `cursor` the page before
/// answered.
fn cursor_before(cursor: Option<&str>) -> ApiResult<Option<i64>> {
    cursor
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| ApiError::InvalidRequest("cursor: not a cursor".into()))
        })
        .transpose()
}

/// The `next_cursor` of a page: its last ID when it is full (there may be more), else none.
fn next_cursor(len: usize, limit: i64, last_id: Option<i64>) -> Option<String> {
    (len as i64 == limit)
        .then_some(last_id)
        .flatten()
        .map(|id| id.to_string())
}

async fn route_not_found() -> axum::response::Response {
    ApiError::RouteNotFound.into_response()
}

/// The admin listener's whole app.
pub fn router(state: AppState) -> Router {
    let (api, _) = operations().split_for_parts();
    api.route("/admin/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics_text))
        .layer(axum::middleware::from_fn(
            crate::server::metrics::count_request,
        ))
        .route("/admin/{*rest}", any(route_not_found))
        .fallback(route_not_found)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(super::request_id::span::<axum::body::Body>)
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::request_id::request_id,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::client_ip::client_ip,
        ))
        .with_state(state)
}

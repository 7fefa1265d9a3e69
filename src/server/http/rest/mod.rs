//! The REST API: routes, extractors, bodies and the error type. Handlers are thin: parse, call
//! the service, shape the answer.

pub mod error;
pub mod extract;
pub mod json;
mod misc;
pub mod openapi;
mod otp;
mod single;
pub mod types;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::server::state::AppState;
use error::ApiError;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The `/api/...` routes and `/healthz`. Every `/api/` answer, errors included, is
/// `Cache-Control: no-store`: answers carry session tokens and, for test keys, codes.
pub fn routes() -> Router<AppState> {
    let api = Router::new()
        .route("/v1/otp/send", post(otp::send))
        .route("/v1/otp/verify", post(otp::verify))
        .route("/v1/otp/status", post(otp::status))
        .route("/v1/otp/resend", post(otp::resend))
        .route("/v1/otp/cancel", post(otp::cancel))
        .route("/otp/initiate", post(single::initiate))
        .route("/otp/verify", post(single::verify))
        .route("/v1/test/messages", get(misc::test_messages))
        .route("/openapi.json", get(misc::openapi_json))
        .fallback(|| async { ApiError::RouteNotFound.into_response() })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    let api = Router::new()
        .nest("/api", api)
        // The nested fallback does not see the bare prefix with a trailing slash.
        .route(
            "/api/",
            any(|| async { ApiError::RouteNotFound.into_response() }),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    api.route("/healthz", get(misc::healthz))
}

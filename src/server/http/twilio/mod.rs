//! The Twilio Verify-compatible door: Twilio Verify v2's paths at the root of the public
//! listener, its form-encoded PascalCase parameters, JSON answers and error bodies, so a
//! program written with Twilio's official SDKs runs against otpgate once its HTTP client points
//! here. A thin adapter: the rules live in the services (`service::twilio` and the verification
//! service every door shares).

mod auth;
pub mod bodies;
pub mod error;
mod params;
mod services;
mod verifications;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::state::AppState;
use error::TwilioError;

/// A Twilio date: `2015-07-30T20:00:00Z` exactly (twilio-python parses no other form).
pub fn date(seconds: i64) -> String {
    crate::server::clock::rfc3339(seconds)
}

/// The absolute addresses answers link to (`url`, `links`, paging): under the configured public
/// address, else the one the request was sent to.
pub struct Links {
    base: String,
}

impl Links {
    pub fn services(&self) -> String {
        format!("{}/v2/Services", self.base)
    }

    pub fn service(&self, sid: &str) -> String {
        format!("{}/{sid}", self.services())
    }

    pub fn verification(&self, service_sid: &str, sid: &str) -> String {
        format!("{}/Verifications/{sid}", self.service(service_sid))
    }
}

impl FromRequestParts<AppState> for Links {
    type Rejection = TwilioError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Links, TwilioError> {
        let base = match &state.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => {
                let host = parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
                    .unwrap_or("localhost");
                format!("http://{host}")
            }
        };
        Ok(Links { base })
    }
}

/// The door's operations, from which both its routes and its part of the OpenAPI document are
/// made.
pub fn operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(services::create, services::list))
        .routes(routes!(services::fetch, services::update, services::delete))
        .routes(routes!(verifications::create))
        .routes(routes!(verifications::fetch, verifications::update))
        .routes(routes!(verifications::check))
}

/// The door's routes.
pub fn routes() -> Router<AppState> {
    let (router, _) = operations().split_for_parts();
    router.layer(DefaultBodyLimit::max(crate::server::http::rest::BODY_LIMIT))
}

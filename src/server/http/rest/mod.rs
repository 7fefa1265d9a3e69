//! The REST API: one list of its operations (`operations`), from which both the router and the
//! OpenAPI document are made; the extractors, bodies, error answers and the error type.
//! Handlers are thin: parse, call the service, shape the answer.

pub mod answers;
pub mod error;
pub mod extract;
pub mod json;
mod misc;
pub mod openapi;
mod otp;
mod single;
pub mod types;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::Value;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::state::AppState;
use error::ApiError;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The operations under `/api/`, in the order the contract presents them.
fn api_operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(otp::send))
        .routes(routes!(otp::verify))
        .routes(routes!(otp::status))
        .routes(routes!(otp::resend))
        .routes(routes!(otp::cancel))
        .routes(routes!(single::initiate))
        .routes(routes!(single::verify))
        .routes(routes!(misc::test_messages))
}

/// The operations outside `/api/` (no `Cache-Control: no-store`, no body).
fn service_operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(misc::healthz))
        .routes(routes!(misc::readyz))
}

/// Every operation the document describes, in order.
fn operations() -> utoipa::openapi::OpenApi {
    let (_, document) = api_operations()
        .merge(service_operations())
        .merge(crate::server::http::twilio::operations())
        .split_for_parts();
    document
}

/// The OpenAPI document as served (`/api/openapi.json`) and shown (`/docs/api`): the
/// operations' own description, refined with what derivation cannot say (`openapi::refine`).
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut document =
            serde_json::to_value(operations()).expect("the OpenAPI document serialises");
        openapi::refine(&mut document);
        document
    });
    &DOCUMENT
}

/// The document's paths in the order the contract presents them (the typed document keeps the
/// declared order; a JSON object may not).
pub fn path_order() -> Vec<String> {
    operations().paths.paths.keys().cloned().collect()
}

async fn openapi_json() -> impl IntoResponse {
    static TEXT: LazyLock<String> =
        LazyLock::new(|| serde_json::to_string_pretty(document()).unwrap_or_else(|_| "{}".into()));
    ([(header::CONTENT_TYPE, "application/json")], TEXT.as_str())
}

async fn route_not_found() -> axum::response::Response {
    ApiError::RouteNotFound.into_response()
}

/// The `/api/...` routes and `/healthz`, from the operations above. Every `/api/` answer,
/// errors included, is `Cache-Control: no-store`: answers carry session tokens and, for test
/// keys, codes.
pub fn routes() -> Router<AppState> {
    let (api, _) = api_operations().split_for_parts();
    let api = api
        .route("/api/openapi.json", get(openapi_json))
        .route("/api", any(route_not_found))
        .route("/api/", any(route_not_found))
        .route("/api/{*rest}", any(route_not_found))
        // After every route: it applies to the routes there are.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let (service, _) = service_operations().split_for_parts();
    api.merge(service)
}

#[cfg(test)]
mod tests {
    use super::answers::Answer;
    use super::*;

    /// Every operation's declared errors, by operation.
    fn error_sets() -> Vec<(&'static str, Vec<Answer>)> {
        vec![
            ("send_codes", otp::SendErrors::answers()),
            ("verify_codes", otp::VerifyErrors::answers()),
            ("session_status", otp::SessionErrors::answers()),
            ("resend_codes", otp::ResendErrors::answers()),
            ("initiate_single", single::InitiateErrors::answers()),
            ("verify_single", single::VerifyErrors::answers()),
            ("list_test_messages", misc::OutboxErrors::answers()),
        ]
    }

    #[test]
    fn each_answer_is_one_status_whose_codes_it_names() {
        for (operation, answers) in error_sets() {
            let mut statuses = Vec::new();
            for answer in &answers {
                let status = answer.status();
                assert!(!statuses.contains(&status), "{operation}: {status} twice");
                statuses.push(status);
                for error in answer.errors() {
                    assert_eq!(error.status_code(), status, "{operation}: {error:?}");
                }
            }
        }
    }

    #[test]
    fn the_document_answers_each_declared_error_under_its_status() {
        let document = document();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for operation in item.as_object().expect("an item").values() {
                let id = operation["operationId"].as_str().expect("an id");
                // The Twilio-compatible door's errors are Twilio's (checked in `openapi`).
                if path.starts_with("/v2/") {
                    continue;
                }
                let Some((_, answers)) = error_sets().into_iter().find(|(op, _)| {
                    *op == id || (id == "cancel_session" && *op == "session_status")
                }) else {
                    assert!(
                        ["/healthz", "/readyz"].contains(&path.as_str()),
                        "{id} declares no errors"
                    );
                    continue;
                };
                for answer in answers {
                    let response = &operation["responses"][answer.status().as_str()];
                    let description = response["description"].as_str().unwrap_or_default();
                    for error in answer.errors() {
                        let code = error.code();
                        assert!(
                            description.contains(&format!("`{code}`")),
                            "{id} {}: {description}",
                            answer.status()
                        );
                    }
                }
            }
        }
    }
}

//! The OpenAPI 3.1 description of the REST API: derived from the handlers' annotations and the
//! request and response types, then refined (`refine.rs`) with what derivation cannot say, from
//! the same constants the server enforces. `/api/openapi.json` serves it and the reference page
//! is built from it; schemathesis checks in CI that the server answers as it says.

mod refine;

use std::sync::LazyLock;

use serde_json::Value;
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{misc, otp, single, types};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "otpgate",
        description = "Self-hosted verification: one-time codes over email, SMS and WhatsApp, \
            verified progressively under one session token, plus a single-SMS flow.\n\n\
            Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>`; keys in the query \
            string are never accepted. Every error body is JSON with `message` and `code`. Bodies are \
            JSON only (415 otherwise) and at most 16 KiB (413); a key given twice anywhere in a body \
            is `400 invalid_request`. Times are RFC 3339 UTC. A session expires at `expires_at`: a \
            code is accepted strictly before that second. Unknown request fields are ignored. Every \
            `/api/` answer is `Cache-Control: no-store`.\n\n\
            Email and SMS codes prove control of a contact point; they are not phishing-resistant \
            authentication."
    ),
    paths(
        otp::send, otp::verify, otp::status, otp::resend, otp::cancel,
        single::initiate, single::verify,
        misc::test_messages, misc::healthz,
    ),
    components(schemas(
        types::SendRequest, types::SendResponse, types::VerifyRequest,
        types::VerifyResponse, types::ChannelResult, types::SessionFields, types::TokenRequest,
        types::StatusResponse, types::ResendRequest, types::ResendResponse, types::CancelResponse,
        types::InitiateRequest, types::InitiateResponse, types::SingleVerifyRequest,
        types::SingleVerifyResponse, types::OutboxEntry, types::Health,
    )),
    modifiers(&Security),
    tags(
        (name = "progressive", description = "Multi-channel sessions verified progressively"),
        (name = "single-sms", description = "One SMS code per request"),
        (name = "testing", description = "Reading codes sent under test keys"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;

/// The document as served, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi())
            .expect("the derived OpenAPI document serialises");
        refine::refine(&mut document);
        document
    });
    &DOCUMENT
}

/// The document's paths in the order the contract presents them (the typed document keeps the
/// declared order; a JSON object may not).
pub fn path_order() -> Vec<String> {
    ApiDoc::openapi().paths.paths.keys().cloned().collect()
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

//! The OpenAPI 3.1 description of the REST API, generated from the handlers' annotations.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{error, misc, otp, single, types};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "otpgate",
        description = "Self-hosted verification: one-time codes over email, SMS and WhatsApp, \
            verified progressively under one session token, plus a single-SMS flow.\n\n\
            Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>`; keys in the query \
            string are never accepted. Every error body is JSON with `message` and `code`. Bodies are \
            JSON only (415 otherwise) and at most 16 KiB (413). Times are RFC 3339 UTC. A session \
            expires at `expires_at`: a code is accepted strictly before that second. Unknown \
            request fields are ignored.\n\n\
            Email and SMS codes prove control of a contact point; they are not phishing-resistant \
            authentication."
    ),
    paths(
        otp::send, otp::verify, otp::status, otp::resend, otp::cancel,
        single::initiate, single::verify,
        misc::test_messages, misc::healthz,
    ),
    components(schemas(
        error::ErrorBody, types::SendRequest, types::SendResponse, types::VerifyRequest,
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

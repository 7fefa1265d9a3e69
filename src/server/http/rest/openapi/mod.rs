//! The OpenAPI 3.1 description of the REST API: its frame (`ApiDoc`: the description, the
//! security schemes, the tags), which the route list (`rest::operations`) fills with each
//! operation's annotations and types, and what derivation cannot say (`refine.rs`), from the
//! same constants the server enforces. `/api/openapi.json` serves it and the reference page is
//! built from it; schemathesis checks in CI that the server answers as it says.

mod refine;

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::types;

pub use refine::{add_error_body, refine};

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
    components(schemas(
        types::SendRequest, types::SendResponse, types::VerifyRequest,
        types::VerifyResponse, types::ChannelResult, types::SessionFields, types::TokenRequest,
        types::StatusResponse, types::ResendRequest, types::ResendResponse, types::CancelResponse,
        types::InitiateRequest, types::InitiateResponse, types::SingleVerifyRequest,
        types::SingleVerifyResponse, types::OutboxEntry, types::Health, types::DeliveryInfo,
    )),
    modifiers(&Security),
    tags(
        (name = "progressive", description = "Multi-channel sessions verified progressively"),
        (name = "single-sms", description = "One SMS code per request"),
        (name = "testing", description = "Reading codes sent under test keys"),
        (name = "operations", description = "Health and readiness"),
        (name = "twilio", description = "Twilio Verify v2, compatible: HTTP Basic with the tenant's \
            account SID and one of its API keys, form-encoded parameters, Twilio's answers and \
            error codes (docs/twilio.md)"),
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
        components.add_security_scheme(
            "twilio_basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::document;

    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    found.push(r.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_link_names_an_operation() {
        let document = document();
        let mut found = Vec::new();
        refs(document, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let pointer = reference.trim_start_matches('#');
            assert!(document.pointer(pointer).is_some(), "{reference}");
        }
        let ids: Vec<&str> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        // otpgate's ten, and the Twilio-compatible door's nine.
        assert_eq!(ids.len(), 19, "{ids:?}");
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "operation ids are unique");
        for item in document["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for response in op["responses"].as_object().unwrap().values() {
                    for link in response["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        let target = link["operationId"].as_str().unwrap();
                        assert!(ids.contains(&target), "{target}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_operation_with_a_key_lists_the_errors_of_the_contract() {
        let document = document();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let statuses: Vec<&str> = op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                if path == "/healthz" {
                    assert_eq!(statuses, ["200"]);
                    continue;
                }
                if path == "/readyz" {
                    assert_eq!(statuses, ["200", "503"]);
                    continue;
                }
                // The Twilio-compatible door answers Twilio's errors, each in Twilio's body.
                if path.starts_with("/v2/") {
                    assert!(statuses.contains(&"401"), "{method} {path}: {statuses:?}");
                    for (status, response) in op["responses"].as_object().unwrap() {
                        if status.starts_with('4') {
                            assert_eq!(
                                response["content"]["application/json"]["schema"]["$ref"],
                                "#/components/schemas/TwilioErrorBody",
                                "{method} {path} {status}"
                            );
                        }
                    }
                    continue;
                }
                for status in ["200", "400", "401", "500"] {
                    assert!(statuses.contains(&status), "{method} {path}: {statuses:?}");
                }
                if method == "post" {
                    for status in ["413", "415"] {
                        assert!(statuses.contains(&status), "{method} {path}: {statuses:?}");
                    }
                }
            }
        }
        let verify = &document["paths"]["/api/v1/otp/verify"]["post"]["responses"];
        assert_eq!(
            verify["400"]["content"]["application/json"]["schema"]["oneOf"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert!(verify["429"]["headers"]["Retry-After"].is_object());
        let send = &document["paths"]["/api/v1/otp/send"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(send["allOf"][1]["oneOf"].as_array().map(Vec::len), Some(7));
    }
}

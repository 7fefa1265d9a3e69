//! A human-readable summary of the OpenAPI document, for the API reference page.

use utoipa::OpenApi;
use utoipa::openapi::path::Operation;

use super::rest::openapi::ApiDoc;
use crate::app::reference::{EndpointDoc, ResponseDoc};

fn describe(method: &str, path: &str, operation: &Operation) -> EndpointDoc {
    let example = operation
        .request_body
        .as_ref()
        .and_then(|body| body.content.get("application/json"))
        .and_then(|content| match &content.schema {
            Some(utoipa::openapi::RefOr::Ref(reference)) => Some(reference.ref_location.clone()),
            _ => None,
        })
        .and_then(|location| {
            let name = location.rsplit('/').next()?.to_owned();
            let doc = ApiDoc::openapi();
            let schema = doc.components?.schemas.remove(&name)?;
            let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) = schema
            else {
                return None;
            };
            object
                .example
                .map(|e| serde_json::to_string_pretty(&e).unwrap_or_default())
        });
    EndpointDoc {
        method: method.to_owned(),
        path: path.to_owned(),
        summary: operation.summary.clone().unwrap_or_default(),
        description: operation.description.clone().unwrap_or_default(),
        tag: operation
            .tags
            .as_ref()
            .and_then(|t| t.first().cloned())
            .unwrap_or_default(),
        request_example: example,
        responses: operation
            .responses
            .responses
            .iter()
            .map(|(status, response)| ResponseDoc {
                status: status.clone(),
                description: match response {
                    utoipa::openapi::RefOr::T(r) => r.description.clone(),
                    utoipa::openapi::RefOr::Ref(r) => r.ref_location.clone(),
                },
            })
            .collect(),
    }
}

/// Every endpoint of the API, in document order.
pub fn endpoints() -> Vec<EndpointDoc> {
    let doc = ApiDoc::openapi();
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, operation) in [("GET", &item.get), ("POST", &item.post)] {
            if let Some(operation) = operation {
                out.push(describe(method, path, operation));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_endpoint_is_documented() {
        let endpoints = endpoints();
        for path in [
            "/api/v1/otp/send",
            "/api/v1/otp/verify",
            "/api/v1/otp/status",
            "/api/v1/otp/resend",
            "/api/v1/otp/cancel",
            "/api/otp/initiate",
            "/api/otp/verify",
            "/api/v1/test/messages",
            "/healthz",
        ] {
            let doc = endpoints
                .iter()
                .find(|e| e.path == path)
                .unwrap_or_else(|| panic!("{path}"));
            assert!(!doc.summary.is_empty(), "{path} has a summary");
            assert!(!doc.responses.is_empty(), "{path} lists responses");
        }
        let send = endpoints
            .iter()
            .find(|e| e.path == "/api/v1/otp/send")
            .unwrap();
        assert!(
            send.request_example
                .as_deref()
                .unwrap_or("")
                .contains("recipients")
        );
    }
}

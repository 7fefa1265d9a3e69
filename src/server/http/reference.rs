//! A human-readable summary of the OpenAPI document, for the API reference page: endpoints in
//! the order the contract presents them, their request fields, an example and the answers.

use serde_json::Value;

use super::rest;
use crate::model::{EndpointDoc, FieldDoc, ResponseDoc};

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A short type name for a schema: `string`, `integer | null`, `array of Channel`, `Channel`.
fn type_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    if let Some(variants) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        return variants
            .iter()
            .map(type_name)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    match schema.get("type") {
        Some(Value::String(kind)) if kind == "array" => {
            format!(
                "array of {}",
                schema.get("items").map(type_name).unwrap_or_default()
            )
        }
        Some(Value::String(kind)) if kind == "object" => match schema.get("additionalProperties") {
            Some(values) if values.is_object() => format!("object of {}", type_name(values)),
            _ => "object".to_owned(),
        },
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) => kinds.iter().map(text).collect::<Vec<_>>().join(" | "),
        _ => "any".to_owned(),
    }
}

/// The named schema of an operation's request body: its `$ref`, or the first `$ref` of an
/// `allOf` (the send body adds its channel-to-recipient variants that way).
fn request_schema<'a>(doc: &'a Value, operation: &Value) -> Option<&'a Value> {
    let schema = operation.pointer("/requestBody/content/application~1json/schema")?;
    let reference = schema
        .get("$ref")
        .or_else(|| schema.pointer("/allOf/0/$ref"))?
        .as_str()?;
    doc.pointer(&format!(
        "/components/schemas/{}",
        reference.rsplit('/').next()?
    ))
}

fn fields(schema: &Value) -> Vec<FieldDoc> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| FieldDoc {
                    name: name.clone(),
                    kind: type_name(property),
                    required: required.contains(&name.as_str()),
                    description: text(property.get("description").unwrap_or(&Value::Null)),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every endpoint of the API, in the order the document lists them (built once).
pub fn endpoints() -> Vec<EndpointDoc> {
    static ENDPOINTS: std::sync::LazyLock<Vec<EndpointDoc>> = std::sync::LazyLock::new(build);
    ENDPOINTS.clone()
}

fn build() -> Vec<EndpointDoc> {
    let order = rest::path_order();
    let doc = rest::document();
    let mut out = Vec::new();
    for path in &order {
        let Some(item) = doc.get("paths").and_then(|p| p.get(path)) else {
            continue;
        };
        for method in ["get", "post", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let schema = request_schema(doc, operation);
            out.push(EndpointDoc {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                tag: operation.pointer("/tags/0").map(text).unwrap_or_default(),
                summary: text(operation.get("summary").unwrap_or(&Value::Null)),
                description: text(operation.get("description").unwrap_or(&Value::Null)),
                fields: schema.map(fields).unwrap_or_default(),
                request_example: schema
                    .and_then(|s| s.get("example"))
                    .and_then(|e| serde_json::to_string_pretty(e).ok()),
                responses: operation
                    .get("responses")
                    .and_then(Value::as_object)
                    .map(|responses| {
                        responses
                            .iter()
                            .map(|(status, response)| ResponseDoc {
                                status: status.clone(),
                                description: text(
                                    response.get("description").unwrap_or(&Value::Null),
                                ),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_endpoint_is_documented_in_contract_order() {
        let endpoints = endpoints();
        let paths: Vec<&str> = endpoints.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/api/v1/otp/send",
                "/api/v1/otp/verify",
                "/api/v1/otp/status",
                "/api/v1/otp/resend",
                "/api/v1/otp/cancel",
                "/api/otp/initiate",
                "/api/otp/verify",
                "/api/v1/test/messages",
                "/healthz",
                "/readyz",
                "/v2/Services",
                "/v2/Services",
                "/v2/Services/{Sid}",
                "/v2/Services/{Sid}",
                "/v2/Services/{Sid}",
                "/v2/Services/{ServiceSid}/Verifications",
                "/v2/Services/{ServiceSid}/Verifications/{Sid}",
                "/v2/Services/{ServiceSid}/Verifications/{Sid}",
                "/v2/Services/{ServiceSid}/VerificationCheck",
            ]
        );
        for doc in &endpoints {
            assert!(!doc.summary.is_empty(), "{} has a summary", doc.path);
            assert!(!doc.responses.is_empty(), "{} lists responses", doc.path);
        }
        let send = &endpoints[0];
        assert!(
            send.request_example
                .as_deref()
                .unwrap_or("")
                .contains("recipients")
        );
        let channels = send.fields.iter().find(|f| f.name == "channels").unwrap();
        assert!(channels.required);
        assert_eq!(channels.kind, "array of Channel");
        let code_length = send
            .fields
            .iter()
            .find(|f| f.name == "code_length")
            .unwrap();
        assert!(!code_length.required);
        assert!(code_length.description.contains("4 to 10"));
    }
}

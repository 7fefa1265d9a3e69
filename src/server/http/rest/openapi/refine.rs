//! What the derived document cannot say by itself, added from the same constants and types the
//! server enforces: the bounds of every request field (so a request the schema allows is one the
//! server accepts), which channels need which recipient, the schemas of the error bodies, and the
//! links an API tool follows from a send to the calls on its session. (Each operation's error
//! answers come from its handler's declared errors: `rest::answers`.)

use serde_json::{Map, Value, json};

use crate::engine::Channel;
use crate::engine::code::{MAX_CODE_LENGTH, MAX_SUBMITTED_CODE_CHARS, MIN_CODE_LENGTH};
use crate::engine::policy::{MAX_EXPIRES_IN, MAX_MAX_ATTEMPTS};
use crate::server::http::rest::error::ApiError;

/// `{"$ref": "#/components/schemas/NAME"}`.
fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The schemas every request and error refers to, built from the server's own limits.
fn shared_schemas(schemas: &mut Map<String, Value>) {
    schemas.insert(
        "EmailAddress".into(),
        json!({
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "description": "One plain mailbox, `local@domain` (no display name, list, comment, \
                quoted local part or IP literal; the domain has at least two labels).",
            "examples": ["user@example.com"]
        }),
    );
    schemas.insert(
        "PhoneNumber".into(),
        json!({
            "type": "string",
            "format": "e164",
            "pattern": "^\\+[1-9][0-9]{6,14}$",
            "description": "E.164: `+`, the country code and the number, digits only \
                (`+14155550100`). It must be a number that exists in its country's numbering \
                plan (checked with libphonenumber's metadata).",
            "examples": ["+14155550100", "+218911234567"]
        }),
    );
    schemas.insert(
        "Code".into(),
        json!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SUBMITTED_CODE_CHARS,
            "description": "A code as the person typed it, as a JSON string (a number loses \
                leading zeros and is refused). Surrounding white space is trimmed and any \
                Unicode decimal digits (Arabic-Indic, Persian, fullwidth, ...) read as ASCII; \
                anything else inside makes it a wrong code.",
            "examples": ["493817"]
        }),
    );
    schemas.insert(
        "ErrorBody".into(),
        json!({
            "type": "object",
            "description": "Every error: a human `message` (never containing a code) and a \
                stable `code`.",
            "required": ["message", "code"],
            "additionalProperties": false,
            "properties": {
                "message": {"type": "string"},
                "code": {"type": "string", "enum": ApiError::ALL_CODES}
            }
        }),
    );
    schemas.insert(
        "SessionErrorBody".into(),
        json!({
            "description": "An error about a session that exists (expired, locked): the error \
                and the session's verification fields.",
            "allOf": [
                schema_ref("SessionFields"),
                {
                    "type": "object",
                    "required": ["message", "code"],
                    "properties": {
                        "message": {"type": "string"},
                        "code": {"type": "string", "enum": ["otp_expired", "too_many_attempts"]}
                    }
                }
            ]
        }),
    );
    schemas.insert(
        "VerifyRejected".into(),
        json!({
            "description": "A verify in which no code was accepted: the verification body with \
                `message` `Invalid OTP` and `code` `invalid_otp`.",
            "allOf": [
                schema_ref("VerifyResponse"),
                {
                    "type": "object",
                    "required": ["message", "code"],
                    "properties": {
                        "message": {"type": "string", "const": "Invalid OTP"},
                        "code": {"type": "string", "const": "invalid_otp"}
                    }
                }
            ]
        }),
    );
}

/// Sets `keywords` on the property `field` of the schema `name`, keeping what is there.
fn constrain(schemas: &mut Map<String, Value>, name: &str, field: &str, keywords: Value) {
    let Some(property) = schemas
        .get_mut(name)
        .and_then(|s| s.pointer_mut(&format!("/properties/{field}")))
    else {
        panic!("the OpenAPI schema {name} has no property {field}");
    };
    if let (Some(property), Value::Object(keywords)) = (property.as_object_mut(), keywords) {
        property.extend(keywords);
    }
}

/// Replaces the property `field` of the schema `name`, keeping its description.
fn replace(schemas: &mut Map<String, Value>, name: &str, field: &str, schema: Value) {
    let Some(property) = schemas
        .get_mut(name)
        .and_then(|s| s.pointer_mut(&format!("/properties/{field}")))
    else {
        panic!("the OpenAPI schema {name} has no property {field}");
    };
    let description = property.get("description").cloned();
    *property = schema;
    if let (Some(description), Some(object)) = (description, property.as_object_mut()) {
        object.entry("description").or_insert(description);
    }
}

/// A property that may be absent or `null` (as the server reads it), with `keywords`.
fn optional(kind: &str, keywords: Value) -> Value {
    let mut schema = json!({ "type": [kind, "null"] });
    if let (Some(schema), Value::Object(keywords)) = (schema.as_object_mut(), keywords) {
        schema.extend(keywords);
    }
    schema
}

/// The request fields' bounds, from the engine's constants.
fn request_bounds(schemas: &mut Map<String, Value>) {
    let channel_names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
    let recipient = |c: Channel| {
        if c.uses_phone_number() {
            schema_ref("PhoneNumber")
        } else {
            schema_ref("EmailAddress")
        }
    };
    constrain(
        schemas,
        "SendRequest",
        "channels",
        json!({"minItems": 1, "maxItems": Channel::ALL.len(), "uniqueItems": true}),
    );
    let recipients: Map<String, Value> = Channel::ALL
        .iter()
        .map(|&c| (c.as_str().to_owned(), recipient(c)))
        .collect();
    replace(
        schemas,
        "SendRequest",
        "recipients",
        json!({"type": "object", "properties": recipients, "additionalProperties": false}),
    );
    replace(
        schemas,
        "SendRequest",
        "code_length",
        optional(
            "integer",
            json!({"minimum": MIN_CODE_LENGTH, "maximum": MAX_CODE_LENGTH}),
        ),
    );
    for (schema, field) in [
        ("SendRequest", "expires_in"),
        ("InitiateRequest", "expires_in"),
    ] {
        replace(
            schemas,
            schema,
            field,
            optional("integer", json!({"minimum": 1, "maximum": MAX_EXPIRES_IN})),
        );
    }
    for field in ["max_attempts", "max_attempts_per_channel"] {
        replace(
            schemas,
            "SendRequest",
            field,
            optional(
                "integer",
                json!({"minimum": 1, "maximum": MAX_MAX_ATTEMPTS}),
            ),
        );
    }
    replace(
        schemas,
        "DeliveryRequest",
        "after_secs",
        optional(
            "integer",
            json!({
                "minimum": crate::engine::fallback::MIN_AFTER_SECS,
                "maximum": crate::engine::fallback::MAX_AFTER_SECS
            }),
        ),
    );
    replace(
        schemas,
        "SendRequest",
        "locale",
        optional(
            "string",
            json!({"maxLength": 35, "pattern": "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"}),
        ),
    );
    let codes: Map<String, Value> = channel_names
        .iter()
        .map(|&name| (name.to_owned(), schema_ref("Code")))
        .collect();
    replace(
        schemas,
        "VerifyRequest",
        "otps",
        json!({
            "type": "object",
            "minProperties": 1,
            "additionalProperties": false,
            "properties": codes
        }),
    );
    replace(
        schemas,
        "ResendRequest",
        "channels",
        optional(
            "array",
            json!({"items": schema_ref("Channel"), "minItems": 1}),
        ),
    );
    replace(
        schemas,
        "InitiateRequest",
        "phone_number",
        schema_ref("PhoneNumber"),
    );
    replace(
        schemas,
        "InitiateRequest",
        "code_length",
        json!({"type": ["integer", "null"], "enum": [4, 6, null]}),
    );
    replace(schemas, "SingleVerifyRequest", "code", schema_ref("Code"));
    for schema in ["SendRequest", "InitiateRequest"] {
        replace(
            schemas,
            schema,
            "client_ip",
            json!({"anyOf": [
                {"type": "string", "format": "ipv4"},
                {"type": "string", "format": "ipv6"},
                {"type": "null"}
            ]}),
        );
    }
}

/// Which recipients a send needs follows from its channels: one variant per set of channels,
/// so that a body the schema allows always names the recipient of every channel it asks for.
fn send_variants() -> Value {
    let all = Channel::ALL;
    let variants: Vec<Value> = (1u32..(1 << all.len()))
        .map(|mask| {
            let chosen: Vec<Channel> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, &c)| c)
                .collect();
            let names: Vec<&str> = chosen.iter().map(|c| c.as_str()).collect();
            json!({
                "title": names.join(" + "),
                "type": "object",
                "required": ["channels", "recipients"],
                "properties": {
                    "channels": {
                        "type": "array",
                        "items": {"type": "string", "enum": names},
                        "minItems": names.len(),
                        "maxItems": names.len(),
                        "uniqueItems": true
                    },
                    "recipients": {"type": "object", "required": names}
                }
            })
        })
        .collect();
    json!({ "oneOf": variants })
}

fn operations(document: &mut Value) -> Vec<(String, &mut Map<String, Value>)> {
    let mut found = Vec::new();
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            if let Some(item) = item.as_object_mut() {
                for (method, operation) in item.iter_mut() {
                    if let Some(operation) = operation.as_object_mut() {
                        found.push((format!("{} {path}", method.to_uppercase()), operation));
                    }
                }
            }
        }
    }
    found
}

/// Links from a send or an initiate to the calls on what it created, for API tools that walk
/// the API as a client would.
fn links(document: &mut Value) {
    let session_calls = [
        ("verify", "verify_codes"),
        ("status", "session_status"),
        ("resend", "resend_codes"),
        ("cancel", "cancel_session"),
    ];
    for (_, operation) in operations(document) {
        let id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let (source, targets): (&str, Vec<(&str, &str)>) = match id.as_str() {
            "send_codes" => ("$response.body#/session_token", session_calls.to_vec()),
            "verify_codes" | "resend_codes" => (
                "$request.body#/session_token",
                vec![("status", "session_status"), ("verify", "verify_codes")],
            ),
            "initiate_single" => (
                "$response.body#/request_id",
                vec![("verify", "verify_single")],
            ),
            _ => continue,
        };
        let field = if id == "initiate_single" {
            "request_id"
        } else {
            "session_token"
        };
        let links: Map<String, Value> = targets
            .into_iter()
            .map(|(name, target)| {
                (
                    name.to_owned(),
                    json!({
                        "operationId": target,
                        "requestBody": { field: source },
                        "description": format!("The `{field}` of this call, in a `{target}` call.")
                    }),
                )
            })
            .collect();
        if let Some(ok) = operation
            .get_mut("responses")
            .and_then(|r| r.get_mut("200"))
            && let Some(ok) = ok.as_object_mut()
        {
            ok.insert("links".into(), Value::Object(links));
        }
    }
}

/// The error body's schema, for a document (the admin API's) that needs it alone.
pub fn add_error_body(document: &mut Value) {
    let mut all = Map::new();
    shared_schemas(&mut all);
    if let (Some(body), Some(schemas)) = (
        all.remove("ErrorBody"),
        document
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut),
    ) {
        schemas.insert("ErrorBody".into(), body);
    }
}

/// Everything above, applied to the derived document.
pub fn refine(document: &mut Value) {
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        shared_schemas(schemas);
        request_bounds(schemas);
    }
    for (name, operation) in operations(document) {
        if name == "POST /api/v1/otp/send"
            && let Some(schema) = operation
                .get_mut("requestBody")
                .and_then(|b| b.pointer_mut("/content/application~1json/schema"))
        {
            *schema = json!({"allOf": [schema_ref("SendRequest"), send_variants()]});
        }
        if let Some(params) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            for param in params.iter_mut() {
                if param.get("name").and_then(Value::as_str) == Some("Idempotency-Key")
                    && let Some(param) = param.as_object_mut()
                {
                    param.insert(
                        "schema".into(),
                        json!({"type": "string", "pattern": "^[!-~]{1,255}$"}),
                    );
                }
            }
        }
    }
    links(document);
}

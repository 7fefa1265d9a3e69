//! Request extractors: the API key (header only, never the query string) and JSON bodies with
//! the contract's 413/415/400 answers and messages that name the field but never echo a value.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::server::service::AuthenticatedKey;
use crate::server::service::VerificationService;

/// The tenant behind the request's API key (`X-API-Key` or `Authorization: Bearer`).
pub struct ApiKey(pub AuthenticatedKey);

fn presented_key(parts: &Parts) -> Option<&str> {
    if let Some(key) = parts.headers.get("x-api-key") {
        return key.to_str().ok().map(str::trim);
    }
    let authorization = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

impl<S> FromRequestParts<S> for ApiKey
where
    S: Send + Sync,
    VerificationService: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let key = presented_key(parts).ok_or(ApiError::Unauthenticated)?;
        let service = VerificationService::from_ref(state);
        service
            .authenticate(key)
            .await?
            .map(ApiKey)
            .ok_or(ApiError::Unauthenticated)
    }
}

/// A JSON body of type `T`, with its raw bytes (for idempotency hashing).
pub struct ApiJson<T> {
    pub value: T,
    pub raw: Bytes,
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5 && essence.to_ascii_lowercase().ends_with("+json"))
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::InvalidRequest("could not read the request body".into())
                }
            })?;
        // Syntax first (duplicate keys included), shape second: serde reports some shape errors
        // (an enum given a number) as syntax errors, and those must still name their field.
        let json =
            super::json::parse_strict(&raw).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        let value = serde_path_to_error::deserialize(json)
            .map_err(|e| ApiError::InvalidRequest(describe_json_error(&e)))?;
        Ok(ApiJson { value, raw })
    }
}

/// A JSON body that may be left out: none when the request has no `Content-Type` and no body
/// (a `POST` that only says "do it"); otherwise the body must be JSON, as for [`ApiJson`].
impl<S, T> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if request.headers().contains_key(header::CONTENT_TYPE) {
            return <ApiJson<T> as FromRequest<S>>::from_request(request, state)
                .await
                .map(Some);
        }
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|_| ApiError::InvalidRequest("could not read the request body".into()))?;
        if raw.is_empty() {
            Ok(None)
        } else {
            Err(ApiError::UnsupportedMediaType)
        }
    }
}

fn not_json(error: &serde_json::Error) -> String {
    format!(
        "body is not valid JSON (line {}, column {})",
        error.line(),
        error.column()
    )
}

/// Names the field and what was expected, leaving out the offending value: serde's own message
/// quotes it, and a code sent in the wrong shape must not come back in an error body.
pub fn describe_json_error(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = error.inner();
    let path = error.path().to_string();
    match inner.classify() {
        Category::Syntax | Category::Eof => not_json(inner),
        Category::Io => "could not read the request body".into(),
        Category::Data => {
            let text = inner.to_string();
            let text = text.split(" at line ").next().unwrap_or_default();
            if text.starts_with("missing field") {
                if path == "." {
                    text.to_owned()
                } else {
                    format!("{path}: {text}")
                }
            } else if path == "." {
                match text.split_once(", expected ") {
                    Some((_, expected)) => format!("body must be {expected}"),
                    None => "body has the wrong shape".into(),
                }
            } else {
                match text.split_once(", expected ") {
                    Some((_, expected)) => format!("{path}: invalid value, expected {expected}"),
                    None => format!("{path}: invalid value"),
                }
            }
        }
    }
}

/// A submitted code must be a JSON string; anything else is a malformed request (never an
/// attempt, never a 500). Its content is the engine's to judge, as for every other door.
pub fn code_string(field: &str, value: &serde_json::Value) -> Result<String, ApiError> {
    match value {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(_) => Err(ApiError::InvalidRequest(format!(
            "{field}: must be a string (a JSON number loses leading zeros)"
        ))),
        _ => Err(ApiError::InvalidRequest(format!(
            "{field}: must be a string"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "fields exist to be deserialised")]
    struct Shape {
        name: String,
        count: Option<i64>,
    }

    fn error_for(json: &str) -> String {
        let value: serde_json::Value = match serde_json::from_str(json) {
            Ok(value) => value,
            Err(e) => return not_json(&e),
        };
        let e = serde_path_to_error::deserialize::<_, Shape>(value).unwrap_err();
        describe_json_error(&e)
    }

    #[test]
    fn messages_name_fields_without_values() {
        assert_eq!(
            error_for(r#"{"name": 123456}"#),
            "name: invalid value, expected a string"
        );
        assert_eq!(
            error_for(r#"{"count": "493817"}"#),
            "count: invalid value, expected i64"
        );
        assert_eq!(error_for(r#"{}"#), "missing field `name`");
        assert_eq!(error_for(r#""493817""#), "body must be struct Shape");
        assert!(error_for(r#"{"name": "x""#).starts_with("body is not valid JSON"));
        for json in [
            r#"{"name": 493817}"#,
            r#"{"count": "493817"}"#,
            r#""493817""#,
            r#"[493817]"#,
        ] {
            assert!(!error_for(json).contains("493817"), "{json}");
        }
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("Application/JSON"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json(""));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json("+json"));
    }

    #[test]
    fn codes_must_be_strings() {
        assert_eq!(
            code_string("code", &serde_json::json!("0123")).unwrap(),
            "0123"
        );
        for bad in [
            serde_json::json!(123),
            serde_json::json!(null),
            serde_json::json!([1]),
            serde_json::json!({"a": 1}),
            serde_json::json!(true),
        ] {
            let e = code_string("code", &bad).unwrap_err();
            assert_eq!(e.status_code(), StatusCode::BAD_REQUEST);
        }
    }
}

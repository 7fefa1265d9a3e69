//! The one HTTP error type of the REST API: every error answers JSON with `message` and `code`,
//! verification errors add the session's fields, and internal failures are logged with detail
//! but answered generically.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::types::SessionFields;
use crate::engine::single::SingleError;
use crate::server::service::{ServiceError, StoreError};

#[derive(Debug)]
pub enum ApiError {
    InvalidRequest(String),
    /// No submitted code accepted; carries the full verification body.
    InvalidOtp(Box<serde_json::Value>),
    Unauthenticated,
    Forbidden(String),
    NotFound,
    /// A named resource of the admin API that does not exist or that the caller does not see.
    UnknownResource(String),
    /// A resource of that name exists already, or a request it depends on is still being
    /// answered.
    Conflict(String),
    /// A well-formed request that cannot be taken as it is (an `Idempotency-Key` used with
    /// another body): `422 invalid_request`.
    Unprocessable(String),
    RouteNotFound,
    MethodNotAllowed,
    Expired(Option<Box<SessionFields>>),
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyAttempts(Option<Box<SessionFields>>),
    RateLimited {
        retry_after: i64,
        message: String,
    },
    /// A failed single-SMS verify: always 400, with the contract's message.
    Single(SingleError),
    /// The database cannot be reached right now (or refuses writes): try again shortly.
    Unavailable,
    Internal,
}

impl ApiError {
    /// Every `code` an error body can carry, for the OpenAPI document.
    pub const ALL_CODES: &'static [&'static str] = &[
        "invalid_request",
        "invalid_otp",
        "unauthenticated",
        "forbidden",
        "not_found",
        "conflict",
        "method_not_allowed",
        "otp_expired",
        "otp_already_verified",
        "payload_too_large",
        "unsupported_media_type",
        "too_many_attempts",
        "rate_limited",
        "unavailable",
        "internal_error",
    ];

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) | ApiError::InvalidOtp(_) | ApiError::Single(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::UnknownResource(_) | ApiError::RouteNotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Expired(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyAttempts(_) | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_)
            | ApiError::Unprocessable(_)
            | ApiError::Single(SingleError::CodeTooLong) => "invalid_request",
            ApiError::InvalidOtp(_) | ApiError::Single(SingleError::InvalidOtp) => "invalid_otp",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound | ApiError::UnknownResource(_) | ApiError::RouteNotFound => {
                "not_found"
            }
            ApiError::Conflict(_) => "conflict",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Expired(_) | ApiError::Single(SingleError::Expired) => "otp_expired",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::TooManyAttempts(_) | ApiError::Single(SingleError::TooManyAttempts) => {
                "too_many_attempts"
            }
            ApiError::Single(SingleError::AlreadyVerified) => "otp_already_verified",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::InvalidRequest(message) => message.clone(),
            ApiError::InvalidOtp(_) => "Invalid OTP".into(),
            ApiError::Unauthenticated => "Unauthenticated.".into(),
            ApiError::Forbidden(reason) if reason.is_empty() => "Forbidden".into(),
            ApiError::Forbidden(reason) => format!("Forbidden: {reason}"),
            ApiError::NotFound => "OTP not found".into(),
            ApiError::UnknownResource(message)
            | ApiError::Conflict(message)
            | ApiError::Unprocessable(message) => message.clone(),
            ApiError::RouteNotFound => "No such endpoint".into(),
            ApiError::MethodNotAllowed => "Method not allowed on this endpoint".into(),
            ApiError::Expired(_) => "OTP has expired".into(),
            ApiError::PayloadTooLarge => "Request body is larger than 16 KiB".into(),
            ApiError::UnsupportedMediaType => "Request body must be application/json".into(),
            ApiError::TooManyAttempts(_) => "Too many attempts".into(),
            ApiError::RateLimited { message, .. } => message.clone(),
            ApiError::Single(e) => e.to_string(),
            ApiError::Unavailable => {
                "The service cannot reach its database right now; try again shortly".into()
            }
            ApiError::Internal => "Internal server error".into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidRequest(message) | ServiceError::MalformedCode(message) => {
                ApiError::InvalidRequest(message)
            }
            ServiceError::NotFound => ApiError::NotFound,
            ServiceError::Forbidden(reason) => ApiError::Forbidden(reason),
            ServiceError::Expired(view) => {
                ApiError::Expired(Some(Box::new(SessionFields::from(&*view))))
            }
            ServiceError::Locked(view) => {
                ApiError::TooManyAttempts(Some(Box::new(SessionFields::from(&*view))))
            }
            ServiceError::RateLimited {
                retry_after,
                message,
                ..
            } => ApiError::RateLimited {
                retry_after,
                message,
            },
            ServiceError::Single(e) => ApiError::Single(e),
            ServiceError::IdempotencyReused(message) => ApiError::Unprocessable(message),
            ServiceError::Conflict(message) => ApiError::Conflict(message),
            ServiceError::IdempotencyInFlight => {
                ApiError::Conflict(ServiceError::IdempotencyInFlight.to_string())
            }
            // Only the administrative calls name things that may not exist or exist already.
            ServiceError::Store(StoreError::NotFound(message)) => {
                ApiError::UnknownResource(message)
            }
            ServiceError::Store(StoreError::Conflict(message)) => ApiError::Conflict(message),
            ServiceError::Store(StoreError::Unavailable(detail)) => {
                tracing::error!(error = %detail, "the database is unavailable");
                ApiError::Unavailable
            }
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "storage failed");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut body = serde_json::Map::new();
        let extra = match &self {
            ApiError::InvalidOtp(fields) => Some((**fields).clone()),
            ApiError::Expired(Some(fields)) | ApiError::TooManyAttempts(Some(fields)) => {
                serde_json::to_value(&**fields).ok()
            }
            _ => None,
        };
        if let Some(serde_json::Value::Object(fields)) = extra {
            body.extend(fields);
        }
        body.insert("message".into(), self.message().into());
        body.insert("code".into(), self.code().into());
        let mut response = (status, Json(serde_json::Value::Object(body))).into_response();
        let retry_after = match self {
            ApiError::RateLimited { retry_after, .. } => Some(retry_after.max(1)),
            ApiError::Unavailable => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        if let Some(seconds) = retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Seconds a client is told to wait when the database is unavailable: long enough for a pool to
/// reconnect after a failover, short enough that nobody gives up.
pub const UNAVAILABLE_RETRY_AFTER: i64 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_listed_for_the_document() {
        let errors = [
            ApiError::InvalidRequest(String::new()),
            ApiError::InvalidOtp(Box::default()),
            ApiError::Unauthenticated,
            ApiError::Forbidden(String::new()),
            ApiError::NotFound,
            ApiError::UnknownResource(String::new()),
            ApiError::Conflict(String::new()),
            ApiError::RouteNotFound,
            ApiError::MethodNotAllowed,
            ApiError::Expired(None),
            ApiError::PayloadTooLarge,
            ApiError::UnsupportedMediaType,
            ApiError::TooManyAttempts(None),
            ApiError::RateLimited {
                retry_after: 1,
                message: String::new(),
            },
            ApiError::Single(SingleError::AlreadyVerified),
            ApiError::Single(SingleError::TooManyAttempts),
            ApiError::Single(SingleError::Expired),
            ApiError::Single(SingleError::InvalidOtp),
            ApiError::Single(SingleError::CodeTooLong),
            ApiError::Unavailable,
            ApiError::Internal,
        ];
        for error in &errors {
            assert!(ApiError::ALL_CODES.contains(&error.code()), "{error:?}");
        }
        for code in ApiError::ALL_CODES {
            assert!(errors.iter().any(|e| e.code() == *code), "{code} is used");
        }
    }
}

//! Twilio's error answers: `{"code", "message", "more_info", "status"}` with Twilio's codes, so
//! the official SDKs raise their own exception types (`RestException`, `TwilioRestException`)
//! with the right status and code. Never `type` with `title`: that shape makes both SDKs raise
//! another exception class.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::limits::Refusal;
use crate::server::service::ServiceError;

/// A Twilio error answer.
#[derive(Debug)]
pub struct TwilioError {
    status: StatusCode,
    code: u32,
    message: String,
    retry_after: Option<i64>,
}

pub type TwilioResult<T> = Result<T, TwilioError>;

impl TwilioError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> TwilioError {
        TwilioError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 20003: credentials missing or wrong (which, is not said).
    pub fn unauthenticated() -> TwilioError {
        TwilioError::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
    }

    /// 404 20404: nothing at `path` for this account — also another account's resource.
    pub fn not_found(path: &str) -> TwilioError {
        let resource = path.strip_prefix("/v2").unwrap_or(path);
        TwilioError::new(
            StatusCode::NOT_FOUND,
            20404,
            format!("The requested resource {resource} was not found"),
        )
    }

    /// 400 60200: a parameter is missing or wrong; `what` names it (and says why).
    pub fn invalid(what: &str) -> TwilioError {
        TwilioError::new(
            StatusCode::BAD_REQUEST,
            60200,
            format!("Invalid parameter: {what}"),
        )
    }

    /// 400 `code` with Twilio's words for it (60221 no target, 60223 channel disabled).
    pub fn bad_request(code: u32, message: impl Into<String>) -> TwilioError {
        TwilioError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The answer to what the service refused, for the resource at `path`.
    pub fn of(error: ServiceError, path: &str) -> TwilioError {
        match error {
            ServiceError::NotFound => TwilioError::not_found(path),
            ServiceError::InvalidRequest(what) | ServiceError::MalformedCode(what) => {
                TwilioError::invalid(&what)
            }
            ServiceError::RateLimited {
                retry_after,
                refusal,
                ..
            } => {
                // A limit on the contact is Twilio's "max send attempts"; any other is "too
                // many requests", with when to try again.
                let (code, message) = match refusal {
                    Some(Refusal::Destination(_)) => (60203, "Max send attempts reached"),
                    _ => (20429, "Too many requests"),
                };
                TwilioError {
                    retry_after: Some(retry_after.max(1)),
                    ..TwilioError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
                }
            }
            ServiceError::Forbidden(message) => {
                TwilioError::new(StatusCode::FORBIDDEN, 20403, message)
            }
            // A verification's checks are spent: refused until it expires.
            ServiceError::Locked(_) => TwilioError::new(
                StatusCode::TOO_MANY_REQUESTS,
                60202,
                "Max check attempts reached",
            ),
            ServiceError::Expired(_) => TwilioError::not_found(path),
            other => {
                tracing::error!(error = %other, "a Twilio-compatible call failed");
                TwilioError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    20500,
                    "An internal server error has occurred",
                )
            }
        }
    }
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

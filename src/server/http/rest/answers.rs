//! What each operation answers besides its success, declared beside its handler as the errors
//! it can return (`ApiError` values), so that the document's responses follow from the error
//! type itself: an answer's status is the one `ApiError` answers with, its body the error body
//! (or one that also carries the session's fields), and a `429` says `Retry-After`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::error::ApiError;

/// The body an error answer carries.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// `{message, code}`.
    Error,
    /// `{message, code}` plus the session's verification fields.
    SessionError,
    /// Either of the two above.
    ErrorOrSessionError,
    /// The verification body plus `{message, code}` (`invalid_otp`), or a plain error.
    VerifyRejectedOrError,
}

/// One answer an operation can give besides its success: the errors behind it, what they mean
/// for this operation, and their body.
pub struct Answer {
    errors: Vec<ApiError>,
    description: &'static str,
    body: Body,
}

impl Answer {
    pub fn new(errors: Vec<ApiError>, description: &'static str, body: Body) -> Answer {
        Answer {
            errors,
            description,
            body,
        }
    }

    /// The status every error of the answer is answered with.
    pub fn status(&self) -> StatusCode {
        self.errors
            .first()
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, ApiError::status_code)
    }

    pub fn errors(&self) -> &[ApiError] {
        &self.errors
    }
}

/// The answers of every operation that takes a key.
pub fn with_key(mut answers: Vec<Answer>) -> Vec<Answer> {
    answers.extend([
        Answer::new(
            vec![ApiError::Unauthenticated],
            "`unauthenticated`: no key, or a key that is unknown or revoked.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::Internal],
            "`internal_error`: the server could not complete the request (details are logged, \
             never answered). Safe to retry.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::Unavailable],
            "`unavailable`: the database cannot be reached right now, or refuses writes; nothing \
             was done. `Retry-After` says when to try again.",
            Body::Error,
        ),
    ]);
    answers
}

/// The answers of every operation that takes a key and a JSON body.
pub fn with_json_body(mut answers: Vec<Answer>) -> Vec<Answer> {
    answers.extend([
        Answer::new(
            vec![ApiError::PayloadTooLarge],
            "`payload_too_large`: the body is over 16 KiB.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::UnsupportedMediaType],
            "`unsupported_media_type`: the body is not `application/json`.",
            Body::Error,
        ),
    ]);
    with_key(answers)
}

/// A body that is not JSON, has a key twice, or a missing or wrong field.
pub fn invalid_request() -> Answer {
    Answer::new(
        vec![ApiError::InvalidRequest(String::new())],
        "`invalid_request`: the body is not JSON, has a key twice, or a field is missing or \
         wrong; `message` names the field and never repeats its value.",
        Body::Error,
    )
}

/// A session the key's tenant does not have.
pub fn session_not_found() -> Answer {
    Answer::new(
        vec![ApiError::NotFound],
        "`not_found`: no such session for this key's tenant (unknown, cancelled, or another \
         tenant's).",
        Body::Error,
    )
}

/// A send refused by a limit.
pub fn send_limited() -> Answer {
    Answer::new(
        vec![rate_limited()],
        "`rate_limited`: a limit refused the send, before anything was stored or sent: too many \
         codes or failed attempts for this recipient (one answer whatever the recipient's \
         history), the app's hourly budget for a channel, or the sends of this `client_ip`. \
         `Retry-After` says when to try again.",
        Body::Error,
    )
}

/// A session past its expiry.
pub fn session_expired() -> Answer {
    Answer::new(
        vec![ApiError::Expired(None)],
        "`otp_expired`: the session expired at `expires_at`, whatever the code.",
        Body::SessionError,
    )
}

/// `rate_limited`, as every limit answers it.
pub fn rate_limited() -> ApiError {
    ApiError::RateLimited {
        retry_after: 1,
        message: String::new(),
    }
}

fn schema_ref(name: &str) -> RefOr<utoipa::openapi::schema::Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn body_schema(body: Body) -> RefOr<utoipa::openapi::schema::Schema> {
    let one_of = |a: &str, b: &str| {
        RefOr::T(
            OneOfBuilder::new()
                .item(schema_ref(a))
                .item(schema_ref(b))
                .build()
                .into(),
        )
    };
    match body {
        Body::Error => schema_ref("ErrorBody"),
        Body::SessionError => schema_ref("SessionErrorBody"),
        Body::ErrorOrSessionError => one_of("ErrorBody", "SessionErrorBody"),
        Body::VerifyRejectedOrError => one_of("VerifyRejected", "ErrorBody"),
    }
}

/// The document's responses for `answers`, by status.
pub fn responses(answers: &[Answer]) -> BTreeMap<String, RefOr<Response>> {
    answers
        .iter()
        .map(|answer| {
            let status = answer.status();
            let content = ContentBuilder::new()
                .schema(Some(body_schema(answer.body)))
                .build();
            let mut response = ResponseBuilder::new()
                .description(answer.description)
                .content("application/json", content);
            if status == StatusCode::TOO_MANY_REQUESTS {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(1)),
                        )
                        .description(Some(
                            "Seconds to wait before trying again (`rate_limited`).",
                        ))
                        .build(),
                );
            }
            (status.as_u16().to_string(), RefOr::T(response.build()))
        })
        .collect()
}

/// Declares an operation's error answers as a type the handler's `responses(...)` names.
macro_rules! error_answers {
    ($(#[$doc:meta])* $name:ident => $answers:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl $name {
            pub fn answers() -> Vec<$crate::server::http::rest::answers::Answer> {
                $answers
            }
        }

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::server::http::rest::answers::responses(&Self::answers())
            }
        }
    };
}

pub(crate) use error_answers;

//! Why a service call failed, in terms each door maps to its own error shape (the REST API's
//! `ApiError`, the pages' `PageError`, the CLI's message).

use crate::engine::limits::Refusal;
use crate::engine::single::SingleError;
use crate::server::delivery::NoProvider;
use crate::server::metrics::{Api, AttemptResult};
use crate::server::store::StoreError;

use super::views::SessionView;

/// Why a request failed, in terms the adapters map to their own error shapes.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidRequest(String),
    /// A submitted code too long to be one: malformed, refused before any attempt is counted.
    #[error("{0}")]
    MalformedCode(String),
    #[error("OTP not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("OTP has expired")]
    Expired(Box<SessionView>),
    #[error("Too many attempts")]
    Locked(Box<SessionView>),
    /// Refused for now: a resend inside its cooldown (`refusal` is `None`), or a limit (see
    /// `From<Refusal>`).
    #[error("{message}")]
    RateLimited {
        retry_after: i64,
        message: String,
        refusal: Option<Refusal>,
    },
    /// An `Idempotency-Key` used before with another request body.
    #[error("{0}")]
    IdempotencyReused(String),
    /// Another request with this `Idempotency-Key` is still being answered.
    #[error("a request with this Idempotency-Key is still being answered; retry when it is")]
    IdempotencyInFlight,
    /// A single-SMS verify that did not succeed (always HTTP 400 in that API).
    #[error("{0}")]
    Single(SingleError),
    /// What was asked cannot be done in the server's present state (an administrative call:
    /// no provider for the channel of a test message).
    #[error("{0}")]
    Conflict(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl From<NoProvider> for ServiceError {
    fn from(e: NoProvider) -> Self {
        ServiceError::Forbidden(e.to_string())
    }
}

impl From<Refusal> for ServiceError {
    /// The answer to a refusal. Every destination rule answers the same words and the same
    /// wait, so the answer says nothing about what happened to a destination before.
    fn from(refusal: Refusal) -> Self {
        let message = match refusal {
            Refusal::Country(code) => {
                return ServiceError::Forbidden(format!(
                    "SMS and WhatsApp to country code +{code} are not allowed for this app"
                ));
            }
            Refusal::Destination(_) => {
                "Too many codes or attempts for this recipient; try again later".to_owned()
            }
            Refusal::TenantBudget(channel) => {
                format!("This app's hourly budget of {channel} messages is spent; try again later")
            }
            Refusal::ClientIp => {
                "Too many codes were requested from this client IP; try again later".to_owned()
            }
            Refusal::WidgetIp => {
                "Too many codes were submitted from this address; try again in a minute".to_owned()
            }
            Refusal::Resends => {
                "This session had all its resends; start a new verification".to_owned()
            }
        };
        ServiceError::RateLimited {
            retry_after: refusal.retry_after().unwrap_or(crate::engine::limits::HOUR),
            message,
            refusal: Some(refusal),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Counts a verify call of `api` by how it ended: a success as `succeeded` says, a failure by
/// its kind (not at all when it checked no code: a malformed call, a storage failure).
pub(super) fn count_attempt<T>(
    api: Api,
    result: &ServiceResult<T>,
    succeeded: impl FnOnce(&T) -> AttemptResult,
) {
    let counted = match result {
        Ok(value) => Some(succeeded(value)),
        Err(error) => attempt_result(error),
    };
    if let Some(counted) = counted {
        crate::server::metrics::verification_attempt(api, counted);
    }
}

fn attempt_result(error: &ServiceError) -> Option<AttemptResult> {
    match error {
        ServiceError::Expired(_) | ServiceError::Single(SingleError::Expired) => {
            Some(AttemptResult::Expired)
        }
        ServiceError::Locked(_) | ServiceError::Single(SingleError::TooManyAttempts) => {
            Some(AttemptResult::Locked)
        }
        ServiceError::Single(SingleError::InvalidOtp) => Some(AttemptResult::WrongCode),
        ServiceError::NotFound | ServiceError::Single(SingleError::AlreadyVerified) => {
            Some(AttemptResult::NotFound)
        }
        ServiceError::RateLimited { .. } => Some(AttemptResult::Throttled),
        _ => None,
    }
}

/// The answer to a refusal that is final (recorded, answered), counted by its rule.
pub(super) fn refused(refusal: Refusal) -> ServiceError {
    crate::server::metrics::limit_refusal(refusal.rule());
    refusal.into()
}

/// Counts the refusal a final decision answered with, if it was one.
pub(super) fn count_refusal(error: &ServiceError) {
    if let ServiceError::RateLimited {
        refusal: Some(refusal),
        ..
    } = error
    {
        crate::server::metrics::limit_refusal(refusal.rule());
    }
}

/// The refusal of a call whose record kept changing under it (see `decide::until_fresh`).
pub(super) fn too_much_contention(retries: u32) -> ServiceError {
    // Not a conflict the caller made: trying again later is the answer.
    ServiceError::Store(StoreError::Unavailable(format!(
        "the record changed under this call {retries} times in a row"
    )))
}

pub(super) fn invalid(field: &str, reason: impl std::fmt::Display) -> ServiceError {
    ServiceError::InvalidRequest(format!("{field}: {reason}"))
}

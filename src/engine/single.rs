//! The single-SMS request (`/api/otp/...`): one phone number, one code, three attempts, single use.

use super::UnixSeconds;
use super::code::{MAX_SUBMITTED_CODE_CHARS, is_too_long, normalize_code};
use super::policy::MAX_EXPIRES_IN;
use super::session::SessionStatus;

pub const SINGLE_MAX_ATTEMPTS: u32 = 3;
pub const SINGLE_DEFAULT_EXPIRES_IN: i64 = 300;
pub const SINGLE_DEFAULT_CODE_LENGTH: u8 = 6;

/// A single-SMS verification request as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleRequest {
    pub failed_attempts: u32,
    pub expires_at: UnixSeconds,
    pub verified_at: Option<UnixSeconds>,
}

/// Why a single-SMS verify did not succeed; the texts are the contract's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SingleError {
    #[error("OTP already verified")]
    AlreadyVerified,
    #[error("Too many attempts")]
    TooManyAttempts,
    #[error("OTP has expired")]
    Expired,
    /// Wrong or malformed code; it counted an attempt.
    #[error("Invalid OTP")]
    InvalidOtp,
    /// Too long to be any code: a malformed request, refused before anything is counted.
    #[error("code: is longer than {MAX_SUBMITTED_CODE_CHARS} characters")]
    CodeTooLong,
}

/// Validated parameters of an initiate call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SingleSpec {
    pub code_length: u8,
    pub expires_in: i64,
}

impl SingleSpec {
    /// `code_length` 4 or 6 (default 6); `expires_in` 1 to 600 seconds (default 300).
    pub fn new(code_length: Option<i64>, expires_in: Option<i64>) -> Result<SingleSpec, String> {
        let code_length = match code_length {
            None => SINGLE_DEFAULT_CODE_LENGTH,
            Some(4) => 4,
            Some(6) => 6,
            Some(_) => return Err("code_length: must be 4 or 6".to_owned()),
        };
        let expires_in = match expires_in {
            None => SINGLE_DEFAULT_EXPIRES_IN,
            Some(n) if (1..=MAX_EXPIRES_IN).contains(&n) => n,
            Some(_) => {
                return Err(format!(
                    "expires_in: must be between 1 and {MAX_EXPIRES_IN}"
                ));
            }
        };
        Ok(SingleSpec {
            code_length,
            expires_in,
        })
    }
}

impl SingleRequest {
    pub fn new(spec: SingleSpec, now: UnixSeconds) -> SingleRequest {
        SingleRequest {
            failed_attempts: 0,
            expires_at: now + spec.expires_in,
            verified_at: None,
        }
    }

    /// Checks `raw` at `now`. Order: a string too long to be a code is refused as malformed
    /// without counting anything; then single use (a verified request never verifies again),
    /// then the attempt lock, then expiry, then the code itself.
    pub fn verify(
        &mut self,
        now: UnixSeconds,
        raw: &str,
        matches: impl FnOnce(&str) -> bool,
    ) -> Result<(), SingleError> {
        if is_too_long(raw) {
            return Err(SingleError::CodeTooLong);
        }
        if self.verified_at.is_some() {
            return Err(SingleError::AlreadyVerified);
        }
        if self.failed_attempts >= SINGLE_MAX_ATTEMPTS {
            return Err(SingleError::TooManyAttempts);
        }
        if now >= self.expires_at {
            return Err(SingleError::Expired);
        }
        if normalize_code(raw).is_ok_and(|code| matches(&code)) {
            self.verified_at = Some(now);
            Ok(())
        } else {
            self.failed_attempts += 1;
            Err(SingleError::InvalidOtp)
        }
    }

    /// Verified or out of attempts: its code can never be used again.
    pub fn is_settled(&self) -> bool {
        self.verified_at.is_some() || self.failed_attempts >= SINGLE_MAX_ATTEMPTS
    }

    /// Where the request stands, in the terms of a session's status (verified before locked
    /// before expired, as for sessions).
    pub fn status(&self, now: UnixSeconds) -> SessionStatus {
        if self.verified_at.is_some() {
            SessionStatus::Verified
        } else if self.failed_attempts >= SINGLE_MAX_ATTEMPTS {
            SessionStatus::Locked
        } else if now >= self.expires_at {
            SessionStatus::Expired
        } else {
            SessionStatus::Pending
        }
    }

    /// Attempts used, the right one included, as reported on success.
    pub fn attempts_used(&self) -> u32 {
        self.failed_attempts + u32::from(self.verified_at.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixSeconds = 1_800_000_000;

    fn request() -> SingleRequest {
        SingleRequest::new(SingleSpec::new(None, None).unwrap(), T0)
    }

    fn right(code: &str) -> bool {
        code == "123456"
    }

    #[test]
    fn status_is_verified_before_locked_before_expired() {
        let mut req = request();
        assert_eq!(req.status(T0), SessionStatus::Pending);
        assert_eq!(req.status(req.expires_at), SessionStatus::Expired);
        for _ in 0..SINGLE_MAX_ATTEMPTS {
            let _ = req.verify(T0, "000000", right);
        }
        assert_eq!(req.status(T0), SessionStatus::Locked);
        assert_eq!(req.status(req.expires_at), SessionStatus::Locked);
        let mut req = request();
        req.verify(T0, "123456", right).expect("the right code");
        assert_eq!(req.status(req.expires_at + 1), SessionStatus::Verified);
    }

    #[test]
    fn spec_defaults_and_bounds() {
        assert_eq!(
            SingleSpec::new(None, None).unwrap(),
            SingleSpec {
                code_length: 6,
                expires_in: 300
            }
        );
        assert_eq!(SingleSpec::new(Some(4), Some(600)).unwrap().code_length, 4);
        for bad in [5, 8, 0, -4] {
            assert_eq!(
                SingleSpec::new(Some(bad), None).unwrap_err(),
                "code_length: must be 4 or 6"
            );
        }
        assert!(SingleSpec::new(None, Some(601)).is_err());
        assert!(SingleSpec::new(None, Some(0)).is_err());
    }

    #[test]
    fn right_code_verifies_once() {
        let mut r = request();
        assert_eq!(r.verify(T0 + 1, "123456", right), Ok(()));
        assert_eq!(r.verified_at, Some(T0 + 1));
        assert_eq!(r.attempts_used(), 1);
        assert!(r.is_settled());
        assert_eq!(
            r.verify(T0 + 2, "123456", right),
            Err(SingleError::AlreadyVerified)
        );
    }

    #[test]
    fn three_failures_lock_even_the_right_code() {
        let mut r = request();
        for _ in 0..3 {
            assert_eq!(r.verify(T0, "000000", right), Err(SingleError::InvalidOtp));
        }
        assert_eq!(
            r.verify(T0, "123456", right),
            Err(SingleError::TooManyAttempts)
        );
        assert_eq!(r.failed_attempts, 3);
        assert!(r.is_settled());
    }

    #[test]
    fn attempts_used_counts_failures_before_success() {
        let mut r = request();
        r.verify(T0, "1", right).unwrap_err();
        r.verify(T0, "abc", right).unwrap_err();
        r.verify(
            T0,
            "\u{0661}\u{0662}\u{0663}\u{0664}\u{0665}\u{0666}",
            right,
        )
        .unwrap();
        assert_eq!(r.attempts_used(), 3);
    }

    #[test]
    fn expiry_boundary() {
        let mut r = request();
        assert_eq!(
            r.verify(T0 + 300, "123456", right),
            Err(SingleError::Expired)
        );
        assert_eq!(r.failed_attempts, 0);
        assert_eq!(r.verify(T0 + 299, "123456", right), Ok(()));
    }

    #[test]
    fn overlong_codes_are_refused_without_costing_an_attempt() {
        let mut r = request();
        let long = "1".repeat(crate::engine::code::MAX_SUBMITTED_CODE_CHARS + 1);
        assert_eq!(r.verify(T0, &long, right), Err(SingleError::CodeTooLong));
        assert_eq!(r.failed_attempts, 0);
        assert_eq!(r.verify(T0, "123456", right), Ok(()));
    }
}

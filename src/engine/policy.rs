//! Session policy: verification mode, attempt limits, code length and lifetime, validated once.

use serde::{Deserialize, Serialize};

use super::Channel;
use super::code::{MAX_CODE_LENGTH, MIN_CODE_LENGTH};

pub const DEFAULT_CODE_LENGTH: u8 = 6;
pub const DEFAULT_EXPIRES_IN: i64 = 600;
pub const MAX_EXPIRES_IN: i64 = 600;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Upper bound on `max_attempts`: beyond this a 4-digit code stops being a meaningful secret.
pub const MAX_MAX_ATTEMPTS: u32 = 20;
/// A channel may be sent at most once in this many seconds.
pub const RESEND_COOLDOWN_SECS: i64 = 30;

/// How many channels must be verified before the session counts as verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VerificationMode {
    /// One verified channel verifies the session; the others stay available.
    #[default]
    Any,
    /// Every channel of the session must be verified.
    All,
}

impl VerificationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationMode::Any => "any",
            VerificationMode::All => "all",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "any" => Some(VerificationMode::Any),
            "all" => Some(VerificationMode::All),
            _ => None,
        }
    }
}

/// Failed-attempt limits: the session total, and optionally a tighter one per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    pub max_attempts: u32,
    pub max_attempts_per_channel: Option<u32>,
}

/// A request for a new session whose every number has been checked against the contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    pub channels: Vec<Channel>,
    pub mode: VerificationMode,
    pub code_length: u8,
    pub expires_in: i64,
    pub limits: SessionLimits,
}

/// A field of a session request that breaks the contract, with the reason in plain words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SpecError {
    pub field: &'static str,
    pub reason: String,
}

fn spec_error(field: &'static str, reason: impl Into<String>) -> SpecError {
    SpecError {
        field,
        reason: reason.into(),
    }
}

/// The optional numbers of a session request, as the client sent them.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestedLimits {
    pub code_length: Option<i64>,
    pub expires_in: Option<i64>,
    pub max_attempts: Option<i64>,
    pub max_attempts_per_channel: Option<i64>,
}

fn in_range(field: &'static str, value: i64, min: i64, max: i64) -> Result<i64, SpecError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(spec_error(
            field,
            format!("must be between {min} and {max}"),
        ))
    }
}

impl SessionSpec {
    /// Validates a request: channels non-empty and distinct, numbers within their ranges,
    /// defaults filled in.
    pub fn new(
        channels: Vec<Channel>,
        mode: VerificationMode,
        requested: RequestedLimits,
    ) -> Result<SessionSpec, SpecError> {
        if channels.is_empty() {
            return Err(spec_error("channels", "must name at least one channel"));
        }
        for (i, channel) in channels.iter().enumerate() {
            if channels[..i].contains(channel) {
                return Err(spec_error(
                    "channels",
                    format!("`{channel}` is listed twice"),
                ));
            }
        }
        let code_length = match requested.code_length {
            None => DEFAULT_CODE_LENGTH,
            Some(n) => {
                let n = in_range(
                    "code_length",
                    n,
                    i64::from(MIN_CODE_LENGTH),
                    i64::from(MAX_CODE_LENGTH),
                )?;
                u8::try_from(n).map_err(|_| spec_error("code_length", "out of range"))?
            }
        };
        let expires_in = match requested.expires_in {
            None => DEFAULT_EXPIRES_IN,
            Some(n) => in_range("expires_in", n, 1, MAX_EXPIRES_IN)?,
        };
        let max_attempts = match requested.max_attempts {
            None => DEFAULT_MAX_ATTEMPTS,
            Some(n) => to_u32(
                "max_attempts",
                in_range("max_attempts", n, 1, i64::from(MAX_MAX_ATTEMPTS))?,
            )?,
        };
        // Checked against the same bounds as the total, so each field has a range of its own
        // (a schema can say it); a per-channel limit above the total can never be reached
        // before the total locks the session, so it acts as the total.
        let max_attempts_per_channel = match requested.max_attempts_per_channel {
            None => None,
            Some(n) => Some(
                to_u32(
                    "max_attempts_per_channel",
                    in_range(
                        "max_attempts_per_channel",
                        n,
                        1,
                        i64::from(MAX_MAX_ATTEMPTS),
                    )?,
                )?
                .min(max_attempts),
            ),
        };
        Ok(SessionSpec {
            channels,
            mode,
            code_length,
            expires_in,
            limits: SessionLimits {
                max_attempts,
                max_attempts_per_channel,
            },
        })
    }
}

fn to_u32(field: &'static str, n: i64) -> Result<u32, SpecError> {
    u32::try_from(n).map_err(|_| spec_error(field, "out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(requested: RequestedLimits) -> Result<SessionSpec, SpecError> {
        SessionSpec::new(vec![Channel::Email], VerificationMode::Any, requested)
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = spec(RequestedLimits::default()).unwrap();
        assert_eq!(s.code_length, 6);
        assert_eq!(s.expires_in, 600);
        assert_eq!(s.limits.max_attempts, 5);
        assert_eq!(s.limits.max_attempts_per_channel, None);
        assert_eq!(s.mode, VerificationMode::Any);
        assert_eq!(VerificationMode::default(), VerificationMode::Any);
    }

    #[test]
    fn code_length_is_4_to_10() {
        for n in 4..=10 {
            let s = spec(RequestedLimits {
                code_length: Some(n),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(i64::from(s.code_length), n);
        }
        for n in [-1, 0, 3, 11, 256, i64::MAX] {
            let e = spec(RequestedLimits {
                code_length: Some(n),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(e.field, "code_length");
            assert_eq!(e.to_string(), "code_length: must be between 4 and 10");
        }
    }

    #[test]
    fn expires_in_is_1_to_600() {
        assert!(
            spec(RequestedLimits {
                expires_in: Some(1),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(
            spec(RequestedLimits {
                expires_in: Some(600),
                ..Default::default()
            })
            .is_ok()
        );
        for n in [0, -5, 601, 86_400] {
            let e = spec(RequestedLimits {
                expires_in: Some(n),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(e.field, "expires_in");
        }
    }

    #[test]
    fn attempt_limits_are_bounded() {
        assert!(
            spec(RequestedLimits {
                max_attempts: Some(1),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(
            spec(RequestedLimits {
                max_attempts: Some(20),
                ..Default::default()
            })
            .is_ok()
        );
        for n in [0, 21, -3] {
            let e = spec(RequestedLimits {
                max_attempts: Some(n),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(e.field, "max_attempts");
        }
        let per_channel_above_total = RequestedLimits {
            max_attempts: Some(3),
            max_attempts_per_channel: Some(4),
            ..Default::default()
        };
        assert_eq!(
            spec(per_channel_above_total)
                .unwrap()
                .limits
                .max_attempts_per_channel,
            Some(3),
            "a per-channel limit above the total acts as the total"
        );
        for n in [0, 21, -1] {
            let e = spec(RequestedLimits {
                max_attempts_per_channel: Some(n),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(e.field, "max_attempts_per_channel");
        }
        let ok = RequestedLimits {
            max_attempts: Some(6),
            max_attempts_per_channel: Some(2),
            ..Default::default()
        };
        assert_eq!(spec(ok).unwrap().limits.max_attempts_per_channel, Some(2));
    }

    #[test]
    fn channels_must_be_present_and_distinct() {
        let none = SessionSpec::new(vec![], VerificationMode::All, RequestedLimits::default());
        assert_eq!(none.unwrap_err().field, "channels");
        let twice = SessionSpec::new(
            vec![Channel::Sms, Channel::Email, Channel::Sms],
            VerificationMode::All,
            RequestedLimits::default(),
        );
        let e = twice.unwrap_err();
        assert_eq!(e.to_string(), "channels: `sms` is listed twice");
    }

    #[test]
    fn modes_parse_only_their_names() {
        assert_eq!(VerificationMode::parse("any"), Some(VerificationMode::Any));
        assert_eq!(VerificationMode::parse("all"), Some(VerificationMode::All));
        assert_eq!(VerificationMode::parse("ALL"), None);
    }
}

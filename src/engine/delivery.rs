//! The rules of delivery, pure like the rest of the engine: what a message's status may become,
//! how long to wait before the next try, and when to give up. The store keeps the queue and the
//! worker calls the providers; every decision they take about a message comes from here.

use serde::{Deserialize, Serialize};

use super::UnixSeconds;

/// Where a message stands, as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Stored, not yet accepted by a provider (also while retrying).
    Queued,
    /// A provider accepted it.
    Sent,
    /// The provider's receipt says it reached the person.
    Delivered,
    /// Given up, with a [`DeliveryFailure`].
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// A status only moves forward: queued → sent → delivered, or to failed from queued or
    /// sent. Delivered and failed are final, so a late or replayed receipt changes nothing.
    pub fn may_become(self, next: DeliveryStatus) -> bool {
        use DeliveryStatus::{Delivered, Failed, Queued, Sent};
        matches!(
            (self, next),
            (Queued, Sent | Delivered | Failed) | (Sent, Delivered | Failed)
        )
    }
}

/// Why a message was given up, stable for integrators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFailure {
    /// The address or number cannot receive messages (unknown mailbox, invalid or landline number).
    InvalidRecipient,
    /// The recipient or its network refuses messages from this sender (opt-out, carrier filter).
    Blocked,
    /// The provider refused the message for another reason (configuration, content, account).
    ProviderRejected,
    /// The session ended (expired, verified or locked) before the message could be handed over.
    ExpiredBeforeDelivery,
    /// The provider could not be reached (or kept failing) until the session expired.
    ProviderUnavailable,
}

impl DeliveryFailure {
    pub const ALL: [DeliveryFailure; 5] = [
        DeliveryFailure::InvalidRecipient,
        DeliveryFailure::Blocked,
        DeliveryFailure::ProviderRejected,
        DeliveryFailure::ExpiredBeforeDelivery,
        DeliveryFailure::ProviderUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryFailure::InvalidRecipient => "invalid_recipient",
            DeliveryFailure::Blocked => "blocked",
            DeliveryFailure::ProviderRejected => "provider_rejected",
            DeliveryFailure::ExpiredBeforeDelivery => "expired_before_delivery",
            DeliveryFailure::ProviderUnavailable => "provider_unavailable",
        }
    }

    pub fn parse(name: &str) -> Option<DeliveryFailure> {
        DeliveryFailure::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
    }
}

/// One message's state as answers and the widget show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub status: DeliveryStatus,
    pub error: Option<DeliveryFailure>,
    /// Tries handed to a provider so far.
    pub attempts: u32,
    pub updated_at: UnixSeconds,
}

/// The first wait after a failed try; each further try waits twice as long, up to the cap.
pub const RETRY_BASE_SECS: i64 = 2;
/// The longest wait between two tries.
pub const RETRY_CAP_SECS: i64 = 60;

/// When to try again after the `attempts`-th failed try at `now`, or `None` to give up because
/// the next try would come at or after `expires_at` (a code is never delivered dead). `jitter`
/// in `[0, 1)` spreads the waits of many messages failing together over the upper half of the
/// backoff window, so they do not return in a herd; a provider's `retry_after` (HTTP 429,
/// `Retry-After`) is honoured as a minimum.
pub fn next_try(
    now: UnixSeconds,
    attempts: u32,
    expires_at: UnixSeconds,
    retry_after: Option<i64>,
    jitter: f64,
) -> Option<UnixSeconds> {
    let exponent = attempts.saturating_sub(1).min(16);
    let window = (RETRY_BASE_SECS << exponent).min(RETRY_CAP_SECS);
    let jitter = jitter.clamp(0.0, 0.999_999);
    // Half the window for sure, the other half at random (never less than one second).
    let wait = (window / 2 + (jitter * (window - window / 2) as f64) as i64).max(1);
    let wait = wait.max(retry_after.unwrap_or(0));
    let at = now + wait;
    (at < expires_at).then_some(at)
}

/// The failure to record when a message is given up at expiry: the provider's fault if it was
/// tried, otherwise the queue never reached it in time.
pub fn expiry_failure(attempts: u32) -> DeliveryFailure {
    if attempts > 0 {
        DeliveryFailure::ProviderUnavailable
    } else {
        DeliveryFailure::ExpiredBeforeDelivery
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixSeconds = 1_800_000_000;

    #[test]
    fn statuses_only_move_forward() {
        use DeliveryStatus::*;
        let all = [Queued, Sent, Delivered, Failed];
        let forward = [
            (Queued, Sent),
            (Queued, Delivered),
            (Queued, Failed),
            (Sent, Delivered),
            (Sent, Failed),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.may_become(to),
                    forward.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        for s in all {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        for f in DeliveryFailure::ALL {
            assert_eq!(DeliveryFailure::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn waits_grow_exponentially_within_their_jittered_window_and_cap() {
        for (attempts, window) in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 60), (30, 60)] {
            let earliest = next_try(T0, attempts, T0 + 10_000, None, 0.0).unwrap() - T0;
            let latest = next_try(T0, attempts, T0 + 10_000, None, 0.999_999).unwrap() - T0;
            assert_eq!(earliest, (window / 2).max(1), "attempt {attempts}");
            assert!(
                latest <= window && latest >= earliest,
                "attempt {attempts}: {latest}"
            );
        }
    }

    #[test]
    fn a_providers_retry_after_is_a_minimum() {
        assert_eq!(next_try(T0, 1, T0 + 600, Some(30), 0.0), Some(T0 + 30));
        assert_eq!(next_try(T0, 6, T0 + 600, Some(5), 0.0), Some(T0 + 30));
    }

    #[test]
    fn nothing_is_tried_at_or_after_expiry() {
        assert_eq!(next_try(T0, 1, T0 + 1, None, 0.0), None);
        assert_eq!(
            next_try(T0, 3, T0 + 4, None, 0.0),
            None,
            "4 s wait reaches expiry"
        );
        assert_eq!(next_try(T0, 3, T0 + 5, None, 0.0), Some(T0 + 4));
        assert_eq!(next_try(T0, 1, T0 + 100, Some(100), 0.0), None);
        assert_eq!(expiry_failure(0), DeliveryFailure::ExpiredBeforeDelivery);
        assert_eq!(expiry_failure(2), DeliveryFailure::ProviderUnavailable);
    }
}

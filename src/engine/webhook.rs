//! The rules of webhook delivery, pure like the rest of the engine: the event types an
//! endpoint may subscribe to, what an endpoint's answer means (done, try again, give up, or stop
//! sending to it), when the next try is due, and when an endpoint has failed long enough to be
//! disabled. The store keeps the queue and the worker makes the requests; every decision they
//! take about a delivery comes from here.

use super::UnixSeconds;

/// What happened, as an integrator's endpoint is told (`type` of the body, dotted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    VerificationStarted,
    VerificationChannelVerified,
    VerificationVerified,
    VerificationLocked,
    VerificationExpired,
    VerificationCanceled,
    MessageSent,
    MessageDelivered,
    MessageFailed,
    SmsRequestStarted,
    SmsRequestVerified,
    SmsRequestLocked,
    SmsRequestExpired,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        EventType::VerificationStarted,
        EventType::VerificationChannelVerified,
        EventType::VerificationVerified,
        EventType::VerificationLocked,
        EventType::VerificationExpired,
        EventType::VerificationCanceled,
        EventType::MessageSent,
        EventType::MessageDelivered,
        EventType::MessageFailed,
        EventType::SmsRequestStarted,
        EventType::SmsRequestVerified,
        EventType::SmsRequestLocked,
        EventType::SmsRequestExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::VerificationStarted => "verification.started",
            EventType::VerificationChannelVerified => "verification.channel_verified",
            EventType::VerificationVerified => "verification.verified",
            EventType::VerificationLocked => "verification.locked",
            EventType::VerificationExpired => "verification.expired",
            EventType::VerificationCanceled => "verification.canceled",
            EventType::MessageSent => "message.sent",
            EventType::MessageDelivered => "message.delivered",
            EventType::MessageFailed => "message.failed",
            EventType::SmsRequestStarted => "sms_request.started",
            EventType::SmsRequestVerified => "sms_request.verified",
            EventType::SmsRequestLocked => "sms_request.locked",
            EventType::SmsRequestExpired => "sms_request.expired",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long after the first try each retry waits, in seconds: the Standard Webhooks
/// specification's example schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
/// The first entry is the first try; a delivery is given up after the last.
pub const RETRY_SCHEDULE: [UnixSeconds; 8] = [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// An endpoint that has answered nothing but failures for this long is disabled.
pub const DISABLE_AFTER_FAILING_SECS: UnixSeconds = 5 * 86_400;

/// The longest `Retry-After` honoured: a day. A larger one still waits a day, not forever.
pub const MAX_RETRY_AFTER_SECS: UnixSeconds = 86_400;

/// How one try ended, as the worker saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryEnd {
    /// The endpoint answered with this HTTP status.
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// No connection (refused, reset, name not resolved, TLS failed).
    Connection,
    /// The request was not made: the URL is not allowed (a private address, say).
    Refused,
}

/// What to do with a delivery after a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered (a 2xx answer).
    Delivered,
    /// Try again at this time.
    Retry { at: UnixSeconds },
    /// Give up on this delivery; the endpoint stays as it is.
    GiveUp,
    /// Give up, and disable the endpoint: it answered `410 Gone`.
    Gone,
}

/// Whether a try's end is worth another try: timeouts, connection errors, `429` and `5xx`.
/// Another `4xx` (or a `3xx`: redirects are not followed) says the request itself is refused,
/// and sending it again would be refused again.
pub fn retryable(end: TryEnd) -> bool {
    match end {
        TryEnd::Timeout | TryEnd::Connection => true,
        TryEnd::Status(status) => status == 429 || (500..600).contains(&status),
        TryEnd::Refused => false,
    }
}

/// The verdict on try number `attempt` (1 for the first) made at `now`, of a delivery whose first
/// try was due at `first_due`: the schedule counts from there, so a slow endpoint does not push
/// every later retry back. `retry_after` (seconds, from the answer's `Retry-After`) is a minimum
/// wait, capped at a day.
pub fn verdict(
    end: TryEnd,
    attempt: u32,
    first_due: UnixSeconds,
    now: UnixSeconds,
    retry_after: Option<UnixSeconds>,
) -> Verdict {
    match end {
        TryEnd::Status(200..=299) => return Verdict::Delivered,
        TryEnd::Status(410) => return Verdict::Gone,
        _ => {}
    }
    if !retryable(end) {
        return Verdict::GiveUp;
    }
    let Some(wait) = RETRY_SCHEDULE.get(attempt as usize) else {
        return Verdict::GiveUp;
    };
    let scheduled = first_due + wait;
    let minimum = now + retry_after.unwrap_or(0).clamp(0, MAX_RETRY_AFTER_SECS);
    Verdict::Retry {
        at: scheduled.max(minimum).max(now),
    }
}

/// Whether an endpoint failing since `failing_since` has failed long enough by `now` to be
/// disabled.
pub fn failing_too_long(failing_since: Option<UnixSeconds>, now: UnixSeconds) -> bool {
    failing_since.is_some_and(|since| now - since >= DISABLE_AFTER_FAILING_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixSeconds = 1_800_000_000;

    #[test]
    fn event_types_round_trip_their_names() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventType::parse("verification.approved"), None);
        assert_eq!(EventType::parse(""), None);
        let mut names: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
    }

    #[test]
    fn a_2xx_is_delivered_and_410_is_gone_on_any_try() {
        for attempt in [1, 4, 8, 9] {
            for status in [200, 201, 202, 204, 299] {
                assert_eq!(
                    verdict(TryEnd::Status(status), attempt, T0, T0, None),
                    Verdict::Delivered
                );
            }
            assert_eq!(
                verdict(TryEnd::Status(410), attempt, T0, T0, Some(5)),
                Verdict::Gone
            );
        }
    }

    #[test]
    fn only_timeouts_connection_errors_429_and_5xx_are_retried() {
        let retried = [
            TryEnd::Timeout,
            TryEnd::Connection,
            TryEnd::Status(429),
            TryEnd::Status(500),
            TryEnd::Status(503),
            TryEnd::Status(599),
        ];
        for end in retried {
            assert!(retryable(end), "{end:?}");
            assert!(matches!(
                verdict(end, 1, T0, T0, None),
                Verdict::Retry { .. }
            ));
        }
        let given_up = [
            TryEnd::Refused,
            TryEnd::Status(301),
            TryEnd::Status(400),
            TryEnd::Status(401),
            TryEnd::Status(404),
            TryEnd::Status(413),
            TryEnd::Status(600),
            TryEnd::Status(100),
        ];
        for end in given_up {
            assert!(!retryable(end), "{end:?}");
            assert_eq!(verdict(end, 1, T0, T0, None), Verdict::GiveUp, "{end:?}");
        }
    }

    #[test]
    fn retries_follow_the_schedule_from_the_first_due_time_then_give_up() {
        // Try n (1-based) failing schedules try n + 1 at first_due + RETRY_SCHEDULE[n].
        for attempt in 1..RETRY_SCHEDULE.len() as u32 {
            let now = T0 + RETRY_SCHEDULE[attempt as usize - 1] + 3;
            assert_eq!(
                verdict(TryEnd::Status(503), attempt, T0, now, None),
                Verdict::Retry {
                    at: (T0 + RETRY_SCHEDULE[attempt as usize]).max(now)
                },
                "attempt {attempt}"
            );
        }
        let last = RETRY_SCHEDULE.len() as u32;
        assert_eq!(
            verdict(TryEnd::Timeout, last, T0, T0 + 100_000, None),
            Verdict::GiveUp
        );
        // Eight tries in all, spanning the schedule's 27 h 35 min 5 s.
        assert_eq!(RETRY_SCHEDULE.iter().sum::<i64>(), 99_305);
    }

    #[test]
    fn a_late_try_is_retried_no_earlier_than_now() {
        // The second try ran an hour late: the third is due at first_due + 300, already past.
        assert_eq!(
            verdict(TryEnd::Connection, 2, T0, T0 + 3_600, None),
            Verdict::Retry { at: T0 + 3_600 }
        );
    }

    #[test]
    fn retry_after_is_a_minimum_capped_at_a_day() {
        // Scheduled in 5 s; the endpoint asks for 120.
        assert_eq!(
            verdict(TryEnd::Status(429), 1, T0, T0, Some(120)),
            Verdict::Retry { at: T0 + 120 }
        );
        // Scheduled in 30 min; asking for 10 s changes nothing.
        assert_eq!(
            verdict(TryEnd::Status(503), 3, T0, T0 + 300, Some(10)),
            Verdict::Retry { at: T0 + 1_800 }
        );
        // Asking for a week waits a day.
        assert_eq!(
            verdict(TryEnd::Status(503), 1, T0, T0, Some(7 * 86_400)),
            Verdict::Retry {
                at: T0 + MAX_RETRY_AFTER_SECS
            }
        );
        // A negative value is no wait at all.
        assert_eq!(
            verdict(TryEnd::Status(503), 1, T0, T0, Some(-50)),
            Verdict::Retry { at: T0 + 5 }
        );
    }

    #[test]
    fn an_endpoint_is_disabled_after_five_days_of_failures() {
        assert!(!failing_too_long(None, T0));
        assert!(!failing_too_long(
            Some(T0),
            T0 + DISABLE_AFTER_FAILING_SECS - 1
        ));
        assert!(failing_too_long(Some(T0), T0 + DISABLE_AFTER_FAILING_SECS));
        assert!(failing_too_long(Some(T0), T0 + 10 * 86_400));
    }
}

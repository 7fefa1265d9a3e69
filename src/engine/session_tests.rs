//! Unit tests of the session state machine with a fixed clock.

use super::*;
use crate::engine::policy::{RequestedLimits, SessionSpec};

const T0: UnixSeconds = 1_800_000_000;

fn session(channels: &[Channel], mode: VerificationMode, limits: RequestedLimits) -> Session {
    let spec = SessionSpec::new(channels.to_vec(), mode, limits).unwrap();
    Session::new(&spec, T0)
}

fn email_sms(mode: VerificationMode) -> Session {
    session(
        &[Channel::Email, Channel::Sms],
        mode,
        RequestedLimits::default(),
    )
}

/// The "stored codes": email 111111, sms 222222, whatsapp 333333.
fn right(channel: Channel, code: &str) -> bool {
    let expected = match channel {
        Channel::Email => "111111",
        Channel::Sms => "222222",
        Channel::Whatsapp => "333333",
    };
    code == expected
}

fn outcome_of(outcome: &VerifyOutcome, channel: Channel) -> ChannelOutcome {
    outcome
        .results
        .iter()
        .find(|(c, _)| *c == channel)
        .unwrap()
        .1
}

#[test]
fn new_session_is_pending_with_full_attempts() {
    let s = email_sms(VerificationMode::Any);
    assert_eq!(s.expires_at, T0 + 600);
    let summary = s.summary(T0);
    assert_eq!(summary.status, SessionStatus::Pending);
    assert_eq!(summary.attempts_remaining, 5);
    assert!(summary.verified_channels.is_empty());
    assert!(!summary.session_verified);
    assert!(!summary.all_channels_verified);
}

#[test]
fn any_mode_is_verified_by_one_channel_and_keeps_the_others_open() {
    let mut s = email_sms(VerificationMode::Any);
    let out = s
        .verify(T0 + 1, &[(Channel::Sms, "222222")], right)
        .unwrap();
    assert_eq!(out.results, vec![(Channel::Sms, ChannelOutcome::Accepted)]);
    assert!(out.all_accepted());
    assert_eq!(out.verdict(), Verdict::Accepted);
    assert!(s.session_verified());
    assert!(!s.all_channels_verified());
    assert_eq!(s.status(T0 + 1), SessionStatus::Verified);
    // The other channel can still be verified later.
    s.verify(T0 + 2, &[(Channel::Email, "111111")], right)
        .unwrap();
    assert!(s.all_channels_verified());
    assert_eq!(s.verified_channels(), vec![Channel::Sms, Channel::Email]);
}

#[test]
fn all_mode_needs_every_channel() {
    let mut s = email_sms(VerificationMode::All);
    s.verify(T0, &[(Channel::Email, "111111")], right).unwrap();
    assert!(!s.session_verified());
    assert_eq!(s.status(T0), SessionStatus::Pending);
    s.verify(T0, &[(Channel::Sms, "222222")], right).unwrap();
    assert!(s.session_verified());
    assert!(s.all_channels_verified());
    assert_eq!(s.status(T0), SessionStatus::Verified);
}

#[test]
fn both_codes_in_one_call() {
    let mut s = email_sms(VerificationMode::All);
    let out = s
        .verify(
            T0,
            &[(Channel::Sms, "222222"), (Channel::Email, "111111")],
            right,
        )
        .unwrap();
    // Results come in the session's channel order, whatever the submission order.
    assert_eq!(
        out.results,
        vec![
            (Channel::Email, ChannelOutcome::Accepted),
            (Channel::Sms, ChannelOutcome::Accepted)
        ]
    );
    assert!(s.session_verified());
}

#[test]
fn verified_order_is_the_order_of_verification() {
    let mut s = session(
        &[Channel::Email, Channel::Sms, Channel::Whatsapp],
        VerificationMode::All,
        RequestedLimits::default(),
    );
    s.verify(T0, &[(Channel::Whatsapp, "333333")], right)
        .unwrap();
    s.verify(T0, &[(Channel::Email, "111111")], right).unwrap();
    s.verify(T0, &[(Channel::Sms, "222222")], right).unwrap();
    assert_eq!(
        s.verified_channels(),
        vec![Channel::Whatsapp, Channel::Email, Channel::Sms]
    );
}

#[test]
fn a_wrong_code_costs_one_attempt_on_the_channel_and_the_total() {
    let mut s = email_sms(VerificationMode::Any);
    let out = s.verify(T0, &[(Channel::Email, "000000")], right).unwrap();
    assert_eq!(
        out.results,
        vec![(Channel::Email, ChannelOutcome::InvalidOtp)]
    );
    assert_eq!(out.verdict(), Verdict::Rejected);
    assert_eq!(
        ChannelOutcome::InvalidOtp.error_message(),
        Some("Invalid OTP")
    );
    assert_eq!(s.failed_attempts, 1);
    assert_eq!(s.channels[0].failed_attempts, 1);
    assert_eq!(s.channels[1].failed_attempts, 0);
    assert_eq!(s.attempts_remaining(), 4);
}

#[test]
fn mixed_call_accepts_the_right_code_and_counts_the_wrong_one() {
    let mut s = email_sms(VerificationMode::All);
    let out = s
        .verify(
            T0,
            &[(Channel::Email, "111111"), (Channel::Sms, "999999")],
            right,
        )
        .unwrap();
    assert_eq!(outcome_of(&out, Channel::Email), ChannelOutcome::Accepted);
    assert_eq!(outcome_of(&out, Channel::Sms), ChannelOutcome::InvalidOtp);
    assert!(!out.all_accepted());
    assert_eq!(out.verdict(), Verdict::Accepted);
    assert_eq!(s.attempts_remaining(), 4);
}

#[test]
fn malformed_codes_are_wrong_codes() {
    let mut s = email_sms(VerificationMode::Any);
    for bad in ["abcdef", "", "12 34 56", "½"] {
        let out = s
            .verify(T0, &[(Channel::Email, bad)], |_, _| panic!("not compared"))
            .unwrap();
        assert_eq!(out.results[0].1, ChannelOutcome::InvalidOtp);
    }
    assert_eq!(s.failed_attempts, 4);
}

#[test]
fn codes_are_compared_after_normalisation() {
    let mut s = email_sms(VerificationMode::Any);
    // Arabic-Indic digits with surrounding white space.
    let arabic = " \u{0661}\u{0661}\u{0661}\u{0661}\u{0661}\u{0661} ";
    let out = s.verify(T0, &[(Channel::Email, arabic)], right).unwrap();
    assert_eq!(out.results[0].1, ChannelOutcome::Accepted);
}

#[test]
fn the_session_locks_for_good_at_max_attempts() {
    let mut s = email_sms(VerificationMode::Any);
    for i in 0..5 {
        assert_eq!(s.attempts_remaining(), 5 - i);
        s.verify(T0, &[(Channel::Email, "000000")], right).unwrap();
    }
    assert_eq!(s.attempts_remaining(), 0);
    assert!(s.is_locked());
    assert_eq!(s.status(T0), SessionStatus::Locked);
    // Even the right code is refused now, and nothing more is counted.
    let err = s
        .verify(T0, &[(Channel::Email, "111111")], right)
        .unwrap_err();
    assert_eq!(err, SessionError::Locked);
    assert_eq!(s.failed_attempts, 5);
    assert!(!s.session_verified());
}

#[test]
fn attempts_never_exceed_the_total_within_one_call() {
    let limits = RequestedLimits {
        max_attempts: Some(1),
        ..Default::default()
    };
    let mut s = session(
        &[Channel::Email, Channel::Sms],
        VerificationMode::All,
        limits,
    );
    let out = s
        .verify(
            T0,
            &[(Channel::Email, "000000"), (Channel::Sms, "000000")],
            right,
        )
        .unwrap();
    assert_eq!(outcome_of(&out, Channel::Email), ChannelOutcome::InvalidOtp);
    assert_eq!(
        outcome_of(&out, Channel::Sms),
        ChannelOutcome::SessionLocked
    );
    assert_eq!(
        ChannelOutcome::SessionLocked.error_message(),
        Some("Too many attempts")
    );
    assert_eq!(s.failed_attempts, 1);
    assert_eq!(out.verdict(), Verdict::Rejected);
}

#[test]
fn a_right_code_beside_the_last_wrong_one_still_counts() {
    let limits = RequestedLimits {
        max_attempts: Some(1),
        ..Default::default()
    };
    let mut s = session(
        &[Channel::Email, Channel::Sms],
        VerificationMode::Any,
        limits,
    );
    let out = s
        .verify(
            T0,
            &[(Channel::Email, "000000"), (Channel::Sms, "222222")],
            right,
        )
        .unwrap();
    assert_eq!(outcome_of(&out, Channel::Sms), ChannelOutcome::Accepted);
    assert_eq!(outcome_of(&out, Channel::Email), ChannelOutcome::InvalidOtp);
    assert!(s.session_verified());
    // Verified, but the total is used up: the session answers locked to any further verify.
    assert_eq!(s.status(T0), SessionStatus::Verified);
    assert_eq!(
        s.verify(T0, &[(Channel::Sms, "222222")], right),
        Err(SessionError::Locked)
    );
}

#[test]
fn reverifying_a_verified_channel_is_free() {
    let mut s = email_sms(VerificationMode::Any);
    s.verify(T0, &[(Channel::Email, "111111")], right).unwrap();
    let again = s.verify(T0, &[(Channel::Email, "111111")], right).unwrap();
    assert_eq!(again.results[0].1, ChannelOutcome::Accepted);
    let wrong = s.verify(T0, &[(Channel::Email, "000000")], right).unwrap();
    assert_eq!(wrong.results[0].1, ChannelOutcome::InvalidOtp);
    assert_eq!(s.failed_attempts, 0);
    assert_eq!(s.channels[0].failed_attempts, 0);
    assert_eq!(s.verified_channels(), vec![Channel::Email]);
    assert_eq!(s.channels[0].verified_rank, Some(1));
}

#[test]
fn expiry_boundary_is_exact() {
    let mut s = email_sms(VerificationMode::Any);
    let last_good_second = s.expires_at - 1;
    assert!(!s.is_expired(last_good_second));
    assert!(s.is_expired(s.expires_at));
    assert_eq!(s.status(s.expires_at), SessionStatus::Expired);
    let err = s
        .verify(s.expires_at, &[(Channel::Email, "111111")], right)
        .unwrap_err();
    assert_eq!(err, SessionError::Expired);
    assert_eq!(s.failed_attempts, 0);
    let out = s
        .verify(last_good_second, &[(Channel::Email, "111111")], right)
        .unwrap();
    assert_eq!(out.results[0].1, ChannelOutcome::Accepted);
}

#[test]
fn expired_is_answered_whatever_the_code() {
    let mut s = email_sms(VerificationMode::Any);
    let later = s.expires_at + 3600;
    for code in ["111111", "000000", "garbage"] {
        assert_eq!(
            s.verify(later, &[(Channel::Email, code)], right),
            Err(SessionError::Expired)
        );
    }
    assert_eq!(s.failed_attempts, 0);
}

#[test]
fn a_verified_session_reports_verified_after_expiry_but_refuses_verify() {
    let mut s = email_sms(VerificationMode::Any);
    s.verify(T0, &[(Channel::Email, "111111")], right).unwrap();
    assert_eq!(s.status(s.expires_at + 1), SessionStatus::Verified);
    assert_eq!(
        s.verify(s.expires_at + 1, &[(Channel::Email, "111111")], right),
        Err(SessionError::Expired)
    );
}

#[test]
fn a_locked_session_stays_locked_after_expiry() {
    let limits = RequestedLimits {
        max_attempts: Some(1),
        ..Default::default()
    };
    let mut s = session(&[Channel::Email], VerificationMode::Any, limits);
    s.verify(T0, &[(Channel::Email, "000000")], right).unwrap();
    assert_eq!(s.status(s.expires_at + 10), SessionStatus::Locked);
    assert_eq!(
        s.verify(s.expires_at + 10, &[(Channel::Email, "111111")], right),
        Err(SessionError::Locked)
    );
}

#[test]
fn request_errors() {
    let mut s = email_sms(VerificationMode::Any);
    assert_eq!(
        s.verify(T0, &[], right),
        Err(SessionError::NothingSubmitted)
    );
    assert_eq!(
        s.verify(T0, &[(Channel::Whatsapp, "333333")], right),
        Err(SessionError::ChannelNotInSession(Channel::Whatsapp))
    );
    assert_eq!(
        s.verify(T0, &[(Channel::Email, "1"), (Channel::Email, "2")], right),
        Err(SessionError::SubmittedTwice(Channel::Email))
    );
    assert_eq!(s.failed_attempts, 0);
}

#[test]
fn per_channel_limit_locks_only_that_channel_in_any_mode() {
    let limits = RequestedLimits {
        max_attempts: Some(6),
        max_attempts_per_channel: Some(2),
        ..Default::default()
    };
    let mut s = session(
        &[Channel::Email, Channel::Sms],
        VerificationMode::Any,
        limits,
    );
    s.verify(T0, &[(Channel::Email, "0")], right).unwrap();
    s.verify(T0, &[(Channel::Email, "0")], right).unwrap();
    // The email channel is out of attempts: even its right code is not looked at, and costs nothing.
    let out = s.verify(T0, &[(Channel::Email, "111111")], right).unwrap();
    assert_eq!(
        out.results,
        vec![(Channel::Email, ChannelOutcome::ChannelLocked)]
    );
    assert_eq!(out.verdict(), Verdict::Locked);
    assert_eq!(s.failed_attempts, 2);
    assert_eq!(s.status(T0), SessionStatus::Pending);
    // SMS still works.
    s.verify(T0, &[(Channel::Sms, "222222")], right).unwrap();
    assert_eq!(s.status(T0), SessionStatus::Verified);
}

#[test]
fn per_channel_lock_locks_an_all_mode_session() {
    let limits = RequestedLimits {
        max_attempts: Some(5),
        max_attempts_per_channel: Some(1),
        ..Default::default()
    };
    let mut s = session(
        &[Channel::Email, Channel::Sms],
        VerificationMode::All,
        limits,
    );
    s.verify(T0, &[(Channel::Sms, "0")], right).unwrap();
    assert!(s.is_locked());
    assert_eq!(s.status(T0), SessionStatus::Locked);
    assert_eq!(
        s.verify(T0, &[(Channel::Email, "111111")], right),
        Err(SessionError::Locked)
    );
}

#[test]
fn any_mode_locks_when_every_channel_is_locked() {
    let limits = RequestedLimits {
        max_attempts: Some(5),
        max_attempts_per_channel: Some(1),
        ..Default::default()
    };
    let mut s = session(
        &[Channel::Email, Channel::Sms],
        VerificationMode::Any,
        limits,
    );
    s.verify(T0, &[(Channel::Sms, "0")], right).unwrap();
    assert!(!s.is_locked());
    s.verify(T0, &[(Channel::Email, "0")], right).unwrap();
    assert!(s.is_locked());
}

#[test]
fn resend_marks_unverified_channels() {
    let mut s = email_sms(VerificationMode::Any);
    let now = T0 + 30;
    assert_eq!(
        s.resend(now, None, 5).unwrap(),
        vec![Channel::Email, Channel::Sms]
    );
    assert_eq!(s.channels[0].last_sent_at, now);
    // Attempts and expiry do not move.
    assert_eq!(s.expires_at, T0 + 600);
}

#[test]
fn resend_cooldown_is_30_seconds_per_channel() {
    let mut s = email_sms(VerificationMode::Any);
    assert_eq!(
        s.resend(T0 + 29, Some(&[Channel::Sms]), 5),
        Err(ResendError::CoolingDown { retry_after: 1 })
    );
    assert_eq!(
        s.resend(T0 + 5, None, 5),
        Err(ResendError::CoolingDown { retry_after: 25 })
    );
    assert_eq!(
        s.resend(T0 + 30, Some(&[Channel::Sms]), 5).unwrap(),
        vec![Channel::Sms]
    );
    // SMS is cooling again, email is not: asking for both sends neither.
    assert_eq!(
        s.resend(T0 + 31, None, 5),
        Err(ResendError::CoolingDown { retry_after: 29 })
    );
    assert_eq!(
        s.resend(T0 + 31, Some(&[Channel::Email]), 5).unwrap(),
        vec![Channel::Email]
    );
}

#[test]
fn a_session_gets_at_most_its_resends() {
    let mut s = email_sms(VerificationMode::Any);
    for n in 1..=3 {
        s.resend(T0 + 30 * n, Some(&[Channel::Sms]), 3).unwrap();
        assert_eq!(s.resends, n as u32);
    }
    let before = s.clone();
    assert_eq!(
        s.resend(T0 + 120, Some(&[Channel::Email]), 3),
        Err(ResendError::TooManyResends)
    );
    assert_eq!(s, before, "a refused resend changes nothing");
    // The cooldown is told first: it ends, the cap does not.
    assert_eq!(
        s.resend(T0 + 100, Some(&[Channel::Sms]), 3),
        Err(ResendError::CoolingDown { retry_after: 20 })
    );
}

#[test]
fn resend_skips_verified_channels() {
    let mut s = email_sms(VerificationMode::Any);
    s.verify(T0, &[(Channel::Email, "111111")], right).unwrap();
    assert_eq!(s.resend(T0 + 40, None, 5).unwrap(), vec![Channel::Sms]);
    assert_eq!(
        s.resend(T0 + 80, Some(&[Channel::Email]), 5),
        Err(ResendError::NothingToResend)
    );
    assert_eq!(
        s.resend(
            T0 + 80,
            Some(&[Channel::Email, Channel::Sms, Channel::Sms]),
            5
        )
        .unwrap(),
        vec![Channel::Sms]
    );
}

#[test]
fn resend_keeps_the_attempts_used() {
    let mut s = email_sms(VerificationMode::Any);
    s.verify(T0, &[(Channel::Sms, "0")], right).unwrap();
    s.resend(T0 + 30, Some(&[Channel::Sms]), 5).unwrap();
    assert_eq!(s.failed_attempts, 1);
    assert_eq!(s.channels[1].failed_attempts, 1);
}

#[test]
fn resend_is_refused_on_closed_sessions() {
    let mut s = email_sms(VerificationMode::Any);
    assert_eq!(
        s.resend(s.expires_at, None, 5),
        Err(ResendError::Session(SessionError::Expired))
    );
    assert_eq!(
        s.resend(T0 + 30, Some(&[Channel::Whatsapp]), 5),
        Err(ResendError::Session(SessionError::ChannelNotInSession(
            Channel::Whatsapp
        )))
    );
    for _ in 0..5 {
        s.verify(T0, &[(Channel::Sms, "0")], right).unwrap();
    }
    assert_eq!(
        s.resend(T0 + 30, None, 5),
        Err(ResendError::Session(SessionError::Locked))
    );
}

#[test]
fn overlong_codes_are_malformed_and_cost_nothing() {
    let mut s = email_sms(VerificationMode::Any);
    let long = "1".repeat(crate::engine::code::MAX_SUBMITTED_CODE_CHARS + 1);
    let before = s.clone();
    assert_eq!(
        s.verify(
            T0 + 1,
            &[(Channel::Email, "111111"), (Channel::Sms, long.as_str())],
            right
        ),
        Err(SessionError::CodeTooLong(Channel::Sms))
    );
    assert_eq!(s, before, "nothing verified, nothing counted");
    // A separator inside the code is a wrong code like any other (one rule for every door).
    let out = s
        .verify(T0 + 1, &[(Channel::Email, "111-111")], right)
        .unwrap();
    assert_eq!(outcome_of(&out, Channel::Email), ChannelOutcome::InvalidOtp);
    assert_eq!(s.failed_attempts, 1);
}

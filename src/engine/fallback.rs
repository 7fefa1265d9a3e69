//! Channel fallback (issue 20): a session's channels tried one after the other, in the order the
//! integrator gave. Only the first is sent at once; the next is sent when the current one's
//! message fails, or when the current one is neither verified nor delivered `after_secs` after
//! it was sent; nothing more is sent once a channel is verified (fallback is for `any` sessions)
//! or when the last channel has had its turn. These rules decide; the store keeps each step's
//! time as a row, so a restart or another instance carries the timers on.

use super::UnixSeconds;
use super::delivery::DeliveryStatus;
use super::session::{Session, SessionError};

/// The shortest wait before the next channel: a message often takes a few seconds to arrive.
pub const MIN_AFTER_SECS: i64 = 5;

/// The longest: a code lives minutes, so a later fallback would come after it expired.
pub const MAX_AFTER_SECS: i64 = 3600;

/// How long the current channel is given before the next is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FallbackPolicy {
    after_secs: i64,
}

impl FallbackPolicy {
    /// The policy for `after_secs`, or why it is refused.
    pub fn new(after_secs: i64) -> Result<FallbackPolicy, String> {
        if (MIN_AFTER_SECS..=MAX_AFTER_SECS).contains(&after_secs) {
            Ok(FallbackPolicy { after_secs })
        } else {
            Err(format!(
                "must be between {MIN_AFTER_SECS} and {MAX_AFTER_SECS} seconds"
            ))
        }
    }

    pub fn after_secs(self) -> i64 {
        self.after_secs
    }
}

/// Where one channel of a fallback session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Its turn has not come.
    NotSent,
    /// Sent at this time; neither delivered nor failed yet.
    Pending { sent_at: UnixSeconds },
    /// Its provider reported it delivered.
    Delivered { sent_at: UnixSeconds },
    /// It failed for good.
    Failed { sent_at: UnixSeconds },
}

impl Step {
    fn sent(self) -> bool {
        self != Step::NotSent
    }
}

/// What the fallback does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackAction {
    /// Send the channel at this position now.
    Send(usize),
    /// Nothing until this time, when it is decided again (the current channel's timer).
    WaitUntil(UnixSeconds),
    /// Nothing more will be sent: a channel is verified, the current one was delivered, or the
    /// last one has had its turn.
    Done,
}

/// The next action for a session whose channels stand as `steps` (in order; the ones sent form
/// a prefix), `verified` when any of its channels is.
pub fn next_action(
    policy: FallbackPolicy,
    steps: &[Step],
    verified: bool,
    now: UnixSeconds,
) -> FallbackAction {
    if verified {
        return FallbackAction::Done;
    }
    let Some(current) = steps.iter().rposition(|step| step.sent()) else {
        return if steps.is_empty() {
            FallbackAction::Done
        } else {
            FallbackAction::Send(0)
        };
    };
    let next = current + 1;
    let send_next = if next < steps.len() {
        FallbackAction::Send(next)
    } else {
        FallbackAction::Done
    };
    match steps[current] {
        Step::NotSent => unreachable!("the current step is a sent one"),
        Step::Failed { .. } => send_next,
        Step::Delivered { .. } => FallbackAction::Done,
        Step::Pending { sent_at } => {
            let due = sent_at.saturating_add(policy.after_secs);
            if now >= due {
                send_next
            } else {
                FallbackAction::WaitUntil(due)
            }
        }
    }
}

/// Each channel's step, from the session (when each channel's code was last sent) and the
/// status of each channel's latest message (`None`: none was sent).
pub fn steps_of(session: &Session, latest: &[Option<DeliveryStatus>]) -> Vec<Step> {
    session
        .channels
        .iter()
        .zip(latest)
        .map(|(channel, status)| {
            let sent_at = channel.last_sent_at;
            match status {
                None => Step::NotSent,
                Some(DeliveryStatus::Queued | DeliveryStatus::Sent) => Step::Pending { sent_at },
                Some(DeliveryStatus::Delivered) => Step::Delivered { sent_at },
                Some(DeliveryStatus::Failed) => Step::Failed { sent_at },
            }
        })
        .collect()
}

/// What a fallback session does now: nothing more once it is verified, locked or expired;
/// otherwise what [`next_action`] says of its steps.
pub fn decide(
    policy: FallbackPolicy,
    session: &Session,
    latest: &[Option<DeliveryStatus>],
    now: UnixSeconds,
) -> FallbackAction {
    if session.ensure_open(now).is_err() {
        return FallbackAction::Done;
    }
    next_action(
        policy,
        &steps_of(session, latest),
        session.session_verified(),
        now,
    )
}

/// Marks the channel at `position` as sent now (its turn came), refusing a session that is no
/// longer open. Not a resend: it counts against no resend budget and waits for no cooldown.
pub fn send_step(
    session: &mut Session,
    position: usize,
    now: UnixSeconds,
) -> Result<super::Channel, SessionError> {
    session.ensure_open(now)?;
    let channel = session
        .channels
        .get_mut(position)
        .ok_or(SessionError::NothingSubmitted)?;
    channel.last_sent_at = now;
    Ok(channel.channel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use FallbackAction::{Done, Send, WaitUntil};
    use Step::{Delivered, Failed, NotSent, Pending};

    const T0: UnixSeconds = 1_800_000_000;

    fn policy() -> FallbackPolicy {
        FallbackPolicy::new(30).unwrap()
    }

    #[test]
    fn the_wait_is_bounded() {
        assert!(FallbackPolicy::new(MIN_AFTER_SECS - 1).is_err());
        assert!(FallbackPolicy::new(MIN_AFTER_SECS).is_ok());
        assert!(FallbackPolicy::new(MAX_AFTER_SECS).is_ok());
        assert!(FallbackPolicy::new(MAX_AFTER_SECS + 1).is_err());
        assert!(FallbackPolicy::new(-30).is_err());
    }

    #[test]
    fn a_whatsapp_then_sms_session_step_by_step() {
        let p = policy();
        // Nothing sent yet: the first channel.
        assert_eq!(next_action(p, &[NotSent, NotSent], false, T0), Send(0));
        // WhatsApp accepted, no receipt: its timer.
        let waiting = [Pending { sent_at: T0 }, NotSent];
        assert_eq!(next_action(p, &waiting, false, T0 + 29), WaitUntil(T0 + 30));
        // Neither delivered nor verified after 30 s: SMS.
        assert_eq!(next_action(p, &waiting, false, T0 + 30), Send(1));
        // WhatsApp failed for good: SMS at once.
        let failed = [Failed { sent_at: T0 }, NotSent];
        assert_eq!(next_action(p, &failed, false, T0 + 1), Send(1));
        // Delivered: the person has it; nothing more.
        let delivered = [Delivered { sent_at: T0 }, NotSent];
        assert_eq!(next_action(p, &delivered, false, T0 + 300), Done);
        // Verified on the first channel: nothing more, whatever the clock.
        assert_eq!(next_action(p, &waiting, true, T0 + 300), Done);
        // The last channel's turn came: its timer ends nothing further.
        let last = [Failed { sent_at: T0 }, Pending { sent_at: T0 + 1 }];
        assert_eq!(next_action(p, &last, false, T0 + 10), WaitUntil(T0 + 31));
        assert_eq!(next_action(p, &last, false, T0 + 31), Done);
        let last_failed = [Failed { sent_at: T0 }, Failed { sent_at: T0 + 1 }];
        assert_eq!(next_action(p, &last_failed, false, T0 + 2), Done);
        assert_eq!(next_action(p, &[], false, T0), Done);
    }

    /// Every state of three channels (a sent prefix of pending, delivered or failed steps, sent
    /// at one of two times), verified or not, at clock times around each timer.
    fn every_case() -> Vec<(Vec<Step>, bool, UnixSeconds)> {
        let sent = |kind: usize, at: UnixSeconds| match kind {
            0 => Pending { sent_at: at },
            1 => Delivered { sent_at: at },
            _ => Failed { sent_at: at },
        };
        let mut cases = Vec::new();
        for prefix in 0..=3usize {
            for kinds in 0..3usize.pow(prefix as u32) {
                for times in 0..(1usize << prefix) {
                    let steps: Vec<Step> = (0..3)
                        .map(|i| {
                            if i < prefix {
                                let kind = kinds / 3usize.pow(i as u32) % 3;
                                sent(kind, T0 + 10 * i as i64 + (times >> i & 1) as i64)
                            } else {
                                NotSent
                            }
                        })
                        .collect();
                    for verified in [false, true] {
                        for offset in [-1, 0, 29, 30, 31, 45, 100] {
                            cases.push((steps.clone(), verified, T0 + offset));
                        }
                    }
                }
            }
        }
        cases
    }

    #[test]
    fn over_every_state_each_channel_is_sent_once_in_order_and_only_when_its_turn_came() {
        let p = policy();
        let cases = every_case();
        assert!(cases.len() > 500, "{} cases", cases.len());
        for (steps, verified, now) in cases {
            let action = next_action(p, &steps, verified, now);
            let sent = steps.iter().filter(|s| s.sent()).count();
            let current = sent.checked_sub(1).map(|i| steps[i]);
            match action {
                Send(index) => {
                    assert!(!verified, "{steps:?}: sent after a verification");
                    assert_eq!(index, sent, "{steps:?}: only the next one, once");
                    match current {
                        None => assert_eq!(index, 0),
                        Some(Failed { .. }) => {}
                        Some(Pending { sent_at }) => assert!(now >= sent_at + 30, "{steps:?}"),
                        Some(other) => panic!("{steps:?}: sent the next after {other:?}"),
                    }
                }
                WaitUntil(due) => {
                    assert!(due > now, "{steps:?}: a wait ends in the future");
                    assert!(matches!(current, Some(Pending { sent_at }) if due == sent_at + 30));
                }
                Done => {
                    let pending_due =
                        matches!(current, Some(Pending { sent_at }) if now >= sent_at + 30);
                    let failed = matches!(current, Some(Failed { .. }));
                    assert!(
                        verified
                            || matches!(current, Some(Delivered { .. }))
                            || ((pending_due || failed) && sent == steps.len()),
                        "{steps:?} at {now}: stopped with a channel still to try"
                    );
                }
            }
        }
    }

    fn session(now: UnixSeconds) -> Session {
        use crate::engine::{Channel, SessionSpec, VerificationMode};
        let spec = SessionSpec::new(
            vec![Channel::Whatsapp, Channel::Sms, Channel::Email],
            VerificationMode::Any,
            Default::default(),
        )
        .unwrap();
        Session::new(&spec, now)
    }

    #[test]
    fn a_session_decides_from_its_messages_and_stops_when_it_closes() {
        use DeliveryStatus::{Delivered as D, Failed as F, Queued as Q, Sent as S};
        let p = policy();
        let mut s = session(T0);
        assert_eq!(
            decide(p, &s, &[Some(Q), None, None], T0 + 10),
            WaitUntil(T0 + 30)
        );
        assert_eq!(decide(p, &s, &[Some(S), None, None], T0 + 30), Send(1));
        assert_eq!(decide(p, &s, &[Some(F), None, None], T0 + 1), Send(1));
        assert_eq!(decide(p, &s, &[Some(D), None, None], T0 + 31), Done);
        // The second channel's turn: its timer counts from when it was sent.
        assert_eq!(
            send_step(&mut s, 1, T0 + 30),
            Ok(crate::engine::Channel::Sms)
        );
        assert_eq!(
            decide(p, &s, &[Some(S), Some(Q), None], T0 + 40),
            WaitUntil(T0 + 60)
        );
        assert_eq!(decide(p, &s, &[Some(S), Some(S), None], T0 + 60), Send(2));
        // A verified channel ends it, as does the session's end.
        s.channels[0].verified_rank = Some(1);
        assert_eq!(decide(p, &s, &[Some(S), Some(Q), None], T0 + 60), Done);
        s.channels[0].verified_rank = None;
        let end = s.expires_at;
        assert_eq!(decide(p, &s, &[Some(S), Some(Q), None], end), Done);
        assert_eq!(send_step(&mut s, 2, end), Err(SessionError::Expired));
        s.failed_attempts = s.limits.max_attempts;
        assert_eq!(decide(p, &s, &[Some(S), Some(Q), None], T0 + 61), Done);
    }
}

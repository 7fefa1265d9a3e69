//! Model-based test of the session: random sequences of verify, resend and clock moves run
//! against the engine and against a plain reference model written from the contract's words,
//! with the invariants checked after every step. The codes live beside the session, as the store
//! keeps them, and are compared by the `matches` closure the service would pass.

use proptest::prelude::*;

use super::*;
use crate::engine::code::MAX_SUBMITTED_CODE_CHARS;
use crate::engine::policy::{RequestedLimits, SessionSpec};

const T0: UnixSeconds = 1_800_000_000;

/// What a person types for one channel.
#[derive(Clone, Debug)]
enum Guess {
    Right,
    /// The right code in Arabic-Indic digits, with white space around it.
    RightInAnotherScript,
    Wrong,
    /// The channel's code before its last resend.
    Replaced,
    /// Not a code at all (letters, separators): a wrong guess.
    Garbage(String),
    /// Longer than any code: a malformed request, refused as a whole.
    TooLong,
}

#[derive(Clone, Debug)]
enum Step {
    Verify(Vec<(usize, Guess)>),
    Resend(Option<Vec<usize>>),
    Wait(i64),
}

/// The reference: one record per channel and the session's totals, nothing clever.
#[derive(Clone, Debug)]
struct ModelChannel {
    code: String,
    replaced: Vec<String>,
    failed: u32,
    verified: bool,
    last_sent: i64,
}

#[derive(Clone, Debug)]
struct Model {
    all_mode: bool,
    max_attempts: u32,
    per_channel: Option<u32>,
    expires_at: i64,
    failed: u32,
    channels: Vec<ModelChannel>,
    verified_order: Vec<usize>,
}

impl Model {
    fn channel_closed(&self, i: usize) -> bool {
        let c = &self.channels[i];
        !c.verified && self.per_channel.is_some_and(|limit| c.failed >= limit)
    }

    fn session_verified(&self) -> bool {
        if self.all_mode {
            self.channels.iter().all(|c| c.verified)
        } else {
            self.channels.iter().any(|c| c.verified)
        }
    }

    /// Locked: no attempts left, or no way left to become verified.
    fn locked(&self) -> bool {
        if self.failed >= self.max_attempts {
            return true;
        }
        if self.session_verified() {
            return false;
        }
        let open: Vec<usize> = (0..self.channels.len())
            .filter(|&i| !self.channels[i].verified)
            .collect();
        if self.all_mode {
            open.iter().any(|&i| self.channel_closed(i))
        } else {
            open.iter().all(|&i| self.channel_closed(i))
        }
    }
}

fn arabic(code: &str) -> String {
    let digits: String = code
        .bytes()
        .map(|b| char::from_u32(0x0660 + u32::from(b - b'0')).unwrap_or('?'))
        .collect();
    format!(" {digits}\t")
}

fn guess_strategy() -> impl Strategy<Value = Guess> {
    prop_oneof![
        4 => Just(Guess::Right),
        1 => Just(Guess::RightInAnotherScript),
        4 => Just(Guess::Wrong),
        2 => Just(Guess::Replaced),
        1 => "[a-z -]{0,8}".prop_map(Guess::Garbage),
        1 => Just(Guess::TooLong),
    ]
}

fn step_strategy(channels: usize) -> impl Strategy<Value = Step> {
    let indices = proptest::sample::subsequence((0..channels).collect::<Vec<_>>(), 1..=channels);
    prop_oneof![
        5 => (indices.clone(), proptest::collection::vec(guess_strategy(), channels))
            .prop_map(|(picked, guesses)| Step::Verify(picked.into_iter().zip(guesses).collect())),
        2 => proptest::option::of(indices).prop_map(Step::Resend),
        2 => prop_oneof![0i64..=5, 25i64..=40, 100i64..=700].prop_map(Step::Wait),
    ]
}

fn scenario() -> impl Strategy<Value = (Vec<Channel>, bool, u32, Option<u32>, i64, Vec<Step>)> {
    let channels = proptest::sample::subsequence(Channel::ALL.to_vec(), 1..=3);
    (
        channels,
        any::<bool>(),
        1u32..=8,
        proptest::option::of(1u32..=8),
        1i64..=600,
    )
        .prop_flat_map(|(channels, all_mode, max, per_channel, expires_in)| {
            let steps = proptest::collection::vec(step_strategy(channels.len()), 1..40);
            (
                Just(channels),
                Just(all_mode),
                Just(max),
                Just(per_channel),
                Just(expires_in),
                steps,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_session_follows_the_reference_model(
        (channels, all_mode, max_attempts, per_channel, expires_in, steps) in scenario()
    ) {
        let mode = if all_mode { VerificationMode::All } else { VerificationMode::Any };
        let spec = SessionSpec::new(
            channels.clone(),
            mode,
            RequestedLimits {
                max_attempts: Some(i64::from(max_attempts)),
                max_attempts_per_channel: per_channel.map(i64::from),
                expires_in: Some(expires_in),
                ..RequestedLimits::default()
            },
        )
        .expect("a valid spec");
        let mut session = Session::new(&spec, T0);
        let mut fresh_codes = 100_000u32..;
        let mut next_code = move || format!("{:06}", fresh_codes.next().unwrap_or(0));
        let mut model = Model {
            all_mode,
            max_attempts,
            // A per-channel limit above the total acts as the total.
            per_channel: per_channel.map(|p| p.min(max_attempts)),
            expires_at: T0 + expires_in,
            failed: 0,
            channels: channels
                .iter()
                .map(|_| ModelChannel {
                    code: next_code(),
                    replaced: Vec::new(),
                    failed: 0,
                    verified: false,
                    last_sent: T0,
                })
                .collect(),
            verified_order: Vec::new(),
        };
        let mut now = T0;
        let mut was_locked = false;

        for step in steps {
            let verified_before = session.verified_channels();
            match step {
                Step::Wait(seconds) => now += seconds,
                Step::Verify(picks) => {
                    let typed: Vec<(Channel, String)> = picks
                        .iter()
                        .map(|(i, guess)| {
                            let c = &model.channels[*i];
                            let text = match guess {
                                Guess::Right => c.code.clone(),
                                Guess::RightInAnotherScript => arabic(&c.code),
                                Guess::Wrong => "999999".to_owned(),
                                Guess::Replaced => c.replaced.last().cloned().unwrap_or_else(|| "999998".to_owned()),
                                Guess::Garbage(text) => text.clone(),
                                Guess::TooLong => "1".repeat(MAX_SUBMITTED_CODE_CHARS + 1),
                            };
                            (channels[*i], text)
                        })
                        .collect();
                    let submitted: Vec<(Channel, &str)> =
                        typed.iter().map(|(c, t)| (*c, t.as_str())).collect();
                    let codes: Vec<(Channel, String)> = channels
                        .iter()
                        .zip(&model.channels)
                        .map(|(c, m)| (*c, m.code.clone()))
                        .collect();
                    let result = session.verify(now, &submitted, |channel, code| {
                        codes.iter().any(|(c, right)| *c == channel && right == code)
                    });

                    // The model's answer, from the contract's rules.
                    let too_long = picks.iter().any(|(_, g)| matches!(g, Guess::TooLong));
                    if too_long {
                        prop_assert!(matches!(result, Err(SessionError::CodeTooLong(_))), "{result:?}");
                        continue;
                    }
                    if model.locked() {
                        prop_assert_eq!(result, Err(SessionError::Locked));
                        continue;
                    }
                    if now >= model.expires_at {
                        prop_assert_eq!(result, Err(SessionError::Expired));
                        continue;
                    }
                    let outcome = result.expect("an open session answers");
                    // Right codes on channels that still take codes count first, whatever
                    // their place in the call.
                    let right: Vec<bool> = picks
                        .iter()
                        .map(|(i, g)| {
                            matches!(g, Guess::Right | Guess::RightInAnotherScript)
                                && !model.channel_closed(*i)
                        })
                        .collect();
                    for ((i, _), &is_right) in picks.iter().zip(&right) {
                        if is_right && !model.channels[*i].verified {
                            model.channels[*i].verified = true;
                            model.verified_order.push(*i);
                        }
                    }
                    let mut expected = Vec::new();
                    for ((i, _), &is_right) in picks.iter().zip(&right) {
                        let answer = if is_right {
                            ChannelOutcome::Accepted
                        } else if model.channel_closed(*i) {
                            ChannelOutcome::ChannelLocked
                        } else if model.channels[*i].verified {
                            ChannelOutcome::InvalidOtp
                        } else if model.failed >= model.max_attempts {
                            ChannelOutcome::SessionLocked
                        } else {
                            model.failed += 1;
                            model.channels[*i].failed += 1;
                            ChannelOutcome::InvalidOtp
                        };
                        expected.push((*i, answer));
                    }
                    expected.sort_by_key(|(i, _)| *i);
                    let expected: Vec<(Channel, ChannelOutcome)> =
                        expected.into_iter().map(|(i, o)| (channels[i], o)).collect();
                    prop_assert_eq!(&outcome.results, &expected);
                    // A replaced code never verifies its channel.
                    for (i, guess) in &picks {
                        if matches!(guess, Guess::Replaced) {
                            prop_assert!(
                                !outcome.results.iter().any(|(c, o)| *c == channels[*i] && o.is_success()),
                                "a replaced code verified {}", channels[*i]
                            );
                        }
                    }
                }
                Step::Resend(which) => {
                    let wanted: Vec<Channel> = which
                        .as_ref()
                        .map(|w| w.iter().map(|&i| channels[i]).collect())
                        .unwrap_or_default();
                    let result = session.resend(now, which.as_ref().map(|_| wanted.as_slice()), u32::MAX);
                    let indices: Vec<usize> = match &which {
                        Some(w) => w.clone(),
                        None => (0..channels.len()).collect(),
                    };
                    if model.locked() {
                        prop_assert_eq!(result, Err(ResendError::Session(SessionError::Locked)));
                        continue;
                    }
                    if now >= model.expires_at {
                        prop_assert_eq!(result, Err(ResendError::Session(SessionError::Expired)));
                        continue;
                    }
                    let due: Vec<usize> = indices
                        .into_iter()
                        .filter(|&i| !model.channels[i].verified && !model.channel_closed(i))
                        .collect();
                    if due.is_empty() {
                        prop_assert_eq!(result, Err(ResendError::NothingToResend));
                        continue;
                    }
                    let wait = due
                        .iter()
                        .map(|&i| model.channels[i].last_sent + RESEND_COOLDOWN_SECS - now)
                        .max()
                        .unwrap_or(0);
                    if wait > 0 {
                        prop_assert_eq!(result, Err(ResendError::CoolingDown { retry_after: wait }));
                        continue;
                    }
                    let resent = result.expect("a due resend is sent");
                    prop_assert_eq!(resent, due.iter().map(|&i| channels[i]).collect::<Vec<_>>());
                    for &i in &due {
                        let fresh = next_code();
                        let c = &mut model.channels[i];
                        c.replaced.push(std::mem::replace(&mut c.code, fresh));
                        c.last_sent = now;
                    }
                }
            }

            // Invariants, after every step.
            let summary = session.summary(now);
            prop_assert!(session.failed_attempts <= max_attempts, "attempts never exceed the limit");
            prop_assert_eq!(session.failed_attempts, model.failed);
            prop_assert_eq!(summary.attempts_remaining, max_attempts - model.failed);
            for (state, m) in session.channels.iter().zip(&model.channels) {
                prop_assert_eq!(state.failed_attempts, m.failed);
                prop_assert_eq!(state.is_verified(), m.verified);
                if let Some(limit) = model.per_channel {
                    prop_assert!(state.failed_attempts <= limit);
                }
            }
            prop_assert_eq!(
                &summary.verified_channels,
                &model.verified_order.iter().map(|&i| channels[i]).collect::<Vec<_>>()
            );
            prop_assert!(
                summary.verified_channels.starts_with(&verified_before),
                "verified_channels only grows"
            );
            prop_assert_eq!(session.expires_at, T0 + expires_in, "expiry never moves");
            if was_locked {
                prop_assert!(session.is_locked(), "a locked session stays locked");
            }
            was_locked = session.is_locked();
            prop_assert_eq!(session.is_locked(), model.locked());
            prop_assert_eq!(summary.session_verified, model.session_verified());
            if now >= model.expires_at && !summary.session_verified {
                prop_assert!(matches!(summary.status, SessionStatus::Expired | SessionStatus::Locked));
            }
        }
    }
}

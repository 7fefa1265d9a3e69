//! The progressive multi-channel session and its state machine:
//! pending → verified | locked | expired, with per-channel and total attempt counters.

use serde::{Deserialize, Serialize};

use super::code::{MAX_SUBMITTED_CODE_CHARS, is_too_long, normalize_code};
use super::policy::{RESEND_COOLDOWN_SECS, SessionLimits, SessionSpec, VerificationMode};
use super::{Channel, UnixSeconds};

/// One channel of a session as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelState {
    pub channel: Channel,
    pub failed_attempts: u32,
    /// 1 for the first channel verified in the session, 2 for the second, ...
    pub verified_rank: Option<u32>,
    pub verified_at: Option<UnixSeconds>,
    pub last_sent_at: UnixSeconds,
}

impl ChannelState {
    pub fn is_verified(&self) -> bool {
        self.verified_rank.is_some()
    }
}

/// A verification session: its policy, counters and channels, in the order they were requested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub mode: VerificationMode,
    pub limits: SessionLimits,
    pub code_length: u8,
    pub failed_attempts: u32,
    pub expires_at: UnixSeconds,
    pub channels: Vec<ChannelState>,
    /// Resends so far (each accepted resend call counts one, whatever its channels).
    pub resends: u32,
}

/// Where a session stands, as `status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Pending,
    Verified,
    Locked,
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Verified => "verified",
            SessionStatus::Locked => "locked",
            SessionStatus::Expired => "expired",
        }
    }
}

/// The cumulative facts every answer about a session carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub status: SessionStatus,
    pub verified_channels: Vec<Channel>,
    pub session_verified: bool,
    pub all_channels_verified: bool,
    pub attempts_remaining: u32,
}

/// Why a whole request on a session is refused before any code is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("Too many attempts")]
    Locked,
    #[error("OTP has expired")]
    Expired,
    #[error("channel `{0}` is not part of this session")]
    ChannelNotInSession(Channel),
    #[error("no code submitted")]
    NothingSubmitted,
    #[error("channel `{0}` is submitted twice")]
    SubmittedTwice(Channel),
    /// A submitted string too long to be any code: a malformed request that costs nothing.
    #[error("the `{0}` code is longer than {MAX_SUBMITTED_CODE_CHARS} characters")]
    CodeTooLong(Channel),
}

/// What happened to one submitted code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelOutcome {
    /// The code matched (the channel is now verified, or already was).
    Accepted,
    /// Wrong or malformed code.
    InvalidOtp,
    /// The channel has used up its own attempts; the code was not looked at and cost nothing.
    ChannelLocked,
    /// Earlier codes of the same call used up the session's last attempts; this one was not looked at.
    SessionLocked,
}

impl ChannelOutcome {
    pub fn is_success(self) -> bool {
        self == ChannelOutcome::Accepted
    }

    /// The per-channel error text of the contract, `None` on success.
    pub fn error_message(self) -> Option<&'static str> {
        match self {
            ChannelOutcome::Accepted => None,
            ChannelOutcome::InvalidOtp => Some("Invalid OTP"),
            ChannelOutcome::ChannelLocked | ChannelOutcome::SessionLocked => {
                Some("Too many attempts")
            }
        }
    }
}

/// The answer to one verify call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyOutcome {
    /// The submitted channels only, in the session's channel order.
    pub results: Vec<(Channel, ChannelOutcome)>,
}

/// How the call as a whole is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// At least one submitted code was accepted (HTTP 200).
    Accepted,
    /// No code accepted and at least one attempt counted (HTTP 400 `invalid_otp`).
    Rejected,
    /// Nothing could be checked because every submitted channel is locked (HTTP 429).
    Locked,
}

impl VerifyOutcome {
    /// True when every code submitted in this call was accepted.
    pub fn all_accepted(&self) -> bool {
        self.results.iter().all(|(_, o)| o.is_success())
    }

    pub fn verdict(&self) -> Verdict {
        if self.results.iter().any(|(_, o)| o.is_success()) {
            Verdict::Accepted
        } else if self
            .results
            .iter()
            .all(|(_, o)| *o == ChannelOutcome::ChannelLocked)
        {
            Verdict::Locked
        } else {
            Verdict::Rejected
        }
    }
}

/// Why a resend is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResendError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("every requested channel is already verified or locked")]
    NothingToResend,
    #[error("a code was sent on this channel less than 30 seconds ago")]
    CoolingDown { retry_after: i64 },
    #[error("this session had all the resends it may have")]
    TooManyResends,
}

impl Session {
    /// A new session created at `now`; every channel counts as sent at `now`.
    pub fn new(spec: &SessionSpec, now: UnixSeconds) -> Session {
        Session {
            mode: spec.mode,
            limits: spec.limits,
            code_length: spec.code_length,
            failed_attempts: 0,
            expires_at: now + spec.expires_in,
            channels: spec
                .channels
                .iter()
                .map(|&channel| ChannelState {
                    channel,
                    failed_attempts: 0,
                    verified_rank: None,
                    verified_at: None,
                    last_sent_at: now,
                })
                .collect(),
            resends: 0,
        }
    }

    /// Expired from `expires_at` on: a code is good strictly before that second.
    pub fn is_expired(&self, now: UnixSeconds) -> bool {
        now >= self.expires_at
    }

    pub fn attempts_remaining(&self) -> u32 {
        self.limits
            .max_attempts
            .saturating_sub(self.failed_attempts)
    }

    /// Whether this channel has used up its own attempts (it accepts no more codes).
    pub fn channel_locked(&self, state: &ChannelState) -> bool {
        !state.is_verified()
            && self
                .limits
                .max_attempts_per_channel
                .is_some_and(|limit| state.failed_attempts >= limit)
    }

    pub fn session_verified(&self) -> bool {
        match self.mode {
            VerificationMode::Any => self.channels.iter().any(ChannelState::is_verified),
            VerificationMode::All => self.all_channels_verified(),
        }
    }

    pub fn all_channels_verified(&self) -> bool {
        self.channels.iter().all(ChannelState::is_verified)
    }

    /// Locked for good: the total attempts are used up, or per-channel locks leave no way to
    /// reach the verified state.
    pub fn is_locked(&self) -> bool {
        if self.attempts_remaining() == 0 {
            return true;
        }
        if self.session_verified() {
            return false;
        }
        let mut unverified = self.channels.iter().filter(|c| !c.is_verified());
        match self.mode {
            VerificationMode::Any => unverified.all(|c| self.channel_locked(c)),
            VerificationMode::All => unverified.any(|c| self.channel_locked(c)),
        }
    }

    /// Verified or locked: none of the session's codes needs to reach or be kept for anyone any
    /// more (expiry, the third way to end, depends on the clock and is handled by the caller).
    pub fn is_settled(&self) -> bool {
        self.session_verified() || self.is_locked()
    }

    /// Verified takes precedence (the person proved it while they could), then locked (a lock is
    /// for good, even once the session has also expired), then expired.
    pub fn status(&self, now: UnixSeconds) -> SessionStatus {
        if self.session_verified() {
            SessionStatus::Verified
        } else if self.is_locked() {
            SessionStatus::Locked
        } else if self.is_expired(now) {
            SessionStatus::Expired
        } else {
            SessionStatus::Pending
        }
    }

    /// Verified channels in the order they were verified.
    pub fn verified_channels(&self) -> Vec<Channel> {
        let mut verified: Vec<_> = self
            .channels
            .iter()
            .filter_map(|c| c.verified_rank.map(|rank| (rank, c.channel)))
            .collect();
        verified.sort_unstable();
        verified.into_iter().map(|(_, channel)| channel).collect()
    }

    pub fn summary(&self, now: UnixSeconds) -> Summary {
        Summary {
            status: self.status(now),
            verified_channels: self.verified_channels(),
            session_verified: self.session_verified(),
            all_channels_verified: self.all_channels_verified(),
            attempts_remaining: self.attempts_remaining(),
        }
    }

    /// Where `channel` is among the session's channels.
    pub fn position(&self, channel: Channel) -> Result<usize, SessionError> {
        self.channels
            .iter()
            .position(|c| c.channel == channel)
            .ok_or(SessionError::ChannelNotInSession(channel))
    }

    /// The refusals that apply to any action on the session: locked first, then expired.
    pub fn ensure_open(&self, now: UnixSeconds) -> Result<(), SessionError> {
        if self.is_locked() {
            Err(SessionError::Locked)
        } else if self.is_expired(now) {
            Err(SessionError::Expired)
        } else {
            Ok(())
        }
    }

    /// Checks the submitted codes at `now`. `matches(channel, normalised_code)` compares a
    /// well-formed code with the stored one (in constant time, by the caller's secret).
    ///
    /// Accepted codes are applied before failures are counted, so the outcome does not depend on
    /// the order of the submission: a right code is never lost to a wrong one beside it. Each
    /// wrong code on an unverified channel costs one attempt on the channel and one on the session
    /// total, and no more attempts are counted once the total is used up.
    pub fn verify(
        &mut self,
        now: UnixSeconds,
        submitted: &[(Channel, &str)],
        mut matches: impl FnMut(Channel, &str) -> bool,
    ) -> Result<VerifyOutcome, SessionError> {
        if submitted.is_empty() {
            return Err(SessionError::NothingSubmitted);
        }
        let mut checked: Vec<(usize, Option<bool>)> = Vec::with_capacity(submitted.len());
        for &(channel, _) in submitted {
            let index = self.position(channel)?;
            if checked.iter().any(|&(i, _)| i == index) {
                return Err(SessionError::SubmittedTwice(channel));
            }
            checked.push((index, None));
        }
        if let Some(&(channel, _)) = submitted.iter().find(|(_, raw)| is_too_long(raw)) {
            return Err(SessionError::CodeTooLong(channel));
        }
        self.ensure_open(now)?;

        for (slot, &(channel, raw)) in checked.iter_mut().zip(submitted) {
            let state = &self.channels[slot.0];
            if self.channel_locked(state) {
                continue;
            }
            let matched = normalize_code(raw).is_ok_and(|code| matches(channel, &code));
            slot.1 = Some(matched);
        }

        let mut results = Vec::with_capacity(checked.len());
        for &(index, matched) in &checked {
            if matched == Some(true) {
                if !self.channels[index].is_verified() {
                    let rank = self.verified_channels().len() as u32 + 1;
                    let state = &mut self.channels[index];
                    state.verified_rank = Some(rank);
                    state.verified_at = Some(now);
                }
                results.push((index, ChannelOutcome::Accepted));
            }
        }
        for &(index, matched) in &checked {
            let outcome = match matched {
                Some(true) => continue,
                None => ChannelOutcome::ChannelLocked,
                Some(false) if self.channels[index].is_verified() => ChannelOutcome::InvalidOtp,
                Some(false) if self.attempts_remaining() == 0 => ChannelOutcome::SessionLocked,
                Some(false) => {
                    self.failed_attempts += 1;
                    self.channels[index].failed_attempts += 1;
                    ChannelOutcome::InvalidOtp
                }
            };
            results.push((index, outcome));
        }
        results.sort_unstable_by_key(|&(index, _)| index);
        Ok(VerifyOutcome {
            results: results
                .into_iter()
                .map(|(index, outcome)| (self.channels[index].channel, outcome))
                .collect(),
        })
    }

    /// Marks the channels to resend at `now` and returns them. `requested` of `None` means every
    /// channel still waiting for a code. All or nothing: when any of them is inside its 30 s
    /// cooldown, nothing is sent and the wait is returned. A session gets at most `max_resends`
    /// resends (a cap on what one session can cost, whatever door it is driven through).
    pub fn resend(
        &mut self,
        now: UnixSeconds,
        requested: Option<&[Channel]>,
        max_resends: u32,
    ) -> Result<Vec<Channel>, ResendError> {
        let wanted: Vec<usize> = match requested {
            Some(channels) => {
                let mut indices = Vec::with_capacity(channels.len());
                for &channel in channels {
                    let index = self.position(channel)?;
                    if !indices.contains(&index) {
                        indices.push(index);
                    }
                }
                indices.sort_unstable();
                indices
            }
            None => (0..self.channels.len()).collect(),
        };
        self.ensure_open(now)?;
        let due: Vec<usize> = wanted
            .into_iter()
            .filter(|&i| !self.channels[i].is_verified() && !self.channel_locked(&self.channels[i]))
            .collect();
        if due.is_empty() {
            return Err(ResendError::NothingToResend);
        }
        let retry_after = due
            .iter()
            .map(|&i| self.channels[i].last_sent_at + RESEND_COOLDOWN_SECS - now)
            .max()
            .unwrap_or(0);
        if retry_after > 0 {
            return Err(ResendError::CoolingDown { retry_after });
        }
        if self.resends >= max_resends {
            return Err(ResendError::TooManyResends);
        }
        self.resends += 1;
        for &i in &due {
            self.channels[i].last_sent_at = now;
        }
        Ok(due.into_iter().map(|i| self.channels[i].channel).collect())
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_model_tests.rs"]
mod model_tests;

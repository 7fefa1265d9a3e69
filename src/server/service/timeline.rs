//! One verification as an operator reads it: where it stands and, in time order, everything
//! that happened to it — created, each message queued, every hand-over to a provider, its
//! receipt or failure, each code a verify decided (its result, never the code), and how it
//! ended. Built here from what the store keeps, without a clock of its own: `now` is given.

use crate::engine::Channel;
use crate::engine::VerificationMode;
use crate::engine::session::SessionStatus;
use crate::server::mask::mask_recipient;
use crate::server::store::{History, StoredSession, StoredSingleRequest};

/// Where a verification stands, as an operator sees it: a session's status, or cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Status(SessionStatus),
    Canceled,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Status(status) => status.as_str(),
            Standing::Canceled => "canceled",
        }
    }
}

/// One channel of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelStanding {
    pub channel: Channel,
    /// Masked.
    pub recipient: String,
    pub failed_attempts: u32,
    pub verified_at: Option<i64>,
}

/// What happened, and its details (each set only for the kinds it belongs to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happening {
    Created,
    MessageQueued {
        resend: bool,
    },
    MessageAttempt {
        attempt: i64,
        provider: String,
        outcome: String,
    },
    MessageDelivered,
    MessageFailed {
        error: Option<String>,
    },
    MessageCanceled,
    CodeChecked {
        verified: bool,
    },
    Verified,
    Locked,
    Expired,
    Canceled,
}

impl Happening {
    /// The `type` an answer names it by.
    pub fn kind(&self) -> &'static str {
        match self {
            Happening::Created => "created",
            Happening::MessageQueued { .. } => "message.queued",
            Happening::MessageAttempt { .. } => "message.attempt",
            Happening::MessageDelivered => "message.delivered",
            Happening::MessageFailed { .. } => "message.failed",
            Happening::MessageCanceled => "message.canceled",
            Happening::CodeChecked { .. } => "code.checked",
            Happening::Verified => "verified",
            Happening::Locked => "locked",
            Happening::Expired => "expired",
            Happening::Canceled => "canceled",
        }
    }
}

/// One line of a timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEvent {
    pub at: i64,
    pub what: Happening,
    pub channel: Option<Channel>,
    /// The message it is about, as the delivery queue names it.
    pub message_id: Option<i64>,
}

/// A verification, looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// The session's `ses_…` name or the single-SMS request's ID.
    pub id: String,
    pub tenant: String,
    pub is_test: bool,
    pub standing: Standing,
    /// `None` for a single-SMS request.
    pub mode: Option<VerificationMode>,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_attempts: u32,
    pub attempts_remaining: u32,
    pub channels: Vec<ChannelStanding>,
    pub events: Vec<TimelineEvent>,
}

fn event(
    at: i64,
    what: Happening,
    channel: Option<Channel>,
    message_id: Option<i64>,
) -> TimelineEvent {
    TimelineEvent {
        at,
        what,
        channel,
        message_id,
    }
}

/// The events of the history (messages and decided codes), unordered.
fn history_events(history: &History) -> Vec<TimelineEvent> {
    let mut events = Vec::new();
    let mut channels_seen: Vec<Channel> = Vec::new();
    for message in &history.messages {
        let (id, channel) = (Some(message.id), Some(message.channel));
        let resend = channels_seen.contains(&message.channel);
        channels_seen.push(message.channel);
        events.push(event(
            message.created_at,
            Happening::MessageQueued { resend },
            channel,
            id,
        ));
        for t in &message.tries {
            let what = Happening::MessageAttempt {
                attempt: t.attempt,
                provider: t.provider.clone(),
                outcome: t.outcome.clone(),
            };
            events.push(event(t.at, what, channel, id));
        }
        let end = match message.status.as_str() {
            "delivered" => Some(Happening::MessageDelivered),
            "failed" => Some(Happening::MessageFailed {
                error: message.error.clone(),
            }),
            "cancelled" => Some(Happening::MessageCanceled),
            _ => None,
        };
        if let Some(end) = end {
            events.push(event(message.updated_at, end, channel, id));
        }
    }
    for code in &history.attempts {
        let what = Happening::CodeChecked {
            verified: code.verified,
        };
        events.push(event(code.at, what, Some(code.channel), None));
    }
    events
}

/// How it ended, if it has: verified (when the deciding channel was), locked (at the last wrong
/// code), expired, or cancelled.
fn ending(
    standing: Standing,
    verified_at: Option<i64>,
    history: &History,
    expires_at: i64,
    cancelled_at: Option<i64>,
) -> Option<TimelineEvent> {
    let (at, what) = match standing {
        Standing::Status(SessionStatus::Pending) => return None,
        Standing::Status(SessionStatus::Verified) => (verified_at?, Happening::Verified),
        Standing::Status(SessionStatus::Locked) => {
            let last_wrong = history.attempts.iter().rev().find(|a| !a.verified)?;
            (last_wrong.at, Happening::Locked)
        }
        Standing::Status(SessionStatus::Expired) => (expires_at, Happening::Expired),
        Standing::Canceled => (cancelled_at?, Happening::Canceled),
    };
    Some(event(at, what, None, None))
}

/// The events in time order (a stable sort: what happened in one second keeps its order).
fn ordered(mut events: Vec<TimelineEvent>) -> Vec<TimelineEvent> {
    events.sort_by_key(|e| e.at);
    events
}

/// A progressive session's timeline.
pub fn of_session(stored: &StoredSession, history: &History, now: i64) -> Timeline {
    let session = &stored.session;
    let summary = session.summary(now);
    let standing = match stored.cancelled_at {
        Some(_) => Standing::Canceled,
        None => Standing::Status(summary.status),
    };
    let verified: Vec<i64> = session
        .channels
        .iter()
        .filter_map(|c| c.verified_at)
        .collect();
    // `any`: the first channel verified it; `all`: the last.
    let verified_at = match session.mode {
        VerificationMode::Any => verified.iter().min().copied(),
        VerificationMode::All => verified.iter().max().copied(),
    };
    let mut events = vec![event(stored.created_at, Happening::Created, None, None)];
    events.extend(history_events(history));
    events.extend(ending(
        standing,
        verified_at,
        history,
        session.expires_at,
        stored.cancelled_at,
    ));
    Timeline {
        id: stored.public_id.clone(),
        tenant: stored.tenant_name.clone(),
        is_test: stored.is_test,
        standing,
        mode: Some(session.mode),
        created_at: stored.created_at,
        expires_at: session.expires_at,
        max_attempts: session.limits.max_attempts,
        attempts_remaining: summary.attempts_remaining,
        channels: session
            .channels
            .iter()
            .zip(&stored.recipients)
            .map(|(c, recipient)| ChannelStanding {
                channel: c.channel,
                recipient: mask_recipient(c.channel, recipient),
                failed_attempts: c.failed_attempts,
                verified_at: c.verified_at,
            })
            .collect(),
        events: ordered(events),
    }
}

/// A single-SMS request's timeline.
pub fn of_request(
    stored: &StoredSingleRequest,
    request_id: &str,
    history: &History,
    now: i64,
) -> Timeline {
    let request = &stored.request;
    let standing = Standing::Status(request.status(now));
    let mut events = vec![event(stored.created_at, Happening::Created, None, None)];
    events.extend(history_events(history));
    events.extend(ending(
        standing,
        request.verified_at,
        history,
        request.expires_at,
        None,
    ));
    let max = crate::engine::single::SINGLE_MAX_ATTEMPTS;
    Timeline {
        id: request_id.to_owned(),
        tenant: stored.tenant_name.clone(),
        is_test: stored.is_test,
        standing,
        mode: None,
        created_at: stored.created_at,
        expires_at: request.expires_at,
        max_attempts: max,
        attempts_remaining: max.saturating_sub(request.failed_attempts),
        channels: vec![ChannelStanding {
            channel: Channel::Sms,
            recipient: mask_recipient(Channel::Sms, &stored.phone_number),
            failed_attempts: request.failed_attempts,
            verified_at: request.verified_at,
        }],
        events: ordered(events),
    }
}

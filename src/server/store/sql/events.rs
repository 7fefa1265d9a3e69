//! Lifecycle events as the store writes them: what each change tells of (built from the records
//! the change is made on, never with a code, a token or a key), and the one statement that
//! writes a change's events — a delivery row for each endpoint of the tenant that wants them,
//! in the change's own transaction. A tenant with no endpoint costs the statement alone, which
//! finds none.

use crate::engine::Channel;
use crate::engine::session::SessionStatus;
use crate::engine::webhook::EventType;
use crate::server::clock::rfc3339;
use crate::server::events::{ChannelEntry, Event, EventData};
use crate::server::mask::mask_recipient;
use crate::server::store::deliveries::{NewMessage, NewRoute};
use crate::server::store::sessions::{CreateSession, StoredSession};
use crate::server::store::single::{NewSingleRequest, StoredSingleRequest};
use crate::server::store::wall_clock_ms;

use super::Query;

/// The statement that writes `events` of the tenant `tenant_id`: one delivery per event and
/// endpoint that wants its type (`skipped` for a disabled endpoint, so that a replay may send
/// it later), due at once. `None` when there is no event.
pub(super) fn fan_out(tenant_id: i64, events: &[Event], now: i64) -> Option<Query> {
    if events.is_empty() {
        return None;
    }
    let mut query = Query::new(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body, status,
             next_attempt_at, scheduled_from, created_at, created_at_ms)
         SELECT e.id, v.event_id, v.event_type, v.body,
                CASE WHEN e.disabled_at IS NULL THEN 'pending' ELSE 'skipped' END,
                $2, $2, $2, $3
         FROM webhook_endpoints e
         JOIN (",
    )
    .bind(tenant_id)
    .bind(now)
    .bind(wall_clock_ms());
    for (index, event) in events.iter().enumerate() {
        let kind = event.kind.as_str();
        query = query
            .push(if index == 0 {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            })
            .push_bind(event.id.as_str())
            .push(" AS event_id, ")
            .push_bind(kind)
            .push(" AS event_type, ")
            .push_bind(event.body().as_str())
            .push(" AS body");
    }
    Some(query.push(
        ") AS v ON e.event_types IS NULL OR e.event_types LIKE '%\"' || v.event_type || '\"%'
         WHERE e.tenant_id = $1",
    ))
}

/// `fan_out`, written only if `condition` (an SQL condition, with its own placeholders bound
/// by `bind`) holds when the statement runs.
pub(super) fn fan_out_if(
    tenant_id: i64,
    events: &[Event],
    now: i64,
    condition: impl FnOnce(Query) -> Query,
) -> Option<Query> {
    fan_out(tenant_id, events, now).map(|query| condition(query.push(" AND ")))
}

fn event(kind: EventType, at: i64, data: EventData) -> Event {
    Event::new(&mut rand::rng(), kind, at, data)
}

/// What every event of a session says.
fn of_session(tenant: &str, test: bool, session_id: &str) -> EventData {
    EventData {
        tenant: tenant.to_owned(),
        test,
        session_id: Some(session_id.to_owned()),
        ..EventData::default()
    }
}

/// What every event of a single-SMS request says.
fn of_request(tenant: &str, test: bool, request_id: &str) -> EventData {
    EventData {
        tenant: tenant.to_owned(),
        test,
        request_id: Some(request_id.to_owned()),
        ..EventData::default()
    }
}

/// `message.sent` for each message caught in the outbox (test keys, development mode): those
/// are sent when stored. Messages for a provider tell of themselves when it takes them.
fn caught_messages(base: &EventData, messages: &[NewMessage], now: i64) -> Vec<Event> {
    messages
        .iter()
        .filter(|m| matches!(m.route, NewRoute::Outbox { .. }))
        .map(|m| {
            event(
                EventType::MessageSent,
                now,
                EventData {
                    channel: Some(m.channel),
                    recipient: Some(mask_recipient(m.channel, &m.recipient)),
                    status: Some("sent"),
                    provider: Some("outbox".into()),
                    ..base.clone()
                },
            )
        })
        .collect()
}

/// A new session: `verification.started`, and its caught messages.
pub(super) fn session_started(new: &CreateSession<'_>, now: i64) -> Vec<Event> {
    let base = of_session(new.tenant_name, new.is_test, new.public_id);
    let channels = new
        .session
        .channels
        .iter()
        .zip(&new.channels)
        .map(|(state, channel)| ChannelEntry {
            channel: state.channel,
            recipient: mask_recipient(state.channel, &channel.recipient),
        })
        .collect();
    let mut events = vec![event(
        EventType::VerificationStarted,
        now,
        EventData {
            channels: Some(channels),
            status: Some(SessionStatus::Pending.as_str()),
            expires_at: Some(rfc3339(new.session.expires_at)),
            ..base.clone()
        },
    )];
    events.extend(caught_messages(&base, &new.messages, now));
    events
}

/// New codes for channels of a session: their caught messages.
pub(super) fn session_resent(
    after: &StoredSession,
    messages: &[NewMessage],
    now: i64,
) -> Vec<Event> {
    let base = of_session(&after.tenant_name, after.is_test, &after.public_id);
    caught_messages(&base, messages, now)
}

/// What a decision on a session tells of: each channel it verified, the session verified, or
/// the session locked.
pub(super) fn session_decided(
    before: &StoredSession,
    after: &StoredSession,
    now: i64,
) -> Vec<Event> {
    let base = of_session(&after.tenant_name, after.is_test, &after.public_id);
    let (was, is) = (before.session.status(now), after.session.status(now));
    let verified_channels = after.session.verified_channels();
    let session_verified = after.session.session_verified();
    let mut events = Vec::new();
    for (index, (old, new)) in before
        .session
        .channels
        .iter()
        .zip(&after.session.channels)
        .enumerate()
    {
        if new.is_verified() && !old.is_verified() {
            events.push(event(
                EventType::VerificationChannelVerified,
                now,
                EventData {
                    channel: Some(new.channel),
                    recipient: Some(mask_recipient(new.channel, &after.recipients[index])),
                    verified_channels: Some(verified_channels.clone()),
                    session_verified: Some(session_verified),
                    status: Some(is.as_str()),
                    ..base.clone()
                },
            ));
        }
    }
    let ended = match is {
        SessionStatus::Verified => Some(EventType::VerificationVerified),
        SessionStatus::Locked => Some(EventType::VerificationLocked),
        _ => None,
    };
    if let Some(kind) = ended.filter(|_| was != is) {
        events.push(event(
            kind,
            now,
            EventData {
                verified_channels: Some(verified_channels),
                session_verified: Some(session_verified),
                status: Some(is.as_str()),
                ..base
            },
        ));
    }
    events
}

/// A session canceled by its integrator.
pub(super) fn session_canceled(tenant: &str, test: bool, session_id: &str, now: i64) -> Event {
    event(
        EventType::VerificationCanceled,
        now,
        EventData {
            status: Some("canceled"),
            ..of_session(tenant, test, session_id)
        },
    )
}

/// A session that ran out of time before it was verified or locked.
pub(super) fn session_expired(tenant: &str, test: bool, session_id: &str, at: i64) -> Event {
    event(
        EventType::VerificationExpired,
        at,
        EventData {
            status: Some(SessionStatus::Expired.as_str()),
            ..of_session(tenant, test, session_id)
        },
    )
}

/// A new single-SMS request: `sms_request.started`, and its message if it was caught.
pub(super) fn request_started(new: &NewSingleRequest<'_>, now: i64) -> Vec<Event> {
    let base = of_request(new.tenant_name, new.is_test, new.request_id);
    let mut events = vec![event(
        EventType::SmsRequestStarted,
        now,
        EventData {
            channel: Some(Channel::Sms),
            recipient: Some(mask_recipient(Channel::Sms, new.phone_number)),
            status: Some(SessionStatus::Pending.as_str()),
            expires_at: Some(rfc3339(new.request.expires_at)),
            ..base.clone()
        },
    )];
    events.extend(caught_messages(
        &base,
        std::slice::from_ref(&new.message),
        now,
    ));
    events
}

/// What a decision on a single-SMS request tells of: verified, or locked.
pub(super) fn request_decided(
    before: &StoredSingleRequest,
    after: &StoredSingleRequest,
    now: i64,
) -> Vec<Event> {
    let (was, is) = (before.request.status(now), after.request.status(now));
    let kind = match is {
        SessionStatus::Verified => EventType::SmsRequestVerified,
        SessionStatus::Locked => EventType::SmsRequestLocked,
        _ => return Vec::new(),
    };
    if was == is {
        return Vec::new();
    }
    vec![event(
        kind,
        now,
        EventData {
            channel: Some(Channel::Sms),
            recipient: Some(mask_recipient(Channel::Sms, &after.phone_number)),
            status: Some(is.as_str()),
            ..of_request(&after.tenant_name, after.is_test, after.request_id.as_str())
        },
    )]
}

/// A single-SMS request that ran out of time before it was verified or locked.
pub(super) fn request_expired(tenant: &str, test: bool, request_id: &str, at: i64) -> Event {
    event(
        EventType::SmsRequestExpired,
        at,
        EventData {
            channel: Some(Channel::Sms),
            status: Some(SessionStatus::Expired.as_str()),
            ..of_request(tenant, test, request_id)
        },
    )
}

/// Whose message an event is about.
#[derive(Clone, Copy, Debug)]
pub(super) struct MessageOwner<'a> {
    pub tenant: &'a str,
    pub test: bool,
    /// The session's public ID, or else the request's ID.
    pub session_id: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

/// A message that moved: `message.sent`, `message.delivered` or `message.failed` (with its
/// stable error).
pub(super) fn message_moved(
    owner: MessageOwner<'_>,
    channel: Channel,
    recipient: &str,
    provider: Option<&str>,
    kind: EventType,
    error: Option<&str>,
    now: i64,
) -> Event {
    let status = match kind {
        EventType::MessageDelivered => "delivered",
        EventType::MessageFailed => "failed",
        _ => "sent",
    };
    event(
        kind,
        now,
        EventData {
            tenant: owner.tenant.to_owned(),
            test: owner.test,
            session_id: owner.session_id.map(str::to_owned),
            request_id: owner.request_id.map(str::to_owned),
            channel: Some(channel),
            recipient: Some(mask_recipient(channel, recipient)),
            status: Some(status),
            error: error.map(str::to_owned),
            provider: provider.map(str::to_owned),
            ..EventData::default()
        },
    )
}

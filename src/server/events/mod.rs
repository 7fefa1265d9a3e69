//! Lifecycle events and the webhooks that carry them to integrators (Standard Webhooks v1).
//!
//! An event is what happened to a verification or a message, told without a secret: the tenant,
//! the session's public ID or the request's ID, the channel, the recipient masked, statuses —
//! never a code, a session token or a key. The store writes each event in the transaction of
//! the change that causes it, one delivery row per subscribed endpoint (`store/sql/events.rs`),
//! so none is lost by a crash and none is sent for a change that rolled back; the worker
//! (`worker.rs`) signs (`signing.rs`) and posts them, retried on the engine's schedule
//! (`engine/webhook.rs`), to URLs the guard (`guard.rs`) lets through.

pub mod guard;
pub mod signing;
pub mod worker;

use serde::Serialize;

use crate::engine::Channel;
pub use crate::engine::webhook::EventType;
use crate::server::clock::rfc3339;

/// A channel and where its code went (masked), as `verification.started` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelEntry {
    pub channel: Channel,
    pub recipient: String,
}

/// What an event says. Each type fills the fields that apply to it (the event catalogue in
/// `docs/webhooks.md`); the others are left out of the body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventData {
    /// The tenant's name.
    pub tenant: String,
    /// Whether it happened under a test key (or is a test event an operator sent).
    pub test: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The message's ID, the same in its `message.sent`, `message.delivered` and
    /// `message.failed` events (and in the admin API's delivery queue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Masked (`u***@example.com`, `+44 •••• ••0123`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_channels: Option<Vec<Channel>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_verified: Option<bool>,
    /// The verification's status (`pending`, `verified`, `locked`, `expired`, `canceled`) or,
    /// in message events, the message's (`sent`, `delivered`, `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// Why a message failed: the stable delivery error (`invalid_recipient`, `blocked`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The provider a message went through (`smtp`, `twilio`, `gateway`, `whatsapp`, `outbox`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// One event, as posted: its ID (the `webhook-id` header, the same for every endpoint and every
/// retry), its type, when it happened, and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: EventType,
    pub at: i64,
    pub data: EventData,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: &'a EventData,
}

impl Event {
    /// A new event with a fresh ID.
    pub fn new(rng: &mut impl rand::RngCore, kind: EventType, at: i64, data: EventData) -> Event {
        Event {
            id: new_event_id(rng),
            kind,
            at,
            data,
        }
    }

    /// A test event of `kind` for an endpoint of `tenant`: the fields its type's real events
    /// have, with made-up IDs and `"test": true`.
    pub fn sample(rng: &mut impl rand::RngCore, kind: EventType, tenant: &str, at: i64) -> Event {
        use EventType::*;
        let email = || (Some(Channel::Email), Some("u***@example.com".to_owned()));
        let mut data = EventData {
            tenant: tenant.to_owned(),
            test: true,
            ..EventData::default()
        };
        if matches!(
            kind,
            SmsRequestStarted | SmsRequestVerified | SmsRequestLocked | SmsRequestExpired
        ) {
            data.request_id = Some("00000000-0000-4000-8000-000000000000".into());
            data.channel = Some(Channel::Sms);
            data.recipient = Some("+44 •••• ••0123".into());
        } else {
            data.session_id = Some(format!("ses_{}", "0".repeat(32)));
        }
        match kind {
            VerificationStarted => {
                data.channels = Some(vec![ChannelEntry {
                    channel: Channel::Email,
                    recipient: "u***@example.com".into(),
                }]);
                data.expires_at = Some(rfc3339(at + 600));
            }
            VerificationChannelVerified => {
                (data.channel, data.recipient) = email();
                data.verified_channels = Some(vec![Channel::Email]);
                data.session_verified = Some(true);
            }
            VerificationVerified | VerificationLocked => {
                data.verified_channels = Some(if kind == VerificationVerified {
                    vec![Channel::Email]
                } else {
                    Vec::new()
                });
                data.session_verified = Some(kind == VerificationVerified);
            }
            MessageSent | MessageDelivered | MessageFailed => {
                (data.channel, data.recipient) = email();
                data.provider = Some("smtp".into());
                if kind == MessageFailed {
                    data.error = Some("invalid_recipient".into());
                }
            }
            SmsRequestStarted => data.expires_at = Some(rfc3339(at + 600)),
            _ => {}
        }
        data.status = Some(match kind {
            VerificationStarted | SmsRequestStarted => "pending",
            VerificationChannelVerified | VerificationVerified | SmsRequestVerified => "verified",
            VerificationLocked | SmsRequestLocked => "locked",
            VerificationExpired | SmsRequestExpired => "expired",
            VerificationCanceled => "canceled",
            MessageSent => "sent",
            MessageDelivered => "delivered",
            MessageFailed => "failed",
        });
        Event::new(rng, kind, at, data)
    }

    /// The body posted to endpoints: `{"type", "timestamp", "data"}`.
    pub fn body(&self) -> String {
        serde_json::to_string(&Body {
            kind: self.kind.as_str(),
            timestamp: rfc3339(self.at),
            data: &self.data,
        })
        .expect("an event serialises")
    }
}

/// An event's ID: `msg_` and 16 random bytes in hex. Receivers de-duplicate by it.
pub fn new_event_id(rng: &mut impl rand::RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    format!("msg_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_body_has_type_timestamp_and_only_the_fields_that_apply() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let event = Event::new(
            &mut rng,
            EventType::VerificationChannelVerified,
            1_800_000_000,
            EventData {
                tenant: "acme".into(),
                session_id: Some("ses_0123".into()),
                channel: Some(Channel::Email),
                recipient: Some("u***@example.com".into()),
                verified_channels: Some(vec![Channel::Email]),
                session_verified: Some(false),
                status: Some("pending"),
                ..EventData::default()
            },
        );
        assert!(event.id.starts_with("msg_") && event.id.len() == 36);
        let body: serde_json::Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "verification.channel_verified",
                "timestamp": "2027-01-15T08:00:00Z",
                "data": {
                    "tenant": "acme",
                    "test": false,
                    "session_id": "ses_0123",
                    "channel": "email",
                    "recipient": "u***@example.com",
                    "verified_channels": ["email"],
                    "session_verified": false,
                    "status": "pending"
                }
            })
        );
    }

    #[test]
    fn event_ids_differ() {
        let mut rng = rand::rng();
        assert_ne!(new_event_id(&mut rng), new_event_id(&mut rng));
    }
}

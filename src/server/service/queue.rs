//! The delivery queue as operators see it: each message with what it belongs to, its recipient
//! masked, its status in the admin API's words (`canceled`, as the audit action says), and the
//! filters a listing takes.

use crate::engine::Channel;
use crate::server::mask::mask_recipient;
use crate::server::store::QueuedMessage;

/// The statuses a message can be in, as the admin API names them.
pub const STATUSES: [&str; 6] = [
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "canceled",
];

/// A stored status as the admin API names it.
pub fn status_name(stored: &str) -> &str {
    if stored == "cancelled" {
        "canceled"
    } else {
        stored
    }
}

/// The stored status an admin API name means, if it is one.
pub fn stored_status(name: &str) -> Option<&'static str> {
    match name {
        "canceled" => Some("cancelled"),
        other => STATUSES.iter().find(|s| **s == other).copied(),
    }
}

/// One message of the queue, its recipient masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryLine {
    pub id: i64,
    pub tenant: String,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub channel: Channel,
    pub recipient: String,
    pub status: String,
    pub error: Option<String>,
    pub attempts: i64,
    pub provider: Option<String>,
    /// Replaced by a resend's message (it is never delivered after that).
    pub replaced: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the worker tries it next, while it waits.
    pub next_attempt_at: Option<i64>,
    pub expires_at: i64,
}

impl From<QueuedMessage> for DeliveryLine {
    fn from(message: QueuedMessage) -> DeliveryLine {
        let waiting = message.status == "queued";
        DeliveryLine {
            id: message.id,
            recipient: mask_recipient(message.channel, &message.recipient),
            status: status_name(&message.status).to_owned(),
            tenant: message.tenant,
            session_id: message.session_id,
            request_id: message.request_id,
            channel: message.channel,
            error: message.error,
            attempts: message.attempts,
            provider: message.provider,
            replaced: message.superseded,
            created_at: message.created_at,
            updated_at: message.updated_at,
            next_attempt_at: waiting.then_some(message.next_attempt_at),
            expires_at: message.expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_name_maps_to_a_stored_status_and_back() {
        for name in STATUSES {
            let stored = stored_status(name).expect("a status");
            assert_eq!(status_name(stored), name);
        }
        assert_eq!(
            stored_status("cancelled"),
            None,
            "the admin API spells it canceled"
        );
        assert_eq!(stored_status("bogus"), None);
    }
}

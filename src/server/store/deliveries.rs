//! The delivery queue: messages written with their session or request, claimed by a worker
//! under a lease, finished with the provider's answer, moved forward by receipts.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::*;
use crate::engine::Channel;
use crate::engine::delivery::{DeliveryFailure, DeliveryStatus, DeliveryView};

/// How long a claimed message belongs to the worker that claimed it, unless the operator says
/// otherwise (`OTPGATE_DELIVERY_LEASE_SECS`). A worker that dies (or a process that is killed)
/// leaves the lease to run out, and the message is claimed again.
pub const DEFAULT_LEASE_SECS: i64 = 60;

/// A message to store with its session or request, and what the limits count for it.
#[derive(Clone)]
pub struct NewMessage {
    pub channel: Channel,
    pub recipient: String,
    pub route: NewRoute,
    pub subjects: super::MessageSubjects,
}

impl NewMessage {
    /// How the message stands once stored at `now`: caught ones are sent, others queued.
    pub fn first_view(&self, now: i64) -> DeliveryView {
        DeliveryView {
            status: match self.route {
                NewRoute::Outbox { .. } => DeliveryStatus::Sent,
                NewRoute::Provider { .. } => DeliveryStatus::Queued,
            },
            error: None,
            attempts: 0,
            updated_at: now,
        }
    }
}

impl std::fmt::Debug for NewMessage {
    /// Leaves out the code (clear in an outbox route, sealed in a provider route).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMessage")
            .field("channel", &self.channel)
            .field(
                "route",
                &match self.route {
                    NewRoute::Outbox { .. } => "outbox",
                    NewRoute::Provider { .. } => "provider",
                },
            )
            .finish_non_exhaustive()
    }
}

/// Where a new message goes.
#[derive(Clone)]
pub enum NewRoute {
    /// Caught in the outbox at once (test keys, development mode): text and code in clear.
    Outbox { body: String, code: String },
    /// Queued for the channel's provider, the code sealed.
    Provider { sealed_code: Vec<u8> },
}

/// What the messages belong to.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    Session(i64),
    Request(i64),
}

/// A message claimed by the worker, with everything needed to render and send it.
#[derive(Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub tenant_id: i64,
    pub tenant_name: String,
    /// The app name its message says when it is not the tenant's (a Twilio service's).
    pub app_name: Option<String>,
    /// Whether it was sent under a test key.
    pub is_test: bool,
    /// The session's public ID (`ses_…`), when it is a session's message.
    pub session_public_id: Option<String>,
    pub channel: Channel,
    pub recipient: String,
    pub sealed_code: Option<Vec<u8>>,
    /// This try's number (1 for the first).
    pub attempt: u32,
    pub expires_at: i64,
    pub locale: Option<String>,
    /// The session's token hash (sessions) or the request's ID (single SMS): what the code was
    /// sealed to.
    pub token_hash: Option<Vec<u8>>,
    pub request_id: Option<String>,
    /// The tenant's first allowed origin, for the WebOTP line of an SMS.
    pub origin: Option<String>,
    /// When it was stored, in milliseconds of the wall clock (how long it waited).
    pub queued_at_ms: i64,
}

/// The message a receipt moved: what the metrics count it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedMessage {
    pub channel: Channel,
    pub provider: Option<String>,
    /// When the provider accepted it, if that was recorded before the receipt came.
    pub accepted_at: Option<i64>,
}

/// One channel's waiting messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueFigure {
    pub channel: Channel,
    pub depth: u64,
    /// When the oldest was stored, in milliseconds of the wall clock.
    pub oldest_queued_at_ms: Option<i64>,
}

impl std::fmt::Debug for ClaimedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// What a receipt did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The message moved forward.
    Applied,
    /// Known message, but the status would not move forward (late or replayed receipt).
    Unchanged,
    /// No such message.
    Unknown,
}

/// How a try ended, for [`DeliveryStore::finish_attempt`].
#[derive(Clone, Debug)]
pub enum TryResult {
    Accepted {
        provider_message_id: Option<String>,
    },
    /// Try again at this time.
    Retry {
        at: i64,
        detail: String,
    },
    /// Give up.
    Failed {
        failure: DeliveryFailure,
        detail: String,
        permanent: bool,
    },
}

/// The wall clock in milliseconds, for the measurement columns only (how long a message waited
/// for its provider); every rule uses the injected clock's seconds.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(super) fn status_name(status: DeliveryStatus) -> &'static str {
    status.as_str()
}

/// The status as the API shows it: a claimed message is still queued.
pub(super) fn public_status(stored: &str) -> Option<DeliveryStatus> {
    match stored {
        "sending" => Some(DeliveryStatus::Queued),
        other => DeliveryStatus::parse(other),
    }
}

/// How a receipt names its message.
#[derive(Clone, Copy, Debug)]
pub enum ReceiptKey<'a> {
    Provider { provider: &'a str, id: &'a str },
    Delivery(i64),
}

/// The delivery queue, shared by every worker of every instance: a message is claimed by one
/// worker at a time (under a lease that a dead worker's messages run out of), finished only
/// while it is still that worker's (`status = 'sending'`), and moved by receipts only forward.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Claims up to `limit` due messages for this worker: first gives back the messages of
    /// workers whose lease ran out (a crash), gives up the overdue ones, then leases the due
    /// ones in the order they fell due. One transaction, so two workers never share a message.
    async fn claim_due_deliveries(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// When the next queued message falls due (`None` when none is queued).
    async fn next_delivery_due(&self) -> StoreResult<Option<i64>>;

    /// Records how a claimed message's try ended: the attempt row, and the message's new
    /// state. A message superseded while it was being handed over is not retried.
    async fn finish_attempt(
        &self,
        delivery: &ClaimedDelivery,
        provider: &str,
        result: &TryResult,
        now: i64,
    ) -> StoreResult<()>;

    /// Applies a provider's receipt to the message it names, only ever moving its status
    /// forward. `by` is the provider's own message ID (with the provider's name) or otpgate's
    /// delivery ID (gateway reports carry otpgate's token).
    async fn apply_receipt(
        &self,
        by: ReceiptKey<'_>,
        status: DeliveryStatus,
        error: Option<DeliveryFailure>,
        now: i64,
    ) -> StoreResult<(ReceiptOutcome, Option<MovedMessage>)>;

    /// The messages waiting for their provider, by channel (channels with none left out).
    async fn queue_figures(&self) -> StoreResult<Vec<QueueFigure>>;

    /// Each channel's latest message of a session: what `deliveries` reports.
    async fn session_deliveries(
        &self,
        session_id: i64,
    ) -> StoreResult<BTreeMap<Channel, DeliveryView>>;

    /// Gives up the queued messages of everything expired by `now` (the purge calls it too, so
    /// codes are erased even while no worker runs).
    async fn expire_deliveries(&self, now: i64) -> StoreResult<u64>;
}

/// The columns a claimed message is read with (`d` the delivery, `t` its tenant, `s` its
/// session, `r` its request, joined as `CLAIMED_JOINS` says), the same in every store.
pub(super) const CLAIMED_COLUMNS: &str = "d.id, d.tenant_id, t.name AS tenant_name,
    COALESCE(s.is_test, r.is_test) AS is_test, s.public_id AS session_public_id,
    d.channel, d.recipient, d.sealed_code,
    d.attempts, d.expires_at, s.locale, s.app_name, s.token_hash, r.request_id, d.queued_at_ms,
    (SELECT origin FROM tenant_origins o WHERE o.tenant_id = d.tenant_id ORDER BY origin LIMIT 1) AS origin";

/// What a claimed message (`d`) is joined with for `CLAIMED_COLUMNS`.
pub(super) const CLAIMED_JOINS: &str = "JOIN tenants t ON t.id = d.tenant_id
    LEFT JOIN sessions s ON s.id = d.session_id
    LEFT JOIN sms_requests r ON r.id = d.request_id";

/// A claimed message as read with `CLAIMED_COLUMNS`.
#[derive(sqlx::FromRow)]
pub(super) struct ClaimedRow {
    id: i64,
    tenant_id: i64,
    tenant_name: String,
    app_name: Option<String>,
    is_test: i64,
    session_public_id: Option<String>,
    channel: String,
    recipient: String,
    sealed_code: Option<Vec<u8>>,
    attempts: i64,
    expires_at: i64,
    locale: Option<String>,
    token_hash: Option<Vec<u8>>,
    request_id: Option<String>,
    origin: Option<String>,
    queued_at_ms: i64,
}

impl ClaimedRow {
    pub(super) fn claimed(self) -> StoreResult<ClaimedDelivery> {
        Ok(ClaimedDelivery {
            id: self.id,
            tenant_id: self.tenant_id,
            tenant_name: self.tenant_name,
            app_name: self.app_name,
            is_test: self.is_test == 1,
            session_public_id: self.session_public_id,
            channel: Channel::parse(&self.channel)
                .ok_or_else(|| StoreError::Corrupt(format!("channel `{}`", self.channel)))?,
            recipient: self.recipient,
            sealed_code: self.sealed_code,
            attempt: u32::try_from(self.attempts)
                .map_err(|_| StoreError::Corrupt("attempts".into()))?,
            expires_at: self.expires_at,
            locale: self.locale,
            token_hash: self.token_hash,
            request_id: self.request_id,
            origin: self.origin,
            queued_at_ms: self.queued_at_ms,
        })
    }
}

/// The latest message of a channel, as status reports it.
#[derive(sqlx::FromRow)]
pub(super) struct DeliveryRow {
    channel: String,
    status: String,
    error: Option<String>,
    attempts: i64,
    updated_at: i64,
}

/// Each channel's latest message, from its rows.
pub(super) fn delivery_views(rows: Vec<DeliveryRow>) -> BTreeMap<Channel, DeliveryView> {
    let mut views = BTreeMap::new();
    for row in rows {
        let (Some(channel), Some(status)) =
            (Channel::parse(&row.channel), public_status(&row.status))
        else {
            // A message cancelled by a resend is always followed by the new one; a cancelled
            // session is never shown. Anything else here is not reportable.
            continue;
        };
        views.insert(
            channel,
            DeliveryView {
                status,
                error: row.error.as_deref().and_then(DeliveryFailure::parse),
                attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                updated_at: row.updated_at,
            },
        );
    }
    views
}

/// What a receipt does to a message stored as `current` (`held`: a receipt already kept for it
/// while it was being handed over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReceiptMove {
    /// The status moves to the receipt's now.
    Apply,
    /// The message is still being handed over: the provider reported on it before otpgate
    /// recorded that the provider accepted it (a gateway's delivery report can overtake the
    /// answer to the send). The receipt is kept, and the acceptance applies it.
    Hold,
    /// Nothing changes: the receipt does not move the status forward, or the message was
    /// cancelled by a resend.
    Ignore,
}

/// Receipts move a status only forward; one for a message being handed over counts from `sent`
/// (or from the receipt held before it), as the provider has evidently accepted the message.
pub(super) fn receipt_move(
    current: &str,
    held: Option<&str>,
    status: DeliveryStatus,
) -> ReceiptMove {
    let moves_from = |from: &str| public_status(from).is_some_and(|from| from.may_become(status));
    match current {
        "cancelled" => ReceiptMove::Ignore,
        "sending" if moves_from(held.unwrap_or("sent")) => ReceiptMove::Hold,
        "sending" => ReceiptMove::Ignore,
        _ if moves_from(current) => ReceiptMove::Apply,
        _ => ReceiptMove::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus::{Delivered, Failed, Queued, Sent};

    #[test]
    fn receipts_move_forward_and_wait_for_a_message_being_handed_over() {
        use ReceiptMove::{Apply, Hold, Ignore};
        let cases = [
            // (stored, held, receipt) -> what it does
            ("queued", None, Sent, Apply),
            ("sent", None, Delivered, Apply),
            ("sent", None, Failed, Apply),
            ("sent", None, Sent, Ignore),
            ("sent", None, Queued, Ignore),
            ("delivered", None, Failed, Ignore),
            ("failed", None, Delivered, Ignore),
            ("cancelled", None, Delivered, Ignore),
            // Being handed over: counted from `sent`, or from the receipt already held.
            ("sending", None, Delivered, Hold),
            ("sending", None, Failed, Hold),
            ("sending", None, Sent, Ignore),
            ("sending", Some("sent"), Delivered, Hold),
            ("sending", Some("delivered"), Sent, Ignore),
            ("sending", Some("delivered"), Failed, Ignore),
        ];
        for (stored, held, receipt, expected) in cases {
            assert_eq!(
                receipt_move(stored, held, receipt),
                expected,
                "{stored} (held {held:?}) + {receipt:?}"
            );
        }
    }
}

//! Progressive sessions as stored: creation (with idempotency records), decisions written
//! over the version they were made on, cancellation.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::tenants::TenantGate;
use super::*;
use crate::engine::delivery::DeliveryView;
use crate::engine::limits::{LimitOverrides, LimitPolicy, Refusal, Streak};
use crate::engine::policy::SessionLimits;
use crate::engine::{Channel, ChannelState, Session, VerificationMode};

/// Each channel's delivery, as a send or resend reports it.
pub type Deliveries = BTreeMap<Channel, DeliveryView>;

/// How long an `Idempotency-Key` answers with the first response.
pub const IDEMPOTENCY_WINDOW_SECS: i64 = 24 * 60 * 60;

/// One channel of a new session: where it goes, the hash of its code, its destination's hash.
#[derive(Clone, Debug)]
pub struct NewChannel {
    pub recipient: String,
    pub code_hash: Vec<u8>,
    /// The keyed hash its destination's failure streak is kept under.
    pub destination: Vec<u8>,
}

/// Everything needed to store a new session.
#[derive(Clone, Debug)]
pub struct CreateSession<'a> {
    pub tenant_id: i64,
    /// The tenant's name, for the events the session tells of.
    pub tenant_name: &'a str,
    pub token_hash: &'a [u8],
    /// The session's non-secret name (`ses_…`).
    pub public_id: &'a str,
    pub is_test: bool,
    pub locale: Option<&'a str>,
    /// The app name its messages say when it is not the tenant's (a Twilio service's).
    pub app_name: Option<&'a str>,
    pub created_at: i64,
    pub session: &'a Session,
    pub channels: Vec<NewChannel>,
    /// A fallback session's timer (its first channel's message is the only one).
    pub fallback: Option<StoredFallback>,
    /// One message per channel (the first only, for a fallback session), written in the same
    /// transaction.
    pub messages: Vec<NewMessage>,
    /// The limits this send is held to.
    pub limits: &'a SendPolicy,
}

/// What `create_session` did.
#[derive(Clone, Debug)]
pub enum SessionCreation {
    /// Stored, with each channel's message as it stands.
    Stored(Deliveries),
    /// The idempotency key was used within its window: nothing stored, the first answer.
    Replayed(StoredIdempotency),
    /// A limit refused it: nothing stored but the refusal's record.
    Refused(Refusal),
}

/// What a decision on a loaded session asks the store to write.
#[derive(Clone, Copy, Debug)]
pub struct SessionChange<'a> {
    /// The session as it was loaded (its version is the condition of the write).
    pub before: &'a StoredSession,
    /// The session as the decision left it (with the refusal to record, if it made one).
    pub after: &'a StoredSession,
    /// New messages (a resend's codes), which replace the channels' queued ones.
    pub messages: &'a [NewMessage],
    /// The limits the decision was made under: the tenant's over the server's.
    pub policy: &'a LimitPolicy,
    /// The widget's client IP (hashed), when the call submits codes through a widget door.
    pub widget_ip: Option<&'a [u8]>,
    /// False when the decision refused the call: then only its refusal record is written.
    pub decided: bool,
    /// An operator's retry of a failed message, which this resend is.
    pub retry: Option<Retry<'a>>,
    pub now: i64,
}

/// An operator's retry of a failed message: the resend it makes is recorded as
/// `delivery.retried`, in the resend's transaction.
#[derive(Clone, Copy, Debug)]
pub struct Retry<'a> {
    pub by: &'a Caller,
    /// The failed message.
    pub message_id: i64,
    /// Its recipient, masked.
    pub shown: &'a str,
}

impl SessionChange<'_> {
    /// Whether the decision moved anything of the session: counters, channels, codes, streaks.
    pub fn writes_session(&self) -> bool {
        let (before, after) = (self.before, self.after);
        before.session != after.session
            || before.fallback != after.fallback
            || before.code_hashes != after.code_hashes
            || before.streaks != after.streaks
            || !self.messages.is_empty()
    }

    /// Whether committing would write anything at all.
    pub fn writes_anything(&self) -> bool {
        self.widget_ip.is_some()
            || self.after.refusal.is_some()
            || (self.decided && self.writes_session())
    }
}

/// What `commit_session` did.
#[derive(Clone, Debug)]
pub enum SessionCommit {
    /// Written, with the new messages as they stand.
    Written(Deliveries),
    /// A limit refused the call: nothing written but the refusal's record.
    Refused(Refusal),
    /// The session or a streak changed since it was loaded: nothing written.
    Stale,
}

/// The first answer to an idempotent send, sealed.
#[derive(Clone, Debug)]
pub struct IdempotencyRecord<'a> {
    pub key: &'a str,
    pub body_hash: &'a [u8],
    pub nonce: Vec<u8>,
    pub sealed: Vec<u8>,
}

/// An idempotency record found in the database.
#[derive(Clone, Debug)]
pub struct StoredIdempotency {
    pub body_hash: Vec<u8>,
    pub nonce: Vec<u8>,
    pub sealed: Vec<u8>,
}

/// A session as loaded for a decision, with what the engine does not model.
#[derive(Clone, Debug)]
pub struct StoredSession {
    pub id: i64,
    pub tenant_id: i64,
    pub tenant_name: String,
    pub is_test: bool,
    pub locale: Option<String>,
    /// The app name its messages say when it is not the tenant's (a Twilio service's).
    pub app_name: Option<String>,
    pub token_hash: Vec<u8>,
    /// The session's non-secret name (`ses_…`), for the admin API and audit entries.
    pub public_id: String,
    pub created_at: i64,
    /// Set only when looked up by an operator: a cancelled session takes no decisions.
    pub cancelled_at: Option<i64>,
    /// Bumped by every write; a decision is written only over the version it was made on.
    pub version: i64,
    pub session: Session,
    /// Per channel, in the session's channel order.
    pub recipients: Vec<String>,
    pub code_hashes: Vec<Vec<u8>>,
    /// Per channel: the destination's keyed hash and its run of failed verifications.
    pub destinations: Vec<Option<Vec<u8>>>,
    pub streaks: Vec<Streak>,
    /// The tenant's own limits.
    pub limits: LimitOverrides,
    /// Whether the tenant may send (a resend), and on which channels.
    pub gate: TenantGate,
    /// Set by a decision that refuses the call under a limit, to be recorded.
    pub refusal: Option<RefusalRecord>,
    /// When its channels are sent one after the other: the fallback's timer.
    pub fallback: Option<StoredFallback>,
}

/// A fallback session's timer, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredFallback {
    /// How long each channel is given before the next is sent.
    pub after_secs: i64,
    /// When the fallback pass looks at the session next; `None` once nothing more will be sent.
    pub due_at: Option<i64>,
}

pub(super) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a session with its messages, or, when `idempotency` names a key this tenant
    /// already used within the window, stores nothing and returns that record, or, when a limit
    /// refuses the send, stores only the refusal. Decided on counts read without the write
    /// lock and written in one transaction with checks that those counts still allow it (and
    /// that no record of the key was written meanwhile), decided again when they do not: two
    /// concurrent sends with the same key create one session, concurrent sends never pass a
    /// limit together, and no session exists without its messages.
    async fn create_session(
        &self,
        new: &CreateSession<'_>,
        idempotency: Option<&IdempotencyRecord<'_>>,
    ) -> StoreResult<SessionCreation>;

    /// Loads a live (not cancelled) session by its token hash, scoped to `tenant_id` when given.
    async fn load_session(
        &self,
        tenant_id: Option<i64>,
        token_hash: &[u8],
    ) -> StoreResult<Option<StoredSession>>;

    /// Writes what a decision on a session loaded without the write lock changed, if the
    /// session is still as it was loaded: its version is claimed with a conditional `UPDATE`,
    /// and each destination streak the decision moved must still hold the value it was moved
    /// from; otherwise nothing is written and the answer is `Stale` (load and decide again).
    /// A widget submission counts against its IP's minute first; new messages are held to the
    /// send limits. A refusal is recorded and nothing else is written.
    async fn commit_session(&self, change: &SessionChange<'_>) -> StoreResult<SessionCommit>;

    /// The open fallback sessions whose timer is due by `now` (tenant and token hash), the
    /// longest due first, at most `limit`.
    async fn due_fallbacks(&self, now: i64, limit: i64) -> StoreResult<Vec<(i64, Vec<u8>)>>;

    /// Moves a fallback timer that is still due at `now` to `due_at` (`None`: nothing more
    /// will be sent), outside any decision: for a step the limits or the tenant's settings
    /// refused.
    async fn postpone_fallback(
        &self,
        tenant_id: i64,
        token_hash: &[u8],
        now: i64,
        due_at: Option<i64>,
    ) -> StoreResult<()>;

    /// Cancels a live session and erases its codes from the outbox; false when there is no
    /// such session for this tenant.
    async fn cancel_session(
        &self,
        tenant_id: i64,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<bool>;
}

/// One row of a session as both stores read it: the session's columns repeated on each of its
/// channels' rows (one round trip), with the channel's destination streak.
#[derive(sqlx::FromRow)]
pub(super) struct SessionChannelRow {
    pub(super) id: i64,
    tenant_id: i64,
    tenant_name: String,
    limits: Option<String>,
    enabled_channels: Option<String>,
    disabled_at: Option<i64>,
    is_test: i64,
    mode: String,
    code_length: i64,
    max_attempts: i64,
    max_attempts_per_channel: Option<i64>,
    failed_attempts: i64,
    resends: i64,
    locale: Option<String>,
    app_name: Option<String>,
    token_hash: Vec<u8>,
    public_id: String,
    created_at: i64,
    cancelled_at: Option<i64>,
    pub(super) expires_at: i64,
    version: i64,
    fallback_after_secs: Option<i64>,
    fallback_due_at: Option<i64>,
    channel: String,
    recipient: String,
    code_hash: Vec<u8>,
    channel_failed: i64,
    verified_rank: Option<i64>,
    verified_at: Option<i64>,
    last_sent_at: i64,
    destination: Option<Vec<u8>>,
    streak_failures: Option<i64>,
    streak_locked_until: Option<i64>,
}

fn small(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(format!("{what} out of range")))
}

/// The session its channel rows describe (in channel order), or `None` when there are none.
pub(super) fn session_from_rows(
    rows: Vec<SessionChannelRow>,
) -> StoreResult<Option<StoredSession>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mode = VerificationMode::parse(&first.mode)
        .ok_or_else(|| corrupt(format!("mode `{}`", first.mode)))?;
    let code_length = u8::try_from(first.code_length).map_err(|_| corrupt("code_length"))?;
    let max_attempts_per_channel = first
        .max_attempts_per_channel
        .map(|n| small(n, "max_attempts_per_channel"))
        .transpose()?;
    let limits = super::tenants::parse_limits(first.limits.clone())?;
    let gate = TenantGate::from_columns(first.enabled_channels.as_deref(), first.disabled_at)?;
    let session = Session {
        mode,
        limits: SessionLimits {
            max_attempts: small(first.max_attempts, "max_attempts")?,
            max_attempts_per_channel,
        },
        code_length,
        failed_attempts: small(first.failed_attempts, "failed_attempts")?,
        expires_at: first.expires_at,
        channels: Vec::with_capacity(rows.len()),
        resends: small(first.resends, "resends")?,
    };
    let mut stored = StoredSession {
        id: first.id,
        tenant_id: first.tenant_id,
        tenant_name: first.tenant_name.clone(),
        is_test: first.is_test == 1,
        locale: first.locale.clone(),
        app_name: first.app_name.clone(),
        token_hash: first.token_hash.clone(),
        public_id: first.public_id.clone(),
        created_at: first.created_at,
        cancelled_at: first.cancelled_at,
        version: first.version,
        session,
        recipients: Vec::with_capacity(rows.len()),
        code_hashes: Vec::with_capacity(rows.len()),
        destinations: Vec::with_capacity(rows.len()),
        streaks: Vec::with_capacity(rows.len()),
        limits,
        gate,
        refusal: None,
        fallback: first.fallback_after_secs.map(|after_secs| StoredFallback {
            after_secs,
            due_at: first.fallback_due_at,
        }),
    };
    for row in rows {
        stored.session.channels.push(ChannelState {
            channel: Channel::parse(&row.channel)
                .ok_or_else(|| corrupt(format!("channel `{}`", row.channel)))?,
            failed_attempts: small(row.channel_failed, "channel failed_attempts")?,
            verified_rank: row
                .verified_rank
                .map(|n| small(n, "verified_rank"))
                .transpose()?,
            verified_at: row.verified_at,
            last_sent_at: row.last_sent_at,
        });
        stored.recipients.push(row.recipient);
        stored.code_hashes.push(row.code_hash);
        stored.destinations.push(row.destination);
        stored.streaks.push(Streak {
            failures: row
                .streak_failures
                .map_or(Ok(0), |n| small(n, "streak failures"))?,
            locked_until: row.streak_locked_until,
        });
    }
    Ok(Some(stored))
}

/// The destination streaks a decision moved, each destination once (channels to one
/// destination share its streak): where, from what, to what.
pub(super) fn changed_streaks<'a>(
    before: &'a StoredSession,
    after: &'a StoredSession,
) -> Vec<(&'a [u8], Streak, Streak)> {
    let mut changed: Vec<(&[u8], Streak, Streak)> = Vec::new();
    let streaks = before.streaks.iter().zip(&after.streaks);
    for ((old, new), destination) in streaks.zip(&after.destinations) {
        if let Some(destination) = destination
            && old != new
            && !changed.iter().any(|(d, _, _)| *d == destination.as_slice())
        {
            changed.push((destination, *old, *new));
        }
    }
    changed
}

/// The channels a decision changed (state or code): position, before, after.
pub(super) fn changed_channels<'a>(
    before: &'a StoredSession,
    after: &'a StoredSession,
) -> Vec<(usize, &'a ChannelState, &'a ChannelState)> {
    let old = before.session.channels.iter().zip(&before.code_hashes);
    let new = after.session.channels.iter().zip(&after.code_hashes);
    old.zip(new)
        .enumerate()
        .filter(|(_, ((old, old_hash), (new, new_hash)))| old != new || old_hash != new_hash)
        .map(|(position, ((old, _), (new, _)))| (position, old, new))
        .collect()
}

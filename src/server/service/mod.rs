//! `VerificationService`: the one place that turns requests into engine decisions, storage and
//! delivery. The REST handlers, the server functions and the CLI are thin adapters over it.

mod key_cache;
pub mod validate;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::code::generate_code;
use crate::engine::limits::{DestinationRule, LimitPolicy, Refusal, ip_subject, number_prefix};
use crate::engine::session::{Summary, VerifyOutcome};
use crate::engine::single::{SingleError, SingleRequest, SingleSpec};
use crate::engine::{
    Channel, RequestedLimits, ResendError, Session, SessionError, SessionSpec, VerificationMode,
};
use crate::server::clock::Clock;
use crate::server::crypto::{self, CodeScope, ServerKeys, Subjects};
use crate::server::delivery::templates::{Language, code_message};
use crate::server::delivery::worker::Worker;
use crate::server::delivery::{Delivery, NoProvider, Route};
use crate::server::store::{
    AuthenticatedKey, CreateSession, Deliveries, IdempotencyRecord, MessageSubjects, NewChannel,
    NewMessage, NewRoute, NewSingleRequest, OutboxMessage, OutboxQuery, ReceiptKey, ReceiptOutcome,
    RefusalRecord, SendPolicy, SessionChange, SessionCommit, SessionCreation, Store, StoreError,
    StoredSession, StoredSingleRequest,
};

/// Why a request failed, in terms the adapters map to their own error shapes.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidRequest(String),
    /// A submitted code too long to be one: malformed, refused before any attempt is counted.
    #[error("{0}")]
    MalformedCode(String),
    #[error("OTP not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("OTP has expired")]
    Expired(Box<SessionView>),
    #[error("Too many attempts")]
    Locked(Box<SessionView>),
    /// Refused for now: a resend inside its cooldown (`refusal` is `None`), or a limit (see
    /// `From<Refusal>`).
    #[error("{message}")]
    RateLimited {
        retry_after: i64,
        message: String,
        refusal: Option<Refusal>,
    },
    /// A single-SMS verify that did not succeed (always HTTP 400 in that API).
    #[error("{0}")]
    Single(SingleError),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl From<NoProvider> for ServiceError {
    fn from(e: NoProvider) -> Self {
        ServiceError::Forbidden(e.to_string())
    }
}

impl From<Refusal> for ServiceError {
    /// The answer to a refusal. Every destination rule answers the same words and the same
    /// wait, so the answer says nothing about what happened to a destination before.
    fn from(refusal: Refusal) -> Self {
        let message = match refusal {
            Refusal::Country(code) => {
                return ServiceError::Forbidden(format!(
                    "SMS and WhatsApp to country code +{code} are not allowed for this app"
                ));
            }
            Refusal::Destination(_) => {
                "Too many codes or attempts for this recipient; try again later".to_owned()
            }
            Refusal::TenantBudget(channel) => {
                format!("This app's hourly budget of {channel} messages is spent; try again later")
            }
            Refusal::ClientIp => {
                "Too many codes were requested from this client IP; try again later".to_owned()
            }
            Refusal::WidgetIp => {
                "Too many codes were submitted from this address; try again in a minute".to_owned()
            }
            Refusal::Resends => {
                "This session had all its resends; start a new verification".to_owned()
            }
        };
        ServiceError::RateLimited {
            retry_after: refusal.retry_after().unwrap_or(crate::engine::limits::HOUR),
            message,
            refusal: Some(refusal),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// A request for a new progressive session, with fields as the client sent them.
#[derive(Clone, Debug, Default)]
pub struct SendInput {
    pub channels: Vec<Channel>,
    pub recipients: BTreeMap<Channel, String>,
    pub mode: VerificationMode,
    pub limits: RequestedLimits,
    pub locale: Option<String>,
    /// The end user's IP, as the integrator's backend saw it.
    pub client_ip: Option<String>,
}

/// An `Idempotency-Key` with the hash of the body it came with.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: String,
    pub body_hash: Vec<u8>,
}

/// The answer to a send; also what an idempotent replay returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    pub session_token: String,
    pub expires_at: i64,
    pub channels: Vec<Channel>,
    pub verification_mode: VerificationMode,
    /// Each channel's message as it stood when the send was answered.
    pub deliveries: Deliveries,
}

/// What every answer about a session reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub summary: Summary,
    pub channels: Vec<Channel>,
    pub mode: VerificationMode,
    pub expires_at: i64,
    pub code_length: u8,
    pub tenant_name: String,
    pub locale: Option<String>,
    pub recipients: Vec<String>,
    pub tenant_id: i64,
    /// The session itself, for callers that show per-channel detail (the widget).
    pub session: Session,
    /// When this view was taken.
    pub now: i64,
    /// Each channel's latest message, when the answer reports it (status, resend).
    pub deliveries: Option<Deliveries>,
    pub id: i64,
}

impl SessionView {
    fn of(stored: &StoredSession, now: i64) -> SessionView {
        let session = &stored.session;
        SessionView {
            summary: session.summary(now),
            channels: session.channels.iter().map(|c| c.channel).collect(),
            mode: session.mode,
            expires_at: session.expires_at,
            code_length: session.code_length,
            tenant_name: stored.tenant_name.clone(),
            locale: stored.locale.clone(),
            recipients: stored.recipients.clone(),
            tenant_id: stored.tenant_id,
            session: session.clone(),
            now,
            deliveries: None,
            id: stored.id,
        }
    }
}

/// The answer to a verify that looked at codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub outcome: VerifyOutcome,
    pub view: SessionView,
}

/// The answer to a resend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResendReport {
    pub resent: Vec<Channel>,
    /// Every channel's latest message, the resent ones replaced.
    pub view: SessionView,
}

/// The answer to a single-SMS initiate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleCreated {
    pub request_id: String,
    pub expires_at: i64,
}

/// The answer to a successful single-SMS verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleVerified {
    pub phone_number: String,
    pub verified_at: i64,
    pub attempts_used: u32,
    pub max_attempts: u32,
}

/// The verification service. Axum hands each request its own clone of the state, so a clone
/// is one reference count.
#[derive(Clone)]
pub struct VerificationService(Arc<ServiceParts>);

/// What the verification service is made of.
pub struct ServiceParts {
    store: Arc<dyn Store>,
    keys: Arc<ServerKeys>,
    subjects: Subjects,
    delivery: Delivery,
    clock: Arc<dyn Clock>,
    /// The server's limits; each tenant's own go over them.
    limits: Arc<LimitPolicy>,
    /// Keys authenticated in the last second.
    keys_seen: key_cache::KeyCache,
}

/// The stored hash of a session token, or not found for anything that cannot be one (checked
/// before any look-up, so a hostile value never reaches the database or a log line).
impl std::ops::Deref for VerificationService {
    type Target = ServiceParts;

    fn deref(&self) -> &ServiceParts {
        &self.0
    }
}

fn session_token_hash(token: &str) -> ServiceResult<Vec<u8>> {
    if crypto::looks_like_session_token(token) {
        Ok(crypto::sha256(token.as_bytes()))
    } else {
        Err(ServiceError::NotFound)
    }
}

/// How many times a call decides again when the session it decided on changed before its write.
/// Each stale answer means another call's write went through, so this is reached only when far
/// more calls than this race on one session.
const STALE_RETRIES: u32 = 100;

fn too_much_contention() -> ServiceError {
    ServiceError::Store(StoreError::Conflict(format!(
        "the record changed under this call {STALE_RETRIES} times in a row"
    )))
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> ServiceError {
    ServiceError::InvalidRequest(format!("{field}: {reason}"))
}

/// The refusal for codes submitted to a destination locked by its run of failed verifications
/// (only while the session still takes codes: an expired or settled one answers as such).
fn locked_destination(
    stored: &StoredSession,
    codes: &[(Channel, &str)],
    now: i64,
) -> Option<RefusalRecord> {
    if stored.session.ensure_open(now).is_err() {
        return None;
    }
    let channels = &stored.session.channels;
    codes.iter().find_map(|(channel, _)| {
        let index = channels.iter().position(|c| c.channel == *channel)?;
        let locked = !channels[index].is_verified() && stored.streaks[index].is_locked(now);
        locked.then(|| RefusalRecord {
            refusal: Refusal::Destination(DestinationRule::FailureLock),
            subject: stored.destinations[index].clone(),
            channel: Some(*channel),
        })
    })
}

/// `field` names where the channels came from in the request (`otps` or `channels`).
fn session_error(
    error: SessionError,
    stored: &StoredSession,
    now: i64,
    field: &str,
) -> ServiceError {
    match error {
        SessionError::Locked => ServiceError::Locked(Box::new(SessionView::of(stored, now))),
        SessionError::Expired => ServiceError::Expired(Box::new(SessionView::of(stored, now))),
        SessionError::ChannelNotInSession(channel) => invalid(
            field,
            format!("`{channel}` is not a channel of this session"),
        ),
        SessionError::NothingSubmitted => invalid("otps", "must contain at least one code"),
        SessionError::SubmittedTwice(channel) => {
            invalid("otps", format!("`{channel}` is given twice"))
        }
        SessionError::CodeTooLong(channel) => ServiceError::MalformedCode(format!(
            "otps.{channel}: is longer than {} characters",
            crate::engine::code::MAX_SUBMITTED_CODE_CHARS
        )),
    }
}

/// The client IP an integrator passed, or the field named.
fn client_ip(value: Option<&str>) -> ServiceResult<Option<IpAddr>> {
    value
        .map(|v| {
            v.parse::<IpAddr>()
                .map_err(|_| invalid("client_ip", "must be an IPv4 or IPv6 address"))
        })
        .transpose()
}

/// After a verification: each destination's run of failed verifications moves on (channels to
/// one destination move its run together).
fn advance_streaks(
    before: &StoredSession,
    after: &mut StoredSession,
    policy: &LimitPolicy,
    now: i64,
) {
    for index in 0..after.streaks.len() {
        let Some(destination) = after.destinations[index].clone() else {
            continue;
        };
        let same: Vec<usize> = (0..after.destinations.len())
            .filter(|&i| after.destinations[i].as_ref() == Some(&destination))
            .collect();
        if same[0] != index {
            continue;
        }
        let mut failed = 0;
        let mut verified = false;
        for &i in &same {
            let (old, new) = (&before.session.channels[i], &after.session.channels[i]);
            failed += new.failed_attempts - old.failed_attempts;
            verified |= new.is_verified() && !old.is_verified();
        }
        let streak = after.streaks[index].after(policy, verified, failed, now);
        for &i in &same {
            after.streaks[i] = streak;
        }
    }
}

impl VerificationService {
    pub fn new(
        store: Arc<dyn Store>,
        keys: ServerKeys,
        delivery: Delivery,
        clock: Arc<dyn Clock>,
        limits: LimitPolicy,
    ) -> Self {
        VerificationService(Arc::new(ServiceParts {
            store,
            subjects: keys.subjects(),
            keys: Arc::new(keys),
            delivery,
            clock,
            limits: Arc::new(limits),
            keys_seen: key_cache::KeyCache::default(),
        }))
    }

    /// The server's limits, before any tenant's own.
    pub fn limits(&self) -> &LimitPolicy {
        &self.limits
    }

    /// What the limits count for a message to `recipient` (already validated): the destination
    /// (an address compared without case, or an E.164 number, whatever the channel), the
    /// number's country and prefix, and the tenant's budget it spends.
    fn message_subjects(
        &self,
        channel: Channel,
        recipient: &str,
        is_test: bool,
        policy: &LimitPolicy,
    ) -> MessageSubjects {
        let (destination, country, prefix) = if channel.uses_phone_number() {
            let country = phonenumber::parse(None, recipient)
                .ok()
                .map(|n| n.code().value());
            let prefix = country.map(|code| {
                let prefix = number_prefix(recipient, code, policy.prefix_digits);
                self.subjects.of("prefix", &prefix)
            });
            (self.subjects.of("destination", recipient), country, prefix)
        } else {
            let address = recipient.to_lowercase();
            (self.subjects.of("destination", &address), None, None)
        };
        let budget = if is_test {
            format!("{channel}:test")
        } else {
            channel.as_str().to_owned()
        };
        MessageSubjects {
            channel,
            country,
            destination,
            prefix,
            budget,
        }
    }

    /// The limits a send with this key is held to.
    fn send_policy(&self, key: &AuthenticatedKey, client: Option<IpAddr>) -> SendPolicy {
        SendPolicy {
            policy: key.limits.over(&self.limits),
            client_ip: client.map(|ip| self.subjects.of("ip", &ip_subject(ip))),
        }
    }

    /// Loads a session without the write lock, lets `decide` change a copy (under the tenant's
    /// limits over the server's), and writes what changed only if the session is still as it
    /// was loaded; otherwise decides again on a fresh copy. Calls that change nothing (a code
    /// for an expired, locked or verified session, an unknown token) write nothing. A widget
    /// submission (`widget_ip`) always counts against its IP's minute.
    async fn decide_on_session<T>(
        &self,
        tenant_id: Option<i64>,
        token_hash: &[u8],
        widget_ip: Option<&[u8]>,
        now: i64,
        mut decide: impl FnMut(&mut StoredSession, &LimitPolicy) -> ServiceResult<(T, Vec<NewMessage>)>,
    ) -> ServiceResult<(StoredSession, T, Deliveries)> {
        for _ in 0..STALE_RETRIES {
            let before = self
                .store
                .load_session(tenant_id, token_hash)
                .await?
                .ok_or(ServiceError::NotFound)?;
            let policy = before.limits.over(&self.limits);
            let mut after = before.clone();
            let decision = decide(&mut after, &policy);
            let messages = decision.as_ref().map_or(&[][..], |(_, m)| m.as_slice());
            let change = SessionChange {
                before: &before,
                after: &after,
                messages,
                policy: &policy,
                widget_ip,
                decided: decision.is_ok(),
                now,
            };
            let views = if change.writes_anything() {
                match self.store.commit_session(&change).await? {
                    SessionCommit::Written(views) => views,
                    SessionCommit::Refused(refusal) => return Err(refusal.into()),
                    SessionCommit::Stale => continue,
                }
            } else {
                Deliveries::new()
            };
            let (value, _) = decision?;
            return Ok((after, value, views));
        }
        Err(too_much_contention())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The tenant of an API key, or `None` for a malformed, unknown or revoked key. A key
    /// found valid is believed for a second (see `key_cache`).
    pub async fn authenticate(&self, key: &str) -> ServiceResult<Option<AuthenticatedKey>> {
        if !crypto::looks_like_api_key(key) {
            return Ok(None);
        }
        let hash = crypto::sha256(key.as_bytes());
        let now = std::time::Instant::now();
        if let Some(known) = self.keys_seen.get(&hash, now) {
            return Ok(Some(known));
        }
        // A key's kind is part of the key itself; the stored flag must agree with it.
        let found = self
            .store
            .authenticate(&hash)
            .await?
            .filter(|k| k.is_test == crypto::is_test_key(key));
        if let Some(found) = &found {
            self.keys_seen.insert(hash, found.clone(), now);
        }
        Ok(found)
    }

    /// Revokes the key with this prefix (false when no unrevoked key has it); this process
    /// refuses it from the next call, other processes within a second.
    pub async fn revoke_key(&self, prefix: &str) -> ServiceResult<bool> {
        let revoked = self.store.revoke_key(prefix, self.clock.now()).await?;
        self.keys_seen.clear();
        Ok(revoked)
    }

    /// Sets some of a tenant's own limits (see `TenantStore::set_tenant_limits`); they apply
    /// to this process's next call, to other processes' within a second.
    pub async fn set_tenant_limits(
        &self,
        name: &str,
        changes: &crate::engine::limits::LimitOverrides,
        reset: bool,
    ) -> ServiceResult<crate::engine::limits::LimitOverrides> {
        let limits = self.store.set_tenant_limits(name, changes, reset).await?;
        self.keys_seen.clear();
        Ok(limits)
    }

    fn validated_recipient(
        channel: Channel,
        recipients: &BTreeMap<Channel, String>,
    ) -> ServiceResult<String> {
        let field = format!("recipients.{channel}");
        let value = recipients
            .get(&channel)
            .ok_or_else(|| invalid(&field, "is required for this channel"))?;
        let checked = if channel.uses_phone_number() {
            validate::phone_e164(value)
        } else {
            validate::email(value)
        };
        checked.map_err(|reason| invalid(&field, reason))
    }

    /// Creates a session, one independent code per channel, and sends them.
    pub async fn send(
        &self,
        key: &AuthenticatedKey,
        input: SendInput,
        idempotency: Option<Idempotency>,
    ) -> ServiceResult<SessionCreated> {
        let spec = SessionSpec::new(input.channels, input.mode, input.limits)
            .map_err(|e| ServiceError::InvalidRequest(e.to_string()))?;
        let recipients = spec
            .channels
            .iter()
            .map(|&c| Self::validated_recipient(c, &input.recipients))
            .collect::<ServiceResult<Vec<_>>>()?;
        let locale = input
            .locale
            .as_deref()
            .map(validate::locale)
            .transpose()
            .map_err(|reason| invalid("locale", reason))?;
        if let Some(idem) = &idempotency {
            validate::idempotency_key(&idem.key)
                .map_err(|e| ServiceError::InvalidRequest(e.to_owned()))?;
        }
        let client = client_ip(input.client_ip.as_deref())?;
        self.delivery.ensure_routable(key.is_test, &spec.channels)?;
        let send = self.send_policy(key, client);

        let now = self.clock.now();
        let session = Session::new(&spec, now);
        let language = Language::from_locale(locale.as_deref());
        // ThreadRng is not Send: every random draw happens here, before the first await.
        let (created, token_hash, channels, messages, context, sealed) = {
            let mut rng = rand::rng();
            let token = crypto::new_session_token(&mut rng);
            let token_hash = crypto::sha256(token.as_bytes());
            let mut channels = Vec::with_capacity(spec.channels.len());
            let mut messages = Vec::with_capacity(spec.channels.len());
            for (&channel, recipient) in spec.channels.iter().zip(&recipients) {
                let code = generate_code(&mut rng, spec.code_length);
                let scope = CodeScope::SessionChannel {
                    token_hash: &token_hash,
                    channel: channel.as_str(),
                };
                channels.push(NewChannel {
                    recipient: recipient.clone(),
                    code_hash: self.keys.code_hash(scope, &code),
                });
                messages.push(self.new_message(
                    &mut rng,
                    key.is_test,
                    channel,
                    recipient,
                    scope,
                    code,
                    language,
                    &key.tenant_name,
                    spec.expires_in,
                    &send.policy,
                )?);
            }
            let created = SessionCreated {
                session_token: token,
                expires_at: session.expires_at,
                channels: spec.channels.clone(),
                verification_mode: spec.mode,
                deliveries: messages
                    .iter()
                    .map(|m| (m.channel, m.first_view(now)))
                    .collect(),
            };
            let context = idempotency
                .as_ref()
                .map(|i| format!("idempotency:{}:{}", key.tenant_id, i.key));
            let sealed = context.as_ref().map(|context| {
                let plain = serde_json::to_vec(&created)
                    .expect("a struct of strings and numbers serialises");
                self.keys.seal(&mut rng, context.as_bytes(), &plain)
            });
            (created, token_hash, channels, messages, context, sealed)
        };
        let queued = messages
            .iter()
            .any(|m| matches!(m.route, NewRoute::Provider { .. }));
        let record = match (&idempotency, sealed) {
            (Some(idem), Some((nonce, sealed))) => Some(IdempotencyRecord {
                key: &idem.key,
                body_hash: &idem.body_hash,
                nonce,
                sealed,
            }),
            _ => None,
        };
        let stored = self
            .store
            .create_session(
                &CreateSession {
                    tenant_id: key.tenant_id,
                    token_hash: &token_hash,
                    is_test: key.is_test,
                    locale: locale.as_deref(),
                    created_at: now,
                    session: &session,
                    channels,
                    messages,
                    limits: &send,
                },
                record.as_ref(),
            )
            .await?;
        match stored {
            SessionCreation::Stored(_) => {
                self.stored(&created.channels, queued, key);
                Ok(created)
            }
            SessionCreation::Refused(refusal) => Err(refusal.into()),
            SessionCreation::Replayed(first) => {
                let (Some(idem), Some(context)) = (&idempotency, &context) else {
                    return Err(
                        StoreError::Corrupt("idempotency record without a key".into()).into(),
                    );
                };
                if first.body_hash != idem.body_hash {
                    return Err(ServiceError::InvalidRequest(
                        "Idempotency-Key was already used with a different request body".into(),
                    ));
                }
                let plain = self
                    .keys
                    .open(context.as_bytes(), &first.nonce, &first.sealed)
                    .ok_or_else(|| {
                        StoreError::Corrupt("idempotency record does not open".into())
                    })?;
                serde_json::from_slice(&plain)
                    .map_err(|e| StoreError::Corrupt(format!("idempotency record: {e}")).into())
            }
        }
    }

    /// After messages are stored: wakes the worker for queued ones, and says so in the log
    /// (never with a code).
    fn stored(&self, channels: &[Channel], queued: bool, key: &AuthenticatedKey) {
        if queued {
            self.delivery.wake();
        }
        tracing::info!(
            tenant_id = key.tenant_id,
            test = key.is_test,
            channels = ?channels,
            route = if queued { "queued for providers" } else { "caught in the outbox" },
            "messages stored"
        );
    }

    /// One channel's message: caught in the outbox with its text and code (test keys,
    /// development mode), or queued for the provider with the code sealed.
    #[expect(
        clippy::too_many_arguments,
        reason = "every part of a message, drawn in one place"
    )]
    fn new_message(
        &self,
        rng: &mut impl rand::RngCore,
        is_test: bool,
        channel: Channel,
        recipient: &str,
        scope: CodeScope<'_>,
        code: String,
        language: Language,
        tenant: &str,
        seconds_left: i64,
        policy: &LimitPolicy,
    ) -> ServiceResult<NewMessage> {
        let route = match self.delivery.route(is_test, channel)? {
            Route::Outbox => NewRoute::Outbox {
                body: code_message(language, tenant, &code, seconds_left),
                code,
            },
            Route::Provider => NewRoute::Provider {
                sealed_code: self.keys.seal_code(rng, scope, &code),
            },
        };
        Ok(NewMessage {
            channel,
            recipient: recipient.to_owned(),
            route,
            subjects: self.message_subjects(channel, recipient, is_test, policy),
        })
    }

    /// The delivery worker over this service's store, keys, providers and clock.
    pub fn worker(&self, public_url: Option<url::Url>) -> Worker {
        Worker::new(
            self.store.clone(),
            self.keys.clone(),
            self.delivery.clone(),
            self.clock.clone(),
            public_url,
        )
    }

    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// A provider's receipt for one of its messages; it only ever moves a status forward.
    pub async fn receipt(
        &self,
        by: ReceiptKey<'_>,
        status: crate::engine::delivery::DeliveryStatus,
        error: Option<crate::engine::delivery::DeliveryFailure>,
    ) -> ServiceResult<ReceiptOutcome> {
        Ok(self
            .store
            .apply_receipt(by, status, error, self.clock.now())
            .await?)
    }

    /// The message a gateway receipt token names, if otpgate made the token.
    pub fn receipt_delivery(&self, token: &str) -> Option<i64> {
        self.keys.receipt_delivery(token)
    }

    /// Checks submitted codes. `tenant_id` scopes the look-up (`None` only for the widget, where
    /// the token alone is the credential and `widget_ip` is where the codes came from). A code
    /// for a destination locked by its run of failed verifications is not checked at all.
    pub async fn verify(
        &self,
        tenant_id: Option<i64>,
        token: &str,
        submitted: &[(Channel, String)],
        widget_ip: Option<IpAddr>,
    ) -> ServiceResult<VerifyReport> {
        let token_hash = session_token_hash(token)?;
        let now = self.clock.now();
        let keys = &self.keys;
        let codes: Vec<(Channel, &str)> = submitted.iter().map(|(c, s)| (*c, s.as_str())).collect();
        let ip = widget_ip.map(|ip| self.subjects.of("ip", &ip_subject(ip)));
        let (stored, outcome, _) = self
            .decide_on_session(
                tenant_id,
                &token_hash,
                ip.as_deref(),
                now,
                |stored, policy| {
                    if let Some(record) = locked_destination(stored, &codes, now) {
                        let refusal = record.refusal;
                        stored.refusal = Some(record);
                        return Err(ServiceError::from(refusal));
                    }
                    let before = stored.clone();
                    let hashes: Vec<(Channel, Vec<u8>)> = stored
                        .session
                        .channels
                        .iter()
                        .map(|c| c.channel)
                        .zip(stored.code_hashes.iter().cloned())
                        .collect();
                    let outcome = stored
                        .session
                        .verify(now, &codes, |channel, code| {
                            hashes.iter().any(|(c, hash)| {
                                *c == channel
                                    && keys.code_matches(
                                        CodeScope::SessionChannel {
                                            token_hash: &token_hash,
                                            channel: channel.as_str(),
                                        },
                                        code,
                                        hash,
                                    )
                            })
                        })
                        .map_err(|error| session_error(error, stored, now, "otps"))?;
                    advance_streaks(&before, stored, policy, now);
                    Ok((outcome, Vec::new()))
                },
            )
            .await?;
        Ok(VerifyReport {
            outcome,
            view: SessionView::of(&stored, now),
        })
    }

    /// Where a session stands, with each channel's latest message.
    pub async fn status(&self, tenant_id: Option<i64>, token: &str) -> ServiceResult<SessionView> {
        let stored = self
            .store
            .load_session(tenant_id, &session_token_hash(token)?)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let mut view = SessionView::of(&stored, self.clock.now());
        view.deliveries = Some(self.store.session_deliveries(stored.id).await?);
        Ok(view)
    }

    /// Each channel's latest message of the session a view shows.
    pub async fn deliveries(&self, view: &SessionView) -> ServiceResult<Deliveries> {
        match &view.deliveries {
            Some(deliveries) => Ok(deliveries.clone()),
            None => Ok(self.store.session_deliveries(view.id).await?),
        }
    }

    /// Sends new codes on the named channels (all unverified ones when `None`).
    pub async fn resend(
        &self,
        tenant_id: Option<i64>,
        token: &str,
        requested: Option<&[Channel]>,
    ) -> ServiceResult<ResendReport> {
        let token_hash = session_token_hash(token)?;
        let now = self.clock.now();
        let (stored, (resent, queued), _) = self
            .decide_on_session(tenant_id, &token_hash, None, now, |stored, policy| {
                let resent = stored
                    .session
                    .resend(now, requested, policy.resends_per_session);
                let channels = resent.map_err(|e| match e {
                    ResendError::Session(e) => session_error(e, stored, now, "channels"),
                    ResendError::NothingToResend => ServiceError::InvalidRequest(e.to_string()),
                    ResendError::CoolingDown { retry_after } => ServiceError::RateLimited {
                        retry_after,
                        message: format!(
                            "A code was sent on this channel recently; retry in {retry_after} seconds"
                        ),
                        refusal: None,
                    },
                    ResendError::TooManyResends => {
                        stored.refusal = Some(RefusalRecord {
                            refusal: Refusal::Resends,
                            subject: None,
                            channel: None,
                        });
                        ServiceError::RateLimited {
                            // Never sooner than the session's end: it gets no more.
                            retry_after: stored.session.expires_at - now,
                            message: ServiceError::from(Refusal::Resends).to_string(),
                            refusal: Some(Refusal::Resends),
                        }
                    }
                })?;
                self.delivery.ensure_routable(stored.is_test, &channels)?;
                let language = Language::from_locale(stored.locale.as_deref());
                let seconds_left = stored.session.expires_at - now;
                let mut messages = Vec::with_capacity(channels.len());
                let mut rng = rand::rng();
                for &channel in &channels {
                    let index = stored
                        .session
                        .channels
                        .iter()
                        .position(|c| c.channel == channel)
                        .ok_or(ServiceError::NotFound)?;
                    let code = generate_code(&mut rng, stored.session.code_length);
                    let scope = CodeScope::SessionChannel {
                        token_hash: &token_hash,
                        channel: channel.as_str(),
                    };
                    stored.code_hashes[index] = self.keys.code_hash(scope, &code);
                    messages.push(self.new_message(
                        &mut rng,
                        stored.is_test,
                        channel,
                        &stored.recipients[index],
                        scope,
                        code,
                        language,
                        &stored.tenant_name,
                        seconds_left,
                        policy,
                    )?);
                }
                let queued = messages
                    .iter()
                    .any(|m| matches!(m.route, NewRoute::Provider { .. }));
                Ok(((channels, queued), messages))
            })
            .await?;
        self.stored(
            &resent,
            queued,
            &AuthenticatedKey {
                tenant_id: stored.tenant_id,
                tenant_name: stored.tenant_name.clone(),
                is_test: stored.is_test,
                limits: stored.limits.clone(),
            },
        );
        let mut view = SessionView::of(&stored, now);
        view.deliveries = Some(self.store.session_deliveries(stored.id).await?);
        Ok(ResendReport { resent, view })
    }

    /// Cancels a session: every later verify answers not found.
    pub async fn cancel(&self, tenant_id: i64, token: &str) -> ServiceResult<()> {
        let cancelled = self
            .store
            .cancel_session(tenant_id, &session_token_hash(token)?, self.clock.now())
            .await?;
        if cancelled {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// Starts a single-SMS verification.
    pub async fn initiate_single(
        &self,
        key: &AuthenticatedKey,
        phone_number: &str,
        code_length: Option<i64>,
        expires_in: Option<i64>,
        client: Option<&str>,
    ) -> ServiceResult<SingleCreated> {
        let phone = validate::phone_e164(phone_number).map_err(|r| invalid("phone_number", r))?;
        let spec =
            SingleSpec::new(code_length, expires_in).map_err(ServiceError::InvalidRequest)?;
        let client = client_ip(client)?;
        self.delivery
            .ensure_routable(key.is_test, &[Channel::Sms])?;
        let send = self.send_policy(key, client);
        let now = self.clock.now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let scope = CodeScope::SingleRequest {
            request_id: &request_id,
        };
        let (code_hash, message) = {
            let mut rng = rand::rng();
            let code = generate_code(&mut rng, spec.code_length);
            let code_hash = self.keys.code_hash(scope, &code);
            let message = self.new_message(
                &mut rng,
                key.is_test,
                Channel::Sms,
                &phone,
                scope,
                code,
                Language::English,
                &key.tenant_name,
                spec.expires_in,
                &send.policy,
            )?;
            (code_hash, message)
        };
        let queued = matches!(message.route, NewRoute::Provider { .. });
        let request = SingleRequest::new(spec, now);
        self.store
            .create_single_request(&NewSingleRequest {
                tenant_id: key.tenant_id,
                request_id: &request_id,
                phone_number: &phone,
                code_hash: &code_hash,
                is_test: key.is_test,
                created_at: now,
                request: &request,
                message,
                limits: &send,
            })
            .await??;
        self.stored(&[Channel::Sms], queued, key);
        Ok(SingleCreated {
            request_id,
            expires_at: request.expires_at,
        })
    }

    /// Checks the code of a single-SMS request.
    pub async fn verify_single(
        &self,
        tenant_id: i64,
        request_id: &str,
        code: &str,
    ) -> ServiceResult<SingleVerified> {
        // Requests are stored under the canonical (lower-case, hyphenated) form; any spelling of
        // the same UUID names the same request, and anything that is not a UUID is unknown.
        let Ok(parsed) = uuid::Uuid::parse_str(request_id) else {
            return Err(ServiceError::NotFound);
        };
        let canonical = parsed.to_string();
        let now = self.clock.now();
        let keys = &self.keys;
        let decide = |stored: &mut StoredSingleRequest, policy: &LimitPolicy| {
            let open = stored.request.verified_at.is_none() && now < stored.request.expires_at;
            if open && stored.streak.is_locked(now) {
                let refusal = Refusal::Destination(DestinationRule::FailureLock);
                stored.refusal = Some(RefusalRecord {
                    refusal,
                    subject: stored.destination.clone(),
                    channel: Some(Channel::Sms),
                });
                return Err(ServiceError::from(refusal));
            }
            let scope = CodeScope::SingleRequest {
                request_id: &canonical,
            };
            let hash = stored.code_hash.clone();
            let failed_before = stored.request.failed_attempts;
            let result = stored
                .request
                .verify(now, code, |code| keys.code_matches(scope, code, &hash));
            let failed = stored.request.failed_attempts - failed_before;
            stored.streak = stored.streak.after(policy, result.is_ok(), failed, now);
            result.map_err(ServiceError::Single)
        };
        let mut stale = 0;
        let (stored, result) = loop {
            let before = self
                .store
                .load_single_request(tenant_id, &canonical)
                .await?
                .ok_or(ServiceError::NotFound)?;
            let policy = before.limits.over(&self.limits);
            let mut after = before.clone();
            let result = decide(&mut after, &policy);
            // A wrong code is an error that still counts: whatever moved is written.
            let writes = after.refusal.is_some()
                || after.request != before.request
                || after.streak != before.streak;
            if !writes
                || self
                    .store
                    .commit_single_request(&before, &after, now)
                    .await?
            {
                break (after, result);
            }
            stale += 1;
            if stale == STALE_RETRIES {
                return Err(too_much_contention());
            }
        };
        result?;
        Ok(SingleVerified {
            phone_number: stored.phone_number,
            verified_at: stored.request.verified_at.unwrap_or(now),
            attempts_used: stored.request.attempts_used(),
            max_attempts: crate::engine::single::SINGLE_MAX_ATTEMPTS,
        })
    }

    /// The test outbox of a tenant (test keys only), newest first.
    pub async fn test_messages(
        &self,
        key: &AuthenticatedKey,
        to: Option<&str>,
    ) -> ServiceResult<Vec<OutboxMessage>> {
        if !key.is_test {
            return Err(ServiceError::Forbidden(
                "the test outbox is only readable with a test key (sk_test_)".into(),
            ));
        }
        Ok(self
            .store
            .list_outbox(&OutboxQuery {
                tenant_id: Some(key.tenant_id),
                test_only: true,
                recipient: to,
                limit: 100,
                now: self.clock.now(),
            })
            .await?)
    }

    /// The newest test messages of one tenant, for the demo page.
    pub async fn tenant_test_messages(
        &self,
        tenant_id: i64,
        limit: i64,
    ) -> ServiceResult<Vec<OutboxMessage>> {
        Ok(self
            .store
            .list_outbox(&OutboxQuery {
                tenant_id: Some(tenant_id),
                test_only: true,
                recipient: None,
                limit,
                now: self.clock.now(),
            })
            .await?)
    }

    /// Every tenant's caught messages, for the development outbox page.
    pub async fn dev_outbox(&self, limit: i64) -> ServiceResult<Vec<OutboxMessage>> {
        Ok(self
            .store
            .list_outbox(&OutboxQuery {
                limit,
                now: self.clock.now(),
                ..OutboxQuery::default()
            })
            .await?)
    }
}

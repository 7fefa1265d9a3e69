//! The progressive flow: a session of one code per channel, sent at once and verified one
//! channel now and another later under the same token, resent and cancelled.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::engine::code::generate_code;
use crate::engine::fallback::FallbackPolicy;
use crate::engine::limits::{DestinationRule, LimitPolicy, Refusal, ip_subject};
use crate::engine::{Channel, ResendError, Session, SessionError, SessionSpec, VerificationMode};
use crate::server::crypto::{self, CodeScope};
use crate::server::delivery::texts::TenantTexts;
use crate::server::store::{
    Caller, CreateSession, DeliveryQuery, IdempotencyRecord, NewChannel, NewMessage, NewRoute,
    QueuedMessage, RefusalRecord, Retry, SessionChange, SessionCommit, SessionCreation, StoreError,
    StoredFallback, StoredSession,
};

use super::decide::{Record, Written, until_fresh};
use super::error::{count_attempt, invalid, refused};
use super::{
    AuthenticatedKey, Deliveries, Idempotency, Letter, ResendReport, SendInput, ServiceError,
    ServiceResult, SessionCreated, SessionView, VerificationService, VerifyReport, client_ip,
    validate,
};
use crate::engine::session::Verdict;
use crate::server::metrics::{self, Api, AttemptResult};

/// The stored hash of a session token, or not found for anything that cannot be one (checked
/// before any look-up, so a hostile value never reaches the database or a log line).
fn session_token_hash(token: &str) -> ServiceResult<Vec<u8>> {
    if crypto::looks_like_session_token(token) {
        Ok(crypto::sha256(token.as_bytes()))
    } else {
        Err(ServiceError::NotFound)
    }
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

/// A session as decisions see it: found by its token, within a tenant (or by the token alone,
/// for the widget, whose submissions count against their client IP's minute).
struct SessionRecord<'a> {
    service: &'a VerificationService,
    tenant_id: Option<i64>,
    token_hash: &'a [u8],
    widget_ip: Option<&'a [u8]>,
    /// Set when the decision is an operator's retry of a failed message.
    retry: Option<Retry<'a>>,
    now: i64,
}

#[async_trait]
impl Record for SessionRecord<'_> {
    type Copy = StoredSession;
    type Report = Deliveries;

    async fn read(&self) -> ServiceResult<StoredSession> {
        self.service
            .store
            .load_session(self.tenant_id, self.token_hash)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    fn policy(&self, copy: &StoredSession) -> LimitPolicy {
        copy.limits.over(&self.service.limits)
    }

    async fn write(
        &self,
        before: &StoredSession,
        after: &StoredSession,
        messages: &[NewMessage],
        decided: bool,
        policy: &LimitPolicy,
    ) -> ServiceResult<Written<Deliveries>> {
        let change = SessionChange {
            before,
            after,
            messages,
            policy,
            widget_ip: self.widget_ip,
            decided,
            retry: self.retry,
            now: self.now,
        };
        // Calls that change nothing (a code for an expired, locked or verified session) write
        // nothing.
        if !change.writes_anything() {
            return Ok(Written::Done(Deliveries::new()));
        }
        match self.service.store.commit_session(&change).await? {
            SessionCommit::Written(views) => {
                self.service.events_written();
                Ok(Written::Done(views))
            }
            SessionCommit::Refused(refusal) => Err(refused(refusal)),
            SessionCommit::Stale => Ok(Written::Stale),
        }
    }
}

impl VerificationService {
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
        decide: impl FnMut(&mut StoredSession, &LimitPolicy) -> ServiceResult<(T, Vec<NewMessage>)>,
    ) -> ServiceResult<(StoredSession, T, Deliveries)> {
        self.decide_retry(tenant_id, token_hash, widget_ip, None, now, decide)
            .await
    }

    /// `decide_on_session`, for a decision that may be an operator's retry.
    pub(super) async fn decide_retry<T>(
        &self,
        tenant_id: Option<i64>,
        token_hash: &[u8],
        widget_ip: Option<&[u8]>,
        retry: Option<Retry<'_>>,
        now: i64,
        decide: impl FnMut(&mut StoredSession, &LimitPolicy) -> ServiceResult<(T, Vec<NewMessage>)>,
    ) -> ServiceResult<(StoredSession, T, Deliveries)> {
        let record = SessionRecord {
            service: self,
            tenant_id,
            token_hash,
            widget_ip,
            retry,
            now,
        };
        let (after, value, views) = until_fresh(&record, decide).await?;
        Ok((after, value?, views))
    }

    fn validated_recipient(
        channel: Channel,
        recipients: &BTreeMap<Channel, String>,
    ) -> ServiceResult<String> {
        let field = format!("recipients.{channel}");
        let value = recipients
            .get(&channel)
            .ok_or_else(|| invalid(&field, "is required for this channel"))?;
        validate::recipient(channel, value).map_err(|reason| invalid(&field, reason))
    }

    /// Creates a session, one independent code per channel, and sends them (a fallback send:
    /// the first).
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
        let fallback = input
            .fallback_after_secs
            .map(|after_secs| fallback_policy(after_secs, spec.mode))
            .transpose()?;
        self.ensure_sendable(key.is_test, &key.gate, &spec.channels)?;
        let send = self.send_policy(key, client);

        let now = self.clock.now();
        let session = Session::new(&spec, now);
        let texts = self.texts.tenant(key.tenant_id).await?;
        let app_name = input.app_name.as_deref();
        let letter = Letter {
            is_test: key.is_test,
            locale: locale.as_deref(),
            texts: &texts,
            tenant: app_name.unwrap_or(&key.tenant_name),
            seconds_left: spec.expires_in,
            policy: &send.policy,
        };
        // ThreadRng is not Send: every random draw happens here, before the first await.
        let (created, token_hash, channels, messages, context, sealed) = {
            let mut rng = rand::rng();
            let token = input
                .token
                .clone()
                .unwrap_or_else(|| crypto::new_session_token(&mut rng));
            let session_id = crypto::new_session_id(&mut rng);
            let token_hash = crypto::sha256(token.as_bytes());
            let mut channels = Vec::with_capacity(spec.channels.len());
            let mut messages = Vec::with_capacity(spec.channels.len());
            for (position, (&channel, recipient)) in
                spec.channels.iter().zip(&recipients).enumerate()
            {
                let code = generate_code(&mut rng, spec.code_length);
                let scope = CodeScope::SessionChannel {
                    token_hash: &token_hash,
                    channel: channel.as_str(),
                };
                channels.push(NewChannel {
                    recipient: recipient.clone(),
                    code_hash: self.keys.code_hash(scope, &code),
                    destination: super::destination_subject(&self.subjects, channel, recipient),
                });
                // A fallback sends its first channel only; each later one gets a new code when
                // its turn comes (this one is never sent).
                if fallback.is_none() || position == 0 {
                    messages.push(
                        self.new_message(&mut rng, &letter, channel, recipient, scope, code)?,
                    );
                }
            }
            let created = SessionCreated {
                session_token: token,
                session_id,
                expires_at: session.expires_at,
                channels: spec.channels.clone(),
                verification_mode: spec.mode,
                deliveries: messages
                    .iter()
                    .map(|m| (m.channel, m.first_view(now)))
                    .collect(),
                fallback_after_secs: fallback.map(FallbackPolicy::after_secs),
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
        // Held until this request is answered: a retry racing it is told to wait.
        let _claim = match &context {
            Some(context) => Some(
                self.idempotency_in_flight
                    .claim(context.clone())
                    .ok_or(ServiceError::IdempotencyInFlight)?,
            ),
            None => None,
        };
        let stored = self
            .store
            .create_session(
                &CreateSession {
                    tenant_id: key.tenant_id,
                    tenant_name: &key.tenant_name,
                    token_hash: &token_hash,
                    public_id: &created.session_id,
                    is_test: key.is_test,
                    locale: locale.as_deref(),
                    app_name,
                    created_at: now,
                    session: &session,
                    channels,
                    fallback: fallback.map(|policy| StoredFallback {
                        after_secs: policy.after_secs(),
                        due_at: Some(now + policy.after_secs()),
                    }),
                    messages,
                    limits: &send,
                },
                record.as_ref(),
            )
            .await?;
        match stored {
            SessionCreation::Stored(_) => {
                self.events_written();
                self.stored(&created.channels, queued, key);
                metrics::session_started(input.api);
                Ok(created)
            }
            SessionCreation::Refused(refusal) => Err(refused(refusal)),
            SessionCreation::Replayed(first) => {
                let (Some(idem), Some(context)) = (&idempotency, &context) else {
                    return Err(
                        StoreError::Corrupt("idempotency record without a key".into()).into(),
                    );
                };
                if first.body_hash != idem.body_hash {
                    return Err(ServiceError::IdempotencyReused(
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
        self.verify_through(Api::Progressive, tenant_id, token, submitted, widget_ip)
            .await
    }

    /// [`Self::verify`] through the door `api`, which the metrics count it under.
    pub async fn verify_through(
        &self,
        api: Api,
        tenant_id: Option<i64>,
        token: &str,
        submitted: &[(Channel, String)],
        widget_ip: Option<IpAddr>,
    ) -> ServiceResult<VerifyReport> {
        let result = self
            .check_codes(tenant_id, token, submitted, widget_ip)
            .await;
        count_attempt(api, &result, |report| match report.outcome.verdict() {
            Verdict::Accepted => AttemptResult::Verified,
            Verdict::Rejected => AttemptResult::WrongCode,
            Verdict::Locked => AttemptResult::Locked,
        });
        result
    }

    async fn check_codes(
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
        for channel in &stored.session.channels {
            // Verified by this call (or another in the same second, which is as good).
            if channel.verified_at == Some(now) {
                let waited = (now - channel.last_sent_at) as f64;
                metrics::time_to_verify(channel.channel, waited);
            }
        }
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
        self.resend_hashed(tenant_id, &token_hash, requested, None)
            .await
    }

    /// Sends a failed message of a session again, as a resend of its channel (a new code, under
    /// the same cooldown and limits as any resend), made by an operator and recorded as
    /// `delivery.retried`. A single-SMS request has one code for life, so its message is not
    /// retried: a new request is the way.
    pub async fn retry_message(
        &self,
        id: i64,
        tenant: Option<&str>,
        by: &Caller,
    ) -> ServiceResult<(QueuedMessage, ResendReport)> {
        let query = DeliveryQuery {
            tenant,
            id: Some(id),
            limit: 1,
            ..DeliveryQuery::default()
        };
        let message = self
            .store
            .queued_messages(&query)
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound("no such message".into()))?;
        let conflict = |why: String| ServiceError::from(StoreError::Conflict(why));
        let Some(session_id) = message.session_id.clone() else {
            return Err(conflict(
                "a single-SMS request has one code for life: start a new request".into(),
            ));
        };
        if message.status != "failed" || message.superseded {
            let status = if message.superseded {
                "replaced by a later one"
            } else {
                crate::server::service::queue::status_name(&message.status)
            };
            return Err(conflict(format!(
                "only a failed message is retried; this one is {status}"
            )));
        }
        let stored = self
            .store
            .session_by_public_id(&session_id, tenant)
            .await?
            .ok_or_else(|| StoreError::NotFound("no such message".into()))?;
        let now = self.clock.now();
        let standing = stored.session.summary(now).status;
        if stored.cancelled_at.is_some()
            || standing != crate::engine::session::SessionStatus::Pending
        {
            let standing = if stored.cancelled_at.is_some() {
                "canceled"
            } else {
                standing.as_str()
            };
            return Err(conflict(format!(
                "its session is {standing}: nothing is sent for it any more"
            )));
        }
        let shown = crate::server::mask::mask_recipient(message.channel, &message.recipient);
        let retry = Retry {
            by,
            message_id: message.id,
            shown: &shown,
        };
        let report = self
            .resend_hashed(
                Some(stored.tenant_id),
                &stored.token_hash,
                Some(&[message.channel]),
                Some(retry),
            )
            .await?;
        Ok((message, report))
    }

    async fn resend_hashed(
        &self,
        tenant_id: Option<i64>,
        token_hash: &[u8],
        requested: Option<&[Channel]>,
        retry: Option<Retry<'_>>,
    ) -> ServiceResult<ResendReport> {
        let token_hash = token_hash.to_vec();
        let now = self.clock.now();
        // The tenant's templates, read before deciding (the decision cannot wait on a read):
        // a resend from the page names no tenant, so its session says which.
        let tenant_of_session = match tenant_id {
            Some(id) => Some(id),
            None => self
                .store
                .load_session(None, &token_hash)
                .await?
                .map(|stored| stored.tenant_id),
        };
        let texts = match tenant_of_session {
            Some(id) => self.texts.tenant(id).await?,
            None => Arc::new(TenantTexts::built_in()),
        };
        let (stored, (resent, queued), _) = self
            .decide_retry(tenant_id, &token_hash, None, retry, now, |stored, policy| {
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
                self.ensure_sendable(stored.is_test, &stored.gate, &channels)?;
                let positions = channels
                    .iter()
                    .map(|&channel| stored.session.position(channel))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| ServiceError::NotFound)?;
                let messages = self.new_codes(stored, &positions, &texts, policy, now)?;
                let queued = messages
                    .iter()
                    .any(|m| matches!(m.route, NewRoute::Provider { .. }));
                Ok(((channels, queued), messages))
            })
            .await?;
        self.stored(&resent, queued, &key_of(&stored));
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
            self.events_written();
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }
}

/// The session's tenant as a key would name it, for what is logged and counted of its sends.
pub(super) fn key_of(stored: &StoredSession) -> AuthenticatedKey {
    AuthenticatedKey {
        key_id: None,
        key_prefix: None,
        tenant_id: stored.tenant_id,
        tenant_name: stored.tenant_name.clone(),
        is_test: stored.is_test,
        limits: stored.limits.clone(),
        gate: stored.gate.clone(),
    }
}

impl VerificationService {
    /// A new code for each channel of the session at `positions` (a resend, a fallback step):
    /// its hash replaces the channel's in `stored`, and its message is returned to be written.
    pub(super) fn new_codes(
        &self,
        stored: &mut StoredSession,
        positions: &[usize],
        texts: &TenantTexts,
        policy: &LimitPolicy,
        now: i64,
    ) -> ServiceResult<Vec<NewMessage>> {
        let letter = Letter {
            is_test: stored.is_test,
            locale: stored.locale.as_deref(),
            texts,
            tenant: stored.app_name.as_deref().unwrap_or(&stored.tenant_name),
            seconds_left: stored.session.expires_at - now,
            policy,
        };
        let mut messages = Vec::with_capacity(positions.len());
        let mut rng = rand::rng();
        for &position in positions {
            let channel = stored.session.channels[position].channel;
            let code = generate_code(&mut rng, stored.session.code_length);
            let scope = CodeScope::SessionChannel {
                token_hash: &stored.token_hash,
                channel: channel.as_str(),
            };
            stored.code_hashes[position] = self.keys.code_hash(scope, &code);
            let recipient = &stored.recipients[position];
            messages.push(self.new_message(&mut rng, &letter, channel, recipient, scope, code)?);
        }
        Ok(messages)
    }
}

/// The fallback a send asks for, checked: `any` sessions only, a wait the engine allows.
fn fallback_policy(after_secs: i64, mode: VerificationMode) -> ServiceResult<FallbackPolicy> {
    if mode != VerificationMode::Any {
        return Err(ServiceError::InvalidRequest(
            "delivery: the fallback strategy is for `any` sessions (an `all` session needs every \
             channel's code)"
                .into(),
        ));
    }
    FallbackPolicy::new(after_secs)
        .map_err(|reason| ServiceError::InvalidRequest(format!("delivery.after_secs: {reason}")))
}

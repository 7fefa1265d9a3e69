//! The services: the one place that turns requests into engine decisions, storage and
//! delivery. `VerificationService` runs the progressive flow (`progressive`), the single-SMS
//! flow (`single`), the outbox (`outbox`) and receipts; `AdminService` (`admin`) manages
//! tenants, keys, origins and limits, with their validation, and the maintenance. Every door —
//! the REST handlers, the server functions, the pages, the CLI — is a thin adapter over them,
//! and nothing outside this module touches the store.

mod admin;
mod decide;
mod error;
mod fallback;
mod in_flight;
mod key_cache;
mod outbox;
mod progressive;
pub mod queue;
mod single;
pub mod stats;
pub mod templates;
pub mod timeline;
pub mod twilio;
pub mod twilio_verifications;
pub mod validate;
mod views;
pub mod webhooks;

use std::net::IpAddr;
use std::sync::Arc;

use crate::engine::Channel;
use crate::engine::limits::{LimitPolicy, ip_subject, number_prefix};
use crate::server::clock::Clock;
use crate::server::crypto::{self, CodeScope, ServerKeys, Subjects};
use crate::server::delivery::texts::{Facts, TenantTexts, TextCache};
use crate::server::delivery::worker::Worker;
use crate::server::delivery::{Delivery, Route};
use crate::server::events::guard::UrlGuard;
use crate::server::events::worker::WebhookWorker;
use crate::server::store::{MessageSubjects, NewMessage, NewRoute, SendPolicy, Store};

pub use admin::{
    AdminService, CreatedAdminToken, DestinationReport, MAX_ADMIN_TOKEN_SECS, NewKey, Retention,
};
use error::invalid;
pub use error::{ServiceError, ServiceResult};
pub use views::*;

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
    keys_seen: Arc<key_cache::KeyCache>,
    /// The `Idempotency-Key`s of sends being answered now.
    idempotency_in_flight: in_flight::InFlight,
    /// What webhook endpoints may be (`OTPGATE_WEBHOOKS_ALLOW_PRIVATE`).
    webhook_guard: UrlGuard,
    /// Wakes this process's webhook worker when a change may have written events.
    webhook_wake: Arc<tokio::sync::Notify>,
    /// The webhook worker's sign of life (readiness asks).
    webhook_beat: Arc<crate::server::delivery::Heartbeat>,
    /// What each tenant's messages say (its templates, compiled).
    texts: Arc<TextCache>,
}

impl std::ops::Deref for VerificationService {
    type Target = ServiceParts;

    fn deref(&self) -> &ServiceParts {
        &self.0
    }
}

/// What a disabled tenant's calls are answered.
pub const DISABLED: &str = "this app is disabled; its operator can enable it again";

/// What every message of one send or resend shares: whose it is and how it reads.
struct Letter<'a> {
    is_test: bool,
    /// The session's locale, which the text's language is chosen by.
    locale: Option<&'a str>,
    /// The tenant's templates.
    texts: &'a TenantTexts,
    /// The tenant's name, which the text names.
    tenant: &'a str,
    /// How long the code stays valid, which the text says.
    seconds_left: i64,
    /// The limits the messages are counted under.
    policy: &'a LimitPolicy,
}

/// The keyed hash a destination's limits and failure streak are kept under: an E.164 number as
/// it is, an address compared without case (whatever the channel).
pub(super) fn destination_subject(
    subjects: &Subjects,
    channel: Channel,
    recipient: &str,
) -> Vec<u8> {
    if channel.uses_phone_number() {
        subjects.of("destination", recipient)
    } else {
        subjects.of("destination", &recipient.to_lowercase())
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

impl VerificationService {
    pub fn new(
        store: Arc<dyn Store>,
        keys: ServerKeys,
        delivery: Delivery,
        clock: Arc<dyn Clock>,
        limits: LimitPolicy,
        webhook_guard: UrlGuard,
    ) -> Self {
        VerificationService(Arc::new(ServiceParts {
            texts: Arc::new(TextCache::new(store.clone())),
            store,
            subjects: keys.subjects(),
            keys: Arc::new(keys),
            delivery,
            clock,
            limits: Arc::new(limits),
            keys_seen: Arc::new(key_cache::KeyCache::default()),
            idempotency_in_flight: in_flight::InFlight::default(),
            webhook_guard,
            webhook_wake: Arc::default(),
            webhook_beat: Arc::default(),
        }))
    }

    /// Tells this process's webhook worker that events may be waiting (a change was written).
    fn events_written(&self) {
        self.webhook_wake.notify_one();
    }

    /// The webhook worker over this service's store, keys and clock.
    pub fn webhook_worker(&self) -> WebhookWorker {
        WebhookWorker::new(
            self.store.clone(),
            self.keys.clone(),
            self.clock.clone(),
            self.webhook_guard.clone(),
            self.webhook_wake.clone(),
            self.webhook_beat.clone(),
        )
    }

    /// The server's limits, before any tenant's own.
    /// The service's clock, in seconds (what its answers date things by).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

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
            let country = crate::server::phone::country_code(recipient);
            let prefix = country.map(|code| {
                let prefix = number_prefix(recipient, code, policy.prefix_digits);
                self.subjects.of("prefix", &prefix)
            });
            (
                destination_subject(&self.subjects, channel, recipient),
                country,
                prefix,
            )
        } else {
            (
                destination_subject(&self.subjects, channel, recipient),
                None,
                None,
            )
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

    /// Refuses a send or resend on `channels` the tenant may not send on (it is disabled, or a
    /// channel is not among its enabled ones), or that no provider can deliver; before
    /// anything is stored or counted.
    fn ensure_sendable(
        &self,
        is_test: bool,
        gate: &TenantGate,
        channels: &[Channel],
    ) -> ServiceResult<()> {
        if gate.disabled() {
            return Err(ServiceError::Forbidden(DISABLED.into()));
        }
        if let Some(channel) = channels.iter().find(|&&c| !gate.allows(c)) {
            return Err(ServiceError::Forbidden(format!(
                "channel `{channel}` is not enabled for this app"
            )));
        }
        Ok(self.delivery.ensure_routable(is_test, channels)?)
    }

    /// The limits a send with this key is held to.
    fn send_policy(&self, key: &AuthenticatedKey, client: Option<IpAddr>) -> SendPolicy {
        SendPolicy {
            policy: key.limits.over(&self.limits),
            client_ip: client.map(|ip| self.subjects.of("ip", &ip_subject(ip))),
        }
    }

    /// The administration of this service's store (tenants, keys, limits), sharing its memory
    /// of authenticated keys, so a revoked key is refused from this process's next call.
    pub fn admin(&self) -> AdminService {
        AdminService::new(
            self.store.clone(),
            self.clock.clone(),
            (*self.limits).clone(),
            Some(self.keys.clone()),
            self.webhook_guard.clone(),
            Some(self.delivery.clone()),
            admin::Sharing {
                keys_seen: self.keys_seen.clone(),
                webhook_wake: self.webhook_wake.clone(),
                texts: self.texts.clone(),
            },
        )
    }

    /// The tenant of an API key, or `None` for a malformed, unknown or revoked key; refused
    /// (`Forbidden`) when its tenant is disabled. A key found valid is believed for a second
    /// (see `key_cache`).
    pub async fn authenticate(&self, key: &str) -> ServiceResult<Option<AuthenticatedKey>> {
        let found = self.known_key(key).await?;
        if found.as_ref().is_some_and(|k| k.gate.disabled()) {
            return Err(ServiceError::Forbidden(DISABLED.into()));
        }
        Ok(found)
    }

    async fn known_key(&self, key: &str) -> ServiceResult<Option<AuthenticatedKey>> {
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
            // Believed for a second from here, so this runs at most once a second per key and
            // process, and writes at most once a minute; beside the request, never in its way
            // (a database that takes reads but not writes still authenticates at once).
            if let Some(id) = found.key_id {
                let (store, now) = (self.store.clone(), self.clock.now());
                tokio::spawn(async move {
                    if let Err(error) = store.touch_key(id, now).await {
                        tracing::warn!(%error, "cannot record a key's use");
                    }
                });
            }
        }
        Ok(found)
    }

    /// A tenant acting as if through one of its keys (the demo page acts as the development
    /// tenant), or `None` when there is no such tenant.
    pub async fn tenant_key(
        &self,
        name: &str,
        is_test: bool,
    ) -> ServiceResult<Option<AuthenticatedKey>> {
        Ok(self.store.tenant_as_key(name, is_test).await?)
    }

    /// Whether this instance can serve: the database answers reads and writes with current
    /// migrations, and the delivery worker (when this process runs one) goes round its loop.
    /// The reasons are fixed words (they are answered publicly); the details are logged.
    pub async fn readiness(&self) -> Result<(), &'static str> {
        match self.store.unready().await {
            Ok(None) => {}
            Ok(Some(reason)) => {
                tracing::warn!(reason, "not ready");
                return Err(if reason.contains("migrations") {
                    "database migrations behind"
                } else if reason.contains("read-only") {
                    "database read-only"
                } else {
                    "database does not take writes"
                });
            }
            Err(error) => {
                tracing::warn!(%error, "not ready: the database does not answer reads and writes");
                return Err("database unreachable");
            }
        }
        // Each worker, and how long without a round means it has stopped.
        let workers = [
            (
                self.delivery.heartbeat(),
                crate::server::delivery::worker::IDLE_CHECK * 3,
                "delivery worker stopped",
            ),
            (
                &*self.webhook_beat,
                crate::server::events::worker::STALLED,
                "webhook worker stopped",
            ),
        ];
        for (beat, stalled, reason) in workers {
            if beat.since().is_some_and(|since| since > stalled) {
                tracing::warn!("not ready: {reason} (no round for {stalled:?})");
                return Err(reason);
            }
        }
        Ok(())
    }

    /// The origins a tenant allows to embed its verification page.
    pub async fn tenant_origins(&self, tenant_id: i64) -> ServiceResult<Vec<String>> {
        Ok(self.store.tenant_origins(tenant_id).await?)
    }

    /// The language a tenant chose for its people, when it chose one (kept with its texts,
    /// a few seconds at most behind a change through another instance).
    pub async fn tenant_language(&self, tenant_id: i64) -> ServiceResult<Option<&'static str>> {
        Ok(self.texts.tenant(tenant_id).await?.default_language())
    }

    /// After messages are stored: wakes the worker for queued ones, and says so in the log
    /// (never with a code).
    fn stored(&self, channels: &[Channel], queued: bool, key: &AuthenticatedKey) {
        if queued {
            self.delivery.wake();
        } else {
            // Caught in the outbox: sent as it was stored.
            for &channel in channels {
                crate::server::metrics::message(
                    channel,
                    "outbox",
                    crate::server::metrics::MessageStatus::Sent,
                );
            }
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
    /// development mode), or queued for the provider with the code sealed to `scope`.
    fn new_message(
        &self,
        rng: &mut impl rand::RngCore,
        letter: &Letter<'_>,
        channel: Channel,
        recipient: &str,
        scope: CodeScope<'_>,
        code: String,
    ) -> ServiceResult<NewMessage> {
        let route = match self.delivery.route(letter.is_test, channel)? {
            Route::Outbox => NewRoute::Outbox {
                body: letter.texts.outbox_text(&Facts {
                    channel,
                    locale: letter.locale,
                    tenant: letter.tenant,
                    code: &code,
                    seconds_left: letter.seconds_left,
                    webotp_host: None,
                }),
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
            subjects: self.message_subjects(channel, recipient, letter.is_test, letter.policy),
        })
    }

    /// The delivery worker over this service's store, keys, providers and clock.
    pub fn worker(&self, public_url: Option<url::Url>) -> Worker {
        Worker::new(
            self.store.clone(),
            self.keys.clone(),
            self.delivery.clone(),
            self.texts.clone(),
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
        use crate::engine::delivery::DeliveryStatus;
        use crate::server::metrics::{self, MessageStatus, Stage};
        let now = self.clock.now();
        let (outcome, moved) = self.store.apply_receipt(by, status, error, now).await?;
        if moved.is_some() {
            self.events_written();
        }
        if let Some(moved) = moved {
            let provider = self.delivery.provider_label(moved.provider.as_deref());
            match status {
                DeliveryStatus::Delivered => {
                    metrics::message(moved.channel, provider, MessageStatus::Delivered);
                    if let Some(accepted_at) = moved.accepted_at {
                        let waited = (now - accepted_at) as f64;
                        metrics::delivery_latency(moved.channel, Stage::Delivered, waited);
                    }
                }
                DeliveryStatus::Failed => {
                    metrics::message(moved.channel, provider, MessageStatus::Failed);
                }
                _ => {}
            }
        }
        Ok(outcome)
    }

    /// The database's connection pools, now.
    pub fn db_pools(&self) -> Vec<crate::server::store::PoolFigure> {
        self.store.pool_figures()
    }

    /// The messages waiting for their provider, per channel: how many, and how long the oldest
    /// has waited (seconds). Every channel is named, with 0 when none waits.
    pub async fn delivery_queue(&self) -> ServiceResult<Vec<(Channel, u64, f64)>> {
        let figures = self.store.queue_figures().await?;
        let now_ms = crate::server::store::wall_clock_ms();
        Ok(Channel::ALL
            .into_iter()
            .map(|channel| {
                let figure = figures.iter().find(|f| f.channel == channel);
                let depth = figure.map_or(0, |f| f.depth);
                let oldest = figure
                    .and_then(|f| f.oldest_queued_at_ms)
                    .map_or(0.0, |at| (now_ms - at) as f64 / 1000.0);
                (channel, depth, oldest)
            })
            .collect())
    }

    /// The webhook deliveries not yet done: how many, and how long the oldest has waited
    /// (seconds, 0 when none).
    pub async fn webhook_queue(&self) -> ServiceResult<(u64, f64)> {
        let figure = self.store.webhook_queue().await?;
        let oldest = figure.oldest_created_at_ms.map_or(0.0, |at| {
            (crate::server::store::wall_clock_ms() - at) as f64 / 1000.0
        });
        Ok((figure.depth, oldest))
    }

    /// The message a gateway receipt token names, if otpgate made the token.
    pub fn receipt_delivery(&self, token: &str) -> Option<i64> {
        self.keys.receipt_delivery(token)
    }
}

//! The delivery worker: claims due messages from the queue (with a lease, so a crash only
//! delays them), opens each sealed code, renders the message, hands it to the channel's
//! provider and records the outcome. A new message wakes it at once; a timer covers retries.
//! Several messages are handed over at a time, up to a bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use url::Url;

use super::templates::webotp_host;
use super::texts::{Facts, TextCache};
use super::{Delivery, OutgoingMessage, ProviderError};
use crate::engine::delivery::{DeliveryFailure, expiry_failure, next_try};
use crate::server::clock::Clock;
use crate::server::crypto::{CodeScope, ServerKeys};
use crate::server::store::deliveries::DEFAULT_LEASE_SECS;
use crate::server::store::{ClaimedDelivery, DeliveryStore, TryResult};

/// How many messages are handed to providers at the same time.
const IN_FLIGHT: usize = 64;
/// The longest a provider may take to answer before the try counts as a transient failure.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest the worker sleeps without looking at the queue (it is woken for new messages).
pub const IDLE_CHECK: Duration = Duration::from_secs(30);

/// Everything the worker needs; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn DeliveryStore>,
    keys: Arc<ServerKeys>,
    delivery: Delivery,
    /// What each tenant's messages say.
    texts: Arc<TextCache>,
    clock: Arc<dyn Clock>,
    /// Where providers reach otpgate for receipts (`OTPGATE_PUBLIC_URL`).
    public_url: Option<Url>,
    /// Seconds a claimed message stays this worker's (`OTPGATE_DELIVERY_LEASE_SECS`).
    lease_secs: i64,
}

impl Worker {
    pub fn new(
        store: Arc<dyn DeliveryStore>,
        keys: Arc<ServerKeys>,
        delivery: Delivery,
        texts: Arc<TextCache>,
        clock: Arc<dyn Clock>,
        public_url: Option<Url>,
    ) -> Worker {
        Worker {
            store,
            keys,
            delivery,
            texts,
            clock,
            public_url,
            lease_secs: DEFAULT_LEASE_SECS,
        }
    }

    /// How long a claimed message stays this worker's before another instance may take it.
    pub fn with_lease(mut self, lease_secs: i64) -> Worker {
        self.lease_secs = lease_secs;
        self
    }

    /// Runs until the process ends.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let wake = self.delivery.wake_signal();
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        loop {
            // Every round, at least every IDLE_CHECK: readiness reads it.
            self.delivery.heartbeat().beat();
            let free = slots.available_permits();
            let claimed = if free > 0 {
                match self
                    .store
                    .claim_due_deliveries(self.clock.now(), free as i64, self.lease_secs)
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!(%error, "cannot claim messages; will retry");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            } else {
                Vec::new()
            };
            let full = !claimed.is_empty() && claimed.len() == free;
            for delivery in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let worker = self.clone();
                let wake = wake.clone();
                tokio::spawn(async move {
                    worker.deliver(delivery).await;
                    drop(permit);
                    // A slot is free: there may be more due messages waiting for one.
                    wake.notify_one();
                });
            }
            if full {
                continue;
            }
            let wait = match self.store.next_delivery_due().await {
                Ok(Some(due)) => {
                    let seconds = (due - self.clock.now()).max(0) as u64;
                    Duration::from_secs(seconds).min(IDLE_CHECK)
                }
                _ => IDLE_CHECK,
            };
            if wait.is_zero() && slots.available_permits() > 0 {
                // Due now, but claimed by someone else or just released: look again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            }
        }
    }

    /// Hands every message due now to its provider and returns how many were tried. The tests
    /// use it to run the queue to a standstill at a given clock.
    pub async fn run_due(&self) -> usize {
        let mut tried = 0;
        loop {
            let claimed = match self
                .store
                .claim_due_deliveries(self.clock.now(), IN_FLIGHT as i64, self.lease_secs)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim messages");
                    return tried;
                }
            };
            if claimed.is_empty() {
                return tried;
            }
            tried += claimed.len();
            let tasks: Vec<_> = claimed
                .into_iter()
                .map(|delivery| {
                    let worker = self.clone();
                    tokio::spawn(async move { worker.deliver(delivery).await })
                })
                .collect();
            for task in tasks {
                // A try that panicked recorded nothing: its lease runs out and it is claimed
                // again. Said, so that a provider that panics does not go unnoticed.
                if let Err(error) = task.await {
                    tracing::error!(%error, "a delivery task failed");
                }
            }
        }
    }

    /// One try of one message, recorded whatever happens.
    async fn deliver(&self, delivery: ClaimedDelivery) {
        let (provider_name, result) = self.attempt(&delivery).await;
        let now = self.clock.now();
        let outcome = match result {
            Ok(accepted) => TryResult::Accepted {
                provider_message_id: accepted.provider_message_id,
            },
            Err(ProviderError::Permanent { failure, detail }) => TryResult::Failed {
                failure,
                detail,
                permanent: true,
            },
            Err(ProviderError::Transient {
                detail,
                retry_after,
            }) => {
                let jitter = rand::random::<f64>();
                match next_try(
                    now,
                    delivery.attempt,
                    delivery.expires_at,
                    retry_after,
                    jitter,
                ) {
                    Some(at) => TryResult::Retry { at, detail },
                    None => TryResult::Failed {
                        failure: expiry_failure(delivery.attempt),
                        detail,
                        permanent: false,
                    },
                }
            }
        };
        record_metrics(&delivery, provider_name, &outcome);
        match &outcome {
            TryResult::Accepted { .. } => tracing::info!(
                delivery = delivery.id,
                channel = %delivery.channel,
                provider = provider_name,
                attempt = delivery.attempt,
                "message handed to the provider"
            ),
            TryResult::Retry { at, detail } => tracing::warn!(
                delivery = delivery.id,
                channel = %delivery.channel,
                provider = provider_name,
                attempt = delivery.attempt,
                retry_in = at - now,
                %detail,
                "provider unavailable; will retry"
            ),
            TryResult::Failed {
                failure, detail, ..
            } => tracing::warn!(
                delivery = delivery.id,
                channel = %delivery.channel,
                provider = provider_name,
                attempt = delivery.attempt,
                error = failure.as_str(),
                %detail,
                "message given up"
            ),
        }
        if let Err(error) = self
            .store
            .finish_attempt(&delivery, provider_name, &outcome, now)
            .await
        {
            // The lease runs out and the message is tried again: at-least-once.
            tracing::error!(%error, delivery = delivery.id, "cannot record a delivery attempt");
        }
    }

    /// Opens, renders and hands over one message; the provider's name and its answer.
    async fn attempt(
        &self,
        delivery: &ClaimedDelivery,
    ) -> (&'static str, Result<super::Accepted, ProviderError>) {
        let Some(provider) = self.delivery.provider(delivery.channel).cloned() else {
            return (
                "none",
                Err(ProviderError::permanent(
                    DeliveryFailure::ProviderRejected,
                    format!("no provider is configured for {}", delivery.channel),
                )),
            );
        };
        let name = provider.name();
        let now = self.clock.now();
        if now >= delivery.expires_at {
            return (
                name,
                Err(ProviderError::permanent(
                    expiry_failure(delivery.attempt.saturating_sub(1)),
                    "the session expired before the message could be handed over",
                )),
            );
        }
        let Some(code) = self.open_code(delivery) else {
            return (
                name,
                Err(ProviderError::permanent(
                    DeliveryFailure::ProviderRejected,
                    "the queued code does not open (was the server secret changed?)",
                )),
            );
        };
        let texts = match self.texts.tenant(delivery.tenant_id).await {
            Ok(texts) => texts,
            Err(error) => {
                return (
                    name,
                    Err(ProviderError::transient(format!(
                        "cannot read the tenant's templates ({error})"
                    ))),
                );
            }
        };
        let host = delivery.origin.as_deref().and_then(webotp_host);
        let content = texts.content(&Facts {
            channel: delivery.channel,
            locale: delivery.locale.as_deref(),
            tenant: delivery
                .app_name
                .as_deref()
                .unwrap_or(&delivery.tenant_name),
            code: &code,
            seconds_left: delivery.expires_at - now,
            webotp_host: host.as_deref(),
        });
        let message = OutgoingMessage {
            delivery_id: delivery.id,
            channel: delivery.channel,
            to: delivery.recipient.clone(),
            code,
            content,
            receipt_url: self.receipt_url(name, delivery.id),
        };
        let answer = match tokio::time::timeout(PROVIDER_TIMEOUT, provider.send(&message)).await {
            Ok(answer) => answer,
            Err(_) => Err(ProviderError::transient(format!(
                "no answer within {} s",
                PROVIDER_TIMEOUT.as_secs()
            ))),
        };
        (name, answer)
    }

    fn open_code(&self, delivery: &ClaimedDelivery) -> Option<String> {
        let sealed = delivery.sealed_code.as_deref()?;
        let scope = match (&delivery.token_hash, &delivery.request_id) {
            (Some(token_hash), _) => CodeScope::SessionChannel {
                token_hash,
                channel: delivery.channel.as_str(),
            },
            (None, Some(request_id)) => CodeScope::SingleRequest { request_id },
            (None, None) => return None,
        };
        self.keys.open_code(scope, sealed)
    }

    /// Where a provider reports on a message: the gateway gets a URL of its own for each
    /// message (it carries no signature), Twilio the shared status endpoint (signed).
    fn receipt_url(&self, provider: &str, delivery_id: i64) -> Option<String> {
        let base = self.public_url.as_ref()?;
        let path = match provider {
            "gateway" => format!("hooks/gateway/dlr/{}", self.keys.receipt_token(delivery_id)),
            "twilio" => "hooks/twilio/status".to_owned(),
            _ => return None,
        };
        base.join(&path).ok().map(String::from)
    }
}

/// What one try adds to the metrics: a message accepted (with how long it waited since it was
/// stored) or given up; a retry adds nothing.
fn record_metrics(delivery: &ClaimedDelivery, provider: &'static str, outcome: &TryResult) {
    use crate::server::metrics::{self, MessageStatus, Stage};
    match outcome {
        TryResult::Accepted { .. } => {
            metrics::message(delivery.channel, provider, MessageStatus::Sent);
            let waited_ms = crate::server::store::wall_clock_ms() - delivery.queued_at_ms;
            metrics::delivery_latency(delivery.channel, Stage::Accepted, waited_ms as f64 / 1000.0);
        }
        TryResult::Failed { .. } => {
            metrics::message(delivery.channel, provider, MessageStatus::Failed)
        }
        TryResult::Retry { .. } => {}
    }
}

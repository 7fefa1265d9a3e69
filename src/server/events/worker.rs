//! The webhook worker: claims due deliveries (under a lease, so a crash only delays them), signs
//! each the Standard Webhooks way and posts it, records the attempt, and lets the engine say
//! what comes next — done, a retry on the schedule, given up, or the endpoint disabled. Claims
//! and records are made for many deliveries at once: the database's writer is what sends and
//! verifies wait for. It also runs the expiry pass, which tells of the verifications that ran
//! out. Every instance may run one: claims never share a delivery. A change that writes events
//! wakes the worker of its own process; others' are found within a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use super::guard::UrlGuard;
use super::signing;
use crate::engine::webhook::{self, TryEnd, Verdict};
use crate::server::clock::Clock;
use crate::server::crypto::ServerKeys;
use crate::server::delivery::Heartbeat;
use crate::server::delivery::providers::{request_failure, retry_after};
use crate::server::store::webhooks::WEBHOOK_LEASE_SECS;
use crate::server::store::{
    ClaimedWebhook, WebhookAttempt, WebhookOutcome, WebhookStore, wall_clock_ms,
};

/// How long an endpoint has to answer (connection included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of an answer's body is kept with the attempt.
pub const RESPONSE_KEPT: usize = 1024;
/// Requests in flight at once.
const IN_FLIGHT: usize = 64;
/// How long a wake-up waits for more events before claiming (they come in bursts).
const GATHER: Duration = Duration::from_millis(10);
/// The longest the worker sleeps without looking (other instances write events too).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// A worker that has not gone round its loop for this long has stopped (readiness says so):
/// its longest wait is a second, its expiry pass a few.
pub const STALLED: Duration = Duration::from_secs(30);
/// How often the expiry pass runs.
const EXPIRY_EVERY: Duration = Duration::from_secs(10);
/// The expiry pass looks only at what expired this long ago, so that a decision made just
/// before the expiry and committed just after it is never overtaken.
const EXPIRY_LAG_SECS: i64 = 2;
/// Expired sessions (and requests) the pass looks at per round.
const EXPIRY_BATCH: i64 = 500;

/// Everything the worker needs; cheap to clone.
#[derive(Clone)]
pub struct WebhookWorker {
    store: Arc<dyn WebhookStore>,
    keys: Arc<ServerKeys>,
    clock: Arc<dyn Clock>,
    guard: UrlGuard,
    wake: Arc<Notify>,
    /// Beaten every round: readiness says when it stops.
    beat: Arc<Heartbeat>,
    client: reqwest::Client,
}

/// How one request went, before the engine's verdict.
struct Tried {
    end: TryEnd,
    attempt: WebhookAttempt,
    retry_after: Option<i64>,
}

impl WebhookWorker {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        keys: Arc<ServerKeys>,
        clock: Arc<dyn Clock>,
        guard: UrlGuard,
        wake: Arc<Notify>,
        beat: Arc<Heartbeat>,
    ) -> WebhookWorker {
        // Every connection goes through the guard's resolver; no proxy from the environment
        // (it would resolve names the guard never sees) and no redirect is followed.
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(guard.clone()))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("otpgate-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with rustls and these settings builds");
        WebhookWorker {
            store,
            keys,
            clock,
            guard,
            wake,
            beat,
            client,
        }
    }

    /// Runs until the process ends.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let (done, finished) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(self.clone().record(finished));
        let mut last_expiry: Option<Instant> = None;
        loop {
            self.beat.beat();
            if last_expiry.is_none_or(|at| at.elapsed() >= EXPIRY_EVERY) {
                last_expiry = Some(Instant::now());
                if let Err(error) = self.expiry_pass().await {
                    tracing::warn!(%error, "the expiry pass failed; will retry");
                }
            }
            let free = slots.available_permits();
            let due = matches!(self.store.next_webhook_due().await, Ok(Some(at)) if at <= self.clock.now());
            let claimed = if free > 0 && due {
                match self
                    .store
                    .claim_due_webhooks(self.clock.now(), free as i64, WEBHOOK_LEASE_SECS)
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!(%error, "cannot claim webhook deliveries; will retry");
                        tokio::time::sleep(IDLE_CHECK).await;
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
                let done = done.clone();
                tokio::spawn(async move {
                    let outcome = worker.attempt_and_judge(&delivery).await;
                    let _ = done.send((delivery, outcome));
                    drop(permit);
                });
            }
            if full {
                continue;
            }
            let wait = match self.store.next_webhook_due().await {
                Ok(Some(due)) if slots.available_permits() > 0 => {
                    let seconds = (due - self.clock.now()).max(0) as u64;
                    Duration::from_secs(seconds).min(IDLE_CHECK)
                }
                _ => IDLE_CHECK,
            };
            tokio::select! {
                () = self.wake.notified() => {
                    // Events come in bursts: a moment's wait claims them in one transaction
                    // instead of one each, and costs an event that much latency.
                    tokio::time::sleep(GATHER).await;
                }
                () = tokio::time::sleep(wait.max(GATHER)) => {}
            }
        }
    }

    /// Writes the outcomes of finished tries as they come, together whatever has come
    /// meanwhile: one write for many deliveries.
    async fn record(
        self,
        mut finished: tokio::sync::mpsc::UnboundedReceiver<(ClaimedWebhook, WebhookOutcome)>,
    ) {
        while let Some(first) = finished.recv().await {
            let mut batch = vec![first];
            while batch.len() < IN_FLIGHT {
                match finished.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.finish(&batch).await;
            // Slots were freed: there may be more due.
            self.wake.notify_one();
        }
    }

    async fn finish(&self, batch: &[(ClaimedWebhook, WebhookOutcome)]) {
        if let Err(error) = self.store.finish_webhooks(batch, self.clock.now()).await {
            // The leases run out and the deliveries are tried again: at least once.
            tracing::error!(%error, deliveries = batch.len(), "cannot record webhook attempts");
        }
    }

    /// Posts every delivery due now and returns how many were tried. The tests use it to run
    /// the queue to a standstill at a given clock.
    pub async fn run_due(&self) -> usize {
        let mut tried = 0;
        loop {
            let claimed = match self
                .store
                .claim_due_webhooks(self.clock.now(), IN_FLIGHT as i64, WEBHOOK_LEASE_SECS)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim webhook deliveries");
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
                    tokio::spawn(async move {
                        let outcome = worker.attempt_and_judge(&delivery).await;
                        (delivery, outcome)
                    })
                })
                .collect();
            let mut batch = Vec::with_capacity(tasks.len());
            for task in tasks {
                match task.await {
                    Ok(done) => batch.push(done),
                    Err(error) => tracing::error!(%error, "a webhook delivery task failed"),
                }
            }
            self.finish(&batch).await;
        }
    }

    /// Tells of what expired since the last pass; how many sessions and requests it looked at.
    pub async fn expiry_pass(&self) -> Result<u64, crate::server::store::StoreError> {
        let until = self.clock.now() - EXPIRY_LAG_SECS;
        let mut looked_at = 0;
        loop {
            let batch = self.store.emit_expiry_events(until, EXPIRY_BATCH).await?;
            looked_at += batch;
            if batch < EXPIRY_BATCH as u64 {
                if looked_at > 0 {
                    self.wake.notify_one();
                }
                return Ok(looked_at);
            }
        }
    }

    /// One try of one delivery, and what comes of it (recorded by the caller).
    async fn attempt_and_judge(&self, claimed: &ClaimedWebhook) -> WebhookOutcome {
        let tried = self.attempt(claimed).await;
        let now = self.clock.now();
        let verdict = webhook::verdict(
            tried.end,
            claimed.attempt,
            claimed.scheduled_from,
            now,
            tried.retry_after,
        );
        let failed = !matches!(verdict, Verdict::Delivered);
        let disable = match verdict {
            Verdict::Gone => Some("gone"),
            _ if failed && webhook::failing_too_long(claimed.failing_since, now) => Some("failing"),
            _ => None,
        };
        crate::server::metrics::webhook_delivery(&verdict, claimed.created_at_ms);
        match verdict {
            Verdict::Delivered => tracing::info!(
                delivery = claimed.id,
                endpoint = claimed.endpoint_id,
                event = %claimed.event_type,
                attempt = claimed.attempt,
                "webhook delivered"
            ),
            _ => tracing::warn!(
                delivery = claimed.id,
                endpoint = claimed.endpoint_id,
                event = %claimed.event_type,
                attempt = claimed.attempt,
                status = tried.attempt.status,
                error = tried.attempt.error.as_deref().unwrap_or(""),
                ?verdict,
                disable,
                "webhook not delivered"
            ),
        }
        WebhookOutcome {
            attempt: tried.attempt,
            verdict,
            disable,
        }
    }

    /// Signs and posts one delivery.
    async fn attempt(&self, claimed: &ClaimedWebhook) -> Tried {
        let at = self.clock.now();
        let started = Instant::now();
        let refused = |reason: String| Tried {
            end: TryEnd::Refused,
            attempt: WebhookAttempt {
                at,
                duration_ms: 0,
                status: None,
                error: Some(reason),
                response: None,
            },
            retry_after: None,
        };
        let mut secrets = Vec::with_capacity(2);
        let sealed = std::iter::once(&claimed.secrets.current)
            .chain(claimed.secrets.previous.as_ref().map(|(sealed, _)| sealed));
        for sealed in sealed {
            match self.keys.open_webhook_secret(sealed) {
                Some(secret) => secrets.push(secret),
                None => {
                    return refused(
                        "the signing secret does not open (was the server secret changed?)".into(),
                    );
                }
            }
        }
        // A URL naming an address is not resolved, so the guard checks it here; names are
        // checked by the client's resolver at each connection.
        let url = match self.guard.check_form(&claimed.url) {
            Ok(url) => url,
            Err(reason) => return refused(reason),
        };
        // The receiver compares this with its own clock: the wall clock's, whatever the
        // service's clock says.
        let timestamp = wall_clock_ms() / 1000;
        let signature = signing::signature_header(
            secrets.iter().map(Vec::as_slice),
            &claimed.event_id,
            timestamp,
            &claimed.body,
        );
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &claimed.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(claimed.body.clone());
        let (end, status, retry, response, error) = match request.send().await {
            Ok(mut answer) => {
                let status = answer.status().as_u16();
                let retry = retry_after(answer.headers());
                let mut kept = Vec::new();
                // Only the first kilobyte is read: an endpoint answering without end costs
                // nothing more.
                while kept.len() < RESPONSE_KEPT {
                    match tokio::time::timeout(Duration::from_secs(2), answer.chunk()).await {
                        Ok(Ok(Some(chunk))) => kept.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                kept.truncate(RESPONSE_KEPT);
                let text = String::from_utf8_lossy(&kept).into_owned();
                (
                    TryEnd::Status(status),
                    Some(status),
                    retry,
                    (!text.is_empty()).then_some(text),
                    None,
                )
            }
            Err(error) => {
                let end = if error.is_timeout() {
                    TryEnd::Timeout
                } else {
                    TryEnd::Connection
                };
                (end, None, None, None, Some(request_failure(&error)))
            }
        };
        Tried {
            end,
            attempt: WebhookAttempt {
                at,
                duration_ms: started.elapsed().as_millis() as i64,
                status,
                error,
                response,
            },
            retry_after: retry,
        }
    }
}

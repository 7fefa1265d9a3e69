//! Prometheus metrics, served as text on the admin listener's `/metrics`: the names and labels of
//! the contract (spec "Metrics"), recorded through the `metrics` facade into its Prometheus
//! exporter, plus the process's own (memory, CPU, open files) from `metrics-process`. Every name
//! and label is written here once; the rest of the server calls the functions below. Labels are
//! bounded sets — route patterns, methods, statuses, channels, providers, results, rules — and
//! never a recipient, a token, a code or a tenant's name.
//!
//! The recorder is process-wide (the facade's design): installed once by `install`, shared by
//! every app in the process. With metrics off (`OTPGATE_METRICS=false`) nothing is installed and
//! every call below is the facade's no-op.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::engine::Channel;

/// Which API a verification went through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Api {
    #[default]
    Progressive,
    Single,
    /// The Twilio Verify-compatible door.
    Twilio,
}

impl Api {
    fn label(self) -> &'static str {
        match self {
            Api::Progressive => "progressive",
            Api::Single => "single",
            Api::Twilio => "twilio",
        }
    }
}

/// How a verification attempt (one verify call) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// At least one submitted code was right.
    Verified,
    WrongCode,
    Expired,
    Locked,
    NotFound,
    /// Refused by a limit before any code was checked.
    Throttled,
}

impl AttemptResult {
    fn label(self) -> &'static str {
        match self {
            AttemptResult::Verified => "verified",
            AttemptResult::WrongCode => "wrong_code",
            AttemptResult::Expired => "expired",
            AttemptResult::Locked => "locked",
            AttemptResult::NotFound => "not_found",
            AttemptResult::Throttled => "throttled",
        }
    }
}

/// Where a message stands, as `otpgate_messages_total` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageStatus {
    /// Accepted by the provider.
    Sent,
    /// The provider's receipt says it arrived.
    Delivered,
    /// Given up, or the receipt says it did not arrive.
    Failed,
}

impl MessageStatus {
    fn label(self) -> &'static str {
        match self {
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
        }
    }
}

/// Which wait `otpgate_delivery_latency_seconds` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// From the message being stored to the provider accepting it.
    Accepted,
    /// From the provider accepting it to its receipt saying it arrived.
    Delivered,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::Accepted => "accepted",
            Stage::Delivered => "delivered",
        }
    }
}

/// Histogram buckets, in seconds. Requests take milliseconds; deliveries and people take
/// seconds to minutes.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Webhooks take milliseconds when the receiver is up, hours when it is down.
const WEBHOOK_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 1800.0, 7200.0,
    36000.0, 100000.0,
];
const WAIT_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Installs the process-wide recorder, once (later calls do nothing), and keeps its histograms
/// tidy in the background. Must run inside a Tokio runtime.
pub fn install() -> anyhow::Result<()> {
    if EXPORTER.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("otpgate_http_request_duration_seconds".into()),
            REQUEST_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("otpgate_webhook_delivery_latency_seconds".into()),
            WEBHOOK_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), WAIT_BUCKETS)?
        .install_recorder()?;
    let process = metrics_process::Collector::default();
    process.describe();
    describe();
    if EXPORTER.set(Exporter { handle, process }).is_ok() {
        tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if let Some(exporter) = EXPORTER.get() {
                    exporter.handle.run_upkeep();
                }
            }
        });
    }
    Ok(())
}

/// Whether metrics are recorded in this process.
pub fn installed() -> bool {
    EXPORTER.get().is_some()
}

/// Everything recorded, in Prometheus' text format (empty when metrics are off).
pub fn render() -> String {
    match EXPORTER.get() {
        Some(exporter) => {
            exporter.process.collect();
            exporter.handle.render()
        }
        None => String::new(),
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "otpgate_http_requests_total",
        "HTTP requests answered, by route pattern, method and status"
    );
    describe_histogram!(
        "otpgate_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route pattern and method"
    );
    describe_counter!(
        "otpgate_sessions_started_total",
        "Verifications started (progressive sessions, single-SMS requests), by API"
    );
    describe_counter!(
        "otpgate_verification_attempts_total",
        "Verify calls, by API and how they ended"
    );
    describe_counter!(
        "otpgate_messages_total",
        "Messages accepted by a provider, delivered, or failed, by channel and provider"
    );
    describe_counter!(
        "otpgate_fallback_steps_total",
        "Channels sent by a fallback because the one before failed or ran out of time, by the channel sent"
    );
    describe_histogram!(
        "otpgate_delivery_latency_seconds",
        Unit::Seconds,
        "Stored to accepted by the provider (stage accepted); accepted to delivered (stage delivered)"
    );
    describe_histogram!(
        "otpgate_time_to_verify_seconds",
        Unit::Seconds,
        "From a channel's code being sent to the channel being verified"
    );
    describe_counter!(
        "otpgate_limit_refusals_total",
        "Calls refused by an abuse limit, by rule"
    );
    describe_gauge!(
        "otpgate_db_connections",
        "Database connections by pool and state (in_use, idle)"
    );
    describe_gauge!(
        "otpgate_db_connections_max",
        "The most connections each database pool opens"
    );
    describe_gauge!(
        "otpgate_delivery_queue_depth",
        "Messages waiting for their provider, by channel"
    );
    describe_gauge!(
        "otpgate_delivery_queue_oldest_seconds",
        Unit::Seconds,
        "Age of the oldest message waiting for its provider, by channel (0 when none waits)"
    );
    describe_counter!(
        "otpgate_webhook_deliveries_total",
        "Webhook requests, by what came of them (delivered, retry, failed, disabled)"
    );
    describe_histogram!(
        "otpgate_webhook_delivery_latency_seconds",
        Unit::Seconds,
        "From an event being written to its endpoint answering 2xx"
    );
    describe_gauge!(
        "otpgate_webhook_queue_depth",
        "Webhook deliveries waiting to be posted or being posted"
    );
    describe_gauge!(
        "otpgate_webhook_queue_oldest_seconds",
        Unit::Seconds,
        "Age of the oldest webhook delivery not yet delivered or given up (0 when none)"
    );
}

/// Counts and times each request by its route pattern (`fallback` for what no route matched:
/// files, unknown paths). Added with `Router::layer`, inside the routing, where the pattern is
/// known.
pub async fn count_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !installed() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "fallback".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    counter!(
        "otpgate_http_requests_total",
        "route" => route.clone(),
        "method" => method_label(&method),
        "status" => status_label(response.status().as_u16()),
    )
    .increment(1);
    histogram!(
        "otpgate_http_request_duration_seconds",
        "route" => route,
        "method" => method_label(&method),
    )
    .record(seconds);
    response
}

/// Standard methods by name; anything else as `other` (a client picks the method).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A status code as a label: the codes otpgate answers, without an allocation.
fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    const KNOWN: &[(u16, &str)] = &[
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (303, "303"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (409, "409"),
        (413, "413"),
        (415, "415"),
        (422, "422"),
        (429, "429"),
        (500, "500"),
        (503, "503"),
    ];
    match KNOWN.iter().find(|(code, _)| *code == status) {
        Some((_, label)) => std::borrow::Cow::Borrowed(label),
        None => std::borrow::Cow::Owned(status.to_string()),
    }
}

pub fn session_started(api: Api) {
    counter!("otpgate_sessions_started_total", "api" => api.label()).increment(1);
}

pub fn verification_attempt(api: Api, result: AttemptResult) {
    counter!(
        "otpgate_verification_attempts_total",
        "api" => api.label(),
        "result" => result.label(),
    )
    .increment(1);
}

pub fn message(channel: Channel, provider: &'static str, status: MessageStatus) {
    counter!(
        "otpgate_messages_total",
        "channel" => channel.as_str(),
        "provider" => provider,
        "status" => status.label(),
    )
    .increment(1);
}

/// A fallback sent the next channel, `channel`.
pub fn fallback_step(channel: Channel) {
    counter!("otpgate_fallback_steps_total", "channel" => channel.as_str()).increment(1);
}

pub fn delivery_latency(channel: Channel, stage: Stage, seconds: f64) {
    histogram!(
        "otpgate_delivery_latency_seconds",
        "channel" => channel.as_str(),
        "stage" => stage.label(),
    )
    .record(seconds.max(0.0));
}

pub fn time_to_verify(channel: Channel, seconds: f64) {
    histogram!("otpgate_time_to_verify_seconds", "channel" => channel.as_str())
        .record(seconds.max(0.0));
}

/// A call refused by the abuse limit `rule` (`Refusal::rule`).
pub fn limit_refusal(rule: &'static str) {
    counter!("otpgate_limit_refusals_total", "rule" => rule).increment(1);
}

/// The delivery queue of one channel, as the store counts it when `/metrics` is read.
pub fn delivery_queue(channel: Channel, depth: u64, oldest_seconds: f64) {
    gauge!("otpgate_delivery_queue_depth", "channel" => channel.as_str()).set(depth as f64);
    gauge!("otpgate_delivery_queue_oldest_seconds", "channel" => channel.as_str())
        .set(oldest_seconds.max(0.0));
}

/// One webhook request, by the engine's verdict on it (a delivery given up for good because the
/// endpoint is gone counts as `disabled`), and when delivered, how long after its event
/// (`created_at_ms`, the wall clock's milliseconds).
pub fn webhook_delivery(verdict: &crate::engine::webhook::Verdict, created_at_ms: i64) {
    use crate::engine::webhook::Verdict;
    let result = match verdict {
        Verdict::Delivered => "delivered",
        Verdict::Retry { .. } => "retry",
        Verdict::GiveUp => "failed",
        Verdict::Gone => "disabled",
    };
    counter!("otpgate_webhook_deliveries_total", "result" => result).increment(1);
    if matches!(verdict, Verdict::Delivered) {
        let waited_ms = crate::server::store::wall_clock_ms() - created_at_ms;
        histogram!("otpgate_webhook_delivery_latency_seconds")
            .record((waited_ms as f64 / 1000.0).max(0.0));
    }
}

/// The webhook queue, as the store counts it when `/metrics` is read.
pub fn webhook_queue(depth: u64, oldest_seconds: f64) {
    gauge!("otpgate_webhook_queue_depth").set(depth as f64);
    gauge!("otpgate_webhook_queue_oldest_seconds").set(oldest_seconds.max(0.0));
}

/// A pool of database connections, when `/metrics` is read.
pub fn db_pool(pool: &'static str, in_use: u32, idle: u32, max: u32) {
    gauge!("otpgate_db_connections", "pool" => pool, "state" => "in_use").set(f64::from(in_use));
    gauge!("otpgate_db_connections", "pool" => pool, "state" => "idle").set(f64::from(idle));
    gauge!("otpgate_db_connections_max", "pool" => pool).set(f64::from(max));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_otpgate_answers_is_labelled_without_allocating() {
        for status in [
            200, 201, 204, 400, 401, 403, 404, 409, 413, 422, 429, 500, 503,
        ] {
            assert!(matches!(
                status_label(status),
                std::borrow::Cow::Borrowed(label) if label == status.to_string()
            ));
        }
        assert_eq!(status_label(418), "418");
    }

    #[test]
    fn methods_a_client_makes_up_are_one_label() {
        let made_up = axum::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
    }
}

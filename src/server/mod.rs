//! The server side (feature `ssr`), in floors: `service` (the verification and admin services
//! over the engine), `store` (SQLite and PostgreSQL), `delivery` (providers and the outbox),
//! `http` (the REST API, the pages' server side, the router), and around them configuration,
//! crypto, the clock and the CLI.
//! Nothing here imports the UI (`app`); the crate root hands the pages to `http::router`.

pub mod cli;
mod cli_limits;
mod cli_templates;
mod cli_webhooks;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod events;
pub mod http;
pub mod mask;
pub mod metrics;
pub mod phone;
pub mod service;
pub mod state;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clock::Clock;
use config::Settings;
use crypto::ServerKeys;
use leptos::config::LeptosOptions;
use secrecy::SecretString;
use service::{AdminService, VerificationService};
use state::AppState;
use store::Store;

/// Opens the store (applying migrations) and wires the service for `settings`.
pub async fn build_state(
    settings: &Settings,
    secret: &SecretString,
    leptos_options: LeptosOptions,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let store = open_store(settings).await?;
    let keys = ServerKeys::from_secret(config::secret_bytes(secret));
    // A configured provider must be valid: refusing to start beats failing every send.
    let delivery = delivery::providers::build(&settings.providers, settings.mode)
        .context("invalid delivery provider settings")?;
    let public_url = delivery::providers::public_url(&settings.providers)?;
    let guard = events::guard::UrlGuard::new(settings.webhooks_allow_private);
    let service =
        VerificationService::new(store, keys, delivery, clock, settings.limits.clone(), guard);
    Ok(AppState::new(state::Shared {
        leptos_options: Arc::new(leptos_options),
        admin: service.admin(),
        service,
        mode: settings.mode,
        public_url: public_url.map(Arc::new),
        providers: Arc::new(settings.providers.clone()),
        trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
    }))
}

/// Opens the database the settings name (checked first, so a wrong scheme creates nothing).
/// Errors name the scheme, never the rest of the URL (it may hold a password).
async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let url = settings.database_url();
    let scheme = config::check_database_url(&url)?;
    store::open(&url, settings.database_pool_size)
        .await
        .with_context(|| format!("cannot open the database of OTPGATE_DATABASE_URL ({scheme}:)"))
}

/// The administration of the database the settings name, for a command that serves nothing;
/// with the server's keys when `secret` is given (a command that seals or opens webhook
/// secrets).
pub async fn open_admin(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    secret: Option<&SecretString>,
) -> anyhow::Result<AdminService> {
    let store = open_store(settings).await?;
    let keys = secret.map(|secret| ServerKeys::from_secret(config::secret_bytes(secret)));
    Ok(AdminService::over(
        store,
        clock,
        settings.limits.clone(),
        keys,
        events::guard::UrlGuard::new(settings.webhooks_allow_private),
        None,
    ))
}

/// The administration of the database the settings name with the configured providers, for a
/// command that sends test messages.
pub async fn open_admin_with_providers(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AdminService> {
    let delivery = delivery::providers::build(&settings.providers, settings.mode)
        .context("invalid delivery provider settings")?;
    let store = open_store(settings).await?;
    Ok(AdminService::over(
        store,
        clock,
        settings.limits.clone(),
        None,
        events::guard::UrlGuard::new(settings.webhooks_allow_private),
        Some(delivery),
    ))
}

/// How often the fallback pass looks for sessions whose next channel is due.
pub const FALLBACK_PASS_EVERY: Duration = Duration::from_secs(1);

/// Runs the fallback pass in the background: a fallback session's next channel goes within a
/// second of its timer (or of its current message failing). Every instance runs it; a step is
/// written once whichever instance takes it.
pub fn spawn_fallback_pass(service: service::VerificationService) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(FALLBACK_PASS_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(error) = service.fallback_pass().await {
                tracing::warn!(%error, "the fallback pass failed; will retry");
            }
        }
    });
}

/// Deletes long-expired sessions and requests in the background. Expiry itself never depends
/// on this: every check compares against the stored `expires_at`.
pub fn spawn_purge_task(admin: AdminService, settings: &Settings) {
    let retention = service::Retention::of(settings);
    let every = Duration::from_secs(settings.purge_interval_secs.max(1));
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            let started = std::time::Instant::now();
            match admin.purge(retention).await {
                Ok(counts) if counts != service::PurgeCounts::default() => {
                    // Its own target, so an operator (or bench/scale) can follow purges alone.
                    let took_ms = started.elapsed().as_millis() as u64;
                    tracing::info!(target: "otpgate::purge", ?counts, took_ms, "purged expired records");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "purge failed; will retry"),
            }
        }
    });
}

//! Shared state of the axum app, with `FromRef` so handlers take only what they need.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use std::sync::Arc;

use super::config::Mode;
use super::config::providers::ProviderSettings;
use super::service::VerificationService;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub service: VerificationService,
    pub mode: Mode,
    /// Where providers reach otpgate (`OTPGATE_PUBLIC_URL`); receipts are checked against it.
    pub public_url: Option<url::Url>,
    /// The providers' settings, for the receipt hooks' secrets.
    pub providers: Arc<ProviderSettings>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<super::config::ProxyNet>>,
}

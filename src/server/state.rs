//! Shared state of the axum app, with `FromRef` so handlers take only what they need.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use std::sync::Arc;

use super::config::Mode;
use super::config::providers::ProviderSettings;
use super::service::{AdminService, VerificationService};

/// Axum clones the state for every request, and every middleware clones it again: one
/// reference count for all of it (a verify profile showed the clones and drops of separately
/// counted fields among its largest costs).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for VerificationService {
    fn from_ref(state: &AppState) -> VerificationService {
        state.service.clone()
    }
}

/// What the app's handlers share.
pub struct Shared {
    /// Behind an `Arc` (its strings would be copied per request); the pages take a copy.
    pub leptos_options: Arc<LeptosOptions>,
    pub service: VerificationService,
    /// Tenants, keys and limits, over the same store (sharing the service's key memory).
    pub admin: AdminService,
    pub mode: Mode,
    /// Where providers reach otpgate (`OTPGATE_PUBLIC_URL`); receipts are checked against it.
    pub public_url: Option<Arc<url::Url>>,
    /// The providers' settings, for the receipt hooks' secrets.
    pub providers: Arc<ProviderSettings>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<super::config::ProxyNet>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        (*state.leptos_options).clone()
    }
}

//! Shared state of the axum app, with `FromRef` so handlers take only what they need.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::config::Mode;
use super::service::VerificationService;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub service: VerificationService,
    pub mode: Mode,
}

//! otpgate: a self-hosted verification service.
//!
//! The crate builds twice: with `ssr` it is the server (REST API, server functions, storage,
//! delivery, CLI); with `hydrate` it is the WASM that brings the server-rendered pages to life.
//! Modules are gated here, once, at their `mod` line.

// Leptos views are deeply nested types; the widget page needs more than the default depth.
#![recursion_limit = "256"]

pub mod app;
pub mod engine;
pub mod model;
pub mod rpc;
#[cfg(feature = "ssr")]
pub mod server;

/// The whole HTTP app, the pages included: what `serve` runs and what the tests call.
#[cfg(feature = "ssr")]
pub fn router(state: server::state::AppState) -> axum::Router {
    server::http::router(
        state,
        leptos_axum::generate_route_list(app::App),
        app::shell,
    )
}

/// Entry point of the WASM build: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    panic_messages();
    leptos::mount::hydrate_islands();
}

/// In development builds a panic says what it was in the browser's console. Release builds
/// abort without the message: the hook and the formatting behind it are weight every person's
/// phone would download for a message nobody reads.
#[cfg(all(feature = "hydrate", debug_assertions))]
fn panic_messages() {
    console_error_panic_hook::set_once();
}

#[cfg(all(feature = "hydrate", not(debug_assertions)))]
fn panic_messages() {}

//! Data a page needs, loaded by the server before rendering (by a middleware that puts it into
//! the request's extensions), so the page renders in one pass. Pages use this instead of async
//! resources, which Leptos 0.8 can leave stalled during a server render under load. Only islands
//! hydrate, and they receive their data as props, so the browser never needs this.

/// The value of type `T` the server loaded for the page being rendered, if any.
#[cfg(feature = "ssr")]
pub fn page_data<T: Clone + Send + Sync + 'static>() -> Option<T> {
    leptos::prelude::use_context::<axum::http::request::Parts>()?
        .extensions
        .get::<T>()
        .cloned()
}

/// Pages outside islands are never rendered in the browser.
#[cfg(not(feature = "ssr"))]
pub fn page_data<T: Clone + Send + Sync + 'static>() -> Option<T> {
    None
}

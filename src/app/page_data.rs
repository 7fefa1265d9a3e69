//! Data a page needs, loaded by the server before rendering (by a middleware that puts it into
//! the request), so the page renders in one pass. Pages use this instead of async resources,
//! which Leptos 0.8 can leave stalled during a server render under load. Only islands hydrate,
//! and they receive their data as props, so the browser never needs this.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The page's data as JSON, put into the request's extensions by the server before rendering.
#[derive(Clone, Debug)]
pub struct PageJson(pub String);

impl PageJson {
    pub fn of(value: &impl Serialize) -> PageJson {
        PageJson(serde_json::to_string(value).unwrap_or_default())
    }
}

/// The data of the page being rendered; `None` when there is none or it does not parse.
#[cfg(feature = "ssr")]
pub fn page_data<T: DeserializeOwned>() -> Option<T> {
    let parts = leptos::prelude::use_context::<axum::http::request::Parts>()?;
    serde_json::from_str(&parts.extensions.get::<PageJson>()?.0).ok()
}

/// Pages outside islands are never rendered in the browser.
#[cfg(not(feature = "ssr"))]
pub fn page_data<T: DeserializeOwned>() -> Option<T> {
    None
}

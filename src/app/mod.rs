//! The Leptos UI, built for both the server (rendering) and the browser (hydration): the HTML
//! shell, the routes and the pages.

pub mod demo;
pub mod home;
pub mod i18n;
pub mod outbox;
pub mod page_data;
pub mod reference;
pub mod widget;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // The file names carry content hashes when the build made them (hash-files).
                <HashedStylesheet id="otpgate" options=options.clone()/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|text| format!("{text} · otpgate")/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("") view=home::HomePage/>
                <Route path=path!("/docs/api") view=reference::ApiReference/>
                <Route path=path!("/dev/outbox") view=outbox::DevOutbox/>
                <Route path=path!("/demo") view=demo::DemoPage/>
                // Rendered complete before anything is sent: the page must work without WASM.
                <Route path=path!("/verify/:token") view=widget::VerifyPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    mark_not_found();
    view! {
        <Title text="Not found"/>
        <main class="page">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Go to the start page"</a> "."</p>
        </main>
    }
}

/// Answers the current server render with 404.
#[cfg(feature = "ssr")]
pub(crate) fn mark_not_found() {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
}

/// In the browser the status was already sent with the server render.
#[cfg(not(feature = "ssr"))]
pub(crate) fn mark_not_found() {}

/// Marks the document once an island has hydrated (effects run only in the browser), which is
/// what the end-to-end tests wait for.
pub(crate) fn mark_hydrated() {
    Effect::new(move |_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}

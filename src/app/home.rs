//! The start page: what otpgate is, where the API is documented, and a live service check that
//! exercises a server function once the page has hydrated.

use leptos::prelude::*;
use leptos_meta::Title;

use super::page_data::page_data;
use crate::model::DevelopmentMode;
use crate::rpc::ServiceStatus;

#[component]
pub fn HomePage() -> impl IntoView {
    let development = page_data::<DevelopmentMode>().is_some_and(|mode| mode.0);
    view! {
        <Title text="Self-hosted verification"/>
        <main class="page">
            <header class="hero">
                <h1>"otpgate"</h1>
                <p class="lead">
                    "Self-hosted verification: your backend sends one-time codes over email, SMS and "
                    "WhatsApp, and the person proves each channel by typing its code — all at once, or "
                    "one channel now and another later under the same session token."
                </p>
            </header>
            {development.then(|| view! {
                <section aria-labelledby="try-heading" class="try-it">
                    <h2 id="try-heading">"Try it"</h2>
                    <p>
                        <a href="/demo" id="demo-link">"Open the demo"</a>
                        " — send codes with the development tenant's test key, see the embedded widget "
                        "and type the codes it sent."
                    </p>
                </section>
            })}
            <section aria-labelledby="api-heading">
                <h2 id="api-heading">"The API"</h2>
                <ul class="links">
                    <li><a href="/docs/api">"API reference"</a>" — every endpoint, field and error."</li>
                    <li><a href="/api/openapi.json">"OpenAPI document"</a>" — for client generators and API tools."</li>
                    {development.then(|| view! {
                        <li><a href="/dev/outbox">"Development outbox"</a>" — the codes sent in development mode."</li>
                    })}
                </ul>
            </section>
            <HealthCheck/>
        </main>
    }
}

/// The live service check: the one interactive part of the page, hydrated on its own; lazy, so
/// its code is a chunk of its own in a `--split` build.
#[island(lazy)]
fn HealthCheck() -> impl IntoView {
    super::mark_hydrated();
    let check = ServerAction::<ServiceStatus>::new();
    let result = check.value();
    let pending = check.pending();
    view! {
        <section aria-labelledby="status-heading">
            <h2 id="status-heading">"Service"</h2>
            <button id="health-check" type="button" disabled=move || pending.get()
                on:click=move |_| { check.dispatch(ServiceStatus {}); }>
                "Check the service"
            </button>
            <output id="health-result" aria-live="polite">
                {move || match result.get() {
                    None => String::new(),
                    Some(Ok(status)) => format!(
                        "otpgate is up: version {}, {} mode, database reachable.",
                        status.version, status.mode
                    ),
                    Some(Err(error)) => format!("The service did not answer: {error}"),
                }}
            </output>
        </section>
    }
}

//! The API reference page, rendered from the same OpenAPI document that `/api/openapi.json` serves.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::server_fns::api_reference;

/// One endpoint, summarised for reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointDoc {
    pub method: String,
    pub path: String,
    pub tag: String,
    pub summary: String,
    pub description: String,
    pub request_example: Option<String>,
    pub responses: Vec<ResponseDoc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseDoc {
    pub status: String,
    pub description: String,
}

#[component]
pub fn ApiReference() -> impl IntoView {
    let endpoints = Resource::new(|| (), |_| api_reference());
    view! {
        <Title text="API reference"/>
        <main class="page reference">
            <h1>"API reference"</h1>
            <p>
                "Authenticate with " <code>"X-API-Key: <key>"</code> " or "
                <code>"Authorization: Bearer <key>"</code> ". Bodies are JSON (at most 16 KiB); every "
                "error is JSON with " <code>"message"</code> " and " <code>"code"</code> ". The "
                "machine-readable description is " <a href="/api/openapi.json">"/api/openapi.json"</a> "."
            </p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match endpoints.await {
                        Ok(list) => list.into_iter().map(|e| view! { <Endpoint doc=e/> }).collect_view().into_any(),
                        Err(error) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn Endpoint(doc: EndpointDoc) -> impl IntoView {
    let id = doc.path.trim_start_matches('/').replace('/', "-");
    view! {
        <section class="endpoint" id=id>
            <h2><span class="method">{doc.method}</span> " " <code>{doc.path}</code></h2>
            <p class="summary">{doc.summary}</p>
            {(!doc.description.is_empty()).then(|| view! { <p>{doc.description}</p> })}
            {doc.request_example.map(|example| view! {
                <h3>"Example request body"</h3>
                <pre><code>{example}</code></pre>
            })}
            <h3>"Responses"</h3>
            <dl class="responses">
                {doc.responses.into_iter().map(|r| view! {
                    <dt>{r.status}</dt>
                    <dd>{r.description}</dd>
                }).collect_view()}
            </dl>
        </section>
    }
}

//! The API reference page, rendered from the same OpenAPI document that `/api/openapi.json` serves.

use leptos::prelude::*;
use leptos_meta::Title;

use super::page_data::page_data;
use crate::model::EndpointDoc;

#[component]
pub fn ApiReference() -> impl IntoView {
    let endpoints: Vec<EndpointDoc> = page_data().unwrap_or_default();
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
            {endpoints.into_iter().map(|e| view! { <Endpoint doc=e/> }).collect_view()}
        </main>
    }
}

#[component]
fn Endpoint(doc: EndpointDoc) -> impl IntoView {
    let id = doc.path.trim_start_matches('/').replace('/', "-");
    view! {
        <section class="endpoint" id=id>
            <h2><span class="method">{doc.method}</span> " " <code>{doc.path}</code></h2>
            <p class="summary"><Prose text=doc.summary/></p>
            {(!doc.description.is_empty()).then(|| view! { <p><Prose text=doc.description/></p> })}
            {(!doc.fields.is_empty()).then(|| view! {
                <h3>"Request fields"</h3>
                <table class="fields">
                    <thead><tr>
                        <th scope="col">"Field"</th><th scope="col">"Type"</th><th scope="col">"Description"</th>
                    </tr></thead>
                    <tbody>
                        {doc.fields.into_iter().map(|f| view! {
                            <tr>
                                <td><code>{f.name}</code>{(!f.required).then_some(" (optional)")}</td>
                                <td>{f.kind}</td>
                                <td><Prose text=f.description/></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {doc.request_example.map(|example| view! {
                <h3>"Example request body"</h3>
                <pre><code>{example}</code></pre>
            })}
            <h3>"Responses"</h3>
            <dl class="responses">
                {doc.responses.into_iter().map(|r| view! {
                    <dt>{r.status}</dt>
                    <dd><Prose text=r.description/></dd>
                }).collect_view()}
            </dl>
        </section>
    }
}

/// Text with `backticked` parts shown as code, as the OpenAPI descriptions write them.
#[component]
fn Prose(text: String) -> impl IntoView {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            let part = part.to_owned();
            if i % 2 == 1 {
                view! { <code>{part}</code> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect_view()
}

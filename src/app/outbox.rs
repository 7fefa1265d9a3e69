//! The development outbox page: every message caught instead of delivered, codes included.
//! Served in development mode only.

use leptos::prelude::*;
use leptos_meta::Title;

use super::page_data::page_data;
use crate::model::{OutboxItem, PageError};

#[component]
pub fn DevOutbox() -> impl IntoView {
    let messages: Result<Vec<OutboxItem>, PageError> =
        page_data().unwrap_or(Err(PageError::Unavailable));
    view! {
        <Title text="Development outbox"/>
        <main class="page outbox">
            <h1>"Development outbox"</h1>
            <p>
                "Messages sent under test keys, and in development mode under live keys too, land "
                "here instead of reaching a person. Newest first."
            </p>
            <p><a href="/dev/outbox">"Refresh"</a></p>
            {match messages {
                Ok(list) if list.is_empty() => view! { <p>"No messages yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table>
                        <thead><tr>
                            <th scope="col">"Sent"</th><th scope="col">"Tenant"</th>
                            <th scope="col">"Channel"</th><th scope="col">"To"</th>
                            <th scope="col">"Code"</th><th scope="col">"Message"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|m| view! {
                                <tr>
                                    <td><time>{m.sent_at}</time></td>
                                    <td>{m.tenant}{m.test.then_some(" (test)")}</td>
                                    <td>{m.channel}</td>
                                    <td>{m.to}</td>
                                    <td class="code">{m.code.unwrap_or_else(|| "erased".to_owned())}</td>
                                    <td>{m.body}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(error) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
            }}
        </main>
    }
}

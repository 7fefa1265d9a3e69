//! The demo page (development mode only): start a session for chosen channels with the
//! development tenant's test key, see the widget embedded in an iframe, the codes it sent
//! beside it, and the messages the widget posts to its embedder.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::OutboxItem;
use crate::rpc::{StartDemo, demo_messages};

#[component]
pub fn DemoPage() -> impl IntoView {
    view! {
        <Title text="Demo"/>
        <DemoApp/>
    }
}

/// Everything on the demo page is interactive: one island, lazy so that (in a `--split` build)
/// its code is a chunk only the demo page fetches, never the verification page.
#[island(lazy)]
fn DemoApp() -> impl IntoView {
    super::mark_hydrated();
    let start = ServerAction::<StartDemo>::new();
    let started = start.value();
    let messages = RwSignal::new(Vec::<OutboxItem>::new());
    let events = RwSignal::new(Vec::<String>::new());

    // Browser only: refresh the codes every two seconds and record the widget's messages.
    Effect::new(move |_| {
        gloo_timers::callback::Interval::new(2_000, move || {
            leptos::task::spawn_local(async move {
                if let Ok(list) = demo_messages().await {
                    messages.set(list);
                }
            });
        })
        .forget();
    });
    let handle = window_event_listener(leptos::ev::message, move |event| {
        // Only the widget's own messages: it is served from this page's origin.
        if event.origin() != window().location().origin().unwrap_or_default() {
            return;
        }
        let data = event.data();
        let kind = js_sys::Reflect::get(&data, &"type".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        if !kind.starts_with("otpgate:") {
            return;
        }
        // Size the frame to its content, exactly as the README's listener does for integrators.
        if kind == "otpgate:resize" {
            let height = js_sys::Reflect::get(&data, &"height".into())
                .ok()
                .and_then(|v| v.as_f64());
            if let (Some(height), Some(frame)) =
                (height, document().get_element_by_id("demo-widget"))
            {
                let _ = frame.set_attribute("style", &format!("height: {}px", height.ceil()));
            }
        }
        let text = js_sys::JSON::stringify(&data)
            .map(String::from)
            .unwrap_or_default();
        events.update(|list| list.insert(0, format!("{} from {}", text, event.origin())));
    });
    on_cleanup(move || handle.remove());
    Effect::new(move |_| {
        if started.get().is_some() {
            leptos::task::spawn_local(async move {
                if let Ok(list) = demo_messages().await {
                    messages.set(list);
                }
            });
        }
    });

    let widget = move || match started.get() {
        Some(Ok(session)) => {
            let origin = window().location().origin().unwrap_or_default();
            let src = format!("{}?embed=1&origin={}", session.widget_url, origin);
            view! {
                <iframe id="demo-widget" title="otpgate verification widget" src=src></iframe>
                <p class="demo-note">"Session token: " <code>{session.token}</code></p>
            }
            .into_any()
        }
        Some(Err(error)) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
        None => view! { <p class="demo-placeholder">"Start a session to see the widget here."</p> }
            .into_any(),
    };

    view! {
        <main class="page demo">
            <h1>"Demo"</h1>
            <p>
                "Start a session with the development tenant's test key. The widget below is the "
                "embeddable iframe; the codes it sent appear beside it, as the test outbox shows them."
            </p>
            <div class="demo-grid">
                <section aria-labelledby="demo-start">
                    <h2 id="demo-start">"1. Start a session"</h2>
                    <ActionForm action=start attr:class="demo-form">
                        <fieldset>
                            <legend>"Channels"</legend>
                            <label><input type="checkbox" name="email" value="true" checked/>" Email"</label>
                            <label><input type="checkbox" name="sms" value="true" checked/>" SMS"</label>
                            <label><input type="checkbox" name="whatsapp" value="true"/>" WhatsApp"</label>
                        </fieldset>
                        <label>"Email address" <input type="email" name="email_address" value="person@example.com"/></label>
                        <label>"Phone number (E.164)" <input type="tel" name="phone_number" value="+14155550100"/></label>
                        <fieldset>
                            <legend>"Verification mode"</legend>
                            <label><input type="radio" name="mode" value="all" checked/>" all: every channel"</label>
                            <label><input type="radio" name="mode" value="any"/>" any: one channel is enough"</label>
                        </fieldset>
                        <label>"Language"
                            <select name="locale">
                                <option value="en">"English"</option>
                                <option value="ar">"العربية"</option>
                            </select>
                        </label>
                        <button type="submit" id="demo-submit">"Send codes"</button>
                    </ActionForm>
                    <h2>"Messages from the widget"</h2>
                    <ol id="demo-events" class="demo-events">
                        {move || events.get().into_iter().map(|e| view! { <li><code>{e}</code></li> }).collect_view()}
                    </ol>
                </section>
                <section aria-labelledby="demo-widget-heading">
                    <h2 id="demo-widget-heading">"2. The widget"</h2>
                    {widget}
                </section>
                <section aria-labelledby="demo-codes">
                    <h2 id="demo-codes">"3. The codes"</h2>
                    <table id="demo-outbox">
                        <thead><tr><th scope="col">"Channel"</th><th scope="col">"To"</th><th scope="col">"Code"</th></tr></thead>
                        <tbody>
                            {move || messages.get().into_iter().map(|m| {
                                let channel = m.channel.clone();
                                view! {
                                    <tr data-channel=channel>
                                        <td>{m.channel}</td><td>{m.to}</td><td class="code">{m.code.unwrap_or_else(|| "erased".to_owned())}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </section>
            </div>
        </main>
    }
}

//! The few browser APIs the widget uses. Called only from effects and event handlers, which run
//! in the browser after hydration, never during server rendering.

use leptos::prelude::*;

/// The browser clock in Unix seconds.
fn browser_now() -> i64 {
    (js_sys::Date::now() / 1000.0).floor() as i64
}

/// Keeps `now` on the server's timeline: the browser clock plus the difference seen at load, read
/// afresh every second, so the countdown is right again as soon as a sleeping tab wakes up.
/// `every_second` runs after each tick.
pub fn start_clock(server_now: i64, now: RwSignal<i64>, every_second: impl Fn() + 'static) {
    let offset = server_now - browser_now();
    now.set(browser_now() + offset);
    gloo_timers::callback::Interval::new(1_000, move || {
        now.set(browser_now() + offset);
        every_second();
    })
    // The page lives as long as the widget does: the interval is never cancelled.
    .forget();
}

/// Whether the page is shown inside a frame.
fn framed(window: &web_sys::Window) -> Option<web_sys::Window> {
    let parent = window.parent().ok().flatten()?;
    (!js_sys::Object::is(&parent, window)).then_some(parent)
}

/// The embedding page's origin, if it is one of `allowed`. Chromium and Safari tell a frame its
/// ancestors' origins; elsewhere the origin the embedder named in the URL is trusted only if
/// allowed, and `postMessage` itself refuses delivery to any other origin.
fn parent_origin(allowed: &[String], named: Option<&str>) -> Option<String> {
    let window = web_sys::window()?;
    framed(&window)?;
    let ancestors = js_sys::Reflect::get(&window.location(), &"ancestorOrigins".into()).ok();
    if let Some(ancestors) = ancestors.filter(|a| a.is_object()) {
        let first = js_sys::Reflect::get(&ancestors, &0.into())
            .ok()
            .and_then(|v| v.as_string());
        return first.filter(|f| allowed.contains(f));
    }
    match named {
        Some(origin) if allowed.iter().any(|a| a == origin) => Some(origin.to_owned()),
        _ if allowed.len() == 1 => allowed.first().cloned(),
        _ => None,
    }
}

/// A message for the embedding page, built as a plain JS object field by field (the browser
/// clones it for `postMessage`; no JSON text on the way).
pub struct Message(js_sys::Object);

impl Message {
    /// `{"type": kind}`.
    pub fn new(kind: &str) -> Message {
        Message(js_sys::Object::new()).with("type", kind)
    }

    pub fn with(self, field: &str, value: impl Into<leptos::wasm_bindgen::JsValue>) -> Message {
        let _ = js_sys::Reflect::set(&self.0, &field.into(), &value.into());
        self
    }
}

/// Posts a message to the embedding page, to its allowed origin only (never `"*"`).
pub fn post_to_parent(allowed: &[String], named: Option<&str>, message: Message) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let (Some(parent), Some(origin)) = (framed(&window), parent_origin(allowed, named)) else {
        return;
    };
    let _ = parent.post_message(&message.0, &origin);
}

/// The content's height in CSS pixels, for the embedder to size its iframe. The body's own box
/// is measured, not the document's scroll height: that one never drops below the frame's current
/// height, so a widget that got shorter (a message gone, a card closed) could never say so.
pub fn document_height() -> i32 {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
        .map_or(0, |body| {
            body.get_bounding_client_rect().height().ceil() as i32
        })
}

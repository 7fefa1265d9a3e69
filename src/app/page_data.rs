//! Data a page needs, loaded by the server before rendering and written into the page as JSON,
//! so the page renders in one pass and the browser hydrates from the very same data. Pages use
//! this instead of async resources, which Leptos 0.8 can leave stalled during a server render
//! under load.

use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The id of the `<script type="application/json">` element that carries the data.
pub const PAGE_DATA_ID: &str = "page-data";

/// The page's data as JSON, put into the request's extensions by the server before rendering.
#[derive(Clone, Debug)]
pub struct PageJson(pub String);

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` become JSON escapes.
pub fn script_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The data of the page being rendered: from the request on the server, from the page in the
/// browser. `None` when there is none or it does not parse.
pub fn page_data<T: DeserializeOwned>() -> Option<T> {
    serde_json::from_str(&raw_page_data()?).ok()
}

#[cfg(feature = "ssr")]
fn raw_page_data() -> Option<String> {
    use_context::<axum::http::request::Parts>()?
        .extensions
        .get::<PageJson>()
        .map(|json| json.0.clone())
}

#[cfg(not(feature = "ssr"))]
fn raw_page_data() -> Option<String> {
    document().get_element_by_id(PAGE_DATA_ID)?.text_content()
}

/// Writes `json` (from [`script_json`]) into the page for hydration.
#[component]
pub fn PageDataScript(json: String) -> impl IntoView {
    view! { <script type="application/json" id=PAGE_DATA_ID inner_html=json></script> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let json = script_json(&"</script><b>&");
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert_eq!(
            serde_json::from_str::<String>(&json).unwrap(),
            "</script><b>&"
        );
    }
}

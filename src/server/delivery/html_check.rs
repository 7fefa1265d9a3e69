//! What a tenant's HTML email body may not contain, checked on its rendering before it is
//! saved: anything that runs (scripts, event handler attributes, `javascript:` links, embedded
//! frames and objects, forms) and anything fetched from elsewhere when the mail is opened
//! (remote images, stylesheets, fonts — they tell the sender who opened the mail, when and
//! where, and break in every client that blocks them). Images may be inline (`data:image/…`) or
//! attachments (`cid:`). Parsed with an HTML parser, not matched by patterns, so markup a
//! browser would read one way cannot be written to read another way here.

use std::borrow::Cow;
use std::cell::RefCell;

use lol_html::html_content::{Element, TextChunk};
use lol_html::{ElementContentHandlers, RewriteStrSettings, Selector};

/// Elements that run code, embed another document, submit data or change where links go.
const REFUSED_ELEMENTS: [&str; 12] = [
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "form",
    "portal", "noscript",
];

/// Attributes whose value is a URL a mail client may follow or fetch.
const URL_ATTRIBUTES: [&str; 8] = [
    "href",
    "src",
    "srcset",
    "action",
    "formaction",
    "background",
    "poster",
    "xlink:href",
];

/// Attributes whose URL is fetched as the mail is shown (not followed on a click).
const FETCHED_ATTRIBUTES: [&str; 4] = ["src", "srcset", "background", "poster"];

/// A problem found: the line of the rendered HTML it is on, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtmlProblem {
    pub line: usize,
    pub message: String,
}

/// The first problem in `html`, if any.
pub fn check_html(html: &str) -> Option<HtmlProblem> {
    let found: RefCell<Option<HtmlProblem>> = RefCell::new(None);
    let line_of = |offset: usize| html[..offset.min(html.len())].matches('\n').count() + 1;
    let report = |offset: usize, message: String| {
        let mut found = found.borrow_mut();
        if found.is_none() {
            *found = Some(HtmlProblem {
                line: line_of(offset),
                message,
            });
        }
    };
    let every_element = |element: &mut Element| {
        let at = element.source_location().bytes().start;
        if let Some(message) = element_problem(element) {
            report(at, message);
        }
        Ok(())
    };
    let style_text = |chunk: &mut TextChunk| {
        if let Some(message) = css_problem(chunk.as_str()) {
            report(
                chunk.source_location().bytes().start,
                format!("<style>: {message}"),
            );
        }
        Ok(())
    };
    let any: Selector = "*".parse().expect("`*` is a selector");
    let style: Selector = "style".parse().expect("`style` is a selector");
    let settings = RewriteStrSettings {
        element_content_handlers: vec![
            (
                Cow::Owned(any),
                ElementContentHandlers::default().element(every_element),
            ),
            (
                Cow::Owned(style),
                ElementContentHandlers::default().text(style_text),
            ),
        ],
        ..RewriteStrSettings::new()
    };
    if let Err(error) = lol_html::rewrite_str(html, settings) {
        return Some(HtmlProblem {
            line: 1,
            message: format!("cannot be read as HTML ({error})"),
        });
    }
    found.into_inner()
}

fn element_problem(element: &Element) -> Option<String> {
    let tag = element.tag_name().to_ascii_lowercase();
    if REFUSED_ELEMENTS.contains(&tag.as_str()) {
        return Some(format!("<{tag}> is not allowed in an email body"));
    }
    if tag == "meta" && element.has_attribute("http-equiv") {
        return Some("<meta http-equiv> is not allowed in an email body".into());
    }
    for attribute in element.attributes() {
        let name = attribute.name().to_ascii_lowercase();
        let value = attribute.value();
        if name.starts_with("on") {
            return Some(format!(
                "<{tag} {name}>: event handler attributes are not allowed"
            ));
        }
        if URL_ATTRIBUTES.contains(&name.as_str()) && runs_code(&value) {
            return Some(format!(
                "<{tag} {name}>: `javascript:` and `vbscript:` URLs are not allowed"
            ));
        }
        let fetched =
            FETCHED_ATTRIBUTES.contains(&name.as_str()) || (name == "data" && tag == "object");
        if name == "srcset" {
            // Its candidates are hard to tell from a data URL's commas, and mail clients show
            // `src`: refused rather than half read.
            return Some(format!(
                "<{tag} srcset>: not allowed (use `src` with a `data:image/…` or `cid:` URL)"
            ));
        }
        if fetched && is_remote(value.trim()) {
            return Some(format!(
                "<{tag} {name}>: remote images and media are not allowed (use a `data:image/…` \
                 or `cid:` URL)"
            ));
        }
        if name == "style"
            && let Some(message) = css_problem(&value)
        {
            return Some(format!("<{tag} style>: {message}"));
        }
    }
    None
}

/// Whether a URL, as a browser reads it (spaces and control characters ignored, any case),
/// runs code.
fn runs_code(url: &str) -> bool {
    let squeezed: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    squeezed.starts_with("javascript:") || squeezed.starts_with("vbscript:")
}

/// Whether a URL shown in a mail is fetched from elsewhere: anything but an inline image and
/// an attachment.
fn is_remote(candidate: &str) -> bool {
    let url = candidate
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    !(url.is_empty() || url.starts_with("data:image/") || url.starts_with("cid:"))
}

/// What is wrong with CSS (a `style` attribute or element): something fetched (`url(…)` of
/// anything remote, `@import`) or run (`expression(…)`, `javascript:`).
fn css_problem(css: &str) -> Option<String> {
    let lower: String = css
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if lower.contains("@import") {
        return Some("`@import` is not allowed".into());
    }
    if lower.contains("expression(") || lower.contains("javascript:") || lower.contains("\\") {
        return Some("CSS escapes, `expression()` and `javascript:` are not allowed".into());
    }
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("url(") {
        rest = &rest[at + 4..];
        let url = rest.trim_start_matches(['"', '\'']);
        if is_remote(url.split([')', '"', '\'']).next().unwrap_or_default()) {
            return Some("remote `url(…)` is not allowed (use a `data:image/…` URL)".into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(html: &str) -> Option<String> {
        check_html(html).map(|p| format!("{}: {}", p.line, p.message))
    }

    #[test]
    fn plain_markup_with_links_and_inline_images_passes() {
        for html in [
            "<p>Your code is <b>419283</b></p>",
            "<!doctype html><html lang=\"fr\"><body><a href=\"https://acme.example/help\">Aide</a></body></html>",
            "<img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"Acme\">",
            "<img src=\"cid:logo@acme\" alt=\"Acme\">",
            "<p style=\"color:#333;background:url(data:image/png;base64,AAAA)\">x</p>",
            "<style>p { color: red }</style><p>onion</p>",
            "<p title=\"onclick=alert(1)\">text with an escaped &lt;script&gt;</p>",
        ] {
            assert_eq!(problem(html), None, "{html}");
        }
    }

    #[test]
    fn scripts_and_anything_that_runs_are_refused_with_their_line() {
        for (html, expected) in [
            (
                "<p>a</p>\n<script>alert(1)</script>",
                "2: <script> is not allowed",
            ),
            ("<SCRIPT src=x></SCRIPT>", "1: <script> is not allowed"),
            (
                "<p>\n\n<img src=\"cid:x\" onerror=\"alert(1)\">",
                "3: <img onerror>: event handler",
            ),
            (
                "<a href=\" jav\tascript:alert(1)\">x</a>",
                "1: <a href>: `javascript:`",
            ),
            (
                "<a href=\"VBScript:msgbox\">x</a>",
                "1: <a href>: `javascript:`",
            ),
            (
                "<iframe src=\"https://x\"></iframe>",
                "1: <iframe> is not allowed",
            ),
            (
                "<form action=\"https://x\"><input></form>",
                "1: <form> is not allowed",
            ),
            (
                "<base href=\"https://evil.example/\">",
                "1: <base> is not allowed",
            ),
            (
                "<meta http-equiv=\"refresh\" content=\"0;url=https://x\">",
                "1: <meta http-equiv>",
            ),
            (
                "<svg><a xlink:href=\"javascript:alert(1)\">x</a></svg>",
                "1: <a xlink:href>",
            ),
        ] {
            let found = problem(html).unwrap_or_default();
            assert!(found.starts_with(expected), "{html}: {found}");
        }
    }

    #[test]
    fn remote_images_and_styles_are_refused() {
        for (html, expected) in [
            (
                "<img src=\"https://track.example/p.gif\">",
                "1: <img src>: remote images",
            ),
            (
                "<img src=\"//track.example/p.gif\">",
                "1: <img src>: remote images",
            ),
            (
                "<img srcset=\"cid:a 1x, https://x/b.png 2x\">",
                "1: <img srcset>: not allowed",
            ),
            (
                "<table background=\"http://x/bg.png\">",
                "1: <table background>: remote",
            ),
            (
                "<video poster=\"https://x/p.png\"></video>",
                "1: <video poster>: remote",
            ),
            (
                "<p style=\"background: URL( 'https://x/t.png' )\">",
                "1: <p style>: remote `url",
            ),
            (
                "<style>\n@import url(https://x/a.css);</style>",
                "1: <style>: `@import`",
            ),
            (
                "<style>p{background:url(https://x/t.png)}</style>",
                "1: <style>: remote `url",
            ),
            (
                "<p style=\"width: expression(alert(1))\">",
                "1: <p style>: CSS escapes",
            ),
            (
                "<p style=\"background:u\\72l(https://x)\">",
                "1: <p style>: CSS escapes",
            ),
            (
                "<link rel=\"stylesheet\" href=\"https://x/a.css\">",
                "1: <link> is not allowed",
            ),
        ] {
            let found = problem(html).unwrap_or_default();
            assert!(found.starts_with(expected), "{html}: {found}");
        }
    }
}

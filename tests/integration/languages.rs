//! The verification page in each of otpgate's twelve languages, through the real router: every
//! state the page can be in (waiting, each card message, verified, expired, locked, a link that
//! leads nowhere) says everything in the page's language, with its direction, and no text is
//! left in English.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use otpgate::app::i18n::{self, Count, Texts, Word};
use otpgate::engine::Channel;
use serde_json::json;

use crate::common::{TestApp, visible_text, wrong};

async fn page(app: &TestApp, path: &str, accept_language: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::ACCEPT_LANGUAGE, accept_language)
        .body(Body::empty())
        .expect("request");
    let answer = app.request(request).await;
    (answer.status, answer.text)
}

/// A text as the server-rendered HTML spells it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Asserts the page shows `text` as an element's whole text.
fn shows(html: &str, text: &str, what: &str) {
    assert!(
        html.contains(&format!(">{}<", escaped(text))),
        "{what}: {text:?} not shown in {html}"
    );
}

/// The English pieces a page in another language must not contain: each English text's
/// longest run between placeholders, where it is long enough to mean something.
fn english_pieces() -> Vec<String> {
    let english = i18n::texts("en");
    let mut pieces: Vec<String> = Word::ALL
        .iter()
        .filter(|w| !matches!(w, Word::Email | Word::Sms | Word::Whatsapp))
        .filter_map(|&w| {
            english
                .word(w)
                .split(['{', '}'])
                .step_by(2)
                .max_by_key(|p| p.len())
                .map(str::trim)
                .filter(|p| p.chars().count() >= 6)
                .map(escaped)
        })
        .collect();
    for &count in Count::ALL {
        for form in english.forms(count) {
            pieces.extend(
                form.split("{n}")
                    .map(str::trim)
                    .filter(|p| p.chars().count() >= 6)
                    .map(escaped),
            );
        }
    }
    pieces
}

/// Whether `text` holds `piece` as whole words (French "secondes" does not hold "second").
fn contains_words(text: &str, piece: &str) -> bool {
    text.match_indices(piece).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + piece.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn no_english(html: &str, tag: &str, state: &str, pieces: &[String]) {
    if tag == "en" {
        return;
    }
    let text = visible_text(html);
    for piece in pieces {
        assert!(
            !contains_words(&text, piece),
            "{tag} {state}: English {piece:?} on the page"
        );
    }
}

fn speaks(html: &str, texts: &Texts) {
    let root = format!(r#"<html lang="{}" dir="{}""#, texts.tag(), texts.dir());
    assert!(html.contains(&root), "{}: no {root} in {html}", texts.tag());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_state_speaks_each_of_the_twelve_languages() {
    let app = TestApp::new().await;
    let pieces = english_pieces();
    for tag in otpgate::model::LANGUAGES {
        let texts = i18n::texts(tag);
        let say = |word| texts.word(word).to_owned();
        let about = |word, channel| texts.about(word, channel);
        let tenant = |word| texts.fill(word, &[("tenant", "Acme")]);

        // Waiting for codes; the browser asks for something else, the session's locale wins.
        let token = app.email_sms_session(json!({"locale": tag})).await;
        let path = format!("/verify/{token}");
        let (status, html) = page(&app, &path, "ja").await;
        assert_eq!(status, StatusCode::OK);
        speaks(&html, &texts);
        shows(&html, &say(Word::Title), "title");
        shows(&html, &tenant(Word::Intro), "intro");
        shows(&html, texts.channel(Channel::Email), "channel name");
        shows(&html, &about(Word::CodeLabel, Channel::Sms), "label");
        shows(&html, &say(Word::Verify), "button");
        shows(&html, &texts.count(Count::CodeHint, 6), "hint");
        let progress = texts.fill(Word::Progress, &[("done", "0"), ("total", "2")]);
        shows(&html, &progress, "progress");
        shows(
            &html,
            &texts.fill(Word::ExpiresIn, &[("clock", "10:00")]),
            "clock",
        );
        shows(&html, &texts.count(Count::AttemptsLeft, 5), "attempts");
        shows(&html, &texts.count(Count::ResendIn, 30), "resend");
        no_english(&html, tag, "waiting", &pieces);

        // Each card message, as the form path without JavaScript leaves it.
        for (notice, expected) in [
            ("wrong", say(Word::WrongCode)),
            ("malformed", texts.count(Count::NotACode, 6)),
            ("locked", say(Word::ChannelLocked)),
            ("resent", about(Word::Resent, Channel::Email)),
            ("throttled", say(Word::SlowDown)),
            ("no-more-codes", say(Word::NoMoreCodes)),
            ("error", say(Word::TryAgain)),
        ] {
            let (_, html) =
                page(&app, &format!("{path}?notice={notice}&channel=email"), "ja").await;
            shows(&html, &expected, notice);
            no_english(&html, tag, notice, &pieces);
        }

        // A wrong code counted, then verified: the banner, the other channel optional.
        let email = app.code("email", "user@example.com").await;
        app.verify(&token, json!({"email": wrong(&email)})).await;
        let (_, html) = page(&app, &path, "ja").await;
        shows(
            &html,
            &texts.count(Count::AttemptsLeft, 4),
            "attempts after a wrong code",
        );
        app.verify(&token, json!({"email": email})).await;
        let (_, html) = page(&app, &path, "ja").await;
        shows(&html, &say(Word::SuccessTitle), "verified");
        shows(&html, &say(Word::SuccessAny), "verified");
        shows(&html, &say(Word::Optional), "optional");
        shows(&html, &say(Word::Verified), "verified mark");
        let progress = texts.fill(Word::Progress, &[("done", "1"), ("total", "2")]);
        shows(&html, &progress, "progress");
        no_english(&html, tag, "verified", &pieces);

        // Locked by wrong codes.
        let locked = app
            .email_sms_session(json!({"locale": tag, "max_attempts": 1}))
            .await;
        app.verify(&locked, json!({"email": "000000"})).await;
        let (_, html) = page(&app, &format!("/verify/{locked}"), "ja").await;
        shows(&html, &say(Word::LockedTitle), "locked");
        shows(&html, &tenant(Word::LockedBody), "locked");
        no_english(&html, tag, "locked", &pieces);

        // Expired; chosen by the browser this time (no locale in the session).
        let expiring = app.email_sms_session(json!({"expires_in": 60})).await;
        app.clock.advance(60);
        let browser = format!("ja, {tag}-XX;q=0.9, en;q=0.5");
        let (_, html) = page(&app, &format!("/verify/{expiring}"), &browser).await;
        speaks(&html, &texts);
        shows(&html, &say(Word::ExpiredTitle), "expired");
        shows(&html, &tenant(Word::ExpiredBody), "expired");
        no_english(&html, tag, "expired", &pieces);

        // A link that leads nowhere, in the browser's language.
        let (status, html) = page(&app, "/verify/not-a-token", &browser).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        speaks(&html, &texts);
        shows(&html, &say(Word::NotFoundTitle), "invalid link");
        shows(&html, &say(Word::NotFoundBody), "invalid link");
        no_english(&html, tag, "invalid link", &pieces);
    }
}

/// The page receives its own language's texts only: the widget's data holds no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_carries_only_its_own_language() {
    let app = TestApp::new().await;
    let token = app.email_sms_session(json!({"locale": "fa"})).await;
    let (_, html) = page(&app, &format!("/verify/{token}"), "en").await;
    for tag in otpgate::model::LANGUAGES.iter().filter(|t| **t != "fa") {
        let title = escaped(i18n::texts(tag).word(Word::Title));
        assert!(!html.contains(&title), "{tag}'s title in a Persian page");
    }
    let persian = i18n::texts("fa");
    let resend_forms = persian.forms(Count::ResendIn);
    assert!(
        html.contains(&escaped(&resend_forms[5])),
        "the forms travel with the page"
    );
}

/// A tenant's language speaks when nothing else does: after the session's locale and the
/// browser's languages for the page, after the session's locale for the messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_language_speaks_when_nothing_else_says_which() {
    use axum::http::Method;
    use otpgate::server::service::AdminScope;

    let app = TestApp::new().await;
    let admin = app.admin_token(AdminScope::Write, None).await;
    let set = |language: serde_json::Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.admin_call(
                Method::PATCH,
                "/admin/v1/tenants/Acme",
                Some(&admin),
                Some(json!({ "language": language })),
            )
            .await
        }
    };
    let refused = set(json!("xx")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(refused.text.contains("language"), "{}", refused.text);
    let changed = set(json!("fr-CA")).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["language"], "fr", "stored as the language");

    let french = i18n::texts("fr").word(Word::Title).to_owned();
    let german = i18n::texts("de").word(Word::Title).to_owned();
    let arabic = i18n::texts("ar").word(Word::Title).to_owned();
    let token = app
        .send(json!({"channels": ["sms"], "recipients": {"sms": "+14155550161"}}))
        .await["session_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let path = format!("/verify/{token}");
    // Nothing the browser asks for is spoken: the tenant's language.
    let (_, html) = page(&app, &path, "ja, ko").await;
    shows(&html, &french, "the tenant's language");
    // The browser's language before the tenant's.
    let (_, html) = page(&app, &path, "de-AT, fr;q=0.5").await;
    shows(&html, &german, "the browser's language");
    // The session's locale before both.
    let arabic_session = app
        .send(json!({"channels": ["sms"], "recipients": {"sms": "+14155550162"}, "locale": "ar"}))
        .await["session_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (_, html) = page(&app, &format!("/verify/{arabic_session}"), "de").await;
    shows(&html, &arabic, "the session's language");

    // Messages: the session's locale, else the tenant's language.
    let message = &app.outbox("+14155550161").await[0];
    let code = message["code"].as_str().expect("code");
    let body = message["body"].as_str().expect("body");
    assert!(
        body.starts_with(&format!("Votre code Acme est {code}")),
        "{body}"
    );
    let message = &app.outbox("+14155550162").await[0];
    assert!(message["body"].as_str().unwrap().starts_with("رمز Acme"));

    // Back to English, recorded in the audit log like every change.
    let cleared = set(json!(null)).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(cleared.body["language"], json!(null));
    let (_, html) = page(&app, &path, "ja").await;
    shows(&html, i18n::texts("en").word(Word::Title), "English again");
    let audit = app
        .admin_call(
            Method::GET,
            "/admin/v1/audit?tenant=Acme&action=tenant.updated",
            Some(&admin),
            None,
        )
        .await;
    let entries = audit.body["entries"].as_array().expect("entries").clone();
    assert!(entries.len() >= 2, "{entries:?}");
    assert_eq!(entries[1]["before"], json!({"language": null}));
    assert_eq!(entries[1]["after"], json!({"language": "fr"}));
    assert_eq!(entries[0]["after"], json!({"language": null}));
}

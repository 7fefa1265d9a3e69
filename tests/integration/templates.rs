//! A tenant's message templates end to end: saved, read, previewed and deleted over the admin
//! API (with their audit entries and scopes), refused with the part and line when they would
//! send something wrong, used by the messages of that tenant only (the outbox of test keys,
//! the real SMTP server for live ones), and a test message sent through the provider.

use axum::http::{Method, StatusCode};
use otpgate::server::service::{AdminScope, AuditQuery};
use serde_json::{Value, json};

use crate::common::servers::SmtpSink;
use crate::common::standins;
use crate::common::{TestApp, assert_error};

const SMS_FR: &str = "/admin/v1/tenants/Acme/templates/sms/fr";
const EMAIL_EN: &str = "/admin/v1/tenants/Acme/templates/email/en";

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> crate::common::Answer {
    app.admin_call(method, path, Some(token), body).await
}

async fn writer(app: &TestApp) -> String {
    app.admin_token(AdminScope::Write, None).await
}

fn email_template() -> Value {
    json!({
        "subject": "{{ code }} — {{ app_name }} sign-in",
        "text": "Hello,\n\nyour {{ app_name }} code is {{ code }}; it works for {{ expires_in_minutes }} minutes.\n",
        "html": "<!doctype html>\n<html lang=\"{{ locale }}\"><body>\n<p title=\"{{ app_name }} {{ code }}\">Your code</p>\n<p><b>{{ code }}</b></p>\n<a href=\"https://help.acme.test\">Help</a>\n</body></html>\n",
    })
}

#[tokio::test]
async fn a_template_is_saved_read_previewed_and_deleted_with_an_audit_entry_each() {
    let app = TestApp::new().await;
    let token = writer(&app).await;
    let text = "{{ app_name }} : votre code est {{ code }}. Il expire dans {{ expires_in_minutes }} minutes.";

    let missing = call(&app, &token, Method::GET, SMS_FR, None).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
    assert!(missing.text.contains("built-in"), "{}", missing.text);

    let saved = call(
        &app,
        &token,
        Method::PUT,
        SMS_FR,
        Some(json!({"text": text})),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert_eq!(saved.body["channel"], "sms");
    assert_eq!(saved.body["locale"], "fr");
    assert_eq!(saved.body["text"], text);
    assert!(saved.body.get("html").is_none(), "{}", saved.text);

    let read = call(&app, &token, Method::GET, SMS_FR, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["text"], text);
    let listed = call(
        &app,
        &token,
        Method::GET,
        "/admin/v1/tenants/Acme/templates",
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );
    assert_eq!(listed.body[0]["locale"], "fr");
    let none = call(
        &app,
        &token,
        Method::GET,
        "/admin/v1/tenants/Globex/templates",
        None,
    )
    .await;
    assert_eq!(none.body, json!([]));

    let preview = call(
        &app,
        &token,
        Method::POST,
        &format!("{SMS_FR}/preview"),
        Some(json!({"code": "246810", "expires_in_minutes": 5})),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
    assert_eq!(preview.body["source"], "saved");
    assert_eq!(preview.body["language"], "fr");
    assert_eq!(
        preview.body["text"],
        "Acme : votre code est 246810. Il expire dans 5 minutes.\n\n@app.acme.test #246810",
        "the WebOTP line is otpgate's, after the tenant's text"
    );
    assert_eq!(preview.body["encoding"], "GSM-7");
    assert_eq!(preview.body["segments"], 1);

    // The built-in text, before anything is saved in that language.
    let built_in = call(
        &app,
        &token,
        Method::POST,
        &format!("{EMAIL_EN}/preview"),
        None,
    )
    .await;
    assert_eq!(built_in.status, StatusCode::OK, "{}", built_in.text);
    assert_eq!(built_in.body["source"], "built-in");
    assert_eq!(built_in.body["subject"], "123456 is your Acme code");

    let deleted = call(&app, &token, Method::DELETE, SMS_FR, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let gone = call(&app, &token, Method::GET, SMS_FR, None).await;
    assert_error(&gone, StatusCode::NOT_FOUND, "not_found");
    let again = call(&app, &token, Method::DELETE, SMS_FR, None).await;
    assert_error(&again, StatusCode::NOT_FOUND, "not_found");

    let entries = app
        .state
        .admin
        .audit(&AuditQuery {
            tenant: Some("Acme"),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    let (deleted, saved) = (&entries[0], &entries[1]);
    assert_eq!(
        (deleted.action.as_str(), saved.action.as_str()),
        ("template.deleted", "template.saved")
    );
    assert_eq!(saved.target.as_deref(), Some("template sms/fr"));
    assert_eq!(saved.before, None);
    assert_eq!(saved.after, Some(json!({"text": text})));
    assert_eq!(deleted.before, Some(json!({"text": text})));
    assert_eq!(saved.actor_type, "admin_token");
}

#[tokio::test]
async fn templates_that_would_send_something_wrong_are_refused_naming_the_part_and_line() {
    let app = TestApp::new().await;
    let token = writer(&app).await;
    let mut html_script = email_template();
    html_script["html"] = json!("<p>{{ code }}</p>\n<script>alert(1)</script>");
    let mut html_remote = email_template();
    html_remote["html"] =
        json!("<p>{{ code }}</p>\n\n<img src=\"https://track.example/open.gif\">");
    let mut html_handler = email_template();
    html_handler["html"] = json!("<p onclick=\"steal()\">{{ code }}</p>");
    let mut html_link = email_template();
    html_link["html"] = json!("<a href=\"javascript:alert(1)\">{{ code }}</a>");
    let mut no_code_in_html = email_template();
    no_code_in_html["html"] = json!("<p>Your code is in the text part</p>");
    let too_long = "{{ app_name }} ".repeat(120) + "{{ code }}";
    let arabic_long = "رمز التحقق الخاص بك هو {{ code }} ".repeat(8);
    for (path, body, expected) in [
        (
            SMS_FR,
            json!({"text": "Bonjour !"}),
            "text: does not show the code",
        ),
        (
            SMS_FR,
            json!({"text": "{{ code }\n"}),
            "text, line 1: syntax error",
        ),
        (
            SMS_FR,
            json!({"text": "{{ code }}\n{{ secret }}"}),
            "text, line 2: undefined value",
        ),
        (
            SMS_FR,
            json!({"text": "{{ code }}{% for i in range(100000) %}{% endfor %}"}),
            "text",
        ),
        (SMS_FR, json!({"text": too_long}), "SMS segments"),
        (SMS_FR, json!({"text": arabic_long}), "UCS-2"),
        (
            SMS_FR,
            json!({"text": "{{ code }}", "html": "<p>x</p>"}),
            "html: not a part of a sms template",
        ),
        (EMAIL_EN, json!({"text": "{{ code }}"}), "subject: missing"),
        (
            EMAIL_EN,
            html_script,
            "html, line 2: <script> is not allowed",
        ),
        (
            EMAIL_EN,
            html_remote,
            "html, line 3: <img src>: remote images",
        ),
        (
            EMAIL_EN,
            html_handler,
            "html, line 1: <p onclick>: event handler",
        ),
        (EMAIL_EN, html_link, "html, line 1: <a href>: `javascript:`"),
        (EMAIL_EN, no_code_in_html, "html: does not show the code"),
        (
            "/admin/v1/tenants/Acme/templates/sms/fr-CA",
            json!({"text": "{{ code }}"}),
            "locale: `fr-CA` is not one of",
        ),
        (
            "/admin/v1/tenants/Acme/templates/voice/en",
            json!({"text": "{{ code }}"}),
            "channel: `voice`",
        ),
        (
            "/admin/v1/tenants/Acme/templates/whatsapp/pt",
            json!({"whatsapp_template": "Acme Code", "whatsapp_language": "pt_BR"}),
            "whatsapp_template",
        ),
        (
            "/admin/v1/tenants/Acme/templates/whatsapp/pt",
            json!({"whatsapp_template": "acme_code", "whatsapp_language": "Portuguese"}),
            "whatsapp_language",
        ),
        (
            SMS_FR,
            json!({"text": "{{ code }}", "footer": "x"}),
            "footer",
        ),
    ] {
        let answer = call(&app, &token, Method::PUT, path, Some(body.clone())).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message}");
        // A preview of the same template is refused the same way, before anything is saved.
        if !path.contains("fr-CA") && !path.contains("voice") && body.get("footer").is_none() {
            let preview = call(
                &app,
                &token,
                Method::POST,
                &format!("{path}/preview"),
                Some(json!({"template": body})),
            )
            .await;
            assert_error(&preview, StatusCode::BAD_REQUEST, "invalid_request");
        }
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_templates")
        .fetch_one(&app.db().await)
        .await
        .expect("count");
    assert_eq!(stored, 0, "nothing refused was stored");
}

#[tokio::test]
async fn values_are_escaped_in_the_html_body_even_inside_attributes() {
    let app = TestApp::new().await;
    let token = writer(&app).await;
    let saved = call(&app, &token, Method::PUT, EMAIL_EN, Some(email_template())).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    let preview = call(
        &app,
        &token,
        Method::POST,
        &format!("{EMAIL_EN}/preview"),
        Some(json!({"app_name": "\"><script>alert(1)</script>"})),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
    let html = preview.body["html"].as_str().expect("html");
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("title=\"&quot;&gt;&lt;script&gt;alert(1)&lt;&#x2f;script&gt; 123456\""),
        "{html}"
    );
    // The text parts are text: not escaped, and not HTML either.
    assert_eq!(
        preview.body["subject"],
        "123456 — \"><script>alert(1)</script> sign-in"
    );
}

#[tokio::test]
async fn sms_previews_count_segments_exactly_for_each_encoding() {
    let app = TestApp::new().await;
    let token = writer(&app).await;
    // Without an origin there is no WebOTP line: Globex's texts are counted alone.
    let path = "/admin/v1/tenants/Globex/templates/sms/en";
    for (text, segments, encoding, units) in [
        ("{{ code }}".to_owned() + &"a".repeat(154), 1, "GSM-7", 160),
        ("{{ code }}".to_owned() + &"a".repeat(155), 2, "GSM-7", 161),
        ("{{ code }}".to_owned() + &"€".repeat(77), 1, "GSM-7", 160),
        ("{{ code }}".to_owned() + &"€".repeat(78), 2, "GSM-7", 162),
        ("{{ code }} رمزك".to_owned(), 1, "UCS-2", 11),
        ("{{ code }}".to_owned() + &"ع".repeat(64), 1, "UCS-2", 70),
        ("{{ code }}".to_owned() + &"ع".repeat(65), 2, "UCS-2", 71),
        ("{{ code }} 🔐".to_owned(), 1, "UCS-2", 9),
    ] {
        let preview = call(
            &app,
            &token,
            Method::POST,
            &format!("{path}/preview"),
            Some(json!({"template": {"text": text}})),
        )
        .await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
        assert_eq!(
            (
                &preview.body["segments"],
                &preview.body["encoding"],
                &preview.body["units"]
            ),
            (&json!(segments), &json!(encoding), &json!(units)),
            "{text}"
        );
        assert_eq!(preview.body["source"], "given");
    }
}

#[tokio::test]
async fn a_tenant_text_reaches_its_own_messages_only_and_scoped_tokens_see_their_own_tenant() {
    let app = TestApp::new().await;
    let token = writer(&app).await;
    let text = "{{ app_name }} : votre code est {{ code }}";
    let saved = call(
        &app,
        &token,
        Method::PUT,
        SMS_FR,
        Some(json!({"text": text})),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);

    // Acme's French session: the tenant's text (the outbox shows it without the WebOTP line).
    app.send(
        json!({"channels": ["sms"], "recipients": {"sms": "+14155550123"}, "locale": "fr-FR"}),
    )
    .await;
    let message = &app.outbox("+14155550123").await[0];
    let code = message["code"].as_str().expect("code");
    assert_eq!(message["body"], format!("Acme : votre code est {code}"));

    // Acme's English session: the built-in text.
    app.send(json!({"channels": ["sms"], "recipients": {"sms": "+14155550124"}, "locale": "en"}))
        .await;
    let body = app.outbox("+14155550124").await[0]["body"].clone();
    assert!(
        body.as_str().unwrap().starts_with("Your Acme code is"),
        "{body}"
    );

    // Globex's French session: Acme's text never reaches it (the built-in French one does).
    let globex = app
        .post(
            "/api/v1/otp/send",
            &app.other_key,
            json!({"channels": ["sms"], "recipients": {"sms": "+14155550125"}, "locale": "fr"}),
        )
        .await;
    assert_eq!(globex.status, StatusCode::OK, "{}", globex.text);
    let globex_outbox = app
        .get(
            "/api/v1/test/messages?to=%2B14155550125",
            Some(&app.other_key),
        )
        .await;
    let body = globex_outbox.body[0]["body"]
        .as_str()
        .expect("body")
        .to_owned();
    assert!(body.starts_with("Votre code Globex est"), "{body}");

    // A token scoped to Globex does not see Acme's templates, nor may it change them.
    let globex_token = app.admin_token(AdminScope::Write, Some("Globex")).await;
    for method in [Method::GET, Method::DELETE] {
        let answer = call(&app, &globex_token, method, SMS_FR, None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let answer = call(
        &app,
        &globex_token,
        Method::GET,
        "/admin/v1/tenants/Acme/templates",
        None,
    )
    .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    let answer = call(
        &app,
        &globex_token,
        Method::PUT,
        SMS_FR,
        Some(json!({"text": "{{ code }}"})),
    )
    .await;
    assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    // A read token reads but does not write.
    let reader = app.admin_token(AdminScope::Read, None).await;
    assert_eq!(
        call(&app, &reader, Method::GET, SMS_FR, None).await.status,
        StatusCode::OK
    );
    let answer = call(
        &app,
        &reader,
        Method::PUT,
        SMS_FR,
        Some(json!({"text": "{{ code }}"})),
    )
    .await;
    assert_error(&answer, StatusCode::FORBIDDEN, "forbidden");
    // The text is still Acme's own.
    let read = call(&app, &token, Method::GET, SMS_FR, None).await;
    assert_eq!(read.body["text"], text);
}

async fn smtp_app(sink: &SmtpSink) -> TestApp {
    TestApp::served(&[
        ("smtp_url", sink.url()),
        ("smtp_from", "Acme Codes <codes@acme.test>".into()),
        ("smtp_ca_file", sink.ca_file()),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smtp_server_receives_the_custom_subject_and_both_bodies() {
    let sink = SmtpSink::start(&[]);
    let app = smtp_app(&sink).await;
    let token = writer(&app).await;
    let saved = call(&app, &token, Method::PUT, EMAIL_EN, Some(email_template())).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);

    let sent = app
        .post(
            "/api/v1/otp/send",
            &app.live_key,
            json!({"channels": ["email"], "recipients": {"email": "person@example.com"}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(app.deliver().await, 1);
    let mail = sink
        .wait_for("person@example.com", 0, 10)
        .await
        .expect("the mail arrives");
    let subject = mail["subject"].as_str().expect("subject");
    let code: String = subject.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{subject}");
    assert_eq!(subject, format!("{code} — Acme sign-in"));
    assert_eq!(
        mail["text"]
            .as_str()
            .expect("text")
            .replace("\r\n", "\n")
            .trim_end(),
        format!("Hello,\n\nyour Acme code is {code}; it works for 10 minutes.")
    );
    let html = mail["html"].as_str().expect("html");
    assert!(html.contains(&format!("<p><b>{code}</b></p>")), "{html}");
    assert!(html.contains("<html lang=\"en\">"), "{html}");

    // The code it carried verifies, as any other.
    let token_of_session = sent.body["session_token"].as_str().expect("token");
    let verified = app
        .post(
            "/api/v1/otp/verify",
            &app.live_key,
            json!({"session_token": token_of_session, "otps": {"email": code}}),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);

    // A test message through the same server, with the answer of the provider.
    let test = call(
        &app,
        &token,
        Method::POST,
        &format!("{EMAIL_EN}/test"),
        Some(json!({"to": "operator@example.com"})),
    )
    .await;
    assert_eq!(test.status, StatusCode::OK, "{}", test.text);
    assert_eq!(test.body["provider"], "smtp");
    assert_eq!(test.body["accepted"], true, "{}", test.text);
    let mail = sink
        .wait_for("operator@example.com", 0, 10)
        .await
        .expect("the test mail arrives");
    assert_eq!(mail["subject"], test.body["message"]["subject"]);
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .ends_with("— Acme sign-in")
    );
}

#[tokio::test]
async fn a_test_message_needs_a_provider_for_its_channel() {
    // Development mode: messages go to the outbox, and no provider is configured.
    let app = TestApp::new().await;
    let token = writer(&app).await;
    let answer = call(
        &app,
        &token,
        Method::POST,
        &format!("{SMS_FR}/test"),
        Some(json!({"to": "+14155550100"})),
    )
    .await;
    assert_error(&answer, StatusCode::CONFLICT, "conflict");
    let answer = call(
        &app,
        &token,
        Method::POST,
        &format!("{SMS_FR}/test"),
        Some(json!({"to": "not a number"})),
    )
    .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_message_uses_the_tenant_template_in_its_language() {
    let whatsapp = standins::whatsapp().await;
    let app = TestApp::served(&[
        ("whatsapp_base_url", whatsapp.base_url.clone()),
        (
            "whatsapp_phone_number_id",
            standins::WHATSAPP_PHONE_ID.into(),
        ),
        ("whatsapp_token", standins::WHATSAPP_TOKEN.into()),
        ("whatsapp_app_secret", standins::WHATSAPP_APP_SECRET.into()),
        (
            "whatsapp_verify_token",
            standins::WHATSAPP_VERIFY_TOKEN.into(),
        ),
        ("whatsapp_template", standins::WHATSAPP_TEMPLATE.into()),
    ])
    .await;
    let token = writer(&app).await;
    let path = "/admin/v1/tenants/Acme/templates/whatsapp/pt";
    let saved = call(
        &app,
        &token,
        Method::PUT,
        path,
        Some(json!({
            "whatsapp_template": standins::WHATSAPP_TENANT_TEMPLATE.0,
            "whatsapp_language": standins::WHATSAPP_TENANT_TEMPLATE.1,
        })),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    let preview = call(&app, &token, Method::POST, &format!("{path}/preview"), None).await;
    assert_eq!(preview.body["whatsapp_template"], "acme_codigo");
    assert_eq!(preview.body["whatsapp_language"], "pt_BR");

    for (number, locale) in [("+14155550170", "pt-BR"), ("+14155550171", "en")] {
        let sent = app
            .post(
                "/api/v1/otp/send",
                &app.live_key,
                json!({"channels": ["whatsapp"], "recipients": {"whatsapp": number}, "locale": locale}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    }
    assert_eq!(app.deliver().await, 2);
    let accepted = whatsapp.accepted();
    let template_of = |to: &str| {
        let message = accepted
            .iter()
            .find(|m| m.to.trim_start_matches('+') == to.trim_start_matches('+'))
            .expect("a message");
        message.fields["template"].clone()
    };
    let portuguese = template_of("+14155550170");
    assert_eq!(portuguese["name"], "acme_codigo");
    assert_eq!(portuguese["language"]["code"], "pt_BR");
    let english = template_of("+14155550171");
    assert_eq!(english["name"], standins::WHATSAPP_TEMPLATE);
}

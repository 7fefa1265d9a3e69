//! What a code message says in otpgate's own words, per channel and language (the twelve of
//! `languages.rs`): the SMS and outbox text (with the WebOTP line when the tenant has an
//! origin), the email's subject and its text and HTML parts, and the language tag a WhatsApp
//! template is chosen by. A tenant's own templates replace these (`texts.rs`).

use super::languages::{self, Words};

/// Languages a message can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    English,
    Arabic,
    Spanish,
    French,
    German,
    Portuguese,
    Hindi,
    Indonesian,
    Turkish,
    Russian,
    Chinese,
    Persian,
}

impl Language {
    /// Every language, in the order of `model::LANGUAGES`.
    pub const ALL: [Language; 12] = [
        Language::English,
        Language::Arabic,
        Language::Spanish,
        Language::French,
        Language::German,
        Language::Portuguese,
        Language::Hindi,
        Language::Indonesian,
        Language::Turkish,
        Language::Russian,
        Language::Chinese,
        Language::Persian,
    ];

    /// Its words.
    pub fn words(self) -> &'static Words {
        languages::ALL[self as usize]
    }

    /// The BCP 47 primary tag.
    pub fn tag(self) -> &'static str {
        self.words().tag
    }

    fn dir(self) -> &'static str {
        if self.words().rtl { "rtl" } else { "ltr" }
    }

    /// The language for a BCP 47 tag (`ar`, `pt-BR`, `zh_Hans`, ...); English when it is none
    /// of the twelve.
    pub fn from_locale(locale: Option<&str>) -> Language {
        locale
            .and_then(crate::model::language_of)
            .and_then(|tag| Language::ALL.into_iter().find(|l| l.tag() == tag))
            .unwrap_or(Language::English)
    }
}

/// "Your Acme code is 123456. It expires in 10 minutes."
pub fn code_message(language: Language, tenant: &str, code: &str, seconds_left: i64) -> String {
    let words = language.words();
    languages::fill(
        words.message,
        tenant,
        code,
        &languages::duration(words, seconds_left),
    )
}

/// The SMS text: the message, and when the tenant has an origin the WebOTP line
/// `@<host> #<code>` on its own last line, so Chrome and Safari can offer the code to the page
/// served from that host.
pub fn sms_text(
    language: Language,
    tenant: &str,
    code: &str,
    seconds_left: i64,
    webotp_host: Option<&str>,
) -> String {
    let text = code_message(language, tenant, code, seconds_left);
    super::tenant_text::sms_with_webotp(&text, code, webotp_host)
}

/// The host (with a non-default port) of an origin, as the WebOTP line names it.
pub fn webotp_host(origin: &str) -> Option<String> {
    let url = url::Url::parse(origin).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// An email with a code: its subject and both parts.
#[derive(Clone)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The email: subject "123456 is your Acme code" (the code first, so it shows in the list of
/// mails), a text part, and an HTML part that is accessible (language and direction set, the
/// code as text, not an image) and readable without its styles.
pub fn email(language: Language, tenant: &str, code: &str, seconds_left: i64) -> EmailContent {
    let words = language.words();
    let subject = languages::fill(words.subject, tenant, code, "");
    let heading = languages::fill(words.heading, tenant, code, "");
    let ignore = words.ignore;
    let line = code_message(language, tenant, code, seconds_left);
    let text = format!("{line}\n\n{ignore}\n");
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <title>{subject}</title></head>\n<body style=\"font-family:system-ui,sans-serif;line-height:1.5\">\n\
         <h1 style=\"font-size:20px\">{heading}</h1>\n\
         <p style=\"font-size:32px;font-weight:bold;letter-spacing:6px;font-family:monospace\" dir=\"ltr\">{code}</p>\n\
         <p>{line}</p>\n<p style=\"color:#555\">{ignore}</p>\n</body></html>\n",
        lang = language.tag(),
        dir = language.dir(),
        subject = escape_html(&subject),
        heading = escape_html(&heading),
        code = escape_html(code),
        line = escape_html(&line),
        ignore = escape_html(ignore),
    );
    EmailContent {
        subject,
        text,
        html,
    }
}

/// Escapes text for HTML (a tenant's name is the operator's, but still only text).
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_text_matches_the_contract() {
        assert_eq!(
            code_message(Language::English, "Acme", "123456", 600),
            "Your Acme code is 123456. It expires in 10 minutes."
        );
        assert_eq!(
            code_message(Language::English, "Acme", "1234", 60),
            "Your Acme code is 1234. It expires in 1 minute."
        );
        assert_eq!(
            code_message(Language::English, "Acme", "1234", 119),
            "Your Acme code is 1234. It expires in 1 minute."
        );
        assert_eq!(
            code_message(Language::English, "Acme", "1234", 45),
            "Your Acme code is 1234. It expires in 45 seconds."
        );
    }

    #[test]
    fn arabic_text_and_counts() {
        assert_eq!(
            code_message(Language::Arabic, "Acme", "123456", 600),
            "رمز Acme الخاص بك هو 123456. تنتهي صلاحيته خلال 10 دقائق."
        );
        assert_eq!(
            code_message(Language::Arabic, "Acme", "1", 120),
            "رمز Acme الخاص بك هو 1. تنتهي صلاحيته خلال دقيقتين."
        );
    }

    #[test]
    fn sms_texts_end_with_the_webotp_line_when_there_is_an_origin() {
        assert_eq!(
            sms_text(
                Language::English,
                "Acme",
                "123456",
                600,
                Some("app.acme.test")
            ),
            "Your Acme code is 123456. It expires in 10 minutes.\n\n@app.acme.test #123456"
        );
        assert_eq!(
            sms_text(Language::English, "Acme", "123456", 600, None),
            "Your Acme code is 123456. It expires in 10 minutes."
        );
        assert_eq!(
            webotp_host("https://app.acme.test").as_deref(),
            Some("app.acme.test")
        );
        assert_eq!(
            webotp_host("http://127.0.0.1:3000").as_deref(),
            Some("127.0.0.1:3000")
        );
        assert_eq!(webotp_host("not an origin"), None);
    }

    #[test]
    fn emails_put_the_code_in_the_subject_and_speak_the_language() {
        let en = email(Language::English, "Acme <Shop>", "123456", 600);
        assert_eq!(en.subject, "123456 is your Acme <Shop> code");
        assert!(en.text.starts_with("Your Acme <Shop> code is 123456."));
        assert!(en.html.contains(r#"<html lang="en" dir="ltr">"#));
        assert!(en.html.contains("Acme &lt;Shop&gt;") && !en.html.contains("<Shop>"));
        assert!(en.html.contains(">123456</p>"));
        let ar = email(Language::Arabic, "Acme", "123456", 600);
        assert!(ar.subject.starts_with("123456 "));
        assert!(ar.html.contains(r#"<html lang="ar" dir="rtl">"#));
        assert!(
            ar.html.contains(r#"dir="ltr">123456</p>"#),
            "the code reads left to right"
        );
    }

    #[test]
    fn every_language_writes_its_email_in_its_direction() {
        for language in Language::ALL {
            let mail = email(language, "Acme", "123456", 600);
            assert!(mail.subject.contains("123456") && mail.subject.contains("Acme"));
            let rtl = matches!(language, Language::Arabic | Language::Persian);
            let dir = if rtl { "rtl" } else { "ltr" };
            assert!(
                mail.html
                    .contains(&format!(r#"<html lang="{}" dir="{dir}">"#, language.tag())),
                "{}",
                mail.html
            );
            assert!(
                mail.text
                    .starts_with(&code_message(language, "Acme", "123456", 600))
            );
        }
        let russian = email(Language::Russian, "Acme", "123456", 21 * 60);
        assert!(russian.text.contains("через 21 минуту"), "{}", russian.text);
    }

    #[test]
    fn languages_from_locales() {
        assert_eq!(Language::from_locale(Some("ar")), Language::Arabic);
        assert_eq!(Language::from_locale(Some("AR-ly")), Language::Arabic);
        assert_eq!(Language::from_locale(Some("en-GB")), Language::English);
        assert_eq!(Language::from_locale(Some("fr-CA")), Language::French);
        assert_eq!(Language::from_locale(Some("pt-PT")), Language::Portuguese);
        assert_eq!(Language::from_locale(Some("zh_Hans")), Language::Chinese);
        assert_eq!(Language::from_locale(Some("it")), Language::English);
        for language in Language::ALL {
            assert_eq!(Language::from_locale(Some(language.tag())), language);
        }
        assert_eq!(Language::from_locale(None), Language::English);
    }
}

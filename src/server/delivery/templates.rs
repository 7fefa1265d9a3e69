//! What a code message says, per channel and language (English, Arabic): the SMS and outbox
//! text (with the WebOTP line when the tenant has an origin), the email's subject and its text
//! and HTML parts, and the language tag a WhatsApp template is chosen by.

use crate::model::arabic_count;

/// Languages a message can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    English,
    Arabic,
}

impl Language {
    /// The BCP 47 primary tag.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Arabic => "ar",
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Language::English => "ltr",
            Language::Arabic => "rtl",
        }
    }

    /// The language for a BCP 47 tag (`ar`, `ar-LY`, `en-GB`, ...); English when unsupported.
    pub fn from_locale(locale: Option<&str>) -> Language {
        let primary = locale
            .and_then(|l| l.split(['-', '_']).next())
            .map(str::to_ascii_lowercase);
        match primary.as_deref() {
            Some("ar") => Language::Arabic,
            _ => Language::English,
        }
    }
}

/// "Your Acme code is 123456. It expires in 10 minutes."
pub fn code_message(language: Language, tenant: &str, code: &str, seconds_left: i64) -> String {
    match language {
        Language::English => format!(
            "Your {tenant} code is {code}. It expires in {}.",
            english_duration(seconds_left)
        ),
        Language::Arabic => format!(
            "رمز {tenant} الخاص بك هو {code}. تنتهي صلاحيته خلال {}.",
            arabic_duration(seconds_left)
        ),
    }
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
    let (subject, heading, ignore) = match language {
        Language::English => (
            format!("{code} is your {tenant} code"),
            format!("Your {tenant} code"),
            "If you did not ask for this code, you can ignore this email.",
        ),
        Language::Arabic => (
            format!("{code} هو رمز {tenant} الخاص بك"),
            format!("رمز {tenant} الخاص بك"),
            "إذا لم تطلب هذا الرمز فيمكنك تجاهل هذه الرسالة.",
        ),
    };
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

/// Whole minutes, rounded down so the message never promises more time than there is; seconds
/// under a minute.
fn split_duration(seconds: i64) -> (i64, bool) {
    let seconds = seconds.max(1);
    if seconds >= 60 {
        (seconds / 60, true)
    } else {
        (seconds, false)
    }
}

fn english_duration(seconds: i64) -> String {
    let (n, minutes) = split_duration(seconds);
    let unit = if minutes { "minute" } else { "second" };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn arabic_duration(seconds: i64) -> String {
    let (n, minutes) = split_duration(seconds);
    if minutes {
        arabic_count(n, "دقيقة واحدة", "دقيقتين", "دقائق", "دقيقة")
    } else {
        arabic_count(n, "ثانية واحدة", "ثانيتين", "ثوانٍ", "ثانية")
    }
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
        assert_eq!(english_duration(119), "1 minute");
        assert_eq!(english_duration(45), "45 seconds");
        assert_eq!(english_duration(1), "1 second");
        assert_eq!(english_duration(0), "1 second");
    }

    #[test]
    fn arabic_text_and_counts() {
        assert_eq!(
            code_message(Language::Arabic, "Acme", "123456", 600),
            "رمز Acme الخاص بك هو 123456. تنتهي صلاحيته خلال 10 دقائق."
        );
        assert_eq!(arabic_duration(60), "دقيقة واحدة");
        assert_eq!(arabic_duration(120), "دقيقتين");
        assert_eq!(arabic_duration(300), "5 دقائق");
        assert_eq!(arabic_duration(45), "45 ثانية");
        assert_eq!(arabic_duration(5), "5 ثوانٍ");
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
    fn languages_from_locales() {
        assert_eq!(Language::from_locale(Some("ar")), Language::Arabic);
        assert_eq!(Language::from_locale(Some("AR-ly")), Language::Arabic);
        assert_eq!(Language::from_locale(Some("en-GB")), Language::English);
        assert_eq!(Language::from_locale(Some("fr")), Language::English);
        assert_eq!(Language::from_locale(None), Language::English);
    }
}

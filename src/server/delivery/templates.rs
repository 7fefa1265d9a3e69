//! The text of a code message, in English or Arabic.

use crate::model::arabic_count;

/// Languages a message can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    English,
    Arabic,
}

impl Language {
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
    fn languages_from_locales() {
        assert_eq!(Language::from_locale(Some("ar")), Language::Arabic);
        assert_eq!(Language::from_locale(Some("AR-ly")), Language::Arabic);
        assert_eq!(Language::from_locale(Some("en-GB")), Language::English);
        assert_eq!(Language::from_locale(Some("fr")), Language::English);
        assert_eq!(Language::from_locale(None), Language::English);
    }
}

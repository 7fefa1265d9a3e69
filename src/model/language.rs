//! Which language a page or message speaks, and the one Arabic counting rule, shared by the
//! pages (widget texts) and the server (message templates).

/// The languages otpgate speaks, by primary tag; the first is the fallback.
pub const SPOKEN: [&str; 2] = ["en", "ar"];

/// The languages a tenant may write its message texts in, by primary tag: English, Arabic,
/// Spanish, French, German, Portuguese (Brazil), Hindi, Indonesian, Turkish, Russian, Chinese
/// (Simplified), Persian.
pub const LANGUAGES: [&str; 12] = [
    "en", "ar", "es", "fr", "de", "pt", "hi", "id", "tr", "ru", "zh", "fa",
];

/// The language of `LANGUAGES` a BCP 47 tag (`pt-BR`, `zh_Hans`, `FA`) names, if any.
pub fn language_of(tag: &str) -> Option<&'static str> {
    let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
    LANGUAGES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(primary))
        .copied()
}

/// Picks the language: the session's locale when it names one we speak, otherwise the best
/// match of an `Accept-Language` header (by q-value, then order), otherwise the fallback.
pub fn negotiate(locale: Option<&str>, accept_language: Option<&str>) -> &'static str {
    let speaks = |tag: &str| {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        SPOKEN
            .iter()
            .find(|t| t.eq_ignore_ascii_case(primary))
            .copied()
    };
    if let Some(tag) = locale.and_then(speaks) {
        return tag;
    }
    let mut ranked: Vec<(f32, usize, &str)> = accept_language
        .unwrap_or_default()
        .split(',')
        .enumerate()
        .filter_map(|(order, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (quality > 0.0).then_some((quality, order, tag))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .find_map(|(_, _, tag)| speaks(tag))
        .unwrap_or(SPOKEN[0])
}

/// Arabic counts: 1 and 2 have their own forms, 3 to 10 take the plural, 11 and up the singular.
pub fn arabic_count(n: i64, one: &str, two: &str, few: &str, many: &str) -> String {
    match n {
        1 => one.to_owned(),
        2 => two.to_owned(),
        3..=10 => format!("{n} {few}"),
        _ => format!("{n} {many}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_the_session_then_the_browser() {
        assert_eq!(negotiate(Some("ar"), Some("en-US")), "ar");
        assert_eq!(negotiate(Some("ar-LY"), None), "ar");
        assert_eq!(negotiate(Some("fr"), Some("ar;q=0.9, en;q=0.8")), "ar");
        assert_eq!(negotiate(None, Some("fr-FR, ar;q=0.5, en;q=0.7")), "en");
        assert_eq!(negotiate(None, Some("de, ar-EG;q=0.9")), "ar");
        assert_eq!(negotiate(None, Some("ar;q=0")), "en");
        assert_eq!(negotiate(None, None), "en");
        assert_eq!(negotiate(None, Some("garbage;;,")), "en");
    }
}

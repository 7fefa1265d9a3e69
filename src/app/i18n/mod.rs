//! The widget's words, one file per language. Adding a language is one file beside these and
//! one line in [`LANGUAGES`].

mod ar;
mod en;

pub use ar::count as arabic_count;

use crate::engine::Channel;

/// Every text the verification page shows, in one language.
pub struct Texts {
    /// BCP 47 primary tag, e.g. `en`.
    pub tag: &'static str,
    /// `ltr` or `rtl`.
    pub dir: &'static str,
    pub title: &'static str,
    pub intro: fn(tenant: &str) -> String,
    pub channel_name: fn(Channel) -> &'static str,
    pub code_label: fn(Channel) -> String,
    pub code_hint: fn(length: u8) -> String,
    pub verify: &'static str,
    pub checking: &'static str,
    pub verified: &'static str,
    pub optional: &'static str,
    pub wrong_code: &'static str,
    /// Said while the field holds something other than digits (before anything is sent).
    pub digits_only: &'static str,
    /// Said of a submission too long to be a code (it cost no attempt).
    pub not_a_code: fn(length: u8) -> String,
    pub channel_locked: &'static str,
    pub resend: &'static str,
    pub resend_in: fn(seconds: i64) -> String,
    pub resent: fn(Channel) -> String,
    pub progress: fn(done: usize, total: usize) -> String,
    pub expires_in: fn(clock: &str) -> String,
    pub attempts_left: fn(u32) -> String,
    pub announce_verified: fn(Channel) -> String,
    pub success_title: &'static str,
    pub success_any: &'static str,
    pub success_all: &'static str,
    pub expired_title: &'static str,
    pub expired_body: fn(tenant: &str) -> String,
    pub locked_title: &'static str,
    pub locked_body: fn(tenant: &str) -> String,
    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub try_again: &'static str,
}

/// The languages the page speaks; the first is the fallback.
pub const LANGUAGES: &[&Texts] = &[&en::TEXTS, &ar::TEXTS];

/// The texts for a language tag (`ar`, `ar-LY`, ...); the fallback language for anything else.
pub fn texts(tag: &str) -> &'static Texts {
    let primary = tag.split(['-', '_']).next().unwrap_or_default();
    LANGUAGES
        .iter()
        .find(|t| t.tag.eq_ignore_ascii_case(primary))
        .copied()
        .unwrap_or(LANGUAGES[0])
}

/// Picks the language: the session's locale when it names one we speak, otherwise the best
/// match of an `Accept-Language` header (by q-value, then order), otherwise the fallback.
pub fn negotiate(locale: Option<&str>, accept_language: Option<&str>) -> &'static str {
    let speaks = |tag: &str| {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        LANGUAGES
            .iter()
            .find(|t| t.tag.eq_ignore_ascii_case(primary))
            .map(|t| t.tag)
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
        .unwrap_or(LANGUAGES[0].tag)
}

/// `mm:ss` for a number of seconds (never negative).
pub fn clock(seconds: i64) -> String {
    let seconds = seconds.max(0);
    format!("{:02}:{:02}", seconds / 60, seconds % 60)
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

    #[test]
    fn every_language_has_every_text() {
        for t in LANGUAGES {
            assert!(matches!(t.dir, "ltr" | "rtl"));
            for channel in Channel::ALL {
                assert!(!(t.channel_name)(channel).is_empty());
                assert!((t.code_label)(channel).contains((t.channel_name)(channel)));
            }
            assert!((t.progress)(1, 2).contains('1') && (t.progress)(1, 2).contains('2'));
            assert!((t.expires_in)("09:58").contains("09:58"));
            assert!((t.attempts_left)(3).contains('3'));
            assert!((t.intro)("Acme").contains("Acme"));
        }
        assert_eq!(texts("ar-LY").dir, "rtl");
        assert_eq!(texts("xx").tag, "en");
    }

    #[test]
    fn english_texts_read_naturally() {
        let en = texts("en");
        assert_eq!((en.code_label)(Channel::Email), "Email code");
        assert_eq!((en.progress)(1, 2), "1 of 2 verified");
        assert_eq!((en.attempts_left)(3), "3 attempts left");
        assert_eq!((en.attempts_left)(1), "1 attempt left");
        assert_eq!(clock(598), "09:58");
        assert_eq!(clock(-3), "00:00");
    }
}

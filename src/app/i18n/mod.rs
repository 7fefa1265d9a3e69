//! The widget's words, one file per language. Adding a language is one file beside these and
//! one line in [`LANGUAGES`].

mod ar;
mod en;

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
    /// Said when a limit refused the code unchecked (too many tries from here, or for this
    /// contact): no attempt was spent.
    pub slow_down: &'static str,
    /// Said when no more codes can be sent to this contact for now.
    pub no_more_codes: &'static str,
    pub resend: &'static str,
    /// The channel's latest message: on its way, handed to the provider, arrived, failed.
    pub delivery_queued: &'static str,
    pub delivery_sent: &'static str,
    pub delivery_delivered: &'static str,
    pub delivery_failed: &'static str,
    pub resend_in: fn(seconds: i64) -> String,
    pub resent: fn(Channel) -> String,
    /// Said on a channel a fallback sent because the one before did not arrive in time.
    pub also_sent: fn(Channel) -> String,
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

/// `mm:ss` for a number of seconds (never negative).
pub fn clock(seconds: i64) -> String {
    let seconds = seconds.max(0);
    format!("{:02}:{:02}", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_speak_every_language_the_server_negotiates() {
        let tags: Vec<&str> = LANGUAGES.iter().map(|t| t.tag).collect();
        assert_eq!(tags, crate::model::SPOKEN);
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

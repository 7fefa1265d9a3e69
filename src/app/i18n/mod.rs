//! The verification page's words. The server picks the page's language and sends the page
//! that language's texts as data ([`Texts`]): the widget's WebAssembly holds no language at
//! all, so the twelve languages (one file each beside this one, server side only) add nothing
//! to what a browser downloads. Texts are looked up by [`Word`] or, for a text that counts,
//! by [`Count`] and the language's [`PluralRule`].

#[cfg(feature = "ssr")]
mod languages;

use leptos::prelude::{StoredValue, WithValue};
use serde::{Deserialize, Serialize};

use crate::engine::Channel;
use crate::model::{PluralRule, fill};

#[cfg(feature = "ssr")]
pub use languages::{ALL, texts};

/// Declares the page's words once: the [`Word`] and [`Count`] keys the page looks texts up
/// by, and (server side) [`PageWords`], one language's texts by name, which a language file
/// must fill completely, so a missing text fails the build.
macro_rules! page_words {
    (
        words { $($word:ident => $word_field:ident: $word_doc:literal,)* }
        counts { $($count:ident => $count_field:ident: $count_doc:literal,)* }
    ) => {
        /// A text of the page. Placeholders in braces are filled by the page.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Word { $(#[doc = $word_doc] $word,)* }

        /// A text of the page that says a number `{n}`, in the form the number takes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Count { $(#[doc = $count_doc] $count,)* }

        impl Word {
            pub const ALL: &[Word] = &[$(Word::$word,)*];
        }

        impl Count {
            pub const ALL: &[Count] = &[$(Count::$count,)*];
        }

        /// One language's page texts by name.
        #[cfg(feature = "ssr")]
        pub struct PageWords {
            /// BCP 47 primary tag.
            pub tag: &'static str,
            pub rtl: bool,
            pub rule: PluralRule,
            $(#[doc = $word_doc] pub $word_field: &'static str,)*
            $(#[doc = $count_doc] pub $count_field: crate::model::Forms,)*
        }

        #[cfg(feature = "ssr")]
        impl PageWords {
            /// The texts as the page receives them: in key order, counted texts as their six
            /// forms each.
            pub fn texts(&self) -> Texts {
                let dir = if self.rtl { "rtl" } else { "ltr" };
                let mut list = vec![
                    self.tag.to_owned(),
                    dir.to_owned(),
                    self.rule.index().to_string(),
                ];
                $(list.push(self.$word_field.to_owned());)*
                $(list.extend(self.$count_field.in_order().map(str::to_owned));)*
                Texts(list)
            }
        }
    };
}

page_words! {
    words {
        Title => title: "The page's heading and title.",
        Intro => intro: "Under the heading; `{tenant}`.",
        Email => email: "The email channel's name.",
        Sms => sms: "The SMS channel's name.",
        Whatsapp => whatsapp: "The WhatsApp channel's name.",
        CodeLabel => code_label: "The code field's label; `{channel}`.",
        Verify => verify: "The button that sends a code.",
        Checking => checking: "While a code is being checked.",
        Verified => verified: "A verified channel's mark.",
        Optional => optional: "A channel no longer needed (`any` mode, once one is verified).",
        WrongCode => wrong_code: "A wrong code.",
        DigitsOnly => digits_only: "The field holds something other than digits (nothing sent).",
        ChannelLocked => channel_locked: "Too many wrong codes for one channel.",
        SlowDown => slow_down: "A limit refused the code unchecked; no attempt was spent.",
        NoMoreCodes => no_more_codes: "No more codes can be sent to this contact for now.",
        Resend => resend: "The resend button.",
        DeliveryQueued => delivery_queued: "The channel's message is on its way.",
        DeliverySent => delivery_sent: "The provider took the message.",
        DeliveryDelivered => delivery_delivered: "The message arrived.",
        DeliveryFailed => delivery_failed: "The message could not be delivered.",
        Resent => resent: "After a resend; `{channel}`.",
        AlsoSent => also_sent: "On a channel a fallback sent; `{channel}`.",
        Progress => progress: "How many channels are verified; `{done}`, `{total}`.",
        ExpiresIn => expires_in: "The countdown; `{clock}` (mm:ss).",
        AnnounceVerified => announce_verified: "Said to screen readers; `{channel}`.",
        SuccessTitle => success_title: "The verified banner's heading.",
        SuccessAny => success_any: "Verified, other channels optional.",
        SuccessAll => success_all: "Verified, every channel confirmed.",
        ExpiredTitle => expired_title: "The expired banner's heading.",
        ExpiredBody => expired_body: "The expired banner; `{tenant}`.",
        LockedTitle => locked_title: "The locked banner's heading.",
        LockedBody => locked_body: "The locked banner; `{tenant}`.",
        NotFoundTitle => not_found_title: "A link that leads nowhere: heading.",
        NotFoundBody => not_found_body: "A link that leads nowhere: what to do.",
        TryAgain => try_again: "Something failed; try again.",
    }
    counts {
        CodeHint => code_hint: "Under the field: the code's length.",
        NotACode => not_a_code: "A submission too long to be a code (no attempt spent).",
        ResendIn => resend_in: "The resend button while it waits, in seconds.",
        AttemptsLeft => attempts_left: "Attempts the session has left.",
    }
}

/// One language's page texts as the page receives them: one list of strings, because a list
/// of strings is what the page already knows how to read (each kind of value the widget
/// deserialises costs WebAssembly). In order: the language's tag, its direction, its
/// [`PluralRule`] (by index), then one text per [`Word`], then six forms per [`Count`] (zero,
/// one, two, few, many, other).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Texts(Vec<String>);

/// Where the words start in a [`Texts`] list, after tag, direction and plural rule.
const HEADER: usize = 3;

impl Texts {
    /// BCP 47 primary tag, e.g. `en`.
    pub fn tag(&self) -> &str {
        self.at(0)
    }

    /// `ltr` or `rtl`.
    pub fn dir(&self) -> &str {
        self.at(1)
    }

    fn rule(&self) -> PluralRule {
        PluralRule::from_index(self.at(2).parse().unwrap_or_default())
    }

    fn at(&self, index: usize) -> &str {
        self.0.get(index).map_or("", String::as_str)
    }

    pub fn word(&self, word: Word) -> &str {
        self.at(HEADER + word as usize)
    }

    /// A text with its placeholders filled.
    pub fn fill(&self, word: Word, values: &[(&str, &str)]) -> String {
        fill(self.word(word), values)
    }

    /// A counted text for `n`, in the form the language gives `n`.
    pub fn count(&self, count: Count, n: impl Into<i64>) -> String {
        let n = n.into();
        let form = HEADER + Word::ALL.len() + count as usize * 6;
        let chosen = self.at(form + self.rule().category(n.unsigned_abs()));
        fill(chosen, &[("n", &n.to_string())])
    }

    pub fn channel(&self, channel: Channel) -> &str {
        self.word(match channel {
            Channel::Email => Word::Email,
            Channel::Sms => Word::Sms,
            Channel::Whatsapp => Word::Whatsapp,
        })
    }

    /// A text about a channel (`{channel}` filled with its name).
    pub fn about(&self, word: Word, channel: Channel) -> String {
        self.fill(word, &[("channel", self.channel(channel))])
    }

    /// How many strings the page receives, header included (for the server's checks).
    #[cfg(feature = "ssr")]
    pub fn strings(&self) -> usize {
        self.0.len()
    }

    /// A counted text's six forms (for the server's checks).
    #[cfg(feature = "ssr")]
    pub fn forms(&self, count: Count) -> &[String] {
        let start = HEADER + Word::ALL.len() + count as usize * 6;
        self.0.get(start..start + 6).unwrap_or_default()
    }
}

/// The page's texts where its views can reach them: `Copy`, so every closure may hold it.
#[derive(Clone, Copy)]
pub struct Say(StoredValue<Texts>);

impl Say {
    pub fn new(texts: Texts) -> Say {
        Say(StoredValue::new(texts))
    }

    pub fn word(self, word: Word) -> String {
        self.0.with_value(|t| t.word(word).to_owned())
    }

    pub fn fill(self, word: Word, values: &[(&str, &str)]) -> String {
        self.0.with_value(|t| t.fill(word, values))
    }

    pub fn count(self, count: Count, n: impl Into<i64>) -> String {
        let n = n.into();
        self.0.with_value(|t| t.count(count, n))
    }

    pub fn channel(self, channel: Channel) -> String {
        self.0.with_value(|t| t.channel(channel).to_owned())
    }

    pub fn about(self, word: Word, channel: Channel) -> String {
        self.0.with_value(|t| t.about(word, channel))
    }

    pub fn with<R>(self, read: impl FnOnce(&Texts) -> R) -> R {
        self.0.with_value(read)
    }
}

/// `mm:ss` for a number of seconds (never negative).
pub fn clock(seconds: i64) -> String {
    let seconds = seconds.max(0);
    format!("{:02}:{:02}", seconds / 60, seconds % 60)
}

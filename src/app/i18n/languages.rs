//! The page's texts in each of otpgate's languages, one file per language, server side only:
//! a page receives its own language's texts as data.

mod ar;
mod de;
mod en;
mod es;
mod fa;
mod fr;
mod hi;
mod id;
mod pt;
mod ru;
mod tr;
mod zh;

use super::{PageWords, Texts};

/// Every language, in the order of `model::LANGUAGES`.
pub const ALL: [&PageWords; 12] = [
    &en::WORDS,
    &ar::WORDS,
    &es::WORDS,
    &fr::WORDS,
    &de::WORDS,
    &pt::WORDS,
    &hi::WORDS,
    &id::WORDS,
    &tr::WORDS,
    &ru::WORDS,
    &zh::WORDS,
    &fa::WORDS,
];

/// The page's texts for a language tag (`fa`, `pt-BR`); English for any other.
pub fn texts(tag: &str) -> Texts {
    let language = crate::model::language_of(tag).unwrap_or(crate::model::LANGUAGES[0]);
    ALL.iter()
        .find(|words| words.tag == language)
        .unwrap_or(&ALL[0])
        .texts()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use icu_locale_core::Locale;
    use icu_plurals::PluralRules;

    use super::*;
    use crate::app::i18n::{Count, Word};
    use crate::server::delivery::languages::category_index;

    fn placeholders(text: &str) -> BTreeSet<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn the_page_speaks_every_language_in_order() {
        let tags: Vec<&str> = ALL.iter().map(|w| w.tag).collect();
        assert_eq!(tags, crate::model::LANGUAGES);
        for words in ALL {
            let messages = crate::server::delivery::languages::ALL
                .iter()
                .find(|m| m.tag == words.tag)
                .expect("the messages speak it too");
            assert_eq!(words.rtl, messages.rtl, "{}", words.tag);
        }
        assert_eq!(texts("pt-PT").tag(), "pt");
        assert_eq!(texts("zh_Hans").tag(), "zh");
        assert_eq!(texts("FA").dir(), "rtl");
        assert_eq!(texts("xx").tag(), "en");
    }

    /// The page chooses forms by a small table; CLDR (through `icu_plurals`) is the judge.
    #[test]
    fn each_languages_counting_rule_is_cldrs() {
        let numbers = (0..=10_000u64).chain([100_000, 999_999, 1_000_000, 2_000_000, 21_000_001]);
        for words in ALL {
            let locale: Locale = words.tag.parse().unwrap();
            let rules = PluralRules::try_new(locale.into(), Default::default()).unwrap();
            for n in numbers.clone() {
                let cldr = category_index(rules.category_for(n as usize));
                assert_eq!(words.rule.category(n), cldr, "{} {n}", words.tag);
            }
        }
    }

    /// No text is missing or left in English, and every text has the placeholders the page
    /// fills (no more, no fewer): each language at least says what English says.
    #[test]
    fn every_language_says_everything_in_its_own_words() {
        let english = en::WORDS.texts();
        for words in ALL {
            let texts = words.texts();
            assert_eq!(texts.strings(), 3 + Word::ALL.len() + Count::ALL.len() * 6);
            for &word in Word::ALL {
                let text = texts.word(word);
                assert!(!text.trim().is_empty(), "{} {word:?}", words.tag);
                assert_eq!(
                    placeholders(text),
                    placeholders(english.word(word)),
                    "{} {word:?}",
                    words.tag
                );
                let a_name = matches!(word, Word::Email | Word::Sms | Word::Whatsapp);
                if words.tag != "en" && !a_name {
                    assert_ne!(
                        text,
                        english.word(word),
                        "{} {word:?} is English",
                        words.tag
                    );
                }
            }
            for &count in Count::ALL {
                for form in texts.forms(count) {
                    assert!(!form.trim().is_empty(), "{} {count:?}", words.tag);
                    assert!(
                        placeholders(form).is_subset(&BTreeSet::from(["n"])),
                        "{} {count:?} {form}",
                        words.tag
                    );
                    if words.tag != "en" {
                        let english_forms = english.forms(count);
                        assert!(
                            !english_forms.contains(form),
                            "{} {count:?} is English",
                            words.tag
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn counted_texts_take_each_languages_forms() {
        let say = |tag: &str, count: Count, n: i64| texts(tag).count(count, n);
        assert_eq!(say("en", Count::AttemptsLeft, 1), "1 attempt left");
        assert_eq!(say("en", Count::AttemptsLeft, 3), "3 attempts left");
        assert_eq!(say("ar", Count::AttemptsLeft, 2), "تبقّت محاولتان");
        assert_eq!(say("ar", Count::AttemptsLeft, 5), "تبقّت 5 محاولات");
        assert_eq!(say("ar", Count::AttemptsLeft, 11), "تبقّت 11 محاولة");
        let russian: Vec<String> = [1, 2, 5, 21]
            .into_iter()
            .map(|n| say("ru", Count::ResendIn, n))
            .collect();
        let endings: Vec<&str> = russian
            .iter()
            .map(|t| t.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(endings, ["секунду", "секунды", "секунд", "секунду"]);
        assert_eq!(
            texts("en").about(Word::CodeLabel, crate::engine::Channel::Email),
            "Email code"
        );
        assert_eq!(
            texts("en").fill(Word::Progress, &[("done", "1"), ("total", "2")]),
            "1 of 2 verified"
        );
    }
}

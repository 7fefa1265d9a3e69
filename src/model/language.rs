//! Which language a page or message speaks, how a language counts (its plural forms), and how
//! a text's placeholders are filled: shared by the page (whose texts arrive as data) and the
//! server (message texts and the page's texts in every language).

/// The languages otpgate speaks, by primary tag; the first is the fallback: English, Arabic,
/// Spanish, French, German, Portuguese (Brazil), Hindi, Indonesian, Turkish, Russian, Chinese
/// (Simplified), Persian.
pub const LANGUAGES: [&str; 12] = [
    "en", "ar", "es", "fr", "de", "pt", "hi", "id", "tr", "ru", "zh", "fa",
];

/// The language of `LANGUAGES` a BCP 47 tag (`pt-BR`, `zh_Hans`, `FA`) names, if any: a
/// region or script falls back to its language.
pub fn language_of(tag: &str) -> Option<&'static str> {
    let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
    LANGUAGES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(primary))
        .copied()
}

/// Picks the language: the session's locale when it names one we speak, otherwise the best
/// match of an `Accept-Language` header (by q-value, then order), otherwise `default` (the
/// tenant's language, else the fallback).
pub fn negotiate(
    locale: Option<&str>,
    accept_language: Option<&str>,
    default: Option<&str>,
) -> &'static str {
    if let Some(tag) = locale.and_then(language_of) {
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
        .find_map(|(_, _, tag)| language_of(tag))
        .or_else(|| default.and_then(language_of))
        .unwrap_or(LANGUAGES[0])
}

/// A counted text's forms by CLDR plural category, `{n}` standing for the number. A category
/// a language does not use is never asked for; `other` is the form of last resort.
#[derive(Clone, Copy, Debug)]
pub struct Forms {
    pub zero: Option<&'static str>,
    pub one: Option<&'static str>,
    pub two: Option<&'static str>,
    pub few: Option<&'static str>,
    pub many: Option<&'static str>,
    pub other: &'static str,
}

impl Forms {
    /// A text with one form for one and another for the rest.
    pub const fn one_other(one: &'static str, other: &'static str) -> Forms {
        Forms {
            zero: None,
            one: Some(one),
            two: None,
            few: None,
            many: None,
            other,
        }
    }

    /// A text that takes the same form after every number.
    pub const fn invariable(other: &'static str) -> Forms {
        Forms {
            zero: None,
            one: None,
            two: None,
            few: None,
            many: None,
            other,
        }
    }

    /// The forms in category order (zero, one, two, few, many, other); a category without
    /// its own form has the `other` form.
    pub fn in_order(&self) -> [&'static str; 6] {
        let or_other = |form: Option<&'static str>| form.unwrap_or(self.other);
        [
            or_other(self.zero),
            or_other(self.one),
            or_other(self.two),
            or_other(self.few),
            or_other(self.many),
            self.other,
        ]
    }
}

/// How a language chooses the form of a counted text for a whole number: CLDR's plural rules
/// (cardinal) for otpgate's languages, restricted to integers. Small enough for the page to
/// carry; checked against `icu_plurals` for every language in the server's tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PluralRule {
    /// One form for every number (Chinese, Indonesian).
    #[default]
    Invariable,
    /// `one` for 1 (English, German, Turkish).
    OneOnly,
    /// `one` for 0 and 1 (Hindi, Persian).
    ZeroAndOne,
    /// `one` for 1, `many` for whole millions (Spanish).
    OneAndMillions,
    /// `one` for 0 and 1, `many` for whole millions (French, Portuguese).
    ZeroOneAndMillions,
    /// `one`, `few`, `many` by the last two digits (Russian).
    EastSlavic,
    /// `zero`, `one`, `two`, `few`, `many` (Arabic).
    Arabic,
}

impl PluralRule {
    const ALL: [PluralRule; 7] = [
        PluralRule::Invariable,
        PluralRule::OneOnly,
        PluralRule::ZeroAndOne,
        PluralRule::OneAndMillions,
        PluralRule::ZeroOneAndMillions,
        PluralRule::EastSlavic,
        PluralRule::Arabic,
    ];

    /// The rule's number, as the page receives it.
    pub fn index(self) -> usize {
        PluralRule::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// The rule of a number from [`PluralRule::index`]; one form for anything else.
    pub fn from_index(index: usize) -> PluralRule {
        PluralRule::ALL.get(index).copied().unwrap_or_default()
    }

    /// The category of `n` as its index in category order: zero 0, one 1, two 2, few 3,
    /// many 4, other 5.
    pub fn category(self, n: u64) -> usize {
        const ZERO: usize = 0;
        const ONE: usize = 1;
        const TWO: usize = 2;
        const FEW: usize = 3;
        const MANY: usize = 4;
        const OTHER: usize = 5;
        let millions = n != 0 && n.is_multiple_of(1_000_000);
        match self {
            PluralRule::Invariable => OTHER,
            PluralRule::OneOnly | PluralRule::OneAndMillions if n == 1 => ONE,
            PluralRule::ZeroAndOne | PluralRule::ZeroOneAndMillions if n <= 1 => ONE,
            PluralRule::OneAndMillions | PluralRule::ZeroOneAndMillions if millions => MANY,
            PluralRule::OneOnly
            | PluralRule::ZeroAndOne
            | PluralRule::OneAndMillions
            | PluralRule::ZeroOneAndMillions => OTHER,
            PluralRule::EastSlavic => match (n % 10, n % 100) {
                (1, tens) if tens != 11 => ONE,
                (2..=4, tens) if !(12..=14).contains(&tens) => FEW,
                _ => MANY,
            },
            PluralRule::Arabic => match (n, n % 100) {
                (0, _) => ZERO,
                (1, _) => ONE,
                (2, _) => TWO,
                (_, 3..=10) => FEW,
                (_, 11..=99) => MANY,
                _ => OTHER,
            },
        }
    }
}

/// `text` with each `{name}` of `values` replaced, in one pass: a value that looks like a
/// placeholder (a tenant called `{code}`) stays as it is, and an unknown brace is kept.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (value, length) = values
            .iter()
            .find(|(name, _)| {
                after
                    .strip_prefix('{')
                    .and_then(|a| a.strip_prefix(name))
                    .is_some_and(|a| a.starts_with('}'))
            })
            .map_or(("{", 1), |(name, value)| (*value, name.len() + 2));
        out.push_str(value);
        rest = &after[length..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_the_session_then_the_browser_then_the_tenant() {
        assert_eq!(negotiate(Some("ar"), Some("en-US"), None), "ar");
        assert_eq!(negotiate(Some("ar-LY"), None, None), "ar");
        assert_eq!(
            negotiate(Some("xx"), Some("ar;q=0.9, en;q=0.8"), None),
            "ar"
        );
        assert_eq!(negotiate(None, Some("ja, fr-FR, ar;q=0.5"), None), "fr");
        assert_eq!(negotiate(None, Some("pt-PT"), None), "pt");
        assert_eq!(negotiate(None, Some("es-MX,es;q=0.9"), None), "es");
        assert_eq!(negotiate(None, Some("zh-Hans-CN"), None), "zh");
        assert_eq!(negotiate(None, Some("ja, ko"), Some("de")), "de");
        assert_eq!(negotiate(None, Some("ar;q=0"), None), "en");
        assert_eq!(negotiate(None, None, Some("fa")), "fa");
        assert_eq!(negotiate(None, None, Some("xx")), "en");
        assert_eq!(negotiate(None, None, None), "en");
        assert_eq!(negotiate(None, Some("garbage;;,"), None), "en");
    }

    #[test]
    fn fill_replaces_known_placeholders_once() {
        let values = [("tenant", "{n}"), ("n", "3")];
        assert_eq!(fill("{tenant} has {n} {x}", &values), "{n} has 3 {x}");
        assert_eq!(fill("{ n} {", &values), "{ n} {");
        assert_eq!(fill("", &values), "");
    }

    #[test]
    fn forms_fall_back_to_other() {
        let forms = Forms::one_other("1 day", "{n} days");
        assert_eq!(
            forms.in_order(),
            [
                "{n} days", "1 day", "{n} days", "{n} days", "{n} days", "{n} days"
            ]
        );
    }
}

//! The built-in message texts in otpgate's twelve languages: the SMS (and outbox) line, the
//! email's subject, heading and closing line, and how each language counts minutes and seconds.
//! Which form a number takes is CLDR's plural rule for the language (`icu_plurals`), so
//! Russian says 1 минуту, 2 минуты, 5 минут, 21 минуту and Arabic has its six forms.

use icu_locale_core::Locale;
use icu_plurals::{PluralCategory, PluralRules};

pub use crate::model::Forms;

/// One language's words for a code message. `{app}`, `{code}` and `{duration}` are filled in.
#[derive(Clone, Copy, Debug)]
pub struct Words {
    /// BCP 47 primary tag.
    pub tag: &'static str,
    pub rtl: bool,
    /// "Your {app} code is {code}. It expires in {duration}."
    pub message: &'static str,
    /// "{code} is your {app} code": the code first, so it shows in the list of mails.
    pub subject: &'static str,
    /// "Your {app} code"
    pub heading: &'static str,
    pub ignore: &'static str,
    pub minutes: Forms,
    pub seconds: Forms,
}

pub const ENGLISH: Words = Words {
    tag: "en",
    rtl: false,
    message: "Your {app} code is {code}. It expires in {duration}.",
    subject: "{code} is your {app} code",
    heading: "Your {app} code",
    ignore: "If you did not ask for this code, you can ignore this email.",
    minutes: Forms::one_other("1 minute", "{n} minutes"),
    seconds: Forms::one_other("1 second", "{n} seconds"),
};

pub const ARABIC: Words = Words {
    tag: "ar",
    rtl: true,
    message: "رمز {app} الخاص بك هو {code}. تنتهي صلاحيته خلال {duration}.",
    subject: "{code} هو رمز {app} الخاص بك",
    heading: "رمز {app} الخاص بك",
    ignore: "إذا لم تطلب هذا الرمز فيمكنك تجاهل هذه الرسالة.",
    minutes: Forms {
        zero: Some("{n} دقيقة"),
        one: Some("دقيقة واحدة"),
        two: Some("دقيقتين"),
        few: Some("{n} دقائق"),
        many: Some("{n} دقيقة"),
        other: "{n} دقيقة",
    },
    seconds: Forms {
        zero: Some("{n} ثانية"),
        one: Some("ثانية واحدة"),
        two: Some("ثانيتين"),
        few: Some("{n} ثوانٍ"),
        many: Some("{n} ثانية"),
        other: "{n} ثانية",
    },
};

pub const SPANISH: Words = Words {
    tag: "es",
    rtl: false,
    message: "Tu código de {app} es {code}. Caduca en {duration}.",
    subject: "{code} es tu código de {app}",
    heading: "Tu código de {app}",
    ignore: "Si no pediste este código, puedes ignorar este correo.",
    minutes: Forms::one_other("1 minuto", "{n} minutos"),
    seconds: Forms::one_other("1 segundo", "{n} segundos"),
};

pub const FRENCH: Words = Words {
    tag: "fr",
    rtl: false,
    message: "Votre code {app} est {code}. Il expire dans {duration}.",
    subject: "{code} est votre code {app}",
    heading: "Votre code {app}",
    ignore: "Si vous n’avez pas demandé ce code, vous pouvez ignorer cet e-mail.",
    minutes: Forms::one_other("{n} minute", "{n} minutes"),
    seconds: Forms::one_other("{n} seconde", "{n} secondes"),
};

pub const GERMAN: Words = Words {
    tag: "de",
    rtl: false,
    message: "Ihr {app}-Code lautet {code}. Er läuft in {duration} ab.",
    subject: "{code} ist Ihr {app}-Code",
    heading: "Ihr {app}-Code",
    ignore: "Wenn Sie diesen Code nicht angefordert haben, können Sie diese E-Mail ignorieren.",
    minutes: Forms::one_other("1 Minute", "{n} Minuten"),
    seconds: Forms::one_other("1 Sekunde", "{n} Sekunden"),
};

pub const PORTUGUESE: Words = Words {
    tag: "pt",
    rtl: false,
    message: "Seu código do {app} é {code}. Ele expira em {duration}.",
    subject: "{code} é seu código do {app}",
    heading: "Seu código do {app}",
    ignore: "Se você não pediu este código, pode ignorar este e-mail.",
    minutes: Forms::one_other("{n} minuto", "{n} minutos"),
    seconds: Forms::one_other("{n} segundo", "{n} segundos"),
};

pub const HINDI: Words = Words {
    tag: "hi",
    rtl: false,
    message: "आपका {app} कोड {code} है। यह {duration} में समाप्त हो जाएगा।",
    subject: "{code} आपका {app} कोड है",
    heading: "आपका {app} कोड",
    ignore: "अगर आपने यह कोड नहीं माँगा था, तो आप इस ईमेल को अनदेखा कर सकते हैं।",
    minutes: Forms::invariable("{n} मिनट"),
    seconds: Forms::invariable("{n} सेकंड"),
};

pub const INDONESIAN: Words = Words {
    tag: "id",
    rtl: false,
    message: "Kode {app} Anda adalah {code}. Kode ini kedaluwarsa dalam {duration}.",
    subject: "{code} adalah kode {app} Anda",
    heading: "Kode {app} Anda",
    ignore: "Jika Anda tidak meminta kode ini, abaikan saja email ini.",
    minutes: Forms::invariable("{n} menit"),
    seconds: Forms::invariable("{n} detik"),
};

pub const TURKISH: Words = Words {
    tag: "tr",
    rtl: false,
    message: "{app} kodunuz: {code}. Kodun süresi {duration} içinde dolar.",
    subject: "{code}: {app} kodunuz",
    heading: "{app} kodunuz",
    ignore: "Bu kodu siz istemediyseniz bu e-postayı yok sayabilirsiniz.",
    minutes: Forms::invariable("{n} dakika"),
    seconds: Forms::invariable("{n} saniye"),
};

pub const RUSSIAN: Words = Words {
    tag: "ru",
    rtl: false,
    message: "Ваш код {app}: {code}. Он истекает через {duration}.",
    subject: "{code} — ваш код {app}",
    heading: "Ваш код {app}",
    ignore: "Если вы не запрашивали этот код, просто проигнорируйте это письмо.",
    minutes: Forms {
        zero: None,
        one: Some("{n} минуту"),
        two: None,
        few: Some("{n} минуты"),
        many: Some("{n} минут"),
        other: "{n} минуты",
    },
    seconds: Forms {
        zero: None,
        one: Some("{n} секунду"),
        two: None,
        few: Some("{n} секунды"),
        many: Some("{n} секунд"),
        other: "{n} секунды",
    },
};

pub const CHINESE: Words = Words {
    tag: "zh",
    rtl: false,
    message: "您的{app}验证码是{code}，{duration}后失效。",
    subject: "{code}是您的{app}验证码",
    heading: "您的{app}验证码",
    ignore: "如果您没有请求此验证码，请忽略此邮件。",
    minutes: Forms::invariable("{n}分钟"),
    seconds: Forms::invariable("{n}秒"),
};

pub const PERSIAN: Words = Words {
    tag: "fa",
    rtl: true,
    message: "کد {app} شما {code} است. این کد پس از {duration} منقضی می‌شود.",
    subject: "{code} کد {app} شماست",
    heading: "کد {app} شما",
    ignore: "اگر این کد را درخواست نکرده‌اید، می‌توانید این ایمیل را نادیده بگیرید.",
    minutes: Forms::invariable("{n} دقیقه"),
    seconds: Forms::invariable("{n} ثانیه"),
};

/// Every language, in the order of `model::LANGUAGES`.
pub const ALL: [&Words; 12] = [
    &ENGLISH,
    &ARABIC,
    &SPANISH,
    &FRENCH,
    &GERMAN,
    &PORTUGUESE,
    &HINDI,
    &INDONESIAN,
    &TURKISH,
    &RUSSIAN,
    &CHINESE,
    &PERSIAN,
];

/// `n` of `forms` as `language` says it, by its CLDR plural rule.
pub fn count(language: &Words, n: i64, forms: &Forms) -> String {
    let category = language
        .tag
        .parse::<Locale>()
        .ok()
        .and_then(|locale| PluralRules::try_new(locale.into(), Default::default()).ok())
        .map(|rules| rules.category_for(n.unsigned_abs() as usize))
        .unwrap_or(PluralCategory::Other);
    fill_count(forms.in_order()[category_index(category)], n)
}

/// Whole minutes (rounded down, so the message never promises more time than there is), or
/// seconds under a minute.
pub fn duration(language: &Words, seconds: i64) -> String {
    let seconds = seconds.max(1);
    if seconds >= 60 {
        count(language, seconds / 60, &language.minutes)
    } else {
        count(language, seconds, &language.seconds)
    }
}

/// A text with its `{app}`, `{code}` and `{duration}` filled in, in one pass (a tenant's name
/// that looks like a placeholder stays as it is).
pub fn fill(text: &str, app: &str, code: &str, duration: &str) -> String {
    crate::model::fill(
        text,
        &[("app", app), ("code", code), ("duration", duration)],
    )
}

fn fill_count(form: &str, n: i64) -> String {
    crate::model::fill(form, &[("n", &n.to_string())])
}

/// A CLDR category's index in `Forms::in_order`.
pub fn category_index(category: PluralCategory) -> usize {
    match category {
        PluralCategory::Zero => 0,
        PluralCategory::One => 1,
        PluralCategory::Two => 2,
        PluralCategory::Few => 3,
        PluralCategory::Many => 4,
        PluralCategory::Other => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_counts_by_its_own_rule() {
        let minutes = |words: &Words, n: i64| duration(words, n * 60);
        assert_eq!(minutes(&ENGLISH, 1), "1 minute");
        assert_eq!(minutes(&ENGLISH, 10), "10 minutes");
        assert_eq!(duration(&ENGLISH, 45), "45 seconds");
        assert_eq!(duration(&ENGLISH, 0), "1 second");
        for (n, form) in [
            (1, "1 минуту"),
            (2, "2 минуты"),
            (5, "5 минут"),
            (11, "11 минут"),
            (21, "21 минуту"),
            (22, "22 минуты"),
        ] {
            assert_eq!(minutes(&RUSSIAN, n), form);
        }
        for (n, form) in [
            (1, "دقيقة واحدة"),
            (2, "دقيقتين"),
            (3, "3 دقائق"),
            (10, "10 دقائق"),
            (11, "11 دقيقة"),
            (100, "100 دقيقة"),
        ] {
            assert_eq!(minutes(&ARABIC, n), form);
        }
        assert_eq!(duration(&ARABIC, 5), "5 ثوانٍ");
        assert_eq!(minutes(&FRENCH, 1), "1 minute");
        assert_eq!(minutes(&FRENCH, 2), "2 minutes");
        assert_eq!(minutes(&GERMAN, 1), "1 Minute");
        assert_eq!(minutes(&GERMAN, 10), "10 Minuten");
        assert_eq!(minutes(&SPANISH, 1), "1 minuto");
        assert_eq!(minutes(&PORTUGUESE, 1), "1 minuto");
        assert_eq!(minutes(&PORTUGUESE, 10), "10 minutos");
        assert_eq!(minutes(&TURKISH, 10), "10 dakika");
        assert_eq!(minutes(&CHINESE, 10), "10分钟");
        assert_eq!(minutes(&PERSIAN, 10), "10 دقیقه");
        assert_eq!(minutes(&HINDI, 1), "1 मिनट");
        assert_eq!(minutes(&INDONESIAN, 5), "5 menit");
    }

    #[test]
    fn every_language_has_every_text_with_its_placeholders() {
        let tags: Vec<&str> = ALL.iter().map(|w| w.tag).collect();
        assert_eq!(tags, crate::model::LANGUAGES);
        for words in ALL {
            for (name, text, needs) in [
                (
                    "message",
                    words.message,
                    &["{app}", "{code}", "{duration}"][..],
                ),
                ("subject", words.subject, &["{app}", "{code}"][..]),
                ("heading", words.heading, &["{app}"][..]),
            ] {
                for placeholder in needs {
                    assert!(
                        text.contains(placeholder),
                        "{} {name} lacks {placeholder}",
                        words.tag
                    );
                }
            }
            assert!(!words.ignore.is_empty());
            assert_eq!(words.rtl, matches!(words.tag, "ar" | "fa"));
            let line = fill(words.message, "Acme", "123456", &duration(words, 600));
            assert!(
                line.contains("Acme") && line.contains("123456") && line.contains("10"),
                "{line}"
            );
            assert!(!line.contains('{'), "{line}");
        }
    }

    #[test]
    fn placeholders_are_filled_once() {
        assert_eq!(fill("{app} {code}", "{code}", "1", "d"), "{code} 1");
        assert_eq!(fill("{x} {", "a", "b", "c"), "{x} {");
    }
}

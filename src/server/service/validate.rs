//! Validation of contact points and small request fields that the engine does not model.

/// Longest address SMTP can carry (RFC 5321 path limit less the angle brackets).
const MAX_EMAIL_LEN: usize = 254;

/// Characters that only the wider address grammar uses: display names (`Name <a@b>`), lists
/// (`a@b, c@d`), comments (`(...)`), quoted local parts and domain literals (`[127.0.0.1]`).
/// A recipient is one plain mailbox, so none of them may appear.
const NOT_IN_A_PLAIN_ADDRESS: &[char] = &[
    '<', '>', '(', ')', '[', ']', ',', ';', ':', '"', '\\', ' ', '\t',
];

/// An email address, as given, if it is exactly one plain `local@domain` mailbox: no display
/// name, no list, no comment, no quoted local part, no domain literal, a domain with at least
/// two labels. CR and LF are refused outright because they would let a recipient inject
/// headers into an email.
pub fn email(address: &str) -> Result<String, &'static str> {
    use email_address::{EmailAddress, Options};

    if address.contains(['\r', '\n']) {
        return Err("must not contain line breaks");
    }
    if address.len() > MAX_EMAIL_LEN {
        return Err("is too long for an email address");
    }
    let plain = address.matches('@').count() == 1
        && !address.contains(NOT_IN_A_PLAIN_ADDRESS)
        && !address.chars().any(char::is_control);
    let options = Options::default()
        .with_required_tld()
        .without_domain_literal()
        .without_display_text();
    match EmailAddress::parse_with_options(address, options) {
        // The parsed mailbox must be the whole input, not a part of it.
        Ok(parsed) if plain && parsed.email() == address => Ok(address.to_owned()),
        _ => Err("must be one plain email address (local@domain)"),
    }
}

/// A channel's recipient as otpgate stores it: an E.164 number for SMS and WhatsApp, an email
/// address for email.
pub fn recipient(channel: crate::engine::Channel, value: &str) -> Result<String, &'static str> {
    if channel.uses_phone_number() {
        phone_e164(value)
    } else {
        email(value)
    }
}

/// A phone number in E.164 form (`+14155550100`) that libphonenumber knows to be valid.
pub fn phone_e164(number: &str) -> Result<String, &'static str> {
    let digits = number
        .strip_prefix('+')
        .ok_or("must be in E.164 form, starting with +")?;
    if digits.is_empty()
        || digits.len() > 15
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err("must be in E.164 form: + and up to 15 digits");
    }
    let parsed = phonenumber::parse(None, number).map_err(|_| "is not a valid phone number")?;
    if !phonenumber::is_valid(&parsed) {
        return Err("is not a valid phone number");
    }
    let canonical = parsed.format().mode(phonenumber::Mode::E164).to_string();
    if canonical != number {
        return Err("must be in E.164 form: + and up to 15 digits");
    }
    Ok(canonical)
}

/// A BCP 47-shaped language tag (`en`, `ar`, `ar-LY`, `zh-Hant-TW`).
pub fn locale(tag: &str) -> Result<String, &'static str> {
    let mut parts = tag.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if tag.len() <= 35 && language_ok && rest_ok {
        Ok(tag.to_owned())
    } else {
        Err("must be a language tag such as `en` or `ar`")
    }
}

/// An `Idempotency-Key` header value: 1 to 255 visible ASCII characters.
pub fn idempotency_key(key: &str) -> Result<&str, &'static str> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(key)
    } else {
        Err("Idempotency-Key must be 1 to 255 visible ASCII characters")
    }
}

/// A tenant's name: 1 to 64 characters, no control characters (it is printed in every
/// message), surrounding white space trimmed.
pub fn tenant_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err("a tenant name has 1 to 64 characters and no control characters");
    }
    Ok(name.to_owned())
}

/// An origin allowed to embed the widget, as browsers send it in `Origin`: `scheme://host[:port]`
/// with an `http` or `https` scheme and nothing after (a trailing `/` is allowed), in its
/// serialised form (host lower-cased, a default port left out).
pub fn origin(value: &str) -> Result<String, String> {
    let value = value.trim();
    let refused = || {
        format!(
            "`{value}` is not an origin: use scheme://host[:port], e.g. https://app.example.com"
        )
    };
    let url = url::Url::parse(value).map_err(|_| refused())?;
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        // `Url` reads `https://x.y?` and `https://x.y#` as empty, not absent, parts.
        && !value.contains(['?', '#', '@']);
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
        return Err(refused());
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_port() {
        assert_eq!(
            origin("https://App.Example.com/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            origin(" http://127.0.0.1:3000 ").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(origin("https://x.y:443").unwrap(), "https://x.y");
        for bad in [
            "app.example.com",
            "ftp://x.y",
            "https://x.y/path",
            "https://x.y?q=1",
            "https://x.y?",
            "https://x.y#top",
            "https://u@x.y",
            "https://u:p@x.y",
            "*",
            "",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tenant_names() {
        assert_eq!(tenant_name(" Acme ").unwrap(), "Acme");
        assert!(tenant_name("").is_err());
        assert!(tenant_name("a\nb").is_err());
        assert!(tenant_name(&"x".repeat(65)).is_err());
        assert!(tenant_name(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn emails() {
        assert!(email("user@example.com").is_ok());
        assert!(email("first.last+tag@sub.example.org").is_ok());
        for bad in [
            "",
            "user",
            "@example.com",
            "user@",
            "user@example.com\r\nBcc: x@y.z",
            "user@example.com\n",
            " user@example.com",
            "a b@example.com",
            // More than one mailbox, or one wrapped in the wider grammar.
            "x@evil.com, <victim@example.com>",
            "x@evil.com,victim@example.com",
            "x@evil.com;victim@example.com",
            "Victim <victim@example.com>",
            "<victim@example.com>",
            "victim@example.com (comment)",
            "(comment)victim@example.com",
            "\"quoted local\"@example.com",
            "\"a@b\"@example.com",
            "a@b@example.com",
            // Domain literals and single-label domains.
            "u@[127.0.0.1]",
            "u@[IPv6:::1]",
            "user@localhost",
            "user@example.com\t",
            "user@exam\u{0}ple.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(email("o'brien-smith_1@mail.example.co.uk").is_ok());
        assert!(email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn phones() {
        assert_eq!(phone_e164("+14155550100").unwrap(), "+14155550100");
        assert_eq!(phone_e164("+218911234567").unwrap(), "+218911234567");
        assert_eq!(phone_e164("+447911123456").unwrap(), "+447911123456");
        for bad in [
            "",
            "14155550100",
            "+1 415 555 0100",
            "+1-415-555-0100",
            "+0123456789",
            "+1415555010012345",
            "+1",
            "+999999999",
            "+12",
            "+14155550100\n",
            "tel:+14155550100",
        ] {
            assert!(phone_e164(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_conformance_run_draws_only_accepted_numbers() {
        let list = include_str!("../../../tests/conformance/phones.txt");
        let numbers: Vec<&str> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(numbers.len() >= 20, "{numbers:?}");
        for number in numbers {
            assert_eq!(phone_e164(number).as_deref(), Ok(number), "{number}");
        }
    }

    #[test]
    fn locales_and_keys() {
        for ok in ["en", "ar", "ar-LY", "zh-Hant-TW", "fil"] {
            assert!(locale(ok).is_ok(), "{ok}");
        }
        for bad in ["", "e", "english", "en_US", "ar-", "<script>"] {
            assert!(locale(bad).is_err(), "{bad}");
        }
        assert!(idempotency_key("order-42").is_ok());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("has space").is_err());
        assert!(idempotency_key(&"k".repeat(256)).is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn known_numbers() -> Vec<&'static str> {
            include_str!("../../../tests/conformance/phones.txt")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect()
        }

        proptest! {
            #[test]
            fn any_text_gets_an_answer_and_never_a_panic(text in any::<String>()) {
                let _ = phone_e164(&text);
                let _ = email(&text);
                let _ = locale(&text);
            }

            #[test]
            fn accepted_phone_numbers_are_their_own_canonical_form(digits in "[1-9][0-9]{5,14}") {
                let number = format!("+{digits}");
                if let Ok(canonical) = phone_e164(&number) {
                    prop_assert_eq!(canonical, number);
                }
            }

            #[test]
            fn a_valid_number_in_any_other_spelling_is_refused(
                number in prop::sample::select(known_numbers()),
                split in 2usize..6,
                separator in prop::sample::select(vec![" ", "-", ".", "(", "\n"]),
            ) {
                prop_assert!(phone_e164(number).is_ok());
                let (head, tail) = number.split_at(split);
                let separated = format!("{head}{separator}{tail}");
                let padded = format!("{number} ");
                prop_assert!(phone_e164(&separated).is_err(), "{:?}", separated);
                prop_assert!(phone_e164(&number[1..]).is_err(), "the + is required");
                prop_assert!(phone_e164(&padded).is_err(), "{:?}", padded);
            }

            #[test]
            fn plain_addresses_are_accepted_and_anything_around_them_is_not(
                local in "[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?",
                domain in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?){0,2}\\.[a-z]{2,6}",
                name in "[A-Za-z ]{1,12}",
            ) {
                prop_assume!(!local.contains("..") && !local.contains(".@"));
                let address = format!("{local}@{domain}");
                let accepted = email(&address);
                prop_assert_eq!(accepted.as_deref(), Ok(address.as_str()));
                for wrapped in [
                    format!("{name} <{address}>"),
                    format!("<{address}>"),
                    format!("{address}, other@example.com"),
                    format!("{address} (comment)"),
                    format!("{local}@[127.0.0.1]"),
                    format!("\"{local}\"@{domain}"),
                    format!("{address}\r\nBcc: x@example.com"),
                ] {
                    prop_assert!(email(&wrapped).is_err(), "{wrapped:?}");
                }
            }
        }
    }
}

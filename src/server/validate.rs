//! Validation of contact points and small request fields that the engine does not model.

/// Longest address SMTP can carry (RFC 5321 path limit less the angle brackets).
const MAX_EMAIL_LEN: usize = 254;

/// An email address, as given, if it is one. CR and LF are refused outright because they would
/// let a recipient inject headers into an email.
pub fn email(address: &str) -> Result<String, &'static str> {
    if address.contains(['\r', '\n']) {
        return Err("must not contain line breaks");
    }
    if address.len() > MAX_EMAIL_LEN {
        return Err("is too long for an email address");
    }
    if address.trim() != address || !email_address::EmailAddress::is_valid(address) {
        return Err("is not a valid email address");
    }
    Ok(address.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
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
}

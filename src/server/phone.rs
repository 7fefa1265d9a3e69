//! A phone number's country calling code, read from its leading digits. Calling codes are
//! prefix-free (ITU-T E.164), so the first one to three digits that are an assigned code are
//! the code: what `phonenumber`'s parser does first, without the rest of its parse (which
//! matches the number against its country's patterns, the bulk of a send's CPU when a number
//! is shown masked, counted by country and validated, each a parse of its own).

use phonenumber::metadata::DATABASE;

/// The country calling code of an E.164 number (`+` and digits), when it starts with one.
pub fn country_code(number: &str) -> Option<u16> {
    let digits = number.strip_prefix('+')?;
    if digits.starts_with('0') {
        return None;
    }
    let leading = digits
        .bytes()
        .take(3)
        .take_while(u8::is_ascii_digit)
        .count();
    (1..=leading).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        DATABASE.by_code(&code).map(|_| code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_the_one_the_full_parse_finds() {
        let numbers = [
            "+14155550100",
            "+12025550123",
            "+447700900123",
            "+447000012345",
            "+218911234567",
            "+33612345678",
            "+4915112345678",
            "+8613812345678",
            "+971501234567",
            "+966501234567",
            "+5511912345678",
            "+919876543210",
            "+6281234567890",
            "+905321234567",
            "+79123456789",
            "+77011234567",
            "+989121234567",
            "+35312345678",
            "+3548401234",
            "+88216123456",
            "+8801712345678",
            "+2348031234567",
            "+61412345678",
            "+6421123456",
            "+5068312345",
        ];
        for number in numbers {
            let parsed = phonenumber::parse(None, number).map(|n| n.code().value());
            assert_eq!(country_code(number), parsed.ok(), "{number}");
        }
    }

    #[test]
    fn no_code_without_a_plus_or_an_assigned_prefix() {
        assert_eq!(country_code("14155550100"), None);
        assert_eq!(country_code("+"), None);
        assert_eq!(country_code("+0123456"), None);
        // 999 is a spare code (no country has it).
        assert_eq!(country_code("+999123456"), None);
        assert_eq!(country_code("++14155550100"), None);
        assert_eq!(country_code("+١٤١٥"), None);
        assert_eq!(country_code("+1"), Some(1));
    }
}

//! One-time codes: generation without modulo bias, and normalisation of what a person typed.

use rand::RngCore;

/// Shortest and longest code the progressive API accepts.
pub const MIN_CODE_LENGTH: u8 = 4;
pub const MAX_CODE_LENGTH: u8 = 10;

/// Longest submitted string looked at; anything longer is a malformed request, not a guess.
pub const MAX_SUBMITTED_CODE_CHARS: usize = 64;

/// Generates `length` decimal digits from `rng`.
pub fn generate_code(rng: &mut impl RngCore, length: u8) -> String {
    random_string(rng, b"0123456789", usize::from(length))
}

/// Draws `length` characters uniformly from `alphabet` (at most 256 ASCII characters).
///
/// Each character comes from one random byte. Bytes at or above the largest multiple of the
/// alphabet's size that fits in a byte are thrown away (for digits: 250 and above), so
/// `byte % size` is exactly uniform on what is kept: no modulo bias.
pub fn random_string(rng: &mut impl RngCore, alphabet: &[u8], length: usize) -> String {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256 && alphabet.is_ascii());
    let size = alphabet.len();
    let limit = 256 - 256 % size;
    let mut out = String::with_capacity(length);
    let mut buffer = [0u8; 32];
    while out.len() < length {
        rng.fill_bytes(&mut buffer);
        for byte in buffer.iter().map(|&b| usize::from(b)) {
            if byte < limit && out.len() < length {
                out.push(char::from(alphabet[byte % size]));
            }
        }
    }
    out
}

/// Why a submitted code could not even be compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeFormatError {
    /// Longer than [`MAX_SUBMITTED_CODE_CHARS`]: a malformed request, never an attempt.
    TooLong,
    /// Nothing but white space.
    Empty,
    /// A character that is neither white space around the code nor a decimal digit.
    NotADigit,
}

impl CodeFormatError {
    /// Whether a submission with this defect counts as a (failed) attempt. A string too long to
    /// be any code is refused as malformed before any attempt is counted; an empty or non-digit
    /// guess is a wrong code like any other.
    pub fn costs_an_attempt(self) -> bool {
        self != CodeFormatError::TooLong
    }
}

/// The one rule for reading a submitted code, used by every door (REST, the widget's server
/// functions, the plain form, the single-SMS API): at most [`MAX_SUBMITTED_CODE_CHARS`]
/// characters; surrounding white space is trimmed and every Unicode decimal digit (Arabic-Indic,
/// Persian, fullwidth, Devanagari, ...) maps to its ASCII digit, so a person may type in their
/// own script; anything else inside the code (a space, a dash, a letter) makes it invalid.
pub fn normalize_code(input: &str) -> Result<String, CodeFormatError> {
    if is_too_long(input) {
        return Err(CodeFormatError::TooLong);
    }
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(CodeFormatError::Empty);
    }
    trimmed
        .chars()
        .map(|c| decimal_digit_value(c).map(|d| char::from(b'0' + d)))
        .collect::<Option<String>>()
        .ok_or(CodeFormatError::NotADigit)
}

/// Whether `input` is longer than any submission looked at (counted in characters).
pub fn is_too_long(input: &str) -> bool {
    input.chars().nth(MAX_SUBMITTED_CODE_CHARS).is_some()
}

/// What the widget's field shows while a person types: each decimal digit of any script as its
/// ASCII digit, every other character kept as typed, so the field never hides what will be sent
/// and the server reads it exactly as [`normalize_code`] does.
pub fn display_digits(input: &str) -> String {
    input
        .chars()
        .map(|c| decimal_digit_value(c).map_or(c, |d| char::from(b'0' + d)))
        .collect()
}

/// Where each run of Unicode decimal digits (general category Nd, Unicode 16) starts: its zero.
/// Unicode's stability policy assigns Nd characters only in contiguous runs of ten, zero to nine,
/// so these 77 code points describe all 770 of them (some runs sit back to back, as the
/// mathematical digits' five do). A table of the starts, not the Unicode property tables: the
/// widget's WebAssembly carries this rule too, and the tables would be 40 KB of it. The
/// exhaustive test below checks it against the Unicode data of the `unicode-properties` crate.
const DIGIT_ZEROS: [u32; 77] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x10D40, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x116D0, 0x116DA, 0x11730, 0x118E0, 0x11950, 0x11BF0, 0x11C50, 0x11D50,
    0x11DA0, 0x11DE0, 0x11F50, 0x16130, 0x16A60, 0x16AC0, 0x16B50, 0x16D70, 0x1CCF0, 0x1D7CE,
    0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E5F1, 0x1E950, 0x1FBF0,
];

/// The value of a Unicode decimal digit (general category Nd), `None` for anything else.
pub fn decimal_digit_value(c: char) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c as u8 - b'0');
    }
    let c = u32::from(c);
    // The last run starting at or before `c`, if `c` is within its ten.
    let runs_before = DIGIT_ZEROS.partition_point(|zero| *zero <= c);
    let zero = DIGIT_ZEROS[runs_before.checked_sub(1)?];
    u8::try_from(c - zero).ok().filter(|value| *value < 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// An RNG that replays fixed bytes, to drive the rejection step deterministically.
    struct Replay(Vec<u8>, usize);
    impl RngCore for Replay {
        fn next_u32(&mut self) -> u32 {
            unreachable!("codes draw bytes")
        }
        fn next_u64(&mut self) -> u64 {
            unreachable!("codes draw bytes")
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                *b = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
        }
    }

    #[test]
    fn codes_have_the_requested_length_and_only_digits() {
        let mut rng = StdRng::seed_from_u64(7);
        for length in MIN_CODE_LENGTH..=MAX_CODE_LENGTH {
            let code = generate_code(&mut rng, length);
            assert_eq!(code.len(), usize::from(length));
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{length}");
        }
    }

    #[test]
    fn bytes_at_or_above_250_are_rejected_not_folded() {
        // 250..=255 would map to 0..=5 and bias them; they must be skipped.
        let mut bytes = vec![250, 251, 252, 253, 254, 255, 9, 19];
        bytes.resize(32, 255);
        let mut rng = Replay(bytes, 0);
        assert_eq!(generate_code(&mut rng, 2), "99");
    }

    #[test]
    fn digits_are_uniform() {
        let mut rng = StdRng::seed_from_u64(42);
        let mut counts = [0u32; 10];
        let draws = 200_000;
        for _ in 0..draws / 10 {
            for b in generate_code(&mut rng, 10).bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        let expected = f64::from(draws) / 10.0;
        let chi_square: f64 = counts
            .iter()
            .map(|&n| (f64::from(n) - expected).powi(2) / expected)
            .sum();
        // 9 degrees of freedom: 27.88 is the 0.999 quantile. A modulo-biased generator
        // (byte % 10 on all 256 values) scores in the hundreds on this many draws.
        assert!(
            chi_square < 27.88,
            "chi-square {chi_square}, counts {counts:?}"
        );
    }

    #[test]
    fn alphabets_reject_their_own_tail() {
        // 62 symbols: 248 is the largest multiple of 62 in a byte, so 248..=255 are skipped.
        let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut bytes = vec![248, 255, 61, 62, 0];
        bytes.resize(32, 255);
        let mut rng = Replay(bytes, 0);
        assert_eq!(random_string(&mut rng, alphabet, 3), "z00");
    }

    #[test]
    fn codes_differ_between_draws() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = generate_code(&mut rng, 10);
        let b = generate_code(&mut rng, 10);
        assert_ne!(a, b);
    }

    #[test]
    fn normalisation_trims_and_maps_scripts() {
        assert_eq!(normalize_code(" 123456\n").unwrap(), "123456");
        assert_eq!(
            normalize_code("\u{0661}\u{0662}\u{0663}\u{0664}").unwrap(),
            "1234"
        ); // Arabic-Indic
        assert_eq!(
            normalize_code("\u{06F5}\u{06F6}\u{06F7}\u{06F8}").unwrap(),
            "5678"
        ); // Persian
        assert_eq!(normalize_code("\u{FF10}\u{FF19}\u{FF13}").unwrap(), "093"); // fullwidth
        assert_eq!(normalize_code("\u{0966}\u{096F}").unwrap(), "09"); // Devanagari
        // Mathematical digits: five runs of ten back to back (bold, double-struck, ...).
        assert_eq!(
            normalize_code("\u{1D7CE}\u{1D7D7}\u{1D7D8}\u{1D7FF}").unwrap(),
            "0909"
        );
        assert_eq!(normalize_code("\u{00A0}42\u{3000}").unwrap(), "42");
    }

    #[test]
    fn normalisation_refuses_overlong_input_before_reading_it() {
        let longest = "1".repeat(MAX_SUBMITTED_CODE_CHARS);
        assert_eq!(normalize_code(&longest).unwrap(), longest);
        assert_eq!(
            normalize_code(&"1".repeat(MAX_SUBMITTED_CODE_CHARS + 1)),
            Err(CodeFormatError::TooLong)
        );
        // Characters, not bytes: 64 Arabic-Indic digits are 128 bytes and still a code.
        assert!(normalize_code(&"\u{0661}".repeat(MAX_SUBMITTED_CODE_CHARS)).is_ok());
        // White space counts too: the limit is on what was submitted, not what is left.
        let padded = format!("{}123456", " ".repeat(MAX_SUBMITTED_CODE_CHARS));
        assert_eq!(normalize_code(&padded), Err(CodeFormatError::TooLong));
        assert!(!CodeFormatError::TooLong.costs_an_attempt());
        assert!(CodeFormatError::Empty.costs_an_attempt());
        assert!(CodeFormatError::NotADigit.costs_an_attempt());
    }

    #[test]
    fn the_field_shows_ascii_digits_and_keeps_everything_else() {
        assert_eq!(display_digits("\u{0661}\u{0662}\u{0663}"), "123");
        assert_eq!(display_digits("123-456"), "123-456");
        assert_eq!(display_digits(" ١٢ab"), " 12ab");
        // What the field shows normalises exactly as what was typed.
        for typed in ["١٢٣٤٥٦", "123-456", " 123456 ", "12a4"] {
            assert_eq!(
                normalize_code(&display_digits(typed)),
                normalize_code(typed)
            );
        }
    }

    #[test]
    fn normalisation_rejects_everything_else() {
        assert_eq!(normalize_code(""), Err(CodeFormatError::Empty));
        assert_eq!(normalize_code("   "), Err(CodeFormatError::Empty));
        for bad in [
            "12 34",
            "123-456",
            "12a4",
            "½",
            "Ⅻ",
            "²",
            "-123",
            "+123",
            "1.5",
            "12\u{0}34",
            "①",
        ] {
            assert_eq!(
                normalize_code(bad),
                Err(CodeFormatError::NotADigit),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_decimal_digit_maps_to_its_value() {
        for zero in [
            0x30u32, 0x660, 0x6F0, 0x966, 0xE50, 0xFF10, 0x1D7CE, 0x1D7F6,
        ] {
            for value in 0..10u8 {
                let c = char::from_u32(zero + u32::from(value)).unwrap();
                assert_eq!(
                    decimal_digit_value(c),
                    Some(value),
                    "U+{:04X}",
                    u32::from(c)
                );
            }
        }
    }

    #[test]
    fn every_unicode_decimal_digit_sits_in_a_run_from_zero_to_nine() {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
        // Exhaustive over every scalar value: each Nd character maps to a value, the character
        // that many places before it maps to 0, and the run it belongs to ends on a 9.
        let mut digits = 0;
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let nd = c.general_category() == GeneralCategory::DecimalNumber;
            let value = decimal_digit_value(c);
            assert_eq!(nd, value.is_some(), "U+{:04X}", u32::from(c));
            if let Some(v) = value {
                digits += 1;
                let zero = char::from_u32(u32::from(c) - u32::from(v)).unwrap();
                let nine = char::from_u32(u32::from(zero) + 9).unwrap();
                assert_eq!(decimal_digit_value(zero), Some(0), "U+{:04X}", u32::from(c));
                assert_eq!(decimal_digit_value(nine), Some(9), "U+{:04X}", u32::from(c));
                assert_eq!(
                    normalize_code(&c.to_string()),
                    Ok(char::from(b'0' + v).to_string())
                );
            }
        }
        assert!(digits >= 650, "{digits} decimal digits");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_string_gets_a_definite_answer(input in any::<String>()) {
                match normalize_code(&input) {
                    Ok(code) => {
                        prop_assert!(!code.is_empty());
                        prop_assert!(code.bytes().all(|b| b.is_ascii_digit()));
                        prop_assert!(code.chars().count() <= input.chars().count());
                    }
                    Err(CodeFormatError::TooLong) => {
                        prop_assert!(input.chars().count() > MAX_SUBMITTED_CODE_CHARS)
                    }
                    Err(CodeFormatError::Empty) => prop_assert!(input.trim().is_empty()),
                    Err(CodeFormatError::NotADigit) => prop_assert!(
                        input.trim().chars().any(|c| decimal_digit_value(c).is_none())
                    ),
                }
            }

            #[test]
            fn ascii_digits_round_trip_with_white_space_around(
                code in "[0-9]{1,40}",
                before in "[ \t\n\u{A0}\u{3000}]{0,4}",
                after in "[ \t\n\u{A0}\u{3000}]{0,4}",
            ) {
                prop_assert_eq!(normalize_code(&format!("{before}{code}{after}")), Ok(code));
            }

            #[test]
            fn any_script_spells_the_same_code(
                code in "[0-9]{4,10}",
                zero in prop::sample::select(vec![0x30u32, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0xFF10, 0x1D7CE]),
            ) {
                let spelled: String = code
                    .bytes()
                    .map(|b| char::from_u32(zero + u32::from(b - b'0')).unwrap())
                    .collect();
                prop_assert_eq!(normalize_code(&spelled), Ok(code.clone()));
                prop_assert_eq!(display_digits(&spelled), code);
            }

            #[test]
            fn anything_inside_a_code_but_digits_makes_it_invalid(
                head in "[0-9]{1,5}",
                tail in "[0-9]{1,5}",
                inside in any::<char>().prop_filter("not a digit", |c| decimal_digit_value(*c).is_none()),
            ) {
                let typed = format!("{head}{inside}{tail}");
                prop_assert_eq!(normalize_code(&typed), Err(CodeFormatError::NotADigit));
            }
        }
    }
}

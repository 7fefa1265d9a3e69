//! How long an SMS text is on the wire: which encoding it needs and how many segments it is sent
//! (and billed) as. A text whose every character is in the GSM 03.38 default alphabet goes as
//! GSM-7: 7 bits per character, 2 for the ten characters of its extension table (an escape and
//! the character), 160 in one message; longer, it is split into segments of 153 that never split
//! an escape from its character. Any other character sends the whole text as UCS-2 (UTF-16 on
//! today's networks): 70 code units in one message, segments of 67 that never split a surrogate
//! pair. These are the figures every SMS gateway bills by; templates are refused past a set
//! number of segments, and the preview shows both numbers.
//!
//! Written here rather than taken from a crate: the one Rust crate for it has had two releases,
//! and the rule is a table and two loops.

/// The GSM 03.38 default alphabet (without the escape at 0x1B), each one septet.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                          ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table's characters, each an escape and a septet.
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Septets in one unsplit GSM-7 message, and in each segment of a split one (the rest carries
/// the header that joins them).
const GSM7_SINGLE: usize = 160;
const GSM7_SEGMENT: usize = 153;

/// UTF-16 code units in one unsplit UCS-2 message, and in each segment of a split one.
const UCS2_SINGLE: usize = 70;
const UCS2_SEGMENT: usize = 67;

/// The encoding a text is sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

impl SmsEncoding {
    /// As the preview shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "GSM-7",
            SmsEncoding::Ucs2 => "UCS-2",
        }
    }
}

/// A text's size as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmsSize {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Messages it is sent as; an empty text is still one.
    pub segments: usize,
}

/// Septets of `c` in GSM-7, if the alphabet has it.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding `text` needs, its units, and its segments.
pub fn sms_size(text: &str) -> SmsSize {
    let gsm7: Option<Vec<usize>> = text.chars().map(gsm7_septets).collect();
    let (encoding, units, single, segment) = match gsm7 {
        Some(units) => (SmsEncoding::Gsm7, units, GSM7_SINGLE, GSM7_SEGMENT),
        None => {
            let units = text.chars().map(char::len_utf16).collect();
            (SmsEncoding::Ucs2, units, UCS2_SINGLE, UCS2_SEGMENT)
        }
    };
    let total: usize = units.iter().sum();
    SmsSize {
        encoding,
        units: total,
        segments: if total <= single {
            1
        } else {
            segments_of(&units, segment)
        },
    }
}

/// Segments of at most `capacity` units each, filled in order, a character's units never split
/// over two segments.
fn segments_of(units: &[usize], capacity: usize) -> usize {
    let mut segments = 1;
    let mut used = 0;
    for &size in units {
        if used + size > capacity {
            segments += 1;
            used = 0;
        }
        used += size;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;
    use SmsEncoding::{Gsm7, Ucs2};

    fn size(encoding: SmsEncoding, units: usize, segments: usize) -> SmsSize {
        SmsSize {
            encoding,
            units,
            segments,
        }
    }

    #[test]
    fn the_alphabet_has_its_128_positions_and_the_extension_its_ten() {
        // 128 positions, one of which is the escape itself.
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
        let every: Vec<char> = (0..=0x10FFFF).filter_map(char::from_u32).collect();
        assert_eq!(
            every
                .iter()
                .filter(|&&c| gsm7_septets(c) == Some(1))
                .count(),
            127
        );
        assert_eq!(
            every
                .iter()
                .filter(|&&c| gsm7_septets(c) == Some(2))
                .count(),
            10
        );
        assert_eq!(
            gsm7_septets('\u{1B}'),
            None,
            "the escape is not a character"
        );
    }

    #[test]
    fn every_character_outside_the_alphabet_makes_the_text_ucs2_in_its_utf16_units() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let text = format!("a{c}");
            let expected = match gsm7_septets(c) {
                Some(septets) => size(Gsm7, 1 + septets, 1),
                None => size(Ucs2, 1 + c.len_utf16(), 1),
            };
            assert_eq!(sms_size(&text), expected, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn segments_on_a_table_of_texts() {
        let a = |n: usize| "a".repeat(n);
        let cases: Vec<(String, SmsSize)> = vec![
            (String::new(), size(Gsm7, 0, 1)),
            ("Your code is 123456".into(), size(Gsm7, 19, 1)),
            (a(160), size(Gsm7, 160, 1)),
            (a(161), size(Gsm7, 161, 2)),
            (a(306), size(Gsm7, 306, 2)),
            (a(307), size(Gsm7, 307, 3)),
            // Extension characters count two septets.
            ("€".repeat(80), size(Gsm7, 160, 1)),
            ("€".repeat(81), size(Gsm7, 162, 2)),
            ("{code}".into(), size(Gsm7, 8, 1)),
            ("\u{0C}".into(), size(Gsm7, 2, 1)),
            // An escape and its character never go to two segments: 152 + (2 + 151) + 1.
            (format!("{}€{}", a(152), a(152)), size(Gsm7, 306, 3)),
            (format!("{}€{}", a(151), a(153)), size(Gsm7, 306, 2)),
            // Greek capitals the alphabet has; others it has not.
            ("ΔΦΓΛΩΠΨΣΘΞ".into(), size(Gsm7, 10, 1)),
            ("Α".into(), size(Ucs2, 1, 1)),
            ("ç".into(), size(Ucs2, 1, 1)),
            ("Ç".into(), size(Gsm7, 1, 1)),
            ("código 123456".into(), size(Ucs2, 13, 1)),
            ("Ваш код 123456".into(), size(Ucs2, 14, 1)),
            ("رمزك 123456".into(), size(Ucs2, 11, 1)),
            ("ع".repeat(70), size(Ucs2, 70, 1)),
            ("ع".repeat(71), size(Ucs2, 71, 2)),
            ("ع".repeat(134), size(Ucs2, 134, 2)),
            ("ع".repeat(135), size(Ucs2, 135, 3)),
            ("你的验证码是 123456".into(), size(Ucs2, 13, 1)),
            // An emoji is two UTF-16 units, and a pair is never split: 66 + (2 + 65) + 1.
            ("😀".repeat(35), size(Ucs2, 70, 1)),
            ("😀".repeat(36), size(Ucs2, 72, 2)),
            (format!("{}😀{}", a(66), a(66)), size(Ucs2, 134, 3)),
            (format!("{}😀{}", a(65), a(67)), size(Ucs2, 134, 2)),
            // A GSM-7 text with one character outside it: all of it UCS-2.
            (format!("{}😀", a(100)), size(Ucs2, 102, 2)),
        ];
        for (text, expected) in cases {
            assert_eq!(sms_size(&text), expected, "{text:?}");
        }
    }

    /// The fewest segments that hold `units` in order, each character whole, by trying every
    /// place a segment can end (what `segments_of` must equal).
    fn fewest_segments(units: &[usize], capacity: usize) -> usize {
        let mut fewest = vec![usize::MAX; units.len() + 1];
        fewest[0] = 0;
        for end in 1..=units.len() {
            for start in 0..end {
                let held: usize = units[start..end].iter().sum();
                if held <= capacity && fewest[start] != usize::MAX {
                    fewest[end] = fewest[end].min(fewest[start] + 1);
                }
            }
        }
        fewest[units.len()].max(1)
    }

    #[test]
    fn filling_in_order_gives_the_fewest_segments() {
        // Every mix of one- and two-unit characters up to 12 long, in small segments.
        for capacity in [2, 3, 4, 5] {
            for length in 0..=12u32 {
                for mask in 0..(1u32 << length) {
                    let units: Vec<usize> =
                        (0..length).map(|i| 1 + (mask >> i & 1) as usize).collect();
                    assert_eq!(
                        segments_of(&units, capacity),
                        fewest_segments(&units, capacity),
                        "{units:?} in segments of {capacity}"
                    );
                }
            }
        }
    }
}

//! The GS1 application identifiers (AIs) this system reads, with their formats.
//!
//! Taken from the GS1 General Specifications (section 3, and the "predefined length" table of
//! section 7.8.5) as the GS1 Barcode Syntax Dictionary states them:
//!
//! | AI | title | format | FNC1 after it |
//! | --- | --- | --- | --- |
//! | 00 | SSCC | N18, check digit | no (predefined length) |
//! | 01, 02 | GTIN, content GTIN | N14, check digit | no |
//! | 10 | batch or lot | X..20 | yes |
//! | 11, 12, 13, 15, 16, 17 | dates | N6 `YYMMDD`, day `00` allowed | no |
//! | 20 | variant | N2 | no |
//! | 21, 22 | serial, consumer product variant | X..20 | yes |
//! | 240, 241 | additional product id, customer part number | X..30 | yes |
//! | 30, 37 | count | N..8 | yes |
//! | 310n–316n, 330n | measures, `n` = digits after the decimal point (0–5) | N6 | no |
//! | 400 | order number | X..30 | yes |
//! | 410–416 | GLNs | N13, check digit | no |
//! | 8020 | payment slip reference | X..25 | yes |
//! | 90 | mutually agreed data | X..30 | yes |
//! | 91–99 | company internal data | X..90 | yes |
//!
//! "Predefined length" is a property of an AI's first two digits (00–04, 11–20, 31–36, 41), not
//! of the AI being fixed-length: a fixed-length AI outside that table still needs an FNC1 after
//! it. `N` is digits only; `X` is GS1's character set 82 ([`is_cset82`]).

/// What the characters of a value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Digits only.
    Numeric,
    /// GS1 AI encodable character set 82.
    Cset82,
}

/// How a value is checked and interpreted beyond its characters and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    Plain,
    /// The last digit is a GS1 mod-10 check digit; the name says which key it is.
    CheckDigit(&'static str),
    /// `YYMMDD`; `DD` = `00` means the last day of the month.
    Date,
    /// A number with as many decimals as the AI's last digit says.
    Decimal,
}

/// One AI (or a family like 310n) and its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AiSpec {
    /// The AI; for a family with a decimal-point digit (310n), its first three digits.
    pub prefix: &'static str,
    /// How many digits the AI has (2, 3 or 4).
    pub ai_len: usize,
    /// What an operator calls it, used in rejection reasons.
    pub title: &'static str,
    pub charset: Charset,
    pub min_len: usize,
    pub max_len: usize,
    /// True when the AI is in GS1's predefined-length table, so no FNC1 follows it.
    pub predefined: bool,
    pub meaning: Meaning,
}

impl AiSpec {
    pub fn is_fixed_length(&self) -> bool {
        self.min_len == self.max_len
    }

    /// Whether an element string needs an FNC1 (GS) after this element when another follows.
    pub fn needs_separator(&self) -> bool {
        !self.predefined
    }
}

const fn fixed(
    prefix: &'static str,
    title: &'static str,
    len: usize,
    predefined: bool,
    meaning: Meaning,
) -> AiSpec {
    AiSpec {
        prefix,
        ai_len: prefix.len(),
        title,
        charset: Charset::Numeric,
        min_len: len,
        max_len: len,
        predefined,
        meaning,
    }
}

const fn var(prefix: &'static str, title: &'static str, charset: Charset, max: usize) -> AiSpec {
    AiSpec {
        prefix,
        ai_len: prefix.len(),
        title,
        charset,
        min_len: 1,
        max_len: max,
        predefined: false,
        meaning: Meaning::Plain,
    }
}

const fn measure(prefix: &'static str, title: &'static str) -> AiSpec {
    AiSpec {
        prefix,
        ai_len: 4,
        title,
        charset: Charset::Numeric,
        min_len: 6,
        max_len: 6,
        predefined: true,
        meaning: Meaning::Decimal,
    }
}

use Charset::{Cset82 as X, Numeric as N};
use Meaning::{CheckDigit, Date, Plain};

const GTIN: Meaning = CheckDigit("GTIN");
const GLN: Meaning = CheckDigit("GLN");

/// Every AI this system reads.
pub static TABLE: &[AiSpec] = &[
    fixed("00", "SSCC", 18, true, CheckDigit("SSCC")),
    fixed("01", "GTIN", 14, true, GTIN),
    fixed("02", "content GTIN", 14, true, GTIN),
    var("10", "batch or lot", X, 20),
    fixed("11", "production date", 6, true, Date),
    fixed("12", "due date", 6, true, Date),
    fixed("13", "packaging date", 6, true, Date),
    fixed("15", "best-before date", 6, true, Date),
    fixed("16", "sell-by date", 6, true, Date),
    fixed("17", "expiry date", 6, true, Date),
    fixed("20", "variant", 2, true, Plain),
    var("21", "serial number", X, 20),
    var("22", "consumer product variant", X, 20),
    var("240", "additional product id", X, 30),
    var("241", "customer part number", X, 30),
    var("30", "count", N, 8),
    measure("310", "net weight (kg)"),
    measure("311", "length (m)"),
    measure("312", "width (m)"),
    measure("313", "height (m)"),
    measure("314", "area (m²)"),
    measure("315", "net volume (l)"),
    measure("316", "net volume (m³)"),
    measure("330", "gross weight (kg)"),
    var("37", "count of trade items", N, 8),
    var("400", "order number", X, 30),
    fixed("410", "ship-to location", 13, true, GLN),
    fixed("411", "bill-to party", 13, true, GLN),
    fixed("412", "purchased-from party", 13, true, GLN),
    fixed("413", "ship-for location", 13, true, GLN),
    fixed("414", "location GLN", 13, true, GLN),
    fixed("415", "pay-to party", 13, true, GLN),
    fixed("416", "production or service location", 13, true, GLN),
    var("8020", "payment slip reference", X, 25),
    var("90", "mutually agreed data", X, 30),
    var("91", "company internal data", X, 90),
    var("92", "company internal data", X, 90),
    var("93", "company internal data", X, 90),
    var("94", "company internal data", X, 90),
    var("95", "company internal data", X, 90),
    var("96", "company internal data", X, 90),
    var("97", "company internal data", X, 90),
    var("98", "company internal data", X, 90),
    var("99", "company internal data", X, 90),
];

/// The spec of a complete AI (`"01"`, `"3103"`), or `None` when this system does not read it.
pub fn spec(ai: &str) -> Option<&'static AiSpec> {
    let bytes = ai.as_bytes();
    TABLE.iter().find(|s| {
        bytes.len() == s.ai_len
            && bytes.starts_with(s.prefix.as_bytes())
            && match s.meaning {
                // 310n: n is the number of decimals, 0 to 5.
                Meaning::Decimal => matches!(bytes.get(3), Some(b'0'..=b'5')),
                _ => true,
            }
    })
}

/// Finds the AI at the start of `digits`, trying 2, 3 and 4 digits (GS1 AIs are prefix-free).
/// Returns the AI's length and spec.
pub fn at_start(digits: &[u8]) -> Option<(usize, &'static AiSpec)> {
    (2..=4).find_map(|len| {
        let head = digits.get(..len)?;
        if !head.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let head = std::str::from_utf8(head).ok()?;
        spec(head).map(|s| (len, s))
    })
}

/// How many digits an AI starting with these two digits has in the GS1 system, so that an AI
/// this system does not read can still be named whole in a rejection.
pub fn gs1_ai_len(first_two: &[u8]) -> usize {
    match first_two {
        [b'2', b'3' | b'4' | b'5'] | [b'4', b'0'..=b'2'] | [b'7', b'1'] => 3,
        [b'3', b'1'..=b'6' | b'9'] | [b'4', b'3'] | [b'7', b'0' | b'2'] | [b'8', _] => 4,
        _ => 2,
    }
}

/// GS1 AI encodable character set 82: digits, letters and `!"%&'()*+,-./:;<=>?_`.
pub fn is_cset82(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!\"%&'()*+,-./:;<=>?_".contains(&b)
}

/// The GS1 mod-10 check digit for `digits` (all but the check digit itself).
/// Weights 3 and 1 alternate from the rightmost digit, which weighs 3.
pub fn check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d.wrapping_sub(b'0')) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_of_known_keys() {
        // GTIN-13 of GS1's own examples, GLN and SSCC.
        assert_eq!(check_digit(b"950600013435"), 2);
        assert_eq!(check_digit(b"0950600013435"), 2);
        assert_eq!(check_digit(b"950600000000"), 8);
        assert_eq!(check_digit(b"10614141234567890"), 8);
    }

    #[test]
    fn measures_take_0_to_5_decimals() {
        assert!(spec("3103").is_some());
        assert!(spec("3105").is_some());
        assert!(spec("3106").is_none());
        assert!(spec("310").is_none());
        assert!(spec("31030").is_none());
    }

    #[test]
    fn lookup_at_start_is_prefix_free() {
        assert_eq!(
            at_start(b"0109506").map(|(l, s)| (l, s.prefix)),
            Some((2, "01"))
        );
        assert_eq!(
            at_start(b"3103001250").map(|(l, s)| (l, s.prefix)),
            Some((4, "310"))
        );
        assert_eq!(
            at_start(b"4141234").map(|(l, s)| (l, s.prefix)),
            Some((3, "414"))
        );
        assert_eq!(
            at_start(b"8020AB").map(|(l, s)| (l, s.prefix)),
            Some((4, "8020"))
        );
        assert_eq!(at_start(b"7003"), None);
        assert_eq!(at_start(b"0"), None);
        assert_eq!(at_start(b"AB"), None);
    }

    #[test]
    fn table_has_no_ai_that_is_a_prefix_of_another() {
        for a in TABLE {
            for b in TABLE {
                if a != b {
                    assert!(
                        !(b.prefix.starts_with(a.prefix) && a.ai_len < b.ai_len),
                        "{} is a prefix of {}",
                        a.prefix,
                        b.prefix
                    );
                }
            }
        }
    }
}

//! GS1 element strings: reading the two forms they arrive in, checking every value, and writing
//! them back out.
//!
//! - The *element string* is what a GS1 barcode carries: `AI value AI value…`, with FNC1 after a
//!   variable-length value when another element follows. Scanners transmit that FNC1 as ASCII GS
//!   (0x1D), which is how it appears here: `0109506000134352` `10ABC123` GS `21XY`.
//! - The *bracketed* (human-readable) form puts each AI in parentheses:
//!   `(01)09506000134352(10)ABC123(21)XY`. A `(` inside a value is written `\(`, as in GS1's
//!   Barcode Syntax Engine.

use super::ai::{self, AiSpec, Charset, Meaning};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// ASCII group separator: how scanners transmit an FNC1 that separates two elements.
pub const GS: char = '\u{1d}';
const GS_BYTE: u8 = 0x1d;

/// One AI and its value, checked against the AI's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Element {
    pub ai: String,
    /// The value exactly as encoded (dates as `YYMMDD`, measures without a decimal point).
    pub value: String,
    /// For date AIs (11–17): the date meant. Day `00` reads as the last day of the month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// For measure AIs (310n–316n, 330n): the value with `n` decimals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimal: Option<Decimal>,
}

impl Element {
    /// Checks `value` against the format of `ai`, as the parser does.
    pub fn new(ai: &str, value: &str, current_year: i32) -> Result<Element, Gs1Error> {
        let spec = ai::spec(ai).ok_or_else(|| Gs1Error::UnknownAi { ai: ai.to_owned() })?;
        if !value.is_ascii() {
            return Err(bad_char(ai, spec, value));
        }
        if spec.is_fixed_length() && value.len() != spec.max_len {
            return Err(Gs1Error::WrongLength {
                ai: ai.to_owned(),
                title: spec.title,
                expected: spec.max_len,
                found: value.len(),
            });
        }
        validate(ai, spec, value, current_year)
    }
}

/// Why GS1 data could not be read. The text is what an operator or a plant engineer is shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    #[error("the code holds no GS1 data")]
    Empty,
    #[error("the code contains {ch}, which a GS1 code cannot carry")]
    NotAscii { ch: String },
    #[error("expected a GS1 application identifier (2 to 4 digits) at \"{found}\"")]
    NotAnAi { found: String },
    #[error("the code holds application identifier ({ai}), which this system does not read")]
    UnknownAi { ai: String },
    #[error("{title} ({ai}) is empty")]
    EmptyValue { ai: String, title: &'static str },
    #[error("{title} ({ai}) needs {expected} digits, found {found}")]
    WrongLength {
        ai: String,
        title: &'static str,
        expected: usize,
        found: usize,
    },
    #[error(
        "{title} ({ai}) is {found} characters long, at most {max} are allowed (is a separator missing?)"
    )]
    TooLong {
        ai: String,
        title: &'static str,
        max: usize,
        found: usize,
    },
    #[error("{title} ({ai}) must be digits only, found \"{value}\"")]
    NotDigits {
        ai: String,
        title: &'static str,
        value: String,
    },
    #[error("{title} ({ai}) contains {ch}, which a GS1 code cannot carry")]
    BadChar {
        ai: String,
        title: &'static str,
        ch: String,
    },
    #[error(
        "{key} ({ai}) {value} has a wrong check digit: expected {expected}, found {found} (misprinted or misread)"
    )]
    CheckDigit {
        ai: String,
        key: &'static str,
        value: String,
        expected: u8,
        found: u8,
    },
    #[error("{title} ({ai}) {value} is not a date: {why}")]
    BadDate {
        ai: String,
        title: &'static str,
        value: String,
        why: String,
    },
    #[error("({ai}) appears twice with different values, {first} and {second}")]
    Conflict {
        ai: String,
        first: String,
        second: String,
    },
    #[error("in the bracketed form, {0}")]
    Bracketed(String),
}

/// Reads an element string (FNC1 as GS). A leading GS (FNC1 in first position, as some scanners
/// send it) and a trailing one are ignored.
pub fn parse_element_string(data: &str, current_year: i32) -> Result<Vec<Element>, Gs1Error> {
    ascii_only(data)?;
    let bytes = data.as_bytes();
    let mut elements = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] == GS_BYTE {
            pos += 1;
            continue;
        }
        let rest = &bytes[pos..];
        let (ai_len, spec) = ai::at_start(rest).ok_or_else(|| not_an_ai(rest))?;
        let ai = &data[pos..pos + ai_len];
        let start = pos + ai_len;
        let next_gs = bytes[start..]
            .iter()
            .position(|&b| b == GS_BYTE)
            .map_or(bytes.len(), |i| start + i);
        let end = if spec.is_fixed_length() {
            let end = start + spec.max_len;
            if next_gs < end {
                return Err(Gs1Error::WrongLength {
                    ai: ai.to_owned(),
                    title: spec.title,
                    expected: spec.max_len,
                    found: next_gs - start,
                });
            }
            end
        } else {
            next_gs
        };
        let element = validate(ai, spec, &data[start..end], current_year)?;
        push_unique(&mut elements, element)?;
        pos = end;
    }
    if elements.is_empty() {
        return Err(Gs1Error::Empty);
    }
    Ok(elements)
}

/// Reads the bracketed form, `(01)09506000134352(10)ABC123`. Spaces around AIs and values are
/// ignored (GS1 values cannot contain spaces).
pub fn parse_bracketed(data: &str, current_year: i32) -> Result<Vec<Element>, Gs1Error> {
    ascii_only(data)?;
    let bytes = data.as_bytes();
    let mut elements = Vec::new();
    let mut pos = skip_spaces(bytes, 0);
    while pos < bytes.len() {
        if bytes[pos] != b'(' {
            return Err(Gs1Error::Bracketed(format!(
                "expected \"(\" before an application identifier at \"{}\"",
                excerpt(&bytes[pos..])
            )));
        }
        let close = bytes[pos..]
            .iter()
            .position(|&b| b == b')')
            .map(|i| pos + i)
            .ok_or_else(|| {
                Gs1Error::Bracketed(format!(
                    "\"(\" at \"{}\" is never closed with \")\"",
                    excerpt(&bytes[pos..])
                ))
            })?;
        let ai = data[pos + 1..close].trim_matches(' ');
        if !(2..=4).contains(&ai.len()) || !ai.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Gs1Error::NotAnAi {
                found: format!("({})", excerpt(ai.as_bytes())),
            });
        }
        let spec = ai::spec(ai).ok_or_else(|| Gs1Error::UnknownAi { ai: ai.to_owned() })?;
        // The value runs to the next unescaped "(".
        let mut value = String::new();
        let mut i = close + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if bytes.get(i + 1) == Some(&b'(') => {
                    value.push('(');
                    i += 2;
                }
                b'(' => break,
                b => {
                    value.push(char::from(b));
                    i += 1;
                }
            }
        }
        let value = value.trim_matches(' ');
        if spec.is_fixed_length() && value.len() != spec.max_len {
            return Err(Gs1Error::WrongLength {
                ai: ai.to_owned(),
                title: spec.title,
                expected: spec.max_len,
                found: value.len(),
            });
        }
        push_unique(&mut elements, validate(ai, spec, value, current_year)?)?;
        pos = i;
    }
    if elements.is_empty() {
        return Err(Gs1Error::Empty);
    }
    Ok(elements)
}

/// Reads GS1 data given either way: bracketed when it starts with `(`, else an element string.
pub fn parse_gs1_data(data: &str, current_year: i32) -> Result<Vec<Element>, Gs1Error> {
    if data.trim_start_matches(' ').starts_with('(') {
        parse_bracketed(data, current_year)
    } else {
        parse_element_string(data, current_year)
    }
}

/// Writes elements as an element string: a GS after each element that needs an FNC1
/// separator, except the last. The leading FNC1 is the symbology's business, not part of this.
pub fn to_element_string(elements: &[Element]) -> String {
    let mut out = String::new();
    for (i, e) in elements.iter().enumerate() {
        out.push_str(&e.ai);
        out.push_str(&e.value);
        let needs_separator = ai::spec(&e.ai).is_none_or(AiSpec::needs_separator);
        if needs_separator && i + 1 < elements.len() {
            out.push(GS);
        }
    }
    out
}

/// Writes elements in the bracketed, human-readable form.
pub fn to_bracketed(elements: &[Element]) -> String {
    let mut out = String::new();
    for e in elements {
        out.push('(');
        out.push_str(&e.ai);
        out.push(')');
        out.push_str(&e.value.replace('(', "\\("));
    }
    out
}

fn validate(
    ai: &str,
    spec: &'static AiSpec,
    value: &str,
    current_year: i32,
) -> Result<Element, Gs1Error> {
    let err_ai = || ai.to_owned();
    if value.is_empty() {
        return Err(Gs1Error::EmptyValue {
            ai: err_ai(),
            title: spec.title,
        });
    }
    if value.len() > spec.max_len {
        return Err(Gs1Error::TooLong {
            ai: err_ai(),
            title: spec.title,
            max: spec.max_len,
            found: value.len(),
        });
    }
    match spec.charset {
        Charset::Numeric if !value.bytes().all(|b| b.is_ascii_digit()) => {
            if value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Gs1Error::NotDigits {
                    ai: err_ai(),
                    title: spec.title,
                    value: value.to_owned(),
                });
            }
            return Err(bad_char(ai, spec, value));
        }
        Charset::Cset82 if !value.bytes().all(ai::is_cset82) => {
            return Err(bad_char(ai, spec, value));
        }
        _ => {}
    }
    let mut element = Element {
        ai: err_ai(),
        value: value.to_owned(),
        date: None,
        decimal: None,
    };
    let digits = value.as_bytes();
    match spec.meaning {
        Meaning::Plain => {}
        Meaning::CheckDigit(key) => {
            let (body, last) = digits.split_at(digits.len() - 1);
            let expected = ai::check_digit(body);
            let found = last[0] - b'0';
            if expected != found {
                return Err(Gs1Error::CheckDigit {
                    ai: err_ai(),
                    key,
                    value: value.to_owned(),
                    expected,
                    found,
                });
            }
        }
        Meaning::Date => {
            let date = gs1_date(digits, current_year).map_err(|why| Gs1Error::BadDate {
                ai: err_ai(),
                title: spec.title,
                value: value.to_owned(),
                why,
            })?;
            element.date = Some(date);
        }
        Meaning::Decimal => {
            // The spec lookup guarantees a fourth digit 0-5 and a value of six digits.
            let scale = ai.as_bytes().get(3).map_or(0, |d| u32::from(d - b'0'));
            let n = value.parse::<i64>().unwrap_or(0);
            element.decimal = Some(Decimal::new(n, scale));
        }
    }
    Ok(element)
}

/// `YYMMDD` as GS1 means it. The century is chosen as GS1 General Specifications 7.12 says: a
/// year 51–99 years ahead of `current_year` is taken from the previous century and one 50–99
/// years behind from the next. Day `00` means the last day of the month.
pub fn gs1_date(digits: &[u8], current_year: i32) -> Result<NaiveDate, String> {
    if digits.len() != 6 || !digits.iter().all(u8::is_ascii_digit) {
        return Err("a date is six digits, YYMMDD".to_owned());
    }
    let two = |i: usize| i32::from(digits[i] - b'0') * 10 + i32::from(digits[i + 1] - b'0');
    let (yy, mm, dd) = (two(0), two(2), two(4));
    let century = current_year.div_euclid(100) * 100;
    let diff = yy - current_year.rem_euclid(100);
    let year = if diff >= 51 {
        century - 100 + yy
    } else if diff <= -50 {
        century + 100 + yy
    } else {
        century + yy
    };
    if !(1..=12).contains(&mm) {
        return Err(format!("month {mm:02} does not exist"));
    }
    let month = mm as u32;
    let last_day = (28..=31)
        .rev()
        .find(|&d| NaiveDate::from_ymd_opt(year, month, d).is_some())
        .unwrap_or(28);
    let day = if dd == 0 { last_day } else { dd as u32 };
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
        format!("day {dd:02} does not exist in {year}-{mm:02}, which has {last_day} days")
    })
}

fn push_unique(elements: &mut Vec<Element>, element: Element) -> Result<(), Gs1Error> {
    match elements.iter().find(|e| e.ai == element.ai) {
        Some(e) if e.value == element.value => Ok(()),
        Some(e) => Err(Gs1Error::Conflict {
            ai: element.ai,
            first: e.value.clone(),
            second: element.value,
        }),
        None => {
            elements.push(element);
            Ok(())
        }
    }
}

fn ascii_only(data: &str) -> Result<(), Gs1Error> {
    match data.chars().find(|c| !c.is_ascii()) {
        Some(c) => Err(Gs1Error::NotAscii { ch: describe(c) }),
        None => Ok(()),
    }
}

fn bad_char(ai: &str, spec: &AiSpec, value: &str) -> Gs1Error {
    let ch = value
        .chars()
        .find(|&c| {
            !(c.is_ascii()
                && match spec.charset {
                    Charset::Numeric => c.is_ascii_digit(),
                    Charset::Cset82 => ai::is_cset82(c as u8),
                })
        })
        .unwrap_or('?');
    Gs1Error::BadChar {
        ai: ai.to_owned(),
        title: spec.title,
        ch: describe(ch),
    }
}

fn not_an_ai(rest: &[u8]) -> Gs1Error {
    match rest {
        [a, b, ..] if a.is_ascii_digit() && b.is_ascii_digit() => {
            let len = ai::gs1_ai_len(&rest[..2]);
            let ai: String = rest
                .iter()
                .take(len)
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| char::from(b))
                .collect();
            Gs1Error::UnknownAi { ai }
        }
        _ => Gs1Error::NotAnAi {
            found: excerpt(rest),
        },
    }
}

/// How a character is named in a rejection: `"#"`, `a space`, `control character 0x1E`, `"é"`.
pub(crate) fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        GS => "a group separator (GS)".to_owned(),
        c if c.is_control() => format!("control character 0x{:02X}", c as u32),
        c => format!("\"{c}\""),
    }
}

fn excerpt(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(12)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    if bytes.len() > 12 {
        format!("{shown}…")
    } else {
        shown
    }
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos) == Some(&b' ') {
        pos += 1;
    }
    pos
}

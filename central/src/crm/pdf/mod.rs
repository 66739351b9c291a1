//! Documents people send, as PDF, in Chinese or English (issue 16): the quotation
//! ([`quotation_pdf`]), the delivery note ([`delivery_note_pdf`]) and SSCC shipping labels
//! ([`sscc_label_zpl`], [`sscc_label_pdf`], with [`sscc`] making the code).
//!
//! Pure: plain data in, bytes out; the only I/O is reading a CJK font file once
//! ([`Fonts::load`], [`Fonts::system`]). The PDF is written by krilla (the typst authors'
//! crate): fonts embedded as subsets with a ToUnicode map, so the text of a document extracts
//! again (tests read every document back with `pdftotext`).
//!
//! - Any text prints or is dropped, never panics: control characters, bidirectional marks and
//!   zero-width characters are dropped, a character no font has prints as `?`, long texts wrap
//!   inside their cell, a long table flows onto further pages under its repeated header row.
//! - A document's size is bounded: at most [`MAX_LINES`] lines, texts of at most
//!   [`MAX_SHORT_TEXT`] (names, codes) or [`MAX_LONG_TEXT`] (addresses, descriptions, notes)
//!   characters; beyond, [`PdfError::TooLong`] or [`PdfError::TooManyLines`] names the field.
//! - Amounts print with two decimals and thousands separators, right-aligned
//!   ([`format_amount`]); quantities with the decimals they have ([`format_quantity`]).

mod delivery;
mod fonts;
mod layout;
mod quotation;
mod sscc;

pub use crate::people::users::Language;
pub use delivery::{DeliveryLine, DeliveryNoteDoc, delivery_note_pdf};
pub use fonts::{FontSource, Fonts, MAX_FONT_BYTES, SYSTEM_CJK_FONTS};
pub use quotation::{QuotationDoc, QuotationLine, quotation_pdf};
pub use sscc::{
    LabelFormat, SsccError, SsccLabel, check_sscc, sscc, sscc_label, sscc_label_pdf,
    sscc_label_zpl, sscc_labels_pdf,
};

use rust_decimal::{Decimal, RoundingStrategy};
use std::path::PathBuf;

/// Most lines a quotation or delivery note may have.
pub const MAX_LINES: usize = 2000;
/// Most characters of a name, number, code, unit or currency.
pub const MAX_SHORT_TEXT: usize = 300;
/// Most characters of an address, a line's description, payment terms or notes.
pub const MAX_LONG_TEXT: usize = 4000;

/// Why a document could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The document has Chinese text and there is no CJK font; the message says what to
    /// install or configure.
    #[error("cannot print Chinese: {0}")]
    NoCjkFont(String),
    /// The configured font file cannot be used.
    #[error("cannot use the font {path}: {reason}")]
    FontFile { path: PathBuf, reason: String },
    #[error("too many lines: {lines}, at most {max}")]
    TooManyLines { lines: usize, max: usize },
    #[error("{field} is too long: {chars} characters, at most {max}")]
    TooLong {
        field: String,
        chars: usize,
        max: usize,
    },
    #[error(transparent)]
    Sscc(#[from] SsccError),
    #[error("cannot write the PDF: {0}")]
    Render(String),
}

/// A party on a document: the seller, the customer, where goods go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    /// Lines separated by `\n`.
    pub address: String,
    /// Contact person, phone, e-mail: free text, lines separated by `\n`.
    pub contact: String,
}

impl Party {
    fn check(&self, field: &str) -> Result<(), PdfError> {
        check_len(&format!("{field}.name"), &self.name, MAX_SHORT_TEXT)?;
        check_len(&format!("{field}.address"), &self.address, MAX_LONG_TEXT)?;
        check_len(&format!("{field}.contact"), &self.contact, MAX_LONG_TEXT)
    }
}

fn check_len(field: &str, text: &str, max: usize) -> Result<(), PdfError> {
    let chars = text.chars().count();
    if chars > max {
        return Err(PdfError::TooLong {
            field: field.to_owned(),
            chars,
            max,
        });
    }
    Ok(())
}

fn check_lines(lines: usize) -> Result<(), PdfError> {
    if lines > MAX_LINES {
        return Err(PdfError::TooManyLines {
            lines,
            max: MAX_LINES,
        });
    }
    Ok(())
}

/// The text for `lang`.
fn tr(lang: Language, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Language::Zh => zh,
        Language::En => en,
    }
}

/// An amount with two decimals (half away from zero) and thousands separators:
/// `1234567.891` → `1,234,567.89`.
pub fn format_amount(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let rounded = if rounded.is_zero() {
        Decimal::ZERO
    } else {
        rounded
    };
    group_thousands(&format!("{rounded:.2}"))
}

/// A quantity or percentage with the decimals it has (trailing zeros dropped) and thousands
/// separators: `1500.250` → `1,500.25`.
pub fn format_quantity(value: Decimal) -> String {
    let value = value.normalize();
    let value = if value.is_zero() {
        Decimal::ZERO
    } else {
        value
    };
    group_thousands(&value.to_string())
}

fn group_thousands(plain: &str) -> String {
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut out = String::with_capacity(plain.len() + plain.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A date as both languages print it on documents.
fn format_date(date: chrono::NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests;

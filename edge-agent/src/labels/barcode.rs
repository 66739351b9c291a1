//! Encoding data into barcode modules: Code 128, GS1-128, EAN-13, QR, GS1 QR and GS1
//! DataMatrix.

use super::LabelError;
use super::code128::{self, Token, Unit};
use protocol::barcode::{self as gs1, Element, LabelCode};
use qrcode::types::{EcLevel, Mode, Version};
use std::fmt;
use std::str::FromStr;

/// The symbologies this system prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbology {
    /// Code 128 with plain printable-ASCII text.
    Code128,
    /// Code 128 with FNC1 in first position, carrying a GS1 element string.
    Gs1128,
    /// EAN-13 (a GTIN-13).
    Ean13,
    /// QR with plain text.
    Qr,
    /// QR in FNC1-first-position mode, carrying a GS1 element string (FNC1 as GS in byte mode).
    Gs1Qr,
    /// Data Matrix (ECC 200, square) starting with FNC1, carrying a GS1 element string.
    Gs1DataMatrix,
}

impl Symbology {
    pub const ALL: [Symbology; 6] = [
        Symbology::Code128,
        Symbology::Gs1128,
        Symbology::Ean13,
        Symbology::Qr,
        Symbology::Gs1Qr,
        Symbology::Gs1DataMatrix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Symbology::Code128 => "code128",
            Symbology::Gs1128 => "gs1-128",
            Symbology::Ean13 => "ean-13",
            Symbology::Qr => "qr",
            Symbology::Gs1Qr => "gs1-qr",
            Symbology::Gs1DataMatrix => "gs1-datamatrix",
        }
    }

    pub fn is_linear(self) -> bool {
        matches!(
            self,
            Symbology::Code128 | Symbology::Gs1128 | Symbology::Ean13
        )
    }

    /// Whether it carries GS1 element strings (and so this system's label codes).
    pub fn is_gs1(self) -> bool {
        matches!(
            self,
            Symbology::Gs1128 | Symbology::Gs1Qr | Symbology::Gs1DataMatrix
        )
    }

    /// The quiet zone each side, in modules.
    pub fn quiet_zone(self) -> u32 {
        match self {
            Symbology::Code128 | Symbology::Gs1128 => 10,
            Symbology::Ean13 => 11,
            Symbology::Qr | Symbology::Gs1Qr => 4,
            // ISO/IEC 16022 asks for one module; two leave room for a thermal head's bleed.
            Symbology::Gs1DataMatrix => 2,
        }
    }
}

impl fmt::Display for Symbology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Symbology {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.to_ascii_lowercase().replace('_', "-");
        let wanted = match wanted.as_str() {
            "code-128" => "code128",
            "gs1128" => "gs1-128",
            "ean13" => "ean-13",
            "gs1qr" => "gs1-qr",
            "gs1datamatrix" | "gs1-data-matrix" | "gs1-dm" => "gs1-datamatrix",
            other => other,
        };
        Symbology::ALL
            .into_iter()
            .find(|s| s.name() == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown symbology {s:?}; expected code128, gs1-128, ean-13, qr, gs1-qr or gs1-datamatrix"
                )
            })
    }
}

/// From its name in a configuration file (`label = "gs1-datamatrix"`), as [`FromStr`] reads it.
impl<'de> serde::Deserialize<'de> for Symbology {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The dark and light modules of a symbol, quiet zone not included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modules {
    /// Bars and spaces left to right; `true` is a bar.
    Linear(Vec<bool>),
    /// A square, row by row; `true` is dark.
    Matrix { size: usize, dark: Vec<bool> },
}

impl Modules {
    /// Width and height in modules (a linear symbol is one module high here).
    pub fn dimensions(&self) -> (usize, usize) {
        match self {
            Modules::Linear(bars) => (bars.len(), 1),
            Modules::Matrix { size, .. } => (*size, *size),
        }
    }

    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        match self {
            Modules::Linear(bars) => bars.get(x).copied().unwrap_or(false),
            Modules::Matrix { size, dark } => {
                x < *size && dark.get(y * size + x).copied().unwrap_or(false)
            }
        }
    }
}

/// How the printer is told to draw the symbol in ZPL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZplData {
    /// `^BC` field data with invocation codes.
    Code128(String),
    /// `^BE` field data: the 12 digits (the printer adds the check digit).
    Ean13(String),
    /// `^BQ` field data after the `MA,` prefix.
    Qr(String),
    /// Sent as a bitmap (`^GF`): GS1 QR, whose FNC1 mode `^BQ` does not reliably produce.
    Bitmap,
    /// `^BX` (quality 200) field data of GS1 DataMatrix with `_` as the escape character: FNC1
    /// first and as each separator as `_1`, a `_` of the data as `__`. Then the symbol's size in
    /// modules, which `^BX` is told so the printer draws the size the layout made room for.
    DataMatrix { data: String, size: usize },
}

/// An encoded barcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Barcode {
    pub symbology: Symbology,
    /// What a scanner reading it transmits after the symbology identifier: for GS1 the element
    /// string with GS as FNC1 separators, for EAN-13 the 13 digits, else the text.
    pub data: String,
    /// The human-readable line: the bracketed form for GS1, the digits for EAN-13.
    pub text: String,
    pub modules: Modules,
    pub(crate) zpl: ZplData,
}

/// GS1-128 holds at most 48 data characters, AIs and FNC1 separators included (GS1 General
/// Specifications 5.4.1).
pub const GS1_128_MAX_CHARS: usize = 48;

impl Barcode {
    /// Encodes `data` as `symbology` says: text for code128 and qr, 12 or 13 digits for ean-13,
    /// GS1 data (bracketed, or an element string with GS) for gs1-128, gs1-qr and gs1-datamatrix.
    /// `current_year` places GS1 dates in their century, for checking them.
    pub fn new(symbology: Symbology, data: &str, current_year: i32) -> Result<Barcode, LabelError> {
        match symbology {
            Symbology::Code128 => Barcode::code128(data),
            Symbology::Ean13 => Barcode::ean13(data),
            Symbology::Qr => Barcode::qr(data),
            Symbology::Gs1128 | Symbology::Gs1Qr | Symbology::Gs1DataMatrix => {
                let elements = gs1::parse_gs1_data(data, current_year)?;
                Barcode::gs1(symbology, &elements)
            }
        }
    }

    /// One of this system's label codes, in GS1-128, GS1 QR or GS1 DataMatrix.
    pub fn label_code(code: &LabelCode, symbology: Symbology) -> Result<Barcode, LabelError> {
        Barcode::gs1(symbology, &code.elements()?)
    }

    /// GS1 elements in GS1-128, GS1 QR or GS1 DataMatrix.
    pub fn gs1(symbology: Symbology, elements: &[Element]) -> Result<Barcode, LabelError> {
        let data = gs1::to_element_string(elements);
        let text = gs1::to_bracketed(elements);
        match symbology {
            Symbology::Gs1128 => {
                if data.len() > GS1_128_MAX_CHARS {
                    return Err(LabelError::TooLong(format!(
                        "{text} is {} characters as GS1-128, which holds at most {GS1_128_MAX_CHARS}; print it as gs1-qr",
                        data.len()
                    )));
                }
                let mut units = vec![Unit::Fnc1];
                units.extend(data.bytes().map(
                    |b| {
                        if b == 0x1d { Unit::Fnc1 } else { Unit::Char(b) }
                    },
                ));
                code128_barcode(Symbology::Gs1128, &units, data, text)
            }
            Symbology::Gs1Qr => {
                let dark = qr_symbol(data.as_bytes(), QrHeader::Fnc1)?;
                Ok(Barcode {
                    symbology,
                    data,
                    text,
                    modules: dark,
                    zpl: ZplData::Bitmap,
                })
            }
            Symbology::Gs1DataMatrix => {
                let (modules, size) = gs1_datamatrix(&data)?;
                let zpl = ZplData::DataMatrix {
                    data: datamatrix_zpl_data(&data),
                    size,
                };
                Ok(Barcode {
                    symbology,
                    data,
                    text,
                    modules,
                    zpl,
                })
            }
            other => Err(LabelError::Data(format!(
                "{other} does not carry GS1 data; use gs1-128, gs1-qr or gs1-datamatrix"
            ))),
        }
    }

    /// Plain Code 128 of printable ASCII text.
    pub fn code128(text: &str) -> Result<Barcode, LabelError> {
        if text.is_empty() {
            return Err(LabelError::Data(
                "nothing to encode: the text is empty".into(),
            ));
        }
        if let Some(c) = text.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ')) {
            return Err(LabelError::Data(format!(
                "Code 128 here takes printable ASCII only, and the text contains {c:?}"
            )));
        }
        let units: Vec<Unit> = text.bytes().map(Unit::Char).collect();
        code128_barcode(Symbology::Code128, &units, text.to_owned(), text.to_owned())
    }

    /// EAN-13 from 12 digits (the check digit is added) or 13 (the check digit is checked).
    pub fn ean13(digits: &str) -> Result<Barcode, LabelError> {
        if !matches!(digits.len(), 12 | 13) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LabelError::Data(format!(
                "EAN-13 takes 12 digits (or 13 with the check digit), not {digits:?}"
            )));
        }
        let body = &digits[..12];
        let check = gs1::ai::check_digit(body.as_bytes());
        if digits.len() == 13 && digits.as_bytes()[12] - b'0' != check {
            return Err(LabelError::Data(format!(
                "the check digit of {digits} is wrong: expected {check}"
            )));
        }
        let full = format!("{body}{check}");
        let ean = barcoders::sym::ean13::EAN13::new(&full)
            .map_err(|e| LabelError::Data(format!("EAN-13 {full}: {e}")))?;
        Ok(Barcode {
            symbology: Symbology::Ean13,
            data: full.clone(),
            text: full,
            modules: Modules::Linear(ean.encode().into_iter().map(|m| m == 1).collect()),
            zpl: ZplData::Ean13(body.to_owned()),
        })
    }

    /// Plain QR of text, error correction level M. Text beyond ASCII is marked UTF-8 with an
    /// ECI designator (26), so readers do not guess another encoding.
    pub fn qr(text: &str) -> Result<Barcode, LabelError> {
        if text.is_empty() {
            return Err(LabelError::Data(
                "nothing to encode: the text is empty".into(),
            ));
        }
        let header = if text.is_ascii() {
            QrHeader::None
        } else {
            QrHeader::Utf8
        };
        Ok(Barcode {
            symbology: Symbology::Qr,
            data: text.to_owned(),
            text: text.to_owned(),
            modules: qr_symbol(text.as_bytes(), header)?,
            zpl: ZplData::Qr(text.to_owned()),
        })
    }
}

fn code128_barcode(
    symbology: Symbology,
    units: &[Unit],
    data: String,
    text: String,
) -> Result<Barcode, LabelError> {
    let tokens: Vec<Token> = code128::plan(units);
    let symbol = barcoders::sym::code128::Code128::new(code128::to_barcoders(&tokens))
        .map_err(|e| LabelError::Data(format!("Code 128 of {text:?}: {e}")))?;
    let mut bars: Vec<bool> = symbol.encode().into_iter().map(|m| m == 1).collect();
    // The symbol ends on a bar; barcoders pads nothing after it.
    while bars.last() == Some(&false) {
        bars.pop();
    }
    Ok(Barcode {
        symbology,
        data,
        text,
        modules: Modules::Linear(bars),
        zpl: ZplData::Code128(code128::to_zpl(&tokens)),
    })
}

/// What precedes the data in a QR symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QrHeader {
    None,
    /// ECI 26: the bytes are UTF-8.
    Utf8,
    /// FNC1 in first position: GS1 QR.
    Fnc1,
}

/// A QR symbol, level M, in the smallest version that fits. Under FNC1 (GS1 QR) no
/// alphanumeric segment is used: there `%` would mean FNC1, while in byte mode GS is the FNC1
/// separator and `%` is itself. Numeric runs still go in numeric mode.
fn qr_symbol(data: &[u8], header: QrHeader) -> Result<Modules, LabelError> {
    for v in 1..=40 {
        let version = Version::Normal(v);
        let mut bits = qrcode::bits::Bits::new(version);
        let segments = qrcode::optimize::Parser::new(data)
            .optimize(version)
            .map(|mut s| {
                if header == QrHeader::Fnc1 && s.mode == Mode::Alphanumeric {
                    s.mode = Mode::Byte;
                }
                s
            });
        let header_fits = match header {
            QrHeader::None => true,
            QrHeader::Utf8 => bits.push_eci_designator(26).is_ok(),
            QrHeader::Fnc1 => bits.push_fnc1_first_position().is_ok(),
        };
        let fits = header_fits
            && bits.push_segments(data, segments).is_ok()
            && bits.push_terminator(EcLevel::M).is_ok();
        if fits {
            let code = qrcode::QrCode::with_bits(bits, EcLevel::M)
                .map_err(|e| LabelError::TooLong(format!("QR code: {e}")))?;
            return Ok(matrix(&code));
        }
    }
    Err(LabelError::TooLong(format!(
        "{} bytes do not fit a QR code",
        data.len()
    )))
}

/// A square GS1 DataMatrix (ECC 200) of a GS1 element string, in the smallest size that fits:
/// FNC1 first, then the data as the `datamatrix` crate's optimising encoder plans it. The
/// separators after variable-length elements go in as GS (ASCII 29), which the GS1 General
/// Specifications allow in GS1 DataMatrix beside FNC1, and which readers transmit as the same
/// GS. Only square sizes: ZPL's `^BX` draws no rectangular ones.
fn gs1_datamatrix(element_string: &str) -> Result<(Modules, usize), LabelError> {
    let symbols = datamatrix::SymbolList::default().enforce_square();
    let code =
        datamatrix::DataMatrix::encode_gs1(element_string.as_bytes(), symbols).map_err(|e| {
            LabelError::TooLong(format!(
                "{} characters do not fit a GS1 DataMatrix: {e:?}",
                element_string.len()
            ))
        })?;
    let bitmap = code.bitmap();
    let size = bitmap.width();
    if bitmap.height() != size {
        return Err(LabelError::Render(format!(
            "the DataMatrix encoder made a {size}×{} symbol where a square was asked for",
            bitmap.height()
        )));
    }
    let mut dark = vec![false; size * size];
    for (x, y) in bitmap.pixels() {
        dark[y * size + x] = true;
    }
    Ok((Modules::Matrix { size, dark }, size))
}

/// `^BX` field data for a GS1 element string, `_` being the escape character: `_1` (FNC1) first
/// and for each GS separator, `__` for an underscore of the data. GS1 data holds only character
/// set 82 and GS, so neither `^` nor `~` (which ZPL would take as commands) can occur.
fn datamatrix_zpl_data(element_string: &str) -> String {
    let mut out = String::with_capacity(element_string.len() + 4);
    out.push_str("_1");
    for c in element_string.chars() {
        match c {
            '\u{1d}' => out.push_str("_1"),
            '_' => out.push_str("__"),
            c => out.push(c),
        }
    }
    out
}

fn matrix(code: &qrcode::QrCode) -> Modules {
    Modules::Matrix {
        size: code.width(),
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbology_names_round_trip() {
        for s in Symbology::ALL {
            assert_eq!(s.name().parse::<Symbology>(), Ok(s));
        }
        assert_eq!("GS1_128".parse::<Symbology>(), Ok(Symbology::Gs1128));
        assert_eq!(
            "GS1_DataMatrix".parse::<Symbology>(),
            Ok(Symbology::Gs1DataMatrix)
        );
        assert!("pdf417".parse::<Symbology>().is_err());
    }

    #[test]
    fn gs1_datamatrix_data_text_and_zpl() {
        let b = Barcode::new(
            Symbology::Gs1DataMatrix,
            "(01)09506000134352(10)AB_12(17)201225",
            2026,
        )
        .unwrap();
        assert_eq!(b.data, "010950600013435210AB_12\u{1d}17201225");
        assert_eq!(b.text, "(01)09506000134352(10)AB_12(17)201225");
        let Modules::Matrix { size, ref dark } = b.modules else {
            panic!("{:?}", b.modules)
        };
        // ECC 200 squares are even-sized; the L finder runs down the left and along the bottom.
        assert_eq!(size % 2, 0);
        assert!((0..size).all(|y| dark[y * size]));
        assert!((0..size).all(|x| dark[(size - 1) * size + x]));
        assert_eq!(
            b.zpl,
            ZplData::DataMatrix {
                data: "_1010950600013435210AB__12_117201225".into(),
                size
            }
        );
    }

    #[test]
    fn gs1_128_data_and_text() {
        let b = Barcode::new(
            Symbology::Gs1128,
            "(01)09506000134352(10)ABC123(17)201225",
            2026,
        )
        .unwrap();
        // No FNC1 after the predefined-length GTIN; one after the lot.
        assert_eq!(b.data, "010950600013435210ABC123\u{1d}17201225");
        assert_eq!(b.text, "(01)09506000134352(10)ABC123(17)201225");
        let ZplData::Code128(zpl) = &b.zpl else {
            panic!("{:?}", b.zpl)
        };
        assert_eq!(zpl, ">;>8010950600013435210>6ABC123>8>517201225");
    }

    #[test]
    fn refusals_say_why() {
        let err = |s, d: &str| Barcode::new(s, d, 2026).unwrap_err().to_string();
        assert_eq!(
            err(Symbology::Gs1128, "(01)09506000134353"),
            "GTIN (01) 09506000134353 has a wrong check digit: expected 2, found 3 (misprinted or misread)"
        );
        assert_eq!(
            err(Symbology::Ean13, "9506000134353"),
            "the check digit of 9506000134353 is wrong: expected 2"
        );
        assert!(err(Symbology::Code128, "é").contains("printable ASCII"));
        assert!(
            err(
                Symbology::Gs1128,
                "(92)HOUSING-ASSEMBLY-LEFT(93)FL-000123456(94)480pcs(91)WO-24-0042"
            )
            .contains("print it as gs1-qr")
        );
    }

    #[test]
    fn ean13_has_95_modules() {
        let b = Barcode::ean13("950600013435").unwrap();
        assert_eq!(b.data, "9506000134352");
        assert_eq!(b.modules.dimensions(), (95, 1));
    }
}

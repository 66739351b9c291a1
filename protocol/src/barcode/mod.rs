//! Understanding what a scanner read: GS1 codes and this system's own label codes.
//!
//! [`parse`] turns the text a scanner sends into a [`Reading`]: GS1 data with every value
//! checked (check digits, dates, decimals), one of this system's label codes
//! ([`LabelCode`], format in [`label_code`]), or a rejection whose reason an operator can act on.
//! It never panics and does no I/O; the caller says what year it is, because GS1 dates carry
//! only two digits of the year.
//!
//! What a scan may look like:
//!
//! - With a symbology identifier, as scanners configured for it send: `]C1` GS1-128, `]d2` GS1
//!   DataMatrix, `]Q3` GS1 QR, `]e0` GS1 DataBar (GS1 element strings with FNC1 as ASCII GS),
//!   `]E0` EAN-13 / UPC-A and `]E4` EAN-8 (a GTIN), `]C0` Code 128, `]Q1` QR and `]d1`
//!   DataMatrix (plain text, read only if it is GS1 data in the bracketed form or with GS
//!   separators).
//! - Without one: the bracketed form `(01)09506000134352(17)201225`; 8, 12 or 13 digits with a
//!   valid check digit (an EAN/UPC scanned without identifier); or an element string with GS
//!   separators, as a GS1-128 arrives from a scanner that drops the identifier.
//!
//! **Architecture Invariant:** this module is pure: no I/O, no clock, no panics on any input.

pub mod ai;
pub mod element;
pub mod label_code;

#[cfg(test)]
mod tests;

pub use element::{
    Element, GS, Gs1Error, parse_bracketed, parse_element_string, parse_gs1_data, to_bracketed,
    to_element_string,
};
pub use label_code::{LabelCode, LabelCodeError, MaterialLotCode};

use crate::ids::{ItemId, LocationId, LotId, OperatorId, SalesOrderId, StationId, WorkOrderId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The barcode symbology a scan came from, as its symbology identifier tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Symbology {
    #[serde(rename = "gs1-128")]
    Gs1128,
    #[serde(rename = "gs1-datamatrix")]
    Gs1DataMatrix,
    #[serde(rename = "gs1-qr")]
    Gs1Qr,
    #[serde(rename = "gs1-databar")]
    Gs1DataBar,
    #[serde(rename = "ean-13")]
    Ean13,
    #[serde(rename = "ean-8")]
    Ean8,
    #[serde(rename = "code128")]
    Code128,
    #[serde(rename = "datamatrix")]
    DataMatrix,
    #[serde(rename = "qr")]
    Qr,
}

impl Symbology {
    /// Reads an ISO/IEC 15424 symbology identifier (`]C1`).
    pub fn from_identifier(id: &str) -> Option<Symbology> {
        Some(match id {
            "]C1" => Symbology::Gs1128,
            "]d2" => Symbology::Gs1DataMatrix,
            "]Q3" => Symbology::Gs1Qr,
            "]e0" => Symbology::Gs1DataBar,
            "]E0" => Symbology::Ean13,
            "]E4" => Symbology::Ean8,
            "]C0" => Symbology::Code128,
            "]d1" => Symbology::DataMatrix,
            "]Q0" | "]Q1" => Symbology::Qr,
            _ => return None,
        })
    }

    /// The symbology identifier a scanner sends for it.
    pub fn identifier(self) -> &'static str {
        match self {
            Symbology::Gs1128 => "]C1",
            Symbology::Gs1DataMatrix => "]d2",
            Symbology::Gs1Qr => "]Q3",
            Symbology::Gs1DataBar => "]e0",
            Symbology::Ean13 => "]E0",
            Symbology::Ean8 => "]E4",
            Symbology::Code128 => "]C0",
            Symbology::DataMatrix => "]d1",
            Symbology::Qr => "]Q1",
        }
    }

    /// How an operator calls it.
    pub fn title(self) -> &'static str {
        match self {
            Symbology::Gs1128 => "GS1-128",
            Symbology::Gs1DataMatrix => "GS1 DataMatrix",
            Symbology::Gs1Qr => "GS1 QR",
            Symbology::Gs1DataBar => "GS1 DataBar",
            Symbology::Ean13 => "EAN-13",
            Symbology::Ean8 => "EAN-8",
            Symbology::Code128 => "Code 128",
            Symbology::DataMatrix => "DataMatrix",
            Symbology::Qr => "QR",
        }
    }

    /// True for the symbologies whose data is a GS1 element string (FNC1 in first position).
    pub fn carries_element_string(self) -> bool {
        matches!(
            self,
            Symbology::Gs1128 | Symbology::Gs1DataMatrix | Symbology::Gs1Qr | Symbology::Gs1DataBar
        )
    }
}

/// What a scan means. Its JSON is what `mes barcode parse` prints:
///
/// ```json
/// {"kind":"gs1","symbology":"gs1-128","elements":[{"ai":"01","value":"09506000134352"}]}
/// {"kind":"material_lot","symbology":"gs1-qr","item":"RESIN-PP","lot":"L2406-0117","qty":"25","uom":"kg"}
/// {"kind":"rejected","reason":"..."}
/// ```
///
/// Label kinds are `work_order`, `material_lot`, `location`, `operator` and `station`.
/// `symbology` is there only when a symbology identifier said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ReadingJson", from = "ReadingJson")]
pub enum Reading {
    /// GS1 data that is not one of our labels (a supplier's trade item or pallet label).
    Gs1 {
        symbology: Option<Symbology>,
        elements: Vec<Element>,
    },
    /// One of this system's own label codes.
    Label {
        symbology: Option<Symbology>,
        code: LabelCode,
    },
    /// Not understood; `reason` is shown to the operator.
    Rejected { reason: String },
}

impl Reading {
    pub fn is_rejected(&self) -> bool {
        matches!(self, Reading::Rejected { .. })
    }

    pub fn symbology(&self) -> Option<Symbology> {
        match self {
            Reading::Gs1 { symbology, .. } | Reading::Label { symbology, .. } => *symbology,
            Reading::Rejected { .. } => None,
        }
    }

    /// The element with this AI, for GS1 readings.
    pub fn element(&self, ai: &str) -> Option<&Element> {
        match self {
            Reading::Gs1 { elements, .. } => elements.iter().find(|e| e.ai == ai),
            _ => None,
        }
    }
}

/// Reads one scan. `current_year` (e.g. 2026) places GS1's two-digit years in a century.
/// Surrounding spaces, CR and LF are ignored; anything else is part of the code.
pub fn parse(raw: &str, current_year: i32) -> Reading {
    match read(raw, current_year) {
        Ok(reading) => reading,
        Err(reason) => Reading::Rejected { reason },
    }
}

fn read(raw: &str, current_year: i32) -> Result<Reading, String> {
    let code = raw.trim_matches(|c| matches!(c, ' ' | '\r' | '\n' | '\t'));
    if code.is_empty() {
        return Err("nothing was scanned: the code is empty".to_owned());
    }
    if code.starts_with(']') {
        let Some(id) = code.get(..3) else {
            return Err(
                "the scan starts with \"]\" but has no complete symbology identifier".to_owned(),
            );
        };
        let symbology = Symbology::from_identifier(id).ok_or_else(|| {
            format!(
                "the scanner reports symbology {}, which this system does not read; \
                 it reads GS1-128, GS1 DataMatrix, GS1 QR, GS1 DataBar, EAN, Code 128, QR and DataMatrix",
                quoted(id)
            )
        })?;
        return read_symbol(symbology, &code[3..], current_year);
    }
    read_unidentified(code, current_year)
}

fn read_symbol(symbology: Symbology, data: &str, year: i32) -> Result<Reading, String> {
    let title = symbology.title();
    if data.is_empty() {
        return Err(format!("the {title} code is empty"));
    }
    let some = Some(symbology);
    match symbology {
        s if s.carries_element_string() => classify(some, gs1(parse_element_string(data, year))?),
        Symbology::Ean13 => gtin(some, data, 13, year),
        Symbology::Ean8 => gtin(some, data, 8, year),
        _ if data.starts_with('(') => classify(some, gs1(parse_bracketed(data, year))?),
        _ if data.contains(GS) => classify(some, gs1(parse_element_string(data, year))?),
        _ => Err(format!(
            "this {title} code is neither GS1 data nor a label of this system: {}",
            quoted(data)
        )),
    }
}

fn read_unidentified(code: &str, year: i32) -> Result<Reading, String> {
    if code.starts_with('(') {
        return classify(None, gs1(parse_bracketed(code, year))?);
    }
    let all_digits = code.bytes().all(|b| b.is_ascii_digit());
    if all_digits && matches!(code.len(), 8 | 12 | 13) {
        let (body, last) = code.as_bytes().split_at(code.len() - 1);
        if ai::check_digit(body) == last[0] - b'0' {
            return gtin(None, code, code.len(), year);
        }
    }
    match parse_element_string(code, year) {
        Ok(elements) => classify(None, elements),
        // Digits first: meant as GS1 data, so the GS1 reason helps most.
        Err(e) if code.as_bytes()[0].is_ascii_digit() || code.starts_with(GS) => Err(e.to_string()),
        Err(_) => Err(format!(
            "not a code this system knows: {} is neither a GS1 code nor a label this system printed",
            quoted(code)
        )),
    }
}

/// EAN-13, UPC-A (as 13 digits) or EAN-8: a GTIN, read as GS1 element (01).
fn gtin(
    symbology: Option<Symbology>,
    data: &str,
    len: usize,
    year: i32,
) -> Result<Reading, String> {
    if data.len() != len || !data.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "an {} code holds {len} digits, this one holds {}",
            if len == 8 { "EAN-8" } else { "EAN-13" },
            quoted(data)
        ));
    }
    let gtin14 = format!("{data:0>14}");
    let element = Element::new("01", &gtin14, year).map_err(|e| e.to_string())?;
    Ok(Reading::Gs1 {
        symbology,
        elements: vec![element],
    })
}

fn classify(symbology: Option<Symbology>, elements: Vec<Element>) -> Result<Reading, String> {
    match LabelCode::from_elements(&elements) {
        Some(Ok(code)) => Ok(Reading::Label { symbology, code }),
        Some(Err(reason)) => Err(reason),
        None => Ok(Reading::Gs1 {
            symbology,
            elements,
        }),
    }
}

fn gs1(result: Result<Vec<Element>, Gs1Error>) -> Result<Vec<Element>, String> {
    result.map_err(|e| e.to_string())
}

/// A code quoted for a reason: at most 24 characters, control characters shown as `?`.
fn quoted(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(24)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 24 {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// The flat JSON shape of [`Reading`]: label kinds at the top level next to `gs1`/`rejected`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ReadingJson {
    Gs1 {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbology: Option<Symbology>,
        elements: Vec<Element>,
    },
    WorkOrder {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbology: Option<Symbology>,
        work_order: WorkOrderId,
    },
    MaterialLot {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbology: Option<Symbology>,
        item: ItemId,
        lot: LotId,
        qty: Decimal,
        uom: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        work_order: Option<WorkOrderId>,
    },
    Location {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbology: Option<Symbology>,
        location: LocationId,
    },
    Operator {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbology: Option<Symbology>,
        operator: OperatorId,
    },
    Station {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbology: Option<Symbology>,
        station: StationId,
    },
    SalesOrder {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbology: Option<Symbology>,
        order: SalesOrderId,
    },
    Rejected {
        reason: String,
    },
}

impl From<Reading> for ReadingJson {
    fn from(r: Reading) -> Self {
        match r {
            Reading::Gs1 {
                symbology,
                elements,
            } => ReadingJson::Gs1 {
                symbology,
                elements,
            },
            Reading::Rejected { reason } => ReadingJson::Rejected { reason },
            Reading::Label { symbology, code } => match code {
                LabelCode::WorkOrder(work_order) => ReadingJson::WorkOrder {
                    symbology,
                    work_order,
                },
                LabelCode::MaterialLot(m) => ReadingJson::MaterialLot {
                    symbology,
                    item: m.item,
                    lot: m.lot,
                    qty: m.qty,
                    uom: m.uom,
                    work_order: m.work_order,
                },
                LabelCode::Location(location) => ReadingJson::Location {
                    symbology,
                    location,
                },
                LabelCode::Operator(operator) => ReadingJson::Operator {
                    symbology,
                    operator,
                },
                LabelCode::Station(station) => ReadingJson::Station { symbology, station },
                LabelCode::SalesOrder(order) => ReadingJson::SalesOrder { symbology, order },
            },
        }
    }
}

impl From<ReadingJson> for Reading {
    fn from(r: ReadingJson) -> Self {
        let label = |symbology, code| Reading::Label { symbology, code };
        match r {
            ReadingJson::Gs1 {
                symbology,
                elements,
            } => Reading::Gs1 {
                symbology,
                elements,
            },
            ReadingJson::Rejected { reason } => Reading::Rejected { reason },
            ReadingJson::WorkOrder {
                symbology,
                work_order,
            } => label(symbology, LabelCode::WorkOrder(work_order)),
            ReadingJson::MaterialLot {
                symbology,
                item,
                lot,
                qty,
                uom,
                work_order,
            } => label(
                symbology,
                LabelCode::MaterialLot(MaterialLotCode {
                    item,
                    lot,
                    qty,
                    uom,
                    work_order,
                }),
            ),
            ReadingJson::Location {
                symbology,
                location,
            } => label(symbology, LabelCode::Location(location)),
            ReadingJson::Operator {
                symbology,
                operator,
            } => label(symbology, LabelCode::Operator(operator)),
            ReadingJson::Station { symbology, station } => {
                label(symbology, LabelCode::Station(station))
            }
            ReadingJson::SalesOrder { symbology, order } => {
                label(symbology, LabelCode::SalesOrder(order))
            }
        }
    }
}

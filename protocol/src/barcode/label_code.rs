//! The codes on the labels this system prints: work orders, material lots, locations, operator
//! badges, stations and sales orders.
//!
//! # Label code format, version 1
//!
//! Every label code is a GS1 element string made only of GS1's company-internal application
//! identifiers (AIs 91–98). Any GS1 scanner reads it, it travels in GS1-128 and GS1 QR alike,
//! and it cannot be mistaken for a supplier's GS1 code, which carries a GTIN (01) or an SSCC (00).
//!
//! | AI | field | value |
//! | --- | --- | --- |
//! | 91 | work order | the work order number |
//! | 92 | item | the item number |
//! | 93 | lot | the lot or batch number |
//! | 94 | quantity | a decimal number (`.` as the point, no sign) followed by the unit: `25kg`, `480pcs`, `12.5m2` |
//! | 95 | location | the location code |
//! | 96 | operator badge | the badge number |
//! | 97 | station | the station code |
//! | 98 | sales order | the sales order number (`SO000001`), on its picking list |
//!
//! The AIs a code holds tell its kind:
//!
//! | kind | AIs |
//! | --- | --- |
//! | material lot | 92, 93 and 94; and 91 on a finished-lot label (the work order that made the lot) |
//! | work order | 91 alone |
//! | location | 95 alone |
//! | operator badge | 96 alone |
//! | station | 97 alone |
//! | sales order | 98 alone |
//!
//! Values use GS1's character set 82: letters, digits and `!"%&'()*+,-./:;<=>?_`, no spaces and
//! nothing outside ASCII; at most 90 characters each. All of them are variable length, so an
//! FNC1 (transmitted as GS) ends each value that another element follows. The order of the
//! elements does not matter. GS1-128 holds at most 48 characters, AIs and separators included;
//! longer codes go into GS1 QR.
//!
//! Examples, in the bracketed form printed under the barcode:
//!
//! ```text
//! (91)WO-24-0042                                      work order
//! (92)RESIN-PP(93)L2406-0117(94)25kg                  material lot
//! (92)HOUSING-A(93)FL-000123(94)480pcs(91)WO-24-0042  finished lot of WO-24-0042
//! (95)RACK-A-01-02                                    location
//! (96)10442                                           operator badge
//! (97)L1-PRESS-3                                      station
//! (98)SO000001                                        sales order (shipping at a dock)
//! ```
//!
//! A code made only of AIs 91–98 that fits none of these shapes is refused with the reason. A
//! code that holds any other AI as well is read as GS1 data; any 91–99 in it are then another
//! company's internal data, not ours.

use super::ai;
use super::element::Element;
use crate::ids::{ItemId, LocationId, LotId, OperatorId, SalesOrderId, StationId, WorkOrderId};
use rust_decimal::Decimal;

/// The AIs of the label code format.
pub mod ais {
    pub const WORK_ORDER: &str = "91";
    pub const ITEM: &str = "92";
    pub const LOT: &str = "93";
    pub const QUANTITY: &str = "94";
    pub const LOCATION: &str = "95";
    pub const OPERATOR: &str = "96";
    pub const STATION: &str = "97";
    pub const SALES_ORDER: &str = "98";
}

/// The longest value one label code field may have (GS1 AIs 91–99 are X..90).
pub const MAX_FIELD_LEN: usize = 90;

/// What a label of this system identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelCode {
    WorkOrder(WorkOrderId),
    MaterialLot(MaterialLotCode),
    Location(LocationId),
    Operator(OperatorId),
    Station(StationId),
    /// A sales order's picking label: starts shipping it at a dock station.
    SalesOrder(SalesOrderId),
}

/// A lot of material (or a finished lot) with what it is and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialLotCode {
    pub item: ItemId,
    pub lot: LotId,
    pub qty: Decimal,
    pub uom: String,
    /// On finished-lot labels: the work order that produced the lot.
    pub work_order: Option<WorkOrderId>,
}

/// Why a label code cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} \"{value}\" cannot go on a label: {why}")]
pub struct LabelCodeError {
    pub field: &'static str,
    pub value: String,
    pub why: String,
}

impl LabelCode {
    /// The element string's elements, in the order the format lists them.
    pub fn elements(&self) -> Result<Vec<Element>, LabelCodeError> {
        let elements = self.gs1_elements()?;
        self.check_bounds()?;
        Ok(elements)
    }

    /// [`elements`](Self::elements) as GS1 allows them, before this system's bounds.
    fn gs1_elements(&self) -> Result<Vec<Element>, LabelCodeError> {
        match self {
            LabelCode::WorkOrder(wo) => Ok(vec![element(ais::WORK_ORDER, "work order", &wo.0)?]),
            LabelCode::Location(l) => Ok(vec![element(ais::LOCATION, "location", &l.0)?]),
            LabelCode::Operator(o) => Ok(vec![element(ais::OPERATOR, "operator badge", &o.0)?]),
            LabelCode::Station(s) => Ok(vec![element(ais::STATION, "station", &s.0)?]),
            LabelCode::SalesOrder(o) => Ok(vec![element(ais::SALES_ORDER, "sales order", &o.0)?]),
            LabelCode::MaterialLot(m) => {
                let qty = quantity_text(m.qty, &m.uom)?;
                let mut elements = vec![
                    element(ais::ITEM, "item", &m.item.0)?,
                    element(ais::LOT, "lot", &m.lot.0)?,
                    element(ais::QUANTITY, "quantity", &qty)?,
                ];
                if let Some(wo) = &m.work_order {
                    elements.push(element(ais::WORK_ORDER, "work order", &wo.0)?);
                }
                Ok(elements)
            }
        }
    }

    /// The element string a barcode carries (FNC1 separators as GS, no leading FNC1).
    pub fn element_string(&self) -> Result<String, LabelCodeError> {
        Ok(super::to_element_string(&self.elements()?))
    }

    /// The bracketed form printed under the barcode: `(91)WO-24-0042`.
    pub fn bracketed(&self) -> Result<String, LabelCodeError> {
        Ok(super::to_bracketed(&self.elements()?))
    }

    /// Reads a label code from parsed GS1 elements. `None`: the elements are not a label code of
    /// this system (they hold some AI outside 91–98). `Some(Err(reason))`: they are made of our
    /// AIs but fit no label kind.
    pub fn from_elements(elements: &[Element]) -> Option<Result<LabelCode, String>> {
        if elements.is_empty() || !elements.iter().all(|e| field_name(&e.ai).is_some()) {
            return None;
        }
        Some(read(elements).and_then(within_bounds))
    }
}

impl LabelCode {
    /// What a reader refuses ([`within_bounds`]) is not written either: a label printed must
    /// scan back (an id over 64 bytes, a quantity of zero, above one event's maximum or with
    /// more than six decimals, a unit over 16 bytes).
    fn check_bounds(&self) -> Result<(), LabelCodeError> {
        use crate::bounds::{check_id, check_qty, check_uom};
        let id = |field: &'static str, value: &str| {
            check_id(field, value).map_err(|v| LabelCodeError {
                field,
                value: value.to_owned(),
                why: v.problem,
            })
        };
        match self {
            LabelCode::WorkOrder(wo) => id("work order", wo.as_str()),
            LabelCode::Location(l) => id("location", l.as_str()),
            LabelCode::Operator(o) => id("operator badge", o.as_str()),
            LabelCode::Station(s) => id("station", s.as_str()),
            LabelCode::SalesOrder(o) => id("sales order", o.as_str()),
            LabelCode::MaterialLot(m) => {
                id("item", m.item.as_str())?;
                id("lot", m.lot.as_str())?;
                if let Some(wo) = &m.work_order {
                    id("work order", wo.as_str())?;
                }
                let quantity = |v: crate::bounds::Violation| LabelCodeError {
                    field: "quantity",
                    value: format!("{} {}", m.qty, m.uom),
                    why: v.problem,
                };
                check_qty("quantity", m.qty).map_err(quantity)?;
                check_uom("unit of quantity", &m.uom).map_err(quantity)
            }
        }
    }
}

/// A label read whole is still refused when a field is outside what the system keeps
/// ([`crate::bounds`]): GS1 allows 90 characters per field, an id here has at most 64, and a
/// quantity must fit one event.
fn within_bounds(code: LabelCode) -> Result<LabelCode, String> {
    use crate::bounds::{check_id, check_qty, check_uom};
    let checked = match &code {
        LabelCode::WorkOrder(wo) => check_id("work order (91)", wo.as_str()),
        LabelCode::Location(l) => check_id("location (95)", l.as_str()),
        LabelCode::Operator(o) => check_id("operator badge (96)", o.as_str()),
        LabelCode::Station(s) => check_id("station (97)", s.as_str()),
        LabelCode::SalesOrder(o) => check_id("sales order (98)", o.as_str()),
        LabelCode::MaterialLot(m) => check_id("item (92)", m.item.as_str())
            .and_then(|()| check_id("lot (93)", m.lot.as_str()))
            .and_then(|()| check_qty("quantity (94)", m.qty))
            .and_then(|()| check_uom("unit of quantity (94)", &m.uom))
            .and_then(|()| match &m.work_order {
                Some(wo) => check_id("work order (91)", wo.as_str()),
                None => Ok(()),
            }),
    };
    checked.map(|()| code).map_err(|v| v.to_string())
}

fn read(elements: &[Element]) -> Result<LabelCode, String> {
    let get = |ai: &str| {
        elements
            .iter()
            .find(|e| e.ai == ai)
            .map(|e| e.value.clone())
    };
    let lot_fields = [ais::ITEM, ais::LOT, ais::QUANTITY];
    if lot_fields.iter().any(|ai| get(ai).is_some()) {
        let missing: Vec<String> = lot_fields
            .iter()
            .filter(|ai| get(ai).is_none())
            .map(|ai| named(ai))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "a material lot label needs item (92), lot (93) and quantity (94), but this one has no {}",
                missing.join(" and no ")
            ));
        }
        if let Some(extra) = elements
            .iter()
            .find(|e| ![ais::ITEM, ais::LOT, ais::QUANTITY, ais::WORK_ORDER].contains(&&*e.ai))
        {
            return Err(format!(
                "a material lot label cannot also carry a {}",
                named(&extra.ai)
            ));
        }
        let qty_text = get(ais::QUANTITY).unwrap_or_default();
        let (qty, uom) = parse_quantity(&qty_text)?;
        return Ok(LabelCode::MaterialLot(MaterialLotCode {
            item: ItemId(get(ais::ITEM).unwrap_or_default()),
            lot: LotId(get(ais::LOT).unwrap_or_default()),
            qty,
            uom,
            work_order: get(ais::WORK_ORDER).map(WorkOrderId),
        }));
    }
    match elements {
        [one] => Ok(match one.ai.as_str() {
            ais::WORK_ORDER => LabelCode::WorkOrder(WorkOrderId(one.value.clone())),
            ais::LOCATION => LabelCode::Location(LocationId(one.value.clone())),
            ais::OPERATOR => LabelCode::Operator(OperatorId(one.value.clone())),
            ais::SALES_ORDER => LabelCode::SalesOrder(SalesOrderId(one.value.clone())),
            _ => LabelCode::Station(StationId(one.value.clone())),
        }),
        [first, second, ..] => Err(format!(
            "a label names one thing, but this one names a {} and a {}",
            named(&first.ai),
            named(&second.ai)
        )),
        [] => Err("the label is empty".to_owned()),
    }
}

/// `25kg` → (25, "kg"); `12.5m2` → (12.5, "m2").
fn parse_quantity(text: &str) -> Result<(Decimal, String), String> {
    let number_len = text
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(text.len());
    let (number, uom) = text.split_at(number_len);
    let bad = |why: &str| {
        format!("quantity (94) \"{text}\" {why}; expected a number and a unit, like 25kg or 12.5m2")
    };
    if number.is_empty() {
        return Err(bad("does not start with a number"));
    }
    if uom.is_empty() {
        return Err(bad("has no unit"));
    }
    if !uom.as_bytes()[0].is_ascii_alphabetic() {
        return Err(bad("has a unit that does not start with a letter"));
    }
    if number.starts_with('.') || number.ends_with('.') {
        return Err(bad("is not a number"));
    }
    let qty =
        Decimal::from_str_exact(number).map_err(|_| bad("is not a number this system can hold"))?;
    Ok((qty, uom.to_owned()))
}

fn quantity_text(qty: Decimal, uom: &str) -> Result<String, LabelCodeError> {
    let err = |why: &str| LabelCodeError {
        field: "quantity",
        value: format!("{qty} {uom}"),
        why: why.to_owned(),
    };
    if qty.is_sign_negative() && !qty.is_zero() {
        return Err(err("it is negative"));
    }
    match uom.as_bytes().first() {
        None => return Err(err("the unit of measure is empty")),
        Some(b) if !b.is_ascii_alphabetic() => {
            return Err(err("the unit of measure must start with a letter"));
        }
        _ => {}
    }
    let text = format!("{}{uom}", qty.abs());
    // Round-trip check: what we write must read back as the same quantity.
    match parse_quantity(&text) {
        Ok((q, u)) if q == qty && u == uom => Ok(text),
        _ => Err(err(
            "the unit of measure must not start with digits or a point",
        )),
    }
}

fn element(ai: &str, field: &'static str, value: &str) -> Result<Element, LabelCodeError> {
    let err = |why: String| LabelCodeError {
        field,
        value: value.to_owned(),
        why,
    };
    if value.is_empty() {
        return Err(err("it is empty".to_owned()));
    }
    if let Some(c) = value
        .chars()
        .find(|&c| !(c.is_ascii() && ai::is_cset82(c as u8)))
    {
        return Err(err(format!(
            "it contains {}, which a GS1 barcode cannot carry",
            super::element::describe(c)
        )));
    }
    if value.len() > MAX_FIELD_LEN {
        return Err(err(format!(
            "it is {} characters long, at most {MAX_FIELD_LEN} fit",
            value.len()
        )));
    }
    Ok(Element {
        ai: ai.to_owned(),
        value: value.to_owned(),
        date: None,
        decimal: None,
    })
}

fn field_name(ai: &str) -> Option<&'static str> {
    Some(match ai {
        ais::WORK_ORDER => "work order",
        ais::ITEM => "item",
        ais::LOT => "lot",
        ais::QUANTITY => "quantity",
        ais::LOCATION => "location",
        ais::OPERATOR => "operator badge",
        ais::STATION => "station",
        ais::SALES_ORDER => "sales order",
        _ => return None,
    })
}

fn named(ai: &str) -> String {
    format!("{} ({ai})", field_name(ai).unwrap_or("field"))
}

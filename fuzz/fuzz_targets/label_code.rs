//! Our own label codes, written and read back: any label this system can print (any ids, any
//! quantity and unit) either is refused when written, with a reason, or reads back as exactly
//! the same label from its element string and from its bracketed form.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use protocol::barcode::{self, LabelCode, MaterialLotCode, Reading};
use protocol::{ItemId, LocationId, LotId, OperatorId, SalesOrderId, StationId, WorkOrderId};
use rust_decimal::Decimal;

#[derive(Debug, Arbitrary)]
enum Input {
    WorkOrder(String),
    Location(String),
    Operator(String),
    Station(String),
    SalesOrder(String),
    MaterialLot {
        item: String,
        lot: String,
        /// Decimal's parts: mantissa and scale (0..=28).
        qty: (i64, u8),
        uom: String,
        work_order: Option<String>,
    },
}

fuzz_target!(|input: Input| {
    let code = match input {
        Input::WorkOrder(s) => LabelCode::WorkOrder(WorkOrderId(s)),
        Input::Location(s) => LabelCode::Location(LocationId(s)),
        Input::Operator(s) => LabelCode::Operator(OperatorId(s)),
        Input::Station(s) => LabelCode::Station(StationId(s)),
        Input::SalesOrder(s) => LabelCode::SalesOrder(SalesOrderId(s)),
        Input::MaterialLot {
            item,
            lot,
            qty: (mantissa, scale),
            uom,
            work_order,
        } => LabelCode::MaterialLot(MaterialLotCode {
            item: ItemId(item),
            lot: LotId(lot),
            qty: Decimal::new(mantissa, u32::from(scale % 29)),
            uom,
            work_order: work_order.map(WorkOrderId),
        }),
    };
    let Ok(element_string) = code.element_string() else {
        assert!(code.bracketed().is_err());
        return;
    };
    let bracketed = code
        .bracketed()
        .expect("written as element string, so as bracketed");
    // As printed: GS1-128 and GS1 QR with their symbology identifiers, and the bracketed text
    // under the barcode.
    let texts = [
        format!("]C1{element_string}"),
        format!("]Q3{element_string}"),
        bracketed,
        element_string.clone(),
    ];
    for text in &texts {
        match barcode::parse(text, 2026) {
            Reading::Label { code: read, .. } => {
                assert_eq!(
                    canonical(read),
                    canonical(code.clone()),
                    "label written as {text:?}"
                )
            }
            // Without a symbology identifier, an element string of 8, 12 or 13 digits with a
            // valid check digit is also an EAN/UPC, and is read as one (RELIABILITY.md).
            Reading::Gs1 { elements, .. }
                if text == &element_string
                    && elements.len() == 1
                    && elements[0].ai == "01"
                    && elements[0].value.ends_with(&element_string) => {}
            other => panic!("{code:?} written as {text:?} reads as {other:?}"),
        }
    }
});

/// A quantity is the same quantity whatever its trailing zeros (`25.0` is printed `25`).
fn canonical(code: LabelCode) -> LabelCode {
    match code {
        LabelCode::MaterialLot(mut m) => {
            m.qty = m.qty.normalize();
            LabelCode::MaterialLot(m)
        }
        other => other,
    }
}

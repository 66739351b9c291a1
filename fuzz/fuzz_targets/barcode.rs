//! What a scanner sends, read as a scan: `protocol::barcode::parse` and the GS1 readers under
//! it, on arbitrary text. Invariants: no panic; a rejection's reason is short (it is shown to
//! an operator and journaled, whatever was scanned); GS1 data written back out (element string
//! and bracketed form) reads back to the same elements; a label code written back out reads
//! back to the same label; a reading survives its JSON form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::barcode::{self, Reading};

/// A reason longer than this would let a scanned code fill the journal through its rejection.
const MAX_REASON_LEN: usize = 600;

fuzz_target!(|data: &[u8]| {
    let Some((&year_byte, rest)) = data.split_first() else {
        return;
    };
    // The caller's clock: years a gateway can plausibly be in.
    let year = 2000 + i32::from(year_byte);
    let text = String::from_utf8_lossy(rest);

    let reading = barcode::parse(&text, year);
    match &reading {
        Reading::Rejected { reason } => {
            assert!(!reason.is_empty());
            assert!(
                reason.len() <= MAX_REASON_LEN,
                "a {} byte reason for a {} byte scan",
                reason.len(),
                text.len()
            );
        }
        Reading::Gs1 { elements, .. } => {
            assert!(!elements.is_empty());
            roundtrip(elements, year);
        }
        Reading::Label { code, .. } => {
            let elements = code
                .elements()
                .expect("a label that was read can be written");
            roundtrip(&elements, year);
            let element_string = code.element_string().unwrap();
            for identifier in ["]C1", "]Q3", "]d2"] {
                let again = barcode::parse(&format!("{identifier}{element_string}"), year);
                assert!(
                    matches!(&again, Reading::Label { code: c, .. } if c == code),
                    "{code:?} written and read again gives {again:?}"
                );
            }
            // Without a symbology identifier, an element string of 8, 12 or 13 digits with a
            // valid check digit is also an EAN/UPC, and is read as one (RELIABILITY.md).
            match barcode::parse(&element_string, year) {
                Reading::Label { code: c, .. } if &c == code => {}
                Reading::Gs1 { elements, .. }
                    if elements.len() == 1
                        && elements[0].ai == "01"
                        && elements[0].value.ends_with(&element_string) => {}
                other => panic!("{code:?} as {element_string:?} reads as {other:?}"),
            }
        }
    }
    let json = serde_json::to_string(&reading).unwrap();
    let back: Reading = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reading, "{json}");

    // The lower-level readers on the same text.
    for result in [
        barcode::parse_element_string(&text, year),
        barcode::parse_bracketed(&text, year),
        barcode::parse_gs1_data(&text, year),
    ] {
        match result {
            Ok(elements) => roundtrip(&elements, year),
            Err(e) => assert!(e.to_string().len() <= MAX_REASON_LEN, "{e}"),
        }
    }
});

/// Elements written in both forms read back to themselves.
fn roundtrip(elements: &[barcode::Element], year: i32) {
    let element_string = barcode::to_element_string(elements);
    let again = barcode::parse_element_string(&element_string, year);
    assert_eq!(
        again.as_deref(),
        Ok(elements),
        "element string {element_string:?}"
    );
    let bracketed = barcode::to_bracketed(elements);
    let again = barcode::parse_bracketed(&bracketed, year);
    assert_eq!(again.as_deref(), Ok(elements), "bracketed {bracketed:?}");
}

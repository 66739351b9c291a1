//! Regressions found by fuzzing (`fuzz/`, RELIABILITY.md) in the protocol crate.

use protocol::EventBatch;
use protocol::barcode::{self, LabelCode, MaterialLotCode, Reading};
use rust_decimal::Decimal;

/// Found by fuzzing (fuzz/fuzz_targets/sync_messages.rs): an event with seq 2^64 - 1 makes
/// `EventBatch::check` compute the next seq with `Seq::next`, which overflows: a panic in a
/// build with overflow checks, a wrap to seq 0 in a release build. A seq out of range must be
/// refused (when the batch is read or when it is checked), never panic.
#[test]
fn a_batch_whose_seq_is_u64_max_is_refused_not_a_panic() {
    let json = r#"{
  "protocol": 1,
  "edge_id": "line-1",
  "events": [
    {
      "edge_id": "line-1",
      "seq": 18446744073709551615,
      "id": "01900000-0000-7000-8000-000000000000",
      "at": "2026-11-27T08:30:00Z",
      "source": {
        "device": "press-1",
        "station": "st-10"
      },
      "kind": {
        "type": "production_reported",
        "work_order": "WO-1001",
        "operation": 10,
        "good": 12,
        "scrap": 1
      }
    }
  ]
}"#;
    if let Ok(batch) = serde_json::from_str::<EventBatch>(json) {
        assert!(batch.check().is_err(), "seq 2^64 - 1 was accepted");
    }
}

/// Found by fuzzing (fuzz/fuzz_targets/label_code.rs, CI's short run): a lot label with a
/// quantity of more than six decimals (`0.00000000192416235990000`) was written, and then
/// refused when scanned ("at most 6 decimals are kept"). What a scan refuses must not be
/// printed: writing such a label is refused with the same reason, and so are a quantity of
/// zero and an id longer than the bounds, which GS1 alone would carry.
#[test]
fn a_label_that_would_not_scan_back_is_not_written() {
    let lot = |qty: Decimal, item: &str| {
        LabelCode::MaterialLot(MaterialLotCode {
            item: item.into(),
            lot: "4".into(),
            qty,
            uom: "kg".into(),
            work_order: None,
        })
    };
    let fine = lot(Decimal::new(125, 1), "STEEL");
    let text = fine.element_string().expect("12.5 kg of STEEL is a label");
    assert!(matches!(
        barcode::parse(&format!("]C1{text}"), 2026),
        Reading::Label { .. }
    ));
    for (code, why) in [
        (
            lot(Decimal::new(192416235990000, 23), "STEEL"),
            "at most 6 decimals are kept",
        ),
        (lot(Decimal::ZERO, "STEEL"), "above zero"),
        (lot(Decimal::ONE, &"X".repeat(65)), "64"),
    ] {
        let err = code.element_string().expect_err("refused when written");
        assert!(err.to_string().contains(why), "{err}");
        assert!(code.bracketed().is_err());
    }
}

//! Regressions found by fuzzing (`fuzz/`, RELIABILITY.md) in the protocol crate.

use protocol::EventBatch;

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

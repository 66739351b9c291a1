//! The sync messages central accepts from edges (event batches, acks, plan polls, status) and
//! the plans an edge accepts from central, from arbitrary JSON text. Invariants: no panic in
//! deserializing or in checking a batch's shape; a checked batch is contiguous from its first
//! seq; what was read serializes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{Ack, EdgeStatus, EventBatch, Plan, PlanPoll};

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            if let Ok(batch) = serde_json::from_slice::<EventBatch>(json) {
                if batch.check().is_ok() {
                    let first = batch.first_seq().map(|s| s.0);
                    for (i, e) in batch.events.iter().enumerate() {
                        assert_eq!(Some(e.seq.0), first.and_then(|f| f.checked_add(i as u64)));
                    }
                }
                serde_json::to_string(&batch).unwrap();
            }
        }
        1 => {
            if let Ok(plan) = serde_json::from_slice::<Plan>(json) {
                serde_json::to_string(&plan).unwrap();
            }
        }
        2 => {
            if let Ok(ack) = serde_json::from_slice::<Ack>(json) {
                serde_json::to_string(&ack).unwrap();
            }
        }
        3 => {
            if let Ok(poll) = serde_json::from_slice::<PlanPoll>(json) {
                serde_json::to_string(&poll).unwrap();
            }
        }
        _ => {
            if let Ok(status) = serde_json::from_slice::<EdgeStatus>(json) {
                serde_json::to_string(&status).unwrap();
            }
        }
    }
});

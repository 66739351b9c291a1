//! What central does with the events of a batch an edge sends (`central::ingest`): each
//! event's JSON text read with its envelope, checked against the bounds, and a batch's
//! sequence checked.
//!
//! Invariants: no panic; an event whose envelope reads is stored as the text it came with,
//! either valid (then within `protocol::bounds`) or quarantined with a bounded reason; an
//! envelope that does not read is an error naming its index.
#![no_main]

use central::ingest::{check_sequence, classify, window};
use central::store::Checked;
use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use protocol::EdgeId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let edge = EdgeId::from("line-1");
    let received = chrono::Utc
        .with_ymd_and_hms(2026, 12, 6, 12, 0, 0)
        .single()
        .expect("a time");
    let window = window(received);
    // The text as one event, and as the events of a batch's array.
    let mut events = Vec::new();
    let mut candidates: Vec<String> = vec![text.to_owned()];
    if let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(text) {
        candidates.extend(items.iter().take(64).map(|v| v.to_string()));
    }
    for (i, candidate) in candidates.iter().enumerate() {
        match classify(&edge, i, candidate, &window) {
            Ok(encoded) => {
                assert_eq!(&encoded.json, candidate, "stored as it came");
                match &encoded.body {
                    Checked::Valid(event) => {
                        let body = (**event).clone().into_body();
                        assert_eq!(protocol::bounds::check_event(&body, &window), Ok(()));
                    }
                    Checked::Quarantined { reason, .. } => {
                        assert!(reason.len() <= 4 * protocol::bounds::MAX_TEXT_LEN, "{}", reason.len());
                    }
                }
                events.push(encoded);
            }
            Err(e) => {
                assert!(e.to_string().contains(&format!("index {i}")), "{e}");
            }
        }
    }
    let _ = check_sequence(&events);
});

//! What central makes of the events an edge sends, before anything is stored: the envelope
//! that places an event in the edge's sequence, and whether its body is a fact central can
//! apply. Pure: no I/O, no clock (the caller passes the receive time).
//!
//! Two kinds of bad input, two answers:
//!
//! - **A malformed envelope refuses the whole batch** (400 `bad_batch`): an event that is not
//!   a JSON object, whose `edge_id` is not the batch's, whose `seq` is not a whole number from
//!   1 to [`bounds::MAX_SEQ`], or seqs that are not contiguous and ascending. That is not what
//!   an edge commits, so nothing of the batch is a fact.
//! - **A bad body is quarantined, not refused.** An event whose envelope reads is a fact the
//!   edge has committed and will send again until central acknowledges it. If its body does
//!   not read as an [`Event`] (an unknown kind, a count beyond 2^64, a malformed id), or reads
//!   but is out of [`protocol::bounds`] ([`bounds::check_event`], event time from
//!   [`bounds::earliest`] to the receive time plus [`FUTURE_TOLERANCE`]), or its text is longer
//!   than [`bounds::MAX_EVENT_BYTES`], it is stored and acknowledged with the rest of the
//!   batch, but applied to no projection, and the reason is kept
//!   ([`Checked::Quarantined`]).
//!
//! **Architecture Invariant:** an edge's committed fact never makes central answer an error
//! that the edge would retry forever; what central cannot apply is quarantined, visible at
//! `GET /api/v1/quarantine` and counted per edge.

use crate::store::{Checked, EncodedEvent};
use chrono::{DateTime, TimeDelta, Utc};
use protocol::bounds::{self, TimeWindow};
use protocol::{EdgeId, Event, EventId, Seq};

/// How far past central's receive time an event's time may lie: edge clocks drift, and devices
/// stamp their own messages.
pub const FUTURE_TOLERANCE: TimeDelta = TimeDelta::days(1);

/// Longest excerpt of outside text (an id, a parser's message) quoted in an error or a reason.
const QUOTE_MAX: usize = 200;

/// Why a batch is refused whole: an event's envelope does not place it in the edge's sequence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error(
        "event at index {index} has no readable envelope ({detail}); expected an object with edge_id, seq and id"
    )]
    Unreadable { index: usize, detail: String },
    #[error(
        "event at index {index} belongs to edge {found:?}, but the batch is for edge {expected:?}"
    )]
    ForeignEvent {
        index: usize,
        expected: String,
        found: String,
    },
    #[error(
        "event at index {index} has seq {seq}; expected a sequence number from 1 to {}",
        bounds::MAX_SEQ
    )]
    SeqOutOfRange { index: usize, seq: u64 },
    #[error(
        "event at index {index} has seq {found}, expected {expected}: a batch must be contiguous and ascending"
    )]
    NotContiguous {
        index: usize,
        expected: Seq,
        found: Seq,
    },
}

fn quote(s: &str) -> String {
    bounds::sanitize(s, QUOTE_MAX, false)
}

/// The window an event's time must lie in, for a batch received at `received_at`.
pub fn window(received_at: DateTime<Utc>) -> TimeWindow {
    TimeWindow::around(received_at, FUTURE_TOLERANCE)
}

fn check_envelope(
    edge_id: &EdgeId,
    index: usize,
    found_edge: &str,
    seq: u64,
) -> Result<Seq, EnvelopeError> {
    if found_edge != edge_id.as_str() {
        return Err(EnvelopeError::ForeignEvent {
            index,
            expected: quote(edge_id.as_str()),
            found: quote(found_edge),
        });
    }
    if seq == 0 || seq > bounds::MAX_SEQ {
        return Err(EnvelopeError::SeqOutOfRange { index, seq });
    }
    Ok(Seq(seq))
}

/// Reads one event of a batch for `edge_id`: `Err` if its envelope does not read, else the
/// event as it will be stored, [`Checked::Valid`] or [`Checked::Quarantined`] with the reason.
pub fn classify(
    edge_id: &EdgeId,
    index: usize,
    text: &str,
    window: &TimeWindow,
) -> Result<EncodedEvent, EnvelopeError> {
    match serde_json::from_str::<Event>(text) {
        Ok(event) => {
            let seq = check_envelope(edge_id, index, event.edge_id.as_str(), event.seq.0)?;
            Ok(checked(seq, text, event, window))
        }
        Err(error) => unreadable_body(edge_id, index, text, &error),
    }
}

/// An event central holds in memory (tests, tools): checked like one that arrived as text.
pub fn classify_event(event: Event, json: String, window: &TimeWindow) -> EncodedEvent {
    let seq = event.seq;
    checked(seq, &json, event, window)
}

fn checked(seq: Seq, text: &str, mut event: Event, window: &TimeWindow) -> EncodedEvent {
    let id = Some(event.id);
    let problem = if text.len() > bounds::MAX_EVENT_BYTES {
        Some(format!(
            "the event is {} bytes long; an event has at most {}",
            text.len(),
            bounds::MAX_EVENT_BYTES
        ))
    } else {
        // Moved into a body for the check and back, so the hot path copies nothing.
        let Event {
            edge_id,
            seq,
            id,
            at,
            source,
            kind,
        } = event;
        let body = protocol::EventBody {
            id,
            at,
            source,
            kind,
        };
        let problem = bounds::check_event(&body, window)
            .err()
            .map(|v| bounds::sanitize_text(&v.to_string()));
        event = Event::from_body(edge_id, seq, body);
        problem
    };
    let body = match problem {
        None => Checked::Valid(Box::new(event)),
        Some(reason) => Checked::Quarantined {
            kind: event.kind.name().to_owned(),
            at: Some(event.at),
            reason,
        },
    };
    EncodedEvent {
        seq,
        id,
        json: text.to_owned(),
        body,
    }
}

/// The slow path, for a body that does not read as an [`Event`]: the envelope is read from
/// the JSON tree, and what else can be read (id, time, kind) is kept for the quarantine.
fn unreadable_body(
    edge_id: &EdgeId,
    index: usize,
    text: &str,
    error: &serde_json::Error,
) -> Result<EncodedEvent, EnvelopeError> {
    let unreadable = |detail: String| EnvelopeError::Unreadable { index, detail };
    let tree: serde_json::Value =
        serde_json::from_str(text).map_err(|e| unreadable(quote(&e.to_string())))?;
    let object = tree
        .as_object()
        .ok_or_else(|| unreadable("not a json object".into()))?;
    let found_edge = object
        .get("edge_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| unreadable("edge_id is missing or not a string".into()))?;
    let seq = object
        .get("seq")
        .ok_or_else(|| unreadable("seq is missing".into()))?;
    let seq = seq.as_u64().ok_or_else(|| {
        unreadable(format!(
            "seq {} is not a whole number from 1 to {}",
            quote(&seq.to_string()),
            bounds::MAX_SEQ
        ))
    })?;
    let seq = check_envelope(edge_id, index, found_edge, seq)?;
    let id = object
        .get("id")
        .and_then(|v| v.as_str())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(EventId);
    let at = object
        .get("at")
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    let kind = object
        .get("kind")
        .and_then(|k| k.get("type"))
        .and_then(|t| t.as_str())
        .filter(|t| bounds::check_id("kind.type", t).is_ok())
        .unwrap_or("unreadable")
        .to_owned();
    Ok(EncodedEvent {
        seq,
        id,
        json: text.to_owned(),
        body: Checked::Quarantined {
            kind,
            at,
            reason: bounds::sanitize_text(&format!("the event does not read: {error}")),
        },
    })
}

/// Checks that the events of a batch are contiguous and ascending.
pub fn check_sequence(events: &[EncodedEvent]) -> Result<(), EnvelopeError> {
    let mut expected: Option<Seq> = None;
    for (index, event) in events.iter().enumerate() {
        if let Some(expected) = expected
            && event.seq != expected
        {
            return Err(EnvelopeError::NotContiguous {
                index,
                expected,
                found: event.seq,
            });
        }
        // seq <= MAX_SEQ (checked with the envelope), so this cannot overflow.
        expected = Some(Seq(event.seq.0.saturating_add(1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({
            "edge_id": "line-1", "seq": 7, "id": "01900000-0000-7000-8000-000000000007",
            "at": "2026-12-01T07:59:00Z", "source": {"station": "st-10"},
            "kind": {"type": "material_issued", "work_order": "WO-1", "item": "STEEL",
                     "lot": "L-1", "qty": "12.5", "uom": "kg"}
        })
    }

    /// `classify(json) -> "valid"`, `"quarantined <kind>: <reason>"` or `"refused: <error>"`.
    fn check(value: &serde_json::Value) -> String {
        match classify(&"line-1".into(), 0, &value.to_string(), &window(now())) {
            Ok(e) => match e.body {
                Checked::Valid(_) => "valid".into(),
                Checked::Quarantined { kind, reason, .. } => {
                    format!("quarantined {kind}: {reason}")
                }
            },
            Err(e) => format!("refused: {e}"),
        }
    }

    fn with(path: &[&str], value: serde_json::Value) -> serde_json::Value {
        let mut v = good();
        let mut at = &mut v;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                at[*key] = value.clone();
            } else {
                at = &mut at[*key];
            }
        }
        v
    }

    #[test]
    fn bodies_out_of_bounds_are_quarantined_with_the_field() {
        let cases = [
            (with(&["kind", "qty"], json!("12.5")), "valid"),
            (
                with(&["kind", "qty"], json!("0")),
                "quarantined material_issued: kind.qty: is 0; expected a quantity above zero",
            ),
            (
                with(&["kind", "qty"], json!("-5")),
                "quarantined material_issued: kind.qty: is -5; expected a quantity above zero",
            ),
            (
                with(&["kind", "qty"], json!("79228162514264337593543950335")),
                "quarantined material_issued: kind.qty: is 79228162514264337593543950335; at most 1000000000 are accepted in one event",
            ),
            (
                with(&["kind", "lot"], json!("L\u{0}1")),
                "quarantined material_issued: kind.lot: holds the control or invisible character U+0000 at byte 1; ids are printable text",
            ),
            (
                with(&["kind", "lot"], json!("L-\u{202E}1")),
                "quarantined material_issued: kind.lot: holds the control or invisible character U+202E at byte 2; ids are printable text",
            ),
            (
                with(&["at"], json!("0001-01-01T00:00:00Z")),
                "quarantined material_issued: at: is 0001-01-01T00:00:00+00:00; expected a time between 2000-01-01T00:00:00+00:00 and 2026-12-02T08:00:00+00:00",
            ),
            (
                with(&["at"], json!("2026-12-02T08:00:01Z")),
                "quarantined material_issued: at: is 2026-12-02T08:00:01+00:00; expected a time between 2000-01-01T00:00:00+00:00 and 2026-12-02T08:00:00+00:00",
            ),
            (
                with(&["kind"], json!({"type": "teleported", "to": "mars"})),
                "quarantined teleported: the event does not read: unknown variant `teleported`, expected one of `production_reported`, `machine_state_changed`, `material_received`, `material_issued`, `material_moved`, `lot_produced`, `work_order_started`, `work_order_paused`, `work_order_completed`, `measurement`, `operator_signed_in`, `operator_signed_out`, `scan_rejected`, `device_fault` at line 1 column 150",
            ),
        ];
        for (value, expected) in cases {
            let got = check(&value);
            if expected.contains(" at line ") {
                assert!(
                    got.starts_with(expected.split(" at line ").next().unwrap()),
                    "{got}"
                );
            } else {
                assert_eq!(got, expected, "{value}");
            }
        }
        let long = with(&["kind", "lot"], json!("L".repeat(1 << 20)));
        assert_eq!(
            check(&long),
            format!(
                "quarantined material_issued: the event is {} bytes long; an event has at most 65536",
                long.to_string().len()
            )
        );
        // A count past 2^64 does not read as an event; the envelope still does.
        let mut counted = good();
        counted["kind"] = json!({"type": "production_reported", "good": 1, "scrap": 0});
        let text = counted
            .to_string()
            .replace("\"good\":1", "\"good\":184467440737095516160");
        let got = match classify(&"line-1".into(), 0, &text, &window(now())) {
            Ok(EncodedEvent {
                body: Checked::Quarantined { kind, reason, .. },
                seq,
                id,
                ..
            }) => format!("{kind} {seq} {} {reason}", id.is_some()),
            other => panic!("{other:?}"),
        };
        assert!(
            got.starts_with("production_reported 7 true the event does not read: "),
            "{got}"
        );
    }

    #[test]
    fn an_unreadable_body_keeps_what_reads() {
        let mut bad = with(&["kind", "qty"], json!({"nested": true}));
        bad["id"] = json!("not-a-uuid");
        let e = classify(&"line-1".into(), 0, &bad.to_string(), &window(now())).unwrap();
        assert_eq!(e.seq, Seq(7));
        assert_eq!(e.id, None);
        assert_eq!(e.json, bad.to_string());
        let Checked::Quarantined { kind, at, .. } = e.body else {
            panic!("quarantined")
        };
        assert_eq!(kind, "material_issued");
        assert_eq!(
            at,
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 7, 59, 0).unwrap())
        );
    }

    #[test]
    fn malformed_envelopes_refuse_the_batch() {
        let cases = [
            (
                json!(5),
                "event at index 0 has no readable envelope (not a json object); expected an object with edge_id, seq and id",
            ),
            (
                with(&["seq"], json!(0)),
                "event at index 0 has seq 0; expected a sequence number from 1 to 9223372036854775807",
            ),
            (
                with(&["seq"], json!(9_223_372_036_854_775_808u64)),
                "event at index 0 has seq 9223372036854775808; expected a sequence number from 1 to 9223372036854775807",
            ),
            (
                with(&["seq"], json!(1e30)),
                "event at index 0 has no readable envelope (seq 1e+30 is not a whole number from 1 to 9223372036854775807); expected an object with edge_id, seq and id",
            ),
            (
                with(&["seq"], json!("7")),
                "event at index 0 has no readable envelope (seq \"7\" is not a whole number from 1 to 9223372036854775807); expected an object with edge_id, seq and id",
            ),
            (
                with(&["edge_id"], json!("line-2")),
                "event at index 0 belongs to edge \"line-2\", but the batch is for edge \"line-1\"",
            ),
            (
                with(&["edge_id"], json!(3)),
                "event at index 0 has no readable envelope (edge_id is missing or not a string); expected an object with edge_id, seq and id",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(check(&value), format!("refused: {expected}"), "{value}");
        }
        // A body that does not read and a seq past 2^64 together: still the envelope's fault.
        let text = with(&["kind"], json!({"type": "x"}))
            .to_string()
            .replace("\"seq\":7", "\"seq\":184467440737095516160");
        let got = classify(&"line-1".into(), 3, &text, &window(now())).unwrap_err();
        assert!(
            matches!(got, EnvelopeError::Unreadable { index: 3, .. }),
            "{got}"
        );
        // An edge id of a megabyte is quoted short.
        let long = with(&["edge_id"], json!("x".repeat(1 << 20)));
        let message = check(&long);
        assert!(message.len() < 400, "{}", message.len());
    }

    #[test]
    fn sequences_must_be_contiguous() {
        let event = |seq: u64| {
            let mut v = good();
            v["seq"] = json!(seq);
            classify(&"line-1".into(), 0, &v.to_string(), &window(now())).unwrap()
        };
        assert_eq!(check_sequence(&[event(4), event(5), event(6)]), Ok(()));
        assert_eq!(
            check_sequence(&[event(4), event(6)]),
            Err(EnvelopeError::NotContiguous {
                index: 1,
                expected: Seq(5),
                found: Seq(6)
            })
        );
        assert_eq!(check_sequence(&[]), Ok(()));
    }
}

//! Messages of the delivery contract between an edge and central.
//!
//! ```text
//! edge                                   central
//!  | POST /api/v1/sync/events  EventBatch  |   apply each (edge, seq) at most once
//!  | <------------------------------ Ack   |   200 {"acked_through": N}
//!  | <------------- 409 seq_gap expected N |   batch would leave a gap: resend from N
//!  | GET /api/v1/sync/plan?have=V&wait_ms  |   long poll
//!  | <------------------------------ Plan  |   200 with a newer version, 204 on timeout
//!  | POST /api/v1/sync/status  EdgeStatus  |   agent version, backlog, clock, plan applied
//!  | <------------------------ StatusReply |
//! ```
//!
//! Versioning: every request carries `protocol`. Central accepts every version from
//! [`MIN_PROTOCOL_VERSION`] to [`PROTOCOL_VERSION`] and refuses others with
//! `unsupported_protocol`. New fields are added as optional (`#[serde(default)]`), and no wire
//! type denies unknown fields, so an older edge keeps working against a newer central.

use crate::event::Event;
use crate::ids::{EdgeId, Seq, StationId, WorkOrderId};
use crate::plan::PlanVersion;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The oldest protocol version central still accepts.
pub const MIN_PROTOCOL_VERSION: u16 = 1;

/// Header that GET requests carry in place of a body's `protocol` field.
pub const PROTOCOL_HEADER: &str = "mes-protocol";

/// A run of committed events from one edge, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    pub protocol: u16,
    pub edge_id: EdgeId,
    /// Contiguous and ascending by `seq`. May be empty: central then just answers with what it
    /// has acknowledged, which is how an edge learns where to resume.
    pub events: Vec<Event>,
}

/// Why a batch is malformed (as opposed to well-formed but out of order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error(
        "event at index {index} belongs to edge {found:?}, but the batch is for edge {expected:?}"
    )]
    ForeignEvent {
        index: usize,
        expected: EdgeId,
        found: EdgeId,
    },
    #[error("event at index {index} has seq 0; sequence numbers start at 1")]
    ZeroSeq { index: usize },
    #[error(
        "event at index {index} has seq {found}; sequence numbers go up to {max}",
        max = crate::bounds::MAX_SEQ
    )]
    SeqOutOfRange { index: usize, found: Seq },
    #[error(
        "event at index {index} has seq {found}, expected {expected}: a batch must be contiguous and ascending"
    )]
    NotContiguous {
        index: usize,
        expected: Seq,
        found: Seq,
    },
}

impl EventBatch {
    /// Checks the batch's own shape: one edge, seqs from 1 up, contiguous and ascending.
    pub fn check(&self) -> Result<(), BatchError> {
        check_events(&self.edge_id, &self.events)
    }

    pub fn first_seq(&self) -> Option<Seq> {
        self.events.first().map(|e| e.seq)
    }

    pub fn last_seq(&self) -> Option<Seq> {
        self.events.last().map(|e| e.seq)
    }
}

/// [`EventBatch::check`] for events held in any shape (central keeps each event's JSON text
/// beside the parsed event).
pub fn check_events<'a>(
    edge_id: &EdgeId,
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<(), BatchError> {
    let mut expected: Option<Seq> = None;
    for (index, event) in events.into_iter().enumerate() {
        if &event.edge_id != edge_id {
            return Err(BatchError::ForeignEvent {
                index,
                expected: edge_id.clone(),
                found: event.edge_id.clone(),
            });
        }
        if event.seq == Seq::ZERO {
            return Err(BatchError::ZeroSeq { index });
        }
        if event.seq.0 > crate::bounds::MAX_SEQ {
            return Err(BatchError::SeqOutOfRange {
                index,
                found: event.seq,
            });
        }
        if let Some(expected) = expected
            && event.seq != expected
        {
            return Err(BatchError::NotContiguous {
                index,
                expected,
                found: event.seq,
            });
        }
        expected = Some(event.seq.next());
    }
    Ok(())
}

/// Central's answer to a batch: everything through `acked_through` is durably stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub acked_through: Seq,
}

/// Query of the plan long poll: "I run `have`; answer when there is something newer, or after
/// `wait_ms`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPoll {
    pub have: PlanVersion,
    #[serde(default)]
    pub wait_ms: u64,
    /// The epoch of the plan the edge runs ([`crate::Plan::epoch`]); central answers a poll of
    /// another epoch with its latest plan at once, whatever `have` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// What an edge tells central about itself, periodically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeStatus {
    pub protocol: u16,
    pub edge_id: EdgeId,
    pub agent_version: String,
    /// The edge's wall clock when it sent this; central compares it with its own.
    pub clock: DateTime<Utc>,
    pub last_seq: Seq,
    pub acked_seq: Seq,
    /// Committed events not yet acknowledged by central.
    pub backlog: u64,
    /// When the oldest event central has not acknowledged was committed (the edge's clock);
    /// absent when nothing is unsent, or from an agent that predates the field. Central
    /// refuses a time before [`crate::bounds::earliest`] or more than a day after `clock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_unsent_at: Option<DateTime<Utc>>,
    /// The plan version the edge has applied.
    pub plan_version: PlanVersion,
    /// What runs on each of the edge's stations, as its terminal shows it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stations: Vec<StationRun>,
}

/// What runs on one station: the work order its counts are booked to, and the counts kept
/// unassigned there. One fact, computed by one function on the edge, shown the same on the
/// line terminal, the edge's status and at central.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationRun {
    pub station: StationId,
    /// The work order whose operation runs here; absent: counts here are unassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_order: Option<WorkOrderId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<u32>,
    /// Why it runs here: `scan` (started by a scan at the station) or `plan` (the plan's
    /// first work order with an operation at the station, nobody started another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<RunBy>,
    /// The work order's good and scrap parts counted on this edge.
    #[serde(default)]
    pub good: u64,
    #[serde(default)]
    pub scrap: u64,
    /// Good parts beyond the order's quantity plus the plant's tolerance.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_production: bool,
    /// False when the order reached its quantity plus the tolerance and the plant stops
    /// counting complete orders: counts here are then kept unassigned.
    #[serde(default = "yes")]
    pub counting: bool,
    /// Parts counted here and booked to no work order.
    #[serde(default)]
    pub unassigned_good: u64,
    #[serde(default)]
    pub unassigned_scrap: u64,
}

fn yes() -> bool {
    true
}

/// Why a work order runs on a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunBy {
    /// Started by a scan (or the terminal) at the station.
    Scan,
    /// The plan's first work order with an operation at the station.
    Plan,
}

/// Central's answer to a status report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    pub received_at: DateTime<Utc>,
    /// `edge clock - central clock`, in milliseconds (positive: the edge runs ahead).
    pub clock_skew_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::{at, sample_events};

    fn batch() -> EventBatch {
        EventBatch {
            protocol: PROTOCOL_VERSION,
            edge_id: "line-1".into(),
            events: sample_events("line-1").into_iter().take(2).collect(),
        }
    }

    #[test]
    fn sync_messages_json() {
        insta::assert_json_snapshot!("event_batch", batch());
        insta::assert_json_snapshot!(
            "ack",
            Ack {
                acked_through: Seq(42)
            }
        );
        insta::assert_json_snapshot!(
            "plan_poll",
            PlanPoll {
                have: PlanVersion(3),
                wait_ms: 25_000,
                epoch: None,
            }
        );
        insta::assert_json_snapshot!(
            "edge_status",
            EdgeStatus {
                protocol: PROTOCOL_VERSION,
                edge_id: "line-1".into(),
                agent_version: "0.1.0".into(),
                clock: at(),
                last_seq: Seq(1200),
                acked_seq: Seq(1100),
                backlog: 100,
                oldest_unsent_at: Some(at() - chrono::TimeDelta::minutes(20)),
                plan_version: PlanVersion(3),
                stations: vec![
                    StationRun {
                        station: "st-10".into(),
                        work_order: Some("WO-1001".into()),
                        operation: Some(10),
                        by: Some(RunBy::Scan),
                        good: 512,
                        scrap: 3,
                        over_production: true,
                        counting: true,
                        unassigned_good: 0,
                        unassigned_scrap: 0,
                    },
                    StationRun {
                        station: "st-20".into(),
                        work_order: None,
                        operation: None,
                        by: None,
                        good: 0,
                        scrap: 0,
                        over_production: false,
                        counting: true,
                        unassigned_good: 40,
                        unassigned_scrap: 1,
                    },
                ],
            }
        );
        insta::assert_json_snapshot!(
            "status_reply",
            StatusReply {
                received_at: at(),
                clock_skew_ms: -250
            }
        );
    }

    #[test]
    fn a_newer_central_reads_an_edge_message_with_fields_it_does_not_know() {
        // What a future edge might send: unknown fields are ignored, not refused.
        let json = r#"{"protocol":1,"edge_id":"line-1","events":[],"compression":"none"}"#;
        let batch: EventBatch = serde_json::from_str(json).unwrap();
        assert!(batch.events.is_empty());
    }

    #[test]
    fn the_oldest_unsent_event_round_trips_and_an_older_agents_status_still_reads() {
        let json = r#"{"protocol":1,"edge_id":"line-1","agent_version":"0.1.0",
            "clock":"2026-11-27T08:30:00Z","last_seq":5,"acked_seq":2,"backlog":3,
            "plan_version":1}"#;
        let old: EdgeStatus = serde_json::from_str(json).unwrap();
        assert_eq!(old.oldest_unsent_at, None);
        assert!(old.stations.is_empty());
        // Absent stays absent on the wire, so an older central sees what it always saw.
        assert!(
            !serde_json::to_string(&old)
                .unwrap()
                .contains("oldest_unsent_at")
        );

        let new = EdgeStatus {
            oldest_unsent_at: Some(at() - chrono::TimeDelta::seconds(90)),
            ..old
        };
        let back: EdgeStatus = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn batch_check() {
        assert_eq!(batch().check(), Ok(()));

        let mut gap = batch();
        gap.events[1].seq = Seq(3);
        assert_eq!(
            gap.check(),
            Err(BatchError::NotContiguous {
                index: 1,
                expected: Seq(2),
                found: Seq(3)
            })
        );

        let mut foreign = batch();
        foreign.events[0].edge_id = "line-2".into();
        assert!(matches!(
            foreign.check(),
            Err(BatchError::ForeignEvent { index: 0, .. })
        ));

        let mut zero = batch();
        zero.events[0].seq = Seq(0);
        assert_eq!(zero.check(), Err(BatchError::ZeroSeq { index: 0 }));

        let empty = EventBatch {
            events: vec![],
            ..batch()
        };
        assert_eq!(empty.check(), Ok(()));
        assert_eq!(empty.first_seq(), None);
    }
}

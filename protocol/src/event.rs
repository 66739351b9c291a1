//! The event envelope and the taxonomy of production facts.
//!
//! An [`EventBody`] is what a source and the processor create: a fact with its id, the edge's
//! wall-clock time, where it came from and what it says. The journal turns it into an
//! [`Event`] by committing it, which gives it the edge id and its `seq`.

use crate::ids::{
    DeviceId, EdgeId, EventId, ItemId, LocationId, LotId, OperatorId, SalesOrderId, Seq, StationId,
    WorkOrderId,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A committed production fact, as the edge stores it and central receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub edge_id: EdgeId,
    /// 1, 2, 3, … per edge, no gaps, in commit order.
    pub seq: Seq,
    pub id: EventId,
    /// The edge's wall-clock time when the fact happened.
    pub at: DateTime<Utc>,
    pub source: Source,
    pub kind: EventKind,
}

/// An event before commit: everything but the edge id and the sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBody {
    pub id: EventId,
    pub at: DateTime<Utc>,
    pub source: Source,
    pub kind: EventKind,
}

impl Event {
    pub fn from_body(edge_id: EdgeId, seq: Seq, body: EventBody) -> Event {
        Event {
            edge_id,
            seq,
            id: body.id,
            at: body.at,
            source: body.source,
            kind: body.kind,
        }
    }

    pub fn into_body(self) -> EventBody {
        EventBody {
            id: self.id,
            at: self.at,
            source: self.source,
            kind: self.kind,
        }
    }
}

/// Encodes a committed event from its body's JSON without parsing it again.
///
/// `body_json` must be the output of `serde_json::to_string(&EventBody)`. The result is
/// byte-for-byte what `serde_json::to_string(&Event)` gives (a unit test holds that), so the
/// journal can store and ship committed events without a decode/encode round per event.
pub fn encode_committed(edge_id: &EdgeId, seq: Seq, body_json: &str) -> String {
    CommittedEncoder::new(edge_id)
        .encode(seq, body_json)
        .to_owned()
}

/// [`encode_committed`] for one edge, many events: the edge's prefix is escaped once and the
/// output buffer is reused, so encoding allocates nothing per event.
#[derive(Debug, Clone)]
pub struct CommittedEncoder {
    prefix: String,
    buf: String,
}

impl CommittedEncoder {
    pub fn new(edge_id: &EdgeId) -> CommittedEncoder {
        let edge = serde_json::to_string(edge_id.as_str()).unwrap_or_else(|_| "\"\"".into());
        CommittedEncoder {
            prefix: format!("{{\"edge_id\":{edge},\"seq\":"),
            buf: String::with_capacity(512),
        }
    }

    /// The committed event's JSON; valid until the next call.
    pub fn encode(&mut self, seq: Seq, body_json: &str) -> &str {
        use std::fmt::Write;
        debug_assert!(body_json.starts_with("{\"id\":"));
        self.buf.clear();
        self.buf.push_str(&self.prefix);
        let _ = write!(self.buf, "{}", seq.0);
        self.buf.push(',');
        self.buf.push_str(body_json.get(1..).unwrap_or_default());
        &self.buf
    }
}

/// Where a fact came from. Either part may be absent: a scan at a terminal has a station but
/// no device; a PLC fault may concern no single station.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<StationId>,
}

/// A machine's state, as availability (OEE) counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineState {
    Running,
    Idle,
    /// Unplanned stop. The event carries the reason when the machine knows it; when it does
    /// not, an operator gives it later as a [`EventKind::StopReasonGiven`] naming the stop's
    /// start.
    Down,
    Setup,
    Off,
}

/// What happened. Closed: a new kind is a protocol change with a snapshot to review. A central
/// that does not know a kind yet stores and acknowledges the event and quarantines it (it is
/// applied to nothing), so a new kind needs no new [`crate::PROTOCOL_VERSION`], only a central
/// that reads it before it means anything there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// Good and scrapped parts counted for a work order's operation since the last report.
    ProductionReported {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        work_order: Option<WorkOrderId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<u32>,
        good: u64,
        scrap: u64,
    },
    /// A machine entered a new state.
    MachineStateChanged {
        state: MachineState,
        /// Why (required in practice for `down`): a reason code or text. A `down` without one
        /// is an unattributed stop until a [`EventKind::StopReasonGiven`] names it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Material arrived at a location (goods receipt at the line or warehouse).
    MaterialReceived {
        item: ItemId,
        lot: LotId,
        qty: Decimal,
        uom: String,
        location: LocationId,
        /// The purchase order the goods came against, when the supplier's label names it
        /// (GS1 AI 400, the customer's purchase order number): central closes that order.
        /// Absent: central takes the item's oldest open order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        purchase_order: Option<String>,
    },
    /// A material lot was issued to (consumed by) a work order's operation.
    MaterialIssued {
        work_order: WorkOrderId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<u32>,
        item: ItemId,
        lot: LotId,
        qty: Decimal,
        uom: String,
    },
    /// Material moved between locations.
    MaterialMoved {
        item: ItemId,
        lot: LotId,
        qty: Decimal,
        uom: String,
        from: LocationId,
        to: LocationId,
    },
    /// A lot (or container) of finished or semi-finished goods was produced.
    LotProduced {
        work_order: WorkOrderId,
        item: ItemId,
        lot: LotId,
        qty: Decimal,
        uom: String,
        /// The material lots that went into it (genealogy).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        consumed_lots: Vec<LotId>,
    },
    WorkOrderStarted {
        work_order: WorkOrderId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<u32>,
    },
    WorkOrderPaused {
        work_order: WorkOrderId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    WorkOrderCompleted {
        work_order: WorkOrderId,
    },
    /// A measured characteristic, for SPC.
    Measurement {
        characteristic: String,
        value: f64,
        unit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        work_order: Option<WorkOrderId>,
    },
    OperatorSignedIn {
        operator: OperatorId,
    },
    OperatorSignedOut {
        operator: OperatorId,
    },
    /// A scan that was refused; the operator was told `reason`.
    ScanRejected {
        raw: String,
        reason: String,
    },
    /// A device misbehaved: a transport error, a protocol exception, a malformed payload.
    DeviceFault {
        device: DeviceId,
        message: String,
    },
    /// The reason for an unplanned stop the machine reported without one: the stop of this
    /// event's `source.station` that began at `since` (the `at` of its `machine_state_changed`
    /// to `down` with no reason) was for `reason`. Given by an operator at the line terminal;
    /// `at` is when it was given, so `since <= at`. `reason` is a `code` of the plan's
    /// `rules.stop_reasons`, or free text where the plan lists none. (ISO 22400 availability:
    /// every unplanned stop attributed.)
    StopReasonGiven {
        reason: String,
        since: DateTime<Utc>,
    },
    /// A lot was picked from `location` and shipped against line `line` of sales order
    /// `order`, scanned at a dock station. `shipment` is the id the edge made when the order's
    /// label was scanned: central makes one delivery of the picks of one shipment.
    LotShipped {
        order: SalesOrderId,
        line: u32,
        item: ItemId,
        lot: LotId,
        qty: Decimal,
        uom: String,
        location: LocationId,
        shipment: String,
    },
    /// An operator asked at the line terminal for material beyond what the work order's
    /// operation may take (more of a component than the BOM and the plant's tolerance allow,
    /// or an item the BOM does not name): `qty` more of `item` for `operation` of
    /// `work_order`, signed by `operator`, for `reason`. Central makes it a
    /// `material_requisition` request; once approved, its plan lets the edge issue that much
    /// more. The event's id names the request on both sides.
    MaterialRequested {
        work_order: WorkOrderId,
        operation: u32,
        item: ItemId,
        qty: Decimal,
        uom: String,
        operator: OperatorId,
        reason: String,
    },
}

impl EventKind {
    /// The snake_case name used on the wire and in metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::ProductionReported { .. } => "production_reported",
            EventKind::MachineStateChanged { .. } => "machine_state_changed",
            EventKind::MaterialReceived { .. } => "material_received",
            EventKind::MaterialIssued { .. } => "material_issued",
            EventKind::MaterialMoved { .. } => "material_moved",
            EventKind::LotProduced { .. } => "lot_produced",
            EventKind::WorkOrderStarted { .. } => "work_order_started",
            EventKind::WorkOrderPaused { .. } => "work_order_paused",
            EventKind::WorkOrderCompleted { .. } => "work_order_completed",
            EventKind::Measurement { .. } => "measurement",
            EventKind::OperatorSignedIn { .. } => "operator_signed_in",
            EventKind::OperatorSignedOut { .. } => "operator_signed_out",
            EventKind::ScanRejected { .. } => "scan_rejected",
            EventKind::DeviceFault { .. } => "device_fault",
            EventKind::StopReasonGiven { .. } => "stop_reason_given",
            EventKind::LotShipped { .. } => "lot_shipped",
            EventKind::MaterialRequested { .. } => "material_requested",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    pub fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 8, 30, 0).unwrap()
    }

    pub fn id(n: u128) -> EventId {
        EventId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
        ))
    }

    fn src() -> Source {
        Source {
            device: Some("press-1".into()),
            station: Some("st-10".into()),
        }
    }

    /// One example of every kind, so a snapshot covers the whole taxonomy.
    pub fn every_kind() -> Vec<EventKind> {
        let wo = WorkOrderId::from("WO-1001");
        vec![
            EventKind::ProductionReported {
                work_order: Some(wo.clone()),
                operation: Some(10),
                good: 12,
                scrap: 1,
            },
            EventKind::MachineStateChanged {
                state: MachineState::Down,
                reason: Some("jam".into()),
            },
            EventKind::MaterialReceived {
                item: "STEEL-2MM".into(),
                lot: "L-778".into(),
                qty: Decimal::new(2505, 1),
                uom: "kg".into(),
                location: "RECV-01".into(),
                purchase_order: Some("PO000001".into()),
            },
            EventKind::MaterialIssued {
                work_order: wo.clone(),
                operation: Some(10),
                item: "STEEL-2MM".into(),
                lot: "L-778".into(),
                qty: Decimal::new(125, 1),
                uom: "kg".into(),
            },
            EventKind::MaterialMoved {
                item: "STEEL-2MM".into(),
                lot: "L-778".into(),
                qty: Decimal::new(100, 0),
                uom: "kg".into(),
                from: "WH-A-01".into(),
                to: "LINE-1".into(),
            },
            EventKind::LotProduced {
                work_order: wo.clone(),
                item: "BRACKET".into(),
                lot: "FG-0001".into(),
                qty: Decimal::new(500, 0),
                uom: "pcs".into(),
                consumed_lots: vec!["L-778".into()],
            },
            EventKind::WorkOrderStarted {
                work_order: wo.clone(),
                operation: Some(10),
            },
            EventKind::WorkOrderPaused {
                work_order: wo.clone(),
                reason: Some("break".into()),
            },
            EventKind::WorkOrderCompleted { work_order: wo },
            EventKind::Measurement {
                characteristic: "hole-diameter".into(),
                value: 8.02,
                unit: "mm".into(),
                work_order: None,
            },
            EventKind::OperatorSignedIn {
                operator: "OP-042".into(),
            },
            EventKind::OperatorSignedOut {
                operator: "OP-042".into(),
            },
            EventKind::ScanRejected {
                raw: "]C1019506000134352".into(),
                reason: "wrong item: BOLT-M8 is not a component of operation 10".into(),
            },
            EventKind::DeviceFault {
                device: "press-1".into(),
                message: "read holding 400001 x10 on unit 1: timed out after 500ms".into(),
            },
            EventKind::StopReasonGiven {
                reason: "DIE-CHANGE-OVERRUN".into(),
                since: at() - chrono::TimeDelta::minutes(17),
            },
            EventKind::LotShipped {
                order: "SO000001".into(),
                line: 1,
                item: "BRACKET".into(),
                lot: "FG-0001".into(),
                qty: Decimal::new(300, 0),
                uom: "pcs".into(),
                location: "DOCK-A".into(),
                shipment: "0190a1b2-0000-7000-8000-000000000001".into(),
            },
            EventKind::MaterialRequested {
                work_order: "WO-1001".into(),
                operation: 10,
                item: "STEEL-COIL".into(),
                qty: Decimal::new(25, 0),
                uom: "kg".into(),
                operator: "B0007".into(),
                reason: "coil end scrapped at set-up".into(),
            },
        ]
    }

    pub fn sample_events(edge: &str) -> Vec<Event> {
        every_kind()
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Event {
                edge_id: edge.into(),
                seq: Seq(i as u64 + 1),
                id: id(i as u128),
                at: at(),
                source: src(),
                kind,
            })
            .collect()
    }

    #[test]
    fn every_event_kind_json() {
        insta::assert_json_snapshot!(sample_events("line-1"));
    }

    #[test]
    fn every_kind_round_trips_and_names_match_the_wire_tag() {
        for event in sample_events("line-1") {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["kind"]["type"], event.kind.name());
            let back: Event = serde_json::from_value(json).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn encode_committed_equals_serde_encoding() {
        for event in sample_events("line \"1\"") {
            let body_json = serde_json::to_string(&event.clone().into_body()).unwrap();
            let spliced = encode_committed(&event.edge_id, event.seq, &body_json);
            assert_eq!(spliced, serde_json::to_string(&event).unwrap());
        }
    }

    #[test]
    fn unknown_kind_is_an_error_naming_it() {
        let json = r#"{"type":"teleported","to":"mars"}"#;
        let err = serde_json::from_str::<EventKind>(json).unwrap_err();
        assert!(err.to_string().contains("teleported"), "{err}");
    }
}

//! Scans: what a read barcode means at its station, checked against the plan on the edge.

use protocol::{EventId, Seq};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the operator (or the scanner, or the HTTP caller) is told about one scan, once its
/// event is committed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanOutcome {
    pub result: ScanResult,
    /// What the code was: `operator`, `work_order`, `material_lot`, `location`, `station`,
    /// `gs1`; absent when it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// For a refused scan: why, as a stable code the terminal translates (`wrong_item`,
    /// `expired`, `on_hold`, `no_work_order`, `unknown_code`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The outcome in one English sentence (logs, scanners with a display, API callers).
    pub message: String,
    /// The values the message names, for translations of it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<&'static str, String>,
    /// The committed event's sequence number and id; absent if nothing was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanResult {
    /// Understood, allowed and stored.
    Accepted,
    /// Refused with a reason; the refusal itself is stored.
    Rejected,
    /// The journal could not store it: the operator must scan again.
    NotStored,
}

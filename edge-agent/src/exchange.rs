//! What the sources and the line terminal exchange with the processor about a station: a scan
//! or a terminal's button handed in ([`ScanRequest`], [`StationCommand`]) and the answer once
//! its event is committed ([`ScanOutcome`]). It sits below all three, so neither the sources
//! nor the terminal depend on the processor to speak to it.

use chrono::{DateTime, Utc};
use protocol::{EventId, LotId, OperatorId, Seq, StationId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why new facts are refused at the door right now: the journal cannot commit (its disk is
/// full, its quota is reached, or it fails). The processor sets it while its commits fail and
/// clears it at the first that succeeds; every entry point (the terminal, scanners) answers at
/// once with it instead of handing in a scan that could not be stored. (MQTT needs nothing:
/// a delivery is acknowledged only after its commit, so the broker keeps it meanwhile.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `disk_full`, `journal_full` or `journal_error`: a stable code the terminal translates.
    pub reason: &'static str,
    /// The journal's error, in words.
    pub message: String,
}

impl Refusal {
    /// The answer to a scan or a button refused at the door: not stored, with the reason.
    pub fn outcome(&self) -> ScanOutcome {
        ScanOutcome {
            result: ScanResult::NotStored,
            kind: None,
            action: None,
            lot: None,
            reason: Some(self.reason),
            warning: None,
            message: format!("not stored, scan again later: {}", self.message),
            params: BTreeMap::new(),
            seq: None,
            event_id: None,
        }
    }
}

/// One read of a barcode, as a scanner or a person handed it in.
#[derive(Debug)]
pub struct ScanRequest {
    /// The code as read, framing removed: symbology identifier, GS separators and all.
    pub raw: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The station the scanner is bound to, or the terminal's station.
    pub station: protocol::StationId,
    /// The scanner (a configured source's name), or none for a person at the terminal.
    pub device: Option<protocol::DeviceId>,
    /// Told the outcome once the scan's event is committed (or could not be).
    pub reply: Option<tokio::sync::oneshot::Sender<ScanOutcome>>,
}

/// What the operator (or the scanner, or the HTTP caller) is told about one scan, once its
/// event is committed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanOutcome {
    pub result: ScanResult,
    /// What the code was: `operator`, `work_order`, `material_lot`, `location`, `station`,
    /// `gs1`; absent when it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// For an accepted scan: what it did (`signed_in`, `signed_out`, `started`, `issued`,
    /// `location_set`, `location_cleared`, `received`, `moved`, `station_checked`,
    /// `lot_completed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// For a completed lot: the new lot's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot: Option<LotId>,
    /// For a refused scan: why, as a stable code the terminal translates (`wrong_item`,
    /// `expired`, `on_hold`, `no_work_order`, `no_stock`, `unknown_code`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// For an accepted scan the operator should look at: what is wrong, as a stable code the
    /// terminal translates (`over_required`: issued beyond what the order needs, within the
    /// plant's tolerance; `negative_stock`: central holds less of the lot than was issued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<&'static str>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanResult {
    /// Understood, allowed and stored.
    Accepted,
    /// Refused with a reason; the refusal itself is stored.
    Rejected,
    /// The journal could not store it: the operator must scan again.
    NotStored,
}

/// Something done at a station without a scan: the terminal's buttons.
#[derive(Debug)]
pub struct StationCommand {
    pub station: StationId,
    pub at: DateTime<Utc>,
    pub action: StationAction,
    pub reply: Option<tokio::sync::oneshot::Sender<ScanOutcome>>,
}

impl StationCommand {
    /// The command as the scan list shows it.
    pub fn as_request(&self) -> ScanRequest {
        let raw = match &self.action {
            StationAction::SignIn { badge, .. } => format!("sign in: {badge}"),
            StationAction::SignOut => "sign out".to_owned(),
            StationAction::CompleteLot { qty, .. } => {
                format!("complete lot: {}", qty.normalize())
            }
            StationAction::GiveStopReason { reason, .. } => format!("stop reason: {reason}"),
            StationAction::RequestMaterial { item, qty, .. } => {
                format!("material requisition: {} {item}", qty.normalize())
            }
        };
        ScanRequest {
            raw,
            at: self.at,
            station: self.station.clone(),
            device: None,
            reply: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StationAction {
    /// An operator signs in by badge at the terminal, with the PIN checked by the caller.
    SignIn {
        badge: OperatorId,
        pin: PinCheck,
    },
    SignOut,
    /// A finished lot (or container) of the running work order is full: record it, and print
    /// its label. `approved_by`: a supervisor whose badge and PIN the caller checked, who
    /// allows a lot beyond the order's open quantity.
    CompleteLot {
        qty: Decimal,
        approved_by: Option<OperatorId>,
    },
    /// The reason for the station's stop that began at `since` and that the machine reported
    /// without one: a code of the plan's `rules.stop_reasons`, or free text when it has none.
    GiveStopReason {
        reason: String,
        since: DateTime<Utc>,
    },
    /// The signed-in operator asks for `qty` more of `item` for the running work order's
    /// operation than it may take (beyond the BOM and the plant's tolerance, or an item the
    /// BOM does not name), for `reason`. `uom`: the unit, needed only for an item the
    /// operation has no requirement of (the requirement's unit otherwise).
    RequestMaterial {
        item: protocol::ItemId,
        qty: Decimal,
        uom: Option<String>,
        reason: String,
    },
}

/// What became of the PIN that came with a sign-in. PINs are checked (argon2, slow on
/// purpose) by the HTTP handler, never in the processor, which must not stall the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// No PIN came (a badge scanned at a scanner).
    NotGiven,
    Verified,
    Wrong,
    /// Too many wrong PINs for this badge lately: not even checked.
    Locked,
}

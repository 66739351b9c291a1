//! Scans: what a read barcode means at its station, checked against the plan on the edge.

/// The types scans and station commands are handed in and answered with live in
/// [`crate::exchange`], below the sources, the terminal and the processor.
pub use crate::exchange::{PinCheck, ScanOutcome, ScanResult, StationAction, StationCommand};
use crate::sources::ScanRequest;
use chrono::{DateTime, Local, NaiveDate, Utc};
use protocol::barcode::{self, LabelCode, MaterialLotCode, Reading};
use protocol::bounds;
use protocol::{
    EventBody, EventId, EventKind, ItemId, LocationId, LotId, OperatorId, Plan, PlanShipment,
    PlanWorkOrder, SalesOrderId, Source, StationId, WorkOrderId,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Journal state keys: a station's state, and what was issued to one work order's operation.
pub const STATION_PREFIX: &str = "scan/station/";
pub const ISSUED_PREFIX: &str = "scan/issued/";
pub const LOT_LOCATION_PREFIX: &str = "scan/lot-location/";
/// What this edge issued from a lot since the plan that told it the lot's stock.
pub const DRAWN_PREFIX: &str = "scan/drawn/";
/// What this edge shipped of a sales order line since the plan that told it the line's open
/// quantity: `scan/shipped/{line}/{order}` (a [`Drawn`]).
pub const SHIPPED_PREFIX: &str = "scan/shipped/";
/// A material requisition asked at a station: `scan/asked/{event id}` (an [`Asked`]).
pub const ASKED_PREFIX: &str = "scan/asked/";
/// The most requisitions the floor keeps of one work order: asking stops there (a terminal
/// cannot fill the journal with asks).
pub const MAX_ASKED_PER_ORDER: usize = 50;

/// A material requisition asked at a station, as the edge remembers it until its work order
/// is forgotten: what central decided of it comes with the plan (`requisitions`, by id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asked {
    pub station: StationId,
    pub work_order: WorkOrderId,
    pub operation: u32,
    pub item: ItemId,
    pub qty: Decimal,
    pub uom: String,
    pub operator: OperatorId,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// What this edge issued from one lot under one plan version (`scan/drawn/{lot}`): the lot's
/// `on_hand` in that plan less this is what is left for the edge to issue. The same for what
/// it shipped of a sales order line (`scan/shipped/{line}/{order}`) against the line's
/// `open_qty`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drawn {
    pub plan: protocol::PlanVersion,
    pub qty: Decimal,
}

/// Where a lot was put, and when (the journal state of `scan/lot-location/{lot}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LotPlace {
    location: LocationId,
    at: DateTime<Utc>,
}

/// What the edge remembers of a station between scans. Committed with the events that change
/// it, so a restart finds the operator signed in and the work order running.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StationState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_order: Option<WorkOrderId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<u32>,
    /// The operator who started the running work order. Parameters are written to a PLC only
    /// for an order someone started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<OperatorId>,
    /// A location scanned for the next lots: they are received or moved there, or, while the
    /// station ships an order, picked from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationId>,
    /// The sales order this station ships, from its label's scan until it is scanned again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<Shipping>,
    /// The station's last unplanned stop, while it has no reason: its machine went `down`
    /// without one ([`Floor::track_stops`]) and no operator has given one yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unattributed_stop: Option<UnattributedStop>,
}

/// A sales order being shipped at a station: one shipment (one delivery at central) from the
/// order's scan until the order is scanned again or another order is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping {
    pub order: SalesOrderId,
    /// The id the `lot_shipped` events of this shipment carry: central makes one delivery of
    /// them.
    pub shipment: String,
    /// The lots shipped in it, so a lot scanned twice is not shipped twice.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub lots: std::collections::BTreeSet<LotId>,
}

/// A stop the machine reported without a reason, as the terminal offers it for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnattributedStop {
    /// The `at` of the `machine_state_changed` to `down` that began it: what a
    /// `stop_reason_given` names as its `since`.
    pub since: DateTime<Utc>,
    /// When the machine left `down` (a later state change); absent while it is still down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DateTime<Utc>>,
}

/// What was issued to one operation of one work order, and the finished lots made so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Issued {
    #[serde(default)]
    pub by_item: BTreeMap<ItemId, Decimal>,
    /// A set: the repeat check on every issue stays cheap however many lots an order takes.
    #[serde(default)]
    pub lots: std::collections::BTreeSet<LotId>,
    #[serde(default)]
    pub lots_produced: u32,
    /// What the finished lots completed here hold together, in the order's unit.
    #[serde(default)]
    pub qty_produced: Decimal,
}

/// The scan processor's memory: every station's state, what each work order's operations got,
/// and where lots were last put. Sans-I/O: [`Floor::scan`] decides and records, the
/// processor commits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Floor {
    pub stations: BTreeMap<StationId, StationState>,
    pub issued: BTreeMap<(WorkOrderId, u32), Issued>,
    /// Where each lot was last put, and when.
    pub lot_locations: BTreeMap<LotId, (LocationId, DateTime<Utc>)>,
    /// What was issued from each lot since the plan version that gave its stock.
    pub drawn: BTreeMap<LotId, Drawn>,
    /// What was shipped of each sales order line since the plan version that gave its open
    /// quantity.
    pub shipped: BTreeMap<(SalesOrderId, u32), Drawn>,
    /// The material requisitions asked at the stations, by the id of their event.
    pub asked: BTreeMap<String, Asked>,
    /// The line's limits on quantities (from the configuration).
    pub limits: Limits,
    /// Since when each order with records here has been out of the plan (not saved: after a
    /// restart the count starts again, which only delays forgetting it).
    pub absent_since: BTreeMap<WorkOrderId, DateTime<Utc>>,
}

/// What [`Floor::prune`] forgot: the state keys to delete (empty values) and the orders.
#[derive(Debug, Default, PartialEq)]
pub struct Pruned {
    pub state: Vec<(String, String)>,
    pub orders: Vec<WorkOrderId>,
    pub lots: usize,
}

/// The limits a line sets on what operators may record (`[limits]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The largest quantity one scan or lot may hold, by unit; other units are limited by
    /// [`protocol::bounds::MAX_QTY`].
    pub max_qty: BTreeMap<String, Decimal>,
    /// How far the finished lots of a work order may go beyond its quantity, in percent,
    /// before a supervisor must approve.
    pub completion_tolerance_pct: Decimal,
    /// How long what the floor remembers of an order is kept once the order has left the
    /// plan, and a lot's place once nobody moved it (the journal's `retention`).
    pub retention: chrono::TimeDelta,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_qty: BTreeMap::new(),
            completion_tolerance_pct: Decimal::ZERO,
            retention: chrono::TimeDelta::days(7),
        }
    }
}

impl Limits {
    /// The largest quantity accepted in `uom`.
    pub fn max_qty(&self, uom: &str) -> Decimal {
        self.max_qty
            .get(uom)
            .copied()
            .unwrap_or(bounds::MAX_QTY)
            .min(bounds::MAX_QTY)
    }

    /// `qty` checked against the bounds of its unit; the refusal names the field.
    fn check_qty(&self, field: &str, qty: Decimal, uom: &str) -> Result<(), Refusal> {
        bounds::check_qty_within(field, qty, self.max_qty(uom)).map_err(|v| Refusal {
            reason: "bad_quantity",
            message: format!("{} {uom}: {}", qty.normalize(), v.problem),
            params: BTreeMap::from([
                ("qty", qty.normalize().to_string()),
                ("uom", uom.to_owned()),
            ]),
        })
    }
}

/// One decided scan: the events to commit (the first one is the scan's own), the state to
/// commit with them, and the outcome to send once they are committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub events: Vec<EventBody>,
    pub state: Vec<(String, String)>,
    pub outcome: ScanOutcome,
}

impl Floor {
    /// Rebuilds the floor from the journal's state pairs (any order, unknown keys ignored; a
    /// value that does not parse is reported and skipped).
    pub fn restore(pairs: impl IntoIterator<Item = (String, String)>) -> Floor {
        let mut floor = Floor::default();
        for (key, value) in pairs {
            if let Some(station) = key.strip_prefix(STATION_PREFIX) {
                match serde_json::from_str(&value) {
                    Ok(state) => {
                        floor.stations.insert(station.into(), state);
                    }
                    Err(e) => {
                        tracing::error!(key, error = %e, "cannot read a station's saved state")
                    }
                }
            } else if let Some(rest) = key.strip_prefix(ISSUED_PREFIX) {
                // `scan/issued/{operation}/{work order}`: the operation first, as work order
                // numbers may hold a `/`.
                let parsed = rest.split_once('/').and_then(|(op, wo)| {
                    let issued = serde_json::from_str(&value).ok()?;
                    Some(((WorkOrderId::from(wo), op.parse().ok()?), issued))
                });
                match parsed {
                    Some((k, issued)) => {
                        floor.issued.insert(k, issued);
                    }
                    None => tracing::error!(key, "cannot read what was issued to a work order"),
                }
            } else if let Some(lot) = key.strip_prefix(LOT_LOCATION_PREFIX) {
                // `{"location": …, "at": …}`; a plain location from before times were kept
                // counts from now.
                let place = serde_json::from_str::<LotPlace>(&value)
                    .map(|p| (p.location, p.at))
                    .unwrap_or_else(|_| (LocationId::from(value.as_str()), Utc::now()));
                floor.lot_locations.insert(lot.into(), place);
            } else if let Some(rest) = key.strip_prefix(SHIPPED_PREFIX) {
                // `scan/shipped/{line}/{order}`: the line first, as order numbers may hold a
                // `/`.
                let parsed = rest.split_once('/').and_then(|(line, order)| {
                    let shipped = serde_json::from_str(&value).ok()?;
                    Some(((SalesOrderId::from(order), line.parse().ok()?), shipped))
                });
                match parsed {
                    Some((k, shipped)) => {
                        floor.shipped.insert(k, shipped);
                    }
                    None => tracing::error!(key, "cannot read what was shipped of an order line"),
                }
            } else if let Some(id) = key.strip_prefix(ASKED_PREFIX) {
                match serde_json::from_str(&value) {
                    Ok(asked) => {
                        floor.asked.insert(id.to_owned(), asked);
                    }
                    Err(e) => tracing::error!(key, error = %e, "cannot read a requisition"),
                }
            } else if let Some(lot) = key.strip_prefix(DRAWN_PREFIX) {
                match serde_json::from_str(&value) {
                    Ok(drawn) => {
                        floor.drawn.insert(lot.into(), drawn);
                    }
                    Err(e) => tracing::error!(key, error = %e, "cannot read what a lot gave"),
                }
            }
        }
        floor
    }

    /// Forgets what the floor no longer needs, so its memory stays flat over months: what
    /// was issued to and produced by orders that have been out of the plan (and not running
    /// anywhere) for the retention, and where lots were put when nobody moved them for as long.
    /// `also`: other orders the caller keeps records of (their counts), forgotten by the same
    /// rule. Without a plan nothing is forgotten (the edge may not have received one yet).
    pub fn prune(
        &mut self,
        plan: Option<&Plan>,
        now: DateTime<Utc>,
        also: impl IntoIterator<Item = WorkOrderId>,
    ) -> Pruned {
        let mut pruned = Pruned::default();
        let Some(plan) = plan else {
            return pruned;
        };
        let retention = self.limits.retention;
        let mut orders: std::collections::BTreeSet<WorkOrderId> =
            self.issued.keys().map(|(wo, _)| wo.clone()).collect();
        orders.extend(self.asked.values().map(|a| a.work_order.clone()));
        orders.extend(also);
        let running: std::collections::BTreeSet<&WorkOrderId> = self
            .stations
            .values()
            .filter_map(|s| s.work_order.as_ref())
            .collect();
        let mut forget = Vec::new();
        for wo in orders {
            if plan.work_order(wo.as_str()).is_some() || running.contains(&wo) {
                self.absent_since.remove(&wo);
                continue;
            }
            let since = *self.absent_since.entry(wo.clone()).or_insert(now);
            if now - since >= retention {
                forget.push(wo);
            }
        }
        for wo in forget {
            let keys: Vec<(WorkOrderId, u32)> = self
                .issued
                .keys()
                .filter(|(w, _)| *w == wo)
                .cloned()
                .collect();
            for key in keys {
                self.issued.remove(&key);
                pruned
                    .state
                    .push((format!("{ISSUED_PREFIX}{}/{}", key.1, key.0), String::new()));
            }
            let asked: Vec<String> = self
                .asked
                .iter()
                .filter(|(_, a)| a.work_order == wo)
                .map(|(id, _)| id.clone())
                .collect();
            for id in asked {
                self.asked.remove(&id);
                pruned
                    .state
                    .push((format!("{ASKED_PREFIX}{id}"), String::new()));
            }
            self.absent_since.remove(&wo);
            pruned.orders.push(wo);
        }
        let old: Vec<LotId> = self
            .lot_locations
            .iter()
            .filter(|(_, (_, at))| now - *at >= retention)
            .map(|(lot, _)| lot.clone())
            .collect();
        for lot in old {
            self.lot_locations.remove(&lot);
            pruned
                .state
                .push((format!("{LOT_LOCATION_PREFIX}{lot}"), String::new()));
            pruned.lots += 1;
        }
        // What was drawn under an older plan no longer counts: its stock came again since.
        let stale: Vec<LotId> = self
            .drawn
            .iter()
            .filter(|(_, d)| d.plan != plan.version)
            .map(|(lot, _)| lot.clone())
            .collect();
        for lot in stale {
            self.drawn.remove(&lot);
            pruned
                .state
                .push((format!("{DRAWN_PREFIX}{lot}"), String::new()));
        }
        // Likewise what was shipped: the newer plan's open quantities count it.
        let stale: Vec<(SalesOrderId, u32)> = self
            .shipped
            .iter()
            .filter(|(_, d)| d.plan != plan.version)
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            self.shipped.remove(&key);
            pruned.state.push((
                format!("{SHIPPED_PREFIX}{}/{}", key.1, key.0),
                String::new(),
            ));
        }
        pruned
    }

    /// The work order (and operation) started at each station, for attributing counts.
    pub fn started(&self) -> BTreeMap<StationId, (WorkOrderId, Option<u32>)> {
        self.stations
            .iter()
            .filter_map(|(s, st)| Some((s.clone(), (st.work_order.clone()?, st.operation))))
            .collect()
    }

    /// The work orders a signed-in operator started, by station: the only ones whose
    /// parameters are written to a PLC.
    pub fn started_by_operator(&self) -> BTreeMap<StationId, (WorkOrderId, Option<u32>)> {
        self.stations
            .iter()
            .filter(|(_, st)| st.started_by.is_some())
            .filter_map(|(s, st)| Some((s.clone(), (st.work_order.clone()?, st.operation))))
            .collect()
    }

    /// Decides what one scan means and records its effect in the floor.
    pub fn scan(&mut self, request: &ScanRequest, plan: Option<&Plan>) -> Decision {
        let today = request.at.with_timezone(&Local).date_naive();
        let reading = barcode::parse(&request.raw, chrono::Datelike::year(&today));
        let mut d = Deciding::new(self, request);
        let verdict = d.decide(&reading, plan, today);
        let (events, state) = (d.events, d.state);
        conclude(request, kind_of(&reading), verdict, events, state)
    }

    /// A station command from the terminal (no code scanned): sign in or out, complete a lot,
    /// give a stop's reason.
    pub fn command(&mut self, command: &StationCommand, plan: Option<&Plan>) -> Decision {
        let as_request = command.as_request();
        let mut d = Deciding::new(self, &as_request);
        let verdict = match &command.action {
            StationAction::SignIn { badge, pin } => d.badge(badge, *pin, plan),
            StationAction::SignOut => d.sign_out(),
            StationAction::CompleteLot { qty, approved_by } => {
                d.complete_lot(*qty, approved_by.as_ref(), plan)
            }
            StationAction::GiveStopReason { reason, since } => {
                d.give_stop_reason(reason, *since, plan)
            }
            StationAction::RequestMaterial {
                item,
                qty,
                uom,
                reason,
            } => d.request_material(item, *qty, uom.as_deref(), reason, plan),
        };
        let (events, state) = (d.events, d.state);
        let mut decision = conclude(&as_request, None, verdict, events, state);
        if decision.outcome.action == Some("lot_completed") {
            decision.outcome.lot = decision
                .outcome
                .params
                .get("lot")
                .map(|l| LotId::from(l.as_str()));
        }
        decision
    }
}

/// Turns a verdict into the events to commit and the outcome to send after: a refusal
/// becomes one scan-rejected event and changes nothing else.
fn conclude(
    request: &ScanRequest,
    kind: Option<&'static str>,
    verdict: Result<Accepted, Refusal>,
    events: Vec<EventBody>,
    mut state: Vec<(String, String)>,
) -> Decision {
    let (mut outcome, events) = match verdict {
        Ok(accepted) => (
            ScanOutcome {
                result: ScanResult::Accepted,
                kind,
                action: Some(accepted.action),
                lot: None,
                reason: None,
                warning: accepted.warning,
                message: accepted.message,
                params: accepted.params,
                seq: None,
                event_id: None,
            },
            events,
        ),
        Err(mut refusal) => {
            // Nothing of a refused scan changes the floor but the refusal itself.
            state.clear();
            // The code and the reason may quote anything a scanner sent: kept printable and
            // bounded, so the refusal itself is always a fact the journal and central take.
            refusal.message = bounds::sanitize_text(&refusal.message);
            let event = EventBody {
                id: EventId(uuid::Uuid::now_v7()),
                at: request.at,
                source: source_of(request),
                kind: EventKind::ScanRejected {
                    raw: bounds::sanitize(&request.raw, bounds::MAX_CODE_LEN, true),
                    reason: refusal.message.clone(),
                },
            };
            (
                ScanOutcome {
                    result: ScanResult::Rejected,
                    kind,
                    action: None,
                    lot: None,
                    reason: Some(refusal.reason),
                    warning: None,
                    message: refusal.message,
                    params: refusal.params,
                    seq: None,
                    event_id: None,
                },
                vec![event],
            )
        }
    };
    outcome.event_id = events.last().map(|e| e.id);
    Decision {
        events,
        state,
        outcome,
    }
}

impl Floor {
    /// Follows the machines' states in a batch about to be committed, and keeps per station
    /// the last unplanned stop that has no reason: a `down` without one begins it (a `down`
    /// without one while it is open continues it), any other state ends it (it stays, ended,
    /// for a reason to be given), a `down` with a reason replaces it (the station's last stop
    /// is then attributed). A state stamped before the stop began is a late message and
    /// changes nothing. Returns the station states to commit with the batch.
    pub fn track_stops(&mut self, events: &[EventBody]) -> Vec<(String, String)> {
        use protocol::MachineState;
        let mut changed: Vec<StationId> = Vec::new();
        for e in events {
            let (EventKind::MachineStateChanged { state, reason }, Some(station)) =
                (&e.kind, &e.source.station)
            else {
                continue;
            };
            let stop = self
                .stations
                .get(station)
                .and_then(|s| s.unattributed_stop.as_ref());
            if stop.is_some_and(|s| e.at < s.since) {
                continue;
            }
            let next = match (state, reason, stop) {
                (MachineState::Down, None, Some(open)) if open.ended.is_none() => continue,
                (MachineState::Down, None, _) => Some(UnattributedStop {
                    since: e.at,
                    ended: None,
                }),
                (MachineState::Down, Some(_), _) => None,
                (_, _, Some(open)) if open.ended.is_none() => Some(UnattributedStop {
                    since: open.since,
                    ended: Some(e.at),
                }),
                (_, _, other) => other.cloned(),
            };
            if stop != next.as_ref() {
                self.stations
                    .entry(station.clone())
                    .or_default()
                    .unattributed_stop = next;
                if !changed.contains(station) {
                    changed.push(station.clone());
                }
            }
        }
        changed.iter().map(|s| self.save_station(s)).collect()
    }

    fn save_station(&self, station: &StationId) -> (String, String) {
        let state = self.stations.get(station).cloned().unwrap_or_default();
        (
            format!("{STATION_PREFIX}{station}"),
            serde_json::to_string(&state).unwrap_or_default(),
        )
    }

    fn save_issued(&self, key: &(WorkOrderId, u32)) -> (String, String) {
        let issued = self.issued.get(key).cloned().unwrap_or_default();
        (
            format!("{ISSUED_PREFIX}{}/{}", key.1, key.0),
            serde_json::to_string(&issued).unwrap_or_default(),
        )
    }
}

fn source_of(request: &ScanRequest) -> Source {
    Source {
        device: request.device.clone(),
        station: Some(request.station.clone()),
    }
}

fn kind_of(reading: &Reading) -> Option<&'static str> {
    match reading {
        Reading::Gs1 { .. } => Some("gs1"),
        Reading::Label { code, .. } => Some(match code {
            LabelCode::WorkOrder(_) => "work_order",
            LabelCode::MaterialLot(_) => "material_lot",
            LabelCode::Location(_) => "location",
            LabelCode::Operator(_) => "operator",
            LabelCode::Station(_) => "station",
            LabelCode::SalesOrder(_) => "sales_order",
        }),
        Reading::Rejected { .. } => None,
    }
}

struct Accepted {
    action: &'static str,
    /// Accepted, but the operator should look: a code the terminal translates.
    warning: Option<&'static str>,
    message: String,
    params: BTreeMap<&'static str, String>,
}

struct Refusal {
    reason: &'static str,
    message: String,
    params: BTreeMap<&'static str, String>,
}

fn refuse<const N: usize>(
    reason: &'static str,
    message: String,
    params: [(&'static str, String); N],
) -> Result<Accepted, Refusal> {
    Err(Refusal {
        reason,
        message,
        params: BTreeMap::from(params),
    })
}

fn accept<const N: usize>(
    action: &'static str,
    message: String,
    params: [(&'static str, String); N],
) -> Result<Accepted, Refusal> {
    Ok(Accepted {
        action,
        warning: None,
        message,
        params: BTreeMap::from(params),
    })
}

/// A material lot however it was labelled: ours, or a supplier's GS1 label.
struct LotScan {
    item: ItemId,
    lot: LotId,
    qty: Decimal,
    uom: String,
    /// From a GS1 label's expiry date (17).
    expires: Option<NaiveDate>,
    /// From a GS1 label's order number (400): the purchase order the goods came against.
    purchase_order: Option<String>,
}

struct Deciding<'a> {
    floor: &'a mut Floor,
    station: &'a StationId,
    at: DateTime<Utc>,
    source: Source,
    events: Vec<EventBody>,
    state: Vec<(String, String)>,
}

impl<'a> Deciding<'a> {
    /// Deciding `request` at its station: its events come from its device and station.
    fn new(floor: &'a mut Floor, request: &'a ScanRequest) -> Deciding<'a> {
        Deciding {
            floor,
            station: &request.station,
            at: request.at,
            source: source_of(request),
            events: Vec::new(),
            state: Vec::new(),
        }
    }

    fn emit(&mut self, kind: EventKind) {
        self.events.push(EventBody {
            id: EventId(uuid::Uuid::now_v7()),
            at: self.at,
            source: self.source.clone(),
            kind,
        });
    }

    fn station_state(&mut self) -> &mut StationState {
        self.floor.stations.entry(self.station.clone()).or_default()
    }

    fn save_station(&mut self) {
        let pair = self.floor.save_station(self.station);
        self.state.push(pair);
    }

    fn decide(
        &mut self,
        reading: &Reading,
        plan: Option<&Plan>,
        today: NaiveDate,
    ) -> Result<Accepted, Refusal> {
        match reading {
            Reading::Rejected { reason } => refuse(
                "unknown_code",
                format!("not understood: {reason}"),
                [("detail", reason.clone())],
            ),
            Reading::Label { code, .. } => match code {
                LabelCode::Operator(badge) => self.badge(badge, PinCheck::NotGiven, plan),
                LabelCode::WorkOrder(wo) => self.start(wo, plan),
                LabelCode::SalesOrder(order) => self.ship_order(order, plan),
                LabelCode::Location(location) => self.location(location),
                LabelCode::Station(station) => {
                    if station == self.station {
                        accept(
                            "station_checked",
                            format!("this is station {station}"),
                            [("station", station.to_string())],
                        )
                    } else {
                        refuse(
                            "other_station",
                            format!("this label is for station {station}, not {}", self.station),
                            [("station", station.to_string())],
                        )
                    }
                }
                LabelCode::MaterialLot(MaterialLotCode {
                    item,
                    lot,
                    qty,
                    uom,
                    work_order: _,
                }) => self.lot(
                    LotScan {
                        item: item.clone(),
                        lot: lot.clone(),
                        qty: *qty,
                        uom: uom.clone(),
                        expires: None,
                        purchase_order: None,
                    },
                    plan,
                    today,
                ),
            },
            Reading::Gs1 { .. } => {
                let lot = gs1_lot(reading, plan)?;
                self.lot(lot, plan, today)
            }
        }
    }

    /// A badge at a station: signs its operator in (the same badge again signs out). Only a
    /// badge of central's operator registry signs in, with its PIN where it has one.
    fn badge(
        &mut self,
        badge: &OperatorId,
        pin: PinCheck,
        plan: Option<&Plan>,
    ) -> Result<Accepted, Refusal> {
        let previous = self.station_state().operator.clone();
        if previous.as_ref() == Some(badge) {
            // The same badge again signs out: how operators leave a shared terminal.
            self.station_state().operator = None;
            self.emit(EventKind::OperatorSignedOut {
                operator: badge.clone(),
            });
            self.save_station();
            return accept(
                "signed_out",
                format!("{badge} signed out"),
                [("operator", badge.to_string())],
            );
        }
        let Some(operator) = plan.and_then(|p| p.operator(badge.as_str())) else {
            return refuse(
                "unknown_badge",
                format!("badge {badge} is not in the operator registry central sent this line"),
                [("operator", badge.to_string())],
            );
        };
        if operator.pin_hash.is_some() {
            match pin {
                PinCheck::Verified => {}
                PinCheck::NotGiven => {
                    return refuse(
                        "pin_required",
                        format!("{badge} signs in with a PIN: enter it at the line terminal"),
                        [("operator", badge.to_string())],
                    );
                }
                PinCheck::Wrong => {
                    return refuse(
                        "wrong_pin",
                        format!("wrong PIN for badge {badge}"),
                        [("operator", badge.to_string())],
                    );
                }
                PinCheck::Locked => {
                    return refuse(
                        "pin_locked",
                        format!("too many wrong PINs for badge {badge}; wait a few minutes"),
                        [("operator", badge.to_string())],
                    );
                }
            }
        }
        let name = operator.name.clone();
        if let Some(previous) = previous {
            self.emit(EventKind::OperatorSignedOut { operator: previous });
        }
        self.station_state().operator = Some(badge.clone());
        self.emit(EventKind::OperatorSignedIn {
            operator: badge.clone(),
        });
        self.save_station();
        accept(
            "signed_in",
            format!("{name} ({badge}) signed in"),
            [("operator", badge.to_string()), ("name", name)],
        )
    }

    /// The reason for the station's stop that began at `since`. Taken only for the station's
    /// last stop, and only while it has no reason: still open, or ended since (short stops are
    /// often over before anyone reaches the terminal). An older stop, or one already
    /// attributed, is refused: its reason can no longer be told apart from the last one's.
    /// With a list of reasons in the plan the reason must be one of its codes; without one it
    /// is free text.
    fn give_stop_reason(
        &mut self,
        reason: &str,
        since: DateTime<Utc>,
        plan: Option<&Plan>,
    ) -> Result<Accepted, Refusal> {
        let since_text = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let Some(stop) = self.station_state().unattributed_stop.clone() else {
            return refuse(
                "no_open_stop",
                format!(
                    "station {} has no stop without a reason (the one since {since_text} has one already, or was never reported)",
                    self.station
                ),
                [("since", since_text)],
            );
        };
        if stop.since != since {
            return refuse(
                "other_stop",
                format!(
                    "the stop since {since_text} is not station {}'s last stop without a reason; that one began at {}",
                    self.station,
                    stop.since
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                [
                    ("since", since_text),
                    (
                        "last",
                        stop.since
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ),
                ],
            );
        }
        if let Err(v) = bounds::check_reason("reason", reason) {
            return refuse(
                "bad_reason",
                format!("the stop reason {}", v.problem),
                [("detail", v.problem)],
            );
        }
        let list = plan.map(|p| p.rules().stop_reasons).unwrap_or_default();
        if !list.is_empty() && !list.iter().any(|r| r.code == reason) {
            return refuse(
                "unknown_stop_reason",
                format!("{reason} is not one of the plant's stop reasons"),
                [("reason", reason.to_owned())],
            );
        }
        self.station_state().unattributed_stop = None;
        // A device's clock may run a little ahead of the edge's: the reason is never recorded
        // as given before the stop began.
        let at = self.at.max(since);
        self.events.push(EventBody {
            id: EventId(uuid::Uuid::now_v7()),
            at,
            source: self.source.clone(),
            kind: EventKind::StopReasonGiven {
                reason: reason.to_owned(),
                since,
            },
        });
        self.save_station();
        accept(
            "stop_reason_given",
            format!(
                "the stop of station {} since {since_text} was for {reason}",
                self.station
            ),
            [("reason", reason.to_owned()), ("since", since_text)],
        )
    }

    /// Signs out whoever is signed in (the terminal's sign-out button).
    fn sign_out(&mut self) -> Result<Accepted, Refusal> {
        let Some(operator) = self.station_state().operator.take() else {
            return refuse(
                "not_signed_in",
                "nobody is signed in at this station".into(),
                [],
            );
        };
        self.emit(EventKind::OperatorSignedOut {
            operator: operator.clone(),
        });
        self.save_station();
        accept(
            "signed_out",
            format!("{operator} signed out"),
            [("operator", operator.to_string())],
        )
    }

    /// A finished lot of the running order: it must hold something, and together with the
    /// lots completed before it at most the order's quantity plus the line's tolerance, unless
    /// a supervisor approves.
    fn complete_lot(
        &mut self,
        qty: Decimal,
        approved_by: Option<&OperatorId>,
        plan: Option<&Plan>,
    ) -> Result<Accepted, Refusal> {
        let state = self.station_state().clone();
        let Some((wo, operation)) = self.running(plan) else {
            return refuse(
                "no_work_order",
                format!("no work order is running at station {}", self.station),
                [],
            );
        };
        let Some(order) = plan.and_then(|p| p.work_order(wo.as_str())) else {
            return refuse(
                "unknown_work_order",
                format!("work order {wo} is no longer in this line's plan"),
                [("work_order", wo.to_string())],
            );
        };
        if state.operator.is_none() {
            return refuse(
                "not_signed_in",
                format!(
                    "nobody is signed in at station {}: sign in before completing a lot",
                    self.station
                ),
                [],
            );
        }
        self.floor.limits.check_qty("qty", qty, &order.uom)?;
        let key = (wo.clone(), operation);
        let produced = self
            .floor
            .issued
            .get(&key)
            .map(|i| i.qty_produced)
            .unwrap_or_default();
        // The line's own tolerance, or the plant's where central sets a larger one.
        let tolerance = plan
            .map(|p| p.rules().over_tolerance_pct)
            .unwrap_or_default()
            .max(self.floor.limits.completion_tolerance_pct);
        let allowed = protocol::PlanRules {
            over_tolerance_pct: tolerance,
            ..Default::default()
        }
        .with_tolerance(order.qty)
        .unwrap_or(order.qty);
        let open = allowed
            .checked_sub(produced)
            .unwrap_or_default()
            .max(Decimal::ZERO);
        let total = produced.checked_add(qty);
        if total.is_none_or(|t| t > allowed) {
            let supervisor = approved_by.and_then(|b| plan.and_then(|p| p.operator(b.as_str())));
            if !supervisor.is_some_and(|s| s.has_skill(protocol::SUPERVISOR_SKILL)) {
                return refuse(
                    "over_completion",
                    format!(
                        "lots of {wo} would hold {} {} against an order of {} {}: at most {} more without a supervisor's approval",
                        total.unwrap_or(Decimal::MAX).normalize(),
                        order.uom,
                        order.qty.normalize(),
                        order.uom,
                        open.normalize()
                    ),
                    [
                        ("work_order", wo.to_string()),
                        ("qty", qty.normalize().to_string()),
                        ("open", open.normalize().to_string()),
                        ("uom", order.uom.clone()),
                    ],
                );
            }
        }
        let entry = self.floor.issued.entry(key.clone()).or_default();
        entry.lots_produced = entry.lots_produced.saturating_add(1);
        entry.qty_produced = total.unwrap_or(entry.qty_produced);
        // Work order numbers are unique, so `{work order}-{n}` is a unique lot number
        // without asking central.
        let lot = LotId::from(format!("{wo}-{:03}", entry.lots_produced).as_str());
        if let Err(v) = bounds::check_id("lot", lot.as_str()) {
            return refuse(
                "bad_code",
                format!("no lot number fits: {v}"),
                [("work_order", wo.to_string())],
            );
        }
        let consumed_lots = entry
            .lots
            .iter()
            .take(bounds::MAX_CONSUMED_LOTS)
            .cloned()
            .collect();
        let pair = self.floor.save_issued(&key);
        self.state.push(pair);
        let (item, uom) = (order.item.clone(), order.uom.clone());
        // Made to order: the operator is told whom the lot is for (the first order line).
        let made_for = order
            .made_for
            .first()
            .map(|m| (m.customer_name.clone(), m.order.clone()));
        let message = match approved_by {
            Some(by) if total.is_none_or(|t| t > allowed) => format!(
                "lot {lot} of {item} completed: {} {uom}, beyond the order, approved by {by}",
                qty.normalize()
            ),
            _ => format!("lot {lot} of {item} completed: {} {uom}", qty.normalize()),
        };
        let params = [
            ("lot", lot.to_string()),
            ("item", item.to_string()),
            ("qty", qty.normalize().to_string()),
            ("uom", uom.clone()),
            ("work_order", wo.to_string()),
        ];
        self.emit(EventKind::LotProduced {
            work_order: wo,
            item,
            lot,
            qty,
            uom,
            consumed_lots,
        });
        match made_for {
            Some((customer, for_order)) => {
                let [a, b, c, d, e] = params;
                accept(
                    "lot_completed",
                    format!("{message}, for {customer} ({for_order})"),
                    [a, b, c, d, e, ("customer", customer), ("order", for_order)],
                )
            }
            None => accept("lot_completed", message, params),
        }
    }

    fn start(&mut self, wo: &WorkOrderId, plan: Option<&Plan>) -> Result<Accepted, Refusal> {
        let Some(plan) = plan else {
            return refuse(
                "no_plan",
                "this edge has no plan from central yet, so no work order can start".into(),
                [],
            );
        };
        let Some(order) = plan.work_order(wo.as_str()) else {
            return refuse(
                "unknown_work_order",
                format!("work order {wo} is not in this line's plan"),
                [("work_order", wo.to_string())],
            );
        };
        if order.on_hold {
            return refuse(
                "work_order_on_hold",
                format!("work order {wo} is on hold"),
                [("work_order", wo.to_string())],
            );
        }
        let Some(op) = order.operation_at(self.station.as_str()) else {
            return refuse(
                "work_order_not_at_station",
                format!(
                    "work order {wo} has no operation at station {}",
                    self.station
                ),
                [
                    ("work_order", wo.to_string()),
                    ("station", self.station.to_string()),
                ],
            );
        };
        let operation = op.operation;
        let Some(operator) = self.station_state().operator.clone() else {
            return refuse(
                "not_signed_in",
                format!(
                    "nobody is signed in at station {}: scan your badge before the work order",
                    self.station
                ),
                [("work_order", wo.to_string())],
            );
        };
        if let Some(skill) = &op.skill {
            let qualified = plan
                .operator(operator.as_str())
                .is_some_and(|o| o.has_skill(skill));
            if !qualified {
                return refuse(
                    "missing_skill",
                    format!(
                        "{operator} is not qualified for operation {operation} of {wo} ({skill})"
                    ),
                    [
                        ("operator", operator.to_string()),
                        ("skill", skill.clone()),
                        ("work_order", wo.to_string()),
                    ],
                );
            }
        }
        let state = self.station_state();
        if state.work_order.as_ref() == Some(wo) && state.operation == Some(operation) {
            return accept(
                "started",
                format!("work order {wo} is already running here"),
                [
                    ("work_order", wo.to_string()),
                    ("operation", operation.to_string()),
                ],
            );
        }
        if let Some(previous) = state.work_order.clone() {
            self.emit(EventKind::WorkOrderPaused {
                work_order: previous,
                reason: Some(format!("{wo} started at {}", self.station)),
            });
        }
        let state = self.station_state();
        state.work_order = Some(wo.clone());
        state.operation = Some(operation);
        state.started_by = Some(operator);
        self.emit(EventKind::WorkOrderStarted {
            work_order: wo.clone(),
            operation: Some(operation),
        });
        self.save_station();
        accept(
            "started",
            format!("work order {wo} started, operation {operation}"),
            [
                ("work_order", wo.to_string()),
                ("operation", operation.to_string()),
            ],
        )
    }

    fn location(&mut self, location: &LocationId) -> Result<Accepted, Refusal> {
        let state = self.station_state();
        let shipping = state.shipping.as_ref().map(|s| s.order.clone());
        if state.location.as_ref() == Some(location) {
            state.location = None;
            self.save_station();
            return accept(
                "location_cleared",
                match shipping {
                    Some(order) => {
                        format!("lots for {order} are no longer picked from {location}")
                    }
                    None => format!("lots are no longer put to {location}"),
                },
                [("location", location.to_string())],
            );
        }
        state.location = Some(location.clone());
        self.save_station();
        match shipping {
            Some(order) => accept(
                "pick_location_set",
                format!("lots scanned next are picked from {location} and shipped on {order}"),
                [
                    ("location", location.to_string()),
                    ("order", order.to_string()),
                ],
            ),
            None => accept(
                "location_set",
                format!("lots scanned next are put to {location}"),
                [("location", location.to_string())],
            ),
        }
    }

    /// A sales order's label: starts shipping it here (a new shipment, picked location
    /// first), or, scanned again while it ships, ends its shipment. Only an order the plan
    /// lists open lines of starts.
    fn ship_order(
        &mut self,
        order: &SalesOrderId,
        plan: Option<&Plan>,
    ) -> Result<Accepted, Refusal> {
        let Some(plan) = plan else {
            return refuse(
                "no_plan",
                "this edge has no plan from central yet, so no order can ship".into(),
                [],
            );
        };
        let state = self.station_state();
        if state.shipping.as_ref().is_some_and(|s| &s.order == order) {
            let ended = state.shipping.take();
            state.location = None;
            self.save_station();
            let n_lots = ended.map(|s| s.lots.len()).unwrap_or_default();
            return accept(
                "shipment_closed",
                format!("shipment of {order} closed: {n_lots} lots shipped"),
                [("order", order.to_string()), ("lots", n_lots.to_string())],
            );
        }
        let lines: Vec<&PlanShipment> = plan.shipment_lines(order.as_str()).collect();
        let Some(first) = lines.first() else {
            return refuse(
                "order_not_open",
                format!("sales order {order} has no open line to ship in this edge's plan"),
                [("order", order.to_string())],
            );
        };
        let customer = format!("{} {}", first.customer, first.customer_name)
            .trim()
            .to_owned();
        let open = self.open_lines(plan, order);
        let state = self.station_state();
        // Location first: a place scanned before the order is not where its lots are picked.
        state.location = None;
        state.shipping = Some(Shipping {
            order: order.clone(),
            shipment: uuid::Uuid::now_v7().to_string(),
            lots: Default::default(),
        });
        self.save_station();
        accept(
            "shipping_started",
            format!("shipping {order} to {customer}, open: {open}; scan the location to pick from"),
            [
                ("order", order.to_string()),
                ("customer", customer),
                ("open", open),
            ],
        )
    }

    /// What this edge may still ship of `line` under `plan`: its open quantity less what the
    /// edge shipped of it since that plan.
    fn still_open(&self, plan: &Plan, line: &PlanShipment) -> Decimal {
        let shipped = self
            .floor
            .shipped
            .get(&(line.order.clone(), line.line))
            .filter(|d| d.plan == plan.version)
            .map(|d| d.qty)
            .unwrap_or_default();
        line.open_qty
            .checked_sub(shipped)
            .unwrap_or_default()
            .max(Decimal::ZERO)
    }

    /// The order's lines still open, for the operator: `line 1 BRACKET 300 pcs, …`, or
    /// `nothing`.
    fn open_lines(&self, plan: &Plan, order: &SalesOrderId) -> String {
        let open: Vec<String> = plan
            .shipment_lines(order.as_str())
            .filter_map(|l| {
                let left = self.still_open(plan, l);
                (left > Decimal::ZERO)
                    .then(|| format!("line {} {} {} {}", l.line, l.item, left.normalize(), l.uom))
            })
            .collect();
        if open.is_empty() {
            "nothing".to_owned()
        } else {
            open.join(", ")
        }
    }

    /// A lot scanned while the station ships an order, after the location it is picked from:
    /// shipped on the order's open line of its item, if it fits what is still open, it is
    /// where it was scanned and it was not shipped in this shipment already. Held and expired
    /// lots were refused before.
    fn ship(
        &mut self,
        scan: LotScan,
        shipping: Shipping,
        location: LocationId,
        plan: Option<&Plan>,
    ) -> Result<Accepted, Refusal> {
        let order = &shipping.order;
        let lines: Vec<&PlanShipment> = plan
            .map(|p| p.shipment_lines(order.as_str()).collect())
            .unwrap_or_default();
        let Some(plan) = plan.filter(|_| !lines.is_empty()) else {
            return refuse(
                "order_not_open",
                format!(
                    "sales order {order} has no open line to ship in this edge's plan any more"
                ),
                [("order", order.to_string())],
            );
        };
        if shipping.lots.contains(&scan.lot) {
            return refuse(
                "already_shipped",
                format!("lot {} was already shipped on {order}", scan.lot),
                [("lot", scan.lot.to_string()), ("order", order.to_string())],
            );
        }
        let of_item: Vec<&PlanShipment> = lines
            .iter()
            .copied()
            .filter(|l| l.item == scan.item)
            .collect();
        if of_item.is_empty() {
            let mut items: Vec<String> = Vec::new();
            for line in &lines {
                if !items.iter().any(|i| i == line.item.as_str()) {
                    items.push(line.item.to_string());
                }
            }
            let items = items.join(", ");
            return refuse(
                "not_on_order",
                format!(
                    "{} is not an open line of {order}, which ships {items}",
                    scan.item
                ),
                [
                    ("item", scan.item.to_string()),
                    ("order", order.to_string()),
                    ("items", items),
                ],
            );
        }
        if let Some(line) = of_item.iter().find(|l| l.uom != scan.uom) {
            return refuse(
                "wrong_unit",
                format!(
                    "the label counts {} in {}, the order in {}",
                    scan.item, scan.uom, line.uom
                ),
                [
                    ("item", scan.item.to_string()),
                    ("uom", scan.uom.clone()),
                    ("expected", line.uom.clone()),
                ],
            );
        }
        // The first line of the item that still takes the whole lot.
        let fits = of_item
            .iter()
            .map(|l| (*l, self.still_open(plan, l)))
            .find(|(_, open)| *open >= scan.qty);
        let Some((line, open)) = fits else {
            let open = of_item
                .iter()
                .map(|l| self.still_open(plan, l))
                .max()
                .unwrap_or_default();
            return refuse(
                "over_ship",
                format!(
                    "too much {} for {order}: the lot holds {} {}, the order still takes {} {}",
                    scan.item,
                    scan.qty.normalize(),
                    scan.uom,
                    open.normalize(),
                    scan.uom
                ),
                [
                    ("item", scan.item.to_string()),
                    ("order", order.to_string()),
                    ("qty", scan.qty.normalize().to_string()),
                    ("open", open.normalize().to_string()),
                    ("uom", scan.uom.clone()),
                ],
            );
        };
        let known_at = self
            .floor
            .lot_locations
            .get(&scan.lot)
            .map(|(l, _)| l.clone())
            .or_else(|| plan.lot(scan.lot.as_str()).and_then(|l| l.location.clone()));
        if let Some(known_at) = known_at.filter(|l| *l != location) {
            return refuse(
                "wrong_location",
                format!(
                    "lot {} is at {known_at}, not at {location}: pick it where it is",
                    scan.lot
                ),
                [
                    ("lot", scan.lot.to_string()),
                    ("location", location.to_string()),
                    ("expected", known_at.to_string()),
                ],
            );
        }
        let stock = self.stock_check(&scan, Some(plan))?;
        let key = (order.clone(), line.line);
        let shipped = self
            .floor
            .shipped
            .get(&key)
            .filter(|d| d.plan == plan.version)
            .map(|d| d.qty)
            .unwrap_or_default();
        // `open >= qty` and `open <= open_qty - shipped`, so this sum stays within the line.
        let Some(total) = shipped.checked_add(scan.qty) else {
            return refuse(
                "over_ship",
                format!("too much {} for {order}", scan.item),
                [
                    ("item", scan.item.to_string()),
                    ("order", order.to_string()),
                    ("qty", scan.qty.normalize().to_string()),
                    ("open", open.normalize().to_string()),
                    ("uom", scan.uom.clone()),
                ],
            );
        };
        let line_no = line.line;
        let customer = line.customer.clone();
        self.floor.shipped.insert(
            key.clone(),
            Drawn {
                plan: plan.version,
                qty: total,
            },
        );
        let saved = serde_json::to_string(&self.floor.shipped[&key]).unwrap_or_default();
        self.state
            .push((format!("{SHIPPED_PREFIX}{line_no}/{order}"), saved));
        if let Some((version, drawn)) = stock.drawn {
            self.floor.drawn.insert(
                scan.lot.clone(),
                Drawn {
                    plan: version,
                    qty: drawn,
                },
            );
            let saved = serde_json::to_string(&self.floor.drawn[&scan.lot]).unwrap_or_default();
            self.state
                .push((format!("{DRAWN_PREFIX}{}", scan.lot), saved));
        }
        if let Some(s) = self.station_state().shipping.as_mut() {
            s.lots.insert(scan.lot.clone());
        }
        self.save_station();
        let still = self.open_lines(plan, order);
        let mut message = format!(
            "{} {} of lot {} shipped on {order} line {line_no} to {customer}; still open: {still}",
            scan.qty.normalize(),
            scan.uom,
            scan.lot
        );
        let mut params = BTreeMap::from([
            ("item", scan.item.to_string()),
            ("lot", scan.lot.to_string()),
            ("qty", scan.qty.normalize().to_string()),
            ("uom", scan.uom.clone()),
            ("order", order.to_string()),
            ("line", line_no.to_string()),
            ("location", location.to_string()),
            ("open", still),
        ]);
        let mut warning = None;
        if let Some(short) = stock.short {
            message.push_str(&format!("; warning: {short}"));
            params.extend(stock.params);
            warning = Some("negative_stock");
        }
        self.emit(EventKind::LotShipped {
            order: order.clone(),
            line: line_no,
            item: scan.item,
            lot: scan.lot,
            qty: scan.qty,
            uom: scan.uom,
            location,
            shipment: shipping.shipment,
        });
        Ok(Accepted {
            action: "shipped",
            warning,
            message,
            params,
        })
    }

    fn lot(
        &mut self,
        scan: LotScan,
        plan: Option<&Plan>,
        today: NaiveDate,
    ) -> Result<Accepted, Refusal> {
        let shipping = self.station_state().shipping.clone();
        if let Some(shipping) = &shipping
            && self.station_state().location.is_none()
        {
            return refuse(
                "location_first",
                format!(
                    "scan the location first: where is lot {} picked from for {}?",
                    scan.lot, shipping.order
                ),
                [
                    ("lot", scan.lot.to_string()),
                    ("order", shipping.order.to_string()),
                ],
            );
        }
        self.floor.limits.check_qty("qty", scan.qty, &scan.uom)?;
        let known = plan.and_then(|p| p.lot(scan.lot.as_str()));
        if let Some(known) = known {
            if known.on_hold {
                let why = known.hold_reason.clone().unwrap_or_default();
                return refuse(
                    "on_hold",
                    if why.is_empty() {
                        format!("lot {} is on hold", scan.lot)
                    } else {
                        format!("lot {} is on hold: {why}", scan.lot)
                    },
                    [("lot", scan.lot.to_string()), ("reason", why)],
                );
            }
            if known.item != scan.item {
                return refuse(
                    "lot_item_mismatch",
                    format!(
                        "lot {} is {} according to central, but its label says {}",
                        scan.lot, known.item, scan.item
                    ),
                    [
                        ("lot", scan.lot.to_string()),
                        ("item", scan.item.to_string()),
                        ("expected", known.item.to_string()),
                    ],
                );
            }
        }
        let expires = match (scan.expires, known.and_then(|k| k.expires)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(expires) = expires.filter(|e| *e < today) {
            return refuse(
                "expired",
                format!("lot {} expired on {expires}", scan.lot),
                [
                    ("lot", scan.lot.to_string()),
                    ("expires", expires.to_string()),
                ],
            );
        }
        if let Some(location) = self.station_state().location.clone() {
            if let Some(shipping) = shipping {
                return self.ship(scan, shipping, location, plan);
            }
            return Ok(self.put_away(scan, location, known.and_then(|k| k.location.clone())));
        }
        self.issue(scan, plan)
    }

    /// A lot scanned after a location: received there, or moved there from where it was.
    fn put_away(
        &mut self,
        scan: LotScan,
        to: LocationId,
        central_knows: Option<LocationId>,
    ) -> Accepted {
        let from = self
            .floor
            .lot_locations
            .get(&scan.lot)
            .map(|(l, _)| l.clone())
            .or(central_knows);
        self.floor
            .lot_locations
            .insert(scan.lot.clone(), (to.clone(), self.at));
        let place = LotPlace {
            location: to.clone(),
            at: self.at,
        };
        self.state.push((
            format!("{LOT_LOCATION_PREFIX}{}", scan.lot),
            serde_json::to_string(&place).unwrap_or_default(),
        ));
        let mut params = BTreeMap::from([
            ("item", scan.item.to_string()),
            ("lot", scan.lot.to_string()),
            ("qty", scan.qty.normalize().to_string()),
            ("uom", scan.uom.clone()),
        ]);
        match from {
            Some(from) if from != to => {
                params.insert("from", from.to_string());
                params.insert("to", to.to_string());
                let message = format!(
                    "lot {} moved from {from} to {to}: {} {}",
                    scan.lot,
                    scan.qty.normalize(),
                    scan.uom
                );
                self.emit(EventKind::MaterialMoved {
                    item: scan.item,
                    lot: scan.lot,
                    qty: scan.qty,
                    uom: scan.uom,
                    from,
                    to,
                });
                Accepted {
                    action: "moved",
                    warning: None,
                    message,
                    params,
                }
            }
            _ => {
                params.insert("location", to.to_string());
                let message = format!(
                    "lot {} received at {to}: {} {}",
                    scan.lot,
                    scan.qty.normalize(),
                    scan.uom
                );
                self.emit(EventKind::MaterialReceived {
                    item: scan.item,
                    lot: scan.lot,
                    qty: scan.qty,
                    uom: scan.uom,
                    location: to,
                    purchase_order: scan.purchase_order,
                });
                Accepted {
                    action: "received",
                    warning: None,
                    message,
                    params,
                }
            }
        }
    }

    /// The signed-in operator asks for more material for the running operation: recorded as
    /// a `material_requested` event (central makes it a request for approval) and kept in the
    /// floor, so the terminal shows it waiting, also while central is unreachable.
    fn request_material(
        &mut self,
        item: &ItemId,
        qty: Decimal,
        uom: Option<&str>,
        reason: &str,
        plan: Option<&Plan>,
    ) -> Result<Accepted, Refusal> {
        let Some(operator) = self.station_state().operator.clone() else {
            return refuse(
                "not_signed_in",
                format!(
                    "nobody is signed in at station {}: sign in before asking for material",
                    self.station
                ),
                [],
            );
        };
        let (wo, operation, op) =
            self.running_operation(plan, "material is asked for a running order")?;
        if let Err(v) = bounds::check_id("item", item.as_str()) {
            return refuse(
                "bad_request",
                v.to_string(),
                [("item", bounds::sanitize_text(item.as_str()))],
            );
        }
        let need = op.components.iter().find(|c| &c.item == item);
        let uom = match (need, uom.map(str::trim).filter(|u| !u.is_empty())) {
            (Some(need), Some(given)) if given != need.uom => {
                return refuse(
                    "wrong_unit",
                    format!("{item} is counted in {} for {wo}, not in {given}", need.uom),
                    [
                        ("item", item.to_string()),
                        ("uom", bounds::sanitize_text(given)),
                        ("expected", need.uom.clone()),
                    ],
                );
            }
            (Some(need), _) => need.uom.clone(),
            (None, Some(given)) => {
                if let Err(v) = bounds::check_uom("uom", given) {
                    return refuse(
                        "bad_request",
                        v.to_string(),
                        [("uom", bounds::sanitize_text(given))],
                    );
                }
                given.to_owned()
            }
            (None, None) => {
                return refuse(
                    "no_unit",
                    format!(
                        "{item} is not a component of operation {operation} of {wo}: say in which unit it is asked"
                    ),
                    [("item", item.to_string())],
                );
            }
        };
        self.floor.limits.check_qty("qty", qty, &uom)?;
        let reason = reason.trim();
        if let Err(v) = bounds::check_reason("reason", reason) {
            return refuse("no_reason", v.to_string(), []);
        }
        let asked = self
            .floor
            .asked
            .values()
            .filter(|a| a.work_order == wo)
            .count();
        if asked >= MAX_ASKED_PER_ORDER {
            return refuse(
                "too_many_requisitions",
                format!(
                    "{asked} requisitions were already asked for {wo}; at most {MAX_ASKED_PER_ORDER} are taken for one work order"
                ),
                [("work_order", wo.to_string())],
            );
        }
        self.emit(EventKind::MaterialRequested {
            work_order: wo.clone(),
            operation,
            item: item.clone(),
            qty,
            uom: uom.clone(),
            operator: operator.clone(),
            reason: reason.to_owned(),
        });
        let id = self
            .events
            .last()
            .map(|e| e.id.0.to_string())
            .unwrap_or_default();
        let entry = Asked {
            station: self.station.clone(),
            work_order: wo.clone(),
            operation,
            item: item.clone(),
            qty,
            uom: uom.clone(),
            operator,
            reason: reason.to_owned(),
            at: self.at,
        };
        self.state.push((
            format!("{ASKED_PREFIX}{id}"),
            serde_json::to_string(&entry).unwrap_or_default(),
        ));
        self.floor.asked.insert(id.clone(), entry);
        accept(
            "material_requested",
            format!(
                "{} {uom} of {item} asked for {wo}: it waits for approval, then the lot can be issued",
                qty.normalize()
            ),
            [
                ("item", item.to_string()),
                ("qty", qty.normalize().to_string()),
                ("uom", uom),
                ("work_order", wo.to_string()),
                ("requisition", id),
            ],
        )
    }

    /// What a refusal of `item` for `wo` adds when the operator already asked for more of it
    /// and central has not approved it yet (or has not heard of it): the sentence, and the
    /// values the terminal translates it with (`waiting_qty`, `waiting_uom`, `waiting_at`).
    fn still_asked(
        &self,
        wo: &WorkOrderId,
        item: &ItemId,
        plan: Option<&Plan>,
    ) -> Option<(String, [(&'static str, String); 3])> {
        self.floor
            .asked
            .iter()
            .filter(|(_, a)| &a.work_order == wo && &a.item == item)
            .filter(|(id, _)| {
                let decided = plan.and_then(|p| p.requisition(id)).map(|r| r.state);
                decided.is_none_or(|s| s == protocol::RequisitionState::Waiting)
            })
            .map(|(_, a)| {
                let at = a.at.with_timezone(&Local).format("%H:%M").to_string();
                (
                    format!(
                        "the requisition for {} {} asked at {at} is waiting for approval",
                        a.qty.normalize(),
                        a.uom,
                    ),
                    [
                        ("waiting_qty", a.qty.normalize().to_string()),
                        ("waiting_uom", a.uom.clone()),
                        ("waiting_at", at),
                    ],
                )
            })
            .next_back()
    }

    /// The order and operation that run on this station: the one answer the counting, the
    /// terminal and the status use too ([`running_at`](super::readings::running_at)).
    fn running(&self, plan: Option<&Plan>) -> Option<(WorkOrderId, u32)> {
        let running =
            super::readings::running_at(plan, &self.floor.started(), self.station.as_str())?;
        Some((running.work_order, running.operation?))
    }

    /// The running order, its operation and the plan's word on it, or `no_work_order` with
    /// `what_to_do` when nothing runs here.
    fn running_operation<'p>(
        &self,
        plan: Option<&'p Plan>,
        what_to_do: &str,
    ) -> Result<(WorkOrderId, u32, &'p protocol::PlanOperation), Refusal> {
        let Some((wo, operation)) = self.running(plan) else {
            return Err(Refusal {
                reason: "no_work_order",
                message: format!(
                    "no work order is running at station {}: {what_to_do}",
                    self.station
                ),
                params: BTreeMap::new(),
            });
        };
        let op = plan
            .and_then(|p| p.work_order(wo.as_str()))
            .and_then(|o: &PlanWorkOrder| o.operations.iter().find(|op| op.operation == operation));
        match op {
            Some(op) => Ok((wo, operation, op)),
            None => Err(Refusal {
                reason: "no_work_order",
                message: format!("work order {wo} is no longer in this line's plan"),
                params: BTreeMap::new(),
            }),
        }
    }

    fn issue(&mut self, scan: LotScan, plan: Option<&Plan>) -> Result<Accepted, Refusal> {
        let (wo, operation, op) = self.running_operation(plan, "scan a work order first")?;
        // Approved requisitions: more than the BOM and the tolerance, or an item it does not
        // name.
        let allowance = plan
            .map(|p| p.allowance(wo.as_str(), operation, scan.item.as_str()))
            .unwrap_or_default();
        let granted_uom = plan.and_then(|p| {
            p.requisitions_for(wo.as_str(), operation, scan.item.as_str())
                .find(|r| r.state == protocol::RequisitionState::Approved)
                .map(|r| r.uom.clone())
        });
        if !op.allowed_components.contains(&scan.item) && allowance.is_zero() {
            let mut message = format!(
                "wrong item: {} is not a component of operation {operation} of {wo}",
                scan.item
            );
            let mut params = BTreeMap::from([
                ("item", scan.item.to_string()),
                ("operation", operation.to_string()),
            ]);
            if let Some((waiting, values)) = self.still_asked(&wo, &scan.item, plan) {
                message.push_str(&format!("; {waiting}"));
                params.extend(values);
            }
            return Err(Refusal {
                reason: "wrong_item",
                message,
                params,
            });
        }
        let key = (wo.clone(), operation);
        let issued = self.floor.issued.get(&key);
        if issued.is_some_and(|i| i.lots.contains(&scan.lot)) {
            return refuse(
                "already_issued",
                format!("lot {} was already issued to {wo}", scan.lot),
                [
                    ("lot", scan.lot.to_string()),
                    ("work_order", wo.to_string()),
                ],
            );
        }
        let already = issued
            .and_then(|i| i.by_item.get(&scan.item))
            .copied()
            .unwrap_or_default();
        // The requirement: the BOM's, or, for an item only a requisition allows, nothing
        // but the requisition.
        let need = op
            .components
            .iter()
            .find(|c| c.item == scan.item)
            .cloned()
            .or_else(|| {
                (!op.allowed_components.contains(&scan.item)).then(|| protocol::PlanComponent {
                    item: scan.item.clone(),
                    qty: Decimal::ZERO,
                    uom: granted_uom.clone().unwrap_or_else(|| scan.uom.clone()),
                })
            });
        if let Some(need) = need.as_ref() {
            if need.uom != scan.uom {
                return refuse(
                    "wrong_unit",
                    format!(
                        "the label counts {} in {}, the work order in {}",
                        scan.item, scan.uom, need.uom
                    ),
                    [
                        ("item", scan.item.to_string()),
                        ("uom", scan.uom.clone()),
                        ("expected", need.uom.clone()),
                    ],
                );
            }
            // Beyond what the order needs, a lot is still taken up to the plant's tolerance
            // (with a warning), and refused beyond it.
            // Approved requisitions add to it.
            let rules = plan.map(|p| p.rules()).unwrap_or_default();
            let allowed = rules
                .with_tolerance(need.qty)
                .unwrap_or(need.qty)
                .checked_add(allowance)
                .unwrap_or(Decimal::MAX);
            let open = allowed
                .checked_sub(already)
                .unwrap_or_default()
                .max(Decimal::ZERO);
            if scan.qty > open {
                let mut message = format!(
                    "too much {}: the lot holds {} {}, the work order still takes {} {}",
                    scan.item,
                    scan.qty.normalize(),
                    scan.uom,
                    open.normalize(),
                    need.uom
                );
                let mut params = BTreeMap::from([
                    ("item", scan.item.to_string()),
                    ("qty", scan.qty.normalize().to_string()),
                    ("open", open.normalize().to_string()),
                    ("uom", need.uom.clone()),
                ]);
                match self.still_asked(&wo, &scan.item, plan) {
                    Some((waiting, values)) => {
                        message.push_str(&format!("; {waiting}"));
                        params.extend(values);
                    }
                    None => message.push_str("; ask for more at the terminal"),
                }
                return Err(Refusal {
                    reason: "over_issue",
                    message,
                    params,
                });
            }
        }
        let stock = self.stock_check(&scan, plan)?;
        let Some(total) = already.checked_add(scan.qty) else {
            // Only reachable for a component the plan does not limit, after more issues than a
            // plant makes in its life: refused, never a panic.
            return refuse(
                "over_issue",
                format!(
                    "too much {}: what was issued to {wo} cannot grow beyond {}",
                    scan.item,
                    already.normalize()
                ),
                [
                    ("item", scan.item.to_string()),
                    ("qty", scan.qty.normalize().to_string()),
                    ("open", "0".to_owned()),
                    ("uom", scan.uom.clone()),
                ],
            );
        };
        let required = need.as_ref().map(|c| c.qty);
        let entry = self.floor.issued.entry(key.clone()).or_default();
        entry.by_item.insert(scan.item.clone(), total);
        entry.lots.insert(scan.lot.clone());
        let pair = self.floor.save_issued(&key);
        self.state.push(pair);
        if let Some((version, drawn)) = stock.drawn {
            self.floor.drawn.insert(
                scan.lot.clone(),
                Drawn {
                    plan: version,
                    qty: drawn,
                },
            );
            let saved = serde_json::to_string(&self.floor.drawn[&scan.lot]).unwrap_or_default();
            self.state
                .push((format!("{DRAWN_PREFIX}{}", scan.lot), saved));
        }
        let mut params = BTreeMap::from([
            ("item", scan.item.to_string()),
            ("lot", scan.lot.to_string()),
            ("qty", scan.qty.normalize().to_string()),
            ("uom", scan.uom.clone()),
            ("work_order", wo.to_string()),
        ]);
        let mut message = format!(
            "{} {} of lot {} issued to {wo}",
            scan.qty.normalize(),
            scan.uom,
            scan.lot
        );
        // What the operator should look at: first the stock, then the requirement.
        let mut warning = None;
        // Beyond the requirement and what approved requisitions add: within the tolerance, so
        // taken, but the operator should look.
        let granted = required.map(|r| r.checked_add(allowance).unwrap_or(Decimal::MAX));
        if let (Some(required), Some(granted)) = (required, granted)
            && total > granted
        {
            let approved = if allowance.is_zero() {
                String::new()
            } else {
                format!(" + {} {} approved", allowance.normalize(), scan.uom)
            };
            message.push_str(&format!(
                "; warning: {} {} issued against {} {} required{approved} (within the plant's tolerance)",
                total.normalize(),
                scan.uom,
                required.normalize(),
                scan.uom
            ));
            params.insert("issued", total.normalize().to_string());
            params.insert("required", granted.normalize().to_string());
            warning = Some("over_required");
        } else if total > required.unwrap_or(Decimal::MAX) {
            message.push_str(&format!(
                "; within the {} {} approved by requisition",
                allowance.normalize(),
                scan.uom
            ));
            params.insert("approved", allowance.normalize().to_string());
        }
        if let Some(short) = stock.short {
            message.push_str(&format!("; warning: {short}"));
            params.extend(stock.params);
            warning = Some("negative_stock");
        }
        self.emit(EventKind::MaterialIssued {
            work_order: wo,
            operation: Some(operation),
            item: scan.item,
            lot: scan.lot,
            qty: scan.qty,
            uom: scan.uom,
        });
        Ok(Accepted {
            action: "issued",
            warning,
            message,
            params,
        })
    }

    /// The plant's rule on negative stock against what central said the lot holds
    /// (`on_hand`, at the plan's version) less what this edge issued from it since: `refuse`
    /// refuses a lot short of the scanned quantity (`no_stock`), `flag` takes it with a
    /// warning, `allow` takes it. A lot central gave no `on_hand` for is never refused.
    fn stock_check(&self, scan: &LotScan, plan: Option<&Plan>) -> Result<StockCheck, Refusal> {
        let mut check = StockCheck::default();
        let Some(plan) = plan else {
            return Ok(check);
        };
        let Some(known) = plan.lot(scan.lot.as_str()) else {
            return Ok(check);
        };
        let Some(on_hand) = known.on_hand else {
            return Ok(check);
        };
        let drawn = self
            .floor
            .drawn
            .get(&scan.lot)
            .filter(|d| d.plan == plan.version)
            .map(|d| d.qty)
            .unwrap_or_default();
        let left = on_hand.checked_sub(drawn).unwrap_or(Decimal::MIN);
        check.drawn = Some((
            plan.version,
            drawn.checked_add(scan.qty).unwrap_or(Decimal::MAX),
        ));
        if left >= scan.qty {
            return Ok(check);
        }
        let left = left.max(Decimal::ZERO).normalize();
        let place = match &known.location {
            Some(location) => format!("at {location}"),
            None => "in stock".to_owned(),
        };
        let short = format!(
            "lot {} has {left} {} {place}, {} {} scanned",
            scan.lot,
            scan.uom,
            scan.qty.normalize(),
            scan.uom
        );
        let params = BTreeMap::from([
            ("lot", scan.lot.to_string()),
            ("on_hand", left.to_string()),
            ("qty", scan.qty.normalize().to_string()),
            ("uom", scan.uom.clone()),
            (
                "location",
                known
                    .location
                    .as_ref()
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| "—".to_owned()),
            ),
        ]);
        match plan.rules().negative_stock {
            protocol::NegativeStock::Refuse => Err(Refusal {
                reason: "no_stock",
                message: short,
                params,
            }),
            protocol::NegativeStock::Flag => {
                check.short = Some(short);
                check.params = params;
                Ok(check)
            }
            protocol::NegativeStock::Allow => Ok(check),
        }
    }
}

/// What [`Deciding::stock_check`] found for an issue it lets through.
#[derive(Default)]
struct StockCheck {
    /// The lot's new drawn quantity under the plan version, when central gave its stock.
    drawn: Option<(protocol::PlanVersion, Decimal)>,
    /// Short of stock, flagged: the warning's sentence and values.
    short: Option<String>,
    params: BTreeMap<&'static str, String>,
}

/// A supplier's GS1 label as a lot: GTIN (01) to item through the plan, batch (10), quantity
/// from a count (30, 37) or a net weight (310n), expiry (17).
fn gs1_lot(reading: &Reading, plan: Option<&Plan>) -> Result<LotScan, Refusal> {
    let gtin = reading
        .element("01")
        .or_else(|| reading.element("02"))
        .map(|e| e.value.clone());
    let Some(gtin) = gtin else {
        return Err(Refusal {
            reason: "unknown_code",
            message: "this GS1 code names no trade item (01), so it is not a material lot".into(),
            params: BTreeMap::from([("detail", "a GS1 code without a GTIN (01)".to_owned())]),
        });
    };
    let Some(item) = plan.and_then(|p| p.gtins.get(&gtin)).cloned() else {
        return Err(Refusal {
            reason: "unknown_item",
            message: format!("GTIN {gtin} is not an item central told this line about"),
            params: BTreeMap::from([("gtin", gtin)]),
        });
    };
    let Some(lot) = reading.element("10") else {
        return Err(Refusal {
            reason: "missing_lot",
            message: format!("the label of {item} carries no batch or lot number (10)"),
            params: BTreeMap::new(),
        });
    };
    let count = reading
        .element("30")
        .or_else(|| reading.element("37"))
        .and_then(|e| e.value.parse::<Decimal>().ok())
        .map(|q| (q, "pcs".to_owned()));
    let weight = (0..=5).find_map(|n| {
        reading
            .element(&format!("310{n}"))
            .and_then(|e| e.decimal)
            .map(|q| (q, "kg".to_owned()))
    });
    let Some((qty, uom)) = weight.or(count) else {
        return Err(Refusal {
            reason: "missing_quantity",
            message: format!(
                "the label of lot {} carries no quantity (30, 37 or 310n)",
                lot.value
            ),
            params: BTreeMap::new(),
        });
    };
    Ok(LotScan {
        item,
        lot: LotId::from(lot.value.as_str()),
        qty,
        uom,
        expires: reading.element("17").and_then(|e| e.date),
        purchase_order: reading.element("400").map(|e| e.value.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use protocol::{PlanComponent, PlanLot, PlanOperation, PlanVersion};

    fn plan() -> Plan {
        let mut plan = plan_without_skills();
        let mut welded = plan.work_orders[0].clone();
        welded.work_order = "WO-WELD".into();
        welded.operations[0].skill = Some("weld".into());
        plan.work_orders.push(welded);
        plan
    }

    fn plan_without_skills() -> Plan {
        let wo = |id: &str, station: &str, on_hold: bool| PlanWorkOrder {
            work_order: id.into(),
            item: "BRACKET".into(),
            qty: Decimal::new(500, 0),
            uom: "pcs".into(),
            due: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            priority: 1,
            operations: vec![PlanOperation {
                operation: 10,
                description: "stamp".into(),
                station: Some(station.into()),
                allowed_components: vec!["STEEL-2MM".into(), "GREASE".into()],
                components: vec![PlanComponent {
                    item: "STEEL-2MM".into(),
                    qty: Decimal::new(50, 0),
                    uom: "kg".into(),
                }],
                skill: None,
            }],
            plc_parameters: Default::default(),
            on_hold,
            made_for: Vec::new(),
        };
        Plan {
            edge_id: "line-1".into(),
            version: PlanVersion(4),
            published_at: Utc::now(),
            epoch: None,
            work_orders: vec![
                wo("WO-1", "st-10", false),
                wo("WO-2", "st-10", false),
                wo("WO-HELD", "st-10", true),
                wo("WO-ELSEWHERE", "st-20", false),
            ],
            lots: vec![
                PlanLot {
                    lot: "L-HOLD".into(),
                    item: "STEEL-2MM".into(),
                    expires: None,
                    on_hold: true,
                    hold_reason: Some("QC-17 tensile test failed".into()),
                    location: None,
                    on_hand: None,
                },
                PlanLot {
                    lot: "L-OLD".into(),
                    item: "STEEL-2MM".into(),
                    expires: NaiveDate::from_ymd_opt(2026, 11, 26),
                    on_hold: false,
                    hold_reason: None,
                    location: Some("WH-A".into()),
                    on_hand: None,
                },
            ],
            gtins: BTreeMap::from([("09506000134352".to_owned(), "STEEL-2MM".into())]),
            operators: vec![
                operator("10442", &["press"], false),
                operator("10443", &[], false),
                operator("9001", &[protocol::SUPERVISOR_SKILL], true),
            ],
            rules: None,
            shipments: Vec::new(),
            requisitions: Vec::new(),
        }
    }

    fn operator(badge: &str, skills: &[&str], pin: bool) -> protocol::PlanOperator {
        protocol::PlanOperator {
            badge: badge.into(),
            name: format!("operator {badge}"),
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
            // Checked by the HTTP layer, never here: any PHC string marks "has a PIN".
            pin_hash: pin.then(|| "$argon2id$v=19$m=8192,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
    }

    fn request(code: &str) -> ScanRequest {
        ScanRequest {
            raw: code.into(),
            at: at(),
            station: "st-10".into(),
            device: Some("scanner-1".into()),
            reply: None,
        }
    }

    /// Scans `codes` in order at st-10; returns the last decision.
    fn scan_all(floor: &mut Floor, plan: Option<&Plan>, codes: &[&str]) -> Decision {
        let mut last = None;
        for code in codes {
            last = Some(floor.scan(&request(code), plan));
        }
        last.expect("at least one code")
    }

    fn names(d: &Decision) -> Vec<&'static str> {
        d.events.iter().map(|e| e.kind.name()).collect()
    }

    /// `check(codes, expected)`: the last scan's result, reason or action, and event kinds.
    #[track_caller]
    fn check(codes: &[&str], expect: (&str, &[&str])) {
        let plan = plan();
        let mut floor = Floor::default();
        let d = scan_all(&mut floor, Some(&plan), codes);
        let what = match d.outcome.result {
            ScanResult::Accepted => d.outcome.action.unwrap_or("?"),
            _ => d.outcome.reason.unwrap_or("?"),
        };
        assert_eq!(
            (what, names(&d).as_slice()),
            expect,
            "{}",
            d.outcome.message
        );
        if d.outcome.result == ScanResult::Rejected {
            assert!(d.state.is_empty(), "a refused scan changes no state");
        }
    }

    const BADGE: &str = "(96)10442";
    const START: &str = "(91)WO-1";
    const STEEL: &str = "(92)STEEL-2MM(93)L-1(94)25kg";

    #[test]
    fn badges_sign_in_switch_and_sign_out() {
        check(&["(96)10442"], ("signed_in", &["operator_signed_in"]));
        check(
            &["(96)10442", "(96)10443"],
            ("signed_in", &["operator_signed_out", "operator_signed_in"]),
        );
        check(
            &["(96)10442", "(96)10442"],
            ("signed_out", &["operator_signed_out"]),
        );
    }

    #[test]
    fn only_badges_of_the_registry_sign_in_and_a_pin_badge_needs_its_pin() {
        // Issue 11: anyone could sign in with any badge.
        check(&["(96)66666"], ("unknown_badge", &["scan_rejected"]));
        check(&["(96)9001"], ("pin_required", &["scan_rejected"]));
        let plan = plan();
        let sign_in = |floor: &mut Floor, pin| {
            floor.command(
                &StationCommand {
                    station: "st-10".into(),
                    at: at(),
                    action: StationAction::SignIn {
                        badge: "9001".into(),
                        pin,
                    },
                    reply: None,
                },
                Some(&plan),
            )
        };
        let mut floor = Floor::default();
        assert_eq!(
            sign_in(&mut floor, PinCheck::Wrong).outcome.reason,
            Some("wrong_pin")
        );
        assert_eq!(
            sign_in(&mut floor, PinCheck::Locked).outcome.reason,
            Some("pin_locked")
        );
        assert_eq!(
            floor
                .stations
                .get(&StationId::from("st-10"))
                .and_then(|s| s.operator.clone()),
            None
        );
        let d = sign_in(&mut floor, PinCheck::Verified);
        assert_eq!(d.outcome.action, Some("signed_in"));
        // Without a plan there is no registry: nobody signs in.
        let d = Floor::default().scan(&request(BADGE), None);
        assert_eq!(d.outcome.reason, Some("unknown_badge"));
    }

    #[test]
    fn a_work_order_starts_only_for_a_signed_in_operator_with_its_skill() {
        // Issue 11: anyone could start any work order (and with it, write to the PLC).
        check(&[START], ("not_signed_in", &["scan_rejected"]));
        check(
            &["(96)10443", "(91)WO-WELD"],
            ("missing_skill", &["scan_rejected"]),
        );
        let plan = plan();
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[BADGE, START]);
        assert_eq!(
            floor.stations[&StationId::from("st-10")].started_by,
            Some(OperatorId::from("10442"))
        );
        // Signing out leaves the order running, started by whoever started it.
        scan_all(&mut floor, Some(&plan), &[BADGE]);
        assert_eq!(
            floor.started().get(&StationId::from("st-10")),
            Some(&(WorkOrderId::from("WO-1"), Some(10)))
        );
    }

    #[test]
    fn quantities_out_of_bounds_are_refused_never_summed() {
        // Issue 11: two scans of an unlimited component with a quantity of 7.9e28 overflowed
        // the issued sum and killed the processor.
        let huge = "(92)GREASE(93)G1(94)79228162514264337593543950335kg";
        let plan = plan();
        let mut floor = Floor::default();
        let d = scan_all(&mut floor, Some(&plan), &[BADGE, START, huge, huge]);
        assert_eq!(
            d.outcome.reason,
            Some("unknown_code"),
            "{}",
            d.outcome.message
        );
        assert!(
            d.outcome.message.contains("at most 1000000000"),
            "{}",
            d.outcome.message
        );
        check(
            &[BADGE, START, "(92)GREASE(93)G2(94)0kg"],
            ("unknown_code", &["scan_rejected"]),
        );
        // A line's own limit per unit.
        let mut floor = Floor::default();
        floor
            .limits
            .max_qty
            .insert("kg".into(), Decimal::new(100, 0));
        let d = scan_all(
            &mut floor,
            Some(&plan),
            &[BADGE, START, "(92)GREASE(93)G3(94)101kg"],
        );
        assert_eq!(
            d.outcome.reason,
            Some("bad_quantity"),
            "{}",
            d.outcome.message
        );
        // Even a sum that could overflow is refused, not a panic.
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[BADGE, START]);
        floor
            .issued
            .entry((WorkOrderId::from("WO-1"), 10))
            .or_default()
            .by_item
            .insert("GREASE".into(), Decimal::MAX);
        let d = scan_all(&mut floor, Some(&plan), &["(92)GREASE(93)G4(94)5kg"]);
        assert_eq!(
            d.outcome.reason,
            Some("over_issue"),
            "{}",
            d.outcome.message
        );
    }

    #[test]
    fn a_lot_beyond_the_order_needs_a_supervisor() {
        // Issue 11: a lot of 7.9e28 pieces against an order of 500 was completed (and its
        // label printed).
        let plan = plan();
        let complete = |floor: &mut Floor, qty: Decimal, by: Option<&str>| {
            floor.command(
                &StationCommand {
                    station: "st-10".into(),
                    at: at(),
                    action: StationAction::CompleteLot {
                        qty,
                        approved_by: by.map(OperatorId::from),
                    },
                    reply: None,
                },
                Some(&plan),
            )
        };
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[BADGE, START]);
        let d = complete(&mut floor, Decimal::MAX, None);
        assert_eq!(
            d.outcome.reason,
            Some("bad_quantity"),
            "{}",
            d.outcome.message
        );
        assert_eq!(
            complete(&mut floor, Decimal::new(400, 0), None)
                .outcome
                .action,
            Some("lot_completed")
        );
        let d = complete(&mut floor, Decimal::new(101, 0), None);
        assert_eq!(
            d.outcome.reason,
            Some("over_completion"),
            "{}",
            d.outcome.message
        );
        assert_eq!(d.outcome.params["open"], "100");
        // Not a supervisor: still refused.
        let d = complete(&mut floor, Decimal::new(101, 0), Some("10443"));
        assert_eq!(d.outcome.reason, Some("over_completion"));
        let d = complete(&mut floor, Decimal::new(101, 0), Some("9001"));
        assert_eq!(
            d.outcome.action,
            Some("lot_completed"),
            "{}",
            d.outcome.message
        );
        assert!(
            d.outcome.message.contains("approved by 9001"),
            "{}",
            d.outcome.message
        );
        // Within a tolerance set for the line, no approval is needed.
        let mut floor = Floor::default();
        floor.limits.completion_tolerance_pct = Decimal::new(10, 0);
        scan_all(&mut floor, Some(&plan), &[BADGE, START]);
        let d = complete(&mut floor, Decimal::new(550, 0), None);
        assert_eq!(
            d.outcome.action,
            Some("lot_completed"),
            "{}",
            d.outcome.message
        );
        // Nobody signed in: nobody completes a lot.
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[BADGE, START, BADGE]);
        assert_eq!(
            complete(&mut floor, Decimal::ONE, None).outcome.reason,
            Some("not_signed_in")
        );
    }

    #[test]
    fn orders_long_out_of_the_plan_and_lots_long_left_alone_are_forgotten() {
        // Issue 11: the processor's lot state was never pruned.
        let full = plan();
        let mut floor = Floor::default();
        scan_all(
            &mut floor,
            Some(&full),
            &[
                BADGE,
                START,
                STEEL,
                "(95)RACK-1",
                "(92)GREASE(93)G-1(94)5kg",
            ],
        );
        // WO-1 still runs at st-10: kept however long it is absent from the plan.
        let mut later = full.clone();
        later
            .work_orders
            .retain(|w| w.work_order.as_str() != "WO-1");
        let day = chrono::TimeDelta::days(1);
        let t0 = at();
        assert_eq!(
            floor.prune(Some(&later), t0, []).orders,
            Vec::<WorkOrderId>::new()
        );
        // Another order starts at st-10: WO-1 no longer runs anywhere; its clock starts now.
        scan_all(&mut floor, Some(&later), &["(91)WO-2"]);
        assert!(floor.prune(Some(&later), t0, []).orders.is_empty());
        assert!(floor.issued.contains_key(&(WorkOrderId::from("WO-1"), 10)));
        // Six days later: kept. Seven: forgotten, with its state keys deleted.
        assert!(
            floor
                .prune(Some(&later), t0 + day * 6, [])
                .orders
                .is_empty()
        );
        let pruned = floor.prune(Some(&later), t0 + day * 7, [WorkOrderId::from("WO-7")]);
        assert_eq!(pruned.orders, vec![WorkOrderId::from("WO-1")]);
        assert!(
            pruned
                .state
                .contains(&(format!("{ISSUED_PREFIX}10/WO-1"), String::new()))
        );
        assert!(!floor.issued.keys().any(|(wo, _)| wo.as_str() == "WO-1"));
        // The lot put to RACK-1 at t0 was left alone for the retention: forgotten too.
        assert_eq!(pruned.lots, 1);
        assert!(floor.lot_locations.is_empty());
        // WO-7 (only known to the caller) counts from when it was first seen absent.
        let pruned = floor.prune(Some(&later), t0 + day * 14, [WorkOrderId::from("WO-7")]);
        assert_eq!(pruned.orders, vec![WorkOrderId::from("WO-7")]);
        // Without a plan, nothing is forgotten.
        assert_eq!(floor.prune(None, t0 + day * 365, []), Pruned::default());
    }

    #[test]
    fn a_refused_code_is_stored_printable_and_bounded() {
        let raw = format!("\u{0}{}\u{202E}", "x".repeat(10_000));
        let d = Floor::default().scan(&request(&raw), Some(&plan()));
        let EventKind::ScanRejected { raw: kept, reason } = &d.events[0].kind else {
            panic!("{:?}", d.events)
        };
        assert!(
            kept.len() <= protocol::bounds::MAX_CODE_LEN,
            "{}",
            kept.len()
        );
        assert!(kept.starts_with("\\u{0}x"), "{}", &kept[..10]);
        assert_eq!(protocol::bounds::check_code("raw", kept), Ok(()));
        assert_eq!(protocol::bounds::check_text("reason", reason), Ok(()));
    }

    #[test]
    fn work_orders_start_only_from_the_plan_at_their_station() {
        check(&[BADGE, START], ("started", &["work_order_started"]));
        check(&["(91)WO-9"], ("unknown_work_order", &["scan_rejected"]));
        check(&["(91)WO-HELD"], ("work_order_on_hold", &["scan_rejected"]));
        check(
            &["(91)WO-ELSEWHERE"],
            ("work_order_not_at_station", &["scan_rejected"]),
        );
        check(
            &[BADGE, START, "(91)WO-2"],
            ("started", &["work_order_paused", "work_order_started"]),
        );
        // Scanning the running order again changes nothing.
        check(&[BADGE, START, START], ("started", &[]));
        let mut floor = Floor::default();
        let d = floor.scan(&request(START), None);
        assert_eq!(d.outcome.reason, Some("no_plan"));
    }

    #[test]
    fn a_lot_whose_label_names_another_item_than_central_knows_is_refused_as_such() {
        let plan = plan();
        let mut floor = Floor::default();
        let d = scan_all(
            &mut floor,
            Some(&plan),
            &[BADGE, START, "(92)GREASE(93)L-OLD(94)5kg"],
        );
        assert_eq!(
            d.outcome.reason,
            Some("lot_item_mismatch"),
            "{}",
            d.outcome.message
        );
        assert!(
            d.outcome.message.contains("lot L-OLD is STEEL-2MM"),
            "{}",
            d.outcome.message
        );
        assert_eq!(names(&d), ["scan_rejected"]);
        assert!(d.state.is_empty());
    }

    #[test]
    fn material_is_issued_only_when_allowed_current_and_open() {
        // Issue 12: what runs on a station is one fact. Nobody started an order at st-10, but
        // the plan's WO-1 runs there (its counts go to it, the terminal shows it): so does the
        // material. A station no order is routed through takes none.
        check(&[STEEL], ("issued", &["material_issued"]));
        let mut elsewhere = request(STEEL);
        elsewhere.station = "st-30".into();
        let d = Floor::default().scan(&elsewhere, Some(&plan()));
        assert_eq!(d.outcome.reason, Some("no_work_order"));
        check(&[BADGE, START, STEEL], ("issued", &["material_issued"]));
        check(
            &[BADGE, START, "(92)BOLT-M8(93)B-1(94)100pcs"],
            ("wrong_item", &["scan_rejected"]),
        );
        check(
            &[BADGE, START, "(92)STEEL-2MM(93)L-HOLD(94)5kg"],
            ("on_hold", &["scan_rejected"]),
        );
        check(
            &[BADGE, START, "(92)STEEL-2MM(93)L-OLD(94)5kg"],
            ("expired", &["scan_rejected"]),
        );
        // 50 kg needed: 25 + 25 fit, a third 25 does not.
        check(
            &[
                BADGE,
                START,
                STEEL,
                "(92)STEEL-2MM(93)L-2(94)25kg",
                "(92)STEEL-2MM(93)L-3(94)25kg",
            ],
            ("over_issue", &["scan_rejected"]),
        );
        check(
            &[BADGE, START, STEEL, STEEL],
            ("already_issued", &["scan_rejected"]),
        );
        check(
            &[BADGE, START, "(92)STEEL-2MM(93)L-9(94)25lb"],
            ("wrong_unit", &["scan_rejected"]),
        );
        // Not limited by the plan: any quantity.
        check(
            &[BADGE, START, "(92)GREASE(93)G-1(94)999kg"],
            ("issued", &["material_issued"]),
        );
        // A lot whose label contradicts central.
        check(
            &[BADGE, START, "(92)GREASE(93)L-HOLD(94)1kg"],
            ("on_hold", &["scan_rejected"]),
        );
    }

    #[test]
    fn an_issue_beyond_the_need_warns_within_the_plant_s_tolerance_and_is_refused_beyond_it() {
        // Issue 12: 95 kg issued against 25.5 kg required passed silently. 50 kg needed here,
        // 10 % tolerance: up to 55 kg.
        let mut plan = plan();
        plan.rules = Some(protocol::PlanRules {
            over_tolerance_pct: Decimal::new(10, 0),
            ..Default::default()
        });
        let mut floor = Floor::default();
        let d = scan_all(
            &mut floor,
            Some(&plan),
            &[
                BADGE,
                START,
                "(92)STEEL-2MM(93)L-1(94)25kg",
                "(92)STEEL-2MM(93)L-2(94)25kg",
            ],
        );
        assert_eq!(
            (d.outcome.action, d.outcome.warning),
            (Some("issued"), None)
        );
        let d = scan_all(&mut floor, Some(&plan), &["(92)STEEL-2MM(93)L-3(94)5kg"]);
        assert_eq!(
            (d.outcome.action, d.outcome.warning),
            (Some("issued"), Some("over_required")),
            "{}",
            d.outcome.message
        );
        assert_eq!(
            (
                d.outcome.params["issued"].as_str(),
                d.outcome.params["required"].as_str()
            ),
            ("55", "50")
        );
        assert!(
            d.outcome
                .message
                .contains("55 kg issued against 50 kg required")
        );
        let d = scan_all(&mut floor, Some(&plan), &["(92)STEEL-2MM(93)L-4(94)1kg"]);
        assert_eq!(
            d.outcome.reason,
            Some("over_issue"),
            "{}",
            d.outcome.message
        );
        assert_eq!(d.outcome.params["open"], "0");
        // Without a tolerance, nothing beyond the need is taken (as before).
        check(
            &[
                BADGE,
                START,
                STEEL,
                "(92)STEEL-2MM(93)L-2(94)25kg",
                "(92)STEEL-2MM(93)L-3(94)1kg",
            ],
            ("over_issue", &["scan_rejected"]),
        );
    }

    fn ask(floor: &mut Floor, plan: &Plan, item: &str, qty: i64, uom: Option<&str>) -> Decision {
        floor.command(
            &StationCommand {
                station: "st-10".into(),
                at: at(),
                action: StationAction::RequestMaterial {
                    item: item.into(),
                    qty: Decimal::new(qty, 0),
                    uom: uom.map(str::to_owned),
                    reason: "coil end scrapped at set-up".into(),
                },
                reply: None,
            },
            Some(plan),
        )
    }

    /// Central's answer to a requisition asked here, as the next plan carries it.
    fn decided(plan: &mut Plan, d: &Decision, state: protocol::RequisitionState) {
        let Some(EventKind::MaterialRequested {
            work_order,
            operation,
            item,
            qty,
            uom,
            ..
        }) = d.events.last().map(|e| e.kind.clone())
        else {
            panic!("no material_requested event: {:?}", d.events);
        };
        plan.requisitions.push(protocol::PlanRequisition {
            id: d.outcome.params["requisition"].clone(),
            number: Some("R000001".into()),
            work_order,
            operation: Some(operation),
            item,
            qty,
            uom,
            state,
            decided_by: Some("wang".into()),
            comment: None,
        });
    }

    #[test]
    fn material_beyond_the_bom_is_issued_once_its_requisition_is_approved() {
        let mut plan = plan();
        let mut floor = Floor::default();
        // Nobody signed in, nothing running: refused, stored as refusals.
        let d = ask(&mut floor, &plan, "STEEL-2MM", 25, None);
        assert_eq!(
            d.outcome.reason,
            Some("not_signed_in"),
            "{}",
            d.outcome.message
        );
        // The need (50 kg) is taken; the next lot is refused and says what to do.
        let d = scan_all(
            &mut floor,
            Some(&plan),
            &[
                BADGE,
                START,
                STEEL,
                "(92)STEEL-2MM(93)L-2(94)25kg",
                "(92)STEEL-2MM(93)L-3(94)20kg",
            ],
        );
        assert_eq!(d.outcome.reason, Some("over_issue"));
        assert!(
            d.outcome
                .message
                .ends_with("; ask for more at the terminal"),
            "{}",
            d.outcome.message
        );
        // Wrong unit, no unit for an item the BOM does not name, no reason: refused, nothing kept.
        let d = ask(&mut floor, &plan, "STEEL-2MM", 25, Some("pcs"));
        assert_eq!(
            d.outcome.reason,
            Some("wrong_unit"),
            "{}",
            d.outcome.message
        );
        let d = ask(&mut floor, &plan, "OIL", 2, None);
        assert_eq!(d.outcome.reason, Some("no_unit"), "{}", d.outcome.message);
        let d = ask(&mut floor, &plan, "STEEL-2MM", 0, None);
        assert_eq!(
            d.outcome.reason,
            Some("bad_quantity"),
            "{}",
            d.outcome.message
        );
        assert!(floor.asked.is_empty());
        // Asked: one event signed by the operator, kept in the floor's state.
        let d = ask(&mut floor, &plan, "STEEL-2MM", 25, None);
        assert_eq!(
            d.outcome.action,
            Some("material_requested"),
            "{}",
            d.outcome.message
        );
        assert_eq!(names(&d), ["material_requested"]);
        let id = d.outcome.params["requisition"].clone();
        assert_eq!(id, d.events[0].id.0.to_string());
        match &d.events[0].kind {
            EventKind::MaterialRequested {
                operator,
                uom,
                operation,
                ..
            } => {
                assert_eq!(
                    (operator.as_str(), uom.as_str(), *operation),
                    ("10442", "kg", 10)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            d.state
                .iter()
                .any(|(k, v)| *k == format!("{ASKED_PREFIX}{id}") && !v.is_empty())
        );
        assert_eq!(Floor::restore(d.state.clone()).asked, floor.asked);
        // Waiting (not yet at central): the lot is still refused, and the refusal says why.
        let d = scan_all(&mut floor, Some(&plan), &["(92)STEEL-2MM(93)L-3(94)20kg"]);
        assert_eq!(d.outcome.reason, Some("over_issue"));
        assert!(
            d.outcome
                .message
                .contains("the requisition for 25 kg asked at"),
            "{}",
            d.outcome.message
        );
        assert_eq!(
            (
                d.outcome.params["waiting_qty"].as_str(),
                d.outcome.params["waiting_uom"].as_str()
            ),
            ("25", "kg")
        );
        // A rejected one lets nothing more through.
        let mut rejected = plan.clone();
        decided(
            &mut rejected,
            &d_of(&floor, &id),
            protocol::RequisitionState::Rejected,
        );
        let d = scan_all(
            &mut floor,
            Some(&rejected),
            &["(92)STEEL-2MM(93)L-3(94)20kg"],
        );
        assert_eq!(d.outcome.reason, Some("over_issue"));
        // Approved: 25 kg more, and not a gram beyond.
        let asked = d_of(&floor, &id);
        decided(&mut plan, &asked, protocol::RequisitionState::Approved);
        let d = scan_all(&mut floor, Some(&plan), &["(92)STEEL-2MM(93)L-3(94)20kg"]);
        assert_eq!(
            (d.outcome.action, d.outcome.warning),
            (Some("issued"), None),
            "{}",
            d.outcome.message
        );
        assert!(
            d.outcome
                .message
                .ends_with("; within the 25 kg approved by requisition"),
            "{}",
            d.outcome.message
        );
        assert_eq!(d.outcome.params["approved"], "25");
        let d = scan_all(&mut floor, Some(&plan), &["(92)STEEL-2MM(93)L-4(94)6kg"]);
        assert_eq!(
            d.outcome.reason,
            Some("over_issue"),
            "{}",
            d.outcome.message
        );
        assert_eq!(d.outcome.params["open"], "5");
        // An item the BOM does not name: refused until a requisition for it is approved.
        let d = scan_all(&mut floor, Some(&plan), &["(92)OIL(93)L-OIL(94)2l"]);
        assert_eq!(d.outcome.reason, Some("wrong_item"));
        let d = ask(&mut floor, &plan, "OIL", 2, Some("l"));
        assert_eq!(
            d.outcome.action,
            Some("material_requested"),
            "{}",
            d.outcome.message
        );
        decided(&mut plan, &d, protocol::RequisitionState::Approved);
        let d = scan_all(&mut floor, Some(&plan), &["(92)OIL(93)L-OIL(94)2l"]);
        assert_eq!(d.outcome.action, Some("issued"), "{}", d.outcome.message);
        let d = scan_all(&mut floor, Some(&plan), &["(92)OIL(93)L-OIL2(94)1l"]);
        assert_eq!(
            d.outcome.reason,
            Some("over_issue"),
            "{}",
            d.outcome.message
        );
        // The requisitions go with their order when it is forgotten.
        let mut without = plan.clone();
        without
            .work_orders
            .retain(|w| w.work_order.as_str() != "WO-1");
        floor.stations.clear();
        floor.prune(Some(&without), at(), []);
        let pruned = floor.prune(Some(&without), at() + floor.limits.retention, []);
        assert!(floor.asked.is_empty());
        assert!(
            pruned
                .state
                .iter()
                .any(|(k, v)| *k == format!("{ASKED_PREFIX}{id}") && v.is_empty())
        );
    }

    /// A decision naming the requisition `id` the floor keeps, as its event said it.
    fn d_of(floor: &Floor, id: &str) -> Decision {
        let a = &floor.asked[id];
        Decision {
            events: vec![EventBody {
                id: EventId(uuid::Uuid::parse_str(id).unwrap()),
                at: a.at,
                source: Source::default(),
                kind: EventKind::MaterialRequested {
                    work_order: a.work_order.clone(),
                    operation: a.operation,
                    item: a.item.clone(),
                    qty: a.qty,
                    uom: a.uom.clone(),
                    operator: a.operator.clone(),
                    reason: a.reason.clone(),
                },
            }],
            state: Vec::new(),
            outcome: ScanOutcome {
                result: ScanResult::Accepted,
                kind: None,
                action: None,
                lot: None,
                reason: None,
                warning: None,
                message: String::new(),
                params: BTreeMap::from([("requisition", id.to_owned())]),
                seq: None,
                event_id: None,
            },
        }
    }

    #[test]
    fn requisitions_of_one_order_are_bounded() {
        let plan = plan();
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[BADGE, START]);
        for _ in 0..MAX_ASKED_PER_ORDER {
            let d = ask(&mut floor, &plan, "STEEL-2MM", 1, None);
            assert_eq!(d.outcome.action, Some("material_requested"));
        }
        let d = ask(&mut floor, &plan, "STEEL-2MM", 1, None);
        assert_eq!(
            d.outcome.reason,
            Some("too_many_requisitions"),
            "{}",
            d.outcome.message
        );
        assert_eq!(floor.asked.len(), MAX_ASKED_PER_ORDER);
    }

    #[test]
    fn finished_lots_may_reach_the_plant_s_tolerance_without_a_supervisor() {
        let mut plan = plan();
        plan.rules = Some(protocol::PlanRules {
            over_tolerance_pct: Decimal::new(10, 0),
            ..Default::default()
        });
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[BADGE, START]);
        let complete = |floor: &mut Floor, qty| {
            floor.command(
                &StationCommand {
                    station: "st-10".into(),
                    at: at(),
                    action: StationAction::CompleteLot {
                        qty,
                        approved_by: None,
                    },
                    reply: None,
                },
                Some(&plan),
            )
        };
        assert_eq!(
            complete(&mut floor, Decimal::new(550, 0)).outcome.action,
            Some("lot_completed")
        );
        assert_eq!(
            complete(&mut floor, Decimal::ONE).outcome.reason,
            Some("over_completion")
        );
    }

    /// A plan whose lot L-0001 has 30 kg at RACK-A by central's books, under `rule`.
    fn stock_plan(rule: protocol::NegativeStock) -> Plan {
        let mut plan = plan();
        plan.lots.push(PlanLot {
            lot: "L-0001".into(),
            item: "STEEL-2MM".into(),
            expires: None,
            on_hold: false,
            hold_reason: None,
            location: Some("RACK-A".into()),
            on_hand: Some(Decimal::new(30, 0)),
        });
        plan.rules = Some(protocol::PlanRules {
            negative_stock: rule,
            ..Default::default()
        });
        plan
    }

    #[test]
    fn negative_stock_is_refused_flagged_or_allowed_as_the_plant_says() {
        use protocol::NegativeStock;
        let lot = |qty: u32| format!("(92)STEEL-2MM(93)L-0001(94){qty}kg");
        // Refuse: the lot's stock less what this edge drew from it since the plan.
        let plan = stock_plan(NegativeStock::Refuse);
        let mut floor = Floor::default();
        let d = scan_all(&mut floor, Some(&plan), &[BADGE, START, lot(40).as_str()]);
        assert_eq!(d.outcome.reason, Some("no_stock"));
        assert_eq!(
            d.outcome.message,
            "lot L-0001 has 30 kg at RACK-A, 40 kg scanned"
        );
        assert_eq!(
            (
                d.outcome.params["on_hand"].as_str(),
                d.outcome.params["location"].as_str()
            ),
            ("30", "RACK-A")
        );
        let d = scan_all(&mut floor, Some(&plan), &[lot(20).as_str()]);
        assert_eq!(
            (d.outcome.action, d.outcome.warning),
            (Some("issued"), None)
        );
        let d = scan_all(&mut floor, Some(&plan), &["(91)WO-2", lot(20).as_str()]);
        assert_eq!(
            d.outcome.message,
            "lot L-0001 has 10 kg at RACK-A, 20 kg scanned"
        );
        assert_eq!(d.outcome.action, None);
        let d = scan_all(&mut floor, Some(&plan), &[lot(10).as_str()]);
        assert_eq!(d.outcome.action, Some("issued"), "{}", d.outcome.message);
        // A newer plan brings the lot's stock anew: what was drawn before no longer counts.
        let mut newer = plan.clone();
        newer.version = PlanVersion(5);
        newer.lots.last_mut().unwrap().on_hand = Some(Decimal::new(5, 0));
        let mut fresh = Floor::default();
        fresh.drawn.insert(
            "L-0001".into(),
            Drawn {
                plan: PlanVersion(4),
                qty: Decimal::new(30, 0),
            },
        );
        let d = scan_all(&mut fresh, Some(&newer), &[BADGE, START, lot(6).as_str()]);
        assert_eq!(
            d.outcome.message,
            "lot L-0001 has 5 kg at RACK-A, 6 kg scanned"
        );
        let d = scan_all(&mut fresh, Some(&newer), &[lot(5).as_str()]);
        assert_eq!(d.outcome.action, Some("issued"), "{}", d.outcome.message);
        assert_eq!(fresh.drawn[&LotId::from("L-0001")].plan, PlanVersion(5));
        // Lots central told nothing of the stock of are not refused.
        let d = scan_all(&mut floor, Some(&plan), &["(92)STEEL-2MM(93)L-9(94)20kg"]);
        assert_eq!(d.outcome.action, Some("issued"));

        // Flag: taken, with a warning that says the same.
        let plan = stock_plan(NegativeStock::Flag);
        let d = scan_all(
            &mut Floor::default(),
            Some(&plan),
            &[BADGE, START, lot(40).as_str()],
        );
        assert_eq!(
            (d.outcome.action, d.outcome.warning),
            (Some("issued"), Some("negative_stock"))
        );
        assert!(
            d.outcome
                .message
                .ends_with("warning: lot L-0001 has 30 kg at RACK-A, 40 kg scanned"),
            "{}",
            d.outcome.message
        );
        // Allow: taken without a word.
        let plan = stock_plan(NegativeStock::Allow);
        let d = scan_all(
            &mut Floor::default(),
            Some(&plan),
            &[BADGE, START, lot(40).as_str()],
        );
        assert_eq!(
            (d.outcome.action, d.outcome.warning),
            (Some("issued"), None)
        );
    }

    #[test]
    fn what_was_drawn_from_a_lot_comes_back_and_is_forgotten_with_its_plan() {
        let plan = stock_plan(protocol::NegativeStock::Refuse);
        let mut floor = Floor::default();
        let mut saved = BTreeMap::new();
        for code in [BADGE, START, "(92)STEEL-2MM(93)L-0001(94)20kg"] {
            saved.extend(floor.scan(&request(code), Some(&plan)).state);
        }
        assert_eq!(
            floor.drawn[&LotId::from("L-0001")],
            Drawn {
                plan: PlanVersion(4),
                qty: Decimal::new(20, 0)
            }
        );
        assert_eq!(Floor::restore(saved), floor);
        let mut newer = plan.clone();
        newer.version = PlanVersion(5);
        let pruned = floor.prune(Some(&newer), at(), []);
        assert!(
            pruned
                .state
                .contains(&(format!("{DRAWN_PREFIX}L-0001"), String::new())),
            "{pruned:?}"
        );
        assert!(floor.drawn.is_empty());
    }

    #[test]
    fn a_refusal_names_the_reason_and_its_values() {
        let plan = plan();
        let mut floor = Floor::default();
        let d = scan_all(
            &mut floor,
            Some(&plan),
            &[BADGE, START, "(92)BOLT-M8(93)B-1(94)100pcs"],
        );
        assert_eq!(
            d.outcome.message,
            "wrong item: BOLT-M8 is not a component of operation 10 of WO-1"
        );
        assert_eq!(d.outcome.params["item"], "BOLT-M8");
        let EventKind::ScanRejected { raw, reason } = &d.events[0].kind else {
            panic!("{:?}", d.events);
        };
        assert_eq!(
            (raw.as_str(), reason.as_str()),
            ("(92)BOLT-M8(93)B-1(94)100pcs", d.outcome.message.as_str())
        );
        assert_eq!(d.outcome.event_id, Some(d.events[0].id));
        assert_eq!(
            d.events[0].source.device.as_ref().map(|d| d.as_str()),
            Some("scanner-1")
        );
    }

    #[test]
    fn suppliers_gs1_labels_are_lots_through_the_plan_s_gtins() {
        // Net weight 25.5 kg (3101), batch, expiry 2027-01-31.
        let good = "]C101095060001343523101000255\u{1d}10SUP-7\u{1d}17270131";
        check(&[BADGE, START, good], ("issued", &["material_issued"]));
        let d = scan_all(&mut Floor::default(), Some(&plan()), &[BADGE, START, good]);
        let EventKind::MaterialIssued { qty, uom, lot, .. } = &d.events[0].kind else {
            panic!()
        };
        assert_eq!(
            (*qty, uom.as_str(), lot.as_str()),
            (Decimal::new(255, 1), "kg", "SUP-7")
        );
        check(
            &[
                BADGE,
                START,
                "(01)09506000134352(3101)000255(10)SUP-8(17)261101",
            ],
            ("expired", &["scan_rejected"]),
        );
        check(
            &[BADGE, START, "(01)09506000134369(10)X(30)5"],
            ("unknown_item", &["scan_rejected"]),
        );
        check(
            &[BADGE, START, "(01)09506000134352(30)5"],
            ("missing_lot", &["scan_rejected"]),
        );
        check(
            &[BADGE, START, "(01)09506000134352(10)X"],
            ("missing_quantity", &["scan_rejected"]),
        );
    }

    #[test]
    fn lots_after_a_location_are_received_or_moved_there() {
        check(&["(95)RACK-1"], ("location_set", &[]));
        check(&["(95)RACK-1", STEEL], ("received", &["material_received"]));
        // Central knows L-OLD's place... but it is expired: refused before anything moves.
        check(
            &["(95)RACK-1", "(92)STEEL-2MM(93)L-OLD(94)5kg"],
            ("expired", &["scan_rejected"]),
        );
        check(
            &["(95)RACK-1", STEEL, "(95)RACK-2", STEEL],
            ("moved", &["material_moved"]),
        );
        check(&["(95)RACK-1", "(95)RACK-1"], ("location_cleared", &[]));
        // Location cleared: the lot is issued to what runs here again.
        check(
            &["(95)RACK-1", "(95)RACK-1", STEEL],
            ("issued", &["material_issued"]),
        );
    }

    #[test]
    fn a_supplier_label_s_order_number_goes_with_the_receipt() {
        // (400): the customer's purchase order number, as the supplier prints it.
        let label = "(01)09506000134352(3101)000255(10)SUP-9(17)271231(400)PO000007";
        let d = scan_all(&mut Floor::default(), Some(&plan()), &["(95)RACK-1", label]);
        let EventKind::MaterialReceived {
            lot,
            purchase_order,
            ..
        } = &d.events[0].kind
        else {
            panic!("{:?}", d.events)
        };
        assert_eq!(
            (lot.as_str(), purchase_order.as_deref()),
            ("SUP-9", Some("PO000007"))
        );
        // Without (400) the receipt names no order: central takes the item's oldest open one.
        let d = scan_all(
            &mut Floor::default(),
            Some(&plan()),
            &[
                "(95)RACK-1",
                "(01)09506000134352(3101)000255(10)SUP-9(17)271231",
            ],
        );
        assert!(matches!(
            &d.events[0].kind,
            EventKind::MaterialReceived {
                purchase_order: None,
                ..
            }
        ));
    }

    #[test]
    fn unreadable_codes_and_other_stations_are_refused() {
        check(&["hello"], ("unknown_code", &["scan_rejected"]));
        check(&[""], ("unknown_code", &["scan_rejected"]));
        check(&["(97)st-10"], ("station_checked", &[]));
        check(&["(97)st-20"], ("other_station", &["scan_rejected"]));
    }

    #[test]
    fn completing_a_lot_names_it_after_the_order_and_records_what_went_in() {
        let plan = plan();
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[BADGE, START, STEEL]);
        let complete = |floor: &mut Floor, qty| {
            floor.command(
                &StationCommand {
                    station: "st-10".into(),
                    at: at(),
                    action: StationAction::CompleteLot {
                        qty,
                        approved_by: None,
                    },
                    reply: None,
                },
                Some(&plan),
            )
        };
        let d = complete(&mut floor, Decimal::new(48, 0));
        assert_eq!(d.outcome.lot.as_ref().map(|l| l.as_str()), Some("WO-1-001"));
        let EventKind::LotProduced {
            consumed_lots, qty, ..
        } = &d.events[0].kind
        else {
            panic!("{:?}", d.events)
        };
        assert_eq!(
            (consumed_lots.clone(), *qty),
            (vec![LotId::from("L-1")], Decimal::new(48, 0))
        );
        let d = complete(&mut floor, Decimal::new(48, 0));
        assert_eq!(d.outcome.lot.as_ref().map(|l| l.as_str()), Some("WO-1-002"));
        let d = complete(&mut floor, Decimal::ZERO);
        assert_eq!(d.outcome.reason, Some("bad_quantity"));
    }

    #[test]
    fn a_lot_made_to_order_says_whom_it_is_for() {
        let mut plan = plan();
        plan.work_orders[0].made_for = vec![protocol::PlanMadeFor {
            order: "SO000042/1".into(),
            customer: "C000007".into(),
            customer_name: "宏达自行车".into(),
            confirmed: NaiveDate::from_ymd_opt(2026, 12, 4),
        }];
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[BADGE, START, STEEL]);
        let d = floor.command(
            &StationCommand {
                station: "st-10".into(),
                at: at(),
                action: StationAction::CompleteLot {
                    qty: Decimal::new(48, 0),
                    approved_by: None,
                },
                reply: None,
            },
            Some(&plan),
        );
        assert_eq!(d.outcome.action, Some("lot_completed"));
        assert_eq!(d.outcome.lot.as_ref().map(|l| l.as_str()), Some("WO-1-001"));
        assert_eq!(
            (
                d.outcome.params.get("customer").map(String::as_str),
                d.outcome.params.get("order").map(String::as_str)
            ),
            (Some("宏达自行车"), Some("SO000042/1"))
        );
        assert!(
            d.outcome.message.ends_with(", for 宏达自行车 (SO000042/1)"),
            "{}",
            d.outcome.message
        );
        // Made to stock: nothing about a customer.
        let d = floor.command(
            &StationCommand {
                station: "st-10".into(),
                at: at(),
                action: StationAction::CompleteLot {
                    qty: Decimal::new(48, 0),
                    approved_by: None,
                },
                reply: None,
            },
            Some(&plan_without_skills()),
        );
        assert_eq!(d.outcome.action, Some("lot_completed"));
        assert!(
            !d.outcome.params.contains_key("customer"),
            "{:?}",
            d.outcome.params
        );
    }

    #[test]
    fn the_floor_comes_back_from_the_state_its_decisions_saved() {
        let plan = plan();
        let mut floor = Floor::default();
        let mut saved = BTreeMap::new();
        for code in [
            BADGE,
            START,
            STEEL,
            "(95)RACK-1",
            "(92)GREASE(93)G-1(94)5kg",
        ] {
            saved.extend(floor.scan(&request(code), Some(&plan)).state);
        }
        assert_eq!(Floor::restore(saved), floor);
        assert_eq!(
            floor.started(),
            BTreeMap::from([(
                StationId::from("st-10"),
                (WorkOrderId::from("WO-1"), Some(10))
            )])
        );
        // A value that does not parse is skipped, not fatal.
        let restored = Floor::restore([(format!("{STATION_PREFIX}st-1"), "{oops".to_owned())]);
        assert_eq!(restored, Floor::default());
    }

    /// A dock's plan: two open lines of SO000001, one of SO000002, and finished lots held,
    /// expired and stored at another place.
    fn ship_plan() -> Plan {
        let mut plan = plan_without_skills();
        let line = |order: &str, line: u32, item: &str, open: i64| protocol::PlanShipment {
            order: order.into(),
            customer: "C0001".into(),
            customer_name: "Shenzhen Precision".into(),
            line,
            item: item.into(),
            open_qty: Decimal::new(open, 0),
            uom: "pcs".into(),
            confirmed: NaiveDate::from_ymd_opt(2026, 12, 1),
        };
        plan.shipments = vec![
            line("SO000001", 1, "BRACKET", 300),
            line("SO000001", 2, "COVER", 50),
            line("SO000002", 1, "BRACKET", 10),
        ];
        let lot =
            |lot: &str, on_hold: bool, expires: Option<NaiveDate>, at: Option<&str>| PlanLot {
                lot: lot.into(),
                item: "BRACKET".into(),
                expires,
                on_hold,
                hold_reason: on_hold.then(|| "customer complaint 88".to_owned()),
                location: at.map(LocationId::from),
                on_hand: None,
            };
        plan.lots.extend([
            lot("FG-HOLD", true, None, Some("DOCK-A")),
            lot("FG-OLD", false, NaiveDate::from_ymd_opt(2026, 11, 26), None),
            lot("FG-B", false, None, Some("DOCK-B")),
        ]);
        plan
    }

    const ORDER: &str = "(98)SO000001";
    const DOCK: &str = "(95)DOCK-A";
    const FG_200: &str = "(92)BRACKET(93)FG-1(94)200pcs";

    /// `check` on the dock's plan: the last scan's result, reason or action, and event kinds.
    #[track_caller]
    fn check_ship(codes: &[&str], expect: (&str, &[&str])) -> Decision {
        let plan = ship_plan();
        let mut floor = Floor::default();
        let d = scan_all(&mut floor, Some(&plan), codes);
        let what = match d.outcome.result {
            ScanResult::Accepted => d.outcome.action.unwrap_or("?"),
            _ => d.outcome.reason.unwrap_or("?"),
        };
        assert_eq!(
            (what, names(&d).as_slice()),
            expect,
            "{}",
            d.outcome.message
        );
        if d.outcome.result == ScanResult::Rejected {
            assert!(d.state.is_empty(), "a refused scan changes no state");
        }
        d
    }

    #[test]
    fn an_order_ships_only_when_the_plan_lists_it_open() {
        check_ship(&[ORDER], ("shipping_started", &[]));
        let d = check_ship(&["(98)SO000009"], ("order_not_open", &["scan_rejected"]));
        assert_eq!(
            d.outcome.message,
            "sales order SO000009 has no open line to ship in this edge's plan"
        );
        let mut floor = Floor::default();
        let d = floor.scan(&request(ORDER), None);
        assert_eq!(d.outcome.reason, Some("no_plan"));
        // The answer names the customer and what is open.
        let d = check_ship(&[ORDER], ("shipping_started", &[]));
        assert!(
            d.outcome.message.contains(
                "C0001 Shenzhen Precision, open: line 1 BRACKET 300 pcs, line 2 COVER 50 pcs"
            ),
            "{}",
            d.outcome.message
        );
    }

    #[test]
    fn a_lot_before_the_location_is_refused_location_first() {
        let d = check_ship(&[ORDER, FG_200], ("location_first", &["scan_rejected"]));
        assert!(
            d.outcome.message.starts_with("scan the location first"),
            "{}",
            d.outcome.message
        );
        // A location scanned before the order is not where its lots are picked.
        check_ship(
            &[DOCK, ORDER, FG_200],
            ("location_first", &["scan_rejected"]),
        );
        check_ship(&[ORDER, DOCK], ("pick_location_set", &[]));
    }

    #[test]
    fn a_shipped_lot_is_a_lot_shipped_event_of_the_station_s_shipment() {
        let plan = ship_plan();
        let mut floor = Floor::default();
        let d = scan_all(&mut floor, Some(&plan), &[ORDER, DOCK, FG_200]);
        assert_eq!(d.outcome.action, Some("shipped"), "{}", d.outcome.message);
        assert_eq!(
            d.outcome.message,
            "200 pcs of lot FG-1 shipped on SO000001 line 1 to C0001; \
             still open: line 1 BRACKET 100 pcs, line 2 COVER 50 pcs"
        );
        let shipment = floor.stations[&StationId::from("st-10")]
            .shipping
            .clone()
            .expect("shipping")
            .shipment;
        assert_eq!(
            d.events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
            vec![EventKind::LotShipped {
                order: "SO000001".into(),
                line: 1,
                item: "BRACKET".into(),
                lot: "FG-1".into(),
                qty: Decimal::new(200, 0),
                uom: "pcs".into(),
                location: "DOCK-A".into(),
                shipment: shipment.clone(),
            }]
        );
        assert!(bounds::check_kind(&d.events[0].kind).is_ok());
        // A second line and lot of the same shipment carry the same id.
        let d = floor.scan(&request("(92)COVER(93)CV-1(94)50pcs"), Some(&plan));
        assert_eq!(d.outcome.action, Some("shipped"), "{}", d.outcome.message);
        assert!(
            d.outcome
                .message
                .ends_with("still open: line 1 BRACKET 100 pcs"),
            "{}",
            d.outcome.message
        );
        let EventKind::LotShipped {
            line, shipment: s, ..
        } = &d.events[0].kind
        else {
            panic!("{:?}", d.events);
        };
        assert_eq!((*line, s), (2, &shipment));
    }

    #[test]
    fn held_and_expired_lots_never_ship() {
        let d = check_ship(
            &[ORDER, DOCK, "(92)BRACKET(93)FG-HOLD(94)10pcs"],
            ("on_hold", &["scan_rejected"]),
        );
        assert_eq!(
            d.outcome.message,
            "lot FG-HOLD is on hold: customer complaint 88"
        );
        check_ship(
            &[ORDER, DOCK, "(92)BRACKET(93)FG-OLD(94)10pcs"],
            ("expired", &["scan_rejected"]),
        );
    }

    #[test]
    fn a_lot_of_an_item_the_order_does_not_ship_is_refused_naming_its_items() {
        let d = check_ship(
            &[ORDER, DOCK, "(92)GREASE(93)G-1(94)5pcs"],
            ("not_on_order", &["scan_rejected"]),
        );
        assert_eq!(
            d.outcome.message,
            "GREASE is not an open line of SO000001, which ships BRACKET, COVER"
        );
        check_ship(
            &[ORDER, DOCK, "(92)BRACKET(93)FG-1(94)5kg"],
            ("wrong_unit", &["scan_rejected"]),
        );
    }

    #[test]
    fn more_than_is_still_open_is_refused_with_the_figures() {
        let d = check_ship(
            &[ORDER, DOCK, "(92)BRACKET(93)FG-1(94)301pcs"],
            ("over_ship", &["scan_rejected"]),
        );
        assert_eq!(
            d.outcome.message,
            "too much BRACKET for SO000001: the lot holds 301 pcs, the order still takes 300 pcs"
        );
        // What this edge shipped since the plan counts.
        let d = check_ship(
            &[ORDER, DOCK, FG_200, "(92)BRACKET(93)FG-2(94)101pcs"],
            ("over_ship", &["scan_rejected"]),
        );
        assert_eq!(d.outcome.params["open"], "100");
        check_ship(
            &[ORDER, DOCK, FG_200, "(92)BRACKET(93)FG-2(94)100pcs"],
            ("shipped", &["lot_shipped"]),
        );
        check_ship(
            &[ORDER, DOCK, FG_200, FG_200],
            ("already_shipped", &["scan_rejected"]),
        );
    }

    #[test]
    fn a_lot_known_at_another_place_is_refused() {
        let d = check_ship(
            &[ORDER, DOCK, "(92)BRACKET(93)FG-B(94)10pcs"],
            ("wrong_location", &["scan_rejected"]),
        );
        assert_eq!(
            d.outcome.message,
            "lot FG-B is at DOCK-B, not at DOCK-A: pick it where it is"
        );
        check_ship(
            &[ORDER, "(95)DOCK-B", "(92)BRACKET(93)FG-B(94)10pcs"],
            ("shipped", &["lot_shipped"]),
        );
        // Where this edge put a lot itself counts before what central said.
        check_ship(
            &[
                "(95)DOCK-C",
                "(92)BRACKET(93)FG-B(94)10pcs",
                ORDER,
                "(95)DOCK-B",
                "(92)BRACKET(93)FG-B(94)10pcs",
            ],
            ("wrong_location", &["scan_rejected"]),
        );
    }

    #[test]
    fn the_order_scanned_again_closes_its_shipment_and_the_next_gets_a_new_id() {
        let plan = ship_plan();
        let mut floor = Floor::default();
        scan_all(&mut floor, Some(&plan), &[ORDER, DOCK, FG_200]);
        let first = floor.stations[&StationId::from("st-10")].shipping.clone();
        let d = floor.scan(&request(ORDER), Some(&plan));
        assert_eq!(d.outcome.action, Some("shipment_closed"));
        assert_eq!(
            d.outcome.message,
            "shipment of SO000001 closed: 1 lots shipped"
        );
        let state = &floor.stations[&StationId::from("st-10")];
        assert_eq!((&state.shipping, &state.location), (&None, &None));
        scan_all(&mut floor, Some(&plan), &[ORDER]);
        let second = floor.stations[&StationId::from("st-10")].shipping.clone();
        assert_ne!(
            first.map(|s| s.shipment),
            second.map(|s| s.shipment),
            "a new shipment"
        );
    }

    #[test]
    fn what_was_shipped_comes_back_and_is_forgotten_with_its_plan() {
        let plan = ship_plan();
        let mut floor = Floor::default();
        let mut saved = BTreeMap::new();
        for code in [ORDER, DOCK, FG_200] {
            saved.extend(floor.scan(&request(code), Some(&plan)).state);
        }
        assert_eq!(
            floor.shipped[&(SalesOrderId::from("SO000001"), 1)],
            Drawn {
                plan: PlanVersion(4),
                qty: Decimal::new(200, 0)
            }
        );
        assert_eq!(Floor::restore(saved), floor);
        let mut newer = plan.clone();
        newer.version = PlanVersion(5);
        let pruned = floor.prune(Some(&newer), at(), []);
        assert!(
            pruned
                .state
                .contains(&(format!("{SHIPPED_PREFIX}1/SO000001"), String::new())),
            "{pruned:?}"
        );
        assert!(floor.shipped.is_empty());
    }

    /// A machine state at `station`, `minutes` after [`at`], as a PLC reports it.
    fn state_at(
        station: &str,
        minutes: i64,
        state: protocol::MachineState,
        reason: Option<&str>,
    ) -> EventBody {
        EventBody {
            id: EventId(uuid::Uuid::now_v7()),
            at: at() + chrono::TimeDelta::minutes(minutes),
            source: Source {
                device: Some("press-1".into()),
                station: Some(station.into()),
            },
            kind: EventKind::MachineStateChanged {
                state,
                reason: reason.map(str::to_owned),
            },
        }
    }

    /// An operator's reason for the stop of st-10 since `since`, given 30 minutes after [`at`].
    fn give(floor: &mut Floor, plan: &Plan, reason: &str, since: DateTime<Utc>) -> Decision {
        floor.command(
            &StationCommand {
                station: "st-10".into(),
                at: at() + chrono::TimeDelta::minutes(30),
                action: StationAction::GiveStopReason {
                    reason: reason.into(),
                    since,
                },
                reply: None,
            },
            Some(plan),
        )
    }

    fn with_stop_reasons(codes: &[(&str, bool)]) -> Plan {
        let mut plan = plan();
        plan.rules = Some(protocol::PlanRules {
            stop_reasons: codes
                .iter()
                .map(|(code, planned)| protocol::PlanStopReason {
                    code: (*code).into(),
                    name: format!("{code} (en)"),
                    name_zh: String::new(),
                    category: "breakdown".into(),
                    planned: *planned,
                })
                .collect(),
            ..Default::default()
        });
        plan
    }

    fn stop_of(floor: &Floor, station: &str) -> Option<UnattributedStop> {
        floor
            .stations
            .get(&StationId::from(station))
            .and_then(|s| s.unattributed_stop.clone())
    }

    #[test]
    fn a_stop_without_a_reason_waits_for_one_and_the_reason_names_it() {
        use protocol::MachineState::*;
        let plan = with_stop_reasons(&[("JAM", false), ("BREAK", true)]);
        let mut floor = Floor::default();
        let saved = floor.track_stops(&[
            state_at("st-10", 0, Running, None),
            state_at("st-10", 5, Down, None),
            // The same stop read again (a PLC that repeats its state) changes nothing.
            state_at("st-10", 6, Down, None),
            state_at("st-20", 7, Down, Some("jam")),
        ]);
        let since = at() + chrono::TimeDelta::minutes(5);
        assert_eq!(
            stop_of(&floor, "st-10"),
            Some(UnattributedStop { since, ended: None })
        );
        // Saved with the batch, so it is still asked for after a restart; a stop with a
        // reason leaves no trace and st-20 is not made a station by it.
        assert_eq!(
            saved.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["scan/station/st-10"]
        );
        assert!(!floor.stations.contains_key(&StationId::from("st-20")));
        assert_eq!(Floor::restore(saved), floor);

        let d = give(&mut floor, &plan, "JAM", since);
        assert_eq!(
            d.outcome.result,
            ScanResult::Accepted,
            "{}",
            d.outcome.message
        );
        assert_eq!(d.outcome.action, Some("stop_reason_given"));
        assert_eq!(names(&d), ["stop_reason_given"]);
        let event = &d.events[0];
        assert_eq!(
            event.kind,
            EventKind::StopReasonGiven {
                reason: "JAM".into(),
                since
            }
        );
        assert_eq!(event.source.station, Some("st-10".into()));
        assert_eq!(event.at, at() + chrono::TimeDelta::minutes(30));
        assert_eq!(stop_of(&floor, "st-10"), None);
        assert_eq!(Floor::restore(d.state), floor);
        // Given once: the same tap again is refused, and says why.
        let again = give(&mut floor, &plan, "JAM", since);
        assert_eq!(again.outcome.reason, Some("no_open_stop"));
        assert_eq!(names(&again), ["scan_rejected"]);
        assert!(again.state.is_empty());
    }

    #[test]
    fn the_last_stop_takes_a_reason_after_it_ended_but_an_older_one_does_not() {
        use protocol::MachineState::*;
        let plan = with_stop_reasons(&[("JAM", false), ("BREAK", true)]);
        let mut floor = Floor::default();
        floor.track_stops(&[
            state_at("st-10", 0, Down, None),
            state_at("st-10", 2, Running, None),
        ]);
        let first = at();
        assert_eq!(
            stop_of(&floor, "st-10"),
            Some(UnattributedStop {
                since: first,
                ended: Some(at() + chrono::TimeDelta::minutes(2))
            })
        );
        // A late message stamped before the stop began changes nothing.
        assert!(
            floor
                .track_stops(&[state_at("st-10", -1, Idle, None)])
                .is_empty()
        );
        // A newer stop without a reason replaces it: the older one can no longer be named.
        floor.track_stops(&[state_at("st-10", 4, Down, None)]);
        let second = at() + chrono::TimeDelta::minutes(4);
        let d = give(&mut floor, &plan, "JAM", first);
        assert_eq!(
            d.outcome.reason,
            Some("other_stop"),
            "{}",
            d.outcome.message
        );
        assert!(
            d.outcome.message.contains("began at 2026-11-27T10:04:00Z"),
            "{}",
            d.outcome.message
        );
        // A name not in the plant's list is refused; planned reasons are in the list.
        let d = give(&mut floor, &plan, "COFFEE", second);
        assert_eq!(d.outcome.reason, Some("unknown_stop_reason"));
        assert_eq!(
            d.outcome.message,
            "COFFEE is not one of the plant's stop reasons"
        );
        assert!(stop_of(&floor, "st-10").is_some());
        let d = give(&mut floor, &plan, "BREAK", second);
        assert_eq!(
            d.outcome.result,
            ScanResult::Accepted,
            "{}",
            d.outcome.message
        );
        // A stop the machine gave a reason for replaces an unattributed one: the station's
        // last stop is attributed, and the older one is no longer asked for.
        floor.track_stops(&[state_at("st-10", 10, Down, None)]);
        floor.track_stops(&[state_at("st-10", 12, Down, Some("tool change"))]);
        assert_eq!(stop_of(&floor, "st-10"), None);
    }

    #[test]
    fn without_a_list_of_reasons_free_text_is_taken_within_bounds() {
        use protocol::MachineState::*;
        let plan = with_stop_reasons(&[]);
        let mut floor = Floor::default();
        floor.track_stops(&[state_at("st-10", 0, Down, None)]);
        for (reason, refused) in [
            (
                "",
                "the stop reason is empty; expected a reason code or text",
            ),
            (
                "jam\u{202E}",
                "the stop reason holds the control or invisible character U+202E at byte 3",
            ),
        ] {
            let d = give(&mut floor, &plan, reason, at());
            assert_eq!(d.outcome.reason, Some("bad_reason"));
            assert_eq!(d.outcome.message, refused);
        }
        let d = give(&mut floor, &plan, "hydraulic hose burst", at());
        assert_eq!(
            d.outcome.result,
            ScanResult::Accepted,
            "{}",
            d.outcome.message
        );
        // With no plan at all, likewise.
        floor.track_stops(&[state_at("st-10", 3, Down, None)]);
        let d = floor.command(
            &StationCommand {
                station: "st-10".into(),
                at: at() + chrono::TimeDelta::minutes(4),
                action: StationAction::GiveStopReason {
                    reason: "power cut".into(),
                    since: at() + chrono::TimeDelta::minutes(3),
                },
                reply: None,
            },
            None,
        );
        assert_eq!(
            d.outcome.result,
            ScanResult::Accepted,
            "{}",
            d.outcome.message
        );
    }

    #[test]
    fn a_reason_is_never_recorded_before_the_stop_it_names() {
        use protocol::MachineState::*;
        let plan = with_stop_reasons(&[]);
        let mut floor = Floor::default();
        // A device whose clock runs ahead of the edge's stamped the stop after "now".
        floor.track_stops(&[state_at("st-10", 45, Down, None)]);
        let since = at() + chrono::TimeDelta::minutes(45);
        let d = give(&mut floor, &plan, "jam", since);
        assert_eq!(d.events[0].at, since);
        let window = protocol::bounds::TimeWindow::around(since, chrono::TimeDelta::hours(1));
        assert_eq!(protocol::bounds::check_event(&d.events[0], &window), Ok(()));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// One thing done at st-10: a code scanned, or a button.
        #[derive(Debug, Clone)]
        enum Act {
            Code(String),
            SignIn(&'static str, PinCheck),
            SignOut,
            Complete(Decimal, Option<&'static str>),
        }

        fn qty() -> impl Strategy<Value = String> {
            prop_oneof![
                (1u32..500).prop_map(|n| n.to_string()),
                (0u64..=u64::MAX).prop_map(|n| n.to_string()),
                Just("0".to_owned()),
                Just("79228162514264337593543950335".to_owned()),
                (1u32..100_000, 0u32..12).prop_map(|(n, s)| Decimal::new(n.into(), s).to_string()),
            ]
        }

        fn decimal() -> impl Strategy<Value = Decimal> {
            prop_oneof![
                (1i64..2_000).prop_map(Decimal::from),
                Just(Decimal::ZERO),
                Just(Decimal::MAX),
                Just(Decimal::MIN),
                (any::<i64>(), 0u32..28).prop_map(|(n, s)| Decimal::new(n, s)),
            ]
        }

        fn act() -> impl Strategy<Value = Act> {
            let item = prop_oneof![Just("STEEL-2MM"), Just("GREASE"), Just("BOLT-M8")];
            let lot = prop_oneof![
                Just("L-1".to_owned()),
                Just("L-2".to_owned()),
                Just("L-HOLD".to_owned()),
                Just("L-OLD".to_owned()),
                "[A-Z]{1,3}"
            ];
            let uom = prop_oneof![Just("kg"), Just("pcs"), Just("lb")];
            let badge = prop_oneof![Just("10442"), Just("10443"), Just("9001"), Just("66666")];
            let pin = prop_oneof![
                Just(PinCheck::NotGiven),
                Just(PinCheck::Verified),
                Just(PinCheck::Wrong),
                Just(PinCheck::Locked)
            ];
            prop_oneof![
                (item, lot, qty(), uom)
                    .prop_map(|(i, l, q, u)| Act::Code(format!("(92){i}(93){l}(94){q}{u}"))),
                prop_oneof![
                    Just("WO-1"),
                    Just("WO-2"),
                    Just("WO-HELD"),
                    Just("WO-WELD"),
                    Just("WO-9")
                ]
                .prop_map(|wo| Act::Code(format!("(91){wo}"))),
                badge.clone().prop_map(|b| Act::Code(format!("(96){b}"))),
                (badge, pin).prop_map(|(b, p)| Act::SignIn(b, p)),
                prop_oneof![Just("RACK-1"), Just("RACK-2")]
                    .prop_map(|l| Act::Code(format!("(95){l}"))),
                Just(Act::SignOut),
                (
                    decimal(),
                    prop_oneof![Just(None), Just(Some("9001")), Just(Some("10443"))]
                )
                    .prop_map(|(q, by)| Act::Complete(q, by)),
                any::<String>().prop_map(Act::Code),
                "(01)09506000134352(3101)[0-9]{6}(10)[A-Z0-9]{1,8}".prop_map(Act::Code),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever is scanned and pressed, in whatever order: no panic; every event is
            /// within the bounds central takes; a refusal changes nothing but itself; a limited
            /// component is never issued beyond what the order needs; finished lots stay within
            /// the order unless a supervisor approved; and the floor comes back whole from the
            /// state its decisions saved.
            #[test]
            fn the_scan_processor_keeps_its_promises(acts in proptest::collection::vec(act(), 1..60)) {
                let plan = plan();
                let mut floor = Floor::default();
                let mut saved = BTreeMap::new();
                let window = protocol::bounds::TimeWindow::around(at(), chrono::TimeDelta::hours(1));
                let mut approved = false;
                for act in acts {
                    let d = match &act {
                        Act::Code(code) => floor.scan(&request(code), Some(&plan)),
                        other => {
                            let action = match other {
                                Act::SignIn(badge, pin) => StationAction::SignIn { badge: (*badge).into(), pin: *pin },
                                Act::SignOut => StationAction::SignOut,
                                Act::Complete(qty, by) => StationAction::CompleteLot { qty: *qty, approved_by: by.map(OperatorId::from) },
                                Act::Code(_) => unreachable!(),
                            };
                            floor.command(
                                &StationCommand { station: "st-10".into(), at: at(), action, reply: None },
                                Some(&plan),
                            )
                        }
                    };
                    for e in &d.events {
                        prop_assert_eq!(protocol::bounds::check_event(e, &window), Ok(()), "{:?} gave {:?}", act, e);
                    }
                    if d.outcome.result == ScanResult::Rejected {
                        prop_assert!(d.state.is_empty());
                        prop_assert_eq!(d.events.len(), 1);
                    }
                    if d.outcome.action == Some("lot_completed")
                        && let Act::Complete(_, Some("9001")) = act
                    {
                        approved = true;
                    }
                    saved.extend(d.state);
                }
                for ((wo, op), issued) in &floor.issued {
                    let order = plan.work_order(wo.as_str()).unwrap();
                    let operation = order.operations.iter().find(|o| o.operation == *op).unwrap();
                    for need in &operation.components {
                        let done = issued.by_item.get(&need.item).copied().unwrap_or_default();
                        prop_assert!(done <= need.qty, "{} issued {} of {}", wo, done, need.qty);
                    }
                    if !approved {
                        prop_assert!(issued.qty_produced <= order.qty, "{} produced {}", wo, issued.qty_produced);
                    }
                }
                let restored = Floor::restore(saved);
                // A station looked at but never changed has an empty entry in memory only.
                let changed = |f: &Floor| -> BTreeMap<StationId, StationState> {
                    f.stations
                        .iter()
                        .filter(|(_, s)| **s != StationState::default())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                prop_assert_eq!(changed(&restored), changed(&floor));
                prop_assert_eq!(&restored.issued, &floor.issued);
                prop_assert_eq!(&restored.lot_locations, &floor.lot_locations);
            }
        }
    }
}

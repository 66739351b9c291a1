//! Stations and scans over HTTP: what the line terminal, handheld terminals and other callers
//! use.
//!
//! - `POST /api/v1/scans` hands a code to the scan processor and answers with the outcome
//!   once the scan's event is committed ([`ScanOutcome`]).
//! - `GET /api/v1/stations`, `GET /api/v1/stations/{station}`: the stations and one station's
//!   view ([`StationView`]).
//! - `GET /api/v1/stations/{station}/events`: the same view as server-sent events, at connect
//!   and after every committed change, so the terminal updates without reloading.
//! - `POST /api/v1/stations/{station}/sign-in` (badge and PIN), `…/sign-out`,
//!   `…/lots`, `…/stop-reason` (the reason for the station's stop the machine reported without
//!   one), `…/requisitions` (more material for the running work order than it may take, for
//!   a supervisor to approve): the terminal's buttons, answered like scans.
//!
//! Looking is open to the plant network; acting (scans, sign-in and out, lots, stop reasons,
//! requisitions) needs a terminal paired for the station ([`super::access`]): an unpaired browser gets 401
//! `not_paired`.
//! - `GET /api/v1/labels/{lot}.png`: the label of a lot completed at one of the stations.
//!
//! Everything here is served from the edge's own state: it keeps working while central is
//! unreachable.

use super::{Refusal, TerminalState, error};
use crate::exchange::{PinCheck, ScanOutcome, StationAction, StationCommand};
use crate::labels::{FinishedLot, Symbology, finished_lot_label};
use crate::live::{FloorView, ScanRecord};
use crate::sources::{ScanRequest, SourceMessage};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::{EdgeId, Plan, PlanVersion, StationId, WorkOrderId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// The longest code accepted over HTTP; scanners send far less.
pub const MAX_CODE_LEN: usize = protocol::bounds::MAX_CODE_LEN;

/// The way from HTTP into the processor. Closed when the edge stops its sources, so the
/// processor can finish; later requests get 503.
/// Closing it also ends the live streams, so the HTTP server's graceful shutdown is not held
/// open by terminals that never hang up.
#[derive(Clone)]
pub struct ScanGate {
    to_processor: Arc<Mutex<Option<mpsc::Sender<SourceMessage>>>>,
    closed: watch::Sender<bool>,
}

impl ScanGate {
    pub fn new(to_processor: mpsc::Sender<SourceMessage>) -> ScanGate {
        ScanGate {
            to_processor: Arc::new(Mutex::new(Some(to_processor))),
            closed: watch::Sender::new(false),
        }
    }

    pub fn close(&self) {
        self.to_processor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.closed.send_replace(true);
    }

    fn sender(&self) -> Option<mpsc::Sender<SourceMessage>> {
        self.to_processor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn watch_closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }
}

pub fn routes() -> Router<TerminalState> {
    Router::new()
        .route("/api/v1/scans", post(scan))
        .route("/api/v1/stations", get(stations))
        .route("/api/v1/stations/{station}", get(station))
        .route("/api/v1/stations/{station}/events", get(station_events))
        .route("/api/v1/stations/{station}/sign-in", post(sign_in))
        .route("/api/v1/stations/{station}/sign-out", post(sign_out))
        .route("/api/v1/stations/{station}/lots", post(complete_lot))
        .route(
            "/api/v1/stations/{station}/stop-reason",
            post(give_stop_reason),
        )
        .route(
            "/api/v1/stations/{station}/requisitions",
            post(request_material),
        )
        .route("/api/v1/labels/{file}", get(label))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    pub station: String,
    pub code: String,
    /// The handheld or scanner that read it, if the caller knows.
    #[serde(default)]
    pub device: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotBody {
    /// The quantity in the lot, in the work order's unit: a number or a decimal string.
    #[serde(deserialize_with = "number_or_string")]
    pub qty: Decimal,
    /// A supervisor who approves a lot beyond the order's open quantity.
    #[serde(default)]
    pub approved_by: Option<super::session::SupervisorBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopReasonBody {
    /// A `code` of the plan's `rules.stop_reasons`, or free text when the plan lists none.
    pub reason: String,
    /// The stop's start, as the station's view gave it (`stop.since`): a reason is given for
    /// the stop the operator saw, never for a newer one that began meanwhile.
    pub since: chrono::DateTime<chrono::Utc>,
}

/// More material for the running work order's operation, asked by the signed-in operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequisitionBody {
    pub item: String,
    /// A number or a decimal string, in `uom`.
    #[serde(deserialize_with = "number_or_string")]
    pub qty: Decimal,
    /// Needed only for an item the operation has no requirement of.
    #[serde(default)]
    pub uom: Option<String>,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    pub badge: String,
    #[serde(default)]
    pub pin: Option<String>,
}

/// A decimal given as a JSON number (`48`, `12.5`) or string (`"12.5"`).
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.to_string().parse().map_err(D::Error::custom),
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|e| D::Error::custom(format!("{s:?} is not a decimal number: {e}"))),
        other => Err(D::Error::custom(format!(
            "expected a number or a decimal string, found {other}"
        ))),
    }
}

/// One station as the terminal shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationView {
    pub station: StationId,
    pub edge_id: EdgeId,
    pub operator: Option<String>,
    pub work_order: Option<RunningView>,
    /// Where lots scanned next are put (receipts and moves).
    pub location: Option<String>,
    /// The plan's work orders with an operation here, in plan order, but the one started here
    /// by a scan (one running by the plan alone stays, so it can be started).
    pub queue: Vec<QueuedView>,
    /// Newest first.
    pub scans: Vec<ScanRecord>,
    /// Parts counted at this station and booked to no work order (no order runs here, or
    /// the one that runs is complete and the plant stops counting complete orders).
    pub unassigned: crate::live::StationCount,
    /// The station's last unplanned stop while it has no reason: the terminal asks for one.
    pub stop: Option<StopView>,
    pub plan_version: PlanVersion,
    pub central_connected: bool,
    /// Central's open SPC alarms at this station (the plan's `rules.spc_alarms`), newest
    /// first, until someone acknowledges them at central.
    pub spc_alarms: Vec<protocol::PlanSpcAlarm>,
    /// The material requisitions of the running work order: those asked here, oldest first
    /// (also those central has not heard of yet), then those the plan carries from elsewhere
    /// (another line, or filled in at central), in the plan's order.
    pub requisitions: Vec<RequisitionView>,
}

/// A material requisition as the terminal shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequisitionView {
    /// The id of the event that asked for it, or central's request number.
    pub id: String,
    /// Central's approval request, once it made one.
    pub number: Option<String>,
    pub item: String,
    pub qty: Decimal,
    pub uom: String,
    /// `unsent`: asked here, not yet at central (offline, or on its way); `waiting`,
    /// `approved`, `rejected`: as central decided it.
    pub state: &'static str,
    pub reason: Option<String>,
    pub operator: Option<String>,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
}

/// A stop the machine reported without a reason, and the reasons to pick from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopView {
    /// When it began: what `POST …/stop-reason` names as `since`.
    pub since: chrono::DateTime<chrono::Utc>,
    /// When the machine left `down`; absent while it is still stopped.
    pub ended: Option<chrono::DateTime<chrono::Utc>>,
    /// The plant's stop reasons (the plan's `rules.stop_reasons`), planned ones included and
    /// marked; empty: the terminal takes free text.
    pub reasons: Vec<protocol::PlanStopReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningView {
    pub work_order: WorkOrderId,
    /// `scan`: started here; `plan`: the plan's first order with an operation here, which
    /// the counts go to until someone starts another.
    pub by: protocol::RunBy,
    /// Good parts beyond the order's quantity plus the plant's tolerance.
    pub over_production: bool,
    /// False once the order reached its quantity plus the tolerance where the plant stops
    /// counting complete orders: counts here are then kept unassigned.
    pub counting: bool,
    /// The order's quantity plus the plant's tolerance.
    pub allowed: Option<Decimal>,
    pub item: String,
    pub operation: Option<u32>,
    pub description: Option<String>,
    pub qty: Option<Decimal>,
    pub uom: Option<String>,
    pub good: u64,
    pub scrap: u64,
    pub on_hold: bool,
    pub components: Vec<ComponentView>,
    /// Made to order: the customer order lines the work order is for.
    pub made_for: Vec<protocol::PlanMadeFor>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentView {
    pub item: String,
    /// Absent when the plan does not limit it.
    pub required: Option<Decimal>,
    /// What approved material requisitions add to it (zero without one).
    pub approved: Decimal,
    pub issued: Decimal,
    pub open: Option<Decimal>,
    pub uom: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedView {
    pub work_order: WorkOrderId,
    pub item: String,
    pub qty: Decimal,
    pub uom: String,
    pub due: chrono::NaiveDate,
    pub on_hold: bool,
    pub operation: u32,
    pub made_for: Vec<protocol::PlanMadeFor>,
}

/// The stations this edge knows: configured ones, the plan's, and those with saved state.
pub fn known_stations(s: &TerminalState, plan: Option<&Plan>, view: &FloorView) -> Vec<StationId> {
    let mut all: BTreeSet<StationId> = s.stations.iter().cloned().collect();
    if let Some(plan) = plan {
        for wo in &plan.work_orders {
            all.extend(wo.operations.iter().filter_map(|op| op.station.clone()));
        }
    }
    all.extend(view.floor.stations.keys().cloned());
    // A station whose counts went to no order is shown, so those counts are seen.
    all.extend(
        view.unassigned
            .keys()
            .filter(|s| !s.as_str().is_empty())
            .cloned(),
    );
    all.into_iter().collect()
}

/// Builds one station's view from the plan and the committed floor.
pub fn station_view(
    edge_id: &EdgeId,
    station: &StationId,
    plan: Option<&Plan>,
    view: &FloorView,
    central_connected: bool,
) -> StationView {
    let state = view
        .floor
        .stations
        .get(station)
        .cloned()
        .unwrap_or_default();
    // What runs here is what the counting books to: one function decides both.
    let run = view.station_run(plan, station);
    let running = run.work_order.as_ref().map(|wo| {
        let order = plan.and_then(|p| p.work_order(wo.as_str()));
        let op = order.and_then(|o| {
            o.operations
                .iter()
                .find(|op| Some(op.operation) == run.operation)
        });
        let issued = run
            .operation
            .and_then(|op| view.floor.issued.get(&(wo.clone(), op)));
        let issued_of = |item: &protocol::ItemId| {
            issued
                .and_then(|i| i.by_item.get(item))
                .copied()
                .unwrap_or_default()
        };
        let mut components: Vec<ComponentView> = Vec::new();
        if let Some(op) = op {
            let approved = |item: &protocol::ItemId| {
                plan.map(|p| p.allowance(wo.as_str(), op.operation, item.as_str()))
                    .unwrap_or_default()
            };
            for item in &op.allowed_components {
                let need = op.components.iter().find(|c| &c.item == item);
                let done = issued_of(item);
                let approved = approved(item);
                components.push(ComponentView {
                    item: item.to_string(),
                    required: need.map(|c| c.qty),
                    approved,
                    issued: done,
                    open: need.map(|c| {
                        c.qty
                            .checked_add(approved)
                            .and_then(|q| q.checked_sub(done))
                            .unwrap_or_default()
                            .max(Decimal::ZERO)
                    }),
                    uom: need.map(|c| c.uom.clone()),
                });
            }
            // Items the BOM does not name, which approved requisitions let the order take.
            let extra = plan.into_iter().flat_map(|p| &p.requisitions).filter(|r| {
                r.state == protocol::RequisitionState::Approved
                    && r.work_order == *wo
                    && r.operation.is_none_or(|o| o == op.operation)
                    && !op.allowed_components.contains(&r.item)
            });
            for r in extra {
                if components.iter().any(|c| c.item == r.item.as_str()) {
                    continue;
                }
                let approved = approved(&r.item);
                let done = issued_of(&r.item);
                components.push(ComponentView {
                    item: r.item.to_string(),
                    required: None,
                    approved,
                    issued: done,
                    open: Some(
                        approved
                            .checked_sub(done)
                            .unwrap_or_default()
                            .max(Decimal::ZERO),
                    ),
                    uom: Some(r.uom.clone()),
                });
            }
        }
        RunningView {
            work_order: wo.clone(),
            by: run.by.unwrap_or(protocol::RunBy::Plan),
            over_production: run.over_production,
            counting: run.counting,
            allowed: order.and_then(|o| {
                plan.map(|p| p.rules())
                    .unwrap_or_default()
                    .with_tolerance(o.qty)
                    .map(|q| q.normalize())
            }),
            item: order.map(|o| o.item.to_string()).unwrap_or_default(),
            operation: run.operation,
            description: op.map(|op| op.description.clone()),
            qty: order.map(|o| o.qty),
            uom: order.map(|o| o.uom.clone()),
            good: run.good,
            scrap: run.scrap,
            on_hold: order.is_some_and(|o| o.on_hold),
            components,
            made_for: order.map(|o| o.made_for.clone()).unwrap_or_default(),
        }
    });
    let requisitions = running
        .as_ref()
        .map(|r| requisitions_of(plan, view, &r.work_order))
        .unwrap_or_default();
    let queue = plan
        .map(|p| {
            p.work_orders
                .iter()
                // An order running by the plan alone stays here, to be started by a tap.
                .filter(|wo| {
                    run.by != Some(protocol::RunBy::Scan)
                        || Some(&wo.work_order) != run.work_order.as_ref()
                })
                .filter_map(|wo| {
                    let op = wo.operation_at(station.as_str())?;
                    Some(QueuedView {
                        work_order: wo.work_order.clone(),
                        item: wo.item.to_string(),
                        qty: wo.qty,
                        uom: wo.uom.clone(),
                        due: wo.due,
                        on_hold: wo.on_hold,
                        operation: op.operation,
                        made_for: wo.made_for.clone(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    StationView {
        station: station.clone(),
        edge_id: edge_id.clone(),
        operator: state.operator.map(|o| o.to_string()),
        work_order: running,
        location: state.location.map(|l| l.to_string()),
        queue,
        scans: view
            .scans
            .get(station)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default(),
        unassigned: crate::live::StationCount {
            good: run.unassigned_good,
            scrap: run.unassigned_scrap,
        },
        // The list goes with the stop only, so a station's live updates stay small.
        stop: state.unattributed_stop.map(|stop| StopView {
            since: stop.since,
            ended: stop.ended,
            reasons: plan.map(|p| p.rules().stop_reasons).unwrap_or_default(),
        }),
        plan_version: plan.map(|p| p.version).unwrap_or_default(),
        central_connected,
        spc_alarms: plan
            .map(|p| p.rules().spc_alarms)
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a.station == station.as_str())
            .collect(),
        requisitions,
    }
}

/// The requisitions of `wo`: those asked at this edge (oldest first) with what central decided
/// of them, then those the plan carries from elsewhere, in the plan's order.
fn requisitions_of(
    plan: Option<&Plan>,
    view: &FloorView,
    wo: &WorkOrderId,
) -> Vec<RequisitionView> {
    let decided = |id: &str| plan.and_then(|p| p.requisition(id));
    let mut asked: Vec<(&String, &crate::processor::scan::Asked)> = view
        .floor
        .asked
        .iter()
        .filter(|(_, a)| &a.work_order == wo)
        .collect();
    asked.sort_by_key(|(id, a)| (a.at, *id));
    let mut out: Vec<RequisitionView> = asked
        .into_iter()
        .map(|(id, a)| {
            let central = decided(id);
            RequisitionView {
                id: id.clone(),
                number: central.and_then(|r| r.number.clone()),
                item: a.item.to_string(),
                qty: a.qty,
                uom: a.uom.clone(),
                state: central.map_or("unsent", |r| r.state.as_str()),
                reason: Some(a.reason.clone()),
                operator: Some(a.operator.to_string()),
                at: Some(a.at),
                decided_by: central.and_then(|r| r.decided_by.clone()),
                comment: central.and_then(|r| r.comment.clone()),
            }
        })
        .collect();
    if let Some(plan) = plan {
        for r in plan
            .requisitions
            .iter()
            .filter(|r| &r.work_order == wo && !view.floor.asked.contains_key(&r.id))
        {
            out.push(RequisitionView {
                id: r.id.clone(),
                number: r.number.clone(),
                item: r.item.to_string(),
                qty: r.qty,
                uom: r.uom.clone(),
                state: r.state.as_str(),
                reason: None,
                operator: None,
                at: None,
                decided_by: r.decided_by.clone(),
                comment: r.comment.clone(),
            });
        }
    }
    out
}

pub(super) fn unknown_station(station: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "unknown_station",
        format!(
            "station {station:?} is not known to this edge: it is in neither its configuration nor its plan"
        ),
    )
}

/// The station's view, or `None` if the edge does not know the station.
fn view_of(s: &TerminalState, station: &str) -> Option<StationView> {
    let plan = s.live.plan();
    let floor = s.live.floor();
    let station = StationId::from(station);
    if !known_stations(s, plan.as_deref(), &floor).contains(&station) {
        return None;
    }
    Some(station_view(
        &s.edge_id,
        &station,
        plan.as_deref(),
        &floor,
        s.live.sync_health().connected,
    ))
}

async fn stations(State(s): State<TerminalState>) -> Response {
    let plan = s.live.plan();
    Json(known_stations(&s, plan.as_deref(), &s.live.floor())).into_response()
}

async fn station(State(s): State<TerminalState>, Path(station): Path<String>) -> Response {
    match view_of(&s, &station) {
        Some(view) => Json(view).into_response(),
        None => unknown_station(&station),
    }
}

async fn station_events(State(s): State<TerminalState>, Path(station): Path<String>) -> Response {
    let Some(first) = view_of(&s, &station) else {
        return unknown_station(&station);
    };
    // Each open stream holds a permit: idle browsers cannot use up the edge's sockets.
    let Ok(permit) = s.streams.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "this edge has as many live terminals open as it serves ([http] max_event_streams); close one or try again".into(),
        );
    };
    let floor = s.live.watch_floor();
    let plan = s.live.watch_plan();
    let closed = s.scans.watch_closed();
    // A stream ends after its lifetime; the browser's EventSource reconnects by itself.
    let ends = tokio::time::Instant::now() + s.stream_lifetime;
    // Sent at connect, then whenever the floor or the plan changes; the central link's state
    // is looked at every few seconds, and the view is sent only when it differs.
    let stream = futures_util::stream::unfold(
        (
            s,
            station,
            floor,
            plan,
            closed,
            None::<StationView>,
            Some(first),
            permit,
        ),
        move |(s, station, mut floor, mut plan, mut closed, last, first, permit)| async move {
            if let Some(first) = first {
                let event = sse_event(&first);
                return Some((
                    event,
                    (s, station, floor, plan, closed, Some(first), None, permit),
                ));
            }
            loop {
                let ended = tokio::select! {
                    r = floor.changed() => r.is_err(),
                    r = plan.changed() => r.is_err(),
                    _ = closed.wait_for(|c| *c) => true,
                    () = tokio::time::sleep_until(ends) => true,
                    () = tokio::time::sleep(Duration::from_secs(3)) => false,
                };
                if ended {
                    return None;
                }
                let view = view_of(&s, &station)?;
                if last.as_ref() != Some(&view) {
                    let event = sse_event(&view);
                    return Some((
                        event,
                        (s, station, floor, plan, closed, Some(view), None, permit),
                    ));
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn sse_event(view: &StationView) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event("station")
        .data(serde_json::to_string(view).unwrap_or_default()))
}

/// Hands a message to the processor and waits for the outcome (after commit); `None` when
/// the edge is stopping.
async fn ask(
    s: &TerminalState,
    message: SourceMessage,
    answer: oneshot::Receiver<ScanOutcome>,
) -> Option<ScanOutcome> {
    s.scans.sender()?.send(message).await.ok()?;
    answer.await.ok()
}

fn answer(outcome: Option<ScanOutcome>) -> Response {
    match outcome {
        Some(outcome) => Json(outcome).into_response(),
        None => stopping(),
    }
}

fn stopping() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "stopping",
        "the edge is stopping and takes no scans; scan again when it is back".into(),
    )
}

/// A body that did not parse: 413 `too_large` past the edge's body limit, else 400.
pub(super) fn bad_body(rejection: JsonRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is larger than this edge takes ([http] max_body)".into(),
        );
    }
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!(
            "the request body is not what was expected: {}",
            rejection.body_text()
        ),
    )
}

/// The terminal may act at `station`, or the answer that says why not.
fn may_act(s: &TerminalState, headers: &HeaderMap, station: &str) -> Result<(), Refusal> {
    match s.access.may_act(headers, station) {
        Ok(_) => Ok(()),
        Err(denied) => Err(Refusal::new(
            denied.status(),
            denied.code(),
            denied.to_string(),
        )),
    }
}

/// The body of a terminal's button at `station`, once it parsed, the station is known and the
/// terminal may act there; else the answer that says which of these failed.
fn button<T>(
    s: &TerminalState,
    station: &str,
    headers: &HeaderMap,
    body: Result<Json<T>, JsonRejection>,
) -> Result<T, Box<Response>> {
    let Json(body) = body.map_err(|r| Box::new(bad_body(r)))?;
    if view_of(s, station).is_none() {
        return Err(Box::new(unknown_station(station)));
    }
    may_act(s, headers, station).map_err(|r| Box::new(r.into_response()))?;
    Ok(body)
}

/// A text from a request body within [`protocol::bounds::MAX_TEXT_LEN`], or the 400 that says
/// how long it was.
fn text_field(field: &str, value: &str) -> Result<(), Refusal> {
    let max = protocol::bounds::MAX_TEXT_LEN;
    if value.len() <= max {
        return Ok(());
    }
    Err(Refusal::new(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!(
            "the {field} is {} bytes long; at most {max} are accepted",
            value.len()
        ),
    ))
}

/// An id from a request body, within bounds, or the 400 that names it.
fn id_field(field: &str, value: &str) -> Result<(), Refusal> {
    protocol::bounds::check_id(field, value)
        .map_err(|v| Refusal::new(StatusCode::BAD_REQUEST, "bad_request", v.to_string()))
}

async fn scan(
    State(s): State<TerminalState>,
    headers: HeaderMap,
    body: Result<Json<ScanBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    let checked = id_field("station", &body.station).and_then(|()| match &body.device {
        Some(device) => id_field("device", device),
        None => Ok(()),
    });
    if let Err(refusal) = checked {
        return refusal.into_response();
    }
    if view_of(&s, &body.station).is_none() {
        return unknown_station(&body.station);
    }
    if let Err(refusal) = may_act(&s, &headers, &body.station) {
        return refusal.into_response();
    }
    if body.code.len() > MAX_CODE_LEN {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "the code is {} bytes long; at most {MAX_CODE_LEN} are accepted",
                body.code.len()
            ),
        );
    }
    // The journal cannot store anything now (a full disk, say): a red answer at once that
    // says why, not a scan queued behind a commit that cannot happen.
    if let Some(refusal) = s.live.journal_refusal() {
        return answer(Some(refusal.outcome()));
    }
    let (reply, reply_to) = oneshot::channel();
    let request = ScanRequest {
        raw: body.code,
        at: chrono::Utc::now(),
        station: body.station.as_str().into(),
        device: body.device.map(|d| d.as_str().into()),
        reply: Some(reply),
    };
    answer(ask(&s, SourceMessage::Scan(Box::new(request)), reply_to).await)
}

/// A terminal button at a known station, answered like a scan; `None` when stopping.
async fn command(s: &TerminalState, station: &str, action: StationAction) -> Option<ScanOutcome> {
    if let Some(refusal) = s.live.journal_refusal() {
        return Some(refusal.outcome());
    }
    let (reply, reply_to) = oneshot::channel();
    let command = StationCommand {
        station: station.into(),
        at: chrono::Utc::now(),
        action,
        reply: Some(reply),
    };
    ask(s, SourceMessage::Station(Box::new(command)), reply_to).await
}

async fn sign_out(
    State(s): State<TerminalState>,
    Path(station): Path<String>,
    headers: HeaderMap,
) -> Response {
    if view_of(&s, &station).is_none() {
        return unknown_station(&station);
    }
    if let Err(refusal) = may_act(&s, &headers, &station) {
        return refusal.into_response();
    }
    answer(command(&s, &station, StationAction::SignOut).await)
}

/// An operator signs in with badge and PIN. The PIN is checked here, off the processor, and
/// the processor decides with the outcome (a wrong PIN is stored as a refused sign-in).
async fn sign_in(
    State(s): State<TerminalState>,
    Path(station): Path<String>,
    headers: HeaderMap,
    body: Result<Json<SignInBody>, JsonRejection>,
) -> Response {
    let body = match button(&s, &station, &headers, body) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    if let Err(refusal) = id_field("badge", &body.badge) {
        return refusal.into_response();
    }
    let plan = s.live.plan();
    let pin = match (
        plan.as_deref().and_then(|p| p.operator(&body.badge)),
        &body.pin,
    ) {
        (Some(operator), Some(pin)) if operator.pin_hash.is_some() => {
            match s.access.check_pin(operator, pin).await {
                super::access::PinOutcome::Verified => PinCheck::Verified,
                super::access::PinOutcome::Wrong => PinCheck::Wrong,
                super::access::PinOutcome::Locked => PinCheck::Locked,
                super::access::PinOutcome::NoPin => PinCheck::NotGiven,
            }
        }
        _ => PinCheck::NotGiven,
    };
    let action = StationAction::SignIn {
        badge: body.badge.as_str().into(),
        pin,
    };
    answer(command(&s, &station, action).await)
}

/// The reason for the station's stop that the machine reported without one. Who may give it
/// is who may act at the station; the processor checks the stop and the reason and answers
/// after the `stop_reason_given` event (or the refusal) is committed.
async fn give_stop_reason(
    State(s): State<TerminalState>,
    Path(station): Path<String>,
    headers: HeaderMap,
    body: Result<Json<StopReasonBody>, JsonRejection>,
) -> Response {
    let body = match button(&s, &station, &headers, body) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    if let Err(refusal) = text_field("reason", &body.reason) {
        return refusal.into_response();
    }
    let action = StationAction::GiveStopReason {
        reason: body.reason,
        since: body.since,
    };
    answer(command(&s, &station, action).await)
}

/// The signed-in operator asks for more material for the running work order: the processor
/// checks it (signed in, an order running, the unit, the bounds) and answers after the
/// `material_requested` event (or the refusal) is committed. It goes to central with the
/// other events; offline, it waits in the journal and the station's view says so.
async fn request_material(
    State(s): State<TerminalState>,
    Path(station): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RequisitionBody>, JsonRejection>,
) -> Response {
    let body = match button(&s, &station, &headers, body) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    let checked = id_field("item", &body.item)
        .and_then(|()| text_field("reason", &body.reason))
        .and_then(|()| match &body.uom {
            // The unit's own bounds are the processor's, which says what was wrong.
            Some(uom) => text_field("unit", uom),
            None => Ok(()),
        });
    if let Err(refusal) = checked {
        return refusal.into_response();
    }
    let action = StationAction::RequestMaterial {
        item: body.item.as_str().into(),
        qty: body.qty,
        uom: body.uom,
        reason: body.reason,
    };
    answer(command(&s, &station, action).await)
}

/// What became of a completed lot's label on the station's printer.
#[derive(Debug, Serialize)]
pub struct Printed {
    pub printer: String,
    pub printed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
struct LotAnswer {
    #[serde(flatten)]
    outcome: ScanOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<Printed>,
}

/// How long a label may take to reach the printer before the operator is told it did not.
const PRINT_TIMEOUT: Duration = Duration::from_secs(5);

async fn complete_lot(
    State(s): State<TerminalState>,
    Path(station): Path<String>,
    headers: HeaderMap,
    body: Result<Json<LotBody>, JsonRejection>,
) -> Response {
    let body = match button(&s, &station, &headers, body) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    // A supervisor's approval is checked here (badge, skill, PIN); the processor then allows
    // the lot beyond the order's open quantity.
    let approved_by = match &body.approved_by {
        None => None,
        Some(sup) => {
            let plan = s.live.plan();
            match s
                .access
                .supervisor(plan.as_deref(), &sup.badge, &sup.pin)
                .await
            {
                Ok(operator) => Some(operator.badge),
                Err(e) => return error(StatusCode::FORBIDDEN, "not_approved", e),
            }
        }
    };
    let action = StationAction::CompleteLot {
        qty: body.qty,
        approved_by,
    };
    let Some(outcome) = command(&s, &station, action).await else {
        return stopping();
    };
    // The lot is committed; now its label goes to the station's printer, if it has one.
    let printer = s.printers.get(&StationId::from(station.as_str()));
    let label = match (printer, outcome.lot.as_ref()) {
        (Some(printer), Some(_)) => Some(print(&s, &station, printer, &outcome).await),
        _ => None,
    };
    Json(LotAnswer { outcome, label }).into_response()
}

/// Prints a completed lot's label; a failure is recorded as the printer's device fault.
async fn print(s: &TerminalState, station: &str, printer: &str, outcome: &ScanOutcome) -> Printed {
    let zpl = finished_lot(outcome)
        .and_then(|lot| station_label(s, station, &lot))
        .map(|label| label.to_zpl());
    let result = match zpl {
        Ok(zpl) => crate::labels::send_zpl(printer, &zpl, PRINT_TIMEOUT)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("cannot make the label: {e}")),
    };
    if let Err(e) = &result {
        tracing::warn!(printer, station, error = %e, "finished-lot label not printed");
        let fault = protocol::EventBody {
            id: protocol::EventId(uuid::Uuid::now_v7()),
            at: chrono::Utc::now(),
            source: protocol::Source {
                device: Some(printer.into()),
                station: Some(station.into()),
            },
            kind: protocol::EventKind::DeviceFault {
                device: printer.into(),
                message: format!(
                    "label of lot {} not printed: {e}",
                    outcome.lot.as_ref().map(|l| l.as_str()).unwrap_or_default()
                ),
            },
        };
        if let Some(to_processor) = s.scans.sender() {
            let _ = to_processor
                .send(SourceMessage::Event(Box::new(fault)))
                .await;
        }
    }
    Printed {
        printer: printer.to_owned(),
        printed: result.is_ok(),
        error: result.err(),
    }
}

/// The finished lot an accepted `lot_completed` outcome describes.
/// A finished-lot label in the station's symbology (`[[stations]] label`); without one,
/// GS1-128, or GS1 QR for a code too long for GS1-128.
fn station_label(
    s: &TerminalState,
    station: &str,
    lot: &FinishedLot,
) -> Result<crate::labels::Label, crate::labels::LabelError> {
    match s.label_symbologies.get(&StationId::from(station)) {
        Some(&symbology) => finished_lot_label(lot, symbology),
        None => finished_lot_label(lot, Symbology::Gs1128)
            .or_else(|_| finished_lot_label(lot, Symbology::Gs1Qr)),
    }
}

fn finished_lot(outcome: &ScanOutcome) -> Result<FinishedLot, crate::labels::LabelError> {
    let p = &outcome.params;
    let field = |k: &str| p.get(k).cloned().unwrap_or_default();
    let lot = outcome
        .lot
        .clone()
        .ok_or_else(|| crate::labels::LabelError::Data("the outcome names no lot".into()))?;
    Ok(FinishedLot {
        item: field("item").as_str().into(),
        lot,
        qty: field("qty").parse().unwrap_or_default(),
        uom: field("uom"),
        work_order: field("work_order").as_str().into(),
    })
}

/// The finished-lot label of a lot completed recently at one of this edge's stations.
async fn label(State(s): State<TerminalState>, Path(file): Path<String>) -> Response {
    let Some(lot) = file.strip_suffix(".png") else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "labels are served as PNG: /api/v1/labels/{lot}.png".into(),
        );
    };
    let floor = s.live.floor();
    let completed = floor
        .scans
        .iter()
        .flat_map(|(station, records)| records.iter().map(move |r| (station, r)))
        .find(|(_, r)| {
            r.outcome.action == Some("lot_completed")
                && r.outcome.lot.as_ref().is_some_and(|l| l.as_str() == lot)
        });
    let Some((station, record)) = completed else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_lot",
            format!("lot {lot:?} was not completed recently at this edge's stations"),
        );
    };
    let rendered = finished_lot(&record.outcome)
        .and_then(|finished| station_label(&s, station.as_str(), &finished))
        .and_then(|label| label.to_png());
    match rendered {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "label",
            format!("cannot render the label of lot {lot}: {e}"),
        ),
    }
}
